/*
 * test_manifest.c - Iceberg manifest lists and manifests: the exact v2
 * schemas with field ids, write/read round trips with sequence-number
 * inheritance, Java-written files (Iceberg 1.0 names for ids 504-506), and
 * the scalar pieces: transforms, single-value bounds, predicate pruning.
 */
#include <string.h>

#include "format/avro/avro.h"
#include "harness/harness.h"
#include "lake/lake.h"

static char *fixture(const char *rel) { return kiln_sprintf("%s/../shared/fixtures/iceberg/%s", kt_root(), rel); }

TEST(lake_manifest, java_manifest_list_by_field_id)
{
    /* lineitem's lists were written by Iceberg 1.0 (added_data_files_count ...) */
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(4096);
    char *p = fixture(
        "iceberg/lineitem_iceberg/metadata/snap-2354745328521181395-1-179b4fb1-0366-4f7d-ad35-99ee8da0abf5.avro");
    kiln_lake_manifest *ms = NULL;
    size_t n = 0;
    CHECK_OK(kiln_lake_manifest_list_read(&ms, &n, a, p, &err), &err);
    CHECK_EQ_INT(n, 2);
    int32_t added = 0, deleted = 0;
    int64_t added_rows = 0, deleted_rows = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ_INT(ms[i].seq, 2);
        CHECK_EQ_INT(ms[i].content, 0);
        added += ms[i].added_files;
        deleted += ms[i].deleted_files;
        added_rows += ms[i].added_rows;
        deleted_rows += ms[i].deleted_rows;
    }
    CHECK_EQ_INT(added, 1);
    CHECK_EQ_INT(deleted, 1);
    CHECK_EQ_INT(added_rows, 51793);
    CHECK_EQ_INT(deleted_rows, 60175);
    /* the manifest with the DELETED entry keeps the original sequence numbers */
    for (size_t i = 0; i < n; i++) {
        if (ms[i].deleted_files != 1)
            continue;
        char *mp = kiln_sprintf("%s/../shared/fixtures/iceberg/iceberg/%s", kt_root(), ms[i].path);
        kiln_lake_entry *es = NULL;
        size_t ne = 0;
        CHECK_OK(kiln_lake_manifest_read(&es, &ne, a, &ms[i], mp, NULL, &err), &err);
        kiln_free(mp);
        CHECK_EQ_INT(ne, 1);
        CHECK_EQ_INT(es[0].status, KILN_LAKE_STATUS_DELETED);
        CHECK_EQ_INT(es[0].seq, 1);
        CHECK(es[0].seq_explicit);
        CHECK_EQ_INT(es[0].df.record_count, 60175);
        /* l_orderkey (id 1) bounds: long 1 .. 60000 (0xea60) */
        int found = 0;
        for (int k = 0; k < es[0].df.ncolstats; k++) {
            const kiln_lake_colstat *c = &es[0].df.colstats[k];
            if (c->field_id != 1)
                continue;
            kiln_lake_value lo, hi;
            CHECK_OK(kiln_lake_value_from_bound(KILN_T_INT64, c->lower, c->lower_len, &lo), &err);
            CHECK_OK(kiln_lake_value_from_bound(KILN_T_INT64, c->upper, c->upper_len, &hi), &err);
            CHECK_EQ_INT(lo.i, 1);
            CHECK_EQ_INT(hi.i, 60000);
            found = 1;
        }
        CHECK(found);
    }
    kiln_free(p);
    kiln_arena_free(a);
}

TEST(lake_manifest, write_read_round_trip_with_field_ids)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(4096);
    kiln_lake_pfield pf = {1000, 2, "ts_day", KILN_LAKE_XF_DAY, 0, KILN_T_TIMESTAMPTZ, KILN_T_DATE};
    kiln_lake_pspec spec = {0, 1, &pf};
    kiln_lake_value part[2];
    memset(part, 0, sizeof part);
    part[0].i = 20089; /* 2025-01-01 */
    part[1].i = 20090;
    uint8_t lo[8] = {1, 0, 0, 0, 0, 0, 0, 0}, hi[8] = {9, 0, 0, 0, 0, 0, 0, 0};
    kiln_lake_colstat cs = {1, 100, 3, 0, -1, lo, hi, 8, 8};
    kiln_lake_entry es[3];
    memset(es, 0, sizeof es);
    for (int i = 0; i < 3; i++) {
        es[i].df.content = 0;
        es[i].df.file_path = i == 0   ? "file:///t/data/a.parquet"
                             : i == 1 ? "file:///t/data/b.parquet"
                                      : "file:///t/data/c.parquet";
        es[i].df.file_format = "PARQUET";
        es[i].df.npart = 1;
        es[i].df.partition = &part[i == 2 ? 1 : 0];
        es[i].df.record_count = 3;
        es[i].df.file_size_in_bytes = 1000 + i;
        es[i].df.ncolstats = 1;
        es[i].df.colstats = &cs;
    }
    es[0].status = KILN_LAKE_STATUS_ADDED;
    es[1].status = KILN_LAKE_STATUS_EXISTING;
    es[1].seq = es[1].file_seq = 3;
    es[1].snapshot_id = 77;
    es[2].status = KILN_LAKE_STATUS_DELETED;
    es[2].seq = es[2].file_seq = 2;
    char *mp = kiln_sprintf("%s/m0.avro", kt_tmpdir());
    kiln_lake_manifest_meta mm = {"{\"type\":\"struct\",\"schema-id\":0,\"fields\":[]}", 0, &spec, 0, 99, 5, 2};
    kiln_lake_manifest row;
    CHECK_OK(kiln_lake_manifest_write(&row, a, mp, "file:///t/metadata/m0.avro", &mm, es, 3, &err), &err);
    CHECK_EQ_INT(row.added_files, 1);
    CHECK_EQ_INT(row.existing_files, 1);
    CHECK_EQ_INT(row.deleted_files, 1);
    CHECK_EQ_INT(row.min_seq, 3);
    CHECK_EQ_INT(row.npartitions, 1);
    CHECK(row.partitions[0].lower_len == 4 && row.partitions[0].upper_len == 4);
    kiln_lake_value plo, phi;
    CHECK_OK(kiln_lake_value_from_bound(KILN_T_DATE, row.partitions[0].lower, 4, &plo), &err);
    CHECK_OK(kiln_lake_value_from_bound(KILN_T_DATE, row.partitions[0].upper, 4, &phi), &err);
    CHECK_EQ_INT(plo.i, 20089);
    CHECK_EQ_INT(phi.i, 20090);

    /* the embedded schema carries the spec's field ids; metadata keys */
    kiln_avro_reader *r = NULL;
    CHECK_OK(kiln_avro_reader_open(&r, mp, &err), &err);
    const kiln_avro_schema *s = kiln_avro_reader_schema(r);
    int i2 = kiln_avro_schema_field_index_by_id(s, 2);
    CHECK(i2 >= 0);
    const kiln_avro_schema *df = s->fields[i2].type;
    CHECK(kiln_avro_schema_field_index_by_id(df, 100) >= 0);
    CHECK(kiln_avro_schema_field_index_by_id(df, 134) >= 0);
    CHECK(kiln_avro_schema_field_index_by_id(df, 105) < 0); /* never written in v2 */
    const kiln_avro_schema *ps = df->fields[kiln_avro_schema_field_index_by_id(df, 102)].type;
    CHECK_EQ_INT(ps->fields[0].field_id, 1000);
    CHECK_STR(kiln_avro_reader_meta(r, "format-version", NULL), "2");
    CHECK_STR(kiln_avro_reader_meta(r, "content", NULL), "data");
    CHECK_STR(kiln_avro_reader_meta(r, "partition-spec", NULL),
              "[{\"name\":\"ts_day\",\"transform\":\"day\",\"source-id\":2,\"field-id\":1000}]");
    kiln_avro_reader_free(r);

    /* read back: ADDED inherits the list's sequence number */
    row.seq = 5;
    kiln_lake_entry *back = NULL;
    size_t nb = 0;
    CHECK_OK(kiln_lake_manifest_read(&back, &nb, a, &row, mp, &spec, &err), &err);
    CHECK_EQ_INT(nb, 3);
    CHECK_EQ_INT(back[0].seq, 5);
    CHECK(!back[0].seq_explicit);
    CHECK_EQ_INT(back[0].snapshot_id, 99);
    CHECK_EQ_INT(back[1].seq, 3);
    CHECK_EQ_INT(back[1].snapshot_id, 77);
    CHECK_EQ_INT(back[2].status, KILN_LAKE_STATUS_DELETED);
    CHECK_EQ_INT(back[2].snapshot_id, 99);
    CHECK_EQ_INT(back[2].df.partition[0].i, 20090);
    CHECK_STR(back[1].df.file_path, "file:///t/data/b.parquet");
    CHECK_EQ_INT(back[1].df.colstats[0].column_size, 100);

    /* manifest list round trip */
    char *lp = kiln_sprintf("%s/snap.avro", kt_tmpdir());
    kiln_lake_mlist_meta lm = {99, -1, 5, 2};
    CHECK_OK(kiln_lake_manifest_list_write(lp, &lm, &row, 1, &err), &err);
    CHECK_OK(kiln_avro_reader_open(&r, lp, &err), &err);
    CHECK_STR(kiln_avro_reader_meta(r, "parent-snapshot-id", NULL), "null");
    CHECK_STR(kiln_avro_reader_meta(r, "snapshot-id", NULL), "99");
    CHECK_STR(kiln_avro_reader_schema_json(r), kiln_lake_manifest_list_schema_json());
    kiln_avro_reader_free(r);
    kiln_lake_manifest *ms = NULL;
    size_t nm = 0;
    CHECK_OK(kiln_lake_manifest_list_read(&ms, &nm, a, lp, &err), &err);
    CHECK_EQ_INT(nm, 1);
    CHECK_STR(ms[0].path, "file:///t/metadata/m0.avro");
    CHECK_EQ_INT(ms[0].added_snapshot_id, 99);
    CHECK_EQ_INT(ms[0].length, row.length);
    kiln_free(lp);
    kiln_free(mp);
    kiln_arena_free(a);
}

TEST(lake_manifest, bounds_and_transforms)
{
    kiln_err err = {0};
    uint8_t b[16];
    kiln_lake_value v;
    memset(&v, 0, sizeof v);
    /* decimal 6.00 (scale 2) = unscaled 600 = 0x0258, minimal big-endian */
    v.i = 600;
    CHECK_EQ_INT(kiln_lake_value_to_bound(KILN_T_DECIMAL, &v, b, sizeof b), 2);
    CHECK(b[0] == 0x02 && b[1] == 0x58);
    v.i = -1;
    CHECK_EQ_INT(kiln_lake_value_to_bound(KILN_T_DECIMAL, &v, b, sizeof b), 1);
    CHECK(b[0] == 0xff);
    kiln_lake_value back;
    CHECK_OK(kiln_lake_value_from_bound(KILN_T_DECIMAL, b, 1, &back), &err);
    CHECK_EQ_INT(back.i, -1);
    /* date 19785 = 494d0000 (Trino example) */
    v.i = 19785;
    CHECK_EQ_INT(kiln_lake_value_to_bound(KILN_T_DATE, &v, b, sizeof b), 4);
    CHECK(b[0] == 0x49 && b[1] == 0x4d && b[2] == 0 && b[3] == 0);
    /* day(timestamptz): floor division for times before the epoch */
    kiln_lake_pfield day = {1000, 1, "d", KILN_LAKE_XF_DAY, 0, KILN_T_TIMESTAMPTZ, KILN_T_DATE};
    kiln_lake_value out;
    v.i = -1; /* 1969-12-31T23:59:59.999999 */
    CHECK_OK(kiln_lake_xform_apply(&day, &v, &out, &err), &err);
    CHECK_EQ_INT(out.i, -1);
    int64_t us = 0;
    CHECK_OK(kiln_ts_parse("2024-03-03T23:52:00+00:00", 25, &us), &err);
    v.i = us;
    CHECK_OK(kiln_lake_xform_apply(&day, &v, &out, &err), &err);
    CHECK_EQ_INT(out.i, 19785);
    /* bucket vectors from the spec (App. B) */
    kiln_lake_pfield bk = {1001, 1, "b", KILN_LAKE_XF_BUCKET, 1 << 30, KILN_T_INT64, KILN_T_INT32};
    v.i = 34;
    CHECK_OK(kiln_lake_xform_apply(&bk, &v, &out, &err), &err);
    CHECK_EQ_INT(out.i, 2017239379 % (1 << 30));
    bk.source_type = KILN_T_STRING;
    v.bytes = (const uint8_t *)"iceberg";
    v.len = 7;
    CHECK_OK(kiln_lake_xform_apply(&bk, &v, &out, &err), &err);
    CHECK_EQ_INT(out.i, 1210000089 % (1 << 30));
    /* month text and truncate */
    kiln_lake_pfield mo = {1002, 1, "m", KILN_LAKE_XF_MONTH, 0, KILN_T_DATE, KILN_T_INT32};
    v.i = kiln_days_from_civil(2025, 3, 9);
    CHECK_OK(kiln_lake_xform_apply(&mo, &v, &out, &err), &err);
    CHECK_EQ_INT(out.i, 55 * 12 + 2);
    kiln_buf t;
    kiln_buf_init(&t, 0);
    CHECK_OK(kiln_lake_pvalue_text(&mo, &out, &t, &err), &err);
    CHECK_STR(t.data, "2025-03");
    kiln_buf_free(&t);
    kiln_lake_pfield tr = {1003, 1, "t", KILN_LAKE_XF_TRUNCATE, 10, KILN_T_INT64, KILN_T_INT64};
    v.i = -1;
    CHECK_OK(kiln_lake_xform_apply(&tr, &v, &out, &err), &err);
    CHECK_EQ_INT(out.i, -10);
}

TEST(lake_manifest, predicate_pruning)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(4096);
    static const kiln_column_def cols[] = {
        {"id", KILN_T_INT64, 1, 1, 0, 0}, {"ts", KILN_T_TIMESTAMPTZ, 0, 2, 0, 0}, {"name", KILN_T_STRING, 0, 3, 0, 0}};
    kiln_schema sc = {3, cols};
    kiln_lake_pfield pf = {1000, 2, "ts_day", KILN_LAKE_XF_DAY, 0, KILN_T_TIMESTAMPTZ, KILN_T_DATE};
    kiln_lake_pspec spec = {0, 1, &pf};
    kiln_lake_value part;
    memset(&part, 0, sizeof part);
    part.i = kiln_days_from_civil(2025, 1, 2);
    kiln_lake_pred p;
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "ts >= '2025-01-02' and ts < '2025-01-03'", &err), &err);
    CHECK_EQ_INT(p.nterms, 2);
    CHECK(kiln_lake_pred_may_match_partition(&p, &spec, &part));
    part.i = kiln_days_from_civil(2025, 1, 1);
    CHECK(!kiln_lake_pred_may_match_partition(&p, &spec, &part));
    part.i = kiln_days_from_civil(2025, 1, 3);
    /* ts < 2025-01-03T00:00 projects to day <= 2025-01-03 (inclusive, not exact) */
    CHECK(kiln_lake_pred_may_match_partition(&p, &spec, &part));
    part.i = kiln_days_from_civil(2025, 1, 4);
    CHECK(!kiln_lake_pred_may_match_partition(&p, &spec, &part));
    /* stats: id between 10 and 20 against a file with ids 1..9 */
    uint8_t lo[8] = {1}, hi[8] = {9};
    kiln_lake_colstat cs = {1, 10, 5, 0, -1, lo, hi, 8, 8};
    kiln_lake_datafile df;
    memset(&df, 0, sizeof df);
    df.ncolstats = 1;
    df.colstats = &cs;
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "id between 10 and 20", &err), &err);
    CHECK(!kiln_lake_pred_may_match_stats(&p, &df));
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "id <= 1", &err), &err);
    CHECK(kiln_lake_pred_may_match_stats(&p, &df));
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "id < 1", &err), &err);
    CHECK(!kiln_lake_pred_may_match_stats(&p, &df));
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "id is null", &err), &err);
    CHECK(!kiln_lake_pred_may_match_stats(&p, &df)); /* null_count 0 */
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "id > 9", &err), &err);
    CHECK(!kiln_lake_pred_may_match_stats(&p, &df));
    CHECK_OK(kiln_lake_pred_parse(&p, a, &sc, "id = 5", &err), &err);
    CHECK(kiln_lake_pred_may_match_stats(&p, &df));
    /* errors name the problem */
    CHECK_EQ_INT(kiln_lake_pred_parse(&p, a, &sc, "nope = 1", &err), KILN_ENOTFOUND);
    CHECK_EQ_INT(kiln_lake_pred_parse(&p, a, &sc, "id = x", &err), KILN_EINVAL);
    CHECK_EQ_INT(kiln_lake_pred_parse(&p, a, &sc, "id = 1 or id = 2", &err), KILN_EINVAL);
    kiln_arena_free(a);
}
