/*
 * gh_int.h - engine-internal pieces shared by the gh-events files: the
 * spill record format (gh_spill.c), used by the commit grain of the scan
 * (gh_events.c) and the key-range buckets of the Iceberg load
 * (gh_iceberg.c).
 *
 * A spill record is one row: per column a null flag byte, then the value
 * (bool 1 byte, 4-byte types 4, strings u32 length + bytes, the rest 8),
 * native byte order. Spill files are temporary and never leave the machine.
 */
#ifndef KILN_ENGINE_GH_INT_H
#define KILN_ENGINE_GH_INT_H

#include "format/batch.h"

/* Append row `row` of b to o as one record. */
int kiln_gh__spill_put(kiln_buf *o, const kiln_batch *b, size_t row, kiln_err *err);
/* Read the record at *pp (advancing it) and append it to dst as a row, or
 * skip it when dst is NULL (schema then gives the layout). KILN_EFORMAT
 * naming path when the record is cut. */
int kiln_gh__spill_get(const uint8_t **pp, const uint8_t *end, const kiln_schema *schema, kiln_batch *dst,
                       const char *path, kiln_err *err);
/* Step over the record at *pp (advancing it) without decoding it: *val and
 * *vlen are the bytes of column col's value (NULL, 0 when it is null; a
 * string's without its length). KILN_EFORMAT naming path when the record
 * is cut. */
int kiln_gh__spill_field(const uint8_t **pp, const uint8_t *end, const kiln_schema *schema, int col,
                         const uint8_t **val, size_t *vlen, const char *path, kiln_err *err);
/* A sink writing records to path (temp file; commit closes it, without
 * fsync: spills are rebuilt by a re-run). Caller frees with kiln_sink_free. */
int kiln_gh__spill_sink_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err);

/* The job's own staging directory (--format iceberg without --out) holds
 * kiln's row format instead of Parquet: part-HH.rows. */
#define KILN_GH_STAGE_EXT ".rows"
extern const struct kiln_gh_format kiln_gh__stage_format;

/* Re-run fast path of the Iceberg job (gh_iceberg.c): the fingerprints the
 * tables record for the target ref of o (docs/engine.md "Re-runs").
 * kiln_gh__loaded_unchanged is a kiln_gh_opts.unchanged callback (ctx = the
 * kiln_gh__loaded); kiln_gh_iceberg_load records the fingerprints of the
 * days it loaded. */
typedef struct kiln_gh__loaded kiln_gh__loaded;
struct kiln_gh_iceberg_opts;
int kiln_gh__loaded_open(kiln_gh__loaded **out, const struct kiln_gh_iceberg_opts *o, kiln_err *err);
int kiln_gh__loaded_unchanged(void *ctx, int64_t day, const char *fingerprint);
void kiln_gh__loaded_free(kiln_gh__loaded *ld);
/* --in from an object store (s3://...) or a raw zone of `kiln ingest`
 * (IN/gharchive/date=D/hour=H/...): the hour files of the job's range
 * gathered in a temporary folder (symlinks locally, downloads from S3),
 * *staged (caller removes it with kiln_rmtree and frees); *staged NULL when
 * IN is a plain folder of hour files (gh_rawzone.c). */
struct kiln_gh_opts;
int kiln_gh__rawzone_stage(const struct kiln_gh_opts *o, char **staged, kiln_err *err);

/* --in on S3 (gh_rawzone.c): the hour files are listed once and streamed
 * while the job reads them, never staged on local disk. *out is NULL when
 * --in is not an s3:// URI. Names are base names ("2025-10-06-5.json.gz"),
 * sorted; two keys with one base name are refused. */
typedef struct kiln_gh__remote kiln_gh__remote;
int kiln_gh__remote_open(const struct kiln_gh_opts *o, kiln_gh__remote **out, kiln_err *err);
void kiln_gh__remote_free(kiln_gh__remote *r);
size_t kiln_gh__remote_count(const kiln_gh__remote *r);
/* the i-th name; size and etag (may be NULL) of its object */
const char *kiln_gh__remote_name(const kiln_gh__remote *r, size_t i, int64_t *size, const char **etag);
/* index of a name, or -1 */
long kiln_gh__remote_find(const kiln_gh__remote *r, const char *name);
/* Open a gzip reader on a name's object as it downloads (a pipe fed by a
 * thread). End with kiln_gh__remote_close, passing the reading's result:
 * it frees the reader, waits for the download, and returns the download's
 * error when that is what went wrong first. */
typedef struct kiln_gh__rstream kiln_gh__rstream;
struct kiln_gz_reader;
int kiln_gh__remote_stream(kiln_gh__remote *r, const char *name, struct kiln_gz_reader **gz, kiln_gh__rstream **st,
                           kiln_err *err);
int kiln_gh__remote_close(kiln_gh__rstream *st, struct kiln_gz_reader **gz, int rc, kiln_err *err);

#endif
