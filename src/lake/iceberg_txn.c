/*
 * iceberg_txn.c - transactions on Iceberg table metadata: requirements and
 * updates (named as in the REST catalog spec), applied to a copy of the
 * latest metadata and committed with optimistic concurrency.
 *
 * How it works: a txn records requirements and updates as data (strings in
 * the txn's own arena). kiln_lake_txn_commit() clones the table's current
 * metadata, checks the requirements against it, applies the updates in
 * order, appends the previous metadata file to metadata-log and hands the
 * result to the catalog's compare-and-swap. If another committer won, it
 * reloads, runs the caller's rebase hook, and tries again with jittered
 * exponential backoff. Schema evolution updates (add/rename/widen column,
 * add spec from text) are recorded as intents and resolved against the base
 * at apply time, so a retry assigns fresh ids on top of whatever the winner
 * committed. The DDL type and partition-spec text these intents carry are
 * parsed in iceberg_types.c.
 */
#include "lake/lake_data_int.h"
#include "lake/lake_meta_int.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { REQ_UUID, REQ_REF, REQ_SCHEMA, REQ_LAST_COL, REQ_LAST_PART, REQ_SPEC, REQ_SORT } req_kind;

typedef struct {
    req_kind kind;
    const char *s;
    int64_t v;
} txn_req;

typedef enum {
    UP_ADD_SNAPSHOT,
    UP_SET_REF,
    UP_REMOVE_REF,
    UP_REMOVE_SNAPSHOTS,
    UP_SET_PROPS,
    UP_REMOVE_PROPS,
    UP_ADD_SCHEMA,
    UP_SET_SCHEMA,
    UP_ADD_COLUMN,
    UP_RENAME_COLUMN,
    UP_WIDEN_COLUMN,
    UP_ADD_SPEC,
    UP_ADD_SPEC_JSON,
    UP_SET_SPEC
} up_kind;

typedef struct {
    up_kind kind;
    kiln_lake_snapshot snap;
    kiln_lake_ref ref;
    const char *s1, *s2, *s3, *s4;
    int64_t *ids;
    size_t n;
    kiln_lake_kv *kv;
    const char **keys;
    int64_t id;
} txn_up;

struct kiln_lake_txn {
    kiln_lake_table *t;
    kiln_lake_meta *store; /* arena for the recorded strings */
    KILN_VEC(txn_req) reqs;
    KILN_VEC(txn_up) ups;
    kiln_lake_meta *preview;
};

static char *sdup(kiln_lake_txn *txn, const char *s) { return kiln_lake__strdup(txn->store, s); }

int kiln_lake_txn_begin(kiln_lake_txn **out, kiln_lake_table *t, kiln_err *err)
{
    *out = NULL;
    if (kiln_lake__refuse_registered(t, err))
        return err->code;
    kiln_lake_txn *txn = kiln_calloc(1, sizeof(*txn));
    if (!txn)
        return KILN_OOM(err);
    int rc = kiln_lake__meta_new(&txn->store, err);
    if (rc != 0) {
        kiln_free(txn);
        return rc;
    }
    txn->t = t;
    *out = txn;
    return 0;
}

void kiln_lake_txn_free(kiln_lake_txn *txn)
{
    if (!txn)
        return;
    kiln_vec_free(&txn->reqs);
    kiln_vec_free(&txn->ups);
    kiln_lake_meta_free(txn->store);
    kiln_lake_meta_free(txn->preview);
    kiln_free(txn);
}

const kiln_lake_meta *kiln_lake_txn_base(const kiln_lake_txn *txn) { return txn->t->meta; }

int64_t kiln_lake_txn_next_sequence_number(const kiln_lake_txn *txn) { return txn->t->meta->last_sequence_number + 1; }

void kiln_lake_txn_clear(kiln_lake_txn *txn)
{
    txn->reqs.len = 0;
    txn->ups.len = 0;
}

/* ------------------------------------------------------------ requirements */

static int add_req(kiln_lake_txn *txn, req_kind k, const char *s, int64_t v, kiln_err *err)
{
    txn_req r = {k, NULL, v};
    if (s && !(r.s = sdup(txn, s)))
        return KILN_OOM(err);
    return kiln_vec_push(&txn->reqs, r, err);
}

int kiln_lake_txn_require_uuid(kiln_lake_txn *txn, const char *uuid, kiln_err *err)
{
    return add_req(txn, REQ_UUID, uuid, 0, err);
}
int kiln_lake_txn_require_ref_snapshot(kiln_lake_txn *txn, const char *ref, int64_t id, kiln_err *err)
{
    return add_req(txn, REQ_REF, ref, id, err);
}
int kiln_lake_txn_require_current_schema_id(kiln_lake_txn *txn, int32_t id, kiln_err *err)
{
    return add_req(txn, REQ_SCHEMA, NULL, id, err);
}
int kiln_lake_txn_require_last_column_id(kiln_lake_txn *txn, int32_t id, kiln_err *err)
{
    return add_req(txn, REQ_LAST_COL, NULL, id, err);
}
int kiln_lake_txn_require_last_partition_id(kiln_lake_txn *txn, int32_t id, kiln_err *err)
{
    return add_req(txn, REQ_LAST_PART, NULL, id, err);
}
int kiln_lake_txn_require_default_spec_id(kiln_lake_txn *txn, int32_t id, kiln_err *err)
{
    return add_req(txn, REQ_SPEC, NULL, id, err);
}
int kiln_lake_txn_require_default_sort_order_id(kiln_lake_txn *txn, int32_t id, kiln_err *err)
{
    return add_req(txn, REQ_SORT, NULL, id, err);
}

static int check_reqs(kiln_lake_txn *txn, const kiln_lake_meta *m, kiln_err *err)
{
    const char *tn = txn->t->name;
    for (size_t i = 0; i < txn->reqs.len; i++) {
        const txn_req *r = &txn->reqs.items[i];
        int64_t have = 0;
        const char *what = NULL;
        switch (r->kind) {
        case REQ_UUID:
            if (!m->table_uuid || strcmp(m->table_uuid, r->s) != 0)
                return kiln_err_set(err, KILN_ECONFLICT,
                                    "table %s: assert-table-uuid failed: expected %s, found %s (the table was "
                                    "dropped and re-created?)",
                                    tn, r->s, m->table_uuid ? m->table_uuid : "none");
            continue;
        case REQ_REF: {
            const kiln_lake_ref *ref = kiln_lake_meta_ref(m, r->s);
            int64_t cur = ref ? ref->snapshot_id : -1;
            if (cur != r->v)
                return kiln_err_set(err, KILN_ECONFLICT,
                                    "table %s: assert-ref-snapshot-id failed: ref %s is at %" PRId64
                                    " but this commit expected %" PRId64 " (another commit moved it; retry)",
                                    tn, r->s, cur, r->v);
            continue;
        }
        case REQ_SCHEMA:
            have = m->current_schema_id;
            what = "assert-current-schema-id";
            break;
        case REQ_LAST_COL:
            have = m->last_column_id;
            what = "assert-last-assigned-field-id";
            break;
        case REQ_LAST_PART:
            have = m->last_partition_id;
            what = "assert-last-assigned-partition-id";
            break;
        case REQ_SPEC:
            have = m->default_spec_id;
            what = "assert-default-spec-id";
            break;
        case REQ_SORT:
            have = m->default_sort_order_id;
            what = "assert-default-sort-order-id";
            break;
        }
        if (have != r->v)
            return kiln_err_set(err, KILN_ECONFLICT,
                                "table %s: %s failed: expected %" PRId64 ", found %" PRId64
                                " (a concurrent schema or spec change; reload and retry)",
                                tn, what, r->v, have);
    }
    return 0;
}

/* ------------------------------------------------------------ recording updates */

static int push_up(kiln_lake_txn *txn, txn_up *u, kiln_err *err) { return kiln_vec_push(&txn->ups, *u, err); }

int kiln_lake__snapshot_copy(kiln_lake_meta *m, kiln_lake_snapshot *dst, const kiln_lake_snapshot *src, kiln_err *err)
{
    *dst = *src;
    dst->manifest_list = kiln_lake__strdup(m, src->manifest_list);
    dst->extra_json = kiln_lake__strdup(m, src->extra_json);
    kiln_lake_kv *kv = kiln_lake__alloc(m, (src->nsummary + 1) * sizeof(*kv));
    if (!kv || (src->manifest_list && !dst->manifest_list))
        return KILN_OOM(err);
    size_t n = 0;
    int has_op = 0;
    for (size_t i = 0; i < src->nsummary; i++) {
        kv[n].key = kiln_lake__strdup(m, src->summary[i].key);
        kv[n].value = kiln_lake__strdup(m, src->summary[i].value);
        if (!kv[n].key || !kv[n].value)
            return KILN_OOM(err);
        if (strcmp(kv[n].key, "operation") == 0)
            has_op = 1;
        n++;
    }
    if (!has_op) {
        /* the spec requires summary.operation */
        kv[n].key = "operation";
        kv[n].value = kiln_lake__strdup(m, src->operation ? src->operation : "append");
        if (!kv[n].value)
            return KILN_OOM(err);
        n++;
    }
    dst->summary = kv;
    dst->nsummary = n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, "operation") == 0)
            dst->operation = kv[i].value;
    return 0;
}

int kiln_lake_txn_add_snapshot(kiln_lake_txn *txn, const kiln_lake_snapshot *snap, kiln_err *err)
{
    txn_up u = {.kind = UP_ADD_SNAPSHOT};
    int rc = kiln_lake__snapshot_copy(txn->store, &u.snap, snap, err);
    if (rc != 0)
        return rc;
    if (!u.snap.manifest_list)
        return kiln_err_set(err, KILN_EINVAL, "add-snapshot: snapshot %" PRId64 " needs a manifest-list",
                            snap->snapshot_id);
    if (u.snap.snapshot_id <= 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "add-snapshot: snapshot ids are positive (use kiln_lake_snapshot_id_new)");
    return push_up(txn, &u, err);
}

int kiln_lake_txn_set_ref(kiln_lake_txn *txn, const kiln_lake_ref *ref, kiln_err *err)
{
    txn_up u = {.kind = UP_SET_REF, .ref = *ref};
    if (!ref->name || !*ref->name)
        return kiln_err_set(err, KILN_EINVAL, "set-snapshot-ref: a ref needs a name");
    if (!(u.ref.name = sdup(txn, ref->name)))
        return KILN_OOM(err);
    return push_up(txn, &u, err);
}

int kiln_lake_txn_remove_ref(kiln_lake_txn *txn, const char *name, kiln_err *err)
{
    txn_up u = {.kind = UP_REMOVE_REF, .s1 = sdup(txn, name)};
    if (!u.s1)
        return KILN_OOM(err);
    return push_up(txn, &u, err);
}

int kiln_lake_txn_remove_snapshots(kiln_lake_txn *txn, const int64_t *ids, size_t n, kiln_err *err)
{
    txn_up u = {.kind = UP_REMOVE_SNAPSHOTS, .n = n};
    u.ids = kiln_lake__alloc(txn->store, n * sizeof(int64_t));
    if (!u.ids)
        return KILN_OOM(err);
    if (n)
        memcpy(u.ids, ids, n * sizeof(int64_t));
    return push_up(txn, &u, err);
}

int kiln_lake_txn_set_properties(kiln_lake_txn *txn, const kiln_lake_kv *kv, size_t n, kiln_err *err)
{
    txn_up u = {.kind = UP_SET_PROPS, .n = n};
    u.kv = kiln_lake__alloc(txn->store, n * sizeof(*u.kv));
    if (!u.kv)
        return KILN_OOM(err);
    for (size_t i = 0; i < n; i++) {
        u.kv[i].key = sdup(txn, kv[i].key);
        u.kv[i].value = sdup(txn, kv[i].value);
        if (!u.kv[i].key || !u.kv[i].value)
            return KILN_OOM(err);
    }
    return push_up(txn, &u, err);
}

int kiln_lake_txn_remove_properties(kiln_lake_txn *txn, const char *const *keys, size_t n, kiln_err *err)
{
    txn_up u = {.kind = UP_REMOVE_PROPS, .n = n};
    u.keys = kiln_lake__alloc(txn->store, n * sizeof(char *));
    if (!u.keys)
        return KILN_OOM(err);
    for (size_t i = 0; i < n; i++)
        if (!(u.keys[i] = sdup(txn, keys[i])))
            return KILN_OOM(err);
    return push_up(txn, &u, err);
}

int kiln_lake_txn_add_schema_json(kiln_lake_txn *txn, const char *schema_json, kiln_err *err)
{
    txn_up u = {.kind = UP_ADD_SCHEMA, .s1 = sdup(txn, schema_json)};
    return u.s1 ? push_up(txn, &u, err) : KILN_OOM(err);
}

int kiln_lake_txn_set_current_schema(kiln_lake_txn *txn, int32_t schema_id, kiln_err *err)
{
    txn_up u = {.kind = UP_SET_SCHEMA, .id = schema_id};
    return push_up(txn, &u, err);
}

int kiln_lake_txn_add_column(kiln_lake_txn *txn, const char *parent, const char *name, const char *type_ddl,
                             const char *doc, kiln_err *err)
{
    txn_up u = {.kind = UP_ADD_COLUMN,
                .s1 = parent ? sdup(txn, parent) : NULL,
                .s2 = sdup(txn, name),
                .s3 = sdup(txn, type_ddl),
                .s4 = doc ? sdup(txn, doc) : NULL};
    if (!u.s2 || !u.s3)
        return KILN_OOM(err);
    return push_up(txn, &u, err);
}

int kiln_lake_txn_rename_column(kiln_lake_txn *txn, const char *path, const char *new_name, kiln_err *err)
{
    txn_up u = {.kind = UP_RENAME_COLUMN, .s1 = sdup(txn, path), .s2 = sdup(txn, new_name)};
    return u.s1 && u.s2 ? push_up(txn, &u, err) : KILN_OOM(err);
}

int kiln_lake_txn_widen_column(kiln_lake_txn *txn, const char *path, const char *type, kiln_err *err)
{
    txn_up u = {.kind = UP_WIDEN_COLUMN, .s1 = sdup(txn, path), .s2 = sdup(txn, type)};
    return u.s1 && u.s2 ? push_up(txn, &u, err) : KILN_OOM(err);
}

int kiln_lake_txn_add_spec(kiln_lake_txn *txn, const char *partition, kiln_err *err)
{
    txn_up u = {.kind = UP_ADD_SPEC, .s1 = sdup(txn, partition ? partition : "")};
    return u.s1 ? push_up(txn, &u, err) : KILN_OOM(err);
}

int kiln_lake_txn_set_default_spec(kiln_lake_txn *txn, int32_t spec_id, kiln_err *err)
{
    txn_up u = {.kind = UP_SET_SPEC, .id = spec_id};
    return push_up(txn, &u, err);
}

/* ------------------------------------------------------------ REST JSON */

static int rest_i64(json_t *o, const char *key, int64_t *out, kiln_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return kiln_err_set(err, KILN_EINVAL, "REST commit: \"%s\" must be an integer", key);
    *out = json_integer_value(v);
    return 0;
}

static int rest_requirement(kiln_lake_txn *txn, json_t *r, kiln_err *err)
{
    const char *type = json_string_value(json_object_get(r, "type"));
    int64_t v = 0;
    int rc;
    if (!type)
        return kiln_err_set(err, KILN_EINVAL, "REST commit: a requirement needs \"type\"");
    if (strcmp(type, "assert-create") == 0)
        return kiln_err_set(err, KILN_ECONFLICT, "REST commit: assert-create failed: the table exists");
    if (strcmp(type, "assert-table-uuid") == 0) {
        const char *u = json_string_value(json_object_get(r, "uuid"));
        return u ? kiln_lake_txn_require_uuid(txn, u, err)
                 : kiln_err_set(err, KILN_EINVAL, "REST commit: assert-table-uuid needs \"uuid\"");
    }
    if (strcmp(type, "assert-ref-snapshot-id") == 0) {
        const char *ref = json_string_value(json_object_get(r, "ref"));
        json_t *id = json_object_get(r, "snapshot-id");
        if (!ref || (id && !json_is_null(id) && !json_is_integer(id)))
            return kiln_err_set(err, KILN_EINVAL, "REST commit: assert-ref-snapshot-id needs ref and snapshot-id");
        return kiln_lake_txn_require_ref_snapshot(txn, ref, json_is_integer(id) ? json_integer_value(id) : -1, err);
    }
    static const struct {
        const char *type, *field;
        int (*fn)(kiln_lake_txn *, int32_t, kiln_err *);
    } simple[] = {
        {"assert-last-assigned-field-id", "last-assigned-field-id", kiln_lake_txn_require_last_column_id},
        {"assert-current-schema-id", "current-schema-id", kiln_lake_txn_require_current_schema_id},
        {"assert-last-assigned-partition-id", "last-assigned-partition-id", kiln_lake_txn_require_last_partition_id},
        {"assert-default-spec-id", "default-spec-id", kiln_lake_txn_require_default_spec_id},
        {"assert-default-sort-order-id", "default-sort-order-id", kiln_lake_txn_require_default_sort_order_id}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].type) == 0) {
            if ((rc = rest_i64(r, simple[i].field, &v, err)) != 0)
                return rc;
            return simple[i].fn(txn, (int32_t)v, err);
        }
    return kiln_err_set(err, KILN_EUNSUPP, "REST commit: unknown requirement type \"%s\"", type);
}

static int rest_update(kiln_lake_txn *txn, json_t *u, kiln_err *err)
{
    const char *action = json_string_value(json_object_get(u, "action"));
    int64_t v = 0;
    int rc;
    if (!action)
        return kiln_err_set(err, KILN_EINVAL, "REST commit: an update needs \"action\"");
    if (strcmp(action, "add-snapshot") == 0) {
        kiln_lake_snapshot s;
        memset(&s, 0, sizeof s);
        if ((rc = kiln_lake__snapshot_from_json(txn->store, json_object_get(u, "snapshot"), &s, err)) != 0)
            return rc;
        return kiln_lake_txn_add_snapshot(txn, &s, err);
    }
    if (strcmp(action, "set-snapshot-ref") == 0) {
        kiln_lake_ref r = {json_string_value(json_object_get(u, "ref-name")), KILN_LAKE_BRANCH, 0, -1, -1, -1};
        const char *type = json_string_value(json_object_get(u, "type"));
        if (!r.name || !type || (strcmp(type, "branch") && strcmp(type, "tag")))
            return kiln_err_set(err, KILN_EINVAL, "REST commit: set-snapshot-ref needs ref-name and type branch|tag");
        r.type = strcmp(type, "tag") == 0 ? KILN_LAKE_TAG : KILN_LAKE_BRANCH;
        if ((rc = rest_i64(u, "snapshot-id", &r.snapshot_id, err)) != 0)
            return rc;
        if (json_is_integer(json_object_get(u, "min-snapshots-to-keep")))
            r.min_snapshots_to_keep = json_integer_value(json_object_get(u, "min-snapshots-to-keep"));
        if (json_is_integer(json_object_get(u, "max-snapshot-age-ms")))
            r.max_snapshot_age_ms = json_integer_value(json_object_get(u, "max-snapshot-age-ms"));
        if (json_is_integer(json_object_get(u, "max-ref-age-ms")))
            r.max_ref_age_ms = json_integer_value(json_object_get(u, "max-ref-age-ms"));
        return kiln_lake_txn_set_ref(txn, &r, err);
    }
    if (strcmp(action, "remove-snapshot-ref") == 0) {
        const char *name = json_string_value(json_object_get(u, "ref-name"));
        return name ? kiln_lake_txn_remove_ref(txn, name, err)
                    : kiln_err_set(err, KILN_EINVAL, "REST commit: remove-snapshot-ref needs ref-name");
    }
    if (strcmp(action, "remove-snapshots") == 0) {
        json_t *ids = json_object_get(u, "snapshot-ids");
        if (!json_is_array(ids))
            return kiln_err_set(err, KILN_EINVAL, "REST commit: remove-snapshots needs snapshot-ids");
        size_t n = json_array_size(ids);
        int64_t *arr = kiln_lake__alloc(txn->store, n * sizeof(int64_t));
        if (!arr)
            return KILN_OOM(err);
        for (size_t i = 0; i < n; i++) {
            if (!json_is_integer(json_array_get(ids, i)))
                return kiln_err_set(err, KILN_EINVAL, "REST commit: snapshot-ids must be integers");
            arr[i] = json_integer_value(json_array_get(ids, i));
        }
        return kiln_lake_txn_remove_snapshots(txn, arr, n, err);
    }
    if (strcmp(action, "set-properties") == 0) {
        json_t *upd = json_object_get(u, "updates");
        if (!json_is_object(upd))
            return kiln_err_set(err, KILN_EINVAL, "REST commit: set-properties needs an \"updates\" object");
        size_t n = json_object_size(upd), i = 0;
        kiln_lake_kv *kv = kiln_lake__alloc(txn->store, n * sizeof(*kv));
        const char *k;
        json_t *val;
        if (!kv)
            return KILN_OOM(err);
        json_object_foreach(upd, k, val)
        {
            if (!json_is_string(val))
                return kiln_err_set(err, KILN_EINVAL, "REST commit: property %s must be a string", k);
            kv[i].key = k;
            kv[i].value = json_string_value(val);
            i++;
        }
        return kiln_lake_txn_set_properties(txn, kv, n, err);
    }
    if (strcmp(action, "remove-properties") == 0) {
        json_t *rm = json_object_get(u, "removals");
        if (!json_is_array(rm))
            return kiln_err_set(err, KILN_EINVAL, "REST commit: remove-properties needs \"removals\"");
        size_t n = json_array_size(rm);
        const char **keys = kiln_lake__alloc(txn->store, n * sizeof(char *));
        if (!keys)
            return KILN_OOM(err);
        for (size_t i = 0; i < n; i++)
            if (!(keys[i] = json_string_value(json_array_get(rm, i))))
                return kiln_err_set(err, KILN_EINVAL, "REST commit: removals must be strings");
        return kiln_lake_txn_remove_properties(txn, keys, n, err);
    }
    if (strcmp(action, "add-schema") == 0 || strcmp(action, "add-spec") == 0) {
        int schema = action[4] == 's' && action[5] == 'c';
        json_t *obj = json_object_get(u, schema ? "schema" : "spec");
        if (!json_is_object(obj))
            return kiln_err_set(err, KILN_EINVAL, "REST commit: %s needs a \"%s\" object", action,
                                schema ? "schema" : "spec");
        char *text = json_dumps(obj, JSON_COMPACT);
        if (!text)
            return KILN_OOM(err);
        if (schema) {
            rc = kiln_lake_txn_add_schema_json(txn, text, err);
        } else {
            txn_up up = {.kind = UP_ADD_SPEC_JSON, .s1 = sdup(txn, text)};
            rc = up.s1 ? push_up(txn, &up, err) : KILN_OOM(err);
        }
        free(text);
        return rc;
    }
    if (strcmp(action, "set-current-schema") == 0) {
        if ((rc = rest_i64(u, "schema-id", &v, err)) != 0)
            return rc;
        return kiln_lake_txn_set_current_schema(txn, (int32_t)v, err);
    }
    if (strcmp(action, "set-default-spec") == 0) {
        if ((rc = rest_i64(u, "spec-id", &v, err)) != 0)
            return rc;
        return kiln_lake_txn_set_default_spec(txn, (int32_t)v, err);
    }
    if (strcmp(action, "upgrade-format-version") == 0) {
        if ((rc = rest_i64(u, "format-version", &v, err)) != 0)
            return rc;
        if (v == 2)
            return 0; /* every kiln commit writes at least v2 */
        if (v == 3) { /* the upgrade is the reserved property, as in Iceberg Java */
            kiln_lake_kv kv = {"format-version", "3"};
            return kiln_lake_txn_set_properties(txn, &kv, 1, err);
        }
        return kiln_err_set(err, KILN_EUNSUPP,
                            "REST commit: format-version %lld is not supported (kiln writes 2 and 3)", (long long)v);
    }
    return kiln_err_set(err, KILN_EUNSUPP, "REST commit: update action \"%s\" is not supported", action);
}

int kiln_lake_txn_add_rest_json(kiln_lake_txn *txn, const char *requirements_json, const char *updates_json,
                                kiln_err *err)
{
    json_t *reqs = NULL, *ups = NULL;
    json_error_t je;
    int rc = 0;
    if (requirements_json && !(reqs = json_loads(requirements_json, 0, &je))) {
        rc = kiln_err_set(err, KILN_EINVAL, "REST commit: requirements: bad JSON: %s", je.text);
        goto done;
    }
    if (updates_json && !(ups = json_loads(updates_json, 0, &je))) {
        rc = kiln_err_set(err, KILN_EINVAL, "REST commit: updates: bad JSON: %s", je.text);
        goto done;
    }
    if ((reqs && !json_is_array(reqs)) || (ups && !json_is_array(ups))) {
        rc = kiln_err_set(err, KILN_EINVAL, "REST commit: requirements and updates must be arrays");
        goto done;
    }
    for (size_t i = 0; rc == 0 && reqs && i < json_array_size(reqs); i++)
        rc = rest_requirement(txn, json_array_get(reqs, i), err);
    for (size_t i = 0; rc == 0 && ups && i < json_array_size(ups); i++)
        rc = rest_update(txn, json_array_get(ups, i), err);
done:
    json_decref(reqs);
    json_decref(ups);
    return rc;
}

/* ------------------------------------------------------------ schema rewrite */

const kiln_lake_field *kiln_lake__schema_path(const kiln_lake_schema *s, const char *path)
{
    const kiln_lake_field *fs = s->fields;
    size_t n = s->nfields;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        const kiln_lake_field *hit = NULL;
        for (size_t i = 0; i < n; i++)
            if (strlen(fs[i].name) == len && strncmp(fs[i].name, p, len) == 0)
                hit = &fs[i];
        if (!hit || !dot)
            return hit;
        if (hit->type->kind != KILN_LAKE_STRUCT)
            return NULL;
        fs = hit->type->fields;
        n = hit->type->nfields;
        p = dot + 1;
    }
}

/* Is field id inside type t (below it)? *via: the dotted path of the
 * first list or map on the way (NULL when only structs). */
static int id_under(const kiln_lake_type *t, int32_t id, const char *path, char *via, size_t vn, int depth)
{
    if (depth > 64 || !t)
        return 0;
    if (t->kind == KILN_LAKE_STRUCT) {
        for (size_t i = 0; i < t->nfields; i++) {
            char p[512];
            snprintf(p, sizeof p, "%s.%s", path, t->fields[i].name);
            if (t->fields[i].id == id)
                return 1;
            if (id_under(t->fields[i].type, id, p, via, vn, depth + 1))
                return 1;
        }
        return 0;
    }
    int hit = 0;
    if (t->kind == KILN_LAKE_LIST)
        hit = t->element_id == id || id_under(t->element, id, path, via, vn, depth + 1);
    else if (t->kind == KILN_LAKE_MAP)
        hit = t->key_id == id || t->value_id == id || id_under(t->key, id, path, via, vn, depth + 1) ||
              id_under(t->value, id, path, via, vn, depth + 1);
    if (hit && !via[0])
        snprintf(via, vn, "%s (a %s)", path, t->kind == KILN_LAKE_LIST ? "list" : "map");
    return hit;
}

int kiln_lake__partition_source_check(const kiln_lake_schema *s, int32_t id, const char *name, kiln_err *err)
{
    for (size_t i = 0; s && i < s->nfields; i++) {
        const kiln_lake_field *f = &s->fields[i];
        char via[600] = "";
        if (f->id == id) {
            if (f->type->kind == KILN_LAKE_STRUCT || f->type->kind == KILN_LAKE_LIST || f->type->kind == KILN_LAKE_MAP)
                return kiln_err_set(err, KILN_EINVAL, "partition source \"%s\" is a %s, not a primitive column",
                                    name ? name : f->name, f->type->name ? f->type->name : "nested type");
            return 0;
        }
        if (id_under(f->type, id, f->name, via, sizeof via, 0)) {
            if (via[0])
                return kiln_err_set(err, KILN_EINVAL,
                                    "partition source \"%s\" (field id %d) is inside %s: Iceberg allows a partition "
                                    "source nested in structs only, never inside a list or a map",
                                    name ? name : "?", (int)id, via);
            const kiln_lake_field *x = kiln_lake_schema_field(s, id);
            if (x && (x->type->kind == KILN_LAKE_STRUCT || x->type->kind == KILN_LAKE_LIST ||
                      x->type->kind == KILN_LAKE_MAP))
                return kiln_err_set(err, KILN_EINVAL, "partition source \"%s\" is a %s, not a primitive field",
                                    name ? name : x->name, x->type->name ? x->type->name : "nested type");
            return 0;
        }
    }
    return kiln_err_set(err, KILN_EINVAL, "partition source field id %d is not in the current schema", (int)id);
}

typedef enum { OP_ADD, OP_RENAME, OP_WIDEN } field_op;

typedef struct {
    field_op op;
    const char *name;           /* new name (rename/add) */
    const kiln_lake_type *type; /* new type (widen/add) */
    int32_t id;                 /* add: new field id */
    const char *doc;
    const char *extra_json; /* add: {"initial-default": V, "write-default": V} (v3), or NULL */
} op_args;

static int rewrite_fields(kiln_lake_meta *m, const kiln_lake_field *fs, size_t n, const char *path, const op_args *a,
                          const kiln_lake_field **out, size_t *nout, kiln_err *err);

/* A copy of type t (named `name` in messages) with the op applied at path
 * inside it: a struct's fields by name, a list's element as "element", a
 * map's value as "value" (map keys never change, as in Iceberg Java). */
static int rewrite_type(kiln_lake_meta *m, const kiln_lake_type *t, const char *name, const char *path,
                        const op_args *a, const kiln_lake_type **out, kiln_err *err)
{
    kiln_lake_type *nt = kiln_lake__alloc(m, sizeof(*nt));
    if (!nt)
        return KILN_OOM(err);
    *nt = *t;
    if (t->kind == KILN_LAKE_STRUCT) {
        int rc = rewrite_fields(m, t->fields, t->nfields, path, a, &nt->fields, &nt->nfields, err);
        if (rc)
            return rc;
        *out = nt;
        return 0;
    }
    if (t->kind != KILN_LAKE_LIST && t->kind != KILN_LAKE_MAP)
        return kiln_err_set(err, KILN_EINVAL, "\"%s\" is not a struct, list or map column", name);
    const char *what = t->kind == KILN_LAKE_LIST ? "element" : "value";
    if (!path || !*path)
        return kiln_err_set(err, KILN_EINVAL, "\"%s\" is a %s: name its %s (%s.%s)", name,
                            t->kind == KILN_LAKE_LIST ? "list" : "map", what, name, what);
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    if (t->kind == KILN_LAKE_MAP && len == 3 && !strncmp(path, "key", 3))
        return kiln_err_set(err, KILN_EINVAL, "\"%s.key\": a map's key type cannot change (Iceberg)", name);
    if (len != strlen(what) || strncmp(path, what, len) != 0)
        return kiln_err_set(err, KILN_ENOTFOUND, "no field \"%.*s\" in %s \"%s\" (its %s is \"%s.%s\")", (int)len, path,
                            t->kind == KILN_LAKE_LIST ? "list" : "map", name, what, name, what);
    const kiln_lake_type *child = t->kind == KILN_LAKE_LIST ? t->element : t->value, *nchild = NULL;
    char cname[512];
    snprintf(cname, sizeof cname, "%s.%s", name, what);
    if (!dot && a->op == OP_RENAME)
        return kiln_err_set(err, KILN_EINVAL,
                            "\"%s\" cannot be renamed (a list element or map value has no name of its own)", cname);
    if (!dot && a->op == OP_WIDEN) {
        if (!kiln_lake_type_can_promote(child, a->type))
            return kiln_err_set(err, KILN_EINVAL,
                                "column \"%s\": %s cannot be widened to %s (allowed: int->long, "
                                "float->double, decimal(P,S)->decimal(P2,S) with P2>=P)",
                                cname, child->name, a->type->name);
        nchild = a->type;
    } else {
        int rc = rewrite_type(m, child, cname, dot ? dot + 1 : NULL, a, &nchild, err);
        if (rc)
            return rc;
    }
    if (t->kind == KILN_LAKE_LIST)
        nt->element = nchild;
    else
        nt->value = nchild;
    *out = nt;
    return 0;
}

/* Copy fields[0..n) with the op applied at path (path NULL/"" for OP_ADD at
 * this level). Returns a new arena array in *out and *nout. */
static int rewrite_fields(kiln_lake_meta *m, const kiln_lake_field *fs, size_t n, const char *path, const op_args *a,
                          const kiln_lake_field **out, size_t *nout, kiln_err *err)
{
    int adding_here = a->op == OP_ADD && (!path || !*path);
    kiln_lake_field *nf = kiln_lake__alloc(m, (n + 1) * sizeof(*nf));
    if (!nf)
        return KILN_OOM(err);
    if (n)
        memcpy(nf, fs, n * sizeof(*nf));
    if (adding_here) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(fs[i].name, a->name) == 0)
                return kiln_err_set(err, KILN_EEXIST, "column \"%s\" already exists", a->name);
        kiln_lake_field f = {.id = a->id,
                             .name = kiln_lake__strdup(m, a->name),
                             .required = 0,
                             .type = a->type,
                             .doc = kiln_lake__strdup(m, a->doc),
                             .extra_json = kiln_lake__strdup(m, a->extra_json)};
        nf[n] = f;
        *out = nf;
        *nout = n + 1;
        return 0;
    }
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    for (size_t i = 0; i < n; i++) {
        if (strlen(fs[i].name) != len || strncmp(fs[i].name, path, len) != 0)
            continue;
        int last = !dot && a->op != OP_ADD;
        if (last) {
            if (a->op == OP_RENAME) {
                for (size_t j = 0; j < n; j++)
                    if (j != i && strcmp(fs[j].name, a->name) == 0)
                        return kiln_err_set(err, KILN_EEXIST, "column \"%s\" already exists", a->name);
                nf[i].name = kiln_lake__strdup(m, a->name);
            } else {
                if (!kiln_lake_type_can_promote(fs[i].type, a->type))
                    return kiln_err_set(err, KILN_EINVAL,
                                        "column \"%s\": %s cannot be widened to %s (allowed: int->long, "
                                        "float->double, decimal(P,S)->decimal(P2,S) with P2>=P)",
                                        fs[i].name, fs[i].type->name, a->type->name);
                nf[i].type = a->type;
            }
            *out = nf;
            *nout = n;
            return 0;
        }
        /* descend into a struct, a list's element or a map's value */
        int rc = rewrite_type(m, fs[i].type, fs[i].name, dot ? dot + 1 : NULL, a, &nf[i].type, err);
        if (rc != 0)
            return rc;
        *out = nf;
        *nout = n;
        return 0;
    }
    return kiln_err_set(err, KILN_ENOTFOUND, "no column \"%s\"", path);
}

static int32_t max_schema_id(const kiln_lake_meta *m)
{
    int32_t mx = -1;
    for (size_t i = 0; i < m->nschemas; i++)
        if (m->schemas[i].schema_id > mx)
            mx = m->schemas[i].schema_id;
    return mx;
}

static int add_schema(kiln_lake_meta *w, kiln_lake_schema *s, int32_t *last_added)
{
    s->schema_id = max_schema_id(w) + 1;
    kiln_lake_schema *arr = kiln_lake__grow(w, w->schemas, w->nschemas, sizeof(*arr));
    if (!arr)
        return KILN_ENOMEM;
    arr[w->nschemas++] = *s;
    w->schemas = arr;
    *last_added = s->schema_id;
    return 0;
}

static int32_t max_field_id(const kiln_lake_field *fs, size_t n, int depth);

static int32_t max_type_id(const kiln_lake_type *t, int depth)
{
    int32_t mx = 0;
    if (!t || depth > KILN_LAKE_MAX_DEPTH)
        return 0;
    if (t->kind == KILN_LAKE_STRUCT)
        return max_field_id(t->fields, t->nfields, depth + 1);
    if (t->kind == KILN_LAKE_LIST) {
        mx = t->element_id;
        int32_t e = max_type_id(t->element, depth + 1);
        return e > mx ? e : mx;
    }
    if (t->kind == KILN_LAKE_MAP) {
        mx = t->key_id > t->value_id ? t->key_id : t->value_id;
        int32_t k = max_type_id(t->key, depth + 1), v = max_type_id(t->value, depth + 1);
        if (k > mx)
            mx = k;
        return v > mx ? v : mx;
    }
    return 0;
}

static int32_t max_field_id(const kiln_lake_field *fs, size_t n, int depth)
{
    int32_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (fs[i].id > mx)
            mx = fs[i].id;
        int32_t t = max_type_id(fs[i].type, depth);
        if (t > mx)
            mx = t;
    }
    return mx;
}

int32_t kiln_lake__max_field_id(const kiln_lake_field *fs, size_t n) { return max_field_id(fs, n, 0); }

/* `default V` of an added column: V is a JSON value in Iceberg's
 * single-value form (numbers and booleans as JSON, everything else as a
 * JSON string; binary as hex). Only v3 tables have default values; a
 * nested column's default is refused. *out: the field's extra JSON. */
static int default_json(kiln_lake_meta *w, const kiln_lake_type *t, const char *text, const char *name,
                        const char **out, kiln_err *err)
{
    if (w->format_version < 3)
        return kiln_err_set(err, KILN_EUNSUPP,
                            "add column %s: default values need format-version 3 "
                            "(alter --set-property format-version=3 first)",
                            name);
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        return kiln_err_set(err, KILN_EINVAL,
                            "add column %s: default %s is not a JSON value (strings in double quotes)", name, text);
    int ok;
    switch (t->kind) {
    case KILN_LAKE_BOOLEAN: ok = json_is_boolean(v); break;
    case KILN_LAKE_INT:
    case KILN_LAKE_LONG: ok = json_is_integer(v); break;
    case KILN_LAKE_FLOAT:
    case KILN_LAKE_DOUBLE: ok = json_is_number(v); break;
    case KILN_LAKE_STRUCT:
    case KILN_LAKE_LIST:
    case KILN_LAKE_MAP: ok = 0; break;
    default: ok = json_is_string(v); break;
    }
    if (!ok) {
        json_decref(v);
        return kiln_err_set(err, KILN_EINVAL, "add column %s: default %s is not a value of type %s", name, text,
                            t->name ? t->name : "?");
    }
    json_t *o = json_object();
    json_object_set(o, "initial-default", v);
    json_object_set_new(o, "write-default", v);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *out = s ? kiln_lake__strdup(w, s) : NULL;
    free(s);
    return *out ? 0 : KILN_OOM(err);
}

static int evolve(kiln_lake_meta *w, const txn_up *u, int32_t *last_added, kiln_err *err)
{
    const kiln_lake_schema *cur = kiln_lake_meta_current_schema(w);
    kiln_lake_schema ns = *cur;
    ns.extra_json = cur->extra_json;
    op_args a = {0};
    const char *path = u->s1;
    int rc;
    if (u->kind == UP_ADD_COLUMN) {
        a.op = OP_ADD;
        a.name = u->s2;
        a.doc = u->s4;
        int32_t next = w->last_column_id + 1;
        a.id = next++;
        const char *p = u->s3;
        if ((rc = kiln_lake__type_from_ddl(w, &p, &a.type, &next, 0, err)) != 0)
            return kiln_err_prefix(err, "add column %s: ", u->s2);
        while (isspace((unsigned char)*p))
            p++;
        if (strncasecmp(p, "default", 7) == 0 && isspace((unsigned char)p[7])) {
            /* v3 default values: rows of older files read it (initial-default),
             * writers that lack the column write it (write-default) */
            if ((rc = default_json(w, a.type, p + 8, u->s2, &a.extra_json, err)) != 0)
                return rc;
            p += strlen(p);
        }
        if (*p)
            return kiln_err_set(err, KILN_EINVAL, "add column %s: unexpected \"%s\" after the type", u->s2, p);
        if (!a.name[0] || strchr(a.name, '.'))
            return kiln_err_set(err, KILN_EINVAL, "add column: bad name \"%s\"", a.name);
        w->last_column_id = next - 1;
    } else if (u->kind == UP_RENAME_COLUMN) {
        a.op = OP_RENAME;
        a.name = u->s2;
        if (!a.name[0] || strchr(a.name, '.'))
            return kiln_err_set(err, KILN_EINVAL, "rename column: bad name \"%s\"", a.name);
    } else {
        a.op = OP_WIDEN;
        kiln_lake_type *t = kiln_lake__alloc(w, sizeof(*t));
        const char *p = u->s2;
        int32_t dummy = 0;
        const kiln_lake_type *pt = NULL;
        if (!t)
            return KILN_OOM(err);
        if ((rc = kiln_lake__type_from_ddl(w, &p, &pt, &dummy, 0, err)) != 0)
            return rc;
        a.type = pt;
    }
    if ((rc = rewrite_fields(w, cur->fields, cur->nfields, path, &a, &ns.fields, &ns.nfields, err)) != 0)
        return rc;
    if ((rc = add_schema(w, &ns, last_added)) != 0)
        return KILN_OOM(err);
    w->current_schema_id = *last_added;
    return 0;
}

/* ------------------------------------------------------------ apply */

static int snaplog_add(kiln_lake_meta *w, int64_t ts, int64_t id)
{
    kiln_lake_snaplog *l = kiln_lake__grow(w, w->snapshot_log, w->nsnapshot_log, sizeof(*l));
    if (!l)
        return KILN_ENOMEM;
    l[w->nsnapshot_log].timestamp_ms = ts;
    l[w->nsnapshot_log].snapshot_id = id;
    w->nsnapshot_log++;
    w->snapshot_log = l;
    return 0;
}

static int apply_set_ref(kiln_lake_meta *w, const kiln_lake_ref *r, int64_t now, const char *tn, kiln_err *err)
{
    const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(w, r->snapshot_id);
    if (!s)
        return kiln_err_set(err, KILN_ECONFLICT, "table %s: set-snapshot-ref %s: no snapshot %" PRId64, tn, r->name,
                            r->snapshot_id);
    if (strcmp(r->name, "main") == 0 && r->type != KILN_LAKE_BRANCH)
        return kiln_err_set(err, KILN_EINVAL, "table %s: ref main must be a branch", tn);
    kiln_lake_ref *refs = (kiln_lake_ref *)w->refs;
    size_t i;
    for (i = 0; i < w->nrefs; i++)
        if (strcmp(refs[i].name, r->name) == 0)
            break;
    if (i == w->nrefs) {
        refs = kiln_lake__grow(w, w->refs, w->nrefs, sizeof(*refs));
        if (!refs)
            return KILN_OOM(err);
        w->refs = refs;
        w->nrefs++;
    } else if (refs[i].snapshot_id == r->snapshot_id && refs[i].type == r->type &&
               refs[i].min_snapshots_to_keep == r->min_snapshots_to_keep &&
               refs[i].max_snapshot_age_ms == r->max_snapshot_age_ms && refs[i].max_ref_age_ms == r->max_ref_age_ms) {
        return 0; /* no change */
    }
    refs[i] = *r;
    refs[i].name = kiln_lake__strdup(w, r->name);
    if (!refs[i].name)
        return KILN_OOM(err);
    if (strcmp(r->name, "main") == 0 && w->current_snapshot_id != r->snapshot_id) {
        w->current_snapshot_id = r->snapshot_id;
        /* a snapshot added in this commit is logged at its own time */
        int64_t ts = s->timestamp_ms > w->last_updated_ms ? s->timestamp_ms : now;
        if (snaplog_add(w, ts, r->snapshot_id) != 0)
            return KILN_OOM(err);
    }
    return 0;
}

static int apply_remove_snapshots(kiln_lake_meta *w, const int64_t *ids, size_t n, const char *tn, kiln_err *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t r = 0; r < w->nrefs; r++)
            if (w->refs[r].snapshot_id == ids[i])
                return kiln_err_set(err, KILN_ECONFLICT,
                                    "table %s: cannot remove snapshot %" PRId64 ": ref %s points at it", tn, ids[i],
                                    w->refs[r].name);
    kiln_lake_snapshot *ss = (kiln_lake_snapshot *)w->snapshots;
    size_t keep = 0;
    for (size_t i = 0; i < w->nsnapshots; i++) {
        int gone = 0;
        for (size_t j = 0; j < n && !gone; j++)
            gone = ss[i].snapshot_id == ids[j];
        if (!gone)
            ss[keep++] = ss[i];
    }
    w->nsnapshots = keep;
    /* Like Java: keep only the snapshot-log after the last entry of a
     * removed snapshot, so time travel never lands on a missing one. */
    size_t cut = 0;
    for (size_t i = 0; i < w->nsnapshot_log; i++)
        if (!kiln_lake_meta_snapshot(w, w->snapshot_log[i].snapshot_id))
            cut = i + 1;
    if (cut) {
        w->snapshot_log += cut;
        w->nsnapshot_log -= cut;
    }
    return 0;
}

/* The reserved property format-version: 2 -> 3 upgrades the table (row
 * lineage starts at next-row-id 0: rows written before have no row ids
 * until a commit assigns them); the current version is a no-op; anything
 * else is an error. */
int kiln_lake__upgrade_format(kiln_lake_meta *w, const char *value, const char *tn, kiln_err *err)
{
    char *end = NULL;
    long v = strtol(value ? value : "", &end, 10);
    if (!value || !*value || *end)
        return kiln_err_set(err, KILN_EINVAL, "table %s: format-version '%s' is not a number", tn, value ? value : "");
    int cur = w->format_version < 2 ? 2 : w->format_version;
    if (v < cur)
        return kiln_err_set(err, KILN_EINVAL, "table %s: cannot downgrade format-version %d to %ld", tn, cur, v);
    if (v > 3)
        return kiln_err_set(err, KILN_EUNSUPP, "table %s: format-version %ld is not supported (kiln writes 2 and 3)",
                            tn, v);
    if (v == 3 && w->format_version < 3) {
        w->format_version = 3;
        w->next_row_id = 0;
    }
    return 0;
}

static int apply_props(kiln_lake_meta *w, const txn_up *u, kiln_err *err)
{
    KILN_VEC(kiln_lake_kv) out = {0};
    int rc = 0;
    for (size_t i = 0; i < w->nproperties && rc == 0; i++) {
        int drop = 0;
        if (u->kind == UP_REMOVE_PROPS)
            for (size_t j = 0; j < u->n; j++)
                drop |= strcmp(w->properties[i].key, u->keys[j]) == 0;
        else
            for (size_t j = 0; j < u->n; j++)
                drop |= strcmp(w->properties[i].key, u->kv[j].key) == 0;
        if (!drop)
            rc = kiln_vec_push(&out, w->properties[i], err);
    }
    if (u->kind == UP_SET_PROPS)
        for (size_t j = 0; j < u->n && rc == 0; j++) {
            if (strcmp(u->kv[j].key, "format-version") == 0)
                continue; /* reserved: applied as an upgrade, never stored */
            kiln_lake_kv kv = {kiln_lake__strdup(w, u->kv[j].key), kiln_lake__strdup(w, u->kv[j].value)};
            if (!kv.key || !kv.value)
                rc = KILN_OOM(err);
            else
                rc = kiln_vec_push(&out, kv, err);
        }
    if (rc == 0) {
        kiln_lake_kv *arr = kiln_lake__alloc(w, out.len * sizeof(*arr));
        if (!arr)
            rc = KILN_OOM(err);
        else {
            if (out.len)
                memcpy(arr, out.items, out.len * sizeof(*arr));
            w->properties = arr;
            w->nproperties = out.len;
        }
    }
    kiln_vec_free(&out);
    return rc;
}

static int apply_one(kiln_lake_txn *txn, kiln_lake_meta *w, const txn_up *u, int64_t now, int32_t *last_schema,
                     int32_t *last_spec, kiln_err *err)
{
    const char *tn = txn->t->name;
    int rc;
    switch (u->kind) {
    case UP_ADD_SNAPSHOT: {
        const kiln_lake_snapshot *s = &u->snap;
        if (kiln_lake_meta_snapshot(w, s->snapshot_id))
            return kiln_err_set(err, KILN_ECONFLICT, "table %s: snapshot id %" PRId64 " is already used", tn,
                                s->snapshot_id);
        if (s->sequence_number <= w->last_sequence_number)
            return kiln_err_set(err, KILN_ECONFLICT,
                                "table %s: snapshot %" PRId64 " has sequence number %" PRId64
                                ", not above last-sequence-number %" PRId64
                                " (rebase it: its manifest list must be rewritten)",
                                tn, s->snapshot_id, s->sequence_number, w->last_sequence_number);
        if (s->parent_id >= 0 && !kiln_lake_meta_snapshot(w, s->parent_id))
            return kiln_err_set(err, KILN_ECONFLICT, "table %s: parent snapshot %" PRId64 " no longer exists", tn,
                                s->parent_id);
        if (s->schema_id >= 0 && !kiln_lake_meta_schema(w, s->schema_id))
            return kiln_err_set(err, KILN_EINVAL, "table %s: snapshot names unknown schema %d", tn, s->schema_id);
        if (w->format_version >= 3) { /* row lineage (spec: snapshot first-row-id >= next-row-id) */
            if (!s->has_row_lineage)
                return kiln_err_set(err, KILN_EUNSUPP,
                                    "table %s is format-version 3: this operation does not assign row ids "
                                    "(first-row-id) yet",
                                    tn);
            if (s->first_row_id < w->next_row_id || s->added_rows < 0)
                return kiln_err_set(err, KILN_ECONFLICT,
                                    "table %s: snapshot %" PRId64 " first-row-id %" PRId64
                                    " is below next-row-id %" PRId64 " (rebase it)",
                                    tn, s->snapshot_id, s->first_row_id, w->next_row_id);
            w->next_row_id = s->first_row_id + s->added_rows;
        }
        kiln_lake_snapshot *arr = kiln_lake__grow(w, w->snapshots, w->nsnapshots, sizeof(*arr));
        if (!arr)
            return KILN_OOM(err);
        if ((rc = kiln_lake__snapshot_copy(w, &arr[w->nsnapshots], s, err)) != 0)
            return rc;
        w->snapshots = arr;
        w->nsnapshots++;
        w->last_sequence_number = s->sequence_number;
        return 0;
    }
    case UP_SET_REF: return apply_set_ref(w, &u->ref, now, tn, err);
    case UP_REMOVE_REF: {
        if (strcmp(u->s1, "main") == 0)
            return kiln_err_set(err, KILN_EINVAL, "table %s: the main branch cannot be removed", tn);
        kiln_lake_ref *refs = (kiln_lake_ref *)w->refs;
        size_t keep = 0;
        for (size_t i = 0; i < w->nrefs; i++)
            if (strcmp(refs[i].name, u->s1) != 0)
                refs[keep++] = refs[i];
        w->nrefs = keep;
        return 0;
    }
    case UP_REMOVE_SNAPSHOTS: return apply_remove_snapshots(w, u->ids, u->n, tn, err);
    case UP_SET_PROPS:
        for (size_t j = 0; j < u->n; j++)
            if (strcmp(u->kv[j].key, "format-version") == 0 &&
                (rc = kiln_lake__upgrade_format(w, u->kv[j].value, tn, err)) != 0)
                return rc;
        return apply_props(w, u, err);
    case UP_REMOVE_PROPS: return apply_props(w, u, err);
    case UP_ADD_SCHEMA: {
        json_error_t je;
        json_t *j = json_loads(u->s1, 0, &je);
        if (!j)
            return kiln_err_set(err, KILN_EINVAL, "add-schema: bad JSON: %s", je.text);
        kiln_lake_schema s;
        rc = kiln_lake__schema_from_json(w, j, &s, err);
        json_decref(j);
        if (rc != 0)
            return rc;
        int32_t mx = max_field_id(s.fields, s.nfields, 0);
        if (mx > w->last_column_id)
            w->last_column_id = mx;
        return add_schema(w, &s, last_schema) == 0 ? 0 : KILN_OOM(err);
    }
    case UP_SET_SCHEMA: {
        int32_t id = u->id == -1 ? *last_schema : (int32_t)u->id;
        if (id < 0 || !kiln_lake_meta_schema(w, id))
            return kiln_err_set(err, KILN_EINVAL, "table %s: set-current-schema: no schema %" PRId64, tn, u->id);
        w->current_schema_id = id;
        return 0;
    }
    case UP_ADD_COLUMN:
    case UP_RENAME_COLUMN:
    case UP_WIDEN_COLUMN:
        rc = evolve(w, u, last_schema, err);
        return rc != 0 ? kiln_err_prefix(err, "table %s: ", tn) : 0;
    case UP_ADD_SPEC:
    case UP_ADD_SPEC_JSON: {
        kiln_lake_spec spec = {0};
        if (u->kind == UP_ADD_SPEC) {
            if ((rc = kiln_lake__spec_from_text(w, kiln_lake_meta_current_schema(w), u->s1, &spec, err)) != 0)
                return kiln_err_prefix(err, "table %s: ", tn);
        } else {
            json_t *j = json_loads(u->s1, 0, NULL);
            rc = j ? kiln_lake__spec_fields_from_json(w, json_object_get(j, "fields"), &spec, 0, err)
                   : kiln_err_set(err, KILN_EINVAL, "add-spec: bad JSON");
            json_decref(j);
            if (rc != 0)
                return rc;
            const kiln_lake_schema *cs = kiln_lake_meta_current_schema(w);
            for (size_t f = 0; f < spec.nfields; f++) {
                const kiln_lake_field *src = kiln_lake_schema_field(cs, spec.fields[f].source_id);
                kiln_lake_type rt;
                if (!src)
                    return kiln_err_set(err, KILN_EINVAL, "add-spec: source-id %d is not in the current schema",
                                        spec.fields[f].source_id);
                if ((rc = kiln_lake__partition_source_check(cs, spec.fields[f].source_id, spec.fields[f].name, err)))
                    return kiln_err_prefix(err, "add-spec: ");
                if (spec.fields[f].transform.kind != KILN_LAKE_XF_UNKNOWN &&
                    (rc = kiln_lake_transform_result(&rt, &spec.fields[f].transform, src->type, err)) != 0)
                    return rc;
                if (spec.fields[f].field_id > w->last_partition_id)
                    w->last_partition_id = spec.fields[f].field_id;
            }
        }
        /* an equal spec already there is reused */
        for (size_t i = 0; i < w->nspecs; i++) {
            const kiln_lake_spec *o = &w->specs[i];
            int same = o->nfields == spec.nfields;
            for (size_t f = 0; same && f < spec.nfields; f++)
                same = o->fields[f].field_id == spec.fields[f].field_id &&
                       o->fields[f].source_id == spec.fields[f].source_id &&
                       strcmp(o->fields[f].transform.text, spec.fields[f].transform.text) == 0;
            if (same) {
                *last_spec = o->spec_id;
                return 0;
            }
        }
        int32_t mx = -1;
        for (size_t i = 0; i < w->nspecs; i++)
            if (w->specs[i].spec_id > mx)
                mx = w->specs[i].spec_id;
        spec.spec_id = mx + 1;
        kiln_lake_spec *arr = kiln_lake__grow(w, w->specs, w->nspecs, sizeof(*arr));
        if (!arr)
            return KILN_OOM(err);
        arr[w->nspecs++] = spec;
        w->specs = arr;
        *last_spec = spec.spec_id;
        return 0;
    }
    case UP_SET_SPEC: {
        int32_t id = u->id == -1 ? *last_spec : (int32_t)u->id;
        if (id < 0 || !kiln_lake_meta_spec(w, id))
            return kiln_err_set(err, KILN_EINVAL, "table %s: set-default-spec: no spec %" PRId64, tn, u->id);
        w->default_spec_id = id;
        return 0;
    }
    }
    return kiln_err_set(err, KILN_EINTERNAL, "unknown update kind");
}

/* Apply every update to a copy of base. The result's metadata-log gains
 * the base file. */
static int apply_all(kiln_lake_txn *txn, const kiln_lake_meta *base, const char *base_location, kiln_lake_meta **out,
                     kiln_err *err)
{
    *out = NULL;
    kiln_lake_meta *w = NULL;
    int rc = kiln_lake_meta_clone(&w, base, err);
    if (rc != 0)
        return rc;
    int64_t now = kiln_now_micros() / 1000;
    if (now <= base->last_updated_ms)
        now = base->last_updated_ms + 1;
    int32_t last_schema = -1, last_spec = -1;
    for (size_t i = 0; i < txn->ups.len; i++)
        if ((rc = apply_one(txn, w, &txn->ups.items[i], now, &last_schema, &last_spec, err)) != 0)
            goto done;
    if (w->format_version == 1 || !w->table_uuid) {
        /* upgrade-format-version to 2: needs a table uuid */
        char uuid[37];
        kiln_lake_uuid_v4(uuid);
        if (!w->table_uuid && !(w->table_uuid = kiln_lake__strdup(w, uuid))) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    if (w->format_version < 2)
        w->format_version = 2;
    w->last_updated_ms = now;
    if (base_location) {
        long maxlog = 100;
        const char *p = kiln_lake_meta_property(w, "write.metadata.previous-versions-max");
        if (p && atol(p) > 0)
            maxlog = atol(p);
        kiln_lake_metalog *l = kiln_lake__grow(w, w->metadata_log, w->nmetadata_log, sizeof(*l));
        if (!l) {
            rc = KILN_OOM(err);
            goto done;
        }
        l[w->nmetadata_log].timestamp_ms = base->last_updated_ms;
        l[w->nmetadata_log].metadata_file = kiln_lake__strdup(w, base_location);
        w->nmetadata_log++;
        w->metadata_log = l;
        if (w->nmetadata_log > (size_t)maxlog) {
            w->metadata_log += w->nmetadata_log - (size_t)maxlog;
            w->nmetadata_log = (size_t)maxlog;
        }
    }
    *out = w;
    w = NULL;
done:
    kiln_lake_meta_free(w);
    return rc;
}

int kiln_lake_txn_preview(const kiln_lake_meta **out, kiln_lake_txn *txn, kiln_err *err)
{
    *out = NULL;
    kiln_lake_meta_free(txn->preview);
    txn->preview = NULL;
    int rc = apply_all(txn, txn->t->meta, NULL, &txn->preview, err);
    if (rc == 0)
        *out = txn->preview;
    return rc;
}

/* ------------------------------------------------------------ commit */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int kiln_lake_txn_commit(kiln_lake_txn *txn, const kiln_lake_commit_opts *opts, int *attempts_out, kiln_err *err)
{
    kiln_lake_table *t = txn->t;
    int max_retries = opts && opts->max_retries > 0 ? opts->max_retries : 20;
    long backoff = opts && opts->backoff_ms > 0 ? opts->backoff_ms : 5;
    int rc = 0, attempt;
    for (attempt = 0; attempt <= max_retries; attempt++) {
        if (attempt > 0) {
            /* lost a race: reload, let the caller rebase, back off */
            long jitter = backoff / 2 + (long)((uint64_t)kiln_lake_snapshot_id_new() % (uint64_t)(backoff + 1));
            sleep_ms(jitter);
            if (backoff < 2000)
                backoff *= 2;
            if ((rc = kiln_lake_table_refresh(t, err)) != 0)
                break;
            if (opts && opts->rebase && (rc = opts->rebase(txn, opts->rebase_ctx, err)) != 0)
                break;
        }
        if ((rc = check_reqs(txn, t->meta, err)) != 0)
            break;
        kiln_lake_meta *w = NULL;
        if ((rc = apply_all(txn, t->meta, t->metadata_location, &w, err)) != 0)
            break;
        rc = kiln_lake__table_commit(t, w, opts, err); /* takes w */
        if (rc != KILN_ECONFLICT)
            break;
        kiln_debug("table %s: commit attempt %d lost a race: %s", t->name, attempt + 1, err ? err->msg : "");
    }
    if (attempts_out)
        *attempts_out = attempt + (attempt > max_retries ? 0 : 1);
    if (rc == KILN_ECONFLICT && attempt > max_retries)
        kiln_err_set(err, KILN_ECONFLICT,
                     "table %s: gave up after %d attempts; other writers kept committing first (retry later)", t->name,
                     max_retries + 1);
    return rc;
}
