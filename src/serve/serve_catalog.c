/*
 * serve_catalog.c - the Iceberg REST catalog API (apache/iceberg
 * open-api/rest-catalog-open-api.yaml) over kiln's SQLite catalog
 * (lake.h), so Spark, Trino, PyIceberg and other REST clients share the
 * warehouse with kiln's own writers.
 *
 * DESIGN
 * Each request opens its own catalog handle (lake objects belong to one
 * thread; opening is a SQLite open and costs well under a millisecond).
 * Table commits are kiln_lake_txn_* transactions built from the request's
 * requirements/updates JSON (kiln_lake_txn_add_rest_json), so a REST commit
 * races kiln's own writers under the same optimistic protocol: the
 * requirements are re-checked against the latest metadata on every attempt
 * and a failed one is 409 CommitFailedException.
 *
 * Create transactions (Spark's CTAS): stage-create answers the metadata of
 * the table the request describes, built in memory and stored nowhere; the
 * later commit with the requirement assert-create carries every create
 * update again and kiln_lake_table_create_rest_json registers the table
 * with its first snapshot in one catalog insert.
 *
 * Namespaces are one level (a kiln table is ns.table). Namespace properties
 * live in the catalog's iceberg_namespace_properties table (the Iceberg JDBC
 * catalog layout the lake already creates; its 'exists' row is the lake's
 * marker and is hidden here).
 *
 * /v1/transactions/commit is atomic across tables: every change is
 * validated first (tables exist, and a dry run of each table's commit,
 * kiln_lake_txn_validate, checks its requirements and applies its updates
 * against the current metadata, so a bad request gets the exact error of
 * the table at fault), then kiln_lake_txn_commit_multi commits all tables
 * in one SQLite transaction (all or none, also across a crash; see
 * src/lake/iceberg_multi.c). A failed requirement is 409 with nothing
 * changed.
 */
#include "lake/lake.h"
#include "serve/serve_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define NS_MARKER_KEY "exists" /* the lake's namespace marker row */

/* ------------------------------------------------------------------ helpers */

int kiln_serve__catalog_open(kiln_serve_req *rq, kiln_serve_resp *rs, kiln_lake_catalog **cat)
{
    kiln_err err = {0};
    *cat = NULL;
    if (!rq->srv->warehouse) {
        kiln_serve__error(rs, 503, "ServiceUnavailableException", "this server has no --warehouse");
        return -1;
    }
    if (kiln_lake_catalog_open(cat, rq->srv->warehouse, KILN_LAKE_CATALOG_SQLITE, &err) != 0) {
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
        return -1;
    }
    return 0;
}

/* The namespace path parameter: one level (the spec joins levels with 0x1F). */
static int ns_param(kiln_serve_resp *rs, const char *seg, char ns[129])
{
    kiln_err err = {0};
    char tbl[129];
    if (strchr(seg, 0x1f))
        return kiln_serve__error(rs, 400, "BadRequestException", "kiln namespaces have one level"), -1;
    char probe[140];
    snprintf(probe, sizeof probe, "%s.x", seg);
    if (strlen(seg) > 128 || strchr(seg, '.') || kiln_lake_name_split(probe, ns, tbl, &err) != 0)
        return kiln_serve__error(rs, 400, "BadRequestException",
                                 "invalid namespace name: letters, digits, '_' or '-', starting with a letter or '_', "
                                 "at most 128 bytes"),
               -1;
    return 0;
}

/* "ns.table" from a namespace and a table name, validated. */
static int table_name(kiln_serve_resp *rs, const char *ns, const char *tbl, char out[260])
{
    kiln_err err = {0};
    char a[129], b[129];
    if (strlen(ns) > 128 || strlen(tbl) > 128 || strchr(tbl, '.'))
        return kiln_serve__error(rs, 400, "BadRequestException", "invalid table name"), -1;
    snprintf(out, 260, "%s.%s", ns, tbl);
    if (kiln_lake_name_split(out, a, b, &err) != 0 || !b[0])
        return kiln_serve__error(rs, 400, "BadRequestException", "invalid table name: %s", err.msg), -1;
    return 0;
}

/* A TableIdentifier {namespace:[ns], name} from JSON into "ns.table". */
static int ident_param(kiln_serve_resp *rs, json_t *id, char out[260], char ns_out[129])
{
    json_t *nsj = json_object_get(id, "namespace"), *nm = json_object_get(id, "name");
    if (!json_is_array(nsj) || json_array_size(nsj) != 1 || !json_is_string(json_array_get(nsj, 0)) ||
        !json_is_string(nm))
        return kiln_serve__error(
                   rs, 400, "BadRequestException",
                   "identifier must be {\"namespace\":[\"ns\"],\"name\":\"table\"} (one-level namespace)"),
               -1;
    if (ns_param(rs, json_string_value(json_array_get(nsj, 0)), ns_out))
        return -1;
    return table_name(rs, ns_out, json_string_value(nm), out);
}

typedef struct ns_find {
    const char *ns;
    int found;
} ns_find;

static int ns_find_cb(void *ctx, const char *ns)
{
    ns_find *f = ctx;
    if (strcmp(ns, f->ns) == 0)
        f->found = 1;
    return 0;
}

/* 1 exists, 0 not, <0 error (err set) */
static int ns_exists(kiln_lake_catalog *cat, const char *ns, kiln_err *err)
{
    ns_find f = {ns, 0};
    int rc = kiln_lake_namespace_list(cat, ns_find_cb, &f, err);
    return rc ? rc : f.found;
}

/* 0 when namespace ns exists; else the 404 (or the catalog's error) is
 * answered and -1 returned. */
static int ns_require(kiln_serve_resp *rs, kiln_lake_catalog *cat, const char *ns)
{
    kiln_err err = {0};
    int ex = ns_exists(cat, ns, &err);
    if (ex > 0)
        return 0;
    if (ex < 0)
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        kiln_serve__error(rs, 404, "NoSuchNamespaceException", "namespace %s does not exist", ns);
    return -1;
}

/* Append a JSON string (NUL-terminated text). */
static int put_str(kiln_buf *b, const char *s, kiln_err *err) { return kiln_json_write_str(b, s, strlen(s), err); }

typedef struct view_list_ctx {
    kiln_buf *out;
    const char *ns;
    int n;
    kiln_err *err;
} view_list_ctx;

static int view_count(void *vctx, const char *name)
{
    (void)name;
    ((view_list_ctx *)vctx)->n++;
    return 0;
}

/* ------------------------------------------------------------------ namespace properties */

typedef struct props_ctx {
    kiln_buf *out;
    int n;
    kiln_err *err;
} props_ctx;

static int props_one(void *ctx, const char *key, const char *value)
{
    props_ctx *p = ctx;
    int rc = 0;
    if ((p->n++ && (rc = kiln_buf_putc(p->out, ',', p->err))) || (rc = put_str(p->out, key, p->err)) ||
        (rc = kiln_buf_putc(p->out, ':', p->err)) || (rc = put_str(p->out, value, p->err)))
        return rc;
    return 0;
}

/* Append the namespace's properties as a JSON object (the lake keeps them). */
static int props_json(kiln_lake_catalog *cat, const char *ns, kiln_buf *out, kiln_err *err)
{
    props_ctx p = {out, 0, err};
    int rc = kiln_buf_putc(out, '{', err);
    if (!rc)
        rc = kiln_lake_namespace_props(cat, ns, props_one, &p, err);
    return rc ? rc : kiln_buf_putc(out, '}', err);
}

static int key_list_add(kiln_buf *to, const char *k, kiln_err *err)
{
    int rc = to->len ? kiln_buf_putc(to, ',', err) : 0;
    return rc ? rc : put_str(to, k, err);
}

/* Apply removals then updates in one catalog transaction; report into
 * updated/removed/missing (JSON arrays of keys, without brackets). */
static int props_apply(kiln_lake_catalog *cat, const char *ns, json_t *updates, json_t *removals, kiln_buf *updated,
                       kiln_buf *removed, kiln_buf *missing, kiln_err *err)
{
    size_t nrem = json_array_size(removals), nset = json_object_size(updates), i = 0;
    const char **rem = kiln_calloc(nrem + 1, sizeof *rem), **keys = kiln_calloc(nset + 1, sizeof *keys);
    const char **vals = kiln_calloc(nset + 1, sizeof *vals);
    int *was = kiln_calloc(nrem + 1, sizeof *was);
    int rc = 0;
    if (!rem || !keys || !vals || !was) {
        rc = KILN_OOM(err);
        goto done;
    }
    json_t *v;
    json_array_foreach(removals, i, v) rem[i] = json_string_value(v);
    const char *k;
    i = 0;
    json_object_foreach(updates, k, v)
    {
        keys[i] = k;
        vals[i++] = json_string_value(v);
    }
    if ((rc = kiln_lake_namespace_props_update(cat, ns, rem, nrem, was, keys, vals, nset, err)))
        goto done;
    for (i = 0; i < nrem && !rc; i++)
        rc = key_list_add(was[i] ? removed : missing, rem[i], err);
    for (i = 0; i < nset && !rc; i++)
        rc = key_list_add(updated, keys[i], err);
done:
    kiln_free(rem);
    kiln_free(keys);
    kiln_free(vals);
    kiln_free(was);
    return rc;
}

/* Property maps from clients: every key and value a string, the marker key reserved. */
static int check_props(kiln_serve_resp *rs, json_t *props)
{
    const char *k;
    json_t *v;
    if (props && !json_is_object(props))
        return kiln_serve__error(rs, 400, "BadRequestException", "properties must be an object of strings"), -1;
    json_object_foreach(props, k, v)
    {
        if (!json_is_string(v))
            return kiln_serve__error(rs, 400, "BadRequestException", "property %s: value must be a string", k), -1;
        if (strcmp(k, NS_MARKER_KEY) == 0)
            return kiln_serve__error(rs, 400, "BadRequestException", "property key '%s' is reserved", k), -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ config */

int kiln_serve__cat_config(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    kiln_err err = {0};
    static const char *endpoints[] = {
        "GET /v1/{prefix}/namespaces",
        "POST /v1/{prefix}/namespaces",
        "GET /v1/{prefix}/namespaces/{namespace}",
        "HEAD /v1/{prefix}/namespaces/{namespace}",
        "DELETE /v1/{prefix}/namespaces/{namespace}",
        "POST /v1/{prefix}/namespaces/{namespace}/properties",
        "GET /v1/{prefix}/namespaces/{namespace}/tables",
        "POST /v1/{prefix}/namespaces/{namespace}/tables",
        "GET /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        "HEAD /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
        "POST /v1/{prefix}/tables/rename",
        "POST /v1/{prefix}/transactions/commit",
        "GET /v1/{prefix}/namespaces/{namespace}/views",
        "POST /v1/{prefix}/namespaces/{namespace}/views",
        "GET /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "HEAD /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "POST /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "DELETE /v1/{prefix}/namespaces/{namespace}/views/{view}",
        "POST /v1/{prefix}/views/rename",
    };
    int rc = kiln_buf_printf(&rs->body, &err, "{\"defaults\":{},\"overrides\":{},\"endpoints\":[");
    for (size_t i = 0; !rc && i < sizeof endpoints / sizeof endpoints[0]; i++) {
        if (i)
            rc = kiln_buf_putc(&rs->body, ',', &err);
        if (!rc)
            rc = put_str(&rs->body, endpoints[i], &err);
    }
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "]}");
    rs->status = 200;
    return rc;
}

/* ------------------------------------------------------------------ namespaces */

typedef struct list_ctx {
    kiln_buf *out;
    int n;
    kiln_err *err;
} list_ctx;

static int ns_list_cb(void *ctx, const char *ns)
{
    list_ctx *l = ctx;
    int rc;
    if ((l->n++ && (rc = kiln_buf_putc(l->out, ',', l->err))) || (rc = kiln_buf_putc(l->out, '[', l->err)) ||
        (rc = put_str(l->out, ns, l->err)) || (rc = kiln_buf_putc(l->out, ']', l->err)))
        return rc;
    return 0;
}

int kiln_serve__cat_ns_list(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    if (kiln_serve__catalog_open(rq, rs, &cat))
        return 0;
    int rc = kiln_buf_printf(&rs->body, &err, "{\"namespaces\":[");
    const char *parent = kiln_serve__query(rq, "parent");
    /* one level: a parent namespace has no children */
    list_ctx l = {&rs->body, 0, &err};
    if (!rc && !(parent && *parent))
        rc = kiln_lake_namespace_list(cat, ns_list_cb, &l, &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "]}");
    kiln_lake_catalog_free(cat);
    if (rc)
        return kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    rs->status = 200;
    return 0;
}

static int ns_body(kiln_lake_catalog *cat, kiln_serve_resp *rs, const char *ns, kiln_err *err)
{
    int rc = kiln_buf_printf(&rs->body, err, "{\"namespace\":[");
    if (!rc)
        rc = put_str(&rs->body, ns, err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, err, "],\"properties\":");
    if (!rc)
        rc = props_json(cat, ns, &rs->body, err);
    if (!rc)
        rc = kiln_buf_putc(&rs->body, '}', err);
    return rc;
}

int kiln_serve__cat_ns_create(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    json_t *nsj = json_object_get(j, "namespace"), *props = json_object_get(j, "properties");
    char ns[129];
    int rc = 0;
    if (!json_is_array(nsj) || json_array_size(nsj) != 1 || !json_is_string(json_array_get(nsj, 0))) {
        kiln_serve__error(rs, 400, "BadRequestException", "namespace must be an array of one string");
        goto done;
    }
    if (ns_param(rs, json_string_value(json_array_get(nsj, 0)), ns) || check_props(rs, props) ||
        kiln_serve__catalog_open(rq, rs, &cat))
        goto done;
    int ex = ns_exists(cat, ns, &err);
    if (ex < 0 || (!ex && (rc = kiln_lake_namespace_create(cat, ns, &err)))) {
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
        goto done;
    }
    if (ex) {
        kiln_serve__error(rs, 409, "AlreadyExistsException", "namespace %s already exists", ns);
        goto done;
    }
    if (props && json_object_size(props)) {
        kiln_buf u, r, m;
        kiln_buf_init(&u, 0);
        kiln_buf_init(&r, 0);
        kiln_buf_init(&m, 0);
        json_t *none = json_array();
        rc = props_apply(cat, ns, props, none, &u, &r, &m, &err);
        json_decref(none);
        kiln_buf_free(&u);
        kiln_buf_free(&r);
        kiln_buf_free(&m);
        if (rc) {
            kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
            goto done;
        }
    }
    if ((rc = ns_body(cat, rs, ns, &err)))
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        rs->status = 200;
done:
    json_decref(j);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* Open the catalog and check the namespace of segs[2]; -1 when answered. */
static int ns_open(kiln_serve_req *rq, kiln_serve_resp *rs, kiln_lake_catalog **cat, char ns[129])
{
    if (ns_param(rs, rq->segs[2], ns) || kiln_serve__catalog_open(rq, rs, cat))
        return -1;
    if (ns_require(rs, *cat, ns)) {
        kiln_lake_catalog_free(*cat);
        *cat = NULL;
        return -1;
    }
    return 0;
}

int kiln_serve__cat_ns_load(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char ns[129];
    if (ns_open(rq, rs, &cat, ns))
        return 0;
    if (ns_body(cat, rs, ns, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        rs->status = 200;
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_ns_exists(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    char ns[129];
    if (ns_open(rq, rs, &cat, ns))
        return 0;
    kiln_lake_catalog_free(cat);
    rs->status = 204;
    return 0;
}

int kiln_serve__cat_ns_drop(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char ns[129];
    if (ns_open(rq, rs, &cat, ns))
        return 0;
    view_list_ctx vc = {NULL, ns, 0, &err};
    int rc = kiln_lake_view_list(cat, ns, view_count, &vc, &err);
    if (rc == 0 && vc.n) {
        kiln_serve__error(rs, 409, "NamespaceNotEmptyException", "namespace %s has %d view(s)", ns, vc.n);
        kiln_lake_catalog_free(cat);
        return 0;
    }
    if (rc == 0)
        rc = kiln_lake_namespace_drop(cat, ns, &err);
    if (rc == KILN_EEXIST)
        kiln_serve__error(rs, 409, "NamespaceNotEmptyException", "%s", err.msg);
    else if (rc)
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        rs->status = 204;
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_ns_props(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char ns[129];
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    kiln_buf u, r, m;
    kiln_buf_init(&u, 0);
    kiln_buf_init(&r, 0);
    kiln_buf_init(&m, 0);
    json_t *updates = json_object_get(j, "updates"), *removals = json_object_get(j, "removals");
    json_t *own_u = NULL, *own_r = NULL;
    if (!updates)
        updates = own_u = json_object();
    if (!removals)
        removals = own_r = json_array();
    if (check_props(rs, updates))
        goto done;
    size_t i;
    json_t *v;
    int bad = !json_is_array(removals);
    json_array_foreach(removals, i, v)
    {
        if (!json_is_string(v) || strcmp(json_string_value(v), NS_MARKER_KEY) == 0)
            bad = 1;
        else if (json_object_get(updates, json_string_value(v))) {
            kiln_serve__error(rs, 422, "UnprocessableEntityException", "key %s is both updated and removed",
                              json_string_value(v));
            goto done;
        }
    }
    if (bad) {
        kiln_serve__error(rs, 400, "BadRequestException", "removals must be an array of (non-reserved) keys");
        goto done;
    }
    if (ns_open(rq, rs, &cat, ns))
        goto done;
    if (props_apply(cat, ns, updates, removals, &u, &r, &m, &err) ||
        kiln_buf_printf(&rs->body, &err, "{\"updated\":[%.*s],\"removed\":[%.*s],\"missing\":[%.*s]}", (int)u.len,
                        u.data ? u.data : "", (int)r.len, r.data ? r.data : "", (int)m.len, m.data ? m.data : ""))
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        rs->status = 200;
done:
    json_decref(own_u);
    json_decref(own_r);
    json_decref(j);
    kiln_buf_free(&u);
    kiln_buf_free(&r);
    kiln_buf_free(&m);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* ------------------------------------------------------------------ tables */

/* One TableIdentifier {"namespace":[ns],"name":name} of a ListTablesResponse
 * or ListViewsResponse (ns is nslen bytes). */
static int ident_put(kiln_buf *out, int *n, const char *ns, size_t nslen, const char *name, kiln_err *err)
{
    int rc;
    if ((rc = kiln_buf_printf(out, err, "%s{\"namespace\":[", (*n)++ ? "," : "")) ||
        (rc = kiln_json_write_str(out, ns, nslen, err)) || (rc = kiln_buf_printf(out, err, "],\"name\":")) ||
        (rc = put_str(out, name, err)))
        return rc;
    return kiln_buf_putc(out, '}', err);
}

static int tbl_list_cb(void *ctx, const char *name, const char *loc)
{
    (void)loc;
    list_ctx *l = ctx;
    const char *dot = strchr(name, '.');
    return dot ? ident_put(l->out, &l->n, name, (size_t)(dot - name), dot + 1, l->err) : 0;
}

static int view_list_one(void *vctx, const char *name)
{
    view_list_ctx *c = vctx;
    return ident_put(c->out, &c->n, c->ns, strlen(c->ns), name, c->err);
}

/* GET .../namespaces/{ns}/tables or /views: ListTablesResponse. */
static int list_idents(kiln_serve_req *rq, kiln_serve_resp *rs, int views)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char ns[129];
    if (ns_open(rq, rs, &cat, ns))
        return 0;
    list_ctx l = {&rs->body, 0, &err};
    view_list_ctx c = {&rs->body, ns, 0, &err};
    int rc = kiln_buf_printf(&rs->body, &err, "{\"identifiers\":[");
    if (!rc)
        rc = views ? kiln_lake_view_list(cat, ns, view_list_one, &c, &err)
                   : kiln_lake_table_list(cat, ns, tbl_list_cb, &l, &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, "]}");
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        rs->status = 200;
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_tbl_list(kiln_serve_req *rq, kiln_serve_resp *rs) { return list_idents(rq, rs, 0); }

/* LoadTableResult / CommitTableResponse body for t. */
static int table_result(kiln_serve_resp *rs, kiln_lake_table *t, int with_config, kiln_err *err)
{
    int rc = kiln_buf_printf(&rs->body, err, "{\"metadata-location\":");
    if (!rc)
        rc = put_str(&rs->body, kiln_lake_table_metadata_location(t), err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, err, ",\"metadata\":");
    if (!rc)
        rc = kiln_lake_meta_write(kiln_lake_table_meta(t), 0, &rs->body, err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, err, "%s}", with_config ? ",\"config\":{}" : "");
    return rc;
}

/* A field's integer member by its spec name ("source-id"), or the
 * snake_case spelling some clients send ("source_id", e.g. iceberg-js 0.8). */
static json_int_t member_int(json_t *f, const char *name)
{
    json_t *v = json_object_get(f, name);
    if (!v) {
        char alt[32];
        snprintf(alt, sizeof alt, "%s", name);
        for (char *c = alt; *c; c++)
            if (*c == '-')
                *c = '_';
        v = json_object_get(f, alt);
    }
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Column name of a top-level field id in a request schema (JSON). */
static const char *schema_col(json_t *schema, json_int_t id)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(schema, "fields"), i, f)
    {
        if (json_integer_value(json_object_get(f, "id")) == id)
            return json_string_value(json_object_get(f, "name"));
    }
    return NULL;
}

/* PartitionSpec JSON -> the lake's partition text ("day(ts), bucket(16, id)"). */
static int spec_text(kiln_serve_resp *rs, json_t *schema, json_t *spec, kiln_buf *out, kiln_err *err)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(spec, "fields"), i, f)
    {
        const char *col = schema_col(schema, member_int(f, "source-id"));
        const char *xf = json_string_value(json_object_get(f, "transform"));
        if (!col || !xf)
            return kiln_serve__error(rs, 400, "BadRequestException",
                                     "partition field %zu: source-id must name a top-level column, transform a string",
                                     i),
                   -1;
        int rc = i ? kiln_buf_printf(out, err, ", ") : 0;
        int n;
        if (!rc && (sscanf(xf, "bucket[%d]", &n) == 1 || sscanf(xf, "truncate[%d]", &n) == 1))
            rc = kiln_buf_printf(out, err, "%.*s(%d, %s)", (int)strcspn(xf, "["), xf, n, col);
        else if (!rc && (!strcmp(xf, "identity") || !strcmp(xf, "year") || !strcmp(xf, "month") || !strcmp(xf, "day") ||
                         !strcmp(xf, "hour")))
            rc = kiln_buf_printf(out, err, "%s(%s)", xf, col);
        else if (!rc)
            return kiln_serve__error(rs, 406, "UnsupportedOperationException",
                                     "partition transform %s is not supported", xf),
                   -1;
        if (rc)
            return rc;
    }
    return kiln_buf_putc(out, 0, err);
}

/* SortOrder JSON -> the lake's sort text ("ts desc nulls last, id"); identity only. */
static int sort_text(kiln_serve_resp *rs, json_t *schema, json_t *order, kiln_buf *out, kiln_err *err)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(order, "fields"), i, f)
    {
        const char *col = schema_col(schema, member_int(f, "source-id"));
        const char *xf = json_string_value(json_object_get(f, "transform"));
        const char *dir = json_string_value(json_object_get(f, "direction"));
        const char *nulls = json_string_value(json_object_get(f, "null-order"));
        if (!nulls)
            nulls = json_string_value(json_object_get(f, "null_order"));
        if (!col || !xf || strcmp(xf, "identity") != 0)
            return kiln_serve__error(rs, 406, "UnsupportedOperationException",
                                     "write-order field %zu: only identity sorts on top-level columns", i),
                   -1;
        int rc =
            kiln_buf_printf(out, err, "%s%s %s %s", i ? ", " : "", col, dir && !strcmp(dir, "desc") ? "desc" : "asc",
                            nulls && !strcmp(nulls, "nulls-last") ? "nulls last" : "nulls first");
        if (rc)
            return rc;
    }
    return kiln_buf_putc(out, 0, err);
}

/* The updates a create transaction starts with (as Iceberg's clients build
 * them from a CreateTableRequest). */
static json_t *create_updates(json_t *req)
{
    json_t *u = json_array();
    json_t *spec = json_object_get(req, "partition-spec"), *order = json_object_get(req, "write-order");
    json_t *props = json_object_get(req, "properties"), *loc = json_object_get(req, "location");
    json_array_append_new(u, json_pack("{s:s,s:i}", "action", "upgrade-format-version", "format-version", 2));
    json_array_append_new(u, json_pack("{s:s,s:O}", "action", "add-schema", "schema", json_object_get(req, "schema")));
    json_array_append_new(u, json_pack("{s:s,s:i}", "action", "set-current-schema", "schema-id", -1));
    if (json_is_object(spec)) {
        json_array_append_new(u, json_pack("{s:s,s:O}", "action", "add-spec", "spec", spec));
        json_array_append_new(u, json_pack("{s:s,s:i}", "action", "set-default-spec", "spec-id", -1));
    }
    if (json_is_object(order)) {
        json_array_append_new(u, json_pack("{s:s,s:O}", "action", "add-sort-order", "sort-order", order));
        json_array_append_new(u, json_pack("{s:s,s:i}", "action", "set-default-sort-order", "sort-order-id", -1));
    }
    if (json_is_string(loc))
        json_array_append_new(u, json_pack("{s:s,s:O}", "action", "set-location", "location", loc));
    if (json_is_object(props) && json_object_size(props))
        json_array_append_new(u, json_pack("{s:s,s:O}", "action", "set-properties", "updates", props));
    return u;
}

/* stage-create: the LoadTableResult of the table the request describes,
 * built in memory; nothing is written and the table is not in the catalog
 * until a commit with assert-create (cat_tbl_commit). No metadata-location:
 * the metadata is not committed (the spec allows leaving it out then). */
static void stage_create(kiln_serve_resp *rs, kiln_lake_catalog *cat, const char *name, json_t *req)
{
    kiln_err err = {0};
    kiln_lake_table *t = NULL;
    kiln_lake_meta *m = NULL;
    json_t *u = create_updates(req);
    char *ut = u ? json_dumps(u, JSON_COMPACT) : NULL;
    json_decref(u);
    if (!ut) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        return;
    }
    int rc = kiln_lake_table_load(&t, cat, name, &err);
    kiln_lake_table_free(t);
    if (rc == 0)
        kiln_serve__error(rs, 409, "AlreadyExistsException", "table %s already exists", name);
    else if (rc != KILN_ENOTFOUND)
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
    else if ((err = (kiln_err){0}, kiln_lake_table_create_rest_json(NULL, &m, cat, name, ut, &err)) ||
             kiln_buf_printf(&rs->body, &err, "{\"metadata\":") || kiln_lake_meta_write(m, 0, &rs->body, &err) ||
             kiln_buf_printf(&rs->body, &err, ",\"config\":{}}"))
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
    else
        rs->status = 200;
    kiln_lake_meta_free(m);
    free(ut);
}

int kiln_serve__cat_tbl_create(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_kv *kv = NULL;
    char *schema_text = NULL;
    kiln_err err = {0};
    char ns[129], name[260];
    kiln_buf part, sort;
    kiln_buf_init(&part, 0);
    kiln_buf_init(&sort, 0);
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        goto done;
    json_t *nm = json_object_get(j, "name"), *schema = json_object_get(j, "schema");
    json_t *spec = json_object_get(j, "partition-spec"), *order = json_object_get(j, "write-order");
    json_t *props = json_object_get(j, "properties"), *loc = json_object_get(j, "location");
    if (!json_is_string(nm) || !json_is_object(schema)) {
        kiln_serve__error(rs, 400, "BadRequestException", "CreateTableRequest needs name and schema");
        goto done;
    }
    if (ns_open(rq, rs, &cat, ns) || table_name(rs, ns, json_string_value(nm), name))
        goto done;
    if (kiln_lake_view_exists(cat, name)) {
        kiln_serve__error(rs, 409, "AlreadyExistsException", "a view named %s exists", name);
        goto done;
    }
    if (json_is_string(loc)) {
        char *want = kiln_sprintf("file://%s/%s/%s", rq->srv->warehouse, ns, json_string_value(nm));
        int same = want && (strcmp(want, json_string_value(loc)) == 0 || strcmp(want + 7, json_string_value(loc)) == 0);
        kiln_free(want);
        if (!same) {
            kiln_serve__error(rs, 400, "BadRequestException",
                              "kiln places tables at WAREHOUSE/namespace/table; omit location");
            goto done;
        }
    }
    if (props && check_props(rs, props))
        goto done;
    kiln_lake_create_opts o = {0};
    if (!(schema_text = json_dumps(schema, JSON_COMPACT))) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        goto done;
    }
    o.schema_json = schema_text;
    if (spec && json_array_size(json_object_get(spec, "fields"))) {
        if (spec_text(rs, schema, spec, &part, &err)) {
            if (err.code)
                kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
            goto done;
        }
        o.partition = part.data;
    }
    if (order && json_array_size(json_object_get(order, "fields"))) {
        if (sort_text(rs, schema, order, &sort, &err)) {
            if (err.code)
                kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
            goto done;
        }
        o.sort = sort.data;
    }
    size_t np = props ? json_object_size(props) : 0;
    if (np) {
        if (!(kv = kiln_malloc(np * sizeof *kv))) {
            kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
            goto done;
        }
        const char *k;
        json_t *v;
        size_t i = 0;
        json_object_foreach(props, k, v)
        {
            kv[i].key = k;
            kv[i].value = json_string_value(v);
            i++;
        }
        o.properties = kv;
        o.nproperties = np;
    }
    if (json_is_true(json_object_get(j, "stage-create"))) {
        stage_create(rs, cat, name, j);
        goto done;
    }
    if (kiln_lake_table_create(&t, cat, name, &o, &err) || table_result(rs, t, 1, &err)) {
        kiln_serve__error_kiln(rs, &err, "NoSuchNamespaceException");
        goto done;
    }
    rs->status = 200;
done:
    json_decref(j);
    free(schema_text);
    kiln_free(kv);
    kiln_buf_free(&part);
    kiln_buf_free(&sort);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* Open catalog + table of segs[2]/segs[4]; -1 when answered. */
static int tbl_open(kiln_serve_req *rq, kiln_serve_resp *rs, kiln_lake_catalog **cat, kiln_lake_table **t,
                    char name[260])
{
    kiln_err err = {0};
    char ns[129];
    *t = NULL;
    if (ns_open(rq, rs, cat, ns))
        return -1;
    if (table_name(rs, ns, rq->segs[4], name) || kiln_lake_table_load(t, *cat, name, &err)) {
        if (err.code)
            kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
        kiln_lake_catalog_free(*cat);
        *cat = NULL;
        return -1;
    }
    return 0;
}

int kiln_serve__cat_tbl_load(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    char name[260];
    if (tbl_open(rq, rs, &cat, &t, name))
        return 0;
    if (table_result(rs, t, 1, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
    else
        rs->status = 200;
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_tbl_exists(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    char name[260];
    if (tbl_open(rq, rs, &cat, &t, name))
        return 0;
    rs->status = 204;
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* A replace (Iceberg's buildReplacement: REPLACE TABLE ... AS SELECT) sends
 * remove-snapshot-ref main and later in the same commit set-snapshot-ref
 * main. The lake never lets main disappear, and the end state is the same
 * as moving main: drop that removal. (A removal of main with no later
 * set stays, and fails: a table keeps its main branch.) */
static void drop_main_removal(json_t *upd)
{
    size_t i, k;
    json_t *u;
    json_array_foreach(upd, i, u)
    {
        const char *a = json_string_value(json_object_get(u, "action"));
        const char *ref = json_string_value(json_object_get(u, "ref-name"));
        if (!a || !ref || strcmp(a, "remove-snapshot-ref") != 0 || strcmp(ref, "main") != 0)
            continue;
        for (k = i + 1; k < json_array_size(upd); k++) {
            json_t *v = json_array_get(upd, k);
            const char *b = json_string_value(json_object_get(v, "action"));
            const char *r2 = json_string_value(json_object_get(v, "ref-name"));
            if (b && r2 && strcmp(b, "set-snapshot-ref") == 0 && strcmp(r2, "main") == 0)
                break;
        }
        if (k < json_array_size(upd)) {
            json_array_remove(upd, i);
            return;
        }
    }
}

/* Build a transaction on t from one change's requirements/updates. */
/* The transaction of one table's change; the updates kiln_lake_txn has no
 * operation for (kiln_lake_rest_update_is_extra: sort orders, statistics,
 * ...) go to *extras (a JSON array, or NULL when there are none) for
 * kiln_lake_txn_commit_multi. */
static int txn_from_json(kiln_lake_txn **out, kiln_lake_table *t, json_t *change, char **extras, kiln_err *err)
{
    *extras = NULL;
    json_t *req = json_object_get(change, "requirements"), *upd = json_object_get(change, "updates");
    if ((req && !json_is_array(req)) || (upd && !json_is_array(upd)))
        return kiln_err_set(err, KILN_EINVAL, "requirements and updates must be arrays");
    drop_main_removal(upd);
    json_t *own = json_array(), *ext = json_array(), *u;
    size_t i;
    json_array_foreach(upd, i, u) json_array_append(
        kiln_lake_rest_update_is_extra(json_string_value(json_object_get(u, "action"))) ? ext : own, u);
    char *rt = req ? json_dumps(req, JSON_COMPACT) : NULL, *ut = own ? json_dumps(own, JSON_COMPACT) : NULL;
    int rc = 0;
    if ((req && !rt) || !ut || !ext)
        rc = KILN_OOM(err);
    if (!rc && json_array_size(ext) && !(*extras = json_dumps(ext, JSON_COMPACT)))
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_lake_txn_begin(out, t, err);
    if (!rc && (rc = kiln_lake_txn_add_rest_json(*out, rt, ut, err))) {
        kiln_lake_txn_free(*out);
        *out = NULL;
    }
    if (rc) {
        free(*extras);
        *extras = NULL;
    }
    json_decref(own);
    json_decref(ext);
    free(rt);
    free(ut);
    return rc;
}

static void count_commit(kiln_serve_req *rq, int rc)
{
    kiln_serve__metrics_commit(rq->srv->metrics, rc == 0 ? "ok" : rc == KILN_ECONFLICT ? "conflict" : "error");
}

static int has_assert_create(json_t *reqs)
{
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        const char *type = json_string_value(json_object_get(r, "type"));
        if (type && strcmp(type, "assert-create") == 0)
            return 1;
    }
    return 0;
}

/* A commit with assert-create: the second half of a create transaction
 * (stage-create, then this). The table must not exist (else 409
 * CommitFailedException); it is created from the updates in one step. */
static void commit_create(kiln_serve_req *rq, kiln_serve_resp *rs, json_t *j)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    char ns[129], name[260];
    char *ut = NULL;
    json_t *upd = json_object_get(j, "updates");
    if (json_array_size(json_object_get(j, "requirements")) != 1) {
        kiln_serve__error(rs, 400, "BadRequestException",
                          "assert-create is the only requirement a create transaction can have");
        return;
    }
    if (upd && !json_is_array(upd)) {
        kiln_serve__error(rs, 400, "BadRequestException", "updates must be an array");
        return;
    }
    if (ns_open(rq, rs, &cat, ns) || table_name(rs, ns, rq->segs[4], name))
        goto done;
    int rc = kiln_lake_table_load(&t, cat, name, &err);
    kiln_lake_table_free(t);
    t = NULL;
    if (rc == 0) {
        count_commit(rq, KILN_ECONFLICT);
        kiln_serve__error(rs, 409, "CommitFailedException", "assert-create failed: table %s exists", name);
        goto done;
    }
    if (rc != KILN_ENOTFOUND) {
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
        goto done;
    }
    err = (kiln_err){0};
    if (!(ut = upd ? json_dumps(upd, JSON_COMPACT) : kiln_strdup("[]"))) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        goto done;
    }
    rc = kiln_lake_table_create_rest_json(&t, NULL, cat, name, ut, &err);
    if (rc == KILN_EEXIST) {
        count_commit(rq, KILN_ECONFLICT);
        kiln_serve__error(rs, 409, "CommitFailedException", "assert-create failed: %s", err.msg);
        goto done;
    }
    count_commit(rq, rc);
    if (rc || table_result(rs, t, 0, &err)) {
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
        goto done;
    }
    rs->status = 200;
done:
    if (upd)
        free(ut);
    else
        kiln_free(ut);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

int kiln_serve__cat_tbl_commit(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_txn *txn = NULL;
    kiln_err err = {0};
    char name[260];
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    int creates = has_assert_create(json_object_get(j, "requirements"));
    if (creates) {
        commit_create(rq, rs, j);
        goto done;
    }
    if (tbl_open(rq, rs, &cat, &t, name))
        goto done;
    char *extras = NULL;
    int rc = txn_from_json(&txn, t, j, &extras, &err);
    if (!rc && extras) /* sort orders, statistics, ...: the commit that takes them */
        rc = kiln_lake_txn_commit_multi(&t, &txn, (const char *const *)&extras, 1, 0, &err);
    else if (!rc)
        rc = kiln_lake_txn_commit(txn, NULL, NULL, &err);
    free(extras);
    count_commit(rq, rc);
    if (rc || (rc = table_result(rs, t, 0, &err))) {
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
        goto done;
    }
    rs->status = 200;
done:
    json_decref(j);
    kiln_lake_txn_free(txn);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_tbl_drop(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    char name[260];
    if (tbl_open(rq, rs, &cat, &t, name))
        return 0;
    kiln_lake_table_free(t);
    const char *purge = kiln_serve__query(rq, "purgeRequested");
    if (kiln_lake_table_drop(cat, name, purge && strcmp(purge, "true") == 0, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
    else
        rs->status = 204;
    kiln_lake_catalog_free(cat);
    return 0;
}

/* POST /v1/{prefix}/tables/rename or views/rename: RenameTableRequest. A
 * missing source table answers before the destination namespace is checked. */
static int rename_ident(kiln_serve_req *rq, kiln_serve_resp *rs, int views)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    char from[260], to[260], fns[129], tns[129];
    const char *missing = views ? "NoSuchViewException" : "NoSuchTableException";
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    if (ident_param(rs, json_object_get(j, "source"), from, fns) ||
        ident_param(rs, json_object_get(j, "destination"), to, tns) || kiln_serve__catalog_open(rq, rs, &cat))
        goto done;
    if (!views && kiln_lake_table_load(&t, cat, from, &err)) {
        kiln_serve__error_kiln(rs, &err, missing);
        goto done;
    }
    if (ns_require(rs, cat, tns))
        goto done;
    if (views ? kiln_lake_view_rename(cat, from, to, &err) : kiln_lake_table_rename(cat, from, to, &err))
        kiln_serve__error_kiln(rs, &err, missing);
    else
        rs->status = 204;
done:
    json_decref(j);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_tbl_rename(kiln_serve_req *rq, kiln_serve_resp *rs) { return rename_ident(rq, rs, 0); }

/* POST .../tables/{table}/metrics: clients (Spark, Trino) send scan and
 * commit reports here after their work; kiln accepts and discards them so
 * they do not log failures. */
int kiln_serve__cat_tbl_report(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    rs->status = 204;
    return 0;
}

/* ------------------------------------------------------------------ multi-table commit */

int kiln_serve__cat_txn_commit(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    json_t *changes = json_object_get(j, "table-changes");
    size_t n = json_array_size(changes);
    kiln_lake_table **tables = NULL;
    kiln_lake_txn **txns = NULL;
    char(*names)[260] = NULL;
    char **extras = NULL;
    if (!json_is_array(changes) || n == 0) {
        kiln_serve__error(rs, 400, "BadRequestException", "table-changes must be a non-empty array");
        goto done;
    }
    if (kiln_serve__catalog_open(rq, rs, &cat))
        goto done;
    tables = kiln_malloc(n * sizeof *tables);
    txns = kiln_malloc(n * sizeof *txns);
    names = kiln_malloc(n * sizeof *names);
    extras = kiln_calloc(n, sizeof *extras);
    if (!tables || !txns || !names || !extras) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        goto done;
    }
    memset(tables, 0, n * sizeof *tables);
    memset(txns, 0, n * sizeof *txns);
    /* phase 1: everything validated, nothing written */
    for (size_t i = 0; i < n; i++) {
        json_t *ch = json_array_get(changes, i);
        char ns[129];
        if (ident_param(rs, json_object_get(ch, "identifier"), names[i], ns))
            goto done;
        for (size_t k = 0; k < i; k++)
            if (strcmp(names[k], names[i]) == 0) {
                kiln_serve__error(rs, 400, "BadRequestException", "table %s appears twice", names[i]);
                goto done;
            }
        if (kiln_lake_table_load(&tables[i], cat, names[i], &err)) {
            kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
            goto done;
        }
        int rc = txn_from_json(&txns[i], tables[i], ch, &extras[i], &err);
        if (!rc)
            rc = kiln_lake_txn_validate(txns[i], &err);
        if (rc) { /* a rejected table commit, counted as a single-table one is */
            count_commit(rq, rc);
            kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
            goto done;
        }
    }
    /* phase 2: every table at once (kiln_lake_txn_commit_multi: one SQLite
     * transaction is the commit point; requirements are checked again there) */
    int rc = kiln_lake_txn_commit_multi(tables, txns, (const char *const *)extras, n, 0, &err);
    for (size_t i = 0; i < n; i++)
        count_commit(rq, rc);
    if (rc) {
        kiln_serve__error_kiln(rs, &err, "NoSuchTableException");
        goto done;
    }
    rs->status = 204;
done:
    for (size_t i = 0; tables && txns && i < n; i++) {
        kiln_lake_txn_free(txns[i]);
        kiln_lake_table_free(tables[i]);
        if (extras)
            free(extras[i]);
    }
    kiln_free(extras);
    kiln_free(tables);
    kiln_free(txns);
    kiln_free(names);
    json_decref(j);
    kiln_lake_catalog_free(cat);
    return 0;
}

/* ------------------------------------------------------------------ views
 *
 * The view endpoints of the REST spec over kiln_lake_view_*: a view is its
 * metadata document (view spec format-version 1), built here from the
 * CreateViewRequest and changed by CommitViewRequest updates, each change
 * a new document swapped into the catalog with a compare-and-swap (a lost
 * race is retried on the newer document while the requirements hold). */

int kiln_serve__cat_view_list(kiln_serve_req *rq, kiln_serve_resp *rs) { return list_idents(rq, rs, 1); }

/* LoadViewResult */
static int view_result(kiln_serve_resp *rs, const char *loc, const char *json, kiln_err *err)
{
    kiln_buf_reset(&rs->body);
    int rc = kiln_buf_printf(&rs->body, err, "{\"metadata-location\":");
    if (!rc)
        rc = put_str(&rs->body, loc, err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, err, ",\"metadata\":%s,\"config\":{}}", json);
    return rc;
}

int kiln_serve__cat_view_create(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char ns[129], name[260], *loc = NULL, *text = NULL, *where = NULL;
    json_t *m = NULL, *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    json_t *nm = json_object_get(j, "name"), *schema = json_object_get(j, "schema");
    json_t *ver = json_object_get(j, "view-version"), *props = json_object_get(j, "properties");
    json_t *l = json_object_get(j, "location");
    if (!json_is_string(nm) || !json_is_object(schema) || !json_is_object(ver)) {
        kiln_serve__error(rs, 400, "BadRequestException", "CreateViewRequest needs name, schema and view-version");
        goto done;
    }
    if (ns_open(rq, rs, &cat, ns) || table_name(rs, ns, json_string_value(nm), name) ||
        (props && check_props(rs, props)))
        goto done;
    if (!(where = kiln_lake_view_location(cat, name))) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        goto done;
    }
    if (json_is_string(l) && strcmp(json_string_value(l), where) && strcmp(json_string_value(l), where + 7)) {
        kiln_serve__error(rs, 400, "BadRequestException", "kiln places views at %s; omit location", where);
        goto done;
    }
    if (!(m = kiln_lake_view_doc_new(schema, ver, props, where, &err))) {
        kiln_serve__error_kiln(rs, &err, "NoSuchViewException");
        goto done;
    }
    kiln_lake_table *t = NULL;
    if (kiln_lake_table_load(&t, cat, name, &(kiln_err){0}) == 0) {
        kiln_lake_table_free(t);
        kiln_serve__error(rs, 409, "AlreadyExistsException", "a table named %s exists", name);
        goto done;
    }
    if (!m || !(text = json_dumps(m, JSON_COMPACT))) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        goto done;
    }
    if (kiln_lake_view_create(cat, name, text, &loc, &err) || view_result(rs, loc, text, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchViewException");
    else
        rs->status = 200;
done:
    json_decref(j);
    json_decref(m);
    free(text);
    kiln_free(loc);
    kiln_free(where);
    kiln_lake_catalog_free(cat);
    return 0;
}

static int view_open(kiln_serve_req *rq, kiln_serve_resp *rs, kiln_lake_catalog **cat, char name[260])
{
    char ns[129];
    if (ns_open(rq, rs, cat, ns))
        return -1;
    if (table_name(rs, ns, rq->segs[4], name)) {
        kiln_lake_catalog_free(*cat);
        *cat = NULL;
        return -1;
    }
    return 0;
}

int kiln_serve__cat_view_load(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char name[260], *json = NULL, *loc = NULL;
    if (view_open(rq, rs, &cat, name))
        return 0;
    if (kiln_lake_view_load(cat, name, &json, &loc, &err) || view_result(rs, loc, json, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchViewException");
    else
        rs->status = 200;
    kiln_free(json);
    kiln_free(loc);
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_view_exists(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    char name[260];
    if (view_open(rq, rs, &cat, name))
        return 0;
    if (kiln_lake_view_exists(cat, name))
        rs->status = 204;
    else
        kiln_serve__error(rs, 404, "NoSuchViewException", "no view %s", name);
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_view_drop(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char name[260];
    if (view_open(rq, rs, &cat, name))
        return 0;
    if (kiln_lake_view_drop(cat, name, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchViewException");
    else
        rs->status = 204;
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_view_commit(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    char name[260], *text = NULL, *nloc = NULL;
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    json_t *reqs = json_object_get(j, "requirements"), *ups = json_object_get(j, "updates");
    if ((reqs && !json_is_array(reqs)) || !json_is_array(ups)) {
        kiln_serve__error(rs, 400, "BadRequestException", "CommitViewRequest needs an updates array");
        goto done;
    }
    if (view_open(rq, rs, &cat, name))
        goto done;
    int rc = kiln_lake_view_update(cat, name, reqs, ups, &text, &nloc, &err);
    if (rc || view_result(rs, nloc, text, &err))
        kiln_serve__error_kiln(rs, &err, "NoSuchViewException");
    else
        rs->status = 200;
done:
    json_decref(j);
    kiln_free(nloc);
    free(text);
    kiln_lake_catalog_free(cat);
    return 0;
}

int kiln_serve__cat_view_rename(kiln_serve_req *rq, kiln_serve_resp *rs) { return rename_ident(rq, rs, 1); }
