/*
 * functions.c - SQL functions kiln adds to every SQLite connection:
 * date/time (date_trunc, iso_week, iso_year, date_add, datediff, ts_micros),
 * hashes (md5, sha256), PCRE2 regular expressions (regexp_like,
 * regexp_extract, regexp_replace and the REGEXP operator) and strings
 * (split_part, left, right; counted in UTF-8 characters).
 *
 * Timestamps are ISO-8601 UTC text ("YYYY-MM-DDTHH:MM:SS[.ffffff]Z", what
 * kiln_ts_format writes); "YYYY-MM-DD" dates, the other forms kiln_ts_parse
 * reads and integer microseconds are accepted on input. A function given a
 * date and a unit of a day or more returns a date; otherwise a timestamp.
 * Every function returns NULL for a NULL argument, and reports a bad
 * argument as an SQL error that names the function and what is allowed.
 *
 * Regexes are compiled once per statement and argument slot and kept with
 * sqlite3_set_auxdata, so a constant pattern is compiled once per query.
 */
#include "sql.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ------------------------------------------------------------ helpers */

static void result_errorf(sqlite3_context *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result_errorf(sqlite3_context *ctx, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sqlite3_result_error(ctx, msg, -1);
}

static int any_null(int argc, sqlite3_value **argv)
{
    for (int i = 0; i < argc; i++)
        if (sqlite3_value_type(argv[i]) == SQLITE_NULL)
            return 1;
    return 0;
}

/* Quote a value for an error message, shortened to fit. */
static void value_repr(sqlite3_value *v, char *out, size_t cap)
{
    const char *s = (const char *)sqlite3_value_text(v);
    if (!s)
        s = "NULL";
    if (strlen(s) > 60)
        snprintf(out, cap, "'%.57s...'", s);
    else
        snprintf(out, cap, "'%s'", s);
}

/* ------------------------------------------------------------ timestamps */

#define US_PER_SEC INT64_C(1000000)
#define US_PER_MIN (60 * US_PER_SEC)
#define US_PER_HOUR (60 * US_PER_MIN)
#define US_PER_DAY (24 * US_PER_HOUR)
/* 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999Z: what the text form holds */
#define TS_MIN (INT64_C(-719528) * US_PER_DAY)
#define TS_MAX (INT64_C(2932897) * US_PER_DAY - 1)

typedef enum { U_SECOND, U_MINUTE, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_QUARTER, U_YEAR } unit_t;
static const char *const unit_names[] = {"second", "minute", "hour", "day", "week", "month", "quarter", "year"};
#define UNIT_LIST "second, minute, hour, day, week, month, quarter, year"

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Parse a unit argument; on failure set an SQL error naming fn. */
static int unit_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, unit_t *out)
{
    const char *s = (const char *)sqlite3_value_text(v);
    if (s) {
        for (size_t i = 0; i < sizeof unit_names / sizeof *unit_names; i++) {
            if (strcasecmp(s, unit_names[i]) == 0) {
                *out = (unit_t)i;
                return 0;
            }
        }
    }
    char repr[80];
    value_repr(v, repr, sizeof repr);
    result_errorf(ctx, "%s: unknown unit %s (valid units: " UNIT_LIST ")", fn, repr);
    return -1;
}

int kiln_sql_value_ts(sqlite3_value *v, int64_t *micros_out, int *is_date)
{
    if (is_date)
        *is_date = 0;
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: {
        int64_t us = sqlite3_value_int64(v);
        if (us < TS_MIN || us > TS_MAX)
            return KILN_EFORMAT;
        *micros_out = us;
        return 0;
    }
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_value_text(v);
        size_t n = (size_t)sqlite3_value_bytes(v);
        int64_t days;
        if (n == 10 && kiln_date_parse(s, n, &days) == 0) {
            *micros_out = days * US_PER_DAY;
            if (is_date)
                *is_date = 1;
            return 0;
        }
        int64_t us;
        if (kiln_ts_parse(s, n, &us) != 0 || us < TS_MIN || us > TS_MAX)
            return KILN_EFORMAT;
        *micros_out = us;
        return 0;
    }
    default: return KILN_EFORMAT;
    }
}

static int ts_arg(sqlite3_context *ctx, const char *fn, sqlite3_value *v, int64_t *us, int *is_date)
{
    if (kiln_sql_value_ts(v, us, is_date) == 0)
        return 0;
    char repr[80];
    value_repr(v, repr, sizeof repr);
    result_errorf(ctx,
                  "%s: %s is not a timestamp (use 'YYYY-MM-DD', 'YYYY-MM-DDTHH:MM:SS[.ffffff]Z' "
                  "or integer microseconds since 1970-01-01, years 0000-9999)",
                  fn, repr);
    return -1;
}

/* Return a timestamp: a date when the input was a date and the unit is a
 * day or more, else the canonical timestamp text. */
/* Hot-path formatting (a scan formats every timestamp it returns): the
 * date part of the last day is cached per thread, the time of day is
 * written digit by digit. Same text as kiln_date_format/kiln_ts_format,
 * which remain the fallback outside years 0000-9999. */
static _Thread_local int64_t g_day = INT64_MIN;
static _Thread_local char g_date[16];

#define DAY_0000 (-719528) /* 0000-01-01 */
#define DAY_9999 2932896   /* 9999-12-31 */

size_t kiln_sql_date_text(int64_t days, char *out)
{
    if (days < DAY_0000 || days > DAY_9999) {
        kiln_date_format(days, out);
        return strlen(out);
    }
    if (days != g_day) {
        char tmp[32];
        kiln_date_format(days, tmp);
        size_t n = strlen(tmp);
        if (n != 10) {
            memcpy(out, tmp, n + 1);
            return n;
        }
        memcpy(g_date, tmp, 11);
        g_day = days;
    }
    memcpy(out, g_date, 11);
    return 10;
}

static void two(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

size_t kiln_sql_ts_text(int64_t us, char *out)
{
    int64_t days = floor_div(us, US_PER_DAY);
    int64_t rem = us - days * US_PER_DAY;
    if (days < DAY_0000 || days > DAY_9999 || kiln_sql_date_text(days, out) != 10) {
        kiln_ts_format(us, out);
        return strlen(out);
    }
    int64_t secs = rem / US_PER_SEC, frac = rem % US_PER_SEC;
    out[10] = 'T';
    two(out + 11, (int)(secs / 3600));
    out[13] = ':';
    two(out + 14, (int)(secs / 60 % 60));
    out[16] = ':';
    two(out + 17, (int)(secs % 60));
    size_t n = 19;
    if (frac) {
        out[n++] = '.';
        for (int k = 5; k >= 0; k--) {
            out[n + (size_t)k] = (char)('0' + frac % 10);
            frac /= 10;
        }
        n += 6;
    }
    out[n++] = 'Z';
    out[n] = 0;
    return n;
}

static void result_ts(sqlite3_context *ctx, const char *fn, int64_t us, int as_date)
{
    if (us < TS_MIN || us > TS_MAX) {
        result_errorf(ctx, "%s: result is outside years 0000-9999", fn);
        return;
    }
    char out[40];
    size_t n = as_date ? kiln_sql_date_text(floor_div(us, US_PER_DAY), out) : kiln_sql_ts_text(us, out);
    sqlite3_result_text(ctx, out, (int)n, SQLITE_TRANSIENT);
}

static int64_t trunc_us(int64_t us, unit_t u)
{
    int64_t days = floor_div(us, US_PER_DAY);
    int y, m, d;
    switch (u) {
    case U_SECOND: return floor_div(us, US_PER_SEC) * US_PER_SEC;
    case U_MINUTE: return floor_div(us, US_PER_MIN) * US_PER_MIN;
    case U_HOUR: return floor_div(us, US_PER_HOUR) * US_PER_HOUR;
    case U_DAY: return days * US_PER_DAY;
    case U_WEEK: return kiln_iso_week_monday(days) * US_PER_DAY;
    case U_MONTH: kiln_civil_from_days(days, &y, &m, &d); return kiln_days_from_civil(y, m, 1) * US_PER_DAY;
    case U_QUARTER:
        kiln_civil_from_days(days, &y, &m, &d);
        return kiln_days_from_civil(y, (m - 1) / 3 * 3 + 1, 1) * US_PER_DAY;
    case U_YEAR: kiln_civil_from_days(days, &y, &m, &d); return kiln_days_from_civil(y, 1, 1) * US_PER_DAY;
    }
    return us;
}

/* date_trunc(unit, ts) */
static void fn_date_trunc(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unit_t u;
    int64_t us;
    int is_date;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (unit_arg(ctx, "date_trunc", argv[0], &u) || ts_arg(ctx, "date_trunc", argv[1], &us, &is_date))
        return;
    result_ts(ctx, "date_trunc", trunc_us(us, u), is_date && u >= U_DAY);
}

/* iso_week(ts), iso_year(ts); user data says which */
static void fn_iso(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int want_year = sqlite3_user_data(ctx) != NULL;
    const char *fn = want_year ? "iso_year" : "iso_week";
    int64_t us;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (ts_arg(ctx, fn, argv[0], &us, NULL))
        return;
    int iy, iw;
    kiln_iso_week(floor_div(us, US_PER_DAY), &iy, &iw);
    sqlite3_result_int(ctx, want_year ? iy : iw);
}

/* ts_micros(ts): microseconds since the epoch, for exact ordering/arithmetic */
static void fn_ts_micros(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t us;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (ts_arg(ctx, "ts_micros", argv[0], &us, NULL))
        return;
    sqlite3_result_int64(ctx, us);
}

static int int_arg(sqlite3_context *ctx, const char *fn, const char *what, sqlite3_value *v, int64_t *out)
{
    int t = sqlite3_value_numeric_type(v);
    if (t == SQLITE_INTEGER) {
        *out = sqlite3_value_int64(v);
        return 0;
    }
    if (t == SQLITE_FLOAT) {
        double d = sqlite3_value_double(v);
        if (d == (double)(int64_t)d && d > -9e18 && d < 9e18) {
            *out = (int64_t)d;
            return 0;
        }
    }
    char repr[80];
    value_repr(v, repr, sizeof repr);
    result_errorf(ctx, "%s: %s must be an integer, got %s", fn, what, repr);
    return -1;
}

/* Add months to a timestamp keeping the time of day; the day of month is
 * clamped to the target month's length (Jan 31 + 1 month = Feb 28/29). */
static int add_months(int64_t us, int64_t months, int64_t *out)
{
    int64_t days = floor_div(us, US_PER_DAY), tod = us - days * US_PER_DAY;
    int y, m, d;
    kiln_civil_from_days(days, &y, &m, &d);
    if (months > 12 * 20000 || months < -12 * 20000)
        return -1;
    int64_t mi = (int64_t)y * 12 + (m - 1) + months;
    int64_t ny = floor_div(mi, 12);
    int nm = (int)(mi - ny * 12) + 1;
    if (ny < 0 || ny > 9999)
        return -1;
    int dim = kiln_days_in_month((int)ny, nm);
    *out = kiln_days_from_civil((int)ny, nm, d > dim ? dim : d) * US_PER_DAY + tod;
    return 0;
}

/* date_add(ts, n, unit) */
static void fn_date_add(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t us, n, res;
    int is_date;
    unit_t u;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (ts_arg(ctx, "date_add", argv[0], &us, &is_date) || int_arg(ctx, "date_add", "n", argv[1], &n) ||
        unit_arg(ctx, "date_add", argv[2], &u))
        return;
    static const int64_t step[] = {US_PER_SEC, US_PER_MIN, US_PER_HOUR, US_PER_DAY, 7 * US_PER_DAY};
    int bad;
    if (u <= U_WEEK) {
        int64_t delta;
        bad = __builtin_mul_overflow(n, step[u], &delta) || __builtin_add_overflow(us, delta, &res);
    } else {
        int64_t months = n;
        bad = (u == U_QUARTER && __builtin_mul_overflow(n, 3, &months)) ||
              (u == U_YEAR && __builtin_mul_overflow(n, 12, &months)) || add_months(us, months, &res);
    }
    if (bad) {
        result_errorf(ctx, "date_add: result is outside years 0000-9999");
        return;
    }
    result_ts(ctx, "date_add", res, is_date && u >= U_DAY);
}

/* datediff(unit, a, b): unit boundaries crossed going from a to b */
static void fn_datediff(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    unit_t u;
    int64_t a, b;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (unit_arg(ctx, "datediff", argv[0], &u) || ts_arg(ctx, "datediff", argv[1], &a, NULL) ||
        ts_arg(ctx, "datediff", argv[2], &b, NULL))
        return;
    int64_t da = floor_div(a, US_PER_DAY), db = floor_div(b, US_PER_DAY), r = 0;
    int ya, ma, dd, yb, mb;
    kiln_civil_from_days(da, &ya, &ma, &dd);
    kiln_civil_from_days(db, &yb, &mb, &dd);
    switch (u) {
    case U_SECOND: r = floor_div(b, US_PER_SEC) - floor_div(a, US_PER_SEC); break;
    case U_MINUTE: r = floor_div(b, US_PER_MIN) - floor_div(a, US_PER_MIN); break;
    case U_HOUR: r = floor_div(b, US_PER_HOUR) - floor_div(a, US_PER_HOUR); break;
    case U_DAY: r = db - da; break;
    case U_WEEK: r = (kiln_iso_week_monday(db) - kiln_iso_week_monday(da)) / 7; break;
    case U_MONTH: r = ((int64_t)yb * 12 + mb) - ((int64_t)ya * 12 + ma); break;
    case U_QUARTER: r = ((int64_t)yb * 4 + (mb - 1) / 3) - ((int64_t)ya * 4 + (ma - 1) / 3); break;
    case U_YEAR: r = (int64_t)yb - ya; break;
    }
    sqlite3_result_int64(ctx, r);
}

/* ------------------------------------------------------------ hashes */

static void bytes_arg(sqlite3_value *v, const void **p, size_t *n)
{
    if (sqlite3_value_type(v) == SQLITE_BLOB) {
        *p = sqlite3_value_blob(v);
    } else {
        *p = sqlite3_value_text(v);
    }
    *n = (size_t)sqlite3_value_bytes(v);
    if (!*p)
        *p = "";
}

/* EVP_md5() makes OpenSSL 3 look the algorithm up on every digest (about
 * 6 us); fetch it once per process instead. */
static EVP_MD *md5_md;
static pthread_mutex_t md5_lock = PTHREAD_MUTEX_INITIALIZER;
static const EVP_MD *md5_get(void)
{
    pthread_mutex_lock(&md5_lock);
    if (!md5_md)
        md5_md = EVP_MD_fetch(NULL, "MD5", NULL);
    const EVP_MD *md = md5_md;
    pthread_mutex_unlock(&md5_lock);
    return md;
}

static void fn_md5(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const void *p;
    size_t n;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    bytes_arg(argv[0], &p, &n);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const EVP_MD *alg = md5_get();
    if (!alg || EVP_Digest(p, n, md, &mdlen, alg, NULL) != 1 || mdlen != 16) {
        result_errorf(ctx, "md5: OpenSSL digest failed (is MD5 disabled by the crypto policy?)");
        return;
    }
    char hex[33];
    kiln_hex(md, 16, hex);
    sqlite3_result_text(ctx, hex, 32, SQLITE_TRANSIENT);
}

static void fn_sha256(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const void *p;
    size_t n;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    bytes_arg(argv[0], &p, &n);
    char hex[65];
    kiln_sha256_hex(p, n, hex);
    sqlite3_result_text(ctx, hex, 64, SQLITE_TRANSIENT);
}

/* ------------------------------------------------------------ regex */

static void *pcre_alloc(size_t n, void *ud) { return kiln_malloc(n); }
static void pcre_release(void *p, void *ud) { kiln_free(p); }

/* One process-wide PCRE2 context routing PCRE2's memory through
 * kiln_malloc; created on first use, retried if that allocation failed. */
static pcre2_general_context *gctx;
static pthread_mutex_t gctx_lock = PTHREAD_MUTEX_INITIALIZER;
static pcre2_general_context *gctx_get(void)
{
    pthread_mutex_lock(&gctx_lock);
    if (!gctx)
        gctx = pcre2_general_context_create(pcre_alloc, pcre_release, NULL);
    pcre2_general_context *g = gctx;
    pthread_mutex_unlock(&gctx_lock);
    return g;
}

typedef struct regex {
    pcre2_code *code;
    pcre2_match_data *md;
    uint32_t ncaptures;
} regex;

static void regex_free(void *p)
{
    regex *re = p;
    if (!re)
        return;
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    kiln_free(re);
}

/* Get the compiled pattern of argument slot i: from auxdata when this
 * statement compiled it already, else compiled now (*fresh = 1: the caller
 * hands it to keep_regex when done, which may free it at once). */
static regex *regex_arg(sqlite3_context *ctx, const char *fn, sqlite3_value **argv, int i, int *fresh)
{
    *fresh = 0;
    regex *re = sqlite3_get_auxdata(ctx, i);
    if (re)
        return re;
    pcre2_general_context *gc = gctx_get();
    const char *pat = (const char *)sqlite3_value_text(argv[i]);
    size_t patlen = (size_t)sqlite3_value_bytes(argv[i]);
    if (!pat || !gc) {
        sqlite3_result_error_nomem(ctx);
        return NULL;
    }
    int errcode = 0;
    PCRE2_SIZE erroff = 0;
    pcre2_compile_context *cctx = pcre2_compile_context_create(gc);
    if (!cctx) {
        sqlite3_result_error_nomem(ctx);
        return NULL;
    }
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pat, patlen, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &errcode, &erroff, cctx);
    pcre2_compile_context_free(cctx);
    if (!code) {
        PCRE2_UCHAR emsg[256];
        pcre2_get_error_message(errcode, emsg, sizeof emsg);
        char repr[80];
        value_repr(argv[i], repr, sizeof repr);
        result_errorf(ctx, "%s: invalid pattern %s at offset %zu: %s", fn, repr, (size_t)erroff, (char *)emsg);
        return NULL;
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* best effort: interpreted if JIT is unavailable */
    re = kiln_calloc(1, sizeof *re);
    if (re)
        re->md = pcre2_match_data_create_from_pattern(code, gc);
    if (!re || !re->md) {
        kiln_free(re);
        pcre2_code_free(code);
        sqlite3_result_error_nomem(ctx);
        return NULL;
    }
    re->code = code;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &re->ncaptures);
    *fresh = 1;
    return re;
}

static void keep_regex(sqlite3_context *ctx, int i, regex *re, int fresh)
{
    if (fresh)
        sqlite3_set_auxdata(ctx, i, re, regex_free); /* may free re right away */
}

/* Run re on s; returns 1 match, 0 none, -1 error (SQL error set). */
static int regex_match(sqlite3_context *ctx, const char *fn, regex *re, const char *s, size_t n)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, re->md, NULL);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    PCRE2_UCHAR emsg[256];
    pcre2_get_error_message(rc, emsg, sizeof emsg);
    result_errorf(ctx, "%s: matching failed: %s", fn, (char *)emsg);
    return -1;
}

/* regexp_like(s, pattern); regexp(pattern, s) for the REGEXP operator */
static void fn_regexp_like(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int op = sqlite3_user_data(ctx) != NULL; /* REGEXP operator: arguments swapped */
    const char *fn = op ? "regexp" : "regexp_like";
    int si = op ? 1 : 0, pi = op ? 0 : 1, fresh;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    regex *re = regex_arg(ctx, fn, argv, pi, &fresh);
    if (!re)
        return;
    const char *s = (const char *)sqlite3_value_text(argv[si]);
    int m = s ? regex_match(ctx, fn, re, s, (size_t)sqlite3_value_bytes(argv[si])) : -1;
    if (m >= 0)
        sqlite3_result_int(ctx, m);
    else if (!s)
        sqlite3_result_error_nomem(ctx);
    keep_regex(ctx, pi, re, fresh);
}

/* regexp_extract(s, pattern[, group]): the text of group (default 0, the
 * whole match) of the first match; NULL if no match or the group did not
 * take part in it. */
static void fn_regexp_extract(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t group = 0;
    int fresh;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (argc > 2 && int_arg(ctx, "regexp_extract", "group", argv[2], &group))
        return;
    regex *re = regex_arg(ctx, "regexp_extract", argv, 1, &fresh);
    if (!re)
        return;
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    if (group < 0 || group > re->ncaptures) {
        result_errorf(ctx, "regexp_extract: group %lld does not exist (the pattern has %u capture group%s)",
                      (long long)group, re->ncaptures, re->ncaptures == 1 ? "" : "s");
    } else if (!s) {
        sqlite3_result_error_nomem(ctx);
    } else {
        int m = regex_match(ctx, "regexp_extract", re, s, (size_t)sqlite3_value_bytes(argv[0]));
        if (m == 0) {
            sqlite3_result_null(ctx);
        } else if (m > 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(re->md);
            uint32_t npairs = pcre2_get_ovector_count(re->md);
            if ((uint32_t)group >= npairs || ov[2 * group] == PCRE2_UNSET)
                sqlite3_result_null(ctx);
            else
                sqlite3_result_text(ctx, s + ov[2 * group], (int)(ov[2 * group + 1] - ov[2 * group]), SQLITE_TRANSIENT);
        }
    }
    keep_regex(ctx, 1, re, fresh);
}

/* regexp_replace(s, pattern, replacement): every match replaced;
 * $1, ${1}, ${name} insert groups, $$ is a dollar sign. */
static void fn_regexp_replace(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int fresh;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    regex *re = regex_arg(ctx, "regexp_replace", argv, 1, &fresh);
    if (!re)
        return;
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    const char *rep = (const char *)sqlite3_value_text(argv[2]);
    size_t replen = (size_t)sqlite3_value_bytes(argv[2]);
    char stackbuf[512];
    char *outbuf = stackbuf;
    PCRE2_SIZE outlen = sizeof stackbuf;
    if (!s || !rep) {
        sqlite3_result_error_nomem(ctx);
        goto done;
    }
    uint32_t opts = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH;
    int rc = pcre2_substitute(re->code, (PCRE2_SPTR)s, n, 0, opts, re->md, NULL, (PCRE2_SPTR)rep, replen,
                              (PCRE2_UCHAR *)outbuf, &outlen);
    if (rc == PCRE2_ERROR_NOMEMORY) {
        int limit = sqlite3_limit(sqlite3_context_db_handle(ctx), SQLITE_LIMIT_LENGTH, -1);
        if (outlen > (PCRE2_SIZE)limit) {
            sqlite3_result_error_toobig(ctx);
            goto done;
        }
        outbuf = kiln_malloc(outlen);
        if (!outbuf) {
            sqlite3_result_error_nomem(ctx);
            goto done;
        }
        rc = pcre2_substitute(re->code, (PCRE2_SPTR)s, n, 0, opts, re->md, NULL, (PCRE2_SPTR)rep, replen,
                              (PCRE2_UCHAR *)outbuf, &outlen);
    }
    if (rc < 0) {
        PCRE2_UCHAR emsg[256];
        pcre2_get_error_message(rc, emsg, sizeof emsg);
        result_errorf(ctx, "regexp_replace: %s (replacement '%.60s')", (char *)emsg, rep);
        goto done;
    }
    sqlite3_result_text(ctx, outbuf, (int)outlen, SQLITE_TRANSIENT);
done:
    if (outbuf != stackbuf)
        kiln_free(outbuf);
    keep_regex(ctx, 1, re, fresh);
}

/* ------------------------------------------------------------ strings */

/* Byte offset of the character after the first nchars characters of s. */
static size_t utf8_skip(const char *s, size_t n, int64_t nchars)
{
    size_t i = 0;
    while (i < n && nchars > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        nchars--;
    }
    return i;
}

static int64_t utf8_count(const char *s, size_t n)
{
    int64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* left(s, n): the first n characters; a negative n drops the last -n.
 * right(s, n): the last n characters; a negative n drops the first -n. */
static void fn_left_right(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int is_right = sqlite3_user_data(ctx) != NULL;
    int64_t k;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (int_arg(ctx, is_right ? "right" : "left", "n", argv[1], &k))
        return;
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    if (!s) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    int64_t total = utf8_count(s, n);
    if (k < -total)
        k = -total;
    if (k > total)
        k = total;
    /* number of characters kept, and where they start */
    int64_t keep = k >= 0 ? k : total + k;
    size_t start = is_right ? utf8_skip(s, n, total - keep) : 0;
    size_t end = is_right ? n : utf8_skip(s, n, keep);
    sqlite3_result_text(ctx, s + start, (int)(end - start), SQLITE_TRANSIENT);
}

/* split_part(s, delim, n): the n-th field (1-based; negative counts from
 * the end); '' when there is no such field. An empty delimiter means the
 * whole string is the only field. */
static void fn_split_part(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    int64_t idx;
    if (any_null(argc, argv)) {
        sqlite3_result_null(ctx);
        return;
    }
    if (int_arg(ctx, "split_part", "n", argv[2], &idx))
        return;
    if (idx == 0) {
        result_errorf(ctx, "split_part: field number must not be 0 (fields count from 1; -1 is the last)");
        return;
    }
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    const char *delim = (const char *)sqlite3_value_text(argv[1]);
    if (!s || !delim) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    size_t n = (size_t)sqlite3_value_bytes(argv[0]), dn = (size_t)sqlite3_value_bytes(argv[1]);
    if (dn == 0) {
        if (idx == 1 || idx == -1)
            sqlite3_result_text(ctx, s, (int)n, SQLITE_TRANSIENT);
        else
            sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
        return;
    }
    /* count fields: delimiters (non-overlapping, left to right) + 1 */
    int64_t nfields = 1;
    for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), delim, dn)) != NULL; p += dn)
        nfields++;
    if (idx < 0)
        idx = nfields + idx + 1;
    if (idx < 1 || idx > nfields) {
        sqlite3_result_text(ctx, "", 0, SQLITE_STATIC);
        return;
    }
    const char *start = s;
    for (int64_t f = 1; f < idx; f++)
        start = (const char *)memmem(start, n - (size_t)(start - s), delim, dn) + dn;
    const char *end = memmem(start, n - (size_t)(start - s), delim, dn);
    if (!end)
        end = s + n;
    sqlite3_result_text(ctx, start, (int)(end - start), SQLITE_TRANSIENT);
}

/* ------------------------------------------------------------ registration */

static char flag_set; /* non-NULL user data marks the second variant */

static const struct fn_def {
    const char *name;
    int nargs;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
    void *variant;
} fn_defs[] = {
    {"date_trunc", 2, fn_date_trunc, NULL},
    {"iso_week", 1, fn_iso, NULL},
    {"iso_year", 1, fn_iso, &flag_set},
    {"date_add", 3, fn_date_add, NULL},
    {"datediff", 3, fn_datediff, NULL},
    {"ts_micros", 1, fn_ts_micros, NULL},
    {"md5", 1, fn_md5, NULL},
    {"sha256", 1, fn_sha256, NULL},
    {"regexp_like", 2, fn_regexp_like, NULL},
    {"regexp", 2, fn_regexp_like, &flag_set},
    {"regexp_extract", 2, fn_regexp_extract, NULL},
    {"regexp_extract", 3, fn_regexp_extract, NULL},
    {"regexp_replace", 3, fn_regexp_replace, NULL},
    {"split_part", 3, fn_split_part, NULL},
    {"left", 2, fn_left_right, NULL},
    {"right", 2, fn_left_right, &flag_set},
};

int kiln_sql_functions_register(sqlite3 *db, kiln_err *err)
{
    for (size_t i = 0; i < sizeof fn_defs / sizeof *fn_defs; i++) {
        const struct fn_def *f = &fn_defs[i];
        int rc =
            sqlite3_create_function_v2(db, f->name, f->nargs, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                       f->variant, f->fn, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            return kiln_err_set(err, rc == SQLITE_NOMEM ? KILN_ENOMEM : KILN_EINTERNAL,
                                "registering SQL function %s: %s", f->name, sqlite3_errmsg(db));
    }
    return 0;
}
