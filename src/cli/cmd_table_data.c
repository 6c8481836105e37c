/*
 * cmd_table_data.c - the data subcommands of `kiln table` (rows listed in
 * cmd_table.c's table_subs): scan, files, remove-orphans,
 * rewrite-manifests and the writes append, overwrite, merge, delete.
 *
 * Output of scan: CSV with a header (default) or NDJSON, one row per line;
 * dates and timestamps in ISO-8601, decimals with their scale, nulls as an
 * empty CSV field / JSON null.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format/text/ndjson.h"
#include "table_cli.h"

/* ------------------------------------------------------------ scan */

const kiln_opt kiln_table_scan_opts[] = {
    {"--columns", 0, KILN_OPT_VALUE, "A,B", "columns to print, in this order (default: all)"},
    {"--where", 0, KILN_OPT_VALUE, "PRED",
     "AND of: col = v, col != v, <, <=, >, >=, col between a and b,\ncol is [not] null; prunes partitions, files and "
     "Parquet\nrow groups by their statistics, then filters rows"},
    {"--as-of", 0, KILN_OPT_VALUE, "REF", "snapshot id, branch/tag name or time (ISO, date, ms:N)"},
    {"--ref", 0, KILN_OPT_VALUE, "NAME", "branch or tag to read (default main)"},
    {"--limit", 'n', KILN_OPT_VALUE, "N", "stop after N rows"},
    {"--format", 'f', KILN_OPT_VALUE, "F", "csv (default, with a header line) or ndjson"},
    {"--json", 'j', 0, NULL, "the same as --format ndjson"},
    {"--stats", 0, 0, NULL,
     "print planning figures (files pruned) and the row groups of\nthe files read (total, skipped by column stats) to "
     "stderr as\none JSON object: {snapshot_id, manifests, manifests_pruned,\ndata_files, files_pruned_partition, "
     "files_pruned_stats,\ndelete_files, row_groups, row_groups_skipped, rows}"},
    {"--metadata", 0, KILN_OPT_VALUE, "FILE", "read the table from a metadata file instead of the catalog"},
    {"--remap", 0, KILN_OPT_VALUE, "FROM=TO",
     "replace the prefix FROM of paths stored in the metadata\nwith TO (tables moved after they were written)"},
    KILN_OPT_END};

int kiln_table_cmd_scan(kiln_table_cli *cli, const kiln_args *a)
{
    int rc;
    const char *metadata = kiln_opt_get(a, "--metadata");
    if (!a->npos && !metadata)
        return kiln_opt_usage(a, "which table? (kiln table scan NS.TABLE, or --metadata FILE)");
    const char *fmt = kiln_opt_get(a, "--format");
    int ndjson = kiln_opt_has(a, "--json") || (fmt && !strcmp(fmt, "ndjson"));
    if (fmt && strcmp(fmt, "csv") && strcmp(fmt, "ndjson"))
        return kiln_opt_usage(a, "--format %s: use csv or ndjson", fmt);
    long long limit = -1;
    if ((rc = kiln_opt_int(a, "--limit", 0, (long long)(~0ULL >> 1), &limit)))
        return rc;
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.columns = kiln_opt_get(a, "--columns");
    o.where = kiln_opt_get(a, "--where");
    o.as_of = kiln_opt_get(a, "--as-of");
    o.ref = kiln_opt_get(a, "--ref");
    char *remap = NULL;
    const char *rv = kiln_opt_get(a, "--remap");
    if (rv) {
        const char *eq = strchr(rv, '=');
        if (!eq)
            return kiln_opt_usage(a, "--remap %s: use FROM=TO", rv);
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
        if ((rc = kiln_table_open(cli, a->pos[0], &t)))
            goto done;
        rc = kiln_lake_scan_open(&s, t, &o, &err);
    }
    if (rc) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    const kiln_schema *sc = kiln_lake_scan_schema(s);
    if (!ndjson) {
        if (kiln_cli_csv_header(&line, sc, sc->ncols, &err) != 0) {
            rc = kiln_cli_fail(&err);
            goto done;
        }
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
            if (kiln_cli_format_row(&line, &cellb, b, row, b->schema->ncols, ndjson, 0, &err) != 0) {
                rc = kiln_cli_fail(&err);
                goto done;
            }
            fwrite(line.data, 1, line.len, stdout);
            printed++;
        }
    }
    if (kiln_opt_has(a, "--stats")) {
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

const kiln_opt kiln_table_files_opts[] = {
    {"--snapshot", 0, KILN_OPT_VALUE, "REF", "snapshot id, branch/tag name or time"},
    {"--json", 'j', 0, NULL,
     "one JSON object per file (NDJSON): {content, record_count,\nfile_size_in_bytes, sequence_number, spec_id, "
     "partition,\nfile_path}"},
    KILN_OPT_END};

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
        kiln_cli_json_str(stdout, part);
        printf(",\"file_path\":");
        kiln_cli_json_str(stdout, e->df.file_path);
        printf("}\n");
    } else {
        printf("%s\t%" PRId64 "\t%" PRId64 "\t%s\t%s\n", kind, e->df.record_count, e->df.file_size_in_bytes,
               *part ? part : "-", e->df.file_path);
    }
    fc->n++;
    return 0;
}

int kiln_table_cmd_files(kiln_table_cli *cli, const kiln_args *a)
{
    int rc;
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    kiln_err err = {0};
    int64_t sid = -1;
    kiln_arena *arena = kiln_arena_new(4096);
    kiln_lake_view view;
    files_ctx fc;
    memset(&fc, 0, sizeof fc);
    kiln_buf_init(&fc.buf, 0);
    fc.json = kiln_opt_has(a, "--json");
    if (!fc.json) /* TSV: always a header line */
        printf("content\trecord_count\tfile_size_in_bytes\tpartition\tfile_path\n");
    fc.view = &view;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    if (kiln_lake_meta_resolve(m, kiln_opt_get(a, "--snapshot"), &sid, &err) ||
        kiln_lake_view_from_meta(&view, arena, m, sid, NULL, &err) ||
        (sid >= 0 && kiln_lake_files_list(t, sid, files_cb, &fc, &err)))
        rc = kiln_cli_fail(&err);
    kiln_buf_free(&fc.buf);
    kiln_arena_free(arena);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ remove-orphans */

const kiln_opt kiln_table_orphans_opts[] = {
    {"--older-than", 0, KILN_OPT_VALUE, "TIME", "ISO time, date, ms:N or an age (3d, 12h, 30m, 0s);\ndefault 3d"},
    {"--dry-run", 0, 0, NULL, "list the orphans, delete nothing"},
    {"--json", 'j', 0, NULL,
     "one JSON object per file {path, size, deleted}, then a\nsummary object {orphans, bytes, dry_run}"},
    KILN_OPT_END};

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
        kiln_cli_json_str(stdout, path);
        printf(",\"size\":%" PRId64 ",\"deleted\":%s}\n", size, oc->dry ? "false" : "true");
    } else {
        printf("%s %s\n", oc->dry ? "orphan" : "deleted", path);
    }
    return 0;
}

int kiln_table_cmd_remove_orphans(kiln_table_cli *cli, const kiln_args *a)
{
    int rc;
    kiln_err err = {0};
    kiln_lake_orphan_opts o = {0, 0};
    o.dry_run = kiln_opt_has(a, "--dry-run");
    const char *ov = kiln_opt_get(a, "--older-than");
    if (ov && kiln_table_parse_time_ms(ov, &o.older_than_ms, &err) != 0)
        return kiln_opt_usage(a, "%s", err.msg);
    if (ov && o.older_than_ms == 0)
        o.older_than_ms = 1;
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    orphan_ctx oc = {kiln_opt_has(a, "--json"), o.dry_run, 0};
    size_t n = 0;
    if (kiln_lake_orphans_remove(t, &o, orphan_cb, &oc, &n, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (oc.json) {
        printf("{\"orphans\":%zu,\"bytes\":%" PRId64 ",\"dry_run\":%s}\n", n, oc.bytes, o.dry_run ? "true" : "false");
    } else {
        printf("%zu orphan file(s), %" PRId64 " bytes%s\n", n, oc.bytes,
               o.dry_run ? " (dry run, nothing deleted)" : " deleted");
    }
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ rewrite-manifests */

const kiln_opt kiln_table_rewrite_opts[] = {
    {"--branch", 0, KILN_OPT_VALUE, "NAME", "branch to compact (default main)"},
    {"--target-size-mb", 0, KILN_OPT_VALUE, "N",
     "target manifest size, 1..1024 (default: the table's\ncommit.manifest.target-size-bytes, else 8 MB)"},
    {"--json", 'j', 0, NULL,
     "{snapshot_id, manifests_before, manifests_after,\nmanifests_replaced} (snapshot_id -1: nothing merged)"},
    KILN_OPT_END};

int kiln_table_cmd_rewrite_manifests(kiln_table_cli *cli, const kiln_args *a)
{
    long long mb = 0;
    int rc = kiln_opt_int(a, "--target-size-mb", 1, 1024, &mb);
    if (rc)
        return rc;
    int64_t target = (int64_t)mb << 20;
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    kiln_err err = {0};
    kiln_lake_rewrite_result r;
    if (kiln_lake_rewrite_manifests(t, kiln_opt_get(a, "--branch"), target, &r, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (kiln_opt_has(a, "--json")) {
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

/* ------------------------------------------------------------ writes */

#define WRITE_COMMON_OPTS                                                                                              \
    {"--branch", 0, KILN_OPT_VALUE, "NAME", "commit to this branch (created at main's head if missing)"},              \
    {                                                                                                                  \
        "--json", 'j', 0, NULL,                                                                                        \
            "{operation, snapshot_id, noop, rows_inserted, rows_updated,\nrows_deleted, files_added, files_removed, "  \
            "attempts}"                                                                                                \
    }
#define INPUT_OPTS                                                                                                     \
    {"--input", 'i', KILN_OPT_VALUE, "FILE", "NDJSON rows (required; '-' = stdin); dates/timestamps as\nISO strings"}, \
    {                                                                                                                  \
        "--ignore-unknown-keys", 0, 0, NULL,                                                                           \
            "skip keys that are not columns (default: an error naming\nthe line and the key)"                          \
    }

const kiln_opt kiln_table_append_opts[] = {INPUT_OPTS, WRITE_COMMON_OPTS, KILN_OPT_END};
const kiln_opt kiln_table_merge_opts[] = {
    {"--key", 0, KILN_OPT_VALUE, "COLS", "merge key columns, comma separated (required)"},
    INPUT_OPTS,
    WRITE_COMMON_OPTS,
    KILN_OPT_END};
const kiln_opt kiln_table_delete_opts[] = {
    {"--where", 0, KILN_OPT_VALUE, "PRED", "rows to delete (required; as for scan)"}, WRITE_COMMON_OPTS, KILN_OPT_END};

static int write_batch(void *ctx, kiln_batch *b, kiln_err *err) { return kiln_lake_writer_write(ctx, b, err); }

static int feed_ndjson(kiln_lake_writer *w, const char *path, int ignore_unknown, kiln_err *err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f)
        return kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: %s", path, strerror(errno));
    kiln_ndjson_read_opts o = {.ignore_unknown_keys = ignore_unknown,
                               .absent_json = kiln_lake_writer_write_defaults(w)}; /* v3 write-defaults */
    int rc = kiln_ndjson_read(f, path, kiln_lake_writer_schema(w), &o, write_batch, w, err);
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
        printf("%s: snapshot %" PRId64 ": %" PRId64 " inserted, %" PRId64 " updated, %" PRId64 " deleted; %" PRId64
               " file(s) added, %" PRId64 " rewritten/removed\n",
               op, r->snapshot_id, r->rows_inserted, r->rows_updated, r->rows_deleted, r->files_added,
               r->files_removed);
    }
}

static int cmd_write(kiln_table_cli *cli, const kiln_args *a, kiln_lake_write_mode mode, int is_delete)
{
    const char *sub = a->sub->name;
    int rc;
    const char *input = is_delete ? NULL : kiln_opt_get(a, "--input");
    if (!is_delete && !input)
        return kiln_opt_usage(a, "--input FILE is required ('-' for stdin)");
    if (is_delete && !kiln_opt_get(a, "--where"))
        return kiln_opt_usage(a, "--where PRED is required");
    if (mode == KILN_LAKE_WRITE_MERGE && !kiln_opt_get(a, "--key"))
        return kiln_opt_usage(a, "--key COLS is required");
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    kiln_err err = {0};
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    o.branch = kiln_opt_get(a, "--branch");
    o.merge_keys = mode == KILN_LAKE_WRITE_MERGE ? kiln_opt_get(a, "--key") : NULL;
    kiln_lake_write_result res;
    memset(&res, 0, sizeof res);
    kiln_lake_writer *w = NULL;
    if (is_delete) {
        rc = kiln_lake_delete_where(t, kiln_opt_get(a, "--where"), &o, &res, &err);
    } else {
        rc = kiln_lake_writer_open(&w, t, &o, &err);
        if (!rc)
            rc = feed_ndjson(w, input, kiln_opt_has(a, "--ignore-unknown-keys"), &err);
        if (!rc)
            rc = kiln_lake_writer_commit(w, &res, &err);
    }
    if (rc)
        rc = kiln_cli_fail(&err);
    else
        print_result(sub, &res, kiln_opt_has(a, "--json"));
    kiln_lake_writer_free(w);
    kiln_lake_table_free(t);
    return rc;
}

int kiln_table_cmd_append(kiln_table_cli *cli, const kiln_args *a)
{
    return cmd_write(cli, a, KILN_LAKE_WRITE_APPEND, 0);
}
int kiln_table_cmd_overwrite(kiln_table_cli *cli, const kiln_args *a)
{
    return cmd_write(cli, a, KILN_LAKE_WRITE_OVERWRITE, 0);
}
int kiln_table_cmd_merge(kiln_table_cli *cli, const kiln_args *a)
{
    return cmd_write(cli, a, KILN_LAKE_WRITE_MERGE, 0);
}
int kiln_table_cmd_delete(kiln_table_cli *cli, const kiln_args *a)
{
    return cmd_write(cli, a, KILN_LAKE_WRITE_APPEND, 1);
}
