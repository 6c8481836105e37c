/*
 * test_scan.c - kiln's Iceberg scan against engine-written tables in
 * ../shared/fixtures/iceberg (Spark / Iceberg Java / DuckDB files), with the
 * stored paths remapped to the fixture folder (allow_moved_paths), plus
 * predicate pruning and bound serialization units.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/harness.h"
#include "format/parquet/parquet.h"
#include "lake/lake.h"
#include "lake/lake_data_int.h"

static char *fixture(const char *rel) { return kiln_sprintf("%s/../shared/fixtures/iceberg/%s", kt_root(), rel); }

/* Scan metadata file `meta_rel` with remap from -> fixtures/<to_rel>; count
 * rows and, when ids != NULL, collect the first int column's values. */
static int scan_fixture(const char *meta_rel, const char *from, const char *to_rel, const char *as_of,
                        const char *columns, const char *where, int64_t *nrows, int64_t *ids, size_t maxids,
                        kiln_err *err)
{
    char *mp = fixture(meta_rel), *to = fixture(to_rel);
    kiln_lake_meta *m = NULL;
    kiln_lake_scan *s = NULL;
    int rc = !mp || !to ? KILN_OOM(err) : kiln_lake_meta_read(&m, mp, err);
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
                ids[*nrows] = kiln_batch_is_null(b, 0, r) ? -999 : c->type == KILN_T_INT32 ? c->v.i32[r] : c->v.i64[r];
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
                          "iceberg/lineitem_iceberg/", NULL, NULL, NULL, &n, NULL, 0, &err),
             &err);
    CHECK_EQ_INT(n, 51793);
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", "7817332053627255703", NULL, NULL, &n, NULL, 0, &err),
             &err);
    CHECK_EQ_INT(n, 60175);
    /* Spark's DELETE removed l_extendedprice < 10000: the old snapshot has
     * exactly 60175 - 51793 such rows, the current one none. */
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", "7817332053627255703", "l_orderkey", "l_extendedprice < 10000",
                          &n, NULL, 0, &err),
             &err);
    CHECK_EQ_INT(n, 60175 - 51793);
    CHECK_OK(scan_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json", "lineitem_iceberg/",
                          "iceberg/lineitem_iceberg/", NULL, "l_orderkey", "l_extendedprice < 10000", &n, NULL, 0,
                          &err),
             &err);
    CHECK_EQ_INT(n, 0);
}

TEST(lake_scan, partition_integer_fills_partition_column)
{
    kiln_err err = {0};
    int64_t n = 0, ids[8];
    CHECK_OK(scan_fixture("partition_integer/metadata/v2.metadata.json", "data/persistent/", "", NULL,
                          "partition_col,user_id", NULL, &n, ids, 8, &err),
             &err);
    CHECK_EQ_INT(n, 2);
    qsort(ids, 2, sizeof ids[0], cmp64);
    CHECK_EQ_INT(ids[0], 42);
    CHECK_EQ_INT(ids[1], 1337);
    /* partition pruning on the identity column */
    CHECK_OK(scan_fixture("partition_integer/metadata/v2.metadata.json", "data/persistent/", "", NULL, "partition_col",
                          "partition_col = 1337", &n, ids, 8, &err),
             &err);
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
    CHECK_OK(scan_fixture("equality_deletes/warehouse/mydb/mytable/metadata/v7.metadata.json", "data/persistent/", "",
                          NULL, "id,name", NULL, &n, ids, 16, &err),
             &err);
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
                          "data/persistent/", "", NULL, "id", NULL, &n, ids, 16, &err),
             &err);
    CHECK_EQ_INT(n, 3);
    qsort(ids, (size_t)n, sizeof ids[0], cmp64);
    CHECK_EQ_INT(ids[0], 1);
    CHECK_EQ_INT(ids[1], 4);
    CHECK_EQ_INT(ids[2], 5);
    /* the where filter after deletes */
    CHECK_OK(scan_fixture("equality_deletes/warehouse/mydb/mytable_partitioned/metadata/v6.metadata.json",
                          "data/persistent/", "", NULL, "id", "name >= 'd'", &n, ids, 16, &err),
             &err);
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

/* ------------------------------------------------------------ row-group skipping */

/* db.rg: one data file of 1000 rows in 10 row groups of 100 (row_group_rows).
 * id 0..999 and s "k0000".. sorted (so ranges select row groups); v = id/10
 * with nulls at id % 7 == 3; n null for every row of row group 3 and at
 * id % 11 == 0 elsewhere; d = id/2 with NaN at id % 50 == 25; dt = day id/100;
 * ts = id seconds; ls a 70-byte string (bounds truncated at 64 bytes). */
static int rg_table(kiln_lake_catalog **cat, kiln_lake_table **t, kiln_err *err)
{
    int rc = kiln_lake_catalog_open(cat, kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE, err);
    if (rc)
        return rc;
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "id long not null, v int, s string, d double, dt date, ts timestamptz, ls string, n int";
    if ((rc = kiln_lake_table_create(t, *cat, "db.rg", &co, err)))
        return rc;
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    o.mode = KILN_LAKE_WRITE_APPEND;
    o.row_group_rows = 100;
    kiln_lake_writer *w = NULL;
    kiln_batch *b = NULL;
    if ((rc = kiln_lake_writer_open(&w, *t, &o, err)) ||
        (rc = kiln_batch_new(&b, kiln_lake_writer_schema(w), 1000, 0, err)))
        goto done;
    for (int i = 0; i < 1000 && !rc; i++) {
        char s[16], ls[80];
        snprintf(s, sizeof s, "k%04d", i);
        snprintf(ls, sizeof ls, "%066d%04d", 0, i);
        rc = kiln_batch_put_i64(b, 0, i, err);
        if (!rc)
            rc = i % 7 == 3 ? kiln_batch_put_null(b, 1, err) : kiln_batch_put_i32(b, 1, i / 10, err);
        if (!rc)
            rc = kiln_batch_put_str(b, 2, s, strlen(s), err);
        if (!rc)
            rc = kiln_batch_put_f64(b, 3, i % 50 == 25 ? NAN : i / 2.0, err);
        if (!rc)
            rc = kiln_batch_put_i32(b, 4, i / 100, err);
        if (!rc)
            rc = kiln_batch_put_i64(b, 5, (int64_t)i * 1000000, err);
        if (!rc)
            rc = kiln_batch_put_str(b, 6, ls, strlen(ls), err);
        if (!rc)
            rc = (i / 100 == 3 || i % 11 == 0) ? kiln_batch_put_null(b, 7, err) : kiln_batch_put_i32(b, 7, i % 13, err);
        if (!rc)
            rc = kiln_batch_end_row(b, err);
    }
    if (!rc)
        rc = kiln_lake_writer_write(w, b, err);
    if (!rc)
        rc = kiln_lake_writer_commit(w, NULL, err);
done:
    kiln_batch_free(b);
    kiln_lake_writer_free(w);
    return rc;
}

/* Scan t under where (NULL = all) into text lines "v|v|..|v\n" (nulls as
 * "\N"); when filter != NULL only rows it matches (the test's own filter
 * over a full scan). st (may be NULL) receives the scan's stats. */
static int rg_scan(kiln_lake_table *t, const char *where, const char *filter, kiln_buf *out, kiln_lake_plan_stats *st,
                   int64_t *nrows, kiln_err *err)
{
    kiln_lake_scan *s = NULL;
    kiln_arena *a = kiln_arena_new(4096);
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.where = where;
    o.batch_rows = 64; /* batches smaller than row groups: several per row group */
    kiln_lake_pred p;
    int rc = a ? kiln_lake_scan_open(&s, t, &o, err) : KILN_OOM(err);
    if (rc)
        goto done;
    if (filter && (rc = kiln_lake_pred_parse(&p, a, kiln_lake_scan_schema(s), filter, err)))
        goto done;
    *nrows = 0;
    const kiln_batch *b;
    while ((rc = kiln_lake_scan_next(s, &b, err)) == 1)
        for (size_t r = 0; r < b->nrows; r++) {
            if (filter && !kiln_lake_pred_match_row(&p, b, r))
                continue;
            int e = 0;
            for (int c = 0; c < b->schema->ncols && e >= 0; c++) {
                if (c)
                    e = kiln_buf_putc(out, '|', err);
                if (e >= 0)
                    e = kiln_batch_is_null(b, c, r) ? kiln_buf_printf(out, err, "\\N")
                                                    : kiln_parquet_format_value(out, b, c, r, err);
            }
            if (e >= 0)
                e = kiln_buf_putc(out, '\n', err);
            if (e < 0) {
                rc = e;
                goto done;
            }
            (*nrows)++;
        }
    if (rc > 0)
        rc = 0;
    if (!rc && st)
        *st = *kiln_lake_scan_plan_stats(s);
done:
    kiln_lake_scan_free(s);
    kiln_arena_free(a);
    return rc;
}

/* Pruned scan of where == full scan filtered by where in the test; returns
 * the row groups not read, of 10 (a file pruned by planning reads none;
 * else it is row_groups_skipped), or -1 on a mismatch. */
static long rg_check(kiln_lake_table *t, const char *where, int64_t *nrows)
{
    kiln_err err = {0};
    kiln_buf got, want;
    kiln_buf_init(&got, 0);
    kiln_buf_init(&want, 0);
    kiln_lake_plan_stats st;
    int64_t n1 = 0, n2 = 0;
    long res = -1;
    if (rg_scan(t, where, NULL, &got, &st, &n1, &err) || rg_scan(t, NULL, where, &want, NULL, &n2, &err)) {
        fprintf(stderr, "    %s: %d %s\n", where, err.code, err.msg);
        goto done;
    }
    if (n1 != n2 || got.len != want.len || (got.len && memcmp(got.data, want.data, got.len) != 0)) {
        fprintf(stderr, "    where %s: pruned scan %lld rows, full scan filtered %lld rows\n", where, (long long)n1,
                (long long)n2);
        goto done;
    }
    if ((st.row_groups_total != 10 && !(st.row_groups_total == 0 && st.files_pruned_stats == 1)) ||
        st.row_groups_skipped > st.row_groups_total) {
        fprintf(stderr, "    where %s: row groups %zu skipped of %zu\n", where, st.row_groups_skipped,
                st.row_groups_total);
        goto done;
    }
    *nrows = n1;
    res = 10 - (long)(st.row_groups_total - st.row_groups_skipped);
done:
    kiln_buf_free(&got);
    kiln_buf_free(&want);
    return res;
}

TEST(lake_scan, row_groups_skipped_by_column_stats)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(rg_table(&cat, &t, &err), &err);
    int64_t n = 0;
    /* one row group of ten */
    CHECK_EQ_INT(rg_check(t, "id between 250 and 299", &n), 9);
    CHECK_EQ_INT(n, 50);
    CHECK_EQ_INT(rg_check(t, "s = 'k0517'", &n), 9);
    CHECK_EQ_INT(n, 1);
    /* a range through two terms on one column: below, then above */
    CHECK_EQ_INT(rg_check(t, "id >= 420 and id < 580", &n), 8);
    CHECK_EQ_INT(n, 160);
    /* terms on two columns, each ruling out its own row groups (0-1, 5-9) */
    CHECK_EQ_INT(rg_check(t, "dt >= '1970-01-03' and id < 500", &n), 7);
    CHECK_EQ_INT(n, 300);
    /* nulls: row group 3 is all null in n; elsewhere some are */
    CHECK_EQ_INT(rg_check(t, "n is null", &n), 0);
    CHECK_EQ_INT(rg_check(t, "n is not null", &n), 1);
    /* row groups 0-2 and 4-9 by id; 3 (all null in n) would be by n = 5,
     * but the Parquet reader takes one filter at a time and arrives at 3
     * with the id term: it is read and filtered (a missed skip, counted as
     * read), never a lost row */
    CHECK_EQ_INT(rg_check(t, "n = 5 and id between 300 and 399", &n), 9);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(rg_check(t, "n = 5 and id between 250 and 399", &n), 8);
    CHECK_EQ_INT(n, 4);
    CHECK_EQ_INT(rg_check(t, "id is null", &n), 10); /* required column: file pruned by planning */
    CHECK_EQ_INT(n, 0);
    /* timestamps (micros) and dates */
    CHECK_EQ_INT(rg_check(t, "ts < '1970-01-01T00:01:40Z'", &n), 9);
    CHECK_EQ_INT(n, 100);
    CHECK_EQ_INT(rg_check(t, "dt = '1970-01-08'", &n), 9);
    CHECK_EQ_INT(n, 100);
    /* a 70-byte string: min/max truncated to 64 bytes decide nothing here
     * but must not lose the row */
    CHECK(rg_check(t, "ls = '0000000000000000000000000000000000000000000000000000000000000000000517'", &n) >= 0);
    CHECK_EQ_INT(n, 1);
    /* NaN rows match != only; stats leave NaN out */
    CHECK(rg_check(t, "d != 100", &n) >= 0);
    CHECK_EQ_INT(n, 999);
    CHECK_EQ_INT(rg_check(t, "d > 450", &n), 9);
    /* a sweep of predicates: always the same rows as the filtered full scan */
    static const char *sweep[] = {
        "id = 0",
        "id = 999",
        "id = 1000",
        "id < 0",
        "id <= 100",
        "id > 899",
        "id >= 900",
        "id != 5",
        "id between 99 and 100",
        "id between 500 and 400",
        "v = 50",
        "v < 3",
        "v is null",
        "v is not null",
        "v between 10 and 12",
        "v != 0",
        "s > 'k0899'",
        "s >= 'k'",
        "s < 'k0100'",
        "s <= 'k0099'",
        "s between 'k0300' and 'k0302x'",
        "s != 'k0000'",
        "s = ''",
        "s > 'l'",
        "d < 1",
        "d <= 0.5",
        "d between 10 and 10.5",
        "d = 12.5",
        "d >= 499.5",
        "dt between '1970-01-02' and '1970-01-03'",
        "dt < '1970-01-01'",
        "ts >= '1970-01-01T00:16:00Z'",
        "ts between '1970-01-01T00:05:00Z' and '1970-01-01T00:05:00Z'",
        "n = 0",
        "n != 3",
        "n < 2 and v > 80",
        "n is null and id >= 300",
        "ls > '1'",
        "ls < '0'",
        "ls >= '0000000000000000000000000000000000000000000000000000000000000000000999'",
    };
    long total_skipped = 0;
    for (size_t i = 0; i < sizeof sweep / sizeof sweep[0]; i++) {
        long k = rg_check(t, sweep[i], &n);
        CHECK(k >= 0);
        total_skipped += k;
    }
    CHECK(total_skipped > 100);
    /* rename s -> s2: terms still map to the file's column by field id */
    kiln_lake_txn *txn = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_rename_column(txn, "s", "s2", &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    CHECK_EQ_INT(rg_check(t, "s2 between 'k0700' and 'k0799'", &n), 9);
    CHECK_EQ_INT(n, 100);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* Write a Parquet file of schema sc with rows from fill(i) and the given
 * row group size. */
static int write_pq(const char *path, const kiln_schema *sc, int nrows, uint64_t rg_rows,
                    int (*fill)(kiln_batch *b, int i, const char *arg, kiln_err *err), const char *arg, int64_t *size,
                    kiln_err *err)
{
    kiln_parquet_write_opts po;
    kiln_parquet_write_opts_init(&po);
    po.row_group_rows = rg_rows;
    kiln_parquet_writer *w = NULL;
    kiln_batch *b = NULL;
    kiln_parquet_file_stats fs;
    memset(&fs, 0, sizeof fs);
    int rc = kiln_parquet_writer_open(&w, path, sc, &po, err);
    if (!rc)
        rc = kiln_batch_new(&b, sc, (size_t)nrows, 0, err);
    for (int i = 0; i < nrows && !rc; i++)
        if (!(rc = fill(b, i, arg, err)))
            rc = kiln_batch_end_row(b, err);
    if (!rc)
        rc = kiln_parquet_writer_write(w, b, err);
    if (!rc)
        rc = kiln_parquet_writer_close(w, &fs, err);
    if (!rc)
        *size = (int64_t)fs.file_size_in_bytes;
    kiln_parquet_file_stats_free(&fs);
    kiln_batch_free(b);
    kiln_parquet_writer_free(w);
    return rc;
}

static int fill_id(kiln_batch *b, int i, const char *arg, kiln_err *err) { return kiln_batch_put_i64(b, 0, i, err); }

/* deleted positions: 150 (skipped row group 1) and 550, 551 (read row group 5) */
static const int64_t POSDEL[] = {150, 550, 551, 999};

static int fill_posdel(kiln_batch *b, int i, const char *arg, kiln_err *err)
{
    int rc = kiln_batch_put_str(b, 0, arg, strlen(arg), err);
    return rc ? rc : kiln_batch_put_i64(b, 1, POSDEL[i], err);
}

/* A hand-made table (view) with one data file of 10 row groups (id = row
 * position) and a position-delete file: row-group skipping must keep file
 * positions right, so the deletes hit the rows they name and no others. */
TEST(lake_scan, row_group_skipping_keeps_position_deletes_right)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(4096);
    const char *dir = kt_tmpdir();
    char *data = kiln_sprintf("%s/data.parquet", dir), *del = kiln_sprintf("%s/del.parquet", dir);
    char *m0 = kiln_sprintf("%s/m0.avro", dir), *m1 = kiln_sprintf("%s/m1.avro", dir);
    char *ml = kiln_sprintf("%s/snap.avro", dir);
    static const kiln_column_def dcols[] = {{"id", KILN_T_INT64, 1, 1, 0, 0}};
    static const kiln_schema dsc = {1, dcols};
    static const kiln_column_def pcols[] = {{"file_path", KILN_T_STRING, 1, 2147483546, 0, 0},
                                            {"pos", KILN_T_INT64, 1, 2147483545, 0, 0}};
    static const kiln_schema psc = {2, pcols};
    int64_t dsize = 0, psize = 0;
    CHECK_OK(write_pq(data, &dsc, 1000, 100, fill_id, NULL, &dsize, &err), &err);
    CHECK_OK(write_pq(del, &psc, 4, 0, fill_posdel, data, &psize, &err), &err);
    kiln_lake_pspec spec = {0, 0, NULL};
    kiln_lake_entry de, pe;
    memset(&de, 0, sizeof de);
    memset(&pe, 0, sizeof pe);
    de.status = pe.status = KILN_LAKE_STATUS_ADDED;
    de.snapshot_id = pe.snapshot_id = 1;
    de.df.content = KILN_LAKE_CONTENT_DATA;
    de.df.file_path = data;
    de.df.file_format = "PARQUET";
    de.df.record_count = 1000;
    de.df.file_size_in_bytes = dsize;
    pe.df.content = KILN_LAKE_CONTENT_POS_DELETES;
    pe.df.file_path = del;
    pe.df.file_format = "PARQUET";
    pe.df.record_count = 4;
    pe.df.file_size_in_bytes = psize;
    kiln_lake_manifest_meta mm = {"{\"type\":\"struct\",\"schema-id\":0,\"fields\":[{\"id\":1,\"name\":\"id\","
                                  "\"required\":true,\"type\":\"long\"}]}",
                                  0,
                                  &spec,
                                  0,
                                  1,
                                  1,
                                  2};
    kiln_lake_manifest mans[2];
    CHECK_OK(kiln_lake_manifest_write(&mans[0], a, m0, m0, &mm, &de, 1, &err), &err);
    mm.content = 1;
    CHECK_OK(kiln_lake_manifest_write(&mans[1], a, m1, m1, &mm, &pe, 1, &err), &err);
    kiln_lake_mlist_meta lm = {1, -1, 1, 2};
    CHECK_OK(kiln_lake_manifest_list_write(ml, &lm, mans, 2, &err), &err);
    kiln_lake_view v;
    memset(&v, 0, sizeof v);
    v.location = dir;
    v.schema = &dsc;
    v.nspecs = 1;
    v.specs = &spec;
    v.snapshot_id = 1;
    v.seq = 1;
    v.manifest_list = ml;
    static const struct {
        const char *where;
        int64_t rows, skipped;
    } cases[] = {
        {NULL, 996, 0},
        {"id >= 500", 497, 5}, /* 550, 551, 999 deleted */
        {"id between 540 and 560", 19, 9},
        {"id >= 140 and id < 160", 19, 9}, /* 150 deleted */
        {"id > 900", 98, 9},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_lake_scan_opts o;
        memset(&o, 0, sizeof o);
        o.where = cases[i].where;
        o.batch_rows = 30;
        kiln_lake_scan *s = NULL;
        CHECK_OK(kiln_lake_scan_open_view(&s, &v, &o, &err), &err);
        const kiln_batch *b;
        int rc;
        int64_t n = 0;
        while ((rc = kiln_lake_scan_next(s, &b, &err)) == 1)
            for (size_t r = 0; r < b->nrows; r++) {
                int64_t id = b->cols[0].v.i64[r];
                CHECK_MSG(id != 150 && id != 550 && id != 551 && id != 999, "%s: deleted row %lld returned",
                          cases[i].where ? cases[i].where : "(all)", (long long)id);
                n++;
            }
        CHECK_MSG(rc == 0, "%s", err.msg);
        const kiln_lake_plan_stats *st = kiln_lake_scan_plan_stats(s);
        CHECK_MSG(n == cases[i].rows, "%s: %lld rows, want %lld", cases[i].where ? cases[i].where : "(all)",
                  (long long)n, (long long)cases[i].rows);
        CHECK_EQ_INT(st->row_groups_total, 10);
        CHECK_EQ_INT(st->row_groups_skipped, cases[i].skipped);
        CHECK_EQ_INT(st->delete_files, 1);
        kiln_lake_scan_free(s);
    }
    /* allocation failures on this path: an error or the right answer */
    int fails = 0, oks = 0;
    for (long k = 0; k < 3000; k += 13) {
        kiln_lake_scan_opts o;
        memset(&o, 0, sizeof o);
        o.where = "id >= 500 and id != 700";
        kiln_lake_scan *s = NULL;
        kiln_err e2 = {0};
        int64_t n = 0;
        kiln_alloc_fail_after(k);
        int rc = kiln_lake_scan_open_view(&s, &v, &o, &e2);
        const kiln_batch *b;
        while (!rc) {
            if ((rc = kiln_lake_scan_next(s, &b, &e2)) != 1)
                break;
            n += (int64_t)b->nrows;
            rc = 0;
        }
        kiln_alloc_fail_after(-1);
        kiln_lake_scan_free(s);
        if (rc == 0) {
            CHECK_EQ_INT(n, 496);
            oks++;
        } else {
            CHECK_MSG(rc < 0 && e2.code != 0, "k=%ld rc=%d code=%d %s", k, rc, e2.code, e2.msg);
            fails++;
        }
    }
    CHECK(fails > 0 && oks > 0);
    kiln_free(data);
    kiln_free(del);
    kiln_free(m0);
    kiln_free(m1);
    kiln_free(ml);
    kiln_arena_free(a);
}

/* kiln's deletion-vector writer read back by its reader: array and bitmap
 * containers, several 16-bit chunks, and positions past 2^32 (several
 * 32-bit bitmaps), inside a Puffin file of two blobs. */
TEST(lake_scan, deletion_vector_round_trip)
{
    kiln_err err = {0};
    size_t n = 0;
    int64_t *pos = malloc(20000 * sizeof *pos);
    CHECK(pos != NULL);
    for (int64_t i = 0; i < 5000; i++) /* one bitmap container (5000 > 4096) */
        pos[n++] = 70000 + i;
    for (int64_t i = 0; i < 100; i++) /* array containers in two chunks */
        pos[n++] = i * 7;
    pos[n++] = 65535;
    pos[n++] = 65536;
    pos[n++] = ((int64_t)1 << 32) + 5; /* a second 32-bit bitmap */
    pos[n++] = ((int64_t)3 << 32) | 0xffff0000u;
    int64_t other[1] = {42};
    char *path = kiln_sprintf("%s/dv.puffin", kt_tmpdir());
    kiln_lake__dv_out dvs[2] = {{"file:///t/a.parquet", pos, n, 0, 0}, {"file:///t/b.parquet", other, 1, 0, 0}};
    int64_t size = 0;
    CHECK_OK(kiln_lake__puffin_write_dvs(path, dvs, 2, &size, &err), &err);
    CHECK(dvs[0].offset == 4 && dvs[1].offset == dvs[0].offset + dvs[0].length);
    kiln_i64set *set = kiln_i64set_new();
    CHECK_OK(kiln_lake__dv_load(set, path, dvs[0].offset, dvs[0].length, &err), &err);
    CHECK_EQ_INT((long long)kiln_i64set_len(set), (long long)n);
    for (size_t i = 0; i < n; i++)
        CHECK(kiln_i64set_has(set, pos[i]));
    CHECK(!kiln_i64set_has(set, 69999) && !kiln_i64set_has(set, 75000) && !kiln_i64set_has(set, 5));
    kiln_i64set_free(set);
    set = kiln_i64set_new();
    CHECK_OK(kiln_lake__dv_load(set, path, dvs[1].offset, dvs[1].length, &err), &err);
    CHECK_EQ_INT((long long)kiln_i64set_len(set), 1);
    CHECK(kiln_i64set_has(set, 42));
    kiln_i64set_free(set);
    /* a repeated position is refused */
    int64_t dup[2] = {3, 3};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK(kiln_lake__dv_blob(&b, dup, 2, &err) != 0);
    kiln_buf_free(&b);
    kiln_free(path);
    free(pos);
}
