/*
 * serve_api.c - kiln's own JSON API (/api/v1/...), its OpenAPI 3 document
 * and the tables UI page: everything the browser side shows today.
 *
 *   GET /api/v1/tables              every table with its snapshot summary
 *   GET /api/v1/tables/{ns}/{t}     one table: its Iceberg metadata
 *   GET /api/v1/tables/{ns}/{t}/preview?limit=N
 *                                   the first N rows of main's head as text
 *   GET /api/v1/openapi.json        OpenAPI 3 of the above (the REST
 *                                   catalog has its own spec upstream)
 *   GET /, /ui/app.js, /ui/app.css  the tables page (vanilla HTML/JS/CSS
 *                                   embedded in the binary, no CDN)
 *
 * Assets are C strings in this file: nothing is read from the file system
 * by a client-chosen path. HTML is sent with a Content-Security-Policy that
 * allows only same-origin scripts and styles (serve_http.c).
 */
#include "format/parquet/parquet.h"
#include "lake/lake.h"
#include "serve/serve_int.h"

#include <stdlib.h>
#include <string.h>

#define PREVIEW_DEFAULT 20
#define PREVIEW_MAX 200

/* ------------------------------------------------------------------ JSON API */

typedef struct tables_ctx {
    kiln_lake_catalog *cat;
    kiln_buf *out;
    int n;
    kiln_err *err;
} tables_ctx;

static int table_row(void *ctx, const char *name, const char *loc)
{
    tables_ctx *tc = ctx;
    kiln_err lerr = {0};
    kiln_lake_table *t = NULL;
    int rc = (tc->n++ ? kiln_buf_putc(tc->out, ',', tc->err) : 0);
    if (!rc)
        rc = kiln_buf_printf(tc->out, tc->err, "{\"name\":");
    if (!rc)
        rc = kiln_json_write_str(tc->out, name, strlen(name), tc->err);
    if (!rc)
        rc = kiln_buf_printf(tc->out, tc->err, ",\"metadata_location\":");
    if (!rc)
        rc = kiln_json_write_str(tc->out, loc ? loc : "", loc ? strlen(loc) : 0, tc->err);
    if (!rc && kiln_lake_table_load(&t, tc->cat, name, &lerr) == 0) {
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        const kiln_lake_snapshot *cur = kiln_lake_meta_current_snapshot(m);
        const char *records = cur ? kiln_lake_snapshot_summary(cur, "total-records") : NULL;
        /* summaries are writer-supplied text: only a plain count goes out as a number */
        size_t nd = records ? strspn(records, "0123456789") : 0;
        if (!records || nd == 0 || nd > 18 || records[nd])
            records = NULL;
        rc = kiln_buf_printf(tc->out, tc->err,
                             ",\"format_version\":%d,\"snapshots\":%zu,\"current_snapshot_id\":%lld,"
                             "\"last_updated_ms\":%lld,\"total_records\":%s",
                             m->format_version, m->nsnapshots, (long long)m->current_snapshot_id,
                             (long long)m->last_updated_ms, records ? records : "null");
    } else if (!rc) {
        /* listed but unreadable (dropped meanwhile, broken metadata): say so, keep the list */
        rc = kiln_buf_printf(tc->out, tc->err, ",\"error\":");
        if (!rc)
            rc = kiln_json_write_str(tc->out, lerr.msg, strlen(lerr.msg), tc->err);
    }
    if (!rc)
        rc = kiln_buf_putc(tc->out, '}', tc->err);
    kiln_lake_table_free(t);
    return rc;
}

int kiln_serve__api_tables(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    if (kiln_serve__catalog_open(rq, rs, &cat))
        return 0;
    tables_ctx tc = {cat, &rs->body, 0, &err};
    int rc = kiln_buf_printf(&rs->body, &err, "{\"tables\":[");
    if (!rc)
        rc = kiln_lake_table_list(cat, NULL, table_row, &tc, &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "]}");
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
    kiln_lake_catalog_free(cat);
    return 0;
}

/* "ns.table" from /api/v1/tables/NS/T (segments 3 and 4), validated by
 * the lake's name rules; -1 after answering 400. */
static int api_table_name(kiln_serve_req *rq, kiln_serve_resp *rs, char name[300])
{
    kiln_err err = {0};
    char ns[129], tbl[129];
    snprintf(name, 300, "%s.%s", rq->segs[3], rq->segs[4]);
    if (strchr(rq->segs[3], '.') || strchr(rq->segs[4], '.') || kiln_lake_name_split(name, ns, tbl, &err)) {
        kiln_serve__error(rs, 400, "BadRequestException", "invalid table name");
        return -1;
    }
    return 0;
}

int kiln_serve__api_table(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    char name[300];
    if (api_table_name(rq, rs, name))
        return 0;
    if (kiln_serve__catalog_open(rq, rs, &cat))
        return 0;
    int rc = kiln_lake_table_load(&t, cat, name, &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "{\"name\":");
    if (!rc)
        rc = kiln_json_write_str(&rs->body, name, strlen(name), &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, ",\"metadata_location\":");
    if (!rc) {
        const char *loc = kiln_lake_table_metadata_location(t);
        rc = kiln_json_write_str(&rs->body, loc, strlen(loc), &err);
    }
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, ",\"metadata\":");
    if (!rc)
        rc = kiln_lake_meta_write(kiln_lake_table_meta(t), 0, &rs->body, &err);
    if (!rc)
        rc = kiln_buf_putc(&rs->body, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
    else
        rs->status = 200;
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* The first rows of the table's current snapshot; every value as its text
 * (the form `kiln table scan` prints) or null, so any column type fits. */
int kiln_serve__api_preview(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_scan *scan = NULL;
    kiln_err err = {0};
    kiln_buf cell;
    kiln_buf_init(&cell, 0);
    char name[300];
    if (api_table_name(rq, rs, name))
        return 0;
    const char *lim = kiln_serve__query(rq, "limit");
    long limit = PREVIEW_DEFAULT;
    if (lim) {
        char *end;
        limit = strtol(lim, &end, 10);
        if (*end || limit < 1 || limit > PREVIEW_MAX)
            return kiln_serve__error(rs, 400, "BadRequestException", "limit must be 1..%d", PREVIEW_MAX);
    }
    if (kiln_serve__catalog_open(rq, rs, &cat))
        return 0;
    kiln_lake_scan_opts so = {.batch_rows = (size_t)limit};
    int rc = kiln_lake_table_load(&t, cat, name, &err);
    if (!rc)
        rc = kiln_lake_scan_open(&scan, t, &so, &err);
    const kiln_schema *schema = rc ? NULL : kiln_lake_scan_schema(scan);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "{\"snapshot_id\":%lld,\"columns\":[",
                             (long long)kiln_lake_scan_snapshot_id(scan));
    for (int c = 0; !rc && schema && c < schema->ncols; c++) {
        const char *cn = schema->cols[c].name;
        if ((c && (rc = kiln_buf_putc(&rs->body, ',', &err))) || (rc = kiln_json_write_str(&rs->body, cn, strlen(cn), &err)))
            break;
    }
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "],\"rows\":[");
    long nrows = 0;
    const kiln_batch *b;
    while (!rc && nrows < limit && (rc = kiln_lake_scan_next(scan, &b, &err)) == 1) {
        rc = 0;
        for (size_t r = 0; !rc && r < b->nrows && nrows < limit; r++, nrows++) {
            rc = kiln_buf_printf(&rs->body, &err, "%s[", nrows ? "," : "");
            for (int c = 0; !rc && c < schema->ncols; c++) {
                if (c && (rc = kiln_buf_putc(&rs->body, ',', &err)))
                    break;
                if (kiln_batch_is_null(b, c, r)) {
                    rc = kiln_buf_printf(&rs->body, &err, "null");
                    continue;
                }
                kiln_buf_reset(&cell);
                if (!(rc = kiln_parquet_format_value(&cell, b, c, r, &err)))
                    rc = kiln_json_write_str(&rs->body, cell.data ? cell.data : "", cell.len, &err);
            }
            if (!rc)
                rc = kiln_buf_putc(&rs->body, ']', &err);
        }
    }
    if (rc == 0)
        rc = kiln_buf_printf(&rs->body, &err, "]}");
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
    else
        rs->status = 200;
    kiln_buf_free(&cell);
    kiln_lake_scan_free(scan);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* ------------------------------------------------------------------ OpenAPI */

static const char openapi_json[] =
    "{\"openapi\":\"3.0.3\","
    "\"info\":{\"title\":\"kiln serve API\",\"version\":\"1\","
    "\"description\":\"kiln's own JSON API. The Iceberg REST catalog under /v1 follows apache/iceberg "
    "open-api/rest-catalog-open-api.yaml (see docs/api.md for what kiln implements of it).\"},"
    "\"components\":{"
    "\"securitySchemes\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\"}},"
    "\"schemas\":{"
    "\"ErrorModel\":{\"type\":\"object\",\"required\":[\"message\",\"type\",\"code\"],\"properties\":{"
    "\"message\":{\"type\":\"string\"},\"type\":{\"type\":\"string\"},\"code\":{\"type\":\"integer\"}}},"
    "\"ErrorResponse\":{\"type\":\"object\",\"required\":[\"error\"],\"properties\":{\"error\":"
    "{\"$ref\":\"#/components/schemas/ErrorModel\"}}},"
    "\"TableSummary\":{\"type\":\"object\",\"required\":[\"name\",\"metadata_location\"],\"properties\":{"
    "\"name\":{\"type\":\"string\",\"description\":\"namespace.table\"},"
    "\"metadata_location\":{\"type\":\"string\"},\"format_version\":{\"type\":\"integer\"},"
    "\"snapshots\":{\"type\":\"integer\"},"
    "\"current_snapshot_id\":{\"type\":\"integer\",\"format\":\"int64\",\"description\":\"-1 when the table has no "
    "snapshot\"},"
    "\"last_updated_ms\":{\"type\":\"integer\",\"format\":\"int64\"},"
    "\"total_records\":{\"type\":\"integer\",\"format\":\"int64\",\"nullable\":true,\"description\":\"the current snapshot's "
    "total-records summary\"},"
    "\"error\":{\"type\":\"string\",\"description\":\"present instead of the figures when the table could not be "
    "loaded\"}}},"
    "\"TableDetail\":{\"type\":\"object\",\"required\":[\"name\",\"metadata_location\",\"metadata\"],"
    "\"properties\":{\"name\":{\"type\":\"string\"},\"metadata_location\":{\"type\":\"string\"},"
    "\"metadata\":{\"type\":\"object\",\"description\":\"the Iceberg table metadata (format v2 JSON): schemas, "
    "partition-specs, sort-orders, properties, snapshots, refs, snapshot-log\"}}}}},"
    "\"paths\":{"
    "\"/api/v1/tables\":{\"get\":{\"summary\":\"every table of the warehouse with its snapshot summary\","
    "\"responses\":{\"200\":{\"description\":\"tables\",\"content\":{\"application/json\":{\"schema\":{"
    "\"type\":\"object\",\"properties\":{\"tables\":{\"type\":\"array\",\"items\":{\"$ref\":"
    "\"#/components/schemas/TableSummary\"}}}}}}},"
    "\"503\":{\"description\":\"no warehouse\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":"
    "\"#/components/schemas/ErrorResponse\"}}}}}}},"
    "\"/api/v1/tables/{namespace}/{table}\":{\"get\":{\"summary\":\"one table's metadata\","
    "\"parameters\":[{\"name\":\"namespace\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"table\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}],"
    "\"responses\":{\"200\":{\"description\":\"the table\",\"content\":{\"application/json\":{\"schema\":{"
    "\"$ref\":\"#/components/schemas/TableDetail\"}}}},"
    "\"404\":{\"description\":\"NoSuchTableException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":"
    "\"#/components/schemas/ErrorResponse\"}}}}}}},"
    "\"/api/v1/tables/{namespace}/{table}/preview\":{\"get\":{\"summary\":\"the first rows of main's head, "
    "every value as text or null\","
    "\"parameters\":[{\"name\":\"namespace\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"table\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"limit\",\"in\":\"query\",\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,"
    "\"default\":20}}],"
    "\"responses\":{\"200\":{\"description\":\"rows\",\"content\":{\"application/json\":{\"schema\":{"
    "\"type\":\"object\",\"properties\":{\"snapshot_id\":{\"type\":\"integer\",\"format\":\"int64\"},"
    "\"columns\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"rows\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
    "\"nullable\":true}}}}}}}},"
    "\"404\":{\"description\":\"NoSuchTableException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":"
    "\"#/components/schemas/ErrorResponse\"}}}}}}},"
    "\"/api/v1/openapi.json\":{\"get\":{\"summary\":\"this document\",\"responses\":{\"200\":{\"description\":"
    "\"OpenAPI 3 document\"}}}},"
    "\"/metrics\":{\"get\":{\"summary\":\"Prometheus text format 0.0.4\",\"responses\":{\"200\":{\"description\":"
    "\"metrics\",\"content\":{\"text/plain\":{\"schema\":{\"type\":\"string\"}}}}}}},"
    "\"/healthz\":{\"get\":{\"summary\":\"liveness\",\"responses\":{\"200\":{\"description\":\"ok\"}}}},"
    "\"/hooks/github\":{\"post\":{\"summary\":\"GitHub webhook receiver (push, ping), authenticated by "
    "X-Hub-Signature-256\",\"parameters\":["
    "{\"name\":\"X-GitHub-Event\",\"in\":\"header\",\"required\":true,\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"X-GitHub-Delivery\",\"in\":\"header\",\"required\":true,\"schema\":{\"type\":\"string\"}},"
    "{\"name\":\"X-Hub-Signature-256\",\"in\":\"header\",\"required\":true,\"schema\":{\"type\":\"string\"}}],"
    "\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}}}},"
    "\"responses\":{\"200\":{\"description\":\"ping, or a duplicate delivery (nothing landed)\"},"
    "\"202\":{\"description\":\"landed durably (push), or accepted and not landed (other events)\"},"
    "\"401\":{\"description\":\"bad or missing signature\"},"
    "\"503\":{\"description\":\"no webhook secret configured\"}}}}}}";

int kiln_serve__api_openapi(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    kiln_err err = {0};
    rs->status = 200;
    return kiln_buf_append(&rs->body, openapi_json, sizeof openapi_json - 1, &err);
}

/* ------------------------------------------------------------------ UI */

static const char ui_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>kiln</title><link rel=\"stylesheet\" href=\"/ui/app.css\"></head>\n"
    "<body><header><a href=\"#/\" class=\"brand\">kiln</a> <nav><a href=\"#/\">Tables</a> "
    "<a href=\"/metrics\">Metrics</a> <a href=\"/api/v1/openapi.json\">API</a></nav></header>\n"
    "<main id=\"main\"><p class=\"muted\">Loading&hellip;</p></main>\n"
    "<script src=\"/ui/app.js\"></script></body></html>\n";

static const char ui_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f7f7f9}\n"
    "header{background:#1d2330;color:#fff;padding:.6em 1em;display:flex;gap:1.5em;align-items:center}\n"
    "header a{color:#fff;text-decoration:none;margin-right:1em}.brand{font-weight:700}\n"
    "main{padding:1em 1.5em}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\n"
    "table{border-collapse:collapse;background:#fff;min-width:40%}\n"
    "th,td{border:1px solid #dde;padding:.3em .6em;text-align:left;vertical-align:top}\n"
    "th{background:#eef}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".muted{color:#778}.err{color:#b00020}code{font-size:.95em}\n";

/* All text goes into the page with textContent (never innerHTML), so table
 * names, properties and summaries cannot inject markup. */
static const char ui_js[] =
    "'use strict';\n"
    "const main = document.getElementById('main');\n"
    "function el(tag, attrs, ...kids) {\n"
    "  const e = document.createElement(tag);\n"
    "  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);\n"
    "  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));\n"
    "  return e;\n"
    "}\n"
    "function grid(cols, rows, id) {\n"
    "  const t = el('table', id ? { id } : {});\n"
    "  t.append(el('thead', {}, el('tr', {}, ...cols.map(c => el('th', {}, c)))));\n"
    "  const b = el('tbody');\n"
    "  for (const r of rows) b.append(el('tr', {}, ...r.map(v => v instanceof Node ? el('td', {}, v) :\n"
    "    el('td', typeof v === 'number' ? { class: 'num' } : {}, v === null || v === undefined ? '' : v))));\n"
    "  t.append(b);\n"
    "  return t;\n"
    "}\n"
    "const when = ms => ms > 0 ? new Date(ms).toISOString().replace('.000Z', 'Z') : '';\n"
    "const typeText = t => typeof t === 'string' ? t : JSON.stringify(t);\n"
    "async function getJson(url) {\n"
    "  const r = await fetch(url);\n"
    "  const j = await r.json();\n"
    "  if (!r.ok) throw new Error(j.error ? j.error.message : r.status);\n"
    "  return j;\n"
    "}\n"
    "async function listPage() {\n"
    "  const j = await getJson('/api/v1/tables');\n"
    "  main.replaceChildren(el('h1', {}, 'Tables'));\n"
    "  if (!j.tables.length) { main.append(el('p', { class: 'muted' }, 'No tables in this warehouse.')); return; }\n"
    "  main.append(grid(['table', 'snapshots', 'current snapshot', 'rows', 'last updated'], j.tables.map(t => [\n"
    "    el('a', { href: '#/table/' + encodeURIComponent(t.name) }, t.name),\n"
    "    t.error ? el('span', { class: 'err' }, t.error) : t.snapshots,\n"
    "    t.current_snapshot_id >= 0 ? String(t.current_snapshot_id) : '',\n"
    "    t.total_records === null || t.total_records === undefined ? '' : Number(t.total_records),\n"
    "    when(t.last_updated_ms)]), 'tables'));\n"
    "}\n"
    "async function tablePage(name) {\n"
    "  const [ns, tb] = name.split('.');\n"
    "  const j = await getJson('/api/v1/tables/' + encodeURIComponent(ns) + '/' + encodeURIComponent(tb));\n"
    "  const m = j.metadata;\n"
    "  const schema = m.schemas.find(s => s['schema-id'] === m['current-schema-id']) || m.schemas[0];\n"
    "  const byId = new Map(schema.fields.map(f => [f.id, f.name]));\n"
    "  const spec = (m['partition-specs'] || []).find(s => s['spec-id'] === m['default-spec-id']);\n"
    "  main.replaceChildren(el('h1', {}, j.name),\n"
    "    el('p', { class: 'muted' }, 'metadata ', el('code', {}, j.metadata_location)),\n"
    "    el('h2', {}, 'Schema ' + schema['schema-id']),\n"
    "    grid(['id', 'column', 'type', 'required'], schema.fields.map(f => [f.id, f.name, typeText(f.type),\n"
    "      f.required ? 'yes' : 'no']), 'schema'),\n"
    "    el('h2', {}, 'Partitioning'),\n"
    "    spec && spec.fields.length ? grid(['field', 'transform', 'source'], spec.fields.map(f => [f.name,\n"
    "      f.transform, byId.get(f['source-id']) || f['source-id']]), 'partitioning')\n"
    "      : el('p', { class: 'muted' }, 'unpartitioned'),\n"
    "    el('h2', {}, 'Refs'),\n"
    "    grid(['name', 'type', 'snapshot'], Object.entries(m.refs || {}).map(([k, r]) => [k, r.type,\n"
    "      String(r['snapshot-id'])]), 'refs'),\n"
    "    el('h2', {}, 'Snapshots'),\n"
    "    grid(['snapshot', 'parent', 'sequence', 'committed', 'operation', 'added rows', 'total rows'],\n"
    "      (m.snapshots || []).slice().reverse().map(s => [String(s['snapshot-id']),\n"
    "        s['parent-snapshot-id'] === undefined ? '' : String(s['parent-snapshot-id']), s['sequence-number'],\n"
    "        when(s['timestamp-ms']), s.summary ? s.summary.operation : '',\n"
    "        s.summary && s.summary['added-records'] !== undefined ? Number(s.summary['added-records']) : '',\n"
    "        s.summary && s.summary['total-records'] !== undefined ? Number(s.summary['total-records']) : '']),\n"
    "      'snapshots'),\n"
    "    el('h2', {}, 'Properties'),\n"
    "    grid(['key', 'value'], Object.entries(m.properties || {}), 'properties'),\n"
    "    el('h2', {}, 'Preview'), el('div', { id: 'preview-box' }, el('p', { class: 'muted' }, 'Loading…')));\n"
    "  const p = await getJson('/api/v1/tables/' + encodeURIComponent(ns) + '/' + encodeURIComponent(tb) +\n"
    "    '/preview?limit=20');\n"
    "  document.getElementById('preview-box').replaceChildren(p.rows.length ?\n"
    "    grid(p.columns, p.rows.map(r => r.map(v => v === null ? el('span', { class: 'muted' }, 'NULL') : v)),\n"
    "      'preview') : el('p', { class: 'muted' }, 'no rows'));\n"
    "}\n"
    "async function route() {\n"
    "  const h = decodeURIComponent(location.hash.slice(1));\n"
    "  try {\n"
    "    if (h.startsWith('/table/')) await tablePage(h.slice(7));\n"
    "    else await listPage();\n"
    "  } catch (e) {\n"
    "    main.replaceChildren(el('p', { class: 'err' }, 'Error: ' + e.message));\n"
    "  }\n"
    "}\n"
    "window.addEventListener('hashchange', route);\n"
    "route();\n";

static int asset(kiln_serve_resp *rs, const char *type, const char *data, size_t n)
{
    kiln_err err = {0};
    rs->status = 200;
    rs->content_type = type;
    return kiln_buf_append(&rs->body, data, n, &err);
}

int kiln_serve__ui_page(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    return asset(rs, "text/html; charset=utf-8", ui_html, sizeof ui_html - 1);
}

int kiln_serve__ui_js(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    return asset(rs, "text/javascript; charset=utf-8", ui_js, sizeof ui_js - 1);
}

int kiln_serve__ui_css(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    return asset(rs, "text/css; charset=utf-8", ui_css, sizeof ui_css - 1);
}
