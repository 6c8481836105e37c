/*
 * cmd_models.c - the model layer's commands, named as dbt's verbs so a dbt
 * user's habits carry over: `kiln compile`, `kiln ls`; and `kiln jinja`,
 * which renders Jinja templates as dbt would (a debugging aid and the e2e
 * tests' way to compare kiln's Jinja with Jinja2). Flag parsing only; the
 * work is in models.h.
 */
#include "cli.h"
#include "models/models.h"

#include <stdlib.h>
#include <string.h>

#define PROJECT_FLAGS \
    "  --project-dir DIR   the dbt project (default: the current directory)\n" \
    "  --profiles-dir DIR  where profiles.yml is (default: $DBT_PROFILES_DIR, then\n" \
    "                      the project directory, then ~/.dbt)\n" \
    "  --target NAME       the profile output to use (default: the profile's target)\n" \
    "  --vars YAML         variables, a YAML mapping: '{key: value}'\n" \
    "  -s, --select SPEC   nodes to act on: name, +name, name+, 2+name, @name,\n" \
    "                      tag:x, path:x, config.materialized:x, resource_type:x,\n" \
    "                      source:x; space = union, comma = intersection\n" \
    "  --exclude SPEC      nodes to leave out (same syntax)\n" \
    "  --resource-type T   only these kinds: model, seed, test, source, snapshot\n" \
    "  --threads N         accepted (nodes run one at a time for now)\n" \
    "  -h, --help          this help\n"

static const char compile_usage[] =
    "usage: kiln compile [--project-dir DIR] [--profiles-dir DIR] [--target NAME]\n"
    "                    [--vars YAML] [-s SPEC] [--exclude SPEC]\n"
    "\n"
    "Render every model and test of a dbt project (Jinja: ref, source, config, var,\n"
    "env_var, macros...) and write the SQL of the selected ones to\n"
    "<target-path>/compiled/<project>/. Unknown refs, cycles, YAML and Jinja errors\n"
    "are reported with file:line:column.\n"
    "\n"
    "options:\n" PROJECT_FLAGS
    "\n"
    "exit codes: 0 ok, 1 a project error, 2 usage, 3 profile error, 4 no project\n"
    "docs: docs/models.md\n";

static const char ls_usage[] =
    "usage: kiln ls [--project-dir DIR] [-s SPEC] [--exclude SPEC]\n"
    "               [--resource-type T] [--output selector|name|path|json]\n"
    "\n"
    "List the nodes of a dbt project (models, seeds, tests, sources) that the\n"
    "selection picks, one per line, sorted by unique id.\n"
    "\n"
    "options:\n" PROJECT_FLAGS
    "  --output FMT        selector (default, dbt's form), name, path or json\n"
    "\n"
    "exit codes: 0 ok, 1 a project error, 2 usage, 3 profile error, 4 no project\n"
    "docs: docs/models.md\n";

/* Parse the flags dbt's commands share. Returns 0, or an exit code. */
static int parse_project_flags(const char *cmd, int argc, char **argv, kiln_models_opts *o, int allow_output)
{
    memset(o, 0, sizeof *o);
    static const struct {
        const char *name;
        char shortf;
        size_t off;
    } flags[] = {
        {"--project-dir", 0, offsetof(kiln_models_opts, project_dir)},
        {"--profiles-dir", 0, offsetof(kiln_models_opts, profiles_dir)},
        {"--target", 't', offsetof(kiln_models_opts, target)},
        {"--vars", 0, offsetof(kiln_models_opts, vars)},
        {"--select", 's', offsetof(kiln_models_opts, select)},
        {"--models", 'm', offsetof(kiln_models_opts, select)},
        {"--exclude", 0, offsetof(kiln_models_opts, exclude)},
        {"--resource-type", 0, offsetof(kiln_models_opts, resource_types)},
        {"--output", 'o', offsetof(kiln_models_opts, output)},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k;
        int matched = 0;
        for (k = 0; k < sizeof flags / sizeof flags[0]; k++) {
            size_t nl = strlen(flags[k].name);
            const char **slot = (const char **)((char *)o + flags[k].off);
            if (!strcmp(a, flags[k].name) || (flags[k].shortf && a[0] == '-' && a[1] == flags[k].shortf && !a[2])) {
                if (i + 1 >= argc)
                    return kiln_cli_usage_error(cmd, "%s needs a value", flags[k].name);
                *slot = argv[++i];
                matched = 1;
            } else if (!strncmp(a, flags[k].name, nl) && a[nl] == '=') {
                *slot = a + nl + 1;
                matched = 1;
            }
            if (matched) {
                if (k == 8 && !allow_output)
                    return kiln_cli_usage_error(cmd, "unknown option --output");
                break;
            }
        }
        if (matched)
            continue;
        if (!strcmp(a, "--threads")) {
            if (i + 1 >= argc || atoi(argv[i + 1]) < 1)
                return kiln_cli_usage_error(cmd, "--threads needs a number >= 1");
            o->threads = atoi(argv[++i]);
        } else if (!strcmp(a, "--full-refresh")) {
            o->full_refresh = 1;
        } else if (!strcmp(a, "--fail-fast") || !strcmp(a, "-x")) {
            o->fail_fast = 1;
        } else {
            return kiln_cli_usage_error(cmd, "unknown argument %s", a);
        }
    }
    return 0;
}

/* A project error: the message, and the exit code for its kind (a broken
 * project file is the work failing: 1). */
static int project_fail(const char *cmd, const kiln_err *err)
{
    fprintf(stderr, "kiln %s: %s\n", cmd, err->msg);
    switch (err->code) {
    case KILN_EINVAL: return KILN_EXIT_USAGE;
    case KILN_ECONFIG: return KILN_EXIT_CONFIG;
    case KILN_ENOTFOUND: return strstr(err->msg, "dbt_project.yml") ? KILN_EXIT_NOTFOUND : KILN_EXIT_FAIL;
    case KILN_ENOMEM:
    case KILN_EINTERNAL: return KILN_EXIT_INTERNAL;
    default: return KILN_EXIT_FAIL;
    }
}

static int run_verb(const char *verb, int argc, char **argv)
{
    kiln_models_opts o;
    int rc = parse_project_flags(verb, argc, argv, &o, 0);
    if (rc)
        return rc;
    kiln_err err = {0};
    int failed = 0;
    if (kiln_models_run(verb, &o, stdout, &failed, &err))
        return project_fail(verb, &err);
    return failed ? KILN_EXIT_FAIL : 0;
}

static int run_seed(int argc, char **argv) { return run_verb("seed", argc, argv); }
static int run_run(int argc, char **argv) { return run_verb("run", argc, argv); }
static int run_test(int argc, char **argv) { return run_verb("test", argc, argv); }
static int run_build(int argc, char **argv) { return run_verb("build", argc, argv); }
static int run_snapshot(int argc, char **argv) { return run_verb("snapshot", argc, argv); }

#define VERB_USAGE(verb, what) \
    "usage: kiln " verb " [--project-dir DIR] [--profiles-dir DIR] [--target NAME]\n" \
    "       [--vars YAML] [-s SPEC] [--exclude SPEC] [--full-refresh] [--fail-fast]\n" \
    "\n" what "\n" \
    "Output as dbt's: one line per node, then Done. PASS=.. WARN=.. ERROR=.. SKIP=.. TOTAL=..\n" \
    "\n" \
    "options:\n" PROJECT_FLAGS \
    "  --full-refresh      rebuild tables from scratch (drop, then create)\n" \
    "  -x, --fail-fast     after the first error or failed test, skip the rest\n" \
    "\n" \
    "exit codes: 0 ok, 1 a node failed (or a project error), 2 usage, 3 profile\n" \
    "error, 4 no project\n" \
    "docs: docs/models.md\n"

static const char seed_usage[] = VERB_USAGE("seed", "Load the project's seeds (CSV files) into Iceberg tables of the profile's warehouse.");
static const char runv_usage[] = VERB_USAGE("run", "Build the selected models into Iceberg tables, in dependency order.");
static const char test_usage[] = VERB_USAGE("test", "Run the selected data tests (generic and singular) against the warehouse.");
static const char snapshot_usage[] = VERB_USAGE("snapshot", "Run the selected snapshots: record changes of their queries as SCD type 2 rows\n"
                                                            "(dbt_valid_from/dbt_valid_to), strategy timestamp or check.");
static const char build_usage[] = VERB_USAGE("build", "Seeds, models and tests in one DAG: each node's tests run right after it, and\n"
                                                      "a failing test skips everything downstream.");

static int run_compile(int argc, char **argv)
{
    kiln_models_opts o;
    int rc = parse_project_flags("compile", argc, argv, &o, 0);
    if (rc)
        return rc;
    kiln_err err = {0};
    if (kiln_models_compile(&o, stdout, &err))
        return project_fail("compile", &err);
    return 0;
}

static int run_ls(int argc, char **argv)
{
    kiln_models_opts o;
    int rc = parse_project_flags("ls", argc, argv, &o, 1);
    if (rc)
        return rc;
    kiln_err err = {0};
    if (kiln_models_ls(&o, stdout, &err))
        return project_fail("ls", &err);
    return 0;
}

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
KILN_COMMAND(cmd_compile, "compile", "render a dbt project's models and tests into target/compiled/", compile_usage,
             run_compile, 70, NULL)
KILN_COMMAND(cmd_ls, "ls", "list a dbt project's nodes (with dbt's selection syntax)", ls_usage, run_ls, 71, NULL)
KILN_COMMAND(cmd_seed, "seed", "load a dbt project's seeds (CSV) into Iceberg tables", seed_usage, run_seed, 72, NULL)
KILN_COMMAND(cmd_run, "run", "build a dbt project's models into Iceberg tables", runv_usage, run_run, 73, NULL)
KILN_COMMAND(cmd_test, "test", "run a dbt project's data tests", test_usage, run_test, 74, NULL)
KILN_COMMAND(cmd_build, "build", "seeds, models and tests of a dbt project in one DAG", build_usage, run_build, 74, NULL)
KILN_COMMAND(cmd_snapshot, "snapshot", "record a dbt project's snapshots (SCD type 2)", snapshot_usage, run_snapshot, 74, NULL)
