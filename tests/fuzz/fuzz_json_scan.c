/*
 * fuzz_json_scan.c - fuzz target for the JSON scanner (src/format/json_scan.c).
 *
 * On every input: skip values one after another (resyncing a byte at a time
 * on errors), walk objects key by key, parse integers, and decode the input
 * as a string body. Invariants checked (abort on violation):
 *  - every returned position lies inside [data, data+n];
 *  - decoded strings are valid UTF-8 without NUL bytes;
 *  - write_str(x) decoded again equals x with invalid UTF-8 and NUL replaced
 *    by U+FFFD (the writer and the decoder agree).
 */
#include "harness/harness.h"
#include "format/json/json_scan.h"

#include <dirent.h>
#include <stdlib.h>

static void fz_abort(const char *what)
{
    fprintf(stderr, "fuzz_json_scan: %s\n", what);
    abort();
}

static void check_pos(const char *q, const char *s, const char *e)
{
    if (q && (q < s || q > e))
        fz_abort("position outside the input");
}

static void check_clean_utf8(const kiln_buf *b)
{
    kiln_buf v;
    kiln_buf_init(&v, 0);
    kiln_err err = {0};
    uint64_t r = 0;
    if (kiln_utf8_append_valid(&v, b->data ? b->data : "", b->len, &r, &err) || r != 0)
        fz_abort("decoded string is not valid UTF-8");
    if (b->len && memchr(b->data, 0, b->len))
        fz_abort("decoded string holds a NUL");
    kiln_buf_free(&v);
}

int kiln_fuzz_json_scan(const uint8_t *d, size_t n)
{
    const char *s = (const char *)d, *e = s + n, *why;
    /* 1. skip values across the whole input */
    const char *p = s;
    while (p < e) {
        p = kiln_json_ws(p, e);
        if (p >= e)
            break;
        const char *q = kiln_json_skip_value(p, e, &why);
        check_pos(q, s, e);
        p = q && q > p ? q : p + 1;
    }
    /* 1b. the block skipper agrees with the byte-by-byte reference */
    for (const char *b = s; b < e; b++) {
        if (*b != '{' && *b != '[')
            continue;
        const char *w1, *w2;
        const char *x = kiln_json_skip_rest(b + 1, e, 1, &w1), *y = kiln_json__skip_rest_ref(b + 1, e, 1, &w2);
        if (x != y)
            fz_abort("block skipper and reference skipper disagree");
        check_pos(x, s, e);
        if (b - s > 256)
            break;
    }
    /* 2. object walk from the first '{' */
    const char *o = memchr(s, '{', n);
    if (o) {
        kiln_buf b;
        kiln_buf_init(&b, 1 << 20);
        uint64_t r = 0;
        p = kiln_json_obj_begin(o, e, &why);
        for (int i = 0; p && i < 1000; i++) {
            const char *k;
            size_t kl;
            int done;
            p = kiln_json_obj_key(p, e, &k, &kl, &done, &why);
            check_pos(p, s, e);
            if (!p || done || p >= e)
                break;
            int64_t v;
            const char *q;
            if (*p == '"') {
                kiln_buf_reset(&b);
                q = kiln_json_str_decode(p, e, &b, &r, &why);
                if (q)
                    check_clean_utf8(&b);
            } else if ((*p >= '0' && *p <= '9') || *p == '-') {
                q = kiln_json_parse_i64(p, e, &v, &why);
                if (!q)
                    q = kiln_json_skip_value(p, e, &why);
            } else {
                q = kiln_json_skip_value(p, e, &why);
            }
            check_pos(q, s, e);
            if (!q)
                break;
            p = kiln_json_obj_next(q, e, &done, &why);
            check_pos(p, s, e);
            if (done)
                break;
        }
        kiln_buf_free(&b);
    }
    /* 3. the input as a string body: write, decode, compare */
    kiln_buf w, back, want;
    kiln_buf_init(&w, 0);
    kiln_buf_init(&back, 0);
    kiln_buf_init(&want, 0);
    kiln_err err = {0};
    uint64_t r = 0;
    if (kiln_json_write_str(&w, s, n, &err))
        fz_abort("write_str failed");
    const char *q = kiln_json_str_decode(w.data, w.data + w.len, &back, &r, &why);
    if (q != w.data + w.len)
        fz_abort("decode of write_str output failed");
    check_clean_utf8(&back);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && d[j] != 0)
            j++;
        kiln_utf8_append_valid(&want, s + i, j - i, NULL, &err);
        if (j < n)
            kiln_buf_append(&want, "\xef\xbf\xbd", 3, &err);
        i = j + 1;
    }
    if (want.len != back.len || (want.len && memcmp(want.data, back.data, want.len)))
        fz_abort("write_str/str_decode round trip differs");
    /* 4. the raw input as a string literal body */
    kiln_buf_reset(&back);
    if (n && d[0] == '"') {
        q = kiln_json_str_decode(s, e, &back, &r, &why);
        check_pos(q, s, e);
        if (q)
            check_clean_utf8(&back);
    }
    kiln_buf_free(&w);
    kiln_buf_free(&back);
    kiln_buf_free(&want);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_json_scan(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(json_scan, kiln_fuzz_json_scan)
