/*
 * fuzz_http.c - fuzz target for HTTP requests to kiln serve: each input is
 * sent as the raw bytes of a request (request line, headers, body) to an
 * in-process server with a warehouse, a raw zone, a bearer token and a
 * webhook secret (fuzz_serve.h), so libmicrohttpd's parsing and kiln's
 * routing, path checks, auth, query strings and handlers (the Iceberg REST
 * catalog, /api/v1, /metrics, /hooks/github, the UI) all see it.
 * Invariants (abort on violation): no crash or sanitizer report; the server
 * answers every input with a well-formed HTTP/1.x status line or closes the
 * connection; never 500 (an internal error is a bug for any input); the
 * server still answers GET /metrics afterwards.
 */
#include "fuzz_serve.h"

static void fz_abort(const char *what, const uint8_t *d, size_t n, const char *resp)
{
    fprintf(stderr, "fuzz_http: %s\n--- request\n%.*s\n--- answer\n%.300s\n", what, (int)(n > 600 ? 600 : n),
            (const char *)d, resp);
    abort();
}

int kiln_fuzz_http(const uint8_t *d, size_t n)
{
    int port = fzs_port("fuzz-secret");
    if (!port)
        abort();
    static char resp[1 << 16];
    long got = fzs_exchange(port, d, n, resp, sizeof resp);
    if (got < 0)
        fz_abort("server unreachable", d, n, "");
    int st = fzs_status(resp, got);
    if (st < 0)
        fz_abort("malformed status line", d, n, resp);
    if (st == 500)
        fz_abort("500 for a request", d, n, resp);
    static const char probe[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    got = fzs_exchange(port, probe, sizeof probe - 1, resp, sizeof resp);
    if (fzs_status(resp, got) != 200)
        fz_abort("the server no longer answers /metrics", d, n, resp);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_http(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(http, kiln_fuzz_http)
