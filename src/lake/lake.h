/*
 * lake.h - kiln's Apache Iceberg (format v2) layer: the one public header of
 * src/lake. The first half is the table-metadata model, the catalogs,
 * transactions with optimistic commits, and metadata-only operations
 * (create/drop, refs, rollback, expire, time travel); the data half at the
 * end covers manifests, Parquet data files, scans, MERGE and file
 * maintenance.
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
#include "format/batch.h"
#include "format/pred.h"

#include <stdint.h>

/* ============================================================ types */

typedef enum kiln_lake_kind {
    KILN_LAKE_UNKNOWN = 0, /* a primitive name kiln does not know (kept by name) */
    KILN_LAKE_BOOLEAN,
    KILN_LAKE_INT,
    KILN_LAKE_LONG,
    KILN_LAKE_FLOAT,
    KILN_LAKE_DOUBLE,
    KILN_LAKE_DECIMAL, /* precision, scale */
    KILN_LAKE_DATE,
    KILN_LAKE_TIME,
    KILN_LAKE_TIMESTAMP,
    KILN_LAKE_TIMESTAMPTZ,
    KILN_LAKE_STRING,
    KILN_LAKE_UUID,
    KILN_LAKE_FIXED, /* length */
    KILN_LAKE_BINARY,
    KILN_LAKE_STRUCT,
    KILN_LAKE_LIST,
    KILN_LAKE_MAP,
    /* v3: read as exact text (Parquet INT64 TIMESTAMP(NANOS), see docs/interop.md) */
    KILN_LAKE_TIMESTAMP_NS,
    KILN_LAKE_TIMESTAMPTZ_NS
} kiln_lake_kind;

/* A view's STRING column with this scale holds timestamp_ns/timestamptz_ns
 * text (its Iceberg bounds are longs, never compared as strings). */
#define KILN_LAKE_NS_TEXT_SCALE 9

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
    const char *name;         /* primitive spelling as in JSON ("decimal(9,2)"); "struct"/"list"/"map" */
    int32_t precision, scale; /* DECIMAL */
    int32_t length;           /* FIXED */
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
/* A type in kiln's DDL spelling (what `kiln table describe` prints and
 * --schema accepts): primitives by name, list<T>, map<K, V>,
 * struct<a: T, b: U>; nesting beyond 8 levels shows "...". Written into
 * buf (truncated to cap, NUL-terminated); returns buf. */
const char *kiln_lake_type_str(const kiln_lake_type *t, char *buf, size_t cap);
/* Spec's allowed type promotion (int->long, float->double, decimal(P,S)->
 * decimal(P',S) with P' >= P, same type). 1 if allowed. */
int kiln_lake_type_can_promote(const kiln_lake_type *from, const kiln_lake_type *to);

/* ============================================================ partitioning */

typedef enum kiln_lake_transform_kind {
    KILN_LAKE_XF_UNKNOWN = 0, /* kept by name; values cannot be computed */
    KILN_LAKE_XF_IDENTITY,
    KILN_LAKE_XF_BUCKET,   /* param = N */
    KILN_LAKE_XF_TRUNCATE, /* param = W */
    KILN_LAKE_XF_YEAR,
    KILN_LAKE_XF_MONTH,
    KILN_LAKE_XF_DAY,
    KILN_LAKE_XF_HOUR,
    KILN_LAKE_XF_VOID
} kiln_lake_transform_kind;

typedef struct kiln_lake_transform {
    kiln_lake_transform_kind kind;
    int32_t param;    /* bucket N / truncate W, else 0 */
    const char *text; /* as in JSON: "bucket[16]" */
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
int kiln_lake_transform_result(kiln_lake_type *out, const kiln_lake_transform *t, const kiln_lake_type *source,
                               kiln_err *err);
/* Apply t to in (of type source). out->bytes may point into in->bytes
 * (truncate of strings/binary). Null -> null; void -> null. */
int kiln_lake_transform_apply(kiln_lake_value *out, const kiln_lake_transform *t, const kiln_lake_type *source,
                              const kiln_lake_value *in, kiln_err *err);
/* Murmur3 x86 32-bit hash of bytes, seed 0 (bucket transform building block). */
uint32_t kiln_lake_murmur3_32(const void *p, size_t n);

typedef struct kiln_lake_part_field {
    int32_t source_id;
    int32_t field_id; /* >= 1000 */
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
    int64_t parent_id; /* -1 when none */
    int64_t sequence_number;
    int64_t timestamp_ms;
    const char *manifest_list;
    int32_t schema_id;     /* -1 when absent */
    const char *operation; /* summary["operation"] ("append", ...) */
    size_t nsummary;       /* full summary, "operation" included */
    const kiln_lake_kv *summary;
    const char *extra_json; /* unknown keys, or NULL */
    /* v3 row lineage: first-row-id and added-rows (has_row_lineage = 0: absent) */
    int has_row_lineage;
    int64_t first_row_id, added_rows;
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
    int format_version;  /* 1, 2 or 3 (v1 is read and upgraded to 2 on write; 3 is kept) */
    int64_t next_row_id; /* v3 row lineage: next-row-id (0 when absent) */
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
    const kiln_lake_snapshot *snapshots; /* in file order (oldest first) */
    size_t nrefs;
    const kiln_lake_ref *refs; /* includes "main" when there is a current snapshot */
    size_t nsnapshot_log;
    const kiln_lake_snaplog *snapshot_log;
    size_t nmetadata_log;
    const kiln_lake_metalog *metadata_log;
    const char *extra_json;           /* unknown top-level keys, or NULL */
    struct kiln_lake_meta_priv *priv; /* owner of all the memory above */
    /* A table registered from another engine with a path remap (kept in
     * the catalog): stored paths starting with remap_from are read under
     * remap_to. NULL otherwise. Scans use it when given no remap. */
    const char *remap_from, *remap_to;
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
int kiln_lake_meta_snapshot_as_of(const kiln_lake_meta *m, int64_t timestamp_ms, int64_t *out_snapshot_id,
                                  kiln_err *err);
/* Resolve "--as-of"/"--ref" text: a snapshot id, a ref name, or a timestamp
 * ("2024-03-03T10:00:00Z", "2024-03-03", or "ms:<epoch ms>"). NULL or ""
 * means main's head. *out = -1 for an empty table. */
int kiln_lake_meta_resolve(const kiln_lake_meta *m, const char *what, int64_t *out_snapshot_id, kiln_err *err);

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
int kiln_lake_catalog_open(kiln_lake_catalog **out, const char *warehouse, kiln_lake_catalog_kind kind, kiln_err *err);
int kiln_lake_catalog_open_mode(kiln_lake_catalog **out, const char *warehouse, kiln_lake_catalog_kind kind,
                                kiln_lake_open_mode mode, kiln_err *err);
void kiln_lake_catalog_free(kiln_lake_catalog *c);
const char *kiln_lake_catalog_warehouse(const kiln_lake_catalog *c); /* absolute path */

/* Validate "ns.table" (or "ns" for namespace calls): each part a safe path
 * component of [A-Za-z0-9_-], starting with a letter or '_', <= 128 bytes.
 * On success copies the parts into ns/table (each >= 129 bytes). */
int kiln_lake_name_split(const char *name, char ns[129], char table[129], kiln_err *err);

int kiln_lake_namespace_create(kiln_lake_catalog *c, const char *ns, kiln_err *err);
/* Fails with KILN_EEXIST if it still has tables. */
int kiln_lake_namespace_drop(kiln_lake_catalog *c, const char *ns, kiln_err *err);
/* A namespace's properties (the SQLite catalog's iceberg_namespace_properties,
 * without the reserved 'exists' marker), fn called per pair sorted by key;
 * the Hadoop catalog has none. */
int kiln_lake_namespace_props(kiln_lake_catalog *c, const char *ns,
                              int (*fn)(void *ctx, const char *key, const char *value), void *ctx, kiln_err *err);
/* Remove keys remove[0..nremove) then set keys[i] = values[i], in one catalog
 * transaction; removed[i] (may be NULL) = 1 when remove[i] existed.
 * 'exists' is reserved (KILN_EINVAL); the Hadoop catalog: KILN_EUNSUPP. */
int kiln_lake_namespace_props_update(kiln_lake_catalog *c, const char *ns, const char *const *remove, size_t nremove,
                                     int *removed, const char *const *keys, const char *const *values, size_t nset,
                                     kiln_err *err);
/* Calls fn for each namespace, sorted. */
int kiln_lake_namespace_list(kiln_lake_catalog *c, int (*fn)(void *ctx, const char *ns), void *ctx, kiln_err *err);
/* Calls fn for each table ("ns.table" and metadata location), sorted;
 * ns NULL lists all namespaces. */
int kiln_lake_table_list(kiln_lake_catalog *c, const char *ns,
                         int (*fn)(void *ctx, const char *name, const char *metadata_location), void *ctx,
                         kiln_err *err);

/* ============================================================ tables */

typedef struct kiln_lake_table kiln_lake_table;

typedef struct kiln_lake_create_opts {
    const char *schema_ddl;  /* "id long not null, name string, ts timestamptz,
                                   tags list<string>, m map<string,double>,
                                   s struct<a:int,b:string>, d decimal(9,2)" */
    const char *schema_json; /* alternatively an Iceberg schema JSON object */
    const char *partition;   /* "day(ts), bucket(16, id), truncate(4, name), identity(x)"; NULL = none */
    const char *sort;        /* "ts desc nulls last, id"; NULL = unsorted */
    size_t nproperties;
    const kiln_lake_kv *properties;
} kiln_lake_create_opts;

/* Create a table (namespace created on demand). Fresh field ids are
 * assigned from 1, partition field ids from 1000. KILN_EEXIST if present. */
int kiln_lake_table_create(kiln_lake_table **out, kiln_lake_catalog *c, const char *name,
                           const kiln_lake_create_opts *opts, kiln_err *err);
/* Load the current metadata. KILN_ENOTFOUND if there is no such table. */
int kiln_lake_table_load(kiln_lake_table **out, kiln_lake_catalog *c, const char *name, kiln_err *err);
/* Re-read the current metadata (after someone else committed). */
int kiln_lake_table_refresh(kiln_lake_table *t, kiln_err *err);
void kiln_lake_table_free(kiln_lake_table *t); /* NULL is a no-op */

const kiln_lake_meta *kiln_lake_table_meta(const kiln_lake_table *t);    /* owned by t */
const char *kiln_lake_table_name(const kiln_lake_table *t);              /* "ns.table" */
const char *kiln_lake_table_metadata_location(const kiln_lake_table *t); /* file:// URI */
int kiln_lake_table_version(const kiln_lake_table *t);                   /* N of vN.metadata.json */
const char *kiln_lake_table_dir(const kiln_lake_table *t);               /* local path of the table */
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
int kiln_lake_txn_require_ref_snapshot(kiln_lake_txn *txn, const char *ref, int64_t snapshot_id, kiln_err *err);
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
int kiln_lake_txn_remove_snapshots(kiln_lake_txn *txn, const int64_t *ids, size_t n, kiln_err *err);
int kiln_lake_txn_set_properties(kiln_lake_txn *txn, const kiln_lake_kv *kv, size_t n, kiln_err *err);
int kiln_lake_txn_remove_properties(kiln_lake_txn *txn, const char *const *keys, size_t n, kiln_err *err);
/* add-schema from Iceberg schema JSON (its schema-id is reassigned; field ids
 * must be set; last-column-id is raised to cover them), then with
 * set_current_schema(-1) make it current ("-1 = last added"). */
int kiln_lake_txn_add_schema_json(kiln_lake_txn *txn, const char *schema_json, kiln_err *err);
int kiln_lake_txn_set_current_schema(kiln_lake_txn *txn, int32_t schema_id, kiln_err *err);
/* Schema evolution helpers on the current schema, each adding a new schema
 * and making it current. Columns are addressed by top-level name (dots for
 * nested struct fields: "s.a"). New columns are optional. */
int kiln_lake_txn_add_column(kiln_lake_txn *txn, const char *parent, const char *name, const char *type_ddl,
                             const char *doc, kiln_err *err);
int kiln_lake_txn_rename_column(kiln_lake_txn *txn, const char *path, const char *new_name, kiln_err *err);
/* Widen per the spec's promotions; anything else is KILN_EINVAL. */
int kiln_lake_txn_widen_column(kiln_lake_txn *txn, const char *path, const char *type, kiln_err *err);
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
    int max_retries; /* 0 = default 20 */
    int backoff_ms;  /* first backoff, doubled each retry (jittered), capped at 2 s; 0 = 5 */
    kiln_lake_rebase_fn rebase;
    void *rebase_ctx;
    /* Test only: called at each hook point; a non-zero return aborts the
     * commit there with that code (simulating a crash). */
    int (*test_hook)(kiln_lake_hook_point where, void *ctx);
    void *test_hook_ctx;
} kiln_lake_commit_opts;

/* Commit (opts may be NULL). On success the table now holds the new
 * metadata and *attempts_out (if not NULL) says how many tries it took. */
int kiln_lake_txn_commit(kiln_lake_txn *txn, const kiln_lake_commit_opts *opts, int *attempts_out, kiln_err *err);

/* ============================================================ operations */

/* Each is one transaction + commit (retried on races). */
int kiln_lake_rollback(kiln_lake_table *t, int64_t snapshot_id, kiln_err *err);    /* must be an ancestor of main */
int kiln_lake_set_current(kiln_lake_table *t, int64_t snapshot_id, kiln_err *err); /* any snapshot */
/* Create a branch/tag at snapshot_id (-1 = main's head). Retention -1 = unset. */
int kiln_lake_ref_create(kiln_lake_table *t, const kiln_lake_ref *ref, kiln_err *err);
int kiln_lake_ref_drop(kiln_lake_table *t, const char *name, kiln_err *err); /* never "main" */
/* Move `to` (default "main") to `from`'s head if to's head is an ancestor. */
int kiln_lake_fast_forward(kiln_lake_table *t, const char *to, const char *from, kiln_err *err);
/* Write-audit-publish: in one commit, fast-forward `to` (default "main";
 * created when missing) to branch `from`'s head and drop `from`.
 * KILN_ECONFLICT when to's head is not an ancestor of from's (to moved on
 * since `from` was cut); nothing changes then. */
int kiln_lake_publish(kiln_lake_table *t, const char *to, const char *from, kiln_err *err);
int kiln_lake_set_properties(kiln_lake_table *t, const kiln_lake_kv *kv, size_t n, kiln_err *err);

typedef struct kiln_lake_expire_opts {
    int64_t older_than_ms; /* expire snapshots with timestamp < this; -1 = use property/5 days */
    int retain_last;       /* keep at least this many ancestors of each branch; 0 = property/1 */
    int dry_run;           /* compute but do not commit */
    /* Called after the commit (or on a dry run) with the metadata before and
     * after and the expired snapshots; the data half uses it to find
     * manifests and data files no longer reachable. May be NULL. */
    int (*on_expired)(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after, const int64_t *expired_ids,
                      size_t n, int dry_run, kiln_err *err);
    void *ctx;
    int delete_manifest_lists; /* also delete the expired snapshots' manifest-list files */
} kiln_lake_expire_opts;

/* Expire snapshots per the spec's ref retention (never a ref head, never
 * main's current), also drops expired non-main refs. expired_out (may be
 * NULL) receives a kiln_malloc'd array of ids; caller frees. */
int kiln_lake_expire(kiln_lake_table *t, const kiln_lake_expire_opts *opts, int64_t **expired_out, size_t *nexpired_out,
                     kiln_err *err);

/* ============================================================ data half
 *
 * Manifest
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
 * table metadata and transactions above. Everything here belongs to one
 * thread.
 *
 * Memory: plans, manifests and entries read by this module live in a
 * kiln_arena owned by the object that returned them (scan, plan, file
 * list); free that object and they are gone.
 */

/* ============================================================ partition specs, values */

/* One partition field of a spec with kiln column types resolved (built
 * from lake.h's kiln_lake_spec by kiln_lake_view_from_meta). */
typedef struct kiln_lake_pfield {
    int field_id;     /* >= 1000 */
    int source_id;    /* table column field id */
    const char *name; /* partition field name, e.g. "created_at_day" */
    kiln_lake_transform_kind xform;
    int param;             /* bucket N / truncate W */
    kiln_type source_type; /* the source column's type */
    kiln_type result_type; /* day -> DATE, year/month/hour/bucket -> INT32, else source */
} kiln_lake_pfield;

typedef struct kiln_lake_pspec {
    int spec_id;
    int nfields; /* 0 = unpartitioned */
    kiln_lake_pfield *fields;
} kiln_lake_pspec;

/* Result type of a transform over a source type. */
kiln_type kiln_lake_xform_result(kiln_lake_transform_kind x, kiln_type source);
/* kiln column type of an Iceberg type (nested types: KILN_EUNSUPP). */
int kiln_lake_kind_to_type(const kiln_lake_type *t, kiln_type *out, kiln_err *err);

/* Values use lake.h's kiln_lake_value (i / d / bytes+len; kind unused here:
 * the type travels beside the value as a kiln_type). */

/* out = xform(v) for partition field pf (null stays null). */
int kiln_lake_xform_apply(const kiln_lake_pfield *pf, const kiln_lake_value *v, kiln_lake_value *out, kiln_err *err);
/* Iceberg single-value binary form (spec App. D) of v (type t) into out.
 * Returns the length, or a negative code. */
int kiln_lake_value_to_bound(kiln_type t, const kiln_lake_value *v, uint8_t *out, size_t cap);
/* Decode a bound of type t (strings point into p). 0 or KILN_EFORMAT. */
int kiln_lake_value_from_bound(kiln_type t, const uint8_t *p, size_t n, kiln_lake_value *out);
/* Compare two non-null values of type t: <0, 0, >0. */
int kiln_lake_value_cmp(kiln_type t, const kiln_lake_value *a, const kiln_lake_value *b);
/* Text of a partition value for directory names ("2025-01-01", "42",
 * "2025-01" for month, "2025-01-01-13" for hour, "null"). */
int kiln_lake_pvalue_text(const kiln_lake_pfield *pf, const kiln_lake_value *v, kiln_buf *out, kiln_err *err);

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
    int content;             /* KILN_LAKE_CONTENT_* */
    const char *file_path;   /* as stored (absolute URI, or remapped when read) */
    const char *file_format; /* "PARQUET" */
    int spec_id;             /* from the manifest */
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
    const char *referenced_data_file;     /* 143, NULL when absent */
    int64_t content_offset, content_size; /* 144, 145: a v3 deletion vector's blob in its Puffin file; -1 absent */
    int has_first_row_id;                 /* 142 (v3 row lineage): first_row_id, when stored or inherited */
    int64_t first_row_id;
} kiln_lake_datafile;

/* One manifest_entry. seq/file_seq are resolved (inherited from the
 * manifest list for ADDED entries with null values) when read. */
typedef struct kiln_lake_entry {
    int status;          /* KILN_LAKE_STATUS_* */
    int64_t snapshot_id; /* -1 when null (inherit) */
    int64_t seq;         /* data sequence number (resolved) */
    int64_t file_seq;    /* file sequence number (resolved) */
    int seq_explicit;    /* 1 if the entry stored its sequence numbers */
    kiln_lake_datafile df;
} kiln_lake_entry;

/* Partition field summary of a manifest (507/508). */
typedef struct kiln_lake_psummary {
    int contains_null;
    int contains_nan; /* -1 unknown */
    const uint8_t *lower, *upper;
    uint32_t lower_len, upper_len;
} kiln_lake_psummary;

/* One manifest_file row of a manifest list. */
typedef struct kiln_lake_manifest {
    const char *path;
    int64_t length;
    int spec_id;
    int content; /* 0 data, 1 deletes */
    int64_t seq, min_seq;
    int64_t added_snapshot_id;
    int32_t added_files, existing_files, deleted_files;
    int64_t added_rows, existing_rows, deleted_rows;
    int npartitions; /* -1 = absent */
    kiln_lake_psummary *partitions;
    int has_first_row_id; /* 520 (v3 row lineage, data manifests) */
    int64_t first_row_id;
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
int kiln_lake_manifest_list_read(kiln_lake_manifest **out, size_t *n, kiln_arena *a, const char *local_path,
                                 kiln_err *err);

typedef struct kiln_lake_mlist_meta {
    int64_t snapshot_id;
    int64_t parent_snapshot_id; /* -1 = root ("null") */
    int64_t sequence_number;
    int format_version; /* 3: the v3 manifest list (first_row_id); else v2 */
} kiln_lake_mlist_meta;

/* Write a manifest list of n manifests (atomically, deflate). */
int kiln_lake_manifest_list_write(const char *local_path, const kiln_lake_mlist_meta *meta, const kiln_lake_manifest *m,
                                  size_t n, kiln_err *err);

/* --- manifest I/O --- */

/* Read the entries of manifest m (its seq is used for inheritance). Specs
 * give partition types (by spec id) when needed; the manifest's own
 * Avro schema decides the decoding. OUT in arena a. */
int kiln_lake_manifest_read(kiln_lake_entry **out, size_t *n, kiln_arena *a, const kiln_lake_manifest *m,
                            const char *local_path, const kiln_lake_pspec *spec, kiln_err *err);

typedef struct kiln_lake_manifest_meta {
    const char *schema_json; /* table schema JSON (current) */
    int schema_id;
    const kiln_lake_pspec *spec; /* partition spec the entries use */
    int content;                 /* 0 data, 1 deletes */
    int64_t snapshot_id;         /* snapshot writing it */
    int64_t seq;                 /* sequence number of that snapshot */
    int format_version;          /* 3: the v3 data_file fields (142-145); else v2 */
} kiln_lake_manifest_meta;

/* Write entries into a manifest at local_path; fill *out (summary row for
 * the manifest list; strings in arena a; path = stored_path). ADDED
 * entries are written with null sequence numbers (inherited), EXISTING and
 * DELETED ones with explicit ones. */
int kiln_lake_manifest_write(kiln_lake_manifest *out, kiln_arena *a, const char *local_path, const char *stored_path,
                             const kiln_lake_manifest_meta *meta, const kiln_lake_entry *entries, size_t n,
                             kiln_err *err);

/* The Avro schema text of a v2 manifest list, and of a manifest for spec. */
const char *kiln_lake_manifest_list_schema_json(void);
/* v3 row lineage: give each data manifest of m that has no first_row_id
 * one, from `first` on (each takes its existing + added rows, as Iceberg's
 * manifest list writer does); returns the rows assigned (the snapshot's
 * added-rows). */
int64_t kiln_lake_mlist_assign_row_ids(kiln_lake_manifest *m, size_t n, int64_t first);
int kiln_lake_manifest_schema_json(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err);
/* The "partition-spec" metadata value (JSON array of fields). */
int kiln_lake_pspec_fields_json(const kiln_lake_pspec *spec, kiln_buf *out, kiln_err *err);

/* ============================================================ predicates */

/* The operators of format/pred.h (the one filter parser), same values. */
typedef enum kiln_lake_op {
    KILN_LAKE_OP_EQ = KILN_PRED_EQ,
    KILN_LAKE_OP_LT = KILN_PRED_LT,
    KILN_LAKE_OP_LE = KILN_PRED_LE,
    KILN_LAKE_OP_GT = KILN_PRED_GT,
    KILN_LAKE_OP_GE = KILN_PRED_GE,
    KILN_LAKE_OP_BETWEEN = KILN_PRED_BETWEEN,
    KILN_LAKE_OP_ISNULL = KILN_PRED_ISNULL,
    KILN_LAKE_OP_NOTNULL = KILN_PRED_NOTNULL,
    KILN_LAKE_OP_NE = KILN_PRED_NE
} kiln_lake_op;

/* One comparison on a column; a predicate is an AND of terms. */
typedef struct kiln_lake_term {
    int field_id;
    kiln_type type; /* the column's type */
    kiln_lake_op op;
    kiln_lake_value v, hi; /* hi: BETWEEN upper bound (inclusive) */
    int no_bounds;         /* 1: the column's stored bounds are not of type (timestamp_ns text): no pruning by them */
} kiln_lake_term;

typedef struct kiln_lake_pred {
    int nterms;
    kiln_lake_term *terms; /* arena-owned when parsed */
} kiln_lake_pred;

/* Parse "a = 1 and b between '2025-01-01' and '2025-01-31' and c is null"
 * against schema (column names) with kiln_pred_parse (format/pred.h: the
 * literal forms, and how out-of-range decimals fold). OUT in arena a. */
int kiln_lake_pred_parse(kiln_lake_pred *out, kiln_arena *a, const kiln_schema *schema, const char *text,
                         kiln_err *err);
/* Can a file with these partition values / stats hold a matching row?
 * 1 = maybe, 0 = no. Unknown information always answers 1. */
int kiln_lake_pred_may_match_partition(const kiln_lake_pred *p, const kiln_lake_pspec *spec,
                                       const kiln_lake_value *part);
int kiln_lake_pred_may_match_summary(const kiln_lake_pred *p, const kiln_lake_pspec *spec, const kiln_lake_manifest *m);
int kiln_lake_pred_may_match_stats(const kiln_lake_pred *p, const kiln_lake_datafile *df);
/* Does row `row` of batch b match? Terms find their column by field id in
 * b->schema; a term whose column is absent counts as matching. */
int kiln_lake_pred_match_row(const kiln_lake_pred *p, const kiln_batch *b, size_t row);

/* ============================================================ scan planning over a view */

/* What planning needs of one snapshot of a table. Built from lake.h's
 * metadata by kiln_lake_view_from_meta; tests may fill it by hand. */
typedef struct kiln_lake_view {
    const char *location;      /* table location as stored */
    const kiln_schema *schema; /* current schema: top-level columns kiln can read */
    int nspecs;
    const kiln_lake_pspec *specs; /* all specs, looked up by spec_id */
    int default_spec_id;
    int64_t snapshot_id;       /* -1 = empty table */
    int64_t seq;               /* that snapshot's sequence number */
    const char *manifest_list; /* stored path, NULL when empty */
    kiln_lake_remap remap;
    const kiln_lake_schema *lschema;    /* the schema the view was made from (nested names) */
    const uint8_t *has_initial_default; /* per schema column: the field has a non-null
                                           initial-default (v3), which kiln does not apply */
    const kiln_nested *const *nested;   /* per schema column: a nested column's shape with its
                                           field ids (for writers), NULL for flat columns */
    const uint8_t *evolved;             /* per schema column: a nested column whose type changed across the
                               table's schemas (struct fields added, dropped, renamed, widened):
                               values are reshaped to the current type when read */
} kiln_lake_view;

/* Build a view of snapshot_id (-1 = the table is empty / no snapshot) of
 * meta; all memory in arena a (meta must outlive the view). remap may be
 * NULL (then meta's own remap, for a registered table, applies). Every
 * top-level column is in schema (nested ones as JSON); a type the data path
 * cannot deliver is an error naming the column. */
int kiln_lake_view_from_meta(kiln_lake_view *out, kiln_arena *a, const kiln_lake_meta *meta, int64_t snapshot_id,
                             const kiln_lake_remap *remap, kiln_err *err);
const kiln_lake_pspec *kiln_lake_view_spec(const kiln_lake_view *v, int spec_id);
/* The view's columns, then every primitive reached from a top-level
 * column through structs only, named by its dotted path ("s.a", "s.t.u")
 * with the leaf's field id and kiln type: the names `kiln_lake_scan_opts`
 * columns and where take besides the top-level ones (arena a). */
int kiln_lake_view_leaf_schema(const kiln_lake_view *v, kiln_arena *a, kiln_schema *out, kiln_err *err);
/* kiln_lake_view_leaf_schema's columns, then every primitive reached
 * through a list or a map ("commits.sha", "m.key", "m.value.x", a list of
 * primitives inside a struct "s.tags"), as a JSON column holding that
 * leaf's values of the row as a JSON array (the path `kiln_lake_scan_opts`
 * columns takes); kiln sql's hidden leaf columns. */
int kiln_lake_view_nested_schema(const kiln_lake_view *v, kiln_arena *a, kiln_schema *out, kiln_err *err);

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
int kiln_lake_plan_new(kiln_lake_plan **out, const kiln_lake_view *view, const kiln_lake_pred *pred, kiln_err *err);
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

/* v3 row lineage metadata columns (reserved field ids of the Iceberg
 * spec). Not part of a table's schema: a scan returns them only when
 * asked for by name (--columns, SQL hidden columns). Read from the data
 * file when it stores a non-null value, else computed: _row_id = the
 * file's first_row_id + the row's position (null when the file has no
 * first_row_id, e.g. a v2 table), _last_updated_sequence_number = the
 * file's data sequence number. */
#define KILN_LAKE_FID_ROW_ID 2147483540
#define KILN_LAKE_FID_LAST_UPDATED_SEQ 2147483539
#define KILN_LAKE_COL_ROW_ID "_row_id"
#define KILN_LAKE_COL_LAST_UPDATED_SEQ "_last_updated_sequence_number"
/* The column definition of a lineage column by name or field id, or NULL. */
const kiln_column_def *kiln_lake_lineage_col(const char *name, int field_id);

typedef struct kiln_lake_scan_opts {
    const char *columns;   /* "a,b" or NULL = all, in schema order */
    const char *where;     /* predicate text (kiln_lake_pred_parse) or NULL */
    const char *as_of;     /* snapshot id or timestamp (kiln_lake_meta_resolve); NULL = head */
    const char *ref;       /* branch or tag name; NULL = main */
    size_t batch_rows;     /* 0 = 8192 */
    kiln_lake_remap remap; /* for tables whose stored paths moved (fixtures) */
} kiln_lake_scan_opts;

typedef struct kiln_lake_scan kiln_lake_scan;

/* Scan a table / a parsed metadata / a view: rows of the projected columns
 * that survive deletes and the where-predicate. Caller frees with
 * kiln_lake_scan_free. For _meta, meta must outlive the scan. */
int kiln_lake_scan_open(kiln_lake_scan **out, kiln_lake_table *t, const kiln_lake_scan_opts *opts, kiln_err *err);
int kiln_lake_scan_open_meta(kiln_lake_scan **out, const kiln_lake_meta *meta, const kiln_lake_scan_opts *opts,
                             kiln_err *err);
int kiln_lake_scan_open_view(kiln_lake_scan **out, const kiln_lake_view *view, const kiln_lake_scan_opts *opts,
                             kiln_err *err);
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
                        int (*fn)(void *ctx, const kiln_batch *b, kiln_err *err), void *ctx, kiln_err *err);

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
    KILN_LAKE_WRITE_OVERWRITE, /* dynamic: replace every partition the new rows fall in */
    KILN_LAKE_WRITE_MERGE      /* upsert by key columns, copy-on-write */
} kiln_lake_write_mode;

/* Fault points for crash tests (besides lake.h's commit hooks). */
typedef enum kiln_lake_fault_point {
    KILN_LAKE_FAULT_AFTER_DATA_FILES = 1,
    KILN_LAKE_FAULT_AFTER_MANIFESTS = 2 /* manifests and manifest list written */
} kiln_lake_fault_point;

typedef struct kiln_lake_write_opts {
    kiln_lake_write_mode mode;
    const char *branch;        /* NULL = "main"; a missing branch is created at branch_from's head */
    const char *branch_from;   /* NULL = "main"; if it is missing too, main's head */
    const char *merge_keys;    /* MERGE: "repo_id,sha" (columns of the table) */
    uint64_t target_file_rows; /* cut data files at this many rows; 0 = 1,000,000 */
    /* Test only: a non-zero return aborts the write at that point. */
    int (*fault)(kiln_lake_fault_point where, void *ctx);
    void *fault_ctx;
    const kiln_lake_commit_opts *commit; /* retries, backoff, commit test hooks; NULL = defaults */
    uint64_t row_group_rows;             /* cut Parquet row groups at this many rows; 0 = by size only (128 MB) */
    int threads; /* encode and compress a data file's columns on this many threads; 0/1 = the caller's */
} kiln_lake_write_opts;

typedef struct kiln_lake_write_result {
    int64_t snapshot_id;   /* new snapshot, or -1 when nothing changed (no commit) */
    int noop;              /* 1: nothing to change, nothing committed */
    int64_t rows_inserted; /* appended / inserted by MERGE / written by overwrite */
    int64_t rows_updated;  /* MERGE: matched rows whose values changed */
    int64_t rows_deleted;  /* delete, overwrite (rows of replaced files) */
    int64_t files_added, files_removed;
    int attempts; /* commit attempts (1 = no race) */
} kiln_lake_write_result;

typedef struct kiln_lake_writer kiln_lake_writer;

/* Open a writer on t. opts NULL = append to main. Caller frees with
 * kiln_lake_writer_free (after commit, or to abandon: nothing is written
 * before commit). */
int kiln_lake_writer_open(kiln_lake_writer **out, kiln_lake_table *t, const kiln_lake_write_opts *opts, kiln_err *err);
/* The table schema rows should have (columns of supported types). */
const kiln_schema *kiln_lake_writer_schema(const kiln_lake_writer *w);
/* Per column of kiln_lake_writer_schema: the JSON text of its v3
 * write-default (what a row that lacks the column gets), or NULL; NULL
 * when no column has one. For readers that can tell a missing key from a
 * null (NDJSON: kiln_ndjson_read_opts.absent_json). */
const char *const *kiln_lake_writer_write_defaults(const kiln_lake_writer *w);
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
    int64_t snapshot_id; /* -1: nothing rewritten */
    int manifests_before, manifests_after, manifests_replaced;
} kiln_lake_rewrite_result;
int kiln_lake_rewrite_manifests(kiln_lake_table *t, const char *branch, int64_t target_bytes,
                                kiln_lake_rewrite_result *result, kiln_err *err);

/* ============================================================ files */

/* Every live file (data and delete) of a snapshot (-1 = main's head):
 * calls fn per entry. */
int kiln_lake_files_list(kiln_lake_table *t, int64_t snapshot_id, int (*fn)(void *ctx, const kiln_lake_entry *e),
                         void *ctx, kiln_err *err);

typedef struct kiln_lake_orphan_opts {
    int64_t older_than_ms; /* only files modified before this (epoch ms); 0 = now - 3 days; -1 = any age */
    int dry_run;           /* list, do not delete */
} kiln_lake_orphan_opts;

/* Files under the table directory that no snapshot, manifest list,
 * manifest or metadata file references (and metadata/v*.metadata.json,
 * version-hint.text, catalog files are never orphans). fn is called per
 * orphan (local path) before it is deleted (unless dry_run).
 * *count_out (may be NULL) = orphans found. */
int kiln_lake_orphans_remove(kiln_lake_table *t, const kiln_lake_orphan_opts *opts,
                             int (*fn)(void *ctx, const char *path, int64_t size), void *ctx, size_t *count_out,
                             kiln_err *err);

/* lake.h expire hook (kiln_lake_expire_opts.on_expired; ctx = NULL or a
 * size_t* counting deleted files): deletes the manifest lists, manifests
 * and data/delete files reachable only from expired snapshots. */
int kiln_lake_expire_delete_files(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                  const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err);

/* ============================================================ DDL operations (iceberg_ddl_ops.c) */

/* Drop a top-level column: a new current schema without it (data files
 * keep their values; old snapshots still read them). KILN_EINVAL when a
 * partition spec or the identifier fields use it, or it is the only column;
 * KILN_ENOTFOUND when there is no such column. */
int kiln_lake_txn_drop_column(kiln_lake_txn *txn, const char *name, kiln_err *err);
/* Make `target` the table that `staged` is, in one catalog transaction
 * (SQLite catalog only): target's row steps aside (KILN_ECONFLICT when it
 * changed since this call loaded it) and staged's row is renamed to target.
 * The replaced table is then dropped with PURGE (its files deleted); the
 * new table keeps its files where staged wrote them. */
int kiln_lake_table_replace(kiln_lake_catalog *c, const char *target, const char *staged, kiln_err *err);

/* ============================================================ data-file rewrites (iceberg_rewrite.c)
 *
 * Compaction as Iceberg's rewrite_data_files: per partition (spec id +
 * partition tuple) the files to rewrite are chosen, read with every
 * position and equality delete applied, and written again as files of
 * about the target size, optionally sorted; delete files that then apply
 * to no live data file ("dangling") are dropped. All of it is one snapshot
 * with operation "replace". On a lost race the commit is rebuilt on the
 * new head after validation: a group whose input files were removed
 * meanwhile, or that got new delete files meanwhile, is dropped (its files
 * deleted, counted in groups_failed); the others still commit, so a
 * concurrent append, MERGE or delete is never lost. See docs/maintenance.md.
 */
typedef struct kiln_lake_rewrite_data_opts {
    const char *branch;        /* NULL = "main" */
    int64_t target_file_bytes; /* 0 = property write.target-file-size-bytes, else 512 MB */
    int64_t min_file_bytes;    /* 0 = 75 % of target: smaller files are candidates */
    int64_t max_file_bytes;    /* 0 = 180 % of target: larger files are candidates */
    /* 0 = 5: a group with fewer candidates (and less than the target in
     * bytes, and no deletes) is left alone */
    int min_input_files;
    /* 1..100, 0 = off: a group is also rewritten when at least this
     * percentage of its files are candidates (and more than one is):
     * kiln.maintain.compact.small-file-ratio */
    int min_candidate_pct;
    int rewrite_all; /* every file of every group matching `where` */
    /* predicate (kiln_lake_pred_parse): only files that may hold matching
     * rows (partition values, column stats) */
    const char *where;
    const char *sort_by;  /* "ts desc, id" / NULL; sort rows of each group */
    int sort_table_order; /* 1: sort by the table's default sort order */
    const char *zorder;   /* "a,b" (2..4 columns) / NULL: z-order each group */
    int dry_run;          /* choose, write and commit nothing */
    /* 0 = 3: groups failed by a conflict are planned and rewritten again on
     * the new head, up to this many rounds in all */
    int max_rounds;
    /* Iceberg's partial-progress.enabled: 1 = the chosen groups are split
     * into up to max_commits batches (0 = 10, Iceberg's default), each its
     * own `replace` commit (with its own conflict rounds), so a conflict
     * or error fails only its batch and finished batches stay committed;
     * 0 = one commit for all groups. */
    int partial_progress;
    int max_commits;
    const kiln_lake_commit_opts *commit; /* retries/backoff; NULL = defaults (rebase is ours) */
    /* Test only: called after the new files are written, before the
     * commit. Across processes: KILN_FAILPOINT=lake.rewrite.before-commit=
     * wait:PATH makes the first commit of the process create PATH.ready and
     * wait (up to 120 s) until PATH exists (docs/maintenance.md). */
    int (*before_commit)(void *ctx);
    void *before_commit_ctx;
} kiln_lake_rewrite_data_opts;

typedef struct kiln_lake_rewrite_data_result {
    int64_t snapshot_id;      /* -1: nothing committed */
    int64_t groups_total;     /* partition groups of the (filtered) snapshot */
    int64_t groups_rewritten; /* chosen and committed (dry run: chosen) */
    int64_t groups_failed;    /* dropped by conflict validation */
    int64_t data_files_rewritten, data_files_added;
    int64_t bytes_rewritten, bytes_added;
    int64_t delete_files_removed; /* applied deletes and dangling ones */
    int64_t rows_read;            /* record counts of the rewritten files */
    int64_t rows_written;         /* rows after deletes (rows_read - rows_written were deleted) */
    int attempts;
    char failed_reason[256]; /* the first conflict, when groups_failed > 0 */
    int64_t commits;         /* replace snapshots committed (partial progress: one per batch) */
} kiln_lake_rewrite_data_result;

/* Rewrite data files per opts (NULL = defaults). Nothing chosen: no
 * snapshot, 0. Every group conflicting: KILN_ECONFLICT. Columns kiln
 * cannot read (nested types) make it KILN_EUNSUPP before anything is
 * written, so no column can be lost. */
int kiln_lake_rewrite_data_files(kiln_lake_table *t, const kiln_lake_rewrite_data_opts *opts,
                                 kiln_lake_rewrite_data_result *result, kiln_err *err);

/* What maintenance looks at, for metrics and `maintain` (main's head):
 * live data files, those below 75 % of write.target-file-size-bytes
 * (512 MB), delete files, bytes, and when the last compaction by kiln
 * committed (-1: none among the table's snapshots). */
typedef struct kiln_lake_file_stats {
    int64_t data_files, small_files, delete_files;
    int64_t data_bytes, delete_bytes, records;
    int64_t snapshots;
    int64_t last_compaction_ms;
} kiln_lake_file_stats;
int kiln_lake_table_file_stats(kiln_lake_table *t, kiln_lake_file_stats *out, kiln_err *err);

/* Run what the table's maintenance policy says is due (iceberg_rewrite_maintain.c;
 * the properties are in docs/maintenance.md): compaction
 * (kiln_lake_rewrite_data_files), snapshot expiry with file deletion
 * (kiln_lake_expire), orphan removal (kiln_lake_orphans_remove). Every step
 * runs even when an earlier one failed; the first error is returned and
 * each step's status and reason are in the result. */
typedef enum kiln_lake_maint_status {
    KILN_LAKE_MAINT_NOT_DUE = 0, /* nothing to do */
    KILN_LAKE_MAINT_DUE,         /* dry run: would run */
    KILN_LAKE_MAINT_DONE,
    KILN_LAKE_MAINT_DISABLED, /* turned off by a property */
    KILN_LAKE_MAINT_FAILED    /* the reason is the error message */
} kiln_lake_maint_status;

typedef struct kiln_lake_maintain_opts {
    int dry_run;
    int64_t now_ms; /* 0 = now (orphan age cutoff) */
} kiln_lake_maintain_opts;

typedef struct kiln_lake_maintain_result {
    kiln_lake_maint_status compact_status, expire_status, orphans_status;
    char compact_why[256], expire_why[256], orphans_why[256];
    kiln_lake_rewrite_data_result rewrite; /* dry run: what would be rewritten */
    int64_t snapshots_expired, expired_files_deleted;
    int64_t orphans_removed, orphan_bytes;
    kiln_lake_file_stats before, after; /* files before and after the steps */
} kiln_lake_maintain_result;

int kiln_lake_maintain(kiln_lake_table *t, const kiln_lake_maintain_opts *opts, kiln_lake_maintain_result *result,
                       kiln_err *err);

/* kiln_lake_expire hook (iceberg_expire_files.c; ctx = NULL or a size_t*
 * counting deleted files), stricter than kiln_lake_expire_delete_files:
 * a file stays only while a retained snapshot has it live (ADDED or
 * EXISTING), so the files a compaction or MERGE replaced go once every
 * snapshot that read them has expired (a DELETED entry in a retained
 * manifest does not keep a file). Manifest lists and manifests of
 * retained snapshots always stay. */
int kiln_lake_expire_delete_unreachable(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                        const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err);
/* The same with ctx a kiln_lake_expire_counts* (zeroed by the caller):
 * the files deleted (on a dry run: to delete) in all and by kind, as
 * Spark's expire_snapshots procedure reports them. */
typedef struct kiln_lake_expire_counts {
    size_t total;
    size_t data_files, position_delete_files, equality_delete_files;
    size_t manifests, manifest_lists;
} kiln_lake_expire_counts;
int kiln_lake_expire_delete_unreachable_counts(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                               const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err);
/* ============================================================ interop: tables from other engines */

/* Add a table another engine wrote to the SQLite catalog, as Iceberg's
 * register_table does, so kiln sql, the models and kiln table use it by
 * name. metadata: a metadata.json path (relative to the current directory
 * or absolute), a file: URI, or the table's directory (its
 * metadata/version-hint.text, else its highest vN.metadata.json).
 * remap (NULL, or from NULL, for none) is kept in the catalog and applied
 * to every stored path when the table is read (a copied warehouse); the
 * other engine's files are never written. Every column of the current
 * schema must be readable by kiln (else an error naming the column and its
 * type). KILN_EEXIST if the name is taken; KILN_EUNSUPP for the Hadoop
 * catalog and for schemes kiln cannot read (s3://, ...). */
int kiln_lake_table_register(kiln_lake_catalog *c, const char *name, const char *metadata, const kiln_lake_remap *remap,
                             kiln_err *err);
/* 1 when t was added by kiln_lake_table_register (kiln does not commit to
 * such tables yet: docs/interop.md). */
int kiln_lake_table_is_registered(const kiln_lake_table *t);

/* ============================================================ REST create transactions (serve4) */

/* Create a table from the "updates" of a REST CommitTableRequest whose
 * requirements are [assert-create] (what Spark's CTAS sends after a
 * stage-create): assign-uuid, upgrade-format-version (<= 2), one add-schema,
 * set-current-schema, at most one add-spec / add-sort-order with their
 * set-default-* (-1 = the one added), set-location (must be kiln's own
 * location, WAREHOUSE/ns/table) build the first metadata; every other
 * update (add-snapshot, set-snapshot-ref, set-properties, ...) is applied on
 * top of it as in kiln_lake_txn_add_rest_json. With out == NULL nothing is
 * written and *staged gets the metadata (a stage-create; caller frees).
 * Otherwise the table is registered as version 1 in one step (readers see
 * nothing, or the whole result): KILN_EEXIST if the name is taken.
 * Malformed or unsupported updates: KILN_EINVAL / KILN_EUNSUPP. */
/* Dry-run a commit: check txn's requirements against its table's metadata
 * as loaded, apply the updates and serialize the result, exactly as the
 * first attempt of kiln_lake_txn_commit does, then stop before writing
 * anything (no file, no catalog change; the table is unchanged). 0 when the
 * commit would be attempted; else the error the commit would give
 * (KILN_ECONFLICT for a failed requirement). */
int kiln_lake_txn_validate(kiln_lake_txn *txn, kiln_err *err);
int kiln_lake_table_create_rest_json(kiln_lake_table **out, kiln_lake_meta **staged, kiln_lake_catalog *c,
                                     const char *name, const char *updates_json, kiln_err *err);
/* Commit txns[i] (a transaction on tables[i]; every table from one
 * writable SQLite catalog handle, each at most once) all or none, also
 * across a crash: each table's requirements are checked and its updates
 * applied as kiln_lake_txn_commit does, the results staged, and every
 * table's catalog row moved in ONE SQLite transaction, the commit point;
 * the version files are linked after it (a crash there is finished by the
 * next load of the table: kiln_lake__multi_recover). A catalog row that
 * moved meanwhile is retried (max_retries, 0 = 20) on re-read metadata;
 * a failed requirement is KILN_ECONFLICT with nothing committed. A hadoop
 * catalog is KILN_EUNSUPP. On success each table holds its new metadata. */
int kiln_lake_txn_commit_multi(kiln_lake_table *const *tables, kiln_lake_txn *const *txns, const char *const *extras,
                               size_t n, int max_retries, kiln_err *err);
/* extras (NULL, or per table NULL or a JSON array): REST updates that
 * kiln_lake_txn_add_rest_json does not take, applied after the
 * transaction's own: add-sort-order (an order equal to an existing one is
 * that one), set-default-sort-order (-1 = the one added), set-statistics,
 * remove-statistics, set-partition-statistics, remove-partition-statistics,
 * remove-schemas and remove-partition-specs (not the current one:
 * KILN_EINVAL), assign-uuid (the table's own uuid only, else
 * KILN_ECONFLICT), set-location (the table's own location only, else
 * KILN_EUNSUPP). kiln_lake_rest_update_is_extra names them. */
int kiln_lake_rest_update_is_extra(const char *action);
/* Fast-forward branch `to` (NULL = main; created when missing) to branch
 * `from`'s head on every table at once: one multi-table commit (as
 * kiln_lake_txn_commit_multi: every table from one writable SQLite catalog
 * handle), so a reader sees every table before or every table after.
 * Checked on every table before anything is written: a table without
 * `from` is KILN_ENOTFOUND, `to` not an ancestor of `from` (diverged) or a
 * head that moved since the tables were loaded is KILN_ECONFLICT, with no
 * table changed. Tables already at `from`'s head are left alone; *moved
 * (may be NULL) gets the number of tables moved. */
int kiln_lake_fast_forward_multi(kiln_lake_table *const *tables, size_t n, const char *to, const char *from, int *moved,
                                 kiln_err *err);
/* Internal (the catalog's load): the row names loc but the file is
 * missing. 0 when loc was committed by a multi-table commit and is now
 * linked (or, on a read-only handle, *read_from names the staged file to
 * read it from; caller frees); KILN_ENOTFOUND when loc is no such commit. */
int kiln_lake__multi_recover(kiln_lake_catalog *c, const char *loc, char **read_from, kiln_err *err);
/* Views (the REST catalog's; SQLite catalog only, else KILN_EUNSUPP): a
 * view's metadata JSON (Iceberg view spec, built and checked by the
 * caller) is written once under WAREHOUSE/ns/.views/NAME/metadata/ and
 * named by the catalog's kiln_views row. create: KILN_EEXIST when a view
 * or a table has the name. commit: the row moves from `expected` to the
 * new document, KILN_ECONFLICT when it is elsewhere (a concurrent commit)
 * or gone. *loc / *json: caller frees (kiln_free / kiln_free). list: the
 * views of namespace ns, or with ns NULL every view as "ns.view". */
int kiln_lake_view_list(kiln_lake_catalog *c, const char *ns, int (*fn)(void *ctx, const char *name), void *ctx,
                        kiln_err *err);
int kiln_lake_view_load(kiln_lake_catalog *c, const char *name, char **json, char **loc, kiln_err *err);
int kiln_lake_view_create(kiln_lake_catalog *c, const char *name, const char *json, char **loc, kiln_err *err);
int kiln_lake_view_commit(kiln_lake_catalog *c, const char *name, const char *expected, const char *json, char **loc,
                          kiln_err *err);
int kiln_lake_view_drop(kiln_lake_catalog *c, const char *name, kiln_err *err);
int kiln_lake_view_rename(kiln_lake_catalog *c, const char *from, const char *to, kiln_err *err);
int kiln_lake_view_exists(kiln_lake_catalog *c, const char *name);     /* 1 or 0 */
char *kiln_lake_view_location(kiln_lake_catalog *c, const char *name); /* the view's URI; caller frees */
/* View documents (iceberg_view.c). doc_new: a new document (a fresh
 * view-uuid, location `where`) from a CreateViewRequest's schema, version
 * and properties (checked; NULL with err set when not valid). doc_apply: a
 * CommitViewRequest's requirements and updates applied to document m
 * (KILN_ECONFLICT when a requirement fails). */
struct json_t;
struct json_t *kiln_lake_view_doc_new(struct json_t *schema, struct json_t *version, struct json_t *props,
                                      const char *where, kiln_err *err);
int kiln_lake_view_doc_apply(struct json_t *m, struct json_t *reqs, struct json_t *ups, const char *where,
                             kiln_err *err);
/* Load view `name`, apply requirements reqs (may be NULL) and updates ups
 * (kiln_lake_view_doc_apply) and commit the new document, again on the
 * newer one when another commit won the race (up to 10 times). On success
 * *text (free()) is the new document and *loc (kiln_free) its file. */
int kiln_lake_view_update(kiln_lake_catalog *c, const char *name, struct json_t *reqs, struct json_t *ups, char **text,
                          char **loc, kiln_err *err);
/* A view defined by SQL text in `dialect` over ncols columns (names and
 * Iceberg type names): created, or with replace a new schema and version
 * made current (KILN_EEXIST without replace when it exists). */
int kiln_lake_view_define(kiln_lake_catalog *c, const char *name, const char *sql, const char *dialect,
                          const char *const *cols, const char *const *types, int ncols, int replace, kiln_err *err);
/* The current version of a view: its SQL in `dialect` (KILN_EUNSUPP when
 * it has none) and its schema's top-level columns (a nested type: "json"). */
typedef struct kiln_lake_view_def {
    char *sql;
    char *loc; /* the metadata document read */
    int ncols;
    char **cols, **types;
} kiln_lake_view_def;
int kiln_lake_view_def_load(kiln_lake_catalog *c, const char *name, const char *dialect, kiln_lake_view_def *out,
                            kiln_err *err);
void kiln_lake_view_def_free(kiln_lake_view_def *d);
/* ============================================================ maintenance: position delete files */

/* Iceberg's rewrite_position_delete_files: the live Parquet position
 * delete files of each partition of the branch head rewritten into one
 * (sorted by file_path, pos), dropping the entries that name a data file
 * no longer live; a partition is rewritten when it has two or more such
 * files or any entry to drop (a file left with no entry is just removed).
 * One `replace` snapshot; deletion vectors (Puffin) are left as they are.
 * Nothing to do: no snapshot, 0. A delete file removed concurrently:
 * KILN_ECONFLICT (nothing committed). iceberg_rewrite.c. */
typedef struct kiln_lake_rewrite_posdel_opts {
    const char *branch; /* NULL = "main" */
    int dry_run;        /* count what would be rewritten, write nothing */
} kiln_lake_rewrite_posdel_opts;
typedef struct kiln_lake_rewrite_posdel_result {
    int64_t snapshot_id; /* -1: nothing committed */
    int64_t partitions;  /* partitions rewritten */
    int64_t delete_files_rewritten, delete_files_added;
    int64_t bytes_rewritten, bytes_added;
    int64_t deletes_read, deletes_written; /* position entries (read - written were dangling or duplicate) */
} kiln_lake_rewrite_posdel_result;
int kiln_lake_rewrite_position_delete_files(kiln_lake_table *t, const kiln_lake_rewrite_posdel_opts *opts,
                                            kiln_lake_rewrite_posdel_result *result, kiln_err *err);

#endif /* KILN_LAKE_H */
