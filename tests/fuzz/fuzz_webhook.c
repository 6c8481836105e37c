/*
 * fuzz_webhook.c - fuzz target for GitHub webhook bodies: each input is the
 * body of a correctly signed (HMAC-SHA256 with the server's secret) push
 * delivery to POST /hooks/github of an in-process kiln serve
 * (fuzz_serve.h), so the body reaches the JSON parsing, the push-event
 * mapping and the landing in the raw zone. Invariants (abort on violation):
 * no crash or sanitizer report; the answer is 202 (landed), 200 (a
 * duplicate: the delivery id is the body's hash) or 400 (not a push
 * payload) and nothing else; an answer says whether it landed.
 */
#include "fuzz_serve.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#define FZ_SECRET "fuzz-secret"

static void fz_abort(const char *what, const uint8_t *d, size_t n, const char *resp)
{
    fprintf(stderr, "fuzz_webhook: %s\n--- body\n%.*s\n--- answer\n%.300s\n", what, (int)(n > 600 ? 600 : n),
            (const char *)d, resp);
    abort();
}

int kiln_fuzz_webhook(const uint8_t *d, size_t n)
{
    if (n > (1 << 20) - 1024)
        return 0;
    int port = fzs_port(FZ_SECRET);
    if (!port)
        abort();
    unsigned char mac[32], h[32];
    unsigned ml = 0;
    HMAC(EVP_sha256(), FZ_SECRET, (int)strlen(FZ_SECRET), d, n, mac, &ml);
    SHA256(d, n, h);
    char sig[72], id[40];
    for (int i = 0; i < 32; i++)
        snprintf(sig + 2 * i, 3, "%02x", mac[i]);
    /* a GUID from the body's hash: a repeated input is a redelivery */
    snprintf(id, sizeof id, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2],
             h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST /hooks/github HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "X-GitHub-Event: push\r\nX-GitHub-Delivery: %s\r\nX-Hub-Signature-256: sha256=%s\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      id, sig, n);
    char *req = malloc((size_t)hl + n);
    if (!req)
        return 0;
    memcpy(req, head, (size_t)hl);
    if (n)
        memcpy(req + hl, d, n);
    static char resp[1 << 16];
    long got = fzs_exchange(port, req, (size_t)hl + n, resp, sizeof resp);
    free(req);
    int st = fzs_status(resp, got);
    if (st != 202 && st != 200 && st != 400)
        fz_abort("answer is not 202, 200 or 400", d, n, resp);
    if ((st == 202 || st == 200) && !strstr(resp, "\"landed\""))
        fz_abort("an accepted answer does not say whether it landed", d, n, resp);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_webhook(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(webhook, kiln_fuzz_webhook)
