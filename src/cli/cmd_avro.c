/*
 * cmd_avro.c - `kiln avro`: look inside Avro object container files
 * (Iceberg manifests and manifest lists): the writer schema, the file
 * metadata, and the records as NDJSON.
 */
#include "cli.h"
#include "format/avro/avro.h"

#include <stdlib.h>
#include <string.h>

static const kiln_opt cat_opts[] = {{"--limit", 'n', KILN_OPT_VALUE, "N", "stop after N records"},
                                    {"--reader-schema", 0, KILN_OPT_VALUE, "FILE",
                                     "project records onto this Avro schema, matching fields by\nfield-id, then name"},
                                    KILN_OPT_END};
static const kiln_opt rewrite_opts[] = {
    {"--codec", 0, KILN_OPT_VALUE, "C", "null, deflate, snappy or zstandard (default: the input's)"},
    {"--block-bytes", 0, KILN_OPT_VALUE, "N", "cut blocks at N uncompressed bytes (default 262144)"},
    {"--json", 'j', 0, NULL, "print {records, bytes, path} to stdout (else a line on stderr)"},
    KILN_OPT_END};

static const kiln_subcmd avro_subs[] = {
    {"schema", "FILE", 1, 1, "print the writer schema JSON as stored in the file", NULL, NULL},
    {"meta", "FILE", 1, 1, "the file metadata as one JSON object",
     "Print the file metadata (avro.codec, Iceberg keys, ...) as one JSON object;\n"
     "avro.schema is left out (see 'schema'). The output is JSON already.",
     NULL},
    {"cat", "FILE", 1, 1, "every record as one JSON object per line (NDJSON)",
     "Print every record as one JSON object per line (NDJSON); unions print as\n"
     "their value, bytes as \\u00XX characters (Avro's JSON encoding).",
     cat_opts},
    {"rewrite", "FILE OUT", 2, 2, "copy FILE to OUT record by record with kiln's writer",
     "Copy FILE to OUT record by record with kiln's writer (same schema and\n"
     "metadata; new codec and block size if given).",
     rewrite_opts},
};

static const kiln_cmdspec avro_spec = {
    .name = "avro",
    .text = "Inspect an Avro object container file (e.g. an Iceberg manifest).",
    .subs = avro_subs,
    .nsubs = (int)(sizeof avro_subs / sizeof avro_subs[0]),
    .footer = "exit codes: 0 ok, 1 unreadable or malformed file, 2 usage, 4 file not found\n",
};

/* A metadata key or value (bytes, nearly always UTF-8 text) as a JSON string. */
static int print_json_string(const char *s, size_t n)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    int rc = kiln_json_write_str(&b, s, n, &err);
    if (rc == 0)
        fwrite(b.data, 1, b.len, stdout);
    kiln_buf_free(&b);
    return rc;
}

static int do_rewrite(kiln_avro_reader *r, const char *out_path, const char *codec_name, long long block_bytes,
                      int json, kiln_err *err)
{
    int rc = 0;
    kiln_avro_writer *w = NULL;
    kiln_arena *arena = NULL;
    kiln_avro_meta *meta = NULL;
    kiln_avro_writer_opts o = {.codec = kiln_avro_reader_codec(r), .block_bytes = (size_t)block_bytes};
    if (codec_name && (rc = kiln_avro_codec_parse(codec_name, &o.codec, err)))
        goto done;
    size_t nm = kiln_avro_reader_meta_count(r);
    if (!(meta = kiln_calloc(nm + 1, sizeof *meta)) || !(arena = kiln_arena_new(65536))) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < nm; i++) {
        const char *k, *v;
        size_t vl;
        kiln_avro_reader_meta_at(r, i, &k, &v, &vl);
        if (strncmp(k, "avro.", 5) != 0)
            meta[o.nmeta++] = (kiln_avro_meta){k, v};
    }
    o.meta = meta;
    if ((rc = kiln_avro_writer_open(&w, out_path, kiln_avro_reader_schema(r), &o, err)))
        goto done;
    for (;;) {
        kiln_avro_value *v;
        rc = kiln_avro_reader_next(r, arena, &v, err);
        if (rc <= 0)
            break;
        if ((rc = kiln_avro_writer_append(w, v, err)))
            goto done;
        kiln_arena_reset(arena);
    }
    if (rc == 0) {
        uint64_t bytes = 0;
        uint64_t n = kiln_avro_writer_count(w);
        rc = kiln_avro_writer_close(w, &bytes, err);
        w = NULL;
        if (rc == 0 && json) {
            printf("{\"records\":%llu,\"bytes\":%llu,\"path\":", (unsigned long long)n, (unsigned long long)bytes);
            kiln_cli_json_str(stdout, out_path);
            printf("}\n");
        } else if (rc == 0) {
            fprintf(stderr, "kiln avro: wrote %llu records, %llu bytes to %s\n", (unsigned long long)n,
                    (unsigned long long)bytes, out_path);
        }
    }
done:
    kiln_avro_writer_free(w);
    kiln_arena_free(arena);
    kiln_free(meta);
    return rc;
}

static int run_avro(int argc, char **argv)
{
    kiln_err err = {0};
    kiln_avro_reader *r = NULL;
    kiln_avro_schema *rs = NULL;
    kiln_arena *arena = NULL;
    kiln_buf line;
    kiln_buf_init(&line, 0);
    int exitc = KILN_EXIT_OK;
    long long limit = -1, block_bytes = 0;
    kiln_args a;
    if (kiln_opt_parse(&a, &avro_spec, argc, argv))
        return a.exit;
    const char *sub = a.sub->name, *file = a.pos[0], *out_path = a.npos > 1 ? a.pos[1] : NULL;
    const char *rs_path = NULL, *codec = NULL;
    if (!strcmp(sub, "cat")) {
        if ((exitc = kiln_opt_int(&a, "--limit", 0, (long long)(~0ULL >> 1), &limit)))
            return exitc;
        rs_path = kiln_opt_get(&a, "--reader-schema");
    } else if (!strcmp(sub, "rewrite")) {
        if ((exitc = kiln_opt_int(&a, "--block-bytes", 1, 64 << 20, &block_bytes)))
            return exitc;
        codec = kiln_opt_get(&a, "--codec");
    }

    if (kiln_avro_reader_open(&r, file, &err))
        goto fail;
    if (strcmp(sub, "rewrite") == 0) {
        if (do_rewrite(r, out_path, codec, block_bytes, kiln_opt_has(&a, "--json"), &err))
            goto fail;
        goto done;
    }
    if (strcmp(sub, "schema") == 0) {
        printf("%s\n", kiln_avro_reader_schema_json(r));
        goto done;
    }
    if (strcmp(sub, "meta") == 0) {
        int first = 1;
        putchar('{');
        for (size_t i = 0; i < kiln_avro_reader_meta_count(r); i++) {
            const char *k, *v;
            size_t vl;
            kiln_avro_reader_meta_at(r, i, &k, &v, &vl);
            if (strcmp(k, "avro.schema") == 0)
                continue;
            if (!first)
                putchar(',');
            first = 0;
            print_json_string(k, strlen(k));
            putchar(':');
            print_json_string(v, vl);
        }
        puts("}");
        goto done;
    }
    if (rs_path) {
        char *txt = NULL;
        size_t n = 0;
        if (kiln_file_read(rs_path, (size_t)16 << 20, &txt, &n, &err))
            goto fail;
        int rc = kiln_avro_schema_parse(&rs, txt, n, &err);
        kiln_free(txt);
        if (rc) {
            kiln_err_prefix(&err, "%s: ", rs_path);
            goto fail;
        }
        if (kiln_avro_reader_set_schema(r, rs, &err))
            goto fail;
    }
    if (!(arena = kiln_arena_new(65536))) {
        KILN_OOM(&err);
        goto fail;
    }
    for (long long n = 0; limit < 0 || n < limit; n++) {
        kiln_avro_value *v;
        int rc = kiln_avro_reader_next(r, arena, &v, &err);
        if (rc < 0) {
            kiln_err_prefix(&err, "%s: ", file);
            goto fail;
        }
        if (rc == 0)
            break;
        kiln_buf_reset(&line);
        if (kiln_avro_value_to_json(v, &line, &err) || kiln_buf_putc(&line, '\n', &err))
            goto fail;
        fwrite(line.data, 1, line.len, stdout);
        kiln_arena_reset(arena);
    }
    goto done;
fail:
    fflush(stdout);
    exitc = kiln_cli_fail(&err);
done:
    kiln_buf_free(&line);
    kiln_arena_free(arena);
    kiln_avro_reader_free(r);
    kiln_avro_schema_free(rs);
    return exitc;
}

KILN_COMMAND(cmd_avro, "avro", "inspect or copy Avro files (Iceberg manifests): schema, meta, cat, rewrite", NULL,
             run_avro, 80, NULL, 0, &avro_spec)
