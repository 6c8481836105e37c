/*
 * store_s3.c - the S3 backend of the object store (see store.h): libcurl
 * requests signed with SigV4 (sigv4.c), retries with backoff, multipart
 * upload, ListObjectsV2.
 *
 * DESIGN
 * - Every request is built canonical by hand: the path is the key percent-
 *   encoded (SigV4 rules, '/' kept), the query sorted and encoded, and the
 *   Host header set explicitly, so what is signed is byte for byte what
 *   libcurl sends (libcurl's own CURLOPT_AWS_SIGV4 is not used: Debian 12's
 *   signs the query unsorted and leaves '=' in keys unencoded).
 * - The payload is hashed (x-amz-content-sha256); multipart parts are read
 *   into memory one at a time (part size) so each is hashed and retried.
 * - Retried: connection failures and timeouts, 5xx, 429 and S3's
 *   SlowDown/RequestTimeout, up to max_attempts with exponential backoff
 *   (base KILN_S3_RETRY_BASE_MS, default 200 ms, doubling, capped at 10 s,
 *   with jitter). Not retried: other 4xx, which become clear errors.
 * - Credentials are kept in memory only, never logged; error messages name
 *   the access key id at most.
 * - Transport: the one HTTP client (net/http.h): its connection pool,
 *   retry loop, backoff and Retry-After; this file adds the signature per
 *   attempt (a fresh x-amz-date) and S3's own retryable answer (400
 *   RequestTimeout).
 */
#include "store/store_int.h"

#include "net/http.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct s3 {
    char *bucket, *prefix; /* prefix "" or "p/q/" */
    char *scheme;          /* "http" / "https" */
    char *host;            /* host[:port] of the endpoint */
    char *base_path;       /* endpoint path ("" or "/x") */
    int virtual_host;
    char *region, *ak, *sk, *token;
    int max_attempts;
    long timeout_ms, connect_timeout_ms, retry_base_ms;
    int64_t threshold, part_size;
    kiln_http *http; /* connections (pooled), retries */
    /* temporary credentials (s3_creds.c), fetched at the first request and
     * again near their expiry; ak/sk/token are then guarded by cred_mu */
    int cred_src;
    int64_t cred_expires;
    pthread_mutex_t cred_mu;
} s3;

/* ------------------------------------------------------------ config */

static const char *env(const char *k)
{
    const char *v = getenv(k);
    return v && *v ? v : NULL;
}

static int64_t env_i64(const char *k, int64_t dflt)
{
    const char *v = env(k);
    if (!v)
        return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end || x <= 0 ? dflt : (int64_t)x;
}

/* ~/.aws/credentials, section [AWS_PROFILE or default]: fills what is NULL */
static void profile_credentials(char **ak, char **sk, char **token)
{
    const char *home = env("HOME"), *file = env("AWS_SHARED_CREDENTIALS_FILE");
    const char *profile = env("AWS_PROFILE");
    char *path = file ? kiln_strdup(file) : home ? kiln_sprintf("%s/.aws/credentials", home) : NULL;
    if (!path)
        return;
    char *data = NULL;
    size_t n = 0;
    kiln_err e = {0};
    if (kiln_file_read(path, 1 << 20, &data, &n, &e) != 0) {
        kiln_free(path);
        return;
    }
    kiln_free(path);
    char want[256];
    snprintf(want, sizeof want, "[%s]", profile ? profile : "default");
    int in = 0;
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || line[l - 1] == ' '))
            line[--l] = 0;
        if (line[0] == '[') {
            in = !strcmp(line, want);
            continue;
        }
        if (!in)
            continue;
        char *eq = strchr(line, '=');
        if (!eq)
            continue;
        char *k = line, *v = eq + 1;
        char *ke = eq;
        while (ke > k && ke[-1] == ' ')
            ke--;
        *ke = 0;
        while (*v == ' ')
            v++;
        char **dst = !strcmp(k, "aws_access_key_id")       ? ak
                     : !strcmp(k, "aws_secret_access_key") ? sk
                     : !strcmp(k, "aws_session_token")     ? token
                                                           : NULL;
        if (dst && !*dst)
            *dst = kiln_strdup(v);
    }
    memset(data, 0, n);
    kiln_free(data);
}

static void s3_free(kiln_store *st)
{
    if (!st)
        return;
    s3 *s = st->impl;
    if (s) {
        kiln_http_free(s->http);
        kiln_free(s->bucket);
        kiln_free(s->prefix);
        kiln_free(s->scheme);
        kiln_free(s->host);
        kiln_free(s->base_path);
        kiln_free(s->region);
        kiln_free(s->ak);
        if (s->sk) {
            memset(s->sk, 0, strlen(s->sk));
            kiln_free(s->sk);
        }
        kiln_free(s->token);
        pthread_mutex_destroy(&s->cred_mu);
        kiln_free(s);
    }
    kiln_free(st);
}

/* ------------------------------------------------------------ requests */

typedef struct req {
    const char *method;
    const char *key;   /* full key (prefix included); NULL: the bucket */
    const char *query; /* canonical query (sorted, encoded), or NULL */
    const char *hdr[4];
    int nhdr;
    const char *body;
    size_t body_len;
    /* response */
    kiln_buf *resp;              /* 2xx body (NULL: discarded) */
    size_t resp_cap;             /* cap for resp (0: none) */
    FILE *resp_file;             /* or 2xx body into a file */
    kiln_store_stream_fn stream; /* or 2xx body into this (resumed by ranged GETs) */
    void *stream_ctx;
    int64_t delivered, resume_at; /* bytes given to stream; where this attempt starts */
    int64_t skip;                 /* bytes of this attempt's body already delivered */
    int attempt_seen;             /* this attempt's body has started */
    char pin_etag[96];            /* the first answer's ETag, quotes kept */
    char range_hdr[64], ifm_hdr[128];
    int nhdr_base;
    long status;
    char etag[80];
    int64_t clen, mtime_ms;
    int64_t total;   /* whole object size from Content-Range ("bytes a-b/N"), or -1 */
    char *upload_id; /* unused here; parsed by callers from resp */
} req;

/* text of <tag>...</tag> in xml (first occurrence), entities decoded */
static char *xml_text(const char *xml, size_t n, const char *tag, const char **after)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = memmem(xml, n, open, strlen(open));
    if (!a)
        return NULL;
    a += strlen(open);
    const char *b = memmem(a, n - (size_t)(a - xml), close, strlen(close));
    if (!b)
        return NULL;
    if (after)
        *after = b + strlen(close);
    char *out = kiln_malloc((size_t)(b - a) + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (const char *p = a; p < b; p++) {
        if (*p == '&') {
            static const struct {
                const char *e;
                char c;
            } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
            int done = 0;
            for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].e);
                if ((size_t)(b - p) >= el && !strncmp(p, ents[k].e, el)) {
                    out[o++] = ents[k].c;
                    p += el - 1;
                    done = 1;
                    break;
                }
            }
            if (!done && p + 2 < b && p[1] == '#') {
                char *end;
                long v = p[2] == 'x' ? strtol(p + 3, &end, 16) : strtol(p + 2, &end, 10);
                if (end < b && *end == ';' && v > 0 && v < 128) {
                    out[o++] = (char)v;
                    p = end;
                    done = 1;
                }
            }
            if (!done)
                out[o++] = *p;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = 0;
    return out;
}

static void amz_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* "s3://bucket/key" for messages */
static const char *what(s3 *s, const req *r, char *buf, size_t n)
{
    snprintf(buf, n, "s3://%s/%s", s->bucket, r->key ? r->key : "");
    return buf;
}

/* Turn a final non-2xx into an error. */
static int http_error(s3 *s, const req *r, const kiln_buf *body, kiln_err *err)
{
    char w[1200];
    what(s, r, w, sizeof w);
    char *code = body->len ? xml_text(body->data, body->len, "Code", NULL) : NULL;
    char *msg = body->len ? xml_text(body->data, body->len, "Message", NULL) : NULL;
    int rc;
    long st = r->status;
    char akc[256];
    pthread_mutex_lock(&s->cred_mu);
    snprintf(akc, sizeof akc, "%s", s->ak ? s->ak : "(none)");
    pthread_mutex_unlock(&s->cred_mu);
    if (code && !strcmp(code, "SignatureDoesNotMatch"))
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "%s: %s: the server rejected the request signature (403 SignatureDoesNotMatch): the secret "
                          "key does not match access key %s: check AWS_SECRET_ACCESS_KEY",
                          w, r->method, akc);
    else if (code && !strcmp(code, "InvalidAccessKeyId"))
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "%s: %s: the server does not know access key %s (403 InvalidAccessKeyId): check "
                          "AWS_ACCESS_KEY_ID",
                          w, r->method, akc);
    else if (st == 403 && !code)
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "%s: %s: 403 Forbidden (no details: a signature mismatch or no permission for access key "
                          "%s): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
                          w, r->method, akc);
    else if (code && !strcmp(code, "NoSuchBucket"))
        rc = kiln_err_set(err, KILN_ENOTFOUND, "s3://%s: no such bucket (create it first)", s->bucket);
    else if (st == 404)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no such object", w);
    else if (st == 412 || (code && !strcmp(code, "PreconditionFailed")))
        rc = kiln_err_set(err, KILN_EEXIST, "%s: object already exists (412 precondition failed)", w);
    else
        rc = kiln_err_set(err, KILN_EIO, "%s: %s: HTTP %ld%s%s%s%s", w, r->method, st, code ? " " : "",
                          code ? code : "", msg ? ": " : "", msg ? msg : "");
    kiln_free(code);
    kiln_free(msg);
    return rc;
}

typedef struct attempt_ctx {
    s3 *s;
    req *r;
    const char *host, *path, *phash;
} attempt_ctx;

/* Before each attempt: sign with a fresh date, reset a file download. */
static int s3_attempt(void *ctx, int attempt, kiln_buf *hdrs, kiln_err *err)
{
    attempt_ctx *a = ctx;
    s3 *s = a->s;
    req *r = a->r;
    (void)attempt;
    if (r->stream) {
        /* resume a stream where it stopped, from the same object version */
        r->nhdr = r->nhdr_base;
        r->resume_at = r->delivered;
        r->skip = 0;
        r->attempt_seen = 0;
        if (r->delivered > 0) {
            snprintf(r->range_hdr, sizeof r->range_hdr, "range: bytes=%lld-", (long long)r->delivered);
            r->hdr[r->nhdr++] = r->range_hdr;
            if (r->pin_etag[0]) {
                snprintf(r->ifm_hdr, sizeof r->ifm_hdr, "if-match: %s", r->pin_etag);
                r->hdr[r->nhdr++] = r->ifm_hdr;
            }
        }
    }
    if (r->resp_file) {
        rewind(r->resp_file);
        if (ftruncate(fileno(r->resp_file), 0) != 0) {
        }
    }
    char date[17];
    amz_now(date);
    /* the keys to sign with: fixed, or (re)fetched when under 5 minutes are left */
    char ak[256], sk[256], tokv[4096];
    pthread_mutex_lock(&s->cred_mu);
    if (s->cred_src && (!s->ak || (s->cred_expires && s->cred_expires - 300 < (int64_t)time(NULL)))) {
        kiln_s3_creds c;
        int frc = kiln_s3__creds_fetch(s->cred_src, s->region, &c, err);
        if (frc) {
            pthread_mutex_unlock(&s->cred_mu);
            return frc;
        }
        kiln_free(s->ak);
        if (s->sk)
            memset(s->sk, 0, strlen(s->sk));
        kiln_free(s->sk);
        kiln_free(s->token);
        s->ak = c.ak;
        s->sk = c.sk;
        s->token = c.token;
        s->cred_expires = c.expires;
    }
    snprintf(ak, sizeof ak, "%s", s->ak ? s->ak : "");
    snprintf(sk, sizeof sk, "%s", s->sk ? s->sk : "");
    snprintf(tokv, sizeof tokv, "%s", s->token ? s->token : "");
    pthread_mutex_unlock(&s->cred_mu);
    char h_host[600], h_date[64], h_sha[100], h_tok[4200];
    snprintf(h_host, sizeof h_host, "host: %s", a->host);
    snprintf(h_date, sizeof h_date, "x-amz-date: %s", date);
    snprintf(h_sha, sizeof h_sha, "x-amz-content-sha256: %s", a->phash);
    const char *sh[10];
    size_t nsh = 0;
    sh[nsh++] = h_host;
    sh[nsh++] = h_date;
    sh[nsh++] = h_sha;
    if (tokv[0]) {
        snprintf(h_tok, sizeof h_tok, "x-amz-security-token: %s", tokv);
        sh[nsh++] = h_tok;
    }
    for (int i = 0; i < r->nhdr; i++)
        sh[nsh++] = r->hdr[i];
    kiln_sigv4_req sr = {r->method, a->path, r->query, sh, nsh, a->phash, date, s->region, "s3", ak, sk};
    char *auth = NULL;
    int rc = kiln_sigv4_sign(&sr, &auth, NULL, NULL, err);
    if (rc)
        return rc;
    rc = kiln_buf_printf(hdrs, err, "Host: %s\n", a->host);
    for (size_t i = 1; i < nsh && !rc; i++)
        rc = kiln_buf_printf(hdrs, err, "%s\n", sh[i]);
    if (!rc)
        rc = kiln_buf_printf(hdrs, err, "Authorization: %s\nExpect:\n", auth);
    if (!rc && (r->body_len || !strcmp(r->method, "PUT") || !strcmp(r->method, "POST")))
        rc = kiln_buf_printf(hdrs, err, "Content-Type: application/octet-stream\n");
    memset(auth, 0, strlen(auth));
    kiln_free(auth);
    memset(h_tok, 0, sizeof h_tok);
    memset(sk, 0, sizeof sk);
    memset(tokv, 0, sizeof tokv);
    return rc;
}

/* S3 asks for a retry with 400 RequestTimeout too. */
static long s3_classify(void *ctx, const kiln_http_resp *rs)
{
    (void)ctx;
    if (rs->status == 400 && rs->body.len && memmem(rs->body.data, rs->body.len, "RequestTimeout", 14))
        return 1;
    return 0;
}

static int s3_sink_file(void *ctx, const kiln_http_resp *rs, const char *p, size_t n, kiln_err *err)
{
    (void)rs;
    FILE *f = ctx;
    if (fwrite(p, 1, n, f) != n)
        return kiln_err_set(err, KILN_EIO, "writing the download failed: %s", strerror(errno));
    return 0;
}

static int s3_sink_stream(void *ctx, const kiln_http_resp *rs, const char *p, size_t n, kiln_err *err)
{
    req *r = ctx;
    if (!r->attempt_seen) {
        r->attempt_seen = 1;
        if (!r->pin_etag[0])
            kiln_http_etag(rs, r->pin_etag, sizeof r->pin_etag, 0);
        if (r->resume_at > 0 && rs->status != 206)
            r->skip = r->resume_at; /* the whole object again: drop what was delivered */
    }
    if (r->skip > 0) {
        size_t k = (uint64_t)r->skip < n ? (size_t)r->skip : n;
        p += k;
        n -= k;
        r->skip -= (int64_t)k;
    }
    if (!n)
        return 0;
    r->delivered += (int64_t)n;
    return r->stream(r->stream_ctx, p, n, err);
}

static int do_request(kiln_store *st, req *r, kiln_err *err)
{
    s3 *s = st->impl;
    char *ekey = r->key ? kiln_sigv4_uri_encode(r->key, strlen(r->key), 1) : kiln_strdup("");
    char *path = NULL, *url = NULL, *host = NULL;
    int rc = 0;
    kiln_http_resp rs;
    kiln_http_resp_init(&rs);
    if (!ekey) {
        rc = KILN_OOM(err);
        goto out;
    }
    if (s->virtual_host) {
        host = kiln_sprintf("%s.%s", s->bucket, s->host);
        path = kiln_sprintf("%s/%s", s->base_path, ekey);
    } else {
        host = kiln_strdup(s->host);
        path = r->key ? kiln_sprintf("%s/%s/%s", s->base_path, s->bucket, ekey)
                      : kiln_sprintf("%s/%s", s->base_path, s->bucket);
    }
    url = path && host
              ? kiln_sprintf("%s://%s%s%s%s", s->scheme, host, path, r->query ? "?" : "", r->query ? r->query : "")
              : NULL;
    if (!url) {
        rc = KILN_OOM(err);
        goto out;
    }
    char phash[65];
    if (r->body_len)
        kiln_sha256_hex(r->body, r->body_len, phash);
    else
        memcpy(phash, EMPTY_SHA, 65);
    attempt_ctx ac = {s, r, host, path, phash};
    kiln_http_req q;
    kiln_http_req_init(&q, r->method, url);
    q.body = r->body;
    q.body_len = r->body_len;
    q.on_attempt = s3_attempt;
    q.attempt_ctx = &ac;
    q.classify = s3_classify;
    q.body_cap = r->resp_cap;
    if (r->resp_file) {
        q.sink = s3_sink_file;
        q.sink_ctx = r->resp_file;
    } else if (r->stream) {
        q.sink = s3_sink_stream;
        q.sink_ctx = r;
    }
    r->status = 0;
    r->etag[0] = 0;
    r->clen = -1;
    r->total = -1;
    r->mtime_ms = 0;
    rc = kiln_http_do(s->http, &q, &rs, err);
    r->status = rs.status;
    __atomic_add_fetch(&st->requests, (uint64_t)rs.attempts, __ATOMIC_RELAXED);
    if (rs.attempts > 1)
        __atomic_add_fetch(&st->retries, (uint64_t)rs.attempts - 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&st->bytes_in, rs.bytes_in, __ATOMIC_RELAXED);
    char w[1200];
    if (rc == KILN_ELIMIT) {
        rc = kiln_err_set(err, KILN_ELIMIT, "%s: object larger than the %zu bytes allowed", what(s, r, w, sizeof w),
                          r->resp_cap);
        goto out;
    }
    if (rc) {
        if (rs.transport) /* the client's message names the URL; say which object */
            kiln_err_prefix(err, "%s: ", what(s, r, w, sizeof w));
        goto out;
    }
    kiln_http_etag(&rs, r->etag, sizeof r->etag, 1);
    const char *cl = kiln_http_header(&rs, "Content-Length");
    if (cl)
        r->clen = strtoll(cl, NULL, 10);
    r->mtime_ms = kiln_http_header_time(&rs, "Last-Modified") * 1000;
    const char *cr = kiln_http_header(&rs, "Content-Range");
    const char *slash = cr ? strchr(cr, '/') : NULL;
    if (slash && slash[1] >= '0' && slash[1] <= '9')
        r->total = strtoll(slash + 1, NULL, 10);
    if (r->status < 200 || r->status >= 300) {
        rc = http_error(s, r, &rs.body, err);
        if (kiln_http_status_retryable(r->status) || s3_classify(NULL, &rs))
            kiln_err_prefix(err, "after %d attempts: ", rs.attempts);
        goto out;
    }
    __atomic_add_fetch(&st->bytes_out, r->body_len, __ATOMIC_RELAXED);
    if (r->resp) {
        kiln_buf t = *r->resp;
        *r->resp = rs.body;
        rs.body = t;
    }
    if (r->resp_file && fflush(r->resp_file) != 0)
        rc = kiln_err_set(err, KILN_EIO, "%s: writing the download failed: %s", what(s, r, w, sizeof w),
                          strerror(errno));
out:
    kiln_http_resp_free(&rs);
    kiln_free(ekey);
    kiln_free(path);
    kiln_free(url);
    kiln_free(host);
    return rc;
}

static char *full_key(s3 *s, const char *key) { return kiln_sprintf("%s%s", s->prefix, key); }

/* A server that ignored the Range header sent the whole object: keep bytes
 * [off, off+len) of it (len <= 0: to the end). */
static void range_cut(kiln_buf *b, int64_t off, int64_t len)
{
    size_t start = (uint64_t)off < b->len ? (size_t)off : b->len;
    size_t n2 = len > 0 && (uint64_t)len < b->len - start ? (size_t)len : b->len - start;
    if (b->data)
        memmove(b->data, b->data + start, n2);
    b->len = n2;
}

/* Give b's bytes (NUL-terminated, even when empty) to *out / *n. */
static int buf_hand_over(kiln_buf *b, char **out, size_t *n, kiln_err *err)
{
    if (!b->data && kiln_buf_reserve(b, 1, err) != 0)
        return KILN_OOM(err);
    b->data[b->len] = 0;
    *out = b->data;
    *n = b->len;
    b->data = NULL;
    return 0;
}

/* ------------------------------------------------------------ operations */

static int s3_get(kiln_store *st, const char *key, int64_t off, int64_t len, size_t cap, char **out, size_t *n,
                  kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    if (len == 0) {
        /* an empty range: only check the object is there */
        kiln_store_info h;
        kiln_free(fk);
        int rc = kiln_store_head(st, key, &h, err);
        if (!rc && !(*out = kiln_strdup("")))
            rc = KILN_OOM(err);
        return rc;
    }
    char range[80];
    req r = {0};
    r.method = "GET";
    r.key = fk;
    if (off > 0 || len > 0) {
        if (len > 0)
            snprintf(range, sizeof range, "range: bytes=%lld-%lld", (long long)off, (long long)(off + len - 1));
        else
            snprintf(range, sizeof range, "range: bytes=%lld-", (long long)off);
        r.hdr[r.nhdr++] = range;
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    r.resp = &b;
    r.resp_cap = cap;
    int rc = do_request(st, &r, err);
    if (rc == KILN_EIO && r.status == 416) {
        /* the range starts at or past the end: nothing to read */
        kiln_err_clear(err);
        kiln_buf_reset(&b);
        rc = 0;
    }
    if (!rc && r.status == 200 && (off > 0 || len > 0)) {
        /* the server ignored the Range header: cut the range out */
        range_cut(&b, off, len);
    }
    if (!rc)
        rc = buf_hand_over(&b, out, n, err);
    kiln_buf_free(&b);
    kiln_free(fk);
    return rc;
}

static int s3_get_file(kiln_store *st, const char *key, const char *path, kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    FILE *f = fopen(path, "w+be");
    if (!f) {
        kiln_free(fk);
        return kiln_err_set(err, KILN_EIO, "%s: cannot create: %s", path, strerror(errno));
    }
    req r = {0};
    r.method = "GET";
    r.key = fk;
    r.resp_file = f;
    int rc = do_request(st, &r, err);
    if (fclose(f) != 0 && !rc)
        rc = kiln_err_set(err, KILN_EIO, "%s: close failed: %s", path, strerror(errno));
    if (rc)
        unlink(path);
    kiln_free(fk);
    return rc;
}

static int put_small(kiln_store *st, const char *fk, const void *data, size_t n, const char *extra, kiln_err *err)
{
    req r = {0};
    r.method = "PUT";
    r.key = fk;
    r.body = data;
    r.body_len = n;
    if (extra)
        r.hdr[r.nhdr++] = extra;
    return do_request(st, &r, err);
}

/* multipart upload from a source read part by part */
typedef int (*part_reader)(void *ctx, int64_t off, char *buf, size_t n, kiln_err *err);

static int mem_reader(void *ctx, int64_t off, char *buf, size_t n, kiln_err *err)
{
    memcpy(buf, (const char *)ctx + off, n);
    return 0;
}

typedef struct fd_src {
    int fd;
    const char *path;
} fd_src;

static int fd_reader(void *ctx, int64_t off, char *buf, size_t n, kiln_err *err)
{
    fd_src *f = ctx;
    ssize_t r = kiln_fd_pread_full(f->fd, buf, n, off);
    if (r < (ssize_t)n)
        return kiln_err_set(err, KILN_EIO, "%s: read failed: %s", f->path, r < 0 ? strerror(errno) : "file shrank");
    return 0;
}

static int multipart(kiln_store *st, const char *fk, int64_t size, part_reader rd, void *rctx, kiln_err *err)
{
    s3 *s = st->impl;
    kiln_buf resp, done;
    kiln_buf_init(&resp, 1 << 20);
    kiln_buf_init(&done, 0);
    char *upload = NULL, *q = NULL, *buf = NULL;
    int rc;
    req r = {0};
    r.method = "POST";
    r.key = fk;
    r.query = "uploads=";
    r.resp = &resp;
    if ((rc = do_request(st, &r, err)))
        goto out;
    if (!(upload = xml_text(resp.data, resp.len, "UploadId", NULL))) {
        rc = kiln_err_set(err, KILN_EFORMAT, "s3://%s/%s: no UploadId in the CreateMultipartUpload answer", s->bucket,
                          fk);
        goto out;
    }
    char *eup = kiln_sigv4_uri_encode(upload, strlen(upload), 0);
    if (!eup || !(buf = kiln_malloc((size_t)s->part_size))) {
        kiln_free(eup);
        rc = KILN_OOM(err);
        goto abort;
    }
    if ((rc = kiln_buf_printf(&done, err, "<CompleteMultipartUpload>")))
        goto abort_eup;
    int part = 0;
    for (int64_t off = 0; off < size || part == 0;) {
        size_t n = (size_t)(size - off < s->part_size ? size - off : s->part_size);
        part++;
        if (part > 10000) {
            rc = kiln_err_set(err, KILN_ELIMIT, "s3://%s/%s: more than 10000 parts: raise KILN_S3_PART_SIZE", s->bucket,
                              fk);
            goto abort_eup;
        }
        if (n && (rc = rd(rctx, off, buf, n, err)))
            goto abort_eup;
        kiln_free(q);
        if (!(q = kiln_sprintf("partNumber=%d&uploadId=%s", part, eup))) {
            rc = KILN_OOM(err);
            goto abort_eup;
        }
        req p = {0};
        p.method = "PUT";
        p.key = fk;
        p.query = q;
        p.body = buf;
        p.body_len = n;
        if ((rc = do_request(st, &p, err)))
            goto abort_eup;
        if ((rc = kiln_buf_printf(&done, err, "<Part><PartNumber>%d</PartNumber><ETag>\"%s\"</ETag></Part>", part,
                                  p.etag)))
            goto abort_eup;
        off += (int64_t)n;
        if (n == 0)
            break;
    }
    if ((rc = kiln_buf_printf(&done, err, "</CompleteMultipartUpload>")))
        goto abort_eup;
    kiln_free(q);
    if (!(q = kiln_sprintf("uploadId=%s", eup))) {
        rc = KILN_OOM(err);
        goto abort_eup;
    }
    req c = {0};
    c.method = "POST";
    c.key = fk;
    c.query = q;
    c.body = done.data;
    c.body_len = done.len;
    c.resp = &resp;
    if ((rc = do_request(st, &c, err)))
        goto abort_eup;
    /* CompleteMultipartUpload may answer 200 with an error inside */
    if (resp.len && memmem(resp.data, resp.len, "<Error>", 7)) {
        char *code = xml_text(resp.data, resp.len, "Code", NULL);
        rc = kiln_err_set(err, KILN_EIO, "s3://%s/%s: completing the multipart upload failed: %s", s->bucket, fk,
                          code ? code : "error");
        kiln_free(code);
        goto abort_eup;
    }
    kiln_free(eup);
    goto out;
abort_eup:
    kiln_free(q);
    q = kiln_sprintf("uploadId=%s", eup);
    kiln_free(eup);
abort:
    if (q) {
        req a = {0};
        a.method = "DELETE";
        a.key = fk;
        a.query = q;
        (void)do_request(st, &a, &(kiln_err){0});
    }
out:
    kiln_free(q);
    kiln_free(buf);
    kiln_free(upload);
    kiln_buf_free(&resp);
    kiln_buf_free(&done);
    return rc;
}

static int s3_put(kiln_store *st, const char *key, const void *data, size_t n, kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    int rc = (int64_t)n > s->threshold ? multipart(st, fk, (int64_t)n, mem_reader, (void *)data, err)
                                       : put_small(st, fk, data, n, NULL, err);
    kiln_free(fk);
    return rc;
}

static int s3_put_file(kiln_store *st, const char *key, const char *path, kiln_err *err)
{
    s3 *s = st->impl;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return kiln_err_set(err, e == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: %s", path, strerror(e));
    }
    char *fk = full_key(s, key);
    int rc = 0;
    fd_src src = {fd, path};
    if (!fk)
        rc = KILN_OOM(err);
    else if (sb.st_size > s->threshold)
        rc = multipart(st, fk, sb.st_size, fd_reader, &src, err);
    else {
        char *buf = kiln_malloc((size_t)sb.st_size + 1);
        if (!buf)
            rc = KILN_OOM(err);
        else if (!(rc = fd_reader(&src, 0, buf, (size_t)sb.st_size, err)))
            rc = put_small(st, fk, buf, (size_t)sb.st_size, NULL, err);
        kiln_free(buf);
    }
    close(fd);
    kiln_free(fk);
    return rc;
}

static int s3_head(kiln_store *st, const char *key, kiln_store_info *out, kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    req r = {0};
    r.method = "HEAD";
    r.key = fk;
    int rc = do_request(st, &r, err);
    if (rc && (r.status == 403 || r.status == 400)) {
        /* a HEAD answer has no body to say why: ask again with a one-byte
         * GET, whose error names the cause (e.g. SignatureDoesNotMatch) */
        kiln_buf b;
        kiln_buf_init(&b, 0);
        req g = {0};
        g.method = "GET";
        g.key = fk;
        g.hdr[g.nhdr++] = "range: bytes=0-0";
        g.resp = &b;
        g.resp_cap = 16;
        int rc2 = do_request(st, &g, err);
        kiln_buf_free(&b);
        if (rc2 == 0)
            kiln_err_set(err, rc, "s3://%s/%s: HEAD: HTTP %ld", s->bucket, fk, r.status);
        else
            rc = rc2;
    }
    if (!rc) {
        out->size = r.clen;
        out->mtime_ms = r.mtime_ms;
        snprintf(out->etag, sizeof out->etag, "%s", r.etag);
    }
    kiln_free(fk);
    return rc;
}

static int s3_create(kiln_store *st, const char *key, const void *data, size_t n, kiln_err *err)
{
    s3 *s = st->impl;
    kiln_store_info h;
    kiln_err e2 = {0};
    /* servers that ignore If-None-Match (some S3 look-alikes) still refuse a
     * key that is already there, outside a race */
    int rc = s3_head(st, key, &h, &e2);
    if (rc == 0)
        return kiln_err_set(err, KILN_EEXIST, "s3://%s/%s%s: object already exists", s->bucket, s->prefix, key);
    if (rc != KILN_ENOTFOUND) {
        if (err)
            *err = e2;
        return rc;
    }
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    rc = put_small(st, fk, data, n, "if-none-match: *", err);
    kiln_free(fk);
    return rc;
}

static int s3_del(kiln_store *st, const char *key, kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    req r = {0};
    r.method = "DELETE";
    r.key = fk;
    int rc = do_request(st, &r, err);
    if (rc == KILN_ENOTFOUND && r.status == 404) {
        kiln_err_clear(err);
        rc = 0;
    }
    kiln_free(fk);
    return rc;
}

static int add_param(kiln_buf *q, const char *k, const char *v, kiln_err *err)
{
    char *ev = kiln_sigv4_uri_encode(v, strlen(v), 0);
    if (!ev)
        return KILN_OOM(err);
    int rc = kiln_buf_printf(q, err, "%s%s=%s", q->len ? "&" : "", k, ev);
    kiln_free(ev);
    return rc;
}

static int s3_list_page(kiln_store *st, const char *prefix, const char *delim, const char *token, int max_keys,
                        kiln_store_list_fn fn, void *ctx, char **next, kiln_err *err)
{
    s3 *s = st->impl;
    char *fp = full_key(s, prefix);
    kiln_buf q, resp;
    kiln_buf_init(&q, 0);
    kiln_buf_init(&resp, 0);
    int rc = 0;
    char mk[16];
    snprintf(mk, sizeof mk, "%d", max_keys);
    /* parameters in sorted order: the URL is the canonical query */
    if (!fp || (token && (rc = add_param(&q, "continuation-token", token, err))) ||
        (delim && (rc = add_param(&q, "delimiter", delim, err))) || (rc = add_param(&q, "list-type", "2", err)) ||
        (rc = add_param(&q, "max-keys", mk, err)) || (rc = add_param(&q, "prefix", fp ? fp : "", err))) {
        if (!fp)
            rc = KILN_OOM(err);
        goto out;
    }
    req r = {0};
    r.method = "GET";
    r.key = NULL;
    r.query = q.data;
    r.resp = &resp;
    if ((rc = do_request(st, &r, err)))
        goto out;
    size_t pl = strlen(s->prefix);
    const char *p = resp.data ? resp.data : "";
    const char *end = p + resp.len;
    /* Contents */
    for (;;) {
        const char *after;
        char *item = xml_text(p, (size_t)(end - p), "Contents", &after);
        if (!item)
            break;
        char *k = xml_text(item, strlen(item), "Key", NULL);
        char *sz = xml_text(item, strlen(item), "Size", NULL);
        char *et = xml_text(item, strlen(item), "ETag", NULL);
        char *lm = xml_text(item, strlen(item), "LastModified", NULL);
        kiln_free(item);
        p = after;
        if (k && strlen(k) >= pl && !strncmp(k, s->prefix, pl)) {
            int64_t us = 0;
            if (lm)
                (void)kiln_ts_parse(lm, strlen(lm), &us);
            char *e = et;
            if (e) {
                size_t el = strlen(e);
                if (el >= 2 && e[0] == '"' && e[el - 1] == '"') {
                    e[el - 1] = 0;
                    e++;
                }
            }
            kiln_store_entry ent = {k + pl, 0, sz ? strtoll(sz, NULL, 10) : 0, us / 1000, e ? e : ""};
            rc = fn(ctx, &ent);
        }
        kiln_free(k);
        kiln_free(sz);
        kiln_free(et);
        kiln_free(lm);
        if (rc)
            goto out;
    }
    p = resp.data ? resp.data : "";
    for (;;) {
        const char *after;
        char *item = xml_text(p, (size_t)(end - p), "CommonPrefixes", &after);
        if (!item)
            break;
        char *k = xml_text(item, strlen(item), "Prefix", NULL);
        kiln_free(item);
        p = after;
        if (k && strlen(k) >= pl && !strncmp(k, s->prefix, pl)) {
            kiln_store_entry ent = {k + pl, 1, 0, 0, ""};
            rc = fn(ctx, &ent);
        }
        kiln_free(k);
        if (rc)
            goto out;
    }
    char *trunc = xml_text(resp.data ? resp.data : "", resp.len, "IsTruncated", NULL);
    if (trunc && !strcmp(trunc, "true")) {
        *next = xml_text(resp.data, resp.len, "NextContinuationToken", NULL);
        if (!*next)
            rc = kiln_err_set(err, KILN_EFORMAT, "s3://%s: a truncated listing without NextContinuationToken",
                              s->bucket);
    }
    kiln_free(trunc);
out:
    kiln_free(fp);
    kiln_buf_free(&q);
    kiln_buf_free(&resp);
    return rc;
}

static int s3_get_stream(kiln_store *st, const char *key, kiln_store_stream_fn fn, void *ctx, kiln_store_info *info,
                         kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    req r = {0};
    r.method = "GET";
    r.key = fk;
    r.stream = fn;
    r.stream_ctx = ctx;
    int rc = do_request(st, &r, err);
    if (rc == KILN_EIO && r.status == 412) {
        char w[1200];
        rc = kiln_err_set(err, KILN_ECONFLICT, "%s: the object changed while it was read (ETag %s no longer matches)",
                          what(s, &r, w, sizeof w), r.pin_etag);
    }
    if (!rc && info) {
        memset(info, 0, sizeof *info);
        info->size = r.delivered;
        info->mtime_ms = r.mtime_ms;
        snprintf(info->etag, sizeof info->etag, "%.*s", (int)strcspn(r.pin_etag + (r.pin_etag[0] == '"'), "\""),
                 r.pin_etag + (r.pin_etag[0] == '"'));
    }
    kiln_free(fk);
    return rc;
}

/* One GET of bytes [off, off+len), pinned with If-Match; the answer's ETag
 * is checked as well (some S3-compatible servers ignore If-Match). */
static int s3_get_range(kiln_store *st, const char *key, int64_t off, int64_t len, const char *if_match, char **out,
                        size_t *n, kiln_store_info *info, kiln_err *err)
{
    s3 *s = st->impl;
    char *fk = full_key(s, key);
    if (!fk)
        return KILN_OOM(err);
    char range[80], ifm[128], w[1200];
    req r = {0};
    r.method = "GET";
    r.key = fk;
    if (len > 0) {
        snprintf(range, sizeof range, "range: bytes=%lld-%lld", (long long)off, (long long)(off + len - 1));
        r.hdr[r.nhdr++] = range;
    }
    if (if_match) {
        snprintf(ifm, sizeof ifm, "if-match: \"%s\"", if_match);
        r.hdr[r.nhdr++] = ifm;
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    r.resp = &b;
    int rc = len == 0 ? 0 : do_request(st, &r, err);
    if (rc == KILN_EIO && r.status == 412)
        rc = kiln_err_set(err, KILN_ECONFLICT, "%s: the object changed while it was read (ETag %s no longer matches)",
                          what(s, &r, w, sizeof w), if_match);
    if (rc == KILN_EIO && r.status == 416) { /* the range starts at or past the end */
        kiln_err_clear(err);
        kiln_buf_reset(&b);
        rc = 0;
    }
    if (!rc && if_match && r.etag[0] && strcmp(r.etag, if_match) != 0)
        rc = kiln_err_set(err, KILN_ECONFLICT, "%s: the object changed while it was read (ETag %s, now %s)",
                          what(s, &r, w, sizeof w), if_match, r.etag);
    if (!rc && r.status == 200) {
        /* the whole object came back: its size, and the range cut out */
        r.total = (int64_t)b.len;
        range_cut(&b, off, len);
    }
    if (!rc && info) {
        memset(info, 0, sizeof *info);
        info->size = r.total;
        info->mtime_ms = r.mtime_ms;
        snprintf(info->etag, sizeof info->etag, "%s", r.etag);
    }
    if (!rc)
        rc = buf_hand_over(&b, out, n, err);
    kiln_buf_free(&b);
    kiln_free(fk);
    return rc;
}

static const kiln_store_ops S3_OPS = {
    "s3",    s3_get, s3_get_file,  s3_put,  s3_put_file,   s3_create,
    s3_head, s3_del, s3_list_page, s3_free, s3_get_stream, s3_get_range,
};

/* ------------------------------------------------------------ open */

int kiln_store__open_s3(kiln_store **out, const char *bucket, const char *prefix, const kiln_store_s3_opts *o,
                        kiln_err *err)
{
    kiln_store_s3_opts none;
    memset(&none, 0, sizeof none);
    if (!o)
        o = &none;
    kiln_store *st = kiln_calloc(1, sizeof *st);
    s3 *s = kiln_calloc(1, sizeof *s);
    int rc = 0;
    if (!st || !s) {
        kiln_free(st);
        kiln_free(s);
        return KILN_OOM(err);
    }
    st->ops = &S3_OPS;
    st->impl = s;
    pthread_mutex_init(&s->cred_mu, NULL);
    const char *region = o->region ? o->region : env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    s->region = kiln_strdup(region);
    s->bucket = kiln_strdup(bucket);
    s->prefix = *prefix ? kiln_sprintf("%s/", prefix) : kiln_strdup("");
    const char *ak = o->access_key ? o->access_key : env("AWS_ACCESS_KEY_ID");
    const char *sk = o->secret_key ? o->secret_key : env("AWS_SECRET_ACCESS_KEY");
    const char *tok = o->session_token ? o->session_token : env("AWS_SESSION_TOKEN");
    s->ak = ak ? kiln_strdup(ak) : NULL;
    s->sk = sk ? kiln_strdup(sk) : NULL;
    s->token = tok ? kiln_strdup(tok) : NULL;
    if (!s->ak || !s->sk)
        profile_credentials(&s->ak, &s->sk, &s->token);
    if (!s->region || !s->bucket || !s->prefix) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((!s->ak || !s->sk) && !(s->cred_src = kiln_s3__cred_source())) {
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "s3://%s: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile "
                          "in ~/.aws/credentials, AWS_PROFILE; or run where a container endpoint, a web identity "
                          "token or the instance metadata service gives them: AWS_EC2_METADATA_DISABLED is set)",
                          bucket);
        goto done;
    }
    if (s->cred_src) { /* keys come from the environment the process runs in */
        kiln_free(s->ak);
        kiln_free(s->sk);
        kiln_free(s->token);
        s->ak = s->sk = s->token = NULL;
    }
    const char *endpoint = o->endpoint                  ? o->endpoint
                           : env("AWS_ENDPOINT_URL_S3") ? env("AWS_ENDPOINT_URL_S3")
                                                        : env("AWS_ENDPOINT_URL");
    char *aws = NULL;
    if (!endpoint)
        endpoint = aws = kiln_sprintf("https://s3.%s.amazonaws.com", s->region);
    if (!endpoint) {
        rc = KILN_OOM(err);
        goto done;
    }
    const char *sep = strstr(endpoint, "://");
    if (!sep || (strncasecmp(endpoint, "http", 4) != 0)) {
        rc = kiln_err_set(err, KILN_ECONFIG, "AWS_ENDPOINT_URL \"%s\": expected http://host[:port] or https://...",
                          endpoint);
        kiln_free(aws);
        goto done;
    }
    s->scheme = kiln_strndup(endpoint, (size_t)(sep - endpoint));
    for (char *c = s->scheme; c && *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    const char *h = sep + 3, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    s->host = kiln_strndup(h, hl);
    /* a default port is not part of the Host header */
    if (s->host && s->scheme) {
        size_t n = strlen(s->host);
        if (!strcmp(s->scheme, "http") && n > 3 && !strcmp(s->host + n - 3, ":80"))
            s->host[n - 3] = 0;
        if (!strcmp(s->scheme, "https") && n > 4 && !strcmp(s->host + n - 4, ":443"))
            s->host[n - 4] = 0;
    }
    s->base_path = slash ? kiln_strdup(slash) : kiln_strdup("");
    if (s->base_path) {
        size_t n = strlen(s->base_path);
        while (n && s->base_path[n - 1] == '/')
            s->base_path[--n] = 0;
    }
    int addressing = o->addressing;
    const char *ea = env("KILN_S3_ADDRESSING");
    if (!addressing && ea) {
        if (!strcmp(ea, "path"))
            addressing = KILN_STORE_ADDR_PATH;
        else if (!strcmp(ea, "virtual"))
            addressing = KILN_STORE_ADDR_VIRTUAL;
        else {
            rc = kiln_err_set(err, KILN_ECONFIG, "KILN_S3_ADDRESSING=%s: expected path or virtual", ea);
            kiln_free(aws);
            goto done;
        }
    }
    s->virtual_host = addressing == KILN_STORE_ADDR_VIRTUAL || (addressing == KILN_STORE_ADDR_AUTO && aws != NULL);
    if (s->virtual_host && strchr(bucket, '.') && !strcmp(s->scheme ? s->scheme : "", "https"))
        s->virtual_host = 0; /* a dotted bucket breaks the wildcard certificate */
    kiln_free(aws);
    s->max_attempts = o->max_attempts > 0 ? o->max_attempts : (int)env_i64("KILN_S3_MAX_ATTEMPTS", 5);
    s->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : (long)env_i64("KILN_S3_TIMEOUT_MS", 300000);
    s->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000;
    s->retry_base_ms = (long)env_i64("KILN_S3_RETRY_BASE_MS", 200);
    s->threshold =
        o->multipart_threshold > 0 ? o->multipart_threshold : env_i64("KILN_S3_MULTIPART_THRESHOLD", (int64_t)64 << 20);
    s->part_size = o->part_size > 0 ? o->part_size : env_i64("KILN_S3_PART_SIZE", (int64_t)16 << 20);
    if (!s->scheme || !s->host || !s->base_path) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* KILN_S3_CONNECT_TO: HOST:PORT that every request connects to,
     * whatever the URL's host (an SSH tunnel, or a test server standing in
     * for AWS) */
    kiln_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.timeout_ms = s->timeout_ms;
    ho.connect_timeout_ms = s->connect_timeout_ms;
    /* a transfer that stalls (under 1 byte/s) this long is abandoned and
     * retried (a stream resumes where it stopped) */
    ho.low_speed_time_s = (long)env_i64("KILN_S3_STALL_S", 60);
    ho.max_attempts = s->max_attempts;
    ho.retry_base_ms = s->retry_base_ms;
    ho.retry_cap_ms = 10000;
    ho.connect_to = env("KILN_S3_CONNECT_TO");
    if ((rc = kiln_http_new(&s->http, &ho, err))) {
        kiln_err_prefix(err, "KILN_S3_CONNECT_TO: ");
        goto done;
    }
    kiln_debug("s3://%s/%s: endpoint %s://%s%s, region %s, %s-style, access key %s", s->bucket, s->prefix, s->scheme,
               s->host, s->base_path, s->region, s->virtual_host ? "virtual-host" : "path",
               s->cred_src ? kiln_s3__cred_source_name(s->cred_src) : s->ak);
done:
    if (rc) {
        s3_free(st);
        return rc;
    }
    *out = st;
    return 0;
}
