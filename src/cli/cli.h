/*
 * cli.h - the kiln command-line tool's internal interface. Each command
 * group lives in its own src/cli/cmd_*.c and registers itself with
 * KILN_COMMAND; main.c dispatches. The CLI uses module headers only.
 *
 * Exit codes (pinned; documented in docs/cli/exit-codes.md):
 *   0 success, 1 the work failed (bad data, failed partition, failed test),
 *   2 usage error, 3 configuration error, 4 not found, 5 conflict,
 *   6 partial success (some partitions/nodes failed, the others succeeded),
 *   70 internal error.
 */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include "base/base.h"
#include "format/batch.h"
#include "opt.h"

/* KILN_EXIT_* (the exit-code contract) are in base.h. */

typedef struct kiln_command {
    const char *name;                  /* "gen", "job", ... */
    const char *summary;               /* one line for `kiln --help` */
    const char *usage;                 /* full text for `kiln NAME --help` */
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    int rank;                          /* order in `kiln --help` (lower first) */
    struct kiln_command *next;
    int own_help;             /* 1: `kiln NAME SUB --help` goes to run (subcommand help);
                          * a bare `kiln NAME --help` still prints usage */
    const kiln_cmdspec *spec; /* the option tables (opt.h): help, completion and
                               * the docs check come from them; run parses with
                               * kiln_opt_parse. NULL: an old-style command
                               * (usage text, own parsing; main strips the
                               * global options for it) */
} kiln_command;

void kiln_cli_register(kiln_command *c);

/* Trailing fields (own_help, spec) may be left out: they default to 0.
 * A command with option tables: KILN_COMMAND(var, "name", "summary", NULL,
 * run, rank, NULL, 0, &spec). */
#define KILN_COMMAND(var, ...)                                                                                         \
    _Pragma("GCC diagnostic push")                                                                                     \
        _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"") static kiln_command var = {__VA_ARGS__};    \
    _Pragma("GCC diagnostic pop") __attribute__((constructor)) static void var##_register(void)                        \
    {                                                                                                                  \
        kiln_cli_register(&var);                                                                                       \
    }

/* Map a kiln error code to an exit code and print the error as one log
 * line ("kiln: error COMMAND: MSG", JSON with --log-json). */
int kiln_cli_fail(const kiln_err *err);
/* The exit code for a kiln error code (KILN_EINVAL 2, ECONFIG 3, ENOTFOUND 4,
 * ECONFLICT 5, EINTERNAL 70, else 1). */
int kiln_cli_exit_code(int kiln_code);
/* Print msg as the CLI's error line (log format, component = the command
 * being run, as set by main and kiln_opt_parse). */
void kiln_cli_print_error(const char *msg);
void kiln_cli_set_component(const char *cmd, const char *sub);
/* Print usage error "NAME: MSG (see kiln NAME --help)" as an error line; returns 2. */
int kiln_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv has -h or --help before any "--". */
int kiln_cli_wants_help(int argc, char **argv);
/* Print the command's usage to stdout; returns 0. */
int kiln_cli_print_help(const kiln_command *c);
const kiln_command *kiln_cli_find(const char *name);
/* Write s (NULL: "") as a JSON string literal to f (kiln_json_write_str). */
void kiln_cli_json_str(FILE *f, const char *s);

/* Rows as text (rows.c), shared by `table scan` and `parquet cat`: the CSV
 * header line (always written for CSV) and one row as CSV or one NDJSON
 * object, appended to line. Columns [0, ncols) of b; cell is scratch.
 * decimal_number: decimals print as JSON numbers (else as strings). */
int kiln_cli_csv_header(kiln_buf *line, const kiln_schema *s, int ncols, kiln_err *err);
int kiln_cli_format_row(kiln_buf *line, kiln_buf *cell, const kiln_batch *b, size_t row, int ncols, int ndjson,
                        int decimal_number, kiln_err *err);

/* Is stderr a terminal (progress bars)? Honors KILN_PROGRESS=0/1. */
int kiln_cli_tty(void);

#endif
