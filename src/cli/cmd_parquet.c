/*
 * cmd_parquet.c - `kiln parquet`: look inside Parquet files (schema with
 * field ids, row groups with statistics, rows as CSV/NDJSON), scan them for
 * benchmarks, and rewrite them with kiln's writer.
 */
#include "cli.h"
#include "format/parquet/parquet.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kiln parquet schema FILE\n"
    "       kiln parquet meta FILE\n"
    "       kiln parquet cat [--columns a,b] [--format csv|ndjson] [--limit N] [--where EXPR] FILE\n"
    "       kiln parquet scan [--columns a,b] [--where EXPR] [--threads N] FILE\n"
    "       kiln parquet rewrite [--codec C] [--level N] [--no-dictionary] [--row-group-rows N]\n"
    "                            [--row-group-bytes N] [--page-bytes N] [--dict-max-bytes N]\n"
    "                            [--threads N] FILE OUT\n"
    "\n"
    "Inspect a Parquet file (kiln's, Spark's, DuckDB's, ...).\n"
    "\n"
    "  schema   one line per column: name, Iceberg field id, physical type,\n"
    "           logical annotation, kiln type, required/optional\n"
    "  meta     file facts (created_by, rows, key-value metadata) and, per row\n"
    "           group and column chunk: codec, encodings, sizes, null count, min, max\n"
    "  cat      print rows (CSV with a header line, or one JSON object per line)\n"
    "  scan     read the rows and print the row count, the row groups pruned and a\n"
    "           checksum per column (sum of numbers, total bytes of strings)\n"
    "  rewrite  read FILE and write its rows to OUT with kiln's Parquet writer\n"
    "           (atomically: a temp file renamed into place)\n"
    "\n"
    "options:\n"
    "  --columns a,b          read only these columns (cat, scan)\n"
    "  --format csv|ndjson    output format for cat (default csv)\n"
    "  --limit N              stop after N rows (cat)\n"
    "  --where EXPR           keep rows where EXPR holds and skip row groups whose\n"
    "                         statistics rule it out: 'col OP value' with OP one of\n"
    "                         = != < <= > >=, 'col between A and B', 'col is null',\n"
    "                         'col is not null' (cat, scan)\n"
    "  --codec C              none, snappy, gzip or zstd (rewrite; default zstd)\n"
    "  --level N              compression level (rewrite; default zstd 3, gzip 6)\n"
    "  --no-dictionary        PLAIN encoding only (rewrite)\n"
    "  --row-group-rows N     cut row groups at N rows (rewrite; default no limit)\n"
    "  --row-group-bytes N    cut row groups at N uncompressed bytes (rewrite;\n"
    "                         default 134217728)\n"
    "  --page-bytes N         cut data pages at about N bytes (rewrite; default 1048576)\n"
    "  --dict-max-bytes N     fall back to PLAIN when a dictionary passes N bytes\n"
    "                         (rewrite; default 1048576)\n"
    "  --threads N            scan: N readers share the row groups; rewrite: encode\n"
    "                         and compress columns on N threads (default: every\n"
    "                         core; 1 = no threads)\n"
    "  -h, --help             show this help\n"
    "\n"
    "exit codes: 0 ok, 1 unreadable or malformed file, 2 usage, 4 file not found\n";

static int cmd_run(int argc, char **argv);
KILN_COMMAND(cmd_parquet, "parquet", "inspect, scan and rewrite Parquet files", usage, cmd_run, 45, NULL)

typedef struct opts {
    const char *sub, *file, *out;
    const char *columns, *format, *where, *codec;
    long long limit, level, rg_rows, rg_bytes, page_bytes, dict_bytes, threads;
    int no_dict;
} opts;

static int parse_num(const char *flag, const char *s, long long *out)
{
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0)
        return kiln_cli_usage_error("parquet", "%s wants a non-negative number, got \"%s\"", flag, s);
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->limit = -1;
    o->format = "csv";
    int npos = 0;
    const char *pos[3] = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define NEEDVAL()                                                                          \
    do {                                                                                   \
        if (!val)                                                                          \
            return kiln_cli_usage_error("parquet", "%s needs a value", a);                 \
        i++;                                                                               \
    } while (0)
        if (!strcmp(a, "--columns")) { NEEDVAL(); o->columns = val; }
        else if (!strcmp(a, "--format")) { NEEDVAL(); o->format = val; }
        else if (!strcmp(a, "--where")) { NEEDVAL(); o->where = val; }
        else if (!strcmp(a, "--codec")) { NEEDVAL(); o->codec = val; }
        else if (!strcmp(a, "--limit")) { NEEDVAL(); if (parse_num(a, val, &o->limit)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--level")) { NEEDVAL(); if (parse_num(a, val, &o->level)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--row-group-rows")) { NEEDVAL(); if (parse_num(a, val, &o->rg_rows)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--row-group-bytes")) { NEEDVAL(); if (parse_num(a, val, &o->rg_bytes)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--page-bytes")) { NEEDVAL(); if (parse_num(a, val, &o->page_bytes)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--dict-max-bytes")) { NEEDVAL(); if (parse_num(a, val, &o->dict_bytes)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--threads")) { NEEDVAL(); if (parse_num(a, val, &o->threads)) return KILN_EXIT_USAGE; }
        else if (!strcmp(a, "--no-dictionary")) o->no_dict = 1;
        else if (a[0] == '-' && a[1])
            return kiln_cli_usage_error("parquet", "unknown option %s", a);
        else if (npos < 3)
            pos[npos++] = a;
        else
            return kiln_cli_usage_error("parquet", "too many arguments");
#undef NEEDVAL
    }
    if (npos < 2)
        return kiln_cli_usage_error("parquet", "expected a subcommand and a FILE");
    o->sub = pos[0];
    o->file = pos[1];
    o->out = pos[2];
    if (!strcmp(o->sub, "rewrite") ? !o->out : !!o->out)
        return kiln_cli_usage_error("parquet", "%s takes %s", o->sub, !strcmp(o->sub, "rewrite") ? "FILE OUT" : "one FILE");
    if (strcmp(o->format, "csv") && strcmp(o->format, "ndjson"))
        return kiln_cli_usage_error("parquet", "--format must be csv or ndjson");
    return 0;
}

/* ------------------------------------------------------------ schema / meta */

static const char *codec_name(int c) { return kiln_pq_codec_name(c); }

static int do_schema(kiln_parquet_reader *r)
{
    printf("%-4s %-32s %-8s %-21s %-24s %-12s %s\n", "#", "name", "field_id", "physical", "logical", "kiln_type", "repetition");
    for (int i = 0; i < kiln_parquet_reader_ncolumns(r); i++) {
        const kiln_parquet_column *c = kiln_parquet_reader_column(r, i);
        char fid[16] = "-";
        if (c->field_id)
            snprintf(fid, sizeof fid, "%d", c->field_id);
        char phys[48];
        if (c->physical == KILN_PQT_FLBA)
            snprintf(phys, sizeof phys, "FIXED_LEN_BYTE_ARRAY(%d)", c->type_length);
        else
            snprintf(phys, sizeof phys, "%s", kiln_parquet_type_name(c->physical));
        char kt[32];
        if (c->type == KILN_T_DECIMAL)
            snprintf(kt, sizeof kt, "decimal(%d,%d)", c->precision, c->scale);
        else
            snprintf(kt, sizeof kt, "%s", kiln_type_name(c->type));
        printf("%-4d %-32s %-8s %-21s %-24s %-12s %s\n", i, c->name, fid, phys, c->logical[0] ? c->logical : "-", kt,
               c->optional ? "optional" : "required");
    }
    return 0;
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
            printf("  %s: %s", kiln_parquet_reader_column(r, c)->name, codec_name(ci.codec));
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

/* ------------------------------------------------------------ cat / scan */

static int csv_field(kiln_buf *o, const char *s, size_t n, kiln_err *err)
{
    int quote = 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote)
        return kiln_buf_append(o, s, n, err);
    int rc = kiln_buf_putc(o, '"', err);
    for (size_t i = 0; i < n && !rc; i++)
        rc = s[i] == '"' ? kiln_buf_append(o, "\"\"", 2, err) : kiln_buf_putc(o, s[i], err);
    return rc ? rc : kiln_buf_putc(o, '"', err);
}

static int json_string(kiln_buf *o, const char *s, size_t n, kiln_err *err)
{
    int rc = kiln_buf_putc(o, '"', err);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            rc = kiln_buf_printf(o, err, "\\%c", ch);
        else if (ch == '\n')
            rc = kiln_buf_append(o, "\\n", 2, err);
        else if (ch == '\t')
            rc = kiln_buf_append(o, "\\t", 2, err);
        else if (ch == '\r')
            rc = kiln_buf_append(o, "\\r", 2, err);
        else if (ch < 0x20)
            rc = kiln_buf_printf(o, err, "\\u%04x", ch);
        else
            rc = kiln_buf_putc(o, (char)ch, err);
    }
    return rc ? rc : kiln_buf_putc(o, '"', err);
}

/* *appended: the predicate column was added to the projection only to
 * filter rows (not shown). */
static int setup_reader(kiln_parquet_reader *r, const opts *o, kiln_parquet_pred *pred, int *pred_col,
                        int *appended, kiln_err *err)
{
    int rc;
    *pred_col = -1;
    *appended = 0;
    if (o->columns && (rc = kiln_parquet_reader_project_names(r, o->columns, err)))
        return rc;
    if (o->where) {
        if ((rc = kiln_parquet_pred_parse(pred, r, o->where, err)))
            return rc;
        if ((rc = kiln_parquet_reader_filter(r, pred, err)))
            return rc;
        const kiln_schema *s = kiln_parquet_reader_schema(r);
        const char *name = kiln_parquet_reader_column(r, pred->col)->name;
        *pred_col = kiln_schema_find(s, name);
        if (*pred_col < 0) { /* filter on a column not shown: read it too */
            int n = s->ncols + 1;
            int *idx = kiln_malloc(sizeof(int) * (size_t)n);
            if (!idx)
                return KILN_OOM(err);
            for (int i = 0; i < s->ncols; i++)
                idx[i] = kiln_parquet_reader_find(r, s->cols[i].name);
            idx[n - 1] = pred->col;
            rc = kiln_parquet_reader_project(r, idx, n, err);
            kiln_free(idx);
            if (rc)
                return rc;
            *pred_col = n - 1;
            *appended = 1;
        }
    }
    return 0;
}

static int do_cat(kiln_parquet_reader *r, const opts *o, kiln_err *err)
{
    kiln_parquet_pred pred;
    int pred_col, rc, appended;
    if ((rc = setup_reader(r, o, &pred, &pred_col, &appended, err)))
        return rc;
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    int shown = appended ? s->ncols - 1 : s->ncols;
    int csv = !strcmp(o->format, "csv");
    kiln_buf line, val;
    kiln_buf_init(&line, 0);
    kiln_buf_init(&val, 0);
    if (csv) {
        for (int c = 0; c < shown && !rc; c++) {
            if (c)
                rc = kiln_buf_putc(&line, ',', err);
            if (!rc)
                rc = csv_field(&line, s->cols[c].name, strlen(s->cols[c].name), err);
        }
        if (!rc)
            rc = kiln_buf_putc(&line, '\n', err);
        fwrite(line.data, 1, line.len, stdout);
    }
    long long printed = 0;
    const kiln_batch *b;
    while (!rc && (o->limit < 0 || printed < o->limit)) {
        rc = kiln_parquet_reader_next(r, &b, err);
        if (rc <= 0)
            break;
        rc = 0;
        for (size_t i = 0; i < b->nrows && !rc && (o->limit < 0 || printed < o->limit); i++) {
            if (pred_col >= 0 && !kiln_parquet_pred_match(&pred, b, pred_col, i))
                continue;
            kiln_buf_reset(&line);
            if (!csv)
                rc = kiln_buf_putc(&line, '{', err);
            for (int c = 0; c < shown && !rc; c++) {
                kiln_type t = b->cols[c].type;
                if (c)
                    rc = kiln_buf_putc(&line, ',', err);
                if (!csv && !rc) {
                    rc = json_string(&line, s->cols[c].name, strlen(s->cols[c].name), err);
                    if (!rc)
                        rc = kiln_buf_putc(&line, ':', err);
                }
                if (rc)
                    break;
                if (kiln_batch_is_null(b, c, i)) {
                    if (!csv)
                        rc = kiln_buf_append(&line, "null", 4, err);
                    continue;
                }
                kiln_buf_reset(&val);
                if ((rc = kiln_parquet_format_value(&val, b, c, i, err)))
                    break;
                if (csv) {
                    rc = csv_field(&line, val.data, val.len, err);
                } else {
                    int number = t == KILN_T_INT32 || t == KILN_T_INT64 || t == KILN_T_DECIMAL || t == KILN_T_BOOL ||
                                 ((t == KILN_T_FLOAT || t == KILN_T_DOUBLE) &&
                                  isfinite(t == KILN_T_FLOAT ? b->cols[c].v.f32[i] : b->cols[c].v.f64[i]));
                    rc = number ? kiln_buf_append(&line, val.data, val.len, err)
                                : json_string(&line, val.data, val.len, err);
                }
            }
            if (!rc && !csv)
                rc = kiln_buf_putc(&line, '}', err);
            if (!rc)
                rc = kiln_buf_putc(&line, '\n', err);
            if (!rc)
                fwrite(line.data, 1, line.len, stdout);
            printed++;
        }
    }
    kiln_buf_free(&line);
    kiln_buf_free(&val);
    return rc < 0 ? rc : 0;
}

/* A scan worker: its own reader of the file, its own sums. Workers share
 * the row groups through the reader's claim hook (an atomic flag per row
 * group), so a file with a few heavy columns still keeps every core busy:
 * each thread decodes whole row groups, as DuckDB does. */
typedef struct scan_part {
    const opts *o;
    kiln_parquet_reader *r;
    uint8_t *claimed;            /* shared: one flag per row group */
    double *fsum;
    int64_t *isum, *nulls;
    long long rows;
    int rc;
    kiln_err err;
} scan_part;

static int claim_rg(void *ctx, int rg)
{
    scan_part *p = ctx;
    return __atomic_exchange_n(&p->claimed[rg], 1, __ATOMIC_ACQ_REL) == 0;
}

static void scan_worker(void *arg, int worker_index)
{
    (void)worker_index;
    scan_part *p = arg;
    kiln_parquet_pred pred;
    int pred_col, appended;
    kiln_parquet_reader *r = p->r;
    if ((p->rc = setup_reader(r, p->o, &pred, &pred_col, &appended, &p->err)))
        return;
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    p->fsum = kiln_calloc((size_t)s->ncols, sizeof(double));
    p->isum = kiln_calloc((size_t)s->ncols, sizeof(int64_t));
    p->nulls = kiln_calloc((size_t)s->ncols, sizeof(int64_t));
    if (!p->fsum || !p->isum || !p->nulls) {
        p->rc = kiln_err_set(&p->err, KILN_ENOMEM, "out of memory");
        return;
    }
    const kiln_batch *b;
    int rc;
    while ((rc = kiln_parquet_reader_next(r, &b, &p->err)) == 1) {
        for (size_t i = 0; i < b->nrows; i++) {
            if (pred_col >= 0 && !kiln_parquet_pred_match(&pred, b, pred_col, i))
                continue;
            p->rows++;
            for (int c = 0; c < s->ncols; c++) {
                const kiln_col *col = &b->cols[c];
                if (kiln_batch_is_null(b, c, i)) {
                    p->nulls[c]++;
                    continue;
                }
                switch (col->type) {
                case KILN_T_BOOL: p->isum[c] += col->v.b[i]; break;
                case KILN_T_INT32: case KILN_T_DATE: p->isum[c] += col->v.i32[i]; break;
                case KILN_T_FLOAT: p->fsum[c] += col->v.f32[i]; break;
                case KILN_T_DOUBLE: p->fsum[c] += col->v.f64[i]; break;
                case KILN_T_STRING: case KILN_T_BINARY: p->isum[c] += col->offsets[i + 1] - col->offsets[i]; break;
                default: p->isum[c] = (int64_t)((uint64_t)p->isum[c] + (uint64_t)col->v.i64[i]);
                }
            }
        }
    }
    p->rc = rc < 0 ? rc : 0;
}

static int do_scan(kiln_parquet_reader *r, const opts *o, kiln_err *err)
{
    int nrg = kiln_parquet_reader_num_row_groups(r);
    int n = (int)o->threads;
    if (n > nrg)
        n = nrg;
    if (n < 1)
        n = 1;
    scan_part *parts = kiln_calloc((size_t)n, sizeof *parts);
    uint8_t *claimed = kiln_calloc((size_t)(nrg ? nrg : 1), 1);
    kiln_pool *pool = NULL;
    int rc = 0;
    if (!parts || !claimed) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* worker 0 uses the caller's reader; the others open their own */
    for (int i = 0; i < n; i++) {
        parts[i].o = o;
        parts[i].claimed = claimed;
        if (i == 0) {
            parts[i].r = r;
        } else {
            kiln_parquet_read_opts ro = {0, 1};
            if ((rc = kiln_parquet_reader_open(&parts[i].r, o->file, &ro, err)))
                goto done;
        }
        if (n > 1)
            kiln_parquet_reader_claim(parts[i].r, claim_rg, &parts[i]);
    }
    double t0 = kiln_mono_seconds();
    if (n == 1) {
        scan_worker(&parts[0], 0);
    } else {
        if ((rc = kiln_pool_new(&pool, n, err)))
            goto done;
        for (int i = 0; i < n; i++)
            if ((rc = kiln_pool_submit(pool, scan_worker, &parts[i], err))) {
                kiln_pool_wait(pool);
                goto done;
            }
        kiln_pool_wait(pool);
    }
    double secs = kiln_mono_seconds() - t0;
    for (int i = 0; i < n; i++)
        if (parts[i].rc) {
            *err = parts[i].err;
            rc = parts[i].rc;
            goto done;
        }
    const kiln_schema *s = kiln_parquet_reader_schema(r);
    long long rows = 0;
    int pruned = 0;
    for (int i = 0; i < n; i++) {
        rows += parts[i].rows;
        pruned += kiln_parquet_reader_pruned(parts[i].r);
        for (int c = 0; i && c < s->ncols; c++) {
            parts[0].fsum[c] += parts[i].fsum[c];
            parts[0].isum[c] = (int64_t)((uint64_t)parts[0].isum[c] + (uint64_t)parts[i].isum[c]);
            parts[0].nulls[c] += parts[i].nulls[c];
        }
    }
    printf("rows: %lld\n", rows);
    printf("row_groups: %d, pruned: %d\n", nrg, pruned);
    for (int c = 0; c < s->ncols; c++) {
        kiln_type t = s->cols[c].type;
        const char *name = s->cols[c].name;
        if (t == KILN_T_FLOAT || t == KILN_T_DOUBLE)
            printf("%s: sum %.17g, nulls %lld\n", name, parts[0].fsum[c], (long long)parts[0].nulls[c]);
        else if (t == KILN_T_STRING || t == KILN_T_BINARY)
            printf("%s: bytes %lld, nulls %lld\n", name, (long long)parts[0].isum[c], (long long)parts[0].nulls[c]);
        else
            printf("%s: sum %lld, nulls %lld\n", name, (long long)parts[0].isum[c], (long long)parts[0].nulls[c]);
    }
    fprintf(stderr, "scan: %.3f s (%d thread%s)\n", secs, n, n == 1 ? "" : "s");
done:
    kiln_pool_free(pool);
    for (int i = 0; parts && i < n; i++) {
        if (i)
            kiln_parquet_reader_free(parts[i].r);
        kiln_free(parts[i].fsum);
        kiln_free(parts[i].isum);
        kiln_free(parts[i].nulls);
    }
    kiln_free(parts);
    kiln_free(claimed);
    return rc;
}

/* rewrite with threads: a producer thread decodes the next batch (into one
 * of two batches) while the writer encodes the previous one, so reading the
 * source does not stall the writer's pool. */
typedef struct rw_pipe {
    kiln_parquet_reader *r;
    kiln_batch *slot[2];
    int state[2];          /* 0 free, 1 full, 2 end (or error) */
    int stop;
    int rc;
    kiln_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} rw_pipe;

static void *rw_producer(void *arg)
{
    rw_pipe *p = arg;
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&p->mu);
        while (p->state[i] != 0 && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        int stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
        kiln_err e = {0};
        int rc = kiln_parquet_reader_next_into(p->r, p->slot[i], &e);
        pthread_mutex_lock(&p->mu);
        if (rc == 1) {
            p->state[i] = 1;
        } else {
            p->state[i] = 2;
            p->rc = rc < 0 ? rc : 0;
            if (rc < 0)
                p->err = e;
        }
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc != 1)
            return NULL;
    }
}

/* Write every batch of r to sink (batches re-labelled with schema ws). */
static int rewrite_pipelined(kiln_parquet_reader *r, kiln_sink *sink, const kiln_schema *ws, kiln_err *err)
{
    rw_pipe p;
    memset(&p, 0, sizeof p);
    p.r = r;
    int rc;
    if ((rc = kiln_parquet_reader_batch_new(r, &p.slot[0], err)) ||
        (rc = kiln_parquet_reader_batch_new(r, &p.slot[1], err))) {
        kiln_batch_free(p.slot[0]);
        return rc;
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    if (pthread_create(&th, NULL, rw_producer, &p) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "cannot start a reader thread");
        goto done;
    }
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&p.mu);
        while (p.state[i] == 0)
            pthread_cond_wait(&p.cv, &p.mu);
        int st = p.state[i];
        pthread_mutex_unlock(&p.mu);
        if (st == 2) {
            if (p.rc) {
                *err = p.err;
                rc = p.rc;
            }
            break;
        }
        kiln_batch view = *p.slot[i];
        view.schema = ws;
        rc = kiln_sink_write(sink, &view, err);
        pthread_mutex_lock(&p.mu);
        p.state[i] = 0;
        if (rc)
            p.stop = 1;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        if (rc)
            break;
    }
    pthread_join(th, NULL);
done:
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
    kiln_batch_free(p.slot[0]);
    kiln_batch_free(p.slot[1]);
    return rc;
}

static int do_rewrite(kiln_parquet_reader *r, const opts *o, kiln_err *err)
{
    kiln_parquet_write_opts wo;
    kiln_parquet_write_opts_init(&wo);
    int rc = 0;
    if (o->codec && (rc = kiln_pq_codec_parse(&wo.codec, o->codec, err)))
        return rc;
    wo.level = (int)o->level;
    wo.no_dictionary = o->no_dict;
    wo.row_group_rows = (uint64_t)o->rg_rows;
    wo.row_group_bytes = (uint64_t)o->rg_bytes;
    wo.page_bytes = (size_t)o->page_bytes;
    wo.dict_max_bytes = (size_t)o->dict_bytes;
    wo.threads = (int)o->threads;
    int nkv = kiln_parquet_reader_nkv(r);
    kiln_parquet_kv *kv = kiln_calloc((size_t)(nkv ? nkv : 1), sizeof *kv);
    if (!kv)
        return KILN_OOM(err);
    for (int i = 0; i < nkv; i++)
        kv[i].key = kiln_parquet_reader_kv(r, i, &kv[i].value);
    wo.kv = kv;
    wo.nkv = nkv;
    /* field ids: keep the file's; number the columns 1.. when it has none */
    const kiln_schema *fs = kiln_parquet_reader_schema(r);
    kiln_column_def *defs = kiln_calloc((size_t)fs->ncols, sizeof *defs);
    kiln_sink *sink = NULL;
    if (!defs) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < fs->ncols; i++) {
        defs[i] = fs->cols[i];
        if (defs[i].field_id <= 0)
            defs[i].field_id = i + 1;
    }
    kiln_schema ws = {fs->ncols, defs};
    kiln_parquet_file_stats st;
    memset(&st, 0, sizeof st);
    if ((rc = kiln_parquet_sink_new(&sink, o->out, &ws, &wo, &st, err)))
        goto done;
    const kiln_batch *b;
    double t0 = kiln_mono_seconds();
    if (o->threads > 1) {
        rc = rewrite_pipelined(r, sink, &ws, err);
    } else {
        while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
            kiln_batch view = *b;
            view.schema = &ws;
            if ((rc = kiln_sink_write(sink, &view, err)))
                break;
        }
    }
    if (rc == 0)
        rc = kiln_sink_commit(sink, err);
    else
        kiln_sink_abort(sink);
    if (rc == 0) {
        fprintf(stderr, "rewrite: %llu rows, %llu bytes, %zu row groups in %.3f s\n",
                (unsigned long long)st.record_count, (unsigned long long)st.file_size_in_bytes, st.nsplits,
                kiln_mono_seconds() - t0);
        kiln_parquet_file_stats_free(&st);
    }
done:
    kiln_sink_free(sink);
    kiln_free(defs);
    kiln_free(kv);
    return rc;
}

static int cmd_run(int argc, char **argv)
{
    if (kiln_cli_wants_help(argc, argv))
        return kiln_cli_print_help(&cmd_parquet);
    opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (strcmp(o.sub, "schema") && strcmp(o.sub, "meta") && strcmp(o.sub, "cat") && strcmp(o.sub, "scan") &&
        strcmp(o.sub, "rewrite"))
        return kiln_cli_usage_error("parquet", "unknown subcommand \"%s\"", o.sub);
    kiln_err err = {0};
    kiln_parquet_reader *r = NULL;
    if (o.threads == 0)
        o.threads = kiln_ncpus();
    if (o.threads > 64)
        o.threads = 64;
    kiln_parquet_read_opts ro = {0};
    /* rewrite: the writer gets the threads; the reader keeps up on one.
     * scan: one reader per thread, sharing the row groups (do_scan) */
    ro.threads = 1;
    if ((rc = kiln_parquet_reader_open(&r, o.file, &ro, &err)))
        return kiln_cli_fail(&err);
    if (!strcmp(o.sub, "schema"))
        rc = do_schema(r);
    else if (!strcmp(o.sub, "meta"))
        rc = do_meta(r, &err);
    else if (!strcmp(o.sub, "cat"))
        rc = do_cat(r, &o, &err);
    else if (!strcmp(o.sub, "scan"))
        rc = do_scan(r, &o, &err);
    else
        rc = do_rewrite(r, &o, &err);
    kiln_parquet_reader_free(r);
    fflush(stdout);
    return rc ? kiln_cli_fail(&err) : 0;
}
