/*
 * cmd_models.c - the model layer's commands, named as dbt's verbs so a dbt
 * user's habits carry over: `kiln seed|run|test|build|snapshot|compile|ls`;
 * and `kiln jinja`, which renders Jinja templates as dbt would (a debugging
 * aid and the e2e tests' way to compare kiln's Jinja with Jinja2). Flag
 * parsing only (opt.h tables); the work is in models.h.
 */
#include "cli.h"
#include "models/models.h"

#include <stdlib.h>
#include <string.h>

#define PROJECT_OPTS                                                                                                   \
    {"--project-dir", 0, KILN_OPT_VALUE, "DIR", "the dbt project (default: the current directory)"},                   \
        {"--profiles-dir", 0, KILN_OPT_VALUE, "DIR",                                                                   \
         "where profiles.yml is (default: $DBT_PROFILES_DIR, then\nthe project directory, then ~/.dbt)"},              \
        {"--target", 't', KILN_OPT_VALUE, "NAME", "the profile output to use (default: the profile's target)"},        \
        {"--vars", 0, KILN_OPT_VALUE, "YAML", "variables, a YAML mapping: '{key: value}'"},                            \
        {"--select", 's', KILN_OPT_VALUE | KILN_OPT_REPEAT, "SPEC",                                                    \
         "nodes to act on: name, +name, name+, 2+name, @name,\ntag:x, path:x, config.materialized:x, "                 \
         "resource_type:x,\nsource:x; space = union, comma = intersection"},                                           \
        {"--models", 'm', KILN_OPT_VALUE | KILN_OPT_REPEAT | KILN_OPT_HIDDEN, "SPEC", "the same as --select"},         \
        {"--exclude", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "SPEC", "nodes to leave out (same syntax)"},                \
        {"--resource-type", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "T",                                                  \
         "only these kinds: model, seed, test, source, snapshot"},                                                     \
        {"--threads", 0, KILN_OPT_VALUE, "N",                                                                          \
         "run up to N independent nodes at once (default: the\nprofile's threads)"},                                   \
    {                                                                                                                  \
        "--state", 0, KILN_OPT_VALUE, "DIR",                                                                           \
            "a previous run's target directory: its manifest.json is\nwhat state:modified/new/old compares with"       \
    }

static const kiln_opt compile_opts[] = {
    PROJECT_OPTS,
    {"--full-refresh", 0, 0, NULL, "render is_incremental() as false, as a full refresh would"},
    {"--no-partial-parse", 0, 0, NULL,
     "parse every file again (do not use target/partial_parse.bin,\nwhich re-parses only the model files that "
     "changed)"},
    KILN_OPT_END};
static const kiln_opt ls_opts[] = {
    PROJECT_OPTS,
    {"--output", 'o', KILN_OPT_VALUE, "FMT", "selector (default, dbt's form), name, path or json"},
    KILN_OPT_END};
static const kiln_opt verb_opts[] = {
    PROJECT_OPTS,
    {"--full-refresh", 0, 0, NULL, "rebuild tables from scratch (drop, then create)"},
    {"--fail-fast", 'x', 0, NULL, "after the first error or failed test, skip the rest"},
    {"--event-time-start", 0, KILN_OPT_VALUE, "TIME", "microbatch models: run the batches from TIME (dbt's flag)"},
    {"--event-time-end", 0, KILN_OPT_VALUE, "TIME", "microbatch models: run the batches before TIME"},
    {"--defer", 0, 0, NULL,
     "with --state: refs to nodes not built here whose tables are\nmissing read the state manifest's relations"},
    KILN_OPT_END};

#define PROJECT_FOOTER                                                                                                 \
    "exit codes: 0 ok, 1 a project error, 2 usage, 3 profile error, 4 no project\ndocs: docs/models.md\n"
#define VERB_FOOTER                                                                                                    \
    "Output as dbt's: one line per node, then Done. PASS=.. WARN=.. ERROR=.. SKIP=.. TOTAL=..\n\n"                     \
    "exit codes: 0 ok, 1 a node failed (or a project error), 2 usage, 3 profile\n"                                     \
    "error, 4 no project\ndocs: docs/models.md\n"

static const kiln_cmdspec compile_spec = {
    .name = "compile",
    .text = "Render every model and test of a dbt project (Jinja: ref, source, config, var,\n"
            "env_var, macros...) and write the SQL of the selected ones to\n"
            "<target-path>/compiled/<project>/. Unknown refs, cycles, YAML and Jinja errors\n"
            "are reported with file:line:column.",
    .opts = compile_opts,
    .footer = PROJECT_FOOTER,
};
static const kiln_cmdspec ls_spec = {
    .name = "ls",
    .text = "List the nodes of a dbt project (models, seeds, tests, sources) that the\n"
            "selection picks, one per line, sorted by unique id.",
    .opts = ls_opts,
    .footer = PROJECT_FOOTER,
};
#define VERB_SPEC(var, verb, what)                                                                                     \
    static const kiln_cmdspec var = {.name = verb, .text = what, .opts = verb_opts, .footer = VERB_FOOTER}
VERB_SPEC(seed_spec, "seed", "Load the project's seeds (CSV files) into Iceberg tables of the profile's warehouse.");
VERB_SPEC(run_spec, "run", "Build the selected models into Iceberg tables, in dependency order.");
VERB_SPEC(test_spec, "test", "Run the selected data tests (generic and singular) against the warehouse.");
VERB_SPEC(snapshot_spec, "snapshot",
          "Run the selected snapshots: record changes of their queries as SCD type 2 rows\n"
          "(dbt_valid_from/dbt_valid_to), strategy timestamp or check.");
VERB_SPEC(build_spec, "build",
          "Seeds, models and tests in one DAG: each node's tests run right after it, and\n"
          "a failing test skips everything downstream.");

/* Join the values of a repeatable option with spaces (dbt's union), into
 * storage that lives as long as the command. */
static const char *joined(const kiln_args *a, const char *name, char *buf, size_t cap)
{
    const char *v[64];
    int n = kiln_opt_values(a, name, v, 64);
    if (n == 0)
        return NULL;
    if (n == 1)
        return v[0];
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < n && i < 64; i++) {
        size_t l = strlen(v[i]);
        if (len + l + 2 > cap)
            break;
        if (len)
            buf[len++] = ' ';
        memcpy(buf + len, v[i], l + 1);
        len += l;
    }
    return buf;
}

static char sel_buf[4096], msel_buf[4096], excl_buf[4096], rt_buf[1024];

/* Parse the flags dbt's commands share. Returns 0, or sets *exit. */
static int parse_project(const kiln_cmdspec *spec, int argc, char **argv, kiln_models_opts *o, int *exit_code)
{
    kiln_args a;
    memset(o, 0, sizeof *o);
    if (kiln_opt_parse(&a, spec, argc, argv)) {
        *exit_code = a.exit;
        return -1;
    }
    o->project_dir = kiln_opt_get(&a, "--project-dir");
    o->warehouse = kiln_cli_warehouse_option(); /* global --warehouse overrides the profile's */
    o->profiles_dir = kiln_opt_get(&a, "--profiles-dir");
    o->target = kiln_opt_get(&a, "--target");
    o->vars = kiln_opt_get(&a, "--vars");
    const char *s = joined(&a, "--select", sel_buf, sizeof sel_buf);
    const char *m = joined(&a, "--models", msel_buf, sizeof msel_buf);
    if (s && m) {
        *exit_code = kiln_opt_usage(&a, "give --select or --models, not both");
        return -1;
    }
    o->select = s ? s : m;
    o->exclude = joined(&a, "--exclude", excl_buf, sizeof excl_buf);
    o->resource_types = joined(&a, "--resource-type", rt_buf, sizeof rt_buf);
    o->state = kiln_opt_get(&a, "--state");
    long long threads = 0;
    if ((*exit_code = kiln_opt_int(&a, "--threads", 1, 1024, &threads)))
        return -1;
    o->threads = (int)threads;
    if (spec == &ls_spec)
        o->output = kiln_opt_get(&a, "--output");
    if (spec->opts == verb_opts || spec == &compile_spec)
        o->full_refresh = kiln_opt_has(&a, "--full-refresh") > 0;
    if (spec == &compile_spec)
        o->no_partial_parse = kiln_opt_has(&a, "--no-partial-parse") > 0;
    if (spec->opts == verb_opts)
        o->fail_fast = kiln_opt_has(&a, "--fail-fast") > 0;
    if (spec->opts == verb_opts) { /* microbatch */
        o->event_time_start = kiln_opt_get(&a, "--event-time-start");
        o->event_time_end = kiln_opt_get(&a, "--event-time-end");
        o->defer = kiln_opt_has(&a, "--defer") > 0;
        if (o->defer && !o->state) {
            *exit_code = kiln_opt_usage(&a, "--defer needs --state DIR (the manifest to defer to)");
            return -1;
        }
    }
    return 0;
}

/* A project error: the message, and the exit code for its kind (a broken
 * project file is the work failing: 1). */
static int project_fail(const kiln_err *err)
{
    switch (err->code) {
    case KILN_EINVAL: kiln_cli_print_error(err->msg); return KILN_EXIT_USAGE;
    case KILN_ECONFIG: kiln_cli_print_error(err->msg); return KILN_EXIT_CONFIG;
    case KILN_ENOTFOUND:
        kiln_cli_print_error(err->msg);
        return strstr(err->msg, "dbt_project.yml") ? KILN_EXIT_NOTFOUND : KILN_EXIT_FAIL;
    case KILN_ENOMEM:
    case KILN_EINTERNAL: kiln_cli_print_error(err->msg); return KILN_EXIT_INTERNAL;
    default: kiln_cli_print_error(err->msg); return KILN_EXIT_FAIL;
    }
}

static int run_verb(const kiln_cmdspec *spec, int argc, char **argv)
{
    kiln_models_opts o;
    int rc = 0;
    if (parse_project(spec, argc, argv, &o, &rc))
        return rc;
    kiln_err err = {0};
    int failed = 0;
    if (kiln_models_run(spec->name, &o, stdout, &failed, &err))
        return project_fail(&err);
    return failed ? KILN_EXIT_FAIL : 0;
}

static int run_seed(int argc, char **argv) { return run_verb(&seed_spec, argc, argv); }
static int run_run(int argc, char **argv) { return run_verb(&run_spec, argc, argv); }
static int run_test(int argc, char **argv) { return run_verb(&test_spec, argc, argv); }
static int run_build(int argc, char **argv) { return run_verb(&build_spec, argc, argv); }
static int run_snapshot(int argc, char **argv) { return run_verb(&snapshot_spec, argc, argv); }

static int run_compile(int argc, char **argv)
{
    kiln_models_opts o;
    int rc = 0;
    if (parse_project(&compile_spec, argc, argv, &o, &rc))
        return rc;
    kiln_err err = {0};
    if (kiln_models_compile(&o, stdout, &err))
        return project_fail(&err);
    return 0;
}

static int run_ls(int argc, char **argv)
{
    kiln_models_opts o;
    int rc = 0;
    if (parse_project(&ls_spec, argc, argv, &o, &rc))
        return rc;
    kiln_err err = {0};
    if (kiln_models_ls(&o, stdout, &err))
        return project_fail(&err);
    return 0;
}

static const kiln_opt jinja_opts[] = {
    {"--vars", 0, KILN_OPT_VALUE, "JSON", "variables for the templates (a JSON object)"}, KILN_OPT_END};

static const kiln_cmdspec jinja_spec = {
    .name = "jinja",
    .args = "FILE...",
    .min_args = 1,
    .max_args = -1,
    .text = "Render each Jinja template FILE to stdout with dbt's Jinja settings (no\n"
            "trim_blocks/lstrip_blocks, trailing newline dropped, undefined names print\n"
            "as nothing). --vars gives a JSON object whose members are variables.",
    .opts = jinja_opts,
    .footer = "exit codes: 0 ok, 1 template error (file:line:column on stderr), 2 usage,\n"
              "4 no such file\ndocs: docs/models.md\n",
};

static int run_jinja(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &jinja_spec, argc, argv))
        return a.exit;
    const char *vars = kiln_opt_get(&a, "--vars");
    int rc = 0;
    for (int i = 0; i < a.npos && !rc; i++) {
        kiln_buf out;
        kiln_buf_init(&out, 0);
        kiln_err err = {0};
        if (kiln_models_render_file(a.pos[i], vars, &out, &err)) {
            rc = err.code == KILN_EIO || err.code == KILN_ENOTFOUND ? kiln_cli_fail(&err)
                                                                    : (kiln_cli_print_error(err.msg), KILN_EXIT_FAIL);
        } else {
            fwrite(out.data ? out.data : "", 1, out.len, stdout);
        }
        kiln_buf_free(&out);
    }
    fflush(stdout);
    return rc;
}

KILN_COMMAND(cmd_jinja, "jinja", "render Jinja templates as dbt does (debugging aid)", NULL, run_jinja, 75, NULL, 0,
             &jinja_spec)
KILN_COMMAND(cmd_compile, "compile", "render a dbt project's models and tests into target/compiled/", NULL, run_compile,
             70, NULL, 0, &compile_spec)
KILN_COMMAND(cmd_ls, "ls", "list a dbt project's nodes (with dbt's selection syntax)", NULL, run_ls, 71, NULL, 0,
             &ls_spec)
KILN_COMMAND(cmd_seed, "seed", "load a dbt project's seeds (CSV) into Iceberg tables", NULL, run_seed, 72, NULL, 0,
             &seed_spec)
KILN_COMMAND(cmd_run, "run", "build a dbt project's models into Iceberg tables", NULL, run_run, 73, NULL, 0, &run_spec)
KILN_COMMAND(cmd_test, "test", "run a dbt project's data tests", NULL, run_test, 74, NULL, 0, &test_spec)
KILN_COMMAND(cmd_build, "build", "seeds, models and tests of a dbt project in one DAG", NULL, run_build, 74, NULL, 0,
             &build_spec)
KILN_COMMAND(cmd_snapshot, "snapshot", "record a dbt project's snapshots (SCD type 2)", NULL, run_snapshot, 74, NULL, 0,
             &snapshot_spec)

/* ---- models3: `kiln docs generate`, `kiln source freshness` ---- */

static const kiln_subcmd docs_subs[] = {
    {"generate", NULL, 0, 0, "write manifest.json, catalog.json and the static site target/index.html",
     "Compiles the project, writes <target-path>/manifest.json, catalog.json (each\n"
     "relation's columns and Iceberg types, read from the warehouse) and index.html:\n"
     "one self-contained page (no network at view time) with the project overview,\n"
     "every model, seed, snapshot, source and test with columns, types,\n"
     "descriptions, tests and compiled SQL, search, and a lineage graph.",
     NULL},
};
static const kiln_opt docs_opts[] = {PROJECT_OPTS, KILN_OPT_END};
static const kiln_cmdspec docs_spec = {
    .name = "docs",
    .text = "A dbt project's documentation site (dbt's `docs generate`). Open\n"
            "target/index.html in a browser; it needs no server.",
    .opts = docs_opts,
    .subs = docs_subs,
    .nsubs = 1,
    .footer = PROJECT_FOOTER,
};

static const kiln_subcmd source_subs[] = {
    {"freshness", NULL, 0, 0, "check each source's max(loaded_at_field) against warn_after/error_after",
     "For each selected source table with a freshness config (warn_after and/or\n"
     "error_after) and a loaded_at_field: select max(loaded_at_field) (with the\n"
     "freshness filter), then PASS, WARN (older than warn_after) or ERROR STALE\n"
     "(older than error_after). Writes <target-path>/sources.json.",
     NULL},
};
static const kiln_opt source_opts[] = {PROJECT_OPTS, KILN_OPT_END};
static const kiln_cmdspec source_spec = {
    .name = "source",
    .text = "A dbt project's sources: `kiln source freshness` (dbt's command).",
    .opts = source_opts,
    .subs = source_subs,
    .nsubs = 1,
    .footer = "exit codes: 0 every source fresh or only warnings, 1 a source stale past\n"
              "error_after or its query failed (or a project error), 2 usage, 3 profile\n"
              "error, 4 no project\ndocs: docs/models.md\n",
};

static int run_docs(int argc, char **argv)
{
    kiln_models_opts o;
    int rc = 0;
    if (parse_project(&docs_spec, argc, argv, &o, &rc))
        return rc;
    kiln_err err = {0};
    if (kiln_models_docs_generate(&o, stdout, &err))
        return project_fail(&err);
    return 0;
}

/* ------------------------------------------------------------ lineage */

static const kiln_opt lineage_opts[] = {
    {"--project-dir", 0, KILN_OPT_VALUE, "DIR", "the dbt project (default: the current directory)"},
    {"--profiles-dir", 0, KILN_OPT_VALUE, "DIR",
     "where profiles.yml is (default: $DBT_PROFILES_DIR, then\nthe project directory, then ~/.dbt)"},
    {"--target", 't', KILN_OPT_VALUE, "NAME", "the profile output to use (default: the profile's target)"},
    {"--vars", 0, KILN_OPT_VALUE, "YAML", "variables, a YAML mapping: '{key: value}'"},
    {"--downstream", 'd', 0, NULL, "the model columns computed from COLUMN, instead of its sources"},
    {"--json", 'j', 0, NULL, "print one JSON object: {direction, columns: [{relation, column, ...}]}"},
    KILN_OPT_END};

static const kiln_cmdspec lineage_spec = {
    .name = "lineage",
    .args = "MODEL.COLUMN",
    .min_args = 1,
    .max_args = 1,
    .text = "Column-level lineage from the compiled SQL: the columns a model column's\n"
            "value is computed from, through CTEs, subqueries, joins, aggregates, SELECT *\n"
            "and renames, up to seeds and sources (--downstream: the other way). MODEL is a\n"
            "model, seed or snapshot name or its relation (analytics.orders), or a source\n"
            "as SOURCE.TABLE; COLUMN * follows the rows (count(*) depends on them).",
    .opts = lineage_opts,
    .footer = "exit codes: 0 ok, 1 no such model or column (or a project error), 2 usage,\n"
              "3 profile error, 4 no project\ndocs: docs/cli/lineage.md, docs/models.md\n",
};

static int run_lineage(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &lineage_spec, argc, argv))
        return a.exit;
    kiln_models_opts o;
    memset(&o, 0, sizeof o);
    o.project_dir = kiln_opt_get(&a, "--project-dir");
    o.profiles_dir = kiln_opt_get(&a, "--profiles-dir");
    o.target = kiln_opt_get(&a, "--target");
    o.vars = kiln_opt_get(&a, "--vars");
    o.warehouse = kiln_cli_warehouse_option();
    kiln_err err = {0};
    if (kiln_models_lineage(&o, a.pos[0], kiln_opt_has(&a, "--downstream") > 0, kiln_opt_has(&a, "--json") > 0, stdout,
                            &err))
        return project_fail(&err);
    return 0;
}

static int run_source(int argc, char **argv)
{
    kiln_models_opts o;
    int rc = 0;
    if (parse_project(&source_spec, argc, argv, &o, &rc))
        return rc;
    kiln_err err = {0};
    int failed = 0;
    if (kiln_models_source_freshness(&o, stdout, &failed, &err))
        return project_fail(&err);
    return failed ? KILN_EXIT_FAIL : 0;
}

KILN_COMMAND(cmd_docs, "docs", "a dbt project's documentation site (docs generate)", NULL, run_docs, 76, NULL, 0,
             &docs_spec)
KILN_COMMAND(cmd_source, "source", "a dbt project's sources: source freshness", NULL, run_source, 76, NULL, 0,
             &source_spec)
KILN_COMMAND(cmd_lineage, "lineage", "column-level lineage of a dbt project's models", NULL, run_lineage, 76, NULL, 0,
             &lineage_spec)

/* ------------------------------------------------------------ deps  */

static const kiln_opt deps_opts[] = {
    {"--project-dir", 0, KILN_OPT_VALUE, "DIR", "the dbt project (default: the current directory)"},
    {"--profiles-dir", 0, KILN_OPT_VALUE, "DIR", "accepted as dbt accepts it (deps reads no profile)"},
    KILN_OPT_END};
static const kiln_cmdspec deps_spec = {
    .name = "deps",
    .text = "Install the packages of packages.yml / dependencies.yml into dbt_packages/ (or\n"
            "the project's packages-install-path): a local: package is linked there as\n"
            "dbt deps links it. Hub, git, tarball and private packages are not downloaded\n"
            "(kiln has no package index access): a copy already installed is kept, else\n"
            "the entry is reported with its file:line:column and the exit code is 1.",
    .opts = deps_opts,
    .footer = "exit codes: 0 ok, 1 a package could not be installed (or a project error),\n"
              "2 usage, 4 no project\ndocs: docs/cli/deps.md, docs/models.md\n",
};

static int run_deps(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &deps_spec, argc, argv))
        return a.exit;
    kiln_models_opts o;
    memset(&o, 0, sizeof o);
    o.project_dir = kiln_opt_get(&a, "--project-dir");
    o.profiles_dir = kiln_opt_get(&a, "--profiles-dir");
    kiln_err err = {0};
    int failed = 0;
    if (kiln_models_deps(&o, stdout, &failed, &err))
        return project_fail(&err);
    return failed ? KILN_EXIT_FAIL : 0;
}

KILN_COMMAND(cmd_deps, "deps", "install a dbt project's packages (local: entries) into dbt_packages/", NULL, run_deps,
             76, NULL, 0, &deps_spec)
