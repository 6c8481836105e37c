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
#include "lake/lake.h"

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

static int local_list(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st),
                      void *ctx, kiln_err *err)
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
    "local",         local_read_all, local_write_atomic, local_write_new,   local_link_new,
    local_stat,      local_list,     local_remove,       local_mkdirs,      local_rmdir_empty,
    local_rmtree,    local_sync_dir, local_local_file,   local_abspath,
};

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
    } else if (sl > 0) {
        return kiln_err_set(err, KILN_EUNSUPP,
                            "%s: the %.*s:// scheme is not supported (kiln stores tables in a local directory: "
                            "give a path or a file:// URI)",
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

#define RESOLVE(loc)                                                        \
    const kiln_lake_io_ops *ops;                                            \
    char *path = NULL;                                                      \
    int rc = kiln_lake__io_resolve(&ops, &path, (loc), err);                \
    if (rc)                                                                 \
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

int kiln_lake__io_list(const char *dir, int (*fn)(void *ctx, const char *name, const kiln_lake_io_stat *st),
                       void *ctx, kiln_err *err)
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
    rc = ops->local_file(out, path, err);
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
