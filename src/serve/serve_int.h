/*
 * serve_int.h - private to src/serve: the server object, one request and
 * its response as handlers see them, and the pieces each file provides
 * (routing in serve_http.c, the REST catalog in serve_catalog.c, metrics
 * in serve_metrics.c, webhooks in serve_hooks.c).
 */
#ifndef KILN_SERVE_INT_H
#define KILN_SERVE_INT_H

#include "serve/serve.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define KILN_SERVE_MAX_SEGS 16

typedef struct kiln_serve_metrics kiln_serve_metrics;
typedef struct kiln_serve_hooks kiln_serve_hooks;
typedef struct kiln_serve_ingest kiln_serve_ingest;

struct kiln_server {
    struct MHD_Daemon *mhd;
    int port;
    int loopback; /* listening on a loopback address */
    char *token;  /* owned copies of the options' strings */
    char *warehouse;
    char *raw_dir;
    char *webhook_secret;
    size_t max_body;
    kiln_serve_metrics *metrics;
    kiln_serve_hooks *hooks;
    kiln_serve_ingest *ingest; /* NULL unless --ingest-every */
    char *project_dir;         /* orchestrator project, or NULL */
    char *self_exe;            /* kiln binary for triggered runs, or NULL */
    char *models_dir;          /* dbt-style models project (target/ artifacts), or NULL */
};

typedef struct kiln_serve_req {
    kiln_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;                /* decoded path, no query */
    char *segs[KILN_SERVE_MAX_SEGS]; /* path segments (owned by the request) */
    int nsegs;
    const char *body; /* raw body (NUL-terminated copy), may be "" */
    size_t body_len;
} kiln_serve_req;

typedef struct kiln_serve_resp {
    int status;
    const char *content_type; /* static string; default application/json */
    kiln_buf body;
    char csp[2048]; /* an HTML page's own Content-Security-Policy; "" = the UI's */
} kiln_serve_resp;

/* Header or query-string value of the request, NULL when absent. */
const char *kiln_serve__header(const kiln_serve_req *rq, const char *name);
const char *kiln_serve__query(const kiln_serve_req *rq, const char *name);

/* An Iceberg-REST-style ErrorModel body {"error":{"message","type","code"}}
 * (every JSON error of the server has this shape). Returns 0. */
int kiln_serve__error(kiln_serve_resp *rs, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Map a kiln error to an ErrorModel: KILN_ENOTFOUND -> 404 notfound_type,
 * KILN_EEXIST -> 409 AlreadyExistsException, KILN_ECONFLICT -> 409
 * CommitFailedException, KILN_EINVAL/EFORMAT -> 400 BadRequestException,
 * KILN_EUNSUPP -> 406 UnsupportedOperationException, else 500. */
int kiln_serve__error_kiln(kiln_serve_resp *rs, const kiln_err *err, const char *notfound_type);
/* The request body as a JSON object (caller json_decref's it), or NULL
 * after a 400 BadRequestException naming the parse error. */
json_t *kiln_serve__body_json(kiln_serve_req *rq, kiln_serve_resp *rs);

/* Handlers: fill rs (status + body); return 0, or a KILN_E* code for an
 * internal failure (then a 500 is sent). */
typedef int (*kiln_serve_handler)(kiln_serve_req *rq, kiln_serve_resp *rs);

/* REST catalog (serve_catalog.c). */
struct kiln_lake_catalog;
/* Open the served warehouse's catalog for this request (each request opens
 * its own: lake objects belong to one thread). On failure the response is
 * filled (503 without --warehouse) and -1 returned. */
int kiln_serve__catalog_open(kiln_serve_req *rq, kiln_serve_resp *rs, struct kiln_lake_catalog **cat);
int kiln_serve__cat_config(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_ns_list(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_ns_create(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_ns_load(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_ns_exists(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_ns_drop(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_ns_props(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_list(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_create(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_load(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_exists(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_commit(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_drop(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_report(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_tbl_rename(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_txn_commit(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_list(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_create(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_load(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_exists(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_commit(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_drop(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__cat_view_rename(kiln_serve_req *rq, kiln_serve_resp *rs);

/* kiln's JSON API, OpenAPI document and the tables UI (serve_api.c). */
int kiln_serve__api_tables(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_table(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_preview(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_openapi(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__ui_page(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__ui_js(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__ui_css(kiln_serve_req *rq, kiln_serve_resp *rs);
/* The embedded UI files (serve_ui.c, generated by src/serve/ui/embed.py). */
extern const char kiln_serve__asset_html[], kiln_serve__asset_js[], kiln_serve__asset_css[];
extern const size_t kiln_serve__asset_html_len, kiln_serve__asset_js_len, kiln_serve__asset_css_len;

/* The orchestrator's API: DAGs, runs, task instances, logs, lineage and
 * the actions (serve_dags.c). */
int kiln_serve__api_dags(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_dag(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_runs(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_run(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_task(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_log(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_lineage(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_trigger(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_clear(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_pause(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_mark(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__api_models_lineage(kiln_serve_req *rq, kiln_serve_resp *rs);
int kiln_serve__docs_page(kiln_serve_req *rq, kiln_serve_resp *rs);
/* OpenLineage (serve_dags.c): per job name "DAG.TASK" the last event and
 * the time of the last COMPLETE, from the tail (8 MiB) of the project's
 * lineage file; jobs maps name -> kiln_serve_ol_job (caller frees the
 * values). Nothing when lineage is off or the file does not exist. */
typedef struct kiln_serve_ol_job {
    char type[16], time[40];
    int events;
    int64_t complete_us; /* 0 = never completed */
} kiln_serve_ol_job;
struct kiln_flow_project;
int kiln_serve__lineage_scan(const struct kiln_flow_project *p, kiln_map *jobs, kiln_err *err);
/* assets: every produced asset (as written in produces) -> the latest
 * complete_us (uintptr_t) of the tasks producing it. */
int kiln_serve__asset_times(const struct kiln_flow_project *p, const kiln_map *jobs, kiln_map *assets, kiln_err *err);

/* The models project's graph from its artifacts (serve_models.c). */
int kiln_serve__api_models(kiln_serve_req *rq, kiln_serve_resp *rs);

/* Metrics (serve_metrics.c). Thread-safe. */
int kiln_serve__metrics_new(kiln_serve_metrics **out, kiln_err *err);
void kiln_serve__metrics_free(kiln_serve_metrics *m);
void kiln_serve__metrics_http(kiln_serve_metrics *m, const char *method, const char *route, int status, double seconds);
/* result: "ok", "conflict", "error" */
void kiln_serve__metrics_commit(kiln_serve_metrics *m, const char *result);
/* event: "push", "ping", other; result: "accepted", "duplicate", "bad_signature", "ignored", "error" */
void kiln_serve__metrics_hook(kiln_serve_metrics *m, const char *event, const char *result);
/* one micro-batch run that had work (or failed) */
void kiln_serve__metrics_ingest(kiln_serve_metrics *m, int ok);
void kiln_serve__metrics_ingest_bytes(kiln_serve_metrics *m, uint64_t n);
int kiln_serve__metrics(kiln_serve_req *rq, kiln_serve_resp *rs);

/* Webhooks (serve_hooks.c). */
int kiln_serve__hooks_open(kiln_serve_hooks **out, const char *raw_dir, kiln_err *err);
void kiln_serve__hooks_free(kiln_serve_hooks *h);
int kiln_serve__hook_github(kiln_serve_req *rq, kiln_serve_resp *rs);
const char *kiln_serve__hooks_dir(const kiln_serve_hooks *h); /* RAW/webhooks */
/* Copy the committed prefix of every hour file of each day that has a file
 * whose committed end differs from `ingested` (rel -> end) into stage_dir
 * (flat, engine hour-file names); staged receives rel -> end of what was
 * copied, *nchanged the number of changed files (0: nothing copied). */
int kiln_serve__hooks_stage(kiln_serve_hooks *h, const char *stage_dir, const kiln_map *ingested, kiln_map *staged,
                            size_t *nchanged, kiln_err *err);

/* Without a server (kiln verify): copy the acknowledged prefix of every
 * hour file of days [start_day, end_day] into stage_dir (flat), reading
 * RAW/webhooks/_deliveries.log only - nothing is repaired or written under
 * RAW. *nfiles = files staged, *ndeliveries = deliveries logged for them. */
int kiln_serve__hooks_stage_ro(const char *raw_dir, int64_t start_day, int64_t end_day, const char *stage_dir,
                               size_t *nfiles, size_t *ndeliveries, kiln_err *err);

/* Micro-batch loading of webhook days into github.* (serve_ingest.c). */
int kiln_serve__ingest_start(kiln_serve_ingest **out, kiln_server *s, int every_s, kiln_err *err);
void kiln_serve__ingest_stop(kiln_serve_ingest *ig); /* NULL is a no-op; waits for a tick in progress */

#endif /* KILN_SERVE_INT_H */
