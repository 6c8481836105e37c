/*
 * iceberg_types.c - Iceberg types and partition specs as people write them:
 * the DDL spelling of `kiln table create --schema` and `alter --add-column`
 * ("id long not null", "list<string>", "struct<a: int>", "decimal(9,2)")
 * parsed into the metadata model with fresh field ids, the same spelling
 * rendered back (kiln_lake_type_str, what `kiln table describe` prints), and
 * partition specs from text ("day(ts), bucket(16, id)").
 */
#include "lake/lake_meta_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ DDL types */

static void skip_ws(const char **p)
{
    while (isspace((unsigned char)**p))
        (*p)++;
}

static int ddl_word(const char **p, char *buf, size_t cap)
{
    skip_ws(p);
    size_t n = 0;
    while ((isalnum((unsigned char)**p) || **p == '_' || **p == '-') && n + 1 < cap)
        buf[n++] = *(*p)++;
    buf[n] = 0;
    return (int)n;
}

int kiln_lake__type_from_ddl(kiln_lake_meta *m, const char **p, const kiln_lake_type **out, int32_t *next_id, int depth,
                             kiln_err *err)
{
    char word[64];
    if (depth > KILN_LAKE_MAX_DEPTH)
        return kiln_err_set(err, KILN_ELIMIT, "type nested deeper than %d", KILN_LAKE_MAX_DEPTH);
    if (!ddl_word(p, word, sizeof(word)))
        return kiln_err_set(err, KILN_EINVAL, "expected a type at \"%.20s\"", *p);
    for (char *c = word; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    kiln_lake_type *t = kiln_lake__alloc(m, sizeof(*t));
    if (!t)
        return KILN_OOM(err);
    int rc;
    skip_ws(p);
    if (strcmp(word, "list") == 0 || strcmp(word, "array") == 0) {
        if (**p != '<')
            return kiln_err_set(err, KILN_EINVAL, "list needs <element type>");
        (*p)++;
        t->kind = KILN_LAKE_LIST;
        t->name = "list";
        t->element_id = (*next_id)++;
        if ((rc = kiln_lake__type_from_ddl(m, p, &t->element, next_id, depth + 1, err)) != 0)
            return rc;
        skip_ws(p);
        if (**p != '>')
            return kiln_err_set(err, KILN_EINVAL, "list<...> is not closed with '>'");
        (*p)++;
    } else if (strcmp(word, "map") == 0) {
        if (**p != '<')
            return kiln_err_set(err, KILN_EINVAL, "map needs <key type, value type>");
        (*p)++;
        t->kind = KILN_LAKE_MAP;
        t->name = "map";
        t->key_id = (*next_id)++;
        t->value_id = (*next_id)++;
        if ((rc = kiln_lake__type_from_ddl(m, p, &t->key, next_id, depth + 1, err)) != 0)
            return rc;
        skip_ws(p);
        if (**p != ',')
            return kiln_err_set(err, KILN_EINVAL, "map<key, value> needs a ','");
        (*p)++;
        if ((rc = kiln_lake__type_from_ddl(m, p, &t->value, next_id, depth + 1, err)) != 0)
            return rc;
        skip_ws(p);
        if (**p != '>')
            return kiln_err_set(err, KILN_EINVAL, "map<...> is not closed with '>'");
        (*p)++;
    } else if (strcmp(word, "struct") == 0) {
        if (**p != '<')
            return kiln_err_set(err, KILN_EINVAL, "struct needs <name: type, ...>");
        (*p)++;
        t->kind = KILN_LAKE_STRUCT;
        t->name = "struct";
        KILN_VEC(kiln_lake_field) fs = {0};
        for (;;) {
            char fname[129];
            kiln_lake_field f = {0};
            if (!ddl_word(p, fname, sizeof(fname))) {
                kiln_vec_free(&fs);
                return kiln_err_set(err, KILN_EINVAL, "struct field needs a name at \"%.20s\"", *p);
            }
            skip_ws(p);
            if (**p == ':')
                (*p)++;
            f.id = (*next_id)++;
            f.name = kiln_lake__strdup(m, fname);
            if ((rc = kiln_lake__type_from_ddl(m, p, &f.type, next_id, depth + 1, err)) != 0 ||
                (rc = kiln_vec_push(&fs, f, err)) != 0) {
                kiln_vec_free(&fs);
                return rc;
            }
            skip_ws(p);
            if (strncasecmp(*p, "not null", 8) == 0) {
                fs.items[fs.len - 1].required = 1;
                *p += 8;
                skip_ws(p);
            }
            if (**p == ',') {
                (*p)++;
                continue;
            }
            if (**p == '>') {
                (*p)++;
                break;
            }
            kiln_vec_free(&fs);
            return kiln_err_set(err, KILN_EINVAL, "struct<...> is not closed with '>'");
        }
        kiln_lake_field *arr = kiln_lake__alloc(m, fs.len * sizeof(*arr));
        if (!arr) {
            kiln_vec_free(&fs);
            return KILN_OOM(err);
        }
        if (fs.len)
            memcpy(arr, fs.items, fs.len * sizeof(*arr));
        t->fields = arr;
        t->nfields = fs.len;
        kiln_vec_free(&fs);
    } else {
        char spelled[96];
        if (strcmp(word, "decimal") == 0 || strcmp(word, "fixed") == 0) {
            int dec = word[0] == 'd';
            char open = dec ? '(' : '[', close = dec ? ')' : ']';
            if (**p != open && !(!dec && **p == '('))
                return kiln_err_set(err, KILN_EINVAL, "%s needs %s", word, dec ? "(precision, scale)" : "[length]");
            (*p)++;
            const char *start = *p;
            while (**p && **p != close && **p != ')' && **p != ']')
                (*p)++;
            if (!**p)
                return kiln_err_set(err, KILN_EINVAL, "%s%c... is not closed", word, open);
            int len = (int)(*p - start);
            (*p)++;
            if (dec) {
                int prec = 0, scale = 0;
                if (sscanf(start, "%d , %d", &prec, &scale) != 2)
                    return kiln_err_set(err, KILN_EINVAL, "decimal needs (precision, scale)");
                snprintf(spelled, sizeof(spelled), "decimal(%d, %d)", prec, scale);
            } else {
                snprintf(spelled, sizeof(spelled), "fixed[%.*s]", len, start);
            }
        } else {
            static const struct {
                const char *alias, *name;
            } aliases[] = {{"integer", "int"},  {"bigint", "long"},
                           {"int64", "long"},   {"int32", "int"},
                           {"bool", "boolean"}, {"varchar", "string"},
                           {"text", "string"},  {"real", "float"},
                           {"bytes", "binary"}, {"timestamp_tz", "timestamptz"}};
            const char *name = word;
            for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
                if (strcmp(word, aliases[i].alias) == 0)
                    name = aliases[i].name;
            snprintf(spelled, sizeof(spelled), "%s", name);
        }
        const char *nm = kiln_lake__strdup(m, spelled);
        if (!nm)
            return KILN_OOM(err);
        if ((rc = kiln_lake_type_parse_primitive(t, nm, err)) != 0)
            return rc;
        if (t->kind == KILN_LAKE_UNKNOWN)
            return kiln_err_set(err, KILN_EINVAL,
                                "unknown type \"%s\" (boolean int long float double decimal(P,S) date time "
                                "timestamp timestamptz string uuid fixed[N] binary list<T> map<K,V> struct<a:T>)",
                                word);
    }
    *out = t;
    return 0;
}

/* ------------------------------------------------------------ rendering */

/* Append to buf at *off (capped, always NUL-terminated). */
static void put(char *buf, size_t cap, size_t *off, const char *s)
{
    size_t n = strlen(s);
    if (*off + 1 >= cap)
        return;
    if (n > cap - 1 - *off)
        n = cap - 1 - *off;
    memcpy(buf + *off, s, n);
    *off += n;
    buf[*off] = 0;
}

static void render(const kiln_lake_type *t, char *buf, size_t cap, size_t *off, int depth)
{
    if (depth > 8) {
        put(buf, cap, off, "...");
        return;
    }
    switch (t->kind) {
    case KILN_LAKE_LIST:
        put(buf, cap, off, "list<");
        render(t->element, buf, cap, off, depth + 1);
        put(buf, cap, off, ">");
        break;
    case KILN_LAKE_MAP:
        put(buf, cap, off, "map<");
        render(t->key, buf, cap, off, depth + 1);
        put(buf, cap, off, ", ");
        render(t->value, buf, cap, off, depth + 1);
        put(buf, cap, off, ">");
        break;
    case KILN_LAKE_STRUCT:
        put(buf, cap, off, "struct<");
        for (size_t i = 0; i < t->nfields; i++) {
            if (i)
                put(buf, cap, off, ", ");
            put(buf, cap, off, t->fields[i].name);
            put(buf, cap, off, ": ");
            render(t->fields[i].type, buf, cap, off, depth + 1);
        }
        put(buf, cap, off, ">");
        break;
    default: put(buf, cap, off, t->name ? t->name : "?");
    }
}

const char *kiln_lake_type_str(const kiln_lake_type *t, char *buf, size_t cap)
{
    size_t off = 0;
    if (cap)
        buf[0] = 0;
    if (cap)
        render(t, buf, cap, &off, 0);
    return buf;
}

/* ------------------------------------------------------------ partition text */

int kiln_lake__spec_from_text(kiln_lake_meta *m, const kiln_lake_schema *schema, const char *text, kiln_lake_spec *out,
                              kiln_err *err)
{
    KILN_VEC(kiln_lake_part_field) fs = {0};
    const char *p = text ? text : "";
    int rc = 0;
    skip_ws(&p);
    while (*p) {
        char fn[32] = "identity", col[256], arg[32] = "";
        const char *start = p;
        size_t n = 0;
        while (*p && *p != '(' && *p != ',' && !isspace((unsigned char)*p) && n + 1 < sizeof(col))
            col[n++] = *p++;
        col[n] = 0;
        skip_ws(&p);
        if (*p == '(') {
            snprintf(fn, sizeof(fn), "%s", col);
            p++;
            const char *close = strchr(p, ')');
            if (!close) {
                rc = kiln_err_set(err, KILN_EINVAL, "partition \"%s\": missing ')'", start);
                goto done;
            }
            char inner[300];
            size_t len = (size_t)(close - p);
            if (len >= sizeof(inner)) {
                rc = kiln_err_set(err, KILN_EINVAL, "partition field too long");
                goto done;
            }
            memcpy(inner, p, len);
            inner[len] = 0;
            p = close + 1;
            char *comma = strchr(inner, ',');
            char *c = inner;
            if (comma) {
                *comma = 0;
                /* bucket(16, col) (Spark order) or bucket(col, 16) */
                char *a1 = inner, *a2 = comma + 1;
                while (isspace((unsigned char)*a1))
                    a1++;
                while (isspace((unsigned char)*a2))
                    a2++;
                if (isdigit((unsigned char)*a1)) {
                    snprintf(arg, sizeof(arg), "%.*s", (int)strcspn(a1, " \t"), a1);
                    c = a2;
                } else {
                    snprintf(arg, sizeof(arg), "%.*s", (int)strcspn(a2, " \t"), a2);
                    c = a1;
                }
            }
            while (isspace((unsigned char)*c))
                c++;
            size_t cl = strlen(c);
            while (cl && isspace((unsigned char)c[cl - 1]))
                c[--cl] = 0;
            snprintf(col, sizeof(col), "%s", c);
        }
        for (char *q = fn; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (strcmp(fn, "years") == 0 || strcmp(fn, "months") == 0 || strcmp(fn, "days") == 0 ||
            strcmp(fn, "hours") == 0)
            fn[strlen(fn) - 1] = 0;
        char xf[48];
        if (strcmp(fn, "bucket") == 0 || strcmp(fn, "truncate") == 0) {
            if (!arg[0]) {
                rc = kiln_err_set(err, KILN_EINVAL, "partition %s(...) needs a width: %s(16, col)", fn, fn);
                goto done;
            }
            snprintf(xf, sizeof(xf), "%s[%s]", fn, arg);
        } else {
            snprintf(xf, sizeof(xf), "%s", fn);
        }
        const kiln_lake_field *src = kiln_lake__schema_path(schema, col);
        if (!src) {
            /* a path through a list or map: name it, as the spec forbids it */
            char head[256];
            const kiln_lake_field *up = NULL;
            for (const char *d = strchr(col, '.'); d && !up; d = strchr(d + 1, '.')) {
                snprintf(head, sizeof head, "%.*s", (int)(d - col), col);
                const kiln_lake_field *h = kiln_lake__schema_path(schema, head);
                if (h && (h->type->kind == KILN_LAKE_LIST || h->type->kind == KILN_LAKE_MAP))
                    up = h;
            }
            if (up)
                rc = kiln_err_set(err, KILN_EINVAL,
                                  "partition: \"%s\" is inside %s (a %s): Iceberg allows a partition source nested "
                                  "in structs only, never inside a list or a map",
                                  col, head, up->type->kind == KILN_LAKE_LIST ? "list" : "map");
            else
                rc = kiln_err_set(err, KILN_ENOTFOUND, "partition: no column \"%s\" in the schema", col);
            goto done;
        }
        if ((rc = kiln_lake__partition_source_check(schema, src->id, col, err)))
            goto done;
        kiln_lake_part_field pf = {.source_id = src->id};
        const char *xtext = kiln_lake__strdup(m, xf);
        if (!xtext) {
            rc = KILN_OOM(err);
            goto done;
        }
        if ((rc = kiln_lake_transform_parse(&pf.transform, xtext, err)) != 0)
            goto done;
        if (pf.transform.kind == KILN_LAKE_XF_UNKNOWN) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "partition: unknown transform \"%s\" (identity, year, month, day, hour, bucket(N, c), "
                              "truncate(W, c), void)",
                              fn);
            goto done;
        }
        kiln_lake_type rt;
        if ((rc = kiln_lake_transform_result(&rt, &pf.transform, src->type, err)) != 0)
            goto done;
        static const struct {
            kiln_lake_transform_kind k;
            const char *suffix;
        } suffixes[] = {{KILN_LAKE_XF_IDENTITY, ""},       {KILN_LAKE_XF_BUCKET, "_bucket"},
                        {KILN_LAKE_XF_TRUNCATE, "_trunc"}, {KILN_LAKE_XF_YEAR, "_year"},
                        {KILN_LAKE_XF_MONTH, "_month"},    {KILN_LAKE_XF_DAY, "_day"},
                        {KILN_LAKE_XF_HOUR, "_hour"},      {KILN_LAKE_XF_VOID, "_null"}};
        const char *suffix = "";
        for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
            if (suffixes[i].k == pf.transform.kind)
                suffix = suffixes[i].suffix;
        char *fname = kiln_sprintf("%s%s", col, suffix); /* Java: the source's full (dotted) name */
        pf.name = kiln_lake__strdup(m, fname);
        kiln_free(fname);
        if (!pf.name) {
            rc = KILN_OOM(err);
            goto done;
        }
        for (size_t i = 0; i < fs.len; i++)
            if (strcmp(fs.items[i].name, pf.name) == 0) {
                rc = kiln_err_set(err, KILN_EINVAL, "partition: field \"%s\" given twice", pf.name);
                goto done;
            }
        /* reuse the id of an equal field in an existing spec */
        pf.field_id = -1;
        for (size_t s = 0; s < m->nspecs && pf.field_id < 0; s++)
            for (size_t f = 0; f < m->specs[s].nfields; f++) {
                const kiln_lake_part_field *o = &m->specs[s].fields[f];
                if (o->source_id == pf.source_id && strcmp(o->transform.text, pf.transform.text) == 0) {
                    pf.field_id = o->field_id;
                    break;
                }
            }
        if (pf.field_id < 0)
            pf.field_id = ++m->last_partition_id;
        if ((rc = kiln_vec_push(&fs, pf, err)) != 0)
            goto done;
        skip_ws(&p);
        if (*p == ',') {
            p++;
            skip_ws(&p);
        } else if (*p) {
            rc = kiln_err_set(err, KILN_EINVAL, "partition: unexpected \"%s\" (separate fields with ',')", p);
            goto done;
        }
    }
    kiln_lake_part_field *arr = kiln_lake__alloc(m, fs.len * sizeof(*arr));
    if (!arr) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (fs.len)
        memcpy(arr, fs.items, fs.len * sizeof(*arr));
    out->fields = arr;
    out->nfields = fs.len;
done:
    kiln_vec_free(&fs);
    return rc;
}
