/*
 * fuzz_avro.c - fuzz target for the Avro OCF reader (src/format/avro_*.c):
 * the input is a whole container file (header, schema JSON, blocks in any
 * codec). Every record read is printed as JSON, written again with kiln's
 * writer (same schema and codec) and read back; the JSON must match, or
 * the target aborts. Reading stops after 2000 records so runs stay fast.
 * Inputs starting with '{', '[' or '"' are schema JSON instead: parse,
 * serialize, parse again; the two serializations must be identical.
 */
#include "harness/harness.h"
#include "format/avro/avro.h"

#include <dirent.h>
#include <stdlib.h>

#define FZ_MAX_RECORDS 2000

static void fz_abort(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_avro: %s: %s\n", what, msg);
    abort();
}

static void fuzz_schema(const uint8_t *d, size_t n)
{
    kiln_err err = {0};
    kiln_avro_schema *s1 = NULL, *s2 = NULL;
    kiln_buf j1, j2;
    kiln_buf_init(&j1, 0);
    kiln_buf_init(&j2, 0);
    if (kiln_avro_schema_parse(&s1, (const char *)d, n, &err) == 0 && kiln_avro_schema_to_json(s1, &j1, &err) == 0) {
        if (kiln_avro_schema_parse(&s2, j1.data, j1.len, &err) != 0)
            fz_abort("serialized schema does not re-parse", err.msg);
        if (kiln_avro_schema_to_json(s2, &j2, &err) != 0 || j1.len != j2.len || memcmp(j1.data, j2.data, j1.len))
            fz_abort("schema serialization is not stable", j1.data);
    }
    kiln_avro_schema_free(s1);
    kiln_avro_schema_free(s2);
    kiln_buf_free(&j1);
    kiln_buf_free(&j2);
}

int kiln_fuzz_avro(const uint8_t *d, size_t n)
{
    if (n > 0 && (d[0] == '{' || d[0] == '[' || d[0] == '"')) {
        char *copy = malloc(n);
        memcpy(copy, d, n);
        fuzz_schema((const uint8_t *)copy, n);
        free(copy);
        return 0;
    }
    /* copy to an exact-size block so ASan catches any over-read */
    uint8_t *data = malloc(n ? n : 1);
    memcpy(data, d, n);
    kiln_err err = {0};
    kiln_avro_reader *r = NULL, *r2 = NULL;
    kiln_avro_writer *w = NULL;
    kiln_arena *a = kiln_arena_new(0);
    kiln_buf json1, json2, file;
    kiln_buf_init(&json1, 0);
    kiln_buf_init(&json2, 0);
    kiln_buf_init(&file, 0);
    if (kiln_avro_reader_open_mem(&r, data, n, &err) != 0)
        goto done;
    /* the schema serializer must give JSON that parses to the same shape */
    kiln_buf sj;
    kiln_buf_init(&sj, 0);
    if (kiln_avro_schema_to_json(kiln_avro_reader_schema(r), &sj, &err) == 0) {
        kiln_avro_schema *s2 = NULL;
        if (kiln_avro_schema_parse(&s2, sj.data, sj.len, &err) != 0)
            fz_abort("schema to_json does not re-parse", err.msg);
        kiln_avro_schema_free(s2);
    }
    kiln_buf_free(&sj);
    static const uint8_t sync[16] = {7};
    kiln_avro_writer_opts o = {.codec = kiln_avro_reader_codec(r), .block_bytes = 4096, .sync = sync};
    if (kiln_avro_writer_open_buf(&w, &file, kiln_avro_reader_schema(r), &o, &err) != 0)
        fz_abort("writer open", err.msg);
    int rc = 0, compare = 1;
    for (int i = 0; i < FZ_MAX_RECORDS; i++) {
        kiln_avro_value *v;
        rc = kiln_avro_reader_next(r, a, &v, &err);
        if (rc <= 0)
            break;
        if (kiln_avro_value_to_json(v, &json1, &err) != 0) {
            compare = 0; /* only ELIMIT (deep nesting) is possible here */
            break;
        }
        kiln_buf_putc(&json1, '\n', &err);
        if (kiln_avro_writer_append(w, v, &err) != 0)
            fz_abort("re-encoding a value the reader produced", err.msg);
        kiln_arena_reset(a);
    }
    if (kiln_avro_writer_close(w, NULL, &err) != 0)
        fz_abort("writer close", err.msg);
    w = NULL;
    if (kiln_avro_reader_open_mem(&r2, file.data, file.len, &err) != 0)
        fz_abort("reading our own file", err.msg);
    for (;;) {
        kiln_avro_value *v;
        rc = kiln_avro_reader_next(r2, a, &v, &err);
        if (rc < 0)
            fz_abort("reading our own records", err.msg);
        if (rc == 0)
            break;
        if (kiln_avro_value_to_json(v, &json2, &err) != 0) {
            compare = 0;
            break;
        }
        kiln_buf_putc(&json2, '\n', &err);
        kiln_arena_reset(a);
    }
    if (compare && (json1.len != json2.len || (json1.len && memcmp(json1.data, json2.data, json1.len) != 0)))
        fz_abort("round trip", "JSON differs after rewrite");
    /* projecting onto the writer's own schema (parsed again) changes nothing */
    if (compare && json1.len) {
        kiln_avro_schema *same = NULL;
        const char *sjs = kiln_avro_reader_schema_json(r2);
        kiln_avro_reader *r3 = NULL;
        kiln_buf json3;
        kiln_buf_init(&json3, 0);
        if (kiln_avro_schema_parse(&same, sjs, strlen(sjs), &err) != 0 ||
            kiln_avro_reader_open_mem(&r3, file.data, file.len, &err) != 0 ||
            kiln_avro_reader_set_schema(r3, same, &err) != 0)
            fz_abort("identity projection setup", err.msg);
        for (;;) {
            kiln_avro_value *v;
            rc = kiln_avro_reader_next(r3, a, &v, &err);
            if (rc < 0)
                fz_abort("identity projection", err.msg);
            if (rc == 0 || kiln_avro_value_to_json(v, &json3, &err) != 0)
                break;
            kiln_buf_putc(&json3, '\n', &err);
            kiln_arena_reset(a);
        }
        if (json3.len != json1.len || memcmp(json3.data, json1.data, json1.len) != 0)
            fz_abort("identity projection", "JSON differs");
        kiln_avro_reader_free(r3);
        kiln_avro_schema_free(same);
        kiln_buf_free(&json3);
    }
done:
    kiln_avro_writer_free(w);
    kiln_avro_reader_free(r);
    kiln_avro_reader_free(r2);
    kiln_buf_free(&json1);
    kiln_buf_free(&json2);
    kiln_buf_free(&file);
    kiln_arena_free(a);
    free(data);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_avro(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(avro, kiln_fuzz_avro)
