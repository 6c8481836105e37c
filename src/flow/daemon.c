/*
 * daemon.c - `kiln scheduler`: turns schedules into runs.
 *
 * DESIGN
 * - For each unpaused DAG with a schedule, the runs due now are: the
 *   latest complete data interval (its end has passed), or with catchup
 *   every interval since start_date; an interval is due when it has no run
 *   yet, or its run is `queued` (cleared, or drained) or `running` without
 *   one of our runners (its runner died). Failed runs are not retried (as
 *   Airflow); `kiln dags backfill --rerun failed` does that.
 * - Each due run gets a runner: a forked child that calls kiln_flow_run
 *   (the same scheduler core as `kiln dags run`), in its own process
 *   group, with its output in .kiln/logs/DAG/runs/LOGICAL_DATE.log. At
 *   most max_active_runs runners per DAG.
 * - The daemon sleeps in poll() on the runners' pidfds and an inotify
 *   descriptor (dags/ and .kiln/wake, which `kiln dags pause|unpause`
 *   writes), with the next interval end of any DAG as the timeout: it wakes
 *   when a runner exits, a DAG file changes or an interval completes, and
 *   re-plans only then. DAG files are re-read only when inotify says one
 *   changed.
 * - The store is opened only while planning and closed before forking, so
 *   no SQLite connection crosses a fork.
 * - SIGTERM/SIGINT: drain (SIGUSR1 to the runners: no new tasks, running
 *   tries finish or hit their timeout; unfinished runs go back to queued);
 *   a second signal sends SIGTERM to the runners (their tasks are stopped).
 */
#include "flow_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

typedef struct runner {
    char *dag;
    char lds[32];
    int pid, pidfd;
} runner;

typedef struct daemon_st {
    const char *dir;
    const kiln_flow_sched_opts *o;
    kiln_flow_project *p;
    KILN_VEC(runner) runners;
    int64_t next_due;     /* earliest interval end still to come, any DAG (0 = none) */
    int64_t asset_due_ms; /* next look at the assets of asset-scheduled DAGs (0 = none) */
    int inot, wd_dags, wd_state;
    kiln_err *err;
} daemon_st;

static volatile sig_atomic_t g_term;
static void on_term(int sig)
{
    (void)sig;
    g_term++;
}

static void note(daemon_st *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(daemon_st *d, const char *fmt, ...)
{
    if (!d->o->progress)
        return;
    char now[40];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    va_list ap;
    va_start(ap, fmt);
    fprintf(d->o->progress, "%s scheduler: ", now);
    vfprintf(d->o->progress, fmt, ap);
    fputc('\n', d->o->progress);
    fflush(d->o->progress);
    va_end(ap);
}

int kiln_flow_dag_pause(kiln_flow_project *p, const char *dag, int paused, kiln_err *err)
{
    const kiln_flow_dag *d;
    kiln_flow_store st = {0};
    int rc;
    if ((rc = kiln_flow_project_need_dag(p, dag, &d, err)) || (rc = kiln_flow__store_open(&st, p->state_dir, err)))
        return rc;
    rc = kiln_flow__x(&st, err, "INSERT OR REPLACE INTO dag_pause(dag, paused) VALUES(?1, ?2)", "si", dag,
                      (int64_t)paused);
    kiln_flow__store_close(&st);
    if (rc)
        return rc;
    /* wake a running scheduler (it watches this file) */
    char *wake = kiln_sprintf("%s/wake", p->state_dir);
    if (!wake)
        return KILN_OOM(err);
    rc = kiln_file_write_atomic(wake, dag, strlen(dag), err);
    kiln_free(wake);
    return rc;
}

static int has_runner(const daemon_st *d, const char *dag, const char *lds)
{
    for (size_t i = 0; i < d->runners.len; i++)
        if (!strcmp(d->runners.items[i].dag, dag) && (!lds || !strcmp(d->runners.items[i].lds, lds)))
            return 1;
    return 0;
}

static size_t runners_of(const daemon_st *d, const char *dag)
{
    size_t n = 0;
    for (size_t i = 0; i < d->runners.len; i++)
        n += !strcmp(d->runners.items[i].dag, dag);
    return n;
}

/* The runner: a child running one DAG run in the foreground. */
static int launch(daemon_st *d, const kiln_flow_dag *dag, int64_t logical)
{
    runner r = {0};
    kiln_flow__ts(logical, r.lds);
    char *log = kiln_sprintf("%s/logs/%s/runs/%s.log", d->p->state_dir, dag->id, r.lds);
    if (!log || !(r.dag = kiln_strdup(dag->id))) {
        kiln_free(log);
        return KILN_OOM(d->err);
    }
    int rc = kiln_flow__mkdirs_for(log, d->err);
    if (rc) {
        kiln_free(log);
        kiln_free(r.dag);
        return rc;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        kiln_free(log);
        kiln_free(r.dag);
        return kiln_err_set(d->err, KILN_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        if (d->inot >= 0)
            close(d->inot);
        for (size_t i = 0; i < d->runners.len; i++)
            close(d->runners.items[i].pidfd);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        kiln_flow_run_opts o = {.dag = dag->id,
                                .start = logical,
                                .end = logical,
                                .run_type = dag->schedule_assets.len ? "asset_triggered" : "scheduled",
                                .progress = stderr};
        kiln_flow_result res;
        kiln_err err = {0};
        int code = 0;
        if (kiln_flow_run(d->p, &o, &res, &err) != 0) {
            fprintf(stderr, "kiln: %s\n", err.msg);
            code = 70;
        } else if (res.drained) {
            code = 75;
        } else if (res.runs_failed) {
            code = 1;
        }
        fflush(NULL);
        _exit(code);
    }
    setpgid(pid, pid); /* also here, so a signal to the group cannot race the child's own call */
    kiln_free(log);
    r.pid = pid;
    r.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (r.pidfd < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        kiln_free(r.dag);
        return kiln_err_set(d->err, KILN_EIO, "pidfd_open: %s (kiln needs Linux 5.3 or later)", strerror(errno));
    }
    fcntl(r.pidfd, F_SETFD, FD_CLOEXEC);
    if (kiln_vec_push(&d->runners, r, d->err)) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(r.pidfd);
        kiln_free(r.dag);
        return KILN_OOM(d->err);
    }
    note(d, "%s %s: run started (runner pid %d)", dag->id, r.lds, pid);
    return 0;
}

/* An asset-scheduled DAG (schedule: [assets], Airflow's datasets): a run
 * when every asset has a new materialization since the DAG's last run
 * (its state differs from the one stored then; the first time a DAG is
 * seen its assets' states are stored without a run, as Airflow only reacts
 * to updates after a DAG exists). The run's logical date is now. */
static int plan_assets(daemon_st *d, kiln_flow_store *st, const kiln_flow_dag *dag, int *launch_now)
{
    kiln_flow_task t;
    memset(&t, 0, sizeof t);
    t.consumes = dag->schedule_assets;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kiln_flow__inputs(d->p->dir, &t, NULL, NULL, &b, d->err), changed = 0, n = 0;
    char now[40];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    *launch_now = 0;
    for (const char *q = b.data; !rc && q && *q; n++) {
        const char *nl = strchr(q, '\n');
        size_t len = nl ? (size_t)(nl - q) : strlen(q);
        const char *asset = dag->schedule_assets.items[n < (int)dag->schedule_assets.len ? n : 0];
        char *state = kiln_strndup(q, len);
        sqlite3_stmt *st_q = NULL;
        if (!state) {
            rc = KILN_OOM(d->err);
            break;
        }
        if (!(rc = kiln_flow__q(st, &st_q, d->err, "SELECT state FROM asset_trigger WHERE dag=?1 AND asset=?2", "ss",
                                dag->id, asset))) {
            int have = sqlite3_step(st_q) == SQLITE_ROW;
            int differs = have && strcmp((const char *)sqlite3_column_text(st_q, 0), state) != 0;
            sqlite3_finalize(st_q);
            if (!have) /* first seen: the baseline */
                rc = kiln_flow__x(st, d->err,
                                  "INSERT INTO asset_trigger(dag, asset, state, seen) VALUES(?1, ?2, ?3, ?4)", "ssss",
                                  dag->id, asset, state, now);
            changed += differs && !strstr(state, " = absent");
        }
        kiln_free(state);
        q += len + (nl ? 1 : 0);
    }
    if (!rc && n && changed == n) {
        /* every asset is new: store what this run is for, then run */
        const char *q = b.data;
        for (int i = 0; !rc && i < n; i++) {
            const char *nl = strchr(q, '\n');
            size_t len = nl ? (size_t)(nl - q) : strlen(q);
            char *state = kiln_strndup(q, len);
            rc = !state
                     ? KILN_OOM(d->err)
                     : kiln_flow__x(st, d->err, "UPDATE asset_trigger SET state=?3, seen=?4 WHERE dag=?1 AND asset=?2",
                                    "ssss", dag->id, dag->schedule_assets.items[i], state, now);
            kiln_free(state);
            q += len + (nl ? 1 : 0);
        }
        *launch_now = !rc;
        if (!rc)
            note(d, "%s: every asset it is scheduled on has a new materialization", dag->id);
    }
    kiln_buf_free(&b);
    return rc;
}

/* Start the due runs of every DAG; set next_due. */
static int plan(daemon_st *d)
{
    kiln_flow_store st = {0};
    int64_t now = kiln_now_micros() / 1000000;
    int rc;
    d->next_due = 0;
    d->asset_due_ms = 0;
    if ((rc = kiln_flow__store_open(&st, d->p->state_dir, d->err)))
        return rc;
    for (size_t i = 0; i < d->p->ndags && !rc; i++) {
        const kiln_flow_dag *dag = d->p->dags[i];
        int64_t ls, le, nd;
        if (dag->schedule_assets.len) {
            d->asset_due_ms = kiln_now_micros() / 1000 + (d->p->asset_poll_ms > 0 ? d->p->asset_poll_ms : 30000);
            sqlite3_stmt *q;
            if ((rc = kiln_flow__q(&st, &q, d->err, "SELECT paused FROM dag_pause WHERE dag=?1", "s", dag->id)))
                break;
            int paused = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0), go = 0;
            sqlite3_finalize(q);
            if (paused || (int)runners_of(d, dag->id) >= dag->max_active_runs)
                continue;
            if ((rc = plan_assets(d, &st, dag, &go)) || !go)
                continue;
            kiln_flow__store_close(&st); /* no connection may cross the fork */
            rc = launch(d, dag, kiln_now_micros() / 1000000);
            if (!rc)
                rc = kiln_flow__store_open(&st, d->p->state_dir, d->err);
            continue;
        }
        if (!dag->has_cron)
            continue;
        if (kiln_cron_next(&dag->cron, now, &nd) == 0 && (!dag->end_date || nd <= dag->end_date) &&
            (!d->next_due || nd < d->next_due))
            d->next_due = nd;
        sqlite3_stmt *q;
        if ((rc = kiln_flow__q(&st, &q, d->err, "SELECT paused FROM dag_pause WHERE dag=?1", "s", dag->id)))
            break;
        int paused = sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0);
        sqlite3_finalize(q);
        if (paused || kiln_cron_last_complete(&dag->cron, now, &ls, &le) != 0 || ls < dag->start_date)
            continue;
        if (dag->end_date && ls > dag->end_date)
            ls = dag->end_date; /* dates are filtered by end_date below */
        int64_t *dates = NULL;
        size_t n = 0;
        if (dag->catchup) {
            if ((rc = kiln_flow__dates(dag, dag->start_date, ls, &dates, &n, d->err)))
                break;
        } else {
            if (!(dates = kiln_malloc(sizeof *dates))) {
                rc = KILN_OOM(d->err);
                break;
            }
            dates[0] = ls;
            n = (!dag->end_date || ls <= dag->end_date) ? 1 : 0;
        }
        /* which of them already have a run that needs nothing from us */
        kiln_map *done = kiln_map_new();
        if (!done) {
            kiln_free(dates);
            rc = KILN_OOM(d->err);
            break;
        }
        if (!(rc = kiln_flow__q(&st, &q, d->err,
                                "SELECT logical_date FROM dag_run WHERE dag=?1 AND state IN ('success', 'failed')", "s",
                                dag->id))) {
            while (!rc && sqlite3_step(q) == SQLITE_ROW) {
                const char *ld = (const char *)sqlite3_column_text(q, 0);
                rc = kiln_map_put(done, ld, strlen(ld), (void *)1, d->err);
            }
            sqlite3_finalize(q);
        }
        size_t active = runners_of(d, dag->id);
        for (size_t k = 0; k < n && !rc && (int)active < dag->max_active_runs; k++) {
            char lds[32];
            kiln_flow__ts(dates[k], lds);
            if (kiln_map_has(done, lds, strlen(lds)) || has_runner(d, dag->id, lds))
                continue;
            /* no connection may cross the fork */
            kiln_flow__store_close(&st);
            rc = launch(d, dag, dates[k]);
            active++;
            if (!rc)
                rc = kiln_flow__store_open(&st, d->p->state_dir, d->err);
        }
        kiln_map_free(done);
        kiln_free(dates);
    }
    kiln_flow__store_close(&st);
    return rc;
}

static int reap(daemon_st *d, size_t i)
{
    runner *r = &d->runners.items[i];
    int status = 0;
    if (waitpid(r->pid, &status, WNOHANG) <= 0)
        return 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    note(d, "%s %s: run %s (runner exit %d)", r->dag, r->lds,
         code == 0    ? "success"
         : code == 1  ? "failed"
         : code == 75 ? "drained (left queued)"
                      : "ended with an error",
         code);
    close(r->pidfd);
    kiln_free(r->dag);
    d->runners.items[i] = d->runners.items[--d->runners.len];
    return 1;
}

static int reload(daemon_st *d)
{
    kiln_flow_project *np = NULL;
    kiln_err e = {0};
    if (kiln_flow_project_load(&np, d->dir, &e) != 0) {
        note(d, "cannot reload the project, keeping the DAGs loaded before: %s", e.msg);
        return 0;
    }
    /* runners are forked copies: they keep the project they started with */
    kiln_flow_project_free(d->p);
    d->p = np;
    note(d, "DAG files changed: %zu DAGs loaded, %zu problems", np->ndags, np->diags.len);
    for (size_t i = 0; i < np->diags.len; i++)
        note(d, "%s", np->diags.items[i]);
    return 0;
}

int kiln_flow_scheduler(const char *project_dir, const kiln_flow_sched_opts *o, kiln_err *err)
{
    daemon_st d = {.dir = project_dir, .o = o, .inot = -1, .err = err};
    struct sigaction sa = {0}, old_int, old_term, old_pipe;
    struct pollfd *fds = NULL;
    int rc;
    if ((rc = kiln_flow_project_load(&d.p, project_dir, err)))
        return rc;
    for (size_t i = 0; i < d.p->diags.len; i++)
        note(&d, "%s", d.p->diags.items[i]);
    if ((rc = kiln_mkdirs(d.p->state_dir, err)))
        goto done;
    if (!o->once) {
        d.inot = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        char *dags = kiln_sprintf("%s/dags", d.p->dir);
        if (d.inot < 0 || !dags ||
            (d.wd_dags = inotify_add_watch(d.inot, dags,
                                           IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM)) < 0 ||
            (d.wd_state = inotify_add_watch(d.inot, d.p->state_dir, IN_CLOSE_WRITE | IN_MOVED_TO)) < 0) {
            rc = kiln_err_set(err, KILN_EIO, "inotify on %s: %s", dags ? dags : "dags", strerror(errno));
            kiln_free(dags);
            goto done;
        }
        kiln_free(dags);
    }
    g_term = 0;
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    note(&d, "%zu DAGs, watching %s/dags", d.p->ndags, d.p->dir);
    int draining = 0, replan = 1;
    for (;;) {
        if (g_term && !draining) {
            draining = 1;
            note(&d, "draining: %zu runs finish their running tasks, start no new ones", d.runners.len);
            for (size_t i = 0; i < d.runners.len; i++)
                kill(d.runners.items[i].pid, SIGUSR1);
        }
        if (g_term >= 2 && draining == 1) {
            draining = 2;
            note(&d, "stopping: SIGTERM to %zu runs", d.runners.len);
            for (size_t i = 0; i < d.runners.len; i++)
                kill(d.runners.items[i].pid, SIGTERM);
        }
        if (replan && !draining && (rc = plan(&d)))
            break;
        replan = 0;
        if ((draining || o->once) && d.runners.len == 0)
            break;
        size_t n = 0;
        kiln_free(fds);
        fds = kiln_malloc((d.runners.len + 1) * sizeof *fds);
        if (!fds) {
            rc = KILN_OOM(err);
            break;
        }
        for (size_t i = 0; i < d.runners.len; i++)
            fds[n++] = (struct pollfd){.fd = d.runners.items[i].pidfd, .events = POLLIN};
        if (d.inot >= 0)
            fds[n++] = (struct pollfd){.fd = d.inot, .events = POLLIN};
        int timeout = -1;
        if (!o->once && !draining && d.next_due) {
            int64_t w = (d.next_due - kiln_now_micros() / 1000000) * 1000 + 50;
            /* the wall clock can jump: look again at least every 5 minutes */
            timeout = w < 0 ? 0 : w > 300000 ? 300000 : (int)w;
        }
        if (!o->once && !draining && d.asset_due_ms) { /* asset-scheduled DAGs: look at their assets */
            int64_t w = d.asset_due_ms - kiln_now_micros() / 1000;
            if (w < 0)
                w = 0;
            if (timeout < 0 || w < timeout)
                timeout = (int)w;
        }
        int pr = poll(fds, n, timeout);
        if (pr < 0 && errno != EINTR) {
            rc = kiln_err_set(err, KILN_EIO, "poll: %s", strerror(errno));
            break;
        }
        if (pr <= 0) {
            replan = pr == 0; /* an interval ended */
            continue;
        }
        for (size_t i = d.runners.len; i-- > 0;)
            if (reap(&d, i))
                replan = 1;
        if (d.inot >= 0 && n && fds[n - 1].fd == d.inot && fds[n - 1].revents) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            int dag_change = 0, wake = 0;
            ssize_t len;
            while ((len = read(d.inot, buf, sizeof buf)) > 0)
                for (char *q = buf; q < buf + len;) {
                    struct inotify_event *ev = (struct inotify_event *)q;
                    const char *name = ev->len ? ev->name : "";
                    size_t nl = strlen(name);
                    /* .kiln/ also sees the store's own files close (ours
                     * too): only the wake file counts there */
                    if (ev->wd == d.wd_state)
                        wake |= !strcmp(name, "wake");
                    else if ((nl > 4 && !strcmp(name + nl - 4, ".yml")) || (nl > 5 && !strcmp(name + nl - 5, ".yaml")))
                        dag_change = 1;
                    q += sizeof *ev + ev->len;
                }
            if (dag_change && (rc = reload(&d)))
                break;
            replan |= dag_change || wake; /* a DAG file, or .kiln/wake (pause/unpause) */
        }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (!rc)
        note(&d, "stopped");
done:
    for (size_t i = 0; i < d.runners.len; i++) { /* only after an error */
        kill(d.runners.items[i].pid, SIGTERM);
        waitpid(d.runners.items[i].pid, NULL, 0);
        close(d.runners.items[i].pidfd);
        kiln_free(d.runners.items[i].dag);
    }
    kiln_vec_free(&d.runners);
    kiln_free(fds);
    if (d.inot >= 0)
        close(d.inot);
    kiln_flow_project_free(d.p);
    return rc;
}
