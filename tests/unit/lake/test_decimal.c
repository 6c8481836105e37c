/*
 * test_decimal.c - the one decimal-literal parser (base/decimal.c) and the
 * filter parser's folding of decimal literals a column cannot hold
 * (format/pred.c), checked end to end on an Iceberg table with a
 * decimal(18,2) column against an independent 128-bit reference; and the
 * thread safety of the allocator's fault-injection countdown (base/alloc.c).
 * Meant to run clean under UBSan (make asan).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness.h"
#include "format/pred.h"
#include "lake/lake.h"

TEST(decimal, parse_scales_floors_and_never_wraps)
{
    int64_t v;
    int exact;
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "12.3", 4, 2), 0);
    CHECK(v == 1230 && exact);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "-12.345", 7, 2), 0);
    CHECK(v == -1235 && !exact); /* floor(-1234.5) */
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "12.345", 6, 2), 0);
    CHECK(v == 1234 && !exact);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "1.500", 5, 2), 0);
    CHECK(v == 150 && exact); /* trailing zeros beyond the scale are exact */
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "+7", 2, 0), 0);
    CHECK(v == 7 && exact);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "9223372036854775807", 19, 0), 0);
    CHECK(v == INT64_MAX && exact);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "-9223372036854775808", 20, 0), 0);
    CHECK(v == INT64_MIN && exact);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "9223372036854775808", 19, 0), KILN_ELIMIT);
    CHECK(v == INT64_MAX && !exact);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "-9223372036854775808.5", 22, 0), KILN_ELIMIT);
    CHECK(v == INT64_MIN);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "99999999999999999999", 20, 2), KILN_ELIMIT);
    CHECK(v == INT64_MAX);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "-99999999999999999999999999999999", 33, 2), KILN_ELIMIT);
    CHECK(v == INT64_MIN);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "92233720368547758.07", 20, 2), 0);
    CHECK(v == INT64_MAX);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "", 0, 2), KILN_EINVAL);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "-", 1, 2), KILN_EINVAL);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "1.2.3", 5, 2), KILN_EINVAL);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, "1e5", 3, 2), KILN_EINVAL);
    CHECK_EQ_INT(kiln_decimal_parse(&v, &exact, ".5", 2, 1), 0);
    CHECK(v == 5 && exact);
}

/* ------------------------------------------------------------ reference */

/* Exact comparison of unscaled value x (scale 2) with a literal, in 128
 * bits at scale 6: the reference the folded predicates must agree with. */
static int ref_cmp(int64_t x, const char *lit)
{
    __int128 l = 0, xv = (__int128)x * 10000;
    int neg = 0, frac = -1;
    const char *p = lit;
    if (*p == '-' || *p == '+')
        neg = *p++ == '-';
    for (; *p; p++) {
        if (*p == '.') {
            frac = 0;
            continue;
        }
        if (frac >= 6)
            continue; /* the test literals have at most 6 decimals */
        l = l * 10 + (*p - '0');
        if (frac >= 0)
            frac++;
    }
    for (int k = frac < 0 ? 0 : frac; k < 6; k++)
        l *= 10;
    if (neg)
        l = -l;
    return xv < l ? -1 : xv > l;
}

static int ref_match(int64_t x, const char *op, const char *lit, const char *lit2)
{
    int c = ref_cmp(x, lit);
    if (!strcmp(op, "="))
        return c == 0;
    if (!strcmp(op, "!="))
        return c != 0;
    if (!strcmp(op, "<"))
        return c < 0;
    if (!strcmp(op, "<="))
        return c <= 0;
    if (!strcmp(op, ">"))
        return c > 0;
    if (!strcmp(op, ">="))
        return c >= 0;
    return c >= 0 && ref_cmp(x, lit2) <= 0; /* between */
}

static const int64_t PRICES[] = {-999999999999999999LL, -500, -1, 0, 100, 101, 150, 250, 999999999999999999LL};
#define NPRICES (sizeof PRICES / sizeof PRICES[0])

static const kiln_column_def DCOLS[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"price", KILN_T_DECIMAL, 0, 2, 18, 2},
};
static const kiln_schema DSCHEMA = {2, DCOLS};

static int count_where(kiln_lake_table *t, const char *where, int64_t *n, kiln_err *err)
{
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.where = where;
    kiln_lake_scan *s = NULL;
    int rc = kiln_lake_scan_open(&s, t, &o, err);
    const kiln_batch *b;
    *n = 0;
    while (rc == 0 && (rc = kiln_lake_scan_next(s, &b, err)) == 1)
        *n += (int64_t)b->nrows;
    kiln_lake_scan_free(s);
    return rc < 0 ? rc : 0;
}

TEST(decimal, out_of_range_literals_fold_in_lake_scans)
{
    kiln_err err = {0};
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_writer *w = NULL;
    kiln_batch *b = NULL;
    CHECK_OK(kiln_lake_catalog_open(&c, kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "id long not null, price decimal(18,2)";
    CHECK_OK(kiln_lake_table_create(&t, c, "shop.items", &co, &err), &err);
    CHECK_OK(kiln_batch_new(&b, &DSCHEMA, NPRICES, 0, &err), &err);
    for (size_t i = 0; i < NPRICES; i++) {
        kiln_batch_put_i64(b, 0, (int64_t)i, &err);
        kiln_batch_put_i64(b, 1, PRICES[i], &err);
        kiln_batch_end_row(b, &err);
    }
    CHECK_OK(kiln_lake_writer_open(&w, t, NULL, &err), &err);
    CHECK_OK(kiln_lake_writer_write(w, b, &err), &err);
    CHECK_OK(kiln_lake_writer_commit(w, NULL, &err), &err);
    static const char *lits[] = {
        "99999999999999999999", "-99999999999999999999", "92233720368547758.08", "1.005", "-0.005", "1.00", "1.5", "0",
        "9999999999999999.99",  "-9999999999999999.999"};
    static const char *ops[] = {"=", "!=", "<", "<=", ">", ">="};
    for (size_t li = 0; li < sizeof lits / sizeof *lits; li++) {
        for (size_t oi = 0; oi < sizeof ops / sizeof *ops; oi++) {
            char where[128];
            snprintf(where, sizeof where, "price %s %s", ops[oi], lits[li]);
            int64_t got = -1, want = 0;
            for (size_t i = 0; i < NPRICES; i++)
                want += ref_match(PRICES[i], ops[oi], lits[li], NULL);
            CHECK_OK(count_where(t, where, &got, &err), &err);
            CHECK_MSG(got == want, "%s: %lld rows, want %lld", where, (long long)got, (long long)want);
        }
        for (size_t lj = 0; lj < sizeof lits / sizeof *lits; lj++) {
            char where[160];
            snprintf(where, sizeof where, "price between %s and %s", lits[li], lits[lj]);
            int64_t got = -1, want = 0;
            for (size_t i = 0; i < NPRICES; i++)
                want += ref_match(PRICES[i], "between", lits[li], lits[lj]);
            CHECK_OK(count_where(t, where, &got, &err), &err);
            CHECK_MSG(got == want, "%s: %lld rows, want %lld", where, (long long)got, (long long)want);
        }
    }
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

TEST(decimal, filter_parser_is_shared_and_rejects_junk)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(0);
    kiln_pred_term *terms = NULL;
    int n = 0;
    CHECK_OK(kiln_pred_parse(&terms, &n, a, &DSCHEMA, "price < 1.005 and id >= 3", &err), &err);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT(terms[0].op, KILN_PRED_LE);
    CHECK(terms[0].v.i == 100);
    CHECK_EQ_INT(terms[1].col, 0);
    CHECK_EQ_INT(kiln_pred_parse(&terms, &n, a, &DSCHEMA, "price = 1.2x", &err), KILN_EINVAL);
    CHECK_EQ_INT(kiln_pred_parse(&terms, &n, a, &DSCHEMA, "id = 99999999999999999999", &err), KILN_EINVAL);
    CHECK_EQ_INT(kiln_pred_parse(&terms, &n, a, &DSCHEMA, "nope = 1", &err), KILN_ENOTFOUND);
    CHECK_EQ_INT(kiln_pred_parse(&terms, &n, a, &DSCHEMA, "id = 1 and", &err), KILN_EINVAL);
    CHECK_EQ_INT(kiln_pred_parse(&terms, &n, a, &DSCHEMA, "id = 'x", &err), KILN_EINVAL);
    kiln_arena_free(a);
}

/* ------------------------------------------------------------ alloc countdown */

#define ALLOC_THREADS 4
#define ALLOC_EACH 20000

static void *alloc_worker(void *arg)
{
    long *passed = arg;
    for (int i = 0; i < ALLOC_EACH; i++) {
        void *p = kiln_malloc(8);
        if (p)
            (*passed)++;
        kiln_free(p);
    }
    return NULL;
}

TEST(decimal, alloc_fault_countdown_is_exact_across_threads)
{
    /* N allocations succeed, then every one fails, however the threads
     * interleave (a racy countdown lets extra ones through or goes below 0
     * and stops failing) */
    for (int round = 0; round < 5; round++) {
        long budget = 10007 + round * 1000;
        long passed[ALLOC_THREADS] = {0};
        pthread_t th[ALLOC_THREADS];
        kiln_alloc_fail_after(budget);
        for (int i = 0; i < ALLOC_THREADS; i++)
            pthread_create(&th[i], NULL, alloc_worker, &passed[i]);
        for (int i = 0; i < ALLOC_THREADS; i++)
            pthread_join(th[i], NULL);
        void *after = kiln_malloc(8);
        kiln_alloc_fail_after(-1);
        long total = 0;
        for (int i = 0; i < ALLOC_THREADS; i++)
            total += passed[i];
        CHECK_MSG(total == budget, "round %d: %ld allocations passed, want %ld", round, total, budget);
        CHECK(after == NULL);
        kiln_free(after);
    }
}
