/*
 * json_scan.h - kiln's own JSON scanner: no DOM, no allocation. The caller
 * walks a JSON text with a pointer, pulls out the few values it needs and
 * skips everything else fast (SSE2 search for the next quote/bracket;
 * strings skipped without decoding). Used by the GitHub-events engine.
 *
 * Conventions: every function takes [p, end) and returns the position just
 * past what it consumed, or NULL when the text is malformed or ends early,
 * with *why set to a static reason ("truncated string", ...). Nothing reads
 * at or past end.
 *
 * Decoding (kiln_json_str_decode) is strict JSON plus two repairs that
 * GH Archive needs: lone surrogates and \u0000 become U+FFFD, invalid UTF-8
 * bytes become U+FFFD (one per bad byte); each repair is counted.
 * Skipping is lenient: it tracks strings and bracket depth only.
 */
#ifndef KILN_JSON_SCAN_H
#define KILN_JSON_SCAN_H

#include "base/base.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Nesting deeper than this is refused by kiln_json_skip_value (the skip is
 * iterative, so the cap is about hostile input, not the stack). */
#define KILN_JSON_MAX_DEPTH 100000

static inline const char *kiln_json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* Position of the first '"' or '\\' in [p, end), or end (16 bytes at a
 * time with SSE2; never reads at or past end). */
static inline const char *kiln_json__find_quote_bs(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)));
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '\\')
        p++;
    return p;
}

/* p at an opening quote: past the closing quote, escapes not decoded.
 * (This and the object walkers below are inline: the event parser calls
 * them for every key and small value, where a call costs as much as the
 * work.) */
static inline const char *kiln_json_str_skip(const char *p, const char *end, const char **why)
{
    if (p >= end || *p != '"') {
        *why = "expected a string";
        return NULL;
    }
    p++;
    for (;;) {
        p = kiln_json__find_quote_bs(p, end);
        if (p >= end) {
            *why = "truncated string";
            return NULL;
        }
        if (*p == '"')
            return p + 1;
        p += 2; /* backslash and the escaped byte */
    }
}
/* p at an opening quote: decode into out (appended, not NUL-counted);
 * *nrepl += number of U+FFFD substitutions. Fails on a bad escape, a raw
 * control character, a truncated string, or out's cap. */
const char *kiln_json_str_decode(const char *p, const char *end, kiln_buf *out, uint64_t *nrepl, const char **why);
/* p at the first byte of any value: past its end. */
const char *kiln_json_skip_value(const char *p, const char *end, const char **why);
/* p just inside an object or array that is `depth` levels deep (1 = inside
 * the outermost): past the bracket that closes depth 1. */
const char *kiln_json_skip_rest(const char *p, const char *end, int depth, const char **why);
/* The same, byte by byte (the reference the fuzz target checks the block
 * skipper against; not for production use). */
const char *kiln_json__skip_rest_ref(const char *p, const char *end, int depth, const char **why);
/* An int64 written as a JSON number (integral) or as a string of digits
 * ("45193154559"), optional leading '-'. Out of range is an error. */
const char *kiln_json_parse_i64(const char *p, const char *end, int64_t *out, const char **why);
/* p at a literal: true/false/null. *out is 1, 0 or -1 (null). */
const char *kiln_json_parse_bool(const char *p, const char *end, int *out, const char **why);

/* Object member iteration. p at '{': kiln_json_obj_begin returns the
 * position after '{' and whitespace. kiln_json_obj_key reads the next key
 * (raw bytes between the quotes; a key with escapes is returned raw with
 * *escaped = 1), skips the ':' and whitespace, and returns the value's
 * position; it returns end-of-object via *done = 1 (position past '}').
 * After consuming a value call kiln_json_obj_next (handles ',' / '}'). */
static inline const char *kiln_json_obj_begin(const char *p, const char *end, const char **why)
{
    if (p >= end || *p != '{') {
        *why = p >= end ? "truncated JSON (expected an object)" : "expected an object";
        return NULL;
    }
    return kiln_json_ws(p + 1, end);
}

static inline const char *kiln_json_obj_key(const char *p, const char *end, const char **key, size_t *keylen, int *done,
                                            const char **why)
{
    *done = 0;
    if (p >= end) {
        *why = "truncated JSON (unclosed object)";
        return NULL;
    }
    if (*p == '}') {
        *done = 1;
        return p + 1;
    }
    if (*p != '"') {
        *why = "expected a key";
        return NULL;
    }
    const char *k = p + 1;
    const char *q = kiln_json_str_skip(p, end, why);
    if (!q)
        return NULL;
    *key = k;
    *keylen = (size_t)(q - 1 - k);
    if (q < end && *q == ':') /* the usual case: no whitespace */
        return kiln_json_ws(q + 1, end);
    q = kiln_json_ws(q, end);
    if (q >= end || *q != ':') {
        *why = q >= end ? "truncated JSON (expected ':')" : "expected ':' after a key";
        return NULL;
    }
    return kiln_json_ws(q + 1, end);
}

static inline const char *kiln_json_obj_next(const char *p, const char *end, int *done, const char **why)
{
    p = kiln_json_ws(p, end);
    *done = 0;
    if (p >= end) {
        *why = "truncated JSON (unclosed object)";
        return NULL;
    }
    if (*p == ',')
        return kiln_json_ws(p + 1, end);
    if (*p == '}') {
        *done = 1;
        return p + 1;
    }
    *why = "expected ',' or '}' after a value";
    return NULL;
}

#endif
