/*
 * exec.h - kiln's columnar, multi-core executor for the query shapes the
 * models layer runs: one Iceberg table, a WHERE of comparisons / AND / OR /
 * NOT / IN / IS NULL / BETWEEN / LIKE 'prefix%' over expressions
 * (arithmetic with SQLite's integer/real rules, CASE, CAST, coalesce,
 * substr, lower/upper/length, ||, date_trunc / iso_week / iso_year of a
 * column), GROUP BY expressions, the aggregates count(*), count(x),
 * count(DISTINCT x), sum, avg, min, max of expressions, HAVING, then
 * ORDER BY + LIMIT; plain scans that keep few rows; also the subquery in
 * FROM, the WITH terms and the UNION ALL branches of such shapes (SQLite
 * runs the rest over their results), a WITH term that only filters a
 * table inlined into what reads it, and uncorrelated scalar subqueries
 * (run once by SQLite) as literals.
 *
 * SQLite stays the engine of record: the SQL layer prepares every
 * statement with SQLite first (so the text is valid SQL over existing
 * tables), then offers it here. A statement whose whole shape is not
 * supported, or whose result could differ from SQLite's in any way (a
 * floating-point sum whose value depends on row order, a possible integer
 * overflow, a group table over its memory cap, ...), is declined with a
 * reason and SQLite runs it unchanged. See docs/exec.md.
 *
 * Environment: KILN_EXEC=0 turns the executor off (every statement runs on
 * SQLite); KILN_EXEC_THREADS=N sets the worker threads (default: online
 * cores); KILN_EXEC_MEM_MB caps the memory of the aggregation (default
 * 1024) - past it the statement is declined and SQLite (which spills to
 * disk) runs it.
 */
#ifndef KILN_EXEC_H
#define KILN_EXEC_H

#include <sqlite3.h>

#include "base/base.h"

typedef struct kiln_exec_result kiln_exec_result;

/* Try the columnar path for the statement sql[0..len), which SQLite has
 * prepared as st (st is only read: its column names). Returns 0 and:
 *  - *out set: the statement ran here; kiln_exec_result_stmt yields its
 *    rows exactly as st would have (names, types, order);
 *  - *out NULL: declined; why (cap bytes) says why, st runs as usual.
 * Returns <0 (KILN_E*, err set) only on a real error of the statement
 * (I/O, a corrupt file). */
int kiln_exec_try(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt *st, kiln_exec_result **out, char *why,
                  size_t cap, kiln_err *err);

/* A statement that yields the result rows (owned by r). */
sqlite3_stmt *kiln_exec_result_stmt(kiln_exec_result *r);
/* One line saying what ran ("columnar: table gh.commits, 2 threads, ..."). */
const char *kiln_exec_result_summary(const kiln_exec_result *r);
/* Finalize the statement and drop the result's temporary table. */
void kiln_exec_result_free(kiln_exec_result *r);

/* 0 when KILN_EXEC=0/off (every statement on SQLite), else 1. */
int kiln_exec_enabled(void);

#endif /* KILN_EXEC_H */
