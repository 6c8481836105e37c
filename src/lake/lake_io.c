/*
 * lake_io.c - the lake's one door to stored bytes (see lake_io.h): scheme
 * resolution, the local file-system backend, URI <-> path conversion, and
 * new UUIDs and snapshot ids.
 *
 * The local backend keeps the guarantees the commit protocol relies on:
 * write_atomic is temp + fsync + rename (base's kiln_file_write_atomic),
 * write_new is O_EXCL + fsync, link_new is link(2), which fails when the
 * target exists, so exactly one committer publishes v<N>.metadata.json.
 */
#include "lake/lake_io.h"
#include "format/parquet/parquet.h"
#include "lake/lake.h"
#include "store/store.h"

#include <pthread.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ local backend */

static int local_read_all(const char *path, size_t cap, char **out, size_t *len, kiln_err *err)
{
    return kiln_file_read(path, cap, out, len, err);
}

static int local_write_atomic(const char *path, const void *data, size_t n, kiln_err *err)
{
    return kiln_file_write_atomic(path, data, n, err);
}

static int local_write_new(const char *path, const void *data, size_t n, kiln_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return kiln_err_set(err, errno == EEXIST ? KILN_EEXIST : KILN_EIO, "%s: cannot create: %s", path,
                            strerror(errno));
    const char *p = data;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(path);
            return kiln_err_set(err, KILN_EIO, "%s: write failed: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return kiln_err_set(err, KILN_EIO, "%s: fsync failed: %s", path, strerror(e));
    }
    if (close(fd) != 0) {
        unlink(path);
        return kiln_err_set(err, KILN_EIO, "%s: close failed: %s", path, strerror(errno));
    }
    return 0;
}

static int local_link_new(const char *from, const char *to, kiln_err *err)
{
    if (link(from, to) == 0)
        return 0;
    return kiln_err_set(err, errno == EEXIST ? KILN_EEXIST : KILN_EIO, "%s: cannot link: %s", to, strerror(errno));
}

static void stat_fill(kiln_lake_io_stat *out, const struct stat *st)
{
    out->is_dir = S_ISDIR(st->st_mode) ? 1 : 0;
    out->size = (int64_t)st->st_size;
    out->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static int local_stat(const char *path, kiln_lake_io_stat *out, kiln_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR ? KILN_ENOTFOUND
                                                   : kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    stat_fill(out, &st);
    return 0;
}

static int local_list(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st), void *ctx,
                      kiln_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? 0 : kiln_err_set(err, KILN_EIO, "%s: %s", dir, strerror(errno));
    /* names first, then stat and call back: fn may delete entries */
    KILN_VEC(char *) names = {0};
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char *name = kiln_strdup(de->d_name);
        if (!name || kiln_vec_push(&names, name, err)) {
            kiln_free(name);
            rc = KILN_OOM(err);
            break;
        }
    }
    closedir(d);
    for (size_t i = 0; rc == 0 && i < names.len; i++) {
        char *p = kiln_sprintf("%s/%s", dir, names.items[i]);
        struct stat st;
        if (!p) {
            rc = KILN_OOM(err);
            break;
        }
        /* lstat: a symlink is not followed out of the table */
        int ok = lstat(p, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));
        kiln_free(p);
        if (!ok)
            continue;
        kiln_lake_io_stat s;
        stat_fill(&s, &st);
        rc = fn(ctx, names.items[i], &s);
    }
    for (size_t i = 0; i < names.len; i++)
        kiln_free(names.items[i]);
    kiln_vec_free(&names);
    return rc;
}

static int local_remove(const char *path, kiln_err *err)
{
    if (unlink(path) != 0 && errno != ENOENT)
        return kiln_err_set(err, KILN_EIO, "%s: cannot delete: %s", path, strerror(errno));
    return 0;
}

static int local_mkdirs(const char *dir, kiln_err *err) { return kiln_mkdirs(dir, err); }
static void local_rmdir_empty(const char *dir) { (void)rmdir(dir); }
static int local_rmtree(const char *dir, kiln_err *err) { return kiln_rmtree(dir, err); }

static void local_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

static int local_local_file(char **out, const char *path, kiln_err *err)
{
    *out = kiln_strdup(path);
    return *out ? 0 : KILN_OOM(err);
}

/* local: realpath when it exists, else made absolute by hand */
static int local_abspath(char **out, const char *path, kiln_err *err)
{
    char real[PATH_MAX], cwd[PATH_MAX];
    *out = NULL;
    if (realpath(path, real))
        *out = kiln_strdup(real);
    else if (path[0] == '/')
        *out = kiln_strdup(path);
    else if (getcwd(cwd, sizeof cwd))
        *out = kiln_sprintf("%s/%s", cwd, path);
    else
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    if (!*out)
        return KILN_OOM(err);
    size_t n = strlen(*out);
    while (n > 1 && (*out)[n - 1] == '/')
        (*out)[--n] = 0;
    return 0;
}

static const kiln_lake_io_ops LOCAL = {
    "local",      local_read_all, local_write_atomic, local_write_new, local_link_new, local_stat,       local_list,
    local_remove, local_mkdirs,   local_rmdir_empty,  local_rmtree,    local_sync_dir, local_local_file, local_abspath,
};

/* ------------------------------------------------------------ S3 backend */

/* Paths of this backend are whole locations, "s3://bucket/key". One store
 * per bucket, opened on first use (settings from the environment, see
 * store.h) and kept for the life of the process. */

#define MAX_BUCKETS 16
static pthread_mutex_t s3_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *bucket;
    kiln_store *store;
} s3_stores[MAX_BUCKETS];
static int s3_nstores;

/* Split "s3://bucket/key" into its store and key (key points into path;
 * "" for the bucket root). */
static int s3_split(const char *path, kiln_store **st, const char **key, kiln_err *err)
{
    const char *b = path + 5, *slash = strchr(b, '/');
    size_t bl = slash ? (size_t)(slash - b) : strlen(b);
    *key = slash ? slash + 1 : "";
    if (**key && kiln_store_key_check(*key, err))
        return kiln_err_prefix(err, "%s: ", path);
    int rc = 0;
    pthread_mutex_lock(&s3_mu);
    *st = NULL;
    for (int i = 0; i < s3_nstores; i++)
        if (strlen(s3_stores[i].bucket) == bl && !strncmp(s3_stores[i].bucket, b, bl))
            *st = s3_stores[i].store;
    if (!*st) {
        char *root = kiln_sprintf("s3://%.*s", (int)bl, b), *bucket = kiln_strndup(b, bl);
        kiln_store *s = NULL;
        if (!root || !bucket)
            rc = KILN_OOM(err);
        else if (s3_nstores == MAX_BUCKETS)
            rc = kiln_err_set(err, KILN_ELIMIT, "%s: more than %d buckets in one process", path, MAX_BUCKETS);
        else if ((rc = kiln_store_open(&s, root, NULL, err)) == 0) {
            s3_stores[s3_nstores].bucket = bucket;
            s3_stores[s3_nstores].store = s;
            s3_nstores++;
            bucket = NULL;
            *st = s;
        }
        kiln_free(root);
        kiln_free(bucket);
    }
    pthread_mutex_unlock(&s3_mu);
    return rc;
}

#define S3_SPLIT(path)                                                                                                 \
    kiln_store *st;                                                                                                    \
    const char *key;                                                                                                   \
    int rc = s3_split((path), &st, &key, err);                                                                         \
    if (rc)                                                                                                            \
    return rc

static int s3_read_all(const char *path, size_t cap, char **out, size_t *len, kiln_err *err)
{
    S3_SPLIT(path);
    return kiln_store_get(st, key, 0, -1, cap, out, len, err);
}

static int s3_write_atomic(const char *path, const void *data, size_t n, kiln_err *err)
{
    S3_SPLIT(path);
    return kiln_store_put(st, key, data, n, err);
}

static int s3_write_new(const char *path, const void *data, size_t n, kiln_err *err)
{
    S3_SPLIT(path);
    return kiln_store_create(st, key, data, n, err);
}

/* No link on S3: copy the bytes with a conditional create (If-None-Match). */
static int s3_link_new(const char *from, const char *to, kiln_err *err)
{
    char *data = NULL;
    size_t n = 0;
    int rc = s3_read_all(from, 0, &data, &n, err);
    if (!rc)
        rc = s3_write_new(to, data, n, err);
    kiln_free(data);
    return rc;
}

static int first_cb(void *ctx, const kiln_store_entry *e)
{
    (void)e;
    *(int *)ctx = 1;
    return 1;
}

static int s3_stat(const char *path, kiln_lake_io_stat *out, kiln_err *err)
{
    S3_SPLIT(path);
    memset(out, 0, sizeof *out);
    kiln_store_info h;
    if (*key) {
        rc = kiln_store_head(st, key, &h, err);
        if (rc == 0) {
            out->size = h.size;
            out->mtime_ms = h.mtime_ms;
            return 0;
        }
        if (rc != KILN_ENOTFOUND)
            return rc;
    }
    /* a "directory": some key below it */
    char *prefix = *key ? kiln_sprintf("%s/", key) : kiln_strdup("");
    char *next = NULL;
    int any = 0;
    if (!prefix)
        return KILN_OOM(err);
    rc = kiln_store_list_page(st, prefix, NULL, NULL, 1, first_cb, &any, &next, err);
    kiln_free(prefix);
    kiln_free(next);
    if (rc < 0)
        return rc;
    if (!any)
        return KILN_ENOTFOUND;
    out->is_dir = 1;
    return 0;
}

typedef struct s3_ent {
    char *name;
    kiln_lake_io_stat st;
} s3_ent;

typedef struct s3_list_ctx {
    size_t plen;
    KILN_VEC(s3_ent) v;
    kiln_err *err;
} s3_list_ctx;

/* Keys below the directory arrive in byte order, all of them (no
 * delimiter: some S3 look-alikes fold only folders that hold objects
 * themselves into common prefixes); a key with a '/' after the directory
 * names a subdirectory, reported once (keys sharing it are contiguous). */
static int s3_list_cb(void *ctx, const kiln_store_entry *e)
{
    s3_list_ctx *c = ctx;
    const char *name = e->key + c->plen;
    const char *slash = strchr(name, '/');
    size_t n = slash ? (size_t)(slash - name) : strlen(name);
    int is_dir = slash != NULL || e->is_prefix;
    if (!n)
        return 0;
    if (is_dir && c->v.len) {
        s3_ent *last = &c->v.items[c->v.len - 1];
        if (last->st.is_dir && strlen(last->name) == n && !strncmp(last->name, name, n))
            return 0;
    }
    s3_ent x = {kiln_strndup(name, n), {is_dir, is_dir ? 0 : e->size, e->mtime_ms}};
    if (!x.name || kiln_vec_push(&c->v, x, c->err)) {
        kiln_free(x.name);
        return KILN_OOM(c->err);
    }
    return 0;
}

static int s3_list(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st), void *ctx,
                   kiln_err *err)
{
    S3_SPLIT(dir);
    char *prefix = *key ? kiln_sprintf("%s/", key) : kiln_strdup("");
    if (!prefix)
        return KILN_OOM(err);
    s3_list_ctx c = {strlen(prefix), {0}, err};
    /* names first, then call back: fn may delete entries */
    rc = kiln_store_list(st, prefix, NULL, s3_list_cb, &c, err);
    for (size_t i = 0; i < c.v.len; i++) {
        if (!rc)
            rc = fn(ctx, c.v.items[i].name, &c.v.items[i].st);
        kiln_free(c.v.items[i].name);
    }
    kiln_vec_free(&c.v);
    kiln_free(prefix);
    return rc;
}

static int s3_remove(const char *path, kiln_err *err)
{
    S3_SPLIT(path);
    return kiln_store_delete(st, key, err);
}

/* S3 has no directories: a prefix exists while keys are below it */
static int s3_mkdirs(const char *dir, kiln_err *err)
{
    S3_SPLIT(dir);
    return 0;
}

static void s3_rmdir_empty(const char *dir) { (void)dir; }
static void s3_sync_dir(const char *dir) { (void)dir; }

typedef struct keys_ctx {
    KILN_VEC(char *) v;
    kiln_err *err;
} keys_ctx;

static int keys_cb(void *ctx, const kiln_store_entry *e)
{
    keys_ctx *c = ctx;
    char *k = kiln_strdup(e->key);
    if (!k || kiln_vec_push(&c->v, k, c->err)) {
        kiln_free(k);
        return KILN_OOM(c->err);
    }
    return 0;
}

static int s3_rmtree(const char *dir, kiln_err *err)
{
    S3_SPLIT(dir);
    if (!*key)
        return kiln_err_set(err, KILN_EINVAL, "%s: refusing to delete a whole bucket", dir);
    char *prefix = kiln_sprintf("%s/", key);
    if (!prefix)
        return KILN_OOM(err);
    keys_ctx c = {{0}, err};
    rc = kiln_store_list(st, prefix, NULL, keys_cb, &c, err);
    for (size_t i = 0; i < c.v.len; i++) {
        if (!rc)
            rc = kiln_store_delete(st, c.v.items[i], err);
        kiln_free(c.v.items[i]);
    }
    kiln_vec_free(&c.v);
    kiln_free(prefix);
    return rc;
}

/* a new empty temp file named after the object (for messages) */
static int temp_file(char **out, const char *path, kiln_err *err)
{
    const char *tmpdir = getenv("TMPDIR");
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *t = kiln_sprintf("%s/kiln-s3-XXXXXX-%.*s", tmpdir && *tmpdir ? tmpdir : "/tmp", 64, base);
    if (!t)
        return KILN_OOM(err);
    int suffix = (int)strlen(t) - (int)(strstr(t, "XXXXXX") - t) - 6;
    int fd = mkstemps(t, suffix);
    if (fd < 0) {
        int e = errno;
        kiln_free(t);
        return kiln_err_set(err, KILN_EIO, "cannot create a temporary file for %s: %s", path, strerror(e));
    }
    close(fd);
    *out = t;
    return 0;
}

/* a local copy to read: downloaded into a temp file (released by
 * kiln_lake__io_local_release) */
static int s3_local_file(char **out, const char *path, kiln_err *err)
{
    S3_SPLIT(path);
    if ((rc = temp_file(out, path, err)))
        return rc;
    if ((rc = kiln_store_get_file(st, key, *out, err))) {
        unlink(*out);
        kiln_free(*out);
        *out = NULL;
    }
    return rc;
}

static int s3_abspath(char **out, const char *path, kiln_err *err)
{
    size_t n = strlen(path);
    while (n > 5 && path[n - 1] == '/')
        n--;
    *out = kiln_strndup(path, n);
    return *out ? 0 : KILN_OOM(err);
}

static const kiln_lake_io_ops S3 = {
    "s3",      s3_read_all, s3_write_atomic, s3_write_new, s3_link_new, s3_stat,       s3_list,
    s3_remove, s3_mkdirs,   s3_rmdir_empty,  s3_rmtree,    s3_sync_dir, s3_local_file, s3_abspath,
};

/* ------------------------------------------------------------ ranged Parquet reads
 *
 * A Parquet file on S3 is read in place by ranged GETs (docs/store.md):
 * one GET of the file's last RANGED_TAIL bytes (footer and magic; the
 * whole file when it is that small), then one GET per column chunk the
 * reader announces (kiln_parquet_src.need) at the chunk's first read,
 * buffered so the reader's page-header and page reads cost no request.
 * Row groups the reader skips and columns it does not project are never
 * announced, so never fetched. Every GET after the first is pinned to the
 * first answer's ETag: a file replaced while it is read is KILN_ECONFLICT.
 * A read outside the tail and the announced chunks (the 4-byte head magic
 * of a larger file, a footer longer than the tail) is its own GET. */

#define RANGED_TAIL (64 * 1024)
#define RANGED_BUDGET ((size_t)256 << 20) /* chunk bytes buffered at most (the current one always) */

typedef struct rchunk {
    uint64_t off, len;
    uint64_t gen; /* the row group (announcement round) it belongs to */
    char *data;   /* NULL until fetched */
} rchunk;

typedef struct rsrc {
    kiln_store *st;
    char *key, *loc;
    char etag[80];
    uint64_t size;
    char *tail; /* the file's last tail_n bytes */
    size_t tail_n;
    pthread_mutex_t mu;
    KILN_VEC(rchunk *) ch;
    size_t buffered;
    uint64_t gen;   /* announcement round: a need after reads starts a new one */
    int read_since; /* a chunk was read since the last announcement */
} rsrc;

static void rsrc_close(void *ctx)
{
    rsrc *s = ctx;
    for (size_t i = 0; i < s->ch.len; i++) {
        kiln_free(s->ch.items[i]->data);
        kiln_free(s->ch.items[i]);
    }
    kiln_vec_free(&s->ch);
    pthread_mutex_destroy(&s->mu);
    kiln_free(s->tail);
    kiln_free(s->key);
    kiln_free(s->loc);
    kiln_free(s);
}

/* bytes [off, off+len) of the pinned version, all of them */
static int rsrc_get(rsrc *s, uint64_t off, uint64_t len, char **out, kiln_err *err)
{
    size_t n = 0;
    int rc = kiln_store_get_range(s->st, s->key, (int64_t)off, (int64_t)len, s->etag, out, &n, NULL, err);
    if (rc)
        return rc;
    if (n != len) {
        kiln_free(*out);
        *out = NULL;
        return kiln_err_set(err, KILN_ETRUNC, "%s: %llu bytes at byte %llu asked, %zu came: the object is shorter",
                            s->loc, (unsigned long long)len, (unsigned long long)off, n);
    }
    return 0;
}

/* The reader announces the chunks of a row group together, when it starts
 * the row group: the first announcement after reads begins a new round,
 * and the chunks of earlier rounds (the row group the reader left) are
 * dropped. A read outside every announced chunk is its own GET. */
static void rsrc_need(void *ctx, uint64_t off, uint64_t len)
{
    rsrc *s = ctx;
    pthread_mutex_lock(&s->mu);
    if (s->read_since) {
        s->gen++;
        s->read_since = 0;
    }
    size_t k = 0;
    int have = 0;
    for (size_t i = 0; i < s->ch.len; i++) {
        rchunk *c = s->ch.items[i];
        if (c->gen < s->gen && !(c->off == off && c->len == len)) {
            if (c->data)
                s->buffered -= c->len;
            kiln_free(c->data);
            kiln_free(c);
            continue;
        }
        if (c->off == off && c->len == len) {
            have = 1;
            c->gen = s->gen;
        }
        s->ch.items[k++] = c;
    }
    s->ch.len = k;
    rchunk *c = have || !len ? NULL : kiln_calloc(1, sizeof *c);
    if (c) {
        c->off = off;
        c->len = len;
        c->gen = s->gen;
        if (kiln_vec_push(&s->ch, c, &(kiln_err){0}))
            kiln_free(c); /* out of memory: its reads become their own GETs */
    }
    pthread_mutex_unlock(&s->mu);
}

static rchunk *rsrc_find(rsrc *s, uint64_t off, size_t n)
{
    for (size_t i = 0; i < s->ch.len; i++) {
        rchunk *c = s->ch.items[i];
        if (off >= c->off && off + n <= c->off + c->len)
            return c;
    }
    return NULL;
}

static int rsrc_pread(void *ctx, void *buf, size_t n, uint64_t off, kiln_err *err)
{
    rsrc *s = ctx;
    uint64_t tail_off = s->size - s->tail_n;
    if (off >= tail_off && off + n <= s->size) {
        memcpy(buf, s->tail + (off - tail_off), n);
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    s->read_since = 1;
    rchunk *c = rsrc_find(s, off, n);
    if (c && !c->data) {
        /* fetch the whole chunk outside the lock (other columns read on) */
        uint64_t coff = c->off, clen = c->len;
        pthread_mutex_unlock(&s->mu);
        char *data = NULL;
        int rc = rsrc_get(s, coff, clen, &data, err);
        if (rc)
            return rc;
        pthread_mutex_lock(&s->mu);
        c = rsrc_find(s, off, n);
        if (c && !c->data && c->off == coff && c->len == clen) {
            /* over the budget: drop the other chunks fetched (refetched if read again) */
            for (size_t i = 0; i < s->ch.len && s->buffered + clen > RANGED_BUDGET; i++) {
                rchunk *o = s->ch.items[i];
                if (o != c && o->data) {
                    kiln_free(o->data);
                    o->data = NULL;
                    s->buffered -= o->len;
                }
            }
            c->data = data;
            s->buffered += clen;
            data = NULL;
        }
        if (data && c && c->data) { /* fetched by another thread meanwhile */
            kiln_free(data);
            data = NULL;
        }
        if (data) { /* the chunk went away meanwhile: serve from this copy */
            pthread_mutex_unlock(&s->mu);
            memcpy(buf, data + (off - coff), n);
            kiln_free(data);
            return 0;
        }
    }
    if (c && c->data) {
        memcpy(buf, c->data + (off - c->off), n);
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    char *data = NULL;
    int rc = rsrc_get(s, off, n, &data, err);
    if (!rc)
        memcpy(buf, data, n);
    kiln_free(data);
    return rc;
}

/* Open the ranged source of an S3 object: the tail GET gives its size and
 * ETag too (size_hint, the manifest's file size, places the range; when it
 * is wrong or unknown the size the answer states is used). */
static int s3_parquet_open(kiln_parquet_reader **r, const char *loc, int64_t size_hint,
                           const kiln_parquet_read_opts *ro, kiln_err *err)
{
    kiln_store *st;
    const char *key;
    int rc = s3_split(loc, &st, &key, err);
    if (rc)
        return rc;
    rsrc *s = kiln_calloc(1, sizeof *s);
    if (!s || !(s->key = kiln_strdup(key)) || !(s->loc = kiln_strdup(loc))) {
        if (s) {
            kiln_free(s->key);
            kiln_free(s);
        }
        return KILN_OOM(err);
    }
    s->st = st;
    pthread_mutex_init(&s->mu, NULL);
    kiln_store_info info;
    size_t n = 0;
    if (size_hint <= 0) {
        if ((rc = kiln_store_head(st, key, &info, err)))
            goto fail;
        size_hint = info.size;
        snprintf(s->etag, sizeof s->etag, "%s", info.etag);
    }
    int64_t toff = size_hint > RANGED_TAIL ? size_hint - RANGED_TAIL : 0;
    if ((rc = kiln_store_get_range(st, key, toff, size_hint - toff, s->etag[0] ? s->etag : NULL, &s->tail, &n, &info,
                                   err)))
        goto fail;
    if (info.size < 0)
        info.size = toff + (int64_t)n;
    if (!s->etag[0])
        snprintf(s->etag, sizeof s->etag, "%s", info.etag);
    if (info.size != toff + (int64_t)n) {
        /* the size differs from the manifest's: the tail again, of this version */
        int64_t size = info.size;
        kiln_free(s->tail);
        s->tail = NULL;
        toff = size > RANGED_TAIL ? size - RANGED_TAIL : 0;
        if ((rc = kiln_store_get_range(st, key, toff, size - toff, s->etag[0] ? s->etag : NULL, &s->tail, &n, &info,
                                       err)))
            goto fail;
        if (!s->etag[0])
            snprintf(s->etag, sizeof s->etag, "%s", info.etag);
        if (toff + (int64_t)n != size) {
            rc = kiln_err_set(err, KILN_ECONFLICT, "%s: the object changed while it was opened", loc);
            goto fail;
        }
    }
    s->size = (uint64_t)(toff + (int64_t)n);
    s->tail_n = n;
    kiln_parquet_src src = {rsrc_pread, rsrc_need, rsrc_close, s, s->size};
    return kiln_parquet_reader_open_src(r, loc, &src, ro, err);
fail:
    rsrc_close(s);
    return rc;
}

/* The SQLite catalog of an s3:// warehouse is a local file (SQLite needs
 * POSIX locks): KILN_CATALOG_DIR/<bucket>/<prefix>/catalog.db, default
 * $XDG_STATE_HOME/kiln/catalogs or ~/.local/state/kiln/catalogs. */
static char *s3_catalog_path(const char *loc)
{
    const char *dir = getenv("KILN_CATALOG_DIR");
    if (dir && *dir)
        return kiln_sprintf("%s/%s", dir, loc + 5);
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (state && *state)
        return kiln_sprintf("%s/kiln/catalogs/%s", state, loc + 5);
    return kiln_sprintf("%s/.local/state/kiln/catalogs/%s", home && *home ? home : "/tmp", loc + 5);
}

static int is_catalog_db(const char *loc)
{
    size_t n = strlen(loc);
    return n > 11 && !strcmp(loc + n - 11, "/catalog.db");
}

/* ------------------------------------------------------------ resolution */

/* Length of "scheme" when loc starts with "scheme://" (RFC 3986 letters),
 * else 0. */
static size_t scheme_len(const char *loc)
{
    size_t i = 0;
    if (!((loc[0] >= 'a' && loc[0] <= 'z') || (loc[0] >= 'A' && loc[0] <= 'Z')))
        return 0;
    while ((loc[i] >= 'a' && loc[i] <= 'z') || (loc[i] >= 'A' && loc[i] <= 'Z') || (loc[i] >= '0' && loc[i] <= '9') ||
           loc[i] == '+' || loc[i] == '-' || loc[i] == '.')
        i++;
    return strncmp(loc + i, "://", 3) == 0 ? i : 0;
}

int kiln_lake__io_resolve(const kiln_lake_io_ops **ops, char **path, const char *loc, kiln_err *err)
{
    *ops = NULL;
    *path = NULL;
    const char *p = loc;
    size_t sl = scheme_len(loc);
    if (sl == 4 && strncasecmp(loc, "file", 4) == 0) {
        p = loc + 7;
        if (*p != '/')
            return kiln_err_set(err, KILN_EUNSUPP, "%s: only file:///absolute/path URIs are supported", loc);
    } else if (sl == 2 && strncasecmp(loc, "s3", 2) == 0) {
        if (is_catalog_db(loc)) {
            if (!(*path = s3_catalog_path(loc)))
                return KILN_OOM(err);
            *ops = &LOCAL;
            return 0;
        }
        size_t n = strlen(loc);
        while (n > 5 && loc[n - 1] == '/')
            n--;
        if (n <= 5)
            return kiln_err_set(err, KILN_EINVAL, "%s: no bucket in the S3 location", loc);
        if (!(*path = kiln_sprintf("s3://%.*s", (int)(n - 5), loc + 5)))
            return KILN_OOM(err);
        *ops = &S3;
        return 0;
    } else if (sl > 0) {
        return kiln_err_set(err, KILN_EUNSUPP,
                            "%s: the %.*s:// scheme is not supported (kiln stores tables in a local directory or "
                            "on S3: give a path, a file:// URI or s3://bucket/prefix)",
                            loc, (int)sl, loc);
    } else if (strncmp(loc, "file:", 5) == 0) {
        p = loc + 5;
    }
    if (!*p)
        return kiln_err_set(err, KILN_EINVAL, "empty path in location \"%s\"", loc);
    if (!(*path = kiln_strdup(p)))
        return KILN_OOM(err);
    *ops = &LOCAL;
    return 0;
}

int kiln_lake__io_check(const char *loc, kiln_err *err)
{
    const kiln_lake_io_ops *ops;
    char *path = NULL;
    int rc = kiln_lake__io_resolve(&ops, &path, loc, err);
    kiln_free(path);
    return rc;
}

int kiln_lake_uri_to_path(char **out, const char *uri, kiln_err *err)
{
    const kiln_lake_io_ops *ops;
    return kiln_lake__io_resolve(&ops, out, uri, err);
}

char *kiln_lake_path_to_uri(const char *path)
{
    /* an object-store location is already a URI */
    if (scheme_len(path) > 0)
        return kiln_strdup(path);
    return kiln_sprintf("file://%s", path);
}

char *kiln_lake_remap_path(kiln_arena *a, const kiln_lake_remap *remap, const char *stored)
{
    if (remap && remap->from && remap->to) {
        const char *p = stored;
        if (!strncmp(p, "file://", 7))
            p += 7;
        else if (!strncmp(p, "file:", 5))
            p += 5;
        size_t fl = strlen(remap->from);
        const char *q = strncmp(stored, remap->from, fl) == 0 ? stored : p;
        if (strncmp(q, remap->from, fl) == 0) {
            size_t tl = strlen(remap->to), rl = strlen(q + fl);
            char *out = kiln_arena_alloc(a, tl + rl + 1);
            if (!out)
                return NULL;
            memcpy(out, remap->to, tl);
            memcpy(out + tl, q + fl, rl + 1);
            return out;
        }
    }
    return kiln_arena_strndup(a, stored, strlen(stored));
}

/* ------------------------------------------------------------ dispatch */

#define RESOLVE(loc)                                                                                                   \
    const kiln_lake_io_ops *ops;                                                                                       \
    char *path = NULL;                                                                                                 \
    int rc = kiln_lake__io_resolve(&ops, &path, (loc), err);                                                           \
    if (rc)                                                                                                            \
    return rc

int kiln_lake__io_read_all(const char *loc, size_t cap, char **out, size_t *len, kiln_err *err)
{
    *out = NULL;
    *len = 0;
    RESOLVE(loc);
    rc = ops->read_all(path, cap, out, len, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_write_atomic(const char *loc, const void *data, size_t n, kiln_err *err)
{
    RESOLVE(loc);
    rc = ops->write_atomic(path, data, n, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_write_new(const char *loc, const void *data, size_t n, kiln_err *err)
{
    RESOLVE(loc);
    rc = ops->write_new(path, data, n, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_link_new(const char *from, const char *to, kiln_err *err)
{
    const kiln_lake_io_ops *ops, *ops2;
    char *pf = NULL, *pt = NULL;
    int rc = kiln_lake__io_resolve(&ops, &pf, from, err);
    if (!rc && !(rc = kiln_lake__io_resolve(&ops2, &pt, to, err)))
        rc = ops != ops2 ? kiln_err_set(err, KILN_EUNSUPP, "cannot link %s to %s: different stores", from, to)
                         : ops->link_new(pf, pt, err);
    kiln_free(pf);
    kiln_free(pt);
    return rc;
}

int kiln_lake__io_stat(const char *loc, kiln_lake_io_stat *out, kiln_err *err)
{
    RESOLVE(loc);
    rc = ops->stat(path, out, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_exists(const char *loc)
{
    kiln_err e = {0};
    kiln_lake_io_stat st;
    return loc && kiln_lake__io_stat(loc, &st, &e) == 0;
}

int kiln_lake__io_list(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st), void *ctx,
                       kiln_err *err)
{
    RESOLVE(dir);
    rc = ops->list(path, fn, ctx, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_remove(const char *loc, kiln_err *err)
{
    RESOLVE(loc);
    rc = ops->remove(path, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_mkdirs(const char *dir, kiln_err *err)
{
    RESOLVE(dir);
    rc = ops->mkdirs(path, err);
    kiln_free(path);
    return rc;
}

void kiln_lake__io_rmdir_empty(const char *dir)
{
    kiln_err e = {0}, *err = &e;
    const kiln_lake_io_ops *ops;
    char *path = NULL;
    if (kiln_lake__io_resolve(&ops, &path, dir, err) == 0)
        ops->rmdir_empty(path);
    kiln_free(path);
}

int kiln_lake__io_rmtree(const char *dir, kiln_err *err)
{
    RESOLVE(dir);
    rc = ops->rmtree(path, err);
    kiln_free(path);
    return rc;
}

void kiln_lake__io_sync_dir(const char *dir)
{
    kiln_err e = {0}, *err = &e;
    const kiln_lake_io_ops *ops;
    char *path = NULL;
    if (kiln_lake__io_resolve(&ops, &path, dir, err) == 0)
        ops->sync_dir(path);
    kiln_free(path);
}

int kiln_lake__io_local_file(char **out, const char *loc, kiln_err *err)
{
    *out = NULL;
    RESOLVE(loc);
    /* the local catalog of an object-store warehouse: its folder first */
    if (ops == &LOCAL && scheme_len(loc) > 0 && strncasecmp(loc, "file", 4) != 0) {
        char *slash = strrchr(path, '/');
        if (slash) {
            *slash = 0;
            rc = kiln_mkdirs(path, err);
            *slash = '/';
        }
    }
    if (!rc)
        rc = ops->local_file(out, path, err);
    kiln_free(path);
    return rc;
}

void kiln_lake__io_local_release(const char *local, const char *loc)
{
    const kiln_lake_io_ops *ops;
    char *path = NULL;
    if (local && kiln_lake__io_resolve(&ops, &path, loc, &(kiln_err){0}) == 0 && ops == &S3)
        unlink(local);
    kiln_free(path);
}

int kiln_lake__io_stage_new(char **out, const char *loc, kiln_err *err)
{
    *out = NULL;
    RESOLVE(loc);
    rc = ops == &S3 ? temp_file(out, path, err) : ops->local_file(out, path, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_stage_publish(const char *staged, const char *loc, kiln_err *err)
{
    RESOLVE(loc);
    if (ops == &S3) {
        kiln_store *st;
        const char *key;
        if (!(rc = s3_split(path, &st, &key, err)))
            rc = kiln_store_put_file(st, key, staged, err);
        unlink(staged);
    }
    kiln_free(path);
    return rc;
}

void kiln_lake__io_stage_discard(const char *staged, const char *loc)
{
    if (staged && strcmp(staged, loc) != 0)
        kiln_lake__io_local_release(staged, loc);
    kiln_lake__io_remove(loc, &(kiln_err){0});
}

int kiln_lake__io_parquet_open(kiln_parquet_reader **r, const char *loc, int64_t size_hint,
                               const kiln_parquet_read_opts *ro, kiln_err *err)
{
    *r = NULL;
    RESOLVE(loc);
    if (ops == &S3)
        rc = s3_parquet_open(r, path, size_hint, ro, err);
    else
        rc = kiln_parquet_reader_open(r, path, ro, err);
    kiln_free(path);
    return rc;
}

int kiln_lake__io_abspath(char **out, const char *loc, kiln_err *err)
{
    const kiln_lake_io_ops *ops;
    char *path = NULL;
    int rc = kiln_lake__io_resolve(&ops, &path, loc, err);
    if (rc)
        return rc;
    rc = ops->abspath(out, path, err);
    kiln_free(path);
    return rc;
}

/* ------------------------------------------------------------ ids */

static void random_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = getrandom(b, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            /* fall back to a weak source rather than failing a commit */
            for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t)(kiln_now_micros() >> (i % 8)) ^ (uint8_t)rand();
            return;
        }
        b += r;
        n -= (size_t)r;
    }
}

int64_t kiln_lake_snapshot_id_new(void)
{
    uint64_t v = 0;
    while (v == 0) {
        random_bytes(&v, sizeof(v));
        v &= (UINT64_C(1) << 53) - 1;
    }
    return (int64_t)v;
}

void kiln_lake_uuid_v4(char out[37])
{
    uint8_t b[16];
    random_bytes(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = 0;
}
