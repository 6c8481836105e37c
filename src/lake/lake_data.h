/*
 * lake_data.h - the data half of kiln's Apache Iceberg v2 layer: manifest
 * lists and manifests (Avro, exact v2 schemas and field ids), the
 * in-memory data_file model, predicates evaluated against partition
 * tuples and column bounds, scan planning and reading (Parquet data,
 * position and equality deletes applied by the sequence-number rules),
 * write operations (append, dynamic partition overwrite, MERGE by key,
 * delete by predicate; copy-on-write, one atomic commit each) and file
 * maintenance (files listing, orphan removal, expired-file deletion).
 *
 * Layering: the low-level part (manifests, predicates, planning over a
 * kiln_lake_view) uses only format/ headers; the table-level part uses the
 * table metadata and transactions of lake.h, which includes this header at
 * its end. Everything here belongs to one thread.
 *
 * Memory: plans, manifests and entries read by this module live in a
 * kiln_arena owned by the object that returned them (scan, plan, file
 * list); free that object and they are gone.
 */
#ifndef KILN_LAKE_DATA_H
#define KILN_LAKE_DATA_H

#include <stdint.h>

#include "base/base.h"
#include "format/batch.h"
#include "format/pred.h"
#include "lake/lake.h"

/* ============================================================ partition specs, values */

/* One partition field of a spec with kiln column types resolved (built
 * from lake.h's kiln_lake_spec by kiln_lake_view_from_meta). */
typedef struct kiln_lake_pfield {
    int field_id;                  /* >= 1000 */
    int source_id;                 /* table column field id */
    const char *name;              /* partition field name, e.g. "created_at_day" */
    kiln_lake_transform_kind xform;
    int param;                     /* bucket N / truncate W */
    kiln_type source_type;         /* the source column's type */
    kiln_type result_type;         /* day -> DATE, year/month/hour/bucket -> INT32, else source */
} kiln_lake_pfield;

typedef struct kiln_lake_pspec {
    int spec_id;
    int nfields;                   /* 0 = unpartitioned */
    kiln_lake_pfield *fields;
} kiln_lake_pspec;

/* Result type of a transform over a source type. */
kiln_type kiln_lake_xform_result(kiln_lake_transform_kind x, kiln_type source);
/* kiln column type of an Iceberg type (nested types: KILN_EUNSUPP). */
int kiln_lake_kind_to_type(const kiln_lake_type *t, kiln_type *out, kiln_err *err);

/* Values use lake.h's kiln_lake_value (i / d / bytes+len; kind unused here:
 * the type travels beside the value as a kiln_type). */

/* out = xform(v) for partition field pf (null stays null). */
int kiln_lake_xform_apply(const kiln_lake_pfield *pf, const kiln_lake_value *v,
                          kiln_lake_value *out, kiln_err *err);
/* Iceberg single-value binary form (spec App. D) of v (type t) into out.
 * Returns the length, or a negative code. */
int kiln_lake_value_to_bound(kiln_type t, const kiln_lake_value *v, uint8_t *out, size_t cap);
/* Decode a bound of type t (strings point into p). 0 or KILN_EFORMAT. */
int kiln_lake_value_from_bound(kiln_type t, const uint8_t *p, size_t n, kiln_lake_value *out);
/* Compare two non-null values of type t: <0, 0, >0. */
int kiln_lake_value_cmp(kiln_type t, const kiln_lake_value *a, const kiln_lake_value *b);
/* Text of a partition value for directory names ("2025-01-01", "42",
 * "2025-01" for month, "2025-01-01-13" for hour, "null"). */
int kiln_lake_pvalue_text(const kiln_lake_pfield *pf, const kiln_lake_value *v, kiln_buf *out,
                          kiln_err *err);

/* ============================================================ data files, manifests */

enum { KILN_LAKE_CONTENT_DATA = 0, KILN_LAKE_CONTENT_POS_DELETES = 1, KILN_LAKE_CONTENT_EQ_DELETES = 2 };
enum { KILN_LAKE_STATUS_EXISTING = 0, KILN_LAKE_STATUS_ADDED = 1, KILN_LAKE_STATUS_DELETED = 2 };

/* Per-column metrics of a data file (ids 108/109/110/137/125/128). A
 * count of -1 means absent; bounds are Iceberg single-value bytes. */
typedef struct kiln_lake_colstat {
    int field_id;
    int64_t column_size, value_count, null_count, nan_count;
    const uint8_t *lower, *upper; /* NULL when absent */
    uint32_t lower_len, upper_len;
} kiln_lake_colstat;

/* The data_file struct (field 2 of manifest_entry). */
typedef struct kiln_lake_datafile {
    int content;                /* KILN_LAKE_CONTENT_* */
    const char *file_path;      /* as stored (absolute URI, or remapped when read) */
    const char *file_format;    /* "PARQUET" */
    int spec_id;                /* from the manifest */
    int npart;
    kiln_lake_value *partition; /* npart values, typed by the spec's result types */
    int64_t record_count;
    int64_t file_size_in_bytes;
    int ncolstats;
    kiln_lake_colstat *colstats;
    int nsplits;
    int64_t *split_offsets;
    int nequality_ids;
    int *equality_ids;
    int has_sort_order_id;
    int sort_order_id;
    const char *referenced_data_file; /* 143, NULL when absent */
} kiln_lake_datafile;

/* One manifest_entry. seq/file_seq are resolved (inherited from the
 * manifest list for ADDED entries with null values) when read. */
typedef struct kiln_lake_entry {
    int status;                 /* KILN_LAKE_STATUS_* */
    int64_t snapshot_id;        /* -1 when null (inherit) */
    int64_t seq;                /* data sequence number (resolved) */
    int64_t file_seq;           /* file sequence number (resolved) */
    int seq_explicit;           /* 1 if the entry stored its sequence numbers */
    kiln_lake_datafile df;
} kiln_lake_entry;

/* Partition field summary of a manifest (507/508). */
typedef struct kiln_lake_psummary {
    int contains_null;
    int contains_nan;           /* -1 unknown */
    const uint8_t *lower, *upper;
    uint32_t lower_len, upper_len;
} kiln_lake_psummary;

/* One manifest_file row of a manifest list. */
typedef struct kiln_lake_manifest {
    const char *path;
    int64_t length;
    int spec_id;
    int content;                /* 0 data, 1 deletes */
    int64_t seq, min_seq;
    int64_t added_snapshot_id;
    int32_t added_files, existing_files, deleted_files;
    int64_t added_rows, existing_rows, deleted_rows;
    int npartitions;            /* -1 = absent */
    kiln_lake_psummary *partitions;
} kiln_lake_manifest;

/* How file paths stored in metadata map to local files. Paths starting
 * with `from` get it replaced by `to` (DuckDB's allow_moved_paths); "file:"
 * URIs become local paths. NULL members = no remap. */
typedef struct kiln_lake_remap {
    const char *from;
    const char *to;
} kiln_lake_remap;

/* The location to read for a stored path: remapped when it starts with
 * remap->from (with or without "file://"), else as stored; the lake's io
 * (lake_io.c) resolves it. Arena-allocated; NULL when out of memory. */
char *kiln_lake_remap_path(kiln_arena *a, const kiln_lake_remap *remap, const char *stored);

/* --- manifest list I/O --- */

/* Read a manifest list. OUT: *out and *n, in arena a. Fields resolved by field
 * id (Iceberg 1.0's added_data_files_count names work). */
int kiln_lake_manifest_list_read(kiln_lake_manifest **out, size_t *n, kiln_arena *a,
                                 const char *local_path, kiln_err *err);

typedef struct kiln_lake_mlist_meta {
    int64_t snapshot_id;
    int64_t parent_snapshot_id; /* -1 = root ("null") */
    int64_t sequence_number;
} kiln_lake_mlist_meta;

/* Write a manifest list of n manifests (atomically, deflate). */
int kiln_lake_manifest_list_write(const char *local_path, const kiln_lake_mlist_meta *meta,
                                  const kiln_lake_manifest *m, size_t n, kiln_err *err);

/* --- manifest I/O --- */

/* Read the entries of manifest m (its seq is used for inheritance). Specs
 * give partition types (by spec id) when needed; the manifest's own
 * Avro schema decides the decoding. OUT in arena a. */
int kiln_lake_manifest_read(kiln_lake_entry **out, size_t *n, kiln_arena *a,
                            const kiln_lake_manifest *m, const char *local_path,
                            const kiln_lake_pspec *spec, kiln_err *err);

typedef struct kiln_lake_manifest_meta {
    const char *schema_json;     /* table schema JSON (current) */
    int schema_id;
    const kiln_lake_pspec *spec; /* partition spec the entries use */
    int content;                 /* 0 data, 1 deletes */
    int64_t snapshot_id;         /* snapshot writing it */
    int64_t seq;                 /* sequence number of that snapshot */
} kiln_lake_manifest_meta;

/* Write entries into a manifest at local_path; fill *out (summary row for
 * the manifest list; strings in arena a; path = stored_path). ADDED
 * entries are written with null sequence numbers (inherited), EXISTING and
 * DELETED ones with explicit ones. */
int kiln_lake_manifest_write(kiln_lake_manifest *out, kiln_arena *a, const char *local_path,
                             const char *stored_path, const kiln_lake_manifest_meta *meta,
                             const kiln_lake_entry *entries, size_t n, kiln_err *err);

/* The Avro schema text of a v2 manifest list, and of a manifest for spec. */
const char *kiln_lake_manifest_list_schema_json(void);
int kiln_lake_manifest_schema_json(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err);
/* The "partition-spec" metadata value (JSON array of fields). */
int kiln_lake_pspec_fields_json(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err);

/* ============================================================ predicates */

/* The operators of format/pred.h (the one filter parser), same values. */
typedef enum kiln_lake_op {
    KILN_LAKE_OP_EQ = KILN_PRED_EQ, KILN_LAKE_OP_LT = KILN_PRED_LT, KILN_LAKE_OP_LE = KILN_PRED_LE,
    KILN_LAKE_OP_GT = KILN_PRED_GT, KILN_LAKE_OP_GE = KILN_PRED_GE, KILN_LAKE_OP_BETWEEN = KILN_PRED_BETWEEN,
    KILN_LAKE_OP_ISNULL = KILN_PRED_ISNULL, KILN_LAKE_OP_NOTNULL = KILN_PRED_NOTNULL, KILN_LAKE_OP_NE = KILN_PRED_NE
} kiln_lake_op;

/* One comparison on a column; a predicate is an AND of terms. */
typedef struct kiln_lake_term {
    int field_id;
    kiln_type type;             /* the column's type */
    kiln_lake_op op;
    kiln_lake_value v, hi;      /* hi: BETWEEN upper bound (inclusive) */
} kiln_lake_term;

typedef struct kiln_lake_pred {
    int nterms;
    kiln_lake_term *terms;      /* arena-owned when parsed */
} kiln_lake_pred;

/* Parse "a = 1 and b between '2025-01-01' and '2025-01-31' and c is null"
 * against schema (column names) with kiln_pred_parse (format/pred.h: the
 * literal forms, and how out-of-range decimals fold). OUT in arena a. */
int kiln_lake_pred_parse(kiln_lake_pred *out, kiln_arena *a, const kiln_schema *schema,
                         const char *text, kiln_err *err);
/* Can a file with these partition values / stats hold a matching row?
 * 1 = maybe, 0 = no. Unknown information always answers 1. */
int kiln_lake_pred_may_match_partition(const kiln_lake_pred *p, const kiln_lake_pspec *spec,
                                       const kiln_lake_value *part);
int kiln_lake_pred_may_match_summary(const kiln_lake_pred *p, const kiln_lake_pspec *spec,
                                     const kiln_lake_manifest *m);
int kiln_lake_pred_may_match_stats(const kiln_lake_pred *p, const kiln_lake_datafile *df);
/* Does row `row` of batch b match? Terms find their column by field id in
 * b->schema; a term whose column is absent counts as matching. */
int kiln_lake_pred_match_row(const kiln_lake_pred *p, const kiln_batch *b, size_t row);

/* ============================================================ scan planning over a view */

/* What planning needs of one snapshot of a table. Built from lake.h's
 * metadata by kiln_lake_view_from_meta; tests may fill it by hand. */
typedef struct kiln_lake_view {
    const char *location;         /* table location as stored */
    const kiln_schema *schema;    /* current schema: top-level columns kiln can read */
    int nspecs;
    const kiln_lake_pspec *specs; /* all specs, looked up by spec_id */
    int default_spec_id;
    int64_t snapshot_id;          /* -1 = empty table */
    int64_t seq;                  /* that snapshot's sequence number */
    const char *manifest_list;    /* stored path, NULL when empty */
    kiln_lake_remap remap;
} kiln_lake_view;

/* Build a view of snapshot_id (-1 = the table is empty / no snapshot) of
 * meta; all memory in arena a (meta must outlive the view). remap may be
 * NULL. Columns of nested or unsupported types are left out of schema. */
int kiln_lake_view_from_meta(kiln_lake_view *out, kiln_arena *a, const kiln_lake_meta *meta,
                             int64_t snapshot_id, const kiln_lake_remap *remap, kiln_err *err);
const kiln_lake_pspec *kiln_lake_view_spec(const kiln_lake_view *v, int spec_id);

/* A data file to read and the delete files that apply to it. */
typedef struct kiln_lake_task {
    const kiln_lake_entry *data;
    size_t ndeletes;
    const kiln_lake_entry **deletes;
} kiln_lake_task;

typedef struct kiln_lake_plan_stats {
    size_t manifests_total, manifests_pruned;
    size_t files_total, files_pruned_partition, files_pruned_stats;
    size_t delete_files;
    /* Filled by scans (kiln_lake_scan_next) as data files are opened, 0
     * after planning alone: row groups of the data files read, and how
     * many of them the Parquet reader skipped because their column
     * statistics rule out every one-column term of the predicate. */
    size_t row_groups_total, row_groups_skipped;
} kiln_lake_plan_stats;

typedef struct kiln_lake_plan kiln_lake_plan;

/* Plan a scan of view under pred (NULL = all). Caller frees with
 * kiln_lake_plan_free. */
int kiln_lake_plan_new(kiln_lake_plan **out, const kiln_lake_view *view, const kiln_lake_pred *pred,
                       kiln_err *err);
/* Module-internal: as kiln_lake_plan_new, but data manifests for which
 * keep(ctx, manifest) returns 0 are skipped unread (writers use it to read
 * only the manifests that may hold the partitions they touch). */
int kiln_lake__plan_new_ex(kiln_lake_plan **out, const kiln_lake_view *view, const kiln_lake_pred *pred,
                           int (*keep)(void *ctx, const kiln_lake_manifest *m), void *ctx, kiln_err *err);
size_t kiln_lake_plan_ntasks(const kiln_lake_plan *p);
const kiln_lake_task *kiln_lake_plan_task(const kiln_lake_plan *p, size_t i);
const kiln_lake_plan_stats *kiln_lake_plan_stats_get(const kiln_lake_plan *p);
/* All live entries (data and delete) of the snapshot, unpruned. */
size_t kiln_lake_plan_nlive(const kiln_lake_plan *p);
const kiln_lake_entry *kiln_lake_plan_live(const kiln_lake_plan *p, size_t i);
/* The manifests of the snapshot. */
size_t kiln_lake_plan_nmanifests(const kiln_lake_plan *p);
const kiln_lake_manifest *kiln_lake_plan_manifest(const kiln_lake_plan *p, size_t i);
void kiln_lake_plan_free(kiln_lake_plan *p);

/* ============================================================ scanning */

typedef struct kiln_lake_scan_opts {
    const char *columns;        /* "a,b" or NULL = all, in schema order */
    const char *where;          /* predicate text (kiln_lake_pred_parse) or NULL */
    const char *as_of;          /* snapshot id or timestamp (kiln_lake_meta_resolve); NULL = head */
    const char *ref;            /* branch or tag name; NULL = main */
    size_t batch_rows;          /* 0 = 8192 */
    kiln_lake_remap remap;      /* for tables whose stored paths moved (fixtures) */
} kiln_lake_scan_opts;

typedef struct kiln_lake_scan kiln_lake_scan;

/* Scan a table / a parsed metadata / a view: rows of the projected columns
 * that survive deletes and the where-predicate. Caller frees with
 * kiln_lake_scan_free. For _meta, meta must outlive the scan. */
int kiln_lake_scan_open(kiln_lake_scan **out, kiln_lake_table *t, const kiln_lake_scan_opts *opts,
                        kiln_err *err);
int kiln_lake_scan_open_meta(kiln_lake_scan **out, const kiln_lake_meta *meta,
                             const kiln_lake_scan_opts *opts, kiln_err *err);
int kiln_lake_scan_open_view(kiln_lake_scan **out, const kiln_lake_view *view,
                             const kiln_lake_scan_opts *opts, kiln_err *err);
/* Schema of the batches (projected columns). */
const kiln_schema *kiln_lake_scan_schema(const kiln_lake_scan *s);
/* 1 and *out (owned by the scan, valid until the next call), 0 at end, <0. */
int kiln_lake_scan_next(kiln_lake_scan *s, const kiln_batch **out, kiln_err *err);
const kiln_lake_plan_stats *kiln_lake_scan_plan_stats(const kiln_lake_scan *s);
int64_t kiln_lake_scan_snapshot_id(const kiln_lake_scan *s);
void kiln_lake_scan_free(kiln_lake_scan *s);

/* Read one whole data file (all columns of view->schema, identity partition
 * columns filled from the entry's partition tuple, deletes of the task
 * applied) into batches passed to fn. Used by copy-on-write rewrites. */
int kiln_lake_task_read(const kiln_lake_view *view, const kiln_lake_task *task,
                        int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err), void *ctx,
                        kiln_err *err);

/* ============================================================ writing */

/* Every operation below is one atomic commit (lake.h transaction with a
 * rebase hook): data files are written under <table>/data/<partition dirs>/,
 * then manifests, then the manifest list, then the metadata swap. A crash
 * before the swap leaves the table at its previous snapshot and the files
 * written so far as orphans (kiln_lake_orphans_list finds them).
 *
 * Concurrency: on a lost race the commit is rebuilt on the new head. An
 * append always rebases. Overwrite, MERGE and delete rebase only if none
 * of the files they remove was removed meanwhile and no data file was
 * added meanwhile in a partition they touch; otherwise KILN_ECONFLICT. */

typedef enum kiln_lake_write_mode {
    KILN_LAKE_WRITE_APPEND = 1,
    KILN_LAKE_WRITE_OVERWRITE,   /* dynamic: replace every partition the new rows fall in */
    KILN_LAKE_WRITE_MERGE        /* upsert by key columns, copy-on-write */
} kiln_lake_write_mode;

/* Fault points for crash tests (besides lake.h's commit hooks). */
typedef enum kiln_lake_fault_point {
    KILN_LAKE_FAULT_AFTER_DATA_FILES = 1,
    KILN_LAKE_FAULT_AFTER_MANIFESTS = 2   /* manifests and manifest list written */
} kiln_lake_fault_point;

typedef struct kiln_lake_write_opts {
    kiln_lake_write_mode mode;
    const char *branch;          /* NULL = "main"; a missing branch is created at branch_from's head */
    const char *branch_from;     /* NULL = "main"; if it is missing too, main's head */
    const char *merge_keys;      /* MERGE: "repo_id,sha" (columns of the table) */
    uint64_t target_file_rows;   /* cut data files at this many rows; 0 = 1,000,000 */
    /* Test only: a non-zero return aborts the write at that point. */
    int (*fault)(kiln_lake_fault_point where, void *ctx);
    void *fault_ctx;
    const kiln_lake_commit_opts *commit; /* retries, backoff, commit test hooks; NULL = defaults */
    uint64_t row_group_rows;     /* cut Parquet row groups at this many rows; 0 = by size only (128 MB) */
} kiln_lake_write_opts;

typedef struct kiln_lake_write_result {
    int64_t snapshot_id;         /* new snapshot, or -1 when nothing changed (no commit) */
    int noop;                    /* 1: nothing to change, nothing committed */
    int64_t rows_inserted;       /* appended / inserted by MERGE / written by overwrite */
    int64_t rows_updated;        /* MERGE: matched rows whose values changed */
    int64_t rows_deleted;        /* delete, overwrite (rows of replaced files) */
    int64_t files_added, files_removed;
    int attempts;                /* commit attempts (1 = no race) */
} kiln_lake_write_result;

typedef struct kiln_lake_writer kiln_lake_writer;

/* Open a writer on t. opts NULL = append to main. Caller frees with
 * kiln_lake_writer_free (after commit, or to abandon: nothing is written
 * before commit). */
int kiln_lake_writer_open(kiln_lake_writer **out, kiln_lake_table *t, const kiln_lake_write_opts *opts,
                          kiln_err *err);
/* The table schema rows should have (columns of supported types). */
const kiln_schema *kiln_lake_writer_schema(const kiln_lake_writer *w);
/* Stage a batch. Its columns are matched to the table's by name; table
 * columns it lacks are null (KILN_EINVAL if such a column is required). */
int kiln_lake_writer_write(kiln_lake_writer *w, const kiln_batch *b, kiln_err *err);
/* Write files and commit. result may be NULL. */
int kiln_lake_writer_commit(kiln_lake_writer *w, kiln_lake_write_result *result, kiln_err *err);
void kiln_lake_writer_free(kiln_lake_writer *w);

/* A kiln_sink over a writer: write = stage, commit = commit (result, if
 * not NULL, is filled at commit), abort = drop. */
int kiln_lake_sink_new(kiln_sink **out, kiln_lake_table *t, const kiln_lake_write_opts *opts,
                       kiln_lake_write_result *result, kiln_err *err);

/* Delete the rows matching `where` (copy-on-write: files with matching
 * rows are rewritten without them; files wholly matching are dropped).
 * opts may be NULL (mode is ignored). */
int kiln_lake_delete_where(kiln_lake_table *t, const char *where, const kiln_lake_write_opts *opts,
                           kiln_lake_write_result *result, kiln_err *err);

/* Compact the data manifests of a branch (NULL = main): the small ones of
 * each partition spec are bin-packed into manifests of about target_bytes
 * (<= 0: the table's commit.manifest.target-size-bytes, default 8 MB), in
 * one snapshot with operation "replace" (same rows, same files, sequence
 * numbers kept). Nothing to merge = no snapshot (snapshot_id -1). Commits
 * also merge by themselves once a spec has commit.manifest.min-count-to-merge
 * (default 100) manifests, unless commit.manifest-merge.enabled=false. */
typedef struct kiln_lake_rewrite_result {
    int64_t snapshot_id;      /* -1: nothing rewritten */
    int manifests_before, manifests_after, manifests_replaced;
} kiln_lake_rewrite_result;
int kiln_lake_rewrite_manifests(kiln_lake_table *t, const char *branch, int64_t target_bytes,
                                kiln_lake_rewrite_result *result, kiln_err *err);

/* ============================================================ files */

/* Every live file (data and delete) of a snapshot (-1 = main's head):
 * calls fn per entry. */
int kiln_lake_files_list(kiln_lake_table *t, int64_t snapshot_id,
                         int (*fn)(void *ctx, const kiln_lake_entry *e), void *ctx, kiln_err *err);

typedef struct kiln_lake_orphan_opts {
    int64_t older_than_ms;       /* only files modified before this (epoch ms); 0 = now - 3 days; -1 = any age */
    int dry_run;                 /* list, do not delete */
} kiln_lake_orphan_opts;

/* Files under the table directory that no snapshot, manifest list,
 * manifest or metadata file references (and metadata/v*.metadata.json,
 * version-hint.text, catalog files are never orphans). fn is called per
 * orphan (local path) before it is deleted (unless dry_run).
 * *count_out (may be NULL) = orphans found. */
int kiln_lake_orphans_remove(kiln_lake_table *t, const kiln_lake_orphan_opts *opts,
                             int (*fn)(void *ctx, const char *path, int64_t size), void *ctx,
                             size_t *count_out, kiln_err *err);

/* lake.h expire hook (kiln_lake_expire_opts.on_expired; ctx = NULL or a
 * size_t* counting deleted files): deletes the manifest lists, manifests
 * and data/delete files reachable only from expired snapshots. */
int kiln_lake_expire_delete_files(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                  const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err);

#endif /* KILN_LAKE_DATA_H */
