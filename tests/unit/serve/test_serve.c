/* test_serve.c - the HTTP server in-process (libcurl as the client): auth
 * rules, body cap, path checks, routing errors as ErrorModel, refusing a
 * non-loopback listener without a token, and the webhook landing's crash
 * recovery made deterministic: a torn member and a torn log line left as
 * a kill -9 would leave them are cut away at the next start, an unlogged
 * hour file is removed, and a redelivery stays a duplicate. */
#include "harness/harness.h"
#include "serve/serve.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct resp {
    long status;
    kiln_buf body;
} resp;

static size_t on_data(char *p, size_t sz, size_t n, void *ctx)
{
    kiln_err err = {0};
    return kiln_buf_append(&((resp *)ctx)->body, p, sz * n, &err) ? 0 : sz * n;
}

/* One request; headers is a NULL-terminated list. Returns 0 or -1. */
static int req(resp *r, int port, const char *method, const char *path, const char *body, const char *const *headers)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    kiln_buf_init(&r->body, 0);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

/* A chunked upload (no Content-Length) of n bytes of 'x'. */
typedef struct chunked {
    size_t left;
} chunked;

static size_t on_read(char *p, size_t sz, size_t n, void *ctx)
{
    chunked *c = ctx;
    size_t k = sz * n < c->left ? sz * n : c->left;
    memset(p, 'x', k);
    c->left -= k;
    return k;
}

static long post_chunked(int port, size_t n)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/namespaces", port);
    chunked c = {n};
    resp r;
    kiln_buf_init(&r.body, 0);
    long status = 0;
    CURL *h = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    hl = curl_slist_append(hl, "Authorization: Bearer t0ken");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &c);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_perform(h); /* the server may close mid-upload after answering */
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    kiln_buf_free(&r.body);
    return status;
}

static int has(const resp *r, const char *s) { return r->body.data && strstr(r->body.data, s) != NULL; }

TEST(serve, auth_limits_and_routing)
{
    kiln_serve_opts o = {.listen = "127.0.0.1:0", .token = "t0ken", .max_body = 1024, .threads = 2};
    kiln_server *s = NULL;
    kiln_err err = {0};
    CHECK_EQ_INT(kiln_serve_start(&s, &o, &err), 0);
    int port = kiln_serve_port(s);
    CHECK(port > 0);
    resp r;
    const char *auth[] = {"Authorization: Bearer t0ken", NULL};
    const char *wrong[] = {"Authorization: Bearer t0ken2", NULL};
    CHECK_EQ_INT(req(&r, port, "GET", "/healthz", NULL, NULL), 0);
    CHECK_EQ_INT(r.status, 200);
    kiln_buf_free(&r.body);
    /* writes need the token; a wrong or missing one is 401 with an ErrorModel */
    CHECK_EQ_INT(req(&r, port, "POST", "/v1/namespaces", "{}", NULL), 0);
    CHECK_EQ_INT(r.status, 401);
    CHECK(has(&r, "\"type\":\"NotAuthorizedException\"") && has(&r, "\"code\":401"));
    kiln_buf_free(&r.body);
    CHECK_EQ_INT(req(&r, port, "POST", "/v1/namespaces", "{}", wrong), 0);
    CHECK_EQ_INT(r.status, 401);
    kiln_buf_free(&r.body);
    /* the right token gets through auth (no warehouse here: 503) */
    CHECK_EQ_INT(req(&r, port, "POST", "/v1/namespaces", "{\"namespace\":[\"a\"]}", auth), 0);
    CHECK_EQ_INT(r.status, 503);
    kiln_buf_free(&r.body);
    /* body over the cap */
    char big[2048];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK_EQ_INT(req(&r, port, "POST", "/v1/namespaces", big, auth), 0);
    CHECK_EQ_INT(r.status, 413);
    kiln_buf_free(&r.body);
    /* a chunked body past the cap is drained and answered 413 */
    CHECK_EQ_INT(post_chunked(port, 3000), 413);
    /* a far bigger one is cut off (413 or a reset, never buffered or accepted) */
    long huge = post_chunked(port, (size_t)64 << 20);
    CHECK(huge == 413 || huge == 100 || huge == 0);
    /* and the server still answers afterwards */
    CHECK_EQ_INT(req(&r, port, "GET", "/healthz", NULL, NULL), 0);
    CHECK_EQ_INT(r.status, 200);
    kiln_buf_free(&r.body);
    /* traversal-shaped and malformed paths never route */
    CHECK_EQ_INT(req(&r, port, "GET", "/v1/namespaces/../config", NULL, NULL), 0);
    CHECK_EQ_INT(r.status, 400);
    kiln_buf_free(&r.body);
    CHECK_EQ_INT(req(&r, port, "GET", "/v1//config", NULL, NULL), 0);
    CHECK_EQ_INT(r.status, 400);
    kiln_buf_free(&r.body);
    CHECK_EQ_INT(req(&r, port, "GET", "/etc/passwd", NULL, NULL), 0);
    CHECK_EQ_INT(r.status, 404);
    kiln_buf_free(&r.body);
    CHECK_EQ_INT(req(&r, port, "PUT", "/v1/config", "{}", auth), 0);
    CHECK_EQ_INT(r.status, 405);
    kiln_buf_free(&r.body);
    kiln_serve_stop(s);

    /* off loopback, a token is mandatory */
    kiln_serve_opts open = {.listen = "0.0.0.0:0"};
    CHECK(kiln_serve_start(&s, &open, &err) == KILN_ECONFIG);
    CHECK(s == NULL);
    kiln_serve_opts bad = {.listen = "127.0.0.1"};
    CHECK(kiln_serve_start(&s, &bad, &err) == KILN_EINVAL);
    /* serving never creates a warehouse */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/no-such-warehouse", kt_tmpdir());
    kiln_serve_opts nowh = {.listen = "127.0.0.1:0", .warehouse = missing};
    CHECK(kiln_serve_start(&s, &nowh, &err) == KILN_ENOTFOUND);
    struct stat st;
    CHECK(stat(missing, &st) != 0);
}

static void signature(char out[128], const char *secret, const char *body)
{
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac, &len);
    strcpy(out, "X-Hub-Signature-256: sha256=");
    kiln_hex(mac, 32, out + strlen(out));
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static void append(const char *path, const char *s)
{
    FILE *f = fopen(path, "ab");
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

TEST(serve, webhook_recovery_after_torn_writes)
{
    char raw[512], hour[700], logp[700], stray[700];
    snprintf(raw, sizeof raw, "%s/raw", kt_tmpdir());
    /* pushed_at 1759708800 = 2025-10-06T00:00:00Z */
    const char *body = "{\"ref\":\"refs/heads/main\",\"before\":\"b0\",\"after\":\"a1\",\"repository\":{\"id\":5,"
                       "\"full_name\":\"o/r\",\"pushed_at\":1759708800},\"sender\":{\"id\":9,\"login\":\"u\"},"
                       "\"commits\":[]}";
    char sig[128];
    signature(sig, "s3cret", body);
    const char *hdrs[] = {sig, "X-GitHub-Event: push", "X-GitHub-Delivery: 11111111-2222-3333-4444-555555555555", NULL};
    kiln_serve_opts o = {.listen = "127.0.0.1:0", .raw_dir = raw, .webhook_secret = "s3cret"};
    kiln_server *s = NULL;
    kiln_err err = {0};
    resp r;
    CHECK_EQ_INT(kiln_serve_start(&s, &o, &err), 0);
    CHECK_EQ_INT(req(&r, kiln_serve_port(s), "POST", "/hooks/github", body, hdrs), 0);
    CHECK_EQ_INT(r.status, 202);
    kiln_buf_free(&r.body);
    kiln_serve_stop(s);
    snprintf(hour, sizeof hour, "%s/webhooks/date=2025-10-06/2025-10-06-0.json.gz", raw);
    snprintf(logp, sizeof logp, "%s/webhooks/_deliveries.log", raw);
    snprintf(stray, sizeof stray, "%s/webhooks/date=2025-10-06/2025-10-06-5.json.gz", raw);
    long good = file_size(hour), good_log = file_size(logp);
    CHECK(good > 20 && good_log > 40);
    /* what a kill -9 mid-delivery leaves: a partial gzip member, a torn log
     * line, an hour file whose only delivery was never logged */
    append(hour, "\x1f\x8b\x08partial member");
    append(logp, "99999999-0000-0000-0000-000000000000\tdate=2025-10-06/2025-10-06-0.json.gz\t12");
    append(stray, "\x1f\x8b");
    CHECK_EQ_INT(kiln_serve_start(&s, &o, &err), 0);
    CHECK_EQ_INT(file_size(hour), good);
    CHECK_EQ_INT(file_size(logp), good_log);
    CHECK_EQ_INT(file_size(stray), -1);
    /* the acknowledged delivery is still known: a redelivery lands nothing */
    CHECK_EQ_INT(req(&r, kiln_serve_port(s), "POST", "/hooks/github", body, hdrs), 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK(has(&r, "\"duplicate\":true"));
    kiln_buf_free(&r.body);
    CHECK_EQ_INT(file_size(hour), good);
    kiln_serve_stop(s);
    /* the repaired file is a clean gzip stream holding one event line */
    char *argv[] = {"gzip", "-t", hour, NULL};
    char *out = NULL;
    CHECK_EQ_INT(kt_run(argv, &out), 0);
    free(out);
}
