/*
 * parquet_thrift.c - the Thrift compact protocol, just enough of it for
 * the Parquet footer (FileMetaData) and page headers, both directions.
 *
 * Decoding is strict: every varint is at most 10 bytes, every length and
 * list size is checked against the bytes left (an element takes at least
 * one byte, so a list can never claim more elements than bytes remain),
 * nesting is limited to MAX_DEPTH, and unknown fields are skipped with the
 * same checks. Errors carry the absolute file offset (base + position).
 * All memory comes from the caller's arena; binary fields point into the
 * input buffer.
 */
#include "format/parquet/parquet_int.h"

#include <string.h>

#define MAX_DEPTH 24
#define MAX_LIST (1u << 24)

/* Compact protocol type ids. */
enum {
    CT_STOP = 0,
    CT_TRUE = 1,
    CT_FALSE = 2,
    CT_BYTE = 3,
    CT_I16 = 4,
    CT_I32 = 5,
    CT_I64 = 6,
    CT_DOUBLE = 7,
    CT_BINARY = 8,
    CT_LIST = 9,
    CT_SET = 10,
    CT_MAP = 11,
    CT_STRUCT = 12
};

/* ------------------------------------------------------------- decoder */

typedef struct tr {
    const uint8_t *start, *p, *end;
    uint64_t base;
    int depth;
    kiln_arena *arena;
    kiln_err *err;
} tr;

static uint64_t tr_off(const tr *t) { return t->base + (uint64_t)(t->p - t->start); }

static int tr_trunc(tr *t, const char *what)
{
    return kiln_err_set_at(t->err, KILN_ETRUNC, tr_off(t),
                           "parquet thrift: %s runs past the end of the structure at byte %llu", what,
                           (unsigned long long)tr_off(t));
}

static int tr_bad(tr *t, const char *what)
{
    return kiln_err_set_at(t->err, KILN_EFORMAT, tr_off(t), "parquet thrift: corrupt %s at byte %llu", what,
                           (unsigned long long)tr_off(t));
}

static int rd_varint(tr *t, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (t->p >= t->end)
            return tr_trunc(t, "varint");
        uint8_t c = *t->p++;
        if (shift == 63 && (c & 0x7e))
            return tr_bad(t, "varint (over 64 bits)");
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return tr_bad(t, "varint (too long)");
}

static int rd_i64(tr *t, int64_t *out)
{
    uint64_t u;
    int rc = rd_varint(t, &u);
    if (rc)
        return rc;
    *out = (int64_t)((u >> 1) ^ (~(u & 1) + 1));
    return 0;
}

static int rd_i32(tr *t, int32_t *out)
{
    int64_t v;
    int rc = rd_i64(t, &v);
    if (rc)
        return rc;
    if (v < INT32_MIN || v > INT32_MAX)
        return tr_bad(t, "i32 (out of range)");
    *out = (int32_t)v;
    return 0;
}

static int rd_bin(tr *t, pq_bin *out)
{
    uint64_t n;
    int rc = rd_varint(t, &n);
    if (rc)
        return rc;
    if (n > (uint64_t)(t->end - t->p))
        return tr_trunc(t, "binary field");
    out->p = t->p;
    out->n = (uint32_t)n;
    out->set = 1;
    t->p += n;
    return 0;
}

static int rd_str(tr *t, const char **out)
{
    pq_bin b = {0};
    int rc = rd_bin(t, &b);
    if (rc)
        return rc;
    char *s = kiln_arena_strndup(t->arena, (const char *)b.p, b.n);
    if (!s)
        return KILN_OOM(t->err);
    *out = s;
    return 0;
}

static int rd_list(tr *t, int *etype, uint32_t *n)
{
    if (t->p >= t->end)
        return tr_trunc(t, "list header");
    uint8_t h = *t->p++;
    uint64_t size = h >> 4;
    *etype = h & 0x0f;
    if (size == 15) {
        int rc = rd_varint(t, &size);
        if (rc)
            return rc;
    }
    if (size > (uint64_t)(t->end - t->p) || size > MAX_LIST)
        return kiln_err_set_at(t->err, KILN_EFORMAT, tr_off(t),
                               "parquet thrift: list of %llu elements cannot fit in the %llu bytes left at byte %llu",
                               (unsigned long long)size, (unsigned long long)(t->end - t->p),
                               (unsigned long long)tr_off(t));
    *n = (uint32_t)size;
    return 0;
}

/* Field header: *type CT_STOP at the end of a struct. */
static int rd_field(tr *t, int16_t *last, int *type, int *id)
{
    if (t->p >= t->end)
        return tr_trunc(t, "struct");
    uint8_t h = *t->p++;
    *type = h & 0x0f;
    if (*type == CT_STOP) {
        *id = 0;
        return 0;
    }
    int delta = h >> 4;
    if (delta) {
        *id = *last + delta;
    } else {
        int64_t v;
        int rc = rd_i64(t, &v);
        if (rc)
            return rc;
        if (v < INT16_MIN || v > INT16_MAX)
            return tr_bad(t, "field id");
        *id = (int)v;
    }
    if (*id > INT16_MAX)
        return tr_bad(t, "field id");
    *last = (int16_t)*id;
    return 0;
}

static int skip(tr *t, int type);

static int skip_struct(tr *t)
{
    if (++t->depth > MAX_DEPTH)
        return tr_bad(t, "structure (nested too deeply)");
    int16_t last = 0;
    for (;;) {
        int type, id;
        int rc = rd_field(t, &last, &type, &id);
        if (rc)
            return rc;
        if (type == CT_STOP)
            break;
        if ((rc = skip(t, type)))
            return rc;
    }
    t->depth--;
    return 0;
}

static int skip(tr *t, int type)
{
    uint64_t u;
    int rc = 0;
    switch (type) {
    case CT_TRUE:
    case CT_FALSE: return 0;
    case CT_BYTE:
        if (t->p >= t->end)
            return tr_trunc(t, "byte");
        t->p++;
        return 0;
    case CT_I16:
    case CT_I32:
    case CT_I64: return rd_varint(t, &u);
    case CT_DOUBLE:
        if (t->end - t->p < 8)
            return tr_trunc(t, "double");
        t->p += 8;
        return 0;
    case CT_BINARY: {
        pq_bin b = {0};
        return rd_bin(t, &b);
    }
    case CT_LIST:
    case CT_SET: {
        int et;
        uint32_t n;
        if ((rc = rd_list(t, &et, &n)))
            return rc;
        if (++t->depth > MAX_DEPTH)
            return tr_bad(t, "list (nested too deeply)");
        for (uint32_t i = 0; i < n && !rc; i++)
            rc = (et == CT_TRUE || et == CT_FALSE) ? skip(t, CT_BYTE) : skip(t, et);
        t->depth--;
        return rc;
    }
    case CT_MAP: {
        if ((rc = rd_varint(t, &u)))
            return rc;
        if (u == 0)
            return 0;
        if (u > (uint64_t)(t->end - t->p))
            return tr_bad(t, "map size");
        if (t->p >= t->end)
            return tr_trunc(t, "map header");
        uint8_t kv = *t->p++;
        int kt = kv >> 4, vt = kv & 0x0f;
        if (++t->depth > MAX_DEPTH)
            return tr_bad(t, "map (nested too deeply)");
        for (uint64_t i = 0; i < u && !rc; i++) {
            rc = (kt == CT_TRUE || kt == CT_FALSE) ? skip(t, CT_BYTE) : skip(t, kt);
            if (!rc)
                rc = (vt == CT_TRUE || vt == CT_FALSE) ? skip(t, CT_BYTE) : skip(t, vt);
        }
        t->depth--;
        return rc;
    }
    case CT_STRUCT: return skip_struct(t);
    default: return tr_bad(t, "field type");
    }
}

/* Iterate the fields of a struct: FOR_FIELDS(t) { switch (id) ... default: skip } */
#define STRUCT_BEGIN(t)                                                                                                \
    do {                                                                                                               \
        if (++(t)->depth > MAX_DEPTH)                                                                                  \
            return tr_bad((t), "structure (nested too deeply)");                                                       \
    } while (0)

static int want(tr *t, int type, int expect, const char *what)
{
    if (type == expect)
        return 0;
    if (expect == CT_TRUE && type == CT_FALSE)
        return 0;
    return kiln_err_set_at(t->err, KILN_EFORMAT, tr_off(t),
                           "parquet thrift: field %s has wire type %d, expected %d, at byte %llu", what, type, expect,
                           (unsigned long long)tr_off(t));
}

static int rd_stats(tr *t, pq_stats *s)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        switch (id) {
        case 1: rc = want(t, type, CT_BINARY, "Statistics.max") ?: rd_bin(t, &s->max); break;
        case 2: rc = want(t, type, CT_BINARY, "Statistics.min") ?: rd_bin(t, &s->min); break;
        case 3:
            rc = want(t, type, CT_I64, "Statistics.null_count") ?: rd_i64(t, &s->null_count);
            s->has_null_count = 1;
            break;
        case 5: rc = want(t, type, CT_BINARY, "Statistics.max_value") ?: rd_bin(t, &s->max_value); break;
        case 6: rc = want(t, type, CT_BINARY, "Statistics.min_value") ?: rd_bin(t, &s->min_value); break;
        default: rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

/* TimeUnit union: returns the member id. */
static int rd_unit(tr *t, int *unit)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (type == CT_STRUCT && id >= 1 && id <= 3)
            *unit = id;
        if ((rc = skip(t, type)))
            return rc;
    }
    t->depth--;
    return 0;
}

/* Time/Timestamp: 1 isAdjustedToUTC, 2 unit. */
static int rd_time_type(tr *t, pq_schema_el *e)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (id == 1 && (type == CT_TRUE || type == CT_FALSE))
            e->lt_utc = type == CT_TRUE;
        else if (id == 2 && type == CT_STRUCT)
            rc = rd_unit(t, &e->lt_unit);
        else
            rc = skip(t, type);
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_decimal_type(tr *t, pq_schema_el *e)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (id == 1 && type == CT_I32)
            rc = rd_i32(t, &e->lt_scale);
        else if (id == 2 && type == CT_I32)
            rc = rd_i32(t, &e->lt_precision);
        else
            rc = skip(t, type);
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_int_type(tr *t, pq_schema_el *e)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (id == 1 && type == CT_BYTE) {
            if (t->p >= t->end)
                return tr_trunc(t, "IntType.bitWidth");
            e->lt_bits = (int8_t)*t->p++;
        } else if (id == 2 && (type == CT_TRUE || type == CT_FALSE)) {
            e->lt_signed = type == CT_TRUE;
        } else {
            rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_logical(tr *t, pq_schema_el *e)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (type != CT_STRUCT) {
            if ((rc = skip(t, type)))
                return rc;
            continue;
        }
        e->logical = id;
        switch (id) {
        case PQ_LT_DECIMAL: rc = rd_decimal_type(t, e); break;
        case PQ_LT_TIME:
        case PQ_LT_TIMESTAMP: rc = rd_time_type(t, e); break;
        case PQ_LT_INTEGER: rc = rd_int_type(t, e); break;
        default: rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_schema_el(tr *t, pq_schema_el *e)
{
    memset(e, 0, sizeof *e);
    e->type = -1;
    e->repetition = -1;
    e->converted = PQ_CT_NONE;
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        switch (id) {
        case 1: rc = want(t, type, CT_I32, "SchemaElement.type") ?: rd_i32(t, &e->type); break;
        case 2: rc = want(t, type, CT_I32, "SchemaElement.type_length") ?: rd_i32(t, &e->type_length); break;
        case 3: rc = want(t, type, CT_I32, "SchemaElement.repetition_type") ?: rd_i32(t, &e->repetition); break;
        case 4: rc = want(t, type, CT_BINARY, "SchemaElement.name") ?: rd_str(t, &e->name); break;
        case 5: rc = want(t, type, CT_I32, "SchemaElement.num_children") ?: rd_i32(t, &e->num_children); break;
        case 6: rc = want(t, type, CT_I32, "SchemaElement.converted_type") ?: rd_i32(t, &e->converted); break;
        case 7: rc = want(t, type, CT_I32, "SchemaElement.scale") ?: rd_i32(t, &e->scale); break;
        case 8: rc = want(t, type, CT_I32, "SchemaElement.precision") ?: rd_i32(t, &e->precision); break;
        case 9:
            rc = want(t, type, CT_I32, "SchemaElement.field_id") ?: rd_i32(t, &e->field_id);
            e->has_field_id = 1;
            break;
        case 10: rc = want(t, type, CT_STRUCT, "SchemaElement.logicalType") ?: rd_logical(t, e); break;
        default: rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    if (!e->name)
        return tr_bad(t, "SchemaElement (no name)");
    t->depth--;
    return 0;
}

static int rd_colmeta(tr *t, pq_colmeta *m)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    m->type = -1;
    m->data_page_offset = -1;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        switch (id) {
        case 1: rc = want(t, type, CT_I32, "ColumnMetaData.type") ?: rd_i32(t, &m->type); break;
        case 2: {
            int et;
            uint32_t n;
            if ((rc = want(t, type, CT_LIST, "ColumnMetaData.encodings") ?: rd_list(t, &et, &n)))
                return rc;
            for (uint32_t i = 0; i < n && !rc; i++) {
                int32_t enc;
                if (et != CT_I32)
                    return tr_bad(t, "ColumnMetaData.encodings element type");
                rc = rd_i32(t, &enc);
                if (!rc && enc >= 0 && enc < 32)
                    m->encodings |= 1u << enc;
            }
            break;
        }
        case 3: {
            int et;
            uint32_t n;
            if ((rc = want(t, type, CT_LIST, "ColumnMetaData.path_in_schema") ?: rd_list(t, &et, &n)))
                return rc;
            if (et != CT_BINARY)
                return tr_bad(t, "ColumnMetaData.path_in_schema element type");
            m->path = kiln_arena_alloc(t->arena, sizeof(char *) * (n ? n : 1));
            if (!m->path)
                return KILN_OOM(t->err);
            m->npath = (int)n;
            for (uint32_t i = 0; i < n && !rc; i++)
                rc = rd_str(t, &m->path[i]);
            break;
        }
        case 4: rc = want(t, type, CT_I32, "ColumnMetaData.codec") ?: rd_i32(t, &m->codec); break;
        case 5: rc = want(t, type, CT_I64, "ColumnMetaData.num_values") ?: rd_i64(t, &m->num_values); break;
        case 6:
            rc = want(t, type, CT_I64, "ColumnMetaData.total_uncompressed_size") ?: rd_i64(t, &m->total_uncompressed);
            break;
        case 7:
            rc = want(t, type, CT_I64, "ColumnMetaData.total_compressed_size") ?: rd_i64(t, &m->total_compressed);
            break;
        case 9: rc = want(t, type, CT_I64, "ColumnMetaData.data_page_offset") ?: rd_i64(t, &m->data_page_offset); break;
        case 11:
            rc =
                want(t, type, CT_I64, "ColumnMetaData.dictionary_page_offset") ?: rd_i64(t, &m->dictionary_page_offset);
            m->has_dict_offset = 1;
            break;
        case 12:
            rc = want(t, type, CT_STRUCT, "ColumnMetaData.statistics") ?: rd_stats(t, &m->stats);
            m->has_stats = 1;
            break;
        default: rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_chunk(tr *t, pq_chunk *c)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        switch (id) {
        case 1: { /* file_path: chunks in other files are not supported */
            pq_bin b;
            if ((rc = want(t, type, CT_BINARY, "ColumnChunk.file_path") ?: rd_bin(t, &b)))
                return rc;
            if (b.n)
                return kiln_err_set_at(t->err, KILN_EUNSUPP, tr_off(t),
                                       "parquet: column chunks stored in another file (file_path) are not supported");
            break;
        }
        case 2: rc = want(t, type, CT_I64, "ColumnChunk.file_offset") ?: rd_i64(t, &c->file_offset); break;
        case 3:
            rc = want(t, type, CT_STRUCT, "ColumnChunk.meta_data") ?: rd_colmeta(t, &c->meta);
            c->has_meta = 1;
            break;
        default: rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_rowgroup(tr *t, pq_rowgroup *g)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        switch (id) {
        case 1: {
            int et;
            uint32_t n;
            if ((rc = want(t, type, CT_LIST, "RowGroup.columns") ?: rd_list(t, &et, &n)))
                return rc;
            if (et != CT_STRUCT)
                return tr_bad(t, "RowGroup.columns element type");
            g->cols = kiln_arena_alloc(t->arena, sizeof(pq_chunk) * (n ? n : 1));
            if (!g->cols)
                return KILN_OOM(t->err);
            memset(g->cols, 0, sizeof(pq_chunk) * (n ? n : 1));
            g->ncols = (int)n;
            for (uint32_t i = 0; i < n && !rc; i++)
                rc = rd_chunk(t, &g->cols[i]);
            break;
        }
        case 2: rc = want(t, type, CT_I64, "RowGroup.total_byte_size") ?: rd_i64(t, &g->total_byte_size); break;
        case 3: rc = want(t, type, CT_I64, "RowGroup.num_rows") ?: rd_i64(t, &g->num_rows); break;
        case 5:
            rc = want(t, type, CT_I64, "RowGroup.file_offset") ?: rd_i64(t, &g->file_offset);
            g->has_file_offset = 1;
            break;
        case 6:
            rc = want(t, type, CT_I64, "RowGroup.total_compressed_size") ?: rd_i64(t, &g->total_compressed_size);
            break;
        default: rc = skip(t, type);
        }
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_kv(tr *t, const char **key, const char **value)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    *key = NULL;
    *value = NULL;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (id == 1 && type == CT_BINARY)
            rc = rd_str(t, key);
        else if (id == 2 && type == CT_BINARY)
            rc = rd_str(t, value);
        else
            rc = skip(t, type);
        if (rc)
            return rc;
    }
    if (!*key)
        return tr_bad(t, "KeyValue (no key)");
    t->depth--;
    return 0;
}

int kiln_parquet__decode_filemeta(pq_filemeta *m, const uint8_t *buf, size_t n, kiln_arena *arena, uint64_t base_offset,
                                  kiln_err *err)
{
    memset(m, 0, sizeof *m);
    tr t = {buf, buf, buf + n, base_offset, 0, arena, err};
    tr *tp = &t;
    int16_t last = 0;
    int rc, have_schema = 0, have_rows = 0, have_rgs = 0;
    for (;;) {
        int type, id;
        if ((rc = rd_field(tp, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        int et;
        uint32_t cnt;
        switch (id) {
        case 1: rc = want(tp, type, CT_I32, "FileMetaData.version") ?: rd_i32(tp, &m->version); break;
        case 2:
            if ((rc = want(tp, type, CT_LIST, "FileMetaData.schema") ?: rd_list(tp, &et, &cnt)))
                return rc;
            if (et != CT_STRUCT)
                return tr_bad(tp, "FileMetaData.schema element type");
            m->schema = kiln_arena_alloc(arena, sizeof(pq_schema_el) * (cnt ? cnt : 1));
            if (!m->schema)
                return KILN_OOM(err);
            m->nschema = (int)cnt;
            for (uint32_t i = 0; i < cnt && !rc; i++)
                rc = rd_schema_el(tp, &m->schema[i]);
            have_schema = 1;
            break;
        case 3:
            rc = want(tp, type, CT_I64, "FileMetaData.num_rows") ?: rd_i64(tp, &m->num_rows);
            have_rows = 1;
            break;
        case 4:
            if ((rc = want(tp, type, CT_LIST, "FileMetaData.row_groups") ?: rd_list(tp, &et, &cnt)))
                return rc;
            if (et != CT_STRUCT)
                return tr_bad(tp, "FileMetaData.row_groups element type");
            m->rgs = kiln_arena_alloc(arena, sizeof(pq_rowgroup) * (cnt ? cnt : 1));
            if (!m->rgs)
                return KILN_OOM(err);
            memset(m->rgs, 0, sizeof(pq_rowgroup) * (cnt ? cnt : 1));
            m->nrg = (int)cnt;
            for (uint32_t i = 0; i < cnt && !rc; i++)
                rc = rd_rowgroup(tp, &m->rgs[i]);
            have_rgs = 1;
            break;
        case 5:
            if ((rc = want(tp, type, CT_LIST, "FileMetaData.key_value_metadata") ?: rd_list(tp, &et, &cnt)))
                return rc;
            if (et != CT_STRUCT)
                return tr_bad(tp, "FileMetaData.key_value_metadata element type");
            m->kv_keys = kiln_arena_alloc(arena, sizeof(char *) * (cnt ? cnt : 1));
            m->kv_values = kiln_arena_alloc(arena, sizeof(char *) * (cnt ? cnt : 1));
            if (!m->kv_keys || !m->kv_values)
                return KILN_OOM(err);
            m->nkv = (int)cnt;
            for (uint32_t i = 0; i < cnt && !rc; i++)
                rc = rd_kv(tp, &m->kv_keys[i], &m->kv_values[i]);
            break;
        case 6: rc = want(tp, type, CT_BINARY, "FileMetaData.created_by") ?: rd_str(tp, &m->created_by); break;
        case 7:
            if ((rc = want(tp, type, CT_LIST, "FileMetaData.column_orders") ?: rd_list(tp, &et, &cnt)))
                return rc;
            m->ncolumn_orders = (int)cnt;
            for (uint32_t i = 0; i < cnt && !rc; i++)
                rc = skip(tp, et);
            break;
        case 8:
        case 9: return kiln_err_set_at(err, KILN_EUNSUPP, tr_off(tp), "parquet: encrypted files are not supported");
        default: rc = skip(tp, type);
        }
        if (rc)
            return rc;
    }
    if (!have_schema || !have_rows || !have_rgs)
        return kiln_err_set_at(err, KILN_EFORMAT, base_offset,
                               "parquet: footer at byte %llu lacks a required field (schema, num_rows or row_groups)",
                               (unsigned long long)base_offset);
    return 0;
}

static int rd_data_header(tr *t, pq_page_header *h, int v2)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (id == 1 && type == CT_I32)
            rc = rd_i32(t, &h->num_values);
        else if (!v2 && id == 2 && type == CT_I32)
            rc = rd_i32(t, &h->encoding);
        else if (!v2 && id == 3 && type == CT_I32)
            rc = rd_i32(t, &h->def_encoding);
        else if (!v2 && id == 4 && type == CT_I32)
            rc = rd_i32(t, &h->rep_encoding);
        else if (v2 && id == 2 && type == CT_I32)
            rc = rd_i32(t, &h->num_nulls);
        else if (v2 && id == 3 && type == CT_I32)
            rc = rd_i32(t, &h->num_rows);
        else if (v2 && id == 4 && type == CT_I32)
            rc = rd_i32(t, &h->encoding);
        else if (v2 && id == 5 && type == CT_I32)
            rc = rd_i32(t, &h->def_len);
        else if (v2 && id == 6 && type == CT_I32)
            rc = rd_i32(t, &h->rep_len);
        else if (v2 && id == 7 && (type == CT_TRUE || type == CT_FALSE))
            h->is_compressed = type == CT_TRUE;
        else
            rc = skip(t, type);
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

static int rd_dict_header(tr *t, pq_page_header *h)
{
    STRUCT_BEGIN(t);
    int16_t last = 0;
    int rc;
    for (;;) {
        int type, id;
        if ((rc = rd_field(t, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        if (id == 1 && type == CT_I32)
            rc = rd_i32(t, &h->num_values);
        else if (id == 2 && type == CT_I32)
            rc = rd_i32(t, &h->encoding);
        else
            rc = skip(t, type);
        if (rc)
            return rc;
    }
    t->depth--;
    return 0;
}

int kiln_parquet__decode_page_header(pq_page_header *h, const uint8_t *buf, size_t n, size_t *consumed,
                                     uint64_t base_offset, kiln_err *err)
{
    memset(h, 0, sizeof *h);
    h->type = -1;
    h->is_compressed = 1;
    tr t = {buf, buf, buf + n, base_offset, 0, NULL, err};
    tr *tp = &t;
    int16_t last = 0;
    int rc, have_type = 0, have_u = 0, have_c = 0;
    for (;;) {
        int type, id;
        if ((rc = rd_field(tp, &last, &type, &id)))
            return rc;
        if (type == CT_STOP)
            break;
        switch (id) {
        case 1:
            rc = want(tp, type, CT_I32, "PageHeader.type") ?: rd_i32(tp, &h->type);
            have_type = 1;
            break;
        case 2:
            rc = want(tp, type, CT_I32, "PageHeader.uncompressed_page_size") ?: rd_i32(tp, &h->uncompressed_size);
            have_u = 1;
            break;
        case 3:
            rc = want(tp, type, CT_I32, "PageHeader.compressed_page_size") ?: rd_i32(tp, &h->compressed_size);
            have_c = 1;
            break;
        case 5:
            rc = want(tp, type, CT_STRUCT, "PageHeader.data_page_header") ?: rd_data_header(tp, h, 0);
            h->has_data = 1;
            break;
        case 7:
            rc = want(tp, type, CT_STRUCT, "PageHeader.dictionary_page_header") ?: rd_dict_header(tp, h);
            h->has_dict = 1;
            break;
        case 8:
            rc = want(tp, type, CT_STRUCT, "PageHeader.data_page_header_v2") ?: rd_data_header(tp, h, 1);
            h->has_v2 = 1;
            break;
        default: rc = skip(tp, type);
        }
        if (rc)
            return rc;
    }
    if (!have_type || !have_u || !have_c)
        return kiln_err_set_at(err, KILN_EFORMAT, base_offset, "parquet: page header at byte %llu lacks type or sizes",
                               (unsigned long long)base_offset);
    if (h->uncompressed_size < 0 || h->compressed_size < 0)
        return kiln_err_set_at(err, KILN_EFORMAT, base_offset, "parquet: page header at byte %llu has a negative size",
                               (unsigned long long)base_offset);
    *consumed = (size_t)(t.p - t.start);
    return 0;
}

/* ------------------------------------------------------------- encoder */

typedef struct tw {
    kiln_buf *b;
    int16_t last[MAX_DEPTH];
    int depth;
    int rc;
    kiln_err *err;
} tw;

static void w_bytes(tw *w, const void *p, size_t n)
{
    if (!w->rc)
        w->rc = kiln_buf_append(w->b, p, n, w->err);
}

static void w_varint(tw *w, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    w_bytes(w, tmp, (size_t)n);
}

static void w_zz(tw *w, int64_t v) { w_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63)); }

static void w_field(tw *w, int type, int id)
{
    int delta = id - w->last[w->depth];
    if (delta > 0 && delta <= 15) {
        uint8_t h = (uint8_t)(delta << 4 | type);
        w_bytes(w, &h, 1);
    } else {
        uint8_t h = (uint8_t)type;
        w_bytes(w, &h, 1);
        w_zz(w, id);
    }
    w->last[w->depth] = (int16_t)id;
}

static void w_i32(tw *w, int id, int64_t v)
{
    w_field(w, CT_I32, id);
    w_zz(w, v);
}
static void w_i64(tw *w, int id, int64_t v)
{
    w_field(w, CT_I64, id);
    w_zz(w, v);
}
static void w_bool(tw *w, int id, int v) { w_field(w, v ? CT_TRUE : CT_FALSE, id); }

static void w_binv(tw *w, const void *p, size_t n)
{
    w_varint(w, n);
    w_bytes(w, p, n);
}
static void w_bin(tw *w, int id, const void *p, size_t n)
{
    w_field(w, CT_BINARY, id);
    w_binv(w, p, n);
}
static void w_str(tw *w, int id, const char *s) { w_bin(w, id, s, strlen(s)); }

static void w_list(tw *w, int id, int etype, size_t n)
{
    w_field(w, CT_LIST, id);
    if (n < 15) {
        uint8_t h = (uint8_t)(n << 4 | etype);
        w_bytes(w, &h, 1);
    } else {
        uint8_t h = (uint8_t)(0xf0 | etype);
        w_bytes(w, &h, 1);
        w_varint(w, n);
    }
}

static void w_begin(tw *w, int id)
{
    if (id)
        w_field(w, CT_STRUCT, id);
    if (w->depth + 1 >= MAX_DEPTH) {
        if (!w->rc)
            w->rc = kiln_err_set(w->err, KILN_EINTERNAL, "parquet thrift: nesting too deep");
        return;
    }
    w->last[++w->depth] = 0;
}

static void w_end(tw *w)
{
    uint8_t z = 0;
    w_bytes(w, &z, 1);
    if (w->depth > 0)
        w->depth--;
}

static void w_stats(tw *w, const pq_stats *s)
{
    w_begin(w, 12);
    if (s->max.set)
        w_bin(w, 1, s->max.p, s->max.n);
    if (s->min.set)
        w_bin(w, 2, s->min.p, s->min.n);
    if (s->has_null_count)
        w_i64(w, 3, s->null_count);
    if (s->max_value.set)
        w_bin(w, 5, s->max_value.p, s->max_value.n);
    if (s->min_value.set)
        w_bin(w, 6, s->min_value.p, s->min_value.n);
    w_end(w);
}

static void w_schema_el(tw *w, const pq_schema_el *e)
{
    w_begin(w, 0);
    if (e->type >= 0)
        w_i32(w, 1, e->type);
    if (e->type == KILN_PQT_FLBA)
        w_i32(w, 2, e->type_length);
    if (e->repetition >= 0)
        w_i32(w, 3, e->repetition);
    w_str(w, 4, e->name);
    if (e->type < 0)
        w_i32(w, 5, e->num_children);
    if (e->converted >= 0)
        w_i32(w, 6, e->converted);
    if (e->converted == PQ_CT_DECIMAL || e->logical == PQ_LT_DECIMAL) {
        w_i32(w, 7, e->scale);
        w_i32(w, 8, e->precision);
    }
    if (e->has_field_id)
        w_i32(w, 9, e->field_id);
    if (e->logical) {
        w_begin(w, 10);
        w_begin(w, e->logical);
        switch (e->logical) {
        case PQ_LT_DECIMAL:
            w_i32(w, 1, e->lt_scale);
            w_i32(w, 2, e->lt_precision);
            break;
        case PQ_LT_TIME:
        case PQ_LT_TIMESTAMP:
            w_bool(w, 1, e->lt_utc);
            w_begin(w, 2);
            w_begin(w, e->lt_unit);
            w_end(w);
            w_end(w);
            break;
        case PQ_LT_INTEGER: {
            w_field(w, CT_BYTE, 1);
            uint8_t bits = (uint8_t)e->lt_bits;
            w_bytes(w, &bits, 1);
            w_bool(w, 2, e->lt_signed);
            break;
        }
        default: break;
        }
        w_end(w);
        w_end(w);
    }
    w_end(w);
}

static void w_colmeta(tw *w, const pq_colmeta *m)
{
    w_begin(w, 3);
    w_i32(w, 1, m->type);
    int nenc = 0;
    for (int i = 0; i < 32; i++)
        nenc += (m->encodings >> i) & 1;
    w_list(w, 2, CT_I32, (size_t)nenc);
    for (int i = 0; i < 32; i++)
        if ((m->encodings >> i) & 1)
            w_zz(w, i);
    w_list(w, 3, CT_BINARY, (size_t)m->npath);
    for (int i = 0; i < m->npath; i++)
        w_binv(w, m->path[i], strlen(m->path[i]));
    w_i32(w, 4, m->codec);
    w_i64(w, 5, m->num_values);
    w_i64(w, 6, m->total_uncompressed);
    w_i64(w, 7, m->total_compressed);
    w_i64(w, 9, m->data_page_offset);
    if (m->has_dict_offset)
        w_i64(w, 11, m->dictionary_page_offset);
    if (m->has_stats)
        w_stats(w, &m->stats);
    w_end(w);
}

int kiln_parquet__encode_filemeta(kiln_buf *out, const pq_filemeta *m, kiln_err *err)
{
    tw w = {.b = out, .err = err};
    w.last[0] = 0;
    w_i32(&w, 1, m->version);
    w_list(&w, 2, CT_STRUCT, (size_t)m->nschema);
    for (int i = 0; i < m->nschema; i++)
        w_schema_el(&w, &m->schema[i]);
    w_i64(&w, 3, m->num_rows);
    w_list(&w, 4, CT_STRUCT, (size_t)m->nrg);
    for (int g = 0; g < m->nrg; g++) {
        const pq_rowgroup *rg = &m->rgs[g];
        w_begin(&w, 0);
        w_list(&w, 1, CT_STRUCT, (size_t)rg->ncols);
        for (int c = 0; c < rg->ncols; c++) {
            w_begin(&w, 0);
            w_i64(&w, 2, rg->cols[c].file_offset);
            if (rg->cols[c].has_meta)
                w_colmeta(&w, &rg->cols[c].meta);
            w_end(&w);
        }
        w_i64(&w, 2, rg->total_byte_size);
        w_i64(&w, 3, rg->num_rows);
        if (rg->has_file_offset)
            w_i64(&w, 5, rg->file_offset);
        w_i64(&w, 6, rg->total_compressed_size);
        w_field(&w, CT_I16, 7);
        w_zz(&w, g);
        w_end(&w);
    }
    if (m->nkv) {
        w_list(&w, 5, CT_STRUCT, (size_t)m->nkv);
        for (int i = 0; i < m->nkv; i++) {
            w_begin(&w, 0);
            w_str(&w, 1, m->kv_keys[i]);
            if (m->kv_values[i])
                w_str(&w, 2, m->kv_values[i]);
            w_end(&w);
        }
    }
    if (m->created_by)
        w_str(&w, 6, m->created_by);
    if (m->ncolumn_orders) {
        w_list(&w, 7, CT_STRUCT, (size_t)m->ncolumn_orders);
        for (int i = 0; i < m->ncolumn_orders; i++) {
            w_begin(&w, 0);
            w_begin(&w, 1); /* TYPE_ORDER: empty TypeDefinedOrder */
            w_end(&w);
            w_end(&w);
        }
    }
    w_end(&w);
    return w.rc;
}

int kiln_parquet__encode_page_header(kiln_buf *out, const pq_page_header *h, kiln_err *err)
{
    tw w = {.b = out, .err = err};
    w_i32(&w, 1, h->type);
    w_i32(&w, 2, h->uncompressed_size);
    w_i32(&w, 3, h->compressed_size);
    if (h->type == PQ_PAGE_DATA) {
        w_begin(&w, 5);
        w_i32(&w, 1, h->num_values);
        w_i32(&w, 2, h->encoding);
        w_i32(&w, 3, h->def_encoding);
        w_i32(&w, 4, h->rep_encoding);
        w_end(&w);
    } else if (h->type == PQ_PAGE_DICT) {
        w_begin(&w, 7);
        w_i32(&w, 1, h->num_values);
        w_i32(&w, 2, h->encoding);
        w_end(&w);
    } else if (h->type == PQ_PAGE_DATA_V2) {
        w_begin(&w, 8);
        w_i32(&w, 1, h->num_values);
        w_i32(&w, 2, h->num_nulls);
        w_i32(&w, 3, h->num_rows);
        w_i32(&w, 4, h->encoding);
        w_i32(&w, 5, h->def_len);
        w_i32(&w, 6, h->rep_len);
        w_bool(&w, 7, h->is_compressed);
        w_end(&w);
    }
    w_end(&w);
    return w.rc;
}
