/*
 * opt.c - the CLI's one option parser (see opt.h): parses a command line
 * against a command's option tables, applies the global options, prints
 * help generated from the tables, and feeds the docs check and the shell
 * completion scripts from the same tables.
 *
 * A command with subcommands is parsed in two passes: the first finds the
 * subcommand name (the first positional, skipping option values), the
 * second parses every argument against the subcommand's options, the
 * command's shared options and the global ones, in that order.
 */
#include "opt.h"
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const kiln_opt global_opts[] = {
    {"--warehouse", 'w', KILN_OPT_VALUE, "DIR", "warehouse directory (default $KILN_WAREHOUSE, else ./warehouse)"},
    {"--log-level", 0, KILN_OPT_VALUE, "LEVEL", "debug, info, warn, error or off (default info; env KILN_LOG)"},
    {"--log-json", 0, 0, NULL, "every log line, errors included, as one JSON object"},
    {"--quiet", 'q', 0, NULL, "errors only (--log-level error)"},
    {"--verbose", 'v', 0, NULL, "debug lines too (--log-level debug)"},
    KILN_OPT_END};

static const kiln_opt help_opt = {"--help", 'h', 0, NULL, "show this help"};

static const char *global_warehouse;

const char *kiln_cli_warehouse_option(void) { return global_warehouse; }

const char *kiln_cli_warehouse(void)
{
    if (global_warehouse && *global_warehouse)
        return global_warehouse;
    const char *env = getenv("KILN_WAREHOUSE");
    return env && *env ? env : NULL;
}

/* ------------------------------------------------------------ matching */

/* Does arg name opt? Sets *inline_value for "--name=value". */
static int opt_matches(const kiln_opt *o, const char *arg, const char **inline_value)
{
    *inline_value = NULL;
    if (arg[0] == '-' && arg[1] != '-' && arg[1] && !arg[2])
        return o->short_name && arg[1] == o->short_name;
    size_t n = strlen(o->name);
    if (strncmp(arg, o->name, n) != 0)
        return 0;
    if (arg[n] == 0)
        return 1;
    if (arg[n] == '=') {
        *inline_value = arg + n + 1;
        return 1;
    }
    return 0;
}

static const kiln_opt *find_in(const kiln_opt *tab, const char *arg, const char **iv)
{
    for (; tab && tab->name; tab++)
        if (opt_matches(tab, arg, iv))
            return tab;
    return NULL;
}

/* The option arg names, searched in the subcommand's, the command's and the
 * global table; NULL when unknown. */
static const kiln_opt *lookup(const kiln_cmdspec *cmd, const kiln_subcmd *sub, const char *arg, const char **iv)
{
    const kiln_opt *o = NULL;
    if (sub)
        o = find_in(sub->opts, arg, iv);
    if (!o)
        o = find_in(cmd->opts, arg, iv);
    if (!o)
        o = find_in(global_opts, arg, iv);
    return o;
}

static int is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

int kiln_opt_distance(const char *a, const char *b)
{
    size_t d = kiln_str_distance(a, b);
    return d > 99 ? 99 : (int)d;
}

static void closest_in(const kiln_opt *tab, const char *name, const char **best, int *bestd)
{
    for (; tab && tab->name; tab++) {
        if (tab->flags & KILN_OPT_HIDDEN)
            continue;
        int d = kiln_opt_distance(name, tab->name);
        if (d < *bestd) {
            *bestd = d;
            *best = tab->name;
        }
    }
}

/* ------------------------------------------------------------ errors */

static void cmd_path(char *buf, size_t cap, const kiln_cmdspec *cmd, const kiln_subcmd *sub)
{
    if (sub)
        snprintf(buf, cap, "%s %s", cmd->name, sub->name);
    else
        snprintf(buf, cap, "%s", cmd->name);
}

static int usage_v(const kiln_cmdspec *cmd, const kiln_subcmd *sub, const char *fmt, va_list ap)
{
    char msg[512], path[128], line[800];
    vsnprintf(msg, sizeof msg, fmt, ap);
    cmd_path(path, sizeof path, cmd, sub);
    snprintf(line, sizeof line, "%s (see 'kiln %s --help')", msg, path);
    kiln_log_line(KILN_LOG_ERROR, path, line);
    return KILN_EXIT_USAGE;
}

static int usage(const kiln_cmdspec *cmd, const kiln_subcmd *sub, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage(const kiln_cmdspec *cmd, const kiln_subcmd *sub, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = usage_v(cmd, sub, fmt, ap);
    va_end(ap);
    return rc;
}

int kiln_opt_usage(const kiln_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = usage_v(a->cmd, a->sub, fmt, ap);
    va_end(ap);
    return rc;
}

static int unknown_option(const kiln_cmdspec *cmd, const kiln_subcmd *sub, const char *arg)
{
    char name[64];
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, arg, n);
    name[n] = 0;
    const char *best = NULL;
    int bestd = 99;
    if (sub)
        closest_in(sub->opts, name, &best, &bestd);
    closest_in(cmd->opts, name, &best, &bestd);
    closest_in(global_opts, name, &best, &bestd);
    /* a near miss: at most a third of the name wrong */
    if (best && bestd <= 1 + (int)strlen(name) / 3)
        return usage(cmd, sub, "unknown option '%s'; did you mean %s?", name, best);
    return usage(cmd, sub, "unknown option '%s'", name);
}

/* ------------------------------------------------------------ globals */

static int apply_global(const kiln_opt *o, const char *v)
{
    if (strcmp(o->name, "--warehouse") == 0) {
        global_warehouse = v;
    } else if (strcmp(o->name, "--log-level") == 0) {
        if (kiln_log_level_parse(v, &kiln_log_min) != 0) {
            char line[256];
            snprintf(line, sizeof line, "--log-level %.100s: use debug, info, warn, error or off", v);
            kiln_cli_print_error(line);
            return -1;
        }
    } else if (strcmp(o->name, "--log-json") == 0) {
        kiln_log_set_json(1);
    } else if (strcmp(o->name, "--quiet") == 0) {
        kiln_log_min = KILN_LOG_ERROR;
    } else if (strcmp(o->name, "--verbose") == 0) {
        kiln_log_min = KILN_LOG_DEBUG;
    }
    return 0;
}

static int is_global(const kiln_opt *o)
{
    return o >= global_opts && o < global_opts + sizeof global_opts / sizeof global_opts[0];
}

int kiln_opt_global(int argc, char **argv, int i)
{
    const char *iv;
    const kiln_opt *o = find_in(global_opts, argv[i], &iv);
    if (!o)
        return 0;
    const char *v = NULL;
    int used = 1;
    if (o->flags & KILN_OPT_VALUE) {
        if (iv) {
            v = iv;
        } else if (i + 1 < argc) {
            v = argv[i + 1];
            used = 2;
        } else {
            char line[128];
            snprintf(line, sizeof line, "%s needs a value (%s)", o->name, o->value_name);
            kiln_cli_print_error(line);
            return -1;
        }
    } else if (iv) {
        char line[128];
        snprintf(line, sizeof line, "%s takes no value", o->name);
        kiln_cli_print_error(line);
        return -1;
    }
    return apply_global(o, v) ? -1 : used;
}

/* ------------------------------------------------------------ parse */

static const kiln_subcmd *find_sub(const kiln_cmdspec *cmd, const char *name)
{
    for (int i = 0; i < cmd->nsubs; i++)
        if (strcmp(cmd->subs[i].name, name) == 0)
            return &cmd->subs[i];
    return NULL;
}

/* Does arg, an option unknown to the command, take a value in some subcommand? */
static int any_sub_takes_value(const kiln_cmdspec *cmd, const char *arg)
{
    const char *iv;
    for (int i = 0; i < cmd->nsubs; i++) {
        const kiln_opt *o = find_in(cmd->subs[i].opts, arg, &iv);
        if (o && (o->flags & KILN_OPT_VALUE) && !iv)
            return 1;
    }
    return 0;
}

/* Pass 1 for a command with subcommands: the index of the subcommand name
 * (the first positional), or -1. */
static int find_sub_index(const kiln_cmdspec *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            return i + 1 < argc ? i + 1 : -1;
        if (a[0] != '-' || !a[1])
            return i;
        const char *iv;
        const kiln_opt *o = lookup(cmd, NULL, a, &iv);
        if (o ? ((o->flags & KILN_OPT_VALUE) && !iv) : any_sub_takes_value(cmd, a))
            i++;
    }
    return -1;
}

/* Step 1 for a command with subcommands: find the subcommand (out->sub),
 * or handle `kiln CMD help [SUB]` and unknown names. Returns its argv index
 * (-1: none given), or -2 when parsing stops (out->exit set). */
static int pick_sub(kiln_args *out, const kiln_cmdspec *cmd, int argc, char **argv)
{
    int subi = find_sub_index(cmd, argc, argv);
    if (subi < 0)
        return -1;
    const char *name = argv[subi];
    if (strcmp(name, "help") == 0) {
        /* kiln CMD help [SUB] */
        const kiln_subcmd *s = subi + 1 < argc ? find_sub(cmd, argv[subi + 1]) : NULL;
        if (subi + 1 < argc && !s) {
            out->exit = usage(cmd, NULL, "unknown subcommand '%s'", argv[subi + 1]);
            return -2;
        }
        kiln_opt_help(stdout, cmd, s);
        out->exit = 0;
        return -2;
    }
    out->sub = find_sub(cmd, name);
    if (out->sub)
        return subi;
    const char *best = NULL;
    int bestd = 99;
    for (int i = 0; i < cmd->nsubs; i++) {
        int d = kiln_opt_distance(name, cmd->subs[i].name);
        if (d < bestd) {
            bestd = d;
            best = cmd->subs[i].name;
        }
    }
    if (best && bestd <= 1 + (int)strlen(name) / 3)
        out->exit = usage(cmd, NULL, "unknown subcommand '%s'; did you mean %s?", name, best);
    else
        out->exit = usage(cmd, NULL, "unknown subcommand '%s'", name);
    return -2;
}

int kiln_opt_parse(kiln_args *out, const kiln_cmdspec *cmd, int argc, char **argv)
{
    memset(out, 0, sizeof *out);
    out->cmd = cmd;
    kiln_cli_set_component(cmd->name, NULL);
    /* global options first, wherever they are, so that a usage error found
     * below is already printed the way they ask (--log-json) */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        int used = kiln_opt_global(argc, argv, i);
        if (used < 0) {
            out->exit = KILN_EXIT_USAGE;
            return 1;
        }
        if (used > 0)
            i += used - 1;
    }
    int subi = -1;
    if (cmd->subs && (subi = pick_sub(out, cmd, argc, argv)) == -2)
        return 1;
    /* help wins over every other error */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (is_help(argv[i])) {
            kiln_opt_help(stdout, cmd, out->sub);
            out->exit = 0;
            return 1;
        }
    if (cmd->subs && !out->sub) {
        out->exit = usage(cmd, NULL, "which subcommand? (%s%s%s, ...)", cmd->subs[0].name, cmd->nsubs > 1 ? ", " : "",
                          cmd->nsubs > 1 ? cmd->subs[1].name : "");
        return 1;
    }
    const kiln_subcmd *sub = out->sub;
    kiln_cli_set_component(cmd->name, sub ? sub->name : NULL);
    int only_pos = 0;
    const kiln_opt *took_last = NULL; /* the option whose value was the last argument */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i == subi)
            continue;
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || a[0] != '-' || !a[1]) {
            if (out->npos >= KILN_OPT_MAX_SEEN) {
                out->exit = usage(cmd, sub, "too many arguments");
                return 1;
            }
            out->pos[out->npos++] = a;
            continue;
        }
        const char *iv;
        const kiln_opt *o = lookup(cmd, sub, a, &iv);
        if (!o) {
            out->exit = unknown_option(cmd, sub, a);
            return 1;
        }
        const char *v = NULL;
        if (o->flags & KILN_OPT_VALUE) {
            if (iv) {
                v = iv;
            } else if (i + 1 < argc && (i + 1 != subi)) {
                v = argv[++i];
                if (i == argc - 1)
                    took_last = o;
            } else {
                out->exit = usage(cmd, sub, "%s needs a value (%s)", o->name, o->value_name ? o->value_name : "VALUE");
                return 1;
            }
        } else if (iv) {
            out->exit = usage(cmd, sub, "%s takes no value", o->name);
            return 1;
        }
        if (is_global(o)) {
            if (apply_global(o, v)) {
                out->exit = KILN_EXIT_USAGE;
                return 1;
            }
            continue;
        }
        if (out->nseen >= KILN_OPT_MAX_SEEN) {
            out->exit = usage(cmd, sub, "too many options");
            return 1;
        }
        out->seen[out->nseen].opt = o;
        out->seen[out->nseen].value = v;
        out->nseen++;
    }
    int min = sub ? sub->min_args : cmd->min_args, max = sub ? sub->max_args : cmd->max_args;
    const char *syn = sub ? sub->args : cmd->args;
    if (out->npos < min) {
        if (took_last)
            out->exit = usage(cmd, sub, "missing argument: expected %s (%s took '%s' as its value; %s needs a value)",
                              syn ? syn : "more arguments", took_last->name, argv[argc - 1], took_last->name);
        else
            out->exit = usage(cmd, sub, "missing argument: expected %s", syn ? syn : "more arguments");
        return 1;
    }
    if (max >= 0 && out->npos > max) {
        out->exit = usage(cmd, sub, "unexpected argument '%s'", out->pos[max]);
        return 1;
    }
    kiln_debug("%s%s%s: %d option(s), %d argument(s)", cmd->name, sub ? " " : "", sub ? sub->name : "", out->nseen,
               out->npos);
    return 0;
}

/* ------------------------------------------------------------ accessors */

static const kiln_opt *declared(const kiln_args *a, const char *name)
{
    const kiln_opt *tabs[2] = {a->sub ? a->sub->opts : NULL, a->cmd->opts};
    for (int t = 0; t < 2; t++)
        for (const kiln_opt *o = tabs[t]; o && o->name; o++)
            if (strcmp(o->name, name) == 0)
                return o;
    fprintf(stderr, "kiln: internal error: option %s is not declared for %s%s%s\n", name, a->cmd->name,
            a->sub ? " " : "", a->sub ? a->sub->name : "");
    abort();
}

int kiln_opt_has(const kiln_args *a, const char *name)
{
    const kiln_opt *o = declared(a, name);
    int n = 0;
    for (int i = 0; i < a->nseen; i++)
        n += a->seen[i].opt == o;
    return n;
}

const char *kiln_opt_get(const kiln_args *a, const char *name)
{
    const kiln_opt *o = declared(a, name);
    const char *v = NULL;
    for (int i = 0; i < a->nseen; i++)
        if (a->seen[i].opt == o)
            v = a->seen[i].value;
    return v;
}

int kiln_opt_values(const kiln_args *a, const char *name, const char **out, int cap)
{
    const kiln_opt *o = declared(a, name);
    int n = 0;
    for (int i = 0; i < a->nseen; i++)
        if (a->seen[i].opt == o) {
            if (n < cap)
                out[n] = a->seen[i].value;
            n++;
        }
    return n;
}

int kiln_opt_nth(const kiln_args *a, int i, const char **name, const char **value)
{
    if (i < 0 || i >= a->nseen)
        return 0;
    *name = a->seen[i].opt->name;
    *value = a->seen[i].value;
    return 1;
}

int kiln_opt_int(const kiln_args *a, const char *name, long long lo, long long hi, long long *out)
{
    const char *v = kiln_opt_get(a, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) {
        if (hi == (long long)(~0ULL >> 1))
            return kiln_opt_usage(a, "%s %s: expected an integer >= %lld", name, v, lo);
        return kiln_opt_usage(a, "%s %s: expected an integer in %lld..%lld", name, v, lo, hi);
    }
    *out = x;
    return 0;
}

/* ------------------------------------------------------------ help */

static void print_opt(FILE *f, const kiln_opt *o)
{
    char left[64];
    int n = 0;
    if (o->short_name)
        n = snprintf(left, sizeof left, "-%c, %s", o->short_name, o->name);
    else
        n = snprintf(left, sizeof left, "%s", o->name);
    if (o->value_name && n < (int)sizeof left)
        snprintf(left + n, sizeof left - (size_t)n, " %s", o->value_name);
    const char *h = o->help ? o->help : "";
    if (strlen(left) > 22)
        fprintf(f, "  %s\n%24s", left, "");
    else
        fprintf(f, "  %-22s", left);
    for (const char *p = h; *p; p++) {
        fputc(*p, f);
        if (*p == '\n')
            fprintf(f, "%24s", "");
    }
    fputc('\n', f);
}

static void print_opts(FILE *f, const kiln_opt *tab)
{
    for (; tab && tab->name; tab++)
        if (!(tab->flags & KILN_OPT_HIDDEN))
            print_opt(f, tab);
}

void kiln_opt_help_globals(FILE *f) { print_opts(f, global_opts); }

void kiln_opt_help(FILE *f, const kiln_cmdspec *cmd, const kiln_subcmd *sub)
{
    if (sub) {
        fprintf(f, "usage: kiln %s %s%s%s [OPTIONS]\n", cmd->name, sub->name, sub->args ? " " : "",
                sub->args ? sub->args : "");
        fprintf(f, "\n%s\n", sub->text ? sub->text : sub->summary);
        fprintf(f, "\noptions:\n");
        print_opts(f, sub->opts);
        print_opts(f, cmd->opts);
        print_opt(f, &help_opt);
    } else if (cmd->subs) {
        fprintf(f, "usage: kiln %s SUBCOMMAND [ARGS] [OPTIONS]\n", cmd->name);
        if (cmd->text)
            fprintf(f, "\n%s\n", cmd->text);
        fprintf(f, "\nsubcommands:\n");
        for (int i = 0; i < cmd->nsubs; i++) {
            char left[80];
            snprintf(left, sizeof left, "%s%s%s", cmd->subs[i].name, cmd->subs[i].args ? " " : "",
                     cmd->subs[i].args ? cmd->subs[i].args : "");
            if (strlen(left) > 26)
                fprintf(f, "  %s\n  %-26s %s\n", left, "", cmd->subs[i].summary);
            else
                fprintf(f, "  %-26s %s\n", left, cmd->subs[i].summary);
        }
        fprintf(f, "\noptions of every subcommand:\n");
        print_opts(f, cmd->opts);
        print_opt(f, &help_opt);
        fprintf(f, "\n'kiln %s SUBCOMMAND --help' (or 'kiln help %s SUBCOMMAND') shows the options of each.\n",
                cmd->name, cmd->name);
    } else {
        fprintf(f, "usage: kiln %s%s%s [OPTIONS]\n", cmd->name, cmd->args ? " " : "", cmd->args ? cmd->args : "");
        if (cmd->text)
            fprintf(f, "\n%s\n", cmd->text);
        fprintf(f, "\noptions:\n");
        print_opts(f, cmd->opts);
        print_opt(f, &help_opt);
    }
    fprintf(f, "\nglobal options (anywhere on the line):\n");
    print_opts(f, global_opts);
    if (cmd->footer)
        fprintf(f, "\n%s", cmd->footer);
}

/* ------------------------------------------------------------ docs and completion */

static void dump_tab(FILE *f, const char *path, const kiln_opt *tab)
{
    for (; tab && tab->name; tab++)
        if (!(tab->flags & KILN_OPT_HIDDEN))
            fprintf(f, "%s\t%s\n", path, tab->name);
}

void kiln_opt_dump(FILE *f, const kiln_cmdspec *cmd)
{
    if (!cmd) {
        dump_tab(f, "kiln", global_opts);
        return;
    }
    dump_tab(f, cmd->name, cmd->opts);
    for (int i = 0; i < cmd->nsubs; i++) {
        char path[128];
        cmd_path(path, sizeof path, cmd, &cmd->subs[i]);
        dump_tab(f, path, cmd->subs[i].opts);
    }
}

static void words_tab(FILE *f, const kiln_opt *tab)
{
    for (; tab && tab->name; tab++)
        if (!(tab->flags & KILN_OPT_HIDDEN))
            fprintf(f, " %s", tab->name);
}

void kiln_opt_complete_words(FILE *f, const kiln_cmdspec *cmd, const kiln_subcmd *sub)
{
    if (!cmd) {
        words_tab(f, global_opts);
        fprintf(f, " --help");
        return;
    }
    if (!sub)
        for (int i = 0; i < cmd->nsubs; i++)
            fprintf(f, " %s", cmd->subs[i].name);
    if (sub)
        words_tab(f, sub->opts);
    words_tab(f, cmd->opts);
    words_tab(f, global_opts);
    fprintf(f, " --help");
}

static void value_opts_tab(FILE *f, const kiln_opt *tab)
{
    for (; tab && tab->name; tab++)
        if (tab->flags & KILN_OPT_VALUE) {
            fprintf(f, "|%s", tab->name);
            if (tab->short_name)
                fprintf(f, "|-%c", tab->short_name);
        }
}

void kiln_opt_complete_value_opts(FILE *f, const kiln_cmdspec *cmd)
{
    if (!cmd) {
        value_opts_tab(f, global_opts);
        return;
    }
    value_opts_tab(f, cmd->opts);
    for (int i = 0; i < cmd->nsubs; i++)
        value_opts_tab(f, cmd->subs[i].opts);
}
