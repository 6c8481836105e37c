/*
 * cmd_sql.c - `kiln sql`: run SQL (SQLite dialect plus kiln's functions) and
 * print the results as an aligned table, CSV or JSON; with no query, an
 * interactive shell on a TTY or a statement script read from stdin.
 */
#include "cli.h"
#include "sql/sql.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: kiln sql [QUERY] [--warehouse DIR | --no-warehouse] [--db FILE]\n"
    "                [--csv | --json | --table] [--explain]\n"
    "\n"
    "Run SQL (SQLite's dialect plus kiln's functions: date_trunc, iso_week, iso_year,\n"
    "date_add, datediff, ts_micros, md5, sha256, regexp_like, regexp_extract,\n"
    "regexp_replace, split_part, left, right, iceberg_snapshot; see docs/sql.md).\n"
    "QUERY may hold several statements separated by ';'. Without QUERY, kiln sql\n"
    "opens an interactive shell when stdin is a terminal (history in\n"
    "~/.kiln_history, or $KILN_HISTORY) and otherwise reads statements from stdin,\n"
    "stopping at the first error.\n"
    "\n"
    "Iceberg tables of the warehouse read as ns.table (each namespace is a\n"
    "schema); \"ns\".\"table@REF\" or WHERE _ref = 'b' / _as_of = TIME|ID picks a\n"
    "branch, tag or snapshot. CREATE TABLE ns.t [PARTITIONED BY (...)] AS SELECT,\n"
    "INSERT INTO ns.t SELECT, INSERT OVERWRITE ns.t SELECT and MERGE INTO write\n"
    "them, one Iceberg commit each.\n"
    "\n"
    "options:\n"
    "  --warehouse DIR  Iceberg warehouse (SQLite catalog) whose tables to expose,\n"
    "                created if missing; default $KILN_WAREHOUSE, else ./warehouse\n"
    "                when that directory exists, else none\n"
    "  --no-warehouse  expose no Iceberg tables even if one is found\n"
    "  --db FILE     a SQLite database file (created if missing); default: an\n"
    "                in-memory database that is gone when kiln exits\n"
    "  --table       aligned table with a row count (the default)\n"
    "  --csv         CSV with a header row, RFC 4180 quoting\n"
    "  --json        a JSON array of objects per statement; numbers as numbers\n"
    "  --explain     print the query plan of each query instead of its rows; with\n"
    "                Iceberg tables the query then runs (rows discarded) and each\n"
    "                table scan's pushed predicate, columns and skipped files print\n"
    "                (statements that return no rows still run; writes do not)\n"
    "  -h, --help    this help\n"
    "\n"
    "exit codes: 0 ok, 1 SQL error or unusable --db file, 2 usage\n"
    "docs: docs/cli/sql.md, docs/sql.md\n";

static int run_sql(int argc, char **argv)
{
    const char *query = NULL, *dbpath = NULL, *warehouse = NULL;
    int no_wh = 0;
    kiln_sql_format fmt = KILN_SQL_FMT_TABLE;
    int explain = 0, nfmt = 0, rc = 0;
    sqlite3 *db = NULL;
    kiln_err err = {0};
    char *history = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--warehouse") == 0) {
            if (i + 1 >= argc)
                return kiln_cli_usage_error("sql", "--warehouse needs a DIR");
            warehouse = argv[++i];
        } else if (strncmp(a, "--warehouse=", 12) == 0) {
            warehouse = a + 12;
        } else if (strcmp(a, "--no-warehouse") == 0) {
            no_wh = 1;
        } else if (strcmp(a, "--db") == 0) {
            if (i + 1 >= argc)
                return kiln_cli_usage_error("sql", "--db needs a FILE");
            dbpath = argv[++i];
        } else if (strncmp(a, "--db=", 5) == 0) {
            dbpath = a + 5;
        } else if (strcmp(a, "--csv") == 0) {
            fmt = KILN_SQL_FMT_CSV;
            nfmt++;
        } else if (strcmp(a, "--json") == 0) {
            fmt = KILN_SQL_FMT_JSON;
            nfmt++;
        } else if (strcmp(a, "--table") == 0) {
            fmt = KILN_SQL_FMT_TABLE;
            nfmt++;
        } else if (strcmp(a, "--explain") == 0) {
            explain = 1;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !query && i + 2 == argc) {
            query = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return kiln_cli_usage_error("sql", "unknown option '%s'", a);
        } else if (query) {
            return kiln_cli_usage_error("sql", "one QUERY argument expected (quote it; separate statements with ';')");
        } else {
            query = a;
        }
    }
    if (nfmt > 1)
        return kiln_cli_usage_error("sql", "choose one of --table, --csv, --json");
    if (kiln_sql_db_open(&db, dbpath, 0, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (!warehouse && !no_wh) {
        const char *env = getenv("KILN_WAREHOUSE");
        struct stat st;
        if (env && *env)
            warehouse = env;
        else if (stat("warehouse", &st) == 0 && S_ISDIR(st.st_mode))
            warehouse = "warehouse";
    }
    if (warehouse && !no_wh) {
        /* an explicit warehouse is created when missing (as kiln table does) */
        if (kiln_sql_lake_attach(db, warehouse, &err) != 0) {
            rc = kiln_cli_fail(&err);
            goto done;
        }
    }
    if (query) {
        kiln_sql_errpos pos = {0};
        pos.offset = -1;
        if (kiln_sql_exec(db, query, strlen(query), fmt, explain, stdout, &pos, &err) != 0) {
            kiln_sql_error_print(stderr, "kiln sql", err.msg, &pos);
            rc = err.code == KILN_ENOMEM ? KILN_EXIT_INTERNAL : KILN_EXIT_FAIL;
        }
        goto done;
    }
    int interactive = isatty(0);
    if (interactive) {
        const char *h = getenv("KILN_HISTORY"), *home = getenv("HOME");
        if (h && *h)
            history = kiln_strdup(h);
        else if (home && *home)
            history = kiln_sprintf("%s/.kiln_history", home);
    }
    if (kiln_sql_shell_run(db, stdin, stdout, stderr, fmt, explain, interactive, history) != 0)
        rc = KILN_EXIT_FAIL;
done:
    kiln_free(history);
    kiln_sql_db_close(db);
    fflush(stdout);
    return rc;
}

KILN_COMMAND(cmd_sql, "sql", "run SQL (SQLite + kiln functions); a shell without a query", usage, run_sql, 60, NULL)
