/*
 * freshness.c - `kiln source freshness`: for each selected source table
 * with a `freshness` config (warn_after / error_after) and a
 * `loaded_at_field`, `select max(<loaded_at_field>) from <relation>
 * [where <filter>]` on kiln's SQL layer; its age against the thresholds
 * gives pass, warn or error (dbt's rule: older than error_after is an
 * error, else older than warn_after a warning). Results go to
 * <target-path>/sources.json (schema v3).
 */
#include "models/project.h"

#include "sql/sql.h"

#include <stdlib.h>

static double period_seconds(kj_val fr, const char *which)
{
    kj_val *t = fr.t == KJ_DICT ? kj_dict_getc(fr, which) : NULL;
    if (!t || t->t != KJ_DICT)
        return -1;
    kj_val *c = kj_dict_getc(*t, "count"), *pe = kj_dict_getc(*t, "period");
    if (!c || !pe || pe->t != KJ_STR)
        return -1;
    double n = c->t == KJ_INT ? (double)c->u.i : c->t == KJ_STR ? atof(c->u.s->p) : -1;
    if (n <= 0)
        return -1;
    const char *p = pe->u.s->p;
    return n * (!strcmp(p, "minute") ? 60 : !strcmp(p, "hour") ? 3600 : 86400);
}

/* Does the source take part (dbt skips tables without a freshness config
 * or without a loaded_at_field)? */
static int has_freshness(const km_node *n)
{
    kj_val fr = kiln_models__cfg(n, "freshness"), lf = kiln_models__cfg(n, "loaded_at_field");
    return n->kind == KM_SOURCE && lf.t == KJ_STR &&
           (period_seconds(fr, "warn_after") > 0 || period_seconds(fr, "error_after") > 0);
}

static void fline(FILE *out, size_t pos, size_t total, const char *left, const char *right)
{
    char buf[600];
    int n = snprintf(buf, sizeof buf, "%zu of %zu %s ", pos, total, left);
    fputs(buf, out);
    for (int i = n; i < 76; i++)
        fputc('.', out);
    fprintf(out, " [%s]\n", right);
    fflush(out);
}

/* max(loaded_at_field) of n's relation, as micros; 1 (with a message) when
 * the table has no such rows or the value is not a timestamp. */
static int max_loaded_at(sqlite3 *db, kiln_project *p, const km_node *n, int64_t *out, kiln_err *err)
{
    kj_val fr = kiln_models__cfg(n, "freshness"), lf = kiln_models__cfg(n, "loaded_at_field");
    kj_val *filter = fr.t == KJ_DICT ? kj_dict_getc(fr, "filter") : NULL;
    char *rel = kiln_models__relation(p, n);
    char *sql =
        rel ? kiln_sprintf("select max(%s) from %s%s%s", lf.u.s->p, rel, filter && filter->t == KJ_STR ? " where " : "",
                           filter && filter->t == KJ_STR ? filter->u.s->p : "")
            : NULL;
    int rc = 0;
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    if (!sql) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &eo, err)))
        goto done;
    if (!st || sqlite3_step(st) != SQLITE_ROW) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
        goto done;
    }
    if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
        rc = kiln_err_set(err, KILN_EFORMAT, "max(%s) of %s is NULL (no rows%s)", lf.u.s->p, rel,
                          filter ? " pass the filter" : "");
        goto done;
    }
    const char *txt = (const char *)sqlite3_column_text(st, 0);
    int64_t days;
    int ok = 0;
    if (sqlite3_column_type(st, 0) == SQLITE_TEXT) {
        if (!kiln_ts_parse(txt, strlen(txt), out))
            ok = 1;
        else if (!kiln_date_parse(txt, strlen(txt), &days)) {
            *out = days * 86400LL * 1000000LL;
            ok = 1;
        }
    }
    if (!ok) {
        rc = kiln_err_set(err, KILN_EFORMAT, "max(%s) of %s is '%s', not a timestamp", lf.u.s->p, rel, txt ? txt : "");
        goto done;
    }
done:
    sqlite3_finalize(st);
    kiln_free(sql);
    kiln_free(rel);
    return rc;
}

int kiln_models_source_freshness(const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err)
{
    kiln_project *p = NULL;
    km_idxvec sel = {0};
    km_fresh *res = NULL;
    sqlite3 *db = NULL;
    size_t nres = 0;
    *failed = 0;
    double t0 = kiln_mono_seconds();
    int rc = kiln_project_load(&p, o, err);
    if (rc)
        return rc;
    if ((rc = kiln_models__render_all(p, err)) || (rc = kiln_models__graph_build(p, err)) ||
        (rc = kiln_models__select(p, o->select, o->exclude, 1u << KM_SOURCE, &sel, err)))
        goto done;
    size_t total = 0;
    for (size_t i = 0; i < sel.len; i++)
        total += has_freshness(p->nodes.items[sel.items[i]]);
    if ((rc = kiln_models__write_manifest(p, err)))
        goto done;
    kiln_models__print_found(p, out);
    fputc('\n', out);
    if (!total) {
        fprintf(out, "Nothing to do: no selected source has a freshness config with a loaded_at_field.\n");
        rc = kiln_models__write_sources(p, NULL, 0, kiln_mono_seconds() - t0, err);
        goto done;
    }
    if (!(res = kiln_calloc(total, sizeof *res))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_sql_db_open(&db, NULL, 0, err)) || (rc = kiln_sql_lake_attach(db, p->warehouse, err)))
        goto done;
    int npass = 0, nwarn = 0, nerr = 0;
    for (size_t i = 0; i < sel.len; i++) {
        km_node *n = p->nodes.items[sel.items[i]];
        if (!has_freshness(n))
            continue;
        km_fresh *r = &res[nres++];
        r->node = sel.items[i];
        char left[512], right[128], *rel = kiln_models__relation(p, n);
        if (!rel) {
            rc = KILN_OOM(err);
            goto done;
        }
        snprintf(left, sizeof left, "START freshness of %s.%s", n->source_name, n->name);
        fline(out, nres, total, left, "RUN");
        double t1 = kiln_mono_seconds();
        r->started = r->compiled = kiln_now_micros();
        kiln_err e = {0};
        int qrc = max_loaded_at(db, p, n, &r->max_loaded_at, &e);
        r->finished = kiln_now_micros();
        r->seconds = kiln_mono_seconds() - t1;
        if (qrc == KILN_ENOMEM) {
            kiln_free(rel);
            rc = kiln_err_set(err, KILN_ENOMEM, "%s", e.msg);
            goto done;
        }
        if (qrc) {
            r->status = "runtime error";
            snprintf(r->message, sizeof r->message, "%s", e.msg);
            nerr++;
            snprintf(left, sizeof left, "ERROR freshness of %s.%s", n->source_name, n->name);
            snprintf(right, sizeof right, "ERROR in %.2fs", r->seconds);
            fline(out, nres, total, left, right);
            fprintf(out, "  Runtime Error in source %s (%s)\n    %s\n", n->name, n->path, e.msg);
        } else {
            kj_val fr = kiln_models__cfg(n, "freshness");
            r->age_seconds = (double)(r->finished - r->max_loaded_at) / 1e6;
            double warn = period_seconds(fr, "warn_after"), erra = period_seconds(fr, "error_after");
            const char *word;
            if (erra > 0 && r->age_seconds > erra) {
                r->status = "error";
                word = "ERROR STALE";
                nerr++;
            } else if (warn > 0 && r->age_seconds > warn) {
                r->status = "warn";
                word = "WARN";
                nwarn++;
            } else {
                r->status = "pass";
                word = "PASS";
                npass++;
            }
            snprintf(left, sizeof left, "%s freshness of %s.%s", word, n->source_name, n->name);
            snprintf(right, sizeof right, "%s in %.2fs", word, r->seconds);
            fline(out, nres, total, left, right);
        }
        kiln_free(rel);
    }
    fprintf(out, "\nFinished running %zu source%s in %.2f seconds.\n\n", total, total == 1 ? "" : "s",
            kiln_mono_seconds() - t0);
    if (nerr)
        fprintf(out, "Completed with %d error%s\n\n", nerr, nerr == 1 ? "" : "s");
    else
        fprintf(out, "Completed successfully\n\n");
    fprintf(out, "Done. PASS=%d WARN=%d ERROR=%d SKIP=0 TOTAL=%zu\n", npass, nwarn, nerr, total);
    *failed = nerr;
    rc = kiln_models__write_sources(p, res, nres, kiln_mono_seconds() - t0, err);
done:
    kiln_sql_db_close(db);
    kiln_free(res);
    kiln_vec_free(&sel);
    kiln_project_free(p);
    return rc;
}
