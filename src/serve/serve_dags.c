/*
 * serve_dags.c - the orchestrator's side of /api/v1: DAGs, the runs x tasks
 * grid, one run, one task instance with its tries, a try's log (tailable),
 * lineage, and the actions (trigger a run, clear, pause), all through
 * flow.h on the project given by --project-dir.
 *
 *   GET  /api/v1/dags                                  DAGs with recent runs, next run, paused
 *   GET  /api/v1/dags/{dag}                            definition (tasks, needs) + every run (the grid)
 *   GET  /api/v1/dags/{dag}/runs                       every run with its task instances
 *   POST /api/v1/dags/{dag}/runs                       trigger: {"logical_date": D} -> 202
 *   GET  /api/v1/dags/{dag}/runs/{date}                one run
 *   GET  /api/v1/dags/{dag}/runs/{date}/tasks/{task}   one task instance and its tries
 *   GET  /api/v1/dags/{dag}/runs/{date}/tasks/{task}/log?try=N&offset=B
 *   POST /api/v1/dags/{dag}/clear                      {"task_id", "start_date", "end_date", ...}
 *   POST /api/v1/dags/{dag}/paused                     {"paused": true|false}
 *   POST /api/v1/dags/{dag}/runs/{date}/tasks/{task}/state   mark: {"state": "success"|"failed", "note"?}
 *   GET  /api/v1/lineage                               jobs, datasets, edges, last OpenLineage event
 *
 * DESIGN
 * Every request loads the project and opens the state store itself (flow
 * objects belong to one thread); the store is SQLite in WAL mode, so
 * reading it while a scheduler (in this process or another) writes is
 * safe. A log is found through the state store (kiln_flow_log_path), never
 * through a client-chosen path. A triggered run is `kiln dags run` in a
 * child process (posix_spawn of the kiln binary: nothing else of this
 * multi-threaded server is copied into it), in its own process group, with
 * default signal dispositions, its output in .kiln/logs/DAG/runs/; a
 * detached thread reaps it.
 */
#include "flow/flow.h"
#include "serve/serve_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_CHUNK ((size_t)256 << 10) /* most log bytes in one answer */
#define RECENT_RUNS 10                /* runs per DAG on the list */
#define LINEAGE_CAP ((size_t)8 << 20) /* OpenLineage bytes read (the file's tail) */

/* ------------------------------------------------------------------ helpers */

static int project_open(kiln_serve_req *rq, kiln_serve_resp *rs, kiln_flow_project **p)
{
    kiln_err err = {0};
    *p = NULL;
    if (!rq->srv->project_dir) {
        kiln_serve__error(rs, 503, "ServiceUnavailableException",
                          "no orchestrator project: start kiln serve with --project-dir");
        return -1;
    }
    if (kiln_flow_project_load(p, rq->srv->project_dir, &err)) {
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
        return -1;
    }
    return 0;
}

static int need_dag(kiln_serve_resp *rs, kiln_flow_project *p, const char *id, const kiln_flow_dag **d)
{
    kiln_err err = {0};
    if (kiln_flow_project_need_dag(p, id, d, &err)) {
        kiln_serve__error_kiln(rs, &err, "NoSuchDagException");
        return -1;
    }
    return 0;
}

static int put_str(kiln_buf *b, const char *s, kiln_err *err)
{
    return s ? kiln_json_write_str(b, s, strlen(s), err) : kiln_buf_printf(b, err, "null");
}

static int put_kv(kiln_buf *b, const char *k, const char *v, int comma, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, "%s\"%s\":", comma ? "," : "", k);
    return rc ? rc : put_str(b, v, err);
}

static int put_strv(kiln_buf *b, const kiln_flow_strv *v, kiln_err *err)
{
    int rc = kiln_buf_putc(b, '[', err);
    for (size_t i = 0; !rc && i < v->len; i++)
        if (!(rc = i ? kiln_buf_putc(b, ',', err) : 0))
            rc = put_str(b, v->items[i], err);
    return rc ? rc : kiln_buf_putc(b, ']', err);
}

static void iso(int64_t secs, char out[32]) { kiln_ts_format(secs * 1000000, out); }

/* The JSON runs report of dag (NULL = all), parsed. */
static int runs_load(kiln_flow_project *p, const char *dag, json_t **out, kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    *out = NULL;
    int rc = kiln_flow_runs_report(p, dag, 1, &b, err);
    if (!rc) {
        json_error_t je;
        *out = json_loadb(b.data ? b.data : "[]", b.len, 0, &je);
        if (!*out || !json_is_array(*out))
            rc = kiln_err_set(err, KILN_EINTERNAL, "runs report is not a JSON array: %s", je.text);
    }
    kiln_buf_free(&b);
    return rc;
}

static const char *jstr(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* The run of the report whose logical date is the same instant as when. */
static json_t *run_find(json_t *runs, const kiln_flow_dag *d, int64_t when)
{
    size_t i;
    json_t *r;
    json_array_foreach(runs, i, r)
    {
        int64_t t;
        kiln_err e = {0};
        const char *ld = jstr(r, "logical_date");
        if (ld && kiln_flow_parse_date(d, ld, &t, &e) == 0 && t == when)
            return r;
    }
    return NULL;
}

/* The run of DAG d at `when` (URL segment seg), from *runs loaded here (the
 * caller frees *runs); NULL when the error was answered. */
static json_t *run_get(kiln_serve_resp *rs, kiln_flow_project *p, const kiln_flow_dag *d, const char *seg, int64_t when,
                       json_t **runs)
{
    kiln_err err = {0};
    if (runs_load(p, d->id, runs, &err)) {
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
        return NULL;
    }
    json_t *r = run_find(*runs, d, when);
    if (!r)
        kiln_serve__error(rs, 404, "NoSuchRunException", "DAG '%s' has no run for %s", d->id, seg);
    return r;
}

/* Write a parsed JSON value back out (strings through the one writer). */
static int put_json(kiln_buf *b, const json_t *v, kiln_err *err)
{
    int rc = 0;
    if (json_is_string(v))
        return kiln_json_write_str(b, json_string_value(v), json_string_length(v), err);
    if (json_is_integer(v))
        return kiln_buf_printf(b, err, "%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return kiln_buf_printf(b, err, "%.17g", json_real_value(v));
    if (json_is_true(v))
        return kiln_buf_printf(b, err, "true");
    if (json_is_false(v))
        return kiln_buf_printf(b, err, "false");
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        rc = kiln_buf_putc(b, '[', err);
        json_array_foreach(v, i, x)
        {
            if (!rc && i)
                rc = kiln_buf_putc(b, ',', err);
            if (!rc)
                rc = put_json(b, x, err);
        }
        return rc ? rc : kiln_buf_putc(b, ']', err);
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        int n = 0;
        rc = kiln_buf_putc(b, '{', err);
        json_object_foreach((json_t *)v, k, x)
        {
            if (!rc && n++)
                rc = kiln_buf_putc(b, ',', err);
            if (!rc)
                rc = put_str(b, k, err);
            if (!rc)
                rc = kiln_buf_putc(b, ':', err);
            if (!rc)
                rc = put_json(b, x, err);
        }
        return rc ? rc : kiln_buf_putc(b, '}', err);
    }
    return kiln_buf_printf(b, err, "null");
}

/* Parse the date segment; -1 after answering 400. */
static int seg_date(kiln_serve_resp *rs, const kiln_flow_dag *d, const char *s, int64_t *out)
{
    kiln_err err = {0};
    if (kiln_flow_parse_date(d, s, out, &err)) {
        kiln_serve__error(rs, 400, "BadRequestException", "%s", err.msg);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ GET */

static int dag_summary(kiln_buf *b, kiln_flow_project *p, const kiln_flow_dag *d, kiln_err *err)
{
    int paused = 0;
    int rc = kiln_flow_dag_paused(p, d->id, &paused, err);
    if (!rc)
        rc = put_kv(b, "dag_id", d->id, 0, err);
    if (!rc)
        rc = put_kv(b, "schedule", d->schedule, 1, err);
    if (!rc)
        rc = put_kv(b, "timezone", d->timezone, 1, err);
    if (!rc)
        rc = put_kv(b, "file", d->path, 1, err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"paused\":%s,\"catchup\":%s,\"max_active_runs\":%d,\"tags\":",
                             paused ? "true" : "false", d->catchup ? "true" : "false", d->max_active_runs);
    if (!rc)
        rc = put_strv(b, &d->tags, err);
    int64_t next = 0, now = kiln_now_micros() / 1000000;
    char nx[32];
    if (!rc && d->has_cron && kiln_cron_next(&d->cron, now, &next) == 0 && (!d->end_date || next <= d->end_date)) {
        iso(next, nx);
        rc = put_kv(b, "next_run_at", nx, 1, err);
    } else if (!rc) {
        rc = kiln_buf_printf(b, err, ",\"next_run_at\":null");
    }
    return rc;
}

int kiln_serve__api_dags(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    json_t *runs = NULL;
    kiln_err err = {0};
    if (project_open(rq, rs, &p))
        return 0;
    kiln_buf *b = &rs->body;
    int rc = runs_load(p, NULL, &runs, &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, "{\"project\":");
    if (!rc)
        rc = put_str(b, p->dir, &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, ",\"dags\":[");
    for (size_t i = 0; !rc && i < p->ndags; i++) {
        const kiln_flow_dag *d = p->dags[i];
        if ((rc = kiln_buf_printf(b, &err, "%s{", i ? "," : "")) || (rc = dag_summary(b, p, d, &err)) ||
            (rc = kiln_buf_printf(b, &err, ",\"tasks\":%zu,\"runs\":", d->ntasks)))
            break;
        /* the report is ordered by dag, logical date: this DAG's last RECENT_RUNS */
        size_t k, n = 0, first = 0;
        json_t *r;
        json_array_foreach(runs, k, r) if (strcmp(jstr(r, "dag") ? jstr(r, "dag") : "", d->id) == 0) n++;
        int total = (int)n;
        n = 0;
        if ((rc = kiln_buf_printf(b, &err, "%d,\"recent_runs\":[", total)))
            break;
        json_array_foreach(runs, k, r)
        {
            if (rc || strcmp(jstr(r, "dag") ? jstr(r, "dag") : "", d->id) != 0)
                continue;
            if (n++ < (size_t)(total > RECENT_RUNS ? total - RECENT_RUNS : 0))
                continue;
            if ((rc = kiln_buf_printf(b, &err, "%s{", first++ ? "," : "")) ||
                (rc = put_kv(b, "logical_date", jstr(r, "logical_date"), 0, &err)) ||
                (rc = put_kv(b, "run_id", jstr(r, "run_id"), 1, &err)) ||
                (rc = put_kv(b, "state", jstr(r, "state"), 1, &err)) || (rc = kiln_buf_putc(b, '}', &err)))
                break;
        }
        if (!rc)
            rc = kiln_buf_printf(b, &err, "]}");
    }
    if (!rc)
        rc = kiln_buf_printf(b, &err, "],\"problems\":");
    if (!rc)
        rc = put_strv(b, &p->diags, &err);
    if (!rc)
        rc = kiln_buf_putc(b, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
    json_decref(runs);
    kiln_flow_project_free(p);
    return 0;
}

static int task_def(kiln_buf *b, const kiln_flow_task *t, kiln_err *err)
{
    int rc = put_kv(b, "task_id", t->id, 0, err);
    if (!rc)
        rc = put_kv(b, "type", t->type, 1, err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"needs\":");
    if (!rc)
        rc = put_strv(b, &t->needs, err);
    if (!rc)
        rc = put_kv(b, "trigger_rule", kiln_flow_trigger_name(t->trigger), 1, err);
    if (!rc)
        rc = put_kv(b, "pool", t->pool, 1, err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"retries\":%d,\"timeout_ms\":%lld,\"produces\":", t->retries,
                             (long long)t->timeout_ms);
    if (!rc)
        rc = put_strv(b, &t->produces, err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"consumes\":");
    if (!rc)
        rc = put_strv(b, &t->consumes, err);
    return rc;
}

/* The runs of d as a JSON value appended to b: every run (oldest first),
 * or with ?limit=N (1..1000) and ?offset=M one page counted from the
 * newest run (offset 0 = the latest N), still oldest first within the
 * page, followed by ,"total_runs":T,"offset":M,"limit":N. 1 after
 * answering 400. */
static int runs_page(kiln_serve_req *rq, kiln_serve_resp *rs, kiln_flow_project *p, const kiln_flow_dag *d,
                     kiln_err *err)
{
    const char *ls = kiln_serve__query(rq, "limit"), *os = kiln_serve__query(rq, "offset");
    if (!ls && !os)
        return kiln_flow_runs_report(p, d->id, 1, &rs->body, err);
    char *e1 = NULL, *e2 = NULL;
    long limit = ls ? strtol(ls, &e1, 10) : 30, offset = os ? strtol(os, &e2, 10) : 0;
    if ((ls && (!*ls || *e1 || limit < 1 || limit > 1000)) ||
        (os && (!*os || *e2 || offset < 0 || offset > 100000000))) {
        kiln_serve__error(rs, 400, "BadRequestException", "limit must be 1..1000 and offset a number >= 0");
        return 1;
    }
    json_t *runs = NULL;
    int rc = runs_load(p, d->id, &runs, err);
    if (rc)
        return rc;
    size_t n = json_array_size(runs);
    size_t hi = (size_t)offset >= n ? 0 : n - (size_t)offset;
    size_t lo = hi > (size_t)limit ? hi - (size_t)limit : 0;
    rc = kiln_buf_putc(&rs->body, '[', err);
    for (size_t i = lo; !rc && i < hi; i++) {
        char *t = json_dumps(json_array_get(runs, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!t)
            rc = KILN_OOM(err);
        else
            rc = kiln_buf_printf(&rs->body, err, "%s%s", i > lo ? "," : "", t);
        free(t);
    }
    if (!rc)
        rc = kiln_buf_printf(&rs->body, err, "],\"total_runs\":%zu,\"offset\":%ld,\"limit\":%ld,\"run_states\":{", n,
                             offset, limit);
    /* runs by state over every run, not just this page (backfill progress) */
    json_t *by = json_object();
    size_t i;
    json_t *r;
    if (!by && !rc)
        rc = KILN_OOM(err);
    json_array_foreach(runs, i, r)
    {
        const char *st = jstr(r, "state");
        if (rc || !st)
            continue;
        json_int_t c = json_integer_value(json_object_get(by, st));
        if (json_object_set_new(by, st, json_integer(c + 1)))
            rc = KILN_OOM(err);
    }
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(by, k, v)
    {
        if (rc)
            break;
        if (!(rc = kiln_buf_printf(&rs->body, err, "%s", first ? "" : ",")) && !(rc = put_str(&rs->body, k, err)))
            rc = kiln_buf_printf(&rs->body, err, ":%" JSON_INTEGER_FORMAT, json_integer_value(v));
        first = 0;
    }
    if (!rc)
        rc = kiln_buf_putc(&rs->body, '}', err);
    json_decref(by);
    json_decref(runs);
    return rc;
}

int kiln_serve__api_dag(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    if (project_open(rq, rs, &p))
        return 0;
    if (need_dag(rs, p, rq->segs[3], &d))
        goto out;
    kiln_buf *b = &rs->body;
    int rc = kiln_buf_putc(b, '{', &err);
    if (!rc)
        rc = dag_summary(b, p, d, &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, ",\"tasks\":[");
    for (size_t i = 0; !rc && i < d->ntasks; i++)
        if (!(rc = kiln_buf_printf(b, &err, "%s{", i ? "," : "")) && !(rc = task_def(b, &d->tasks[i], &err)))
            rc = kiln_buf_putc(b, '}', &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, "],\"runs\":");
    if (!rc && (rc = runs_page(rq, rs, p, d, &err)) == 1)
        goto out;
    if (!rc)
        rc = kiln_buf_putc(b, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
out:
    kiln_flow_project_free(p);
    return 0;
}

int kiln_serve__api_runs(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    if (project_open(rq, rs, &p))
        return 0;
    if (need_dag(rs, p, rq->segs[3], &d))
        goto out;
    int rc = kiln_buf_printf(&rs->body, &err, "{\"runs\":");
    if (!rc && (rc = runs_page(rq, rs, p, d, &err)) == 1)
        goto out;
    if (!rc)
        rc = kiln_buf_putc(&rs->body, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
out:
    kiln_flow_project_free(p);
    return 0;
}

int kiln_serve__api_run(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    const kiln_flow_dag *d;
    json_t *runs = NULL;
    kiln_err err = {0};
    int64_t when;
    if (project_open(rq, rs, &p))
        return 0;
    if (need_dag(rs, p, rq->segs[3], &d) || seg_date(rs, d, rq->segs[5], &when))
        goto out;
    json_t *r = run_get(rs, p, d, rq->segs[5], when, &runs);
    if (!r)
        goto out;
    if (put_json(&rs->body, r, &err))
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
out:
    json_decref(runs);
    kiln_flow_project_free(p);
    return 0;
}

int kiln_serve__api_task(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    const kiln_flow_dag *d;
    json_t *runs = NULL;
    kiln_err err = {0};
    int64_t when;
    if (project_open(rq, rs, &p))
        return 0;
    if (need_dag(rs, p, rq->segs[3], &d) || seg_date(rs, d, rq->segs[5], &when))
        goto out;
    long k = kiln_flow_dag_task(d, rq->segs[7]);
    if (k < 0) {
        kiln_serve__error(rs, 404, "NoSuchTaskException", "DAG '%s' has no task '%s'", d->id, rq->segs[7]);
        goto out;
    }
    json_t *r = run_get(rs, p, d, rq->segs[5], when, &runs), *ti = NULL;
    if (!r)
        goto out;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(r, "tasks"), i,
                       x) if (!ti && strcmp(jstr(x, "task") ? jstr(x, "task") : "", d->tasks[k].id) == 0) ti = x;
    kiln_buf *b = &rs->body;
    int rc = kiln_buf_printf(b, &err, "{\"dag_id\":");
    if (!rc)
        rc = put_str(b, d->id, &err);
    if (!rc)
        rc = put_kv(b, "logical_date", jstr(r, "logical_date"), 1, &err);
    if (!rc)
        rc = put_kv(b, "run_id", jstr(r, "run_id"), 1, &err);
    if (!rc)
        rc = put_kv(b, "run_state", jstr(r, "state"), 1, &err);
    /* a task the run has not reached yet has no instance: state null */
    if (!rc)
        rc = put_kv(b, "state", ti ? jstr(ti, "state") : NULL, 1, &err);
    if (!rc)
        rc = put_kv(b, "note", ti ? jstr(ti, "note") : NULL, 1, &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, ",\"task\":{");
    if (!rc)
        rc = task_def(b, &d->tasks[k], &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, "},\"tries\":");
    if (!rc)
        rc = kiln_flow_tries_json(p, d->id, d->tasks[k].id, when, b, &err);
    if (!rc)
        rc = kiln_buf_putc(b, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
out:
    json_decref(runs);
    kiln_flow_project_free(p);
    return 0;
}

/* Long-ish query numbers: -1 after answering 400. */
static int query_num(kiln_serve_req *rq, kiln_serve_resp *rs, const char *name, long long max, long long *out)
{
    const char *v = kiln_serve__query(rq, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || !*v || *end || x < 0 || x > max) {
        kiln_serve__error(rs, 400, "BadRequestException", "%s must be an integer 0..%lld", name, max);
        return -1;
    }
    *out = x;
    return 0;
}

/* Bytes [*from, *to) of a file, cut back to whole UTF-8 sequences so a
 * tail read in pieces never splits a character. */
static void utf8_bounds(const unsigned char *s, size_t n, size_t *lead, size_t *keep)
{
    size_t a = 0;
    while (a < n && a < 3 && (s[a] & 0xC0) == 0x80)
        a++;
    size_t e = n;
    for (size_t back = 1; back <= 3 && back <= n - a; back++) {
        unsigned char c = s[n - back];
        if ((c & 0xC0) == 0x80)
            continue;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (need > back)
            e = n - back;
        break;
    }
    *lead = a;
    *keep = e > a ? e : a;
}

int kiln_serve__api_log(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    char *path = NULL, *buf = NULL;
    int fd = -1;
    int64_t when;
    long long try_number = 0, offset = -1;
    if (query_num(rq, rs, "try", 100000, &try_number) || query_num(rq, rs, "offset", (long long)1 << 50, &offset))
        return 0;
    if (!kiln_serve__query(rq, "offset"))
        offset = -1;
    if (project_open(rq, rs, &p))
        return 0;
    if (need_dag(rs, p, rq->segs[3], &d) || seg_date(rs, d, rq->segs[5], &when))
        goto out;
    if (kiln_flow_log_path(p, d->id, rq->segs[7], when, (int)try_number, &path, &err)) {
        kiln_serve__error_kiln(rs, &err, "NoSuchLogException");
        goto out;
    }
    /* the try number is the path's last "try-N.log" (DAG/DATE/TASK.try-N.log,
     * or DAG/TASK/DATE/try-N.log for a try recorded before that layout) */
    const char *tn = NULL;
    for (const char *c = strstr(path, "try-"); c; c = strstr(c + 1, "try-"))
        tn = c;
    int got_try = 0;
    if (!tn || sscanf(tn, "try-%d.log", &got_try) != 1)
        got_try = (int)try_number;
    struct stat st;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) { /* the try started but wrote nothing yet */
        rs->status = 200;
        kiln_buf_printf(&rs->body, &err, "{\"try_number\":%d,\"offset\":0,\"next_offset\":0,\"size\":0,\"text\":\"\"}",
                        got_try);
        goto out;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        kiln_serve__error(rs, 500, "ServerErrorException", "cannot read the log of %s.%s: %s", d->id, rq->segs[7],
                          strerror(errno));
        goto out;
    }
    size_t size = (size_t)st.st_size;
    size_t from =
        offset < 0 ? (size > LOG_CHUNK ? size - LOG_CHUNK : 0) : ((size_t)offset > size ? size : (size_t)offset);
    size_t n = size - from > LOG_CHUNK ? LOG_CHUNK : size - from;
    if (!(buf = kiln_malloc(n + 1))) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
        goto out;
    }
    ssize_t got = n ? pread(fd, buf, n, (off_t)from) : 0;
    if (got < 0) {
        kiln_serve__error(rs, 500, "ServerErrorException", "reading the log: %s", strerror(errno));
        goto out;
    }
    size_t lead = 0, keep = (size_t)got;
    if (got)
        utf8_bounds((unsigned char *)buf, (size_t)got, &lead, &keep);
    if (offset >= 0)
        lead = 0; /* a client continuing a tail asked for exactly this byte */
    if (keep < lead)
        keep = lead;
    int rc = kiln_buf_printf(&rs->body, &err,
                             "{\"try_number\":%d,\"offset\":%zu,\"next_offset\":%zu,\"size\":%zu,\"text\":", got_try,
                             from + lead, from + keep, size);
    if (!rc)
        rc = kiln_json_write_str(&rs->body, buf + lead, keep - lead, &err);
    if (!rc)
        rc = kiln_buf_putc(&rs->body, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
out:
    if (fd >= 0)
        close(fd);
    kiln_free(buf);
    kiln_free(path);
    kiln_flow_project_free(p);
    return 0;
}

/* ------------------------------------------------------------------ lineage */

/* The Iceberg table an asset names: "iceberg://WAREHOUSE/ns.t" or a bare
 * "ns.t"; NULL for anything else (files, URLs). */
static const char *asset_table(const char *a)
{
    if (strncmp(a, "iceberg://", 10) == 0) {
        const char *s = strrchr(a + 10, '/');
        return s && strchr(s + 1, '.') ? s + 1 : NULL;
    }
    const char *dot = strchr(a, '.');
    if (!dot || dot == a || !dot[1] || strchr(dot + 1, '.'))
        return NULL;
    for (const char *c = a; *c; c++)
        if (!(*c == '.' || *c == '_' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9')))
            return NULL;
    return a;
}

typedef kiln_serve_ol_job ol_last;

int kiln_serve__lineage_scan(const kiln_flow_project *p, kiln_map *last, kiln_err *err)
{
    if (!p->lineage_file)
        return 0;
    int fd = open(p->lineage_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kiln_err_set(err, KILN_EIO, "%s: %s", p->lineage_file, strerror(errno));
    struct stat st;
    char *buf = NULL;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", p->lineage_file, strerror(errno));
        goto done;
    }
    size_t size = (size_t)st.st_size, from = size > LINEAGE_CAP ? size - LINEAGE_CAP : 0, n = size - from;
    if (!(buf = kiln_malloc(n + 1))) {
        rc = KILN_OOM(err);
        goto done;
    }
    ssize_t got = n ? pread(fd, buf, n, (off_t)from) : 0;
    if (got < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", p->lineage_file, strerror(errno));
        goto done;
    }
    buf[got] = 0;
    char *line = buf;
    if (from) { /* started mid-line */
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : buf + got;
    }
    while (!rc && *line) {
        char *nl = strchr(line, '\n');
        if (!nl)
            break; /* an event being appended */
        json_t *ev = json_loadb(line, (size_t)(nl - line), 0, NULL);
        const char *job = ev ? jstr(json_object_get(ev, "job"), "name") : NULL;
        const char *type = ev ? jstr(ev, "eventType") : NULL, *t = ev ? jstr(ev, "eventTime") : NULL;
        if (job && type && t) {
            ol_last *l = kiln_map_get(last, job, strlen(job));
            if (!l) {
                if (!(l = kiln_calloc(1, sizeof *l)))
                    rc = KILN_OOM(err);
                else if ((rc = kiln_map_put(last, job, strlen(job), l, err)))
                    kiln_free(l);
            }
            if (!rc && l) {
                snprintf(l->type, sizeof l->type, "%s", type);
                snprintf(l->time, sizeof l->time, "%s", t);
                l->events++;
                int64_t us;
                if (strcmp(type, "COMPLETE") == 0 && kiln_ts_parse(t, strlen(t), &us) == 0 && us > l->complete_us)
                    l->complete_us = us;
            }
        }
        json_decref(ev);
        line = nl + 1;
    }
done:
    kiln_free(buf);
    close(fd);
    return rc;
}

int kiln_serve__asset_times(const kiln_flow_project *p, const kiln_map *jobs, kiln_map *assets, kiln_err *err)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < p->ndags; i++)
        for (size_t k = 0; !rc && k < p->dags[i]->ntasks; k++) {
            const kiln_flow_task *t = &p->dags[i]->tasks[k];
            char *job = kiln_sprintf("%s.%s", p->dags[i]->id, t->id);
            if (!job)
                return KILN_OOM(err);
            const ol_last *l = kiln_map_get(jobs, job, strlen(job));
            kiln_free(job);
            for (size_t a = 0; l && l->complete_us > 0 && !rc && a < t->produces.len; a++) {
                const char *as = t->produces.items[a];
                uintptr_t prev = (uintptr_t)kiln_map_get(assets, as, strlen(as));
                if ((uintptr_t)l->complete_us > prev)
                    rc = kiln_map_put(assets, as, strlen(as), (void *)(uintptr_t)l->complete_us, err);
            }
        }
    return rc;
}

int kiln_serve__api_lineage(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p;
    kiln_err err = {0};
    if (project_open(rq, rs, &p))
        return 0;
    kiln_map *last = kiln_map_new(), *seen = kiln_map_new();
    kiln_buf edges;
    kiln_buf_init(&edges, 0);
    kiln_buf *b = &rs->body;
    kiln_map *mat = kiln_map_new();
    int rc = (!last || !seen || !mat) ? KILN_OOM(&err) : kiln_serve__lineage_scan(p, last, &err);
    if (!rc)
        rc = kiln_serve__asset_times(p, last, mat, &err);
    int nnodes = 0, nedges = 0;
    if (!rc)
        rc = kiln_buf_printf(b, &err, "{\"nodes\":[");
    for (size_t i = 0; !rc && i < p->ndags; i++) {
        const kiln_flow_dag *d = p->dags[i];
        for (size_t k = 0; !rc && k < d->ntasks; k++) {
            const kiln_flow_task *t = &d->tasks[k];
            char *job = kiln_sprintf("%s.%s", d->id, t->id);
            if (!job) {
                rc = KILN_OOM(&err);
                break;
            }
            ol_last *l = kiln_map_get(last, job, strlen(job));
            char *jid = kiln_sprintf("job:%s", job);
            rc = jid ? kiln_buf_printf(b, &err, "%s{\"id\":", nnodes++ ? "," : "") : KILN_OOM(&err);
            if (!rc)
                rc = put_str(b, jid, &err); /* DAG and task ids are file text: through the writer */
            kiln_free(jid);
            if (!rc)
                rc = put_kv(b, "kind", "job", 1, &err);
            if (!rc)
                rc = put_kv(b, "name", job, 1, &err);
            if (!rc)
                rc = put_kv(b, "dag_id", d->id, 1, &err);
            if (!rc)
                rc = put_kv(b, "task_id", t->id, 1, &err);
            if (!rc && l)
                rc = kiln_buf_printf(b, &err, ",\"last_event\":{\"type\":\"%s\",\"time\":\"%s\"},\"events\":%d",
                                     l->type, l->time, l->events);
            if (!rc)
                rc = kiln_buf_putc(b, '}', &err);
            /* datasets: consumes -> job -> produces */
            for (int dir = 0; !rc && dir < 2; dir++) {
                const kiln_flow_strv *v = dir ? &t->produces : &t->consumes;
                for (size_t a = 0; !rc && a < v->len; a++) {
                    const char *as = v->items[a];
                    char *dsid = kiln_sprintf("dataset:%s", as), *jid = kiln_sprintf("job:%s", job);
                    if (!dsid || !jid)
                        rc = KILN_OOM(&err);
                    if (!rc && !kiln_map_has(seen, dsid, strlen(dsid))) {
                        const char *tbl = asset_table(as);
                        rc = kiln_map_put(seen, dsid, strlen(dsid), NULL, &err);
                        if (!rc)
                            rc = kiln_buf_printf(b, &err, ",{\"id\":");
                        if (!rc)
                            rc = put_str(b, dsid, &err);
                        if (!rc)
                            rc = put_kv(b, "kind", "dataset", 1, &err);
                        if (!rc)
                            rc = put_kv(b, "name", as, 1, &err);
                        if (!rc)
                            rc = put_kv(b, "table", tbl, 1, &err);
                        uintptr_t at = (uintptr_t)kiln_map_get(mat, as, strlen(as));
                        char ts[32];
                        if (at)
                            kiln_ts_format((int64_t)at, ts);
                        if (!rc)
                            rc = put_kv(b, "last_materialized", at ? ts : NULL, 1, &err);
                        if (!rc)
                            rc = kiln_buf_putc(b, '}', &err);
                        nnodes++;
                    }
                    if (!rc)
                        rc = kiln_buf_printf(&edges, &err, "%s{\"from\":", nedges++ ? "," : "");
                    if (!rc)
                        rc = put_str(&edges, dir ? jid : dsid, &err);
                    if (!rc)
                        rc = kiln_buf_printf(&edges, &err, ",\"to\":");
                    if (!rc)
                        rc = put_str(&edges, dir ? dsid : jid, &err);
                    if (!rc)
                        rc = kiln_buf_printf(&edges, &err, ",\"kind\":\"%s\"}", dir ? "output" : "input");
                    kiln_free(dsid);
                    kiln_free(jid);
                }
            }
            /* task order inside the DAG */
            for (size_t u = 0; !rc && u < t->nup; u++) {
                char *from = kiln_sprintf("job:%s.%s", d->id, d->tasks[t->up[u]].id), *to = kiln_sprintf("job:%s", job);
                if (!from || !to)
                    rc = KILN_OOM(&err);
                if (!rc)
                    rc = kiln_buf_printf(&edges, &err, "%s{\"from\":", nedges++ ? "," : "");
                if (!rc)
                    rc = put_str(&edges, from, &err);
                if (!rc)
                    rc = kiln_buf_printf(&edges, &err, ",\"to\":");
                if (!rc)
                    rc = put_str(&edges, to, &err);
                if (!rc)
                    rc = kiln_buf_printf(&edges, &err, ",\"kind\":\"needs\"}");
                kiln_free(from);
                kiln_free(to);
            }
            kiln_free(job);
        }
    }
    if (!rc)
        rc = kiln_buf_printf(b, &err, "],\"edges\":[");
    if (!rc && edges.len)
        rc = kiln_buf_append(b, edges.data, edges.len, &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, "],\"lineage_file\":");
    if (!rc)
        rc = put_str(b, p->lineage_file, &err);
    if (!rc)
        rc = kiln_buf_putc(b, '}', &err);
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (last && kiln_map_next(last, &pos, &k, &kl, &v))
        kiln_free(v);
    kiln_map_free(last);
    kiln_map_free(seen);
    kiln_map_free(mat);
    kiln_buf_free(&edges);
    kiln_flow_project_free(p);
    return 0;
}

/* ------------------------------------------------------------------ actions */

static void *reap(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* `kiln dags run DAG --date D --project-dir P` in a child; *pid_out. */
static int spawn_run(kiln_server *s, const kiln_flow_project *p, const char *dag, const char *date, char **log_out,
                     int *pid_out, kiln_err *err)
{
    int64_t now = kiln_now_micros();
    char *log = kiln_sprintf("%s/logs/%s/runs/api-%lld.log", p->state_dir, dag, (long long)now);
    char *dir = log ? kiln_sprintf("%s/logs/%s/runs", p->state_dir, dag) : NULL;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = 0, fa_ok = 0, at_ok = 0;
    if (!log || !dir) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_mkdirs(dir, err)))
        goto done;
    fa_ok = posix_spawn_file_actions_init(&fa) == 0;
    at_ok = posix_spawnattr_init(&at) == 0;
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGUSR1);
    if (!fa_ok || !at_ok || posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
        posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644) ||
        posix_spawn_file_actions_adddup2(&fa, 1, 2) || posix_spawnattr_setsigmask(&at, &none) ||
        posix_spawnattr_setsigdefault(&at, &def) || posix_spawnattr_setpgroup(&at, 0) ||
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) {
        rc = kiln_err_set(err, KILN_EIO, "cannot set up the run's process");
        goto done;
    }
    char *argv[] = {s->self_exe, "dags", "run", (char *)dag, "--date", (char *)date, "--project-dir", p->dir, NULL};
    extern char **environ;
    pid_t pid;
    int e = posix_spawn(&pid, s->self_exe, &fa, &at, argv, environ);
    if (e) {
        rc = kiln_err_set(err, KILN_EIO, "cannot start %s: %s", s->self_exe, strerror(e));
        goto done;
    }
    pthread_t th;
    pthread_attr_t ta;
    pthread_attr_init(&ta);
    pthread_attr_setdetachstate(&ta, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &ta, reap, (void *)(intptr_t)pid) != 0)
        kiln_warn("no reaper thread for run pid %d: it stays a zombie until kiln serve exits", (int)pid);
    pthread_attr_destroy(&ta);
    *pid_out = (int)pid;
    *log_out = log;
    log = NULL;
done:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (at_ok)
        posix_spawnattr_destroy(&at);
    kiln_free(log);
    kiln_free(dir);
    return rc;
}

int kiln_serve__api_trigger(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p = NULL;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    char *log = NULL;
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    const char *date = jstr(j, "logical_date");
    int64_t when;
    if (!date) {
        kiln_serve__error(rs, 400, "BadRequestException", "logical_date (YYYY-MM-DD or a timestamp) is required");
        goto out;
    }
    if (!rq->srv->self_exe) {
        kiln_serve__error(rs, 503, "ServiceUnavailableException", "this server cannot start runs (no kiln binary)");
        goto out;
    }
    if (project_open(rq, rs, &p) || need_dag(rs, p, rq->segs[3], &d) || seg_date(rs, d, date, &when))
        goto out;
    char ld[32];
    iso(when, ld);
    int pid = 0;
    if (spawn_run(rq->srv, p, d->id, ld, &log, &pid, &err)) {
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
        goto out;
    }
    kiln_info("api: triggered %s for %s (pid %d, output %s)", d->id, ld, pid, log);
    int rc = kiln_buf_printf(&rs->body, &err, "{\"dag_id\":");
    if (!rc)
        rc = put_str(&rs->body, d->id, &err);
    if (!rc)
        rc = put_kv(&rs->body, "logical_date", ld, 1, &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, ",\"pid\":%d}", pid);
    rs->status = rc ? 500 : 202;
out:
    kiln_free(log);
    json_decref(j);
    kiln_flow_project_free(p);
    return 0;
}

int kiln_serve__api_clear(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p = NULL;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    const char *start = jstr(j, "start_date"), *end = jstr(j, "end_date"), *task = jstr(j, "task_id");
    json_t *tv = json_object_get(j, "task_id");
    if (!start || (tv && !json_is_null(tv) && !task)) {
        kiln_serve__error(rs, 400, "BadRequestException",
                          "start_date is required; task_id, end_date must be strings when given");
        goto out;
    }
    kiln_flow_clear_opts o = {.task = task,
                              .downstream = json_is_true(json_object_get(j, "downstream")),
                              .upstream = json_is_true(json_object_get(j, "upstream")),
                              .failed_only = json_is_true(json_object_get(j, "only_failed"))};
    if (project_open(rq, rs, &p) || need_dag(rs, p, rq->segs[3], &d) || seg_date(rs, d, start, &o.start) ||
        seg_date(rs, d, end ? end : start, &o.end))
        goto out;
    o.dag = d->id;
    int n = 0;
    if (kiln_flow_clear(p, &o, &n, &err)) {
        kiln_serve__error_kiln(rs, &err, "NoSuchTaskException");
        goto out;
    }
    kiln_info("api: cleared %d task instance(s) of %s", n, d->id);
    rs->status = 200;
    kiln_buf_printf(&rs->body, &err, "{\"cleared\":%d}", n);
out:
    json_decref(j);
    kiln_flow_project_free(p);
    return 0;
}

int kiln_serve__api_pause(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p = NULL;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    json_t *v = json_object_get(j, "paused");
    if (!json_is_boolean(v)) {
        kiln_serve__error(rs, 400, "BadRequestException", "paused must be true or false");
        goto out;
    }
    if (project_open(rq, rs, &p) || need_dag(rs, p, rq->segs[3], &d))
        goto out;
    if (kiln_flow_dag_pause(p, d->id, json_is_true(v), &err)) {
        kiln_serve__error_kiln(rs, &err, "NoSuchDagException");
        goto out;
    }
    rs->status = 200;
    int rc = kiln_buf_printf(&rs->body, &err, "{\"dag_id\":");
    if (!rc)
        rc = put_str(&rs->body, d->id, &err);
    if (!rc)
        kiln_buf_printf(&rs->body, &err, ",\"paused\":%s}", json_is_true(v) ? "true" : "false");
out:
    json_decref(j);
    kiln_flow_project_free(p);
    return 0;
}

/* POST /api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/state
 * {"state":"success"|"failed","note"?}: mark a task instance by hand. */
int kiln_serve__api_mark(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_flow_project *p = NULL;
    const kiln_flow_dag *d;
    kiln_err err = {0};
    int64_t when;
    json_t *j = kiln_serve__body_json(rq, rs);
    if (!j)
        return 0;
    const char *state = jstr(j, "state"), *note = jstr(j, "note");
    json_t *nv = json_object_get(j, "note");
    if (!state || (strcmp(state, "success") && strcmp(state, "failed")) || (nv && !json_is_null(nv) && !note)) {
        kiln_serve__error(rs, 400, "BadRequestException", "state must be \"success\" or \"failed\"; note a string");
        goto out;
    }
    if (note && strlen(note) > 500) {
        kiln_serve__error(rs, 400, "BadRequestException", "note is longer than 500 bytes");
        goto out;
    }
    if (project_open(rq, rs, &p) || need_dag(rs, p, rq->segs[3], &d) || seg_date(rs, d, rq->segs[5], &when))
        goto out;
    if (kiln_flow_dag_task(d, rq->segs[7]) < 0) {
        kiln_serve__error(rs, 404, "NoSuchTaskException", "DAG '%s' has no task '%s'", d->id, rq->segs[7]);
        goto out;
    }
    if (kiln_flow_mark(p, d->id, rq->segs[7], when, !strcmp(state, "success"), note, &err)) {
        if (err.code == KILN_ECONFLICT)
            kiln_serve__error(rs, 409, "TaskRunningException", "%s", err.msg);
        else
            kiln_serve__error_kiln(rs, &err, "NoSuchRunException");
        goto out;
    }
    char ld[32];
    iso(when, ld);
    kiln_info("api: marked %s.%s %s %s", d->id, rq->segs[7], ld, state);
    int rc = kiln_buf_printf(&rs->body, &err, "{\"dag_id\":");
    if (!rc)
        rc = put_str(&rs->body, d->id, &err);
    if (!rc)
        rc = put_kv(&rs->body, "task_id", rq->segs[7], 1, &err);
    if (!rc)
        rc = put_kv(&rs->body, "logical_date", ld, 1, &err);
    if (!rc)
        rc = put_kv(&rs->body, "state", state, 1, &err);
    if (!rc)
        rc = kiln_buf_putc(&rs->body, '}', &err);
    rs->status = rc ? 500 : 200;
out:
    json_decref(j);
    kiln_flow_project_free(p);
    return 0;
}
