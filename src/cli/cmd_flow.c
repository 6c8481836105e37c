/*
 * cmd_flow.c - the orchestrator's commands, Airflow-style groups so they
 * never collide with the models layer's dbt verbs: `kiln dags`, `kiln
 * tasks`, `kiln runs`, `kiln logs`. Parses flags and calls flow.h; all the
 * work (and every message about DAG files) is in src/flow.
 */
#include "cli.h"
#include "flow/flow.h"

#include <stdlib.h>
#include <string.h>

#define PROJECT_OPT                                                                                                    \
    {                                                                                                                  \
        "--project-dir", 0, KILN_OPT_VALUE, "DIR", "the project (dags/, kiln.yml, .kiln/); default ."                  \
    }

static const kiln_opt common_opts[] = {PROJECT_OPT, KILN_OPT_END};
static const kiln_opt date_opt[] = {
    {"--date", 0, KILN_OPT_VALUE, "D", "logical date: YYYY-MM-DD (midnight in the DAG's zone) or a timestamp"},
    KILN_OPT_END};
static const kiln_opt backfill_opts[] = {
    {"--start", 0, KILN_OPT_VALUE, "D", "first logical date (required)"},
    {"--end", 0, KILN_OPT_VALUE, "D", "last logical date, inclusive (required)"},
    {"--rerun", 0, KILN_OPT_VALUE, "WHICH",
     "existing runs to examine again: none (default), failed, all;\nnew runs always run, and tasks whose key "
     "succeeded are skipped"},
    {"--max-active-runs", 0, KILN_OPT_VALUE, "N", "runs at once (default: the DAG's max_active_runs)"},
    {"--dry-run", 0, 0, NULL, "print the runs and what each task would do; run nothing"},
    {"--branch", 0, KILN_OPT_VALUE, "NAME",
     "write every job.gh_events table write to Iceberg branch NAME;\nfast-forward main to it on each table only "
     "when every run succeeded"},
    KILN_OPT_END};
static const kiln_opt clear_opts[] = {
    {"--date", 0, KILN_OPT_VALUE, "D", "one logical date"},
    {"--start", 0, KILN_OPT_VALUE, "D", "first logical date of a range"},
    {"--end", 0, KILN_OPT_VALUE, "D", "last logical date of a range, inclusive"},
    {"--downstream", 0, 0, NULL, "also every task downstream of TASK"},
    {"--upstream", 0, 0, NULL, "also every task upstream of TASK"},
    {"--failed-only", 0, 0, NULL, "only task instances that failed or are upstream_failed"},
    KILN_OPT_END};
static const kiln_opt runs_opts[] = {
    PROJECT_OPT,
    {"--json", 0, 0, NULL, "one JSON array of runs with their task instances"},
    {"--explain", 0, KILN_OPT_VALUE, "TASK", "say why TASK will or will not run (with --date)"},
    {"--date", 0, KILN_OPT_VALUE, "D", "the logical date for --explain"},
    {"--branch", 0, KILN_OPT_VALUE, "NAME", "--explain the task as `dags backfill --branch NAME` keys it"},
    KILN_OPT_END};
static const kiln_opt logs_opts[] = {PROJECT_OPT,
                                     {"--date", 0, KILN_OPT_VALUE, "D", "logical date (required)"},
                                     {"--try", 0, KILN_OPT_VALUE, "N", "which try (default: the latest)"},
                                     KILN_OPT_END};

static const kiln_subcmd dags_subs[] = {
    {"list", NULL, 0, 0, "the DAGs that loaded", NULL, NULL},
    {"validate", "[DAG]", 0, 1, "check every DAG file; problems as file:line:col",
     "Loads every dags/*.yml and reports each problem (YAML syntax, unknown keys,\n"
     "unknown task types and needs, cycles, bad cron, unknown pools) as\n"
     "file:line:col: message. Exit 3 when any file has a problem.",
     NULL},
    {"show", "DAG", 1, 1, "a text picture of a DAG", NULL, NULL},
    {"run", "DAG", 1, 1, "one run for --date, in the foreground", NULL, date_opt},
    {"pause", "DAG", 1, 1, "the scheduler starts no runs of DAG", NULL, NULL},
    {"unpause", "DAG", 1, 1, "the scheduler runs DAG again (with catchup: the missed intervals)", NULL, NULL},
    {"backfill", "DAG", 1, 1, "a run per scheduled date in [--start, --end]",
     "Runs every logical date of the DAG's schedule in the range, up to\n"
     "max_active_runs at once. Exit 0 when every run succeeded, 6 when some\n"
     "failed and others succeeded, 1 when all failed.",
     backfill_opts},
};
static const kiln_cmdspec dags_spec = {
    .name = "dags",
    .text = "DAG files (dags/NAME.yml): list, validate, show, run one date, backfill a range.\n"
            "See docs/flow.md.",
    .opts = common_opts,
    .subs = dags_subs,
    .nsubs = 7,
    .footer = "exit codes: 0 ok, 1 a run failed, 2 usage, 3 bad DAG file, 4 unknown DAG,\n"
              "6 backfill with some runs failed and others succeeded\n",
};

static const kiln_subcmd tasks_subs[] = {
    {"run", "DAG TASK", 2, 2, "run one task for --date (upstream ignored; always runs)",
     "Runs TASK alone for the date, whatever its upstream and its idempotency\n"
     "key say, records the try, and prints its log.",
     date_opt},
    {"clear", "DAG [TASK]", 1, 2, "forget task instances so the next run executes them",
     "Clears the state and idempotency keys of TASK (every task when omitted)\n"
     "for --date or --start/--end; --downstream/--upstream widen the set.",
     clear_opts},
};
static const kiln_cmdspec tasks_spec = {
    .name = "tasks",
    .text = "Task instances: run one, clear some. See docs/flow.md.",
    .opts = common_opts,
    .subs = tasks_subs,
    .nsubs = 2,
    .footer = "exit codes: 0 ok, 1 the task failed, 2 usage, 3 bad DAG file, 4 unknown DAG or task\n",
};

static const kiln_cmdspec runs_spec = {
    .name = "runs",
    .args = "[DAG]",
    .min_args = 0,
    .max_args = 1,
    .text = "DAG runs and their task instances from the state store, or (--explain)\n"
            "why a task instance will or will not run.",
    .opts = runs_opts,
    .footer = "exit codes: 0 ok, 2 usage, 3 bad DAG file, 4 unknown DAG or task\n",
};

static const kiln_cmdspec logs_spec = {
    .name = "logs",
    .args = "DAG TASK",
    .min_args = 2,
    .max_args = 2,
    .text = "Print the log (stdout and stderr) of a task try.",
    .opts = logs_opts,
    .footer = "exit codes: 0 ok, 2 usage, 4 unknown DAG, task or try\n",
};

static int load(kiln_flow_project **p, const kiln_args *a)
{
    kiln_err err = {0};
    const char *dir = kiln_opt_get(a, "--project-dir");
    if (kiln_flow_project_load(p, dir ? dir : ".", &err))
        return kiln_cli_fail(&err);
    return 0;
}

static int need_dag(kiln_flow_project *p, const char *id, const kiln_flow_dag **d)
{
    kiln_err err = {0};
    if (kiln_flow_project_need_dag(p, id, d, &err))
        return kiln_cli_fail(&err);
    return 0;
}

static int date_arg(const kiln_args *a, const kiln_flow_dag *d, const char *opt, int64_t *out)
{
    const char *s = kiln_opt_get(a, opt);
    kiln_err err = {0};
    if (!s)
        return kiln_opt_usage(a, "%s is required", opt);
    if (kiln_flow_parse_date(d, s, out, &err))
        return kiln_opt_usage(a, "%s: %s", opt, err.msg);
    return 0;
}

static int print_buf(kiln_buf *b, int rc, kiln_err *err)
{
    if (rc) {
        kiln_buf_free(b);
        return kiln_cli_fail(err);
    }
    fwrite(b->data ? b->data : "", 1, b->len, stdout);
    kiln_buf_free(b);
    return 0;
}

static void print_result(const kiln_flow_result *r)
{
    fprintf(stderr,
            "kiln: %d runs: %d success, %d failed%s; tasks: %d ran ok, %d skipped (key already succeeded), %d failed,"
            " %d upstream_failed, %d skipped; %d tries started\n",
            r->runs_total, r->runs_success, r->runs_failed, r->runs_left_alone ? " (some left alone)" : "",
            r->tasks_success, r->tasks_skipped_by_key, r->tasks_failed, r->tasks_upstream_failed, r->tasks_skipped,
            r->tries_started);
}

static int run_dags(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &dags_spec, argc, argv))
        return a.exit;
    kiln_flow_project *p = NULL;
    int ex;
    if ((ex = load(&p, &a)))
        return ex;
    const char *sub = a.sub->name;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    const kiln_flow_dag *d = NULL;
    if (!strcmp(sub, "list")) {
        ex = print_buf(&b, kiln_flow_dags_list(p, &b, &err), &err);
        if (!ex && p->diags.len)
            fprintf(stderr, "kiln: %zu problems in DAG files; 'kiln dags validate' lists them\n", p->diags.len);
    } else if (!strcmp(sub, "validate")) {
        for (size_t i = 0; i < p->diags.len; i++)
            fprintf(stderr, "%s\n", p->diags.items[i]);
        if (a.npos && !kiln_flow_project_dag(p, a.pos[0]) && !p->diags.len)
            ex = need_dag(p, a.pos[0], &d);
        else if (p->diags.len)
            ex = KILN_EXIT_CONFIG;
        else
            printf("%zu DAGs ok\n", p->ndags);
    } else if (!strcmp(sub, "pause") || !strcmp(sub, "unpause")) {
        int paused = !strcmp(sub, "pause");
        if (kiln_flow_dag_pause(p, a.pos[0], paused, &err))
            ex = kiln_cli_fail(&err);
        else
            printf("%s %s\n", a.pos[0], paused ? "paused" : "unpaused");
    } else if (!strcmp(sub, "show")) {
        if (!(ex = need_dag(p, a.pos[0], &d)))
            ex = print_buf(&b, kiln_flow_dag_show(d, &b, &err), &err);
    } else {
        kiln_flow_run_opts o = {.dag = a.pos[0], .progress = stderr};
        kiln_flow_result r;
        if ((ex = need_dag(p, a.pos[0], &d)))
            goto done;
        if (!strcmp(sub, "run")) {
            if ((ex = date_arg(&a, d, "--date", &o.start)))
                goto done;
            int64_t is, ie;
            /* the run whose interval holds the date */
            o.end = o.start;
            if (d->has_cron && kiln_cron_interval_for(&d->cron, o.start, &is, &ie) == 0)
                o.start = o.end = is;
        } else {
            const char *rr = kiln_opt_get(&a, "--rerun");
            long long mar = 0;
            if ((ex = date_arg(&a, d, "--start", &o.start)) || (ex = date_arg(&a, d, "--end", &o.end)) ||
                (ex = kiln_opt_int(&a, "--max-active-runs", 1, 10000, &mar)))
                goto done;
            /* a bare date as --end means that whole day (its runs included) */
            const char *es = kiln_opt_get(&a, "--end");
            int64_t days;
            if (strlen(es) == 10 && kiln_date_parse(es, 10, &days) == 0) {
                char next[16];
                kiln_date_format(days + 1, next);
                if (kiln_flow_parse_date(d, next, &o.end, &err) == 0)
                    o.end -= 1;
            }
            if (o.end < o.start) {
                ex = kiln_opt_usage(&a, "--end is before --start");
                goto done;
            }
            o.backfill = 1;
            o.bar = kiln_cli_tty();
            o.max_active_runs = (int)mar;
            o.dry_run = kiln_opt_has(&a, "--dry-run") > 0;
            o.branch = kiln_opt_get(&a, "--branch");
            if (o.branch) {
                size_t bl = strlen(o.branch), ok = bl > 0 && bl <= 100 && strcmp(o.branch, "main") != 0;
                for (size_t i = 0; ok && i < bl; i++)
                    ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", o.branch[i]) !=
                         NULL;
                if (!ok) {
                    ex = kiln_opt_usage(&a,
                                        "--branch: '%s' is not a branch name other than main (letters, digits, "
                                        "'_', '-', '.')",
                                        o.branch);
                    goto done;
                }
            }
            if (!rr || !strcmp(rr, "none"))
                o.rerun = KILN_FLOW_RERUN_NONE;
            else if (!strcmp(rr, "failed"))
                o.rerun = KILN_FLOW_RERUN_FAILED;
            else if (!strcmp(rr, "all"))
                o.rerun = KILN_FLOW_RERUN_ALL;
            else {
                ex = kiln_opt_usage(&a, "--rerun: '%s' is not none, failed or all", rr);
                goto done;
            }
        }
        if (kiln_flow_run(p, &o, &r, &err)) {
            ex = kiln_cli_fail(&err);
            goto done;
        }
        if (!o.dry_run)
            print_result(&r);
        if (o.dry_run || r.runs_failed == 0)
            ex = KILN_EXIT_OK;
        else if (o.backfill && r.runs_success > 0)
            ex = KILN_EXIT_PARTIAL;
        else
            ex = KILN_EXIT_FAIL;
    }
done:
    kiln_buf_free(&b);
    kiln_flow_project_free(p);
    return ex;
}

static const kiln_opt scheduler_opts[] = {
    PROJECT_OPT, {"--once", 0, 0, NULL, "start the runs due now, wait for them, exit (no daemon)"}, KILN_OPT_END};
static const kiln_cmdspec scheduler_spec = {
    .name = "scheduler",
    .text = "Run scheduled DAGs in the foreground: every unpaused DAG with a schedule\n"
            "gets a run for each data interval that has ended (with catchup: every one\n"
            "since start_date; without: the latest), up to max_active_runs at once.\n"
            "Sleeps until the next interval ends or a DAG file changes. SIGTERM drains:\n"
            "no new tasks, running ones finish; a second SIGTERM stops them.",
    .opts = scheduler_opts,
    .footer = "exit codes: 0 stopped (or --once: the runs were started and ended), 3 bad project\n",
};

static int run_scheduler(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &scheduler_spec, argc, argv))
        return a.exit;
    const char *dir = kiln_opt_get(&a, "--project-dir");
    kiln_flow_sched_opts o = {.once = kiln_opt_has(&a, "--once") > 0, .progress = stderr};
    kiln_err err = {0};
    if (kiln_flow_scheduler(dir ? dir : ".", &o, &err))
        return kiln_cli_fail(&err);
    return KILN_EXIT_OK;
}

static int cat_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "kiln: %s: cannot open\n", path);
        return KILN_EXIT_FAIL;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
    return 0;
}

static int run_tasks(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &tasks_spec, argc, argv))
        return a.exit;
    kiln_flow_project *p = NULL;
    const kiln_flow_dag *d = NULL;
    kiln_err err = {0};
    int ex;
    if ((ex = load(&p, &a)) || (ex = need_dag(p, a.pos[0], &d)))
        goto done;
    if (!strcmp(a.sub->name, "run")) {
        kiln_flow_run_opts o = {.dag = a.pos[0], .only_task = a.pos[1], .progress = stderr, .live_log = stdout};
        kiln_flow_result r;
        int64_t t, is, ie;
        if ((ex = date_arg(&a, d, "--date", &t)))
            goto done;
        o.start = o.end = t;
        if (d->has_cron && kiln_cron_interval_for(&d->cron, t, &is, &ie) == 0)
            o.start = o.end = is;
        if (kiln_flow_run(p, &o, &r, &err)) {
            ex = kiln_cli_fail(&err);
            goto done;
        }
        char *log = NULL;
        if (kiln_flow_log_path(p, o.dag, o.only_task, o.start, 0, &log, &err) == 0) {
            fprintf(stderr, "kiln: log %s\n", log); /* its text went to stdout as it was written */
            kiln_free(log);
        }
        ex = r.tasks_failed ? KILN_EXIT_FAIL : KILN_EXIT_OK;
    } else {
        kiln_flow_clear_opts o = {.dag = a.pos[0], .task = a.npos > 1 ? a.pos[1] : NULL};
        o.downstream = kiln_opt_has(&a, "--downstream") > 0;
        o.upstream = kiln_opt_has(&a, "--upstream") > 0;
        o.failed_only = kiln_opt_has(&a, "--failed-only") > 0;
        if (kiln_opt_get(&a, "--date")) {
            if (kiln_opt_get(&a, "--start") || kiln_opt_get(&a, "--end")) {
                ex = kiln_opt_usage(&a, "give --date or --start/--end, not both");
                goto done;
            }
            if ((ex = date_arg(&a, d, "--date", &o.start)))
                goto done;
            o.end = o.start;
        } else if ((ex = date_arg(&a, d, "--start", &o.start)) || (ex = date_arg(&a, d, "--end", &o.end))) {
            goto done;
        }
        if ((o.downstream || o.upstream) && !o.task) {
            ex = kiln_opt_usage(&a, "--downstream/--upstream need a TASK");
            goto done;
        }
        int n = 0;
        if (kiln_flow_clear(p, &o, &n, &err)) {
            ex = kiln_cli_fail(&err);
            goto done;
        }
        printf("cleared %d task instances\n", n);
    }
done:
    kiln_flow_project_free(p);
    return ex;
}

static int run_runs(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &runs_spec, argc, argv))
        return a.exit;
    kiln_flow_project *p = NULL;
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int ex;
    if ((ex = load(&p, &a)))
        return ex;
    const char *task = kiln_opt_get(&a, "--explain");
    if (!task && kiln_opt_get(&a, "--branch")) {
        ex = kiln_opt_usage(&a, "--branch goes with --explain TASK --date D");
    } else if (task) {
        const kiln_flow_dag *d;
        int64_t t;
        if (!a.npos)
            ex = kiln_opt_usage(&a, "--explain needs the DAG: kiln runs DAG --explain TASK --date D");
        else if (!(ex = need_dag(p, a.pos[0], &d)) && !(ex = date_arg(&a, d, "--date", &t)))
            ex = print_buf(&b, kiln_flow_explain_branch(p, a.pos[0], task, t, kiln_opt_get(&a, "--branch"), &b, &err),
                           &err);
    } else {
        ex = print_buf(&b, kiln_flow_runs_report(p, a.npos ? a.pos[0] : NULL, kiln_opt_has(&a, "--json") > 0, &b, &err),
                       &err);
    }
    kiln_buf_free(&b);
    kiln_flow_project_free(p);
    return ex;
}

static int run_logs(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &logs_spec, argc, argv))
        return a.exit;
    kiln_flow_project *p = NULL;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    int ex;
    long long try_number = 0;
    int64_t t;
    char *path = NULL;
    if ((ex = load(&p, &a)) || (ex = need_dag(p, a.pos[0], &d)) || (ex = date_arg(&a, d, "--date", &t)) ||
        (ex = kiln_opt_int(&a, "--try", 1, 1000000, &try_number)))
        goto done;
    if (kiln_flow_log_path(p, a.pos[0], a.pos[1], t, (int)try_number, &path, &err)) {
        ex = kiln_cli_fail(&err);
        goto done;
    }
    ex = cat_file(path);
done:
    kiln_free(path);
    kiln_flow_project_free(p);
    return ex;
}

KILN_COMMAND(cmd_dags, "dags", "DAG files: list, validate, show, run, backfill", NULL, run_dags, 70, NULL, 0,
             &dags_spec)
KILN_COMMAND(cmd_tasks, "tasks", "task instances: run one, clear", NULL, run_tasks, 71, NULL, 0, &tasks_spec)
KILN_COMMAND(cmd_runs, "runs", "DAG runs and why a task will or will not run", NULL, run_runs, 72, NULL, 0, &runs_spec)
KILN_COMMAND(cmd_scheduler, "scheduler", "run scheduled DAGs (foreground daemon)", NULL, run_scheduler, 69, NULL, 0,
             &scheduler_spec)
KILN_COMMAND(cmd_logs, "logs", "the log of a task try", NULL, run_logs, 73, NULL, 0, &logs_spec)
