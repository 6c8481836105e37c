/*
 * parquet.h - kiln's own Apache Parquet writer and reader (flat schemas).
 *
 * Writer: kiln_batch in, one Parquet file out. PLAIN and RLE_DICTIONARY
 * encodings (dictionary per column chunk, falling back to PLAIN when it
 * grows past dict_max_bytes), definition levels as the RLE/bit-packed
 * hybrid, data page v1, UNCOMPRESSED/SNAPPY/GZIP/ZSTD (default ZSTD level 3),
 * footer statistics (min_value/max_value/null_count, type-defined order),
 * field_id on every schema element, key-value metadata. Memory is bounded
 * by one row group's encoded column chunks (row groups are cut at
 * row_group_bytes of uncompressed data or row_group_rows rows).
 * The writer writes exactly the path it is given; callers wanting
 * atomicity write to a temp name and rename (kiln_parquet_sink does this).
 *
 * Reader: pread-based, one page at a time per projected column; reads what
 * kiln writes and what Spark (parquet-mr), Trino, DuckDB and Arrow write for
 * the same types: PLAIN, PLAIN_DICTIONARY/RLE_DICTIONARY, RLE booleans,
 * DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY,
 * BYTE_STREAM_SPLIT, data page v1 and v2, INT96 timestamps (to micros),
 * legacy converted types, int32/int64/fixed/binary decimals (precision <= 18).
 * Column projection reads only the chunks asked for; a predicate on one
 * column skips row groups whose statistics rule it out.
 *
 * Every length in the file is checked against the file size and a cap;
 * malformed input is KILN_EFORMAT/KILN_ETRUNC/KILN_ELIMIT/KILN_EUNSUPP
 * with err->offset set to the file offset where it went wrong.
 * Objects belong to one thread.
 */
#ifndef KILN_PARQUET_H
#define KILN_PARQUET_H

#include "base/base.h"
#include "format/batch.h"
#include "format/parquet/pq_enc.h"
#include "format/pred.h"

/* ================================================================ writer */

typedef struct kiln_parquet_kv {
    const char *key;   /* borrowed */
    const char *value; /* borrowed; NULL = key without value */
} kiln_parquet_kv;

typedef struct kiln_parquet_write_opts {
    int codec;                 /* KILN_PQ_* (kiln_pq_codec); default (opts NULL) ZSTD */
    int level;                 /* 0 = codec default (zstd 3, gzip 6) */
    uint64_t row_group_bytes;  /* cut a row group at this much uncompressed data; 0 = 128 MB */
    uint64_t row_group_rows;   /* ... or at this many rows; 0 = no row limit */
    size_t page_bytes;         /* cut data pages at about this size; 0 = 1 MB */
    size_t dict_max_bytes;     /* dictionary page limit before PLAIN fallback; 0 = 1 MB */
    int no_dictionary;         /* 1: PLAIN only */
    int threads;               /* encode/compress columns on this many threads; 0/1 = caller's thread */
    size_t stats_max_bytes;    /* truncate string/binary min/max to this; 0 = 64 */
    const kiln_parquet_kv *kv; /* key-value metadata, copied at open */
    int nkv;
    /* Nested columns: nested[i] is the shape of schema column i when it is
     * KILN_T_JSON (struct, list or map; its root's name, id and nullability
     * are the column's), NULL for flat columns; nnested entries (the
     * schema's column count). A JSON column without a shape is refused.
     * Borrowed: must outlive the writer. */
    const kiln_nested *const *nested;
    int nnested;
} kiln_parquet_write_opts;

/* Fill opts with the defaults (ZSTD 3, 128 MB row groups, 1 MB pages). */
void kiln_parquet_write_opts_init(kiln_parquet_write_opts *opts);

/* Upper limit of a stored bound (stats_max_bytes is clamped to it). */
#define KILN_PARQUET_BOUND_MAX 256

/* Per-column figures for an Iceberg data_file entry (spec App. D/F).
 * Bounds are the Parquet PLAIN encoding of the min/max over non-null,
 * non-NaN values: 4-byte LE int/date, 8-byte LE long/timestamp(tz)/decimal
 * (the unscaled int64: Iceberg wants decimals big-endian minimal, see
 * kiln_parquet_decimal_bound), 4/8-byte LE float/double, 1 byte boolean,
 * raw bytes for string/binary truncated to stats_max_bytes (lower = prefix
 * at a UTF-8 boundary; upper = prefix with its last code point incremented,
 * has_upper = 0 when no such bound exists). -0.0/+0.0 follow the Parquet
 * rule (min -0.0, max +0.0). */
typedef struct kiln_parquet_col_stats {
    int field_id;
    kiln_type type; /* the leaf's kiln type (decimal(P>18) bounds are big-endian bytes) */
    int scale;
    int nested;           /* 1: a leaf of a nested column (value_count counts its entries) */
    int in_repeated;      /* 1: the leaf is inside a list or map (Iceberg keeps no bounds for it) */
    uint64_t column_size; /* compressed bytes of the column's chunks (headers included) */
    uint64_t value_count; /* values including nulls (and NaNs) */
    uint64_t null_count;
    uint64_t nan_count;       /* float/double only */
    int has_lower, has_upper; /* 0 when every value is null (or NaN) */
    uint32_t lower_len, upper_len;
    uint8_t lower[KILN_PARQUET_BOUND_MAX];
    uint8_t upper[KILN_PARQUET_BOUND_MAX];
} kiln_parquet_col_stats;

typedef struct kiln_parquet_file_stats {
    uint64_t record_count;
    uint64_t file_size_in_bytes;
    int ncols;                    /* leaf columns: a flat column is one, a nested column one per primitive leaf
                                     (field ids of the leaves), in schema order */
    kiln_parquet_col_stats *cols; /* owned; kiln_parquet_file_stats_free */
    size_t nsplits;
    int64_t *split_offsets; /* owned: file offset of each row group's first page */
} kiln_parquet_file_stats;

void kiln_parquet_file_stats_free(kiln_parquet_file_stats *s); /* frees members; NULL ok */

/* Iceberg's decimal bound: unscaled value as minimal big-endian two's
 * complement. out holds 8 bytes; returns the length used (1..8). */
size_t kiln_parquet_decimal_bound(uint8_t out[8], int64_t unscaled);

typedef struct kiln_parquet_writer kiln_parquet_writer;

/* Create (truncate) path and prepare to write schema. opts may be NULL for
 * the defaults. schema must outlive the writer. Caller frees with
 * kiln_parquet_writer_free. */
int kiln_parquet_writer_open(kiln_parquet_writer **out, const char *path, const kiln_schema *schema,
                             const kiln_parquet_write_opts *opts, kiln_err *err);
/* Append a batch (its schema must be the writer's, same column order). */
int kiln_parquet_writer_write(kiln_parquet_writer *w, const kiln_batch *b, kiln_err *err);
/* Flush the last row group, write the footer, fsync and close the file.
 * stats may be NULL; otherwise filled (free with kiln_parquet_file_stats_free). */
int kiln_parquet_writer_close(kiln_parquet_writer *w, kiln_parquet_file_stats *stats, kiln_err *err);
/* Release; if close was not called the file is left incomplete (the caller
 * removes it). NULL is a no-op. */
void kiln_parquet_writer_free(kiln_parquet_writer *w);
/* Rows written so far and bytes written to the file so far. */
uint64_t kiln_parquet_writer_rows(const kiln_parquet_writer *w);
uint64_t kiln_parquet_writer_bytes(const kiln_parquet_writer *w);

/* A sink writing one Parquet file: data goes to "<path>.tmp-<pid>-<n>",
 * commit closes it and renames it to path; abort removes it.
 * stats_out (may be NULL) is filled at commit; the caller frees it. */
int kiln_parquet_sink_new(kiln_sink **out, const char *path, const kiln_schema *schema,
                          const kiln_parquet_write_opts *opts, kiln_parquet_file_stats *stats_out, kiln_err *err);

/* A KILN_T_INT64 column whose kiln_column_def.scale is one of these is
 * written as INT64 TIMESTAMP(NANOS) (isAdjustedToUTC 0 / 1): nanoseconds
 * since the epoch (Iceberg v3 timestamp_ns / timestamptz_ns). */
#define KILN_PARQUET_TS_NANOS 1009
#define KILN_PARQUET_TSTZ_NANOS 1010
/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|+HH:MM|-HH:MM]" (no zone: UTC) ->
 * nanoseconds since the epoch (UTC), the value of such a column; years
 * 1677-2262. 0, or -1 when s is not one. */
int kiln_parquet_ts_parse_ns(const char *s, size_t n, int64_t *out);

/* ================================================================ reader */

/* Physical types (Thrift Type). */
enum {
    KILN_PQT_BOOLEAN = 0,
    KILN_PQT_INT32 = 1,
    KILN_PQT_INT64 = 2,
    KILN_PQT_INT96 = 3,
    KILN_PQT_FLOAT = 4,
    KILN_PQT_DOUBLE = 5,
    KILN_PQT_BYTE_ARRAY = 6,
    KILN_PQT_FLBA = 7
};
const char *kiln_parquet_type_name(int physical_type); /* "INT64", ... */
const char *kiln_parquet_encoding_name(int encoding);  /* "RLE_DICTIONARY", ... */

/* One leaf column of the file, as the reader maps it. */
typedef struct kiln_parquet_column {
    const char *name;     /* owned by the reader */
    int field_id;         /* 0 when the file has none */
    int physical;         /* KILN_PQT_* */
    int type_length;      /* FIXED_LEN_BYTE_ARRAY only */
    int optional;         /* 1 = OPTIONAL, 0 = REQUIRED */
    kiln_type type;       /* kiln type values are delivered as */
    int precision, scale; /* decimals */
    const char *logical;  /* human form of the annotation, e.g. "TIMESTAMP(UTC,MICROS)", "" */
} kiln_parquet_column;

/* Statistics of one column chunk, decoded to the column's kiln type. */
typedef struct kiln_parquet_chunk_info {
    int codec;
    int64_t num_values;
    int64_t compressed_size, uncompressed_size;
    int64_t data_page_offset, dictionary_page_offset; /* -1 when none */
    uint32_t encodings;                               /* bit i set = encoding i used */
    int has_null_count;
    int64_t null_count;
    int has_min, has_max;     /* exact per the file's statistics */
    const uint8_t *min, *max; /* raw PLAIN bytes (borrowed from the reader) */
    uint32_t min_len, max_len;
} kiln_parquet_chunk_info;

typedef struct kiln_parquet_reader kiln_parquet_reader;

typedef struct kiln_parquet_read_opts {
    size_t batch_rows; /* rows per batch; 0 = 65536 */
    int threads;       /* decode projected columns on this many threads; 0/1 = caller's */
} kiln_parquet_read_opts;

/* Open path and read its footer. opts may be NULL. Caller frees with
 * kiln_parquet_reader_free. Nested (group) columns are KILN_EUNSUPP. */
int kiln_parquet_reader_open(kiln_parquet_reader **out, const char *path, const kiln_parquet_read_opts *opts,
                             kiln_err *err);
void kiln_parquet_reader_free(kiln_parquet_reader *r);
/* A read source instead of a local file (an object store's ranged reads):
 * pread reads exactly n bytes at off or fails (KILN_ETRUNC past the end);
 * need (may be NULL) is told the byte range of each column chunk before
 * the reader reads its pages, so a source can fetch a chunk in one request
 * (row groups skipped and columns not projected are never announced);
 * close (may be NULL) runs in kiln_parquet_reader_free, or at once when the
 * open fails. pread may be called from the reader's threads at once. */
typedef struct kiln_parquet_src {
    int (*pread)(void *ctx, void *buf, size_t n, uint64_t off, kiln_err *err);
    void (*need)(void *ctx, uint64_t off, uint64_t len);
    void (*close)(void *ctx);
    void *ctx;
    uint64_t size; /* the file's size in bytes */
} kiln_parquet_src;
/* Open a reader on a source; name is for messages. The footer is read
 * before the first 4 bytes (so a source holding the file's tail serves it). */
int kiln_parquet_reader_open_src(kiln_parquet_reader **out, const char *name, const kiln_parquet_src *src,
                                 const kiln_parquet_read_opts *opts, kiln_err *err);

int kiln_parquet_reader_ncolumns(const kiln_parquet_reader *r);
const kiln_parquet_column *kiln_parquet_reader_column(const kiln_parquet_reader *r, int i);
/* The whole file as a kiln_schema (borrowed; lives as long as the reader). */
const kiln_schema *kiln_parquet_reader_file_schema(const kiln_parquet_reader *r);
int kiln_parquet_reader_find(const kiln_parquet_reader *r, const char *name);      /* -1 */
int kiln_parquet_reader_find_field_id(const kiln_parquet_reader *r, int field_id); /* -1 */
/* A leaf inside a nested column reached through groups only (no list or
 * map: one value per row) with Iceberg field id field_id, as a predicate
 * column for row-group statistics (kiln_parquet_reader_filter /
 * _rg_pruned; kiln_parquet_reader_column describes it): ncolumns + its
 * leaf index, or -1. Not a column to project. */
int kiln_parquet_reader_find_leaf_id(const kiln_parquet_reader *r, int field_id);
int64_t kiln_parquet_reader_num_rows(const kiln_parquet_reader *r);
int kiln_parquet_reader_num_row_groups(const kiln_parquet_reader *r);
int64_t kiln_parquet_reader_row_group_rows(const kiln_parquet_reader *r, int rg);
int64_t kiln_parquet_reader_row_group_offset(const kiln_parquet_reader *r, int rg);
int kiln_parquet_reader_chunk(const kiln_parquet_reader *r, int rg, int col, kiln_parquet_chunk_info *out);
int kiln_parquet_reader_nkv(const kiln_parquet_reader *r);
/* Key i of the key-value metadata; *value may be NULL. Borrowed. */
const char *kiln_parquet_reader_kv(const kiln_parquet_reader *r, int i, const char **value);
const char *kiln_parquet_reader_created_by(const kiln_parquet_reader *r); /* "" if none */
int kiln_parquet_reader_version(const kiln_parquet_reader *r);
uint64_t kiln_parquet_reader_file_size(const kiln_parquet_reader *r);

/* Names of struct fields in nested (JSON) values, by Parquet field id:
 * fn returns the name to print (a table schema's current name, after a
 * rename) or NULL to keep the file's. NULL fn: the file's names. */
void kiln_parquet_reader_field_names(kiln_parquet_reader *r, const char *(*fn)(void *ctx, int field_id), void *ctx);

/* Choose the columns to read, in output order (indices into the file's
 * columns). Default: all. Call before the first next(). */
int kiln_parquet_reader_project(kiln_parquet_reader *r, const int *cols, int ncols, kiln_err *err);
/* Same by comma-separated names ("a,b"); unknown name is KILN_ENOTFOUND. */
int kiln_parquet_reader_project_names(kiln_parquet_reader *r, const char *names, kiln_err *err);
/* Same by Iceberg field ids. */
int kiln_parquet_reader_project_ids(kiln_parquet_reader *r, const int *ids, int n, kiln_err *err);
/* A field inside a nested column: by Iceberg field id (field_id > 0), else
 * by dotted path ("payload.commits.sha": lists stepped through, a map's
 * "key"/"value" named). Sets the top column and the field's schema element
 * (for kiln_parquet_reader_project_nested); KILN_ENOTFOUND when absent. */
int kiln_parquet_reader_find_nested(kiln_parquet_reader *r, int field_id, const char *path, int *col, int *target);
/* Project columns cols[0..n); where targets[i] >= 0 only that nested field's
 * leaves are read and the column is named names[i] (copied): a leaf reached
 * through structs only comes out flat in its own type (its field id),
 * anything else as JSON (one array level per list on the way). */
int kiln_parquet_reader_project_nested(kiln_parquet_reader *r, const int *cols, const int *targets,
                                       const char *const *names, int n, kiln_err *err);
/* Schema of the batches next() returns (borrowed; valid after project). */
const kiln_schema *kiln_parquet_reader_schema(const kiln_parquet_reader *r);

/* A simple predicate on one column, for row-group skipping: one term of
 * kiln's filter parser (format/pred.h) whose col is the file column index.
 * Values are in the column's kiln type: i (bool/ints/date/timestamps/decimal
 * unscaled), d (float/double), s/n (string/binary). */
typedef kiln_pred_term kiln_parquet_pred;

/* Parse "col OP value" (OP: = == != < <= > >= , "col between A and B",
 * "col is null", "col is not null") against the file's columns with
 * kiln_pred_parse (one term only; literal forms and decimal folding as
 * there). The value strings are copied into the reader. */
int kiln_parquet_pred_parse(kiln_parquet_pred *out, kiln_parquet_reader *r, const char *text, kiln_err *err);
/* Set the row-group filter (NULL clears). Row groups whose statistics
 * prove no row can match are skipped by next(). Rows of the surviving
 * row groups are NOT filtered: use kiln_parquet_pred_match for that. */
int kiln_parquet_reader_filter(kiln_parquet_reader *r, const kiln_parquet_pred *p, kiln_err *err);
/* Would row group rg be skipped under pred? 1 yes, 0 no. */
int kiln_parquet_reader_rg_pruned(const kiln_parquet_reader *r, int rg, const kiln_parquet_pred *p);
/* Share a file's row groups among several readers (one per thread): before
 * reading row group rg, next() asks fn(ctx, rg); 0 means another reader
 * takes it (skipped, not counted as pruned). fn is typically an atomic
 * test-and-set on a per-row-group flag, so work is balanced dynamically. */
void kiln_parquet_reader_claim(kiln_parquet_reader *r, int (*fn)(void *ctx, int rg), void *ctx);
/* Row groups skipped so far by next(). */
int kiln_parquet_reader_pruned(const kiln_parquet_reader *r);
/* Does row `row` of batch column `bcol` satisfy pred? */
int kiln_parquet_pred_match(const kiln_parquet_pred *p, const kiln_batch *b, int bcol, size_t row);

/* Next batch of rows: returns 1 and sets *out (owned by the reader, valid
 * until the next call), 0 at the end, or a negative error. Batches never
 * span row groups. */
int kiln_parquet_reader_next(kiln_parquet_reader *r, const kiln_batch **out, kiln_err *err);
/* The same into a batch the caller owns (made by kiln_parquet_reader_batch_new
 * after the projection is set), so a consumer can hold one batch while the
 * reader fills another (double buffering across threads). */
int kiln_parquet_reader_batch_new(kiln_parquet_reader *r, kiln_batch **out, kiln_err *err);
int kiln_parquet_reader_next_into(kiln_parquet_reader *r, kiln_batch *b, kiln_err *err);

/* Format a raw statistic of column col (PLAIN bytes, as in
 * kiln_parquet_chunk_info) as text in the column's kiln type; appends. */
int kiln_parquet_stat_format(const kiln_parquet_reader *r, int col, const uint8_t *p, uint32_t n, kiln_buf *out,
                             kiln_err *err);

/* Format one value as text (CSV/NDJSON friendly: ISO dates/timestamps,
 * decimals with their scale). Appends to buf; nulls append nothing. */
int kiln_parquet_format_value(kiln_buf *buf, const kiln_batch *b, int c, size_t row, kiln_err *err);

/* ------------------------------------------------------------ whole-file operations (parquet_copy.c) */

/* Project r onto `columns` ("a,b"; NULL: all) and filter by `where` (NULL:
 * none; the predicate syntax of kiln_parquet_pred_parse). *pred_col is the
 * batch column to test with kiln_parquet_pred_match (-1: no filter);
 * *appended is 1 when that column was added after the chosen ones only to
 * filter (do not show it). */
int kiln_parquet_reader_select(kiln_parquet_reader *r, const char *columns, const char *where, kiln_parquet_pred *pred,
                               int *pred_col, int *appended, kiln_err *err);

typedef struct kiln_parquet_scan_opts {
    const char *columns, *where; /* as for kiln_parquet_reader_select */
    int threads;                 /* readers sharing the row groups (>= 1) */
} kiln_parquet_scan_opts;

typedef struct kiln_parquet_scan_result {
    long long rows; /* rows that passed the filter */
    int row_groups, row_groups_pruned, threads, ncols;
    double seconds;
    /* per column of the reader's schema (owned; kiln_parquet_scan_result_free):
     * fsum for float/double, isum for integers (wrapping), bools, dates and the
     * byte length of strings; nulls */
    double *fsum;
    int64_t *isum, *nulls;
} kiln_parquet_scan_result;

/* Read every row of r (opened on path; more readers of path are opened for
 * threads > 1) and sum each column: a checksum scan for tests and
 * benchmarks. The column order is kiln_parquet_reader_schema(r)'s. */
int kiln_parquet_scan_file(kiln_parquet_scan_result *out, kiln_parquet_reader *r, const char *path,
                           const kiln_parquet_scan_opts *opts, kiln_err *err);
void kiln_parquet_scan_result_free(kiln_parquet_scan_result *res);

/* Write every row of r to out_path with kiln's writer (atomically: a temp
 * file renamed into place), keeping the key-value metadata and field ids
 * (columns without one are numbered 1..). opts->threads > 1 also decodes on
 * a separate thread while the writer encodes. st is filled on success (free
 * with kiln_parquet_file_stats_free). */
int kiln_parquet_rewrite(kiln_parquet_reader *r, const char *out_path, const kiln_parquet_write_opts *opts,
                         kiln_parquet_file_stats *st, kiln_err *err);

#endif /* KILN_PARQUET_H */
