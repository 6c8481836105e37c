/*
 * main.c - kiln's entry point: global options, the command registry and
 * dispatch, and the commands made from the registry itself: `kiln help`
 * (help, and the option dump the docs check reads) and `kiln completion`
 * (bash and zsh scripts generated from the option tables, opt.h).
 * Commands register themselves from src/cli/cmd_*.c.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kiln_command *commands;
static char component[96];

void kiln_cli_register(kiln_command *c)
{
    /* keep sorted by (rank, name) */
    kiln_command **pp = &commands;
    while (*pp && ((*pp)->rank < c->rank || ((*pp)->rank == c->rank && strcmp((*pp)->name, c->name) < 0)))
        pp = &(*pp)->next;
    c->next = *pp;
    *pp = c;
}

const kiln_command *kiln_cli_find(const char *name)
{
    for (kiln_command *c = commands; c; c = c->next)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void kiln_cli_set_component(const char *cmd, const char *sub)
{
    snprintf(component, sizeof component, "%s%s%s", cmd ? cmd : "", sub ? " " : "", sub ? sub : "");
}

void kiln_cli_print_error(const char *msg) { kiln_log_line(KILN_LOG_ERROR, component[0] ? component : NULL, msg); }

int kiln_cli_exit_code(int code) { return kiln_exit_code(code); }

int kiln_cli_fail(const kiln_err *err)
{
    kiln_cli_print_error(err->msg[0] ? err->msg : kiln_err_name(err->code));
    return kiln_cli_exit_code(err->code);
}

int kiln_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512], line[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "%s (see 'kiln %s --help')", msg, cmd);
    kiln_log_line(KILN_LOG_ERROR, cmd, line);
    return KILN_EXIT_USAGE;
}

int kiln_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int kiln_cli_print_help(const kiln_command *c)
{
    if (c->spec)
        kiln_opt_help(stdout, c->spec, NULL);
    else
        fputs(c->usage, stdout);
    return 0;
}

void kiln_cli_json_str(FILE *f, const char *s)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    if (!s)
        s = "";
    if (kiln_json_write_str(&b, s, strlen(s), &err) == 0)
        fwrite(b.data, 1, b.len, f);
    kiln_buf_free(&b);
}

int kiln_cli_tty(void)
{
    const char *p = getenv("KILN_PROGRESS");
    if (p && *p)
        return *p == '1';
    return isatty(2);
}

static void print_main_help(void)
{
    printf("kiln %s - the batch half of a data platform, in one binary\n\n"
           "usage: kiln [GLOBAL OPTIONS] COMMAND [ARGS] [OPTIONS]\n\n"
           "commands:\n",
           KILN_VERSION);
    for (kiln_command *c = commands; c; c = c->next)
        printf("  %-11s %s\n", c->name, c->summary);
    printf("\nglobal options (before or after the command):\n");
    kiln_opt_help_globals(stdout);
    printf("  -h, --help            this help; 'kiln COMMAND --help' or 'kiln help COMMAND [SUB]'\n"
           "  --version             print the version\n"
           "\nexit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 not found, 5 conflict,\n"
           "6 partial success, 70 internal (docs/cli/exit-codes.md)\n"
           "docs: docs/cli/COMMAND.md\n");
}

/* ------------------------------------------------------------ kiln help */

static const kiln_opt help_opts[] = {
    {"--dump-options", 0, KILN_OPT_HIDDEN, NULL, "every option of every command, one per line (docs check)"},
    KILN_OPT_END};

static const kiln_cmdspec help_spec = {
    .name = "help",
    .args = "[COMMAND [SUBCOMMAND]]",
    .min_args = 0,
    .max_args = 2,
    .text = "Show kiln's help, a command's, or a subcommand's (the same text as\n"
            "'kiln COMMAND [SUBCOMMAND] --help').",
    .opts = help_opts,
};

/* Options of an old-style command (no tables): the --flags of its usage. */
static void usage_flags(FILE *f, const kiln_command *c, const char *prefix, const char *sep)
{
    const char *u = c->usage ? c->usage : "";
    char seen[4096] = "";
    for (const char *p = strstr(u, "--"); p; p = strstr(p + 2, "--")) {
        size_t n = 2;
        while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || (p[n] == '-' && n > 2))
            n++;
        if (n < 3 || (p > u && p[-1] != ' ' && p[-1] != '[' && p[-1] != '|' && p[-1] != '\n'))
            continue;
        char word[80];
        snprintf(word, sizeof word, " %.*s ", (int)n, p);
        if (strstr(seen, word))
            continue;
        if (strlen(seen) + strlen(word) < sizeof seen)
            strcat(seen, word);
        fprintf(f, "%s%.*s%s", prefix, (int)n, p, sep);
    }
}

static int run_help(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &help_spec, argc, argv))
        return a.exit;
    if (kiln_opt_has(&a, "--dump-options")) {
        kiln_opt_dump(stdout, NULL);
        for (kiln_command *c = commands; c; c = c->next) {
            if (c->spec) {
                kiln_opt_dump(stdout, c->spec);
            } else {
                char prefix[64];
                snprintf(prefix, sizeof prefix, "%s\t", c->name);
                usage_flags(stdout, c, prefix, "\n");
            }
        }
        return 0;
    }
    if (a.npos == 0) {
        print_main_help();
        return 0;
    }
    const kiln_command *c = kiln_cli_find(a.pos[0]);
    if (!c)
        return kiln_opt_usage(&a, "unknown command '%s'", a.pos[0]);
    if (a.npos == 1)
        return kiln_cli_print_help(c);
    if (c->spec) {
        for (int i = 0; i < c->spec->nsubs; i++)
            if (strcmp(c->spec->subs[i].name, a.pos[1]) == 0) {
                kiln_opt_help(stdout, c->spec, &c->spec->subs[i]);
                return 0;
            }
        return kiln_opt_usage(&a, "'kiln %s' has no subcommand '%s'", c->name, a.pos[1]);
    }
    /* an old-style command prints its subcommand's help itself */
    char *hargv[] = {(char *)c->name, (char *)a.pos[1], "--help", NULL};
    return c->run(3, hargv);
}

KILN_COMMAND(cmd_help, "help", "help for kiln, a command or a subcommand", NULL, run_help, 90, NULL, 0, &help_spec)

/* ------------------------------------------------------------ kiln completion */

static const kiln_cmdspec completion_spec = {
    .name = "completion",
    .args = "bash|zsh",
    .min_args = 1,
    .max_args = 1,
    .text = "Print a shell completion script for kiln, generated from the same option\n"
            "tables that parse the command line. Load it with\n"
            "  source <(kiln completion bash)        # bash, e.g. in ~/.bashrc\n"
            "  source <(kiln completion zsh)         # zsh, e.g. in ~/.zshrc",
};

/* The words to offer for one command (and subcommand): "cmd/sub) words". */
static void complete_cases(FILE *f, const char *indent, const char *end)
{
    fprintf(f, "%s\"/\"*) w=\"", indent);
    for (kiln_command *c = commands; c; c = c->next)
        fprintf(f, "%s ", c->name);
    kiln_opt_complete_words(f, NULL, NULL);
    fprintf(f, " --version\"%s\n", end);
    for (kiln_command *c = commands; c; c = c->next) {
        if (c->spec) {
            for (int i = 0; i < c->spec->nsubs; i++) {
                fprintf(f, "%s\"%s/%s\"*) w=\"", indent, c->name, c->spec->subs[i].name);
                kiln_opt_complete_words(f, c->spec, &c->spec->subs[i]);
                fprintf(f, "\"%s\n", end);
            }
            fprintf(f, "%s\"%s/\"*) w=\"", indent, c->name);
            kiln_opt_complete_words(f, c->spec, NULL);
            fprintf(f, "\"%s\n", end);
        } else {
            fprintf(f, "%s\"%s/\"*) w=\"", indent, c->name);
            usage_flags(f, c, " ", "");
            kiln_opt_complete_words(f, NULL, NULL);
            fprintf(f, "\"%s\n", end);
        }
    }
}

static int run_completion(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &completion_spec, argc, argv))
        return a.exit;
    const char *shell = a.pos[0];
    /* The first two words that are not options are COMMAND and SUB; the case
     * patterns "cmd/sub"* then pick the words (a command without that
     * subcommand falls through to "cmd/"*). Global options taking a value
     * skip it. */
    int bash = strcmp(shell, "bash") == 0;
    if (!bash && strcmp(shell, "zsh") != 0)
        return kiln_opt_usage(&a, "'%s': use bash or zsh", shell);
    if (bash)
        printf("# kiln bash completion (generated by 'kiln completion bash')\n"
               "_kiln() {\n"
               "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"\" sub=\"\" w i skip=0\n"
               "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
               "    w=\"${COMP_WORDS[i]}\"\n");
    else
        printf("#compdef kiln\n"
               "# kiln zsh completion (generated by 'kiln completion zsh')\n"
               "_kiln() {\n"
               "  local cmd=\"\" sub=\"\" w skip=0\n"
               "  local -a ws\n"
               "  for w in \"${(@)words[2,CURRENT-1]}\"; do\n");
    /* the options that take a value, whose value is not COMMAND or SUB */
    printf("    if ((skip)); then skip=0; continue; fi\n"
           "    case \"$w\" in\n"
           "      --*=*) ;;\n"
           "      --warehouse");
    kiln_opt_complete_value_opts(stdout, NULL);
    for (kiln_command *c = commands; c; c = c->next)
        if (c->spec)
            kiln_opt_complete_value_opts(stdout, c->spec);
    printf(") skip=1 ;;\n"
           "      -*) ;;\n"
           "      *) if [[ -z $cmd ]]; then cmd=$w; elif [[ -z $sub ]]; then sub=$w; fi ;;\n"
           "    esac\n"
           "  done\n"
           "  case \"$cmd/$sub\" in\n");
    complete_cases(stdout, "    ", " ;;");
    if (bash)
        printf("  esac\n"
               "  COMPREPLY=($(compgen -W \"$w\" -- \"$cur\"))\n"
               "}\n"
               "complete -o default -F _kiln kiln\n");
    else
        printf("  esac\n"
               "  ws=(${=w})\n"
               "  compadd -- $ws\n"
               "  _files\n"
               "}\n"
               "compdef _kiln kiln\n");
    return 0;
}

KILN_COMMAND(cmd_completion, "completion", "print a bash or zsh completion script", NULL, run_completion, 95, NULL, 0,
             &completion_spec)

/* ------------------------------------------------------------ main */

/* For an old-style command: take the global options out of argv (before a
 * "--"), apply them, and pass --warehouse on (the command parses it itself,
 * e.g. `kiln --warehouse W sql`). Returns the new argc, or -1 on a usage
 * error. out has room for argc + 2 entries. */
static int strip_globals(int argc, char **argv, char **out)
{
    int n = 0, dashdash = -1;
    for (int i = 0; i < argc; i++) {
        if (dashdash < 0 && strcmp(argv[i], "--") == 0) {
            dashdash = n;
            out[n++] = argv[i];
            continue;
        }
        if (dashdash < 0 && i > 0) {
            int used = kiln_opt_global(argc, argv, i);
            if (used < 0)
                return -1;
            if (used > 0) {
                i += used - 1;
                continue;
            }
        }
        out[n++] = argv[i];
    }
    const char *w = kiln_cli_warehouse_option(); /* given anywhere on the line */
    if (w) {
        /* insert before "--" (or at the end) */
        int at = dashdash >= 0 ? dashdash : n;
        memmove(out + at + 2, out + at, sizeof *out * (size_t)(n - at));
        out[at] = "--warehouse";
        out[at + 1] = (char *)w;
        n += 2;
    }
    out[n] = NULL;
    return n;
}

int main(int argc, char **argv)
{
    const char *env_level = getenv("KILN_LOG");
    if (env_level && kiln_log_level_parse(env_level, &kiln_log_min) != 0) {
        /* the environment is configuration: exit 3 */
        fprintf(stderr, "kiln: error: KILN_LOG=%s is not a level (debug, info, warn, error, off)\n", env_level);
        return KILN_EXIT_CONFIG;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        int used = kiln_opt_global(argc, argv, i);
        if (used < 0)
            return KILN_EXIT_USAGE;
        if (used > 0) {
            i += used - 1;
            continue;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("kiln %s\n", KILN_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_main_help();
            return 0;
        } else if (strcmp(argv[i], "--list-commands") == 0) {
            for (kiln_command *c = commands; c; c = c->next)
                printf("%s\n", c->name);
            return 0;
        } else {
            char msg[200];
            const char *best = kiln_opt_distance(argv[i], "--version") <= 2 ? "--version" : NULL;
            snprintf(msg, sizeof msg, "unknown option '%.100s'%s%s%s (see 'kiln --help')", argv[i],
                     best ? "; did you mean " : "", best ? best : "", best ? "?" : "");
            kiln_cli_print_error(msg);
            return KILN_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_main_help();
        return KILN_EXIT_USAGE;
    }
    const kiln_command *c = kiln_cli_find(argv[i]);
    if (!c) {
        char msg[300];
        const char *best = NULL;
        int bestd = 99;
        for (kiln_command *k = commands; k; k = k->next) {
            int d = kiln_opt_distance(argv[i], k->name);
            if (d < bestd) {
                bestd = d;
                best = k->name;
            }
        }
        if (best && bestd <= 1 + (int)strlen(argv[i]) / 3)
            snprintf(msg, sizeof msg, "unknown command '%.100s'; did you mean %s? (see 'kiln --help')", argv[i], best);
        else
            snprintf(msg, sizeof msg, "unknown command '%.100s' (see 'kiln --help')", argv[i]);
        kiln_cli_print_error(msg);
        return KILN_EXIT_USAGE;
    }
    kiln_cli_set_component(c->name, NULL);
    if (c->spec)
        return c->run(argc - i, argv + i);
    char **av = kiln_calloc((size_t)(argc - i + 3), sizeof *av);
    if (!av)
        return KILN_EXIT_INTERNAL;
    int ac = strip_globals(argc - i, argv + i, av);
    int rc;
    if (ac < 0) {
        rc = KILN_EXIT_USAGE;
    } else if (kiln_cli_wants_help(ac, av) && (!c->own_help || ac == 2)) {
        rc = kiln_cli_print_help(c); /* `kiln NAME --help` */
    } else {
        rc = c->run(ac, av);
    }
    kiln_free(av);
    return rc;
}
