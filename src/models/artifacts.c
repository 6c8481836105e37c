/*
 * artifacts.c - dbt's JSON artifacts in <target-path>/: manifest.json
 * (schema v12's top-level keys and the node fields tools read) and
 * run_results.json (v6); the manifest streamed with the base JSON string
 * writer, the small artifacts built with jansson. Field names follow dbt's
 * published schemas (schemas.getdbt.com); docs/models.md lists what is
 * left out.
 */
#include "models/project.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lake/lake.h"
#include "sql/sql.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
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
json_t *kiln_models__kj_json(kj_val v)
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
            json_array_append_new(a, kiln_models__kj_json(v.u.l->items[i]));
        return a;
    }
    case KJ_DICT: {
        json_t *o = json_object();
        for (size_t i = 0; i < v.u.d->len; i++) {
            kiln_buf k;
            kiln_buf_init(&k, 0);
            if (!kj_str_append(NULL, v.u.d->keys[i], &k, NULL))
                json_object_setn_new(o, k.data ? k.data : "", k.len, kiln_models__kj_json(v.u.d->vals[i]));
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
        json_t *cj = c ? kiln_models__kj_json(*c) : json_null();
        if (json_is_string(cj)) { /* count: '12' in YAML */
            json_t *x = json_integer(atoll(json_string_value(cj)));
            json_decref(cj);
            cj = x;
        }
        json_object_set_new(
            o, keys[i], json_pack("{s:o,s:o}", "count", cj, "period", pe ? kiln_models__kj_json(*pe) : json_null()));
    }
    kj_val *f = kj_dict_getc(fr, "filter");
    json_object_set_new(o, "filter", f && f->t == KJ_STR ? kiln_models__kj_json(*f) : json_null());
    return o;
}

/* ------------------------------------------------ manifest.json, streamed
 * The manifest is written straight into one buffer with the base JSON
 * string writer (building a jansson tree of 30,000 nodes and dumping it
 * was half of `kiln compile`). kiln_models__manifest_json and
 * kiln_models__node_json parse this same text, so the file, the docs site
 * and state:modified see one definition of every field. */
/* text of the previous manifest.json a node reuses (partial parsing):
 * written from where it is, after the buffer's first `at` bytes */
typedef struct mw_span {
    size_t at;
    const char *p;
    size_t n;
} mw_span;
typedef KILN_VEC(mw_span) mw_spans;

typedef struct mw {
    kiln_buf *b;
    kiln_err *err;
    int rc;
    int comma;       /* a value was written at this level: the next one needs ',' */
    mw_spans *spans; /* NULL: a reused node's text is copied into b */
    size_t span_bytes;
} mw;

static void mw_raw(mw *w, const char *s, size_t n)
{
    if (!w->rc)
        w->rc = kiln_buf_append(w->b, s, n, w->err);
}

static void mw_pre(mw *w)
{
    if (w->comma)
        mw_raw(w, ",", 1);
    w->comma = 0;
}

static void mw_open(mw *w, char c)
{
    mw_pre(w);
    mw_raw(w, &c, 1);
}

static void mw_close(mw *w, char c)
{
    mw_raw(w, &c, 1);
    w->comma = 1;
}

/* a literal value: null, true, {}, [] ... */
static void mw_lit(mw *w, const char *s)
{
    mw_pre(w);
    mw_raw(w, s, strlen(s));
    w->comma = 1;
}

static void mw_strn(mw *w, const char *s, size_t n)
{
    mw_pre(w);
    if (!w->rc)
        w->rc = kiln_json_write_str(w->b, s, n, w->err);
    w->comma = 1;
}

static void mw_str(mw *w, const char *s) /* NULL -> null */
{
    if (s)
        mw_strn(w, s, strlen(s));
    else
        mw_lit(w, "null");
}

static void mw_key(mw *w, const char *k)
{
    mw_strn(w, k, strlen(k));
    mw_raw(w, ":", 1);
    w->comma = 0;
}

static void mw_real(mw *w, double d)
{
    char t[40];
    if (!isfinite(d)) {
        mw_lit(w, "null");
        return;
    }
    int n = snprintf(t, sizeof t - 2, "%.17g", d); /* jansson's form: a fraction or exponent always */
    if (!strpbrk(t, ".eE"))
        memcpy(t + n, ".0", 3);
    mw_lit(w, t);
}

/* a jansson value (the small ones other artifacts share) */
static void mw_json(mw *w, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    if (!s && !w->rc)
        w->rc = KILN_OOM(w->err);
    else if (s)
        mw_lit(w, s);
    free(s);
    json_decref(j);
}

/* Jinja value -> JSON, as kj_to_json */
static void mw_kj(mw *w, kj_val v)
{
    char t[32];
    switch (v.t) {
    case KJ_BOOL: mw_lit(w, v.u.b ? "true" : "false"); return;
    case KJ_INT:
        snprintf(t, sizeof t, "%lld", (long long)v.u.i);
        mw_lit(w, t);
        return;
    case KJ_FLOAT: mw_real(w, v.u.f); return;
    case KJ_STR: mw_strn(w, v.u.s->p, v.u.s->len); return;
    case KJ_LIST:
        mw_open(w, '[');
        for (size_t i = 0; i < v.u.l->len; i++)
            mw_kj(w, v.u.l->items[i]);
        mw_close(w, ']');
        return;
    case KJ_DICT:
        mw_open(w, '{');
        for (size_t i = 0; i < v.u.d->len; i++) {
            kj_val k = v.u.d->keys[i];
            if (k.t == KJ_STR)
                mw_strn(w, k.u.s->p, k.u.s->len);
            else {
                kiln_buf kb;
                kiln_buf_init(&kb, 0);
                if (!kj_str_append(NULL, k, &kb, NULL))
                    mw_strn(w, kb.data ? kb.data : "", kb.len);
                else if (!w->rc)
                    w->rc = KILN_OOM(w->err);
                kiln_buf_free(&kb);
            }
            mw_raw(w, ":", 1);
            w->comma = 0;
            mw_kj(w, v.u.d->vals[i]);
        }
        mw_close(w, '}');
        return;
    default: mw_lit(w, "null"); return;
    }
}

static void mw_kstr(mw *w, const char *k, const char *v)
{
    mw_key(w, k);
    mw_str(w, v);
}

static void mw_klit(mw *w, const char *k, const char *v)
{
    mw_key(w, k);
    mw_lit(w, v);
}

static void mw_fqn(mw *w, const char *fqn)
{
    mw_open(w, '[');
    for (const char *p = fqn;;) {
        const char *d = strchr(p, '.');
        mw_strn(w, p, d ? (size_t)(d - p) : strlen(p));
        if (!d)
            break;
        p = d + 1;
    }
    mw_close(w, ']');
}

static void mw_columns(mw *w, const km_node *n)
{
    mw_open(w, '{');
    for (size_t i = 0; n->columns.t == KJ_DICT && i < n->columns.u.d->len; i++) {
        kj_val c = n->columns.u.d->vals[i];
        kj_val *nm = kj_dict_getc(c, "name"), *ds = kj_dict_getc(c, "description");
        mw_key(w, nm && nm->t == KJ_STR ? nm->u.s->p : "");
        mw_open(w, '{');
        mw_key(w, "name");
        nm ? mw_kj(w, *nm) : mw_str(w, "");
        mw_key(w, "description");
        ds ? mw_kj(w, *ds) : mw_str(w, "");
        mw_klit(w, "meta", "{}");
        json_t *cc = json_object(); /* the contract's data_type and constraints */
        kiln_models__contract_column_json(c, cc);
        json_t *dt = json_object_get(cc, "data_type"), *cs = json_object_get(cc, "constraints");
        mw_key(w, "data_type");
        dt ? mw_json(w, json_incref(dt)) : mw_lit(w, "null");
        mw_key(w, "constraints");
        cs ? mw_json(w, json_incref(cs)) : mw_lit(w, "[]");
        json_decref(cc);
        mw_klit(w, "quote", "null");
        mw_klit(w, "tags", "[]");
        mw_close(w, '}');
    }
    mw_close(w, '}');
}

static void mw_node(mw *w, const kiln_project *p, const km_node *n)
{
    if (n->pp_frag) { /* from the partial-parse cache: the previous manifest's text */
        mw_pre(w);
        if (!w->spans)
            mw_raw(w, n->pp_frag, n->pp_frag_len);
        else if (!w->rc) {
            w->rc = kiln_vec_push(w->spans, ((mw_span){w->b->len, n->pp_frag, n->pp_frag_len}), w->err);
            w->span_bytes += n->pp_frag_len;
        }
        w->comma = 1;
        return;
    }
    char *schema = kiln_models__node_schema(p, n);
    char *rel = kiln_models__relation(p, n);
    mw_open(w, '{');
    mw_kstr(w, "database", "");
    mw_kstr(w, "schema", schema ? schema : "");
    mw_kstr(w, "name", n->name);
    mw_kstr(w, "resource_type", kind_name(n->kind));
    mw_kstr(w, "package_name", n->package ? n->package : p->name);
    mw_kstr(w, "path", rel_path(n));
    mw_kstr(w, "original_file_path", n->path);
    mw_kstr(w, "unique_id", n->unique_id);
    mw_key(w, "fqn");
    mw_fqn(w, n->fqn);
    mw_kstr(w, "description", n->description ? n->description : "");
    mw_key(w, "columns");
    mw_columns(w, n);
    mw_klit(w, "meta", "{}");
    if (n->kind == KM_SOURCE) {
        mw_kstr(w, "source_name", n->source_name);
        mw_kstr(w, "source_description", "");
        mw_kstr(w, "loader", "");
        mw_kstr(w, "identifier", n->identifier);
        mw_kstr(w, "relation_name", rel ? rel : "");
        mw_klit(w, "config", "{\"enabled\":true}");
        mw_klit(w, "tags", "[]");
        kj_val fr = kiln_models__cfg(n, "freshness"), lf = kiln_models__cfg(n, "loaded_at_field");
        mw_key(w, "loaded_at_field");
        lf.t == KJ_STR ? mw_kj(w, lf) : mw_lit(w, "null");
        mw_key(w, "freshness");
        mw_json(w, freshness_json(fr));
        mw_close(w, '}');
        kiln_free(schema);
        kiln_free(rel);
        return;
    }
    mw_kstr(w, "alias", kiln_models__cfg_str(n, "alias", n->name));
    char hex[65] = "";
    mw_key(w, "checksum");
    if (n->kind == KM_TEST && n->test_macro)
        mw_lit(w, "{\"name\":\"none\",\"checksum\":\"\"}");
    else {
        kiln_sha256_hex(n->raw ? n->raw : "", n->raw_len, hex);
        mw_open(w, '{');
        mw_kstr(w, "name", "sha256");
        mw_kstr(w, "checksum", hex);
        mw_close(w, '}');
    }
    mw_key(w, "config");
    mw_kj(w, n->config);
    kj_val *tags = n->config.t == KJ_DICT ? kj_dict_getc(n->config, "tags") : NULL;
    mw_key(w, "tags");
    tags ? mw_kj(w, *tags) : mw_lit(w, "[]");
    if (n->kind == KM_SEED) /* schema v12: a seed depends on macros only, and has no refs/sources/language */
        mw_klit(w, "depends_on", "{\"macros\":[]}");
    else {
        mw_key(w, "depends_on");
        mw_open(w, '{');
        mw_klit(w, "macros", "[]");
        mw_key(w, "nodes");
        mw_open(w, '[');
        for (size_t k = 0; k < n->parents.len; k++) {
            const km_node *par = p->nodes.items[n->parents.items[k]];
            if (par->kind != KM_TEST) /* build-order edges, not dependencies */
                mw_str(w, par->unique_id);
        }
        mw_close(w, ']');
        mw_close(w, '}');
        mw_key(w, "refs");
        mw_open(w, '[');
        for (size_t k = 0; k < n->parents.len; k++) {
            const km_node *par = p->nodes.items[n->parents.items[k]];
            if (par->kind != KM_TEST && par->kind != KM_SOURCE) {
                mw_open(w, '{');
                mw_kstr(w, "name", par->name);
                mw_kstr(w, "package", par->package); /* NULL (the root project) -> null */
                mw_klit(w, "version", "null");
                mw_close(w, '}');
            }
        }
        mw_close(w, ']');
        mw_key(w, "sources");
        mw_open(w, '[');
        for (size_t k = 0; k < n->parents.len; k++) {
            const km_node *par = p->nodes.items[n->parents.items[k]];
            if (par->kind == KM_SOURCE) {
                mw_open(w, '[');
                mw_str(w, par->source_name);
                mw_str(w, par->name);
                mw_close(w, ']');
            }
        }
        mw_close(w, ']');
        mw_kstr(w, "language", "sql");
    }
    if (n->kind != KM_SEED) {
        mw_key(w, "raw_code");
        mw_strn(w, n->raw ? n->raw : "", n->raw ? n->raw_len : 0);
        mw_klit(w, "compiled", n->compiled_ok ? "true" : "false");
        mw_kstr(w, "compiled_code", n->compiled);
        mw_klit(w, "extra_ctes", "[]");
    } else {
        mw_kstr(w, "raw_code", "");
        mw_kstr(w, "root_path", p->dir);
    }
    if (n->kind == KM_TEST) {
        mw_klit(w, "relation_name", "null");
        if (n->test_macro) {
            kj_val *col = kj_dict_getc(n->test_kwargs, "column_name");
            long att = kiln_models__find_id(p, n->attached);
            const char *dot = strchr(n->test_macro, '.');
            mw_key(w, "test_metadata");
            mw_open(w, '{');
            mw_kstr(w, "name", dot ? dot + 1 : n->test_macro);
            mw_key(w, "kwargs");
            mw_open(w, '{');
            for (size_t i = 0; n->test_kwargs.t == KJ_DICT && i < n->test_kwargs.u.d->len; i++) {
                kj_val k = n->test_kwargs.u.d->keys[i];
                if (att >= 0 && k.t == KJ_STR && !strcmp(k.u.s->p, "model"))
                    continue; /* written below */
                if (k.t != KJ_STR)
                    continue;
                mw_key(w, k.u.s->p);
                mw_kj(w, n->test_kwargs.u.d->vals[i]);
            }
            if (att >= 0) { /* dbt's kwargs hold model as a Jinja expression */
                char *m = kiln_sprintf("{{ get_where_subquery(ref('%s')) }}", p->nodes.items[att]->name);
                mw_kstr(w, "model", m ? m : "");
                kiln_free(m);
            }
            mw_close(w, '}');
            mw_key(w, "namespace");
            if (dot)
                mw_strn(w, n->test_macro, (size_t)(dot - n->test_macro));
            else
                mw_lit(w, "null");
            mw_close(w, '}');
            mw_key(w, "column_name");
            col ? mw_kj(w, *col) : mw_lit(w, "null");
            mw_kstr(w, "attached_node", n->attached);
            char *fk = att >= 0 ? kiln_sprintf("models.%s", p->nodes.items[att]->name) : NULL;
            mw_kstr(w, "file_key_name", fk);
            kiln_free(fk);
        }
    } else {
        mw_kstr(w, "relation_name", rel ? rel : "");
    }
    if (n->kind == KM_MODEL) { /* contract, constraints, access, group, version */
        json_t *o = json_object();
        kiln_models__contract_json(n, o);
        kiln_models__versions_json(p, n, o);
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v)
        {
            mw_key(w, k);
            mw_json(w, json_incref(v));
        }
        json_decref(o);
    }
    mw_close(w, '}');
    kiln_free(schema);
    kiln_free(rel);
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

/* the "nodes" entries of nodes [from, to) (sources excluded) */
typedef struct {
    const kiln_project *p;
    size_t from, to;
    kiln_buf b;
    kiln_err err;
    int rc;
} mw_part;

static void mw_nodes(mw *w, const kiln_project *p, size_t from, size_t to)
{
    for (size_t i = from; i < to && !w->rc; i++) {
        const km_node *n = p->nodes.items[i];
        if (n->kind != KM_SOURCE) {
            mw_key(w, n->unique_id);
            size_t at = w->b->len + w->span_bytes;
            mw_node(w, p, n);
            if (p->pp_off && i < p->pp_off_n) { /* where the node's text is (relative to this buffer) */
                p->pp_off[2 * i] = at;
                p->pp_off[2 * i + 1] = w->b->len + w->span_bytes;
            }
        }
    }
}

static void *mw_part_run(void *arg)
{
    mw_part *t = arg;
    mw w = {&t->b, &t->err, 0, 0, NULL, 0};
    w.rc = kiln_buf_reserve(&t->b, (t->to - t->from) * 1536, &t->err);
    mw_nodes(&w, t->p, t->from, t->to);
    t->rc = w.rc;
    return NULL;
}

/* The nodes on two threads: the second half into its own buffer, appended
 * after the first (mw_node only reads the project: it renders nothing). */
static void mw_nodes_2(mw *w, const kiln_project *p)
{
    size_t n = p->nodes.len, mid = n / 2;
    if (n < 256 || w->spans) { /* not worth a thread (or most nodes are reused text) */
        mw_nodes(w, p, 0, n);
        return;
    }
    mw_part t = {p, mid, n, {0}, {0}, 0};
    kiln_buf_init(&t.b, 0);
    pthread_t th;
    int threaded = pthread_create(&th, NULL, mw_part_run, &t) == 0;
    mw_nodes(w, p, 0, mid);
    if (threaded)
        pthread_join(th, NULL);
    else
        mw_part_run(&t);
    if (!w->rc && t.rc) {
        w->rc = t.rc;
        *w->err = t.err;
    }
    if (!w->rc && t.b.len) {
        if (w->comma)
            mw_raw(w, ",", 1);
        for (size_t i = mid; p->pp_off && i < n && i < p->pp_off_n;
             i++) { /* the second half's offsets: after the first's text */
            p->pp_off[2 * i] += w->b->len;
            p->pp_off[2 * i + 1] += w->b->len;
        }
        mw_raw(w, t.b.data, t.b.len);
        w->comma = 1;
    }
    kiln_buf_free(&t.b);
}

/* One run_results.json entry in dbt's shape (status, timing of compile and
 * execute, thread, adapter response, message, failures, unique_id, the
 * compiled code and relation), for nodes and unit tests alike; takes
 * failures. */
json_t *kiln_models__result_json(const km_result *r, int error, const char *message, json_t *failures,
                                 const char *unique_id, int compiled, const char *code, const char *relation)
{
    char a[40], b[40], c[40];
    kiln_ts_format(r->started, a);
    kiln_ts_format(r->compiled, b);
    kiln_ts_format(r->finished, c);
    json_t *timing = r->started ? json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s}]", "name", "compile", "started_at", a,
                                            "completed_at", b, "name", "execute", "started_at", b, "completed_at", c)
                                : json_array();
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "timing", timing);
    json_object_set_new(o, "thread_id", json_string(r->thread[0] ? r->thread : "Thread-1"));
    json_object_set_new(o, "execution_time", json_real(r->seconds));
    json_object_set_new(o, "adapter_response",
                        r->started ? json_pack("{s:s}", "_message", error ? "ERROR" : "OK") : json_object());
    json_object_set_new(o, "message", message ? json_string(message) : json_null());
    json_object_set_new(o, "failures", failures);
    json_object_set_new(o, "unique_id", json_string(unique_id));
    json_object_set_new(o, "compiled", json_boolean(compiled));
    json_object_set_new(o, "compiled_code", code ? json_string(code) : json_null());
    json_object_set_new(o, "relation_name", relation ? json_string(relation) : json_null());
    return o;
}

/* manifest.json's text into out (compact, as dbt writes it) */
static int manifest_text(const kiln_project *p, kiln_buf *out, mw_spans *spans, kiln_err *err)
{
    mw w = {out, err, 0, 0, spans, 0};
    mw_open(&w, '{');
    mw_key(&w, "metadata");
    json_t *meta = metadata(p, "https://schemas.getdbt.com/dbt/manifest/v12.json");
    char pid[65];
    kiln_sha256_hex(p->name, strlen(p->name), pid);
    pid[32] = 0;
    json_object_set_new(meta, "project_name", json_string(p->name));
    json_object_set_new(meta, "project_id", json_string(pid));
    json_object_set_new(meta, "user_id", json_null());
    json_object_set_new(meta, "send_anonymous_usage_stats", json_false());
    json_object_set_new(meta, "adapter_type", json_string("kiln"));
    mw_json(&w, meta);
    for (int pass = 0; pass < 2; pass++) { /* "nodes", then "sources" */
        mw_key(&w, pass ? "sources" : "nodes");
        mw_open(&w, '{');
        if (!pass)
            mw_nodes_2(&w, p);
        for (size_t i = 0; pass && i < p->nodes.len && !w.rc; i++) {
            const km_node *n = p->nodes.items[i];
            if ((n->kind == KM_SOURCE) == pass) {
                mw_key(&w, n->unique_id);
                size_t at = w.b->len + w.span_bytes;
                mw_node(&w, p, n);
                if (p->pp_off && i < p->pp_off_n) {
                    p->pp_off[2 * i] = at;
                    p->pp_off[2 * i + 1] = w.b->len + w.span_bytes;
                }
            }
        }
        mw_close(&w, '}');
    }
    mw_key(&w, "macros");
    mw_open(&w, '{');
    for (size_t i = 0; p->macros.t == KJ_LIST && i < p->macros.u.l->len && !w.rc; i++) {
        kj_val m = p->macros.u.l->items[i];
        const char *name = kj_dict_getc(m, "name")->u.s->p, *path = kj_dict_getc(m, "path")->u.s->p;
        char *id = kiln_sprintf("macro.%s.%s", p->name, name);
        if (!id) {
            w.rc = KILN_OOM(err);
            break;
        }
        mw_key(&w, id);
        mw_open(&w, '{');
        mw_kstr(&w, "name", name);
        mw_kstr(&w, "resource_type", "macro");
        mw_kstr(&w, "package_name", p->name);
        mw_kstr(&w, "path", path);
        mw_kstr(&w, "original_file_path", path);
        mw_kstr(&w, "unique_id", id);
        mw_key(&w, "macro_sql");
        mw_kj(&w, *kj_dict_getc(m, "sql"));
        mw_klit(&w, "depends_on", "{\"macros\":[]}");
        mw_kstr(&w, "description", "");
        mw_klit(&w, "meta", "{}");
        mw_klit(&w, "docs", "{\"show\":true,\"node_color\":null}");
        mw_klit(&w, "patch_path", "null");
        mw_klit(&w, "arguments", "[]");
        mw_key(&w, "created_at");
        mw_real(&w, (double)p->started_micros / 1e6);
        mw_klit(&w, "supported_languages", "null");
        mw_close(&w, '}');
        kiln_free(id);
    }
    mw_close(&w, '}');
    mw_key(&w, "docs");
    mw_open(&w, '{');
    for (size_t i = 0; p->docs.t == KJ_DICT && i < p->docs.u.d->len && !w.rc; i++) {
        kj_val k = p->docs.u.d->keys[i], v = p->docs.u.d->vals[i];
        char *id = kiln_sprintf("doc.%s.%s", p->name, k.u.s->p);
        if (!id) {
            w.rc = KILN_OOM(err);
            break;
        }
        mw_key(&w, id);
        mw_open(&w, '{');
        mw_kstr(&w, "name", k.u.s->p);
        mw_kstr(&w, "resource_type", "doc");
        mw_kstr(&w, "package_name", p->name);
        mw_kstr(&w, "path", "");
        mw_kstr(&w, "original_file_path", "");
        mw_kstr(&w, "unique_id", id);
        mw_key(&w, "block_contents");
        mw_kj(&w, v);
        mw_close(&w, '}');
        kiln_free(id);
    }
    mw_close(&w, '}');
    static const char *const empty[] = {"exposures", "metrics", "selectors", "disabled", NULL};
    for (int i = 0; empty[i]; i++)
        mw_klit(&w, empty[i], "{}");
    for (int pass = 0; pass < 2; pass++) { /* parent_map, child_map */
        mw_key(&w, pass ? "child_map" : "parent_map");
        mw_open(&w, '{');
        for (size_t i = 0; i < p->nodes.len && !w.rc; i++) {
            const km_node *n = p->nodes.items[i];
            mw_key(&w, n->unique_id);
            mw_open(&w, '[');
            if (!pass) {
                for (size_t k = 0; k < n->parents.len; k++)
                    if (p->nodes.items[n->parents.items[k]]->kind != KM_TEST || n->kind == KM_TEST)
                        mw_str(&w, p->nodes.items[n->parents.items[k]]->unique_id);
            } else {
                for (size_t k = 0; k < n->children.len; k++)
                    mw_str(&w, p->nodes.items[n->children.items[k]]->unique_id);
            }
            mw_close(&w, ']');
        }
        mw_close(&w, '}');
    }
    mw_klit(&w, "group_map", "{}");
    mw_klit(&w, "saved_queries", "{}");
    mw_klit(&w, "semantic_models", "{}");
    mw_key(&w, "unit_tests");
    mw_json(&w, kiln_models__ut_manifest(p));
    mw_key(&w, "groups");
    mw_json(&w, kiln_models__groups_json(p));
    mw_close(&w, '}');
    return w.rc;
}

/* b's text with the spans' text at their places, written as
 * kiln_file_write_atomic writes (temp file, fsync, rename) */
static int write_spans(const char *path, const kiln_buf *b, const mw_spans *sp, kiln_err *err)
{
    char *tmp = kiln_sprintf("%s.tmp.%d", path, (int)getpid());
    if (!tmp)
        return KILN_OOM(err);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", tmp, strerror(errno));
        kiln_free(tmp);
        return rc;
    }
    struct iovec iov[512];
    int niov = 0;
    size_t at = 0, k = 0;
    while (!rc && (at < b->len || k < sp->len)) {
        size_t next = k < sp->len ? sp->items[k].at : b->len;
        if (next > at)
            iov[niov++] = (struct iovec){b->data + at, next - at};
        at = next;
        if (k < sp->len) {
            iov[niov++] = (struct iovec){(void *)sp->items[k].p, sp->items[k].n};
            k++;
        }
        if (niov >= 510 || (at >= b->len && k >= sp->len)) {
            for (int i = 0; i < niov && !rc;) { /* writev, resumed after a short write */
                ssize_t w = writev(fd, iov + i, niov - i);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    rc = kiln_err_set(err, KILN_EIO, "%s: write: %s", tmp, strerror(errno));
                    break;
                }
                while (i < niov && (size_t)w >= iov[i].iov_len)
                    w -= (ssize_t)iov[i++].iov_len;
                if (i < niov) {
                    iov[i].iov_base = (char *)iov[i].iov_base + w;
                    iov[i].iov_len -= (size_t)w;
                }
            }
            niov = 0;
        }
    }
    if (!rc && (fsync(fd) != 0 || close(fd) != 0))
        rc = kiln_err_set(err, KILN_EIO, "%s: fsync/close: %s", tmp, strerror(errno));
    else if (rc)
        close(fd);
    if (!rc && rename(tmp, path) != 0)
        rc = kiln_err_set(err, KILN_EIO, "rename %s -> %s: %s", tmp, path, strerror(errno));
    if (rc)
        unlink(tmp);
    kiln_free(tmp);
    return rc;
}

int kiln_models__write_manifest(const kiln_project *p, kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    char *dir = kiln_sprintf("%s/%s", p->dir, p->target_path);
    char *path = kiln_sprintf("%s/%s/manifest.json", p->dir, p->target_path);
    /* about 1.3 KiB a node: one allocation instead of a dozen doublings */
    mw_spans spans = {
        0}; /* a compile from the partial-parse cache: the reused nodes' text is written from where it is */
    int reuse = 0;
    for (size_t i = 0; !reuse && i < p->nodes.len; i++)
        reuse = p->nodes.items[i]->pp_frag != NULL;
    int rc = !dir || !path ? KILN_OOM(err) : kiln_buf_reserve(&b, 64 * 1024 + p->nodes.len * (reuse ? 160 : 1536), err);
    if (!rc)
        rc = manifest_text(p, &b, reuse ? &spans : NULL, err);
    if (!rc && !(rc = kiln_mkdirs(dir, err)))
        rc = spans.len ? write_spans(path, &b, &spans, err) : kiln_file_write_atomic(path, b.data, b.len, err);
    kiln_vec_free(&spans);
    kiln_buf_free(&b);
    kiln_free(dir);
    kiln_free(path);
    return rc;
}

json_t *kiln_models__manifest_json(const kiln_project *p)
{
    kiln_buf b;
    kiln_err err = {0};
    kiln_buf_init(&b, 0);
    json_t *doc = manifest_text(p, &b, NULL, &err) ? NULL : json_loadb(b.data, b.len, 0, NULL);
    kiln_buf_free(&b);
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
        if (r->is_unit) { /* a unit test's result */
            json_array_append_new(results, kiln_models__ut_result_json(p, r));
            continue;
        }
        const km_node *n = p->nodes.items[r->node];
        char *rel = n->kind == KM_TEST ? NULL : kiln_models__relation(p, n);
        json_t *o = kiln_models__result_json(r, r->message[0] != 0, r->message[0] ? r->message : NULL,
                                             n->kind == KM_TEST && r->started ? json_integer(r->failures) : json_null(),
                                             n->unique_id, n->compiled_ok, n->compiled, rel);
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
/* A view's catalog entry: type "view", its columns from the view's
 * current schema, no stats (a view holds no data). NULL when rel is no view. */
static json_t *catalog_view(kiln_project *p, const km_node *n, const char *rel, const char *schema)
{
    char ns[129], v[129], name[260];
    kiln_lake_view_def d;
    if (kiln_sql_relation_name(rel, ns, v))
        return NULL;
    snprintf(name, sizeof name, "%s.%s", ns, v);
    if (kiln_lake_view_def_load(p->catalog, name, "kiln", &d, &(kiln_err){0}))
        return NULL;
    json_t *o = json_object(), *cols = json_object();
    json_object_set_new(o, "metadata",
                        json_pack("{s:s,s:s,s:s,s:n,s:n,s:n}", "type", "view", "schema", schema, "name", v, "database",
                                  "comment", "owner"));
    for (int i = 0; i < d.ncols; i++)
        json_object_set_new(cols, d.cols[i],
                            json_pack("{s:s,s:I,s:s,s:n}", "type", d.types[i], "index", (json_int_t)(i + 1), "name",
                                      d.cols[i], "comment"));
    json_object_set_new(o, "columns", cols);
    json_object_set_new(o, "stats",
                        json_pack("{s:{s:s,s:s,s:b,s:b,s:s}}", "has_stats", "id", "has_stats", "label", "Has Stats?",
                                  "value", 0, "include", 0, "description",
                                  "Indicates whether there are statistics "
                                  "for this table"));
    json_object_set_new(o, "unique_id", json_string(n->unique_id));
    kiln_lake_view_def_free(&d);
    return o;
}

static json_t *catalog_table(kiln_project *p, const km_node *n)
{
    if (!kiln_models__relation_exists(p, n)) /* also opens p->catalog */
        return NULL;
    char *rel = kiln_models__relation(p, n);
    char *schema = n->kind == KM_SOURCE ? kiln_strdup(n->schema) : kiln_models__node_schema(p, n);
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    json_t *o = NULL;
    if (!rel || !schema)
        goto done;
    if (kiln_lake_table_load(&t, p->catalog, rel, &e)) {
        o = catalog_view(p, n, rel, schema); /* a view model */
        goto done;
    }
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

json_t *kiln_models__node_json(const kiln_project *p, const km_node *n)
{
    kiln_buf b;
    kiln_err err = {0};
    kiln_buf_init(&b, 0);
    mw w = {&b, &err, 0, 0, NULL, 0};
    mw_node(&w, p, n);
    json_t *o = w.rc ? NULL : json_loadb(b.data, b.len, 0, NULL);
    kiln_buf_free(&b);
    return o;
}

/* One node's manifest text (what manifest.json holds under its unique_id),
 * appended to out: the partial-parse cache checks a node it rebuilt with it. */
int kiln_models__node_text(const kiln_project *p, const km_node *n, kiln_buf *out, kiln_err *err)
{
    mw w = {out, err, 0, 0, NULL, 0};
    mw_node(&w, p, n);
    return w.rc;
}
