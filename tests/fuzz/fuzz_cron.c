/*
 * fuzz_cron.c - fuzz target for the cron parser and its fire-time search
 * (src/base/cron.c; DAG schedules). The input's first line is the
 * expression, the optional second a time zone name. Invariants (abort on
 * violation): no crash or sanitizer report; an error has a message; a
 * parsed schedule's next fire time after t is > t and the previous one < t;
 * in UTC a fire time matches the schedule and the next fire time after the
 * previous one is the first one >= it; a data interval has start < end.
 */
#include "harness/harness.h"

#include <stdlib.h>

static void fz_abort(const char *what, const char *expr)
{
    fprintf(stderr, "fuzz_cron: %s: '%s'\n", what, expr);
    abort();
}

int kiln_fuzz_cron(const uint8_t *d, size_t n)
{
    char expr[256], tz[64];
    size_t i = 0, k = 0;
    while (i < n && d[i] != '\n' && k < sizeof expr - 1)
        expr[k++] = (char)(d[i] ? d[i] : ' '), i++;
    expr[k] = 0;
    while (i < n && d[i] != '\n')
        i++;
    k = 0;
    if (i < n)
        i++;
    while (i < n && d[i] != '\n' && k < sizeof tz - 1)
        tz[k++] = (char)(d[i] ? d[i] : '_'), i++;
    tz[k] = 0;
    kiln_cron c;
    kiln_err err = {0};
    if (kiln_cron_parse(&c, expr, k ? tz : NULL, &err) != 0) {
        if (!err.msg[0])
            fz_abort("error without a message", expr);
        return 0;
    }
    /* a few instants: 2024-02-29 12:34:56, 2025-03-30 01:30 (a DST edge), epoch+1 */
    static const int64_t ts[] = {1709210096, 1743298200, 1};
    for (size_t j = 0; j < sizeof ts / sizeof ts[0]; j++) {
        int64_t t = ts[j], nx, pv, s, e;
        if (kiln_cron_next(&c, t, &nx) == 0) {
            if (nx <= t)
                fz_abort("next fire time not after t", expr);
            if (!c.tz && !kiln_cron_matches(&c, nx))
                fz_abort("next fire time does not match (UTC)", expr);
        }
        if (kiln_cron_prev(&c, t, &pv) == 0) {
            if (pv >= t)
                fz_abort("previous fire time not before t", expr);
            if (!c.tz) {
                if (!kiln_cron_matches(&c, pv))
                    fz_abort("previous fire time does not match (UTC)", expr);
                int64_t again;
                if (kiln_cron_next(&c, pv - 1, &again) != 0 || again != pv)
                    fz_abort("next(prev - 1) != prev (UTC)", expr);
            }
        }
        if (kiln_cron_interval_for(&c, t, &s, &e) == 0 && s >= e)
            fz_abort("data interval with start >= end", expr);
    }
    kiln_cron_free(&c);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_cron(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(cron, kiln_fuzz_cron)
