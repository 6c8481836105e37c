/* Avro reader against Java-written Iceberg manifests and manifest lists
 * (../shared/fixtures/iceberg, see its README for the expected values). */
#include "harness/harness.h"
#include "format/avro/avro.h"

#include <stdlib.h>
#include <dirent.h>

static const char *fixture(const char *rel)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/../shared/fixtures/iceberg/%s", kt_root(), rel);
    return path;
}

/* Read every record of a file into an array (in arena a). The values point
 * at the reader's schema, so the reader stays open: when rd_out is NULL it
 * is parked in `parked` and freed by free_parked(). */
static kiln_avro_reader *parked[8];
static int nparked;

static void free_parked(void)
{
    while (nparked > 0)
        kiln_avro_reader_free(parked[--nparked]);
}

static int read_records(const char *path, kiln_arena *a, kiln_avro_value **out, int max, kiln_avro_reader **rd_out,
                        kiln_err *err)
{
    kiln_avro_reader *r;
    int rc = kiln_avro_reader_open(&r, path, err);
    if (rc)
        return rc;
    int n = 0;
    for (;;) {
        kiln_avro_value *v;
        rc = kiln_avro_reader_next(r, a, &v, err);
        if (rc < 0) {
            kiln_avro_reader_free(r);
            return rc;
        }
        if (rc == 0)
            break;
        if (n < max)
            out[n] = v;
        n++;
    }
    if (rd_out)
        *rd_out = r;
    else if (nparked < 8)
        parked[nparked++] = r;
    else
        kiln_avro_reader_free(r);
    return n;
}

static const char *str_of(const kiln_avro_value *v)
{
    return v && v->type == KILN_AVRO_STRING ? (const char *)v->u.bytes.ptr : "(not a string)";
}

#define LI "iceberg/lineitem_iceberg/metadata/"

TEST(avro_iceberg, lineitem_manifest_list)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(65536);
    kiln_avro_value *rec[4];
    kiln_avro_reader *r;
    int n = read_records(fixture(LI "snap-2354745328521181395-1-179b4fb1-0366-4f7d-ad35-99ee8da0abf5.avro"), a, rec, 4,
                         &r, &err);
    CHECK_MSG(n == 2, "n=%d %s", n, err.msg);
    CHECK_EQ_INT(kiln_avro_reader_codec(r), KILN_AVRO_CODEC_DEFLATE);
    CHECK_STR(kiln_avro_reader_meta(r, "snapshot-id", NULL), "2354745328521181395");
    CHECK_STR(kiln_avro_reader_meta(r, "parent-snapshot-id", NULL), "7817332053627255703");
    CHECK_STR(kiln_avro_reader_meta(r, "format-version", NULL), "2");
    CHECK_STR(kiln_avro_reader_meta(r, "sequence-number", NULL), "2");
    /* Iceberg 1.0 names: added_data_files_count; match by id 504 */
    const kiln_avro_schema *s = kiln_avro_reader_schema(r);
    CHECK_STR(s->fields[kiln_avro_schema_field_index_by_id(s, 504)].name, "added_data_files_count");
    CHECK_STR(str_of(kiln_avro_value_field_by_id(rec[0], 500)),
              "lineitem_iceberg/metadata/179b4fb1-0366-4f7d-ad35-99ee8da0abf5-m1.avro");
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 501)->u.l, 7863);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 504)->u.i, 1);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 512)->u.l, 51793);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 515)->u.l, 2);
    CHECK(kiln_avro_value_field_by_id(rec[0], 503)->u.l == 2354745328521181395LL);
    CHECK_STR(str_of(kiln_avro_value_field_by_id(rec[1], 500)),
              "lineitem_iceberg/metadata/179b4fb1-0366-4f7d-ad35-99ee8da0abf5-m0.avro");
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[1], 506)->u.i, 1);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[1], 514)->u.l, 60175);
    /* unpartitioned: partitions is the array branch, empty */
    kiln_avro_value *parts = kiln_avro_value_field_by_id(rec[1], 507);
    CHECK_EQ_INT(parts->type, KILN_AVRO_ARRAY);
    CHECK_EQ_INT(parts->branch, 1);
    CHECK_EQ_INT(parts->u.array.n, 0);
    kiln_avro_reader_free(r);
    kiln_arena_free(a);
}

/* The current manifest_file schema (names from today's spec) projects the
 * Iceberg 1.0 file by field id. */
static const char CURRENT_LIST_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
    "{\"name\":\"manifest_path\",\"type\":\"string\",\"field-id\":500},"
    "{\"name\":\"manifest_length\",\"type\":\"long\",\"field-id\":501},"
    "{\"name\":\"content\",\"type\":\"int\",\"field-id\":517},"
    "{\"name\":\"sequence_number\",\"type\":\"long\",\"field-id\":515},"
    "{\"name\":\"added_files_count\",\"type\":\"int\",\"field-id\":504},"
    "{\"name\":\"existing_files_count\",\"type\":\"int\",\"field-id\":505},"
    "{\"name\":\"deleted_files_count\",\"type\":\"int\",\"field-id\":506},"
    "{\"name\":\"deleted_rows_count\",\"type\":\"long\",\"field-id\":514},"
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"default\":null,\"field-id\":519}]}";

TEST(avro_iceberg, lineitem_manifest_list_projected)
{
    kiln_err err = {0};
    kiln_avro_schema *rs;
    CHECK_OK(kiln_avro_schema_parse(&rs, CURRENT_LIST_SCHEMA, strlen(CURRENT_LIST_SCHEMA), &err), &err);
    kiln_avro_reader *r;
    CHECK_OK(kiln_avro_reader_open(
                 &r, fixture(LI "snap-2354745328521181395-1-179b4fb1-0366-4f7d-ad35-99ee8da0abf5.avro"), &err),
             &err);
    CHECK_OK(kiln_avro_reader_set_schema(r, rs, &err), &err);
    kiln_arena *a = kiln_arena_new(65536);
    kiln_avro_value *v;
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &v, &err), 1);
    CHECK_EQ_INT(kiln_avro_value_field(v, "added_files_count")->u.i, 1);
    CHECK_EQ_INT(kiln_avro_value_field(v, "deleted_files_count")->u.i, 0);
    CHECK(kiln_avro_value_is_null(kiln_avro_value_field(v, "key_metadata")));
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &v, &err), 1);
    CHECK_EQ_INT(kiln_avro_value_field(v, "deleted_files_count")->u.i, 1);
    CHECK_EQ_INT(kiln_avro_value_field(v, "deleted_rows_count")->u.l, 60175);
    CHECK_EQ_INT(v->u.array.n, 9);
    CHECK_EQ_INT(kiln_avro_reader_next(r, a, &v, &err), 0);
    kiln_avro_reader_free(r);
    kiln_arena_free(a);
    kiln_avro_schema_free(rs);
}

TEST(avro_iceberg, lineitem_manifests)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(65536);
    kiln_avro_value *rec[4];
    kiln_avro_reader *r;
    /* m0 of the overwrite: one DELETED entry for the 60175-row file */
    int n = read_records(fixture(LI "179b4fb1-0366-4f7d-ad35-99ee8da0abf5-m0.avro"), a, rec, 4, &r, &err);
    CHECK_MSG(n == 1, "n=%d %s", n, err.msg);
    CHECK_STR(kiln_avro_reader_meta(r, "content", NULL), "data");
    CHECK_STR(kiln_avro_reader_meta(r, "format-version", NULL), "2");
    CHECK(strstr(kiln_avro_reader_meta(r, "schema", NULL), "l_orderkey") != NULL);
    parked[nparked++] = r;
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 0)->u.i, 2); /* DELETED */
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 3)->u.l, 1);
    kiln_avro_value *df = kiln_avro_value_field_by_id(rec[0], 2);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 134)->u.i, 0);
    CHECK_STR(str_of(kiln_avro_value_field_by_id(df, 100)),
              "lineitem_iceberg/data/00000-1-66fee7c2-c97c-4af9-963d-930afd99ace4-00001.parquet");
    CHECK_STR(str_of(kiln_avro_value_field_by_id(df, 101)), "PARQUET");
    CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 103)->u.l, 60175);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 104)->u.l, 1406875);
    /* column_sizes: Iceberg int-keyed map = array of {key, value} records */
    kiln_avro_value *cs = kiln_avro_value_field_by_id(df, 108);
    CHECK_EQ_INT(cs->type, KILN_AVRO_ARRAY);
    CHECK_EQ_INT(cs->u.array.n, 16);
    CHECK_EQ_INT(cs->schema->logical, KILN_AVRO_LT_MAP);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(&cs->u.array.items[0], 117)->u.i, 1);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(&cs->u.array.items[0], 118)->u.l, 88357);
    /* m1: one ADDED entry with null (inherited) sequence numbers */
    n = read_records(fixture(LI "179b4fb1-0366-4f7d-ad35-99ee8da0abf5-m1.avro"), a, rec, 4, NULL, &err);
    CHECK_MSG(n == 1, "n=%d %s", n, err.msg);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 0)->u.i, 1);
    CHECK(kiln_avro_value_is_null(kiln_avro_value_field_by_id(rec[0], 3)));
    CHECK(kiln_avro_value_is_null(kiln_avro_value_field_by_id(rec[0], 4)));
    df = kiln_avro_value_field_by_id(rec[0], 2);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 103)->u.l, 51793);
    /* snapshot 1's manifest: the original append */
    n = read_records(fixture(LI "787a5996-87e9-4d93-b258-066d524e82cc-m0.avro"), a, rec, 4, NULL, &err);
    CHECK_MSG(n == 1, "n=%d %s", n, err.msg);
    CHECK_EQ_INT(kiln_avro_value_field_by_id(kiln_avro_value_field_by_id(rec[0], 2), 103)->u.l, 60175);
    free_parked();
    kiln_arena_free(a);
}

#define EQ "equality_deletes/warehouse/mydb/mytable/metadata/"
#define EQP "equality_deletes/warehouse/mydb/mytable_partitioned/metadata/"

static void check_eq_ids(const kiln_avro_value *df, const int *want, size_t nwant)
{
    kiln_avro_value *ids = kiln_avro_value_field_by_id(df, 135);
    CHECK(ids != NULL);
    CHECK_EQ_INT(ids->type, KILN_AVRO_ARRAY);
    CHECK_EQ_INT(ids->u.array.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        CHECK_EQ_INT(ids->u.array.items[i].u.i, want[i]);
}

TEST(avro_iceberg, equality_delete_manifests)
{
    struct {
        const char *file;
        int64_t snapshot;
        int content;
        int64_t records;
        int ids[2];
        size_t nids;
        const char *partition; /* mytable_partitioned: name value */
    } cases[] = {
        {EQ "bcc5469e-83b4-4a41-be7e-af79ed029353-m0.avro", 853766660775201079LL, 0, 4, {0}, 0, NULL},
        {EQ "34f7dec7-90c5-4cd5-b158-5782b73fc010-m0.avro", 7342794868382145167LL, 2, 1, {2}, 1, NULL},
        {EQ "91bf4420-2bae-484f-b724-8184d56d3029-m0.avro", 1584331123492059582LL, 2, 1, {1}, 1, NULL},
        {EQ "c4028cec-4266-45e9-bf74-77cbf1b55328-m0.avro", 842401149381792626LL, 2, 1, {1, 2}, 2, NULL},
        {EQ "8057d23a-ed01-40cb-bfd6-44b145234c6d-m0.avro", 3340507003387467420LL, 0, 2, {0}, 0, NULL},
        {EQ "61648895-78fc-44d6-bf55-298a7614c4f8-m0.avro", 1916084761853986166LL, 2, 1, {2}, 1, NULL},
        {EQP "b096df95-e029-4163-a7b4-762554ad0da9-m0.avro", 4416477559988274704LL, 2, 1, {2}, 1, "b"},
        {EQP "36f9b154-c2d2-411f-9f29-9d23d46d688b-m0.avro", 6022113614852838397LL, 2, 1, {2, 1}, 2, "c"},
        {EQP "ff275eec-b23b-435f-a6a5-1ab7ce1c8749-m0.avro", 3138177759849079112LL, 2, 1, {2}, 1, "f"},
    };
    kiln_arena *a = kiln_arena_new(65536);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        kiln_err err = {0};
        kiln_avro_value *rec[8];
        kiln_avro_reader *r;
        int n = read_records(fixture(cases[c].file), a, rec, 8, &r, &err);
        CHECK_MSG(n == 1, "%s: n=%d %s", cases[c].file, n, err.msg);
        CHECK_STR(kiln_avro_reader_meta(r, "content", NULL), cases[c].content ? "deletes" : "data");
        free_parked();
        parked[nparked++] = r;
        CHECK_EQ_INT(kiln_avro_value_field_by_id(rec[0], 0)->u.i, 1);
        CHECK(kiln_avro_value_field_by_id(rec[0], 1)->u.l == cases[c].snapshot);
        kiln_avro_value *df = kiln_avro_value_field_by_id(rec[0], 2);
        CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 134)->u.i, cases[c].content);
        CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 103)->u.l, cases[c].records);
        const char *path = str_of(kiln_avro_value_field_by_id(df, 100));
        CHECK_MSG(strncmp(path, "data/persistent/equality_deletes/", 33) == 0, "path %s", path);
        CHECK_MSG((strstr(path, "delete-") != NULL) == (cases[c].content == 2), "path %s", path);
        if (cases[c].nids)
            check_eq_ids(df, cases[c].ids, cases[c].nids);
        else
            CHECK(kiln_avro_value_is_null(kiln_avro_value_field_by_id(df, 135)));
        if (cases[c].partition) {
            kiln_avro_value *part = kiln_avro_value_field_by_id(df, 102);
            CHECK_EQ_INT(part->u.array.n, 1);
            CHECK_STR(str_of(kiln_avro_value_field_by_id(part, 1000)), cases[c].partition);
        }
        kiln_arena_reset(a);
    }
    free_parked();
    kiln_arena_free(a);
}

TEST(avro_iceberg, partition_integer_manifest)
{
    kiln_err err = {0};
    kiln_arena *a = kiln_arena_new(65536);
    kiln_avro_value *rec[4];
    int n = read_records(fixture("partition_integer/metadata/b1dda674-423f-4f23-b00d-92b608b07a38-m0.avro"), a, rec, 4,
                         NULL, &err);
    CHECK_MSG(n == 2, "n=%d %s", n, err.msg);
    int seen42 = 0, seen1337 = 0;
    for (int i = 0; i < 2; i++) {
        kiln_avro_value *df = kiln_avro_value_field_by_id(rec[i], 2);
        kiln_avro_value *pv = kiln_avro_value_field_by_id(kiln_avro_value_field_by_id(df, 102), 1000);
        CHECK_EQ_INT(pv->type, KILN_AVRO_INT);
        const char *path = str_of(kiln_avro_value_field_by_id(df, 100));
        if (pv->u.i == 42)
            seen42 = strstr(path, "partition_col=42/") != NULL;
        if (pv->u.i == 1337)
            seen1337 = strstr(path, "partition_col=1337/") != NULL;
        CHECK_EQ_INT(kiln_avro_value_field_by_id(df, 103)->u.l, 1);
    }
    CHECK(seen42 && seen1337);
    free_parked();
    kiln_arena_free(a);
}

/* Every fixture file reads; rewriting it with kiln's writer (same schema,
 * metadata, each codec) and reading back gives identical JSON. */
TEST(avro_iceberg, rewrite_every_fixture)
{
    const char *dirs[] = {LI, EQ, EQP, "partition_integer/metadata/"};
    int files = 0;
    for (size_t d = 0; d < 4; d++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s", fixture(dirs[d]));
        DIR *dp = opendir(dir);
        CHECK_MSG(dp != NULL, "no fixture directory %s", dir);
        struct dirent *de;
        while ((de = readdir(dp))) {
            const char *line = de->d_name;
            size_t L = strlen(line);
            if (L < 5 || strcmp(line + L - 5, ".avro") != 0)
                continue;
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", dir, line);
            kiln_err err = {0};
            kiln_avro_reader *r;
            CHECK_OK(kiln_avro_reader_open(&r, path, &err), &err);
            kiln_arena *a = kiln_arena_new(65536);
            kiln_buf orig_json, file;
            kiln_buf_init(&orig_json, 0);
            kiln_buf_init(&file, 0);
            kiln_avro_meta meta[64];
            size_t nmeta = 0;
            for (size_t i = 0; i < kiln_avro_reader_meta_count(r) && nmeta < 64; i++) {
                const char *k, *v;
                kiln_avro_reader_meta_at(r, i, &k, &v, NULL);
                if (strncmp(k, "avro.", 5) != 0)
                    meta[nmeta++] = (kiln_avro_meta){k, v};
            }
            kiln_avro_writer *w;
            kiln_avro_writer_opts o = {.codec = (kiln_avro_codec)(files % 4), .meta = meta, .nmeta = nmeta};
            CHECK_OK(kiln_avro_writer_open_buf(&w, &file, kiln_avro_reader_schema(r), &o, &err), &err);
            kiln_avro_value *v;
            int rc;
            while ((rc = kiln_avro_reader_next(r, a, &v, &err)) == 1) {
                CHECK_OK(kiln_avro_value_to_json(v, &orig_json, &err), &err);
                kiln_buf_putc(&orig_json, '\n', &err);
                CHECK_OK(kiln_avro_writer_append(w, v, &err), &err);
            }
            CHECK_MSG(rc == 0, "%s: %s", path, err.msg);
            CHECK_OK(kiln_avro_writer_close(w, NULL, &err), &err);
            kiln_avro_reader *r2;
            CHECK_OK(kiln_avro_reader_open_mem(&r2, file.data, file.len, &err), &err);
            CHECK_STR(kiln_avro_reader_schema_json(r2), kiln_avro_reader_schema_json(r));
            for (size_t i = 0; i < nmeta; i++)
                CHECK_STR(kiln_avro_reader_meta(r2, meta[i].key, NULL), meta[i].value);
            kiln_buf again;
            kiln_buf_init(&again, 0);
            while ((rc = kiln_avro_reader_next(r2, a, &v, &err)) == 1) {
                CHECK_OK(kiln_avro_value_to_json(v, &again, &err), &err);
                kiln_buf_putc(&again, '\n', &err);
            }
            CHECK_EQ_INT(rc, 0);
            CHECK_MSG(again.len == orig_json.len && memcmp(again.data, orig_json.data, again.len) == 0,
                      "%s: JSON differs after rewrite", path);
            CHECK(orig_json.len > 0);
            kiln_buf_free(&again);
            kiln_avro_reader_free(r2);
            kiln_avro_reader_free(r);
            kiln_buf_free(&orig_json);
            kiln_buf_free(&file);
            kiln_arena_free(a);
            files++;
        }
        closedir(dp);
    }
    CHECK_EQ_INT(files, 30);
}
