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
