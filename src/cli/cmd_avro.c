/*
 * cmd_avro.c - `kiln avro`: look inside Avro object container files
 * (Iceberg manifests and manifest lists): the writer schema, the file
 * metadata, and the records as NDJSON.
 */
#include "cli.h"
#include "format/avro/avro.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kiln avro schema FILE\n"
    "       kiln avro meta FILE\n"
    "       kiln avro cat [--limit N] [--reader-schema SCHEMA.json] FILE\n"
    "       kiln avro rewrite [--codec C] [--block-bytes N] FILE OUT\n"
    "\n"
    "Inspect an Avro object container file (e.g. an Iceberg manifest).\n"
    "\n"
    "  schema   print the writer schema JSON as stored in the file\n"
    "  meta     print the file metadata (avro.codec, Iceberg keys, ...) as one\n"
    "           JSON object; avro.schema is left out (see 'schema')\n"
    "  cat      print every record as one JSON object per line (NDJSON);\n"
    "           unions print as their value, bytes as \\u00XX characters\n"
    "  rewrite  copy FILE to OUT record by record with kiln's writer (same\n"
    "           schema and metadata; new codec and block size if given)\n"
    "\n"
    "options:\n"
    "  --limit N                  stop after N records (cat)\n"
    "  --reader-schema FILE       project records onto this Avro schema,\n"
    "                             matching fields by field-id, then name (cat)\n"
    "  --codec C                  null, deflate, snappy or zstandard (rewrite;\n"
    "                             default: the input's codec)\n"
    "  --block-bytes N            cut blocks at N uncompressed bytes (rewrite;\n"
    "                             default 262144)\n"
    "  -h, --help                 show this help\n"
    "\n"
    "exit codes: 0 ok, 1 unreadable or malformed file, 2 usage, 4 file not found\n";

static int print_json_string(const char *s, size_t n)
{
    kiln_avro_value v = {.type = KILN_AVRO_BYTES, .branch = -1};
    v.u.bytes.ptr = (const uint8_t *)s;
    v.u.bytes.len = n;
    /* metadata values are bytes but nearly always UTF-8 text: print as string */
    v.type = KILN_AVRO_STRING;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    int rc = kiln_avro_value_to_json(&v, &b, &err);
    if (rc == 0)
        fwrite(b.data, 1, b.len, stdout);
    kiln_buf_free(&b);
    return rc;
}

static int do_rewrite(kiln_avro_reader *r, const char *out_path, const char *codec_name, long long block_bytes,
                      kiln_err *err)
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
        if (rc == 0)
            fprintf(stderr, "kiln avro: wrote %llu records, %llu bytes to %s\n", (unsigned long long)n,
                    (unsigned long long)bytes, out_path);
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
    const char *sub = NULL, *file = NULL, *out_path = NULL, *rs_path = NULL, *codec = NULL;

    if (kiln_cli_wants_help(argc, argv))
        return kiln_cli_print_help(kiln_cli_find("avro"));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--limit") == 0 || strcmp(a, "--block-bytes") == 0) {
            if (i + 1 >= argc)
                return kiln_cli_usage_error("avro", "%s needs a value", a);
            char *end;
            long long x = strtoll(argv[++i], &end, 10);
            if (*end || !*argv[i] || x < 0 || (a[2] == 'b' && (x < 1 || x > (64 << 20))))
                return kiln_cli_usage_error("avro", "%s wants a %s integer, got \"%s\"", a,
                                            a[2] == 'b' ? "1..67108864" : "non-negative", argv[i]);
            if (a[2] == 'l')
                limit = x;
            else
                block_bytes = x;
        } else if (strcmp(a, "--reader-schema") == 0 || strcmp(a, "--codec") == 0) {
            if (i + 1 >= argc)
                return kiln_cli_usage_error("avro", "%s needs a value", a);
            if (a[2] == 'r')
                rs_path = argv[++i];
            else
                codec = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return kiln_cli_usage_error("avro", "unknown option %s", a);
        } else if (!sub) {
            sub = a;
        } else if (!file) {
            file = a;
        } else if (!out_path && strcmp(sub, "rewrite") == 0) {
            out_path = a;
        } else {
            return kiln_cli_usage_error("avro", "unexpected argument \"%s\"", a);
        }
    }
    if (!sub)
        return kiln_cli_usage_error("avro", "missing subcommand (schema, meta, cat or rewrite)");
    if (strcmp(sub, "schema") && strcmp(sub, "meta") && strcmp(sub, "cat") && strcmp(sub, "rewrite"))
        return kiln_cli_usage_error("avro", "unknown subcommand \"%s\"", sub);
    if (!file)
        return kiln_cli_usage_error("avro", "missing FILE");
    if ((limit >= 0 || rs_path) && strcmp(sub, "cat") != 0)
        return kiln_cli_usage_error("avro", "--limit and --reader-schema go with 'cat'");
    if ((codec || block_bytes) && strcmp(sub, "rewrite") != 0)
        return kiln_cli_usage_error("avro", "--codec and --block-bytes go with 'rewrite'");
    if (strcmp(sub, "rewrite") == 0 && !out_path)
        return kiln_cli_usage_error("avro", "rewrite needs FILE and OUT");

    if (kiln_avro_reader_open(&r, file, &err))
        goto fail;
    if (strcmp(sub, "rewrite") == 0) {
        if (do_rewrite(r, out_path, codec, block_bytes, &err))
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
        kiln_err_set(&err, KILN_ENOMEM, "out of memory");
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

KILN_COMMAND(cmd_avro, "avro", "inspect or copy Avro files (Iceberg manifests): schema, meta, cat, rewrite", usage, run_avro, 80, NULL)
