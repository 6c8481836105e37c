/*
 * lake_io.h - private to src/lake: the one door from the lake to stored
 * bytes. Every read, write, listing, deletion, link and map of a table file
 * (metadata JSON, version-hint.text, manifest lists, manifests, data and
 * delete files, the catalog database) goes through these calls, with the
 * location as stored (a plain path, a file:// URI) so that the object store
 * plugs in here and nowhere else.
 *
 * A location is resolved to a backend by its scheme: no scheme or file:
 * is the local file system; s3://bucket/key is the object store (store.h),
 * whose paths are the whole s3:// locations; any other scheme (gs://,
 * http://, ...) is KILN_EUNSUPP naming the scheme, never a local folder
 * with the URI's name. One exception: an s3:// location ending in
 * /catalog.db (the SQLite catalog) resolves to a local file, see
 * docs/store.md. Backends are a table of operations
 * (kiln_lake_io_ops); the dispatching functions below resolve the location
 * and call the backend with its own path.
 *
 * Also here, because every writer needs them and nothing else in the lake
 * should: URI <-> path conversion, new UUIDs and snapshot ids.
 *
 * Thread-safety: every call is safe from any thread (no shared state).
 */
#ifndef KILN_LAKE_IO_H
#define KILN_LAKE_IO_H

#include "base/base.h"

#include <stdint.h>

typedef struct kiln_lake_io_stat {
    int is_dir;       /* 1 directory, 0 regular file (other kinds are not listed) */
    int64_t size;     /* bytes (files) */
    int64_t mtime_ms; /* last modification, epoch ms */
} kiln_lake_io_stat;

/* A storage backend. Paths are the backend's own (after the scheme). */
typedef struct kiln_lake_io_ops {
    const char *name; /* "local" */
    /* Whole object, at most cap bytes (NUL-terminated; caller frees). A
     * missing object is KILN_ENOTFOUND. */
    int (*read_all)(const char *path, size_t cap, char **out, size_t *len, kiln_err *err);
    /* Replace the object at once (readers see old or new, never a part). */
    int (*write_atomic)(const char *path, const void *data, size_t n, kiln_err *err);
    /* Create a new object durably; KILN_EEXIST if it exists. */
    int (*write_new)(const char *path, const void *data, size_t n, kiln_err *err);
    /* Publish `from` under `to` unless `to` exists (KILN_EEXIST): the
     * commit point of a table. `from` stays; remove it after. */
    int (*link_new)(const char *from, const char *to, kiln_err *err);
    /* KILN_ENOTFOUND when absent (no message needed: err may be NULL). */
    int (*stat)(const char *path, kiln_lake_io_stat *out, kiln_err *err);
    /* Entries of a directory (names, not "."/".."), unsorted; a missing
     * directory lists nothing. fn's non-zero return stops and is returned. */
    int (*list)(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st), void *ctx,
                kiln_err *err);
    /* Remove an object; a missing one is not an error. */
    int (*remove)(const char *path, kiln_err *err);
    int (*mkdirs)(const char *dir, kiln_err *err);
    void (*rmdir_empty)(const char *dir); /* only if empty; best effort */
    int (*rmtree)(const char *dir, kiln_err *err);
    void (*sync_dir)(const char *dir); /* make entries durable; best effort */
    /* A local file a format reader or writer may open (and map) itself:
     * locally the path; an object store would stage a copy. Caller frees. */
    int (*local_file)(char **out, const char *path, kiln_err *err);
    /* The canonical absolute form of a path that may not exist yet. */
    int (*abspath)(char **out, const char *path, kiln_err *err);
} kiln_lake_io_ops;

/* Resolve a stored location: its backend and the backend's path (caller
 * frees *path). KILN_EUNSUPP for a scheme no backend serves. */
int kiln_lake__io_resolve(const kiln_lake_io_ops **ops, char **path, const char *loc, kiln_err *err);
/* Only the check (warehouse options): 0 or KILN_EUNSUPP naming the scheme. */
int kiln_lake__io_check(const char *loc, kiln_err *err);

/* The operations of kiln_lake_io_ops on stored locations. */
int kiln_lake__io_read_all(const char *loc, size_t cap, char **out, size_t *len, kiln_err *err);
int kiln_lake__io_write_atomic(const char *loc, const void *data, size_t n, kiln_err *err);
int kiln_lake__io_write_new(const char *loc, const void *data, size_t n, kiln_err *err);
int kiln_lake__io_link_new(const char *from, const char *to, kiln_err *err);
int kiln_lake__io_stat(const char *loc, kiln_lake_io_stat *out, kiln_err *err);
int kiln_lake__io_exists(const char *loc); /* 1 or 0 (errors count as absent) */
int kiln_lake__io_list(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st), void *ctx,
                       kiln_err *err);
int kiln_lake__io_remove(const char *loc, kiln_err *err);
int kiln_lake__io_mkdirs(const char *dir, kiln_err *err);
void kiln_lake__io_rmdir_empty(const char *dir);
int kiln_lake__io_rmtree(const char *dir, kiln_err *err);
void kiln_lake__io_sync_dir(const char *dir);
int kiln_lake__io_local_file(char **out, const char *loc, kiln_err *err);
int kiln_lake__io_abspath(char **out, const char *loc, kiln_err *err);
/* After a reader opened kiln_lake__io_local_file's copy: an object store's
 * temporary download is removed (a local path is left alone). */
void kiln_lake__io_local_release(const char *local, const char *loc);
/* Writing a new object with a writer that needs a local file: stage_new
 * gives the file to write (locally the path itself; on an object store a
 * temporary file), stage_publish makes it the object at loc once the writer
 * closed it (an upload; locally nothing), stage_discard drops both. */
int kiln_lake__io_stage_new(char **out, const char *loc, kiln_err *err);
int kiln_lake__io_stage_publish(const char *staged, const char *loc, kiln_err *err);
void kiln_lake__io_stage_discard(const char *staged, const char *loc);

/* A Parquet reader on a stored location: a local file is opened (and
 * mapped) by the reader; an S3 object is read in place by ranged GETs, the
 * footer from one GET of the file's tail, then one GET per column chunk
 * the reader reads, all pinned to the object's ETag (a file replaced
 * meanwhile is KILN_ECONFLICT). size_hint: the size the manifest records
 * (saves a HEAD on S3), or -1. */
typedef struct kiln_parquet_reader kiln_parquet_reader;
typedef struct kiln_parquet_read_opts kiln_parquet_read_opts;
int kiln_lake__io_parquet_open(kiln_parquet_reader **r, const char *loc, int64_t size_hint,
                               const kiln_parquet_read_opts *ro, kiln_err *err);

#endif /* KILN_LAKE_IO_H */
