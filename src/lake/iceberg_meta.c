/*
 * iceberg_meta.c - Iceberg table metadata JSON (spec "Table Metadata",
 * App. C): parse v1/v2 into kiln_lake_meta, serialize as v2, lookups, time
 * travel resolution, partition transforms on values, ids.
 *
 * How it works: jansson parses the file; every piece is copied into structs
 * allocated in the meta's arena (so one free releases all). Keys kiln does
 * not know are gathered per object (table, snapshot, schema, field) into a
 * compact JSON text and merged back on write, so a file written by a newer
 * engine keeps its extra fields through a kiln commit. Writing emits the
 * fields Java writes (current-snapshot-id -1 when none, empty refs/logs), so
 * a Spark-written file round-trips to an equal JSON value.
 */
#include "lake/lake_io.h"
#include "lake/lake_data_int.h"
#include "lake/lake_meta_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ arena helpers */

int kiln_lake__meta_new(kiln_lake_meta **out, kiln_err *err)
{
    *out = NULL;
    kiln_lake_meta *m = kiln_calloc(1, sizeof(*m));
    struct kiln_lake_meta_priv *p = kiln_calloc(1, sizeof(*p));
    kiln_arena *a = kiln_arena_new(16384);
    if (!m || !p || !a) {
        kiln_free(m);
        kiln_free(p);
        kiln_arena_free(a);
        return KILN_OOM(err);
    }
    p->arena = a;
    m->priv = p;
    m->format_version = 2;
    m->current_snapshot_id = -1;
    m->last_partition_id = 999;
    *out = m;
    return 0;
}

void kiln_lake_meta_free(kiln_lake_meta *m)
{
    if (!m)
        return;
    if (m->priv) {
        kiln_arena_free(m->priv->arena);
        kiln_free(m->priv);
    }
    kiln_free(m);
}

void *kiln_lake__alloc(kiln_lake_meta *m, size_t n)
{
    void *p = kiln_arena_alloc(m->priv->arena, n ? n : 1);
    if (p)
        memset(p, 0, n ? n : 1);
    return p;
}

char *kiln_lake__strdup(kiln_lake_meta *m, const char *s)
{
    if (!s)
        return NULL;
    return kiln_arena_strndup(m->priv->arena, s, strlen(s));
}

void *kiln_lake__grow(kiln_lake_meta *m, const void *items, size_t n, size_t elem)
{
    char *p = kiln_lake__alloc(m, (n + 1) * elem);
    if (p && n)
        memcpy(p, items, n * elem);
    return p;
}

/* ------------------------------------------------------------ JSON helpers */

static int get_i64(json_t *o, const char *key, int64_t *out, int required, kiln_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: missing required field \"%s\"", key);
        return 1;
    }
    if (!json_is_integer(v))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: field \"%s\" must be an integer", key);
    *out = json_integer_value(v);
    return 0;
}

static int get_i32(json_t *o, const char *key, int32_t *out, int required, kiln_err *err)
{
    int64_t v = 0;
    int rc = get_i64(o, key, &v, required, err);
    if (rc != 0)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: field \"%s\" out of int range", key);
    *out = (int32_t)v;
    return 0;
}

static int get_str(kiln_lake_meta *m, json_t *o, const char *key, const char **out, int required, kiln_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: missing required field \"%s\"", key);
        *out = NULL;
        return 1;
    }
    if (!json_is_string(v))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: field \"%s\" must be a string", key);
    *out = kiln_arena_strndup(m->priv->arena, json_string_value(v), json_string_length(v));
    return *out ? 0 : KILN_OOM(err);
}

/* Gather keys of o not in known[] into compact JSON text (NULL if none). */
static int collect_extra(kiln_lake_meta *m, json_t *o, const char *const *known, const char **out, kiln_err *err)
{
    *out = NULL;
    json_t *extra = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        int is_known = 0;
        for (size_t i = 0; known[i]; i++)
            if (strcmp(known[i], k) == 0) {
                is_known = 1;
                break;
            }
        if (is_known)
            continue;
        if (!extra && !(extra = json_object()))
            return KILN_OOM(err);
        json_object_set(extra, k, v);
    }
    if (!extra)
        return 0;
    char *s = json_dumps(extra, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(extra);
    if (!s)
        return KILN_OOM(err);
    *out = kiln_lake__strdup(m, s);
    free(s);
    return *out ? 0 : KILN_OOM(err);
}

static void merge_extra(json_t *o, const char *extra_json)
{
    if (!extra_json)
        return;
    json_t *e = json_loads(extra_json, 0, NULL);
    if (e && json_is_object(e)) {
        const char *k;
        json_t *v;
        json_object_foreach(e, k, v)
        {
            if (!json_object_get(o, k))
                json_object_set(o, k, v);
        }
    }
    json_decref(e);
}

static int kv_from_json(kiln_lake_meta *m, json_t *o, const char *what, const kiln_lake_kv **out, size_t *nout,
                        kiln_err *err)
{
    *out = NULL;
    *nout = 0;
    if (!o || json_is_null(o))
        return 0;
    if (!json_is_object(o))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: \"%s\" must be an object", what);
    size_t n = json_object_size(o), i = 0;
    kiln_lake_kv *kv = kiln_lake__alloc(m, n * sizeof(*kv));
    if (!kv)
        return KILN_OOM(err);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        kv[i].key = kiln_lake__strdup(m, k);
        if (json_is_string(v))
            kv[i].value = kiln_lake__strdup(m, json_string_value(v));
        else {
            /* Some writers put numbers in summaries; keep their text. */
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!s)
                return KILN_OOM(err);
            kv[i].value = kiln_lake__strdup(m, s);
            free(s);
        }
        if (!kv[i].key || !kv[i].value)
            return KILN_OOM(err);
        i++;
    }
    *out = kv;
    *nout = n;
    return 0;
}

static json_t *kv_to_json(const kiln_lake_kv *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value));
    return o;
}

/* ------------------------------------------------------------ types */

int kiln_lake_type_parse_primitive(kiln_lake_type *out, const char *s, kiln_err *err)
{
    static const struct {
        const char *name;
        kiln_lake_kind kind;
    } prims[] = {{"boolean", KILN_LAKE_BOOLEAN},
                 {"int", KILN_LAKE_INT},
                 {"long", KILN_LAKE_LONG},
                 {"float", KILN_LAKE_FLOAT},
                 {"double", KILN_LAKE_DOUBLE},
                 {"date", KILN_LAKE_DATE},
                 {"time", KILN_LAKE_TIME},
                 {"timestamp", KILN_LAKE_TIMESTAMP},
                 {"timestamptz", KILN_LAKE_TIMESTAMPTZ},
                 {"timestamp_ns", KILN_LAKE_TIMESTAMP_NS},
                 {"timestamptz_ns", KILN_LAKE_TIMESTAMPTZ_NS},
                 {"string", KILN_LAKE_STRING},
                 {"uuid", KILN_LAKE_UUID},
                 {"binary", KILN_LAKE_BINARY}};
    memset(out, 0, sizeof(*out));
    out->name = s;
    for (size_t i = 0; i < sizeof(prims) / sizeof(prims[0]); i++)
        if (strcmp(s, prims[i].name) == 0) {
            out->kind = prims[i].kind;
            return 0;
        }
    if (strncmp(s, "decimal(", 8) == 0) {
        char *end;
        errno = 0;
        long p = strtol(s + 8, &end, 10);
        while (*end == ' ')
            end++;
        if (*end != ',')
            goto bad;
        long sc = strtol(end + 1, &end, 10);
        while (*end == ' ')
            end++;
        if (*end != ')' || end[1] || p < 1 || p > 38 || sc < 0 || sc > p)
            goto bad;
        out->kind = KILN_LAKE_DECIMAL;
        out->precision = (int32_t)p;
        out->scale = (int32_t)sc;
        return 0;
    }
    if (strncmp(s, "fixed[", 6) == 0) {
        char *end;
        long len = strtol(s + 6, &end, 10);
        if (*end != ']' || end[1] || len < 1 || len > (1 << 24))
            goto bad;
        out->kind = KILN_LAKE_FIXED;
        out->length = (int32_t)len;
        return 0;
    }
    /* Unknown primitive (e.g. a v3 type): kept by name. */
    out->kind = KILN_LAKE_UNKNOWN;
    return 0;
bad:
    return kiln_err_set(err, KILN_EFORMAT, "bad type \"%s\" (expected e.g. decimal(9, 2) or fixed[16])", s);
}

int kiln_lake_type_can_promote(const kiln_lake_type *from, const kiln_lake_type *to)
{
    if (from->kind == to->kind) {
        if (from->kind == KILN_LAKE_DECIMAL)
            return to->scale == from->scale && to->precision >= from->precision;
        if (from->kind == KILN_LAKE_FIXED)
            return to->length == from->length;
        if (from->kind == KILN_LAKE_UNKNOWN)
            return strcmp(from->name, to->name) == 0;
        return from->kind != KILN_LAKE_STRUCT && from->kind != KILN_LAKE_LIST && from->kind != KILN_LAKE_MAP;
    }
    return (from->kind == KILN_LAKE_INT && to->kind == KILN_LAKE_LONG) ||
           (from->kind == KILN_LAKE_FLOAT && to->kind == KILN_LAKE_DOUBLE);
}

static const char *const FIELD_KEYS[] = {"id", "name", "required", "type", "doc", NULL};

static int field_from_json(kiln_lake_meta *m, json_t *j, kiln_lake_field *f, int depth, kiln_err *err)
{
    if (!json_is_object(j))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: struct field must be an object");
    int rc;
    if ((rc = get_i32(j, "id", &f->id, 1, err)) != 0)
        return rc;
    if ((rc = get_str(m, j, "name", &f->name, 1, err)) != 0)
        return rc;
    json_t *req = json_object_get(j, "required");
    if (!json_is_boolean(req))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: field %d \"%s\": \"required\" must be a boolean", f->id,
                            f->name);
    f->required = json_is_true(req);
    if ((rc = get_str(m, j, "doc", &f->doc, 0, err)) < 0)
        return rc;
    if ((rc = kiln_lake__type_from_json(m, json_object_get(j, "type"), &f->type, depth + 1, err)) != 0)
        return kiln_err_prefix(err, "field %d \"%s\": ", f->id, f->name);
    return collect_extra(m, j, FIELD_KEYS, &f->extra_json, err);
}

int kiln_lake__type_from_json(kiln_lake_meta *m, json_t *j, const kiln_lake_type **out, int depth, kiln_err *err)
{
    if (depth > KILN_LAKE_MAX_DEPTH)
        return kiln_err_set(err, KILN_ELIMIT, "table metadata: types nested deeper than %d", KILN_LAKE_MAX_DEPTH);
    kiln_lake_type *t = kiln_lake__alloc(m, sizeof(*t));
    if (!t)
        return KILN_OOM(err);
    int rc;
    if (json_is_string(j)) {
        const char *name = kiln_lake__strdup(m, json_string_value(j));
        if (!name)
            return KILN_OOM(err);
        if ((rc = kiln_lake_type_parse_primitive(t, name, err)) != 0)
            return rc;
        *out = t;
        return 0;
    }
    if (!json_is_object(j))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: a type must be a string or an object");
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: nested type without \"type\"");
    if (strcmp(type, "struct") == 0) {
        json_t *fields = json_object_get(j, "fields");
        if (!json_is_array(fields))
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: struct without \"fields\" array");
        t->kind = KILN_LAKE_STRUCT;
        t->name = "struct";
        t->nfields = json_array_size(fields);
        kiln_lake_field *fs = kiln_lake__alloc(m, t->nfields * sizeof(*fs));
        if (!fs)
            return KILN_OOM(err);
        for (size_t i = 0; i < t->nfields; i++)
            if ((rc = field_from_json(m, json_array_get(fields, i), &fs[i], depth, err)) != 0)
                return rc;
        t->fields = fs;
    } else if (strcmp(type, "list") == 0) {
        t->kind = KILN_LAKE_LIST;
        t->name = "list";
        if ((rc = get_i32(j, "element-id", &t->element_id, 1, err)) != 0)
            return rc;
        json_t *r = json_object_get(j, "element-required");
        if (!json_is_boolean(r))
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: list needs boolean \"element-required\"");
        t->element_required = json_is_true(r);
        if ((rc = kiln_lake__type_from_json(m, json_object_get(j, "element"), &t->element, depth + 1, err)) != 0)
            return rc;
    } else if (strcmp(type, "map") == 0) {
        t->kind = KILN_LAKE_MAP;
        t->name = "map";
        if ((rc = get_i32(j, "key-id", &t->key_id, 1, err)) != 0 ||
            (rc = get_i32(j, "value-id", &t->value_id, 1, err)) != 0)
            return rc;
        json_t *r = json_object_get(j, "value-required");
        if (!json_is_boolean(r))
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: map needs boolean \"value-required\"");
        t->value_required = json_is_true(r);
        if ((rc = kiln_lake__type_from_json(m, json_object_get(j, "key"), &t->key, depth + 1, err)) != 0 ||
            (rc = kiln_lake__type_from_json(m, json_object_get(j, "value"), &t->value, depth + 1, err)) != 0)
            return rc;
    } else {
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: unknown nested type \"%s\"", type);
    }
    *out = t;
    return 0;
}

static json_t *field_to_json(const kiln_lake_field *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(f->id));
    json_object_set_new(o, "name", json_string(f->name));
    json_object_set_new(o, "required", json_boolean(f->required));
    json_object_set_new(o, "type", kiln_lake__type_to_json(f->type));
    if (f->doc)
        json_object_set_new(o, "doc", json_string(f->doc));
    merge_extra(o, f->extra_json);
    return o;
}

json_t *kiln_lake__type_to_json(const kiln_lake_type *t)
{
    json_t *o;
    switch (t->kind) {
    case KILN_LAKE_STRUCT: {
        o = json_object();
        json_object_set_new(o, "type", json_string("struct"));
        json_t *fs = json_array();
        for (size_t i = 0; i < t->nfields; i++)
            json_array_append_new(fs, field_to_json(&t->fields[i]));
        json_object_set_new(o, "fields", fs);
        return o;
    }
    case KILN_LAKE_LIST:
        o = json_object();
        json_object_set_new(o, "type", json_string("list"));
        json_object_set_new(o, "element-id", json_integer(t->element_id));
        json_object_set_new(o, "element", kiln_lake__type_to_json(t->element));
        json_object_set_new(o, "element-required", json_boolean(t->element_required));
        return o;
    case KILN_LAKE_MAP:
        o = json_object();
        json_object_set_new(o, "type", json_string("map"));
        json_object_set_new(o, "key-id", json_integer(t->key_id));
        json_object_set_new(o, "key", kiln_lake__type_to_json(t->key));
        json_object_set_new(o, "value-id", json_integer(t->value_id));
        json_object_set_new(o, "value", kiln_lake__type_to_json(t->value));
        json_object_set_new(o, "value-required", json_boolean(t->value_required));
        return o;
    default: return json_string(t->name);
    }
}

static const char *const SCHEMA_KEYS[] = {"type", "schema-id", "identifier-field-ids", "fields", NULL};

int kiln_lake__schema_from_json(kiln_lake_meta *m, json_t *j, kiln_lake_schema *out, kiln_err *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (!json_is_object(j))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: schema must be an object");
    int64_t sid = 0;
    if ((rc = get_i64(j, "schema-id", &sid, 0, err)) < 0)
        return rc;
    out->schema_id = (int32_t)sid;
    const kiln_lake_type *t;
    if ((rc = kiln_lake__type_from_json(m, j, &t, 0, err)) != 0)
        return kiln_err_prefix(err, "schema %d: ", out->schema_id);
    if (t->kind != KILN_LAKE_STRUCT)
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: schema %d is not a struct", out->schema_id);
    out->nfields = t->nfields;
    out->fields = t->fields;
    json_t *ids = json_object_get(j, "identifier-field-ids");
    if (json_is_array(ids)) {
        size_t n = json_array_size(ids);
        int32_t *v = kiln_lake__alloc(m, n * sizeof(*v));
        if (!v)
            return KILN_OOM(err);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(ids, i);
            if (!json_is_integer(e))
                return kiln_err_set(err, KILN_EFORMAT, "table metadata: identifier-field-ids must hold integers");
            v[i] = (int32_t)json_integer_value(e);
        }
        out->identifier_field_ids = v;
        out->nidentifier = n;
    }
    return collect_extra(m, j, SCHEMA_KEYS, &out->extra_json, err);
}

json_t *kiln_lake__schema_to_json(const kiln_lake_schema *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "type", json_string("struct"));
    json_object_set_new(o, "schema-id", json_integer(s->schema_id));
    if (s->nidentifier) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->nidentifier; i++)
            json_array_append_new(a, json_integer(s->identifier_field_ids[i]));
        json_object_set_new(o, "identifier-field-ids", a);
    }
    json_t *fs = json_array();
    for (size_t i = 0; i < s->nfields; i++)
        json_array_append_new(fs, field_to_json(&s->fields[i]));
    json_object_set_new(o, "fields", fs);
    merge_extra(o, s->extra_json);
    return o;
}

int kiln_lake__schema_json_text(kiln_buf *out, const kiln_lake_schema *s, kiln_err *err)
{
    json_t *j = kiln_lake__schema_to_json(s);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text)
        return KILN_OOM(err);
    int rc = kiln_buf_append(out, text, strlen(text), err);
    free(text); /* jansson's allocator */
    return rc;
}

static const kiln_lake_field *find_field(const kiln_lake_field *fs, size_t n, int32_t id, int depth)
{
    if (depth > KILN_LAKE_MAX_DEPTH)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (fs[i].id == id)
            return &fs[i];
        const kiln_lake_type *t = fs[i].type;
        /* list elements and map keys/values are not fields with names; look
         * through them for nested structs. */
        while (t && (t->kind == KILN_LAKE_LIST || t->kind == KILN_LAKE_MAP))
            t = t->kind == KILN_LAKE_LIST ? t->element : t->value;
        if (t && t->kind == KILN_LAKE_STRUCT) {
            const kiln_lake_field *f = find_field(t->fields, t->nfields, id, depth + 1);
            if (f)
                return f;
        }
        if (fs[i].type->kind == KILN_LAKE_MAP && fs[i].type->key->kind == KILN_LAKE_STRUCT) {
            const kiln_lake_field *f = find_field(fs[i].type->key->fields, fs[i].type->key->nfields, id, depth + 1);
            if (f)
                return f;
        }
    }
    return NULL;
}

const kiln_lake_field *kiln_lake_schema_field(const kiln_lake_schema *s, int32_t field_id)
{
    return s ? find_field(s->fields, s->nfields, field_id, 0) : NULL;
}

const kiln_lake_field *kiln_lake_schema_column(const kiln_lake_schema *s, const char *name)
{
    for (size_t i = 0; s && i < s->nfields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return &s->fields[i];
    return NULL;
}

/* ------------------------------------------------------------ transforms */

int kiln_lake_transform_parse(kiln_lake_transform *out, const char *s, kiln_err *err)
{
    memset(out, 0, sizeof(*out));
    out->text = s;
    static const struct {
        const char *name;
        kiln_lake_transform_kind kind;
    } simple[] = {{"identity", KILN_LAKE_XF_IDENTITY}, {"year", KILN_LAKE_XF_YEAR}, {"month", KILN_LAKE_XF_MONTH},
                  {"day", KILN_LAKE_XF_DAY},           {"hour", KILN_LAKE_XF_HOUR}, {"void", KILN_LAKE_XF_VOID}};
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        if (strcmp(s, simple[i].name) == 0) {
            out->kind = simple[i].kind;
            return 0;
        }
    int is_bucket = strncmp(s, "bucket[", 7) == 0, is_trunc = strncmp(s, "truncate[", 9) == 0;
    if (is_bucket || is_trunc) {
        char *end;
        long v = strtol(s + (is_bucket ? 7 : 9), &end, 10);
        if (*end != ']' || end[1] || v < 1 || v > INT32_MAX)
            return kiln_err_set(err, KILN_EFORMAT, "bad transform \"%s\" (expected e.g. bucket[16])", s);
        out->kind = is_bucket ? KILN_LAKE_XF_BUCKET : KILN_LAKE_XF_TRUNCATE;
        out->param = (int32_t)v;
        return 0;
    }
    out->kind = KILN_LAKE_XF_UNKNOWN;
    return 0;
}

static int is_time_kind(kiln_lake_kind k) { return k == KILN_LAKE_TIMESTAMP || k == KILN_LAKE_TIMESTAMPTZ; }

int kiln_lake_transform_result(kiln_lake_type *out, const kiln_lake_transform *t, const kiln_lake_type *source,
                               kiln_err *err)
{
    kiln_lake_kind k = source->kind;
    int ok = 0;
    memset(out, 0, sizeof(*out));
    switch (t->kind) {
    case KILN_LAKE_XF_IDENTITY:
        ok = k != KILN_LAKE_STRUCT && k != KILN_LAKE_LIST && k != KILN_LAKE_MAP;
        if (ok)
            *out = *source;
        break;
    case KILN_LAKE_XF_VOID:
        ok = 1;
        *out = *source;
        break;
    case KILN_LAKE_XF_BUCKET:
        ok = k == KILN_LAKE_INT || k == KILN_LAKE_LONG || k == KILN_LAKE_DECIMAL || k == KILN_LAKE_DATE ||
             k == KILN_LAKE_TIME || is_time_kind(k) || k == KILN_LAKE_STRING || k == KILN_LAKE_UUID ||
             k == KILN_LAKE_FIXED || k == KILN_LAKE_BINARY;
        out->kind = KILN_LAKE_INT;
        out->name = "int";
        break;
    case KILN_LAKE_XF_TRUNCATE:
        ok = k == KILN_LAKE_INT || k == KILN_LAKE_LONG || k == KILN_LAKE_DECIMAL || k == KILN_LAKE_STRING ||
             k == KILN_LAKE_BINARY;
        if (ok)
            *out = *source;
        break;
    case KILN_LAKE_XF_YEAR:
    case KILN_LAKE_XF_MONTH:
        ok = k == KILN_LAKE_DATE || is_time_kind(k);
        out->kind = KILN_LAKE_INT;
        out->name = "int";
        break;
    case KILN_LAKE_XF_DAY:
        ok = k == KILN_LAKE_DATE || is_time_kind(k);
        out->kind = KILN_LAKE_DATE;
        out->name = "date";
        break;
    case KILN_LAKE_XF_HOUR:
        ok = is_time_kind(k);
        out->kind = KILN_LAKE_INT;
        out->name = "int";
        break;
    default: ok = 0;
    }
    if (!ok)
        return kiln_err_set(err, KILN_EINVAL, "transform %s cannot be applied to a %s column", t->text ? t->text : "?",
                            source->name ? source->name : "?");
    return 0;
}

uint32_t kiln_lake_murmur3_32(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t h = 0;
    const uint32_t c1 = 0xcc9e2d51, c2 = 0x1b873593;
    size_t nblocks = n / 4;
    for (size_t i = 0; i < nblocks; i++) {
        uint32_t k = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                     (uint32_t)p[4 * i + 3] << 24;
        k *= c1;
        k = (k << 15) | (k >> 17);
        k *= c2;
        h ^= k;
        h = (h << 13) | (h >> 19);
        h = h * 5 + 0xe6546b64;
    }
    const uint8_t *tail = p + nblocks * 4;
    uint32_t k1 = 0;
    switch (n & 3) {
    case 3:
        k1 ^= (uint32_t)tail[2] << 16;
        /* fall through */
    case 2:
        k1 ^= (uint32_t)tail[1] << 8;
        /* fall through */
    case 1:
        k1 ^= tail[0];
        k1 *= c1;
        k1 = (k1 << 15) | (k1 >> 17);
        k1 *= c2;
        h ^= k1;
    }
    h ^= (uint32_t)n;
    h ^= h >> 16;
    h *= 0x85ebca6b;
    h ^= h >> 13;
    h *= 0xc2b2ae35;
    h ^= h >> 16;
    return h;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Minimal big-endian two's complement bytes of v (App. B decimal hashing). */
static size_t decimal_min_bytes(int64_t v, uint8_t out[8])
{
    uint8_t full[8];
    for (int i = 0; i < 8; i++)
        full[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    int start = 0;
    while (start < 7) {
        uint8_t b = full[start], next = full[start + 1];
        if ((b == 0x00 && !(next & 0x80)) || (b == 0xff && (next & 0x80)))
            start++;
        else
            break;
    }
    memcpy(out, full + start, (size_t)(8 - start));
    return (size_t)(8 - start);
}

int kiln_lake_transform_apply(kiln_lake_value *out, const kiln_lake_transform *t, const kiln_lake_type *source,
                              const kiln_lake_value *in, kiln_err *err)
{
    kiln_lake_type rt;
    int rc = kiln_lake_transform_result(&rt, t, source, err);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->kind = rt.kind;
    if (in->is_null || t->kind == KILN_LAKE_XF_VOID) {
        out->is_null = 1;
        return 0;
    }
    kiln_lake_kind k = source->kind;
    switch (t->kind) {
    case KILN_LAKE_XF_IDENTITY: *out = *in; return 0;
    case KILN_LAKE_XF_BUCKET: {
        uint32_t h;
        uint8_t b[16];
        if (k == KILN_LAKE_INT || k == KILN_LAKE_LONG || k == KILN_LAKE_DATE || k == KILN_LAKE_TIME ||
            is_time_kind(k)) {
            for (int i = 0; i < 8; i++)
                b[i] = (uint8_t)((uint64_t)in->i >> (8 * i));
            h = kiln_lake_murmur3_32(b, 8);
        } else if (k == KILN_LAKE_DECIMAL) {
            size_t n = decimal_min_bytes(in->i, b);
            h = kiln_lake_murmur3_32(b, n);
        } else {
            h = kiln_lake_murmur3_32(in->bytes, in->len);
        }
        out->i = (int64_t)((h & 0x7fffffffu) % (uint32_t)t->param);
        return 0;
    }
    case KILN_LAKE_XF_TRUNCATE:
        if (k == KILN_LAKE_INT || k == KILN_LAKE_LONG || k == KILN_LAKE_DECIMAL) {
            int64_t w = t->param;
            out->i = in->i - (((in->i % w) + w) % w);
            return 0;
        }
        out->bytes = in->bytes;
        out->len = in->len;
        if (k == KILN_LAKE_STRING) {
            /* at most W code points */
            size_t pos = 0, cps = 0;
            while (pos < in->len && cps < (size_t)t->param) {
                pos++;
                while (pos < in->len && (in->bytes[pos] & 0xC0) == 0x80)
                    pos++;
                cps++;
            }
            out->len = pos;
        } else if (out->len > (size_t)t->param) {
            out->len = (size_t)t->param;
        }
        return 0;
    case KILN_LAKE_XF_YEAR:
    case KILN_LAKE_XF_MONTH:
    case KILN_LAKE_XF_DAY:
    case KILN_LAKE_XF_HOUR: {
        int64_t days, hours = 0;
        if (k == KILN_LAKE_DATE) {
            days = in->i;
        } else {
            hours = floor_div(in->i, INT64_C(3600000000));
            days = floor_div(in->i, INT64_C(86400000000));
        }
        if (t->kind == KILN_LAKE_XF_HOUR) {
            out->i = hours;
        } else if (t->kind == KILN_LAKE_XF_DAY) {
            out->i = days;
        } else {
            int y, mo, d;
            kiln_civil_from_days(days, &y, &mo, &d);
            out->i = t->kind == KILN_LAKE_XF_YEAR ? (int64_t)(y - 1970) : (int64_t)(y - 1970) * 12 + (mo - 1);
        }
        return 0;
    }
    default: return kiln_err_set(err, KILN_EUNSUPP, "transform %s is not supported", t->text ? t->text : "?");
    }
}

/* ------------------------------------------------------------ metadata parse */

static const char *const TABLE_KEYS[] = {"format-version",
                                         "table-uuid",
                                         "location",
                                         "last-sequence-number",
                                         "last-updated-ms",
                                         "last-column-id",
                                         "schemas",
                                         "current-schema-id",
                                         "schema",
                                         "partition-specs",
                                         "default-spec-id",
                                         "partition-spec",
                                         "last-partition-id",
                                         "sort-orders",
                                         "default-sort-order-id",
                                         "properties",
                                         "current-snapshot-id",
                                         "snapshots",
                                         "snapshot-log",
                                         "metadata-log",
                                         "refs",
                                         "next-row-id",
                                         NULL};

static const char *const SNAPSHOT_KEYS[] = {
    "snapshot-id", "parent-snapshot-id", "sequence-number", "timestamp-ms", "manifest-list",
    "summary",     "schema-id",          "first-row-id",    "added-rows",   NULL};

int kiln_lake__spec_fields_from_json(kiln_lake_meta *m, json_t *fields, kiln_lake_spec *spec, int v1_ids, kiln_err *err)
{
    int rc;
    if (!json_is_array(fields))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: partition spec needs a \"fields\" array");
    spec->nfields = json_array_size(fields);
    kiln_lake_part_field *pf = kiln_lake__alloc(m, spec->nfields * sizeof(*pf));
    if (!pf)
        return KILN_OOM(err);
    for (size_t i = 0; i < spec->nfields; i++) {
        json_t *f = json_array_get(fields, i);
        const char *xf;
        if (!json_is_object(f))
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: partition field must be an object");
        if ((rc = get_i32(f, "source-id", &pf[i].source_id, 1, err)) != 0 ||
            (rc = get_str(m, f, "name", &pf[i].name, 1, err)) != 0 ||
            (rc = get_str(m, f, "transform", &xf, 1, err)) != 0)
            return rc;
        pf[i].field_id = 1000 + (int32_t)i;
        if ((rc = get_i32(f, "field-id", &pf[i].field_id, !v1_ids, err)) < 0)
            return rc;
        if ((rc = kiln_lake_transform_parse(&pf[i].transform, xf, err)) != 0)
            return rc;
    }
    spec->fields = pf;
    return 0;
}

int kiln_lake__snapshot_from_json(kiln_lake_meta *m, json_t *j, kiln_lake_snapshot *s, kiln_err *err)
{
    int rc;
    if (!json_is_object(j))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: snapshot must be an object");
    s->parent_id = -1;
    s->schema_id = -1;
    if ((rc = get_i64(j, "snapshot-id", &s->snapshot_id, 1, err)) != 0 ||
        (rc = get_i64(j, "timestamp-ms", &s->timestamp_ms, 1, err)) != 0)
        return rc;
    if ((rc = get_i64(j, "parent-snapshot-id", &s->parent_id, 0, err)) < 0 ||
        (rc = get_i64(j, "sequence-number", &s->sequence_number, 0, err)) < 0 ||
        (rc = get_i32(j, "schema-id", &s->schema_id, 0, err)) < 0 ||
        (rc = get_str(m, j, "manifest-list", &s->manifest_list, 0, err)) < 0)
        return rc;
    if ((rc = kv_from_json(m, json_object_get(j, "summary"), "summary", &s->summary, &s->nsummary, err)) != 0)
        return rc;
    s->operation = kiln_lake_snapshot_summary(s, "operation");
    json_t *fr = json_object_get(j, "first-row-id"), *ar = json_object_get(j, "added-rows");
    if (json_is_integer(fr)) { /* v3 row lineage */
        s->has_row_lineage = 1;
        s->first_row_id = json_integer_value(fr);
        s->added_rows = json_is_integer(ar) ? json_integer_value(ar) : 0;
    }
    if ((rc = collect_extra(m, j, SNAPSHOT_KEYS, &s->extra_json, err)) != 0)
        return rc;
    if (!s->manifest_list && !s->extra_json)
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: snapshot %" PRId64 " has no manifest-list",
                            s->snapshot_id);
    return 0;
}

static int ref_from_json(kiln_lake_meta *m, const char *name, json_t *j, kiln_lake_ref *r, kiln_err *err)
{
    int rc;
    if (!json_is_object(j))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: ref \"%s\" must be an object", name);
    r->name = kiln_lake__strdup(m, name);
    if (!r->name)
        return KILN_OOM(err);
    r->min_snapshots_to_keep = r->max_snapshot_age_ms = r->max_ref_age_ms = -1;
    if ((rc = get_i64(j, "snapshot-id", &r->snapshot_id, 1, err)) != 0)
        return rc;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type || (strcmp(type, "branch") != 0 && strcmp(type, "tag") != 0))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: ref \"%s\" needs type branch or tag", name);
    r->type = strcmp(type, "tag") == 0 ? KILN_LAKE_TAG : KILN_LAKE_BRANCH;
    if ((rc = get_i64(j, "min-snapshots-to-keep", &r->min_snapshots_to_keep, 0, err)) < 0 ||
        (rc = get_i64(j, "max-snapshot-age-ms", &r->max_snapshot_age_ms, 0, err)) < 0 ||
        (rc = get_i64(j, "max-ref-age-ms", &r->max_ref_age_ms, 0, err)) < 0)
        return rc;
    return 0;
}

/* parse_root's steps, in file order; each reads its keys of the root
 * object into m (v1: the format-version 1 spellings and defaults). */

/* format-version, table-uuid, location, sequence number, column id */
static int parse_header(kiln_lake_meta *m, json_t *root, kiln_err *err)
{
    int rc;
    int64_t fv = 0;
    if (!json_is_object(root))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: not a JSON object");
    if ((rc = get_i64(root, "format-version", &fv, 1, err)) != 0)
        return rc;
    if (fv < 1 || fv > 3)
        return kiln_err_set(err, KILN_EUNSUPP,
                            "table metadata: format-version %" PRId64 " is not supported (kiln reads 1, 2 and 3)", fv);
    m->format_version = (int)fv;
    int v1 = fv == 1;
    if ((rc = get_str(m, root, "table-uuid", &m->table_uuid, !v1, err)) < 0 ||
        (rc = get_str(m, root, "location", &m->location, 1, err)) != 0)
        return rc;
    m->last_sequence_number = 0;
    if ((rc = get_i64(root, "last-sequence-number", &m->last_sequence_number, !v1, err)) < 0 ||
        (rc = get_i64(root, "last-updated-ms", &m->last_updated_ms, 1, err)) != 0 ||
        (rc = get_i32(root, "last-column-id", &m->last_column_id, 1, err)) != 0)
        return rc;
    json_t *nr = json_object_get(root, "next-row-id");
    m->next_row_id = json_is_integer(nr) ? json_integer_value(nr) : 0;
    return 0;
}

/* schemas (v1: "schema") and the current one */
static int parse_schemas(kiln_lake_meta *m, json_t *root, int v1, kiln_err *err)
{
    int rc;
    json_t *schemas = json_object_get(root, "schemas");
    if (json_is_array(schemas) && json_array_size(schemas) > 0) {
        m->nschemas = json_array_size(schemas);
        kiln_lake_schema *ss = kiln_lake__alloc(m, m->nschemas * sizeof(*ss));
        if (!ss)
            return KILN_OOM(err);
        for (size_t i = 0; i < m->nschemas; i++)
            if ((rc = kiln_lake__schema_from_json(m, json_array_get(schemas, i), &ss[i], err)) != 0)
                return rc;
        m->schemas = ss;
        if ((rc = get_i32(root, "current-schema-id", &m->current_schema_id, !v1, err)) < 0)
            return rc;
        if (rc == 1)
            m->current_schema_id = ss[0].schema_id;
    } else if (v1 && json_object_get(root, "schema")) {
        kiln_lake_schema *ss = kiln_lake__alloc(m, sizeof(*ss));
        if (!ss)
            return KILN_OOM(err);
        if ((rc = kiln_lake__schema_from_json(m, json_object_get(root, "schema"), ss, err)) != 0)
            return rc;
        m->schemas = ss;
        m->nschemas = 1;
        m->current_schema_id = ss->schema_id;
    } else {
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: missing required field \"schemas\"");
    }
    if (!kiln_lake_meta_current_schema(m))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: current-schema-id %d names no schema",
                            m->current_schema_id);
    return 0;
}

/* partition specs (v1: "partition-spec") and last-partition-id */
static int parse_specs(kiln_lake_meta *m, json_t *root, int v1, kiln_err *err)
{
    int rc;
    json_t *specs = json_object_get(root, "partition-specs");
    if (json_is_array(specs) && json_array_size(specs) > 0) {
        m->nspecs = json_array_size(specs);
        kiln_lake_spec *sp = kiln_lake__alloc(m, m->nspecs * sizeof(*sp));
        if (!sp)
            return KILN_OOM(err);
        for (size_t i = 0; i < m->nspecs; i++) {
            json_t *sj = json_array_get(specs, i);
            if ((rc = get_i32(sj, "spec-id", &sp[i].spec_id, 1, err)) != 0 ||
                (rc = kiln_lake__spec_fields_from_json(m, json_object_get(sj, "fields"), &sp[i], v1, err)) != 0)
                return rc;
        }
        m->specs = sp;
        if ((rc = get_i32(root, "default-spec-id", &m->default_spec_id, !v1, err)) < 0)
            return rc;
        if (rc == 1)
            m->default_spec_id = sp[0].spec_id;
    } else if (v1 && json_is_array(json_object_get(root, "partition-spec"))) {
        kiln_lake_spec *sp = kiln_lake__alloc(m, sizeof(*sp));
        if (!sp)
            return KILN_OOM(err);
        if ((rc = kiln_lake__spec_fields_from_json(m, json_object_get(root, "partition-spec"), sp, 1, err)) != 0)
            return rc;
        m->specs = sp;
        m->nspecs = 1;
        m->default_spec_id = 0;
    } else {
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: missing required field \"partition-specs\"");
    }
    m->last_partition_id = 999;
    for (size_t i = 0; i < m->nspecs; i++)
        for (size_t f = 0; f < m->specs[i].nfields; f++)
            if (m->specs[i].fields[f].field_id > m->last_partition_id)
                m->last_partition_id = m->specs[i].fields[f].field_id;
    if ((rc = get_i32(root, "last-partition-id", &m->last_partition_id, !v1, err)) < 0)
        return rc;
    return 0;
}

/* sort orders (none: the unsorted order 0) */
static int parse_sort_orders(kiln_lake_meta *m, json_t *root, int v1, kiln_err *err)
{
    int rc;
    json_t *orders = json_object_get(root, "sort-orders");
    if (json_is_array(orders) && json_array_size(orders) > 0) {
        m->nsort_orders = json_array_size(orders);
        kiln_lake_sort_order *so = kiln_lake__alloc(m, m->nsort_orders * sizeof(*so));
        if (!so)
            return KILN_OOM(err);
        for (size_t i = 0; i < m->nsort_orders; i++) {
            json_t *oj = json_array_get(orders, i), *fields = json_object_get(oj, "fields");
            if ((rc = get_i32(oj, "order-id", &so[i].order_id, 1, err)) != 0)
                return rc;
            if (!json_is_array(fields))
                return kiln_err_set(err, KILN_EFORMAT, "table metadata: sort order needs \"fields\"");
            so[i].nfields = json_array_size(fields);
            kiln_lake_sort_field *sf = kiln_lake__alloc(m, so[i].nfields * sizeof(*sf));
            if (!sf)
                return KILN_OOM(err);
            for (size_t f = 0; f < so[i].nfields; f++) {
                json_t *fj = json_array_get(fields, f);
                const char *xf, *dir, *no;
                if ((rc = get_i32(fj, "source-id", &sf[f].source_id, 1, err)) != 0 ||
                    (rc = get_str(m, fj, "transform", &xf, 1, err)) != 0 ||
                    (rc = get_str(m, fj, "direction", &dir, 1, err)) != 0 ||
                    (rc = get_str(m, fj, "null-order", &no, 1, err)) != 0)
                    return rc;
                if ((rc = kiln_lake_transform_parse(&sf[f].transform, xf, err)) != 0)
                    return rc;
                sf[f].descending = strcmp(dir, "desc") == 0;
                sf[f].nulls_first = strcmp(no, "nulls-first") == 0;
            }
            so[i].fields = sf;
        }
        m->sort_orders = so;
        if ((rc = get_i32(root, "default-sort-order-id", &m->default_sort_order_id, !v1, err)) < 0)
            return rc;
        if (rc == 1)
            m->default_sort_order_id = so[0].order_id;
    } else {
        kiln_lake_sort_order *so = kiln_lake__alloc(m, sizeof(*so));
        if (!so)
            return KILN_OOM(err);
        m->sort_orders = so;
        m->nsort_orders = 1;
        m->default_sort_order_id = 0;
    }
    return 0;
}

/* snapshots and current-snapshot-id */
static int parse_snapshots(kiln_lake_meta *m, json_t *root, kiln_err *err)
{
    int rc;
    json_t *snaps = json_object_get(root, "snapshots");
    if (json_is_array(snaps)) {
        m->nsnapshots = json_array_size(snaps);
        kiln_lake_snapshot *ss = kiln_lake__alloc(m, m->nsnapshots * sizeof(*ss));
        if (!ss)
            return KILN_OOM(err);
        for (size_t i = 0; i < m->nsnapshots; i++)
            if ((rc = kiln_lake__snapshot_from_json(m, json_array_get(snaps, i), &ss[i], err)) != 0)
                return rc;
        m->snapshots = ss;
    } else if (snaps && !json_is_null(snaps)) {
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: \"snapshots\" must be an array");
    }

    m->current_snapshot_id = -1;
    if ((rc = get_i64(root, "current-snapshot-id", &m->current_snapshot_id, 0, err)) < 0)
        return rc;
    if (m->current_snapshot_id < 0)
        m->current_snapshot_id = -1;
    return 0;
}

/* refs; "main" made explicit, and it decides the current snapshot */
static int parse_refs(kiln_lake_meta *m, json_t *root, kiln_err *err)
{
    int rc;
    json_t *refs = json_object_get(root, "refs");
    int has_main = 0;
    if (json_is_object(refs)) {
        size_t n = json_object_size(refs), i = 0;
        kiln_lake_ref *rs = kiln_lake__alloc(m, (n + 1) * sizeof(*rs));
        if (!rs)
            return KILN_OOM(err);
        const char *k;
        json_t *v;
        json_object_foreach(refs, k, v)
        {
            if ((rc = ref_from_json(m, k, v, &rs[i], err)) != 0)
                return rc;
            if (strcmp(k, "main") == 0)
                has_main = 1;
            i++;
        }
        m->refs = rs;
        m->nrefs = n;
    }
    if (!has_main && m->current_snapshot_id >= 0) {
        /* "main" exists implicitly; make it explicit in the model */
        kiln_lake_ref main = {"main", KILN_LAKE_BRANCH, m->current_snapshot_id, -1, -1, -1};
        kiln_lake_ref *rs = kiln_lake__grow(m, m->refs, m->nrefs, sizeof(*rs));
        if (!rs)
            return KILN_OOM(err);
        rs[m->nrefs++] = main;
        m->refs = rs;
    } else if (has_main) {
        const kiln_lake_ref *main = kiln_lake_meta_ref(m, "main");
        if (main->type != KILN_LAKE_BRANCH)
            return kiln_err_set(err, KILN_EFORMAT, "table metadata: ref \"main\" must be a branch");
        m->current_snapshot_id = main->snapshot_id;
    }
    if (m->current_snapshot_id >= 0 && !kiln_lake_meta_snapshot(m, m->current_snapshot_id))
        return kiln_err_set(err, KILN_EFORMAT, "table metadata: current snapshot %" PRId64 " is not in \"snapshots\"",
                            m->current_snapshot_id);
    return 0;
}

/* snapshot-log and metadata-log */
static int parse_logs(kiln_lake_meta *m, json_t *root, kiln_err *err)
{
    int rc;
    json_t *slog = json_object_get(root, "snapshot-log");
    if (json_is_array(slog)) {
        m->nsnapshot_log = json_array_size(slog);
        kiln_lake_snaplog *sl = kiln_lake__alloc(m, m->nsnapshot_log * sizeof(*sl));
        if (!sl)
            return KILN_OOM(err);
        for (size_t i = 0; i < m->nsnapshot_log; i++) {
            json_t *e = json_array_get(slog, i);
            if ((rc = get_i64(e, "timestamp-ms", &sl[i].timestamp_ms, 1, err)) != 0 ||
                (rc = get_i64(e, "snapshot-id", &sl[i].snapshot_id, 1, err)) != 0)
                return rc;
        }
        m->snapshot_log = sl;
    }
    json_t *mlog = json_object_get(root, "metadata-log");
    if (json_is_array(mlog)) {
        m->nmetadata_log = json_array_size(mlog);
        kiln_lake_metalog *ml = kiln_lake__alloc(m, m->nmetadata_log * sizeof(*ml));
        if (!ml)
            return KILN_OOM(err);
        for (size_t i = 0; i < m->nmetadata_log; i++) {
            json_t *e = json_array_get(mlog, i);
            if ((rc = get_i64(e, "timestamp-ms", &ml[i].timestamp_ms, 1, err)) != 0 ||
                (rc = get_str(m, e, "metadata-file", &ml[i].metadata_file, 1, err)) != 0)
                return rc;
        }
        m->metadata_log = ml;
    }
    return 0;
}

static int parse_root(kiln_lake_meta *m, json_t *root, kiln_err *err)
{
    int rc;
    if ((rc = parse_header(m, root, err)) != 0)
        return rc;
    int v1 = m->format_version == 1;
    if ((rc = parse_schemas(m, root, v1, err)) != 0 || (rc = parse_specs(m, root, v1, err)) != 0 ||
        (rc = parse_sort_orders(m, root, v1, err)) != 0)
        return rc;
    if ((rc = kv_from_json(m, json_object_get(root, "properties"), "properties", &m->properties, &m->nproperties,
                           err)) != 0)
        return rc;
    if ((rc = parse_snapshots(m, root, err)) != 0 || (rc = parse_refs(m, root, err)) != 0 ||
        (rc = parse_logs(m, root, err)) != 0)
        return rc;
    return collect_extra(m, root, TABLE_KEYS, &m->extra_json, err);
}

int kiln_lake_meta_parse(kiln_lake_meta **out, const char *json, size_t n, kiln_err *err)
{
    *out = NULL;
    kiln_lake_meta *m = NULL;
    json_t *root = NULL;
    int rc;
    if (n > KILN_LAKE_META_MAX_BYTES) {
        rc = kiln_err_set(err, KILN_ELIMIT, "table metadata: %zu bytes is over the %zu-byte cap", n,
                          KILN_LAKE_META_MAX_BYTES);
        goto done;
    }
    json_error_t je;
    root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        rc = kiln_err_set_at(err, KILN_EFORMAT, (uint64_t)je.position,
                             "table metadata: bad JSON at line %d column %d: %s", je.line, je.column, je.text);
        goto done;
    }
    if ((rc = kiln_lake__meta_new(&m, err)) != 0)
        goto done;
    if ((rc = parse_root(m, root, err)) != 0)
        goto done;
    *out = m;
    m = NULL;
done:
    json_decref(root);
    kiln_lake_meta_free(m);
    return rc;
}

int kiln_lake_meta_read(kiln_lake_meta **out, const char *path, kiln_err *err)
{
    *out = NULL;
    char *data = NULL;
    size_t n = 0;
    int rc;
    if ((rc = kiln_lake__io_read_all(path, KILN_LAKE_META_MAX_BYTES, &data, &n, err)) != 0)
        goto done;
    if ((rc = kiln_lake_meta_parse(out, data, n, err)) != 0)
        kiln_err_prefix(err, "%s: ", path);
done:
    kiln_free(data);
    return rc;
}

/* ------------------------------------------------------------ serialize */

json_t *kiln_lake__meta_to_json(const kiln_lake_meta *m)
{
    json_t *o = json_object();
    int v1 = m->format_version == 1;
    /* v1 tables are written as v1 (with the v1-required "schema" and
     * "partition-spec" as well); a transaction upgrades them to v2. */
    json_object_set_new(o, "format-version", json_integer(v1 ? 1 : m->format_version >= 3 ? 3 : 2));
    if (m->table_uuid)
        json_object_set_new(o, "table-uuid", json_string(m->table_uuid));
    json_object_set_new(o, "location", json_string(m->location ? m->location : ""));
    json_object_set_new(o, "last-sequence-number", json_integer(m->last_sequence_number));
    json_object_set_new(o, "last-updated-ms", json_integer(m->last_updated_ms));
    json_object_set_new(o, "last-column-id", json_integer(m->last_column_id));
    if (m->format_version >= 3) /* row lineage: required in v3 */
        json_object_set_new(o, "next-row-id", json_integer(m->next_row_id));
    json_object_set_new(o, "current-schema-id", json_integer(m->current_schema_id));
    json_t *a = json_array();
    for (size_t i = 0; i < m->nschemas; i++)
        json_array_append_new(a, kiln_lake__schema_to_json(&m->schemas[i]));
    json_object_set_new(o, "schemas", a);
    json_object_set_new(o, "default-spec-id", json_integer(m->default_spec_id));
    a = json_array();
    for (size_t i = 0; i < m->nspecs; i++) {
        json_t *s = json_object(), *fs = json_array();
        json_object_set_new(s, "spec-id", json_integer(m->specs[i].spec_id));
        for (size_t f = 0; f < m->specs[i].nfields; f++) {
            const kiln_lake_part_field *pf = &m->specs[i].fields[f];
            json_t *fj = json_object();
            json_object_set_new(fj, "name", json_string(pf->name));
            json_object_set_new(fj, "transform", json_string(pf->transform.text));
            json_object_set_new(fj, "source-id", json_integer(pf->source_id));
            json_object_set_new(fj, "field-id", json_integer(pf->field_id));
            json_array_append_new(fs, fj);
        }
        json_object_set_new(s, "fields", fs);
        json_array_append_new(a, s);
    }
    json_object_set_new(o, "partition-specs", a);
    if (v1) {
        const kiln_lake_schema *cs = kiln_lake_meta_current_schema(m);
        if (cs)
            json_object_set_new(o, "schema", kiln_lake__schema_to_json(cs));
        json_t *dflt = NULL;
        for (size_t i = 0; i < m->nspecs; i++)
            if (m->specs[i].spec_id == m->default_spec_id)
                dflt = json_object_get(json_array_get(a, i), "fields");
        if (dflt)
            json_object_set(o, "partition-spec", dflt);
        else
            json_object_set_new(o, "partition-spec", json_array());
    }
    json_object_set_new(o, "last-partition-id", json_integer(m->last_partition_id));
    json_object_set_new(o, "default-sort-order-id", json_integer(m->default_sort_order_id));
    a = json_array();
    for (size_t i = 0; i < m->nsort_orders; i++) {
        json_t *s = json_object(), *fs = json_array();
        json_object_set_new(s, "order-id", json_integer(m->sort_orders[i].order_id));
        for (size_t f = 0; f < m->sort_orders[i].nfields; f++) {
            const kiln_lake_sort_field *sf = &m->sort_orders[i].fields[f];
            json_t *fj = json_object();
            json_object_set_new(fj, "transform", json_string(sf->transform.text));
            json_object_set_new(fj, "source-id", json_integer(sf->source_id));
            json_object_set_new(fj, "direction", json_string(sf->descending ? "desc" : "asc"));
            json_object_set_new(fj, "null-order", json_string(sf->nulls_first ? "nulls-first" : "nulls-last"));
            json_array_append_new(fs, fj);
        }
        json_object_set_new(s, "fields", fs);
        json_array_append_new(a, s);
    }
    json_object_set_new(o, "sort-orders", a);
    json_object_set_new(o, "properties", kv_to_json(m->properties, m->nproperties));
    json_object_set_new(o, "current-snapshot-id",
                        json_integer(m->current_snapshot_id >= 0 ? m->current_snapshot_id : -1));
    json_t *refs = json_object();
    for (size_t i = 0; i < m->nrefs; i++) {
        const kiln_lake_ref *r = &m->refs[i];
        json_t *rj = json_object();
        json_object_set_new(rj, "snapshot-id", json_integer(r->snapshot_id));
        json_object_set_new(rj, "type", json_string(r->type == KILN_LAKE_TAG ? "tag" : "branch"));
        if (r->min_snapshots_to_keep >= 0)
            json_object_set_new(rj, "min-snapshots-to-keep", json_integer(r->min_snapshots_to_keep));
        if (r->max_snapshot_age_ms >= 0)
            json_object_set_new(rj, "max-snapshot-age-ms", json_integer(r->max_snapshot_age_ms));
        if (r->max_ref_age_ms >= 0)
            json_object_set_new(rj, "max-ref-age-ms", json_integer(r->max_ref_age_ms));
        json_object_set_new(refs, r->name, rj);
    }
    json_object_set_new(o, "refs", refs);
    a = json_array();
    for (size_t i = 0; i < m->nsnapshots; i++) {
        const kiln_lake_snapshot *s = &m->snapshots[i];
        json_t *sj = json_object();
        json_object_set_new(sj, "sequence-number", json_integer(s->sequence_number));
        json_object_set_new(sj, "snapshot-id", json_integer(s->snapshot_id));
        if (s->parent_id >= 0)
            json_object_set_new(sj, "parent-snapshot-id", json_integer(s->parent_id));
        json_object_set_new(sj, "timestamp-ms", json_integer(s->timestamp_ms));
        json_object_set_new(sj, "summary", kv_to_json(s->summary, s->nsummary));
        if (s->manifest_list)
            json_object_set_new(sj, "manifest-list", json_string(s->manifest_list));
        if (s->schema_id >= 0)
            json_object_set_new(sj, "schema-id", json_integer(s->schema_id));
        if (s->has_row_lineage) {
            json_object_set_new(sj, "first-row-id", json_integer(s->first_row_id));
            json_object_set_new(sj, "added-rows", json_integer(s->added_rows));
        }
        merge_extra(sj, s->extra_json);
        json_array_append_new(a, sj);
    }
    json_object_set_new(o, "snapshots", a);
    a = json_array();
    for (size_t i = 0; i < m->nsnapshot_log; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "timestamp-ms", json_integer(m->snapshot_log[i].timestamp_ms));
        json_object_set_new(e, "snapshot-id", json_integer(m->snapshot_log[i].snapshot_id));
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "snapshot-log", a);
    a = json_array();
    for (size_t i = 0; i < m->nmetadata_log; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "timestamp-ms", json_integer(m->metadata_log[i].timestamp_ms));
        json_object_set_new(e, "metadata-file", json_string(m->metadata_log[i].metadata_file));
        json_array_append_new(a, e);
    }
    json_object_set_new(o, "metadata-log", a);
    merge_extra(o, m->extra_json);
    return o;
}

int kiln_lake_meta_write(const kiln_lake_meta *m, int pretty, kiln_buf *out, kiln_err *err)
{
    json_t *o = kiln_lake__meta_to_json(m);
    char *s = o ? json_dumps(o, (pretty ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        return KILN_OOM(err);
    int rc = kiln_buf_append(out, s, strlen(s), err);
    free(s);
    return rc;
}

int kiln_lake_meta_clone(kiln_lake_meta **out, const kiln_lake_meta *m, kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kiln_lake_meta_write(m, 0, &b, err);
    if (rc == 0)
        rc = kiln_lake_meta_parse(out, b.data, b.len, err);
    kiln_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ lookups */

const kiln_lake_schema *kiln_lake_meta_schema(const kiln_lake_meta *m, int32_t id)
{
    for (size_t i = 0; i < m->nschemas; i++)
        if (m->schemas[i].schema_id == id)
            return &m->schemas[i];
    return NULL;
}

const kiln_lake_schema *kiln_lake_meta_current_schema(const kiln_lake_meta *m)
{
    return kiln_lake_meta_schema(m, m->current_schema_id);
}

const kiln_lake_spec *kiln_lake_meta_spec(const kiln_lake_meta *m, int32_t id)
{
    for (size_t i = 0; i < m->nspecs; i++)
        if (m->specs[i].spec_id == id)
            return &m->specs[i];
    return NULL;
}

const kiln_lake_spec *kiln_lake_meta_default_spec(const kiln_lake_meta *m)
{
    return kiln_lake_meta_spec(m, m->default_spec_id);
}

const kiln_lake_snapshot *kiln_lake_meta_snapshot(const kiln_lake_meta *m, int64_t id)
{
    for (size_t i = 0; i < m->nsnapshots; i++)
        if (m->snapshots[i].snapshot_id == id)
            return &m->snapshots[i];
    return NULL;
}

const kiln_lake_snapshot *kiln_lake_meta_current_snapshot(const kiln_lake_meta *m)
{
    return m->current_snapshot_id >= 0 ? kiln_lake_meta_snapshot(m, m->current_snapshot_id) : NULL;
}

const kiln_lake_ref *kiln_lake_meta_ref(const kiln_lake_meta *m, const char *name)
{
    for (size_t i = 0; i < m->nrefs; i++)
        if (strcmp(m->refs[i].name, name) == 0)
            return &m->refs[i];
    return NULL;
}

const char *kiln_lake_meta_property(const kiln_lake_meta *m, const char *key)
{
    for (size_t i = 0; i < m->nproperties; i++)
        if (strcmp(m->properties[i].key, key) == 0)
            return m->properties[i].value;
    return NULL;
}

const char *kiln_lake_snapshot_summary(const kiln_lake_snapshot *s, const char *key)
{
    for (size_t i = 0; i < s->nsummary; i++)
        if (strcmp(s->summary[i].key, key) == 0)
            return s->summary[i].value;
    return NULL;
}

int kiln_lake_meta_is_ancestor(const kiln_lake_meta *m, int64_t snapshot_id, int64_t ancestor)
{
    size_t steps = 0;
    int64_t id = snapshot_id;
    while (id >= 0 && steps++ <= m->nsnapshots) {
        if (id == ancestor)
            return 1;
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, id);
        if (!s)
            return 0;
        id = s->parent_id;
    }
    return 0;
}

int kiln_lake_meta_snapshot_as_of(const kiln_lake_meta *m, int64_t ts, int64_t *out, kiln_err *err)
{
    int64_t found = -1;
    for (size_t i = 0; i < m->nsnapshot_log; i++)
        if (m->snapshot_log[i].timestamp_ms <= ts)
            found = m->snapshot_log[i].snapshot_id;
    if (m->nsnapshot_log == 0) {
        /* no log (some writers): walk main's ancestry by timestamp */
        int64_t id = m->current_snapshot_id;
        size_t steps = 0;
        while (id >= 0 && steps++ <= m->nsnapshots) {
            const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, id);
            if (!s)
                break;
            if (s->timestamp_ms <= ts) {
                found = id;
                break;
            }
            id = s->parent_id;
        }
    }
    if (found < 0) {
        char buf[40];
        kiln_ts_format(ts * 1000, buf);
        return kiln_err_set(err, KILN_ENOTFOUND, "the table had no snapshot at %s (%" PRId64 " ms)", buf, ts);
    }
    *out = found;
    return 0;
}

int kiln_lake_meta_resolve(const kiln_lake_meta *m, const char *what, int64_t *out, kiln_err *err)
{
    *out = -1;
    if (!what || !*what) {
        *out = m->current_snapshot_id;
        return 0;
    }
    const kiln_lake_ref *r = kiln_lake_meta_ref(m, what);
    if (r) {
        *out = r->snapshot_id;
        return 0;
    }
    char *end;
    errno = 0;
    long long id = strtoll(what, &end, 10);
    if (!*end && errno == 0 && end != what) {
        if (!kiln_lake_meta_snapshot(m, id))
            return kiln_err_set(err, KILN_ENOTFOUND, "no snapshot %lld in this table (see 'kiln table snapshots')", id);
        *out = id;
        return 0;
    }
    if (strncmp(what, "ms:", 3) == 0) {
        long long ms = strtoll(what + 3, &end, 10);
        if (*end || end == what + 3)
            return kiln_err_set(err, KILN_EINVAL, "bad time \"%s\" (expected ms:<epoch milliseconds>)", what);
        return kiln_lake_meta_snapshot_as_of(m, ms, out, err);
    }
    int64_t micros, days;
    size_t n = strlen(what);
    if (kiln_ts_parse(what, n, &micros) == 0)
        return kiln_lake_meta_snapshot_as_of(m, floor_div(micros, 1000), out, err);
    if (kiln_date_parse(what, n, &days) == 0) /* a date: the end of that day */
        return kiln_lake_meta_snapshot_as_of(m, (days + 1) * 86400000 - 1, out, err);
    return kiln_err_set(err, KILN_ENOTFOUND,
                        "\"%s\" is not a snapshot id, ref name or timestamp (e.g. 2024-03-03T10:00:00Z)", what);
}
