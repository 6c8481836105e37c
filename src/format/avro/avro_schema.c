/*
 * avro_schema.c - Avro schema JSON -> kiln_avro_schema tree, and back.
 *
 * The parsed jansson document is kept alive by the root so every node can
 * point at its own JSON object (attrs_) for attributes kiln does not decode
 * (Iceberg "field-id" etc. are also decoded into struct members). All
 * nodes, strings and arrays live in one arena owned by the root. Named
 * types (record/enum/fixed) are registered by full name before their
 * fields are parsed, so later references and recursion resolve to the
 * same node.
 */
#include "format/avro/avro.h"
#include "format/avro/avro_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 64
#define SCHEMA_MAX_JSON ((size_t)16 << 20)

typedef struct schema_root {
    kiln_arena *arena;
    json_t *doc;
    char *text;
    kiln_map *names; /* full name -> kiln_avro_schema* */
} schema_root;

typedef struct parse_ctx {
    schema_root *root;
    kiln_err *err;
} parse_ctx;

static const char *const type_names[] = {"null",   "boolean", "int",  "long",  "float", "double", "bytes",
                                         "string", "record",  "enum", "array", "map",   "union",  "fixed"};

const char *kiln_avro_type_name(kiln_avro_type t)
{
    if ((unsigned)t < sizeof type_names / sizeof type_names[0])
        return type_names[t];
    return "?";
}

static int primitive_type(const char *s, kiln_avro_type *out)
{
    for (int t = KILN_AVRO_NULL; t <= KILN_AVRO_STRING; t++) {
        if (strcmp(s, type_names[t]) == 0) {
            *out = (kiln_avro_type)t;
            return 1;
        }
    }
    return 0;
}

static kiln_avro_schema *node_new(parse_ctx *c, kiln_avro_type t, json_t *attrs)
{
    kiln_avro_schema *s = kiln_arena_alloc(c->root->arena, sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->type = t;
    s->element_id = s->key_id = s->value_id = KILN_AVRO_NO_ID;
    s->attrs_ = attrs;
    return s;
}

static const char *astr(parse_ctx *c, const char *s)
{
    return s ? kiln_arena_strndup(c->root->arena, s, strlen(s)) : NULL;
}

static int oom(parse_ctx *c) { return KILN_OOM(c->err); }

/* A valid Avro name: [A-Za-z_][A-Za-z0-9_]*, dotted parts for full names. */
static int name_ok(const char *s, int dotted)
{
    if (!s || !*s)
        return 0;
    int start = 1;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if (ch == '.' && dotted && !start && p[1]) {
            start = 1;
            continue;
        }
        int alpha = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || ch == '_';
        int digit = ch >= '0' && ch <= '9';
        if (!(alpha || (digit && !start)))
            return 0;
        start = 0;
    }
    return 1;
}

static int get_id(json_t *obj, const char *key, int32_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN + 1 && json_integer_value(v) <= INT32_MAX) {
        *out = (int32_t)json_integer_value(v);
        return 1;
    }
    /* Some writers store ids as strings. */
    if (json_is_string(v)) {
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (*json_string_value(v) && !*end && x > INT32_MIN && x <= INT32_MAX) {
            *out = (int32_t)x;
            return 1;
        }
    }
    return 0;
}

static char *full_name(parse_ctx *c, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return kiln_arena_strndup(c->root->arena, name, strlen(name));
    size_t a = strlen(ns), b = strlen(name);
    char *s = kiln_arena_alloc(c->root->arena, a + b + 2);
    if (!s)
        return NULL;
    memcpy(s, ns, a);
    s[a] = '.';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

static kiln_avro_schema *lookup_name(parse_ctx *c, const char *name, const char *ns)
{
    kiln_avro_schema *s = NULL;
    if (!strchr(name, '.') && ns && *ns) {
        char buf[512];
        int n = snprintf(buf, sizeof buf, "%s.%s", ns, name);
        if (n > 0 && (size_t)n < sizeof buf)
            s = kiln_map_get(c->root->names, buf, (size_t)n);
    }
    if (!s)
        s = kiln_map_get(c->root->names, name, strlen(name));
    return s;
}

static void apply_logical(kiln_avro_schema *s)
{
    const char *lt = s->logical_name;
    if (!lt)
        return;
    kiln_avro_logical l = KILN_AVRO_LT_OTHER;
    kiln_avro_type t = s->type;
    if (strcmp(lt, "date") == 0)
        l = t == KILN_AVRO_INT ? KILN_AVRO_LT_DATE : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "time-millis") == 0)
        l = t == KILN_AVRO_INT ? KILN_AVRO_LT_TIME_MILLIS : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "time-micros") == 0)
        l = t == KILN_AVRO_LONG ? KILN_AVRO_LT_TIME_MICROS : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "timestamp-millis") == 0)
        l = t == KILN_AVRO_LONG ? KILN_AVRO_LT_TIMESTAMP_MILLIS : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "timestamp-micros") == 0)
        l = t == KILN_AVRO_LONG ? KILN_AVRO_LT_TIMESTAMP_MICROS : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "local-timestamp-millis") == 0)
        l = t == KILN_AVRO_LONG ? KILN_AVRO_LT_LOCAL_TIMESTAMP_MILLIS : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "local-timestamp-micros") == 0)
        l = t == KILN_AVRO_LONG ? KILN_AVRO_LT_LOCAL_TIMESTAMP_MICROS : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "uuid") == 0)
        l = (t == KILN_AVRO_STRING || (t == KILN_AVRO_FIXED && s->size == 16)) ? KILN_AVRO_LT_UUID : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "duration") == 0)
        l = (t == KILN_AVRO_FIXED && s->size == 12) ? KILN_AVRO_LT_DURATION : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "map") == 0)
        l = t == KILN_AVRO_ARRAY ? KILN_AVRO_LT_MAP : KILN_AVRO_LT_NONE;
    else if (strcmp(lt, "decimal") == 0) {
        json_t *o = s->attrs_;
        json_t *p = json_object_get(o, "precision"), *sc = json_object_get(o, "scale");
        long long prec = json_is_integer(p) ? json_integer_value(p) : 0;
        long long scale = sc == NULL ? 0 : (json_is_integer(sc) ? json_integer_value(sc) : -1);
        int base_ok = t == KILN_AVRO_BYTES || t == KILN_AVRO_FIXED;
        /* fixed(n) holds at most floor(log10(2^(8n-1)-1)) digits */
        if (t == KILN_AVRO_FIXED && base_ok) {
            double maxd = ((double)s->size * 8 - 1) * 0.30102999566398120;
            if (prec > (long long)maxd)
                base_ok = 0;
        }
        if (base_ok && prec > 0 && prec <= 1000 && scale >= 0 && scale <= prec) {
            l = KILN_AVRO_LT_DECIMAL;
            s->precision = (int)prec;
            s->scale = (int)scale;
        } else {
            l = KILN_AVRO_LT_NONE;
        }
    }
    s->logical = l;
}

static int parse_node(parse_ctx *c, json_t *j, const char *ns, int depth, const char *path, kiln_avro_schema **out);

static int parse_fields(parse_ctx *c, kiln_avro_schema *s, json_t *fields, const char *ns, int depth, const char *path)
{
    if (!json_is_array(fields))
        return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: record \"fields\" must be an array", path);
    size_t n = json_array_size(fields);
    s->fields = kiln_arena_alloc(c->root->arena, (n ? n : 1) * sizeof *s->fields);
    if (!s->fields)
        return oom(c);
    memset(s->fields, 0, (n ? n : 1) * sizeof *s->fields);
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(fields, i);
        kiln_avro_field *fd = &s->fields[i];
        if (!json_is_object(f))
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s.fields[%zu]: field must be an object", path, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!name_ok(name, 0))
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s.fields[%zu]: missing or invalid field name", path,
                                i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->fields[k].name, name) == 0)
                return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: duplicate field \"%s\"", path, name);
        fd->name = astr(c, name);
        fd->doc = astr(c, json_string_value(json_object_get(f, "doc")));
        fd->field_id = KILN_AVRO_NO_ID;
        get_id(f, "field-id", &fd->field_id);
        fd->attrs_ = f;
        json_t *def = json_object_get(f, "default");
        if (def) {
            char *txt = json_dumps(def, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!txt)
                return oom(c);
            fd->default_json = astr(c, txt);
            free(txt);
        }
        json_t *al = json_object_get(f, "aliases");
        if (json_is_array(al) && json_array_size(al) > 0) {
            fd->aliases = kiln_arena_alloc(c->root->arena, json_array_size(al) * sizeof(char *));
            if (!fd->aliases)
                return oom(c);
            for (size_t k = 0; k < json_array_size(al); k++)
                if (json_is_string(json_array_get(al, k)))
                    fd->aliases[fd->naliases++] = astr(c, json_string_value(json_array_get(al, k)));
        }
        json_t *t = json_object_get(f, "type");
        if (!t)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s.%s: field has no \"type\"", path, name);
        char sub[256];
        snprintf(sub, sizeof sub, "%s.%s", path, name);
        int rc = parse_node(c, t, ns, depth + 1, sub, &fd->type);
        if (rc)
            return rc;
        if (!fd->name || (fd->doc == NULL && json_object_get(f, "doc") && json_is_string(json_object_get(f, "doc"))))
            return oom(c);
    }
    s->nfields = n;
    return 0;
}

static int parse_named(parse_ctx *c, kiln_avro_schema *s, json_t *j, const char *ns_in, const char **ns_out,
                       const char *path)
{
    const char *name = json_string_value(json_object_get(j, "name"));
    const char *ns = json_string_value(json_object_get(j, "namespace"));
    if (!name_ok(name, 1))
        return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: %s needs a valid \"name\"", path,
                            kiln_avro_type_name(s->type));
    if (ns && *ns && !name_ok(ns, 1))
        return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: invalid namespace \"%s\"", path, ns);
    char *full = full_name(c, name, ns ? ns : ns_in);
    if (!full)
        return oom(c);
    if (kiln_map_has(c->root->names, full, strlen(full)))
        return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: type \"%s\" defined twice", path, full);
    kiln_avro_type prim;
    if (primitive_type(name, &prim))
        return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: \"%s\" cannot be redefined", path, name);
    int rc = kiln_map_put(c->root->names, full, strlen(full), s, c->err);
    if (rc)
        return rc;
    s->name = full;
    /* namespace for nested definitions: the namespace part of full */
    const char *dot = strrchr(full, '.');
    *ns_out = dot ? kiln_arena_strndup(c->root->arena, full, (size_t)(dot - full)) : "";
    return *ns_out ? 0 : oom(c);
}

static int parse_object(parse_ctx *c, json_t *j, const char *ns, int depth, const char *path, kiln_avro_schema **out)
{
    json_t *tj = json_object_get(j, "type");
    if (json_is_object(tj) || json_is_array(tj)) /* {"type": {...}}: the inner schema */
        return parse_node(c, tj, ns, depth + 1, path, out);
    const char *t = json_string_value(tj);
    if (!t)
        return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: object has no \"type\"", path);
    kiln_avro_schema *s;
    kiln_avro_type prim;
    int rc = 0;
    if (primitive_type(t, &prim)) {
        if (!(s = node_new(c, prim, j)))
            return oom(c);
    } else if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0) {
        if (!(s = node_new(c, KILN_AVRO_RECORD, j)))
            return oom(c);
        const char *inner_ns;
        if ((rc = parse_named(c, s, j, ns, &inner_ns, path)))
            return rc;
        if ((rc = parse_fields(c, s, json_object_get(j, "fields"), inner_ns, depth, path)))
            return rc;
    } else if (strcmp(t, "enum") == 0) {
        if (!(s = node_new(c, KILN_AVRO_ENUM, j)))
            return oom(c);
        const char *inner_ns;
        if ((rc = parse_named(c, s, j, ns, &inner_ns, path)))
            return rc;
        json_t *sy = json_object_get(j, "symbols");
        if (!json_is_array(sy) || json_array_size(sy) == 0)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: enum needs non-empty \"symbols\"", path);
        s->nsymbols = json_array_size(sy);
        s->symbols = kiln_arena_alloc(c->root->arena, s->nsymbols * sizeof(char *));
        if (!s->symbols)
            return oom(c);
        for (size_t i = 0; i < s->nsymbols; i++) {
            const char *sym = json_string_value(json_array_get(sy, i));
            if (!name_ok(sym, 0))
                return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: invalid enum symbol #%zu", path, i);
            for (size_t k = 0; k < i; k++)
                if (strcmp(s->symbols[k], sym) == 0)
                    return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: duplicate enum symbol \"%s\"", path,
                                        sym);
            if (!(s->symbols[i] = astr(c, sym)))
                return oom(c);
        }
    } else if (strcmp(t, "fixed") == 0) {
        if (!(s = node_new(c, KILN_AVRO_FIXED, j)))
            return oom(c);
        const char *inner_ns;
        if ((rc = parse_named(c, s, j, ns, &inner_ns, path)))
            return rc;
        json_t *sz = json_object_get(j, "size");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0 || json_integer_value(sz) > (1 << 24))
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: fixed needs \"size\" in 0..16777216", path);
        s->size = (size_t)json_integer_value(sz);
    } else if (strcmp(t, "array") == 0) {
        if (!(s = node_new(c, KILN_AVRO_ARRAY, j)))
            return oom(c);
        json_t *it = json_object_get(j, "items");
        if (!it)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: array has no \"items\"", path);
        char sub[256];
        snprintf(sub, sizeof sub, "%s[]", path);
        if ((rc = parse_node(c, it, ns, depth + 1, sub, &s->items)))
            return rc;
        get_id(j, "element-id", &s->element_id);
    } else if (strcmp(t, "map") == 0) {
        if (!(s = node_new(c, KILN_AVRO_MAP, j)))
            return oom(c);
        json_t *it = json_object_get(j, "values");
        if (!it)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: map has no \"values\"", path);
        char sub[256];
        snprintf(sub, sizeof sub, "%s{}", path);
        if ((rc = parse_node(c, it, ns, depth + 1, sub, &s->items)))
            return rc;
        get_id(j, "key-id", &s->key_id);
        get_id(j, "value-id", &s->value_id);
    } else {
        /* {"type": "SomeNamedType"} refers to a defined name */
        kiln_avro_schema *ref = lookup_name(c, t, ns);
        if (!ref)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: unknown type \"%s\"", path, t);
        *out = ref;
        return 0;
    }
    s->doc = astr(c, json_string_value(json_object_get(j, "doc")));
    s->logical_name = astr(c, json_string_value(json_object_get(j, "logicalType")));
    apply_logical(s);
    *out = s;
    return 0;
}

static int parse_node(parse_ctx *c, json_t *j, const char *ns, int depth, const char *path, kiln_avro_schema **out)
{
    if (depth > SCHEMA_MAX_DEPTH)
        return kiln_err_set(c->err, KILN_ELIMIT, "avro schema %s: nested deeper than %d levels", path,
                            SCHEMA_MAX_DEPTH);
    if (json_is_string(j)) {
        const char *t = json_string_value(j);
        kiln_avro_type prim;
        if (primitive_type(t, &prim)) {
            *out = node_new(c, prim, j);
            return *out ? 0 : oom(c);
        }
        kiln_avro_schema *ref = lookup_name(c, t, ns);
        if (!ref)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: unknown type \"%s\"", path, t);
        *out = ref;
        return 0;
    }
    if (json_is_array(j)) {
        kiln_avro_schema *s = node_new(c, KILN_AVRO_UNION, j);
        if (!s)
            return oom(c);
        size_t n = json_array_size(j);
        if (n == 0)
            return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: empty union", path);
        s->branches = kiln_arena_alloc(c->root->arena, n * sizeof *s->branches);
        if (!s->branches)
            return oom(c);
        for (size_t i = 0; i < n; i++) {
            char sub[256];
            snprintf(sub, sizeof sub, "%s|%zu", path, i);
            int rc = parse_node(c, json_array_get(j, i), ns, depth + 1, sub, &s->branches[i]);
            if (rc)
                return rc;
            kiln_avro_schema *b = s->branches[i];
            if (b->type == KILN_AVRO_UNION)
                return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: union directly inside a union", path);
            for (size_t k = 0; k < i; k++) {
                kiln_avro_schema *o = s->branches[k];
                int named = b->type == KILN_AVRO_RECORD || b->type == KILN_AVRO_ENUM || b->type == KILN_AVRO_FIXED;
                if (o->type == b->type && (!named || strcmp(o->name, b->name) == 0))
                    return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: union has two branches of type %s", path,
                                        named ? b->name : kiln_avro_type_name(b->type));
            }
        }
        s->nbranches = n;
        *out = s;
        return 0;
    }
    if (json_is_object(j))
        return parse_object(c, j, ns, depth, path, out);
    return kiln_err_set(c->err, KILN_EFORMAT, "avro schema %s: expected a type name, object or array", path);
}

int kiln_avro_schema_parse(kiln_avro_schema **out, const char *json, size_t len, kiln_err *err)
{
    int rc = 0;
    schema_root *root = NULL;
    *out = NULL;
    if (len > SCHEMA_MAX_JSON)
        return kiln_err_set(err, KILN_ELIMIT, "avro schema: %zu bytes of JSON is over the 16 MiB cap", len);
    root = kiln_calloc(1, sizeof *root);
    if (!root || !(root->arena = kiln_arena_new(16384)) || !(root->names = kiln_map_new()) ||
        !(root->text = kiln_strndup(json, len))) {
        rc = KILN_OOM(err);
        goto done;
    }
    json_error_t jerr;
    root->doc = json_loadb(json, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root->doc) {
        rc = kiln_err_set_at(err, KILN_EFORMAT, (uint64_t)jerr.position, "avro schema: invalid JSON at byte %d: %s",
                             jerr.position, jerr.text);
        goto done;
    }
    parse_ctx c = {root, err};
    kiln_avro_schema *s = NULL;
    rc = parse_node(&c, root->doc, "", 0, "$", &s);
    if (rc)
        goto done;
    /* The root must be a node of its own so root_ does not clobber a shared
     * named node; named nodes are only shared when referenced again. */
    s->root_ = root;
    *out = s;
    root = NULL;
done:
    if (root) {
        json_decref(root->doc);
        kiln_map_free(root->names);
        kiln_arena_free(root->arena);
        kiln_free(root->text);
        kiln_free(root);
    }
    return rc;
}

void kiln_avro_schema_free(kiln_avro_schema *s)
{
    if (!s || !s->root_)
        return;
    schema_root *root = s->root_;
    json_decref(root->doc);
    kiln_map_free(root->names);
    kiln_free(root->text);
    kiln_arena *a = root->arena;
    kiln_free(root);
    kiln_arena_free(a);
}

const char *kiln_avro_schema_json(const kiln_avro_schema *s)
{
    return s && s->root_ ? ((schema_root *)s->root_)->text : NULL;
}

/* ---------------------------------------------------------------- to JSON */

typedef struct emit_ctx {
    kiln_map *seen;
    kiln_err *err;
} emit_ctx;

static json_t *emit(emit_ctx *c, const kiln_avro_schema *s, int depth);

static json_t *emit_copy_attrs(const kiln_avro_schema *s)
{
    json_t *src = s->attrs_;
    if (json_is_object(src))
        return json_copy(src); /* shallow: children replaced below */
    json_t *o = json_object();
    if (o)
        json_object_set_new(o, "type", json_string(kiln_avro_type_name(s->type)));
    return o;
}

static json_t *emit(emit_ctx *c, const kiln_avro_schema *s, int depth)
{
    if (depth > 2 * SCHEMA_MAX_DEPTH + 2)
        return NULL;
    int named = s->type == KILN_AVRO_RECORD || s->type == KILN_AVRO_ENUM || s->type == KILN_AVRO_FIXED;
    if (named) {
        if (kiln_map_has(c->seen, s->name, strlen(s->name)))
            return json_string(s->name);
        if (kiln_map_put(c->seen, s->name, strlen(s->name), (void *)s, NULL))
            return NULL;
    }
    if (s->type == KILN_AVRO_UNION) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < s->nbranches; i++) {
            json_t *b = emit(c, s->branches[i], depth + 1);
            if (!b || json_array_append_new(a, b)) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    if (!named && s->type != KILN_AVRO_ARRAY && s->type != KILN_AVRO_MAP) {
        if (json_is_string((json_t *)s->attrs_) || !s->attrs_)
            return json_string(kiln_avro_type_name(s->type));
        return json_copy(s->attrs_);
    }
    json_t *o = emit_copy_attrs(s);
    if (!o)
        return NULL;
    if (named) {
        json_object_set_new(o, "name", json_string(s->name));
        json_object_del(o, "namespace");
    }
    if (s->type == KILN_AVRO_ARRAY || s->type == KILN_AVRO_MAP) {
        json_t *it = emit(c, s->items, depth + 1);
        if (!it) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, s->type == KILN_AVRO_ARRAY ? "items" : "values", it);
    } else if (s->type == KILN_AVRO_RECORD) {
        json_t *fa = json_array();
        for (size_t i = 0; fa && i < s->nfields; i++) {
            const kiln_avro_field *f = &s->fields[i];
            json_t *fo = json_is_object((json_t *)f->attrs_) ? json_copy(f->attrs_) : json_object();
            json_t *ft = fo ? emit(c, f->type, depth + 1) : NULL;
            if (!ft || json_object_set_new(fo, "type", ft) || json_array_append_new(fa, fo)) {
                json_decref(fo);
                json_decref(fa);
                json_decref(o);
                return NULL;
            }
        }
        if (!fa) {
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "fields", fa);
    }
    return o;
}

int kiln_avro_schema_to_json(const kiln_avro_schema *s, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    char *txt = NULL;
    emit_ctx c = {kiln_map_new(), err};
    json_t *j = c.seen ? emit(&c, s, 0) : NULL;
    if (!j || !(txt = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER))) {
        rc = kiln_err_set(err, KILN_ENOMEM, "avro schema: cannot serialize (out of memory or too deep)");
        goto done;
    }
    rc = kiln_buf_append(out, txt, strlen(txt), err);
done:
    free(txt);
    json_decref(j);
    kiln_map_free(c.seen);
    return rc;
}

/* ---------------------------------------------------------------- attributes */

static int attr_int(json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_integer(v))
        return KILN_ENOTFOUND;
    *out = json_integer_value(v);
    return 0;
}

int kiln_avro_schema_attr_int(const kiln_avro_schema *s, const char *key, int64_t *out)
{
    return attr_int(s->attrs_, key, out);
}

const char *kiln_avro_schema_attr_str(const kiln_avro_schema *s, const char *key)
{
    return json_is_object((json_t *)s->attrs_) ? json_string_value(json_object_get(s->attrs_, key)) : NULL;
}

int kiln_avro_field_attr_int(const kiln_avro_field *f, const char *key, int64_t *out)
{
    return attr_int(f->attrs_, key, out);
}

const char *kiln_avro_field_attr_str(const kiln_avro_field *f, const char *key)
{
    return json_is_object((json_t *)f->attrs_) ? json_string_value(json_object_get(f->attrs_, key)) : NULL;
}

int kiln_avro_schema_field_index(const kiln_avro_schema *r, const char *name)
{
    if (!r || r->type != KILN_AVRO_RECORD)
        return -1;
    for (size_t i = 0; i < r->nfields; i++)
        if (strcmp(r->fields[i].name, name) == 0)
            return (int)i;
    return -1;
}

int kiln_avro_schema_field_index_by_id(const kiln_avro_schema *r, int32_t id)
{
    if (!r || r->type != KILN_AVRO_RECORD || id == KILN_AVRO_NO_ID)
        return -1;
    for (size_t i = 0; i < r->nfields; i++)
        if (r->fields[i].field_id == id)
            return (int)i;
    return -1;
}

int kiln_avro_schema_nullable_branch(const kiln_avro_schema *u)
{
    if (!u || u->type != KILN_AVRO_UNION || u->nbranches != 2)
        return -1;
    if (u->branches[0]->type == KILN_AVRO_NULL && u->branches[1]->type != KILN_AVRO_NULL)
        return 1;
    if (u->branches[1]->type == KILN_AVRO_NULL && u->branches[0]->type != KILN_AVRO_NULL)
        return 0;
    return -1;
}
