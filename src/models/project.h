/*
 * project.h - the loaded dbt project: nodes (models, seeds, tests,
 * sources), their configs, and the Jinja environment holding the project's
 * macros. Internal to src/models (the CLI uses models.h).
 */
#ifndef KILN_MODELS_PROJECT_H
#define KILN_MODELS_PROJECT_H

#include "models/models.h"
#include "models/models_int.h"

typedef enum { KM_MODEL = 0, KM_SEED, KM_TEST, KM_SOURCE, KM_SNAPSHOT, KM_ANALYSIS } km_kind;

typedef KILN_VEC(size_t) km_idxvec;

typedef struct km_node {
    km_kind kind;
    char *name;      /* model/seed/test name; source: table name */
    char *unique_id; /* model.<project>.<name>, test.<project>.<name>.<hash>, source.<p>.<src>.<table> */
    char *path; /* file relative to the project dir ("models/staging/x.sql"); YAML file for generic tests and sources */
    char *fqn;  /* dotted: project.staging.x */
    char *raw;  /* file text (models, seeds' CSV, singular tests) */
    size_t raw_len;
    kj_tpl *tpl;    /* parsed raw (models, singular tests) */
    kj_val config;  /* merged config dict */
    kj_val columns; /* dict name -> {name, description} */
    char *description;
    uint32_t line, col; /* where a generic test/source is declared in its YAML */
    /* sources */
    char *source_name, *identifier, *schema;
    /* generic tests */
    char *test_macro;   /* "not_null", ... */
    kj_val test_kwargs; /* dict: column_name, values, to, field, ... */
    char *attached;     /* unique_id of the model the test is attached to */
    /* graph (filled by graph.c) */
    km_idxvec parents, children;
    /* compile results */
    char *compiled;
    size_t compiled_len;
    int compiled_ok;
    char *schema_name; /* from generate_schema_name (kiln_models__resolve_schemas), or NULL */
    int uses_query;    /* its render ran run_query/statement (query.c): rendered again right before it runs */
    /* the package a model/seed came from (owned by the project); NULL = the root */
    const char *package;
    kj_val constraints; /* contract.c: model-level constraints (a list), or KJ_UNDEF */
    /* partial_parse.c: a node taken from the partial-parse cache (not
     * parsed this run): its relation as ref() renders it, and its text in
     * the previous manifest.json (borrowed from the cache) */
    const char *pp_schema, *pp_ident, *pp_frag;
    size_t pp_frag_len;
} km_node;

typedef KILN_VEC(char *) km_strvec;

/* an installed package's models and seeds (project.c): its
 * dbt_project.yml name, model and seed paths (relative to the root
 * project dir), config trees and vars (KJ_NONE when absent) */
typedef struct km_package {
    char *name;
    km_strvec model_paths, seed_paths, snapshot_paths;
    kj_val cfg_models, cfg_seeds, cfg_snapshots, vars;
    kj_val on_run_start, on_run_end; /* its dbt_project.yml hooks (KJ_NONE when absent) */
} km_package;

struct kiln_project {
    char *dir; /* project directory */
    char *name, *profile_name, *version;
    km_strvec model_paths, seed_paths, macro_paths, test_paths, snapshot_paths, analysis_paths;
    char *target_path;
    kj_val vars;                                            /* dict: project vars, overridden by --vars */
    kj_val cfg_models, cfg_seeds, cfg_tests, cfg_snapshots; /* config trees (dict or none) */
    /* profile / target */
    char *target_name, *target_type, *warehouse, *schema;
    int threads;
    /* nodes */
    KILN_VEC(km_node *) nodes;
    kiln_map *by_id;                   /* unique_id -> node index + 1 */
    kiln_map *by_name;                 /* model/seed/snapshot name -> node index + 1 */
    kj_val docs;                       /* dict: doc name -> text */
    kj_env *env;                       /* macros of the project (and kiln's built-in ones) in its globals */
    kiln_arena *arena;                 /* YAML trees */
    struct kiln_lake_catalog *catalog; /* the warehouse, opened on first need (is_incremental) */
    int64_t started_micros;
    kiln_models_opts opts;
    json_t *state_manifest;   /* --state DIR's manifest.json, loaded on the first state: selector (state.c) */
    json_t *state_results;    /* --state DIR's run_results.json, loaded on the first result: selector */
    unsigned char *on_branch; /* flow3: opts.branch set: per node, 1 when its relation is read/written at the branch */
    kj_val on_run_start, on_run_end; /* dbt_project.yml hooks: list of SQL strings (KJ_NONE when absent) */
    kiln_map *test_calls; /* generic test macro name -> parsed `{{ test_NAME(**kwargs) }}` (kj_tpl *, env-owned) */
    /* query.c (models4): run_query / statement */
    struct sqlite3 *qdb; /* the warehouse, opened on the first query */
    km_node *rendering;  /* the node being rendered (marked uses_query) */
    /* one render context reused by kiln_models__render_node (its
     * rctx and variables; `this`/`execute` reset per node); see compile.c */
    void *render_rctx;
    kj_val render_ctx;
    int render_ctx_busy;
    int executing;       /* dbt's `execute`: 0 while parsing (pass 0) */
    int query_lenient;   /* run/build render up front: a failing query gives an empty table */
    kj_val statements;   /* dict: statement name -> load_result() value */
    kj_val macros;       /* list of {name, path, sql}: the project's macros (manifest.json) */
    char *packages_path; /* packages-install-path (NULL: dbt_packages) */
    kj_val cli_vars;     /* --vars as given (KJ_NONE when absent) */
    /* installed packages, in load order */
    KILN_VEC(km_package *) packages;
    /* unit_test.c, contract.c: unit tests and their outcome */
    struct km_ut_set *unit_tests; /* the unit_tests: of schema YAML, or NULL */
    unsigned char *ut_block;      /* per node: a unit test of it failed (the model is skipped) */
    struct km_ver_set *versions;  /* versions.c: model versions and groups, or NULL */
    char **defer_rel;             /* defer.c: per node, the state manifest's relation ref() reads, or NULL */
    /* partial_parse.c: what a cached parse cannot see in the files: the
     * env vars the renders read ("NAME=value\0", "NAME\0" when unset),
     * and volatile = a render read the warehouse (is_incremental) */
    kiln_buf pp_env;
    int pp_volatile;
    size_t *pp_off;  /* when set: each node's [start, end) in manifest.json (artifacts.c fills) */
    size_t pp_off_n; /* nodes pp_off has room for */
};

/* project.c */
/* kiln_project_load in two steps: the project, profile, vars, macros and
 * docs (base), then the node files and schema YAML (nodes). */
int kiln_models__load_base(kiln_project **out, const kiln_models_opts *o, kiln_err *err);
int kiln_models__load_nodes(kiln_project *p, kiln_err *err);
km_node *kiln_models__node_new(km_kind kind);
int kiln_models__add_node(kiln_project *p, km_node *n, kiln_err *err); /* takes n (freed on error) */
/* partial_parse.c: `kiln compile` from target/partial_parse.bin when only
 * model files changed (*done = 1), else *done = 0 (a full parse follows);
 * save the cache after a full compile (never fails the compile). */
struct km_pp_scan;
int kiln_models__pp_compile(const kiln_models_opts *o, FILE *out, int *done, struct km_pp_scan **scan, kiln_err *err);
struct km_pp_scan *kiln_models__pp_scan(const kiln_project *p, int64_t t0);
/* the full compile's part: stage 0 after the load (takes the pre-render
 * state), 1 after manifest.json (writes the cache), 2 on failure (removes
 * it); frees scan at stage 1 and 2 */
int kiln_models__pp_full(kiln_project *p, struct km_pp_scan *scan, int stage, void **state);
km_node *kiln_models__node(const kiln_project *p, size_t i);
long kiln_models__find_id(const kiln_project *p, const char *unique_id);
/* profiles.yml's text rendered with env_var() (compile.c) */
int kiln_models__render_profile(kiln_project *p, const char *file, const char *text, size_t len, kiln_buf *out,
                                kiln_err *err);
/* the package named name, or NULL */
const km_package *kiln_models__package(const kiln_project *p, const char *name);
long kiln_models__find_name(const kiln_project *p, const char *name);
/* A config value of a node (borrowed; KJ_UNDEF when unset). */
kj_val kiln_models__cfg(const km_node *n, const char *key);
const char *kiln_models__cfg_str(const km_node *n, const char *key, const char *def);
/* Schema a node is built in: generate_schema_name's default rule. */
char *kiln_models__node_schema(const kiln_project *p, const km_node *n); /* caller frees */
char *kiln_models__relation(const kiln_project *p, const km_node *n);    /* "schema.alias"; caller frees */

/* Does the node's relation exist in the warehouse? (0 when there is no
 * warehouse yet; never creates one.) */
int kiln_models__relation_exists(kiln_project *p, const km_node *n);
/* Would this node build incrementally now (materialized incremental, the
 * table exists, no full refresh)? */
int kiln_models__is_incremental(kiln_project *p, const km_node *n);

/* Each node's schema: the project's generate_schema_name macro when it
 * defines one, else dbt's default rule. */
int kiln_models__resolve_schemas(kiln_project *p, kiln_err *err);

/* compile.c: render every node's SQL, recording ref/source/config; fill
 * parents and compiled text. */
int kiln_models__render_all(kiln_project *p, kiln_err *err);
/* compile.c: render one node (execute: dbt's `execute`) */
int kiln_models__render_node(kiln_project *p, size_t idx, int execute, kiln_err *err);

/* compile.c (models3): a description rendered with the node's Jinja
 * context (doc(), var()...), appended to out. */
int kiln_models__render_description(kiln_project *p, size_t idx, const char *text, kiln_buf *out, kiln_err *err);

/* compile.c (models4): a pre-/post-hook's SQL rendered at run time with
 * node n's context, or an on-run-start/end hook's (n NULL) with the
 * project's; extra: more variables (a dict) or KJ_UNDEF. */
int kiln_models__render_hook(kiln_project *p, km_node *n, const char *text, kj_val extra, kiln_buf *out, kiln_err *err);

/* query.c (models4): run_query, load_result and the statement helper as
 * natives of a render context (ud = p); the `statement` macro's text. */
int kiln_models__query_natives(kiln_project *p, kj_val ctx, kiln_err *err);
extern const char kiln_models__query_macros[];

/* One node's outcome in a run (run_results.json). */
typedef struct km_result {
    size_t node;
    const char *status; /* dbt's: success, error, skipped (nodes); pass, fail, warn, error, skipped (tests) */
    int64_t started, compiled, finished; /* micros since the epoch; 0 when skipped */
    double seconds;
    int64_t failures;
    char message[512];
    char thread[16]; /* "Thread-N" that ran it ("" when skipped: Thread-1) */
    long unit_test;  /* >= 0: the index of the unit test this result is (node unused), else -1 or 0 */
    int is_unit;     /* 1 when unit_test is set */
} km_result;

/* artifacts.c: <target-path>/manifest.json and run_results.json */
int kiln_models__write_manifest(const kiln_project *p, kiln_err *err);
int kiln_models__write_run_results(const kiln_project *p, const char *verb, const km_result *res, size_t nres,
                                   double elapsed, kiln_err *err);

/* artifacts.c (models3): the manifest and catalog as JSON documents (NULL
 * on OOM; caller decrefs), catalog.json (every relation in the warehouse
 * with its columns and types) and sources.json (source freshness). */
json_t *kiln_models__manifest_json(const kiln_project *p);
json_t *kiln_models__catalog_json(kiln_project *p);
int kiln_models__write_catalog(kiln_project *p, kiln_err *err);
/* One source's freshness outcome (sources.json v3). */
typedef struct km_fresh {
    size_t node;
    const char *status;                                 /* pass, warn, error, runtime error */
    int64_t started, compiled, finished, max_loaded_at; /* micros since the epoch */
    double seconds, age_seconds;
    char message[512];
} km_fresh;
int kiln_models__write_sources(const kiln_project *p, const km_fresh *res, size_t nres, double elapsed, kiln_err *err);

/* commands.c: write n's compiled SQL to <target>/compiled/<project>/<path> */
int kiln_models__write_compiled(const kiln_project *p, const km_node *n, kiln_err *err);
/* commands.c: "Found N models, N seeds, N data tests, N sources" */
void kiln_models__print_found(const kiln_project *p, FILE *out);
/* commands.c: put ephemeral parents' SQL in front of n's as CTEs */
int kiln_models__inject_ctes(kiln_project *p, km_node *n, kiln_err *err);
/* Is model n inlined as a CTE where it is referenced: an ephemeral model,
 * or on a build on a branch a view model (view definitions are not
 * branched, so its query reads the branch's relations in place). */
int kiln_models__inlined(const kiln_project *p, const km_node *n);

/* state.c (models3): `state:` selection against --state DIR/manifest.json.
 * load: once, before selecting (an error when --state is missing or its
 * manifest unreadable). match: value is new, old, modified,
 * modified.body|configs|relation, unmodified; *bad = 1 when unknown. */
int kiln_models__state_load(kiln_project *p, kiln_err *err);
int kiln_models__state_match(const kiln_project *p, const km_node *n, const char *value, int *bad);
/* artifacts.c: one node's manifest.json text, appended to out */
int kiln_models__node_text(const kiln_project *p, const km_node *n, kiln_buf *out, kiln_err *err);
/* artifacts.c: one node as in the manifest (caller decrefs). */
json_t *kiln_models__node_json(const kiln_project *p, const km_node *n);

/* graph.c */
int kiln_models__graph_build(kiln_project *p, kiln_err *err);
/* Selected node indices in build order (sel/exclude as on the command
 * line; NULL select = everything; kinds: bitmask of 1 << km_kind). */
int kiln_models__select(kiln_project *p, const char *select, const char *exclude, unsigned kinds, km_idxvec *out,
                        kiln_err *err);

/* ---- modern dbt (unit_test.c, contract.c) ---- */

/* compile.c: render node idx with context entries replaced by dict over's */
int kiln_models__render_node_over(kiln_project *p, size_t idx, kj_val over, kiln_buf *out, kiln_err *err);
/* unit_test.c: parse a schema file's `unit_tests:` list (after its models) */
int kiln_models__ut_parse(kiln_project *p, const char *file, const km_yaml *list, kiln_err *err);
void kiln_models__ut_free(kiln_project *p);
/* How many unit tests run for the models of sel under verb (test, build). */
size_t kiln_models__ut_count(const kiln_project *p, const char *verb, const km_idxvec *sel);
/* Run the unit tests of model idx on db (temporary tables), printing dbt's
 * "N of M PASS model::test" lines; *pos advances, *npass, *nfail count.
 * skip: print them SKIP (an upstream node failed). A failure sets
 * p->ut_block[idx]. Returns nonzero only on out-of-memory. */
int kiln_models__ut_run_model(kiln_project *p, struct sqlite3 *db, const char *verb, size_t idx, int skip, FILE *out,
                              size_t *pos, size_t total, int *npass, int *nfail, int *nskip, km_result *res,
                              size_t *nres, kiln_err *err);
/* contract.c: a schema column's data_type and constraints into its dict cv;
 * a model entry's model-level constraints into n->constraints. */
int kiln_models__contract_column(const char *file, const km_yaml *c, kj_val cv, kiln_err *err);
int kiln_models__contract_model(const char *file, const km_yaml *m, km_node *n, kiln_err *err);
/* Before model n is written: with contract {enforced: true}, its rows go to
 * a temporary table on db, are checked against the contract (names, data
 * types, constraints) and *query is the select that writes them (columns in
 * the contract's order, cast to its types); NULL without a contract. A
 * mismatch is an error (nothing is committed). contract_done drops it. */
int kiln_models__contract_prepare(kiln_project *p, struct sqlite3 *db, km_node *n, char **query, kiln_err *err);
void kiln_models__contract_done(struct sqlite3 *db);
/* manifest: the node's contract and constraints, a column's data_type and constraints */
void kiln_models__contract_json(const km_node *n, json_t *node);
void kiln_models__contract_column_json(kj_val col, json_t *out);
/* plan.c: record in <warehouse>/.kiln/envs/ENV.json the nodes whose
 * status[i] == ok (kiln build on main records main). */
int kiln_models__plan_record(kiln_project *p, const char *env, const unsigned char *status, unsigned char ok,
                             kiln_err *err);
/* microbatch.c: is n a microbatch model; run its batches into rel (exists:
 * the table exists), printing a summary line to out. */
int kiln_models__microbatch_is(const km_node *n);
int kiln_models__microbatch_run(kiln_project *p, struct sqlite3 *db, size_t idx, const char *rel, int exists, FILE *out,
                                kiln_err *err);
/* project.c: add a node declared in YAML (name, file, its SQL text) with the
 * project's config tree for its kind; *out the node. */
int kiln_models__add_yaml_node(kiln_project *p, km_kind kind, const char *name, const char *file, const char *raw,
                               km_node **out, kiln_err *err);
/* snapshot_yaml.c: a YAML file's `snapshots:` (dbt 1.9: name, relation,
 * config, description); a file under the snapshot paths. */
int kiln_models__snapshots_yaml(kiln_project *p, const char *file, const km_yaml *list, kiln_err *err);
int kiln_models__snapshots_yaml_file(kiln_project *p, const char *rel, kiln_err *err);
/* versions.c: a schema file's groups, model versions, access and group
 * (before its models are read); free; is name a versioned model; the node
 * ref(name, v=...) means (-1: not versioned, -2: an error in why); may
 * `from` reference node `to` (-1 with why when a private model is
 * referenced from outside its group); manifest fields. */
int kiln_models__versions_parse(kiln_project *p, const char *file, const km_yaml *doc, kiln_err *err);
void kiln_models__versions_free(kiln_project *p);
int kiln_models__is_versioned(const kiln_project *p, const char *name);
int kiln_models__version_match(const kiln_project *p, const km_node *n, const char *what); /* version: selector */
long kiln_models__version_find(const kiln_project *p, const char *name, kj_val v, char *why, size_t cap);
/* the k-th version (in declaration order) of versioned model name: 1 and *v, *node, or 0 past the last */
int kiln_models__version_at(const kiln_project *p, const char *name, size_t k, const char **v, size_t *node);
int kiln_models__access_check(const kiln_project *p, const km_node *from, size_t to, char *why, size_t cap);
void kiln_models__versions_json(const kiln_project *p, const km_node *n, json_t *o);
json_t *kiln_models__groups_json(const kiln_project *p);
/* defer.c: --defer: nodes outside sel whose relation is missing read the
 * state manifest's relation; the selected nodes are rendered again. */
int kiln_models__defer_apply(kiln_project *p, const km_idxvec *sel, kiln_err *err);
void kiln_models__defer_free(kiln_project *p);
/* state_more.c: state:modified refinements (raw code equal but for
 * whitespace; contract changed; a called macro changed). */
int kiln_models__state_same_code(json_t *now, json_t *old);
int kiln_models__state_contract_changed(json_t *now, json_t *old);
int kiln_models__state_macros_changed(const kiln_project *p, const km_node *n);
/* result: selection (state.c) against --state DIR's run_results.json:
 * load it (once), and does unique_id's previous status equal status. */
int kiln_models__state_results_load(kiln_project *p, kiln_err *err);
int kiln_models__result_match(const kiln_project *p, const char *unique_id, const char *status);
/* unit-test selection (graph.c/unit_test.c): number of unit tests;
 * does unit test i match METHOD:VALUE directly (*known = 0: the method is
 * not one unit tests answer directly); its model; mark the selected ones. */
size_t kiln_models__ut_n(const kiln_project *p);
int kiln_models__ut_match(const kiln_project *p, size_t i, const char *method, const char *value, int *known);
size_t kiln_models__ut_model(const kiln_project *p, size_t i);
void kiln_models__ut_info(const kiln_project *p, size_t i, const char **name, const char **uid, const char **file,
                          kj_val *config);
void kiln_models__ut_mark(kiln_project *p, const unsigned char *sel);
int kiln_models__select_ut(kiln_project *p, const char *select, const char *exclude, unsigned char *out, kiln_err *err);
/* the run_results.json entry of a unit test's result (caller decrefs) */
json_t *kiln_models__ut_result_json(const kiln_project *p, const km_result *r);
/* env_var() of the Jinja context (compile.c), overrides (a dict) first. */
int kiln_models__env_var(kj_in *in, kj_val overrides, const kj_args *a, kj_val *out);
/* text that is an optionally signed run of digits (run.c: seed types) */
int kiln_models__is_int_text(const char *s);
/* every statement of sql on db, kiln's writes included (run.c) */
int kiln_models__exec_all(struct sqlite3 *db, const char *sql, long *err_at, kiln_err *err);
/* plan.c: write a model's rows on the build's branch (opts.branch_new) when
 * its table is new (exists 0: created with no main snapshot, the rows on
 * the branch only) or its columns (want, "a,b,c") differ from the table's
 * (a new schema staged on the branch, made current by promote; write 0:
 * only the schema, for an incremental model's on_schema_change). rel is
 * schema."ident@BRANCH". */
int kiln_models__branch_stage(kiln_project *p, struct sqlite3 *db, const char *rel, const char *query,
                              const char *partition, int exists, const char *want, int write, kiln_err *err);
/* The Iceberg type of column col of query, for a new column: from the
 * SQLite type of its first non-NULL value (integer -> long, real -> double,
 * blob -> binary, text or no value -> string). */
int kiln_models__col_type(struct sqlite3 *db, const char *query, const char *col, const char **out, kiln_err *err);
json_t *kiln_models__result_json(const km_result *r, int error, const char *message, json_t *failures,
                                 const char *unique_id, int compiled, const char *code, const char *relation);
/* manifest.json's "unit_tests" object (caller decrefs). */
json_t *kiln_models__ut_manifest(const kiln_project *p);

#endif /* KILN_MODELS_PROJECT_H */
