/* test_catalog.c - the SQLite and file-system catalogs: names, create,
 * load, list, drop, rename, the hadoop layout on disk, and crash safety of
 * the commit (a commit stopped before the swap is invisible; one stopped
 * after the file-level swap is recovered by the next load). */
#include "harness/harness.h"
#include "lake/lake.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int exists(const char *fmt, const char *a, const char *b)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, a, b);
    struct stat st;
    return stat(p, &st) == 0;
}

static char *slurp(const char *path)
{
    size_t n;
    return kt_read_file(path, &n);
}

TEST(lake_catalog, names)
{
    char ns[129], t[129];
    kiln_err err = {0};
    CHECK_OK(kiln_lake_name_split("github.pushes", ns, t, &err), &err);
    CHECK_STR(ns, "github");
    CHECK_STR(t, "pushes");
    CHECK_OK(kiln_lake_name_split("_a-1.b_2", ns, t, &err), &err);
    static const char *const bad[] = {"",     "a",    "a.",   ".a",    "a.b.c", "../x.y", "a/b.c",     "a.b/c",
                                      "a..b", "-a.b", "a.-b", "a.b c", "1a.b",  "a.b\n",  "a.\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = kiln_lake_name_split(bad[i], ns, t, &err);
        CHECK_MSG(rc == KILN_EINVAL, "accepted \"%s\"", bad[i]);
    }
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[129] = '.';
    longname[130] = 'b';
    longname[131] = 0;
    CHECK(kiln_lake_name_split(longname, ns, t, &err) == KILN_EINVAL);
}

static int count_cb(void *ctx, const char *name, const char *loc)
{
    (void)loc;
    kiln_buf *b = ctx;
    kiln_buf_printf(b, NULL, "%s;", name);
    return 0;
}

static int ns_cb(void *ctx, const char *ns)
{
    kiln_buf_printf(ctx, NULL, "%s;", ns);
    return 0;
}

TEST(lake_catalog, sqlite_create_load_list_drop)
{
    const char *wh = kt_tmpdir();
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL, *t2 = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts o = {.schema_ddl = "id long not null, name string, ts timestamptz, "
                                             "tags list<string>, attrs map<string, double>, "
                                             "s struct<a: int, b: string not null>, d decimal(9,2), f fixed[16]",
                               .partition = "day(ts), bucket(16, id)",
                               .sort = "ts desc, id"};
    CHECK_OK(kiln_lake_table_create(&t, c, "github.pushes", &o, &err), &err);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(kiln_lake_table_version(t), 1);
    CHECK(m->table_uuid && strlen(m->table_uuid) == 36);
    CHECK(strncmp(m->location, "file:///", 8) == 0);
    CHECK(strstr(m->location, "/github/pushes"));
    CHECK_EQ_INT(m->last_sequence_number, 0);
    CHECK_EQ_INT(m->current_snapshot_id, -1);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    CHECK_EQ_INT(s->nfields, 8);
    CHECK(s->fields[0].required && s->fields[0].type->kind == KILN_LAKE_LONG);
    CHECK(s->fields[3].type->kind == KILN_LAKE_LIST);
    CHECK(s->fields[4].type->kind == KILN_LAKE_MAP);
    CHECK(s->fields[5].type->kind == KILN_LAKE_STRUCT && s->fields[5].type->fields[1].required);
    CHECK(s->fields[6].type->kind == KILN_LAKE_DECIMAL);
    /* all ids distinct, last-column-id covers them */
    for (int id = 1; id <= m->last_column_id; id++)
        CHECK_MSG(kiln_lake_schema_field(s, id) != NULL || id == 5 || id == 7 || id == 8, "id %d", id);
    CHECK_EQ_INT(m->last_column_id, 13);
    const kiln_lake_spec *spec = kiln_lake_meta_default_spec(m);
    CHECK_EQ_INT(spec->nfields, 2);
    CHECK_STR(spec->fields[0].name, "ts_day");
    CHECK_STR(spec->fields[0].transform.text, "day");
    CHECK_EQ_INT(spec->fields[0].field_id, 1000);
    CHECK_STR(spec->fields[1].name, "id_bucket");
    CHECK_STR(spec->fields[1].transform.text, "bucket[16]");
    CHECK_EQ_INT(spec->fields[1].field_id, 1001);
    CHECK_EQ_INT(m->last_partition_id, 1001);
    CHECK_EQ_INT(m->default_sort_order_id, 1);
    CHECK(m->sort_orders[0].fields[0].descending && !m->sort_orders[0].fields[0].nulls_first);
    /* on disk: the hadoop layout */
    CHECK(exists("%s/github/pushes/metadata/v1.metadata.json", wh, ""));
    CHECK(exists("%s/github/pushes/data%s", wh, ""));
    char hint[512];
    snprintf(hint, sizeof hint, "%s/github/pushes/metadata/version-hint.text", wh);
    char *h = slurp(hint);
    CHECK_STR(h, "1");
    free(h);
    /* duplicate create */
    CHECK(kiln_lake_table_create(&t2, c, "github.pushes", &o, &err) == KILN_EEXIST);
    CHECK(t2 == NULL);
    /* bad partition / schema */
    kiln_lake_create_opts bad = {.schema_ddl = "a int", .partition = "hour(a)"};
    CHECK(kiln_lake_table_create(&t2, c, "github.bad", &bad, &err) == KILN_EINVAL);
    bad.partition = "day(nope)";
    CHECK(kiln_lake_table_create(&t2, c, "github.bad2", &bad, &err) == KILN_ENOTFOUND);
    kiln_lake_create_opts bad2 = {.schema_ddl = "a nosuchtype"};
    CHECK(kiln_lake_table_create(&t2, c, "github.bad3", &bad2, &err) == KILN_EINVAL);
    CHECK(kiln_lake_table_create(&t2, c, "../etc.passwd", &o, &err) == KILN_EINVAL);

    kiln_lake_create_opts o2 = {.schema_ddl = "x int"};
    CHECK_OK(kiln_lake_table_create(&t2, c, "github.commits", &o2, &err), &err);
    kiln_lake_table_free(t2);
    t2 = NULL;
    kiln_lake_create_opts o3 = {.schema_json = "{\"type\":\"struct\",\"schema-id\":0,\"fields\":[{\"id\":1,"
                                               "\"name\":\"a\",\"required\":true,\"type\":\"long\"},{\"id\":7,"
                                               "\"name\":\"b\",\"required\":false,\"type\":\"string\"}]}"};
    CHECK_OK(kiln_lake_table_create(&t2, c, "other.tj", &o3, &err), &err);
    CHECK_EQ_INT(kiln_lake_table_meta(t2)->last_column_id, 7);
    kiln_lake_table_free(t2);
    t2 = NULL;

    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_lake_table_list(c, NULL, count_cb, &b, &err), &err);
    CHECK_STR(b.data, "github.commits;github.pushes;other.tj;");
    kiln_buf_reset(&b);
    CHECK_OK(kiln_lake_table_list(c, "github", count_cb, &b, &err), &err);
    CHECK_STR(b.data, "github.commits;github.pushes;");
    kiln_buf_reset(&b);
    CHECK_OK(kiln_lake_namespace_list(c, ns_cb, &b, &err), &err);
    CHECK_STR(b.data, "github;other;");
    CHECK(kiln_lake_namespace_drop(c, "github", &err) == KILN_EEXIST);

    /* load from a second catalog handle, and through the hadoop view */
    kiln_lake_catalog *c2 = NULL, *hc = NULL;
    CHECK_OK(kiln_lake_catalog_open(&c2, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t2, c2, "github.pushes", &err), &err);
    CHECK_STR(kiln_lake_table_meta(t2)->table_uuid, m->table_uuid);
    kiln_lake_table_free(t2);
    t2 = NULL;
    CHECK_OK(kiln_lake_catalog_open(&hc, wh, KILN_LAKE_CATALOG_HADOOP, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t2, hc, "github.pushes", &err), &err);
    CHECK_STR(kiln_lake_table_meta(t2)->table_uuid, m->table_uuid);
    kiln_lake_table_free(t2);
    t2 = NULL;
    kiln_buf_reset(&b);
    CHECK_OK(kiln_lake_table_list(hc, NULL, count_cb, &b, &err), &err);
    CHECK_STR(b.data, "github.commits;github.pushes;other.tj;");
    CHECK(kiln_lake_table_load(&t2, c2, "github.nope", &err) == KILN_ENOTFOUND);
    CHECK(kiln_lake_table_load(&t2, hc, "github.nope", &err) == KILN_ENOTFOUND);

    /* the catalog.db is a JDBC-catalog-shaped database */
    sqlite3 *db = NULL;
    char dbp[512];
    snprintf(dbp, sizeof dbp, "%s/catalog.db", wh);
    CHECK(sqlite3_open(dbp, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db,
                             "SELECT metadata_location FROM iceberg_tables WHERE catalog_name='kiln' AND "
                             "table_namespace='github' AND table_name='pushes'",
                             -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), kiln_lake_table_metadata_location(t));
    sqlite3_finalize(st);
    sqlite3_close(db);

    /* rename keeps files where they are; commits still land there */
    CHECK_OK(kiln_lake_table_rename(c2, "github.commits", "archive.commits_old", &err), &err);
    CHECK_OK(kiln_lake_table_load(&t2, c2, "archive.commits_old", &err), &err);
    CHECK(strstr(kiln_lake_table_dir(t2), "/github/commits"));
    kiln_lake_kv kv = {"k", "v"};
    CHECK_OK(kiln_lake_set_properties(t2, &kv, 1, &err), &err);
    CHECK(exists("%s/github/commits/metadata/v2.metadata.json", wh, ""));
    kiln_lake_table_free(t2);
    t2 = NULL;
    /* the old name's files are still there: creating it again is refused */
    CHECK(kiln_lake_table_create(&t2, c2, "github.commits", &o2, &err) == KILN_EEXIST);

    /* drop: without purge files stay; with purge they go */
    CHECK_OK(kiln_lake_table_drop(c2, "other.tj", 0, &err), &err);
    CHECK(exists("%s/other/tj/metadata/v1.metadata.json", wh, ""));
    CHECK(kiln_lake_table_load(&t2, c2, "other.tj", &err) == KILN_ENOTFOUND);
    CHECK(kiln_lake_table_drop(c2, "other.tj", 0, &err) == KILN_ENOTFOUND);
    CHECK_OK(kiln_lake_table_drop(c2, "archive.commits_old", 1, &err), &err);
    CHECK(!exists("%s/github/commits%s", wh, ""));
    CHECK_OK(kiln_lake_namespace_drop(c2, "archive", &err), &err);

    kiln_buf_free(&b);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    kiln_lake_catalog_free(c2);
    kiln_lake_catalog_free(hc);
}

TEST(lake_catalog, hadoop_catalog)
{
    const char *wh = kt_tmpdir();
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL, *t2 = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_HADOOP, &err), &err);
    kiln_lake_create_opts o = {.schema_ddl = "a int"};
    CHECK_OK(kiln_lake_table_create(&t, c, "ns.t", &o, &err), &err);
    CHECK(!exists("%s/catalog.db%s", wh, ""));
    kiln_lake_kv kv = {"p", "1"};
    CHECK_OK(kiln_lake_set_properties(t, &kv, 1, &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t), 2);
    CHECK(exists("%s/ns/t/metadata/v2.metadata.json%s", wh, ""));
    /* a missing hint: the directory listing finds v2 */
    char hint[512];
    snprintf(hint, sizeof hint, "%s/ns/t/metadata/version-hint.text", wh);
    char *h = slurp(hint);
    CHECK_STR(h, "2");
    free(h);
    unlink(hint);
    CHECK_OK(kiln_lake_table_load(&t2, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t2), 2);
    CHECK_STR(kiln_lake_meta_property(kiln_lake_table_meta(t2), "p"), "1");
    kiln_lake_table_free(t2);
    t2 = NULL;
    /* a stale hint: probing upward finds v2 */
    kt_write_file(hint, "1", 1);
    CHECK_OK(kiln_lake_table_load(&t2, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t2), 2);
    kiln_lake_table_free(t2);
    t2 = NULL;
    /* a hint naming a missing version: the listing wins */
    kt_write_file(hint, "9", 1);
    CHECK_OK(kiln_lake_table_load(&t2, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t2), 2);
    kiln_lake_table_free(t2);
    t2 = NULL;
    CHECK(kiln_lake_table_drop(c, "ns.t", 0, &err) == KILN_EINVAL);
    CHECK_OK(kiln_lake_table_drop(c, "ns.t", 1, &err), &err);
    CHECK(kiln_lake_table_load(&t2, c, "ns.t", &err) == KILN_ENOTFOUND);
    CHECK(kiln_lake_table_rename(c, "ns.a", "ns.b", &err) == KILN_EUNSUPP);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

TEST(lake_catalog, reads_fixture_as_hadoop_table)
{
    /* copy a Spark-written table's metadata under a warehouse and load it */
    const char *wh = kt_tmpdir();
    char src[1024], dst[1024];
    kiln_err err = {0};
    snprintf(dst, sizeof dst, "%s/mydb/mytable/metadata", wh);
    CHECK_OK(kiln_mkdirs(dst, &err), &err);
    for (int v = 1; v <= 7; v++) {
        snprintf(src, sizeof src,
                 "%s/../shared/fixtures/iceberg/equality_deletes/warehouse/mydb/mytable/metadata/v%d.metadata.json",
                 kt_root(), v);
        size_t n;
        char *d = kt_read_file(src, &n);
        CHECK(d);
        snprintf(dst, sizeof dst, "%s/mydb/mytable/metadata/v%d.metadata.json", wh, v);
        kt_write_file(dst, d, n);
        free(d);
    }
    snprintf(dst, sizeof dst, "%s/mydb/mytable/metadata/version-hint.text", wh);
    kt_write_file(dst, "7", 1);
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_HADOOP, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t, c, "mydb.mytable", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t), 7);
    CHECK_EQ_INT(kiln_lake_table_meta(t)->current_snapshot_id, 1916084761853986166LL);
    /* kiln can commit on top of a Spark-written table */
    kiln_lake_ref tag = {"spark-last", KILN_LAKE_TAG, -1, -1, -1, -1};
    CHECK_OK(kiln_lake_ref_create(t, &tag, &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t), 8);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->nmetadata_log, 7);
    CHECK(strstr(m->metadata_log[6].metadata_file, "/mydb/mytable/metadata/v7.metadata.json"));
    CHECK_EQ_INT(kiln_lake_meta_ref(m, "spark-last")->snapshot_id, 1916084761853986166LL);
    CHECK_EQ_INT(m->last_sequence_number, 6);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

static int stop_at;
static int stop_hook(kiln_lake_hook_point where, void *ctx)
{
    (void)ctx;
    return (int)where == stop_at ? KILN_EIO : 0;
}

static int count_files(const char *dir, const char *suffix)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s", dir);
    int n = 0;
    char *argv[] = {"/bin/ls", cmd, NULL};
    char *out = NULL;
    kt_run(argv, &out);
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n"))
        if (strlen(line) >= strlen(suffix) && strcmp(line + strlen(line) - strlen(suffix), suffix) == 0)
            n++;
    free(out);
    return n;
}

TEST(lake_catalog, crash_before_and_after_swap)
{
    const char *wh = kt_tmpdir();
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL, *t2 = NULL;
    kiln_lake_txn *txn = NULL;
    kiln_err err = {0};
    char mdir[512];
    snprintf(mdir, sizeof mdir, "%s/ns/t/metadata", wh);
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts o = {.schema_ddl = "a int"};
    CHECK_OK(kiln_lake_table_create(&t, c, "ns.t", &o, &err), &err);

    kiln_lake_kv kv = {"stage", "x"};
    kiln_lake_commit_opts co = {.test_hook = stop_hook, .max_retries = 1};
    /* 1. stopped before anything is written */
    stop_at = KILN_LAKE_HOOK_BEFORE_WRITE;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_set_properties(txn, &kv, 1, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, &co, NULL, &err) == KILN_EIO);
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK_EQ_INT(count_files(mdir, ".metadata.json"), 1);

    /* 2. stopped with the temp file written, before the swap: invisible */
    stop_at = KILN_LAKE_HOOK_BEFORE_SWAP;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_set_properties(txn, &kv, 1, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, &co, NULL, &err) == KILN_EIO);
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK(!exists("%s/ns/t/metadata/v2.metadata.json%s", wh, ""));
    CHECK_OK(kiln_lake_table_load(&t2, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t2), 1);
    CHECK(kiln_lake_meta_property(kiln_lake_table_meta(t2), "stage") == NULL);
    kiln_lake_table_free(t2);
    t2 = NULL;

    /* 3. stopped after the link (the commit point) but before the catalog
     * row moved: the next load recovers v2 and moves the row */
    stop_at = KILN_LAKE_HOOK_AFTER_SWAP;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_set_properties(txn, &kv, 1, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, &co, NULL, &err) == KILN_EIO);
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK(exists("%s/ns/t/metadata/v2.metadata.json%s", wh, ""));
    CHECK_OK(kiln_lake_table_load(&t2, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t2), 2);
    CHECK_STR(kiln_lake_meta_property(kiln_lake_table_meta(t2), "stage"), "x");
    CHECK(strstr(kiln_lake_table_metadata_location(t2), "/v2.metadata.json"));
    kiln_lake_table_free(t2);
    t2 = NULL;

    /* 4. the stale handle t (still at v1) commits: conflict, retried on v2 */
    kiln_lake_kv kv2 = {"after", "y"};
    int attempts = 0;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_set_properties(txn, &kv2, 1, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, &attempts, &err), &err);
    CHECK_EQ_INT(attempts, 2);
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK_EQ_INT(kiln_lake_table_version(t), 3);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_STR(kiln_lake_meta_property(m, "stage"), "x");
    CHECK_STR(kiln_lake_meta_property(m, "after"), "y");
    CHECK_EQ_INT(m->nmetadata_log, 2);
    CHECK(strstr(m->metadata_log[0].metadata_file, "/v1.metadata.json"));
    CHECK(strstr(m->metadata_log[1].metadata_file, "/v2.metadata.json"));
    /* the temp files of the stopped commits are the only leftovers */
    CHECK_EQ_INT(count_files(mdir, ".metadata.json"), 3 + 1);

    /* 5. a foreign file in the next slot is reported, not overwritten */
    char p[512];
    snprintf(p, sizeof p, "%s/v4.metadata.json", mdir);
    kt_write_file(p, "{}", 2);
    CHECK(kiln_lake_table_load(&t2, c, "ns.t", &err) == KILN_EFORMAT);
    CHECK(strstr(err.msg, "v4.metadata.json"));
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

static int kill_at;
static int kill_hook(kiln_lake_hook_point where, void *ctx)
{
    (void)ctx;
    if ((int)where == kill_at)
        raise(SIGKILL); /* a real crash: no cleanup, the SQLite txn is left open */
    return 0;
}

TEST(lake_catalog, killed_committer)
{
    /* a child process is SIGKILLed at each commit point; the table must stay
     * readable at the last good version, or at the new one once it was linked */
    const char *wh = kt_tmpdir();
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    kiln_lake_create_opts o = {.schema_ddl = "a int"};
    CHECK_OK(kiln_lake_table_create(&t, c, "ns.t", &o, &err), &err);
    kiln_lake_table_free(t);
    t = NULL;
    kiln_lake_catalog_free(c);
    c = NULL;
    static const struct {
        int point, version_after;
    } cases[] = {{KILN_LAKE_HOOK_BEFORE_WRITE, 1}, {KILN_LAKE_HOOK_BEFORE_SWAP, 1}, {KILN_LAKE_HOOK_AFTER_SWAP, 2}};
    int expect = 1;
    for (size_t i = 0; i < 3; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            kiln_lake_catalog *cc = NULL;
            kiln_lake_table *tt = NULL;
            kiln_lake_txn *txn = NULL;
            kiln_err e = {0};
            kiln_lake_kv kv = {"k", "v"};
            kill_at = cases[i].point;
            kiln_lake_commit_opts co = {.test_hook = kill_hook};
            if (kiln_lake_catalog_open(&cc, wh, KILN_LAKE_CATALOG_SQLITE, &e) ||
                kiln_lake_table_load(&tt, cc, "ns.t", &e) || kiln_lake_txn_begin(&txn, tt, &e) ||
                kiln_lake_txn_set_properties(txn, &kv, 1, &e))
                _exit(3);
            kiln_lake_txn_commit(txn, &co, NULL, &e);
            _exit(4); /* not reached */
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child was not killed (status %d)", st);
        expect = expect - 1 + cases[i].version_after;
        CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
        CHECK_OK(kiln_lake_table_load(&t, c, "ns.t", &err), &err);
        CHECK_EQ_INT(kiln_lake_table_version(t), expect);
        /* and the table still takes commits */
        kiln_lake_kv kv = {"after", "1"};
        CHECK_OK(kiln_lake_set_properties(t, &kv, 1, &err), &err);
        expect = kiln_lake_table_version(t);
        kiln_lake_table_free(t);
        t = NULL;
        kiln_lake_catalog_free(c);
        c = NULL;
    }
    CHECK_EQ_INT(expect, 5);
}

TEST(lake_catalog, hadoop_writer_on_sqlite_table)
{
    /* a commit made through the file-system layout alone (another kiln in
     * hadoop mode, or any engine) is picked up by the SQLite catalog */
    const char *wh = kt_tmpdir();
    kiln_lake_catalog *c = NULL, *hc = NULL;
    kiln_lake_table *t = NULL, *ht = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    CHECK_OK(kiln_lake_catalog_open(&hc, wh, KILN_LAKE_CATALOG_HADOOP, &err), &err);
    kiln_lake_create_opts o = {.schema_ddl = "a int"};
    CHECK_OK(kiln_lake_table_create(&t, c, "ns.t", &o, &err), &err);
    CHECK_OK(kiln_lake_table_load(&ht, hc, "ns.t", &err), &err);
    kiln_lake_kv kv = {"via", "hadoop"};
    CHECK_OK(kiln_lake_set_properties(ht, &kv, 1, &err), &err);
    /* the sqlite handle is stale: its commit conflicts, reloads (rolling the
     * row forward to v2) and lands as v3 */
    kiln_lake_kv kv2 = {"via2", "sqlite"};
    CHECK_OK(kiln_lake_set_properties(t, &kv2, 1, &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t), 3);
    CHECK_STR(kiln_lake_meta_property(kiln_lake_table_meta(t), "via"), "hadoop");
    kiln_lake_table_free(t);
    t = NULL;
    CHECK_OK(kiln_lake_table_load(&t, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_version(t), 3);
    kiln_lake_table_free(t);
    kiln_lake_table_free(ht);
    kiln_lake_catalog_free(c);
    kiln_lake_catalog_free(hc);
}
