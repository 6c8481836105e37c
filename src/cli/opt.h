/*
 * opt.h - the one option parser of the kiln CLI. Every command describes
 * its options in one table (kiln_opt[]); the same table drives parsing,
 * `--help`, `kiln help COMMAND [SUB]`, the docs check (`kiln help
 * --dump-options`) and shell completion (`kiln completion bash|zsh`).
 *
 * A command with subcommands (`kiln table scan ...`) lists them as
 * kiln_subcmd rows; its own options (e.g. --catalog) are accepted before or
 * after the subcommand name. Global options (--warehouse/-w, --log-level,
 * --log-json, -q/--quiet, -v/--verbose) are accepted anywhere on the line.
 *
 * Parsing rules: `--opt value`, `--opt=value`, `-x value` for an option
 * with a short form, `--` ends the options (what follows is positional),
 * `-h`/`--help` prints the help of the command (or subcommand) and stops.
 * An unknown option is a usage error with "did you mean --X?"; a missing
 * value names the option that wanted it. Usage errors exit 2. A listing
 * or reporting command offers --json (documented field names); --format is
 * for data outputs only.
 *
 * Use in a command file:
 *
 *   static const kiln_opt gen_opts[] = {
 *       {"--out", 'o', KILN_OPT_VALUE, "DIR", "output directory (required)"},
 *       {"--quirks", 0, 0, NULL, "inject faults"},
 *       KILN_OPT_END};
 *   static const kiln_cmdspec spec = {.name = "gen", .opts = gen_opts, ...};
 *
 *   static int run(int argc, char **argv)
 *   {
 *       kiln_args a;
 *       if (kiln_opt_parse(&a, &spec, argc, argv))
 *           return a.exit;                 // help printed (0) or usage error (2)
 *       const char *out = kiln_opt_get(&a, "--out");
 *       ...
 *   }
 *   KILN_COMMAND(cmd_gen, "gen", "summary", NULL, run, 60, NULL, 0, &spec)
 */
#ifndef KILN_CLI_OPT_H
#define KILN_CLI_OPT_H

#include <stdio.h>

/* kiln_opt.flags */
#define KILN_OPT_VALUE 1u  /* takes a value */
#define KILN_OPT_REPEAT 2u /* may be given more than once; kiln_opt_values collects the values */
#define KILN_OPT_HIDDEN 4u /* parsed but left out of help, docs check and completion */

typedef struct kiln_opt {
    const char *name;       /* long form with its dashes: "--limit" */
    char short_name;        /* 'n' for -n; 0 for none (keep short forms for common flags) */
    unsigned flags;         /* KILN_OPT_* */
    const char *value_name; /* "N", "DIR" in help; NULL for a switch */
    const char *help;       /* help text; '\n' continues on the next line */
} kiln_opt;
#define KILN_OPT_END                                                                                                   \
    {                                                                                                                  \
        NULL, 0, 0, NULL, NULL                                                                                         \
    }

typedef struct kiln_subcmd {
    const char *name;       /* "scan" */
    const char *args;       /* positional synopsis "TABLE [NAME]"; NULL when none */
    int min_args, max_args; /* positional count bounds; max_args -1 = no limit */
    const char *summary;    /* one line in the command's help */
    const char *text;       /* paragraphs for `kiln CMD SUB --help`; NULL none */
    const kiln_opt *opts;   /* KILN_OPT_END-terminated; NULL none */
} kiln_subcmd;

typedef struct kiln_cmdspec {
    const char *name;        /* "table" (matches the kiln_command name) */
    const char *args;        /* leaf command: positional synopsis */
    int min_args, max_args;  /* leaf command: positional bounds (-1 = any) */
    const char *text;        /* description paragraphs for --help */
    const kiln_opt *opts;    /* the command's own options (with subcommands: shared by all) */
    const kiln_subcmd *subs; /* NULL for a leaf command */
    int nsubs;
    const char *footer; /* printed last in --help (exit codes, notes); NULL none */
} kiln_cmdspec;

#define KILN_OPT_MAX_SEEN 128 /* options and positionals on one command line */

/* The parsed line. Lives on the caller's stack; values point into argv. */
typedef struct kiln_args {
    const kiln_cmdspec *cmd;
    const kiln_subcmd *sub; /* the chosen subcommand; NULL for a leaf command */
    const char *pos[KILN_OPT_MAX_SEEN];
    int npos;
    int exit; /* when kiln_opt_parse returns nonzero: the exit code to return */
    /* private */
    struct {
        const kiln_opt *opt;
        const char *value;
    } seen[KILN_OPT_MAX_SEEN];
    int nseen;
} kiln_args;

/* Parse argv (argv[0] = the command name). Returns 0 when the command should
 * run; nonzero when it should stop and return out->exit: 0 after printing
 * help, 2 after printing a usage error. Global options are applied here. */
int kiln_opt_parse(kiln_args *out, const kiln_cmdspec *cmd, int argc, char **argv);

/* Accessors. `name` is the long form ("--limit") and must be in the
 * command's or subcommand's table (a typo aborts: a bug, not user input). */
int kiln_opt_has(const kiln_args *a, const char *name);         /* times given */
const char *kiln_opt_get(const kiln_args *a, const char *name); /* last value, or NULL */
/* Values of a repeatable option in order; returns how many (at most cap are stored). */
int kiln_opt_values(const kiln_args *a, const char *name, const char **out, int cap);
/* The i-th option given on the line, in command-line order (for options
 * whose relative order matters, e.g. `kiln sql -c A -f B -c C`): returns 1
 * and sets *name (long form) and *value (NULL for a switch), or 0 past the end. */
int kiln_opt_nth(const kiln_args *a, int i, const char **name, const char **value);
/* An integer in [lo, hi]: 0 when absent (*out untouched) or valid; else a
 * usage error naming the option is printed and 2 returned. */
int kiln_opt_int(const kiln_args *a, const char *name, long long lo, long long hi, long long *out);
/* Print the usage error "kiln: error CMD [SUB]: MSG (see 'kiln CMD [SUB] --help')"
 * (a JSON line with --log-json); returns 2. */
int kiln_opt_usage(const kiln_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Global options, for commands and main. kiln_cli_warehouse: --warehouse
 * from anywhere on the line, else $KILN_WAREHOUSE, else NULL. */
const char *kiln_cli_warehouse(void);
const char *kiln_cli_warehouse_option(void); /* --warehouse only, or NULL */
/* If argv[i] is a global option, apply it and return how many arguments it
 * used (1 or 2); 0 when it is not one; -1 after a usage error was printed. */
int kiln_opt_global(int argc, char **argv, int i);

/* Generated from the tables (used by main.c). sub NULL: the command's help. */
void kiln_opt_help(FILE *f, const kiln_cmdspec *cmd, const kiln_subcmd *sub);
void kiln_opt_help_globals(FILE *f);
/* One line per documented option: "COMMAND[ SUB]\t--name". */
void kiln_opt_dump(FILE *f, const kiln_cmdspec *cmd);
/* Candidates for shell completion of one command: subcommands and options. */
void kiln_opt_complete_words(FILE *f, const kiln_cmdspec *cmd, const kiln_subcmd *sub);
/* "|--name|-x" for every option that takes a value (cmd NULL: the global
 * ones), for the completion scripts' word scan. */
void kiln_opt_complete_value_opts(FILE *f, const kiln_cmdspec *cmd);
/* Levenshtein distance, capped (for "did you mean"). */
int kiln_opt_distance(const char *a, const char *b);

#endif
