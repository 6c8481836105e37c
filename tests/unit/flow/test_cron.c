/* Unit tests for src/base/cron.c: cron fields, macros, next/prev against a
 * minute-by-minute brute force (gmtime_r / localtime_r under TZ as an
 * independent oracle), DST edges in two zones, the POSIX-TZ footer past
 * 2037, data intervals, and parse errors with their column. */
#include "harness/harness.h"
#include "base/base.h"

#include <stdlib.h>
#include <time.h>

static int64_t ts(const char *s)
{
    int64_t us = 0;
    if (kiln_ts_parse(s, strlen(s), &us) != 0)
        abort();
    return us / 1000000;
}

static int next_is(const char *expr, const char *tz, const char *after, const char *want)
{
    kiln_cron c;
    kiln_err err = {0};
    if (kiln_cron_parse(&c, expr, tz, &err) != 0)
        return 0;
    int64_t out = 0;
    int rc = kiln_cron_next(&c, ts(after), &out);
    kiln_cron_free(&c);
    if (rc != 0 || out != ts(want)) {
        char b[40];
        kiln_ts_format(out * 1000000, b);
        fprintf(stderr, "  next(%s, %s) = %s, want %s\n", expr, after, b, want);
        return 0;
    }
    return 1;
}

TEST(cron, fields_names_steps_lists)
{
    CHECK(next_is("*/15 9-17 * * MON-FRI", NULL, "2024-01-06T12:00:00Z", "2024-01-08T09:00:00Z"));
    CHECK(next_is("*/15 9-17 * * mon-fri", NULL, "2024-01-08T09:00:00Z", "2024-01-08T09:15:00Z"));
    CHECK(next_is("*/15 9-17 * * 1-5", NULL, "2024-01-08T17:45:00Z", "2024-01-09T09:00:00Z"));
    CHECK(next_is("0 0 29 2 *", NULL, "2024-03-01T00:00:00Z", "2028-02-29T00:00:00Z"));
    CHECK(next_is("5,10 1 * JAN,jul *", NULL, "2024-01-31T01:10:00Z", "2024-07-01T01:05:00Z"));
    CHECK(next_is("0 12 * * 7", NULL, "2024-01-01T00:00:00Z", "2024-01-07T12:00:00Z"));   /* 7 = Sunday */
    CHECK(next_is("0 0 13 * FRI", NULL, "2024-01-01T00:00:00Z", "2024-01-05T00:00:00Z")); /* dom OR dow */
    CHECK(next_is("0 0 */10 * *", NULL, "2024-01-01T00:00:00Z", "2024-01-11T00:00:00Z"));
    CHECK(next_is("30 4/6 * * *", NULL, "2024-01-01T00:00:00Z", "2024-01-01T04:30:00Z"));
    CHECK(next_is("30 4/6 * * *", NULL, "2024-01-01T04:30:00Z", "2024-01-01T10:30:00Z"));
    CHECK(next_is("@hourly", NULL, "2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"));
    CHECK(next_is("@daily", NULL, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"));
    CHECK(next_is("@weekly", NULL, "2024-01-01T00:00:00Z", "2024-01-07T00:00:00Z"));
    CHECK(next_is("@monthly", NULL, "2024-01-31T23:59:00Z", "2024-02-01T00:00:00Z"));
    CHECK(next_is("@yearly", NULL, "2024-06-01T00:00:00Z", "2025-01-01T00:00:00Z"));
    kiln_cron c;
    kiln_err err = {0};
    CHECK_OK(kiln_cron_parse(&c, "0 0 30 2 *", NULL, &err), &err);
    int64_t out;
    CHECK_EQ_INT(kiln_cron_next(&c, ts("2024-01-01T00:00:00Z"), &out), KILN_ENOTFOUND);
    kiln_cron_free(&c);
}

TEST(cron, parse_errors_name_the_column)
{
    static const struct {
        const char *expr;
        int col;
    } bad[] = {
        {"0 25 * * *", 2},   {"0 0 * *", 7},      {"* * * * * *", 10},
        {"@fortnightly", 0}, {"1-70 * * * *", 0}, {"0 0 0 * *", 4},
        {"*/0 * * * *", 0},  {"0 0 * FOO *", 6},  {"CRON_TZ=Nowhere/City 0 0 * * *", 0},
        {"0 0 1,,2 * *", 6}, {"5-1 * * * *", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kiln_cron c;
        kiln_err err = {0};
        int rc = kiln_cron_parse(&c, bad[i].expr, NULL, &err);
        CHECK_MSG(rc != 0, "'%s' parsed", bad[i].expr);
        CHECK_MSG((int)err.offset == bad[i].col, "'%s': column %d, want %d (%s)", bad[i].expr, (int)err.offset,
                  bad[i].col, err.msg);
        kiln_cron_free(&c);
    }
}

/* Brute force over every minute of a window against gmtime_r/localtime_r. */
static int brute_matches(const char *expr_fields[5], struct tm *tm);

static int field_has(const char *spec, int v, int lo, int hi)
{
    /* tiny independent matcher: '*', '*'/n, a-b, a, comma lists (numbers only) */
    char buf[64];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int a = lo, b = hi, step = 1;
        char *slash = strchr(tok, '/');
        if (slash) {
            step = atoi(slash + 1);
            *slash = 0;
        }
        if (strcmp(tok, "*") != 0) {
            a = b = atoi(tok);
            char *dash = strchr(tok, '-');
            if (dash)
                b = atoi(dash + 1);
            else if (slash)
                b = hi;
        }
        for (int x = a; x <= b; x += step)
            if (x == v || (hi == 7 && x == 7 && v == 0))
                return 1;
    }
    return 0;
}

static int brute_matches(const char *f[5], struct tm *tm)
{
    int dom = field_has(f[2], tm->tm_mday, 1, 31), dow = field_has(f[4], tm->tm_wday, 0, 7);
    int day = (f[2][0] == '*' || f[4][0] == '*') ? dom && dow : dom || dow;
    return field_has(f[0], tm->tm_min, 0, 59) && field_has(f[1], tm->tm_hour, 0, 23) && day &&
           field_has(f[3], tm->tm_mon + 1, 1, 12);
}

static void check_brute(const char *tzname, const char *f[5], const char *from, int days)
{
    char expr[128];
    snprintf(expr, sizeof expr, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
    kiln_cron c;
    kiln_err err = {0};
    CHECK_OK(kiln_cron_parse(&c, expr, tzname, &err), &err);
    if (tzname)
        setenv("TZ", tzname, 1); /* test-only oracle; single-threaded here */
    else
        setenv("TZ", "UTC", 1);
    tzset();
    int64_t t0 = ts(from), t = t0, last_fire = -1;
    int64_t seen_wall[4] = {-1, -1, -1, -1};
    for (int64_t u = t0 + 60; u < t0 + (int64_t)days * 86400; u += 60) {
        time_t tt = (time_t)u;
        struct tm tm;
        localtime_r(&tt, &tm);
        if (!brute_matches(f, &tm))
            continue;
        /* overlap: a wall time seen before fires only the first time */
        int64_t wall = u + tm.tm_gmtoff;
        int dup = 0;
        for (int i = 0; i < 4; i++)
            dup |= seen_wall[i] == wall;
        seen_wall[(u / 60) % 4] = wall;
        if (dup)
            continue;
        int64_t got = 0;
        int rc = kiln_cron_next(&c, t, &got);
        CHECK_MSG(rc == 0 && got == u, "%s in %s: next(%lld) = %lld, want %lld", expr, tzname ? tzname : "UTC",
                  (long long)t, (long long)got, (long long)u);
        if (last_fire >= 0) {
            int64_t p = 0;
            CHECK_OK(kiln_cron_prev(&c, u, &p), &err);
            CHECK_MSG(p == last_fire, "%s: prev(%lld) = %lld, want %lld", expr, (long long)u, (long long)p,
                      (long long)last_fire);
        }
        CHECK(kiln_cron_matches(&c, u));
        last_fire = t = u;
    }
    CHECK(last_fire > 0);
    unsetenv("TZ");
    tzset();
    kiln_cron_free(&c);
}

TEST(cron, next_prev_equal_brute_force_utc)
{
    const char *a[5] = {"*/7", "*", "*", "*", "*"};
    check_brute(NULL, a, "2024-02-27T00:00:00Z", 4);
    const char *b[5] = {"0,30", "9-17/2", "1,15", "*", "1-5"};
    check_brute(NULL, b, "2024-01-01T00:00:00Z", 70);
    const char *d[5] = {"5", "0", "*", "2-3", "0"};
    check_brute(NULL, d, "2024-01-01T00:00:00Z", 120);
}

/* Gaps fire shifted forward (02:30 -> 03:30), overlaps once: compare with
 * the oracle only where the oracle's answer is unambiguous, and pin the
 * DST days explicitly. */
TEST(cron, dst_edges_berlin_new_york)
{
    /* Berlin spring forward 2024-03-31 02:00 CET -> 03:00 CEST */
    CHECK(next_is("30 2 * * *", "Europe/Berlin", "2024-03-30T12:00:00Z", "2024-03-31T01:30:00Z"));
    CHECK(next_is("30 2 * * *", "Europe/Berlin", "2024-03-31T01:30:00Z", "2024-04-01T00:30:00Z"));
    CHECK(next_is("0 * * * *", "Europe/Berlin", "2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z"));
    /* fall back 2024-10-27 03:00 CEST -> 02:00 CET: 02:30 once, first occurrence */
    CHECK(next_is("30 2 * * *", "Europe/Berlin", "2024-10-26T12:00:00Z", "2024-10-27T00:30:00Z"));
    CHECK(next_is("30 2 * * *", "Europe/Berlin", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z"));
    CHECK(next_is("CRON_TZ=Europe/Berlin 0 0 * * *", NULL, "2024-07-01T00:00:00Z", "2024-07-01T22:00:00Z"));
    /* New York 2024-03-10 02:00 EST -> 03:00 EDT; 2024-11-03 02:00 EDT -> 01:00 EST */
    CHECK(next_is("0 2 * * *", "America/New_York", "2024-03-09T12:00:00Z", "2024-03-10T07:00:00Z"));
    CHECK(next_is("30 1 * * *", "America/New_York", "2024-11-03T00:00:00Z", "2024-11-03T05:30:00Z"));
    CHECK(next_is("30 1 * * *", "America/New_York", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"));
    const char *h[5] = {"15", "*", "*", "*", "*"};
    check_brute("Europe/Berlin", h, "2024-10-25T00:00:00Z", 4);
    const char *d[5] = {"0", "9", "*", "*", "1-5"};
    check_brute("America/New_York", d, "2024-03-01T00:00:00Z", 20);
}

TEST(cron, tz_footer_past_last_transition)
{
    kiln_tz *tz = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_tz_load(&tz, "Europe/Berlin", &err), &err);
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("2050-07-01T12:00:00Z")), 7200);
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("2050-01-01T12:00:00Z")), 3600);
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("2050-03-27T00:59:59Z")), 3600); /* last Sunday of March 2050 */
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("2050-03-27T01:00:00Z")), 7200);
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("1990-07-01T12:00:00Z")), 7200);
    kiln_tz_free(tz);
    CHECK_OK(kiln_tz_load(&tz, "Australia/Sydney", &err), &err); /* southern hemisphere */
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("2060-01-15T00:00:00Z")), 39600);
    CHECK_EQ_INT(kiln_tz_offset(tz, ts("2060-07-15T00:00:00Z")), 36000);
    kiln_tz_free(tz);
    CHECK(kiln_tz_load(&tz, "../etc/passwd", &err) != 0);
    CHECK(kiln_tz_load(&tz, "No/Such_Zone", &err) != 0);
}

TEST(cron, data_intervals)
{
    kiln_cron c;
    kiln_err err = {0};
    CHECK_OK(kiln_cron_parse(&c, "@daily", NULL, &err), &err);
    int64_t s, e;
    CHECK_OK(kiln_cron_interval_for(&c, ts("2024-01-01T00:00:00Z"), &s, &e), &err);
    CHECK_EQ_INT(s, ts("2024-01-01T00:00:00Z"));
    CHECK_EQ_INT(e, ts("2024-01-02T00:00:00Z"));
    CHECK_OK(kiln_cron_interval_for(&c, ts("2024-01-01T13:00:00Z"), &s, &e), &err);
    CHECK_EQ_INT(s, ts("2024-01-01T00:00:00Z"));
    /* at 2024-01-02T05:00 the latest complete interval is Jan 1's, due at its end */
    CHECK_OK(kiln_cron_last_complete(&c, ts("2024-01-02T05:00:00Z"), &s, &e), &err);
    CHECK_EQ_INT(s, ts("2024-01-01T00:00:00Z"));
    CHECK_EQ_INT(e, ts("2024-01-02T00:00:00Z"));
    kiln_cron_free(&c);
    /* a DST day in Berlin is 23 hours long */
    CHECK_OK(kiln_cron_parse(&c, "@daily", "Europe/Berlin", &err), &err);
    CHECK_OK(kiln_cron_interval_for(&c, ts("2024-03-31T12:00:00Z"), &s, &e), &err);
    CHECK_EQ_INT(s, ts("2024-03-30T23:00:00Z"));
    CHECK_EQ_INT(e - s, 23 * 3600);
    kiln_cron_free(&c);
}
