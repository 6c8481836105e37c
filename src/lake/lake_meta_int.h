/*
 * lake_meta_int.h - private to src/lake (metadata half): the arena behind a
 * kiln_lake_meta, JSON conversion of its pieces, and the catalog/table
 * internals shared by iceberg_catalog.c, iceberg_txn.c and iceberg_ops.c.
 * Not for other modules.
 */
#ifndef KILN_LAKE_META_INT_H
#define KILN_LAKE_META_INT_H

#include "lake/lake.h"

#include <jansson.h>

struct kiln_lake_meta_priv {
    kiln_arena *arena;
};

/* Caps on input-grown structures. */
#define KILN_LAKE_META_MAX_BYTES ((size_t)256 << 20)
#define KILN_LAKE_MAX_DEPTH 64

/* An empty meta (all ids -1/0, arrays empty) with its own arena. */
int kiln_lake__meta_new(kiln_lake_meta **out, kiln_err *err);
void *kiln_lake__alloc(kiln_lake_meta *m, size_t n);       /* zeroed; NULL on OOM */
char *kiln_lake__strdup(kiln_lake_meta *m, const char *s); /* NULL stays NULL */
int kiln_lake__upgrade_format(kiln_lake_meta *w, const char *value, const char *table, kiln_err *err);
/* Append one element to an arena array (copying it); returns the new array. */
void *kiln_lake__grow(kiln_lake_meta *m, const void *items, size_t n, size_t elem);

/* Pieces <-> JSON (into m's arena). */
int kiln_lake__schema_from_json(kiln_lake_meta *m, json_t *j, kiln_lake_schema *out, kiln_err *err);
json_t *kiln_lake__schema_to_json(const kiln_lake_schema *s);
json_t *kiln_lake__type_to_json(const kiln_lake_type *t);
int kiln_lake__type_from_json(kiln_lake_meta *m, json_t *j, const kiln_lake_type **out, int depth, kiln_err *err);
int kiln_lake__snapshot_copy(kiln_lake_meta *m, kiln_lake_snapshot *dst, const kiln_lake_snapshot *src, kiln_err *err);
json_t *kiln_lake__meta_to_json(const kiln_lake_meta *m);
int kiln_lake__snapshot_from_json(kiln_lake_meta *m, json_t *j, kiln_lake_snapshot *s, kiln_err *err);
/* v1_ids: field-id may be absent (assigned 1000 + index). */
int kiln_lake__spec_fields_from_json(kiln_lake_meta *m, json_t *fields, kiln_lake_spec *spec, int v1_ids,
                                     kiln_err *err);

/* Parse a type in DDL spelling ("list<string>", "struct<a:int>", "decimal(9,2)")
 * assigning fresh ids from *next_id. */
int kiln_lake__type_from_ddl(kiln_lake_meta *m, const char **p, const kiln_lake_type **out, int32_t *next_id, int depth,
                             kiln_err *err);

/* Build a partition spec from text ("day(ts), bucket(16, id)") against
 * schema, reusing field ids of equal fields in m's existing specs and
 * raising m->last_partition_id for new ones. spec_id is set by the caller. */
int kiln_lake__spec_from_text(kiln_lake_meta *m, const kiln_lake_schema *schema, const char *text, kiln_lake_spec *out,
                              kiln_err *err);
/* Highest field id used in fields (nested included). */
int32_t kiln_lake__max_field_id(const kiln_lake_field *fs, size_t n);
/* Resolve a dotted column path ("s.a") in a schema; NULL if absent. */
const kiln_lake_field *kiln_lake__schema_path(const kiln_lake_schema *s, const char *path);
/* May field id be a partition source? A primitive at the top level or
 * inside structs only; else an error naming the field and the list or map
 * it is in. */
int kiln_lake__partition_source_check(const kiln_lake_schema *s, int32_t id, const char *name, kiln_err *err);

/* Catalog internals. */
struct kiln_lake_catalog {
    char *warehouse; /* absolute, no trailing slash */
    kiln_lake_catalog_kind kind;
    kiln_lake_open_mode mode;
    int present;    /* the warehouse directory exists */
    void *db;       /* sqlite3*; NULL while there is no catalog.db (read-only, lazy) */
    int tsan_probe; /* ThreadSanitizer builds: see one_thread() in iceberg_catalog.c */
};

struct kiln_lake_table {
    kiln_lake_catalog *cat;
    char *name; /* ns.table */
    char ns[129], tbl[129];
    char *dir;               /* WAREHOUSE/ns/table */
    char *metadata_location; /* file:// URI */
    int version;
    kiln_lake_meta *meta;
    int registered; /* added by kiln_lake_table_register */
    int java_names; /* metadata named NNNNN-<uuid>.metadata.json (Iceberg Java's catalogs): commits continue so */
};

/* Write `m` as metadata version `version` of table t, committing it (the
 * no-overwrite link plus the catalog CAS from t->metadata_location).
 * KILN_ECONFLICT if someone else committed first. On success t is updated
 * (t takes ownership of m). */
int kiln_lake__table_commit(kiln_lake_table *t, kiln_lake_meta *m, const kiln_lake_commit_opts *opts, kiln_err *err);
/* Register a brand-new table (version 1). KILN_EEXIST if present. */
int kiln_lake__table_register(kiln_lake_catalog *c, const char *name, kiln_lake_meta *m, kiln_lake_table **out,
                              kiln_err *err);

#endif
