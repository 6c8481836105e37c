/*
 * table_cli.h - shared by `kiln table`'s metadata subcommands (cmd_table.c)
 * and its data subcommands (cmd_table_data.c: scan, files, remove-orphans,
 * rewrite-manifests, append, overwrite, merge, delete). cmd_table.c holds
 * the subcommand table; cmd_table_data.c provides the functions, option
 * tables and help texts declared here.
 */
#ifndef KILN_TABLE_CLI_H
#define KILN_TABLE_CLI_H

#include "cli.h"
#include "lake/lake.h"

/* What every subcommand gets: the catalog opened from --warehouse /
 * --catalog, and the parsed command line (a->pos[0] is usually TABLE). */
typedef struct kiln_table_cli {
    kiln_lake_catalog *cat;
    const char *warehouse;
    kiln_lake_catalog_kind kind;
} kiln_table_cli;

typedef int (*kiln_table_sub_fn)(kiln_table_cli *cli, const kiln_args *a);

/* Data subcommands (cmd_table_data.c). Return an exit code. */
int kiln_table_cmd_scan(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_files(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_remove_orphans(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_append(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_overwrite(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_merge(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_delete(kiln_table_cli *cli, const kiln_args *a);
int kiln_table_cmd_rewrite_manifests(kiln_table_cli *cli, const kiln_args *a);

/* Their option tables and help texts (cmd_table_data.c). */
extern const kiln_opt kiln_table_scan_opts[], kiln_table_files_opts[], kiln_table_orphans_opts[],
    kiln_table_rewrite_opts[], kiln_table_append_opts[], kiln_table_merge_opts[], kiln_table_delete_opts[];
#define KILN_TABLE_SCAN_TEXT                                                                                           \
    "Print the rows of a table (after position and equality deletes): CSV with a\n"                                    \
    "header line (default) or NDJSON. Dates and timestamps in ISO-8601, decimals\n"                                    \
    "with their scale, nulls as an empty CSV field / JSON null. Without TABLE,\n"                                      \
    "--metadata FILE names the table."
#define KILN_TABLE_FILES_TEXT                                                                                          \
    "List the live data and delete files of a snapshot (default: main's head):\n"                                      \
    "content, record count, size, partition and path (tab-separated)."
#define KILN_TABLE_ORPHANS_TEXT                                                                                        \
    "Delete files under the table directory that no snapshot, manifest list,\n"                                        \
    "manifest or metadata file references (left by crashed or retried commits).\n"                                     \
    "Only files older than --older-than are touched, so a commit in flight is safe."
#define KILN_TABLE_REWRITE_TEXT                                                                                        \
    "Compact the table's data manifests: the small ones of each partition spec\n"                                      \
    "are bin-packed into manifests of about the target size, in one snapshot\n"                                        \
    "with operation \"replace\" (same files, same rows, sequence numbers kept).\n"                                     \
    "Scan planning then reads fewer manifest files. Nothing to merge: no\n"                                            \
    "snapshot. Commits also merge by themselves once a spec has\n"                                                     \
    "commit.manifest.min-count-to-merge (default 100) manifests, unless the\n"                                         \
    "table property commit.manifest-merge.enabled is false."
#define KILN_TABLE_WRITE_TEXT                                                                                          \
    "Write rows (one JSON object per line; '-' = stdin) as one commit.\n"                                              \
    "append adds them; overwrite replaces every partition they fall in;\n"                                             \
    "merge upserts by the key columns (copy-on-write; a re-run changes\n"                                              \
    "nothing and commits nothing); delete removes the rows matching --where.\n"                                        \
    "A key that is not a column is an error naming the line and the key\n"                                             \
    "(--ignore-unknown-keys skips such keys)."

/* Helpers for subcommands. */
/* Load a table or print the error; returns 0 or an exit code. */
int kiln_table_open(kiln_table_cli *cli, const char *name, kiln_lake_table **out);
/* Parse a time for --as-of / --older-than: ISO timestamp, date, "ms:N", or
 * an age "7d", "12h", "30m", "45s" (now minus it). Returns 0 or KILN_EINVAL. */
int kiln_table_parse_time_ms(const char *s, int64_t *out_ms, kiln_err *err);

#endif
