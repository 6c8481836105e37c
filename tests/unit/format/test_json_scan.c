/*
 * test_json_scan.c - the JSON scanner: escapes, surrogates, invalid UTF-8,
 * skipping (deep nesting, huge strings, concatenated objects), integer ids
 * as strings or numbers, truncated input, object iteration, and the string
 * writer.
 */
#include "harness/harness.h"
#include "format/json/json_scan.h"

#include <stdlib.h>

/* Decode the JSON string literal s; returns the decoded text (static buf). */
static const char *dec(const char *s, uint64_t *nrepl, const char **why)
{
    static kiln_buf b;
    kiln_buf_free(&b);
    kiln_buf_init(&b, 0);
    *nrepl = 0;
    const char *q = kiln_json_str_decode(s, s + strlen(s), &b, nrepl, why);
    if (!q)
        return NULL;
    return b.data ? b.data : "";
}

TEST(json_scan, escapes)
{
    uint64_t r;
    const char *why = NULL;
    CHECK_STR(dec("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", &r, &why), "a\"b\\c/d\b\f\n\r\t");
    CHECK_STR(dec("\"caf\\u00e9 \\u4e2d\"", &r, &why), "caf\xc3\xa9 \xe4\xb8\xad");
    CHECK_EQ_INT(r, 0);
    CHECK_STR(dec("\"\"", &r, &why), "");
    CHECK(dec("\"bad \\x\"", &r, &why) == NULL);
    CHECK_STR(why, "bad escape in string");
    CHECK(dec("\"bad \\u12g4\"", &r, &why) == NULL);
    CHECK(dec("\"raw\ttab\"", &r, &why) == NULL);
    CHECK_STR(why, "raw control character in string");
}

TEST(json_scan, surrogates_and_nul)
{
    uint64_t r;
    const char *why = NULL;
    /* a pair: U+1F600 */
    CHECK_STR(dec("\"\\ud83d\\ude00!\"", &r, &why), "\xf0\x9f\x98\x80!");
    CHECK_EQ_INT(r, 0);
    /* lone high, then a normal char */
    CHECK_STR(dec("\"\\ud83dx\"", &r, &why), "\xef\xbf\xbdx");
    CHECK_EQ_INT(r, 1);
    /* high followed by a non-low escape: both kept apart */
    CHECK_STR(dec("\"\\ud83d\\u0041\"", &r, &why), "\xef\xbf\xbd"
                                                   "A");
    CHECK_EQ_INT(r, 1);
    /* lone low */
    CHECK_STR(dec("\"\\ude00\"", &r, &why), "\xef\xbf\xbd");
    CHECK_EQ_INT(r, 1);
    /* \u0000 never reaches the output as NUL */
    CHECK_STR(dec("\"a\\u0000b\"", &r, &why), "a\xef\xbf\xbd"
                                              "b");
    CHECK_EQ_INT(r, 1);
    /* high surrogate at the very end of the string */
    CHECK_STR(dec("\"\\ud800\"", &r, &why), "\xef\xbf\xbd");
}

TEST(json_scan, invalid_utf8)
{
    uint64_t r;
    const char *why = NULL;
    /* valid 2/3/4-byte sequences pass through */
    CHECK_STR(dec("\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"", &r, &why), "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
    CHECK_EQ_INT(r, 0);
    /* a stray continuation byte, a truncated sequence, 0xFF */
    CHECK_STR(dec("\"a\x80"
                  "b\xc3"
                  "c\xff\"",
                  &r, &why),
              "a\xef\xbf\xbd"
              "b\xef\xbf\xbd"
              "c\xef\xbf\xbd");
    CHECK_EQ_INT(r, 3);
    /* overlong '/' and an encoded surrogate are invalid */
    CHECK_STR(dec("\"\xc0\xaf\"", &r, &why), "\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_EQ_INT(r, 2);
    CHECK_STR(dec("\"\xed\xa0\x80\"", &r, &why), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    CHECK_EQ_INT(r, 3);
    /* above U+10FFFF */
    CHECK_STR(dec("\"\xf4\x90\x80\x80\"", &r, &why), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* long ASCII runs (SIMD path) with a bad byte after 40 bytes */
    CHECK_STR(dec("\"0123456789012345678901234567890123456789\xfe tail\"", &r, &why),
              "0123456789012345678901234567890123456789\xef\xbf\xbd tail");
}

TEST(json_scan, ids_strings_or_numbers)
{
    const char *why = NULL;
    int64_t v = 0;
    const char *s = "\"45193154559\"";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == s + strlen(s));
    CHECK(v == 45193154559LL);
    s = "45193154559,";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == s + 11);
    CHECK(v == 45193154559LL);
    s = "-7}";
    CHECK(kiln_json_parse_i64(s, s + 3, &v, &why) && v == -7);
    s = "9223372036854775807";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) && v == INT64_MAX);
    s = "-9223372036854775808";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) && v == INT64_MIN);
    s = "9223372036854775808";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == NULL);
    CHECK_STR(why, "integer out of int64 range");
    s = "99999999999999999999999";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == NULL);
    s = "\"12a\"";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == NULL);
    s = "\"\"";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == NULL);
    s = "1.5";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == NULL);
    s = "\"123";
    CHECK(kiln_json_parse_i64(s, s + strlen(s), &v, &why) == NULL);
}

TEST(json_scan, skip_values_and_concatenation)
{
    const char *why = NULL;
    const char *s = "{\"a\":[1,{\"b\":\"}]\\\"{\"}],\"c\":null}{\"id\":2}";
    const char *q = kiln_json_skip_value(s, s + strlen(s), &why);
    CHECK(q != NULL);
    CHECK_STR(q, "{\"id\":2}"); /* stops at the `}{` boundary */
    s = "\"x\\\\\" rest";
    q = kiln_json_skip_value(s, s + strlen(s), &why);
    CHECK(q && *q == ' ');
    s = "-12.5e3,";
    q = kiln_json_skip_value(s, s + strlen(s), &why);
    CHECK(q && *q == ',');
    s = "true]";
    CHECK(kiln_json_skip_value(s, s + strlen(s), &why) == s + 4);
    s = "tru";
    CHECK(kiln_json_skip_value(s, s + 3, &why) == NULL);
    s = "?";
    CHECK(kiln_json_skip_value(s, s + 1, &why) == NULL);
}

TEST(json_scan, truncated)
{
    const char *why = NULL;
    const char *cases[] = {"{\"a\":[1,2", "{\"a\":\"abc", "{\"a\":\"abc\\", "[[[", "\"", "{\"a\":{\"b\":1}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *s = cases[i];
        CHECK_MSG(kiln_json_skip_value(s, s + strlen(s), &why) == NULL, "case %zu skipped", i);
        CHECK(strstr(why, "truncated") != NULL);
    }
    /* the skip never reads past end: a buffer without terminator */
    char *raw = malloc(5);
    memcpy(raw, "{\"a\":", 5);
    CHECK(kiln_json_skip_value(raw, raw + 5, &why) == NULL);
    free(raw);
}

TEST(json_scan, deep_nesting_is_skipped_iteratively)
{
    size_t depth = 90000;
    char *s = malloc(2 * depth + 1);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    s[2 * depth] = 0;
    const char *why = NULL;
    CHECK(kiln_json_skip_value(s, s + 2 * depth, &why) == s + 2 * depth);
    free(s);
    depth = KILN_JSON_MAX_DEPTH + 10;
    s = malloc(depth);
    memset(s, '{', depth);
    CHECK(kiln_json_skip_value(s, s + depth, &why) == NULL);
    CHECK(strstr(why, "nesting") != NULL);
    free(s);
}

TEST(json_scan, huge_string)
{
    size_t n = 12u << 20;
    char *s = malloc(n + 3);
    s[0] = '"';
    for (size_t i = 1; i <= n; i++)
        s[i] = (char)('a' + i % 26);
    s[n / 2] = '\\';
    s[n / 2 + 1] = 'n';
    s[n + 1] = '"';
    s[n + 2] = 0;
    const char *why = NULL;
    CHECK(kiln_json_str_skip(s, s + n + 2, &why) == s + n + 2);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    uint64_t r = 0;
    CHECK(kiln_json_str_decode(s, s + n + 2, &b, &r, &why) == s + n + 2);
    CHECK_EQ_INT(b.len, n - 1);
    CHECK(b.data[n / 2 - 1] == '\n');
    kiln_buf_free(&b);
    /* a cap on the output buffer is an error, not a crash */
    kiln_buf_init(&b, 1000);
    CHECK(kiln_json_str_decode(s, s + n + 2, &b, &r, &why) == NULL);
    CHECK(strstr(why, "cap") != NULL);
    kiln_buf_free(&b);
    free(s);
}

TEST(json_scan, object_iteration)
{
    const char *s = "{ \"id\" : \"7\" , \"type\":\"PushEvent\",\"x\":{\"y\":[1]} }tail";
    const char *end = s + strlen(s), *why = NULL, *k;
    size_t kl;
    int done;
    const char *p = kiln_json_obj_begin(s, end, &why);
    p = kiln_json_obj_key(p, end, &k, &kl, &done, &why);
    CHECK(p && !done && kl == 2 && memcmp(k, "id", 2) == 0);
    int64_t v;
    p = kiln_json_parse_i64(p, end, &v, &why);
    CHECK(p && v == 7);
    p = kiln_json_obj_next(p, end, &done, &why);
    p = kiln_json_obj_key(p, end, &k, &kl, &done, &why);
    CHECK(p && kl == 4);
    p = kiln_json_str_skip(p, end, &why);
    p = kiln_json_obj_next(p, end, &done, &why);
    p = kiln_json_obj_key(p, end, &k, &kl, &done, &why);
    CHECK(p && kl == 1 && *k == 'x');
    p = kiln_json_skip_value(p, end, &why);
    p = kiln_json_obj_next(p, end, &done, &why);
    CHECK(p && done);
    CHECK_STR(p, "tail");
    s = "{\"a\" 1}";
    p = kiln_json_obj_begin(s, s + strlen(s), &why);
    CHECK(kiln_json_obj_key(p, s + strlen(s), &k, &kl, &done, &why) == NULL);
    s = "{}";
    p = kiln_json_obj_begin(s, s + 2, &why);
    p = kiln_json_obj_key(p, s + 2, &k, &kl, &done, &why);
    CHECK(p == s + 2 && done);
}

TEST(json_scan, write_str)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    const char in[] = "q\"b\\n\n\x01\0\xff\xc3\xa9";
    CHECK_OK(kiln_json_write_str(&b, in, sizeof in - 1, &err), &err);
    CHECK_STR(b.data, "\"q\\\"b\\\\n\\n\\u0001\\u0000\xef\xbf\xbd\xc3\xa9\"");
    kiln_buf_free(&b);
    kiln_buf_init(&b, 0);
    uint64_t r = 0;
    CHECK_OK(kiln_utf8_append_valid(&b, "a\xe4\xb8x", 4, &r, &err), &err);
    CHECK_STR(b.data, "a\xef\xbf\xbd\xef\xbf\xbdx");
    CHECK_EQ_INT(r, 2);
    kiln_buf_free(&b);
}
