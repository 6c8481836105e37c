/*
 * metrics.c - .kiln/metrics.prom, Prometheus text exposition format 0.0.4
 * (node_exporter's textfile-collector convention), so Prometheus can
 * scrape the orchestrator before `kiln serve` exists.
 *
 * The numbers are computed from the state store, not kept in a process:
 * several runners (a backfill, the scheduler's children) write the same
 * file, each a complete picture of the shared store, replaced atomically
 * (temp file + rename), so a scrape never reads half a file and the last
 * writer is always right. Written after the scheduler loop iterations that
 * changed a state (at most once a second; a change is written within a
 * second), when a run finishes and when a runner ends. Labels are bounded:
 * dag, task, state (no run ids or dates).
 */
#include "flow_int.h"

static int label(kiln_buf *b, kiln_err *err, const char *k, const char *v, int first)
{
    /* label values escape \, " and newline */
    int rc = kiln_buf_printf(b, err, "%s%s=\"", first ? "" : ",", k);
    for (const char *p = v; !rc && *p; p++) {
        if (*p == '\\' || *p == '"')
            rc = kiln_buf_printf(b, err, "\\%c", *p);
        else if (*p == '\n')
            rc = kiln_buf_printf(b, err, "\\n");
        else
            rc = kiln_buf_putc(b, *p, err);
    }
    if (!rc)
        rc = kiln_buf_putc(b, '"', err);
    return rc;
}

static int family(kiln_buf *b, kiln_err *err, const char *name, const char *type, const char *help)
{
    return kiln_buf_printf(b, err, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family whose samples are the rows of sql: label columns first (named
 * by labels), the value last. */
static int rows_family(kiln_buf *b, kiln_flow_store *st, kiln_err *err, const char *name, const char *type,
                       const char *help, const char *sql, const char *const *labels, int nlabels)
{
    sqlite3_stmt *q = NULL;
    int rc = family(b, err, name, type, help);
    if (!rc)
        rc = kiln_flow__q(st, &q, err, sql, "");
    while (!rc && sqlite3_step(q) == SQLITE_ROW) {
        rc = kiln_buf_printf(b, err, "%s{", name);
        for (int i = 0; i < nlabels && !rc; i++) {
            const unsigned char *v = sqlite3_column_text(q, i);
            rc = label(b, err, labels[i], v ? (const char *)v : "", i == 0);
        }
        if (!rc)
            rc = kiln_buf_printf(b, err, "} %lld\n", (long long)sqlite3_column_int64(q, nlabels));
    }
    sqlite3_finalize(q);
    return rc;
}

const double kiln_flow__lag_bounds_ms[KILN_FLOW_LAG_NB] = {1, 5, 10, 50, 100, 500, 1000, 5000};

int kiln_flow__metrics_note(kiln_flow_store *st, const char *dag, int64_t queue_depth, const uint64_t *lag_n,
                            double lag_sum_ms, kiln_err *err)
{
    int rc =
        kiln_flow__x(st, err,
                     "INSERT INTO queue_depth(dag, n, updated) VALUES(?1, ?2, CAST(strftime('%s', 'now') AS INTEGER))"
                     " ON CONFLICT(dag) DO UPDATE SET n = ?2, updated = excluded.updated",
                     "si", dag, queue_depth);
    double left = lag_sum_ms;
    for (int i = 0; i <= KILN_FLOW_LAG_NB && !rc; i++) {
        if (!lag_n[i])
            continue;
        /* the sum goes with the first bucket noted: only the total is read */
        rc = kiln_flow__x(st, err,
                          "INSERT INTO loop_lag(bucket, n, sum_ms) VALUES(?1, ?2, ?3 / 1000.0)"
                          " ON CONFLICT(bucket) DO UPDATE SET n = n + ?2, sum_ms = sum_ms + ?3 / 1000.0",
                          "iii", (int64_t)i, (int64_t)lag_n[i], (int64_t)(left * 1000.0));
        left = 0;
    }
    return rc;
}

static const double buckets[] = {0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 14400};
#define NBUCKETS (sizeof buckets / sizeof *buckets)
/* the buckets' le label values (%g of the above), +Inf last */
static const char *const bucket_le[NBUCKETS + 1] = {"0.1", "0.5",  "1",    "5",     "15",  "60",
                                                    "300", "1800", "3600", "14400", "+Inf"};

int kiln_flow__metrics_write(kiln_flow_store *st, const kiln_flow_project *p, kiln_err *err)
{
    kiln_buf b;
    sqlite3_stmt *q = NULL;
    int rc;
    kiln_buf_init(&b, 64 << 20);
    if ((rc = family(&b, err, "kiln_up", "gauge", "1 when the orchestrator wrote this file")) ||
        (rc = kiln_buf_printf(&b, err, "kiln_up 1\n")))
        goto done;
    static const char *const dts[] = {"dag", "task", "state"}, *const ds[] = {"dag", "state"};
    if ((rc = rows_family(&b, st, err, "kiln_task_runs_total", "counter", "Task tries by final state of the try.",
                          "SELECT dag, task, state, count(*) FROM task_try WHERE state <> 'running'"
                          " GROUP BY dag, task, state ORDER BY dag, task, state",
                          dts, 3)) ||
        (rc = rows_family(&b, st, err, "kiln_task_retries_total", "counter", "Task tries after the first, per task.",
                          "SELECT dag, task, count(*) FROM task_try WHERE try_number > 1 GROUP BY dag, task"
                          " ORDER BY dag, task",
                          dts, 2)))
        goto done;
    static const char *const as[] = {"asset"};
    if ((rc = rows_family(&b, st, err, "kiln_asset_rows_written_total", "counter",
                          "Rows written to an asset (table) by library task tries (inserted + updated).",
                          "SELECT asset, sum(rows) FROM asset_materialization GROUP BY asset ORDER BY asset", as, 1)) ||
        (rc = rows_family(&b, st, err, "kiln_asset_last_materialization_timestamp_seconds", "gauge",
                          "When a task last wrote the asset (unix seconds).",
                          "SELECT asset, max(recorded) FROM asset_materialization GROUP BY asset ORDER BY asset", as,
                          1)))
        goto done;
    /* try durations (monotonic clock, ms) */
    if ((rc = family(&b, err, "kiln_task_duration_seconds", "histogram", "Duration of finished task tries.")) ||
        (rc = kiln_flow__q(st, &q, err,
                           "SELECT dag, task, duration_ms / 1000.0 FROM task_try"
                           " WHERE duration_ms IS NOT NULL ORDER BY dag, task",
                           "")))
        goto done;
    {
        char dag[256] = "", task[256] = "";
        uint64_t cnt[NBUCKETS + 1] = {0}, total = 0;
        double sum = 0;
        int have = 0, more;
        do {
            more = sqlite3_step(q) == SQLITE_ROW;
            const char *rd = more ? (const char *)sqlite3_column_text(q, 0) : "";
            const char *rt = more ? (const char *)sqlite3_column_text(q, 1) : "";
            if (have && (!more || strcmp(rd, dag) || strcmp(rt, task))) {
                /* the escaped labels once per task (a store with 10,000
                 * tasks has 130,000 of these lines) */
                kiln_buf lb;
                kiln_buf_init(&lb, 0);
                rc = label(&lb, err, "dag", dag, 1);
                if (!rc)
                    rc = label(&lb, err, "task", task, 0);
                uint64_t cum = 0;
                for (size_t i = 0; i <= NBUCKETS && !rc; i++) {
                    cum += cnt[i];
                    rc = kiln_buf_printf(&b, err, "kiln_task_duration_seconds_bucket{%.*s,le=\"%s\"} %llu\n",
                                         (int)lb.len, lb.data, bucket_le[i], (unsigned long long)cum);
                }
                if (!rc)
                    rc = kiln_buf_printf(&b, err,
                                         "kiln_task_duration_seconds_sum{%.*s} %.3f\n"
                                         "kiln_task_duration_seconds_count{%.*s} %llu\n",
                                         (int)lb.len, lb.data, sum, (int)lb.len, lb.data, (unsigned long long)total);
                kiln_buf_free(&lb);
                memset(cnt, 0, sizeof cnt);
                total = 0;
                sum = 0;
                have = 0;
            }
            if (!more || rc)
                break;
            snprintf(dag, sizeof dag, "%s", rd);
            snprintf(task, sizeof task, "%s", rt);
            double secs = sqlite3_column_double(q, 2);
            if (secs < 0)
                secs = 0;
            size_t i = 0;
            while (i < NBUCKETS && secs > buckets[i])
                i++;
            cnt[i]++;
            total++;
            sum += secs;
            have = 1;
        } while (1);
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc)
        goto done;
    if ((rc = rows_family(&b, st, err, "kiln_dag_runs", "gauge", "DAG runs in the state store by state.",
                          "SELECT dag, state, count(*) FROM dag_run GROUP BY dag, state ORDER BY dag, state", ds, 2)) ||
        (rc = rows_family(&b, st, err, "kiln_dag_last_success_timestamp_seconds", "gauge",
                          "When a run of the DAG last succeeded (alert on time since).",
                          "SELECT dag, CAST(strftime('%s', max(ended)) AS INTEGER) FROM dag_run WHERE state='success'"
                          " GROUP BY dag ORDER BY dag",
                          ds, 1)))
        goto done;
    /* queue wait of tries (ready -> started), per DAG */
    if ((rc = family(&b, err, "kiln_task_queue_wait_seconds", "histogram",
                     "Time task tries waited for a slot (ready until started).")) ||
        (rc = kiln_flow__q(st, &q, err,
                           "SELECT dag, queue_wait_ms / 1000.0 FROM task_try WHERE queue_wait_ms IS NOT NULL"
                           " ORDER BY dag",
                           "")))
        goto done;
    {
        static const double qb[] = {0.001, 0.01, 0.1, 1, 10, 60, 600};
        enum { NQ = sizeof qb / sizeof *qb };
        char dag[256] = "";
        uint64_t cnt[NQ + 1] = {0}, total = 0;
        double sum = 0;
        int have = 0, more;
        do {
            more = sqlite3_step(q) == SQLITE_ROW;
            const char *rd = more ? (const char *)sqlite3_column_text(q, 0) : "";
            if (have && (!more || strcmp(rd, dag))) {
                uint64_t cum = 0;
                for (size_t i = 0; i <= NQ && !rc; i++) {
                    cum += cnt[i];
                    char le[32];
                    snprintf(le, sizeof le, i < NQ ? "%g" : "+Inf", i < NQ ? qb[i] : 0.0);
                    rc = kiln_buf_printf(&b, err, "kiln_task_queue_wait_seconds_bucket{");
                    if (!rc)
                        rc = label(&b, err, "dag", dag, 1);
                    if (!rc)
                        rc = kiln_buf_printf(&b, err, ",le=\"%s\"} %llu\n", le, (unsigned long long)cum);
                }
                if (!rc)
                    rc = kiln_buf_printf(&b, err, "kiln_task_queue_wait_seconds_sum{");
                if (!rc)
                    rc = label(&b, err, "dag", dag, 1);
                if (!rc)
                    rc = kiln_buf_printf(&b, err, "} %.3f\nkiln_task_queue_wait_seconds_count{", sum);
                if (!rc)
                    rc = label(&b, err, "dag", dag, 1);
                if (!rc)
                    rc = kiln_buf_printf(&b, err, "} %llu\n", (unsigned long long)total);
                memset(cnt, 0, sizeof cnt);
                total = 0;
                sum = 0;
                have = 0;
            }
            if (!more || rc)
                break;
            snprintf(dag, sizeof dag, "%s", rd);
            double secs = sqlite3_column_double(q, 1);
            size_t i = 0;
            while (i < NQ && secs > qb[i])
                i++;
            cnt[i]++;
            total++;
            sum += secs < 0 ? 0 : secs;
            have = 1;
        } while (1);
    }
    sqlite3_finalize(q);
    q = NULL;
    if (rc)
        goto done;
    static const char *const dq[] = {"dag"};
    if ((rc = rows_family(&b, st, err, "kiln_queue_depth", "gauge",
                          "Task instances ready and waiting for a slot, as their DAG's runner last noted.",
                          "SELECT dag, n FROM queue_depth ORDER BY dag", dq, 1)))
        goto done;
    /* the scheduler loop's lag: how late due timers (retries, timeouts,
     * pokes) were handled, over all runners */
    if ((rc = family(&b, err, "kiln_scheduler_loop_lag_seconds", "histogram",
                     "How late the scheduler loop handled a due timer (retry, timeout, sensor poke, lock wait).")))
        goto done;
    {
        uint64_t n[KILN_FLOW_LAG_NB + 1] = {0}, cum = 0;
        double sum_ms = 0;
        if ((rc = kiln_flow__q(st, &q, err, "SELECT bucket, n, sum_ms FROM loop_lag", "")))
            goto done;
        while (sqlite3_step(q) == SQLITE_ROW) {
            int bk = sqlite3_column_int(q, 0);
            if (bk >= 0 && bk <= KILN_FLOW_LAG_NB)
                n[bk] += (uint64_t)sqlite3_column_int64(q, 1);
            sum_ms += sqlite3_column_double(q, 2);
        }
        sqlite3_finalize(q);
        q = NULL;
        for (int i = 0; i <= KILN_FLOW_LAG_NB && !rc; i++) {
            cum += n[i];
            if (i < KILN_FLOW_LAG_NB)
                rc = kiln_buf_printf(&b, err, "kiln_scheduler_loop_lag_seconds_bucket{le=\"%g\"} %llu\n",
                                     kiln_flow__lag_bounds_ms[i] / 1000.0, (unsigned long long)cum);
            else
                rc = kiln_buf_printf(
                    &b, err,
                    "kiln_scheduler_loop_lag_seconds_bucket{le=\"+Inf\"} %llu\n"
                    "kiln_scheduler_loop_lag_seconds_sum %.6f\nkiln_scheduler_loop_lag_seconds_count %llu\n",
                    (unsigned long long)cum, sum_ms / 1000.0, (unsigned long long)cum);
        }
        if (rc)
            goto done;
    }
    char *path = kiln_sprintf("%s/metrics.prom", p->state_dir);
    if (!path) {
        rc = KILN_OOM(err);
        goto done;
    }
    rc = kiln_file_write_atomic(path, b.data ? b.data : "", b.len, err);
    kiln_free(path);
done:
    sqlite3_finalize(q);
    kiln_buf_free(&b);
    return rc;
}
