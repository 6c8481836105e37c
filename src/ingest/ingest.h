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

/* ---------------------------------------------------------------- GitHub REST
 * A client for api.github.com (github.c) over the one HTTP client:
 * - GITHUB_TOKEN (env, or opts.token) sent as "Authorization: Bearer";
 *   never logged, never in a message;
 * - a response cache on an object store: CACHE/github-cache/<sha256(url)>.meta.json
 *   ({url, etag, link, status}) and .../<sha256(url)>/<sha256(etag)>.json
 *   (the body), so a repeated GET sends If-None-Match and a 304 (free: it
 *   does not count against the rate limit) is answered from the cache;
 * - primary rate limit: X-RateLimit-Remaining 0 (on any answer) makes the
 *   next request wait until X-RateLimit-Reset; a 403/429 with Remaining 0
 *   waits until Reset and retries (at most max_wait_ms, else an error
 *   naming the reset time);
 * - secondary rate limit: 403/429 with Retry-After waits that long; without
 *   it, at least 60 s (GitHub's advice); 5xx, 408, connection errors:
 *   exponential backoff with jitter;
 * - a request budget per run (every attempt counts, a cache answer to a 304
 *   counts as the request it was); exhausted: KILN_ELIMIT;
 * - Link rel="next" pagination.
 */
typedef struct kiln_github_opts {
    const char *api_url; /* NULL: KILN_GITHUB_API_URL or https://api.github.com */
    const char *token;   /* NULL: GITHUB_TOKEN (may stay unset: 60 requests/hour) */
    const char *cache;   /* store root for the response cache; NULL: no cache */
    int64_t budget;      /* requests this run; 0: 1000 */
    int max_attempts;    /* per request; 0: 6 */
    long retry_base_ms;  /* 0: 1000 (KILN_GITHUB_RETRY_BASE_MS) */
    long max_wait_ms;    /* longest rate-limit wait; 0: 3900000 (65 min) */
    long timeout_ms;     /* 0: 60000 */
} kiln_github_opts;

typedef struct kiln_github_stats {
    uint64_t requests;        /* HTTP requests sent (attempts) */
    uint64_t not_modified;    /* 304s answered from the cache */
    uint64_t retries;         /* attempts after the first */
    uint64_t rate_waits;      /* waits for a primary rate-limit reset */
    uint64_t secondary_waits; /* waits for a secondary limit (Retry-After) */
    uint64_t bytes_in;
    long rate_remaining;  /* last X-RateLimit-Remaining (-1: never seen) */
    int64_t rate_reset;   /* last X-RateLimit-Reset (epoch s) */
    long poll_interval_s; /* last X-Poll-Interval (0: none) */
} kiln_github_stats;

typedef struct kiln_github kiln_github;
int kiln_github_open(kiln_github **out, const kiln_github_opts *o, kiln_err *err);
void kiln_github_close(kiln_github *g);
void kiln_github_stats_get(const kiln_github *g, kiln_github_stats *out);

/* GET a path ("/users/u/events?per_page=100") or a full URL from a Link
 * header. Returns 0 with *status (200; 304 never reaches the caller: the
 * cached body is returned with status 200 and *from_cache 1), the body
 * (*body, caller frees; NULL when not 2xx), *next (rel="next" URL or NULL,
 * caller frees). A 4xx other than the rate limits is returned as a status,
 * not an error (the caller decides: 404 / 451 / 409 are facts to record).
 * Errors: KILN_ELIMIT budget exhausted, KILN_EIO retries exhausted / rate
 * limit reset too far away. */
int kiln_github_get(kiln_github *g, const char *path_or_url, long *status, char **body, size_t *n, char **next,
                    int *from_cache, kiln_err *err);

typedef struct kiln_ingest_gh_events_opts {
    kiln_github_opts api;
    const char *user; /* --user */
    const char *out;  /* raw zone root (directory or s3://) */
    int per_page;     /* 1..100, default 100 */
    int max_events;   /* the API's window: 300 */
} kiln_ingest_gh_events_opts;

typedef struct kiln_ingest_gh_events_report {
    int pages;
    int events;          /* events the API returned (deduplicated by id) */
    int hours_landed;    /* hour files written */
    int hours_unchanged; /* hour files already there with every event */
    int hours_partial;   /* hour files already there missing events of this run (not rewritten: write-once) */
    int events_not_landed;
    int gap; /* the oldest event fetched is newer than the last one landed before: events were lost */
    char newest[32], oldest[32]; /* created_at */
    kiln_github_stats stats;
} kiln_ingest_gh_events_report;

/* /users/{user}/events (public events, newest first, at most 300 / 90 days)
 * into OUT/github-events/user=U/gharchive/date=D/hour=H/D-H.json.gz, one
 * event per line as GH Archive writes them, oldest first; a state object
 * OUT/github-events/user=U/_state.json records the newest event landed. */
int kiln_ingest_github_events(const kiln_ingest_gh_events_opts *o, kiln_ingest_gh_events_report *rep, kiln_err *err);

/* Follow a user's events: a round of kiln_ingest_github_events, a wait of
 * the longer of min_interval_s and the API's last X-Poll-Interval, again;
 * `rounds` rounds (0: until SIGINT or SIGTERM, which end the wait at once
 * and stop after the round in flight). The request budget is per round.
 * on_round (may be NULL) sees each round's report and result. A round that
 * failed for want of a connection or a server (KILN_EIO) is retried at the
 * next round; any other error stops following and is returned. *nrounds
 * gets the rounds run. */
typedef void (*kiln_ingest_round_fn)(void *ctx, int round, const kiln_ingest_gh_events_report *rep, int rc,
                                     const kiln_err *err);
int kiln_ingest_github_events_follow(const kiln_ingest_gh_events_opts *o, int rounds, long min_interval_s,
                                     kiln_ingest_round_fn on_round, void *ctx, int *nrounds, kiln_err *err);

/* ---------------------------------------------------------------- loads into the lake
 * github-repos: /repos/{owner}/{repo} for every repo in github.pushes (its
 * latest name), into github.repos (created when missing) with history kept
 * as SCD type 2: one row per (repo_id, valid_from); a change of full_name,
 * language, default_branch, fork or archived closes the current row
 * (valid_to = the observation time, is_current false) and opens a new one;
 * pushed_at is updated in place on the current row. One MERGE, one commit.
 *
 * github-compare: for each push in github.pushes on or after `since`
 * (default 2025-10-07, when the events lost their commits) matching
 * `filter`, /repos/{o}/{r}/compare/{before}...{head} (before = 40 zeros: the
 * repo's default branch), every page (250 commits a page); the merged answer
 * is kept in the cache store under github-compare/{o}/{r}/{base}...{head}.json
 * and never asked again; 404 / 451 / 409 are recorded as unavailable, not
 * fatal. Commits are MERGEd into github.commits on (repo_id, sha), the keys
 * of archive-era commits (the latest push carrying a sha wins); the push's
 * size (the compare's total_commits) is MERGEd into github.pushes where it
 * is NULL or differs (a second commit). */
typedef struct kiln_ingest_gh_load_opts {
    kiln_github_opts api;
    const char *warehouse;   /* the lake (directory or s3://) */
    const char *filter;      /* compare: "actor=a,org=o,repo=o/r" (NULL: every push) */
    const char *since;       /* compare: first day (NULL: 2025-10-07) */
    const char *observed_at; /* repos: the observation time, ISO (NULL: now) */
} kiln_ingest_gh_load_opts;

typedef struct kiln_ingest_gh_load_report {
    int repos, repos_unavailable, versions_opened, versions_closed, repos_unchanged;
    int pushes, compares_fetched, compares_cached, compares_unavailable, pages;
    int64_t commits; /* commit rows given to the MERGE */
    int64_t rows_inserted, rows_updated;
    int64_t sizes_set; /* compare: github.pushes rows whose size was filled from total_commits */
    kiln_github_stats stats;
} kiln_ingest_gh_load_report;

int kiln_ingest_github_repos(const kiln_ingest_gh_load_opts *o, kiln_ingest_gh_load_report *rep, kiln_err *err);
int kiln_ingest_github_compare(const kiln_ingest_gh_load_opts *o, kiln_ingest_gh_load_report *rep, kiln_err *err);

#endif /* KILN_INGEST_H */
