/*
 * graph.c - the node graph of a project (parents from rendering, children,
 * cycle detection naming the cycle) and dbt's node selection:
 *
 *   [@][N+]METHOD:VALUE[+N]   space = union, comma = intersection
 *
 * Methods: the default (a name, an fqn prefix like `staging` or
 * `project.staging`, with * wildcards, or a path when it has a '/' or a file
 * extension), tag:, path:, file:, fqn:, package:, config.KEY:, resource_type:,
 * source:, test_name:, test_type: (generic, singular, data, unit), result: (the
 * previous run's status, --state DIR), unit_test:. Unit tests are not nodes:
 * kiln_models__select_ut picks them (a direct match or their model). `+x` adds ancestors, `x+` descendants,
 * `@x` descendants and their ancestors; N limits the depth. Tests whose
 * parents include a selected node are added (dbt's "eager" indirect
 * selection); --exclude is applied last.
 *
 * Build order: a node's generation (longest path from a root) then its
 * unique_id, as dbt's queue orders nodes.
 */
#include "models/project.h"

#include <fnmatch.h>
#include <stdlib.h>

int kiln_models__graph_build(kiln_project *p, kiln_err *err)
{
    int rc = 0;
    size_t n = p->nodes.len;
    for (size_t i = 0; i < n; i++)
        p->nodes.items[i]->children.len = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        km_node *nd = p->nodes.items[i];
        for (size_t k = 0; k < nd->parents.len && !rc; k++)
            rc = kiln_vec_push(&p->nodes.items[nd->parents.items[k]]->children, i, err);
    }
    if (rc)
        return rc;
    /* cycle detection: iterative DFS, colors 0 white 1 grey 2 black */
    unsigned char *color = kiln_calloc(n ? n : 1, 1);
    size_t *stack = kiln_malloc((n ? n : 1) * sizeof(size_t)), *pos = kiln_malloc((n ? n : 1) * sizeof(size_t));
    if (!color || !stack || !pos) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t s = 0; s < n && !rc; s++) {
        if (color[s])
            continue;
        size_t sp = 0;
        stack[sp] = s;
        pos[sp++] = 0;
        color[s] = 1;
        while (sp && !rc) {
            size_t v = stack[sp - 1];
            km_node *nd = p->nodes.items[v];
            if (pos[sp - 1] < nd->parents.len) {
                size_t w = nd->parents.items[pos[sp - 1]++];
                if (color[w] == 1) {
                    /* the path from w down the stack is the cycle */
                    kiln_buf b;
                    kiln_buf_init(&b, 4096);
                    size_t from = 0;
                    while (from < sp && stack[from] != w)
                        from++;
                    for (size_t k = from; k < sp; k++)
                        kiln_buf_printf(&b, NULL, "%s --> ", p->nodes.items[stack[k]]->unique_id);
                    kiln_buf_printf(&b, NULL, "%s", p->nodes.items[w]->unique_id);
                    rc = kiln_err_set(err, KILN_EFORMAT, "%s: found a cycle: %s", p->nodes.items[w]->path,
                                      b.data ? b.data : "");
                    kiln_buf_free(&b);
                } else if (!color[w]) {
                    color[w] = 1;
                    stack[sp] = w;
                    pos[sp++] = 0;
                }
            } else {
                color[v] = 2;
                sp--;
            }
        }
    }
done:
    kiln_free(color);
    kiln_free(stack);
    kiln_free(pos);
    return rc;
}

/* ------------------------------------------------------------ matching */

static int glob(const char *pat, const char *s) { return fnmatch(pat, s, 0) == 0; }

/* dbt's fqn matching: the leaf name equals the selector, or the selector's
 * dotted parts are a prefix of the fqn's ('*' ends the match). */
static int fqn_match(const char *fqn, const char *sel, const char *leaf)
{
    if (glob(sel, leaf))
        return 1;
    const char *f = fqn, *s = sel;
    for (;;) {
        const char *fd = strchr(f, '.'), *sd = strchr(s, '.');
        size_t fl = fd ? (size_t)(fd - f) : strlen(f), sl = sd ? (size_t)(sd - s) : strlen(s);
        char fp[256], spt[256];
        if (fl >= sizeof fp || sl >= sizeof spt)
            return 0;
        memcpy(fp, f, fl);
        fp[fl] = 0;
        memcpy(spt, s, sl);
        spt[sl] = 0;
        if (!strcmp(spt, "*"))
            return 1;
        if (!glob(spt, fp))
            return 0;
        if (!sd)
            return 1;
        if (!fd)
            return 0;
        f = fd + 1;
        s = sd + 1;
    }
}

static const char *kind_name(km_kind k)
{
    static const char *const names[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
    return names[k];
}

static int value_matches(kj_val v, const char *want)
{
    if (v.t == KJ_LIST) {
        for (size_t i = 0; i < v.u.l->len; i++)
            if (value_matches(v.u.l->items[i], want))
                return 1;
        return 0;
    }
    if (v.t == KJ_STR)
        return glob(want, v.u.s->p);
    if (v.t == KJ_BOOL)
        return !strcasecmp(want, v.u.b ? "true" : "false");
    if (v.t == KJ_INT) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)v.u.i);
        return !strcmp(b, want);
    }
    return 0;
}

static int node_matches(const kiln_project *p, const km_node *n, const char *method, const char *value, int *bad)
{
    if (!method) {
        if (strchr(value, '/') || strstr(value, ".sql") || strstr(value, ".csv"))
            method = "path";
        else if (n->kind == KM_SOURCE)
            return 0;
        else {
            const char *fq = n->fqn;
            size_t pl = strlen(p->name);
            return fqn_match(fq, value, n->name) ||
                   (!strncmp(fq, p->name, pl) && fq[pl] == '.' && fqn_match(fq + pl + 1, value, n->name));
        }
    }
    if (!strcmp(method, "fqn"))
        return n->kind != KM_SOURCE && fqn_match(n->fqn, value, n->name);
    if (!strcmp(method, "tag"))
        return value_matches(kiln_models__cfg(n, "tags"), value);
    if (!strcmp(method, "path")) {
        size_t vl = strlen(value);
        while (vl && value[vl - 1] == '/')
            vl--;
        return (!strncmp(n->path, value, vl) && (n->path[vl] == '/' || !n->path[vl])) || glob(value, n->path);
    }
    if (!strcmp(method, "file")) {
        const char *base = strrchr(n->path, '/');
        base = base ? base + 1 : n->path;
        char stem[256];
        snprintf(stem, sizeof stem, "%s", base);
        char *dot = strrchr(stem, '.');
        if (dot)
            *dot = 0;
        return glob(value, base) || glob(value, stem);
    }
    if (!strcmp(method, "package"))
        return !strcmp(value, p->name);
    if (!strncmp(method, "config.", 7))
        return value_matches(kiln_models__cfg(n, method + 7), value);
    if (!strcmp(method, "resource_type")) {
        if (!strcmp(value, "unit_test")) /* unit tests are not nodes */
            return 0;
        return !strcmp(value, kind_name(n->kind));
    }
    if (!strcmp(method, "source")) {
        if (n->kind != KM_SOURCE)
            return 0;
        char full[512];
        snprintf(full, sizeof full, "%s.%s", n->source_name, n->name);
        return glob(value, n->source_name) || glob(value, full) ||
               (!strncmp(value, p->name, strlen(p->name)) && value[strlen(p->name)] == '.' &&
                (glob(value + strlen(p->name) + 1, full) || glob(value + strlen(p->name) + 1, n->source_name)));
    }
    if (!strcmp(method, "state"))
        return kiln_models__state_match(p, n, value, bad);
    if (!strcmp(method, "test_name"))
        return n->kind == KM_TEST && n->test_macro && glob(value, n->test_macro);
    if (!strcmp(method, "test_type")) { /* data (generic and singular), unit (unit tests: not nodes) */
        if (strcmp(value, "generic") && strcmp(value, "singular") && strcmp(value, "data") && strcmp(value, "unit")) {
            *bad = 1;
            return 0;
        }
        return n->kind == KM_TEST && (!strcmp(value, "generic")    ? n->test_macro != NULL
                                      : !strcmp(value, "singular") ? n->test_macro == NULL
                                                                   : !strcmp(value, "data"));
    }
    if (!strcmp(method, "result")) { /* the status of the previous run (--state DIR) */
        static const char *const known[] = {"success", "error",         "fail",   "warn",  "pass",
                                            "skipped", "runtime error", "reused", "no-op", NULL};
        int ok = 0;
        for (int i = 0; known[i]; i++)
            ok |= !strcmp(value, known[i]);
        if (!ok || !p->state_results) {
            *bad = 1;
            return 0;
        }
        return kiln_models__result_match(p, n->unique_id, value);
    }
    if (!strcmp(method, "unit_test")) /* unit tests are not nodes */
        return 0;
    if (!strcmp(method, "version")) { /* latest, prerelease, old, none */
        if (strcmp(value, "latest") && strcmp(value, "prerelease") && strcmp(value, "old") && strcmp(value, "none")) {
            *bad = 1;
            return 0;
        }
        return kiln_models__version_match(p, n, value);
    }
    *bad = 1;
    return 0;
}

/* does unit test i match METHOD:VALUE by itself (its name, its fqn =
 * its model's fqn + its name, tags and config, file, test_type:unit,
 * resource_type:unit_test, result:); other methods select it through its
 * model (select_atom). */
int kiln_models__ut_match(const kiln_project *p, size_t i, const char *method, const char *value, int *known)
{
    const char *name = NULL, *uid = NULL, *file = NULL;
    kj_val cfg = kj_none();
    kiln_models__ut_info(p, i, &name, &uid, &file, &cfg);
    const km_node *m = p->nodes.items[kiln_models__ut_model(p, i)];
    *known = 1;
    if (!method || !strcmp(method, "fqn") || !strcmp(method, "unit_test")) {
        if (!method && (strchr(value, '/') || strstr(value, ".yml")))
            return glob(value, file) || !strncmp(file, value, strlen(value));
        char fq[1024];
        snprintf(fq, sizeof fq, "%s.%s", m->fqn, name);
        size_t pl = strlen(p->name);
        return fqn_match(fq, value, name) ||
               (!strncmp(fq, p->name, pl) && fq[pl] == '.' && fqn_match(fq + pl + 1, value, name));
    }
    if (!strcmp(method, "test_type"))
        return !strcmp(value, "unit");
    if (!strcmp(method, "resource_type"))
        return !strcmp(value, "unit_test");
    if (!strcmp(method, "tag"))
        return cfg.t == KJ_DICT && kj_dict_getc(cfg, "tags") && value_matches(*kj_dict_getc(cfg, "tags"), value);
    if (!strncmp(method, "config.", 7))
        return cfg.t == KJ_DICT && kj_dict_getc(cfg, method + 7) &&
               value_matches(*kj_dict_getc(cfg, method + 7), value);
    if (!strcmp(method, "path") || !strcmp(method, "file")) {
        const char *base = strrchr(file, '/');
        return glob(value, file) || glob(value, base ? base + 1 : file) ||
               (!strncmp(file, value, strlen(value)) && file[strlen(value)] == '/');
    }
    if (!strcmp(method, "package"))
        return !strcmp(value, p->name);
    if (!strcmp(method, "result"))
        return p->state_results && kiln_models__result_match(p, uid, value);
    *known = 0;
    return 0;
}

/* ------------------------------------------------------------ graph walks */

static void walk_dir(const kiln_project *p, size_t start, int up, long depth, unsigned char *mark, size_t *queue,
                     long *dist)
{
    size_t head = 0, tail = 0;
    queue[tail++] = start;
    dist[start] = 0;
    while (head < tail) {
        size_t v = queue[head++];
        if (depth >= 0 && dist[v] >= depth)
            continue;
        const km_idxvec *e = up ? &p->nodes.items[v]->parents : &p->nodes.items[v]->children;
        for (size_t i = 0; i < e->len; i++) {
            size_t w = e->items[i];
            if (dist[w] >= 0)
                continue;
            dist[w] = dist[v] + 1;
            mark[w] = 1;
            queue[tail++] = w;
        }
    }
}

/* One selector atom into set (0/1 per node). */
static int select_atom(const kiln_project *p, const char *atom, unsigned char *set, unsigned char *utset, kiln_err *err)
{
    size_t n = p->nodes.len;
    const char *a = atom;
    int at = 0;
    long up = -2, down = -2; /* -2 none, -1 unlimited, else depth */
    if (*a == '@') {
        at = 1;
        a++;
    }
    const char *q = a;
    while (*q >= '0' && *q <= '9')
        q++;
    if (*q == '+') {
        up = q > a ? strtol(a, NULL, 10) : -1;
        a = q + 1;
    }
    char body[512];
    snprintf(body, sizeof body, "%s", a);
    size_t bl = strlen(body);
    size_t k = bl;
    while (k > 0 && body[k - 1] >= '0' && body[k - 1] <= '9')
        k--;
    if (k > 0 && body[k - 1] == '+') {
        down = k < bl ? strtol(body + k, NULL, 10) : -1;
        body[k - 1] = 0;
    }
    if (!body[0])
        return kiln_err_set(err, KILN_EINVAL, "selector '%s' selects nothing (no name)", atom);
    char *method = NULL, *value = body, *colon = strchr(body, ':');
    if (colon) {
        *colon = 0;
        method = body;
        value = colon + 1;
    }
    unsigned char *base = kiln_calloc(n ? n : 1, 1), *mark = kiln_calloc(n ? n : 1, 1);
    size_t *queue = kiln_malloc((n ? n : 1) * sizeof(size_t));
    long *dist = kiln_malloc((n ? n : 1) * sizeof(long));
    int rc = 0;
    if (!base || !mark || !queue || !dist) {
        rc = KILN_OOM(err);
        goto done;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        base[i] = (unsigned char)node_matches(p, p->nodes.items[i], method, value, &bad);
    if (bad) {
        if (method && (!strcmp(method, "result") || !strcmp(method, "test_type") || !strcmp(method, "version")))
            rc = kiln_err_set(err, KILN_EINVAL, "unknown value '%s' of selector method '%s' in '%s'", value, method,
                              atom);
        else
            rc = kiln_err_set(err, KILN_EINVAL, "unknown selector method '%s' in '%s'", method, atom);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        if (!base[i])
            continue;
        set[i] = 1;
        if (up != -2 || down != -2 || at) {
            memset(mark, 0, n);
            for (size_t j = 0; j < n; j++)
                dist[j] = -1;
            if (down != -2 || at)
                walk_dir(p, i, 0, at ? -1 : down, mark, queue, dist);
            for (size_t j = 0; j < n; j++)
                if (mark[j])
                    set[j] = 1;
            if (at) { /* ancestors of every descendant */
                for (size_t j = 0; j < n; j++) {
                    if (!mark[j] && j != i)
                        continue;
                    unsigned char *m2 = kiln_calloc(n, 1);
                    long *d2 = kiln_malloc(n * sizeof(long));
                    if (!m2 || !d2) {
                        kiln_free(m2);
                        kiln_free(d2);
                        rc = KILN_OOM(err);
                        goto done;
                    }
                    for (size_t x = 0; x < n; x++)
                        d2[x] = -1;
                    walk_dir(p, j, 1, -1, m2, queue, d2);
                    for (size_t x = 0; x < n; x++)
                        if (m2[x])
                            set[x] = 1;
                    kiln_free(m2);
                    kiln_free(d2);
                }
            }
            if (up != -2) {
                memset(mark, 0, n);
                for (size_t j = 0; j < n; j++)
                    dist[j] = -1;
                walk_dir(p, i, 1, up, mark, queue, dist);
                for (size_t j = 0; j < n; j++)
                    if (mark[j])
                        set[j] = 1;
            }
        }
    }
    /* a unit test is selected by a direct match (its name, its
     * model's fqn, test_type:unit, tags...) or when its model is */
    for (size_t i = 0; utset && !rc && i < kiln_models__ut_n(p); i++) {
        int known = 0;
        utset[i] =
            (unsigned char)(kiln_models__ut_match(p, i, method, value, &known) || set[kiln_models__ut_model(p, i)]);
    }
done:
    kiln_free(base);
    kiln_free(mark);
    kiln_free(queue);
    kiln_free(dist);
    return rc;
}

/* A whole --select/--exclude value: unions of intersections. */
static int select_expr(const kiln_project *p, const char *expr, unsigned char *set, unsigned char *utset, kiln_err *err)
{
    size_t n = p->nodes.len, nu = utset ? kiln_models__ut_n(p) : 0;
    int rc = 0;
    char *copy = kiln_strdup(expr);
    unsigned char *inter = kiln_malloc(n ? n : 1), *one = kiln_malloc(n ? n : 1);
    unsigned char *uinter = kiln_malloc(nu ? nu : 1), *uone = kiln_malloc(nu ? nu : 1);
    if (!copy || !inter || !one || !uinter || !uone) {
        rc = KILN_OOM(err);
        goto done;
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t\n", &save); tok && !rc; tok = strtok_r(NULL, " \t\n", &save)) {
        memset(inter, 1, n);
        memset(uinter, 1, nu);
        char *s2 = NULL;
        for (char *atom = strtok_r(tok, ",", &s2); atom && !rc; atom = strtok_r(NULL, ",", &s2)) {
            memset(one, 0, n);
            memset(uone, 0, nu);
            rc = select_atom(p, atom, one, utset ? uone : NULL, err);
            for (size_t i = 0; i < n; i++)
                inter[i] &= one[i];
            for (size_t i = 0; i < nu; i++)
                uinter[i] &= uone[i];
        }
        for (size_t i = 0; i < n && !rc; i++)
            set[i] |= inter[i];
        for (size_t i = 0; i < nu && !rc; i++)
            utset[i] |= uinter[i];
    }
done:
    kiln_free(copy);
    kiln_free(inter);
    kiln_free(one);
    kiln_free(uinter);
    kiln_free(uone);
    return rc;
}

static int load_state_for(kiln_project *p, const char *select, const char *exclude, kiln_err *err)
{
    int rc = 0;
    if (((select && strstr(select, "state:")) || (exclude && strstr(exclude, "state:"))))
        rc = kiln_models__state_load(p, err);
    if (!rc && ((select && strstr(select, "result:")) || (exclude && strstr(exclude, "result:"))))
        rc = kiln_models__state_results_load(p, err);
    return rc;
}

/* which unit tests a --select/--exclude picks (out: one byte per unit test) */
int kiln_models__select_ut(kiln_project *p, const char *select, const char *exclude, unsigned char *out, kiln_err *err)
{
    size_t n = p->nodes.len, nu = kiln_models__ut_n(p);
    int rc = load_state_for(p, select, exclude, err);
    unsigned char *set = kiln_calloc(n ? n : 1, 1), *ex = kiln_calloc(nu ? nu : 1, 1);
    if (!rc && (!set || !ex))
        rc = KILN_OOM(err);
    if (!rc) {
        if (select && *select)
            rc = select_expr(p, select, set, out, err);
        else
            memset(out, 1, nu);
    }
    if (!rc && exclude && *exclude) {
        memset(set, 0, n ? n : 1);
        rc = select_expr(p, exclude, set, ex, err);
        for (size_t i = 0; i < nu && !rc; i++)
            out[i] &= (unsigned char)!ex[i];
    }
    kiln_free(set);
    kiln_free(ex);
    return rc;
}

static const kiln_project *g_sort_p;
static long *g_gen;
static int order_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (g_gen[x] != g_gen[y])
        return g_gen[x] < g_gen[y] ? -1 : 1;
    return strcmp(g_sort_p->nodes.items[x]->unique_id, g_sort_p->nodes.items[y]->unique_id);
}

int kiln_models__select(kiln_project *p, const char *select, const char *exclude, unsigned kinds, km_idxvec *out,
                        kiln_err *err)
{
    size_t n = p->nodes.len;
    int rc = 0;
    unsigned char *set = kiln_calloc(n ? n : 1, 1), *ex = kiln_calloc(n ? n : 1, 1);
    long *gen = kiln_malloc((n ? n : 1) * sizeof(long));
    if (!set || !ex || !gen) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = load_state_for(p, select, exclude, err)))
        goto done;
    if (select && *select) {
        if ((rc = select_expr(p, select, set, NULL, err)))
            goto done;
        /* eager indirect selection: tests of selected nodes */
        for (size_t i = 0; i < n; i++) {
            km_node *nd = p->nodes.items[i];
            if (nd->kind != KM_TEST || set[i])
                continue;
            for (size_t k = 0; k < nd->parents.len; k++)
                if (set[nd->parents.items[k]])
                    set[i] = 1;
        }
    } else {
        memset(set, 1, n);
    }
    if (exclude && *exclude && (rc = select_expr(p, exclude, ex, NULL, err)))
        goto done;
    /* generation: longest path from a root (parents first: Kahn's order) */
    for (size_t i = 0; i < n; i++)
        gen[i] = -1;
    for (int changed = 1, rounds = 0; changed && rounds <= (int)n + 1; rounds++) {
        changed = 0;
        for (size_t i = 0; i < n; i++) {
            long g = 0;
            km_node *nd = p->nodes.items[i];
            for (size_t k = 0; k < nd->parents.len; k++) {
                long pg = gen[nd->parents.items[k]];
                if (pg < 0) {
                    g = -1;
                    break;
                }
                if (pg + 1 > g)
                    g = pg + 1;
            }
            if (g >= 0 && gen[i] != g) {
                gen[i] = g;
                changed = 1;
            }
        }
    }
    out->len = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (set[i] && !ex[i] && (kinds & (1u << p->nodes.items[i]->kind)))
            rc = kiln_vec_push(out, i, err);
    if (!rc && out->len) {
        g_sort_p = p;
        g_gen = gen;
        kiln_sort(out->items, out->len, sizeof(size_t), order_cmp);
    }
done:
    kiln_free(set);
    kiln_free(ex);
    kiln_free(gen);
    return rc;
}
