/* test_txn.c - transactions: snapshots and refs, schema evolution by field
 * id, specs, requirements, branches/tags/fast-forward/rollback, expiry,
 * and concurrent committers in several processes (every commit survives,
 * the metadata log stays intact). */
#include "harness/harness.h"
#include "lake/lake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static kiln_lake_catalog *open_cat(const char *wh, kiln_lake_catalog_kind kind)
{
    kiln_lake_catalog *c = NULL;
    kiln_err err = {0};
    if (kiln_lake_catalog_open(&c, wh, kind, &err) != 0)
        kt_fail(__FILE__, __LINE__, "%s", err.msg);
    return c;
}

/* An append commit the way the data half will do it: the build function
 * runs for the first attempt and as the rebase hook after a lost race,
 * reading the new base for the parent, sequence number and requirement. */
typedef struct {
    int64_t snapshot_id;
    int64_t ts;         /* 0 = now */
    const char *branch; /* NULL = main */
    int builds;
} append_ctx;

static int build_append(kiln_lake_txn *txn, void *vctx, kiln_err *err)
{
    append_ctx *a = vctx;
    const kiln_lake_meta *b = kiln_lake_txn_base(txn);
    const char *branch = a->branch ? a->branch : "main";
    const kiln_lake_ref *head = kiln_lake_meta_ref(b, branch);
    int64_t seq = kiln_lake_txn_next_sequence_number(txn);
    char ml[256];
    snprintf(ml, sizeof ml, "file:///nonexistent/snap-%" PRId64 "-%" PRId64 ".avro", a->snapshot_id, seq);
    kiln_lake_kv summary[] = {{"operation", "append"}, {"added-records", "1"}};
    kiln_lake_snapshot s = {.snapshot_id = a->snapshot_id,
                            .parent_id = head ? head->snapshot_id : -1,
                            .sequence_number = seq,
                            .timestamp_ms = a->ts ? a->ts : kiln_now_micros() / 1000,
                            .manifest_list = ml,
                            .schema_id = b->current_schema_id,
                            .nsummary = 2,
                            .summary = summary};
    kiln_lake_ref r = {branch, KILN_LAKE_BRANCH, a->snapshot_id, -1, -1, -1};
    if (head)
        r = *head, r.snapshot_id = a->snapshot_id;
    int rc;
    a->builds++;
    kiln_lake_txn_clear(txn);
    if ((rc = kiln_lake_txn_require_ref_snapshot(txn, branch, head ? head->snapshot_id : -1, err)) != 0 ||
        (rc = kiln_lake_txn_add_snapshot(txn, &s, err)) != 0 || (rc = kiln_lake_txn_set_ref(txn, &r, err)) != 0)
        return rc;
    return 0;
}

static int do_append(kiln_lake_table *t, append_ctx *a, kiln_err *err)
{
    kiln_lake_txn *txn = NULL;
    kiln_lake_commit_opts o = {.rebase = build_append, .rebase_ctx = a, .max_retries = 200, .backoff_ms = 1};
    if (!a->snapshot_id)
        a->snapshot_id = kiln_lake_snapshot_id_new();
    int rc = kiln_lake_txn_begin(&txn, t, err);
    if (rc == 0)
        rc = build_append(txn, a, err);
    if (rc == 0)
        rc = kiln_lake_txn_commit(txn, &o, NULL, err);
    kiln_lake_txn_free(txn);
    return rc;
}

static kiln_lake_table *new_table(kiln_lake_catalog *c, const char *name, const char *ddl)
{
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    kiln_lake_create_opts o = {.schema_ddl = ddl};
    if (kiln_lake_table_create(&t, c, name, &o, &err) != 0)
        kt_fail(__FILE__, __LINE__, "%s", err.msg);
    return t;
}

TEST(lake_txn, append_snapshots_and_logs)
{
    kiln_lake_catalog *c = open_cat(kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE);
    kiln_lake_table *t = new_table(c, "ns.t", "id long");
    kiln_err err = {0};
    CHECK(t);
    append_ctx a1 = {0}, a2 = {0};
    CHECK_OK(do_append(t, &a1, &err), &err);
    CHECK_OK(do_append(t, &a2, &err), &err);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(kiln_lake_table_version(t), 3);
    CHECK_EQ_INT(m->nsnapshots, 2);
    CHECK_EQ_INT(m->last_sequence_number, 2);
    CHECK_EQ_INT(m->current_snapshot_id, a2.snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_snapshot(m, a2.snapshot_id)->parent_id, a1.snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_snapshot(m, a2.snapshot_id)->sequence_number, 2);
    CHECK_EQ_INT(m->nsnapshot_log, 2);
    CHECK_EQ_INT(m->snapshot_log[1].snapshot_id, a2.snapshot_id);
    CHECK_EQ_INT(m->nmetadata_log, 2);
    CHECK(strstr(m->metadata_log[1].metadata_file, "/metadata/v2.metadata.json"));
    CHECK(m->last_updated_ms >= kiln_lake_meta_snapshot(m, a2.snapshot_id)->timestamp_ms);
    CHECK_EQ_INT(a1.builds, 1);

    /* a snapshot at a stale sequence number is refused with a clear error */
    kiln_lake_txn *txn = NULL;
    kiln_lake_kv sum[] = {{"operation", "append"}};
    kiln_lake_snapshot s = {.snapshot_id = 77,
                            .parent_id = -1,
                            .sequence_number = 2,
                            .timestamp_ms = 1,
                            .manifest_list = "file:///x.avro",
                            .schema_id = -1,
                            .nsummary = 1,
                            .summary = sum};
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_add_snapshot(txn, &s, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_ECONFLICT);
    CHECK(strstr(err.msg, "sequence number"));
    kiln_lake_txn_free(txn);
    txn = NULL;
    /* reused snapshot id */
    s.snapshot_id = a1.snapshot_id;
    s.sequence_number = 3;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_add_snapshot(txn, &s, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_ECONFLICT);
    kiln_lake_txn_free(txn);
    txn = NULL;
    /* requirement failure without a rebase hook: KILN_ECONFLICT naming it */
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_require_ref_snapshot(txn, "main", a1.snapshot_id, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_ECONFLICT);
    CHECK(strstr(err.msg, "assert-ref-snapshot-id"));
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_require_uuid(txn, "00000000-0000-4000-8000-000000000000", &err), &err);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_ECONFLICT);
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK_EQ_INT(kiln_lake_table_version(t), 3);

    /* properties set/remove */
    kiln_lake_kv p[] = {{"a", "1"}, {"b", "2"}};
    CHECK_OK(kiln_lake_set_properties(t, p, 2, &err), &err);
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    const char *rm[] = {"a"};
    kiln_lake_kv p2 = {"b", "3"};
    CHECK_OK(kiln_lake_txn_remove_properties(txn, rm, 1, &err), &err);
    CHECK_OK(kiln_lake_txn_set_properties(txn, &p2, 1, &err), &err);
    const kiln_lake_meta *pv = NULL;
    CHECK_OK(kiln_lake_txn_preview(&pv, txn, &err), &err);
    CHECK(kiln_lake_meta_property(pv, "a") == NULL);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    m = kiln_lake_table_meta(t);
    CHECK(kiln_lake_meta_property(m, "a") == NULL);
    CHECK_STR(kiln_lake_meta_property(m, "b"), "3");
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

TEST(lake_txn, schema_evolution_by_field_id)
{
    kiln_lake_catalog *c = open_cat(kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE);
    kiln_lake_table *t = new_table(c, "ns.t", "id int not null, price decimal(9,2), score float, s struct<a:int>");
    kiln_err err = {0};
    kiln_lake_txn *txn = NULL;
    CHECK(t);
    int32_t last = kiln_lake_table_meta(t)->last_column_id;
    CHECK_EQ_INT(last, 5);
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_require_current_schema_id(txn, 0, &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, NULL, "note", "string", "free text", &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, NULL, "tags", "list<string>", NULL, &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, "s", "b", "long", NULL, &err), &err);
    CHECK_OK(kiln_lake_txn_rename_column(txn, "score", "rating", &err), &err);
    CHECK_OK(kiln_lake_txn_widen_column(txn, "id", "long", &err), &err);
    CHECK_OK(kiln_lake_txn_widen_column(txn, "price", "decimal(18,2)", &err), &err);
    CHECK_OK(kiln_lake_txn_widen_column(txn, "rating", "double", &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    txn = NULL;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    CHECK(s->schema_id > 0);
    CHECK(kiln_lake_meta_schema(m, 0) != NULL); /* old schemas stay */
    CHECK_EQ_INT(m->last_column_id, 9);
    CHECK_STR(kiln_lake_schema_field(s, 6)->name, "note");
    CHECK_STR(kiln_lake_schema_field(s, 6)->doc, "free text");
    CHECK(!kiln_lake_schema_field(s, 6)->required);
    CHECK(kiln_lake_schema_field(s, 7)->type->kind == KILN_LAKE_LIST);
    CHECK_EQ_INT(kiln_lake_schema_field(s, 7)->type->element_id, 8);
    CHECK_STR(kiln_lake_schema_field(s, 9)->name, "b");
    CHECK_STR(kiln_lake_schema_field(s, 3)->name, "rating");
    CHECK(kiln_lake_schema_field(s, 3)->type->kind == KILN_LAKE_DOUBLE);
    CHECK(kiln_lake_schema_field(s, 1)->type->kind == KILN_LAKE_LONG);
    CHECK(kiln_lake_schema_field(s, 1)->required);
    CHECK_EQ_INT(kiln_lake_schema_field(s, 2)->type->precision, 18);
    CHECK_STR(kiln_lake_schema_field(kiln_lake_meta_schema(m, 0), 3)->name, "score");

    /* disallowed changes */
    static const char *const bad[][2] = {
        {"id", "int"}, {"note", "int"}, {"price", "decimal(18,3)"}, {"rating", "float"}, {"nope", "long"}};
    for (size_t i = 0; i < 5; i++) {
        CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
        CHECK_OK(kiln_lake_txn_widen_column(txn, bad[i][0], bad[i][1], &err), &err);
        int rc = kiln_lake_txn_commit(txn, NULL, NULL, &err);
        CHECK_MSG(rc == KILN_EINVAL || rc == KILN_ENOTFOUND, "%s -> %s gave %d", bad[i][0], bad[i][1], rc);
        kiln_lake_txn_free(txn);
        txn = NULL;
    }
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_rename_column(txn, "note", "id", &err), &err);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_EEXIST);
    kiln_lake_txn_free(txn);
    txn = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn, t, &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, NULL, "note", "int", NULL, &err), &err);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_EEXIST);
    kiln_lake_txn_free(txn);
    txn = NULL;

    /* a concurrent schema change fails assert-current-schema-id */
    kiln_lake_table *t2 = NULL;
    CHECK_OK(kiln_lake_table_load(&t2, c, "ns.t", &err), &err);
    CHECK_OK(kiln_lake_txn_begin(&txn, t2, &err), &err);
    CHECK_OK(kiln_lake_txn_require_current_schema_id(txn, kiln_lake_table_meta(t2)->current_schema_id, &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, NULL, "x2", "int", NULL, &err), &err);
    kiln_lake_txn *txn1 = NULL;
    CHECK_OK(kiln_lake_txn_begin(&txn1, t, &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn1, NULL, "x1", "int", NULL, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn1, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn1);
    CHECK(kiln_lake_txn_commit(txn, NULL, NULL, &err) == KILN_ECONFLICT);
    CHECK(strstr(err.msg, "assert-current-schema-id"));
    kiln_lake_txn_free(txn);
    txn = NULL;
    /* without the requirement the add is rebased: a fresh id on the new base */
    CHECK_OK(kiln_lake_txn_begin(&txn, t2, &err), &err);
    CHECK_OK(kiln_lake_txn_add_column(txn, NULL, "x3", "int", NULL, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    txn = NULL;
    s = kiln_lake_meta_current_schema(kiln_lake_table_meta(t2));
    CHECK(kiln_lake_schema_column(s, "x1") && kiln_lake_schema_column(s, "x3"));
    CHECK_EQ_INT(kiln_lake_schema_column(s, "x1")->id, 10);
    CHECK_EQ_INT(kiln_lake_schema_column(s, "x3")->id, 11);

    /* add-spec with field-id reuse; set default */
    CHECK_OK(kiln_lake_txn_begin(&txn, t2, &err), &err);
    CHECK_OK(kiln_lake_txn_add_spec(txn, "bucket(4, id), x1", &err), &err);
    CHECK_OK(kiln_lake_txn_set_default_spec(txn, -1, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    txn = NULL;
    m = kiln_lake_table_meta(t2);
    CHECK_EQ_INT(m->default_spec_id, 1);
    CHECK_EQ_INT(m->last_partition_id, 1001);
    CHECK_STR(kiln_lake_meta_default_spec(m)->fields[0].name, "id_bucket");
    CHECK_STR(kiln_lake_meta_default_spec(m)->fields[1].name, "x1");
    CHECK_OK(kiln_lake_txn_begin(&txn, t2, &err), &err);
    CHECK_OK(kiln_lake_txn_add_spec(txn, "x1", &err), &err);
    CHECK_OK(kiln_lake_txn_set_default_spec(txn, -1, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    txn = NULL;
    m = kiln_lake_table_meta(t2);
    CHECK_EQ_INT(m->default_spec_id, 2);
    CHECK_EQ_INT(kiln_lake_meta_default_spec(m)->fields[0].field_id, 1001); /* reused */
    CHECK_EQ_INT(m->last_partition_id, 1001);
    /* add-schema JSON */
    CHECK_OK(kiln_lake_txn_begin(&txn, t2, &err), &err);
    CHECK_OK(
        kiln_lake_txn_add_schema_json(txn,
                                      "{\"type\":\"struct\",\"schema-id\":99,\"fields\":[{\"id\":1,\"name\":\"id\","
                                      "\"required\":true,\"type\":\"long\"},{\"id\":40,\"name\":\"z\","
                                      "\"required\":false,\"type\":\"uuid\"}]}",
                                      &err),
        &err);
    CHECK_OK(kiln_lake_txn_set_current_schema(txn, -1, &err), &err);
    CHECK_OK(kiln_lake_txn_commit(txn, NULL, NULL, &err), &err);
    kiln_lake_txn_free(txn);
    m = kiln_lake_table_meta(t2);
    CHECK_EQ_INT(m->last_column_id, 40);
    CHECK(kiln_lake_meta_current_schema(m)->schema_id != 99);
    CHECK(kiln_lake_schema_column(kiln_lake_meta_current_schema(m), "z") != NULL);
    kiln_lake_table_free(t2);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

TEST(lake_txn, branches_tags_fast_forward_rollback)
{
    kiln_lake_catalog *c = open_cat(kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE);
    kiln_lake_table *t = new_table(c, "ns.t", "id long");
    kiln_err err = {0};
    CHECK(t);
    kiln_lake_ref br = {"backfill", KILN_LAKE_BRANCH, -1, -1, -1, -1};
    CHECK(kiln_lake_ref_create(t, &br, &err) == KILN_ENOTFOUND); /* empty table */
    append_ctx a1 = {0}, a2 = {0}, b1 = {.branch = "backfill"}, b2 = {.branch = "backfill"}, a3 = {0};
    CHECK_OK(do_append(t, &a1, &err), &err);
    CHECK_OK(kiln_lake_ref_create(t, &br, &err), &err);
    CHECK(kiln_lake_ref_create(t, &br, &err) == KILN_EEXIST);
    kiln_lake_ref tag = {"v1", KILN_LAKE_TAG, -1, -1, -1, 86400000};
    CHECK_OK(kiln_lake_ref_create(t, &tag, &err), &err);
    kiln_lake_ref badref = {"../x", KILN_LAKE_TAG, -1, -1, -1, -1};
    CHECK(kiln_lake_ref_create(t, &badref, &err) == KILN_EINVAL);
    /* write to the branch: main does not move */
    CHECK_OK(do_append(t, &b1, &err), &err);
    CHECK_OK(do_append(t, &b2, &err), &err);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->current_snapshot_id, a1.snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_ref(m, "backfill")->snapshot_id, b2.snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_snapshot(m, b1.snapshot_id)->parent_id, a1.snapshot_id);
    CHECK_EQ_INT(kiln_lake_meta_ref(m, "v1")->max_ref_age_ms, 86400000);
    CHECK(kiln_lake_meta_ref(m, "v1")->type == KILN_LAKE_TAG);
    int64_t id;
    CHECK_OK(kiln_lake_meta_resolve(m, "backfill", &id, &err), &err);
    CHECK_EQ_INT(id, b2.snapshot_id);
    /* fast-forward main to the branch */
    CHECK_OK(kiln_lake_fast_forward(t, "main", "backfill", &err), &err);
    m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->current_snapshot_id, b2.snapshot_id);
    CHECK_EQ_INT(m->snapshot_log[m->nsnapshot_log - 1].snapshot_id, b2.snapshot_id);
    /* diverge: main gets a3, branch gets another: fast-forward refused */
    CHECK_OK(do_append(t, &a3, &err), &err);
    append_ctx b3 = {.branch = "backfill"};
    CHECK_OK(do_append(t, &b3, &err), &err);
    CHECK(kiln_lake_fast_forward(t, "main", "backfill", &err) == KILN_ECONFLICT);
    CHECK(strstr(err.msg, "not an ancestor"));
    CHECK(kiln_lake_fast_forward(t, "main", "v1", &err) == KILN_ECONFLICT);
    CHECK(kiln_lake_fast_forward(t, "v1", "main", &err) == KILN_EINVAL);
    CHECK(kiln_lake_fast_forward(t, "main", "nope", &err) == KILN_ENOTFOUND);
    /* rollback main to an ancestor; not to a branch-only snapshot */
    CHECK(kiln_lake_rollback(t, b3.snapshot_id, &err) == KILN_EINVAL);
    CHECK_OK(kiln_lake_rollback(t, a1.snapshot_id, &err), &err);
    m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->current_snapshot_id, a1.snapshot_id);
    CHECK_EQ_INT(m->nsnapshots, 5); /* rollback removes nothing */
    CHECK_OK(kiln_lake_set_current(t, b3.snapshot_id, &err), &err);
    CHECK_EQ_INT(kiln_lake_table_meta(t)->current_snapshot_id, b3.snapshot_id);
    CHECK(kiln_lake_set_current(t, 12345, &err) == KILN_ENOTFOUND);
    /* drop refs */
    CHECK(kiln_lake_ref_drop(t, "main", &err) == KILN_EINVAL);
    CHECK_OK(kiln_lake_ref_drop(t, "backfill", &err), &err);
    CHECK(kiln_lake_ref_drop(t, "backfill", &err) == KILN_ENOTFOUND);
    CHECK(kiln_lake_meta_ref(kiln_lake_table_meta(t), "backfill") == NULL);
    (void)a2;
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

static int expired_calls;
static int on_expired(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after, const int64_t *ids,
                      size_t n, int dry, kiln_err *err)
{
    (void)ctx;
    (void)err;
    expired_calls++;
    for (size_t i = 0; i < n; i++)
        if (!kiln_lake_meta_snapshot(before, ids[i]) || (!dry && kiln_lake_meta_snapshot(after, ids[i])))
            return KILN_EINTERNAL;
    return 0;
}

TEST(lake_txn, expire_snapshots)
{
    kiln_lake_catalog *c = open_cat(kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE);
    kiln_lake_table *t = new_table(c, "ns.t", "id long");
    kiln_err err = {0};
    CHECK(t);
    int64_t day = 86400000, now = kiln_now_micros() / 1000;
    append_ctx a[6];
    memset(a, 0, sizeof a);
    for (int i = 0; i < 6; i++) {
        a[i].ts = now - (10 - i) * day; /* 10..5 days old */
        CHECK_OK(do_append(t, &a[i], &err), &err);
    }
    kiln_lake_ref tag = {"keep", KILN_LAKE_TAG, a[0].snapshot_id, -1, -1, -1};
    CHECK_OK(kiln_lake_ref_create(t, &tag, &err), &err);
    kiln_lake_ref oldtag = {"old", KILN_LAKE_TAG, a[1].snapshot_id, -1, -1, 3 * day};
    CHECK_OK(kiln_lake_ref_create(t, &oldtag, &err), &err);
    /* dry run: nothing changes */
    int version = kiln_lake_table_version(t);
    kiln_lake_expire_opts o = {.older_than_ms = now, .retain_last = 2, .dry_run = 1, .on_expired = on_expired};
    int64_t *ids = NULL;
    size_t n = 0;
    CHECK_OK(kiln_lake_expire(t, &o, &ids, &n, &err), &err);
    CHECK_EQ_INT(n, 3); /* a1 (old tag aged out), a2, a3; a0 tagged, a4 a5 retained */
    CHECK_EQ_INT(kiln_lake_table_version(t), version);
    CHECK_EQ_INT(expired_calls, 1);
    kiln_free(ids);
    ids = NULL;
    o.dry_run = 0;
    CHECK_OK(kiln_lake_expire(t, &o, &ids, &n, &err), &err);
    CHECK_EQ_INT(n, 3);
    CHECK_EQ_INT(expired_calls, 2);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->nsnapshots, 3);
    CHECK(kiln_lake_meta_snapshot(m, a[0].snapshot_id));
    CHECK(!kiln_lake_meta_snapshot(m, a[1].snapshot_id));
    CHECK(!kiln_lake_meta_snapshot(m, a[3].snapshot_id));
    CHECK(kiln_lake_meta_snapshot(m, a[4].snapshot_id));
    CHECK(kiln_lake_meta_snapshot(m, a[5].snapshot_id));
    CHECK(kiln_lake_meta_ref(m, "old") == NULL);
    CHECK(kiln_lake_meta_ref(m, "keep") != NULL);
    /* snapshot-log cut after the last removed entry: time travel never
     * lands on an expired snapshot */
    for (size_t i = 0; i < m->nsnapshot_log; i++)
        CHECK(kiln_lake_meta_snapshot(m, m->snapshot_log[i].snapshot_id));
    CHECK_EQ_INT(m->last_sequence_number, 6);
    kiln_free(ids);
    ids = NULL;
    /* again: nothing more to do (retain_last keeps 2, current is never expired) */
    o.retain_last = 1;
    o.older_than_ms = now + day;
    CHECK_OK(kiln_lake_expire(t, &o, &ids, &n, &err), &err);
    CHECK_EQ_INT(n, 1);
    CHECK(kiln_lake_meta_snapshot(kiln_lake_table_meta(t), a[5].snapshot_id));
    CHECK(kiln_lake_meta_snapshot(kiln_lake_table_meta(t), a[0].snapshot_id));
    kiln_free(ids);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

/* Several processes commit to one table at once: appends (with a rebase
 * hook) and property sets. Every commit must be present afterwards. */
static void concurrent(kiln_lake_catalog_kind kind)
{
    enum { NPROC = 4, NCOMMITS = 6 };
    const char *wh = kt_tmpdir();
    kiln_lake_catalog *c = open_cat(wh, kind);
    kiln_lake_table *t = new_table(c, "ns.t", "id long");
    kiln_err err = {0};
    CHECK(t);
    kiln_lake_table_free(t);
    t = NULL;
    kiln_lake_catalog_free(c);
    c = NULL;
    pid_t pids[NPROC];
    for (int p = 0; p < NPROC; p++) {
        pids[p] = fork();
        CHECK(pids[p] >= 0);
        if (pids[p] == 0) {
            kiln_lake_catalog *cc = NULL;
            kiln_lake_table *tt = NULL;
            kiln_err e = {0};
            int ok = kiln_lake_catalog_open(&cc, wh, kind, &e) == 0 && kiln_lake_table_load(&tt, cc, "ns.t", &e) == 0;
            for (int i = 0; ok && i < NCOMMITS; i++) {
                if (i % 2 == 0) {
                    append_ctx a = {0};
                    ok = do_append(tt, &a, &e) == 0;
                } else {
                    char key[32];
                    snprintf(key, sizeof key, "p%d.%d", p, i);
                    kiln_lake_kv kv = {key, "1"};
                    ok = kiln_lake_set_properties(tt, &kv, 1, &e) == 0;
                }
            }
            if (!ok)
                fprintf(stderr, "child %d: %s\n", p, e.msg);
            kiln_lake_table_free(tt);
            kiln_lake_catalog_free(cc);
            _exit(ok ? 0 : 1);
        }
    }
    for (int p = 0; p < NPROC; p++) {
        int st = 0;
        waitpid(pids[p], &st, 0);
        CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d failed", p);
    }
    c = open_cat(wh, kind);
    CHECK_OK(kiln_lake_table_load(&t, c, "ns.t", &err), &err);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int total = NPROC * NCOMMITS, nappends = NPROC * (NCOMMITS / 2);
    CHECK_EQ_INT(kiln_lake_table_version(t), 1 + total);
    CHECK_EQ_INT(m->nsnapshots, nappends);
    CHECK_EQ_INT(m->last_sequence_number, nappends);
    CHECK_EQ_INT(m->nmetadata_log, total);
    for (int v = 1; v <= total; v++) {
        char want[64];
        snprintf(want, sizeof want, "/metadata/v%d.metadata.json", v);
        CHECK_MSG(strstr(m->metadata_log[v - 1].metadata_file, want), "metadata-log[%d] = %s", v - 1,
                  m->metadata_log[v - 1].metadata_file);
    }
    /* one linear history: each snapshot's parent is the previous one */
    int64_t id = m->current_snapshot_id;
    int chain = 0;
    while (id >= 0) {
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, id);
        CHECK(s);
        CHECK_EQ_INT(s->sequence_number, nappends - chain);
        chain++;
        id = s->parent_id;
    }
    CHECK_EQ_INT(chain, nappends);
    for (int p = 0; p < NPROC; p++)
        for (int i = 1; i < NCOMMITS; i += 2) {
            char key[32];
            snprintf(key, sizeof key, "p%d.%d", p, i);
            CHECK_MSG(kiln_lake_meta_property(m, key), "lost property %s", key);
        }
    /* every version file is valid metadata of the same table */
    for (int v = 1; v <= total + 1; v++) {
        char path[512];
        snprintf(path, sizeof path, "%s/ns/t/metadata/v%d.metadata.json", wh, v);
        kiln_lake_meta *vm = NULL;
        CHECK_OK(kiln_lake_meta_read(&vm, path, &err), &err);
        CHECK_STR(vm->table_uuid, m->table_uuid);
        kiln_lake_meta_free(vm);
    }
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

TEST(lake_txn, concurrent_processes_sqlite) { concurrent(KILN_LAKE_CATALOG_SQLITE); }

TEST(lake_txn, concurrent_processes_hadoop) { concurrent(KILN_LAKE_CATALOG_HADOOP); }

static int rest_commit(kiln_lake_table *t, const char *reqs, const char *ups, kiln_err *err)
{
    kiln_lake_txn *txn = NULL;
    int rc = kiln_lake_txn_begin(&txn, t, err);
    if (rc == 0)
        rc = kiln_lake_txn_add_rest_json(txn, reqs, ups, err);
    if (rc == 0)
        rc = kiln_lake_txn_commit(txn, NULL, NULL, err);
    kiln_lake_txn_free(txn);
    return rc;
}

TEST(lake_txn, rest_catalog_json)
{
    kiln_lake_catalog *c = open_cat(kt_tmpdir(), KILN_LAKE_CATALOG_SQLITE);
    kiln_lake_table *t = new_table(c, "ns.t", "id long not null, ts timestamptz");
    kiln_err err = {0};
    CHECK(t);
    char reqs[512], ups[2048];
    const char *uuid = kiln_lake_table_meta(t)->table_uuid;
    /* an append as a REST client sends it */
    snprintf(reqs, sizeof reqs,
             "[{\"type\":\"assert-table-uuid\",\"uuid\":\"%s\"},"
             "{\"type\":\"assert-ref-snapshot-id\",\"ref\":\"main\",\"snapshot-id\":null}]",
             uuid);
    snprintf(ups, sizeof ups,
             "[{\"action\":\"add-snapshot\",\"snapshot\":{\"snapshot-id\":42,\"sequence-number\":1,"
             "\"timestamp-ms\":1700000000000,\"manifest-list\":\"file:///x/snap-42.avro\","
             "\"summary\":{\"operation\":\"append\",\"added-records\":\"3\"},\"schema-id\":0}},"
             "{\"action\":\"set-snapshot-ref\",\"ref-name\":\"main\",\"type\":\"branch\",\"snapshot-id\":42}]");
    CHECK_OK(rest_commit(t, reqs, ups, &err), &err);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    CHECK_EQ_INT(m->current_snapshot_id, 42);
    CHECK_EQ_INT(m->last_sequence_number, 1);
    CHECK_STR(kiln_lake_meta_snapshot(m, 42)->operation, "append");
    /* the same requirements now fail: main exists */
    CHECK(rest_commit(t, reqs, "[]", &err) == KILN_ECONFLICT);
    CHECK(strstr(err.msg, "assert-ref-snapshot-id"));
    /* properties, schema, spec, tag */
    CHECK_OK(rest_commit(t,
                         "[{\"type\":\"assert-current-schema-id\",\"current-schema-id\":0},"
                         "{\"type\":\"assert-last-assigned-field-id\",\"last-assigned-field-id\":2},"
                         "{\"type\":\"assert-default-spec-id\",\"default-spec-id\":0}]",
                         "[{\"action\":\"set-properties\",\"updates\":{\"a\":\"1\",\"b\":\"2\"}},"
                         "{\"action\":\"remove-properties\",\"removals\":[\"a\"]},"
                         "{\"action\":\"add-schema\",\"schema\":{\"type\":\"struct\",\"schema-id\":1,\"fields\":["
                         "{\"id\":1,\"name\":\"id\",\"required\":true,\"type\":\"long\"},"
                         "{\"id\":2,\"name\":\"ts\",\"required\":false,\"type\":\"timestamptz\"},"
                         "{\"id\":3,\"name\":\"n\",\"required\":false,\"type\":\"int\"}]},\"last-column-id\":3},"
                         "{\"action\":\"set-current-schema\",\"schema-id\":-1},"
                         "{\"action\":\"add-spec\",\"spec\":{\"spec-id\":1,\"fields\":[{\"name\":\"ts_day\","
                         "\"transform\":\"day\",\"source-id\":2,\"field-id\":1000}]}},"
                         "{\"action\":\"set-default-spec\",\"spec-id\":-1},"
                         "{\"action\":\"set-snapshot-ref\",\"ref-name\":\"t1\",\"type\":\"tag\",\"snapshot-id\":42,"
                         "\"max-ref-age-ms\":1000},"
                         "{\"action\":\"upgrade-format-version\",\"format-version\":2}]",
                         &err),
             &err);
    m = kiln_lake_table_meta(t);
    CHECK(kiln_lake_meta_property(m, "a") == NULL);
    CHECK_STR(kiln_lake_meta_property(m, "b"), "2");
    CHECK_EQ_INT(m->current_schema_id, 1);
    CHECK_EQ_INT(m->last_column_id, 3);
    CHECK_EQ_INT(m->default_spec_id, 1);
    CHECK_EQ_INT(m->last_partition_id, 1000);
    CHECK_STR(kiln_lake_meta_default_spec(m)->fields[0].transform.text, "day");
    CHECK(kiln_lake_meta_ref(m, "t1")->type == KILN_LAKE_TAG);
    CHECK_EQ_INT(kiln_lake_meta_ref(m, "t1")->max_ref_age_ms, 1000);
    /* remove the tag and the snapshot is still protected by main */
    CHECK_OK(rest_commit(t, NULL, "[{\"action\":\"remove-snapshot-ref\",\"ref-name\":\"t1\"}]", &err), &err);
    CHECK(kiln_lake_meta_ref(kiln_lake_table_meta(t), "t1") == NULL);
    CHECK(rest_commit(t, NULL, "[{\"action\":\"remove-snapshots\",\"snapshot-ids\":[42]}]", &err) == KILN_ECONFLICT);
    /* a spec with a transform that does not fit its source */
    CHECK(rest_commit(t, NULL,
                      "[{\"action\":\"add-spec\",\"spec\":{\"fields\":[{\"name\":\"x\",\"transform\":\"hour\","
                      "\"source-id\":3,\"field-id\":1001}]}}]",
                      &err) == KILN_EINVAL);
    /* unsupported / malformed */
    CHECK(rest_commit(t, NULL, "[{\"action\":\"set-location\",\"location\":\"file:///elsewhere\"}]", &err) ==
          KILN_EUNSUPP);
    CHECK(rest_commit(t, "[{\"type\":\"assert-something\"}]", NULL, &err) == KILN_EUNSUPP);
    CHECK(rest_commit(t, "{}", NULL, &err) == KILN_EINVAL);
    CHECK(rest_commit(t, NULL, "[{\"action\":\"set-current-schema\"}]", &err) == KILN_EINVAL);
    CHECK(rest_commit(t, "[{\"type\":\"assert-create\"}]", NULL, &err) == KILN_ECONFLICT);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}
