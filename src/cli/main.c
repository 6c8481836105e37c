/*
 * main.c - kiln's entry point: global flags, the command registry and
 * dispatch. Commands register themselves from src/cli/cmd_*.c.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static kiln_command *commands;

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

int kiln_cli_fail(const kiln_err *err)
{
    fprintf(stderr, "kiln: %s\n", err->msg[0] ? err->msg : kiln_err_name(err->code));
    switch (err->code) {
    case KILN_EINVAL: return KILN_EXIT_USAGE;
    case KILN_ECONFIG: return KILN_EXIT_CONFIG;
    case KILN_ENOTFOUND: return KILN_EXIT_NOTFOUND;
    case KILN_ECONFLICT: return KILN_EXIT_CONFLICT;
    case KILN_EINTERNAL: return KILN_EXIT_INTERNAL;
    default: return KILN_EXIT_FAIL;
    }
}

int kiln_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "kiln %s: %s (see 'kiln %s --help')\n", cmd, msg, cmd);
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
    fputs(c->usage, stdout);
    return 0;
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
           "usage: kiln [--log-level LEVEL] [--log-json] COMMAND [ARGS]\n\n"
           "commands:\n",
           KILN_VERSION);
    for (kiln_command *c = commands; c; c = c->next)
        printf("  %-10s %s\n", c->name, c->summary);
    printf("\nglobal options:\n"
           "  -h, --help           this help; 'kiln COMMAND --help' for a command\n"
           "  --version            print the version\n"
           "  --log-level LEVEL    debug, info, warn, error or off (default info; env KILN_LOG)\n"
           "  --log-json           structured logs, one JSON object per line\n\n"
           "exit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 not found, 5 conflict, 70 internal\n"
           "docs: docs/cli/COMMAND.md\n");
}

int main(int argc, char **argv)
{
    const char *env_level = getenv("KILN_LOG");
    if (env_level && kiln_log_level_parse(env_level, &kiln_log_min) != 0) {
        fprintf(stderr, "kiln: KILN_LOG=%s is not a level (debug, info, warn, error, off)\n", env_level);
        return KILN_EXIT_USAGE;
    }
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("kiln %s\n", KILN_VERSION);
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_main_help();
            return 0;
        } else if (strcmp(argv[i], "--log-json") == 0) {
            kiln_log_set_json(1);
        } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
            if (kiln_log_level_parse(argv[++i], &kiln_log_min) != 0) {
                fprintf(stderr, "kiln: --log-level %s: use debug, info, warn, error or off\n", argv[i]);
                return KILN_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--list-commands") == 0) {
            for (kiln_command *c = commands; c; c = c->next)
                printf("%s\n", c->name);
            return 0;
        } else {
            fprintf(stderr, "kiln: unknown option '%s' (see 'kiln --help')\n", argv[i]);
            return KILN_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_main_help();
        return KILN_EXIT_USAGE;
    }
    const kiln_command *c = kiln_cli_find(argv[i]);
    if (!c) {
        fprintf(stderr, "kiln: unknown command '%s' (see 'kiln --help')\n", argv[i]);
        return KILN_EXIT_USAGE;
    }
    if (kiln_cli_wants_help(argc - i, argv + i)) {
        int bare = argc - i == 2; /* `kiln NAME --help` */
        if (!c->own_help || bare)
            return kiln_cli_print_help(c);
    }
    return c->run(argc - i, argv + i);
}
