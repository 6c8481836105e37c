/*
 * parquet_shred.c - the writer's half of Dremel: a nested (KILN_T_JSON)
 * column's JSON values are shredded into its primitive leaves, each a
 * stream of (repetition level, definition level, value) entries, which
 * parquet_write.c then encodes like flat columns plus levels.
 *
 * Shape (the standard Parquet forms, what Spark, Trino and DuckDB write):
 *   struct  <opt|req> group NAME { fields }
 *   list    <opt|req> group NAME (LIST) { repeated group list { <opt|req> element } }
 *   map     <opt|req> group NAME (MAP) { repeated group key_value { required key; <opt|req> value } }
 * Levels: an optional node adds one definition level; the repeated group of
 * a list or map adds one definition and one repetition level. A leaf's
 * entry carries the repetition level of the deepest list or map that
 * starts a new instance there (0 at the start of a row), and the
 * definition level reached: max_def where the value is present, lower
 * where an ancestor is null, or a list or map is empty.
 *
 * JSON accepted (the forms the reader prints, docs/interop.md): objects for
 * structs (keys are field names; a missing key is null; an unknown key is
 * an error), arrays for lists, objects for maps (keys parsed as the key
 * type), numbers for numbers and decimals (exact text; a string of the
 * number too), "NaN"/"Infinity"/"-Infinity" for floats, strings for
 * string, date, time, timestamp (without a zone: UTC), uuid, and binary
 * (hex). Anything else is an error naming the column path and the row.
 */
#include "format/json/json_scan.h"
#include "format/parquet/parquet_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SHRED_MAX_DEPTH 64

struct snode {
    const kiln_nested *t;
    int kind;
    int opt;
    int def; /* definition level when this node is present */
    int rep; /* list/map: the repetition level of its repeated group; else the enclosing one */
    int l0, l1;
    int nkids;
    snode *kids;
    const char *path; /* "s.commits.element.sha" for messages */
    const char **pos; /* struct scratch: each field's value in the current object */
    int leaf;         /* PRIM: index into leaves */
};

static int count_nodes(const kiln_nested *t, int depth, int *nleaves, int *nel, kiln_err *err)
{
    if (depth > SHRED_MAX_DEPTH)
        return kiln_err_set(err, KILN_ELIMIT, "nested type deeper than %d levels", SHRED_MAX_DEPTH);
    (*nel)++;
    switch (t->kind) {
    case KILN_NEST_PRIM:
        if (t->type == KILN_T_JSON)
            return kiln_err_set(err, KILN_EINVAL, "nested field %s has no primitive type", t->name ? t->name : "?");
        (*nleaves)++;
        return 0;
    case KILN_NEST_STRUCT:
        if (t->nkids < 1)
            return kiln_err_set(err, KILN_EINVAL, "struct %s has no fields (Parquet cannot store an empty group)",
                                t->name ? t->name : "?");
        break;
    case KILN_NEST_LIST:
        if (t->nkids != 1)
            return kiln_err_set(err, KILN_EINVAL, "list %s needs one element type", t->name ? t->name : "?");
        (*nel)++; /* the repeated group */
        break;
    case KILN_NEST_MAP:
        if (t->nkids != 2)
            return kiln_err_set(err, KILN_EINVAL, "map %s needs a key and a value type", t->name ? t->name : "?");
        if (t->kids[0].kind != KILN_NEST_PRIM)
            return kiln_err_set(err, KILN_EUNSUPP, "map %s: kiln writes maps with primitive keys only",
                                t->name ? t->name : "?");
        (*nel)++;
        break;
    default: return kiln_err_set(err, KILN_EINVAL, "unknown nested kind %d", (int)t->kind);
    }
    for (int i = 0; i < t->nkids; i++) {
        int rc = count_nodes(&t->kids[i], depth + 1, nleaves, nel, err);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct build_ctx {
    pq_shredder *s;
    kiln_arena *a;
    int nleaf, nel;
    const char *stack[SHRED_MAX_DEPTH * 2 + 4]; /* Parquet path of the node being built */
    int depth;
    kiln_err *err;
} build_ctx;

static pq_schema_el *new_el(build_ctx *b, const char *name, int repetition, int nchildren)
{
    pq_schema_el *e = &b->s->els[b->nel++];
    memset(e, 0, sizeof *e);
    e->type = -1;
    e->repetition = repetition;
    e->name = name;
    e->num_children = nchildren;
    e->converted = PQ_CT_NONE;
    e->leaf = -1;
    return e;
}

static int build(build_ctx *b, snode *n, const kiln_nested *t, const char *name, int required, const char *ppath,
                 int pdef, int prep)
{
    kiln_arena *a = b->a;
    n->t = t;
    n->kind = t->kind;
    n->opt = !required;
    n->def = pdef + n->opt;
    n->rep = prep;
    n->leaf = -1;
    size_t pl = ppath ? strlen(ppath) : 0, nl = strlen(name);
    char *path = kiln_arena_alloc(a, pl + nl + 2);
    if (!path)
        return KILN_OOM(b->err);
    if (pl) {
        memcpy(path, ppath, pl);
        path[pl] = '.';
        memcpy(path + pl + 1, name, nl + 1);
    } else {
        memcpy(path, name, nl + 1);
    }
    n->path = path;
    b->stack[b->depth++] = name;
    n->l0 = b->nleaf;
    int rc = 0;
    if (t->kind == KILN_NEST_PRIM) {
        pq_sleaf *lf = &b->s->leaves[b->nleaf];
        n->leaf = b->nleaf++;
        lf->max_def = n->def;
        lf->max_rep = prep;
        lf->def.name = name;
        lf->def.type = t->type;
        lf->def.required = required;
        lf->def.field_id = t->field_id;
        lf->def.precision = t->precision;
        lf->def.scale = t->scale;
        lf->path_text = path;
        lf->npath = b->depth;
        lf->path = kiln_arena_alloc(a, sizeof(char *) * (size_t)b->depth);
        if (!lf->path)
            return KILN_OOM(b->err);
        memcpy(lf->path, b->stack, sizeof(char *) * (size_t)b->depth);
        pq_schema_el *e = &b->s->els[b->nel++];
        memset(e, 0, sizeof *e);
        e->leaf = n->leaf; /* filled by the writer (type, annotations) */
        e->repetition = required ? 0 : 1;
        e->name = name;
    } else {
        n->nkids = t->nkids;
        n->kids = kiln_arena_alloc(a, sizeof(snode) * (size_t)t->nkids);
        if (!n->kids)
            return KILN_OOM(b->err);
        memset(n->kids, 0, sizeof(snode) * (size_t)t->nkids);
        if (t->kind == KILN_NEST_STRUCT) {
            pq_schema_el *e = new_el(b, name, required ? 0 : 1, t->nkids);
            e->has_field_id = t->field_id > 0;
            e->field_id = t->field_id;
            n->pos = kiln_arena_alloc(a, sizeof(char *) * (size_t)t->nkids);
            if (!n->pos)
                return KILN_OOM(b->err);
            for (int i = 0; !rc && i < t->nkids; i++) {
                const kiln_nested *k = &t->kids[i];
                if (!k->name || !*k->name)
                    return kiln_err_set(b->err, KILN_EINVAL, "struct %s: a field has no name", path);
                rc = build(b, &n->kids[i], k, k->name, k->required, path, n->def, prep);
            }
        } else {
            int is_map = t->kind == KILN_NEST_MAP;
            pq_schema_el *e = new_el(b, name, required ? 0 : 1, 1);
            e->has_field_id = t->field_id > 0;
            e->field_id = t->field_id;
            e->converted = is_map ? PQ_CT_MAP : PQ_CT_LIST;
            e->logical = is_map ? PQ_LT_MAP : PQ_LT_LIST;
            const char *gname = is_map ? "key_value" : "list";
            new_el(b, gname, 2, is_map ? 2 : 1);
            b->stack[b->depth++] = gname;
            n->rep = prep + 1;
            if (is_map) {
                rc = build(b, &n->kids[0], &t->kids[0], "key", 1, path, n->def + 1, n->rep);
                if (!rc)
                    rc = build(b, &n->kids[1], &t->kids[1], "value", t->kids[1].required, path, n->def + 1, n->rep);
            } else {
                rc = build(b, &n->kids[0], &t->kids[0], "element", t->kids[0].required, path, n->def + 1, n->rep);
            }
            b->depth--;
        }
    }
    b->depth--;
    n->l1 = b->nleaf;
    return rc;
}

int kiln_pq__shred_new(pq_shredder **out, const kiln_column_def *col, const kiln_nested *shape, kiln_arena *a,
                       kiln_err *err)
{
    *out = NULL;
    if (!shape || shape->kind == KILN_NEST_PRIM)
        return kiln_err_set(err, KILN_EINVAL,
                            "parquet writer: column %s is nested (json) but its struct/list/map type is not known",
                            col->name);
    int nleaves = 0, nel = 0;
    int rc = count_nodes(shape, 0, &nleaves, &nel, err);
    if (rc)
        return kiln_err_prefix(err, "parquet writer: column %s: ", col->name);
    pq_shredder *s = kiln_arena_alloc(a, sizeof *s);
    if (!s)
        return KILN_OOM(err);
    memset(s, 0, sizeof *s);
    s->col = col;
    s->nleaves = nleaves;
    s->leaves = kiln_arena_alloc(a, sizeof(pq_sleaf) * (size_t)nleaves);
    s->els = kiln_arena_alloc(a, sizeof(pq_schema_el) * (size_t)nel);
    s->root = kiln_arena_alloc(a, sizeof(snode));
    if (!s->leaves || !s->els || !s->root)
        return KILN_OOM(err);
    memset(s->leaves, 0, sizeof(pq_sleaf) * (size_t)nleaves);
    memset(s->root, 0, sizeof(snode));
    build_ctx b = {.s = s, .a = a, .err = err};
    /* the column's own name, id and nullability (the nested root's kind and kids) */
    kiln_nested top = *shape;
    top.name = col->name;
    top.field_id = col->field_id;
    top.required = col->required;
    kiln_nested *topc = kiln_arena_alloc(a, sizeof *topc);
    if (!topc)
        return KILN_OOM(err);
    *topc = top;
    if ((rc = build(&b, s->root, topc, col->name, col->required, NULL, 0, 0)))
        return kiln_err_prefix(err, "parquet writer: column %s: ", col->name);
    s->nels = b.nel;
    for (int i = 0; i < nleaves; i++)
        kiln_buf_init(&s->leaves[i].col.data, 0);
    kiln_buf_init(&s->tmp, 0);
    *out = s;
    return 0;
}

void kiln_pq__shred_free(pq_shredder *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nleaves; i++) {
        pq_sleaf *l = &s->leaves[i];
        kiln_free(l->defs);
        kiln_free(l->reps);
        kiln_free(l->col.nulls);
        kiln_free(l->col.v.i64);
        kiln_free(l->col.offsets);
        kiln_buf_free(&l->col.data);
        kiln_free(l->row_start);
    }
    kiln_buf_free(&s->tmp);
}

/* ------------------------------------------------------------ entries */

static size_t type_width(kiln_type t)
{
    switch (t) {
    case KILN_T_BOOL: return 1;
    case KILN_T_INT32:
    case KILN_T_DATE:
    case KILN_T_FLOAT: return 4;
    default: return 8;
    }
}

static int leaf_grow(pq_sleaf *l, kiln_err *err)
{
    if (l->n < l->alloc)
        return 0;
    size_t na = l->alloc ? l->alloc * 2 : 1024;
    uint32_t *d = kiln_realloc(l->defs, na * sizeof(uint32_t));
    if (!d)
        return KILN_OOM(err);
    l->defs = d;
    uint32_t *r = kiln_realloc(l->reps, na * sizeof(uint32_t));
    if (!r)
        return KILN_OOM(err);
    l->reps = r;
    uint8_t *nu = kiln_realloc(l->col.nulls, na);
    if (!nu)
        return KILN_OOM(err);
    l->col.nulls = nu;
    if (kiln_type_is_bytes(l->def.type)) {
        uint32_t *o = kiln_realloc(l->col.offsets, (na + 1) * sizeof(uint32_t));
        if (!o)
            return KILN_OOM(err);
        if (!l->col.offsets)
            o[0] = 0;
        l->col.offsets = o;
    } else {
        void *v = kiln_realloc(l->col.v.i64, na * type_width(l->def.type));
        if (!v)
            return KILN_OOM(err);
        l->col.v.i64 = v;
    }
    l->alloc = na;
    return 0;
}

/* Start an entry at (r, d); the caller stores the value when d == max_def. */
static int entry(pq_sleaf *l, uint32_t r, uint32_t d, kiln_err *err)
{
    int rc = leaf_grow(l, err);
    if (rc)
        return rc;
    l->reps[l->n] = r;
    l->defs[l->n] = d;
    l->col.nulls[l->n] = d < (uint32_t)l->max_def;
    if (l->col.offsets)
        l->col.offsets[l->n + 1] = (uint32_t)l->col.data.len;
    l->n++;
    return 0;
}

static int nulls_below(pq_shredder *s, const snode *n, uint32_t r, uint32_t d, kiln_err *err)
{
    for (int k = n->l0; k < n->l1; k++) {
        int rc = entry(&s->leaves[k], r, d, err);
        if (rc)
            return rc;
    }
    return 0;
}

int kiln_parquet_ts_parse_ns(const char *s, size_t n, int64_t *out)
{
    char buf[64];
    if (n < 19 || n > 40)
        return -1;
    memcpy(buf, s, 19);
    size_t i = 19, k = 19;
    int64_t frac = 0, digits = 0;
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (++digits > 9)
                return -1;
            frac = frac * 10 + (s[i] - '0');
        }
        if (!digits)
            return -1;
    }
    for (int64_t d = digits; d < 9; d++)
        frac *= 10;
    if (i == n)
        buf[k++] = 'Z';
    else {
        memcpy(buf + k, s + i, n - i);
        k += n - i;
    }
    int64_t micros;
    if (kiln_ts_parse(buf, k, &micros) || micros % 1000000)
        return -1;
    int64_t secs = micros / 1000000, ns;
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &ns) || __builtin_add_overflow(ns, frac, &ns))
        return -1;
    *out = ns;
    return 0;
}

static int bad(pq_shredder *s, const snode *n, const char *p, size_t len, const char *what, kiln_err *err)
{
    if (len > 60)
        len = 60;
    return kiln_err_set(err, KILN_EFORMAT, "field %s: %s (got '%.*s')", n->path, what, (int)len, p);
}

static int parse_i64(const char *p, size_t n, int64_t *out)
{
    if (!n || n > 24)
        return -1;
    char tmp[32];
    memcpy(tmp, p, n);
    tmp[n] = 0;
    char *e;
    errno = 0;
    long long v = strtoll(tmp, &e, 10);
    if (errno || *e || e == tmp)
        return -1;
    *out = v;
    return 0;
}

static int parse_time(const char *p, size_t n, int64_t *out)
{
    /* HH:MM:SS[.ffffff] */
    if (n < 8 || p[2] != ':' || p[5] != ':')
        return -1;
    int v[3];
    for (int i = 0; i < 3; i++) {
        const char *q = p + 3 * i;
        if (q[0] < '0' || q[0] > '9' || q[1] < '0' || q[1] > '9')
            return -1;
        v[i] = (q[0] - '0') * 10 + (q[1] - '0');
    }
    if (v[0] > 23 || v[1] > 59 || v[2] > 59)
        return -1;
    int64_t us = 0;
    size_t k = 8;
    if (k < n) {
        if (p[k] != '.' || n - k - 1 < 1 || n - k - 1 > 6)
            return -1;
        int digits = 0;
        for (k++; k < n; k++, digits++) {
            if (p[k] < '0' || p[k] > '9')
                return -1;
            us = us * 10 + (p[k] - '0');
        }
        for (; digits < 6; digits++)
            us *= 10;
    }
    *out = ((int64_t)v[0] * 3600 + v[1] * 60 + v[2]) * 1000000 + us;
    return 0;
}

/* Decimal text -> minimal big-endian two's complement of the unscaled value
 * (at most 16 bytes). -1 when it is not a decimal(prec, scale) value. */
int kiln_pq__decimal_text_be(const char *s, size_t n, int prec, int scale, uint8_t out[16], int *len)
{
    size_t k = 0;
    int neg = 0, digits = 0, frac = -1;
    unsigned __int128 v = 0;
    if (k < n && (s[k] == '-' || s[k] == '+'))
        neg = s[k++] == '-';
    if (k >= n)
        return -1;
    for (; k < n; k++) {
        if (s[k] == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (s[k] < '0' || s[k] > '9' || (frac >= 0 && frac >= scale) || (digits && ++digits > prec) ||
            (!digits && s[k] != '0' && (digits = 1) > prec))
            return -1;
        v = v * 10 + (unsigned)(s[k] - '0');
        if (frac >= 0)
            frac++;
    }
    for (int f = frac < 0 ? 0 : frac; f < scale; f++)
        v *= 10; /* cannot overflow: at most 38 digits in all */
    __int128 sv = neg ? -(__int128)v : (__int128)v;
    uint8_t be[16];
    for (int j = 15; j >= 0; j--, sv >>= 8)
        be[j] = (uint8_t)(sv & 0xff);
    int st = 0; /* drop sign-extension bytes */
    while (st < 15 && ((be[st] == 0x00 && !(be[st + 1] & 0x80)) || (be[st] == 0xff && (be[st + 1] & 0x80))))
        st++;
    memcpy(out, be + st, (size_t)(16 - st));
    *len = 16 - st;
    return 0;
}

static int unhex(const char *p, size_t n, kiln_buf *out, kiln_err *err)
{
    if (n % 2)
        return 1;
    kiln_buf_reset(out);
    int rc = kiln_buf_reserve(out, n / 2 + 1, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i += 2) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = p[i + j];
            int h = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (h < 0)
                return 1;
            v = v * 16 + h;
        }
        out->data[out->len++] = (char)v;
    }
    return 0;
}

/* A primitive value at p (a JSON scalar, or a JSON string token). */
static int prim(pq_shredder *s, const snode *n, const char *p, const char *end, uint32_t r, uint32_t d, kiln_err *err)
{
    pq_sleaf *l = &s->leaves[n->leaf];
    const char *why = NULL, *txt;
    size_t len;
    int is_str = *p == '"';
    if (is_str) {
        kiln_buf_reset(&s->tmp);
        uint64_t nrepl = 0;
        if (!kiln_json_str_decode(p, end, &s->tmp, &nrepl, &why))
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad string");
        txt = s->tmp.data ? s->tmp.data : "";
        len = s->tmp.len;
    } else {
        const char *q = kiln_json_skip_value(p, end, &why);
        if (!q)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        txt = p;
        len = (size_t)(q - p);
        if (len && (*p == '{' || *p == '['))
            return bad(s, n, p, len, "expected a primitive value, not an object or array", err);
    }
    int rc = entry(l, r, d, err);
    if (rc)
        return rc;
    size_t i = l->n - 1;
    kiln_type t = l->def.type;
    switch (t) {
    case KILN_T_BOOL:
        if (!is_str && len == 4 && !memcmp(txt, "true", 4))
            l->col.v.b[i] = 1;
        else if (!is_str && len == 5 && !memcmp(txt, "false", 5))
            l->col.v.b[i] = 0;
        else
            return bad(s, n, txt, len, "expected true or false", err);
        return 0;
    case KILN_T_INT32:
    case KILN_T_INT64: {
        int64_t v;
        if (t == KILN_T_INT64 && (l->def.scale == KILN_PARQUET_TS_NANOS || l->def.scale == KILN_PARQUET_TSTZ_NANOS)) {
            /* a nanosecond timestamp leaf (Iceberg v3): its exact text */
            if (!is_str || kiln_parquet_ts_parse_ns(txt, len, &v))
                return bad(s, n, txt, len, "expected a timestamp \"YYYY-MM-DDTHH:MM:SS[.fffffffff][Z]\"", err);
            l->col.v.i64[i] = v;
            return 0;
        }
        if (parse_i64(txt, len, &v) || (t == KILN_T_INT32 && (v < INT32_MIN || v > INT32_MAX)))
            return bad(s, n, txt, len, t == KILN_T_INT32 ? "expected an int (32-bit)" : "expected a long (64-bit)",
                       err);
        if (t == KILN_T_INT32)
            l->col.v.i32[i] = (int32_t)v;
        else
            l->col.v.i64[i] = v;
        return 0;
    }
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: {
        double v;
        if (is_str && len == 3 && !memcmp(txt, "NaN", 3)) {
            v = NAN;
        } else if (is_str && len == 8 && !memcmp(txt, "Infinity", 8)) {
            v = INFINITY;
        } else if (is_str && len == 9 && !memcmp(txt, "-Infinity", 9)) {
            v = -INFINITY;
        } else {
            char tmp[64];
            if (!len || len >= sizeof tmp)
                return bad(s, n, txt, len, "expected a number", err);
            memcpy(tmp, txt, len);
            tmp[len] = 0;
            char *e;
            v = strtod(tmp, &e);
            if (*e || isnan(v) || isinf(v))
                return bad(s, n, txt, len, "expected a number", err);
        }
        if (t == KILN_T_FLOAT)
            l->col.v.f32[i] = (float)v;
        else
            l->col.v.f64[i] = v;
        return 0;
    }
    case KILN_T_DECIMAL: {
        int64_t v;
        int exact = 0;
        if (kiln_decimal_parse(&v, &exact, txt, len, l->def.scale) || !exact)
            return bad(s, n, txt, len, "not an exact decimal at this scale", err);
        int64_t lim = 1;
        for (int k = 0; k < l->def.precision; k++)
            lim *= 10;
        if (v >= lim || v <= -lim)
            return bad(s, n, txt, len, "more digits than the decimal's precision", err);
        l->col.v.i64[i] = v;
        return 0;
    }
    case KILN_T_DATE: {
        int64_t v;
        if (!is_str || kiln_date_parse(txt, len, &v) || v < INT32_MIN || v > INT32_MAX)
            return bad(s, n, txt, len, "expected a date \"YYYY-MM-DD\"", err);
        l->col.v.i32[i] = (int32_t)v;
        return 0;
    }
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        int64_t v;
        if (!is_str)
            return bad(s, n, txt, len, "expected a timestamp string", err);
        if (kiln_ts_parse(txt, len, &v)) {
            char tmp[80];
            if (len + 2 > sizeof tmp)
                return bad(s, n, txt, len, "expected a timestamp \"YYYY-MM-DDTHH:MM:SS[.ffffff][Z]\"", err);
            memcpy(tmp, txt, len);
            tmp[len] = 'Z';
            if (kiln_ts_parse(tmp, len + 1, &v))
                return bad(s, n, txt, len, "expected a timestamp \"YYYY-MM-DDTHH:MM:SS[.ffffff][Z]\"", err);
        }
        l->col.v.i64[i] = v;
        return 0;
    }
    case KILN_T_TIME: {
        int64_t v;
        if (!is_str || parse_time(txt, len, &v))
            return bad(s, n, txt, len, "expected a time \"HH:MM:SS[.ffffff]\"", err);
        l->col.v.i64[i] = v;
        return 0;
    }
    case KILN_T_STRING:
        if (!is_str)
            return bad(s, n, txt, len, "expected a string", err);
        break;
    case KILN_T_BINARY: {
        if (!is_str)
            return bad(s, n, txt, len, "expected binary as a hex string", err);
        kiln_buf hex;
        kiln_buf_init(&hex, 0);
        int h = unhex(txt, len, &hex, err);
        if (h == 0)
            h = kiln_buf_append(&l->col.data, hex.data ? hex.data : "", hex.len, err);
        kiln_buf_free(&hex);
        if (h == 1)
            return bad(s, n, txt, len, "expected binary as a hex string", err);
        if (h)
            return h;
        l->col.offsets[i + 1] = (uint32_t)l->col.data.len;
        return 0;
    }
    case KILN_T_UUID: {
        uint8_t u[16];
        if (!is_str || kiln_uuid_parse(txt, len, u))
            return bad(s, n, txt, len, "expected a uuid", err);
        if ((rc = kiln_buf_append(&l->col.data, u, 16, err)))
            return rc;
        l->col.offsets[i + 1] = (uint32_t)l->col.data.len;
        return 0;
    }
    case KILN_T_DECIMAL_WIDE: {
        uint8_t be[16];
        int bl;
        if (kiln_pq__decimal_text_be(txt, len, l->def.precision, l->def.scale, be, &bl))
            return bad(s, n, txt, len, "not a decimal value of this precision and scale", err);
        if ((rc = kiln_buf_append(&l->col.data, be, (size_t)bl, err)))
            return rc;
        l->col.offsets[i + 1] = (uint32_t)l->col.data.len;
        return 0;
    }
    default: return kiln_err_set(err, KILN_EUNSUPP, "field %s: type %s cannot be written", n->path, kiln_type_name(t));
    }
    /* string */
    if ((rc = kiln_buf_append(&l->col.data, txt, len, err)))
        return rc;
    if (l->col.data.len > 0xffffffffu)
        return kiln_err_set(err, KILN_ELIMIT, "field %s: over 4 GB of values in one batch", n->path);
    l->col.offsets[i + 1] = (uint32_t)l->col.data.len;
    return 0;
}

static int is_null(const char *p, const char *end) { return !p || (end - p >= 4 && !memcmp(p, "null", 4)); }

static int shred(pq_shredder *s, const snode *n, const char *p, const char *end, uint32_t r, uint32_t pdef,
                 kiln_err *err);

/* The instances of a list (p at '[') or a map (p at '{'). */
static int repeated(pq_shredder *s, const snode *n, const char *p, const char *end, uint32_t r, uint32_t d,
                    kiln_err *err)
{
    const char *why = NULL;
    int rc, first = 1;
    if (n->kind == KILN_NEST_LIST) {
        if (*p != '[')
            return bad(s, n, p, (size_t)(end - p), "expected an array for a list", err);
        const char *q = kiln_json_ws(p + 1, end);
        if (q < end && *q == ']')
            return nulls_below(s, n, r, d, err); /* an empty list */
        for (;;) {
            if (q >= end)
                return kiln_err_set(err, KILN_EFORMAT, "field %s: truncated array", n->path);
            const char *ve = kiln_json_skip_value(q, end, &why);
            if (!ve)
                return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
            if ((rc = shred(s, &n->kids[0], q, ve, first ? r : (uint32_t)n->rep, d + 1, err)))
                return rc;
            first = 0;
            q = kiln_json_ws(ve, end);
            if (q < end && *q == ',') {
                q = kiln_json_ws(q + 1, end);
                continue;
            }
            if (q < end && *q == ']')
                return 0;
            return kiln_err_set(err, KILN_EFORMAT, "field %s: expected ',' or ']' in an array", n->path);
        }
    }
    /* map */
    const char *q = kiln_json_obj_begin(p, end, &why);
    if (!q)
        return bad(s, n, p, (size_t)(end - p), "expected an object for a map", err);
    int done = 0;
    for (;;) {
        const char *key;
        size_t keylen;
        const char *v = kiln_json_obj_key(q, end, &key, &keylen, &done, &why);
        if (!v)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        if (done)
            break;
        uint32_t rr = first ? r : (uint32_t)n->rep;
        first = 0;
        if ((rc = prim(s, &n->kids[0], key - 1, end, rr, d + 1, err)))
            return rc;
        const char *ve = kiln_json_skip_value(v, end, &why);
        if (!ve)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        if ((rc = shred(s, &n->kids[1], v, ve, rr, d + 1, err)))
            return rc;
        q = kiln_json_obj_next(ve, end, &done, &why);
        if (!q)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        if (done)
            break;
    }
    if (first)
        return nulls_below(s, n, r, d, err); /* an empty map */
    return 0;
}

/* Node n's value at p (NULL: absent), under a parent defined to pdef; r is
 * the repetition level of this subtree's first entry. */
static int shred(pq_shredder *s, const snode *n, const char *p, const char *end, uint32_t r, uint32_t pdef,
                 kiln_err *err)
{
    if (is_null(p, end)) {
        if (!n->opt)
            return kiln_err_set(err, KILN_EFORMAT, "field %s is required but the value is null or missing", n->path);
        return nulls_below(s, n, r, pdef, err);
    }
    uint32_t d = pdef + (uint32_t)n->opt;
    if (n->kind == KILN_NEST_PRIM)
        return prim(s, n, p, end, r, d, err);
    if (n->kind != KILN_NEST_STRUCT)
        return repeated(s, n, p, end, r, d, err);
    const char *why = NULL;
    const char *q = kiln_json_obj_begin(p, end, &why);
    if (!q)
        return bad(s, n, p, (size_t)(end - p), "expected an object for a struct", err);
    for (int i = 0; i < n->nkids; i++)
        n->pos[i] = NULL;
    int done = 0;
    for (;;) {
        const char *key;
        size_t keylen;
        const char *v = kiln_json_obj_key(q, end, &key, &keylen, &done, &why);
        if (!v)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        if (done)
            break;
        int k = 0;
        for (; k < n->nkids; k++)
            if (strlen(n->kids[k].t->name) == keylen && !memcmp(n->kids[k].t->name, key, keylen))
                break;
        if (k == n->nkids)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: the struct has no field \"%.*s\"", n->path,
                                (int)(keylen > 60 ? 60 : keylen), key);
        n->pos[k] = v;
        const char *ve = kiln_json_skip_value(v, end, &why);
        if (!ve)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        q = kiln_json_obj_next(ve, end, &done, &why);
        if (!q)
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        if (done)
            break;
    }
    /* children in schema order (pos[] is reused by nothing below: each node has its own) */
    for (int k = 0; k < n->nkids; k++) {
        const char *v = n->pos[k];
        const char *ve = end;
        if (!v && n->kids[k].t->wdef) { /* a missing key: the field's write-default */
            v = n->kids[k].t->wdef;
            ve = v + strlen(v);
        } else if (v && !(ve = kiln_json_skip_value(v, end, &why)))
            return kiln_err_set(err, KILN_EFORMAT, "field %s: %s", n->path, why ? why : "bad JSON");
        int rc = shred(s, &n->kids[k], v, ve, r, d, err);
        if (rc)
            return rc;
    }
    return 0;
}

int kiln_pq__shred_batch(pq_shredder *s, const kiln_batch *b, int bcol, kiln_err *err)
{
    for (int k = 0; k < s->nleaves; k++) {
        pq_sleaf *l = &s->leaves[k];
        l->n = 0;
        kiln_buf_reset(&l->col.data);
        if (l->col.offsets)
            l->col.offsets[0] = 0;
        if (l->rows_alloc < b->nrows + 1) {
            uint32_t *rs = kiln_realloc(l->row_start, sizeof(uint32_t) * (b->nrows + 1));
            if (!rs)
                return KILN_OOM(err);
            l->row_start = rs;
            l->rows_alloc = b->nrows + 1;
        }
        l->col.type = l->def.type == KILN_T_DECIMAL_WIDE ? KILN_T_BINARY : l->def.type;
    }
    const kiln_col *bc = &b->cols[bcol];
    for (size_t row = 0; row < b->nrows; row++) {
        for (int k = 0; k < s->nleaves; k++)
            s->leaves[k].row_start[row] = (uint32_t)s->leaves[k].n;
        const char *p = NULL, *end = NULL;
        if (!(bc->nulls && bc->nulls[row])) {
            size_t n;
            p = kiln_batch_str(b, bcol, row, &n);
            end = p + n;
            p = kiln_json_ws(p, end);
            while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\t' || end[-1] == '\r'))
                end--;
            if (p >= end)
                p = NULL;
        }
        int rc = shred(s, s->root, p, end, 0, 0, err);
        if (rc)
            return kiln_err_prefix(err, "parquet writer: column %s, row %zu: ", s->col->name, row);
        for (int k = 0; k < s->nleaves; k++)
            if (s->leaves[k].n > 0xffffffffu)
                return kiln_err_set(err, KILN_ELIMIT, "parquet writer: column %s: over 4G nested values in a batch",
                                    s->col->name);
    }
    for (int k = 0; k < s->nleaves; k++) {
        pq_sleaf *l = &s->leaves[k];
        l->row_start[b->nrows] = (uint32_t)l->n;
        l->col.len = l->n;
    }
    return 0;
}
