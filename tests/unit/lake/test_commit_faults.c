/* A commit either fails and changes nothing, or succeeds: an allocation
 * failure at every point of a metadata commit (both catalogs), checked by
 * reloading the table from disk in a fresh catalog. */
#include "harness/harness.h"
#include "lake/lake.h"

#include <stdio.h>

static void sweep(kiln_lake_catalog_kind kind)
{
    kiln_err err = {0};
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    const char *wh = kt_tmpdir();
    CHECK_OK(kiln_lake_catalog_open(&cat, wh, kind, &err), &err);
    kiln_lake_create_opts co = {0};
    co.schema_ddl = "id long not null, name string";
    CHECK_OK(kiln_lake_namespace_create(cat, "db", &err), &err);
    CHECK_OK(kiln_lake_table_create(&t, cat, "db.t", &co, &err), &err);
    int failures = 0, successes = 0;
    for (long k = 0; k < 400; k++) {
        char key[32];
        snprintf(key, sizeof key, "k%ld", k);
        kiln_lake_kv kv = {key, "v"};
        kiln_alloc_fail_after(k);
        int rc = kiln_lake_set_properties(t, &kv, 1, &err);
        kiln_alloc_fail_after(-1);
        /* what a new process would see */
        kiln_lake_catalog *c2 = NULL;
        kiln_lake_table *t2 = NULL;
        kiln_err e2 = {0};
        CHECK_OK(kiln_lake_catalog_open(&c2, wh, kind, &e2), &e2);
        CHECK_OK(kiln_lake_table_load(&t2, c2, "db.t", &e2), &e2);
        const char *got = kiln_lake_meta_property(kiln_lake_table_meta(t2), key);
        if (rc == 0) {
            CHECK_MSG(got != NULL, "k=%ld: commit reported success but a reload lacks it", k);
            successes++;
        } else {
            CHECK_MSG(got == NULL, "k=%ld: commit reported failure (%s) but a reload shows it", k, err.msg);
            failures++;
        }
        kiln_lake_table_free(t2);
        kiln_lake_catalog_free(c2);
        kiln_lake_table_free(t);
        t = NULL;
        CHECK_OK(kiln_lake_table_load(&t, cat, "db.t", &err), &err);
        if (successes > 3 && failures > 50)
            break;
    }
    CHECK(failures > 0);
    CHECK(successes > 0);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
}

TEST(lake_commit, failed_commit_changes_nothing_sqlite) { sweep(KILN_LAKE_CATALOG_SQLITE); }
TEST(lake_commit, failed_commit_changes_nothing_hadoop) { sweep(KILN_LAKE_CATALOG_HADOOP); }
