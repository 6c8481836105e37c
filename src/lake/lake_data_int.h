/*
 * lake_data_int.h - private to src/lake (data half): what the scan and the
 * writers must do identically. The equality-delete scan and the MERGE
 * writer compare rows by the same key bytes, so there is one encoding.
 * Not for other modules.
 */
#ifndef KILN_LAKE_DATA_INT_H
#define KILN_LAKE_DATA_INT_H

#include "format/parquet/parquet.h"
#include "lake/lake.h"

/* The value in row `row` of batch column c (is_null set for a null;
 * strings point into the batch). */
void kiln_lake__cell(kiln_lake_value *out, const kiln_batch *b, int c, size_t row);

/* Append the key encoding of one cell to k: 'N' for null (or c < 0: a
 * column the batch lacks), 'S' + 4-byte length + bytes for strings and
 * binaries, 'D' + 8 bytes for floats (as double), 'I' + 8 bytes for
 * everything else (as int64). Equal values of one column type give equal
 * bytes; a key is the concatenation over its columns. */
int kiln_lake__key_append(kiln_buf *k, const kiln_batch *b, int c, size_t row, kiln_err *err);

/* Fill d, the data_file of a Parquet file kiln wrote (stored: its path as
 * the manifest records it; st: what kiln_parquet_writer_close returned;
 * schema: the columns it was written with, in st's order). Memory in a.
 * The one place Parquet statistics become Iceberg metrics (iceberg_write.c;
 * used by the writers and rewrite-data-files). */
int kiln_lake__datafile_from_stats(kiln_lake_datafile *d, kiln_arena *a, const char *stored, int spec_id,
                                   const kiln_lake_pspec *spec, const kiln_lake_value *part, const kiln_schema *schema,
                                   const kiln_parquet_file_stats *st, int sort_order_id, kiln_err *err);

/* Remove every file of `gone` not in `keep` (maps keyed by stored
 * location); skip_missing: files already gone are not counted. *count (may
 * be NULL) += files removed (dry_run: that would be). The one deletion loop
 * of the two expire rules (iceberg_files.c). */
int kiln_lake__remove_difference(const kiln_map *gone, const kiln_map *keep, int skip_missing, int dry_run,
                                 size_t *count, kiln_err *err);

/* The schema as compact Iceberg JSON (the metadata writer's own
 * serializer), appended to out: what data files ("iceberg.schema") and
 * manifests carry. */
int kiln_lake__schema_json_text(kiln_buf *out, const kiln_lake_schema *s, kiln_err *err);

/* Add the row positions of a v3 deletion vector (a Puffin
 * "deletion-vector-v1" blob: length, magic, 64-bit portable Roaring bitmap,
 * CRC-32) stored at [offset, offset + size) of the local file path. */
int kiln_lake__dv_load(kiln_i64set *set, const char *path, int64_t offset, int64_t size, kiln_err *err);

/* A deletion vector to write: the data file's stored location, its
 * deleted positions (sorted in place), and, once written, the blob's
 * offset and length in the Puffin file. */
typedef struct kiln_lake__dv_out {
    const char *data_file;
    int64_t *pos;
    size_t n;
    int64_t offset, length;
} kiln_lake__dv_out;
/* Append one deletion-vector-v1 blob of pos[0..n) (sorted in place; each
 * position once) to out. */
int kiln_lake__dv_blob(kiln_buf *out, int64_t *pos, size_t n, kiln_err *err);
/* Write a Puffin file of one blob per dvs[i] at loc (a new file; local or
 * object store); fills offsets, lengths and *file_size. */
int kiln_lake__puffin_write_dvs(const char *loc, kiln_lake__dv_out *dvs, size_t n, int64_t *file_size, kiln_err *err);

/* The default value `key` ("initial-default" or "write-default") of schema
 * column sc of the view as a value of column c's type (Iceberg's JSON
 * single-value form); an error naming the default when it is not one. */
int kiln_lake__field_default(const kiln_lake_view *view, int sc, const kiln_column_def *c, const char *key,
                             kiln_arena *a, kiln_lake_value *out, kiln_err *err);
/* A JSON value (Iceberg's single-value form, or kiln's nested-value form:
 * decimals also as JSON numbers) as a value of column c's type; tname and
 * key name the type and the value in the error when it is not one. */
struct json_t;
int kiln_lake__json_value(const struct json_t *d, const kiln_column_def *c, const char *tname, const char *key,
                          kiln_arena *a, kiln_lake_value *out, kiln_err *err);
/* The JSON text of field f's default `key`, or NULL (absent or null). */
const char *kiln_lake__field_default_json(const kiln_lake_field *f, const char *key, kiln_arena *a);
/* kiln_lake_task_read / kiln_lake__task_read_pos (one of fn, fnpos) with
 * two more columns after the table's: _row_id and
 * _last_updated_sequence_number (v3 row lineage, as a scan computes them). */
int kiln_lake__task_read_lineage(const kiln_lake_view *view, const kiln_lake_task *task,
                                 int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err),
                                 int (*fnpos)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err),
                                 void *ctx, kiln_err *err);
/* kiln_lake_task_read, also passing each row's position in the data file. */
int kiln_lake__task_read_pos(const kiln_lake_view *view, const kiln_lake_task *task,
                             int (*fn)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err), void *ctx,
                             kiln_err *err);
/* kiln_lake_task_read / kiln_lake__task_read_pos (one of fn, fnpos) where
 * pred (parsed against kiln_lake_view_leaf_schema) may name fields inside
 * structs ("s.a"): those leaves are read as more columns after the table's,
 * so kiln_lake_pred_match_row tests them (the first columns are the
 * table's, as kiln_lake_task_read gives them). */
int kiln_lake__task_read_where(const kiln_lake_view *view, const kiln_lake_task *task, const kiln_lake_pred *pred,
                               int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err),
                               int (*fnpos)(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err),
                               void *ctx, kiln_err *err);
/* Add to set the positions every position delete of task (Parquet files
 * and deletion vectors) removes from its data file; *dv: the deletion
 * vector among them, if any. a: scratch. */
int kiln_lake__task_posdeletes(const kiln_lake_view *view, const kiln_lake_task *task, kiln_i64set *set,
                               const kiln_lake_entry **dv, kiln_arena *a, kiln_err *err);

/* 0, or KILN_EUNSUPP naming t when it was registered from another engine
 * (kiln writes nothing into such a table: no data, metadata or deletes). */
int kiln_lake__refuse_registered(const kiln_lake_table *t, kiln_err *err);
/* The same, and any registered table at all: for operations that delete
 * files (expire, remove-orphans). what: "expire snapshots". */
int kiln_lake__refuse_registered_delete(const kiln_lake_table *t, const char *what, kiln_err *err);

#endif /* KILN_LAKE_DATA_INT_H */
