/*
 * test_write.c - round trips of kiln's Iceberg write operations: append to
 * two partitions, dynamic overwrite, MERGE twice (second is a no-op), delete
 * by predicate, time travel, branches, concurrent commits (rebase vs
 * conflict) and crashes at each step of a commit.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/harness.h"
#include "format/parquet/parquet.h"
#include "lake/lake.h"

static const kiln_column_def COLS[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"ts", KILN_T_TIMESTAMPTZ, 0, 2, 0, 0},
    {"name", KILN_T_STRING, 0, 3, 0, 0},
};
static const kiln_schema SCHEMA = {3, COLS};

/* rows: id, day (2025-01-DD), name */
typedef struct row {
    int64_t id;
    int day;
    const char *name;
} row;

static const kiln_column_def COLS_LABEL[] = {
    {"id", KILN_T_INT64, 1, 1, 0, 0},
    {"ts", KILN_T_TIMESTAMPTZ, 0, 2, 0, 0},
    {"label", KILN_T_STRING, 0, 3, 0, 0},
};
static const kiln_schema SCHEMA_LABEL = {3, COLS_LABEL};

static kiln_batch *make_batch_s(const row *rows, size_t n, const kiln_schema *schema)
{
    kiln_batch *b = NULL;
    kiln_err err = {0};
    if (kiln_batch_new(&b, schema, n ? n : 1, 0, &err))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int64_t us = (kiln_days_from_civil(2025, 1, rows[i].day) * 86400 + 3600 * (int64_t)(i % 24)) * 1000000;
        kiln_batch_put_i64(b, 0, rows[i].id, &err);
        kiln_batch_put_i64(b, 1, us, &err);
        kiln_batch_put_str(b, 2, rows[i].name, strlen(rows[i].name), &err);
        kiln_batch_end_row(b, &err);
    }
    return b;
}

static kiln_batch *make_batch(const row *rows, size_t n) { return make_batch_s(rows, n, &SCHEMA); }

/* Rows for t under its current column names (name, or label after the rename). */
static kiln_batch *make_batch_for(kiln_lake_table *t, const row *rows, size_t n)
{
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(kiln_lake_table_meta(t));
    return make_batch_s(rows, n, kiln_lake_schema_column(s, "label") ? &SCHEMA_LABEL : &SCHEMA);
}

/* branch_from: where `branch` starts if it does not exist (NULL = main). */
static int write_rows_from(kiln_lake_table *t, kiln_lake_write_mode mode, const char *branch, const char *branch_from,
                           const row *rows, size_t n, kiln_lake_write_result *res, kiln_err *err)
{
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    o.mode = mode;
    o.branch = branch;
    o.branch_from = branch_from;
    o.merge_keys = "id";
    kiln_lake_writer *w = NULL;
    kiln_batch *b = make_batch_for(t, rows, n);
    int rc = kiln_lake_writer_open(&w, t, &o, err);
    if (!rc)
        rc = kiln_lake_writer_write(w, b, err);
    if (!rc)
        rc = kiln_lake_writer_commit(w, res, err);
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    return rc;
}

static int write_rows(kiln_lake_table *t, kiln_lake_write_mode mode, const char *branch, const row *rows, size_t n,
                      kiln_lake_write_result *res, kiln_err *err)
{
    return write_rows_from(t, mode, branch, NULL, rows, n, res, err);
}

/* Scan into a canonical text "id|day|name\n..." sorted by id. */
static char *scan_text(kiln_lake_table *t, const char *as_of, const char *ref, const char *where, int64_t *nrows,
                       kiln_err *err)
{
    kiln_lake_scan *s = NULL;
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.as_of = as_of;
    o.ref = ref;
    o.where = where;
    o.columns = NULL; /* id, ts, name (or label after the rename) */
    if (kiln_lake_scan_open(&s, t, &o, err))
        return NULL;
    KILN_VEC(char *) lines = {0};
    const kiln_batch *b;
    int rc;
    while ((rc = kiln_lake_scan_next(s, &b, err)) == 1)
        for (size_t r = 0; r < b->nrows; r++) {
            size_t n;
            const char *nm = kiln_batch_str(b, 2, r, &n);
            char day[16];
            kiln_date_format(b->cols[1].v.i64[r] / 86400000000LL, day);
            char *line = kiln_sprintf("%08lld|%s|%.*s", (long long)b->cols[0].v.i64[r], day, (int)n, nm);
            kiln_vec_push(&lines, line, err);
        }
    kiln_lake_scan_free(s);
    if (rc < 0)
        return NULL;
    for (size_t i = 1; i < lines.len; i++)
        for (size_t j = i; j > 0 && strcmp(lines.items[j - 1], lines.items[j]) > 0; j--) {
            char *x = lines.items[j];
            lines.items[j] = lines.items[j - 1];
            lines.items[j - 1] = x;
        }
    kiln_buf out;
    kiln_buf_init(&out, 0);
    for (size_t i = 0; i < lines.len; i++) {
        kiln_buf_printf(&out, err, "%s\n", lines.items[i]);
        kiln_free(lines.items[i]);
    }
    kiln_vec_free(&lines);
    *nrows = 0;
    for (size_t i = 0; i < out.len; i++)
        *nrows += out.data[i] == '\n';
    if (!out.data)
        return kiln_strdup("");
    return kiln_buf_detach(&out, NULL);
}

static int open_table(kiln_lake_catalog **cat, kiln_lake_table **t, const char *dir, int create, kiln_err *err)
{
    int rc = kiln_lake_catalog_open(cat, dir, KILN_LAKE_CATALOG_SQLITE, err);
    if (rc)
        return rc;
    if (!create)
        return kiln_lake_table_load(t, *cat, "db.events", err);
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "id long not null, ts timestamptz, name string";
    co.partition = "day(ts)";
    return kiln_lake_table_create(t, *cat, "db.events", &co, err);
}

static int nsnapshots(kiln_lake_table *t) { return (int)kiln_lake_table_meta(t)->nsnapshots; }

TEST(lake_write, round_trip_append_overwrite_merge_delete)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    char *txt = NULL, *txt2 = NULL, *first = NULL;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);

    row r1[] = {{1, 1, "a"}, {2, 1, "b"}, {3, 1, "c"}, {4, 2, "d"}, {5, 2, "e"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r1, 5, &res, &err), &err);
    CHECK_EQ_INT(res.rows_inserted, 5);
    CHECK_EQ_INT(res.files_added, 2); /* one file per day */
    int64_t snap1 = res.snapshot_id;
    CHECK(snap1 > 0);
    char *p = kiln_sprintf("%s/data/ts_day=2025-01-01", kiln_lake_table_dir(t));
    struct stat st;
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    kiln_free(p);
    first = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(first, "%s", err.msg);
    CHECK_EQ_INT(n, 5);
    CHECK_STR(first, "00000001|2025-01-01|a\n00000002|2025-01-01|b\n00000003|2025-01-01|c\n"
                     "00000004|2025-01-02|d\n00000005|2025-01-02|e\n");
    const kiln_lake_snapshot *s1 = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(s1->operation, "append");
    CHECK_STR(kiln_lake_snapshot_summary(s1, "added-records"), "5");
    CHECK_STR(kiln_lake_snapshot_summary(s1, "total-records"), "5");
    CHECK_STR(kiln_lake_snapshot_summary(s1, "added-data-files"), "2");

    /* overwrite day 2 only */
    row r2[] = {{10, 2, "x"}, {11, 2, "y"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_OVERWRITE, NULL, r2, 2, &res, &err), &err);
    CHECK_EQ_INT(res.files_removed, 1);
    CHECK_EQ_INT(res.rows_deleted, 2);
    txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    CHECK_STR(txt, "00000001|2025-01-01|a\n00000002|2025-01-01|b\n00000003|2025-01-01|c\n"
                   "00000010|2025-01-02|x\n00000011|2025-01-02|y\n");
    kiln_free(txt);
    s1 = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(s1->operation, "overwrite");
    CHECK_STR(kiln_lake_snapshot_summary(s1, "total-records"), "5");

    /* MERGE: update id 1, keep id 2 as is, insert id 20 on day 1 */
    row m[] = {{1, 1, "A"}, {2, 1, "b"}, {20, 1, "new"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, m, 3, &res, &err), &err);
    CHECK_EQ_INT(res.rows_updated, 1);
    CHECK_EQ_INT(res.rows_inserted, 1);
    CHECK_EQ_INT(res.files_removed, 1); /* only day 1's file is rewritten */
    CHECK(!res.noop);
    txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    CHECK_STR(txt, "00000001|2025-01-01|A\n00000002|2025-01-01|b\n00000003|2025-01-01|c\n"
                   "00000010|2025-01-02|x\n00000011|2025-01-02|y\n00000020|2025-01-01|new\n");
    int before = nsnapshots(t);
    /* the same MERGE again: nothing changes, no snapshot */
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, m, 3, &res, &err), &err);
    CHECK(res.noop);
    CHECK_EQ_INT(res.rows_updated, 0);
    CHECK_EQ_INT(res.rows_inserted, 0);
    CHECK_EQ_INT(nsnapshots(t), before);
    txt2 = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_STR(txt2, txt);
    kiln_free(txt);
    kiln_free(txt2);

    /* delete by predicate (copy-on-write) */
    CHECK_OK(kiln_lake_delete_where(t, "name = 'b'", NULL, &res, &err), &err);
    CHECK_EQ_INT(res.rows_deleted, 1);
    txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_STR(txt, "00000001|2025-01-01|A\n00000003|2025-01-01|c\n"
                   "00000010|2025-01-02|x\n00000011|2025-01-02|y\n00000020|2025-01-01|new\n");
    kiln_free(txt);
    s1 = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(s1->operation, "overwrite");
    CHECK_OK(kiln_lake_delete_where(t, "ts >= '2025-01-02'", NULL, &res, &err), &err);
    CHECK_EQ_INT(res.rows_deleted, 2);
    CHECK_EQ_INT(res.files_added, 0);
    s1 = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(s1->operation, "delete");
    CHECK_STR(kiln_lake_snapshot_summary(s1, "total-records"), "3");

    /* time travel to the first snapshot */
    char sid[32];
    snprintf(sid, sizeof sid, "%lld", (long long)snap1);
    txt = scan_text(t, sid, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    CHECK_STR(txt, first);
    kiln_free(txt);

    /* reload from the catalog: same rows */
    kiln_lake_table_free(t);
    t = NULL;
    CHECK_OK(kiln_lake_table_load(&t, cat, "db.events", &err), &err);
    txt = scan_text(t, NULL, NULL, "id < 10", &n, &err);
    CHECK_STR(txt, "00000001|2025-01-01|A\n00000003|2025-01-01|c\n");
    kiln_free(txt);
    kiln_free(first);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(lake_write, branch_write_leaves_main)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row r1[] = {{1, 1, "a"}, {2, 2, "b"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r1, 2, &res, &err), &err);
    row r2[] = {{3, 3, "c"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, "dev", r2, 1, &res, &err), &err);
    char *main_txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_EQ_INT(n, 2);
    char *dev_txt = scan_text(t, NULL, "dev", NULL, &n, &err);
    CHECK_MSG(dev_txt, "%s", err.msg);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(dev_txt, "00000001|2025-01-01|a\n00000002|2025-01-02|b\n00000003|2025-01-03|c\n");
    /* MERGE on the branch */
    row m[] = {{1, 1, "z"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, "dev", m, 1, &res, &err), &err);
    CHECK_EQ_INT(res.rows_updated, 1);
    char *main2 = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_STR(main2, main_txt);
    kiln_free(main_txt);
    kiln_free(main2);
    kiln_free(dev_txt);
    dev_txt = scan_text(t, NULL, "dev", "id = 1", &n, &err);
    CHECK_STR(dev_txt, "00000001|2025-01-01|z\n");
    kiln_free(dev_txt);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* Write-audit-publish: chunks committed to a staging branch cut from the
 * target (branch_from), then one commit moves the target and drops the
 * staging branch; the target's history gains one entry however many chunks
 * there were. A target that moved meanwhile is a conflict that changes
 * nothing. */
TEST(lake_write, staging_branch_publish)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row r1[] = {{1, 1, "a"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r1, 1, &res, &err), &err);
    int64_t main1 = res.snapshot_id;
    row r2[] = {{2, 2, "b"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, "dev", r2, 1, &res, &err), &err);
    int64_t dev1 = res.snapshot_id;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    size_t log0 = m->nsnapshot_log;

    /* two chunks on "stage", cut from dev (not main) */
    row c1[] = {{3, 3, "c"}}, c2[] = {{3, 3, "C"}, {4, 3, "d"}};
    CHECK_OK(write_rows_from(t, KILN_LAKE_WRITE_MERGE, "stage", "dev", c1, 1, &res, &err), &err);
    m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(kiln_lake_meta_snapshot(m, res.snapshot_id)->parent_id, dev1);
    CHECK_OK(write_rows_from(t, KILN_LAKE_WRITE_MERGE, "stage", "dev", c2, 2, &res, &err), &err);
    CHECK_EQ_INT(res.rows_updated, 1); /* the second chunk sees the first */
    int64_t stage2 = res.snapshot_id;
    char *dev_before = scan_text(t, NULL, "dev", NULL, &n, &err);
    CHECK_EQ_INT(n, 2);
    CHECK_OK(kiln_lake_publish(t, "dev", "stage", &err), &err);
    m = kiln_lake_table_meta(t);
    CHECK(kiln_lake_meta_ref(m, "stage") == NULL);
    CHECK_EQ_INT(kiln_lake_meta_ref(m, "dev")->snapshot_id, stage2);
    CHECK_EQ_INT(m->current_snapshot_id, main1); /* main untouched */
    CHECK_EQ_INT(m->nsnapshot_log, log0);        /* the log is main's */
    char *dev_after = scan_text(t, NULL, "dev", NULL, &n, &err);
    CHECK_STR(dev_after, "00000001|2025-01-01|a\n00000002|2025-01-02|b\n00000003|2025-01-03|C\n"
                         "00000004|2025-01-03|d\n");
    kiln_free(dev_before);
    kiln_free(dev_after);

    /* onto main: one snapshot-log entry for two chunks */
    row c3[] = {{5, 4, "e"}}, c4[] = {{6, 4, "f"}};
    CHECK_OK(write_rows_from(t, KILN_LAKE_WRITE_APPEND, "stage", NULL, c3, 1, &res, &err), &err);
    CHECK_OK(write_rows_from(t, KILN_LAKE_WRITE_APPEND, "stage", NULL, c4, 1, &res, &err), &err);
    CHECK_EQ_INT(kiln_lake_table_meta(t)->current_snapshot_id, main1); /* not visible yet */
    CHECK_OK(kiln_lake_publish(t, NULL, "stage", &err), &err);
    m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->current_snapshot_id, res.snapshot_id);
    CHECK_EQ_INT(m->nsnapshot_log, log0 + 1);
    kiln_free(scan_text(t, NULL, NULL, NULL, &n, &err));
    CHECK_EQ_INT(n, 3);

    /* main moves on while a staging branch is open: conflict, nothing changes */
    row c5[] = {{7, 5, "g"}}, c6[] = {{8, 6, "h"}};
    CHECK_OK(write_rows_from(t, KILN_LAKE_WRITE_APPEND, "stage", NULL, c5, 1, &res, &err), &err);
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, c6, 1, &res, &err), &err);
    int64_t main3 = res.snapshot_id;
    CHECK_EQ_INT(kiln_lake_publish(t, NULL, "stage", &err), KILN_ECONFLICT);
    CHECK(strstr(err.msg, "diverged") != NULL);
    m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->current_snapshot_id, main3);
    CHECK(kiln_lake_meta_ref(m, "stage") != NULL);

    /* a missing target is created; main cannot be the source */
    kiln_err_clear(&err);
    CHECK_OK(kiln_lake_publish(t, "fresh", "stage", &err), &err);
    CHECK(kiln_lake_meta_ref(kiln_lake_table_meta(t), "fresh") != NULL);
    CHECK_EQ_INT(kiln_lake_publish(t, "dev", "main", &err), KILN_EINVAL);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* The manifests of main's head (count), and every live file's path with
 * its data sequence number, as "path seq\n" sorted. */
typedef struct files_acc {
    KILN_VEC(char *) lines;
} files_acc;

static int files_cb(void *ctx, const kiln_lake_entry *e)
{
    files_acc *f = ctx;
    char *l = kiln_sprintf("%s %lld", e->df.file_path, (long long)e->seq);
    kiln_err err = {0};
    return kiln_vec_push(&f->lines, l, &err);
}

static int cmp_strp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *live_file_list(kiln_lake_table *t)
{
    files_acc f = {{0}};
    kiln_err err = {0};
    kiln_buf out;
    kiln_buf_init(&out, 0);
    if (kiln_lake_files_list(t, -1, files_cb, &f, &err) == 0) {
        qsort(f.lines.items, f.lines.len, sizeof(char *), cmp_strp);
        for (size_t i = 0; i < f.lines.len; i++)
            kiln_buf_printf(&out, &err, "%s\n", f.lines.items[i]);
    }
    for (size_t i = 0; i < f.lines.len; i++)
        kiln_free(f.lines.items[i]);
    kiln_vec_free(&f.lines);
    return out.data ? kiln_buf_detach(&out, NULL) : kiln_strdup("");
}

static int nmanifests(kiln_lake_table *t)
{
    const kiln_lake_snapshot *s = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    kiln_arena *a = kiln_arena_new(4096);
    kiln_lake_manifest *ms = NULL;
    size_t n = 0;
    char *lp = NULL;
    kiln_err err = {0};
    int r = -1;
    if (s && !kiln_lake_uri_to_path(&lp, s->manifest_list, &err) && !kiln_lake_manifest_list_read(&ms, &n, a, lp, &err))
        r = (int)n;
    kiln_free(lp);
    kiln_arena_free(a);
    return r;
}

/* Manifest merging: commits bin-pack small manifests once a spec has
 * commit.manifest.min-count-to-merge of them (sequence numbers kept, rows
 * unchanged, MERGE still finds its files); rewrite_manifests compacts on
 * demand in a "replace" snapshot, and does nothing the second time. */
TEST(lake_write, manifests_merge_on_commit_and_rewrite)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    kiln_lake_kv off = {"commit.manifest-merge.enabled", "false"};
    CHECK_OK(kiln_lake_set_properties(t, &off, 1, &err), &err);
    for (int i = 0; i < 6; i++) {
        row r[] = {{i + 1, i + 1, "a"}};
        CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r, 1, &res, &err), &err);
    }
    CHECK_EQ_INT(nmanifests(t), 6);
    char *files0 = live_file_list(t), *rows0 = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_EQ_INT(n, 6);
    int64_t before = kiln_lake_table_meta(t)->current_snapshot_id;

    /* on demand */
    kiln_lake_rewrite_result rr;
    CHECK_OK(kiln_lake_rewrite_manifests(t, NULL, 0, &rr, &err), &err);
    CHECK(rr.snapshot_id > 0);
    CHECK_EQ_INT(rr.manifests_before, 6);
    CHECK_EQ_INT(rr.manifests_after, 1);
    CHECK_EQ_INT(rr.manifests_replaced, 6);
    CHECK_EQ_INT(nmanifests(t), 1);
    const kiln_lake_snapshot *cur = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(cur->operation, "replace");
    CHECK_EQ_INT(cur->parent_id, before);
    CHECK_STR(kiln_lake_snapshot_summary(cur, "manifests-replaced"), "6");
    CHECK_STR(kiln_lake_snapshot_summary(cur, "total-records"), "6");
    char *files1 = live_file_list(t), *rows1 = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_STR(files1, files0); /* same files, same data sequence numbers */
    CHECK_STR(rows1, rows0);
    char asof[32];
    snprintf(asof, sizeof asof, "%lld", (long long)before);
    char *rows_old = scan_text(t, asof, NULL, NULL, &n, &err);
    CHECK_STR(rows_old, rows0); /* time travel before the rewrite */
    kiln_free(rows_old);
    int nsnap = nsnapshots(t);
    CHECK_OK(kiln_lake_rewrite_manifests(t, NULL, 0, &rr, &err), &err);
    CHECK_EQ_INT(rr.snapshot_id, -1); /* already compact */
    CHECK_EQ_INT(nsnapshots(t), nsnap);
    CHECK_EQ_INT(kiln_lake_rewrite_manifests(t, "nope", 0, &rr, &err), KILN_ENOTFOUND);

    /* on commit: with min-count 4, the manifest count stays below it */
    kiln_lake_kv on[] = {{"commit.manifest-merge.enabled", "true"}, {"commit.manifest.min-count-to-merge", "4"}};
    CHECK_OK(kiln_lake_set_properties(t, on, 2, &err), &err);
    int most = 0;
    for (int i = 0; i < 8; i++) {
        row r[] = {{100 + i, 10 + i, "b"}};
        CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r, 1, &res, &err), &err);
        int m = nmanifests(t);
        most = m > most ? m : most;
    }
    CHECK(most < 4);
    cur = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(cur->operation, "append");
    CHECK_STR(kiln_lake_snapshot_summary(cur, "added-data-files"), "1");
    CHECK_STR(kiln_lake_snapshot_summary(cur, "total-data-files"), "14");
    kiln_free(scan_text(t, NULL, NULL, NULL, &n, &err));
    CHECK_EQ_INT(n, 14);
    /* the first six files kept their sequence numbers through two merges */
    char *files2 = live_file_list(t);
    char *p = files0;
    while (*p) {
        char *nl = strchr(p, '\n');
        *nl = 0;
        CHECK_MSG(strstr(files2, p) != NULL, "lost or renumbered: %s", p);
        p = nl + 1;
    }
    /* MERGE finds a file inside a merged manifest; the old one is DELETED */
    row m[] = {{3, 3, "updated"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, m, 1, &res, &err), &err);
    CHECK_EQ_INT(res.rows_updated, 1);
    CHECK_EQ_INT(res.files_removed, 1);
    char *one = scan_text(t, NULL, NULL, "id = 3", &n, &err);
    CHECK_STR(one, "00000003|2025-01-03|updated\n");
    kiln_free(scan_text(t, NULL, NULL, NULL, &n, &err));
    CHECK_EQ_INT(n, 14);
    kiln_free(one);
    kiln_free(files0);
    kiln_free(files1);
    kiln_free(files2);
    kiln_free(rows0);
    kiln_free(rows1);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(lake_write, concurrent_appends_rebase_overlapping_merge_conflicts)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t1 = NULL, *t2 = NULL;
    kiln_lake_write_result res;
    int64_t n;
    const char *dir = kt_tmpdir();
    CHECK_OK(open_table(&cat, &t1, dir, 1, &err), &err);
    row r0[] = {{1, 1, "a"}, {2, 2, "b"}};
    CHECK_OK(write_rows(t1, KILN_LAKE_WRITE_APPEND, NULL, r0, 2, &res, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t2, cat, "db.events", &err), &err);
    /* t1 and t2 both at snapshot 1; each appends to a different day */
    row a1[] = {{3, 3, "c"}};
    row a2[] = {{4, 4, "d"}};
    CHECK_OK(write_rows(t1, KILN_LAKE_WRITE_APPEND, NULL, a1, 1, &res, &err), &err);
    CHECK_OK(write_rows(t2, KILN_LAKE_WRITE_APPEND, NULL, a2, 1, &res, &err), &err);
    CHECK_EQ_INT(res.attempts, 2);
    char *txt = scan_text(t2, NULL, NULL, NULL, &n, &err);
    CHECK_STR(txt, "00000001|2025-01-01|a\n00000002|2025-01-02|b\n00000003|2025-01-03|c\n00000004|2025-01-04|d\n");
    kiln_free(txt);
    /* MERGE on different partitions from stale handles: rebases */
    CHECK_OK(kiln_lake_table_refresh(t1, &err), &err);
    row m1[] = {{1, 1, "A"}};
    row m2[] = {{2, 2, "B"}};
    CHECK_OK(write_rows(t1, KILN_LAKE_WRITE_MERGE, NULL, m1, 1, &res, &err), &err);
    CHECK_OK(write_rows(t2, KILN_LAKE_WRITE_MERGE, NULL, m2, 1, &res, &err), &err);
    CHECK_EQ_INT(res.attempts, 2);
    txt = scan_text(t2, NULL, NULL, "id <= 2", &n, &err);
    CHECK_STR(txt, "00000001|2025-01-01|A\n00000002|2025-01-02|B\n");
    kiln_free(txt);
    /* overlapping MERGE (same partition, same file) from a stale handle: conflict */
    CHECK_OK(kiln_lake_table_refresh(t1, &err), &err);
    row m3[] = {{1, 1, "one"}};
    row m4[] = {{1, 1, "uno"}};
    CHECK_OK(write_rows(t1, KILN_LAKE_WRITE_MERGE, NULL, m3, 1, &res, &err), &err);
    int rc = write_rows(t2, KILN_LAKE_WRITE_MERGE, NULL, m4, 1, &res, &err);
    CHECK_EQ_INT(rc, KILN_ECONFLICT);
    txt = scan_text(t1, NULL, NULL, "id = 1", &n, &err);
    CHECK_STR(txt, "00000001|2025-01-01|one\n");
    kiln_free(txt);
    kiln_lake_table_free(t1);
    kiln_lake_table_free(t2);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ crashes */

typedef struct crash_at {
    int fault; /* kiln_lake_fault_point or 0 */
    int hook;  /* kiln_lake_hook_point or 0 */
} crash_at;

static int fault_fn(kiln_lake_fault_point where, void *ctx)
{
    const crash_at *c = ctx;
    return (int)where == c->fault ? KILN_EIO : 0;
}

static int hook_fn(kiln_lake_hook_point where, void *ctx)
{
    const crash_at *c = ctx;
    return (int)where == c->hook ? KILN_EIO : 0;
}

static int count_orphans(kiln_lake_table *t, int dry, size_t *n, kiln_err *err)
{
    kiln_lake_orphan_opts o = {-1, dry};
    return kiln_lake_orphans_remove(t, &o, NULL, NULL, n, err);
}

TEST(lake_write, crash_at_each_commit_step_then_rerun_converges)
{
    static const crash_at points[] = {
        {KILN_LAKE_FAULT_AFTER_DATA_FILES, 0}, {KILN_LAKE_FAULT_AFTER_MANIFESTS, 0}, {0, KILN_LAKE_HOOK_BEFORE_WRITE},
        {0, KILN_LAKE_HOOK_BEFORE_SWAP},       {0, KILN_LAKE_HOOK_AFTER_SWAP},
    };
    const char *expect_base = "00000001|2025-01-01|a\n00000002|2025-01-02|b\n";
    const char *expect_merged = "00000001|2025-01-01|A\n00000002|2025-01-02|b\n00000003|2025-01-01|c\n";
    for (size_t i = 0; i < sizeof points / sizeof points[0]; i++) {
        kiln_err err = {0};
        kiln_lake_catalog *cat = NULL;
        kiln_lake_table *t = NULL, *t2 = NULL;
        kiln_lake_write_result res;
        int64_t n;
        char *dir = kiln_sprintf("%s/w%zu", kt_tmpdir(), i);
        CHECK_OK(open_table(&cat, &t, dir, 1, &err), &err);
        row base[] = {{1, 1, "a"}, {2, 2, "b"}};
        CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, base, 2, &res, &err), &err);
        int nsnap = nsnapshots(t);
        size_t orphans = 0;
        CHECK_OK(count_orphans(t, 1, &orphans, &err), &err);
        CHECK_EQ_INT(orphans, 0);

        /* the MERGE that "crashes" */
        row m[] = {{1, 1, "A"}, {3, 1, "c"}};
        kiln_lake_write_opts o;
        memset(&o, 0, sizeof o);
        o.mode = KILN_LAKE_WRITE_MERGE;
        o.merge_keys = "id";
        o.fault = fault_fn;
        o.fault_ctx = (void *)&points[i];
        kiln_lake_commit_opts co;
        memset(&co, 0, sizeof co);
        co.test_hook = hook_fn;
        co.test_hook_ctx = (void *)&points[i];
        o.commit = &co;
        kiln_lake_writer *w = NULL;
        kiln_batch *b = make_batch(m, 2);
        CHECK_OK(kiln_lake_writer_open(&w, t, &o, &err), &err);
        CHECK_OK(kiln_lake_writer_write(w, b, &err), &err);
        int rc = kiln_lake_writer_commit(w, &res, &err);
        kiln_lake_writer_free(w);
        kiln_batch_free(b);
        CHECK_MSG(rc != 0, "point %zu: commit should have failed", i);

        /* a fresh process' view of the table */
        CHECK_OK(kiln_lake_table_load(&t2, cat, "db.events", &err), &err);
        char *txt = scan_text(t2, NULL, NULL, NULL, &n, &err);
        CHECK_MSG(txt, "point %zu: %s", i, err.msg);
        if (points[i].hook == KILN_LAKE_HOOK_AFTER_SWAP) {
            /* the link is the commit point: the snapshot is there */
            CHECK_STR(txt, expect_merged);
            CHECK_EQ_INT(nsnapshots(t2), nsnap + 1);
        } else {
            CHECK_STR(txt, expect_base);
            CHECK_EQ_INT(nsnapshots(t2), nsnap);
            CHECK_OK(count_orphans(t2, 1, &orphans, &err), &err);
            CHECK_MSG(orphans > 0, "point %zu: the crashed commit's files should be orphans", i);
        }
        kiln_free(txt);

        /* re-run converges to the clean result */
        CHECK_OK(write_rows(t2, KILN_LAKE_WRITE_MERGE, NULL, m, 2, &res, &err), &err);
        txt = scan_text(t2, NULL, NULL, NULL, &n, &err);
        CHECK_STR(txt, expect_merged);
        kiln_free(txt);
        /* remove the orphans; the table still reads, nothing is left over */
        CHECK_OK(count_orphans(t2, 0, &orphans, &err), &err);
        CHECK_OK(count_orphans(t2, 1, &orphans, &err), &err);
        CHECK_EQ_INT(orphans, 0);
        txt = scan_text(t2, NULL, NULL, NULL, &n, &err);
        CHECK_STR(txt, expect_merged);
        kiln_free(txt);
        kiln_lake_table_free(t);
        kiln_lake_table_free(t2);
        kiln_lake_catalog_free(cat);
        kiln_free(dir);
    }
}

TEST(lake_write, orphans_respect_age_and_expire_deletes_files)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row r1[] = {{1, 1, "a"}, {2, 2, "b"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r1, 2, &res, &err), &err);
    char *stray = kiln_sprintf("%s/data/stray.parquet", kiln_lake_table_dir(t));
    CHECK(kt_write_file(stray, "x", 1) == 0);
    /* default threshold (3 days): a fresh file is not an orphan yet */
    size_t cnt = 9;
    kiln_lake_orphan_opts o = {0, 1};
    CHECK_OK(kiln_lake_orphans_remove(t, &o, NULL, NULL, &cnt, &err), &err);
    CHECK_EQ_INT(cnt, 0);
    o.older_than_ms = -1;
    CHECK_OK(kiln_lake_orphans_remove(t, &o, NULL, NULL, &cnt, &err), &err);
    CHECK_EQ_INT(cnt, 1);
    CHECK(access(stray, F_OK) == 0); /* dry run */
    o.dry_run = 0;
    CHECK_OK(kiln_lake_orphans_remove(t, &o, NULL, NULL, &cnt, &err), &err);
    CHECK(access(stray, F_OK) != 0);
    kiln_free(stray);

    /* overwrite day 1 twice; expiring the old snapshots deletes the replaced files */
    row r2[] = {{1, 1, "x"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_OVERWRITE, NULL, r2, 1, &res, &err), &err);
    row r3[] = {{1, 1, "y"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_OVERWRITE, NULL, r3, 1, &res, &err), &err);
    size_t deleted = 0;
    kiln_lake_expire_opts eo;
    memset(&eo, 0, sizeof eo);
    eo.older_than_ms = kiln_now_micros() / 1000 + 1000;
    eo.retain_last = 1;
    eo.on_expired = kiln_lake_expire_delete_files;
    eo.ctx = &deleted;
    CHECK_OK(kiln_lake_expire(t, &eo, NULL, NULL, &err), &err);
    CHECK(deleted >= 3); /* two replaced data files + manifest lists/manifests */
    char *txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    CHECK_STR(txt, "00000001|2025-01-01|y\n00000002|2025-01-02|b\n");
    kiln_free(txt);
    CHECK_OK(count_orphans(t, 1, &cnt, &err), &err);
    CHECK_EQ_INT(cnt, 0);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ tables for independent readers */

/* Builds the tables tests/e2e/table_data.sh hands to icebird and avsc:
 * db.events (day(ts)) after append, overwrite, MERGE, delete, a column
 * rename and a write on branch "dev"; db.types (month(dt)) with every
 * primitive kiln writes, nulls included, after a MERGE. Written to
 * $KILN_LAKEDATA_EXPORT when set, else to the test's temp dir. */
static const kiln_column_def TCOLS[] = {
    {"i", KILN_T_INT32, 1, 1, 0, 0},  {"l", KILN_T_INT64, 0, 2, 0, 0}, {"d", KILN_T_DOUBLE, 0, 3, 0, 0},
    {"b", KILN_T_BOOL, 0, 4, 0, 0},   {"dt", KILN_T_DATE, 0, 5, 0, 0}, {"dec", KILN_T_DECIMAL, 0, 6, 9, 2},
    {"s", KILN_T_STRING, 0, 7, 0, 0}, {"f", KILN_T_FLOAT, 0, 8, 0, 0},
};
static const kiln_schema TSCHEMA = {8, TCOLS};

static kiln_batch *types_batch(int first, int n, const char *tag)
{
    kiln_batch *b = NULL;
    kiln_err err = {0};
    if (kiln_batch_new(&b, &TSCHEMA, (size_t)n, 0, &err))
        return NULL;
    for (int k = 0; k < n; k++) {
        int i = first + k;
        kiln_batch_put_i32(b, 0, i, &err);
        if (i % 3 == 0)
            kiln_batch_put_null(b, 1, &err);
        else
            kiln_batch_put_i64(b, 1, (int64_t)i * 1000000007LL, &err);
        kiln_batch_put_f64(b, 2, i * 1.25, &err);
        kiln_batch_put_bool(b, 3, i % 2, &err);
        kiln_batch_put_i32(b, 4, (int32_t)kiln_days_from_civil(2024, 1 + i % 3, 1 + i % 27), &err);
        kiln_batch_put_i64(b, 5, (int64_t)i * 12345 - 50000, &err);
        char s[64];
        int sl = snprintf(s, sizeof s, "%s-%d, \"q\"", tag, i);
        if (i % 4 == 0)
            kiln_batch_put_null(b, 6, &err);
        else
            kiln_batch_put_str(b, 6, s, (size_t)sl, &err);
        kiln_batch_put_f32(b, 7, (float)i / 4, &err);
        kiln_batch_end_row(b, &err);
    }
    return b;
}

static int export_dir(char **out)
{
    const char *e = getenv("KILN_LAKEDATA_EXPORT");
    *out = e && *e ? kiln_strdup(e) : kiln_sprintf("%s/export", kt_tmpdir());
    return e && *e;
}

TEST(lake_export, tables_for_readers)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL, *tt = NULL;
    kiln_lake_write_result res;
    int64_t n;
    char *dir = NULL;
    export_dir(&dir);
    CHECK_OK(open_table(&cat, &t, dir, 1, &err), &err);
    row r1[] = {{1, 1, "a"}, {2, 1, "b"}, {3, 1, "c"}, {4, 2, "d"}, {5, 2, "e"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r1, 5, &res, &err), &err);
    row r2[] = {{10, 2, "x"}, {11, 2, "y"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_OVERWRITE, NULL, r2, 2, &res, &err), &err);
    row m[] = {{1, 1, "A"}, {20, 1, "new"}, {21, 5, "five"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, m, 3, &res, &err), &err);
    CHECK_OK(kiln_lake_delete_where(t, "name = 'c'", NULL, &res, &err), &err);
    /* schema evolution: rename name -> label (by field id), then write more */
    kiln_lake_txn *txn = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_rename_column(txn, "name", "label", &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    static const kiln_column_def C2[] = {
        {"id", KILN_T_INT64, 1, 1, 0, 0}, {"ts", KILN_T_TIMESTAMPTZ, 0, 2, 0, 0}, {"label", KILN_T_STRING, 0, 3, 0, 0}};
    static const kiln_schema S2 = {3, C2};
    kiln_batch *b = NULL;
    CHECK_OK(kiln_batch_new(&b, &S2, 4, 0, &err), &err);
    kiln_batch_put_i64(b, 0, 30, &err);
    kiln_batch_put_i64(b, 1, kiln_days_from_civil(2025, 1, 3) * 86400000000LL, &err);
    kiln_batch_put_str(b, 2, "after-rename", 12, &err);
    CHECK_OK(kiln_batch_end_row(b, &err), &err);
    kiln_lake_writer *w = NULL;
    CHECK_OK(kiln_lake_writer_open(&w, t, NULL, &err), &err);
    CHECK_OK(kiln_lake_writer_write(w, b, &err), &err);
    CHECK_OK(kiln_lake_writer_commit(w, &res, &err), &err);
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    /* a branch */
    row r3[] = {{40, 4, "dev-only"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, "dev", r3, 1, &res, &err), &err);
    char *txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    kiln_free(txt);
    CHECK_EQ_INT(n, 7); /* 1 A, 2 b, 10 x, 11 y, 20 new, 21 five, 30 after-rename */
    kiln_lake_table_free(t);

    /* db.types */
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "i int not null, l long, d double, b boolean, dt date, dec decimal(9,2), s string, f float";
    co.partition = "month(dt)";
    CHECK_OK(kiln_lake_table_create(&tt, cat, "db.types", &co, &err), &err);
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    kiln_batch *tb = types_batch(1, 30, "v1");
    CHECK_OK(kiln_lake_writer_open(&w, tt, &o, &err), &err);
    CHECK_OK(kiln_lake_writer_write(w, tb, &err), &err);
    CHECK_OK(kiln_lake_writer_commit(w, &res, &err), &err);
    kiln_lake_writer_free(w);
    kiln_batch_free(tb);
    o.mode = KILN_LAKE_WRITE_MERGE;
    o.merge_keys = "i";
    tb = types_batch(25, 10, "v2");
    CHECK_OK(kiln_lake_writer_open(&w, tt, &o, &err), &err);
    CHECK_OK(kiln_lake_writer_write(w, tb, &err), &err);
    CHECK_OK(kiln_lake_writer_commit(w, &res, &err), &err);
    kiln_lake_writer_free(w);
    kiln_batch_free(tb);
    CHECK_EQ_INT(res.rows_inserted, 4); /* 31..34 */
    CHECK_EQ_INT(res.rows_updated, 5);  /* 25..30 changed their tag, except 28 whose s is null in both */
    kiln_lake_table_free(tt);
    kiln_lake_catalog_free(cat);
    kiln_free(dir);
}

/* ------------------------------------------------------------ a writer that really dies */

static int die_fault(kiln_lake_fault_point where, void *ctx)
{
    if ((int)where == ((const crash_at *)ctx)->fault)
        _exit(137);
    return 0;
}

static int die_hook(kiln_lake_hook_point where, void *ctx)
{
    if ((int)where == ((const crash_at *)ctx)->hook)
        _exit(137);
    return 0;
}

static const struct {
    const char *name;
    crash_at at;
} KILL_POINTS[] = {
    {"after-data", {KILN_LAKE_FAULT_AFTER_DATA_FILES, 0}},
    {"after-manifests", {KILN_LAKE_FAULT_AFTER_MANIFESTS, 0}},
    {"before-swap", {0, KILN_LAKE_HOOK_BEFORE_SWAP}},
    {"after-swap", {0, KILN_LAKE_HOOK_AFTER_SWAP}},
};

/* The MERGE the killed writer runs (also the re-run). */
static const row KILL_MERGE[] = {{1, 1, "killed-merge"}, {50, 1, "inserted"}};

static int merge_dying(kiln_lake_table *t, const crash_at *at, kiln_err *err)
{
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    o.mode = KILN_LAKE_WRITE_MERGE;
    o.merge_keys = "id";
    o.fault = die_fault;
    o.fault_ctx = (void *)at;
    kiln_lake_commit_opts co;
    memset(&co, 0, sizeof co);
    co.test_hook = die_hook;
    co.test_hook_ctx = (void *)at;
    o.commit = &co;
    kiln_lake_writer *w = NULL;
    kiln_batch *b = make_batch_for(t, KILL_MERGE, 2);
    kiln_lake_write_result res;
    int rc = kiln_lake_writer_open(&w, t, &o, err);
    if (!rc)
        rc = kiln_lake_writer_write(w, b, err);
    if (!rc)
        rc = kiln_lake_writer_commit(w, &res, err);
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    return rc;
}

/* With KILN_LAKEDATA_CRASH_AT=<point> and KILN_LAKEDATA_EXPORT=<warehouse>
 * (tests/e2e/table_data.sh), this process dies (exit 137) in the middle of
 * a MERGE on db.events. Without them, it forks such a writer for every
 * point and checks what a fresh reader sees afterwards. */
TEST(lake_export, killed_writer)
{
    kiln_err err = {0};
    const char *at_env = getenv("KILN_LAKEDATA_CRASH_AT");
    if (at_env && !strcmp(at_env, "none")) {
        /* the re-run of the same MERGE, to completion */
        char *dir = NULL;
        CHECK_MSG(export_dir(&dir), "KILN_LAKEDATA_EXPORT must name the warehouse");
        kiln_lake_catalog *cat = NULL;
        kiln_lake_table *t = NULL;
        kiln_lake_write_result res;
        CHECK_OK(open_table(&cat, &t, dir, 0, &err), &err);
        CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, KILL_MERGE, 2, &res, &err), &err);
        kiln_lake_table_free(t);
        kiln_lake_catalog_free(cat);
        kiln_free(dir);
        return;
    }
    if (at_env && *at_env) {
        const crash_at *at = NULL;
        for (size_t i = 0; i < sizeof KILL_POINTS / sizeof KILL_POINTS[0]; i++)
            if (!strcmp(KILL_POINTS[i].name, at_env))
                at = &KILL_POINTS[i].at;
        CHECK_MSG(at, "KILN_LAKEDATA_CRASH_AT=%s: use after-data, after-manifests, before-swap, after-swap", at_env);
        char *dir = NULL;
        CHECK_MSG(export_dir(&dir), "KILN_LAKEDATA_EXPORT must name the warehouse");
        kiln_lake_catalog *cat = NULL;
        kiln_lake_table *t = NULL;
        CHECK_OK(open_table(&cat, &t, dir, 0, &err), &err);
        int rc = merge_dying(t, at, &err);
        CHECK_MSG(0, "the writer should have died at %s (rc %d: %s)", at_env, rc, err.msg);
    }
    for (size_t i = 0; i < sizeof KILL_POINTS / sizeof KILL_POINTS[0]; i++) {
        kiln_lake_catalog *cat = NULL;
        kiln_lake_table *t = NULL;
        kiln_lake_write_result res;
        int64_t n;
        char *dir = kiln_sprintf("%s/k%zu", kt_tmpdir(), i);
        CHECK_OK(open_table(&cat, &t, dir, 1, &err), &err);
        row base[] = {{1, 1, "a"}, {2, 2, "b"}};
        CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, base, 2, &res, &err), &err);
        char *before = scan_text(t, NULL, NULL, NULL, &n, &err);
        fflush(NULL);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            merge_dying(t, &KILL_POINTS[i].at, &err);
            _exit(3); /* did not die where asked */
        }
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 137, "%s: child status %d", KILL_POINTS[i].name, status);
        kiln_lake_table *t2 = NULL;
        CHECK_OK(kiln_lake_table_load(&t2, cat, "db.events", &err), &err);
        char *after = scan_text(t2, NULL, NULL, NULL, &n, &err);
        CHECK_MSG(after, "%s: %s", KILL_POINTS[i].name, err.msg);
        size_t orphans = 0;
        CHECK_OK(count_orphans(t2, 1, &orphans, &err), &err);
        if (KILL_POINTS[i].at.hook == KILN_LAKE_HOOK_AFTER_SWAP) {
            CHECK_MSG(strstr(after, "killed-merge") != NULL, "after-swap: the commit is durable");
        } else {
            CHECK_STR(after, before);
            CHECK_MSG(orphans > 0, "%s: orphans expected", KILL_POINTS[i].name);
        }
        /* re-run converges; orphans go away */
        CHECK_OK(write_rows(t2, KILN_LAKE_WRITE_MERGE, NULL, KILL_MERGE, 2, &res, &err), &err);
        char *final = scan_text(t2, NULL, NULL, NULL, &n, &err);
        CHECK_STR(final, "00000001|2025-01-01|killed-merge\n00000002|2025-01-02|b\n00000050|2025-01-01|inserted\n");
        CHECK_OK(count_orphans(t2, 0, &orphans, &err), &err);
        CHECK_OK(count_orphans(t2, 1, &orphans, &err), &err);
        CHECK_EQ_INT(orphans, 0);
        kiln_free(before);
        kiln_free(after);
        kiln_free(final);
        kiln_free(dir);
        kiln_lake_table_free(t);
        kiln_lake_table_free(t2);
        kiln_lake_catalog_free(cat);
    }
}

/* Several processes MERGE different partitions of one table at once: every
 * commit is there afterwards (the losers of each race rebase). */
TEST(lake_write, concurrent_processes_merge_different_partitions)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    enum { NPROC = 4, NROUNDS = 3 };
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row base[NPROC];
    for (int p = 0; p < NPROC; p++)
        base[p] = (row){p + 1, p + 1, "base"};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, base, NPROC, &res, &err), &err);
    fflush(NULL);
    pid_t pids[NPROC];
    for (int p = 0; p < NPROC; p++) {
        pids[p] = fork();
        CHECK(pids[p] >= 0);
        if (pids[p] == 0) {
            kiln_lake_catalog *c2 = NULL;
            kiln_lake_table *t2 = NULL;
            if (kiln_lake_catalog_open(&c2, kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE, &err) ||
                kiln_lake_table_load(&t2, c2, "db.events", &err))
                _exit(2);
            for (int r = 0; r < NROUNDS; r++) {
                char name[32];
                snprintf(name, sizeof name, "p%d-r%d", p, r);
                /* update this process' base row and insert one row, all on day p+1 */
                row m[2] = {{p + 1, p + 1, name}, {100 * (p + 1) + r, p + 1, name}};
                if (kiln_lake_table_refresh(t2, &err) ||
                    write_rows(t2, KILN_LAKE_WRITE_MERGE, NULL, m, 2, &res, &err)) {
                    fprintf(stderr, "process %d round %d: %s\n", p, r, err.msg);
                    _exit(1);
                }
            }
            _exit(0);
        }
    }
    for (int p = 0; p < NPROC; p++) {
        int status = 0;
        CHECK(waitpid(pids[p], &status, 0) == pids[p]);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d failed (status %d)", p, status);
    }
    CHECK_OK(kiln_lake_table_refresh(t, &err), &err);
    CHECK_EQ_INT(nsnapshots(t), 1 + NPROC * NROUNDS);
    char *txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    CHECK_EQ_INT(n, NPROC + NPROC * NROUNDS);
    for (int p = 0; p < NPROC; p++) {
        char want[64];
        snprintf(want, sizeof want, "%08d|2025-01-%02d|p%d-r%d\n", p + 1, p + 1, p, NROUNDS - 1);
        CHECK_MSG(strstr(txt, want), "missing %s in\n%s", want, txt);
        for (int r = 0; r < NROUNDS; r++) {
            snprintf(want, sizeof want, "%08d|2025-01-%02d|p%d-r%d\n", 100 * (p + 1) + r, p + 1, p, r);
            CHECK_MSG(strstr(txt, want), "missing %s in\n%s", want, txt);
        }
    }
    kiln_free(txt);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ position deletes */

typedef struct live_files {
    char path[8][512];
    int64_t day[8];
    int64_t size[8];
    int n;
} live_files;

static int collect_live(void *ctx, const kiln_lake_entry *e)
{
    live_files *lf = ctx;
    if (lf->n < 8 && e->df.content == KILN_LAKE_CONTENT_DATA) {
        snprintf(lf->path[lf->n], sizeof lf->path[0], "%s", e->df.file_path);
        lf->day[lf->n] = e->df.npart ? e->df.partition[0].i : -1;
        lf->size[lf->n] = e->df.file_size_in_bytes;
        lf->n++;
    }
    return 0;
}

/* Commit a position-delete file (rows: file path + pos) in partition `day`
 * the way another engine would (kiln itself writes copy-on-write). */
static int commit_pos_deletes(kiln_lake_table *t, int64_t day, const char *const *paths, const int64_t *pos, int n,
                              kiln_err *err)
{
    static const kiln_column_def DC[] = {{"file_path", KILN_T_STRING, 1, 2147483546, 0, 0},
                                         {"pos", KILN_T_INT64, 1, 2147483545, 0, 0}};
    static const kiln_schema DS = {2, DC};
    kiln_arena *a = kiln_arena_new(4096);
    kiln_lake_view v;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    char *local = kiln_sprintf("%s/data/pos-delete-%lld.parquet", kiln_lake_table_dir(t), (long long)day);
    char *uri = NULL, *mlocal = NULL, *muri = NULL, *oldlist = NULL;
    kiln_parquet_writer *pw = NULL;
    kiln_parquet_file_stats st;
    memset(&st, 0, sizeof st);
    kiln_batch *b = NULL;
    int rc = kiln_lake_view_from_meta(&v, a, m, m->current_snapshot_id, NULL, err);
    if (rc)
        goto done;
    if ((rc = kiln_batch_new(&b, &DS, (size_t)n, 0, err)))
        goto done;
    for (int i = 0; i < n; i++) {
        kiln_batch_put_str(b, 0, paths[i], strlen(paths[i]), err);
        kiln_batch_put_i64(b, 1, pos[i], err);
        kiln_batch_end_row(b, err);
    }
    if ((rc = kiln_parquet_writer_open(&pw, local, &DS, NULL, err)) || (rc = kiln_parquet_writer_write(pw, b, err)) ||
        (rc = kiln_parquet_writer_close(pw, &st, err)))
        goto done;
    kiln_lake_value part;
    memset(&part, 0, sizeof part);
    part.i = day;
    kiln_lake_entry e;
    memset(&e, 0, sizeof e);
    e.status = KILN_LAKE_STATUS_ADDED;
    e.df.content = KILN_LAKE_CONTENT_POS_DELETES;
    uri = kiln_lake_path_to_uri(local);
    e.df.file_path = uri;
    e.df.file_format = "PARQUET";
    e.df.npart = 1;
    e.df.partition = &part;
    e.df.record_count = n;
    e.df.file_size_in_bytes = (int64_t)st.file_size_in_bytes;
    int64_t sid = kiln_lake_snapshot_id_new(), seq = m->last_sequence_number + 1;
    kiln_lake_manifest_meta mm = {"{}", 0, kiln_lake_view_spec(&v, m->default_spec_id), 1, sid, seq, 2};
    mlocal = kiln_sprintf("%s/metadata/pos-delete-m-%lld.avro", kiln_lake_table_dir(t), (long long)sid);
    muri = kiln_lake_path_to_uri(mlocal);
    kiln_lake_manifest rows[16];
    size_t nrows = 0;
    kiln_lake_manifest *old = NULL;
    size_t nold = 0;
    if ((rc = kiln_lake_manifest_write(&rows[0], a, mlocal, muri, &mm, &e, 1, err)))
        goto done;
    rows[0].seq = rows[0].min_seq = seq;
    nrows = 1;
    if ((rc = kiln_lake_uri_to_path(&oldlist, v.manifest_list, err)) ||
        (rc = kiln_lake_manifest_list_read(&old, &nold, a, oldlist, err)))
        goto done;
    for (size_t i = 0; i < nold && nrows < 16; i++)
        rows[nrows++] = old[i];
    char *llocal = kiln_sprintf("%s/metadata/snap-%lld-1-posdel.avro", kiln_lake_table_dir(t), (long long)sid);
    char *luri = kiln_lake_path_to_uri(llocal);
    kiln_lake_mlist_meta lm = {sid, m->current_snapshot_id, seq, 2};
    rc = kiln_lake_manifest_list_write(llocal, &lm, rows, nrows, err);
    kiln_lake_txn *txn = NULL;
    if (!rc)
        rc = kiln_lake_txn_begin(&txn, t, err);
    if (!rc) {
        kiln_lake_kv sum[] = {{"operation", "delete"}, {"added-delete-files", "1"}};
        kiln_lake_snapshot s;
        memset(&s, 0, sizeof s);
        s.snapshot_id = sid;
        s.parent_id = m->current_snapshot_id;
        s.sequence_number = seq;
        s.timestamp_ms = kiln_now_micros() / 1000;
        s.manifest_list = luri;
        s.schema_id = m->current_schema_id;
        s.operation = "delete";
        s.nsummary = 2;
        s.summary = sum;
        kiln_lake_ref r = {"main", KILN_LAKE_BRANCH, sid, -1, -1, -1};
        if (!(rc = kiln_lake_txn_require_ref_snapshot(txn, "main", m->current_snapshot_id, err)) &&
            !(rc = kiln_lake_txn_add_snapshot(txn, &s, err)) && !(rc = kiln_lake_txn_set_ref(txn, &r, err)))
            rc = kiln_lake_txn_commit(txn, NULL, NULL, err);
    }
    kiln_lake_txn_free(txn);
    kiln_free(llocal);
    kiln_free(luri);
done:
    kiln_free(oldlist);
    kiln_free(mlocal);
    kiln_free(muri);
    kiln_free(uri);
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_writer_free(pw);
    kiln_batch_free(b);
    kiln_free(local);
    kiln_arena_free(a);
    return rc;
}

TEST(lake_write, position_deletes_apply_by_file_partition_and_sequence)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row r1[] = {{1, 1, "a"}, {2, 1, "b"}, {3, 1, "c"}, {4, 2, "d"}, {5, 2, "e"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r1, 5, &res, &err), &err);
    live_files lf;
    memset(&lf, 0, sizeof lf);
    CHECK_OK(kiln_lake_files_list(t, -1, collect_live, &lf, &err), &err);
    CHECK_EQ_INT(lf.n, 2);
    int a = lf.day[0] == kiln_days_from_civil(2025, 1, 1) ? 0 : 1, b = 1 - a;
    /* day 1's delete file: rows 0 and 2 of day 1's file, and row 0 of day
     * 2's file, which must be ignored (another partition) */
    const char *paths[] = {lf.path[a], lf.path[a], lf.path[b]};
    int64_t pos[] = {0, 2, 0};
    CHECK_OK(commit_pos_deletes(t, lf.day[a], paths, pos, 3, &err), &err);
    char *txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_MSG(txt, "%s", err.msg);
    CHECK_STR(txt, "00000002|2025-01-01|b\n00000004|2025-01-02|d\n00000005|2025-01-02|e\n");
    kiln_free(txt);
    /* a later append to day 1 is not touched (different file, newer) */
    row r2[] = {{6, 1, "f"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, r2, 1, &res, &err), &err);
    /* MERGE rewrites day 1's file with the deletes applied */
    row m[] = {{2, 1, "B"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, m, 1, &res, &err), &err);
    CHECK_EQ_INT(res.rows_updated, 1);
    txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_STR(txt, "00000002|2025-01-01|B\n00000004|2025-01-02|d\n00000005|2025-01-02|e\n00000006|2025-01-01|f\n");
    kiln_free(txt);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* Schema evolution read by field id: a column added later is null in old
 * files; a renamed column keeps its values; int widened to long reads. */
TEST(lake_write, schema_evolution_by_field_id)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    CHECK_OK(kiln_lake_catalog_open(&cat, kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "k int not null, v string";
    CHECK_OK(kiln_lake_table_create(&t, cat, "db.evo", &co, &err), &err);
    static const kiln_column_def C1[] = {{"k", KILN_T_INT32, 1, 1, 0, 0}, {"v", KILN_T_STRING, 0, 2, 0, 0}};
    static const kiln_schema S1 = {2, C1};
    kiln_batch *b = NULL;
    CHECK_OK(kiln_batch_new(&b, &S1, 4, 0, &err), &err);
    kiln_batch_put_i32(b, 0, 7, &err);
    kiln_batch_put_str(b, 1, "seven", 5, &err);
    CHECK_OK(kiln_batch_end_row(b, &err), &err);
    kiln_lake_writer *w = NULL;
    CHECK_OK(kiln_lake_writer_open(&w, t, NULL, &err), &err);
    CHECK_OK(kiln_lake_writer_write(w, b, &err), &err);
    CHECK_OK(kiln_lake_writer_commit(w, &res, &err), &err);
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    kiln_lake_txn *txn = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_widen_column(txn, "k", "long", &err), &err);
    CHECK_OK(kiln_lake_txn_rename_column(txn, "v", "word", &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, NULL, "extra", "double", NULL, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    static const kiln_column_def C2[] = {
        {"k", KILN_T_INT64, 1, 1, 0, 0}, {"word", KILN_T_STRING, 0, 2, 0, 0}, {"extra", KILN_T_DOUBLE, 0, 3, 0, 0}};
    static const kiln_schema S2 = {3, C2};
    CHECK_OK(kiln_batch_new(&b, &S2, 4, 0, &err), &err);
    kiln_batch_put_i64(b, 0, 5000000000LL, &err);
    kiln_batch_put_str(b, 1, "big", 3, &err);
    kiln_batch_put_f64(b, 2, 2.5, &err);
    CHECK_OK(kiln_batch_end_row(b, &err), &err);
    CHECK_OK(kiln_lake_writer_open(&w, t, NULL, &err), &err);
    CHECK_OK(kiln_lake_writer_write(w, b, &err), &err);
    CHECK_OK(kiln_lake_writer_commit(w, &res, &err), &err);
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    kiln_lake_scan *s = NULL;
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.where = "k < 100";
    CHECK_OK(kiln_lake_scan_open(&s, t, &o, &err), &err);
    const kiln_batch *ob;
    CHECK_EQ_INT(kiln_lake_scan_next(s, &ob, &err), 1);
    CHECK_EQ_INT(ob->nrows, 1);
    CHECK_EQ_INT(ob->cols[0].type, KILN_T_INT64);
    CHECK_EQ_INT(ob->cols[0].v.i64[0], 7);
    size_t n;
    const char *word = kiln_batch_str(ob, 1, 0, &n);
    CHECK(n == 5 && !memcmp(word, "seven", 5));
    CHECK(kiln_batch_is_null(ob, 2, 0));
    kiln_lake_scan_free(s);
    o.where = "extra = 2.5";
    CHECK_OK(kiln_lake_scan_open(&s, t, &o, &err), &err);
    CHECK_EQ_INT(kiln_lake_scan_next(s, &ob, &err), 1);
    CHECK_EQ_INT(ob->nrows, 1);
    CHECK_EQ_INT(ob->cols[0].v.i64[0], 5000000000LL);
    kiln_lake_scan_free(s);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* The kiln_sink face of a writer: commit makes the rows visible, abort
 * leaves nothing behind. */
TEST(lake_write, sink_commit_and_abort)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row r1[] = {{1, 1, "a"}, {2, 2, "b"}};
    kiln_batch *b = make_batch(r1, 2);
    kiln_sink *s = NULL;
    CHECK_OK(kiln_lake_sink_new(&s, t, NULL, &res, &err), &err);
    CHECK_OK(kiln_sink_write(s, b, &err), &err);
    kiln_sink_abort(s);
    kiln_sink_free(s);
    CHECK_EQ_INT(nsnapshots(t), 0);
    size_t orphans = 9;
    CHECK_OK(count_orphans(t, 1, &orphans, &err), &err);
    CHECK_EQ_INT(orphans, 0);
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    o.mode = KILN_LAKE_WRITE_MERGE;
    o.merge_keys = "id";
    CHECK_OK(kiln_lake_sink_new(&s, t, &o, &res, &err), &err);
    CHECK_OK(kiln_sink_write(s, b, &err), &err);
    CHECK_OK(kiln_sink_write(s, b, &err), &err); /* duplicate keys: last wins, still 2 rows */
    CHECK_OK(kiln_sink_commit(s, &err), &err);
    kiln_sink_free(s);
    CHECK_EQ_INT(res.rows_inserted, 2);
    char *txt = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK_STR(txt, "00000001|2025-01-01|a\n00000002|2025-01-02|b\n");
    kiln_free(txt);
    kiln_batch_free(b);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* Allocation failures anywhere in a MERGE (files, manifests, commit) are
 * errors; the table stays at the old or the new state, never in between,
 * and nothing leaks (run under ASan). */
TEST(lake_write, allocation_failures_during_merge)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_write_result res;
    int64_t n;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), 1, &err), &err);
    row base[] = {{1, 1, "a"}, {2, 2, "b"}};
    CHECK_OK(write_rows(t, KILN_LAKE_WRITE_APPEND, NULL, base, 2, &res, &err), &err);
    char *cur = scan_text(t, NULL, NULL, NULL, &n, &err);
    CHECK(cur);
    int failures = 0, successes = 0;
    for (long k = 0; k < 3000; k += 11) {
        char name[32];
        snprintf(name, sizeof name, "v%ld", k);
        row m[] = {{1, 1, name}, {3, 1, "c"}};
        kiln_alloc_fail_after(k);
        int rc = write_rows(t, KILN_LAKE_WRITE_MERGE, NULL, m, 2, &res, &err);
        kiln_alloc_fail_after(-1);
        CHECK_OK(kiln_lake_table_refresh(t, &err), &err);
        char *now = scan_text(t, NULL, NULL, NULL, &n, &err);
        CHECK_MSG(now, "k=%ld: %s", k, err.msg);
        char want[128];
        snprintf(want, sizeof want, "00000001|2025-01-01|%s\n00000002|2025-01-02|b\n00000003|2025-01-01|c\n", name);
        if (rc == 0) {
            CHECK_STR(now, want);
            successes++;
        } else {
            /* a failed MERGE changed nothing: once the metadata file is
             * linked the commit has happened and reports success */
            CHECK_MSG(!strcmp(now, cur), "k=%ld: MERGE reported failure (%s) but changed the table:\n%s", k, err.msg,
                      now);
            failures++;
        }
        kiln_free(cur);
        cur = now;
    }
    kiln_free(cur);
    CHECK(failures > 0);
    CHECK(successes > 0);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}
