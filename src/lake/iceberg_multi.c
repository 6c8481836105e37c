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
#include "lake/lake_io.h"
#include "lake/lake_meta_int.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

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
            return kiln_err_set(err, KILN_EINVAL, "partition field %s: source-id %d is not a top-level column",
                                sp->fields[i].name ? sp->fields[i].name : "?", (int)sp->fields[i].source_id);
        if (kiln_lake_transform_result(&rt, &sp->fields[i].transform, f->type, err) != 0)
            return err->code;
    }
    for (size_t k = 0; k < m->nsort_orders; k++)
        for (size_t i = 0; i < m->sort_orders[k].nfields; i++) {
            const kiln_lake_sort_field *sf = &m->sort_orders[k].fields[i];
            const kiln_lake_field *f = top_field(s, sf->source_id);
            if (!f)
                return kiln_err_set(err, KILN_EINVAL, "sort field source-id %d is not a top-level column",
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

/* ================================================================ atomic multi-table commits
 *
 * kiln_lake_txn_commit_multi commits several tables of one SQLite catalog
 * all or none, also across a crash:
 *
 *   1. each table's new metadata is computed (requirements checked against
 *      the metadata as loaded, updates applied: kiln_lake_txn_validate and
 *      the transaction preview) and written durably to a staging file
 *      METADATA/multi-<uuid>.metadata.json that no reader looks at;
 *   2. in ONE SQLite transaction (BEGIN IMMEDIATE: the lock kiln's own
 *      writers take around their link) every table's catalog row is
 *      compared with the location the commit was computed from and moved to
 *      the table's next version file vN+1.metadata.json, which does not
 *      exist yet, and one kiln_multi_commit row per table records the
 *      staging file that becomes it. COMMIT is the commit point of all
 *      tables at once;
 *   3. each staging file is linked as its vN+1 file (no-overwrite), the
 *      version hint written, and the kiln_multi_commit rows deleted.
 *
 * A crash before 2's COMMIT leaves staging files only (orphans: no row
 * names them). A crash inside 3 leaves catalog rows that name version
 * files not linked yet; whoever loads such a table first
 * (kiln_lake__multi_recover, called by the catalog's load when the file
 * its row names is missing) links it from the staging file the
 * kiln_multi_commit row names. Between 2 and 3 a kiln writer's own commit
 * sees the moved row and retries on the new version, so nothing can take
 * vN+1 first.
 */

#define MULTI_CATALOG_NAME "kiln"

static int multi_db_err(kiln_lake_catalog *c, kiln_err *err, const char *what)
{
    return kiln_err_set(err, KILN_EIO, "catalog %s/catalog.db: %s: %s", c->warehouse, what,
                        sqlite3_errmsg((sqlite3 *)c->db));
}

static int multi_exec(kiln_lake_catalog *c, const char *sql, kiln_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec((sqlite3 *)c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kiln_err_set(err, KILN_EIO, "catalog %s/catalog.db: %s", c->warehouse, msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* KILN_FAILPOINT=lake.multi=crash-before-commit|crash-after-first: end the
 * process at once (as kill -9 would) at that point of a multi-table commit;
 * tests prove all-or-none with it. */
static void multi_failpoint(const char *point)
{
    const char *fp = getenv("KILN_FAILPOINT"), *at = fp ? strstr(fp, "lake.multi=") : NULL;
    if (!at)
        return;
    at += strlen("lake.multi=");
    size_t n = strcspn(at, ",");
    if (strlen(point) == n && strncmp(at, point, n) == 0)
        _exit(137);
}

/* Link a staging file as its version file; an existing version file that
 * is already this commit's (someone recovered it first) is fine. */
static int multi_link(const char *staged, const char *final_loc, kiln_err *err)
{
    int rc = kiln_lake__io_link_new(staged, final_loc, err);
    if (rc == KILN_EEXIST || (rc != 0 && kiln_lake__io_exists(final_loc))) {
        *err = (kiln_err){0};
        rc = 0;
    }
    if (rc == 0)
        kiln_lake__io_remove(staged, &(kiln_err){0});
    return rc;
}

/* version-hint.text beside a vN file, for readers that follow it. */
static void multi_hint(const char *final_loc)
{
    const char *slash = strrchr(final_loc, '/');
    int v = -1;
    if (!slash || sscanf(slash + 1, "v%d.metadata.json", &v) != 1 || v <= 0)
        return; /* Iceberg Java's naming: no hint file */
    char *hint = kiln_sprintf("%.*s/version-hint.text", (int)(slash - final_loc), final_loc);
    char num[16];
    int n = snprintf(num, sizeof num, "%d", v);
    kiln_err e = {0};
    if (hint && kiln_lake__io_write_atomic(hint, num, (size_t)n, &e) != 0)
        kiln_warn("%s not updated: %s", hint, e.msg);
    kiln_free(hint);
}

static int multi_table_ok(kiln_lake_catalog *c)
{
    sqlite3_stmt *st = NULL;
    int ok = c->db &&
             sqlite3_prepare_v2((sqlite3 *)c->db,
                                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='kiln_multi_commit'", -1, &st,
                                NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return ok;
}

int kiln_lake__multi_recover(kiln_lake_catalog *c, const char *loc, char **read_from, kiln_err *err)
{
    *read_from = NULL;
    if (c->kind != KILN_LAKE_CATALOG_SQLITE || !multi_table_ok(c))
        return KILN_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2((sqlite3 *)c->db, "SELECT staged FROM kiln_multi_commit WHERE metadata_location=?", -1, &st,
                           NULL) != SQLITE_OK)
        return multi_db_err(c, err, "prepare");
    sqlite3_bind_text(st, 1, loc, -1, SQLITE_STATIC);
    char *staged = NULL;
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        if (!(staged = kiln_strdup(s ? s : "")))
            rc = KILN_OOM(err);
    } else {
        rc = KILN_ENOTFOUND;
    }
    sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    if (c->mode == KILN_LAKE_OPEN_READONLY) {
        *read_from = staged; /* committed; a read-only handle reads it where it is */
        return 0;
    }
    if ((rc = multi_link(staged, loc, err)) == 0) {
        multi_hint(loc);
        kiln_warn("recovered %s: a multi-table commit had committed it but not linked it yet", loc);
        if (sqlite3_prepare_v2((sqlite3 *)c->db, "DELETE FROM kiln_multi_commit WHERE metadata_location=?", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, loc, -1, SQLITE_STATIC);
            sqlite3_step(st); /* best effort: a leftover row names a file that exists */
        }
        sqlite3_finalize(st);
    }
    kiln_free(staged);
    return rc;
}

/* ---------------------------------------------------------------- updates beyond the transaction's own
 *
 * The REST updates kiln_lake_txn has no operation for are applied to the
 * committed metadata's JSON after the transaction's updates (none of them
 * depends on a snapshot or property update), and the result goes through
 * the one metadata parser again, which checks it: */
static const char *const extra_actions[] = {
    "add-sort-order",    "set-default-sort-order",   "set-statistics",
    "remove-statistics", "set-partition-statistics", "remove-partition-statistics",
    "remove-schemas",    "remove-partition-specs",   "assign-uuid",
    "set-location"};

int kiln_lake_rest_update_is_extra(const char *action)
{
    for (size_t i = 0; action && i < sizeof extra_actions / sizeof extra_actions[0]; i++)
        if (strcmp(action, extra_actions[i]) == 0)
            return 1;
    return 0;
}

/* The field of a SortOrder as the spec spells it (iceberg-js's snake_case accepted). */
static json_t *sort_field_json(json_t *f, size_t i, kiln_err *err)
{
    json_t *src = member(f, "source-id"), *xf = json_object_get(f, "transform");
    json_t *dir = json_object_get(f, "direction"), *nulls = member(f, "null-order");
    if (!json_is_integer(src) || !json_is_string(xf) || !json_is_string(dir) || !json_is_string(nulls) ||
        (strcmp(json_string_value(dir), "asc") && strcmp(json_string_value(dir), "desc")) ||
        (strcmp(json_string_value(nulls), "nulls-first") && strcmp(json_string_value(nulls), "nulls-last"))) {
        kiln_err_set(err, KILN_EINVAL,
                     "add-sort-order: field %zu needs source-id, transform, direction asc|desc, null-order "
                     "nulls-first|nulls-last",
                     i);
        return NULL;
    }
    return json_pack("{s:O,s:O,s:O,s:O}", "transform", xf, "source-id", src, "direction", dir, "null-order", nulls);
}

/* Remove from array key the objects whose idkey is in ids (an array of
 * integers); refuse the one named by keep. */
static int remove_by_id(json_t *j, const char *key, const char *idkey, json_t *ids, json_int_t keep, const char *what,
                        kiln_err *err)
{
    json_t *arr = json_object_get(j, key), *id;
    size_t i;
    if (!json_is_array(ids))
        return kiln_err_set(err, KILN_EINVAL, "%s needs an array of ids", what);
    json_array_foreach(ids, i, id)
    {
        if (!json_is_integer(id))
            return kiln_err_set(err, KILN_EINVAL, "%s: ids must be integers", what);
        if (json_integer_value(id) == keep)
            return kiln_err_set(err, KILN_EINVAL, "%s: %lld is the table's current one", what,
                                (long long)json_integer_value(id));
        for (size_t k = json_array_size(arr); k-- > 0;)
            if (json_integer_value(json_object_get(json_array_get(arr, k), idkey)) == json_integer_value(id))
                json_array_remove(arr, k);
    }
    return 0;
}

/* set-statistics / set-partition-statistics: replace the entry of the
 * snapshot; remove-*: drop it. */
static int stats_update(json_t *j, const char *key, json_t *u, int set, kiln_err *err)
{
    const char *a = json_string_value(json_object_get(u, "action"));
    json_t *st = set ? json_object_get(u, key[0] == 'p' ? "partition-statistics" : "statistics") : NULL;
    json_t *sid = set ? json_object_get(st, "snapshot-id") : json_object_get(u, "snapshot-id");
    if ((set && !json_is_object(st)) || !json_is_integer(sid))
        return kiln_err_set(err, KILN_EINVAL, "%s needs %s", a,
                            set ? "a statistics object with snapshot-id" : "snapshot-id");
    if (set && !json_is_string(json_object_get(st, "statistics-path")))
        return kiln_err_set(err, KILN_EINVAL, "%s: the statistics file needs statistics-path", a);
    json_t *arr = json_object_get(j, key);
    if (!json_is_array(arr)) {
        arr = json_array();
        json_object_set_new(j, key, arr);
    }
    for (size_t k = json_array_size(arr); k-- > 0;)
        if (json_integer_value(json_object_get(json_array_get(arr, k), "snapshot-id")) == json_integer_value(sid))
            json_array_remove(arr, k);
    if (set)
        json_array_append(arr, st);
    return 0;
}

static int same_location(const char *a, const char *b)
{
    if (!a || !b)
        return 0;
    if (!strncmp(a, "file://", 7))
        a += 7;
    if (!strncmp(b, "file://", 7))
        b += 7;
    size_t na = strlen(a), nb = strlen(b);
    while (na > 1 && a[na - 1] == '/')
        na--;
    while (nb > 1 && b[nb - 1] == '/')
        nb--;
    return na == nb && strncmp(a, b, na) == 0;
}

static int apply_extra_one(json_t *j, json_t *u, json_int_t *last_order, kiln_err *err)
{
    const char *a = json_string_value(json_object_get(u, "action"));
    if (!a || !kiln_lake_rest_update_is_extra(a))
        return kiln_err_set(err, KILN_EUNSUPP, "REST commit: update action \"%s\" is not supported", a ? a : "?");
    if (!strcmp(a, "add-sort-order")) {
        json_t *so = json_object_get(u, "sort-order"), *orders = json_object_get(j, "sort-orders"), *f, *o;
        size_t i;
        if (!json_is_object(so) || !json_is_array(json_object_get(so, "fields")))
            return kiln_err_set(err, KILN_EINVAL, "add-sort-order needs a \"sort-order\" with \"fields\"");
        json_t *fields = json_array();
        json_array_foreach(json_object_get(so, "fields"), i, f)
        {
            json_t *x = sort_field_json(f, i, err);
            if (!x) {
                json_decref(fields);
                return err->code;
            }
            json_array_append_new(fields, x);
        }
        /* an order equal to an existing one is that one (as Iceberg's own catalogs do) */
        json_int_t maxid = 0;
        json_array_foreach(orders, i, o)
        {
            json_int_t id = json_integer_value(json_object_get(o, "order-id"));
            if (json_equal(json_object_get(o, "fields"), fields)) {
                *last_order = id;
                json_decref(fields);
                return 0;
            }
            if (id > maxid)
                maxid = id;
        }
        *last_order = json_array_size(fields) ? maxid + 1 : 0;
        json_array_append_new(orders, json_pack("{s:I,s:o}", "order-id", (json_int_t)*last_order, "fields", fields));
        return 0;
    }
    if (!strcmp(a, "set-default-sort-order")) {
        json_t *v = member(u, "sort-order-id"), *o;
        size_t i;
        if (!json_is_integer(v))
            return kiln_err_set(err, KILN_EINVAL, "set-default-sort-order needs an integer sort-order-id");
        json_int_t id = json_integer_value(v);
        if (id == -1 && (id = *last_order) < 0)
            return kiln_err_set(err, KILN_EINVAL, "set-default-sort-order -1: this commit added no sort order");
        json_array_foreach(json_object_get(j, "sort-orders"), i,
                           o) if (json_integer_value(json_object_get(o, "order-id")) == id)
        {
            json_object_set_new(j, "default-sort-order-id", json_integer(id));
            return 0;
        }
        return kiln_err_set(err, KILN_EINVAL, "set-default-sort-order: the table has no sort order %lld",
                            (long long)id);
    }
    if (!strcmp(a, "set-statistics") || !strcmp(a, "remove-statistics"))
        return stats_update(j, "statistics", u, a[0] == 's', err);
    if (!strcmp(a, "set-partition-statistics") || !strcmp(a, "remove-partition-statistics"))
        return stats_update(j, "partition-statistics", u, a[0] == 's', err);
    if (!strcmp(a, "remove-schemas"))
        return remove_by_id(j, "schemas", "schema-id", json_object_get(u, "schema-ids"),
                            json_integer_value(json_object_get(j, "current-schema-id")), "remove-schemas", err);
    if (!strcmp(a, "remove-partition-specs"))
        return remove_by_id(j, "partition-specs", "spec-id", json_object_get(u, "spec-ids"),
                            json_integer_value(json_object_get(j, "default-spec-id")), "remove-partition-specs", err);
    if (!strcmp(a, "assign-uuid")) {
        const char *want = json_string_value(json_object_get(u, "uuid"));
        const char *have = json_string_value(json_object_get(j, "table-uuid"));
        if (!want || !have || strcasecmp(want, have) != 0)
            return kiln_err_set(err, KILN_ECONFLICT, "assign-uuid %s: the table's uuid is %s and never changes",
                                want ? want : "(none)", have ? have : "(none)");
        return 0;
    }
    /* set-location */
    const char *want = json_string_value(json_object_get(u, "location"));
    if (!same_location(want, json_string_value(json_object_get(j, "location"))))
        return kiln_err_set(err, KILN_EUNSUPP, "set-location %s: kiln keeps a table at %s", want ? want : "(none)",
                            json_string_value(json_object_get(j, "location")));
    return 0;
}

/* Apply the extra updates (a JSON array) to *mp, replacing it. */
static int apply_extras(kiln_lake_meta **mp, const char *extras, kiln_err *err)
{
    json_error_t je;
    json_t *ups = json_loads(extras, 0, &je), *u;
    json_t *j = NULL;
    char *text = NULL;
    kiln_lake_meta *m = NULL;
    json_int_t last_order = -1;
    size_t i;
    int rc = 0;
    if (!json_is_array(ups)) {
        rc = kiln_err_set(err, KILN_EINVAL, "REST commit: updates must be an array");
        goto done;
    }
    if (!(j = kiln_lake__meta_to_json(*mp))) {
        rc = KILN_OOM(err);
        goto done;
    }
    json_array_foreach(ups, i, u) if ((rc = apply_extra_one(j, u, &last_order, err)) != 0) goto done;
    if (!(text = json_dumps(j, JSON_COMPACT))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake_meta_parse(&m, text, strlen(text), err)) != 0 || (rc = check_layout(m, err)) != 0)
        goto done;
    kiln_lake_meta_free(*mp);
    *mp = m;
    m = NULL;
done:
    kiln_lake_meta_free(m);
    json_decref(ups);
    json_decref(j);
    free(text);
    return rc;
}

typedef struct {
    kiln_lake_table *t;
    char *staged;    /* staging file location */
    char *final_loc; /* file:// URI of vN+1 */
    char *row_old;   /* the catalog row it moves from */
} multi_item;

/* Step 1 for one table: new metadata, staged. */
static int multi_stage(kiln_lake_txn *txn, const char *extras, multi_item *it, int *raced, kiln_err *err)
{
    kiln_lake_table *t = it->t;
    const kiln_lake_meta *pv = NULL;
    kiln_lake_meta *m = NULL;
    kiln_buf json;
    kiln_buf_init(&json, KILN_LAKE_META_MAX_BYTES);
    char uuid[37], *final = NULL;
    int rc;
    if ((rc = kiln_lake__refuse_registered(t, err)) != 0)
        goto done;
    if (t->version < 0) {
        rc = kiln_err_set(err, KILN_EUNSUPP,
                          "table %s: current metadata %s is not versioned; kiln commits only to "
                          "tables it can version",
                          t->name, t->metadata_location);
        goto done;
    }
    if ((rc = kiln_lake_txn_validate(txn, err)) != 0 || (rc = kiln_lake_txn_preview(&pv, txn, err)) != 0 ||
        (rc = kiln_lake_meta_clone(&m, pv, err)) != 0)
        goto done;
    if (extras && (rc = apply_extras(&m, extras, err)) != 0)
        goto done;
    /* the metadata-log gains the file this commit replaces, as every commit's does */
    long maxlog = 100;
    const char *p = kiln_lake_meta_property(m, "write.metadata.previous-versions-max");
    if (p && atol(p) > 0)
        maxlog = atol(p);
    kiln_lake_metalog *l = kiln_lake__grow(m, m->metadata_log, m->nmetadata_log, sizeof(*l));
    if (!l || !(l[m->nmetadata_log].metadata_file = kiln_lake__strdup(m, t->metadata_location))) {
        rc = KILN_OOM(err);
        goto done;
    }
    l[m->nmetadata_log].timestamp_ms = t->meta->last_updated_ms;
    m->metadata_log = l;
    m->nmetadata_log++;
    if (m->nmetadata_log > (size_t)maxlog) {
        m->metadata_log += m->nmetadata_log - (size_t)maxlog;
        m->nmetadata_log = (size_t)maxlog;
    }
    if ((rc = kiln_lake_meta_write(m, 1, &json, err)) != 0)
        goto done;
    kiln_lake_uuid_v4(uuid);
    char *mdir = kiln_sprintf("%s/metadata", t->dir);
    it->staged = kiln_sprintf("%s/metadata/multi-%s.metadata.json", t->dir, uuid);
    kiln_lake_uuid_v4(uuid);
    final = t->java_names ? kiln_sprintf("%s/metadata/%05d-%s.metadata.json", t->dir, t->version + 1, uuid)
                          : kiln_sprintf("%s/metadata/v%d.metadata.json", t->dir, t->version + 1);
    it->final_loc = final ? kiln_lake_path_to_uri(final) : NULL;
    if (!mdir || !it->staged || !it->final_loc) {
        kiln_free(mdir);
        rc = KILN_OOM(err);
        goto done;
    }
    rc = kiln_lake__io_mkdirs(mdir, err);
    kiln_free(mdir);
    if (rc == 0 && kiln_lake__io_exists(final)) {
        *raced = 1;
        rc = kiln_err_set(err, KILN_ECONFLICT, "table %s: v%d was committed by someone else", t->name, t->version + 1);
    }
    if (rc == 0)
        rc = kiln_lake__io_write_new(it->staged, json.data, json.len, err); /* durable before the catalog commit */
done:
    kiln_free(final);
    kiln_lake_meta_free(m);
    kiln_buf_free(&json);
    return rc;
}

/* Step 2: every row moved and every staging file recorded, in one SQLite
 * transaction. KILN_ECONFLICT when a row moved since the load. */
static int multi_swap(kiln_lake_catalog *c, multi_item *items, size_t n, kiln_err *err)
{
    sqlite3 *db = (sqlite3 *)c->db;
    sqlite3_stmt *get = NULL, *upd = NULL, *ins = NULL;
    int rc;
    if ((rc = multi_exec(c, "BEGIN IMMEDIATE", err)) != 0)
        return rc;
    if ((rc = multi_exec(c,
                         "CREATE TABLE IF NOT EXISTS kiln_multi_commit (txn_id TEXT NOT NULL, catalog_name TEXT NOT "
                         "NULL, table_namespace TEXT NOT NULL, table_name TEXT NOT NULL, staged TEXT NOT NULL, "
                         "metadata_location TEXT NOT NULL PRIMARY KEY)",
                         err)) != 0)
        goto done;
    if (sqlite3_prepare_v2(db,
                           "SELECT metadata_location FROM iceberg_tables WHERE catalog_name=? AND table_namespace=? "
                           "AND table_name=?",
                           -1, &get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "UPDATE iceberg_tables SET metadata_location=?, previous_metadata_location=? WHERE "
                           "catalog_name=? AND table_namespace=? AND table_name=? AND metadata_location=?",
                           -1, &upd, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO kiln_multi_commit VALUES (?, ?, ?, ?, ?, ?)", -1, &ins, NULL) !=
            SQLITE_OK) {
        rc = multi_db_err(c, err, "prepare");
        goto done;
    }
    char txn_id[37];
    kiln_lake_uuid_v4(txn_id);
    for (size_t i = 0; i < n; i++) {
        kiln_lake_table *t = items[i].t;
        sqlite3_reset(get);
        sqlite3_bind_text(get, 1, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 2, t->ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(get, 3, t->tbl, -1, SQLITE_STATIC);
        if (sqlite3_step(get) != SQLITE_ROW) {
            rc = kiln_err_set(err, KILN_ECONFLICT, "table %s was dropped by another commit", t->name);
            goto done;
        }
        const char *cur = (const char *)sqlite3_column_text(get, 0);
        int behind = 0; /* the row lags the files this handle read (rolled forward in memory only) */
        for (size_t k = 0; cur && k < t->meta->nmetadata_log; k++)
            if (t->meta->metadata_log[k].metadata_file && !strcmp(t->meta->metadata_log[k].metadata_file, cur))
                behind = 1;
        int taken = kiln_lake__io_exists(items[i].final_loc);
        if (taken) { /* a writer linked it and has not moved the row yet (or crashed there) */
            rc = kiln_err_set(err, KILN_ECONFLICT, "table %s: v%d was committed by someone else", t->name,
                              t->version + 1);
            goto done;
        }
        if (!cur || (strcmp(cur, t->metadata_location) != 0 && !behind)) {
            rc = kiln_err_set(err, KILN_ECONFLICT, "table %s was changed by another commit (now %s)", t->name,
                              cur ? cur : "?");
            goto done;
        }
        if (!(items[i].row_old = kiln_strdup(cur))) {
            rc = KILN_OOM(err);
            goto done;
        }
        sqlite3_reset(upd);
        sqlite3_bind_text(upd, 1, items[i].final_loc, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 2, items[i].row_old, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 3, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 4, t->ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 5, t->tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(upd, 6, items[i].row_old, -1, SQLITE_STATIC);
        if (sqlite3_step(upd) != SQLITE_DONE || sqlite3_changes(db) != 1) {
            rc = multi_db_err(c, err, "move catalog row");
            goto done;
        }
        sqlite3_reset(ins);
        sqlite3_bind_text(ins, 1, txn_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 2, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 3, t->ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 4, t->tbl, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 5, items[i].staged, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins, 6, items[i].final_loc, -1, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE) {
            rc = multi_db_err(c, err, "record staged metadata");
            goto done;
        }
    }
    multi_failpoint("crash-before-commit");
    rc = multi_exec(c, "COMMIT", err);
done:
    sqlite3_finalize(get);
    sqlite3_finalize(upd);
    sqlite3_finalize(ins);
    if (rc != 0)
        multi_exec(c, "ROLLBACK", &(kiln_err){0});
    return rc;
}

int kiln_lake_txn_commit_multi(kiln_lake_table *const *tables, kiln_lake_txn *const *txns, const char *const *extras,
                               size_t n, int max_retries, kiln_err *err)
{
    if (n == 0)
        return 0;
    kiln_lake_catalog *c = tables[0]->cat;
    for (size_t i = 0; i < n; i++) {
        if (tables[i]->cat != c)
            return kiln_err_set(err, KILN_EINVAL, "multi-table commit: every table must come from one catalog handle");
        for (size_t k = 0; k < i; k++)
            if (tables[k] == tables[i] || !strcmp(tables[k]->name, tables[i]->name))
                return kiln_err_set(err, KILN_EINVAL, "multi-table commit: table %s appears twice", tables[i]->name);
    }
    if (c->kind != KILN_LAKE_CATALOG_SQLITE || c->mode == KILN_LAKE_OPEN_READONLY || !c->db)
        return kiln_err_set(err, KILN_EUNSUPP,
                            "multi-table commit: needs a writable SQLite catalog (a hadoop warehouse has no place "
                            "to commit several tables at once)");
    multi_item *items = kiln_calloc(n, sizeof *items);
    if (!items)
        return KILN_OOM(err);
    if (max_retries <= 0)
        max_retries = 20;
    long backoff = 5;
    int rc = 0;
    for (int attempt = 0; attempt <= max_retries; attempt++) {
        if (attempt > 0) { /* lost a race: re-read every table; requirements are checked again */
            long ms = backoff / 2 + (long)((uint64_t)kiln_lake_snapshot_id_new() % (uint64_t)(backoff + 1));
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (backoff < 1000)
                backoff *= 2;
        }
        for (size_t i = 0; i < n; i++) {
            if (items[i].staged)
                kiln_lake__io_remove(items[i].staged, &(kiln_err){0});
            kiln_free(items[i].staged);
            kiln_free(items[i].final_loc);
            kiln_free(items[i].row_old);
            memset(&items[i], 0, sizeof items[i]);
            items[i].t = tables[i];
        }
        rc = 0;
        int raced = 0;
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (attempt > 0)
                rc = kiln_lake_table_refresh(items[i].t, err);
            if (rc == 0)
                rc = multi_stage(txns[i], extras ? extras[i] : NULL, &items[i], &raced, err);
        }
        if (rc == 0)
            raced = (rc = multi_swap(c, items, n, err)) == KILN_ECONFLICT;
        /* a failed requirement against freshly read metadata is final */
        if (!raced || attempt == max_retries)
            break;
        kiln_debug("multi-table commit attempt %d lost a race: %s", attempt + 1, err->msg);
    }
    if (rc != 0) {
        for (size_t i = 0; i < n; i++)
            if (items[i].staged)
                kiln_lake__io_remove(items[i].staged, &(kiln_err){0});
    } else {
        /* committed: publish every version file (a crash here is finished by the next load) */
        for (size_t i = 0; i < n; i++) {
            kiln_err le = {0};
            if (multi_link(items[i].staged, items[i].final_loc, &le) != 0) {
                kiln_warn("table %s: committed; its metadata file is linked by the next load (%s)", items[i].t->name,
                          le.msg);
                kiln_free(items[i].staged); /* not linked: its kiln_multi_commit row stays for the recovery */
                items[i].staged = NULL;
                continue;
            }
            multi_hint(items[i].final_loc);
            if (i == 0)
                multi_failpoint("crash-after-first");
        }
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2((sqlite3 *)c->db, "DELETE FROM kiln_multi_commit WHERE metadata_location=?", -1, &st,
                               NULL) == SQLITE_OK)
            for (size_t i = 0; i < n; i++) {
                if (!items[i].staged)
                    continue;
                sqlite3_reset(st);
                sqlite3_bind_text(st, 1, items[i].final_loc, -1, SQLITE_STATIC);
                sqlite3_step(st);
            }
        sqlite3_finalize(st);
        for (size_t i = 0; i < n; i++) {
            kiln_err re = {0};
            if (kiln_lake_table_refresh(items[i].t, &re) != 0)
                kiln_warn("table %s: committed; re-reading it failed: %s", items[i].t->name, re.msg);
        }
    }
    for (size_t i = 0; i < n; i++) {
        kiln_free(items[i].staged);
        kiln_free(items[i].final_loc);
        kiln_free(items[i].row_old);
    }
    kiln_free(items);
    return rc;
}

/* ================================================================ multi-table fast-forward
 *
 * A branch backfill's publish (src/flow): main moves to branch `from`'s
 * head on every table in one commit, so a reader of main sees every table
 * old or every table new, never a mix. Each table's transaction is the
 * single-table fast-forward's: requirements "to is at its head, from is at
 * its head", then set-snapshot-ref. */

int kiln_lake_fast_forward_multi(kiln_lake_table *const *tables, size_t n, const char *to, const char *from, int *moved,
                                 kiln_err *err)
{
    if (moved)
        *moved = 0;
    if (!to || !*to)
        to = "main";
    if (!from || !*from || !strcmp(from, to))
        return kiln_err_set(err, KILN_EINVAL, "fast-forward needs a source branch other than %s", to);
    kiln_lake_txn **txns = kiln_calloc(n ? n : 1, sizeof *txns);
    kiln_lake_table **todo = kiln_calloc(n ? n : 1, sizeof *todo);
    if (!txns || !todo) {
        kiln_free(txns);
        kiln_free(todo);
        return KILN_OOM(err);
    }
    size_t k = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        kiln_lake_table *t = tables[i];
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        const kiln_lake_ref *fr = kiln_lake_meta_ref(m, from), *tr = kiln_lake_meta_ref(m, to);
        if (!fr || fr->type != KILN_LAKE_BRANCH) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "table %s has no branch %s", t->name, from);
            break;
        }
        if (tr && tr->type != KILN_LAKE_BRANCH) {
            rc = kiln_err_set(err, KILN_EINVAL, "table %s: %s is a tag, not a branch", t->name, to);
            break;
        }
        int64_t to_head = tr ? tr->snapshot_id : -1;
        if (to_head == fr->snapshot_id)
            continue; /* already there: nothing to commit for this table */
        if (to_head >= 0 && !kiln_lake_meta_is_ancestor(m, fr->snapshot_id, to_head)) {
            rc = kiln_err_set(err, KILN_ECONFLICT,
                              "cannot fast-forward %s of %s to %s: %s's head %" PRId64 " is not an ancestor of %" PRId64
                              " (the branches diverged)",
                              to, t->name, from, to, to_head, fr->snapshot_id);
            break;
        }
        kiln_lake_ref r = {to, KILN_LAKE_BRANCH, fr->snapshot_id, -1, -1, -1};
        if (tr) {
            r = *tr;
            r.snapshot_id = fr->snapshot_id;
        }
        if ((rc = kiln_lake_txn_begin(&txns[k], t, err)) != 0)
            break;
        todo[k] = t;
        k++;
        if ((rc = kiln_lake_txn_require_ref_snapshot(txns[k - 1], to, to_head, err)) != 0 ||
            (rc = kiln_lake_txn_require_ref_snapshot(txns[k - 1], from, fr->snapshot_id, err)) != 0 ||
            (rc = kiln_lake_txn_set_ref(txns[k - 1], &r, err)) != 0)
            break;
    }
    /* a lost race re-reads the tables and checks the requirements again:
     * a moved head is then a conflict; any other change is committed over */
    if (rc == 0 && k > 0)
        rc = kiln_lake_txn_commit_multi(todo, txns, NULL, k, 3, err);
    if (rc == 0 && moved)
        *moved = (int)k;
    for (size_t i = 0; i < k; i++)
        kiln_lake_txn_free(txns[i]);
    kiln_free(txns);
    kiln_free(todo);
    return rc;
}

/* ================================================================ views (the REST catalog's view endpoints)
 *
 * A view is a metadata JSON document (Iceberg's view spec, format-version
 * 1) written once under WAREHOUSE/ns/.views/NAME/metadata/ (".views" can
 * be no table's name) and named by a row of the catalog's kiln_views
 * table; a change writes a new document and moves the row with a
 * compare-and-swap, as a table commit does. The documents are built and
 * checked by the REST layer; here they are stored. */

static int view_db(kiln_lake_catalog *c, int write, kiln_err *err)
{
    if (c->kind != KILN_LAKE_CATALOG_SQLITE)
        return kiln_err_set(err, KILN_EUNSUPP, "views need the SQLite catalog");
    if (write && (c->mode == KILN_LAKE_OPEN_READONLY || !c->db))
        return kiln_err_set(err, KILN_EINVAL, "catalog %s is open read-only", c->warehouse);
    if (!c->db)
        return KILN_ENOTFOUND;
    if (write)
        return multi_exec(c,
                          "CREATE TABLE IF NOT EXISTS kiln_views (catalog_name TEXT NOT NULL, view_namespace TEXT "
                          "NOT NULL, view_name TEXT NOT NULL, metadata_location TEXT NOT NULL, PRIMARY KEY "
                          "(catalog_name, view_namespace, view_name))",
                          err);
    return 0;
}

/* The row's metadata location (caller frees), KILN_ENOTFOUND when none. */
static int view_row(kiln_lake_catalog *c, const char *ns, const char *name, char **loc, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    *loc = NULL;
    if (sqlite3_prepare_v2((sqlite3 *)c->db,
                           "SELECT metadata_location FROM kiln_views WHERE catalog_name=? AND view_namespace=? AND "
                           "view_name=?",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return KILN_ENOTFOUND; /* no kiln_views table: no view was ever created */
    }
    sqlite3_bind_text(st, 1, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
    int rc = KILN_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        rc = (*loc = kiln_strdup(v ? v : "")) ? 0 : KILN_OOM(err);
    }
    sqlite3_finalize(st);
    return rc;
}

static int table_row_exists(kiln_lake_catalog *c, const char *ns, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found = sqlite3_prepare_v2((sqlite3 *)c->db,
                                   "SELECT 1 FROM iceberg_tables WHERE catalog_name=? AND table_namespace=? AND "
                                   "table_name=?",
                                   -1, &st, NULL) == SQLITE_OK;
    if (found) {
        sqlite3_bind_text(st, 1, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

char *kiln_lake_view_location(kiln_lake_catalog *c, const char *name)
{
    char ns[129], v[129];
    if (kiln_lake_name_split(name, ns, v, &(kiln_err){0}) != 0)
        return NULL;
    char *dir = kiln_sprintf("%s/%s/.views/%s", c->warehouse, ns, v);
    char *uri = dir ? kiln_lake_path_to_uri(dir) : NULL;
    kiln_free(dir);
    return uri;
}

/* Write a new metadata document of the view; *loc gets its URI. */
static int view_write(kiln_lake_catalog *c, const char *ns, const char *v, int version, const char *json, char **loc,
                      kiln_err *err)
{
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    char *mdir = kiln_sprintf("%s/%s/.views/%s/metadata", c->warehouse, ns, v);
    char *path = mdir ? kiln_sprintf("%s/%05d-%s.metadata.json", mdir, version, uuid) : NULL;
    int rc = !path ? KILN_OOM(err) : kiln_lake__io_mkdirs(mdir, err);
    if (rc == 0)
        rc = kiln_lake__io_write_new(path, json, strlen(json), err);
    if (rc == 0 && !(*loc = kiln_lake_path_to_uri(path)))
        rc = KILN_OOM(err);
    kiln_free(mdir);
    kiln_free(path);
    return rc;
}

static int view_version_of(const char *loc)
{
    const char *b = loc ? strrchr(loc, '/') : NULL;
    return b ? atoi(b + 1) : 0;
}

int kiln_lake_view_list(kiln_lake_catalog *c, const char *ns, int (*fn)(void *ctx, const char *name), void *ctx,
                        kiln_err *err)
{
    int rc = view_db(c, 0, err);
    if (rc)
        return rc == KILN_ENOTFOUND ? 0 : rc;
    sqlite3_stmt *st = NULL;
    /* ns NULL: every namespace's, named "ns.view" */
    if (sqlite3_prepare_v2((sqlite3 *)c->db,
                           ns ? "SELECT view_name FROM kiln_views WHERE catalog_name=? AND view_namespace=? ORDER BY "
                                "view_name"
                              : "SELECT view_namespace || '.' || view_name FROM kiln_views WHERE catalog_name=? "
                                "ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_bind_text(st, 1, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
    if (ns)
        sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(ctx, (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc;
}

int kiln_lake_view_load(kiln_lake_catalog *c, const char *name, char **json, char **loc, kiln_err *err)
{
    char ns[129], v[129];
    size_t len = 0;
    *json = *loc = NULL;
    int rc = kiln_lake_name_split(name, ns, v, err);
    if (rc == 0 && (rc = view_db(c, 0, err)) == KILN_ENOTFOUND)
        return kiln_err_set(err, KILN_ENOTFOUND, "no view %s", name);
    if (rc == 0 && (rc = view_row(c, ns, v, loc, err)) == KILN_ENOTFOUND)
        return kiln_err_set(err, KILN_ENOTFOUND, "no view %s", name);
    if (rc == 0)
        rc = kiln_lake__io_read_all(*loc, KILN_LAKE_META_MAX_BYTES, json, &len, err);
    if (rc) {
        kiln_free(*loc);
        *loc = NULL;
    }
    return rc;
}

int kiln_lake_view_create(kiln_lake_catalog *c, const char *name, const char *json, char **loc, kiln_err *err)
{
    char ns[129], v[129], *cur = NULL;
    *loc = NULL;
    int rc = kiln_lake_name_split(name, ns, v, err);
    if (rc || (rc = view_db(c, 1, err)))
        return rc;
    if ((rc = view_write(c, ns, v, 1, json, loc, err)))
        return rc;
    if ((rc = multi_exec(c, "BEGIN IMMEDIATE", err)))
        goto done;
    if (view_row(c, ns, v, &cur, err) == 0)
        rc = kiln_err_set(err, KILN_EEXIST, "view %s already exists", name);
    else if (table_row_exists(c, ns, v))
        rc = kiln_err_set(err, KILN_EEXIST, "a table named %s exists", name);
    if (rc == 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2((sqlite3 *)c->db, "INSERT INTO kiln_views VALUES (?, ?, ?, ?)", -1, &st, NULL) !=
            SQLITE_OK)
            rc = multi_db_err(c, err, "prepare");
        else {
            sqlite3_bind_text(st, 1, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, *loc, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = multi_db_err(c, err, "insert view");
        }
        sqlite3_finalize(st);
    }
    rc = rc ? rc : multi_exec(c, "COMMIT", err);
    if (rc)
        multi_exec(c, "ROLLBACK", &(kiln_err){0});
done:
    if (rc) {
        kiln_lake__io_remove(*loc, &(kiln_err){0});
        kiln_free(*loc);
        *loc = NULL;
    }
    kiln_free(cur);
    return rc;
}

int kiln_lake_view_commit(kiln_lake_catalog *c, const char *name, const char *expected, const char *json, char **loc,
                          kiln_err *err)
{
    char ns[129], v[129];
    *loc = NULL;
    int rc = kiln_lake_name_split(name, ns, v, err);
    if (rc || (rc = view_db(c, 1, err)))
        return rc;
    if ((rc = view_write(c, ns, v, view_version_of(expected) + 1, json, loc, err)))
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2((sqlite3 *)c->db,
                           "UPDATE kiln_views SET metadata_location=? WHERE catalog_name=? AND view_namespace=? AND "
                           "view_name=? AND metadata_location=?",
                           -1, &st, NULL) != SQLITE_OK)
        rc = multi_db_err(c, err, "prepare");
    else {
        sqlite3_bind_text(st, 1, *loc, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, v, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, expected, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = multi_db_err(c, err, "update view");
        else if (sqlite3_changes((sqlite3 *)c->db) != 1)
            rc = kiln_err_set(err, KILN_ECONFLICT, "view %s was changed or dropped by another commit", name);
    }
    sqlite3_finalize(st);
    if (rc) {
        kiln_lake__io_remove(*loc, &(kiln_err){0});
        kiln_free(*loc);
        *loc = NULL;
    }
    return rc;
}

int kiln_lake_view_drop(kiln_lake_catalog *c, const char *name, kiln_err *err)
{
    char ns[129], v[129];
    int rc = kiln_lake_name_split(name, ns, v, err);
    if (rc || (rc = view_db(c, 1, err)))
        return rc;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2((sqlite3 *)c->db,
                           "DELETE FROM kiln_views WHERE catalog_name=? AND view_namespace=? AND view_name=?", -1, &st,
                           NULL) != SQLITE_OK)
        rc = multi_db_err(c, err, "prepare");
    else {
        sqlite3_bind_text(st, 1, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, v, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = multi_db_err(c, err, "drop view");
        else if (sqlite3_changes((sqlite3 *)c->db) != 1)
            rc = kiln_err_set(err, KILN_ENOTFOUND, "no view %s", name);
    }
    sqlite3_finalize(st);
    return rc;
}

int kiln_lake_view_rename(kiln_lake_catalog *c, const char *from, const char *to, kiln_err *err)
{
    char fns[129], fv[129], tns[129], tv[129], *cur = NULL;
    int rc = kiln_lake_name_split(from, fns, fv, err);
    if (rc || (rc = kiln_lake_name_split(to, tns, tv, err)) || (rc = view_db(c, 1, err)))
        return rc;
    if ((rc = multi_exec(c, "BEGIN IMMEDIATE", err)))
        return rc;
    if (view_row(c, fns, fv, &cur, err) != 0)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "no view %s", from);
    else if (kiln_free(cur), cur = NULL, view_row(c, tns, tv, &cur, err) == 0 || table_row_exists(c, tns, tv))
        rc = kiln_err_set(err, KILN_EEXIST, "%s already exists", to);
    if (rc == 0) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2((sqlite3 *)c->db,
                               "UPDATE kiln_views SET view_namespace=?, view_name=? WHERE catalog_name=? AND "
                               "view_namespace=? AND view_name=?",
                               -1, &st, NULL) != SQLITE_OK)
            rc = multi_db_err(c, err, "prepare");
        else {
            sqlite3_bind_text(st, 1, tns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, tv, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, MULTI_CATALOG_NAME, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, fns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, fv, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = multi_db_err(c, err, "rename view");
        }
        sqlite3_finalize(st);
    }
    kiln_free(cur);
    rc = rc ? rc : multi_exec(c, "COMMIT", err);
    if (rc)
        multi_exec(c, "ROLLBACK", &(kiln_err){0});
    return rc;
}

int kiln_lake_view_exists(kiln_lake_catalog *c, const char *name)
{
    char ns[129], v[129], *cur = NULL;
    if (kiln_lake_name_split(name, ns, v, &(kiln_err){0}) || view_db(c, 0, &(kiln_err){0}))
        return 0;
    int found = view_row(c, ns, v, &cur, &(kiln_err){0}) == 0;
    kiln_free(cur);
    return found;
}
