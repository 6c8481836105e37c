/*
 * state.c - dbt's `state:` selection method: each node compared with its
 * entry in the manifest.json of a previous run (`--state DIR`).
 *
 *   state:new         not in the previous manifest
 *   state:old         in it
 *   state:modified    new, or modified.body, .configs or .relation:
 *     .body           the file changed (sha256 checksum); a generic test's
 *                     name or arguments; a source's identifier, schema,
 *                     loaded_at_field, freshness or columns
 *     .configs        the node's merged config differs
 *     .relation       its relation name (schema, alias) differs
 *   state:unmodified  in it and not modified
 *
 * As in dbt, `state:modified+` adds what is downstream. Macros are not
 * compared (kiln's manifest has no macro entries): a change to a macro
 * alone does not mark the models that call it (docs/models.md).
 */
#include "models/project.h"

int kiln_models__state_load(kiln_project *p, kiln_err *err)
{
    if (p->state_manifest)
        return 0;
    if (!p->opts.state || !*p->opts.state)
        return kiln_err_set(err, KILN_EINVAL,
                            "the state: selector needs --state DIR (the target directory of an "
                            "earlier run, holding its manifest.json)");
    char *path = kiln_sprintf("%s/manifest.json", p->opts.state);
    if (!path)
        return KILN_OOM(err);
    json_error_t je;
    p->state_manifest = json_load_file(path, 0, &je);
    int rc = 0;
    if (!p->state_manifest)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "--state: cannot read %s: %s (line %d)", path, je.text, je.line);
    else if (!json_is_object(json_object_get(p->state_manifest, "nodes")) ||
             !json_is_object(json_object_get(p->state_manifest, "sources"))) {
        rc = kiln_err_set(err, KILN_EFORMAT, "--state: %s is not a dbt manifest (no nodes/sources)", path);
        json_decref(p->state_manifest);
        p->state_manifest = NULL;
    }
    kiln_free(path);
    return rc;
}

static int differs(json_t *a, json_t *b, const char *key)
{
    json_t *x = json_object_get(a, key), *y = json_object_get(b, key);
    if (!x && !y)
        return 0;
    return !x || !y || !json_equal(x, y);
}

static int body_changed(const km_node *n, json_t *now, json_t *old)
{
    if (n->kind == KM_SOURCE) {
        static const char *const keys[] = {"identifier", "schema", "loaded_at_field", "freshness", "columns", NULL};
        for (int i = 0; keys[i]; i++)
            if (differs(now, old, keys[i]))
                return 1;
        return 0;
    }
    if (n->kind == KM_TEST && n->test_macro)
        return differs(now, old, "test_metadata");
    json_t *a = json_object_get(json_object_get(now, "checksum"), "checksum");
    json_t *b = json_object_get(json_object_get(old, "checksum"), "checksum");
    if (a && b && !json_equal(a, b) && kiln_models__state_same_code(now, old)) /* whitespace only */
        return 0;
    return !a || !b || !json_equal(a, b);
}

int kiln_models__state_match(const kiln_project *p, const km_node *n, const char *value, int *bad)
{
    static const char *const known[] = {
        "new", "old", "modified", "modified.body", "modified.configs", "modified.relation", "unmodified", NULL};
    int ok = !strcmp(value, "modified.contract") || !strcmp(value, "modified.macros");
    for (int i = 0; known[i]; i++)
        ok |= !strcmp(value, known[i]);
    if (!ok || !p->state_manifest) {
        *bad = 1;
        return 0;
    }
    json_t *old =
        json_object_get(json_object_get(p->state_manifest, n->kind == KM_SOURCE ? "sources" : "nodes"), n->unique_id);
    if (!strcmp(value, "new"))
        return old == NULL;
    if (!strcmp(value, "old"))
        return old != NULL;
    if (!old)
        return !strncmp(value, "modified", 8); /* a new node counts as modified */
    json_t *now = kiln_models__node_json(p, n);
    if (!now)
        return 1; /* out of memory: say modified (runs it) rather than skip it */
    int body = body_changed(n, now, old), cfg = differs(now, old, "config"),
        rel = n->kind != KM_TEST && differs(now, old, "relation_name");
    int con = kiln_models__state_contract_changed(now, old),
        mac = n->kind == KM_MODEL || n->kind == KM_SNAPSHOT || n->kind == KM_TEST
                  ? kiln_models__state_macros_changed(p, n)
                  : 0;
    json_decref(now);
    if (!strcmp(value, "modified.contract"))
        return con;
    if (!strcmp(value, "modified.macros"))
        return mac;
    if (!strcmp(value, "modified.body"))
        return body;
    if (!strcmp(value, "modified.configs"))
        return cfg;
    if (!strcmp(value, "modified.relation"))
        return rel;
    int modified = body || cfg || rel || con || mac;
    return !strcmp(value, "modified") ? modified : !modified;
}

/* ------------------------------------------------------------ result:  */

/*
 * dbt's `result:STATUS` method: the nodes (and unit tests) whose status in
 * the previous run's run_results.json (`--state DIR`) equals STATUS:
 * error, fail, warn, success, pass, skipped, as dbt compares the status
 * text. `result:error+` adds what is downstream, as any selector.
 */
int kiln_models__state_results_load(kiln_project *p, kiln_err *err)
{
    if (p->state_results)
        return 0;
    if (!p->opts.state || !*p->opts.state)
        return kiln_err_set(err, KILN_EINVAL,
                            "the result: selector needs --state DIR (the target directory of an "
                            "earlier run, holding its run_results.json)");
    char *path = kiln_sprintf("%s/run_results.json", p->opts.state);
    if (!path)
        return KILN_OOM(err);
    json_error_t je;
    p->state_results = json_load_file(path, 0, &je);
    int rc = 0;
    if (!p->state_results)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "--state: cannot read %s: %s (line %d)", path, je.text, je.line);
    else if (!json_is_array(json_object_get(p->state_results, "results"))) {
        rc = kiln_err_set(err, KILN_EFORMAT, "--state: %s is not a dbt run_results.json (no results list)", path);
        json_decref(p->state_results);
        p->state_results = NULL;
    }
    kiln_free(path);
    return rc;
}

int kiln_models__result_match(const kiln_project *p, const char *unique_id, const char *status)
{
    json_t *res = json_object_get(p->state_results, "results"), *r;
    size_t i;
    json_array_foreach(res, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "unique_id")),
                   *st = json_string_value(json_object_get(r, "status"));
        if (id && st && !strcmp(id, unique_id))
            return !strcasecmp(st, status);
    }
    return 0;
}
