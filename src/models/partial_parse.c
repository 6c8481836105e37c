/*
 * partial_parse.c - the partial-parse cache of `kiln compile`
 * (<target-path>/partial_parse.bin), dbt's partial_parse.msgpack for kiln.
 *
 * After a full compile the cache records: a key (kiln's version, the
 * project directory, --vars, --target, --profiles-dir, the warehouse
 * option, $DBT_PROFILES_DIR, $HOME), every env var a render read and its
 * value, every file the loader may read (the project folder's own files,
 * everything under the model, seed, macro, test, snapshot and analysis
 * paths and the packages folder; scanned before the load) and the
 * candidate profiles.yml files, with their stat and
 * SHA-256, manifest.json's stat, and per node what the next compile needs
 * to reuse it without parsing: its relation, parents and children, where
 * its text is in manifest.json, and for a root project model its config
 * before the render, columns, description, the hash of its config after
 * the render.
 *
 * The next compile uses the cache only when it can prove that nothing but
 * root model .sql files changed (same key, same env var values, the same
 * set of files, every other file's hash unchanged, manifest.json the file
 * this cache wrote). A file whose stat is unchanged and was not modified
 * within 2 s of the cache's scan is taken as unchanged (git's racy rule);
 * any other file is hashed. The changed models are then parsed and
 * rendered (both passes) against the cached nodes; if one's config after
 * the render or its parents differ from the cache's, if it or a parent is
 * ephemeral, or if its rebuilt manifest text with the old code is not
 * byte-for-byte the cached one, the compile falls back to a full parse.
 * Anything else (a YAML, macro, seed, project or profile file, a new or
 * deleted file, a var or env var change) means a full parse too.
 *
 * The cache is not written (so the next compile is a full parse) when a
 * render read the warehouse (is_incremental(), run_query), a file uses
 * run_started_at / invocation_id / modules (output that changes per run),
 * the project has packages, model versions, unit tests or its own
 * generate_schema_name, or --select/--exclude/--resource-type/--state
 * was given. A cache that does not read back completely (short, bad
 * magic, bad checksum) is ignored with a one-line notice.
 */
#include "models/project.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define PP_MAGIC "KILNPP04"
#define PP_RACY_NS 2000000000LL
#define PP_ABSENT UINT64_MAX

typedef struct pp_file {
    char *path; /* relative to the project dir; "/..." absolute (profiles.yml candidates) */
    uint64_t size;
    int64_t mtime, ctime;
    uint64_t ino;
    uint8_t hash[32];
    int hashed;
} pp_file;

struct km_pp_scan {
    char *key;
    int64_t t0; /* when the scan started (ns since the epoch) */
    KILN_VEC(pp_file) files;
    int volatile_text; /* a scanned file uses a per-run value */
};

/* ------------------------------------------------------------ helpers */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static const char *const volatile_words[] = {"run_started_at", "invocation_id", "modules", "run_query",
                                             "load_result",    "statement",     NULL};

static int has_volatile(const char *s, size_t n)
{
    for (int i = 0; volatile_words[i]; i++)
        if (memmem(s, n, volatile_words[i], strlen(volatile_words[i])))
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *e)
{
    size_t a = strlen(s), b = strlen(e);
    return a >= b && !strcmp(s + a - b, e);
}

static int hash_file(const char *full, pp_file *f, int *volatile_text)
{
    char *text;
    size_t len;
    kiln_err e = {0};
    if (kiln_file_read(full, (size_t)1 << 30, &text, &len, &e))
        return -1;
    kiln_sha256 s;
    kiln_sha256_init(&s);
    kiln_sha256_update(&s, text, len);
    kiln_sha256_final(&s, f->hash);
    f->hashed = 1;
    if (volatile_text && has_volatile(text, len))
        *volatile_text = 1;
    kiln_free(text);
    return 0;
}

static void set_stat(pp_file *f, const struct stat *st)
{
    f->size = (uint64_t)st->st_size;
    f->mtime = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
    f->ctime = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    f->ino = (uint64_t)st->st_ino;
}

static int same_stat(const pp_file *a, const pp_file *b)
{
    return a->size == b->size && a->mtime == b->mtime && a->ctime == b->ctime && a->ino == b->ino;
}

static void scan_free(struct km_pp_scan *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->files.len; i++)
        kiln_free(s->files.items[i].path);
    kiln_vec_free(&s->files);
    kiln_free(s->key);
    kiln_free(s);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* every regular file under dir/rel (sorted), skipping dot-names; depth -1:
 * the files of dir itself, not its folders */
static int scan_dir(struct km_pp_scan *s, const char *dir, const char *rel, int depth)
{
    int top_only = depth < 0;
    if (top_only)
        depth = 0;
    if (depth > 32)
        return -1;
    char *full = rel[0] ? kiln_sprintf("%s/%s", dir, rel) : kiln_strdup(dir);
    if (!full)
        return -1;
    DIR *d = opendir(full);
    if (!d) {
        kiln_free(full);
        return top_only ? -1 : 0; /* a missing folder holds nothing */
    }
    KILN_VEC(char *) names = {0};
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) && !rc) {
        if (de->d_name[0] == '.')
            continue;
        char *n = kiln_strdup(de->d_name);
        rc = !n || kiln_vec_push(&names, n, NULL);
    }
    closedir(d);
    kiln_sort(names.items, names.len, sizeof(char *), cmp_name);
    for (size_t i = 0; i < names.len && !rc; i++) {
        char *child = rel[0] ? kiln_sprintf("%s/%s", rel, names.items[i]) : kiln_strdup(names.items[i]);
        char *cfull = kiln_sprintf("%s/%s", full, names.items[i]);
        struct stat st;
        if (!child || !cfull)
            rc = -1;
        else if (stat(cfull, &st) != 0)
            ; /* a dangling link: nothing the loader reads */
        else if (S_ISDIR(st.st_mode)) {
            if (!top_only)
                rc = scan_dir(s, dir, child, depth + 1);
        } else if (S_ISREG(st.st_mode)) {
            pp_file f = {0};
            set_stat(&f, &st);
            f.path = child;
            child = NULL;
            /* hashed when needed (a model's from the text the loader read;
             * an unchanged file's stat says it is the cached one), but a
             * file modified just now (the racy rule below) now */
            int racy = f.mtime >= s->t0 - PP_RACY_NS || f.ctime >= s->t0 - PP_RACY_NS;
            if (racy && hash_file(cfull, &f, &s->volatile_text))
                f.hashed = 0;
            if (kiln_vec_push(&s->files, f, NULL)) {
                kiln_free(f.path);
                rc = -1;
            }
        }
        kiln_free(child);
        kiln_free(cfull);
    }
    for (size_t i = 0; i < names.len; i++)
        kiln_free(names.items[i]);
    kiln_vec_free(&names);
    kiln_free(full);
    return rc;
}

static int add_abs(struct km_pp_scan *s, const char *path)
{
    char *p = kiln_sprintf("/%s", path);
    if (!p)
        return -1;
    pp_file f = {0};
    f.path = p;
    struct stat st;
    if (stat(path, &st) == 0) {
        set_stat(&f, &st);
        if (hash_file(path, &f, &s->volatile_text))
            f.hashed = 0;
    } else {
        f.size = PP_ABSENT;
        f.hashed = 1;
    }
    if (kiln_vec_push(&s->files, f, NULL)) {
        kiln_free(p);
        return -1;
    }
    return 0;
}

static int cmp_file(const void *a, const void *b);

/* What the loader reads, as p (loaded up to its macros) says: the project
 * folder's own files, the model, seed, macro, test, snapshot and analysis
 * paths, the packages folder. t0: taken before anything was read. */
struct km_pp_scan *kiln_models__pp_scan(const kiln_project *p, int64_t t0)
{
    const kiln_models_opts *o = &p->opts;
    if (o->select || o->exclude || o->resource_types || o->state || o->branch || o->defer)
        return NULL;
    struct km_pp_scan *s = kiln_calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->t0 = t0;
    const char *dir = p->dir;
    char real[PATH_MAX];
    const char *pd = getenv("DBT_PROFILES_DIR"), *home = getenv("HOME");
    if (!realpath(dir, real) ||
        !(s->key = kiln_sprintf(
              "kiln %s\ndir=%s\ndir_arg=%s\nvars=%s\ntarget=%s\nprofiles=%s\nwarehouse=%s\nfull_refresh=%d\n"
              "DBT_PROFILES_DIR=%s\nHOME=%s\n",
              KILN_VERSION, real, dir, o->vars ? o->vars : "\x01", o->target ? o->target : "\x01",
              o->profiles_dir ? o->profiles_dir : "\x01", o->warehouse ? o->warehouse : "\x01", o->full_refresh,
              pd ? pd : "\x01", home ? home : "\x01")) ||
        scan_dir(s, dir, "", -1)) {
        scan_free(s);
        return NULL;
    }
    const km_strvec *roots[] = {&p->model_paths, &p->seed_paths,     &p->macro_paths,
                                &p->test_paths,  &p->snapshot_paths, &p->analysis_paths};
    int bad = 0;
    for (size_t r = 0; r < sizeof roots / sizeof *roots && !bad; r++)
        for (size_t i = 0; i < roots[r]->len && !bad; i++)
            bad = scan_dir(s, dir, roots[r]->items[i], 0);
    if (!bad)
        bad = scan_dir(s, dir, p->packages_path ? p->packages_path : "dbt_packages", 0);
    /* nested or repeated paths: each file once */
    kiln_sort(s->files.items, s->files.len, sizeof(pp_file), cmp_file);
    size_t k = 0;
    for (size_t i = 0; i < s->files.len; i++) {
        if (k && !strcmp(s->files.items[k - 1].path, s->files.items[i].path))
            kiln_free(s->files.items[i].path);
        else
            s->files.items[k++] = s->files.items[i];
    }
    s->files.len = k;
    if (bad) {
        scan_free(s);
        return NULL;
    }
    /* the profiles.yml files the loader may read (found or not) */
    char *cand[3] = {0};
    int nc = 0;
    if (o->profiles_dir)
        cand[nc++] = kiln_sprintf("%s/profiles.yml", o->profiles_dir);
    else {
        if (pd && *pd)
            cand[nc++] = kiln_sprintf("%s/profiles.yml", pd);
        if (home && *home)
            cand[nc++] = kiln_sprintf("%s/.dbt/profiles.yml", home);
    }
    int rc = 0;
    for (int i = 0; i < nc; i++) {
        char abs[PATH_MAX];
        if (!cand[i])
            rc = -1;
        else if (!rc && realpath(cand[i], abs) ? add_abs(s, abs) : add_abs(s, cand[i]))
            rc = -1;
        kiln_free(cand[i]);
    }
    if (rc) {
        scan_free(s);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------ the cache file */

typedef struct wbuf {
    kiln_buf b;
    int rc;
} wbuf;

static void w_raw(wbuf *w, const void *p, size_t n)
{
    if (!w->rc)
        w->rc = kiln_buf_append(&w->b, p, n, NULL);
}
static void w_u64(wbuf *w, uint64_t v) { w_raw(w, &v, 8); }
static void w_str(wbuf *w, const char *s, size_t n)
{
    w_u64(w, s ? n : UINT64_MAX);
    if (s)
        w_raw(w, s, n);
}
static void w_cstr(wbuf *w, const char *s) { w_str(w, s, s ? strlen(s) : 0); }

typedef struct rbuf {
    const char *p, *end;
    int bad;
} rbuf;

static uint64_t r_u64(rbuf *r)
{
    uint64_t v = 0;
    if (r->bad || r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    memcpy(&v, r->p, 8);
    r->p += 8;
    return v;
}
/* a string of the cache (not NUL-terminated: *n its length); NULL for an absent one */
static const char *r_str(rbuf *r, size_t *n)
{
    uint64_t len = r_u64(r);
    *n = 0;
    if (r->bad || len == UINT64_MAX)
        return NULL;
    if ((uint64_t)(r->end - r->p) < len) {
        r->bad = 1;
        return NULL;
    }
    const char *s = r->p;
    r->p += len;
    *n = (size_t)len;
    return s;
}
static char *r_dup(rbuf *r)
{
    size_t n;
    const char *s = r_str(r, &n);
    return s ? kiln_strndup(s, n) : NULL;
}

/* one node of the cache */
typedef struct pp_node {
    int kind, flags; /* flags: 1 ephemeral, 2 a root model (the fields below are set) */
    char *name, *uid, *path;
    KILN_VEC(uint32_t) parents, children;
    uint64_t off, len; /* its text in manifest.json */
    char *schema, *ident;
    char *fqn, *pre_cfg, *cols, *desc;
    uint8_t post_hash[32];
} pp_node;

static void pp_node_free(pp_node *n)
{
    kiln_free(n->name);
    kiln_free(n->uid);
    kiln_free(n->path);
    kiln_vec_free(&n->parents);
    kiln_vec_free(&n->children);
    kiln_free(n->schema);
    kiln_free(n->ident);
    kiln_free(n->fqn);
    kiln_free(n->pre_cfg);
    kiln_free(n->cols);
    kiln_free(n->desc);
}

typedef struct pp_cache {
    char *key;
    int64_t t0;
    char *env; /* "NAME=value\0NAME\0..." */
    size_t env_len;
    KILN_VEC(pp_file) files;
    pp_file manifest;
    KILN_VEC(pp_node) nodes;
} pp_cache;

static void cache_free(pp_cache *c)
{
    kiln_free(c->manifest.path);
    kiln_free(c->key);
    kiln_free(c->env);
    for (size_t i = 0; i < c->files.len; i++)
        kiln_free(c->files.items[i].path);
    kiln_vec_free(&c->files);
    for (size_t i = 0; i < c->nodes.len; i++)
        pp_node_free(&c->nodes.items[i]);
    kiln_vec_free(&c->nodes);
}

static void w_file(wbuf *w, const pp_file *f)
{
    w_cstr(w, f->path);
    w_u64(w, f->size);
    w_u64(w, (uint64_t)f->mtime);
    w_u64(w, (uint64_t)f->ctime);
    w_u64(w, f->ino);
    w_raw(w, f->hash, 32);
}

static void r_file(rbuf *r, pp_file *f)
{
    kiln_free(f->path);
    f->path = r_dup(r);
    f->size = r_u64(r);
    f->mtime = (int64_t)r_u64(r);
    f->ctime = (int64_t)r_u64(r);
    f->ino = r_u64(r);
    if (r->bad || r->end - r->p < 32) {
        r->bad = 1;
        return;
    }
    memcpy(f->hash, r->p, 32);
    r->p += 32;
    f->hashed = 1;
    if (!f->path)
        r->bad = 1;
}

static void w_cache(wbuf *w, const pp_cache *c)
{
    w_cstr(w, c->key);
    w_u64(w, (uint64_t)c->t0);
    w_str(w, c->env ? c->env : "", c->env ? c->env_len : 0);
    w_u64(w, c->files.len);
    for (size_t i = 0; i < c->files.len; i++)
        w_file(w, &c->files.items[i]);
    w_file(w, &c->manifest);
    w_u64(w, c->nodes.len);
    for (size_t i = 0; i < c->nodes.len; i++) {
        const pp_node *n = &c->nodes.items[i];
        w_u64(w, (uint64_t)n->kind | (uint64_t)n->flags << 8);
        w_cstr(w, n->name);
        w_cstr(w, n->uid);
        w_cstr(w, n->path);
        w_u64(w, n->parents.len);
        w_raw(w, n->parents.items, n->parents.len * 4);
        w_u64(w, n->children.len);
        w_raw(w, n->children.items, n->children.len * 4);
        w_u64(w, n->off);
        w_u64(w, n->len);
        w_cstr(w, n->schema);
        w_cstr(w, n->ident);
        if (n->flags & 2) {
            w_cstr(w, n->fqn);
            w_cstr(w, n->pre_cfg);
            w_cstr(w, n->cols);
            w_cstr(w, n->desc);
            w_raw(w, n->post_hash, 32);
        }
    }
}

static int r_cache(rbuf *r, pp_cache *c)
{
    c->key = r_dup(r);
    c->t0 = (int64_t)r_u64(r);
    size_t n;
    const char *env = r_str(r, &n);
    if (env && n && !(c->env = kiln_strndup(env, n)))
        return -1;
    c->env_len = env ? n : 0;
    uint64_t nf = r_u64(r);
    if (r->bad || nf > (uint64_t)(r->end - r->p) / 40)
        return -1;
    for (uint64_t i = 0; i < nf && !r->bad; i++) {
        pp_file f = {0};
        r_file(r, &f);
        if (kiln_vec_push(&c->files, f, NULL)) {
            kiln_free(f.path);
            return -1;
        }
    }
    r_file(r, &c->manifest);
    uint64_t nn = r_u64(r);
    if (r->bad || nn > (uint64_t)(r->end - r->p) / 40)
        return -1;
    if (kiln_vec_reserve(&c->nodes, nn, NULL))
        return -1;
    for (uint64_t i = 0; i < nn && !r->bad; i++) {
        pp_node x = {0};
        uint64_t kf = r_u64(r);
        x.kind = (int)(kf & 0xff);
        x.flags = (int)(kf >> 8);
        x.name = r_dup(r);
        x.uid = r_dup(r);
        x.path = r_dup(r);
        for (int pass = 0; pass < 2 && !r->bad; pass++) {
            uint64_t k = r_u64(r);
            if (r->bad || k > (uint64_t)(r->end - r->p) / 4) {
                r->bad = 1;
                break;
            }
            for (uint64_t j = 0; j < k; j++) {
                uint32_t v;
                memcpy(&v, r->p + 4 * j, 4);
                if (v >= nn || kiln_vec_push(pass ? &x.children : &x.parents, v, NULL))
                    r->bad = 1;
            }
            r->p += 4 * k;
        }
        x.off = r_u64(r);
        x.len = r_u64(r);
        x.schema = r_dup(r);
        x.ident = r_dup(r);
        if (x.flags & 2) {
            x.fqn = r_dup(r);
            x.pre_cfg = r_dup(r);
            x.cols = r_dup(r);
            x.desc = r_dup(r);
            if (!r->bad && r->end - r->p >= 32) {
                memcpy(x.post_hash, r->p, 32);
                r->p += 32;
            } else
                r->bad = 1;
            if (!x.fqn || !x.pre_cfg || !x.cols)
                r->bad = 1;
        }
        if (!x.name || !x.uid || !x.path)
            r->bad = 1;
        c->nodes.items[c->nodes.len++] = x;
    }
    return r->bad || r->p != r->end ? -1 : 0;
}

static char *cache_path(const kiln_project *p)
{
    return kiln_sprintf("%s/%s/partial_parse.bin", p->dir, p->target_path);
}

static int cache_write(const char *path, const pp_cache *c)
{
    wbuf w = {{0}, 0};
    kiln_buf_init(&w.b, 0);
    w_raw(&w, PP_MAGIC, 8);
    w_u64(&w, 0); /* the payload's length */
    /* then its CRC-32 (in a 32-byte field), then the payload */
    uint8_t zero[32] = {0};
    w_raw(&w, zero, 32);
    w_cache(&w, c);
    int rc = w.rc;
    if (!rc) { /* a CRC-32 of the payload: a cache, not a record (no fsync either: a torn file fails the check) */
        uint64_t len = w.b.len - 48;
        memcpy(w.b.data + 8, &len, 8);
        uint32_t crc = (uint32_t)crc32_z(0L, (const Bytef *)w.b.data + 48, (z_size_t)len);
        memcpy(w.b.data + 16, &crc, 4);
        char *tmp = kiln_sprintf("%s.tmp", path);
        int fd = tmp ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        size_t off = 0;
        while (fd >= 0 && off < w.b.len) {
            ssize_t n = write(fd, w.b.data + off, w.b.len - off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        rc = fd < 0 || off != w.b.len;
        if (fd >= 0 && close(fd))
            rc = -1;
        if (!rc && rename(tmp, path))
            rc = -1;
        if (rc && tmp)
            unlink(tmp);
        kiln_free(tmp);
    }
    kiln_buf_free(&w.b);
    return rc;
}

/* 0: read; 1: no cache; -1: unusable (why says) */
static int cache_read(const char *path, pp_cache *c, char *why, size_t cap)
{
    char *data;
    size_t len;
    kiln_err e = {0};
    struct stat st;
    if (stat(path, &st) != 0)
        return 1;
    if (kiln_file_read(path, (size_t)1 << 32, &data, &len, &e)) {
        snprintf(why, cap, "unreadable (%s)", e.msg);
        return -1;
    }
    int rc = -1;
    uint64_t plen = 0;
    if (len < 48 || memcmp(data, PP_MAGIC, 8))
        snprintf(why, cap, "not a kiln %s cache (or another version's)", PP_MAGIC);
    else if (memcpy(&plen, data + 8, 8), plen != len - 48)
        snprintf(why, cap, "truncated (%zu of %llu bytes)", len - 48, (unsigned long long)plen);
    else {
        uint32_t crc = (uint32_t)crc32_z(0L, (const Bytef *)data + 48, (z_size_t)plen), want;
        memcpy(&want, data + 16, 4);
        rbuf r = {data + 48, data + len, 0};
        if (crc != want)
            snprintf(why, cap, "checksum mismatch (corrupt)");
        else if (r_cache(&r, c))
            snprintf(why, cap, "does not read back");
        else
            rc = 0;
    }
    kiln_free(data);
    return rc;
}

/* ------------------------------------------------------------ Jinja values <-> text */

static int plain(kj_val v)
{
    switch (v.t) {
    case KJ_NONE:
    case KJ_BOOL:
    case KJ_INT:
    case KJ_FLOAT:
    case KJ_STR: return 1;
    case KJ_LIST:
        for (size_t i = 0; i < v.u.l->len; i++)
            if (!plain(v.u.l->items[i]))
                return 0;
        return 1;
    case KJ_DICT:
        for (size_t i = 0; i < v.u.d->len; i++)
            if (v.u.d->keys[i].t != KJ_STR || !plain(v.u.d->vals[i]))
                return 0;
        return 1;
    default: return 0;
    }
}

/* v as JSON text (NULL: not plain data, or out of memory) */
static char *kj_text(kj_val v)
{
    if (!plain(v))
        return NULL;
    json_t *j = kiln_models__kj_json(v);
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    char *out = s ? kiln_strdup(s) : NULL;
    free(s);
    return out;
}

static int text_kj(const char *s, kj_val *out)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    kiln_err e = {0};
    int rc = !j || kiln_models__json_to_kj(j, out, &e);
    json_decref(j);
    return rc ? -1 : 0;
}

static void hash_text(const char *s, uint8_t out[32])
{
    kiln_sha256 h;
    kiln_sha256_init(&h);
    if (s)
        kiln_sha256_update(&h, s, strlen(s));
    kiln_sha256_final(&h, out);
}

/* ------------------------------------------------------------ saving */

static int root_model(const km_node *n) { return n->kind == KM_MODEL && !n->package && ends_with(n->path, ".sql"); }

static long find_file(const pp_file *files, size_t n, const char *path)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(files[mid].path, path);
        if (!c)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const pp_file *)a)->path, ((const pp_file *)b)->path);
}

/* Can p's compile be cached at all? */
static int cacheable(const kiln_project *p, const struct km_pp_scan *s)
{
    if (!s || s->volatile_text || p->pp_volatile || p->packages.len || p->unit_tests || p->opts.branch)
        return 0;
    json_t *groups = kiln_models__groups_json(p); /* ref() and access checks need them: not cached */
    int ng = groups ? (int)json_object_size(groups) + (int)json_array_size(groups) : 1;
    json_decref(groups);
    if (ng)
        return 0;
    kj_val g = kj_env_globals(p->env);
    if (kj_dict_getc(g, "generate_schema_name"))
        return 0;
    for (size_t i = 0; i < p->nodes.len; i++) {
        const km_node *n = p->nodes.items[i];
        if (n->uses_query || (n->raw && has_volatile(n->raw, n->raw_len)) ||
            (n->kind == KM_MODEL && kiln_models__is_versioned(p, n->name)))
            return 0;
    }
    for (size_t i = 0; p->macros.t == KJ_LIST && i < p->macros.u.l->len; i++) {
        kj_val *sql = kj_dict_getc(p->macros.u.l->items[i], "sql");
        if (sql && sql->t == KJ_STR && has_volatile(sql->u.s->p, sql->u.s->len))
            return 0;
    }
    return 1;
}

/* The scan's stat of every file again (any change while compiling: no
 * cache), the .sql files' hashes (from the text a node was parsed from,
 * else the file), and the env vars p read. */
static int finish_files(const kiln_project *p, struct km_pp_scan *s, pp_cache *c)
{
    kiln_sort(s->files.items, s->files.len, sizeof(pp_file), cmp_file);
    for (size_t i = 0; i < p->nodes.len; i++) {
        const km_node *n = p->nodes.items[i];
        if (!root_model(n) || !n->raw)
            continue;
        long k = find_file(s->files.items, s->files.len, n->path);
        if (k < 0)
            return -1;
        kiln_sha256 h;
        kiln_sha256_init(&h);
        kiln_sha256_update(&h, n->raw, n->raw_len);
        kiln_sha256_final(&h, s->files.items[k].hash);
        s->files.items[k].hashed = 1;
    }
    for (size_t i = 0; i < s->files.len; i++) {
        pp_file *f = &s->files.items[i];
        const char *rel = f->path;
        char *full = rel[0] == '/' ? kiln_strdup(rel + 1) : kiln_sprintf("%s/%s", p->dir, rel);
        struct stat st;
        pp_file now = {0};
        int ok = full && (f->size == PP_ABSENT ? stat(full, &st) != 0 : stat(full, &st) == 0);
        if (ok && f->size != PP_ABSENT) {
            set_stat(&now, &st);
            ok = same_stat(&now, f);
        }
        /* a .sql file no node was parsed from (a macro): hashed now, only
         * when it was not modified since just before the scan */
        if (ok && !f->hashed)
            ok = f->mtime < s->t0 - PP_RACY_NS && f->ctime < s->t0 - PP_RACY_NS &&
                 !hash_file(full, f, ends_with(rel, ".sql") ? NULL : &s->volatile_text);
        kiln_free(full);
        if (!ok)
            return -1;
    }
    c->key = s->key;
    s->key = NULL;
    c->t0 = s->t0;
    c->files.items = s->files.items;
    c->files.len = s->files.len;
    c->files.alloc = s->files.alloc;
    memset(&s->files, 0, sizeof s->files);
    if (p->pp_env.len && !(c->env = kiln_strndup(p->pp_env.data, p->pp_env.len)))
        return -1;
    c->env_len = p->pp_env.len;
    return 0;
}

static int manifest_stat(const kiln_project *p, pp_file *f)
{
    if (!f->path && !(f->path = kiln_strdup("manifest.json")))
        return -1;
    char *m = kiln_sprintf("%s/%s/manifest.json", p->dir, p->target_path);
    struct stat st;
    int rc = !m || stat(m, &st) != 0 ? -1 : 0;
    if (!rc)
        set_stat(f, &st);
    kiln_free(m);
    return rc;
}

static int node_rec(const kiln_project *p, size_t i, pp_node *x)
{
    const km_node *n = p->nodes.items[i];
    x->kind = (int)n->kind;
    if (n->kind == KM_MODEL && !strcmp(kiln_models__cfg_str(n, "materialized", ""), "ephemeral"))
        x->flags |= 1;
    if (!(x->name = kiln_strdup(n->name)) || !(x->uid = kiln_strdup(n->unique_id)) || !(x->path = kiln_strdup(n->path)))
        return -1;
    for (size_t k = 0; k < n->parents.len; k++)
        if (kiln_vec_push(&x->parents, (uint32_t)n->parents.items[k], NULL))
            return -1;
    for (size_t k = 0; k < n->children.len; k++)
        if (kiln_vec_push(&x->children, (uint32_t)n->children.items[k], NULL))
            return -1;
    x->off = p->pp_off[2 * i];
    x->len = p->pp_off[2 * i + 1] - p->pp_off[2 * i];
    if (n->kind != KM_TEST || !n->test_macro) { /* what ref()/source() of it renders */
        if (x->flags & 1) {
            x->schema = kiln_strdup("");
            x->ident = kiln_sprintf("__dbt__cte__%s", n->name);
        } else {
            x->schema = kiln_models__node_schema(p, n);
            x->ident = kiln_strdup(n->kind == KM_SOURCE ? n->identifier : kiln_models__cfg_str(n, "alias", n->name));
        }
        if (!x->schema || !x->ident)
            return -1;
    }
    return 0;
}

/* the pre-render state of the root models (before kiln_models__render_all) */
typedef struct pp_pre {
    char **cfg, **cols;
} pp_pre;

static void pre_free(pp_pre *pre, size_t n)
{
    for (size_t i = 0; pre->cfg && i < n; i++) {
        kiln_free(pre->cfg[i]);
        kiln_free(pre->cols[i]);
    }
    kiln_free(pre->cfg);
    kiln_free(pre->cols);
}

static int pre_take(const kiln_project *p, pp_pre *pre)
{
    size_t n = p->nodes.len;
    pre->cfg = kiln_calloc(n + 1, sizeof(char *));
    pre->cols = kiln_calloc(n + 1, sizeof(char *));
    if (!pre->cfg || !pre->cols)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const km_node *m = p->nodes.items[i];
        if (!root_model(m))
            continue;
        if (!(pre->cfg[i] = kj_text(m->config)) || !(pre->cols[i] = kj_text(m->columns)) ||
            m->constraints.t != KJ_UNDEF)
            return -1;
    }
    return 0;
}

static int save_full(kiln_project *p, struct km_pp_scan *s, const pp_pre *pre)
{
    pp_cache c = {0};
    int rc = -1;
    if (!s || finish_files(p, s, &c) || manifest_stat(p, &c.manifest) ||
        kiln_vec_reserve(&c.nodes, p->nodes.len, NULL)) {
        kiln_debug("partial parse: files changed while compiling: no cache");
        goto done;
    }
    if (!cacheable(p, s)) { /* after finish_files: it reads the files a run-time value may be in */
        kiln_debug("partial parse: this project's compile is not cached (see docs/models.md)");
        goto done;
    }
    for (size_t i = 0; i < p->nodes.len; i++) {
        pp_node *x = &c.nodes.items[c.nodes.len++];
        memset(x, 0, sizeof *x);
        const km_node *n = p->nodes.items[i];
        if (node_rec(p, i, x))
            goto done;
        if (root_model(n)) {
            char *post = kj_text(n->config);
            hash_text(post, x->post_hash);
            x->flags |= 2;
            int bad = !post || !pre->cfg[i];
            kiln_free(post);
            if (bad || !(x->fqn = kiln_strdup(n->fqn)) || !(x->pre_cfg = kiln_strdup(pre->cfg[i])) ||
                !(x->cols = kiln_strdup(pre->cols[i])) || (n->description && !(x->desc = kiln_strdup(n->description))))
                goto done;
        }
    }
    char *path = cache_path(p);
    rc = path ? cache_write(path, &c) : -1;
    kiln_free(path);
done:
    cache_free(&c);
    return rc;
}

static void cache_remove(const kiln_project *p)
{
    char *path = cache_path(p);
    if (path)
        unlink(path);
    kiln_free(path);
}

/* ------------------------------------------------------------ using the cache */

typedef struct pp_try {
    pp_cache c;
    struct km_pp_scan *scan;
    char *manifest; /* the previous manifest.json */
    size_t manifest_len;
    KILN_VEC(size_t) changed; /* node indices of changed root models */
    KILN_VEC(char *) texts;   /* their new text, same order */
    KILN_VEC(size_t) text_len;
} pp_try;

static void try_free(pp_try *t)
{
    cache_free(&t->c);
    scan_free(t->scan);
    if (t->manifest)
        munmap(t->manifest, t->manifest_len);
    kiln_vec_free(&t->changed);
    for (size_t i = 0; i < t->texts.len; i++)
        kiln_free(t->texts.items[i]);
    kiln_vec_free(&t->texts);
    kiln_vec_free(&t->text_len);
}

/* the env vars the cached parse read have the same values now */
static int env_same(const pp_cache *c)
{
    const char *s = c->env, *end = c->env ? c->env + c->env_len : NULL;
    while (s && s < end) {
        size_t n = strnlen(s, (size_t)(end - s));
        const char *eq = memchr(s, '=', n);
        char name[512];
        size_t nl = eq ? (size_t)(eq - s) : n;
        if (nl >= sizeof name)
            return 0;
        memcpy(name, s, nl);
        name[nl] = 0;
        const char *v = getenv(name);
        if (eq ? !v || strlen(v) != n - nl - 1 || memcmp(v, eq + 1, n - nl - 1) : v != NULL)
            return 0;
        s += n + 1;
    }
    return 1;
}

/* Which files changed: 0 and t->changed filled when only root model files
 * changed; -1 otherwise (why). */
static int find_changes(const char *dir, pp_try *t, char *why, size_t cap)
{
    pp_cache *c = &t->c;
    struct km_pp_scan *s = t->scan;
    if (s->files.len != c->files.len) {
        snprintf(why, cap, "files were added or removed");
        return -1;
    }
    kiln_sort(s->files.items, s->files.len, sizeof(pp_file), cmp_file);
    kiln_map *by_path = NULL;
    int rc = 0;
    for (size_t i = 0; i < s->files.len && !rc; i++) {
        pp_file *now = &s->files.items[i], *old = &c->files.items[i];
        if (strcmp(now->path, old->path)) {
            snprintf(why, cap, "files were added, removed or renamed (%s)", now->path);
            rc = -1;
            break;
        }
        if (old->size == PP_ABSENT || now->size == PP_ABSENT) {
            if (old->size != now->size) {
                snprintf(why, cap, "%s appeared or disappeared", now->path + 1);
                rc = -1;
            }
            continue;
        }
        int racy = old->mtime >= c->t0 - PP_RACY_NS || old->ctime >= c->t0 - PP_RACY_NS;
        if (same_stat(now, old) && !racy) {
            memcpy(now->hash, old->hash, 32);
            now->hashed = 1;
            continue;
        }
        char *text = NULL;
        size_t len = 0;
        kiln_err e = {0};
        char *full = now->path[0] == '/' ? kiln_strdup(now->path + 1) : kiln_sprintf("%s/%s", dir, now->path);
        if (!full || kiln_file_read(full, (size_t)1 << 30, &text, &len, &e)) {
            kiln_free(full);
            snprintf(why, cap, "%s is unreadable", now->path);
            rc = -1;
            break;
        }
        kiln_free(full);
        kiln_sha256 h;
        kiln_sha256_init(&h);
        kiln_sha256_update(&h, text, len);
        kiln_sha256_final(&h, now->hash);
        now->hashed = 1;
        if (!memcmp(now->hash, old->hash, 32)) {
            kiln_free(text);
            continue;
        }
        /* changed: a root model's file? */
        if (!by_path) {
            if (!(by_path = kiln_map_new())) {
                kiln_free(text);
                rc = -1;
                break;
            }
            for (size_t k = 0; k < c->nodes.len && !rc; k++)
                if (c->nodes.items[k].flags & 2)
                    rc = kiln_map_put(by_path, c->nodes.items[k].path, strlen(c->nodes.items[k].path),
                                      (void *)(uintptr_t)(k + 1), NULL);
        }
        void *v = rc ? NULL : kiln_map_get(by_path, now->path, strlen(now->path));
        if (!v || has_volatile(text, len)) {
            snprintf(why, cap, "%s changed", now->path[0] == '/' ? now->path + 1 : now->path);
            kiln_free(text);
            rc = -1;
            break;
        }
        if (kiln_vec_push(&t->changed, (size_t)(uintptr_t)v - 1, NULL) || kiln_vec_push(&t->texts, text, NULL) ||
            kiln_vec_push(&t->text_len, len, NULL)) {
            kiln_free(text);
            rc = -1;
        }
    }
    kiln_map_free(by_path);
    return rc;
}

/* the cached nodes into p (which has the project, profile and macros) */
static int skeleton(kiln_project *p, pp_try *t, kiln_err *err)
{
    pp_cache *c = &t->c;
    for (size_t i = 0; i < c->nodes.len; i++) {
        pp_node *x = &c->nodes.items[i];
        km_node *n = kiln_calloc(1, sizeof *n); /* no config or columns: its text is reused */
        if (!n)
            return KILN_OOM(err);
        n->kind = (km_kind)x->kind;
        n->name = kiln_strdup(x->name);
        n->unique_id = kiln_strdup(x->uid);
        n->path = kiln_strdup(x->path);
        if (!n->name || !n->unique_id || !n->path) {
            kiln_models__add_node(p, n, err); /* frees it */
            return KILN_OOM(err);
        }
        int rc = 0;
        for (size_t k = 0; k < x->parents.len && !rc; k++)
            rc = kiln_vec_push(&n->parents, (size_t)x->parents.items[k], err);
        for (size_t k = 0; k < x->children.len && !rc; k++)
            rc = kiln_vec_push(&n->children, (size_t)x->children.items[k], err);
        n->pp_schema = x->schema;
        n->pp_ident = x->ident;
        if (x->off > t->manifest_len || x->len > t->manifest_len - x->off || !x->len)
            return kiln_err_set(err, KILN_EFORMAT, "a node's place in manifest.json is out of range");
        n->pp_frag = t->manifest + x->off;
        n->pp_frag_len = (size_t)x->len;
        if (x->kind == KM_SOURCE && !(n->identifier = kiln_strdup(x->ident ? x->ident : ""))) /* print_found, ls */
            rc = KILN_OOM(err);
        if (rc || (rc = kiln_models__add_node(p, n, err)))
            return rc;
    }
    return 0;
}

/* rebuild changed model k (cache node index) in p; -1: cannot (why) */
static int rebuild(kiln_project *p, pp_try *t, size_t j, char *why, size_t cap, kiln_err *err)
{
    size_t i = t->changed.items[j];
    pp_node *x = &t->c.nodes.items[i];
    km_node *n = p->nodes.items[i];
    if (x->flags & 1) {
        snprintf(why, cap, "%s is ephemeral", x->path);
        return -1;
    }
    for (size_t k = 0; k < x->parents.len; k++)
        if (t->c.nodes.items[x->parents.items[k]].flags & 1) {
            snprintf(why, cap, "%s has an ephemeral parent", x->path);
            return -1;
        }
    n->pp_frag = NULL;
    n->pp_ident = n->pp_schema = NULL;
    n->raw = t->texts.items[j];
    n->raw_len = t->text_len.items[j];
    t->texts.items[j] = NULL;
    kj_release(n->config);
    kj_release(n->columns);
    n->config = n->columns = kj_undef();
    if (!(n->fqn = kiln_strdup(x->fqn)) || (x->desc && !(n->description = kiln_strdup(x->desc))) ||
        text_kj(x->pre_cfg, &n->config) || text_kj(x->cols, &n->columns))
        return KILN_OOM(err);
    int rc = kj_parse(p->env, n->path, n->raw, n->raw_len, &n->tpl, err);
    if (!rc)
        rc = kiln_models__render_node(p, i, 0, err);
    if (!rc)
        rc = kiln_models__render_node(p, i, 1, err);
    if (rc) { /* the full parse reports it as it reports it */
        snprintf(why, cap, "%s: %s", x->path, err->msg);
        *err = (kiln_err){0};
        return -1;
    }
    /* same parents, same config after the render: nothing else changes */
    int same = n->parents.len == x->parents.len;
    for (size_t k = 0; same && k < n->parents.len; k++)
        same = n->parents.items[k] == x->parents.items[k];
    char *post = kj_text(n->config);
    uint8_t h[32];
    hash_text(post, h);
    same = same && post && !memcmp(h, x->post_hash, 32);
    kiln_free(post);
    if (!same) {
        snprintf(why, cap, "%s changed its refs, sources or config", x->path);
        return -1;
    }
    /* the node rebuilt must give the cached text but for its code (raw,
     * compiled, checksum): else something the cache does not hold matters */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    rc = kiln_models__node_text(p, n, &b, err);
    json_t *now = rc ? NULL : json_loadb(b.data, b.len, 0, NULL);
    json_t *old = json_loadb(t->manifest + x->off, (size_t)x->len, 0, NULL);
    kiln_buf_free(&b);
    static const char *const code[] = {"raw_code", "compiled_code", "checksum", NULL};
    for (int k = 0; now && old && code[k]; k++) {
        json_object_del(now, code[k]);
        json_object_del(old, code[k]);
    }
    same = now && old && json_equal(now, old);
    json_decref(now);
    json_decref(old);
    if (rc)
        return rc;
    if (!same) {
        snprintf(why, cap, "%s: its cached manifest entry does not rebuild", x->path);
        return -1;
    }
    return 0;
}

/* the cache updated for the compile that used it */
static int save_after(kiln_project *p, pp_try *t)
{
    pp_cache *c = &t->c;
    for (size_t i = 0; i < c->nodes.len; i++) {
        c->nodes.items[i].off = p->pp_off[2 * i];
        c->nodes.items[i].len = p->pp_off[2 * i + 1] - p->pp_off[2 * i];
    }
    /* the new scan's files (hashes filled by find_changes) */
    for (size_t i = 0; i < c->files.len; i++)
        kiln_free(c->files.items[i].path);
    kiln_vec_free(&c->files);
    c->files.items = t->scan->files.items;
    c->files.len = t->scan->files.len;
    c->files.alloc = t->scan->files.alloc;
    memset(&t->scan->files, 0, sizeof t->scan->files);
    c->t0 = t->scan->t0;
    /* (no second stat: every hash kept is of the text this compile used,
     * so a file changed since the scan differs from it next time) */
    if (p->pp_env.len) { /* env vars the changed models read (as well as the cached ones) */
        char *e = kiln_realloc(c->env, c->env_len + p->pp_env.len);
        if (!e)
            return -1;
        memcpy(e + c->env_len, p->pp_env.data, p->pp_env.len);
        c->env = e;
        c->env_len += p->pp_env.len;
    }
    if (manifest_stat(p, &c->manifest))
        return -1;
    char *path = cache_path(p);
    int rc = path ? cache_write(path, c) : -1;
    kiln_free(path);
    return rc;
}

int kiln_models__pp_compile(const kiln_models_opts *o, FILE *out, int *done, struct km_pp_scan **scan_out,
                            kiln_err *err)
{
    *done = 0;
    *scan_out = NULL;
    pp_try t = {0};
    kiln_project *p = NULL;
    char why[600] = "";
    int rc = 0, use = 0;
    int64_t t0 = now_ns();
    /* the project file, profile, macros: parsed every time (they are few) */
    if (kiln_models__load_base(&p, o, err)) {
        *err = (kiln_err){0}; /* the full parse reports it */
        goto out;
    }
    if (!(t.scan = kiln_models__pp_scan(p, t0)))
        goto out;
    if (o->no_partial_parse) /* the full parse writes a new cache */
        goto out;
    char *path = cache_path(p);
    int r = path ? cache_read(path, &t.c, why, sizeof why) : 1;
    if (r < 0) {
        fprintf(stderr, "note: partial parse: %s/partial_parse.bin %s; parsing every file\n", p->target_path, why);
        unlink(path);
    }
    kiln_free(path);
    if (r)
        goto out;
    if (strcmp(t.c.key, t.scan->key) || !env_same(&t.c)) {
        snprintf(why, sizeof why, "vars, target, profile or env vars changed");
        goto out;
    }
    if (find_changes(p->dir, &t, why, sizeof why))
        goto out;
    char *mpath = kiln_sprintf("%s/%s/manifest.json", p->dir, p->target_path);
    pp_file ms = {0};
    struct stat st;
    kiln_err e2 = {0};
    int mok = mpath && stat(mpath, &st) == 0;
    if (mok)
        set_stat(&ms, &st);
    mok = mok && same_stat(&ms, &t.c.manifest) && st.st_size > 0;
    if (mok) { /* mapped, not read: most of it is written back as it is */
        int fd = open(mpath, O_RDONLY | O_CLOEXEC);
        void *m = fd < 0 ? MAP_FAILED : mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (fd >= 0)
            close(fd);
        mok = m != MAP_FAILED;
        if (mok) {
            t.manifest = m;
            t.manifest_len = (size_t)st.st_size;
        }
    }
    (void)e2;
    kiln_free(mpath);
    if (!mok) {
        snprintf(why, sizeof why, "manifest.json is not the one the cache describes");
        goto out;
    }
    if ((rc = skeleton(p, &t, err)))
        goto out;
    for (size_t j = 0; j < t.changed.len && !rc; j++) {
        rc = rebuild(p, &t, j, why, sizeof why, err);
        if (rc < 0)
            goto out;
    }
    if (rc)
        goto out;
    /* the changed models' compiled files, the manifest, the cache */
    for (size_t j = 0; j < t.changed.len && !rc; j++)
        rc = kiln_models__write_compiled(p, p->nodes.items[t.changed.items[j]], err);
    if (!rc && !(p->pp_off = kiln_calloc(2 * p->nodes.len + 2, sizeof(size_t))))
        rc = KILN_OOM(err);
    p->pp_off_n = p->nodes.len;
    if (!rc)
        rc = kiln_models__write_manifest(p, err);
    if (rc)
        goto out;
    use = 1;
    size_t written = 0;
    for (size_t i = 0; i < p->nodes.len; i++)
        written += p->nodes.items[i]->kind == KM_MODEL || p->nodes.items[i]->kind == KM_TEST;
    kiln_models__print_found(p, out);
    fprintf(out, "Compiled %zu nodes into %s/compiled/%s/\n", written, p->target_path, p->name);
    if (p->pp_volatile || save_after(p, &t)) /* a changed model read the warehouse: not cached */
        cache_remove(p);
    kiln_debug("partial parse: %zu model file(s) parsed again", t.changed.len);
out:
    if (!use && why[0])
        kiln_debug("partial parse: full parse (%s)", why);
    if (rc < 0)
        rc = 0;
    if (!use && rc == 0 && p && p->pp_off) /* a manifest half-written: the full parse writes it again */
        cache_remove(p);
    kiln_project_free(p); /* before the cache and the manifest text its nodes point into */
    if (!use) {           /* the full parse reuses the scan (find_changes hashed what it read before the load) */
        *scan_out = t.scan;
        t.scan = NULL;
    }
    try_free(&t);
    *done = use;
    return use ? rc : 0;
}

/* The full compile's part: the pre-render state (taken between load and
 * render), then the cache (after manifest.json). */
int kiln_models__pp_full(kiln_project *p, struct km_pp_scan *scan, int stage, void **state)
{
    pp_pre *pre = *state;
    if (stage == 0) {
        if (!scan || !p)
            return 0;
        if (!(pre = kiln_calloc(1, sizeof *pre)) || pre_take(p, pre)) {
            if (pre)
                pre_free(pre, p->nodes.len);
            kiln_free(pre);
            return 0;
        }
        *state = pre;
        p->pp_off = kiln_calloc(2 * p->nodes.len + 2, sizeof(size_t));
        p->pp_off_n = p->pp_off ? p->nodes.len : 0;
        return 0;
    }
    if (!p) {
        scan_free(scan);
        return 0;
    }
    if (stage == 1 && pre && p->pp_off && p->pp_off_n == p->nodes.len) {
        if (save_full(p, scan, pre))
            cache_remove(p);
    } else if (stage == 1)
        cache_remove(p);
    if (pre) {
        pre_free(pre, p->nodes.len);
        kiln_free(pre);
    }
    *state = NULL;
    scan_free(scan);
    return 0;
}
