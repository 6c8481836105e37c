/*
 * json_scan.c - the pull-style JSON scanner (see json_scan.h).
 *
 * How it is fast: the skip paths never decode. Skipping a value searches
 * 16 bytes at a time (SSE2) for the next byte that matters - a quote or a
 * bracket outside strings, a quote or backslash inside - and counts bracket
 * depth iteratively, so deep nesting costs no stack. Decoding copies runs
 * of plain ASCII in bulk and only looks closely at escapes and bytes >= 0x80
 * (UTF-8 validation). Tails shorter than 16 bytes are done byte by byte so
 * nothing is read past `end`.
 */
#include "format/json/json_scan.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <immintrin.h>
#define HAVE_SSE2 1
#endif

/* find_structural plus '\\' (the reference skipper only; plain bytes). */
static const char *find_structural_bs(const char *p, const char *end)
{
    while (p < end) {
        char c = *p;
        if (c == '"' || c == '{' || c == '}' || c == '[' || c == ']' || c == '\\')
            return p;
        p++;
    }
    return p;
}

const char *kiln_json__skip_rest_ref(const char *p, const char *end, int depth, const char **why)
{
    while (depth > 0) {
        p = find_structural_bs(p, end);
        if (p >= end) {
            *why = "truncated JSON (unclosed object or array)";
            return NULL;
        }
        char c = *p;
        if (c == '\\') { /* invalid outside a string; skipped like an escape, as the block skipper does */
            p += 2;
            continue;
        }
        if (c == '"') {
            p = kiln_json_str_skip(p, end, why);
            if (!p)
                return NULL;
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > KILN_JSON_MAX_DEPTH) {
                *why = "nesting deeper than 100000";
                return NULL;
            }
        } else {
            depth--;
        }
        p++;
    }
    return p;
}

#ifdef HAVE_SSE2
/* Bit masks of one 64-byte block: quotes, backslashes, openers, closers. */
static inline void block_masks(const char *p, uint64_t *q, uint64_t *bs, uint64_t *op, uint64_t *cl)
{
    const __m128i Q = _mm_set1_epi8('"'), B = _mm_set1_epi8('\\'), O = _mm_set1_epi8(0x7b), C = _mm_set1_epi8(0x7d),
                  low = _mm_set1_epi8(0x20);
    uint64_t mq = 0, mb = 0, mo = 0, mc = 0;
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        __m128i f = _mm_or_si128(v, low); /* '[' -> '{', ']' -> '}' */
        mq |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, Q)) << (16 * i);
        mb |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, B)) << (16 * i);
        mo |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(f, O)) << (16 * i);
        mc |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(f, C)) << (16 * i);
    }
    *q = mq;
    *bs = mb;
    *op = mo;
    *cl = mc;
}

/* SWAR popcount: baseline x86-64 has no POPCNT instruction and the libgcc
 * call showed up in profiles. */
static inline int pop64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

static inline uint64_t prefix_xor(uint64_t x)
{
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* prefix_xor as one carry-less multiply by all ones (AVX2 machines have
 * PCLMULQDQ; checked at run time with AVX2). */
__attribute__((target("pclmul,sse2"))) static inline uint64_t prefix_xor_clmul(uint64_t x)
{
    __m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)x), _mm_set1_epi8((char)0xFF), 0);
    return (uint64_t)_mm_cvtsi128_si64(r);
}

/* The same masks with two 32-byte AVX2 loads (chosen at run time). */
__attribute__((target("avx2"))) static inline void block_masks_avx2(const char *p, uint64_t *q, uint64_t *bs,
                                                                    uint64_t *op, uint64_t *cl)
{
    const __m256i Q = _mm256_set1_epi8('"'), B = _mm256_set1_epi8('\\'), O = _mm256_set1_epi8(0x7b),
                  C = _mm256_set1_epi8(0x7d), low = _mm256_set1_epi8(0x20);
    __m256i v0 = _mm256_loadu_si256((const __m256i *)p), v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i f0 = _mm256_or_si256(v0, low), f1 = _mm256_or_si256(v1, low);
#define M2(x0, x1) ((uint64_t)(uint32_t)_mm256_movemask_epi8(x0) | ((uint64_t)(uint32_t)_mm256_movemask_epi8(x1) << 32))
    *q = M2(_mm256_cmpeq_epi8(v0, Q), _mm256_cmpeq_epi8(v1, Q));
    *bs = M2(_mm256_cmpeq_epi8(v0, B), _mm256_cmpeq_epi8(v1, B));
    *op = M2(_mm256_cmpeq_epi8(f0, O), _mm256_cmpeq_epi8(f1, O));
    *cl = M2(_mm256_cmpeq_epi8(f0, C), _mm256_cmpeq_epi8(f1, C));
#undef M2
}

/* The block skipper: 64 bytes at a time, strings found by a prefix XOR of
 * the unescaped quotes (as in simdjson's stage 1), brackets counted with
 * popcount; only a block where the depth can reach zero is walked bit by
 * bit. The tail is copied into a space-padded block, so nothing past end
 * is read. */
static inline __attribute__((always_inline)) const char *skip_blocks(const char *p, const char *end, int depth,
                                                                     const char **why, int avx2)
{
    uint64_t in_str = 0;   /* all ones when the block starts inside a string */
    uint64_t esc_next = 0; /* 1 when the block's first byte is escaped */
    char pad[64];
    while (p < end) {
        const char *blk = p;
        size_t left = (size_t)(end - p);
        if (left < 64) {
            memset(pad, ' ', sizeof pad);
            memcpy(pad, p, left);
            blk = pad;
        }
        uint64_t q, bs, op, cl;
        if (avx2)
            block_masks_avx2(blk, &q, &bs, &op, &cl);
        else
            block_masks(blk, &q, &bs, &op, &cl);
        uint64_t escaped = 0;
        if (bs | esc_next) {
            uint64_t b = bs;
            if (esc_next) {
                escaped = 1;
                b &= ~(uint64_t)1;
            }
            esc_next = 0;
            while (b) {
                int i = __builtin_ctzll(b);
                b &= b - 1;
                if (i == 63) {
                    esc_next = 1;
                } else {
                    escaped |= (uint64_t)1 << (i + 1);
                    b &= ~((uint64_t)1 << (i + 1));
                }
            }
        }
        q &= ~escaped;
        uint64_t instr = (avx2 ? prefix_xor_clmul(q) : prefix_xor(q)) ^ in_str;
        in_str = (uint64_t)0 - (instr >> 63);
        op &= ~(instr | escaped);
        cl &= ~(instr | escaped);
        /* the AVX2 instance is compiled with target("popcnt"): one instruction */
        int nc = avx2 ? __builtin_popcountll(cl) : cl ? pop64(cl) : 0;
        if (nc < depth) {
            depth += (avx2 ? __builtin_popcountll(op) : op ? pop64(op) : 0) - nc;
            if (depth > KILN_JSON_MAX_DEPTH) {
                *why = "nesting deeper than 100000";
                return NULL;
            }
        } else {
            uint64_t sm = op | cl;
            while (sm) {
                int i = __builtin_ctzll(sm);
                sm &= sm - 1;
                if ((op >> i) & 1) {
                    if (++depth > KILN_JSON_MAX_DEPTH) {
                        *why = "nesting deeper than 100000";
                        return NULL;
                    }
                } else if (--depth == 0) {
                    return p + i + 1;
                }
            }
        }
        p += left < 64 ? left : 64;
    }
    *why = in_str ? "truncated string" : "truncated JSON (unclosed object or array)";
    return NULL;
}

__attribute__((target("avx2,pclmul,popcnt"))) static const char *skip_rest_avx2(const char *p, const char *end,
                                                                                int depth, const char **why)
{
    return skip_blocks(p, end, depth, why, 1);
}

static const char *skip_rest_sse2(const char *p, const char *end, int depth, const char **why)
{
    return skip_blocks(p, end, depth, why, 0);
}

const char *kiln_json_skip_rest(const char *p, const char *end, int depth, const char **why)
{
    static int use_avx2 = -1; /* every thread computes the same value; atomics keep it race-free */
    int u = __atomic_load_n(&use_avx2, __ATOMIC_RELAXED);
    if (u < 0) {
        u = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("popcnt");
        __atomic_store_n(&use_avx2, u, __ATOMIC_RELAXED);
    }
    return u ? skip_rest_avx2(p, end, depth, why) : skip_rest_sse2(p, end, depth, why);
}
#else
const char *kiln_json_skip_rest(const char *p, const char *end, int depth, const char **why)
{
    return kiln_json__skip_rest_ref(p, end, depth, why);
}
#endif

static int is_num_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

const char *kiln_json_skip_value(const char *p, const char *end, const char **why)
{
    if (p >= end) {
        *why = "truncated JSON (expected a value)";
        return NULL;
    }
    switch (*p) {
    case '"': return kiln_json_str_skip(p, end, why);
    case '{':
    case '[': return kiln_json_skip_rest(p + 1, end, 1, why);
    case 't':
        if (end - p >= 4 && memcmp(p, "true", 4) == 0)
            return p + 4;
        break;
    case 'f':
        if (end - p >= 5 && memcmp(p, "false", 5) == 0)
            return p + 5;
        break;
    case 'n':
        if (end - p >= 4 && memcmp(p, "null", 4) == 0)
            return p + 4;
        break;
    default:
        if ((*p >= '0' && *p <= '9') || *p == '-') {
            const char *q = p + 1;
            while (q < end && is_num_char(*q))
                q++;
            return q;
        }
    }
    *why = p + 4 > end && (*p == 't' || *p == 'f' || *p == 'n') ? "truncated JSON literal" : "unexpected character";
    return NULL;
}

/* ---------------------------------------------------------------- UTF-8 */

/* Length of a valid UTF-8 sequence at p (p[0] >= 0x80), or 0 if invalid. */

static inline char *put_cp(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* First byte in [p, end) that is '"', '\\', < 0x20 or >= 0x80, or end. */

#define REPL 0xFFFD

/* Make room for n more bytes plus the NUL (inline when there is room). */
static inline int room(kiln_buf *out, size_t n)
{
    kiln_err e;
    return out->alloc - out->len > n ? 0 : kiln_buf_reserve(out, n, &e);
}

/* Keep out NUL-terminated (when it has memory) on the error paths. */
static inline void terminate(kiln_buf *out)
{
    if (out->data)
        out->data[out->len] = '\0';
}

/* Decoding: copy 16 bytes at a time straight into out (one unconditional
 * store, then keep only the clean prefix) while both sides have 16 bytes;
 * stop at the first special byte and handle it; near the end of the input
 * or out's cap fall back to a search plus an exact append. */
const char *kiln_json_str_decode(const char *p, const char *end, kiln_buf *out, uint64_t *nrepl, const char **why)
{
    if (p >= end || *p != '"') {
        *why = "expected a string";
        return NULL;
    }
    p++;
    kiln_err e;
    for (;;) {
#ifdef HAVE_SSE2
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
        while (end - p >= 16 && room(out, 64) == 0) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            _mm_storeu_si128((__m128i *)(out->data + out->len), v);
            /* signed compare: bytes >= 0x80 are negative, so < 0x20 catches both */
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)), _mm_cmplt_epi8(v, sp));
            unsigned mm = (unsigned)_mm_movemask_epi8(m);
            if (mm) {
                unsigned k = (unsigned)__builtin_ctz(mm);
                out->len += k;
                p += k;
                goto special;
            }
            out->len += 16;
            p += 16;
        }
#endif
        {
            const char *s = kiln_json_find_special(p, end);
            if (s > p) {
                if (kiln_buf_append(out, p, (size_t)(s - p), &e)) {
                    *why = "string longer than the buffer cap";
                    return NULL;
                }
                p = s;
            }
        }
#ifdef HAVE_SSE2
    special:
#endif
        if (p >= end) {
            terminate(out);
            *why = "truncated string";
            return NULL;
        }
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            if (room(out, 0)) {
                *why = "string longer than the buffer cap";
                return NULL;
            }
            out->data[out->len] = '\0';
            return p + 1;
        }
        char unit[8]; /* one escape or UTF-8 sequence, decoded (<= 4 bytes) */
        char *o = unit;
        if (c >= 0x80) {
            size_t n = kiln_utf8_valid_len((const unsigned char *)p, (const unsigned char *)end);
            if (n) {
                memcpy(o, p, n);
                o += n;
                p += n;
            } else {
                o = put_cp(o, REPL);
                (*nrepl)++;
                p++;
            }
        } else if (c < 0x20) {
            terminate(out);
            *why = "raw control character in string";
            return NULL;
        } else { /* backslash */
            if (end - p < 2) {
                terminate(out);
                *why = "truncated string";
                return NULL;
            }
            char esc = p[1];
            p += 2;
            switch (esc) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '/': *o++ = '/'; break;
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (end - p < 4) {
                    terminate(out);
                    *why = "truncated \\u escape";
                    return NULL;
                }
                if (hex4(p, &cp)) {
                    terminate(out);
                    *why = "bad \\u escape (not 4 hex digits)";
                    return NULL;
                }
                p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && hex4(p + 2, &lo) == 0 && lo >= 0xDC00 &&
                        lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    } else {
                        cp = REPL; /* lone high surrogate */
                        (*nrepl)++;
                    }
                } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
                    cp = REPL; /* lone low surrogate, or NUL */
                    (*nrepl)++;
                }
                o = put_cp(o, cp);
                break;
            }
            default:
                terminate(out);
                *why = "bad escape in string";
                return NULL;
            }
        }
        size_t k = (size_t)(o - unit);
        if (room(out, k)) {
            terminate(out);
            *why = "string longer than the buffer cap";
            return NULL;
        }
        memcpy(out->data + out->len, unit, k);
        out->len += k;
    }
}

const char *kiln_json_parse_i64(const char *p, const char *end, int64_t *out, const char **why)
{
    int quoted = 0;
    if (p < end && *p == '"') {
        quoted = 1;
        p++;
    }
    int neg = 0;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }
    const char *start = p;
    uint64_t v = 0;
    /* 18 digits always fit in int64: no overflow checks for those */
    const char *fast_end = end - p > 18 ? p + 18 : end;
    while (p < fast_end && *p >= '0' && *p <= '9') {
        v = v * 10 + (unsigned)(*p - '0');
        p++;
    }
    while (p < end && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_C(9223372036854775808) - d) / 10) {
            *why = "integer out of int64 range";
            return NULL;
        }
        v = v * 10 + d;
        p++;
    }
    if (p == start) {
        *why = quoted ? "id string is not an integer" : "expected an integer";
        return NULL;
    }
    if (!neg && v > (uint64_t)INT64_MAX) {
        *why = "integer out of int64 range";
        return NULL;
    }
    if (quoted) {
        if (p >= end || *p != '"') {
            *why = p >= end ? "truncated string" : "id string is not an integer";
            return NULL;
        }
        p++;
    } else if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
        *why = "expected an integer, got a fraction or exponent";
        return NULL;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return p;
}

const char *kiln_json_parse_bool(const char *p, const char *end, int *out, const char **why)
{
    if (end - p >= 4 && memcmp(p, "true", 4) == 0) {
        *out = 1;
        return p + 4;
    }
    if (end - p >= 5 && memcmp(p, "false", 5) == 0) {
        *out = 0;
        return p + 5;
    }
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        *out = -1;
        return p + 4;
    }
    *why = "expected true, false or null";
    return NULL;
}

/* ---------------------------------------------------------------- objects */

/* kiln_json_obj_begin/_key/_next are inline in json_scan.h. */

/* ---------------------------------------------------------------- writing */
