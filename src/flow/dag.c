/*
 * dag.c - the DAG file loader: dags/NAME.yml (libyaml) into kiln_flow_dag,
 * kiln.yml's pools and parallelism, validation (unknown keys, unknown task
 * types and needs, cycles, bad cron, pools), and the text pictures of
 * `kiln dags list|show`.
 *
 * Every problem is reported as "path:line:col: message" (1-based, where
 * the offending key or value starts), and all problems of a file are
 * reported, not just the first. A file with a problem is left out of the
 * project; the other DAGs load.
 */
#include "flow_int.h"
#include "engine/gh_events.h"
#include "models/models.h"

#include <dirent.h>
#include <stdlib.h>
#include <yaml.h>

/* ------------------------------------------------------- YAML node tree */

typedef struct ynode ynode;
struct ynode {
    int kind; /* 's' scalar, 'm' map (children alternate key, value), 'q' sequence */
    char *text;
    int plain; /* unquoted scalar (so "null"/"~" mean null) */
    int line, col;
    ynode **kids;
    size_t nkids;
};

static void ynode_free(ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        ynode_free(n->kids[i]);
    kiln_free(n->kids);
    kiln_free(n->text);
    kiln_free(n);
}

static int ynode_add(ynode *parent, ynode *kid)
{
    ynode **k = kiln_realloc(parent->kids, (parent->nkids + 1) * sizeof *k);
    if (!k)
        return -1;
    k[parent->nkids++] = kid;
    parent->kids = k;
    return 0;
}

/* Parse YAML text into one document's root node. */
static int yaml_load(ynode **out, const char *path, const char *text, size_t n, kiln_err *err)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    ynode *stack[64];
    int depth = 0, rc = 0, done = 0;
    ynode *root = NULL;
    *out = NULL;
    if (!yaml_parser_initialize(&parser))
        return KILN_OOM(err);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%zu:%zu: YAML: %s", path, parser.problem_mark.line + 1,
                              parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error");
            goto done;
        }
        ynode *nd = NULL;
        int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
        case YAML_DOCUMENT_END_EVENT: done = ev.type == YAML_STREAM_END_EVENT || root != NULL; break;
        case YAML_ALIAS_EVENT:
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: YAML aliases are not supported in DAG files", path, line,
                              col);
            break;
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            nd = kiln_calloc(1, sizeof *nd);
            if (!nd) {
                rc = KILN_OOM(err);
                break;
            }
            nd->line = line;
            nd->col = col;
            if (ev.type == YAML_SCALAR_EVENT) {
                nd->kind = 's';
                nd->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                nd->text = kiln_strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                if (!nd->text) {
                    kiln_free(nd);
                    rc = KILN_OOM(err);
                    break;
                }
            } else {
                nd->kind = ev.type == YAML_MAPPING_START_EVENT ? 'm' : 'q';
            }
            if (depth > 0 && ynode_add(stack[depth - 1], nd) != 0) {
                ynode_free(nd);
                rc = KILN_OOM(err);
                break;
            }
            if (depth == 0) {
                if (root)
                    ynode_free(root);
                root = nd;
            }
            if (nd->kind != 's') {
                if (depth >= 63) {
                    rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: YAML nested too deeply", path, line, col);
                    break;
                }
                stack[depth++] = nd;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        default: break;
        }
        yaml_event_delete(&ev);
        if (rc)
            goto done;
    }
    *out = root;
    root = NULL;
done:
    ynode_free(root);
    yaml_parser_delete(&parser);
    return rc;
}

static int is_null(const ynode *n)
{
    return !n || (n->kind == 's' && n->plain && (!*n->text || !strcmp(n->text, "null") || !strcmp(n->text, "~")));
}

static const ynode *map_get(const ynode *m, const char *key)
{
    if (!m || m->kind != 'm')
        return NULL;
    for (size_t i = 0; i + 1 < m->nkids; i += 2)
        if (m->kids[i]->kind == 's' && strcmp(m->kids[i]->text, key) == 0)
            return m->kids[i + 1];
    return NULL;
}

/* ------------------------------------------------------- diagnostics */

typedef struct loader {
    const char *path;
    kiln_flow_strv *diags;
    int nerr;
    int oom;
    const kiln_flow_project *proj;
} loader;

__attribute__((format(printf, 3, 4))) static void diag(loader *L, const ynode *at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *s = kiln_sprintf("%s:%d:%d: %s", L->path, at ? at->line : 1, at ? at->col : 1, msg);
    kiln_err e;
    if (!s || kiln_vec_push(L->diags, s, &e) != 0) {
        kiln_free(s);
        L->oom = 1;
    }
    L->nerr++;
}

/* ------------------------------------------------------- scalar readers */

static int want_scalar(loader *L, const ynode *n, const char *what)
{
    if (n && n->kind == 's')
        return 1;
    diag(L, n, "%s: want a single value", what);
    return 0;
}

static void read_str(loader *L, const ynode *n, const char *what, char **out)
{
    if (is_null(n))
        return;
    if (!want_scalar(L, n, what))
        return;
    kiln_free(*out);
    if (!(*out = kiln_strdup(n->text)))
        L->oom = 1;
}

static void read_int(loader *L, const ynode *n, const char *what, int lo, int hi, int *out)
{
    if (is_null(n) || !want_scalar(L, n, what))
        return;
    char *end;
    long v = strtol(n->text, &end, 10);
    if (!*n->text || *end || v < lo || v > hi) {
        diag(L, n, "%s: '%s' is not a whole number in %d..%d", what, n->text, lo, hi);
        return;
    }
    *out = (int)v;
}

static void read_bool(loader *L, const ynode *n, const char *what, int *out)
{
    if (is_null(n) || !want_scalar(L, n, what))
        return;
    const char *t = n->text;
    if (!strcmp(t, "true") || !strcmp(t, "True") || !strcmp(t, "yes") || !strcmp(t, "on"))
        *out = 1;
    else if (!strcmp(t, "false") || !strcmp(t, "False") || !strcmp(t, "no") || !strcmp(t, "off"))
        *out = 0;
    else
        diag(L, n, "%s: '%s' is not true or false", what, t);
}

int kiln_flow_parse_duration(const char *s, int64_t *ms_out)
{
    char *end;
    if (!s || !*s)
        return KILN_EINVAL;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return KILN_EINVAL;
    double mult = 1000;
    if (!strcmp(end, "") || !strcmp(end, "s"))
        mult = 1000;
    else if (!strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "m"))
        mult = 60000;
    else if (!strcmp(end, "h"))
        mult = 3600000;
    else if (!strcmp(end, "d"))
        mult = 86400000;
    else
        return KILN_EINVAL;
    if (v * mult > 9e15)
        return KILN_EINVAL;
    *ms_out = (int64_t)(v * mult + 0.5);
    return 0;
}

static void read_dur(loader *L, const ynode *n, const char *what, int64_t *out)
{
    if (is_null(n) || !want_scalar(L, n, what))
        return;
    if (kiln_flow_parse_duration(n->text, out) != 0)
        diag(L, n, "%s: '%s' is not a duration (90, 90s, 250ms, 5m, 2h, 1d)", what, n->text);
}

static void read_list(loader *L, const ynode *n, const char *what, kiln_flow_strv *out)
{
    if (is_null(n))
        return;
    kiln_err e;
    if (n->kind == 's') { /* a single value stands for a one-element list */
        char *s = kiln_strdup(n->text);
        if (!s || kiln_vec_push(out, s, &e) != 0) {
            kiln_free(s);
            L->oom = 1;
        }
        return;
    }
    if (n->kind != 'q') {
        diag(L, n, "%s: want a list", what);
        return;
    }
    for (size_t i = 0; i < n->nkids; i++) {
        if (!want_scalar(L, n->kids[i], what))
            continue;
        char *s = kiln_strdup(n->kids[i]->text);
        if (!s || kiln_vec_push(out, s, &e) != 0) {
            kiln_free(s);
            L->oom = 1;
        }
    }
}

void kiln_flow__strv_free(kiln_flow_strv *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}

int kiln_flow__collect_name(void *ctx, const char *name, const char *loc)
{
    (void)loc;
    kiln_flow_strv *v = ctx;
    kiln_err e;
    char *c = kiln_strdup(name);
    if (!c || kiln_vec_push(v, c, &e)) {
        kiln_free(c);
        return -1;
    }
    return 0;
}

static int id_ok(const char *s)
{
    if (!*s || strlen(s) > 200 || *s == '.' || *s == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return 0;
    return 1;
}

/* ------------------------------------------------------- tasks */

static const char *const trigger_names[] = {
    "all_success", "all_failed", "all_done", "one_success", "one_failed", "none_failed", "none_failed_min_one_success",
    "always"};

const char *kiln_flow_trigger_name(kiln_flow_trigger t) { return trigger_names[t]; }

/* Task settings shared by default_task and tasks.<id>. */
static const char *const task_keys[] = {
    "type", "command", "env", "cwd", "needs", "trigger_rule", "retries", "retry_delay", "retry_exponential_backoff",
    "max_retry_delay", "timeout", "sla", "pool", "pool_slots", "priority_weight", "depends_on_past", "produces",
    "consumes", "path", "asset", "poke_interval", "mode", "soft_fail",
    /* library task types' settings (lib_types) */
    "in", "warehouse", "out", "format", "branch", "filter", "threads", "allow_missing", "keep_going", "project_dir",
    "select", "exclude", "target", "profiles_dir", "vars", "full_refresh", "fail_fast", "sql",
    /* ingest.gharchive / ingest.github_api (net13) */
    "from", "hours", "parallel", "attempts", "what", "user", "api_url", "cache", "budget", "since",
    /* table.fast_forward / table.expire */
    "table", "to", "older_than", "retain_last", "dry_run", NULL};

static int key_known(const char *const *keys, const char *k);

/* The task types that run a library call in the task's process instead of
 * a program (docs/flow.md "Task types"), with their own settings. */
typedef struct lib_type {
    const char *type;
    const char *keys[12];
    const char *required;
} lib_type;
static const lib_type lib_types[] = {
    {"job.gh_events",
     {"in", "warehouse", "out", "format", "branch", "filter", "threads", "allow_missing", "keep_going", NULL},
     "in"},
    {"models.build",
     {"project_dir", "select", "exclude", "target", "profiles_dir", "vars", "full_refresh", "fail_fast", "threads",
      "branch", NULL},
     NULL},
    {"sql", {"sql", "warehouse", NULL}, "sql"},
    /* net13: the raw zone's sources (src/ingest), run in-process */
    {"ingest.gharchive", {"out", "from", "hours", "parallel", "attempts", NULL}, "out"},
    {"ingest.github_api",
     {"what", "user", "out", "warehouse", "api_url", "cache", "budget", "filter", "since", "attempts", NULL},
     "what"},
    {"table.fast_forward", {"warehouse", "table", "from", "to", NULL}, "table"},
    {"table.expire", {"warehouse", "table", "older_than", "retain_last", "dry_run", NULL}, "table"},
    {"table.publish", {"warehouse", "branch", NULL}, NULL},            /* task_lib.c: a branch run's gate */
    {"table.maintain", {"table", "warehouse", "dry_run", NULL}, NULL}, /* maint.c */
};
#define NLIB (sizeof lib_types / sizeof *lib_types)
static const char *const bool_opts[] = {"allow_missing", "keep_going", "full_refresh", "fail_fast", "dry_run", NULL};

static const lib_type *lib_type_find(const char *type)
{
    for (size_t i = 0; type && i < NLIB; i++)
        if (!strcmp(lib_types[i].type, type))
            return &lib_types[i];
    return NULL;
}

/* 1 if name is a setting of some library task type. */
static int lib_key(const char *name)
{
    for (size_t i = 0; i < NLIB; i++)
        for (size_t j = 0; lib_types[i].keys[j]; j++)
            if (!strcmp(lib_types[i].keys[j], name))
                return 1;
    return 0;
}

const char *kiln_flow_task_opt(const kiln_flow_task *t, const char *name)
{
    for (size_t i = 0; i < t->opt_keys.len; i++)
        if (!strcmp(t->opt_keys.items[i], name))
            return t->opt_vals.items[i];
    return NULL;
}

static void opt_set(loader *L, kiln_flow_task *t, const char *name, const char *val)
{
    kiln_err e;
    char *v = kiln_strdup(val);
    if (!v) {
        L->oom = 1;
        return;
    }
    for (size_t i = 0; i < t->opt_keys.len; i++)
        if (!strcmp(t->opt_keys.items[i], name)) {
            kiln_free(t->opt_vals.items[i]);
            t->opt_vals.items[i] = v;
            return;
        }
    char *k = kiln_strdup(name);
    if (!k || kiln_vec_push(&t->opt_keys, k, &e)) {
        kiln_free(k);
        kiln_free(v);
        L->oom = 1;
        return;
    }
    if (kiln_vec_push(&t->opt_vals, v, &e)) {
        kiln_free(v);
        L->oom = 1;
    }
}

/* The library settings present in m, onto t. */
static void lib_opts_apply(loader *L, kiln_flow_task *t, const ynode *m)
{
    for (size_t i = 0; i + 1 < m->nkids; i += 2) {
        const ynode *k = m->kids[i], *v = m->kids[i + 1];
        if (k->kind != 's' || !lib_key(k->text) || is_null(v))
            continue;
        if (!strcmp(k->text, "vars")) {
            if (v->kind != 'm') {
                diag(L, v, "vars: want a map of NAME: value");
                continue;
            }
            for (size_t j = 0; j + 1 < v->nkids; j += 2) {
                const ynode *vk = v->kids[j], *vv = v->kids[j + 1];
                if (vk->kind != 's' || vv->kind != 's' || !*vk->text) {
                    diag(L, vk, "vars: want NAME: value pairs (plain values)");
                    continue;
                }
                char name[256];
                snprintf(name, sizeof name, "vars.%s", vk->text);
                opt_set(L, t, name, vv->text);
            }
            continue;
        }
        if (!want_scalar(L, v, k->text))
            continue;
        if (key_known(bool_opts, k->text)) {
            int b = 0, before = L->nerr;
            read_bool(L, v, k->text, &b);
            if (L->nerr == before)
                opt_set(L, t, k->text, b ? "true" : "false");
            continue;
        }
        if (!strcmp(k->text, "threads")) {
            int n = 0, before = L->nerr;
            read_int(L, v, "threads", 0, 1024, &n);
            if (L->nerr != before)
                continue;
        }
        opt_set(L, t, k->text, v->text);
    }
}

static int key_known(const char *const *keys, const char *k)
{
    for (; *keys; keys++)
        if (!strcmp(*keys, k))
            return 1;
    return 0;
}

static void check_keys(loader *L, const ynode *m, const char *const *keys, const char *where)
{
    for (size_t i = 0; i + 1 < m->nkids; i += 2) {
        const ynode *k = m->kids[i];
        if (k->kind != 's') {
            diag(L, k, "%s: keys must be plain names", where);
            continue;
        }
        if (!key_known(keys, k->text))
            diag(L, k, "%s: unknown key '%s'", where, k->text);
        for (size_t j = 0; j < i; j += 2)
            if (m->kids[j]->kind == 's' && !strcmp(m->kids[j]->text, k->text))
                diag(L, k, "%s: key '%s' given twice", where, k->text);
    }
}

/* Apply the settings of map m onto t (default_task first, then the task). */
static void task_apply(loader *L, kiln_flow_task *t, const ynode *m, int is_default)
{
    const ynode *n;
    read_str(L, map_get(m, "type"), "type", &t->type);
    if ((n = map_get(m, "command"))) {
        kiln_flow__strv_free(&t->argv);
        if (n->kind == 's')
            diag(L, n, "command: want a list (program and arguments; kiln never runs a shell for you)");
        else
            read_list(L, n, "command", &t->argv);
    }
    if ((n = map_get(m, "env")) && !is_null(n)) {
        if (n->kind != 'm') {
            diag(L, n, "env: want a map of NAME: value");
        } else {
            for (size_t i = 0; i + 1 < n->nkids; i += 2) {
                const ynode *k = n->kids[i], *v = n->kids[i + 1];
                if (k->kind != 's' || v->kind != 's' || !*k->text || strchr(k->text, '=')) {
                    diag(L, k, "env: want NAME: value pairs");
                    continue;
                }
                char *s = kiln_sprintf("%s=%s", k->text, v->text);
                kiln_err e;
                if (!s || kiln_vec_push(&t->env, s, &e) != 0) {
                    kiln_free(s);
                    L->oom = 1;
                }
            }
        }
    }
    read_str(L, map_get(m, "cwd"), "cwd", &t->cwd);
    if (!is_default)
        read_list(L, map_get(m, "needs"), "needs", &t->needs);
    else if ((n = map_get(m, "needs")))
        diag(L, n, "default_task: 'needs' belongs to each task");
    if ((n = map_get(m, "trigger_rule")) && want_scalar(L, n, "trigger_rule")) {
        size_t i = 0;
        for (; i < sizeof trigger_names / sizeof *trigger_names; i++)
            if (!strcmp(trigger_names[i], n->text))
                break;
        if (i == sizeof trigger_names / sizeof *trigger_names)
            diag(L, n,
                 "trigger_rule: unknown rule '%s' (all_success, all_failed, all_done, one_success, one_failed, "
                 "none_failed, none_failed_min_one_success, always)",
                 n->text);
        else
            t->trigger = (kiln_flow_trigger)i;
    }
    read_int(L, map_get(m, "retries"), "retries", 0, 1000, &t->retries);
    read_dur(L, map_get(m, "retry_delay"), "retry_delay", &t->retry_delay_ms);
    read_bool(L, map_get(m, "retry_exponential_backoff"), "retry_exponential_backoff", &t->exp_backoff);
    read_dur(L, map_get(m, "max_retry_delay"), "max_retry_delay", &t->max_retry_delay_ms);
    read_dur(L, map_get(m, "timeout"), "timeout", &t->timeout_ms);
    read_dur(L, map_get(m, "sla"), "sla", &t->sla_ms);
    read_str(L, map_get(m, "pool"), "pool", &t->pool);
    read_int(L, map_get(m, "pool_slots"), "pool_slots", 1, 100000, &t->pool_slots);
    read_int(L, map_get(m, "priority_weight"), "priority_weight", -1000000, 1000000, &t->priority_weight);
    read_bool(L, map_get(m, "depends_on_past"), "depends_on_past", &t->depends_on_past);
    read_str(L, map_get(m, "path"), "path", &t->sensor_path);
    if (!map_get(m, "path"))
        read_str(L, map_get(m, "asset"), "asset", &t->sensor_path); /* sensor.asset */
    read_dur(L, map_get(m, "poke_interval"), "poke_interval", &t->poke_interval_ms);
    read_bool(L, map_get(m, "soft_fail"), "soft_fail", &t->soft_fail);
    if ((n = map_get(m, "mode")) && want_scalar(L, n, "mode")) {
        if (!strcmp(n->text, "poke") || !strcmp(n->text, "reschedule"))
            t->reschedule = !strcmp(n->text, "reschedule");
        else
            diag(L, n, "mode: '%s' is poke or reschedule", n->text);
    }
    read_list(L, map_get(m, "produces"), "produces", &t->produces);
    read_list(L, map_get(m, "consumes"), "consumes", &t->consumes);
    lib_opts_apply(L, t, m);
}

static int strv_copy(kiln_flow_strv *dst, const kiln_flow_strv *src)
{
    kiln_err e;
    for (size_t i = 0; i < src->len; i++) {
        char *s = kiln_strdup(src->items[i]);
        if (!s || kiln_vec_push(dst, s, &e) != 0) {
            kiln_free(s);
            return -1;
        }
    }
    return 0;
}

static void task_free_fields(kiln_flow_task *t)
{
    kiln_free(t->id);
    kiln_free(t->type);
    kiln_flow__strv_free(&t->argv);
    kiln_flow__strv_free(&t->env);
    kiln_free(t->cwd);
    kiln_flow__strv_free(&t->needs);
    kiln_free(t->up);
    kiln_free(t->down);
    kiln_free(t->pool);
    kiln_free(t->sensor_path);
    kiln_flow__strv_free(&t->produces);
    kiln_flow__strv_free(&t->consumes);
    kiln_flow__strv_free(&t->opt_keys);
    kiln_flow__strv_free(&t->opt_vals);
}

/* t starts as a copy of the defaults. */
static int task_init_from(kiln_flow_task *t, const kiln_flow_task *def)
{
    memset(t, 0, sizeof *t);
    t->trigger = def->trigger;
    t->retries = def->retries;
    t->retry_delay_ms = def->retry_delay_ms;
    t->max_retry_delay_ms = def->max_retry_delay_ms;
    t->timeout_ms = def->timeout_ms;
    t->sla_ms = def->sla_ms;
    t->exp_backoff = def->exp_backoff;
    t->pool_slots = def->pool_slots;
    t->priority_weight = def->priority_weight;
    t->depends_on_past = def->depends_on_past;
    t->poke_interval_ms = def->poke_interval_ms;
    t->reschedule = def->reschedule;
    t->soft_fail = def->soft_fail;
    if ((def->type && !(t->type = kiln_strdup(def->type))) || (def->cwd && !(t->cwd = kiln_strdup(def->cwd))) ||
        (def->pool && !(t->pool = kiln_strdup(def->pool))) || strv_copy(&t->argv, &def->argv) ||
        strv_copy(&t->env, &def->env) || strv_copy(&t->produces, &def->produces) ||
        strv_copy(&t->consumes, &def->consumes) || strv_copy(&t->opt_keys, &def->opt_keys) ||
        strv_copy(&t->opt_vals, &def->opt_vals))
        return -1;
    return 0;
}

/* Render s as it would be for the DAG's first run, so a template that
 * cannot render (syntax, an unknown filter, a bad expression) is a
 * validation error at its file:line:col, not a failed try. */
static void check_template(loader *L, const kiln_flow_dag *d, const kiln_flow_task *t, const ynode *at, const char *s,
                           const char *what)
{
    if (!kiln_flow__is_template(s))
        return;
    int64_t t0 = d->start_date, is, ie;
    kiln_flow__interval(d, t0, &is, &ie);
    char lds[32], rid[64];
    kiln_flow__ts(t0, lds);
    snprintf(rid, sizeof rid, "manual__%s", lds);
    kiln_flow_render_ctx ctx;
    kiln_flow_render_ctx_init(&ctx, d, t0, is, ie, rid, 1);
    ctx.task_id = t->id;
    char *out = NULL;
    kiln_err e = {0};
    if (kiln_flow_render(&out, s, &ctx, &e) != 0)
        diag(L, at, "%s: %s", what, e.msg);
    kiln_free(out);
}

static void check_templates(loader *L, const kiln_flow_dag *d, const kiln_flow_task *t, const ynode *at,
                            const kiln_flow_strv *v, const char *what)
{
    for (size_t i = 0; i < v->len; i++) {
        const ynode *it = at && at->kind == 'q' && i < at->nkids ? at->kids[i] : at;
        check_template(L, d, t, it, v->items[i], what);
    }
}

/* ------------------------------------------------------- DAG */

void kiln_flow__dag_free(kiln_flow_dag *d)
{
    if (!d)
        return;
    kiln_free(d->id);
    kiln_free(d->path);
    kiln_free(d->project_dir);
    kiln_free(d->schedule);
    kiln_flow__strv_free(&d->schedule_assets);
    kiln_cron_free(&d->cron);
    kiln_free(d->timezone);
    kiln_flow__strv_free(&d->param_keys);
    kiln_flow__strv_free(&d->param_vals);
    kiln_flow__strv_free(&d->tags);
    kiln_flow__strv_free(&d->on_failure);
    kiln_flow__strv_free(&d->on_success);
    kiln_flow__strv_free(&d->on_retry);
    kiln_flow__strv_free(&d->on_sla_miss);
    for (size_t i = 0; i < d->ntasks; i++)
        task_free_fields(&d->tasks[i]);
    kiln_free(d->tasks);
    kiln_map_free(d->task_index);
    kiln_free(d);
}

long kiln_flow_dag_task(const kiln_flow_dag *d, const char *id)
{
    void *v = kiln_map_get(d->task_index, id, strlen(id));
    return v ? (long)(uintptr_t)v - 1 : -1;
}

static const kiln_flow_pool *find_pool(const kiln_flow_project *p, const char *name)
{
    for (size_t i = 0; i < p->npools; i++)
        if (!strcmp(p->pools[i].name, name))
            return &p->pools[i];
    return NULL;
}

/* Seconds of a "YYYY-MM-DD" (midnight in the zone) or a full timestamp. */
static int parse_when(const kiln_tz *tz, const char *s, int64_t *out)
{
    size_t n = strlen(s);
    int64_t days, us;
    if (n == 10 && kiln_date_parse(s, n, &days) == 0) {
        int64_t w = days * 86400;
        /* midnight local: the instant u with u + off(u) = w */
        int32_t off = kiln_tz_offset(tz, w - kiln_tz_offset(tz, w));
        *out = w - off;
        return 0;
    }
    if (kiln_ts_parse(s, n, &us) == 0) {
        *out = us / 1000000;
        return 0;
    }
    return KILN_EFORMAT;
}

int kiln_flow_parse_date(const kiln_flow_dag *d, const char *s, int64_t *out, kiln_err *err)
{
    if (parse_when(d && d->has_cron ? d->cron.tz : NULL, s, out) != 0)
        return kiln_err_set(err, KILN_EINVAL, "'%s' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)", s);
    return 0;
}

/* Kahn's algorithm; on a cycle, report one cycle's path. */
static void check_cycles(loader *L, kiln_flow_dag *d, const ynode *tasks_node)
{
    size_t n = d->ntasks, *indeg = kiln_calloc(n ? n : 1, sizeof *indeg),
           *queue = kiln_malloc((n ? n : 1) * sizeof *queue);
    if (!indeg || !queue) {
        L->oom = 1;
        goto done;
    }
    size_t head = 0, tail = 0, seen = 0;
    for (size_t i = 0; i < n; i++)
        if ((indeg[i] = d->tasks[i].nup) == 0)
            queue[tail++] = i;
    while (head < tail) {
        size_t i = queue[head++];
        seen++;
        for (size_t k = 0; k < d->tasks[i].ndown; k++)
            if (--indeg[d->tasks[i].down[k]] == 0)
                queue[tail++] = d->tasks[i].down[k];
    }
    if (seen < n) {
        /* walk upstream from a task left over until a task repeats */
        size_t start = 0;
        while (indeg[start] == 0)
            start++;
        size_t *onpath = queue; /* reuse: position + 1 on the walk */
        memset(onpath, 0, n * sizeof *onpath);
        size_t cur = start, pos = 1;
        size_t *path = kiln_malloc((n + 1) * sizeof *path);
        if (!path) {
            L->oom = 1;
            goto done;
        }
        while (!onpath[cur]) {
            onpath[cur] = pos;
            path[pos - 1] = cur;
            pos++;
            size_t next = cur;
            for (size_t k = 0; k < d->tasks[cur].nup; k++)
                if (indeg[d->tasks[cur].up[k]] > 0) {
                    next = d->tasks[cur].up[k];
                    break;
                }
            cur = next;
        }
        kiln_buf b;
        kiln_buf_init(&b, 4096);
        kiln_err e;
        /* the path walked upstream: print it downstream-first reversed */
        size_t from = onpath[cur] - 1;
        for (size_t k = pos - 1; k > from; k--)
            kiln_buf_printf(&b, &e, "%s -> ", d->tasks[path[k - 1]].id);
        kiln_buf_printf(&b, &e, "%s", d->tasks[path[pos - 2]].id);
        const kiln_flow_task *t = &d->tasks[cur];
        ynode at = {.line = t->line, .col = t->col};
        diag(L, tasks_node ? &at : NULL, "cycle in needs: %s", b.data ? b.data : "");
        kiln_buf_free(&b);
        kiln_free(path);
    }
done:
    kiln_free(indeg);
    kiln_free(queue);
}

static const char *const dag_keys[] = {
    "dag",        "description",     "schedule",         "timezone",       "start_date", "end_date",
    "catchup",    "max_active_runs", "max_active_tasks", "params",         "tags",       "default_task",
    "on_failure", "on_success",      "on_retry",         "dagrun_timeout", "tasks",      "on_sla_miss",
    NULL};

/* The DAG-level settings: schedule and zone, dates, limits, lists, params. */
static void dag_settings(loader *L, kiln_flow_dag *d, const ynode *root)
{
    const ynode *n;
    kiln_err e = {0};
    read_str(L, map_get(root, "timezone"), "timezone", &d->timezone);
    const ynode *sn = map_get(root, "schedule");
    if (sn && sn->kind == 'q') { /* schedule: [assets]: Airflow's dataset-triggered DAGs */
        read_list(L, sn, "schedule", &d->schedule_assets);
        if (!d->schedule_assets.len)
            diag(L, sn, "schedule: an empty list of assets (give asset names, or a cron)");
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_err be = {0};
        for (size_t i = 0; i < d->schedule_assets.len; i++)
            kiln_buf_printf(&b, &be, "%s%s", i ? ", " : "assets: ", d->schedule_assets.items[i]);
        if (d->schedule_assets.len)
            d->schedule = kiln_buf_detach(&b, NULL);
        kiln_buf_free(&b);
    } else
        read_str(L, sn, "schedule", &d->schedule);
    if (d->schedule && !d->schedule_assets.len && strcmp(d->schedule, "@once") != 0 &&
        strcmp(d->schedule, "none") != 0) {
        n = map_get(root, "schedule");
        if (kiln_cron_parse(&d->cron, d->schedule, d->timezone, &e) != 0) {
            ynode at = *n;
            if (e.code == KILN_EFORMAT)
                at.col += (int)e.offset + (n->plain ? 0 : 1);
            diag(L, &at, "schedule: %s", e.msg);
        } else {
            d->has_cron = 1;
        }
    } else if (d->timezone && strcmp(d->timezone, "UTC") != 0) {
        kiln_tz *tz = NULL;
        if (kiln_tz_load(&tz, d->timezone, &e) != 0)
            diag(L, map_get(root, "timezone"), "timezone: %s", e.msg);
        kiln_tz_free(tz);
    }
    const kiln_tz *tz = d->has_cron ? d->cron.tz : NULL;
    if ((n = map_get(root, "start_date")) && !is_null(n) && want_scalar(L, n, "start_date") &&
        parse_when(tz, n->text, &d->start_date) != 0)
        diag(L, n, "start_date: '%s' is not a date (YYYY-MM-DD or an ISO timestamp with zone)", n->text);
    if ((n = map_get(root, "end_date")) && !is_null(n) && want_scalar(L, n, "end_date") &&
        parse_when(tz, n->text, &d->end_date) != 0)
        diag(L, n, "end_date: '%s' is not a date", n->text);
    if (d->has_cron && !map_get(root, "start_date"))
        diag(L, map_get(root, "schedule"), "a scheduled DAG needs start_date");
    read_bool(L, map_get(root, "catchup"), "catchup", &d->catchup);
    read_int(L, map_get(root, "max_active_runs"), "max_active_runs", 1, 10000, &d->max_active_runs);
    read_int(L, map_get(root, "max_active_tasks"), "max_active_tasks", 1, 100000, &d->max_active_tasks);
    read_dur(L, map_get(root, "dagrun_timeout"), "dagrun_timeout", &d->dagrun_timeout_ms);
    read_list(L, map_get(root, "tags"), "tags", &d->tags);
    read_list(L, map_get(root, "on_failure"), "on_failure", &d->on_failure);
    read_list(L, map_get(root, "on_success"), "on_success", &d->on_success);
    read_list(L, map_get(root, "on_retry"), "on_retry", &d->on_retry);
    read_list(L, map_get(root, "on_sla_miss"), "on_sla_miss", &d->on_sla_miss);
    const char *const on_keys[] = {"on_failure", "on_success", "on_retry", "on_sla_miss"};
    const kiln_flow_strv *on_lists[] = {&d->on_failure, &d->on_success, &d->on_retry, &d->on_sla_miss};
    for (int li = 0; li < 4; li++)
        for (size_t j = 0; j < on_lists[li]->len; j++) {
            size_t a = 0;
            while (a < L->proj->nalerts &&
                   (!L->proj->alerts[a].name || strcmp(L->proj->alerts[a].name, on_lists[li]->items[j])))
                a++;
            if (a == L->proj->nalerts)
                diag(L, map_get(root, on_keys[li]), "%s: unknown alert target '%s' (alerts are defined in kiln.yml)",
                     on_keys[li], on_lists[li]->items[j]);
        }
    if ((n = map_get(root, "params")) && !is_null(n)) {
        if (n->kind != 'm')
            diag(L, n, "params: want a map of name: default");
        else
            for (size_t i = 0; i + 1 < n->nkids; i += 2) {
                const ynode *k = n->kids[i], *v = n->kids[i + 1];
                if (k->kind != 's' || v->kind != 's') {
                    diag(L, k, "params: values are plain values (strings, numbers)");
                    continue;
                }
                char *ks = kiln_strdup(k->text), *vs = kiln_strdup(v->text);
                if (!ks || !vs || kiln_vec_push(&d->param_keys, ks, &e)) {
                    kiln_free(ks);
                    kiln_free(vs);
                    L->oom = 1;
                    return;
                }
                if (kiln_vec_push(&d->param_vals, vs, &e)) {
                    kiln_free(vs);
                    L->oom = 1;
                    return;
                }
            }
    }
}

/* One entry of tasks: (key k, settings v), starting from the defaults. */
static void dag_task(loader *L, kiln_flow_dag *d, const ynode *k, const ynode *v, const kiln_flow_task *def)
{
    kiln_err e = {0};
    kiln_flow_task *t = &d->tasks[d->ntasks];
    if (task_init_from(t, def) != 0) {
        L->oom = 1;
        return;
    }
    d->ntasks++;
    t->line = k->line;
    t->col = k->col;
    if (k->kind != 's' || !id_ok(k->text)) {
        diag(L, k, "task id: use letters, digits, '_', '-' and '.'");
        t->id = kiln_strdup("?");
        return;
    }
    if (!(t->id = kiln_strdup(k->text))) {
        L->oom = 1;
        return;
    }
    if (kiln_map_has(d->task_index, t->id, strlen(t->id)))
        diag(L, k, "task '%s' defined twice", t->id);
    else if (kiln_map_put(d->task_index, t->id, strlen(t->id), (void *)(uintptr_t)d->ntasks, &e) != 0) {
        L->oom = 1;
        return;
    }
    if (v->kind != 'm') {
        diag(L, v, "task '%s': want a map of settings", t->id);
        return;
    }
    check_keys(L, v, task_keys, "task");
    task_apply(L, t, v, 0);
    const ynode *at = map_get(v, "type") ? map_get(v, "type") : k;
    const lib_type *lt = lib_type_find(t->type);
    if (!t->type)
        diag(L, k, "task '%s': no type (type: command)", t->id);
    else if (!strcmp(t->type, "command")) {
        if (t->argv.len == 0)
            diag(L, map_get(v, "command") ? map_get(v, "command") : k, "task '%s': command: want a non-empty list",
                 t->id);
        if (t->soft_fail && map_get(v, "soft_fail"))
            diag(L, map_get(v, "soft_fail"), "task '%s': soft_fail is for sensors", t->id);
    } else if (!strcmp(t->type, "sensor.file") || !strcmp(t->type, "sensor.asset")) {
        int asset = !strcmp(t->type, "sensor.asset");
        if (!asset && (!t->sensor_path || map_get(v, "asset")))
            diag(L, map_get(v, "asset") ? map_get(v, "asset") : k,
                 "task '%s': sensor.file needs path: (the file to wait for)%s", t->id,
                 map_get(v, "asset") ? ", not asset:" : "");
        if (asset && (!t->sensor_path || map_get(v, "path")))
            diag(L, map_get(v, "path") ? map_get(v, "path") : k,
                 "task '%s': sensor.asset needs asset: (iceberg://WAREHOUSE/ns.table or a path)%s", t->id,
                 map_get(v, "path") ? ", not path:" : "");
        if (t->argv.len)
            diag(L, map_get(v, "command") ? map_get(v, "command") : k, "task '%s': a sensor has no command", t->id);
        if (!t->timeout_ms)
            t->timeout_ms = 7 * 86400000LL; /* Airflow's sensor default: 7 days */
    } else if (lt) {
        if (t->soft_fail && map_get(v, "soft_fail"))
            diag(L, map_get(v, "soft_fail"), "task '%s': soft_fail is for sensors", t->id);
        if (t->argv.len)
            diag(L, map_get(v, "command") ? map_get(v, "command") : k,
                 "task '%s': a %s task has no command (it runs kiln's library call)", t->id, t->type);
        if (lt->required && !kiln_flow_task_opt(t, lt->required))
            diag(L, k, "task '%s': %s needs %s:", t->id, t->type, lt->required);
        if (!strcmp(t->type, "table.fast_forward") && !kiln_flow_task_opt(t, "from"))
            diag(L, k, "task '%s': table.fast_forward needs from: (the branch to move to)", t->id);
        const char *ot = kiln_flow_task_opt(t, "older_than");
        int64_t ot_ms;
        if (ot && !kiln_flow__is_template(ot) && kiln_flow_parse_duration(ot, &ot_ms) != 0)
            diag(L, map_get(v, "older_than"), "task '%s': older_than: '%s' is not a duration (7d, 12h, 30m)", t->id,
                 ot);
        if (!strcmp(t->type, "job.gh_events")) {
            const char *wh = kiln_flow_task_opt(t, "warehouse"), *o = kiln_flow_task_opt(t, "out"),
                       *f = kiln_flow_task_opt(t, "format");
            if (!wh == !o)
                diag(L, k,
                     "task '%s': job.gh_events writes either Iceberg tables (warehouse:) or files (out:, format:)",
                     t->id);
            if (f && wh)
                diag(L, map_get(v, "format") ? map_get(v, "format") : k,
                     "task '%s': format: is for out: files; warehouse: writes Iceberg tables", t->id);
            if (f && !kiln_flow__is_template(f) && !kiln_gh_format_find(f))
                diag(L, map_get(v, "format") ? map_get(v, "format") : k, "task '%s': format '%s' is not one of %s",
                     t->id, f, kiln_gh_format_names());
            if (kiln_flow_task_opt(t, "branch") && !wh)
                diag(L, map_get(v, "branch") ? map_get(v, "branch") : k,
                     "task '%s': branch: is an Iceberg branch (needs warehouse:)", t->id);
        }
    } else if (!strcmp(t->type, "job.gh-events"))
        diag(L, at, "task '%s': unknown task type 'job.gh-events' (did you mean job.gh_events?)", t->id);
    else if (!strncmp(t->type, "sensor.", 7) || !strncmp(t->type, "table.", 6) || !strncmp(t->type, "ingest.", 7))
        diag(L, at,
             "task '%s': unknown task type '%s' (kiln has sensor.file, sensor.asset, table.fast_forward, "
             "table.expire, table.maintain, ingest.gharchive, ingest.github_api; see docs/flow.md)",
             t->id, t->type);
    else
        diag(L, at,
             "task '%s': unknown task type '%s' (command, sensor.file, sensor.asset, job.gh_events, models.build, sql, "
             "table.fast_forward, table.expire)",
             t->id, t->type);
    /* a setting of another task type is a mistake, not something to ignore */
    for (size_t i = 0; t->type && i + 1 < v->nkids; i += 2) {
        const ynode *kk = v->kids[i];
        if (kk->kind != 's' || !lib_key(kk->text))
            continue;
        int ok = 0;
        for (size_t j = 0; lt && lt->keys[j] && !ok; j++)
            ok = !strcmp(lt->keys[j], kk->text);
        if (!ok)
            diag(L, kk, "task '%s': '%s' is not a setting of type %s", t->id, kk->text, t->type);
    }
    check_templates(L, d, t, map_get(v, "command"), &t->argv, "command");
    check_templates(L, d, t, map_get(v, "env") ? map_get(v, "env") : k, &t->env, "env");
    check_templates(L, d, t, map_get(v, "consumes") ? map_get(v, "consumes") : k, &t->consumes, "consumes");
    check_templates(L, d, t, map_get(v, "produces") ? map_get(v, "produces") : k, &t->produces, "produces");
    for (size_t i = 0; i < t->opt_keys.len; i++) {
        const char *name = t->opt_keys.items[i];
        const ynode *on = !strncmp(name, "vars.", 5) ? map_get(v, "vars") : map_get(v, name);
        check_template(L, d, t, on ? on : k, t->opt_vals.items[i], name);
    }
    if (t->sensor_path)
        check_template(L, d, t,
                       map_get(v, "path")    ? map_get(v, "path")
                       : map_get(v, "asset") ? map_get(v, "asset")
                                             : k,
                       t->sensor_path, map_get(v, "path") ? "path" : "asset");
    if (t->cwd)
        check_template(L, d, t, map_get(v, "cwd") ? map_get(v, "cwd") : k, t->cwd, "cwd");
    if (!t->pool && !(t->pool = kiln_strdup("default_pool"))) {
        L->oom = 1;
        return;
    }
    const kiln_flow_pool *pool = find_pool(L->proj, t->pool);
    const ynode *pat = map_get(v, "pool") ? map_get(v, "pool") : k;
    if (!pool)
        diag(L, pat, "task '%s': unknown pool '%s' (pools are defined in kiln.yml)", t->id, t->pool);
    else if (t->pool_slots > pool->slots)
        diag(L, pat, "task '%s': pool_slots %d exceeds pool '%s' size %d", t->id, t->pool_slots, t->pool, pool->slots);
    if (t->depends_on_past && !d->has_cron)
        diag(L, k, "task '%s': depends_on_past needs a schedule (it compares with the previous interval)", t->id);
}

/* needs -> up/down indices; unknown and self needs are diagnosed. */
static void resolve_needs(loader *L, kiln_flow_dag *d, const ynode *tasks)
{
    for (size_t i = 0; i < d->ntasks; i++) {
        kiln_flow_task *t = &d->tasks[i];
        t->up = kiln_calloc(t->needs.len ? t->needs.len : 1, sizeof *t->up);
        if (!t->up) {
            L->oom = 1;
            return;
        }
        const ynode *nn = map_get(tasks->kids[2 * i + 1], "needs"); /* task i is entry i of the map */
        for (size_t j = 0; j < t->needs.len; j++) {
            long u = kiln_flow_dag_task(d, t->needs.items[j]);
            const ynode *at = nn && nn->kind == 'q' && j < nn->nkids ? nn->kids[j] : nn;
            if (u < 0) {
                diag(L, at, "task '%s' needs unknown task '%s'", t->id, t->needs.items[j]);
                continue;
            }
            if ((size_t)u == i) {
                diag(L, at, "task '%s' needs itself (a cycle)", t->id);
                continue;
            }
            int dup = 0;
            for (size_t q = 0; q < t->nup; q++)
                dup |= t->up[q] == (size_t)u;
            if (!dup)
                t->up[t->nup++] = (size_t)u;
        }
    }
    for (size_t i = 0; i < d->ntasks; i++)
        for (size_t j = 0; j < d->tasks[i].nup; j++)
            d->tasks[d->tasks[i].up[j]].ndown++;
    for (size_t i = 0; i < d->ntasks; i++) {
        d->tasks[i].down = kiln_calloc(d->tasks[i].ndown ? d->tasks[i].ndown : 1, sizeof(size_t));
        if (!d->tasks[i].down) {
            L->oom = 1;
            return;
        }
        d->tasks[i].ndown = 0;
    }
    for (size_t i = 0; i < d->ntasks; i++)
        for (size_t j = 0; j < d->tasks[i].nup; j++) {
            kiln_flow_task *u = &d->tasks[d->tasks[i].up[j]];
            u->down[u->ndown++] = i;
        }
}

static void load_dag(loader *L, const ynode *root, const char *stem, kiln_flow_dag **out)
{
    kiln_flow_dag *d = kiln_calloc(1, sizeof *d);
    kiln_flow_task def = {0};
    def.pool_slots = 1;
    def.priority_weight = 1;
    def.retry_delay_ms = 300000;  /* Airflow's default_task_retry_delay */
    def.poke_interval_ms = 60000; /* Airflow's BaseSensorOperator default */
    const ynode *n;
    if (!d || !(d->task_index = kiln_map_new())) {
        L->oom = 1;
        goto done;
    }
    d->max_active_runs = 16;
    d->max_active_tasks = 16;
    d->catchup = 0;
    if (!root || root->kind != 'm') {
        diag(L, root, "a DAG file is a map with 'tasks:' (and schedule, start_date, ...)");
        goto done;
    }
    check_keys(L, root, dag_keys, "DAG");
    d->path = kiln_strdup(L->path);
    d->project_dir = kiln_strdup(L->proj->dir);
    read_str(L, map_get(root, "dag"), "dag", &d->id);
    if (!d->id)
        d->id = kiln_strdup(stem);
    if (!d->id || !d->path || !d->project_dir) {
        L->oom = 1;
        goto done;
    }
    if (!id_ok(d->id))
        diag(L, map_get(root, "dag"), "DAG id '%s': use letters, digits, '_', '-' and '.'", d->id);
    dag_settings(L, d, root);
    if (L->oom)
        goto done;
    if ((n = map_get(root, "default_task")) && !is_null(n)) {
        if (n->kind != 'm')
            diag(L, n, "default_task: want a map of task settings");
        else {
            check_keys(L, n, task_keys, "default_task");
            task_apply(L, &def, n, 1);
        }
    }
    const ynode *tasks = map_get(root, "tasks");
    if (!tasks || tasks->kind != 'm' || tasks->nkids == 0) {
        diag(L, tasks ? tasks : root, "tasks: want a map of task id: settings (at least one)");
        goto done;
    }
    d->tasks = kiln_calloc(tasks->nkids / 2, sizeof *d->tasks);
    if (!d->tasks) {
        L->oom = 1;
        goto done;
    }
    for (size_t i = 0; i + 1 < tasks->nkids && !L->oom; i += 2)
        dag_task(L, d, tasks->kids[i], tasks->kids[i + 1], &def);
    if (!L->oom)
        resolve_needs(L, d, tasks);
    if (!L->oom)
        check_cycles(L, d, tasks);
done:
    task_free_fields(&def);
    if (L->nerr || L->oom) {
        kiln_flow__dag_free(d);
        d = NULL;
    }
    *out = d;
}

/* ------------------------------------------------------- project */

static int load_alerts(kiln_flow_project *p, const char *path, const ynode *alerts, kiln_err *err);

static int load_kiln_yml(kiln_flow_project *p, kiln_err *err)
{
    char *path = kiln_sprintf("%s/kiln.yml", p->dir), *text = NULL;
    size_t n = 0;
    ynode *root = NULL;
    int rc = 0;
    p->pools = kiln_calloc(1, sizeof *p->pools);
    if (!path || !p->pools || !(p->pools[0].name = kiln_strdup("default_pool"))) {
        rc = KILN_OOM(err);
        goto done;
    }
    p->pools[0].slots = 128;
    p->npools = 1;
    p->parallelism = 32;
    FILE *f = fopen(path, "r");
    if (!f)
        goto done; /* kiln.yml is optional */
    fclose(f);
    if ((rc = kiln_file_read(path, 1 << 20, &text, &n, err)) || (rc = yaml_load(&root, path, text, n, err)))
        goto done;
    const ynode *pools = map_get(root, "pools"), *flow = map_get(root, "flow");
    if (pools && pools->kind == 'm') {
        for (size_t i = 0; i + 1 < pools->nkids; i += 2) {
            const ynode *k = pools->kids[i], *v = pools->kids[i + 1];
            const ynode *sv = v->kind == 'm' ? map_get(v, "slots") : v;
            char *end = NULL;
            long slots = sv && sv->kind == 's' ? strtol(sv->text, &end, 10) : -1;
            if (k->kind != 's' || !id_ok(k->text) || !end || *end || slots < 1 || slots > 1000000) {
                rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: pools: want NAME: SLOTS (a whole number >= 1)", path,
                                  v->line, v->col);
                goto done;
            }
            kiln_flow_pool *pp = (kiln_flow_pool *)find_pool(p, k->text);
            if (!pp) {
                kiln_flow_pool *np = kiln_realloc(p->pools, (p->npools + 1) * sizeof *np);
                if (!np) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                p->pools = np;
                pp = &p->pools[p->npools];
                if (!(pp->name = kiln_strdup(k->text))) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                p->npools++;
            }
            pp->slots = (int)slots;
        }
    } else if (pools && !is_null(pools)) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: pools: want a map of NAME: SLOTS", path, pools->line,
                          pools->col);
        goto done;
    }
    if ((rc = load_alerts(p, path, map_get(root, "alerts"), err)))
        goto done;
    const ynode *lin = map_get(map_get(flow, "lineage"), "file");
    if (lin && !is_null(lin)) {
        if (lin->kind != 's' || !*lin->text) {
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: flow.lineage.file: want a path", path, lin->line, lin->col);
            goto done;
        }
        p->lineage_file = lin->text[0] == '/' ? kiln_strdup(lin->text) : kiln_sprintf("%s/%s", p->dir, lin->text);
        if (!p->lineage_file) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    const ynode *lurl = map_get(map_get(flow, "lineage"), "url");
    if (lurl && !is_null(lurl)) {
        if (lurl->kind != 's' || (strncmp(lurl->text, "http://", 7) && strncmp(lurl->text, "https://", 8))) {
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: flow.lineage.url: want an http:// or https:// URL", path,
                              lurl->line, lurl->col);
            goto done;
        }
        if (!(p->lineage_url = kiln_strdup(lurl->text))) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    p->lineage_timeout_ms = 5000;
    const ynode *apoll = map_get(flow, "asset_poll_interval");
    if (apoll && !is_null(apoll) &&
        (apoll->kind != 's' || kiln_flow_parse_duration(apoll->text, &p->asset_poll_ms) != 0 ||
         p->asset_poll_ms <= 0)) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: flow.asset_poll_interval: want a duration (30s)", path,
                          apoll->line, apoll->col);
        goto done;
    }
    const ynode *lto = map_get(map_get(flow, "lineage"), "timeout");
    if (lto && !is_null(lto) &&
        (lto->kind != 's' || kiln_flow_parse_duration(lto->text, &p->lineage_timeout_ms) != 0 ||
         p->lineage_timeout_ms <= 0)) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: flow.lineage.timeout: want a duration (5s)", path, lto->line,
                          lto->col);
        goto done;
    }
    const ynode *par = map_get(flow, "parallelism");
    if (par) {
        char *end = NULL;
        long v = par->kind == 's' ? strtol(par->text, &end, 10) : 0;
        if (!end || *end || v < 1 || v > 100000) {
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: flow.parallelism: want a whole number >= 1", path,
                              par->line, par->col);
            goto done;
        }
        p->parallelism = (int)v;
    }
done:
    ynode_free(root);
    kiln_free(text);
    kiln_free(path);
    return rc;
}

static const char *const alert_keys[] = {"type",    "command", "url", "url_env", "routing_key_env",
                                         "timeout", "retries", NULL};

/* kiln.yml alerts: NAME: {type: command|webhook|slack|pagerduty, ...} */
static int load_alerts(kiln_flow_project *p, const char *path, const ynode *alerts, kiln_err *err)
{
    if (is_null(alerts))
        return 0;
    if (alerts->kind != 'm')
        return kiln_err_set(err, KILN_ECONFIG, "%s:%d:%d: alerts: want a map of NAME: {type: ...}", path, alerts->line,
                            alerts->col);
    p->alerts = kiln_calloc(alerts->nkids / 2 + 1, sizeof *p->alerts);
    if (!p->alerts)
        return KILN_OOM(err);
    kiln_flow_strv diags = {0};
    loader L = {.path = path, .diags = &diags, .proj = p};
    static const char *const types[] = {"command", "webhook", "slack", "pagerduty"};
    for (size_t i = 0; i + 1 < alerts->nkids; i += 2) {
        const ynode *k = alerts->kids[i], *v = alerts->kids[i + 1];
        kiln_flow_alert *a = &p->alerts[p->nalerts++];
        a->timeout_ms = 10000;
        a->retries = 2;
        if (k->kind != 's' || !id_ok(k->text) || !(a->name = kiln_strdup(k->text))) {
            diag(&L, k, "alerts: names are letters, digits, '_', '-' and '.'");
            continue;
        }
        if (v->kind != 'm') {
            diag(&L, v, "alert '%s': want a map with type:", a->name);
            continue;
        }
        check_keys(&L, v, alert_keys, "alert");
        const ynode *t = map_get(v, "type");
        size_t ti = 0;
        if (t && t->kind == 's')
            for (; ti < 4 && strcmp(types[ti], t->text); ti++)
                ;
        if (!t || t->kind != 's' || ti == 4) {
            diag(&L, t ? t : k, "alert '%s': type is command, webhook, slack or pagerduty", a->name);
            continue;
        }
        a->type = (int)ti;
        read_list(&L, map_get(v, "command"), "command", &a->argv);
        read_str(&L, map_get(v, "url"), "url", &a->url);
        read_str(&L, map_get(v, "url_env"), "url_env", &a->url_env);
        read_str(&L, map_get(v, "routing_key_env"), "routing_key_env", &a->routing_key_env);
        read_dur(&L, map_get(v, "timeout"), "timeout", &a->timeout_ms);
        read_int(&L, map_get(v, "retries"), "retries", 0, 10, &a->retries);
        if (a->type == KILN_ALERT_COMMAND && a->argv.len == 0)
            diag(&L, k, "alert '%s': command: want a non-empty list", a->name);
        if (a->type == KILN_ALERT_PAGERDUTY && !a->url && !a->url_env &&
            !(a->url = kiln_strdup("https://events.pagerduty.com/v2/enqueue")))
            L.oom = 1;
        if (a->type != KILN_ALERT_COMMAND && !a->url && !a->url_env)
            diag(&L, k, "alert '%s': needs url or url_env (a variable holding the URL)", a->name);
        if (a->type == KILN_ALERT_PAGERDUTY && !a->routing_key_env)
            diag(&L, k, "alert '%s': needs routing_key_env (the variable holding the routing key)", a->name);
        if (a->url && strncmp(a->url, "http://", 7) && strncmp(a->url, "https://", 8))
            diag(&L, map_get(v, "url"), "alert '%s': url must be http:// or https://", a->name);
    }
    int rc = 0;
    if (L.oom)
        rc = KILN_OOM(err);
    else if (diags.len)
        rc = kiln_err_set(err, KILN_ECONFIG, "%s", diags.items[0]);
    kiln_flow__strv_free(&diags);
    return rc;
}

static int name_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void kiln_flow_project_free(kiln_flow_project *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ndags; i++)
        kiln_flow__dag_free(p->dags[i]);
    kiln_free(p->dags);
    kiln_flow__strv_free(&p->diags);
    for (size_t i = 0; i < p->npools; i++)
        kiln_free(p->pools[i].name);
    kiln_free(p->pools);
    kiln_free(p->dir);
    kiln_free(p->state_dir);
    kiln_free(p->lineage_file);
    kiln_free(p->lineage_url);
    for (size_t i = 0; i < p->nalerts; i++) {
        kiln_flow_alert *a = &p->alerts[i];
        kiln_free(a->name);
        kiln_flow__strv_free(&a->argv);
        kiln_free(a->url);
        kiln_free(a->url_env);
        kiln_free(a->routing_key_env);
    }
    kiln_free(p->alerts);
    kiln_free(p);
}

int kiln_flow_project_load(kiln_flow_project **out, const char *dir, kiln_err *err)
{
    kiln_flow_project *p = kiln_calloc(1, sizeof *p);
    char *dags_dir = NULL;
    kiln_flow_strv files = {0};
    DIR *dh = NULL;
    int rc = 0;
    *out = NULL;
    if (!p || !(p->dir = kiln_strdup(dir)) || !(p->state_dir = kiln_sprintf("%s/.kiln", dir)) ||
        !(dags_dir = kiln_sprintf("%s/dags", dir))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = load_kiln_yml(p, err)) || (rc = kiln_flow__maint_config_check(p, err)))
        goto done;
    if (!(dh = opendir(dags_dir))) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s: no dags/ directory (DAG files are dags/NAME.yml)", dags_dir);
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' ||
            !((l > 4 && !strcmp(de->d_name + l - 4, ".yml")) || (l > 5 && !strcmp(de->d_name + l - 5, ".yaml"))))
            continue;
        char *s = kiln_strdup(de->d_name);
        if (!s || kiln_vec_push(&files, s, err)) {
            kiln_free(s);
            rc = KILN_OOM(err);
            goto done;
        }
    }
    kiln_sort(files.items, files.len, sizeof *files.items, name_cmp);
    for (size_t i = 0; i < files.len; i++) {
        char *path = kiln_sprintf("%s/%s", dags_dir, files.items[i]), *text = NULL;
        char *stem = kiln_strndup(files.items[i], strcspn(files.items[i], "."));
        size_t n = 0;
        ynode *root = NULL;
        kiln_err e = {0};
        loader L = {.path = path, .diags = &p->diags, .proj = p};
        kiln_flow_dag *d = NULL;
        if (!path || !stem) {
            kiln_free(path);
            kiln_free(stem);
            rc = KILN_OOM(err);
            goto done;
        }
        if (kiln_file_read(path, 4 << 20, &text, &n, &e) != 0 || yaml_load(&root, path, text, n, &e) != 0) {
            char *s = kiln_strdup(e.msg);
            if (!s || kiln_vec_push(&p->diags, s, err))
                kiln_free(s);
        } else {
            load_dag(&L, root, stem, &d);
        }
        if (d) {
            const kiln_flow_dag *other = kiln_flow_project_dag(p, d->id);
            if (other) {
                ynode at = {.line = 1, .col = 1};
                diag(&L, &at, "DAG id '%s' is also used by %s", d->id, other->path);
                kiln_flow__dag_free(d);
                d = NULL;
            }
        }
        if (d) {
            kiln_flow_dag **nd = kiln_realloc(p->dags, (p->ndags + 1) * sizeof *nd);
            if (!nd) {
                kiln_flow__dag_free(d);
                L.oom = 1;
            } else {
                p->dags = nd;
                p->dags[p->ndags++] = d;
            }
        }
        ynode_free(root);
        kiln_free(text);
        kiln_free(path);
        kiln_free(stem);
        if (L.oom) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    *out = p;
    p = NULL;
done:
    if (dh)
        closedir(dh);
    kiln_flow__strv_free(&files);
    kiln_free(dags_dir);
    kiln_flow_project_free(p);
    return rc;
}

const kiln_flow_dag *kiln_flow_project_dag(const kiln_flow_project *p, const char *id)
{
    for (size_t i = 0; i < p->ndags; i++)
        if (!strcmp(p->dags[i]->id, id))
            return p->dags[i];
    return NULL;
}

int kiln_flow_project_need_dag(const kiln_flow_project *p, const char *id, const kiln_flow_dag **out, kiln_err *err)
{
    if ((*out = kiln_flow_project_dag(p, id)))
        return 0;
    /* a DAG file of that name that did not load is a config problem */
    for (size_t i = 0; i < p->diags.len; i++) {
        const char *s = strstr(p->diags.items[i], "/dags/");
        size_t l = strlen(id);
        if (s && !strncmp(s + 6, id, l) && s[6 + l] == '.')
            return kiln_err_set(err, KILN_ECONFIG, "DAG '%s' did not load: %s", id, p->diags.items[i]);
    }
    return kiln_err_set(err, KILN_ENOTFOUND, "no DAG '%s' in %s/dags (kiln dags list shows them)", id, p->dir);
}

/* ------------------------------------------------------- pictures */

int kiln_flow_dags_list(const kiln_flow_project *p, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    /* paused DAGs, from the store when there is one (listing creates none) */
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    char *path = kiln_sprintf("%s/flow.db", p->state_dir);
    if (!path)
        return KILN_OOM(err);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT paused FROM dag_pause WHERE dag=?1", -1, &q, NULL) != SQLITE_OK)
        q = NULL;
    for (size_t i = 0; i < p->ndags && !rc; i++) {
        const kiln_flow_dag *d = p->dags[i];
        int paused = 0;
        if (q) {
            sqlite3_reset(q);
            sqlite3_bind_text(q, 1, d->id, -1, SQLITE_STATIC);
            paused = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
        }
        rc = kiln_buf_printf(out, err, "%-24s %-16s %3zu tasks  %-7s %s\n", d->id,
                             d->schedule ? d->schedule : "(manual)", d->ntasks, paused ? "paused" : "active", d->path);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    kiln_free(path);
    return rc;
}

int kiln_flow_dag_show(const kiln_flow_dag *d, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    char sd[40] = "-";
    if (d->start_date)
        kiln_ts_format(d->start_date * 1000000, sd);
    if ((rc = kiln_buf_printf(out, err, "DAG %s (%s)\n  schedule %s  timezone %s  start %s  catchup %s\n", d->id,
                              d->path, d->schedule ? d->schedule : "(manual)", d->timezone ? d->timezone : "UTC", sd,
                              d->catchup ? "yes" : "no")))
        return rc;
    /* depth = longest path from a root; print tasks by depth */
    size_t *depth = kiln_calloc(d->ntasks ? d->ntasks : 1, sizeof *depth), maxd = 0;
    if (!depth)
        return KILN_OOM(err);
    for (int changed = 1; changed;) { /* the DAG is acyclic (validated), so this settles */
        changed = 0;
        for (size_t i = 0; i < d->ntasks; i++)
            for (size_t j = 0; j < d->tasks[i].nup; j++)
                if (depth[i] < depth[d->tasks[i].up[j]] + 1) {
                    depth[i] = depth[d->tasks[i].up[j]] + 1;
                    changed = 1;
                }
    }
    for (size_t i = 0; i < d->ntasks; i++)
        maxd = depth[i] > maxd ? depth[i] : maxd;
    for (size_t lv = 0; lv <= maxd && !rc; lv++)
        for (size_t i = 0; i < d->ntasks && !rc; i++) {
            const kiln_flow_task *t = &d->tasks[i];
            if (depth[i] != lv)
                continue;
            rc = kiln_buf_printf(out, err, "  %*s%s%s [%s]", (int)(lv * 2), "", lv ? "└─ " : "", t->id, t->type);
            for (size_t j = 0; j < t->nup && !rc; j++)
                rc = kiln_buf_printf(out, err, "%s%s", j ? ", " : " <- ", d->tasks[t->up[j]].id);
            if (!rc && t->trigger != KILN_TR_ALL_SUCCESS)
                rc = kiln_buf_printf(out, err, "  (%s)", kiln_flow_trigger_name(t->trigger));
            if (!rc)
                rc = kiln_buf_putc(out, '\n', err);
        }
    kiln_free(depth);
    return rc;
}

/* ------------------------------------------------------- rendering */

void kiln_flow_render_ctx_init(kiln_flow_render_ctx *c, const kiln_flow_dag *d, int64_t logical, int64_t istart,
                               int64_t iend, const char *run_id, int try_number)
{
    memset(c, 0, sizeof *c);
    c->dag = d;
    kiln_ts_format(logical * 1000000, c->logical_date);
    kiln_ts_format(istart * 1000000, c->data_interval_start);
    kiln_ts_format(iend * 1000000, c->data_interval_end);
    memcpy(c->ds, c->logical_date, 10);
    memcpy(c->ds_nodash, c->ds, 4);
    memcpy(c->ds_nodash + 4, c->ds + 5, 2);
    memcpy(c->ds_nodash + 6, c->ds + 8, 2);
    /* Airflow's ts (isoformat with +00:00) and ts_nodash */
    memcpy(c->ts, c->logical_date, 19);
    memcpy(c->ts + 19, "+00:00", 7);
    memcpy(c->ts_nodash, c->ds_nodash, 8);
    c->ts_nodash[8] = 'T';
    const char *tm = c->logical_date + 11; /* HH:MM:SS */
    char *o = c->ts_nodash + 9;
    for (int i = 0; i < 8; i++)
        if (tm[i] != ':')
            *o++ = tm[i];
    *o = 0;
    c->run_id = run_id ? run_id : "";
    c->try_number = try_number;
}

static int json_member(kiln_buf *out, kiln_err *err, const char *k, const char *v, int comma)
{
    int rc = kiln_buf_printf(out, err, "%s", comma ? "," : "");
    if (!rc)
        rc = kiln_json_write_str(out, k, strlen(k), err);
    if (!rc)
        rc = kiln_buf_putc(out, ':', err);
    return rc ? rc : kiln_json_write_str(out, v, strlen(v), err);
}

int kiln_flow_render_vars_json(const kiln_flow_render_ctx *ctx, kiln_buf *out, kiln_err *err)
{
    const char *names[] = {
        "ds",     "ds_nodash", "ts", "ts_nodash", "logical_date", "data_interval_start", "data_interval_end",
        "run_id", "branch"};
    const char *vals[] = {ctx->ds,
                          ctx->ds_nodash,
                          ctx->ts,
                          ctx->ts_nodash,
                          ctx->logical_date,
                          ctx->data_interval_start,
                          ctx->data_interval_end,
                          ctx->run_id ? ctx->run_id : "",
                          ctx->branch ? ctx->branch : "main"};
    int rc = kiln_buf_putc(out, '{', err);
    for (size_t i = 0; !rc && i < sizeof names / sizeof *names; i++)
        rc = json_member(out, err, names[i], vals[i], i > 0);
    if (!rc)
        rc = kiln_buf_printf(out, err, ",\"params\":{");
    for (size_t i = 0; !rc && ctx->dag && i < ctx->dag->param_keys.len; i++)
        rc = json_member(out, err, ctx->dag->param_keys.items[i], ctx->dag->param_vals.items[i], i > 0);
    if (!rc)
        rc = kiln_buf_printf(out, err, "},\"task\":{\"try_number\":%d", ctx->try_number);
    if (!rc && ctx->task_id)
        rc = json_member(out, err, "task_id", ctx->task_id, 1);
    if (!rc)
        rc = kiln_buf_printf(out, err, "},\"dag\":{");
    if (!rc && ctx->dag)
        rc = json_member(out, err, "dag_id", ctx->dag->id, 0);
    if (!rc)
        rc = kiln_buf_printf(out, err, "}}");
    return rc;
}

int kiln_flow__is_template(const char *s) { return strstr(s, "{{") || strstr(s, "{%") || strstr(s, "{#"); }

int kiln_flow_render(char **out, const char *s, const kiln_flow_render_ctx *ctx, kiln_err *err)
{
    *out = NULL;
    if (!kiln_flow__is_template(s)) {
        if (!(*out = kiln_strdup(s)))
            return KILN_OOM(err);
        return 0;
    }
    /* the models layer's Jinja: one template engine in kiln, not two */
    kiln_buf vars, res;
    kiln_buf_init(&vars, 0);
    kiln_buf_init(&res, 0);
    int rc = kiln_flow_render_vars_json(ctx, &vars, err);
    if (!rc)
        rc = kiln_models_render_string(ctx->where ? ctx->where : "template", s, strlen(s), vars.data, &res, err);
    if (!rc && !res.data && !(res.data = kiln_strdup("")))
        rc = KILN_OOM(err);
    if (!rc && strlen(res.data) != res.len)
        rc =
            kiln_err_set(err, KILN_EINVAL, "%s: the template renders a NUL byte", ctx->where ? ctx->where : "template");
    if (!rc)
        *out = kiln_buf_detach(&res, NULL);
    kiln_buf_free(&vars);
    kiln_buf_free(&res);
    return rc;
}
