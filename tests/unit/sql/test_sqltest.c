/*
 * test_sqltest.c - the .sqltest runner: every .sqltest file in tests/sql/ is run
 * through a fresh kiln connection (kiln_sql_db_open, so kiln's functions are
 * there) and each block's result is compared with its expectation. A
 * mismatch reports FILE:LINE of the block and a line diff. The format is
 * documented in docs/sql.md:
 *
 *   -- statement: NAME      SQL that must succeed; output ignored
 *   -- query: NAME          SQL, then "-- expect:" [sorted] and the rows,
 *                           header first, values joined by '|'
 *   -- error: NAME          SQL that must fail, then "-- expect:" and lines
 *                           that must each appear in the error message
 *
 * A file whose name starts with "iceberg" runs with a fresh, empty Iceberg
 * warehouse attached (kiln_sql_lake_attach) under the test's temp dir.
 */
#include "harness/harness.h"
#include "sql/sql.h"

#include <dirent.h>
#include <stdlib.h>

typedef enum { B_STATEMENT, B_QUERY, B_ERROR } block_kind;

typedef struct block {
    block_kind kind;
    char name[128];
    int line; /* line of the directive */
    kiln_buf sql;
    kiln_buf expect; /* expected lines, '\n'-terminated */
    int has_expect, sorted;
} block;

static const char *const kind_names[] = {"statement", "query", "error"};

/* Is line a directive? Sets *kind and *name; returns 1, or 2 for "-- expect:". */
static int directive(const char *line, block_kind *kind, const char **rest)
{
    if (strncmp(line, "-- ", 3) != 0)
        return 0;
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(kind_names[k]);
        if (strncmp(line + 3, kind_names[k], n) == 0 && line[3 + n] == ':') {
            *kind = (block_kind)k;
            *rest = line + 4 + n;
            return 1;
        }
    }
    if (strncmp(line + 3, "expect:", 7) == 0) {
        *rest = line + 10;
        return 2;
    }
    return 0;
}

static int cmp_lines(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Split text into lines (in place); sort lines [1..] when sorted. */
static size_t split_lines(char *text, char ***out, int sorted)
{
    size_t n = 0, cap = 16;
    char **v = malloc(cap * sizeof *v);
    for (char *p = text; p && *p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = p;
        p = nl ? nl + 1 : NULL;
    }
    if (sorted && n > 2)
        qsort(v + 1, n - 1, sizeof *v, cmp_lines);
    *out = v;
    return n;
}

/* Append a report for one failed block to rep. */
static void report_diff(kiln_buf *rep, const char *path, const block *b, char *want, char *got)
{
    char **wl, **gl;
    size_t nw = split_lines(want, &wl, b->sorted), ng = split_lines(got, &gl, b->sorted);
    kiln_buf_printf(rep, NULL, "%s:%d: %s '%s': result differs (- expected, + got)\n", path, b->line,
                    kind_names[b->kind], b->name);
    size_t n = nw > ng ? nw : ng;
    for (size_t i = 0; i < n; i++) {
        if (i < nw && i < ng && strcmp(wl[i], gl[i]) == 0) {
            kiln_buf_printf(rep, NULL, "      %s\n", wl[i]);
            continue;
        }
        if (i < nw)
            kiln_buf_printf(rep, NULL, "    - %s\n", wl[i]);
        if (i < ng)
            kiln_buf_printf(rep, NULL, "    + %s\n", gl[i]);
    }
    free(wl);
    free(gl);
}

/* Run one block; returns 0 if it passed, else appends to rep. */
static int run_block(sqlite3 *db, const char *path, block *b, kiln_buf *rep)
{
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    kiln_err err = {0};
    kiln_sql_errpos pos = {0};
    int rc = kiln_sql_exec(db, b->sql.data ? b->sql.data : "", b->sql.len, KILN_SQL_FMT_PIPE, 0, f, &pos, &err);
    fclose(f);
    int failed = 0;
    if (b->kind == B_ERROR) {
        if (rc == 0) {
            kiln_buf_printf(rep, NULL, "%s:%d: error '%s': the SQL succeeded, expected an error\n", path, b->line,
                            b->name);
            failed = 1;
        } else {
            char **wl;
            char *want = kiln_strdup(b->expect.data ? b->expect.data : "");
            size_t nw = split_lines(want, &wl, 0);
            for (size_t i = 0; i < nw; i++) {
                if (wl[i][0] && !strstr(err.msg, wl[i])) {
                    kiln_buf_printf(rep, NULL, "%s:%d: error '%s': message lacks \"%s\"\n    got: %s\n", path, b->line,
                                    b->name, wl[i], err.msg);
                    failed = 1;
                }
            }
            free(wl);
            kiln_free(want);
        }
    } else if (rc != 0) {
        kiln_buf_printf(rep, NULL, "%s:%d: %s '%s': %s\n", path, b->line, kind_names[b->kind], b->name, err.msg);
        failed = 1;
    } else if (b->kind == B_QUERY) {
        /* drop trailing blank lines of the expectation */
        while (b->expect.len >= 2 && b->expect.data[b->expect.len - 1] == '\n' &&
               b->expect.data[b->expect.len - 2] == '\n')
            b->expect.data[--b->expect.len] = '\0';
        char *want = kiln_strdup(b->expect.data ? b->expect.data : "");
        char *got = strdup(out ? out : "");
        char **wl, **gl;
        char *w2 = kiln_strdup(want), *g2 = strdup(got);
        size_t nw = split_lines(w2, &wl, b->sorted), ng = split_lines(g2, &gl, b->sorted);
        int same = nw == ng;
        for (size_t i = 0; same && i < nw; i++)
            same = strcmp(wl[i], gl[i]) == 0;
        free(wl);
        free(gl);
        kiln_free(w2);
        free(g2);
        if (!same) {
            report_diff(rep, path, b, want, got);
            failed = 1;
        }
        kiln_free(want);
        free(got);
    }
    free(out);
    return failed;
}

/* Run a .sqltest file (read from full, reported as path); returns the number of failed blocks (a malformed
 * file counts as one) with the reports appended to rep; *nblocks counts
 * the blocks run. */
static int run_sqltest(const char *full, const char *path, kiln_buf *rep, int *nblocks)
{
    size_t len = 0;
    char *text = NULL;
    kiln_err err = {0};
    int nfail = 0;
    *nblocks = 0;
    if (kiln_file_read(full, 16 << 20, &text, &len, &err) != 0) {
        kiln_buf_printf(rep, NULL, "%s: %s\n", path, err.msg);
        return 1;
    }
    sqlite3 *db = NULL;
    if (kiln_sql_db_open(&db, NULL, 0, &err) != 0) {
        kiln_buf_printf(rep, NULL, "%s: %s\n", path, err.msg);
        kiln_free(text);
        return 1;
    }
    /* files named iceberg*.sqltest get a fresh empty warehouse */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strncmp(base, "iceberg", 7) == 0) {
        char *wh = kiln_sprintf("%s/wh_%s", kt_tmpdir(), base);
        int arc = kiln_sql_lake_attach(db, wh, &err);
        kiln_free(wh);
        if (arc != 0) {
            kiln_buf_printf(rep, NULL, "%s: warehouse: %s\n", path, err.msg);
            kiln_sql_db_close(db);
            kiln_free(text);
            return 1;
        }
    }
    block b = {0};
    int open = 0, lineno = 0;
    char *p = text;
    for (;;) {
        char *line = p;
        char *nl = p ? strchr(p, '\n') : NULL;
        if (nl)
            *nl = '\0';
        if (line) {
            lineno++;
            p = nl ? nl + 1 : NULL;
            if (!nl && !*line)
                line = NULL; /* end of file after a final newline */
        }
        block_kind kind;
        const char *rest = NULL;
        int d = line ? directive(line, &kind, &rest) : 0;
        if (!line || d == 1) {
            if (open) {
                if (b.kind != B_STATEMENT && !b.has_expect) {
                    kiln_buf_printf(rep, NULL, "%s:%d: %s '%s' has no '-- expect:' line\n", path, b.line,
                                    kind_names[b.kind], b.name);
                    nfail++;
                } else {
                    nfail += run_block(db, path, &b, rep);
                }
                (*nblocks)++;
                kiln_buf_free(&b.sql);
                kiln_buf_free(&b.expect);
                open = 0;
            }
            if (!line)
                break;
            memset(&b, 0, sizeof b);
            kiln_buf_init(&b.sql, 0);
            kiln_buf_init(&b.expect, 0);
            b.kind = kind;
            b.line = lineno;
            while (*rest == ' ')
                rest++;
            snprintf(b.name, sizeof b.name, "%s", rest);
            open = 1;
        } else if (d == 2) {
            if (!open || b.kind == B_STATEMENT || b.has_expect) {
                kiln_buf_printf(rep, NULL, "%s:%d: '-- expect:' must follow the SQL of a query or error block\n", path,
                                lineno);
                nfail++;
                break;
            }
            b.has_expect = 1;
            while (*rest == ' ')
                rest++;
            if (strcmp(rest, "sorted") == 0) {
                b.sorted = 1;
            } else if (*rest) {
                kiln_buf_printf(rep, NULL, "%s:%d: unknown expect option '%s' (known: sorted)\n", path, lineno, rest);
                nfail++;
                break;
            }
        } else if (!open) {
            const char *q = line;
            while (*q == ' ' || *q == '\t')
                q++;
            if (*q && strncmp(q, "--", 2) != 0) {
                kiln_buf_printf(rep, NULL, "%s:%d: SQL outside a block (start one with '-- query: NAME')\n", path,
                                lineno);
                nfail++;
                break;
            }
        } else if (b.has_expect) {
            kiln_buf_printf(&b.expect, NULL, "%s\n", line);
        } else {
            kiln_buf_printf(&b.sql, NULL, "%s\n", line);
        }
    }
    if (open) {
        kiln_buf_free(&b.sql);
        kiln_buf_free(&b.expect);
    }
    kiln_sql_db_close(db);
    kiln_free(text);
    return nfail;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

TEST(sqltest, files)
{
    char *dir = kiln_sprintf("%s/tests/sql", kt_root());
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    int nfiles = 0, nfail = 0;
    kiln_buf rep;
    kiln_buf_init(&rep, 0);
    while ((e = readdir(d)) != NULL) {
        if (!ends_with(e->d_name, ".sqltest"))
            continue;
        char *path = kiln_sprintf("tests/sql/%s", e->d_name);
        char *full = kiln_sprintf("%s/%s", kt_root(), path);
        int nblocks = 0;
        nfail += run_sqltest(full, path, &rep, &nblocks); /* reports name the short path */
        nfiles++;
        kiln_free(path);
        kiln_free(full);
    }
    closedir(d);
    kiln_free(dir);
    CHECK_MSG(nfiles > 0, "no .sqltest files in tests/sql");
    CHECK_MSG(nfail == 0, "%d sqltest block(s) failed:\n%s", nfail, rep.data ? rep.data : "");
    kiln_buf_free(&rep);
}

/* The runner itself: a wrong expectation, an unexpected success and a
 * malformed file must each be reported with the block's file:line. */
TEST(sqltest, runner_reports_mismatch_with_line_and_diff)
{
    char *path = kiln_sprintf("%s/bad.sqltest", kt_tmpdir());
    const char *text = "-- a comment\n"
                       "-- statement: setup\n"
                       "CREATE TABLE t(a, b);\n"
                       "INSERT INTO t VALUES (1, 'x'), (2, 'y');\n"
                       "\n"
                       "-- query: right\n"
                       "SELECT a, b FROM t ORDER BY a;\n"
                       "-- expect:\n"
                       "a|b\n"
                       "1|x\n"
                       "2|y\n"
                       "\n"
                       "-- query: sorted\n"
                       "SELECT b FROM t ORDER BY a DESC;\n"
                       "-- expect: sorted\n"
                       "b\n"
                       "x\n"
                       "y\n"
                       "-- query: wrong\n"
                       "SELECT a, b FROM t ORDER BY a;\n"
                       "-- expect:\n"
                       "a|b\n"
                       "1|x\n"
                       "2|z\n"
                       "-- error: succeeds\n"
                       "SELECT 1;\n"
                       "-- expect:\n"
                       "whatever\n"
                       "-- error: right error\n"
                       "SELECT date_trunc('eon', '2024-01-01');\n"
                       "-- expect:\n"
                       "date_trunc: unknown unit 'eon'\n";
    kt_write_file(path, text, strlen(text));
    kiln_buf rep;
    kiln_buf_init(&rep, 0);
    int nblocks = 0;
    int nfail = run_sqltest(path, path, &rep, &nblocks);
    CHECK_EQ_INT(nblocks, 6);
    CHECK_MSG(nfail == 2, "nfail %d, report:\n%s", nfail, rep.data ? rep.data : "");
    char *want1 = kiln_sprintf("%s:19: query 'wrong': result differs (- expected, + got)\n"
                               "      a|b\n      1|x\n    - 2|z\n    + 2|y\n",
                               path);
    char *want2 = kiln_sprintf("%s:25: error 'succeeds': the SQL succeeded, expected an error\n", path);
    CHECK_MSG(strstr(rep.data, want1) && strstr(rep.data, want2), "report:\n%s", rep.data);
    kiln_free(want1);
    kiln_free(want2);
    kiln_buf_free(&rep);

    const char *junk = "SELECT 1;\n";
    kt_write_file(path, junk, strlen(junk));
    kiln_buf_init(&rep, 0);
    CHECK_EQ_INT(run_sqltest(path, path, &rep, &nblocks), 1);
    CHECK_MSG(strstr(rep.data, "bad.sqltest:1: SQL outside a block"), "report:\n%s", rep.data);
    kiln_buf_free(&rep);
    kiln_free(path);
}
