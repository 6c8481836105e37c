/*
 * versions.c - dbt model versions, access and groups (dbt 1.5+).
 *
 *   groups:
 *     - name: finance
 *       owner: {name: Fin, email: fin@example.com}
 *   models:
 *     - name: dim_customers
 *       latest_version: 2
 *       access: public            # or config: {access: ..., group: ...}
 *       versions:
 *         - v: 1                  # models/dim_customers_v1.sql
 *         - v: 2
 *           defined_in: dim_customers_current   # models/dim_customers_current.sql
 *
 * Each version is the model file `<name>_v<v>.sql` (or `defined_in`);
 * `ref('dim_customers')` is the latest version (`latest_version`, else the
 * greatest `v`), `ref('dim_customers', v=1)` (or `version=1`) that one.
 * A `private` model may only be referenced by models of its group (and
 * needs a group); `protected` and `public` by any model of the project.
 */
#include "models/project.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct km_ver {
    char *v;
    size_t node;
} km_ver;

typedef struct km_vmodel {
    char *name, *latest;
    KILN_VEC(km_ver) vs;
} km_vmodel;

typedef struct km_group {
    char *name, *file;
    kj_val owner;
} km_group;

struct km_ver_set {
    KILN_VEC(km_vmodel) models;
    KILN_VEC(km_group) groups;
};

int kiln_models__cfg_merge_dict(kj_val cfg, kj_val src, kiln_err *err); /* project.c */

void kiln_models__versions_free(kiln_project *p)
{
    struct km_ver_set *s = p->versions;
    if (!s)
        return;
    for (size_t i = 0; i < s->models.len; i++) {
        km_vmodel *m = &s->models.items[i];
        for (size_t k = 0; k < m->vs.len; k++)
            kiln_free(m->vs.items[k].v);
        kiln_vec_free(&m->vs);
        kiln_free(m->name);
        kiln_free(m->latest);
    }
    for (size_t i = 0; i < s->groups.len; i++) {
        kiln_free(s->groups.items[i].name);
        kiln_free(s->groups.items[i].file);
        kj_release(s->groups.items[i].owner);
    }
    kiln_vec_free(&s->models);
    kiln_vec_free(&s->groups);
    kiln_free(s);
    p->versions = NULL;
}

static int set_cfg_str(km_node *n, const char *key, const km_yaml *y, kiln_err *err)
{
    return kj_dict_setc(n->config, key, kj_str_c(y->s), err);
}

static const char *access_of(const km_node *n) { return kiln_models__cfg_str(n, "access", "protected"); }

static int check_access_value(const char *file, const km_yaml *y, kiln_err *err)
{
    if (y->type != KM_Y_SCALAR || (strcmp(y->s, "private") && strcmp(y->s, "protected") && strcmp(y->s, "public")))
        return kiln_models__yfail(err, file, y, "access must be private, protected or public");
    return 0;
}

/* dbt's identity of version v of model name (dbt 1.5+): unique_id
 * model.<project>.<name>.v<v>, name <name>, fqn ending <name>.v<v>, and
 * the relation <name>_v<v> (the `alias` config, unless one is set). The
 * file's own name still finds the node (ref() and schema entries). */
static int version_identity(kiln_project *p, size_t idx, const char *name, const char *v, kiln_err *err)
{
    km_node *n = p->nodes.items[idx];
    char *uid = kiln_sprintf("model.%s.%s.v%s", p->name, name, v);
    const char *dot = strrchr(n->fqn, '.');
    char *fqn = kiln_sprintf("%.*s%s.v%s", dot ? (int)(dot - n->fqn + 1) : 0, n->fqn, name, v);
    char *nm = kiln_strdup(name), *alias = kiln_sprintf("%s_v%s", name, v);
    int rc = 0;
    if (!uid || !fqn || !nm || !alias)
        rc = KILN_OOM(err);
    else if (kiln_models__find_id(p, uid) >= 0 && kiln_models__find_id(p, uid) != (long)idx)
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: %s is defined twice", n->path, uid);
    else if (!kiln_models__cfg_str(n, "alias", NULL) && (rc = kj_dict_setc(n->config, "alias", kj_str_c(alias), err)))
        ;
    else {
        kiln_map_del(p->by_id, n->unique_id, strlen(n->unique_id));
        if (!(rc = kiln_map_put(p->by_id, uid, strlen(uid), (void *)(uintptr_t)(idx + 1), err))) {
            kiln_free(n->unique_id);
            kiln_free(n->fqn);
            kiln_free(n->name);
            n->unique_id = uid;
            n->fqn = fqn;
            n->name = nm;
            uid = fqn = nm = NULL;
        }
    }
    kiln_free(uid);
    kiln_free(fqn);
    kiln_free(nm);
    kiln_free(alias);
    return rc;
}

typedef KILN_VEC(size_t) idx_vec;

/* One entry of a schema file's models: list: its versions (each a model
 * file, its identity, its config), latest_version, description and config
 * for every version, then access and group; the nodes it names go into
 * targets (the caller frees it, also on an error). */
static int model_entry(kiln_project *p, struct km_ver_set *s, const char *file, const km_yaml *m, const km_yaml *nm,
                       const km_yaml *acc, const km_yaml *grp, const km_yaml *vers, const km_yaml *lat,
                       idx_vec *targets, kiln_err *err)
{
    int rc = 0;
    if (!vers || kiln_models__yaml_is_null(vers)) {
        long idx = kiln_models__find_name(p, nm->s);
        if (idx >= 0 && p->nodes.items[idx]->kind == KM_MODEL)
            rc = kiln_vec_push(targets, (size_t)idx, err);
    } else {
        if (vers->type != KM_Y_SEQ || !vers->n)
            return kiln_models__yfail(err, file, vers, "versions must be a list of {v: ...}");
        km_vmodel vm = {kiln_strdup(nm->s), NULL, {0}};
        if (!vm.name || (rc = kiln_vec_push(&s->models, vm, err))) {
            kiln_free(vm.name);
            return rc ? rc : KILN_OOM(err);
        }
        km_vmodel *pm = &s->models.items[s->models.len - 1];
        double best = -1e300;
        for (size_t k = 0; k < vers->n && !rc; k++) {
            const km_yaml *ve = vers->kids[k], *v = kiln_models__yaml_get(ve, "v"),
                          *di = kiln_models__yaml_get(ve, "defined_in"), *vc = kiln_models__yaml_get(ve, "config");
            if (ve->type != KM_Y_MAP || !v || v->type != KM_Y_SCALAR)
                return kiln_models__yfail(err, file, ve, "each version needs v: (a number or a name)");
            char *fname = di && di->type == KM_Y_SCALAR ? kiln_strdup(di->s) : kiln_sprintf("%s_v%s", nm->s, v->s);
            long idx = fname ? kiln_models__find_name(p, fname) : -1;
            if (!fname)
                return KILN_OOM(err);
            if (idx < 0 || p->nodes.items[idx]->kind != KM_MODEL) {
                rc = kiln_models__yfail(err, file, ve, "version %s of model '%s': no model file %s.sql", v->s, nm->s,
                                        fname);
                kiln_free(fname);
                return rc;
            }
            kiln_free(fname);
            if ((rc = version_identity(p, (size_t)idx, nm->s, v->s, err)))
                return rc;
            km_ver ver = {kiln_strdup(v->s), (size_t)idx};
            if (!ver.v || (rc = kiln_vec_push(&pm->vs, ver, err))) {
                kiln_free(ver.v);
                return rc ? rc : KILN_OOM(err);
            }
            char *end;
            double d = strtod(v->s, &end);
            if (!*end && d > best) {
                best = d;
                kiln_free(pm->latest);
                if (!(pm->latest = kiln_strdup(v->s)))
                    return KILN_OOM(err);
            }
            if (vc && vc->type == KM_Y_MAP) {
                kj_val c;
                if ((rc = kiln_models__yaml_to_kj(vc, &c, err)))
                    return rc;
                rc = kiln_models__cfg_merge_dict(p->nodes.items[idx]->config, c, err);
                kj_release(c);
            }
            if (!rc)
                rc = kiln_vec_push(targets, (size_t)idx, err);
        }
        if (lat && lat->type == KM_Y_SCALAR) {
            int found = 0;
            for (size_t k = 0; k < pm->vs.len; k++)
                found |= !strcmp(pm->vs.items[k].v, lat->s);
            if (!found)
                return kiln_models__yfail(err, file, lat, "latest_version %s of model '%s' is not one of its versions",
                                          lat->s, nm->s);
            kiln_free(pm->latest);
            if (!(pm->latest = kiln_strdup(lat->s)))
                return KILN_OOM(err);
        }
        if (!pm->latest && !(pm->latest = kiln_strdup(pm->vs.items[pm->vs.len - 1].v)))
            return KILN_OOM(err);
        const km_yaml *desc = kiln_models__yaml_get(m, "description"), *cfg = kiln_models__yaml_get(m, "config");
        for (size_t k = 0; k < targets->len && !rc; k++) {
            km_node *n = p->nodes.items[targets->items[k]];
            if (desc && desc->type == KM_Y_SCALAR && !n->description && !(n->description = kiln_strdup(desc->s)))
                rc = KILN_OOM(err);
            if (!rc && cfg && cfg->type == KM_Y_MAP) {
                kj_val c;
                if (!(rc = kiln_models__yaml_to_kj(cfg, &c, err))) {
                    rc = kiln_models__cfg_merge_dict(n->config, c, err);
                    kj_release(c);
                }
            }
        }
    }
    for (size_t k = 0; k < targets->len && !rc; k++) {
        km_node *n = p->nodes.items[targets->items[k]];
        if (acc)
            rc = set_cfg_str(n, "access", acc, err);
        if (!rc && grp)
            rc = set_cfg_str(n, "group", grp, err);
    }
    return rc;
}

int kiln_models__versions_parse(kiln_project *p, const char *file, const km_yaml *doc, kiln_err *err)
{
    int rc = 0;
    if (!p->versions && !(p->versions = kiln_calloc(1, sizeof *p->versions)))
        return KILN_OOM(err);
    struct km_ver_set *s = p->versions;
    const km_yaml *groups = kiln_models__yaml_get(doc, "groups");
    for (size_t i = 0; groups && groups->type == KM_Y_SEQ && i < groups->n && !rc; i++) {
        const km_yaml *g = groups->kids[i], *nm = kiln_models__yaml_get(g, "name"),
                      *ow = kiln_models__yaml_get(g, "owner");
        if (g->type != KM_Y_MAP || !nm || nm->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, g, "each group needs a name");
        if (!ow || ow->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, g, "group '%s' needs an owner (name or email)", nm->s);
        km_group gr = {kiln_strdup(nm->s), kiln_strdup(file), kj_none()};
        if (!gr.name || !gr.file || (rc = kiln_models__yaml_to_kj(ow, &gr.owner, err)) ||
            (rc = kiln_vec_push(&s->groups, gr, err))) {
            kiln_free(gr.name);
            kiln_free(gr.file);
            kj_release(gr.owner);
            return rc ? rc : KILN_OOM(err);
        }
    }
    const km_yaml *models = kiln_models__yaml_get(doc, "models");
    for (size_t i = 0; models && models->type == KM_Y_SEQ && i < models->n && !rc; i++) {
        const km_yaml *m = models->kids[i], *nm = kiln_models__yaml_get(m, "name");
        if (m->type != KM_Y_MAP || !nm || nm->type != KM_Y_SCALAR)
            continue; /* parse_schema_models reports it */
        const km_yaml *acc = kiln_models__yaml_get(m, "access"), *grp = kiln_models__yaml_get(m, "group"),
                      *vers = kiln_models__yaml_get(m, "versions"), *lat = kiln_models__yaml_get(m, "latest_version");
        if (acc && (rc = check_access_value(file, acc, err)))
            return rc;
        if (grp && grp->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, grp, "group must be a group name");
        idx_vec targets = {0};
        rc = model_entry(p, s, file, m, nm, acc, grp, vers, lat, &targets, err);
        kiln_vec_free(&targets);
    }
    return rc;
}

/* dbt's `version:` selector: latest, prerelease (greater than the latest),
 * old (less than it), none (not versioned). */
int kiln_models__version_match(const kiln_project *p, const km_node *n, const char *what)
{
    for (size_t i = 0; p->versions && i < p->versions->models.len; i++) {
        km_vmodel *m = &p->versions->models.items[i];
        for (size_t k = 0; k < m->vs.len; k++) {
            if (p->nodes.items[m->vs.items[k].node] != n)
                continue;
            char *e1, *e2;
            double v = strtod(m->vs.items[k].v, &e1), l = strtod(m->latest, &e2);
            int cmp = *e1 || *e2 ? strcmp(m->vs.items[k].v, m->latest) : (v > l) - (v < l);
            return !strcmp(what, "latest")       ? cmp == 0
                   : !strcmp(what, "prerelease") ? cmp > 0
                   : !strcmp(what, "old")        ? cmp < 0
                                                 : 0;
        }
    }
    return !strcmp(what, "none") && n->kind == KM_MODEL;
}

int kiln_models__is_versioned(const kiln_project *p, const char *name)
{
    for (size_t i = 0; p->versions && i < p->versions->models.len; i++)
        if (!strcmp(p->versions->models.items[i].name, name))
            return 1;
    return 0;
}

int kiln_models__version_at(const kiln_project *p, const char *name, size_t k, const char **v, size_t *node)
{
    for (size_t i = 0; p->versions && i < p->versions->models.len; i++) {
        km_vmodel *m = &p->versions->models.items[i];
        if (strcmp(m->name, name) || k >= m->vs.len)
            continue;
        *v = m->vs.items[k].v;
        *node = m->vs.items[k].node;
        return 1;
    }
    return 0;
}

long kiln_models__version_find(const kiln_project *p, const char *name, kj_val v, char *why, size_t cap)
{
    for (size_t i = 0; p->versions && i < p->versions->models.len; i++) {
        km_vmodel *m = &p->versions->models.items[i];
        if (strcmp(m->name, name))
            continue;
        char want[64];
        if (v.t == KJ_INT)
            snprintf(want, sizeof want, "%lld", (long long)v.u.i);
        else if (v.t == KJ_STR)
            snprintf(want, sizeof want, "%s", v.u.s->p);
        else if (v.t == KJ_FLOAT)
            snprintf(want, sizeof want, "%g", v.u.f);
        else
            snprintf(want, sizeof want, "%s", m->latest);
        for (size_t k = 0; k < m->vs.len; k++)
            if (!strcmp(m->vs.items[k].v, want))
                return (long)m->vs.items[k].node;
        snprintf(why, cap, "model '%s' has no version %s", name, want);
        return -2;
    }
    if (v.t != KJ_UNDEF && v.t != KJ_NONE) {
        snprintf(why, cap, "model '%s' has no versions (ref() with v=)", name);
        return -2;
    }
    return -1;
}

int kiln_models__access_check(const kiln_project *p, const km_node *from, size_t to, char *why, size_t cap)
{
    const km_node *t = p->nodes.items[to];
    if (t->kind != KM_MODEL || from == t || strcmp(access_of(t), "private"))
        return 0;
    const char *tg = kiln_models__cfg_str(t, "group", NULL), *fg = kiln_models__cfg_str(from, "group", NULL);
    if (!tg) {
        snprintf(why, cap, "model '%s' is private but belongs to no group (give it config group:)", t->name);
        return -1;
    }
    if (from->kind == KM_TEST)
        return 0; /* tests of a private model */
    if (!fg || strcmp(fg, tg)) {
        snprintf(why, cap,
                 "Node %s attempted to reference node %s, which is not allowed because the referenced node is private "
                 "to the '%s' group",
                 from->unique_id, t->unique_id, tg);
        return -1;
    }
    return 0;
}

void kiln_models__versions_json(const kiln_project *p, const km_node *n, json_t *o)
{
    json_object_set_new(o, "access", json_string(access_of(n)));
    const char *g = kiln_models__cfg_str(n, "group", NULL);
    json_object_set_new(o, "group", g ? json_string(g) : json_null());
    for (size_t i = 0; p->versions && i < p->versions->models.len; i++) {
        km_vmodel *m = &p->versions->models.items[i];
        for (size_t k = 0; k < m->vs.len; k++)
            if (p->nodes.items[m->vs.items[k].node] == n) {
                char *e;
                double d = strtod(m->vs.items[k].v, &e);
                json_object_set_new(o, "version",
                                    *e                           ? json_string(m->vs.items[k].v)
                                    : d == (double)(json_int_t)d ? json_integer((json_int_t)d)
                                                                 : json_real(d));
                d = strtod(m->latest, &e);
                json_object_set_new(o, "latest_version",
                                    *e                           ? json_string(m->latest)
                                    : d == (double)(json_int_t)d ? json_integer((json_int_t)d)
                                                                 : json_real(d));
                return;
            }
    }
}

json_t *kiln_models__groups_json(const kiln_project *p)
{
    json_t *o = json_object();
    for (size_t i = 0; p->versions && o && i < p->versions->groups.len; i++) {
        km_group *g = &p->versions->groups.items[i];
        char *id = kiln_sprintf("group.%s.%s", p->name, g->name);
        json_t *owner = json_object();
        kj_val *nm = kj_dict_getc(g->owner, "name"), *em = kj_dict_getc(g->owner, "email");
        json_object_set_new(owner, "name", nm && nm->t == KJ_STR ? json_string(nm->u.s->p) : json_null());
        json_object_set_new(owner, "email", em && em->t == KJ_STR ? json_string(em->u.s->p) : json_null());
        json_object_set_new(o, id ? id : "",
                            json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "name", g->name, "resource_type", "group",
                                      "package_name", p->name, "path", g->file, "original_file_path", g->file,
                                      "unique_id", id ? id : "", "owner", owner));
        kiln_free(id);
    }
    return o;
}
