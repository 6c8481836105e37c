/*
 * project.c - loading a dbt project: dbt_project.yml (paths, vars, the
 * config trees with and without '+'), profiles.yml (a `kiln` target:
 * warehouse, schema, threads), the files under the model/seed/macro/test
 * paths, schema YAML (models, columns, descriptions, generic tests,
 * sources) and {% docs %} blocks. Every problem in the files is reported
 * as file:line:column.
 *
 * Configs merge as dbt's do: the project tree (deeper folders win, tags
 * add up), then the model's YAML `config:`, then `{{ config(...) }}` in
 * the file (applied when the file is rendered, compile.c).
 */
#include "models/project.h"

#include "sql/sql.h"

#include "lake/lake.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KM_FILE_CAP ((size_t)64 << 20)

/* ------------------------------------------------------------ small helpers */

km_node *kiln_models__node(const kiln_project *p, size_t i) { return p->nodes.items[i]; }

static long map_idx(kiln_map *m, const char *k)
{
    void *v = m ? kiln_map_get(m, k, strlen(k)) : NULL;
    return v ? (long)((uintptr_t)v - 1) : -1;
}
long kiln_models__find_id(const kiln_project *p, const char *id) { return map_idx(p->by_id, id); }
long kiln_models__find_name(const kiln_project *p, const char *name) { return map_idx(p->by_name, name); }

kj_val kiln_models__cfg(const km_node *n, const char *key)
{
    kj_val *v = n->config.t == KJ_DICT ? kj_dict_getc(n->config, key) : NULL;
    return v ? *v : kj_undef();
}

const char *kiln_models__cfg_str(const km_node *n, const char *key, const char *def)
{
    kj_val v = kiln_models__cfg(n, key);
    return v.t == KJ_STR ? v.u.s->p : def;
}

char *kiln_models__node_schema(const kiln_project *p, const km_node *n)
{
    if (n->kind == KM_SOURCE)
        return kiln_strdup(n->schema ? n->schema : n->source_name);
    if (n->kind == KM_SNAPSHOT && kiln_models__cfg_str(n, "target_schema", NULL))
        return kiln_strdup(kiln_models__cfg_str(n, "target_schema", NULL)); /* dbt < 1.9: used as is */
    if (n->schema_name)
        return kiln_strdup(n->schema_name);
    /* generate_schema_name: custom schema => <target.schema>_<custom> */
    const char *custom = kiln_models__cfg_str(n, "schema", NULL);
    if (custom && *custom)
        return kiln_sprintf("%s_%s", p->schema, custom);
    return kiln_strdup(p->schema);
}

char *kiln_models__relation(const kiln_project *p, const km_node *n)
{
    char *schema = kiln_models__node_schema(p, n);
    if (!schema)
        return NULL;
    const char *ident =
        n->kind == KM_SOURCE ? (n->identifier ? n->identifier : n->name) : kiln_models__cfg_str(n, "alias", n->name);
    char *r = kiln_sprintf("%s.%s", schema, ident);
    kiln_free(schema);
    return r;
}

int kiln_models__yfail(kiln_err *err, const char *file, const km_yaml *n, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kiln_err_set(err, KILN_EFORMAT, "%s:%u:%u: %s", file, n ? n->line : 1, n ? n->col : 1, msg);
}

static int ystr(const char *file, const km_yaml *n, const char *what, const char **out, kiln_err *err)
{
    *out = "";
    if (!n || n->type != KM_Y_SCALAR || kiln_models__yaml_is_null(n))
        return kiln_models__yfail(err, file, n, "%s must be a string", what);
    *out = n->s;
    return 0;
}

/* A list of strings, or one string (dbt accepts both for paths). */
static int ystrlist(const char *file, const km_yaml *n, const char *what, km_strvec *out, kiln_err *err)
{
    int rc = 0;
    if (n->type == KM_Y_SCALAR) {
        char *s = kiln_strdup(n->s);
        return !s ? KILN_OOM(err) : kiln_vec_push(out, s, err);
    }
    if (n->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, n, "%s must be a list of strings", what);
    for (size_t i = 0; i < n->n && !rc; i++) {
        const char *s;
        if ((rc = ystr(file, n->kids[i], what, &s, err)))
            break;
        char *d = kiln_strdup(s);
        rc = !d ? KILN_OOM(err) : kiln_vec_push(out, d, err);
    }
    return rc;
}

static void strvec_free(km_strvec *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}

static int read_rel(const kiln_project *p, const char *rel, char **text, size_t *len, kiln_err *err)
{
    char *path = kiln_sprintf("%s/%s", p->dir, rel);
    if (!path)
        return KILN_OOM(err);
    int rc = kiln_file_read(path, KM_FILE_CAP, text, len, err);
    kiln_free(path);
    return rc;
}

static int load_yaml(kiln_project *p, const char *rel, km_yaml **out, kiln_err *err)
{
    char *text;
    size_t len;
    int rc = read_rel(p, rel, &text, &len, err);
    if (rc)
        return rc;
    rc = kiln_models__yaml_parse(rel, text, len, p->arena, out, err);
    kiln_free(text);
    return rc;
}

/* ------------------------------------------------------------ nodes */

static void node_free(km_node *n)
{
    if (!n)
        return;
    kiln_free(n->name);
    kiln_free(n->unique_id);
    kiln_free(n->path);
    kiln_free(n->fqn);
    kiln_free(n->raw);
    kj_release(n->config);
    kj_release(n->columns);
    kj_release(n->constraints);
    kiln_free(n->description);
    kiln_free(n->source_name);
    kiln_free(n->identifier);
    kiln_free(n->schema);
    kiln_free(n->test_macro);
    kj_release(n->test_kwargs);
    kiln_free(n->attached);
    kiln_vec_free(&n->parents);
    kiln_vec_free(&n->children);
    kiln_free(n->compiled);
    kiln_free(n->schema_name);
    kiln_free(n);
}

int kiln_models__add_node(kiln_project *p, km_node *n, kiln_err *err)
{
    int rc;
    long dup = kiln_models__find_id(p, n->unique_id);
    if (dup >= 0) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: %s is defined twice (also in %s)", n->path, n->unique_id,
                          p->nodes.items[dup]->path);
        node_free(n);
        return rc;
    }
    size_t idx = p->nodes.len;
    if ((rc = kiln_vec_push(&p->nodes, n, err))) {
        node_free(n);
        return rc;
    }
    if ((rc = kiln_map_put(p->by_id, n->unique_id, strlen(n->unique_id), (void *)(uintptr_t)(idx + 1), err)))
        return rc;
    if (n->kind == KM_MODEL || n->kind == KM_SEED || n->kind == KM_SNAPSHOT) {
        long other = kiln_models__find_name(p, n->name);
        if (other >= 0 && n->package)
            return 0; /* ref('x') finds the root project's (or the first package's); ref('pkg', 'x') this one */
        if (other >= 0)
            return kiln_err_set(err, KILN_EFORMAT, "%s: two resources are named '%s' (also %s)", n->path, n->name,
                                p->nodes.items[other]->path);
        rc = kiln_map_put(p->by_name, n->name, strlen(n->name), (void *)(uintptr_t)(idx + 1), err);
    }
    return rc;
}

km_node *kiln_models__node_new(km_kind kind)
{
    km_node *n = kiln_calloc(1, sizeof(*n));
    if (!n)
        return NULL;
    n->kind = kind;
    n->config = kj_dict_new();
    n->columns = kj_dict_new();
    if (kj_oom(n->config) || kj_oom(n->columns)) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* ------------------------------------------------------------ configs */

static const char *const known_configs[] = {"materialized",
                                            "schema",
                                            "alias",
                                            "tags",
                                            "enabled",
                                            "pre-hook",
                                            "post-hook",
                                            "pre_hook",
                                            "post_hook",
                                            "persist_docs",
                                            "full_refresh",
                                            "unique_key",
                                            "incremental_strategy",
                                            "on_schema_change",
                                            "database",
                                            "meta",
                                            "docs",
                                            "grants",
                                            "contract",
                                            "sql_header",
                                            "column_types",
                                            "quote_columns",
                                            "delimiter",
                                            "severity",
                                            "where",
                                            "limit",
                                            "warn_if",
                                            "error_if",
                                            "store_failures",
                                            "store_failures_as",
                                            "fail_calc",
                                            "strategy",
                                            "updated_at",
                                            "check_cols",
                                            "target_schema",
                                            "target_database",
                                            "partition_by",
                                            "cluster_by",
                                            "merge_update_columns",
                                            "merge_exclude_columns",
                                            "incremental_predicates",
                                            "event_time",
                                            "batch_size",
                                            "lookback",
                                            "begin",
                                            "group",
                                            "access",
                                            "quoting",
                                            "snapshot_meta_column_names",
                                            "hard_deletes",
                                            "invalidate_hard_deletes",
                                            "dbt_valid_to_current",
                                            "unique_key",
                                            "copy_grants",
                                            "transient",
                                            "labels",
                                            NULL};

static int is_config_key(const char *k)
{
    if (k[0] == '+')
        return 1;
    for (int i = 0; known_configs[i]; i++)
        if (!strcmp(known_configs[i], k))
            return 1;
    return 0;
}

/* Set key in cfg: tags add up (unique), meta merges, others replace. */
static int cfg_set(kj_val cfg, const char *key, kj_val v, kiln_err *err)
{
    int rc = 0;
    if (!strcmp(key, "tags")) {
        kj_val *cur = kj_dict_getc(cfg, "tags");
        kj_val tags = cur ? kj_retain(*cur) : kj_list_new();
        if (kj_oom(tags)) {
            kj_release(v);
            return KILN_OOM(err);
        }
        size_t n = v.t == KJ_LIST ? v.u.l->len : 1;
        for (size_t i = 0; i < n && !rc; i++) {
            kj_val t = v.t == KJ_LIST ? v.u.l->items[i] : v;
            int seen = 0;
            for (size_t j = 0; j < tags.u.l->len; j++)
                seen |= kj_equal(tags.u.l->items[j], t);
            if (!seen)
                rc = kj_list_push(tags, kj_retain(t), err);
        }
        kj_release(v);
        if (rc) {
            kj_release(tags);
            return rc;
        }
        return kj_dict_setc(cfg, "tags", tags, err);
    }
    if (!strcmp(key, "meta") && v.t == KJ_DICT) {
        kj_val *cur = kj_dict_getc(cfg, "meta");
        if (cur && cur->t == KJ_DICT) {
            for (size_t i = 0; i < v.u.d->len && !rc; i++)
                rc = kj_dict_set(*cur, kj_retain(v.u.d->keys[i]), kj_retain(v.u.d->vals[i]), err);
            kj_release(v);
            return rc;
        }
    }
    const char *k = key;
    if (!strcmp(k, "pre_hook"))
        k = "pre-hook";
    else if (!strcmp(k, "post_hook"))
        k = "post-hook";
    if (!strcmp(k, "pre-hook") || !strcmp(k, "post-hook")) {
        /* hooks add up, as dbt's do: the project file's levels first, then
         * the schema file's config, then config() in the model; a hook
         * already there is not added twice (config() runs in both passes) */
        kj_val *cur = kj_dict_getc(cfg, k);
        kj_val list = cur && cur->t == KJ_LIST ? kj_retain(*cur) : kj_list_new();
        if (kj_oom(list)) {
            kj_release(v);
            return KILN_OOM(err);
        }
        size_t n = v.t == KJ_LIST ? v.u.l->len : v.t == KJ_NONE || v.t == KJ_UNDEF ? 0 : 1;
        for (size_t i = 0; i < n && !rc; i++) {
            kj_val h = v.t == KJ_LIST ? v.u.l->items[i] : v;
            int seen = 0;
            for (size_t j = 0; j < list.u.l->len; j++)
                seen |= kj_equal(list.u.l->items[j], h);
            if (!seen)
                rc = kj_list_push(list, kj_retain(h), err);
        }
        kj_release(v);
        if (rc) {
            kj_release(list);
            return rc;
        }
        return kj_dict_setc(cfg, k, list, err);
    }
    return kj_dict_setc(cfg, k, v, err);
}

/* Apply the config keys of one level of a project config tree. */
static int cfg_apply_level(kj_val cfg, kj_val level, kiln_err *err)
{
    int rc = 0;
    if (level.t != KJ_DICT)
        return 0;
    for (size_t i = 0; i < level.u.d->len && !rc; i++) {
        kj_val k = level.u.d->keys[i];
        if (k.t != KJ_STR || !is_config_key(k.u.s->p))
            continue;
        rc = cfg_set(cfg, k.u.s->p[0] == '+' ? k.u.s->p + 1 : k.u.s->p, kj_retain(level.u.d->vals[i]), err);
    }
    return rc;
}

/* fqn parts: project, folders..., name. Walk tree[project][folder]...
 * [name] (dbt's fqn match: the node's own name is the last level, as in
 * `seeds: {proj: {raw_orders: {+column_types: ...}}}`), after the config
 * keys of the tree's root itself */
static int cfg_from_tree(kj_val cfg, kj_val tree, const km_strvec *fqn, kiln_err *err)
{
    /* the root level first (`data_tests: {+store_failures: true}` applies to
     * every node of the kind), then each fqn level, the deepest winning */
    int rc = cfg_apply_level(cfg, tree, err);
    kj_val level = tree;
    for (size_t i = 0; i < fqn->len && level.t == KJ_DICT && !rc; i++) {
        kj_val *next = kj_dict_getc(level, fqn->items[i]);
        if (!next)
            break;
        level = *next;
        rc = cfg_apply_level(cfg, level, err);
    }
    return rc;
}

int kiln_models__cfg_merge_dict(kj_val cfg, kj_val src, kiln_err *err)
{
    int rc = 0;
    if (src.t != KJ_DICT)
        return 0;
    for (size_t i = 0; i < src.u.d->len && !rc; i++) {
        kj_val k = src.u.d->keys[i];
        if (k.t == KJ_STR)
            rc = cfg_set(cfg, k.u.s->p[0] == '+' ? k.u.s->p + 1 : k.u.s->p, kj_retain(src.u.d->vals[i]), err);
    }
    return rc;
}

/* ------------------------------------------------------------ files */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_str1(const void *a, const void *b) { return strcmp(*(char *const *)a + 1, *(char *const *)b + 1); }

/* Every regular file under rel (relative to the project dir), sorted, as
 * paths relative to the project dir. Missing directories are empty. */
static int walk(const kiln_project *p, const char *rel, int depth, km_strvec *out, kiln_err *err)
{
    int rc = 0;
    if (depth > 32)
        return kiln_err_set(err, KILN_ELIMIT, "%s: directories nested deeper than 32", rel);
    char *full = kiln_sprintf("%s/%s", p->dir, rel);
    if (!full)
        return KILN_OOM(err);
    DIR *d = opendir(full);
    if (!d) {
        kiln_free(full);
        return 0;
    }
    km_strvec names = {0};
    struct dirent *de;
    while ((de = readdir(d)) && !rc) {
        if (de->d_name[0] == '.')
            continue;
        /* the entry's d_type + 1 in front of its name (sorted after it) */
        char *s = kiln_sprintf("%c%s", (char)(de->d_type + 1), de->d_name);
        rc = !s ? KILN_OOM(err) : kiln_vec_push(&names, s, err);
    }
    closedir(d);
    kiln_sort(names.items, names.len, sizeof(char *), cmp_str1);
    for (size_t i = 0; i < names.len && !rc; i++) {
        char *child = kiln_sprintf("%s/%s", rel, names.items[i] + 1);
        char *cfull = kiln_sprintf("%s/%s", full, names.items[i] + 1);
        struct stat st;
        unsigned char ty = (unsigned char)(names.items[i][0] - 1);
        if (ty == DT_DIR || ty == DT_REG) /* readdir's type: no stat per file */
            st.st_mode = ty == DT_DIR ? S_IFDIR : S_IFREG;
        else if (stat(cfull ? cfull : "", &st) != 0)
            st.st_mode = 0;
        if (!child || !cfull) {
            rc = KILN_OOM(err);
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(p, child, depth + 1, out, err);
        } else if (S_ISREG(st.st_mode)) {
            rc = kiln_vec_push(out, child, err);
            child = NULL;
        }
        kiln_free(child);
        kiln_free(cfull);
    }
    strvec_free(&names);
    kiln_free(full);
    return rc;
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcmp(path + n - e, ext);
}

/* "models/staging/x.sql" under root "models" -> fqn [project, staging, x] */
static int make_fqn(const char *project, const char *root, const char *rel, km_strvec *fqn, char **name, kiln_err *err)
{
    int rc;
    char *s = kiln_strdup(project);
    if (!s || (rc = kiln_vec_push(fqn, s, err)))
        return s ? rc : KILN_OOM(err);
    const char *q = rel + strlen(root);
    while (*q == '/')
        q++;
    for (;;) {
        const char *slash = strchr(q, '/');
        if (!slash)
            break;
        char *part = kiln_strndup(q, (size_t)(slash - q));
        if (!part || (rc = kiln_vec_push(fqn, part, err)))
            return part ? rc : KILN_OOM(err);
        q = slash + 1;
    }
    const char *dot = strrchr(q, '.');
    *name = kiln_strndup(q, dot ? (size_t)(dot - q) : strlen(q));
    if (!*name)
        return KILN_OOM(err);
    char *last = kiln_strdup(*name);
    if (!last)
        return KILN_OOM(err);
    return kiln_vec_push(fqn, last, err);
}

static char *join_fqn(const km_strvec *fqn)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    for (size_t i = 0; i < fqn->len; i++) {
        if ((i && kiln_buf_putc(&b, '.', NULL)) || kiln_buf_append(&b, fqn->items[i], strlen(fqn->items[i]), NULL)) {
            kiln_buf_free(&b);
            return NULL;
        }
    }
    return kiln_buf_detach(&b, NULL);
}

/* pkg: the package the file belongs to (NULL = the root project): its
 * name starts the fqn and the unique id, and its own config tree applies
 * before the root project's (tree) */
/* ------------------------------------------------------------ prefetch 
 * Reading and parsing the model files is most of a big project's load, and
 * neither touches the project: a second thread reads and parses every other
 * file while this one does the rest; add_file_node then takes the results
 * in file order, so errors and the node order are those of a plain loop. */
typedef struct {
    char *raw;
    size_t len;
    kj_tpl *tpl;
    int rc;
    kiln_err err;
} km_pre;

typedef struct {
    const kiln_project *p;
    const km_strvec *files;
    km_pre *pre;
    size_t start;
} km_pre_job;

static void *pre_run(void *arg)
{
    km_pre_job *j = arg;
    for (size_t k = j->start; k < j->files->len; k += 2) {
        km_pre *x = &j->pre[k];
        const char *rel = j->files->items[k];
        if (!has_ext(rel, ".sql"))
            continue;
        char *path = kiln_sprintf("%s/%s", j->p->dir, rel);
        x->rc = path ? kiln_file_read(path, KM_FILE_CAP, &x->raw, &x->len, &x->err) : KILN_OOM(&x->err);
        kiln_free(path);
        if (!x->rc)
            x->rc = kj_parse_detached(rel, x->raw, x->len, &x->tpl, &x->err);
    }
    return NULL;
}

/* A project of thousands of files allocates a few hundred MB in small
 * pieces; on 4 KiB pages that is ~50,000 page faults, a third of a
 * 10,000-model compile's CPU. Once per process, for such a project: the
 * heap grows by 256 MB at a time and that range is marked for transparent
 * huge pages (what GLIBC_TUNABLES=glibc.malloc.hugetlb=1 does; an explicit
 * GLIBC_TUNABLES wins). Memory is only used as it is touched. */
static void big_heap(void)
{
    static atomic_int done;
    if (atomic_exchange(&done, 1) || getenv("GLIBC_TUNABLES"))
        return;
    long pg = sysconf(_SC_PAGESIZE);
    char *lo = sbrk(0);
    mallopt(M_TOP_PAD, 256 << 20);
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    /* more than the heap's free top (free chunks inside the heap may serve
     * the first tries): the heap grows, by the pad */
    void *grow[64];
    int ng = 0;
    char *hi = lo;
    while (ng < 64 && hi == lo && (grow[ng] = malloc(mallinfo2().keepcost + 256 * 1024)))
        ng++, hi = sbrk(0);
    while (ng > 0)
        free(grow[--ng]);
    hi = sbrk(0); /* after the frees: free() may have given the tail back */
    if (lo == (char *)-1 || hi == (char *)-1 || hi <= lo || pg <= 0)
        return;
    uintptr_t a = ((uintptr_t)lo + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
    if ((char *)a < hi)
        madvise((void *)a, (size_t)(hi - (char *)a) & ~(size_t)(pg - 1), MADV_HUGEPAGE); /* advice: errors ignored */
}

/* pre[k] for every .sql file of files (NULL when none or out of memory:
 * the caller then reads and parses in its loop). */
static km_pre *prefetch(const kiln_project *p, const km_strvec *files)
{
    if (files->len < 2)
        return NULL;
    if (files->len >= 2000)
        big_heap();
    km_pre *pre = kiln_calloc(files->len, sizeof *pre);
    if (!pre)
        return NULL;
    km_pre_job a = {p, files, pre, 0}, b = {p, files, pre, 1};
    pthread_t th;
    int threaded = pthread_create(&th, NULL, pre_run, &b) == 0;
    pre_run(&a);
    if (threaded)
        pthread_join(th, NULL);
    else
        pre_run(&b);
    return pre;
}

/* Free what add_file_node did not take; adopt the parses into the env (it
 * frees them with the project). */
static void prefetch_free(kiln_project *p, km_pre *pre, size_t n)
{
    if (!pre)
        return;
    for (size_t k = 0; k < n; k++) {
        kiln_free(pre[k].raw);
        if (pre[k].tpl)
            kj_env_adopt(p->env, pre[k].tpl);
    }
    kiln_free(pre);
}

static int add_file_node_pre(kiln_project *p, km_kind kind, const char *root, const char *rel, kj_val tree,
                             const km_package *pkg, km_pre *pre, kiln_err *err);
static int add_file_node(kiln_project *p, km_kind kind, const char *root, const char *rel, kj_val tree,
                         const km_package *pkg, kiln_err *err)
{
    return add_file_node_pre(p, kind, root, rel, tree, pkg, NULL, err);
}

static int add_file_node_pre(kiln_project *p, km_kind kind, const char *root, const char *rel, kj_val tree,
                             const km_package *pkg, km_pre *pre, kiln_err *err)
{
    int rc = 0;
    km_strvec fqn = {0};
    char *name = NULL;
    km_node *n = kiln_models__node_new(kind);
    if (!n)
        return KILN_OOM(err);
    n->package = pkg ? pkg->name : NULL;
    if ((rc = make_fqn(pkg ? pkg->name : p->name, root, rel, &fqn, &name, err)))
        goto fail;
    if (pre) {
        n->raw = pre->raw;
        n->raw_len = pre->len;
        n->tpl = pre->tpl;
        pre->raw = NULL;
        pre->tpl = NULL;
        if (n->tpl)
            kj_env_adopt(p->env, n->tpl);
        if ((rc = pre->rc)) {
            *err = pre->err;
            goto fail;
        }
    } else {
        if ((rc = read_rel(p, rel, &n->raw, &n->raw_len, err)))
            goto fail;
        if (kind != KM_SEED && (rc = kj_parse(p->env, rel, n->raw, n->raw_len, &n->tpl, err)))
            goto fail;
    }
    if (kind == KM_SNAPSHOT) { /* named by its {% snapshot NAME %} block, not the file */
        const char *names[2];
        size_t nb = kj_tpl_snapshot_names(n->tpl, names, 2);
        if (nb != 1) {
            rc = kiln_err_set(err, KILN_EFORMAT,
                              "%s: a snapshot file holds exactly one {%% snapshot %%} block (found %zu)", rel, nb);
            goto fail;
        }
        kiln_free(name);
        kiln_free(fqn.items[fqn.len - 1]);
        name = kiln_strdup(names[0]);
        fqn.items[fqn.len - 1] = kiln_strdup(names[0]);
        if (!name || !fqn.items[fqn.len - 1]) {
            rc = KILN_OOM(err);
            goto fail;
        }
    }
    n->name = name;
    name = NULL;
    n->path = kiln_strdup(rel);
    n->fqn = join_fqn(&fqn);
    static const char *const kinds[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
    n->unique_id = kiln_sprintf("%s.%s.%s", kinds[kind], pkg ? pkg->name : p->name, n->name);
    if (!n->path || !n->fqn || !n->unique_id) {
        rc = KILN_OOM(err);
        goto fail;
    }
    const char *defmat = kind == KM_MODEL ? "view" : kind == KM_SEED ? "seed" : kind == KM_TEST ? "test" : "snapshot";
    if ((rc = kj_dict_setc(n->config, "materialized", kj_str_c(defmat), err)) ||
        (rc = kj_dict_setc(n->config, "enabled", kj_bool(1), err)) ||
        (pkg && (rc = cfg_from_tree(n->config,
                                    kind == KM_SEED       ? pkg->cfg_seeds
                                    : kind == KM_SNAPSHOT ? pkg->cfg_snapshots
                                                          : pkg->cfg_models,
                                    &fqn, err))) ||
        (rc = cfg_from_tree(n->config, tree, &fqn, err)))
        goto fail;
    strvec_free(&fqn);
    return kiln_models__add_node(p, n, err);
fail:
    kiln_free(name);
    strvec_free(&fqn);
    node_free(n);
    return rc;
}

/* ------------------------------------------------------------ macros for the manifest (models4) */

/* The {% macro NAME %} / {% test NAME %} blocks of a macro file, for
 * manifest.json's `macros`: name (tests as test_NAME, as dbt names them),
 * file and the block's text from its opening tag to its end tag. The
 * file has parsed already, so the tags are well formed. */
static int note_macros(kiln_project *p, const char *path, const char *text, size_t len, kiln_err *err)
{
    int rc = 0;
    if (p->macros.t != KJ_LIST && kj_oom(p->macros = kj_list_new()))
        return KILN_OOM(err);
    const char *end = text + len;
    for (const char *q = text; !rc && (q = memmem(q, (size_t)(end - q), "{%", 2));) {
        const char *start = q, *w = q + 2;
        q += 2;
        if (w < end && *w == '-')
            w++;
        while (w < end && (*w == ' ' || *w == '\t' || *w == '\n' || *w == '\r'))
            w++;
        int is_test = (size_t)(end - w) > 5 && !strncmp(w, "test", 4) && (w[4] == ' ' || w[4] == '\t');
        int is_macro = (size_t)(end - w) > 6 && !strncmp(w, "macro", 5) && (w[5] == ' ' || w[5] == '\t');
        if (!is_test && !is_macro)
            continue;
        w += is_test ? 4 : 5;
        while (w < end && (*w == ' ' || *w == '\t'))
            w++;
        const char *nm = w;
        while (w < end && (isalnum((unsigned char)*w) || *w == '_'))
            w++;
        if (w == nm)
            continue;
        const char *tag = is_test ? "endtest" : "endmacro";
        const char *e = memmem(w, (size_t)(end - w), tag, strlen(tag));
        const char *close = e ? memmem(e, (size_t)(end - e), "%}", 2) : NULL;
        if (!close)
            continue;
        close += 2;
        kj_val m = kj_dict_new();
        char *name = kiln_sprintf("%s%.*s", is_test ? "test_" : "", (int)(w - nm), nm);
        if (kj_oom(m) || !name) {
            kj_release(m);
            kiln_free(name);
            return KILN_OOM(err);
        }
        if ((rc = kj_dict_setc(m, "name", kj_str_c(name), err)) ||
            (rc = kj_dict_setc(m, "path", kj_str_c(path), err)) ||
            (rc = kj_dict_setc(m, "sql", kj_str_new(start, (size_t)(close - start)), err)))
            kj_release(m);
        else
            rc = kj_list_push(p->macros, m, err);
        kiln_free(name);
        q = close;
    }
    return rc;
}

/* record a package's model and seed paths, config trees and
 * vars (its models and seeds are loaded after the root project's). */
static int note_package(kiln_project *p, const char *rel, const char *name, const km_yaml *doc, kiln_err *err)
{
    km_package *pk = kiln_calloc(1, sizeof *pk);
    if (!pk)
        return KILN_OOM(err);
    pk->cfg_models = pk->cfg_seeds = pk->cfg_snapshots = pk->vars = pk->on_run_start = pk->on_run_end = kj_none();
    int rc = (pk->name = kiln_strdup(name)) ? kiln_vec_push(&p->packages, pk, err) : KILN_OOM(err);
    if (rc) {
        kiln_free(pk->name);
        kiln_free(pk);
        return rc;
    }
    static const char *const keys[] = {"model-paths", "seed-paths", "snapshot-paths"}, *const defs[] = {"models",
                                                                                                        "seeds",
                                                                                                        "snapshots"};
    for (int i = 0; i < 3 && !rc; i++) {
        km_strvec *v = i == 2 ? &pk->snapshot_paths : i ? &pk->seed_paths : &pk->model_paths;
        const km_yaml *x = kiln_models__yaml_get(doc, keys[i]);
        for (size_t k = 0; x && x->type == KM_Y_SEQ && k < x->n && !rc; k++)
            if (x->kids[k]->type == KM_Y_SCALAR && !strstr(x->kids[k]->s, "..")) {
                char *path = kiln_sprintf("%s/%s", rel, x->kids[k]->s);
                rc = path ? kiln_vec_push(v, path, err) : KILN_OOM(err);
            }
        if (!rc && !v->len) {
            char *path = kiln_sprintf("%s/%s", rel, defs[i]);
            rc = path ? kiln_vec_push(v, path, err) : KILN_OOM(err);
        }
    }
    static const char *const tkeys[] = {"models", "seeds", "vars", "snapshots", "on-run-start", "on-run-end"};
    for (int i = 0; i < 6 && !rc; i++) {
        const km_yaml *x = kiln_models__yaml_get(doc, tkeys[i]);
        kj_val *slot = i == 0   ? &pk->cfg_models
                       : i == 1 ? &pk->cfg_seeds
                       : i == 2 ? &pk->vars
                       : i == 3 ? &pk->cfg_snapshots
                       : i == 4 ? &pk->on_run_start
                                : &pk->on_run_end;
        if (x && (x->type == KM_Y_MAP || (i >= 4 && !kiln_models__yaml_is_null(x)))) {
            kj_release(*slot);
            rc = kiln_models__yaml_to_kj(x, slot, err);
        }
    }
    return rc;
}

const km_package *kiln_models__package(const kiln_project *p, const char *name)
{
    for (size_t i = 0; name && i < p->packages.len; i++)
        if (!strcmp(p->packages.items[i]->name, name))
            return p->packages.items[i];
    return NULL;
}

/* ------------------------------------------------------------ packages (models4) */

/* packages.yml or dependencies.yml of the project, parsed: *doc NULL when
 * the file does not exist. */
static int packages_file(kiln_project *p, const char *file, km_yaml **doc, kiln_err *err)
{
    *doc = NULL;
    char *full = kiln_sprintf("%s/%s", p->dir, file);
    struct stat st;
    int exists = full && !stat(full, &st);
    kiln_free(full);
    return exists ? load_yaml(p, file, doc, err) : 0;
}

/* One installed package at rel (a directory relative to the project dir):
 * its dbt_project.yml's name and macro-paths; its macros go into a dict
 * named after the package in the globals (`dbt_utils.star(...)`,
 * `pkg.test_x` for YAML tests), and under their own names when the
 * globals have none yet (the package's macros call each other unqualified;
 * the root project, loaded after, overrides). */
static int load_package(kiln_project *p, const char *rel, kj_val seen, kiln_err *err)
{
    char *yml = kiln_sprintf("%s/dbt_project.yml", rel);
    if (!yml)
        return KILN_OOM(err);
    struct stat st;
    char *full = kiln_sprintf("%s/%s", p->dir, yml);
    int exists = full && !stat(full, &st);
    kiln_free(full);
    if (!exists) {
        kiln_free(yml);
        return 0; /* not a package (dbt deps leaves only packages here) */
    }
    km_yaml *doc = NULL;
    int rc = load_yaml(p, yml, &doc, err);
    const km_yaml *nm = doc ? kiln_models__yaml_get(doc, "name") : NULL;
    if (!rc && (!nm || nm->type != KM_Y_SCALAR))
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: a package needs a name", yml);
    kiln_free(yml);
    if (rc)
        return rc;
    if (kj_dict_getc(seen, nm->s) || !strcmp(nm->s, p->name))
        return 0; /* dbt_packages/ and a local: entry of the same package */
    if ((rc = kj_dict_setc(seen, nm->s, kj_bool(1), err)))
        return rc;
    if ((rc = note_package(p, rel, nm->s, doc, err)))
        return rc;
    km_strvec paths = {0};
    const km_yaml *mp = kiln_models__yaml_get(doc, "macro-paths");
    for (size_t i = 0; mp && mp->type == KM_Y_SEQ && i < mp->n && !rc; i++)
        if (mp->kids[i]->type == KM_Y_SCALAR) {
            char *x = kiln_sprintf("%s/%s", rel, mp->kids[i]->s);
            rc = x ? kiln_vec_push(&paths, x, err) : KILN_OOM(err);
        }
    if (!rc && !paths.len) {
        char *x = kiln_sprintf("%s/macros", rel);
        rc = x ? kiln_vec_push(&paths, x, err) : KILN_OOM(err);
    }
    kj_val ns = kj_dict_new();
    if (!rc && kj_oom(ns))
        rc = KILN_OOM(err);
    km_strvec files = {0};
    for (size_t i = 0; i < paths.len && !rc; i++) {
        if ((rc = walk(p, paths.items[i], 0, &files, err)))
            break;
        for (size_t k = 0; k < files.len && !rc; k++) {
            if (!has_ext(files.items[k], ".sql"))
                continue;
            char *text;
            size_t len;
            kj_tpl *t;
            if ((rc = read_rel(p, files.items[k], &text, &len, err)))
                break;
            rc = kj_parse(p->env, files.items[k], text, len, &t, err);
            kiln_free(text);
            if (!rc)
                rc = kj_define_macros(p->env, t, ns, err);
        }
        strvec_free(&files);
    }
    strvec_free(&paths);
    kj_val g = kj_env_globals(p->env);
    for (size_t i = 0; !rc && i < ns.u.d->len; i++)
        if (!kj_dict_get(g, ns.u.d->keys[i]))
            rc = kj_dict_set(g, kj_retain(ns.u.d->keys[i]), kj_retain(ns.u.d->vals[i]), err);
    if (!rc)
        return kj_dict_setc(g, nm->s, ns, err);
    kj_release(ns);
    return rc;
}

/* The packages `dbt deps` installed (every directory of dbt_packages/, or
 * of the project's packages-install-path) and packages.yml's `local:`
 * entries (paths relative to the project). Hub and git packages are not
 * fetched: run `dbt deps` (or copy them into dbt_packages/) first. */
static int load_packages(kiln_project *p, const char *install_path, kiln_err *err)
{
    kj_val seen = kj_dict_new();
    if (kj_oom(seen))
        return KILN_OOM(err);
    int rc = 0;
    char *dir = kiln_sprintf("%s/%s", p->dir, install_path);
    DIR *d = dir ? opendir(dir) : NULL;
    kiln_free(dir);
    km_strvec names = {0};
    for (struct dirent *de; d && !rc && (de = readdir(d));) {
        if (de->d_name[0] == '.')
            continue;
        char *x = kiln_sprintf("%s/%s", install_path, de->d_name);
        rc = x ? kiln_vec_push(&names, x, err) : KILN_OOM(err);
    }
    if (d)
        closedir(d);
    kiln_sort(names.items, names.len, sizeof *names.items, cmp_str);
    for (size_t i = 0; i < names.len && !rc; i++)
        rc = load_package(p, names.items[i], seen, err);
    strvec_free(&names);
    for (int f = 0; f < 2 && !rc; f++) {
        const char *file = f ? "dependencies.yml" : "packages.yml";
        km_yaml *doc = NULL;
        if ((rc = packages_file(p, file, &doc, err)))
            break;
        if (!doc)
            continue;
        const km_yaml *list = kiln_models__yaml_get(doc, "packages");
        for (size_t i = 0; list && list->type == KM_Y_SEQ && i < list->n && !rc; i++) {
            const km_yaml *loc = kiln_models__yaml_get(list->kids[i], "local");
            if (loc && loc->type == KM_Y_SCALAR)
                rc = load_package(p, loc->s, seen, err);
        }
    }
    kj_release(seen);
    return rc;
}

/* ------------------------------------------------------------ built-in generic tests */

/* dbt's generic tests, as dbt-core 1.8's global project writes them. */
static const char builtin_tests[] =
    "{% test not_null(model, column_name) %}\n"
    "select {{ column_name }}\nfrom {{ model }}\nwhere {{ column_name }} is null\n"
    "{% endtest %}\n"
    "{% test unique(model, column_name) %}\n"
    "select\n    {{ column_name }} as unique_field,\n    count(*) as n_records\n\nfrom {{ model }}\n"
    "where {{ column_name }} is not null\ngroup by {{ column_name }}\nhaving count(*) > 1\n"
    "{% endtest %}\n"
    "{% test accepted_values(model, column_name, values, quote=True) %}\n"
    "with all_values as (\n\n    select\n        {{ column_name }} as value_field,\n        count(*) as n_records\n\n"
    "    from {{ model }}\n    group by {{ column_name }}\n\n)\n\nselect *\nfrom all_values\nwhere value_field not in "
    "(\n"
    "    {% for value in values -%}\n        {% if quote -%}\n        '{{ value }}'\n        {%- else -%}\n"
    "        {{ value }}\n        {%- endif -%}\n        {%- if not loop.last -%},{%- endif %}\n    {%- endfor %}\n)\n"
    "{% endtest %}\n"
    "{% test relationships(model, column_name, to, field) %}\n"
    "with child as (\n    select {{ column_name }} as from_field\n    from {{ model }}\n"
    "    where {{ column_name }} is not null\n),\n\nparent as (\n    select {{ field }} as to_field\n    from {{ to "
    "}}\n)\n\n"
    "select\n    from_field\n\nfrom child\nleft join parent\n    on child.from_field = parent.to_field\n\n"
    "where parent.to_field is null\n"
    "{% endtest %}\n";

/* ------------------------------------------------------------ schema YAML */

static int add_generic_test(kiln_project *p, const char *file, const km_yaml *t, km_node *model, const char *column,
                            kiln_err *err);

/* The `data_tests:` (or older `tests:`) list of a model or column entry. */
static int add_tests_of(kiln_project *p, const char *file, const km_yaml *entry, km_node *n, const char *column,
                        kiln_err *err)
{
    int rc = 0;
    const km_yaml *tests = kiln_models__yaml_get(entry, "data_tests");
    if (!tests)
        tests = kiln_models__yaml_get(entry, "tests");
    if (!tests || kiln_models__yaml_is_null(tests))
        return 0;
    if (tests->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, tests, "tests must be a list");
    for (size_t k = 0; k < tests->n && !rc; k++)
        rc = add_generic_test(p, file, tests->kids[k], n, column, err);
    return rc;
}

static int parse_columns(kiln_project *p, const char *file, const km_yaml *cols, km_node *n, kiln_err *err)
{
    int rc = 0;
    if (cols->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, cols, "columns must be a list");
    for (size_t i = 0; i < cols->n && !rc; i++) {
        const km_yaml *c = cols->kids[i];
        const char *cname;
        if (c->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, c, "each column must be a mapping with a name");
        if ((rc = ystr(file, kiln_models__yaml_get(c, "name"), "column name", &cname, err)))
            return rc;
        kj_val cv = kj_dict_new();
        if (kj_oom(cv))
            return KILN_OOM(err);
        const km_yaml *desc = kiln_models__yaml_get(c, "description");
        if ((rc = kj_dict_setc(cv, "name", kj_str_c(cname), err)) ||
            (rc = kj_dict_setc(cv, "description", kj_str_c(desc && desc->type == KM_Y_SCALAR ? desc->s : ""), err))) {
            kj_release(cv);
            return rc;
        }
        if ((rc = kiln_models__contract_column(file, c, cv, err))) {
            kj_release(cv);
            return rc;
        }
        if ((rc = kj_dict_setc(n->columns, cname, cv, err)))
            return rc;
        rc = add_tests_of(p, file, c, n, cname, err);
    }
    return rc;
}

/* Append str(v) with each run of characters other than [0-9A-Za-z_]
 * replaced by one '_' (dbt's re.sub("[^0-9a-zA-Z_]+", "_", arg)). */
static int append_clean(kiln_buf *b, kj_val v, kiln_err *err)
{
    kiln_buf t;
    kiln_buf_init(&t, 0);
    int rc = kj_str_append(NULL, v, &t, err);
    for (size_t i = 0; i < t.len && !rc; i++) {
        char c = t.data[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')
            rc = kiln_buf_putc(b, c, err);
        else if (!b->len || b->data[b->len - 1] != '_' || i == 0 ||
                 ((t.data[i - 1] >= 'a' && t.data[i - 1] <= 'z') || (t.data[i - 1] >= 'A' && t.data[i - 1] <= 'Z') ||
                  (t.data[i - 1] >= '0' && t.data[i - 1] <= '9') || t.data[i - 1] == '_'))
            rc = kiln_buf_putc(b, '_', err);
    }
    kiln_buf_free(&t);
    return rc;
}

/* Test name as dbt makes it (synthesize_generic_test_names): <test>_<model>_
 * then the argument values in the order of the sorted argument names (lists
 * and dicts flattened), each cleaned, joined by "__". */
static int test_name(kiln_buf *b, const char *macro, const km_node *model, kj_val kwargs, kiln_err *err)
{
    /* a source's tests: source_<test>_<source>_<table>_... */
    char mac[256]; /* dbt names a package's test pkg_test_... */
    snprintf(mac, sizeof mac, "%s", macro);
    for (char *d = strchr(mac, '.'); d; d = strchr(d, '.'))
        *d = '_';
    int rc = model->kind == KM_SOURCE
                 ? kiln_buf_printf(b, err, "source_%s_%s_%s_", mac, model->source_name, model->name)
                 : kiln_buf_printf(b, err, "%s_%s_", mac, model->name);
    size_t n = kwargs.t == KJ_DICT ? kwargs.u.d->len : 0;
    size_t *order = kiln_malloc((n ? n : 1) * sizeof(size_t));
    if (!order)
        return KILN_OOM(err);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (kwargs.u.d->keys[i].t == KJ_STR && strcmp(kwargs.u.d->keys[i].u.s->p, "model"))
            order[m++] = i;
    for (size_t i = 1; i < m; i++)
        for (size_t j = i;
             j > 0 && strcmp(kwargs.u.d->keys[order[j - 1]].u.s->p, kwargs.u.d->keys[order[j]].u.s->p) > 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int first = 1;
    for (size_t k = 0; k < m && !rc; k++) {
        kj_val v = kwargs.u.d->vals[order[k]];
        size_t parts = v.t == KJ_LIST ? v.u.l->len : v.t == KJ_DICT ? v.u.d->len : 1;
        for (size_t j = 0; j < parts && !rc; j++) {
            kj_val part = v.t == KJ_LIST ? v.u.l->items[j] : v.t == KJ_DICT ? v.u.d->vals[j] : v;
            if (!first)
                rc = kiln_buf_append(b, "__", 2, err);
            first = 0;
            if (!rc)
                rc = append_clean(b, part, err);
        }
    }
    kiln_free(order);
    return rc;
}

static int add_generic_test(kiln_project *p, const char *file, const km_yaml *t, km_node *model, const char *column,
                            kiln_err *err)
{
    int rc = 0;
    const char *macro;
    kj_val kwargs = kj_dict_new(), cfg = kj_undef();
    kiln_buf nb;
    kiln_buf_init(&nb, 4096);
    km_node *n = NULL;
    if (kj_oom(kwargs))
        return KILN_OOM(err);
    if (t->type == KM_Y_SCALAR) {
        macro = t->s;
    } else if (t->type == KM_Y_MAP && t->n == 2) {
        macro = t->kids[0]->s;
        kj_val args;
        if ((rc = kiln_models__yaml_to_kj(t->kids[1], &args, err)))
            goto done;
        if (args.t == KJ_DICT) {
            for (size_t i = 0; i < args.u.d->len && !rc; i++) {
                kj_val k = args.u.d->keys[i];
                if (k.t != KJ_STR)
                    continue;
                if (!strcmp(k.u.s->p, "config")) {
                    kj_release(cfg);
                    cfg = kj_retain(args.u.d->vals[i]);
                } else if (!strcmp(k.u.s->p, "arguments") && args.u.d->vals[i].t == KJ_DICT) {
                    kj_val a2 = args.u.d->vals[i];
                    for (size_t j = 0; j < a2.u.d->len && !rc; j++)
                        rc = kj_dict_set(kwargs, kj_retain(a2.u.d->keys[j]), kj_retain(a2.u.d->vals[j]), err);
                } else if (is_config_key(k.u.s->p)) { /* old style: configs beside the arguments */
                    if (kj_oom(cfg) || cfg.t == KJ_UNDEF) {
                        kj_release(cfg);
                        cfg = kj_dict_new();
                    }
                    if (cfg.t == KJ_DICT)
                        rc = kj_dict_set(cfg, kj_retain(k), kj_retain(args.u.d->vals[i]), err);
                } else {
                    rc = kj_dict_set(kwargs, kj_retain(k), kj_retain(args.u.d->vals[i]), err);
                }
            }
        } else if (args.t != KJ_NONE) {
            kj_release(args);
            rc = kiln_models__yfail(err, file, t->kids[1], "arguments of test '%s' must be a mapping", macro);
            goto done;
        }
        kj_release(args);
        if (rc)
            goto done;
    } else {
        rc = kiln_models__yfail(err, file, t, "a test is a name or a mapping of one name to its arguments");
        goto done;
    }
    const char *dot = strchr(macro, '.');
    int known;
    if (dot) { /* pkg.test: a {% test %} of an installed package (models4) */
        char *pkg = kiln_strndup(macro, (size_t)(dot - macro));
        char *mname = kiln_sprintf("test_%s", dot + 1);
        kj_val *ns = pkg ? kj_dict_getc(kj_env_globals(p->env), pkg) : NULL;
        known = mname && ns && ns->t == KJ_DICT && kj_dict_getc(*ns, mname) != NULL;
        kiln_free(pkg);
        kiln_free(mname);
        if (!known) {
            rc = kiln_models__yfail(err, file, t,
                                    "unknown test '%s' (no package '%.*s' in dbt_packages/ or packages.yml's local: "
                                    "entries, or it has no {%% test %s %%})",
                                    macro, (int)(dot - macro), macro, dot + 1);
            goto done;
        }
    } else {
        char *mname = kiln_sprintf("test_%s", macro);
        known = mname && kj_dict_getc(kj_env_globals(p->env), mname) != NULL;
        kiln_free(mname);
    }
    if (!known) {
        rc = kiln_models__yfail(
            err, file, t, "unknown test '%s' (not a built-in generic test and no {%% test %s %%} macro)", macro, macro);
        goto done;
    }
    if (column && (rc = kj_dict_setc(kwargs, "column_name", kj_str_c(column), err)))
        goto done;
    if (!(n = kiln_models__node_new(KM_TEST))) {
        rc = KILN_OOM(err);
        goto done;
    }
    kj_val *custom = kj_dict_getc(kwargs, "name");
    if (custom && custom->t == KJ_STR)
        rc = kiln_buf_append(&nb, custom->u.s->p, custom->u.s->len, err);
    else
        rc = test_name(&nb, macro, model, kwargs, err);
    if (rc)
        goto done;
    /* unique_id suffix: 10 hex digits of the SHA-256 of name and arguments
     * (dbt hashes differently; see docs/models.md) */
    kiln_buf h;
    kiln_buf_init(&h, 0);
    rc = kj_repr_append(NULL, kwargs, &h, err);
    if (!rc)
        rc = kiln_buf_printf(&h, err, "|%s|%s", nb.data, model->unique_id);
    char hex[65] = {0};
    if (!rc)
        kiln_sha256_hex(h.data, h.len, hex);
    kiln_buf_free(&h);
    if (rc)
        goto done;
    hex[10] = 0;
    n->name = kiln_strdup(nb.data);
    /* a test on a package's model belongs to that package  */
    const char *owner = model->package ? model->package : p->name;
    n->package = model->package;
    n->unique_id = kiln_sprintf("test.%s.%s.%s", owner, nb.data, hex);
    n->fqn = kiln_sprintf("%s.%s", owner, nb.data);
    n->path = kiln_strdup(file);
    n->test_macro = kiln_strdup(macro);
    n->attached = kiln_strdup(model->unique_id);
    if (!n->name || !n->unique_id || !n->fqn || !n->path || !n->test_macro || !n->attached) {
        rc = KILN_OOM(err);
        goto done;
    }
    n->line = t->line;
    n->col = t->col;
    n->test_kwargs = kwargs;
    kwargs = kj_undef();
    if ((rc = kj_dict_setc(n->config, "materialized", kj_str_c("test"), err)) ||
        (rc = kj_dict_setc(n->config, "severity", kj_str_c("ERROR"), err)) ||
        (rc = kj_dict_setc(n->config, "enabled", kj_bool(1), err)))
        goto done;
    {
        km_strvec fqn = {0};
        char *pn = kiln_strdup(owner), *tn = kiln_strdup(nb.data);
        if (!pn || !tn || kiln_vec_push(&fqn, pn, err) || kiln_vec_push(&fqn, tn, err)) {
            strvec_free(&fqn);
            rc = KILN_OOM(err);
            goto done;
        }
        rc = cfg_from_tree(n->config, p->cfg_tests, &fqn, err);
        strvec_free(&fqn);
        if (rc)
            goto done;
    }
    if (cfg.t == KJ_DICT && (rc = kiln_models__cfg_merge_dict(n->config, cfg, err)))
        goto done;
    rc = kiln_models__add_node(p, n, err);
    n = NULL;
done:
    node_free(n);
    kj_release(kwargs);
    kj_release(cfg);
    kiln_buf_free(&nb);
    return rc;
}

static int parse_schema_models(kiln_project *p, const char *file, const km_yaml *list, int seeds, kiln_err *err)
{
    int rc = 0;
    if (list->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, list, "%s must be a list", seeds ? "seeds" : "models");
    for (size_t i = 0; i < list->n && !rc; i++) {
        const km_yaml *m = list->kids[i];
        const char *name;
        if (m->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, m, "each entry must be a mapping with a name");
        if ((rc = ystr(file, kiln_models__yaml_get(m, "name"), "name", &name, err)))
            return rc;
        long idx = kiln_models__find_name(p, name);
        if (idx < 0 && !seeds && kiln_models__is_versioned(p, name)) /* read by versions.c */
            continue;
        if (idx < 0 || p->nodes.items[idx]->kind != (seeds ? KM_SEED : KM_MODEL)) {
            /* dbt warns and goes on; so does kiln */
            fprintf(stderr, "warning: %s:%u:%u: did not find a %s named '%s' for this entry\n", file, m->line, m->col,
                    seeds ? "seed" : "model", name);
            continue;
        }
        km_node *n = p->nodes.items[idx];
        const km_yaml *desc = kiln_models__yaml_get(m, "description");
        if (desc && desc->type == KM_Y_SCALAR) {
            kiln_free(n->description);
            if (!(n->description = kiln_strdup(desc->s)))
                return KILN_OOM(err);
        }
        const km_yaml *cfg = kiln_models__yaml_get(m, "config");
        if (cfg && !kiln_models__yaml_is_null(cfg)) {
            kj_val c;
            if (cfg->type != KM_Y_MAP)
                return kiln_models__yfail(err, file, cfg, "config must be a mapping");
            if ((rc = kiln_models__yaml_to_kj(cfg, &c, err)))
                return rc;
            rc = kiln_models__cfg_merge_dict(n->config, c, err);
            kj_release(c);
            if (rc)
                return rc;
        }
        const km_yaml *cols = kiln_models__yaml_get(m, "columns");
        if (cols && !kiln_models__yaml_is_null(cols) && (rc = parse_columns(p, file, cols, n, err)))
            return rc;
        if (!seeds && (rc = kiln_models__contract_model(file, m, n, err)))
            return rc;
        rc = add_tests_of(p, file, m, n, NULL, err);
    }
    return rc;
}

/* A source table's `freshness` (warn_after, error_after, filter) and
 * `loaded_at_field`, from the source with the table's keys overriding; a
 * table's `freshness: null` turns it off (dbt's rule). Kept in the node's
 * config as "freshness" (a dict or None) and "loaded_at_field". */
static int source_freshness_cfg(const char *file, const km_yaml *src, const km_yaml *tbl, km_node *n, kiln_err *err)
{
    int rc = 0;
    const km_yaml *sf = kiln_models__yaml_get(src, "freshness"), *tf = kiln_models__yaml_get(tbl, "freshness");
    const km_yaml *lf = kiln_models__yaml_get(tbl, "loaded_at_field");
    if (!lf)
        lf = kiln_models__yaml_get(src, "loaded_at_field");
    if (lf && !kiln_models__yaml_is_null(lf)) {
        if (lf->type != KM_Y_SCALAR)
            return kiln_models__yfail(err, file, lf, "loaded_at_field must be a column name or an SQL expression");
        kj_val v = kj_str_new(lf->s, lf->len);
        if (kj_oom(v) || (rc = kj_dict_setc(n->config, "loaded_at_field", v, err)))
            return rc ? rc : KILN_OOM(err);
    }
    const km_yaml *layers[2] = {sf, tf};
    kj_val fresh = kj_none();
    for (int i = 0; i < 2 && !rc; i++) {
        const km_yaml *f = layers[i];
        if (!f)
            continue;
        if (kiln_models__yaml_is_null(f)) {
            kj_release(fresh);
            fresh = kj_none();
            continue;
        }
        if (f->type != KM_Y_MAP)
            rc = kiln_models__yfail(err, file, f,
                                    "freshness must be a mapping (warn_after, error_after, filter) or null");
        for (size_t k = 0; !rc && k < f->n; k += 2) {
            const char *key = f->kids[k]->s;
            const km_yaml *v = f->kids[k + 1];
            if (strcmp(key, "warn_after") && strcmp(key, "error_after") && strcmp(key, "filter"))
                return kj_release(fresh), kiln_models__yfail(err, file, f->kids[k],
                                                             "unknown freshness key '%s' (warn_after, "
                                                             "error_after, filter)",
                                                             key);
            if (strcmp(key, "filter")) {
                const km_yaml *c = kiln_models__yaml_get(v, "count"), *pe = kiln_models__yaml_get(v, "period");
                if (!kiln_models__yaml_is_null(v) &&
                    (v->type != KM_Y_MAP || !c || !pe || c->type != KM_Y_SCALAR || pe->type != KM_Y_SCALAR ||
                     atoll(c->s) <= 0 || (strcmp(pe->s, "minute") && strcmp(pe->s, "hour") && strcmp(pe->s, "day"))))
                    return kj_release(fresh), kiln_models__yfail(err, file, v,
                                                                 "%s needs count (a positive integer) and period "
                                                                 "(minute, hour or day)",
                                                                 key);
            }
            if (fresh.t != KJ_DICT) {
                fresh = kj_dict_new();
                if (kj_oom(fresh))
                    return KILN_OOM(err);
            }
            kj_val x;
            if ((rc = kiln_models__yaml_to_kj(v, &x, err)) || (rc = kj_dict_setc(fresh, key, x, err)))
                break;
        }
    }
    if (rc) {
        kj_release(fresh);
        return rc;
    }
    return kj_dict_setc(n->config, "freshness", fresh, err);
}

/* The package whose model paths hold file (NULL: the root project's). */
static const km_package *package_of_file(const kiln_project *p, const char *file)
{
    for (size_t g = 0; g < p->packages.len; g++) {
        const km_package *pk = p->packages.items[g];
        for (size_t r = 0; r < pk->model_paths.len; r++) {
            size_t n = strlen(pk->model_paths.items[r]);
            if (!strncmp(file, pk->model_paths.items[r], n) && file[n] == '/')
                return pk;
        }
    }
    return NULL;
}

static int parse_sources(kiln_project *p, const char *file, const km_yaml *list, kiln_err *err)
{
    int rc = 0;
    const km_package *pk = package_of_file(p, file);
    const char *owner = pk ? pk->name : p->name; /* a package's sources are its own (source.<package>....) */
    if (list->type != KM_Y_SEQ)
        return kiln_models__yfail(err, file, list, "sources must be a list");
    for (size_t i = 0; i < list->n && !rc; i++) {
        const km_yaml *s = list->kids[i];
        const char *sname, *schema = NULL;
        if (s->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, s, "each source must be a mapping with a name");
        if ((rc = ystr(file, kiln_models__yaml_get(s, "name"), "source name", &sname, err)))
            return rc;
        const km_yaml *sch = kiln_models__yaml_get(s, "schema");
        if (sch && (rc = ystr(file, sch, "schema", &schema, err)))
            return rc;
        const km_yaml *tables = kiln_models__yaml_get(s, "tables");
        if (!tables || tables->type != KM_Y_SEQ)
            return kiln_models__yfail(err, file, tables ? tables : s, "source '%s' needs a list of tables", sname);
        for (size_t k = 0; k < tables->n && !rc; k++) {
            const km_yaml *t = tables->kids[k];
            const char *tname, *ident = NULL;
            if (t->type != KM_Y_MAP)
                return kiln_models__yfail(err, file, t, "each source table must be a mapping with a name");
            if ((rc = ystr(file, kiln_models__yaml_get(t, "name"), "table name", &tname, err)))
                return rc;
            const km_yaml *id = kiln_models__yaml_get(t, "identifier");
            if (id && (rc = ystr(file, id, "identifier", &ident, err)))
                return rc;
            km_node *n = kiln_models__node_new(KM_SOURCE);
            if (!n)
                return KILN_OOM(err);
            n->name = kiln_strdup(tname);
            n->source_name = kiln_strdup(sname);
            n->schema = kiln_strdup(schema ? schema : sname);
            n->identifier = kiln_strdup(ident ? ident : tname);
            n->unique_id = kiln_sprintf("source.%s.%s.%s", owner, sname, tname);
            n->fqn = kiln_sprintf("%s.%s.%s", owner, sname, tname);
            n->package = pk ? pk->name : NULL;
            n->path = kiln_strdup(file);
            const km_yaml *desc = kiln_models__yaml_get(t, "description");
            n->description = kiln_strdup(desc && desc->type == KM_Y_SCALAR ? desc->s : "");
            n->line = t->line;
            n->col = t->col;
            if (!n->name || !n->source_name || !n->schema || !n->identifier || !n->unique_id || !n->fqn || !n->path ||
                !n->description) {
                node_free(n);
                return KILN_OOM(err);
            }
            if ((rc = kiln_models__add_node(p, n, err)))
                return rc;
            if ((rc = source_freshness_cfg(file, s, t, n, err)))
                return rc;
            const km_yaml *cols = kiln_models__yaml_get(t, "columns");
            if (cols && !kiln_models__yaml_is_null(cols))
                rc = parse_columns(p, file, cols, n, err);
        }
    }
    return rc;
}

static int parse_schema_file(kiln_project *p, const char *rel, kiln_err *err)
{
    km_yaml *doc;
    int rc = load_yaml(p, rel, &doc, err);
    if (rc || !doc)
        return rc;
    if (doc->type != KM_Y_MAP)
        return kiln_models__yfail(err, rel, doc, "a schema file must be a mapping (version: 2, models:, sources:)");
    const km_yaml *x;
    if ((x = kiln_models__yaml_get(doc, "sources")) && (rc = parse_sources(p, rel, x, err)))
        return rc;
    return 0;
}

static int parse_schema_file_models(kiln_project *p, const char *rel, kiln_err *err)
{
    km_yaml *doc;
    int rc = load_yaml(p, rel, &doc, err);
    if (rc || !doc || doc->type != KM_Y_MAP)
        return rc;
    const km_yaml *x;
    if ((rc = kiln_models__versions_parse(p, rel, doc, err))) /* groups, versions, access */
        return rc;
    if ((x = kiln_models__yaml_get(doc, "models")) && (rc = parse_schema_models(p, rel, x, 0, err)))
        return rc;
    if ((x = kiln_models__yaml_get(doc, "seeds")) && (rc = parse_schema_models(p, rel, x, 1, err)))
        return rc;
    if ((x = kiln_models__yaml_get(doc, "unit_tests")) && (rc = kiln_models__ut_parse(p, rel, x, err)))
        return rc;
    if ((x = kiln_models__yaml_get(doc, "snapshots")) && (rc = kiln_models__snapshots_yaml(p, rel, x, err)))
        return rc;
    return 0;
}

/* ------------------------------------------------------------ dbt_project.yml and profiles */

/* require-dbt-version against the dbt version kiln follows.
 * One constraint: [op]MAJOR[.MINOR[.PATCH]] with op one of >=, <=, >, <,
 * ==, =, != (none: ==). 1 holds, 0 does not, -1 malformed. */
#define KILN_DBT_VERSION "1.8.0"
static int version_ok(const char *s)
{
    while (*s == ' ')
        s++;
    char op[3] = "";
    size_t k = 0;
    while (k < 2 && strchr("<>=!", s[k])) {
        op[k] = s[k];
        k++;
    }
    op[k] = 0;
    s += k;
    while (*s == ' ')
        s++;
    long want[3] = {0, 0, 0}, have[3] = {1, 8, 0};
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        char *e;
        want[i] = strtol(s, &e, 10);
        s = e;
        if (*s != '.')
            break;
        s++;
    }
    while (*s == ' ')
        s++;
    if (*s)
        return -1;
    int cmp = 0;
    for (int i = 0; i < 3 && !cmp; i++)
        cmp = have[i] < want[i] ? -1 : have[i] > want[i];
    if (!*op || !strcmp(op, "==") || !strcmp(op, "="))
        return cmp == 0;
    if (!strcmp(op, ">="))
        return cmp >= 0;
    if (!strcmp(op, "<="))
        return cmp <= 0;
    if (!strcmp(op, ">"))
        return cmp > 0;
    if (!strcmp(op, "<"))
        return cmp < 0;
    if (!strcmp(op, "!="))
        return cmp != 0;
    return -1;
}

static int parse_project_file(kiln_project *p, kiln_err *err)
{
    km_yaml *doc;
    const char *file = "dbt_project.yml";
    int rc = load_yaml(p, file, &doc, err);
    if (rc == KILN_EIO || rc == KILN_ENOTFOUND)
        return kiln_err_set(err, KILN_ENOTFOUND, "%s/dbt_project.yml not found: not a dbt project directory", p->dir);
    if (rc)
        return rc;
    if (!doc || doc->type != KM_Y_MAP)
        return kiln_models__yfail(err, file, doc, "dbt_project.yml must be a mapping");
    const char *s;
    if ((rc = ystr(file, kiln_models__yaml_get(doc, "name"), "name", &s, err)))
        return rc;
    for (const char *q = s; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return kiln_models__yfail(err, file, kiln_models__yaml_get(doc, "name"),
                                      "project name '%s' must be letters, digits and underscores", s);
    if (!(p->name = kiln_strdup(s)))
        return KILN_OOM(err);
    const km_yaml *x = kiln_models__yaml_get(doc, "profile");
    if (x && !kiln_models__yaml_is_null(x)) {
        if ((rc = ystr(file, x, "profile", &s, err)))
            return rc;
        p->profile_name = kiln_strdup(s);
    } else {
        p->profile_name = kiln_strdup(p->name);
    }
    x = kiln_models__yaml_get(doc, "target-path");
    if (x && (rc = ystr(file, x, "target-path", &s, err)))
        return rc;
    p->target_path = kiln_strdup(x ? s : "target");
    if (!p->profile_name || !p->target_path)
        return KILN_OOM(err);
    x = kiln_models__yaml_get(doc, "packages-install-path");
    if (x && (rc = ystr(file, x, "packages-install-path", &s, err)))
        return rc;
    if (x && !(p->packages_path = kiln_strdup(s)))
        return KILN_OOM(err);
    if (strstr(p->target_path, ".."))
        return kiln_models__yfail(err, file, x, "target-path must not contain '..'");
    static const struct {
        const char *key, *def;
        size_t off;
    } paths[] = {
        {"model-paths", "models", offsetof(kiln_project, model_paths)},
        {"seed-paths", "seeds", offsetof(kiln_project, seed_paths)},
        {"macro-paths", "macros", offsetof(kiln_project, macro_paths)},
        {"test-paths", "tests", offsetof(kiln_project, test_paths)},
        {"snapshot-paths", "snapshots", offsetof(kiln_project, snapshot_paths)},
        {"analysis-paths", "analyses", offsetof(kiln_project, analysis_paths)},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        km_strvec *v = (km_strvec *)((char *)p + paths[i].off);
        x = kiln_models__yaml_get(doc, paths[i].key);
        if (!x) /* dbt 1.x also reads the old source-paths/data-paths names */
            x = kiln_models__yaml_get(doc, i == 0 ? "source-paths" : i == 1 ? "data-paths" : "-");
        if (x && !kiln_models__yaml_is_null(x)) {
            if ((rc = ystrlist(file, x, paths[i].key, v, err)))
                return rc;
        } else {
            char *d = kiln_strdup(paths[i].def);
            if (!d || (rc = kiln_vec_push(v, d, err)))
                return d ? rc : KILN_OOM(err);
        }
        for (size_t k = 0; k < v->len; k++)
            if (strstr(v->items[k], "..") || v->items[k][0] == '/')
                return kiln_models__yfail(err, file, x, "%s: '%s' must be a path inside the project", paths[i].key,
                                          v->items[k]);
    }
    x = kiln_models__yaml_get(doc, "vars");
    if (x && !kiln_models__yaml_is_null(x)) {
        if (x->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, x, "vars must be a mapping");
        kj_release(p->vars);
        if ((rc = kiln_models__yaml_to_kj(x, &p->vars, err)))
            return rc;
    }
    static const struct {
        const char *key;
        size_t off;
    } trees[] = {{"models", offsetof(kiln_project, cfg_models)},
                 {"seeds", offsetof(kiln_project, cfg_seeds)},
                 {"tests", offsetof(kiln_project, cfg_tests)},
                 {"data_tests", offsetof(kiln_project, cfg_tests)},
                 {"snapshots", offsetof(kiln_project, cfg_snapshots)}};
    for (size_t i = 0; i < sizeof trees / sizeof trees[0]; i++) {
        x = kiln_models__yaml_get(doc, trees[i].key);
        if (!x || kiln_models__yaml_is_null(x))
            continue;
        if (x->type != KM_Y_MAP)
            return kiln_models__yfail(err, file, x, "%s: must be a mapping (project name, then folders)", trees[i].key);
        kj_val *slot = (kj_val *)((char *)p + trees[i].off);
        kj_release(*slot);
        if ((rc = kiln_models__yaml_to_kj(x, slot, err)))
            return rc;
    }
    static const char *const hooks[] = {"on-run-start", "on-run-end"};
    for (int i = 0; i < 2; i++) {
        kj_val *slot = i ? &p->on_run_end : &p->on_run_start;
        x = kiln_models__yaml_get(doc, hooks[i]);
        if (!x || kiln_models__yaml_is_null(x))
            continue;
        if (x->type == KM_Y_MAP)
            return kiln_models__yfail(err, file, x, "%s: must be an SQL statement or a list of them", hooks[i]);
        kj_release(*slot);
        if ((rc = kiln_models__yaml_to_kj(x, slot, err)))
            return rc;
    }
    x = kiln_models__yaml_get(doc, "version");
    if (x && x->type == KM_Y_SCALAR)
        p->version = kiln_strdup(x->s);
    x = kiln_models__yaml_get(doc, "require-dbt-version");
    if (x && !kiln_models__yaml_is_null(x)) { /* a constraint or a list of them, all of which must hold */
        size_t nc = x->type == KM_Y_SEQ ? x->n : 1;
        for (size_t i = 0; i < nc; i++) {
            const km_yaml *c = x->type == KM_Y_SEQ ? x->kids[i] : x;
            int ok = c->type == KM_Y_SCALAR ? version_ok(c->s) : -1;
            if (ok < 0)
                return kiln_models__yfail(
                    err, file, c, "require-dbt-version: '%s' is not a version constraint (>=1.0.0, <2.0.0, 1.8.0)",
                    c->type == KM_Y_SCALAR ? c->s : "?");
            if (!ok)
                return kiln_models__yfail(
                    err, file, c,
                    "this project requires dbt version %s; kiln runs projects as dbt %s does (see "
                    "docs/models.md)",
                    c->s, KILN_DBT_VERSION);
        }
    }
    return 0;
}

static int parse_profiles(kiln_project *p, kiln_err *err)
{
    const char *dirs[4] = {0};
    int nd = 0;
    char *home_dbt = NULL;
    if (p->opts.profiles_dir)
        dirs[nd++] = p->opts.profiles_dir;
    else {
        const char *env = getenv("DBT_PROFILES_DIR");
        if (env && *env)
            dirs[nd++] = env;
        dirs[nd++] = p->dir;
        const char *home = getenv("HOME");
        if (home && *home && (home_dbt = kiln_sprintf("%s/.dbt", home)))
            dirs[nd++] = home_dbt;
    }
    char *path = NULL, *text = NULL;
    size_t len = 0;
    int rc = KILN_ENOTFOUND;
    for (int i = 0; i < nd && rc; i++) {
        kiln_free(path);
        path = kiln_sprintf("%s/profiles.yml", dirs[i]);
        if (!path) {
            kiln_free(home_dbt);
            return KILN_OOM(err);
        }
        struct stat st;
        if (stat(path, &st) == 0)
            rc = kiln_file_read(path, KM_FILE_CAP, &text, &len, err);
    }
    kiln_free(home_dbt);
    if (rc == KILN_ENOTFOUND) {
        kiln_free(path);
        return kiln_err_set(
            err, KILN_ECONFIG,
            "no profiles.yml found (looked in --profiles-dir, $DBT_PROFILES_DIR, the project directory, "
            "~/.dbt) for profile '%s'",
            p->profile_name);
    }
    if (rc) {
        kiln_free(path);
        return rc;
    }
    km_yaml *doc;
    kiln_buf rendered; /* {{ env_var(...) }} in the values */
    kiln_buf_init(&rendered, 0);
    rc = kiln_models__render_profile(p, path, text, len, &rendered, err);
    kiln_free(text);
    if (!rc)
        rc = kiln_models__yaml_parse(path, rendered.data ? rendered.data : "", rendered.len, p->arena, &doc, err);
    kiln_buf_free(&rendered);
    if (rc) {
        kiln_free(path);
        return rc == KILN_EFORMAT || rc == KILN_EINVAL ? (err->code = KILN_ECONFIG) : rc;
    }
    const km_yaml *prof = kiln_models__yaml_get(doc, p->profile_name), *x;
    const char *s;
    if (!prof || prof->type != KM_Y_MAP) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s: no profile named '%s' (dbt_project.yml's profile)", path,
                          p->profile_name);
        goto done;
    }
    const char *target = p->opts.target;
    if (!target) {
        x = kiln_models__yaml_get(prof, "target");
        if (!x || ystr(path, x, "target", &target, err)) {
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%u:%u: profile '%s' names no default target", path, prof->line,
                              prof->col, p->profile_name);
            goto done;
        }
    }
    const km_yaml *outs = kiln_models__yaml_get(prof, "outputs");
    const km_yaml *t = kiln_models__yaml_get(outs, target);
    if (!t || t->type != KM_Y_MAP) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s:%u:%u: profile '%s' has no output named '%s'", path,
                          outs ? outs->line : prof->line, outs ? outs->col : prof->col, p->profile_name, target);
        goto done;
    }
    x = kiln_models__yaml_get(t, "type");
    if ((rc = ystr(path, x, "type", &s, err)) || strcmp(s, "kiln") != 0) {
        rc =
            kiln_err_set(err, KILN_ECONFIG, "%s:%u:%u: target '%s' has type '%s': kiln runs targets of type kiln", path,
                         x ? x->line : t->line, x ? x->col : t->col, target, x && x->type == KM_Y_SCALAR ? x->s : "");
        goto done;
    }
    p->target_name = kiln_strdup(target);
    p->target_type = kiln_strdup("kiln");
    x = kiln_models__yaml_get(t, "warehouse");
    if (x && (rc = ystr(path, x, "warehouse", &s, err)))
        goto done;
    p->warehouse =
        x ? (s[0] == '/' ? kiln_strdup(s) : kiln_sprintf("%s/%s", p->dir, s)) : kiln_sprintf("%s/warehouse", p->dir);
    if (p->opts.warehouse && *p->opts.warehouse) { /* kiln --warehouse DIR build: the command line wins */
        kiln_free(p->warehouse);
        p->warehouse = kiln_strdup(p->opts.warehouse);
    }
    x = kiln_models__yaml_get(t, "schema");
    if (x && (rc = ystr(path, x, "schema", &s, err)))
        goto done;
    p->schema = kiln_strdup(x ? s : "analytics");
    p->threads = 1;
    x = kiln_models__yaml_get(t, "threads");
    if (x) {
        kj_val v;
        if ((rc = kiln_models__yaml_to_kj(x, &v, err)))
            goto done;
        if (v.t == KJ_STR && v.u.s->len && v.u.s->len < 4 && strspn(v.u.s->p, "0123456789") == v.u.s->len) {
            long tn = atol(v.u.s->p); /* "{{ env_var('THREADS') }}" renders to a string; dbt casts it */
            kj_release(v);
            v = kj_int(tn);
        }
        if (v.t != KJ_INT || v.u.i < 1 || v.u.i > 64) {
            kj_release(v);
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%u:%u: threads must be an integer 1..64", path, x->line, x->col);
            goto done;
        }
        p->threads = (int)v.u.i;
    }
    if (p->opts.threads > 0)
        p->threads = p->opts.threads;
    if (!p->target_name || !p->target_type || !p->warehouse || !p->schema)
        rc = KILN_OOM(err);
done:
    if (rc && err->code == KILN_EFORMAT)
        err->code = KILN_ECONFIG;
    kiln_free(path);
    return rc;
}

/* ------------------------------------------------------------ generate_schema_name */

int kiln_models__resolve_schemas(kiln_project *p, kiln_err *err)
{
    kj_val *macro = kj_dict_getc(kj_env_globals(p->env), "generate_schema_name");
    if (!macro || macro->t != KJ_FUNC)
        return 0;
    static const char *const kinds[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
    int rc = 0;
    for (size_t i = 0; i < p->nodes.len && !rc; i++) {
        km_node *n = p->nodes.items[i];
        if (n->kind == KM_SOURCE)
            continue;
        kj_val node = kj_dict_new(), out = kj_undef();
        if (kj_oom(node))
            return KILN_OOM(err);
        kj_val custom = kiln_models__cfg(n, "schema");
        if ((rc = kj_dict_setc(node, "name", kj_str_c(n->name), err)) ||
            (rc = kj_dict_setc(node, "resource_type", kj_str_c(kinds[n->kind]), err)) ||
            (rc = kj_dict_setc(node, "unique_id", kj_str_c(n->unique_id), err)) ||
            (rc = kj_dict_setc(node, "original_file_path", kj_str_c(n->path), err)) ||
            (rc = kj_dict_setc(node, "config", kj_retain(n->config), err))) {
            kj_release(node);
            return rc;
        }
        kj_val args[2] = {custom.t == KJ_STR ? custom : kj_none(), node};
        kj_args a = {2, 0, args, NULL, NULL, kj_undef()};
        rc = kj_call_value(p->env, *macro, &a, &out, err);
        kj_release(node);
        if (rc)
            return rc == KILN_EINVAL ? (err->code = KILN_EFORMAT) : rc;
        kiln_buf b;
        kiln_buf_init(&b, 0);
        rc = kj_str_append(NULL, out, &b, err);
        kj_release(out);
        if (rc) {
            kiln_buf_free(&b);
            return rc;
        }
        const char *q = b.data ? b.data : "", *e = q + b.len;
        while (q < e && (*q == ' ' || *q == '\n' || *q == '\t' || *q == '\r'))
            q++;
        while (e > q && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        kiln_free(n->schema_name);
        n->schema_name = kiln_strndup(q, (size_t)(e - q));
        kiln_buf_free(&b);
        if (!n->schema_name)
            return KILN_OOM(err);
        if (!n->schema_name[0])
            return kiln_err_set(err, KILN_EFORMAT, "generate_schema_name returned an empty schema for %s",
                                n->unique_id);
    }
    return rc;
}

/* ------------------------------------------------------------ warehouse state */

int kiln_models__relation_exists(kiln_project *p, const km_node *n)
{
    if (!p->catalog) {
        char *db = kiln_sprintf("%s/catalog.db", p->warehouse);
        struct stat st;
        int have = db && stat(db, &st) == 0;
        kiln_free(db);
        kiln_err e = {0};
        if (!have || kiln_lake_catalog_open(&p->catalog, p->warehouse, KILN_LAKE_CATALOG_SQLITE, &e))
            return 0;
    }
    char *rel = kiln_models__relation(p, n);
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    int found = rel && kiln_lake_table_load(&t, p->catalog, rel, &e) == 0;
    kiln_lake_table_free(t);
    char ns[129], v[129], name[260];
    if (!found && rel && !kiln_sql_relation_name(rel, ns, v)) { /* a view model's Iceberg view */
        snprintf(name, sizeof name, "%s.%s", ns, v);
        found = kiln_lake_view_exists(p->catalog, name);
    }
    kiln_free(rel);
    return found;
}

const char *kiln_project_warehouse(const kiln_project *p) { return p->warehouse; }

int kiln_models__is_incremental(kiln_project *p, const km_node *n)
{
    if (n->kind != KM_MODEL || strcmp(kiln_models__cfg_str(n, "materialized", ""), "incremental"))
        return 0;
    kj_val fr = kiln_models__cfg(n, "full_refresh"); /* the config overrides the flag, as in dbt */
    int full = fr.t == KJ_BOOL ? fr.u.b : p->opts.full_refresh;
    if (fr.t != KJ_BOOL && p->opts.branch && /* forward-only changes keep history on a plan's branch */
        (p->opts.forward_only || kj_truthy(kiln_models__cfg(n, "forward_only"))))
        full = 0;
    if (full || !kiln_models__relation_exists(p, n))
        return 0;
    /* a view of that name (the model was a view) is replaced by a new table */
    char *rel = kiln_models__relation(p, n), ns[129], v[129], name[260];
    int view = rel && !kiln_sql_relation_name(rel, ns, v) && snprintf(name, sizeof name, "%s.%s", ns, v) > 0 &&
               kiln_lake_view_exists(p->catalog, name);
    kiln_free(rel);
    return !view;
}

/* ------------------------------------------------------------ load */

void kiln_project_free(kiln_project *p)
{
    if (!p)
        return;
    kj_release(p->render_ctx); /* before the nodes and the env */
    kiln_buf_free(&p->pp_env);
    kiln_free(p->pp_off);
    kiln_free(p->render_rctx);
    kiln_models__ut_free(p);
    kiln_models__versions_free(p);
    kiln_models__defer_free(p);
    for (size_t i = 0; i < p->nodes.len; i++)
        node_free(p->nodes.items[i]);
    kiln_vec_free(&p->nodes);
    kiln_map_free(p->by_id);
    kiln_map_free(p->by_name);
    kiln_map_free(p->test_calls);
    kj_release(p->on_run_start);
    kj_release(p->statements);
    kj_release(p->macros);
    kiln_free(p->packages_path);
    kj_release(p->cli_vars);
    for (size_t i = 0; i < p->packages.len; i++) {
        km_package *pk = p->packages.items[i];
        kiln_free(pk->name);
        strvec_free(&pk->model_paths);
        strvec_free(&pk->seed_paths);
        strvec_free(&pk->snapshot_paths);
        kj_release(pk->cfg_models);
        kj_release(pk->cfg_seeds);
        kj_release(pk->cfg_snapshots);
        kj_release(pk->on_run_start);
        kj_release(pk->on_run_end);
        kj_release(pk->vars);
        kiln_free(pk);
    }
    kiln_vec_free(&p->packages);
    kiln_sql_db_close(p->qdb);
    kj_release(p->on_run_end);
    kj_release(p->vars);
    kj_release(p->cfg_models);
    kj_release(p->cfg_seeds);
    kj_release(p->cfg_tests);
    kj_release(p->cfg_snapshots);
    kj_release(p->docs);
    kj_env_free(p->env);
    kiln_lake_catalog_free(p->catalog);
    json_decref(p->state_manifest);
    json_decref(p->state_results);
    kiln_free(p->on_branch);
    kiln_arena_free(p->arena);
    strvec_free(&p->model_paths);
    strvec_free(&p->seed_paths);
    strvec_free(&p->macro_paths);
    strvec_free(&p->test_paths);
    strvec_free(&p->snapshot_paths);
    strvec_free(&p->analysis_paths);
    kiln_free(p->dir);
    kiln_free(p->name);
    kiln_free(p->profile_name);
    kiln_free(p->version);
    kiln_free(p->target_path);
    kiln_free(p->target_name);
    kiln_free(p->target_type);
    kiln_free(p->warehouse);
    kiln_free(p->schema);
    kiln_free(p);
}

static int load_cli_vars(kiln_project *p, kiln_err *err)
{
    if (!p->opts.vars)
        return 0;
    km_yaml *doc;
    int rc = kiln_models__yaml_parse("--vars", p->opts.vars, strlen(p->opts.vars), p->arena, &doc, err);
    if (rc)
        return err->code = KILN_EINVAL;
    if (!doc)
        return 0;
    if (doc->type != KM_Y_MAP)
        return kiln_err_set(err, KILN_EINVAL, "--vars must be a YAML mapping, like '{key: value}'");
    kj_val v;
    if ((rc = kiln_models__yaml_to_kj(doc, &v, err)))
        return rc;
    for (size_t i = 0; i < v.u.d->len && !rc; i++)
        rc = kj_dict_set(p->vars, kj_retain(v.u.d->keys[i]), kj_retain(v.u.d->vals[i]), err);
    kj_release(p->cli_vars);
    p->cli_vars = v; /* var() looks here first: --vars beat the project's scoped vars */
    return rc;
}

int kiln_models__load_base(kiln_project **out, const kiln_models_opts *o, kiln_err *err)
{
    int rc;
    km_strvec files = {0};
    *out = NULL;
    kiln_project *p = kiln_calloc(1, sizeof(*p));
    if (!p)
        return KILN_OOM(err);
    p->opts = *o;
    p->started_micros = kiln_now_micros();
    p->vars = kj_dict_new();
    p->docs = kj_dict_new();
    p->cfg_models = p->cfg_seeds = p->cfg_tests = p->cfg_snapshots = p->on_run_start = p->on_run_end = p->statements =
        p->macros = p->cli_vars = kj_none();
    if (!(p->dir = kiln_strdup(o->project_dir ? o->project_dir : ".")) || !(p->arena = kiln_arena_new(65536)) ||
        !(p->by_id = kiln_map_new()) || !(p->by_name = kiln_map_new()) || kj_oom(p->vars) || kj_oom(p->docs)) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kj_env_new(&p->env, err)) || (rc = parse_project_file(p, err)) || (rc = parse_profiles(p, err)) ||
        (rc = load_cli_vars(p, err)))
        goto done;
    /* target: also a global, for macros called outside a node's render
     * (generate_schema_name) */
    kj_val target = kj_dict_new();
    if (kj_oom(target) || (rc = kj_dict_setc(kj_env_globals(p->env), "target", target, err))) {
        rc = rc ? rc : KILN_OOM(err);
        goto done;
    }
    if ((rc = kj_dict_setc(target, "name", kj_str_c(p->target_name), err)) ||
        (rc = kj_dict_setc(target, "schema", kj_str_c(p->schema), err)) ||
        (rc = kj_dict_setc(target, "type", kj_str_c("kiln"), err)) ||
        (rc = kj_dict_setc(target, "database", kj_str_c(""), err)) ||
        (rc = kj_dict_setc(target, "profile_name", kj_str_c(p->profile_name), err)) ||
        (rc = kj_dict_setc(target, "threads", kj_int(p->threads), err)))
        goto done;
    /* built-in generic tests first, so a project's {% test %} overrides them */
    kj_tpl *bt;
    if ((rc = kj_parse(p->env, "<kiln generic tests>", builtin_tests, strlen(builtin_tests), &bt, err)) ||
        (rc = kj_define_macros(p->env, bt, kj_env_globals(p->env), err)))
        goto done;
    if ((rc = load_packages(p, p->packages_path ? p->packages_path : "dbt_packages", err)))
        goto done;
    if ((rc = kj_parse(p->env, "<kiln statement macro>", kiln_models__query_macros, strlen(kiln_models__query_macros),
                       &bt, err)) ||
        (rc = kj_define_macros(p->env, bt, kj_env_globals(p->env), err)))
        goto done;
    /* macros (macro-paths, and tests/generic/) */
    for (size_t i = 0; i < p->macro_paths.len + p->test_paths.len && !rc; i++) {
        int is_test_path = i >= p->macro_paths.len;
        const char *root = is_test_path ? p->test_paths.items[i - p->macro_paths.len] : p->macro_paths.items[i];
        if ((rc = walk(p, root, 0, &files, err)))
            goto done;
        for (size_t k = 0; k < files.len && !rc; k++) {
            if (!has_ext(files.items[k], ".sql"))
                continue;
            if (is_test_path && !strstr(files.items[k] + strlen(root), "/generic/"))
                continue;
            char *text;
            size_t len;
            kj_tpl *t;
            if ((rc = read_rel(p, files.items[k], &text, &len, err)))
                goto done;
            rc = kj_parse(p->env, files.items[k], text, len, &t, err);
            if (!rc)
                rc = kj_define_macros(p->env, t, kj_env_globals(p->env), err);
            if (!rc)
                rc = note_macros(p, files.items[k], text, len, err);
            kiln_free(text);
        }
        strvec_free(&files);
    }
    if (rc)
        goto done;
    /* docs blocks in .md files under the model paths */
    for (size_t i = 0; i < p->model_paths.len && !rc; i++) {
        if ((rc = walk(p, p->model_paths.items[i], 0, &files, err)))
            goto done;
        for (size_t k = 0; k < files.len && !rc; k++) {
            if (!has_ext(files.items[k], ".md"))
                continue;
            char *text;
            size_t len;
            kj_tpl *t;
            if ((rc = read_rel(p, files.items[k], &text, &len, err)))
                goto done;
            rc = kj_parse(p->env, files.items[k], text, len, &t, err);
            kiln_free(text);
            if (!rc)
                rc = kj_docs_blocks(p->env, t, p->docs, err);
        }
        strvec_free(&files);
    }
done:
    strvec_free(&files);
    if (rc) {
        kiln_project_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

int kiln_models__load_nodes(kiln_project *p, kiln_err *err)
{
    int rc = 0;
    km_strvec files = {0};
    /* model, seed and singular test files */
    for (int pass = 0; pass < 4 && !rc; pass++) {
        km_strvec *roots = pass == 0   ? &p->model_paths
                           : pass == 1 ? &p->seed_paths
                           : pass == 2 ? &p->test_paths
                                       : &p->snapshot_paths;
        for (size_t i = 0; i < roots->len && !rc; i++) {
            if ((rc = walk(p, roots->items[i], 0, &files, err)))
                goto done;
            km_pre *pre = pass == 0 ? prefetch(p, &files) : NULL;
            for (size_t k = 0; k < files.len && !rc; k++) {
                const char *f = files.items[k];
                if (pass == 0 && has_ext(f, ".sql"))
                    rc = add_file_node_pre(p, KM_MODEL, roots->items[i], f, p->cfg_models, NULL, pre ? &pre[k] : NULL,
                                           err);
                else if (pass == 1 && has_ext(f, ".csv"))
                    rc = add_file_node(p, KM_SEED, roots->items[i], f, p->cfg_seeds, NULL, err);
                else if (pass == 2 && has_ext(f, ".sql") && !strstr(f + strlen(roots->items[i]), "/generic/"))
                    rc = add_file_node(p, KM_TEST, roots->items[i], f, p->cfg_tests, NULL, err);
                else if (pass == 3 && has_ext(f, ".sql"))
                    rc = add_file_node(p, KM_SNAPSHOT, roots->items[i], f, p->cfg_snapshots, NULL, err);
                else if (pass == 3 && (has_ext(f, ".yml") || has_ext(f, ".yaml"))) /* 1.9 YAML snapshots */
                    rc = kiln_models__snapshots_yaml_file(p, f, err);
            }
            prefetch_free(p, pre, files.len);
            strvec_free(&files);
        }
    }
    if (rc)
        goto done;
    /* the packages' models, seeds and snapshots, after the root project's */
    for (size_t g = 0; g < p->packages.len && !rc; g++) {
        const km_package *pk = p->packages.items[g];
        size_t nm = pk->model_paths.len, ns = pk->seed_paths.len;
        for (size_t r = 0; r < nm + ns + pk->snapshot_paths.len && !rc; r++) {
            int kind = r < nm ? KM_MODEL : r < nm + ns ? KM_SEED : KM_SNAPSHOT;
            const char *root = kind == KM_MODEL  ? pk->model_paths.items[r]
                               : kind == KM_SEED ? pk->seed_paths.items[r - nm]
                                                 : pk->snapshot_paths.items[r - nm - ns];
            if ((rc = walk(p, root, 0, &files, err)))
                goto done;
            for (size_t k = 0; k < files.len && !rc; k++)
                if (has_ext(files.items[k], kind == KM_SEED ? ".csv" : ".sql"))
                    rc = add_file_node(p, kind, root, files.items[k],
                                       kind == KM_SEED       ? p->cfg_seeds
                                       : kind == KM_SNAPSHOT ? p->cfg_snapshots
                                                             : p->cfg_models,
                                       pk, err);
            strvec_free(&files);
        }
    }
    if (rc)
        goto done;
    /* schema YAML: sources first (tests may point at them), then models/seeds
     * (the root project's folders, then each package's) */
    km_strvec yroots = {0};
    for (size_t r = 0; r < p->model_paths.len && !rc; r++)
        rc = kiln_vec_push(&yroots, p->model_paths.items[r], err);
    for (size_t r = 0; r < p->seed_paths.len && !rc; r++)
        rc = kiln_vec_push(&yroots, p->seed_paths.items[r], err);
    for (size_t g = 0; g < p->packages.len && !rc; g++) {
        const km_package *pk = p->packages.items[g];
        for (size_t r = 0; r < pk->model_paths.len && !rc; r++)
            rc = kiln_vec_push(&yroots, pk->model_paths.items[r], err);
        for (size_t r = 0; r < pk->seed_paths.len && !rc; r++)
            rc = kiln_vec_push(&yroots, pk->seed_paths.items[r], err);
    }
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t r = 0; r < yroots.len && !rc; r++) {
            if ((rc = walk(p, yroots.items[r], 0, &files, err)))
                break;
            for (size_t k = 0; k < files.len && !rc; k++)
                if (has_ext(files.items[k], ".yml") || has_ext(files.items[k], ".yaml"))
                    rc = pass == 0 ? parse_schema_file(p, files.items[k], err)
                                   : parse_schema_file_models(p, files.items[k], err);
            strvec_free(&files);
        }
    }
    kiln_vec_free(&yroots); /* the paths are the project's and packages' */
done:
    strvec_free(&files);
    return rc;
}

int kiln_project_load(kiln_project **out, const kiln_models_opts *o, kiln_err *err)
{
    int rc = kiln_models__load_base(out, o, err);
    if (!rc && (rc = kiln_models__load_nodes(*out, err))) {
        kiln_project_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------ deps  */

/* The directory of installed packages (packages-install-path) holding a
 * package whose dbt_project.yml is at <dir>/<rel>: its name, or NULL. */
static char *package_name_at(kiln_project *p, const char *rel)
{
    char *yml = kiln_sprintf("%s/dbt_project.yml", rel), *name = NULL;
    km_yaml *doc = NULL;
    kiln_err e = {0};
    if (yml && !load_yaml(p, yml, &doc, &e) && doc) {
        const km_yaml *nm = kiln_models__yaml_get(doc, "name");
        if (nm && nm->type == KM_Y_SCALAR)
            name = kiln_strdup(nm->s);
    }
    kiln_free(yml);
    return name;
}

/* One local: entry: a symlink <install>/<name> -> the package (relative,
 * so the project can move), as dbt deps makes for local packages. */
static int deps_local(kiln_project *p, const char *install, const char *file, const km_yaml *loc, FILE *out,
                      int *failed, kiln_err *err)
{
    fprintf(out, "Installing %s\n", loc->s);
    char *name = loc->s[0] == '/' ? NULL : package_name_at(p, loc->s);
    if (!name) {
        fprintf(out,
                "  ERROR %s:%u:%u: local package '%s' has no dbt_project.yml with a name (paths are relative "
                "to the project)\n",
                file, loc->line, loc->col, loc->s);
        (*failed)++;
        return 0;
    }
    kiln_buf target;
    kiln_buf_init(&target, 0);
    int rc = 0;
    for (const char *q = install; *q && !rc; q++) /* one ../ per component of the install path */
        if (q == install || q[-1] == '/')
            rc = kiln_buf_append(&target, "../", 3, err);
    if (!rc)
        rc = kiln_buf_append(&target, loc->s, strlen(loc->s), err);
    char *dir = kiln_sprintf("%s/%s", p->dir, install), *link = kiln_sprintf("%s/%s/%s", p->dir, install, name);
    if (!rc && (!dir || !link))
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_mkdirs(dir, err);
    struct stat st;
    if (!rc && !lstat(link, &st)) {
        if (S_ISLNK(st.st_mode)) {
            if (unlink(link))
                rc = kiln_err_set(err, KILN_EIO, "%s: %s", link, strerror(errno));
        } else {
            fprintf(out, "  Kept %s/%s (a directory, not a link: remove it to install from %s)\n", install, name,
                    loc->s);
            goto done;
        }
    }
    if (!rc && symlink(target.data, link))
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", link, strerror(errno));
    if (!rc)
        fprintf(out, "  Installed from <local directory> as %s/%s -> %s\n", install, name, target.data);
done:
    kiln_buf_free(&target);
    kiln_free(dir);
    kiln_free(link);
    kiln_free(name);
    return rc;
}

int kiln_models_deps(const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err)
{
    *failed = 0;
    kiln_project *p = kiln_calloc(1, sizeof(*p));
    if (!p)
        return KILN_OOM(err);
    p->opts = *o;
    p->vars = kj_dict_new();
    p->docs = kj_dict_new();
    p->cfg_models = p->cfg_seeds = p->cfg_tests = p->cfg_snapshots = p->on_run_start = p->on_run_end = p->statements =
        p->macros = p->cli_vars = kj_none();
    int rc = 0, found = 0;
    if (!(p->dir = kiln_strdup(o->project_dir ? o->project_dir : ".")) || !(p->arena = kiln_arena_new(65536)) ||
        !(p->by_id = kiln_map_new()) || !(p->by_name = kiln_map_new()) || kj_oom(p->vars) || kj_oom(p->docs))
        rc = KILN_OOM(err);
    if (!rc)
        rc = parse_project_file(p, err);
    const char *install = p->packages_path ? p->packages_path : "dbt_packages";
    if (!rc && (strstr(install, "..") || install[0] == '/'))
        rc = kiln_err_set(err, KILN_EFORMAT, "packages-install-path '%s' must be a path inside the project", install);
    for (int f = 0; f < 2 && !rc; f++) {
        const char *file = f ? "dependencies.yml" : "packages.yml";
        km_yaml *doc = NULL;
        if ((rc = packages_file(p, file, &doc, err)))
            break;
        if (!doc)
            continue;
        const km_yaml *list = kiln_models__yaml_get(doc, "packages");
        if (!list || kiln_models__yaml_is_null(list))
            continue;
        if (list->type != KM_Y_SEQ) {
            rc = kiln_models__yfail(err, file, list, "packages: must be a list");
            break;
        }
        for (size_t i = 0; i < list->n && !rc; i++) {
            const km_yaml *e = list->kids[i];
            const km_yaml *loc = kiln_models__yaml_get(e, "local");
            found++;
            if (loc && loc->type == KM_Y_SCALAR) {
                rc = deps_local(p, install, file, loc, out, failed, err);
                continue;
            }
            static const char *const kinds[] = {"package", "git", "tarball", "private"};
            const km_yaml *src = NULL;
            int k = 0;
            for (; k < 4 && !src; k++)
                src = kiln_models__yaml_get(e, kinds[k]);
            if (!src || src->type != KM_Y_SCALAR) {
                rc = kiln_models__yfail(err, file, e,
                                        "a package entry needs local:, package:, git:, tarball: or private:");
                break;
            }
            k--;
            /* an already installed copy (dbt deps run elsewhere, or copied
             * in): the hub name's last part, or the repository's name */
            const char *base = strrchr(src->s, '/');
            base = base ? base + 1 : src->s;
            size_t bl = strlen(base);
            if (bl > 4 && !strcmp(base + bl - 4, ".git"))
                bl -= 4;
            char *rel = kiln_sprintf("%s/%.*s", install, (int)bl, base);
            char *name = rel ? package_name_at(p, rel) : NULL;
            fprintf(out, "Installing %s\n", src->s);
            if (name)
                fprintf(out, "  Found %s installed in %s (kiln does not download packages; kept as it is)\n", name,
                        rel);
            else {
                fprintf(out,
                        "  ERROR %s:%u:%u: %s package '%s' cannot be installed: kiln does not download packages "
                        "(no hub or git access); run `dbt deps` where they are reachable, or copy the package into "
                        "%s/, then run kiln again\n",
                        file, src->line, src->col, k == 0 ? "hub" : kinds[k], src->s, install);
                (*failed)++;
            }
            kiln_free(rel);
            kiln_free(name);
        }
    }
    if (!rc && !found)
        fprintf(out, "Warning: No packages were found in packages.yml\n");
    kiln_project_free(p);
    return rc;
}

/* ---- nodes declared in YAML (1.9 snapshots), for snapshot_yaml.c ---- */

int kiln_models__add_yaml_node(kiln_project *p, km_kind kind, const char *name, const char *file, const char *raw,
                               km_node **out, kiln_err *err)
{
    int rc;
    km_strvec fqn = {0};
    km_node *n = kiln_models__node_new(kind);
    *out = NULL;
    if (!n)
        return KILN_OOM(err);
    static const char *const kinds[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
    char *a = kiln_strdup(p->name), *b = kiln_strdup(name);
    if (!a || !b || (rc = kiln_vec_push(&fqn, a, err)) || (a = NULL, rc = kiln_vec_push(&fqn, b, err))) {
        kiln_free(a);
        kiln_free(b);
        rc = KILN_OOM(err);
        goto fail;
    }
    b = NULL;
    n->name = kiln_strdup(name);
    n->path = kiln_strdup(file);
    n->fqn = join_fqn(&fqn);
    n->unique_id = kiln_sprintf("%s.%s.%s", kinds[kind], p->name, name);
    n->raw = kiln_strdup(raw);
    n->raw_len = n->raw ? strlen(n->raw) : 0;
    if (!n->name || !n->path || !n->fqn || !n->unique_id || !n->raw) {
        rc = KILN_OOM(err);
        goto fail;
    }
    if ((rc = kj_parse(p->env, file, n->raw, n->raw_len, &n->tpl, err)))
        goto fail;
    if ((rc = kj_dict_setc(n->config, "materialized", kj_str_c(kind == KM_SNAPSHOT ? "snapshot" : "view"), err)) ||
        (rc = kj_dict_setc(n->config, "enabled", kj_bool(1), err)) ||
        (rc = cfg_from_tree(n->config, kind == KM_SNAPSHOT ? p->cfg_snapshots : p->cfg_models, &fqn, err)))
        goto fail;
    strvec_free(&fqn);
    if ((rc = kiln_models__add_node(p, n, err)))
        return rc;
    *out = n;
    return 0;
fail:
    strvec_free(&fqn);
    node_free(n);
    return rc;
}
