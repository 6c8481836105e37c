/* Unit tests for Avro: varints, schemas, value DOM, OCF writer/reader round
 * trips for every type and codec, projection, and hostile inputs. */
#include "harness/harness.h"
#include "format/avro/avro.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------ helpers */

static char *json_of(const kiln_avro_value *v)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    if (kiln_avro_value_to_json(v, &b, &err) != 0) {
        kiln_buf_free(&b);
        return NULL;
    }
    return kiln_buf_detach(&b, NULL);
}

static const uint8_t SYNC[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* ------------------------------------------------------------ varints */

TEST(avro, zigzag_vectors)
{
    struct {
        int64_t x;
        const char *hex;
    } v[] = {{0, "00"},
             {-1, "01"},
             {1, "02"},
             {-2, "03"},
             {63, "7e"},
             {-64, "7f"},
             {64, "8001"},
             {8191, "fe7f"},
             {-8193, "8180 01"},
             {INT64_MAX, "feffffffffffffffff01"},
             {INT64_MIN, "ffffffffffffffffff01"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t b[10];
        size_t n = kiln_avro_zigzag_encode(v[i].x, b);
        char hex[32];
        kiln_hex(b, n, hex);
        char want[32];
        size_t k = 0;
        for (const char *p = v[i].hex; *p; p++)
            if (*p != ' ')
                want[k++] = *p;
        want[k] = 0;
        CHECK_STR(hex, want);
        int64_t back = 0;
        CHECK_EQ_INT(kiln_avro_zigzag_decode(b, n, &back), n);
        CHECK(back == v[i].x);
        /* one byte short is truncated */
        CHECK_EQ_INT(kiln_avro_zigzag_decode(b, n - 1, &back), 0);
    }
    /* 11-byte / overflowing varints are rejected */
    uint8_t over[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0};
    int64_t x;
    CHECK_EQ_INT(kiln_avro_zigzag_decode(over, 11, &x), 0);
    uint8_t over2[11] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CHECK_EQ_INT(kiln_avro_zigzag_decode(over2, 11, &x), 0);
}

/* ------------------------------------------------------------ schemas */

static const char MANIFEST_LIST_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
    "{\"name\":\"manifest_path\",\"type\":\"string\",\"doc\":\"Location URI with FS scheme\",\"field-id\":500},"
    "{\"name\":\"manifest_length\",\"type\":\"long\",\"field-id\":501},"
    "{\"name\":\"partition_spec_id\",\"type\":\"int\",\"field-id\":502},"
    "{\"name\":\"content\",\"type\":\"int\",\"field-id\":517},"
    "{\"name\":\"sequence_number\",\"type\":\"long\",\"field-id\":515},"
    "{\"name\":\"min_sequence_number\",\"type\":\"long\",\"field-id\":516},"
    "{\"name\":\"added_snapshot_id\",\"type\":\"long\",\"field-id\":503},"
    "{\"name\":\"added_files_count\",\"type\":\"int\",\"field-id\":504},"
    "{\"name\":\"existing_files_count\",\"type\":\"int\",\"field-id\":505},"
    "{\"name\":\"deleted_files_count\",\"type\":\"int\",\"field-id\":506},"
    "{\"name\":\"added_rows_count\",\"type\":\"long\",\"field-id\":512},"
    "{\"name\":\"existing_rows_count\",\"type\":\"long\",\"field-id\":513},"
    "{\"name\":\"deleted_rows_count\",\"type\":\"long\",\"field-id\":514},"
    "{\"name\":\"partitions\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"r508\","
    "\"fields\":[{\"name\":\"contains_null\",\"type\":\"boolean\",\"field-id\":509},"
    "{\"name\":\"contains_nan\",\"type\":[\"null\",\"boolean\"],\"default\":null,\"field-id\":518},"
    "{\"name\":\"lower_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":510},"
    "{\"name\":\"upper_bound\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":511}]},"
    "\"element-id\":508}],\"default\":null,\"field-id\":507},"
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":519}]}";

TEST(avro, schema_iceberg_manifest_list)
{
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, MANIFEST_LIST_SCHEMA, strlen(MANIFEST_LIST_SCHEMA), &err), &err);
    CHECK_EQ_INT(s->type, KILN_AVRO_RECORD);
    CHECK_STR(s->name, "manifest_file");
    CHECK_EQ_INT(s->nfields, 15);
    CHECK_EQ_INT(s->fields[0].field_id, 500);
    CHECK_STR(s->fields[0].doc, "Location URI with FS scheme");
    CHECK_EQ_INT(kiln_avro_schema_field_index_by_id(s, 504), 7);
    CHECK_EQ_INT(kiln_avro_schema_field_index(s, "added_files_count"), 7);
    CHECK_EQ_INT(kiln_avro_schema_field_index_by_id(s, 999), -1);
    const kiln_avro_field *parts = &s->fields[13];
    CHECK_EQ_INT(parts->field_id, 507);
    CHECK_STR(parts->default_json, "null");
    CHECK_EQ_INT(parts->type->type, KILN_AVRO_UNION);
    CHECK_EQ_INT(kiln_avro_schema_nullable_branch(parts->type), 1);
    const kiln_avro_schema *arr = parts->type->branches[1];
    CHECK_EQ_INT(arr->type, KILN_AVRO_ARRAY);
    CHECK_EQ_INT(arr->element_id, 508);
    CHECK_EQ_INT(arr->items->type, KILN_AVRO_RECORD);
    CHECK_EQ_INT(arr->items->fields[3].field_id, 511);
    int64_t id;
    CHECK_OK(kiln_avro_field_attr_int(&s->fields[1], "field-id", &id), &err);
    CHECK_EQ_INT(id, 501);
    CHECK_EQ_INT(kiln_avro_field_attr_int(&s->fields[1], "nope", &id), KILN_ENOTFOUND);
    CHECK_STR(kiln_avro_schema_json(s), MANIFEST_LIST_SCHEMA);

    /* to_json keeps every attribute: re-parse and compare structure */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_avro_schema_to_json(s, &b, &err), &err);
    CHECK(strstr(b.data, "\"element-id\":508") != NULL);
    CHECK(strstr(b.data, "\"field-id\":519") != NULL);
    kiln_avro_schema *s2;
    CHECK_OK(kiln_avro_schema_parse(&s2, b.data, b.len, &err), &err);
    CHECK_EQ_INT(s2->nfields, 15);
    CHECK_EQ_INT(s2->fields[13].type->branches[1]->element_id, 508);
    CHECK_EQ_INT(s2->fields[13].type->branches[1]->items->fields[2].field_id, 510);
    kiln_buf_free(&b);
    kiln_avro_schema_free(s2);
    kiln_avro_schema_free(s);
}

TEST(avro, schema_logical_and_named)
{
    const char *js =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"a.b\",\"fields\":["
        "{\"name\":\"d\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
        "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
        "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":15,\"scale\":2}},"
        "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F16\",\"size\":16,\"logicalType\":\"uuid\"}},"
        "{\"name\":\"u\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
        "{\"name\":\"bad\",\"type\":{\"type\":\"string\",\"logicalType\":\"date\"}},"
        "{\"name\":\"other\",\"type\":{\"type\":\"long\",\"logicalType\":\"my-thing\"}},"
        "{\"name\":\"again\",\"type\":\"F16\"},"
        "{\"name\":\"full\",\"type\":\"a.b.F16\"},"
        "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\",\"Y\"]}},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\",\"key-id\":7,\"value-id\":8}}]}";
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, js, strlen(js), &err), &err);
    CHECK_STR(s->name, "a.b.R");
    CHECK_EQ_INT(s->fields[0].type->logical, KILN_AVRO_LT_DATE);
    CHECK_EQ_INT(s->fields[1].type->logical, KILN_AVRO_LT_TIMESTAMP_MICROS);
    CHECK_EQ_INT(s->fields[2].type->logical, KILN_AVRO_LT_DECIMAL);
    CHECK_EQ_INT(s->fields[2].type->precision, 15);
    CHECK_EQ_INT(s->fields[2].type->scale, 2);
    CHECK_EQ_INT(s->fields[3].type->logical, KILN_AVRO_LT_UUID);
    CHECK_STR(s->fields[3].type->name, "a.b.F16");
    CHECK_EQ_INT(s->fields[4].type->logical, KILN_AVRO_LT_UUID);
    CHECK_EQ_INT(s->fields[5].type->logical, KILN_AVRO_LT_NONE); /* wrong base type: ignored */
    CHECK_EQ_INT(s->fields[6].type->logical, KILN_AVRO_LT_OTHER);
    CHECK_STR(s->fields[6].type->logical_name, "my-thing");
    CHECK(s->fields[7].type == s->fields[3].type); /* same named node */
    CHECK(s->fields[8].type == s->fields[3].type);
    CHECK_EQ_INT(s->fields[9].type->nsymbols, 2);
    CHECK_EQ_INT(s->fields[10].type->key_id, 7);
    CHECK_EQ_INT(s->fields[10].type->value_id, 8);
    CHECK_STR(kiln_avro_schema_attr_str(s->fields[0].type, "logicalType"), "date");
    /* to_json writes a named type once, then its name */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_avro_schema_to_json(s, &b, &err), &err);
    CHECK(strstr(b.data, "\"type\":\"a.b.F16\"") != NULL);
    kiln_avro_schema *s2;
    CHECK_OK(kiln_avro_schema_parse(&s2, b.data, b.len, &err), &err);
    CHECK(s2->fields[7].type == s2->fields[3].type);
    kiln_avro_schema_free(s2);
    kiln_buf_free(&b);
    kiln_avro_schema_free(s);
}

TEST(avro, schema_errors)
{
    struct {
        const char *js;
        int code;
        const char *needle;
    } bad[] = {
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}", KILN_EFORMAT,
         "unknown type \"Nope\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"a\","
         "\"type\":\"int\"}]}",
         KILN_EFORMAT, "duplicate field"},
        {"{\"type\":\"record\",\"fields\":[]}", KILN_EFORMAT, "valid \"name\""},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[]}", KILN_EFORMAT, "symbols"},
        {"{\"type\":\"fixed\",\"name\":\"F\"}", KILN_EFORMAT, "size"},
        {"[\"null\",\"null\"]", KILN_EFORMAT, "two branches"},
        {"[\"int\",[\"long\"]]", KILN_EFORMAT, "union directly inside"},
        {"{\"type\":\"array\"}", KILN_EFORMAT, "items"},
        {"{\"type\": ", KILN_EFORMAT, "invalid JSON"},
        {"42", KILN_EFORMAT, "expected a type"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]", KILN_EFORMAT,
         "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kiln_err err = {0};
        kiln_avro_schema *s = (kiln_avro_schema *)1;
        int rc = kiln_avro_schema_parse(&s, bad[i].js, strlen(bad[i].js), &err);
        CHECK_MSG(rc == bad[i].code, "case %zu: rc %d (%s)", i, rc, err.msg);
        CHECK(s == NULL);
        CHECK_MSG(strstr(err.msg, bad[i].needle) != NULL, "case %zu: message \"%s\"", i, err.msg);
    }
    /* nesting cap */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    for (int i = 0; i < 100; i++)
        kiln_buf_printf(&b, &err, "{\"type\":\"array\",\"items\":");
    kiln_buf_printf(&b, &err, "\"int\"");
    for (int i = 0; i < 100; i++)
        kiln_buf_putc(&b, '}', &err);
    kiln_avro_schema *s;
    CHECK_EQ_INT(kiln_avro_schema_parse(&s, b.data, b.len, &err), KILN_ELIMIT);
    kiln_buf_free(&b);
}

/* ------------------------------------------------------------ round trips */

static const char ALL_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"All\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"by\",\"type\":\"bytes\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"Color\",\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"
    "{\"name\":\"arr\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"opt\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"u3\",\"type\":[\"null\",\"long\",\"string\"]},"
    "{\"name\":\"date\",\"type\":{\"type\":\"int\",\"logicalType\":\"date\"}},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"}},"
    "{\"name\":\"dec\",\"type\":{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":9,\"scale\":2}},"
    "{\"name\":\"uuid\",\"type\":{\"type\":\"string\",\"logicalType\":\"uuid\"}},"
    "{\"name\":\"sub\",\"type\":{\"type\":\"record\",\"name\":\"Sub\",\"fields\":["
    "{\"name\":\"k\",\"type\":\"int\",\"field-id\":1},{\"name\":\"v\",\"type\":[\"null\",\"Sub\"]}]}},"
    "{\"name\":\"kv\",\"type\":{\"type\":\"array\",\"logicalType\":\"map\",\"items\":{\"type\":\"record\",\"name\":"
    "\"k1_v2\",\"fields\":[{\"name\":\"key\",\"type\":\"int\"},{\"name\":\"value\",\"type\":\"bytes\"}]}}}"
    "]}";

/* Fill record r (schema ALL_SCHEMA) for row i; varied per row. */
static int fill_all(kiln_avro_value *r, kiln_arena *a, int i)
{
    kiln_avro_value *f = r->u.array.items;
    const kiln_avro_schema *s = r->schema;
    char tmp[64];
    kiln_avro_value_set_null(&f[0]);
    kiln_avro_value_set_bool(&f[1], i & 1);
    kiln_avro_value_set_int(&f[2], i % 3 == 0 ? INT32_MIN + i : i * 1000);
    kiln_avro_value_set_long(&f[3], i % 5 == 0 ? INT64_MAX - i : -(int64_t)i * 1234567891011LL);
    kiln_avro_value_set_float(&f[4], (float)i * 0.5f);
    kiln_avro_value_set_double(&f[5], i == 3 ? -0.0 : (double)i / 7.0);
    uint8_t bytes[3] = {(uint8_t)i, 0, 0xff};
    if (kiln_avro_value_set_bytes(&f[6], a, bytes, (size_t)(i % 4)))
        return -1;
    snprintf(tmp, sizeof tmp, "row \"%d\" é\n\\", i);
    if (kiln_avro_value_set_string(&f[7], a, tmp, strlen(tmp)))
        return -1;
    uint8_t fx[4] = {0xde, 0xad, (uint8_t)i, 0x00};
    if (kiln_avro_value_set_fixed(&f[8], a, fx, 4))
        return -1;
    kiln_avro_value_set_enum(&f[9], i % 3);
    if (kiln_avro_value_set_array(&f[10], a, (size_t)(i % 4)))
        return -1;
    for (int k = 0; k < i % 4; k++)
        kiln_avro_value_set_long(&f[10].u.array.items[k], k - 2);
    if (kiln_avro_value_set_map(&f[11], a, (size_t)(i % 3)))
        return -1;
    for (int k = 0; k < i % 3; k++) {
        snprintf(tmp, sizeof tmp, "key%d", k);
        f[11].u.map.keys[k] = kiln_arena_strndup(a, tmp, strlen(tmp));
        if (kiln_avro_value_set_string(&f[11].u.map.vals[k], a, "v", 1))
            return -1;
    }
    if (i % 2 == 0)
        kiln_avro_value_set_null(&f[12]);
    else if (kiln_avro_value_set_string(&f[12], a, "present", 7))
        return -1;
    if (i % 3 == 0)
        kiln_avro_value_set_null(&f[13]);
    else if (i % 3 == 1)
        kiln_avro_value_set_long(&f[13], i);
    else if (kiln_avro_value_set_string(&f[13], a, "three", 5))
        return -1;
    kiln_avro_value_set_int(&f[14], 19785 + i);
    kiln_avro_value_set_long(&f[15], 1709509920000000LL + i);
    uint8_t dec[2] = {0x30, (uint8_t)i}; /* unscaled big-endian */
    if (kiln_avro_value_set_bytes(&f[16], a, dec, 2))
        return -1;
    if (kiln_avro_value_set_string(&f[17], a, "123e4567-e89b-12d3-a456-426614174000", 36))
        return -1;
    /* nested recursive record: depth i % 3 */
    const kiln_avro_schema *sub = s->fields[18].type;
    kiln_avro_value *cur = &f[18];
    if (kiln_avro_value_set_record(cur, a, sub))
        return -1;
    for (int depth = 0;; depth++) {
        kiln_avro_value_set_int(&cur->u.array.items[0], depth);
        kiln_avro_value *next = &cur->u.array.items[1];
        if (depth >= i % 3) {
            kiln_avro_value_set_null(next);
            break;
        }
        if (kiln_avro_value_set_record(next, a, sub))
            return -1;
        cur = next;
    }
    const kiln_avro_schema *kvs = s->fields[19].type->items;
    if (kiln_avro_value_set_array(&f[19], a, 2))
        return -1;
    for (int k = 0; k < 2; k++) {
        kiln_avro_value *e = &f[19].u.array.items[k];
        if (kiln_avro_value_set_record(e, a, kvs))
            return -1;
        kiln_avro_value_set_int(&e->u.array.items[0], k + 1);
        if (kiln_avro_value_set_bytes(&e->u.array.items[1], a, "\x01\x00", 2))
            return -1;
    }
    return 0;
}

static void round_trip(kiln_avro_codec codec, int nrows, size_t block_bytes)
{
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, ALL_SCHEMA, strlen(ALL_SCHEMA), &err), &err);
    kiln_buf file;
    kiln_buf_init(&file, 0);
    kiln_avro_meta meta[] = {{"format-version", "2"}, {"content", "data"}};
    kiln_avro_writer_opts o = {.codec = codec, .block_bytes = block_bytes, .meta = meta, .nmeta = 2, .sync = SYNC};
    kiln_avro_writer *w;
    CHECK_OK(kiln_avro_writer_open_buf(&w, &file, s, &o, &err), &err);
    kiln_arena *a = kiln_arena_new(4096);
    char **want = calloc((size_t)nrows + 1, sizeof *want);
    for (int i = 0; i < nrows; i++) {
        kiln_avro_value *r = kiln_avro_value_new_record(a, s);
        CHECK(r != NULL);
        CHECK_EQ_INT(fill_all(r, a, i), 0);
        CHECK_OK(kiln_avro_writer_append(w, r, &err), &err);
        want[i] = json_of(r);
        CHECK(want[i] != NULL);
        kiln_arena_reset(a);
    }
    CHECK_EQ_INT(kiln_avro_writer_count(w), nrows);
    uint64_t total = 0;
    CHECK_OK(kiln_avro_writer_close(w, &total, &err), &err);
    CHECK_EQ_INT(total, file.len);
    CHECK(memcmp(file.data, "Obj\x01", 4) == 0);

    kiln_avro_reader *r;
    CHECK_OK(kiln_avro_reader_open_mem(&r, file.data, file.len, &err), &err);
    CHECK_EQ_INT(kiln_avro_reader_codec(r), codec);
    CHECK_STR(kiln_avro_reader_meta(r, "format-version", NULL), "2");
    CHECK_STR(kiln_avro_reader_meta(r, "content", NULL), "data");
    CHECK_STR(kiln_avro_reader_meta(r, "avro.codec", NULL), kiln_avro_codec_name(codec));
    CHECK_STR(kiln_avro_reader_schema_json(r), ALL_SCHEMA);
    int got = 0;
    for (;;) {
        kiln_avro_value *v;
        int rc = kiln_avro_reader_next(r, a, &v, &err);
        CHECK_MSG(rc >= 0, "read failed: %s", err.msg);
        if (rc == 0)
            break;
        CHECK(got < nrows);
        char *j = json_of(v);
        CHECK_STR(j, want[got]);
        /* spot-check typed access */
        CHECK_EQ_INT(kiln_avro_value_field(v, "date")->u.i, 19785 + got);
        CHECK_EQ_INT(kiln_avro_value_field(v, "opt")->branch, got % 2 == 0 ? 0 : 1);
        kiln_free(j);
        kiln_arena_reset(a);
        got++;
    }
    CHECK_EQ_INT(got, nrows);
    CHECK_EQ_INT(kiln_avro_reader_count(r), nrows);
    kiln_avro_reader_free(r);
    for (int i = 0; i < nrows; i++)
        kiln_free(want[i]);
    free(want);
    kiln_arena_free(a);
    kiln_buf_free(&file);
    kiln_avro_schema_free(s);
}

TEST(avro, round_trip_null_codec) { round_trip(KILN_AVRO_CODEC_NULL, 50, 0); }
TEST(avro, round_trip_deflate_multiblock) { round_trip(KILN_AVRO_CODEC_DEFLATE, 300, 1024); }
TEST(avro, round_trip_snappy_multiblock) { round_trip(KILN_AVRO_CODEC_SNAPPY, 300, 2048); }
TEST(avro, round_trip_zstd_multiblock) { round_trip(KILN_AVRO_CODEC_ZSTD, 300, 512); }

TEST(avro, json_shape)
{
    /* exact JSON of one row, so the round trips compare against known text */
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, ALL_SCHEMA, strlen(ALL_SCHEMA), &err), &err);
    kiln_arena *a = kiln_arena_new(4096);
    kiln_avro_value *r = kiln_avro_value_new_record(a, s);
    CHECK_EQ_INT(fill_all(r, a, 1), 0);
    char *j = json_of(r);
    CHECK_STR(j, "{\"n\":null,\"b\":true,\"i\":1000,\"l\":-1234567891011,\"f\":0.5,\"d\":0.14285714285714285,"
                 "\"by\":\"\\u0001\",\"s\":\"row \\\"1\\\" é\\u000a\\\\\",\"fx\":\"Þ\u00ad\\u0001\\u0000\","
                 "\"e\":\"GREEN\",\"arr\":[-2],\"m\":{\"key0\":\"v\"},\"opt\":\"present\",\"u3\":1,"
                 "\"date\":19786,\"ts\":1709509920000001,\"dec\":\"0\\u0001\","
                 "\"uuid\":\"123e4567-e89b-12d3-a456-426614174000\",\"sub\":{\"k\":0,\"v\":{\"k\":1,\"v\":null}},"
                 "\"kv\":[{\"key\":1,\"value\":\"\\u0001\\u0000\"},{\"key\":2,\"value\":\"\\u0001\\u0000\"}]}");
    kiln_free(j);
    kiln_arena_free(a);
    kiln_avro_schema_free(s);
}

TEST(avro, exact_bytes)
{
    /* {"a": long 1, "b": string "ab", "c": ["null","int"] = 3} with null codec */
    const char *js = "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"a\",\"type\":\"long\"},"
                     "{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"c\",\"type\":[\"null\",\"int\"]}]}";
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, js, strlen(js), &err), &err);
    kiln_arena *a = kiln_arena_new(1024);
    kiln_avro_value *r = kiln_avro_value_new_record(a, s);
    kiln_avro_value_set_long(&r->u.array.items[0], 1);
    CHECK_OK(kiln_avro_value_set_string(&r->u.array.items[1], a, "ab", 2), &err);
    kiln_avro_value_set_int(&r->u.array.items[2], 3);
    kiln_buf f;
    kiln_buf_init(&f, 0);
    kiln_avro_writer_opts o = {.sync = SYNC};
    kiln_avro_writer *w;
    CHECK_OK(kiln_avro_writer_open_buf(&w, &f, s, &o, &err), &err);
    size_t hdr = f.len;
    CHECK_OK(kiln_avro_writer_append(w, r, &err), &err);
    CHECK_OK(kiln_avro_writer_close(w, NULL, &err), &err);
    /* block: count 1 (02), size 6 (0c), 02 04 'a' 'b' 02 06, sync */
    const uint8_t want[] = {0x02, 0x0c, 0x02, 0x04, 'a', 'b', 0x02, 0x06};
    CHECK_EQ_INT(f.len, hdr + sizeof want + 16);
    CHECK(memcmp(f.data + hdr, want, sizeof want) == 0);
    CHECK(memcmp(f.data + hdr + sizeof want, SYNC, 16) == 0);
    CHECK(memcmp(f.data + hdr - 16, SYNC, 16) == 0);
    /* header: magic, map of 2 entries (04), "avro.schema" key (len 11 -> 16) */
    CHECK(memcmp(f.data,
                 "Obj\x01\x04\x16"
                 "avro.schema",
                 17) == 0);
    kiln_buf_free(&f);
    kiln_arena_free(a);
    kiln_avro_schema_free(s);
}

TEST(avro, empty_file_and_path_writer)
{
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, "\"long\"", 6, &err), &err);
    char path[512];
    snprintf(path, sizeof path, "%s/empty.avro", kt_tmpdir());
    kiln_avro_writer_opts o = {.codec = KILN_AVRO_CODEC_DEFLATE};
    kiln_avro_writer *w;
    CHECK_OK(kiln_avro_writer_open(&w, path, s, &o, &err), &err);
    uint64_t n = 0;
    CHECK_OK(kiln_avro_writer_close(w, &n, &err), &err);
    size_t flen;
    char *fdata = kt_read_file(path, &flen);
    CHECK(fdata != NULL);
    CHECK_EQ_INT(flen, n);
    free(fdata);
    kiln_avro_reader *r;
    CHECK_OK(kiln_avro_reader_open(&r, path, &err), &err);
    kiln_arena *a = kiln_arena_new(1024);
    kiln_avro_value *v;
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &v, &err), 0);
    CHECK(v == NULL);
    kiln_avro_reader_free(r);
    /* a schema that is a bare primitive round-trips values too */
    CHECK_OK(kiln_avro_writer_open(&w, path, s, NULL, &err), &err);
    kiln_avro_value lv = {.type = KILN_AVRO_LONG, .branch = -1};
    for (int i = 0; i < 10; i++) {
        lv.u.l = (int64_t)i * -77777777777LL;
        CHECK_OK(kiln_avro_writer_append(w, &lv, &err), &err);
    }
    CHECK_OK(kiln_avro_writer_close(w, NULL, &err), &err);
    CHECK_OK(kiln_avro_reader_open(&r, path, &err), &err);
    for (int i = 0; i < 10; i++) {
        CHECK_EQ_INT(kiln_avro_reader_next(r, a, &v, &err), 1);
        CHECK(v->u.l == (int64_t)i * -77777777777LL);
    }
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &v, &err), 0);
    kiln_avro_reader_free(r);
    /* a missing file is ENOTFOUND-ish, not a crash */
    snprintf(path, sizeof path, "%s/nope.avro", kt_tmpdir());
    CHECK(kiln_avro_reader_open(&r, path, &err) < 0);
    kiln_arena_free(a);
    kiln_avro_schema_free(s);
}

TEST(avro, writer_rejects_mismatch_and_stays_usable)
{
    const char *js = "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},"
                     "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\",\"size\":2}},"
                     "{\"name\":\"u\",\"type\":[\"null\",\"long\"]}]}";
    kiln_err err = {0};
    kiln_avro_schema *s;
    CHECK_OK(kiln_avro_schema_parse(&s, js, strlen(js), &err), &err);
    kiln_arena *a = kiln_arena_new(1024);
    kiln_buf f;
    kiln_buf_init(&f, 0);
    kiln_avro_writer *w;
    CHECK_OK(kiln_avro_writer_open_buf(&w, &f, s, NULL, &err), &err);
    kiln_avro_value *r = kiln_avro_value_new_record(a, s);
    /* string where an int belongs */
    CHECK_OK(kiln_avro_value_set_string(&r->u.array.items[0], a, "x", 1), &err);
    CHECK_OK(kiln_avro_value_set_fixed(&r->u.array.items[1], a, "ab", 2), &err);
    CHECK_EQ_INT(kiln_avro_writer_append(w, r, &err), KILN_EINVAL);
    CHECK(strstr(err.msg, "$.a") != NULL);
    /* long too big for an int */
    kiln_avro_value_set_long(&r->u.array.items[0], (int64_t)1 << 40);
    CHECK_EQ_INT(kiln_avro_writer_append(w, r, &err), KILN_EINVAL);
    /* fixed of the wrong size */
    kiln_avro_value_set_int(&r->u.array.items[0], 5);
    CHECK_OK(kiln_avro_value_set_fixed(&r->u.array.items[1], a, "abc", 3), &err);
    CHECK_EQ_INT(kiln_avro_writer_append(w, r, &err), KILN_EINVAL);
    CHECK(strstr(err.msg, "needs 2 bytes") != NULL);
    /* union branch that does not fit */
    CHECK_OK(kiln_avro_value_set_fixed(&r->u.array.items[1], a, "ab", 2), &err);
    CHECK_OK(kiln_avro_value_set_string(&r->u.array.items[2], a, "s", 1), &err);
    CHECK_EQ_INT(kiln_avro_writer_append(w, r, &err), KILN_EINVAL);
    /* now a good record: the file must hold exactly it */
    kiln_avro_value_set_long(&r->u.array.items[2], 9);
    CHECK_OK(kiln_avro_writer_append(w, r, &err), &err);
    CHECK_OK(kiln_avro_writer_close(w, NULL, &err), &err);
    kiln_avro_reader *rd;
    CHECK_OK(kiln_avro_reader_open_mem(&rd, f.data, f.len, &err), &err);
    kiln_avro_value *v;
    CHECK_EQ_INT(kiln_avro_reader_next(rd, a, &v, &err), 1);
    char *j = json_of(v);
    CHECK_STR(j, "{\"a\":5,\"f\":\"ab\",\"u\":9}");
    kiln_free(j);
    CHECK_EQ_INT(kiln_avro_reader_next(rd, a, &v, &err), 0);
    kiln_avro_reader_free(rd);
    /* reserved metadata keys are refused */
    kiln_avro_meta bad = {"avro.codec", "x"};
    kiln_avro_writer_opts o = {.meta = &bad, .nmeta = 1};
    kiln_buf_reset(&f);
    CHECK_EQ_INT(kiln_avro_writer_open_buf(&w, &f, s, &o, &err), KILN_EINVAL);
    kiln_buf_free(&f);
    kiln_arena_free(a);
    kiln_avro_schema_free(s);
}

/* ------------------------------------------------------------ projection */

TEST(avro, projection_by_field_id)
{
    /* written with Iceberg 1.0 names, read with today's names by field-id */
    const char *wjs = "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
                      "{\"name\":\"manifest_path\",\"type\":\"string\",\"field-id\":500},"
                      "{\"name\":\"added_data_files_count\",\"type\":\"int\",\"field-id\":504},"
                      "{\"name\":\"extra\",\"type\":\"string\",\"field-id\":9999},"
                      "{\"name\":\"cnt\",\"type\":\"int\",\"field-id\":512}]}";
    const char *rjs = "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
                      "{\"name\":\"added_files_count\",\"type\":\"int\",\"field-id\":504},"
                      "{\"name\":\"manifest_path\",\"type\":\"string\",\"field-id\":500},"
                      "{\"name\":\"added_rows_count\",\"type\":\"long\",\"field-id\":512},"
                      "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"field-id\":519},"
                      "{\"name\":\"content\",\"type\":\"int\",\"default\":0,\"field-id\":517}]}";
    kiln_err err = {0};
    kiln_avro_schema *ws, *rs;
    CHECK_OK(kiln_avro_schema_parse(&ws, wjs, strlen(wjs), &err), &err);
    CHECK_OK(kiln_avro_schema_parse(&rs, rjs, strlen(rjs), &err), &err);
    kiln_arena *a = kiln_arena_new(1024);
    kiln_buf f;
    kiln_buf_init(&f, 0);
    kiln_avro_writer *w;
    kiln_avro_writer_opts o = {.codec = KILN_AVRO_CODEC_DEFLATE};
    CHECK_OK(kiln_avro_writer_open_buf(&w, &f, ws, &o, &err), &err);
    for (int i = 0; i < 3; i++) {
        kiln_avro_value *r = kiln_avro_value_new_record(a, ws);
        CHECK_OK(kiln_avro_value_set_string(&r->u.array.items[0], a, "m.avro", 6), &err);
        kiln_avro_value_set_int(&r->u.array.items[1], 10 + i);
        CHECK_OK(kiln_avro_value_set_string(&r->u.array.items[2], a, "zz", 2), &err);
        kiln_avro_value_set_int(&r->u.array.items[3], 100 + i);
        CHECK_OK(kiln_avro_writer_append(w, r, &err), &err);
    }
    CHECK_OK(kiln_avro_writer_close(w, NULL, &err), &err);
    kiln_avro_reader *rd;
    CHECK_OK(kiln_avro_reader_open_mem(&rd, f.data, f.len, &err), &err);
    CHECK_OK(kiln_avro_reader_set_schema(rd, rs, &err), &err);
    for (int i = 0; i < 3; i++) {
        kiln_avro_value *v;
        CHECK_EQ_INT(kiln_avro_reader_next(rd, a, &v, &err), 1);
        char *j = json_of(v);
        char want[200];
        snprintf(want, sizeof want,
                 "{\"added_files_count\":%d,\"manifest_path\":\"m.avro\",\"added_rows_count\":%d,"
                 "\"key_metadata\":null,\"content\":0}",
                 10 + i, 100 + i);
        CHECK_STR(j, want);
        kiln_free(j);
        CHECK_EQ_INT(kiln_avro_value_field_by_id(v, 512)->type, KILN_AVRO_LONG); /* promoted */
        CHECK_EQ_INT(kiln_avro_value_field_by_id(v, 519)->branch, 0);
    }
    kiln_avro_reader_free(rd);
    /* an unresolvable reader schema is refused up front */
    const char *bjs = "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
                      "{\"name\":\"must\",\"type\":\"int\",\"field-id\":777}]}";
    kiln_avro_schema *bs;
    CHECK_OK(kiln_avro_schema_parse(&bs, bjs, strlen(bjs), &err), &err);
    CHECK_OK(kiln_avro_reader_open_mem(&rd, f.data, f.len, &err), &err);
    CHECK_EQ_INT(kiln_avro_reader_set_schema(rd, bs, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "must") != NULL);
    kiln_avro_reader_free(rd);
    kiln_avro_schema_free(bs);
    kiln_buf_free(&f);
    kiln_arena_free(a);
    kiln_avro_schema_free(ws);
    kiln_avro_schema_free(rs);
}

/* ------------------------------------------------------------ hostile input */

static int read_all(const void *p, size_t n, kiln_err *err)
{
    kiln_avro_reader *r;
    int rc = kiln_avro_reader_open_mem(&r, p, n, err);
    if (rc)
        return rc;
    kiln_arena *a = kiln_arena_new(4096);
    for (;;) {
        kiln_avro_value *v;
        rc = kiln_avro_reader_next(r, a, &v, err);
        if (rc <= 0)
            break;
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_avro_value_to_json(v, &b, NULL);
        kiln_buf_free(&b);
        kiln_arena_reset(a);
    }
    kiln_arena_free(a);
    kiln_avro_reader_free(r);
    return rc;
}

static void make_file(kiln_buf *f, kiln_avro_codec codec)
{
    kiln_err err = {0};
    kiln_avro_schema *s;
    kiln_avro_schema_parse(&s, ALL_SCHEMA, strlen(ALL_SCHEMA), &err);
    kiln_avro_writer_opts o = {.codec = codec, .block_bytes = 300, .sync = SYNC};
    kiln_avro_writer *w;
    kiln_buf_init(f, 0);
    kiln_avro_writer_open_buf(&w, f, s, &o, &err);
    kiln_arena *a = kiln_arena_new(4096);
    for (int i = 0; i < 6; i++) {
        kiln_avro_value *r = kiln_avro_value_new_record(a, s);
        fill_all(r, a, i);
        kiln_avro_writer_append(w, r, &err);
    }
    kiln_avro_writer_close(w, NULL, &err);
    kiln_arena_free(a);
    kiln_avro_schema_free(s);
}

TEST(avro, truncation_every_length)
{
    for (int codec = 0; codec <= KILN_AVRO_CODEC_ZSTD; codec++) {
        kiln_buf f;
        make_file(&f, (kiln_avro_codec)codec);
        kiln_err err = {0};
        CHECK_OK(read_all(f.data, f.len, &err), &err);
        for (size_t n = 0; n < f.len; n++) {
            /* copy so ASan sees reads past n */
            char *p = malloc(n ? n : 1);
            memcpy(p, f.data, n);
            kiln_err e2 = {0};
            int rc = read_all(p, n, &e2);
            free(p);
            /* a cut exactly at a block boundary is a valid shorter file */
            if (rc == 0)
                continue;
            CHECK_MSG(rc == KILN_ETRUNC || rc == KILN_EFORMAT, "codec %d len %zu: rc %d %s", codec, n, rc, e2.msg);
        }
        kiln_buf_free(&f);
    }
}

TEST(avro, bit_flips_never_crash)
{
    kiln_buf f;
    make_file(&f, KILN_AVRO_CODEC_NULL);
    uint64_t seed = 12345;
    int errors = 0;
    for (int iter = 0; iter < 3000; iter++) {
        char *p = malloc(f.len);
        memcpy(p, f.data, f.len);
        for (int k = 0; k < 3; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(seed >> 33) % f.len;
            p[pos] ^= (char)(1u << ((seed >> 20) & 7));
        }
        kiln_err err = {0};
        int rc = read_all(p, f.len, &err);
        free(p);
        if (rc < 0) {
            errors++;
            CHECK_MSG(rc == KILN_ETRUNC || rc == KILN_EFORMAT || rc == KILN_ELIMIT || rc == KILN_EUNSUPP,
                      "iter %d: rc %d %s", iter, rc, err.msg);
        }
    }
    CHECK(errors > 100); /* most flips are caught (sync, lengths, branches) */
    kiln_buf_free(&f);
}

TEST(avro, hostile_lengths)
{
    /* Hand-built files: schema "string"/"null"/array, a block whose
     * contents claim huge lengths. */
    kiln_err err = {0};
    struct {
        const char *schema;
        const uint8_t body[24];
        size_t nbody;
        int code;
    } cases[] = {
        /* count 1, size 5, string of length 2^31-1 */
        {"\"string\"", {0x02, 0x0a, 0xfe, 0xff, 0xff, 0xff, 0x0f}, 7, KILN_ETRUNC},
        /* count 1, size 1, negative string length */
        {"\"string\"", {0x02, 0x02, 0x01}, 3, KILN_EFORMAT},
        /* count 2^60 records of "long" in a 1-byte block */
        {"\"long\"", {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x02, 0x00}, 11, KILN_EFORMAT},
        /* array of null with a huge count: capped, no allocation */
        {"{\"type\":\"array\",\"items\":\"null\"}", {0x02, 0x0c, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00}, 8, KILN_ELIMIT},
        /* array of long claiming 2^40 items in 6 bytes */
        {"{\"type\":\"array\",\"items\":\"long\"}", {0x02, 0x0c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40}, 8, KILN_ETRUNC},
        /* union branch out of range */
        {"[\"null\",\"int\"]", {0x02, 0x02, 0x08}, 3, KILN_EFORMAT},
        /* block size past the end of the file */
        {"\"int\"", {0x02, 0xf0, 0x01, 0x00}, 4, KILN_ETRUNC},
        /* block has trailing bytes after its records */
        {"\"int\"", {0x02, 0x04, 0x02, 0x02}, 4, KILN_EFORMAT},
        /* boolean byte 7 */
        {"\"boolean\"", {0x02, 0x02, 0x07}, 3, KILN_EFORMAT},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        kiln_buf f;
        kiln_buf_init(&f, 0);
        const char *sj = cases[c].schema;
        uint8_t lb[10];
        kiln_buf_append(&f, "Obj\x01\x02", 5, &err);
        kiln_buf_append(&f, lb, kiln_avro_zigzag_encode(11, lb), &err);
        kiln_buf_append(&f, "avro.schema", 11, &err);
        kiln_buf_append(&f, lb, kiln_avro_zigzag_encode((int64_t)strlen(sj), lb), &err);
        kiln_buf_append(&f, sj, strlen(sj), &err);
        kiln_buf_append(&f, "\x00", 1, &err);
        kiln_buf_append(&f, SYNC, 16, &err);
        size_t body_at = f.len;
        kiln_buf_append(&f, cases[c].body, cases[c].nbody, &err);
        /* sync after the declared block, if it fits */
        kiln_buf_append(&f, SYNC, 16, &err);
        kiln_err e2 = {0};
        int rc = read_all(f.data, f.len, &e2);
        CHECK_MSG(rc == cases[c].code, "case %zu: rc %d want %d: %s", c, rc, cases[c].code, e2.msg);
        CHECK_MSG(e2.offset >= body_at || cases[c].code == KILN_ELIMIT || e2.offset == 0, "case %zu: offset %llu", c,
                  (unsigned long long)e2.offset);
        kiln_buf_free(&f);
    }
    /* not an Avro file at all */
    CHECK_EQ_INT(read_all("PAR1xxxx", 8, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "magic") != NULL);
    /* unknown codec */
    kiln_buf f;
    kiln_buf_init(&f, 0);
    static const char hdr[] = "Obj\x01\x04\x16"
                              "avro.schema\x0c\"long\"\x14"
                              "avro.codec\x08lzma\x00";
    kiln_buf_append(&f, hdr, sizeof hdr - 1, &err);
    kiln_buf_append(&f, SYNC, 16, &err);
    CHECK_EQ_INT(read_all(f.data, f.len, &err), KILN_EUNSUPP);
    CHECK(strstr(err.msg, "lzma") != NULL);
    kiln_buf_free(&f);
}

TEST(avro, nan_and_special_json)
{
    kiln_avro_value v = {.type = KILN_AVRO_DOUBLE, .branch = -1};
    v.u.d = NAN;
    char *j = json_of(&v);
    CHECK_STR(j, "\"NaN\"");
    kiln_free(j);
    v.u.d = -INFINITY;
    j = json_of(&v);
    CHECK_STR(j, "\"-Infinity\"");
    kiln_free(j);
    v.u.d = 1e300;
    j = json_of(&v);
    CHECK_STR(j, "1e+300");
    kiln_free(j);
    v.type = KILN_AVRO_FLOAT;
    v.u.f = 0.1f;
    j = json_of(&v);
    CHECK_STR(j, "0.1");
    kiln_free(j);
    /* invalid UTF-8 in a string becomes U+FFFD, valid stays */
    v.type = KILN_AVRO_STRING;
    v.u.bytes.ptr = (const uint8_t *)"a\xff\xc3\xa9";
    v.u.bytes.len = 4;
    j = json_of(&v);
    CHECK_STR(j, "\"a\\ufffdé\"");
    kiln_free(j);
}

TEST(avro, out_of_memory_is_clean)
{
    /* Fail the Nth allocation for every N a full read + rewrite needs:
     * each run must end in 0 or KILN_ENOMEM, with no crash or leak (ASan). */
    kiln_buf f;
    make_file(&f, KILN_AVRO_CODEC_DEFLATE);
    int saw_enomem = 0, saw_ok = 0;
    for (long n = 0; n < 400 && !saw_ok; n++) {
        kiln_err err = {0};
        kiln_avro_reader *r = NULL;
        kiln_avro_writer *w = NULL;
        kiln_arena *a = NULL;
        kiln_buf out;
        kiln_buf_init(&out, 0);
        kiln_alloc_fail_after(n);
        int rc = kiln_avro_reader_open_mem(&r, f.data, f.len, &err);
        if (rc == 0)
            rc = kiln_avro_writer_open_buf(&w, &out, kiln_avro_reader_schema(r), NULL, &err);
        if (rc == 0 && !(a = kiln_arena_new(256)))
            rc = KILN_ENOMEM;
        while (rc == 0) {
            kiln_avro_value *v;
            int got = kiln_avro_reader_next(r, a, &v, &err);
            if (got <= 0) {
                rc = got;
                break;
            }
            rc = kiln_avro_writer_append(w, v, &err);
        }
        if (rc == 0) {
            rc = kiln_avro_writer_close(w, NULL, &err);
            w = NULL;
        }
        kiln_alloc_fail_after(-1);
        kiln_avro_writer_free(w);
        kiln_avro_reader_free(r);
        kiln_arena_free(a);
        kiln_buf_free(&out);
        CHECK_MSG(rc == 0 || rc == KILN_ENOMEM, "fail_after %ld: rc %d %s", n, rc, err.msg);
        saw_enomem |= rc == KILN_ENOMEM;
        saw_ok |= rc == 0;
    }
    CHECK(saw_enomem && saw_ok);
    kiln_buf_free(&f);
}

TEST(avro, union_record_branch_by_shape)
{
    /* a record read from one file (named r102) written where the union's
     * record is named differently: the same-shape branch is taken */
    const char *wjs = "{\"type\":\"record\",\"name\":\"r102\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}";
    const char *ujs =
        "[\"null\",{\"type\":\"record\",\"name\":\"other\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}]";
    kiln_err err = {0};
    kiln_avro_schema *ws, *us;
    CHECK_OK(kiln_avro_schema_parse(&ws, wjs, strlen(wjs), &err), &err);
    CHECK_OK(kiln_avro_schema_parse(&us, ujs, strlen(ujs), &err), &err);
    kiln_arena *a = kiln_arena_new(1024);
    kiln_avro_value *v = kiln_avro_value_new_record(a, ws);
    kiln_avro_value_set_int(&v->u.array.items[0], 7);
    kiln_buf f;
    kiln_buf_init(&f, 0);
    kiln_avro_writer *w;
    CHECK_OK(kiln_avro_writer_open_buf(&w, &f, us, NULL, &err), &err);
    CHECK_OK(kiln_avro_writer_append(w, v, &err), &err);
    kiln_avro_value nul = {.type = KILN_AVRO_NULL, .branch = -1};
    CHECK_OK(kiln_avro_writer_append(w, &nul, &err), &err);
    CHECK_OK(kiln_avro_writer_close(w, NULL, &err), &err);
    kiln_avro_reader *r;
    CHECK_OK(kiln_avro_reader_open_mem(&r, f.data, f.len, &err), &err);
    kiln_avro_value *got;
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &got, &err), 1);
    CHECK_EQ_INT(got->branch, 1);
    CHECK_EQ_INT(kiln_avro_value_field(got, "x")->u.i, 7);
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &got, &err), 1);
    CHECK_EQ_INT(got->branch, 0);
    kiln_avro_reader_free(r);
    kiln_buf_free(&f);
    kiln_arena_free(a);
    kiln_avro_schema_free(ws);
    kiln_avro_schema_free(us);
}
