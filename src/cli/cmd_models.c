/*
 * cmd_models.c - the model layer's commands: `kiln jinja` renders Jinja
 * templates as dbt would (a debugging aid and the e2e tests' way to compare
 * kiln's Jinja with Jinja2). Flag parsing only; the work is in models.h.
 */
#include "cli.h"
#include "models/models.h"

#include <string.h>

static const char jinja_usage[] =
    "usage: kiln jinja FILE... [--vars JSON]\n"
    "\n"
    "Render each Jinja template FILE to stdout with dbt's Jinja settings (no\n"
    "trim_blocks/lstrip_blocks, trailing newline dropped, undefined names print\n"
    "as nothing). --vars gives a JSON object whose members are variables.\n"
    "\n"
    "options:\n"
    "  --vars JSON   variables for the templates\n"
    "  -h, --help    this help\n"
    "\n"
    "exit codes: 0 ok, 1 template error (file:line:column on stderr), 2 usage\n"
    "docs: docs/models.md\n";

static int run_jinja(int argc, char **argv)
{
    const char *vars = NULL;
    int nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--vars")) {
            if (i + 1 >= argc)
                return kiln_cli_usage_error("jinja", "--vars needs a JSON object");
            vars = argv[++i];
        } else if (!strncmp(argv[i], "--vars=", 7)) {
            vars = argv[i] + 7;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return kiln_cli_usage_error("jinja", "unknown option %s", argv[i]);
        } else {
            nfiles++;
        }
    }
    if (!nfiles)
        return kiln_cli_usage_error("jinja", "give a template FILE");
    for (int i = 1; i < argc && !rc; i++) {
        if (!strcmp(argv[i], "--vars")) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            continue;
        kiln_buf out;
        kiln_buf_init(&out, 0);
        kiln_err err = {0};
        if (kiln_models_render_file(argv[i], vars, &out, &err)) {
            rc = err.code == KILN_EIO || err.code == KILN_ENOTFOUND ? kiln_cli_fail(&err) : (fprintf(stderr, "kiln jinja: %s\n", err.msg), KILN_EXIT_FAIL);
        } else {
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
        }
        kiln_buf_free(&out);
    }
    fflush(stdout);
    return rc;
}

KILN_COMMAND(cmd_jinja, "jinja", "render Jinja templates as dbt does (debugging aid)", jinja_usage, run_jinja, 75, NULL)
