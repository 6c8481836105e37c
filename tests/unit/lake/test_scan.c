/*
 * test_scan.c - kiln's Iceberg scan against engine-written tables in
 * ../shared/fixtures/iceberg (Spark / Iceberg Java / DuckDB files), with the
 * stored paths remapped to the fixture folder (allow_moved_paths), plus
 * predicate pruning and bound serialization units.
 */
#include <stdlib.h>
#include <string.h>

#include "harness/harness.h"
#include "lake/lake.h"

static char *fixture(const char *rel)
{
    return kiln_sprintf("%s/../shared/fixtures/iceberg/%s", kt_root(), rel);
}

/* Scan metadata file `meta_rel` with remap from -> fixtures/<to_rel>; count
 * rows and, when ids != NULL, collect the first int column's values. */
static int scan_fixture(const char *meta_rel, const char *from, const char *to_rel, const char *as_of,
                        const char *columns, const char *where, int64_t *nrows, int64_t *ids, size_t maxids,
                        kiln_err *err)
{
    char *mp = fixture(meta_rel), *to = fixture(to_rel);
    kiln_lake_meta *m = NULL;
    kiln_lake_scan *s = NULL;
    int rc = !mp || !to ? kiln_err_set(err, KILN_ENOMEM, "out of memory") : kiln_lake_meta_read(&m, mp, err);
    if (rc)
        goto done;
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.as_of = as_of;
    o.columns = columns;
    o.where = where;
    o.remap.from = from;
    o.remap.to = to;
    if ((rc = kiln_lake_scan_open_meta(&s, m, &o, err)))
        goto done;
    *nrows = 0;
    const kiln_batch *b;
    while ((rc = kiln_lake_scan_next(s, &b, err)) == 1) {
        for (size_t r = 0; r < b->nrows; r++) {
            if (ids && (size_t)*nrows < maxids) {
                const kiln_col *c = &b->cols[0];
                ids[*nrows] = kiln_batch_is_null(b, 0, r) ? -999
                              : c->type == KILN_T_INT32 ? c->v.i32[r] : c->v.i64[r];
            }
            (*nrows)++;
        }
    }
    if (rc > 0)
        rc = 0;
done:
    kiln_lake_scan_free(s);
    kiln_lake_meta_free(m);
    kiln_free(mp);
    kiln_free(to);
    return rc;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

TEST(lake_scan, lineitem_current_and_time_travel)
{
    kiln_err err = {0};
    int64_t n = 0;
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", NULL, NULL, NULL, &n, NULL, 0, &err), &err);
    CHECK_EQ_INT(n, 51793);
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", "7817332053627255703", NULL, NULL, &n, NULL, 0, &err), &err);
    CHECK_EQ_INT(n, 60175);
    /* Spark's DELETE removed l_extendedprice < 10000: the old snapshot has
     * exactly 60175 - 51793 such rows, the current one none. */
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", "7817332053627255703", "l_orderkey",
                          "l_extendedprice < 10000", &n, NULL, 0, &err), &err);
    CHECK_EQ_INT(n, 60175 - 51793);
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", NULL, "l_orderkey", "l_extendedprice < 10000", &n, NULL, 0,
                          &err), &err);
    CHECK_EQ_INT(n, 0);
}

TEST(lake_scan, partition_integer_fills_partition_column)
{
    kiln_err err = {0};
    int64_t n = 0, ids[8];
    CHECK_OK(scan_fixture("partition_integer/metadata/v2.metadata.json", "data/persistent/", "", NULL,
                          "partition_col,user_id", NULL, &n, ids, 8, &err), &err);
    CHECK_EQ_INT(n, 2);
    qsort(ids, 2, sizeof ids[0], cmp64);
    CHECK_EQ_INT(ids[0], 42);
    CHECK_EQ_INT(ids[1], 1337);
    /* partition pruning on the identity column */
    CHECK_OK(scan_fixture("partition_integer/metadata/v2.metadata.json", "data/persistent/", "", NULL,
                          "partition_col", "partition_col = 1337", &n, ids, 8, &err), &err);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(ids[0], 1337);
}

/* Expected rows, reasoned from the files' contents (dumped with DuckDB):
 * mytable data seq 1: (1,a)(2,b)(3,c)(4,d); seq 5: (5,e)(6,f).
 * Equality deletes: seq 2 name='b'; seq 3 id=1; seq 4 (id,name)=(3,c);
 * seq 6 name='f'. Deletes apply to data with a strictly smaller sequence
 * number, globally (unpartitioned): survivors (4,d), (5,e). */
TEST(lake_scan, equality_deletes_global)
{
    kiln_err err = {0};
    int64_t n = 0, ids[16];
    CHECK_OK(scan_fixture("equality_deletes/warehouse/mydb/mytable/metadata/v7.metadata.json", "data/persistent/",
                          "", NULL, "id,name", NULL, &n, ids, 16, &err), &err);
    CHECK_EQ_INT(n, 2);
    qsort(ids, (size_t)n, sizeof ids[0], cmp64);
    CHECK_EQ_INT(ids[0], 4);
    CHECK_EQ_INT(ids[1], 5);
}

/* mytable_partitioned (identity(name)): seq 1 a,b,c,d; seq 2 delete name=b
 * in b; seq 3 delete (name,id)=(c,3) in c; seq 4 e,f; seq 5 delete name=f
 * in f: survivors ids 1 (a), 4 (d), 5 (e). */
TEST(lake_scan, equality_deletes_partitioned)
{
    kiln_err err = {0};
    int64_t n = 0, ids[16];
    CHECK_OK(scan_fixture("equality_deletes/warehouse/mydb/mytable_partitioned/metadata/v6.metadata.json",
                          "data/persistent/", "", NULL, "id", NULL, &n, ids, 16, &err), &err);
    CHECK_EQ_INT(n, 3);
    qsort(ids, (size_t)n, sizeof ids[0], cmp64);
    CHECK_EQ_INT(ids[0], 1);
    CHECK_EQ_INT(ids[1], 4);
    CHECK_EQ_INT(ids[2], 5);
    /* the where filter after deletes */
    CHECK_OK(scan_fixture("equality_deletes/warehouse/mydb/mytable_partitioned/metadata/v6.metadata.json",
                          "data/persistent/", "", NULL, "id", "name >= 'd'", &n, ids, 16, &err), &err);
    CHECK_EQ_INT(n, 2);
}

/* TPC-H Q6 on the current lineitem snapshot; PySpark's answer (upstream
 * README) is 1077536.9101. Exercises decimals, dates, BETWEEN and the row
 * filter on columns that are not projected, and string columns after
 * filtered rows (the comment prefix check). */
TEST(lake_scan, lineitem_q6_matches_spark)
{
    kiln_err err = {0};
    char *mp = fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json");
    char *to = fixture("iceberg/lineitem_iceberg/");
    kiln_lake_meta *m = NULL;
    kiln_lake_scan *s = NULL;
    CHECK_OK(kiln_lake_meta_read(&m, mp, &err), &err);
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.columns = "l_extendedprice,l_discount,l_returnflag";
    o.where = "l_shipdate >= '1994-01-01' and l_shipdate < '1995-01-01' and l_discount between 0.05 and 0.07 "
              "and l_quantity < 24";
    o.remap.from = "lineitem_iceberg/";
    o.remap.to = to;
    CHECK_OK(kiln_lake_scan_open_meta(&s, m, &o, &err), &err);
    const kiln_batch *b;
    int rc;
    int64_t sum = 0, n = 0;
    while ((rc = kiln_lake_scan_next(s, &b, &err)) == 1) {
        CHECK_EQ_INT(b->cols[0].type, KILN_T_DECIMAL);
        for (size_t r = 0; r < b->nrows; r++) {
            sum += b->cols[0].v.i64[r] * b->cols[1].v.i64[r];
            size_t len;
            kiln_batch_str(b, 2, r, &len);
            CHECK_EQ_INT(len, 1); /* l_returnflag is one letter: string offsets intact */
            n++;
        }
    }
    CHECK(rc == 0);
    CHECK(n > 0);
    CHECK_EQ_INT(sum, 10775369101LL); /* scale 4 */
    kiln_lake_scan_free(s);
    kiln_lake_meta_free(m);
    kiln_free(mp);
    kiln_free(to);
}

/* Every allocation failure on the scan path is an error, never a crash or
 * a leak (run under ASan). */
TEST(lake_scan, allocation_failures_are_errors)
{
    int failures = 0, successes = 0;
    for (long k = 0; k < 4000; k += 7) {
        kiln_err err = {0};
        int64_t n = 0, ids[16];
        kiln_alloc_fail_after(k);
        int rc = scan_fixture("equality_deletes/warehouse/mydb/mytable_partitioned/metadata/v6.metadata.json",
                              "data/persistent/", "", NULL, "id", "name >= 'b'", &n, ids, 16, &err);
        kiln_alloc_fail_after(-1);
        if (rc == 0) {
            CHECK_EQ_INT(n, 2);
            successes++;
        } else {
            CHECK(err.code != 0);
            failures++;
        }
    }
    CHECK(failures > 0);
    CHECK(successes > 0);
}
