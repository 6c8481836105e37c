/*
 * iceberg_scan.c - scan planning and reading for Iceberg v2 tables.
 *
 * DESIGN
 *   view      kiln_lake_view_from_meta turns lake.h's metadata + a chosen
 *             snapshot into what planning needs: the current schema as a
 *             kiln_schema, every partition spec with kiln types resolved,
 *             the manifest list path and the snapshot's sequence number.
 *   predicate an AND of simple terms (=, !=, <, <=, >, >=, between, is
 *             [not] null) on top-level columns. It prunes at three levels:
 *             manifest partition summaries (507), each entry's partition
 *             tuple (projected through the transform: identity exactly,
 *             year/month/day/hour/truncate as monotonic ranges, bucket for
 *             = only) and each entry's column bounds/null counts. The same
 *             terms filter rows after reading.
 *   plan      read the manifest list, drop manifests the summaries rule
 *             out, read entries, skip DELETED ones; data entries become
 *             tasks; each delete entry is attached to the data tasks it
 *             applies to by the spec's rule: position deletes to data files
 *             with data sequence number <= the delete's, equality deletes
 *             to those strictly <; both only within the same spec and
 *             partition, except that equality deletes written with an
 *             unpartitioned spec apply to every partition.
 *   read      for each task: Parquet reader projected by field id (by name
 *             when the file carries no field ids); columns the file lacks
 *             are filled from the identity partition value when there is
 *             one (partition_integer fixture), else null. Position deletes
 *             become a set of row positions of that file; equality deletes
 *             a hash set of key tuples per delete file. Surviving rows that
 *             match the predicate are copied into the output batch.
 *   row groups  in scans, each one-column term is mapped to the data file's
 *             column (as the data is read: by field id) and handed to the
 *             Parquet reader as its row-group filter (one term at a time,
 *             chosen at each row-group boundary: choose_filter), so whole
 *             row groups the statistics rule out are never decoded. The
 *             scan follows the reader through the row groups to keep file
 *             positions exact for position deletes and counts row groups
 *             total/skipped into the plan stats. Delete files and
 *             kiln_lake_task_read (copy-on-write rewrites) read everything.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "format/json/json_scan.h"
#include "format/parquet/parquet.h"
#include "lake/lake.h"
#include "lake/lake_data_int.h"
#include "lake/lake_io.h"

/* ================================================================ view */

const kiln_lake_pspec *kiln_lake_view_spec(const kiln_lake_view *v, int spec_id)
{
    for (int i = 0; i < v->nspecs; i++)
        if (v->specs[i].spec_id == spec_id)
            return &v->specs[i];
    return NULL;
}

/* The writers' form of a nested Iceberg type: kinds, names, field ids and
 * nullability of every node (lists' element-id, maps' key-id/value-id). */
/* Field f's default `key` ("initial-default", "write-default") as kiln's
 * nested JSON text (a decimal's Iceberg text as a JSON number) appended to
 * o; "null" when it has none. */
static int nested_default(kiln_buf *o, const kiln_lake_field *f, const char *key, kiln_err *err)
{
    if (!f->extra_json || !strstr(f->extra_json, key))
        return kiln_buf_append(o, "null", 4, err);
    json_t *x = json_loads(f->extra_json, JSON_DECODE_ANY, NULL);
    json_t *d = x ? json_object_get(x, key) : NULL;
    int rc = 0;
    if (!d || json_is_null(d))
        rc = kiln_buf_append(o, "null", 4, err);
    else if (f->type->kind == KILN_LAKE_DECIMAL && json_is_string(d)) {
        const char *v = json_string_value(d);
        size_t n = strspn(v, "-0123456789.");
        rc = n && n == strlen(v)
                 ? kiln_buf_append(o, v, n, err)
                 : kiln_err_set(err, KILN_EFORMAT, "field %s: %s \"%s\" is not a %s", f->name, key, v, f->type->name);
    } else {
        char *t = json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = t ? kiln_buf_append(o, t, strlen(t), err) : KILN_OOM(err);
        free(t);
    }
    json_decref(x);
    return rc;
}

static int nested_shape(kiln_arena *a, const kiln_lake_type *t, kiln_nested *out, int depth, kiln_err *err)
{
    if (depth > 64)
        return kiln_err_set(err, KILN_ELIMIT, "type nested deeper than %d", 64);
    switch (t->kind) {
    case KILN_LAKE_STRUCT: out->kind = KILN_NEST_STRUCT; break;
    case KILN_LAKE_LIST: out->kind = KILN_NEST_LIST; break;
    case KILN_LAKE_MAP: out->kind = KILN_NEST_MAP; break;
    default:
        out->kind = KILN_NEST_PRIM;
        out->precision = t->precision;
        out->scale = t->scale;
        if (t->kind == KILN_LAKE_TIMESTAMP_NS || t->kind == KILN_LAKE_TIMESTAMPTZ_NS) {
            /* written as INT64 TIMESTAMP(NANOS) from the value's exact text */
            out->type = KILN_T_INT64;
            out->scale = t->kind == KILN_LAKE_TIMESTAMPTZ_NS ? KILN_PARQUET_TSTZ_NANOS : KILN_PARQUET_TS_NANOS;
            return 0;
        }
        return kiln_lake_kind_to_type(t, &out->type, err);
    }
    out->type = KILN_T_JSON;
    int n = t->kind == KILN_LAKE_STRUCT ? (int)t->nfields : t->kind == KILN_LAKE_LIST ? 1 : 2;
    kiln_nested *kids = kiln_arena_alloc(a, sizeof(kiln_nested) * (size_t)(n ? n : 1));
    if (!kids)
        return KILN_OOM(err);
    memset(kids, 0, sizeof(kiln_nested) * (size_t)(n ? n : 1));
    out->nkids = n;
    out->kids = kids;
    int rc = 0;
    if (t->kind == KILN_LAKE_STRUCT) {
        for (int i = 0; !rc && i < n; i++) {
            const kiln_lake_field *f = &t->fields[i];
            kids[i].name = f->name;
            kids[i].field_id = f->id;
            kids[i].required = f->required;
            if ((rc = nested_shape(a, f->type, &kids[i], depth + 1, err)))
                return kiln_err_prefix(err, "%s: ", f->name);
            if (f->extra_json && strstr(f->extra_json, "write-default")) {
                kiln_buf b;
                kiln_buf_init(&b, 0);
                int has = 0;
                if ((rc = nested_default(&b, f, "write-default", err)) == 0 &&
                    (has = !(b.len == 4 && memcmp(b.data, "null", 4) == 0)))
                    kids[i].wdef = kiln_arena_strndup(a, b.data, b.len);
                kiln_buf_free(&b);
                if (rc)
                    return rc;
                if (has && !kids[i].wdef)
                    return KILN_OOM(err);
            }
        }
    } else if (t->kind == KILN_LAKE_LIST) {
        kids[0].name = "element";
        kids[0].field_id = t->element_id;
        kids[0].required = t->element_required;
        rc = nested_shape(a, t->element, &kids[0], depth + 1, err);
    } else {
        kids[0].name = "key";
        kids[0].field_id = t->key_id;
        kids[0].required = 1;
        kids[1].name = "value";
        kids[1].field_id = t->value_id;
        kids[1].required = t->value_required;
        if (!(rc = nested_shape(a, t->key, &kids[0], depth + 1, err)))
            rc = nested_shape(a, t->value, &kids[1], depth + 1, err);
    }
    return rc;
}

/* A nested type's shape with its field ids, names and types (to tell
 * whether a column's type changed between two schemas). */
static int type_sig(kiln_buf *b, const kiln_lake_type *t, kiln_err *err)
{
    int rc = 0;
    if (!t)
        return kiln_buf_putc(b, '?', err);
    switch (t->kind) {
    case KILN_LAKE_STRUCT:
        rc = kiln_buf_putc(b, '{', err);
        for (size_t i = 0; !rc && i < t->nfields; i++) {
            rc = kiln_buf_printf(b, err, "%d:%s:%d:", t->fields[i].id, t->fields[i].name, t->fields[i].required);
            if (!rc)
                rc = type_sig(b, t->fields[i].type, err);
            if (!rc)
                rc = kiln_buf_putc(b, ',', err);
        }
        return rc ? rc : kiln_buf_putc(b, '}', err);
    case KILN_LAKE_LIST:
        rc = kiln_buf_printf(b, err, "[%d:", t->element_id);
        if (!rc)
            rc = type_sig(b, t->element, err);
        return rc ? rc : kiln_buf_putc(b, ']', err);
    case KILN_LAKE_MAP:
        rc = kiln_buf_printf(b, err, "<%d:%d:", t->key_id, t->value_id);
        if (!rc)
            rc = type_sig(b, t->key, err);
        if (!rc)
            rc = type_sig(b, t->value, err);
        return rc ? rc : kiln_buf_putc(b, '>', err);
    default: return kiln_buf_printf(b, err, "%s", t->name ? t->name : "?");
    }
}

/* Did field f's (nested) type differ in any other schema of m? */
static int field_evolved(const kiln_lake_meta *m, const kiln_lake_field *f, kiln_err *err, int *out)
{
    kiln_buf a, b;
    kiln_buf_init(&a, 0);
    kiln_buf_init(&b, 0);
    *out = 0;
    int rc = type_sig(&a, f->type, err);
    for (size_t s = 0; !rc && !*out && s < m->nschemas; s++) {
        const kiln_lake_field *o = kiln_lake_schema_field(&m->schemas[s], f->id);
        if (!o || o == f)
            continue;
        kiln_buf_reset(&b);
        if (!(rc = type_sig(&b, o->type, err)))
            *out = a.len != b.len || memcmp(a.data, b.data, a.len) != 0;
    }
    kiln_buf_free(&a);
    kiln_buf_free(&b);
    return rc;
}

int kiln_lake_view_from_meta(kiln_lake_view *out, kiln_arena *a, const kiln_lake_meta *m, int64_t snapshot_id,
                             const kiln_lake_remap *remap, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    out->location = m->location;
    if (remap && remap->from)
        out->remap = *remap;
    else if (m->remap_from) { /* a registered table's remap, from the catalog */
        out->remap.from = m->remap_from;
        out->remap.to = m->remap_to;
    }
    const kiln_lake_schema *ls = kiln_lake_meta_current_schema(m);
    /* a snapshot whose schema is newer than the table's current one (a
     * schema staged on a branch by `kiln plan --apply`, made current by
     * `kiln promote`) is read with its own schema; every other snapshot
     * with the current one (Iceberg's rule for branches) */
    const kiln_lake_snapshot *vs = snapshot_id >= 0 ? kiln_lake_meta_snapshot(m, snapshot_id) : NULL;
    if (ls && vs && vs->schema_id > ls->schema_id && kiln_lake_meta_schema(m, vs->schema_id))
        ls = kiln_lake_meta_schema(m, vs->schema_id);
    if (!ls)
        return kiln_err_set(err, KILN_EFORMAT, "table metadata has no current schema");
    kiln_schema *sc = kiln_arena_alloc(a, sizeof *sc);
    kiln_column_def *cols = kiln_arena_alloc(a, (ls->nfields ? ls->nfields : 1) * sizeof *cols);
    if (!sc || !cols)
        return KILN_OOM(err);
    int nc = 0;
    uint8_t *hid = kiln_arena_alloc(a, ls->nfields ? ls->nfields : 1);
    if (!hid)
        return KILN_OOM(err);
    memset(hid, 0, ls->nfields ? ls->nfields : 1);
    out->has_initial_default = hid;
    uint8_t *evo = kiln_arena_alloc(a, ls->nfields ? ls->nfields : 1);
    if (!evo)
        return KILN_OOM(err);
    memset(evo, 0, ls->nfields ? ls->nfields : 1);
    out->evolved = evo;
    const kiln_nested **nested = kiln_arena_alloc(a, (ls->nfields ? ls->nfields : 1) * sizeof *nested);
    if (!nested)
        return KILN_OOM(err);
    memset(nested, 0, (ls->nfields ? ls->nfields : 1) * sizeof *nested);
    out->lschema = ls;
    for (size_t i = 0; i < ls->nfields; i++) {
        const kiln_lake_field *f = &ls->fields[i];
        if (f->extra_json && strstr(f->extra_json, "initial-default")) {
            json_t *x = json_loads(f->extra_json, 0, NULL);
            json_t *d = x ? json_object_get(x, "initial-default") : NULL;
            hid[i] = d && !json_is_null(d);
            json_decref(x);
        }
        kiln_type t;
        /* never drop a column the schema has: a type the data path cannot
         * deliver is an error naming the column */
        if (kiln_lake_kind_to_type(f->type, &t, err))
            return kiln_err_prefix(err, "column %s (field id %d): ", f->name, f->id);
        kiln_column_def *c = &cols[nc++];
        memset(c, 0, sizeof *c);
        c->name = f->name;
        c->type = t;
        c->required = f->required;
        c->field_id = f->id;
        c->precision = f->type->precision;
        c->scale = f->type->scale;
        if (f->type->kind == KILN_LAKE_TIMESTAMP_NS || f->type->kind == KILN_LAKE_TIMESTAMPTZ_NS)
            c->scale = KILN_LAKE_NS_TEXT_SCALE; /* marks the text column for kiln_lake_pred_parse */
        if (t == KILN_T_JSON) {
            kiln_nested *shape = kiln_arena_alloc(a, sizeof *shape);
            if (!shape)
                return KILN_OOM(err);
            memset(shape, 0, sizeof *shape);
            shape->name = f->name;
            shape->field_id = f->id;
            shape->required = f->required;
            if (nested_shape(a, f->type, shape, 0, err))
                return kiln_err_prefix(err, "column %s (field id %d): ", f->name, f->id);
            nested[nc - 1] = shape;
            int ev = 0;
            if (m->nschemas > 1 && field_evolved(m, f, err, &ev))
                return err->code;
            evo[nc - 1] = (uint8_t)ev;
        }
    }
    out->nested = (const kiln_nested *const *)nested;
    sc->ncols = nc;
    sc->cols = cols;
    out->schema = sc;
    kiln_lake_pspec *specs = kiln_arena_alloc(a, (m->nspecs ? m->nspecs : 1) * sizeof *specs);
    if (!specs)
        return KILN_OOM(err);
    for (size_t i = 0; i < m->nspecs; i++) {
        const kiln_lake_spec *ms = &m->specs[i];
        kiln_lake_pspec *ps = &specs[i];
        ps->spec_id = ms->spec_id;
        ps->nfields = (int)ms->nfields;
        ps->fields = kiln_arena_alloc(a, (ms->nfields ? ms->nfields : 1) * sizeof *ps->fields);
        if (!ps->fields)
            return KILN_OOM(err);
        for (size_t k = 0; k < ms->nfields; k++) {
            const kiln_lake_part_field *mf = &ms->fields[k];
            kiln_lake_pfield *pf = &ps->fields[k];
            memset(pf, 0, sizeof *pf);
            pf->field_id = mf->field_id;
            pf->source_id = mf->source_id;
            pf->name = mf->name;
            pf->xform = mf->transform.kind;
            pf->param = mf->transform.param;
            pf->source_type = KILN_T_INT64;
            const kiln_lake_field *src = kiln_lake_schema_field(ls, mf->source_id);
            kiln_err tmp = {0};
            if (!src || kiln_lake_kind_to_type(src->type, &pf->source_type, &tmp) ||
                src->type->kind == KILN_LAKE_TIMESTAMP_NS || src->type->kind == KILN_LAKE_TIMESTAMPTZ_NS)
                pf->xform = KILN_LAKE_XF_UNKNOWN; /* cannot compute: no pruning on it */
            if (pf->xform == KILN_LAKE_XF_UNKNOWN && src && src->type->kind == KILN_LAKE_UNKNOWN)
                pf->source_type = KILN_T_BINARY;
            pf->result_type = kiln_lake_xform_result(pf->xform, pf->source_type);
        }
    }
    out->nspecs = (int)m->nspecs;
    out->specs = specs;
    out->default_spec_id = m->default_spec_id;
    out->snapshot_id = -1;
    if (snapshot_id >= 0) {
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, snapshot_id);
        if (!s)
            return kiln_err_set(err, KILN_ENOTFOUND, "snapshot %lld is not in the table metadata",
                                (long long)snapshot_id);
        out->snapshot_id = snapshot_id;
        out->seq = s->sequence_number;
        out->manifest_list = s->manifest_list;
    }
    return 0;
}

/* ================================================================ data files */

/* Open a Parquet reader on a stored location: a local file is opened and
 * mapped, an S3 object read by ranged GETs (lake_io.h). size: the
 * manifest's file_size_in_bytes, or -1. */
static int data_open(kiln_parquet_reader **r, const char *loc, int64_t size, const kiln_parquet_read_opts *ro,
                     kiln_err *err)
{
    return kiln_lake__io_parquet_open(r, loc, size, ro, err);
}

/* ================================================================ predicates */

static int col_by_id(const kiln_schema *s, int id)
{
    for (int i = 0; i < s->ncols; i++)
        if (s->cols[i].field_id == id)
            return i;
    return -1;
}

/* The initial-default of schema column sc (Iceberg's JSON single-value
 * form: booleans and numbers as JSON, decimals, dates, times, timestamps and
 * uuids as strings, binary and fixed as hex) as a value of column c's type.
 * A nested default is KILN_EUNSUPP naming the column. */
const char *kiln_lake__field_default_json(const kiln_lake_field *f, const char *key, kiln_arena *a)
{
    json_t *x = f->extra_json ? json_loads(f->extra_json, JSON_DECODE_ANY, NULL) : NULL;
    json_t *d = x ? json_object_get(x, key) : NULL;
    char *s = d && !json_is_null(d) ? json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    const char *out = s ? kiln_arena_strndup(a, s, strlen(s)) : NULL;
    free(s);
    json_decref(x);
    return out;
}

int kiln_lake__field_default(const kiln_lake_view *view, int sc, const kiln_column_def *c, const char *key,
                             kiln_arena *a, kiln_lake_value *out, kiln_err *err)
{
    const kiln_lake_field *f = &view->lschema->fields[sc];
    json_t *x = f->extra_json ? json_loads(f->extra_json, JSON_DECODE_ANY, NULL) : NULL;
    json_t *d = x ? json_object_get(x, key) : NULL;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (json_is_null(d)) { /* an explicit null default */
        out->is_null = 1;
        json_decref(x);
        return 0;
    }
    out->kind = f->type->kind;
    rc = kiln_lake__json_value(d, c, f->type->name, key, a, out, err);
    json_decref(x);
    return rc;
}

int kiln_lake__json_value(const json_t *d, const kiln_column_def *c, const char *tname, const char *key, kiln_arena *a,
                          kiln_lake_value *out, kiln_err *err)
{
    int rc = 0;
    const char *s = d && json_is_string(d) ? json_string_value(d) : NULL;
    size_t n = s ? json_string_length(d) : 0;
    int bad = 0;
    switch (c->type) {
    case KILN_T_BOOL:
        bad = !json_is_boolean(d);
        out->i = json_is_true(d);
        break;
    case KILN_T_INT32:
    case KILN_T_INT64:
        bad = !json_is_integer(d) ||
              (c->type == KILN_T_INT32 && (json_integer_value(d) < INT32_MIN || json_integer_value(d) > INT32_MAX));
        out->i = json_is_integer(d) ? json_integer_value(d) : 0;
        break;
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE:
        bad = !json_is_number(d);
        out->d = json_is_number(d) ? json_number_value(d) : 0;
        break;
    case KILN_T_DECIMAL: {
        int exact = 0;
        char num[64];
        if (!s && json_is_integer(d)) { /* a nested value's decimal is a JSON number */
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(d));
            s = num;
            n = strlen(num);
        } else if (!s && json_is_real(d) && c->precision <= 15) { /* a double holds 15 digits exactly */
            snprintf(num, sizeof num, "%.*f", c->scale, json_real_value(d));
            s = num;
            n = strlen(num);
        }
        bad = !s || kiln_decimal_parse(&out->i, &exact, s, n, c->scale) || !exact;
        break;
    }
    case KILN_T_DATE: bad = !s || kiln_date_parse(s, n, &out->i); break;
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        bad = !s || n > 60;
        if (!bad && kiln_ts_parse(s, n, &out->i)) {
            char tmp[64];
            memcpy(tmp, s, n);
            tmp[n] = 'Z';
            bad = kiln_ts_parse(tmp, n + 1, &out->i) != 0;
        }
        break;
    }
    case KILN_T_TIME: {
        unsigned hh, mm, ss;
        int used = 0;
        bad = !s || sscanf(s, "%2u:%2u:%2u%n", &hh, &mm, &ss, &used) != 3 || hh > 23 || mm > 59 || ss > 59;
        if (!bad) {
            out->i = ((int64_t)hh * 3600 + mm * 60 + ss) * 1000000;
            if (s[used] == '.') {
                int64_t mul = 100000;
                for (const char *q = s + used + 1; *q >= '0' && *q <= '9' && mul; q++, mul /= 10)
                    out->i += (*q - '0') * mul;
            }
        }
        break;
    }
    case KILN_T_STRING:
    case KILN_T_DECIMAL_WIDE:
        bad = !s;
        if (!bad) {
            char *copy = kiln_arena_strndup(a, s, n);
            if (!copy) {
                rc = KILN_OOM(err);
                break;
            }
            out->bytes = (const uint8_t *)copy;
            out->len = n;
        }
        break;
    case KILN_T_UUID: {
        uint8_t *u = kiln_arena_alloc(a, 16);
        if (!u) {
            rc = KILN_OOM(err);
            break;
        }
        bad = !s || kiln_uuid_parse(s, n, u);
        out->bytes = u;
        out->len = 16;
        break;
    }
    case KILN_T_BINARY: {
        bad = !s || n % 2;
        uint8_t *b = bad ? NULL : kiln_arena_alloc(a, n / 2 + 1);
        if (!bad && !b) {
            rc = KILN_OOM(err);
            break;
        }
        for (size_t k = 0; !bad && k < n; k += 2) {
            unsigned v;
            if (sscanf(s + k, "%2x", &v) != 1)
                bad = 1;
            else
                b[k / 2] = (uint8_t)v;
        }
        out->bytes = b;
        out->len = n / 2;
        break;
    }
    default:
        rc = kiln_err_set(err, KILN_EUNSUPP, "the %s of a %s column is not applied by kiln yet", key,
                          tname ? tname : kiln_type_name(c->type));
        break;
    }
    if (!rc && bad) {
        char *txt = d ? json_dumps(d, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        rc = kiln_err_set(err, KILN_EFORMAT, "%s %s is not a %s value", key, txt ? txt : "(missing)",
                          tname ? tname : kiln_type_name(c->type));
        free(txt);
    }
    return rc;
}

/* The text is parsed by the one filter parser (format/pred.h); a term
 * becomes a lake term on the column's field id. */
static void pred_value_to_lake(kiln_lake_value *out, const kiln_pred_value *v)
{
    memset(out, 0, sizeof *out);
    out->i = v->i;
    out->d = v->d;
    out->bytes = (const uint8_t *)v->s;
    out->len = v->n;
}

int kiln_lake_pred_parse(kiln_lake_pred *out, kiln_arena *a, const kiln_schema *schema, const char *text, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    kiln_pred_term *pt = NULL;
    int n = 0, rc;
    if ((rc = kiln_pred_parse(&pt, &n, a, schema, text, err)))
        return rc;
    out->terms = kiln_arena_alloc(a, (size_t)(n ? n : 1) * sizeof *out->terms);
    if (!out->terms)
        return KILN_OOM(err);
    for (int i = 0; i < n; i++) {
        kiln_lake_term *t = &out->terms[i];
        const kiln_column_def *c = &schema->cols[pt[i].col];
        memset(t, 0, sizeof *t);
        t->field_id = c->field_id;
        t->type = c->type;
        t->no_bounds = c->type == KILN_T_STRING && c->scale == KILN_LAKE_NS_TEXT_SCALE;
        t->op = (kiln_lake_op)pt[i].op;
        pred_value_to_lake(&t->v, &pt[i].v);
        pred_value_to_lake(&t->hi, &pt[i].hi);
    }
    out->nterms = n;
    return 0;
}

/* May a value range [lo, hi] (either NULL = unbounded) contain a value
 * satisfying term (value side already projected)? strict: keep < and >
 * strict (identity); otherwise inclusive. */
static int range_may(kiln_type t, kiln_lake_op op, const kiln_lake_value *v, const kiln_lake_value *vhi,
                     const kiln_lake_value *lo, const kiln_lake_value *hi, int strict)
{
    switch (op) {
    case KILN_LAKE_OP_EQ:
        if (lo && kiln_lake_value_cmp(t, v, lo) < 0)
            return 0;
        if (hi && kiln_lake_value_cmp(t, v, hi) > 0)
            return 0;
        return 1;
    case KILN_LAKE_OP_LT:
        if (lo && kiln_lake_value_cmp(t, lo, v) >= (strict ? 0 : 1))
            return 0;
        return 1;
    case KILN_LAKE_OP_LE:
        if (lo && kiln_lake_value_cmp(t, lo, v) > 0)
            return 0;
        return 1;
    case KILN_LAKE_OP_GT:
        if (hi && kiln_lake_value_cmp(t, hi, v) <= (strict ? 0 : -1))
            return 0;
        return 1;
    case KILN_LAKE_OP_GE:
        if (hi && kiln_lake_value_cmp(t, hi, v) < 0)
            return 0;
        return 1;
    case KILN_LAKE_OP_BETWEEN:
        if (hi && kiln_lake_value_cmp(t, hi, v) < 0)
            return 0;
        if (lo && kiln_lake_value_cmp(t, lo, vhi) > 0)
            return 0;
        return 1;
    case KILN_LAKE_OP_NE:
        if (strict && lo && hi && kiln_lake_value_cmp(t, lo, v) == 0 && kiln_lake_value_cmp(t, hi, v) == 0)
            return 0;
        return 1;
    default: return 1;
    }
}

static int monotonic(kiln_lake_transform_kind x)
{
    return x == KILN_LAKE_XF_IDENTITY || x == KILN_LAKE_XF_YEAR || x == KILN_LAKE_XF_MONTH || x == KILN_LAKE_XF_DAY ||
           x == KILN_LAKE_XF_HOUR || x == KILN_LAKE_XF_TRUNCATE;
}

/* Project term through pf: *ok = 0 when it says nothing about partitions. */
static void project_term(const kiln_lake_term *tm, const kiln_lake_pfield *pf, kiln_lake_value *pv,
                         kiln_lake_value *phi, int *ok)
{
    *ok = 0;
    if (pf->source_id != tm->field_id || pf->xform == KILN_LAKE_XF_UNKNOWN || pf->xform == KILN_LAKE_XF_VOID)
        return;
    if (tm->op == KILN_LAKE_OP_ISNULL || tm->op == KILN_LAKE_OP_NOTNULL) {
        *ok = 1;
        return;
    }
    if (pf->source_type != tm->type)
        return;
    if (pf->xform == KILN_LAKE_XF_BUCKET && tm->op != KILN_LAKE_OP_EQ)
        return;
    if (pf->xform != KILN_LAKE_XF_BUCKET && !monotonic(pf->xform))
        return;
    if (tm->op == KILN_LAKE_OP_NE && pf->xform != KILN_LAKE_XF_IDENTITY)
        return;
    kiln_err e = {0};
    if (kiln_lake_xform_apply(pf, &tm->v, pv, &e))
        return;
    if (tm->op == KILN_LAKE_OP_BETWEEN && kiln_lake_xform_apply(pf, &tm->hi, phi, &e))
        return;
    *ok = 1;
}

int kiln_lake_pred_may_match_partition(const kiln_lake_pred *p, const kiln_lake_pspec *spec,
                                       const kiln_lake_value *part)
{
    if (!p || !spec)
        return 1;
    for (int i = 0; i < p->nterms; i++) {
        const kiln_lake_term *tm = &p->terms[i];
        for (int k = 0; k < spec->nfields; k++) {
            const kiln_lake_pfield *pf = &spec->fields[k];
            kiln_lake_value pv, phi;
            int ok;
            project_term(tm, pf, &pv, &phi, &ok);
            if (!ok)
                continue;
            const kiln_lake_value *x = &part[k];
            if (tm->op == KILN_LAKE_OP_ISNULL) {
                if (!x->is_null)
                    return 0;
                continue;
            }
            if (tm->op == KILN_LAKE_OP_NOTNULL) {
                if (x->is_null)
                    return 0;
                continue;
            }
            if (x->is_null)
                return 0; /* null never satisfies a comparison */
            if (!range_may(pf->result_type, tm->op, &pv, &phi, x, x, pf->xform == KILN_LAKE_XF_IDENTITY))
                return 0;
        }
    }
    return 1;
}

int kiln_lake_pred_may_match_summary(const kiln_lake_pred *p, const kiln_lake_pspec *spec, const kiln_lake_manifest *m)
{
    if (!p || !spec || m->npartitions != spec->nfields)
        return 1;
    for (int i = 0; i < p->nterms; i++) {
        const kiln_lake_term *tm = &p->terms[i];
        for (int k = 0; k < spec->nfields; k++) {
            const kiln_lake_pfield *pf = &spec->fields[k];
            const kiln_lake_psummary *s = &m->partitions[k];
            kiln_lake_value pv, phi, lo, hi;
            int ok;
            project_term(tm, pf, &pv, &phi, &ok);
            if (!ok)
                continue;
            int has_lo = s->lower && kiln_lake_value_from_bound(pf->result_type, s->lower, s->lower_len, &lo) == 0;
            int has_hi = s->upper && kiln_lake_value_from_bound(pf->result_type, s->upper, s->upper_len, &hi) == 0;
            if (tm->op == KILN_LAKE_OP_ISNULL) {
                if (!s->contains_null)
                    return 0;
                continue;
            }
            if (tm->op == KILN_LAKE_OP_NOTNULL) {
                if (s->contains_null && !s->lower && !s->upper && s->contains_nan <= 0)
                    return 0;
                continue;
            }
            if (pf->result_type == KILN_T_FLOAT || pf->result_type == KILN_T_DOUBLE)
                continue;
            if (!s->lower && !s->upper && s->contains_null)
                return 0; /* only nulls */
            if (!range_may(pf->result_type, tm->op, &pv, &phi, has_lo ? &lo : NULL, has_hi ? &hi : NULL,
                           pf->xform == KILN_LAKE_XF_IDENTITY))
                return 0;
        }
    }
    return 1;
}

int kiln_lake_pred_may_match_stats(const kiln_lake_pred *p, const kiln_lake_datafile *df)
{
    if (!p)
        return 1;
    for (int i = 0; i < p->nterms; i++) {
        const kiln_lake_term *tm = &p->terms[i];
        const kiln_lake_colstat *cs = NULL;
        for (int k = 0; k < df->ncolstats; k++)
            if (df->colstats[k].field_id == tm->field_id)
                cs = &df->colstats[k];
        if (!cs)
            continue;
        if (tm->op == KILN_LAKE_OP_ISNULL) {
            if (cs->null_count == 0)
                return 0;
            continue;
        }
        int all_null = cs->value_count >= 0 && cs->null_count == cs->value_count;
        if (tm->op == KILN_LAKE_OP_NOTNULL) {
            if (all_null)
                return 0;
            continue;
        }
        if (all_null)
            return 0;
        if (tm->type == KILN_T_FLOAT || tm->type == KILN_T_DOUBLE || tm->op == KILN_LAKE_OP_NE || tm->no_bounds)
            continue;
        kiln_lake_value lo, hi;
        int has_lo = cs->lower && kiln_lake_value_from_bound(tm->type, cs->lower, cs->lower_len, &lo) == 0;
        int has_hi = cs->upper && kiln_lake_value_from_bound(tm->type, cs->upper, cs->upper_len, &hi) == 0;
        if (!range_may(tm->type, tm->op, &tm->v, &tm->hi, has_lo ? &lo : NULL, has_hi ? &hi : NULL, 1))
            return 0;
    }
    return 1;
}

void kiln_lake__cell(kiln_lake_value *v, const kiln_batch *b, int c, size_t row)
{
    const kiln_col *col = &b->cols[c];
    memset(v, 0, sizeof *v);
    if (kiln_batch_is_null(b, c, row)) {
        v->is_null = 1;
        return;
    }
    switch (col->type) {
    case KILN_T_BOOL: v->i = col->v.b[row]; break;
    case KILN_T_INT32:
    case KILN_T_DATE: v->i = col->v.i32[row]; break;
    case KILN_T_INT64:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_TIME:
    case KILN_T_DECIMAL: v->i = col->v.i64[row]; break;
    case KILN_T_FLOAT: v->d = col->v.f32[row]; break;
    case KILN_T_DOUBLE: v->d = col->v.f64[row]; break;
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
    case KILN_T_UUID: {
        size_t n;
        v->bytes = (const uint8_t *)kiln_batch_str(b, c, row, &n);
        v->len = n;
        break;
    }
    }
}

int kiln_lake_pred_match_row(const kiln_lake_pred *p, const kiln_batch *b, size_t row)
{
    if (!p)
        return 1;
    for (int i = 0; i < p->nterms; i++) {
        const kiln_lake_term *tm = &p->terms[i];
        int c = col_by_id(b->schema, tm->field_id);
        if (c < 0)
            continue;
        kiln_lake_value v;
        kiln_lake__cell(&v, b, c, row);
        if (tm->op == KILN_LAKE_OP_ISNULL) {
            if (!v.is_null)
                return 0;
            continue;
        }
        if (tm->op == KILN_LAKE_OP_NOTNULL) {
            if (v.is_null)
                return 0;
            continue;
        }
        if (v.is_null)
            return 0;
        if ((tm->type == KILN_T_FLOAT || tm->type == KILN_T_DOUBLE) && isnan(v.d))
            return tm->op == KILN_LAKE_OP_NE;
        int c1 = kiln_lake_value_cmp(tm->type, &v, &tm->v);
        int ok;
        switch (tm->op) {
        case KILN_LAKE_OP_EQ: ok = c1 == 0; break;
        case KILN_LAKE_OP_NE: ok = c1 != 0; break;
        case KILN_LAKE_OP_LT: ok = c1 < 0; break;
        case KILN_LAKE_OP_LE: ok = c1 <= 0; break;
        case KILN_LAKE_OP_GT: ok = c1 > 0; break;
        case KILN_LAKE_OP_GE: ok = c1 >= 0; break;
        case KILN_LAKE_OP_BETWEEN: ok = c1 >= 0 && kiln_lake_value_cmp(tm->type, &v, &tm->hi) <= 0; break;
        default: ok = 1; break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

/* ================================================================ planning */

struct kiln_lake_plan {
    kiln_arena *arena;
    kiln_lake_manifest *manifests;
    size_t nmanifests;
    KILN_VEC(kiln_lake_entry *) live;
    KILN_VEC(kiln_lake_task) tasks;
    kiln_lake_plan_stats stats;
};

static int same_partition(const kiln_lake_datafile *a, const kiln_lake_datafile *b, const kiln_lake_pspec *spec)
{
    if (a->spec_id != b->spec_id || a->npart != b->npart)
        return 0;
    for (int i = 0; i < a->npart; i++) {
        const kiln_lake_value *x = &a->partition[i], *y = &b->partition[i];
        if (x->is_null != y->is_null)
            return 0;
        if (x->is_null)
            continue;
        kiln_type t = spec && i < spec->nfields ? spec->fields[i].result_type : KILN_T_INT64;
        if ((t == KILN_T_STRING || t == KILN_T_BINARY)
                ? kiln_lake_value_cmp(t, x, y) != 0
                : (x->i != y->i || (x->d != y->d && !(isnan(x->d) && isnan(y->d)))))
            return 0;
    }
    return 1;
}

int kiln_lake_plan_new(kiln_lake_plan **out, const kiln_lake_view *view, const kiln_lake_pred *pred, kiln_err *err)
{
    return kiln_lake__plan_new_ex(out, view, pred, NULL, NULL, err);
}

int kiln_lake__plan_new_ex(kiln_lake_plan **out, const kiln_lake_view *view, const kiln_lake_pred *pred,
                           int (*keep)(void *ctx, const kiln_lake_manifest *m), void *keep_ctx, kiln_err *err)
{
    int rc = 0;
    kiln_lake_plan *p = kiln_calloc(1, sizeof *p);
    KILN_VEC(kiln_lake_entry *) deletes = {0};
    if (!p || !(p->arena = kiln_arena_new(256 * 1024))) {
        kiln_free(p);
        return KILN_OOM(err);
    }
    if (view->snapshot_id < 0 || !view->manifest_list)
        goto done;
    char *mlpath = kiln_lake_remap_path(p->arena, &view->remap, view->manifest_list);
    if (!mlpath) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake_manifest_list_read(&p->manifests, &p->nmanifests, p->arena, mlpath, err)))
        goto done;
    p->stats.manifests_total = p->nmanifests;
    for (size_t i = 0; i < p->nmanifests; i++) {
        const kiln_lake_manifest *m = &p->manifests[i];
        const kiln_lake_pspec *spec = kiln_lake_view_spec(view, m->spec_id);
        if (m->content == 0 &&
            ((pred && !kiln_lake_pred_may_match_summary(pred, spec, m)) || (keep && !keep(keep_ctx, m)))) {
            p->stats.manifests_pruned++;
            continue;
        }
        char *mpath = kiln_lake_remap_path(p->arena, &view->remap, m->path);
        kiln_lake_entry *ents = NULL;
        size_t n = 0;
        if (!mpath) {
            rc = KILN_OOM(err);
            goto done;
        }
        if ((rc = kiln_lake_manifest_read(&ents, &n, p->arena, m, mpath, spec, err)))
            goto done;
        for (size_t k = 0; k < n; k++) {
            kiln_lake_entry *e = &ents[k];
            if (e->status == KILN_LAKE_STATUS_DELETED)
                continue;
            if ((rc = kiln_vec_push(&p->live, e, err)))
                goto done;
            if (e->df.content != KILN_LAKE_CONTENT_DATA) {
                p->stats.delete_files++;
                if ((rc = kiln_vec_push(&deletes, e, err)))
                    goto done;
                continue;
            }
            p->stats.files_total++;
            if (pred && !kiln_lake_pred_may_match_partition(pred, spec, e->df.partition)) {
                p->stats.files_pruned_partition++;
                continue;
            }
            if (pred && !kiln_lake_pred_may_match_stats(pred, &e->df)) {
                p->stats.files_pruned_stats++;
                continue;
            }
            kiln_lake_task t = {e, 0, NULL};
            if ((rc = kiln_vec_push(&p->tasks, t, err)))
                goto done;
        }
    }
    /* attach deletes */
    for (size_t i = 0; i < p->tasks.len && deletes.len; i++) {
        kiln_lake_task *t = &p->tasks.items[i];
        const kiln_lake_pspec *dspec = kiln_lake_view_spec(view, t->data->df.spec_id);
        size_t cnt = 0;
        for (size_t k = 0; k < deletes.len; k++) {
            const kiln_lake_entry *d = deletes.items[k];
            const kiln_lake_pspec *xspec = kiln_lake_view_spec(view, d->df.spec_id);
            int applies;
            if (d->df.content == KILN_LAKE_CONTENT_POS_DELETES)
                applies = t->data->seq <= d->seq && same_partition(&t->data->df, &d->df, dspec);
            else
                applies = t->data->seq < d->seq && ((xspec && xspec->nfields == 0) || d->df.npart == 0 ||
                                                    same_partition(&t->data->df, &d->df, dspec));
            if (applies)
                cnt++;
        }
        if (!cnt)
            continue;
        t->deletes = kiln_arena_alloc(p->arena, cnt * sizeof *t->deletes);
        if (!t->deletes) {
            rc = KILN_OOM(err);
            goto done;
        }
        for (size_t k = 0; k < deletes.len; k++) {
            const kiln_lake_entry *d = deletes.items[k];
            const kiln_lake_pspec *xspec = kiln_lake_view_spec(view, d->df.spec_id);
            int applies;
            if (d->df.content == KILN_LAKE_CONTENT_POS_DELETES)
                applies = t->data->seq <= d->seq && same_partition(&t->data->df, &d->df, dspec);
            else
                applies = t->data->seq < d->seq && ((xspec && xspec->nfields == 0) || d->df.npart == 0 ||
                                                    same_partition(&t->data->df, &d->df, dspec));
            if (applies)
                t->deletes[t->ndeletes++] = d;
        }
    }
done:
    kiln_vec_free(&deletes);
    if (rc) {
        kiln_lake_plan_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

size_t kiln_lake_plan_ntasks(const kiln_lake_plan *p) { return p->tasks.len; }
const kiln_lake_task *kiln_lake_plan_task(const kiln_lake_plan *p, size_t i) { return &p->tasks.items[i]; }
const kiln_lake_plan_stats *kiln_lake_plan_stats_get(const kiln_lake_plan *p) { return &p->stats; }
size_t kiln_lake_plan_nlive(const kiln_lake_plan *p) { return p->live.len; }
const kiln_lake_entry *kiln_lake_plan_live(const kiln_lake_plan *p, size_t i) { return p->live.items[i]; }
size_t kiln_lake_plan_nmanifests(const kiln_lake_plan *p) { return p->nmanifests; }
const kiln_lake_manifest *kiln_lake_plan_manifest(const kiln_lake_plan *p, size_t i) { return &p->manifests[i]; }

void kiln_lake_plan_free(kiln_lake_plan *p)
{
    if (!p)
        return;
    kiln_vec_free(&p->live);
    kiln_vec_free(&p->tasks);
    kiln_arena_free(p->arena);
    kiln_free(p);
}

/* ================================================================ reading files */

/* Append cell (file batch fb, column fc) to out column oc, converting to
 * the out column's type (int -> long, float -> double promotions). */
/* Reshape a nested value, as the file's schema gave it, to the table's
 * current type t (schema evolution inside structs): struct members in the
 * table's order, by their current names (the reader already renamed them by
 * field id), a member the file lacks as null, one the table dropped left
 * out; lists and maps walked; leaves copied byte for byte (decimals keep
 * every digit). Returns the position after the value, NULL on bad JSON. */
static const char *reshape(kiln_buf *o, const char *p, const char *end, const kiln_lake_type *t, int depth,
                           kiln_err *err, int *rc)
{
    const char *why = NULL;
    p = kiln_json_ws(p, end);
    if (depth > 64 || p >= end)
        goto bad;
    if (*p == 'n' || !t ||
        !((t->kind == KILN_LAKE_STRUCT && *p == '{') || (t->kind == KILN_LAKE_MAP && *p == '{') ||
          (t->kind == KILN_LAKE_LIST && *p == '['))) { /* null or a leaf: as it is */
        const char *e = kiln_json_skip_value(p, end, &why);
        if (!e)
            goto bad;
        if ((*rc = kiln_buf_append(o, p, (size_t)(e - p), err)))
            return NULL;
        return e;
    }
    if (t->kind == KILN_LAKE_LIST) {
        if ((*rc = kiln_buf_putc(o, '[', err)))
            return NULL;
        p = kiln_json_ws(p + 1, end);
        for (int first = 1; p < end && *p != ']'; first = 0) {
            if (!first && (*rc = kiln_buf_putc(o, ',', err)))
                return NULL;
            if (!(p = reshape(o, p, end, t->element, depth + 1, err, rc)))
                return NULL;
            p = kiln_json_ws(p, end);
            if (p < end && *p == ',')
                p = kiln_json_ws(p + 1, end);
        }
        if (p >= end)
            goto bad;
        *rc = kiln_buf_putc(o, ']', err);
        return *rc ? NULL : p + 1;
    }
    /* objects: struct or map */
    typedef struct {
        const char *key, *val;
        size_t keylen;
    } member;
    member stack[32], *mem = stack;
    size_t nm = 0, cap = 32;
    int done = 0;
    const char *q = kiln_json_obj_begin(p, end, &why);
    while (q && !done) {
        const char *key;
        size_t keylen;
        const char *val = kiln_json_obj_key(q, end, &key, &keylen, &done, &why);
        if (!val || done) {
            q = val;
            break;
        }
        if (nm == cap) {
            member *nmem = kiln_malloc(2 * cap * sizeof *nmem);
            if (!nmem) {
                if (mem != stack)
                    kiln_free(mem);
                *rc = KILN_OOM(err);
                return NULL;
            }
            memcpy(nmem, mem, nm * sizeof *nmem);
            if (mem != stack)
                kiln_free(mem);
            mem = nmem;
            cap *= 2;
        }
        mem[nm].key = key;
        mem[nm].keylen = keylen;
        mem[nm].val = val;
        nm++;
        const char *ve = kiln_json_skip_value(val, end, &why);
        q = ve ? kiln_json_obj_next(ve, end, &done, &why) : NULL;
    }
    const char *after = q;
    if (after && (*rc = kiln_buf_putc(o, '{', err)))
        after = NULL;
    if (after && t->kind == KILN_LAKE_MAP) {
        for (size_t i = 0; i < nm && after; i++) {
            if ((i && (*rc = kiln_buf_putc(o, ',', err))) || (*rc = kiln_buf_putc(o, '"', err)) ||
                (*rc = kiln_buf_append(o, mem[i].key, mem[i].keylen, err)) ||
                (*rc = kiln_buf_append(o, "\":", 2, err)) || !reshape(o, mem[i].val, end, t->value, depth + 1, err, rc))
                after = NULL;
        }
    } else if (after) {
        for (size_t f = 0; f < t->nfields && after; f++) {
            const char *name = t->fields[f].name;
            size_t nl = strlen(name);
            const char *val = NULL;
            for (size_t i = 0; i < nm && !val; i++)
                if (mem[i].keylen == nl && memcmp(mem[i].key, name, nl) == 0)
                    val = mem[i].val;
            if ((f && (*rc = kiln_buf_putc(o, ',', err))) || (*rc = kiln_json_write_str(o, name, nl, err)) ||
                (*rc = kiln_buf_putc(o, ':', err)))
                after = NULL;
            else if (!val)
                after = (*rc = nested_default(o, &t->fields[f], "initial-default", err)) ? NULL : after;
            else if (!reshape(o, val, end, t->fields[f].type, depth + 1, err, rc))
                after = NULL;
        }
    }
    if (after && (*rc = kiln_buf_putc(o, '}', err)))
        after = NULL;
    if (mem != stack)
        kiln_free(mem);
    if (after || *rc)
        return after;
bad:
    *rc = kiln_err_set(err, KILN_EFORMAT, "nested value: %s", why ? why : "malformed JSON");
    return NULL;
}

static int put_cell(kiln_batch *out, int oc, const kiln_batch *fb, int fc, size_t row, kiln_err *err)
{
    if (kiln_batch_is_null(fb, fc, row))
        return kiln_batch_put_null(out, oc, err);
    kiln_lake_value v;
    kiln_lake__cell(&v, fb, fc, row);
    kiln_type ft = fb->cols[fc].type;
    switch (out->cols[oc].type) {
    case KILN_T_BOOL: return kiln_batch_put_bool(out, oc, (int)v.i, err);
    case KILN_T_INT32:
    case KILN_T_DATE: return kiln_batch_put_i32(out, oc, (int32_t)v.i, err);
    case KILN_T_INT64:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_TIME:
    case KILN_T_DECIMAL: return kiln_batch_put_i64(out, oc, v.i, err);
    case KILN_T_UUID:
        if (v.len != 16)
            return kiln_err_set(err, KILN_EFORMAT, "column %s: a uuid value of %zu bytes (16 expected)",
                                out->schema->cols[oc].name, (size_t)v.len);
        return kiln_batch_put_str(out, oc, (const char *)v.bytes, v.len, err);
    case KILN_T_FLOAT:
        return kiln_batch_put_f32(out, oc, (float)(ft == KILN_T_DOUBLE || ft == KILN_T_FLOAT ? v.d : (double)v.i), err);
    case KILN_T_DOUBLE:
        return kiln_batch_put_f64(out, oc, ft == KILN_T_DOUBLE || ft == KILN_T_FLOAT ? v.d : (double)v.i, err);
    case KILN_T_STRING:
    case KILN_T_BINARY: return kiln_batch_put_str(out, oc, (const char *)v.bytes, v.len, err);
    case KILN_T_JSON:
        /* a sub-path below a present parent ("s.tags" of {"tags": null})
         * comes as the JSON text null: the cell is null, as the parent's is */
        if (v.len == 4 && !memcmp(v.bytes, "null", 4))
            return kiln_batch_put_null(out, oc, err);
        return kiln_batch_put_str(out, oc, (const char *)v.bytes, v.len, err);
    case KILN_T_DECIMAL_WIDE: {
        if (ft == KILN_T_DECIMAL_WIDE)
            return kiln_batch_put_str(out, oc, (const char *)v.bytes, v.len, err);
        /* a file written before decimal(P<=18,S) was widened: same scale,
         * exact text of the unscaled int64 */
        char t[48];
        kiln_decimal_format(v.i, out->schema->cols[oc].scale, t);
        return kiln_batch_put_str(out, oc, t, strlen(t), err);
    }
    }
    return kiln_err_set(err, KILN_EINTERNAL, "unknown column type");
}

static int put_value(kiln_batch *out, int oc, const kiln_lake_value *v, kiln_err *err)
{
    if (v->is_null)
        return kiln_batch_put_null(out, oc, err);
    switch (out->cols[oc].type) {
    case KILN_T_BOOL: return kiln_batch_put_bool(out, oc, (int)v->i, err);
    case KILN_T_INT32:
    case KILN_T_DATE: return kiln_batch_put_i32(out, oc, (int32_t)v->i, err);
    case KILN_T_FLOAT: return kiln_batch_put_f32(out, oc, (float)v->d, err);
    case KILN_T_DOUBLE: return kiln_batch_put_f64(out, oc, v->d, err);
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_UUID:
    case KILN_T_JSON: return kiln_batch_put_str(out, oc, (const char *)v->bytes, v->len, err);
    case KILN_T_DECIMAL_WIDE:
        if (v->bytes)
            return kiln_batch_put_str(out, oc, (const char *)v->bytes, v->len, err);
        return kiln_err_set(err, KILN_EUNSUPP, "column %s: a decimal(P>18) value from the metadata is not supported",
                            out->schema->cols[oc].name);
    default: return kiln_batch_put_i64(out, oc, v->i, err);
    }
}

/* Canonical key bytes of a cell for equality-delete matching. */
int kiln_lake__key_append(kiln_buf *k, const kiln_batch *b, int c, size_t row, kiln_err *err)
{
    if (c < 0 || kiln_batch_is_null(b, c, row))
        return kiln_buf_putc(k, 'N', err);
    kiln_lake_value v;
    kiln_lake__cell(&v, b, c, row);
    switch (b->cols[c].type) {
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_DECIMAL_WIDE: /* canonical text (fixed scale): equal values, equal text */
    case KILN_T_JSON:
    case KILN_T_UUID: {
        uint32_t n = (uint32_t)v.len;
        int rc = kiln_buf_putc(k, 'S', err);
        if (!rc)
            rc = kiln_buf_append(k, &n, 4, err);
        if (!rc && n)
            rc = kiln_buf_append(k, v.bytes, n, err);
        return rc;
    }
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: {
        int rc = kiln_buf_putc(k, 'D', err);
        return rc ? rc : kiln_buf_append(k, &v.d, 8, err);
    }
    default: {
        int rc = kiln_buf_putc(k, 'I', err);
        return rc ? rc : kiln_buf_append(k, &v.i, 8, err);
    }
    }
}

/* Can the file column's values be delivered as table column c (same kiln
 * type, or a promotion Iceberg allows: int->long, float->double,
 * decimal(P,S)->decimal(P',S), and the byte-string types among
 * themselves)? Anything else would be a wrong value, so it is an error. */
static int ns_text_col(const kiln_column_def *c)
{
    return c->type == KILN_T_STRING && c->scale == KILN_LAKE_NS_TEXT_SCALE;
}

static int ns_file_col(const kiln_parquet_column *pc)
{
    return pc->type == KILN_T_STRING && pc->physical == KILN_PQT_INT64;
}

static int file_type_fits(const kiln_column_def *c, const kiln_parquet_column *pc)
{
    kiln_type tt = c->type, ft = pc->type;
    /* nanosecond timestamps travel as text: only from INT64 TIMESTAMP(NANOS) */
    if (ns_text_col(c) || ns_file_col(pc))
        return ns_text_col(c) && ns_file_col(pc);
    int tdec = tt == KILN_T_DECIMAL || tt == KILN_T_DECIMAL_WIDE;
    int fdec = ft == KILN_T_DECIMAL || ft == KILN_T_DECIMAL_WIDE;
    if (tdec || fdec)
        return tdec && fdec && pc->scale == c->scale && !(tt == KILN_T_DECIMAL && ft == KILN_T_DECIMAL_WIDE);
    if (tt == ft)
        return 1;
    if ((tt == KILN_T_JSON) != (ft == KILN_T_JSON))
        return 0;
    return (tt == KILN_T_INT64 && ft == KILN_T_INT32) || (tt == KILN_T_DOUBLE && ft == KILN_T_FLOAT) ||
           (tt == KILN_T_TIME && ft == KILN_T_INT64) ||  /* a time column written without its annotation */
           (tt == KILN_T_UUID && ft == KILN_T_BINARY) || /* uuid as plain bytes (checked 16 long when read) */
           ((tt == KILN_T_TIMESTAMP || tt == KILN_T_TIMESTAMPTZ) &&
            (ft == KILN_T_TIMESTAMP || ft == KILN_T_TIMESTAMPTZ)) ||
           ((tt == KILN_T_STRING || tt == KILN_T_BINARY) && (ft == KILN_T_STRING || ft == KILN_T_BINARY));
}

static const char *schema_name(void *ctx, int field_id)
{
    const kiln_lake_field *f = kiln_lake_schema_field(ctx, field_id);
    return f ? f->name : NULL;
}

/* The same for tables whose nested columns evolved: a field id the table
 * no longer has gets a name no table field can have, so reshape() drops it
 * even when a new field took its old name. */
static const char *schema_name_evolved(void *ctx, int field_id)
{
    const kiln_lake_field *f = kiln_lake_schema_field(ctx, field_id);
    return f ? f->name : field_id > 0 ? "\x01dropped" : NULL;
}

/* Column of a Parquet file for a table field: by field id, else by name
 * (files written without ids). */
static int file_col(kiln_parquet_reader *r, int field_id, const char *name, int file_has_ids)
{
    if (file_has_ids)
        return kiln_parquet_reader_find_field_id(r, field_id);
    return kiln_parquet_reader_find(r, name);
}

static const kiln_column_def lineage_cols[2] = {
    {KILN_LAKE_COL_ROW_ID, KILN_T_INT64, 0, KILN_LAKE_FID_ROW_ID, 0, 0},
    {KILN_LAKE_COL_LAST_UPDATED_SEQ, KILN_T_INT64, 0, KILN_LAKE_FID_LAST_UPDATED_SEQ, 0, 0},
};

const kiln_column_def *kiln_lake_lineage_col(const char *name, int field_id)
{
    for (int i = 0; i < 2; i++)
        if ((name && strcmp(name, lineage_cols[i].name) == 0) || (!name && field_id == lineage_cols[i].field_id))
            return &lineage_cols[i];
    return NULL;
}

/* 1 for _row_id, 2 for _last_updated_sequence_number, else 0 */
static int lineage_kind(const kiln_column_def *c)
{
    return c->field_id == KILN_LAKE_FID_ROW_ID ? 1 : c->field_id == KILN_LAKE_FID_LAST_UPDATED_SEQ ? 2 : 0;
}

static int reader_has_ids(kiln_parquet_reader *r)
{
    for (int i = 0; i < kiln_parquet_reader_ncolumns(r); i++)
        if (kiln_parquet_reader_column(r, i)->field_id > 0)
            return 1;
    return 0;
}

/* A loaded equality-delete file: its key columns and the set of keys. */
typedef struct eqdel {
    int nids;
    int *ids;
    kiln_map *keys;
} eqdel;

static void eqdel_free(eqdel *d)
{
    if (!d)
        return;
    kiln_free(d->ids);
    kiln_map_free(d->keys);
    kiln_free(d);
}

#define KILN_LAKE_MAX_DELETE_ROWS (64u * 1024 * 1024)

static int load_eqdel(eqdel **out, const kiln_lake_view *view, const kiln_lake_entry *e, kiln_arena *a, kiln_err *err)
{
    kiln_parquet_reader *r = NULL;
    kiln_buf key;
    kiln_buf_init(&key, 1 << 20);
    eqdel *d = kiln_calloc(1, sizeof *d);
    int rc = 0;
    int *cols = NULL;
    char *path = kiln_lake_remap_path(a, &view->remap, e->df.file_path);
    if (!d || !path || !(d->keys = kiln_map_new()) ||
        !(d->ids = kiln_calloc((size_t)(e->df.nequality_ids ? e->df.nequality_ids : 1), sizeof(int))) ||
        !(cols = kiln_calloc((size_t)(e->df.nequality_ids ? e->df.nequality_ids : 1), sizeof(int)))) {
        rc = KILN_OOM(err);
        goto done;
    }
    d->nids = e->df.nequality_ids;
    memcpy(d->ids, e->df.equality_ids, (size_t)d->nids * sizeof(int));
    if ((rc = data_open(&r, path, e->df.file_size_in_bytes, NULL, err)))
        goto done;
    int has_ids = reader_has_ids(r);
    int nproj = 0;
    int *proj = kiln_arena_alloc(a, (size_t)(d->nids ? d->nids : 1) * sizeof *proj);
    if (!proj) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < d->nids; i++) {
        int ci = col_by_id(view->schema, d->ids[i]);
        int fc = file_col(r, d->ids[i], ci >= 0 ? view->schema->cols[ci].name : "", has_ids);
        cols[i] = fc < 0 ? -1 : nproj;
        if (fc >= 0)
            proj[nproj++] = fc;
    }
    if ((rc = kiln_parquet_reader_project(r, proj, nproj, err)))
        goto done;
    const kiln_batch *b;
    size_t total = 0;
    while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
        for (size_t row = 0; row < b->nrows; row++) {
            kiln_buf_reset(&key);
            for (int i = 0; i < d->nids; i++)
                if ((rc = kiln_lake__key_append(&key, b, cols[i], row, err)))
                    goto done;
            if ((rc = kiln_map_put(d->keys, key.data, key.len, d, err)))
                goto done;
            if (++total > KILN_LAKE_MAX_DELETE_ROWS) {
                rc = kiln_err_set(err, KILN_ELIMIT, "%s: more than %u equality delete rows", path,
                                  KILN_LAKE_MAX_DELETE_ROWS);
                goto done;
            }
        }
    }
    if (rc < 0)
        goto done;
    rc = 0;
done:
    kiln_free(cols);
    kiln_buf_free(&key);
    kiln_parquet_reader_free(r);
    if (rc) {
        eqdel_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

/* Positions deleted in data file `data_path` (as stored) by delete file e. */
static int load_posdel(kiln_i64set *set, const kiln_lake_view *view, const kiln_lake_entry *e, const char *data_path,
                       kiln_arena *a, kiln_err *err)
{
    kiln_parquet_reader *r = NULL;
    int rc;
    char *path = kiln_lake_remap_path(a, &view->remap, e->df.file_path);
    if (!path)
        return KILN_OOM(err);
    if (e->df.file_format && strcasecmp(e->df.file_format, "PUFFIN") == 0) {
        /* a v3 deletion vector: it applies to its referenced data file only */
        if (!e->df.referenced_data_file || e->df.content_offset < 0 || e->df.content_size < 0)
            return kiln_err_set(err, KILN_EFORMAT,
                                "%s: deletion vector entry without referenced_data_file, "
                                "content_offset or content_size_in_bytes",
                                path);
        if (strcmp(e->df.referenced_data_file, data_path) != 0)
            return 0;
        char *local = NULL;
        rc = kiln_lake__io_local_file(&local, path, err);
        if (!rc)
            rc = kiln_lake__dv_load(set, local, e->df.content_offset, e->df.content_size, err);
        kiln_free(local);
        return rc;
    }
    if (e->df.file_format && strcasecmp(e->df.file_format, "PARQUET") != 0)
        return kiln_err_set(err, KILN_EUNSUPP,
                            "%s: delete file format %s is not supported (Parquet and Puffin "
                            "deletion vectors only)",
                            path, e->df.file_format);
    if ((rc = data_open(&r, path, e->df.file_size_in_bytes, NULL, err)))
        goto done;
    int fp = kiln_parquet_reader_find_field_id(r, 2147483546), pos = kiln_parquet_reader_find_field_id(r, 2147483545);
    if (fp < 0)
        fp = kiln_parquet_reader_find(r, "file_path");
    if (pos < 0)
        pos = kiln_parquet_reader_find(r, "pos");
    if (fp < 0 || pos < 0) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: position delete file without file_path/pos columns", path);
        goto done;
    }
    int proj[2] = {fp, pos};
    if ((rc = kiln_parquet_reader_project(r, proj, 2, err)))
        goto done;
    const kiln_batch *b;
    size_t dl = strlen(data_path);
    while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
        for (size_t row = 0; row < b->nrows; row++) {
            if (kiln_batch_is_null(b, 0, row) || kiln_batch_is_null(b, 1, row))
                continue;
            size_t n;
            const char *s = kiln_batch_str(b, 0, row, &n);
            if (n != dl || memcmp(s, data_path, n) != 0)
                continue;
            int64_t p = b->cols[1].type == KILN_T_INT32 ? b->cols[1].v.i32[row] : b->cols[1].v.i64[row];
            if ((rc = kiln_i64set_add(set, p, err)) < 0)
                goto done;
        }
    }
    if (rc < 0)
        goto done;
    rc = 0;
done:
    kiln_parquet_reader_free(r);
    return rc;
}

/* State of reading one task into the work schema. */
typedef struct task_reader {
    const kiln_lake_view *view;
    const kiln_lake_task *task;
    const kiln_schema *work; /* columns to produce */
    kiln_parquet_reader *r;
    int *src;                /* per work column: batch column of the reader, or -1 */
    kiln_lake_value *consts; /* per work column: identity partition value when src < 0 */
    int *has_const;
    kiln_i64set *posdel;
    eqdel **eq;
    size_t neq;
    int64_t pos; /* row position in the file of the next row */
    kiln_arena *arena;
    /* row-group skipping (scans only; see choose_filter) */
    kiln_lake_plan_stats *stats; /* row group counts go here; NULL = none */
    int nrg;                     /* row groups of the file */
    int64_t *rg_start;           /* nrg + 1 row positions: first row of each row group (arena) */
    int cur_rg;                  /* row group of the last batch, -1 before the first */
    int64_t rg_left;             /* rows of cur_rg not yet returned */
    int npq;                     /* one-column terms mapped to the file's columns */
    kiln_parquet_pred *pq;       /* (arena) */
    int *runs;                   /* npq x (nrg + 1), see task_reader_prune_setup (arena) */
    int has_filter;              /* the filter currently set on the reader */
    kiln_parquet_pred filter;
    int skipped; /* row groups we know the reader skipped */
    /* kiln_lake_task_read_pos: the file position of each row appended to
     * the output batch (NULL when not asked for) */
    int64_t *posv;
    size_t posn, poscap;
    int want_pos;
    const kiln_lake_type **reshape; /* per work column: the table type to reshape a nested value to, or NULL */
    kiln_buf rsbuf;
    int *lineage; /* per work column: lineage_kind (NULL when none is asked for) */
} task_reader;

static void task_reader_close(task_reader *tr)
{
    kiln_parquet_reader_free(tr->r);
    tr->r = NULL;
    kiln_free(tr->src);
    kiln_free(tr->consts);
    kiln_free(tr->has_const);
    kiln_free(tr->reshape);
    tr->reshape = NULL;
    kiln_free(tr->lineage);
    tr->lineage = NULL;
    kiln_buf_free(&tr->rsbuf);
    tr->src = NULL;
    tr->consts = NULL;
    tr->has_const = NULL;
    kiln_i64set_free(tr->posdel);
    tr->posdel = NULL;
    for (size_t i = 0; i < tr->neq; i++)
        eqdel_free(tr->eq[i]);
    kiln_free(tr->eq);
    tr->eq = NULL;
    tr->neq = 0;
    kiln_arena_free(tr->arena);
    tr->arena = NULL;
    tr->rg_start = NULL; /* arena memory */
    tr->pq = NULL;
    tr->runs = NULL;
    tr->npq = 0;
}

/* The Parquet predicate for lake term tm on file column fc, when the
 * file's statistics can decide it soundly: 1 and *out, else 0. Terms are
 * matched to file columns the way the data is read (file_col: by field id,
 * by name only in files without ids), so the statistics describe exactly
 * the values the row filter later sees. Left out, so never skipping on:
 * NaN literals and != on floats (NaN rows match != but are not in the
 * min/max), != on strings/binary (min/max may be truncated), and columns
 * whose file type is not the table type or a lossless promotion of it. */
static int term_to_pq(const kiln_lake_term *tm, const kiln_column_def *tc, kiln_parquet_reader *r, int fc,
                      kiln_parquet_pred *out)
{
    const kiln_parquet_column *col = kiln_parquet_reader_column(r, fc);
    kiln_type tt = tm->type, ft = col->type;
    memset(out, 0, sizeof *out);
    out->col = fc;
    switch (tm->op) {
    case KILN_LAKE_OP_ISNULL: out->op = KILN_PRED_ISNULL; return 1;
    case KILN_LAKE_OP_NOTNULL: out->op = KILN_PRED_NOTNULL; return 1;
    case KILN_LAKE_OP_EQ: out->op = KILN_PRED_EQ; break;
    case KILN_LAKE_OP_NE: out->op = KILN_PRED_NE; break;
    case KILN_LAKE_OP_LT: out->op = KILN_PRED_LT; break;
    case KILN_LAKE_OP_LE: out->op = KILN_PRED_LE; break;
    case KILN_LAKE_OP_GT: out->op = KILN_PRED_GT; break;
    case KILN_LAKE_OP_GE: out->op = KILN_PRED_GE; break;
    case KILN_LAKE_OP_BETWEEN: out->op = KILN_PRED_BETWEEN; break;
    default: return 0;
    }
    int same = ft == tt || (tt == KILN_T_INT64 && ft == KILN_T_INT32) || (tt == KILN_T_DOUBLE && ft == KILN_T_FLOAT) ||
               ((tt == KILN_T_TIMESTAMP || tt == KILN_T_TIMESTAMPTZ) &&
                (ft == KILN_T_TIMESTAMP || ft == KILN_T_TIMESTAMPTZ)) ||
               ((tt == KILN_T_STRING || tt == KILN_T_BINARY) && (ft == KILN_T_STRING || ft == KILN_T_BINARY));
    if (!same || (tt == KILN_T_DECIMAL && (!tc || col->scale != tc->scale)))
        return 0;
    int isfloat = tt == KILN_T_FLOAT || tt == KILN_T_DOUBLE;
    int isbytes = tt == KILN_T_STRING || tt == KILN_T_BINARY;
    if (tm->op == KILN_LAKE_OP_NE && (isfloat || isbytes))
        return 0;
    if (isfloat && (isnan(tm->v.d) || (tm->op == KILN_LAKE_OP_BETWEEN && isnan(tm->hi.d))))
        return 0;
    out->v.i = tm->v.i;
    out->v.d = tm->v.d;
    out->v.s = (const char *)tm->v.bytes;
    out->v.n = tm->v.len;
    out->hi.i = tm->hi.i;
    out->hi.d = tm->hi.d;
    out->hi.s = (const char *)tm->hi.bytes;
    out->hi.n = tm->hi.len;
    if (isbytes && (!out->v.s || (tm->op == KILN_LAKE_OP_BETWEEN && !out->hi.s))) {
        out->v.s = out->v.s ? out->v.s : "";
        out->hi.s = out->hi.s ? out->hi.s : "";
    }
    return 1;
}

/* At a row-group boundary, set the reader's (single) filter so that its
 * next() skips the row groups the predicate rules out. The reader takes
 * one one-column predicate; when the next row group is to be skipped we
 * give it the term that rules out the longest run of row groups from
 * there (a range on a sorted column: the "below" term, then none, then
 * the "above" term). A row group after that run that another term would
 * rule out is then read and its rows filtered (never a wrong answer, only
 * a missed skip). */
static int choose_filter(task_reader *tr, kiln_err *err)
{
    int g0 = tr->cur_rg + 1;
    while (g0 < tr->nrg && tr->rg_start[g0 + 1] == tr->rg_start[g0])
        g0++; /* empty row groups: the reader passes over them anyway */
    int best = -1, best_run = 0;
    if (g0 < tr->nrg) {
        for (int k = 0; k < tr->npq; k++) {
            int run = tr->runs[(size_t)k * ((size_t)tr->nrg + 1) + (size_t)g0];
            if (run > best_run)
                best = k, best_run = run;
        }
    }
    int rc = kiln_parquet_reader_filter(tr->r, best >= 0 ? &tr->pq[best] : NULL, err);
    if (rc)
        return rc;
    tr->has_filter = best >= 0;
    if (best >= 0)
        tr->filter = tr->pq[best];
    return 0;
}

/* Would the reader, with its current filter, pass over row group g? (The
 * same test kiln_parquet_reader_next makes.) */
static int reader_passes(const task_reader *tr, int g)
{
    return tr->rg_start[g + 1] == tr->rg_start[g] ||
           (tr->has_filter && kiln_parquet_reader_rg_pruned(tr->r, g, &tr->filter));
}

/* Set up row-group skipping for pred on the opened reader. */
static int task_reader_prune_setup(task_reader *tr, const kiln_lake_pred *pred, int has_ids, kiln_err *err)
{
    kiln_parquet_reader *r = tr->r;
    tr->nrg = kiln_parquet_reader_num_row_groups(r);
    tr->cur_rg = -1;
    tr->rg_start = kiln_arena_alloc(tr->arena, ((size_t)tr->nrg + 1) * sizeof *tr->rg_start);
    if (!tr->rg_start)
        return KILN_OOM(err);
    tr->rg_start[0] = 0;
    for (int g = 0; g < tr->nrg; g++) {
        int64_t n = kiln_parquet_reader_row_group_rows(r, g);
        tr->rg_start[g + 1] = tr->rg_start[g] + (n > 0 ? n : 0);
        if (n > 0 && tr->stats)
            tr->stats->row_groups_total++;
    }
    if (!pred || !pred->nterms || tr->nrg < 1)
        return 0;
    tr->pq = kiln_arena_alloc(tr->arena, (size_t)pred->nterms * sizeof *tr->pq);
    if (!tr->pq)
        return KILN_OOM(err);
    const kiln_schema *ts = tr->view->schema;
    kiln_schema xs = {0, NULL}; /* the leaves inside structs, when a term is on one */
    for (int i = 0; i < pred->nterms; i++) {
        const kiln_lake_term *tm = &pred->terms[i];
        int ci = col_by_id(ts, tm->field_id);
        const kiln_column_def *tc = ci >= 0 ? &ts->cols[ci] : NULL;
        int fc = file_col(r, tm->field_id, tc ? tc->name : "", has_ids);
        if (fc < 0 && !tc && has_ids && (fc = kiln_parquet_reader_find_leaf_id(r, tm->field_id)) >= 0) {
            /* a field inside structs ("s.a"): its chunk's statistics */
            int rc;
            if (!xs.cols && (rc = kiln_lake_view_leaf_schema(tr->view, tr->arena, &xs, err)))
                return rc;
            int li = col_by_id(&xs, tm->field_id);
            tc = li >= 0 ? &xs.cols[li] : NULL;
            if (!tc)
                continue;
        }
        if (fc < 0)
            continue; /* absent from the file (null or an identity partition value): planning's job */
        if (term_to_pq(tm, tc, r, fc, &tr->pq[tr->npq]))
            tr->npq++;
    }
    if (!tr->npq)
        return 0;
    /* runs[k][g]: row groups from g on that term k rules out in a row
     * (empty ones included), so choose_filter is O(terms) per boundary */
    size_t stride = (size_t)tr->nrg + 1;
    tr->runs = kiln_arena_alloc(tr->arena, (size_t)tr->npq * stride * sizeof *tr->runs);
    if (!tr->runs)
        return KILN_OOM(err);
    int any = 0;
    for (int k = 0; k < tr->npq; k++) {
        int *run = &tr->runs[(size_t)k * stride];
        run[tr->nrg] = 0;
        for (int g = tr->nrg - 1; g >= 0; g--) {
            run[g] = kiln_parquet_reader_rg_pruned(r, g, &tr->pq[k]) ? run[g + 1] + 1 : 0;
            any |= run[g] > 0 && tr->rg_start[g + 1] > tr->rg_start[g];
        }
    }
    if (!any)
        tr->npq = 0; /* nothing to skip in this file: read it plainly */
    return 0;
}

/* Open task's data file for reading into work. pred (may be NULL) lets
 * whole row groups be skipped; stats (may be NULL) receives the row group
 * counts. Delete files are always read whole. */
static int task_reader_open(task_reader *tr, const kiln_lake_view *view, const kiln_lake_task *task,
                            const kiln_schema *work, const kiln_lake_pred *pred, kiln_lake_plan_stats *stats,
                            kiln_err *err)
{
    memset(tr, 0, sizeof *tr);
    tr->stats = stats;
    tr->view = view;
    tr->task = task;
    tr->work = work;
    int rc = 0;
    int nw = work->ncols;
    int *proj = NULL, *tgt = NULL, ntgt = 0;
    const char **tname = NULL;
    tr->arena = kiln_arena_new(16 * 1024);
    tr->src = kiln_calloc((size_t)(nw ? nw : 1), sizeof(int));
    tr->consts = kiln_calloc((size_t)(nw ? nw : 1), sizeof(kiln_lake_value));
    tr->has_const = kiln_calloc((size_t)(nw ? nw : 1), sizeof(int));
    proj = kiln_calloc((size_t)(nw ? nw : 1), sizeof(int));
    tgt = kiln_calloc((size_t)(nw ? nw : 1) + 1, sizeof(int));
    tname = kiln_calloc((size_t)(nw ? nw : 1) + 1, sizeof(char *));
    if (!tr->arena || !tr->src || !tr->consts || !tr->has_const || !proj || !tgt || !tname) {
        rc = KILN_OOM(err);
        goto done;
    }
    const kiln_lake_datafile *df = &task->data->df;
    char *path = kiln_lake_remap_path(tr->arena, &view->remap, df->file_path);
    if (!path) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (strcasecmp(df->file_format, "PARQUET") != 0) {
        rc = kiln_err_set(err, KILN_EUNSUPP, "%s: data file format %s is not supported (Parquet only)", path,
                          df->file_format);
        goto done;
    }
    /* file batches of 16K rows: each reader batch is copied into the work
     * batch, so this bounds a scan's memory at a few MB per open file even
     * for long strings (65K-row batches of commit messages were ~30 MB,
     * twice) at no measurable cost in scan speed */
    kiln_parquet_read_opts ro = {16384, 0};
    if ((rc = data_open(&tr->r, path, df->file_size_in_bytes, &ro, err)))
        goto done;
    int has_ids = reader_has_ids(tr->r);
    kiln_buf_init(&tr->rsbuf, 0);
    int any_evolved = 0;
    for (int i = 0; i < nw && view->evolved; i++) {
        int sc = col_by_id(view->schema, work->cols[i].field_id);
        if (work->cols[i].type != KILN_T_JSON || sc < 0 || !view->evolved[sc] || !view->lschema ||
            (size_t)sc >= view->lschema->nfields)
            continue;
        if (!tr->reshape && !(tr->reshape = kiln_calloc((size_t)nw, sizeof *tr->reshape))) {
            rc = KILN_OOM(err);
            goto done;
        }
        tr->reshape[i] = view->lschema->fields[sc].type;
        any_evolved = 1;
    }
    if (has_ids && view->lschema) /* nested values show the table's current field names */
        kiln_parquet_reader_field_names(tr->r, any_evolved ? schema_name_evolved : schema_name, (void *)view->lschema);
    const kiln_lake_pspec *spec = kiln_lake_view_spec(view, df->spec_id);
    int nproj = 0;
    for (int i = 0; i < nw; i++) {
        const kiln_column_def *c = &work->cols[i];
        int fc = file_col(tr->r, c->field_id, c->name, has_ids);
        tr->src[i] = -1;
        if (lineage_kind(c)) {
            if (!tr->lineage && !(tr->lineage = kiln_calloc((size_t)nw, sizeof *tr->lineage))) {
                rc = KILN_OOM(err);
                goto done;
            }
            tr->lineage[i] = lineage_kind(c);
            if (fc >= 0) {
                const kiln_parquet_column *pc = kiln_parquet_reader_column(tr->r, fc);
                if (pc->type != KILN_T_INT64 && pc->type != KILN_T_INT32) {
                    rc = kiln_err_set(err, KILN_EFORMAT, "%s: row lineage column %s is %s in the file, not a long",
                                      path, c->name, kiln_type_name(pc->type));
                    goto done;
                }
                tr->src[i] = nproj;
                proj[nproj++] = fc;
            }
            continue;
        }
        if (fc >= 0) {
            const kiln_parquet_column *pc = kiln_parquet_reader_column(tr->r, fc);
            if (!file_type_fits(c, pc)) {
                char ft[48], tt[48];
                int fdec = pc->type == KILN_T_DECIMAL || pc->type == KILN_T_DECIMAL_WIDE;
                int tdec = c->type == KILN_T_DECIMAL || c->type == KILN_T_DECIMAL_WIDE;
                if (fdec)
                    snprintf(ft, sizeof ft, "decimal(%d,%d)", pc->precision, pc->scale);
                else
                    snprintf(ft, sizeof ft, "%s", ns_file_col(pc) ? "timestamp_ns" : kiln_type_name(pc->type));
                snprintf(tt, sizeof tt, "decimal(%d,%d)", c->precision, c->scale);
                if (!tdec)
                    snprintf(tt, sizeof tt, "%s", ns_text_col(c) ? "timestamp_ns" : kiln_type_name(c->type));
                rc = kiln_err_set(err, KILN_EFORMAT,
                                  "%s: column %s (field id %d) is %s in the file but %s in the table; kiln cannot "
                                  "read it as the table's type",
                                  path, c->name, c->field_id, ft, tt);
                goto done;
            }
            tr->src[i] = nproj;
            tgt[nproj] = -1;
            proj[nproj++] = fc;
            continue;
        }
        /* a field inside a nested column ("s.a", "payload.commits.sha"):
         * only the leaves under it are read */
        int ncol = -1, nel = -1;
        if (col_by_id(view->schema, c->field_id) < 0 &&
            kiln_parquet_reader_find_nested(tr->r, has_ids ? c->field_id : 0, c->name, &ncol, &nel) == 0) {
            tr->src[i] = nproj;
            tgt[nproj] = nel;
            tname[nproj] = c->name;
            proj[nproj++] = ncol;
            ntgt++;
            continue;
        }
        if (col_by_id(view->schema, c->field_id) < 0 && !lineage_kind(c) && view->lschema) {
            const kiln_lake_field *nf = kiln_lake_schema_field(view->lschema, c->field_id);
            if (nf && nf->extra_json && strstr(nf->extra_json, "initial-default")) {
                rc = kiln_err_set(err, KILN_EUNSUPP,
                                  "%s predates nested field %s (field id %d), which has an initial-default: kiln "
                                  "reads that default only through the whole column (--columns %.*s)",
                                  path, c->name, c->field_id, (int)strcspn(c->name, "."), c->name);
                goto done;
            }
        }
        for (int k = 0; spec && k < spec->nfields && k < df->npart; k++)
            if (spec->fields[k].source_id == c->field_id && spec->fields[k].xform == KILN_LAKE_XF_IDENTITY) {
                tr->consts[i] = df->partition[k];
                tr->has_const[i] = 1;
            }
        /* a column the file predates reads as its initial-default (v3) */
        int sc = col_by_id(view->schema, c->field_id);
        if (!tr->has_const[i] && sc >= 0 && view->has_initial_default && view->has_initial_default[sc]) {
            if ((rc = kiln_lake__field_default(view, sc, c, "initial-default", tr->arena, &tr->consts[i], err))) {
                kiln_err_prefix(err, "%s lacks column %s: ", path, c->name);
                goto done;
            }
            tr->has_const[i] = 1;
        }
    }
    if (nproj == 0 && kiln_parquet_reader_ncolumns(tr->r) > 0) {
        tgt[nproj] = -1;
        proj[nproj++] = 0; /* read one column for the row count; nothing maps to it */
    }
    if ((rc = ntgt ? kiln_parquet_reader_project_nested(tr->r, proj, tgt, tname, nproj, err)
                   : kiln_parquet_reader_project(tr->r, proj, nproj, err)))
        goto done;
    for (int i = 0; ntgt && i < nw; i++) { /* a sub-field's shape in the file must be the table's */
        const kiln_column_def *c = &work->cols[i];
        if (tr->src[i] < 0 || tgt[tr->src[i]] < 0)
            continue;
        const kiln_column_def *oc = &kiln_parquet_reader_schema(tr->r)->cols[tr->src[i]];
        kiln_type tt = c->type, ft = oc->type;
        int fits = ft == tt || (tt == KILN_T_INT64 && ft == KILN_T_INT32) ||
                   (tt == KILN_T_DOUBLE && ft == KILN_T_FLOAT) ||
                   (tt == KILN_T_DECIMAL_WIDE && (ft == KILN_T_DECIMAL || ft == KILN_T_DECIMAL_WIDE)) ||
                   ((tt == KILN_T_TIMESTAMP || tt == KILN_T_TIMESTAMPTZ) &&
                    (ft == KILN_T_TIMESTAMP || ft == KILN_T_TIMESTAMPTZ)) ||
                   ((tt == KILN_T_STRING || tt == KILN_T_BINARY) && (ft == KILN_T_STRING || ft == KILN_T_BINARY));
        if (fits && tt == KILN_T_DECIMAL && (ft != KILN_T_DECIMAL || oc->scale != c->scale))
            fits = 0;
        if (!fits) {
            rc = kiln_err_set(err, KILN_EFORMAT,
                              "%s: nested field %s (field id %d) is %s in the file but %s in the table; kiln cannot "
                              "read it as the table's type",
                              path, c->name, c->field_id, kiln_type_name(ft), kiln_type_name(tt));
            goto done;
        }
    }
    if ((rc = task_reader_prune_setup(tr, pred, has_ids, err)))
        goto done;
    for (size_t k = 0; k < task->ndeletes; k++) {
        const kiln_lake_entry *d = task->deletes[k];
        if (d->df.content == KILN_LAKE_CONTENT_POS_DELETES) {
            if (!tr->posdel && !(tr->posdel = kiln_i64set_new())) {
                rc = KILN_OOM(err);
                goto done;
            }
            if ((rc = load_posdel(tr->posdel, view, d, df->file_path, tr->arena, err)))
                goto done;
        } else {
            eqdel *e = NULL;
            if ((rc = load_eqdel(&e, view, d, tr->arena, err)))
                goto done;
            eqdel **ne = kiln_realloc(tr->eq, (tr->neq + 1) * sizeof *ne);
            if (!ne) {
                eqdel_free(e);
                rc = KILN_OOM(err);
                goto done;
            }
            tr->eq = ne;
            tr->eq[tr->neq++] = e;
        }
    }
done:
    kiln_free(proj);
    kiln_free(tgt);
    kiln_free(tname);
    if (rc)
        task_reader_close(tr);
    return rc;
}

/* Is row `row` of file batch fb deleted by an equality delete? */
static int eq_deleted(task_reader *tr, const kiln_batch *fb, size_t row, kiln_buf *key, kiln_err *err, int *out)
{
    *out = 0;
    for (size_t k = 0; k < tr->neq; k++) {
        eqdel *d = tr->eq[k];
        kiln_buf_reset(key);
        for (int i = 0; i < d->nids; i++) {
            int wc = col_by_id(tr->work, d->ids[i]);
            int rc;
            if (wc >= 0 && tr->src[wc] >= 0) {
                rc = kiln_lake__key_append(key, fb, tr->src[wc], row, err);
            } else if (wc >= 0 && tr->has_const[wc]) {
                /* partition constant: encode like a cell of the column type */
                const kiln_lake_value *v = &tr->consts[wc];
                kiln_type t = tr->work->cols[wc].type;
                if (v->is_null)
                    rc = kiln_buf_putc(key, 'N', err);
                else if (t == KILN_T_STRING || t == KILN_T_BINARY) {
                    uint32_t n = (uint32_t)v->len;
                    rc = kiln_buf_putc(key, 'S', err);
                    if (!rc)
                        rc = kiln_buf_append(key, &n, 4, err);
                    if (!rc && n)
                        rc = kiln_buf_append(key, v->bytes, n, err);
                } else if (t == KILN_T_FLOAT || t == KILN_T_DOUBLE) {
                    rc = kiln_buf_putc(key, 'D', err);
                    if (!rc)
                        rc = kiln_buf_append(key, &v->d, 8, err);
                } else {
                    rc = kiln_buf_putc(key, 'I', err);
                    if (!rc)
                        rc = kiln_buf_append(key, &v->i, 8, err);
                }
            } else {
                rc = kiln_buf_putc(key, 'N', err);
            }
            if (rc)
                return rc;
        }
        if (kiln_map_has(d->keys, key->data, key->len)) {
            *out = 1;
            return 0;
        }
    }
    return 0;
}

/* Read the next file batch; append surviving rows (all work columns) to
 * out. Returns 1 if a batch was consumed, 0 at end of file, <0. */
static int task_reader_step(task_reader *tr, kiln_batch *out, const kiln_lake_pred *pred, kiln_buf *key, kiln_err *err)
{
    const kiln_batch *fb;
    int rc;
    if (tr->cur_rg >= tr->nrg)
        return 0;
    if (tr->rg_left == 0 && tr->npq && (rc = choose_filter(tr, err)))
        return rc;
    rc = kiln_parquet_reader_next(tr->r, &fb, err);
    if (rc < 0)
        return rc;
    /* follow the reader through the row groups: which one this batch
     * came from (so file positions stay right for position deletes) and
     * which it passed over */
    if (rc == 0 || tr->rg_left == 0) {
        int g = tr->cur_rg + 1;
        while (g < tr->nrg && reader_passes(tr, g)) {
            if (tr->rg_start[g + 1] > tr->rg_start[g])
                tr->skipped++;
            g++;
        }
        if (tr->skipped != kiln_parquet_reader_pruned(tr->r) || (rc == 0) != (g >= tr->nrg))
            return kiln_err_set(err, KILN_EINTERNAL, "%s: row group tracking lost step with the Parquet reader",
                                tr->task->data->df.file_path);
        if (rc == 0) {
            if (tr->stats)
                tr->stats->row_groups_skipped += (size_t)tr->skipped;
            tr->skipped = 0; /* counted once even if step is called again */
            tr->cur_rg = tr->nrg;
            return 0;
        }
        tr->cur_rg = g;
        tr->rg_left = tr->rg_start[g + 1] - tr->rg_start[g];
        tr->pos = tr->rg_start[g];
    }
    if ((int64_t)fb->nrows > tr->rg_left)
        return kiln_err_set(err, KILN_EINTERNAL, "%s: a Parquet batch spans row groups", tr->task->data->df.file_path);
    tr->rg_left -= (int64_t)fb->nrows;
    int nw = tr->work->ncols;
    for (size_t row = 0; row < fb->nrows; row++) {
        int64_t pos = tr->pos++;
        if (tr->posdel && kiln_i64set_has(tr->posdel, pos))
            continue;
        if (tr->neq) {
            int del;
            if ((rc = eq_deleted(tr, fb, row, key, err, &del)))
                return rc;
            if (del)
                continue;
        }
        size_t before = out->nrows;
        for (int i = 0; i < nw; i++) {
            if (tr->lineage && tr->lineage[i]) {
                /* v3 row lineage: the file's value, else inherited */
                const kiln_lake_entry *de = tr->task->data;
                if (tr->src[i] >= 0 && !kiln_batch_is_null(fb, tr->src[i], row))
                    rc = put_cell(out, i, fb, tr->src[i], row, err);
                else if (tr->lineage[i] == 2)
                    rc = kiln_batch_put_i64(out, i, de->seq, err);
                else if (de->df.has_first_row_id)
                    rc = kiln_batch_put_i64(out, i, de->df.first_row_id + pos, err);
                else
                    rc = kiln_batch_put_null(out, i, err);
            } else if (tr->src[i] >= 0 && tr->reshape && tr->reshape[i] && !kiln_batch_is_null(fb, tr->src[i], row)) {
                size_t n;
                const char *s = kiln_batch_str(fb, tr->src[i], row, &n);
                kiln_buf_reset(&tr->rsbuf);
                if (reshape(&tr->rsbuf, s, s + n, tr->reshape[i], 0, err, &rc) && !rc)
                    rc = kiln_batch_put_str(out, i, tr->rsbuf.data, tr->rsbuf.len, err);
                else if (!rc)
                    rc = KILN_EFORMAT;
            } else if (tr->src[i] >= 0)
                rc = put_cell(out, i, fb, tr->src[i], row, err);
            else if (tr->has_const[i])
                rc = put_value(out, i, &tr->consts[i], err);
            else
                rc = kiln_batch_put_null(out, i, err);
            if (rc)
                return rc;
        }
        if ((rc = kiln_batch_end_row(out, err)))
            return rc;
        if (tr->want_pos && !(pred && !kiln_lake_pred_match_row(pred, out, before))) {
            if (tr->posn == tr->poscap) {
                size_t nc = tr->poscap ? 2 * tr->poscap : 8192;
                int64_t *np = kiln_realloc(tr->posv, nc * sizeof *np);
                if (!np)
                    return KILN_OOM(err);
                tr->posv = np;
                tr->poscap = nc;
            }
            tr->posv[tr->posn++] = pos;
            continue;
        }
        if (pred && !kiln_lake_pred_match_row(pred, out, before)) {
            /* drop the row just appended: lengths, string bytes, null flag */
            out->nrows = before;
            for (int i = 0; i < nw; i++) {
                kiln_col *col = &out->cols[i];
                col->len = before;
                if (col->offsets)
                    col->data.len = col->offsets[before];
                if (col->nulls)
                    col->nulls[before] = 0;
            }
        }
    }
    return 1;
}

static int task_read(const kiln_lake_view *view, const kiln_lake_task *task,
                     int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err),
                     int (*fnpos)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err), void *ctx,
                     int lineage, const kiln_schema *extra, kiln_err *err)
{
    task_reader tr;
    kiln_batch *b = NULL;
    kiln_buf key;
    /* lineage: the table's columns, then _row_id and
     * _last_updated_sequence_number; extra: then those columns */
    int nl = view->schema->ncols, nx = extra ? extra->ncols : 0;
    int nall = nl + (lineage ? 2 : 0) + nx;
    kiln_column_def *lcols = lineage || nx ? kiln_calloc((size_t)nall, sizeof *lcols) : NULL;
    kiln_schema ls = {nall, lcols};
    if ((lineage || nx) && !lcols)
        return KILN_OOM(err);
    if (lcols) {
        if (nl)
            memcpy(lcols, view->schema->cols, (size_t)nl * sizeof *lcols);
        if (lineage) {
            lcols[nl] = lineage_cols[0];
            lcols[nl + 1] = lineage_cols[1];
        }
        if (nx)
            memcpy(lcols + nall - nx, extra->cols, (size_t)nx * sizeof *lcols);
    }
    const kiln_schema *rs = lcols ? &ls : view->schema;
    kiln_buf_init(&key, 1 << 20);
    int rc = task_reader_open(&tr, view, task, rs, NULL, NULL, err);
    if (rc) {
        kiln_buf_free(&key);
        kiln_free(lcols);
        return rc;
    }
    tr.posv = NULL;
    tr.posn = tr.poscap = 0;
    tr.want_pos = fnpos != NULL;
    if ((rc = kiln_batch_new(&b, rs, 8192 + 65536, 0, err)))
        goto done;
    for (;;) {
        kiln_batch_clear(b);
        tr.posn = 0;
        int more = task_reader_step(&tr, b, NULL, &key, err);
        if (more < 0) {
            rc = more;
            goto done;
        }
        if (fnpos && tr.posn != b->nrows) {
            rc = kiln_err_set(err, KILN_EINTERNAL, "%s: row positions lost step with the rows",
                              task->data->df.file_path);
            goto done;
        }
        if (b->nrows && (rc = fnpos ? fnpos(ctx, b, tr.posv, err) : fn(ctx, b, err)))
            goto done;
        if (more == 0)
            break;
    }
    rc = 0;
done:
    kiln_batch_free(b);
    kiln_buf_free(&key);
    kiln_free(tr.posv);
    task_reader_close(&tr);
    kiln_free(lcols);
    return rc;
}

int kiln_lake_task_read(const kiln_lake_view *view, const kiln_lake_task *task,
                        int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err), void *ctx, kiln_err *err)
{
    return task_read(view, task, fn, NULL, ctx, 0, NULL, err);
}

int kiln_lake__task_read_pos(const kiln_lake_view *view, const kiln_lake_task *task,
                             int (*fn)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err), void *ctx,
                             kiln_err *err)
{
    return task_read(view, task, NULL, fn, ctx, 0, NULL, err);
}

/* The fields inside structs that pred's terms name (a kiln_lake_pred
 * parsed against kiln_lake_view_leaf_schema), as extra columns to read. */
static int pred_leaf_cols(const kiln_lake_view *view, const kiln_lake_pred *pred, kiln_arena *a, kiln_schema *out,
                          kiln_err *err)
{
    out->ncols = 0;
    out->cols = NULL;
    if (!pred || !pred->nterms)
        return 0;
    kiln_schema xs;
    int rc = kiln_lake_view_leaf_schema(view, a, &xs, err);
    if (rc)
        return rc;
    kiln_column_def *cols = kiln_arena_alloc(a, (size_t)pred->nterms * sizeof *cols);
    if (!cols)
        return KILN_OOM(err);
    for (int i = 0; i < pred->nterms; i++) {
        int ci = col_by_id(&xs, pred->terms[i].field_id);
        if (ci < view->schema->ncols || col_by_id(out, xs.cols[ci].field_id) >= 0)
            continue; /* a top-level column (read anyway), or named twice */
        cols[out->ncols] = xs.cols[ci];
        out->cols = cols;
        out->ncols++;
    }
    return 0;
}

int kiln_lake__task_read_where(const kiln_lake_view *view, const kiln_lake_task *task, const kiln_lake_pred *pred,
                               int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err),
                               int (*fnpos)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err),
                               void *ctx, kiln_err *err)
{
    kiln_arena *a = kiln_arena_new(4096);
    if (!a)
        return KILN_OOM(err);
    kiln_schema extra;
    int rc = pred_leaf_cols(view, pred, a, &extra, err);
    if (!rc)
        rc = task_read(view, task, fn, fnpos, ctx, 0, extra.ncols ? &extra : NULL, err);
    kiln_arena_free(a);
    return rc;
}

int kiln_lake__task_read_lineage(const kiln_lake_view *view, const kiln_lake_task *task,
                                 int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err),
                                 int (*fnpos)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err),
                                 void *ctx, kiln_err *err)
{
    return task_read(view, task, fn, fnpos, ctx, 1, NULL, err);
}

int kiln_lake__task_posdeletes(const kiln_lake_view *view, const kiln_lake_task *task, kiln_i64set *set,
                               const kiln_lake_entry **dv, kiln_arena *a, kiln_err *err)
{
    *dv = NULL;
    const char *path = task->data->df.file_path;
    for (size_t k = 0; k < task->ndeletes; k++) {
        const kiln_lake_entry *d = task->deletes[k];
        if (d->df.content != KILN_LAKE_CONTENT_POS_DELETES)
            continue;
        int rc = load_posdel(set, view, d, path, a, err);
        if (rc)
            return rc;
        if (d->df.file_format && strcasecmp(d->df.file_format, "PUFFIN") == 0 && d->df.referenced_data_file &&
            strcmp(d->df.referenced_data_file, path) == 0) {
            if (*dv)
                return kiln_err_set(err, KILN_EFORMAT, "%s: two deletion vectors apply to this data file", path);
            *dv = d;
        }
    }
    return 0;
}

/* ================================================================ scan */

struct kiln_lake_scan {
    kiln_arena *arena;
    kiln_lake_view view;
    kiln_arena *view_arena; /* owns the view when the scan built it */
    kiln_lake_plan *plan;
    kiln_lake_pred pred;
    int has_pred;
    kiln_schema work; /* projected columns + predicate columns */
    kiln_schema outs; /* projected columns */
    kiln_batch *wb;   /* work batch */
    kiln_batch *ob;   /* output batch */
    size_t batch_rows;
    size_t next_task;
    int open;
    task_reader tr;
    kiln_buf key;
};

/* A field inside a nested column as a scan column, by its dotted path
 * ("s.a", "payload.commits.sha", "m.value", "l.element"): lists are stepped
 * through to their element (or by an explicit "element"), a map is entered
 * by "key" or "value". The column is named by the path and carries the
 * field's id; a primitive reached through structs only is a column of its
 * own kiln type, anything else JSON. KILN_ENOTFOUND when there is no such
 * field. */
static int nested_path_col(const kiln_lake_view *view, const char *path, kiln_arena *a, kiln_column_def *out,
                           kiln_err *err)
{
    const kiln_lake_schema *ls = view->lschema;
    const char *dot = strchr(path, '.');
    if (!ls || !dot)
        return KILN_ENOTFOUND;
    const kiln_lake_field *top = NULL;
    for (size_t i = 0; i < ls->nfields; i++)
        if (strlen(ls->fields[i].name) == (size_t)(dot - path) && !strncmp(ls->fields[i].name, path, dot - path))
            top = &ls->fields[i];
    if (!top)
        return KILN_ENOTFOUND;
    const kiln_lake_type *t = top->type;
    int32_t id = top->id;
    int rep = 0;
    const char *p = dot + 1;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t len = e ? (size_t)(e - p) : strlen(p);
#define SEG_IS(lit) (len == sizeof(lit) - 1 && !strncmp(p, lit, len))
        if (t->kind == KILN_LAKE_LIST) {
            id = t->element_id;
            t = t->element;
            rep = 1;
            if (SEG_IS("element"))
                goto next;
            while (t->kind == KILN_LAKE_LIST) {
                id = t->element_id;
                t = t->element;
            }
        }
        if (t->kind == KILN_LAKE_MAP) {
            rep = 1;
            if (SEG_IS("key")) {
                id = t->key_id;
                t = t->key;
                goto next;
            }
            if (SEG_IS("value")) {
                id = t->value_id;
                t = t->value;
                goto next;
            }
            return kiln_err_set(err, KILN_ENOTFOUND, "no field \"%.*s\" in \"%s\": a map is entered by key or value",
                                (int)len, p, path);
        }
#undef SEG_IS
        if (t->kind != KILN_LAKE_STRUCT)
            return kiln_err_set(err, KILN_ENOTFOUND, "no field \"%.*s\" in \"%s\"", (int)len, p, path);
        {
            const kiln_lake_field *hit = NULL;
            for (size_t i = 0; i < t->nfields; i++)
                if (strlen(t->fields[i].name) == len && !strncmp(t->fields[i].name, p, len))
                    hit = &t->fields[i];
            if (!hit)
                return kiln_err_set(err, KILN_ENOTFOUND, "no field \"%.*s\" in \"%s\"", (int)len, p, path);
            id = hit->id;
            t = hit->type;
        }
    next:
        p += len;
        if (*p == '.')
            p++;
    }
    memset(out, 0, sizeof *out);
    if (!(out->name = kiln_arena_strndup(a, path, strlen(path))))
        return KILN_OOM(err);
    out->field_id = id;
    out->type = KILN_T_JSON;
    int prim = t->kind != KILN_LAKE_STRUCT && t->kind != KILN_LAKE_LIST && t->kind != KILN_LAKE_MAP;
    if (!rep && prim) {
        kiln_type kt;
        int rc = kiln_lake_kind_to_type(t, &kt, err);
        if (rc)
            return kiln_err_prefix(err, "column %s (field id %d): ", path, (int)id);
        out->type = kt;
        out->precision = t->precision;
        out->scale = t->scale;
        if (t->kind == KILN_LAKE_TIMESTAMP_NS || t->kind == KILN_LAKE_TIMESTAMPTZ_NS)
            out->scale = KILN_LAKE_NS_TEXT_SCALE;
    } else if (prim && (t->kind == KILN_LAKE_TIMESTAMP_NS || t->kind == KILN_LAKE_TIMESTAMPTZ_NS)) {
        out->type = KILN_T_JSON;
    }
    return 0;
}

/* Every primitive reached from a top-level column through structs only,
 * appended to cols as nested_path_col makes it (for --where). */
static int add_struct_leaves(const kiln_lake_view *view, const kiln_lake_field *fs, size_t n, const char *prefix,
                             kiln_arena *a, kiln_column_def *cols, int *nc, int cap, int depth, kiln_err *err)
{
    for (size_t i = 0; i < n && depth < 64; i++) {
        const kiln_lake_type *t = fs[i].type;
        char *path = prefix ? kiln_sprintf("%s.%s", prefix, fs[i].name) : kiln_sprintf("%s", fs[i].name);
        if (!path)
            return KILN_OOM(err);
        int rc = 0;
        if (t->kind == KILN_LAKE_STRUCT)
            rc = add_struct_leaves(view, t->fields, t->nfields, path, a, cols, nc, cap, depth + 1, err);
        else if (prefix && t->kind != KILN_LAKE_LIST && t->kind != KILN_LAKE_MAP && *nc < cap) {
            kiln_err e = {0};
            if (nested_path_col(view, path, a, &cols[*nc], &e) == 0 && cols[*nc].type != KILN_T_JSON)
                (*nc)++;
        }
        kiln_free(path);
        if (rc)
            return rc;
    }
    return 0;
}

/* One path of kiln_lake_view_nested_schema: a leaf reached through a list
 * or map (or the list of primitives itself) as its JSON column, when the
 * path resolves and the column is not already there. */
static int add_rep_leaf(const kiln_lake_view *view, const char *path, kiln_arena *a, kiln_schema *out, int cap,
                        kiln_err *err)
{
    if (out->ncols >= cap || strlen(path) >= 256) /* --columns takes names under 256 bytes */
        return 0;
    kiln_column_def *c = (kiln_column_def *)&out->cols[out->ncols];
    kiln_err e = {0};
    int rc = nested_path_col(view, path, a, c, &e);
    if (rc == KILN_ENOMEM)
        return KILN_OOM(err);
    if (rc)
        return 0; /* a path the reader cannot take (an unsupported leaf type): no column */
    for (int i = 0; i < out->ncols; i++)
        if (out->cols[i].field_id == c->field_id || !strcmp(out->cols[i].name, c->name))
            return 0;
    c->type = KILN_T_JSON; /* values of every element: a JSON array */
    c->precision = c->scale = 0;
    out->ncols++;
    return 0;
}

/* Walk t (reached by path; rep when a list or map is above it) adding the
 * leaves kiln_lake_view_nested_schema describes. */
static int add_rep_leaves(const kiln_lake_view *view, const kiln_lake_type *t, const char *path, int rep, int top,
                          kiln_arena *a, kiln_schema *out, int cap, int depth, kiln_err *err)
{
    int rc = 0;
    if (depth >= 64 || out->ncols >= cap)
        return 0;
    while (t->kind == KILN_LAKE_LIST) {
        t = t->element;
        rep = 1;
    }
    if (t->kind == KILN_LAKE_STRUCT) {
        for (size_t i = 0; i < t->nfields && !rc; i++) {
            char *sub = kiln_sprintf("%s.%s", path, t->fields[i].name);
            if (!sub)
                return KILN_OOM(err);
            rc = add_rep_leaves(view, t->fields[i].type, sub, rep, 0, a, out, cap, depth + 1, err);
            kiln_free(sub);
        }
        return rc;
    }
    if (t->kind == KILN_LAKE_MAP) {
        for (int k = 0; k < 2 && !rc; k++) {
            char *sub = kiln_sprintf("%s.%s", path, k ? "value" : "key");
            if (!sub)
                return KILN_OOM(err);
            rc = add_rep_leaves(view, k ? t->value : t->key, sub, 1, 0, a, out, cap, depth + 1, err);
            kiln_free(sub);
        }
        return rc;
    }
    /* a primitive: only through a list or map (struct-only leaves are
     * kiln_lake_view_leaf_schema's), and never a top-level list itself */
    return rep && !top ? add_rep_leaf(view, path, a, out, cap, err) : 0;
}

static int count_all_leaves(const kiln_lake_type *t, int depth)
{
    if (depth >= 64)
        return 0;
    switch (t->kind) {
    case KILN_LAKE_STRUCT: {
        int c = 0;
        for (size_t i = 0; i < t->nfields; i++)
            c += count_all_leaves(t->fields[i].type, depth + 1);
        return c;
    }
    case KILN_LAKE_LIST: return count_all_leaves(t->element, depth + 1);
    case KILN_LAKE_MAP: return count_all_leaves(t->key, depth + 1) + count_all_leaves(t->value, depth + 1);
    default: return 1;
    }
}

static int count_struct_leaves(const kiln_lake_field *fs, size_t n, int depth)
{
    int c = 0;
    for (size_t i = 0; i < n && depth < 64; i++)
        c += fs[i].type->kind == KILN_LAKE_STRUCT
                 ? count_struct_leaves(fs[i].type->fields, fs[i].type->nfields, depth + 1)
                 : 1;
    return c;
}

int kiln_lake_view_leaf_schema(const kiln_lake_view *view, kiln_arena *a, kiln_schema *out, kiln_err *err)
{
    const kiln_schema *ts = view->schema;
    int nleaves = view->lschema ? count_struct_leaves(view->lschema->fields, view->lschema->nfields, 0) : 0;
    kiln_column_def *xcols = kiln_arena_alloc(a, (size_t)(ts->ncols + nleaves + 1) * sizeof *xcols);
    if (!xcols)
        return KILN_OOM(err);
    memcpy(xcols, ts->cols, (size_t)ts->ncols * sizeof *xcols);
    out->cols = xcols;
    out->ncols = ts->ncols;
    if (view->lschema && nleaves)
        return add_struct_leaves(view, view->lschema->fields, view->lschema->nfields, NULL, a, xcols, &out->ncols,
                                 ts->ncols + nleaves, 0, err);
    return 0;
}

int kiln_lake_view_nested_schema(const kiln_lake_view *view, kiln_arena *a, kiln_schema *out, kiln_err *err)
{
    kiln_schema xs;
    int rc = kiln_lake_view_leaf_schema(view, a, &xs, err);
    if (rc)
        return rc;
    int n = 0;
    for (size_t i = 0; view->lschema && i < view->lschema->nfields; i++)
        n += count_all_leaves(view->lschema->fields[i].type, 0);
    kiln_column_def *cols = kiln_arena_alloc(a, (size_t)(xs.ncols + n + 1) * sizeof *cols);
    if (!cols)
        return KILN_OOM(err);
    memcpy(cols, xs.cols, (size_t)xs.ncols * sizeof *cols);
    out->cols = cols;
    out->ncols = xs.ncols;
    for (size_t i = 0; view->lschema && i < view->lschema->nfields && !rc; i++) {
        const kiln_lake_field *f = &view->lschema->fields[i];
        if (kiln_schema_find(view->schema, f->name) >= 0)
            rc = add_rep_leaves(view, f->type, f->name, 0, 1, a, out, xs.ncols + n, 0, err);
    }
    return rc;
}

static int add_work_col(kiln_column_def *cols, int *n, const kiln_column_def *c)
{
    for (int i = 0; i < *n; i++)
        if (cols[i].field_id == c->field_id)
            return i;
    cols[*n] = *c;
    return (*n)++;
}

int kiln_lake_scan_open_view(kiln_lake_scan **out, const kiln_lake_view *view, const kiln_lake_scan_opts *opts,
                             kiln_err *err)
{
    int rc = 0;
    kiln_lake_scan *s = kiln_calloc(1, sizeof *s);
    if (!s || !(s->arena = kiln_arena_new(64 * 1024))) {
        kiln_free(s);
        return KILN_OOM(err);
    }
    kiln_buf_init(&s->key, 1 << 20);
    s->view = *view;
    s->batch_rows = opts && opts->batch_rows ? opts->batch_rows : 8192;
    const kiln_schema *ts = view->schema;
    /* xs: the table's columns, then every leaf reached through structs
     * only by its dotted path ("s.a"), for --where */
    int nleaves = view->lschema ? count_struct_leaves(view->lschema->fields, view->lschema->nfields, 0) : 0;
    int ncomma = 0;
    for (const char *q = opts && opts->columns ? opts->columns : ""; *q; q++)
        ncomma += *q == ',';
    kiln_schema *xs = kiln_arena_alloc(s->arena, sizeof *xs);
    kiln_column_def *wcols = kiln_arena_alloc(s->arena, (size_t)(ts->ncols + nleaves + ncomma + 3) * sizeof *wcols);
    if (!wcols || !xs) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake_view_leaf_schema(view, s->arena, xs, err)))
        goto done;
    int nw = 0, nout = 0;
    if (opts && opts->columns && *opts->columns) {
        const char *p = opts->columns;
        while (*p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            while (n && *p == ' ')
                p++, n--;
            while (n && p[n - 1] == ' ')
                n--;
            char name[256];
            if (n == 0 || n >= sizeof name) {
                rc = kiln_err_set(err, KILN_EINVAL, "--columns: empty or too long column name");
                goto done;
            }
            memcpy(name, p, n);
            name[n] = 0;
            int ci = kiln_schema_find(ts, name);
            const kiln_column_def *lc = ci < 0 ? kiln_lake_lineage_col(name, 0) : NULL;
            kiln_column_def nc;
            if (ci < 0 && !lc && strchr(name, '.')) { /* a field inside a nested column */
                int nrc = nested_path_col(view, name, s->arena, &nc, err);
                if (nrc && nrc != KILN_ENOTFOUND) {
                    rc = nrc;
                    goto done;
                }
                if (nrc == 0)
                    lc = &nc;
                else if (err->code) {
                    kiln_err_prefix(err, "--columns: ");
                    rc = KILN_ENOTFOUND;
                    goto done;
                }
            }
            if (ci < 0 && !lc) {
                rc = kiln_err_set(err, KILN_ENOTFOUND, "--columns: no column '%s' in the table", name);
                goto done;
            }
            add_work_col(wcols, &nw, lc ? lc : &ts->cols[ci]);
            p = e ? e + 1 : p + n;
        }
    } else {
        for (int i = 0; i < ts->ncols; i++)
            add_work_col(wcols, &nw, &ts->cols[i]);
    }
    nout = nw;
    if (opts && opts->where && *opts->where) {
        if ((rc = kiln_lake_pred_parse(&s->pred, s->arena, xs, opts->where, err)))
            goto done;
        s->has_pred = 1;
        for (int i = 0; i < s->pred.nterms; i++) {
            int ci = col_by_id(xs, s->pred.terms[i].field_id);
            if (ci >= 0)
                add_work_col(wcols, &nw, &xs->cols[ci]);
        }
    }
    if ((rc = kiln_lake_plan_new(&s->plan, &s->view, s->has_pred ? &s->pred : NULL, err)))
        goto done;
    /* equality-delete key columns must be read even when not projected */
    for (size_t i = 0; i < s->plan->live.len; i++) {
        const kiln_lake_datafile *d = &s->plan->live.items[i]->df;
        if (d->content != KILN_LAKE_CONTENT_EQ_DELETES)
            continue;
        for (int k = 0; k < d->nequality_ids; k++) {
            int ci = col_by_id(ts, d->equality_ids[k]);
            if (ci >= 0)
                add_work_col(wcols, &nw, &ts->cols[ci]);
        }
    }
    s->work.ncols = nw;
    s->work.cols = wcols;
    s->outs.ncols = nout;
    s->outs.cols = wcols;
    if ((rc = kiln_batch_new(&s->wb, &s->work, s->batch_rows + 65536, 0, err)) ||
        (rc = kiln_batch_new(&s->ob, &s->outs, s->batch_rows + 65536, 0, err)))
        goto done;
done:
    if (rc) {
        kiln_lake_scan_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int kiln_lake_scan_open_meta(kiln_lake_scan **out, const kiln_lake_meta *meta, const kiln_lake_scan_opts *opts,
                             kiln_err *err)
{
    kiln_arena *a = kiln_arena_new(16 * 1024);
    kiln_lake_view v;
    int64_t sid = -1;
    int rc;
    if (!a)
        return KILN_OOM(err);
    const char *what = opts && opts->as_of && *opts->as_of ? opts->as_of : opts && opts->ref ? opts->ref : NULL;
    if ((rc = kiln_lake_meta_resolve(meta, what, &sid, err)))
        goto done;
    if ((rc = kiln_lake_view_from_meta(&v, a, meta, sid, opts ? &opts->remap : NULL, err)))
        goto done;
    if ((rc = kiln_lake_scan_open_view(out, &v, opts, err)))
        goto done;
    (*out)->view_arena = a; /* the view's memory lives as long as the scan */
    a = NULL;
done:
    kiln_arena_free(a);
    return rc;
}

int kiln_lake_scan_open(kiln_lake_scan **out, kiln_lake_table *t, const kiln_lake_scan_opts *opts, kiln_err *err)
{
    return kiln_lake_scan_open_meta(out, kiln_lake_table_meta(t), opts, err);
}

const kiln_schema *kiln_lake_scan_schema(const kiln_lake_scan *s) { return &s->outs; }
const kiln_lake_plan_stats *kiln_lake_scan_plan_stats(const kiln_lake_scan *s) { return &s->plan->stats; }
int64_t kiln_lake_scan_snapshot_id(const kiln_lake_scan *s) { return s->view.snapshot_id; }

int kiln_lake_scan_next(kiln_lake_scan *s, const kiln_batch **out, kiln_err *err)
{
    int rc;
    kiln_batch_clear(s->wb);
    while (s->wb->nrows < s->batch_rows) {
        if (!s->open) {
            if (s->next_task >= s->plan->tasks.len)
                break;
            if ((rc = task_reader_open(&s->tr, &s->view, &s->plan->tasks.items[s->next_task++], &s->work,
                                       s->has_pred ? &s->pred : NULL, &s->plan->stats, err)))
                return rc;
            s->open = 1;
        }
        rc = task_reader_step(&s->tr, s->wb, s->has_pred ? &s->pred : NULL, &s->key, err);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            task_reader_close(&s->tr);
            s->open = 0;
        }
    }
    if (!s->wb->nrows)
        return 0;
    /* project: the output columns are the first nout work columns */
    kiln_batch_clear(s->ob);
    for (size_t row = 0; row < s->wb->nrows; row++) {
        for (int c = 0; c < s->outs.ncols; c++)
            if ((rc = put_cell(s->ob, c, s->wb, c, row, err)))
                return rc;
        if ((rc = kiln_batch_end_row(s->ob, err)))
            return rc;
    }
    *out = s->ob;
    return 1;
}

void kiln_lake_scan_free(kiln_lake_scan *s)
{
    if (!s)
        return;
    if (s->open)
        task_reader_close(&s->tr);
    kiln_arena_free(s->view_arena);
    kiln_lake_plan_free(s->plan);
    kiln_batch_free(s->wb);
    kiln_batch_free(s->ob);
    kiln_buf_free(&s->key);
    kiln_arena_free(s->arena);
    kiln_free(s);
}
