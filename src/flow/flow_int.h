/*
 * flow_int.h - src/flow's private interface: the state store (SQLite) and
 * helpers shared by the loader, the scheduler and the reports.
 */
#ifndef KILN_FLOW_INT_H
#define KILN_FLOW_INT_H

#include "flow/flow.h"

#include <sqlite3.h>

void kiln_flow__dag_free(kiln_flow_dag *d);

/* The state store: STATE_DIR/flow.db (WAL). One per thread. */
#define KILN_FLOW_STMT_CACHE 24
typedef struct kiln_flow_store {
    sqlite3 *db;
    /* kiln_flow__x's prepared statements, by SQL text (reset, not
     * finalized, between uses: a runner writes the same few statements for
     * every task instance, and compiling them was ~20% of its CPU) */
    struct {
        const char *sql; /* the caller's pointer (a literal); checked against sqlite3_sql */
        sqlite3_stmt *st;
    } cache[KILN_FLOW_STMT_CACHE];
    unsigned ncache, next_evict;
} kiln_flow_store;
int kiln_flow__store_open(kiln_flow_store *s, const char *state_dir, kiln_err *err);
void kiln_flow__store_close(kiln_flow_store *s);
/* Prepare sql and bind the arguments described by types: 's' const char *
 * (NULL binds NULL), 'i' int64_t. Caller steps and finalizes *out. */
int kiln_flow__q(kiln_flow_store *s, sqlite3_stmt **out, kiln_err *err, const char *sql, const char *types, ...);
/* Same, from the store's statement cache (sql a literal): the caller
 * sqlite3_reset()s *out when done and never finalizes it. */
int kiln_flow__qc(kiln_flow_store *s, sqlite3_stmt **out, kiln_err *err, const char *sql, const char *types, ...);
/* Same, run to completion (no rows wanted). */
int kiln_flow__x(kiln_flow_store *s, kiln_err *err, const char *sql, const char *types, ...);

/* 1 if s holds Jinja ("{{", "{%" or "{#"). */
int kiln_flow__is_template(const char *s);
/* "2024-01-01T00:00:00Z" of seconds (out holds 28 bytes). */
void kiln_flow__ts(int64_t secs, char *out);
/* mkdir -p of dir (one mkdir when it exists or only its last level is
 * missing). */
int kiln_flow__mkdirs(const char *dir, kiln_err *err);
/* mkdir -p of the directory holding path. */
int kiln_flow__mkdirs_for(const char *path, kiln_err *err);
/* Path of a try's log (STATE/logs/DAG/LOGICAL/TASK.try-N.log). Caller frees. */
char *kiln_flow__log_path(const kiln_flow_project *p, const char *dag, const char *task, const char *logical,
                          int try_number);
/* Take a task instance's lock: an open file description lock (F_OFD_SETLK)
 * on one byte of the DAG's lock file (STATE/logs/DAG/.locks). Returns 0
 * with *fd_out holding the lock (closing the last descriptor of it, the
 * task's inherited fd 3 included, releases it), 1 when another process
 * holds it, <0 on error. */
int kiln_flow__ti_lock(const kiln_flow_project *p, const char *dag, const char *task, const char *logical, int *fd_out,
                       kiln_err *err);
/* The logical dates of dag's runs in [start, end] (inclusive): the fire
 * times of its schedule, or start alone for a DAG without one. */
int kiln_flow__dates(const kiln_flow_dag *d, int64_t start, int64_t end, int64_t **out, size_t *n, kiln_err *err);
/* Data interval of the run with logical date t. */
void kiln_flow__interval(const kiln_flow_dag *d, int64_t t, int64_t *start, int64_t *end);

/* OpenLineage (lineage.c). A time-ordered UUIDv7 into out (37 bytes). */
void kiln_flow__uuid7(char out[37]);
/* Append one RunEvent (event_type START, COMPLETE or FAIL) for a try of
 * task to p->lineage_file; nothing when lineage is off. */
int kiln_flow__lineage_emit(const kiln_flow_project *p, const kiln_flow_dag *d, size_t task, const char *run_id,
                            int64_t istart, int64_t iend, const char *try_uuid, const char *event_type,
                            const char *error_msg, const char *extra_outputs, kiln_err *err);

/* Rewrite STATE_DIR/metrics.prom from the store (metrics.c). */
int kiln_flow__metrics_write(kiln_flow_store *st, const kiln_flow_project *p, kiln_err *err);

/* Alerts (alert.c). event: "failure" (a task failed after its last
 * retry), "retry", "success" (a run succeeded; task NULL), "resolve" (a
 * task that raised a PagerDuty incident succeeded). */
typedef struct kiln_flow_alert_event {
    const char *event, *dag, *task, *logical_date, *run_id, *message, *log_path;
    int try_number;
} kiln_flow_alert_event;
/* Deliver ev to the targets named in names without waiting (a detached
 * process; outcomes in STATE_DIR/alerts.ndjson). */
int kiln_flow__alert_fire(const kiln_flow_project *p, const kiln_flow_strv *names, const kiln_flow_alert_event *ev,
                          kiln_err *err);

/* Library task types (task_lib.c): job.gh_events, models.build, sql. */
typedef struct kiln_flow__libcall kiln_flow__libcall;
/* Render t's settings for one try into *out (caller frees with
 * kiln_flow__lib_free). */
int kiln_flow__lib_prepare(const kiln_flow_task *t, const kiln_flow_render_ctx *ctx, int64_t istart, int64_t iend,
                           kiln_flow__libcall **out, kiln_err *err);
void kiln_flow__lib_free(kiln_flow__libcall *c);
/* 1 when a backfill on branch (non-NULL) redirects t's table writes to
 * it (a job.gh_events task with a warehouse; its own branch: is replaced). */
int kiln_flow__branch_override(const kiln_flow_task *t, const char *branch);
/* The child's entry (kiln_flow_spawn.fn): runs the call, returns the exit code. */
int kiln_flow__lib_main(void *libcall);
/* The equivalent `kiln ...` argv, NULL-terminated; caller frees each and the array. */
int kiln_flow__lib_argv(const kiln_flow__libcall *c, char ***out, kiln_err *err);
/* First and last UTC day (YYYY-MM-DD) of the interval [istart, iend). */
void kiln_flow__days(int64_t istart, int64_t iend, char first[32], char last[32]);
/* Hash the files of the dbt project in project_dir into h (models.build keys). */
void kiln_flow__models_hash(kiln_sha256 *h, const char *project_dir);

/* metrics.c: loop-lag histogram bounds (ms) and this runner's notes:
 * its DAG's queue depth now, the lag observations since its last note
 * (lag_n[KILN_FLOW_LAG_NB + 1] per bucket, +Inf last, and their sum). */
#define KILN_FLOW_LAG_NB 8
extern const double kiln_flow__lag_bounds_ms[KILN_FLOW_LAG_NB];
int kiln_flow__metrics_note(kiln_flow_store *st, const char *dag, int64_t queue_depth, const uint64_t *lag_n,
                            double lag_sum_ms, kiln_err *err);

/* lineage.c: close the HTTP sender's pipe (it sends what is left, then exits). */
void kiln_flow__lineage_close(void);

/* assets.c: the state of t's consumed assets, one "ASSET = STATE" line each
 * (an Iceberg table's snapshot id on main or on branch, a path's files
 * fingerprint), appended to out. Empty when t consumes nothing. */
int kiln_flow__inputs(const char *project_dir, const kiln_flow_task *t, const char *branch,
                      const kiln_flow_render_ctx *ctx, kiln_buf *out, kiln_err *err);
/* Task TASK of DAG for a logical date keyed as a run keys it now (mark,
 * runs --explain): *d, *k, the interval [*is, *ie), key (over the consumed
 * assets' current state when it consumes any), def_hash, and *inputs (caller
 * frees; NULL when none) that state. */
int kiln_flow__key_now(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, const char *branch,
                       const kiln_flow_dag **d, size_t *k, int64_t *is, int64_t *ie, char key[65], char def_hash[65],
                       char **inputs, kiln_err *err);
/* The key of a task that consumes assets: sha256 of its base key and inputs. */
void kiln_flow__key_with_inputs(const char base_key[65], const char *inputs, char out[65]);
/* "iceberg://WAREHOUSE/ns.table": 1 with *warehouse (absolute) and *table
 * (caller frees), 0 when asset is not one, -1 out of memory. */
int kiln_flow__asset_iceberg(const char *project_dir, const char *asset, char **warehouse, char **table);
/* maint.c (table maintenance): the table.maintain task's library call
 * (table NULL or "all": every table of the warehouse), an exit code; and
 * the automatic maintenance after a successful task (kiln.yml
 * maintenance.auto), called by the scheduler with the wall-clock ms the
 * try started (docs/maintenance.md). */
int kiln_flow__maint_task(const char *warehouse, const char *table, int dry_run);
/* kiln.yml's maintenance: block checked when the project loads (a bad block
 * is a configuration error with file:line:column, not a warning at run time). */
int kiln_flow__maint_config_check(const kiln_flow_project *p, kiln_err *err);
void kiln_flow__maint_after_task(const kiln_flow_project *p, const kiln_flow_task *t, const char *backfill_branch,
                                 int64_t since_ms, FILE *out);

/* Free each string of v and v itself. */
void kiln_flow__strv_free(kiln_flow_strv *v);
/* A kiln_lake_table_list callback: appends a copy of each table's name to
 * the kiln_flow_strv at ctx (-1, stopping the listing, when out of memory). */
int kiln_flow__collect_name(void *ctx, const char *name, const char *loc);

#endif
