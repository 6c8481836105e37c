/*
 * parquet_int.h - private to format/parquet_*.c: the Thrift structures of
 * the Parquet footer and page headers kiln reads and writes, and the
 * compact-protocol encoder/decoder (parquet_thrift.c).
 */
#ifndef KILN_PARQUET_INT_H
#define KILN_PARQUET_INT_H

#include "format/parquet/parquet.h"

/* Encodings (Thrift Encoding). */
enum {
    PQ_ENC_PLAIN = 0,
    PQ_ENC_PLAIN_DICTIONARY = 2,
    PQ_ENC_RLE = 3,
    PQ_ENC_BIT_PACKED = 4,
    PQ_ENC_DELTA_BINARY_PACKED = 5,
    PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    PQ_ENC_DELTA_BYTE_ARRAY = 7,
    PQ_ENC_RLE_DICTIONARY = 8,
    PQ_ENC_BYTE_STREAM_SPLIT = 9
};
/* Page types. */
enum { PQ_PAGE_DATA = 0, PQ_PAGE_INDEX = 1, PQ_PAGE_DICT = 2, PQ_PAGE_DATA_V2 = 3 };
/* Converted types. */
enum {
    PQ_CT_NONE = -1,
    PQ_CT_UTF8 = 0,
    PQ_CT_MAP = 1,
    PQ_CT_MAP_KEY_VALUE = 2,
    PQ_CT_LIST = 3,
    PQ_CT_ENUM = 4,
    PQ_CT_DECIMAL = 5,
    PQ_CT_DATE = 6,
    PQ_CT_TIME_MILLIS = 7,
    PQ_CT_TIME_MICROS = 8,
    PQ_CT_TIMESTAMP_MILLIS = 9,
    PQ_CT_TIMESTAMP_MICROS = 10,
    PQ_CT_UINT_8 = 11,
    PQ_CT_UINT_16 = 12,
    PQ_CT_UINT_32 = 13,
    PQ_CT_UINT_64 = 14,
    PQ_CT_INT_8 = 15,
    PQ_CT_INT_16 = 16,
    PQ_CT_INT_32 = 17,
    PQ_CT_INT_64 = 18,
    PQ_CT_JSON = 19,
    PQ_CT_BSON = 20,
    PQ_CT_INTERVAL = 21
};
/* LogicalType union members (field ids). */
enum {
    PQ_LT_NONE = 0,
    PQ_LT_STRING = 1,
    PQ_LT_MAP = 2,
    PQ_LT_LIST = 3,
    PQ_LT_ENUM = 4,
    PQ_LT_DECIMAL = 5,
    PQ_LT_DATE = 6,
    PQ_LT_TIME = 7,
    PQ_LT_TIMESTAMP = 8,
    PQ_LT_INTEGER = 10,
    PQ_LT_UNKNOWN = 11,
    PQ_LT_JSON = 12,
    PQ_LT_BSON = 13,
    PQ_LT_UUID = 14,
    PQ_LT_FLOAT16 = 15
};
enum { PQ_UNIT_MILLIS = 1, PQ_UNIT_MICROS = 2, PQ_UNIT_NANOS = 3 };

typedef struct pq_bin {
    const uint8_t *p; /* points into the decoded buffer (or the writer's memory) */
    uint32_t n;
    int set;
} pq_bin;

typedef struct pq_stats {
    pq_bin max, min;             /* deprecated fields 1, 2 */
    pq_bin max_value, min_value; /* fields 5, 6 */
    int has_null_count;
    int64_t null_count;
} pq_stats;

typedef struct pq_schema_el {
    int type; /* -1 = group */
    int type_length;
    int repetition;   /* -1 unset, 0 REQUIRED, 1 OPTIONAL, 2 REPEATED */
    const char *name; /* NUL-terminated */
    int num_children;
    int converted; /* PQ_CT_*, -1 */
    int scale, precision;
    int has_field_id, field_id;
    int logical;                /* PQ_LT_* */
    int lt_utc, lt_unit;        /* TIME / TIMESTAMP */
    int lt_scale, lt_precision; /* DECIMAL */
    int lt_bits, lt_signed;     /* INTEGER */
    int leaf;                   /* writer (parquet_shred.c): index of the nested leaf an element is, or -1 */
} pq_schema_el;

typedef struct pq_colmeta {
    int type;
    uint32_t encodings; /* bitmask */
    int codec;
    int64_t num_values, total_uncompressed, total_compressed;
    int64_t data_page_offset;
    int has_dict_offset;
    int64_t dictionary_page_offset;
    int has_stats;
    pq_stats stats;
    int npath;
    const char **path;
} pq_colmeta;

typedef struct pq_chunk {
    int64_t file_offset;
    int has_meta;
    pq_colmeta meta;
} pq_chunk;

typedef struct pq_rowgroup {
    int ncols;
    pq_chunk *cols;
    int64_t total_byte_size, num_rows;
    int has_file_offset;
    int64_t file_offset;
    int64_t total_compressed_size;
} pq_rowgroup;

typedef struct pq_filemeta {
    int version;
    int nschema;
    pq_schema_el *schema;
    int64_t num_rows;
    int nrg;
    pq_rowgroup *rgs;
    int nkv;
    const char **kv_keys, **kv_values; /* value may be NULL */
    const char *created_by;            /* NULL if absent */
    int ncolumn_orders;                /* written as TypeDefinedOrder each */
} pq_filemeta;

typedef struct pq_page_header {
    int type;
    int32_t uncompressed_size, compressed_size;
    int has_crc;
    /* data page v1 (or v2) / dictionary page */
    int has_data, has_dict, has_v2;
    int32_t num_values;
    int encoding;
    int def_encoding, rep_encoding;
    int32_t num_nulls, num_rows, def_len, rep_len;
    int is_compressed; /* v2, default 1 */
} pq_page_header;

/* Decode FileMetaData from buf[0..n). Everything is allocated from arena;
 * binary fields point into buf (keep it alive). base_offset is added to
 * error offsets (the footer's file offset). */
int kiln_parquet__decode_filemeta(pq_filemeta *out, const uint8_t *buf, size_t n, kiln_arena *arena,
                                  uint64_t base_offset, kiln_err *err);
/* Decode a page header; *consumed = its size. KILN_ETRUNC if buf ends
 * inside it (the caller may retry with more bytes). */
int kiln_parquet__decode_page_header(pq_page_header *out, const uint8_t *buf, size_t n, size_t *consumed,
                                     uint64_t base_offset, kiln_err *err);

int kiln_parquet__encode_filemeta(kiln_buf *out, const pq_filemeta *m, kiln_err *err);
int kiln_parquet__encode_page_header(kiln_buf *out, const pq_page_header *h, kiln_err *err);

/* ------------------------------------------------------------ nested writes (parquet_shred.c) */

/* One primitive leaf of a nested column: this batch's entries. */
typedef struct pq_sleaf {
    kiln_column_def def; /* the leaf's name, type, field id, nullability */
    int max_def, max_rep;
    int npath;
    const char **path;     /* Parquet path: column, ..., leaf */
    const char *path_text; /* "s.commits.element.sha" */
    /* entries of the current batch */
    size_t n, alloc;
    uint32_t *defs, *reps;
    kiln_col col;        /* value per entry (nulls[i] where defs[i] < max_def); wide decimals as bytes */
    uint32_t *row_start; /* first entry of each batch row, plus the end */
    size_t rows_alloc;
} pq_sleaf;

/* The first leaf read as TIMESTAMP(NANOS) text (its path), or NULL. */
const char *kiln_pq__ns_text_leaf(const kiln_parquet_reader *r);

typedef struct snode snode;
typedef struct pq_shredder {
    const kiln_column_def *col;
    int nleaves;
    pq_sleaf *leaves;
    int nels;
    pq_schema_el *els; /* the column's schema elements in footer order; leaves have .leaf >= 0 */
    snode *root;
    kiln_buf tmp;
} pq_shredder;

/* Plan the shredding of nested column col of the given shape; memory
 * from arena, plus buffers kiln_pq__shred_free releases. */
int kiln_pq__shred_new(pq_shredder **out, const kiln_column_def *col, const kiln_nested *shape, kiln_arena *arena,
                       kiln_err *err);
/* Shred column bcol of b into the leaves' entries (replacing the last batch's). */
int kiln_pq__shred_batch(pq_shredder *s, const kiln_batch *b, int bcol, kiln_err *err);
void kiln_pq__shred_free(pq_shredder *s);
/* The shape of projected column i of r when it is nested (NULL when
 * flat), for writing its JSON values back (kiln_parquet_rewrite); memory
 * from a. */
int kiln_parquet__reader_shape(kiln_parquet_reader *r, int i, kiln_arena *a, const kiln_nested **out, kiln_err *err);
/* Decimal text -> minimal big-endian two's complement (<= 16 bytes); -1 when
 * it is not a decimal(prec, scale) value. */
int kiln_pq__decimal_text_be(const char *s, size_t n, int prec, int scale, uint8_t out[16], int *len);

#endif
