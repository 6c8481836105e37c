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
    int scheduler;              /* kiln_serve_run only: run the scheduler (kiln_flow_scheduler on
                                   project_dir) in this process until SIGTERM/SIGINT */
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
 * scheduler runs in the calling thread meanwhile: the first signal drains
 * it (its runs finish their running tasks), then the server stops. */
int kiln_serve_run(const kiln_serve_opts *opts, kiln_err *err);

#endif /* KILN_SERVE_H */
