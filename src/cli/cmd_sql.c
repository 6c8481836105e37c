/*
 * cmd_sql.c - `kiln sql`: run SQL (SQLite dialect plus kiln's functions) and
 * print the results as an aligned table, CSV or JSON; with no query, an
 * interactive shell on a TTY or a statement script read from stdin.
 */
#include "cli.h"
#include "sql/sql.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: kiln sql [QUERY] [-c TEXT]... [-f FILE]... [--warehouse DIR | --no-warehouse] [--db FILE]\n"
    "                [--table | --box | --csv | --json] [--explain] [--bail] [--no-pager]\n"
    "\n"
    "Run SQL (SQLite's dialect plus kiln's functions: date_trunc, iso_week, iso_year,\n"
    "date_add, datediff, ts_micros, md5, sha256, regexp_like, regexp_extract,\n"
    "regexp_replace, split_part, left, right, iceberg_snapshot; see docs/sql.md).\n"
    "QUERY (the same as -c QUERY) may hold several statements separated by ';' and\n"
    "dot-commands on lines of their own (.tables, .schema [T], .mode M, .headers on|off,\n"
    ".timer on|off, .read FILE). -c and -f run in the order given. Without them,\n"
    "kiln sql opens an interactive shell when stdin is a terminal (history in\n"
    "~/.kiln_history, or $KILN_HISTORY) and otherwise reads statements from stdin.\n"
    "A failed statement is reported and the next one runs (--bail stops instead);\n"
    "the exit code is 1 when any failed. Also: DESCRIBE t, SHOW TABLES,\n"
    "CREATE OR REPLACE TABLE t AS ...\n"
    "\n"
    "Iceberg tables of the warehouse read as ns.table (each namespace is a\n"
    "schema); \"ns\".\"table@REF\" or WHERE _ref = 'b' / _as_of = TIME|ID picks a\n"
    "branch, tag or snapshot. CREATE TABLE ns.t [PARTITIONED BY (...)] AS SELECT,\n"
    "INSERT INTO ns.t SELECT, INSERT OVERWRITE ns.t SELECT and MERGE INTO write\n"
    "them, one Iceberg commit each; CREATE TABLE ns.t (cols), DROP TABLE [PURGE]\n"
    "and ALTER TABLE change them in the catalog.\n"
    "\n"
    "options:\n"
    "  -c TEXT       run TEXT (SQL and dot-commands); repeatable\n"
    "  -f FILE       run the statements and dot-commands in FILE ('-' = stdin); repeatable\n"
    "  --warehouse DIR  Iceberg warehouse (SQLite catalog) whose tables to expose;\n"
    "                default $KILN_WAREHOUSE, else ./warehouse when that directory\n"
    "                exists, else none. A missing one is created only by CREATE TABLE;\n"
    "                -c/QUERY text without one fails with exit 4 (warehouse not found)\n"
    "  --no-warehouse  expose no Iceberg tables even if one is found\n"
    "  --db FILE     a SQLite database file (created if missing); default: an\n"
    "                in-memory database that is gone when kiln exits\n"
    "  --table       aligned table with a row count (the default)\n"
    "  --box         the aligned table drawn with box lines\n"
    "  --csv         CSV with a header row, RFC 4180 quoting\n"
    "  --json        a JSON array of objects per statement; numbers as numbers\n"
    "  --explain     print the query plan of each query instead of its rows; with\n"
    "                Iceberg tables the query then runs (rows discarded) and each\n"
    "                table scan's pushed predicate, columns and skipped files print\n"
    "                (statements that return no rows still run; writes do not)\n"
    "  --bail        stop at the first failed statement (scripts, -c, -f)\n"
    "  --no-pager    on a terminal, never page long results (default: $PAGER, else\n"
    "                less -FRX, for results longer than the screen)\n"
    "  -h, --help    this help\n"
    "\n"
    "exit codes: 0 ok, 1 a statement failed or unusable --db file, 2 usage,\n"
    "4 warehouse not found (or a DROP/ALTER of a missing Iceberg table), 70 internal\n"
    "docs: docs/cli/sql.md, docs/sql.md\n";

typedef struct sql_input {
    char kind; /* 'c' text, 'f' file */
    const char *value;
} sql_input;

static int exit_code(int code)
{
    return code == 0 ? KILN_EXIT_OK
           : code == KILN_ENOTFOUND ? KILN_EXIT_NOTFOUND
           : code == KILN_ENOMEM || code == KILN_EINTERNAL ? KILN_EXIT_INTERNAL
                                                           : KILN_EXIT_FAIL;
}

/* Run the -c/-f inputs in order. */
static int run_inputs(kiln_sql_shell *sh, const sql_input *in, int n)
{
    for (int i = 0; i < n && !kiln_sql_shell_quitted(sh); i++) {
        if (in[i].kind == 'c') {
            kiln_sql_shell_text(sh, in[i].value);
            continue;
        }
        int std = strcmp(in[i].value, "-") == 0;
        FILE *f = std ? stdin : fopen(in[i].value, "r");
        if (!f) {
            fprintf(stderr, "kiln sql: error: -f %s: %s\n", in[i].value, strerror(errno));
            return errno == ENOENT ? KILN_EXIT_NOTFOUND : KILN_EXIT_FAIL;
        }
        kiln_sql_shell_feed(sh, f, std ? NULL : in[i].value);
        if (!std)
            fclose(f);
    }
    return 0;
}

static int run_sql(int argc, char **argv)
{
    const char *dbpath = NULL, *warehouse = NULL;
    int no_wh = 0, bail = 0, no_pager = 0;
    kiln_sql_format fmt = KILN_SQL_FMT_TABLE;
    int explain = 0, nfmt = 0, rc = 0, nin = 0, positional = 0;
    sqlite3 *db = NULL;
    kiln_sql_shell *sh = NULL;
    kiln_err err = {0};
    char *history = NULL;
    sql_input *inputs = kiln_calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs)
        return KILN_EXIT_INTERNAL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--warehouse") == 0) {
            if (i + 1 >= argc) {
                rc = kiln_cli_usage_error("sql", "--warehouse needs a DIR");
                goto done;
            }
            warehouse = argv[++i];
        } else if (strncmp(a, "--warehouse=", 12) == 0) {
            warehouse = a + 12;
        } else if (strcmp(a, "--no-warehouse") == 0) {
            no_wh = 1;
        } else if (strcmp(a, "--db") == 0) {
            if (i + 1 >= argc) {
                rc = kiln_cli_usage_error("sql", "--db needs a FILE");
                goto done;
            }
            dbpath = argv[++i];
        } else if (strncmp(a, "--db=", 5) == 0) {
            dbpath = a + 5;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "-f") == 0) {
            if (i + 1 >= argc) {
                rc = kiln_cli_usage_error("sql", "%s needs %s", a, a[1] == 'c' ? "a TEXT" : "a FILE");
                goto done;
            }
            inputs[nin++] = (sql_input){a[1], argv[++i]};
        } else if (strcmp(a, "--csv") == 0) {
            fmt = KILN_SQL_FMT_CSV;
            nfmt++;
        } else if (strcmp(a, "--json") == 0) {
            fmt = KILN_SQL_FMT_JSON;
            nfmt++;
        } else if (strcmp(a, "--table") == 0) {
            fmt = KILN_SQL_FMT_TABLE;
            nfmt++;
        } else if (strcmp(a, "--box") == 0) {
            fmt = KILN_SQL_FMT_BOX;
            nfmt++;
        } else if (strcmp(a, "--explain") == 0) {
            explain = 1;
        } else if (strcmp(a, "--bail") == 0) {
            bail = 1;
        } else if (strcmp(a, "--no-pager") == 0) {
            no_pager = 1;
        } else if (strcmp(a, "--") == 0 && i + 1 < argc && !positional && i + 2 == argc) {
            inputs[nin++] = (sql_input){'c', argv[++i]};
            positional = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            rc = kiln_cli_usage_error("sql", "unknown option '%s'", a);
            goto done;
        } else if (positional) {
            rc = kiln_cli_usage_error("sql", "one QUERY argument expected (quote it, or use -c TEXT for each)");
            goto done;
        } else {
            inputs[nin++] = (sql_input){'c', a};
            positional = 1;
        }
    }
    if (nfmt > 1) {
        rc = kiln_cli_usage_error("sql", "choose one of --table, --box, --csv, --json");
        goto done;
    }
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
    int stdin_input = nin == 0;
    for (int i = 0; i < nin; i++)
        stdin_input |= inputs[i].kind == 'f' && strcmp(inputs[i].value, "-") == 0;
    if (warehouse && !no_wh) {
        /* a missing warehouse is not created by reading it: only a CREATE
         * TABLE creates it (kiln_sql_lake_attach_ex with DEFER) */
        if (kiln_sql_lake_attach_ex(db, warehouse, KILN_SQL_LAKE_DEFER, &err) != 0) {
            rc = kiln_cli_fail(&err);
            goto done;
        }
        if (kiln_sql_lake_missing(db)) {
            int creates = 0, files = 0;
            for (int i = 0; i < nin; i++) {
                files |= inputs[i].kind == 'f';
                creates |= inputs[i].kind == 'c' && kiln_sql_text_creates_table(inputs[i].value, strlen(inputs[i].value));
            }
            if (!creates && !files && !stdin_input) {
                fprintf(stderr, "kiln sql: error: warehouse not found: %s (nothing created; a CREATE TABLE creates it)\n",
                        warehouse);
                rc = KILN_EXIT_NOTFOUND;
                goto done;
            }
            if (!creates)
                fprintf(stderr, "kiln sql: warning: warehouse not found: %s (a CREATE TABLE creates it)\n", warehouse);
        }
    }
    int interactive = nin == 0 && isatty(0);
    if (interactive) {
        const char *h = getenv("KILN_HISTORY"), *home = getenv("HOME");
        if (h && *h)
            history = kiln_strdup(h);
        else if (home && *home)
            history = kiln_sprintf("%s/.kiln_history", home);
    }
    int tty_out = isatty(1);
    kiln_sql_shell_opts so = {.fmt = fmt, .explain = explain, .interactive = interactive, .bail = bail,
                              .history_path = history, .fit = tty_out, .pager = tty_out && !no_pager};
    if (kiln_sql_shell_new(&sh, db, stdout, stderr, &so, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (nin)
        rc = run_inputs(sh, inputs, nin);
    else if (interactive)
        kiln_sql_shell_interact(sh, stdin);
    else
        kiln_sql_shell_feed(sh, stdin, NULL);
    /* the interactive shell reports errors as they happen and exits 0 */
    if (rc == 0 && !interactive)
        rc = exit_code(kiln_sql_shell_first_error(sh));
done:
    kiln_sql_shell_free(sh);
    kiln_free(inputs);
    kiln_free(history);
    kiln_sql_db_close(db);
    fflush(stdout);
    return rc;
}

KILN_COMMAND(cmd_sql, "sql", "run SQL (SQLite + kiln functions); a shell without a query", usage, run_sql, 60, NULL)
