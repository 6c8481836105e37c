/*
 * lake.h - kiln's Apache Iceberg (format v2) layer: the one public header of
 * src/lake. This half ("lake-meta") is the table-metadata model, the
 * catalogs, transactions with optimistic commits, and metadata-only
 * operations (create/drop, refs, rollback, expire, time travel). The data
 * half (manifests, Parquet data files, scans, MERGE) lives in
 * lake/lake_data.h, included at the end of this header.
 *
 * MODEL. A kiln_lake_meta is a parsed vN.metadata.json: plain structs whose
 * strings and arrays live in the meta's own arena (read them directly; do
 * not free or modify them). A meta is immutable once built; a transaction
 * applies its updates to a private copy. Unknown JSON fields are kept as raw
 * JSON text (`extra_json`) and written back on serialize.
 *
 * CATALOG. A warehouse directory WAREHOUSE/ holds tables at
 * WAREHOUSE/<namespace>/<table>/{metadata,data}/. Every commit, in both
 * catalog kinds, writes metadata/v<N>.metadata.json with a no-overwrite
 * link (the commit point: two committers cannot both create v<N>), then
 * version-hint.text. The SQLite catalog (WAREHOUSE/catalog.db, the default)
 * additionally stores name -> metadata location and is swapped under its
 * write lock with UPDATE ... WHERE metadata_location = <old>; a row left
 * behind by a crash between link and UPDATE is rolled forward on load. The
 * "hadoop" catalog has no database: tables are found by directory. So Spark,
 * DuckDB or PyIceberg can read any kiln table as a Hadoop table.
 *
 * COMMIT. kiln_lake_txn_begin() takes a loaded table as base; add
 * requirements (checked against the current metadata at commit time, like
 * the REST catalog's) and updates (applied in order); kiln_lake_txn_commit()
 * writes the new metadata and swaps it in. On a lost race it reloads, calls
 * the caller's rebase hook (which may rebuild requirements/updates against
 * the new base, e.g. rewrite a manifest list with the new sequence number),
 * re-checks requirements and retries with backoff; when it cannot, it fails
 * with KILN_ECONFLICT and a message naming the requirement.
 *
 * Threads: every object belongs to one thread. Different processes may
 * commit to one table at once (that is what the commit protocol is for).
 */
#ifndef KILN_LAKE_H
#define KILN_LAKE_H

#include "base/base.h"

#include <stdint.h>

/* ============================================================ types */

typedef enum kiln_lake_kind {
    KILN_LAKE_UNKNOWN = 0, /* a primitive name kiln does not know (kept by name) */
    KILN_LAKE_BOOLEAN,
    KILN_LAKE_INT,
    KILN_LAKE_LONG,
    KILN_LAKE_FLOAT,
    KILN_LAKE_DOUBLE,
    KILN_LAKE_DECIMAL,     /* precision, scale */
    KILN_LAKE_DATE,
    KILN_LAKE_TIME,
    KILN_LAKE_TIMESTAMP,
    KILN_LAKE_TIMESTAMPTZ,
    KILN_LAKE_STRING,
    KILN_LAKE_UUID,
    KILN_LAKE_FIXED,       /* length */
    KILN_LAKE_BINARY,
    KILN_LAKE_STRUCT,
    KILN_LAKE_LIST,
    KILN_LAKE_MAP
} kiln_lake_kind;

typedef struct kiln_lake_type kiln_lake_type;

typedef struct kiln_lake_field {
    int32_t id;
    const char *name;
    int required;
    const kiln_lake_type *type;
    const char *doc;        /* NULL when absent */
    const char *extra_json; /* unknown keys (e.g. initial-default) as a JSON object text, or NULL */
} kiln_lake_field;

struct kiln_lake_type {
    kiln_lake_kind kind;
    const char *name;        /* primitive spelling as in JSON ("decimal(9,2)"); "struct"/"list"/"map" */
    int32_t precision, scale; /* DECIMAL */
    int32_t length;          /* FIXED */
    /* STRUCT */
    size_t nfields;
    const kiln_lake_field *fields;
    /* LIST */
    int32_t element_id;
    int element_required;
    const kiln_lake_type *element;
    /* MAP */
    int32_t key_id, value_id;
    int value_required;
    const kiln_lake_type *key, *value;
};

typedef struct kiln_lake_schema {
    int32_t schema_id;
    size_t nidentifier;
    const int32_t *identifier_field_ids;
    size_t nfields; /* top-level columns */
    const kiln_lake_field *fields;
    const char *extra_json;
} kiln_lake_schema;

/* Find a field anywhere in the schema (nested too) by id; NULL if absent. */
const kiln_lake_field *kiln_lake_schema_field(const kiln_lake_schema *s, int32_t field_id);
/* Find a top-level column by name (exact); NULL if absent. */
const kiln_lake_field *kiln_lake_schema_column(const kiln_lake_schema *s, const char *name);
/* Parse a type spelling ("long", "decimal(9,2)", "fixed[16]") of a primitive.
 * Returns 0 or KILN_EFORMAT. out->fields etc. are zero. */
int kiln_lake_type_parse_primitive(kiln_lake_type *out, const char *s, kiln_err *err);
/* Spec's allowed type promotion (int->long, float->double, decimal(P,S)->
 * decimal(P',S) with P' >= P, same type). 1 if allowed. */
int kiln_lake_type_can_promote(const kiln_lake_type *from, const kiln_lake_type *to);

/* ============================================================ partitioning */

typedef enum kiln_lake_transform_kind {
    KILN_LAKE_XF_UNKNOWN = 0, /* kept by name; values cannot be computed */
    KILN_LAKE_XF_IDENTITY,
    KILN_LAKE_XF_BUCKET,      /* param = N */
    KILN_LAKE_XF_TRUNCATE,    /* param = W */
    KILN_LAKE_XF_YEAR,
    KILN_LAKE_XF_MONTH,
    KILN_LAKE_XF_DAY,
    KILN_LAKE_XF_HOUR,
    KILN_LAKE_XF_VOID
} kiln_lake_transform_kind;

typedef struct kiln_lake_transform {
    kiln_lake_transform_kind kind;
    int32_t param;     /* bucket N / truncate W, else 0 */
    const char *text;  /* as in JSON: "bucket[16]" */
} kiln_lake_transform;

/* Parse "identity", "bucket[16]", "truncate[4]", "day", ... (unknown names
 * give KILN_LAKE_XF_UNKNOWN, not an error). text is borrowed from s. */
int kiln_lake_transform_parse(kiln_lake_transform *out, const char *s, kiln_err *err);

/* A single value for transforms. Representation by kind:
 *   BOOLEAN/INT/LONG/DATE(days)/TIME(us)/TIMESTAMP(TZ)(us since epoch UTC): i
 *   FLOAT/DOUBLE: d
 *   DECIMAL: i = unscaled value (precision <= 18), scale in type
 *   STRING (UTF-8)/BINARY/FIXED/UUID(16 bytes BE): bytes, len                */
typedef struct kiln_lake_value {
    kiln_lake_kind kind;
    int is_null;
    int64_t i;
    double d;
    const uint8_t *bytes; /* borrowed */
    size_t len;
} kiln_lake_value;

/* The transform's result type for a source type (day -> DATE, bucket/year/
 * month/hour -> INT, identity/truncate -> source, void -> source).
 * KILN_EINVAL if the transform does not apply to that source type. */
int kiln_lake_transform_result(kiln_lake_type *out, const kiln_lake_transform *t,
                               const kiln_lake_type *source, kiln_err *err);
/* Apply t to in (of type source). out->bytes may point into in->bytes
 * (truncate of strings/binary). Null -> null; void -> null. */
int kiln_lake_transform_apply(kiln_lake_value *out, const kiln_lake_transform *t,
                              const kiln_lake_type *source, const kiln_lake_value *in,
                              kiln_err *err);
/* Murmur3 x86 32-bit hash of bytes, seed 0 (bucket transform building block). */
uint32_t kiln_lake_murmur3_32(const void *p, size_t n);

typedef struct kiln_lake_part_field {
    int32_t source_id;
    int32_t field_id;   /* >= 1000 */
    const char *name;
    kiln_lake_transform transform;
} kiln_lake_part_field;

typedef struct kiln_lake_spec {
    int32_t spec_id;
    size_t nfields;
    const kiln_lake_part_field *fields;
} kiln_lake_spec;

typedef struct kiln_lake_sort_field {
    int32_t source_id;
    kiln_lake_transform transform;
    int descending;
    int nulls_first;
} kiln_lake_sort_field;

typedef struct kiln_lake_sort_order {
    int32_t order_id;
    size_t nfields;
    const kiln_lake_sort_field *fields;
} kiln_lake_sort_order;

/* ============================================================ snapshots, refs */

typedef struct kiln_lake_kv {
    const char *key, *value;
} kiln_lake_kv;

typedef struct kiln_lake_snapshot {
    int64_t snapshot_id;
    int64_t parent_id;        /* -1 when none */
    int64_t sequence_number;
    int64_t timestamp_ms;
    const char *manifest_list;
    int32_t schema_id;        /* -1 when absent */
    const char *operation;    /* summary["operation"] ("append", ...) */
    size_t nsummary;          /* full summary, "operation" included */
    const kiln_lake_kv *summary;
    const char *extra_json;   /* unknown keys, or NULL */
} kiln_lake_snapshot;

typedef enum { KILN_LAKE_BRANCH = 0, KILN_LAKE_TAG = 1 } kiln_lake_ref_type;

typedef struct kiln_lake_ref {
    const char *name;
    kiln_lake_ref_type type;
    int64_t snapshot_id;
    int64_t min_snapshots_to_keep; /* -1 when unset (branch only) */
    int64_t max_snapshot_age_ms;   /* -1 when unset (branch only) */
    int64_t max_ref_age_ms;        /* -1 when unset */
} kiln_lake_ref;

typedef struct kiln_lake_snaplog {
    int64_t timestamp_ms;
    int64_t snapshot_id;
} kiln_lake_snaplog;

typedef struct kiln_lake_metalog {
    int64_t timestamp_ms;
    const char *metadata_file;
} kiln_lake_metalog;

/* ============================================================ table metadata */

typedef struct kiln_lake_meta {
    int format_version;        /* 1 or 2 (v1 is read and upgraded on write) */
    const char *table_uuid;
    const char *location;
    int64_t last_sequence_number;
    int64_t last_updated_ms;
    int32_t last_column_id;
    int32_t current_schema_id;
    int32_t default_spec_id;
    int32_t last_partition_id;
    int32_t default_sort_order_id;
    int64_t current_snapshot_id; /* -1 when none (refs.main) */
    size_t nschemas;
    const kiln_lake_schema *schemas;
    size_t nspecs;
    const kiln_lake_spec *specs;
    size_t nsort_orders;
    const kiln_lake_sort_order *sort_orders;
    size_t nproperties;
    const kiln_lake_kv *properties;
    size_t nsnapshots;
    const kiln_lake_snapshot *snapshots;   /* in file order (oldest first) */
    size_t nrefs;
    const kiln_lake_ref *refs;             /* includes "main" when there is a current snapshot */
    size_t nsnapshot_log;
    const kiln_lake_snaplog *snapshot_log;
    size_t nmetadata_log;
    const kiln_lake_metalog *metadata_log;
    const char *extra_json;                /* unknown top-level keys, or NULL */
    struct kiln_lake_meta_priv *priv;      /* owner of all the memory above */
} kiln_lake_meta;

/* Parse metadata JSON (v1 or v2). Caller frees with kiln_lake_meta_free. */
int kiln_lake_meta_parse(kiln_lake_meta **out, const char *json, size_t n, kiln_err *err);
/* Read and parse a metadata file (path or file:// URI; .gz.metadata.json not supported). */
int kiln_lake_meta_read(kiln_lake_meta **out, const char *path, kiln_err *err);
/* Serialize as v2 JSON (indented when pretty). Appends to out. */
int kiln_lake_meta_write(const kiln_lake_meta *m, int pretty, kiln_buf *out, kiln_err *err);
/* Deep copy. Caller frees with kiln_lake_meta_free. */
int kiln_lake_meta_clone(kiln_lake_meta **out, const kiln_lake_meta *m, kiln_err *err);
void kiln_lake_meta_free(kiln_lake_meta *m); /* NULL is a no-op */

/* Lookups; NULL when absent. */
const kiln_lake_schema *kiln_lake_meta_schema(const kiln_lake_meta *m, int32_t schema_id);
const kiln_lake_schema *kiln_lake_meta_current_schema(const kiln_lake_meta *m);
const kiln_lake_spec *kiln_lake_meta_spec(const kiln_lake_meta *m, int32_t spec_id);
const kiln_lake_spec *kiln_lake_meta_default_spec(const kiln_lake_meta *m);
const kiln_lake_snapshot *kiln_lake_meta_snapshot(const kiln_lake_meta *m, int64_t snapshot_id);
const kiln_lake_snapshot *kiln_lake_meta_current_snapshot(const kiln_lake_meta *m);
const kiln_lake_ref *kiln_lake_meta_ref(const kiln_lake_meta *m, const char *name);
const char *kiln_lake_meta_property(const kiln_lake_meta *m, const char *key);
/* Summary value of a snapshot, NULL when absent. */
const char *kiln_lake_snapshot_summary(const kiln_lake_snapshot *s, const char *key);
/* 1 if `ancestor` is `snapshot_id` or one of its parents (walking parent ids). */
int kiln_lake_meta_is_ancestor(const kiln_lake_meta *m, int64_t snapshot_id, int64_t ancestor);
/* Time travel: the snapshot that was current (on main) at timestamp_ms,
 * from the snapshot log. KILN_ENOTFOUND if the table had none then. */
int kiln_lake_meta_snapshot_as_of(const kiln_lake_meta *m, int64_t timestamp_ms,
                                  int64_t *out_snapshot_id, kiln_err *err);
/* Resolve "--as-of"/"--ref" text: a snapshot id, a ref name, or a timestamp
 * ("2024-03-03T10:00:00Z", "2024-03-03", or "ms:<epoch ms>"). NULL or ""
 * means main's head. *out = -1 for an empty table. */
int kiln_lake_meta_resolve(const kiln_lake_meta *m, const char *what,
                           int64_t *out_snapshot_id, kiln_err *err);

/* New ids: positive random in [1, 2^53) (exact in JavaScript readers);
 * a UUIDv4 string (37 bytes with NUL). */
int64_t kiln_lake_snapshot_id_new(void);
void kiln_lake_uuid_v4(char out[37]);

/* ============================================================ catalog */

typedef enum {
    KILN_LAKE_CATALOG_SQLITE = 0, /* WAREHOUSE/catalog.db + hadoop layout files */
    KILN_LAKE_CATALOG_HADOOP = 1  /* directory layout only */
} kiln_lake_catalog_kind;

typedef struct kiln_lake_catalog kiln_lake_catalog;

/* How a warehouse is opened. */
typedef enum kiln_lake_open_mode {
    KILN_LAKE_OPEN_CREATE = 0,   /* create the directory and catalog.db when missing */
    KILN_LAKE_OPEN_READONLY = 1, /* create and change nothing: reading a missing warehouse is
                                    KILN_ENOTFOUND ("warehouse not found: PATH"), a missing
                                    catalog.db an empty catalog, every change KILN_EINVAL; a commit
                                    found behind the catalog row is followed in memory only */
    KILN_LAKE_OPEN_LAZY = 2      /* read as READONLY (a missing warehouse is empty) until the first
                                    change, which creates the directory and catalog.db */
} kiln_lake_open_mode;

/* Open a warehouse: a local directory, given as a path or a file:// URI.
 * Any other scheme (s3://, gs://, http://...) is KILN_EUNSUPP naming it.
 * kiln_lake_catalog_open is mode KILN_LAKE_OPEN_CREATE. Caller frees with
 * kiln_lake_catalog_free. */
int kiln_lake_catalog_open(kiln_lake_catalog **out, const char *warehouse,
                           kiln_lake_catalog_kind kind, kiln_err *err);
int kiln_lake_catalog_open_mode(kiln_lake_catalog **out, const char *warehouse,
                                kiln_lake_catalog_kind kind, kiln_lake_open_mode mode, kiln_err *err);
void kiln_lake_catalog_free(kiln_lake_catalog *c);
const char *kiln_lake_catalog_warehouse(const kiln_lake_catalog *c); /* absolute path */

/* Validate "ns.table" (or "ns" for namespace calls): each part a safe path
 * component of [A-Za-z0-9_-], starting with a letter or '_', <= 128 bytes.
 * On success copies the parts into ns/table (each >= 129 bytes). */
int kiln_lake_name_split(const char *name, char ns[129], char table[129], kiln_err *err);

int kiln_lake_namespace_create(kiln_lake_catalog *c, const char *ns, kiln_err *err);
/* Fails with KILN_EEXIST if it still has tables. */
int kiln_lake_namespace_drop(kiln_lake_catalog *c, const char *ns, kiln_err *err);
/* Calls fn for each namespace, sorted. */
int kiln_lake_namespace_list(kiln_lake_catalog *c,
                             int (*fn)(void *ctx, const char *ns), void *ctx, kiln_err *err);
/* Calls fn for each table ("ns.table" and metadata location), sorted;
 * ns NULL lists all namespaces. */
int kiln_lake_table_list(kiln_lake_catalog *c, const char *ns,
                         int (*fn)(void *ctx, const char *name, const char *metadata_location),
                         void *ctx, kiln_err *err);

/* ============================================================ tables */

typedef struct kiln_lake_table kiln_lake_table;

typedef struct kiln_lake_create_opts {
    const char *schema_ddl;     /* "id long not null, name string, ts timestamptz,
                                   tags list<string>, m map<string,double>,
                                   s struct<a:int,b:string>, d decimal(9,2)" */
    const char *schema_json;    /* alternatively an Iceberg schema JSON object */
    const char *partition;      /* "day(ts), bucket(16, id), truncate(4, name), identity(x)"; NULL = none */
    const char *sort;           /* "ts desc nulls last, id"; NULL = unsorted */
    size_t nproperties;
    const kiln_lake_kv *properties;
} kiln_lake_create_opts;

/* Create a table (namespace created on demand). Fresh field ids are
 * assigned from 1, partition field ids from 1000. KILN_EEXIST if present. */
int kiln_lake_table_create(kiln_lake_table **out, kiln_lake_catalog *c, const char *name,
                           const kiln_lake_create_opts *opts, kiln_err *err);
/* Load the current metadata. KILN_ENOTFOUND if there is no such table. */
int kiln_lake_table_load(kiln_lake_table **out, kiln_lake_catalog *c, const char *name,
                         kiln_err *err);
/* Re-read the current metadata (after someone else committed). */
int kiln_lake_table_refresh(kiln_lake_table *t, kiln_err *err);
void kiln_lake_table_free(kiln_lake_table *t); /* NULL is a no-op */

const kiln_lake_meta *kiln_lake_table_meta(const kiln_lake_table *t); /* owned by t */
const char *kiln_lake_table_name(const kiln_lake_table *t);           /* "ns.table" */
const char *kiln_lake_table_metadata_location(const kiln_lake_table *t); /* file:// URI */
int kiln_lake_table_version(const kiln_lake_table *t);                /* N of vN.metadata.json */
const char *kiln_lake_table_dir(const kiln_lake_table *t);            /* local path of the table */
kiln_lake_catalog *kiln_lake_table_catalog(const kiln_lake_table *t);
/* Local path for a table URI/path ("file:///w/ns/t/data/x.parquet" -> "/w/ns/t/data/x.parquet").
 * Caller frees. KILN_EUNSUPP (naming the scheme) if it is not a local path. */
int kiln_lake_uri_to_path(char **out, const char *uri, kiln_err *err);
/* "file://" + absolute path. Caller frees. */
char *kiln_lake_path_to_uri(const char *path);

/* Drop a table from the catalog; purge also removes its directory. */
int kiln_lake_table_drop(kiln_lake_catalog *c, const char *name, int purge, kiln_err *err);
/* Rename within the catalog (SQLite only; files stay where they are). */
int kiln_lake_table_rename(kiln_lake_catalog *c, const char *from, const char *to, kiln_err *err);

/* ============================================================ transactions */

typedef struct kiln_lake_txn kiln_lake_txn;

/* Start a transaction on t's current metadata. Caller frees with
 * kiln_lake_txn_free (after commit or to abandon it). t must outlive txn;
 * after a successful commit t holds the new metadata. */
int kiln_lake_txn_begin(kiln_lake_txn **out, kiln_lake_table *t, kiln_err *err);
void kiln_lake_txn_free(kiln_lake_txn *txn);
/* The metadata this attempt is based on (changes on rebase). */
const kiln_lake_meta *kiln_lake_txn_base(const kiln_lake_txn *txn);
/* Metadata after applying the updates so far to the base (for chained
 * updates, e.g. reading the schema a previous add-schema created). */
int kiln_lake_txn_preview(const kiln_lake_meta **out, kiln_lake_txn *txn, kiln_err *err);
/* base->last_sequence_number + 1: the sequence number for a new snapshot. */
int64_t kiln_lake_txn_next_sequence_number(const kiln_lake_txn *txn);
/* Drop all requirements and updates (a rebase hook rebuilding from scratch). */
void kiln_lake_txn_clear(kiln_lake_txn *txn);

/* Requirements (REST catalog names). Checked against the latest metadata
 * on every attempt; a failed one is KILN_ECONFLICT unless a rebase hook
 * rewrites it. */
int kiln_lake_txn_require_uuid(kiln_lake_txn *txn, const char *uuid, kiln_err *err);
/* snapshot_id -1 = the ref must not exist. */
int kiln_lake_txn_require_ref_snapshot(kiln_lake_txn *txn, const char *ref, int64_t snapshot_id,
                                       kiln_err *err);
int kiln_lake_txn_require_current_schema_id(kiln_lake_txn *txn, int32_t id, kiln_err *err);
int kiln_lake_txn_require_last_column_id(kiln_lake_txn *txn, int32_t id, kiln_err *err);
int kiln_lake_txn_require_last_partition_id(kiln_lake_txn *txn, int32_t id, kiln_err *err);
int kiln_lake_txn_require_default_spec_id(kiln_lake_txn *txn, int32_t id, kiln_err *err);
int kiln_lake_txn_require_default_sort_order_id(kiln_lake_txn *txn, int32_t id, kiln_err *err);

/* Updates (REST catalog actions), applied in order at commit. */

/* add-snapshot: snap is copied. Checks: id unused, sequence_number >
 * last-sequence-number (use kiln_lake_txn_next_sequence_number), parent
 * exists when set. Sets last-sequence-number, appends to snapshots. Does NOT
 * move any ref: add set_ref for that. */
int kiln_lake_txn_add_snapshot(kiln_lake_txn *txn, const kiln_lake_snapshot *snap, kiln_err *err);
/* set-snapshot-ref: create or move a branch/tag. Retention fields -1 = unset.
 * For "main" this also sets current-snapshot-id and appends to snapshot-log. */
int kiln_lake_txn_set_ref(kiln_lake_txn *txn, const kiln_lake_ref *ref, kiln_err *err);
int kiln_lake_txn_remove_ref(kiln_lake_txn *txn, const char *name, kiln_err *err);
/* remove-snapshots; refs pointing at them make the apply fail. */
int kiln_lake_txn_remove_snapshots(kiln_lake_txn *txn, const int64_t *ids, size_t n,
                                   kiln_err *err);
int kiln_lake_txn_set_properties(kiln_lake_txn *txn, const kiln_lake_kv *kv, size_t n,
                                 kiln_err *err);
int kiln_lake_txn_remove_properties(kiln_lake_txn *txn, const char *const *keys, size_t n,
                                    kiln_err *err);
/* add-schema from Iceberg schema JSON (its schema-id is reassigned; field ids
 * must be set; last-column-id is raised to cover them), then with
 * set_current_schema(-1) make it current ("-1 = last added"). */
int kiln_lake_txn_add_schema_json(kiln_lake_txn *txn, const char *schema_json, kiln_err *err);
int kiln_lake_txn_set_current_schema(kiln_lake_txn *txn, int32_t schema_id, kiln_err *err);
/* Schema evolution helpers on the current schema, each adding a new schema
 * and making it current. Columns are addressed by top-level name (dots for
 * nested struct fields: "s.a"). New columns are optional. */
int kiln_lake_txn_add_column(kiln_lake_txn *txn, const char *parent, const char *name,
                             const char *type_ddl, const char *doc, kiln_err *err);
int kiln_lake_txn_rename_column(kiln_lake_txn *txn, const char *path, const char *new_name,
                                kiln_err *err);
/* Widen per the spec's promotions; anything else is KILN_EINVAL. */
int kiln_lake_txn_widen_column(kiln_lake_txn *txn, const char *path, const char *type,
                               kiln_err *err);
/* add-spec from "day(ts), bucket(16,id)" against the current schema; new
 * partition field ids continue from last-partition-id (or reuse the id of
 * an equal field in an older spec). set_default_spec(-1) = last added. */
int kiln_lake_txn_add_spec(kiln_lake_txn *txn, const char *partition, kiln_err *err);
int kiln_lake_txn_set_default_spec(kiln_lake_txn *txn, int32_t spec_id, kiln_err *err);

/* Add requirements and updates given as Iceberg REST catalog JSON: the
 * "requirements" and "updates" arrays of a CommitTableRequest (either may be
 * NULL). Supported: every assert-* requirement (assert-create fails with
 * KILN_ECONFLICT: the table exists) and the actions add-snapshot,
 * set-snapshot-ref, remove-snapshot-ref, remove-snapshots, set-properties,
 * remove-properties, add-schema, set-current-schema, add-spec,
 * set-default-spec, upgrade-format-version (to 2). Anything else is
 * KILN_EUNSUPP (REST 400); malformed input KILN_EINVAL. */
int kiln_lake_txn_add_rest_json(kiln_lake_txn *txn, const char *requirements_json, const char *updates_json,
                                kiln_err *err);

/* Rebase hook: called after a lost race with the freshly loaded metadata as
 * the new base (kiln_lake_txn_base). It may inspect it, clear and rebuild the
 * txn (e.g. rewrite the manifest list with the new sequence number and
 * parent, update assert-ref-snapshot-id). Return 0 to retry, KILN_ECONFLICT
 * (with a message) to give up. Without a hook a retry re-applies the same
 * updates if all requirements still hold. */
typedef int (*kiln_lake_rebase_fn)(kiln_lake_txn *txn, void *ctx, kiln_err *err);

/* Test hook points in a commit (crash tests). */
typedef enum {
    KILN_LAKE_HOOK_BEFORE_WRITE = 1, /* new metadata serialized, nothing written */
    KILN_LAKE_HOOK_BEFORE_SWAP,      /* temp metadata file written, not committed */
    KILN_LAKE_HOOK_AFTER_SWAP        /* committed (vN linked), catalog row / hint not yet */
} kiln_lake_hook_point;

typedef struct kiln_lake_commit_opts {
    int max_retries;          /* 0 = default 20 */
    int backoff_ms;           /* first backoff, doubled each retry (jittered), capped at 2 s; 0 = 5 */
    kiln_lake_rebase_fn rebase;
    void *rebase_ctx;
    /* Test only: called at each hook point; a non-zero return aborts the
     * commit there with that code (simulating a crash). */
    int (*test_hook)(kiln_lake_hook_point where, void *ctx);
    void *test_hook_ctx;
} kiln_lake_commit_opts;

/* Commit (opts may be NULL). On success the table now holds the new
 * metadata and *attempts_out (if not NULL) says how many tries it took. */
int kiln_lake_txn_commit(kiln_lake_txn *txn, const kiln_lake_commit_opts *opts,
                         int *attempts_out, kiln_err *err);

/* ============================================================ operations */

/* Each is one transaction + commit (retried on races). */
int kiln_lake_rollback(kiln_lake_table *t, int64_t snapshot_id, kiln_err *err);   /* must be an ancestor of main */
int kiln_lake_set_current(kiln_lake_table *t, int64_t snapshot_id, kiln_err *err); /* any snapshot */
/* Create a branch/tag at snapshot_id (-1 = main's head). Retention -1 = unset. */
int kiln_lake_ref_create(kiln_lake_table *t, const kiln_lake_ref *ref, kiln_err *err);
int kiln_lake_ref_drop(kiln_lake_table *t, const char *name, kiln_err *err);       /* never "main" */
/* Move `to` (default "main") to `from`'s head if to's head is an ancestor. */
int kiln_lake_fast_forward(kiln_lake_table *t, const char *to, const char *from, kiln_err *err);
/* Write-audit-publish: in one commit, fast-forward `to` (default "main";
 * created when missing) to branch `from`'s head and drop `from`.
 * KILN_ECONFLICT when to's head is not an ancestor of from's (to moved on
 * since `from` was cut); nothing changes then. */
int kiln_lake_publish(kiln_lake_table *t, const char *to, const char *from, kiln_err *err);
int kiln_lake_set_properties(kiln_lake_table *t, const kiln_lake_kv *kv, size_t n, kiln_err *err);

typedef struct kiln_lake_expire_opts {
    int64_t older_than_ms;  /* expire snapshots with timestamp < this; -1 = use property/5 days */
    int retain_last;        /* keep at least this many ancestors of each branch; 0 = property/1 */
    int dry_run;            /* compute but do not commit */
    /* Called after the commit (or on a dry run) with the metadata before and
     * after and the expired snapshots; the data half uses it to find
     * manifests and data files no longer reachable. May be NULL. */
    int (*on_expired)(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                      const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err);
    void *ctx;
    int delete_manifest_lists; /* also delete the expired snapshots' manifest-list files */
} kiln_lake_expire_opts;

/* Expire snapshots per the spec's ref retention (never a ref head, never
 * main's current), also drops expired non-main refs. expired_out (may be
 * NULL) receives a kiln_malloc'd array of ids; caller frees. */
int kiln_lake_expire(kiln_lake_table *t, const kiln_lake_expire_opts *opts,
                     int64_t **expired_out, size_t *nexpired_out, kiln_err *err);

/* ============================================================ data half */

#if defined(__has_include)
#if __has_include("lake/lake_data.h")
#include "lake/lake_data.h"
#endif
#endif

#endif /* KILN_LAKE_H */
