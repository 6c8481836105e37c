/*
 * sql_int.h - internals shared by the files of src/sql (not part of the
 * module's API, sql.h): the one SQL token scanner that knows SQLite's
 * quoting ('string', "ident", `ident`, [ident]) and comments (-- and
 * slash-star), used by the left()/right() rewrite (sql_db.c), the write
 * statements (sql_write.c), the Iceberg DDL statements (sql_ddl.c) and the
 * shell's meta statements (shell.c).
 */
#ifndef KILN_SQL_INT_H
#define KILN_SQL_INT_H

#include "sql.h"
#include "lake/lake.h"

typedef struct kiln_sql_tok {
    size_t b, e; /* [b, e) in the text */
    char kind;   /* 'w' word, 'q' "quoted" ident, 's' 'string', 'n' number, 'p' punctuation, 0 end */
} kiln_sql_tok;

typedef struct kiln_sql_lexer {
    const char *s;
    size_t n, pos;
} kiln_sql_lexer;

/* The next token after blanks and comments (kind 0 at the end). */
kiln_sql_tok kiln_sql_lex_next(kiln_sql_lexer *lx);
/* The next token without consuming it. */
kiln_sql_tok kiln_sql_lex_peek(kiln_sql_lexer *lx);
/* 1 if t is the word kw (ASCII case-insensitive). */
int kiln_sql_lex_kw(const kiln_sql_lexer *lx, kiln_sql_tok t, const char *kw);
/* 1 if t is the one-character punctuation c. */
int kiln_sql_lex_p(const kiln_sql_lexer *lx, kiln_sql_tok t, char c);
/* Identifier text of a word or quoted identifier, unquoted, into out
 * (cap bytes with the NUL). 0, or -1 when t is not one or is too long. */
int kiln_sql_lex_ident(const kiln_sql_lexer *lx, kiln_sql_tok t, char *out, size_t cap);
/* After a consumed '(': skip to the matching ')' and return it (kind 0
 * when the text ends first). */
kiln_sql_tok kiln_sql_lex_skip_parens(kiln_sql_lexer *lx);
/* Offset of the ';' that ends the current statement (at parenthesis depth
 * 0), or n when there is none. */
size_t kiln_sql_lex_stmt_end(kiln_sql_lexer *lx);

#ifdef KILN_SQL_LEX_SHORT_NAMES
/* Short names for the scanner in the parsers (sql_write.c, sql_ddl.c),
 * which call it on every line. */
typedef kiln_sql_tok tok;
typedef kiln_sql_lexer lexer;
#define next(lx) kiln_sql_lex_next(lx)
#define peek(lx) kiln_sql_lex_peek(lx)
#define is_kw(lx, t, kw) kiln_sql_lex_kw(lx, t, kw)
#define is_p(lx, t, c) kiln_sql_lex_p(lx, t, c)
#define ident(lx, t, out, cap) kiln_sql_lex_ident(lx, t, out, cap)
#define skip_parens(lx) kiln_sql_lex_skip_parens(lx)
#define stmt_end(lx) kiln_sql_lex_stmt_end(lx)
#define perr kiln_sql_perr
#endif

/* A two-part name "ns.t" (each part a word or quoted identifier) at the
 * lexer's position: 0 with the parts copied (each cap 129), or 1 when the
 * text there is not such a name (position then undefined). */
int kiln_sql_lex_name2(kiln_sql_lexer *lx, char ns[129], char tb[129]);

/* A syntax error at offset `at` of the statement: KILN_EFORMAT with the
 * message, *eoff (may be NULL) = at. */
int kiln_sql_perr(long *eoff, size_t at, kiln_err *err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* 1 if ns is one of kiln's Iceberg namespaces on db: an attached in-memory
 * schema that is not main or temp (an attached database file is SQLite's). */
int kiln_sql_is_lake_schema(sqlite3 *db, const char *ns);

/* Iceberg DDL statements (sql_ddl.c): DROP TABLE, ALTER TABLE, CREATE
 * TABLE (columns), CREATE INDEX / VIEW / TRIGGER on an Iceberg namespace.
 * *handled = 0 when sql does not start with one (nothing done). */
int kiln_sql_ddl_try(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *err_offset,
                     FILE *out, kiln_err *err);

/* The attached warehouse's catalog for a statement that needs it: a
 * deferred, missing warehouse (KILN_SQL_LAKE_DEFER) is created now when
 * create is set, else *rc = KILN_ENOTFOUND "warehouse not found: PATH".
 * NULL with *rc 0 when no warehouse is attached at all. */
kiln_lake_catalog *kiln_sql_lake_catalog_for_write(sqlite3 *db, int create, int *rc, kiln_err *err);

/* After an Iceberg table's schema or name changed: drop its virtual
 * table(s) on db (so SQLite forgets the old columns) and, when name_now is
 * not NULL, declare it again under that name. */
int kiln_sql_lake_refresh_table(sqlite3 *db, const char *name_was, const char *name_now, kiln_err *err);

/* Iceberg type spelling of a field's type as kiln's DDL reads it:
 * "long", "decimal(9,2)", "list<string>", "struct<a:int,b:string>". */
int kiln_sql_lake_type_text(kiln_buf *out, const kiln_lake_type *t, kiln_err *err);

/* Column rows of an Iceberg table for DESCRIBE and .schema: calls fn with
 * each top-level column's name, Iceberg type text and required flag, then
 * returns the partition spec text ("" when unpartitioned) in *partition
 * (caller frees). KILN_ENOTFOUND when there is no such table. */
int kiln_sql_lake_columns(sqlite3 *db, const char *name,
                          int (*fn)(void *ctx, const char *col, const char *type, int required), void *ctx,
                          char **partition, kiln_err *err);

/* The Iceberg type nearest to a SQLite declared type ("INTEGER" -> long,
 * "TEXT"/"VARCHAR(9)" -> string, "REAL DECIMAL(9,2)" -> decimal(9,2),
 * "TIMESTAMPTZ TEXT" -> timestamptz, ...), or NULL when there is none.
 * scratch (cap >= 24) may hold the result. */
const char *kiln_sql_decl_lake_type(const char *decl, char *scratch, size_t cap);

/* DESCRIBE [TABLE] name and SHOW TABLES: *handled 1 when sql starts with
 * one; then *st (caller finalizes) yields its rows (column_name,
 * column_type, null / name, type), so every output format prints them. */
int kiln_sql_meta_prepare(sqlite3 *db, const char *sql, size_t len, int *handled, sqlite3_stmt **st, size_t *used,
                          long *eoff, kiln_err *err);

/* .schema [NAME]: SQLite's CREATE statements, and each Iceberg table as
 * CREATE TABLE ns.t (col type [NOT NULL], ...) [PARTITIONED BY (...)]. */
int kiln_sql_schema_print(sqlite3 *db, const char *name, FILE *out, kiln_err *err);

/* CALL [catalog.]system.PROC(...) (sql_call.c): Iceberg's Spark
 * maintenance procedures. *handled = 0 when sql does not start with CALL.
 * On success *result (may stay NULL under explain) is a prepared query of
 * the procedure's output rows, for the caller to print and finalize. */
int kiln_sql_call_try(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *err_offset,
                      sqlite3_stmt **result, FILE *out, kiln_err *err);

/* vtab_iceberg.c: bounds [lo, hi] of the canonical timestamps (micros; days
 * for a date column) whose text can compare equal to the text literal cs, as
 * the scan pushdown widens them (shared with src/exec). -1: no safe bound. */
int kiln_sql__ts_text_bounds(const char *cs, size_t n, int is_date_col, int64_t *lo, int64_t *hi);

/* Iceberg views (sql_view.c): the "iceberg_view" virtual-table module
 * (kiln_sql_db_open registers it); every view of the attached warehouse
 * declared as ns.v (kiln_sql_lake_attach does it); after a failed prepare
 * with SQLite's message errmsg, the views another session created or
 * replaced declared again (1: something changed, prepare again); CREATE
 * [OR REPLACE] VIEW / DROP VIEW on an Iceberg namespace (*handled = 0 when
 * sql is not one). */
int kiln_sql__view_register(sqlite3 *db, kiln_err *err);
int kiln_sql__views_declare(sqlite3 *db, kiln_err *err);
int kiln_sql__view_sync(sqlite3 *db, const char *errmsg);
/* The text with every view named after FROM/JOIN replaced by "(its
 * query) AS name" (out empty when there is none); map records each
 * replacement so kiln_sql__view_map_back turns an offset in out into one
 * in sql (inside a replacement: the view's name). */
typedef struct kiln_sql_vmap {
    size_t ob, oe, nb, ne; /* [ob, oe) of the original became [nb, ne) */
} kiln_sql_vmap;
typedef KILN_VEC(kiln_sql_vmap) kiln_sql_vmap_vec;
int kiln_sql__view_expand(sqlite3 *db, const char *sql, size_t len, kiln_buf *out, kiln_sql_vmap_vec *map,
                          kiln_err *err);
size_t kiln_sql__view_map_back(const kiln_sql_vmap_vec *map, size_t r);
int kiln_sql__view_ddl(sqlite3 *db, const char *sql, size_t len, int mode, int *handled, size_t *used, long *eoff,
                       FILE *out, kiln_err *err);

/* sql_write.c: the Iceberg columns of a query (prepared as st) as CREATE
 * TABLE AS makes them, "a long, b string": each column's declared type,
 * else the types of its values (st is stepped to its end, then reset);
 * KILN_EINVAL for a column name that is not a plain identifier or that
 * appears twice. */
int kiln_sql__query_columns(sqlite3 *db, sqlite3_stmt *st, kiln_buf *ddl, kiln_err *err);

#endif /* KILN_SQL_INT_H */
