/*
 * serve_metrics.c - the server's counters and the /metrics endpoint in
 * Prometheus text exposition format 0.0.4.
 *
 * Series kept in memory (one mutex; a request touches it once):
 *   kiln_http_requests_total{method,route,status}            counter
 *   kiln_http_request_duration_seconds{method,route,status}  histogram
 *   kiln_catalog_commits_total{result}                       counter (REST catalog commits: ok|conflict|error)
 *   kiln_webhook_deliveries_total{event,result}              counter
 *   kiln_webhook_ingest_runs_total{result}                   counter (micro-batch loads: ok|error)
 *   kiln_webhook_ingest_last_success_timestamp_seconds       gauge
 * and read from the catalog at scrape time:
 *   kiln_table_last_commit_timestamp_seconds{table}          gauge (metadata last-updated-ms)
 *   kiln_table_snapshots{table}                              gauge
 * Label values are route patterns and fixed words, never raw client text,
 * so cardinality is bounded (methods outside the usual set become OTHER).
 */
#include "lake/lake.h"
#include "flow/flow.h"
#include "serve/serve_int.h"

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#define MAX_HTTP_SERIES 512
#define MAX_HOOK_SERIES 64

static const double buckets[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

typedef struct http_series {
    const char *method; /* static */
    const char *route;  /* static (route table) */
    int status;
    uint64_t count;
    uint64_t bucket[NBUCKETS]; /* cumulative at render, per-bucket here */
    double sum;
} http_series;

typedef struct hook_series {
    char event[24];
    const char *result; /* static */
    uint64_t count;
} hook_series;

struct kiln_serve_metrics {
    pthread_mutex_t lock;
    http_series http[MAX_HTTP_SERIES];
    size_t nhttp;
    hook_series hook[MAX_HOOK_SERIES];
    size_t nhook;
    uint64_t commits_ok, commits_conflict, commits_error;
    uint64_t ingest_ok, ingest_error;
    int64_t ingest_last_ok_us;
    uint64_t ingest_bytes_webhooks;
    int64_t start_us;
};

int kiln_serve__metrics_new(kiln_serve_metrics **out, kiln_err *err)
{
    kiln_serve_metrics *m = kiln_malloc(sizeof *m);
    if (!m)
        return KILN_OOM(err);
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->start_us = kiln_now_micros();
    *out = m;
    return 0;
}

void kiln_serve__metrics_free(kiln_serve_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    kiln_free(m);
}

static const char *norm_method(const char *m)
{
    static const char *known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "OTHER";
}

void kiln_serve__metrics_http(kiln_serve_metrics *m, const char *method, const char *route, int status, double seconds)
{
    const char *meth = norm_method(method);
    pthread_mutex_lock(&m->lock);
    http_series *s = NULL;
    for (size_t i = 0; i < m->nhttp; i++)
        if (m->http[i].method == meth && m->http[i].route == route && m->http[i].status == status) {
            s = &m->http[i];
            break;
        }
    if (!s && m->nhttp < MAX_HTTP_SERIES) {
        s = &m->http[m->nhttp++];
        s->method = meth;
        s->route = route;
        s->status = status;
    }
    if (s) {
        s->count++;
        s->sum += seconds;
        for (size_t b = 0; b < NBUCKETS; b++)
            if (seconds <= buckets[b]) {
                s->bucket[b]++;
                break;
            }
    }
    pthread_mutex_unlock(&m->lock);
}

void kiln_serve__metrics_commit(kiln_serve_metrics *m, const char *result)
{
    pthread_mutex_lock(&m->lock);
    if (strcmp(result, "ok") == 0)
        m->commits_ok++;
    else if (strcmp(result, "conflict") == 0)
        m->commits_conflict++;
    else
        m->commits_error++;
    pthread_mutex_unlock(&m->lock);
}

void kiln_serve__metrics_ingest(kiln_serve_metrics *m, int ok)
{
    pthread_mutex_lock(&m->lock);
    if (ok) {
        m->ingest_ok++;
        m->ingest_last_ok_us = kiln_now_micros();
    } else {
        m->ingest_error++;
    }
    pthread_mutex_unlock(&m->lock);
}

void kiln_serve__metrics_ingest_bytes(kiln_serve_metrics *m, uint64_t n)
{
    pthread_mutex_lock(&m->lock);
    m->ingest_bytes_webhooks += n;
    pthread_mutex_unlock(&m->lock);
}

void kiln_serve__metrics_hook(kiln_serve_metrics *m, const char *event, const char *result)
{
    /* the event name comes from a header: keep known names, fold the rest */
    const char *ev = (strcmp(event, "push") == 0 || strcmp(event, "ping") == 0) ? event : "other";
    pthread_mutex_lock(&m->lock);
    hook_series *s = NULL;
    for (size_t i = 0; i < m->nhook; i++)
        if (strcmp(m->hook[i].event, ev) == 0 && strcmp(m->hook[i].result, result) == 0) {
            s = &m->hook[i];
            break;
        }
    if (!s && m->nhook < MAX_HOOK_SERIES) {
        s = &m->hook[m->nhook++];
        snprintf(s->event, sizeof s->event, "%s", ev);
        s->result = result;
    }
    if (s)
        s->count++;
    pthread_mutex_unlock(&m->lock);
}

/* ------------------------------------------------------------------ render */

typedef struct table_scrape {
    kiln_lake_catalog *cat;
    kiln_buf *ts, *snaps, *rows;
} table_scrape;

/* A number from the summary of the table's current snapshot, or -1. */
static int64_t current_summary(const kiln_lake_meta *m, const char *key)
{
    for (size_t i = 0; i < m->nsnapshots; i++) {
        const kiln_lake_snapshot *sn = &m->snapshots[i];
        if (sn->snapshot_id != m->current_snapshot_id)
            continue;
        const char *v = kiln_lake_snapshot_summary(sn, key);
        char *end;
        long long n = v ? strtoll(v, &end, 10) : -1;
        return v && *v && !*end && n >= 0 ? (int64_t)n : -1;
    }
    return -1;
}

static int scrape_table(void *ctx, const char *name, const char *loc)
{
    (void)loc;
    table_scrape *sc = ctx;
    kiln_err err = {0};
    kiln_lake_table *t = NULL;
    if (kiln_lake_table_load(&t, sc->cat, name, &err) != 0)
        return 0; /* dropped or broken meanwhile: skip, a scrape must not fail on one table */
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    /* table names are [A-Za-z0-9_-] parts joined by '.': no escaping needed */
    int rc = kiln_buf_printf(sc->ts, &err, "kiln_table_last_commit_timestamp_seconds{table=\"%s\"} %.3f\n", name,
                             (double)m->last_updated_ms / 1e3);
    if (!rc)
        rc = kiln_buf_printf(sc->snaps, &err, "kiln_table_snapshots{table=\"%s\"} %zu\n", name, m->nsnapshots);
    /* rows of main's head (its snapshot summary); 0 for a table with no snapshot. Its data files are
     * kiln_table_data_files of the maintenance families below (counted from the manifests). */
    int64_t rows = m->current_snapshot_id < 0 ? 0 : current_summary(m, "total-records");
    if (!rc && rows >= 0)
        rc = kiln_buf_printf(sc->rows, &err, "kiln_table_rows{table=\"%s\"} %lld\n", name, (long long)rows);
    kiln_lake_table_free(t);
    return rc;
}

static int render_tables(kiln_server *s, kiln_buf *out, kiln_err *err)
{
    kiln_lake_catalog *cat = NULL;
    kiln_buf ts, snaps, rows;
    kiln_buf_init(&ts, 0);
    kiln_buf_init(&snaps, 0);
    kiln_buf_init(&rows, 0);
    int rc = kiln_lake_catalog_open(&cat, s->warehouse, KILN_LAKE_CATALOG_SQLITE, err);
    if (!rc) {
        table_scrape sc = {cat, &ts, &snaps, &rows};
        rc = kiln_lake_table_list(cat, NULL, scrape_table, &sc, err);
    }
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_table_last_commit_timestamp_seconds When the table's metadata last changed "
                             "(Unix time).\n# TYPE kiln_table_last_commit_timestamp_seconds gauge\n");
    if (!rc && ts.len)
        rc = kiln_buf_append(out, ts.data, ts.len, err);
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_table_snapshots Snapshots in the table's metadata.\n"
                             "# TYPE kiln_table_snapshots gauge\n");
    if (!rc && snaps.len)
        rc = kiln_buf_append(out, snaps.data, snaps.len, err);
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_table_rows Rows in the table's current snapshot (its total-records "
                             "summary), whoever wrote them.\n# TYPE kiln_table_rows gauge\n");
    if (!rc && rows.len)
        rc = kiln_buf_append(out, rows.data, rows.len, err);
    kiln_lake_catalog_free(cat);
    kiln_buf_free(&ts);
    kiln_buf_free(&snaps);
    kiln_buf_free(&rows);
    return rc;
}

/* ---- table maintenance families (issue 20; kiln_lake_table_file_stats,
 * docs/maintenance.md): live files, small files, delete files and bytes of
 * main's head, and when kiln last compacted the table. */
enum { TF_DATA, TF_SMALL, TF_DEL, TF_DBYTES, TF_DELBYTES, TF_COMPACT, TF_N };
static const char *const tf_names[TF_N][2] = {
    {"kiln_table_data_files", "Live data files of the table's main branch."},
    {"kiln_table_small_data_files",
     "Live data files below 75% of write.target-file-size-bytes (compaction candidates)."},
    {"kiln_table_delete_files", "Live position and equality delete files of the table's main branch."},
    {"kiln_table_data_bytes", "Bytes of the live data files."},
    {"kiln_table_delete_bytes", "Bytes of the live delete files."},
    {"kiln_table_last_compaction_timestamp_seconds",
     "When kiln last compacted the table (rewrite-data-files, maintain; Unix time, 0 = never)."},
};

typedef struct files_scrape {
    kiln_lake_catalog *cat;
    kiln_buf b[TF_N];
} files_scrape;

static int scrape_table_files(void *ctx, const char *name, const char *loc)
{
    (void)loc;
    files_scrape *sc = ctx;
    kiln_err err = {0};
    kiln_lake_table *t = NULL;
    kiln_lake_file_stats st;
    if (kiln_lake_table_load(&t, sc->cat, name, &err) != 0)
        return 0; /* dropped or broken meanwhile: skip */
    int bad = kiln_lake_table_file_stats(t, &st, &err) != 0;
    kiln_lake_table_free(t);
    if (bad)
        return 0; /* a manifest unreadable right now: the table is left out of this scrape */
    int64_t v[TF_N] = {st.data_files, st.small_files, st.delete_files, st.data_bytes, st.delete_bytes, 0};
    int rc = 0;
    for (int i = 0; i < TF_COMPACT && !rc; i++)
        rc = kiln_buf_printf(&sc->b[i], &err, "%s{table=\"%s\"} %" PRId64 "\n", tf_names[i][0], name, v[i]);
    if (!rc)
        rc = kiln_buf_printf(&sc->b[TF_COMPACT], &err, "%s{table=\"%s\"} %.3f\n", tf_names[TF_COMPACT][0], name,
                             st.last_compaction_ms < 0 ? 0.0 : (double)st.last_compaction_ms / 1e3);
    return rc;
}

static int render_table_files(kiln_server *s, kiln_buf *out, kiln_err *err)
{
    files_scrape sc;
    memset(&sc, 0, sizeof sc);
    for (int i = 0; i < TF_N; i++)
        kiln_buf_init(&sc.b[i], 0);
    int rc = kiln_lake_catalog_open(&sc.cat, s->warehouse, KILN_LAKE_CATALOG_SQLITE, err);
    if (!rc)
        rc = kiln_lake_table_list(sc.cat, NULL, scrape_table_files, &sc, err);
    for (int i = 0; i < TF_N && !rc; i++) {
        rc = kiln_buf_printf(out, err, "# HELP %s %s\n# TYPE %s gauge\n", tf_names[i][0], tf_names[i][1],
                             tf_names[i][0]);
        if (!rc && sc.b[i].len)
            rc = kiln_buf_append(out, sc.b[i].data, sc.b[i].len, err);
    }
    kiln_lake_catalog_free(sc.cat);
    for (int i = 0; i < TF_N; i++)
        kiln_buf_free(&sc.b[i]);
    return rc;
}

/* Bytes `kiln ingest gharchive` landed in RAW: the sizes of the hours its
 * day manifests (RAW/gharchive/date=D/_manifest.json) record as landed.
 * The manifests are the ingest's durable record, so the count survives
 * either process's restart; it only grows while the raw zone does. */
static uint64_t gharchive_bytes(const char *raw)
{
    uint64_t total = 0;
    char *dir = raw ? kiln_sprintf("%s/gharchive", raw) : NULL;
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    for (int n = 0; d && (e = readdir(d)) != NULL && n < 100000; n++) {
        if (strncmp(e->d_name, "date=", 5) != 0)
            continue;
        char *path = kiln_sprintf("%s/%s/_manifest.json", dir, e->d_name);
        json_t *j = path ? json_load_file(path, 0, NULL) : NULL, *h;
        size_t i;
        json_array_foreach(json_object_get(j, "hours"), i, h)
        {
            const char *st = json_string_value(json_object_get(h, "status"));
            json_t *size = json_object_get(h, "size");
            if (st && strcmp(st, "missing") != 0 && json_is_integer(size) && json_integer_value(size) > 0)
                total += (uint64_t)json_integer_value(size);
        }
        json_decref(j);
        kiln_free(path);
    }
    if (d)
        closedir(d);
    kiln_free(dir);
    return total;
}

static int render(kiln_server *s, kiln_buf *out, kiln_err *err)
{
    uint64_t gh_bytes = gharchive_bytes(s->raw_dir); /* file reads: before the lock */
    kiln_serve_metrics *m = s->metrics;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    rc = kiln_buf_printf(out, err,
                         "# HELP kiln_http_requests_total HTTP requests answered, by method, route and status.\n"
                         "# TYPE kiln_http_requests_total counter\n");
    for (size_t i = 0; !rc && i < m->nhttp; i++) {
        const http_series *h = &m->http[i];
        rc = kiln_buf_printf(out, err, "kiln_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                             h->method, h->route, h->status, (unsigned long long)h->count);
    }
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_http_request_duration_seconds Time from request start to response queued.\n"
                             "# TYPE kiln_http_request_duration_seconds histogram\n");
    for (size_t i = 0; !rc && i < m->nhttp; i++) {
        const http_series *h = &m->http[i];
        uint64_t cum = 0;
        for (size_t b = 0; !rc && b < NBUCKETS; b++) {
            cum += h->bucket[b];
            rc = kiln_buf_printf(out, err,
                                 "kiln_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",status=\"%d\","
                                 "le=\"%g\"} %llu\n",
                                 h->method, h->route, h->status, buckets[b], (unsigned long long)cum);
        }
        if (!rc)
            rc = kiln_buf_printf(
                out, err,
                "kiln_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",status=\"%d\","
                "le=\"+Inf\"} %llu\n"
                "kiln_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\",status=\"%d\"} %.6f\n"
                "kiln_http_request_duration_seconds_count{method=\"%s\",route=\"%s\",status=\"%d\"} "
                "%llu\n",
                h->method, h->route, h->status, (unsigned long long)h->count, h->method, h->route, h->status, h->sum,
                h->method, h->route, h->status, (unsigned long long)h->count);
    }
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_catalog_commits_total Iceberg REST catalog table commits, by result.\n"
                             "# TYPE kiln_catalog_commits_total counter\n"
                             "kiln_catalog_commits_total{result=\"ok\"} %llu\n"
                             "kiln_catalog_commits_total{result=\"conflict\"} %llu\n"
                             "kiln_catalog_commits_total{result=\"error\"} %llu\n",
                             (unsigned long long)m->commits_ok, (unsigned long long)m->commits_conflict,
                             (unsigned long long)m->commits_error);
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_webhook_deliveries_total GitHub webhook deliveries, by event and result.\n"
                             "# TYPE kiln_webhook_deliveries_total counter\n");
    for (size_t i = 0; !rc && i < m->nhook; i++)
        rc = kiln_buf_printf(out, err, "kiln_webhook_deliveries_total{event=\"%s\",result=\"%s\"} %llu\n",
                             m->hook[i].event, m->hook[i].result, (unsigned long long)m->hook[i].count);
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_webhook_ingest_runs_total Micro-batch loads of webhook days into github.*, "
                             "by result.\n# TYPE kiln_webhook_ingest_runs_total counter\n"
                             "kiln_webhook_ingest_runs_total{result=\"ok\"} %llu\n"
                             "kiln_webhook_ingest_runs_total{result=\"error\"} %llu\n"
                             "# HELP kiln_webhook_ingest_last_success_timestamp_seconds When a micro-batch last loaded "
                             "webhook days (Unix time; 0 = never).\n"
                             "# TYPE kiln_webhook_ingest_last_success_timestamp_seconds gauge\n"
                             "kiln_webhook_ingest_last_success_timestamp_seconds %.3f\n",
                             (unsigned long long)m->ingest_ok, (unsigned long long)m->ingest_error,
                             (double)m->ingest_last_ok_us / 1e6);
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_ingest_bytes_total Bytes landed durably in the raw zone, by source "
                             "(webhooks: by this server since it started; gharchive: every hour the raw zone's GH "
                             "Archive manifests record).\n# TYPE kiln_ingest_bytes_total counter\n"
                             "kiln_ingest_bytes_total{source=\"webhooks\"} %llu\n"
                             "kiln_ingest_bytes_total{source=\"gharchive\"} %llu\n",
                             (unsigned long long)m->ingest_bytes_webhooks, (unsigned long long)gh_bytes);
    if (!rc)
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_process_start_time_seconds When this server started (Unix time).\n"
                             "# TYPE kiln_process_start_time_seconds gauge\n"
                             "kiln_process_start_time_seconds %.3f\n",
                             (double)m->start_us / 1e6);
    pthread_mutex_unlock(&m->lock);
    if (!rc && s->warehouse)
        rc = render_tables(s, out, err);
    if (!rc && s->warehouse)
        rc = render_table_files(s, out, err); /* maintenance families */
    return rc;
}

/* A label value: \\, " and newline escaped. */
static int label_value(kiln_buf *out, const char *k, size_t kl, kiln_err *err)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < kl; i++)
        rc = k[i] == '\\' || k[i] == '"' ? kiln_buf_printf(out, err, "\\%c", k[i])
             : k[i] == '\n'              ? kiln_buf_printf(out, err, "\\n")
                                         : kiln_buf_putc(out, k[i], err);
    return rc;
}

/* kiln_scheduler_lag_seconds{dag}: for each unpaused scheduled DAG, how
 * long ago the first data interval after its latest run (any run, by
 * logical date) became due without a run having started for it; 0 when
 * nothing is due. Without runs: from start_date with catchup, else the
 * latest complete interval (what the scheduler would run). A scheduler
 * that is down, stuck or saturated (max_active_runs) shows here. */
static int scheduler_lag(kiln_flow_project *p, kiln_buf *out, kiln_err *err)
{
    kiln_buf rb;
    kiln_buf_init(&rb, 0);
    json_t *runs = NULL;
    int rc = kiln_flow_runs_report(p, NULL, 1, &rb, err);
    if (!rc) {
        json_error_t je;
        runs = json_loadb(rb.data ? rb.data : "[]", rb.len, 0, &je);
        if (!json_is_array(runs))
            rc = kiln_err_set(err, KILN_EINTERNAL, "runs report is not a JSON array: %s", je.text);
    }
    int64_t now = kiln_now_micros() / 1000000;
    int header = 0;
    for (size_t i = 0; !rc && i < p->ndags; i++) {
        const kiln_flow_dag *d = p->dags[i];
        int paused = 0;
        kiln_err e2 = {0};
        if (!d->has_cron || kiln_flow_dag_paused(p, d->id, &paused, &e2) || paused)
            continue;
        int64_t last = INT64_MIN, t, nxt = 0, due = 0;
        size_t k;
        json_t *r;
        json_array_foreach(runs, k, r)
        {
            const char *dg = json_string_value(json_object_get(r, "dag"));
            const char *ld = json_string_value(json_object_get(r, "logical_date"));
            if (dg && ld && !strcmp(dg, d->id) && !kiln_flow_parse_date(d, ld, &t, &e2) && t > last)
                last = t;
        }
        int ok;
        if (last != INT64_MIN)
            ok = kiln_cron_next(&d->cron, last, &nxt) == 0;
        else if (d->catchup && d->start_date)
            ok = kiln_cron_matches(&d->cron, d->start_date) ? (nxt = d->start_date, 1)
                                                            : kiln_cron_next(&d->cron, d->start_date, &nxt) == 0;
        else
            ok = kiln_cron_last_complete(&d->cron, now, &nxt, &due) == 0;
        if (ok && d->start_date && nxt < d->start_date)
            ok = kiln_cron_interval_for(&d->cron, d->start_date, &nxt, &due) == 0 && nxt >= d->start_date;
        if (ok)
            ok = kiln_cron_next(&d->cron, nxt, &due) == 0; /* the interval [nxt, due) is due at due */
        double lag = ok && due <= now && (!d->end_date || nxt <= d->end_date) ? (double)(now - due) : 0;
        if (!header++)
            rc = kiln_buf_printf(out, err,
                                 "# HELP kiln_scheduler_lag_seconds How long the first data interval after the DAG's "
                                 "latest run has been due without a run (0 = up to date).\n"
                                 "# TYPE kiln_scheduler_lag_seconds gauge\n");
        if (!rc)
            rc = kiln_buf_printf(out, err, "kiln_scheduler_lag_seconds{dag=\"");
        if (!rc)
            rc = label_value(out, d->id, strlen(d->id), err);
        if (!rc)
            rc = kiln_buf_printf(out, err, "\"} %.0f\n", lag);
    }
    json_decref(runs);
    kiln_buf_free(&rb);
    return rc;
}

/* The orchestrator's families (runs, task tries, durations, retries, last
 * success per DAG): the file every runner rewrites from the state store,
 * STATE_DIR/metrics.prom, appended as it is (nothing when no run wrote it
 * yet). Its family names do not overlap the server's. */
static int flow_metrics(const char *project_dir, kiln_buf *out, kiln_err *err)
{
    kiln_flow_project *p = NULL;
    kiln_err lerr = {0};
    if (kiln_flow_project_load(&p, project_dir, &lerr))
        return 0; /* the project broke after start: the DAG routes say why */
    char *path = kiln_sprintf("%s/metrics.prom", p->state_dir), *text = NULL;
    size_t len = 0;
    int rc = path ? 0 : KILN_OOM(err);
    if (!rc && access(path, F_OK) == 0 && (rc = kiln_file_read(path, (size_t)64 << 20, &text, &len, err)) == 0 && len)
        rc = kiln_buf_append(out, text, len, err);
    if (!rc)
        rc = scheduler_lag(p, out, err);
    /* last successful materialization per asset, from the OpenLineage
     * events: when a task producing it last completed */
    kiln_map *jobs = kiln_map_new(), *assets = kiln_map_new();
    if (!rc && (!jobs || !assets))
        rc = KILN_OOM(err);
    if (!rc && p->lineage_file && !(rc = kiln_serve__lineage_scan(p, jobs, err)))
        rc = kiln_serve__asset_times(p, jobs, assets, err);
    if (!rc && kiln_map_len(assets))
        rc = kiln_buf_printf(out, err,
                             "# HELP kiln_asset_last_materialized_timestamp_seconds When a task producing the asset "
                             "last completed (OpenLineage COMPLETE events).\n"
                             "# TYPE kiln_asset_last_materialized_timestamp_seconds gauge\n");
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (!rc && kiln_map_next(assets, &pos, &k, &kl, &v)) {
        rc = kiln_buf_printf(out, err, "kiln_asset_last_materialized_timestamp_seconds{asset=\"");
        if (!rc)
            rc = label_value(out, k, kl, err);
        if (!rc)
            rc = kiln_buf_printf(out, err, "\"} %.3f\n", (double)(uintptr_t)v / 1e6);
    }
    pos = 0;
    while (jobs && kiln_map_next(jobs, &pos, &k, &kl, &v))
        kiln_free(v);
    kiln_map_free(jobs);
    kiln_map_free(assets);
    kiln_free(text);
    kiln_free(path);
    kiln_flow_project_free(p);
    return rc;
}

int kiln_serve__metrics(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_err err = {0};
    rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
    rs->status = 200;
    int rc = render(rq->srv, &rs->body, &err);
    if (!rc && rq->srv->project_dir)
        rc = flow_metrics(rq->srv->project_dir, &rs->body, &err);
    if (rc)
        return kiln_serve__error(rs, 500, "ServerErrorException", "metrics: %s", err.msg);
    return 0;
}
