/*
 * test_http.c - the HTTP client's pure parts (src/net): redaction of
 * secrets, Link pagination, Retry-After, ETag, backoff bounds. Requests
 * against real servers are covered by the e2e tests (store_s3,
 * ingest_gharchive, ingest_github_*, flow_alerts).
 */
#include <stdlib.h>
#include <string.h>

#include "harness/harness.h"
#include "net/http.h"

static void add(kiln_http_resp *r, const char *n, const char *v)
{
    r->hdrs = kiln_realloc(r->hdrs, (r->nhdrs + 1) * sizeof *r->hdrs);
    r->hdrs[r->nhdrs].name = kiln_strdup(n);
    r->hdrs[r->nhdrs].value = kiln_strdup(v);
    r->nhdrs++;
}

TEST(net, redact)
{
    char *s = kiln_http_redact("GET https://user:pw@api.example.com/x?a=1&access_token=SEKRET&b=2: HTTP 500");
    CHECK_STR(s, "GET https://***@api.example.com/x?a=1&access_token=***&b=2: HTTP 500");
    kiln_free(s);
    s = kiln_http_redact("sent Authorization: Bearer ghp_abc123 and token ghp_zzz");
    CHECK(!strstr(s, "ghp_abc123"));
    CHECK(!strstr(s, "ghp_zzz"));
    CHECK(strstr(s, "Authorization: Bearer ***") != NULL);
    kiln_free(s);
    s = kiln_http_redact("https://s3.example/b/k?X-Amz-Signature=abcdef&X-Amz-Credential=AKIA%2F");
    CHECK(!strstr(s, "abcdef"));
    CHECK(!strstr(s, "AKIA"));
    kiln_free(s);
    s = kiln_http_redact("http://127.0.0.1:8080/users/u/events?per_page=100&page=2");
    CHECK_STR(s, "http://127.0.0.1:8080/users/u/events?per_page=100&page=2");
    kiln_free(s);
}

TEST(net, headers)
{
    kiln_http_resp r;
    kiln_http_resp_init(&r);
    add(&r, "Link",
        "<https://api.github.com/user/1/events?page=2>; rel=\"next\", "
        "<https://api.github.com/user/1/events?page=10>; rel=\"last\"");
    add(&r, "etag", "W/\"abc\"");
    add(&r, "Retry-After", "7");
    char *n = kiln_http_link(&r, "next"), *l = kiln_http_link(&r, "last"), *p = kiln_http_link(&r, "prev");
    CHECK_STR(n, "https://api.github.com/user/1/events?page=2");
    CHECK_STR(l, "https://api.github.com/user/1/events?page=10");
    CHECK(p == NULL);
    kiln_free(n);
    kiln_free(l);
    char e[64];
    kiln_http_etag(&r, e, sizeof e, 0);
    CHECK_STR(e, "W/\"abc\"");
    CHECK_EQ_INT(kiln_http_retry_after_ms(&r), 7000);
    CHECK(kiln_http_header(&r, "ETAG") != NULL);
    CHECK(kiln_http_header(&r, "X-Nope") == NULL);
    kiln_http_resp_free(&r);
}

TEST(net, backoff)
{
    for (int a = 1; a <= 20; a++) {
        long d = kiln_http_backoff_ms(a, 100, 5000);
        long full = 100L << (a - 1 > 16 ? 16 : a - 1);
        if (full > 5000)
            full = 5000;
        CHECK(d >= full / 2 && d <= full);
    }
    CHECK(kiln_http_status_retryable(503));
    CHECK(kiln_http_status_retryable(429));
    CHECK(!kiln_http_status_retryable(404));
    CHECK(!kiln_http_status_retryable(304));
}

/* ---------------------------------------------------------------- against a loopback server
 * A libmicrohttpd server in the test process: each path is a behaviour. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <time.h>

typedef struct srv {
    struct MHD_Daemon *d;
    int port;
    int hits_flaky, hits_ra, hits_always;
    char last_auth[128];
    char last_range[64];
} srv;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body, const char *h, const char *v,
                             const char *h2, const char *v2)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (h)
        MHD_add_response_header(r, h, v);
    if (h2)
        MHD_add_response_header(r, h2, v2);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_req(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    srv *s = cls;
    (void)version;
    (void)upload;
    if (!*con_cls) { /* first call: headers only */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    snprintf(s->last_auth, sizeof s->last_auth, "%s", a ? a : "");
    const char *rg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    snprintf(s->last_range, sizeof s->last_range, "%s", rg ? rg : "");
    if (!strcmp(url, "/flaky")) /* 503 twice, then 200 */
        return ++s->hits_flaky <= 2 ? reply(c, 503, "busy", NULL, NULL, NULL, NULL)
                                    : reply(c, 200, "ok", "ETag", "\"v1\"", "Link", "</next?p=2>; rel=\"next\"");
    if (!strcmp(url, "/retry-after")) /* 429 with Retry-After: 1, then 200 */
        return ++s->hits_ra <= 1 ? reply(c, 429, "slow down", "Retry-After", "1", NULL, NULL)
                                 : reply(c, 200, "ok", NULL, NULL, NULL, NULL);
    if (!strcmp(url, "/always503")) {
        s->hits_always++;
        return reply(c, 503, "down", NULL, NULL, NULL, NULL);
    }
    if (!strcmp(url, "/notfound"))
        return reply(c, 404, "{\"message\":\"Not Found\"}", NULL, NULL, NULL, NULL);
    if (!strcmp(url, "/big"))
        return reply(c, 200, "0123456789abcdefghijklmnopqrstuvwxyz", NULL, NULL, NULL, NULL);
    if (!strcmp(url, "/range")) {
        if (rg && !strcmp(rg, "bytes=10-"))
            return reply(c, 206, "abcdefghijklmnopqrstuvwxyz", "Content-Range", "bytes 10-35/36", NULL, NULL);
        return reply(c, 200, "0123456789abcdefghijklmnopqrstuvwxyz", NULL, NULL, NULL, NULL);
    }
    if (!strcmp(url, "/post") && !strcmp(method, "POST"))
        return reply(c, 201, "created", NULL, NULL, NULL, NULL);
    if (!strcmp(url, "/drop"))
        return MHD_NO; /* close the connection without an answer */
    return reply(c, 404, "no", NULL, NULL, NULL, NULL);
}

static int srv_start(srv *s)
{
    memset(s, 0, sizeof *s);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_req, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&sa, MHD_OPTION_END);
    if (!s->d)
        return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    return s->port ? 0 : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int collect(void *ctx, const kiln_http_resp *r, const char *p, size_t n, kiln_err *err)
{
    (void)r;
    return kiln_buf_append(ctx, p, n, err);
}

TEST(net, live_retries_and_headers)
{
    srv s;
    CHECK(srv_start(&s) == 0);
    kiln_http_opts o;
    memset(&o, 0, sizeof o);
    o.retry_base_ms = 10;
    o.max_attempts = 4;
    kiln_http *c = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_http_new(&c, &o, &err), &err);
    char url[256];
    kiln_http_req q;
    kiln_http_resp r;

    /* 503, 503, 200: three attempts, the final headers kept, the token sent */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/flaky", s.port);
    const char *h[] = {"Authorization: Bearer sekret-value-1"};
    kiln_http_req_init(&q, "GET", url);
    q.headers = h;
    q.nheaders = 1;
    kiln_http_resp_init(&r);
    CHECK_OK(kiln_http_do(c, &q, &r, &err), &err);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.attempts, 3);
    CHECK_STR(r.body.data, "ok");
    char et[32];
    kiln_http_etag(&r, et, sizeof et, 1);
    CHECK_STR(et, "v1");
    char *next = kiln_http_link(&r, "next");
    CHECK_STR(next, "/next?p=2");
    kiln_free(next);
    CHECK_STR(s.last_auth, "Bearer sekret-value-1");
    kiln_http_resp_free(&r);

    /* 429 + Retry-After: 1 s is waited although the backoff is 10 ms */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/retry-after", s.port);
    kiln_http_req_init(&q, "GET", url);
    kiln_http_resp_init(&r);
    double t0 = now_s();
    CHECK_OK(kiln_http_do(c, &q, &r, &err), &err);
    CHECK(now_s() - t0 >= 0.9);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.attempts, 2);
    kiln_http_resp_free(&r);

    /* always 503: max_attempts, then the last answer (a status, not an error) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/always503?access_token=tok-zzz", s.port);
    kiln_http_req_init(&q, "GET", url);
    kiln_http_resp_init(&r);
    CHECK_OK(kiln_http_do(c, &q, &r, &err), &err);
    CHECK_EQ_INT(r.status, 503);
    CHECK_EQ_INT(r.attempts, 4);
    CHECK_EQ_INT(s.hits_always, 4);
    CHECK_STR(r.body.data, "down");
    CHECK(strstr(r.error, "HTTP 503") != NULL);
    CHECK(!strstr(r.error, "tok-zzz")); /* the query secret is redacted */
    kiln_http_resp_free(&r);

    /* 404 is not retried */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/notfound", s.port);
    kiln_http_req_init(&q, "GET", url);
    kiln_http_resp_init(&r);
    CHECK_OK(kiln_http_do(c, &q, &r, &err), &err);
    CHECK_EQ_INT(r.status, 404);
    CHECK_EQ_INT(r.attempts, 1);
    kiln_http_resp_free(&r);

    /* a dropped connection: retried, then KILN_EIO naming the attempts, no secret */
    snprintf(url, sizeof url, "http://user:pw-secret@127.0.0.1:%d/drop", s.port);
    kiln_http_req_init(&q, "GET", url);
    q.max_attempts = 2;
    kiln_http_resp_init(&r);
    CHECK(kiln_http_do(c, &q, &r, &err) == KILN_EIO);
    CHECK_EQ_INT(r.attempts, 2);
    CHECK_EQ_INT(r.transport, KILN_HTTP_ERESET);
    CHECK(strstr(err.msg, "after 2 attempts") != NULL);
    CHECK(!strstr(err.msg, "pw-secret"));
    kiln_http_resp_free(&r);
    kiln_err_clear(&err);

    /* nothing listening: a connect error, retried */
    kiln_http_req_init(&q, "GET", "http://127.0.0.1:1/x");
    q.max_attempts = 2;
    kiln_http_resp_init(&r);
    CHECK(kiln_http_do(c, &q, &r, &err) == KILN_EIO);
    CHECK_EQ_INT(r.transport, KILN_HTTP_ECONNECT);
    kiln_http_resp_free(&r);
    kiln_err_clear(&err);

    /* a range, streamed into a sink */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/range", s.port);
    kiln_http_req_init(&q, "GET", url);
    q.range_from = 10;
    kiln_buf got;
    kiln_buf_init(&got, 0);
    q.sink = collect;
    q.sink_ctx = &got;
    kiln_http_resp_init(&r);
    CHECK_OK(kiln_http_do(c, &q, &r, &err), &err);
    CHECK_EQ_INT(r.status, 206);
    CHECK_STR(s.last_range, "bytes=10-");
    CHECK(got.len == 26 && !memcmp(got.data, "abcdefghijklmnopqrstuvwxyz", 26));
    CHECK_EQ_INT(r.body.len, 0); /* a sink's body does not go to memory */
    kiln_buf_free(&got);
    kiln_http_resp_free(&r);

    /* a body over the cap */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", s.port);
    kiln_http_req_init(&q, "GET", url);
    q.body_cap = 10;
    kiln_http_resp_init(&r);
    CHECK(kiln_http_do(c, &q, &r, &err) == KILN_ELIMIT);
    kiln_http_resp_free(&r);
    kiln_err_clear(&err);

    /* POST with a body */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/post", s.port);
    kiln_http_req_init(&q, "POST", url);
    q.body = "{\"a\":1}";
    q.body_len = 7;
    kiln_http_resp_init(&r);
    CHECK_OK(kiln_http_do(c, &q, &r, &err), &err);
    CHECK_EQ_INT(r.status, 201);
    CHECK(r.bytes_out == 7);
    kiln_http_resp_free(&r);

    kiln_http_free(c);
    MHD_stop_daemon(s.d);
}
