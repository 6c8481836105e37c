/*
 * compile.c - rendering a project's nodes with dbt's Jinja context: ref,
 * source, config, var, env_var, target, this, is_incremental, execute,
 * run_started_at, return, log, exceptions, adapter.dispatch, doc. Rendering
 * records each node's parents (its refs and sources), so the dependency
 * graph comes from the rendered code, as in dbt.
 *
 * Generic tests render by calling their test macro with the YAML
 * arguments; an argument that is a string like "ref('x')" is rendered as
 * an expression first (dbt's rule for env_var/ref/var/source/doc).
 */
#include "models/project.h"

#include <regex.h>
#include <stdlib.h>

typedef struct rctx {
    kiln_project *p;
    size_t idx;
    km_node *n;
    int execute; /* 1 while compiling/running (dbt's `execute`) */
} rctx;

/* ------------------------------------------------------------ relations */

typedef struct relation {
    char *schema, *identifier;
    const char *branch; /* flow3: read/written at Iceberg branch (the project's opts.branch), or NULL */
} relation;

static int rel_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    relation *r = ud;
    if (!strcmp(name, "schema"))
        *out = kj_str_c(r->schema);
    else if (!strcmp(name, "identifier") || !strcmp(name, "name") || !strcmp(name, "table"))
        *out = kj_str_c(r->identifier);
    else if (!strcmp(name, "database"))
        *out = kj_str_c("");
    else {
        *out = kj_undef();
        return 0;
    }
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int rel_str(kj_in *in, void *ud, kiln_buf *out)
{
    relation *r = ud;
    if (!r->schema[0])
        return kiln_buf_append(out, r->identifier, strlen(r->identifier), kj_in_err(in));
    if (r->branch) /* the SQL layer's "table@ref" name */
        return kiln_buf_printf(out, kj_in_err(in), "%s.\"%s@%s\"", r->schema, r->identifier, r->branch);
    return kiln_buf_printf(out, kj_in_err(in), "%s.%s", r->schema, r->identifier);
}

static void rel_free(void *ud)
{
    relation *r = ud;
    kiln_free(r->schema);
    kiln_free(r->identifier);
    kiln_free(r);
}

static const kj_class rel_class = {"Relation", rel_getattr, rel_str, rel_free, NULL, NULL};

kj_val kiln_models__relation_new(const char *schema, const char *identifier)
{
    relation *r = kiln_calloc(1, sizeof(*r));
    if (!r)
        return kj_undef();
    r->schema = kiln_strdup(schema);
    r->identifier = kiln_strdup(identifier);
    if (!r->schema || !r->identifier) {
        rel_free(r);
        return kj_undef();
    }
    return kj_obj_new(&rel_class, r);
}

static kj_val node_relation(kiln_project *p, km_node *n)
{
    if (n->pp_ident) /* a node from the partial-parse cache */
        return kiln_models__relation_new(n->pp_schema, n->pp_ident);
    if (kiln_models__inlined(p, n)) {
        char *cte = kiln_sprintf("__dbt__cte__%s", n->name);
        kj_val v = cte ? kiln_models__relation_new("", cte) : kj_undef();
        kiln_free(cte);
        return v;
    }
    char *schema = kiln_models__node_schema(p, n);
    const char *ident = n->kind == KM_SOURCE ? n->identifier : kiln_models__cfg_str(n, "alias", n->name);
    kj_val v = schema ? kiln_models__relation_new(schema, ident) : kj_undef();
    kiln_free(schema);
    /* flow3: a build on a branch reads (and writes) this relation there */
    for (size_t i = 0; p->on_branch && !kj_oom(v) && i < p->nodes.len; i++)
        if (p->nodes.items[i] == n && p->on_branch[i])
            ((relation *)v.u.o->ud)->branch = p->opts.branch;
    return v;
}

/* ------------------------------------------------------------ context functions */

static int add_parent(rctx *c, size_t parent, kiln_err *err)
{
    km_node *n = c->n;
    for (size_t i = 0; i < n->parents.len; i++)
        if (n->parents.items[i] == parent)
            return 0;
    return kiln_vec_push(&n->parents, parent, err);
}

static int f_ref(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    kj_val name = a->npos >= 2 ? a->pos[1] : kj_arg(a, 0, NULL);
    if (name.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "ref() takes a model name (a string)");
    char why[400]; /* ref('m', v=N) and access */
    /* ref('pkg', 'x') names the package (or the root project); ref('x')
     * from a package's node looks in that package first, then as dbt's
     * root-first search */
    const char *pkg = a->npos >= 2 ? (a->pos[0].t == KJ_STR ? a->pos[0].u.s->p : "?") : c->n ? c->n->package : NULL;
    long idx = -1;
    if (pkg && strcmp(pkg, c->p->name)) {
        if (!kiln_models__package(c->p, pkg) && a->npos >= 2)
            return kj_fail(in, KILN_ENOTFOUND,
                           "ref('%s', '%s'): no package '%s' (this project is '%s'; packages are read from "
                           "dbt_packages/ and packages.yml's local: entries)",
                           pkg, name.u.s->p, pkg, c->p->name);
        static const char *const kinds[] = {"model", "seed", "snapshot"};
        for (int k = 0; k < 3 && idx < 0; k++) {
            char *id = kiln_sprintf("%s.%s.%s", kinds[k], pkg, name.u.s->p);
            if (!id)
                return KILN_OOM(kj_in_err(in));
            idx = kiln_models__find_id(c->p, id);
            kiln_free(id);
        }
        if (idx < 0 && a->npos >= 2)
            return kj_fail(in, KILN_ENOTFOUND,
                           "%s '%s' depends on a node named '%s' in package '%s' which was not found",
                           c->n->kind == KM_TEST ? "test" : "model", c->n->name, name.u.s->p, pkg);
    } else if (a->npos >= 2) { /* the root project's own name */
        static const char *const kinds[] = {"model", "seed", "snapshot"};
        for (int k = 0; k < 3 && idx < 0; k++) {
            char *id = kiln_sprintf("%s.%s.%s", kinds[k], c->p->name, name.u.s->p);
            if (!id)
                return KILN_OOM(kj_in_err(in));
            idx = kiln_models__find_id(c->p, id);
            kiln_free(id);
        }
    }
    if (idx < 0) {
        kj_val ver = kj_arg(a, 99, "v");
        idx = kiln_models__version_find(c->p, name.u.s->p, ver.t == KJ_UNDEF ? kj_arg(a, 99, "version") : ver, why,
                                        sizeof why);
        if (idx == -2)
            return kj_fail(in, KILN_ENOTFOUND, "%s", why);
        if (idx == -1)
            idx = kiln_models__find_name(c->p, name.u.s->p);
    }
    if (idx >= 0 && kiln_models__access_check(c->p, c->n, (size_t)idx, why, sizeof why))
        return kj_fail(in, KILN_EINVAL, "%s", why);
    if (idx < 0)
        return kj_fail(in, KILN_ENOTFOUND, "%s '%s' depends on a node named '%s' which was not found",
                       c->n->kind == KM_TEST ? "test" : "model", c->n->name, name.u.s->p);
    int rc = add_parent(c, (size_t)idx, kj_in_err(in));
    if (rc)
        return rc;
    if (c->p->defer_rel && c->p->defer_rel[idx]) { /* --defer reads the state's relation */
        const char *d = c->p->defer_rel[idx], *dot = strchr(d, '.');
        char *sch = dot ? kiln_strndup(d, (size_t)(dot - d)) : kiln_strdup("");
        *out = sch ? kiln_models__relation_new(sch, dot ? dot + 1 : d) : kj_undef();
        kiln_free(sch);
        return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
    }
    *out = node_relation(c->p, c->p->nodes.items[idx]);
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int f_source(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    kj_val s = kj_arg(a, 0, "source_name"), t = kj_arg(a, 1, "table_name");
    if (s.t != KJ_STR || t.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "source() takes a source name and a table name");
    /* the node's own package's source, else the root project's, else any
     * package's (sources are global in dbt) */
    long idx = -1;
    for (long g = -2; idx < 0 && g < (long)c->p->packages.len; g++) {
        const char *owner = g == -2 ? c->n->package : g == -1 ? c->p->name : c->p->packages.items[g]->name;
        if (!owner)
            continue;
        char *id = kiln_sprintf("source.%s.%s.%s", owner, s.u.s->p, t.u.s->p);
        if (!id)
            return KILN_OOM(kj_in_err(in));
        idx = kiln_models__find_id(c->p, id);
        kiln_free(id);
    }
    if (idx < 0)
        return kj_fail(in, KILN_ENOTFOUND, "%s '%s' depends on a source named '%s.%s' which was not found",
                       c->n->kind == KM_TEST ? "test" : "model", c->n->name, s.u.s->p, t.u.s->p);
    int rc = add_parent(c, (size_t)idx, kj_in_err(in));
    if (rc)
        return rc;
    *out = node_relation(c->p, c->p->nodes.items[idx]);
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

int kiln_models__cfg_merge_dict(kj_val cfg, kj_val src, kiln_err *err); /* project.c */

static int f_config(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    int rc = 0;
    kj_val d = kj_dict_new();
    if (kj_oom(d))
        return KILN_OOM(kj_in_err(in));
    kj_val first = kj_arg(a, 0, NULL);
    if (first.t == KJ_DICT)
        rc = kiln_models__cfg_merge_dict(d, first, kj_in_err(in));
    for (size_t i = 0; i < a->nkw && !rc; i++)
        rc = kj_dict_setc(d, a->kwname[i], kj_retain(a->kw[i]), kj_in_err(in));
    if (!rc)
        rc = kiln_models__cfg_merge_dict(c->n->config, d, kj_in_err(in));
    kj_release(d);
    if (!rc)
        *out = kj_str_c("");
    return rc ? rc : kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

/* config.get(key, default) / config.require(key) */
static int f_config_get(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    kj_val k = kj_arg(a, 0, "name");
    if (k.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "config.get takes a config name");
    kj_val v = kiln_models__cfg(c->n, k.u.s->p);
    if (v.t == KJ_UNDEF) {
        if (self.t == KJ_BOOL) /* require */
            return kj_fail(in, KILN_EINVAL, "missing config: '%s'", k.u.s->p);
        kj_val d = kj_arg(a, 1, "default");
        *out = d.t == KJ_UNDEF ? kj_none() : kj_retain(d);
        return 0;
    }
    *out = kj_retain(v);
    return 0;
}

static int f_var(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    kj_val k = kj_arg(a, 0, "name");
    if (k.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "var() takes a variable name");
    /* dbt's precedence: --vars, then the project-scoped vars of
     * dbt_project.yml (vars: {project: {k: v}}), then its global vars */
    kj_val *v = c->p->cli_vars.t == KJ_DICT ? kj_dict_getc(c->p->cli_vars, k.u.s->p) : NULL;
    if (!v) {
        kj_val *scope = kj_dict_getc(c->p->vars, c->p->name);
        if (scope && scope->t == KJ_DICT)
            v = kj_dict_getc(*scope, k.u.s->p);
    }
    if (!v)
        v = kj_dict_getc(c->p->vars, k.u.s->p);
    const km_package *pk = c->n ? kiln_models__package(c->p, c->n->package) : NULL;
    if (!v && pk) { /* a package's node: the root's vars {pkg: {...}}, then the package's own vars */
        kj_val *scope = kj_dict_getc(c->p->vars, pk->name);
        if (scope && scope->t == KJ_DICT)
            v = kj_dict_getc(*scope, k.u.s->p);
        scope = !v && pk->vars.t == KJ_DICT ? kj_dict_getc(pk->vars, pk->name) : NULL;
        if (scope && scope->t == KJ_DICT)
            v = kj_dict_getc(*scope, k.u.s->p);
        if (!v && pk->vars.t == KJ_DICT)
            v = kj_dict_getc(pk->vars, k.u.s->p);
    }
    if (v) {
        *out = kj_retain(*v);
        return 0;
    }
    kj_val d = kj_arg(a, 1, "default");
    if (a->npos < 2 && !(a->nkw && d.t != KJ_UNDEF))
        return kj_fail(in, KILN_EINVAL,
                       "Required var '%s' not found in config: give it in dbt_project.yml vars, with "
                       "--vars, or give var() a default",
                       k.u.s->p);
    *out = kj_retain(d);
    return 0;
}

/* env_var(name, default): from overrides (a dict, a unit test's
 * overrides: env_vars) first, then the environment, then the default. */
int kiln_models__env_var(kj_in *in, kj_val overrides, const kj_args *a, kj_val *out)
{
    kj_val k = kj_arg(a, 0, "var");
    if (k.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "env_var() takes a variable name");
    kj_val *o = overrides.t == KJ_DICT ? kj_dict_getc(overrides, k.u.s->p) : NULL;
    if (o)
        return kj_to_str_val(in, *o, out);
    const char *v = getenv(k.u.s->p);
    if (v) {
        *out = kj_str_c(v);
        return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
    }
    kj_val d = kj_arg(a, 1, "default");
    if (d.t == KJ_UNDEF)
        return kj_fail(in, KILN_EINVAL, "Env var required but not provided: '%s'", k.u.s->p);
    return kj_to_str_val(in, d, out);
}

static int f_env_var(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    (void)self;
    kj_val k = kj_arg(a, 0, "var");
    if (c && c->p && k.t == KJ_STR) { /* the partial-parse cache keys on what was read */
        const char *v = getenv(k.u.s->p);
        kiln_buf *b = &c->p->pp_env;
        if (kiln_buf_append(b, k.u.s->p, strlen(k.u.s->p), kj_in_err(in)) ||
            (v && (kiln_buf_append(b, "=", 1, kj_in_err(in)) || kiln_buf_append(b, v, strlen(v), kj_in_err(in)))) ||
            kiln_buf_append(b, "", 1, kj_in_err(in)))
            return KILN_OOM(kj_in_err(in));
    }
    return kiln_models__env_var(in, kj_undef(), a, out);
}

/* is_incremental(): false while parsing (execute is false), as in dbt */
static int f_is_incremental(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    if (c->execute) /* the warehouse decides: no partial-parse cache */
        c->p->pp_volatile = 1;
    *out = kj_bool(c->execute && kiln_models__is_incremental(c->p, c->n));
    return 0;
}

static int f_return(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    return kj_in_return(in, kj_retain(kj_arg(a, 0, NULL)));
}

static int f_log(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kj_str_append(in, kj_arg(a, 0, "msg"), &b, kj_in_err(in));
    if (!rc && kj_truthy(kj_arg(a, 1, "info")))
        fprintf(stderr, "%s\n", b.data ? b.data : "");
    else if (!rc)
        kiln_debug("%s", b.data ? b.data : "");
    kiln_buf_free(&b);
    *out = kj_str_c("");
    return rc ? rc : kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int f_raise(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kj_str_append(in, kj_arg(a, 0, "msg"), &b, kj_in_err(in));
    if (!rc)
        rc = kj_fail(in, KILN_EINVAL, "Compilation Error: %s", b.data ? b.data : "");
    kiln_buf_free(&b);
    return rc;
}

static int f_warn(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kj_str_append(in, kj_arg(a, 0, "msg"), &b, kj_in_err(in));
    if (!rc)
        fprintf(stderr, "warning: %s\n", b.data ? b.data : "");
    kiln_buf_free(&b);
    *out = kj_str_c("");
    return rc;
}

static int f_doc(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    kj_val k = a->npos >= 2 ? a->pos[1] : kj_arg(a, 0, NULL);
    if (k.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "doc() takes a docs block name");
    kj_val *v = kj_dict_getc(c->p->docs, k.u.s->p);
    if (!v)
        return kj_fail(in, KILN_ENOTFOUND, "Documentation for '%s' depends on doc '%s' which was not found", c->n->name,
                       k.u.s->p);
    *out = kj_retain(*v);
    return 0;
}

/* adapter.dispatch('name', macro_namespace=...) -> kiln__name, else default__name */
static int f_dispatch(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = ud;
    kj_val k = kj_arg(a, 0, "macro_name");
    if (k.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "adapter.dispatch takes a macro name");
    static const char *const prefixes[] = {"kiln__", "sqlite__", "default__"};
    /* dbt's order: the root project, then the package named by
     * macro_namespace (its macros are also in the globals unless the
     * project has one of the same name) */
    kj_val g = kj_env_globals(c->p->env), ns = kj_arg(a, 1, "macro_namespace");
    kj_val *pkg = ns.t == KJ_STR ? kj_dict_getc(g, ns.u.s->p) : NULL;
    for (int where = 0; where < 2; where++) {
        kj_val scope = where ? (pkg && pkg->t == KJ_DICT ? *pkg : kj_undef()) : g;
        for (int i = 0; i < 3 && scope.t == KJ_DICT; i++) {
            char *nm = kiln_sprintf("%s%s", prefixes[i], k.u.s->p);
            if (!nm)
                return KILN_OOM(kj_in_err(in));
            kj_val *m = kj_dict_getc(scope, nm);
            kiln_free(nm);
            if (m) {
                *out = kj_retain(*m);
                return 0;
            }
        }
    }
    return kj_fail(in, KILN_ENOTFOUND, "adapter.dispatch: no macro named kiln__%s or default__%s", k.u.s->p, k.u.s->p);
}

static int set_fn(kj_val d, const char *name, kj_native fn, void *ud, kj_val self, kiln_err *err)
{
    kj_val f = kj_func_new(name, fn, ud, self);
    if (kj_oom(f))
        return KILN_OOM(err);
    return kj_dict_setc(d, name, f, err);
}

/* config: callable, with .get/.require */
static int cfg_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    *out = kj_undef();
    return 0;
}
static int cfg_method(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    rctx *c = self.u.o->ud;
    return f_config_get(in, c, strcmp((const char *)ud, "require") ? kj_undef() : kj_bool(1), a, out);
}
static const char *const cfg_methods[] = {"get", "require", NULL};
static const kj_class cfg_class = {"config", cfg_getattr, NULL, NULL, cfg_methods, cfg_method};

/* The variables of a node's render. *out owned. */
static int context(rctx *c, kj_val *out, kiln_err *err)
{
    kiln_project *p = c->p;
    int rc;
    kj_val d = kj_dict_new(), target = kj_dict_new(), exc = kj_dict_new(), adapter = kj_dict_new();
    if (kj_oom(d) || kj_oom(target) || kj_oom(exc) || kj_oom(adapter)) {
        kj_release(d);
        kj_release(target);
        kj_release(exc);
        kj_release(adapter);
        return KILN_OOM(err);
    }
    if ((rc = kj_dict_setc(d, "target", target, err))) {
        kj_release(exc);
        kj_release(adapter);
        goto done;
    }
    if ((rc = kj_dict_setc(d, "exceptions", exc, err))) {
        kj_release(adapter);
        goto done;
    }
    if ((rc = kj_dict_setc(d, "adapter", adapter, err)))
        goto done;
    kj_val cfgobj = kj_obj_new(&cfg_class, c);
    if (kj_oom(cfgobj)) {
        rc = KILN_OOM(err);
        goto done;
    }
    rc = set_fn(d, "config", f_config, c, cfgobj, err);
    kj_release(cfgobj);
    if (rc || (rc = set_fn(d, "ref", f_ref, c, kj_undef(), err)) ||
        (rc = set_fn(d, "source", f_source, c, kj_undef(), err)) ||
        (rc = set_fn(d, "var", f_var, c, kj_undef(), err)) ||
        (rc = set_fn(d, "env_var", f_env_var, c, kj_undef(), err)) ||
        (rc = set_fn(d, "is_incremental", f_is_incremental, c, kj_undef(), err)) ||
        (rc = set_fn(d, "return", f_return, c, kj_undef(), err)) ||
        (rc = set_fn(d, "log", f_log, c, kj_undef(), err)) || (rc = set_fn(d, "doc", f_doc, c, kj_undef(), err)) ||
        (rc = set_fn(exc, "raise_compiler_error", f_raise, c, kj_undef(), err)) ||
        (rc = set_fn(exc, "warn", f_warn, c, kj_undef(), err)) ||
        (rc = set_fn(adapter, "dispatch", f_dispatch, c, kj_undef(), err)) ||
        (rc = kj_dict_setc(target, "name", kj_str_c(p->target_name), err)) ||
        (rc = kj_dict_setc(target, "schema", kj_str_c(p->schema), err)) ||
        (rc = kj_dict_setc(target, "type", kj_str_c("kiln"), err)) ||
        (rc = kj_dict_setc(target, "database", kj_str_c(""), err)) ||
        (rc = kj_dict_setc(target, "profile_name", kj_str_c(p->profile_name), err)) ||
        (rc = kj_dict_setc(target, "threads", kj_int(p->threads), err)) ||
        (rc = kj_dict_setc(d, "execute", kj_bool(c->execute), err)) ||
        (rc = kj_dict_setc(d, "project_name", kj_str_c(p->name), err)) ||
        (rc = kj_dict_setc(d, "run_started_at", kj_datetime_new(p->started_micros), err)) ||
        (rc = kj_dict_setc(d, "this", node_relation(p, c->n), err)) || (rc = kiln_models__query_natives(p, d, err)))
        goto done;
done:
    if (rc) {
        kj_release(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* ------------------------------------------------------------ rendering */

static int is_native_arg(const char *s)
{
    static regex_t re;
    static int compiled;
    if (!compiled) {
        if (regcomp(&re, "^[[:space:]]*(env_var|ref|var|source|doc)[[:space:]]*\\(.+\\)[[:space:]]*$", REG_EXTENDED))
            return 0;
        compiled = 1;
    }
    return regexec(&re, s, 0, NULL, 0) == 0;
}

static int render_text(rctx *c, const char *name, const char *text, kj_val vars, kiln_buf *out, kiln_err *err)
{
    kj_tpl *t;
    int rc = kj_parse(c->p->env, name, text, strlen(text), &t, err);
    if (!rc)
        rc = kj_render(c->p->env, t, vars, out, NULL, err);
    return rc;
}

static int render_generic_test(rctx *c, kj_val ctx, kiln_buf *out, kiln_err *err)
{
    km_node *n = c->n;
    int rc = 0;
    long att = kiln_models__find_id(c->p, n->attached);
    if (att < 0)
        return kiln_err_set(err, KILN_EINTERNAL, "test %s: attached node vanished", n->name);
    km_node *model = c->p->nodes.items[att];
    if ((rc = add_parent(c, (size_t)att, err)))
        return rc;
    kj_val kwargs = kj_dict_new();
    if (kj_oom(kwargs))
        return KILN_OOM(err);
    char where_name[512];
    snprintf(where_name, sizeof where_name, "%s:%u:%u", n->path, n->line, n->col);
    /* model: the relation, or a subquery with the `where` config */
    kj_val rel = node_relation(c->p, model);
    kj_val where = kiln_models__cfg(n, "where");
    if (!kj_oom(rel) && where.t == KJ_STR) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        rc = kiln_buf_append(&b, "(select * from ", 15, err);
        if (!rc)
            rc = kj_str_append(NULL, rel, &b, err);
        if (!rc)
            rc = kiln_buf_append(&b, " where ", 7, err);
        if (!rc)
            rc = render_text(c, where_name, where.u.s->p, ctx, &b, err);
        if (!rc)
            rc = kiln_buf_append(&b, ") dbt_subquery", 14, err);
        kj_release(rel);
        rel = rc ? kj_undef() : kj_str_new(b.data, b.len);
        kiln_buf_free(&b);
    }
    if (rc || kj_oom(rel) || (rc = kj_dict_setc(kwargs, "model", rel, err))) {
        kj_release(kwargs);
        return rc ? rc : KILN_OOM(err);
    }
    for (size_t i = 0; i < n->test_kwargs.u.d->len && !rc; i++) {
        kj_val k = n->test_kwargs.u.d->keys[i], v = n->test_kwargs.u.d->vals[i];
        if (k.t == KJ_STR && strcmp(k.u.s->p, "column_name") && v.t == KJ_STR && is_native_arg(v.u.s->p)) {
            char *src = kiln_sprintf("{{ %s }}", v.u.s->p);
            kiln_buf b;
            kiln_buf_init(&b, 0);
            rc = src ? render_text(c, where_name, src, ctx, &b, err) : KILN_OOM(err);
            kiln_free(src);
            if (!rc)
                rc = kj_dict_set(kwargs, kj_retain(k), kj_str_new(b.data ? b.data : "", b.len), err);
            kiln_buf_free(&b);
        } else {
            rc = kj_dict_set(kwargs, kj_retain(k), kj_retain(v), err);
        }
    }
    if (!rc)
        rc = kj_dict_setc(ctx, "__kiln_test_kwargs", kwargs, err);
    else
        kj_release(kwargs);
    if (rc)
        return rc;
    /* one parse per test macro, not per test (the env keeps every parse) */
    kiln_project *p = c->p;
    if (!p->test_calls && !(p->test_calls = kiln_map_new()))
        return KILN_OOM(err);
    size_t mlen = strlen(n->test_macro);
    kj_tpl *t = kiln_map_get(p->test_calls, n->test_macro, mlen);
    if (!t) {
        const char *dot = strchr(n->test_macro, '.'); /* pkg.name -> {{ pkg.test_name(...) }} */
        char *call = dot ? kiln_sprintf("{{ %.*s.test_%s(**__kiln_test_kwargs) }}", (int)(dot - n->test_macro),
                                        n->test_macro, dot + 1)
                         : kiln_sprintf("{{ test_%s(**__kiln_test_kwargs) }}", n->test_macro);
        rc = call ? kj_parse(p->env, "<generic test call>", call, strlen(call), &t, err) : KILN_OOM(err);
        kiln_free(call);
        if (rc || (rc = kiln_map_put(p->test_calls, n->test_macro, mlen, t, err)))
            return rc;
    }
    rc = kj_render(p->env, t, ctx, out, NULL, err);
    if (rc && !strncmp(err->msg, "<generic test call>", 19)) { /* name the test's YAML position */
        char m[sizeof err->msg];
        snprintf(m, sizeof m, "%s%s", where_name, err->msg + 19);
        snprintf(err->msg, sizeof err->msg, "%s", m);
    }
    return rc;
}

/* The context of node idx for render_node: the project's one shared
 * context (built on first use, 20-odd entries with a hash index) with its
 * rctx pointed at the node and `this`, `execute` and the generic-test
 * arguments reset; building a fresh one per node was a tenth of a 10k-model
 * compile. A render inside a render (busy) gets a fresh one. *ctx is a
 * reference the caller releases; *cp is the rctx. */
static int node_context(kiln_project *p, size_t idx, int execute, rctx *local, rctx **cp, kj_val *ctx, kiln_err *err)
{
    km_node *n = p->nodes.items[idx];
    if (p->render_ctx_busy) {
        *local = (rctx){p, idx, n, execute};
        *cp = local;
        return context(local, ctx, err);
    }
    rctx *c = p->render_rctx;
    int rc;
    if (!c) {
        if (!(c = kiln_calloc(1, sizeof *c)))
            return KILN_OOM(err);
        *c = (rctx){p, idx, n, execute};
        if ((rc = context(c, &p->render_ctx, err))) {
            kiln_free(c);
            return rc;
        }
        p->render_rctx = c;
    } else {
        *c = (rctx){p, idx, n, execute};
        if ((rc = kj_dict_setc(p->render_ctx, "execute", kj_bool(execute), err)) ||
            (rc = kj_dict_setc(p->render_ctx, "this", node_relation(p, n), err)))
            return rc;
        if (kj_dict_getc(p->render_ctx, "__kiln_test_kwargs") &&
            (rc = kj_dict_setc(p->render_ctx, "__kiln_test_kwargs", kj_undef(), err)))
            return rc;
    }
    p->render_ctx_busy = 1;
    *cp = c;
    *ctx = kj_retain(p->render_ctx);
    return 0;
}

int kiln_models__render_node(kiln_project *p, size_t idx, int execute, kiln_err *err)
{
    km_node *n = p->nodes.items[idx];
    kj_val ctx;
    int rc;
    if (n->kind == KM_SOURCE || n->kind == KM_SEED)
        return 0;
    p->rendering = n;
    p->executing = execute;
    rctx local, *c;
    int was_busy = p->render_ctx_busy;
    if ((rc = node_context(p, idx, execute, &local, &c, &ctx, err))) {
        p->rendering = NULL;
        return rc;
    }
    kiln_buf out;
    kiln_buf_init(&out, 0);
    n->parents.len = 0;
    if (n->kind == KM_TEST && n->test_macro)
        rc = render_generic_test(c, ctx, &out, err);
    else
        rc = kj_render(p->env, n->tpl, ctx, &out, NULL, err);
    kj_release(ctx);
    p->render_ctx_busy = was_busy;
    p->rendering = NULL;
    p->executing = 1;
    if (rc) {
        kiln_buf_free(&out);
        return rc;
    }
    kiln_free(n->compiled);
    n->compiled = kiln_buf_detach(&out, &n->compiled_len);
    if (!n->compiled && !(n->compiled = kiln_strdup("")))
        return KILN_OOM(err);
    n->compiled_ok = 1;
    return 0;
}

/* Two passes, as dbt parses before it compiles: the first collects every
 * node's config() (a model may make itself ephemeral, which changes how
 * others reference it), the second renders the final SQL. */
int kiln_models__render_all(kiln_project *p, kiln_err *err)
{
    for (int pass = 0; pass < 2; pass++) {
        int rc0 = kiln_models__resolve_schemas(p, err); /* after pass 0: with the files' config(schema=) */
        if (rc0)
            return rc0;
        for (size_t i = 0; i < p->nodes.len; i++) {
            km_node *n = p->nodes.items[i];
            if (pass == 1 && p->query_lenient && n->uses_query) {
                /* `run`/`build`: a node that queries the warehouse is
                 * compiled right before it runs (its queries may read
                 * tables this run builds); its edges are the parse's */
                km_idxvec saved = {0};
                int rc = 0;
                for (size_t k = 0; k < n->parents.len && !rc; k++)
                    rc = kiln_vec_push(&saved, n->parents.items[k], err);
                kiln_err e2 = {0};
                if (!rc && kiln_models__render_node(p, i, pass, &e2)) {
                    n->parents.len = 0;
                    for (size_t k = 0; k < saved.len && !rc; k++)
                        rc = kiln_vec_push(&n->parents, saved.items[k], err);
                }
                kiln_vec_free(&saved);
                if (rc)
                    return rc;
                continue;
            }
            int rc = kiln_models__render_node(p, i, pass, err);
            if (rc == KILN_EINVAL || rc == KILN_ENOTFOUND) /* a compilation error of the project */
                rc = err->code = KILN_EFORMAT;
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- models3: descriptions for the docs site ---- */

/* Render a description of node idx (a model's, or one of its columns') as
 * dbt renders descriptions: Jinja with the node's context, so `{{ doc('x')
 * }}` gives the docs block. Text without Jinja is copied. A ref() in a
 * description adds no dependency. */
int kiln_models__render_description(kiln_project *p, size_t idx, const char *text, kiln_buf *out, kiln_err *err)
{
    if (!strstr(text, "{{") && !strstr(text, "{%"))
        return kiln_buf_append(out, text, strlen(text), err);
    rctx c = {p, idx, p->nodes.items[idx], 1};
    kj_val ctx;
    int rc = context(&c, &ctx, err);
    if (rc)
        return rc;
    size_t had = c.n->parents.len;
    char *name = kiln_sprintf("%s (description)", c.n->path);
    rc = name ? render_text(&c, name, text, ctx, out, err) : KILN_OOM(err);
    c.n->parents.len = had;
    kiln_free(name);
    kj_release(ctx);
    return rc;
}

/* ---- models4: hooks ---- */

/* Render a hook's SQL at run time, as dbt renders hooks (late, with the
 * node's `this`): with node n's context, or for on-run-start/on-run-end
 * (n NULL) with the project's (target, var, env_var, macros; `this` names a
 * placeholder node). extra: a dict of further variables (on-run-end's
 * `schemas`) or KJ_UNDEF. A ref() in a hook adds no dependency. */
int kiln_models__render_hook(kiln_project *p, km_node *n, const char *text, kj_val extra, kiln_buf *out, kiln_err *err)
{
    km_node dummy;
    memset(&dummy, 0, sizeof dummy);
    if (!n) {
        dummy.name = dummy.unique_id = dummy.path = dummy.fqn = (char *)"project_hook";
        dummy.kind = KM_MODEL;
        dummy.config = kj_dict_new();
        dummy.columns = kj_none();
        dummy.test_kwargs = kj_none();
        if (kj_oom(dummy.config))
            return KILN_OOM(err);
    }
    rctx c = {p, 0, n ? n : &dummy, 1};
    kj_val ctx = kj_undef();
    int rc = context(&c, &ctx, err);
    if (!rc && extra.t == KJ_DICT)
        for (size_t i = 0; i < extra.u.d->len && !rc; i++)
            rc = kj_dict_set(ctx, kj_retain(extra.u.d->keys[i]), kj_retain(extra.u.d->vals[i]), err);
    if (!rc) {
        size_t had = c.n->parents.len;
        char *name = kiln_sprintf("%s (hook)", n ? n->path : "dbt_project.yml");
        rc = name ? render_text(&c, name, text, ctx, out, err) : KILN_OOM(err);
        c.n->parents.len = had;
        kiln_free(name);
    }
    kj_release(ctx);
    if (!n) {
        kj_release(dummy.config);
        kiln_vec_free(&dummy.parents);
    }
    return rc;
}

/* profiles.yml rendered before it is parsed, as dbt renders its
 * values: env_var() (with a default, or an error at its position) and the
 * filters; a file without {{ or {% is used as it is. */
int kiln_models__render_profile(kiln_project *p, const char *file, const char *text, size_t len, kiln_buf *out,
                                kiln_err *err)
{
    if (!memmem(text, len, "{{", 2) && !memmem(text, len, "{%", 2))
        return kiln_buf_append(out, text, len, err);
    kj_tpl *t;
    int rc = kj_parse(p->env, file, text, len, &t, err);
    if (rc)
        return rc;
    kj_val d = kj_dict_new();
    if (kj_oom(d))
        return KILN_OOM(err);
    rctx pc = {p, 0, NULL, 0}; /* env_var() records what it read (partial parsing) */
    if (!(rc = set_fn(d, "env_var", f_env_var, &pc, kj_undef(), err)))
        rc = kj_render(p->env, t, d, out, NULL, err);
    kj_release(d);
    return rc;
}

/* ---- unit tests render a model with parts of its context replaced ---- */

/* Render node idx (execute true) into out with every entry of dict `over`
 * (ref, source, this, var, env_var, is_incremental, macro names...)
 * replacing the context's. The node's compiled text and parents are kept. */
int kiln_models__render_node_over(kiln_project *p, size_t idx, kj_val over, kiln_buf *out, kiln_err *err)
{
    rctx c = {p, idx, p->nodes.items[idx], 1};
    km_node *n = c.n;
    kj_val ctx;
    km_idxvec saved = {0};
    int rc = 0;
    for (size_t k = 0; k < n->parents.len && !rc; k++)
        rc = kiln_vec_push(&saved, n->parents.items[k], err);
    if (rc || (rc = context(&c, &ctx, err))) {
        kiln_vec_free(&saved);
        return rc;
    }
    for (size_t i = 0; over.t == KJ_DICT && i < over.u.d->len && !rc; i++)
        rc = kj_dict_set(ctx, kj_retain(over.u.d->keys[i]), kj_retain(over.u.d->vals[i]), err);
    p->rendering = n;
    p->executing = 1;
    if (!rc)
        rc = kj_render(p->env, n->tpl, ctx, out, NULL, err);
    kj_release(ctx);
    p->rendering = NULL;
    n->parents.len = 0;
    for (size_t k = 0; k < saved.len; k++)
        n->parents.items[n->parents.len++] = saved.items[k];
    kiln_vec_free(&saved);
    return rc;
}
