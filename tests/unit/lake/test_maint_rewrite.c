/*
 * test_maint_rewrite.c - kiln_lake_rewrite_data_files: rows identical
 * before and after (position and equality deletes applied, the delete
 * files gone), file selection (min input files, where, rewrite-all),
 * sorted output, and concurrency: a writer committing between the rewrite's
 * file writing and its commit (an append is kept; a delete that removed an
 * input file fails only that partition; when every partition conflicts,
 * KILN_ECONFLICT and nothing is left behind).
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
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

static int open_table(kiln_lake_catalog **cat, kiln_lake_table **t, const char *dir, const char *sort, kiln_err *err)
{
    int rc = kiln_lake_catalog_open(cat, dir, KILN_LAKE_CATALOG_SQLITE, err);
    if (rc)
        return rc;
    if (kiln_lake_table_load(t, *cat, "db.events", &(kiln_err){0}) == 0)
        return 0;
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "id long not null, ts timestamptz, name string";
    co.partition = "day(ts)";
    co.sort = sort;
    return kiln_lake_table_create(t, *cat, "db.events", &co, err);
}

/* Append ids [from, from+n) on 2025-01-DD, names "n<id>". */
static int append_ids(kiln_lake_table *t, int64_t from, int n, int day, kiln_err *err)
{
    kiln_batch *b = NULL;
    int rc = kiln_batch_new(&b, &SCHEMA, (size_t)n, 0, err);
    for (int i = 0; !rc && i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "n%lld", (long long)(from + i));
        kiln_batch_put_i64(b, 0, from + i, err);
        kiln_batch_put_i64(b, 1, (kiln_days_from_civil(2025, 1, day) * 86400 + i) * 1000000LL, err);
        kiln_batch_put_str(b, 2, name, strlen(name), err);
        rc = kiln_batch_end_row(b, err);
    }
    kiln_lake_writer *w = NULL;
    if (!rc)
        rc = kiln_lake_writer_open(&w, t, NULL, err);
    if (!rc)
        rc = kiln_lake_writer_write(w, b, err);
    if (!rc)
        rc = kiln_lake_writer_commit(w, NULL, err);
    kiln_lake_writer_free(w);
    kiln_batch_free(b);
    return rc;
}

/* Every row as "id|name" lines, sorted; *nrows rows. Caller frees. */
static char *scan_text(kiln_lake_table *t, int64_t *nrows, kiln_err *err)
{
    kiln_lake_scan *s = NULL;
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.columns = "id,name";
    if (kiln_lake_scan_open(&s, t, &o, err))
        return NULL;
    KILN_VEC(char *) lines = {0};
    const kiln_batch *b;
    int rc;
    while ((rc = kiln_lake_scan_next(s, &b, err)) == 1)
        for (size_t r = 0; r < b->nrows; r++) {
            size_t n;
            const char *nm = kiln_batch_str(b, 1, r, &n);
            char *line = kiln_sprintf("%08lld|%.*s\n", (long long)b->cols[0].v.i64[r], (int)n, nm);
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
    kiln_buf_append(&out, "", 0, err);
    for (size_t i = 0; i < lines.len; i++) {
        kiln_buf_append(&out, lines.items[i], strlen(lines.items[i]), err);
        kiln_free(lines.items[i]);
    }
    kiln_vec_free(&lines);
    *nrows = (int64_t)0;
    for (size_t i = 0; i < out.len; i++)
        *nrows += out.data[i] == '\n';
    return out.data;
}

typedef struct files_info {
    int data, deletes;
    int per_day[32];
    int sort_order_id;
    char path[4][512]; /* the first data files of day 1 */
    int npath;
} files_info;

static int count_cb(void *ctx, const kiln_lake_entry *e)
{
    files_info *fi = ctx;
    if (e->df.content != KILN_LAKE_CONTENT_DATA) {
        fi->deletes++;
        return 0;
    }
    fi->data++;
    int day = (int)(e->df.partition[0].i - kiln_days_from_civil(2025, 1, 1)) + 1;
    if (day >= 0 && day < 32)
        fi->per_day[day]++;
    fi->sort_order_id = e->df.has_sort_order_id ? e->df.sort_order_id : -1;
    if (day == 1 && fi->npath < 4)
        snprintf(fi->path[fi->npath++], sizeof fi->path[0], "%s", e->df.file_path);
    return 0;
}

static files_info count_files(kiln_lake_table *t)
{
    files_info fi;
    memset(&fi, 0, sizeof fi);
    kiln_err err = {0};
    kiln_lake_files_list(t, -1, count_cb, &fi, &err);
    return fi;
}

/* Commit a delete file the way another engine would (kiln writes
 * copy-on-write): content POS (rows path+pos) or EQ (rows of ids, equality
 * field id 1), in partition day `day`. */
static int commit_delete(kiln_lake_table *t, int content, int day, const char *const *paths, const int64_t *vals, int n,
                         kiln_err *err)
{
    static const kiln_column_def PC[] = {{"file_path", KILN_T_STRING, 1, 2147483546, 0, 0},
                                         {"pos", KILN_T_INT64, 1, 2147483545, 0, 0}};
    static const kiln_schema PS = {2, PC};
    static const kiln_column_def EC[] = {{"id", KILN_T_INT64, 1, 1, 0, 0}};
    static const kiln_schema ES = {1, EC};
    const kiln_schema *ds = content == KILN_LAKE_CONTENT_POS_DELETES ? &PS : &ES;
    kiln_arena *a = kiln_arena_new(4096);
    kiln_lake_view v;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    static int seqno;
    char *local = kiln_sprintf("%s/data/delete-%d-%d.parquet", kiln_lake_table_dir(t), getpid(), ++seqno);
    char *uri = NULL, *mlocal = NULL, *muri = NULL, *llocal = NULL, *luri = NULL;
    kiln_parquet_writer *pw = NULL;
    kiln_parquet_file_stats st;
    memset(&st, 0, sizeof st);
    kiln_batch *b = NULL;
    kiln_lake_txn *txn = NULL;
    int rc = kiln_lake_view_from_meta(&v, a, m, m->current_snapshot_id, NULL, err);
    if (rc || (rc = kiln_batch_new(&b, ds, (size_t)n, 0, err)))
        goto done;
    for (int i = 0; i < n; i++) {
        if (content == KILN_LAKE_CONTENT_POS_DELETES) {
            kiln_batch_put_str(b, 0, paths[i], strlen(paths[i]), err);
            kiln_batch_put_i64(b, 1, vals[i], err);
        } else {
            kiln_batch_put_i64(b, 0, vals[i], err);
        }
        kiln_batch_end_row(b, err);
    }
    if ((rc = kiln_parquet_writer_open(&pw, local, ds, NULL, err)) || (rc = kiln_parquet_writer_write(pw, b, err)) ||
        (rc = kiln_parquet_writer_close(pw, &st, err)))
        goto done;
    kiln_lake_value part;
    memset(&part, 0, sizeof part);
    part.i = kiln_days_from_civil(2025, 1, day);
    int eq_id = 1;
    kiln_lake_entry e;
    memset(&e, 0, sizeof e);
    e.status = KILN_LAKE_STATUS_ADDED;
    e.df.content = content;
    uri = kiln_lake_path_to_uri(local);
    e.df.file_path = uri;
    e.df.file_format = "PARQUET";
    e.df.npart = 1;
    e.df.partition = &part;
    e.df.record_count = n;
    e.df.file_size_in_bytes = (int64_t)st.file_size_in_bytes;
    if (content == KILN_LAKE_CONTENT_EQ_DELETES) {
        e.df.nequality_ids = 1;
        e.df.equality_ids = &eq_id;
    }
    /* one data file named: equal file_path bounds, as Iceberg Java writes */
    kiln_lake_colstat fpst;
    int one = content == KILN_LAKE_CONTENT_POS_DELETES && n > 0;
    for (int i = 1; one && i < n; i++)
        one = strcmp(paths[i], paths[0]) == 0;
    if (one) {
        memset(&fpst, 0, sizeof fpst);
        fpst.field_id = 2147483546;
        fpst.column_size = fpst.value_count = fpst.null_count = fpst.nan_count = -1;
        fpst.lower = fpst.upper = (const uint8_t *)paths[0];
        fpst.lower_len = fpst.upper_len = (uint32_t)strlen(paths[0]);
        e.df.ncolstats = 1;
        e.df.colstats = &fpst;
    }
    int64_t sid = kiln_lake_snapshot_id_new(), seq = m->last_sequence_number + 1;
    kiln_lake_manifest_meta mm = {"{}", 0, kiln_lake_view_spec(&v, m->default_spec_id), 1, sid, seq, 2};
    mlocal = kiln_sprintf("%s/metadata/del-m-%lld.avro", kiln_lake_table_dir(t), (long long)sid);
    muri = kiln_lake_path_to_uri(mlocal);
    kiln_lake_manifest rows[64];
    size_t nrows = 0, nold = 0;
    kiln_lake_manifest *old = NULL;
    if ((rc = kiln_lake_manifest_write(&rows[0], a, mlocal, muri, &mm, &e, 1, err)))
        goto done;
    nrows = 1;
    if ((rc = kiln_lake_manifest_list_read(&old, &nold, a, v.manifest_list, err)))
        goto done;
    for (size_t i = 0; i < nold && nrows < 64; i++)
        rows[nrows++] = old[i];
    llocal = kiln_sprintf("%s/metadata/snap-%lld-1-del.avro", kiln_lake_table_dir(t), (long long)sid);
    luri = kiln_lake_path_to_uri(llocal);
    kiln_lake_mlist_meta lm = {sid, m->current_snapshot_id, seq, 2};
    if ((rc = kiln_lake_manifest_list_write(llocal, &lm, rows, nrows, err)) || (rc = kiln_lake_txn_begin(&txn, t, err)))
        goto done;
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
done:
    kiln_lake_txn_free(txn);
    kiln_free(llocal);
    kiln_free(luri);
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

/* Two days, three small files each, a position delete on day 1 (two rows of
 * its first file) and an equality delete on day 2 (id 205). */
static void build_with_deletes(kiln_lake_catalog **cat, kiln_lake_table **t, const char *dir, kiln_err *err)
{
    CHECK_OK(open_table(cat, t, dir, NULL, err), err);
    for (int k = 0; k < 3; k++) {
        CHECK_OK(append_ids(*t, 100 + 10 * k, 10, 1, err), err);
        CHECK_OK(append_ids(*t, 200 + 10 * k, 10, 2, err), err);
    }
    files_info fi = count_files(*t);
    CHECK_EQ_INT(fi.npath, 3);
    const char *paths[] = {fi.path[0], fi.path[0]};
    int64_t pos[] = {0, 3};
    CHECK_OK(commit_delete(*t, KILN_LAKE_CONTENT_POS_DELETES, 1, paths, pos, 2, err), err);
    int64_t ids[] = {205};
    CHECK_OK(commit_delete(*t, KILN_LAKE_CONTENT_EQ_DELETES, 2, NULL, ids, 1, err), err);
}

TEST(maint_rewrite, deletes_applied_rows_identical)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    build_with_deletes(&cat, &t, kt_tmpdir(), &err);
    int64_t n0 = 0, n1 = 0;
    char *before = scan_text(t, &n0, &err);
    CHECK(before != NULL);
    CHECK_EQ_INT(n0, 57); /* 60 rows - 2 position deletes - 1 equality delete */
    CHECK(!strstr(before, "00000205|"));
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.data, 6);
    CHECK_EQ_INT(fi.deletes, 2);

    kiln_lake_rewrite_data_result r;
    /* dry run: chooses both days (they have deletes), changes nothing */
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.dry_run = 1;
    int64_t snaps = (int64_t)kiln_lake_table_meta(t)->nsnapshots;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(r.groups_rewritten, 2);
    CHECK_EQ_INT(r.data_files_rewritten, 6);
    CHECK_EQ_INT(r.delete_files_removed, 2);
    CHECK_EQ_INT(r.snapshot_id, -1);
    CHECK_EQ_INT((int64_t)kiln_lake_table_meta(t)->nsnapshots, snaps);

    CHECK_OK(kiln_lake_rewrite_data_files(t, NULL, &r, &err), &err);
    CHECK(r.snapshot_id > 0);
    CHECK_EQ_INT(r.groups_rewritten, 2);
    CHECK_EQ_INT(r.data_files_rewritten, 6);
    CHECK_EQ_INT(r.data_files_added, 2);
    CHECK_EQ_INT(r.delete_files_removed, 2);
    CHECK_EQ_INT(r.rows_read, 60);
    CHECK_EQ_INT(r.rows_written, 57);
    CHECK_EQ_INT(r.attempts, 1);
    const kiln_lake_snapshot *s = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(s->operation, "replace");
    CHECK_STR(kiln_lake_snapshot_summary(s, "total-records"), "57");
    CHECK_STR(kiln_lake_snapshot_summary(s, "total-delete-files"), "0");
    CHECK_STR(kiln_lake_snapshot_summary(s, "removed-delete-files"), "2");
    fi = count_files(t);
    CHECK_EQ_INT(fi.data, 2);
    CHECK_EQ_INT(fi.deletes, 0);
    CHECK_EQ_INT(fi.per_day[1], 1);
    CHECK_EQ_INT(fi.per_day[2], 1);
    char *after = scan_text(t, &n1, &err);
    CHECK(after != NULL);
    CHECK_STR(after, before);
    /* the previous snapshot still reads the same rows (time travel) */
    /* a second run finds nothing to do */
    CHECK_OK(kiln_lake_rewrite_data_files(t, NULL, &r, &err), &err);
    CHECK_EQ_INT(r.snapshot_id, -1);
    CHECK_EQ_INT(r.groups_total, 2);
    kiln_free(before);
    kiln_free(after);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(maint_rewrite, selection_min_input_where_target)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), NULL, &err), &err);
    for (int k = 0; k < 2; k++)
        CHECK_OK(append_ids(t, 100 + 10 * k, 10, 1, &err), &err);
    for (int k = 0; k < 6; k++)
        CHECK_OK(append_ids(t, 200 + 10 * k, 10, 2, &err), &err);
    int64_t n0, n1;
    char *before = scan_text(t, &n0, &err);
    kiln_lake_rewrite_data_result r;
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    /* default: 5 input files needed: day 2 (6 files) only */
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(r.groups_total, 2);
    CHECK_EQ_INT(r.groups_rewritten, 1);
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.per_day[1], 2);
    CHECK_EQ_INT(fi.per_day[2], 1);
    /* more day-1 and day-2 files; where limits to day 1, min 2 files */
    CHECK_OK(append_ids(t, 300, 10, 2, &err), &err);
    CHECK_OK(append_ids(t, 310, 10, 2, &err), &err);
    o.min_input_files = 2;
    o.where = "ts < '2025-01-02T00:00:00Z'";
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(r.groups_total, 1);
    CHECK_EQ_INT(r.groups_rewritten, 1);
    fi = count_files(t);
    CHECK_EQ_INT(fi.per_day[1], 1);
    CHECK_EQ_INT(fi.per_day[2], 3);
    /* a tiny target cuts day 2 into several files */
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.target_file_bytes = 600;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    fi = count_files(t);
    CHECK_MSG(fi.per_day[2] >= 3, "day 2 has %d files after a 600-byte target", fi.per_day[2]);
    char *after = scan_text(t, &n1, &err);
    CHECK_EQ_INT(n1, n0 + 20);
    kiln_free(before);
    kiln_free(after);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(maint_rewrite, sorted_rewrite)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), "id desc", &err), &err);
    for (int k = 0; k < 3; k++)
        CHECK_OK(append_ids(t, 100 + 10 * k, 10, 1, &err), &err);
    kiln_lake_rewrite_data_result r;
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.sort_table_order = 1;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(r.data_files_added, 1);
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.sort_order_id, 1);
    /* one file: the scan returns its rows in file order */
    kiln_lake_scan *s = NULL;
    kiln_lake_scan_opts so;
    memset(&so, 0, sizeof so);
    so.columns = "id";
    CHECK_OK(kiln_lake_scan_open(&s, t, &so, &err), &err);
    const kiln_batch *b;
    int64_t prev = INT64_MAX, n = 0;
    while (kiln_lake_scan_next(s, &b, &err) == 1)
        for (size_t i = 0; i < b->nrows; i++, n++) {
            CHECK_MSG(b->cols[0].v.i64[i] < prev, "row %lld: id %lld after %lld", (long long)n,
                      (long long)b->cols[0].v.i64[i], (long long)prev);
            prev = b->cols[0].v.i64[i];
        }
    kiln_lake_scan_free(s);
    CHECK_EQ_INT(n, 30);
    /* named columns; bad ones are a clear error */
    o.sort_table_order = 0;
    o.sort_by = "name asc nulls last, id";
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    o.sort_by = "nope";
    CHECK(kiln_lake_rewrite_data_files(t, &o, &r, &err) == KILN_EINVAL);
    CHECK(strstr(err.msg, "nope") != NULL);
    o.sort_by = "id sideways";
    CHECK(kiln_lake_rewrite_data_files(t, &o, &r, &err) == KILN_EINVAL);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* nested columns are rewritten (e2e interop_nested_rewrite.sh checks the
 * values); only sorting by one is refused */
TEST(maint_rewrite, nested_columns_not_sort_keys)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(kiln_lake_catalog_open(&cat, kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts co;
    memset(&co, 0, sizeof co);
    co.schema_ddl = "id long, tags list<string>";
    CHECK_OK(kiln_lake_table_create(&t, cat, "db.nested", &co, &err), &err);
    kiln_lake_rewrite_data_result r;
    CHECK_OK(kiln_lake_rewrite_data_files(t, NULL, &r, &err), &err);
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.sort_by = "tags";
    CHECK(kiln_lake_rewrite_data_files(t, &o, &r, &err) == KILN_EINVAL);
    CHECK(strstr(err.msg, "tags") != NULL);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ concurrency */

typedef struct hook_ctx {
    const char *dir;
    int action; /* 1 append day 1 + day 3; 2 delete an id of day 1; 3 delete ids of days 1 and 2 */
    int calls;
} hook_ctx;

static int concurrent(void *vctx)
{
    hook_ctx *h = vctx;
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    h->calls++;
    int rc = open_table(&cat, &t, h->dir, NULL, &err);
    if (!rc && h->action == 1) {
        rc = append_ids(t, 900, 5, 1, &err);
        if (!rc)
            rc = append_ids(t, 950, 5, 3, &err);
    } else if (!rc && h->action == 2) {
        rc = kiln_lake_delete_where(t, "id = 101", NULL, NULL, &err);
    } else if (!rc && h->action == 4) { /* first call: rewrite a day-1 file away; later: nothing */
        if (h->calls == 1)
            rc = kiln_lake_delete_where(t, "id = 501", NULL, NULL, &err);
    } else if (!rc && h->action == 3) {
        rc = kiln_lake_delete_where(t, "id = 101", NULL, NULL, &err);
        if (!rc)
            rc = kiln_lake_delete_where(t, "id = 201", NULL, NULL, &err);
    }
    if (rc)
        fprintf(stderr, "concurrent writer: %s\n", err.msg);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return rc;
}

static int count_rewrite_files(const char *dir)
{
    char *d = kiln_sprintf("%s/db/events/data", dir);
    int n = 0;
    DIR *top = opendir(d);
    struct dirent *de;
    while (top && (de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = kiln_sprintf("%s/%s", d, de->d_name);
        DIR *s = opendir(sub);
        struct dirent *fe;
        while (s && (fe = readdir(s)))
            n += strstr(fe->d_name, "-rewrite.parquet") != NULL;
        if (s)
            closedir(s);
        kiln_free(sub);
    }
    if (top)
        closedir(top);
    kiln_free(d);
    return n;
}

static void two_days(kiln_lake_catalog **cat, kiln_lake_table **t, const char *dir, kiln_err *err)
{
    CHECK_OK(open_table(cat, t, dir, NULL, err), err);
    for (int k = 0; k < 3; k++) {
        CHECK_OK(append_ids(*t, 100 + 10 * k, 10, 1, err), err);
        CHECK_OK(append_ids(*t, 200 + 10 * k, 10, 2, err), err);
    }
}

TEST(maint_rewrite, concurrent_append_is_kept)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *dir = kt_tmpdir();
    two_days(&cat, &t, dir, &err);
    int64_t n0, n1;
    char *before = scan_text(t, &n0, &err);
    hook_ctx h = {dir, 1, 0};
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.before_commit = concurrent;
    o.before_commit_ctx = &h;
    kiln_lake_rewrite_data_result r;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(h.calls, 1);
    CHECK_EQ_INT(r.attempts, 2);
    CHECK_EQ_INT(r.groups_failed, 0);
    CHECK_EQ_INT(r.groups_rewritten, 2);
    char *after = scan_text(t, &n1, &err);
    CHECK_EQ_INT(n1, n0 + 10);
    CHECK(strstr(after, "00000900|n900\n") && strstr(after, "00000954|n954\n"));
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.per_day[1], 2); /* the compacted file + the concurrent append */
    CHECK_EQ_INT(fi.per_day[2], 1);
    CHECK_EQ_INT(fi.per_day[3], 1);
    kiln_free(before);
    kiln_free(after);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(maint_rewrite, concurrent_delete_fails_only_its_partition)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *dir = kt_tmpdir();
    two_days(&cat, &t, dir, &err);
    int64_t n0, n1;
    char *before = scan_text(t, &n0, &err);
    hook_ctx h = {dir, 2, 0};
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.max_rounds = 1; /* no second round for the failed partition */
    o.before_commit = concurrent;
    o.before_commit_ctx = &h;
    kiln_lake_rewrite_data_result r;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK(r.snapshot_id > 0);
    CHECK_EQ_INT(r.groups_failed, 1);
    CHECK_EQ_INT(r.groups_rewritten, 1);
    CHECK(strstr(r.failed_reason, "ts_day=2025-01-01") != NULL);
    char *after = scan_text(t, &n1, &err);
    CHECK_EQ_INT(n1, n0 - 1); /* the concurrent delete is not lost */
    CHECK(!strstr(after, "00000101|"));
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.per_day[1], 3); /* day 1 untouched by the rewrite */
    CHECK_EQ_INT(fi.per_day[2], 1);
    CHECK_EQ_INT(count_rewrite_files(dir), 1); /* day 1's rewritten file was deleted */
    kiln_free(before);
    kiln_free(after);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(maint_rewrite, every_partition_conflicting_is_a_conflict)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *dir = kt_tmpdir();
    two_days(&cat, &t, dir, &err);
    hook_ctx h = {dir, 3, 0};
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.max_rounds = 1;
    o.before_commit = concurrent;
    o.before_commit_ctx = &h;
    kiln_lake_rewrite_data_result r;
    CHECK(kiln_lake_rewrite_data_files(t, &o, &r, &err) == KILN_ECONFLICT);
    CHECK(strstr(err.msg, "conflicted") != NULL);
    CHECK_EQ_INT(r.snapshot_id, -1);
    CHECK_EQ_INT(count_rewrite_files(dir), 0);
    CHECK_OK(kiln_lake_table_refresh(t, &err), &err);
    int64_t n1;
    char *after = scan_text(t, &n1, &err);
    CHECK_EQ_INT(n1, 58);
    kiln_free(after);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(maint_rewrite, failed_partitions_are_retried_without_redoing_the_others)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *dir = kt_tmpdir();
    two_days(&cat, &t, dir, &err);
    int64_t n0, n1;
    char *before = scan_text(t, &n0, &err);
    /* round 1: both partitions conflict (the writer deletes from each);
     * round 2 plans them on the new head (the writer's deletes find nothing
     * more) and commits */
    hook_ctx h = {dir, 3, 0};
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.before_commit = concurrent;
    o.before_commit_ctx = &h;
    kiln_lake_rewrite_data_result r;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(h.calls, 2);
    CHECK_EQ_INT(r.groups_failed, 0);
    CHECK_EQ_INT(r.groups_rewritten, 2);
    CHECK(r.snapshot_id > 0);
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.per_day[1], 1);
    CHECK_EQ_INT(fi.per_day[2], 1);
    char *after = scan_text(t, &n1, &err);
    CHECK_EQ_INT(n1, n0 - 2);
    CHECK(!strstr(after, "00000101|") && !strstr(after, "00000201|"));
    /* one partition conflicting: the other commits in round 1 and is not
     * rewritten again in round 2 */
    for (int k = 0; k < 2; k++) {
        CHECK_OK(append_ids(t, 500 + 10 * k, 10, 1, &err), &err);
        CHECK_OK(append_ids(t, 600 + 10 * k, 10, 2, &err), &err);
    }
    hook_ctx h2 = {dir, 4, 0};
    o.before_commit_ctx = &h2;
    int64_t snaps = (int64_t)kiln_lake_table_meta(t)->nsnapshots;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(h2.calls, 2);
    CHECK_EQ_INT(r.groups_failed, 0);
    CHECK_EQ_INT(r.groups_rewritten, 2);
    /* day 2: its 3 files once; day 1: its 3 files as they are after the
     * writer's delete replaced one (the failed round counts nothing) */
    CHECK_EQ_INT(r.data_files_rewritten, 3 + 3);
    /* the writer's delete, then one rewrite snapshot per round */
    CHECK_EQ_INT((int64_t)kiln_lake_table_meta(t)->nsnapshots, snaps + 3);
    kiln_free(before);
    kiln_free(after);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* For tests/e2e/maint_rewrite.sh: the table with delete files in
 * $KILN_MAINT_EXPORT (a temp dir otherwise). */
TEST(maint_export, table_with_deletes)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *e = getenv("KILN_MAINT_EXPORT");
    build_with_deletes(&cat, &t, e && *e ? e : kt_tmpdir(), &err);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* For tests/e2e/maint_posdel.sh: day 1 with three files A (ids 100-109),
 * B (110-119), C (120-129); position delete file P1 names rows of A and B
 * (read to find them), P2 names a row of A only (equal file_path bounds).
 * In $KILN_MAINT_EXPORT. */
static void build_with_pos_deletes(kiln_lake_catalog **cat, kiln_lake_table **tp, const char *dir, kiln_err *errp)
{
    kiln_err err = {0};
    kiln_lake_table *t = NULL;
    CHECK_OK(open_table(cat, &t, dir, NULL, &err), &err);
    *tp = t;
    char paths[3][512];
    for (int k = 0; k < 3; k++) {
        CHECK_OK(append_ids(t, 100 + 10 * k, 10, 1, &err), &err);
        files_info fi = count_files(t);
        CHECK_EQ_INT(fi.npath, k + 1);
        for (int i = 0; i < fi.npath; i++) {
            int seen = 0;
            for (int j = 0; j < k; j++)
                seen |= strcmp(paths[j], fi.path[i]) == 0;
            if (!seen)
                snprintf(paths[k], sizeof paths[k], "%s", fi.path[i]);
        }
    }
    const char *p1[] = {paths[0], paths[1]};
    int64_t pos1[] = {0, 2};
    CHECK_OK(commit_delete(t, KILN_LAKE_CONTENT_POS_DELETES, 1, p1, pos1, 2, &err), &err);
    const char *p2[] = {paths[0]};
    int64_t pos2[] = {5};
    CHECK_OK(commit_delete(t, KILN_LAKE_CONTENT_POS_DELETES, 1, p2, pos2, 1, &err), &err);
    int64_t n;
    char *txt = scan_text(t, &n, &err);
    CHECK_EQ_INT(n, 27);
    kiln_free(txt);
    (void)errp;
}

TEST(maint_export, table_with_pos_deletes)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *dir = getenv("KILN_MAINT_EXPORT");
    build_with_pos_deletes(&cat, &t, dir && *dir ? dir : kt_tmpdir(), &err);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* rewrite_position_delete_files: two files merged into one, rows the same;
 * after A is rewritten, the entry naming it is dropped. */
TEST(maint_rewrite, position_delete_files_merged_and_dangling_dropped)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    build_with_pos_deletes(&cat, &t, kt_tmpdir(), &err);
    int64_t n0, n1;
    char *before = scan_text(t, &n0, &err);
    kiln_lake_rewrite_posdel_result r;
    kiln_lake_rewrite_posdel_opts o;
    memset(&o, 0, sizeof o);
    o.dry_run = 1;
    int64_t snaps = (int64_t)kiln_lake_table_meta(t)->nsnapshots;
    CHECK_OK(kiln_lake_rewrite_position_delete_files(t, &o, &r, &err), &err);
    CHECK_EQ_INT(r.snapshot_id, -1);
    CHECK_EQ_INT(r.delete_files_rewritten, 2);
    CHECK_EQ_INT((int64_t)kiln_lake_table_meta(t)->nsnapshots, snaps);
    CHECK_OK(kiln_lake_rewrite_position_delete_files(t, NULL, &r, &err), &err);
    CHECK(r.snapshot_id > 0);
    CHECK_EQ_INT(r.delete_files_rewritten, 2);
    CHECK_EQ_INT(r.delete_files_added, 1);
    CHECK_EQ_INT(r.deletes_read, 3);
    CHECK_EQ_INT(r.deletes_written, 3);
    const kiln_lake_snapshot *s = kiln_lake_meta_current_snapshot(kiln_lake_table_meta(t));
    CHECK_STR(s->operation, "replace");
    CHECK_STR(kiln_lake_snapshot_summary(s, "kiln.rewrite"), "position-delete-files");
    CHECK_STR(kiln_lake_snapshot_summary(s, "total-delete-files"), "1");
    CHECK_STR(kiln_lake_snapshot_summary(s, "added-position-deletes"), "3");
    CHECK_STR(kiln_lake_snapshot_summary(s, "removed-position-delete-files"), "2");
    files_info fi = count_files(t);
    CHECK_EQ_INT(fi.deletes, 1);
    CHECK_EQ_INT(fi.data, 3);
    char *after = scan_text(t, &n1, &err);
    CHECK(after != NULL);
    CHECK_STR(after, before);
    kiln_free(after);
    /* nothing more to do */
    CHECK_OK(kiln_lake_rewrite_position_delete_files(t, NULL, &r, &err), &err);
    CHECK_EQ_INT(r.snapshot_id, -1);
    /* rewrite A (ids 100-109) alone: the merged file still names B, so it
     * stays; then its entries for A dangle and a second run drops them */
    kiln_lake_rewrite_data_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.where = "id < 110";
    ro.min_input_files = 1;
    kiln_lake_rewrite_data_result rr;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &ro, &rr, &err), &err);
    CHECK_EQ_INT(rr.data_files_rewritten, 1);
    CHECK_EQ_INT(rr.delete_files_removed, 0);
    CHECK_OK(kiln_lake_rewrite_position_delete_files(t, NULL, &r, &err), &err);
    CHECK(r.snapshot_id > 0);
    CHECK_EQ_INT(r.delete_files_rewritten, 1);
    CHECK_EQ_INT(r.delete_files_added, 1);
    CHECK_EQ_INT(r.deletes_read, 3);
    CHECK_EQ_INT(r.deletes_written, 1);
    after = scan_text(t, &n1, &err);
    CHECK(after != NULL);
    CHECK_STR(after, before);
    kiln_free(after);
    kiln_free(before);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ expire after a rewrite */

static int path_exists(const char *uri)
{
    const char *p = strncmp(uri, "file://", 7) == 0 ? uri + 7 : uri;
    return access(p, F_OK) == 0;
}

TEST(maint_expire, replaced_files_go_when_no_retained_snapshot_reads_them)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), NULL, &err), &err);
    for (int k = 0; k < 3; k++)
        CHECK_OK(append_ids(t, 100 + 10 * k, 10, 1, &err), &err);
    files_info old = count_files(t);
    CHECK_EQ_INT(old.npath, 3);
    /* a tag keeps the pre-rewrite snapshot: its files must stay */
    kiln_lake_ref tag = {"before", KILN_LAKE_TAG, -1, -1, -1, -1};
    CHECK_OK(kiln_lake_ref_create(t, &tag, &err), &err);
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    kiln_lake_rewrite_data_result r;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    kiln_lake_expire_opts eo;
    memset(&eo, 0, sizeof eo);
    eo.older_than_ms = kiln_now_micros() / 1000 + 1000;
    eo.retain_last = 1;
    eo.on_expired = kiln_lake_expire_delete_unreachable;
    size_t nfiles = 0;
    eo.ctx = &nfiles;
    CHECK_OK(kiln_lake_expire(t, &eo, NULL, NULL, &err), &err);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(path_exists(old.path[i]), "%s deleted while the tag reads it", old.path[i]);
    /* drop the tag: now nothing retained reads the old files */
    CHECK_OK(kiln_lake_ref_drop(t, "before", &err), &err);
    nfiles = 0;
    CHECK_OK(kiln_lake_expire(t, &eo, NULL, NULL, &err), &err);
    for (int i = 0; i < 3; i++)
        CHECK_MSG(!path_exists(old.path[i]), "%s left after its last reader expired", old.path[i]);
    CHECK_MSG(nfiles >= 3, "%zu files deleted", nfiles);
    files_info now = count_files(t);
    CHECK_EQ_INT(now.npath, 1);
    CHECK(path_exists(now.path[0]));
    int64_t n;
    char *txt = scan_text(t, &n, &err);
    CHECK_EQ_INT(n, 30);
    kiln_free(txt);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ z-order */

typedef struct size_sum {
    int64_t bytes;
    int n;
} size_sum;

static int sum_cb(void *ctx, const kiln_lake_entry *e)
{
    size_sum *s = ctx;
    if (e->df.content == KILN_LAKE_CONTENT_DATA) {
        s->bytes += e->df.file_size_in_bytes;
        s->n++;
    }
    return 0;
}

/* files read by a scan of the 8x8 corner of a 64x64 grid (id, second of ts) */
static size_t corner_files(kiln_lake_table *t, int64_t *rows, kiln_err *err)
{
    kiln_lake_scan *s = NULL;
    kiln_lake_scan_opts o;
    memset(&o, 0, sizeof o);
    o.where = "id <= 7 and ts <= '2025-01-01T00:00:07Z'";
    *rows = 0;
    if (kiln_lake_scan_open(&s, t, &o, err))
        return (size_t)-1;
    const kiln_batch *b;
    while (kiln_lake_scan_next(s, &b, err) == 1)
        *rows += (int64_t)b->nrows;
    const kiln_lake_plan_stats *st = kiln_lake_scan_plan_stats(s);
    size_t n = st->files_total - st->files_pruned_partition - st->files_pruned_stats;
    kiln_lake_scan_free(s);
    return n;
}

TEST(maint_rewrite, zorder_clusters_two_columns)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(open_table(&cat, &t, kt_tmpdir(), NULL, &err), &err);
    /* a 64 x 64 grid in a scrambled order, 8 appends */
    int64_t day0 = kiln_days_from_civil(2025, 1, 1) * 86400;
    for (int part = 0; part < 8; part++) {
        kiln_batch *b = NULL;
        CHECK_OK(kiln_batch_new(&b, &SCHEMA, 512, 0, &err), &err);
        for (int k = part * 512; k < (part + 1) * 512; k++) {
            int j = (k * 1031) % 4096;
            kiln_batch_put_i64(b, 0, j % 64, &err);
            kiln_batch_put_i64(b, 1, (day0 + j / 64) * 1000000LL, &err);
            kiln_batch_put_str(b, 2, "x", 1, &err);
            kiln_batch_end_row(b, &err);
        }
        kiln_lake_writer *w = NULL;
        CHECK_OK(kiln_lake_writer_open(&w, t, NULL, &err), &err);
        CHECK_OK(kiln_lake_writer_write(w, b, &err), &err);
        CHECK_OK(kiln_lake_writer_commit(w, NULL, &err), &err);
        kiln_lake_writer_free(w);
        kiln_batch_free(b);
    }
    int64_t rows0, rows1, n0, n1;
    size_t before = corner_files(t, &rows0, &err);
    CHECK_EQ_INT(rows0, 64);
    CHECK_EQ_INT((int64_t)before, 8); /* every file spans the whole grid */
    char *text0 = scan_text(t, &n0, &err);
    size_sum ss = {0, 0};
    CHECK_OK(kiln_lake_files_list(t, -1, sum_cb, &ss, &err), &err);
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    o.rewrite_all = 1;
    o.zorder = "id, ts";
    o.target_file_bytes = ss.bytes / 16;
    kiln_lake_rewrite_data_result r;
    CHECK_OK(kiln_lake_rewrite_data_files(t, &o, &r, &err), &err);
    CHECK_MSG(r.data_files_added >= 8, "%lld files written", (long long)r.data_files_added);
    size_t after = corner_files(t, &rows1, &err);
    CHECK_EQ_INT(rows1, 64);
    CHECK_MSG(after * 4 <= (size_t)r.data_files_added, "the corner reads %zu of %lld files after z-ordering", after,
              (long long)r.data_files_added);
    char *text1 = scan_text(t, &n1, &err);
    CHECK_STR(text1, text0);
    o.zorder = "id";
    CHECK(kiln_lake_rewrite_data_files(t, &o, &r, &err) == KILN_EINVAL);
    kiln_free(text0);
    kiln_free(text1);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

/* ------------------------------------------------------------ crashes in the commit */

static int crash_at(kiln_lake_hook_point where, void *ctx) { return (int)where == *(int *)ctx ? KILN_EIO : 0; }

TEST(maint_rewrite, crash_in_commit_keeps_the_table_readable)
{
    int points[] = {KILN_LAKE_HOOK_BEFORE_WRITE, KILN_LAKE_HOOK_BEFORE_SWAP, KILN_LAKE_HOOK_AFTER_SWAP};
    for (int pi = 0; pi < 3; pi++) {
        kiln_err err = {0};
        kiln_lake_catalog *cat = NULL;
        kiln_lake_table *t = NULL;
        char *dir = kiln_sprintf("%s/crash%d", kt_tmpdir(), pi);
        build_with_deletes(&cat, &t, dir, &err);
        int64_t n0, n1;
        char *before = scan_text(t, &n0, &err);
        int64_t head = kiln_lake_table_meta(t)->current_snapshot_id;
        kiln_lake_commit_opts co;
        memset(&co, 0, sizeof co);
        co.test_hook = crash_at;
        co.test_hook_ctx = &points[pi];
        kiln_lake_rewrite_data_opts o;
        memset(&o, 0, sizeof o);
        o.commit = &co;
        kiln_lake_rewrite_data_result r;
        CHECK(kiln_lake_rewrite_data_files(t, &o, &r, &err) != 0);
        CHECK_EQ_INT(r.snapshot_id, -1);
        /* a fresh process: the table is at the old head, or (after the
         * link) at the rewrite, whose files must all be there */
        kiln_lake_table_free(t);
        kiln_lake_catalog_free(cat);
        CHECK_OK(open_table(&cat, &t, dir, NULL, &err), &err);
        int64_t now = kiln_lake_table_meta(t)->current_snapshot_id;
        if (points[pi] == KILN_LAKE_HOOK_AFTER_SWAP)
            CHECK_MSG(now != head, "after the link the rewrite is committed");
        else
            CHECK_EQ_INT(now, head);
        if (points[pi] != KILN_LAKE_HOOK_AFTER_SWAP)
            CHECK_EQ_INT(count_rewrite_files(dir), 0);
        char *after = scan_text(t, &n1, &err);
        CHECK_MSG(after != NULL, "scan after a crash at %d: %s", points[pi], err.msg);
        CHECK_STR(after, before);
        kiln_free(before);
        kiln_free(after);
        kiln_free(dir);
        kiln_lake_table_free(t);
        kiln_lake_catalog_free(cat);
    }
}
