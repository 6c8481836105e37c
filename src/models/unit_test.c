/*
 * unit_test.c - dbt's unit tests (`unit_tests:` in schema YAML, dbt 1.8+).
 *
 * A unit test names a model, gives rows for the relations it reads
 * (`given`: input ref('x') / source('s', 't') / this, rows as a list of
 * dicts, CSV text or an SQL select, or a fixture file) and the rows it
 * must return (`expect`). kiln loads each input into a temporary SQLite
 * table on the run's connection (typed with the real relation's columns
 * when it exists, so a row may leave columns out: they are NULL), renders
 * the model with ref()/source()/this pointing at them (and `overrides`:
 * vars, env_vars, macros such as is_incremental), runs it, and compares
 * the expected columns as multisets (order-free). A mismatch prints a row
 * diff and skips the model (and so everything downstream).
 *
 * Beyond dbt: with `config: {expect_state: final}` on an incremental
 * model with `this` given, `expect` is the table after the new rows were
 * applied with the model's incremental_strategy (append, delete+insert,
 * merge with merge_update_columns / merge_exclude_columns,
 * insert_overwrite by partition_by), not only the new rows.
 */
#include "models/project.h"

#include "sql/sql.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct km_fix {
    char *input;        /* "ref('x')" as written, "this" */
    long node;          /* the node input names (-1: this) */
    const char *format; /* dict, csv, sql */
    const km_yaml *rows;
    char *fixture; /* fixture file name, or NULL */
    uint32_t line, col;
} km_fix;

typedef struct km_ut {
    char *name, *unique_id, *file, *description;
    char *version; /* the model's version this test runs on (versions:), or NULL */
    size_t model;
    uint32_t line, col;
    KILN_VEC(km_fix) given;
    km_fix expect;
    kj_val config;                   /* dict */
    kj_val o_vars, o_macros, o_envs; /* dicts (empty when absent) */
    const km_yaml *overrides;
    int final_state;
    int unselected;      /* --select/--exclude left it out */
    char *last_msg;      /* the last run's message (run_results.json) */
    char *last_sql;      /* the model's SQL the last run compiled */
    const char *last_st; /* pass, fail, error, skipped */
    int64_t last_t0, last_t1;
    double last_dt;
} km_ut;

struct km_ut_set {
    KILN_VEC(km_ut *) items;
};

static void ut_free(km_ut *u)
{
    if (!u)
        return;
    kiln_free(u->name);
    kiln_free(u->unique_id);
    kiln_free(u->version);
    kiln_free(u->file);
    kiln_free(u->description);
    kiln_free(u->last_msg);
    kiln_free(u->last_sql);
    for (size_t i = 0; i < u->given.len; i++) {
        kiln_free(u->given.items[i].input);
        kiln_free(u->given.items[i].fixture);
    }
    kiln_vec_free(&u->given);
    kiln_free(u->expect.fixture);
    kj_release(u->config);
    kj_release(u->o_vars);
    kj_release(u->o_macros);
    kj_release(u->o_envs);
    kiln_free(u);
}

void kiln_models__ut_free(kiln_project *p)
{
    if (!p->unit_tests)
        return;
    for (size_t i = 0; i < p->unit_tests->items.len; i++)
        ut_free(p->unit_tests->items.items[i]);
    kiln_vec_free(&p->unit_tests->items);
    kiln_free(p->unit_tests);
    p->unit_tests = NULL;
    kiln_free(p->ut_block);
    p->ut_block = NULL;
}

/* the node ref(name[, v=ver]) names: a version of a versioned model (the
 * latest without ver), else the node of that name; -2 (why set) for an
 * unknown version, -1 for no such node */
static long ref_node(const kiln_project *p, const char *name, const char *ver, char *why, size_t cap)
{
    kj_val v = ver ? kj_str_c(ver) : kj_undef();
    if (ver && kj_oom(v)) {
        snprintf(why, cap, "out of memory");
        return -2;
    }
    long idx = kiln_models__version_find(p, name, v, why, cap);
    kj_release(v);
    return idx == -1 ? kiln_models__find_name(p, name) : idx;
}

/* "ref('x')", "ref(\"x\")", "source('s','t')", "this" -> node index (-1 this) */
static int parse_input(kiln_project *p, const char *file, const km_yaml *y, long *node, kiln_err *err)
{
    const char *s = y->s;
    while (*s == ' ')
        s++;
    if (!strcmp(s, "this")) {
        *node = -1;
        return 0;
    }
    char args[2][256] = {"", ""}, ver[64] = "";
    int nargs = 0, is_ref = !strncmp(s, "ref", 3), is_src = !strncmp(s, "source", 6);
    const char *q = s + (is_ref ? 3 : is_src ? 6 : 0);
    while (*q == ' ')
        q++;
    if ((!is_ref && !is_src) || *q != '(')
        return kiln_models__yfail(err, file, y,
                                  "input must be ref('model'), source('source', 'table') or this, not '%s'", s);
    q++;
    for (;;) {
        while (*q == ' ')
            q++;
        if (*q == ')')
            break;
        if (is_ref && (!strncmp(q, "v=", 2) || !strncmp(q, "version=", 8) || !strncmp(q, "v =", 3) ||
                       !strncmp(q, "version =", 9))) { /* ref('m', v=2) */
            q = strchr(q, '=') + 1;
            while (*q == ' ')
                q++;
            char quote = *q == '\'' || *q == '"' ? *q++ : 0;
            size_t n = quote ? strcspn(q, quote == '"' ? "\"" : "'") : strcspn(q, " ,)");
            if (!n || n >= sizeof ver)
                return kiln_models__yfail(err, file, y, "input '%s': a version is v=<number>", s);
            memcpy(ver, q, n);
            ver[n] = 0;
            q += n + (quote ? 1 : 0);
            while (*q == ' ')
                q++;
            if (*q == ',')
                q++;
            continue;
        }
        char quote = *q;
        if ((quote != '\'' && quote != '"') || nargs >= 2)
            return kiln_models__yfail(err, file, y, "input '%s': arguments must be quoted names", s);
        const char *e = strchr(q + 1, quote);
        if (!e || (size_t)(e - q - 1) >= sizeof args[0])
            return kiln_models__yfail(err, file, y, "input '%s': unterminated name", s);
        memcpy(args[nargs], q + 1, (size_t)(e - q - 1));
        args[nargs++][e - q - 1] = 0;
        q = e + 1;
        while (*q == ' ')
            q++;
        if (*q == ',')
            q++;
    }
    if (is_ref && nargs >= 1) {
        char why[256];
        long idx = ref_node(p, args[nargs - 1], ver[0] ? ver : NULL, why, sizeof why);
        if (idx == -2)
            return kiln_models__yfail(err, file, y, "input %s: %s", s, why);
        if (idx < 0)
            return kiln_models__yfail(err, file, y, "input %s: no model, seed or snapshot named '%s'", s,
                                      args[nargs - 1]);
        *node = idx;
        return 0;
    }
    if (is_src && nargs == 2) {
        for (size_t i = 0; i < p->nodes.len; i++) {
            km_node *n = p->nodes.items[i];
            if (n->kind == KM_SOURCE && n->source_name && !strcmp(n->source_name, args[0]) &&
                !strcmp(n->name, args[1])) {
                *node = (long)i;
                return 0;
            }
        }
        return kiln_models__yfail(err, file, y, "input %s: no source table '%s.%s'", s, args[0], args[1]);
    }
    return kiln_models__yfail(err, file, y, "input '%s': ref() takes a name, source() a source and a table", s);
}

static int parse_fixture(const char *file, const km_yaml *m, km_fix *f, const char *what, kiln_err *err)
{
    const km_yaml *fmt = kiln_models__yaml_get(m, "format"), *rows = kiln_models__yaml_get(m, "rows"),
                  *fx = kiln_models__yaml_get(m, "fixture");
    f->line = m->line;
    f->col = m->col;
    f->format = "dict";
    if (fmt && !kiln_models__yaml_is_null(fmt)) {
        if (fmt->type != KM_Y_SCALAR || (strcmp(fmt->s, "dict") && strcmp(fmt->s, "csv") && strcmp(fmt->s, "sql")))
            return kiln_models__yfail(err, file, fmt, "%s: format must be dict, csv or sql", what);
        f->format = fmt->s;
    }
    if (fx && !kiln_models__yaml_is_null(fx)) {
        if (fx->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, fx, "%s: fixture must be a file name", what);
        if (!strcmp(f->format, "dict"))
            return kiln_models__yfail(err, file, fx, "%s: a fixture file needs format csv or sql", what);
        if (!(f->fixture = kiln_strdup(fx->s)))
            return KILN_OOM(err);
    } else if (rows && !kiln_models__yaml_is_null(rows)) {
        if (!strcmp(f->format, "dict") && rows->type != KM_Y_SEQ)
            return kiln_models__yfail(err, file, rows, "%s: rows must be a list of mappings (format dict)", what);
        if (strcmp(f->format, "dict") && rows->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, rows, "%s: rows must be text (format %s)", what, f->format);
        for (size_t i = 0; rows->type == KM_Y_SEQ && i < rows->n; i++)
            if (rows->kids[i]->type != KM_Y_MAP)
                return kiln_models__yfail(err, file, rows->kids[i], "%s: each row must be a mapping of column: value",
                                          what);
        f->rows = rows;
    }
    return 0;
}

static int dict_of(const char *file, const km_yaml *m, const char *key, kj_val *out, kiln_err *err)
{
    const km_yaml *y = m ? kiln_models__yaml_get(m, key) : NULL;
    if (!y || kiln_models__yaml_is_null(y)) {
        *out = kj_dict_new();
        return kj_oom(*out) ? KILN_OOM(err) : 0;
    }
    if (y->type != KM_Y_MAP)
        return kiln_models__yfail(err, file, y, "overrides: %s must be a mapping", key);
    return kiln_models__yaml_to_kj(y, out, err);
}

/* One unit test of model node idx (ver: that version of a versioned model, or NULL). */
static int parse_one(kiln_project *p, const char *file, const km_yaml *m, long idx, const char *ver, kiln_err *err)
{
    int rc = 0;
    const km_yaml *y;
    km_ut *u = kiln_calloc(1, sizeof *u);
    if (!u)
        return KILN_OOM(err);
    u->config = u->o_vars = u->o_macros = u->o_envs = kj_none();
    u->line = m->line;
    u->col = m->col;
    if ((rc = kiln_vec_push(&p->unit_tests->items, u, err))) {
        ut_free(u);
        return rc;
    }
    y = kiln_models__yaml_get(m, "name");
    if (!(u->name = kiln_strdup(y->s)) || !(u->file = kiln_strdup(file)))
        return KILN_OOM(err);
    if (ver) { /* dbt: one unit test per version of a versioned model, named NAME_vV */
        char *vn = kiln_sprintf("%s_v%s", u->name, ver);
        if (!vn || !(u->version = kiln_strdup(ver))) {
            kiln_free(vn);
            return KILN_OOM(err);
        }
        kiln_free(u->name);
        u->name = vn;
    }
    u->model = (size_t)idx;
    km_node *mn = p->nodes.items[idx];
    if (!(u->unique_id = kiln_sprintf("unit_test.%s.%s.%s", p->name, mn->name, u->name)))
        return KILN_OOM(err);
    for (size_t k = 0; k < p->unit_tests->items.len - 1; k++)
        if (!strcmp(p->unit_tests->items.items[k]->unique_id, u->unique_id))
            return kiln_models__yfail(err, file, m, "unit test '%s' of model '%s' is defined twice", u->name, mn->name);
    y = kiln_models__yaml_get(m, "description");
    if (y && y->type == KM_Y_SCALAR && !(u->description = kiln_strdup(y->s)))
        return KILN_OOM(err);
    const km_yaml *given = kiln_models__yaml_get(m, "given");
    if (!given || kiln_models__yaml_is_null(given))
        given = NULL;
    else if (given->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, given, "unit test '%s': given must be a list of inputs", u->name);
    for (size_t k = 0; given && k < given->n; k++) {
        const km_yaml *g = given->kids[k], *in = kiln_models__yaml_get(g, "input");
        if (g->type != KM_Y_MAP || !in || in->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, g, "unit test '%s': each given entry needs an input", u->name);
        km_fix f = {0};
        if ((rc = parse_input(p, file, in, &f.node, err)))
            return rc;
        if (!(f.input = kiln_strdup(in->s)))
            return KILN_OOM(err);
        if ((rc = kiln_vec_push(&u->given, f, err))) {
            kiln_free(f.input);
            return rc;
        }
        if ((rc = parse_fixture(file, g, &u->given.items[u->given.len - 1], "given", err)))
            return rc;
    }
    const km_yaml *ex = kiln_models__yaml_get(m, "expect");
    if (!ex || ex->type != KM_Y_MAP)
        return kiln_models__yfail(err, file, ex ? ex : m, "unit test '%s' needs expect: {rows: ...}", u->name);
    if ((rc = parse_fixture(file, ex, &u->expect, "expect", err)))
        return rc;
    const km_yaml *cfg = kiln_models__yaml_get(m, "config");
    if (cfg && !kiln_models__yaml_is_null(cfg)) {
        if (cfg->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, cfg, "unit test '%s': config must be a mapping", u->name);
        if ((rc = kiln_models__yaml_to_kj(cfg, &u->config, err)))
            return rc;
        kj_val *es = kj_dict_getc(u->config, "expect_state");
        if (es && !(es->t == KJ_STR && (!strcmp(es->u.s->p, "final") || !strcmp(es->u.s->p, "new_rows"))))
            return kiln_models__yfail(err, file, cfg, "unit test '%s': expect_state must be final or new_rows",
                                      u->name);
        u->final_state = es && !strcmp(es->u.s->p, "final");
    } else if (kj_oom(u->config = kj_dict_new()))
        return KILN_OOM(err);
    if (u->final_state) {
        int has_this = 0;
        for (size_t k = 0; k < u->given.len; k++)
            has_this |= u->given.items[k].node == -1;
        if (!has_this)
            return kiln_models__yfail(err, file, cfg, "unit test '%s': expect_state: final needs a `this` input",
                                      u->name);
    }
    const km_yaml *ov = kiln_models__yaml_get(m, "overrides");
    if (ov && !kiln_models__yaml_is_null(ov) && ov->type != KM_Y_MAP)
        return kiln_models__yfail(err, file, ov, "unit test '%s': overrides must be a mapping", u->name);
    u->overrides = ov && ov->type == KM_Y_MAP ? ov : NULL;
    if ((rc = dict_of(file, u->overrides, "vars", &u->o_vars, err)) ||
        (rc = dict_of(file, u->overrides, "macros", &u->o_macros, err)) ||
        (rc = dict_of(file, u->overrides, "env_vars", &u->o_envs, err)))
        return rc;
    return rc;
}

/* versions: {include: [...]} or {exclude: [...]} of a unit test: 1 when
 * version v is tested */
static int version_wanted(const km_yaml *inc, const km_yaml *exc, const char *v)
{
    const km_yaml *l = inc ? inc : exc;
    int in = 0;
    for (size_t k = 0; l && l->type == KM_Y_SEQ && k < l->n; k++)
        in |= l->kids[k]->type == KM_Y_SCALAR && !strcmp(l->kids[k]->s, v);
    if (l && l->type == KM_Y_SCALAR)
        in = !strcmp(l->s, v);
    return inc ? in : !in;
}

int kiln_models__ut_parse(kiln_project *p, const char *file, const km_yaml *list, kiln_err *err)
{
    int rc = 0;
    if (kiln_models__yaml_is_null(list))
        return 0;
    if (list->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, list, "unit_tests must be a list");
    if (!p->unit_tests && !(p->unit_tests = kiln_calloc(1, sizeof *p->unit_tests)))
        return KILN_OOM(err);
    for (size_t i = 0; i < list->n && !rc; i++) {
        const km_yaml *m = list->kids[i], *y, *nm;
        if (m->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, m,
                                      "each unit test must be a mapping with name, model, given and expect");
        nm = kiln_models__yaml_get(m, "name");
        if (!nm || nm->type != KM_Y_SCALAR || !nm->s[0])
            return kiln_models__yfail(err, file, m, "a unit test needs a name");
        y = kiln_models__yaml_get(m, "model");
        if (!y || y->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, m, "unit test '%s' needs a model", nm->s);
        const km_yaml *vs = kiln_models__yaml_get(m, "versions"), *inc = NULL, *exc = NULL;
        if (vs && !kiln_models__yaml_is_null(vs)) {
            if (vs->type != KM_Y_MAP)
                return kiln_models__yfail(err, file, vs,
                                          "unit test '%s': versions must be {include: [...]} or "
                                          "{exclude: [...]}",
                                          nm->s);
            inc = kiln_models__yaml_get(vs, "include");
            exc = kiln_models__yaml_get(vs, "exclude");
            if (inc && exc)
                return kiln_models__yfail(err, file, vs, "unit test '%s': versions takes include or exclude, not both",
                                          nm->s);
        }
        if (!kiln_models__is_versioned(p, y->s)) {
            if (inc || exc)
                return kiln_models__yfail(err, file, vs, "unit test '%s': model '%s' has no versions", nm->s, y->s);
            long idx = kiln_models__find_name(p, y->s);
            if (idx < 0 || p->nodes.items[idx]->kind != KM_MODEL)
                return kiln_models__yfail(err, file, y, "unit test '%s': no model named '%s'", nm->s, y->s);
            rc = parse_one(p, file, m, idx, NULL, err);
            continue;
        }
        /* every version named in include must exist */
        for (size_t k = 0; inc && inc->type == KM_Y_SEQ && k < inc->n && !rc; k++) {
            char why[256];
            const km_yaml *x = inc->kids[k];
            kj_val v = x->type == KM_Y_SCALAR ? kj_str_c(x->s) : kj_none();
            if (kj_oom(v))
                return KILN_OOM(err);
            long vi = kiln_models__version_find(p, y->s, v, why, sizeof why);
            kj_release(v);
            if (vi < 0)
                return kiln_models__yfail(err, file, x, "unit test '%s': %s", nm->s, why);
        }
        const char *ver;
        size_t node;
        for (size_t k = 0; !rc && kiln_models__version_at(p, y->s, k, &ver, &node); k++)
            if (version_wanted(inc, exc, ver))
                rc = parse_one(p, file, m, (long)node, ver, err);
    }
    return rc;
}

/* ------------------------------------------------------------ selection */

static int runs_under(const km_ut *u, const char *verb)
{
    if (u->unselected)
        return 0;
    kj_val *en = kj_dict_getc(u->config, "enabled");
    if (en && !kj_truthy(*en))
        return 0;
    return !strcmp(verb, "test") || !strcmp(verb, "build");
}

size_t kiln_models__ut_count(const kiln_project *p, const char *verb, const km_idxvec *sel)
{
    size_t n = 0;
    if (!p->unit_tests)
        return 0;
    for (size_t i = 0; i < p->unit_tests->items.len; i++) {
        km_ut *u = p->unit_tests->items.items[i];
        for (size_t k = 0; k < sel->len && runs_under(u, verb); k++)
            n += sel->items[k] == u->model;
    }
    return n;
}

size_t kiln_models__ut_n(const kiln_project *p) { return p->unit_tests ? p->unit_tests->items.len : 0; }

size_t kiln_models__ut_model(const kiln_project *p, size_t i) { return p->unit_tests->items.items[i]->model; }

void kiln_models__ut_info(const kiln_project *p, size_t i, const char **name, const char **uid, const char **file,
                          kj_val *config)
{
    km_ut *u = p->unit_tests->items.items[i];
    *name = u->name;
    *uid = u->unique_id;
    *file = u->file;
    *config = u->config;
}

void kiln_models__ut_mark(kiln_project *p, const unsigned char *sel)
{
    for (size_t i = 0; i < kiln_models__ut_n(p); i++)
        p->unit_tests->items.items[i]->unselected = !sel[i];
}

/* ------------------------------------------------------------ render context */

typedef struct ut_ctx {
    kiln_project *p;
    km_ut *u;
} ut_ctx;

static int fixture_of(ut_ctx *c, long node)
{
    for (size_t i = 0; i < c->u->given.len; i++)
        if (c->u->given.items[i].node == node)
            return (int)i;
    return -1;
}

static int u_ref(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    ut_ctx *c = ud;
    kj_val name = a->npos >= 2 ? a->pos[1] : kj_arg(a, 0, NULL);
    if (name.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "ref() takes a model name (a string)");
    kj_val ver = kj_arg(a, 99, "v");
    if (ver.t == KJ_UNDEF)
        ver = kj_arg(a, 99, "version");
    char vs[64] = "", why[256];
    if (ver.t == KJ_INT)
        snprintf(vs, sizeof vs, "%lld", (long long)ver.u.i);
    else if (ver.t == KJ_STR)
        snprintf(vs, sizeof vs, "%s", ver.u.s->p);
    else if (ver.t == KJ_FLOAT)
        snprintf(vs, sizeof vs, "%g", ver.u.f);
    long idx = ref_node(c->p, name.u.s->p, vs[0] ? vs : NULL, why, sizeof why);
    if (idx == -2)
        return kj_fail(in, KILN_ENOTFOUND, "%s", why);
    int f = idx < 0 ? -1 : fixture_of(c, idx);
    if (f < 0)
        return kj_fail(in, KILN_EINVAL, "unit test '%s' gives no input for ref('%s'): add it to `given`", c->u->name,
                       name.u.s->p);
    char nm[32];
    snprintf(nm, sizeof nm, "__ut_in_%d", f);
    *out = kiln_models__relation_new("temp", nm);
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int u_source(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    ut_ctx *c = ud;
    kj_val s = kj_arg(a, 0, "source_name"), t = kj_arg(a, 1, "table_name");
    if (s.t != KJ_STR || t.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "source() takes a source name and a table name");
    for (size_t i = 0; i < c->p->nodes.len; i++) {
        km_node *n = c->p->nodes.items[i];
        if (n->kind == KM_SOURCE && n->source_name && !strcmp(n->source_name, s.u.s->p) && !strcmp(n->name, t.u.s->p)) {
            int f = fixture_of(c, (long)i);
            if (f < 0)
                break;
            char nm[32];
            snprintf(nm, sizeof nm, "__ut_in_%d", f);
            *out = kiln_models__relation_new("temp", nm);
            return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
        }
    }
    return kj_fail(in, KILN_EINVAL, "unit test '%s' gives no input for source('%s', '%s'): add it to `given`",
                   c->u->name, s.u.s->p, t.u.s->p);
}

static int u_var(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    ut_ctx *c = ud;
    kj_val k = kj_arg(a, 0, "name");
    if (k.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "var() takes a variable name");
    kj_val *v = kj_dict_getc(c->u->o_vars, k.u.s->p);
    if (!v && c->p->cli_vars.t == KJ_DICT)
        v = kj_dict_getc(c->p->cli_vars, k.u.s->p);
    if (!v) {
        kj_val *scope = kj_dict_getc(c->p->vars, c->p->name);
        if (scope && scope->t == KJ_DICT)
            v = kj_dict_getc(*scope, k.u.s->p);
    }
    if (!v)
        v = kj_dict_getc(c->p->vars, k.u.s->p);
    if (v) {
        *out = kj_retain(*v);
        return 0;
    }
    kj_val d = kj_arg(a, 1, "default");
    if (d.t == KJ_UNDEF)
        return kj_fail(in, KILN_EINVAL, "Required var '%s' not found (unit test '%s': give it in overrides: vars)",
                       k.u.s->p, c->u->name);
    *out = kj_retain(d);
    return 0;
}

static int u_env(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    (void)self;
    return kiln_models__env_var(in, ((ut_ctx *)ud)->u->o_envs, a, out);
}

/* a macro override: returns its value whatever the arguments */
static int u_const(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    (void)in, (void)ud, (void)a;
    *out = kj_retain(self);
    return 0;
}

static int render_model(kiln_project *p, km_ut *u, kiln_buf *sql, kiln_err *err)
{
    ut_ctx c = {p, u};
    kj_val over = kj_dict_new();
    int rc = kj_oom(over) ? KILN_OOM(err) : 0;
    int this_f = fixture_of(&c, -1);
    char nm[32];
    snprintf(nm, sizeof nm, "__ut_in_%d", this_f);
    struct {
        const char *name;
        kj_native fn;
    } fns[] = {{"ref", u_ref}, {"source", u_source}, {"var", u_var}, {"env_var", u_env}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0] && !rc; i++) {
        kj_val f = kj_func_new(fns[i].name, fns[i].fn, &c, kj_undef());
        rc = kj_oom(f) ? KILN_OOM(err) : kj_dict_setc(over, fns[i].name, f, err);
    }
    /* is_incremental() is false in a unit test unless overridden (dbt's rule) */
    if (!rc && !kj_dict_getc(u->o_macros, "is_incremental")) {
        kj_val f = kj_func_new("is_incremental", u_const, NULL, kj_bool(0));
        rc = kj_oom(f) ? KILN_OOM(err) : kj_dict_setc(over, "is_incremental", f, err);
    }
    for (size_t i = 0; !rc && i < u->o_macros.u.d->len; i++) {
        kj_val k = u->o_macros.u.d->keys[i];
        if (k.t != KJ_STR)
            continue;
        kj_val f = kj_func_new(k.u.s->p, u_const, NULL, u->o_macros.u.d->vals[i]);
        rc = kj_oom(f) ? KILN_OOM(err) : kj_dict_setc(over, k.u.s->p, f, err);
    }
    if (!rc && this_f >= 0) {
        kj_val t = kiln_models__relation_new("temp", nm);
        rc = kj_oom(t) ? KILN_OOM(err) : kj_dict_setc(over, "this", t, err);
    }
    if (!rc)
        rc = kiln_models__render_node_over(p, u->model, over, sql, err);
    kj_release(over);
    return rc;
}

/* ------------------------------------------------------------ fixtures into tables */

static int exec1(sqlite3 *db, const char *sql, kiln_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kiln_err_set(err, KILN_EFORMAT, "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

typedef KILN_VEC(char *) strv;
typedef KILN_VEC(strv) strvv;
static void strv_free(strv *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}
static long strv_find(const strv *v, const char *s)
{
    for (size_t i = 0; i < v->len; i++)
        if (!strcasecmp(v->items[i], s))
            return (long)i;
    return -1;
}

/* Columns (and declared types) of a query; 0 also when it cannot be prepared (*ok 0). */
static int probe_cols(sqlite3 *db, const char *sql, strv *cols, strv *types, int *ok, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    kiln_err e = {0};
    *ok = 0;
    if (kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &eo, &e) || !st)
        return 0;
    int rc = 0;
    for (int i = 0; i < sqlite3_column_count(st) && !rc; i++) {
        const char *dt = sqlite3_column_decltype(st, i);
        char *n = kiln_strdup(sqlite3_column_name(st, i)), *t = kiln_strdup(dt ? dt : "");
        if (!n || !t || (rc = kiln_vec_push(cols, n, err)) || (rc = kiln_vec_push(types, t, err))) {
            kiln_free(n);
            kiln_free(t);
            rc = rc ? rc : KILN_OOM(err);
        }
    }
    sqlite3_finalize(st);
    *ok = !rc;
    return rc;
}

/* RFC 4180 CSV text -> rows of cells (row 0 the header). */
static int csv_parse(const char *s, strvv *rows, kiln_err *err)
{
    strv row = {0};
    kiln_buf cell;
    kiln_buf_init(&cell, 0);
    int rc = 0, quoted = 0, any = 0;
    for (const char *q = s;; q++) {
        char ch = *q;
        if (quoted) {
            if (!ch)
                return kiln_err_set(err, KILN_EFORMAT, "unterminated quote in CSV rows");
            if (ch == '"' && q[1] == '"') {
                rc = kiln_buf_append(&cell, "\"", 1, err);
                q++;
            } else if (ch == '"')
                quoted = 0;
            else
                rc = kiln_buf_append(&cell, q, 1, err);
        } else if (ch == '"') {
            quoted = 1;
            any = 1;
        } else if (ch == ',' || ch == '\n' || !ch) {
            char *c = kiln_buf_detach(&cell, NULL);
            if (!c && !(c = kiln_strdup("")))
                rc = KILN_OOM(err);
            /* trim the spaces YAML block text leaves around cells */
            size_t b = 0, e = c ? strlen(c) : 0;
            while (c && c[b] == ' ')
                b++;
            while (c && e > b && (c[e - 1] == ' ' || c[e - 1] == '\r'))
                e--;
            if (c) {
                memmove(c, c + b, e - b);
                c[e - b] = 0;
            }
            if (!rc && (rc = kiln_vec_push(&row, c, err)))
                kiln_free(c);
            if (c && c[0])
                any = 1;
            if (ch != ',') {
                if (any || row.len > 1) {
                    if ((rc = kiln_vec_push(rows, row, err)))
                        strv_free(&row);
                } else
                    strv_free(&row);
                memset(&row, 0, sizeof row);
                any = 0;
            }
            kiln_buf_init(&cell, 0);
            if (!ch || rc)
                break;
        } else {
            rc = kiln_buf_append(&cell, q, 1, err);
        }
        if (rc)
            break;
    }
    kiln_buf_free(&cell);
    strv_free(&row);
    return rc;
}

static void csv_free(strvv *rows)
{
    for (size_t i = 0; i < rows->len; i++)
        strv_free(&rows->items[i]);
    kiln_vec_free(rows);
}

static void bind_text_typed(sqlite3_stmt *st, int i, const char *v)
{
    char *e;
    if (!*v || !strcmp(v, "null") || !strcmp(v, "NULL"))
        sqlite3_bind_null(st, i);
    else if (kiln_models__is_int_text(v) && strlen(v) < 19)
        sqlite3_bind_int64(st, i, strtoll(v, NULL, 10));
    else if ((strtod(v, &e), !*e) && strspn(v, "0123456789.eE+-") == strlen(v))
        sqlite3_bind_double(st, i, strtod(v, NULL));
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static int read_fixture(kiln_project *p, const km_fix *f, char **text, kiln_err *err)
{
    for (size_t i = 0; i < p->test_paths.len; i++) {
        char *path = kiln_sprintf("%s/%s/fixtures/%s.%s", p->dir, p->test_paths.items[i], f->fixture, f->format);
        size_t len;
        if (!path)
            return KILN_OOM(err);
        kiln_err e = {0};
        int rc = kiln_file_read(path, 64u << 20, text, &len, &e);
        kiln_free(path);
        if (!rc)
            return 0;
    }
    return kiln_err_set(err, KILN_ENOTFOUND, "fixture '%s.%s' not found under %s/fixtures/", f->fixture, f->format,
                        p->test_paths.len ? p->test_paths.items[0] : "tests");
}

/* Load fixture f into temp table `tab`. known: the real relation's columns
 * (and types) when it exists, so rows may leave columns out. */
static int load_fixture(kiln_project *p, sqlite3 *db, const km_fix *f, const char *tab, const strv *known,
                        const strv *ktypes, kiln_err *err)
{
    int rc = 0;
    char *text = NULL;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    strv cols = {0};
    strvv csv = {0};
    sqlite3_stmt *st = NULL;
    if (f->fixture && (rc = read_fixture(p, f, &text, err)))
        return rc;
    const char *body = text ? text : f->rows && f->rows->type == KM_Y_SCALAR ? f->rows->s : NULL;
    if (!strcmp(f->format, "sql")) {
        if (!body)
            return kiln_err_set(err, KILN_EFORMAT, "format sql needs rows (a select) or a fixture");
        rc = kiln_buf_printf(&b, err, "create temp table \"%s\" as select * from (\n%s\n)", tab, body);
        if (!rc)
            rc = exec1(db, b.data, err);
        goto done;
    }
    /* columns: the relation's, else every column the rows name */
    for (size_t i = 0; known && i < known->len && !rc; i++) {
        char *c = kiln_strdup(known->items[i]);
        if (!c || (rc = kiln_vec_push(&cols, c, err)))
            rc = rc ? rc : KILN_OOM(err), kiln_free(c);
    }
    if (!strcmp(f->format, "csv") && body) {
        if ((rc = csv_parse(body, &csv, err)))
            goto done;
    }
    strv names = {0}; /* the columns the rows give */
    if (!strcmp(f->format, "csv")) {
        for (size_t i = 0; csv.len && i < csv.items[0].len && !rc; i++) {
            char *c = kiln_strdup(csv.items[0].items[i]);
            if (!c || (rc = kiln_vec_push(&names, c, err)))
                rc = rc ? rc : KILN_OOM(err), kiln_free(c);
        }
    } else {
        for (size_t r = 0; f->rows && r < f->rows->n && !rc; r++) {
            const km_yaml *row = f->rows->kids[r];
            for (size_t k = 0; k + 1 < row->n && !rc; k += 2)
                if (strv_find(&names, row->kids[k]->s) < 0) {
                    char *c = kiln_strdup(row->kids[k]->s);
                    if (!c || (rc = kiln_vec_push(&names, c, err)))
                        rc = rc ? rc : KILN_OOM(err), kiln_free(c);
                }
        }
    }
    for (size_t i = 0; i < names.len && !rc; i++) {
        if (strv_find(&cols, names.items[i]) >= 0)
            continue;
        if (known) {
            rc = kiln_err_set(
                err, KILN_EFORMAT, "a row gives column '%s', which the input does not have (it has %zu: %s%s)",
                names.items[i], known->len, known->len ? known->items[0] : "", known->len > 1 ? ", ..." : "");
            break;
        }
        char *c = kiln_strdup(names.items[i]);
        if (!c || (rc = kiln_vec_push(&cols, c, err)))
            rc = rc ? rc : KILN_OOM(err), kiln_free(c);
    }
    if (!rc && !cols.len)
        rc = kiln_err_set(err, KILN_EFORMAT, "the input has no columns: give at least one row");
    if (!rc)
        rc = kiln_buf_printf(&b, err, "create temp table \"%s\" (", tab);
    for (size_t i = 0; i < cols.len && !rc; i++)
        rc = kiln_buf_printf(&b, err, "%s\"%s\" %s", i ? ", " : "", cols.items[i],
                             ktypes && i < ktypes->len ? ktypes->items[i] : "");
    if (!rc && !(rc = kiln_buf_printf(&b, err, ")")))
        rc = exec1(db, b.data, err);
    /* rows: one insert of the named columns per row */
    size_t nrows = !strcmp(f->format, "csv") ? (csv.len ? csv.len - 1 : 0) : f->rows ? f->rows->n : 0;
    for (size_t r = 0; r < nrows && !rc; r++) {
        b.len = 0;
        const km_yaml *row = !strcmp(f->format, "csv") ? NULL : f->rows->kids[r];
        strv *crow = row ? NULL : &csv.items[r + 1];
        size_t nc = row ? row->n / 2 : names.len;
        if (crow && crow->len != names.len) {
            rc = kiln_err_set(err, KILN_EFORMAT, "CSV row %zu has %zu cells, the header %zu", r + 1, crow->len,
                              names.len);
            break;
        }
        rc = kiln_buf_printf(&b, err, "insert into temp.\"%s\" (", tab);
        for (size_t k = 0; k < nc && !rc; k++)
            rc = kiln_buf_printf(&b, err, "%s\"%s\"", k ? ", " : "", row ? row->kids[2 * k]->s : names.items[k]);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ") values (");
        for (size_t k = 0; k < nc && !rc; k++)
            rc = kiln_buf_printf(&b, err, "%s?", k ? ", " : "");
        if (!rc)
            rc = kiln_buf_printf(&b, err, ")");
        if (!rc && sqlite3_prepare_v2(db, b.data, -1, &st, NULL) != SQLITE_OK)
            rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        for (size_t k = 0; k < nc && !rc; k++) {
            if (crow) {
                bind_text_typed(st, (int)k + 1, crow->items[k]);
                continue;
            }
            const km_yaml *v = row->kids[2 * k + 1];
            kj_val kv;
            if (v->type != KM_Y_SCALAR) {
                rc = kiln_err_set(err, KILN_EFORMAT, "%u:%u: a cell must be a scalar", v->line, v->col);
                break;
            }
            if ((rc = kiln_models__yaml_to_kj(v, &kv, err)))
                break;
            if (kv.t == KJ_NONE)
                sqlite3_bind_null(st, (int)k + 1);
            else if (kv.t == KJ_BOOL)
                sqlite3_bind_int(st, (int)k + 1, kv.u.b);
            else if (kv.t == KJ_INT)
                sqlite3_bind_int64(st, (int)k + 1, kv.u.i);
            else if (kv.t == KJ_FLOAT)
                sqlite3_bind_double(st, (int)k + 1, kv.u.f);
            else
                sqlite3_bind_text(st, (int)k + 1, v->s, -1, SQLITE_TRANSIENT);
            kj_release(kv);
        }
        if (!rc && sqlite3_step(st) != SQLITE_DONE)
            rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        sqlite3_finalize(st);
        st = NULL;
    }
    strv_free(&names);
done:
    sqlite3_finalize(st);
    csv_free(&csv);
    strv_free(&cols);
    kiln_buf_free(&b);
    kiln_free(text);
    return rc;
}

/* ------------------------------------------------------------ comparing */

/* One cell as text that compares equal when dbt's cast would make it equal. */
static int cell_text(sqlite3_stmt *st, int i, kiln_buf *out, kiln_err *err)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL: return kiln_buf_printf(out, err, "null");
    case SQLITE_INTEGER: return kiln_buf_printf(out, err, "%lld", (long long)sqlite3_column_int64(st, i));
    case SQLITE_FLOAT: {
        double d = sqlite3_column_double(st, i);
        if (d == (double)(long long)d && d < 9e15 && d > -9e15)
            return kiln_buf_printf(out, err, "%lld", (long long)d);
        return kiln_buf_printf(out, err, "%.15g", d);
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(st, i);
        return kiln_buf_printf(out, err, "%s", t ? t : "");
    }
    }
}

typedef struct rowset {
    strv cols;
    strv rows; /* each: cells joined by \x1f */
} rowset;

static void rowset_free(rowset *r)
{
    strv_free(&r->cols);
    strv_free(&r->rows);
}

/* Rows of query sql, only the columns `want` (all when NULL), in want's order. */
static int collect(sqlite3 *db, const char *sql, const strv *want, rowset *out, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    int rc = kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &eo, err);
    if (rc)
        return rc;
    if (!st)
        return kiln_err_set(err, KILN_EFORMAT, "the model's SQL is empty");
    int nc = sqlite3_column_count(st);
    int map[512];
    size_t nw = want ? want->len : (size_t)nc;
    if (nw > 512) {
        sqlite3_finalize(st);
        return kiln_err_set(err, KILN_ELIMIT, "more than 512 columns");
    }
    for (size_t k = 0; k < nw && !rc; k++) {
        map[k] = -1;
        const char *w = want ? want->items[k] : sqlite3_column_name(st, (int)k);
        for (int i = 0; i < nc; i++)
            if (!strcasecmp(sqlite3_column_name(st, i), w))
                map[k] = i;
        if (map[k] < 0) {
            kiln_buf have;
            kiln_buf_init(&have, 0);
            for (int i = 0; i < nc && !rc; i++)
                rc = kiln_buf_printf(&have, err, "%s%s", i ? ", " : "", sqlite3_column_name(st, i));
            if (!rc)
                rc = kiln_err_set(err, KILN_EFORMAT, "expected column '%s' is not in the model's output (%s)", w,
                                  have.data ? have.data : "");
            kiln_buf_free(&have);
            break;
        }
        char *c = kiln_strdup(w);
        if (!c || (rc = kiln_vec_push(&out->cols, c, err)))
            rc = rc ? rc : KILN_OOM(err), kiln_free(c);
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        b.len = 0;
        for (size_t k = 0; k < nw && !rc; k++) {
            if (k)
                rc = kiln_buf_append(&b, "\x1f", 1, err);
            if (!rc)
                rc = cell_text(st, map[k], &b, err);
        }
        char *row = rc ? NULL : kiln_strndup(b.data ? b.data : "", b.len);
        if (!rc && (!row || (rc = kiln_vec_push(&out->rows, row, err))))
            rc = rc ? rc : KILN_OOM(err), kiln_free(row);
    }
    if (!rc && s != SQLITE_DONE)
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
    kiln_buf_free(&b);
    sqlite3_finalize(st);
    return rc;
}

static int cmp_row(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int append_row(kiln_buf *d, const char *mark, const char *row, kiln_err *err)
{
    int rc = kiln_buf_printf(d, err, "%s", mark);
    for (const char *q = row; *q && !rc; q++)
        rc = *q == '\x1f' ? kiln_buf_append(d, ",", 1, err) : kiln_buf_append(d, q, 1, err);
    return rc ? rc : kiln_buf_append(d, "\n", 1, err);
}

/* Multiset comparison; on a difference, *diff gets dbt's style:
 *   @@,id,total        header
 *   ---,1,10           expected, missing from the actual rows
 *   +++,1,12           actual, not expected
 *      ,2,5            in both */
static int compare(rowset *exp, rowset *act, kiln_buf *diff, int *equal, kiln_err *err)
{
    kiln_sort(exp->rows.items, exp->rows.len, sizeof(char *), cmp_row);
    kiln_sort(act->rows.items, act->rows.len, sizeof(char *), cmp_row);
    size_t i = 0, j = 0;
    int rc = kiln_buf_printf(diff, err, "@@");
    for (size_t k = 0; k < exp->cols.len && !rc; k++)
        rc = kiln_buf_printf(diff, err, ",%s", exp->cols.items[k]);
    if (!rc)
        rc = kiln_buf_append(diff, "\n", 1, err);
    *equal = 1;
    while (!rc && (i < exp->rows.len || j < act->rows.len)) {
        int c = i >= exp->rows.len ? 1 : j >= act->rows.len ? -1 : strcmp(exp->rows.items[i], act->rows.items[j]);
        if (c == 0) {
            rc = append_row(diff, "   ,", exp->rows.items[i], err);
            i++, j++;
        } else if (c < 0) {
            rc = append_row(diff, "---,", exp->rows.items[i++], err);
            *equal = 0;
        } else {
            rc = append_row(diff, "+++,", act->rows.items[j++], err);
            *equal = 0;
        }
    }
    return rc;
}

/* expected rows: a fixture loaded into temp "__ut_expect", selected back */
static int expected_rows(kiln_project *p, sqlite3 *db, km_ut *u, rowset *out, kiln_err *err)
{
    int rc = load_fixture(p, db, &u->expect, "__ut_expect", NULL, NULL, err);
    if (!rc)
        rc = collect(db, "select * from temp.\"__ut_expect\"", NULL, out, err);
    return rc;
}

/* ------------------------------------------------------------ final state (beyond dbt) */

static int cfg_list(const km_node *n, const char *key, strv *out, kiln_err *err)
{
    kj_val v = kiln_models__cfg(n, key);
    int rc = 0;
    if (v.t == KJ_STR) {
        /* "a" or "a, b" */
        const char *s = v.u.s->p;
        while (*s && !rc) {
            size_t l = strcspn(s, ",");
            size_t b = 0, e = l;
            while (b < e && s[b] == ' ')
                b++;
            while (e > b && s[e - 1] == ' ')
                e--;
            char *c = kiln_strndup(s + b, e - b);
            if (!c || (rc = kiln_vec_push(out, c, err)))
                rc = rc ? rc : KILN_OOM(err), kiln_free(c);
            s += l + (s[l] == ',');
        }
    } else if (v.t == KJ_LIST) {
        for (size_t i = 0; i < v.u.l->len && !rc; i++)
            if (v.u.l->items[i].t == KJ_STR) {
                char *c = kiln_strdup(v.u.l->items[i].u.s->p);
                if (!c || (rc = kiln_vec_push(out, c, err)))
                    rc = rc ? rc : KILN_OOM(err), kiln_free(c);
            }
    } else if (v.t == KJ_DICT) { /* BigQuery's partition_by {field: x} */
        kj_val *f = kj_dict_getc(v, "field");
        char *c = f && f->t == KJ_STR ? kiln_strdup(f->u.s->p) : NULL;
        if (c && (rc = kiln_vec_push(out, c, err)))
            kiln_free(c);
    }
    return rc;
}

/* The table after the model's new rows (temp __ut_new) are applied to
 * `this` (temp tab) with the model's incremental strategy, as a select. */
static int final_sql(km_node *n, sqlite3 *db, const char *tab, kiln_buf *out, kiln_err *err)
{
    strv tcols = {0}, ttypes = {0}, ncols = {0}, ntypes = {0}, keys = {0}, upd = {0}, exc = {0}, part = {0};
    int ok, rc;
    char *probe = kiln_sprintf("select * from temp.\"%s\"", tab);
    if (!probe)
        return KILN_OOM(err);
    rc = probe_cols(db, probe, &tcols, &ttypes, &ok, err);
    kiln_free(probe);
    if (!rc)
        rc = probe_cols(db, "select * from temp.\"__ut_new\"", &ncols, &ntypes, &ok, err);
    if (!rc)
        rc = cfg_list(n, "unique_key", &keys, err);
    const char *strat = kiln_models__cfg_str(n, "incremental_strategy", keys.len ? "delete+insert" : "append");
    if (!rc && !strcmp(strat, "merge"))
        rc = cfg_list(n, "merge_update_columns", &upd, err) || cfg_list(n, "merge_exclude_columns", &exc, err);
    if (!rc && !strcmp(strat, "insert_overwrite"))
        rc = cfg_list(n, "partition_by", &part, err);
    if (rc)
        goto done;
    /* the new rows with the table's columns */
    kiln_buf nw;
    kiln_buf_init(&nw, 0);
    rc = kiln_buf_printf(&nw, err, "select ");
    for (size_t i = 0; i < tcols.len && !rc; i++)
        rc = kiln_buf_printf(&nw, err, "%s%s as \"%s\"", i ? ", " : "",
                             strv_find(&ncols, tcols.items[i]) >= 0 ? tcols.items[i] : "null", tcols.items[i]);
    if (!rc)
        rc = kiln_buf_printf(&nw, err, " from temp.\"__ut_new\"");
    const strv *match = !strcmp(strat, "insert_overwrite") ? &part : &keys;
    if (rc)
        (void)0;
    else if (!strcmp(strat, "append") || (!strcmp(strat, "insert_overwrite") && !part.len && 0))
        rc = kiln_buf_printf(out, err, "select * from temp.\"%s\" union all %s", tab, nw.data);
    else if (!strcmp(strat, "insert_overwrite") && !part.len)
        rc = kiln_buf_printf(out, err, "%s", nw.data);
    else if (!strcmp(strat, "delete+insert") || !strcmp(strat, "insert_overwrite") ||
             (!strcmp(strat, "merge") && !upd.len && !exc.len)) {
        if (!match->len)
            rc = kiln_err_set(err, KILN_EINVAL, "incremental_strategy %s needs %s", strat,
                              match == &part ? "partition_by" : "unique_key");
        if (!rc)
            rc = kiln_buf_printf(
                out, err, "select * from temp.\"%s\" o where not exists (select 1 from temp.\"__ut_new\" x where ",
                tab);
        for (size_t i = 0; i < match->len && !rc; i++)
            rc =
                kiln_buf_printf(out, err, "%sx.\"%s\" is o.\"%s\"", i ? " and " : "", match->items[i], match->items[i]);
        if (!rc)
            rc = kiln_buf_printf(out, err, ") union all %s", nw.data);
    } else if (!strcmp(strat, "merge")) {
        /* matched rows: updated columns from the new row, the others kept */
        rc = kiln_buf_printf(
            out, err, "select * from temp.\"%s\" o where not exists (select 1 from temp.\"__ut_new\" x where ", tab);
        for (size_t i = 0; i < keys.len && !rc; i++)
            rc = kiln_buf_printf(out, err, "%sx.\"%s\" is o.\"%s\"", i ? " and " : "", keys.items[i], keys.items[i]);
        if (!rc)
            rc = kiln_buf_printf(out, err, ") union all select ");
        for (size_t i = 0; i < tcols.len && !rc; i++) {
            const char *c = tcols.items[i];
            int updated = strv_find(&ncols, c) >= 0 && (!upd.len || strv_find(&upd, c) >= 0) && strv_find(&exc, c) < 0;
            rc = kiln_buf_printf(out, err, "%scase when o.rowid is null then %s%s%s else %s%s%s end as \"%s\"",
                                 i ? ", " : "", strv_find(&ncols, c) >= 0 ? "x.\"" : "",
                                 strv_find(&ncols, c) >= 0 ? c : "null", strv_find(&ncols, c) >= 0 ? "\"" : "",
                                 updated ? "x.\"" : "o.\"", c, "\"", c);
        }
        if (!rc)
            rc = kiln_buf_printf(out, err, " from temp.\"__ut_new\" x left join temp.\"%s\" o on ", tab);
        for (size_t i = 0; i < keys.len && !rc; i++)
            rc = kiln_buf_printf(out, err, "%sx.\"%s\" is o.\"%s\"", i ? " and " : "", keys.items[i], keys.items[i]);
    } else
        rc = kiln_err_set(err, KILN_EINVAL, "incremental_strategy '%s' has no final state in unit tests", strat);
    kiln_buf_free(&nw);
done:
    strv_free(&tcols), strv_free(&ttypes), strv_free(&ncols), strv_free(&ntypes);
    strv_free(&keys), strv_free(&upd), strv_free(&exc), strv_free(&part);
    return rc;
}

/* ------------------------------------------------------------ running */

static void drop_temps(sqlite3 *db, km_ut *u)
{
    char sql[80];
    for (size_t i = 0; i < u->given.len; i++) {
        snprintf(sql, sizeof sql, "drop table if exists temp.\"__ut_in_%zu\"", i);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_exec(db, "drop table if exists temp.\"__ut_expect\"", NULL, NULL, NULL);
    sqlite3_exec(db, "drop table if exists temp.\"__ut_new\"", NULL, NULL, NULL);
}

/* 0 with *equal and *diff, or an error (the test ends in ERROR). */
static int run_one(kiln_project *p, sqlite3 *db, km_ut *u, kiln_buf *diff, int *equal, kiln_err *err)
{
    int rc = 0;
    kiln_buf sql, q;
    kiln_buf_init(&sql, 0);
    kiln_buf_init(&q, 0);
    rowset exp = {0}, act = {0};
    drop_temps(db, u);
    for (size_t i = 0; i < u->given.len && !rc; i++) {
        km_fix *f = &u->given.items[i];
        km_node *in = p->nodes.items[f->node < 0 ? (long)u->model : f->node];
        strv cols = {0}, types = {0};
        int ok = 0;
        /* the real relation's columns, when it exists */
        int ephemeral = in->kind == KM_MODEL && !strcmp(kiln_models__cfg_str(in, "materialized", ""), "ephemeral");
        char *rel = ephemeral ? NULL : kiln_models__relation(p, in);
        char *probe = rel ? kiln_sprintf("select * from %s limit 0", rel) : NULL;
        if (probe && kiln_models__relation_exists(p, in))
            rc = probe_cols(db, probe, &cols, &types, &ok, err);
        kiln_free(probe);
        kiln_free(rel);
        char tab[32];
        snprintf(tab, sizeof tab, "__ut_in_%zu", i);
        if (!rc && (rc = load_fixture(p, db, f, tab, ok ? &cols : NULL, ok ? &types : NULL, err)))
            snprintf(err->msg + strlen(err->msg), sizeof err->msg - strlen(err->msg), " (given %s)", f->input);
        strv_free(&cols);
        strv_free(&types);
    }
    if (!rc)
        rc = render_model(p, u, &sql, err);
    kiln_free(u->last_sql); /* run_results' compiled_code */
    u->last_sql = !rc && sql.data ? kiln_strdup(sql.data) : NULL;
    if (!rc)
        rc = expected_rows(p, db, u, &exp, err);
    if (!rc && u->final_state &&
        strcmp(kiln_models__cfg_str(p->nodes.items[u->model], "materialized", ""), "incremental"))
        rc = kiln_err_set(err, KILN_EINVAL, "expect_state: final is for incremental models");
    if (!rc && u->final_state) {
        int this_f = -1;
        for (size_t i = 0; i < u->given.len; i++)
            if (u->given.items[i].node == -1)
                this_f = (int)i;
        char tab[32];
        snprintf(tab, sizeof tab, "__ut_in_%d", this_f);
        if (!(rc = kiln_buf_printf(&q, err, "create temp table \"__ut_new\" as select * from (\n%s\n)", sql.data)))
            rc = exec1(db, q.data, err);
        q.len = 0;
        if (!rc)
            rc = final_sql(p->nodes.items[u->model], db, tab, &q, err);
    } else if (!rc)
        rc = kiln_buf_printf(&q, err, "select * from (\n%s\n)", sql.data ? sql.data : "");
    if (!rc)
        rc = collect(db, q.data, &exp.cols, &act, err);
    if (!rc)
        rc = compare(&exp, &act, diff, equal, err);
    drop_temps(db, u);
    rowset_free(&exp);
    rowset_free(&act);
    kiln_buf_free(&sql);
    kiln_buf_free(&q);
    return rc;
}

static void ut_line(FILE *out, size_t pos, size_t total, const char *left, const char *right)
{
    char buf[600];
    int n = snprintf(buf, sizeof buf, "%zu of %zu %s ", pos, total, left);
    fputs(buf, out);
    for (int i = n; i < 76; i++)
        fputc('.', out);
    fprintf(out, " [%s]\n", right);
    fflush(out);
}

static void ut_result(km_ut *u, size_t ui, const char *st, const char *msg, km_result *res, size_t *nres)
{
    u->last_st = st;
    kiln_free(u->last_msg);
    u->last_msg = msg ? kiln_strdup(msg) : NULL;
    if (!res)
        return;
    km_result *r = &res[(*nres)++];
    memset(r, 0, sizeof *r);
    r->is_unit = 1;
    r->unit_test = (long)ui;
    r->node = u->model;
    r->status = st;
    if (strcmp(st, "skipped")) {
        r->started = r->compiled = u->last_t0;
        r->finished = u->last_t1;
        r->seconds = u->last_dt;
        r->failures = !strcmp(st, "fail");
        snprintf(r->thread, sizeof r->thread, "Thread-1");
    }
}

int kiln_models__ut_run_model(kiln_project *p, sqlite3 *db, const char *verb, size_t idx, int skip, FILE *out,
                              size_t *pos, size_t total, int *npass, int *nfail, int *nskip, km_result *res,
                              size_t *nres, kiln_err *err)
{
    if (!p->unit_tests)
        return 0;
    if (!p->ut_block && !(p->ut_block = kiln_calloc(p->nodes.len ? p->nodes.len : 1, 1)))
        return KILN_OOM(err);
    km_node *m = p->nodes.items[idx];
    for (size_t i = 0; i < p->unit_tests->items.len; i++) {
        km_ut *u = p->unit_tests->items.items[i];
        if (u->model != idx || !runs_under(u, verb))
            continue;
        char left[512], right[128];
        ++*pos;
        if (skip) {
            snprintf(left, sizeof left, "SKIP %s::%s", m->name, u->name);
            ut_line(out, *pos, total, left, "SKIP");
            ++*nskip;
            p->ut_block[idx] = 1;
            ut_result(u, i, "skipped", NULL, res, nres);
            continue;
        }
        double t0 = kiln_mono_seconds();
        u->last_t0 = kiln_now_micros();
        kiln_buf diff;
        kiln_buf_init(&diff, 0);
        kiln_err e = {0};
        int equal = 0;
        int rc = run_one(p, db, u, &diff, &equal, &e);
        double dt = kiln_mono_seconds() - t0;
        u->last_t1 = kiln_now_micros();
        u->last_dt = dt;
        if (rc == KILN_ENOMEM) {
            kiln_buf_free(&diff);
            *err = e;
            return rc;
        }
        if (rc) {
            snprintf(left, sizeof left, "ERROR %s::%s", m->name, u->name);
            snprintf(right, sizeof right, "ERROR in %.2fs", dt);
            ut_line(out, *pos, total, left, right);
            fprintf(out, "  Error in unit_test %s (%s)\n    %s\n", u->name, u->file, e.msg);
            ++*nfail;
            p->ut_block[idx] = 1;
            ut_result(u, i, "error", e.msg, res, nres);
        } else if (!equal) {
            snprintf(left, sizeof left, "FAIL 1 %s::%s", m->name, u->name);
            snprintf(right, sizeof right, "FAIL 1 in %.2fs", dt);
            ut_line(out, *pos, total, left, right);
            fprintf(out, "  Failure in unit_test %s (%s)\n  actual differs from expected:\n\n", u->name, u->file);
            for (const char *q = diff.data; q && *q;) {
                size_t l = strcspn(q, "\n");
                fprintf(out, "  %.*s\n", (int)l, q);
                q += l + (q[l] == '\n');
            }
            fputc('\n', out);
            ++*nfail;
            p->ut_block[idx] = 1;
            char *msg = kiln_sprintf("actual differs from expected:\n\n%s", diff.data ? diff.data : "");
            ut_result(u, i, "fail", msg, res, nres);
            kiln_free(msg);
        } else {
            snprintf(left, sizeof left, "PASS %s::%s", m->name, u->name);
            snprintf(right, sizeof right, "PASS in %.2fs", dt);
            ut_line(out, *pos, total, left, right);
            ++*npass;
            ut_result(u, i, "pass", NULL, res, nres);
        }
        kiln_buf_free(&diff);
    }
    return 0;
}

/* a unit test's run_results.json entry, in dbt's shape (unique_id
 * unit_test.<project>.<model>.<name>, status pass/fail/error/skipped,
 * failures 1 on a mismatch, the diff as message, the model's SQL rendered
 * over the inputs as compiled_code). */
json_t *kiln_models__ut_result_json(const kiln_project *p, const km_result *r)
{
    km_ut *u = p->unit_tests->items.items[r->unit_test];
    int error = strcmp(r->status, "error") == 0;
    return kiln_models__result_json(r, error, u->last_msg && r->started ? u->last_msg : NULL,
                                    r->started && !error ? json_integer(r->failures) : json_null(), u->unique_id,
                                    u->last_sql != NULL, u->last_sql, NULL);
}

/* ------------------------------------------------------------ manifest */

static json_t *fixture_json(const km_fix *f)
{
    json_t *o = json_object();
    kj_val rows = kj_none();
    if (f->rows && f->rows->type == KM_Y_SEQ) {
        kiln_err e = {0};
        if (kiln_models__yaml_to_kj(f->rows, &rows, &e))
            rows = kj_none();
    }
    json_object_set_new(o, "rows",
                        f->rows && f->rows->type == KM_Y_SCALAR ? json_string(f->rows->s) : kiln_models__kj_json(rows));
    kj_release(rows);
    json_object_set_new(o, "format", json_string(f->format));
    json_object_set_new(o, "fixture", f->fixture ? json_string(f->fixture) : json_null());
    return o;
}

json_t *kiln_models__ut_manifest(const kiln_project *p)
{
    json_t *all = json_object();
    for (size_t i = 0; p->unit_tests && all && i < p->unit_tests->items.len; i++) {
        km_ut *u = p->unit_tests->items.items[i];
        km_node *m = p->nodes.items[u->model];
        json_t *o = json_object(), *given = json_array(), *fqn = json_array(), *deps = json_array();
        for (size_t k = 0; k < u->given.len; k++) {
            json_t *g = fixture_json(&u->given.items[k]);
            json_object_set_new(g, "input", json_string(u->given.items[k].input));
            json_array_append_new(given, g);
        }
        /* fqn: the model's fqn, then the test's name (dbt's) */
        const char *s = m->fqn;
        while (s && *s) {
            size_t l = strcspn(s, ".");
            json_array_append_new(fqn, json_stringn(s, l));
            s += l + (s[l] == '.');
        }
        json_array_append_new(fqn, json_string(u->name));
        json_array_append_new(deps, json_string(m->unique_id));
        json_t *cfg = kiln_models__kj_json(u->config);
        if (!json_object_get(cfg, "tags"))
            json_object_set_new(cfg, "tags", json_array());
        if (!json_object_get(cfg, "meta"))
            json_object_set_new(cfg, "meta", json_object());
        json_t *ov = u->overrides
                         ? json_pack("{s:o,s:o,s:o}", "vars", kiln_models__kj_json(u->o_vars), "macros",
                                     kiln_models__kj_json(u->o_macros), "env_vars", kiln_models__kj_json(u->o_envs))
                         : json_null();
        char *sch = kiln_models__node_schema(p, m);
        json_object_set_new(o, "model", json_string(m->name));
        json_object_set_new(o, "given", given);
        json_object_set_new(o, "expect", fixture_json(&u->expect));
        json_object_set_new(o, "name", json_string(u->name));
        json_object_set_new(o, "resource_type", json_string("unit_test"));
        json_object_set_new(o, "package_name", json_string(p->name));
        json_object_set_new(o, "path", json_string(u->file));
        json_object_set_new(o, "original_file_path", json_string(u->file));
        json_object_set_new(o, "unique_id", json_string(u->unique_id));
        json_object_set_new(o, "fqn", fqn);
        json_object_set_new(o, "description", json_string(u->description ? u->description : ""));
        json_object_set_new(o, "overrides", ov);
        json_object_set_new(o, "depends_on", json_pack("{s:[],s:o}", "macros", "nodes", deps));
        json_object_set_new(o, "config", cfg);
        json_object_set_new(o, "schema", sch ? json_string(sch) : json_null());
        kiln_free(sch);
        json_object_set_new(all, u->unique_id, o);
    }
    return all;
}
