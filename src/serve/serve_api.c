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
 * Assets are C strings (serve_ui.c, generated from src/serve/ui/ by
 * src/serve/ui/embed.py): nothing is read from the file system
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
    /* time travel: ?ref=BRANCH_OR_TAG or ?as_of=SNAPSHOT_ID_OR_TIME (one of them) */
    const char *ref = kiln_serve__query(rq, "ref"), *as_of = kiln_serve__query(rq, "as_of");
    if ((ref && !*ref) || (as_of && !*as_of) || (ref && as_of))
        return kiln_serve__error(rs, 400, "BadRequestException", "give one of ref and as_of, not empty");
    if (kiln_serve__catalog_open(rq, rs, &cat))
        return 0;
    kiln_lake_scan_opts so = {.batch_rows = (size_t)limit, .ref = ref, .as_of = as_of};
    int rc = kiln_lake_table_load(&t, cat, name, &err);
    if (!rc && (rc = kiln_lake_scan_open(&scan, t, &so, &err))) {
        kiln_serve__error_kiln(rs, &err, "NoSuchSnapshotException"); /* the table exists: the ref or time does not */
        goto out;
    }
    const kiln_schema *schema = rc ? NULL : kiln_lake_scan_schema(scan);
    /* file counts from planning the scan itself, not from the snapshot summary */
    const kiln_lake_plan_stats *ps = rc ? NULL : kiln_lake_scan_plan_stats(scan);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err,
                             "{\"snapshot_id\":%lld,\"data_files\":%zu,\"delete_files\":%zu,\"manifests\":%zu,"
                             "\"columns\":[",
                             (long long)kiln_lake_scan_snapshot_id(scan), ps ? ps->files_total : 0,
                             ps ? ps->delete_files : 0, ps ? ps->manifests_total : 0);
    for (int c = 0; !rc && schema && c < schema->ncols; c++) {
        const char *cn = schema->cols[c].name;
        if ((c && (rc = kiln_buf_putc(&rs->body, ',', &err))) ||
            (rc = kiln_json_write_str(&rs->body, cn, strlen(cn), &err)))
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
out:
    kiln_buf_free(&cell);
    kiln_lake_scan_free(scan);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* ------------------------------------------------------------------ OpenAPI */

static const char openapi_json[] =
    "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"kiln serve API\",\"version\":\"1\",\"description\":\"ki"
    "ln's own JSON API. The Iceberg REST catalog under /v1 follows apache/iceberg open-api/rest-catalog-o"
    "pen-api.yaml (see docs/api.md for what kiln implements of it).\"},\"components\":{\"securitySchemes"
    "\":{\"bearer\":{\"type\":\"http\",\"scheme\":\"bearer\"}},\"schemas\":{\"ErrorModel\":{\"type\":\"obj"
    "ect\",\"required\":[\"message\",\"type\",\"code\"],\"properties\":{\"message\":{\"type\":\"string\"}"
    ",\"type\":{\"type\":\"string\"},\"code\":{\"type\":\"integer\"}}},\"ErrorResponse\":{\"type\":\"obje"
    "ct\",\"required\":[\"error\"],\"properties\":{\"error\":{\"$ref\":\"#/components/schemas/ErrorModel"
    "\"}}},\"TableSummary\":{\"type\":\"object\",\"required\":[\"name\",\"metadata_location\"],\"propertie"
    "s\":{\"name\":{\"type\":\"string\",\"description\":\"namespace.table\"},\"metadata_location\":{\"typ"
    "e\":\"string\"},\"format_version\":{\"type\":\"integer\"},\"snapshots\":{\"type\":\"integer\"},\"cur"
    "rent_snapshot_id\":{\"type\":\"integer\",\"format\":\"int64\",\"description\":\"-1 when the table ha"
    "s no snapshot\"},\"last_updated_ms\":{\"type\":\"integer\",\"format\":\"int64\"},\"total_records\":{"
    "\"type\":\"integer\",\"format\":\"int64\",\"nullable\":true,\"description\":\"the current snapshot's"
    " total-records summary\"},\"error\":{\"type\":\"string\",\"description\":\"present instead of the fi"
    "gures when the table could not be loaded\"}}},\"TableDetail\":{\"type\":\"object\",\"required\":[\"n"
    "ame\",\"metadata_location\",\"metadata\"],\"properties\":{\"name\":{\"type\":\"string\"},\"metadata_"
    "location\":{\"type\":\"string\"},\"metadata\":{\"type\":\"object\",\"description\":\"the Iceberg tab"
    "le metadata (format v2 JSON): schemas, partition-specs, sort-orders, properties, snapshots, refs, sn"
    "apshot-log\"}}}}},\"paths\":{\"/api/v1/models\":{\"get\":{\"summary\":\"the models project's graph f"
    "rom its artifacts (target/manifest.json, run_results.json): models, seeds, snapshots and sources wit"
    "h relation, materialization, columns, depends_on, last status, attached tests with status, and the D"
    "AG tasks whose produces names the relation (built_by)\",\"responses\":{\"200\":{\"description\":\"no"
    "des\",\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}}}},\"404\":{\"description"
    "\":\"NoSuchArtifactException: no manifest yet\",\"content\":{\"application/json\":{\"schema\":{\"$ref"
    "\":\"#/components/schemas/ErrorResponse\"}}}},\"503\":{\"description\":\"no models project (--models"
    "-dir)\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse"
    "\"}}}}}}},\"/api/v1/dags\":{\"get\":{\"summary\":\"DAGs of the project: schedule, paused, next run, "
    "run count and the last 10 runs' states; problems = DAG files that did not load\",\"responses\":{\"20"
    "0\":{\"description\":\"DAGs\",\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}}}}"
    ",\"503\":{\"description\":\"no project (--project-dir)\",\"content\":{\"application/json\":{\"schema"
    "\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/dags/{dag}\":{\"get\":{\"summar"
    "y\":\"one DAG: its tasks (needs, trigger rule, retries, produces/consumes) and every run with its ta"
    "sk instances (the grid)\",\"parameters\":[{\"name\":\"dag\",\"in\":\"path\",\"required\":true,\"sche"
    "ma\":{\"type\":\"string\"}},{\"name\":\"limit\",\"in\":\"query\",\"required\":false,\"schema\":{\"ty"
    "pe\":\"integer\",\"minimum\":1,\"maximum\":1000},\"description\":\"page size; with limit or offset t"
    "he answer is one page of runs counted from the newest, plus total_runs, offset, limit and run_states"
    " (runs by state over all runs)\"},{\"name\":\"offset\",\"in\":\"query\",\"required\":false,\"schema"
    "\":{\"type\":\"integer\",\"minimum\":0},\"description\":\"runs to skip from the newest (default 0)\"}"
    "],\"responses\":{\"200\":{\"description\":\"the DAG\",\"content\":{\"application/json\":{\"schema\":"
    "{\"type\":\"object\"}}}},\"404\":{\"description\":\"NoSuchDagException\",\"content\":{\"application/"
    "json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"400\":{\"description\":\"B"
    "adRequestException: bad limit or offset\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\""
    "#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/dags/{dag}/runs\":{\"get\":{\"summary\":\"ever"
    "y run of the DAG, oldest first, each with its task instances (state, tries, note, idempotency key): "
    "the same array as kiln runs DAG --json\",\"parameters\":[{\"name\":\"dag\",\"in\":\"path\",\"require"
    "d\":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"limit\",\"in\":\"query\",\"required\":false,"
    "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000},\"description\":\"page size; with li"
    "mit or offset the answer is one page of runs counted from the newest, plus total_runs, offset, limit"
    " and run_states (runs by state over all runs)\"},{\"name\":\"offset\",\"in\":\"query\",\"required\":"
    "false,\"schema\":{\"type\":\"integer\",\"minimum\":0},\"description\":\"runs to skip from the newest"
    " (default 0)\"}],\"responses\":{\"200\":{\"description\":\"runs\",\"content\":{\"application/json\":"
    "{\"schema\":{\"type\":\"object\"}}}},\"404\":{\"description\":\"NoSuchDagException\",\"content\":{\""
    "application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"400\":{\"descr"
    "iption\":\"BadRequestException: bad limit or offset\",\"content\":{\"application/json\":{\"schema\":"
    "{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}},\"post\":{\"summary\":\"trigger a run (kiln d"
    "ags run DAG --date D in a child process); needs the bearer token\",\"security\":[{\"bearer\":[]}],\""
    "parameters\":[{\"name\":\"dag\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}]"
    ",\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"type\":\"object"
    "\",\"required\":[\"logical_date\"],\"properties\":{\"logical_date\":{\"type\":\"string\"}}}}}},\"res"
    "ponses\":{\"202\":{\"description\":\"started: {dag_id, logical_date, pid}\",\"content\":{\"applicati"
    "on/json\":{\"schema\":{\"type\":\"object\"}}}},\"400\":{\"description\":\"BadRequestException\",\"co"
    "ntent\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"401"
    "\":{\"description\":\"NotAuthorizedException\",\"content\":{\"application/json\":{\"schema\":{\"$ref"
    "\":\"#/components/schemas/ErrorResponse\"}}}},\"404\":{\"description\":\"NoSuchDagException\",\"cont"
    "ent\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/a"
    "pi/v1/dags/{dag}/runs/{logical_date}\":{\"get\":{\"summary\":\"one run with its task instances\",\"p"
    "arameters\":[{\"name\":\"dag\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},{"
    "\"name\":\"logical_date\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"},\"descr"
    "iption\":\"YYYY-MM-DD or an ISO timestamp with zone (the run's logical date)\"}],\"responses\":{\"20"
    "0\":{\"description\":\"the run\",\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}"
    "}}},\"400\":{\"description\":\"BadRequestException (date)\",\"content\":{\"application/json\":{\"sch"
    "ema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"404\":{\"description\":\"NoSuchDagExcep"
    "tion, NoSuchRunException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/sc"
    "hemas/ErrorResponse\"}}}}}}},\"/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}\":{\"get\":{\"sum"
    "mary\":\"one task instance: state, note, the task's definition and every try (state, pid, started, e"
    "nded, exit_code, duration_ms, note)\",\"parameters\":[{\"name\":\"dag\",\"in\":\"path\",\"required\""
    ":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"logical_date\",\"in\":\"path\",\"required\":true"
    ",\"schema\":{\"type\":\"string\"},\"description\":\"YYYY-MM-DD or an ISO timestamp with zone (the ru"
    "n's logical date)\"},{\"name\":\"task\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"str"
    "ing\"}}],\"responses\":{\"200\":{\"description\":\"the task instance\",\"content\":{\"application/js"
    "on\":{\"schema\":{\"type\":\"object\"}}}},\"404\":{\"description\":\"NoSuchDagException, NoSuchRunEx"
    "ception, NoSuchTaskException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/component"
    "s/schemas/ErrorResponse\"}}}}}}},\"/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/log\":{\"get"
    "\":{\"summary\":\"a try's log, at most 256 KiB per answer: {try_number, offset, next_offset, size, te"
    "xt}; without offset the last 256 KiB; pass next_offset back to tail it\",\"parameters\":[{\"name\":"
    "\"dag\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"logical_date"
    "\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"},\"description\":\"YYYY-MM-DD or"
    " an ISO timestamp with zone (the run's logical date)\"},{\"name\":\"task\",\"in\":\"path\",\"require"
    "d\":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"try\",\"in\":\"query\",\"schema\":{\"type\":"
    "\"integer\"},\"description\":\"try number (default the latest)\"},{\"name\":\"offset\",\"in\":\"query"
    "\",\"schema\":{\"type\":\"integer\"},\"description\":\"first byte to return\"}],\"responses\":{\"200"
    "\":{\"description\":\"log text\",\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}"
    "}}},\"400\":{\"description\":\"BadRequestException\",\"content\":{\"application/json\":{\"schema\":{"
    "\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"404\":{\"description\":\"NoSuchLogException: t"
    "he task instance has not run, or no such try\",\"content\":{\"application/json\":{\"schema\":{\"$ref"
    "\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/dags/{dag}/clear\":{\"post\":{\"summary\""
    ":\"forget the state and idempotency keys of task instances so the next run executes them (kiln tasks"
    " clear); needs the bearer token\",\"security\":[{\"bearer\":[]}],\"parameters\":[{\"name\":\"dag\","
    "\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}],\"requestBody\":{\"required\":tr"
    "ue,\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\",\"required\":[\"start_date\"],"
    "\"properties\":{\"task_id\":{\"type\":\"string\",\"description\":\"default every task\"},\"start_dat"
    "e\":{\"type\":\"string\"},\"end_date\":{\"type\":\"string\",\"description\":\"default start_date\"},"
    "\"downstream\":{\"type\":\"boolean\"},\"upstream\":{\"type\":\"boolean\"},\"only_failed\":{\"type\":"
    "\"boolean\"}}}}}},\"responses\":{\"200\":{\"description\":\"{cleared: N}\",\"content\":{\"applicatio"
    "n/json\":{\"schema\":{\"type\":\"object\"}}}},\"400\":{\"description\":\"BadRequestException\",\"con"
    "tent\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"401"
    "\":{\"description\":\"NotAuthorizedException\",\"content\":{\"application/json\":{\"schema\":{\"$ref"
    "\":\"#/components/schemas/ErrorResponse\"}}}},\"404\":{\"description\":\"NoSuchDagException, NoSuchTa"
    "skException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorRe"
    "sponse\"}}}}}}},\"/api/v1/dags/{dag}/paused\":{\"post\":{\"summary\":\"pause or unpause the DAG for "
    "the scheduler (kiln dags pause|unpause); needs the bearer token\",\"security\":[{\"bearer\":[]}],\"p"
    "arameters\":[{\"name\":\"dag\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}}],"
    "\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"type\":\"object"
    "\",\"required\":[\"paused\"],\"properties\":{\"paused\":{\"type\":\"boolean\"}}}}}},\"responses\":{\""
    "200\":{\"description\":\"{dag_id, paused}\",\"content\":{\"application/json\":{\"schema\":{\"type\":"
    "\"object\"}}}},\"400\":{\"description\":\"BadRequestException\",\"content\":{\"application/json\":{"
    "\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"401\":{\"description\":\"NotAuthori"
    "zedException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorR"
    "esponse\"}}}},\"404\":{\"description\":\"NoSuchDagException\",\"content\":{\"application/json\":{\"s"
    "chema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/lineage\":{\"get\":{\"summ"
    "ary\":\"lineage graph: nodes (kind job = a DAG task, with the last OpenLineage event; kind dataset ="
    " a produces/consumes asset, with the Iceberg table it names) and edges (input, output, needs)\",\"re"
    "sponses\":{\"200\":{\"description\":\"graph\",\"content\":{\"application/json\":{\"schema\":{\"type"
    "\":\"object\"}}}},\"503\":{\"description\":\"no project (--project-dir)\",\"content\":{\"application/"
    "json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/tables\":{\"get"
    "\":{\"summary\":\"every table of the warehouse with its snapshot summary\",\"responses\":{\"200\":{"
    "\"description\":\"tables\",\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\",\"prope"
    "rties\":{\"tables\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/TableSummary\"}}}"
    "}}}},\"503\":{\"description\":\"no warehouse\",\"content\":{\"application/json\":{\"schema\":{\"$ref"
    "\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/tables/{namespace}/{table}\":{\"get\":{\""
    "summary\":\"one table's metadata\",\"parameters\":[{\"name\":\"namespace\",\"in\":\"path\",\"require"
    "d\":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"table\",\"in\":\"path\",\"required\":true,\"s"
    "chema\":{\"type\":\"string\"}}],\"responses\":{\"200\":{\"description\":\"the table\",\"content\":{"
    "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/TableDetail\"}}}},\"404\":{\"descri"
    "ption\":\"NoSuchTableException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/compone"
    "nts/schemas/ErrorResponse\"}}}}}}},\"/api/v1/tables/{namespace}/{table}/preview\":{\"get\":{\"summar"
    "y\":\"the first rows of main's head, every value as text or null\",\"parameters\":[{\"name\":\"names"
    "pace\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"table\",\"in"
    "\":\"path\",\"required\":true,\"schema\":{\"type\":\"string\"}},{\"name\":\"limit\",\"in\":\"query\","
    "\"schema\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,\"default\":20}},{\"name\":\"ref\",\""
    "in\":\"query\",\"required\":false,\"schema\":{\"type\":\"string\"},\"description\":\"branch or tag t"
    "o read (default main)\"},{\"name\":\"as_of\",\"in\":\"query\",\"required\":false,\"schema\":{\"type"
    "\":\"string\"},\"description\":\"snapshot id or time (ISO, YYYY-MM-DD, ms:EPOCH_MS) to read\"}],\"res"
    "ponses\":{\"200\":{\"description\":\"rows\",\"content\":{\"application/json\":{\"schema\":{\"type\":"
    "\"object\",\"properties\":{\"snapshot_id\":{\"type\":\"integer\",\"format\":\"int64\"},\"columns\":{"
    "\"type\":\"array\",\"items\":{\"type\":\"string\"}},\"rows\":{\"type\":\"array\",\"items\":{\"type\""
    ":\"array\",\"items\":{\"type\":\"string\",\"nullable\":true}}}}}}}},\"404\":{\"description\":\"NoSuc"
    "hTableException or NoSuchSnapshotException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\""
    ":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/api/v1/openapi.json\":{\"get\":{\"summary\":\"this"
    " document\",\"responses\":{\"200\":{\"description\":\"OpenAPI 3 document\"}}}},\"/metrics\":{\"get\""
    ":{\"summary\":\"Prometheus text format 0.0.4\",\"responses\":{\"200\":{\"description\":\"metrics\","
    "\"content\":{\"text/plain\":{\"schema\":{\"type\":\"string\"}}}}}}},\"/healthz\":{\"get\":{\"summary"
    "\":\"liveness\",\"responses\":{\"200\":{\"description\":\"ok\"}}}},\"/hooks/github\":{\"post\":{\"sum"
    "mary\":\"GitHub webhook receiver (push, ping), authenticated by X-Hub-Signature-256\",\"parameters\""
    ":[{\"name\":\"X-GitHub-Event\",\"in\":\"header\",\"required\":true,\"schema\":{\"type\":\"string\"}}"
    ",{\"name\":\"X-GitHub-Delivery\",\"in\":\"header\",\"required\":true,\"schema\":{\"type\":\"string\""
    "}},{\"name\":\"X-Hub-Signature-256\",\"in\":\"header\",\"required\":true,\"schema\":{\"type\":\"stri"
    "ng\"}}],\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"type\":"
    "\"object\"}}}},\"responses\":{\"200\":{\"description\":\"ping, or a duplicate delivery (nothing lande"
    "d)\"},\"202\":{\"description\":\"landed durably (push), or accepted and not landed (other events)\"}"
    ",\"401\":{\"description\":\"bad or missing signature\"},\"503\":{\"description\":\"no webhook secret"
    " configured\"}}}},\"/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/state\":{\"post\":{\"summary"
    "\":\"mark a task instance success or failed by hand (success records its idempotency key, so the nex"
    "t run of that date skips it; failed forgets it); the run's state follows; needs the bearer token\","
    "\"security\":[{\"bearer\":[]}],\"parameters\":[{\"name\":\"dag\",\"in\":\"path\",\"required\":true,\""
    "schema\":{\"type\":\"string\"}},{\"name\":\"logical_date\",\"in\":\"path\",\"required\":true,\"schem"
    "a\":{\"type\":\"string\"}},{\"name\":\"task\",\"in\":\"path\",\"required\":true,\"schema\":{\"type\""
    ":\"string\"}}],\"requestBody\":{\"required\":true,\"content\":{\"application/json\":{\"schema\":{\"t"
    "ype\":\"object\",\"required\":[\"state\"],\"properties\":{\"state\":{\"type\":\"string\",\"enum\":["
    "\"success\",\"failed\"]},\"note\":{\"type\":\"string\",\"maxLength\":500}}}}}},\"responses\":{\"200\""
    ":{\"description\":\"{dag_id, task_id, logical_date, state}\",\"content\":{\"application/json\":{\"sc"
    "hema\":{\"type\":\"object\"}}}},\"400\":{\"description\":\"BadRequestException\",\"content\":{\"appl"
    "ication/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"401\":{\"descripti"
    "on\":\"NotAuthorizedException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/componen"
    "ts/schemas/ErrorResponse\"}}}},\"404\":{\"description\":\"NoSuchDagException, NoSuchRunException, No"
    "SuchTaskException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/E"
    "rrorResponse\"}}}},\"409\":{\"description\":\"TaskRunningException: the instance is running\",\"cont"
    "ent\":{\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/a"
    "pi/v1/models/lineage\":{\"get\":{\"summary\":\"column-level lineage of a model column (kiln lineage "
    "--json), computed from the project's compiled SQL: where its value comes from up to seeds and source"
    "s, or with downstream=true the model columns computed from it\",\"parameters\":[{\"name\":\"column\""
    ",\"in\":\"query\",\"required\":true,\"schema\":{\"type\":\"string\"},\"description\":\"MODEL.COLUMN,"
    " SOURCE.TABLE.COLUMN or schema.identifier.column\"},{\"name\":\"downstream\",\"in\":\"query\",\"requ"
    "ired\":false,\"schema\":{\"type\":\"boolean\"}}],\"responses\":{\"200\":{\"description\":\"{directio"
    "n, columns:[{relation, column, unique_id, resource_type, depth, from, transformed, expression, via, "
    "repeat}]}\",\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}}}},\"400\":{\"descri"
    "ption\":\"BadRequestException\",\"content\":{\"application/json\":{\"schema\":{\"$ref\":\"#/componen"
    "ts/schemas/ErrorResponse\"}}}},\"404\":{\"description\":\"NoSuchColumnException\",\"content\":{\"app"
    "lication/json\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"503\":{\"descript"
    "ion\":\"ServiceUnavailableException: no models project (--models-dir)\",\"content\":{\"application/j"
    "son\":{\"schema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}}}}},\"/docs\":{\"get\":{\"summ"
    "ary\":\"the models project's documentation site (target/index.html of kiln docs generate), with a Co"
    "ntent-Security-Policy allowing exactly its inline blocks by hash\",\"responses\":{\"200\":{\"descrip"
    "tion\":\"the page\",\"content\":{\"text/html\":{\"schema\":{\"type\":\"string\"}}}},\"404\":{\"descr"
    "iption\":\"NoSuchArtifactException: no docs generated yet\",\"content\":{\"application/json\":{\"sch"
    "ema\":{\"$ref\":\"#/components/schemas/ErrorResponse\"}}}},\"503\":{\"description\":\"ServiceUnavail"
    "ableException: no models project (--models-dir)\",\"content\":{\"application/json\":{\"schema\":{\"$"
    "ref\":\"#/components/schemas/ErrorResponse\"}}}}}}}}}";

int kiln_serve__api_openapi(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    kiln_err err = {0};
    rs->status = 200;
    return kiln_buf_append(&rs->body, openapi_json, sizeof openapi_json - 1, &err);
}

/* ------------------------------------------------------------------ UI */

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
    return asset(rs, "text/html; charset=utf-8", kiln_serve__asset_html, kiln_serve__asset_html_len);
}

int kiln_serve__ui_js(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    return asset(rs, "text/javascript; charset=utf-8", kiln_serve__asset_js, kiln_serve__asset_js_len);
}

int kiln_serve__ui_css(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    return asset(rs, "text/css; charset=utf-8", kiln_serve__asset_css, kiln_serve__asset_css_len);
}
