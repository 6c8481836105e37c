/*
 * models.h - kiln's dbt-compatible model layer: the public API the CLI
 * uses (one header for the module; src/models/jinja.h is internal).
 *
 * Today: loading a project (dbt_project.yml, profiles.yml, models, schema
 * YAML, seeds, macros, singular tests), rendering and compiling it into
 * target/compiled/, the node graph with dbt's selection syntax, `ls`, and
 * rendering one Jinja file (`kiln jinja`). See docs/models.md for what works
 * and what does not yet.
 */
#ifndef KILN_MODELS_H
#define KILN_MODELS_H

#include "base/base.h"

/* Render the Jinja template in file `path` with dbt's Jinja settings.
 * vars_json: a JSON object whose members become template variables, or
 * NULL. The output is appended to out. Errors: KILN_EIO (file),
 * KILN_EFORMAT (template syntax: "path:line:col: message"), KILN_EINVAL
 * (evaluation: "path:line:col: message (in macro ...)"), KILN_ELIMIT. */
int kiln_models_render_file(const char *path, const char *vars_json, kiln_buf *out, kiln_err *err);
/* Render the template text src[0..len) the same way; name is what errors
 * call it ("dags/x.yml:12:9" style positions are relative to the text).
 * The orchestrator renders task strings through this (one Jinja in kiln). */
int kiln_models_render_string(const char *name, const char *src, size_t len, const char *vars_json, kiln_buf *out,
                              kiln_err *err);

/* What a command line gives (dbt's flags). Strings are borrowed. */
typedef struct kiln_models_opts {
    const char *project_dir;    /* NULL: "." */
    const char *profiles_dir;   /* NULL: $DBT_PROFILES_DIR, then the project dir, then ~/.dbt */
    const char *target;         /* NULL: the profile's `target` */
    const char *vars;           /* --vars: a YAML (or JSON) mapping, or NULL */
    const char *select;         /* --select (space-separated union, ',' intersection), or NULL */
    const char *exclude;        /* --exclude, or NULL */
    const char *resource_types; /* --resource-type list (space-separated), or NULL */
    const char *output;         /* ls --output: "selector" (default), "name", "path", "json" */
    int threads;                /* 0: the profile's */
    int full_refresh, fail_fast;
    const char *warehouse; /* the global --warehouse: overrides the profile's, or NULL */
    const char *state;     /* --state: a directory with a previous manifest.json (state: selection), or NULL */
    /* flow3 (the orchestrator's backfill --branch): build on Iceberg branch
     * NAME. Every table the build writes is written on branch NAME (created
     * at main's head when missing; an existing table keeps its columns; a
     * new table is created with its rows on branch NAME only, main without
     * a snapshot until the branch is published); ref()/source() of a table written by this build or
     * having branch NAME read that branch, every other table reads main.
     * NULL = main (the default). */
    const char *branch;
    /* --event-time-start / --event-time-end (microbatch models), or NULL */
    const char *event_time_start, *event_time_end;
    int defer; /* --defer (with --state): unbuilt refs read the state manifest's relations */
    /* kiln plan --forward-only (changed incremental models keep their
     * history on the branch: built incrementally, not replaced) and
     * --restate-model (space/comma list: rebuild them and their downstream;
     * microbatch models only the intervals of --start/--end, kept in
     * event_time_start/end) */
    int forward_only;
    const char *restate;
    /* kiln plan --apply on an environment: a model whose table main does
     * not have is created with no main snapshot and its rows on the branch
     * only (promote publishes them) */
    int branch_new;
    /* kiln compile --no-partial-parse: parse every file (dbt's flag); without
     * it, compile reuses <target-path>/partial_parse.bin when it can prove
     * that only model files changed (docs/models.md "Partial parsing") */
    int no_partial_parse;
} kiln_models_opts;

typedef struct kiln_project kiln_project;

/* Load the project in o->project_dir with its profile. Errors name
 * file:line:column: KILN_ENOTFOUND (no dbt_project.yml), KILN_ECONFIG
 * (profile), KILN_EFORMAT (YAML, Jinja syntax, schema content).
 * OUT: *out, caller frees with kiln_project_free. */
int kiln_project_load(kiln_project **out, const kiln_models_opts *o, kiln_err *err);
void kiln_project_free(kiln_project *p); /* NULL is a no-op */
/* flow3: the warehouse directory the loaded project's profile writes to. */
const char *kiln_project_warehouse(const kiln_project *p);

/* `kiln ls`: load, render, build the graph, print the selected nodes to
 * out (one per line, dbt's selector form unless o->output says). */
int kiln_models_ls(const kiln_models_opts *o, FILE *out, kiln_err *err);

/* `kiln compile`: load, render every node, build the graph (unknown refs
 * and cycles are errors), write the compiled SQL of the selected nodes to
 * <target-path>/compiled/<project>/<path>; print a dbt-style summary to out. */
int kiln_models_compile(const kiln_models_opts *o, FILE *out, kiln_err *err);

/* `kiln seed` / `run` / `test` / `build` (verb): run the selected nodes
 * of that kind in dbt's order into the profile's warehouse, printing one
 * line per node and `Done. PASS=.. WARN=.. ERROR=.. SKIP=.. TOTAL=..` to
 * out. Returns a negative code when the project cannot run at all (load,
 * compile, graph errors); otherwise 0 with *failed = nodes that ended in
 * ERROR or FAIL. */
int kiln_models_run(const char *verb, const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err);

/* `kiln lineage TARGET`: column-level lineage from the compiled SQL.
 * target: "[schema.]model.column", "source.table.column" or
 * "schema.identifier.column" ("*" as the column: the rows). Prints the
 * columns the target's value comes from, up to seeds and sources (or with
 * downstream, the model columns computed from it), as an indented tree or
 * (json) one JSON object. Errors: KILN_ENOTFOUND (no such node or column),
 * KILN_EINVAL (target syntax), and the project's load/render errors. */
int kiln_models_lineage(const kiln_models_opts *o, const char *target, int downstream, int json, FILE *out,
                        kiln_err *err);
/* ---- models3: docs site, source freshness ---- */

/* `kiln docs generate`: compile the project, write manifest.json,
 * catalog.json (each relation's columns and types from the warehouse) and
 * a static documentation site, <target-path>/index.html (everything
 * embedded: no network at view time). Prints what it wrote to out. */
int kiln_models_docs_generate(const kiln_models_opts *o, FILE *out, kiln_err *err);

/* `kiln source freshness`: max(loaded_at_field) of each selected source
 * table with a freshness config against its warn_after/error_after; one
 * line per source and `Done. PASS=.. WARN=.. ERROR=..` to out; writes
 * <target-path>/sources.json. Returns a negative code when the project
 * cannot run; otherwise 0 with *failed = sources in error (stale or a
 * query that failed). */
int kiln_models_source_freshness(const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err);

/* ---- deps ---- */

/* `kiln deps`: for each packages.yml / dependencies.yml entry, a `local:`
 * package is linked into the packages-install-path (dbt_packages/<name>,
 * a relative symlink, as dbt deps does); hub, git, tarball and private
 * packages are not downloaded: one already there is kept, otherwise an
 * ERROR line names the entry's file:line:column. Lines to out; returns a
 * negative code when the project cannot be read, else 0 with *failed =
 * entries that could not be installed. */
int kiln_models_deps(const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err);
/* ---- plans and environments on Iceberg branches (plan.c) ---- */

/* `kiln plan [--env ENV] [--explain] [--apply]`: compare the project with
 * what environment ENV (NULL: main) holds (<warehouse>/.kiln/envs/ENV.json)
 * and print per model unchanged / new / changed-non-breaking /
 * changed-breaking / indirect-breaking with the changed columns (and with
 * explain, why). apply: build the rebuild set with its tests — on Iceberg
 * branch ENV of each table it writes, every other table read from main —
 * and record the env (*failed: nodes that failed). See docs/plan.md. */
int kiln_models_plan(const kiln_models_opts *o, const char *env, int explain, int apply, FILE *out, int *failed,
                     kiln_err *err);
/* `kiln promote ENV`: when ENV's last apply passed, fast-forward main to
 * branch ENV on every table ENV wrote (each checked first: KILN_ECONFLICT
 * when main moved on, nothing changed) and make ENV's record main's. */
int kiln_models_promote(const kiln_models_opts *o, const char *env, FILE *out, kiln_err *err);

/* `kiln retry` (retry.c): run again, with the last run's verb, the nodes
 * that ended in error, fail or skipped in <target-path>/run_results.json. */
int kiln_models_retry(const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err);

#endif /* KILN_MODELS_H */
