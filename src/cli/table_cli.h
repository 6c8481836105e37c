/*
 * table_cli.h - shared by `kiln table` subcommands (cmd_table.c, owned by
 * lake-meta) and the data-half subcommands (scan, files, remove-orphans),
 * which live in their own src/cli file. See the comment at the top of
 * cmd_table.c for how to add one.
 */
#ifndef KILN_TABLE_CLI_H
#define KILN_TABLE_CLI_H

#include "cli.h"
#include "lake/lake.h"

/* What every subcommand gets: the catalog opened from --warehouse /
 * --catalog (before the subcommand name), and the subcommand's own argv
 * (argv[0] = subcommand name, e.g. "scan"). */
typedef struct kiln_table_cli {
    kiln_lake_catalog *cat;
    const char *warehouse;
    kiln_lake_catalog_kind kind;
} kiln_table_cli;

typedef int (*kiln_table_sub_fn)(kiln_table_cli *cli, int argc, char **argv);

/* Data-half subcommands: weak, so `kiln table` builds before they exist;
 * define them (non-weak) in src/cli/cmd_table_data.c. Return an exit code. */
int kiln_table_cmd_scan(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_files(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_remove_orphans(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_append(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_overwrite(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_merge(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_delete(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));
int kiln_table_cmd_rewrite_manifests(kiln_table_cli *cli, int argc, char **argv) __attribute__((weak));

/* Helpers for subcommands. */
/* Print a usage error for `kiln table SUB` and return 2. */
int kiln_table_usage(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Load a table or print the error; returns 0 or an exit code. */
int kiln_table_open(kiln_table_cli *cli, const char *name, kiln_lake_table **out);
/* Write s as a JSON string literal (quotes, escapes) to f. */
void kiln_table_json_str(FILE *f, const char *s);
/* Parse a time for --as-of / --older-than: ISO timestamp, date, "ms:N", or
 * an age "7d", "12h", "30m", "45s" (now minus it). Returns 0 or KILN_EINVAL. */
int kiln_table_parse_time_ms(const char *s, int64_t *out_ms, kiln_err *err);

#endif
