/*
 * iceberg_multi.c - REST catalog transactions beyond one commit on one
 * existing table: create transactions (stage-create, then a commit with
 * the requirement assert-create, as Spark's CTAS does through REST).
 *
 * How a create works: the "create" updates (assign-uuid, add-schema,
 * add-spec, add-sort-order, their set-default-*, set-location,
 * upgrade-format-version) are turned into a complete first TableMetadata
 * JSON document, parsed by the one metadata parser, and held by an
 * in-memory table that is in no catalog. The remaining updates
 * (add-snapshot, set-snapshot-ref, set-properties, ...) are applied to it
 * by an ordinary transaction preview (the same code as every other commit),
 * and the result is registered as version 1 in one catalog insert: nobody
 * sees the table before its first snapshot is in it.
 *
 * kiln_lake_txn_validate runs the first attempt of a commit and stops it at
 * the commit's first hook point (metadata serialized, nothing written), so
 * a multi-table commit can check every table with the very code that will
 * commit it before committing any.
 */
#include "lake/lake_data_int.h"
#include "lake/lake_meta_int.h"

#include <stdlib.h>
#include <string.h>

static int is_create_action(const char *a)
{
    static const char *names[] = {"assign-uuid", "upgrade-format-version", "add-schema",     "set-current-schema",
                                  "add-spec",    "set-default-spec",       "add-sort-order", "set-default-sort-order",
                                  "set-location"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(a, names[i]) == 0)
            return 1;
    return 0;
}

/* An integer member by its spec name or the snake_case spelling. */
static json_t *member(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        char alt[40];
        snprintf(alt, sizeof alt, "%s", name);
        for (char *c = alt; *c; c++)
            if (*c == '-')
                *c = '_';
        v = json_object_get(o, alt);
    }
    return v;
}

/* "-1 = the one added" or that one's id. */
static int default_id_ok(json_t *u, const char *key, json_int_t added, kiln_err *err)
{
    json_t *v = json_object_get(u, key);
    if (!json_is_integer(v))
        return kiln_err_set(err, KILN_EINVAL, "create: %s needs an integer \"%s\"",
                            json_string_value(json_object_get(u, "action")), key);
    if (json_integer_value(v) != -1 && json_integer_value(v) != added)
        return kiln_err_set(err, KILN_EINVAL, "create: %s %lld names nothing this create added",
                            json_string_value(json_object_get(u, "action")), (long long)json_integer_value(v));
    return 0;
}

/* Build the first metadata JSON from the create updates; *rest gets the others. */
static int build_base(json_t *ups, const char *loc, json_t **base_out, json_t **rest, kiln_err *err)
{
    json_t *b = json_object(), *r = json_array();
    json_t *schema = NULL, *spec = NULL, *order = NULL;
    json_int_t schema_id = 0, spec_id = 0, order_id = 0, last_col = 0;
    const char *uuid = NULL;
    int rc = 0;
    char fresh[37];
    size_t i;
    json_t *u;
    if (!b || !r) {
        rc = KILN_OOM(err);
        goto done;
    }
    json_array_foreach(ups, i, u)
    {
        const char *a = json_string_value(json_object_get(u, "action"));
        if (!a) {
            rc = kiln_err_set(err, KILN_EINVAL, "create: update %zu needs \"action\"", i);
            goto done;
        }
        if (!is_create_action(a)) {
            json_array_append(r, u);
            continue;
        }
        if (strcmp(a, "assign-uuid") == 0) {
            if (!(uuid = json_string_value(json_object_get(u, "uuid"))) || strlen(uuid) != 36) {
                rc = kiln_err_set(err, KILN_EINVAL, "create: assign-uuid needs a 36-character \"uuid\"");
                goto done;
            }
        } else if (strcmp(a, "upgrade-format-version") == 0) {
            json_t *v = json_object_get(u, "format-version");
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 2) {
                rc = kiln_err_set(err, KILN_EUNSUPP, "create: format-version must be 1 or 2 (kiln writes 2)");
                goto done;
            }
        } else if (strcmp(a, "add-schema") == 0) {
            json_t *s = json_object_get(u, "schema");
            if (schema || !json_is_object(s)) {
                rc = kiln_err_set(err, KILN_EINVAL, "create: exactly one add-schema with a \"schema\" object");
                goto done;
            }
            schema = json_deep_copy(s);
            json_t *sid = json_object_get(s, "schema-id");
            schema_id = json_is_integer(sid) ? json_integer_value(sid) : 0;
            if (json_is_integer(json_object_get(u, "last-column-id")))
                last_col = json_integer_value(json_object_get(u, "last-column-id"));
        } else if (strcmp(a, "set-current-schema") == 0) {
            if ((rc = default_id_ok(u, "schema-id", schema_id, err)))
                goto done;
        } else if (strcmp(a, "add-spec") == 0) {
            json_t *s = json_object_get(u, "spec");
            if (spec || !json_is_object(s)) {
                rc = kiln_err_set(err, KILN_EINVAL, "create: at most one add-spec with a \"spec\" object");
                goto done;
            }
            spec = json_deep_copy(s);
            json_t *sid = member(s, "spec-id");
            spec_id = json_is_integer(sid) ? json_integer_value(sid) : 0;
        } else if (strcmp(a, "set-default-spec") == 0) {
            if ((rc = default_id_ok(u, "spec-id", spec_id, err)))
                goto done;
        } else if (strcmp(a, "add-sort-order") == 0) {
            json_t *s = json_object_get(u, "sort-order");
            if (order || !json_is_object(s)) {
                rc = kiln_err_set(err, KILN_EINVAL, "create: at most one add-sort-order with a \"sort-order\" object");
                goto done;
            }
            order = json_deep_copy(s);
            json_t *oid = member(s, "order-id");
            order_id = json_is_integer(oid) ? json_integer_value(oid) : 0;
        } else if (strcmp(a, "set-default-sort-order") == 0) {
            if ((rc = default_id_ok(u, "sort-order-id", order_id, err)))
                goto done;
        } else if (strcmp(a, "set-location") == 0) {
            const char *l = json_string_value(json_object_get(u, "location"));
            size_t n = l ? strlen(l) : 0;
            while (n > 1 && l[n - 1] == '/')
                n--;
            if (!l || !((strlen(loc) == n && strncmp(l, loc, n) == 0) ||
                        (strncmp(loc, "file://", 7) == 0 && strlen(loc + 7) == n && strncmp(l, loc + 7, n) == 0))) {
                rc = kiln_err_set(err, KILN_EINVAL, "create: kiln places the table at %s, not %s", loc,
                                  l ? l : "(none)");
                goto done;
            }
        }
    }
    if (!schema) {
        rc = kiln_err_set(err, KILN_EINVAL, "create: the updates need an add-schema");
        goto done;
    }
    json_object_set_new(schema, "schema-id", json_integer(0));
    /* partition spec: spec-id 0, field ids from 1000 where absent */
    json_t *fields = spec ? json_object_get(spec, "fields") : NULL, *pf = json_array();
    json_int_t last_part = 999;
    json_array_foreach(fields, i, u)
    {
        json_t *f = json_object();
        json_t *src = member(u, "source-id"), *fid = member(u, "field-id");
        json_t *xf = json_object_get(u, "transform"), *nm = json_object_get(u, "name");
        if (!json_is_integer(src) || !json_is_string(xf) || !json_is_string(nm)) {
            json_decref(f);
            json_decref(pf);
            rc = kiln_err_set(err, KILN_EINVAL, "create: partition field %zu needs source-id, transform, name", i);
            goto done;
        }
        json_int_t id = json_is_integer(fid) ? json_integer_value(fid) : 1000 + (json_int_t)i;
        if (id > last_part)
            last_part = id;
        json_object_set(f, "source-id", src);
        json_object_set_new(f, "field-id", json_integer(id));
        json_object_set(f, "name", nm);
        json_object_set(f, "transform", xf);
        json_array_append_new(pf, f);
    }
    json_t *sp = json_object();
    json_object_set_new(sp, "spec-id", json_integer(0));
    json_object_set_new(sp, "fields", pf);
    /* sort order: unsorted is order 0; a sorted one keeps its id (1 if it said 0) */
    json_t *so = json_object(), *sf = json_array();
    json_array_foreach(order ? json_object_get(order, "fields") : NULL, i, u)
    {
        json_t *f = json_object();
        json_t *src = member(u, "source-id"), *xf = json_object_get(u, "transform");
        json_t *dir = json_object_get(u, "direction"), *nulls = member(u, "null-order");
        if (!json_is_integer(src) || !json_is_string(xf) || !json_is_string(dir) || !json_is_string(nulls)) {
            json_decref(f);
            json_decref(sf);
            json_decref(so);
            json_decref(sp);
            rc = kiln_err_set(err, KILN_EINVAL,
                              "create: sort field %zu needs source-id, transform, direction, null-order", i);
            goto done;
        }
        json_object_set(f, "source-id", src);
        json_object_set(f, "transform", xf);
        json_object_set(f, "direction", dir);
        json_object_set(f, "null-order", nulls);
        json_array_append_new(sf, f);
    }
    order_id = json_array_size(sf) ? (order_id > 0 ? order_id : 1) : 0;
    json_object_set_new(so, "order-id", json_integer(order_id));
    json_object_set_new(so, "fields", sf);
    if (!uuid) {
        kiln_lake_uuid_v4(fresh);
        uuid = fresh;
    }
    json_object_set_new(b, "format-version", json_integer(2));
    json_object_set_new(b, "table-uuid", json_string(uuid));
    json_object_set_new(b, "location", json_string(loc));
    json_object_set_new(b, "last-sequence-number", json_integer(0));
    json_object_set_new(b, "last-updated-ms", json_integer(kiln_now_micros() / 1000));
    json_object_set_new(b, "last-column-id", json_integer(last_col));
    json_object_set_new(b, "current-schema-id", json_integer(0));
    json_object_set_new(b, "schemas", json_pack("[o]", schema));
    schema = NULL;
    json_object_set_new(b, "default-spec-id", json_integer(0));
    json_object_set_new(b, "partition-specs", json_pack("[o]", sp));
    json_object_set_new(b, "last-partition-id", json_integer(last_part));
    json_object_set_new(b, "default-sort-order-id", json_integer(order_id));
    json_object_set_new(b, "sort-orders", json_pack("[o]", so));
    json_object_set_new(b, "properties", json_object());
    json_object_set_new(b, "current-snapshot-id", json_integer(-1));
    json_object_set_new(b, "snapshots", json_array());
    json_object_set_new(b, "snapshot-log", json_array());
    json_object_set_new(b, "metadata-log", json_array());
    json_object_set_new(b, "refs", json_object());
    *base_out = b;
    *rest = r;
    b = r = NULL;
done:
    json_decref(b);
    json_decref(r);
    json_decref(schema);
    json_decref(spec);
    json_decref(order);
    return rc;
}

/* Partition and sort fields name top-level columns of the schema, with a
 * transform that applies to the column's type (as a create from kiln does). */
static const kiln_lake_field *top_field(const kiln_lake_schema *s, int32_t id)
{
    for (size_t i = 0; s && i < s->nfields; i++)
        if (s->fields[i].id == id)
            return &s->fields[i];
    return NULL;
}

static int check_layout(const kiln_lake_meta *m, kiln_err *err)
{
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    const kiln_lake_spec *sp = kiln_lake_meta_default_spec(m);
    kiln_lake_type rt;
    for (size_t i = 0; sp && i < sp->nfields; i++) {
        const kiln_lake_field *f = top_field(s, sp->fields[i].source_id);
        if (!f)
            return kiln_err_set(err, KILN_EINVAL, "create: partition field %s: source-id %d is not a top-level column",
                                sp->fields[i].name ? sp->fields[i].name : "?", (int)sp->fields[i].source_id);
        if (kiln_lake_transform_result(&rt, &sp->fields[i].transform, f->type, err) != 0)
            return err->code;
    }
    for (size_t k = 0; k < m->nsort_orders; k++)
        for (size_t i = 0; i < m->sort_orders[k].nfields; i++) {
            const kiln_lake_sort_field *sf = &m->sort_orders[k].fields[i];
            const kiln_lake_field *f = top_field(s, sf->source_id);
            if (!f)
                return kiln_err_set(err, KILN_EINVAL, "create: sort field source-id %d is not a top-level column",
                                    (int)sf->source_id);
            if (kiln_lake_transform_result(&rt, &sf->transform, f->type, err) != 0)
                return err->code;
        }
    return 0;
}

int kiln_lake_table_create_rest_json(kiln_lake_table **out, kiln_lake_meta **staged, kiln_lake_catalog *c,
                                     const char *name, const char *updates_json, kiln_err *err)
{
    if (out)
        *out = NULL;
    if (staged)
        *staged = NULL;
    char ns[129], tbl[129];
    char *dir = NULL, *loc = NULL, *text = NULL, *rest_text = NULL;
    json_t *ups = NULL, *base = NULL, *rest = NULL;
    kiln_lake_meta *m = NULL, *final = NULL;
    kiln_lake_txn *txn = NULL;
    kiln_lake_table tmp;
    memset(&tmp, 0, sizeof tmp);
    json_error_t je;
    int rc;
    if ((rc = kiln_lake_name_split(name, ns, tbl, err)) != 0)
        return rc;
    if (!(ups = json_loads(updates_json ? updates_json : "[]", 0, &je)) || !json_is_array(ups)) {
        rc = kiln_err_set(err, KILN_EINVAL, "create: updates must be a JSON array%s%s", ups ? "" : ": ",
                          ups ? "" : je.text);
        goto done;
    }
    dir = kiln_sprintf("%s/%s/%s", kiln_lake_catalog_warehouse(c), ns, tbl);
    loc = dir ? kiln_lake_path_to_uri(dir) : NULL;
    if (!loc) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = build_base(ups, loc, &base, &rest, err)) != 0)
        goto done;
    if (!(text = json_dumps(base, JSON_COMPACT)) || !(rest_text = json_dumps(rest, JSON_COMPACT))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake_meta_parse(&m, text, strlen(text), err)) != 0)
        goto done;
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    int32_t maxid = s ? kiln_lake__max_field_id(s->fields, s->nfields) : 0;
    if (m->last_column_id < maxid)
        m->last_column_id = maxid;
    if ((rc = check_layout(m, err)) != 0)
        goto done;
    /* the in-memory table: in no catalog, so only preview is used on it */
    tmp.cat = c;
    tmp.name = (char *)name;
    snprintf(tmp.ns, sizeof tmp.ns, "%s", ns);
    snprintf(tmp.tbl, sizeof tmp.tbl, "%s", tbl);
    tmp.dir = dir;
    tmp.meta = m;
    const kiln_lake_meta *pv = NULL;
    if ((rc = kiln_lake_txn_begin(&txn, &tmp, err)) != 0 ||
        (rc = kiln_lake_txn_add_rest_json(txn, NULL, rest_text, err)) != 0 ||
        (rc = kiln_lake_txn_preview(&pv, txn, err)) != 0 || (rc = kiln_lake_meta_clone(&final, pv, err)) != 0)
        goto done;
    if (!out) {
        *staged = final;
        final = NULL;
        goto done;
    }
    rc = kiln_lake__table_register(c, name, final, out, err); /* takes final */
    final = NULL;
done:
    kiln_lake_txn_free(txn);
    kiln_lake_meta_free(m);
    kiln_lake_meta_free(final);
    json_decref(ups);
    json_decref(base);
    json_decref(rest);
    free(text);
    free(rest_text);
    kiln_free(dir);
    kiln_free(loc);
    return rc;
}

typedef struct {
    int reached;
} validate_ctx;

static int validate_stop(kiln_lake_hook_point where, void *ctx)
{
    if (where != KILN_LAKE_HOOK_BEFORE_WRITE)
        return 0;
    ((validate_ctx *)ctx)->reached = 1;
    return 1; /* stop: nothing is written before this point */
}

int kiln_lake_txn_validate(kiln_lake_txn *txn, kiln_err *err)
{
    validate_ctx v = {0};
    kiln_lake_commit_opts o = {0};
    o.max_retries = 1;
    o.test_hook = validate_stop;
    o.test_hook_ctx = &v;
    kiln_err e2 = {0};
    int rc = kiln_lake_txn_commit(txn, &o, NULL, &e2);
    if (v.reached)
        return 0;
    if (rc == 0) /* cannot happen: every commit passes the hook point */
        return kiln_err_set(err, KILN_EINTERNAL, "validate: the commit did not stop before writing");
    *err = e2;
    return rc;
}
