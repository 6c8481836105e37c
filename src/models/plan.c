/*
 * plan.c - `kiln plan` and `kiln promote`: SQLMesh-style plans over a dbt
 * project, with environments as Iceberg branches.
 *
 * What an environment holds is recorded in <warehouse>/.kiln/envs/ENV.json:
 * per model, fingerprints of its SQL rendered as a full refresh
 * (comments and whitespace removed, case folded outside quotes), of its
 * "rows part" (the SQL with the final select list replaced by *), of its
 * output-relevant config (tags, meta, docs... left out), the expression of
 * each output column, and the table's snapshot id. `kiln build` on main
 * records main ("main.json") for the models it built; `kiln plan --apply`
 * records the env; `kiln promote` copies the env's record to main.
 *
 * A plan compares the project with an env's record (an env without one
 * starts as main):
 *  - unchanged: same SQL fingerprint and config;
 *  - changed-non-breaking: the SQL differs only by new select items (rows
 *    part and every old column's expression the same), or only a config
 *    changed: rebuild the model only;
 *  - changed-breaking: the rows part, a column's expression, or a removed
 *    column changed: rebuild it and what reads the changed columns;
 *  - indirect-breaking: a model reading a changed column of a parent
 *    (column lineage, src/models/lineage.c), or naming it anywhere in its
 *    SQL (a filter or join: its rows may change), or reading a parent whose
 *    rows changed;
 *  - new: not in the record.
 * `--apply` builds the rebuild set: on Iceberg branch ENV of each table it
 * writes (every other table is read from main: nothing copied), with the
 * tests of those models; `kiln promote ENV` fast-forwards main to ENV on
 * every table the env wrote, after checking all of them can.
 */
#include "models/project.h"

#include "lake/lake.h"
#include "sql/sql.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int kiln_models__lineage_edges(kiln_project *p, void (*fn)(void *, long, const char *, long, const char *), void *ud,
                               kiln_err *err); /* lineage.c */

/* ------------------------------------------------------------ fingerprints */

/* SQL without comments, whitespace runs as one space, lower case outside quotes */
static int normalize(const char *s, kiln_buf *out, kiln_err *err)
{
    int rc = 0, space = 0;
    while (*s && !rc) {
        if (s[0] == '-' && s[1] == '-') {
            while (*s && *s != '\n')
                s++;
            space = 1;
            continue;
        }
        if (s[0] == '/' && s[1] == '*') {
            const char *e = strstr(s + 2, "*/");
            s = e ? e + 2 : s + strlen(s);
            space = 1;
            continue;
        }
        if (isspace((unsigned char)*s)) {
            space = 1;
            s++;
            continue;
        }
        if (space && out->len)
            rc = kiln_buf_append(out, " ", 1, err);
        space = 0;
        if (*s == '\'' || *s == '"' || *s == '`') {
            char q = *s;
            const char *b = s++;
            while (*s && !(*s == q && s[1] != q))
                s += *s == q ? 2 : 1;
            if (*s)
                s++;
            if (!rc)
                rc = kiln_buf_append(out, b, (size_t)(s - b), err);
            continue;
        }
        char c = (char)tolower((unsigned char)*s++);
        if (!rc)
            rc = kiln_buf_append(out, &c, 1, err);
    }
    if (!rc && !out->data)
        rc = kiln_buf_append(out, "", 0, err);
    return rc;
}

static int is_word(const char *s, size_t i, size_t len, const char *w)
{
    size_t n = strlen(w);
    if (i + n > len || memcmp(s + i, w, n))
        return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == '_'))
        return 0;
    return !(i + n < len && (isalnum((unsigned char)s[i + n]) || s[i + n] == '_'));
}

typedef struct shape {
    json_t *cols; /* output column -> expression */
    char rows[65];
    char sql[65];
} shape;

/* The final top-level SELECT's items (normalized SQL): each item's output
 * name and expression; rows = sha of the SQL with the items replaced by *.
 * When the statement has more than one top-level select (a union), cols
 * stays empty and rows is the whole SQL's. */
static int shape_of(const char *sql, shape *sh, kiln_err *err)
{
    size_t len = strlen(sql), sel = (size_t)-1, from = (size_t)-1;
    int depth = 0, nsel = 0;
    for (size_t i = 0; i < len; i++) {
        char c = sql[i];
        if (c == '\'' || c == '"' || c == '`') {
            char q = c;
            for (i++; i < len && sql[i] != q; i++)
                ;
            continue;
        }
        if (c == '(')
            depth++;
        else if (c == ')')
            depth--;
        else if (depth == 0 && is_word(sql, i, len, "select")) {
            nsel++;
            sel = i + 6;
            from = (size_t)-1;
        } else if (depth == 0 && sel != (size_t)-1 && from == (size_t)-1 && is_word(sql, i, len, "from"))
            from = i;
    }
    kiln_sha256_hex(sql, len, sh->sql);
    sh->cols = json_object();
    if (!sh->cols)
        return KILN_OOM(err);
    if (nsel != 1 || sel == (size_t)-1) {
        memcpy(sh->rows, sh->sql, sizeof sh->rows);
        return 0;
    }
    if (from == (size_t)-1)
        from = len;
    size_t a = sel;
    while (a < from && sql[a] == ' ')
        a++;
    if (is_word(sql, a, len, "distinct"))
        a += 8;
    /* rows part */
    kiln_buf rp;
    kiln_buf_init(&rp, 0);
    int rc = kiln_buf_append(&rp, sql, a, err);
    if (!rc)
        rc = kiln_buf_printf(&rp, err, " * %s", sql + from);
    if (!rc)
        kiln_sha256_hex(rp.data, rp.len, sh->rows);
    kiln_buf_free(&rp);
    /* items */
    depth = 0;
    size_t b = a;
    for (size_t i = a; i <= from && !rc; i++) {
        char c = i < from ? sql[i] : ',';
        if (c == '\'' || c == '"' || c == '`') {
            char q = c;
            for (i++; i < from && sql[i] != q; i++)
                ;
            continue;
        }
        if (c == '(')
            depth++;
        else if (c == ')')
            depth--;
        if (c != ',' || depth)
            continue;
        size_t s = b, e = i;
        while (s < e && sql[s] == ' ')
            s++;
        while (e > s && sql[e - 1] == ' ')
            e--;
        b = i + 1;
        if (s == e)
            continue;
        /* output name: after a last " as ", else the last identifier */
        size_t ns = e;
        while (ns > s && (isalnum((unsigned char)sql[ns - 1]) || sql[ns - 1] == '_' || sql[ns - 1] == '"'))
            ns--;
        char name[256];
        size_t nl = e - ns;
        if (!nl || nl >= sizeof name) {
            snprintf(name, sizeof name, "_col%zu", json_object_size(sh->cols));
        } else {
            memcpy(name, sql + ns, nl);
            name[nl] = 0;
            if (name[0] == '"') { /* "quoted" */
                memmove(name, name + 1, nl);
                if (nl >= 2)
                    name[nl - 2] = 0;
            }
        }
        size_t xe = e;
        if (ns >= s + 4 && !memcmp(sql + ns - 4, " as ", 4))
            xe = ns - 4;
        json_object_set_new(sh->cols, name, json_stringn(sql + s, xe - s));
    }
    return rc;
}

/* config keys that do not change a model's output */
static int cfg_ignored(const char *k)
{
    static const char *const ign[] = {
        "tags",   "meta",     "docs",      "persist_docs", "description", "grants",       "enabled",     "group",
        "access", "pre-hook", "post-hook", "pre_hook",     "post_hook",   "forward_only", "restatement", NULL};
    for (int i = 0; ign[i]; i++)
        if (!strcmp(k, ign[i]))
            return 1;
    return 0;
}

static int cfg_hash(const km_node *n, char out[65], kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = 0;
    for (size_t i = 0; n->config.t == KJ_DICT && i < n->config.u.d->len && !rc; i++) {
        kj_val k = n->config.u.d->keys[i];
        if (k.t != KJ_STR || cfg_ignored(k.u.s->p))
            continue;
        rc = kiln_buf_printf(&b, err, "%s=", k.u.s->p);
        if (!rc)
            rc = kj_repr_append(NULL, n->config.u.d->vals[i], &b, err);
        if (!rc)
            rc = kiln_buf_append(&b, ";", 1, err);
    }
    if (!rc)
        kiln_sha256_hex(b.data ? b.data : "", b.len, out);
    kiln_buf_free(&b);
    return rc;
}

static int u_false(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    (void)in, (void)ud, (void)self, (void)a;
    *out = kj_bool(0);
    return 0;
}

/* node idx's SQL as a full refresh, normalized */
static int node_sql(kiln_project *p, size_t idx, kiln_buf *out, kiln_err *err)
{
    km_node *n = p->nodes.items[idx];
    if (n->kind == KM_SEED)
        return normalize(n->raw ? n->raw : "", out, err);
    kj_val over = kj_dict_new();
    kj_val f = kj_func_new("is_incremental", u_false, NULL, kj_undef());
    int rc = kj_oom(over) || kj_oom(f) ? KILN_OOM(err) : kj_dict_setc(over, "is_incremental", f, err);
    kiln_buf raw;
    kiln_buf_init(&raw, 0);
    if (!rc)
        rc = kiln_models__render_node_over(p, idx, over, &raw, err);
    if (!rc)
        rc = normalize(raw.data ? raw.data : "", out, err);
    kiln_buf_free(&raw);
    kj_release(over);
    return rc;
}

/* ------------------------------------------------------------ env records */

static int valid_env(const char *e)
{
    if (!e || !*e || strlen(e) > 64)
        return 0;
    for (const char *q = e; *q; q++)
        if (!isalnum((unsigned char)*q) && *q != '_' && *q != '-')
            return 0;
    return 1;
}

static char *env_path(const kiln_project *p, const char *env)
{
    return kiln_sprintf("%s/.kiln/envs/%s.json", p->warehouse, env);
}

static json_t *env_load(const kiln_project *p, const char *env)
{
    char *path = env_path(p, env);
    json_t *j = path ? json_load_file(path, 0, NULL) : NULL;
    kiln_free(path);
    return j;
}

static int env_save(const kiln_project *p, const char *env, json_t *doc, kiln_err *err)
{
    char *dir = kiln_sprintf("%s/.kiln/envs", p->warehouse), *path = env_path(p, env);
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS);
    int rc = !dir || !path || !text ? KILN_OOM(err) : kiln_mkdirs(dir, err);
    if (!rc)
        rc = kiln_file_write_atomic(path, text, strlen(text), err);
    free(text);
    kiln_free(dir);
    kiln_free(path);
    return rc;
}

/* The records' lock (<warehouse>/.kiln/envs/.lock, flock): held around
 * every read-modify-write of a record, so two builds finishing at once
 * both keep their entries. Returns the fd to pass to env_unlock, or -1
 * with err set. */
static int env_lock(const kiln_project *p, kiln_err *err)
{
    char *dir = kiln_sprintf("%s/.kiln/envs", p->warehouse), *path = kiln_sprintf("%s/.kiln/envs/.lock", p->warehouse);
    int fd = -1;
    if (!dir || !path)
        KILN_OOM(err);
    else if (!kiln_mkdirs(dir, err)) {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
            kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        else if (flock(fd, LOCK_EX) != 0) {
            kiln_err_set(err, KILN_EIO, "%s: lock: %s", path, strerror(errno));
            close(fd);
            fd = -1;
        }
    }
    kiln_free(dir);
    kiln_free(path);
    return fd;
}

static void env_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

static int64_t snapshot_of(kiln_project *p, const km_node *n, const char *branch)
{
    if (!kiln_models__relation_exists(p, n)) /* opens the catalog */
        return -1;
    char *rel = kiln_models__relation(p, n);
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    int64_t id = -1;
    if (rel && !kiln_lake_table_load(&t, p->catalog, rel, &e)) {
        const kiln_lake_ref *r = kiln_lake_meta_ref(kiln_lake_table_meta(t), branch ? branch : "main");
        id = r ? r->snapshot_id : -1;
    }
    kiln_lake_table_free(t);
    kiln_free(rel);
    return id;
}

/* the record of node idx as it is now */
static json_t *node_record(kiln_project *p, size_t idx, const char *branch, kiln_err *err)
{
    kiln_buf sql;
    kiln_buf_init(&sql, 0);
    shape sh = {0};
    char cfg[65];
    km_node *n = p->nodes.items[idx];
    json_t *o = NULL;
    if (node_sql(p, idx, &sql, err) || shape_of(sql.data, &sh, err) || cfg_hash(n, cfg, err))
        goto done;
    char *rel = kiln_models__relation(p, n);
    o = json_pack("{s:s,s:s,s:s,s:o,s:I,s:s}", "sql", sh.sql, "rows", sh.rows, "config", cfg, "columns", sh.cols,
                  "snapshot", (json_int_t)snapshot_of(p, n, branch), "relation", rel ? rel : "");
    sh.cols = NULL;
    kj_val rs = kiln_models__cfg(n, "restatement");
    if (o && rs.t != KJ_UNDEF && rs.t != KJ_NONE) { /* the restatement this record has been through */
        kiln_buf t;
        kiln_buf_init(&t, 0);
        if (!kj_repr_append(NULL, rs, &t, err))
            json_object_set_new(o, "restatement", json_stringn(t.data ? t.data : "", t.len));
        kiln_buf_free(&t);
    }
    kiln_free(rel);
    if (!o)
        KILN_OOM(err);
done:
    json_decref(sh.cols);
    kiln_buf_free(&sql);
    return o;
}

static int plan_record_locked(kiln_project *p, const char *env, const unsigned char *status, unsigned char ok,
                              kiln_err *err);

static int recordable(const km_node *n)
{
    return n->kind == KM_SEED ||
           (n->kind == KM_MODEL && strcmp(kiln_models__cfg_str(n, "materialized", "view"), "ephemeral"));
}

int kiln_models__plan_record(kiln_project *p, const char *env, const unsigned char *status, unsigned char ok,
                             kiln_err *err)
{
    int lk = env_lock(p, err);
    if (lk < 0)
        return err->code;
    int rc = plan_record_locked(p, env, status, ok, err);
    env_unlock(lk);
    return rc;
}

static int plan_record_locked(kiln_project *p, const char *env, const unsigned char *status, unsigned char ok,
                              kiln_err *err)
{
    json_t *doc = env_load(p, env);
    if (!doc || !json_is_object(json_object_get(doc, "models"))) {
        json_decref(doc);
        doc = json_pack("{s:s,s:{}}", "env", env, "models");
        if (!doc)
            return KILN_OOM(err);
    }
    json_t *models = json_object_get(doc, "models");
    int rc = 0, any = 0;
    for (size_t i = 0; i < p->nodes.len && !rc; i++) {
        km_node *n = p->nodes.items[i];
        if (!recordable(n) || status[i] != ok)
            continue;
        json_t *r = node_record(p, i, NULL, err);
        if (!r) {
            rc = err->code ? err->code : KILN_OOM(err);
            break;
        }
        /* a build does not restate: the restatement the record has been
         * through stays (a plan's apply records the new one) */
        json_t *was = json_object_get(json_object_get(models, n->unique_id), "restatement");
        if (was)
            json_object_set(r, "restatement", was);
        else
            json_object_del(r, "restatement");
        json_object_set_new(models, n->unique_id, r);
        any = 1;
    }
    if (!rc && any)
        rc = env_save(p, env, doc, err);
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------ planning */

enum { C_UNCHANGED, C_NEW, C_NONBREAKING, C_BREAKING, C_INDIRECT, C_RESTATED };
static const char *const cname[] = {"unchanged",         "new",     "changed-non-breaking", "changed-breaking",
                                    "indirect-breaking", "restated"};

typedef struct pnode {
    int cls;
    json_t *changed; /* array of changed output columns ("*" = rows) */
    json_t *rec;     /* the node's record now */
    kiln_buf why;
} pnode;

typedef struct pctx {
    kiln_project *p;
    pnode *pn;
    json_t *edges; /* per model uid: [[out col, dep uid, dep col], ...] */
} pctx;

static void edge_cb(void *ud, long node, const char *col, long dep, const char *dcol)
{
    pctx *c = ud;
    if (dep < 0)
        return;
    const char *uid = c->p->nodes.items[node]->unique_id;
    json_t *a = json_object_get(c->edges, uid);
    if (!a) {
        a = json_array();
        json_object_set_new(c->edges, uid, a);
    }
    json_array_append_new(a, json_pack("[s,s,s]", col, c->p->nodes.items[dep]->unique_id, dcol));
}

static int has_str(json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (!strcmp(json_string_value(v), s)) return 1;
    return 0;
}
static void add_str(json_t *a, const char *s)
{
    if (!has_str(a, s))
        json_array_append_new(a, json_string(s));
}

/* word w appears in normalized text s */
static int mentions(const char *s, const char *w)
{
    size_t len = strlen(s), wl = strlen(w);
    for (const char *q = strstr(s, w); q; q = strstr(q + 1, w))
        if (is_word(s, (size_t)(q - s), len, w))
            return 1;
    (void)wl;
    return 0;
}

static int explain_add(pnode *n, kiln_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int explain_add(pnode *n, kiln_err *err, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return kiln_buf_printf(&n->why, err, "%s%s", n->why.len ? "; " : "", buf);
}

static char *joined_arr(json_t *a)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err e = {0};
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) kiln_buf_printf(&b, &e, "%s%s", i ? ", " : "", json_string_value(v));
    char *s = kiln_buf_detach(&b, NULL);
    return s ? s : kiln_strdup("");
}

typedef struct plan_res {
    kiln_project *p;
    km_idxvec order;
    pnode *pn;
    json_t *base; /* the env's record (models) */
    size_t nrebuild, nunchanged;
} plan_res;

static void plan_free(plan_res *r)
{
    for (size_t i = 0; r->pn && i < r->p->nodes.len; i++) {
        json_decref(r->pn[i].changed);
        json_decref(r->pn[i].rec);
        kiln_buf_free(&r->pn[i].why);
    }
    kiln_free(r->pn);
    json_decref(r->base);
    kiln_vec_free(&r->order);
    kiln_project_free(r->p);
}

static int make_plan(const kiln_models_opts *o, const char *env, plan_res *res, kiln_err *err)
{
    kiln_models_opts lo = *o;
    lo.full_refresh = 1; /* render as a full refresh: no {{ this }} filters */
    lo.branch = NULL;
    memset(res, 0, sizeof *res);
    km_idxvec all = {0};
    int rc = kiln_project_load(&res->p, &lo, err);
    kiln_project *p = res->p;
    if (rc || (rc = kiln_models__render_all(p, err)) || (rc = kiln_models__graph_build(p, err)) ||
        (rc = kiln_models__select(p, NULL, NULL, ~0u, &all, err)))
        goto done;
    for (size_t i = 0; i < all.len && !rc; i++)
        rc = kiln_models__inject_ctes(p, p->nodes.items[all.items[i]], err);
    if (rc || (rc = kiln_models__select(p, NULL, NULL, (1u << KM_MODEL) | (1u << KM_SEED), &res->order, err)))
        goto done;
    json_t *doc = env_load(p, env);
    if (!doc && strcmp(env, "main"))
        doc = env_load(p, "main"); /* a new env starts as main */
    res->base = doc ? json_incref(json_object_get(doc, "models")) : json_object();
    json_decref(doc);
    if (!res->base)
        res->base = json_object();
    res->pn = kiln_calloc(p->nodes.len + 1, sizeof *res->pn);
    pctx c = {p, res->pn, json_object()};
    if (!res->pn || !c.edges) {
        json_decref(c.edges);
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_models__lineage_edges(p, edge_cb, &c, err))) {
        json_decref(c.edges);
        goto done;
    }
    for (size_t k = 0; k < res->order.len && !rc; k++) {
        size_t i = res->order.items[k];
        km_node *n = p->nodes.items[i];
        pnode *x = &res->pn[i];
        if (!recordable(n))
            continue;
        x->changed = json_array();
        if (!(x->rec = node_record(p, i, NULL, err))) {
            rc = err->code ? err->code : KILN_OOM(err);
            break;
        }
        json_t *old = json_object_get(res->base, n->unique_id);
        if (!old) {
            x->cls = C_NEW;
            add_str(x->changed, "*");
            rc = explain_add(x, err, "not in environment '%s'", env);
        } else if (!strcmp(json_string_value(json_object_get(old, "sql")),
                           json_string_value(json_object_get(x->rec, "sql")))) {
            if (strcmp(json_string_value(json_object_get(old, "config")),
                       json_string_value(json_object_get(x->rec, "config")))) {
                x->cls = C_NONBREAKING;
                rc = explain_add(x, err, "its config changed (the SQL did not): rebuild it only");
            }
        } else if (n->kind == KM_SEED || strcmp(json_string_value(json_object_get(old, "rows")),
                                                json_string_value(json_object_get(x->rec, "rows")))) {
            x->cls = C_BREAKING;
            add_str(x->changed, "*");
            rc = explain_add(x, err, "%s",
                             n->kind == KM_SEED ? "the seed's rows changed"
                                                : "its rows change (FROM, JOIN, WHERE, GROUP BY, "
                                                  "HAVING, ORDER/LIMIT or a union differ)");
        } else {
            json_t *oc = json_object_get(old, "columns"), *nc = json_object_get(x->rec, "columns"), *v;
            const char *k2;
            json_t *added = json_array();
            json_object_foreach(oc, k2, v)
            {
                json_t *nv = json_object_get(nc, k2);
                if (!nv) {
                    add_str(x->changed, k2);
                    rc = rc ? rc : explain_add(x, err, "column %s removed", k2);
                } else if (strcmp(json_string_value(nv), json_string_value(v))) {
                    add_str(x->changed, k2);
                    rc = rc ? rc
                            : explain_add(x, err, "column %s: %s -> %s", k2, json_string_value(v),
                                          json_string_value(nv));
                }
            }
            json_object_foreach(nc, k2, v) if (!json_object_get(oc, k2)) add_str(added, k2);
            if (json_array_size(x->changed))
                x->cls = C_BREAKING;
            else {
                x->cls = C_NONBREAKING;
                char *s = joined_arr(added);
                rc = rc ? rc
                        : explain_add(x, err, "only adds column%s %s (nothing downstream reads them yet)",
                                      json_array_size(added) == 1 ? "" : "s", s ? s : "");
                kiln_free(s);
            }
            json_decref(added);
        }
        /* indirect: parents' changed columns this model reads */
        kiln_buf sql;
        kiln_buf_init(&sql, 0);
        if (!rc && n->kind == KM_MODEL)
            rc = node_sql(p, i, &sql, err);
        for (size_t q = 0; q < n->parents.len && !rc; q++) {
            size_t pi = n->parents.items[q];
            pnode *px = &res->pn[pi];
            if (!px->changed || !json_array_size(px->changed) || px->cls == C_NEW)
                continue;
            km_node *pnd = p->nodes.items[pi];
            int before = (int)json_array_size(x->changed);
            if (has_str(px->changed, "*")) {
                add_str(x->changed, "*");
                rc = explain_add(x, err, "reads the rows of %s, which change", pnd->name);
            } else {
                json_t *edges = json_object_get(c.edges, n->unique_id), *e;
                size_t ei;
                json_array_foreach(px->changed, ei, e)
                {
                    const char *pc = json_string_value(e);
                    int used = 0;
                    size_t j;
                    json_t *ed;
                    json_array_foreach(edges, j, ed)
                    {
                        if (!strcmp(json_string_value(json_array_get(ed, 1)), pnd->unique_id) &&
                            !strcasecmp(json_string_value(json_array_get(ed, 2)), pc)) {
                            const char *oc = json_string_value(json_array_get(ed, 0));
                            add_str(x->changed, oc);
                            used = 1;
                            rc = rc ? rc : explain_add(x, err, "%s <- %s.%s (changed)", oc, pnd->name, pc);
                        }
                    }
                    if (!used && sql.data && mentions(sql.data, pc)) {
                        add_str(x->changed, "*");
                        rc = rc ? rc
                                : explain_add(x, err,
                                              "names %s.%s (changed) outside its select list: its rows may "
                                              "change",
                                              pnd->name, pc);
                    }
                }
            }
            if ((int)json_array_size(x->changed) > before && x->cls == C_UNCHANGED)
                x->cls = C_INDIRECT;
            else if ((int)json_array_size(x->changed) > before && x->cls == C_NONBREAKING)
                x->cls = C_BREAKING;
        }
        kiln_buf_free(&sql);
        if (x->cls == C_UNCHANGED)
            res->nunchanged++;
        else
            res->nrebuild++;
    }
    json_decref(c.edges);
done:
    kiln_vec_free(&all);
    return rc;
}

static int g_forward_only; /* kiln plan --forward-only (one plan per process) */

static const char *rebuild_text(const km_node *n, int cls)
{
    int incr = !strcmp(kiln_models__cfg_str(n, "materialized", "view"), "incremental");
    kj_val fo = kiln_models__cfg(n, "forward_only");
    if (cls == C_UNCHANGED)
        return "-";
    if (cls == C_RESTATED && kiln_models__microbatch_is(n))
        return "restated: the batches between --start and --end";
    if (cls == C_RESTATED)
        return incr ? "restated: all intervals (full refresh)" : "restated: whole table";
    if (incr && ((fo.t != KJ_UNDEF && kj_truthy(fo)) || g_forward_only))
        return "forward-only: new intervals only, history kept";
    if (incr)
        return cls == C_NONBREAKING ? "incremental: new intervals" : "all intervals (full refresh)";
    return "whole table";
}

static void print_plan(plan_res *r, const char *env, int explain, FILE *out)
{
    kiln_project *p = r->p;
    fprintf(out, "Plan for environment '%s' (against %s): %zu to rebuild, %zu unchanged\n\n", env,
            r->base && json_object_size(r->base) ? "its record" : "nothing deployed yet", r->nrebuild, r->nunchanged);
    for (size_t k = 0; k < r->order.len; k++) {
        size_t i = r->order.items[k];
        km_node *n = p->nodes.items[i];
        pnode *x = &r->pn[i];
        if (!x->rec)
            continue;
        char *cols = x->changed && json_array_size(x->changed) ? joined_arr(x->changed) : NULL;
        fprintf(out, "%-22s %s", cname[x->cls], n->unique_id);
        if (cols && x->cls != C_NEW)
            fprintf(out, "  [columns: %s]", cols);
        if (x->cls != C_UNCHANGED)
            fprintf(out, "  rebuild: %s", rebuild_text(n, x->cls));
        fputc('\n', out);
        if (explain && x->why.len)
            fprintf(out, "    why: %s\n", x->why.data);
        kiln_free(cols);
    }
}

/* the selection of the rebuild set ("a b c") */
static char *rebuild_select(plan_res *r)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err e = {0};
    for (size_t k = 0; k < r->order.len; k++) {
        size_t i = r->order.items[k];
        if (r->pn[i].rec && r->pn[i].cls != C_UNCHANGED)
            kiln_buf_printf(&b, &e, "%s%s", b.len ? " " : "", r->p->nodes.items[i]->name);
    }
    return kiln_buf_detach(&b, NULL);
}

/* --restate-model: the named models and everything downstream of
 * them are rebuilt even when unchanged (SQLMesh's restatement) */
static int mark_restated(plan_res *r, const char *list, const char *label, kiln_err *err)
{
    kiln_project *p = r->p;
    char *copy = kiln_strdup(list), *save = NULL;
    if (!copy)
        return KILN_OOM(err);
    int rc = 0;
    unsigned char *mark = kiln_calloc(p->nodes.len + 1, 1);
    if (!mark)
        rc = KILN_OOM(err);
    for (char *t = strtok_r(copy, " ,", &save); t && !rc; t = strtok_r(NULL, " ,", &save)) {
        long idx = kiln_models__find_name(p, t);
        if (idx < 0 || p->nodes.items[idx]->kind != KM_MODEL || !r->pn[idx].rec)
            rc = kiln_err_set(err, KILN_ENOTFOUND, "--restate-model %s: no such model in the plan", t);
        else
            mark[idx] = 1;
    }
    for (size_t k = 0; k < r->order.len && !rc; k++) { /* build order: parents first */
        size_t i = r->order.items[k];
        km_node *n = p->nodes.items[i];
        for (size_t j = 0; j < n->parents.len && !mark[i]; j++)
            mark[i] = mark[n->parents.items[j]] && n->kind == KM_MODEL;
        pnode *x = &r->pn[i];
        if (mark[i] && x->rec && x->cls == C_UNCHANGED) {
            x->cls = C_RESTATED;
            r->nunchanged--;
            r->nrebuild++;
            kiln_buf_printf(&x->why, NULL, "%srestated (%s)", x->why.len ? "; " : "", label);
        }
    }
    kiln_free(mark);
    kiln_free(copy);
    return rc;
}

/* A model's `restatement: {start: T, end: T}` config (both optional):
 * when the environment's record of the model has not been through this
 * restatement (its text differs or is absent), the plan restates the model
 * and its downstream (as --restate-model); a microbatch model rebuilds the
 * batches between start and end, others their whole table. Once applied,
 * the record carries it and later plans do not restate again; editing it
 * (another interval) restates again. The intervals of every restatement in
 * one plan must be the same (the build takes one --event-time-start/end). */
static int config_restatements(plan_res *r, kiln_models_opts *o, kiln_err *err)
{
    kiln_project *p = r->p;
    kiln_buf names;
    kiln_buf_init(&names, 0);
    int rc = 0;
    const char *st = NULL, *en = NULL, *first = NULL;
    for (size_t k = 0; k < r->order.len && !rc; k++) {
        size_t i = r->order.items[k];
        km_node *n = p->nodes.items[i];
        kj_val rs = kiln_models__cfg(n, "restatement");
        if (!r->pn[i].rec || rs.t == KJ_UNDEF || rs.t == KJ_NONE)
            continue;
        if (rs.t != KJ_DICT) {
            rc = kiln_err_set(err, KILN_EINVAL, "%s: restatement must be a mapping {start: T, end: T}", n->unique_id);
            break;
        }
        const char *ks[2] = {NULL, NULL};
        for (size_t j = 0; j < rs.u.d->len && !rc; j++) {
            kj_val kk = rs.u.d->keys[j], vv = rs.u.d->vals[j];
            int which = kk.t == KJ_STR && !strcmp(kk.u.s->p, "start") ? 0
                        : kk.t == KJ_STR && !strcmp(kk.u.s->p, "end") ? 1
                                                                      : -1;
            if (which < 0 || vv.t != KJ_STR)
                rc = kiln_err_set(err, KILN_EINVAL,
                                  "%s: restatement takes start and end (times as text, e.g. '2025-01-01')",
                                  n->unique_id);
            else
                ks[which] = vv.u.s->p;
        }
        json_t *old = json_object_get(r->base, n->unique_id);
        const char *done = json_string_value(json_object_get(old, "restatement"));
        const char *now = json_string_value(json_object_get(r->pn[i].rec, "restatement"));
        if (rc || !old || (done && now && !strcmp(done, now)))
            continue; /* new (built whole anyway), or already restated in this env */
        if (first && ((ks[0] ? 1 : 0) != (st ? 1 : 0) || (ks[0] && strcmp(ks[0], st)) ||
                      (ks[1] ? 1 : 0) != (en ? 1 : 0) || (ks[1] && strcmp(ks[1], en)))) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "%s and %s declare restatements of different intervals: apply one, then the other", first,
                              n->unique_id);
            break;
        }
        first = n->unique_id;
        st = ks[0];
        en = ks[1];
        rc = kiln_buf_printf(&names, err, "%s%s", names.len ? " " : "", n->name);
    }
    if (!rc && names.len) {
        if ((st || en) && (o->event_time_start || o->event_time_end))
            rc = kiln_err_set(err, KILN_EINVAL, "a restatement in %s's config and --start/--end: give one of them",
                              first);
        else if (!(rc = mark_restated(r, names.data, "its config's restatement", err)) && (st || en)) {
            o->event_time_start = st;
            o->event_time_end = en;
        }
    }
    kiln_buf_free(&names);
    return rc;
}

int kiln_models_plan(const kiln_models_opts *o, const char *env, int explain, int apply, FILE *out, int *failed,
                     kiln_err *err)
{
    *failed = 0;
    if (!env)
        env = "main";
    if (!valid_env(env))
        return kiln_err_set(err, KILN_EINVAL, "--env '%s': letters, digits, '_' and '-' only", env);
    plan_res r;
    double t0 = kiln_mono_seconds();
    int rc = make_plan(o, env, &r, err);
    if (rc) {
        plan_free(&r);
        return rc;
    }
    g_forward_only = o->forward_only;
    if ((o->event_time_start || o->event_time_end) && !(o->restate && *o->restate)) {
        plan_free(&r);
        return kiln_err_set(err, KILN_EINVAL, "--start/--end go with --restate-model MODEL");
    }
    if (o->restate && *o->restate && (rc = mark_restated(&r, o->restate, "--restate-model", err))) {
        plan_free(&r);
        return rc;
    }
    /* restatements declared in the models' config, not yet in the env */
    kiln_models_opts ro = *o;
    if ((rc = config_restatements(&r, &ro, err))) {
        plan_free(&r);
        return rc;
    }
    o = &ro;
    print_plan(&r, env, explain, out);
    fprintf(out, "\nplanned in %.3f s\n", kiln_mono_seconds() - t0);
    if (!apply || !r.nrebuild) {
        if (apply)
            fprintf(out, "Nothing to apply: environment '%s' is up to date.\n", env);
        plan_free(&r);
        return 0;
    }
    int is_main = !strcmp(env, "main");
    char *sel = rebuild_select(&r);
    kiln_models_opts bo = *o;
    bo.select = sel;
    bo.exclude = NULL;
    bo.branch = is_main ? NULL : env;
    bo.branch_new = !is_main;   /* new tables and changed columns on the branch only */
    bo.full_refresh = !is_main; /* on a branch, replace the rows (incremental models: all intervals) */
    /* forward-only models build incrementally on the branch
     * (kiln_models__is_incremental); restated microbatch models run the
     * batches of --start/--end (bo keeps o's event_time_start/end) */
    fprintf(out, "\nApplying on %s: kiln build -s '%s'\n\n", is_main ? "main" : "branch", sel ? sel : "");
    kiln_project *p = r.p;
    json_t *base = json_deep_copy(r.base);
    json_t *tables = json_array();
    rc = kiln_models_run("build", &bo, out, failed, err);
    int lk = !rc && is_main && !*failed ? env_lock(p, err) : -1;
    if (!rc && is_main && !*failed && lk < 0)
        rc = err->code;
    if (!rc && is_main && !*failed) { /* the build recorded main; the restatements it ran too */
        json_t *doc = env_load(p, "main"), *models = json_object_get(doc, "models");
        int any = 0;
        for (size_t k = 0; k < r.order.len && models; k++) {
            size_t i = r.order.items[k];
            json_t *rs = r.pn[i].rec && r.pn[i].cls != C_UNCHANGED ? json_object_get(r.pn[i].rec, "restatement") : NULL;
            json_t *e = json_object_get(models, p->nodes.items[i]->unique_id);
            if (rs && e) {
                json_object_set(e, "restatement", rs);
                any = 1;
            }
        }
        if (any)
            rc = env_save(p, "main", doc, err);
        json_decref(doc);
    }
    env_unlock(lk);
    if (!rc && !is_main) {
        /* the env's record: main's, with the rebuilt models as they are on the branch */
        for (size_t k = 0; k < r.order.len; k++) {
            size_t i = r.order.items[k];
            pnode *x = &r.pn[i];
            if (!x->rec || x->cls == C_UNCHANGED)
                continue;
            json_object_set_new(x->rec, "snapshot", json_integer(snapshot_of(p, p->nodes.items[i], env)));
            json_object_set(base, p->nodes.items[i]->unique_id, x->rec);
            char *rel = kiln_models__relation(p, p->nodes.items[i]);
            if (rel)
                json_array_append_new(tables, json_string(rel));
            kiln_free(rel);
        }
        json_t *doc =
            json_pack("{s:s,s:O,s:O,s:b}", "env", env, "models", base, "tables", tables, "passed", *failed == 0);
        rc = doc ? env_save(p, env, doc, err) : KILN_OOM(err);
        json_decref(doc);
        if (!rc && *failed)
            fprintf(out, "\nEnvironment '%s': %zu table%s on branch '%s'; it failed, so `kiln promote %s` refuses it\n",
                    env, json_array_size(tables), json_array_size(tables) == 1 ? "" : "s", env, env);
        else if (!rc)
            fprintf(out, "\nEnvironment '%s': %zu table%s on branch '%s'; promote with: kiln promote %s\n", env,
                    json_array_size(tables), json_array_size(tables) == 1 ? "" : "s", env, env);
    }
    json_decref(base);
    json_decref(tables);
    kiln_free(sel);
    plan_free(&r);
    return rc;
}

/* ------------------------------------------------------------ new tables and columns on a branch */

int kiln_models__col_type(sqlite3 *db, const char *query, const char *col, const char **out, kiln_err *err)
{
    char *sql = kiln_sprintf("select typeof(\"%s\") from (\n%s\n) where \"%s\" is not null limit 1", col, query, col);
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    *out = "string";
    if (!sql)
        return KILN_OOM(err);
    int rc = kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &eo, err);
    if (!rc && st && sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        *out = !strcmp(t, "integer") ? "long"
               : !strcmp(t, "real")  ? "double"
               : !strcmp(t, "blob")  ? "binary"
                                     : "string";
    }
    sqlite3_finalize(st);
    kiln_free(sql);
    return rc;
}

/* the schema JSON object of schema id sid in t's metadata (new reference) */
static json_t *schema_json(const kiln_lake_meta *m, int32_t sid, kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    json_t *doc = NULL, *out = NULL, *v;
    size_t i;
    if (!kiln_lake_meta_write(m, 0, &b, err) && (doc = json_loadb(b.data, b.len, 0, NULL)))
        json_array_foreach(json_object_get(doc, "schemas"), i,
                           v) if (json_integer_value(json_object_get(v, "schema-id")) == sid) out = json_incref(v);
    if (!out && !err->code)
        kiln_err_set(err, KILN_EFORMAT, "table metadata has no schema %d", (int)sid);
    json_decref(doc);
    kiln_buf_free(&b);
    return out;
}

/* A model whose table main does not have, built on branch b: its rows go
 * to a staging table first (CREATE TABLE AS: the column types main's
 * build would get), the table is created empty with that schema (no main
 * snapshot: a reader of main sees no rows), and the rows are written on
 * branch b only; the staging table is dropped. */
static int stage_new(sqlite3 *db, kiln_lake_catalog *cat, const char *plain, const char *rel, const char *b,
                     const char *query, const char *partition, kiln_err *err)
{
    const char *dot = strchr(plain, '.');
    char *stg =
        kiln_sprintf("%.*s._kiln_env_%llx", (int)(dot - plain), plain, (unsigned long long)kiln_lake_snapshot_id_new());
    char *sql = stg ? kiln_sprintf("create table %s%s%s%s as\n%s", stg, *partition ? " partitioned by (" : "",
                                   partition, *partition ? ")" : "", query)
                    : NULL;
    if (!sql) {
        kiln_free(stg);
        return KILN_OOM(err);
    }
    kiln_lake_table *st = NULL, *t = NULL;
    json_t *sj = NULL;
    char *sjs = NULL;
    int created = 0;
    int rc = kiln_models__exec_all(db, sql, NULL, err);
    int staged = !rc;
    if (!rc)
        rc = kiln_lake_table_load(&st, cat, stg, err);
    if (!rc) {
        const kiln_lake_meta *m = kiln_lake_table_meta(st);
        if (!(sj = schema_json(m, m->current_schema_id, err)))
            rc = err->code ? err->code : KILN_OOM(err);
        else if (!(sjs = json_dumps(sj, JSON_COMPACT)))
            rc = KILN_OOM(err);
    }
    if (!rc) {
        kiln_lake_create_opts co = {0};
        co.schema_json = sjs;
        co.partition = *partition ? partition : NULL;
        rc = kiln_lake_table_create(&t, cat, plain, &co, err);
        created = !rc;
    }
    kiln_free(sql);
    sql = NULL;
    if (!rc && !(sql = kiln_sprintf("insert into %s\nselect * from %s", rel, stg)))
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_models__exec_all(db, sql, NULL, err);
    if (!rc && !(rc = kiln_lake_table_refresh(t, err)) && !kiln_lake_meta_ref(kiln_lake_table_meta(t), b)) {
        /* no rows: nothing was committed, so the branch does not exist;
         * this build reads the new table's (empty) main under the branch's
         * name, and promote has nothing to publish for it */
        const char *d = strchr(plain, '.');
        char *vt = kiln_sprintf("CREATE VIRTUAL TABLE IF NOT EXISTS \"%.*s\".\"%s@%s\" USING iceberg('%s')",
                                (int)(d - plain), plain, d + 1, b, plain);
        if (!vt)
            rc = KILN_OOM(err);
        else if (!(rc = kiln_sql_lake_add_table(db, plain, NULL, err)) &&
                 sqlite3_exec(db, vt, NULL, NULL, NULL) != SQLITE_OK)
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: %s", vt, sqlite3_errmsg(db));
        kiln_free(vt);
    } else if (!rc)
        rc = kiln_sql_lake_add_table(db, plain, b, err);
    if (rc && created) { /* leave main as it was: no table */
        kiln_err e = {0};
        kiln_lake_table_free(t);
        t = NULL;
        kiln_lake_table_drop(cat, plain, 1, &e);
    }
    if (staged) {
        kiln_err e = {0};
        kiln_lake_table_free(st);
        st = NULL;
        kiln_lake_table_drop(cat, stg, 1, &e);
        char *drop = kiln_sprintf("drop table if exists %s", stg);
        if (drop)
            kiln_models__exec_all(db, drop, NULL, &e);
        kiln_free(drop);
    }
    kiln_lake_table_free(st);
    kiln_lake_table_free(t);
    json_decref(sj);
    free(sjs);
    kiln_free(sql);
    kiln_free(stg);
    return rc;
}

/* A model whose columns changed (added, removed), built on branch b of its
 * existing table: the new schema is added to the table WITHOUT becoming
 * its current schema (main is read and written as before), and branch b
 * gets a metadata-only snapshot (the same data files) that carries the new
 * schema id; the lake reads and writes a snapshot whose schema is newer
 * than the table's current one with its own schema, so the rows then
 * written on b have the new columns. Promote makes the schema current. */
static int stage_columns(sqlite3 *db, kiln_lake_catalog *cat, const char *plain, const char *rel, const char *b,
                         const char *query, const char *want, int write, kiln_err *err)
{
    kiln_lake_table *t = NULL;
    kiln_lake_txn *txn = NULL;
    json_t *cur = NULL, *ns = NULL;
    char *text = NULL, *drop = NULL;
    int rc = kiln_lake_table_load(&t, cat, plain, err);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    const kiln_lake_ref *br = kiln_lake_meta_ref(m, b);
    const kiln_lake_snapshot *head = br ? kiln_lake_meta_snapshot(m, br->snapshot_id) : NULL;
    if (!head) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s has no branch '%s' to stage its new columns on", plain, b);
        goto done;
    }
    /* the columns the rows of the branch head have: its schema's */
    if (!(cur = schema_json(m, head->schema_id >= 0 ? head->schema_id : m->current_schema_id, err))) {
        rc = err->code ? err->code : KILN_OOM(err);
        goto done;
    }
    json_t *fields = json_array(), *of = json_object_get(cur, "fields");
    ns = json_pack("{s:s,s:i,s:o}", "type", "struct", "schema-id", 0, "fields", fields);
    if (!ns) {
        rc = KILN_OOM(err);
        goto done;
    }
    int32_t next = m->last_column_id;
    for (const char *c = want; *c && !rc;) {
        const char *e = strchr(c, ',');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), c);
        c += n + (e ? 1 : 0);
        size_t i;
        json_t *f, *found = NULL;
        json_array_foreach(of, i, f) if (!strcasecmp(json_string_value(json_object_get(f, "name")), name)) found = f;
        if (found) {
            json_array_append(fields, found);
            continue;
        }
        const char *ty;
        if (!(rc = kiln_models__col_type(db, query, name, &ty, err)))
            json_array_append_new(
                fields, json_pack("{s:i,s:s,s:b,s:s}", "id", ++next, "name", name, "required", 0, "type", ty));
    }
    if (rc || (rc = kiln_lake_txn_begin(&txn, t, err)) ||
        (rc = kiln_lake_txn_require_ref_snapshot(txn, b, head->snapshot_id, err)))
        goto done;
    if (!(text = json_dumps(ns, JSON_COMPACT))) {
        rc = KILN_OOM(err);
        goto done;
    }
    const kiln_lake_meta *pv = NULL;
    if ((rc = kiln_lake_txn_add_schema_json(txn, text, err)) || (rc = kiln_lake_txn_preview(&pv, txn, err)))
        goto done;
    int32_t sid = -1;
    for (size_t i = 0; i < pv->nschemas; i++)
        if (pv->schemas[i].schema_id > sid)
            sid = pv->schemas[i].schema_id;
    kiln_lake_kv sum[] = {{"operation", "replace"}, {"kiln.staged-schema", "true"}};
    kiln_lake_snapshot snap = {0};
    snap.snapshot_id = kiln_lake_snapshot_id_new();
    snap.parent_id = head->snapshot_id;
    snap.sequence_number = kiln_lake_txn_next_sequence_number(txn);
    snap.timestamp_ms = kiln_now_micros() / 1000;
    snap.manifest_list = head->manifest_list;
    snap.schema_id = sid;
    snap.operation = "replace";
    snap.nsummary = 2;
    snap.summary = sum;
    kiln_lake_ref to = {b, KILN_LAKE_BRANCH, snap.snapshot_id, -1, -1, -1};
    if ((rc = kiln_lake_txn_add_snapshot(txn, &snap, err)) || (rc = kiln_lake_txn_set_ref(txn, &to, err)) ||
        (rc = kiln_lake_txn_commit(txn, NULL, NULL, err)))
        goto done;
    /* declare the branch's table again with its new columns, then write */
    const char *dot = strchr(plain, '.');
    if (!(drop = kiln_sprintf("drop table if exists %.*s.\"%s@%s\"", (int)(dot - plain), plain, dot + 1, b)))
        rc = KILN_OOM(err);
    if (!rc && sqlite3_exec(db, drop, NULL, NULL, NULL) != SQLITE_OK) /* SQLite's: forget the old columns */
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: %s", drop, sqlite3_errmsg(db));
    if (!rc)
        rc = kiln_sql_lake_add_table(db, plain, b, err);
    kiln_free(drop);
    drop = NULL;
    if (!rc && write && !(drop = kiln_sprintf("insert overwrite %s\n%s", rel, query)))
        rc = KILN_OOM(err);
    if (!rc && write)
        rc = kiln_models__exec_all(db, drop, NULL, err);
done:
    kiln_free(drop);
    free(text);
    json_decref(cur);
    json_decref(ns);
    kiln_lake_txn_free(txn);
    kiln_lake_table_free(t);
    return rc;
}

int kiln_models__branch_stage(kiln_project *p, sqlite3 *db, const char *rel, const char *query, const char *partition,
                              int exists, const char *want, int write, kiln_err *err)
{
    const char *b = p->opts.branch;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    const char *q = strstr(rel, ".\"");
    size_t sl = q ? (size_t)(q - rel) : 0, bl = b ? strlen(b) : 0, rl = strlen(rel);
    if (!b || !cat || !q || rl < sl + bl + 4)
        return kiln_err_set(err, KILN_EINTERNAL, "%s: not a branch relation", rel);
    char *plain = kiln_sprintf("%.*s.%.*s", (int)sl, rel, (int)(rl - sl - 2 - bl - 2), q + 2);
    if (!plain)
        return KILN_OOM(err);
    int rc = exists ? stage_columns(db, cat, plain, rel, b, query, want, write, err)
                    : stage_new(db, cat, plain, rel, b, query, partition ? partition : "", err);
    kiln_free(plain);
    return rc;
}

/* ------------------------------------------------------------ promote */

int kiln_models_promote(const kiln_models_opts *o, const char *env, FILE *out, kiln_err *err)
{
    if (!valid_env(env) || !strcmp(env, "main"))
        return kiln_err_set(err, KILN_EINVAL, "promote ENV: an environment name other than main");
    kiln_project *p;
    int rc = kiln_project_load(&p, o, err);
    if (rc)
        return rc;
    json_t *doc = env_load(p, env);
    json_t *tables = doc ? json_object_get(doc, "tables") : NULL;
    KILN_VEC(kiln_lake_table *) ts = {0};
    if (!doc || !json_is_array(tables)) {
        rc = kiln_err_set(err, KILN_ENOTFOUND,
                          "environment '%s' has no record in %s/.kiln/envs/: run kiln plan --env %s --apply first", env,
                          p->warehouse, env);
        goto done;
    }
    if (!json_is_true(json_object_get(doc, "passed"))) {
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "environment '%s' did not pass its build and tests: fix, then kiln plan --env %s --apply",
                          env, env);
        goto done;
    }
    if (!p->catalog && (rc = kiln_lake_catalog_open(&p->catalog, p->warehouse, KILN_LAKE_CATALOG_SQLITE, err)))
        goto done;
    /* every table first: each must have the branch, and main must be able to move to it */
    size_t i;
    json_t *v;
    json_array_foreach(tables, i, v)
    {
        kiln_lake_table *t = NULL;
        const char *rel = json_string_value(v);
        if ((rc = kiln_lake_table_load(&t, p->catalog, rel, err)))
            goto done;
        if ((rc = kiln_vec_push(&ts, t, err))) {
            kiln_lake_table_free(t);
            goto done;
        }
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        const kiln_lake_ref *b = kiln_lake_meta_ref(m, env), *mn = kiln_lake_meta_ref(m, "main");
        if (!b && !mn && !m->nsnapshots) { /* a new model with no rows: nothing to publish */
            kiln_lake_table_free(ts.items[--ts.len]);
            continue;
        }
        if (!b) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "%s has no branch '%s'", rel, env);
            goto done;
        }
        if (mn && !kiln_lake_meta_is_ancestor(m, b->snapshot_id, mn->snapshot_id)) {
            rc = kiln_err_set(err, KILN_ECONFLICT,
                              "%s: main moved on since branch '%s' was cut (main %lld is not an ancestor of %lld); "
                              "re-apply the plan: kiln plan --env %s --apply",
                              rel, env, (long long)mn->snapshot_id, (long long)b->snapshot_id, env);
            goto done;
        }
    }
    /* every table's main moves in ONE catalog transaction
     * (kiln_lake_txn_commit_multi): each txn requires main still at the head
     * checked above (or absent) and the branch at its head, and sets main to
     * the branch head; all or none, also across a crash */
    {
        kiln_lake_txn **txns = kiln_calloc(ts.len ? ts.len : 1, sizeof *txns);
        if (!txns)
            rc = KILN_OOM(err);
        for (size_t k = 0; k < ts.len && !rc; k++) {
            const kiln_lake_meta *m = kiln_lake_table_meta(ts.items[k]);
            const kiln_lake_ref *b = kiln_lake_meta_ref(m, env), *mn = kiln_lake_meta_ref(m, "main");
            kiln_lake_ref to = {"main", KILN_LAKE_BRANCH, b->snapshot_id, -1, -1, -1};
            /* a schema staged on the branch (new or removed columns) becomes current */
            const kiln_lake_snapshot *hs = kiln_lake_meta_snapshot(m, b->snapshot_id);
            int32_t sid = hs && hs->schema_id > m->current_schema_id ? hs->schema_id : -1;
            if (!mn || mn->snapshot_id != b->snapshot_id || sid >= 0) {
                if (!(rc = kiln_lake_txn_begin(&txns[k], ts.items[k], err)) &&
                    !(rc = kiln_lake_txn_require_ref_snapshot(txns[k], "main", mn ? mn->snapshot_id : -1, err)) &&
                    !(rc = kiln_lake_txn_require_ref_snapshot(txns[k], env, b->snapshot_id, err)) &&
                    !(rc = kiln_lake_txn_require_current_schema_id(txns[k], m->current_schema_id, err)) &&
                    !(rc = sid >= 0 ? kiln_lake_txn_set_current_schema(txns[k], sid, err) : 0))
                    rc = kiln_lake_txn_set_ref(txns[k], &to, err);
            }
        }
        /* the tables whose main is already at the branch head need no commit */
        kiln_lake_table **ct = kiln_calloc(ts.len ? ts.len : 1, sizeof *ct);
        kiln_lake_txn **cx = kiln_calloc(ts.len ? ts.len : 1, sizeof *cx);
        size_t nc = 0;
        if (!rc && (!ct || !cx))
            rc = KILN_OOM(err);
        for (size_t k = 0; k < ts.len && !rc; k++)
            if (txns[k]) {
                ct[nc] = ts.items[k];
                cx[nc++] = txns[k];
            }
        if (!rc && nc)
            rc = kiln_lake_txn_commit_multi(ct, cx, NULL, nc, 0, err);
        for (size_t k = 0; k < ts.len; k++)
            if (txns && txns[k])
                kiln_lake_txn_free(txns[k]);
        kiln_free(txns);
        kiln_free(ct);
        kiln_free(cx);
        for (size_t k = 0; k < ts.len && !rc; k++)
            fprintf(out, "main -> %s: %s\n", env, kiln_lake_table_name(ts.items[k]));
        if (!rc)
            fprintf(out, "(%zu table%s in one atomic catalog commit)\n", nc, nc == 1 ? "" : "s");
    }
    if (!rc) {
        json_t *main = json_pack("{s:s,s:O}", "env", "main", "models", json_object_get(doc, "models"));
        int lk = env_lock(p, err);
        rc = lk < 0 ? err->code : main ? env_save(p, "main", main, err) : KILN_OOM(err);
        env_unlock(lk);
        json_decref(main);
    }
    if (!rc)
        fprintf(out, "Promoted environment '%s': %zu table%s fast-forwarded\n", env, ts.len, ts.len == 1 ? "" : "s");
done:
    for (size_t k = 0; k < ts.len; k++)
        kiln_lake_table_free(ts.items[k]);
    kiln_vec_free(&ts);
    json_decref(doc);
    kiln_project_free(p);
    return rc;
}
