/*
 * sql.h - kiln's SQL layer over embedded SQLite: opening a connection with
 * kiln's added functions registered, running SQL text and printing results
 * (aligned table, CSV, JSON), reporting SQL errors with the statement and a
 * caret, and the statement reader behind the `kiln sql` shell.
 *
 * Timestamps in kiln SQL are ISO-8601 UTC text, "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"
 * (the form kiln_ts_format writes); dates are "YYYY-MM-DD". Functions also
 * accept integer microseconds since 1970-01-01 and the other forms
 * kiln_ts_parse reads. See docs/sql.md.
 *
 * A sqlite3 connection belongs to one thread (kiln opens SQLite in
 * multi-thread mode: one connection per thread, no sharing).
 */
#ifndef KILN_SQL_H
#define KILN_SQL_H

#include <sqlite3.h>
#include <stdio.h>

#include "base/base.h"

/* ------------------------------------------------------------ connections */

enum {
    KILN_SQL_OPEN_READONLY = 1 << 0, /* open an existing file read-only */
    KILN_SQL_OPEN_NOCREATE = 1 << 1  /* fail with KILN_ENOTFOUND if the file is missing */
};

/* Open a SQLite connection with every kiln function registered.
 * path NULL or ":memory:" opens a private in-memory database; otherwise a
 * database file (created unless KILN_SQL_OPEN_NOCREATE/READONLY).
 * OUT: *out, caller closes with kiln_sql_db_close. On error *out is NULL. */
int kiln_sql_db_open(sqlite3 **out, const char *path, int flags, kiln_err *err);
void kiln_sql_db_close(sqlite3 *db); /* NULL is a no-op */

/* Register kiln's functions (date_trunc, iso_week, iso_year, date_add,
 * datediff, ts_micros, md5, sha256, regexp_like, regexp_extract,
 * regexp_replace, regexp, split_part, left, right) on a connection opened
 * elsewhere. kiln_sql_db_open already does this. */
int kiln_sql_functions_register(sqlite3 *db, kiln_err *err);

/* Prepare the first statement of sql[0..len) on db (any connection).
 * Use this rather than sqlite3_prepare_v2 so that kiln's left()/right()
 * parse (SQLite 3.40 reads LEFT/RIGHT as join keywords; see sql_db.c).
 * OUT: *out, caller finalizes with sqlite3_finalize; NULL when the text
 * holds only blanks/comments. *used: bytes of sql consumed (the statement
 * and its ';'). On error returns KILN_EFORMAT (or KILN_ENOMEM/ELIMIT) with
 * SQLite's message in err and *err_offset (may be NULL) set to the byte
 * offset of the error in sql, or -1. */
int kiln_sql_prepare(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt **out, size_t *used, long *err_offset,
                     kiln_err *err);

/* Timestamp argument parsing shared with the vtab layer: text in any form
 * kiln_ts_parse or kiln_date_parse reads, or integer micros. *is_date is
 * set to 1 when the input was a plain "YYYY-MM-DD" date (may be NULL).
 * Returns 0 or KILN_EFORMAT (NULL and other types are rejected). */
int kiln_sql_value_ts(sqlite3_value *v, int64_t *micros_out, int *is_date);

/* The text of a timestamp (micros) / date (days) exactly as kiln_ts_format /
 * kiln_date_format write it, faster (hot paths: scans, date functions).
 * out holds >= 40 bytes; returns the length. */
size_t kiln_sql_ts_text(int64_t micros, char *out);
size_t kiln_sql_date_text(int64_t days, char *out);

/* ------------------------------------------------------------ output */

typedef enum {
    KILN_SQL_FMT_TABLE = 0, /* aligned, UTF-8 width aware, "(N rows)" footer */
    KILN_SQL_FMT_CSV,       /* header + rows, RFC 4180 quoting, LF line ends */
    KILN_SQL_FMT_JSON,      /* one JSON array of objects per statement */
    KILN_SQL_FMT_PIPE,      /* header + rows joined by '|', no footer (.sqltest) */
    KILN_SQL_FMT_BOX        /* the aligned table drawn with Unicode box lines */
} kiln_sql_format;

/* Parse "table", "csv", "json", "pipe" or "box". Returns 0 or KILN_EINVAL. */
int kiln_sql_format_parse(const char *name, kiln_sql_format *out);

/* Cap on the result buffered for one aligned table (bytes of cell text). */
#define KILN_SQL_TABLE_CAP ((size_t)256 << 20)

/* Where a failed statement went wrong, for kiln_sql_error_print. */
typedef struct kiln_sql_errpos {
    const char *stmt; /* borrowed: start of the failing statement in the SQL text */
    size_t stmt_len;  /* its length in bytes (without trailing blanks) */
    long offset;      /* byte offset of the error inside stmt, -1 if unknown */
} kiln_sql_errpos;

/* Prepare and run every statement in sql[0..len), writing the rows of each
 * statement that returns columns to out in fmt. With explain set, each
 * statement is not run: its EXPLAIN QUERY PLAN tree is printed instead.
 * Stops at the first error: returns KILN_EFORMAT with err->msg set to
 * SQLite's message, and *pos (if not NULL) locating the statement and the
 * error offset inside it. */
int kiln_sql_exec(sqlite3 *db, const char *sql, size_t len, kiln_sql_format fmt, int explain, FILE *out,
                  kiln_sql_errpos *pos, kiln_err *err);

/* How kiln_sql_exec_ex prints and goes on. */
typedef struct kiln_sql_print {
    kiln_sql_format fmt;
    int explain;
    int headers;      /* column names first (table, box, csv, pipe) */
    size_t max_width; /* table/box: fit rows into this many columns, cutting cells with "…" (0 = no limit) */
    int timer;        /* "Run Time: real S.sss user S.ssssss sys S.ssssss" after each statement */
    /* keep going: each failed statement is reported here and the next one runs */
    void (*on_error)(void *ctx, const kiln_err *err, const kiln_sql_errpos *pos);
    void *ctx;
} kiln_sql_print;

/* kiln_sql_exec with print options; with on_error set it runs every
 * statement and returns the first failure's code (0 if none). */
int kiln_sql_exec_ex(sqlite3 *db, const char *sql, size_t len, const kiln_sql_print *po, FILE *out,
                     kiln_sql_errpos *pos, kiln_err *err);

/* Print "PREFIX: error: MSG", then the statement line holding the error
 * with a caret under the error position (indented two spaces). */
void kiln_sql_error_print(FILE *f, const char *prefix, const char *msg, const kiln_sql_errpos *pos);

/* Display width of UTF-8 text in terminal columns (East Asian wide = 2,
 * combining marks = 0, invalid bytes = 1 each). */
size_t kiln_sql_utf8_width(const char *s, size_t n);

/* ------------------------------------------------------------ shell */

/* The `kiln sql` shell (shell_run.c): SQL and dot-commands (.help .quit
 * .exit .mode .headers .timer .tables .schema .read) from a terminal, a
 * pipe, a file or -c text; a statement ends when sqlite3_complete says so.
 * Settings (.mode, .headers, .timer) carry over between inputs. */
typedef struct kiln_sql_shell_opts {
    kiln_sql_format fmt;
    int explain;
    int interactive;          /* prompts, banner, history, libedit on a TTY */
    int bail;                 /* not interactive: stop at the first failed statement */
    const char *history_path; /* interactive: statements are appended here (may be NULL) */
    int fit;                  /* table/box rows fitted to out's terminal width (cells cut with "…") */
    int pager;                /* a result longer than out's terminal goes through $PAGER */
} kiln_sql_shell_opts;

typedef struct kiln_sql_shell kiln_sql_shell;

/* db, out and errf are borrowed. Caller frees with kiln_sql_shell_free. */
int kiln_sql_shell_new(kiln_sql_shell **out, sqlite3 *db, FILE *o, FILE *errf, const kiln_sql_shell_opts *opts,
                       kiln_err *err);
void kiln_sql_shell_free(kiln_sql_shell *sh);
/* Read and run in to its end (or .quit). Errors print to errf as
 * "kiln sql: error: [NAME:N: | line N: ]message" with the statement and a
 * caret, and the next statement runs (unless bail). name NULL = stdin.
 * Returns the first failure's code so far (0 if none). */
int kiln_sql_shell_feed(kiln_sql_shell *sh, FILE *in, const char *name);
/* The same for text given on the command line (-c): errors name the line
 * only when the text has several. */
int kiln_sql_shell_text(kiln_sql_shell *sh, const char *text);
/* The interactive session on in: banner, prompts, Ctrl-C interrupts. */
int kiln_sql_shell_interact(kiln_sql_shell *sh, FILE *in);
long kiln_sql_shell_failures(const kiln_sql_shell *sh);
int kiln_sql_shell_first_error(const kiln_sql_shell *sh); /* KILN_E* code, 0 if none */
int kiln_sql_shell_quitted(const kiln_sql_shell *sh);     /* 1 after .quit / .exit */

/* Compatibility: one input with a fresh shell; interactive keeps going and
 * returns 0; otherwise stops at the first error and returns its code. */
int kiln_sql_shell_run(sqlite3 *db, FILE *in, FILE *out, FILE *errf, kiln_sql_format fmt, int explain, int interactive,
                       const char *history_path);

/* ------------------------------------------------------------ Iceberg tables (vtab_iceberg.c) */

typedef struct kiln_lake_catalog kiln_lake_catalog;

/* Register the "iceberg" virtual-table module on db (kiln_sql_db_open does). */
int kiln_sql_lake_register(sqlite3 *db, kiln_err *err);
/* Open the warehouse (SQLite catalog) on db: each namespace becomes an
 * attached schema, each table a virtual table ns.table. */
int kiln_sql_lake_attach(sqlite3 *db, const char *warehouse, kiln_err *err);
/* kiln_sql_lake_attach with flags: KILN_SQL_LAKE_DEFER leaves a warehouse
 * that has no catalog.db unopened and uncreated: reads find no tables,
 * kiln_sql_lake_missing returns its path, and the first statement that
 * creates an Iceberg table creates the warehouse. */
enum { KILN_SQL_LAKE_DEFER = 1 };
int kiln_sql_lake_attach_ex(sqlite3 *db, const char *warehouse, int flags, kiln_err *err);
/* 1 if some statement of sql[0..len) is CREATE [OR REPLACE] TABLE (one
 * that may create a table in a deferred warehouse), else 0. */
int kiln_sql_text_creates_table(const char *sql, size_t len);
/* The path of a deferred warehouse that does not exist (yet), else NULL. */
const char *kiln_sql_lake_missing(sqlite3 *db);
/* The attached catalog, or NULL. Owned by the connection. */
kiln_lake_catalog *kiln_sql_lake_catalog(sqlite3 *db);
/* Create the virtual table for name ("ns.table"; ref NULL, or a ref/
 * snapshot id/time making "ns"."table@ref"), attaching ns if needed. */
int kiln_sql_lake_add_table(sqlite3 *db, const char *name, const char *ref, kiln_err *err);
/* Given SQLite's "no such table: ns.t@REF" message, create that table.
 * Returns 1 when created (prepare again), 0 when not applicable, <0. */
int kiln_sql_lake_resolve_missing(sqlite3 *db, const char *errmsg, kiln_err *err);
/* Append the warehouse's table names ("a.b, c.d") to out; returns the
 * count (0 when no warehouse is attached). */
int kiln_sql_lake_tables_text(sqlite3 *db, kiln_buf *out);

/* Split a two-part relation name as SQL writes it (ns.t, "ns"."t", ...)
 * into its unquoted parts (each cap 129): 0, or -1 when rel is not one. */
int kiln_sql_relation_name(const char *rel, char ns[129], char name[129]);

/* Test/debug hook: with tracing on, every xBestIndex and xFilter call of
 * an Iceberg vtab appends a line to the connection's trace (what SQLite
 * passed: constraints, colUsed, and what was pushed to the scan).
 * kiln_sql_lake_trace resets the text. */
void kiln_sql_lake_trace(sqlite3 *db, int on);
const char *kiln_sql_lake_trace_text(sqlite3 *db); /* owned by db */

/* One Iceberg scan of a statement (repeated xFilter calls of the same
 * scan are summed), for `kiln sql --explain`. */
typedef struct kiln_sql_scan_rec {
    char *table, *where, *columns;
    int64_t snapshot_id;
    size_t filters; /* xFilter calls */
    size_t manifests_total, manifests_pruned;
    size_t files_total, files_pruned_partition, files_pruned_stats;
    int64_t rows; /* rows returned to SQLite */
    /* Parquet row groups of the data files the scans opened, and how many
     * were skipped by their column statistics (added when a scan ends) */
    size_t row_groups_total, row_groups_skipped;
} kiln_sql_scan_rec;
void kiln_sql_lake_scanlog(sqlite3 *db, int on); /* on/off; clears the log */
const kiln_sql_scan_rec *kiln_sql_lake_scans(sqlite3 *db, size_t *n);

/* ------------------------------------------------------------ writes (sql_write.c) */

enum {
    KILN_SQL_WRITE_QUIET = 0,   /* run, print nothing */
    KILN_SQL_WRITE_SUMMARY = 1, /* run, print a one-line summary to out */
    KILN_SQL_WRITE_EXPLAIN = 2  /* do not run; print what would run */
};

/* If sql[0..len) starts with a statement kiln runs itself (CREATE TABLE
 * ns.t [PARTITIONED BY (...)] AS SELECT, INSERT INTO ns.t ..., INSERT
 * OVERWRITE ns.t ..., MERGE INTO ...) over an Iceberg table, run it as one
 * Iceberg commit. *handled = 0 when it is not such a statement (nothing
 * done). *used = bytes consumed. On error *err_offset (may be NULL) is the
 * byte offset of the problem in sql, or -1. */
int kiln_sql_write_try(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *err_offset,
                       FILE *out, kiln_err *err);

#endif /* KILN_SQL_H */
