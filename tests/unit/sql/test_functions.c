/* Unit tests for src/sql/functions.c and sql_db.c: every kiln SQL function
 * with its edge cases (ISO week year boundaries, leap years, month-end
 * clamping, NULLs, negative numbers, UTF-8, regex errors), the
 * deterministic flag, and left()/right() parsing on SQLite 3.40. */
#include "harness/harness.h"
#include "sql/sql.h"

#include <stdlib.h>

/* Evaluate one SELECT on a fresh kiln connection; return the first column
 * of the first row as text ("NULL" for NULL, "ERR: msg" on error).
 * Caller frees with kiln_free. */
static char *q1(const char *sql)
{
    sqlite3 *db = NULL;
    kiln_err err = {0};
    if (kiln_sql_db_open(&db, NULL, 0, &err) != 0)
        return kiln_sprintf("ERR: open: %s", err.msg);
    sqlite3_stmt *st = NULL;
    size_t used;
    char *res = NULL;
    if (kiln_sql_prepare(db, sql, strlen(sql), &st, &used, NULL, &err) != 0) {
        res = kiln_sprintf("ERR: %s", err.msg);
    } else {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            res = sqlite3_column_type(st, 0) == SQLITE_NULL ? kiln_strdup("NULL")
                                                            : kiln_strdup((const char *)sqlite3_column_text(st, 0));
        else
            res = kiln_sprintf("ERR: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    kiln_sql_db_close(db);
    return res;
}

/* CHECK that sql evaluates to want (exact), freeing the result. */
#define CHECK_Q(sql, want)                                                                                             \
    do {                                                                                                               \
        char *kq = q1(sql);                                                                                            \
        int kok = kq && strcmp(kq, (want)) == 0;                                                                       \
        if (!kok)                                                                                                      \
            kt_fail(__FILE__, __LINE__, "%s\n      got:  %s\n      want: %s", sql, kq ? kq : "(null)", (want));        \
        kiln_free(kq);                                                                                                 \
        if (!kok)                                                                                                      \
            return;                                                                                                    \
    } while (0)

/* CHECK that sql fails with an error message containing each of the parts. */
#define CHECK_QERR(sql, part1, part2)                                                                                  \
    do {                                                                                                               \
        char *kq = q1(sql);                                                                                            \
        int kok = kq && strncmp(kq, "ERR: ", 5) == 0 && strstr(kq, (part1)) && strstr(kq, (part2));                    \
        if (!kok)                                                                                                      \
            kt_fail(__FILE__, __LINE__, "%s\n      got:  %s\n      want an error with '%s' and '%s'", sql,             \
                    kq ? kq : "(null)", (part1), (part2));                                                             \
        kiln_free(kq);                                                                                                 \
        if (!kok)                                                                                                      \
            return;                                                                                                    \
    } while (0)

TEST(sql_fn, date_trunc_units)
{
    CHECK_Q("SELECT date_trunc('second', '2024-03-07T10:11:12.345678Z')", "2024-03-07T10:11:12Z");
    CHECK_Q("SELECT date_trunc('minute', '2024-03-07T10:11:12Z')", "2024-03-07T10:11:00Z");
    CHECK_Q("SELECT date_trunc('hour', '2024-03-07 10:11:12')", "2024-03-07T10:00:00Z");
    CHECK_Q("SELECT date_trunc('day', '2024-03-07T23:59:59.999999Z')", "2024-03-07T00:00:00Z");
    CHECK_Q("SELECT date_trunc('week', '2024-03-07T10:11:12Z')", "2024-03-04T00:00:00Z"); /* Thu -> Mon */
    CHECK_Q("SELECT date_trunc('week', '2024-03-04')", "2024-03-04");                     /* a Monday */
    CHECK_Q("SELECT date_trunc('week', '2024-03-10')", "2024-03-04");                     /* Sunday */
    CHECK_Q("SELECT date_trunc('month', '2024-02-29')", "2024-02-01");
    CHECK_Q("SELECT date_trunc('quarter', '2024-06-30T12:00:00Z')", "2024-04-01T00:00:00Z");
    CHECK_Q("SELECT date_trunc('quarter', '2024-10-01')", "2024-10-01");
    CHECK_Q("SELECT date_trunc('year', '2024-12-31T23:59:59Z')", "2024-01-01T00:00:00Z");
    CHECK_Q("SELECT date_trunc('YEAR', '2024-12-31')", "2024-01-01"); /* units ignore case */
    /* a date truncated below a day is a timestamp */
    CHECK_Q("SELECT date_trunc('hour', '2024-12-31')", "2024-12-31T00:00:00Z");
    /* a time zone offset is converted to UTC first */
    CHECK_Q("SELECT date_trunc('day', '2024-01-01T01:30:00+02:00')", "2023-12-31T00:00:00Z");
}

TEST(sql_fn, date_trunc_week_crosses_year)
{
    CHECK_Q("SELECT date_trunc('week', '2021-01-03')", "2020-12-28");
    CHECK_Q("SELECT date_trunc('week', '2025-01-01')", "2024-12-30");
    CHECK_Q("SELECT date_trunc('week', '2027-01-01')", "2026-12-28");
}

TEST(sql_fn, date_trunc_integer_micros)
{
    /* 2024-03-07T10:11:12.5Z */
    CHECK_Q("SELECT date_trunc('hour', 1709806272500000)", "2024-03-07T10:00:00Z");
    /* before 1970: floors toward the past, not toward zero */
    CHECK_Q("SELECT date_trunc('day', -1)", "1969-12-31T00:00:00Z");
    CHECK_Q("SELECT date_trunc('second', -1)", "1969-12-31T23:59:59Z");
    CHECK_Q("SELECT ts_micros('1969-12-31T23:59:59.999999Z')", "-1");
    CHECK_Q("SELECT ts_micros('2024-03-07T10:11:12.5Z')", "1709806272500000");
    CHECK_Q("SELECT ts_micros('1970-01-02')", "86400000000");
}

TEST(sql_fn, iso_week_year_boundaries)
{
    CHECK_Q("SELECT iso_week('2020-12-31') || '/' || iso_year('2020-12-31')", "53/2020");
    CHECK_Q("SELECT iso_week('2021-01-03') || '/' || iso_year('2021-01-03')", "53/2020");
    CHECK_Q("SELECT iso_week('2021-01-04') || '/' || iso_year('2021-01-04')", "1/2021");
    CHECK_Q("SELECT iso_week('2024-12-30') || '/' || iso_year('2024-12-30')", "1/2025");
    CHECK_Q("SELECT iso_week('2026-12-31') || '/' || iso_year('2026-12-31')", "53/2026");
    CHECK_Q("SELECT iso_week('2027-01-03T23:59:59Z') || '/' || iso_year('2027-01-03T23:59:59Z')", "53/2026");
    CHECK_Q("SELECT iso_week('2019-12-30') || '/' || iso_year('2019-12-30')", "1/2020");
    CHECK_Q("SELECT typeof(iso_week('2024-01-01'))", "integer");
}

TEST(sql_fn, date_add_months_and_leap_years)
{
    CHECK_Q("SELECT date_add('2024-01-31', 1, 'month')", "2024-02-29");
    CHECK_Q("SELECT date_add('2023-01-31', 1, 'month')", "2023-02-28");
    CHECK_Q("SELECT date_add('2024-03-31', -1, 'month')", "2024-02-29");
    CHECK_Q("SELECT date_add('2024-02-29', 1, 'year')", "2025-02-28");
    CHECK_Q("SELECT date_add('2024-02-29', 4, 'year')", "2028-02-29");
    CHECK_Q("SELECT date_add('2024-02-29', -100, 'year')", "1924-02-29");
    CHECK_Q("SELECT date_add('2100-02-28', 1, 'day')", "2100-03-01"); /* 2100 is not leap */
    CHECK_Q("SELECT date_add('2000-02-28', 1, 'day')", "2000-02-29"); /* 2000 is */
    CHECK_Q("SELECT date_add('2024-11-30T08:00:00Z', 1, 'quarter')", "2025-02-28T08:00:00Z");
    CHECK_Q("SELECT date_add('2024-01-01T00:00:00Z', -1, 'second')", "2023-12-31T23:59:59Z");
    CHECK_Q("SELECT date_add('2024-01-01', 36, 'hour')", "2024-01-02T12:00:00Z");
    CHECK_Q("SELECT date_add('2024-01-01', -2, 'week')", "2023-12-18");
    CHECK_Q("SELECT date_add('2024-01-01', 90, 'minute')", "2024-01-01T01:30:00Z");
    CHECK_Q("SELECT date_add('2024-01-01T00:00:00.25Z', 1, 'day')", "2024-01-02T00:00:00.250000Z");
    CHECK_Q("SELECT date_add(0, 1, 'day')", "1970-01-02T00:00:00Z");
    CHECK_Q("SELECT date_add('2024-01-01', 2.0, 'day')", "2024-01-03"); /* integral REAL is fine */
    CHECK_QERR("SELECT date_add('2024-01-01', 1.5, 'day')", "date_add: n must be an integer", "1.5");
    CHECK_QERR("SELECT date_add('9999-12-31', 1, 'day')", "date_add", "outside years 0000-9999");
    CHECK_QERR("SELECT date_add('2024-01-01', 9223372036854775807, 'second')", "date_add", "outside");
    CHECK_QERR("SELECT date_add('2024-01-01', -9000000000000000000, 'year')", "date_add", "outside");
}

TEST(sql_fn, datediff_counts_boundaries)
{
    CHECK_Q("SELECT datediff('day', '2024-02-28', '2024-03-01')", "2");
    CHECK_Q("SELECT datediff('day', '2024-03-01', '2024-02-28')", "-2");
    CHECK_Q("SELECT datediff('day', '2024-01-01T23:59:59Z', '2024-01-02T00:00:00Z')", "1");
    CHECK_Q("SELECT datediff('month', '2024-01-31', '2024-02-01')", "1");
    CHECK_Q("SELECT datediff('month', '2024-01-01', '2023-11-30')", "-2");
    CHECK_Q("SELECT datediff('year', '2024-12-31', '2025-01-01')", "1");
    CHECK_Q("SELECT datediff('quarter', '2024-03-31', '2024-04-01')", "1");
    CHECK_Q("SELECT datediff('week', '2024-03-10', '2024-03-11')", "1"); /* Sunday -> Monday */
    CHECK_Q("SELECT datediff('week', '2024-03-04', '2024-03-10')", "0");
    CHECK_Q("SELECT datediff('hour', '2024-01-01T10:59:59Z', '2024-01-01T11:00:00Z')", "1");
    CHECK_Q("SELECT datediff('second', 0, 1500000)", "1");
    CHECK_Q("SELECT datediff('minute', -1, 0)", "1");
}

TEST(sql_fn, nulls_in_nulls_out)
{
    static const char *const sqls[] = {
        "SELECT date_trunc(NULL, '2024-01-01')",
        "SELECT date_trunc('day', NULL)",
        "SELECT iso_week(NULL)",
        "SELECT iso_year(NULL)",
        "SELECT date_add(NULL, 1, 'day')",
        "SELECT date_add('2024-01-01', NULL, 'day')",
        "SELECT date_add('2024-01-01', 1, NULL)",
        "SELECT datediff('day', NULL, '2024-01-01')",
        "SELECT ts_micros(NULL)",
        "SELECT md5(NULL)",
        "SELECT sha256(NULL)",
        "SELECT regexp_like(NULL, 'a')",
        "SELECT regexp_like('a', NULL)",
        "SELECT regexp_extract(NULL, 'a')",
        "SELECT regexp_extract('a', 'a', NULL)",
        "SELECT regexp_replace('a', 'a', NULL)",
        "SELECT split_part(NULL, ',', 1)",
        "SELECT split_part('a', NULL, 1)",
        "SELECT split_part('a', ',', NULL)",
        "SELECT left(NULL, 1)",
        "SELECT right('abc', NULL)",
        "SELECT NULL REGEXP 'a'",
    };
    for (size_t i = 0; i < sizeof sqls / sizeof *sqls; i++)
        CHECK_Q(sqls[i], "NULL");
}

TEST(sql_fn, bad_arguments_name_function_and_fix)
{
    CHECK_QERR("SELECT date_trunc('fortnight', '2024-01-01')", "date_trunc: unknown unit 'fortnight'",
               "second, minute, hour, day, week, month, quarter, year");
    CHECK_QERR("SELECT date_add('2024-01-01', 1, 'days')", "date_add: unknown unit 'days'", "valid units");
    CHECK_QERR("SELECT datediff('decade', '2024-01-01', '2024-01-02')", "datediff: unknown unit 'decade'", "year");
    CHECK_QERR("SELECT date_trunc('day', '2024-13-01')", "date_trunc: '2024-13-01' is not a timestamp", "YYYY-MM-DD");
    CHECK_QERR("SELECT date_trunc('day', '2023-02-29')", "is not a timestamp", "'2023-02-29'");
    CHECK_QERR("SELECT iso_week('yesterday')", "iso_week:", "not a timestamp");
    CHECK_QERR("SELECT iso_year(1.5)", "iso_year:", "not a timestamp");
    CHECK_QERR("SELECT datediff('day', x'00', '2024-01-01')", "datediff:", "not a timestamp");
}

TEST(sql_fn, hashes)
{
    CHECK_Q("SELECT md5('')", "d41d8cd98f00b204e9800998ecf8427e");
    CHECK_Q("SELECT md5('abc')", "900150983cd24fb0d6963f7d28e17f72");
    CHECK_Q("SELECT md5(x'00')", "93b885adfe0da089cdf634904fd59f71");
    CHECK_Q("SELECT md5(123) = md5('123')", "1");
    CHECK_Q("SELECT sha256('abc')", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_Q("SELECT sha256('')", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_Q("SELECT sha256('日本')", "cf2abf0c5be326cb922a70f8163f91079c4d9aa8655c60ead89ad545c9de2e92");
}

TEST(sql_fn, regexp)
{
    CHECK_Q("SELECT regexp_like('kiln-0.1', '^[a-z]+-\\d+\\.\\d+$')", "1");
    CHECK_Q("SELECT regexp_like('Kiln', 'kiln')", "0");
    CHECK_Q("SELECT regexp_like('Kiln', '(?i)kiln')", "1");
    CHECK_Q("SELECT 'abc' REGEXP 'b'", "1");
    CHECK_Q("SELECT regexp_like('日本語', '^.{3}$')", "1"); /* '.' is a character, not a byte */
    CHECK_Q("SELECT regexp_like(x'ff41', 'A')", "1");       /* invalid UTF-8 still matches */
    CHECK_Q("SELECT regexp_extract('refs/heads/main', 'refs/heads/(.*)', 1)", "main");
    CHECK_Q("SELECT regexp_extract('a1b22', '\\d+')", "1");
    CHECK_Q("SELECT regexp_extract('abc', '\\d+')", "NULL");     /* no match */
    CHECK_Q("SELECT regexp_extract('ac', 'a(b)?c', 1)", "NULL"); /* group not in the match */
    CHECK_Q("SELECT regexp_extract('ac', 'a(b)?c', 0)", "ac");
    CHECK_Q("SELECT regexp_replace('a1b22c333', '\\d+', '#')", "a#b#c#");
    CHECK_Q("SELECT regexp_replace('2024-03-07', '(\\d+)-(\\d+)-(\\d+)', '$3/$2/$1')", "07/03/2024");
    CHECK_Q("SELECT regexp_replace('x', 'y', 'z')", "x");
    CHECK_Q("SELECT regexp_replace('price', 'e$', '$$5')", "pric$5");
    /* output longer than the first buffer */
    CHECK_Q("SELECT length(regexp_replace(printf('%.*c', 2000, 'a'), 'a', 'bbb'))", "6000");
    CHECK_QERR("SELECT regexp_like('a', 'a(')", "regexp_like: invalid pattern 'a(' at offset 2",
               "missing closing parenthesis");
    CHECK_QERR("SELECT regexp_extract('a', '[z-a]')", "regexp_extract: invalid pattern '[z-a]' at offset 3",
               "out of order");
    CHECK_QERR("SELECT regexp_extract('abc', '(b)', 2)", "regexp_extract: group 2 does not exist", "1 capture group");
    CHECK_QERR("SELECT regexp_replace('abc', 'b', '$9')", "regexp_replace:", "$9");
    CHECK_QERR("SELECT 'a' REGEXP '*'", "regexp: invalid pattern '*' at offset 0", "quantifier");
    /* catastrophic backtracking hits PCRE2's match limit: an error, not a hang */
    CHECK_QERR("SELECT regexp_like(printf('%.*c', 40, 'a') || 'b', '^(a+)+$')", "regexp_like: matching failed",
               "limit");
}

TEST(sql_fn, regexp_pattern_compiled_once_per_statement)
{
    /* a constant pattern over many rows: every row must agree, whichever of
     * the cached (auxdata) or freshly compiled paths it took; and a pattern
     * that changes per row must not reuse another row's compiled form */
    CHECK_Q("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500) "
            "SELECT sum(regexp_like('x' || i, '^x\\d*5$')) FROM n",
            "50");
    CHECK_Q("WITH p(s, pat) AS (VALUES ('abc', 'a'), ('abc', 'z'), ('abc', 'c$'), ('abc', '^b')) "
            "SELECT group_concat(regexp_like(s, pat), '') FROM p",
            "1010");
    /* compiled once: PCRE2 allocates through kiln_malloc, so 2000 rows
     * must cost about the same number of allocations as 20 rows */
    uint64_t a0 = kiln_alloc_count();
    CHECK_Q("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) "
            "SELECT count(regexp_extract('x' || i, 'x(\\d)')) FROM n",
            "20");
    uint64_t a1 = kiln_alloc_count();
    CHECK_Q("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
            "SELECT count(regexp_extract('x' || i, 'x(\\d)')) FROM n",
            "2000");
    uint64_t a2 = kiln_alloc_count();
    CHECK_MSG(a2 - a1 < (a1 - a0) + 50, "2000 rows made %llu allocations, 20 rows %llu: pattern not cached",
              (unsigned long long)(a2 - a1), (unsigned long long)(a1 - a0));
}

TEST(sql_fn, split_part)
{
    CHECK_Q("SELECT split_part('a,b,c', ',', 1)", "a");
    CHECK_Q("SELECT split_part('a,b,c', ',', 3)", "c");
    CHECK_Q("SELECT split_part('a,b,c', ',', 4)", "");
    CHECK_Q("SELECT split_part('a,b,c', ',', -1)", "c");
    CHECK_Q("SELECT split_part('a,b,c', ',', -3)", "a");
    CHECK_Q("SELECT split_part('a,b,c', ',', -4)", "");
    CHECK_Q("SELECT split_part('a,,c', ',', 2)", "");
    CHECK_Q("SELECT split_part('owner/repo', '/', 2)", "repo");
    CHECK_Q("SELECT split_part('a::b::c', '::', 2)", "b");
    CHECK_Q("SELECT split_part('日本→語→テ', '→', 2)", "語");
    CHECK_Q("SELECT split_part('ä€ä€ä', '€', -2)", "ä");
    CHECK_Q("SELECT split_part('abc', '', 1)", "abc");
    CHECK_Q("SELECT split_part('abc', '', 2)", "");
    CHECK_Q("SELECT split_part('', ',', 1)", "");
    CHECK_QERR("SELECT split_part('a,b', ',', 0)", "split_part: field number must not be 0", "from 1");
    CHECK_QERR("SELECT split_part('a,b', ',', 'x')", "split_part: n must be an integer", "'x'");
}

TEST(sql_fn, left_right_count_characters)
{
    CHECK_Q("SELECT left('héllo', 2)", "hé");
    CHECK_Q("SELECT right('héllo', 4)", "éllo");
    CHECK_Q("SELECT left('日本語テキスト', 3)", "日本語");
    CHECK_Q("SELECT right('日本語テキスト', 4)", "テキスト");
    CHECK_Q("SELECT left('👍🏽ok', 2)", "👍🏽"); /* two code points */
    CHECK_Q("SELECT left('abc', 0)", "");
    CHECK_Q("SELECT left('abc', 10)", "abc");
    CHECK_Q("SELECT right('abc', 10)", "abc");
    CHECK_Q("SELECT left('abcde', -2)", "abc");  /* all but the last 2 */
    CHECK_Q("SELECT right('abcde', -2)", "cde"); /* all but the first 2 */
    CHECK_Q("SELECT left('äbc', -10)", "");
    CHECK_Q("SELECT right('äbc', -1)", "bc");
    CHECK_Q("SELECT left(12345, 2)", "12");
    /* parsing: LEFT/RIGHT as join keywords still work next to the calls */
    CHECK_Q("SELECT LEFT ( 'xyz' , 1 ) || Right('xyz',1)", "xz");
    CHECK_Q("SELECT count(*) FROM (SELECT 1 AS a) l LEFT JOIN (SELECT 2 AS a) r ON left(l.a, 1) = r.a", "1");
    CHECK_Q("SELECT 'left(' || \"left\"('ab', 1) -- left(\n", "left(a");
    CHECK_QERR("SELECT left('abc', 'x')", "left: n must be an integer", "'x'");
}

TEST(sql_fn, functions_are_deterministic)
{
    /* SQLite only allows deterministic functions in index expressions */
    sqlite3 *db = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_sql_db_open(&db, NULL, 0, &err), &err);
    const char *sql = "CREATE TABLE t(ts TEXT, s TEXT);"
                      "CREATE INDEX i1 ON t(date_trunc('day', ts));"
                      "CREATE INDEX i2 ON t(iso_week(ts), iso_year(ts));"
                      "CREATE INDEX i3 ON t(date_add(ts, 1, 'day'), datediff('day', ts, '2024-01-01'));"
                      "CREATE INDEX i4 ON t(md5(s), sha256(s), regexp_like(s, 'a'), regexp_extract(s, 'a'));"
                      "CREATE INDEX i5 ON t(regexp_replace(s, 'a', 'b'), split_part(s, ',', 1), \"left\"(s, 1));"
                      "CREATE INDEX i6 ON t(ts_micros(ts), \"right\"(s, 1));";
    char *emsg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &emsg);
    CHECK_MSG(rc == SQLITE_OK, "index on a kiln function refused: %s", emsg ? emsg : "?");
    sqlite3_free(emsg);
    kiln_sql_db_close(db);
}

TEST(sql_fn, prepare_maps_error_offsets_after_rewrite)
{
    sqlite3 *db = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_sql_db_open(&db, NULL, 0, &err), &err);
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    long off = -2;
    /* two rewritten calls before the bad column: the offset is in the caller's text */
    const char *sql = "SELECT left('a',1), right('b',1), nope; SELECT 2";
    CHECK(kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &off, &err) == KILN_EFORMAT);
    CHECK(strstr(err.msg, "no such column: nope") != NULL);
    CHECK_EQ_INT(off, (long)(strstr(sql, "nope") - sql));
    /* the tail is mapped back too */
    sql = "SELECT left('a',1); SELECT 2";
    CHECK_OK(kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &off, &err), &err);
    CHECK(st != NULL);
    CHECK_EQ_INT(used, strlen("SELECT left('a',1);"));
    sqlite3_finalize(st);
    kiln_sql_db_close(db);
}

TEST(sql_fn, open_file_db_and_errors)
{
    kiln_err err = {0};
    sqlite3 *db = NULL;
    char *path = kiln_sprintf("%s/x.db", kt_tmpdir());
    CHECK_EQ_INT(kiln_sql_db_open(&db, path, KILN_SQL_OPEN_NOCREATE, &err), KILN_ENOTFOUND);
    CHECK(db == NULL);
    CHECK_OK(kiln_sql_db_open(&db, path, 0, &err), &err);
    CHECK_EQ_INT(sqlite3_exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES (date_trunc('day', 0))", NULL, NULL, NULL),
                 SQLITE_OK);
    kiln_sql_db_close(db);
    CHECK_OK(kiln_sql_db_open(&db, path, KILN_SQL_OPEN_READONLY, &err), &err);
    CHECK_EQ_INT(sqlite3_exec(db, "INSERT INTO t VALUES (1)", NULL, NULL, NULL) & 0xff, SQLITE_READONLY);
    kiln_sql_db_close(db);
    char *junk = kiln_sprintf("%s/junk.db", kt_tmpdir());
    kt_write_file(junk, "this is not a database, not at all, no sir, it is plain text.....", 64);
    CHECK_EQ_INT(kiln_sql_db_open(&db, junk, 0, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "junk.db") != NULL);
    kiln_free(path);
    kiln_free(junk);
}
