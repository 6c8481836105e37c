/*
 * text.h - text output formats: the one CSV field writer and the CSV and
 * NDJSON sinks for row batches (sink_text.c). The NDJSON reader has its
 * own header (ndjson.h).
 *
 * CSV (RFC 4180, "\n" line ends): a field is quoted when it holds ',', '"',
 * '\r' or '\n' or is an empty string, a '"' inside is doubled; null is an
 * empty unquoted field. Timestamps are ISO 8601 UTC ("2025-01-01T15:04:05Z"),
 * booleans true/false, the sinks write a header row of column names.
 * NDJSON: one object per row, keys in schema order, nulls as null, int64 as
 * bare numbers, timestamps as ISO strings.
 *
 * A text sink writes PATH.tmp and, on commit, fsyncs and renames it to
 * PATH; abort removes the temp file. Rows are written in batch order.
 */
#ifndef KILN_FORMAT_TEXT_H
#define KILN_FORMAT_TEXT_H

#include "format/batch.h"

/* Append one CSV field holding the n bytes at p to out, quoted as above
 * (an empty string becomes ""; for a null write nothing). */
int kiln_csv_write_field(kiln_buf *out, const char *p, size_t n, kiln_err *err);

/* Open a sink writing path. Caller frees with kiln_sink_free (after commit
 * or abort). The schema is borrowed and must outlive the sink. */
int kiln_sink_csv_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err);
int kiln_sink_ndjson_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err);

/* Bytes written to a text sink so far (0 for other sinks). */
uint64_t kiln_sink_text_bytes(const kiln_sink *s);

#endif
