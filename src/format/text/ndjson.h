/*
 * ndjson.h - NDJSON rows (one JSON object per line) into column batches of
 * a given schema: the reader behind `kiln table append|overwrite|merge`.
 */
#ifndef KILN_FORMAT_NDJSON_H
#define KILN_FORMAT_NDJSON_H

#include "format/batch.h"

#include <stdio.h>

#define KILN_NDJSON_MAX_LINE (16u << 20) /* longest line accepted */

typedef struct kiln_ndjson_read_opts {
    int ignore_unknown_keys; /* 0: a key that is not a column is an error naming line and key */
    size_t batch_rows;       /* rows per batch (0: 4096) */
    /* per schema column, the JSON text a line that lacks the key reads as
     * (an Iceberg v3 write-default); NULL array or entry: null */
    const char *const *absent_json;
} kiln_ndjson_read_opts;

/* Called with each full batch and with the last, partial one (never empty).
 * The batch is cleared after the call; return 0 or a negative code. */
typedef int (*kiln_ndjson_batch_fn)(void *ctx, kiln_batch *b, kiln_err *err);

/* Read NDJSON from f (name: for messages, e.g. the path or "-") into
 * batches of schema: values convert by column type (dates and timestamps as
 * ISO strings, timestamps also as integer micros, decimals as numbers
 * scaled to the column's scale); a missing key or null is a null. Errors
 * name the file and line (err->offset is the line number). */
int kiln_ndjson_read(FILE *f, const char *name, const kiln_schema *schema, const kiln_ndjson_read_opts *opts,
                     kiln_ndjson_batch_fn fn, void *ctx, kiln_err *err);

#endif
