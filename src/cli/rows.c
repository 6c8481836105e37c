/*
 * rows.c - rows of a column batch as text for the CLI's data outputs
 * (`kiln table scan`, `kiln parquet cat`): CSV (the one field writer,
 * kiln_csv_write_field: RFC 4180, "" for an empty string, nothing for null;
 * always with a header line) or NDJSON (one object per row, strings through
 * kiln_json_write_str, finite numbers as JSON numbers).
 */
#include "cli.h"
#include "format/parquet/parquet.h"
#include "format/text/text.h"

#include <math.h>
#include <string.h>

int kiln_cli_csv_header(kiln_buf *line, const kiln_schema *s, int ncols, kiln_err *err)
{
    int rc = 0;
    for (int c = 0; c < ncols && !rc; c++) {
        if (c)
            rc = kiln_buf_putc(line, ',', err);
        if (!rc)
            rc = kiln_csv_write_field(line, s->cols[c].name, strlen(s->cols[c].name), err);
    }
    return rc ? rc : kiln_buf_putc(line, '\n', err);
}

static int is_number(const kiln_batch *b, int c, size_t row, int decimal_number)
{
    switch (b->cols[c].type) {
    case KILN_T_INT32:
    case KILN_T_INT64:
    case KILN_T_BOOL: return 1;
    case KILN_T_DECIMAL:
    case KILN_T_DECIMAL_WIDE: return decimal_number;
    case KILN_T_JSON: return 1; /* already JSON text: written as the value itself */
    case KILN_T_FLOAT: return isfinite(b->cols[c].v.f32[row]);
    case KILN_T_DOUBLE: return isfinite(b->cols[c].v.f64[row]);
    default: return 0;
    }
}

int kiln_cli_format_row(kiln_buf *line, kiln_buf *cell, const kiln_batch *b, size_t row, int ncols, int ndjson,
                        int decimal_number, kiln_err *err)
{
    int rc = 0;
    const kiln_schema *s = b->schema;
    if (ndjson)
        rc = kiln_buf_putc(line, '{', err);
    for (int c = 0; !rc && c < ncols; c++) {
        if (c)
            rc = kiln_buf_putc(line, ',', err);
        if (!rc && ndjson) {
            rc = kiln_json_write_str(line, s->cols[c].name, strlen(s->cols[c].name), err);
            if (!rc)
                rc = kiln_buf_putc(line, ':', err);
        }
        if (rc)
            break;
        if (kiln_batch_is_null(b, c, row)) {
            if (ndjson)
                rc = kiln_buf_append(line, "null", 4, err);
            continue;
        }
        kiln_buf_reset(cell);
        if ((rc = kiln_parquet_format_value(cell, b, c, row, err)))
            break;
        const char *v = cell->data ? cell->data : "";
        if (!ndjson)
            rc = kiln_csv_write_field(line, v, cell->len, err);
        else if (is_number(b, c, row, decimal_number))
            rc = kiln_buf_append(line, v, cell->len, err);
        else
            rc = kiln_json_write_str(line, v, cell->len, err);
    }
    if (!rc && ndjson)
        rc = kiln_buf_putc(line, '}', err);
    return rc ? rc : kiln_buf_putc(line, '\n', err);
}
