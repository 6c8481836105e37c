/*
 * pred.h - the one parser of kiln's filter expressions ("--where"), shared
 * by the Parquet reader (row-group skipping, `kiln parquet cat --where`)
 * and Iceberg scans (partition/stats pruning and row filtering):
 *
 *   a = 1 and b between '2025-01-01' and '2025-01-31' and c is null
 *
 * A predicate is an AND of terms, each one comparison of a column with
 * literals typed by the column (kiln_type). Evaluators live with their
 * users; this module only turns text into terms.
 */
#ifndef KILN_PRED_H
#define KILN_PRED_H

#include "base/base.h"
#include "format/batch.h"

typedef enum kiln_pred_op {
    KILN_PRED_EQ = 1,
    KILN_PRED_LT,
    KILN_PRED_LE,
    KILN_PRED_GT,
    KILN_PRED_GE,
    KILN_PRED_BETWEEN,
    KILN_PRED_ISNULL,
    KILN_PRED_NOTNULL,
    KILN_PRED_NE
} kiln_pred_op;

/* A literal in the column's kiln type: i (bool, ints, date days, timestamp
 * micros, decimal unscaled), d (float/double; ints also set d), s/n
 * (string/binary bytes, arena-owned, NUL-terminated). */
typedef struct kiln_pred_value {
    int64_t i;
    double d;
    const char *s;
    size_t n;
} kiln_pred_value;

typedef struct kiln_pred_term {
    int col; /* index into the schema given to kiln_pred_parse */
    kiln_pred_op op;
    kiln_pred_value v, hi; /* hi: BETWEEN's upper bound (inclusive) */
} kiln_pred_term;

/* Parse text against schema (columns by name). OUT: *terms (arena a) and
 * *nterms (0 for empty text). Literals: numbers, 'strings' / "strings" / bare words,
 * true/false, dates YYYY-MM-DD, ISO-8601 timestamps (zone optional),
 * decimals scaled to the column.
 *
 * A decimal literal the column cannot hold exactly is folded, never
 * wrapped: "price < 1.005" on scale 2 becomes "price <= 1.00", a literal
 * beyond int64 compares as +/- infinity ("price = 1e20-ish" matches
 * nothing, "price < ..." every non-null row). A term that can match no row
 * is given as BETWEEN 1 AND 0 (an empty range; every evaluator's BETWEEN
 * rejects every value and prunes conservatively). Errors: KILN_ENOTFOUND
 * for an unknown column, KILN_EINVAL for anything else. */
int kiln_pred_parse(kiln_pred_term **terms, int *nterms, kiln_arena *a, const kiln_schema *schema, const char *text,
                    kiln_err *err);

#endif /* KILN_PRED_H */
