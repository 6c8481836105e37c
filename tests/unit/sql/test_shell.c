/* Unit tests for src/sql/shell.c: the table, CSV, JSON and pipe outputs,
 * query plans, the caret under SQL errors, UTF-8 display width, and the
 * statement reader (splitting on ';' outside quotes, stop at first error). */
#include "harness/harness.h"
#include "sql/sql.h"

#include <stdlib.h>

/* Run sql on a fresh connection in fmt; return what was printed (caller
 * frees with free) and the exec result in *rc, error message in err. */
static char *run(const char *sql, kiln_sql_format fmt, int explain, int *rc, kiln_err *err, kiln_sql_errpos *pos)
{
    sqlite3 *db = NULL;
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    kiln_sql_errpos dummy;
    if (kiln_sql_db_open(&db, NULL, 0, err) != 0) {
        *rc = err->code;
    } else {
        *rc = kiln_sql_exec(db, sql, strlen(sql), fmt, explain, out, pos ? pos : &dummy, err);
    }
    fclose(out);
    kiln_sql_db_close(db);
    return text;
}

#define CHECK_OUT(sql, fmt, want)                                                                                      \
    do {                                                                                                               \
        int krc;                                                                                                       \
        kiln_err kerr = {0};                                                                                           \
        char *kout = run(sql, fmt, 0, &krc, &kerr, NULL);                                                              \
        int kok = krc == 0 && kout && strcmp(kout, want) == 0;                                                         \
        if (!kok)                                                                                                      \
            kt_fail(__FILE__, __LINE__, "%s\n--- got (rc %d %s):\n%s--- want:\n%s", sql, krc, kerr.msg,                \
                    kout ? kout : "", want);                                                                           \
        free(kout);                                                                                                    \
        if (!kok)                                                                                                      \
            return;                                                                                                    \
    } while (0)

TEST(sql_shell, table_aligns_by_display_width)
{
    CHECK_OUT("SELECT 1 AS n, 'abc' AS s UNION ALL SELECT 100, '日本' UNION ALL SELECT -5, NULL", KILN_SQL_FMT_TABLE,
              "  n | s\n"
              "----+-----\n"
              "  1 | abc\n"
              "100 | 日本\n"
              " -5 | NULL\n"
              "(3 rows)\n");
    CHECK_OUT("SELECT NULL AS n UNION ALL SELECT 10 UNION ALL SELECT 2.5", KILN_SQL_FMT_TABLE,
              "   n\n"
              "----\n"
              "NULL\n"
              "  10\n"
              " 2.5\n"
              "(3 rows)\n");
    CHECK_OUT("SELECT 'a\nb' AS multi, x'0aff' AS b, 1.5 AS r", KILN_SQL_FMT_TABLE,
              "multi | b       |   r\n"
              "------+---------+----\n"
              "a\\nb  | x'0aff' | 1.5\n"
              "(1 row)\n");
    CHECK_OUT("SELECT 1 AS a WHERE 0", KILN_SQL_FMT_TABLE, "a\n-\n(0 rows)\n");
    /* statements without columns print nothing; each query prints its table */
    CHECK_OUT("CREATE TABLE t(a); INSERT INTO t VALUES (1); SELECT a FROM t; SELECT 2 AS b", KILN_SQL_FMT_TABLE,
              "a\n-\n1\n(1 row)\nb\n-\n2\n(1 row)\n");
}

TEST(sql_shell, csv_quotes_per_rfc4180)
{
    CHECK_OUT("SELECT 'a,b' AS \"x,y\", 'say \"hi\"' AS q, 'l1\nl2' AS nl, NULL AS z, 3 AS n, x'01ab' AS b",
              KILN_SQL_FMT_CSV,
              "\"x,y\",q,nl,z,n,b\n"
              "\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\",,3,01ab\n");
    CHECK_OUT("SELECT 'plain' AS p, ' sp ' AS s, 'ü' AS u", KILN_SQL_FMT_CSV, "p,s,u\nplain, sp ,ü\n");
}

TEST(sql_shell, json_array_of_objects)
{
    CHECK_OUT("SELECT 1 AS i, 2.5 AS r, 'q\"\\\n\t' AS s, NULL AS z, x'00ff' AS b, char(1) AS c, 'ü' AS u",
              KILN_SQL_FMT_JSON,
              "[\n{\"i\":1,\"r\":2.5,\"s\":\"q\\\"\\\\\\n\\t\",\"z\":null,\"b\":\"00ff\",\"c\":\"\\u0001\","
              "\"u\":\"ü\"}\n]\n");
    CHECK_OUT("SELECT 1 AS a WHERE 0", KILN_SQL_FMT_JSON, "[]\n");
    /* repeated column names stay distinct keys; infinity has no JSON form */
    CHECK_OUT("SELECT 1 AS a, 2 AS a, 1e308 * 10 AS inf, -9223372036854775808 AS big", KILN_SQL_FMT_JSON,
              "[\n{\"a\":1,\"a_2\":2,\"inf\":null,\"big\":-9223372036854775808}\n]\n");
    /* invalid UTF-8 becomes U+FFFD so the output stays valid JSON */
    CHECK_OUT("SELECT CAST(x'61ff62' AS TEXT) AS s", KILN_SQL_FMT_JSON,
              "[\n{\"s\":\"a\xEF\xBF\xBD"
              "b\"}\n]\n");
}

TEST(sql_shell, pipe_format)
{
    CHECK_OUT("SELECT 1 AS a, 'x' AS b UNION ALL SELECT NULL, ''", KILN_SQL_FMT_PIPE, "a|b\n1|x\nNULL|\n");
}

TEST(sql_shell, explain_prints_plan_and_runs_other_statements)
{
    int rc;
    kiln_err err = {0};
    char *out = run("CREATE TABLE t(a, b); CREATE INDEX ia ON t(a); SELECT * FROM t WHERE a = 1 ORDER BY b",
                    KILN_SQL_FMT_TABLE, 1, &rc, &err, NULL);
    CHECK_MSG(rc == 0, "%s", err.msg);
    CHECK_MSG(out &&
                  strcmp(out, "QUERY PLAN\n|--SEARCH t USING INDEX ia (a=?)\n`--USE TEMP B-TREE FOR ORDER BY\n") == 0,
              "got:\n%s", out ? out : "");
    free(out);
}

static char *error_text(const char *sql, int *rc)
{
    kiln_err err = {0};
    kiln_sql_errpos pos = {0};
    char *out = run(sql, KILN_SQL_FMT_TABLE, 0, rc, &err, &pos);
    free(out);
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    kiln_sql_error_print(f, "kiln sql", err.msg, &pos);
    fclose(f);
    return text;
}

TEST(sql_shell, error_caret_points_at_position)
{
    int rc;
    char *e = error_text("SELECT x FROM (SELECT 1 AS y)", &rc);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    CHECK_MSG(strcmp(e, "kiln sql: error: no such column: x\n  SELECT x FROM (SELECT 1 AS y)\n         ^\n") == 0,
              "got:\n%s", e);
    free(e);
    /* second statement, second line, after a wide character and a rewritten left() */
    e = error_text("SELECT 1;\nSELECT left('日本', 1),\n       '日本' || nope", &rc);
    CHECK_MSG(strcmp(e, "kiln sql: error: no such column: nope\n"
                        "  SELECT left('日本', 1),\n"
                        "         '日本' || nope\n"
                        "                   ^\n") == 0,
              "got:\n%s", e);
    free(e);
    /* runtime error: no position, the statement is shown */
    e = error_text("SELECT date_trunc('fortnight', '2024-01-01')", &rc);
    CHECK_MSG(strstr(e, "kiln sql: error: date_trunc: unknown unit 'fortnight'") == e &&
                  strstr(e, "\n  SELECT date_trunc('fortnight', '2024-01-01')\n") != NULL && !strchr(e, '^'),
              "got:\n%s", e);
    free(e);
}

TEST(sql_shell, utf8_width)
{
    CHECK_EQ_INT(kiln_sql_utf8_width("abc", 3), 3);
    CHECK_EQ_INT(kiln_sql_utf8_width("日本", 6), 4);
    CHECK_EQ_INT(kiln_sql_utf8_width("e\xCC\x81", 3), 1);        /* e + combining acute */
    CHECK_EQ_INT(kiln_sql_utf8_width("\xF0\x9F\x91\x8D", 4), 2); /* thumbs up */
    CHECK_EQ_INT(kiln_sql_utf8_width("\xff\xfe", 2), 2);         /* invalid bytes count one each */
    CHECK_EQ_INT(kiln_sql_utf8_width("\xE6\x97", 2), 2);         /* truncated sequence */
}

static char *shell(const char *input, int interactive, int *rc, char **errout)
{
    sqlite3 *db = NULL;
    kiln_err err = {0};
    char *text = NULL, *etext = NULL;
    size_t n = 0, en = 0;
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    FILE *out = open_memstream(&text, &n), *ef = open_memstream(&etext, &en);
    *rc = kiln_sql_db_open(&db, NULL, 0, &err);
    if (*rc == 0)
        *rc = kiln_sql_shell_run(db, in, out, ef, KILN_SQL_FMT_PIPE, 0, interactive, NULL);
    fclose(in);
    fclose(out);
    fclose(ef);
    kiln_sql_db_close(db);
    *errout = etext;
    return text;
}

TEST(sql_shell, script_splits_statements_outside_quotes)
{
    int rc;
    char *eo;
    char *o = shell("CREATE TABLE t(a TEXT);\nINSERT INTO t VALUES ('x;y'), ('it''s;');\n"
                    "SELECT a -- a comment; still the same statement\n  FROM t;\n"
                    "SELECT 'no semicolon at end'",
                    0, &rc, &eo);
    CHECK_MSG(rc == 0, "rc %d: %s", rc, eo);
    CHECK_MSG(strcmp(o, "a\nx;y\nit's;\n'no semicolon at end'\nno semicolon at end\n") == 0, "got:\n%s", o);
    free(o);
    free(eo);
}

TEST(sql_shell, script_stops_at_first_error_with_line)
{
    int rc;
    char *eo;
    char *o = shell("SELECT 1 AS a;\n\nSELECT\n  nope;\nSELECT 2 AS b;\n", 0, &rc, &eo);
    CHECK_EQ_INT(rc, KILN_EFORMAT);
    CHECK_MSG(strcmp(o, "a\n1\n") == 0, "stdout:\n%s", o);
    CHECK_MSG(strcmp(eo, "kiln sql: error: line 4: no such column: nope\n  SELECT\n    nope;\n    ^\n") == 0,
              "stderr:\n%s", eo);
    free(o);
    free(eo);
}

TEST(sql_shell, interactive_keeps_going_and_dot_commands)
{
    int rc;
    char *eo;
    char *o = shell("CREATE TABLE t(a);\nSELECT nope;\n.tables\n.mode csv\nSELECT 1 AS a,\n 2 AS b;\n.bogus\n.quit\n"
                    "SELECT 'never';\n",
                    1, &rc, &eo);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(strstr(o, "kiln> ") && strstr(o, "  ...> ") && strstr(o, "kiln> t\n") && strstr(o, "a,b\n1,2\n") &&
                  !strstr(o, "never"),
              "stdout:\n%s", o);
    CHECK_MSG(strstr(eo, "no such column: nope") && strstr(eo, "unknown command .bogus"), "stderr:\n%s", eo);
    free(o);
    free(eo);
}

TEST(sql_shell, format_names)
{
    kiln_sql_format f;
    CHECK_OK(kiln_sql_format_parse("json", &f), NULL);
    CHECK_EQ_INT(f, KILN_SQL_FMT_JSON);
    CHECK_EQ_INT(kiln_sql_format_parse("xml", &f), KILN_EINVAL);
}

/* Fail every allocation kiln makes (PCRE2 and kiln's buffers go through
 * kiln_malloc) from the 0th on: each run must end in success or a clean
 * error — never a crash, a leak (ASan) or a wrong result reported as OK. */
TEST(sql_shell, allocation_failures_are_clean)
{
    const char *sql = "SELECT regexp_replace('a1b22', '\\d+', '<$0>') AS r, regexp_extract('x9', '\\d') AS e, "
                      "left('héllo', 2) AS l, 'ü' AS u UNION ALL SELECT 'x', 'y', 'z', NULL";
    sqlite3 *db = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_sql_db_open(&db, NULL, 0, &err), &err);
    int ok_runs = 0;
    for (long n = 0; n < 400; n++) {
        for (int f = 0; f < 3; f++) {
            char *text = NULL;
            size_t len = 0;
            FILE *out = open_memstream(&text, &len);
            kiln_sql_errpos pos = {0};
            kiln_alloc_fail_after(n);
            int rc = kiln_sql_exec(db, sql, strlen(sql), (kiln_sql_format)f, 0, out, &pos, &err);
            kiln_alloc_fail_after(-1);
            fclose(out);
            if (rc == 0) {
                ok_runs++;
                CHECK_MSG(strstr(text, "a<1>b<22>") && strstr(text, "hé"), "n=%ld fmt=%d: output %s", n, f, text);
            } else {
                CHECK_MSG(rc == KILN_ENOMEM || rc == KILN_EFORMAT, "n=%ld fmt=%d: rc %d %s", n, f, rc, err.msg);
            }
            free(text);
        }
    }
    CHECK(ok_runs > 0); /* enough headroom that later runs succeed */
    kiln_sql_db_close(db);
}

/* A non-interactive shell fed text; returns stdout, *errout stderr. */
static char *shell_fed(const char *input, int use_text, int bail, long *failures, int *first, char **errout)
{
    sqlite3 *db = NULL;
    kiln_err err = {0};
    kiln_sql_shell *sh = NULL;
    char *text = NULL, *etext = NULL;
    size_t n = 0, en = 0;
    FILE *out = open_memstream(&text, &n), *ef = open_memstream(&etext, &en);
    kiln_sql_shell_opts o = {.fmt = KILN_SQL_FMT_PIPE, .bail = bail};
    if (kiln_sql_db_open(&db, NULL, 0, &err) == 0 && kiln_sql_shell_new(&sh, db, out, ef, &o, &err) == 0) {
        if (use_text) {
            kiln_sql_shell_text(sh, input);
        } else {
            FILE *in = fmemopen((void *)input, strlen(input), "r");
            kiln_sql_shell_feed(sh, in, "script.sql");
            fclose(in);
        }
        *failures = kiln_sql_shell_failures(sh);
        *first = kiln_sql_shell_first_error(sh);
    }
    kiln_sql_shell_free(sh);
    kiln_sql_db_close(db);
    fclose(out);
    fclose(ef);
    *errout = etext;
    return text;
}

TEST(sql_shell, script_goes_on_after_errors_and_counts_them)
{
    long nf = 0;
    int first = 0;
    char *eo;
    char *o = shell_fed("SELECT 1 AS a;\nSELECT nope;\nSELECT 2 AS b; SELECT bad(); SELECT 3 AS c;\n", 0, 0, &nf,
                        &first, &eo);
    CHECK_MSG(strcmp(o, "a\n1\nb\n2\nc\n3\n") == 0, "stdout:\n%s", o);
    CHECK_EQ_INT(nf, 2);
    CHECK_EQ_INT(first, KILN_EFORMAT);
    CHECK_MSG(strstr(eo, "kiln sql: error: script.sql:2: no such column: nope") &&
                  strstr(eo, "kiln sql: error: script.sql:3: no such function: bad"),
              "stderr:\n%s", eo);
    free(o);
    free(eo);
    /* bail: nothing after the first failure runs */
    o = shell_fed("SELECT 1 AS a;\nSELECT nope;\nSELECT 2 AS b;\n", 0, 1, &nf, &first, &eo);
    CHECK_MSG(strcmp(o, "a\n1\n") == 0 && nf == 1, "bail stdout:\n%s", o);
    free(o);
    free(eo);
}

TEST(sql_shell, dot_commands_in_text_and_settings_carry_over)
{
    long nf = 0;
    int first = 0;
    char *eo;
    char *o =
        shell_fed(".mode csv\nSELECT 'a,b' AS x;\n.headers off\nSELECT 1;\n.mode box\n.headers on\nSELECT 2 AS y;\n"
                  ".bogus\n.mode nonsense\n",
                  1, 0, &nf, &first, &eo);
    CHECK_MSG(strcmp(o, "x\n\"a,b\"\n1\n┌───┐\n│ y │\n├───┤\n│ 2 │\n└───┘\n(1 row)\n") == 0, "stdout:\n%s", o);
    CHECK_EQ_INT(nf, 2);
    CHECK_MSG(strstr(eo, "unknown command .bogus") && strstr(eo, ".mode: use table, box, csv, json or pipe"),
              "stderr:\n%s", eo);
    free(o);
    free(eo);
    /* one line of -c text: errors without a line number; several lines: with */
    o = shell_fed("SELECT nope", 1, 0, &nf, &first, &eo);
    CHECK_MSG(strncmp(eo, "kiln sql: error: no such column: nope\n", 38) == 0, "stderr:\n%s", eo);
    free(o);
    free(eo);
    o = shell_fed("SELECT 1;\nSELECT nope;", 1, 0, &nf, &first, &eo);
    CHECK_MSG(strncmp(eo, "kiln sql: error: line 2: no such column: nope\n", 46) == 0, "stderr:\n%s", eo);
    free(o);
    free(eo);
}

TEST(sql_shell, describe_and_show_tables)
{
    CHECK_OUT("CREATE TABLE t(a INTEGER NOT NULL, b TEXT); CREATE VIEW v AS SELECT a FROM t; DESCRIBE t; SHOW TABLES",
              KILN_SQL_FMT_PIPE,
              "column_name|column_type|null\na|INTEGER|NO\nb|TEXT|YES\n"
              "name|type\nt|table\nv|view\n");
    CHECK_OUT("CREATE TABLE t(a); DESC TABLE main.t;", KILN_SQL_FMT_PIPE, "column_name|column_type|null\na||YES\n");
    int rc;
    kiln_err err = {0};
    char *o = run("DESCRIBE nope", KILN_SQL_FMT_PIPE, 0, &rc, &err, NULL);
    CHECK_MSG(rc == KILN_EFORMAT && strstr(err.msg, "DESCRIBE: no such table: nope"), "rc %d: %s", rc, err.msg);
    free(o);
}

/* Output of sql with print options (headers, width, timer). */
static char *run_po(const char *sql, const kiln_sql_print *po)
{
    sqlite3 *db = NULL;
    kiln_err err = {0};
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (kiln_sql_db_open(&db, NULL, 0, &err) == 0)
        kiln_sql_exec_ex(db, sql, strlen(sql), po, out, NULL, &err);
    fclose(out);
    kiln_sql_db_close(db);
    return text;
}

TEST(sql_shell, table_fits_terminal_width_with_ellipsis)
{
    const char *sql =
        "SELECT 'short' AS a, '日本語のとても長いテキストです' AS wide, 'x' || printf('%040d', 7) AS b, 42 AS n";
    for (int box = 0; box < 2; box++) {
        /* the unfitted width */
        kiln_sql_print po0 = {.fmt = box ? KILN_SQL_FMT_BOX : KILN_SQL_FMT_TABLE, .headers = 1};
        char *o0 = run_po(sql, &po0);
        size_t full = 0;
        for (char *line = o0; line && *line;) {
            char *nl = strchr(line, '\n');
            size_t len = nl ? (size_t)(nl - line) : strlen(line), w = kiln_sql_utf8_width(line, len);
            full = w > full ? w : full;
            line = nl ? nl + 1 : NULL;
        }
        free(o0);
        CHECK(full > 80 && full < 120);
        for (size_t width = 30; width <= 120; width += 5) {
            kiln_sql_print po = {.fmt = box ? KILN_SQL_FMT_BOX : KILN_SQL_FMT_TABLE, .headers = 1, .max_width = width};
            char *o = run_po(sql, &po);
            int cut = 0;
            for (char *line = o; line && *line;) {
                char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t)(nl - line) : strlen(line);
                size_t w = kiln_sql_utf8_width(line, len);
                CHECK_MSG(w <= width, "box=%d width %zu: line of %zu columns: %.*s", box, width, w, (int)len, line);
                cut |= memmem(line, len, "\xE2\x80\xA6", 3) != NULL;
                line = nl ? nl + 1 : NULL;
            }
            CHECK_MSG(cut == (width < full), "box=%d width %zu of %zu: ellipsis %d\n%s", box, width, full, cut, o);
            CHECK_MSG(strstr(o, "42") != NULL, "numbers are narrow and stay whole:\n%s", o);
            free(o);
        }
    }
    /* no limit: nothing is cut */
    kiln_sql_print po = {.fmt = KILN_SQL_FMT_TABLE, .headers = 1};
    char *o = run_po(sql, &po);
    CHECK(strstr(o, "日本語のとても長いテキストです") && !strstr(o, "\xE2\x80\xA6"));
    free(o);
}

TEST(sql_shell, headers_off_and_timer)
{
    kiln_sql_print po = {.fmt = KILN_SQL_FMT_TABLE, .headers = 0};
    char *o = run_po("SELECT 1 AS a UNION ALL SELECT 22", &po);
    CHECK_MSG(strcmp(o, " 1\n22\n(2 rows)\n") == 0, "got:\n%s", o);
    free(o);
    po = (kiln_sql_print){.fmt = KILN_SQL_FMT_PIPE, .headers = 1, .timer = 1};
    o = run_po("CREATE TABLE t(a); SELECT 5 AS five", &po);
    CHECK_MSG(strncmp(o, "Run Time: real ", 15) == 0 && strstr(o, "\nfive\n5\nRun Time: real ") &&
                  strstr(o, " user ") && strstr(o, " sys "),
              "got:\n%s", o);
    free(o);
}

/* The JSON string escaper kiln sql had before it used kiln_json_write_str
 * (base.h), kept here as the reference: the shared writer must give the
 * same bytes for any text, valid UTF-8 or not. */
static void old_json_string(kiln_buf *b, const unsigned char *s, size_t n)
{
    static const uint32_t minv[5] = {0, 0, 0x80, 0x800, 0x10000};
    kiln_buf_putc(b, '"', NULL);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            kiln_buf_putc(b, '\\', NULL);
            kiln_buf_putc(b, (char)c, NULL);
            i++;
        } else if (c < 0x20) {
            const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (esc)
                kiln_buf_append(b, esc, 2, NULL);
            else
                kiln_buf_printf(b, NULL, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            kiln_buf_putc(b, (char)c, NULL);
            i++;
        } else {
            size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            int ok = len && len <= n - i;
            uint32_t v = c & (0x7F >> len);
            for (size_t k = 1; ok && k < len; k++) {
                ok = (s[i + k] & 0xC0) == 0x80;
                v = (v << 6) | (s[i + k] & 0x3F);
            }
            ok = ok && v >= minv[len] && v <= 0x10FFFF && !(v >= 0xD800 && v <= 0xDFFF);
            if (ok) {
                kiln_buf_append(b, (const char *)s + i, len, NULL);
                i += len;
            } else {
                kiln_buf_append(b, "\xEF\xBF\xBD", 3, NULL);
                i++;
            }
        }
    }
    kiln_buf_putc(b, '"', NULL);
}

TEST(sql_shell, json_strings_byte_identical_to_the_old_escaper)
{
    sqlite3 *db = NULL;
    kiln_err err = {0};
    CHECK_OK(kiln_sql_db_open(&db, NULL, 0, &err), &err);
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    static const unsigned char pool[] = {0x00, 0x01, 0x0a, 0x1f, '"',  '\\', 'a',  0x7f, 0x80, 0xbf, 0xc0, 0xc2,
                                         0xdf, 0xe0, 0xed, 0xa0, 0x9f, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5, 0xff};
    for (int iter = 0; iter < 3000; iter++) {
        unsigned char s[12];
        size_t n = (size_t)(iter % 12) + 1;
        for (size_t k = 0; k < n; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            s[k] = pool[(seed >> 33) % sizeof pool];
        }
        kiln_buf hex, want;
        kiln_buf_init(&hex, 0);
        kiln_buf_init(&want, 0);
        for (size_t k = 0; k < n; k++)
            kiln_buf_printf(&hex, NULL, "%02x", s[k]);
        kiln_buf_append(&want, "[\n{\"s\":", 7, NULL);
        old_json_string(&want, s, n);
        kiln_buf_append(&want, "}\n]\n", 4, NULL);
        kiln_buf_putc(&want, 0, NULL);
        char *sql = kiln_sprintf("SELECT CAST(x'%.*s' AS TEXT) AS s", (int)hex.len, hex.data);
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        int rc = kiln_sql_exec(db, sql, strlen(sql), KILN_SQL_FMT_JSON, 0, out, NULL, &err);
        fclose(out);
        int same = rc == 0 && len == want.len - 1 && memcmp(text, want.data, len) == 0;
        CHECK_MSG(same, "bytes %.*s: got %s want %s", (int)hex.len, hex.data, text, want.data);
        free(text);
        kiln_free(sql);
        kiln_buf_free(&hex);
        kiln_buf_free(&want);
        if (!same)
            break;
    }
    kiln_sql_db_close(db);
}
