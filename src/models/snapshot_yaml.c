/*
 * snapshot_yaml.c - dbt 1.9's snapshots declared in YAML:
 *
 *   snapshots:
 *     - name: orders_snapshot
 *       relation: source('shop', 'orders')     # or ref('stg_orders')
 *       description: ...
 *       config: {unique_key: id, strategy: timestamp, updated_at: updated_at}
 *
 * in a YAML file under the snapshot paths or the model paths. Each entry
 * becomes a snapshot node whose SQL is `select * from {{ relation }}`; the
 * project's `snapshots:` config tree applies, then the entry's config. The
 * snapshot runs as the SQL-block form does (run.c), its table in the
 * target schema by the model rule (1.9 snapshots are environment aware)
 * unless a schema/target_schema config says otherwise. An entry without
 * `relation` adds properties (description, config) to a snapshot of that
 * name defined in SQL.
 */
#include "models/project.h"

int kiln_models__cfg_merge_dict(kj_val cfg, kj_val src, kiln_err *err); /* project.c */

/* ref('x') / ref("x") / source('a', 'b') only (what dbt accepts) */
static int valid_relation(const char *s)
{
    while (*s == ' ')
        s++;
    if (strncmp(s, "ref(", 4) && strncmp(s, "source(", 7))
        return 0;
    const char *e = s + strlen(s);
    while (e > s && e[-1] == ' ')
        e--;
    return e > s && e[-1] == ')' && !strpbrk(s, "{}%");
}

int kiln_models__snapshots_yaml(kiln_project *p, const char *file, const km_yaml *list, kiln_err *err)
{
    int rc = 0;
    if (kiln_models__yaml_is_null(list))
        return 0;
    if (list->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, list, "snapshots must be a list");
    for (size_t i = 0; i < list->n && !rc; i++) {
        const km_yaml *m = list->kids[i], *nm = kiln_models__yaml_get(m, "name"),
                      *rel = kiln_models__yaml_get(m, "relation"), *cfg = kiln_models__yaml_get(m, "config"),
                      *desc = kiln_models__yaml_get(m, "description");
        if (m->type != KM_Y_MAP || !nm || nm->type != KM_Y_SCALAR || !nm->s[0])
            return kiln_models__yfail(err, file, m, "each snapshot needs a name");
        km_node *n = NULL;
        if (rel && !kiln_models__yaml_is_null(rel)) {
            if (rel->type != KM_Y_SCALAR || !valid_relation(rel->s))
                return kiln_models__yfail(
                    err, file, rel, "snapshot '%s': relation must be ref('model') or source('source', 'table')", nm->s);
            char *raw = kiln_sprintf("select * from {{ %s }}\n", rel->s);
            if (!raw)
                return KILN_OOM(err);
            rc = kiln_models__add_yaml_node(p, KM_SNAPSHOT, nm->s, file, raw, &n, err);
            kiln_free(raw);
            if (rc)
                return rc;
        } else {
            long idx = kiln_models__find_name(p, nm->s);
            if (idx < 0 || p->nodes.items[idx]->kind != KM_SNAPSHOT) {
                fprintf(stderr, "warning: %s:%u:%u: did not find a snapshot named '%s' for this entry\n", file, m->line,
                        m->col, nm->s);
                continue;
            }
            n = p->nodes.items[idx];
        }
        if (desc && desc->type == KM_Y_SCALAR) {
            kiln_free(n->description);
            if (!(n->description = kiln_strdup(desc->s)))
                return KILN_OOM(err);
        }
        if (cfg && !kiln_models__yaml_is_null(cfg)) {
            kj_val c;
            if (cfg->type != KM_Y_MAP)
                return kiln_models__yfail(err, file, cfg, "snapshot '%s': config must be a mapping", nm->s);
            if ((rc = kiln_models__yaml_to_kj(cfg, &c, err)))
                return rc;
            rc = kiln_models__cfg_merge_dict(n->config, c, err);
            kj_release(c);
            if (rc)
                return rc;
        }
        if (rel && !kiln_models__yaml_is_null(rel)) {
            kj_val st = kiln_models__cfg(n, "strategy");
            if (st.t != KJ_STR)
                return kiln_models__yfail(err, file, m, "snapshot '%s' needs config.strategy (timestamp or check)",
                                          nm->s);
            if (kiln_models__cfg(n, "unique_key").t == KJ_UNDEF)
                return kiln_models__yfail(err, file, m, "snapshot '%s' needs config.unique_key", nm->s);
        }
    }
    return rc;
}

int kiln_models__snapshots_yaml_file(kiln_project *p, const char *rel, kiln_err *err)
{
    char *path = kiln_sprintf("%s/%s", p->dir, rel), *text = NULL;
    size_t len = 0;
    if (!path)
        return KILN_OOM(err);
    int rc = kiln_file_read(path, (size_t)64 << 20, &text, &len, err);
    kiln_free(path);
    if (rc)
        return rc;
    km_yaml *doc = NULL;
    rc = kiln_models__yaml_parse(rel, text, len, p->arena, &doc, err);
    if (!rc && doc && doc->type == KM_Y_MAP) {
        const km_yaml *x = kiln_models__yaml_get(doc, "snapshots");
        if (x)
            rc = kiln_models__snapshots_yaml(p, rel, x, err);
    }
    kiln_free(text);
    return rc;
}
