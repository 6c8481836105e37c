/* Unit tests for src/exec/exec_parse.c: which SELECT shapes the columnar
 * executor accepts, how names resolve (columns before select aliases in
 * GROUP BY, aliases first in ORDER BY), and that every shape whose SQLite
 * meaning it does not emulate is declined with a reason. */
#include "exec/exec_int.h"
#include "harness/harness.h"

#include <string.h>

static const kiln_column_def g_cols[] = {
    {"repo", KILN_T_INT64, 0, 1, 0, 0},  {"n", KILN_T_INT32, 0, 2, 0, 0},        {"score", KILN_T_DOUBLE, 0, 3, 0, 0},
    {"msg", KILN_T_STRING, 0, 4, 0, 0},  {"ts", KILN_T_TIMESTAMPTZ, 0, 5, 0, 0}, {"day", KILN_T_DATE, 0, 6, 0, 0},
    {"blob", KILN_T_BINARY, 0, 7, 0, 0}, {"amt", KILN_T_DECIMAL, 0, 8, 18, 2},
};
static const kiln_schema g_schema = {8, g_cols};

/* Parse sql over gh.t; returns 0 (accepted) or 1 with why. */
static int parse(const char *sql, xquery *q, char *why)
{
    memset(q, 0, sizeof *q);
    q->a = kiln_arena_new(4096);
    snprintf(q->ns, sizeof q->ns, "gh");
    snprintf(q->tb, sizeof q->tb, "t");
    q->schema = &g_schema;
    why[0] = 0;
    int r = kiln_exec__parse(q, sql, strlen(sql), why, 256);
    return r;
}

#define ACCEPT(sql)                                                                                                    \
    do {                                                                                                               \
        xquery q_;                                                                                                     \
        char w_[256];                                                                                                  \
        int r_ = parse(sql, &q_, w_);                                                                                  \
        kiln_arena_free(q_.a);                                                                                         \
        CHECK_MSG(r_ == 0, "declined %s: %s", sql, w_);                                                                \
    } while (0)

#define DECLINE(sql, reason)                                                                                           \
    do {                                                                                                               \
        xquery q_;                                                                                                     \
        char w_[256];                                                                                                  \
        int r_ = parse(sql, &q_, w_);                                                                                  \
        kiln_arena_free(q_.a);                                                                                         \
        CHECK_MSG(r_ == 1 && strstr(w_, reason), "%s: want a decline with '%s', got %d '%s'", sql, reason, r_, w_);    \
    } while (0)

TEST(exec_parse, accepts_the_model_shapes)
{
    ACCEPT("SELECT count(*) FROM gh.t");
    ACCEPT(
        "select repo, date_trunc('day', ts) as d, count(*) n from gh.t group by 1, 2 order by n desc, repo limit 10");
    ACCEPT("SELECT repo, count(DISTINCT msg), sum(n), avg(n), min(ts), max(score) FROM gh.t AS c WHERE ts >= "
           "'2024-01-01' AND (n IN (1, 2, NULL) OR msg IS NOT NULL) AND NOT score BETWEEN -1.5 AND 2 GROUP BY repo;");
    ACCEPT("SELECT iso_week(day) AS w, count(*) FROM gh.t WHERE day NOTNULL GROUP BY w ORDER BY w");
    ACCEPT("SELECT t.repo, count(*) FROM gh.t GROUP BY t.repo");
    ACCEPT("SELECT c.repo, count(c.msg) FROM gh.t c WHERE c.n > 1 GROUP BY c.repo ORDER BY c.repo");
    ACCEPT("SELECT \"repo\", count(*) FROM gh.\"t\" WHERE 5 < n GROUP BY \"repo\" LIMIT 3 OFFSET 1");
    ACCEPT("SELECT count(*) FROM gh.t WHERE msg = 'it''s' AND n != -3 AND score > 1e3");
    /* expressions: arithmetic, CASE, CAST, LIKE prefix, coalesce, substr, ||, HAVING */
    ACCEPT("SELECT repo, count(*) FROM gh.t GROUP BY repo HAVING count(*) > 1");
    ACCEPT("SELECT repo % 10 AS r, count(*) * 2, sum(n) / count(*) FROM gh.t WHERE repo + 1 = 2 GROUP BY r "
           "HAVING r > 3 AND sum(n) > 0 ORDER BY 2 DESC, r");
    ACCEPT("SELECT count(*) FROM gh.t WHERE msg LIKE 'refs/heads/%' OR msg NOT LIKE 'ab'");
    ACCEPT("SELECT substr(ts, 1, 10) AS day, sum(CASE WHEN msg LIKE 'a%' THEN 1 ELSE 0 END), "
           "count(DISTINCT CASE WHEN n > 1 THEN repo || ' ' || msg END), max(coalesce(msg, 'x')), "
           "min(CAST(score AS INTEGER)), count(CASE n WHEN 1 THEN 'one' WHEN 2 THEN 'two' END) FROM gh.t GROUP BY 1");
    ACCEPT("SELECT -repo, count(*) FROM gh.t GROUP BY -repo");
    ACCEPT("SELECT repo FROM gh.t GROUP BY repo ORDER BY count(*) DESC, sum(n) % 7, repo LIMIT 10");
}

TEST(exec_parse, resolves_names_as_sqlite)
{
    xquery q;
    char why[256];
    /* GROUP BY: a column named like an alias is the column */
    CHECK_EQ_INT(parse("SELECT date_trunc('day', ts) AS repo, count(*) FROM gh.t GROUP BY repo", &q, why), 1);
    kiln_arena_free(q.a);
    /* ... and an alias that is no column is the select item */
    CHECK_EQ_INT(parse("SELECT date_trunc('day', ts) AS d, count(*) FROM gh.t GROUP BY d", &q, why), 0);
    CHECK_EQ_INT(q.nkeys, 1);
    CHECK_EQ_INT(q.keys[0]->k, N_TRUNC);
    kiln_arena_free(q.a);
    /* ORDER BY: the alias first, even when a column has that name */
    CHECK_EQ_INT(parse("SELECT repo, count(*) AS n FROM gh.t GROUP BY repo ORDER BY n DESC", &q, why), 0);
    CHECK_EQ_INT(q.norder, 1);
    CHECK_EQ_INT(q.order[0].item, 1);
    CHECK_EQ_INT(q.order[0].desc, 1);
    kiln_arena_free(q.a);
    /* positions, and the same expression */
    CHECK_EQ_INT(parse("SELECT repo, count(*) FROM gh.t GROUP BY 1 ORDER BY count(*), 1", &q, why), 0);
    CHECK_EQ_INT(q.order[0].item, 1);
    CHECK_EQ_INT(q.order[1].item, 0);
    kiln_arena_free(q.a);
    /* literals: integer, too big for an integer (real), negative */
    CHECK_EQ_INT(
        parse("SELECT count(*) FROM gh.t WHERE repo = -9223372036854775808 OR score = 9223372036854775808", &q, why),
        0);
    CHECK_EQ_INT(q.where->a->b->lit.t, V_INT);
    CHECK(q.where->a->b->lit.i == INT64_MIN);
    CHECK_EQ_INT(q.where->b->b->lit.t, V_REAL);
    kiln_arena_free(q.a);
}

TEST(exec_parse, plain_scans_and_filter_terms)
{
    xquery q;
    char why[256];
    /* a plain scan: the row's place first, then each item as a key */
    CHECK_EQ_INT(parse("SELECT repo, n * 2 AS x, 'lit' FROM gh.t WHERE n > 1 ORDER BY msg LIMIT 5", &q, why), 0);
    CHECK_EQ_INT(q.plain, 1);
    CHECK_EQ_INT(q.keys[0]->k, N_ROWID);
    CHECK_EQ_INT(q.nkeys, 4); /* row, repo, n * 2, msg (hidden sort column); the literal is not a key */
    CHECK_EQ_INT(q.nitems, 4);
    CHECK_EQ_INT(q.nout, 3);
    kiln_arena_free(q.a);
    /* FROM a WITH term that filters the table: its WHERE ANDed first, its
     * extra column resolved by name */
    static const char body[] = "SELECT *, date_trunc('week', ts) AS wk FROM gh.t AS src WHERE src.n > 1";
    xterm terms[2] = {{"f", body, sizeof body - 1}, {"agg", "SELECT repo, count(*) FROM gh.t GROUP BY 1", 42}};
    memset(&q, 0, sizeof q);
    q.a = kiln_arena_new(4096);
    snprintf(q.ns, sizeof q.ns, "gh");
    snprintf(q.tb, sizeof q.tb, "t");
    q.schema = &g_schema;
    q.terms = terms;
    q.nterms = 2;
    q.term = 1;
    static const char outer[] = "SELECT wk, count(*) FROM f AS x WHERE x.repo = 3 GROUP BY wk";
    CHECK_EQ_INT(kiln_exec__parse(&q, outer, sizeof outer - 1, why, sizeof why), 0);
    CHECK_EQ_INT(q.where->k, N_AND);
    CHECK_EQ_INT(q.where->a->k, N_CMP); /* n > 1, the term's */
    CHECK_EQ_INT(q.keys[0]->k, N_TRUNC);
    kiln_arena_free(q.a);
    char ns[129], tb[129];
    int term = 0;
    CHECK_EQ_INT(kiln_exec__parse_from(outer, sizeof outer - 1, terms, 2, ns, tb, &term), 0);
    CHECK_EQ_INT(term, 1);
    CHECK(strcmp(tb, "t") == 0);
    /* a term that is more than a filter is not inlined */
    memset(&q, 0, sizeof q);
    q.a = kiln_arena_new(4096);
    snprintf(q.ns, sizeof q.ns, "gh");
    snprintf(q.tb, sizeof q.tb, "t");
    q.schema = &g_schema;
    q.terms = terms;
    q.nterms = 2;
    q.term = 2;
    static const char outer2[] = "SELECT count(*) FROM agg";
    CHECK_EQ_INT(kiln_exec__parse(&q, outer2, sizeof outer2 - 1, why, sizeof why), 1);
    CHECK_MSG(strstr(why, "is not SELECT *") != NULL, "why: %s", why);
    kiln_arena_free(q.a);
}

TEST(exec_parse, declines_with_a_reason)
{
    DECLINE("SELECT * FROM gh.t", "SELECT *");
    DECLINE("SELECT DISTINCT repo FROM gh.t", "DISTINCT");
    DECLINE("SELECT repo, count(*) FROM gh.t", "neither grouped");
    DECLINE("SELECT repo + 1, count(*) FROM gh.t GROUP BY repo % 10", "neither grouped");
    DECLINE("SELECT count(*) FROM gh.t WHERE msg LIKE 'a_b'", "prefix");
    DECLINE("SELECT count(*) FROM gh.t WHERE msg LIKE 'a%' ESCAPE 'x'", "ESCAPE");
    DECLINE("SELECT count(*) FROM gh.t WHERE repo LIKE '1%'", "LIKE of other than text");
    DECLINE("SELECT count(*) FROM gh.t WHERE msg + 1 = 2", "arithmetic on text");
    DECLINE("SELECT sum(CAST(msg AS INTEGER)) FROM gh.t", "CAST of text");
    DECLINE("SELECT sum(msg) FROM gh.t", "other than integers");
    DECLINE("SELECT substr(msg, -2), count(*) FROM gh.t GROUP BY 1", "non-negative");
    DECLINE("SELECT count(*) FROM gh.t WHERE CAST(n AS NUMERIC) = 1", "NUMERIC");
    DECLINE("SELECT count(*) FROM gh.t WHERE (CASE WHEN n > 1 THEN 1 ELSE 'a' END) = 1", "different types");
    DECLINE("SELECT repo, count(*) FROM gh.t GROUP BY repo HAVING n > 1", "neither grouped");
    DECLINE("SELECT count(*) FROM gh.t WHERE repo = '5'", "different types");
    DECLINE("SELECT count(*) FROM gh.t WHERE msg = 5", "different types");
    DECLINE("SELECT sum(score) FROM gh.t", "floating-point");
    DECLINE("SELECT avg(amt) FROM gh.t", "does not read"); /* decimal(18,2): exact text in SQLite */
    DECLINE("SELECT sum(DISTINCT n) FROM gh.t", "DISTINCT in sum");
    DECLINE("SELECT max(n, repo) FROM gh.t", "more than one argument");
    DECLINE("SELECT count(blob) FROM gh.t", "does not read");
    DECLINE("SELECT count(*) FROM gh.t JOIN gh.u ON 1", "a join");
    DECLINE("SELECT count(*) FROM gh.t, gh.u", "a join");
    DECLINE("SELECT count(*) FROM gh.t WHERE repo IN (SELECT 1)", "IN (subquery)");
    DECLINE("SELECT count(*) FROM gh.t WHERE repo", "WHERE that is not");
    DECLINE("SELECT date_trunc('fortnight', ts), count(*) FROM gh.t GROUP BY 1", "unit");
    DECLINE("SELECT date_trunc('day', msg), count(*) FROM gh.t GROUP BY 1", "not a date");
    DECLINE("SELECT replace(msg, 'a', 'b'), count(*) FROM gh.t GROUP BY 1", "function replace");
    DECLINE("SELECT repo, count(*) c FROM gh.t GROUP BY repo ORDER BY c COLLATE NOCASE", "COLLATE");
    ACCEPT("SELECT repo, max(msg) m FROM gh.t GROUP BY repo ORDER BY m DESC NULLS FIRST, repo NULLS LAST");
    DECLINE("SELECT repo, count(*) FROM gh.t GROUP BY repo ORDER BY max(n) + n", "neither grouped");
    DECLINE("SELECT count(*) FROM gh.t LIMIT 1, 2", "LIMIT a, b");
    ACCEPT("SELECT count(*) FROM gh.t WHERE 1 = 1"); /* dbt's full-build filter */
    DECLINE("SELECT count(*) FROM gh.t WHERE ts = 0x10", "hexadecimal");
    DECLINE("SELECT count(*) OVER () FROM gh.t", "no FROM clause"); /* OVER is not taken for an alias */
}
