/*
 * assets.c - the current state of a task's consumed assets (consumes:),
 * which goes into its idempotency key, so a task runs again when what it
 * reads changed and is skipped otherwise (docs/flow.md "Assets").
 *
 *   iceberg://WAREHOUSE/ns.table  an Iceberg table (WAREHOUSE relative to
 *                                 the project, or absolute with ///): its
 *                                 snapshot id on main, or on the run's
 *                                 branch when the table has that branch
 *   iceberg://WAREHOUSE/ns.table?partition=V
 *                                 one partition of it: its live files
 *                                 (names, sequence numbers, rows), hashed
 *   anything else                 a file or folder under the project (the
 *                                 raw zone): its files' relative names,
 *                                 sizes and modification times, hashed
 */
#include "flow_int.h"
#include "lake/lake.h"

#include <dirent.h>
#include <glob.h>
#include <stdlib.h>
#include <sys/stat.h>

typedef struct fent {
    char *rel;
    int64_t size, mtime_ns;
} fent;
typedef KILN_VEC(fent) fentv;

static int walk(const char *root, const char *rel, fentv *out, kiln_err *err)
{
    char *path = rel[0] ? kiln_sprintf("%s/%s", root, rel) : kiln_strdup(root);
    if (!path)
        return KILN_OOM(err);
    DIR *d = opendir(path);
    int rc = 0;
    if (!d) {
        kiln_free(path);
        return 0;
    }
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *r = rel[0] ? kiln_sprintf("%s/%s", rel, e->d_name) : kiln_strdup(e->d_name);
        char *full = r ? kiln_sprintf("%s/%s", root, r) : NULL;
        struct stat st;
        if (!r || !full)
            rc = KILN_OOM(err);
        else if (stat(full, &st) != 0)
            ;
        else if (S_ISDIR(st.st_mode))
            rc = walk(root, r, out, err);
        else if (out->len >= 1000000)
            rc = kiln_err_set(err, KILN_ELIMIT, "%s: more than 1,000,000 files to fingerprint", root);
        else {
            fent f = {r, (int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
            if (!(rc = kiln_vec_push(out, f, err)))
                r = NULL;
        }
        kiln_free(r);
        kiln_free(full);
    }
    closedir(d);
    kiln_free(path);
    return rc;
}

static int fent_cmp(const void *a, const void *b) { return strcmp(((const fent *)a)->rel, ((const fent *)b)->rel); }

static int fingerprint(fentv *v, kiln_buf *out, kiln_err *err);

/* A glob pattern (the partition a task touches, e.g. raw/gharchive/{{ ds
 * }}-*.json.gz): the matched files, as a folder's are. */
static int glob_state(const char *pattern, kiln_buf *out, kiln_err *err)
{
    glob_t g;
    memset(&g, 0, sizeof g);
    int gr = glob(pattern, GLOB_NOSORT, NULL, &g), rc = 0;
    if (gr == GLOB_NOMATCH || (gr == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        return kiln_buf_printf(out, err, "absent");
    }
    if (gr != 0) {
        globfree(&g);
        return kiln_err_set(err, KILN_EIO, "%s: cannot list the matching files", pattern);
    }
    fentv v = {0};
    for (size_t i = 0; i < g.gl_pathc && !rc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) != 0 || S_ISDIR(st.st_mode))
            continue;
        const char *base = strrchr(g.gl_pathv[i], '/');
        fent f = {kiln_strdup(base ? base + 1 : g.gl_pathv[i]), (int64_t)st.st_size,
                  (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec};
        rc = !f.rel ? KILN_OOM(err) : kiln_vec_push(&v, f, err);
        if (rc)
            kiln_free(f.rel);
    }
    globfree(&g);
    if (!rc)
        rc = fingerprint(&v, out, err);
    for (size_t i = 0; i < v.len; i++)
        kiln_free(v.items[i].rel);
    kiln_vec_free(&v);
    return rc;
}

static int path_state(const char *path, kiln_buf *out, kiln_err *err)
{
    if (strpbrk(path, "*?["))
        return glob_state(path, out, err);
    struct stat st;
    if (stat(path, &st) != 0)
        return kiln_buf_printf(out, err, "absent");
    if (!S_ISDIR(st.st_mode))
        return kiln_buf_printf(out, err, "file %lld bytes mtime %lld.%09ld", (long long)st.st_size,
                               (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    fentv v = {0};
    int rc = walk(path, "", &v, err);
    if (!rc)
        rc = fingerprint(&v, out, err);
    for (size_t i = 0; i < v.len; i++)
        kiln_free(v.items[i].rel);
    kiln_vec_free(&v);
    return rc;
}

static int fingerprint(fentv *vp, kiln_buf *out, kiln_err *err)
{
    fentv v = *vp;
    int rc = 0;
    if (v.len == 0)
        return kiln_buf_printf(out, err, "0 files");
    {
        kiln_sort(v.items, v.len, sizeof *v.items, fent_cmp);
        kiln_sha256 h;
        uint8_t dig[32];
        char hex[65];
        kiln_sha256_init(&h);
        for (size_t i = 0; i < v.len; i++) {
            char n[64];
            snprintf(n, sizeof n, "%lld %lld", (long long)v.items[i].size, (long long)v.items[i].mtime_ns);
            kiln_sha256_update(&h, v.items[i].rel, strlen(v.items[i].rel) + 1);
            kiln_sha256_update(&h, n, strlen(n) + 1);
        }
        kiln_sha256_final(&h, dig);
        kiln_hex(dig, 32, hex);
        rc = kiln_buf_printf(out, err, "%zu files sha256 %.16s", v.len, hex);
    }
    return rc;
}

int kiln_flow__asset_iceberg(const char *project_dir, const char *asset, char **warehouse, char **table)
{
    *warehouse = *table = NULL;
    if (strncmp(asset, "iceberg://", 10))
        return 0;
    const char *rest = asset + 10, *slash = strrchr(rest, '/');
    if (!slash || slash == rest || !slash[1])
        return 0;
    *table = kiln_strndup(slash + 1, strcspn(slash + 1, "?")); /* ?partition=V: see table_state */
    *warehouse = rest[0] == '/' ? kiln_strndup(rest, (size_t)(slash - rest))
                                : kiln_sprintf("%s/%.*s", project_dir, (int)(slash - rest), rest);
    if (!*table || !*warehouse) {
        kiln_free(*table);
        kiln_free(*warehouse);
        *warehouse = *table = NULL;
        return -1;
    }
    return 1;
}

typedef struct part_ctx {
    const char *want;
    const kiln_lake_view *view;
    kiln_buf val;
    kiln_sha256 h;
    int64_t files, rows;
    int rc;
    kiln_err *err;
} part_ctx;

static int part_entry(void *vctx, const kiln_lake_entry *e)
{
    part_ctx *c = vctx;
    c->val.len = 0;
    const kiln_lake_pspec *spec = kiln_lake_view_spec(c->view, e->df.spec_id);
    if (!spec || spec->nfields != e->df.npart)
        return 0; /* a file of a spec kiln cannot name: not this partition */
    /* the partition's text as in its directory name ("2025-01-02"), a
     * tuple's fields joined by ',' */
    for (int i = 0; i < e->df.npart && !c->rc; i++) {
        if (i)
            c->rc = kiln_buf_putc(&c->val, ',', c->err);
        if (!c->rc)
            c->rc = kiln_lake_pvalue_text(&spec->fields[i], &e->df.partition[i], &c->val, c->err);
    }
    if (c->rc)
        return -1;
    if (c->val.len != strlen(c->want) || memcmp(c->val.data ? c->val.data : "", c->want, c->val.len))
        return 0;
    char n[80];
    snprintf(n, sizeof n, "%d %lld %lld", e->df.content, (long long)e->seq, (long long)e->df.record_count);
    kiln_sha256_update(&c->h, e->df.file_path, strlen(e->df.file_path) + 1);
    kiln_sha256_update(&c->h, n, strlen(n) + 1);
    c->files++;
    if (e->df.content == 0)
        c->rows += e->df.record_count;
    return 0;
}

/* The text of one partition of table t at snapshot snap (asset
 * iceberg://WH/ns.t?partition=V): its live files hashed, so a new snapshot
 * that touched only other partitions leaves it as it was (Dagster's
 * partition-level staleness). */
static int partition_text(kiln_lake_table *t, const kiln_lake_meta *m, int64_t snap, const char *want,
                          const char *on_branch, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    kiln_lake_view view;
    kiln_arena *a = kiln_arena_new(0);
    part_ctx c = {.want = want, .view = &view, .err = err};
    kiln_buf_init(&c.val, 0);
    kiln_sha256_init(&c.h);
    if (!a)
        rc = KILN_OOM(err);
    else if (snap >= 0 && ((rc = kiln_lake_view_from_meta(&view, a, m, snap, NULL, err)) != 0 ||
                           kiln_lake_files_list(t, snap, part_entry, &c, err) != 0))
        rc = rc ? rc : c.rc ? c.rc : err->code ? err->code : KILN_EIO;
    kiln_buf_free(&c.val);
    kiln_arena_free(a);
    if (rc)
        return rc;
    uint8_t dig[32];
    char hex[65];
    kiln_sha256_final(&c.h, dig);
    kiln_hex(dig, 32, hex);
    return c.files ? kiln_buf_printf(out, err, "partition %s: %lld files, %lld rows, sha256 %.16s%s%s", want,
                                     (long long)c.files, (long long)c.rows, hex, on_branch ? " on branch " : "",
                                     on_branch ? on_branch : "")
                   : kiln_buf_printf(out, err, "partition %s: empty", want);
}

/* The state of a consumed table (its snapshot at the head of branch when
 * the table has it, else main), or of one partition of it (want != NULL):
 * "absent" when the warehouse or the table does not exist. */
static int table_state(const char *wh, const char *name, const char *want, const char *branch, kiln_buf *out,
                       kiln_err *err)
{
    char *db = kiln_sprintf("%s/catalog.db", wh);
    struct stat st;
    int have = db && stat(db, &st) == 0;
    kiln_free(db);
    if (!have)
        return kiln_buf_printf(out, err, "absent");
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err e = {0};
    int rc = kiln_lake_catalog_open(&cat, wh, KILN_LAKE_CATALOG_SQLITE, err);
    if (rc)
        return rc;
    if (kiln_lake_table_load(&t, cat, name, &e)) {
        rc = kiln_buf_printf(out, err, "absent");
    } else {
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        const kiln_lake_ref *br = branch ? kiln_lake_meta_ref(m, branch) : NULL;
        const kiln_lake_ref *mr = kiln_lake_meta_ref(m, "main");
        int64_t snap = br ? br->snapshot_id : mr ? mr->snapshot_id : -1;
        if (want)
            rc = partition_text(t, m, snap, want, br ? branch : NULL, out, err);
        else if (br)
            rc = kiln_buf_printf(out, err, "snapshot %lld on branch %s", (long long)snap, branch);
        else
            rc = kiln_buf_printf(out, err, "snapshot %lld", (long long)snap);
    }
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return rc;
}

int kiln_flow__inputs(const char *project_dir, const kiln_flow_task *t, const char *branch,
                      const kiln_flow_render_ctx *ctx, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < t->consumes.len && !rc; i++) {
        char *rendered = NULL;
        if (ctx && kiln_flow__is_template(t->consumes.items[i]) &&
            (rc = kiln_flow_render(&rendered, t->consumes.items[i], ctx, err)))
            break;
        const char *a = rendered ? rendered : t->consumes.items[i];
        char *wh = NULL, *tb = NULL;
        int ice = kiln_flow__asset_iceberg(project_dir, a, &wh, &tb);
        if (ice < 0) {
            kiln_free(rendered);
            return KILN_OOM(err);
        }
        if ((rc = kiln_buf_printf(out, err, "%s = ", a)))
            break;
        const char *pq = ice ? strstr(a, "?partition=") : NULL;
        if (pq)
            rc = table_state(wh, tb, pq + strlen("?partition="), branch, out, err);
        else if (ice)
            rc = table_state(wh, tb, NULL, branch, out, err);
        else {
            char *p = a[0] == '/' ? kiln_strdup(a) : kiln_sprintf("%s/%s", project_dir, a);
            rc = p ? path_state(p, out, err) : KILN_OOM(err);
            kiln_free(p);
        }
        kiln_free(wh);
        kiln_free(tb);
        kiln_free(rendered);
        if (!rc)
            rc = kiln_buf_putc(out, '\n', err);
    }
    return rc;
}

void kiln_flow__key_with_inputs(const char base_key[65], const char *inputs, char out[65])
{
    kiln_sha256 h;
    uint8_t dig[32];
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, "key-inputs-v1", 14);
    kiln_sha256_update(&h, base_key, strlen(base_key) + 1);
    kiln_sha256_update(&h, inputs, strlen(inputs) + 1);
    kiln_sha256_final(&h, dig);
    kiln_hex(dig, 32, out);
}

/* Task TASK of DAG for the logical date as a run would key it now: the DAG,
 * the task's index, its data interval, the key (over the consumed assets'
 * current state when it consumes any; branch: as a backfill on that
 * branch keys it, NULL = main) and the definition hash; *inputs
 * (caller frees, NULL when none) that state. */
int kiln_flow__key_now(kiln_flow_project *p, const char *dag, const char *task, int64_t logical, const char *branch,
                       const kiln_flow_dag **d_out, size_t *k_out, int64_t *is, int64_t *ie, char key[65],
                       char def_hash[65], char **inputs, kiln_err *err)
{
    const kiln_flow_dag *d;
    *inputs = NULL;
    int rc = kiln_flow_project_need_dag(p, dag, &d, err);
    if (rc)
        return rc;
    long k = kiln_flow_dag_task(d, task);
    if (k < 0)
        return kiln_err_set(err, KILN_ENOTFOUND, "DAG '%s' has no task '%s'", dag, task);
    kiln_flow__interval(d, logical, is, ie);
    if ((rc = kiln_flow_task_key_branch(d, (size_t)k, *is, *ie, branch, key, def_hash, err)))
        return rc;
    *d_out = d;
    *k_out = (size_t)k;
    const kiln_flow_task *kt = &d->tasks[k];
    if (!kt->consumes.len)
        return 0;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_flow_render_ctx ctx; /* as the key renders: no run id, try 0 */
    kiln_flow_render_ctx_init(&ctx, d, *is, *is, *ie, "", 0);
    ctx.task_id = kt->id;
    ctx.branch = branch;
    rc = kiln_flow__inputs(p->dir, kt, branch, &ctx, &b, err);
    if (!rc)
        rc = kiln_buf_putc(&b, 0, err);
    if (rc) {
        kiln_buf_free(&b);
        return rc;
    }
    char base[65];
    memcpy(base, key, sizeof base);
    *inputs = kiln_buf_detach(&b, NULL);
    kiln_flow__key_with_inputs(base, *inputs, key);
    return 0;
}
