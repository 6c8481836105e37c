/*
 * avro_value.c - the Avro value DOM: builders, record field lookup, JSON
 * output (one line per record for `kiln avro cat`) and turning a schema
 * field's JSON default into a value. All value memory comes from a
 * caller-owned kiln_arena.
 */
#include "format/avro/avro.h"
#include "format/avro/avro_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VALUE_MAX_DEPTH 128

kiln_avro_value *kiln_avro_value_new(kiln_arena *a, kiln_avro_type t)
{
    kiln_avro_value *v = kiln_arena_alloc(a, sizeof *v);
    if (!v)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = t;
    v->branch = -1;
    return v;
}

int kiln_avro_value_set_record(kiln_avro_value *v, kiln_arena *a, const kiln_avro_schema *rec)
{
    size_t n = rec->nfields;
    kiln_avro_value *kids = kiln_arena_alloc(a, (n ? n : 1) * sizeof *kids);
    if (!kids)
        return KILN_ENOMEM;
    memset(kids, 0, (n ? n : 1) * sizeof *kids);
    for (size_t i = 0; i < n; i++) {
        const kiln_avro_field *f = &rec->fields[i];
        kids[i].type = KILN_AVRO_NULL;
        kids[i].branch = -1;
        if (f->default_json) {
            const char *d = f->default_json;
            /* only cheap scalar defaults; records/arrays are left for the caller */
            if (d[0] != '{' && d[0] != '[') {
                kiln_avro_value tmp;
                if (kiln_avro__value_from_default(&tmp, a, f->type, d, NULL) == 0) {
                    kids[i] = tmp;
                    kids[i].branch = -1; /* the writer picks the branch by type */
                }
            }
        }
    }
    v->type = KILN_AVRO_RECORD;
    v->schema = rec;
    v->u.array.n = n;
    v->u.array.items = kids;
    return 0;
}

kiln_avro_value *kiln_avro_value_new_record(kiln_arena *a, const kiln_avro_schema *rec)
{
    if (!rec || rec->type != KILN_AVRO_RECORD)
        return NULL;
    kiln_avro_value *v = kiln_avro_value_new(a, KILN_AVRO_RECORD);
    if (!v || kiln_avro_value_set_record(v, a, rec))
        return NULL;
    return v;
}

void kiln_avro_value_set_null(kiln_avro_value *v) { v->type = KILN_AVRO_NULL; }
void kiln_avro_value_set_bool(kiln_avro_value *v, int b) { v->type = KILN_AVRO_BOOLEAN, v->u.boolean = !!b; }
void kiln_avro_value_set_int(kiln_avro_value *v, int32_t x) { v->type = KILN_AVRO_INT, v->u.i = x; }
void kiln_avro_value_set_long(kiln_avro_value *v, int64_t x) { v->type = KILN_AVRO_LONG, v->u.l = x; }
void kiln_avro_value_set_float(kiln_avro_value *v, float x) { v->type = KILN_AVRO_FLOAT, v->u.f = x; }
void kiln_avro_value_set_double(kiln_avro_value *v, double x) { v->type = KILN_AVRO_DOUBLE, v->u.d = x; }
void kiln_avro_value_set_enum(kiln_avro_value *v, int32_t i) { v->type = KILN_AVRO_ENUM, v->u.i = i; }

static int set_blob(kiln_avro_value *v, kiln_arena *a, kiln_avro_type t, const void *p, size_t n)
{
    uint8_t *d = kiln_arena_alloc(a, n + 1);
    if (!d)
        return KILN_ENOMEM;
    if (n)
        memcpy(d, p, n);
    d[n] = 0;
    v->type = t;
    v->u.bytes.ptr = d;
    v->u.bytes.len = n;
    return 0;
}

int kiln_avro_value_set_string(kiln_avro_value *v, kiln_arena *a, const char *s, size_t n)
{
    return set_blob(v, a, KILN_AVRO_STRING, s, n);
}

int kiln_avro_value_set_bytes(kiln_avro_value *v, kiln_arena *a, const void *p, size_t n)
{
    return set_blob(v, a, KILN_AVRO_BYTES, p, n);
}

int kiln_avro_value_set_fixed(kiln_avro_value *v, kiln_arena *a, const void *p, size_t n)
{
    return set_blob(v, a, KILN_AVRO_FIXED, p, n);
}

int kiln_avro_value_set_array(kiln_avro_value *v, kiln_arena *a, size_t n)
{
    if (n > SIZE_MAX / sizeof(kiln_avro_value) - 1)
        return KILN_ENOMEM;
    kiln_avro_value *items = kiln_arena_alloc(a, (n ? n : 1) * sizeof *items);
    if (!items)
        return KILN_ENOMEM;
    memset(items, 0, (n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i].branch = -1;
    v->type = KILN_AVRO_ARRAY;
    v->u.array.n = n;
    v->u.array.items = items;
    return 0;
}

int kiln_avro_value_set_map(kiln_avro_value *v, kiln_arena *a, size_t n)
{
    if (n > SIZE_MAX / sizeof(kiln_avro_value) - 1)
        return KILN_ENOMEM;
    kiln_avro_value *vals = kiln_arena_alloc(a, (n ? n : 1) * sizeof *vals);
    const char **keys = kiln_arena_alloc(a, (n ? n : 1) * sizeof *keys);
    if (!vals || !keys)
        return KILN_ENOMEM;
    memset(vals, 0, (n ? n : 1) * sizeof *vals);
    for (size_t i = 0; i < n; i++) {
        vals[i].branch = -1;
        keys[i] = "";
    }
    v->type = KILN_AVRO_MAP;
    v->u.map.n = n;
    v->u.map.keys = keys;
    v->u.map.vals = vals;
    return 0;
}

kiln_avro_value *kiln_avro_value_field(const kiln_avro_value *rec, const char *name)
{
    if (!rec || rec->type != KILN_AVRO_RECORD || !rec->schema)
        return NULL;
    int i = kiln_avro_schema_field_index(rec->schema, name);
    return i >= 0 && (size_t)i < rec->u.array.n ? &rec->u.array.items[i] : NULL;
}

kiln_avro_value *kiln_avro_value_field_by_id(const kiln_avro_value *rec, int32_t id)
{
    if (!rec || rec->type != KILN_AVRO_RECORD || !rec->schema)
        return NULL;
    int i = kiln_avro_schema_field_index_by_id(rec->schema, id);
    return i >= 0 && (size_t)i < rec->u.array.n ? &rec->u.array.items[i] : NULL;
}

int kiln_avro_value_is_null(const kiln_avro_value *v) { return !v || v->type == KILN_AVRO_NULL; }

/* ---------------------------------------------------------------- JSON out */

static int put_utf8_cp(kiln_buf *out, unsigned cp, kiln_err *err)
{
    char b[4];
    size_t n;
    if (cp < 0x80)
        b[0] = (char)cp, n = 1;
    else if (cp < 0x800)
        b[0] = (char)(0xC0 | (cp >> 6)), b[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    else
        b[0] = (char)(0xE0 | (cp >> 12)), b[1] = (char)(0x80 | ((cp >> 6) & 0x3F)), b[2] = (char)(0x80 | (cp & 0x3F)),
        n = 3;
    return kiln_buf_append(out, b, n, err);
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0)
        len = 2, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0)
        len = 3, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* bytes_mode: every byte is one code point (Avro JSON encoding of bytes). */
static int put_json_string(kiln_buf *out, const uint8_t *p, size_t n, int bytes_mode, kiln_err *err)
{
    int rc = kiln_buf_putc(out, '"', err);
    size_t i = 0;
    while (rc == 0 && i < n) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = kiln_buf_append(out, e, 2, err);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            rc = kiln_buf_printf(out, err, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            rc = kiln_buf_putc(out, (char)c, err);
            i++;
        } else if (bytes_mode) {
            rc = put_utf8_cp(out, c, err);
            i++;
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                rc = kiln_buf_append(out, "\\ufffd", 6, err);
                i++;
            } else {
                rc = kiln_buf_append(out, p + i, l, err);
                i += l;
            }
        }
    }
    return rc ? rc : kiln_buf_putc(out, '"', err);
}

static int put_double(kiln_buf *out, double d, int is_float, kiln_err *err)
{
    if (isnan(d))
        return kiln_buf_append(out, "\"NaN\"", 5, err);
    if (isinf(d))
        return d > 0 ? kiln_buf_append(out, "\"Infinity\"", 10, err) : kiln_buf_append(out, "\"-Infinity\"", 11, err);
    char tmp[40];
    snprintf(tmp, sizeof tmp, is_float ? "%.9g" : "%.17g", d);
    /* shortest form that round-trips */
    for (int prec = 1; prec <= (is_float ? 9 : 17); prec++) {
        char t2[40];
        snprintf(t2, sizeof t2, "%.*g", prec, d);
        if (is_float ? (strtof(t2, NULL) == (float)d) : (strtod(t2, NULL) == d)) {
            memcpy(tmp, t2, sizeof tmp);
            break;
        }
    }
    int rc = kiln_buf_append(out, tmp, strlen(tmp), err);
    /* keep it a JSON number but visibly floating: 1 -> 1.0 */
    if (rc == 0 && !strpbrk(tmp, ".eE"))
        rc = kiln_buf_append(out, ".0", 2, err);
    return rc;
}

/* The schema a value has: its own, else the hint from its parent (a union
 * hint resolves by branch index or by type). */
static const kiln_avro_schema *resolve_hint(const kiln_avro_value *v, const kiln_avro_schema *hint)
{
    if (v->schema)
        return v->schema;
    if (hint && hint->type == KILN_AVRO_UNION) {
        if (v->branch >= 0 && (size_t)v->branch < hint->nbranches)
            return hint->branches[v->branch];
        for (size_t i = 0; i < hint->nbranches; i++)
            if (hint->branches[i]->type == v->type)
                return hint->branches[i];
        return NULL;
    }
    return hint && hint->type == v->type ? hint : NULL;
}

static int to_json(const kiln_avro_value *v, const kiln_avro_schema *hint, kiln_buf *out, int depth, kiln_err *err)
{
    int rc = 0;
    const kiln_avro_schema *sch = resolve_hint(v, hint);
    if (depth > VALUE_MAX_DEPTH)
        return kiln_err_set(err, KILN_ELIMIT, "avro: value nested deeper than %d levels", VALUE_MAX_DEPTH);
    switch (v->type) {
    case KILN_AVRO_NULL: return kiln_buf_append(out, "null", 4, err);
    case KILN_AVRO_BOOLEAN:
        return v->u.boolean ? kiln_buf_append(out, "true", 4, err) : kiln_buf_append(out, "false", 5, err);
    case KILN_AVRO_INT: return kiln_buf_printf(out, err, "%d", (int)v->u.i);
    case KILN_AVRO_LONG: return kiln_buf_printf(out, err, "%lld", (long long)v->u.l);
    case KILN_AVRO_FLOAT: return put_double(out, v->u.f, 1, err);
    case KILN_AVRO_DOUBLE: return put_double(out, v->u.d, 0, err);
    case KILN_AVRO_STRING: return put_json_string(out, v->u.bytes.ptr, v->u.bytes.len, 0, err);
    case KILN_AVRO_BYTES:
    case KILN_AVRO_FIXED: return put_json_string(out, v->u.bytes.ptr, v->u.bytes.len, 1, err);
    case KILN_AVRO_ENUM:
        if (sch && sch->type == KILN_AVRO_ENUM && v->u.i >= 0 && (size_t)v->u.i < sch->nsymbols)
            return put_json_string(out, (const uint8_t *)sch->symbols[v->u.i], strlen(sch->symbols[v->u.i]), 0, err);
        return kiln_buf_printf(out, err, "%d", (int)v->u.i);
    case KILN_AVRO_ARRAY:
        rc = kiln_buf_putc(out, '[', err);
        for (size_t i = 0; rc == 0 && i < v->u.array.n; i++) {
            if (i)
                rc = kiln_buf_putc(out, ',', err);
            if (rc == 0)
                rc = to_json(&v->u.array.items[i], sch ? sch->items : NULL, out, depth + 1, err);
        }
        return rc ? rc : kiln_buf_putc(out, ']', err);
    case KILN_AVRO_MAP:
        rc = kiln_buf_putc(out, '{', err);
        for (size_t i = 0; rc == 0 && i < v->u.map.n; i++) {
            if (i)
                rc = kiln_buf_putc(out, ',', err);
            if (rc == 0)
                rc = put_json_string(out, (const uint8_t *)v->u.map.keys[i], strlen(v->u.map.keys[i]), 0, err);
            if (rc == 0)
                rc = kiln_buf_putc(out, ':', err);
            if (rc == 0)
                rc = to_json(&v->u.map.vals[i], sch ? sch->items : NULL, out, depth + 1, err);
        }
        return rc ? rc : kiln_buf_putc(out, '}', err);
    case KILN_AVRO_RECORD:
        rc = kiln_buf_putc(out, '{', err);
        for (size_t i = 0; rc == 0 && i < v->u.array.n; i++) {
            if (i)
                rc = kiln_buf_putc(out, ',', err);
            char fallback[24];
            const char *name = fallback;
            const kiln_avro_schema *fs = NULL;
            if (sch && sch->type == KILN_AVRO_RECORD && i < sch->nfields)
                name = sch->fields[i].name, fs = sch->fields[i].type;
            else
                snprintf(fallback, sizeof fallback, "f%zu", i);
            if (rc == 0)
                rc = put_json_string(out, (const uint8_t *)name, strlen(name), 0, err);
            if (rc == 0)
                rc = kiln_buf_putc(out, ':', err);
            if (rc == 0)
                rc = to_json(&v->u.array.items[i], fs, out, depth + 1, err);
        }
        return rc ? rc : kiln_buf_putc(out, '}', err);
    case KILN_AVRO_UNION: break;
    }
    return kiln_err_set(err, KILN_EINTERNAL, "avro: value has invalid type %d", (int)v->type);
}

int kiln_avro_value_to_json(const kiln_avro_value *v, kiln_buf *out, kiln_err *err)
{
    return to_json(v, NULL, out, 0, err);
}

/* ---------------------------------------------------------------- defaults */

static int from_json(kiln_avro_value *v, kiln_arena *a, const kiln_avro_schema *s, json_t *j, int depth, kiln_err *err)
{
    memset(v, 0, sizeof *v);
    v->branch = -1;
    v->schema = s;
    v->type = s->type;
    if (depth > VALUE_MAX_DEPTH)
        return kiln_err_set(err, KILN_ELIMIT, "avro default: nested too deeply");
    switch (s->type) {
    case KILN_AVRO_NULL:
        if (json_is_null(j))
            return 0;
        break;
    case KILN_AVRO_BOOLEAN:
        if (json_is_boolean(j)) {
            v->u.boolean = json_is_true(j);
            return 0;
        }
        break;
    case KILN_AVRO_INT:
        if (json_is_integer(j) && json_integer_value(j) >= INT32_MIN && json_integer_value(j) <= INT32_MAX) {
            v->u.i = (int32_t)json_integer_value(j);
            return 0;
        }
        break;
    case KILN_AVRO_LONG:
        if (json_is_integer(j)) {
            v->u.l = json_integer_value(j);
            return 0;
        }
        break;
    case KILN_AVRO_FLOAT:
    case KILN_AVRO_DOUBLE:
        if (json_is_number(j)) {
            if (s->type == KILN_AVRO_FLOAT)
                v->u.f = (float)json_number_value(j);
            else
                v->u.d = json_number_value(j);
            return 0;
        }
        if (json_is_string(j)) { /* "NaN", "Infinity" */
            const char *t = json_string_value(j);
            double d = strcmp(t, "NaN") == 0         ? NAN
                       : strcmp(t, "Infinity") == 0  ? INFINITY
                       : strcmp(t, "-Infinity") == 0 ? -INFINITY
                                                     : 0.0;
            if (d != 0.0 || isnan(d)) {
                if (s->type == KILN_AVRO_FLOAT)
                    v->u.f = (float)d;
                else
                    v->u.d = d;
                return 0;
            }
        }
        break;
    case KILN_AVRO_STRING:
        if (json_is_string(j))
            return kiln_avro_value_set_string(v, a, json_string_value(j), json_string_length(j)) ? KILN_ENOMEM : 0;
        break;
    case KILN_AVRO_BYTES:
    case KILN_AVRO_FIXED:
        if (json_is_string(j)) {
            /* code points U+0000..U+00FF are the bytes */
            const uint8_t *p = (const uint8_t *)json_string_value(j);
            size_t n = json_string_length(j), k = 0;
            uint8_t *d = kiln_arena_alloc(a, n + 1);
            if (!d)
                return KILN_ENOMEM;
            for (size_t i = 0; i < n;) {
                if (p[i] < 0x80)
                    d[k++] = p[i++];
                else if ((p[i] & 0xE0) == 0xC0 && i + 1 < n && p[i] <= 0xC3)
                    d[k++] = (uint8_t)(((p[i] & 0x1F) << 6) | (p[i + 1] & 0x3F)), i += 2;
                else
                    goto bad;
            }
            d[k] = 0;
            if (s->type == KILN_AVRO_FIXED && k != s->size)
                break;
            v->u.bytes.ptr = d;
            v->u.bytes.len = k;
            return 0;
        }
        break;
    case KILN_AVRO_ENUM:
        if (json_is_string(j)) {
            for (size_t i = 0; i < s->nsymbols; i++)
                if (strcmp(s->symbols[i], json_string_value(j)) == 0) {
                    v->u.i = (int32_t)i;
                    return 0;
                }
        }
        break;
    case KILN_AVRO_ARRAY:
        if (json_is_array(j)) {
            if (kiln_avro_value_set_array(v, a, json_array_size(j)))
                return KILN_ENOMEM;
            for (size_t i = 0; i < json_array_size(j); i++) {
                int rc = from_json(&v->u.array.items[i], a, s->items, json_array_get(j, i), depth + 1, err);
                if (rc)
                    return rc;
            }
            return 0;
        }
        break;
    case KILN_AVRO_MAP:
        if (json_is_object(j)) {
            if (kiln_avro_value_set_map(v, a, json_object_size(j)))
                return KILN_ENOMEM;
            size_t i = 0;
            const char *key;
            json_t *val;
            json_object_foreach(j, key, val)
            {
                if (!(v->u.map.keys[i] = kiln_arena_strndup(a, key, strlen(key))))
                    return KILN_ENOMEM;
                int rc = from_json(&v->u.map.vals[i], a, s->items, val, depth + 1, err);
                if (rc)
                    return rc;
                i++;
            }
            return 0;
        }
        break;
    case KILN_AVRO_RECORD:
        if (json_is_object(j)) {
            size_t n = s->nfields;
            kiln_avro_value *kids = kiln_arena_alloc(a, (n ? n : 1) * sizeof *kids);
            if (!kids)
                return KILN_ENOMEM;
            for (size_t i = 0; i < n; i++) {
                const kiln_avro_field *f = &s->fields[i];
                json_t *fj = json_object_get(j, f->name);
                json_t *owned = NULL;
                if (!fj && f->default_json)
                    fj = owned = json_loads(f->default_json, JSON_DECODE_ANY, NULL);
                if (!fj)
                    return kiln_err_set(err, KILN_EFORMAT, "avro default: record %s lacks field %s",
                                        s->name ? s->name : "?", f->name);
                int rc = from_json(&kids[i], a, f->type, fj, depth + 1, err);
                json_decref(owned);
                if (rc)
                    return rc;
            }
            v->u.array.n = n;
            v->u.array.items = kids;
            return 0;
        }
        break;
    case KILN_AVRO_UNION: {
        /* The spec says the default is for the first branch; accept any
         * branch that fits (many writers put null defaults on [T,"null"]). */
        for (size_t b = 0; b < s->nbranches; b++) {
            kiln_err tmp = {0};
            if (from_json(v, a, s->branches[b], j, depth + 1, &tmp) == 0) {
                v->branch = (int32_t)b;
                return 0;
            }
        }
        break;
    }
    }
bad:
    return kiln_err_set(err, KILN_EFORMAT, "avro default: JSON value does not fit type %s",
                        s->name ? s->name : kiln_avro_type_name(s->type));
}

int kiln_avro__value_from_default(kiln_avro_value *out, kiln_arena *a, const kiln_avro_schema *s, const char *json,
                                  kiln_err *err)
{
    json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
    if (!j)
        return kiln_err_set(err, KILN_EFORMAT, "avro default: invalid JSON %.60s", json);
    int rc = from_json(out, a, s, j, 0, err);
    json_decref(j);
    return rc;
}
