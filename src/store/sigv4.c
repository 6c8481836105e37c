/*
 * sigv4.c - AWS Signature Version 4 (see store.h): canonical request,
 * string to sign, signing key and signature, with libcrypto's HMAC-SHA256.
 *
 * The canonical URI is the path as sent (S3 does not normalize or
 * double-encode it); the canonical query is every parameter decoded, then
 * re-encoded with the SigV4 rules (so '=' or '/' inside a value are %3D,
 * %2F), sorted by name then value. Header names are lower-cased, values
 * trimmed with inner runs of spaces folded, sorted by name.
 */
#include "store/store.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

static int unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

char *kiln_sigv4_uri_encode(const char *s, size_t n, int keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = kiln_malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return out;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* percent-decode (and '+' stays '+': S3 clients never send '+' for space) */
static char *decode(const char *s, size_t n, size_t *outn)
{
    char *out = kiln_malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = 0;
    *outn = o;
    return out;
}

typedef struct qparam {
    char *k, *v;
} qparam;

static int qcmp(const void *a, const void *b)
{
    const qparam *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static int canonical_query(kiln_buf *out, const char *q, kiln_err *err)
{
    if (!q || !*q)
        return 0;
    size_t cnt = 1;
    for (const char *p = q; *p; p++)
        cnt += *p == '&';
    qparam *ps = kiln_calloc(cnt, sizeof *ps);
    if (!ps)
        return KILN_OOM(err);
    size_t np = 0;
    int rc = 0;
    const char *p = q;
    while (*p && !rc) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t kl = eq ? (size_t)(eq - p) : len;
            size_t dn;
            char *dk = decode(p, kl, &dn);
            char *ek = dk ? kiln_sigv4_uri_encode(dk, dn, 0) : NULL;
            char *dv = decode(eq ? eq + 1 : "", eq ? len - kl - 1 : 0, &dn);
            char *ev = dv ? kiln_sigv4_uri_encode(dv, dn, 0) : NULL;
            kiln_free(dk);
            kiln_free(dv);
            if (!ek || !ev) {
                kiln_free(ek);
                kiln_free(ev);
                rc = KILN_OOM(err);
                break;
            }
            ps[np].k = ek;
            ps[np].v = ev;
            np++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    if (!rc) {
        kiln_sort(ps, np, sizeof *ps, qcmp);
        for (size_t i = 0; i < np && !rc; i++)
            rc = kiln_buf_printf(out, err, "%s%s=%s", i ? "&" : "", ps[i].k, ps[i].v);
    }
    for (size_t i = 0; i < np; i++) {
        kiln_free(ps[i].k);
        kiln_free(ps[i].v);
    }
    kiln_free(ps);
    return rc;
}

typedef struct hdr {
    char *name, *value;
} hdr;

static int hcmp(const void *a, const void *b) { return strcmp(((const hdr *)a)->name, ((const hdr *)b)->name); }

static void hmac(const void *key, size_t kn, const char *msg, uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)kn, (const unsigned char *)msg, strlen(msg), out, &len);
}

int kiln_sigv4_sign(const kiln_sigv4_req *r, char **authorization, char **creq_out, char **sts_out, kiln_err *err)
{
    *authorization = NULL;
    if (creq_out)
        *creq_out = NULL;
    if (sts_out)
        *sts_out = NULL;
    if (!r->amz_date || strlen(r->amz_date) != 16)
        return kiln_err_set(err, KILN_EINVAL, "sigv4: amz_date must be YYYYMMDDTHHMMSSZ");
    hdr *hs = kiln_calloc(r->nheaders ? r->nheaders : 1, sizeof *hs);
    kiln_buf creq, sts, signed_h;
    kiln_buf_init(&creq, 0);
    kiln_buf_init(&sts, 0);
    kiln_buf_init(&signed_h, 0);
    int rc = 0;
    size_t nh = 0;
    if (!hs) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *line = r->headers[i], *colon = strchr(line, ':');
        if (!colon) {
            rc = kiln_err_set(err, KILN_EINVAL, "sigv4: header without ':'");
            goto done;
        }
        char *name = kiln_strndup(line, (size_t)(colon - line));
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        char *value = kiln_malloc(vl + 1);
        if (!name || !value) {
            kiln_free(name);
            kiln_free(value);
            rc = KILN_OOM(err);
            goto done;
        }
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        size_t o = 0;
        for (size_t k = 0; k < vl; k++) {
            if (v[k] == ' ' && o && value[o - 1] == ' ')
                continue;
            value[o++] = v[k];
        }
        value[o] = 0;
        hs[nh].name = name;
        hs[nh].value = value;
        nh++;
    }
    kiln_sort(hs, nh, sizeof *hs, hcmp);
    if ((rc = kiln_buf_printf(&creq, err, "%s\n%s\n", r->method, r->path && *r->path ? r->path : "/")) ||
        (rc = canonical_query(&creq, r->query, err)) || (rc = kiln_buf_putc(&creq, '\n', err)))
        goto done;
    for (size_t i = 0; i < nh; i++) {
        /* repeated names: one line, values joined by ',' */
        if (i && !strcmp(hs[i].name, hs[i - 1].name)) {
            creq.len--; /* drop the '\n' */
            if ((rc = kiln_buf_printf(&creq, err, ",%s\n", hs[i].value)))
                goto done;
            continue;
        }
        if ((rc = kiln_buf_printf(&creq, err, "%s:%s\n", hs[i].name, hs[i].value)) ||
            (rc = kiln_buf_printf(&signed_h, err, "%s%s", signed_h.len ? ";" : "", hs[i].name)))
            goto done;
    }
    if ((rc = kiln_buf_printf(&creq, err, "\n%s\n%s", signed_h.data ? signed_h.data : "",
                              r->payload_hash ? r->payload_hash : "UNSIGNED-PAYLOAD")))
        goto done;
    char ch[65], date[9];
    kiln_sha256_hex(creq.data, creq.len, ch);
    memcpy(date, r->amz_date, 8);
    date[8] = 0;
    if ((rc = kiln_buf_printf(&sts, err, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", r->amz_date, date,
                              r->region, r->service, ch)))
        goto done;
    uint8_t k[32];
    size_t sl = strlen(r->secret_key);
    char *ks = kiln_sprintf("AWS4%s", r->secret_key);
    if (!ks) {
        rc = KILN_OOM(err);
        goto done;
    }
    hmac(ks, sl + 4, date, k);
    memset(ks, 0, sl + 4);
    kiln_free(ks);
    hmac(k, 32, r->region, k);
    hmac(k, 32, r->service, k);
    hmac(k, 32, "aws4_request", k);
    uint8_t sig[32];
    hmac(k, 32, sts.data, sig);
    memset(k, 0, sizeof k);
    char sighex[65];
    kiln_hex(sig, 32, sighex);
    *authorization =
        kiln_sprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request,SignedHeaders=%s,Signature=%s",
                     r->access_key, date, r->region, r->service, signed_h.data ? signed_h.data : "", sighex);
    if (!*authorization) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (creq_out) {
        *creq_out = creq.data;
        creq.data = NULL;
    }
    if (sts_out) {
        *sts_out = sts.data;
        sts.data = NULL;
    }
done:
    for (size_t i = 0; i < nh; i++) {
        kiln_free(hs[i].name);
        kiln_free(hs[i].value);
    }
    kiln_free(hs);
    kiln_free(creq.data);
    kiln_free(sts.data);
    kiln_free(signed_h.data);
    return rc;
}
