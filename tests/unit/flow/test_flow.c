/* Unit tests for src/flow: the DAG loader (fields, defaults, kiln.yml
 * pools, diagnostics with line:col, bad files not stopping good ones),
 * durations, dates in a DAG's zone, idempotency keys (what changes them
 * and what does not), the render step (the models layer's Jinja), and the
 * local executor (exit codes, logs, environment, process-group kill), and
 * the task-instance lock (held by a task that inherits it). */
#include "harness/harness.h"
#include "flow/flow.h"
#include "flow/flow_int.h"

#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *put(const char *dir, const char *rel, const char *text)
{
    char *path = kiln_sprintf("%s/%s", dir, rel);
    kt_write_file(path, text, strlen(text));
    return path;
}

static void mkdir_in(const char *dir, const char *rel)
{
    char *path = kiln_sprintf("%s/%s", dir, rel);
    mkdir(path, 0755);
    kiln_free(path);
}

static const char good_dag[] = "dag: good_one\n"
                               "schedule: 'CRON_TZ=Europe/Berlin 30 2 * * 1-5'\n"
                               "start_date: 2024-07-01\n"
                               "catchup: true\n"
                               "max_active_runs: 3\n"
                               "dagrun_timeout: 2h\n"
                               "params: {region: eu, limit: 10}\n"
                               "tags: [a, b]\n"
                               "on_failure: [pager]\n"
                               "default_task: {retries: 2, retry_delay: 90s, pool: io}\n"
                               "tasks:\n"
                               "  extract:\n"
                               "    type: command\n"
                               "    command: [echo, hi]\n"
                               "    env: {X: '1'}\n"
                               "    timeout: 250ms\n"
                               "  load:\n"
                               "    type: command\n"
                               "    command: [echo, load]\n"
                               "    needs: extract\n"
                               "    retries: 0\n"
                               "    trigger_rule: none_failed_min_one_success\n"
                               "    pool: default_pool\n"
                               "    priority_weight: 5\n"
                               "    depends_on_past: true\n"
                               "    produces: [iceberg://github.pushes]\n";

TEST(flow, loader_reads_every_field)
{
    const char *dir = kt_tmpdir();
    kiln_err err = {0};
    kiln_free(put(dir, "kiln.yml",
                  "pools:\n  io: 3\nflow:\n  parallelism: 4\nmodels: {ignored: yes}\nalerts: {pager: {type: command, "
                  "command: ['true']}}\n"));
    mkdir_in(dir, "dags");
    kiln_free(put(dir, "dags/good.yml", good_dag));
    kiln_flow_project *p = NULL;
    CHECK_OK(kiln_flow_project_load(&p, dir, &err), &err);
    CHECK_EQ_INT(p->diags.len, 0);
    CHECK_EQ_INT(p->parallelism, 4);
    CHECK_EQ_INT(p->npools, 2);
    const kiln_flow_dag *d = kiln_flow_project_dag(p, "good_one");
    CHECK(d != NULL);
    CHECK(d->has_cron);
    CHECK_STR(kiln_tz_name(d->cron.tz), "Europe/Berlin");
    CHECK_EQ_INT(d->catchup, 1);
    CHECK_EQ_INT(d->max_active_runs, 3);
    CHECK_EQ_INT(d->dagrun_timeout_ms, 7200000);
    CHECK_EQ_INT(d->param_keys.len, 2);
    CHECK_STR(d->param_vals.items[1], "10");
    CHECK_STR(d->on_failure.items[0], "pager");
    /* start_date is midnight Berlin (CEST) */
    char b[40];
    kiln_ts_format(d->start_date * 1000000, b);
    CHECK_STR(b, "2024-06-30T22:00:00Z");
    CHECK_EQ_INT(d->ntasks, 2);
    const kiln_flow_task *e = &d->tasks[0], *l = &d->tasks[1];
    CHECK_EQ_INT(e->retries, 2);
    CHECK_EQ_INT(e->retry_delay_ms, 90000);
    CHECK_EQ_INT(e->timeout_ms, 250);
    CHECK_STR(e->pool, "io");
    CHECK_STR(e->env.items[0], "X=1");
    CHECK_EQ_INT(l->retries, 0);
    CHECK_EQ_INT(l->trigger, KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS);
    CHECK_STR(l->pool, "default_pool");
    CHECK_EQ_INT(l->priority_weight, 5);
    CHECK_EQ_INT(l->depends_on_past, 1);
    CHECK_EQ_INT(l->nup, 1);
    CHECK_EQ_INT(l->up[0], 0);
    CHECK_EQ_INT(e->ndown, 1);
    CHECK_STR(l->produces.items[0], "iceberg://github.pushes");
    kiln_buf out;
    kiln_buf_init(&out, 0);
    CHECK_OK(kiln_flow_dag_show(d, &out, &err), &err);
    CHECK(strstr(out.data, "load [command] <- extract  (none_failed_min_one_success)") != NULL);
    kiln_buf_free(&out);
    kiln_flow_project_free(p);
}

TEST(flow, bad_files_report_line_col_and_others_load)
{
    const char *dir = kt_tmpdir();
    kiln_err err = {0};
    mkdir_in(dir, "dags");
    kiln_free(put(dir, "dags/a_good.yml", "tasks: {t: {type: command, command: ['true']}}\n"));
    kiln_free(put(dir, "dags/b_bad.yml",
                  "schedule: '@daily'\n" /* no start_date */
                  "max_active_runs: lots\n"
                  "tasks:\n"
                  "  t: {type: command, command: 'echo hi', retry_delay: soon}\n"
                  "  u: {type: command, command: ['true'], needs: [t, u]}\n"));
    kiln_flow_project *p = NULL;
    CHECK_OK(kiln_flow_project_load(&p, dir, &err), &err);
    CHECK_EQ_INT(p->ndags, 1);
    CHECK(kiln_flow_project_dag(p, "a_good") != NULL);
    const char *want[] = {
        "b_bad.yml:1:11: a scheduled DAG needs start_date",
        "b_bad.yml:2:18: max_active_runs: 'lots' is not a whole number",
        "b_bad.yml:4:31: command: want a list (program and arguments; kiln never runs a shell for you)",
        "b_bad.yml:4:55: retry_delay: 'soon' is not a duration",
        "b_bad.yml:4:31: task 't': command: want a non-empty list",
        "b_bad.yml:5:52: task 'u' needs itself (a cycle)",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int found = 0;
        for (size_t j = 0; j < p->diags.len; j++)
            found |= strstr(p->diags.items[j], want[i]) != NULL;
        CHECK_MSG(found, "no diagnostic '%s' (got %zu, first: %s)", want[i], p->diags.len,
                  p->diags.len ? p->diags.items[0] : "-");
    }
    const kiln_flow_dag *d;
    CHECK_EQ_INT(kiln_flow_project_need_dag(p, "b_bad", &d, &err), KILN_ECONFIG);
    CHECK_EQ_INT(kiln_flow_project_need_dag(p, "nope", &d, &err), KILN_ENOTFOUND);
    kiln_flow_project_free(p);
    /* a project without dags/ is a configuration error */
    char *nodir = kiln_sprintf("%s/dags/x", dir);
    CHECK_EQ_INT(kiln_flow_project_load(&p, nodir, &err), KILN_ECONFIG);
    kiln_free(nodir);
}

TEST(flow, durations)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"90", 90000},   {"90s", 90000},   {"250ms", 250}, {"5m", 300000},
        {"2h", 7200000}, {"1d", 86400000}, {"1.5s", 1500},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int64_t ms = -1;
        CHECK_OK(kiln_flow_parse_duration(ok[i].s, &ms), NULL);
        CHECK_EQ_INT(ms, ok[i].ms);
    }
    const char *bad[] = {"", "s", "-1s", "5 minutes", "1w", "1e30d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int64_t ms;
        CHECK_MSG(kiln_flow_parse_duration(bad[i], &ms) != 0, "'%s' parsed", bad[i]);
    }
}

static int load_one(kiln_flow_project **p, const char *dir, const char *text)
{
    kiln_err err = {0};
    mkdir_in(dir, "dags");
    kiln_free(put(dir, "dags/k.yml", text));
    return kiln_flow_project_load(p, dir, &err) || (*p)->ndags != 1;
}

TEST(flow, idempotency_key_covers_definition_interval_not_policy)
{
    const char *base = "tasks: {t: {type: command, command: [echo, a], retries: 1}}\n";
    const char *policy =
        "tasks: {t: {type: command, command: [echo, a], retries: 5, timeout: 1m, priority_weight: 9}}\n";
    const char *argv = "tasks: {t: {type: command, command: [echo, b], retries: 1}}\n";
    const char *envd = "tasks: {t: {type: command, command: [echo, a], env: {A: '1'}}}\n";
    const char *texts[] = {base, policy, argv, envd};
    char keys[4][65], defs[4][65];
    kiln_err err = {0};
    for (int i = 0; i < 4; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "p%d", i);
        char *dir = kiln_sprintf("%s/%s", kt_tmpdir(), sub);
        mkdir(dir, 0755);
        kiln_flow_project *p = NULL;
        CHECK_MSG(load_one(&p, dir, texts[i]) == 0, "load %d", i);
        CHECK_OK(kiln_flow_task_key(p->dags[0], 0, 86400, 2 * 86400, keys[i], defs[i], &err), &err);
        if (i == 0) {
            char other[65], od[65];
            CHECK_OK(kiln_flow_task_key(p->dags[0], 0, 2 * 86400, 3 * 86400, other, od, &err), &err);
            CHECK(strcmp(other, keys[0]) != 0); /* another interval */
            CHECK_STR(od, defs[0]);
        }
        kiln_flow_project_free(p);
        kiln_free(dir);
    }
    CHECK_STR(keys[0], keys[1]);          /* retries, timeout, priority: same key */
    CHECK(strcmp(keys[0], keys[2]) != 0); /* argv changed */
    CHECK(strcmp(keys[0], keys[3]) != 0); /* env changed */
    CHECK_EQ_INT(strlen(keys[0]), 64);
}

TEST(flow, render_uses_the_models_jinja)
{
    kiln_err err = {0};
    char *out = NULL;
    kiln_flow_render_ctx ctx = {0};
    kiln_flow_render_ctx_init(&ctx, NULL, 1704153600, 1704153600, 1704240000, "manual__x", 2);
    CHECK_OK(kiln_flow_render(&out, "plain {text}", &ctx, &err), &err);
    CHECK_STR(out, "plain {text}");
    kiln_free(out);
    CHECK_STR(ctx.ds, "2024-01-02");
    CHECK_STR(ctx.ds_nodash, "20240102");
    CHECK_STR(ctx.ts, "2024-01-02T00:00:00+00:00");
    CHECK_STR(ctx.ts_nodash, "20240102T000000");
    CHECK_STR(ctx.logical_date, "2024-01-02T00:00:00Z");
    CHECK_STR(ctx.data_interval_end, "2024-01-03T00:00:00Z");
    CHECK_STR(ctx.run_id, "manual__x");
    CHECK_EQ_INT(ctx.try_number, 2);
    ctx.task_id = "load";
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_flow_render_vars_json(&ctx, &b, &err), &err);
    CHECK_STR(
        b.data,
        "{\"ds\":\"2024-01-02\",\"ds_nodash\":\"20240102\",\"ts\":\"2024-01-02T00:00:00+00:00\","
        "\"ts_nodash\":\"20240102T000000\",\"logical_date\":\"2024-01-02T00:00:00Z\","
        "\"data_interval_start\":\"2024-01-02T00:00:00Z\",\"data_interval_end\":\"2024-01-03T00:00:00Z\","
        "\"run_id\":\"manual__x\",\"branch\":\"main\",\"params\":{},\"task\":{\"try_number\":2,\"task_id\":\"load\"},"
        "\"dag\":{}}");
    kiln_buf_free(&b);
    /* Jinja proper: filters, expressions, statements */
    CHECK_OK(kiln_flow_render(&out,
                              "d={{ ds }} n={{ ds_nodash }} t={{ task.task_id | upper }} "
                              "{% if task.try_number > 1 %}retry{% endif %} {{ ds[:4] }}",
                              &ctx, &err),
             &err);
    CHECK_STR(out, "d=2024-01-02 n=20240102 t=LOAD retry 2024");
    kiln_free(out);
    /* a comment alone is a template too */
    CHECK_OK(kiln_flow_render(&out, "a{# note #}b", &ctx, &err), &err);
    CHECK_STR(out, "ab");
    kiln_free(out);
    /* errors come from the renderer, with the position in the string */
    ctx.where = "dags/x.yml:3:5";
    CHECK(kiln_flow_render(&out, "{{ ds | no_such_filter }}", &ctx, &err) != 0);
    CHECK(out == NULL);
    CHECK(strstr(err.msg, "dags/x.yml:3:5") != NULL);
    CHECK(strstr(err.msg, "no_such_filter") != NULL);
}

static int wait_exit(kiln_flow_proc *pr, int *code, int *signo)
{
    kiln_err err = {0};
    for (int i = 0; i < 200; i++) {
        struct pollfd pfd = {.fd = pr->wait_fd, .events = POLLIN};
        poll(&pfd, 1, 100);
        int done = 0;
        if (kiln_flow_local_executor.poll(&kiln_flow_local_executor, pr, &done, code, signo, &err) != 0)
            return -1;
        if (done)
            return 0;
    }
    return -1;
}

TEST(flow, local_executor_exit_log_env_kill)
{
    const char *dir = kt_tmpdir();
    kiln_err err = {0};
    char *log = kiln_sprintf("%s/try.log", dir);
    char *argv[] = {"sh", "-c", "echo out $KT_VAR; pwd; echo err >&2; exit 3", NULL};
    char *env[] = {"KT_VAR=value", NULL};
    kiln_flow_spawn sp = {.argv = argv, .env_extra = env, .cwd = dir, .log_path = log, .lock_fd = -1};
    kiln_flow_proc pr;
    CHECK_OK(kiln_flow_local_executor.start(&kiln_flow_local_executor, &sp, &pr, &err), &err);
    int code = -1, signo = -1;
    CHECK_EQ_INT(wait_exit(&pr, &code, &signo), 0);
    CHECK_EQ_INT(code, 3);
    CHECK_EQ_INT(signo, 0);
    size_t n;
    char *text = kt_read_file(log, &n);
    CHECK(text && strstr(text, "out value\n") && strstr(text, "err\n") && strstr(text, dir));
    free(text);
    /* kill reaches the whole process group */
    char *argv2[] = {"sh", "-c", "sleep 30 & sleep 30", NULL};
    sp.argv = argv2;
    CHECK_OK(kiln_flow_local_executor.start(&kiln_flow_local_executor, &sp, &pr, &err), &err);
    int pgid = pr.pid;
    CHECK_OK(kiln_flow_local_executor.kill(&kiln_flow_local_executor, &pr, SIGKILL), NULL);
    CHECK_EQ_INT(wait_exit(&pr, &code, &signo), 0);
    CHECK_EQ_INT(signo, SIGKILL);
    CHECK_EQ_INT(code, 128 + SIGKILL);
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = kill(-pgid, 0) != 0;
        if (!gone)
            poll(NULL, 0, 20);
    }
    CHECK_MSG(gone, "process group %d survived", pgid);
    /* a program that does not exist: an error naming it, and a log line */
    char *argv3[] = {"/no/such/prog", NULL};
    sp.argv = argv3;
    CHECK(kiln_flow_local_executor.start(&kiln_flow_local_executor, &sp, &pr, &err) != 0);
    CHECK(strstr(err.msg, "/no/such/prog") != NULL);
    kiln_free(log);
}

TEST(flow, task_instance_lock_lives_with_the_task)
{
    const char *dir = kt_tmpdir();
    kiln_err err = {0};
    kiln_flow_project p = {0};
    p.dir = (char *)dir;
    p.state_dir = kiln_sprintf("%s/.kiln", dir);
    const char *ld = "2024-01-01T00:00:00Z";
    int fd = -1, fd2 = -1, fd3 = -1;
    /* the first take makes .kiln/logs/d/.locks */
    CHECK_EQ_INT(kiln_flow__ti_lock(&p, "d", "a", ld, &fd, &err), 0);
    CHECK(fd >= 0);
    /* held: another take fails, even from this process */
    CHECK_EQ_INT(kiln_flow__ti_lock(&p, "d", "a", ld, &fd2, &err), 1);
    CHECK_EQ_INT(fd2, -1);
    /* another task, or another date, is another lock */
    CHECK_EQ_INT(kiln_flow__ti_lock(&p, "d", "b", ld, &fd2, &err), 0);
    CHECK_EQ_INT(kiln_flow__ti_lock(&p, "d", "a", "2024-01-02T00:00:00Z", &fd3, &err), 0);
    close(fd2);
    close(fd3);
    /* a task given the lock as fd 3 keeps it after the runner lets go; the
     * log goes into a run folder the executor makes */
    char *log = kiln_sprintf("%s/.kiln/logs/d/%s/a.try-1.log", dir, ld);
    char *argv[] = {"sleep", "30", NULL};
    kiln_flow_spawn sp = {.argv = argv, .cwd = dir, .log_path = log, .lock_fd = fd};
    kiln_flow_proc pr;
    CHECK_OK(kiln_flow_local_executor.start(&kiln_flow_local_executor, &sp, &pr, &err), &err);
    close(fd);
    struct stat sb;
    CHECK_EQ_INT(stat(log, &sb), 0);
    CHECK_EQ_INT(kiln_flow__ti_lock(&p, "d", "a", ld, &fd2, &err), 1);
    CHECK_OK(kiln_flow_local_executor.kill(&kiln_flow_local_executor, &pr, SIGKILL), NULL);
    int code = -1, signo = -1;
    CHECK_EQ_INT(wait_exit(&pr, &code, &signo), 0);
    CHECK_EQ_INT(signo, SIGKILL);
    /* the task is gone: the lock is free */
    CHECK_EQ_INT(kiln_flow__ti_lock(&p, "d", "a", ld, &fd2, &err), 0);
    close(fd2);
    kiln_free(log);
    kiln_free(p.state_dir);
}
