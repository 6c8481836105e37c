/*
 * jinja_lib.c - the library of kiln's Jinja interpreter: Jinja2's filters
 * and tests, the Python methods of str/list/dict that dbt projects call,
 * str.format and %-formatting, and the globals (range, dict, namespace,
 * zip, modules.datetime). Semantics are Jinja2 3.1 / Python 3's; where a
 * feature is left out, calling it is an error naming it (never a silent
 * wrong result).
 */
#include "models/jinja_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

static int new_str(kj_in *in, const char *p, size_t n, kj_val *out)
{
    *out = kj_str_new(p, n);
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int buf_to_str(kj_in *in, kiln_buf *b, kj_val *out)
{
    int rc = new_str(in, b->data ? b->data : "", b->len, out);
    kiln_buf_free(b);
    return rc;
}

static int need_str(kj_in *in, kj_val v, const char *what)
{
    if (v.t == KJ_STR)
        return 0;
    return kj_fail(in, KILN_EINVAL, "%s expects a string, got %s", what, kj_type_name(v));
}

static int to_int(kj_val v, int64_t *out)
{
    if (v.t == KJ_INT)
        *out = v.u.i;
    else if (v.t == KJ_BOOL)
        *out = v.u.b;
    else
        return -1;
    return 0;
}

static int opt_int(kj_in *in, kj_val v, int64_t def, int64_t *out, const char *what)
{
    if (v.t == KJ_UNDEF || v.t == KJ_NONE) {
        *out = def;
        return 0;
    }
    if (to_int(v, out))
        return kj_fail(in, KILN_EINVAL, "%s must be an integer, got %s", what, kj_type_name(v));
    return 0;
}

static int str_of(kj_in *in, kj_val v, kj_val *out) { return kj_to_str_val(in, v, out); }

static kj_val lowered(kj_val v)
{
    if (v.t != KJ_STR)
        return kj_retain(v);
    kj_val r = kj_str_new(v.u.s->p, v.u.s->len);
    if (!kj_oom(r))
        for (size_t i = 0; i < r.u.s->len; i++)
            r.u.s->p[i] = (char)tolower((unsigned char)r.u.s->p[i]);
    return r;
}

/* Attribute path "a.b.0" of v (borrowed result released by caller). */
static int attr_path(kj_in *in, kj_val v, kj_val path, kj_val *out)
{
    if (path.t == KJ_INT)
        return kj_getitem(in, v, path, out);
    if (path.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "attribute must be a string");
    kj_val cur = kj_retain(v);
    const char *p = path.u.s->p, *e = p + path.u.s->len;
    int rc = 0;
    while (p <= e) {
        const char *dot = memchr(p, '.', (size_t)(e - p));
        if (!dot)
            dot = e;
        kj_val key, nx;
        int isnum = dot > p;
        for (const char *q = p; q < dot; q++)
            if (!isdigit((unsigned char)*q))
                isnum = 0;
        if (isnum)
            key = kj_int(strtoll(p, NULL, 10));
        else if ((rc = new_str(in, p, (size_t)(dot - p), &key)))
            break;
        if (cur.t == KJ_UNDEF) {
            nx = kj_undef();
            rc = 0;
        } else {
            rc = kj_getitem(in, cur, key, &nx);
        }
        kj_release(key);
        kj_release(cur);
        cur = kj_undef();
        if (rc)
            return rc;
        cur = nx;
        p = dot + 1;
    }
    if (rc) {
        kj_release(cur);
        return rc;
    }
    *out = cur;
    return 0;
}

static int sort_cmp_err;
typedef struct sortent {
    kj_val key, val;
    size_t idx;
} sortent;
static int sort_reverse;

static int sort_fn(const void *x, const void *y)
{
    const sortent *a = x, *b = y;
    int c = 0;
    if (kj_compare(a->key, b->key, &c))
        sort_cmp_err = 1;
    if (sort_reverse)
        c = -c;
    return c ? c : (a->idx < b->idx ? -1 : 1); /* stable */
}

/* Sort items (a list) by key (attribute path or NULL), case-insensitively
 * unless cs. New list in *out. */
static int sort_list(kj_in *in, kj_val items, kj_val attr, int cs, int reverse, kj_val *out)
{
    size_t n = items.u.l->len;
    sortent *e = kiln_calloc(n ? n : 1, sizeof(sortent));
    if (!e)
        return KILN_OOM(kj_in_err(in));
    int rc = 0;
    size_t made = 0;
    for (size_t i = 0; i < n; i++, made++) {
        kj_val k;
        if (attr.t != KJ_UNDEF && attr.t != KJ_NONE) {
            if ((rc = attr_path(in, items.u.l->items[i], attr, &k)))
                break;
        } else {
            k = kj_retain(items.u.l->items[i]);
        }
        e[i].key = cs ? k : lowered(k);
        if (!cs)
            kj_release(k);
        e[i].val = items.u.l->items[i];
        e[i].idx = i;
    }
    if (!rc) {
        sort_cmp_err = 0;
        sort_reverse = reverse;
        kiln_sort(e, n, sizeof(sortent), sort_fn);
        if (sort_cmp_err)
            rc = kj_fail(in, KILN_EINVAL, "'<' not supported between the values being sorted");
    }
    if (!rc) {
        *out = kj_list_new();
        if (kj_oom(*out))
            rc = KILN_OOM(kj_in_err(in));
        for (size_t i = 0; i < n && !rc; i++)
            rc = kj_list_push(*out, kj_retain(e[i].val), kj_in_err(in));
    }
    for (size_t i = 0; i < made; i++)
        kj_release(e[i].key);
    kiln_free(e);
    return rc;
}

/* ------------------------------------------------------------ format specs */

typedef struct fspec {
    char fill, align, sign, type;
    int zero, width, prec, alt;
} fspec;

static int parse_spec(const char *p, const char *e, fspec *s)
{
    memset(s, 0, sizeof *s);
    s->fill = ' ';
    s->prec = -1;
    if (e - p >= 2 && strchr("<>^=", p[1])) {
        s->fill = p[0];
        s->align = p[1];
        p += 2;
    } else if (p < e && strchr("<>^=", *p)) {
        s->align = *p++;
    }
    if (p < e && strchr("+- ", *p))
        s->sign = *p++;
    if (p < e && *p == '#') {
        s->alt = 1;
        p++;
    }
    if (p < e && *p == '0') {
        s->zero = 1;
        p++;
    }
    while (p < e && isdigit((unsigned char)*p))
        s->width = s->width * 10 + (*p++ - '0');
    if (p < e && *p == ',')
        return -1;
    if (p < e && *p == '.') {
        p++;
        s->prec = 0;
        while (p < e && isdigit((unsigned char)*p))
            s->prec = s->prec * 10 + (*p++ - '0');
    }
    if (p < e)
        s->type = *p++;
    return p == e ? 0 : -1;
}

/* Format v by spec s (Python format() for str, int, float). */
static int format_one(kj_in *in, kj_val v, const fspec *s, kiln_buf *out)
{
    kiln_err *err = kj_in_err(in);
    char tmp[512];
    kiln_buf body;
    kiln_buf_init(&body, 0);
    int rc = 0, numeric = 0;
    char t = s->type;
    if (t == 's' || (!t && (v.t == KJ_STR || !kj_is_num(v)))) {
        if ((rc = kj_str_append(in, v, &body, err)))
            goto done;
        if (s->prec >= 0 && body.len > (size_t)s->prec)
            body.len = (size_t)s->prec;
    } else if (t == 'd' || (!t && (v.t == KJ_INT || v.t == KJ_BOOL))) {
        int64_t i;
        if (to_int(v, &i)) {
            rc = kj_fail(in, KILN_EINVAL, "unknown format code 'd' for object of type '%s'", kj_type_name(v));
            goto done;
        }
        numeric = 1;
        rc = kiln_buf_printf(&body, err, s->sign == '+' && i >= 0 ? "+%lld" : "%lld", (long long)i);
    } else if (strchr("fFeEgG%", t) || (!t && v.t == KJ_FLOAT)) {
        if (!kj_is_num(v)) {
            rc = kj_fail(in, KILN_EINVAL, "unknown format code '%c' for object of type '%s'", t, kj_type_name(v));
            goto done;
        }
        numeric = 1;
        double f = kj_num(v);
        if (!t) {
            if (s->prec < 0) {
                rc = kj_float_append(f, &body, err);
                goto pad;
            }
            snprintf(tmp, sizeof tmp, "%.*g", s->prec ? s->prec : 1, f);
        } else if (t == '%') {
            snprintf(tmp, sizeof tmp, "%.*f%%", s->prec < 0 ? 6 : s->prec, f * 100);
        } else {
            char f2[8] = {'%', '.', '*', t, 0};
            snprintf(tmp, sizeof tmp, f2, s->prec < 0 ? 6 : s->prec, f);
        }
        if (s->sign == '+' && f >= 0)
            rc = kiln_buf_putc(&body, '+', err);
        if (!rc)
            rc = kiln_buf_append(&body, tmp, strlen(tmp), err);
    } else {
        rc = kj_fail(in, KILN_EINVAL, "unsupported format code '%c'", t);
        goto done;
    }
pad:
    if (rc)
        goto done;
    if (s->width > 4096) {
        rc = kj_fail(in, KILN_ELIMIT, "format width too large");
        goto done;
    }
    {
        size_t w = (size_t)s->width, len = body.len;
        char align = s->align ? s->align : (numeric ? '>' : '<');
        char fill = s->fill;
        if (s->zero && !s->align) {
            align = '=';
            fill = '0';
        }
        size_t padn = w > len ? w - len : 0;
        size_t left = align == '>' ? padn : align == '^' ? padn / 2 : 0;
        if (align == '=' && padn && len && (body.data[0] == '-' || body.data[0] == '+')) {
            rc = kiln_buf_putc(out, body.data[0], err);
            for (size_t i = 0; i < padn && !rc; i++)
                rc = kiln_buf_putc(out, fill, err);
            if (!rc)
                rc = kiln_buf_append(out, body.data + 1, len - 1, err);
            goto done;
        }
        if (align == '=')
            left = padn;
        for (size_t i = 0; i < left && !rc; i++)
            rc = kiln_buf_putc(out, fill, err);
        if (!rc)
            rc = kiln_buf_append(out, body.data ? body.data : "", len, err);
        for (size_t i = left; i < padn && !rc; i++)
            rc = kiln_buf_putc(out, fill, err);
    }
done:
    kiln_buf_free(&body);
    return rc;
}

static int str_format(kj_in *in, kj_val fmt, const kj_args *a, kj_val *out)
{
    kiln_err *err = kj_in_err(in);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    const char *p = fmt.u.s->p, *e = p + fmt.u.s->len;
    size_t autoi = 0;
    int rc = 0;
    while (p < e && !rc) {
        if (*p == '{' && p + 1 < e && p[1] == '{') {
            rc = kiln_buf_putc(&b, '{', err);
            p += 2;
        } else if (*p == '}' && p + 1 < e && p[1] == '}') {
            rc = kiln_buf_putc(&b, '}', err);
            p += 2;
        } else if (*p == '{') {
            const char *q = memchr(p, '}', (size_t)(e - p));
            if (!q) {
                rc = kj_fail(in, KILN_EINVAL, "format: single '{' encountered in format string");
                break;
            }
            const char *name = p + 1, *colon = memchr(name, ':', (size_t)(q - name));
            const char *nend = colon ? colon : q;
            kj_val v = kj_undef();
            if (nend == name) {
                v = kj_arg(a, autoi++, NULL);
                if (autoi > a->npos)
                    rc = kj_fail(in, KILN_EINVAL, "format: replacement index %zu out of range", autoi - 1);
            } else if (isdigit((unsigned char)*name)) {
                size_t i = (size_t)strtoul(name, NULL, 10);
                if (i >= a->npos)
                    rc = kj_fail(in, KILN_EINVAL, "format: replacement index %zu out of range", i);
                else
                    v = a->pos[i];
            } else {
                size_t k;
                for (k = 0; k < a->nkw; k++)
                    if (strlen(a->kwname[k]) == (size_t)(nend - name) &&
                        !memcmp(a->kwname[k], name, (size_t)(nend - name)))
                        break;
                if (k == a->nkw)
                    rc = kj_fail(in, KILN_EINVAL, "format: no argument named '%.*s'", (int)(nend - name), name);
                else
                    v = a->kw[k];
            }
            if (!rc) {
                fspec s;
                if (parse_spec(colon ? colon + 1 : q, q, &s))
                    rc = kj_fail(in, KILN_EINVAL, "format: invalid format specifier '%.*s'", (int)(q - nend), nend);
                else
                    rc = format_one(in, v, &s, &b);
            }
            p = q + 1;
        } else if (*p == '}') {
            rc = kj_fail(in, KILN_EINVAL, "format: single '}' encountered in format string");
        } else {
            rc = kiln_buf_putc(&b, *p++, err);
        }
    }
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    return buf_to_str(in, &b, out);
}

/* "fmt" % args, Python printf-style: %s %r %d %i %f %e %g %x %% with
 * flags, width and precision. */
int kj_format_percent(kj_in *in, kj_val fmt, kj_val args, kj_val *out)
{
    kiln_err *err = kj_in_err(in);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    size_t ai = 0, nargs = args.t == KJ_LIST ? args.u.l->len : 1;
    const char *p = fmt.u.s->p, *e = p + fmt.u.s->len;
    int rc = 0;
    while (p < e && !rc) {
        if (*p != '%') {
            rc = kiln_buf_putc(&b, *p++, err);
            continue;
        }
        p++;
        if (p < e && *p == '%') {
            rc = kiln_buf_putc(&b, '%', err);
            p++;
            continue;
        }
        fspec s;
        memset(&s, 0, sizeof s);
        s.fill = ' ';
        s.prec = -1;
        while (p < e && strchr("-+ 0#", *p)) {
            if (*p == '-')
                s.align = '<';
            else if (*p == '0')
                s.zero = 1;
            else if (*p == '+')
                s.sign = '+';
            p++;
        }
        while (p < e && isdigit((unsigned char)*p))
            s.width = s.width * 10 + (*p++ - '0');
        if (p < e && *p == '.') {
            p++;
            s.prec = 0;
            while (p < e && isdigit((unsigned char)*p))
                s.prec = s.prec * 10 + (*p++ - '0');
        }
        if (p >= e) {
            rc = kj_fail(in, KILN_EINVAL, "incomplete format");
            break;
        }
        char c = *p++;
        if (ai >= nargs) {
            rc = kj_fail(in, KILN_EINVAL, "not enough arguments for format string");
            break;
        }
        kj_val v = args.t == KJ_LIST ? args.u.l->items[ai] : args;
        ai++;
        if (!s.align)
            s.align = '>';
        if (s.zero && s.align == '>') {
            s.align = 0;
        } else {
            s.zero = 0;
        }
        if (c == 's' || c == 'r') {
            kiln_buf t;
            kiln_buf_init(&t, 0);
            rc = c == 's' ? kj_str_append(in, v, &t, err) : kj_repr_append(in, v, &t, err);
            if (!rc) {
                kj_val sv = kj_str_new(t.data ? t.data : "", t.len);
                fspec s2 = s;
                s2.type = 's';
                s2.zero = 0;
                rc = kj_oom(sv) ? KILN_OOM(err) : format_one(in, sv, &s2, &b);
                kj_release(sv);
            }
            kiln_buf_free(&t);
        } else if (c == 'd' || c == 'i' || c == 'u') {
            kj_val iv = v.t == KJ_FLOAT ? kj_int((int64_t)v.u.f) : v;
            if (!kj_is_num(iv)) {
                rc = kj_fail(in, KILN_EINVAL, "%%d format: a number is required, not %s", kj_type_name(v));
                break;
            }
            s.type = 'd';
            s.prec = -1;
            rc = format_one(in, iv, &s, &b);
        } else if (strchr("feEgG", c)) {
            if (!kj_is_num(v)) {
                rc = kj_fail(in, KILN_EINVAL, "must be real number, not %s", kj_type_name(v));
                break;
            }
            s.type = c;
            rc = format_one(in, v, &s, &b);
        } else {
            rc = kj_fail(in, KILN_EINVAL, "unsupported format character '%c'", c);
        }
    }
    if (!rc && ai < nargs && args.t == KJ_LIST)
        rc = kj_fail(in, KILN_EINVAL, "not all arguments converted during string formatting");
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    return buf_to_str(in, &b, out);
}

/* ------------------------------------------------------------ namespace */

static int ns_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    kj_val *d = ud, *v = kj_dict_getc(*d, name);
    *out = v ? kj_retain(*v) : kj_undef();
    return 0;
}
static int ns_str(kj_in *in, void *ud, kiln_buf *out)
{
    kj_val *d = ud;
    int rc = kiln_buf_append(out, "<Namespace ", 11, kj_in_err(in));
    if (!rc)
        rc = kj_repr_append(in, *d, out, kj_in_err(in));
    return rc ? rc : kiln_buf_putc(out, '>', kj_in_err(in));
}
static void ns_free(void *ud)
{
    kj_val *d = ud;
    kj_release(*d);
    kiln_free(d);
}
static const kj_class ns_class = {"Namespace", ns_getattr, ns_str, ns_free, NULL, NULL};

int kj_namespace_dict(kj_val obj, kj_val *dict)
{
    if (obj.t != KJ_OBJ || obj.u.o->cls != &ns_class)
        return 0;
    *dict = *(kj_val *)obj.u.o->ud;
    return 1;
}

/* ------------------------------------------------------------ datetime */

typedef struct dtval {
    int64_t micros;
    int is_date;
} dtval;

static int dt_strftime(kj_in *in, const dtval *d, const char *fmt, kiln_buf *out)
{
    time_t secs = (time_t)(d->micros >= 0 ? d->micros / 1000000 : -((-d->micros + 999999) / 1000000));
    int64_t frac = d->micros - (int64_t)secs * 1000000;
    struct tm tm;
    gmtime_r(&secs, &tm);
    for (const char *p = fmt; *p; p++) {
        if (*p != '%' || !p[1]) {
            if (kiln_buf_putc(out, *p, kj_in_err(in)))
                return KILN_ENOMEM;
            continue;
        }
        p++;
        char tmp[128];
        if (*p == 'f') {
            snprintf(tmp, sizeof tmp, "%06lld", (long long)frac);
        } else if (strchr("YmdHMSjaAbBpyIwUWzZcxX%", *p)) {
            char f[3] = {'%', *p, 0};
            if (*p == 'z' || *p == 'Z')
                tmp[0] = 0; /* naive datetime, as Python prints it */
            else
                strftime(tmp, sizeof tmp, f, &tm);
        } else {
            return kj_fail(in, KILN_EINVAL, "strftime: unsupported directive '%%%c'", *p);
        }
        if (kiln_buf_append(out, tmp, strlen(tmp), kj_in_err(in)))
            return KILN_ENOMEM;
    }
    return 0;
}

static int dt_str(kj_in *in, void *ud, kiln_buf *out)
{
    dtval *d = ud;
    if (d->is_date)
        return dt_strftime(in, d, "%Y-%m-%d", out);
    int64_t frac = ((d->micros % 1000000) + 1000000) % 1000000;
    return dt_strftime(in, d, frac ? "%Y-%m-%d %H:%M:%S.%f" : "%Y-%m-%d %H:%M:%S", out);
}

static const kj_class dt_class;

static int dt_method(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    dtval *d = self.u.o->ud;
    const char *name = ud;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc;
    if (!strcmp(name, "strftime")) {
        kj_val f = kj_arg(a, 0, "format");
        if ((rc = need_str(in, f, "strftime")))
            return rc;
        rc = dt_strftime(in, d, f.u.s->p, &b);
    } else if (!strcmp(name, "isoformat")) {
        int64_t frac = ((d->micros % 1000000) + 1000000) % 1000000;
        rc = dt_strftime(in, d, d->is_date ? "%Y-%m-%d" : frac ? "%Y-%m-%dT%H:%M:%S.%f" : "%Y-%m-%dT%H:%M:%S", &b);
    } else if (!strcmp(name, "date")) {
        dtval *n = kiln_malloc(sizeof *n);
        if (!n)
            return KILN_OOM(kj_in_err(in));
        int64_t day = d->micros >= 0 ? d->micros / 86400000000LL : -((-d->micros + 86399999999LL) / 86400000000LL);
        n->micros = day * 86400000000LL;
        n->is_date = 1;
        *out = kj_obj_new(&dt_class, n);
        return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
    } else if (!strcmp(name, "timestamp")) {
        *out = kj_float((double)d->micros / 1e6);
        return 0;
    } else {
        return kj_fail(in, KILN_EINVAL, "datetime has no method '%s'", name);
    }
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    return buf_to_str(in, &b, out);
}

static int dt_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    dtval *d = ud;
    int64_t days = d->micros >= 0 ? d->micros / 86400000000LL : -((-d->micros + 86399999999LL) / 86400000000LL);
    int64_t tod = d->micros - days * 86400000000LL;
    int y, m, dd;
    kiln_civil_from_days(days, &y, &m, &dd);
    if (!strcmp(name, "year"))
        *out = kj_int(y);
    else if (!strcmp(name, "month"))
        *out = kj_int(m);
    else if (!strcmp(name, "day"))
        *out = kj_int(dd);
    else if (!strcmp(name, "hour"))
        *out = kj_int(tod / 3600000000LL);
    else if (!strcmp(name, "minute"))
        *out = kj_int(tod / 60000000LL % 60);
    else if (!strcmp(name, "second"))
        *out = kj_int(tod / 1000000 % 60);
    else if (!strcmp(name, "microsecond"))
        *out = kj_int(tod % 1000000);
    else
        *out = kj_undef();
    return 0;
}

static const char *const dt_methods[] = {"strftime", "isoformat", "date", "timestamp", NULL};
static const kj_class dt_class = {"datetime", dt_getattr, dt_str, kiln_free, dt_methods, dt_method};

kj_val kj_datetime_new(int64_t micros)
{
    dtval *d = kiln_malloc(sizeof *d);
    if (!d)
        return kj_undef();
    d->micros = micros;
    d->is_date = 0;
    return kj_obj_new(&dt_class, d);
}

static int g_now(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    int64_t now = kiln_now_micros();
    if (ud) { /* date.today() */
        dtval *d = kiln_malloc(sizeof *d);
        if (!d)
            return KILN_OOM(kj_in_err(in));
        int64_t day = now / 86400000000LL;
        d->micros = day * 86400000000LL;
        d->is_date = 1;
        *out = kj_obj_new(&dt_class, d);
    } else {
        *out = kj_datetime_new(now);
    }
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

/* ------------------------------------------------------------ tests */

static int test_impl(kj_in *in, const char *name, kj_val v, const kj_args *a, int *res)
{
    kj_val x = kj_arg(a, 0, NULL);
    int c;
    if (!strcmp(name, "defined"))
        *res = v.t != KJ_UNDEF;
    else if (!strcmp(name, "undefined"))
        *res = v.t == KJ_UNDEF;
    else if (!strcmp(name, "none"))
        *res = v.t == KJ_NONE;
    else if (!strcmp(name, "boolean"))
        *res = v.t == KJ_BOOL;
    else if (!strcmp(name, "true"))
        *res = v.t == KJ_BOOL && v.u.b;
    else if (!strcmp(name, "false"))
        *res = v.t == KJ_BOOL && !v.u.b;
    else if (!strcmp(name, "integer"))
        *res = v.t == KJ_INT;
    else if (!strcmp(name, "float"))
        *res = v.t == KJ_FLOAT;
    else if (!strcmp(name, "number"))
        *res = kj_is_num(v);
    else if (!strcmp(name, "string"))
        *res = v.t == KJ_STR;
    else if (!strcmp(name, "mapping"))
        *res = v.t == KJ_DICT;
    else if (!strcmp(name, "iterable"))
        *res = v.t == KJ_STR || v.t == KJ_LIST || v.t == KJ_DICT || v.t == KJ_UNDEF;
    else if (!strcmp(name, "sequence"))
        *res = v.t == KJ_STR || v.t == KJ_LIST || v.t == KJ_DICT;
    else if (!strcmp(name, "callable"))
        *res = v.t == KJ_FUNC;
    else if (!strcmp(name, "sameas"))
        *res = v.t == x.t && (v.t == KJ_NONE || v.t == KJ_UNDEF || (v.t == KJ_BOOL && v.u.b == x.u.b) ||
                              (v.t >= KJ_STR && v.u.s == x.u.s) || (v.t == KJ_INT && v.u.i == x.u.i));
    else if (!strcmp(name, "escaped"))
        *res = 0;
    else if (!strcmp(name, "eq") || !strcmp(name, "==") || !strcmp(name, "equalto"))
        *res = kj_equal(v, x);
    else if (!strcmp(name, "ne") || !strcmp(name, "!="))
        *res = !kj_equal(v, x);
    else if (!strcmp(name, "in")) {
        if (x.t == KJ_STR && v.t == KJ_STR)
            *res = memmem(x.u.s->p, x.u.s->len, v.u.s->p, v.u.s->len) != NULL || !v.u.s->len;
        else if (x.t == KJ_LIST) {
            *res = 0;
            for (size_t i = 0; i < x.u.l->len && !*res; i++)
                *res = kj_equal(v, x.u.l->items[i]);
        } else if (x.t == KJ_DICT)
            *res = kj_dict_get(x, v) != NULL;
        else
            return kj_fail(in, KILN_EINVAL, "test 'in': argument of type '%s' is not iterable", kj_type_name(x));
    } else if (!strcmp(name, "lt") || !strcmp(name, "<") || !strcmp(name, "lessthan") || !strcmp(name, "le") ||
               !strcmp(name, "<=") || !strcmp(name, "gt") || !strcmp(name, ">") || !strcmp(name, "greaterthan") ||
               !strcmp(name, "ge") || !strcmp(name, ">=")) {
        if (kj_compare(v, x, &c))
            return kj_fail(in, KILN_EINVAL, "test '%s': cannot compare '%s' and '%s'", name, kj_type_name(v),
                           kj_type_name(x));
        if (name[0] == 'l' || name[0] == '<')
            *res = (name[1] == 'e' || name[1] == '=') ? c <= 0 : c < 0;
        else
            *res = (name[1] == 'e' || name[1] == '=') ? c >= 0 : c > 0;
    } else if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        int64_t i, d = 2;
        if (to_int(v, &i))
            return kj_fail(in, KILN_EINVAL, "test '%s' expects an integer, got %s", name, kj_type_name(v));
        if (name[0] == 'd' && (to_int(x, &d) || d == 0))
            return kj_fail(in, KILN_EINVAL, "test 'divisibleby' expects a non-zero integer");
        int64_t m = i % d;
        *res = name[0] == 'o' ? m != 0 : m == 0;
    } else if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.t != KJ_STR) {
            *res = 0;
            return 0;
        }
        int any = 0, ok = 1;
        for (size_t i = 0; i < v.u.s->len; i++) {
            unsigned char ch = (unsigned char)v.u.s->p[i];
            if (isalpha(ch)) {
                any = 1;
                if (name[0] == 'l' ? isupper(ch) : islower(ch))
                    ok = 0;
            }
        }
        *res = any && ok;
    } else {
        return kj_fail(in, KILN_EINVAL, "no test named '%s'", name);
    }
    return 0;
}

static const char *const test_names[] = {
    "defined",  "undefined", "none",        "boolean",  "true",     "false",       "integer", "float",
    "number",   "string",    "mapping",     "iterable", "sequence", "callable",    "sameas",  "escaped",
    "eq",       "==",        "equalto",     "ne",       "!=",       "in",          "lt",      "<",
    "lessthan", "le",        "<=",          "gt",       ">",        "greaterthan", "ge",      ">=",
    "odd",      "even",      "divisibleby", "lower",    "upper",    NULL};

int kj_has_test(const char *name)
{
    for (int i = 0; test_names[i]; i++)
        if (!strcmp(test_names[i], name))
            return 1;
    return 0;
}

int kj_test(kj_in *in, const char *name, kj_val subj, const kj_args *a, int *out)
{
    return test_impl(in, name, subj, a, out);
}

/* ------------------------------------------------------------ filters */

static int f_join(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val sep = kj_arg(a, 0, "d"), attr = kj_arg(a, 1, "attribute"), items;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    for (size_t i = 0; i < items.u.l->len && !rc; i++) {
        if (i && sep.t != KJ_UNDEF)
            rc = kj_str_append(in, sep, &b, kj_in_err(in));
        kj_val x = items.u.l->items[i], y = kj_undef();
        if (attr.t != KJ_UNDEF && !rc) {
            if (!(rc = attr_path(in, x, attr, &y)))
                rc = kj_str_append(in, y, &b, kj_in_err(in));
            kj_release(y);
        } else if (!rc) {
            rc = kj_str_append(in, x, &b, kj_in_err(in));
        }
    }
    kj_release(items);
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    return buf_to_str(in, &b, out);
}

static int f_case(kj_in *in, kj_val v, int mode, kj_val *out) /* 0 lower 1 upper 2 title 3 capitalize */
{
    kj_val s;
    int rc = str_of(in, v, &s);
    if (rc)
        return rc;
    kj_val r = kj_str_new(s.u.s->p, s.u.s->len);
    kj_release(s);
    if (kj_oom(r))
        return KILN_OOM(kj_in_err(in));
    int start = 1;
    for (size_t i = 0; i < r.u.s->len; i++) {
        unsigned char c = (unsigned char)r.u.s->p[i];
        if (mode == 0)
            c = (unsigned char)tolower(c);
        else if (mode == 1)
            c = (unsigned char)toupper(c);
        else if (mode == 2) {
            c = (unsigned char)(start ? toupper(c) : tolower(c));
            start = !isalnum(c) && c != '\'';
            if (c == '\'')
                start = 0;
        } else
            c = (unsigned char)(i == 0 ? toupper(c) : tolower(c));
        r.u.s->p[i] = (char)c;
    }
    *out = r;
    return 0;
}

static int is_pyspace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

static int strip_impl(kj_in *in, kj_val s, kj_val chars, int left, int right, kj_val *out)
{
    const char *p = s.u.s->p, *e = p + s.u.s->len;
    int custom = chars.t == KJ_STR;
    if (chars.t != KJ_UNDEF && chars.t != KJ_NONE && !custom)
        return kj_fail(in, KILN_EINVAL, "strip arg must be None or str");
#define STRIPPABLE(c) (custom ? memchr(chars.u.s->p, (c), chars.u.s->len) != NULL : is_pyspace((unsigned char)(c)))
    if (left)
        while (p < e && STRIPPABLE(*p))
            p++;
    if (right)
        while (e > p && STRIPPABLE(e[-1]))
            e--;
#undef STRIPPABLE
    return new_str(in, p, (size_t)(e - p), out);
}

static int replace_impl(kj_in *in, kj_val s, kj_val old, kj_val nw, kj_val count, kj_val *out)
{
    int rc;
    if ((rc = need_str(in, old, "replace")) || (rc = need_str(in, nw, "replace")))
        return rc;
    int64_t max;
    if ((rc = opt_int(in, count, -1, &max, "count")))
        return rc;
    kiln_buf b;
    kiln_buf_init(&b, (size_t)256 << 20);
    const char *p = s.u.s->p, *e = p + s.u.s->len;
    size_t ol = old.u.s->len;
    int64_t done = 0;
    if (ol == 0) { /* Python inserts new between every character */
        for (; !rc;) {
            if (max < 0 || done < max) {
                rc = kiln_buf_append(&b, nw.u.s->p, nw.u.s->len, kj_in_err(in));
                done++;
            }
            if (p >= e || rc)
                break;
            rc = kiln_buf_putc(&b, *p++, kj_in_err(in));
        }
    } else {
        while (p < e && !rc) {
            const char *q = (max < 0 || done < max) ? memmem(p, (size_t)(e - p), old.u.s->p, ol) : NULL;
            if (!q) {
                rc = kiln_buf_append(&b, p, (size_t)(e - p), kj_in_err(in));
                break;
            }
            if (!(rc = kiln_buf_append(&b, p, (size_t)(q - p), kj_in_err(in))))
                rc = kiln_buf_append(&b, nw.u.s->p, nw.u.s->len, kj_in_err(in));
            p = q + ol;
            done++;
        }
    }
    if (rc) {
        kiln_buf_free(&b);
        return rc == KILN_ELIMIT ? kj_fail(in, rc, "replace: result too large") : rc;
    }
    return buf_to_str(in, &b, out);
}

static int parse_float_str(const char *s, double *out)
{
    while (is_pyspace((unsigned char)*s))
        s++;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s)
        return -1;
    while (is_pyspace((unsigned char)*end))
        end++;
    return *end ? -1 : 0;
}

static int parse_int_str(const char *s, int base, int64_t *out)
{
    while (is_pyspace((unsigned char)*s))
        s++;
    char buf[128];
    size_t k = 0;
    for (const char *p = s; *p && k < sizeof buf - 1; p++)
        if (*p != '_')
            buf[k++] = *p;
    buf[k] = 0;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, base);
    if (end == buf || errno)
        return -1;
    while (is_pyspace((unsigned char)*end))
        end++;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int f_int(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val def = kj_arg(a, 0, "default"), base = kj_arg(a, 1, "base");
    int64_t b = 10, i;
    int rc = opt_int(in, base, 10, &b, "base");
    if (rc)
        return rc;
    if (v.t == KJ_INT || v.t == KJ_BOOL) {
        *out = kj_int(v.t == KJ_INT ? v.u.i : v.u.b);
        return 0;
    }
    if (v.t == KJ_FLOAT && isfinite(v.u.f) && fabs(v.u.f) < 9.2e18) {
        *out = kj_int((int64_t)v.u.f);
        return 0;
    }
    if (v.t == KJ_STR) {
        double f;
        if (!parse_int_str(v.u.s->p, (int)b, &i)) {
            *out = kj_int(i);
            return 0;
        }
        if (b == 10 && !parse_float_str(v.u.s->p, &f) && isfinite(f) && fabs(f) < 9.2e18) {
            *out = kj_int((int64_t)f);
            return 0;
        }
    }
    *out = def.t == KJ_UNDEF ? kj_int(0) : kj_retain(def);
    return 0;
}

static int f_float(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val def = kj_arg(a, 0, "default");
    double f;
    if (kj_is_num(v))
        *out = kj_float(kj_num(v));
    else if (v.t == KJ_STR && !parse_float_str(v.u.s->p, &f))
        *out = kj_float(f);
    else
        *out = def.t == KJ_UNDEF ? kj_float(0) : kj_retain(def);
    return 0;
}

static int f_round(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val pv = kj_arg(a, 0, "precision"), mv = kj_arg(a, 1, "method");
    int64_t prec;
    int rc = opt_int(in, pv, 0, &prec, "precision");
    if (rc)
        return rc;
    const char *method = mv.t == KJ_STR ? mv.u.s->p : "common";
    if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor"))
        return kj_fail(in, KILN_EINVAL, "method must be common, ceil or floor");
    if (!kj_is_num(v))
        return kj_fail(in, KILN_EINVAL, "round expects a number, got %s", kj_type_name(v));
    double x = kj_num(v), m = pow(10, (double)prec), r;
    if (method[0] == 'c' && method[1] == 'e')
        r = ceil(x * m) / m;
    else if (method[0] == 'f')
        r = floor(x * m) / m;
    else {
        /* Python's round(): correctly rounded, half to even, via the
         * shortest decimal text of x */
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*f", prec < 0 ? 0 : (int)(prec > 30 ? 30 : prec), x);
        r = strtod(tmp, NULL);
        if (prec < 0)
            r = nearbyint(x * m) / m;
    }
    *out = kj_float(r);
    return 0;
}

static int f_first_last(kj_in *in, kj_val v, int last, kj_val *out)
{
    kj_val items;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    size_t n = items.u.l->len;
    *out = n ? kj_retain(items.u.l->items[last ? n - 1 : 0]) : kj_undef();
    kj_release(items);
    return 0;
}

static int f_length(kj_in *in, kj_val v, kj_val *out)
{
    if (v.t == KJ_STR) {
        size_t n = 0;
        for (size_t i = 0; i < v.u.s->len; i++)
            n += ((unsigned char)v.u.s->p[i] & 0xC0) != 0x80;
        *out = kj_int((int64_t)n);
    } else if (v.t == KJ_LIST)
        *out = kj_int((int64_t)v.u.l->len);
    else if (v.t == KJ_DICT)
        *out = kj_int((int64_t)v.u.d->len);
    else if (v.t == KJ_UNDEF)
        *out = kj_int(0);
    else
        return kj_fail(in, KILN_EINVAL, "object of type '%s' has no len()", kj_type_name(v));
    return 0;
}

/* select/reject/selectattr/rejectattr/map */
static int f_select(kj_in *in, kj_val v, const kj_args *a, int want, int by_attr, kj_val *out)
{
    kj_val items;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    size_t ti = by_attr ? 1 : 0;
    kj_val attr = by_attr ? kj_arg(a, 0, NULL) : kj_undef();
    kj_val tname = ti < a->npos ? a->pos[ti] : kj_undef();
    kj_args rest = {0};
    if (a->npos > ti + 1) {
        rest.npos = a->npos - ti - 1;
        rest.pos = a->pos + ti + 1;
    }
    rest.nkw = a->nkw;
    rest.kwname = a->kwname;
    rest.kw = a->kw;
    *out = kj_list_new();
    if (kj_oom(*out)) {
        kj_release(items);
        return KILN_OOM(kj_in_err(in));
    }
    for (size_t i = 0; i < items.u.l->len && !rc; i++) {
        kj_val x = items.u.l->items[i], subj = kj_retain(x);
        if (by_attr) {
            kj_release(subj);
            if ((rc = attr_path(in, x, attr, &subj)))
                break;
        }
        int res;
        if (tname.t == KJ_STR)
            rc = kj_test(in, tname.u.s->p, subj, &rest, &res);
        else
            res = kj_truthy(subj);
        kj_release(subj);
        if (!rc && res == want)
            rc = kj_list_push(*out, kj_retain(x), kj_in_err(in));
    }
    kj_release(items);
    if (rc) {
        kj_release(*out);
        *out = kj_undef();
    }
    return rc;
}

static int f_map(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val items;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    kj_val attr = kj_arg(a, (size_t)-1, "attribute"), def = kj_arg(a, (size_t)-1, "default");
    kj_val fname = a->npos ? a->pos[0] : kj_undef();
    if (attr.t == KJ_UNDEF && fname.t != KJ_STR) {
        kj_release(items);
        return kj_fail(in, KILN_EINVAL, "map: give a filter name or attribute=");
    }
    kj_args rest = {0};
    if (a->npos > 1) {
        rest.npos = a->npos - 1;
        rest.pos = a->pos + 1;
    }
    if (attr.t == KJ_UNDEF) {
        rest.nkw = a->nkw;
        rest.kwname = a->kwname;
        rest.kw = a->kw;
    }
    *out = kj_list_new();
    if (kj_oom(*out)) {
        kj_release(items);
        return KILN_OOM(kj_in_err(in));
    }
    for (size_t i = 0; i < items.u.l->len && !rc; i++) {
        kj_val y;
        if (attr.t != KJ_UNDEF) {
            if (!(rc = attr_path(in, items.u.l->items[i], attr, &y)) && y.t == KJ_UNDEF && def.t != KJ_UNDEF) {
                kj_release(y);
                y = kj_retain(def);
            }
        } else {
            rc = kj_filter(in, fname.u.s->p, items.u.l->items[i], &rest, &y);
        }
        if (!rc)
            rc = kj_list_push(*out, y, kj_in_err(in));
    }
    kj_release(items);
    if (rc) {
        kj_release(*out);
        *out = kj_undef();
    }
    return rc;
}

static int f_unique(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val cs = kj_arg(a, 0, "case_sensitive"), attr = kj_arg(a, 1, "attribute"), items, keys;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    keys = kj_list_new();
    *out = kj_list_new();
    if (kj_oom(keys) || kj_oom(*out))
        rc = KILN_OOM(kj_in_err(in));
    for (size_t i = 0; i < items.u.l->len && !rc; i++) {
        kj_val k, x = items.u.l->items[i];
        if (attr.t != KJ_UNDEF) {
            if ((rc = attr_path(in, x, attr, &k)))
                break;
        } else {
            k = kj_retain(x);
        }
        kj_val lk = kj_truthy(cs) ? kj_retain(k) : lowered(k);
        kj_release(k);
        int seen = 0;
        for (size_t j = 0; j < keys.u.l->len && !seen; j++)
            seen = kj_equal(keys.u.l->items[j], lk);
        if (seen) {
            kj_release(lk);
            continue;
        }
        if (!(rc = kj_list_push(keys, lk, kj_in_err(in))))
            rc = kj_list_push(*out, kj_retain(x), kj_in_err(in));
    }
    kj_release(items);
    kj_release(keys);
    return rc;
}

static int f_minmax(kj_in *in, kj_val v, const kj_args *a, int want_max, kj_val *out)
{
    kj_val cs = kj_arg(a, 0, "case_sensitive"), attr = kj_arg(a, 1, "attribute"), items, sorted;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    rc = sort_list(in, items, attr, kj_truthy(cs), want_max, &sorted);
    kj_release(items);
    if (rc)
        return rc;
    *out = sorted.u.l->len ? kj_retain(sorted.u.l->items[0]) : kj_undef();
    kj_release(sorted);
    return 0;
}

static int f_sum(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val attr = kj_arg(a, 0, "attribute"), start = kj_arg(a, 1, "start"), items;
    int rc = kj_iter_list(in, v, &items);
    if (rc)
        return rc;
    int64_t isum = 0;
    double fsum = 0;
    int isf = 0;
    if (start.t != KJ_UNDEF) {
        if (!kj_is_num(start)) {
            kj_release(items);
            return kj_fail(in, KILN_EINVAL, "sum: start must be a number");
        }
        if (start.t == KJ_FLOAT)
            isf = 1, fsum = start.u.f;
        else
            to_int(start, &isum);
    }
    for (size_t i = 0; i < items.u.l->len && !rc; i++) {
        kj_val x = kj_retain(items.u.l->items[i]);
        if (attr.t != KJ_UNDEF) {
            kj_release(x);
            if ((rc = attr_path(in, items.u.l->items[i], attr, &x)))
                break;
        }
        if (!kj_is_num(x)) {
            rc = kj_fail(in, KILN_EINVAL, "sum: unsupported operand type '%s'", kj_type_name(x));
        } else if (x.t == KJ_FLOAT || isf) {
            if (!isf) {
                fsum = (double)isum;
                isf = 1;
            }
            fsum += kj_num(x);
        } else {
            int64_t xi = 0;
            to_int(x, &xi);
            if (__builtin_add_overflow(isum, xi, &isum))
                rc = kj_fail(in, KILN_EINVAL, "integer overflow");
        }
        kj_release(x);
    }
    kj_release(items);
    if (!rc)
        *out = isf ? kj_float(fsum) : kj_int(isum);
    return rc;
}

static int tojson_append(kj_in *in, kj_val v, kiln_buf *b, int indent, int level)
{
    kiln_err *err = kj_in_err(in);
    int rc = 0;
    char pad[2] = "\n";
    switch (v.t) {
    case KJ_NONE:
    case KJ_UNDEF: return kiln_buf_append(b, "null", 4, err);
    case KJ_BOOL: return v.u.b ? kiln_buf_append(b, "true", 4, err) : kiln_buf_append(b, "false", 5, err);
    case KJ_INT:
    case KJ_FLOAT:
        if (v.t == KJ_FLOAT && !isfinite(v.u.f))
            return kiln_buf_append(b,
                                   isnan(v.u.f) ? "NaN"
                                   : v.u.f > 0  ? "Infinity"
                                                : "-Infinity",
                                   isnan(v.u.f) ? 3
                                   : v.u.f > 0  ? 8
                                                : 9,
                                   err);
        return kj_str_append(in, v, b, err);
    case KJ_STR: {
        /* Jinja's htmlsafe_json_dumps: ASCII-escaped, with <>&' as \u00XX */
        if ((rc = kiln_buf_putc(b, '"', err)))
            return rc;
        const unsigned char *p = (const unsigned char *)v.u.s->p, *e = p + v.u.s->len;
        while (p < e && !rc) {
            unsigned c = *p;
            if (c >= 0x80) {
                size_t n = kiln_utf8_valid_len(p, e);
                uint32_t cp = 0xFFFD;
                if (n == 2)
                    cp = ((c & 0x1F) << 6) | (p[1] & 0x3F);
                else if (n == 3)
                    cp = ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
                else if (n == 4)
                    cp = ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
                p += n ? n : 1;
                if (cp >= 0x10000) {
                    cp -= 0x10000;
                    rc = kiln_buf_printf(b, err, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                } else {
                    rc = kiln_buf_printf(b, err, "\\u%04x", cp);
                }
                continue;
            }
            p++;
            if (c == '"')
                rc = kiln_buf_append(b, "\\\"", 2, err);
            else if (c == '\\')
                rc = kiln_buf_append(b, "\\\\", 2, err);
            else if (c == '\n')
                rc = kiln_buf_append(b, "\\n", 2, err);
            else if (c == '\r')
                rc = kiln_buf_append(b, "\\r", 2, err);
            else if (c == '\t')
                rc = kiln_buf_append(b, "\\t", 2, err);
            else if (c == '\b')
                rc = kiln_buf_append(b, "\\b", 2, err);
            else if (c == '\f')
                rc = kiln_buf_append(b, "\\f", 2, err);
            else if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == '\'')
                rc = kiln_buf_printf(b, err, "\\u%04x", c);
            else
                rc = kiln_buf_putc(b, (char)c, err);
        }
        return rc ? rc : kiln_buf_putc(b, '"', err);
    }
    case KJ_LIST:
    case KJ_DICT: {
        int isd = v.t == KJ_DICT;
        size_t n = isd ? v.u.d->len : v.u.l->len;
        if ((rc = kiln_buf_putc(b, isd ? '{' : '[', err)))
            return rc;
        /* dicts with sorted keys (sort_keys=True) */
        size_t *order = kiln_malloc((n ? n : 1) * sizeof(size_t));
        if (!order)
            return KILN_OOM(err);
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        if (isd)
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0; j--) {
                    int c = 0;
                    if (kj_compare(v.u.d->keys[order[j - 1]], v.u.d->keys[order[j]], &c) || c <= 0)
                        break;
                    size_t t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
        for (size_t k = 0; k < n && !rc; k++) {
            size_t i = order[k];
            if (k)
                rc = kiln_buf_append(b, indent ? "," : ", ", indent ? 1 : 2, err);
            if (indent && !rc) {
                rc = kiln_buf_append(b, pad, 1, err);
                for (int s = 0; s < indent * (level + 1) && !rc; s++)
                    rc = kiln_buf_putc(b, ' ', err);
            }
            if (rc)
                break;
            if (isd) {
                kj_val key = v.u.d->keys[i];
                if (key.t == KJ_STR)
                    rc = tojson_append(in, key, b, indent, level + 1);
                else {
                    kj_val ks;
                    if (!(rc = kj_to_str_val(in, key, &ks)))
                        rc = tojson_append(in, ks, b, indent, level + 1);
                    kj_release(ks);
                }
                if (!rc)
                    rc = kiln_buf_append(b, ": ", 2, err);
                if (!rc)
                    rc = tojson_append(in, v.u.d->vals[i], b, indent, level + 1);
            } else {
                rc = tojson_append(in, v.u.l->items[i], b, indent, level + 1);
            }
        }
        kiln_free(order);
        if (indent && n && !rc) {
            rc = kiln_buf_append(b, pad, 1, err);
            for (int s = 0; s < indent * level && !rc; s++)
                rc = kiln_buf_putc(b, ' ', err);
        }
        return rc ? rc : kiln_buf_putc(b, isd ? '}' : ']', err);
    }
    default: return kj_fail(in, KILN_EINVAL, "Object of type %s is not JSON serializable", kj_type_name(v));
    }
}

static int f_indent(kj_in *in, kj_val v, const kj_args *a, kj_val *out)
{
    kj_val w = kj_arg(a, 0, "width"), first = kj_arg(a, 1, "first"), blank = kj_arg(a, 2, "blank");
    kiln_buf ind;
    kiln_buf_init(&ind, 0);
    int rc = 0;
    if (w.t == KJ_STR)
        rc = kiln_buf_append(&ind, w.u.s->p, w.u.s->len, kj_in_err(in));
    else {
        int64_t n;
        if ((rc = opt_int(in, w, 4, &n, "width")))
            return rc;
        for (int64_t i = 0; i < n && i < 4096 && !rc; i++)
            rc = kiln_buf_putc(&ind, ' ', kj_in_err(in));
    }
    kj_val s;
    if (!rc)
        rc = str_of(in, v, &s);
    if (rc) {
        kiln_buf_free(&ind);
        return rc;
    }
    kiln_buf b;
    kiln_buf_init(&b, 0);
    const char *p = s.u.s->p, *e = p + s.u.s->len;
    int lineno = 0;
    while (p <= e && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl : e;
        int is_blank = 1;
        for (const char *q = p; q < le; q++)
            if (!is_pyspace((unsigned char)*q))
                is_blank = 0;
        if ((lineno > 0 || kj_truthy(first)) && (kj_truthy(blank) || !is_blank) && ind.len)
            rc = kiln_buf_append(&b, ind.data, ind.len, kj_in_err(in));
        if (!rc)
            rc = kiln_buf_append(&b, p, (size_t)(le - p), kj_in_err(in));
        if (!nl)
            break;
        if (!rc)
            rc = kiln_buf_putc(&b, '\n', kj_in_err(in));
        p = nl + 1;
        lineno++;
    }
    kj_release(s);
    kiln_buf_free(&ind);
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    return buf_to_str(in, &b, out);
}

static int dict_items_list(kj_in *in, kj_val d, kj_val *out)
{
    int rc = 0;
    *out = kj_list_new();
    if (kj_oom(*out))
        return KILN_OOM(kj_in_err(in));
    for (size_t i = 0; i < d.u.d->len && !rc; i++) {
        kj_val pair = kj_tuple_new();
        if (kj_oom(pair))
            rc = KILN_OOM(kj_in_err(in));
        if (!rc && !(rc = kj_list_push(pair, kj_retain(d.u.d->keys[i]), kj_in_err(in))) &&
            !(rc = kj_list_push(pair, kj_retain(d.u.d->vals[i]), kj_in_err(in))))
            rc = kj_list_push(*out, pair, kj_in_err(in));
        else if (!kj_oom(pair))
            kj_release(pair);
    }
    return rc;
}

static int filter_impl(kj_in *in, const char *name, kj_val v, const kj_args *a, kj_val *out);

/* Filters and methods may leave a partial result in *out when they fail:
 * it is dropped here, once. */
int kj_filter(kj_in *in, const char *name, kj_val v, const kj_args *a, kj_val *out)
{
    *out = kj_undef();
    int rc = filter_impl(in, name, v, a, out);
    if (rc < 0) {
        kj_release(*out);
        *out = kj_undef();
    }
    return rc;
}

static int filter_impl(kj_in *in, const char *name, kj_val v, const kj_args *a, kj_val *out)
{
    kiln_err *err = kj_in_err(in);
    int rc;
    *out = kj_undef();
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        kj_val def = kj_arg(a, 0, "default_value"), boolean = kj_arg(a, 1, "boolean");
        int use = v.t == KJ_UNDEF || (kj_truthy(boolean) && !kj_truthy(v));
        *out = use ? (def.t == KJ_UNDEF && def.u.s == NULL ? kj_str_new("", 0) : kj_retain(def)) : kj_retain(v);
        return kj_oom(*out) ? KILN_OOM(err) : 0;
    }
    if (!strcmp(name, "safe") || !strcmp(name, "e") || !strcmp(name, "escape") || !strcmp(name, "forceescape")) {
        if (name[0] == 's') {
            *out = kj_retain(v);
            return 0;
        }
        kj_val s;
        if ((rc = str_of(in, v, &s)))
            return rc;
        kiln_buf b;
        kiln_buf_init(&b, 0);
        for (size_t i = 0; i < s.u.s->len && !rc; i++) {
            char c = s.u.s->p[i];
            const char *rep = c == '&'    ? "&amp;"
                              : c == '<'  ? "&lt;"
                              : c == '>'  ? "&gt;"
                              : c == '"'  ? "&#34;"
                              : c == '\'' ? "&#39;"
                                          : NULL;
            rc = rep ? kiln_buf_append(&b, rep, strlen(rep), err) : kiln_buf_putc(&b, c, err);
        }
        kj_release(s);
        if (rc) {
            kiln_buf_free(&b);
            return rc;
        }
        return buf_to_str(in, &b, out);
    }
    if (v.t == KJ_UNDEF && strcmp(name, "length") && strcmp(name, "count") && strcmp(name, "list") &&
        strcmp(name, "string") && strcmp(name, "join") && strcmp(name, "first") && strcmp(name, "last") &&
        strcmp(name, "select") && strcmp(name, "reject") && strcmp(name, "map") && strcmp(name, "int") &&
        strcmp(name, "float") && strcmp(name, "trim") && strcmp(name, "lower") && strcmp(name, "upper") &&
        strcmp(name, "tojson") && strcmp(name, "unique") && strcmp(name, "sort")) {
        if (v.u.s)
            return kj_fail(in, KILN_EINVAL, "'%s' is undefined", v.u.s->p);
        return kj_fail(in, KILN_EINVAL, "filter '%s' applied to an undefined value", name);
    }
    if (!strcmp(name, "join"))
        return f_join(in, v, a, out);
    if (!strcmp(name, "lower"))
        return f_case(in, v, 0, out);
    if (!strcmp(name, "upper"))
        return f_case(in, v, 1, out);
    if (!strcmp(name, "title"))
        return f_case(in, v, 2, out);
    if (!strcmp(name, "capitalize"))
        return f_case(in, v, 3, out);
    if (!strcmp(name, "trim")) {
        kj_val s;
        if ((rc = str_of(in, v, &s)))
            return rc;
        rc = strip_impl(in, s, kj_arg(a, 0, "chars"), 1, 1, out);
        kj_release(s);
        return rc;
    }
    if (!strcmp(name, "replace")) {
        kj_val s;
        if ((rc = str_of(in, v, &s)))
            return rc;
        rc = replace_impl(in, s, kj_arg(a, 0, "old"), kj_arg(a, 1, "new"), kj_arg(a, 2, "count"), out);
        kj_release(s);
        return rc;
    }
    if (!strcmp(name, "length") || !strcmp(name, "count"))
        return f_length(in, v, out);
    if (!strcmp(name, "list"))
        return kj_iter_list(in, v, out);
    if (!strcmp(name, "string"))
        return str_of(in, v, out);
    if (!strcmp(name, "int"))
        return f_int(in, v, a, out);
    if (!strcmp(name, "float"))
        return f_float(in, v, a, out);
    if (!strcmp(name, "round"))
        return f_round(in, v, a, out);
    if (!strcmp(name, "abs")) {
        if (v.t == KJ_INT && v.u.i != INT64_MIN)
            *out = kj_int(v.u.i < 0 ? -v.u.i : v.u.i);
        else if (kj_is_num(v))
            *out = v.t == KJ_BOOL ? kj_int(v.u.b) : kj_float(fabs(kj_num(v)));
        else
            return kj_fail(in, KILN_EINVAL, "bad operand type for abs(): '%s'", kj_type_name(v));
        return 0;
    }
    if (!strcmp(name, "first") || !strcmp(name, "last"))
        return f_first_last(in, v, name[0] == 'l', out);
    if (!strcmp(name, "map"))
        return f_map(in, v, a, out);
    if (!strcmp(name, "select") || !strcmp(name, "reject"))
        return f_select(in, v, a, name[0] == 's', 0, out);
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
        return f_select(in, v, a, name[0] == 's', 1, out);
    if (!strcmp(name, "unique"))
        return f_unique(in, v, a, out);
    if (!strcmp(name, "sort")) {
        kj_val items;
        if ((rc = kj_iter_list(in, v, &items)))
            return rc;
        rc = sort_list(in, items, kj_arg(a, 2, "attribute"), kj_truthy(kj_arg(a, 1, "case_sensitive")),
                       kj_truthy(kj_arg(a, 0, "reverse")), out);
        kj_release(items);
        return rc;
    }
    if (!strcmp(name, "dictsort")) {
        if (v.t != KJ_DICT)
            return kj_fail(in, KILN_EINVAL, "dictsort expects a mapping, got %s", kj_type_name(v));
        kj_val cs = kj_arg(a, 0, "case_sensitive"), by = kj_arg(a, 1, "by"), rev = kj_arg(a, 2, "reverse"), items;
        if ((rc = dict_items_list(in, v, &items)))
            return rc;
        int byval = by.t == KJ_STR && !strcmp(by.u.s->p, "value");
        rc = sort_list(in, items, kj_int(byval ? 1 : 0), kj_truthy(cs), kj_truthy(rev), out);
        kj_release(items);
        return rc;
    }
    if (!strcmp(name, "items")) {
        if (v.t != KJ_DICT)
            return kj_fail(in, KILN_EINVAL, "items expects a mapping, got %s", kj_type_name(v));
        return dict_items_list(in, v, out);
    }
    if (!strcmp(name, "reverse")) {
        kj_val items;
        if ((rc = kj_iter_list(in, v, &items)))
            return rc;
        size_t n = items.u.l->len;
        for (size_t i = 0; i < n / 2; i++) {
            kj_val t = items.u.l->items[i];
            items.u.l->items[i] = items.u.l->items[n - 1 - i];
            items.u.l->items[n - 1 - i] = t;
        }
        if (v.t != KJ_STR) {
            *out = items;
            return 0;
        }
        kj_val empty = kj_str_new("", 0);
        kj_args ja = {1, 0, &empty, NULL, NULL, kj_undef()};
        rc = kj_oom(empty) ? KILN_OOM(err) : f_join(in, items, &ja, out);
        kj_release(empty);
        kj_release(items);
        return rc;
    }
    if (!strcmp(name, "max") || !strcmp(name, "min"))
        return f_minmax(in, v, a, name[1] == 'a', out);
    if (!strcmp(name, "sum"))
        return f_sum(in, v, a, out);
    if (!strcmp(name, "attr")) {
        kj_val n = kj_arg(a, 0, "name");
        if ((rc = need_str(in, n, "attr")))
            return rc;
        return kj_getattr(in, v, n.u.s->p, n.u.s->len, out);
    }
    if (!strcmp(name, "tojson")) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        int64_t ind;
        if ((rc = opt_int(in, kj_arg(a, 0, "indent"), 0, &ind, "indent")))
            return rc;
        if (ind < 0 || ind > 64)
            ind = 0;
        if ((rc = tojson_append(in, v, &b, (int)ind, 0))) {
            kiln_buf_free(&b);
            return rc;
        }
        return buf_to_str(in, &b, out);
    }
    if (!strcmp(name, "indent"))
        return f_indent(in, v, a, out);
    if (!strcmp(name, "format")) {
        if ((rc = need_str(in, v, "format")))
            return rc;
        kj_val args = kj_list_new();
        if (kj_oom(args))
            return KILN_OOM(err);
        for (size_t i = 0; i < a->npos && !rc; i++)
            rc = kj_list_push(args, kj_retain(a->pos[i]), err);
        if (!rc)
            rc = kj_format_percent(in, v, args, out);
        kj_release(args);
        return rc;
    }
    if (!strcmp(name, "wordcount")) {
        kj_val s;
        if ((rc = str_of(in, v, &s)))
            return rc;
        int64_t n = 0;
        int inw = 0;
        for (size_t i = 0; i < s.u.s->len; i++) {
            int w = isalnum((unsigned char)s.u.s->p[i]) || s.u.s->p[i] == '_' || ((unsigned char)s.u.s->p[i] & 0x80);
            if (w && !inw)
                n++;
            inw = w;
        }
        kj_release(s);
        *out = kj_int(n);
        return 0;
    }
    if (!strcmp(name, "batch") || !strcmp(name, "slice")) {
        kj_val items;
        int64_t size;
        if ((rc = opt_int(in, kj_arg(a, 0, NULL), 1, &size, "size")))
            return rc;
        if (size <= 0)
            return kj_fail(in, KILN_EINVAL, "%s size must be positive", name);
        if ((rc = kj_iter_list(in, v, &items)))
            return rc;
        size_t n = items.u.l->len;
        *out = kj_list_new();
        if (kj_oom(*out)) {
            kj_release(items);
            return KILN_OOM(err);
        }
        if (name[0] == 'b') {
            for (size_t i = 0; i < n && !rc; i += (size_t)size) {
                kj_val chunk = kj_list_new();
                if (kj_oom(chunk)) {
                    rc = KILN_OOM(err);
                    break;
                }
                for (size_t j = i; j < n && j < i + (size_t)size && !rc; j++)
                    rc = kj_list_push(chunk, kj_retain(items.u.l->items[j]), err);
                if (!rc)
                    rc = kj_list_push(*out, chunk, err);
                else
                    kj_release(chunk);
            }
        } else {
            size_t per = n / (size_t)size, extra = n % (size_t)size, off = 0;
            for (size_t k = 0; k < (size_t)size && k < 100000 && !rc; k++) {
                size_t len = per + (k < extra ? 1 : 0);
                kj_val chunk = kj_list_new();
                if (kj_oom(chunk)) {
                    rc = KILN_OOM(err);
                    break;
                }
                for (size_t j = 0; j < len && !rc; j++)
                    rc = kj_list_push(chunk, kj_retain(items.u.l->items[off + j]), err);
                off += len;
                if (!rc)
                    rc = kj_list_push(*out, chunk, err);
                else
                    kj_release(chunk);
            }
        }
        kj_release(items);
        return rc;
    }
    return kj_fail(in, KILN_EINVAL, "no filter named '%s'", name);
}

/* ------------------------------------------------------------ methods */

static const char *const str_methods[] = {
    "split",      "rsplit",   "strip",   "lstrip",     "rstrip", "upper", "lower", "title",   "capitalize", "replace",
    "startswith", "endswith", "format",  "join",       "find",   "rfind", "count", "isdigit", "isalpha",    "isalnum",
    "islower",    "isupper",  "isspace", "splitlines", "zfill",  "ljust", "rjust", "index",   NULL};
static const char *const list_methods[] = {"append", "extend",  "pop",  "insert", "index", "count",
                                           "remove", "reverse", "sort", "copy",   "clear", NULL};
static const char *const dict_methods[] = {"items", "keys",       "values", "get",   "update",
                                           "pop",   "setdefault", "copy",   "clear", NULL};

const char *kj_method_name(kj_val self, const char *name)
{
    const char *const *tab = self.t == KJ_STR    ? str_methods
                             : self.t == KJ_LIST ? list_methods
                             : self.t == KJ_DICT ? dict_methods
                                                 : NULL;
    for (int i = 0; tab && tab[i]; i++)
        if (!strcmp(tab[i], name))
            return tab[i];
    return NULL;
}

int kj_is_method(kj_val self, const char *name) { return kj_method_name(self, name) != NULL; }

static int split_impl(kj_in *in, kj_val s, const kj_args *a, int from_right, kj_val *out)
{
    kj_val sep = kj_arg(a, 0, "sep");
    int64_t max;
    int rc = opt_int(in, kj_arg(a, 1, "maxsplit"), -1, &max, "maxsplit");
    if (rc)
        return rc;
    if (sep.t != KJ_UNDEF && sep.t != KJ_NONE && sep.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "must be str or None, not %s", kj_type_name(sep));
    if (sep.t == KJ_STR && sep.u.s->len == 0)
        return kj_fail(in, KILN_EINVAL, "empty separator");
    kj_val parts = kj_list_new();
    if (kj_oom(parts))
        return KILN_OOM(kj_in_err(in));
    const char *p = s.u.s->p, *e = p + s.u.s->len;
    int64_t done = 0;
    /* collect [start,end) pairs left to right; for rsplit with maxsplit
     * count from the right */
    if (sep.t == KJ_STR) {
        size_t sl = sep.u.s->len;
        if (from_right && max >= 0) {
            const char *end = e;
            kj_val rev = kj_list_new();
            if (kj_oom(rev)) {
                kj_release(parts);
                return KILN_OOM(kj_in_err(in));
            }
            while (!rc) {
                const char *hit = NULL;
                if (done < max)
                    for (const char *q = end - sl; q >= p; q--)
                        if (!memcmp(q, sep.u.s->p, sl)) {
                            hit = q;
                            break;
                        }
                kj_val piece = kj_str_new(hit ? hit + sl : p, (size_t)(end - (hit ? hit + sl : p)));
                rc = kj_oom(piece) ? KILN_OOM(kj_in_err(in)) : kj_list_push(rev, piece, kj_in_err(in));
                if (!hit)
                    break;
                end = hit;
                done++;
            }
            for (size_t i = rev.u.l->len; i > 0 && !rc; i--)
                rc = kj_list_push(parts, kj_retain(rev.u.l->items[i - 1]), kj_in_err(in));
            kj_release(rev);
        } else {
            while (!rc) {
                const char *hit = (max < 0 || done < max) ? memmem(p, (size_t)(e - p), sep.u.s->p, sl) : NULL;
                kj_val piece = kj_str_new(p, (size_t)((hit ? hit : e) - p));
                rc = kj_oom(piece) ? KILN_OOM(kj_in_err(in)) : kj_list_push(parts, piece, kj_in_err(in));
                if (!hit)
                    break;
                p = hit + sl;
                done++;
            }
        }
    } else {
        /* whitespace runs; no empty strings */
        if (from_right && max >= 0) {
            kj_val rev = kj_list_new();
            if (kj_oom(rev)) {
                kj_release(parts);
                return KILN_OOM(kj_in_err(in));
            }
            const char *end = e;
            while (!rc) {
                while (end > p && is_pyspace((unsigned char)end[-1]))
                    end--;
                if (end == p)
                    break;
                const char *st = end;
                if (done < max) {
                    while (st > p && !is_pyspace((unsigned char)st[-1]))
                        st--;
                } else {
                    st = p;
                }
                kj_val piece = kj_str_new(st, (size_t)(end - st));
                rc = kj_oom(piece) ? KILN_OOM(kj_in_err(in)) : kj_list_push(rev, piece, kj_in_err(in));
                end = st;
                done++;
            }
            for (size_t i = rev.u.l->len; i > 0 && !rc; i--)
                rc = kj_list_push(parts, kj_retain(rev.u.l->items[i - 1]), kj_in_err(in));
            kj_release(rev);
        } else {
            while (!rc) {
                while (p < e && is_pyspace((unsigned char)*p))
                    p++;
                if (p == e)
                    break;
                const char *st = p;
                if (max < 0 || done < max) {
                    while (p < e && !is_pyspace((unsigned char)*p))
                        p++;
                } else {
                    const char *t = e;
                    while (t > st && is_pyspace((unsigned char)t[-1]))
                        t--;
                    p = t;
                }
                kj_val piece = kj_str_new(st, (size_t)(p - st));
                rc = kj_oom(piece) ? KILN_OOM(kj_in_err(in)) : kj_list_push(parts, piece, kj_in_err(in));
                done++;
                if (p >= e)
                    break;
            }
        }
    }
    if (rc) {
        kj_release(parts);
        return rc;
    }
    *out = parts;
    return 0;
}

static int str_method(kj_in *in, kj_val s, const char *m, const kj_args *a, kj_val *out)
{
    kiln_err *err = kj_in_err(in);
    int rc;
    kj_val x = kj_arg(a, 0, NULL);
    if (!strcmp(m, "split") || !strcmp(m, "rsplit"))
        return split_impl(in, s, a, m[0] == 'r', out);
    if (!strcmp(m, "strip") || !strcmp(m, "lstrip") || !strcmp(m, "rstrip"))
        return strip_impl(in, s, kj_arg(a, 0, "chars"), m[0] != 'r', m[0] != 'l', out);
    if (!strcmp(m, "upper") || !strcmp(m, "lower") || !strcmp(m, "title") || !strcmp(m, "capitalize"))
        return f_case(in, s, m[0] == 'l' ? 0 : m[0] == 'u' ? 1 : m[0] == 't' ? 2 : 3, out);
    if (!strcmp(m, "replace"))
        return replace_impl(in, s, kj_arg(a, 0, NULL), kj_arg(a, 1, NULL), kj_arg(a, 2, "count"), out);
    if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
        int ends = m[0] == 'e', res = 0;
        kj_val cands = x;
        size_t n = x.t == KJ_LIST ? x.u.l->len : 1;
        for (size_t i = 0; i < n && !res; i++) {
            kj_val c = x.t == KJ_LIST ? cands.u.l->items[i] : x;
            if ((rc = need_str(in, c, m)))
                return rc;
            size_t cl = c.u.s->len;
            res = cl <= s.u.s->len && !memcmp(ends ? s.u.s->p + s.u.s->len - cl : s.u.s->p, c.u.s->p, cl);
        }
        *out = kj_bool(res);
        return 0;
    }
    if (!strcmp(m, "format"))
        return str_format(in, s, a, out);
    if (!strcmp(m, "join")) {
        kj_args ja = {1, 0, &s, NULL, NULL, kj_undef()};
        kj_val items;
        if ((rc = kj_iter_list(in, x, &items)))
            return rc;
        for (size_t i = 0; i < items.u.l->len; i++)
            if (items.u.l->items[i].t != KJ_STR) {
                kj_release(items);
                return kj_fail(in, KILN_EINVAL, "sequence item %zu: expected str instance, %s found", i,
                               kj_type_name(items.u.l->items[i]));
            }
        rc = f_join(in, items, &ja, out);
        kj_release(items);
        return rc;
    }
    if (!strcmp(m, "find") || !strcmp(m, "rfind") || !strcmp(m, "index") || !strcmp(m, "count")) {
        if ((rc = need_str(in, x, m)))
            return rc;
        const char *h = s.u.s->p;
        size_t hl = s.u.s->len, nl = x.u.s->len;
        if (m[0] == 'c') {
            int64_t n = 0;
            if (!nl)
                n = (int64_t)hl + 1;
            else
                for (const char *p = h; (p = memmem(p, hl - (size_t)(p - h), x.u.s->p, nl)); p += nl)
                    n++;
            *out = kj_int(n);
            return 0;
        }
        int64_t pos = -1;
        if (m[0] == 'r') {
            for (size_t i = hl + 1; i-- > 0;)
                if (i + nl <= hl && !memcmp(h + i, x.u.s->p, nl)) {
                    pos = (int64_t)i;
                    break;
                }
        } else {
            const char *p = nl ? memmem(h, hl, x.u.s->p, nl) : h;
            pos = p ? p - h : -1;
        }
        if (pos < 0 && m[0] == 'i')
            return kj_fail(in, KILN_EINVAL, "substring not found");
        *out = kj_int(pos);
        return 0;
    }
    if (!strncmp(m, "is", 2)) {
        int res = s.u.s->len > 0;
        for (size_t i = 0; i < s.u.s->len && res; i++) {
            unsigned char c = (unsigned char)s.u.s->p[i];
            if (!strcmp(m, "isdigit"))
                res = isdigit(c);
            else if (!strcmp(m, "isalpha"))
                res = isalpha(c);
            else if (!strcmp(m, "isalnum"))
                res = isalnum(c);
            else if (!strcmp(m, "isspace"))
                res = is_pyspace(c);
        }
        if (!strcmp(m, "islower") || !strcmp(m, "isupper")) {
            kj_args none = {0};
            none.caller = kj_undef();
            return kj_test(in, m + 2, s, &none, &res) ? KILN_EINVAL : (*out = kj_bool(res), 0);
        }
        *out = kj_bool(res);
        return 0;
    }
    if (!strcmp(m, "splitlines")) {
        *out = kj_list_new();
        if (kj_oom(*out))
            return KILN_OOM(err);
        const char *p = s.u.s->p, *e = p + s.u.s->len;
        rc = 0;
        while (p < e && !rc) {
            const char *q = p;
            while (q < e && *q != '\n' && *q != '\r')
                q++;
            kj_val piece = kj_str_new(p, (size_t)(q - p));
            rc = kj_oom(piece) ? KILN_OOM(err) : kj_list_push(*out, piece, err);
            if (q < e && *q == '\r' && q + 1 < e && q[1] == '\n')
                q++;
            p = q + 1;
        }
        return rc;
    }
    if (!strcmp(m, "zfill") || !strcmp(m, "ljust") || !strcmp(m, "rjust")) {
        int64_t w;
        if ((rc = opt_int(in, x, 0, &w, "width")))
            return rc;
        if (w > 65536)
            return kj_fail(in, KILN_ELIMIT, "%s width too large", m);
        fspec sp;
        memset(&sp, 0, sizeof sp);
        kj_val fc = kj_arg(a, 1, "fillchar");
        sp.fill = m[0] == 'z' ? '0' : fc.t == KJ_STR && fc.u.s->len == 1 ? fc.u.s->p[0] : ' ';
        sp.align = m[0] == 'l' ? '<' : m[0] == 'r' ? '>' : '=';
        sp.width = (int)w;
        sp.prec = -1;
        sp.type = 's';
        kiln_buf b;
        kiln_buf_init(&b, 0);
        if (m[0] == 'z' && s.u.s->len && (s.u.s->p[0] == '-' || s.u.s->p[0] == '+')) {
            /* sign first, as Python */
            if ((rc = kiln_buf_putc(&b, s.u.s->p[0], err)))
                return rc;
            kj_val rest = kj_str_new(s.u.s->p + 1, s.u.s->len - 1);
            sp.width = w > 0 ? (int)w - 1 : 0;
            sp.align = '>';
            rc = kj_oom(rest) ? KILN_OOM(err) : format_one(in, rest, &sp, &b);
            kj_release(rest);
        } else {
            if (m[0] == 'z')
                sp.align = '>';
            rc = format_one(in, s, &sp, &b);
        }
        if (rc) {
            kiln_buf_free(&b);
            return rc;
        }
        return buf_to_str(in, &b, out);
    }
    return kj_fail(in, KILN_EINVAL, "'str' object has no attribute '%s'", m);
}

static int list_method(kj_in *in, kj_val l, const char *m, const kj_args *a, kj_val *out)
{
    kiln_err *err = kj_in_err(in);
    kj_list *L = l.u.l;
    kj_val x = kj_arg(a, 0, NULL);
    int rc = 0;
    *out = kj_none();
    if (!strcmp(m, "append")) {
        if (x.t == KJ_LIST && x.u.l == L)
            return kj_fail(in, KILN_EINVAL, "a list cannot be appended to itself");
        return kj_list_push(l, kj_retain(x), err);
    }
    if (!strcmp(m, "extend")) {
        kj_val items;
        if ((rc = kj_iter_list(in, x, &items)))
            return rc;
        for (size_t i = 0; i < items.u.l->len && !rc; i++)
            rc = kj_list_push(l, kj_retain(items.u.l->items[i]), err);
        kj_release(items);
        return rc;
    }
    if (!strcmp(m, "pop")) {
        int64_t i;
        if ((rc = opt_int(in, x, -1, &i, "index")))
            return rc;
        if (i < 0)
            i += (int64_t)L->len;
        if (i < 0 || (size_t)i >= L->len)
            return kj_fail(in, KILN_EINVAL, "pop index out of range");
        *out = L->items[i];
        memmove(L->items + i, L->items + i + 1, (L->len - (size_t)i - 1) * sizeof(kj_val));
        L->len--;
        return 0;
    }
    if (!strcmp(m, "insert")) {
        int64_t i;
        if ((rc = opt_int(in, x, 0, &i, "index")))
            return rc;
        if (i < 0)
            i += (int64_t)L->len;
        if (i < 0)
            i = 0;
        if ((size_t)i > L->len)
            i = (int64_t)L->len;
        kj_val v = kj_arg(a, 1, NULL);
        if ((rc = kj_list_push(l, kj_retain(v), err)))
            return rc;
        memmove(L->items + i + 1, L->items + i, (L->len - 1 - (size_t)i) * sizeof(kj_val));
        L->items[i] = kj_retain(v);
        kj_release(v);
        return 0;
    }
    if (!strcmp(m, "index") || !strcmp(m, "count") || !strcmp(m, "remove")) {
        int64_t n = 0, first = -1;
        for (size_t i = 0; i < L->len; i++)
            if (kj_equal(L->items[i], x)) {
                if (first < 0)
                    first = (int64_t)i;
                n++;
            }
        if (m[0] == 'c') {
            *out = kj_int(n);
            return 0;
        }
        if (first < 0)
            return kj_fail(in, KILN_EINVAL, "%s: value not in list", m[0] == 'i' ? "list.index" : "list.remove");
        if (m[0] == 'i') {
            *out = kj_int(first);
            return 0;
        }
        kj_release(L->items[first]);
        memmove(L->items + first, L->items + first + 1, (L->len - (size_t)first - 1) * sizeof(kj_val));
        L->len--;
        return 0;
    }
    if (!strcmp(m, "reverse")) {
        for (size_t i = 0; i < L->len / 2; i++) {
            kj_val t = L->items[i];
            L->items[i] = L->items[L->len - 1 - i];
            L->items[L->len - 1 - i] = t;
        }
        return 0;
    }
    if (!strcmp(m, "sort")) {
        kj_val sorted;
        if ((rc = sort_list(in, l, kj_undef(), 1, kj_truthy(kj_arg(a, (size_t)-1, "reverse")), &sorted)))
            return rc;
        for (size_t i = 0; i < L->len; i++) {
            kj_release(L->items[i]);
            L->items[i] = kj_retain(sorted.u.l->items[i]);
        }
        kj_release(sorted);
        return 0;
    }
    if (!strcmp(m, "copy"))
        return kj_iter_list(in, l, out);
    if (!strcmp(m, "clear")) {
        for (size_t i = 0; i < L->len; i++)
            kj_release(L->items[i]);
        L->len = 0;
        return 0;
    }
    return kj_fail(in, KILN_EINVAL, "'list' object has no attribute '%s'", m);
}

static int dict_method(kj_in *in, kj_val d, const char *m, const kj_args *a, kj_val *out)
{
    kiln_err *err = kj_in_err(in);
    kj_val x = kj_arg(a, 0, NULL);
    int rc = 0;
    *out = kj_none();
    if (!strcmp(m, "items"))
        return dict_items_list(in, d, out);
    if (!strcmp(m, "keys") || !strcmp(m, "values")) {
        *out = kj_list_new();
        if (kj_oom(*out))
            return KILN_OOM(err);
        for (size_t i = 0; i < d.u.d->len && !rc; i++)
            rc = kj_list_push(*out, kj_retain(m[0] == 'k' ? d.u.d->keys[i] : d.u.d->vals[i]), err);
        return rc;
    }
    if (!strcmp(m, "get") || !strcmp(m, "setdefault") || !strcmp(m, "pop")) {
        kj_val *v = kj_dict_get(d, x), def = kj_arg(a, 1, NULL);
        if (def.t == KJ_UNDEF && m[0] != 'p')
            def = kj_none();
        if (m[0] == 'p') {
            if (!v) {
                if (a->npos < 2)
                    return kj_fail(in, KILN_EINVAL, "KeyError: pop of a missing key");
                *out = kj_retain(def);
                return 0;
            }
            *out = kj_retain(*v);
            for (size_t i = 0; i < d.u.d->len; i++)
                if (&d.u.d->vals[i] == v)
                    return kj_dict_remove(d, i, err);
            return 0;
        }
        if (v) {
            *out = kj_retain(*v);
            return 0;
        }
        if (m[0] == 's' && (rc = kj_dict_set(d, kj_retain(x), kj_retain(def), err)))
            return rc;
        *out = kj_retain(def);
        return 0;
    }
    if (!strcmp(m, "update")) {
        if (x.t == KJ_DICT)
            for (size_t i = 0; i < x.u.d->len && !rc; i++)
                rc = kj_dict_set(d, kj_retain(x.u.d->keys[i]), kj_retain(x.u.d->vals[i]), err);
        else if (x.t != KJ_UNDEF)
            return kj_fail(in, KILN_EINVAL, "dict.update expects a mapping");
        for (size_t i = 0; i < a->nkw && !rc; i++)
            rc = kj_dict_setc(d, a->kwname[i], kj_retain(a->kw[i]), err);
        return rc;
    }
    if (!strcmp(m, "copy")) {
        *out = kj_dict_new();
        if (kj_oom(*out))
            return KILN_OOM(err);
        for (size_t i = 0; i < d.u.d->len && !rc; i++)
            rc = kj_dict_set(*out, kj_retain(d.u.d->keys[i]), kj_retain(d.u.d->vals[i]), err);
        return rc;
    }
    if (!strcmp(m, "clear")) {
        while (d.u.d->len && !rc)
            rc = kj_dict_remove(d, d.u.d->len - 1, err);
        return rc;
    }
    return kj_fail(in, KILN_EINVAL, "'dict' object has no attribute '%s'", m);
}

int kj_method(kj_in *in, kj_val self, const char *name, const kj_args *a, kj_val *out, int *found)
{
    *found = 1;
    *out = kj_undef();
    const char *m = kj_method_name(self, name);
    if (!m) {
        *found = 0;
        return 0;
    }
    int rc = self.t == KJ_STR    ? str_method(in, self, m, a, out)
             : self.t == KJ_LIST ? list_method(in, self, m, a, out)
                                 : dict_method(in, self, m, a, out);
    if (rc < 0) {
        kj_release(*out);
        *out = kj_undef();
    }
    return rc;
}

/* ------------------------------------------------------------ globals */

static int g_range(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    int64_t s = 0, e, st = 1;
    int rc;
    if (a->npos == 1) {
        if ((rc = opt_int(in, a->pos[0], 0, &e, "range")))
            return rc;
    } else if (a->npos >= 2) {
        if ((rc = opt_int(in, a->pos[0], 0, &s, "range")) || (rc = opt_int(in, a->pos[1], 0, &e, "range")) ||
            (a->npos > 2 && (rc = opt_int(in, a->pos[2], 1, &st, "range"))))
            return rc;
    } else {
        return kj_fail(in, KILN_EINVAL, "range expected at least 1 argument");
    }
    if (st == 0)
        return kj_fail(in, KILN_EINVAL, "range() arg 3 must not be zero");
    /* Jinja's sandbox caps ranges at 100000 items (MAX_RANGE) */
    double n = st > 0 ? ((double)e - (double)s) / (double)st : ((double)s - (double)e) / (double)-st;
    if (n > 100000)
        return kj_fail(in, KILN_ELIMIT, "range too big (more than 100000 items)");
    *out = kj_list_new();
    if (kj_oom(*out))
        return KILN_OOM(kj_in_err(in));
    for (int64_t i = s; st > 0 ? i < e : i > e; i += st)
        if ((rc = kj_list_push(*out, kj_int(i), kj_in_err(in))))
            return rc;
    return 0;
}

static int g_dict(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    int rc = 0;
    *out = kj_dict_new();
    if (kj_oom(*out))
        return KILN_OOM(kj_in_err(in));
    kj_val src = kj_arg(a, 0, NULL);
    if (src.t == KJ_DICT)
        for (size_t i = 0; i < src.u.d->len && !rc; i++)
            rc = kj_dict_set(*out, kj_retain(src.u.d->keys[i]), kj_retain(src.u.d->vals[i]), kj_in_err(in));
    for (size_t i = 0; i < a->nkw && !rc; i++)
        rc = kj_dict_setc(*out, a->kwname[i], kj_retain(a->kw[i]), kj_in_err(in));
    return rc;
}

static int g_namespace(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    kj_val d = kj_undef();
    int rc = g_dict(in, NULL, self, a, &d);
    if (rc) {
        kj_release(d);
        return rc;
    }
    kj_val *box = kiln_malloc(sizeof(kj_val));
    if (!box) {
        kj_release(d);
        return KILN_OOM(kj_in_err(in));
    }
    *box = d;
    *out = kj_obj_new(&ns_class, box);
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int g_zip(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    int rc = 0;
    size_t n = (size_t)-1;
    kj_val lists = kj_list_new();
    if (kj_oom(lists))
        return KILN_OOM(kj_in_err(in));
    for (size_t i = 0; i < a->npos && !rc; i++) {
        kj_val l;
        if (!(rc = kj_iter_list(in, a->pos[i], &l))) {
            if (l.u.l->len < n)
                n = l.u.l->len;
            rc = kj_list_push(lists, l, kj_in_err(in));
        }
    }
    if (!a->npos)
        n = 0;
    *out = kj_list_new();
    if (!rc && kj_oom(*out))
        rc = KILN_OOM(kj_in_err(in));
    for (size_t k = 0; k < n && !rc; k++) {
        kj_val t = kj_tuple_new();
        if (kj_oom(t)) {
            rc = KILN_OOM(kj_in_err(in));
            break;
        }
        for (size_t i = 0; i < lists.u.l->len && !rc; i++)
            rc = kj_list_push(t, kj_retain(lists.u.l->items[i].u.l->items[k]), kj_in_err(in));
        if (!rc)
            rc = kj_list_push(*out, t, kj_in_err(in));
        else
            kj_release(t);
    }
    kj_release(lists);
    return rc;
}

static int add_fn(kj_val d, const char *name, kj_native fn, void *ud, kiln_err *err)
{
    kj_val f = kj_func_new(name, fn, ud, kj_undef());
    if (kj_oom(f))
        return KILN_OOM(err);
    return kj_dict_setc(d, name, f, err);
}

int kj_builtins_add(kj_env *env, kiln_err *err)
{
    int rc;
    kj_val g = env->globals;
    if ((rc = add_fn(g, "range", g_range, NULL, err)) || (rc = add_fn(g, "dict", g_dict, NULL, err)) ||
        (rc = add_fn(g, "namespace", g_namespace, NULL, err)) || (rc = add_fn(g, "zip", g_zip, NULL, err)))
        return rc;
    /* modules.datetime.datetime.now()/utcnow(), modules.datetime.date.today():
     * each container goes into its parent first, so one release frees all */
    kj_val modules = kj_dict_new(), dtmod = kj_dict_new(), dtcls = kj_dict_new(), datecls = kj_dict_new();
    if (kj_oom(modules) || kj_oom(dtmod) || kj_oom(dtcls) || kj_oom(datecls)) {
        kj_release(modules);
        kj_release(dtmod);
        kj_release(dtcls);
        kj_release(datecls);
        return KILN_OOM(err);
    }
    if ((rc = kj_dict_setc(g, "modules", modules, err))) {
        kj_release(dtmod);
        kj_release(dtcls);
        kj_release(datecls);
        return rc;
    }
    if ((rc = kj_dict_setc(modules, "datetime", dtmod, err))) {
        kj_release(dtcls);
        kj_release(datecls);
        return rc;
    }
    if ((rc = kj_dict_setc(dtmod, "datetime", dtcls, err))) {
        kj_release(datecls);
        return rc;
    }
    if ((rc = kj_dict_setc(dtmod, "date", datecls, err)))
        return rc;
    if ((rc = add_fn(dtcls, "now", g_now, NULL, err)) || (rc = add_fn(dtcls, "utcnow", g_now, NULL, err)) ||
        (rc = add_fn(datecls, "today", g_now, (void *)1, err)))
        return rc;
    return 0;
}
