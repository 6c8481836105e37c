/*
 * serve.h - the one HTTP server of kiln (`kiln serve`): the Iceberg REST
 * catalog over the warehouse, Prometheus /metrics and the GitHub webhook
 * receiver, on libmicrohttpd with a thread pool and HTTP/1.1 keep-alive.
 *
 * Security model: binds 127.0.0.1 unless told otherwise; every non-GET
 * request needs `Authorization: Bearer TOKEN` (and every request when the
 * listen address is not loopback; starting there without a token is a
 * configuration error). POST /hooks/github is authenticated by its HMAC
 * signature instead. Request bodies are capped, connections time out, and
 * nothing is ever served from the file system by a client-chosen path.
 * The access log (one line per request) never carries headers or query
 * strings, so tokens and signatures stay out of it.
 *
 * With a project directory it also serves the orchestrator's state (DAGs,
 * the runs x tasks grid, task tries and logs, lineage) read from the state
 * store, and can host the scheduler in the same process.
 */
#ifndef KILN_SERVE_H
#define KILN_SERVE_H

#include "base/base.h"

#include <stddef.h>

typedef struct kiln_serve_opts {
    const char *listen; /* "HOST:PORT" (IPv4 literal or "localhost"); NULL = 127.0.0.1:8080; port 0 = any free port */
    const char *token;  /* bearer token (borrowed), NULL = no token: non-GET requests are refused */
    const char *warehouse;      /* warehouse directory (SQLite catalog); NULL = catalog routes answer 503 */
    const char *raw_dir;        /* raw zone root; webhooks land in RAW/webhooks/date=D/; NULL = "raw" */
    const char *webhook_secret; /* GitHub webhook secret (borrowed); NULL = /hooks/github answers 503 */
    int threads;                /* worker threads; 0 = 4 */
    size_t max_body;            /* request body cap in bytes; 0 = 16 MiB */
    int timeout_s;              /* idle connection timeout; 0 = 30 */
    int ingest_every_s;         /* > 0: every N s load new webhook days into github.pushes/commits
                                   (needs warehouse and webhook_secret); 0 = off */
    const char *project_dir;    /* orchestrator project (dags/, .kiln/); NULL = the DAG, run, log
                                   and lineage routes answer 503 */
    const char *self_exe;       /* the kiln binary, for runs triggered through the API (`kiln dags
                                   run` in a child process); NULL = triggering answers 503 */
    const char *models_dir;     /* models project whose target/manifest.json and run_results.json
                                   /api/v1/models serves; NULL = 503 there */
    int scheduler;              /* kiln_serve_run only: run the scheduler (kiln_flow_scheduler on
                                   project_dir) alongside, until SIGTERM/SIGINT */
} kiln_serve_opts;

typedef struct kiln_server kiln_server;

/* Start serving in background threads (webhook landing is recovered first:
 * a torn tail left by a crash is cut back to the last acknowledged delivery).
 * Caller stops and frees with kiln_serve_stop. */
int kiln_serve_start(kiln_server **out, const kiln_serve_opts *opts, kiln_err *err);
/* The bound TCP port (useful with port 0). */
int kiln_serve_port(const kiln_server *s);
/* Stop accepting, finish the requests in flight, free. NULL is a no-op. */
void kiln_serve_stop(kiln_server *s);

/* Start, print "kiln serve: listening on http://HOST:PORT" on stdout, block
 * until SIGTERM or SIGINT, then stop cleanly. With opts->scheduler the
 * scheduler runs meanwhile in a process forked before the HTTP threads
 * start (so its runners never inherit a request thread's lock): each
 * signal is passed on (the first drains it), and the server stops when the
 * scheduler has ended. */
int kiln_serve_run(const kiln_serve_opts *opts, kiln_err *err);

/* ------------------------------------------------------------ kiln verify convergence
 *
 * The Kappa check: the stream path (webhook deliveries kiln serve landed in
 * RAW/webhooks) and the batch path (GH Archive hour files, with commit
 * lists completed from GitHub compare responses where GH Archive's is
 * incomplete) go through the same engine job for the window's days and
 * the same repos; then the pushes (key repo_id, ref, before, head) and the
 * commits (key repo_id, sha; author name, email and message compared) of
 * both sides must be equal. docs/cli/verify.md has the contract. */
typedef struct kiln_verify_opts {
    const char *raw_dir;        /* stream side: RAW/webhooks (read only); NULL = "raw" */
    const char *gharchive_dir;  /* batch side: YYYY-MM-DD-H.json.gz files */
    const char *api_dir;        /* compare responses API/compare/OWNER/REPO/BASE...HEAD.json; NULL = none */
    int64_t start_day, end_day; /* inclusive, days since 1970-01-01 (UTC) */
    char *const *repos;         /* "owner/name"; NULL/0 = every repo the stream side has in the window */
    size_t nrepos;
    size_t max_diffs; /* differences listed (all are counted); 0 = 100 */
    int threads;      /* engine threads; 0 = 2 */
} kiln_verify_opts;

/* Run the check. Appends the report to out (JSON object when json, else
 * text lines); *equal = 1 when both sides agree. Returns 0 when the check
 * ran (equal or not), or a negative code: KILN_ENOTFOUND for a missing
 * input (no delivery log, GH Archive folder, no stream data in the window
 * without repos), KILN_EFORMAT when the engine failed on a day. */
int kiln_verify_convergence(const kiln_verify_opts *o, int json, kiln_buf *out, int *equal, kiln_err *err);

#endif /* KILN_SERVE_H */
