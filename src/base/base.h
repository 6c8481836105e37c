/*
 * base.h - kiln's foundation: errors, allocation, arenas, byte buffers with
 * caps, vectors, a string hash map, UTC dates and ISO weeks, logging,
 * SHA-256 and a thread pool.
 *
 * Every other module may include this header; it includes nothing of kiln's.
 * Ownership is stated at each declaration ("caller frees with ...").
 * Objects belong to one thread unless said otherwise.
 */
#ifndef KILN_BASE_H
#define KILN_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#define KILN_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

/* Error codes are negative and pinned by number: never renumber. */
enum {
    KILN_OK = 0,
    KILN_EINVAL = -1,    /* bad argument or usage */
    KILN_ENOMEM = -2,    /* allocation failed */
    KILN_EIO = -3,       /* read/write/open failed (errno in message) */
    KILN_EFORMAT = -4,   /* input is malformed */
    KILN_ETRUNC = -5,    /* input ends early */
    KILN_ELIMIT = -6,    /* a cap on input-grown memory was exceeded */
    KILN_ENOTFOUND = -7, /* file, table, key or snapshot does not exist */
    KILN_EEXIST = -8,    /* already exists */
    KILN_ECONFLICT = -9, /* concurrent commit conflict */
    KILN_EUNSUPP = -10,  /* valid but not supported (codec, type, ...) */
    KILN_ECONFIG = -11,  /* configuration error */
    KILN_EINTERNAL = -12 /* a bug: an invariant did not hold */
};

typedef struct kiln_err {
    int code;        /* KILN_E*, negative; 0 when no error */
    uint64_t offset; /* byte or line position in the input, when known */
    char msg[512];
} kiln_err;

/* Set err (if not NULL) and return code. The message is printf-formatted. */
int kiln_err_set(kiln_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, recording an input offset as well. */
int kiln_err_set_at(kiln_err *err, int code, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix an existing message with context ("file.json: "). Keeps the code. */
int kiln_err_prefix(kiln_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kiln_err_clear(kiln_err *err);
/* The one out-of-memory idiom: sets err to KILN_ENOMEM naming the function
 * that failed to allocate, and evaluates to KILN_ENOMEM. Checks chain as
 * `if ((rc = f(...))) goto done;` and allocation failures as
 * `if (!p) { rc = KILN_OOM(err); goto done; }`. */
#define KILN_OOM(err) kiln_err_set((err), KILN_ENOMEM, "out of memory (in %s)", __func__)
/* Static name of a code, e.g. "EFORMAT". */
const char *kiln_err_name(int code);
/* Process exit codes, the contract of docs/cli/exit-codes.md, and the one
 * mapping from an error code to them (the CLI and the orchestrator's
 * in-process task children both use it). */
enum {
    KILN_EXIT_OK = 0,
    KILN_EXIT_FAIL = 1,
    KILN_EXIT_USAGE = 2,
    KILN_EXIT_CONFIG = 3,
    KILN_EXIT_NOTFOUND = 4,
    KILN_EXIT_CONFLICT = 5,
    KILN_EXIT_PARTIAL = 6,
    KILN_EXIT_INTERNAL = 70
};
/* 0 -> 0, KILN_EINVAL 2, ECONFIG 3, ENOTFOUND 4, ECONFLICT 5, EINTERNAL 70, else 1. */
int kiln_exit_code(int kiln_code);

/* ------------------------------------------------------------ allocation */

/* All heap allocation goes through these so tests can count allocations
 * and make the Nth one fail (kiln_alloc_fail_after). Thread-safe. */
void *kiln_malloc(size_t n);
void *kiln_calloc(size_t count, size_t n);
void *kiln_realloc(void *p, size_t n);
void kiln_free(void *p);
char *kiln_strdup(const char *s);            /* caller frees with kiln_free */
char *kiln_strndup(const char *s, size_t n); /* caller frees with kiln_free */
char *kiln_sprintf(const char *fmt, ...)     /* caller frees with kiln_free */
    __attribute__((format(printf, 1, 2)));

/* Fault injection: after n more successful allocations, every allocation
 * fails until reset with n < 0. */
void kiln_alloc_fail_after(long n);
uint64_t kiln_alloc_count(void); /* allocations made so far (for tests) */

/* Arena: bump allocation for work with one lifetime (a batch, a request).
 * KILN_ARENA_DEBUG=1 in the environment makes every arena allocation a
 * plain kiln_malloc so ASan/valgrind see each one. */
typedef struct kiln_arena kiln_arena;
kiln_arena *kiln_arena_new(size_t block_size);   /* caller frees with kiln_arena_free */
void *kiln_arena_alloc(kiln_arena *a, size_t n); /* 16-byte aligned; NULL on OOM */
char *kiln_arena_strndup(kiln_arena *a, const char *s, size_t n);
void *kiln_arena_memdup(kiln_arena *a, const void *p, size_t n); /* n == 0: a valid 1-byte block */
void kiln_arena_reset(kiln_arena *a);                            /* frees all but the first block */
size_t kiln_arena_used(const kiln_arena *a);
void kiln_arena_free(kiln_arena *a); /* NULL is a no-op */

/* ---------------------------------------------------------------- buffers */

/* A growable byte buffer with a hard cap (0 = KILN_BUF_DEFAULT_CAP).
 * data is always NUL-terminated past len. Owns data. */
#define KILN_BUF_DEFAULT_CAP ((size_t)1 << 30)
typedef struct kiln_buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;
} kiln_buf;

void kiln_buf_init(kiln_buf *b, size_t cap);
int kiln_buf_reserve(kiln_buf *b, size_t extra, kiln_err *err);
int kiln_buf_append(kiln_buf *b, const void *p, size_t n, kiln_err *err);
int kiln_buf_putc(kiln_buf *b, char c, kiln_err *err);
int kiln_buf_printf(kiln_buf *b, kiln_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kiln_buf_reset(kiln_buf *b); /* len = 0, keeps memory */

/* Copy n bytes, without a libc call for the short values most fields are
 * (overlapping fixed-size moves that stay inside [s, s+n) and [d, d+n));
 * memcpy past 48 bytes. For per-value copies in hot loops. */
static inline void kiln_copy_short(void *d, const void *s, size_t n)
{
    char *o = d;
    const char *p = s;
    if (n <= 16) {
        if (n >= 8) {
            uint64_t a, b;
            memcpy(&a, p, 8);
            memcpy(&b, p + n - 8, 8);
            memcpy(o, &a, 8);
            memcpy(o + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            memcpy(&a, p, 4);
            memcpy(&b, p + n - 4, 4);
            memcpy(o, &a, 4);
            memcpy(o + n - 4, &b, 4);
        } else if (n) {
            o[0] = p[0];
            o[n / 2] = p[n / 2];
            o[n - 1] = p[n - 1];
        }
    } else if (n <= 48) {
        char a[16], b[16], c[16];
        memcpy(a, p, 16);
        memcpy(b, p + (n > 32 ? 16 : n - 16), 16);
        memcpy(c, p + n - 16, 16);
        memcpy(o, a, 16);
        memcpy(o + (n > 32 ? 16 : n - 16), b, 16);
        memcpy(o + n - 16, c, 16);
    } else {
        memcpy(o, p, n);
    }
}
void kiln_buf_free(kiln_buf *b); /* releases data; b may be reused after init */
/* Take ownership of data (caller frees with kiln_free); b is left empty. */
char *kiln_buf_detach(kiln_buf *b, size_t *len_out);

/* ------------------------------------------------------------ text: UTF-8 and JSON strings
 * The one JSON string writer (src/base/text.c): the logger, the lake's
 * metadata and manifests, the CLI's --json output and the sinks all use it.
 * Lives in base because the logger (base) needs it. */
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Length of the valid UTF-8 sequence (2..4 bytes) starting at p[0] >= 0x80,
 * or 0 when it is not one (overlong, surrogate, truncated, > U+10FFFF). */
static inline size_t kiln_utf8_valid_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t left = (size_t)(end - p);
    if (c >= 0xC2 && c <= 0xDF) {
        if (left >= 2 && (p[1] & 0xC0) == 0x80)
            return 2;
        return 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (p[2] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no encoded surrogates */
        return (p[1] >= lo && p[1] <= hi) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        return (p[1] >= lo && p[1] <= hi) ? 4 : 0;
    }
    return 0;
}

/* The first byte at or after p that a JSON string writer must look at:
 * '"', '\\', a control character or a non-ASCII byte (end when none). */
static inline const char *kiln_json_find_special(const char *p, const char *end)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        /* signed compare: bytes >= 0x80 are negative, so < 0x20 catches both */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)), _mm_cmplt_epi8(v, sp));
        unsigned mm = (unsigned)_mm_movemask_epi8(m);
        if (mm)
            return p + __builtin_ctz(mm);
        p += 16;
    }
#endif
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            return p;
        p++;
    }
    return p;
}

/* Validate UTF-8 of [p, p+n) and append it to out with bad bytes replaced
 * by U+FFFD; returns replacements or a negative code (cap). */
int kiln_utf8_append_valid(kiln_buf *out, const char *p, size_t n, uint64_t *nrepl, kiln_err *err);
/* Append p[0..n) as a JSON string literal (with quotes): escapes '"', '\\'
 * and control characters; invalid UTF-8 becomes U+FFFD. */
int kiln_json_write_str(kiln_buf *out, const char *p, size_t n, kiln_err *err);

/* ---------------------------------------------------------------- vectors */

/* Typed growable arrays: KILN_VEC(int) v = {0}; kiln_vec_push(&v, 3, err). */
#define KILN_VEC(T)                                                                                                    \
    struct {                                                                                                           \
        T *items;                                                                                                      \
        size_t len, alloc;                                                                                             \
    }
int kiln__vec_grow(void **items, size_t *alloc, size_t elem, size_t need, kiln_err *err);
#define kiln_vec_push(v, x, err)                                                                                       \
    (((v)->len < (v)->alloc ||                                                                                         \
      kiln__vec_grow((void **)&(v)->items, &(v)->alloc, sizeof(*(v)->items), (v)->len + 1, (err)) == 0)                \
         ? ((v)->items[(v)->len++] = (x), 0)                                                                           \
         : KILN_ENOMEM)
#define kiln_vec_reserve(v, n, err) kiln__vec_grow((void **)&(v)->items, &(v)->alloc, sizeof(*(v)->items), (n), (err))
#define kiln_vec_free(v) (kiln_free((v)->items), (v)->items = NULL, (v)->len = (v)->alloc = 0)

/* ------------------------------------------------------------- hash map */

/* String-keyed hash map (open addressing). Keys are copied; values are
 * borrowed pointers the caller manages. Not thread-safe. */
typedef struct kiln_map kiln_map;
kiln_map *kiln_map_new(void); /* caller frees with kiln_map_free */
int kiln_map_put(kiln_map *m, const char *key, size_t keylen, void *value, kiln_err *err);
void *kiln_map_get(const kiln_map *m, const char *key, size_t keylen);
int kiln_map_has(const kiln_map *m, const char *key, size_t keylen);
int kiln_map_del(kiln_map *m, const char *key, size_t keylen); /* 1 if removed */
size_t kiln_map_len(const kiln_map *m);
/* Iterate: *pos starts at 0; returns 0 when done. */
int kiln_map_next(const kiln_map *m, size_t *pos, const char **key, size_t *keylen, void **value);
void kiln_map_free(kiln_map *m); /* NULL is a no-op */

/* 64-bit integer set (open addressing), e.g. for event-id dedupe. */
typedef struct kiln_i64set kiln_i64set;
kiln_i64set *kiln_i64set_new(void);
/* Returns 1 if x was added, 0 if it was already present, <0 on error. */
int kiln_i64set_add(kiln_i64set *s, int64_t x, kiln_err *err);
int kiln_i64set_has(const kiln_i64set *s, int64_t x);
size_t kiln_i64set_len(const kiln_i64set *s);
void kiln_i64set_free(kiln_i64set *s);
/* NULL is the empty set for has, len, next and prefetch. Iterate with
 * pos = 0 first: returns 1 and sets *x while members remain (any order). */
int kiln_i64set_next(const kiln_i64set *s, size_t *pos, int64_t *x);
/* Start loading x's slot into the cache (a probe that will miss: hot loops
 * call it early so the load overlaps other work). */
void kiln_i64set_prefetch(const kiln_i64set *s, int64_t x);

uint64_t kiln_hash64(const void *p, size_t n); /* fast non-cryptographic */

/* ------------------------------------------------------------ dates */

/* Proleptic Gregorian, UTC. Days are counted from 1970-01-01. */
int64_t kiln_days_from_civil(int y, int m, int d);
void kiln_civil_from_days(int64_t days, int *y, int *m, int *d);
int kiln_weekday(int64_t days); /* ISO: Monday=1 .. Sunday=7 */
void kiln_iso_week(int64_t days, int *iso_year, int *iso_week);
int64_t kiln_iso_week_monday(int64_t days); /* days of that week's Monday */
int kiln_is_leap(int y);
int kiln_days_in_month(int y, int m);
/* Parse "YYYY-MM-DD" into days. Returns 0 or KILN_EFORMAT. */
int kiln_date_parse(const char *s, size_t n, int64_t *days_out);
/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" or with a space for T,
 * into microseconds since the epoch (UTC). Returns 0 or KILN_EFORMAT. */
int kiln_ts_parse(const char *s, size_t n, int64_t *micros_out);
/* Format into out (>= 11 / 28 bytes): "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS[.ffffff]Z". */
void kiln_date_format(int64_t days, char *out);
void kiln_ts_format(int64_t micros, char *out);
/* Nanoseconds since the epoch as "YYYY-MM-DDTHH:MM:SS.nnnnnnnnn" (always nine
 * fraction digits, so the text sorts as the instants do), "Z" appended when
 * utc; out holds 40 bytes. Returns the length. */
size_t kiln_ts_format_ns(int64_t nanos, int utc, char *out);
int64_t kiln_now_micros(void);  /* wall clock */
double kiln_mono_seconds(void); /* monotonic clock */

/* ------------------------------------------------------------ logging */

typedef enum { KILN_LOG_DEBUG = 0, KILN_LOG_INFO, KILN_LOG_WARN, KILN_LOG_ERROR, KILN_LOG_OFF } kiln_log_level;
extern kiln_log_level kiln_log_min; /* set from KILN_LOG or the CLI */
void kiln_log_set_json(int on);     /* one JSON object per line when on */
void kiln_log_set_stream(FILE *f);  /* default stderr */
int kiln_log_json(void);            /* is JSON on? */
/* Every line is "kiln: LEVEL COMPONENT: MESSAGE" (COMPONENT: the module, from
 * src/MODULE/...), or with JSON on {"ts","level","component","src","msg"}. */
void kiln__log(kiln_log_level lvl, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Print one line in the log format whatever the level (the CLI's final error
 * line); component may be NULL. */
void kiln_log_line(kiln_log_level lvl, const char *component, const char *msg);
/* The level is checked before arguments are evaluated. */
#define KILN_LOG(lvl, ...)                                                                                             \
    do {                                                                                                               \
        if ((lvl) >= kiln_log_min)                                                                                     \
            kiln__log((lvl), __FILE__, __LINE__, __VA_ARGS__);                                                         \
    } while (0)
#define kiln_debug(...) KILN_LOG(KILN_LOG_DEBUG, __VA_ARGS__)
#define kiln_info(...) KILN_LOG(KILN_LOG_INFO, __VA_ARGS__)
#define kiln_warn(...) KILN_LOG(KILN_LOG_WARN, __VA_ARGS__)
#define kiln_error(...) KILN_LOG(KILN_LOG_ERROR, __VA_ARGS__)
int kiln_log_level_parse(const char *s, kiln_log_level *out);

/* ------------------------------------------------------------ SHA-256 */

typedef struct kiln_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t block[64];
    size_t blen;
} kiln_sha256;
void kiln_sha256_init(kiln_sha256 *s);
void kiln_sha256_update(kiln_sha256 *s, const void *p, size_t n);
void kiln_sha256_final(kiln_sha256 *s, uint8_t out[32]);
void kiln_sha256_hex(const void *p, size_t n, char out[65]);
void kiln_hex(const uint8_t *p, size_t n, char *out); /* out holds 2n+1 */

/* ------------------------------------------------------------ thread pool */

/* A fixed pool of worker threads running submitted tasks in FIFO order.
 * kiln_pool_submit and kiln_pool_wait may be called from any thread. */
typedef struct kiln_pool kiln_pool;
typedef void (*kiln_task_fn)(void *arg, int worker_index);
int kiln_pool_new(kiln_pool **out, int nthreads, kiln_err *err); /* caller frees with kiln_pool_free */
int kiln_pool_submit(kiln_pool *p, kiln_task_fn fn, void *arg, kiln_err *err);
void kiln_pool_wait(kiln_pool *p); /* until every submitted task has finished */
int kiln_pool_size(const kiln_pool *p);
void kiln_pool_free(kiln_pool *p); /* waits, then joins; NULL is a no-op */
int kiln_ncpus(void);

/* qsort that accepts an empty or one-element array with a NULL base (qsort
 * itself is undefined on NULL even for n = 0: UBSan reports it). */
static inline void kiln_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

/* ------------------------------------------------------------ files */

/* Read a whole file (capped). Caller frees *out with kiln_free. */
int kiln_file_read(const char *path, size_t cap, char **out, size_t *len, kiln_err *err);
/* Write data to path atomically: a temp file in the same directory, fsync,
 * rename. Readers see the old or the new file, never a part. */
int kiln_file_write_atomic(const char *path, const void *data, size_t n, kiln_err *err);
/* mkdir -p. */
int kiln_mkdirs(const char *path, kiln_err *err);
/* read(2) retrying EINTR: bytes read, 0 at end of file, -1 with errno. */
ssize_t kiln_fd_read(int fd, void *buf, size_t n);
/* pread(2) until n bytes or end of file, retrying EINTR and short reads:
 * bytes read (fewer than n only at end of file), or -1 with errno. */
ssize_t kiln_fd_pread_full(int fd, void *buf, size_t n, int64_t off);
/* write(2) all n bytes, retrying EINTR and short writes: 0, or -1 with
 * errno. */
int kiln_fd_write_all(int fd, const void *data, size_t n);
/* rm -rf of a directory tree we created (refuses "" and "/"). */
int kiln_rmtree(const char *path, kiln_err *err);
/* Is name a safe single path component (no '/', not "." or "..", no NUL,
 * no leading '-' surprises)? */
int kiln_path_component_ok(const char *name, size_t n);

/* ------------------------------------------------------------ decimals (decimal.c) */

/* Parse "[-+]digits[.digits]" (s[0..n), no spaces) as a decimal scaled by
 * 10^scale: *out = floor(value * 10^scale), *exact = 1 when nothing non-zero
 * was beyond the scale. Returns 0; KILN_EINVAL when it is not a decimal;
 * KILN_ELIMIT when the scaled value does not fit in int64 (then *out is
 * INT64_MAX or INT64_MIN by sign and *exact 0). Never overflows. */
int kiln_decimal_parse(int64_t *out, int *exact, const char *s, size_t n, int scale);

/* The exact text of a decimal(P,S) value from its unscaled integer: scale
 * digits after the point, "0" before it when needed ("-0.050" for -50 at
 * scale 3), no exponent, never through a double. out holds at least
 * KILN_DECIMAL_TEXT_MAX bytes (38 digits, sign, point, NUL); returns the
 * length. scale outside 0..38 is treated as 0. */
#define KILN_DECIMAL_TEXT_MAX 48
int kiln_decimal_format(int64_t unscaled, int scale, char *out);

/* Iceberg time (microseconds since midnight) as "HH:MM:SS" plus
 * ".ffffff" without trailing zeros when not whole; out holds 32 bytes.
 * Values outside a day are printed as they come (hours may exceed 23). */
void kiln_time_format(int64_t micros, char *out);
/* A 16-byte UUID as 8-4-4-4-12 lowercase hex (out: 37 bytes). */
void kiln_uuid_format(const uint8_t *b, char *out);
/* Parse 8-4-4-4-12 (or 32 bare) hex digits into 16 bytes; 0 or KILN_EINVAL. */
int kiln_uuid_parse(const char *s, size_t n, uint8_t *out);
int kiln_decimal_format_i128(__int128 unscaled, int scale, char *out);

/* ------------------------------------------------------------ mapping fault guard (mapguard.c) */

#include <setjmp.h>

/* A read of a file mapping that another process truncated raises SIGBUS.
 * A guard turns it into an error return instead of a dead process:
 *
 *     kiln_map_guard g;
 *     if (sigsetjmp(g.env, 0))
 *         return kiln_err_set(err, KILN_EIO, "%s: the file shrank while it was read", path);
 *     kiln_map_guard_push(&g, map, size);
 *     rc = read_from(map);            (no other exit between push and pop)
 *     kiln_map_guard_pop(&g);
 *
 * sigsetjmp must be in the frame that pushes; a fault inside [map,
 * map+size) of the thread's innermost guard pops it and returns there with
 * 1 (locals changed after sigsetjmp are indeterminate unless volatile, and
 * memory the interrupted code allocated may leak: it is an error path).
 * Other SIGBUS signals keep their previous handling. Guards are per thread
 * and nest. */
typedef struct kiln_map_guard {
    sigjmp_buf env;
    const uint8_t *lo, *hi;
    struct kiln_map_guard *prev;
} kiln_map_guard;
void kiln_map_guard_push(kiln_map_guard *g, const void *map, size_t n);
void kiln_map_guard_pop(kiln_map_guard *g);

/* ------------------------------------------------------------ cron, time zones, data intervals
 * (src/base/cron.c; appended for the orchestrator, used by src/flow)
 * Times here are whole seconds since the epoch (UTC); cron has minute
 * granularity. A NULL kiln_tz means UTC. */
typedef struct kiln_tz kiln_tz;
/* Load zone NAME ("Europe/Berlin", "UTC") from the system tz database
 * ($TZDIR or /usr/share/zoneinfo), TZif v2+ read by kiln itself (no
 * setenv("TZ")/tzset, so it is thread-safe). Caller frees with kiln_tz_free. */
int kiln_tz_load(kiln_tz **out, const char *name, kiln_err *err);
void kiln_tz_free(kiln_tz *tz);              /* NULL is a no-op */
const char *kiln_tz_name(const kiln_tz *tz); /* "UTC" for NULL */
/* Offset east of UTC in seconds in force at instant t. */
int kiln_tz_offset(const kiln_tz *tz, int64_t t);

/* A parsed cron schedule: 5 fields (minute hour day-of-month month
 * day-of-week) with lists, ranges, steps and names, or @hourly, @daily,
 * @midnight, @weekly, @monthly, @yearly, @annually; an optional
 * "CRON_TZ=Zone " prefix. When day-of-month and day-of-week are both
 * restricted (neither starts with '*'), a day matches either (Vixie cron). */
typedef struct kiln_cron {
    uint64_t minute; /* bit per minute 0..59 */
    uint32_t hour;   /* bit per hour 0..23 */
    uint32_t dom;    /* bit per day 1..31 */
    uint16_t month;  /* bit per month 1..12 */
    uint8_t dow;     /* bit per weekday, 0 = Sunday */
    uint8_t dom_star, dow_star;
    kiln_tz *tz; /* owned; NULL = UTC */
} kiln_cron;
/* Parse expr. On error err->offset is the 0-based column of the bad field.
 * tz_name (may be NULL) is the zone when expr has no CRON_TZ= prefix.
 * Release with kiln_cron_free. */
int kiln_cron_parse(kiln_cron *out, const char *expr, const char *tz_name, kiln_err *err);
void kiln_cron_free(kiln_cron *c);
int kiln_cron_matches(const kiln_cron *c, int64_t t); /* 1 when t is a fire time */
/* First fire time strictly after t / last one strictly before t. Wall times
 * that fall in a DST gap fire shifted forward by the gap (as pendulum and
 * Python's zoneinfo normalize them); wall times that occur twice (DST end)
 * fire once, at the first occurrence. KILN_ENOTFOUND when none within ~28
 * years (e.g. "0 0 30 2 *"). */
int kiln_cron_next(const kiln_cron *c, int64_t t, int64_t *out);
int kiln_cron_prev(const kiln_cron *c, int64_t t, int64_t *out);
/* Data intervals (Airflow's CronDataIntervalTimetable): a run covers
 * [start, end) between two consecutive fire times and is due at end.
 * interval_for: the interval starting at the latest fire time <= t (what
 * `--date D` names). last_complete: the latest interval with end <= now. */
int kiln_cron_interval_for(const kiln_cron *c, int64_t t, int64_t *start, int64_t *end);
int kiln_cron_last_complete(const kiln_cron *c, int64_t now, int64_t *start, int64_t *end);
/* ------------------------------------------------------------ end cron */

/* ------------------------------------------------ string distance (strdist.c) */

/* Levenshtein distance of two names, for "did you mean" hints; names over
 * 64 bytes count as far apart (returns 99). */
size_t kiln_str_distance(const char *a, const char *b);

/* ------------------------------------------------ failpoints (failpoint.c)
 * Named crash points at the commit points of a backfill (docs/faults.md).
 * KILN_FAILPOINT=NAME[:N][,...] kills the process (SIGKILL) on the N-th pass
 * through kiln_failpoint(NAME); unset, a failpoint costs one load and branch.
 * Every NAME must be in failpoint.c's table (kiln failpoints lists it). */
typedef struct kiln_failpoint_info {
    const char *name;
    const char *what; /* the state on disk when the process dies there */
} kiln_failpoint_info;
extern volatile int kiln_failpoint__armed;
void kiln_failpoint__hit(const char *name);
#define kiln_failpoint(name)                                                                                           \
    do {                                                                                                               \
        if (__builtin_expect(kiln_failpoint__armed, 0))                                                                \
            kiln_failpoint__hit(name);                                                                                 \
    } while (0)
/* The table, in commit order. */
const kiln_failpoint_info *kiln_failpoint_list(size_t *n);
/* the test hooks with a value (KILN_FAILPOINT=NAME=VALUE; name is
 * "NAME=VALUE-FORM"), read at their call sites */
const kiln_failpoint_info *kiln_failpoint_hooks(size_t *n);
/* ------------------------------------------------ end failpoints */

#endif /* KILN_BASE_H */
