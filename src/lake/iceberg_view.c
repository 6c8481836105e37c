/*
 * iceberg_view.c - Iceberg view metadata documents (view spec,
 * format-version 1): building a new document, applying a CommitViewRequest's
 * requirements and updates to one (the REST catalog's view endpoints), and
 * a view defined by SQL text (kiln SQL's CREATE VIEW, a dbt `view` model):
 * created, or replaced by a new version and schema, each change a new
 * document swapped in by kiln_lake_view_commit's compare-and-swap; and the
 * current version's SQL and columns read back. Storage (the documents under
 * WAREHOUSE/ns/.views/, the catalog's kiln_views rows) is iceberg_multi.c's.
 */
#include "lake/lake.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A ViewVersion as the spec requires it: version-id, timestamp-ms,
 * schema-id integers, summary object, representations (at least one
 * {type:"sql", sql, dialect}), default-namespace array. */
static int check_view_version(json_t *v, kiln_err *err)
{
    json_t *reps = json_object_get(v, "representations"), *r;
    size_t i;
    if (!json_is_object(v) || !json_is_integer(json_object_get(v, "version-id")) ||
        !json_is_integer(json_object_get(v, "schema-id")) || !json_is_array(reps) || !json_array_size(reps) ||
        !json_is_array(json_object_get(v, "default-namespace")))
        return kiln_err_set(err, KILN_EINVAL,
                            "view-version needs version-id, schema-id, representations and default-namespace");
    json_array_foreach(reps, i, r)
    {
        const char *t = json_string_value(json_object_get(r, "type"));
        if (!t || strcmp(t, "sql") || !json_is_string(json_object_get(r, "sql")) ||
            !json_is_string(json_object_get(r, "dialect")))
            return kiln_err_set(err, KILN_EINVAL, "view representation %zu must be {type: sql, sql, dialect}", i);
    }
    if (!json_is_integer(json_object_get(v, "timestamp-ms")))
        json_object_set_new(v, "timestamp-ms", json_integer(kiln_now_micros() / 1000));
    if (!json_is_object(json_object_get(v, "summary")))
        json_object_set_new(v, "summary", json_object());
    return 0;
}

static int check_view_schema(json_t *s, kiln_err *err)
{
    const char *t = json_string_value(json_object_get(s, "type"));
    if (!json_is_object(s) || !t || strcmp(t, "struct") || !json_is_array(json_object_get(s, "fields")))
        return kiln_err_set(err, KILN_EINVAL, "a view schema must be a struct with fields");
    if (!json_is_integer(json_object_get(s, "schema-id")))
        json_object_set_new(s, "schema-id", json_integer(0));
    return 0;
}

static json_int_t max_id(json_t *arr, const char *key)
{
    json_int_t m = -1;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) if (json_integer_value(json_object_get(o, key)) > m) m =
        json_integer_value(json_object_get(o, key));
    return m;
}

static int has_id(json_t *arr, const char *key, json_int_t id)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) if (json_integer_value(json_object_get(o, key)) == id) return 1;
    return 0;
}

static void view_set_current(json_t *m, json_int_t vid)
{
    if (json_integer_value(json_object_get(m, "current-version-id")) == vid &&
        json_array_size(json_object_get(m, "version-log")))
        return;
    json_object_set_new(m, "current-version-id", json_integer(vid));
    json_array_append_new(
        json_object_get(m, "version-log"),
        json_pack("{s:I,s:I}", "timestamp-ms", (json_int_t)(kiln_now_micros() / 1000), "version-id", vid));
}

/* Apply a CommitViewRequest's requirements and updates to metadata m. */
int kiln_lake_view_doc_apply(json_t *m, json_t *reqs, json_t *ups, const char *where, kiln_err *err)
{
    size_t i;
    json_t *r, *u;
    json_array_foreach(reqs, i, r)
    {
        const char *t = json_string_value(json_object_get(r, "type"));
        if (!t || strcmp(t, "assert-view-uuid"))
            return kiln_err_set(err, KILN_EINVAL, "view requirement %s is not assert-view-uuid", t ? t : "?");
        const char *want = json_string_value(json_object_get(r, "uuid"));
        if (!want || strcasecmp(want, json_string_value(json_object_get(m, "view-uuid"))))
            return kiln_err_set(err, KILN_ECONFLICT, "assert-view-uuid failed: the view's uuid is %s",
                                json_string_value(json_object_get(m, "view-uuid")));
    }
    json_int_t last_schema = -1, last_version = -1;
    json_array_foreach(ups, i, u)
    {
        const char *a = json_string_value(json_object_get(u, "action"));
        if (!a)
            return kiln_err_set(err, KILN_EINVAL, "a view update needs \"action\"");
        if (!strcmp(a, "assign-uuid")) {
            const char *want = json_string_value(json_object_get(u, "uuid"));
            if (!want || strcasecmp(want, json_string_value(json_object_get(m, "view-uuid"))))
                return kiln_err_set(err, KILN_ECONFLICT, "assign-uuid: a view's uuid never changes");
        } else if (!strcmp(a, "upgrade-format-version")) {
            if (json_integer_value(json_object_get(u, "format-version")) != 1)
                return kiln_err_set(err, KILN_EUNSUPP, "view format-version must be 1");
        } else if (!strcmp(a, "set-location")) {
            const char *l = json_string_value(json_object_get(u, "location"));
            if (!l || (strcmp(l, where) && strcmp(l, where + 7)))
                return kiln_err_set(err, KILN_EUNSUPP, "set-location: kiln keeps the view at %s", where);
        } else if (!strcmp(a, "set-properties") || !strcmp(a, "remove-properties")) {
            json_t *props = json_object_get(m, "properties");
            if (a[0] == 's') {
                json_t *upd = json_object_get(u, "updates"), *v;
                const char *k;
                if (!json_is_object(upd))
                    return kiln_err_set(err, KILN_EINVAL, "set-properties needs \"updates\"");
                json_object_foreach(upd, k, v)
                {
                    if (!json_is_string(v))
                        return kiln_err_set(err, KILN_EINVAL, "property %s must be a string", k);
                    json_object_set(props, k, v);
                }
            } else {
                json_t *rm = json_object_get(u, "removals"), *k;
                size_t x;
                if (!json_is_array(rm))
                    return kiln_err_set(err, KILN_EINVAL, "remove-properties needs \"removals\"");
                json_array_foreach(rm, x, k) if (json_is_string(k)) json_object_del(props, json_string_value(k));
            }
        } else if (!strcmp(a, "add-schema")) {
            json_t *s = json_deep_copy(json_object_get(u, "schema"));
            if (check_view_schema(s, err)) {
                json_decref(s);
                return err->code;
            }
            json_t *schemas = json_object_get(m, "schemas");
            json_int_t id = json_integer_value(json_object_get(s, "schema-id"));
            if (has_id(schemas, "schema-id", id))
                json_object_set_new(s, "schema-id", json_integer(id = max_id(schemas, "schema-id") + 1));
            json_array_append_new(schemas, s);
            last_schema = id;
        } else if (!strcmp(a, "add-view-version")) {
            json_t *v = json_deep_copy(json_object_get(u, "view-version"));
            if (check_view_version(v, err)) {
                json_decref(v);
                return err->code;
            }
            json_int_t sid = json_integer_value(json_object_get(v, "schema-id"));
            if (sid == -1 && (sid = last_schema) < 0) {
                json_decref(v);
                return kiln_err_set(err, KILN_EINVAL, "add-view-version: schema-id -1 but no schema was added");
            }
            if (!has_id(json_object_get(m, "schemas"), "schema-id", sid)) {
                json_decref(v);
                return kiln_err_set(err, KILN_EINVAL, "add-view-version: the view has no schema %lld", (long long)sid);
            }
            json_object_set_new(v, "schema-id", json_integer(sid));
            last_version = max_id(json_object_get(m, "versions"), "version-id") + 1;
            json_object_set_new(v, "version-id", json_integer(last_version));
            json_array_append_new(json_object_get(m, "versions"), v);
        } else if (!strcmp(a, "set-current-view-version")) {
            json_t *v = json_object_get(u, "view-version-id");
            json_int_t id = json_is_integer(v) ? json_integer_value(v) : -2;
            if (id == -1)
                id = last_version;
            if (id < 0 || !has_id(json_object_get(m, "versions"), "version-id", id))
                return kiln_err_set(err, KILN_EINVAL, "set-current-view-version: no version %lld", (long long)id);
            view_set_current(m, id);
        } else {
            return kiln_err_set(err, KILN_EUNSUPP, "view update action \"%s\" is not supported", a);
        }
    }
    return 0;
}

json_t *kiln_lake_view_doc_new(json_t *schema, json_t *ver, json_t *props, const char *where, kiln_err *err)
{
    if (check_view_schema(schema, err) || check_view_version(ver, err))
        return NULL;
    /* the version refers to the schema it was created with */
    json_object_set(ver, "schema-id", json_object_get(schema, "schema-id"));
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    json_t *m =
        json_pack("{s:s,s:i,s:s,s:O,s:[O],s:[],s:[O],s:o}", "view-uuid", uuid, "format-version", 1, "location", where,
                  "current-version-id", json_object_get(ver, "version-id"), "versions", ver, "version-log", "schemas",
                  schema, "properties", json_is_object(props) ? json_incref(props) : json_object());
    if (!m) {
        KILN_OOM(err);
        return NULL;
    }
    view_set_current(m, json_integer_value(json_object_get(ver, "version-id")));
    return m;
}

/* The schema of a view defined by SQL: {type: struct, fields: [...]} with
 * optional (nullable) fields numbered from 1. */
static json_t *sql_schema(const char *const *cols, const char *const *types, int ncols)
{
    json_t *fields = json_array();
    for (int i = 0; fields && i < ncols; i++)
        if (json_array_append_new(fields, json_pack("{s:i,s:s,s:b,s:s}", "id", i + 1, "name", cols[i], "required", 0,
                                                    "type", types[i])) != 0) {
            json_decref(fields);
            return NULL;
        }
    return fields ? json_pack("{s:s,s:i,s:o}", "type", "struct", "schema-id", 0, "fields", fields) : NULL;
}

static json_t *sql_version(const char *name, const char *sql, const char *dialect)
{
    char ns[129], v[129];
    if (kiln_lake_name_split(name, ns, v, &(kiln_err){0}))
        return NULL;
    return json_pack("{s:i,s:I,s:i,s:{s:s,s:s},s:[{s:s,s:s,s:s}],s:[s]}", "version-id", 1, "timestamp-ms",
                     (json_int_t)(kiln_now_micros() / 1000), "schema-id", 0, "summary", "engine-name", "kiln",
                     "operation", "create", "representations", "type", "sql", "sql", sql, "dialect", dialect,
                     "default-namespace", ns);
}

int kiln_lake_view_update(kiln_lake_catalog *c, const char *name, json_t *reqs, json_t *ups, char **text, char **loc,
                          kiln_err *err)
{
    int rc = 0;
    char *where = kiln_lake_view_location(c, name), *json = NULL, *cur = NULL;
    json_t *m = NULL;
    *text = NULL;
    *loc = NULL;
    if (!where)
        return kiln_err_set(err, KILN_EINVAL, "bad view name '%s'", name);
    for (int attempt = 0; attempt < 10; attempt++) { /* a lost race: again on the newer document */
        kiln_free(json);
        kiln_free(cur);
        free(*text);
        json_decref(m);
        json = cur = *text = NULL;
        m = NULL;
        *err = (kiln_err){0};
        if ((rc = kiln_lake_view_load(c, name, &json, &cur, err)))
            break;
        if (!(m = json_loads(json, 0, NULL)) || !json_is_object(m)) {
            rc = kiln_err_set(err, KILN_EFORMAT, "view %s: %s is not a JSON object", name, cur);
            break;
        }
        if ((rc = kiln_lake_view_doc_apply(m, reqs, ups, where, err)))
            break;
        if (!(*text = json_dumps(m, JSON_COMPACT))) {
            rc = KILN_OOM(err);
            break;
        }
        if ((rc = kiln_lake_view_commit(c, name, cur, *text, loc, err)) != KILN_ECONFLICT)
            break;
    }
    if (rc) {
        free(*text);
        *text = NULL;
    }
    json_decref(m);
    kiln_free(json);
    kiln_free(cur);
    kiln_free(where);
    return rc;
}

int kiln_lake_view_define(kiln_lake_catalog *c, const char *name, const char *sql, const char *dialect,
                          const char *const *cols, const char *const *types, int ncols, int replace, kiln_err *err)
{
    int rc = 0;
    char *where = kiln_lake_view_location(c, name), *text = NULL, *nloc = NULL;
    json_t *m = NULL, *schema = sql_schema(cols, types, ncols), *ver = sql_version(name, sql, dialect);
    if (!where || !schema || !ver) {
        rc = where ? KILN_OOM(err) : kiln_err_set(err, KILN_EINVAL, "bad view name '%s'", name);
        goto done;
    }
    for (int attempt = 0; attempt < 10; attempt++) { /* created by another writer meanwhile: replace it */
        if (!kiln_lake_view_exists(c, name)) {
            free(text);
            kiln_free(nloc);
            json_decref(m);
            text = NULL;
            nloc = NULL;
            if (!(m = kiln_lake_view_doc_new(schema, ver, NULL, where, err))) {
                rc = err->code ? err->code : KILN_OOM(err);
                break;
            }
            if (!(text = json_dumps(m, JSON_COMPACT))) {
                rc = KILN_OOM(err);
                break;
            }
            rc = kiln_lake_view_create(c, name, text, &nloc, err);
            if (rc == KILN_EEXIST && replace && kiln_lake_view_exists(c, name)) {
                *err = (kiln_err){0};
                continue;
            }
            break;
        }
        if (!replace) {
            rc = kiln_err_set(err, KILN_EEXIST, "view %s already exists", name);
            break;
        }
        /* CREATE OR REPLACE: a new schema and version, made current (what
         * an engine's REST client sends) */
        json_object_set_new(json_object_get(ver, "summary"), "operation", json_string("replace"));
        json_object_set_new(ver, "schema-id", json_integer(-1)); /* the schema added just before */
        json_t *ups = json_pack("[{s:s,s:O},{s:s,s:O},{s:s,s:i}]", "action", "add-schema", "schema", schema, "action",
                                "add-view-version", "view-version", ver, "action", "set-current-view-version",
                                "view-version-id", -1);
        json_t *reqs = json_array();
        free(text);
        kiln_free(nloc);
        text = NULL;
        nloc = NULL;
        rc = !ups || !reqs ? KILN_OOM(err) : kiln_lake_view_update(c, name, reqs, ups, &text, &nloc, err);
        json_decref(ups);
        json_decref(reqs);
        break;
    }
done:
    json_decref(m);
    json_decref(schema);
    json_decref(ver);
    kiln_free(nloc);
    kiln_free(where);
    free(text);
    return rc;
}

void kiln_lake_view_def_free(kiln_lake_view_def *d)
{
    for (int i = 0; i < d->ncols; i++) {
        kiln_free(d->cols[i]);
        kiln_free(d->types[i]);
    }
    kiln_free(d->cols);
    kiln_free(d->types);
    kiln_free(d->sql);
    kiln_free(d->loc);
    memset(d, 0, sizeof *d);
}

static json_t *by_id(json_t *arr, const char *key, json_int_t id)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) if (json_integer_value(json_object_get(o, key)) == id) return o;
    return NULL;
}

int kiln_lake_view_def_load(kiln_lake_catalog *c, const char *name, const char *dialect, kiln_lake_view_def *out,
                            kiln_err *err)
{
    char *json = NULL;
    memset(out, 0, sizeof *out);
    int rc = kiln_lake_view_load(c, name, &json, &out->loc, err);
    if (rc)
        return rc;
    json_t *m = json_loads(json, 0, NULL);
    kiln_free(json);
    json_t *ver = m ? by_id(json_object_get(m, "versions"), "version-id",
                            json_integer_value(json_object_get(m, "current-version-id")))
                    : NULL;
    json_t *schema =
        ver ? by_id(json_object_get(m, "schemas"), "schema-id", json_integer_value(json_object_get(ver, "schema-id")))
            : NULL;
    json_t *fields = json_object_get(schema, "fields"), *r, *f;
    if (!ver || !json_is_array(fields)) {
        rc = kiln_err_set(err, KILN_EFORMAT, "view %s: %s has no current version with a schema", name, out->loc);
        goto done;
    }
    size_t i;
    json_array_foreach(json_object_get(ver, "representations"), i, r)
    {
        const char *d = json_string_value(json_object_get(r, "dialect"));
        const char *s = json_string_value(json_object_get(r, "sql"));
        if (d && s && !strcasecmp(d, dialect) && !out->sql && !(out->sql = kiln_strdup(s))) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    if (!out->sql) {
        rc = kiln_err_set(err, KILN_EUNSUPP, "view %s has no SQL in kiln's dialect (%s)", name, dialect);
        goto done;
    }
    size_t n = json_array_size(fields);
    out->cols = kiln_calloc(n + 1, sizeof *out->cols);
    out->types = kiln_calloc(n + 1, sizeof *out->types);
    if (!out->cols || !out->types) {
        rc = KILN_OOM(err);
        goto done;
    }
    json_array_foreach(fields, i, f)
    {
        const char *nm = json_string_value(json_object_get(f, "name"));
        json_t *t = json_object_get(f, "type");
        /* a nested type (an object) reads as JSON text, as a table's does */
        out->cols[i] = kiln_strdup(nm ? nm : "");
        out->types[i] = kiln_strdup(json_is_string(t) ? json_string_value(t) : "json");
        out->ncols++;
        if (!out->cols[i] || !out->types[i]) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
done:
    json_decref(m);
    if (rc)
        kiln_lake_view_def_free(out);
    return rc;
}
