/*
 * cmd_plan.c - `kiln plan`, `kiln promote` and `kiln retry`: plans of a dbt project
 * against an environment, environments as Iceberg branches. Flag parsing
 * only (opt.h tables); the work is in models.h (src/models/plan.c).
 */
#include "cli.h"
#include "models/models.h"

#include <string.h>

#define PLAN_PROJECT_OPTS                                                                                              \
    {"--project-dir", 0, KILN_OPT_VALUE, "DIR", "the dbt project (default: the current directory)"},                   \
        {"--profiles-dir", 0, KILN_OPT_VALUE, "DIR",                                                                   \
         "where profiles.yml is (default: $DBT_PROFILES_DIR, then\nthe project directory, then ~/.dbt)"},              \
        {"--target", 't', KILN_OPT_VALUE, "NAME", "the profile output to use (default: the profile's target)"},        \
    {                                                                                                                  \
        "--vars", 0, KILN_OPT_VALUE, "YAML", "variables, a YAML mapping: '{key: value}'"                               \
    }

static const kiln_opt plan_opts[] = {
    PLAN_PROJECT_OPTS,
    {"--env", 'e', KILN_OPT_VALUE, "NAME", "the environment to plan for (default: main)"},
    {"--explain", 0, 0, NULL, "say why each model is classified as it is"},
    {"--apply", 0, 0, NULL, "build the plan: on Iceberg branch NAME of each table it\nwrites (main without --env)"},
    {"--forward-only", 0, 0, NULL,
     "changed incremental models keep their history: the apply\nbuilds them incrementally (new data only), no "
     "backfill"},
    {"--restate-model", 0, KILN_OPT_VALUE, "MODELS",
     "rebuild these models (space or comma list) and their\ndownstream even when unchanged"},
    {"--start", 0, KILN_OPT_VALUE, "TIME", "with --restate-model: the first interval to rebuild\n(microbatch models)"},
    {"--end", 0, KILN_OPT_VALUE, "TIME", "with --restate-model: the end (exclusive) of the intervals"},
    KILN_OPT_END};
static const kiln_opt promote_opts[] = {PLAN_PROJECT_OPTS, KILN_OPT_END};
static const kiln_opt retry_opts[] = {
    PLAN_PROJECT_OPTS,
    {"--threads", 0, KILN_OPT_VALUE, "N", "run up to N independent nodes at once (default: the\nprofile's threads)"},
    {"--fail-fast", 'x', 0, NULL, "after the first error or failed test, skip the rest"},
    KILN_OPT_END};

static const kiln_cmdspec plan_spec = {
    .name = "plan",
    .text = "Compare a dbt project with what an environment holds and print, per model:\n"
            "unchanged, new, changed-non-breaking (rebuild it only), changed-breaking or\n"
            "indirect-breaking (rebuild it and what reads its changed columns), with the\n"
            "columns and what each must rebuild. --apply builds it: for --env NAME on\n"
            "Iceberg branch NAME of every table it writes (the others are read from main).",
    .opts = plan_opts,
    .footer = "exit codes: 0 ok, 1 a project error or a failed node, 2 usage, 3 profile error,\n"
              "4 no project\ndocs: docs/plan.md\n",
};
static const kiln_cmdspec promote_spec = {
    .name = "promote",
    .args = "ENV",
    .min_args = 1,
    .max_args = 1,
    .text = "Fast-forward main to branch ENV on every table environment ENV wrote, when\n"
            "its last `kiln plan --env ENV --apply` passed its build and tests.",
    .opts = promote_opts,
    .footer = "exit codes: 0 ok, 1 the env did not pass, 2 usage, 4 no record of the env,\n"
              "5 main moved on since the branch was cut\ndocs: docs/plan.md\n",
};

static const kiln_cmdspec retry_spec = {
    .name = "retry",
    .text = "Run again, with the same command (build, run, test, seed, snapshot), the\n"
            "nodes the last run ended in error, fail or skipped (from\n"
            "<target-path>/run_results.json), as dbt retry does.",
    .opts = retry_opts,
    .footer = "exit codes: 0 ok (or nothing to retry), 1 a node failed again, 2 usage,\n"
              "3 profile error, 4 no project or no previous run\ndocs: docs/models.md\n",
};

static int parse(const kiln_cmdspec *spec, int argc, char **argv, kiln_args *a, kiln_models_opts *o, int *exit_code)
{
    memset(o, 0, sizeof *o);
    if (kiln_opt_parse(a, spec, argc, argv)) {
        *exit_code = a->exit;
        return -1;
    }
    o->project_dir = kiln_opt_get(a, "--project-dir");
    o->warehouse = kiln_cli_warehouse_option();
    o->profiles_dir = kiln_opt_get(a, "--profiles-dir");
    o->target = kiln_opt_get(a, "--target");
    o->vars = kiln_opt_get(a, "--vars");
    return 0;
}

static int run_plan(int argc, char **argv)
{
    kiln_args a;
    kiln_models_opts o;
    int rc = 0, failed = 0;
    if (parse(&plan_spec, argc, argv, &a, &o, &rc))
        return rc;
    o.forward_only = kiln_opt_has(&a, "--forward-only") > 0;
    o.restate = kiln_opt_get(&a, "--restate-model");
    o.event_time_start = kiln_opt_get(&a, "--start");
    o.event_time_end = kiln_opt_get(&a, "--end");
    kiln_err err = {0};
    if (kiln_models_plan(&o, kiln_opt_get(&a, "--env"), kiln_opt_has(&a, "--explain") > 0,
                         kiln_opt_has(&a, "--apply") > 0, stdout, &failed, &err))
        return kiln_cli_fail(&err);
    return failed ? KILN_EXIT_FAIL : 0;
}

static int run_promote(int argc, char **argv)
{
    kiln_args a;
    kiln_models_opts o;
    int rc = 0;
    if (parse(&promote_spec, argc, argv, &a, &o, &rc))
        return rc;
    kiln_err err = {0};
    if (kiln_models_promote(&o, a.pos[0], stdout, &err))
        return kiln_cli_fail(&err);
    return 0;
}

static int run_retry(int argc, char **argv)
{
    kiln_args a;
    kiln_models_opts o;
    int rc = 0, failed = 0;
    if (parse(&retry_spec, argc, argv, &a, &o, &rc))
        return rc;
    long long threads = 0;
    if ((rc = kiln_opt_int(&a, "--threads", 1, 1024, &threads)))
        return rc;
    o.threads = (int)threads;
    o.fail_fast = kiln_opt_has(&a, "--fail-fast") > 0;
    kiln_err err = {0};
    if (kiln_models_retry(&o, stdout, &failed, &err))
        return kiln_cli_fail(&err);
    return failed ? KILN_EXIT_FAIL : 0;
}

KILN_COMMAND(cmd_plan, "plan", "plan a dbt project's changes against an environment (--apply on a branch)", NULL,
             run_plan, 77, NULL, 0, &plan_spec)
KILN_COMMAND(cmd_promote, "promote", "fast-forward main to an environment's branch on every table it wrote", NULL,
             run_promote, 77, NULL, 0, &promote_spec)
KILN_COMMAND(cmd_retry, "retry", "run again the nodes a dbt project's last run did not finish", NULL, run_retry, 74,
             NULL, 0, &retry_spec)
