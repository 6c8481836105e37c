/*
 * http.c - the one HTTP client over libcurl (see http.h).
 *
 * DESIGN
 * - A pool of curl easy handles per client (POOL_MAX), taken and returned
 *   under a mutex: a returned handle keeps its connection open, so the next
 *   request to the same host reuses it. Handles are reset between uses.
 * - One attempt = one curl_easy_perform. Response headers are collected per
 *   header block (a new status line starts a new block: redirects and
 *   100 Continue leave only the final response's headers).
 * - The 2xx body goes to the sink or resp->body; a non-2xx body to
 *   resp->body (first 64 KiB) only, never to the sink.
 * - Retry rule: transport failures (connect, timeout, reset, partial body),
 *   5xx / 429 / 408, or what classify says. The wait is the jittered
 *   exponential backoff, raised to Retry-After (429/503) or classify's ask.
 * - Messages carry the redacted URL only; request headers never appear.
 */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POOL_MAX 16
#define ERRBODY_MAX 65536

struct kiln_http {
    kiln_http_opts o;
    char *protocols, *user_agent;
    struct curl_slist *connect_to;
    pthread_mutex_t mu;
    CURL *pool[POOL_MAX];
    int npool;
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void g_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

int kiln_http_new(kiln_http **out, const kiln_http_opts *o, kiln_err *err)
{
    pthread_once(&g_once, g_init);
    kiln_http *c = kiln_calloc(1, sizeof *c);
    if (!c)
        return KILN_OOM(err);
    if (o)
        c->o = *o;
    if (!c->o.timeout_ms)
        c->o.timeout_ms = 300000;
    if (!c->o.connect_timeout_ms)
        c->o.connect_timeout_ms = 10000;
    if (c->o.max_attempts <= 0)
        c->o.max_attempts = 5;
    if (!c->o.retry_base_ms)
        c->o.retry_base_ms = 200;
    if (!c->o.retry_cap_ms)
        c->o.retry_cap_ms = 30000;
    if (!c->o.retry_after_max_ms)
        c->o.retry_after_max_ms = 300000;
    c->protocols = kiln_strdup(c->o.protocols ? c->o.protocols : "http,https");
    c->user_agent = c->o.user_agent ? kiln_strdup(c->o.user_agent) : kiln_sprintf("kiln/%s", KILN_VERSION);
    c->o.protocols = c->o.user_agent = c->o.connect_to = NULL;
    if (o && o->connect_to && *o->connect_to) {
        char line[600];
        snprintf(line, sizeof line, "::%s", o->connect_to);
        if (!strchr(o->connect_to, ':') || !(c->connect_to = curl_slist_append(NULL, line))) {
            kiln_http_free(c);
            return kiln_err_set(err, KILN_ECONFIG, "connect-to %s: want HOST:PORT", o->connect_to);
        }
    }
    if (!c->protocols || !c->user_agent) {
        kiln_http_free(c);
        return KILN_OOM(err);
    }
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return 0;
}

void kiln_http_free(kiln_http *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->npool; i++)
        curl_easy_cleanup(c->pool[i]);
    if (c->protocols)
        pthread_mutex_destroy(&c->mu);
    curl_slist_free_all(c->connect_to);
    kiln_free(c->protocols);
    kiln_free(c->user_agent);
    kiln_free(c);
}

static CURL *take(kiln_http *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->npool > 0)
        h = c->pool[--c->npool];
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_reset(h);
    else
        h = curl_easy_init();
    return h;
}

static void give(kiln_http *c, CURL *h)
{
    pthread_mutex_lock(&c->mu);
    if (c->npool < POOL_MAX) {
        c->pool[c->npool++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->mu);
    if (h)
        curl_easy_cleanup(h);
}

/* ------------------------------------------------------------ responses */

void kiln_http_resp_init(kiln_http_resp *r)
{
    memset(r, 0, sizeof *r);
    kiln_buf_init(&r->body, 0);
}

static void hdrs_clear(kiln_http_resp *r)
{
    for (size_t i = 0; i < r->nhdrs; i++) {
        kiln_free(r->hdrs[i].name);
        kiln_free(r->hdrs[i].value);
    }
    kiln_free(r->hdrs);
    r->hdrs = NULL;
    r->nhdrs = 0;
}

void kiln_http_resp_free(kiln_http_resp *r)
{
    if (!r)
        return;
    hdrs_clear(r);
    kiln_buf_free(&r->body);
}

const char *kiln_http_header(const kiln_http_resp *r, const char *name)
{
    for (size_t i = r->nhdrs; i > 0; i--)
        if (!strcasecmp(r->hdrs[i - 1].name, name))
            return r->hdrs[i - 1].value;
    return NULL;
}

void kiln_http_etag(const kiln_http_resp *r, char *out, size_t n, int strip_quotes)
{
    const char *v = kiln_http_header(r, "ETag");
    if (!n)
        return;
    out[0] = 0;
    if (!v)
        return;
    size_t l = strlen(v);
    if (strip_quotes) {
        while (l && *v == '"') {
            v++;
            l--;
        }
        while (l && v[l - 1] == '"')
            l--;
    }
    if (l >= n)
        l = n - 1;
    memcpy(out, v, l);
    out[l] = 0;
}

int64_t kiln_http_header_time(const kiln_http_resp *r, const char *name)
{
    const char *v = kiln_http_header(r, name);
    if (!v)
        return 0;
    time_t t = curl_getdate(v, NULL);
    return t > 0 ? (int64_t)t : 0;
}

long kiln_http_retry_after_ms(const kiln_http_resp *r)
{
    const char *v = kiln_http_header(r, "Retry-After");
    if (!v || !*v)
        return -1;
    char *end;
    long s = strtol(v, &end, 10);
    if (end != v && *end == 0)
        return s < 0 ? 0 : s * 1000;
    time_t t = curl_getdate(v, NULL);
    if (t <= 0)
        return -1;
    long d = (long)(t - time(NULL));
    return d < 0 ? 0 : d * 1000;
}

char *kiln_http_link(const kiln_http_resp *r, const char *rel)
{
    const char *v = kiln_http_header(r, "Link");
    if (!v)
        return NULL;
    /* <url>; rel="next", <url>; rel="last" */
    const char *p = v;
    while ((p = strchr(p, '<'))) {
        const char *e = strchr(p, '>');
        if (!e)
            return NULL;
        const char *next = strchr(e, ',');
        const char *seg_end = next ? next : e + strlen(e);
        char want[64];
        snprintf(want, sizeof want, "rel=\"%s\"", rel);
        const char *m = strstr(e, want);
        if (m && m < seg_end)
            return kiln_strndup(p + 1, (size_t)(e - p - 1));
        p = seg_end;
    }
    return NULL;
}

/* ------------------------------------------------------------ redaction */

static int secret_param(const char *k, size_t n)
{
    static const char *const names[] = {"access_token",
                                        "token",
                                        "key",
                                        "secret",
                                        "password",
                                        "sig",
                                        "signature",
                                        "x-amz-signature",
                                        "x-amz-credential",
                                        "x-amz-security-token",
                                        "client_secret",
                                        "api_key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && !strncasecmp(k, names[i], n))
            return 1;
    return 0;
}

char *kiln_http_redact(const char *s)
{
    if (!s)
        return NULL;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    const char *p = s;
    while (*p) {
        /* scheme://user:pass@host */
        if (!strncmp(p, "://", 3)) {
            const char *h = p + 3, *at = NULL;
            for (const char *q = h; *q && *q != '/' && *q != ' ' && *q != '?' && *q != '#'; q++)
                if (*q == '@')
                    at = q;
            (void)kiln_buf_append(&b, "://", 3, NULL);
            if (at) {
                (void)kiln_buf_append(&b, "***@", 4, NULL);
                p = at + 1;
            } else {
                p = h;
            }
            continue;
        }
        /* ?k=v / &k=v */
        if ((*p == '?' || *p == '&') && p[1]) {
            const char *k = p + 1, *eq = k;
            while (*eq && *eq != '=' && *eq != '&' && *eq != ' ' && *eq != '#')
                eq++;
            if (*eq == '=' && secret_param(k, (size_t)(eq - k))) {
                (void)kiln_buf_append(&b, p, (size_t)(eq - p) + 1, NULL);
                (void)kiln_buf_append(&b, "***", 3, NULL);
                p = eq + 1;
                while (*p && *p != '&' && *p != ' ' && *p != '#')
                    p++;
                continue;
            }
        }
        /* Authorization: X / Bearer X / token X */
        static const char *const words[] = {"authorization:", "bearer ", "token "};
        int hit = 0;
        for (size_t i = 0; i < 3 && !hit; i++) {
            size_t wl = strlen(words[i]);
            if (!strncasecmp(p, words[i], wl) && (p == s || p[-1] == ' ' || p[-1] == '\n' || p[-1] == '"')) {
                (void)kiln_buf_append(&b, p, wl, NULL);
                p += wl;
                while (*p == ' ')
                    (void)kiln_buf_putc(&b, *p++, NULL);
                if (i == 0) { /* keep the scheme word ("Bearer", "AWS4-HMAC-SHA256") */
                    const char *w = p;
                    while (*w && *w != ' ' && *w != '\n')
                        w++;
                    if (*w == ' ') {
                        (void)kiln_buf_append(&b, p, (size_t)(w - p) + 1, NULL);
                        p = w + 1;
                    }
                }
                (void)kiln_buf_append(&b, "***", 3, NULL);
                while (*p && *p != '\n' && *p != '"' && *p != ',' && *p != ' ')
                    p++;
                hit = 1;
            }
        }
        if (hit)
            continue;
        (void)kiln_buf_putc(&b, *p++, NULL);
    }
    char *out = kiln_buf_detach(&b, NULL);
    return out ? out : kiln_strdup("");
}

/* ------------------------------------------------------------ policy */

int kiln_http_status_retryable(long status) { return status >= 500 || status == 429 || status == 408; }

long kiln_http_backoff_ms(int attempt, long base_ms, long cap_ms)
{
    if (attempt < 1)
        attempt = 1;
    long d = base_ms << (attempt - 1 > 16 ? 16 : attempt - 1);
    if (d > cap_ms || d <= 0)
        d = cap_ms;
    return d / 2 + (long)((unsigned)rand() % (unsigned)(d / 2 + 1));
}

void kiln_http_sleep_ms(long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int transport_of(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK: return KILN_HTTP_OK;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR: return KILN_HTTP_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT: return KILN_HTTP_ETIMEOUT;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return KILN_HTTP_ERESET;
    case CURLE_PARTIAL_FILE: return KILN_HTTP_EPARTIAL;
    case CURLE_FILE_COULDNT_READ_FILE: return KILN_HTTP_ENOFILE;
    default: return KILN_HTTP_EOTHER;
    }
}

/* ------------------------------------------------------------ one request */

typedef struct io {
    const kiln_http_req *q;
    kiln_http_resp *r;
    CURL *h;
    size_t sent;
    int in_headers_new; /* next header line starts a new block */
    int over_cap, sink_failed;
    int sink_rc;
    kiln_err *err;
} io;

static size_t on_read(char *dst, size_t size, size_t nmemb, void *ud)
{
    io *x = ud;
    size_t want = size * nmemb, left = x->q->body_len - x->sent;
    if (want > left)
        want = left;
    if (want)
        memcpy(dst, (const char *)x->q->body + x->sent, want);
    x->sent += want;
    return want;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    io *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && !strncmp(p, "HTTP/", 5)) {
        hdrs_clear(x->r); /* a new response (redirect, 100 Continue): its headers only */
        return n;
    }
    const char *colon = memchr(p, ':', n);
    if (!colon)
        return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    kiln_http_hdr *nh = kiln_realloc(x->r->hdrs, (x->r->nhdrs + 1) * sizeof *nh);
    if (!nh)
        return 0;
    x->r->hdrs = nh;
    nh[x->r->nhdrs].name = kiln_strndup(p, nl);
    nh[x->r->nhdrs].value = kiln_strndup(v, vl);
    if (!nh[x->r->nhdrs].name || !nh[x->r->nhdrs].value) {
        kiln_free(nh[x->r->nhdrs].name);
        kiln_free(nh[x->r->nhdrs].value);
        return 0;
    }
    x->r->nhdrs++;
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    io *x = ud;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    x->r->bytes_in += n;
    if (code != 0 && (code < 200 || code >= 300)) {
        if (x->r->body.len < ERRBODY_MAX)
            (void)kiln_buf_append(&x->r->body, p, n, NULL);
        return n;
    }
    x->r->body_bytes += (int64_t)n;
    x->r->status = code;
    if (x->q->sink) {
        int rc = x->q->sink(x->q->sink_ctx, x->r, p, n, x->err);
        if (rc) {
            x->sink_failed = 1;
            x->sink_rc = rc;
            return 0;
        }
        return n;
    }
    if (x->q->body_cap && x->r->body.len + n > x->q->body_cap) {
        x->over_cap = 1;
        return 0;
    }
    return kiln_buf_append(&x->r->body, p, n, NULL) == 0 ? n : 0;
}

void kiln_http_req_init(kiln_http_req *q, const char *method, const char *url)
{
    memset(q, 0, sizeof *q);
    q->method = method;
    q->url = url;
    q->range_from = -1;
    q->range_to = -1;
}

static void set_error(kiln_http_resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_error(kiln_http_resp *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    char *red = kiln_http_redact(tmp);
    snprintf(r->error, sizeof r->error, "%s", red ? red : "");
    kiln_free(red);
}

int kiln_http_do(kiln_http *c, const kiln_http_req *q, kiln_http_resp *resp, kiln_err *err)
{
    const char *method = q->method ? q->method : "GET";
    int max_attempts = q->max_attempts > 0 ? q->max_attempts : c->o.max_attempts;
    long timeout = q->timeout_ms > 0 ? q->timeout_ms : c->o.timeout_ms;
    char *rurl = kiln_http_redact(q->url);
    if (!rurl)
        return KILN_OOM(err);
    int rc = 0;
    kiln_buf extra;
    kiln_buf_init(&extra, 1 << 20);
    for (int attempt = 1;; attempt++) {
        hdrs_clear(resp);
        kiln_buf_reset(&resp->body);
        resp->status = 0;
        resp->transport = 0;
        resp->error[0] = 0;
        resp->reason[0] = 0;
        resp->body_bytes = 0;
        resp->attempts = attempt;
        kiln_buf_reset(&extra);
        if (q->on_attempt && (rc = q->on_attempt(q->attempt_ctx, attempt, &extra, err)))
            break;
        struct curl_slist *hl = NULL;
        int oom = 0;
        for (size_t i = 0; i < q->nheaders && !oom; i++) {
            struct curl_slist *t = curl_slist_append(hl, q->headers[i]);
            oom = !t;
            hl = t ? t : hl;
        }
        for (char *line = extra.data, *nl; line && *line && !oom; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = 0;
            if (*line) {
                struct curl_slist *t = curl_slist_append(hl, line);
                oom = !t;
                hl = t ? t : hl;
            }
        }
        if (!oom && q->body && q->body_len && strcmp(method, "PUT") != 0) {
            /* curl adds Expect: 100-continue to large POSTs: wait for nothing */
            struct curl_slist *t = curl_slist_append(hl, "Expect:");
            oom = !t;
            hl = t ? t : hl;
        }
        CURL *h = oom ? NULL : take(c);
        if (!h) {
            curl_slist_free_all(hl);
            rc = KILN_OOM(err);
            break;
        }
        io x = {q, resp, h, 0, 0, 0, 0, 0, err};
        char range[64];
        curl_easy_setopt(h, CURLOPT_URL, q->url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->o.connect_timeout_ms);
        if (c->o.low_speed_time_s > 0) {
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
            curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->o.low_speed_time_s);
        }
        if (c->o.follow_redirects) {
            curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
            curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
        }
        if (c->connect_to)
            curl_easy_setopt(h, CURLOPT_CONNECT_TO, c->connect_to);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, c->protocols);
        curl_easy_setopt(h, CURLOPT_USERAGENT, c->user_agent);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        if (q->range_from >= 0) {
            if (q->range_to >= 0)
                snprintf(range, sizeof range, "%lld-%lld", (long long)q->range_from, (long long)q->range_to);
            else
                snprintf(range, sizeof range, "%lld-", (long long)q->range_from);
            curl_easy_setopt(h, CURLOPT_RANGE, range);
        }
        if (!strcmp(method, "HEAD")) {
            curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        } else if (!strcmp(method, "PUT")) {
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, &x);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
        } else if (!strcmp(method, "POST")) {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->body ? (const char *)q->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        } else if (strcmp(method, "GET") != 0) {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
            if (q->body_len) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)q->body);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
            }
        }
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        give(c, h);
        curl_slist_free_all(hl);
        resp->bytes_out += q->body_len;
        if (x.sink_failed) {
            rc = x.sink_rc;
            break;
        }
        if (x.over_cap) {
            rc = kiln_err_set(err, KILN_ELIMIT, "%s %s: body larger than the %zu bytes allowed", method, rurl,
                              q->body_cap);
            break;
        }
        int retry = 0;
        long wait = -1;
        if (cc != CURLE_OK) {
            resp->transport = transport_of(cc);
            retry = resp->transport != KILN_HTTP_EOTHER && resp->transport != KILN_HTTP_ENOFILE;
            snprintf(resp->reason, sizeof resp->reason, "%s", curl_easy_strerror(cc));
            set_error(resp, "%s %s: %s", method, rurl, resp->reason);
        } else {
            long k = q->classify ? q->classify(q->classify_ctx, resp) : 0;
            if (k < 0)
                retry = 0;
            else if (k > 0) {
                retry = 1;
                wait = k;
            } else {
                retry = kiln_http_status_retryable(resp->status);
            }
            if (retry) {
                snprintf(resp->reason, sizeof resp->reason, "HTTP %ld", resp->status);
                set_error(resp, "%s %s: %s", method, rurl, resp->reason);
            }
            if (retry && wait < 0 && (resp->status == 429 || resp->status == 503)) {
                long ra = kiln_http_retry_after_ms(resp);
                if (ra >= 0)
                    wait = ra > c->o.retry_after_max_ms ? c->o.retry_after_max_ms : ra;
            }
        }
        if (!retry || attempt >= max_attempts) {
            if (cc != CURLE_OK)
                rc = kiln_err_set(err, KILN_EIO, "%s (after %d attempt%s)", resp->error, attempt,
                                  attempt == 1 ? "" : "s");
            break;
        }
        long b = kiln_http_backoff_ms(attempt, c->o.retry_base_ms, c->o.retry_cap_ms);
        if (wait > b)
            b = wait;
        kiln_debug("%s; retry %d of %d in %ld ms", resp->error, attempt, max_attempts - 1, b);
        kiln_http_sleep_ms(b);
    }
    kiln_buf_free(&extra);
    kiln_free(rurl);
    return rc;
}
