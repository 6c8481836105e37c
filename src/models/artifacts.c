/*
 * artifacts.c - dbt's JSON artifacts in <target-path>/: manifest.json
 * (schema v12's top-level keys and the node fields tools read) and
 * run_results.json (v6), written with jansson. Field names follow dbt's
 * published schemas (schemas.getdbt.com); docs/models.md lists what is
 * left out.
 */
#include "models/project.h"

#include "lake/lake.h"

#include <jansson.h>
#include <stdlib.h>

#define DBT_VERSION_COMPAT "1.8.0"

static void iso_now(char out[32])
{
    char ts[40];
    kiln_ts_format(kiln_now_micros(), ts);
    snprintf(out, 32, "%s", ts);
}

static json_t *metadata(const kiln_project *p, const char *schema_url)
{
    char now[32], uuid[37];
    iso_now(now);
    kiln_lake_uuid_v4(uuid);
    json_t *m = json_object();
    json_object_set_new(m, "dbt_schema_version", json_string(schema_url));
    json_object_set_new(m, "dbt_version", json_string(DBT_VERSION_COMPAT));
    json_object_set_new(m, "generated_at", json_string(now));
    json_object_set_new(m, "invocation_id", json_string(uuid));
    json_object_set_new(m, "env", json_object());
    return m;
}

/* Jinja value -> JSON (None/undefined -> null; objects as their str). */
static json_t *kj_to_json(kj_val v)
{
    switch (v.t) {
    case KJ_NONE:
    case KJ_UNDEF: return json_null();
    case KJ_BOOL: return json_boolean(v.u.b);
    case KJ_INT: return json_integer(v.u.i);
    case KJ_FLOAT: return json_real(v.u.f);
    case KJ_STR: return json_stringn(v.u.s->p, v.u.s->len);
    case KJ_LIST: {
        json_t *a = json_array();
        for (size_t i = 0; i < v.u.l->len; i++)
            json_array_append_new(a, kj_to_json(v.u.l->items[i]));
        return a;
    }
    case KJ_DICT: {
        json_t *o = json_object();
        for (size_t i = 0; i < v.u.d->len; i++) {
            kiln_buf k;
            kiln_buf_init(&k, 0);
            if (!kj_str_append(NULL, v.u.d->keys[i], &k, NULL))
                json_object_setn_new(o, k.data ? k.data : "", k.len, kj_to_json(v.u.d->vals[i]));
            kiln_buf_free(&k);
        }
        return o;
    }
    default: return json_null();
    }
}

static const char *kind_name(km_kind k)
{
    static const char *const names[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
    return names[k];
}

static json_t *fqn_array(const char *fqn)
{
    json_t *a = json_array();
    const char *p = fqn;
    for (;;) {
        const char *d = strchr(p, '.');
        json_array_append_new(a, json_stringn(p, d ? (size_t)(d - p) : strlen(p)));
        if (!d)
            break;
        p = d + 1;
    }
    return a;
}

static json_t *columns_json(const km_node *n)
{
    json_t *o = json_object();
    for (size_t i = 0; n->columns.t == KJ_DICT && i < n->columns.u.d->len; i++) {
        kj_val c = n->columns.u.d->vals[i];
        kj_val *nm = kj_dict_getc(c, "name"), *ds = kj_dict_getc(c, "description");
        json_t *col = json_object();
        json_object_set_new(col, "name", nm ? kj_to_json(*nm) : json_string(""));
        json_object_set_new(col, "description", ds ? kj_to_json(*ds) : json_string(""));
        json_object_set_new(col, "meta", json_object());
        json_object_set_new(col, "data_type", json_null());
        json_object_set_new(col, "constraints", json_array());
        json_object_set_new(col, "quote", json_null());
        json_object_set_new(col, "tags", json_array());
        kiln_models__contract_column_json(c, col); /* dbt19 */
        json_object_set(o, nm && nm->t == KJ_STR ? nm->u.s->p : "", col);
        json_decref(col);
    }
    return o;
}

/* path relative to the resource's root folder ("models/a/b.sql" -> "a/b.sql") */
static const char *rel_path(const km_node *n)
{
    if (n->kind == KM_TEST && n->test_macro)
        return n->path;
    const char *s = strchr(n->path, '/');
    return s ? s + 1 : n->path;
}

/* dbt's FreshnessThreshold: {warn_after: {count, period}, error_after: ..., filter} */
static json_t *freshness_json(kj_val fr)
{
    if (fr.t != KJ_DICT)
        return json_null();
    json_t *o = json_object();
    static const char *const keys[] = {"warn_after", "error_after"};
    for (int i = 0; i < 2; i++) {
        kj_val *t = kj_dict_getc(fr, keys[i]);
        kj_val *c = t && t->t == KJ_DICT ? kj_dict_getc(*t, "count") : NULL;
        kj_val *pe = t && t->t == KJ_DICT ? kj_dict_getc(*t, "period") : NULL;
        json_t *cj = c ? kj_to_json(*c) : json_null();
        if (json_is_string(cj)) { /* count: '12' in YAML */
            json_t *x = json_integer(atoll(json_string_value(cj)));
            json_decref(cj);
            cj = x;
        }
        json_object_set_new(o, keys[i],
                            json_pack("{s:o,s:o}", "count", cj, "period", pe ? kj_to_json(*pe) : json_null()));
    }
    kj_val *f = kj_dict_getc(fr, "filter");
    json_object_set_new(o, "filter", f && f->t == KJ_STR ? kj_to_json(*f) : json_null());
    return o;
}

static json_t *node_json(const kiln_project *p, const km_node *n)
{
    json_t *o = json_object();
    char *schema = kiln_models__node_schema(p, n);
    char *rel = kiln_models__relation(p, n);
    json_object_set_new(o, "database", json_string(""));
    json_object_set_new(o, "schema", json_string(schema ? schema : ""));
    json_object_set_new(o, "name", json_string(n->name));
    json_object_set_new(o, "resource_type", json_string(kind_name(n->kind)));
    json_object_set_new(o, "package_name", json_string(p->name));
    json_object_set_new(o, "path", json_string(rel_path(n)));
    json_object_set_new(o, "original_file_path", json_string(n->path));
    json_object_set_new(o, "unique_id", json_string(n->unique_id));
    json_object_set_new(o, "fqn", fqn_array(n->fqn));
    json_object_set_new(o, "description", json_string(n->description ? n->description : ""));
    json_object_set_new(o, "columns", columns_json(n));
    json_object_set_new(o, "meta", json_object());
    if (n->kind == KM_SOURCE) {
        json_object_set_new(o, "source_name", json_string(n->source_name));
        json_object_set_new(o, "source_description", json_string(""));
        json_object_set_new(o, "loader", json_string(""));
        json_object_set_new(o, "identifier", json_string(n->identifier));
        json_object_set_new(o, "relation_name", json_string(rel ? rel : ""));
        json_object_set_new(o, "config", json_pack("{s:b}", "enabled", 1));
        json_object_set_new(o, "tags", json_array());
        kj_val fr = kiln_models__cfg(n, "freshness"), lf = kiln_models__cfg(n, "loaded_at_field");
        json_object_set_new(o, "loaded_at_field", lf.t == KJ_STR ? kj_to_json(lf) : json_null());
        json_object_set_new(o, "freshness", freshness_json(fr));
        kiln_free(schema);
        kiln_free(rel);
        return o;
    }
    json_object_set_new(o, "alias", json_string(kiln_models__cfg_str(n, "alias", n->name)));
    char hex[65] = "";
    if (n->kind == KM_TEST && n->test_macro)
        json_object_set_new(o, "checksum", json_pack("{s:s,s:s}", "name", "none", "checksum", ""));
    else {
        kiln_sha256_hex(n->raw ? n->raw : "", n->raw_len, hex);
        json_object_set_new(o, "checksum", json_pack("{s:s,s:s}", "name", "sha256", "checksum", hex));
    }
    json_t *cfg = kj_to_json(n->config);
    json_object_set_new(o, "config", cfg);
    json_t *tags = json_object_get(cfg, "tags");
    json_object_set_new(o, "tags", tags ? json_incref(tags) : json_array());
    json_t *deps = json_array(), *refs = json_array(), *srcs = json_array();
    for (size_t k = 0; k < n->parents.len; k++) {
        const km_node *par = p->nodes.items[n->parents.items[k]];
        if (par->kind == KM_TEST)
            continue; /* build-order edges, not dependencies */
        json_array_append_new(deps, json_string(par->unique_id));
        if (par->kind == KM_SOURCE)
            json_array_append_new(srcs, json_pack("[s,s]", par->source_name, par->name));
        else
            json_array_append_new(refs, json_pack("{s:s,s:n,s:n}", "name", par->name, "package", "version"));
    }
    if (n->kind == KM_SEED) { /* schema v12: a seed depends on macros only, and has no refs/sources/language */
        json_object_set_new(o, "depends_on", json_pack("{s:[]}", "macros"));
        json_decref(deps);
        json_decref(refs);
        json_decref(srcs);
    } else {
        json_object_set_new(o, "depends_on", json_pack("{s:[],s:o}", "macros", "nodes", deps));
        json_object_set_new(o, "refs", refs);
        json_object_set_new(o, "sources", srcs);
        json_object_set_new(o, "language", json_string("sql"));
    }
    if (n->kind != KM_SEED) {
        json_object_set_new(o, "raw_code", json_stringn(n->raw ? n->raw : "", n->raw ? n->raw_len : 0));
        json_object_set_new(o, "compiled", json_boolean(n->compiled_ok));
        json_object_set_new(o, "compiled_code", n->compiled ? json_string(n->compiled) : json_null());
        json_object_set_new(o, "extra_ctes", json_array());
    } else {
        json_object_set_new(o, "raw_code", json_string(""));
        json_object_set_new(o, "root_path", json_string(p->dir));
    }
    if (n->kind == KM_TEST) {
        json_object_set_new(o, "relation_name", json_null());
        if (n->test_macro) {
            kj_val *col = kj_dict_getc(n->test_kwargs, "column_name");
            json_t *kw = kj_to_json(n->test_kwargs);
            long att = kiln_models__find_id(p, n->attached);
            if (att >= 0) { /* dbt's kwargs hold model as a Jinja expression */
                char *m = kiln_sprintf("{{ get_where_subquery(ref('%s')) }}", p->nodes.items[att]->name);
                json_object_set_new(kw, "model", json_string(m ? m : ""));
                kiln_free(m);
            }
            json_object_set_new(
                o, "test_metadata",
                (strchr(n->test_macro, '.')
                     ? json_pack("{s:s,s:o,s:s%}", "name", strchr(n->test_macro, '.') + 1, "kwargs", kw, "namespace",
                                 n->test_macro, (size_t)(strchr(n->test_macro, '.') - n->test_macro))
                     : json_pack("{s:s,s:o,s:n}", "name", n->test_macro, "kwargs", kw, "namespace")));
            json_object_set_new(o, "column_name", col ? kj_to_json(*col) : json_null());
            json_object_set_new(o, "attached_node", json_string(n->attached));
            char *fk = att >= 0 ? kiln_sprintf("models.%s", p->nodes.items[att]->name) : NULL;
            json_object_set_new(o, "file_key_name", fk ? json_string(fk) : json_null());
            kiln_free(fk);
        }
    } else {
        json_object_set_new(o, "relation_name", json_string(rel ? rel : ""));
    }
    if (n->kind == KM_MODEL) { /* dbt19 */
        kiln_models__contract_json(n, o);
        kiln_models__versions_json(p, n, o);
    }
    kiln_free(schema);
    kiln_free(rel);
    return o;
}

static int write_json(const kiln_project *p, const char *file, json_t *doc, kiln_err *err)
{
    char *dir = kiln_sprintf("%s/%s", p->dir, p->target_path);
    char *path = kiln_sprintf("%s/%s/%s", p->dir, p->target_path, file);
    /* manifest.json compact as dbt writes it (indenting 10,000 nodes was a
     * tenth of `kiln compile`); the small artifacts indented */
    char *text = json_dumps(doc, (strcmp(file, "manifest.json") ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER);
    int rc;
    if (!dir || !path || !text)
        rc = KILN_OOM(err);
    else if (!(rc = kiln_mkdirs(dir, err)))
        rc = kiln_file_write_atomic(path, text, strlen(text), err);
    free(text);
    kiln_free(dir);
    kiln_free(path);
    return rc;
}

int kiln_models__write_manifest(const kiln_project *p, kiln_err *err)
{
    json_t *doc = kiln_models__manifest_json(p);
    int rc = doc ? write_json(p, "manifest.json", doc, err) : KILN_OOM(err);
    json_decref(doc);
    return rc;
}

json_t *kiln_models__manifest_json(const kiln_project *p)
{
    json_t *doc = json_object();
    json_t *meta = metadata(p, "https://schemas.getdbt.com/dbt/manifest/v12.json");
    char pid[65];
    kiln_sha256_hex(p->name, strlen(p->name), pid);
    pid[32] = 0;
    json_object_set_new(meta, "project_name", json_string(p->name));
    json_object_set_new(meta, "project_id", json_string(pid));
    json_object_set_new(meta, "user_id", json_null());
    json_object_set_new(meta, "send_anonymous_usage_stats", json_false());
    json_object_set_new(meta, "adapter_type", json_string("kiln"));
    json_object_set_new(doc, "metadata", meta);
    json_t *nodes = json_object(), *sources = json_object(), *parent_map = json_object(), *child_map = json_object();
    for (size_t i = 0; i < p->nodes.len; i++) {
        const km_node *n = p->nodes.items[i];
        json_object_set_new(n->kind == KM_SOURCE ? sources : nodes, n->unique_id, node_json(p, n));
        json_t *pa = json_array(), *ch = json_array();
        for (size_t k = 0; k < n->parents.len; k++)
            if (p->nodes.items[n->parents.items[k]]->kind != KM_TEST || n->kind == KM_TEST)
                json_array_append_new(pa, json_string(p->nodes.items[n->parents.items[k]]->unique_id));
        for (size_t k = 0; k < n->children.len; k++)
            json_array_append_new(ch, json_string(p->nodes.items[n->children.items[k]]->unique_id));
        json_object_set_new(parent_map, n->unique_id, pa);
        json_object_set_new(child_map, n->unique_id, ch);
    }
    json_object_set_new(doc, "nodes", nodes);
    json_object_set_new(doc, "sources", sources);
    json_t *macros = json_object();
    for (size_t i = 0; p->macros.t == KJ_LIST && i < p->macros.u.l->len; i++) {
        kj_val m = p->macros.u.l->items[i];
        const char *name = kj_dict_getc(m, "name")->u.s->p, *path = kj_dict_getc(m, "path")->u.s->p;
        char *id = kiln_sprintf("macro.%s.%s", p->name, name);
        if (!id)
            continue;
        json_object_set_new(macros, id,
                            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:{s:[]},s:s,s:{},s:{s:b,s:n},s:n,s:[],s:f,s:n}",
                                      "name", name, "resource_type", "macro", "package_name", p->name, "path", path,
                                      "original_file_path", path, "unique_id", id, "macro_sql",
                                      kj_to_json(*kj_dict_getc(m, "sql")), "depends_on", "macros", "description", "",
                                      "meta", "docs", "show", 1, "node_color", "patch_path", "arguments", "created_at",
                                      (double)p->started_micros / 1e6, "supported_languages"));
        kiln_free(id);
    }
    json_object_set_new(doc, "macros", macros);
    json_t *docs = json_object();
    for (size_t i = 0; p->docs.t == KJ_DICT && i < p->docs.u.d->len; i++) {
        kj_val k = p->docs.u.d->keys[i], v = p->docs.u.d->vals[i];
        char *id = kiln_sprintf("doc.%s.%s", p->name, k.u.s->p);
        if (!id)
            continue;
        json_object_set_new(docs, id,
                            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "name", k.u.s->p, "resource_type", "doc",
                                      "package_name", p->name, "path", "", "original_file_path", "", "unique_id", id,
                                      "block_contents", kj_to_json(v)));
        kiln_free(id);
    }
    json_object_set_new(doc, "docs", docs);
    static const char *const empty[] = {"exposures", "metrics", "groups", "selectors", "disabled", NULL};
    for (int i = 0; empty[i]; i++)
        json_object_set_new(doc, empty[i], json_object());
    json_object_set_new(doc, "parent_map", parent_map);
    json_object_set_new(doc, "child_map", child_map);
    json_object_set_new(doc, "group_map", json_object());
    json_object_set_new(doc, "saved_queries", json_object());
    json_object_set_new(doc, "semantic_models", json_object());
    json_object_set_new(doc, "unit_tests", kiln_models__ut_manifest(p)); /* dbt19 */
    json_object_set_new(doc, "groups", kiln_models__groups_json(p));
    return doc;
}

int kiln_models__write_run_results(const kiln_project *p, const char *verb, const km_result *res, size_t nres,
                                   double elapsed, kiln_err *err)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "metadata", metadata(p, "https://schemas.getdbt.com/dbt/run-results/v6.json"));
    json_t *results = json_array();
    for (size_t i = 0; i < nres; i++) {
        const km_result *r = &res[i];
        const km_node *n = p->nodes.items[r->node];
        char a[40], b[40], c[40];
        kiln_ts_format(r->started, a);
        kiln_ts_format(r->compiled, b);
        kiln_ts_format(r->finished, c);
        json_t *timing = r->started
                             ? json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "name", "compile", "started_at", a,
                                         "completed_at", b, "name", "execute", "started_at", b, "completed_at", c)
                             : json_array();
        char *rel = n->kind == KM_TEST ? NULL : kiln_models__relation(p, n);
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string(r->status));
        json_object_set_new(o, "timing", timing);
        json_object_set_new(o, "thread_id", json_string(r->thread[0] ? r->thread : "Thread-1"));
        json_object_set_new(o, "execution_time", json_real(r->seconds));
        json_object_set_new(o, "adapter_response",
                            r->started ? json_pack("{s:s}", "_message", r->message[0] ? "ERROR" : "OK")
                                       : json_object());
        json_object_set_new(o, "message", r->message[0] ? json_string(r->message) : json_null());
        json_object_set_new(o, "failures", n->kind == KM_TEST && r->started ? json_integer(r->failures) : json_null());
        json_object_set_new(o, "unique_id", json_string(n->unique_id));
        json_object_set_new(o, "compiled", json_boolean(n->compiled_ok));
        json_object_set_new(o, "compiled_code", n->compiled ? json_string(n->compiled) : json_null());
        json_object_set_new(o, "relation_name", rel ? json_string(rel) : json_null());
        kiln_free(rel);
        json_array_append_new(results, o);
    }
    json_object_set_new(doc, "results", results);
    json_object_set_new(doc, "elapsed_time", json_real(elapsed));
    json_object_set_new(doc, "args", json_pack("{s:s}", "which", verb));
    int rc = write_json(p, "run_results.json", doc, err);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------ catalog.json */

/* One relation as dbt's CatalogTable: its columns (name, Iceberg type,
 * 1-based index) from the table's current schema, and stats from its
 * current snapshot's summary. NULL when the relation is not in the
 * warehouse (dbt leaves such nodes out of the catalog too). */
static json_t *catalog_table(kiln_project *p, const km_node *n)
{
    if (!kiln_models__relation_exists(p, n)) /* also opens p->catalog */
        return NULL;
    char *rel = kiln_models__relation(p, n);
    char *schema = n->kind == KM_SOURCE ? kiln_strdup(n->schema) : kiln_models__node_schema(p, n);
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    json_t *o = NULL;
    if (!rel || !schema || kiln_lake_table_load(&t, p->catalog, rel, &e))
        goto done;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    const kiln_lake_schema *sc = kiln_lake_meta_current_schema(m);
    const char *ident = strchr(rel, '.') ? strchr(rel, '.') + 1 : rel;
    o = json_object();
    json_object_set_new(o, "metadata",
                        json_pack("{s:s,s:s,s:s,s:n,s:n,s:n}", "type", "table", "schema", schema, "name", ident,
                                  "database", "comment", "owner"));
    json_t *cols = json_object();
    for (size_t i = 0; sc && i < sc->nfields; i++) {
        char ty[256];
        kiln_lake_type_str(sc->fields[i].type, ty, sizeof ty);
        json_object_set_new(cols, sc->fields[i].name,
                            json_pack("{s:s,s:I,s:s,s:o}", "type", ty, "index", (json_int_t)(i + 1), "name",
                                      sc->fields[i].name, "comment",
                                      sc->fields[i].doc ? json_string(sc->fields[i].doc) : json_null()));
    }
    json_object_set_new(o, "columns", cols);
    json_t *stats = json_object();
    const kiln_lake_snapshot *snap = kiln_lake_meta_current_snapshot(m);
    const char *rows = snap ? kiln_lake_snapshot_summary(snap, "total-records") : NULL;
    const char *bytes = snap ? kiln_lake_snapshot_summary(snap, "total-files-size") : NULL;
    if (rows)
        json_object_set_new(stats, "num_rows",
                            json_pack("{s:s,s:s,s:I,s:b,s:s}", "id", "num_rows", "label", "# Rows", "value",
                                      (json_int_t)atoll(rows), "include", 1, "description",
                                      "Rows in the table's current Iceberg snapshot"));
    if (bytes)
        json_object_set_new(stats, "num_bytes",
                            json_pack("{s:s,s:s,s:I,s:b,s:s}", "id", "num_bytes", "label", "Approximate Size", "value",
                                      (json_int_t)atoll(bytes), "include", 1, "description",
                                      "Bytes of the data files of the current snapshot"));
    json_object_set_new(stats, "has_stats",
                        json_pack("{s:s,s:s,s:b,s:b,s:s}", "id", "has_stats", "label", "Has Stats?", "value",
                                  rows != NULL, "include", 0, "description",
                                  "Indicates whether there are statistics for "
                                  "this table"));
    json_object_set_new(o, "stats", stats);
    json_object_set_new(o, "unique_id", json_string(n->unique_id));
done:
    kiln_lake_table_free(t);
    kiln_free(rel);
    kiln_free(schema);
    return o;
}

json_t *kiln_models__catalog_json(kiln_project *p)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "metadata", metadata(p, "https://schemas.getdbt.com/dbt/catalog/v1.json"));
    json_t *nodes = json_object(), *sources = json_object();
    for (size_t i = 0; i < p->nodes.len; i++) {
        const km_node *n = p->nodes.items[i];
        if (n->kind == KM_TEST || n->kind == KM_ANALYSIS ||
            (n->kind == KM_MODEL && !strcmp(kiln_models__cfg_str(n, "materialized", ""), "ephemeral")))
            continue;
        json_t *t = catalog_table(p, n);
        if (t)
            json_object_set_new(n->kind == KM_SOURCE ? sources : nodes, n->unique_id, t);
    }
    json_object_set_new(doc, "nodes", nodes);
    json_object_set_new(doc, "sources", sources);
    json_object_set_new(doc, "errors", json_null());
    return doc;
}

int kiln_models__write_catalog(kiln_project *p, kiln_err *err)
{
    json_t *doc = kiln_models__catalog_json(p);
    int rc = doc ? write_json(p, "catalog.json", doc, err) : KILN_OOM(err);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------ sources.json */

int kiln_models__write_sources(const kiln_project *p, const km_fresh *res, size_t nres, double elapsed, kiln_err *err)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "metadata", metadata(p, "https://schemas.getdbt.com/dbt/sources/v3.json"));
    json_t *results = json_array();
    for (size_t i = 0; i < nres; i++) {
        const km_fresh *r = &res[i];
        const km_node *n = p->nodes.items[r->node];
        if (!strcmp(r->status, "runtime error")) {
            json_array_append_new(results, json_pack("{s:s,s:s,s:s}", "unique_id", n->unique_id, "error", r->message,
                                                     "status", "runtime error"));
            continue;
        }
        char a[40], b[40], c[40], ml[40];
        kiln_ts_format(r->started, a);
        kiln_ts_format(r->compiled, b);
        kiln_ts_format(r->finished, c);
        kiln_ts_format(r->max_loaded_at, ml);
        json_t *o = json_object();
        json_object_set_new(o, "unique_id", json_string(n->unique_id));
        json_object_set_new(o, "max_loaded_at", json_string(ml));
        json_object_set_new(o, "snapshotted_at", json_string(c));
        json_object_set_new(o, "max_loaded_at_time_ago_in_s", json_real(r->age_seconds));
        json_object_set_new(o, "status", json_string(r->status));
        json_object_set_new(o, "criteria", freshness_json(kiln_models__cfg(n, "freshness")));
        json_object_set_new(o, "adapter_response", json_pack("{s:s}", "_message", "OK"));
        json_object_set_new(o, "timing",
                            json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "name", "compile", "started_at", a,
                                      "completed_at", b, "name", "execute", "started_at", b, "completed_at", c));
        json_object_set_new(o, "thread_id", json_string("Thread-1"));
        json_object_set_new(o, "execution_time", json_real(r->seconds));
        json_array_append_new(results, o);
    }
    json_object_set_new(doc, "results", results);
    json_object_set_new(doc, "elapsed_time", json_real(elapsed));
    int rc = write_json(p, "sources.json", doc, err);
    json_decref(doc);
    return rc;
}

json_t *kiln_models__node_json(const kiln_project *p, const km_node *n) { return node_json(p, n); }
