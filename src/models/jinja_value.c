/*
 * jinja_value.c - the values of kiln's Jinja interpreter: reference-counted
 * strings, lists, insertion-ordered dicts, functions and objects, with
 * Python's truthiness, equality, ordering, str() and repr() (what Jinja2
 * prints, since its output is Python's str of each value).
 */
#include "models/jinja_int.h"

#include <math.h>
#include <stdlib.h>

kj_val kj_retain(kj_val v)
{
    switch (v.t) {
    case KJ_STR:
    case KJ_UNDEF:
        if (v.u.s)
            v.u.s->rc++;
        break;
    case KJ_LIST: v.u.l->rc++; break;
    case KJ_DICT: v.u.d->rc++; break;
    case KJ_FUNC: v.u.fn->rc++; break;
    case KJ_OBJ: v.u.o->rc++; break;
    default: break;
    }
    return v;
}

void kj_func_destroy(kj_func *fn); /* jinja.c */

void kj_release(kj_val v)
{
    switch (v.t) {
    case KJ_STR:
    case KJ_UNDEF:
        if (v.u.s && --v.u.s->rc == 0)
            kiln_free(v.u.s);
        break;
    case KJ_LIST:
        if (--v.u.l->rc == 0) {
            for (size_t i = 0; i < v.u.l->len; i++)
                kj_release(v.u.l->items[i]);
            kiln_free(v.u.l->items);
            kiln_free(v.u.l);
        }
        break;
    case KJ_DICT:
        if (--v.u.d->rc == 0) {
            for (size_t i = 0; i < v.u.d->len; i++) {
                kj_release(v.u.d->keys[i]);
                kj_release(v.u.d->vals[i]);
            }
            kiln_free(v.u.d->keys);
            kiln_free(v.u.d->vals);
            kiln_map_free(v.u.d->idx);
            kiln_free(v.u.d);
        }
        break;
    case KJ_FUNC:
        if (--v.u.fn->rc == 0)
            kj_func_destroy(v.u.fn);
        break;
    case KJ_OBJ:
        if (--v.u.o->rc == 0) {
            if (v.u.o->cls->free)
                v.u.o->cls->free(v.u.o->ud);
            kiln_free(v.u.o);
        }
        break;
    default: break;
    }
}

kj_val kj_str_new(const char *p, size_t n)
{
    kj_val v = kj_undef();
    kj_str *s = kiln_malloc(sizeof(kj_str) + n + 1);
    if (!s)
        return v;
    s->rc = 1;
    s->len = n;
    if (n)
        memcpy(s->p, p, n);
    s->p[n] = 0;
    v.t = KJ_STR;
    v.u.s = s;
    return v;
}

kj_val kj_str_c(const char *s) { return kj_str_new(s, strlen(s)); }

kj_val kj_list_new(void)
{
    kj_val v = kj_undef();
    kj_list *l = kiln_calloc(1, sizeof(*l));
    if (!l)
        return v;
    l->rc = 1;
    v.t = KJ_LIST;
    v.u.l = l;
    return v;
}

kj_val kj_tuple_new(void)
{
    kj_val v = kj_list_new();
    if (!kj_oom(v))
        v.u.l->tuple = 1;
    return v;
}

kj_val kj_dict_new(void)
{
    kj_val v = kj_undef();
    kj_dict *d = kiln_calloc(1, sizeof(*d));
    if (!d)
        return v;
    d->rc = 1;
    v.t = KJ_DICT;
    v.u.d = d;
    return v;
}

kj_val kj_obj_new(const kj_class *cls, void *ud)
{
    kj_val v = kj_undef();
    kj_obj *o = kiln_calloc(1, sizeof(*o));
    if (!o) {
        if (cls->free)
            cls->free(ud);
        return v;
    }
    o->rc = 1;
    o->cls = cls;
    o->ud = ud;
    v.t = KJ_OBJ;
    v.u.o = o;
    return v;
}

int kj_list_push(kj_val list, kj_val v, kiln_err *err)
{
    kj_list *l = list.u.l;
    if (l->len == l->alloc) {
        size_t na = l->alloc ? l->alloc * 2 : 4;
        kj_val *ni = kiln_realloc(l->items, na * sizeof(kj_val));
        if (!ni) {
            kj_release(v);
            return KILN_OOM(err);
        }
        l->items = ni;
        l->alloc = na;
    }
    l->items[l->len++] = v;
    return 0;
}

/* Small dicts (most of them: configs, columns, kwargs) are scanned; the
 * string keys of a dict get a hash index once it holds KJ_DICT_INDEX_MIN
 * entries (one map per small dict was a seventh of `kiln compile`). */
#define KJ_DICT_INDEX_MIN 8

long kj_dict_findn(const kj_dict *d, const char *key, size_t n)
{
    if (d->idx) {
        void *p = kiln_map_get(d->idx, key, n);
        return p ? (long)((uintptr_t)p - 1) : -1;
    }
    for (size_t i = 0; i < d->len; i++)
        if (d->keys[i].t == KJ_STR && d->keys[i].u.s->len == n && !memcmp(d->keys[i].u.s->p, key, n))
            return (long)i;
    return -1;
}

static int dict_index(kj_dict *d, kiln_err *err)
{
    if (!(d->idx = kiln_map_new()))
        return KILN_OOM(err);
    for (size_t j = 0; j < d->len; j++) {
        if (d->keys[j].t != KJ_STR)
            continue;
        int rc = kiln_map_put(d->idx, d->keys[j].u.s->p, d->keys[j].u.s->len, (void *)(uintptr_t)(j + 1), err);
        if (rc) {
            kiln_map_free(d->idx);
            d->idx = NULL;
            return rc;
        }
    }
    return 0;
}

static long dict_find(const kj_dict *d, kj_val key)
{
    if (key.t == KJ_STR)
        return kj_dict_findn(d, key.u.s->p, key.u.s->len);
    for (size_t i = 0; i < d->len; i++)
        if (d->keys[i].t != KJ_STR && kj_equal(d->keys[i], key))
            return (long)i;
    return -1;
}

int kj_dict_set(kj_val dict, kj_val key, kj_val v, kiln_err *err)
{
    kj_dict *d = dict.u.d;
    long i = dict_find(d, key);
    if (i >= 0) {
        kj_release(d->vals[i]);
        d->vals[i] = v;
        kj_release(key);
        return 0;
    }
    if (d->len == d->alloc) {
        size_t na = d->alloc ? d->alloc * 2 : 4;
        kj_val *nk = kiln_realloc(d->keys, na * sizeof(kj_val));
        if (nk)
            d->keys = nk;
        kj_val *nv = nk ? kiln_realloc(d->vals, na * sizeof(kj_val)) : NULL;
        if (!nv) {
            kj_release(key);
            kj_release(v);
            return KILN_OOM(err);
        }
        d->vals = nv;
        d->alloc = na;
    }
    if (key.t == KJ_STR && d->idx) {
        int rc = kiln_map_put(d->idx, key.u.s->p, key.u.s->len, (void *)(uintptr_t)(d->len + 1), err);
        if (rc) {
            kj_release(key);
            kj_release(v);
            return rc;
        }
    }
    d->keys[d->len] = key;
    d->vals[d->len] = v;
    d->len++;
    if (!d->idx && d->len >= KJ_DICT_INDEX_MIN && key.t == KJ_STR) {
        int rc = dict_index(d, err);
        if (rc) { /* the entry stays (the dict is still usable, scanned) */
            return rc;
        }
    }
    return 0;
}

int kj_dict_setc(kj_val dict, const char *key, kj_val v, kiln_err *err)
{
    kj_val k = kj_str_c(key);
    if (kj_oom(k)) {
        kj_release(v);
        return KILN_OOM(err);
    }
    return kj_dict_set(dict, k, v, err);
}

kj_val *kj_dict_get(kj_val dict, kj_val key)
{
    long i = dict_find(dict.u.d, key);
    return i >= 0 ? &dict.u.d->vals[i] : NULL;
}

kj_val *kj_dict_getc(kj_val dict, const char *key)
{
    kj_dict *d = dict.u.d;
    long i = kj_dict_findn(d, key, strlen(key));
    return i >= 0 ? &d->vals[i] : NULL;
}

/* Remove entry i, keeping order (the string index is rebuilt). */
int kj_dict_remove(kj_val dict, size_t i, kiln_err *err)
{
    kj_dict *d = dict.u.d;
    kj_release(d->keys[i]);
    kj_release(d->vals[i]);
    memmove(d->keys + i, d->keys + i + 1, (d->len - i - 1) * sizeof(kj_val));
    memmove(d->vals + i, d->vals + i + 1, (d->len - i - 1) * sizeof(kj_val));
    d->len--;
    kiln_map_free(d->idx);
    d->idx = NULL;
    return d->len >= KJ_DICT_INDEX_MIN ? dict_index(d, err) : 0;
}

int kj_truthy(kj_val v)
{
    switch (v.t) {
    case KJ_UNDEF:
    case KJ_NONE: return 0;
    case KJ_BOOL: return v.u.b;
    case KJ_INT: return v.u.i != 0;
    case KJ_FLOAT: return v.u.f != 0;
    case KJ_STR: return v.u.s->len != 0;
    case KJ_LIST: return v.u.l->len != 0;
    case KJ_DICT: return v.u.d->len != 0;
    default: return 1;
    }
}

int kj_is_num(kj_val v) { return v.t == KJ_INT || v.t == KJ_FLOAT || v.t == KJ_BOOL; }

double kj_num(kj_val v) { return v.t == KJ_FLOAT ? v.u.f : v.t == KJ_INT ? (double)v.u.i : v.t == KJ_BOOL ? v.u.b : 0; }

int kj_equal(kj_val a, kj_val b)
{
    if (kj_is_num(a) && kj_is_num(b)) {
        if (a.t != KJ_FLOAT && b.t != KJ_FLOAT)
            return (a.t == KJ_INT ? a.u.i : a.u.b) == (b.t == KJ_INT ? b.u.i : b.u.b);
        return kj_num(a) == kj_num(b);
    }
    if (a.t != b.t)
        return 0;
    switch (a.t) {
    case KJ_UNDEF:
    case KJ_NONE: return 1;
    case KJ_STR: return a.u.s->len == b.u.s->len && memcmp(a.u.s->p, b.u.s->p, a.u.s->len) == 0;
    case KJ_LIST:
        if (a.u.l->len != b.u.l->len || a.u.l->tuple != b.u.l->tuple)
            return 0;
        for (size_t i = 0; i < a.u.l->len; i++)
            if (!kj_equal(a.u.l->items[i], b.u.l->items[i]))
                return 0;
        return 1;
    case KJ_DICT:
        if (a.u.d->len != b.u.d->len)
            return 0;
        for (size_t i = 0; i < a.u.d->len; i++) {
            kj_val *o = kj_dict_get(b, a.u.d->keys[i]);
            if (!o || !kj_equal(a.u.d->vals[i], *o))
                return 0;
        }
        return 1;
    case KJ_FUNC: return a.u.fn == b.u.fn;
    case KJ_OBJ: return a.u.o == b.u.o;
    default: return 0;
    }
}

/* Python ordering: numbers with numbers, strings by code point (UTF-8 byte
 * order is code point order), lists lexicographically. *cmp gets -1/0/1;
 * returns 0, or -1 when the two cannot be ordered. */
int kj_compare(kj_val a, kj_val b, int *cmp)
{
    if (kj_is_num(a) && kj_is_num(b)) {
        if (a.t == KJ_INT && b.t == KJ_INT)
            *cmp = a.u.i < b.u.i ? -1 : a.u.i > b.u.i;
        else {
            double x = kj_num(a), y = kj_num(b);
            *cmp = x < y ? -1 : x > y;
        }
        return 0;
    }
    if (a.t == KJ_STR && b.t == KJ_STR) {
        size_t n = a.u.s->len < b.u.s->len ? a.u.s->len : b.u.s->len;
        int c = memcmp(a.u.s->p, b.u.s->p, n);
        *cmp = c < 0 ? -1 : c > 0 ? 1 : a.u.s->len < b.u.s->len ? -1 : a.u.s->len > b.u.s->len;
        return 0;
    }
    if (a.t == KJ_LIST && b.t == KJ_LIST) {
        for (size_t i = 0; i < a.u.l->len && i < b.u.l->len; i++) {
            if (kj_equal(a.u.l->items[i], b.u.l->items[i]))
                continue;
            return kj_compare(a.u.l->items[i], b.u.l->items[i], cmp);
        }
        *cmp = a.u.l->len < b.u.l->len ? -1 : a.u.l->len > b.u.l->len;
        return 0;
    }
    return -1;
}

const char *kj_type_name(kj_val v)
{
    static const char *names[] = {"Undefined", "NoneType", "bool", "int",      "float",
                                  "str",       "list",     "dict", "function", "object"};
    if (v.t == KJ_OBJ)
        return v.u.o->cls->name;
    return names[v.t];
}

/* Python's repr of a float: the shortest digits that read back to the same
 * double, in positional form for exponents -4..15, else d.ddde+XX. */
int kj_float_append(double f, kiln_buf *out, kiln_err *err)
{
    if (isnan(f))
        return kiln_buf_append(out, "nan", 3, err);
    if (isinf(f))
        return kiln_buf_append(out, f < 0 ? "-inf" : "inf", f < 0 ? 4 : 3, err);
    char tmp[64];
    int prec;
    for (prec = 0; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", prec, f);
    /* tmp: [-]d[.ddd]e[+-]XX */
    char digits[32];
    size_t nd = 0;
    const char *p = tmp;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int ex = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    char o[64];
    size_t k = 0;
    if (neg)
        o[k++] = '-';
    if (ex >= -4 && ex < 16) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++)
                o[k++] = (size_t)i < nd ? digits[i] : '0';
            o[k++] = '.';
            if ((size_t)ex + 1 < nd)
                for (size_t i = (size_t)ex + 1; i < nd; i++)
                    o[k++] = digits[i];
            else
                o[k++] = '0';
        } else {
            o[k++] = '0';
            o[k++] = '.';
            for (int i = 0; i < -ex - 1; i++)
                o[k++] = '0';
            for (size_t i = 0; i < nd; i++)
                o[k++] = digits[i];
        }
    } else {
        o[k++] = digits[0];
        if (nd > 1) {
            o[k++] = '.';
            for (size_t i = 1; i < nd; i++)
                o[k++] = digits[i];
        }
        k += (size_t)snprintf(o + k, sizeof o - k, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
    return kiln_buf_append(out, o, k, err);
}

static int repr_str(const char *s, size_t n, kiln_buf *out, kiln_err *err)
{
    int has_sq = memchr(s, '\'', n) != NULL, has_dq = memchr(s, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    int rc = kiln_buf_putc(out, q, err);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            rc = kiln_buf_append(out, "\\\\", 2, err);
        else if (c == (unsigned char)q)
            rc = kiln_buf_printf(out, err, "\\%c", q);
        else if (c == '\n')
            rc = kiln_buf_append(out, "\\n", 2, err);
        else if (c == '\r')
            rc = kiln_buf_append(out, "\\r", 2, err);
        else if (c == '\t')
            rc = kiln_buf_append(out, "\\t", 2, err);
        else if (c < 0x20 || c == 0x7f)
            rc = kiln_buf_printf(out, err, "\\x%02x", c);
        else
            rc = kiln_buf_putc(out, (char)c, err);
    }
    return rc ? rc : kiln_buf_putc(out, q, err);
}

int kj_repr_append(kj_in *in, kj_val v, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    switch (v.t) {
    case KJ_STR: return repr_str(v.u.s->p, v.u.s->len, out, err);
    case KJ_LIST:
        if ((rc = kiln_buf_putc(out, v.u.l->tuple ? '(' : '[', err)))
            return rc;
        for (size_t i = 0; i < v.u.l->len; i++) {
            if (i && (rc = kiln_buf_append(out, ", ", 2, err)))
                return rc;
            if ((rc = kj_repr_append(in, v.u.l->items[i], out, err)))
                return rc;
        }
        if (v.u.l->tuple && v.u.l->len == 1 && (rc = kiln_buf_putc(out, ',', err)))
            return rc;
        return kiln_buf_putc(out, v.u.l->tuple ? ')' : ']', err);
    case KJ_DICT:
        if ((rc = kiln_buf_putc(out, '{', err)))
            return rc;
        for (size_t i = 0; i < v.u.d->len; i++) {
            if (i && (rc = kiln_buf_append(out, ", ", 2, err)))
                return rc;
            if ((rc = kj_repr_append(in, v.u.d->keys[i], out, err)) || (rc = kiln_buf_append(out, ": ", 2, err)) ||
                (rc = kj_repr_append(in, v.u.d->vals[i], out, err)))
                return rc;
        }
        return kiln_buf_putc(out, '}', err);
    case KJ_UNDEF: return kiln_buf_append(out, "Undefined", 9, err);
    default: return kj_str_append(in, v, out, err);
    }
}

int kj_str_append(kj_in *in, kj_val v, kiln_buf *out, kiln_err *err)
{
    switch (v.t) {
    case KJ_UNDEF: return 0;
    case KJ_NONE: return kiln_buf_append(out, "None", 4, err);
    case KJ_BOOL: return v.u.b ? kiln_buf_append(out, "True", 4, err) : kiln_buf_append(out, "False", 5, err);
    case KJ_INT: return kiln_buf_printf(out, err, "%lld", (long long)v.u.i);
    case KJ_FLOAT: return kj_float_append(v.u.f, out, err);
    case KJ_STR: return kiln_buf_append(out, v.u.s->p, v.u.s->len, err);
    case KJ_LIST:
    case KJ_DICT: return kj_repr_append(in, v, out, err);
    case KJ_FUNC: return kiln_buf_printf(out, err, "<function %s>", v.u.fn->name ? v.u.fn->name : "?");
    case KJ_OBJ:
        if (v.u.o->cls->str)
            return v.u.o->cls->str(in, v.u.o->ud, out);
        return kiln_buf_printf(out, err, "<%s object>", v.u.o->cls->name);
    }
    return 0;
}
