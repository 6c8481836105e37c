/*
 * sql_call.c - Iceberg's Spark procedures in kiln SQL: table maintenance
 * as CALL statements, with Spark's procedure names, argument names and
 * output columns (docs/maintenance.md):
 *
 *   CALL [catalog.]system.rewrite_data_files(table => 'ns.t'
 *        [, strategy => 'binpack'|'sort'] [, sort_order => 'a DESC NULLS LAST, b' | 'zorder(a, b)']
 *        [, where => 'pred'] [, options => map('min-input-files', '2', ...)])
 *   CALL [catalog.]system.expire_snapshots(table => 'ns.t' [, older_than => TIMESTAMP '...']
 *        [, retain_last => N])
 *   CALL [catalog.]system.remove_orphan_files(table => 'ns.t' [, older_than => TIMESTAMP '...']
 *        [, dry_run => true])
 *   CALL [catalog.]system.rewrite_manifests(table => 'ns.t' [, use_caching => b])
 *   CALL [catalog.]system.rewrite_position_delete_files(table => 'ns.t')
 *
 * Arguments are named (`name => value`) or positional in Spark's order.
 * The result is a query over literal values, prepared on the session's
 * database, so the shell prints it in the chosen format like any SELECT.
 * An unknown procedure, argument or option is an error (never ignored).
 */
#define KILN_SQL_LEX_SHORT_NAMES
#include "sql_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ARGS 12
#define MAX_OPTS 16

typedef struct carg {
    char name[64]; /* "" when positional */
    char *value;   /* unquoted text (kiln_malloc'd); NULL for map() */
    char kind;     /* 's' string, 'n' number, 'b' boolean, 't' timestamp, 'm' map */
    char *keys[MAX_OPTS], *vals[MAX_OPTS];
    int nopts;
    size_t at; /* offset of the value, for errors */
} carg;

typedef struct call {
    char proc[64];
    carg args[MAX_ARGS];
    int nargs;
} call;

static void call_free(call *c)
{
    for (int i = 0; i < c->nargs; i++) {
        kiln_free(c->args[i].value);
        for (int j = 0; j < c->args[i].nopts; j++) {
            kiln_free(c->args[i].keys[j]);
            kiln_free(c->args[i].vals[j]);
        }
    }
}

/* 'it''s' -> it's */
static char *unquote(const char *s, size_t n)
{
    char *o = kiln_malloc(n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        o[k++] = s[i];
        if (s[i] == '\'' && s[i + 1] == '\'')
            i++;
    }
    o[k] = 0;
    return o;
}

/* One value: 'str', number, TRUE/FALSE, TIMESTAMP 'str', map('k', 'v', ...). */
static int parse_value(lexer *lx, carg *a, long *eoff, kiln_err *err)
{
    tok t = next(lx);
    a->at = t.b;
    if (t.kind == 's') {
        a->kind = 's';
        a->value = unquote(lx->s + t.b, t.e - t.b);
    } else if (t.kind == 'n' || (is_p(lx, t, '-') && peek(lx).kind == 'n')) {
        size_t b = t.b;
        if (t.kind != 'n')
            t = next(lx);
        a->kind = 'n';
        a->value = kiln_strndup(lx->s + b, t.e - b);
    } else if (is_kw(lx, t, "true") || is_kw(lx, t, "false")) {
        a->kind = 'b';
        a->value = kiln_strndup(lx->s + t.b, t.e - t.b);
    } else if (is_kw(lx, t, "timestamp")) {
        tok s = next(lx);
        if (s.kind != 's')
            return perr(eoff, s.b, err, "CALL: TIMESTAMP needs a quoted value: TIMESTAMP '2025-01-01 00:00:00'");
        a->kind = 't';
        a->value = unquote(lx->s + s.b, s.e - s.b);
    } else if (is_kw(lx, t, "map")) {
        a->kind = 'm';
        if (!is_p(lx, next(lx), '('))
            return perr(eoff, t.b, err, "CALL: map( expected");
        if (is_p(lx, peek(lx), ')')) {
            next(lx);
            return 0;
        }
        for (;;) {
            tok k = next(lx), c = next(lx), v = next(lx);
            if (k.kind != 's' || !is_p(lx, c, ',') || (v.kind != 's' && v.kind != 'n'))
                return perr(eoff, k.b, err, "CALL: map() takes 'key', 'value' pairs of strings");
            if (a->nopts == MAX_OPTS)
                return perr(eoff, k.b, err, "CALL: more than %d options", MAX_OPTS);
            a->keys[a->nopts] = unquote(lx->s + k.b, k.e - k.b);
            a->vals[a->nopts] = v.kind == 's' ? unquote(lx->s + v.b, v.e - v.b) : kiln_strndup(lx->s + v.b, v.e - v.b);
            if (!a->keys[a->nopts] || !a->vals[a->nopts++])
                return KILN_OOM(err);
            tok e = next(lx);
            if (is_p(lx, e, ')'))
                return 0;
            if (!is_p(lx, e, ','))
                return perr(eoff, e.b, err, "CALL: ',' or ')' expected in map()");
        }
    } else {
        return perr(eoff, t.b, err,
                    "CALL: a value expected: 'string', number, true/false, TIMESTAMP '...' or map(...)");
    }
    return a->value ? 0 : KILN_OOM(err);
}

/* CALL [catalog.]system.NAME(args) -> c; *handled = 0 when not a CALL. */
static int parse(const char *sql, size_t len, call *c, int *handled, size_t *used, long *eoff, kiln_err *err)
{
    lexer lx = {sql, len, 0};
    tok t = next(&lx);
    if (!is_kw(&lx, t, "call"))
        return 0;
    *handled = 1;
    char parts[3][129];
    int np = 0;
    for (;;) {
        tok w = next(&lx);
        if (np == 3 || ident(&lx, w, parts[np], sizeof parts[np]) != 0)
            return perr(eoff, w.b, err, "CALL: a procedure name expected: CALL system.rewrite_data_files(...)");
        np++;
        if (!is_p(&lx, peek(&lx), '.'))
            break;
        next(&lx);
    }
    if (np < 2 || strcasecmp(parts[np - 2], "system") != 0)
        return perr(eoff, t.e, err, "CALL: procedures are in the namespace system (CALL system.%s(...))",
                    parts[np - 1]);
    snprintf(c->proc, sizeof c->proc, "%s", parts[np - 1]);
    tok o = next(&lx);
    if (!is_p(&lx, o, '('))
        return perr(eoff, o.b, err, "CALL: '(' expected after %s", c->proc);
    if (is_p(&lx, peek(&lx), ')'))
        next(&lx);
    else
        for (;;) {
            if (c->nargs == MAX_ARGS)
                return perr(eoff, lx.pos, err, "CALL: too many arguments");
            carg *a = &c->args[c->nargs++];
            memset(a, 0, sizeof *a);
            lexer save = lx;
            tok n = next(&lx), arrow = next(&lx);
            int named = (n.kind == 'w' || n.kind == 'q') && is_p(&lx, arrow, '=') && lx.pos < len && sql[lx.pos] == '>';
            if (named) {
                lx.pos++; /* the '>' of => */
                if (ident(&lx, n, a->name, sizeof a->name) != 0)
                    return perr(eoff, n.b, err, "CALL: bad argument name");
            } else {
                lx = save;
            }
            int rc = parse_value(&lx, a, eoff, err);
            if (rc)
                return rc;
            tok e = next(&lx);
            if (is_p(&lx, e, ')'))
                break;
            if (!is_p(&lx, e, ','))
                return perr(eoff, e.b, err, "CALL: ',' or ')' expected");
        }
    tok end = next(&lx);
    if (end.kind && !is_p(&lx, end, ';'))
        return perr(eoff, end.b, err, "CALL: unexpected text after the procedure's arguments");
    *used = end.kind ? end.e : len;
    return 0;
}

/* ------------------------------------------------------------ arguments */

typedef struct proc_def {
    const char *name;
    const char *args[8]; /* Spark's order, for positional arguments */
} proc_def;

static const proc_def procs[] = {
    {"rewrite_data_files", {"table", "strategy", "sort_order", "options", "where", NULL}},
    {"expire_snapshots", {"table", "older_than", "retain_last", "max_concurrent_deletes", "stream_results", NULL}},
    {"remove_orphan_files", {"table", "older_than", "location", "dry_run", "max_concurrent_deletes", NULL}},
    {"rewrite_manifests", {"table", "use_caching", NULL}},
    {"rewrite_position_delete_files", {"table", "options", "where", NULL}},
};

/* Name the positional arguments and check every name is known. */
static int resolve(call *c, const proc_def *p, long *eoff, kiln_err *err)
{
    int seen_named = 0;
    for (int i = 0; i < c->nargs; i++) {
        carg *a = &c->args[i];
        if (!a->name[0]) {
            if (seen_named)
                return perr(eoff, a->at, err, "CALL %s: a positional argument after a named one", p->name);
            if (i >= 8 || !p->args[i])
                return perr(eoff, a->at, err, "CALL %s: too many arguments", p->name);
            snprintf(a->name, sizeof a->name, "%s", p->args[i]);
        } else {
            seen_named = 1;
        }
        int known = 0;
        for (int k = 0; k < 8 && p->args[k]; k++)
            known |= strcasecmp(a->name, p->args[k]) == 0;
        if (!known)
            return perr(eoff, a->at, err, "CALL %s: unknown argument %s", p->name, a->name);
        for (int j = 0; j < i; j++)
            if (!strcasecmp(c->args[j].name, a->name))
                return perr(eoff, a->at, err, "CALL %s: argument %s given twice", p->name, a->name);
    }
    return 0;
}

static carg *arg(call *c, const char *name)
{
    for (int i = 0; i < c->nargs; i++)
        if (!strcasecmp(c->args[i].name, name))
            return &c->args[i];
    return NULL;
}

static int want_kind(const call *c, const carg *a, const char *kinds, const char *what, long *eoff, kiln_err *err)
{
    if (strchr(kinds, a->kind))
        return 0;
    return perr(eoff, a->at, err, "CALL %s: %s must be %s", c->proc, a->name, what);
}

static int arg_bool(const call *c, const carg *a, int *out, long *eoff, kiln_err *err)
{
    const char *v = a->value ? a->value : "";
    if (a->kind == 'b' || a->kind == 's') {
        if (!strcasecmp(v, "true")) {
            *out = 1;
            return 0;
        }
        if (!strcasecmp(v, "false")) {
            *out = 0;
            return 0;
        }
    }
    return perr(eoff, a->at, err, "CALL %s: %s must be true or false", c->proc, a->name);
}

static int text_i64(const char *v, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo)
        return -1;
    *out = x;
    return 0;
}

/* TIMESTAMP '2025-01-01 00:00:00[.fff]' (UTC when no zone), '...Z', or
 * epoch milliseconds. */
static int arg_time_ms(const call *c, const carg *a, int64_t *out, long *eoff, kiln_err *err)
{
    if (a->kind == 'n' && text_i64(a->value, 0, out) == 0)
        return 0;
    if (a->kind == 's' || a->kind == 't') {
        int64_t us, days;
        size_t n = strlen(a->value);
        if (kiln_ts_parse(a->value, n, &us) == 0) {
            *out = us / 1000;
            return 0;
        }
        char *z = kiln_sprintf("%sZ", a->value); /* Spark's literal has no zone: UTC */
        int ok = z && kiln_ts_parse(z, n + 1, &us) == 0;
        kiln_free(z);
        if (ok) {
            *out = us / 1000;
            return 0;
        }
        if (kiln_date_parse(a->value, n, &days) == 0) {
            *out = days * 86400000;
            return 0;
        }
    }
    return perr(eoff, a->at, err, "CALL %s: %s must be a timestamp (TIMESTAMP '2025-01-01 00:00:00') or epoch ms",
                c->proc, a->name);
}

static int open_table(sqlite3 *db, call *c, kiln_lake_table **t, long *eoff, kiln_err *err)
{
    carg *a = arg(c, "table");
    if (!a)
        return perr(eoff, 0, err, "CALL %s: the table argument is required (table => 'ns.t')", c->proc);
    int rc = want_kind(c, a, "s", "a quoted table name 'ns.t'", eoff, err);
    if (rc)
        return rc;
    kiln_lake_catalog *cat = kiln_sql_lake_catalog_for_write(db, 0, &rc, err);
    if (!cat)
        return rc ? rc
                  : kiln_err_set(err, KILN_EINVAL, "CALL %s: no warehouse attached (kiln sql --warehouse)", c->proc);
    /* Spark names may carry the catalog: kiln.ns.t */
    const char *name = a->value;
    if (strchr(name, '.') != strrchr(name, '.'))
        name = strchr(name, '.') + 1;
    return kiln_lake_table_load(t, cat, name, err);
}

/* ------------------------------------------------------------ procedures */

/* The result query: "SELECT v AS c, ..." over integer literals. */
static char *counts_query(const char *const *cols, const int64_t *v, int n)
{
    kiln_buf q;
    kiln_buf_init(&q, 0);
    kiln_err e = {0};
    kiln_buf_append(&q, "SELECT ", 7, &e);
    for (int i = 0; i < n; i++) {
        char one[160];
        snprintf(one, sizeof one, "%s%" PRId64 " AS %s", i ? ", " : "", v[i], cols[i]);
        kiln_buf_append(&q, one, strlen(one), &e);
    }
    kiln_buf_putc(&q, 0, &e);
    if (e.code) {
        kiln_buf_free(&q);
        return NULL;
    }
    return q.data;
}

static int p_rewrite_data_files(sqlite3 *db, call *c, char **query, long *eoff, kiln_err *err)
{
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    carg *a;
    int rc = 0, sort = 0;
    char *zcols = NULL;
    if ((a = arg(c, "strategy"))) {
        if ((rc = want_kind(c, a, "s", "'binpack' or 'sort'", eoff, err)))
            return rc;
        if (!strcasecmp(a->value, "sort"))
            sort = 1;
        else if (strcasecmp(a->value, "binpack"))
            return perr(eoff, a->at, err, "CALL rewrite_data_files: strategy %s: want 'binpack' or 'sort'", a->value);
    }
    if ((a = arg(c, "sort_order"))) {
        if ((rc = want_kind(c, a, "s", "a quoted sort order", eoff, err)))
            return rc;
        if (!sort)
            return perr(eoff, a->at, err, "CALL rewrite_data_files: sort_order needs strategy => 'sort'");
        const char *v = a->value;
        while (*v == ' ')
            v++;
        if (!strncasecmp(v, "zorder", 6)) { /* zorder(a, b) */
            const char *b = strchr(v, '('), *e = strrchr(v, ')');
            if (!b || !e || e < b)
                return perr(eoff, a->at, err, "CALL rewrite_data_files: sort_order %s: want zorder(a, b)", a->value);
            if (!(zcols = kiln_strndup(b + 1, (size_t)(e - b - 1))))
                return KILN_OOM(err);
            o.zorder = zcols;
        } else {
            o.sort_by = a->value;
        }
    } else if (sort) {
        o.sort_table_order = 1;
    }
    if ((a = arg(c, "where"))) {
        if ((rc = want_kind(c, a, "s", "a quoted predicate", eoff, err)))
            goto done;
        o.where = a->value;
    }
    if ((a = arg(c, "options"))) {
        if ((rc = want_kind(c, a, "m", "map('key', 'value', ...)", eoff, err)))
            goto done;
        for (int i = 0; i < a->nopts; i++) {
            const char *k = a->keys[i], *v = a->vals[i];
            int64_t x = 0;
            int isnum = text_i64(v, 1, &x) == 0, isbool = !strcasecmp(v, "true") || !strcasecmp(v, "false");
            int b = !strcasecmp(v, "true");
            if (!strcmp(k, "min-input-files") && isnum && x <= 1000000)
                o.min_input_files = (int)x;
            else if (!strcmp(k, "target-file-size-bytes") && isnum)
                o.target_file_bytes = x;
            else if (!strcmp(k, "min-file-size-bytes") && isnum)
                o.min_file_bytes = x;
            else if (!strcmp(k, "max-file-size-bytes") && isnum)
                o.max_file_bytes = x;
            else if (!strcmp(k, "rewrite-all") && isbool)
                o.rewrite_all = b;
            else if (!strcmp(k, "partial-progress.enabled") && isbool)
                o.partial_progress = b;
            else if (!strcmp(k, "partial-progress.max-commits") && isnum && x <= 100000)
                o.max_commits = (int)x;
            else if (!strcmp(k, "max-rounds") && isnum && x <= 100)
                o.max_rounds = (int)x;
            else if (!strcmp(k, "branch"))
                o.branch = v;
            else {
                rc = perr(eoff, a->at, err,
                          "CALL rewrite_data_files: option '%s' = '%s' is not supported (min-input-files, "
                          "target-file-size-bytes, min-file-size-bytes, max-file-size-bytes, rewrite-all, "
                          "partial-progress.enabled, partial-progress.max-commits, max-rounds, branch)",
                          k, v);
                goto done;
            }
        }
    }
    kiln_lake_table *t = NULL;
    if ((rc = open_table(db, c, &t, eoff, err)))
        goto done;
    kiln_lake_rewrite_data_result r;
    rc = kiln_lake_rewrite_data_files(t, &o, &r, err);
    kiln_lake_table_free(t);
    if (rc)
        goto done;
    if (r.groups_failed > 0)
        kiln_warn("rewrite_data_files: %" PRId64 " partition(s) not rewritten: %s", r.groups_failed, r.failed_reason);
    /* failed_data_files_count: Spark counts the files of the failed groups;
     * kiln knows the groups, so this is the number of groups */
    static const char *const cols[] = {"rewritten_data_files_count", "added_data_files_count", "rewritten_bytes_count",
                                       "failed_data_files_count", "removed_delete_files_count"};
    int64_t v[] = {r.data_files_rewritten, r.data_files_added, r.bytes_rewritten, r.groups_failed,
                   r.delete_files_removed};
    if (!(*query = counts_query(cols, v, 5)))
        rc = KILN_OOM(err);
done:
    kiln_free(zcols);
    return rc;
}

static int p_expire_snapshots(sqlite3 *db, call *c, char **query, long *eoff, kiln_err *err)
{
    kiln_lake_expire_opts o;
    memset(&o, 0, sizeof o);
    o.older_than_ms = -1;
    carg *a;
    int rc;
    if ((a = arg(c, "older_than")) && (rc = arg_time_ms(c, a, &o.older_than_ms, eoff, err)))
        return rc;
    if ((a = arg(c, "retain_last"))) {
        int64_t x;
        if (a->kind != 'n' || text_i64(a->value, 1, &x) || x > 1000000)
            return perr(eoff, a->at, err, "CALL expire_snapshots: retain_last must be a positive integer");
        o.retain_last = (int)x;
    }
    if ((a = arg(c, "max_concurrent_deletes")) && (rc = want_kind(c, a, "n", "a number", eoff, err)))
        return rc; /* accepted for Spark compatibility: kiln deletes in one thread */
    int stream = 0;
    if ((a = arg(c, "stream_results")) && (rc = arg_bool(c, a, &stream, eoff, err)))
        return rc;
    kiln_lake_table *t = NULL;
    if ((rc = open_table(db, c, &t, eoff, err)))
        return rc;
    kiln_lake_expire_counts n;
    memset(&n, 0, sizeof n);
    o.on_expired = kiln_lake_expire_delete_unreachable_counts;
    o.ctx = &n;
    int64_t *ids = NULL;
    size_t nids = 0;
    rc = kiln_lake_expire(t, &o, &ids, &nids, err);
    kiln_free(ids);
    kiln_lake_table_free(t);
    if (rc)
        return rc;
    static const char *const cols[] = {
        "deleted_data_files_count",     "deleted_position_delete_files_count", "deleted_equality_delete_files_count",
        "deleted_manifest_files_count", "deleted_manifest_lists_count",        "deleted_statistics_files_count"};
    int64_t v[] = {(int64_t)n.data_files, (int64_t)n.position_delete_files, (int64_t)n.equality_delete_files,
                   (int64_t)n.manifests,  (int64_t)n.manifest_lists,        0 /* kiln writes no statistics files */};
    return (*query = counts_query(cols, v, 6)) ? 0 : KILN_OOM(err);
}

typedef struct orphan_rows {
    kiln_buf q;
    size_t n;
    kiln_err e;
} orphan_rows;

static int orphan_cb(void *ctx, const char *path, int64_t size)
{
    orphan_rows *o = ctx;
    char *lit = sqlite3_mprintf("%s(%Q)", o->n++ ? ", " : "", path);
    if (!lit)
        return KILN_ENOMEM;
    kiln_buf_append(&o->q, lit, strlen(lit), &o->e);
    sqlite3_free(lit);
    return o->e.code;
}

static int p_remove_orphan_files(sqlite3 *db, call *c, char **query, long *eoff, kiln_err *err)
{
    kiln_lake_orphan_opts o = {0, 0};
    carg *a;
    int rc;
    if ((a = arg(c, "older_than")) && (rc = arg_time_ms(c, a, &o.older_than_ms, eoff, err)))
        return rc;
    if ((a = arg(c, "dry_run")) && (rc = arg_bool(c, a, &o.dry_run, eoff, err)))
        return rc;
    if ((a = arg(c, "location")))
        return perr(eoff, a->at, err,
                    "CALL remove_orphan_files: location is not supported (kiln looks at the whole "
                    "table directory)");
    if ((a = arg(c, "max_concurrent_deletes")) && (rc = want_kind(c, a, "n", "a number", eoff, err)))
        return rc;
    kiln_lake_table *t = NULL;
    if ((rc = open_table(db, c, &t, eoff, err)))
        return rc;
    orphan_rows r;
    memset(&r, 0, sizeof r);
    kiln_buf_init(&r.q, 0);
    kiln_buf_printf(&r.q, &r.e, "SELECT column1 AS orphan_file_location FROM (VALUES ");
    size_t count = 0;
    rc = kiln_lake_orphans_remove(t, &o, orphan_cb, &r, &count, err);
    kiln_lake_table_free(t);
    if (!rc && r.e.code)
        rc = kiln_err_set(err, r.e.code, "%s", r.e.msg);
    if (!rc) {
        /* no orphans: an empty result with the same column */
        kiln_buf_printf(&r.q, &r.e, "%s", r.n ? ")" : "(NULL)) WHERE 0");
        kiln_buf_putc(&r.q, 0, &r.e);
        if (r.e.code)
            rc = KILN_OOM(err);
        else {
            *query = r.q.data;
            return 0;
        }
    }
    kiln_buf_free(&r.q);
    return rc;
}

static int p_rewrite_manifests(sqlite3 *db, call *c, char **query, long *eoff, kiln_err *err)
{
    carg *a;
    int rc, caching = 0;
    if ((a = arg(c, "use_caching")) && (rc = arg_bool(c, a, &caching, eoff, err)))
        return rc; /* accepted for Spark compatibility: a Spark-side setting */
    kiln_lake_table *t = NULL;
    if ((rc = open_table(db, c, &t, eoff, err)))
        return rc;
    kiln_lake_rewrite_result r;
    rc = kiln_lake_rewrite_manifests(t, NULL, 0, &r, err);
    kiln_lake_table_free(t);
    if (rc)
        return rc;
    int replaced = r.snapshot_id < 0 ? 0 : r.manifests_replaced;
    int added = r.snapshot_id < 0 ? 0 : r.manifests_after - (r.manifests_before - r.manifests_replaced);
    static const char *const cols[] = {"rewritten_manifests_count", "added_manifests_count"};
    int64_t v[] = {replaced, added < 0 ? 0 : added};
    return (*query = counts_query(cols, v, 2)) ? 0 : KILN_OOM(err);
}

static int p_rewrite_position_delete_files(sqlite3 *db, call *c, char **query, long *eoff, kiln_err *err)
{
    carg *a;
    int rc;
    if ((a = arg(c, "options")) || (a = arg(c, "where")))
        return perr(eoff, a->at, err,
                    "CALL rewrite_position_delete_files: argument %s is not supported by kiln (every partition's "
                    "position delete files are considered)",
                    a->name);
    kiln_lake_table *t = NULL;
    if ((rc = open_table(db, c, &t, eoff, err)))
        return rc;
    kiln_lake_rewrite_posdel_result r;
    rc = kiln_lake_rewrite_position_delete_files(t, NULL, &r, err);
    kiln_lake_table_free(t);
    if (rc)
        return rc;
    static const char *const cols[] = {"rewritten_delete_files_count", "added_delete_files_count",
                                       "rewritten_bytes_count", "added_bytes_count"};
    int64_t v[] = {r.delete_files_rewritten, r.delete_files_added, r.bytes_rewritten, r.bytes_added};
    return (*query = counts_query(cols, v, 4)) ? 0 : KILN_OOM(err);
}

/* ------------------------------------------------------------ entry */

int kiln_sql_call_try(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *eoff,
                      sqlite3_stmt **result, FILE *out, kiln_err *err)
{
    call c;
    memset(&c, 0, sizeof c);
    *handled = 0;
    *result = NULL;
    int rc = parse(sql, len, &c, handled, used, eoff, err);
    if (rc || !*handled)
        goto done;
    const proc_def *p = NULL;
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++)
        if (!strcasecmp(procs[i].name, c.proc))
            p = &procs[i];
    if (!p) {
        rc = perr(eoff, 0, err,
                  "CALL: no procedure system.%s (kiln has rewrite_data_files, expire_snapshots, "
                  "remove_orphan_files, rewrite_manifests, rewrite_position_delete_files)",
                  c.proc);
        goto done;
    }
    if ((rc = resolve(&c, p, eoff, err)))
        goto done;
    if (mode == KILN_SQL_WRITE_EXPLAIN) {
        if (out)
            fprintf(out, "KILN CALL system.%s (table maintenance; not run under --explain)\n", p->name);
        goto done;
    }
    char *q = NULL;
    rc = !strcmp(p->name, "rewrite_data_files")              ? p_rewrite_data_files(db, &c, &q, eoff, err)
         : !strcmp(p->name, "expire_snapshots")              ? p_expire_snapshots(db, &c, &q, eoff, err)
         : !strcmp(p->name, "remove_orphan_files")           ? p_remove_orphan_files(db, &c, &q, eoff, err)
         : !strcmp(p->name, "rewrite_position_delete_files") ? p_rewrite_position_delete_files(db, &c, &q, eoff, err)
                                                             : p_rewrite_manifests(db, &c, &q, eoff, err);
    if (!rc) {
        size_t u;
        long e2 = -1;
        rc = kiln_sql_prepare(db, q, strlen(q), result, &u, &e2, err);
    }
    kiln_free(q);
done:
    call_free(&c);
    return rc;
}
