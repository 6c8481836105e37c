/*
 * cmd_table_data.c - the data half of `kiln table`: scan, files,
 * remove-orphans (wired into cmd_table.c through table_cli.h's weak
 * symbols) and the write subcommands append, overwrite, merge, delete
 * (kiln_table_cmd_append & co., to be added as rows of cmd_table.c's SUBS).
 *
 * Output of scan: CSV with a header (default) or NDJSON, one row per line;
 * dates and timestamps in ISO-8601, decimals with their scale, nulls as an
 * empty CSV field / JSON null.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "format/parquet/parquet.h"
#include "table_cli.h"

/* ------------------------------------------------------------ flag parsing */

typedef struct dflag {
    const char *name;
    int takes_value;
    const char *value;
    int present;
} dflag;

static dflag *find_flag(dflag *f, const char *name)
{
    for (; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

/* Parse argv[1..]: flags (--x V, --x=V) and up to npos positionals. */
static int parse_args(const char *sub, int argc, char **argv, dflag *flags, const char **pos, int npos, int *got)
{
    *got = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a, '=');
            char name[64];
            size_t n = eq ? (size_t)(eq - a) : strlen(a);
            if (n >= sizeof name)
                return kiln_table_usage(sub, "option too long: %s", a);
            memcpy(name, a, n);
            name[n] = 0;
            dflag *f = find_flag(flags, name);
            if (!f)
                return kiln_table_usage(sub, "unknown option '%s'", name);
            f->present = 1;
            if (f->takes_value) {
                if (eq)
                    f->value = eq + 1;
                else if (i + 1 < argc)
                    f->value = argv[++i];
                else
                    return kiln_table_usage(sub, "%s needs a value", name);
            } else if (eq) {
                return kiln_table_usage(sub, "%s takes no value", name);
            }
            continue;
        }
        if (*got >= npos)
            return kiln_table_usage(sub, "unexpected argument '%s'", a);
        pos[(*got)++] = a;
    }
    return 0;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

/* ------------------------------------------------------------ scan */

static const char scan_usage[] =
    "usage: kiln table scan TABLE [--columns A,B] [--where PRED] [--as-of REF] [--ref NAME]\n"
    "                           [--limit N] [--format csv|ndjson] [--stats]\n"
    "       kiln table scan --metadata FILE [--remap FROM=TO] [same options]\n"
    "\n"
    "Print the rows of a table (after position and equality deletes).\n"
    "\n"
    "options:\n"
    "  --columns A,B      columns to print, in this order (default: all)\n"
    "  --where PRED       AND of: col = v, col != v, <, <=, >, >=, col between a and b,\n"
    "                     col is [not] null; prunes partitions, files and Parquet\n"
    "                     row groups by their statistics, then filters rows\n"
    "  --as-of REF        snapshot id, branch/tag name or time (ISO, date, ms:N)\n"
    "  --ref NAME         branch or tag to read (default main)\n"
    "  --limit N          stop after N rows\n"
    "  --format F         csv (default, with a header) or ndjson\n"
    "  --stats            print planning figures (files pruned) and the row groups of\n"
    "                     the files read (total, skipped by column stats) to stderr as JSON\n"
    "  --metadata FILE    read the table from a metadata file instead of the catalog\n"
    "  --remap FROM=TO    replace the prefix FROM of paths stored in the metadata\n"
    "                     with TO (tables moved after they were written)\n"
    "  -h, --help         show this help\n";

static int put_csv_field(kiln_buf *o, const char *s, size_t n, kiln_err *err)
{
    int quote = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            quote = 1;
    if (!quote)
        return kiln_buf_append(o, s, n, err);
    int rc = kiln_buf_putc(o, '"', err);
    for (size_t i = 0; !rc && i < n; i++)
        rc = s[i] == '"' ? kiln_buf_append(o, "\"\"", 2, err) : kiln_buf_putc(o, s[i], err);
    return rc ? rc : kiln_buf_putc(o, '"', err);
}

static int put_json_str(kiln_buf *o, const char *s, size_t n, kiln_err *err)
{
    int rc = kiln_buf_putc(o, '"', err);
    for (size_t i = 0; !rc && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = kiln_buf_printf(o, err, "\\%c", c);
        else if (c < 0x20)
            rc = kiln_buf_printf(o, err, "\\u%04x", c);
        else
            rc = kiln_buf_putc(o, (char)c, err);
    }
    return rc ? rc : kiln_buf_putc(o, '"', err);
}

static int format_row(kiln_buf *line, kiln_buf *cellb, const kiln_batch *b, size_t row, int ndjson, kiln_err *err)
{
    int rc = 0;
    const kiln_schema *s = b->schema;
    if (ndjson)
        rc = kiln_buf_putc(line, '{', err);
    for (int c = 0; !rc && c < s->ncols; c++) {
        if (ndjson) {
            if (c)
                rc = kiln_buf_putc(line, ',', err);
            if (!rc) rc = put_json_str(line, s->cols[c].name, strlen(s->cols[c].name), err);
            if (!rc) rc = kiln_buf_putc(line, ':', err);
        } else if (c) {
            rc = kiln_buf_putc(line, ',', err);
        }
        if (rc)
            break;
        if (kiln_batch_is_null(b, c, row)) {
            if (ndjson)
                rc = kiln_buf_append(line, "null", 4, err);
            continue;
        }
        kiln_buf_reset(cellb);
        if ((rc = kiln_parquet_format_value(cellb, b, c, row, err)))
            break;
        kiln_type t = b->cols[c].type;
        int numeric = t == KILN_T_INT32 || t == KILN_T_INT64 || t == KILN_T_FLOAT || t == KILN_T_DOUBLE ||
                      t == KILN_T_BOOL;
        if (ndjson) {
            const char *v = cellb->data ? cellb->data : "";
            int finite = numeric && strcmp(v, "nan") && strcmp(v, "inf") && strcmp(v, "-inf");
            rc = finite ? kiln_buf_append(line, v, cellb->len, err) : put_json_str(line, v, cellb->len, err);
        } else {
            rc = put_csv_field(line, cellb->data ? cellb->data : "", cellb->len, err);
        }
    }
    if (!rc && ndjson)
        rc = kiln_buf_putc(line, '}', err);
    return rc ? rc : kiln_buf_putc(line, '\n', err);
}

int kiln_table_cmd_scan(kiln_table_cli *cli, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(scan_usage, stdout);
        return 0;
    }
    dflag flags[] = {{"--columns", 1, 0, 0}, {"--where", 1, 0, 0},  {"--as-of", 1, 0, 0},
                     {"--ref", 1, 0, 0},     {"--limit", 1, 0, 0},  {"--format", 1, 0, 0},
                     {"--stats", 0, 0, 0},   {"--metadata", 1, 0, 0}, {"--remap", 1, 0, 0},
                     {"--json", 0, 0, 0},    {NULL, 0, 0, 0}};
    const char *pos[1] = {NULL};
    int npos, rc = parse_args("scan", argc, argv, flags, pos, 1, &npos);
    if (rc)
        return rc;
    const char *metadata = find_flag(flags, "--metadata")->value;
    if (!npos && !metadata)
        return kiln_table_usage("scan", "which table? (kiln table scan NS.TABLE, or --metadata FILE)");
    const char *fmt = find_flag(flags, "--format")->value;
    int ndjson = find_flag(flags, "--json")->present || (fmt && !strcmp(fmt, "ndjson"));
    if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "ndjson"))
        return kiln_table_usage("scan", "--format %s: use csv or ndjson", fmt);
    int64_t limit = -1;
    const char *lv = find_flag(flags, "--limit")->value;
    if (lv) {
        char *end;
        limit = strtoll(lv, &end, 10);
        if (*end || limit < 0)
            return kiln_table_usage("scan", "--limit %s: not a row count", lv);
    }
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.columns = find_flag(flags, "--columns")->value;
    o.where = find_flag(flags, "--where")->value;
    o.as_of = find_flag(flags, "--as-of")->value;
    o.ref = find_flag(flags, "--ref")->value;
    char *remap = NULL;
    const char *rv = find_flag(flags, "--remap")->value;
    if (rv) {
        const char *eq = strchr(rv, '=');
        if (!eq)
            return kiln_table_usage("scan", "--remap %s: use FROM=TO", rv);
        remap = kiln_strdup(rv);
        remap[eq - rv] = 0;
        o.remap.from = remap;
        o.remap.to = remap + (eq - rv) + 1;
    }
    kiln_err err = {0};
    kiln_lake_table *t = NULL;
    kiln_lake_meta *meta = NULL;
    kiln_lake_scan *s = NULL;
    kiln_buf line, cellb;
    kiln_buf_init(&line, 0);
    kiln_buf_init(&cellb, 0);
    if (metadata) {
        if (kiln_lake_meta_read(&meta, metadata, &err) != 0) {
            rc = kiln_cli_fail(&err);
            goto done;
        }
        rc = kiln_lake_scan_open_meta(&s, meta, &o, &err);
    } else {
        if ((rc = kiln_table_open(cli, pos[0], &t)))
            goto done;
        rc = kiln_lake_scan_open(&s, t, &o, &err);
    }
    if (rc) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    const kiln_schema *sc = kiln_lake_scan_schema(s);
    if (!ndjson) {
        for (int c = 0; c < sc->ncols; c++) {
            if (c)
                kiln_buf_putc(&line, ',', &err);
            put_csv_field(&line, sc->cols[c].name, strlen(sc->cols[c].name), &err);
        }
        kiln_buf_putc(&line, '\n', &err);
        fwrite(line.data, 1, line.len, stdout);
    }
    int64_t printed = 0;
    const kiln_batch *b;
    while (limit < 0 || printed < limit) {
        int r = kiln_lake_scan_next(s, &b, &err);
        if (r < 0) {
            rc = kiln_cli_fail(&err);
            goto done;
        }
        if (r == 0)
            break;
        for (size_t row = 0; row < b->nrows && (limit < 0 || printed < limit); row++) {
            kiln_buf_reset(&line);
            if (format_row(&line, &cellb, b, row, ndjson, &err) != 0) {
                rc = kiln_cli_fail(&err);
                goto done;
            }
            fwrite(line.data, 1, line.len, stdout);
            printed++;
        }
    }
    if (find_flag(flags, "--stats")->present) {
        const kiln_lake_plan_stats *ps = kiln_lake_scan_plan_stats(s);
        fprintf(stderr,
                "{\"snapshot_id\":%" PRId64 ",\"manifests\":%zu,\"manifests_pruned\":%zu,\"data_files\":%zu,"
                "\"files_pruned_partition\":%zu,\"files_pruned_stats\":%zu,\"delete_files\":%zu,"
                "\"row_groups\":%zu,\"row_groups_skipped\":%zu,\"rows\":%" PRId64 "}\n",
                kiln_lake_scan_snapshot_id(s), ps->manifests_total, ps->manifests_pruned, ps->files_total,
                ps->files_pruned_partition, ps->files_pruned_stats, ps->delete_files, ps->row_groups_total,
                ps->row_groups_skipped, printed);
    }
    rc = 0;
done:
    fflush(stdout);
    kiln_lake_scan_free(s);
    kiln_lake_meta_free(meta);
    kiln_lake_table_free(t);
    kiln_free(remap);
    kiln_buf_free(&line);
    kiln_buf_free(&cellb);
    return rc;
}

/* ------------------------------------------------------------ files */

static const char files_usage[] =
    "usage: kiln table files TABLE [--snapshot REF] [--json]\n"
    "\n"
    "List the live data and delete files of a snapshot (default: main's head):\n"
    "content, record count, size, partition and path.\n"
    "\n"
    "options:\n"
    "  --snapshot REF     snapshot id, branch/tag name or time\n"
    "  --json             one JSON object per file (NDJSON)\n"
    "  -h, --help         show this help\n";

typedef struct files_ctx {
    int json;
    const kiln_lake_view *view;
    kiln_buf buf;
    size_t n;
} files_ctx;

static int files_cb(void *ctx, const kiln_lake_entry *e)
{
    files_ctx *fc = ctx;
    kiln_err err = {0};
    static const char *kinds[] = {"data", "position-deletes", "equality-deletes"};
    const char *kind = e->df.content >= 0 && e->df.content <= 2 ? kinds[e->df.content] : "?";
    kiln_buf_reset(&fc->buf);
    const kiln_lake_pspec *spec = kiln_lake_view_spec(fc->view, e->df.spec_id);
    for (int k = 0; spec && k < spec->nfields && k < e->df.npart; k++) {
        kiln_buf_printf(&fc->buf, &err, "%s%s=", k ? "/" : "", spec->fields[k].name);
        kiln_lake_pvalue_text(&spec->fields[k], &e->df.partition[k], &fc->buf, &err);
    }
    const char *part = fc->buf.data ? fc->buf.data : "";
    if (fc->json) {
        printf("{\"content\":\"%s\",\"record_count\":%" PRId64 ",\"file_size_in_bytes\":%" PRId64
               ",\"sequence_number\":%" PRId64 ",\"spec_id\":%d,\"partition\":",
               kind, e->df.record_count, e->df.file_size_in_bytes, e->seq, e->df.spec_id);
        kiln_table_json_str(stdout, part);
        printf(",\"file_path\":");
        kiln_table_json_str(stdout, e->df.file_path);
        printf("}\n");
    } else {
        printf("%s\t%" PRId64 "\t%" PRId64 "\t%s\t%s\n", kind, e->df.record_count, e->df.file_size_in_bytes,
               *part ? part : "-", e->df.file_path);
    }
    fc->n++;
    return 0;
}

int kiln_table_cmd_files(kiln_table_cli *cli, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(files_usage, stdout);
        return 0;
    }
    dflag flags[] = {{"--snapshot", 1, 0, 0}, {"--json", 0, 0, 0}, {NULL, 0, 0, 0}};
    const char *pos[1] = {NULL};
    int npos, rc = parse_args("files", argc, argv, flags, pos, 1, &npos);
    if (rc)
        return rc;
    if (!npos)
        return kiln_table_usage("files", "which table?");
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, pos[0], &t)))
        return rc;
    kiln_err err = {0};
    int64_t sid = -1;
    kiln_arena *a = kiln_arena_new(4096);
    kiln_lake_view view;
    files_ctx fc;
    memset(&fc, 0, sizeof fc);
    kiln_buf_init(&fc.buf, 0);
    fc.json = find_flag(flags, "--json")->present;
    fc.view = &view;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    if (kiln_lake_meta_resolve(m, find_flag(flags, "--snapshot")->value, &sid, &err) ||
        kiln_lake_view_from_meta(&view, a, m, sid, NULL, &err) ||
        (sid >= 0 && kiln_lake_files_list(t, sid, files_cb, &fc, &err)))
        rc = kiln_cli_fail(&err);
    kiln_buf_free(&fc.buf);
    kiln_arena_free(a);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ remove-orphans */

static const char orphans_usage[] =
    "usage: kiln table remove-orphans TABLE [--older-than TIME] [--dry-run] [--json]\n"
    "\n"
    "Delete files under the table directory that no snapshot, manifest list,\n"
    "manifest or metadata file references (left by crashed or retried commits).\n"
    "Only files older than --older-than are touched, so a commit in flight is safe.\n"
    "\n"
    "options:\n"
    "  --older-than TIME  ISO time, date, ms:N or an age (3d, 12h, 30m, 0s);\n"
    "                     default 3d\n"
    "  --dry-run          list the orphans, delete nothing\n"
    "  --json             one JSON object per file, then a summary object\n"
    "  -h, --help         show this help\n";

typedef struct orphan_ctx {
    int json, dry;
    int64_t bytes;
} orphan_ctx;

static int orphan_cb(void *ctx, const char *path, int64_t size)
{
    orphan_ctx *oc = ctx;
    oc->bytes += size;
    if (oc->json) {
        printf("{\"path\":");
        kiln_table_json_str(stdout, path);
        printf(",\"size\":%" PRId64 ",\"deleted\":%s}\n", size, oc->dry ? "false" : "true");
    } else {
        printf("%s %s\n", oc->dry ? "orphan" : "deleted", path);
    }
    return 0;
}

int kiln_table_cmd_remove_orphans(kiln_table_cli *cli, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(orphans_usage, stdout);
        return 0;
    }
    dflag flags[] = {{"--older-than", 1, 0, 0}, {"--dry-run", 0, 0, 0}, {"--json", 0, 0, 0}, {NULL, 0, 0, 0}};
    const char *pos[1] = {NULL};
    int npos, rc = parse_args("remove-orphans", argc, argv, flags, pos, 1, &npos);
    if (rc)
        return rc;
    if (!npos)
        return kiln_table_usage("remove-orphans", "which table?");
    kiln_err err = {0};
    kiln_lake_orphan_opts o = {0, 0};
    o.dry_run = find_flag(flags, "--dry-run")->present;
    const char *ov = find_flag(flags, "--older-than")->value;
    if (ov && kiln_table_parse_time_ms(ov, &o.older_than_ms, &err) != 0)
        return kiln_table_usage("remove-orphans", "%s", err.msg);
    if (ov && o.older_than_ms == 0)
        o.older_than_ms = 1;
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, pos[0], &t)))
        return rc;
    orphan_ctx oc = {find_flag(flags, "--json")->present, o.dry_run, 0};
    size_t n = 0;
    if (kiln_lake_orphans_remove(t, &o, orphan_cb, &oc, &n, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (oc.json) {
        printf("{\"orphans\":%zu,\"bytes\":%" PRId64 ",\"dry_run\":%s}\n", n, oc.bytes, o.dry_run ? "true" : "false");
    } else {
        printf("%zu orphan file(s), %" PRId64 " bytes%s\n", n, oc.bytes, o.dry_run ? " (dry run, nothing deleted)" : " deleted");
    }
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ rewrite-manifests */

static const char rewrite_usage[] =
    "usage: kiln table rewrite-manifests TABLE [--branch NAME] [--target-size-mb N] [--json]\n"
    "\n"
    "Compact the table's data manifests: the small ones of each partition spec\n"
    "are bin-packed into manifests of about the target size, in one snapshot\n"
    "with operation \"replace\" (same files, same rows, sequence numbers kept).\n"
    "Scan planning then reads fewer manifest files. Nothing to merge: no\n"
    "snapshot. Commits also merge by themselves once a spec has\n"
    "commit.manifest.min-count-to-merge (default 100) manifests, unless the\n"
    "table property commit.manifest-merge.enabled is false.\n"
    "\n"
    "options:\n"
    "  --branch NAME      branch to compact (default main)\n"
    "  --target-size-mb N target manifest size, 1..1024 (default: the table's\n"
    "                     commit.manifest.target-size-bytes, else 8 MB)\n"
    "  --json             print the result as one JSON object\n"
    "  -h, --help         show this help\n";

int kiln_table_cmd_rewrite_manifests(kiln_table_cli *cli, int argc, char **argv)
{
    if (wants_help(argc, argv)) {
        fputs(rewrite_usage, stdout);
        return 0;
    }
    dflag flags[] = {{"--branch", 1, 0, 0}, {"--target-size-mb", 1, 0, 0}, {"--json", 0, 0, 0}, {NULL, 0, 0, 0}};
    const char *pos[1] = {NULL};
    int npos, rc = parse_args("rewrite-manifests", argc, argv, flags, pos, 1, &npos);
    if (rc)
        return rc;
    if (!npos)
        return kiln_table_usage("rewrite-manifests", "which table?");
    int64_t target = 0;
    const char *tv = find_flag(flags, "--target-size-mb")->value;
    if (tv) {
        char *end;
        long long mb = strtoll(tv, &end, 10);
        if (*end || mb < 1 || mb > 1024)
            return kiln_table_usage("rewrite-manifests", "--target-size-mb %s: use 1..1024", tv);
        target = (int64_t)mb << 20;
    }
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, pos[0], &t)))
        return rc;
    kiln_err err = {0};
    kiln_lake_rewrite_result r;
    if (kiln_lake_rewrite_manifests(t, find_flag(flags, "--branch")->value, target, &r, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (find_flag(flags, "--json")->present) {
        printf("{\"snapshot_id\":%" PRId64 ",\"manifests_before\":%d,\"manifests_after\":%d,"
               "\"manifests_replaced\":%d}\n",
               r.snapshot_id, r.manifests_before, r.manifests_after, r.manifests_replaced);
    } else if (r.snapshot_id < 0) {
        printf("%d manifest(s): nothing to merge, no snapshot\n", r.manifests_before);
    } else {
        printf("%d manifest(s) -> %d (%d merged) in snapshot %" PRId64 "\n", r.manifests_before, r.manifests_after,
               r.manifests_replaced, r.snapshot_id);
    }
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ writes (to be wired) */

static const char write_usage[] =
    "usage: kiln table append|overwrite TABLE --input FILE.ndjson [--branch NAME]\n"
    "       kiln table merge TABLE --key COLS --input FILE.ndjson [--branch NAME]\n"
    "       kiln table delete TABLE --where PRED [--branch NAME]\n"
    "\n"
    "Write rows (one JSON object per line; '-' = stdin) as one commit.\n"
    "append adds them; overwrite replaces every partition they fall in;\n"
    "merge upserts by the key columns (copy-on-write; a re-run changes\n"
    "nothing and commits nothing); delete removes the matching rows.\n"
    "\n"
    "options:\n"
    "  --input FILE       NDJSON rows; dates/timestamps as ISO strings\n"
    "  --key COLS         merge key columns, comma separated\n"
    "  --where PRED       rows to delete (as for scan)\n"
    "  --branch NAME      commit to this branch (created at main's head if missing)\n"
    "  --json             print the result as JSON\n"
    "  -h, --help         show this help\n";

#define MAX_INPUT_LINE (16u << 20)

static int json_to_batch(kiln_batch *b, int c, json_t *v, kiln_err *err)
{
    const kiln_column_def *cd = &b->schema->cols[c];
    if (!v || json_is_null(v))
        return kiln_batch_put_null(b, c, err);
    switch (cd->type) {
    case KILN_T_BOOL:
        if (!json_is_boolean(v)) break;
        return kiln_batch_put_bool(b, c, json_is_true(v), err);
    case KILN_T_INT32:
    case KILN_T_INT64:
        if (!json_is_integer(v)) break;
        return cd->type == KILN_T_INT32 ? kiln_batch_put_i32(b, c, (int32_t)json_integer_value(v), err)
                                        : kiln_batch_put_i64(b, c, json_integer_value(v), err);
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE:
        if (!json_is_number(v)) break;
        return cd->type == KILN_T_FLOAT ? kiln_batch_put_f32(b, c, (float)json_number_value(v), err)
                                        : kiln_batch_put_f64(b, c, json_number_value(v), err);
    case KILN_T_STRING:
    case KILN_T_BINARY:
        if (!json_is_string(v)) break;
        return kiln_batch_put_str(b, c, json_string_value(v), json_string_length(v), err);
    case KILN_T_DATE: {
        int64_t d;
        if (!json_is_string(v) || kiln_date_parse(json_string_value(v), json_string_length(v), &d)) break;
        return kiln_batch_put_i32(b, c, (int32_t)d, err);
    }
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        int64_t us;
        if (json_is_integer(v))
            return kiln_batch_put_i64(b, c, json_integer_value(v), err);
        if (!json_is_string(v) || kiln_ts_parse(json_string_value(v), json_string_length(v), &us)) break;
        return kiln_batch_put_i64(b, c, us, err);
    }
    case KILN_T_DECIMAL: {
        double d;
        if (json_is_integer(v))
            d = (double)json_integer_value(v);
        else if (json_is_real(v))
            d = json_real_value(v);
        else
            break;
        for (int k = 0; k < cd->scale; k++)
            d *= 10;
        return kiln_batch_put_i64(b, c, (int64_t)(d < 0 ? d - 0.5 : d + 0.5), err);
    }
    }
    return kiln_err_set(err, KILN_EINVAL, "column %s: value of the wrong JSON type for %s", cd->name,
                        kiln_type_name(cd->type));
}

static int feed_ndjson(kiln_lake_writer *w, const char *path, kiln_err *err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    const kiln_schema *sc = kiln_lake_writer_schema(w);
    kiln_batch *b = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0;
    int rc = kiln_batch_new(&b, sc, 4096, 0, err);
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > MAX_INPUT_LINE) {
            rc = kiln_err_set_at(err, KILN_ELIMIT, lineno, "%s:%llu: line longer than %u bytes", path,
                                 (unsigned long long)lineno, MAX_INPUT_LINE);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (!n)
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            rc = kiln_err_set_at(err, KILN_EFORMAT, lineno, "%s:%llu: not a JSON object", path,
                                 (unsigned long long)lineno);
            break;
        }
        for (int c = 0; !rc && c < sc->ncols; c++)
            rc = json_to_batch(b, c, json_object_get(o, sc->cols[c].name), err);
        json_decref(o);
        if (!rc)
            rc = kiln_batch_end_row(b, err);
        if (rc) {
            kiln_err_prefix(err, "%s:%llu: ", path, (unsigned long long)lineno);
            break;
        }
        if (kiln_batch_full(b)) {
            rc = kiln_lake_writer_write(w, b, err);
            kiln_batch_clear(b);
        }
    }
    if (!rc && b->nrows)
        rc = kiln_lake_writer_write(w, b, err);
    free(line);
    kiln_batch_free(b);
    if (f != stdin)
        fclose(f);
    return rc;
}

static void print_result(const char *op, const kiln_lake_write_result *r, int json)
{
    if (json) {
        printf("{\"operation\":\"%s\",\"snapshot_id\":%" PRId64 ",\"noop\":%s,\"rows_inserted\":%" PRId64
               ",\"rows_updated\":%" PRId64 ",\"rows_deleted\":%" PRId64 ",\"files_added\":%" PRId64
               ",\"files_removed\":%" PRId64 ",\"attempts\":%d}\n",
               op, r->snapshot_id, r->noop ? "true" : "false", r->rows_inserted, r->rows_updated, r->rows_deleted,
               r->files_added, r->files_removed, r->attempts);
    } else if (r->noop) {
        printf("%s: nothing changed, no snapshot committed\n", op);
    } else {
        printf("%s: snapshot %" PRId64 ": %" PRId64 " inserted, %" PRId64 " updated, %" PRId64
               " deleted; %" PRId64 " file(s) added, %" PRId64 " rewritten/removed\n",
               op, r->snapshot_id, r->rows_inserted, r->rows_updated, r->rows_deleted, r->files_added,
               r->files_removed);
    }
}

static int cmd_write(kiln_table_cli *cli, int argc, char **argv, kiln_lake_write_mode mode, int is_delete)
{
    const char *sub = argv[0];
    if (wants_help(argc, argv)) {
        fputs(write_usage, stdout);
        return 0;
    }
    dflag flags[] = {{"--input", 1, 0, 0}, {"--key", 1, 0, 0},  {"--where", 1, 0, 0},
                     {"--branch", 1, 0, 0}, {"--json", 0, 0, 0}, {NULL, 0, 0, 0}};
    const char *pos[1] = {NULL};
    int npos, rc = parse_args(sub, argc, argv, flags, pos, 1, &npos);
    if (rc)
        return rc;
    if (!npos)
        return kiln_table_usage(sub, "which table?");
    const char *input = find_flag(flags, "--input")->value;
    if (!is_delete && !input)
        return kiln_table_usage(sub, "--input FILE is required ('-' for stdin)");
    if (is_delete && !find_flag(flags, "--where")->value)
        return kiln_table_usage(sub, "--where PRED is required");
    if (mode == KILN_LAKE_WRITE_MERGE && !find_flag(flags, "--key")->value)
        return kiln_table_usage(sub, "--key COLS is required");
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, pos[0], &t)))
        return rc;
    kiln_err err = {0};
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    o.branch = find_flag(flags, "--branch")->value;
    o.merge_keys = find_flag(flags, "--key")->value;
    kiln_lake_write_result res;
    memset(&res, 0, sizeof res);
    kiln_lake_writer *w = NULL;
    if (is_delete) {
        rc = kiln_lake_delete_where(t, find_flag(flags, "--where")->value, &o, &res, &err);
    } else {
        rc = kiln_lake_writer_open(&w, t, &o, &err);
        if (!rc)
            rc = feed_ndjson(w, input, &err);
        if (!rc)
            rc = kiln_lake_writer_commit(w, &res, &err);
    }
    if (rc)
        rc = kiln_cli_fail(&err);
    else
        print_result(sub, &res, find_flag(flags, "--json")->present);
    kiln_lake_writer_free(w);
    kiln_lake_table_free(t);
    return rc;
}

int kiln_table_cmd_append(kiln_table_cli *cli, int argc, char **argv);
int kiln_table_cmd_overwrite(kiln_table_cli *cli, int argc, char **argv);
int kiln_table_cmd_merge(kiln_table_cli *cli, int argc, char **argv);
int kiln_table_cmd_delete(kiln_table_cli *cli, int argc, char **argv);

int kiln_table_cmd_append(kiln_table_cli *cli, int argc, char **argv)
{
    return cmd_write(cli, argc, argv, KILN_LAKE_WRITE_APPEND, 0);
}
int kiln_table_cmd_overwrite(kiln_table_cli *cli, int argc, char **argv)
{
    return cmd_write(cli, argc, argv, KILN_LAKE_WRITE_OVERWRITE, 0);
}
int kiln_table_cmd_merge(kiln_table_cli *cli, int argc, char **argv)
{
    return cmd_write(cli, argc, argv, KILN_LAKE_WRITE_MERGE, 0);
}
int kiln_table_cmd_delete(kiln_table_cli *cli, int argc, char **argv)
{
    return cmd_write(cli, argc, argv, KILN_LAKE_WRITE_APPEND, 1);
}
