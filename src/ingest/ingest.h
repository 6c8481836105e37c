/*
 * ingest.h - pulling source files over HTTP into the raw zone of an object
 * store (store.h): GH Archive hour files today.
 *
 * The raw zone is immutable and keyed by hour:
 *   RAW/gharchive/date=YYYY-MM-DD/hour=H/YYYY-MM-DD-H.json.gz
 *   RAW/gharchive/date=YYYY-MM-DD/_manifest.json   (what landed: size, sha256,
 *                                                   etag, source URL; missing hours)
 * An object, once landed, is never overwritten. A re-run asks the source
 * with If-None-Match (the etag it landed with): 304 is "unchanged"; a
 * different body is reported as "changed upstream" and the landed object is
 * kept. Downloads are resumed with Range/If-Range from a partial file (kept
 * across runs), retried with backoff on connection errors, truncated
 * bodies, 5xx and 429; a 404 is a missing hour (recorded, not an error);
 * the gzip stream is checked whole before the object is landed.
 *
 * Thread-safety: one call at a time per options struct; internally
 * downloads run on a pool of `parallel` threads.
 */
#ifndef KILN_INGEST_H
#define KILN_INGEST_H

#include "base/base.h"

typedef struct kiln_ingest_gha_opts {
    const char *base_url;       /* "https://data.gharchive.org" (http, https or file://) */
    int64_t start_day, end_day; /* inclusive, days since 1970-01-01 */
    int hour_lo, hour_hi;       /* inclusive, 0..23 */
    const char *out;            /* raw zone root: a directory or s3://bucket/prefix */
    const char *partial_dir;    /* where partial downloads wait; NULL: $XDG_CACHE_HOME/kiln/ingest */
    int parallel;               /* downloads at once (default 4) */
    int max_attempts;           /* per hour (default 5) */
    long retry_base_ms;         /* first backoff (default 500; KILN_INGEST_RETRY_BASE_MS) */
    long timeout_ms;            /* per request (default 600000) */
} kiln_ingest_gha_opts;

void kiln_ingest_gha_opts_init(kiln_ingest_gha_opts *o);

typedef enum {
    KILN_INGEST_LANDED = 0, /* downloaded, checked, written */
    KILN_INGEST_UNCHANGED,  /* already landed; the source answered 304 or the same bytes */
    KILN_INGEST_KEPT,       /* already landed; not re-checked (source gone or no etag) */
    KILN_INGEST_CHANGED,    /* already landed; the source now serves other bytes (kept ours) */
    KILN_INGEST_MISSING,    /* 404 at the source */
    KILN_INGEST_FAILED      /* gave up: message in the report */
} kiln_ingest_status;

typedef struct kiln_ingest_hour {
    int64_t day;
    int hour;
    kiln_ingest_status status;
    int64_t size;
    char sha256[65];
    char etag[128];
    int attempts;
    char msg[256]; /* FAILED / CHANGED: why */
} kiln_ingest_hour;

typedef struct kiln_ingest_report {
    kiln_ingest_hour *hours; /* one per hour asked, in order (caller frees with kiln_ingest_report_free) */
    size_t nhours;
    int counts[6]; /* by kiln_ingest_status */
    uint64_t bytes_downloaded;
    double seconds;
} kiln_ingest_report;

const char *kiln_ingest_status_name(kiln_ingest_status s);

/* Run. Returns 0 when every hour ended LANDED/UNCHANGED/KEPT/CHANGED/MISSING
 * (see the report), an error code for a setup failure (bad output store,
 * unreadable manifest); FAILED hours are in the report, not the return. */
int kiln_ingest_gharchive(const kiln_ingest_gha_opts *o, kiln_ingest_report *rep, kiln_err *err);
void kiln_ingest_report_free(kiln_ingest_report *rep);

#endif /* KILN_INGEST_H */
