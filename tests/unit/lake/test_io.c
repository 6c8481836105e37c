/*
 * test_io.c - the lake's file-access seam (lake_io.c): locations resolve
 * by scheme (plain paths and file:// to the local backend, s3:// to the
 * object store, anything else KILN_EUNSUPP naming the scheme), the local backend's operations, the
 * remap of stored paths, and the catalog open modes built on it (read-only
 * creates and changes nothing; lazy creates on the first change).
 */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "lake/lake.h"
#include "lake/lake_io.h"

TEST(lake_io, locations_resolve_by_scheme)
{
    kiln_err err = {0};
    const kiln_lake_io_ops *ops = NULL;
    char *p = NULL;
    CHECK_OK(kiln_lake__io_resolve(&ops, &p, "file:///w/ns/t/data/x.parquet", &err), &err);
    CHECK_STR(p, "/w/ns/t/data/x.parquet");
    CHECK_STR(ops->name, "local");
    kiln_free(p);
    CHECK_OK(kiln_lake__io_resolve(&ops, &p, "file:/w/x", &err), &err);
    CHECK_STR(p, "/w/x");
    kiln_free(p);
    CHECK_OK(kiln_lake__io_resolve(&ops, &p, "relative/dir", &err), &err);
    CHECK_STR(p, "relative/dir");
    kiln_free(p);
    /* a folder name with a colon is a path, not a scheme */
    CHECK_OK(kiln_lake__io_resolve(&ops, &p, "a:b/c", &err), &err);
    CHECK_STR(p, "a:b/c");
    kiln_free(p);
    static const char *const bad[] = {"gs://b/x", "http://example.com/w", "HTTPS://x/y",
                                      "abfss://c@a.dfs.core.windows.net/w"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = NULL;
        CHECK_EQ_INT(kiln_lake__io_resolve(&ops, &p, bad[i], &err), KILN_EUNSUPP);
        CHECK(p == NULL);
        char want[64];
        size_t sl = (size_t)(strstr(bad[i], "://") - bad[i]);
        memcpy(want, bad[i], sl);
        strcpy(want + sl, "://");
        CHECK_MSG(strstr(err.msg, want) != NULL, "%s: %s", bad[i], err.msg);
    }
    CHECK_EQ_INT(kiln_lake__io_resolve(&ops, &p, "file://host/x", &err), KILN_EUNSUPP);
    /* s3:// goes to the object store; its paths are whole locations */
    CHECK_OK(kiln_lake__io_resolve(&ops, &p, "s3://bucket/prefix/ns/t/", &err), &err);
    CHECK_STR(ops->name, "s3");
    CHECK_STR(p, "s3://bucket/prefix/ns/t");
    kiln_free(p);
    CHECK_OK(kiln_lake_uri_to_path(&p, "s3://b/k", &err), &err);
    CHECK_STR(p, "s3://b/k");
    char *u = kiln_lake_path_to_uri(p);
    CHECK_STR(u, "s3://b/k");
    kiln_free(u);
    kiln_free(p);
    /* except the SQLite catalog, which stays a local file */
    setenv("KILN_CATALOG_DIR", "/var/kiln-cat", 1);
    CHECK_OK(kiln_lake__io_resolve(&ops, &p, "s3://bucket/wh/catalog.db", &err), &err);
    CHECK_STR(ops->name, "local");
    CHECK_STR(p, "/var/kiln-cat/bucket/wh/catalog.db");
    kiln_free(p);
    unsetenv("KILN_CATALOG_DIR");
}

static int count_cb(void *ctx, const char *name, const kiln_lake_io_stat *st)
{
    int *n = ctx;
    n[st->is_dir ? 1 : 0]++;
    return strcmp(name, "stop") == 0 ? 7 : 0;
}

TEST(lake_io, local_backend_operations)
{
    kiln_err err = {0};
    char *dir = kiln_sprintf("file://%s/a/b", kt_tmpdir());
    char *f = kiln_sprintf("%s/f.json", dir), *g = kiln_sprintf("%s/g.json", dir);
    CHECK_OK(kiln_lake__io_mkdirs(dir, &err), &err);
    CHECK_OK(kiln_lake__io_write_new(f, "{}", 2, &err), &err);
    CHECK_EQ_INT(kiln_lake__io_write_new(f, "{}", 2, &err), KILN_EEXIST);
    CHECK_OK(kiln_lake__io_write_atomic(f, "[1]", 3, &err), &err);
    char *data = NULL;
    size_t n = 0;
    CHECK_OK(kiln_lake__io_read_all(f, 100, &data, &n, &err), &err);
    CHECK(n == 3 && memcmp(data, "[1]", 3) == 0);
    kiln_free(data);
    CHECK_EQ_INT(kiln_lake__io_read_all(f, 2, &data, &n, &err), KILN_ELIMIT);
    /* the commit point: publish once, never over an existing name */
    CHECK_OK(kiln_lake__io_link_new(f, g, &err), &err);
    CHECK_EQ_INT(kiln_lake__io_link_new(f, g, &err), KILN_EEXIST);
    kiln_lake_io_stat st;
    CHECK_OK(kiln_lake__io_stat(g, &st, &err), &err);
    CHECK(!st.is_dir && st.size == 3 && st.mtime_ms > 0);
    int counts[2] = {0, 0};
    CHECK_OK(kiln_lake__io_list(dir, count_cb, counts, &err), &err);
    CHECK(counts[0] == 2 && counts[1] == 0);
    CHECK_OK(kiln_lake__io_remove(f, &err), &err);
    CHECK_OK(kiln_lake__io_remove(f, &err), &err); /* already gone: fine */
    CHECK(!kiln_lake__io_exists(f) && kiln_lake__io_exists(g));
    char *missing = kiln_sprintf("%s/nope", dir);
    CHECK_EQ_INT(kiln_lake__io_read_all(missing, 100, &data, &n, &err), KILN_ENOTFOUND);
    counts[0] = counts[1] = 0;
    CHECK_OK(kiln_lake__io_list(missing, count_cb, counts, &err), &err);
    CHECK(counts[0] == 0 && counts[1] == 0);
    char *local = NULL;
    CHECK_OK(kiln_lake__io_local_file(&local, g, &err), &err);
    CHECK(local[0] == '/' && access(local, R_OK) == 0);
    kiln_free(local);
    CHECK_OK(kiln_lake__io_rmtree(dir, &err), &err);
    CHECK(!kiln_lake__io_exists(dir));
    kiln_free(missing);
    kiln_free(dir);
    kiln_free(f);
    kiln_free(g);
}

TEST(lake_io, remap_keeps_or_replaces_the_prefix)
{
    kiln_arena *a = kiln_arena_new(0);
    kiln_lake_remap r = {"data/persistent/", "/fx/"};
    CHECK_STR(kiln_lake_remap_path(a, &r, "data/persistent/t/x.parquet"), "/fx/t/x.parquet");
    CHECK_STR(kiln_lake_remap_path(a, &r, "file://data/persistent/t/x.parquet"), "/fx/t/x.parquet");
    CHECK_STR(kiln_lake_remap_path(a, &r, "file:///w/t/x.parquet"), "file:///w/t/x.parquet");
    CHECK_STR(kiln_lake_remap_path(a, NULL, "s3://b/x"), "s3://b/x");
    kiln_arena_free(a);
}

static int ns_count(void *ctx, const char *ns)
{
    (void)ns;
    (*(int *)ctx)++;
    return 0;
}

TEST(lake_io, catalog_modes_create_only_when_they_may)
{
    kiln_err err = {0};
    char *wh = kiln_sprintf("%s/wh", kt_tmpdir());
    struct stat st;
    kiln_lake_catalog *c = NULL;
    /* read-only: opening is fine, the first read says not found, nothing is made */
    CHECK_OK(kiln_lake_catalog_open_mode(&c, wh, KILN_LAKE_CATALOG_SQLITE, KILN_LAKE_OPEN_READONLY, &err), &err);
    kiln_lake_table *t = NULL;
    CHECK_EQ_INT(kiln_lake_table_load(&t, c, "ns.t", &err), KILN_ENOTFOUND);
    CHECK_MSG(strstr(err.msg, "warehouse not found") != NULL, "%s", err.msg);
    CHECK_EQ_INT(kiln_lake_namespace_create(c, "ns", &err), KILN_EINVAL);
    CHECK(stat(wh, &st) != 0);
    kiln_lake_catalog_free(c);
    /* lazy: reads see an empty catalog, the first change creates it */
    CHECK_OK(kiln_lake_catalog_open_mode(&c, wh, KILN_LAKE_CATALOG_SQLITE, KILN_LAKE_OPEN_LAZY, &err), &err);
    int n = 0;
    CHECK_OK(kiln_lake_namespace_list(c, ns_count, &n, &err), &err);
    CHECK_EQ_INT(n, 0);
    CHECK(stat(wh, &st) != 0);
    kiln_lake_create_opts o;
    memset(&o, 0, sizeof o);
    o.schema_ddl = "id long";
    CHECK_OK(kiln_lake_table_create(&t, c, "ns.t", &o, &err), &err);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    char *db = kiln_sprintf("%s/catalog.db", wh);
    CHECK(stat(db, &st) == 0);
    /* read-only on an existing warehouse reads, and refuses changes */
    CHECK_OK(kiln_lake_catalog_open_mode(&c, wh, KILN_LAKE_CATALOG_SQLITE, KILN_LAKE_OPEN_READONLY, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t, c, "ns.t", &err), &err);
    CHECK_EQ_INT(kiln_lake_table_drop(c, "ns.t", 1, &err), KILN_EINVAL);
    kiln_lake_txn *txn = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    kiln_lake_kv kv = {"k", "v"};
    CHECK_OK(kiln_lake_txn_set_properties(txn, &kv, 1, &err), &err);
    CHECK_EQ_INT(kiln_lake_txn_commit(txn, NULL, NULL, &err), KILN_EINVAL);
    kiln_lake_txn_free(txn);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    kiln_free(db);
    kiln_free(wh);
}
