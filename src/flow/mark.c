/*
 * mark.c - set a task instance's state by hand ("mark success" / "mark
 * failed" in kiln serve's UI, as in Airflow). Appended by issue 14.
 *
 * Marking success records the instance's idempotency key as succeeded, so
 * the next `kiln dags run` of that date skips the task and its downstream
 * tasks can run; marking failed forgets the key, so the next run executes
 * the task again. Neither starts or stops anything: a running instance is
 * refused (its runner owns it), and the task's downstream instances are
 * left as they are (clear them to run them again). The run's state follows:
 * failed when an instance is now failed, success when every instance
 * reached is success or skipped.
 */
#include "flow_int.h"

#include <string.h>

int kiln_flow_mark(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, int success,
                   const char *note, kiln_err *err)
{
    const kiln_flow_dag *d;
    kiln_flow_store s = {0};
    sqlite3_stmt *st = NULL;
    int rc;
    size_t k;
    int64_t is, ie;
    char lds[32], now[40], key[65], def_hash[65];
    char *inputs = NULL; /* a task that consumes assets: the key covers their state now, as a run's does */
    if ((rc = kiln_flow__key_now(p, dag, task, logical, NULL, &d, &k, &is, &ie, key, def_hash, &inputs, err)))
        return rc;
    kiln_flow__ts(is, lds);
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    if ((rc = kiln_flow__store_open(&s, p->state_dir, err)))
        goto done;
    if ((rc = kiln_flow__x(&s, err, "BEGIN IMMEDIATE", "")))
        goto done;
    if ((rc = kiln_flow__q(&s, &st, err, "SELECT state FROM dag_run WHERE dag=?1 AND logical_date=?2", "ss", d->id,
                           lds)))
        goto rollback;
    int have_run = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    st = NULL;
    if (!have_run) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "DAG '%s' has no run for %s", d->id, lds);
        goto rollback;
    }
    if ((rc = kiln_flow__q(&s, &st, err, "SELECT state FROM task_instance WHERE dag=?1 AND task=?2 AND logical_date=?3",
                           "sss", d->id, task, lds)))
        goto rollback;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        if (state && !strcmp(state, "running")) {
            rc = kiln_err_set(err, KILN_ECONFLICT, "task '%s' of %s %s is running; its runner owns its state", task,
                              d->id, lds);
            goto rollback;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    char *msg = kiln_sprintf("marked %s%s%s", success ? "success" : "failed", note && *note ? ": " : "",
                             note && *note ? note : "");
    if (!msg) {
        rc = KILN_OOM(err);
        goto rollback;
    }
    rc = kiln_flow__x(&s, err,
                      "INSERT INTO task_instance(dag, task, logical_date, state, try_number, idem_key, note, ended)"
                      " VALUES(?1, ?2, ?3, ?4, 0, ?5, ?6, ?7) ON CONFLICT(dag, task, logical_date) DO UPDATE SET"
                      " state=?4, idem_key=?5, note=?6, ended=?7",
                      "sssssss", d->id, task, lds, success ? "success" : "failed", key, msg, now);
    kiln_free(msg);
    if (!rc && success)
        rc = kiln_flow__x(&s, err,
                          "INSERT OR REPLACE INTO idem_key(key, dag, task, logical_date, def_hash, kiln_version,"
                          " try_number, succeeded_at, inputs) VALUES(?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8)",
                          "ssssssss", key, d->id, task, lds, def_hash, KILN_VERSION, now, inputs);
    if (!rc && !success)
        rc = kiln_flow__x(&s, err, "DELETE FROM idem_key WHERE dag=?1 AND task=?2 AND logical_date=?3", "sss", d->id,
                          task, lds);
    /* the run's state follows its instances */
    if (!rc)
        rc = kiln_flow__x(&s, err,
                          "UPDATE dag_run SET state = CASE"
                          " WHEN EXISTS(SELECT 1 FROM task_instance t WHERE t.dag=?1 AND t.logical_date=?2"
                          "   AND t.state IN ('failed', 'upstream_failed')) THEN 'failed'"
                          " WHEN NOT EXISTS(SELECT 1 FROM task_instance t WHERE t.dag=?1 AND t.logical_date=?2"
                          "   AND t.state NOT IN ('success', 'skipped')) AND (SELECT count(*) FROM task_instance t"
                          "   WHERE t.dag=?1 AND t.logical_date=?2) >= ?4 THEN 'success'"
                          " ELSE state END, ended = coalesce(ended, ?3)"
                          " WHERE dag=?1 AND logical_date=?2 AND state <> 'running'",
                          "sssi", d->id, lds, now, (int64_t)d->ntasks);
    if (rc)
        goto rollback;
    rc = kiln_flow__x(&s, err, "COMMIT", "");
    goto done;
rollback:
    sqlite3_finalize(st);
    sqlite3_exec(s.db, "ROLLBACK", NULL, NULL, NULL);
done:
    kiln_flow__store_close(&s);
    kiln_free(inputs);
    return rc;
}
