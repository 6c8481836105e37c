/*
 * fuzz_sql.c - fuzz target for the SQL that models pass to kiln: the
 * columnar executor's parser (src/exec/exec_parse.c), which reads every
 * SELECT a model runs before SQLite does (it takes the query or declines
 * it). The input is the SQL text over a table gh.t with one column of each
 * type. Invariants (abort on violation): no crash or sanitizer report; the
 * parser answers 0 (taken) or 1 (declined); a decline gives a reason; a
 * taken query has at least one output column and no more than X_MAX.
 */
#include "exec/exec_int.h"
#include "harness/harness.h"

#include <stdlib.h>

static const kiln_column_def fz_cols[] = {
    {"repo", KILN_T_INT64, 0, 1, 0, 0},  {"n", KILN_T_INT32, 0, 2, 0, 0},        {"score", KILN_T_DOUBLE, 0, 3, 0, 0},
    {"msg", KILN_T_STRING, 0, 4, 0, 0},  {"ts", KILN_T_TIMESTAMPTZ, 0, 5, 0, 0}, {"day", KILN_T_DATE, 0, 6, 0, 0},
    {"blob", KILN_T_BINARY, 0, 7, 0, 0}, {"amt", KILN_T_DECIMAL, 0, 8, 18, 2},   {"ok", KILN_T_BOOL, 0, 9, 0, 0},
};
static const kiln_schema fz_schema = {9, fz_cols};

static void fz_abort(const char *what, const uint8_t *d, size_t n)
{
    fprintf(stderr, "fuzz_sql: %s: %.*s\n", what, (int)(n > 300 ? 300 : n), (const char *)d);
    abort();
}

int kiln_fuzz_sql(const uint8_t *d, size_t n)
{
    char ns[129], tb[129];
    (void)kiln_exec__parse_table((const char *)d, n, ns, tb);
    xquery q;
    memset(&q, 0, sizeof q);
    if (!(q.a = kiln_arena_new(4096)))
        return 0;
    snprintf(q.ns, sizeof q.ns, "gh");
    snprintf(q.tb, sizeof q.tb, "t");
    q.schema = &fz_schema;
    char why[256] = {0};
    int r = kiln_exec__parse(&q, (const char *)d, n, why, sizeof why);
    if (r != 0 && r != 1)
        fz_abort("answer neither taken nor declined", d, n);
    if (r == 1 && !why[0])
        fz_abort("declined without a reason", d, n);
    if (r == 0 && (q.nitems < 1 || q.nitems > X_MAX))
        fz_abort("taken with a bad number of output columns", d, n);
    kiln_arena_free(q.a);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_sql(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(sql, kiln_fuzz_sql)
