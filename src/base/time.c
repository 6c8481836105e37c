/*
 * time.c - UTC calendar arithmetic: civil dates <-> days since 1970-01-01
 * (Howard Hinnant's algorithms, proleptic Gregorian), ISO-8601 weeks,
 * timestamp parsing/formatting in microseconds, and clocks.
 */
#include "base.h"

#include <time.h>

int64_t kiln_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void kiln_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

int kiln_weekday(int64_t days)
{
    /* 1970-01-01 was a Thursday (ISO 4) */
    int64_t w = (days + 3) % 7;
    if (w < 0)
        w += 7;
    return (int)w + 1;
}

int64_t kiln_iso_week_monday(int64_t days) { return days - (kiln_weekday(days) - 1); }

void kiln_iso_week(int64_t days, int *iso_year, int *iso_week)
{
    /* The ISO year is the year of the Thursday of this week. */
    int64_t thursday = kiln_iso_week_monday(days) + 3;
    int y, m, d;
    kiln_civil_from_days(thursday, &y, &m, &d);
    int64_t jan1 = kiln_days_from_civil(y, 1, 1);
    *iso_year = y;
    *iso_week = (int)((thursday - jan1) / 7) + 1;
}

int kiln_is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int kiln_days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    return m == 2 && kiln_is_leap(y) ? 29 : dm[m - 1];
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int kiln_date_parse(const char *s, size_t n, int64_t *days_out)
{
    int y, m, d;
    if (n != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d) ||
        m < 1 || m > 12 || d < 1 || d > kiln_days_in_month(y, m))
        return KILN_EFORMAT;
    *days_out = kiln_days_from_civil(y, m, d);
    return 0;
}

int kiln_ts_parse(const char *s, size_t n, int64_t *micros_out)
{
    int64_t days;
    int hh, mi, ss;
    if (n < 19 || kiln_date_parse(s, 10, &days) || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' ||
        digits(s + 11, 2, &hh) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &ss) || hh > 23 || mi > 59 || ss > 60)
        return KILN_EFORMAT;
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        int nd = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (nd < 6) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            }
            i++;
        }
        if (nd == 0)
            return KILN_EFORMAT;
        while (nd++ < 6)
            frac *= 10;
    }
    int64_t offset_s = 0;
    if (i == n) {
        /* no zone: taken as UTC */
    } else if (s[i] == 'Z' && i + 1 == n) {
    } else if ((s[i] == '+' || s[i] == '-') && (n - i == 6 || n - i == 5)) {
        int oh, om;
        const char *z = s + i + 1;
        if (n - i == 6) {
            if (z[2] != ':' || digits(z, 2, &oh) || digits(z + 3, 2, &om))
                return KILN_EFORMAT;
        } else if (digits(z, 2, &oh) || digits(z + 2, 2, &om)) {
            return KILN_EFORMAT;
        }
        offset_s = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    } else {
        return KILN_EFORMAT;
    }
    int64_t secs = days * 86400 + hh * 3600 + mi * 60 + ss - offset_s;
    *micros_out = secs * 1000000 + frac;
    return 0;
}

void kiln_date_format(int64_t days, char *out)
{
    int y, m, d;
    kiln_civil_from_days(days, &y, &m, &d);
    snprintf(out, 11, "%04d-%02d-%02d", y % 10000, m, d);
}

/* A time since the epoch in units of 1/per_sec s: its civil date, the
 * seconds of its day and the sub-second remainder (all floored). */
static void split_instant(int64_t v, int64_t per_sec, int *y, int *m, int *d, int64_t *sod, int64_t *frac)
{
    int64_t secs = v / per_sec, f = v % per_sec;
    if (f < 0) {
        f += per_sec;
        secs--;
    }
    int64_t days = secs / 86400, s = secs % 86400;
    if (s < 0) {
        s += 86400;
        days--;
    }
    kiln_civil_from_days(days, y, m, d);
    *sod = s;
    *frac = f;
}

size_t kiln_ts_format_ns(int64_t nanos, int utc, char *out)
{
    int y, m, d;
    int64_t sod, ns;
    split_instant(nanos, 1000000000, &y, &m, &d, &sod, &ns);
    int n = snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09d%s", y, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
                     (int)(sod % 60), (int)ns, utc ? "Z" : "");
    return n > 0 ? (size_t)n : 0;
}

void kiln_ts_format(int64_t micros, char *out)
{
    int y, m, d;
    int64_t sod, us;
    split_instant(micros, 1000000, &y, &m, &d, &sod, &us);
    if (us)
        snprintf(out, 28, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y % 10000, m, d, (int)(sod / 3600),
                 (int)(sod / 60 % 60), (int)(sod % 60), (int)us);
    else
        snprintf(out, 28, "%04d-%02d-%02dT%02d:%02d:%02dZ", y % 10000, m, d, (int)(sod / 3600), (int)(sod / 60 % 60),
                 (int)(sod % 60));
}

int64_t kiln_now_micros(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double kiln_mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
