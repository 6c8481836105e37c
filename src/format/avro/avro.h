/*
 * avro.h - Apache Avro 1.11 object container files (OCF): schemas, a small
 * value DOM, a writer and a reader. Iceberg manifests and manifest lists
 * are Avro OCF; this is what src/lake reads and writes them with.
 *
 *   Schema  kiln_avro_schema_parse() turns schema JSON into a tree of
 *           kiln_avro_schema nodes (public, read-only structs). Iceberg
 *           attributes ("field-id" on fields, "element-id"/"key-id"/
 *           "value-id" on arrays/maps, "logicalType") are decoded into
 *           struct members; any other attribute is reachable with
 *           kiln_avro_schema_attr_*().
 *   Values  kiln_avro_value: a tagged node allocated from a kiln_arena the
 *           caller owns (one arena per record or per batch; reset it to
 *           drop the records). Records hold their fields by position;
 *           look fields up by name or by Iceberg field-id.
 *   Writer  open on a path (written atomically at close) or on a kiln_buf
 *           sink; append values; close writes the last block.
 *           Codecs null, deflate, snappy, zstandard.
 *   Reader  open a file or memory; header (magic, metadata, sync) is read
 *           at open; records are decoded with the WRITER schema, so files
 *           written by Java/avsc read exactly. Optionally project to a
 *           reader schema, matching fields by field-id, then by name.
 *
 * Hostile input gives KILN_EFORMAT / KILN_ETRUNC / KILN_ELIMIT with the
 * byte offset in err->offset; never a crash or an unbounded allocation.
 * Objects belong to one thread.
 */
#ifndef KILN_FORMAT_AVRO_H
#define KILN_FORMAT_AVRO_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* ---------------------------------------------------------------- schema */

typedef enum kiln_avro_type {
    KILN_AVRO_NULL = 0,
    KILN_AVRO_BOOLEAN,
    KILN_AVRO_INT,
    KILN_AVRO_LONG,
    KILN_AVRO_FLOAT,
    KILN_AVRO_DOUBLE,
    KILN_AVRO_BYTES,
    KILN_AVRO_STRING,
    KILN_AVRO_RECORD,
    KILN_AVRO_ENUM,
    KILN_AVRO_ARRAY,
    KILN_AVRO_MAP,
    KILN_AVRO_UNION,
    KILN_AVRO_FIXED
} kiln_avro_type;

/* The "logicalType" attribute, decoded. Unknown names are KILN_AVRO_LT_OTHER
 * (logical_name keeps the text); a logical type on the wrong base type is
 * ignored as the spec says (it stays KILN_AVRO_LT_NONE). Iceberg's
 * {"type":"array","logicalType":"map"} is KILN_AVRO_LT_MAP. */
typedef enum kiln_avro_logical {
    KILN_AVRO_LT_NONE = 0,
    KILN_AVRO_LT_DATE,             /* int: days since 1970-01-01 */
    KILN_AVRO_LT_TIME_MILLIS,      /* int */
    KILN_AVRO_LT_TIME_MICROS,      /* long */
    KILN_AVRO_LT_TIMESTAMP_MILLIS, /* long */
    KILN_AVRO_LT_TIMESTAMP_MICROS, /* long */
    KILN_AVRO_LT_LOCAL_TIMESTAMP_MILLIS,
    KILN_AVRO_LT_LOCAL_TIMESTAMP_MICROS,
    KILN_AVRO_LT_DECIMAL,  /* bytes or fixed; precision, scale */
    KILN_AVRO_LT_UUID,     /* string (or fixed(16)) */
    KILN_AVRO_LT_DURATION, /* fixed(12) */
    KILN_AVRO_LT_MAP,      /* Iceberg: array of {key,value} records */
    KILN_AVRO_LT_OTHER
} kiln_avro_logical;

typedef struct kiln_avro_schema kiln_avro_schema;

#define KILN_AVRO_NO_ID INT32_MIN /* field_id / element_id / ... when absent */

typedef struct kiln_avro_field {
    const char *name;
    const char *doc; /* NULL when absent */
    kiln_avro_schema *type;
    int32_t field_id;         /* "field-id", or KILN_AVRO_NO_ID (note: 0 is a valid id) */
    const char *default_json; /* "default" as compact JSON text, NULL when absent */
    size_t naliases;
    const char **aliases;
    void *attrs_; /* internal */
} kiln_avro_field;

/* One schema node. Named types (record, enum, fixed) referenced again by
 * name are the SAME node (a DAG; recursive records make cycles). */
struct kiln_avro_schema {
    kiln_avro_type type;
    kiln_avro_logical logical;
    const char *logical_name; /* raw "logicalType" text or NULL */
    const char *name;         /* full name (namespace.name) of record/enum/fixed, else NULL */
    const char *doc;
    /* record */
    size_t nfields;
    kiln_avro_field *fields;
    /* enum */
    size_t nsymbols;
    const char **symbols;
    /* fixed */
    size_t size;
    /* decimal */
    int precision, scale;
    /* array items / map values */
    kiln_avro_schema *items;
    /* union */
    size_t nbranches;
    kiln_avro_schema **branches;
    /* Iceberg ids on array ("element-id") and map ("key-id", "value-id") */
    int32_t element_id, key_id, value_id;
    void *attrs_; /* internal */
    void *root_;  /* internal: set on the root only */
};

/* Parse schema JSON (a type name string, an object or a union array).
 * OUT: *out is the root; caller frees with kiln_avro_schema_free(root).
 * Errors: KILN_EFORMAT (bad JSON or schema, message names the JSON path),
 * KILN_ELIMIT (nesting deeper than 64, or json larger than 16 MiB). */
int kiln_avro_schema_parse(kiln_avro_schema **out, const char *json, size_t len, kiln_err *err);
void kiln_avro_schema_free(kiln_avro_schema *root); /* root only; NULL is a no-op */

/* The JSON text the root was parsed from (NUL-terminated; owned by root). */
const char *kiln_avro_schema_json(const kiln_avro_schema *root);
/* Serialize any node (root or inner) as compact JSON with all attributes.
 * Appends to out. */
int kiln_avro_schema_to_json(const kiln_avro_schema *s, kiln_buf *out, kiln_err *err);

/* Any attribute of a node or field (e.g. "field-id", "iceberg-field-name").
 * attr_int: 0 and *out set when present and an integer, else KILN_ENOTFOUND.
 * attr_str: the string value, or NULL when absent or not a string. */
int kiln_avro_schema_attr_int(const kiln_avro_schema *s, const char *key, int64_t *out);
const char *kiln_avro_schema_attr_str(const kiln_avro_schema *s, const char *key);
int kiln_avro_field_attr_int(const kiln_avro_field *f, const char *key, int64_t *out);
const char *kiln_avro_field_attr_str(const kiln_avro_field *f, const char *key);

/* Record field lookup: index or -1. */
int kiln_avro_schema_field_index(const kiln_avro_schema *record, const char *name);
int kiln_avro_schema_field_index_by_id(const kiln_avro_schema *record, int32_t field_id);
/* For ["null", T] / [T, "null"]: the index of the non-null branch, else -1. */
int kiln_avro_schema_nullable_branch(const kiln_avro_schema *u);
const char *kiln_avro_type_name(kiln_avro_type t); /* "long", "record", ... */

/* ---------------------------------------------------------------- values */

typedef struct kiln_avro_value kiln_avro_value;

/* A value. `type` is never KILN_AVRO_UNION: a value at a union position is
 * the chosen branch's value with `branch` = its index in the union (-1 when
 * the position is not a union). When branch is -1 at a union the writer
 * picks the first branch of the same type and name, else of the same type
 * (records also by field count), else one it promotes to (int->long,
 * float->double). So ["null",T] needs no branch: set the value or null. `schema` is the node the value has (the
 * branch's node for unions); NULL is allowed for scalars built by hand.
 * Strings are NUL-terminated (len excludes the NUL); bytes/fixed are not. */
struct kiln_avro_value {
    kiln_avro_type type;
    int32_t branch;
    const kiln_avro_schema *schema;
    union {
        int boolean;
        int32_t i; /* int, and enum symbol index */
        int64_t l;
        float f;
        double d;
        struct {
            const uint8_t *ptr;
            size_t len;
        } bytes; /* bytes, string, fixed */
        struct {
            size_t n;
            kiln_avro_value *items;
        } array; /* array items; record fields by position */
        struct {
            size_t n;
            const char **keys; /* NUL-terminated */
            kiln_avro_value *vals;
        } map;
    } u;
};

/* Builders: all memory comes from arena a (NULL on out of memory).
 * kiln_avro_value_new_record allocates nfields children, each initialised
 * to its field's default when that is null/number/string/bool, else to
 * null; branch is -1 either way (set the others before writing). The
 * encoder accepts a LONG value for an int field when it fits, an INT for
 * long/double, STRING/FIXED for bytes, BYTES of the right size for fixed,
 * and a STRING naming a symbol for an enum. */
kiln_avro_value *kiln_avro_value_new(kiln_arena *a, kiln_avro_type t);
kiln_avro_value *kiln_avro_value_new_record(kiln_arena *a, const kiln_avro_schema *record);
/* In-place setters (v->branch is left as is). */
void kiln_avro_value_set_null(kiln_avro_value *v);
void kiln_avro_value_set_bool(kiln_avro_value *v, int b);
void kiln_avro_value_set_int(kiln_avro_value *v, int32_t x);
void kiln_avro_value_set_long(kiln_avro_value *v, int64_t x);
void kiln_avro_value_set_float(kiln_avro_value *v, float x);
void kiln_avro_value_set_double(kiln_avro_value *v, double x);
/* Copies s into the arena. Return 0 or KILN_ENOMEM. */
int kiln_avro_value_set_string(kiln_avro_value *v, kiln_arena *a, const char *s, size_t n);
int kiln_avro_value_set_bytes(kiln_avro_value *v, kiln_arena *a, const void *p, size_t n);
int kiln_avro_value_set_fixed(kiln_avro_value *v, kiln_arena *a, const void *p, size_t n);
void kiln_avro_value_set_enum(kiln_avro_value *v, int32_t symbol_index);
/* Make v an array of n zeroed (null) items; fill v->u.array.items[i]. */
int kiln_avro_value_set_array(kiln_avro_value *v, kiln_arena *a, size_t n);
/* Make v a map of n entries; fill keys[i] (e.g. kiln_arena_strndup) and vals[i]. */
int kiln_avro_value_set_map(kiln_avro_value *v, kiln_arena *a, size_t n);
/* Make v a record of `record`'s shape (children as in _new_record). */
int kiln_avro_value_set_record(kiln_avro_value *v, kiln_arena *a, const kiln_avro_schema *record);

/* Record field lookup (v must be a record with v->schema set): the child
 * or NULL. */
kiln_avro_value *kiln_avro_value_field(const kiln_avro_value *rec, const char *name);
kiln_avro_value *kiln_avro_value_field_by_id(const kiln_avro_value *rec, int32_t field_id);
int kiln_avro_value_is_null(const kiln_avro_value *v); /* NULL pointer counts as null */

/* Append v as one line of JSON (no newline): records are objects, unions
 * are their branch's plain value, bytes/fixed are strings whose chars are
 * the byte values (Avro JSON encoding, U+0000..U+00FF), enums are symbol
 * names, NaN/Infinity are strings. */
int kiln_avro_value_to_json(const kiln_avro_value *v, kiln_buf *out, kiln_err *err);

/* ---------------------------------------------------------------- codecs */

typedef enum kiln_avro_codec {
    KILN_AVRO_CODEC_NULL = 0,
    KILN_AVRO_CODEC_DEFLATE, /* raw RFC 1951 */
    KILN_AVRO_CODEC_SNAPPY,  /* block + 4-byte big-endian CRC32 of the output */
    KILN_AVRO_CODEC_ZSTD
} kiln_avro_codec;

/* "null", "deflate", "snappy", "zstandard". */
const char *kiln_avro_codec_name(kiln_avro_codec c);
/* 0 or KILN_EUNSUPP (message lists the known codecs). */
int kiln_avro_codec_parse(const char *name, kiln_avro_codec *out, kiln_err *err);

/* ---------------------------------------------------------------- writer */

typedef struct kiln_avro_writer kiln_avro_writer;

typedef struct kiln_avro_meta {
    const char *key;   /* must not start with "avro." (the writer sets those) */
    const char *value; /* stored as bytes (strlen(value)) */
} kiln_avro_meta;

typedef struct kiln_avro_writer_opts {
    kiln_avro_codec codec;
    int level;                  /* codec level, 0 = the codec's default */
    size_t block_bytes;         /* cut a block at this many uncompressed bytes; 0 = 256 KiB */
    const kiln_avro_meta *meta; /* file metadata (Iceberg: "schema", "format-version", ...) */
    size_t nmeta;
    const uint8_t *sync; /* 16 bytes; NULL = random from /dev/urandom */
} kiln_avro_writer_opts;

/* Open a writer. The schema must stay alive until close; its JSON text
 * (kiln_avro_schema_json of the root) is stored as "avro.schema".
 * opts may be NULL (null codec, no metadata).
 * _open: the file is built in memory and written atomically at close.
 * _open_buf: bytes are appended to sink as blocks complete (sink is
 * borrowed; it holds the whole file after close). */
int kiln_avro_writer_open(kiln_avro_writer **out, const char *path, const kiln_avro_schema *schema,
                          const kiln_avro_writer_opts *opts, kiln_err *err);
int kiln_avro_writer_open_buf(kiln_avro_writer **out, kiln_buf *sink, const kiln_avro_schema *schema,
                              const kiln_avro_writer_opts *opts, kiln_err *err);
/* Encode one record (any value matching the root schema). On error
 * (KILN_EINVAL: value does not match the schema, message names the field
 * path) nothing of v is kept and the writer stays usable. */
int kiln_avro_writer_append(kiln_avro_writer *w, const kiln_avro_value *v, kiln_err *err);
uint64_t kiln_avro_writer_count(const kiln_avro_writer *w); /* records appended */
/* Flush the last block, write the file (for _open), free w (always, even
 * on error). *bytes_out (may be NULL) = total file size. */
int kiln_avro_writer_close(kiln_avro_writer *w, uint64_t *bytes_out, kiln_err *err);
void kiln_avro_writer_free(kiln_avro_writer *w); /* abandon without writing; NULL is a no-op */

/* ---------------------------------------------------------------- reader */

typedef struct kiln_avro_reader kiln_avro_reader;

/* Open a file (read whole, capped at 1 GiB) or a memory buffer (borrowed:
 * data must outlive the reader). Reads and checks the header.
 * OUT: caller frees with kiln_avro_reader_free. */
int kiln_avro_reader_open(kiln_avro_reader **out, const char *path, kiln_err *err);
int kiln_avro_reader_open_mem(kiln_avro_reader **out, const void *data, size_t len, kiln_err *err);

const kiln_avro_schema *kiln_avro_reader_schema(const kiln_avro_reader *r); /* writer schema */
const char *kiln_avro_reader_schema_json(const kiln_avro_reader *r);        /* as stored */
kiln_avro_codec kiln_avro_reader_codec(const kiln_avro_reader *r);
/* Metadata value for key (NUL-terminated copy; *len_out may be NULL), or NULL. */
const char *kiln_avro_reader_meta(const kiln_avro_reader *r, const char *key, size_t *len_out);
size_t kiln_avro_reader_meta_count(const kiln_avro_reader *r);
void kiln_avro_reader_meta_at(const kiln_avro_reader *r, size_t i, const char **key, const char **value, size_t *len);

/* Project records to reader_schema (borrowed; must outlive r): record
 * fields match by field-id when both sides have one, else by name or
 * alias; missing reader fields take their default (or null when the type
 * is nullable); int->long->float->double and string<->bytes promote.
 * KILN_EFORMAT if the schemas cannot be resolved. NULL = writer schema. */
int kiln_avro_reader_set_schema(kiln_avro_reader *r, const kiln_avro_schema *reader_schema, kiln_err *err);

/* Next record: returns 1 and *out (allocated in arena a; strings and bytes
 * are copied into a), 0 at the end of the file, or a negative code
 * (err->offset = the file offset). Values' `schema` pointers point into
 * the reader's (or the reader schema's) tree: use or copy the values
 * before kiln_avro_reader_free. */
int kiln_avro_reader_next(kiln_avro_reader *r, kiln_arena *a, kiln_avro_value **out, kiln_err *err);
uint64_t kiln_avro_reader_count(const kiln_avro_reader *r); /* records returned so far */
void kiln_avro_reader_free(kiln_avro_reader *r);            /* NULL is a no-op */

/* ---------------------------------------------------------------- raw encoding */

/* Zigzag varint helpers (also useful for Iceberg single-value bounds).
 * encode: writes up to 10 bytes into out, returns the count.
 * decode: returns bytes consumed, or 0 if truncated/overlong. */
size_t kiln_avro_zigzag_encode(int64_t x, uint8_t out[10]);
size_t kiln_avro_zigzag_decode(const uint8_t *p, size_t n, int64_t *out);

#endif /* KILN_FORMAT_AVRO_H */
