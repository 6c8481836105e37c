/*
 * test_json_decode_diff.c - kiln_json_str_decode (16-byte copy fast path
 * plus the careful tail) against jansson on many generated valid strings:
 * every length 0..80 around the 16-byte boundaries, escapes and UTF-8 at
 * every position, and the buffer cap exactly at, and one byte under, the
 * decoded length (the fast path must neither overrun nor refuse a fit).
 */
#include "harness/harness.h"
#include "format/json/json_scan.h"

#include <jansson.h>
#include <stdlib.h>

/* A random valid JSON string literal of about n source bytes into lit. */
static size_t gen_literal(char *lit, size_t n, uint64_t *seed)
{
    static const char *pieces[] = {"a",
                                   "b",
                                   "Z",
                                   "0",
                                   " ",
                                   "\\n",
                                   "\\\"",
                                   "\\\\",
                                   "\\/",
                                   "\\t",
                                   "\\u00e9",
                                   "\\ud83d\\ude00",
                                   "\xc3\xa9",
                                   "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80",
                                   "x",
                                   "y",
                                   ",",
                                   "{",
                                   "}"};
    size_t np = sizeof pieces / sizeof pieces[0];
    size_t o = 0;
    lit[o++] = '"';
    while (o < n + 1) {
        *seed ^= *seed << 13, *seed ^= *seed >> 7, *seed ^= *seed << 17;
        /* mostly plain letters, so long clean runs occur */
        const char *p = (*seed % 8) ? pieces[*seed % 5] : pieces[(*seed >> 8) % np];
        size_t k = strlen(p);
        memcpy(lit + o, p, k);
        o += k;
    }
    lit[o++] = '"';
    lit[o] = '\0';
    return o;
}

TEST(json_scan, decode_matches_jansson_at_every_length_and_cap)
{
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char lit[256];
    int checked = 0;
    for (size_t n = 0; n <= 80; n++) {
        for (int rep = 0; rep < 40; rep++) {
            size_t ln = gen_literal(lit, n, &seed);
            json_error_t je;
            json_t *j = json_loadb(lit, ln, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            CHECK(j != NULL);
            if (!j)
                continue;
            const char *want = json_string_value(j);
            size_t wn = json_string_length(j);
            /* plenty of room, exact cap, and one byte short */
            for (int mode = 0; mode < 3; mode++) {
                kiln_buf b;
                kiln_buf_init(&b, mode == 0 ? 4096 : mode == 1 ? (wn ? wn : 1) : (wn > 1 ? wn - 1 : 1));
                if (mode == 2 && wn <= 1) { /* cap 0 means the default cap */
                    kiln_buf_free(&b);
                    continue;
                }
                uint64_t nrepl = 0;
                const char *why = NULL;
                const char *q = kiln_json_str_decode(lit, lit + ln, &b, &nrepl, &why);
                if (mode < 2) {
                    CHECK(q == lit + ln);
                    CHECK_EQ_INT(b.len, wn);
                    CHECK(b.len == wn && memcmp(b.data, want, wn) == 0);
                    CHECK(b.data && b.data[b.len] == '\0');
                    CHECK_EQ_INT(nrepl, 0);
                } else {
                    CHECK(q == NULL);
                    CHECK(why && strstr(why, "cap") != NULL);
                }
                kiln_buf_free(&b);
                checked++;
            }
            /* appending after existing content keeps that content */
            kiln_buf b;
            kiln_buf_init(&b, 4096);
            kiln_err e;
            CHECK_EQ_INT(kiln_buf_append(&b, "prefix", 6, &e), 0);
            uint64_t nrepl = 0;
            const char *why = NULL;
            CHECK(kiln_json_str_decode(lit, lit + ln, &b, &nrepl, &why) == lit + ln);
            CHECK(b.len == 6 + wn && memcmp(b.data, "prefix", 6) == 0 && memcmp(b.data + 6, want, wn) == 0);
            kiln_buf_free(&b);
            json_decref(j);
        }
    }
    CHECK(checked > 9000);
}

TEST(json_scan, decode_truncated_at_every_length)
{
    /* the literal cut anywhere before its closing quote is an error, never a read past end */
    uint64_t seed = 12345;
    char lit[256];
    for (size_t n = 0; n <= 64; n++) {
        size_t ln = gen_literal(lit, n, &seed);
        for (size_t cut = 1; cut < ln; cut++) {
            char *copy = malloc(cut); /* exact size: ASan catches an overread */
            memcpy(copy, lit, cut);
            kiln_buf b;
            kiln_buf_init(&b, 4096);
            uint64_t nrepl = 0;
            const char *why = NULL;
            CHECK(kiln_json_str_decode(copy, copy + cut, &b, &nrepl, &why) == NULL);
            CHECK(why != NULL);
            kiln_buf_free(&b);
            free(copy);
        }
    }
}
