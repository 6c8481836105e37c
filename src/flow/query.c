/*
 * query.c - read-only questions `kiln serve` asks the state store: is a
 * DAG paused, and what were the tries of one task instance. The store is
 * opened read-only and only when .kiln/flow.db exists, so looking never
 * creates state (and never takes a write lock from a running scheduler).
 */
#include "flow_int.h"

#include <sys/stat.h>

/* Open STATE_DIR/flow.db read-only; *db = NULL (and 0) when there is none. */
static int open_ro(const kiln_flow_project *p, sqlite3 **db, kiln_err *err)
{
    *db = NULL;
    char *path = kiln_sprintf("%s/flow.db", p->state_dir);
    if (!path)
        return KILN_OOM(err);
    struct stat st;
    int rc = 0;
    if (stat(path, &st) == 0) {
        if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
            rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
            sqlite3_close(*db);
            *db = NULL;
        } else {
            sqlite3_busy_timeout(*db, 10000);
        }
    }
    kiln_free(path);
    return rc;
}

int kiln_flow_dag_paused(const kiln_flow_project *p, const char *dag, int *paused, kiln_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    *paused = 0;
    int rc = open_ro(p, &db, err);
    if (rc || !db)
        return rc;
    /* a store made before pausing existed may lack the table: then nothing is paused */
    if (sqlite3_prepare_v2(db, "SELECT paused FROM dag_pause WHERE dag=?1", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, dag, -1, SQLITE_STATIC);
        *paused = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return 0;
}

static int kv_text(kiln_buf *out, kiln_err *err, const char *k, sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    int rc = kiln_buf_printf(out, err, ",\"%s\":", k);
    if (!rc)
        rc = v ? kiln_json_write_str(out, v, strlen(v), err) : kiln_buf_printf(out, err, "null");
    return rc;
}

static int kv_int(kiln_buf *out, kiln_err *err, const char *k, sqlite3_stmt *st, int i)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return kiln_buf_printf(out, err, ",\"%s\":null", k);
    return kiln_buf_printf(out, err, ",\"%s\":%lld", k, (long long)sqlite3_column_int64(st, i));
}

int kiln_flow_tries_json(const kiln_flow_project *p, const char *dag, const char *task, int64_t logical, kiln_buf *out,
                         kiln_err *err)
{
    const kiln_flow_dag *d;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc;
    if ((rc = kiln_flow_project_need_dag(p, dag, &d, err)))
        return rc;
    if (kiln_flow_dag_task(d, task) < 0)
        return kiln_err_set(err, KILN_ENOTFOUND, "DAG '%s' has no task '%s'", dag, task);
    int64_t is, ie;
    kiln_flow__interval(d, logical, &is, &ie);
    char lds[32];
    kiln_flow__ts(is, lds);
    if ((rc = open_ro(p, &db, err)))
        return rc;
    if ((rc = kiln_buf_putc(out, '[', err)))
        goto done;
    if (db && sqlite3_prepare_v2(db,
                                 "SELECT try_number, state, pid, started, ended, exit_code, duration_ms, note"
                                 " FROM task_try WHERE dag=?1 AND task=?2 AND logical_date=?3 ORDER BY try_number",
                                 -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, dag, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, task, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, lds, -1, SQLITE_STATIC);
        int n = 0, r = SQLITE_DONE;
        while (!rc && (r = sqlite3_step(st)) == SQLITE_ROW) {
            if ((rc = kiln_buf_printf(out, err, "%s{\"try_number\":%d", n++ ? "," : "", sqlite3_column_int(st, 0))) ||
                (rc = kv_text(out, err, "state", st, 1)) || (rc = kv_int(out, err, "pid", st, 2)) ||
                (rc = kv_text(out, err, "started", st, 3)) || (rc = kv_text(out, err, "ended", st, 4)) ||
                (rc = kv_int(out, err, "exit_code", st, 5)) || (rc = kv_int(out, err, "duration_ms", st, 6)) ||
                (rc = kv_text(out, err, "note", st, 7)) || (rc = kiln_buf_putc(out, '}', err)))
                break;
        }
        if (!rc && r != SQLITE_DONE)
            rc = kiln_err_set(err, KILN_EIO, "state store: %s", sqlite3_errmsg(db));
    }
    if (!rc)
        rc = kiln_buf_putc(out, ']', err);
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
