/* test_iceberg_meta.c - table metadata JSON: the Spark/Iceberg-written
 * fixtures (../shared/fixtures/iceberg, expected values from its README)
 * parse, check and round-trip; types, transforms and time travel. */
#include "harness/harness.h"
#include "lake/lake_meta_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *fixture(const char *rel) { return kiln_sprintf("%s/../shared/fixtures/iceberg/%s", kt_root(), rel); }

static kiln_lake_meta *load_fixture(const char *rel)
{
    char *p = fixture(rel);
    kiln_lake_meta *m = NULL;
    kiln_err err = {0};
    if (kiln_lake_meta_read(&m, p, &err) != 0)
        kt_fail(__FILE__, __LINE__, "%s: %s", p, err.msg);
    kiln_free(p);
    return m;
}

#define ED "equality_deletes/warehouse/mydb/"

static const char *const FIXTURES[] = {ED "mytable/metadata/v1.metadata.json",
                                       ED "mytable/metadata/v2.metadata.json",
                                       ED "mytable/metadata/v3.metadata.json",
                                       ED "mytable/metadata/v4.metadata.json",
                                       ED "mytable/metadata/v5.metadata.json",
                                       ED "mytable/metadata/v6.metadata.json",
                                       ED "mytable/metadata/v7.metadata.json",
                                       ED "mytable_partitioned/metadata/v1.metadata.json",
                                       ED "mytable_partitioned/metadata/v2.metadata.json",
                                       ED "mytable_partitioned/metadata/v3.metadata.json",
                                       ED "mytable_partitioned/metadata/v4.metadata.json",
                                       ED "mytable_partitioned/metadata/v5.metadata.json",
                                       ED "mytable_partitioned/metadata/v6.metadata.json",
                                       "iceberg/lineitem_iceberg/metadata/v1.metadata.json",
                                       "iceberg/lineitem_iceberg/metadata/v2.metadata.json",
                                       "partition_integer/metadata/v1.metadata.json",
                                       "partition_integer/metadata/v2.metadata.json"};

TEST(lake_meta, fixtures_round_trip_equal_json)
{
    for (size_t i = 0; i < sizeof(FIXTURES) / sizeof(FIXTURES[0]); i++) {
        char *p = fixture(FIXTURES[i]);
        char *data = NULL;
        size_t n = 0;
        kiln_err err = {0};
        CHECK_OK(kiln_file_read(p, 1 << 24, &data, &n, &err), &err);
        kiln_lake_meta *m = NULL, *m2 = NULL;
        CHECK_OK(kiln_lake_meta_parse(&m, data, n, &err), &err);
        kiln_buf b, b2;
        kiln_buf_init(&b, 0);
        kiln_buf_init(&b2, 0);
        CHECK_OK(kiln_lake_meta_write(m, 1, &b, &err), &err);
        /* equal as JSON values to what Spark/Iceberg wrote */
        json_t *orig = json_loadb(data, n, 0, NULL), *ours = json_loadb(b.data, b.len, 0, NULL);
        CHECK(orig && ours);
        int eq = json_equal(orig, ours);
        if (!eq)
            fprintf(stderr, "%s\n--- ours:\n%s\n", FIXTURES[i], b.data);
        CHECK_MSG(eq, "%s: serialized metadata differs from the original", FIXTURES[i]);
        /* and a second round trip is byte-identical */
        CHECK_OK(kiln_lake_meta_parse(&m2, b.data, b.len, &err), &err);
        CHECK_OK(kiln_lake_meta_write(m2, 1, &b2, &err), &err);
        CHECK(b.len == b2.len && memcmp(b.data, b2.data, b.len) == 0);
        json_decref(orig);
        json_decref(ours);
        kiln_buf_free(&b);
        kiln_buf_free(&b2);
        kiln_lake_meta_free(m);
        kiln_lake_meta_free(m2);
        kiln_free(data);
        kiln_free(p);
    }
}

TEST(lake_meta, lineitem_values)
{
    kiln_lake_meta *m = load_fixture("iceberg/lineitem_iceberg/metadata/v2.metadata.json");
    CHECK(m);
    CHECK_EQ_INT(m->format_version, 2);
    CHECK_EQ_INT(m->current_snapshot_id, 2354745328521181395LL);
    CHECK_EQ_INT(m->last_sequence_number, 2);
    CHECK_EQ_INT(m->last_partition_id, 999);
    const kiln_lake_spec *spec = kiln_lake_meta_default_spec(m);
    CHECK(spec && spec->nfields == 0);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    CHECK(s && s->nfields == 16);
    for (int id = 1; id <= 16; id++) {
        const kiln_lake_field *f = kiln_lake_schema_field(s, id);
        CHECK(f && !f->required);
    }
    const kiln_lake_field *price = kiln_lake_schema_column(s, "l_extendedprice");
    CHECK(price && price->type->kind == KILN_LAKE_DECIMAL);
    CHECK_EQ_INT(price->type->precision, 15);
    CHECK_EQ_INT(price->type->scale, 2);
    CHECK(kiln_lake_schema_column(s, "l_shipdate")->type->kind == KILN_LAKE_DATE);
    CHECK(kiln_lake_schema_column(s, "l_orderkey")->type->kind == KILN_LAKE_LONG);
    CHECK(kiln_lake_schema_column(s, "l_comment")->type->kind == KILN_LAKE_STRING);
    CHECK_EQ_INT(m->nsnapshots, 2);
    const kiln_lake_snapshot *s1 = kiln_lake_meta_snapshot(m, 7817332053627255703LL);
    const kiln_lake_snapshot *s2 = kiln_lake_meta_current_snapshot(m);
    CHECK(s1 && s2);
    CHECK_EQ_INT(s1->sequence_number, 1);
    CHECK_STR(s1->operation, "append");
    CHECK_STR(kiln_lake_snapshot_summary(s1, "added-records"), "60175");
    CHECK_EQ_INT(s2->sequence_number, 2);
    CHECK_EQ_INT(s2->parent_id, 7817332053627255703LL);
    CHECK_STR(s2->operation, "overwrite");
    CHECK_STR(kiln_lake_snapshot_summary(s2, "total-records"), "51793");
    CHECK_STR(kiln_lake_meta_property(m, "write.parquet.compression-codec"), "zstd");
    CHECK(kiln_lake_meta_is_ancestor(m, s2->snapshot_id, s1->snapshot_id));
    CHECK(!kiln_lake_meta_is_ancestor(m, s1->snapshot_id, s2->snapshot_id));
    /* time travel: the snapshot log */
    int64_t id = 0;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_meta_snapshot_as_of(m, s1->timestamp_ms, &id, &err), &err);
    CHECK_EQ_INT(id, s1->snapshot_id);
    CHECK_OK(kiln_lake_meta_snapshot_as_of(m, s2->timestamp_ms + 1000, &id, &err), &err);
    CHECK_EQ_INT(id, s2->snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_snapshot_as_of(m, s1->timestamp_ms - 1, &id, &err), KILN_ENOTFOUND);
    char buf[64];
    snprintf(buf, sizeof buf, "ms:%lld", (long long)s1->timestamp_ms);
    CHECK_OK(kiln_lake_meta_resolve(m, buf, &id, &err), &err);
    CHECK_EQ_INT(id, s1->snapshot_id);
    CHECK_OK(kiln_lake_meta_resolve(m, "7817332053627255703", &id, &err), &err);
    CHECK_EQ_INT(id, s1->snapshot_id);
    CHECK_OK(kiln_lake_meta_resolve(m, "main", &id, &err), &err);
    CHECK_EQ_INT(id, s2->snapshot_id);
    CHECK_OK(kiln_lake_meta_resolve(m, NULL, &id, &err), &err);
    CHECK_EQ_INT(id, s2->snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_resolve(m, "123", &id, &err), KILN_ENOTFOUND);
    CHECK_EQ_INT(kiln_lake_meta_resolve(m, "nosuchref", &id, &err), KILN_ENOTFOUND);
    CHECK_OK(kiln_lake_meta_resolve(m, "2100-01-01T00:00:00Z", &id, &err), &err);
    CHECK_EQ_INT(id, s2->snapshot_id);
    kiln_lake_meta_free(m);
}

TEST(lake_meta, equality_deletes_values)
{
    static const long long ids[] = {853766660775201079LL, 7342794868382145167LL, 1584331123492059582LL,
                                    842401149381792626LL, 3340507003387467420LL, 1916084761853986166LL};
    static const char *const ops[] = {"append", "delete", "delete", "delete", "append", "delete"};
    kiln_lake_meta *m = load_fixture(ED "mytable/metadata/v7.metadata.json");
    CHECK(m);
    CHECK_EQ_INT(m->nsnapshots, 6);
    CHECK_EQ_INT(m->last_sequence_number, 6);
    for (int i = 0; i < 6; i++) {
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, ids[i]);
        CHECK(s);
        CHECK_EQ_INT(s->sequence_number, i + 1);
        CHECK_STR(s->operation, ops[i]);
        CHECK_EQ_INT(s->parent_id, i == 0 ? -1 : ids[i - 1]);
    }
    CHECK_EQ_INT(m->current_snapshot_id, ids[5]);
    const kiln_lake_snapshot *cur = kiln_lake_meta_current_snapshot(m);
    CHECK_STR(kiln_lake_snapshot_summary(cur, "total-records"), "6");
    CHECK_STR(kiln_lake_snapshot_summary(cur, "total-delete-files"), "4");
    CHECK(kiln_lake_meta_default_spec(m)->nfields == 0);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    CHECK_EQ_INT(s->nfields, 3);
    CHECK(s->fields[2].type->kind == KILN_LAKE_DATE);
    CHECK_EQ_INT(m->nmetadata_log, 6);
    kiln_lake_meta_free(m);

    /* v1 of it: empty table, current-snapshot-id -1 */
    m = load_fixture(ED "mytable/metadata/v1.metadata.json");
    CHECK(m);
    CHECK_EQ_INT(m->current_snapshot_id, -1);
    CHECK(kiln_lake_meta_current_snapshot(m) == NULL);
    int64_t id = 0;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_meta_resolve(m, NULL, &id, &err), &err);
    CHECK_EQ_INT(id, -1);
    kiln_lake_meta_free(m);

    m = load_fixture(ED "mytable_partitioned/metadata/v6.metadata.json");
    CHECK(m);
    CHECK_EQ_INT(m->current_snapshot_id, 3138177759849079112LL);
    CHECK_EQ_INT(m->last_sequence_number, 5);
    const kiln_lake_spec *spec = kiln_lake_meta_default_spec(m);
    CHECK(spec && spec->nfields == 1);
    CHECK_EQ_INT(spec->fields[0].source_id, 2);
    CHECK_EQ_INT(spec->fields[0].field_id, 1000);
    CHECK(spec->fields[0].transform.kind == KILN_LAKE_XF_IDENTITY);
    CHECK(kiln_lake_meta_current_schema(m)->fields[0].required);
    CHECK_STR(kiln_lake_snapshot_summary(kiln_lake_meta_current_snapshot(m), "total-data-files"), "6");
    kiln_lake_meta_free(m);

    m = load_fixture("partition_integer/metadata/v2.metadata.json");
    CHECK(m);
    CHECK_EQ_INT(m->current_snapshot_id, 5470601323427916272LL);
    CHECK_EQ_INT(kiln_lake_meta_current_snapshot(m)->sequence_number, 1);
    spec = kiln_lake_meta_default_spec(m);
    CHECK(spec->nfields == 1 && spec->fields[0].field_id == 1000 && spec->fields[0].source_id == 1);
    CHECK(kiln_lake_schema_field(kiln_lake_meta_current_schema(m), 1)->type->kind == KILN_LAKE_INT);
    CHECK_STR(kiln_lake_snapshot_summary(kiln_lake_meta_current_snapshot(m), "total-records"), "2");
    kiln_lake_meta_free(m);
}

static const char V1_META[] =
    "{\"format-version\":1,\"location\":\"file:///w/t\",\"last-updated-ms\":1000,\"last-column-id\":9,"
    "\"schema\":{\"type\":\"struct\",\"fields\":["
    "{\"id\":1,\"name\":\"id\",\"required\":true,\"type\":\"long\"},"
    "{\"id\":2,\"name\":\"ts\",\"required\":false,\"type\":\"timestamptz\"},"
    "{\"id\":3,\"name\":\"tags\",\"required\":false,\"type\":{\"type\":\"list\",\"element-id\":4,"
    "\"element-required\":true,\"element\":\"string\"}},"
    "{\"id\":5,\"name\":\"m\",\"required\":false,\"type\":{\"type\":\"map\",\"key-id\":6,\"key\":\"string\","
    "\"value-id\":7,\"value-required\":false,\"value\":{\"type\":\"struct\",\"fields\":[{\"id\":8,\"name\":\"x\","
    "\"required\":false,\"type\":\"fixed[16]\",\"initial-default\":\"AA\"}]}}},"
    "{\"id\":9,\"name\":\"u\",\"required\":false,\"type\":\"uuid\",\"doc\":\"a uuid\"}]},"
    "\"partition-spec\":[{\"name\":\"ts_day\",\"transform\":\"day\",\"source-id\":2}],"
    "\"properties\":{\"a\":\"b\"},\"current-snapshot-id\":-1,\"snapshots\":[],\"future-field\":{\"k\":[1,2]}}";

TEST(lake_meta, v1_nested_types_and_unknown_fields)
{
    kiln_lake_meta *m = NULL, *m2 = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_meta_parse(&m, V1_META, strlen(V1_META), &err), &err);
    CHECK_EQ_INT(m->format_version, 1);
    CHECK_EQ_INT(m->last_sequence_number, 0);
    const kiln_lake_spec *spec = kiln_lake_meta_default_spec(m);
    CHECK(spec && spec->nfields == 1 && spec->fields[0].field_id == 1000);
    CHECK_EQ_INT(m->last_partition_id, 1000);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    const kiln_lake_field *x = kiln_lake_schema_field(s, 8);
    CHECK(x && x->type->kind == KILN_LAKE_FIXED && x->type->length == 16);
    CHECK(x->extra_json && strstr(x->extra_json, "initial-default"));
    CHECK(kiln_lake_schema_field(s, 3)->type->element->kind == KILN_LAKE_STRING);
    CHECK_STR(kiln_lake_schema_field(s, 9)->doc, "a uuid");
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_lake_meta_write(m, 0, &b, &err), &err);
    /* written back as v1 (a commit upgrades it), with unknown fields kept */
    CHECK(strstr(b.data, "\"format-version\":1"));
    CHECK(strstr(b.data, "\"schema\":{"));
    CHECK(strstr(b.data, "\"future-field\":{\"k\":[1,2]}"));
    CHECK(strstr(b.data, "\"initial-default\":\"AA\""));
    CHECK(strstr(b.data, "\"partition-specs\""));
    CHECK(strstr(b.data, "\"partition-spec\":[{"));
    CHECK_OK(kiln_lake_meta_parse(&m2, b.data, b.len, &err), &err);
    CHECK_EQ_INT(m2->format_version, 1);
    CHECK_EQ_INT(m2->last_column_id, 9);
    CHECK(kiln_lake_schema_field(kiln_lake_meta_current_schema(m2), 8) != NULL);
    CHECK_EQ_INT(kiln_lake_meta_default_spec(m2)->fields[0].field_id, 1000);
    kiln_buf_free(&b);
    kiln_lake_meta_free(m);
    kiln_lake_meta_free(m2);
}

TEST(lake_meta, rejects_bad_metadata)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"format-version\":3}",
        "{\"format-version\":2}",
        /* current snapshot missing from snapshots */
        "{\"format-version\":2,\"table-uuid\":\"u\",\"location\":\"l\",\"last-sequence-number\":0,"
        "\"last-updated-ms\":1,\"last-column-id\":1,\"current-schema-id\":0,\"schemas\":[{\"type\":\"struct\","
        "\"schema-id\":0,\"fields\":[]}],\"default-spec-id\":0,\"partition-specs\":[{\"spec-id\":0,\"fields\":[]}],"
        "\"last-partition-id\":999,\"default-sort-order-id\":0,\"sort-orders\":[{\"order-id\":0,\"fields\":[]}],"
        "\"current-snapshot-id\":5}",
        /* bad type */
        "{\"format-version\":2,\"table-uuid\":\"u\",\"location\":\"l\",\"last-sequence-number\":0,"
        "\"last-updated-ms\":1,\"last-column-id\":1,\"current-schema-id\":0,\"schemas\":[{\"type\":\"struct\","
        "\"schema-id\":0,\"fields\":[{\"id\":1,\"name\":\"a\",\"required\":true,\"type\":\"decimal(x)\"}]}],"
        "\"default-spec-id\":0,\"partition-specs\":[{\"spec-id\":0,\"fields\":[]}],\"last-partition-id\":999}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kiln_lake_meta *m = NULL;
        kiln_err err = {0};
        int rc = kiln_lake_meta_parse(&m, bad[i], strlen(bad[i]), &err);
        CHECK_MSG(rc < 0, "case %zu parsed", i);
        CHECK(m == NULL);
        CHECK(err.msg[0]);
    }
}

TEST(lake_meta, types_and_promotion)
{
    kiln_lake_type a, b;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "decimal(9, 2)", &err), &err);
    CHECK(a.kind == KILN_LAKE_DECIMAL && a.precision == 9 && a.scale == 2);
    CHECK_OK(kiln_lake_type_parse_primitive(&b, "decimal(12,2)", &err), &err);
    CHECK(kiln_lake_type_can_promote(&a, &b));
    CHECK(!kiln_lake_type_can_promote(&b, &a));
    CHECK_OK(kiln_lake_type_parse_primitive(&b, "decimal(12,3)", &err), &err);
    CHECK(!kiln_lake_type_can_promote(&a, &b));
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "int", &err), &err);
    CHECK_OK(kiln_lake_type_parse_primitive(&b, "long", &err), &err);
    CHECK(kiln_lake_type_can_promote(&a, &b));
    CHECK(!kiln_lake_type_can_promote(&b, &a));
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "float", &err), &err);
    CHECK_OK(kiln_lake_type_parse_primitive(&b, "double", &err), &err);
    CHECK(kiln_lake_type_can_promote(&a, &b));
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "string", &err), &err);
    CHECK(!kiln_lake_type_can_promote(&a, &b));
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "fixed[16]", &err), &err);
    CHECK(a.kind == KILN_LAKE_FIXED && a.length == 16);
    CHECK(kiln_lake_type_parse_primitive(&a, "decimal(40,2)", &err) == KILN_EFORMAT);
    CHECK(kiln_lake_type_parse_primitive(&a, "fixed[x]", &err) == KILN_EFORMAT);
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "timestamp_ns", &err), &err);
    CHECK(a.kind == KILN_LAKE_TIMESTAMP_NS);
    CHECK_OK(kiln_lake_type_parse_primitive(&a, "variant", &err), &err);
    CHECK(a.kind == KILN_LAKE_UNKNOWN);
}

static int64_t xf(const char *t, const char *src, int64_t v)
{
    kiln_lake_transform tr;
    kiln_lake_type st;
    kiln_lake_value in = {0}, out;
    kiln_err err = {0};
    if (kiln_lake_transform_parse(&tr, t, &err) || kiln_lake_type_parse_primitive(&st, src, &err))
        return INT64_MIN;
    in.kind = st.kind;
    in.i = v;
    if (kiln_lake_transform_apply(&out, &tr, &st, &in, &err) != 0)
        return INT64_MIN;
    return out.i;
}

TEST(lake_meta, transforms_spec_vectors)
{
    /* App. B bucket hash vectors */
    uint8_t b8[8] = {34, 0, 0, 0, 0, 0, 0, 0};
    CHECK_EQ_INT((int32_t)kiln_lake_murmur3_32(b8, 8), 2017239379);
    CHECK_EQ_INT((int32_t)kiln_lake_murmur3_32("iceberg", 7), 1210000089);
    uint8_t bytes[4] = {0, 1, 2, 3};
    CHECK_EQ_INT((int32_t)kiln_lake_murmur3_32(bytes, 4), -188683207);
    int64_t d = kiln_days_from_civil(2017, 11, 16);
    uint8_t db[8];
    for (int i = 0; i < 8; i++)
        db[i] = (uint8_t)((uint64_t)d >> (8 * i));
    CHECK_EQ_INT((int32_t)kiln_lake_murmur3_32(db, 8), -653330422);
    /* bucket = (hash & MAX_INT) % N */
    CHECK_EQ_INT(xf("bucket[16]", "int", 34), (2017239379 & 0x7fffffff) % 16);
    CHECK_EQ_INT(xf("bucket[16]", "long", 34), (2017239379 & 0x7fffffff) % 16);
    /* decimal 14.20 -> unscaled 1420, bytes 0x058c: spec hash -500754589 */
    CHECK_EQ_INT(xf("bucket[1000]", "decimal(9,2)", 1420), ((uint32_t)-500754589 & 0x7fffffff) % 1000);
    /* truncate */
    CHECK_EQ_INT(xf("truncate[10]", "int", 1), 0);
    CHECK_EQ_INT(xf("truncate[10]", "int", -1), -10);
    CHECK_EQ_INT(xf("truncate[10]", "long", 1234), 1230);
    CHECK_EQ_INT(xf("truncate[50]", "decimal(9,2)", 1065), 1050);
    /* dates and timestamps: Trino example 2024-03-03 23:52+00 -> day 19785 */
    int64_t ts;
    CHECK_OK(kiln_ts_parse("2024-03-03T23:52:00Z", 20, &ts), NULL);
    CHECK_EQ_INT(xf("day", "timestamptz", ts), 19785);
    CHECK_EQ_INT(xf("year", "timestamptz", ts), 2024 - 1970);
    CHECK_EQ_INT(xf("month", "timestamptz", ts), (2024 - 1970) * 12 + 2);
    CHECK_EQ_INT(xf("hour", "timestamptz", ts), 19785LL * 24 + 23);
    CHECK_EQ_INT(xf("day", "date", 19785), 19785);
    CHECK_EQ_INT(xf("month", "date", 0), 0);
    /* before the epoch floors */
    CHECK_EQ_INT(xf("day", "timestamp", -1), -1);
    CHECK_EQ_INT(xf("hour", "timestamp", -1), -1);
    CHECK_EQ_INT(xf("year", "date", -1), -1);
    CHECK_EQ_INT(xf("month", "date", -1), -1);
    /* strings: truncate by code points */
    kiln_lake_transform tr;
    kiln_lake_type st, rt;
    kiln_lake_value in = {.kind = KILN_LAKE_STRING, .bytes = (const uint8_t *)"\xc3\xa9t\xc3\xa9!", .len = 6}, out;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_transform_parse(&tr, "truncate[3]", &err), &err);
    CHECK_OK(kiln_lake_type_parse_primitive(&st, "string", &err), &err);
    CHECK_OK(kiln_lake_transform_apply(&out, &tr, &st, &in, &err), &err);
    CHECK_EQ_INT(out.len, 5);
    CHECK_OK(kiln_lake_transform_parse(&tr, "bucket[100]", &err), &err);
    in.bytes = (const uint8_t *)"iceberg";
    in.len = 7;
    CHECK_OK(kiln_lake_transform_apply(&out, &tr, &st, &in, &err), &err);
    CHECK_EQ_INT(out.i, 1210000089 % 100);
    /* result types; nulls; void; invalid combos */
    CHECK_OK(kiln_lake_transform_parse(&tr, "day", &err), &err);
    CHECK_OK(kiln_lake_type_parse_primitive(&st, "timestamptz", &err), &err);
    CHECK_OK(kiln_lake_transform_result(&rt, &tr, &st, &err), &err);
    CHECK(rt.kind == KILN_LAKE_DATE);
    in = (kiln_lake_value){.kind = KILN_LAKE_TIMESTAMPTZ, .is_null = 1};
    CHECK_OK(kiln_lake_transform_apply(&out, &tr, &st, &in, &err), &err);
    CHECK(out.is_null);
    CHECK_OK(kiln_lake_transform_parse(&tr, "hour", &err), &err);
    CHECK_OK(kiln_lake_type_parse_primitive(&st, "date", &err), &err);
    CHECK(kiln_lake_transform_result(&rt, &tr, &st, &err) == KILN_EINVAL);
    CHECK_OK(kiln_lake_transform_parse(&tr, "void", &err), &err);
    in = (kiln_lake_value){.kind = KILN_LAKE_DATE, .i = 5};
    CHECK_OK(kiln_lake_transform_apply(&out, &tr, &st, &in, &err), &err);
    CHECK(out.is_null);
    CHECK(kiln_lake_transform_parse(&tr, "bucket[0]", &err) == KILN_EFORMAT);
    CHECK_OK(kiln_lake_transform_parse(&tr, "zorder", &err), &err);
    CHECK(tr.kind == KILN_LAKE_XF_UNKNOWN);
}

TEST(lake_meta, ids)
{
    kiln_i64set *seen = kiln_i64set_new();
    for (int i = 0; i < 1000; i++) {
        int64_t id = kiln_lake_snapshot_id_new();
        CHECK(id > 0 && id < (INT64_C(1) << 53));
        CHECK(kiln_i64set_add(seen, id, NULL) == 1);
    }
    kiln_i64set_free(seen);
    char u[37], u2[37];
    kiln_lake_uuid_v4(u);
    kiln_lake_uuid_v4(u2);
    CHECK_EQ_INT(strlen(u), 36);
    CHECK(u[14] == '4');
    CHECK(u[19] == '8' || u[19] == '9' || u[19] == 'a' || u[19] == 'b');
    CHECK(strcmp(u, u2) != 0);
}

TEST(lake_meta, allocation_failures_are_clean_errors)
{
    /* fail the Nth allocation for every N until parsing succeeds: each
     * attempt must return KILN_ENOMEM (no crash, no leak under ASan) */
    char *p = fixture(ED "mytable_partitioned/metadata/v6.metadata.json");
    char *data = NULL;
    size_t n = 0;
    kiln_err err = {0};
    CHECK_OK(kiln_file_read(p, 1 << 24, &data, &n, &err), &err);
    int ok = 0;
    for (long k = 0; k < 20000 && !ok; k++) {
        kiln_lake_meta *m = NULL, *c = NULL;
        kiln_alloc_fail_after(k);
        int rc = kiln_lake_meta_parse(&m, data, n, &err);
        if (rc == 0)
            rc = kiln_lake_meta_clone(&c, m, &err);
        kiln_alloc_fail_after(-1);
        if (rc == 0) {
            ok = 1;
            CHECK_EQ_INT(c->nsnapshots, 5);
        } else {
            CHECK_MSG(rc == KILN_ENOMEM, "after %ld allocations: %d %s", k, rc, err.msg);
        }
        kiln_lake_meta_free(m);
        kiln_lake_meta_free(c);
    }
    CHECK(ok);
    kiln_free(data);
    kiln_free(p);
}
