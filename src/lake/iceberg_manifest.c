/*
 * iceberg_manifest.c - Iceberg v2 manifest lists and manifests (Avro OCF)
 * and the scalar machinery they need: partition transforms, single-value
 * bound serialization (spec App. D), value comparison.
 *
 * Writing uses the exact v2 schemas with field ids (the manifest list
 * schema is Java's, verbatim; a manifest's schema is built from the
 * partition spec, its partition record "r102" carrying the partition field
 * ids). Reading never trusts names: every field is found by its field id,
 * so Iceberg 1.0's "added_data_files_count" (id 504) reads like
 * "added_files_count". ADDED entries with null sequence numbers inherit
 * the manifest list's sequence_number, as the spec's inheritance rule says.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "format/avro/avro.h"
#include "lake/lake.h"
#include "lake/lake_io.h"

int kiln_lake_kind_to_type(const kiln_lake_type *t, kiln_type *out, kiln_err *err)
{
    switch (t->kind) {
    case KILN_LAKE_BOOLEAN: *out = KILN_T_BOOL; return 0;
    case KILN_LAKE_INT: *out = KILN_T_INT32; return 0;
    case KILN_LAKE_LONG: *out = KILN_T_INT64; return 0;
    case KILN_LAKE_TIME: *out = KILN_T_TIME; return 0;
    case KILN_LAKE_FLOAT: *out = KILN_T_FLOAT; return 0;
    case KILN_LAKE_DOUBLE: *out = KILN_T_DOUBLE; return 0;
    case KILN_LAKE_DECIMAL:
        if (t->precision < 1 || t->precision > 38)
            break;
        *out = t->precision > 18 ? KILN_T_DECIMAL_WIDE : KILN_T_DECIMAL;
        return 0;
    case KILN_LAKE_DATE: *out = KILN_T_DATE; return 0;
    case KILN_LAKE_TIMESTAMP: *out = KILN_T_TIMESTAMP; return 0;
    case KILN_LAKE_TIMESTAMPTZ: *out = KILN_T_TIMESTAMPTZ; return 0;
    case KILN_LAKE_TIMESTAMP_NS:
    case KILN_LAKE_TIMESTAMPTZ_NS: *out = KILN_T_STRING; return 0; /* exact text, as the Parquet reader gives it */
    case KILN_LAKE_STRING: *out = KILN_T_STRING; return 0;
    case KILN_LAKE_UUID: *out = KILN_T_UUID; return 0;
    case KILN_LAKE_FIXED:
    case KILN_LAKE_BINARY: *out = KILN_T_BINARY; return 0;
    case KILN_LAKE_STRUCT:
    case KILN_LAKE_LIST:
    case KILN_LAKE_MAP: *out = KILN_T_JSON; return 0; /* read as JSON text (docs/interop.md) */
    default: break;
    }
    return kiln_err_set(err, KILN_EUNSUPP, "Iceberg type %s is not supported by kiln's data path",
                        t->name ? t->name : "?");
}

/* ================================================================ transforms */

kiln_type kiln_lake_xform_result(kiln_lake_transform_kind x, kiln_type source)
{
    switch (x) {
    case KILN_LAKE_XF_DAY: return KILN_T_DATE;
    case KILN_LAKE_XF_YEAR:
    case KILN_LAKE_XF_MONTH:
    case KILN_LAKE_XF_HOUR:
    case KILN_LAKE_XF_BUCKET: return KILN_T_INT32;
    default: return source;
    }
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static size_t decimal_be(uint8_t out[8], int64_t v)
{
    uint8_t full[8];
    for (int i = 0; i < 8; i++)
        full[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
    size_t start = 0;
    while (start < 7) {
        uint8_t b = full[start], nx = full[start + 1];
        if ((b == 0x00 && !(nx & 0x80)) || (b == 0xff && (nx & 0x80)))
            start++;
        else
            break;
    }
    memcpy(out, full + start, 8 - start);
    return 8 - start;
}

int kiln_lake_xform_apply(const kiln_lake_pfield *pf, const kiln_lake_value *v, kiln_lake_value *out, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    if (v->is_null || pf->xform == KILN_LAKE_XF_VOID) {
        out->is_null = 1;
        return 0;
    }
    kiln_type st = pf->source_type;
    int is_ts = st == KILN_T_TIMESTAMP || st == KILN_T_TIMESTAMPTZ;
    int64_t days = 0;
    if (st == KILN_T_DATE)
        days = v->i;
    else if (is_ts)
        days = floordiv(v->i, 86400000000LL);
    switch (pf->xform) {
    case KILN_LAKE_XF_IDENTITY: *out = *v; return 0;
    case KILN_LAKE_XF_DAY:
        if (st != KILN_T_DATE && !is_ts)
            break;
        out->i = days;
        return 0;
    case KILN_LAKE_XF_HOUR:
        if (!is_ts)
            break;
        out->i = floordiv(v->i, 3600000000LL);
        return 0;
    case KILN_LAKE_XF_MONTH:
    case KILN_LAKE_XF_YEAR: {
        if (st != KILN_T_DATE && !is_ts)
            break;
        int y, m, d;
        kiln_civil_from_days(days, &y, &m, &d);
        out->i = pf->xform == KILN_LAKE_XF_YEAR ? (int64_t)(y - 1970) : (int64_t)(y - 1970) * 12 + (m - 1);
        return 0;
    }
    case KILN_LAKE_XF_BUCKET: {
        uint8_t buf[8];
        uint32_t h;
        if (st == KILN_T_STRING || st == KILN_T_BINARY) {
            h = kiln_lake_murmur3_32((const uint8_t *)v->bytes, v->len);
        } else if (st == KILN_T_DECIMAL) {
            size_t n = decimal_be(buf, v->i);
            h = kiln_lake_murmur3_32(buf, n);
        } else if (st == KILN_T_FLOAT || st == KILN_T_DOUBLE || st == KILN_T_BOOL) {
            break;
        } else {
            for (int i = 0; i < 8; i++)
                buf[i] = (uint8_t)((uint64_t)v->i >> (8 * i));
            h = kiln_lake_murmur3_32(buf, 8);
        }
        out->i = (int64_t)((h & 0x7fffffffu) % (uint32_t)pf->param);
        return 0;
    }
    case KILN_LAKE_XF_TRUNCATE: {
        int64_t w = pf->param;
        if (st == KILN_T_INT32 || st == KILN_T_INT64 || st == KILN_T_DECIMAL) {
            out->i = v->i - (((v->i % w) + w) % w);
            return 0;
        }
        if (st == KILN_T_BINARY) {
            out->bytes = v->bytes;
            out->len = v->len < (size_t)w ? v->len : (size_t)w;
            return 0;
        }
        if (st == KILN_T_STRING) {
            size_t i = 0, cps = 0;
            const uint8_t *p = v->bytes;
            while (i < v->len && cps < (size_t)w) {
                i++;
                while (i < v->len && (p[i] & 0xc0) == 0x80)
                    i++;
                cps++;
            }
            out->bytes = v->bytes;
            out->len = i;
            return 0;
        }
        break;
    }
    default: break;
    }
    return kiln_err_set(err, KILN_EUNSUPP, "partition field %s: transform does not apply to a %s column", pf->name,
                        kiln_type_name(st));
}

/* ================================================================ bounds */

static void put_le(uint8_t *out, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int kiln_lake_value_to_bound(kiln_type t, const kiln_lake_value *v, uint8_t *out, size_t cap)
{
    switch (t) {
    case KILN_T_BOOL:
        if (cap < 1)
            return KILN_ELIMIT;
        out[0] = v->i ? 1 : 0;
        return 1;
    case KILN_T_INT32:
    case KILN_T_DATE:
        if (cap < 4)
            return KILN_ELIMIT;
        put_le(out, (uint64_t)(uint32_t)(int32_t)v->i, 4);
        return 4;
    case KILN_T_INT64:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_TIME:
        if (cap < 8)
            return KILN_ELIMIT;
        put_le(out, (uint64_t)v->i, 8);
        return 8;
    case KILN_T_FLOAT: {
        if (cap < 4)
            return KILN_ELIMIT;
        float f = (float)v->d;
        uint32_t u;
        memcpy(&u, &f, 4);
        put_le(out, u, 4);
        return 4;
    }
    case KILN_T_DOUBLE: {
        if (cap < 8)
            return KILN_ELIMIT;
        uint64_t u;
        memcpy(&u, &v->d, 8);
        put_le(out, u, 8);
        return 8;
    }
    case KILN_T_DECIMAL: {
        if (cap < 8)
            return KILN_ELIMIT;
        return (int)decimal_be(out, v->i);
    }
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_UUID:
        if (cap < v->len)
            return KILN_ELIMIT;
        if (v->len)
            memcpy(out, v->bytes, v->len);
        return (int)v->len;
    case KILN_T_DECIMAL_WIDE: /* no bounds from kiln for these (read-only types) */
    case KILN_T_JSON: break;
    }
    return KILN_EUNSUPP;
}

int kiln_lake_value_from_bound(kiln_type t, const uint8_t *p, size_t n, kiln_lake_value *out)
{
    memset(out, 0, sizeof *out);
    switch (t) {
    case KILN_T_BOOL:
        if (n < 1)
            return KILN_EFORMAT;
        out->i = p[0] != 0;
        return 0;
    case KILN_T_INT32:
    case KILN_T_DATE:
        if (n != 4)
            return KILN_EFORMAT;
        out->i = (int32_t)(uint32_t)get_le(p, 4);
        return 0;
    case KILN_T_INT64:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ:
    case KILN_T_TIME:
        if (n == 4) { /* promoted from int/date */
            out->i = (int32_t)(uint32_t)get_le(p, 4);
            return 0;
        }
        if (n != 8)
            return KILN_EFORMAT;
        out->i = (int64_t)get_le(p, 8);
        return 0;
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE:
        if (n == 4) {
            uint32_t u = (uint32_t)get_le(p, 4);
            float f;
            memcpy(&f, &u, 4);
            out->d = f;
            return 0;
        }
        if (n == 8) {
            uint64_t u = get_le(p, 8);
            memcpy(&out->d, &u, 8);
            return 0;
        }
        return KILN_EFORMAT;
    case KILN_T_DECIMAL: {
        if (n < 1 || n > 8)
            return KILN_EFORMAT;
        uint64_t v = (p[0] & 0x80) ? ~(uint64_t)0 : 0;
        for (size_t i = 0; i < n; i++)
            v = (v << 8) | p[i];
        out->i = (int64_t)v;
        return 0;
    }
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_UUID:
        out->bytes = p;
        out->len = n;
        return 0;
    case KILN_T_DECIMAL_WIDE: /* 16-byte bounds: no pruning on them */
    case KILN_T_JSON: break;
    }
    return KILN_EUNSUPP;
}

int kiln_lake_value_cmp(kiln_type t, const kiln_lake_value *a, const kiln_lake_value *b)
{
    switch (t) {
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: return a->d < b->d ? -1 : a->d > b->d ? 1 : 0;
    case KILN_T_STRING:
    case KILN_T_BINARY: {
        size_t n = a->len < b->len ? a->len : b->len;
        int c = n ? memcmp(a->bytes, b->bytes, n) : 0;
        if (c)
            return c < 0 ? -1 : 1;
        return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
    }
    default: return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    }
}

int kiln_lake_pvalue_text(const kiln_lake_pfield *pf, const kiln_lake_value *v, kiln_buf *out, kiln_err *err)
{
    if (v->is_null)
        return kiln_buf_printf(out, err, "null");
    char tmp[40];
    switch (pf->xform) {
    case KILN_LAKE_XF_DAY: kiln_date_format(v->i, tmp); return kiln_buf_printf(out, err, "%s", tmp);
    case KILN_LAKE_XF_MONTH:
        return kiln_buf_printf(out, err, "%04lld-%02lld", (long long)(1970 + floordiv(v->i, 12)),
                               (long long)(v->i - floordiv(v->i, 12) * 12 + 1));
    case KILN_LAKE_XF_YEAR: return kiln_buf_printf(out, err, "%04lld", (long long)(1970 + v->i));
    case KILN_LAKE_XF_HOUR: {
        int64_t d = floordiv(v->i, 24);
        kiln_date_format(d, tmp);
        return kiln_buf_printf(out, err, "%s-%02lld", tmp, (long long)(v->i - d * 24));
    }
    default: break;
    }
    switch (pf->result_type) {
    case KILN_T_DATE: kiln_date_format(v->i, tmp); return kiln_buf_printf(out, err, "%s", tmp);
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: kiln_ts_format(v->i, tmp); return kiln_buf_printf(out, err, "%s", tmp);
    case KILN_T_BOOL: return kiln_buf_printf(out, err, "%s", v->i ? "true" : "false");
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: return kiln_buf_printf(out, err, "%.17g", v->d);
    case KILN_T_STRING:
    case KILN_T_BINARY:
        /* percent-encode anything that is not safe in one path component */
        for (size_t i = 0; i < v->len; i++) {
            unsigned char c = (unsigned char)v->bytes[i];
            int rc;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                (c == '.' && i > 0))
                rc = kiln_buf_putc(out, (char)c, err);
            else
                rc = kiln_buf_printf(out, err, "%%%02X", c);
            if (rc)
                return rc;
        }
        return 0;
    default: return kiln_buf_printf(out, err, "%lld", (long long)v->i);
    }
}

/* ================================================================ schemas */

static const char MANIFEST_LIST_SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"manifest_file\",\"fields\":["
    "{\"name\":\"manifest_path\",\"type\":\"string\",\"doc\":\"Location URI with FS scheme\",\"field-id\":500},"
    "{\"name\":\"manifest_length\",\"type\":\"long\",\"doc\":\"Total file size in bytes\",\"field-id\":501},"
    "{\"name\":\"partition_spec_id\",\"type\":\"int\",\"doc\":\"Spec ID used to write\",\"field-id\":502},"
    "{\"name\":\"content\",\"type\":\"int\",\"doc\":\"Contents of the manifest: 0=data, 1=deletes\",\"field-id\":517},"
    "{\"name\":\"sequence_number\",\"type\":\"long\",\"doc\":\"Sequence number when the manifest was "
    "added\",\"field-id\":515},"
    "{\"name\":\"min_sequence_number\",\"type\":\"long\",\"doc\":\"Lowest sequence number in the "
    "manifest\",\"field-id\":516},"
    "{\"name\":\"added_snapshot_id\",\"type\":\"long\",\"doc\":\"Snapshot ID that added the "
    "manifest\",\"field-id\":503},"
    "{\"name\":\"added_files_count\",\"type\":\"int\",\"doc\":\"Added entry count\",\"field-id\":504},"
    "{\"name\":\"existing_files_count\",\"type\":\"int\",\"doc\":\"Existing entry count\",\"field-id\":505},"
    "{\"name\":\"deleted_files_count\",\"type\":\"int\",\"doc\":\"Deleted entry count\",\"field-id\":506},"
    "{\"name\":\"added_rows_count\",\"type\":\"long\",\"doc\":\"Added rows count\",\"field-id\":512},"
    "{\"name\":\"existing_rows_count\",\"type\":\"long\",\"doc\":\"Existing rows count\",\"field-id\":513},"
    "{\"name\":\"deleted_rows_count\",\"type\":\"long\",\"doc\":\"Deleted rows count\",\"field-id\":514},"
    "{\"name\":\"partitions\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"r508\","
    "\"fields\":["
    "{\"name\":\"contains_null\",\"type\":\"boolean\",\"doc\":\"True if any file has a null partition "
    "value\",\"field-id\":509},"
    "{\"name\":\"contains_nan\",\"type\":[\"null\",\"boolean\"],\"doc\":\"True if any file has a nan partition "
    "value\",\"default\":null,\"field-id\":518},"
    "{\"name\":\"lower_bound\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Partition lower bound for all "
    "files\",\"default\":null,\"field-id\":510},"
    "{\"name\":\"upper_bound\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Partition upper bound for all "
    "files\",\"default\":null,\"field-id\":511}"
    "]},\"element-id\":508}],\"doc\":\"Summary for each partition\",\"default\":null,\"field-id\":507},"
    "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],\"doc\":\"Encryption key metadata "
    "blob\",\"default\":null,\"field-id\":519}"
    "]}";

const char *kiln_lake_manifest_list_schema_json(void) { return MANIFEST_LIST_SCHEMA; }

/* The v3 manifest list: the v2 fields and first_row_id (520). */
#define FIRST_ROW_ID_520                                                                                               \
    ",{\"name\":\"first_row_id\",\"type\":[\"null\",\"long\"],\"doc\":\"Starting row ID to assign to new rows "        \
    "in ADDED data files\",\"default\":null,\"field-id\":520}]}"

int64_t kiln_lake_mlist_assign_row_ids(kiln_lake_manifest *m, size_t n, int64_t first)
{
    int64_t next = first;
    for (size_t i = 0; i < n; i++) {
        if (m[i].content != 0 || m[i].has_first_row_id)
            continue;
        m[i].has_first_row_id = 1;
        m[i].first_row_id = next;
        next += (m[i].existing_rows > 0 ? m[i].existing_rows : 0) + (m[i].added_rows > 0 ? m[i].added_rows : 0);
    }
    return next - first;
}

static int avro_type_of(kiln_buf *out, kiln_type t, kiln_err *err)
{
    switch (t) {
    case KILN_T_BOOL: return kiln_buf_printf(out, err, "\"boolean\"");
    case KILN_T_INT32: return kiln_buf_printf(out, err, "\"int\"");
    case KILN_T_INT64: return kiln_buf_printf(out, err, "\"long\"");
    case KILN_T_FLOAT: return kiln_buf_printf(out, err, "\"float\"");
    case KILN_T_DOUBLE: return kiln_buf_printf(out, err, "\"double\"");
    case KILN_T_STRING: return kiln_buf_printf(out, err, "\"string\"");
    case KILN_T_BINARY: return kiln_buf_printf(out, err, "\"bytes\"");
    case KILN_T_DATE: return kiln_buf_printf(out, err, "{\"type\":\"int\",\"logicalType\":\"date\"}");
    case KILN_T_TIMESTAMP:
        return kiln_buf_printf(out, err,
                               "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\",\"adjust-to-utc\":false}");
    case KILN_T_TIMESTAMPTZ:
        return kiln_buf_printf(out, err,
                               "{\"type\":\"long\",\"logicalType\":\"timestamp-micros\",\"adjust-to-utc\":true}");
    case KILN_T_DECIMAL:
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
    case KILN_T_TIME:
    case KILN_T_UUID: break;
    }
    return kiln_err_set(err, KILN_EUNSUPP, "manifest: partition values of type %s are not supported",
                        kiln_type_name(t));
}

/* Avro names allow [A-Za-z_][A-Za-z0-9_]*; Java escapes others as _x<hex>. */
static int avro_name(kiln_buf *out, const char *s, kiln_err *err)
{
    int rc = kiln_buf_putc(out, '"', err);
    for (size_t i = 0; !rc && s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        rc = ok ? kiln_buf_putc(out, (char)c, err) : kiln_buf_printf(out, err, "_x%X", c);
    }
    return rc ? rc : kiln_buf_putc(out, '"', err);
}

static int manifest_schema_v2(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err);

/* v3 manifests: the v2 data_file fields and first_row_id (142),
 * referenced_data_file (143), content_offset (144), content_size_in_bytes
 * (145). */
static int manifest_schema(const kiln_lake_pspec *spec, int v3, kiln_buf *out, kiln_err *err)
{
    static const char tail[] = "]},\"field-id\":2}]}";
    size_t start = out->len;
    int rc = manifest_schema_v2(spec, out, err);
    if (rc || !v3)
        return rc;
    size_t tl = sizeof tail - 1;
    if (out->len - start < tl || memcmp(out->data + out->len - tl, tail, tl) != 0)
        return kiln_err_set(err, KILN_EINTERNAL, "manifest schema: unexpected ending");
    out->len -= tl;
    return kiln_buf_printf(
        out, err,
        ",{\"name\":\"first_row_id\",\"type\":[\"null\",\"long\"],\"doc\":\"The _row_id for the first row in the "
        "data file\",\"default\":null,\"field-id\":142},"
        "{\"name\":\"referenced_data_file\",\"type\":[\"null\",\"string\"],\"doc\":\"Fully qualified location "
        "of a data file that all deletes reference\",\"default\":null,\"field-id\":143},"
        "{\"name\":\"content_offset\",\"type\":[\"null\",\"long\"],\"doc\":\"The offset in the file where "
        "the content starts\",\"default\":null,\"field-id\":144},"
        "{\"name\":\"content_size_in_bytes\",\"type\":[\"null\",\"long\"],\"doc\":\"The length of referenced "
        "content stored in the file\",\"default\":null,\"field-id\":145}%s",
        tail);
}

int kiln_lake_manifest_schema_json(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err)
{
    return manifest_schema(spec, 0, out, err);
}

static int manifest_schema_v2(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err)
{
    int rc = kiln_buf_printf(
        out, err,
        "{\"type\":\"record\",\"name\":\"manifest_entry\",\"fields\":["
        "{\"name\":\"status\",\"type\":\"int\",\"field-id\":0},"
        "{\"name\":\"snapshot_id\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":1},"
        "{\"name\":\"sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":3},"
        "{\"name\":\"file_sequence_number\",\"type\":[\"null\",\"long\"],\"default\":null,\"field-id\":4},"
        "{\"name\":\"data_file\",\"type\":{\"type\":\"record\",\"name\":\"r2\",\"fields\":["
        "{\"name\":\"content\",\"type\":\"int\",\"doc\":\"Contents of the file: 0=data, 1=position deletes, 2=equality "
        "deletes\",\"field-id\":134},"
        "{\"name\":\"file_path\",\"type\":\"string\",\"doc\":\"Location URI with FS scheme\",\"field-id\":100},"
        "{\"name\":\"file_format\",\"type\":\"string\",\"doc\":\"File format name: avro, orc, or "
        "parquet\",\"field-id\":101},"
        "{\"name\":\"partition\",\"type\":{\"type\":\"record\",\"name\":\"r102\",\"fields\":[");
    for (int i = 0; !rc && spec && i < spec->nfields; i++) {
        const kiln_lake_pfield *pf = &spec->fields[i];
        rc = kiln_buf_printf(out, err, "%s{\"name\":", i ? "," : "");
        if (!rc)
            rc = avro_name(out, pf->name, err);
        if (!rc)
            rc = kiln_buf_printf(out, err, ",\"type\":[\"null\",");
        if (!rc)
            rc = avro_type_of(out, pf->result_type, err);
        if (!rc)
            rc = kiln_buf_printf(out, err, "],\"default\":null,\"field-id\":%d}", pf->field_id);
    }
    if (rc)
        return rc;
#define MAPF(name, id, k, v, vt, doc)                                                                                  \
    "{\"name\":\"" name "\",\"type\":[\"null\",{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"k" #k     \
    "_v" #v "\",\"fields\":[{\"name\":\"key\",\"type\":\"int\",\"field-id\":" #k                                       \
    "},{\"name\":\"value\",\"type\":\"" vt "\",\"field-id\":" #v "}]},\"logicalType\":\"map\"}],\"doc\":\"" doc        \
    "\",\"default\":null,\"field-id\":" #id "},"
    return kiln_buf_printf(
        out, err,
        "]},\"doc\":\"Partition data tuple, schema based on the partition spec\",\"field-id\":102},"
        "{\"name\":\"record_count\",\"type\":\"long\",\"doc\":\"Number of records in the file\",\"field-id\":103},"
        "{\"name\":\"file_size_in_bytes\",\"type\":\"long\",\"doc\":\"Total file size in "
        "bytes\",\"field-id\":104}," MAPF("column_sizes", 108, 117, 118, "long",
                                          "Map of column id to total size on disk")
            MAPF("value_counts", 109, 119, 120, "long", "Map of column id to total count, including null and NaN") MAPF(
                "null_value_counts", 110, 121, 122, "long",
                "Map of column id to null value count") MAPF("nan_value_counts", 137, 138, 139, "long",
                                                             "Map of column id to number of NaN values in the column")
                MAPF("lower_bounds", 125, 126, 127, "bytes", "Map of column id to lower bound") MAPF(
                    "upper_bounds", 128, 129, 130, "bytes",
                    "Map of column id to upper bound") "{\"name\":\"key_metadata\",\"type\":[\"null\",\"bytes\"],"
                                                       "\"doc\":\"Encryption key metadata "
                                                       "blob\",\"default\":null,\"field-id\":131},"
                                                       "{\"name\":\"split_offsets\",\"type\":[\"null\",{\"type\":"
                                                       "\"array\",\"items\":\"long\",\"element-id\":133}],\"doc\":"
                                                       "\"Splittable offsets\",\"default\":null,\"field-id\":132},"
                                                       "{\"name\":\"equality_ids\",\"type\":[\"null\",{\"type\":"
                                                       "\"array\",\"items\":\"int\",\"element-id\":136}],\"doc\":"
                                                       "\"Equality comparison field "
                                                       "IDs\",\"default\":null,\"field-id\":135},"
                                                       "{\"name\":\"sort_order_id\",\"type\":[\"null\",\"int\"],"
                                                       "\"doc\":\"Sort order ID\",\"default\":null,\"field-id\":140}"
                                                       "]},\"field-id\":2}]}");
#undef MAPF
}

static const char *xform_text(const kiln_lake_pfield *pf, char *tmp, size_t n)
{
    switch (pf->xform) {
    case KILN_LAKE_XF_IDENTITY: return "identity";
    case KILN_LAKE_XF_YEAR: return "year";
    case KILN_LAKE_XF_MONTH: return "month";
    case KILN_LAKE_XF_DAY: return "day";
    case KILN_LAKE_XF_HOUR: return "hour";
    case KILN_LAKE_XF_VOID: return "void";
    case KILN_LAKE_XF_BUCKET: snprintf(tmp, n, "bucket[%d]", pf->param); return tmp;
    case KILN_LAKE_XF_TRUNCATE: snprintf(tmp, n, "truncate[%d]", pf->param); return tmp;
    case KILN_LAKE_XF_UNKNOWN: break;
    }
    return "void";
}

int kiln_lake_pspec_fields_json(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err)
{
    int rc = kiln_buf_putc(out, '[', err);
    for (int i = 0; !rc && spec && i < spec->nfields; i++) {
        const kiln_lake_pfield *pf = &spec->fields[i];
        char tmp[32];
        rc = kiln_buf_printf(out, err, "%s{\"name\":", i ? "," : "");
        if (!rc)
            rc = kiln_json_write_str(out, pf->name, strlen(pf->name), err);
        if (!rc)
            rc = kiln_buf_printf(out, err, ",\"transform\":\"%s\",\"source-id\":%d,\"field-id\":%d}",
                                 xform_text(pf, tmp, sizeof tmp), pf->source_id, pf->field_id);
    }
    return rc ? rc : kiln_buf_putc(out, ']', err);
}

/* ================================================================ value helpers */

static kiln_avro_value *fld(const kiln_avro_value *rec, int id) { return kiln_avro_value_field_by_id(rec, id); }

static int64_t as_long(const kiln_avro_value *v, int64_t dflt)
{
    if (!v)
        return dflt;
    switch (v->type) {
    case KILN_AVRO_INT: return v->u.i;
    case KILN_AVRO_LONG: return v->u.l;
    case KILN_AVRO_BOOLEAN: return v->u.boolean;
    default: return dflt;
    }
}

static const char *as_str(const kiln_avro_value *v)
{
    if (!v || (v->type != KILN_AVRO_STRING && v->type != KILN_AVRO_BYTES))
        return NULL;
    return (const char *)v->u.bytes.ptr;
}

static void as_bytes(const kiln_avro_value *v, const uint8_t **p, uint32_t *n)
{
    if (!v || (v->type != KILN_AVRO_BYTES && v->type != KILN_AVRO_FIXED && v->type != KILN_AVRO_STRING)) {
        *p = NULL;
        *n = 0;
        return;
    }
    *p = v->u.bytes.ptr;
    *n = (uint32_t)v->u.bytes.len;
}

/* ================================================================ file access */

/* Avro files are read and written whole through the lake's io (lake_io.h):
 * manifests are small, and a store hands back bytes, not a file. */
#define MANIFEST_MAX_BYTES ((size_t)1 << 30)

/* A reader over the object at loc; *data holds its bytes (free it after
 * the reader). */
static int avro_open_read(kiln_avro_reader **r, char **data, const char *loc, kiln_err *err)
{
    size_t n = 0;
    *r = NULL;
    int rc = kiln_lake__io_read_all(loc, MANIFEST_MAX_BYTES, data, &n, err);
    if (!rc && (rc = kiln_avro_reader_open_mem(r, *data, n, err)))
        kiln_err_prefix(err, "%s: ", loc);
    return rc;
}

/* Finish w (writing into buf) and store the file at loc at once. */
static int avro_close_store(kiln_avro_writer *w, kiln_buf *buf, const char *loc, uint64_t *bytes, kiln_err *err)
{
    int rc = kiln_avro_writer_close(w, bytes, err);
    if (!rc && (rc = kiln_lake__io_write_atomic(loc, buf->data, buf->len, err)))
        kiln_err_prefix(err, "avro write %s: ", loc);
    return rc;
}

/* ================================================================ manifest list read */

int kiln_lake_manifest_list_read(kiln_lake_manifest **out, size_t *nout, kiln_arena *a, const char *path, kiln_err *err)
{
    kiln_avro_reader *r = NULL;
    char *data = NULL;
    KILN_VEC(kiln_lake_manifest) v = {0};
    int rc = avro_open_read(&r, &data, path, err);
    if (rc)
        goto done;
    for (;;) {
        kiln_avro_value *rec;
        rc = kiln_avro_reader_next(r, a, &rec, err);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        kiln_lake_manifest m;
        memset(&m, 0, sizeof m);
        m.path = as_str(fld(rec, 500));
        if (!m.path) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: manifest list row without manifest_path (field 500)", path);
            goto done;
        }
        m.length = as_long(fld(rec, 501), 0);
        m.spec_id = (int)as_long(fld(rec, 502), 0);
        m.content = (int)as_long(fld(rec, 517), 0);
        m.seq = as_long(fld(rec, 515), 0);
        m.min_seq = as_long(fld(rec, 516), m.seq);
        m.added_snapshot_id = as_long(fld(rec, 503), -1);
        m.added_files = (int32_t)as_long(fld(rec, 504), -1);
        m.existing_files = (int32_t)as_long(fld(rec, 505), -1);
        m.deleted_files = (int32_t)as_long(fld(rec, 506), -1);
        m.added_rows = as_long(fld(rec, 512), -1);
        m.existing_rows = as_long(fld(rec, 513), -1);
        m.deleted_rows = as_long(fld(rec, 514), -1);
        const kiln_avro_value *fri = fld(rec, 520);
        if (fri && !kiln_avro_value_is_null(fri)) {
            m.has_first_row_id = 1;
            m.first_row_id = as_long(fri, 0);
        }
        m.npartitions = -1;
        const kiln_avro_value *parts = fld(rec, 507);
        if (parts && parts->type == KILN_AVRO_ARRAY) {
            size_t np = parts->u.array.n;
            m.npartitions = (int)np;
            m.partitions = kiln_arena_alloc(a, (np ? np : 1) * sizeof *m.partitions);
            if (!m.partitions) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (size_t i = 0; i < np; i++) {
                const kiln_avro_value *ps = &parts->u.array.items[i];
                kiln_lake_psummary *s = &m.partitions[i];
                memset(s, 0, sizeof *s);
                s->contains_null = (int)as_long(fld(ps, 509), 1);
                s->contains_nan = (int)as_long(fld(ps, 518), -1);
                as_bytes(fld(ps, 510), &s->lower, &s->lower_len);
                as_bytes(fld(ps, 511), &s->upper, &s->upper_len);
            }
        }
        if ((rc = kiln_vec_push(&v, m, err)))
            goto done;
    }
    rc = 0;
    if (!(*out = kiln_arena_memdup(a, v.items, v.len * sizeof **out)))
        rc = KILN_OOM(err);
    else
        *nout = v.len;
done:
    if (rc && err && err->code && !strstr(err->msg, path))
        kiln_err_prefix(err, "manifest list %s: ", path);
    kiln_vec_free(&v);
    kiln_avro_reader_free(r);
    kiln_free(data);
    return rc;
}

/* ================================================================ manifest read */

static int read_pvalue(const kiln_avro_value *v, kiln_type t, kiln_lake_value *out)
{
    memset(out, 0, sizeof *out);
    if (kiln_avro_value_is_null(v)) {
        out->is_null = 1;
        return 0;
    }
    switch (v->type) {
    case KILN_AVRO_BOOLEAN: out->i = v->u.boolean; return 0;
    case KILN_AVRO_INT:
        out->i = v->u.i;
        out->d = v->u.i;
        return 0;
    case KILN_AVRO_LONG:
        out->i = v->u.l;
        out->d = (double)v->u.l;
        return 0;
    case KILN_AVRO_FLOAT: out->d = v->u.f; return 0;
    case KILN_AVRO_DOUBLE: out->d = v->u.d; return 0;
    case KILN_AVRO_STRING:
    case KILN_AVRO_BYTES:
    case KILN_AVRO_FIXED:
        if (t == KILN_T_DECIMAL)
            return kiln_lake_value_from_bound(t, v->u.bytes.ptr, v->u.bytes.len, out);
        out->bytes = v->u.bytes.ptr;
        out->len = v->u.bytes.len;
        return 0;
    default: return KILN_EFORMAT;
    }
}

/* Int-keyed maps: arrays of {key, value} records. Calls back per pair. */
static int read_long_map(const kiln_avro_value *arr, kiln_lake_colstat **stats, int *nstats, kiln_arena *a, int which)
{
    if (!arr || arr->type != KILN_AVRO_ARRAY)
        return 0;
    for (size_t i = 0; i < arr->u.array.n; i++) {
        const kiln_avro_value *kv = &arr->u.array.items[i];
        if (kv->type != KILN_AVRO_RECORD || kv->u.array.n < 2)
            continue;
        int id = (int)as_long(&kv->u.array.items[0], -1);
        const kiln_avro_value *val = &kv->u.array.items[1];
        kiln_lake_colstat *cs = NULL;
        for (int j = 0; j < *nstats; j++)
            if ((*stats)[j].field_id == id)
                cs = &(*stats)[j];
        if (!cs) {
            kiln_lake_colstat *ns = kiln_arena_alloc(a, (size_t)(*nstats + 1) * sizeof *ns);
            if (!ns)
                return KILN_ENOMEM;
            if (*nstats)
                memcpy(ns, *stats, (size_t)*nstats * sizeof *ns);
            cs = &ns[*nstats];
            memset(cs, 0, sizeof *cs);
            cs->field_id = id;
            cs->column_size = cs->value_count = cs->null_count = cs->nan_count = -1;
            *stats = ns;
            (*nstats)++;
        }
        switch (which) {
        case 108: cs->column_size = as_long(val, -1); break;
        case 109: cs->value_count = as_long(val, -1); break;
        case 110: cs->null_count = as_long(val, -1); break;
        case 137: cs->nan_count = as_long(val, -1); break;
        case 125: as_bytes(val, &cs->lower, &cs->lower_len); break;
        case 128: as_bytes(val, &cs->upper, &cs->upper_len); break;
        }
    }
    return 0;
}

int kiln_lake_manifest_read(kiln_lake_entry **out, size_t *nout, kiln_arena *a, const kiln_lake_manifest *m,
                            const char *path, const kiln_lake_pspec *spec, kiln_err *err)
{
    kiln_avro_reader *r = NULL;
    char *data = NULL;
    KILN_VEC(kiln_lake_entry) v = {0};
    int64_t next_row_id = m->has_first_row_id ? m->first_row_id : 0;
    int rc = avro_open_read(&r, &data, path, err);
    if (rc)
        goto done;
    for (;;) {
        kiln_avro_value *rec;
        rc = kiln_avro_reader_next(r, a, &rec, err);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        kiln_lake_entry e;
        memset(&e, 0, sizeof e);
        e.status = (int)as_long(fld(rec, 0), -1);
        if (e.status < 0 || e.status > 2) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: entry %llu has status %d (want 0, 1 or 2)", path,
                              (unsigned long long)v.len, e.status);
            goto done;
        }
        const kiln_avro_value *sid = fld(rec, 1), *sq = fld(rec, 3), *fsq = fld(rec, 4);
        e.snapshot_id = kiln_avro_value_is_null(sid) ? m->added_snapshot_id : as_long(sid, -1);
        if (!kiln_avro_value_is_null(sq)) {
            e.seq = as_long(sq, 0);
            e.seq_explicit = 1;
        } else if (e.status == KILN_LAKE_STATUS_ADDED) {
            e.seq = m->seq; /* inherit */
        } else {
            e.seq = m->seq; /* v1 manifests: no sequence numbers; treat as the manifest's */
        }
        e.file_seq = kiln_avro_value_is_null(fsq) ? (e.seq_explicit ? e.seq : m->seq) : as_long(fsq, 0);
        const kiln_avro_value *df = fld(rec, 2);
        if (!df || df->type != KILN_AVRO_RECORD) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: entry without data_file (field 2)", path);
            goto done;
        }
        kiln_lake_datafile *d = &e.df;
        d->content = (int)as_long(fld(df, 134), 0);
        d->file_path = as_str(fld(df, 100));
        d->file_format = as_str(fld(df, 101));
        if (!d->file_path) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: data_file without file_path (field 100)", path);
            goto done;
        }
        if (!d->file_format)
            d->file_format = "PARQUET";
        d->spec_id = m->spec_id;
        const kiln_avro_value *part = fld(df, 102);
        if (part && part->type == KILN_AVRO_RECORD) {
            int np = spec ? spec->nfields : (int)part->u.array.n;
            d->npart = np;
            d->partition = kiln_arena_alloc(a, (size_t)(np ? np : 1) * sizeof *d->partition);
            if (!d->partition) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (int i = 0; i < np; i++) {
                const kiln_avro_value *pv;
                kiln_type t = KILN_T_INT64;
                if (spec) {
                    pv = fld(part, spec->fields[i].field_id);
                    t = spec->fields[i].result_type;
                } else {
                    pv = &part->u.array.items[i];
                }
                if (read_pvalue(pv, t, &d->partition[i])) {
                    rc = kiln_err_set(err, KILN_EFORMAT, "%s: partition value %d of %s has an unexpected type", path, i,
                                      d->file_path);
                    goto done;
                }
            }
        }
        d->record_count = as_long(fld(df, 103), 0);
        d->file_size_in_bytes = as_long(fld(df, 104), 0);
        static const int map_ids[] = {108, 109, 110, 137, 125, 128};
        for (size_t k = 0; k < sizeof map_ids / sizeof map_ids[0]; k++)
            if (read_long_map(fld(df, map_ids[k]), &d->colstats, &d->ncolstats, a, map_ids[k])) {
                rc = KILN_OOM(err);
                goto done;
            }
        const kiln_avro_value *so = fld(df, 132);
        if (so && so->type == KILN_AVRO_ARRAY && so->u.array.n) {
            d->nsplits = (int)so->u.array.n;
            d->split_offsets = kiln_arena_alloc(a, so->u.array.n * sizeof *d->split_offsets);
            if (!d->split_offsets) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (size_t i = 0; i < so->u.array.n; i++)
                d->split_offsets[i] = as_long(&so->u.array.items[i], 0);
        }
        const kiln_avro_value *eq = fld(df, 135);
        if (eq && eq->type == KILN_AVRO_ARRAY && eq->u.array.n) {
            d->nequality_ids = (int)eq->u.array.n;
            d->equality_ids = kiln_arena_alloc(a, eq->u.array.n * sizeof *d->equality_ids);
            if (!d->equality_ids) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (size_t i = 0; i < eq->u.array.n; i++)
                d->equality_ids[i] = (int)as_long(&eq->u.array.items[i], 0);
        }
        const kiln_avro_value *soi = fld(df, 140);
        if (!kiln_avro_value_is_null(soi)) {
            d->has_sort_order_id = 1;
            d->sort_order_id = (int)as_long(soi, 0);
        }
        d->referenced_data_file = as_str(fld(df, 143));
        d->content_offset = as_long(fld(df, 144), -1);
        d->content_size = as_long(fld(df, 145), -1);
        const kiln_avro_value *fri = fld(df, 142);
        if (fri && !kiln_avro_value_is_null(fri)) {
            d->has_first_row_id = 1;
            d->first_row_id = as_long(fri, 0);
        } else if (m->has_first_row_id && d->content == KILN_LAKE_CONTENT_DATA &&
                   e.status != KILN_LAKE_STATUS_DELETED) {
            /* v3 row lineage: inherited from the manifest, in entry order */
            d->has_first_row_id = 1;
            d->first_row_id = next_row_id;
            next_row_id += d->record_count;
        }
        if ((rc = kiln_vec_push(&v, e, err)))
            goto done;
    }
    rc = 0;
    if (!(*out = kiln_arena_memdup(a, v.items, v.len * sizeof **out)))
        rc = KILN_OOM(err);
    else
        *nout = v.len;
done:
    if (rc && err && err->code && !strstr(err->msg, path))
        kiln_err_prefix(err, "manifest %s: ", path);
    kiln_vec_free(&v);
    kiln_avro_reader_free(r);
    kiln_free(data);
    return rc;
}

/* ================================================================ writing */

/* The non-null branch schema of a ["null", T] field. */
static const kiln_avro_schema *nn(const kiln_avro_schema *s)
{
    if (s->type != KILN_AVRO_UNION)
        return s;
    int b = kiln_avro_schema_nullable_branch(s);
    return b >= 0 ? s->branches[b] : s;
}

static const kiln_avro_schema *field_schema(const kiln_avro_schema *rec, int id)
{
    int i = kiln_avro_schema_field_index_by_id(rec, id);
    return i >= 0 ? rec->fields[i].type : NULL;
}

/* Fill a map field (array of k/v records) from colstats. */
static int put_map(kiln_avro_value *fv, kiln_arena *a, const kiln_avro_schema *ftype, const kiln_lake_datafile *d,
                   int which)
{
    const kiln_avro_schema *arr = nn(ftype);
    const kiln_avro_schema *kv = arr->items;
    size_t n = 0;
    for (int i = 0; i < d->ncolstats; i++) {
        const kiln_lake_colstat *c = &d->colstats[i];
        int has = which == 108   ? c->column_size >= 0
                  : which == 109 ? c->value_count >= 0
                  : which == 110 ? c->null_count >= 0
                  : which == 137 ? c->nan_count >= 0
                  : which == 125 ? c->lower != NULL
                                 : c->upper != NULL;
        n += has;
    }
    if (!n) {
        kiln_avro_value_set_null(fv);
        return 0;
    }
    if (kiln_avro_value_set_array(fv, a, n))
        return KILN_ENOMEM;
    size_t k = 0;
    for (int i = 0; i < d->ncolstats; i++) {
        const kiln_lake_colstat *c = &d->colstats[i];
        kiln_avro_value *it = &fv->u.array.items[k];
        int64_t lv = -1;
        const uint8_t *bp = NULL;
        uint32_t bn = 0;
        switch (which) {
        case 108: lv = c->column_size; break;
        case 109: lv = c->value_count; break;
        case 110: lv = c->null_count; break;
        case 137: lv = c->nan_count; break;
        case 125:
            bp = c->lower;
            bn = c->lower_len;
            break;
        default:
            bp = c->upper;
            bn = c->upper_len;
            break;
        }
        if ((which == 125 || which == 128) ? !bp : lv < 0)
            continue;
        if (kiln_avro_value_set_record(it, a, kv))
            return KILN_ENOMEM;
        kiln_avro_value_set_int(&it->u.array.items[0], c->field_id);
        if (which == 125 || which == 128) {
            if (kiln_avro_value_set_bytes(&it->u.array.items[1], a, bp, bn))
                return KILN_ENOMEM;
        } else {
            kiln_avro_value_set_long(&it->u.array.items[1], lv);
        }
        k++;
    }
    return 0;
}

static int put_pvalue(kiln_avro_value *fv, kiln_arena *a, kiln_type t, const kiln_lake_value *pv)
{
    if (pv->is_null) {
        kiln_avro_value_set_null(fv);
        return 0;
    }
    switch (t) {
    case KILN_T_BOOL: kiln_avro_value_set_bool(fv, (int)pv->i); return 0;
    case KILN_T_INT32:
    case KILN_T_DATE: kiln_avro_value_set_int(fv, (int32_t)pv->i); return 0;
    case KILN_T_INT64:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: kiln_avro_value_set_long(fv, pv->i); return 0;
    case KILN_T_FLOAT: kiln_avro_value_set_float(fv, (float)pv->d); return 0;
    case KILN_T_DOUBLE: kiln_avro_value_set_double(fv, pv->d); return 0;
    case KILN_T_STRING: return kiln_avro_value_set_string(fv, a, pv->bytes ? (const char *)pv->bytes : "", pv->len);
    case KILN_T_BINARY: return kiln_avro_value_set_bytes(fv, a, pv->bytes, pv->len);
    default: return KILN_EUNSUPP;
    }
}

/* Partition summary accumulation for the manifest list row. */
typedef struct psum_acc {
    int contains_null, contains_nan, has;
    kiln_lake_value lo, hi;
} psum_acc;

int kiln_lake_manifest_write(kiln_lake_manifest *out, kiln_arena *a, const char *local_path, const char *stored_path,
                             const kiln_lake_manifest_meta *meta, const kiln_lake_entry *entries, size_t n,
                             kiln_err *err)
{
    kiln_buf sj, pj, file;
    kiln_buf_init(&sj, 0);
    kiln_buf_init(&pj, 0);
    kiln_buf_init(&file, 0);
    kiln_avro_schema *schema = NULL;
    kiln_avro_writer *w = NULL;
    kiln_arena *va = kiln_arena_new(64 * 1024);
    const kiln_lake_pspec *spec = meta->spec;
    int nf = spec ? spec->nfields : 0;
    psum_acc *acc = NULL;
    int rc;
    if (!va) {
        rc = KILN_OOM(err);
        goto done;
    }
    acc = kiln_calloc((size_t)(nf ? nf : 1), sizeof *acc);
    if (!acc) {
        rc = KILN_OOM(err);
        goto done;
    }
    int v3 = meta->format_version >= 3;
    if ((rc = manifest_schema(spec, v3, &sj, err)) || (rc = kiln_lake_pspec_fields_json(spec, &pj, err)))
        goto done;
    if ((rc = kiln_avro_schema_parse(&schema, sj.data, sj.len, err)))
        goto done;
    char sid[24], specid[24];
    snprintf(sid, sizeof sid, "%d", meta->schema_id);
    snprintf(specid, sizeof specid, "%d", spec ? spec->spec_id : 0);
    kiln_avro_meta md[] = {
        {"schema", meta->schema_json ? meta->schema_json : "{}"},
        {"schema-id", sid},
        {"iceberg.schema", meta->schema_json ? meta->schema_json : "{}"},
        {"partition-spec", pj.data},
        {"partition-spec-id", specid},
        {"format-version", v3 ? "3" : "2"},
        {"content", meta->content ? "deletes" : "data"},
    };
    kiln_avro_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.codec = KILN_AVRO_CODEC_DEFLATE;
    wo.meta = md;
    wo.nmeta = sizeof md / sizeof md[0];
    if ((rc = kiln_avro_writer_open_buf(&w, &file, schema, &wo, err)))
        goto done;
    const kiln_avro_schema *dfs = field_schema(schema, 2);
    const kiln_avro_schema *ps = field_schema(dfs, 102);

    memset(out, 0, sizeof *out);
    out->spec_id = spec ? spec->spec_id : 0;
    out->content = meta->content;
    out->seq = meta->seq;
    out->min_seq = INT64_MAX;
    out->added_snapshot_id = meta->snapshot_id;
    for (size_t i = 0; i < n; i++) {
        const kiln_lake_entry *e = &entries[i];
        const kiln_lake_datafile *d = &e->df;
        kiln_arena_reset(va);
        kiln_avro_value *rec = kiln_avro_value_new_record(va, schema);
        if (!rec) {
            rc = KILN_OOM(err);
            goto done;
        }
        kiln_avro_value_set_int(fld(rec, 0), e->status);
        int64_t snap = e->status == KILN_LAKE_STATUS_EXISTING ? e->snapshot_id : meta->snapshot_id;
        if (e->status == KILN_LAKE_STATUS_ADDED) {
            kiln_avro_value_set_long(fld(rec, 1), meta->snapshot_id);
            kiln_avro_value_set_null(fld(rec, 3));
            kiln_avro_value_set_null(fld(rec, 4));
        } else {
            kiln_avro_value_set_long(fld(rec, 1), snap);
            kiln_avro_value_set_long(fld(rec, 3), e->seq);
            kiln_avro_value_set_long(fld(rec, 4), e->file_seq);
        }
        kiln_avro_value *dv = fld(rec, 2);
        if ((rc = kiln_avro_value_set_record(dv, va, dfs))) {
            rc = KILN_OOM(err);
            goto done;
        }
        kiln_avro_value_set_int(fld(dv, 134), d->content);
        if (kiln_avro_value_set_string(fld(dv, 100), va, d->file_path, strlen(d->file_path)) ||
            kiln_avro_value_set_string(fld(dv, 101), va, d->file_format ? d->file_format : "PARQUET",
                                       d->file_format ? strlen(d->file_format) : 7)) {
            rc = KILN_OOM(err);
            goto done;
        }
        kiln_avro_value *pv = fld(dv, 102);
        if (kiln_avro_value_set_record(pv, va, ps)) {
            rc = KILN_OOM(err);
            goto done;
        }
        for (int k = 0; k < nf && k < d->npart; k++) {
            if ((rc = put_pvalue(&pv->u.array.items[k], va, spec->fields[k].result_type, &d->partition[k]))) {
                rc = kiln_err_set(err, rc, "manifest %s: cannot write partition value %s", local_path,
                                  spec->fields[k].name);
                goto done;
            }
            const kiln_lake_value *x = &d->partition[k];
            psum_acc *ac = &acc[k];
            if (x->is_null) {
                ac->contains_null = 1;
            } else if ((spec->fields[k].result_type == KILN_T_FLOAT || spec->fields[k].result_type == KILN_T_DOUBLE) &&
                       isnan(x->d)) {
                ac->contains_nan = 1;
            } else {
                kiln_type t = spec->fields[k].result_type;
                if (!ac->has || kiln_lake_value_cmp(t, x, &ac->lo) < 0)
                    ac->lo = *x;
                if (!ac->has || kiln_lake_value_cmp(t, x, &ac->hi) > 0)
                    ac->hi = *x;
                ac->has = 1;
            }
        }
        kiln_avro_value_set_long(fld(dv, 103), d->record_count);
        kiln_avro_value_set_long(fld(dv, 104), d->file_size_in_bytes);
        static const int map_ids[] = {108, 109, 110, 137, 125, 128};
        for (size_t k = 0; k < 6; k++)
            if (put_map(fld(dv, map_ids[k]), va, field_schema(dfs, map_ids[k]), d, map_ids[k])) {
                rc = KILN_OOM(err);
                goto done;
            }
        kiln_avro_value_set_null(fld(dv, 131));
        kiln_avro_value *so = fld(dv, 132);
        if (d->nsplits > 0) {
            if (kiln_avro_value_set_array(so, va, (size_t)d->nsplits)) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (int k = 0; k < d->nsplits; k++)
                kiln_avro_value_set_long(&so->u.array.items[k], d->split_offsets[k]);
        }
        kiln_avro_value *eq = fld(dv, 135);
        if (d->nequality_ids > 0) {
            if (kiln_avro_value_set_array(eq, va, (size_t)d->nequality_ids)) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (int k = 0; k < d->nequality_ids; k++)
                kiln_avro_value_set_int(&eq->u.array.items[k], d->equality_ids[k]);
        }
        if (d->has_sort_order_id)
            kiln_avro_value_set_int(fld(dv, 140), d->sort_order_id);
        else if (d->content == KILN_LAKE_CONTENT_DATA)
            kiln_avro_value_set_int(fld(dv, 140), 0);
        if (v3) {
            /* row lineage: an ADDED data file inherits first_row_id from the
             * manifest list; a carried one keeps the id it had */
            if (d->has_first_row_id && e->status != KILN_LAKE_STATUS_ADDED && d->content == KILN_LAKE_CONTENT_DATA)
                kiln_avro_value_set_long(fld(dv, 142), d->first_row_id);
            if (d->referenced_data_file && kiln_avro_value_set_string(fld(dv, 143), va, d->referenced_data_file,
                                                                      strlen(d->referenced_data_file))) {
                rc = KILN_OOM(err);
                goto done;
            }
            if (d->content == KILN_LAKE_CONTENT_POS_DELETES && d->file_format &&
                strcasecmp(d->file_format, "PUFFIN") == 0) {
                kiln_avro_value_set_long(fld(dv, 144), d->content_offset);
                kiln_avro_value_set_long(fld(dv, 145), d->content_size);
            }
        }
        if ((rc = kiln_avro_writer_append(w, rec, err)))
            goto done;
        int64_t dseq = e->status == KILN_LAKE_STATUS_ADDED ? meta->seq : e->seq;
        switch (e->status) {
        case KILN_LAKE_STATUS_ADDED:
            out->added_files++;
            out->added_rows += d->record_count;
            break;
        case KILN_LAKE_STATUS_EXISTING:
            out->existing_files++;
            out->existing_rows += d->record_count;
            break;
        default:
            out->deleted_files++;
            out->deleted_rows += d->record_count;
            break;
        }
        if (e->status != KILN_LAKE_STATUS_DELETED && dseq < out->min_seq)
            out->min_seq = dseq;
    }
    if (out->min_seq == INT64_MAX)
        out->min_seq = meta->seq;
    uint64_t bytes = 0;
    rc = avro_close_store(w, &file, local_path, &bytes, err);
    w = NULL;
    if (rc)
        goto done;
    out->length = (int64_t)bytes;
    out->path = kiln_arena_strndup(a, stored_path, strlen(stored_path));
    out->npartitions = nf;
    out->partitions = kiln_arena_alloc(a, (size_t)(nf ? nf : 1) * sizeof *out->partitions);
    if (!out->path || !out->partitions) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int k = 0; k < nf; k++) {
        kiln_lake_psummary *s = &out->partitions[k];
        memset(s, 0, sizeof *s);
        s->contains_null = acc[k].contains_null;
        s->contains_nan = acc[k].contains_nan;
        if (acc[k].has) {
            uint8_t tmp[16];
            kiln_type t = spec->fields[k].result_type;
            int ln = (t == KILN_T_STRING || t == KILN_T_BINARY) ? (int)acc[k].lo.len
                                                                : kiln_lake_value_to_bound(t, &acc[k].lo, tmp, 16);
            int hn = (t == KILN_T_STRING || t == KILN_T_BINARY) ? (int)acc[k].hi.len
                                                                : kiln_lake_value_to_bound(t, &acc[k].hi, tmp, 16);
            uint8_t *lo = kiln_arena_alloc(a, (size_t)(ln > 0 ? ln : 1));
            uint8_t *hi = kiln_arena_alloc(a, (size_t)(hn > 0 ? hn : 1));
            if (!lo || !hi || ln < 0 || hn < 0) {
                rc = KILN_OOM(err);
                goto done;
            }
            kiln_lake_value_to_bound(t, &acc[k].lo, lo, (size_t)(ln > 0 ? ln : 1));
            kiln_lake_value_to_bound(t, &acc[k].hi, hi, (size_t)(hn > 0 ? hn : 1));
            s->lower = lo;
            s->lower_len = (uint32_t)ln;
            s->upper = hi;
            s->upper_len = (uint32_t)hn;
        }
    }
done:
    kiln_avro_writer_free(w);
    kiln_avro_schema_free(schema);
    kiln_arena_free(va);
    kiln_free(acc);
    kiln_buf_free(&file);
    kiln_buf_free(&sj);
    kiln_buf_free(&pj);
    return rc;
}

int kiln_lake_manifest_list_write(const char *path, const kiln_lake_mlist_meta *meta, const kiln_lake_manifest *m,
                                  size_t n, kiln_err *err)
{
    kiln_avro_schema *schema = NULL;
    kiln_avro_writer *w = NULL;
    kiln_arena *va = kiln_arena_new(16 * 1024);
    kiln_buf file;
    kiln_buf_init(&file, 0);
    int rc;
    if (!va)
        return KILN_OOM(err);
    int v3 = meta->format_version >= 3;
    {
        char v3s[sizeof MANIFEST_LIST_SCHEMA + 256];
        const char *sch = MANIFEST_LIST_SCHEMA;
        if (v3) { /* the v2 schema without its closing "]}", then 520 */
            size_t k = strlen(MANIFEST_LIST_SCHEMA) - 2;
            memcpy(v3s, MANIFEST_LIST_SCHEMA, k);
            memcpy(v3s + k, FIRST_ROW_ID_520, sizeof FIRST_ROW_ID_520);
            sch = v3s;
        }
        if ((rc = kiln_avro_schema_parse(&schema, sch, strlen(sch), err)))
            goto done;
    }
    char sid[24], psid[24], seq[24];
    snprintf(sid, sizeof sid, "%lld", (long long)meta->snapshot_id);
    if (meta->parent_snapshot_id < 0)
        snprintf(psid, sizeof psid, "null");
    else
        snprintf(psid, sizeof psid, "%lld", (long long)meta->parent_snapshot_id);
    snprintf(seq, sizeof seq, "%lld", (long long)meta->sequence_number);
    kiln_avro_meta md[] = {{"snapshot-id", sid},
                           {"parent-snapshot-id", psid},
                           {"sequence-number", seq},
                           {"format-version", v3 ? "3" : "2"}};
    kiln_avro_writer_opts wo;
    memset(&wo, 0, sizeof wo);
    wo.codec = KILN_AVRO_CODEC_DEFLATE;
    wo.meta = md;
    wo.nmeta = 4;
    if ((rc = kiln_avro_writer_open_buf(&w, &file, schema, &wo, err)))
        goto done;
    const kiln_avro_schema *parts_t = nn(field_schema(schema, 507));
    for (size_t i = 0; i < n; i++) {
        const kiln_lake_manifest *mf = &m[i];
        kiln_arena_reset(va);
        kiln_avro_value *rec = kiln_avro_value_new_record(va, schema);
        if (!rec || kiln_avro_value_set_string(fld(rec, 500), va, mf->path, strlen(mf->path))) {
            rc = KILN_OOM(err);
            goto done;
        }
        kiln_avro_value_set_long(fld(rec, 501), mf->length);
        kiln_avro_value_set_int(fld(rec, 502), mf->spec_id);
        kiln_avro_value_set_int(fld(rec, 517), mf->content);
        kiln_avro_value_set_long(fld(rec, 515), mf->seq);
        kiln_avro_value_set_long(fld(rec, 516), mf->min_seq);
        kiln_avro_value_set_long(fld(rec, 503), mf->added_snapshot_id);
        kiln_avro_value_set_int(fld(rec, 504), mf->added_files < 0 ? 0 : mf->added_files);
        kiln_avro_value_set_int(fld(rec, 505), mf->existing_files < 0 ? 0 : mf->existing_files);
        kiln_avro_value_set_int(fld(rec, 506), mf->deleted_files < 0 ? 0 : mf->deleted_files);
        kiln_avro_value_set_long(fld(rec, 512), mf->added_rows < 0 ? 0 : mf->added_rows);
        kiln_avro_value_set_long(fld(rec, 513), mf->existing_rows < 0 ? 0 : mf->existing_rows);
        kiln_avro_value_set_long(fld(rec, 514), mf->deleted_rows < 0 ? 0 : mf->deleted_rows);
        if (v3 && mf->has_first_row_id)
            kiln_avro_value_set_long(fld(rec, 520), mf->first_row_id);
        kiln_avro_value *pv = fld(rec, 507);
        if (mf->npartitions >= 0) {
            if (kiln_avro_value_set_array(pv, va, (size_t)mf->npartitions)) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (int k = 0; k < mf->npartitions; k++) {
                kiln_avro_value *it = &pv->u.array.items[k];
                const kiln_lake_psummary *s = &mf->partitions[k];
                if (kiln_avro_value_set_record(it, va, parts_t->items)) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                kiln_avro_value_set_bool(fld(it, 509), s->contains_null);
                if (s->contains_nan >= 0)
                    kiln_avro_value_set_bool(fld(it, 518), s->contains_nan);
                if (s->lower && kiln_avro_value_set_bytes(fld(it, 510), va, s->lower, s->lower_len)) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                if (s->upper && kiln_avro_value_set_bytes(fld(it, 511), va, s->upper, s->upper_len)) {
                    rc = KILN_OOM(err);
                    goto done;
                }
            }
        }
        if ((rc = kiln_avro_writer_append(w, rec, err)))
            goto done;
    }
    rc = avro_close_store(w, &file, path, NULL, err);
    w = NULL;
done:
    kiln_avro_writer_free(w);
    kiln_avro_schema_free(schema);
    kiln_arena_free(va);
    kiln_buf_free(&file);
    return rc;
}
