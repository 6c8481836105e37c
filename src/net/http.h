/*
 * http.h - the one HTTP client (over libcurl). The object store's S3
 * backend, GH Archive ingest, the GitHub REST client and alert deliveries
 * all send their requests through it.
 *
 * A client (kiln_http) holds defaults (timeouts, retry policy, user agent)
 * and a small pool of libcurl handles, each keeping its connection alive, so
 * consecutive requests to one host reuse a connection. kiln_http_do sends one
 * request and retries it:
 *   - on connection failures, timeouts, resets and truncated bodies, and on
 *     HTTP 5xx, 429 and 408 (a caller's classify callback may widen or
 *     narrow that and ask for a wait, e.g. GitHub's rate limits);
 *   - with exponential backoff and jitter (base retry_base_ms doubling per
 *     attempt, capped at retry_cap_ms; the wait is drawn from [d/2, d]);
 *   - honouring Retry-After (seconds or an HTTP date) on 429/503 when it
 *     asks for longer than the backoff, up to retry_after_max_ms.
 * A request may add headers per attempt (on_attempt: S3 signs each attempt
 * with a fresh date), ask for a byte range, and stream a 2xx body into a
 * callback instead of memory. The final response's headers are kept
 * (kiln_http_header); a non-2xx body is kept (up to 64 KiB) for messages.
 *
 * Secrets: request headers are never logged nor put into messages; URLs in
 * messages pass through kiln_http_redact (user:password@, and the values of
 * query parameters that carry credentials are replaced by "***").
 *
 * Errors: kiln_http_do returns 0 when a response arrived, whatever its
 * status (the caller judges resp->status); KILN_EIO when no response did
 * (after the attempts; resp->transport says what failed), KILN_ELIMIT when
 * the body exceeds body_cap, the sink's error when the sink failed.
 *
 * Thread-safety: one kiln_http may be used from several threads at once.
 */
#ifndef KILN_NET_HTTP_H
#define KILN_NET_HTTP_H

#include "base/base.h"

#include <stdint.h>

typedef struct kiln_http kiln_http;

typedef struct kiln_http_opts {
    long timeout_ms;         /* whole request; 0: 300000 */
    long connect_timeout_ms; /* 0: 10000 */
    long low_speed_time_s;   /* abort a transfer slower than 1 byte/s for this long; 0: off */
    int max_attempts;        /* 0: 5 (1: no retry) */
    long retry_base_ms;      /* first backoff; 0: 200 */
    long retry_cap_ms;       /* longest backoff; 0: 30000 */
    long retry_after_max_ms; /* longest Retry-After honoured; 0: 300000 */
    int follow_redirects;    /* up to 5 */
    const char *protocols;   /* libcurl protocol list; NULL: "http,https" */
    const char *user_agent;  /* NULL: "kiln/VERSION" */
    const char *connect_to;  /* "HOST:PORT" every connection goes to (tunnels, tests); NULL: none */
} kiln_http_opts;

int kiln_http_new(kiln_http **out, const kiln_http_opts *o, kiln_err *err);
void kiln_http_free(kiln_http *c);

/* Transport failures (resp->transport). */
enum {
    KILN_HTTP_OK = 0,
    KILN_HTTP_ECONNECT, /* could not connect / resolve */
    KILN_HTTP_ETIMEOUT,
    KILN_HTTP_ERESET,   /* send/receive error, connection closed without an answer */
    KILN_HTTP_EPARTIAL, /* the body ended before Content-Length */
    KILN_HTTP_ENOFILE,  /* file:// URL: no such file */
    KILN_HTTP_EOTHER
};

typedef struct kiln_http_hdr {
    char *name, *value;
} kiln_http_hdr;

typedef struct kiln_http_resp {
    long status;         /* 0: no response (file:// gives 0 on success) */
    kiln_buf body;       /* 2xx body without a sink; non-2xx body (first 64 KiB) */
    kiln_http_hdr *hdrs; /* the final response's headers, in order */
    size_t nhdrs;
    int attempts;       /* attempts made */
    int transport;      /* KILN_HTTP_E* of the last attempt (0: a response arrived) */
    char error[256];    /* what failed last, "METHOD URL: reason" (URL redacted), "" when nothing did */
    char reason[128];   /* the reason alone ("Couldn't connect to server", "HTTP 503") */
    uint64_t bytes_in;  /* body bytes received over all attempts */
    uint64_t bytes_out; /* request body bytes sent over all attempts */
    int64_t body_bytes; /* 2xx body bytes of the final attempt */
} kiln_http_resp;

void kiln_http_resp_init(kiln_http_resp *r);
void kiln_http_resp_free(kiln_http_resp *r);
/* Last value of a header (name case-insensitive), or NULL. */
const char *kiln_http_header(const kiln_http_resp *r, const char *name);
/* The ETag, into out: quotes kept (as If-None-Match wants it) unless
 * strip_quotes; a W/ prefix is kept. "" when absent. */
void kiln_http_etag(const kiln_http_resp *r, char *out, size_t n, int strip_quotes);
/* An HTTP date header (Last-Modified, Date) as epoch seconds; 0 when absent or bad. */
int64_t kiln_http_header_time(const kiln_http_resp *r, const char *name);
/* Retry-After as milliseconds (seconds or an HTTP date); -1 when absent. */
long kiln_http_retry_after_ms(const kiln_http_resp *r);
/* The URL of the Link header's rel="NAME" ("next", "last"), or NULL (caller frees). */
char *kiln_http_link(const kiln_http_resp *r, const char *rel);

/* Body sink: bytes of a 2xx body as they arrive (r: the response so far,
 * status and headers set). Return 0, or an error code (set err) to abort the
 * transfer (returned by kiln_http_do, not retried). */
typedef int (*kiln_http_sink_fn)(void *ctx, const kiln_http_resp *r, const char *p, size_t n, kiln_err *err);
/* Called before every attempt (attempt from 1): append "Name: value\n"
 * header lines to add to hdrs, reset a sink's state. Non-zero aborts. */
typedef int (*kiln_http_attempt_fn)(void *ctx, int attempt, kiln_buf *hdrs, kiln_err *err);
/* After a response: -1 do not retry, 0 the default rule, > 0 retry after at
 * least this many ms (e.g. until a rate-limit reset). */
typedef long (*kiln_http_classify_fn)(void *ctx, const kiln_http_resp *r);

typedef struct kiln_http_req {
    const char *method;         /* NULL: GET; "HEAD" asks for no body */
    const char *url;            /* http(s):// (or file:// when the client allows it) */
    const char *const *headers; /* "Name: value" */
    size_t nheaders;
    const void *body; /* request body (PUT/POST/...), may be NULL */
    size_t body_len;
    int64_t range_from;     /* >= 0: ask for bytes range_from.. (Range:) */
    int64_t range_to;       /* inclusive end, < 0: to the end */
    size_t body_cap;        /* cap on an in-memory 2xx body (0: none) */
    kiln_http_sink_fn sink; /* stream the 2xx body here instead of resp->body */
    void *sink_ctx;
    kiln_http_attempt_fn on_attempt;
    void *attempt_ctx;
    kiln_http_classify_fn classify;
    void *classify_ctx;
    int max_attempts; /* 0: the client's */
    long timeout_ms;  /* 0: the client's */
} kiln_http_req;

/* A request with range_from = -1, range_to = -1, everything else zero. */
void kiln_http_req_init(kiln_http_req *q, const char *method, const char *url);

int kiln_http_do(kiln_http *c, const kiln_http_req *q, kiln_http_resp *resp, kiln_err *err);

/* Does this status call for a retry by default (5xx, 429, 408)? */
int kiln_http_status_retryable(long status);
/* The backoff before attempt+1 (attempt from 1): base doubling, capped, jittered. */
long kiln_http_backoff_ms(int attempt, long base_ms, long cap_ms);
void kiln_http_sleep_ms(long ms);
/* A copy of a URL or message with secrets replaced by "***": user:password@,
 * and query values of access_token, token, key, secret, password, sig,
 * signature, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token;
 * "Authorization: ..." / "Bearer ..." / "token ..." values. Caller frees. */
char *kiln_http_redact(const char *s);

#endif /* KILN_NET_HTTP_H */
