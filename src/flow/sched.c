/*
 * sched.c - the scheduler core: runs one DAG for a list of logical dates
 * (`kiln dags run`, `kiln dags backfill`, `kiln tasks run`) in the
 * foreground until every run has finished.
 *
 * DESIGN
 * - Event-driven readiness. Each task instance (TI) keeps counters of its
 *   upstreams' outcomes (done, succeeded, failed, skipped). When a TI
 *   finishes, only its downstream TIs are updated and their trigger rule
 *   evaluated; nothing rescans all TIs.
 * - A ready heap orders runnable TIs by priority_weight, then logical date,
 *   then file order. Slots: global parallelism (kiln.yml), the DAG's
 *   max_active_tasks and pools (pool_slots each).
 * - A timer heap holds retry delays, timeouts, the SIGKILL grace after a
 *   timeout's SIGTERM, lock re-checks and dagrun_timeout. The loop sleeps
 *   in poll() on the running tries' pidfds with the earliest timer as its
 *   timeout: idle costs no CPU.
 * - Idempotency: before a TI runs, its key (flow.h: kiln_flow_task_key) is
 *   looked up; a key that already succeeded makes the TI a success without
 *   running anything, recorded with a note saying so.
 * - Restart safety: a TI is started only under its lock (an open file
 *   description lock on a byte of the DAG's lock file, store.c;
 *   inherited by the task as fd 3). A TI the store says is running whose
 *   lock we can take belongs to a dead runner and a finished process: that
 *   try is marked failed and the TI runs again under the current policy. A
 *   TI whose lock is held (an orphaned task still running, or another
 *   runner) is re-checked every 200 ms until the lock is free.
 */
#include "flow_int.h"
#include "lake/lake.h"
#include "models/models.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    S_PENDING,
    S_READY,
    S_RUNNING,
    S_RETRY_WAIT,
    S_LOCK_WAIT,
    S_RESCHEDULE,
    S_SUCCESS,
    S_FAILED,
    S_UPSTREAM_FAILED,
    S_SKIPPED,
    S_OUT /* terminal from S_SUCCESS on */
};
static const char *const state_names[] = {
    "none",    "scheduled", "running",         "up_for_retry", "queued", "up_for_reschedule",
    "success", "failed",    "upstream_failed", "skipped",      "none"};
#define TERMINAL(s) ((s) >= S_SUCCESS)

enum { T_RETRY, T_TIMEOUT, T_KILL, T_LOCK, T_RUN_TIMEOUT, T_POKE, T_SLA };

typedef struct run run;
typedef struct ti ti;
struct ti {
    run *r;
    size_t task;
    int state;
    size_t up_done, up_succ, up_fail, up_skip;
    int attempts;   /* tries started in this invocation */
    int try_number; /* the try being run (global across invocations) */
    kiln_flow_proc proc;
    int lock_fd;
    int timed_out;
    int64_t try_start_ms;
    uint32_t gen;
    char key[65], def_hash[65];
    char base_key[65]; /* the key without the consumed assets' state (key = base_key when none) */
    char *inputs;      /* consumes: the assets' state the key covers ("ASSET = STATE\n"...), or NULL */
    char ol_run[37];   /* OpenLineage runId of the current try */
    int64_t ready_ms;  /* when it last became ready (queue wait = start - this) */
    int sensing;       /* a sensor try is going on (pokes left) */
    int soft_timeout;  /* the sensor timed out with soft_fail: skipped, not failed */
    int pokes;
    int64_t sensor_start_ms;
    long live_off;              /* live_log: bytes of the current try's log copied so far */
    ti *dop_waiters, *dop_next; /* depends_on_past: TIs of the next run waiting on this one */
    int dop_waiting;            /* on the previous run's instance's waiter list */
};
struct run {
    size_t idx;
    int64_t logical, istart, iend;
    char lds[32], run_id[64];
    ti *tis;
    size_t nterminal, nparticipating;
    int active, finished, timed_out;
};

typedef struct hent {
    int64_t k1, k2;
    ti *t;
    run *r;
    uint32_t gen;
    int kind;
} hent;
typedef struct heap {
    hent *v;
    size_t n, alloc;
} heap;

typedef struct sched {
    kiln_flow_project *p;
    const kiln_flow_dag *d;
    const kiln_flow_run_opts *o;
    kiln_flow_result *res;
    kiln_flow_store st;
    kiln_flow_executor *ex;
    run *runs;
    size_t nruns, next_run, nactive, nfinished;
    int max_active_runs;
    heap ready, timers;
    int64_t timer_seq;
    ti **running;
    size_t nrunning;
    size_t nsensing; /* poke-mode sensors: they hold a slot but have no process */
    int *pool_used;  /* per project pool */
    size_t *task_pool;
    int force;      /* tasks run: run even when the key succeeded */
    uint64_t moves; /* state changes so far (the loop repeats while they happen) */
    int in_txn;     /* one write transaction per loop iteration (committed before sleeping) */
    size_t bar_failed;
    double bar_start;
    KILN_VEC(int) unlock_after_commit; /* lock fds of ended tries: closed once their outcome is committed */
    /* metrics.prom: written after the iterations that changed a state, at
     * most once a second (a pending change is written within a second) */
    int metrics_dirty;
    int64_t metrics_last_ms;
    int64_t metrics_gap_ms;               /* wait between writes: 1 s, or 20x the last write's time */
    int64_t metrics_cpu_ms;               /* the runner's CPU time the last write took */
    int64_t metrics_cpu_at;               /* the runner's CPU time (ms) when it ended */
    uint64_t lag_n[KILN_FLOW_LAG_NB + 1]; /* loop lag since the last flush, per bucket */
    double lag_sum_ms;
    kiln_err *err;
} sched;

static volatile sig_atomic_t g_stop, g_drain;
static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}
/* SIGUSR1 (sent by `kiln scheduler` on SIGTERM): drain - start nothing
 * new, let running tries finish (or hit their timeout), then exit. */
static void on_drain(int sig)
{
    (void)sig;
    g_drain = 1;
}

static int64_t now_ms(void) { return (int64_t)(kiln_mono_seconds() * 1000.0); }

/* CPU time (user + system) of this process so far, ms */
static int64_t cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ heaps */

static int hless(const hent *a, const hent *b) { return a->k1 < b->k1 || (a->k1 == b->k1 && a->k2 < b->k2); }

static int heap_push(heap *h, hent e, kiln_err *err)
{
    if (h->n == h->alloc) {
        size_t na = h->alloc ? h->alloc * 2 : 64;
        hent *nv = kiln_realloc(h->v, na * sizeof *nv);
        if (!nv)
            return KILN_OOM(err);
        h->v = nv;
        h->alloc = na;
    }
    size_t i = h->n++;
    while (i > 0 && hless(&e, &h->v[(i - 1) / 2])) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = e;
    return 0;
}

static hent heap_pop(heap *h)
{
    hent top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && hless(&h->v[c + 1], &h->v[c]))
            c++;
        if (!hless(&h->v[c], &last))
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

static int timer_add(sched *s, int64_t at, int kind, ti *t, run *r)
{
    hent e = {.k1 = at, .k2 = s->timer_seq++, .t = t, .r = r, .gen = t ? t->gen : 0, .kind = kind};
    return heap_push(&s->timers, e, s->err);
}

/* ------------------------------------------------------------ progress */

/* The terminal bar: runs done, failed, left and an ETA from the pace so far. */
static void draw_bar(sched *s, int final)
{
    if (!s->o->progress || !s->o->bar)
        return;
    size_t done = s->nfinished, total = s->nruns, width = 30, fill = total ? done * width / total : width;
    char bar[64];
    for (size_t i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double el = kiln_mono_seconds() - s->bar_start;
    char eta[32] = "--:--";
    if (done && done < total) {
        long e = (long)(el / (double)done * (double)(total - done) + 0.5);
        snprintf(eta, sizeof eta, "%02ld:%02ld", e / 60, e % 60);
    } else if (done == total) {
        snprintf(eta, sizeof eta, "done in %.1fs", el);
    }
    fprintf(s->o->progress, "\r\033[K[%s] %zu/%zu runs, %zu failed, %zu left, ETA %s%s", bar, done, total,
            s->bar_failed, total - done, eta, final ? "\n" : "");
    fflush(s->o->progress);
}

__attribute__((format(printf, 3, 4))) static void say(sched *s, const ti *t, const char *fmt, ...)
{
    if (!s->o->progress || s->o->bar)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(s->o->progress, "%s %s: ", t->r->lds, s->d->tasks[t->task].id);
    vfprintf(s->o->progress, fmt, ap);
    fputc('\n', s->o->progress);
    fflush(s->o->progress);
    va_end(ap);
}

/* ------------------------------------------------------------ keys */

int kiln_flow_task_key(const kiln_flow_dag *d, size_t task, int64_t istart, int64_t iend, char out[65],
                       char def_hash[65], kiln_err *err)
{
    return kiln_flow_task_key_branch(d, task, istart, iend, NULL, out, def_hash, err);
}

int kiln_flow_task_key_branch(const kiln_flow_dag *d, size_t task, int64_t istart, int64_t iend, const char *branch,
                              char out[65], char def_hash[65], kiln_err *err)
{
    const kiln_flow_task *t = &d->tasks[task];
    kiln_sha256 h;
    uint8_t dig[32];
    char *r = NULL;
    int rc = 0;
    /* the rendered definition: what decides what the task does (type,
     * argv, env, cwd); retries, timeouts, pools and priorities do not */
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, "def-v1", 7);
    kiln_sha256_update(&h, t->type, strlen(t->type) + 1);
    kiln_flow_render_ctx ctx;
    kiln_flow_render_ctx_init(&ctx, d, istart, istart, iend, "", 0);
    ctx.task_id = t->id;
    ctx.branch = branch;
    const kiln_flow_strv *lists[2] = {&t->argv, &t->env};
    for (int l = 0; l < 2; l++) {
        char n[32];
        snprintf(n, sizeof n, "%zu", lists[l]->len);
        kiln_sha256_update(&h, n, strlen(n) + 1);
        for (size_t i = 0; i < lists[l]->len; i++) {
            if ((rc = kiln_flow_render(&r, lists[l]->items[i], &ctx, err)))
                return rc;
            kiln_sha256_update(&h, r, strlen(r) + 1);
            kiln_free(r);
        }
    }
    char *cwd = NULL;
    if (t->cwd && (rc = kiln_flow_render(&cwd, t->cwd, &ctx, err)))
        return rc;
    kiln_sha256_update(&h, cwd ? cwd : "", (cwd ? strlen(cwd) : 0) + 1);
    if (t->sensor_path) {
        if ((rc = kiln_flow_render(&r, t->sensor_path, &ctx, err))) {
            kiln_free(cwd);
            return rc;
        }
        kiln_sha256_update(&h, r, strlen(r) + 1);
        kiln_free(r);
    }
    /* a library task type's settings (absent for command tasks, whose keys
     * stay what they were) */
    const char *project = NULL;
    char *rproject = NULL;
    int over = kiln_flow__branch_override(t, branch);
    for (size_t i = 0; i < t->opt_keys.len; i++) {
        if (over && !strcmp(t->opt_keys.items[i], "branch"))
            continue; /* replaced by the backfill's */
        if ((rc = kiln_flow_render(&r, t->opt_vals.items[i], &ctx, err))) {
            kiln_free(cwd);
            kiln_free(rproject);
            return rc;
        }
        kiln_sha256_update(&h, "opt", 4);
        kiln_sha256_update(&h, t->opt_keys.items[i], strlen(t->opt_keys.items[i]) + 1);
        kiln_sha256_update(&h, r, strlen(r) + 1);
        if (!strcmp(t->opt_keys.items[i], "project_dir") && !rproject)
            rproject = r;
        else
            kiln_free(r);
    }
    if (over) {
        kiln_sha256_update(&h, "opt", 4);
        kiln_sha256_update(&h, "branch", 7);
        kiln_sha256_update(&h, branch, strlen(branch) + 1);
    } else if (branch) { /* every other task gets KILN_BRANCH: kiln's writers write on the branch */
        kiln_sha256_update(&h, "env-branch", 11);
        kiln_sha256_update(&h, branch, strlen(branch) + 1);
    }
    /* models.build: what the build does is the dbt project's files, so
     * they are part of the definition (a changed model re-runs it) */
    if (!strcmp(t->type, "models.build")) {
        project = rproject ? rproject : ".";
        char *base = !cwd            ? kiln_strdup(d->project_dir)
                     : cwd[0] == '/' ? kiln_strdup(cwd)
                                     : kiln_sprintf("%s/%s", d->project_dir, cwd);
        char *pd = !base ? NULL : project[0] == '/' ? kiln_strdup(project) : kiln_sprintf("%s/%s", base, project);
        if (pd)
            kiln_flow__models_hash(&h, pd);
        kiln_free(base);
        kiln_free(pd);
        if (!pd) {
            kiln_free(cwd);
            kiln_free(rproject);
            return KILN_OOM(err);
        }
    }
    kiln_free(rproject);
    kiln_free(cwd);
    kiln_sha256_final(&h, dig);
    kiln_hex(dig, 32, def_hash);
    char a[32], b[32];
    kiln_flow__ts(istart, a);
    kiln_flow__ts(iend, b);
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, "key-v1", 7);
    const char *parts[] = {d->id, t->id, a, b, def_hash, KILN_VERSION};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        kiln_sha256_update(&h, parts[i], strlen(parts[i]) + 1);
    kiln_sha256_final(&h, dig);
    kiln_hex(dig, 32, out);
    return 0;
}

/* ------------------------------------------------------------ dates */

void kiln_flow__interval(const kiln_flow_dag *d, int64_t t, int64_t *start, int64_t *end)
{
    *start = *end = t;
    if (d->has_cron && kiln_cron_interval_for(&d->cron, t, start, end) != 0)
        *start = *end = t;
}

int kiln_flow__dates(const kiln_flow_dag *d, int64_t start, int64_t end, int64_t **out, size_t *n, kiln_err *err)
{
    KILN_VEC(int64_t) v = {0};
    *out = NULL;
    *n = 0;
    if (!d->has_cron) {
        if (kiln_vec_push(&v, start, err))
            return KILN_OOM(err);
    } else {
        int64_t t = start;
        if (!kiln_cron_matches(&d->cron, t) && kiln_cron_next(&d->cron, t, &t) != 0)
            t = end + 1;
        while (t <= end) {
            if (v.len >= 100000) {
                kiln_vec_free(&v);
                return kiln_err_set(err, KILN_ELIMIT, "more than 100000 runs in the range; split the backfill");
            }
            if ((!d->start_date || t >= d->start_date) && (!d->end_date || t <= d->end_date) &&
                kiln_vec_push(&v, t, err)) {
                kiln_vec_free(&v);
                return KILN_OOM(err);
            }
            if (kiln_cron_next(&d->cron, t, &t) != 0)
                break;
        }
    }
    *out = v.items;
    *n = v.len;
    return 0;
}

/* ------------------------------------------------------------ store writes */

static int store_ti(sched *s, ti *t, const char *note)
{
    s->metrics_dirty = 1;
    char now[40];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    return kiln_flow__x(
               &s->st, s->err,
               "INSERT INTO task_instance(dag, task, logical_date, state, try_number, idem_key, note, started, ended)"
               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, CASE WHEN ?9 THEN ?8 END)"
               " ON CONFLICT(dag, task, logical_date) DO UPDATE SET state = ?4,"
               " try_number = max(try_number, ?5), idem_key = ?6, note = ?7,"
               " started = CASE WHEN ?4 = 'running' THEN ?8 ELSE started END,"
               " ended = CASE WHEN ?9 THEN ?8 ELSE NULL END",
               "ssssisssi", s->d->id, s->d->tasks[t->task].id, t->r->lds, state_names[t->state], (int64_t)t->try_number,
               t->key, note, now, (int64_t)TERMINAL(t->state)) == 0
               ? 0
               : s->err->code;
}

/* ------------------------------------------------------------ state changes */

static int finish_ti(sched *s, ti *t, int state, const char *note);
static void metrics(sched *s);
static int alert(sched *s, ti *t, run *r, const kiln_flow_strv *targets, const char *event, const char *message);

static void pool_release(sched *s, ti *t) { s->pool_used[s->task_pool[t->task]] -= s->d->tasks[t->task].pool_slots; }

/* depends_on_past: 1 ok, 0 wait (registered on the previous TI), -1 not
 * satisfiable (note filled), <-1 error. */
static int dop_check(sched *s, ti *t, char *note, size_t nn)
{
    const kiln_flow_dag *d = s->d;
    int64_t prev;
    if (!d->has_cron || kiln_cron_prev(&d->cron, t->r->logical, &prev) != 0 || (d->start_date && prev < d->start_date))
        return 1;
    run *r = t->r;
    if (r->idx > 0 && s->runs[r->idx - 1].logical == prev) {
        ti *pt = &s->runs[r->idx - 1].tis[t->task];
        if (pt->state == S_OUT)
            goto from_store;
        if (!TERMINAL(pt->state)) {
            t->dop_next = pt->dop_waiters;
            pt->dop_waiters = t;
            t->dop_waiting = 1;
            return 0;
        }
        if (pt->state == S_SUCCESS || pt->state == S_SKIPPED)
            return 1;
        snprintf(note, nn, "depends_on_past: the previous run's instance (%s) is %s", pt->r->lds,
                 state_names[pt->state]);
        return -1;
    }
from_store:;
    char pl[32];
    kiln_flow__ts(prev, pl);
    sqlite3_stmt *st;
    if (kiln_flow__q(&s->st, &st, s->err,
                     "SELECT state FROM task_instance WHERE dag=?1 AND task=?2 AND logical_date=?3", "sss", d->id,
                     d->tasks[t->task].id, pl))
        return s->err->code;
    int ok = -1;
    char stname[32] = "never run";
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(stname, sizeof stname, "%s", (const char *)sqlite3_column_text(st, 0));
        ok = !strcmp(stname, "success") || !strcmp(stname, "skipped") ? 1 : -1;
    }
    sqlite3_finalize(st);
    if (ok < 0)
        snprintf(note, nn, "depends_on_past: the previous interval's instance (%s) is %s", pl, stname);
    return ok;
}

static int make_ready(sched *s, ti *t)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    t->state = S_READY;
    t->ready_ms = now_ms();
    hent e = {
        .k1 = -(int64_t)k->priority_weight, .k2 = (int64_t)(t->r->idx * s->d->ntasks + t->task), .t = t, .gen = t->gen};
    return heap_push(&s->ready, e, s->err);
}

/* The trigger rule says run: check depends_on_past, then queue. */
static int want_run(sched *s, ti *t)
{
    if (t->r->timed_out)
        return finish_ti(s, t, S_SKIPPED, "dagrun_timeout passed");
    if (s->d->tasks[t->task].depends_on_past && !s->o->only_task) {
        char note[256];
        int ok = dop_check(s, t, note, sizeof note);
        if (ok < -1)
            return ok;
        if (ok == 0)
            return 0;
        if (ok < 0) {
            say(s, t, "upstream_failed (%s)", note);
            return finish_ti(s, t, S_UPSTREAM_FAILED, note);
        }
    }
    return make_ready(s, t);
}

/* Evaluate t's trigger rule after an upstream change. */
static int evaluate(sched *s, ti *t)
{
    /* one_success/one_failed decide before every upstream is done: a TI
     * already waiting for depends_on_past must not be queued twice */
    if (t->state != S_PENDING || t->dop_waiting)
        return 0;
    const kiln_flow_task *k = &s->d->tasks[t->task];
    size_t total = k->nup, done = t->up_done, succ = t->up_succ, fail = t->up_fail, skip = t->up_skip;
    int all = done == total;
    enum { WAIT, RUN, SKIP, UPFAIL } v = WAIT;
    if (total == 0 || k->trigger == KILN_TR_ALWAYS || s->o->only_task)
        v = RUN;
    else
        switch (k->trigger) {
        case KILN_TR_ALL_SUCCESS: v = fail ? UPFAIL : skip ? SKIP : all ? RUN : WAIT; break;
        case KILN_TR_ALL_FAILED: v = succ || skip ? SKIP : all ? RUN : WAIT; break;
        case KILN_TR_ALL_DONE: v = all ? RUN : WAIT; break;
        case KILN_TR_ONE_SUCCESS: v = succ ? RUN : !all ? WAIT : skip == total ? SKIP : UPFAIL; break;
        case KILN_TR_ONE_FAILED: v = fail ? RUN : all ? SKIP : WAIT; break;
        case KILN_TR_NONE_FAILED: v = fail ? UPFAIL : all ? RUN : WAIT; break;
        case KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS: v = fail ? UPFAIL : !all ? WAIT : succ ? RUN : SKIP; break;
        case KILN_TR_ALWAYS: v = RUN; break;
        }
    char note[160];
    switch (v) {
    case WAIT: return 0;
    case RUN: return want_run(s, t);
    case SKIP:
        snprintf(note, sizeof note, "trigger rule %s: upstream outcome says skip", kiln_flow_trigger_name(k->trigger));
        say(s, t, "skipped (%s)", note);
        return finish_ti(s, t, S_SKIPPED, note);
    default:
        snprintf(note, sizeof note, "trigger rule %s: an upstream failed", kiln_flow_trigger_name(k->trigger));
        say(s, t, "upstream_failed (%s)", note);
        return finish_ti(s, t, S_UPSTREAM_FAILED, note);
    }
}

static int finish_run(sched *s, run *r)
{
    r->finished = 1;
    s->nfinished++;
    s->nactive--;
    if (s->o->only_task)
        return 0;
    /* Airflow's rule: the run failed when a leaf failed or was upstream_failed */
    int failed = r->timed_out;
    for (size_t i = 0; i < s->d->ntasks; i++)
        if (s->d->tasks[i].ndown == 0 && (r->tis[i].state == S_FAILED || r->tis[i].state == S_UPSTREAM_FAILED))
            failed = 1;
    if (failed)
        s->res->runs_failed++;
    else
        s->res->runs_success++;
    if (failed)
        s->bar_failed++;
    if (s->o->progress && s->o->bar) {
        if (failed)
            fprintf(s->o->progress, "\r\033[K%s: run %s failed (kiln runs %s)\n", r->lds, r->run_id, s->d->id);
        draw_bar(s, 0);
    } else if (s->o->progress) {
        fprintf(s->o->progress, "%s: run %s %s\n", r->lds, r->run_id, failed ? "failed" : "success");
    }
    if (!failed) {
        int rc = alert(s, NULL, r, &s->d->on_success, "success", NULL);
        if (rc)
            return rc;
    }
    char now[40];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    int rc = kiln_flow__x(&s->st, s->err, "UPDATE dag_run SET state=?1, ended=?2 WHERE dag=?3 AND logical_date=?4",
                          "ssss", failed ? "failed" : "success", now, s->d->id, r->lds);
    kiln_failpoint("flow.run.finished");
    s->metrics_dirty = 1; /* written within a second (and when the runner ends) */
    return rc;
}

/* Alerts for t (never for `kiln tasks run`, local development). A
 * delivery that cannot even be handed off is reported, not fatal. */
static int alert(sched *s, ti *t, run *r, const kiln_flow_strv *targets, const char *event, const char *message)
{
    if (!targets->len || s->o->only_task)
        return 0;
    char *log = t ? kiln_flow__log_path(s->p, s->d->id, s->d->tasks[t->task].id, r->lds, t->try_number) : NULL;
    kiln_flow_alert_event ev = {.event = event,
                                .dag = s->d->id,
                                .task = t ? s->d->tasks[t->task].id : NULL,
                                .logical_date = r->lds,
                                .run_id = r->run_id,
                                .message = message,
                                .log_path = log,
                                .try_number = t ? t->try_number : 0};
    kiln_err e = {0};
    int rc = 0;
    if (kiln_flow__alert_fire(s->p, targets, &ev, &e) != 0 && s->o->progress)
        fprintf(s->o->progress, "%s: alert '%s' not sent: %s\n", r->lds, event, e.msg);
    if (t && !strcmp(event, "failure"))
        rc = kiln_flow__x(&s->st, s->err,
                          "INSERT OR REPLACE INTO alert_open(dag, task, logical_date, raised) VALUES(?1, ?2, ?3,"
                          " strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                          "sss", s->d->id, ev.task, r->lds);
    kiln_free(log);
    return rc;
}

/* t succeeded: resolve its open failure alert, if any (PagerDuty). */
static int alert_resolve(sched *s, ti *t)
{
    if (!s->d->on_failure.len || s->o->only_task)
        return 0;
    const char *task = s->d->tasks[t->task].id;
    int rc = kiln_flow__x(&s->st, s->err, "DELETE FROM alert_open WHERE dag=?1 AND task=?2 AND logical_date=?3", "sss",
                          s->d->id, task, t->r->lds);
    if (rc || sqlite3_changes(s->st.db) == 0)
        return rc;
    return alert(s, t, t->r, &s->d->on_failure, "resolve", NULL);
}

/* metrics.prom is a by-product: a failure to write it is reported only.
 * This runner's loop lag since the last write and its queue depth go to
 * the store first (the file is computed from the store). */
static void metrics(sched *s)
{
    int64_t t0 = now_ms(), c0 = cpu_ms();
    kiln_err e = {0};
    size_t depth = 0;
    for (size_t i = 0; i < s->ready.n; i++)
        depth += s->ready.v[i].t && s->ready.v[i].t->state == S_READY && s->ready.v[i].gen == s->ready.v[i].t->gen;
    int rc = kiln_flow__metrics_note(&s->st, s->d->id, s->nfinished == s->nruns ? 0 : (int64_t)depth, s->lag_n,
                                     s->lag_sum_ms, &e);
    if (!rc) {
        memset(s->lag_n, 0, sizeof s->lag_n);
        s->lag_sum_ms = 0;
        rc = kiln_flow__metrics_write(&s->st, s->p, &e);
    }
    if (rc && s->o->progress)
        fprintf(s->o->progress, "metrics.prom not written: %s\n", e.msg);
    s->metrics_dirty = 0;
    int64_t end = now_ms();
    /* the file is computed from the whole store: on a big store, write it
     * less often so that it stays under ~5% of the runner's time */
    s->metrics_gap_ms = 20 * (end - t0) > 1000 ? 20 * (end - t0) : 1000;
    s->metrics_last_ms = end;
    s->metrics_cpu_at = cpu_ms();
    s->metrics_cpu_ms = s->metrics_cpu_at - c0;
}

/* Whether the pending metrics.prom write is due now; else lowers *timeout
 * to when it is. At most once per metrics_gap_ms of wall time; and a write
 * that costs more than 10 ms of CPU (a big store: the file is computed
 * from all of it) waits until the runner has spent 20 times that on its
 * own work (so it stays under ~5% of the runner's CPU when tasks are
 * short), or at most a minute. */
static int metrics_due(sched *s, int *timeout)
{
    int64_t now = now_ms(), since = now - s->metrics_last_ms;
    int64_t wait = (s->metrics_gap_ms ? s->metrics_gap_ms : 1000) - since;
    if (wait <= 0) {
        if (s->metrics_cpu_ms <= 10 || since >= 60000 || cpu_ms() - s->metrics_cpu_at >= 20 * s->metrics_cpu_ms)
            return 1;
        wait = 60000 - since;
    }
    if (*timeout < 0 || *timeout > wait)
        *timeout = (int)wait;
    return 0;
}

/* t reached a terminal state: record, tell downstream and waiters. */
static int finish_ti(sched *s, ti *t, int state, const char *note)
{
    int rc;
    t->state = state;
    t->gen++;
    s->moves++;
    if ((rc = store_ti(s, t, note)))
        return rc;
    if (state == S_FAILED && (rc = alert(s, t, t->r, &s->d->on_failure, "failure", note)))
        return rc;
    if (state == S_SUCCESS && (rc = alert_resolve(s, t)))
        return rc;
    switch (state) {
    case S_SUCCESS: s->res->tasks_success++; break;
    case S_FAILED: s->res->tasks_failed++; break;
    case S_UPSTREAM_FAILED: s->res->tasks_upstream_failed++; break;
    default: s->res->tasks_skipped++; break;
    }
    run *r = t->r;
    const kiln_flow_task *k = &s->d->tasks[t->task];
    if (!s->o->only_task)
        for (size_t i = 0; i < k->ndown; i++) {
            ti *dt = &r->tis[k->down[i]];
            dt->up_done++;
            if (state == S_SUCCESS)
                dt->up_succ++;
            else if (state == S_SKIPPED)
                dt->up_skip++;
            else
                dt->up_fail++;
            if ((rc = evaluate(s, dt)))
                return rc;
        }
    ti *w = t->dop_waiters;
    t->dop_waiters = NULL;
    for (ti *next; w; w = next) {
        next = w->dop_next;
        w->dop_waiting = 0;
        if (w->state == S_PENDING && (rc = want_run(s, w)))
            return rc;
    }
    if (++r->nterminal == r->nparticipating)
        return finish_run(s, r);
    return 0;
}

static int64_t retry_delay_ms(const sched *s, const ti *t)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    int64_t d = k->retry_delay_ms;
    if (k->exp_backoff && d > 0) {
        /* Airflow's formula (taskinstance.py next_retry_datetime), in ms:
         * base d*2^(n-1), plus a deterministic jitter in [0, base) from a
         * hash of dag#task#logical_date#try (SHA-256 here, SHA-1 there) */
        double base = ceil((double)d * pow(2.0, (double)(t->attempts - 1)));
        if (base > 86400000.0)
            base = 86400000.0;
        int64_t b = base < 1 ? 1 : (int64_t)base;
        char in[512], hex[65];
        snprintf(in, sizeof in, "%s#%s#%s#%d", s->d->id, k->id, t->r->lds, t->try_number);
        kiln_sha256_hex(in, strlen(in), hex);
        uint64_t h = strtoull((char[17]){hex[0], hex[1], hex[2], hex[3], hex[4], hex[5], hex[6], hex[7], hex[8], hex[9],
                                         hex[10], hex[11], hex[12], hex[13], hex[14], hex[15], 0},
                              NULL, 16);
        d = b + (int64_t)(h % (uint64_t)b);
        if (d > 86400000)
            d = 86400000;
    }
    if (k->max_retry_delay_ms > 0 && d > k->max_retry_delay_ms)
        d = k->max_retry_delay_ms;
    return d;
}

/* OpenLineage event for t's current try; a failure is only reported. */
static void lineage(sched *s, ti *t, const char *type, const char *error_msg)
{
    kiln_err e = {0};
    const kiln_flow_task *k = &s->d->tasks[t->task];
    char *extra = NULL, *lp = NULL;
    /* models.build: the model tables it built, with schema and column
     * lineage facets, left by the try next to its log */
    if ((s->p->lineage_file || s->p->lineage_url) && !strcmp(k->type, "models.build") &&
        (lp = kiln_flow__log_path(s->p, s->d->id, k->id, t->r->lds, t->try_number))) {
        char *path = kiln_sprintf("%s.lineage", lp);
        size_t n = 0;
        kiln_err e2 = {0};
        if (path && !strcmp(type, "COMPLETE") && kiln_file_read(path, (size_t)64 << 20, &extra, &n, &e2) != 0)
            extra = NULL;
        if (path && strcmp(type, "START"))
            unlink(path);
        kiln_free(path);
        kiln_free(lp);
    }
    if (kiln_flow__lineage_emit(s->p, s->d, t->task, t->r->run_id, t->r->istart, t->r->iend, t->ol_run, type, error_msg,
                                extra, &e) != 0)
        say(s, t, "lineage event not written: %s", e.msg);
    kiln_free(extra);
}

/* A try ended: record it (and its key on success) while the task
 * instance's lock is still held, so another runner that takes the lock
 * next sees the outcome. */
/* live_log (kiln tasks run): copy what the try's log gained since the last
 * call. A copy that fails is dropped: the log file keeps everything. */
static void live_copy(sched *s, ti *t)
{
    if (!s->o->live_log || t->try_number <= 0)
        return;
    char *lp = kiln_flow__log_path(s->p, s->d->id, s->d->tasks[t->task].id, t->r->lds, t->try_number);
    FILE *f = lp ? fopen(lp, "rb") : NULL;
    kiln_free(lp);
    if (!f)
        return;
    if (fseek(f, t->live_off, SEEK_SET) == 0) {
        char buf[8192];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
            fwrite(buf, 1, n, s->o->live_log);
            t->live_off += (long)n;
        }
        fflush(s->o->live_log);
    }
    fclose(f);
}

static int try_record(sched *s, ti *t, int exit_code, int signo, const char *why);
static int try_ended(sched *s, ti *t, int exit_code, int signo, const char *why)
{
    live_copy(s, t);
    int fd = t->lock_fd;
    t->lock_fd = -1;
    int rc = try_record(s, t, exit_code, signo, why);
    if (fd >= 0) {
        if (s->in_txn && kiln_vec_push(&s->unlock_after_commit, fd, s->err) == 0)
            return rc; /* released by txn_commit */
        close(fd);
    }
    return rc;
}

/* A library task's result file (KILN_RESULT_FILE: "asset\tsnapshot_id\t
 * partition\trows" lines) into asset_materialization; the file goes. */
static int record_assets(sched *s, ti *t)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    if (!strcmp(k->type, "command") || !strncmp(k->type, "sensor.", 7))
        return 0;
    char *lp = kiln_flow__log_path(s->p, s->d->id, k->id, t->r->lds, t->try_number);
    char *rp = lp ? kiln_sprintf("%s.result", lp) : NULL;
    kiln_free(lp);
    if (!rp)
        return KILN_OOM(s->err);
    FILE *f = fopen(rp, "r");
    int rc = 0;
    char line[1024];
    while (f && !rc && fgets(line, sizeof line, f)) {
        char *fld[4] = {line, NULL, NULL, NULL};
        int n = 1;
        for (char *c = line; *c && n < 4; c++)
            if (*c == '\t') {
                *c = 0;
                fld[n++] = c + 1;
            }
        if (n < 4)
            continue;
        fld[3][strcspn(fld[3], "\n")] = 0;
        long long snap = strtoll(fld[1], NULL, 10), rows = strtoll(fld[3], NULL, 10);
        rc = kiln_flow__x(&s->st, s->err,
                          "INSERT OR REPLACE INTO asset_materialization(dag, task, logical_date, try_number, asset,"
                          " snapshot_id, partition, rows, recorded) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                          "sssisisii", s->d->id, k->id, t->r->lds, (int64_t)t->try_number, fld[0], (int64_t)snap,
                          fld[2], (int64_t)rows, (int64_t)(kiln_now_micros() / 1000000));
    }
    if (f) {
        fclose(f);
        unlink(rp);
    }
    kiln_free(rp);
    return rc;
}

static int try_record(sched *s, ti *t, int exit_code, int signo, const char *why)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    char now[40], note[256];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    int ok = exit_code == 0 && !t->timed_out;
    double secs = (double)(now_ms() - t->try_start_ms) / 1000.0;
    if (t->timed_out == 2)
        snprintf(note, sizeof note, "killed: the run's dagrun_timeout (%.3gs) passed",
                 (double)s->d->dagrun_timeout_ms / 1000.0);
    else if (t->timed_out)
        snprintf(note, sizeof note, "timeout after %.3gs (process group killed)", (double)k->timeout_ms / 1000.0);
    else if (why)
        snprintf(note, sizeof note, "%s", why);
    else if (signo)
        snprintf(note, sizeof note, "killed by signal %d", signo);
    else
        snprintf(note, sizeof note, "exit %d", exit_code);
    if (t->proc.pid > 0 && t->timed_out)
        s->ex->kill(s->ex, &t->proc, SIGKILL); /* what the task left behind */
    for (size_t i = 0; i < s->nrunning; i++)
        if (s->running[i] == t) {
            s->running[i] = s->running[--s->nrunning];
            break;
        }
    pool_release(s, t);
    t->proc.pid = -1;
    int rc = kiln_flow__x(&s->st, s->err,
                          "UPDATE task_try SET state=?1, ended=?2, exit_code=?3, note=?4, duration_ms=?9"
                          " WHERE dag=?5 AND task=?6 AND logical_date=?7 AND try_number=?8",
                          "ssissssii", ok ? "success" : "failed", now, (int64_t)exit_code, ok ? NULL : note, s->d->id,
                          k->id, t->r->lds, (int64_t)t->try_number, (int64_t)(now_ms() - t->try_start_ms));
    if (rc)
        return rc;
    kiln_failpoint("flow.try.recorded");
    /* OpenLineage ABORT: kiln stopped the try (the run's dagrun_timeout, or
     * SIGINT/SIGTERM to the runner); FAIL: the try failed by itself (its
     * exit status, its own timeout, a sensor that gave up) */
    lineage(s, t, ok ? "COMPLETE" : t->timed_out == 2 || (g_stop && why) ? "ABORT" : "FAIL", ok ? NULL : note);
    if (ok) {
        say(s, t, "try %d success (%.2fs)", t->try_number, secs);
        if ((rc = kiln_flow__x(&s->st, s->err,
                               "INSERT OR REPLACE INTO idem_key(key, dag, task, logical_date, def_hash, kiln_version,"
                               " try_number, succeeded_at, inputs) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                               "ssssssiss", t->key, s->d->id, k->id, t->r->lds, t->def_hash, KILN_VERSION,
                               (int64_t)t->try_number, now, t->inputs)))
            return rc;
        kiln_failpoint("flow.idem.recorded");
        if ((rc = record_assets(s, t)))
            return rc;
        kiln_flow__maint_after_task(s->p, k, s->o->branch, kiln_now_micros() / 1000 - (now_ms() - t->try_start_ms),
                                    s->o->progress); /* kiln.yml maintenance.auto: src/flow/maint.c */
        return finish_ti(s, t, S_SUCCESS, NULL);
    }
    if (t->soft_timeout) { /* Airflow's soft_fail: skipped, downstream decides by its trigger rule */
        t->soft_timeout = 0;
        say(s, t, "skipped (%s)", note);
        return finish_ti(s, t, S_SKIPPED, note);
    }
    if (t->attempts <= k->retries && !t->r->timed_out) {
        int64_t delay = retry_delay_ms(s, t);
        say(s, t, "try %d failed (%s), retry %d of %d in %.3gs", t->try_number, note, t->attempts, k->retries,
            (double)delay / 1000.0);
        t->state = S_RETRY_WAIT;
        t->gen++;
        if ((rc = store_ti(s, t, note)) || (rc = alert(s, t, t->r, &s->d->on_retry, "retry", note)))
            return rc;
        return timer_add(s, now_ms() + delay, T_RETRY, t, NULL);
    }
    say(s, t, "try %d failed (%s)", t->try_number, note);
    return finish_ti(s, t, S_FAILED, note);
}

/* ------------------------------------------------------------ starting */

/* Take t's lock and read the store under it: a try left "running" by a
 * dead runner is marked failed; a key that already succeeded finishes t
 * without running it. Returns 1 when t should run (*fd_out holds the
 * lock, *prev_tries_out the tries so far), 0 when it was handled (waiting
 * for the lock, or skipped by its key), <0 on error. */
/* A task that consumes assets: its key covers their state now (a changed
 * input table or file re-runs it; docs/flow.md "Assets"). */
static int final_key(sched *s, ti *t)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    if (!k->consumes.len || !t->base_key[0])
        return 0;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_flow_render_ctx ctx; /* as the key renders: no run id, try 0 */
    kiln_flow_render_ctx_init(&ctx, s->d, t->r->istart, t->r->istart, t->r->iend, "", 0);
    ctx.task_id = k->id;
    ctx.branch = s->o->branch;
    int rc = kiln_flow__inputs(s->p->dir, k, s->o->branch, &ctx, &b, s->err);
    if (!rc && !b.data)
        rc = kiln_buf_putc(&b, 0, s->err);
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    kiln_free(t->inputs);
    t->inputs = kiln_buf_detach(&b, NULL);
    kiln_flow__key_with_inputs(t->base_key, t->inputs, t->key);
    return 0;
}

static int claim_ti(sched *s, ti *t, int *fd_out, int *prev_tries_out)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    sqlite3_stmt *st = NULL;
    int fd = -1;
    int rc = kiln_flow__ti_lock(s->p, s->d->id, k->id, t->r->lds, &fd, s->err);
    if (rc < 0)
        goto done;
    if (rc == 1) {
        if (t->state != S_LOCK_WAIT)
            say(s, t, "another process holds this task instance; waiting for it");
        t->state = S_LOCK_WAIT;
        pool_release(s, t);
        rc = timer_add(s, now_ms() + 200, T_LOCK, t, NULL);
        goto done;
    }
    /* under the lock: what does the store say now? */
    if ((rc = final_key(s, t)))
        goto done;
    if ((rc = kiln_flow__qc(&s->st, &st, s->err,
                            "SELECT ti.state, ti.try_number, k.succeeded_at, k.try_number FROM"
                            " (SELECT ?1 AS dag, ?2 AS task, ?3 AS ld) q"
                            " LEFT JOIN task_instance ti ON ti.dag=q.dag AND ti.task=q.task AND ti.logical_date=q.ld"
                            " LEFT JOIN idem_key k ON k.key=?4",
                            "ssss", s->d->id, k->id, t->r->lds, t->key)))
        goto done;
    int prev_tries = 0, stale = 0;
    char key_at[40] = "";
    int key_try = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *state = (const char *)sqlite3_column_text(st, 0);
        prev_tries = sqlite3_column_int(st, 1);
        stale = state && !strcmp(state, "running");
        if (sqlite3_column_type(st, 2) != SQLITE_NULL) {
            snprintf(key_at, sizeof key_at, "%s", (const char *)sqlite3_column_text(st, 2));
            key_try = sqlite3_column_int(st, 3);
        }
    }
    sqlite3_reset(st);
    st = NULL;
    if (stale) {
        /* we hold the lock, so the process of that try is gone */
        char now[40];
        kiln_flow__ts(kiln_now_micros() / 1000000, now);
        if ((rc = kiln_flow__x(&s->st, s->err,
                               "UPDATE task_try SET state='failed', ended=?1,"
                               " note='the runner died and the process is gone (found at restart)'"
                               " WHERE dag=?2 AND task=?3 AND logical_date=?4 AND state='running'",
                               "ssss", now, s->d->id, k->id, t->r->lds)))
            goto done;
        say(s, t, "try %d was left running by a runner that died; marked failed", prev_tries);
    }
    if (key_at[0] && !s->force) {
        char note[200];
        snprintf(note, sizeof note, "skipped: idempotency key already succeeded at %s (try %d)", key_at, key_try);
        say(s, t, "%s", note);
        s->res->tasks_skipped_by_key++;
        s->res->tasks_success--; /* finish_ti counts it as a success; count it here instead */
        t->try_number = prev_tries;
        pool_release(s, t);
        rc = finish_ti(s, t, S_SUCCESS, note);
        goto done;
    }
    *fd_out = fd;
    fd = -1;
    *prev_tries_out = prev_tries;
    rc = 1;
done:
    if (st)
        sqlite3_reset(st);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Start try prev_tries + 1 of t under its lock fd (owned from here on).
 * Returns 0 or <0 on error; a program that cannot start is a failed try. */
static int spawn_try(sched *s, ti *t, int fd, int prev_tries)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    char *log_path = NULL, *cwd = NULL;
    char **argv = NULL, **env = NULL, **libargv = NULL;
    kiln_flow__libcall *call = NULL;
    int rc = 0;
    t->attempts++;
    t->try_number = prev_tries + 1;
    t->live_off = 0;
    t->timed_out = 0;
    t->gen++;
    /* the executor creates (or truncates: a cleared TI's try numbers
     * continue, but be sure) the log, and the run's log folder if missing */
    if (!(log_path = kiln_flow__log_path(s->p, s->d->id, k->id, t->r->lds, t->try_number))) {
        rc = KILN_OOM(s->err);
        goto done;
    }
    argv = kiln_calloc(k->argv.len + 1, sizeof *argv);
    env = kiln_calloc(k->env.len + 12, sizeof *env);
    if (!argv || !env) {
        rc = KILN_OOM(s->err);
        goto done;
    }
    kiln_flow_render_ctx ctx;
    kiln_flow_render_ctx_init(&ctx, s->d, t->r->logical, t->r->istart, t->r->iend, t->r->run_id, t->try_number);
    ctx.task_id = k->id;
    ctx.branch = s->o->branch;
    /* a template that does not render for this instance (validation
     * rendered it for the first run only) is a failed try, not a failed
     * runner: rerr keeps why */
    kiln_err rerr = {0};
    int bad = 0;
#define RENDER(call_)                                                                                                  \
    do {                                                                                                               \
        if ((call_) != 0) {                                                                                            \
            if (rerr.code == KILN_ENOMEM) {                                                                            \
                rc = kiln_err_set(s->err, KILN_ENOMEM, "%s", rerr.msg);                                                \
                goto done;                                                                                             \
            }                                                                                                          \
            bad = 1;                                                                                                   \
            goto rendered;                                                                                             \
        }                                                                                                              \
    } while (0)
    if (strcmp(k->type, "command")) {
        RENDER(kiln_flow__lib_prepare(k, &ctx, t->r->istart, t->r->iend, &call, &rerr));
        RENDER(kiln_flow__lib_argv(call, &libargv, &rerr));
    }
    for (size_t i = 0; i < k->argv.len; i++)
        RENDER(kiln_flow_render(&argv[i], k->argv.items[i], &ctx, &rerr));
    size_t ne = 0;
    for (; ne < k->env.len; ne++)
        RENDER(kiln_flow_render(&env[ne], k->env.items[ne], &ctx, &rerr));
    /* what a task can read about itself (Airflow sets AIRFLOW_CTX_*) */
    char is[32], ie[32], here[4096] = ".";
    if (log_path[0] != '/' && !getcwd(here, sizeof here))
        snprintf(here, sizeof here, ".");
    kiln_flow__ts(t->r->istart, is);
    kiln_flow__ts(t->r->iend, ie);
    if (!(env[ne++] = kiln_sprintf("KILN_DAG=%s", s->d->id)) || !(env[ne++] = kiln_sprintf("KILN_TASK=%s", k->id)) ||
        !(env[ne++] = kiln_sprintf("KILN_LOGICAL_DATE=%s", t->r->lds)) ||
        !(env[ne++] = kiln_sprintf("KILN_DATA_INTERVAL_START=%s", is)) ||
        !(env[ne++] = kiln_sprintf("KILN_DATA_INTERVAL_END=%s", ie)) ||
        !(env[ne++] = kiln_sprintf("KILN_RUN_ID=%s", t->r->run_id)) ||
        !(env[ne++] = kiln_sprintf("KILN_TRY_NUMBER=%d", t->try_number)) ||
        /* absolute: the task runs in its own cwd (a relative --project-dir) */
        (call && !(env[ne++] = kiln_sprintf("KILN_RESULT_FILE=%s%s%s.result", log_path[0] == '/' ? "" : here,
                                            log_path[0] == '/' ? "" : "/", log_path))) ||
        (s->o->branch && !(env[ne++] = kiln_sprintf("KILN_BRANCH=%s", s->o->branch))) ||
        (call && (s->p->lineage_file || s->p->lineage_url) && !strcmp(k->type, "models.build") &&
         !(env[ne++] = kiln_sprintf("KILN_LINEAGE_FILE=%s.lineage", log_path)))) {
        rc = KILN_OOM(s->err);
        goto done;
    }
    if (k->cwd) {
        char *rc_cwd = NULL;
        RENDER(kiln_flow_render(&rc_cwd, k->cwd, &ctx, &rerr));
        cwd = rc_cwd[0] == '/' ? kiln_strdup(rc_cwd) : kiln_sprintf("%s/%s", s->p->dir, rc_cwd);
        kiln_free(rc_cwd);
        if (!cwd) {
            rc = KILN_OOM(s->err);
            goto done;
        }
    }
#undef RENDER
rendered:;
    kiln_flow_spawn sp = {.argv = call ? libargv : argv,
                          .env_extra = env,
                          .cwd = cwd ? cwd : s->p->dir,
                          .log_path = log_path,
                          .lock_fd = fd,
                          .fn = call ? kiln_flow__lib_main : NULL,
                          .fn_arg = call};
    char now[40];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    kiln_err serr = {0};
    t->try_start_ms = now_ms();
    t->proc.pid = -1;
    t->proc.wait_fd = -1;
    kiln_failpoint("flow.try.spawning");
    int sr;
    if (bad) {
        sr = -1;
        snprintf(serr.msg, sizeof serr.msg, "template: %s", rerr.msg);
        FILE *lf = kiln_flow__mkdirs_for(log_path, &rerr) == 0 ? fopen(log_path, "w") : NULL;
        if (lf) {
            fprintf(lf, "kiln: the task's %s\n", serr.msg);
            fclose(lf);
        }
    } else {
        sr = s->ex->start(s->ex, &sp, &t->proc, &serr);
    }
    kiln_flow__uuid7(t->ol_run);
    lineage(s, t, "START", NULL);
    if ((rc = kiln_flow__x(&s->st, s->err,
                           "INSERT OR REPLACE INTO task_try(dag, task, logical_date, try_number, state, pid, started,"
                           " log_path, idem_key, queue_wait_ms) VALUES(?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9)",
                           "sssiisssi", s->d->id, k->id, t->r->lds, (int64_t)t->try_number, (int64_t)t->proc.pid, now,
                           log_path, t->key, (int64_t)(t->ready_ms ? now_ms() - t->ready_ms : 0))))
        goto done;
    t->state = S_RUNNING;
    t->lock_fd = fd;
    fd = -1;
    s->running[s->nrunning++] = t;
    s->res->tries_started++;
    if ((rc = store_ti(s, t, NULL)))
        goto done;
    if (sr != 0) {
        rc = try_ended(s, t, 127, 0, serr.msg);
        goto done;
    }
    kiln_failpoint("flow.try.spawned");
    say(s, t, "try %d started (pid %d)", t->try_number, t->proc.pid);
    if (k->timeout_ms > 0 && (rc = timer_add(s, t->try_start_ms + k->timeout_ms, T_TIMEOUT, t, NULL)))
        goto done;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (argv)
        for (size_t i = 0; i < k->argv.len; i++)
            kiln_free(argv[i]);
    if (env)
        for (size_t i = 0; env[i]; i++)
            kiln_free(env[i]);
    kiln_free(argv);
    kiln_free(env);
    kiln_free(cwd);
    kiln_free(log_path);
    for (size_t i = 0; libargv && libargv[i]; i++)
        kiln_free(libargv[i]);
    kiln_free(libargv);
    kiln_flow__lib_free(call);
    return rc;
}

/* ------------------------------------------------------------ sensors */

static void log_append(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_append(const char *path, const char *fmt, ...)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fclose(f);
}

/* One poke of a sensor.file try. Found: the try succeeds. Past the
 * sensor's timeout: it fails and is not retried (Airflow's
 * AirflowSensorTimeout). Else: the next poke goes on the timer heap; in
 * reschedule mode the slot is given back meanwhile. */
static int sensor_poke(sched *s, ti *t)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    kiln_flow_render_ctx ctx;
    kiln_flow_render_ctx_init(&ctx, s->d, t->r->logical, t->r->istart, t->r->iend, t->r->run_id, t->try_number);
    ctx.task_id = k->id;
    ctx.branch = s->o->branch;
    char *rpath = NULL, *path = NULL, *log = NULL;
    int rc = kiln_flow_render(&rpath, k->sensor_path, &ctx, s->err);
    if (rc)
        return rc;
    path = rpath[0] == '/' ? kiln_strdup(rpath) : kiln_sprintf("%s/%s", s->p->dir, rpath);
    log = kiln_flow__log_path(s->p, s->d->id, k->id, t->r->lds, t->try_number);
    if (!path || !log) {
        rc = KILN_OOM(s->err);
        goto done;
    }
    struct stat sb;
    int there;
    int64_t waited = now_ms() - t->sensor_start_ms;
    t->pokes++;
    if (!strcmp(k->type, "sensor.asset")) {
        /* a new materialization: the asset's state differs from the one
         * this task's last success saw (t->inputs), or, never seen, exists */
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_flow_task one = *k;
        char *names[1] = {rpath};
        one.consumes.items = names;
        one.consumes.len = 1;
        if ((rc = kiln_flow__inputs(s->p->dir, &one, s->o->branch, NULL, &b, s->err)) ||
            (rc = kiln_buf_putc(&b, 0, s->err))) {
            kiln_buf_free(&b);
            goto done;
        }
        const char *st = strstr(b.data, " = ");
        int absent = st && !strncmp(st + 3, "absent", 6);
        there = !absent && (!t->inputs || strcmp(t->inputs, b.data) != 0);
        log_append(log, "poke %d after %.3gs: %.*s%s\n", t->pokes, (double)waited / 1000.0, (int)(b.len - 2), b.data,
                   there    ? ": a new materialization"
                   : absent ? ": not there yet"
                            : ": unchanged since the last success");
        if (there) {
            kiln_free(t->inputs);
            t->inputs = kiln_buf_detach(&b, NULL); /* recorded with the key: the next run waits for a newer one */
        } else {
            kiln_buf_free(&b);
        }
    } else {
        there = stat(path, &sb) == 0;
        log_append(log, "poke %d after %.3gs: %s %s\n", t->pokes, (double)waited / 1000.0, path,
                   there ? "is there" : "is not there yet");
    }
    if (there || waited >= k->timeout_ms) {
        char note[300];
        if (!k->reschedule)
            s->nsensing--;
        t->sensing = 0;
        if (there) {
            rc = try_ended(s, t, 0, 0, NULL);
        } else {
            snprintf(note, sizeof note, "sensor timeout after %.3gs: %s did not %s (%s)",
                     (double)k->timeout_ms / 1000.0, rpath,
                     strcmp(k->type, "sensor.asset") ? "appear" : "get a new materialization",
                     k->soft_fail ? "soft_fail: skipped" : "not retried");
            t->attempts = k->retries + 1;
            t->soft_timeout = k->soft_fail;
            rc = try_ended(s, t, 1, 0, note);
        }
        goto done;
    }
    /* OpenLineage RUNNING: the sensor's try goes on (one event per poke
     * that did not end it, with the try's runId) */
    lineage(s, t, "RUNNING", NULL);
    if (k->reschedule) {
        pool_release(s, t);
        t->state = S_RESCHEDULE;
        t->gen++;
        if ((rc = store_ti(s, t,
                           strcmp(k->type, "sensor.asset") ? "waiting for the file (reschedule mode: no slot held)"
                                                           : "waiting for the asset (reschedule mode: no slot held)")))
            goto done;
    } else {
        t->state = S_RUNNING;
    }
    int64_t next = k->poke_interval_ms;
    if (waited + next > k->timeout_ms)
        next = k->timeout_ms - waited; /* one last poke at the timeout */
    rc = timer_add(s, now_ms() + next, T_POKE, t, NULL);
done:
    kiln_free(rpath);
    kiln_free(path);
    kiln_free(log);
    return rc;
}

/* Start a sensor try under its lock (no process: the runner pokes). */
static int sensor_begin(sched *s, ti *t, int fd, int prev_tries)
{
    const kiln_flow_task *k = &s->d->tasks[t->task];
    char now[40];
    char *log_path = NULL;
    int rc;
    t->attempts++;
    t->try_number = prev_tries + 1;
    t->timed_out = 0;
    t->gen++;
    t->lock_fd = fd;
    if (!(log_path = kiln_flow__log_path(s->p, s->d->id, k->id, t->r->lds, t->try_number)))
        return KILN_OOM(s->err);
    if ((rc = kiln_flow__mkdirs_for(log_path, s->err)))
        goto done;
    unlink(log_path);
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    t->try_start_ms = t->sensor_start_ms = now_ms();
    if ((rc =
             kiln_flow__x(&s->st, s->err,
                          "INSERT OR REPLACE INTO task_try(dag, task, logical_date, try_number, state, pid, started,"
                          " log_path, idem_key, queue_wait_ms) VALUES(?1, ?2, ?3, ?4, 'running', NULL, ?5, ?6, ?7, ?8)",
                          "sssisssi", s->d->id, k->id, t->r->lds, (int64_t)t->try_number, now, log_path, t->key,
                          (int64_t)(t->ready_ms ? now_ms() - t->ready_ms : 0))))
        goto done;
    t->state = S_RUNNING;
    t->sensing = 1;
    t->pokes = 0;
    if (!strcmp(k->type, "sensor.asset")) { /* what the last success of this task saw (any date) */
        sqlite3_stmt *st = NULL;
        kiln_free(t->inputs);
        t->inputs = NULL;
        if ((rc = kiln_flow__q(&s->st, &st, s->err,
                               "SELECT inputs FROM idem_key WHERE dag=?1 AND task=?2 AND inputs IS NOT NULL"
                               " ORDER BY succeeded_at DESC, rowid DESC LIMIT 1",
                               "ss", s->d->id, k->id)))
            goto done;
        if (sqlite3_step(st) == SQLITE_ROW && !(t->inputs = kiln_strdup((const char *)sqlite3_column_text(st, 0))))
            rc = KILN_OOM(s->err);
        sqlite3_finalize(st);
        if (rc)
            goto done;
    }
    if (!k->reschedule)
        s->nsensing++;
    s->res->tries_started++;
    if ((rc = store_ti(s, t, NULL)))
        goto done;
    kiln_flow__uuid7(t->ol_run);
    lineage(s, t, "START", NULL);
    say(s, t, "try %d: sensor waiting for %s (%s mode, every %.3gs, timeout %.3gs)", t->try_number, k->sensor_path,
        k->reschedule ? "reschedule" : "poke", (double)k->poke_interval_ms / 1000.0, (double)k->timeout_ms / 1000.0);
    rc = sensor_poke(s, t);
done:
    kiln_free(log_path);
    return rc;
}

/* Returns <0 on error, else 0 (started, finished without running, or
 * waiting for the lock). */
static int start_ti(sched *s, ti *t)
{
    int fd = -1, prev_tries = 0;
    const kiln_flow_task *k = &s->d->tasks[t->task];
    if (t->sensing) /* a rescheduled sensor's next poke: it holds its lock */
        return sensor_poke(s, t);
    int rc = claim_ti(s, t, &fd, &prev_tries);
    if (rc <= 0)
        return rc;
    if (!strncmp(k->type, "sensor.", 7))
        return sensor_begin(s, t, fd, prev_tries);
    return spawn_try(s, t, fd, prev_tries);
}

/* Start ready TIs while slots allow. */
static int start_ready(sched *s)
{
    hent aside[256];
    size_t naside = 0;
    int rc = 0;
    while (s->ready.n && !g_stop && !g_drain) {
        size_t busy = s->nrunning + s->nsensing;
        if ((int)busy >= s->p->parallelism || (int)busy >= s->d->max_active_tasks)
            break;
        hent e = heap_pop(&s->ready);
        ti *t = e.t;
        if (t->state != S_READY || e.gen != t->gen)
            continue;
        if (t->r->timed_out) {
            if ((rc = finish_ti(s, t, S_SKIPPED, "dagrun_timeout passed")))
                break;
            continue;
        }
        const kiln_flow_task *k = &s->d->tasks[t->task];
        size_t pi = s->task_pool[t->task];
        if (s->pool_used[pi] + k->pool_slots > s->p->pools[pi].slots) {
            if (naside < sizeof aside / sizeof *aside) {
                aside[naside++] = e;
                continue;
            }
            if ((rc = heap_push(&s->ready, e, s->err)))
                break;
            break;
        }
        s->pool_used[pi] += k->pool_slots;
        if ((rc = start_ti(s, t)) < 0)
            break;
    }
    for (size_t i = 0; i < naside; i++)
        if (!rc)
            rc = heap_push(&s->ready, aside[i], s->err);
    return rc;
}

/* ------------------------------------------------------------ runs */

static int activate_run(sched *s, run *r)
{
    int rc;
    const kiln_flow_dag *d = s->d;
    char now[40], is[32], ie[32];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    kiln_flow__ts(r->istart, is);
    kiln_flow__ts(r->iend, ie);
    r->active = 1;
    s->nactive++;
    s->moves++;
    if (!s->o->only_task &&
        (rc =
             kiln_flow__x(&s->st, s->err,
                          "INSERT INTO dag_run(dag, logical_date, run_id, interval_start, interval_end, state, started)"
                          " VALUES(?1, ?2, ?3, ?4, ?5, 'running', ?6) ON CONFLICT(dag, logical_date) DO UPDATE SET"
                          " state='running', started=?6, ended=NULL",
                          "ssssss", d->id, r->lds, r->run_id, is, ie, now)))
        return rc;
    kiln_failpoint("flow.run.started");
    if (s->o->progress && !s->o->only_task && !s->o->bar)
        fprintf(s->o->progress, "%s: run %s started\n", r->lds, r->run_id);
    if (d->dagrun_timeout_ms > 0 && !s->o->only_task &&
        (rc = timer_add(s, now_ms() + d->dagrun_timeout_ms, T_RUN_TIMEOUT, NULL, r)))
        return rc;
    for (size_t i = 0; i < d->ntasks; i++) {
        ti *t = &r->tis[i];
        if (t->state == S_OUT)
            continue;
        /* sla: checked once, that long after the run started */
        if (d->tasks[i].sla_ms > 0 && d->on_sla_miss.len && !s->o->only_task &&
            (rc = timer_add(s, now_ms() + d->tasks[i].sla_ms, T_SLA, t, NULL)))
            return rc;
        if ((rc = evaluate(s, t)))
            return rc;
    }
    return 0;
}

static int activate_more(sched *s)
{
    int rc = 0;
    while (!rc && s->next_run < s->nruns && (int)s->nactive < s->max_active_runs && !g_stop && !g_drain)
        rc = activate_run(s, &s->runs[s->next_run++]);
    return rc;
}

/* ------------------------------------------------------------ events */

static int on_timer(sched *s, hent e)
{
    ti *t = e.t;
    if (e.kind == T_RUN_TIMEOUT) {
        run *r = e.r;
        if (r->finished)
            return 0;
        r->timed_out = 1;
        if (s->o->progress)
            fprintf(s->o->progress, "%s: dagrun_timeout passed; killing its running tasks\n", r->lds);
        /* the run's own alert (Airflow calls the DAG's on_failure_callback
         * with reason "timed_out"); the killed tasks alert as failures */
        char msg[160];
        snprintf(msg, sizeof msg, "dagrun_timeout (%.3gs) passed; its running tasks are killed",
                 (double)s->d->dagrun_timeout_ms / 1000.0);
        int arc = alert(s, NULL, r, &s->d->on_failure, "timeout", msg);
        if (arc)
            return arc;
        /* once per run: running tries are killed (their end is reported by
         * the pidfd), waiting ones end now; ready and pending ones are
         * skipped when they come up */
        int rc = 0;
        for (size_t i = 0; i < s->d->ntasks && !rc && !r->finished; i++) {
            ti *x = &r->tis[i];
            if (x->sensing) {
                /* between pokes a reschedule-mode sensor holds no slot;
                 * try_ended gives one back, so take it first */
                if (s->d->tasks[x->task].reschedule)
                    s->pool_used[s->task_pool[x->task]] += s->d->tasks[x->task].pool_slots;
                else
                    s->nsensing--;
                x->sensing = 0;
                x->attempts = s->d->tasks[x->task].retries + 1;
                x->timed_out = 2;
                rc = try_ended(s, x, 1, 0, NULL);
            } else if (x->state == S_RUNNING) {
                x->timed_out = 2;
                s->ex->kill(s->ex, &x->proc, SIGKILL);
            } else if (x->state == S_RETRY_WAIT) {
                rc = finish_ti(s, x, S_FAILED, "dagrun_timeout passed while waiting to retry");
            } else if (x->state == S_LOCK_WAIT) {
                rc = finish_ti(s, x, S_SKIPPED, "dagrun_timeout passed while waiting for the lock");
            }
        }
        return rc;
    }
    if (e.kind == T_SLA) {
        /* Airflow 2's SLA miss: not succeeded (nor skipped) by then; the
         * task goes on, the alert only tells */
        if (t->state == S_SUCCESS || t->state == S_SKIPPED || t->state == S_OUT)
            return 0;
        char msg[200];
        snprintf(msg, sizeof msg, "sla (%.3gs after the run started) missed: the task is %s",
                 (double)s->d->tasks[t->task].sla_ms / 1000.0,
                 t->state == S_PENDING ? "waiting for its upstream tasks" : state_names[t->state]);
        say(s, t, "%s", msg);
        return alert(s, t, t->r, &s->d->on_sla_miss, "sla_miss", msg);
    }
    if (e.gen != t->gen)
        return 0; /* stale: the TI moved on */
    switch (e.kind) {
    case T_RETRY:
        if (t->state != S_RETRY_WAIT)
            return 0;
        if (t->r->timed_out)
            return finish_ti(s, t, S_FAILED, "dagrun_timeout passed while waiting to retry");
        return make_ready(s, t);
    case T_LOCK:
        if (t->state != S_LOCK_WAIT)
            return 0;
        return make_ready(s, t);
    case T_TIMEOUT:
        if (t->state != S_RUNNING)
            return 0;
        t->timed_out = 1;
        say(s, t, "timeout: sending SIGTERM to the process group");
        s->ex->kill(s->ex, &t->proc, SIGTERM);
        return timer_add(s, now_ms() + 2000, T_KILL, t, NULL);
    case T_KILL:
        if (t->state == S_RUNNING)
            s->ex->kill(s->ex, &t->proc, SIGKILL);
        return 0;
    case T_POKE:
        if (!t->sensing)
            return 0;
        if (t->state == S_RESCHEDULE)
            return make_ready(s, t); /* needs a slot again */
        return sensor_poke(s, t);
    }
    return 0;
}

/* Batching: the writes of one loop iteration (a few per task) go into
 * one transaction. BEGIN IMMEDIATE takes the write lock up front, so what
 * this runner reads under a task-instance lock is current: no other runner
 * can commit until we do. Locks of ended tries are released only after
 * the commit that records their outcome. */
static int txn_begin(sched *s)
{
    if (s->in_txn)
        return 0;
    int rc = kiln_flow__x(&s->st, s->err, "BEGIN IMMEDIATE", "");
    s->in_txn = rc == 0;
    return rc;
}

static int txn_commit(sched *s)
{
    int rc = 0;
    if (s->in_txn) {
        rc = kiln_flow__x(&s->st, s->err, "COMMIT", "");
        if (rc)
            sqlite3_exec(s->st.db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = 0;
    }
    for (size_t i = 0; i < s->unlock_after_commit.len; i++)
        close(s->unlock_after_commit.items[i]);
    s->unlock_after_commit.len = 0;
    return rc;
}

static int loop(sched *s)
{
    int rc = 0;
    struct pollfd *fds = NULL;
    ti **fdti = NULL;
    size_t cap = 0;
    while (s->nfinished < s->nruns) {
        if ((rc = txn_begin(s)))
            break;
        /* activating runs and starting (or key-skipping) TIs can finish
         * runs, which frees room for more runs: repeat until nothing moves */
        uint64_t moved;
        do {
            moved = s->moves;
            if ((rc = activate_more(s)) || (rc = start_ready(s)))
                break;
        } while (moved != s->moves);
        if (rc)
            break;
        if (s->nfinished == s->nruns)
            break;
        if (g_drain && !g_stop && s->nrunning == 0) {
            /* unfinished runs go back to queued: the next run resumes them
             * (tasks whose key succeeded are skipped) */
            for (size_t i = 0; i < s->nruns && !rc; i++)
                if (s->runs[i].active && !s->runs[i].finished && !s->o->only_task)
                    rc = kiln_flow__x(&s->st, s->err,
                                      "UPDATE dag_run SET state='queued' WHERE dag=?1 AND logical_date=?2", "ss",
                                      s->d->id, s->runs[i].lds);
            s->res->drained = 1;
            if (s->o->progress)
                fprintf(s->o->progress, "drained: %zu runs left queued\n", s->nruns - s->nfinished);
            break;
        }
        if (g_stop && s->nrunning == 0) {
            rc = kiln_err_set(s->err, KILN_EIO, "interrupted: the running tasks were stopped; runs left unfinished");
            break;
        }
        if (s->nrunning == 0 && s->timers.n == 0) {
            rc = kiln_err_set(s->err, KILN_EINTERNAL, "scheduler stalled: %zu runs unfinished, nothing running",
                              s->nruns - s->nfinished);
            break;
        }
        if (s->nrunning > cap) {
            cap = s->nrunning * 2;
            kiln_free(fds);
            kiln_free(fdti);
            fds = kiln_malloc(cap * sizeof *fds);
            fdti = kiln_malloc(cap * sizeof *fdti);
            if (!fds || !fdti) {
                rc = KILN_OOM(s->err);
                break;
            }
        }
        size_t n = 0;
        for (size_t i = 0; i < s->nrunning; i++) {
            fds[n].fd = s->running[i]->proc.wait_fd;
            fds[n].events = POLLIN;
            fds[n].revents = 0;
            fdti[n++] = s->running[i];
        }
        int timeout = -1;
        if (s->timers.n) {
            int64_t w = s->timers.v[0].k1 - now_ms();
            timeout = w < 0 ? 0 : w > 60000 ? 60000 : (int)w;
        }
        if (s->o->live_log && s->nrunning && (timeout < 0 || timeout > 100))
            timeout = 100;                                /* tasks run: the log as it grows, every 0.1 s */
        if (s->metrics_dirty && metrics_due(s, &timeout)) /* within a second on a small store */
            metrics(s);
        if ((rc = txn_commit(s)))
            break;
        int pr = poll(fds, n, timeout);
        if (pr < 0 && errno != EINTR) {
            rc = kiln_err_set(s->err, KILN_EIO, "poll: %s", strerror(errno));
            break;
        }
        if (s->o->live_log)
            for (size_t i = 0; i < s->nrunning; i++)
                live_copy(s, s->running[i]);
        if (g_stop == 1) {
            g_stop = 2;
            if (s->o->progress)
                fprintf(s->o->progress, "interrupted: stopping %zu running tasks\n", s->nrunning);
            for (size_t i = 0; i < s->nrunning; i++)
                s->ex->kill(s->ex, &s->running[i]->proc, SIGTERM);
        }
        for (size_t i = 0; pr > 0 && i < n && !rc; i++) {
            if (!fds[i].revents)
                continue;
            ti *t = fdti[i];
            int done = 0, code = 0, signo = 0;
            if ((rc = s->ex->poll(s->ex, &t->proc, &done, &code, &signo, s->err)))
                break;
            if (done)
                rc = try_ended(s, t, code, signo, g_stop ? "interrupted (SIGINT/SIGTERM to the runner)" : NULL);
        }
        if (rc)
            break;
        int64_t now = now_ms();
        while (s->timers.n && s->timers.v[0].k1 <= now && !rc) {
            /* loop lag: how late a due timer is handled */
            double lag = (double)(now - s->timers.v[0].k1);
            size_t b = 0;
            while (b < KILN_FLOW_LAG_NB && lag > kiln_flow__lag_bounds_ms[b])
                b++;
            s->lag_n[b]++;
            s->lag_sum_ms += lag;
            rc = on_timer(s, heap_pop(&s->timers));
        }
        if (rc)
            break;
    }
    int crc = txn_commit(s);
    kiln_vec_free(&s->unlock_after_commit);
    kiln_free(fds);
    kiln_free(fdti);
    return rc ? rc : crc;
}

/* ------------------------------------------------------------ entry */

static int plan_runs(sched *s, int64_t *dates, size_t ndates)
{
    const kiln_flow_dag *d = s->d;
    int rc = 0;
    s->runs = kiln_calloc(ndates ? ndates : 1, sizeof *s->runs);
    if (!s->runs)
        return KILN_OOM(s->err);
    long only = s->o->only_task ? kiln_flow_dag_task(d, s->o->only_task) : -1;
    for (size_t i = 0; i < ndates; i++) {
        char lds[32];
        kiln_flow__ts(dates[i], lds);
        /* which existing runs to look at again (--rerun) */
        sqlite3_stmt *st;
        char state[32] = "", run_id[64] = "";
        if ((rc = kiln_flow__q(&s->st, &st, s->err,
                               "SELECT state, run_id FROM dag_run WHERE dag=?1 AND logical_date=?2", "ss", d->id, lds)))
            return rc;
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(state, sizeof state, "%s", (const char *)sqlite3_column_text(st, 0));
            snprintf(run_id, sizeof run_id, "%s", (const char *)sqlite3_column_text(st, 1));
        }
        sqlite3_finalize(st);
        s->res->runs_total++;
        if (state[0] && s->o->backfill && !s->o->only_task &&
            (s->o->rerun == KILN_FLOW_RERUN_NONE ||
             (s->o->rerun == KILN_FLOW_RERUN_FAILED && !strcmp(state, "success")))) {
            s->res->runs_left_alone++;
            if (s->o->progress)
                fprintf(s->o->progress, "%s: run exists (%s); left alone (--rerun)\n", lds, state);
            if (!strcmp(state, "success"))
                s->res->runs_success++;
            else
                s->res->runs_failed++;
            continue;
        }
        run *r = &s->runs[s->nruns];
        r->idx = s->nruns;
        r->logical = dates[i];
        memcpy(r->lds, lds, sizeof lds);
        kiln_flow__interval(d, dates[i], &r->istart, &r->iend);
        if (run_id[0])
            snprintf(r->run_id, sizeof r->run_id, "%s", run_id);
        else
            snprintf(r->run_id, sizeof r->run_id, "%s__%s",
                     s->o->run_type   ? s->o->run_type
                     : s->o->backfill ? "backfill"
                                      : "manual",
                     lds);
        r->tis = kiln_calloc(d->ntasks, sizeof *r->tis);
        if (!r->tis)
            return KILN_OOM(s->err);
        s->nruns++;
        for (size_t k = 0; k < d->ntasks; k++) {
            ti *t = &r->tis[k];
            t->r = r;
            t->task = k;
            t->lock_fd = -1;
            t->proc.pid = -1;
            if (only >= 0 && (long)k != only) {
                t->state = S_OUT;
                continue;
            }
            r->nparticipating++;
            kiln_err kerr = {0};
            if ((rc = kiln_flow_task_key_branch(d, k, r->istart, r->iend, s->o->branch, t->key, t->def_hash, &kerr))) {
                if (rc == KILN_ENOMEM)
                    return kiln_err_set(s->err, rc, "%s", kerr.msg);
                /* a template that does not render for this date: no key; the
                 * try fails with the renderer's message when it starts */
                t->key[0] = t->def_hash[0] = 0;
                rc = 0;
            }
            memcpy(t->base_key, t->key, sizeof t->key);
        }
    }
    return 0;
}

static int dry_run(sched *s)
{
    int rc = 0;
    FILE *out = s->o->progress ? s->o->progress : stdout;
    for (size_t i = 0; i < s->nruns && !rc; i++) {
        run *r = &s->runs[i];
        fprintf(out, "%s: run %s would be examined\n", r->lds, r->run_id);
        for (size_t k = 0; k < s->d->ntasks; k++) {
            ti *t = &r->tis[k];
            if (t->state == S_OUT)
                continue;
            sqlite3_stmt *st;
            if ((rc = final_key(s, t)))
                break;
            if ((rc = kiln_flow__q(&s->st, &st, s->err, "SELECT succeeded_at FROM idem_key WHERE key=?1", "s", t->key)))
                break;
            int done = sqlite3_step(st) == SQLITE_ROW;
            fprintf(out, "  %-24s %s\n", s->d->tasks[k].id,
                    done ? "skip: idempotency key already succeeded" : "would run (when its trigger rule allows)");
            sqlite3_finalize(st);
        }
    }
    return rc;
}

/* ------------------------------------------------------------ --branch */

/* Add warehouse path (taken) to out unless it is there: one warehouse
 * under two spellings (a task's `warehouse` and the dbt profile's) is one,
 * so resolved paths are compared, or each table would be listed and
 * fast-forwarded twice. */
static int add_warehouse(sched *s, kiln_flow_strv *out, char *path)
{
    if (!path)
        return KILN_OOM(s->err);
    char *real = realpath(path, NULL);
    if (real) {
        char *k = kiln_strdup(real);
        free(real);
        kiln_free(path);
        if (!(path = k))
            return KILN_OOM(s->err);
    }
    for (size_t i = 0; i < out->len; i++)
        if (!strcmp(out->items[i], path)) {
            kiln_free(path);
            return 0;
        }
    if (kiln_vec_push(out, path, s->err)) {
        kiln_free(path);
        return KILN_OOM(s->err);
    }
    return 0;
}

/* The warehouses the DAG's table-writing tasks write (absolute paths,
 * distinct), rendered as for the first run: job.gh_events' and sql tasks'
 * `warehouse`, models.build's profile's, and every task's `produces:`
 * iceberg:// assets. */
static int branch_warehouses(sched *s, kiln_flow_strv *out)
{
    int rc = 0;
    for (size_t k = 0; k < s->d->ntasks && !rc; k++) {
        const kiln_flow_task *t = &s->d->tasks[k];
        run *r = s->nruns ? &s->runs[0] : NULL;
        kiln_flow_render_ctx ctx;
        kiln_flow_render_ctx_init(&ctx, s->d, r ? r->logical : s->o->start, r ? r->istart : s->o->start,
                                  r ? r->iend : s->o->start, r ? r->run_id : "", 1);
        ctx.task_id = t->id;
        ctx.branch = s->o->branch;
        /* a command's declared Iceberg outputs (it writes them on the
         * branch when it writes through kiln: KILN_BRANCH) */
        for (size_t i = 0; i < t->produces.len && !rc; i++) {
            char *a = NULL, *pwh = NULL, *ptb = NULL;
            if ((rc = kiln_flow_render(&a, t->produces.items[i], &ctx, s->err)))
                break;
            int ice = kiln_flow__asset_iceberg(s->p->dir, a, &pwh, &ptb);
            kiln_free(a);
            kiln_free(ptb);
            if (ice < 0)
                rc = KILN_OOM(s->err);
            else if (ice > 0)
                rc = add_warehouse(s, out, pwh);
        }
        int sqlt = !strcmp(t->type, "sql");
        if (rc || (!kiln_flow__branch_override(t, s->o->branch) && !sqlt))
            continue;
        char *wh = NULL, *cwd = NULL, *path = NULL;
        int models = !strcmp(t->type, "models.build");
        const char *whopt = kiln_flow_task_opt(t, "warehouse");
        if ((rc = kiln_flow_render(
                 &wh,
                 models ? (kiln_flow_task_opt(t, "project_dir") ? kiln_flow_task_opt(t, "project_dir") : ".")
                        : (whopt ? whopt : "warehouse"),
                 &ctx, s->err)) ||
            (t->cwd && (rc = kiln_flow_render(&cwd, t->cwd, &ctx, s->err)))) {
            kiln_free(wh);
            return rc;
        }
        if (wh[0] == '/')
            path = kiln_strdup(wh);
        else if (cwd && cwd[0] == '/')
            path = kiln_sprintf("%s/%s", cwd, wh);
        else if (cwd)
            path = kiln_sprintf("%s/%s/%s", s->p->dir, cwd, wh);
        else
            path = kiln_sprintf("%s/%s", s->p->dir, wh);
        kiln_free(wh);
        kiln_free(cwd);
        if (!path)
            return KILN_OOM(s->err);
        if (models) { /* the warehouse of the dbt project's profile */
            kiln_models_opts mo = {0};
            kiln_project *mp = NULL;
            char *pd = NULL, *tg = NULL;
            mo.project_dir = path;
            if (kiln_flow_task_opt(t, "profiles_dir") &&
                (rc = kiln_flow_render(&pd, kiln_flow_task_opt(t, "profiles_dir"), &ctx, s->err)))
                goto models_done;
            if (kiln_flow_task_opt(t, "target") &&
                (rc = kiln_flow_render(&tg, kiln_flow_task_opt(t, "target"), &ctx, s->err)))
                goto models_done;
            mo.profiles_dir = pd;
            mo.target = tg;
            if ((rc = kiln_project_load(&mp, &mo, s->err)))
                goto models_done;
            kiln_free(path);
            path = kiln_strdup(kiln_project_warehouse(mp));
            if (!path)
                rc = KILN_OOM(s->err);
        models_done:
            kiln_project_free(mp);
            kiln_free(pd);
            kiln_free(tg);
            if (rc) {
                kiln_free(path);
                return rc;
            }
        }
        rc = add_warehouse(s, out, path);
    }
    return rc;
}

/* After a backfill on --branch: every run succeeded -> fast-forward main to
 * the branch on every table that has it, all tables of a warehouse in one
 * atomic multi-table commit (kiln_lake_fast_forward_multi; a reader sees
 * every table old or every table new; docs/flow.md); otherwise leave main
 * alone, keep the branch, alert. */
static int branch_swap(sched *s)
{
    const char *b = s->o->branch;
    FILE *out = s->o->progress;
    kiln_flow_strv whs = {0};
    KILN_VEC(kiln_lake_table *) tabs = {0};
    kiln_flow_strv tabnames = {0};
    KILN_VEC(kiln_lake_catalog *) cats = {0};
    kiln_flow_strv names = {0};
    int rc = branch_warehouses(s, &whs);
    for (size_t w = 0; w < whs.len && !rc; w++) {
        struct stat st;
        if (stat(whs.items[w], &st) != 0)
            continue; /* nothing was written there */
        kiln_lake_catalog *cat = NULL;
        if ((rc = kiln_lake_catalog_open(&cat, whs.items[w], KILN_LAKE_CATALOG_SQLITE, s->err)))
            break;
        if (kiln_vec_push(&cats, cat, s->err)) {
            kiln_lake_catalog_free(cat);
            rc = KILN_OOM(s->err);
            break;
        }
        for (size_t i = 0; i < names.len; i++)
            kiln_free(names.items[i]);
        names.len = 0;
        if ((rc = kiln_lake_table_list(cat, NULL, kiln_flow__collect_name, &names, s->err)))
            break;
        for (size_t i = 0; i < names.len && !rc; i++) {
            kiln_lake_table *t = NULL;
            if ((rc = kiln_lake_table_load(&t, cat, names.items[i], s->err)))
                break;
            if (!kiln_lake_meta_ref(kiln_lake_table_meta(t), b)) {
                kiln_lake_table_free(t);
                continue;
            }
            char *nm = kiln_strdup(names.items[i]);
            if (!nm || kiln_vec_push(&tabnames, nm, s->err) || kiln_vec_push(&tabs, t, s->err)) {
                if (tabnames.len && tabnames.items[tabnames.len - 1] == nm)
                    tabnames.len--;
                kiln_free(nm);
                kiln_lake_table_free(t);
                rc = KILN_OOM(s->err);
            }
        }
    }
    s->res->branch_tables = (int)tabs.len;
    if (rc)
        goto done;
    if (s->res->runs_failed > 0 || s->res->drained) {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "backfill on branch '%s': %d run(s) failed; main left untouched, the branch kept on %zu table(s) for "
                 "inspection",
                 b, s->res->runs_failed, tabs.len);
        if (out)
            fprintf(out, "%s\n", msg);
        if (s->nruns && (rc = alert(s, NULL, &s->runs[0], &s->d->on_failure, "failure", msg)))
            goto done;
        goto done;
    }
    /* all the fast-forwards are checked first (main must be an ancestor of
     * the branch everywhere), then made, so a conflict on one table leaves
     * every table's main untouched */
    for (size_t i = 0; i < tabs.len; i++) {
        const kiln_lake_meta *m = kiln_lake_table_meta(tabs.items[i]);
        const kiln_lake_ref *mr = kiln_lake_meta_ref(m, "main"), *br = kiln_lake_meta_ref(m, b);
        if (mr && br && !kiln_lake_meta_is_ancestor(m, br->snapshot_id, mr->snapshot_id)) {
            rc = kiln_err_set(s->err, KILN_ECONFLICT,
                              "backfill on branch '%s': main of %s moved since the branch was cut; nothing was "
                              "swapped in (the branch is kept)",
                              b, tabnames.items[i]);
            goto done;
        }
    }
    /* one multi-table commit per warehouse: every table's main moves in one
     * SQLite transaction of its catalog (readers see all old or all new) */
    {
        size_t start = 0, swapped = 0;
        while (start < tabs.len) {
            size_t end = start;
            while (end < tabs.len &&
                   kiln_lake_table_catalog(tabs.items[end]) == kiln_lake_table_catalog(tabs.items[start]))
                end++;
            int moved = 0;
            if ((rc = kiln_lake_fast_forward_multi(tabs.items + start, end - start, "main", b, &moved, s->err))) {
                char first[512];
                snprintf(first, sizeof first, "%s", s->err->msg);
                rc = kiln_err_set(s->err, rc,
                                  "backfill on branch '%s': the swap of %zu table(s) failed (%zu table(s) of other "
                                  "warehouses were swapped in before): %s",
                                  b, end - start, swapped, first);
                goto done;
            }
            for (size_t i = start; i < end && out; i++)
                fprintf(out, "branch '%s': main of %s fast-forwarded\n", b, tabnames.items[i]);
            swapped += end - start;
            start = end;
        }
    }
    s->res->branch_swapped = 1;
    if (out)
        fprintf(out, "branch '%s': every run succeeded; swapped in on %zu table(s)\n", b, tabs.len);
done:
    for (size_t i = 0; i < tabs.len; i++)
        kiln_lake_table_free(tabs.items[i]);
    kiln_vec_free(&tabs);
    for (size_t i = 0; i < tabnames.len; i++)
        kiln_free(tabnames.items[i]);
    kiln_vec_free(&tabnames);
    for (size_t i = 0; i < cats.len; i++)
        kiln_lake_catalog_free(cats.items[i]);
    kiln_vec_free(&cats);
    kiln_flow__strv_free(&names);
    for (size_t i = 0; i < whs.len; i++)
        kiln_free(whs.items[i]);
    kiln_vec_free(&whs);
    return rc;
}

int kiln_flow_run(kiln_flow_project *p, const kiln_flow_run_opts *o, kiln_flow_result *res, kiln_err *err)
{
    sched s = {0};
    int64_t *dates = NULL;
    size_t ndates = 0;
    int rc;
    struct sigaction sa = {0}, old_int, old_term, old_pipe;
    memset(res, 0, sizeof *res);
    s.p = p;
    s.o = o;
    s.res = res;
    /* the first metrics.prom write a second in at the earliest: a short
     * runner (a re-run that skips everything) writes it once, at its end */
    s.metrics_last_ms = now_ms();
    s.err = err;
    s.ex = &kiln_flow_local_executor;
    s.force = o->only_task != NULL;
    if ((rc = kiln_flow_project_need_dag(p, o->dag, &s.d, err)))
        return rc;
    if (o->only_task && kiln_flow_dag_task(s.d, o->only_task) < 0)
        return kiln_err_set(err, KILN_ENOTFOUND, "DAG '%s' has no task '%s'", o->dag, o->only_task);
    s.max_active_runs = o->max_active_runs > 0 ? o->max_active_runs : s.d->max_active_runs;
    if (o->branch) {
        int writers = 0;
        for (size_t k = 0; k < s.d->ntasks; k++) {
            const kiln_flow_task *t = &s.d->tasks[k];
            writers += kiln_flow__branch_override(t, o->branch) || !strcmp(t->type, "sql");
            for (size_t i = 0; i < t->produces.len; i++)
                writers += !strncmp(t->produces.items[i], "iceberg://", 10);
        }
        if (!writers)
            return kiln_err_set(err, KILN_EINVAL,
                                "--branch: no task of DAG '%s' writes Iceberg tables (job.gh_events with warehouse:, "
                                "models.build, sql, or a task that produces: iceberg://...); nothing was run",
                                s.d->id);
    }
    if ((rc = kiln_flow__dates(s.d, o->start, o->end, &dates, &ndates, err)))
        return rc;
    if ((rc = kiln_flow__store_open(&s.st, p->state_dir, err)))
        goto done;
    s.pool_used = kiln_calloc(p->npools, sizeof *s.pool_used);
    s.task_pool = kiln_calloc(s.d->ntasks, sizeof *s.task_pool);
    s.running = kiln_calloc((size_t)p->parallelism + 1, sizeof *s.running);
    if (!s.pool_used || !s.task_pool || !s.running) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t k = 0; k < s.d->ntasks; k++)
        for (size_t i = 0; i < p->npools; i++)
            if (!strcmp(p->pools[i].name, s.d->tasks[k].pool))
                s.task_pool[k] = i;
    if ((rc = plan_runs(&s, dates, ndates)))
        goto done;
    if (o->dry_run) {
        rc = dry_run(&s);
        goto done;
    }
    g_stop = g_drain = 0;
    struct sigaction old_usr1;
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = on_drain;
    sigaction(SIGUSR1, &sa, &old_usr1);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old_pipe);
    s.bar_start = kiln_mono_seconds();
    draw_bar(&s, 0);
    rc = loop(&s);
    draw_bar(&s, 1);
    if (!rc && o->branch)
        rc = branch_swap(&s);
    if (s.st.db)
        metrics(&s);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
done:
    /* on an error, do not leave children behind holding locks unseen */
    for (size_t i = 0; i < s.nrunning; i++) {
        s.ex->kill(s.ex, &s.running[i]->proc, SIGKILL);
        int dn, c, sg;
        kiln_err e2;
        while (s.ex->poll(s.ex, &s.running[i]->proc, &dn, &c, &sg, &e2) == 0 && !dn)
            usleep(1000);
        if (s.running[i]->lock_fd >= 0)
            close(s.running[i]->lock_fd);
    }
    for (size_t i = 0; i < s.nruns; i++) {
        for (size_t k = 0; s.runs[i].tis && k < s.d->ntasks; k++)
            kiln_free(s.runs[i].tis[k].inputs);
        kiln_free(s.runs[i].tis);
    }
    kiln_free(s.runs);
    kiln_free(s.ready.v);
    kiln_free(s.timers.v);
    kiln_free(s.running);
    kiln_free(s.pool_used);
    kiln_free(s.task_pool);
    kiln_free(dates);
    kiln_flow__store_close(&s.st);
    kiln_flow__lineage_close();
    return rc;
}
