/*
 * flow.h - kiln's orchestrator: DAG files, the state store, the executor
 * and the scheduler that runs DAG runs (one date, or a backfill range).
 *
 * A project directory holds dags/NAME.yml (one DAG per file), an optional
 * kiln.yml (pools, parallelism) and .kiln/ (state: flow.db in SQLite WAL
 * mode, logs/ per task try, locks/ per task instance). docs/flow.md is the
 * user's description; this header is the API the CLI (src/cli/cmd_flow.c)
 * calls. Objects belong to one thread.
 */
#ifndef KILN_FLOW_H
#define KILN_FLOW_H

#include "base/base.h"

/* ------------------------------------------------------------ DAG model */

typedef enum {
    KILN_TR_ALL_SUCCESS = 0,
    KILN_TR_ALL_FAILED,
    KILN_TR_ALL_DONE,
    KILN_TR_ONE_SUCCESS,
    KILN_TR_ONE_FAILED,
    KILN_TR_NONE_FAILED,
    KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS,
    KILN_TR_ALWAYS
} kiln_flow_trigger;
const char *kiln_flow_trigger_name(kiln_flow_trigger t);

typedef KILN_VEC(char *) kiln_flow_strv; /* owned strings */

typedef struct kiln_flow_task {
    char *id;
    char *type;           /* "command", "sensor.file", "job.gh_events", "models.build", "sql" */
    kiln_flow_strv argv;  /* command: program and arguments, never a shell */
    kiln_flow_strv env;   /* "NAME=value" added to the environment */
    char *cwd;            /* relative to the project dir; NULL = project dir */
    kiln_flow_strv needs; /* upstream task ids */
    size_t *up, nup;      /* resolved upstream indices */
    size_t *down, ndown;  /* downstream indices */
    kiln_flow_trigger trigger;
    int retries;
    int64_t retry_delay_ms, max_retry_delay_ms, timeout_ms; /* 0 = none (timeout) */
    int64_t sla_ms; /* sla: succeed within this long after the run started, else on_sla_miss (0 = none) */
    int exp_backoff;
    char *sensor_path;        /* sensor.file: the file to wait for (relative to the project); sensor.asset: the asset */
    int64_t poke_interval_ms; /* sensors: time between pokes (default 60 s) */
    int reschedule;           /* sensors: mode reschedule (no slot held between pokes) */
    int soft_fail;            /* sensors: a timeout makes the task skipped, not failed (Airflow's soft_fail) */
    char *pool;               /* "default_pool" when not set */
    int pool_slots;
    int priority_weight;
    int depends_on_past;
    kiln_flow_strv produces, consumes; /* asset names (templates): OpenLineage; consumes' state is in the key */
    /* settings of a library task type (job.gh_events, models.build, sql):
     * name -> value as written (templated; booleans "true"/"false";
     * models.build's vars map as "vars.NAME") */
    kiln_flow_strv opt_keys, opt_vals;
    int line, col; /* where the task's key is in the file */
} kiln_flow_task;

typedef struct kiln_flow_dag {
    char *id;
    char *path;        /* the DAG file */
    char *project_dir; /* the project it belongs to */
    char *schedule;    /* as written; NULL = manual runs only */
    kiln_cron cron;    /* parsed schedule (has_cron) */
    int has_cron;
    char *timezone;               /* "UTC" when not set */
    int64_t start_date, end_date; /* seconds; end_date 0 = open */
    int catchup, max_active_runs, max_active_tasks;
    int64_t dagrun_timeout_ms;
    kiln_flow_strv param_keys, param_vals; /* params with defaults, as strings */
    kiln_flow_strv tags, on_failure, on_success, on_retry, on_sla_miss;
    kiln_flow_strv schedule_assets; /* schedule: [ASSET, ...]: a run when every one has a new materialization */
    kiln_flow_task *tasks;
    size_t ntasks;
    kiln_map *task_index; /* id -> (index + 1) cast to a pointer */
} kiln_flow_dag;

typedef struct kiln_flow_pool {
    char *name;
    int slots;
} kiln_flow_pool;

/* An alert target from kiln.yml's alerts: (docs/flow.md#alerts). */
enum { KILN_ALERT_COMMAND = 0, KILN_ALERT_WEBHOOK, KILN_ALERT_SLACK, KILN_ALERT_PAGERDUTY };
typedef struct kiln_flow_alert {
    char *name;
    int type;              /* KILN_ALERT_* */
    kiln_flow_strv argv;   /* command */
    char *url, *url_env;   /* webhook, slack, pagerduty: the URL, or the variable holding it */
    char *routing_key_env; /* pagerduty: the variable holding the routing key */
    int64_t timeout_ms;    /* per attempt, default 10 s */
    int retries;           /* extra attempts after a failed one, default 2 */
} kiln_flow_alert;

/* A project: every DAG that loaded, and one diagnostic per problem found
 * ("path:line:col: message"). A DAG file with an error is left out; the
 * others still load. */
typedef struct kiln_flow_project {
    char *dir, *state_dir; /* state_dir = dir/.kiln */
    kiln_flow_dag **dags;
    size_t ndags;
    kiln_flow_strv diags;
    kiln_flow_pool *pools; /* default_pool (128 slots) first */
    size_t npools;
    int parallelism;    /* kiln.yml flow.parallelism, default 32 */
    char *lineage_file; /* kiln.yml flow.lineage.file (relative to dir); NULL = off */
    char *lineage_url;  /* kiln.yml flow.lineage.url: POST each event there (Marquez: .../api/v1/lineage); NULL = off */
    int64_t lineage_timeout_ms; /* flow.lineage.timeout per POST (default 5 s) */
    int64_t asset_poll_ms;      /* flow.asset_poll_interval: how often `kiln scheduler` looks at the assets of
                                 * asset-scheduled DAGs (default 30 s; only when such DAGs exist) */
    kiln_flow_alert *alerts;
    size_t nalerts;
} kiln_flow_project;

/* Load dir/kiln.yml (optional) and every dir/dags/NAME.yml|*.yaml. Returns an
 * error only when the project itself cannot be read (no dags/ directory,
 * bad kiln.yml); bad DAG files become diagnostics. Caller frees with
 * kiln_flow_project_free. */
int kiln_flow_project_load(kiln_flow_project **out, const char *dir, kiln_err *err);
void kiln_flow_project_free(kiln_flow_project *p); /* NULL is a no-op */
/* The DAG named id, or NULL. */
const kiln_flow_dag *kiln_flow_project_dag(const kiln_flow_project *p, const char *id);
/* KILN_ENOTFOUND with a message naming the DAG (and a diagnostic of its
 * file when it failed to load). */
int kiln_flow_project_need_dag(const kiln_flow_project *p, const char *id, const kiln_flow_dag **out, kiln_err *err);
/* The value of a library task type's setting name, or NULL. */
const char *kiln_flow_task_opt(const kiln_flow_task *t, const char *name);
/* Task index in dag, or -1. */
long kiln_flow_dag_task(const kiln_flow_dag *d, const char *id);

/* A date ("2024-01-01", midnight in the DAG's zone) or a timestamp with
 * zone into seconds. */
int kiln_flow_parse_date(const kiln_flow_dag *d, const char *s, int64_t *out, kiln_err *err);
/* Durations: "90", "90s", "250ms", "5m", "2h", "1d" into milliseconds. */
int kiln_flow_parse_duration(const char *s, int64_t *ms_out);

/* Text pictures for the CLI. Append to out. */
int kiln_flow_dags_list(const kiln_flow_project *p, kiln_buf *out, kiln_err *err);
int kiln_flow_dag_show(const kiln_flow_dag *d, kiln_buf *out, kiln_err *err);

/* ------------------------------------------------------------ rendering */

/* Template context of one task instance (Airflow's names; dates in UTC,
 * as Airflow's template dates are). */
typedef struct kiln_flow_render_ctx {
    const kiln_flow_dag *dag;                                              /* params.x come from dag->param_keys/vals */
    char ds[11], ds_nodash[9];                                             /* "2024-01-02", "20240102" */
    char logical_date[32], data_interval_start[32], data_interval_end[32]; /* ISO, Z */
    char ts[32], ts_nodash[16]; /* "2024-01-02T00:00:00+00:00", "20240102T000000" */
    const char *run_id;         /* "" when rendering the definition for the idempotency key */
    int try_number;             /* 0 then too, so neither changes the key */
    const char *task_id;        /* task.task_id; NULL = not rendering for one task */
    const char *branch;         /* {{ branch }}: the backfill's --branch; NULL renders "main" */
    const char *where;          /* what errors call the string ("dags/x.yml:12:9"); NULL = "template" */
} kiln_flow_render_ctx;
void kiln_flow_render_ctx_init(kiln_flow_render_ctx *c, const kiln_flow_dag *d, int64_t logical, int64_t istart,
                               int64_t iend, const char *run_id, int try_number);
/* The context as the JSON object of template variables the models
 * layer's renderer takes (vars_json of kiln_models_render_string): ds,
 * ds_nodash, ts, ts_nodash, logical_date, data_interval_start,
 * data_interval_end, run_id, params {name: default}, task {task_id,
 * try_number}, dag {dag_id}. Appends to out. */
int kiln_flow_render_vars_json(const kiln_flow_render_ctx *ctx, kiln_buf *out, kiln_err *err);
/* Render one task string with the models layer's Jinja (one template
 * engine in kiln): a string without "{{", "{%" or "{#" is copied as is.
 * Errors: the renderer's (KILN_EFORMAT syntax, KILN_EINVAL evaluation),
 * prefixed with ctx->where. Caller frees *out. */
int kiln_flow_render(char **out, const char *s, const kiln_flow_render_ctx *ctx, kiln_err *err);

/* ------------------------------------------------------------ executor */

/* What to start: borrowed, NULL-terminated argv/env_extra. */
typedef struct kiln_flow_spawn {
    char *const *argv;
    char *const *env_extra; /* "NAME=value", override the inherited env */
    const char *cwd;
    const char *log_path; /* stdout+stderr go here (created, appended) */
    int lock_fd;          /* >= 0: passed to the child as fd 3 so the
                             * per-task-instance lock lives as long as the
                             * task, even if the runner dies */
    /* A library task type (job.gh_events, models.build, sql): instead of
     * exec'ing argv, the child (a fork of the runner, set up the same way:
     * process group, log, lock, cwd, env) calls fn(fn_arg) and exits with
     * its return value. argv is then what a remote executor would run
     * instead (the equivalent kiln command line). */
    int (*fn)(void *fn_arg);
    void *fn_arg;
} kiln_flow_spawn;

typedef struct kiln_flow_proc {
    int pid;     /* also the process group id */
    int wait_fd; /* readable when the process exited (a pidfd) */
} kiln_flow_proc;

/* The executor interface: start, poll, kill. The local executor spawns
 * processes (posix_spawn, own process group); another executor (a
 * Kubernetes Job per try) implements the same three calls. */
typedef struct kiln_flow_executor {
    const char *name;
    int (*start)(struct kiln_flow_executor *ex, const kiln_flow_spawn *s, kiln_flow_proc *out, kiln_err *err);
    /* *done = 1 when finished; then *exit_code is the exit status, or
     * 128 + signal when killed by one (*signo set). Non-blocking. */
    int (*poll)(struct kiln_flow_executor *ex, kiln_flow_proc *p, int *done, int *exit_code, int *signo, kiln_err *err);
    int (*kill)(struct kiln_flow_executor *ex, kiln_flow_proc *p, int signo); /* the whole process group */
} kiln_flow_executor;
extern kiln_flow_executor kiln_flow_local_executor;

/* ------------------------------------------------------------ running */

enum { KILN_FLOW_RERUN_NONE = 0, KILN_FLOW_RERUN_FAILED, KILN_FLOW_RERUN_ALL };

typedef struct kiln_flow_run_opts {
    const char *dag;
    int64_t start, end;    /* logical dates (seconds), inclusive range */
    int rerun;             /* KILN_FLOW_RERUN_*: which existing runs to examine again */
    int dry_run;           /* print the plan, run nothing, write nothing */
    int backfill;          /* run ids "backfill__...", else "manual__..." */
    int max_active_runs;   /* 0 = the DAG's */
    const char *only_task; /* tasks run: one task, upstream ignored */
    const char *run_type;  /* run id prefix; NULL: "backfill" or "manual" */
    FILE *progress;        /* one line per event, or NULL */
    int bar;               /* progress is a terminal: one redrawn bar (runs done/failed/left,
                           * ETA) instead of a line per task event; failed runs still get a line */
    const char *branch;    /* backfill --branch: every job.gh_events and models.build table
                            * write goes to this Iceberg branch (created from main's head);
                            * when every run succeeded, main is fast-forwarded to it on each
                            * touched table */
    FILE *live_log;        /* tasks run: each try's log copied here as it is written */
} kiln_flow_run_opts;

typedef struct kiln_flow_result {
    int runs_total, runs_success, runs_failed, runs_left_alone;
    int tries_started, tasks_success, tasks_failed, tasks_skipped_by_key, tasks_upstream_failed, tasks_skipped;
    int drained;        /* SIGUSR1 stopped it: running tries finished, the rest left queued */
    int branch_tables;  /* --branch: tables that have the branch */
    int branch_swapped; /* --branch: main was fast-forwarded on all of them */
} kiln_flow_result;

/* Run the DAG for every scheduled logical date in [start, end] (one date
 * when start == end), in the foreground, until every run finished.
 * Returns 0 when the runs could be carried out (inspect res for
 * failures) or a negative code. */
int kiln_flow_run(kiln_flow_project *p, const kiln_flow_run_opts *o, kiln_flow_result *res, kiln_err *err);

typedef struct kiln_flow_clear_opts {
    const char *dag, *task; /* task NULL = every task */
    int64_t start, end;     /* logical dates, inclusive */
    int downstream, upstream, failed_only;
} kiln_flow_clear_opts;
/* Forget the state and idempotency keys of the matching task instances so
 * the next run executes them. *ncleared = task instances cleared. */
int kiln_flow_clear(kiln_flow_project *p, const kiln_flow_clear_opts *o, int *ncleared, kiln_err *err);

/* `kiln dags pause|unpause`: a paused DAG gets no scheduled runs (runs
 * already going continue; `dags run`/`backfill` still work). Wakes a
 * running scheduler. */
int kiln_flow_dag_pause(kiln_flow_project *p, const char *dag, int paused, kiln_err *err);

typedef struct kiln_flow_sched_opts {
    int once;       /* start the runs due now, wait for them, return */
    FILE *progress; /* one line per run started/ended, or NULL */
} kiln_flow_sched_opts;
/* `kiln scheduler`: for every unpaused scheduled DAG, start a runner (a
 * forked child running kiln_flow_run) for each due interval - the latest
 * complete one, or with catchup every one since start_date that has no
 * run - up to max_active_runs per DAG; sleep in poll() until the next
 * interval ends, a runner exits or a DAG file changes (inotify). SIGTERM
 * or SIGINT drains (runners start no new task; running tries finish),
 * a second one stops the runners' tasks. Returns 0 after a drain or, with
 * once, when the due runs have ended. */
int kiln_flow_scheduler(const char *project_dir, const kiln_flow_sched_opts *o, kiln_err *err);

/* `kiln runs`: runs (of dag, or all when NULL) with their task states. */
int kiln_flow_runs_report(kiln_flow_project *p, const char *dag, int json, kiln_buf *out, kiln_err *err);
/* `kiln runs DAG --explain TASK --date D`: why it will or will not run. */
int kiln_flow_explain(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, kiln_buf *out,
                      kiln_err *err);
/* Same, for the task instance as `kiln dags backfill --branch BRANCH` keys
 * it (the branch is part of a branch backfill's keys); NULL = main. */
int kiln_flow_explain_branch(kiln_flow_project *p, const char *dag, const char *task, int64_t logical,
                             const char *branch, kiln_buf *out, kiln_err *err);
/* Path of the log of try (0 = the latest). Caller frees *out. */
int kiln_flow_log_path(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, int try_number,
                       char **out, kiln_err *err);

/* The idempotency key of a task instance (64 hex chars + NUL): sha256 of
 * DAG, task, data interval, the rendered definition and KILN_VERSION. */
int kiln_flow_task_key(const kiln_flow_dag *d, size_t task, int64_t istart, int64_t iend, char out[65],
                       char def_hash[65], kiln_err *err);
/* The same for a run on Iceberg branch `branch` (NULL = main): the branch
 * is part of a table-writing task's definition. */
int kiln_flow_task_key_branch(const kiln_flow_dag *d, size_t task, int64_t istart, int64_t iend, const char *branch,
                              char out[65], char def_hash[65], kiln_err *err);

/* ------------------------------------------------------------ read-only
 * queries for kiln serve (src/flow/query.c; appended by issue 14). They
 * open the state store only when it exists: reading never creates one. */

/* *paused = 1 when `kiln dags pause` paused dag (0 without a store). */
int kiln_flow_dag_paused(const kiln_flow_project *p, const char *dag, int *paused, kiln_err *err);
/* The tries of one task instance, oldest first, as a JSON array appended
 * to out: [{"try_number","state","pid","started","ended","exit_code",
 * "duration_ms","note"}] (null where unknown); [] when it never ran. */
int kiln_flow_tries_json(const kiln_flow_project *p, const char *dag, const char *task, int64_t logical, kiln_buf *out,
                         kiln_err *err);

/* ------------------------------------------------------------ mark a task
 * instance by hand (src/flow/mark.c; appended by issue 14 for kiln serve).
 * success = 1 records its idempotency key as succeeded (the next run of
 * that date skips it), 0 sets it failed and forgets the key. The run must
 * exist; a running instance is KILN_ECONFLICT. note is kept in the
 * instance's note ("marked success: NOTE"). The run's state follows. */
int kiln_flow_mark(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, int success,
                   const char *note, kiln_err *err);

#endif
