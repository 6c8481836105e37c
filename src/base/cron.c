/*
 * cron.c - cron schedules, time zones and data intervals for the
 * orchestrator (src/flow).
 *
 * Cron: five fields parsed into bit sets. next/prev walk wall-clock time
 * (the local civil time of the zone, held as "seconds as if UTC"),
 * skipping a whole month, day or hour when that field does not match, so a
 * search costs at most a few hundred steps per year scanned.
 *
 * Time zones: the TZif files of the system tz database are read here
 * (RFC 8536: the v2+ 64-bit block and the POSIX-TZ footer that covers
 * instants after the last listed transition). We do not use
 * setenv("TZ") + tzset + localtime_r: TZ is process-global and not
 * thread-safe, and a scheduler holds DAGs in several zones at once.
 *
 * Wall time -> instant: u + off(u) = W has 0 solutions in a DST gap, 2 in
 * a DST overlap. A gap time fires shifted forward by the gap (W - offset
 * before the gap, as pendulum normalizes); an overlap time fires once, at
 * its first occurrence.
 */
#include "base.h"

#include <stdlib.h>

/* ----------------------------------------------------------- time zones */

typedef struct posix_rule {
    int m, w, d;  /* Mm.w.d */
    int32_t time; /* seconds after local midnight */
} posix_rule;

struct kiln_tz {
    char *name;
    int64_t *trans;     /* transition instants, ascending */
    int32_t *trans_off; /* offset in force from trans[i] on */
    size_t ntrans;
    int32_t first_off; /* before the first transition */
    /* footer rule, used after the last transition */
    int has_footer, footer_dst;
    int32_t std_off, dst_off;
    posix_rule start, end;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static int64_t be64(const unsigned char *p) { return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4)); }

/* POSIX TZ pieces: name (<...> or letters), offset [+-]hh[:mm[:ss]]. */
static const char *tz_skip_name(const char *p)
{
    if (*p == '<') {
        while (*p && *p != '>')
            p++;
        return *p ? p + 1 : NULL;
    }
    const char *s = p;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    return p - s >= 3 ? p : NULL;
}

static const char *tz_hms(const char *p, int32_t *out)
{
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9')
        return NULL;
    int32_t v[3] = {0, 0, 0};
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return NULL;
        while (*p >= '0' && *p <= '9')
            v[i] = v[i] * 10 + (*p++ - '0');
        if (*p != ':' || i == 2)
            break;
        p++;
    }
    *out = sign * (v[0] * 3600 + v[1] * 60 + v[2]);
    return p;
}

static const char *tz_rule(const char *p, posix_rule *r)
{
    if (*p != 'M')
        return NULL; /* Jn and n forms: not used by the tz database's zones */
    p++;
    int *f[3] = {&r->m, &r->w, &r->d};
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return NULL;
        *f[i] = 0;
        while (*p >= '0' && *p <= '9')
            *f[i] = *f[i] * 10 + (*p++ - '0');
        if (i < 2 && *p++ != '.')
            return NULL;
    }
    if (r->m < 1 || r->m > 12 || r->w < 1 || r->w > 5 || r->d > 6)
        return NULL;
    r->time = 7200;
    if (*p == '/')
        p = tz_hms(p + 1, &r->time);
    return p;
}

static int tz_footer(kiln_tz *tz, const char *s)
{
    const char *p = tz_skip_name(s);
    int32_t off;
    if (!p || !(p = tz_hms(p, &off)))
        return -1;
    tz->std_off = -off;
    tz->has_footer = 1;
    if (!*p)
        return 0;
    if (!(p = tz_skip_name(p)))
        return -1;
    tz->dst_off = tz->std_off + 3600;
    if (*p && *p != ',') {
        if (!(p = tz_hms(p, &off)))
            return -1;
        tz->dst_off = -off;
    }
    if (*p++ != ',' || !(p = tz_rule(p, &tz->start)) || *p++ != ',' || !(p = tz_rule(p, &tz->end)) || *p)
        return -1;
    tz->footer_dst = 1;
    return 0;
}

/* Local midnight (as seconds-as-if-UTC) of rule r's day in year y. */
static int64_t rule_day(int y, const posix_rule *r)
{
    int64_t first = kiln_days_from_civil(y, r->m, 1);
    int wd = kiln_weekday(first) % 7; /* Sunday = 0 */
    int day = 1 + (r->d - wd + 7) % 7 + (r->w - 1) * 7;
    while (day > kiln_days_in_month(y, r->m))
        day -= 7;
    return (first + day - 1) * 86400;
}

static int32_t footer_offset(const kiln_tz *tz, int64_t t)
{
    if (!tz->footer_dst)
        return tz->std_off;
    int y, m, d;
    kiln_civil_from_days((t + tz->std_off) / 86400 - ((t + tz->std_off) % 86400 < 0), &y, &m, &d);
    int64_t start = rule_day(y, &tz->start) + tz->start.time - tz->std_off;
    int64_t end = rule_day(y, &tz->end) + tz->end.time - tz->dst_off;
    int dst = start < end ? (t >= start && t < end) : (t >= start || t < end);
    return dst ? tz->dst_off : tz->std_off;
}

int kiln_tz_offset(const kiln_tz *tz, int64_t t)
{
    if (!tz)
        return 0;
    if (tz->ntrans == 0 || t < tz->trans[0])
        return tz->ntrans == 0 && tz->has_footer ? footer_offset(tz, t) : tz->first_off;
    if (t >= tz->trans[tz->ntrans - 1] && tz->has_footer)
        return footer_offset(tz, t);
    size_t lo = 0, hi = tz->ntrans; /* last trans <= t */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (tz->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return tz->trans_off[lo];
}

const char *kiln_tz_name(const kiln_tz *tz) { return tz ? tz->name : "UTC"; }

void kiln_tz_free(kiln_tz *tz)
{
    if (!tz)
        return;
    kiln_free(tz->name);
    kiln_free(tz->trans);
    kiln_free(tz->trans_off);
    kiln_free(tz);
}

static int tz_parse(kiln_tz *tz, const unsigned char *b, size_t n, kiln_err *err)
{
    const char *why = "not a TZif file";
    if (n < 44 || memcmp(b, "TZif", 4) != 0)
        goto bad;
    why = "TZif version 1 (no 64-bit data) is not supported";
    if (b[4] < '2')
        goto bad;
    why = "truncated TZif file";
    /* skip the v1 block */
    uint32_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = be32(b + 20 + 4 * i);
    size_t v1 = 44 + (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
    if (v1 + 44 > n || memcmp(b + v1, "TZif", 4) != 0)
        goto bad;
    const unsigned char *h = b + v1;
    for (int i = 0; i < 6; i++)
        c[i] = be32(h + 20 + 4 * i);
    uint32_t isut = c[0], isstd = c[1], leap = c[2], timecnt = c[3], typecnt = c[4], charcnt = c[5];
    size_t need = 44 + (size_t)timecnt * 9 + (size_t)typecnt * 6 + charcnt + (size_t)leap * 12 + isstd + isut;
    if (typecnt == 0 || v1 + need > n)
        goto bad;
    const unsigned char *tt = h + 44, *idx = tt + (size_t)timecnt * 8, *types = idx + timecnt;
    tz->trans = kiln_malloc((timecnt ? timecnt : 1) * sizeof *tz->trans);
    tz->trans_off = kiln_malloc((timecnt ? timecnt : 1) * sizeof *tz->trans_off);
    if (!tz->trans || !tz->trans_off)
        return KILN_OOM(err);
    for (uint32_t i = 0; i < timecnt; i++) {
        if (idx[i] >= typecnt)
            goto bad;
        tz->trans[i] = be64(tt + 8 * i);
        tz->trans_off[i] = (int32_t)be32(types + 6 * idx[i]);
    }
    tz->ntrans = timecnt;
    /* RFC 8536 3.2: before the first transition, type 0 */
    tz->first_off = (int32_t)be32(types);
    /* footer: "\nTZ\n" after the v2 data */
    const char *f = (const char *)h + need;
    const char *fend = (const char *)b + n;
    if (f < fend && *f == '\n') {
        const char *nl = memchr(f + 1, '\n', (size_t)(fend - f - 1));
        if (nl && nl > f + 1) {
            char foot[128];
            size_t fl = (size_t)(nl - f - 1);
            if (fl < sizeof foot) {
                memcpy(foot, f + 1, fl);
                foot[fl] = 0;
                if (tz_footer(tz, foot) != 0)
                    return kiln_err_set(err, KILN_EUNSUPP, "time zone %s: unsupported POSIX TZ rule '%s'", tz->name,
                                        foot);
            }
        }
    }
    return 0;
bad:
    return kiln_err_set(err, KILN_EFORMAT, "time zone %s: %s", tz->name, why);
}

int kiln_tz_load(kiln_tz **out, const char *name, kiln_err *err)
{
    *out = NULL;
    if (!name || !*name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
        return 0;
    /* a zone name is a relative path of safe components */
    const char *p = name;
    for (;;) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (!kiln_path_component_ok(p, len))
            return kiln_err_set(err, KILN_ECONFIG, "unknown time zone '%s'", name);
        if (!s)
            break;
        p = s + 1;
    }
    const char *dir = getenv("TZDIR");
    char *path = kiln_sprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    kiln_tz *tz = kiln_calloc(1, sizeof *tz);
    char *data = NULL;
    size_t n = 0;
    int rc;
    if (!path || !tz || !(tz->name = kiln_strdup(name))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_file_read(path, 1 << 20, &data, &n, err))) {
        rc = kiln_err_set(err, KILN_ECONFIG, "unknown time zone '%s' (%s)", name, err->msg);
        goto done;
    }
    if ((rc = tz_parse(tz, (const unsigned char *)data, n, err)))
        goto done;
    *out = tz;
    tz = NULL;
done:
    kiln_tz_free(tz);
    kiln_free(path);
    kiln_free(data);
    return rc;
}

/* ----------------------------------------------------------------- cron */

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

static int field_num(const char **pp, const char *end, int fieldno, int *out)
{
    const char *p = *pp;
    if (p < end && *p >= '0' && *p <= '9') {
        int v = 0;
        while (p < end && *p >= '0' && *p <= '9' && v < 1000)
            v = v * 10 + (*p++ - '0');
        *out = v;
        *pp = p;
        return 0;
    }
    const char *const *names = fieldno == 3 ? month_names : fieldno == 4 ? dow_names : NULL;
    int nn = fieldno == 3 ? 12 : 7;
    if (names && end - p >= 3) {
        for (int i = 0; i < nn; i++) {
            if ((p[0] & ~0x20) == names[i][0] && (p[1] & ~0x20) == names[i][1] && (p[2] & ~0x20) == names[i][2]) {
                *out = fieldno == 3 ? i + 1 : i;
                *pp = p + 3;
                return 0;
            }
        }
    }
    return -1;
}

/* One field [s, end) into bits; lo..hi the allowed range. */
static int parse_field(const char *s, const char *end, int fieldno, uint64_t *bits, const char **bad)
{
    static const int lo_of[] = {0, 0, 1, 1, 0}, hi_of[] = {59, 23, 31, 12, 7};
    int lo = lo_of[fieldno], hi = hi_of[fieldno];
    *bits = 0;
    const char *p = s;
    while (p < end) {
        const char *item = p;
        int a, b, step = 1;
        if (*p == '*') {
            a = lo;
            b = hi;
            p++;
        } else {
            if (field_num(&p, end, fieldno, &a) != 0)
                goto bad;
            b = a;
            if (p < end && *p == '-') {
                p++;
                if (field_num(&p, end, fieldno, &b) != 0)
                    goto bad;
            } else if (p < end && *p == '/') {
                b = hi; /* "a/n": from a to the end of the range */
            }
        }
        if (p < end && *p == '/') {
            p++;
            if (field_num(&p, end, -1, &step) != 0 || step < 1 || step > hi)
                goto bad;
        }
        if (a < lo || b > hi || a > b)
            goto bad;
        for (int v = a; v <= b; v += step)
            *bits |= (uint64_t)1 << v;
        if (p < end && *p != ',')
            goto bad;
        if (p < end)
            p++;
        if (p == end && p[-1] == ',')
            goto bad;
        continue;
    bad:
        *bad = item;
        return -1;
    }
    if (!*bits) {
        *bad = s;
        return -1;
    }
    return 0;
}

void kiln_cron_free(kiln_cron *c)
{
    if (c) {
        kiln_tz_free(c->tz);
        c->tz = NULL;
    }
}

int kiln_cron_parse(kiln_cron *out, const char *expr, const char *tz_name, kiln_err *err)
{
    static const struct {
        const char *name, *expr;
    } macros[] = {
        {"@hourly", "0 * * * *"},  {"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
        {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"},
    };
    static const char *const field_names[] = {"minute", "hour", "day-of-month", "month", "day-of-week"};
    memset(out, 0, sizeof *out);
    const char *p = expr;
    char zone[128];
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncmp(p, "CRON_TZ=", 8) == 0 || strncmp(p, "TZ=", 3) == 0) {
        p = strchr(p, '=') + 1;
        size_t n = strcspn(p, " \t");
        if (n == 0 || n >= sizeof zone)
            return kiln_err_set_at(err, KILN_EFORMAT, (uint64_t)(p - expr), "cron '%s': empty or long CRON_TZ zone",
                                   expr);
        memcpy(zone, p, n);
        zone[n] = 0;
        tz_name = zone;
        p += n;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    const char *body = p;
    size_t blen = strlen(body);
    while (blen && (body[blen - 1] == ' ' || body[blen - 1] == '\t'))
        blen--;
    if (*body == '@') {
        size_t i = 0;
        for (; i < sizeof macros / sizeof *macros; i++)
            if (strlen(macros[i].name) == blen && strncmp(macros[i].name, body, blen) == 0)
                break;
        if (i == sizeof macros / sizeof *macros)
            return kiln_err_set_at(err, KILN_EFORMAT, (uint64_t)(body - expr),
                                   "cron '%s': unknown macro (use @hourly, @daily, @weekly, @monthly or @yearly)",
                                   expr);
        body = macros[i].expr;
        blen = strlen(body);
    }
    const char *q = body, *end = body + blen;
    uint64_t bits[5];
    for (int f = 0; f < 5; f++) {
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        const char *s = q;
        while (q < end && *q != ' ' && *q != '\t')
            q++;
        uint64_t col = body >= expr && body <= expr + strlen(expr) ? (uint64_t)(s - body + (body - expr)) : 0;
        if (s == q)
            return kiln_err_set_at(err, KILN_EFORMAT, col,
                                   "cron '%s': %d fields, want 5 (minute hour day month weekday)", expr, f);
        const char *bad = NULL;
        if (parse_field(s, q, f, &bits[f], &bad) != 0)
            return kiln_err_set_at(err, KILN_EFORMAT, col + (uint64_t)(bad - s), "cron '%s': bad %s field '%.*s'", expr,
                                   field_names[f], (int)(q - s), s);
        if (f == 2)
            out->dom_star = *s == '*';
        if (f == 4)
            out->dow_star = *s == '*';
    }
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (q < end)
        return kiln_err_set_at(err, KILN_EFORMAT, (uint64_t)(q - body + (body - expr)), "cron '%s': more than 5 fields",
                               expr);
    out->minute = bits[0];
    out->hour = (uint32_t)bits[1];
    out->dom = (uint32_t)bits[2];
    out->month = (uint16_t)bits[3];
    out->dow = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday too */
    return kiln_tz_load(&out->tz, tz_name, err);
}

static int64_t floordiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

static int day_matches(const kiln_cron *c, int64_t days, int dom)
{
    int dom_ok = (c->dom >> dom) & 1;
    int dow_ok = (c->dow >> (kiln_weekday(days) % 7)) & 1;
    if (c->dom_star || c->dow_star)
        return dom_ok && dow_ok;
    return dom_ok || dow_ok;
}

static int wall_matches(const kiln_cron *c, int64_t w)
{
    int64_t days = floordiv(w, 86400), sod = w - days * 86400;
    int y, m, d;
    kiln_civil_from_days(days, &y, &m, &d);
    return ((c->month >> m) & 1) && day_matches(c, days, d) && ((c->hour >> (sod / 3600)) & 1) &&
           ((c->minute >> (sod % 3600 / 60)) & 1);
}

#define SEARCH_YEARS 28 /* the weekday calendar repeats every 28 years (within a century) */

/* First matching wall minute strictly after / before w (dir +1 / -1). */
static int wall_step(const kiln_cron *c, int64_t w, int dir, int64_t *out)
{
    int64_t cur = floordiv(w, 60) * 60;
    if (dir > 0 || cur == w)
        cur += dir * 60;
    int64_t limit = (int64_t)SEARCH_YEARS * 366 * 86400;
    int64_t startw = cur;
    while (dir > 0 ? cur - startw < limit : startw - cur < limit) {
        int64_t days = floordiv(cur, 86400), sod = cur - days * 86400;
        int y, m, d;
        kiln_civil_from_days(days, &y, &m, &d);
        if (!((c->month >> m) & 1)) {
            if (dir > 0)
                cur = kiln_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * 86400;
            else
                cur = kiln_days_from_civil(y, m, 1) * 86400 - 60;
            continue;
        }
        if (!day_matches(c, days, d)) {
            cur = dir > 0 ? (days + 1) * 86400 : days * 86400 - 60;
            continue;
        }
        int h = (int)(sod / 3600);
        if (!((c->hour >> h) & 1)) {
            cur = dir > 0 ? days * 86400 + (h + 1) * 3600 : days * 86400 + h * 3600 - 60;
            continue;
        }
        if (!((c->minute >> (sod % 3600 / 60)) & 1)) {
            cur += dir * 60;
            continue;
        }
        *out = cur;
        return 0;
    }
    return KILN_ENOTFOUND;
}

/* The one instant that wall time w of c's zone fires at (see the file
 * comment for gaps and overlaps). */
static int64_t wall_to_instant(const kiln_cron *c, int64_t w)
{
    if (!c->tz)
        return w;
    /* zone offsets are < 26 h and transitions are weeks apart: the two
     * offsets around w are those at w -/+ 26 h */
    int32_t before = kiln_tz_offset(c->tz, w - 93600), after = kiln_tz_offset(c->tz, w + 93600);
    int64_t u1 = w - before, u2 = w - after;
    int ok1 = kiln_tz_offset(c->tz, u1) == before, ok2 = kiln_tz_offset(c->tz, u2) == after;
    if (ok1 && ok2)
        return u1 < u2 ? u1 : u2;
    if (ok1)
        return u1;
    if (ok2)
        return u2;
    return u1; /* gap: shifted forward */
}

int kiln_cron_matches(const kiln_cron *c, int64_t t)
{
    if (t % 60)
        return 0;
    int64_t w = t + kiln_tz_offset(c->tz, t);
    return wall_matches(c, w) && wall_to_instant(c, w) == t;
}

static int cron_search(const kiln_cron *c, int64_t t, int dir, int64_t *out)
{
    int64_t w = t + kiln_tz_offset(c->tz, t);
    /* around a DST change the wall clock is not monotone in t: start the
     * walk a few hours back (forward search) or ahead (backward search)
     * and keep the first instant on the right side of t */
    w -= dir * 4 * 3600;
    for (int guard = 0; guard < 100000; guard++) {
        int rc = wall_step(c, w, dir, &w);
        if (rc)
            return rc;
        int64_t u = wall_to_instant(c, w);
        if (dir > 0 ? u > t : u < t) {
            *out = u;
            return 0;
        }
    }
    return KILN_ENOTFOUND;
}

int kiln_cron_next(const kiln_cron *c, int64_t t, int64_t *out) { return cron_search(c, t, +1, out); }
int kiln_cron_prev(const kiln_cron *c, int64_t t, int64_t *out) { return cron_search(c, t, -1, out); }

int kiln_cron_interval_for(const kiln_cron *c, int64_t t, int64_t *start, int64_t *end)
{
    int rc = 0;
    int64_t s = t;
    if (!kiln_cron_matches(c, t) && (rc = kiln_cron_prev(c, t, &s)))
        return rc;
    if ((rc = kiln_cron_next(c, s, end)))
        return rc;
    *start = s;
    return 0;
}

int kiln_cron_last_complete(const kiln_cron *c, int64_t now, int64_t *start, int64_t *end)
{
    int rc = 0;
    int64_t e = now;
    if (!kiln_cron_matches(c, now) && (rc = kiln_cron_prev(c, now, &e)))
        return rc;
    if ((rc = kiln_cron_prev(c, e, start)))
        return rc;
    *end = e;
    return 0;
}
