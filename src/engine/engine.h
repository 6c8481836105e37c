/*
 * engine.h - the engine module's shared pieces: the text sinks (CSV and
 * NDJSON) that jobs write row batches to. Jobs have their own headers
 * (gh_events.h); the synthetic-data generator is gh_gen.h.
 *
 * A text sink writes PATH.tmp and, on commit, fsyncs and renames it to
 * PATH; abort removes the temp file. Rows are written in batch order.
 *   CSV:    RFC 4180, header row of column names, CRLF-free ("\n" line ends),
 *           a field is quoted when it holds ',', '"', '\r' or '\n' or is an
 *           empty string; null is an empty unquoted field. Timestamps are
 *           ISO 8601 UTC ("2025-01-01T15:04:05Z"), booleans true/false.
 *   NDJSON: one object per row, keys in schema order, nulls as null, int64
 *           as bare numbers, timestamps as ISO strings.
 */
#ifndef KILN_ENGINE_H
#define KILN_ENGINE_H

#include "format/batch.h"

/* Open a sink writing path. Caller frees with kiln_sink_free (after commit
 * or abort). The schema is borrowed and must outlive the sink. */
int kiln_sink_csv_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err);
int kiln_sink_ndjson_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err);

/* Bytes written to a text sink so far (0 for other sinks). */
uint64_t kiln_sink_text_bytes(const kiln_sink *s);

#endif
