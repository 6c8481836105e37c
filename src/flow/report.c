/*
 * report.c - what the state store says, for people: `kiln runs` (text or
 * JSON), `kiln runs DAG --explain TASK --date D` (why a task instance will
 * or will not run), `kiln logs` (which file) and `kiln tasks clear`
 * (forget state and keys so the next run executes the task again).
 */
#include "flow_int.h"

#include <stdlib.h>

static int json_kv(kiln_buf *out, kiln_err *err, const char *k, const char *v, int comma)
{
    int rc = kiln_buf_printf(out, err, "%s\"%s\":", comma ? "," : "", k);
    if (!rc)
        rc = v ? kiln_json_write_str(out, v, strlen(v), err) : kiln_buf_printf(out, err, "null");
    return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? (const char *)s : NULL;
}

/* The assets a task instance's latest materializing try wrote, one per
 * (asset, partition): Dagster's per-partition materialization, in `kiln
 * runs` (text: "      -> ASSET [PARTITION] snapshot N, R rows"; JSON: a
 * "materializations" array). */
static int materializations(kiln_flow_store *s, const char *dag, const char *task, const char *ld, int json,
                            kiln_buf *out, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    int rc = kiln_flow__q(s, &st, err,
                          "SELECT asset, partition, snapshot_id, rows, try_number FROM asset_materialization"
                          " WHERE dag=?1 AND task=?2 AND logical_date=?3 AND try_number = (SELECT max(try_number)"
                          " FROM asset_materialization WHERE dag=?1 AND task=?2 AND logical_date=?3) ORDER BY asset",
                          "sss", dag, task, ld);
    if (rc)
        return rc;
    int first = 1;
    if (json)
        rc = kiln_buf_printf(out, err, ",\"materializations\":[");
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        long long snap = sqlite3_column_int64(st, 2), rows = sqlite3_column_int64(st, 3);
        if (json) {
            if ((rc = kiln_buf_printf(out, err, "%s{", first ? "" : ",")) ||
                (rc = json_kv(out, err, "asset", col(st, 0), 0)) ||
                (rc = json_kv(out, err, "partition", col(st, 1), 1)))
                break;
            rc = snap >= 0 ? kiln_buf_printf(out, err, ",\"snapshot_id\":%lld", snap)
                           : kiln_buf_printf(out, err, ",\"snapshot_id\":null");
            if (!rc)
                rc = kiln_buf_printf(out, err, ",\"rows\":%lld,\"try\":%d}", rows, sqlite3_column_int(st, 4));
        } else {
            char sn[48] = "";
            if (snap >= 0)
                snprintf(sn, sizeof sn, " snapshot %lld,", snap);
            rc = kiln_buf_printf(out, err, "      -> %s%s%s%s%s %lld rows\n", col(st, 0), col(st, 1) ? " [" : "",
                                 col(st, 1) ? col(st, 1) : "", col(st, 1) ? "]" : "", sn, rows);
        }
        first = 0;
    }
    if (!rc && json)
        rc = kiln_buf_printf(out, err, "]");
    sqlite3_finalize(st);
    return rc;
}

int kiln_flow_runs_report(kiln_flow_project *p, const char *dag, int json, kiln_buf *out, kiln_err *err)
{
    kiln_flow_store s;
    sqlite3_stmt *runs = NULL, *tis = NULL;
    int rc = 0, first = 1;
    if (dag) {
        const kiln_flow_dag *d;
        if ((rc = kiln_flow_project_need_dag(p, dag, &d, err)))
            return rc;
    }
    if ((rc = kiln_flow__store_open(&s, p->state_dir, err)))
        return rc;
    if ((rc = kiln_flow__q(&s, &runs, err,
                           "SELECT dag, logical_date, run_id, state, interval_start, interval_end, started, ended"
                           " FROM dag_run WHERE ?1 IS NULL OR dag = ?1 ORDER BY dag, logical_date",
                           "s", dag)))
        goto done;
    if (json && (rc = kiln_buf_printf(out, err, "[")))
        goto done;
    while (sqlite3_step(runs) == SQLITE_ROW) {
        const char *rd = col(runs, 0), *ld = col(runs, 1);
        if (json) {
            if ((rc = kiln_buf_printf(out, err, "%s{", first ? "" : ",")) || (rc = json_kv(out, err, "dag", rd, 0)) ||
                (rc = json_kv(out, err, "logical_date", ld, 1)) ||
                (rc = json_kv(out, err, "run_id", col(runs, 2), 1)) ||
                (rc = json_kv(out, err, "state", col(runs, 3), 1)) ||
                (rc = json_kv(out, err, "data_interval_start", col(runs, 4), 1)) ||
                (rc = json_kv(out, err, "data_interval_end", col(runs, 5), 1)) ||
                (rc = json_kv(out, err, "started", col(runs, 6), 1)) ||
                (rc = json_kv(out, err, "ended", col(runs, 7), 1)) || (rc = kiln_buf_printf(out, err, ",\"tasks\":[")))
                goto done;
        } else if ((rc = kiln_buf_printf(out, err, "%s  %s  %-8s %s\n", rd, ld, col(runs, 3), col(runs, 2)))) {
            goto done;
        }
        first = 0;
        if ((rc = kiln_flow__q(&s, &tis, err,
                               "SELECT task, state, try_number, note, idem_key FROM task_instance"
                               " WHERE dag=?1 AND logical_date=?2 ORDER BY rowid",
                               "ss", rd, ld)))
            goto done;
        int tfirst = 1;
        while (sqlite3_step(tis) == SQLITE_ROW) {
            if (json) {
                if ((rc = kiln_buf_printf(out, err, "%s{", tfirst ? "" : ",")) ||
                    (rc = json_kv(out, err, "task", col(tis, 0), 0)) ||
                    (rc = json_kv(out, err, "state", col(tis, 1), 1)) ||
                    (rc = kiln_buf_printf(out, err, ",\"tries\":%d", sqlite3_column_int(tis, 2))) ||
                    (rc = json_kv(out, err, "note", col(tis, 3), 1)) ||
                    (rc = json_kv(out, err, "idempotency_key", col(tis, 4), 1)))
                    goto done;
            } else if ((rc = kiln_buf_printf(out, err, "    %-24s %-16s tries %d%s%s\n", col(tis, 0), col(tis, 1),
                                             sqlite3_column_int(tis, 2), col(tis, 3) ? "  " : "",
                                             col(tis, 3) ? col(tis, 3) : ""))) {
                goto done;
            }
            if ((rc = materializations(&s, rd, col(tis, 0), ld, json, out, err)) ||
                (json && (rc = kiln_buf_printf(out, err, "}"))))
                goto done;
            tfirst = 0;
        }
        sqlite3_finalize(tis);
        tis = NULL;
        if (json && (rc = kiln_buf_printf(out, err, "]}")))
            goto done;
    }
    if (json)
        rc = kiln_buf_printf(out, err, "]\n");
done:
    sqlite3_finalize(tis);
    sqlite3_finalize(runs);
    kiln_flow__store_close(&s);
    return rc;
}

int kiln_flow_explain(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, kiln_buf *out,
                      kiln_err *err)
{
    return kiln_flow_explain_branch(p, dag, task, logical, NULL, out, err);
}

int kiln_flow_explain_branch(kiln_flow_project *p, const char *dag, const char *task, int64_t logical,
                             const char *branch, kiln_buf *out, kiln_err *err)
{
    const kiln_flow_dag *d;
    kiln_flow_store s = {0};
    sqlite3_stmt *st = NULL;
    int rc;
    size_t k;
    int64_t is, ie;
    char key[65], def[65], lds[32], a[32], b[32];
    char *inputs = NULL; /* consumed assets: their state now is part of the key */
    if ((rc = kiln_flow__key_now(p, dag, task, logical, branch, &d, &k, &is, &ie, key, def, &inputs, err)))
        return rc;
    kiln_flow__ts(is, lds);
    kiln_flow__ts(is, a);
    kiln_flow__ts(ie, b);
    const kiln_flow_task *kt = &d->tasks[k];
    if ((rc = kiln_flow__store_open(&s, p->state_dir, err)))
        goto done;
    if ((rc = kiln_buf_printf(out, err,
                              "%s.%s for %s (data interval [%s, %s))%s%s%s\n  idempotency key %s\n"
                              "    = sha256(dag, task, interval, definition %.12s…, kiln %s%s)\n",
                              dag, task, lds, a, b, branch ? " in a backfill on branch '" : "", branch ? branch : "",
                              branch ? "'" : "", key, def, KILN_VERSION,
                              kt->consumes.len ? ", the consumed assets below" : "")))
        goto done;
    if (kt->consumes.len) {
        const char *q = inputs;
        while (!rc && q && *q) {
            const char *nl = strchr(q, '\n');
            size_t n = nl ? (size_t)(nl - q) : strlen(q);
            rc = kiln_buf_printf(out, err, "    consumes %.*s\n", (int)n, q);
            q += n + (nl ? 1 : 0);
        }
        if (rc)
            goto done;
    }
    /* the key itself */
    if ((rc = kiln_flow__q(&s, &st, err, "SELECT succeeded_at, try_number FROM idem_key WHERE key=?1", "s", key)))
        goto done;
    if (sqlite3_step(st) == SQLITE_ROW) {
        rc = kiln_buf_printf(out, err,
                             "  WILL NOT RUN: this key succeeded at %s (try %d); the run records it as skipped.\n"
                             "  To run it again: kiln tasks clear %s %s --date %s\n",
                             col(st, 0), sqlite3_column_int(st, 1), dag, task, lds);
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    /* an earlier success under another key: say which part changed */
    if ((rc = kiln_flow__q(
             &s, &st, err,
             "SELECT def_hash, kiln_version, succeeded_at, inputs FROM idem_key WHERE dag=?1 AND task=?2 AND"
             " logical_date=?3 ORDER BY succeeded_at DESC LIMIT 1",
             "sss", dag, task, lds)))
        goto done;
    if (sqlite3_step(st) == SQLITE_ROW) {
        int defchg = strcmp(col(st, 0), def) != 0, verchg = strcmp(col(st, 1), KILN_VERSION) != 0;
        const char *was = col(st, 3) ? col(st, 3) : "";
        int inchg = !defchg && !verchg && kt->consumes.len && strcmp(was, inputs ? inputs : "") != 0;
        rc = kiln_buf_printf(out, err, "  WILL RUN: it succeeded at %s under another key: %s%s%s\n", col(st, 2),
                             defchg ? "the task's definition changed" : "", defchg && verchg ? " and " : "",
                             verchg  ? "kiln's version changed"
                             : inchg ? "a consumed asset changed"
                                     : (!defchg ? "the data interval changed" : ""));
        /* which input: the lines that differ from what the success consumed */
        for (const char *q = inputs; !rc && inchg && q && *q;) {
            const char *nl = strchr(q, '\n');
            size_t n = nl ? (size_t)(nl - q) : strlen(q);
            const char *eq = NULL; /* the " = " after the asset's name (which may hold '=': ?partition=) */
            for (size_t i = 0; i + 3 <= n && !eq; i++)
                if (!memcmp(q + i, " = ", 3))
                    eq = q + i + 1;
            char line[1200];
            snprintf(line, sizeof line, "%.*s\n", (int)n, q);
            if (!strstr(was, line) && eq) {
                size_t an = (size_t)(eq - q);
                const char *w = was, *old = NULL;
                while (*w) { /* the same asset's line in what was consumed */
                    const char *wl = strchr(w, '\n');
                    if (!strncmp(w, q, an + 1)) {
                        old = w;
                        break;
                    }
                    w = wl ? wl + 1 : w + strlen(w);
                }
                const char *oe = old ? strchr(old, '\n') : NULL;
                rc = kiln_buf_printf(
                    out, err, "    %.*s: now%.*s, was%.*s\n", (int)(an > 0 ? an - 1 : 0), q, (int)(n - an - 1), eq + 1,
                    old ? (int)((oe ? (size_t)(oe - old) : strlen(old)) - an - 1) : 7, old ? old + an + 1 : " absent");
            }
            q += n + (nl ? 1 : 0);
        }
        goto done;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = kiln_flow__q(
             &s, &st, err,
             "SELECT state, try_number, note FROM task_instance WHERE dag=?1 AND task=?2 AND logical_date=?3", "sss",
             dag, task, lds)))
        goto done;
    if (sqlite3_step(st) == SQLITE_ROW)
        rc = kiln_buf_printf(out, err, "  WILL RUN: no success under this key; last state %s after %d tries%s%s\n",
                             col(st, 0), sqlite3_column_int(st, 1), col(st, 2) ? " - " : "",
                             col(st, 2) ? col(st, 2) : "");
    else
        rc = kiln_buf_printf(out, err, "  WILL RUN: it has never run\n");
    if (!rc && d->tasks[k].nup)
        rc = kiln_buf_printf(out, err, "  (when its trigger rule %s is met by its %zu upstream tasks)\n",
                             kiln_flow_trigger_name(d->tasks[k].trigger), d->tasks[k].nup);
done:
    kiln_free(inputs);
    sqlite3_finalize(st);
    kiln_flow__store_close(&s);
    return rc;
}

int kiln_flow_log_path(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, int try_number,
                       char **out, kiln_err *err)
{
    const kiln_flow_dag *d;
    kiln_flow_store s;
    sqlite3_stmt *st = NULL;
    int rc;
    *out = NULL;
    if ((rc = kiln_flow_project_need_dag(p, dag, &d, err)))
        return rc;
    if (kiln_flow_dag_task(d, task) < 0)
        return kiln_err_set(err, KILN_ENOTFOUND, "DAG '%s' has no task '%s'", dag, task);
    int64_t is, ie;
    kiln_flow__interval(d, logical, &is, &ie);
    char lds[32];
    kiln_flow__ts(is, lds);
    if ((rc = kiln_flow__store_open(&s, p->state_dir, err)))
        return rc;
    if ((rc = kiln_flow__q(&s, &st, err,
                           "SELECT log_path, try_number FROM task_try WHERE dag=?1 AND task=?2 AND logical_date=?3"
                           " AND (?4 = 0 OR try_number = ?4) ORDER BY try_number DESC LIMIT 1",
                           "sssi", dag, task, lds, (int64_t)try_number)))
        goto done;
    if (sqlite3_step(st) != SQLITE_ROW || !col(st, 0)) {
        rc = try_number ? kiln_err_set(err, KILN_ENOTFOUND, "%s.%s for %s has no try %d", dag, task, lds, try_number)
                        : kiln_err_set(err, KILN_ENOTFOUND, "%s.%s for %s has not run", dag, task, lds);
        goto done;
    }
    if (!(*out = kiln_strdup(col(st, 0))))
        rc = KILN_OOM(err);
done:
    sqlite3_finalize(st);
    kiln_flow__store_close(&s);
    return rc;
}

/* Mark t and (dir) its upstream or downstream closure in sel. */
static void closure(const kiln_flow_dag *d, size_t t, int down, char *sel)
{
    const kiln_flow_task *k = &d->tasks[t];
    size_t n = down ? k->ndown : k->nup;
    for (size_t i = 0; i < n; i++) {
        size_t u = down ? k->down[i] : k->up[i];
        if (!sel[u]) {
            sel[u] = 1;
            closure(d, u, down, sel);
        }
    }
}

int kiln_flow_clear(kiln_flow_project *p, const kiln_flow_clear_opts *o, int *ncleared, kiln_err *err)
{
    const kiln_flow_dag *d;
    kiln_flow_store s = {0};
    char *sel = NULL;
    int rc;
    *ncleared = 0;
    if ((rc = kiln_flow_project_need_dag(p, o->dag, &d, err)))
        return rc;
    if (!(sel = kiln_calloc(d->ntasks, 1)))
        return KILN_OOM(err);
    if (o->task) {
        long k = kiln_flow_dag_task(d, o->task);
        if (k < 0) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "DAG '%s' has no task '%s'", o->dag, o->task);
            goto done;
        }
        sel[k] = 1;
        if (o->downstream)
            closure(d, (size_t)k, 1, sel);
        if (o->upstream)
            closure(d, (size_t)k, 0, sel);
    } else {
        memset(sel, 1, d->ntasks);
    }
    if ((rc = kiln_flow__store_open(&s, p->state_dir, err)))
        goto done;
    int64_t a, b, e;
    kiln_flow__interval(d, o->start, &a, &e);
    kiln_flow__interval(d, o->end, &b, &e);
    char from[32], to[32];
    kiln_flow__ts(a, from);
    kiln_flow__ts(b, to);
    if ((rc = kiln_flow__x(&s, err, "BEGIN IMMEDIATE", "")))
        goto done;
    for (size_t k = 0; k < d->ntasks && !rc; k++) {
        if (!sel[k])
            continue;
        const char *id = d->tasks[k].id;
        const char *filter = o->failed_only ? " AND state IN ('failed', 'upstream_failed')" : "";
        char *sql1 =
            kiln_sprintf("DELETE FROM idem_key WHERE dag=?1 AND task=?2 AND logical_date IN (SELECT logical_date"
                         " FROM task_instance WHERE dag=?1 AND task=?2 AND logical_date BETWEEN ?3 AND ?4%s)",
                         filter);
        char *sql2 = kiln_sprintf("UPDATE task_instance SET state='none', note='cleared', ended=NULL WHERE dag=?1 AND"
                                  " task=?2 AND logical_date BETWEEN ?3 AND ?4 AND state <> 'running'%s",
                                  filter);
        if (!sql1 || !sql2)
            rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_flow__x(&s, err, sql1, "ssss", d->id, id, from, to);
        if (!rc)
            rc = kiln_flow__x(&s, err, sql2, "ssss", d->id, id, from, to);
        if (!rc)
            *ncleared += sqlite3_changes(s.db);
        kiln_free(sql1);
        kiln_free(sql2);
    }
    if (!rc && *ncleared)
        rc = kiln_flow__x(&s, err,
                          "UPDATE dag_run SET state='queued', ended=NULL WHERE dag=?1 AND logical_date IN (SELECT"
                          " logical_date FROM task_instance WHERE dag=?1 AND note='cleared' AND state='none'"
                          " AND logical_date BETWEEN ?2 AND ?3)",
                          "sss", d->id, from, to);
    if (!rc)
        rc = kiln_flow__x(&s, err, "COMMIT", "");
    else
        sqlite3_exec(s.db, "ROLLBACK", NULL, NULL, NULL);
done:
    kiln_flow__store_close(&s);
    kiln_free(sel);
    return rc;
}
