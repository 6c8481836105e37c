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

static const kiln_opt sql_opts[] = {
    {"--command", 'c', KILN_OPT_VALUE | KILN_OPT_REPEAT, "TEXT", "run TEXT (SQL and dot-commands); repeatable"},
    {"--file", 'f', KILN_OPT_VALUE | KILN_OPT_REPEAT, "FILE",
     "run the statements and dot-commands in FILE ('-' = stdin);\nrepeatable; -c and -f run in the order given"},
    {"--no-warehouse", 0, 0, NULL, "expose no Iceberg tables even if a warehouse is found"},
    {"--db", 0, KILN_OPT_VALUE, "FILE",
     "a SQLite database file (created if missing); default: an\nin-memory database that is gone when kiln exits"},
    {"--table", 0, 0, NULL, "aligned table with a row count (the default)"},
    {"--box", 0, 0, NULL, "the aligned table drawn with box lines"},
    {"--csv", 0, 0, NULL, "CSV with a header row, RFC 4180 quoting"},
    {"--json", 'j', 0, NULL, "a JSON array of objects per statement; numbers as numbers"},
    {"--explain", 0, 0, NULL,
     "print the query plan of each query instead of its rows; with\nIceberg tables the query then runs (rows "
     "discarded) and each\ntable scan's pushed predicate, columns and skipped files print\n(statements that "
     "return no rows still run; writes do not)"},
    {"--bail", 0, 0, NULL, "stop at the first failed statement (scripts, -c, -f)"},
    {"--no-pager", 0, 0, NULL,
     "on a terminal, never page long results (default: $PAGER, else\nless -FRX, for results longer than the "
     "screen)"},
    KILN_OPT_END};

static const kiln_cmdspec sql_spec = {
    .name = "sql",
    .args = "[QUERY]",
    .min_args = 0,
    .max_args = 1,
    .text = "Run SQL (SQLite's dialect plus kiln's functions: date_trunc, iso_week, iso_year,\n"
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
            "Iceberg tables of the warehouse (--warehouse DIR, default $KILN_WAREHOUSE,\n"
            "else ./warehouse when that directory exists, else none) read as ns.table\n"
            "(each namespace is a schema); \"ns\".\"table@REF\" or WHERE _ref = 'b' /\n"
            "_as_of = TIME|ID picks a branch, tag or snapshot. CREATE TABLE ns.t\n"
            "[PARTITIONED BY (...)] AS SELECT, INSERT INTO ns.t SELECT, INSERT OVERWRITE\n"
            "ns.t SELECT and MERGE INTO write them, one Iceberg commit each; CREATE TABLE\n"
            "ns.t (cols), DROP TABLE [PURGE] and ALTER TABLE change them in the catalog.\n"
            "A missing warehouse is created only by CREATE TABLE; -c/QUERY text without\n"
            "one fails with exit 4 (warehouse not found).",
    .opts = sql_opts,
    .footer = "exit codes: 0 ok, 1 a statement failed or unusable --db file, 2 usage,\n"
              "4 warehouse not found (or a DROP/ALTER of a missing Iceberg table), 70 internal\n"
              "docs: docs/cli/sql.md, docs/sql.md\n",
};

typedef struct sql_input {
    char kind; /* 'c' text, 'f' file */
    const char *value;
} sql_input;

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
            int e = errno;
            char msg[1024];
            snprintf(msg, sizeof msg, "-f %s: %s", in[i].value, strerror(e));
            kiln_cli_print_error(msg);
            return e == ENOENT ? KILN_EXIT_NOTFOUND : KILN_EXIT_FAIL;
        }
        kiln_sql_shell_feed(sh, f, std ? NULL : in[i].value);
        if (!std)
            fclose(f);
    }
    return 0;
}

static int run_sql(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &sql_spec, argc, argv))
        return a.exit;
    const char *dbpath = kiln_opt_get(&a, "--db"), *warehouse = kiln_cli_warehouse_option();
    int no_wh = kiln_opt_has(&a, "--no-warehouse"), bail = kiln_opt_has(&a, "--bail");
    int no_pager = kiln_opt_has(&a, "--no-pager"), explain = kiln_opt_has(&a, "--explain");
    int nfmt = 0, rc = 0, nin = 0;
    kiln_sql_format fmt = KILN_SQL_FMT_TABLE;
    sqlite3 *db = NULL;
    kiln_sql_shell *sh = NULL;
    kiln_err err = {0};
    char *history = NULL;
    sql_input *inputs = kiln_calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs)
        return KILN_EXIT_INTERNAL;
    const char *name, *value;
    for (int i = 0; kiln_opt_nth(&a, i, &name, &value); i++) {
        if (strcmp(name, "--command") == 0 || strcmp(name, "--file") == 0)
            inputs[nin++] = (sql_input){name[2] == 'c' ? 'c' : 'f', value};
        else if (strcmp(name, "--csv") == 0 || strcmp(name, "--json") == 0 || strcmp(name, "--table") == 0 ||
                 strcmp(name, "--box") == 0) {
            fmt = name[2] == 'c'   ? KILN_SQL_FMT_CSV
                  : name[2] == 'j' ? KILN_SQL_FMT_JSON
                  : name[2] == 't' ? KILN_SQL_FMT_TABLE
                                   : KILN_SQL_FMT_BOX;
            nfmt++;
        }
    }
    if (a.npos == 1)
        inputs[nin++] = (sql_input){'c', a.pos[0]};
    if (nfmt > 1) {
        rc = kiln_opt_usage(&a, "choose one of --table, --box, --csv, --json");
        goto done;
    }
    if (kiln_sql_db_open(&db, dbpath, 0, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (!warehouse && !no_wh) {
        const char *env = kiln_cli_warehouse();
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
                creates |=
                    inputs[i].kind == 'c' && kiln_sql_text_creates_table(inputs[i].value, strlen(inputs[i].value));
            }
            if (!creates && !files && !stdin_input) {
                char msg[1024];
                snprintf(msg, sizeof msg, "warehouse not found: %s (nothing created; a CREATE TABLE creates it)",
                         warehouse);
                kiln_cli_print_error(msg);
                rc = KILN_EXIT_NOTFOUND;
                goto done;
            }
            if (!creates)
                kiln_warn("warehouse not found: %s (a CREATE TABLE creates it)", warehouse);
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
    kiln_sql_shell_opts so = {.fmt = fmt,
                              .explain = explain,
                              .interactive = interactive,
                              .bail = bail,
                              .history_path = history,
                              .fit = tty_out,
                              .pager = tty_out && !no_pager};
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
    if (rc == 0 && !interactive) {
        /* a statement or dot-command that failed is failed work (1), not a
         * usage error of kiln sql itself, even when the shell says EINVAL */
        int first = kiln_sql_shell_first_error(sh);
        rc = first == KILN_EINVAL ? KILN_EXIT_FAIL : kiln_cli_exit_code(first);
    }
done:
    kiln_sql_shell_free(sh);
    kiln_free(inputs);
    kiln_free(history);
    kiln_sql_db_close(db);
    fflush(stdout);
    return rc;
}

KILN_COMMAND(cmd_sql, "sql", "run SQL (SQLite + kiln functions); a shell without a query", NULL, run_sql, 60, NULL, 0,
             &sql_spec)
