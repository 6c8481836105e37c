/*
 * cmd_parquet.c - `kiln parquet`: look inside Parquet files (schema with
 * field ids, row groups with statistics, rows as CSV/NDJSON), scan them for
 * benchmarks, and rewrite them with kiln's writer. The scan and the rewrite
 * are library calls (src/format/parquet/parquet_copy.c); this file parses
 * and prints.
 */
#include "cli.h"
#include "format/parquet/parquet.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define JSON_OPT(what)                                                                                                 \
    {                                                                                                                  \
        "--json", 'j', 0, NULL, what                                                                                   \
    }
#define COLUMNS_OPT                                                                                                    \
    {                                                                                                                  \
        "--columns", 0, KILN_OPT_VALUE, "A,B", "read only these columns"                                               \
    }
#define WHERE_OPT                                                                                                      \
    {                                                                                                                  \
        "--where", 0, KILN_OPT_VALUE, "EXPR",                                                                          \
            "keep rows where EXPR holds and skip row groups whose\nstatistics rule it out: 'col OP value' with OP "    \
            "one of\n"                                                                                                 \
            "= != < <= > >=, 'col between A and B', 'col is null',\n'col is not null'"                                 \
    }
#define THREADS_OPT(what)                                                                                              \
    {                                                                                                                  \
        "--threads", 0, KILN_OPT_VALUE, "N", what                                                                      \
    }

static const kiln_opt schema_opts[] = {
    JSON_OPT("a JSON array of {index, name, field_id, physical, logical,\nkiln_type, repetition} (field_id, logical: "
             "null when absent)"),
    KILN_OPT_END};
static const kiln_opt meta_opts[] = {
    JSON_OPT("one object: {file_size, created_by, version, num_rows,\nnum_columns, num_row_groups, key_value_metadata, "
             "row_groups:\n[{rows, offset, columns: [{name, codec, encodings,\nnum_values, compressed_size, "
             "uncompressed_size,\nnull_count, min, max}]}]} (absent statistics: null)"),
    KILN_OPT_END};
static const kiln_opt cat_opts[] = {
    COLUMNS_OPT,
    {"--format", 'f', KILN_OPT_VALUE, "F", "csv (default, with a header line) or ndjson"},
    {"--limit", 'n', KILN_OPT_VALUE, "N", "stop after N rows"},
    WHERE_OPT,
    KILN_OPT_END};
static const kiln_opt scan_opts[] = {
    COLUMNS_OPT, WHERE_OPT, THREADS_OPT("N readers share the row groups (default: every core)"),
    JSON_OPT("{rows, row_groups, row_groups_pruned, threads, seconds,\ncolumns: [{name, sum | bytes, nulls}]}"),
    KILN_OPT_END};
static const kiln_opt rewrite_opts[] = {
    {"--codec", 0, KILN_OPT_VALUE, "C", "none, snappy, gzip or zstd (default zstd)"},
    {"--level", 0, KILN_OPT_VALUE, "N", "compression level (default zstd 3, gzip 6)"},
    {"--no-dictionary", 0, 0, NULL, "PLAIN encoding only"},
    {"--row-group-rows", 0, KILN_OPT_VALUE, "N", "cut row groups at N rows (default no limit)"},
    {"--row-group-bytes", 0, KILN_OPT_VALUE, "N", "cut row groups at N uncompressed bytes\n(default 134217728)"},
    {"--page-bytes", 0, KILN_OPT_VALUE, "N", "cut data pages at about N bytes (default 1048576)"},
    {"--dict-max-bytes", 0, KILN_OPT_VALUE, "N",
     "fall back to PLAIN when a dictionary passes N bytes\n(default 1048576)"},
    THREADS_OPT("encode and compress columns on N threads, decode on\nanother (default: every core; 1 = no threads)"),
    JSON_OPT("print {rows, bytes, row_groups, seconds} to stdout (else a\nline on stderr)"),
    KILN_OPT_END};

static const kiln_subcmd parquet_subs[] = {
    {"schema", "FILE", 1, 1, "one line per column",
     "One line per column: name, Iceberg field id, physical type, logical\n"
     "annotation, kiln type, required/optional.",
     schema_opts},
    {"meta", "FILE", 1, 1, "file facts, row groups and column chunk statistics",
     "File facts (created_by, rows, key-value metadata) and, per row group and\n"
     "column chunk: codec, encodings, sizes, null count, min, max.",
     meta_opts},
    {"cat", "FILE", 1, 1, "print rows (CSV with a header line, or NDJSON)", NULL, cat_opts},
    {"scan", "FILE", 1, 1, "row count, pruned row groups and a checksum per column",
     "Read the rows and print the row count, the row groups pruned and a checksum\n"
     "per column (sum of numbers, total bytes of strings); the time on stderr.",
     scan_opts},
    {"rewrite", "FILE OUT", 2, 2, "write FILE's rows to OUT with kiln's writer",
     "Read FILE and write its rows to OUT with kiln's Parquet writer (atomically:\n"
     "a temp file renamed into place), keeping key-value metadata and field ids.",
     rewrite_opts},
};

static const kiln_cmdspec parquet_spec = {
    .name = "parquet",
    .text = "Inspect a Parquet file (kiln's, Spark's, DuckDB's, ...).",
    .subs = parquet_subs,
    .nsubs = (int)(sizeof parquet_subs / sizeof parquet_subs[0]),
    .footer = "exit codes: 0 ok, 1 unreadable or malformed file, 2 usage, 4 file not found\n",
};

/* ------------------------------------------------------------ schema / meta */

static void physical_text(const kiln_parquet_column *c, char *out, size_t cap)
{
    if (c->physical == KILN_PQT_FLBA)
        snprintf(out, cap, "FIXED_LEN_BYTE_ARRAY(%d)", c->type_length);
    else
        snprintf(out, cap, "%s", kiln_parquet_type_name(c->physical));
}

static void kiln_type_text(const kiln_parquet_column *c, char *out, size_t cap)
{
    if (c->type == KILN_T_DECIMAL || c->type == KILN_T_DECIMAL_WIDE)
        snprintf(out, cap, "decimal(%d,%d)", c->precision, c->scale);
    else
        snprintf(out, cap, "%s", kiln_type_name(c->type));
}

static int do_schema(kiln_parquet_reader *r, int json)
{
    if (json)
        printf("[");
    else
        printf("%-4s %-32s %-8s %-21s %-24s %-12s %s\n", "#", "name", "field_id", "physical", "logical", "kiln_type",
               "repetition");
    for (int i = 0; i < kiln_parquet_reader_ncolumns(r); i++) {
        const kiln_parquet_column *c = kiln_parquet_reader_column(r, i);
        char phys[48], kt[32];
        physical_text(c, phys, sizeof phys);
        kiln_type_text(c, kt, sizeof kt);
        if (json) {
            printf("%s{\"index\":%d,\"name\":", i ? "," : "", i);
            kiln_cli_json_str(stdout, c->name);
            if (c->field_id)
                printf(",\"field_id\":%d", c->field_id);
            else
                printf(",\"field_id\":null");
            printf(",\"physical\":\"%s\",\"logical\":", phys);
            if (c->logical[0])
                kiln_cli_json_str(stdout, c->logical);
            else
                printf("null");
            printf(",\"kiln_type\":\"%s\",\"repetition\":\"%s\"}", kt, c->optional ? "optional" : "required");
            continue;
        }
        char fid[16] = "-";
        if (c->field_id)
            snprintf(fid, sizeof fid, "%d", c->field_id);
        printf("%-4d %-32s %-8s %-21s %-24s %-12s %s\n", i, c->name, fid, phys, c->logical[0] ? c->logical : "-", kt,
               c->optional ? "optional" : "required");
    }
    if (json)
        printf("]\n");
    return 0;
}

/* A statistic as text, or NULL when absent (b holds the text). */
static int stat_text(kiln_parquet_reader *r, int c, int has, const uint8_t *p, uint32_t n, kiln_buf *b, kiln_err *err)
{
    kiln_buf_reset(b);
    return has ? kiln_parquet_stat_format(r, c, p, n, b, err) : 0;
}

static int do_meta_json(kiln_parquet_reader *r, kiln_err *err)
{
    printf("{\"file_size\":%llu,\"created_by\":", (unsigned long long)kiln_parquet_reader_file_size(r));
    kiln_cli_json_str(stdout, kiln_parquet_reader_created_by(r));
    printf(",\"version\":%d,\"num_rows\":%lld,\"num_columns\":%d,\"num_row_groups\":%d,\"key_value_metadata\":{",
           kiln_parquet_reader_version(r), (long long)kiln_parquet_reader_num_rows(r), kiln_parquet_reader_ncolumns(r),
           kiln_parquet_reader_num_row_groups(r));
    for (int i = 0; i < kiln_parquet_reader_nkv(r); i++) {
        const char *v;
        const char *k = kiln_parquet_reader_kv(r, i, &v);
        printf("%s", i ? "," : "");
        kiln_cli_json_str(stdout, k);
        printf(":");
        if (v)
            kiln_cli_json_str(stdout, v);
        else
            printf("null");
    }
    printf("},\"row_groups\":[");
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = 0;
    for (int g = 0; g < kiln_parquet_reader_num_row_groups(r) && !rc; g++) {
        printf("%s{\"rows\":%lld,\"offset\":%lld,\"columns\":[", g ? "," : "",
               (long long)kiln_parquet_reader_row_group_rows(r, g),
               (long long)kiln_parquet_reader_row_group_offset(r, g));
        for (int c = 0; c < kiln_parquet_reader_ncolumns(r) && !rc; c++) {
            kiln_parquet_chunk_info ci;
            kiln_parquet_reader_chunk(r, g, c, &ci);
            printf("%s{\"name\":", c ? "," : "");
            kiln_cli_json_str(stdout, kiln_parquet_reader_column(r, c)->name);
            printf(",\"codec\":\"%s\",\"encodings\":[", kiln_pq_codec_name(ci.codec));
            for (int e = 0, n = 0; e < 32; e++)
                if ((ci.encodings >> e) & 1)
                    printf("%s\"%s\"", n++ ? "," : "", kiln_parquet_encoding_name(e));
            printf("],\"num_values\":%lld,\"compressed_size\":%lld,\"uncompressed_size\":%lld,\"null_count\":",
                   (long long)ci.num_values, (long long)ci.compressed_size, (long long)ci.uncompressed_size);
            if (ci.has_null_count)
                printf("%lld", (long long)ci.null_count);
            else
                printf("null");
            printf(",\"min\":");
            if ((rc = stat_text(r, c, ci.has_min, ci.min, ci.min_len, &b, err)))
                break;
            if (ci.has_min)
                kiln_cli_json_str(stdout, b.data);
            else
                printf("null");
            printf(",\"max\":");
            if ((rc = stat_text(r, c, ci.has_max, ci.max, ci.max_len, &b, err)))
                break;
            if (ci.has_max)
                kiln_cli_json_str(stdout, b.data);
            else
                printf("null");
            printf("}");
        }
        printf("]}");
    }
    printf("]}\n");
    kiln_buf_free(&b);
    return rc;
}

static int do_meta(kiln_parquet_reader *r, kiln_err *err)
{
    printf("file_size: %llu\n", (unsigned long long)kiln_parquet_reader_file_size(r));
    printf("created_by: %s\n", kiln_parquet_reader_created_by(r));
    printf("version: %d\n", kiln_parquet_reader_version(r));
    printf("num_rows: %lld\n", (long long)kiln_parquet_reader_num_rows(r));
    printf("num_columns: %d\n", kiln_parquet_reader_ncolumns(r));
    printf("num_row_groups: %d\n", kiln_parquet_reader_num_row_groups(r));
    int nkv = kiln_parquet_reader_nkv(r);
    if (nkv)
        printf("key_value_metadata:\n");
    for (int i = 0; i < nkv; i++) {
        const char *v;
        const char *k = kiln_parquet_reader_kv(r, i, &v);
        if (v && strlen(v) > 200)
            printf("  %s: %.200s... (%zu bytes)\n", k, v, strlen(v));
        else
            printf("  %s: %s\n", k, v ? v : "(null)");
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = 0;
    for (int g = 0; g < kiln_parquet_reader_num_row_groups(r) && !rc; g++) {
        printf("row_group %d: rows %lld, offset %lld\n", g, (long long)kiln_parquet_reader_row_group_rows(r, g),
               (long long)kiln_parquet_reader_row_group_offset(r, g));
        for (int c = 0; c < kiln_parquet_reader_ncolumns(r) && !rc; c++) {
            kiln_parquet_chunk_info ci;
            kiln_parquet_reader_chunk(r, g, c, &ci);
            printf("  %s: %s", kiln_parquet_reader_column(r, c)->name, kiln_pq_codec_name(ci.codec));
            for (int e = 0; e < 32; e++)
                if ((ci.encodings >> e) & 1)
                    printf(" %s", kiln_parquet_encoding_name(e));
            printf(", values %lld, compressed %lld, uncompressed %lld", (long long)ci.num_values,
                   (long long)ci.compressed_size, (long long)ci.uncompressed_size);
            if (ci.has_null_count)
                printf(", nulls %lld", (long long)ci.null_count);
            if (ci.has_min) {
                kiln_buf_reset(&b);
                rc = kiln_parquet_stat_format(r, c, ci.min, ci.min_len, &b, err);
                printf(", min %s", b.data);
            }
            if (ci.has_max && !rc) {
                kiln_buf_reset(&b);
                rc = kiln_parquet_stat_format(r, c, ci.max, ci.max_len, &b, err);
                printf(", max %s", b.data);
            }
            printf("\n");
        }
    }
    kiln_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ cat / scan / rewrite */

/* Numbers checked before the file is opened. */
typedef struct nums {
    long long threads, limit, level, rg_rows, rg_bytes, page_bytes, dict_bytes;
} nums;

static int check_args(const kiln_args *a, nums *n)
{
    const char *sub = a->sub->name;
    const long long big = (long long)(~0ULL >> 1);
    int rc = 0;
    n->limit = -1;
    if (!strcmp(sub, "cat")) {
        const char *fmt = kiln_opt_get(a, "--format");
        if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "ndjson"))
            return kiln_opt_usage(a, "--format %s: use csv or ndjson", fmt);
        rc = kiln_opt_int(a, "--limit", 0, big, &n->limit);
    }
    if (!rc && (!strcmp(sub, "scan") || !strcmp(sub, "rewrite")))
        rc = kiln_opt_int(a, "--threads", 0, 1 << 20, &n->threads);
    if (!rc && !strcmp(sub, "rewrite") &&
        ((rc = kiln_opt_int(a, "--level", 0, 22, &n->level)) ||
         (rc = kiln_opt_int(a, "--row-group-rows", 0, big, &n->rg_rows)) ||
         (rc = kiln_opt_int(a, "--row-group-bytes", 0, big, &n->rg_bytes)) ||
         (rc = kiln_opt_int(a, "--page-bytes", 0, big, &n->page_bytes)) ||
         (rc = kiln_opt_int(a, "--dict-max-bytes", 0, big, &n->dict_bytes))))
        return rc;
    if (n->threads == 0)
        n->threads = kiln_ncpus();
    if (n->threads > 64)
        n->threads = 64;
    return rc;
}

static int do_cat(kiln_parquet_reader *r, const kiln_args *a, long long limit, kiln_err *err)
{
    kiln_parquet_pred pred;
    int pred_col, rc, appended;
    const char *fmt = kiln_opt_get(a, "--format") ? kiln_opt_get(a, "--format") : "csv";
    if ((rc = kiln_parquet_reader_select(r, kiln_opt_get(a, "--columns"), kiln_opt_get(a, "--where"), &pred, &pred_col,
                                         &appended, err)))
        return rc;
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    int shown = appended ? s->ncols - 1 : s->ncols;
    int csv = !strcmp(fmt, "csv");
    kiln_buf line, val;
    kiln_buf_init(&line, 0);
    kiln_buf_init(&val, 0);
    if (csv && !(rc = kiln_cli_csv_header(&line, s, shown, err)))
        fwrite(line.data, 1, line.len, stdout);
    long long printed = 0;
    const kiln_batch *b;
    while (!rc && (limit < 0 || printed < limit)) {
        rc = kiln_parquet_reader_next(r, &b, err);
        if (rc <= 0)
            break;
        rc = 0;
        for (size_t i = 0; i < b->nrows && !rc && (limit < 0 || printed < limit); i++) {
            if (pred_col >= 0 && !kiln_parquet_pred_match(&pred, b, pred_col, i))
                continue;
            kiln_buf_reset(&line);
            if (!(rc = kiln_cli_format_row(&line, &val, b, i, shown, !csv, 1, err)))
                fwrite(line.data, 1, line.len, stdout);
            printed++;
        }
    }
    kiln_buf_free(&line);
    kiln_buf_free(&val);
    return rc < 0 ? rc : 0;
}

static int do_scan(kiln_parquet_reader *r, const char *path, int threads, const kiln_args *a, kiln_err *err)
{
    kiln_parquet_scan_opts o = {kiln_opt_get(a, "--columns"), kiln_opt_get(a, "--where"), threads};
    kiln_parquet_scan_result res;
    int rc = kiln_parquet_scan_file(&res, r, path, &o, err);
    if (rc)
        return rc;
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    int json = kiln_opt_has(a, "--json");
    if (json)
        printf("{\"rows\":%lld,\"row_groups\":%d,\"row_groups_pruned\":%d,\"threads\":%d,\"seconds\":%.3f,"
               "\"columns\":[",
               res.rows, res.row_groups, res.row_groups_pruned, res.threads, res.seconds);
    else
        printf("rows: %lld\nrow_groups: %d, pruned: %d\n", res.rows, res.row_groups, res.row_groups_pruned);
    for (int c = 0; c < s->ncols; c++) {
        kiln_type t = s->cols[c].type;
        const char *name = s->cols[c].name;
        if (json) {
            printf("%s{\"name\":", c ? "," : "");
            kiln_cli_json_str(stdout, name);
            if (t == KILN_T_FLOAT || t == KILN_T_DOUBLE)
                printf(",\"sum\":%.17g", res.fsum[c]);
            else if (kiln_type_is_bytes(t))
                printf(",\"bytes\":%lld", (long long)res.isum[c]);
            else
                printf(",\"sum\":%lld", (long long)res.isum[c]);
            printf(",\"nulls\":%lld}", (long long)res.nulls[c]);
        } else if (t == KILN_T_FLOAT || t == KILN_T_DOUBLE) {
            printf("%s: sum %.17g, nulls %lld\n", name, res.fsum[c], (long long)res.nulls[c]);
        } else if (kiln_type_is_bytes(t)) {
            printf("%s: bytes %lld, nulls %lld\n", name, (long long)res.isum[c], (long long)res.nulls[c]);
        } else {
            printf("%s: sum %lld, nulls %lld\n", name, (long long)res.isum[c], (long long)res.nulls[c]);
        }
    }
    if (json)
        printf("]}\n");
    else
        fprintf(stderr, "scan: %.3f s (%d thread%s)\n", res.seconds, res.threads, res.threads == 1 ? "" : "s");
    kiln_parquet_scan_result_free(&res);
    return 0;
}

static int do_rewrite(kiln_parquet_reader *r, const char *out, const nums *n, const kiln_args *a, kiln_err *err)
{
    kiln_parquet_write_opts wo;
    kiln_parquet_write_opts_init(&wo);
    int rc;
    const char *codec = kiln_opt_get(a, "--codec");
    if (codec && (rc = kiln_pq_codec_parse(&wo.codec, codec, err)))
        return rc;
    wo.level = (int)n->level;
    wo.no_dictionary = kiln_opt_has(a, "--no-dictionary");
    wo.row_group_rows = (uint64_t)n->rg_rows;
    wo.row_group_bytes = (uint64_t)n->rg_bytes;
    wo.page_bytes = (size_t)n->page_bytes;
    wo.dict_max_bytes = (size_t)n->dict_bytes;
    wo.threads = (int)n->threads;
    kiln_parquet_file_stats st;
    double t0 = kiln_mono_seconds();
    if ((rc = kiln_parquet_rewrite(r, out, &wo, &st, err)))
        return rc;
    double secs = kiln_mono_seconds() - t0;
    if (kiln_opt_has(a, "--json"))
        printf("{\"rows\":%llu,\"bytes\":%llu,\"row_groups\":%zu,\"seconds\":%.3f}\n",
               (unsigned long long)st.record_count, (unsigned long long)st.file_size_in_bytes, st.nsplits, secs);
    else
        fprintf(stderr, "rewrite: %llu rows, %llu bytes, %zu row groups in %.3f s\n",
                (unsigned long long)st.record_count, (unsigned long long)st.file_size_in_bytes, st.nsplits, secs);
    kiln_parquet_file_stats_free(&st);
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &parquet_spec, argc, argv))
        return a.exit;
    const char *sub = a.sub->name;
    nums n = {0};
    int rc;
    if ((rc = check_args(&a, &n)))
        return rc;
    kiln_err err = {0};
    kiln_parquet_reader *r = NULL;
    kiln_parquet_read_opts ro = {0};
    /* rewrite: the writer gets the threads; the reader keeps up on one.
     * scan: one reader per thread, sharing the row groups */
    ro.threads = 1;
    if ((rc = kiln_parquet_reader_open(&r, a.pos[0], &ro, &err)))
        return kiln_cli_fail(&err);
    if (!strcmp(sub, "schema"))
        rc = do_schema(r, kiln_opt_has(&a, "--json"));
    else if (!strcmp(sub, "meta"))
        rc = kiln_opt_has(&a, "--json") ? do_meta_json(r, &err) : do_meta(r, &err);
    else if (!strcmp(sub, "cat"))
        rc = do_cat(r, &a, n.limit, &err);
    else if (!strcmp(sub, "scan"))
        rc = do_scan(r, a.pos[0], (int)n.threads, &a, &err);
    else
        rc = do_rewrite(r, a.pos[1], &n, &a, &err);
    kiln_parquet_reader_free(r);
    fflush(stdout);
    return rc ? kiln_cli_fail(&err) : 0;
}

KILN_COMMAND(cmd_parquet, "parquet", "inspect, scan and rewrite Parquet files", NULL, cmd_run, 45, NULL, 0,
             &parquet_spec)
