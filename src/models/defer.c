/*
 * defer.c - dbt's `--defer` (with `--state DIR`): a ref() to a node this
 * run does not build, whose relation does not exist in the target, reads
 * the relation the state manifest names instead (e.g. the production
 * table while building one model in a dev schema). The selected nodes are
 * rendered again with those relations.
 */
#include "models/project.h"

#include <jansson.h>

int kiln_models__defer_apply(kiln_project *p, const km_idxvec *sel, kiln_err *err)
{
    int rc = kiln_models__state_load(p, err);
    if (rc)
        return rc;
    unsigned char *picked = kiln_calloc(p->nodes.len + 1, 1);
    if (!(p->defer_rel = kiln_calloc(p->nodes.len + 1, sizeof(char *))) || !picked) {
        kiln_free(picked);
        return KILN_OOM(err);
    }
    for (size_t i = 0; i < sel->len; i++)
        picked[sel->items[i]] = 1;
    json_t *nodes = json_object_get(p->state_manifest, "nodes");
    size_t ndefer = 0;
    for (size_t i = 0; i < p->nodes.len && !rc; i++) {
        km_node *n = p->nodes.items[i];
        if (picked[i] || !(n->kind == KM_MODEL || n->kind == KM_SEED || n->kind == KM_SNAPSHOT))
            continue;
        if (n->kind == KM_MODEL && !strcmp(kiln_models__cfg_str(n, "materialized", "view"), "ephemeral"))
            continue;
        json_t *sn = json_object_get(nodes, n->unique_id);
        const char *rel = json_string_value(json_object_get(sn, "relation_name"));
        if (!rel || !*rel || kiln_models__relation_exists(p, n))
            continue;
        if (!(p->defer_rel[i] = kiln_strdup(rel)))
            rc = KILN_OOM(err);
        ndefer++;
    }
    /* render the selected nodes again: their ref()s now see the deferred relations */
    for (size_t i = 0; i < sel->len && !rc && ndefer; i++) {
        km_node *n = p->nodes.items[sel->items[i]];
        if (n->kind == KM_SOURCE || n->kind == KM_SEED)
            continue;
        km_idxvec saved = {0};
        for (size_t k = 0; k < n->parents.len && !rc; k++)
            rc = kiln_vec_push(&saved, n->parents.items[k], err);
        if (!rc && !(rc = kiln_models__render_node(p, sel->items[i], 1, err))) {
            n->parents.len = 0; /* the graph is built: keep its edges */
            for (size_t k = 0; k < saved.len && !rc; k++)
                rc = kiln_vec_push(&n->parents, saved.items[k], err);
            if (!rc)
                rc = kiln_models__inject_ctes(p, n, err);
        }
        kiln_vec_free(&saved);
    }
    kiln_free(picked);
    return rc;
}

void kiln_models__defer_free(kiln_project *p)
{
    for (size_t i = 0; p->defer_rel && i < p->nodes.len; i++)
        kiln_free(p->defer_rel[i]);
    kiln_free(p->defer_rel);
    p->defer_rel = NULL;
}
