/*
 * ndjson.c - NDJSON rows into column batches (see ndjson.h). Each line is
 * parsed with jansson and its values placed by column name; the types a
 * column accepts are the JSON spellings kiln's own outputs use (scan
 * --format ndjson reads back in).
 */
#include "format/text/ndjson.h"
#include "format/json/json_scan.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static int put_value(kiln_batch *b, int c, json_t *v, kiln_err *err)
{
    const kiln_column_def *cd = &b->schema->cols[c];
    if (!v || json_is_null(v))
        return kiln_batch_put_null(b, c, err);
    switch (cd->type) {
    case KILN_T_BOOL:
        if (!json_is_boolean(v))
            break;
        return kiln_batch_put_bool(b, c, json_is_true(v), err);
    case KILN_T_INT32:
    case KILN_T_INT64:
        if (!json_is_integer(v))
            break;
        return cd->type == KILN_T_INT32 ? kiln_batch_put_i32(b, c, (int32_t)json_integer_value(v), err)
                                        : kiln_batch_put_i64(b, c, json_integer_value(v), err);
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE:
        if (!json_is_number(v))
            break;
        return cd->type == KILN_T_FLOAT ? kiln_batch_put_f32(b, c, (float)json_number_value(v), err)
                                        : kiln_batch_put_f64(b, c, json_number_value(v), err);
    case KILN_T_STRING:
    case KILN_T_BINARY:
        if (!json_is_string(v))
            break;
        return kiln_batch_put_str(b, c, json_string_value(v), json_string_length(v), err);
    case KILN_T_DATE: {
        int64_t d;
        if (!json_is_string(v) || kiln_date_parse(json_string_value(v), json_string_length(v), &d))
            break;
        return kiln_batch_put_i32(b, c, (int32_t)d, err);
    }
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        int64_t us;
        if (json_is_integer(v))
            return kiln_batch_put_i64(b, c, json_integer_value(v), err);
        if (!json_is_string(v) || kiln_ts_parse(json_string_value(v), json_string_length(v), &us))
            break;
        return kiln_batch_put_i64(b, c, us, err);
    }
    case KILN_T_DECIMAL: {
        double d;
        if (json_is_integer(v))
            d = (double)json_integer_value(v);
        else if (json_is_real(v))
            d = json_real_value(v);
        else
            break;
        for (int k = 0; k < cd->scale; k++)
            d *= 10;
        return kiln_batch_put_i64(b, c, (int64_t)(d < 0 ? d - 0.5 : d + 0.5), err);
    }
    case KILN_T_TIME:
        if (json_is_integer(v))
            return kiln_batch_put_i64(b, c, json_integer_value(v), err);
        break;
    case KILN_T_UUID: {
        uint8_t u[16];
        if (!json_is_string(v) || kiln_uuid_parse(json_string_value(v), json_string_length(v), u))
            break;
        return kiln_batch_put_str(b, c, (const char *)u, 16, err);
    }
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON: break; /* put_raw */
    }
    return kiln_err_set(err, KILN_EFORMAT, "column %s: value of the wrong JSON type for %s", cd->name,
                        kiln_type_name(cd->type));
}

/* A nested (struct/list/map) column: the value's JSON text exactly as the
 * line has it (numbers keep every digit: decimals stay exact), checked
 * against the column's shape by the writer. A decimal(P>18) column: the
 * number's text as written (or a string's content), checked by the writer. */
static int put_raw(kiln_batch *b, int c, json_t *v, const char *line, size_t n, kiln_err *err)
{
    const kiln_column_def *cd = &b->schema->cols[c];
    if (!v || json_is_null(v))
        return kiln_batch_put_null(b, c, err);
    if (cd->type == KILN_T_DECIMAL_WIDE) {
        if (json_is_string(v))
            return kiln_batch_put_str(b, c, json_string_value(v), json_string_length(v), err);
        if (!json_is_number(v))
            return kiln_err_set(err, KILN_EFORMAT, "column %s: a decimal value must be a JSON number or string",
                                cd->name);
    } else if (!json_is_object(v) && !json_is_array(v)) {
        return kiln_err_set(err, KILN_EFORMAT, "column %s: a struct, list or map value must be a JSON object or array",
                            cd->name);
    }
    const char *why = NULL, *end = line + n;
    const char *p = kiln_json_obj_begin(kiln_json_ws(line, end), end, &why);
    size_t want = strlen(cd->name);
    int done = 0;
    while (p && !done) {
        const char *key;
        size_t keylen;
        const char *val = kiln_json_obj_key(p, end, &key, &keylen, &done, &why);
        if (!val || done)
            break;
        const char *ve = kiln_json_skip_value(val, end, &why);
        if (!ve)
            break;
        if (keylen == want && !memcmp(key, cd->name, want))
            return kiln_batch_put_str(b, c, val, (size_t)(ve - val), err);
        p = kiln_json_obj_next(ve, end, &done, &why);
    }
    if (cd->type == KILN_T_DECIMAL_WIDE) /* never through a double */
        return kiln_err_set(err, KILN_EFORMAT, "column %s: write the key without escapes", cd->name);
    /* a key spelled with escapes: jansson's text of the value */
    char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!txt)
        return KILN_OOM(err);
    int rc = kiln_batch_put_str(b, c, txt, strlen(txt), err);
    free(txt);
    return rc;
}

/* 0, or an error naming the first key of o that is not a column. */
static int check_keys(json_t *o, const kiln_schema *sc, kiln_err *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        if (kiln_schema_find(sc, key) < 0)
            return kiln_err_set(err, KILN_EFORMAT, "key \"%s\" is not a column (--ignore-unknown-keys to skip it)",
                                key);
    }
    return 0;
}

int kiln_ndjson_read(FILE *f, const char *name, const kiln_schema *sc, const kiln_ndjson_read_opts *opts,
                     kiln_ndjson_batch_fn fn, void *ctx, kiln_err *err)
{
    kiln_batch *b = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t lineno = 0;
    size_t rows = opts && opts->batch_rows ? opts->batch_rows : 4096;
    int ignore_unknown = opts && opts->ignore_unknown_keys;
    int rc = kiln_batch_new(&b, sc, rows, 0, err);
    json_t **absent = NULL;
    if (!rc && opts && opts->absent_json) {
        if (!(absent = calloc((size_t)(sc->ncols ? sc->ncols : 1), sizeof *absent)))
            rc = KILN_OOM(err);
        for (int c = 0; !rc && c < sc->ncols; c++)
            if (opts->absent_json[c] && !(absent[c] = json_loads(opts->absent_json[c], JSON_DECODE_ANY, NULL)))
                rc = kiln_err_set(err, KILN_EINVAL, "column %s: default %s is not JSON", sc->cols[c].name,
                                  opts->absent_json[c]);
    }
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if ((size_t)n > KILN_NDJSON_MAX_LINE) {
            rc = kiln_err_set_at(err, KILN_ELIMIT, lineno, "%s:%llu: line longer than %u bytes", name,
                                 (unsigned long long)lineno, KILN_NDJSON_MAX_LINE);
            break;
        }
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (!n)
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            rc = kiln_err_set_at(err, KILN_EFORMAT, lineno, "%s:%llu: not a JSON object", name,
                                 (unsigned long long)lineno);
            break;
        }
        if (!ignore_unknown)
            rc = check_keys(o, sc, err);
        for (int c = 0; !rc && c < sc->ncols; c++) {
            json_t *v = json_object_get(o, sc->cols[c].name);
            if (!v && absent && absent[c]) /* the key is absent: the column's default */
                rc = sc->cols[c].type == KILN_T_DECIMAL_WIDE && json_is_string(absent[c])
                         ? kiln_batch_put_str(b, c, json_string_value(absent[c]), json_string_length(absent[c]), err)
                     : sc->cols[c].type == KILN_T_JSON || sc->cols[c].type == KILN_T_DECIMAL_WIDE
                         ? kiln_err_set(err, KILN_EUNSUPP, "column %s: a default of this type is not applied",
                                        sc->cols[c].name)
                         : put_value(b, c, absent[c], err);
            else
                rc = sc->cols[c].type == KILN_T_JSON || sc->cols[c].type == KILN_T_DECIMAL_WIDE
                         ? put_raw(b, c, v, line, (size_t)n, err)
                         : put_value(b, c, v, err);
        }
        json_decref(o);
        if (!rc)
            rc = kiln_batch_end_row(b, err);
        if (rc) {
            err->offset = lineno;
            kiln_err_prefix(err, "%s:%llu: ", name, (unsigned long long)lineno);
            break;
        }
        if (kiln_batch_full(b)) {
            rc = fn(ctx, b, err);
            kiln_batch_clear(b);
        }
    }
    if (!rc && ferror(f))
        rc = kiln_err_set(err, KILN_EIO, "%s: read error", name);
    if (!rc && b->nrows)
        rc = fn(ctx, b, err);
    free(line);
    for (int c = 0; absent && c < sc->ncols; c++)
        json_decref(absent[c]);
    free(absent);
    kiln_batch_free(b);
    return rc;
}
