/*
 * store.c - the object store's front (see store.h): root URIs, key checks,
 * dispatch, and the local-directory backend.
 *
 * Local backend: key K lives at ROOT/K. put is temp + fsync + rename (base's
 * kiln_file_write_atomic); create writes a temp file (O_EXCL, fsync) and
 * link(2)s it to the key, which fails when the key exists, so a reader never
 * sees a partial object and exactly one creator wins. The etag is the
 * modification time in ns and the size, in hex.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ keys */

int kiln_store_key_check(const char *key, kiln_err *err)
{
    if (!key || !*key)
        return kiln_err_set(err, KILN_EINVAL, "empty object key");
    if (key[0] == '/')
        return kiln_err_set(err, KILN_EINVAL, "object key \"%s\" is absolute: keys are relative to the store's root",
                            key);
    size_t n = strlen(key);
    if (n > 1024)
        return kiln_err_set(err, KILN_EINVAL, "object key of %zu bytes: at most 1024", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '\\')
            return kiln_err_set(err, KILN_EINVAL, "object key \"%s\" has a backslash", key);
        if (c < 0x20 || c == 0x7f)
            return kiln_err_set(err, KILN_EINVAL, "object key has a control character (byte 0x%02x at %zu)", c, i);
    }
    const char *p = key;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0)
            return kiln_err_set(err, KILN_EINVAL, "object key \"%s\" has an empty segment (\"//\")", key);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return kiln_err_set(err, KILN_EINVAL, "object key \"%s\" has a \"%.*s\" segment (path traversal)", key,
                                (int)len, p);
        p += len;
        if (*p == '/') {
            p++;
            if (!*p) /* a trailing '/' names a "directory" marker: allowed */
                break;
        }
    }
    return 0;
}

/* a list prefix may be "" or end with '/' */
static int prefix_check(const char *prefix, kiln_err *err)
{
    if (!prefix || !*prefix)
        return 0;
    return kiln_store_key_check(prefix, err);
}

/* ------------------------------------------------------------ front */

int kiln_store_uri_supported(const char *uri)
{
    if (!uri)
        return 0;
    if (!strncasecmp(uri, "s3://", 5) || !strncasecmp(uri, "file://", 7))
        return 1;
    return strstr(uri, "://") == NULL;
}

int kiln_store_open(kiln_store **out, const char *root, const kiln_store_s3_opts *s3opts, kiln_err *err)
{
    *out = NULL;
    if (!root || !*root)
        return kiln_err_set(err, KILN_EINVAL, "empty store root");
    if (!strncasecmp(root, "s3://", 5)) {
        const char *b = root + 5, *slash = strchr(b, '/');
        size_t bl = slash ? (size_t)(slash - b) : strlen(b);
        if (bl < 3 || bl > 63)
            return kiln_err_set(err, KILN_EINVAL, "%s: an S3 bucket name has 3 to 63 characters", root);
        for (size_t i = 0; i < bl; i++) {
            char c = b[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                return kiln_err_set(err, KILN_EINVAL,
                                    "%s: bad S3 bucket name (lower-case letters, digits, '-' and '.')", root);
        }
        char *bucket = kiln_strndup(b, bl);
        const char *prefix = slash ? slash + 1 : "";
        char *pfx = kiln_strdup(prefix);
        int rc = 0;
        if (!bucket || !pfx)
            rc = KILN_OOM(err);
        else {
            size_t pl = strlen(pfx);
            while (pl && pfx[pl - 1] == '/')
                pfx[--pl] = 0;
            if (pl && (rc = kiln_store_key_check(pfx, err)))
                kiln_err_prefix(err, "%s: ", root);
            else
                rc = kiln_store__open_s3(out, bucket, pfx, s3opts, err);
        }
        kiln_free(bucket);
        kiln_free(pfx);
        return rc;
    }
    const char *path = root;
    if (!strncasecmp(root, "file://", 7)) {
        path = root + 7;
        if (*path != '/')
            return kiln_err_set(err, KILN_EUNSUPP, "%s: only file:///absolute/path URIs are supported", root);
    } else if (strstr(root, "://")) {
        return kiln_err_set(err, KILN_EUNSUPP, "%s: this scheme is not supported (a path, file:// or s3://)", root);
    }
    return kiln_store__open_local(out, path, err);
}

void kiln_store_free(kiln_store *s)
{
    if (s)
        s->ops->free(s);
}

const char *kiln_store_kind(const kiln_store *s) { return s->ops->kind; }

void kiln_store_stats_get(const kiln_store *s, kiln_store_stats *out)
{
    out->requests = __atomic_load_n(&s->requests, __ATOMIC_RELAXED);
    out->retries = __atomic_load_n(&s->retries, __ATOMIC_RELAXED);
    out->bytes_in = __atomic_load_n(&s->bytes_in, __ATOMIC_RELAXED);
    out->bytes_out = __atomic_load_n(&s->bytes_out, __ATOMIC_RELAXED);
}

int kiln_store_get(kiln_store *s, const char *key, int64_t off, int64_t len, size_t cap, char **out, size_t *n,
                   kiln_err *err)
{
    *out = NULL;
    *n = 0;
    int rc = kiln_store_key_check(key, err);
    if (rc)
        return rc;
    if (off < 0)
        return kiln_err_set(err, KILN_EINVAL, "%s: negative range offset", key);
    return s->ops->get(s, key, off, len, cap, out, n, err);
}

int kiln_store_get_range(kiln_store *s, const char *key, int64_t off, int64_t len, const char *if_match, char **out,
                         size_t *n, kiln_store_info *info, kiln_err *err)
{
    *out = NULL;
    *n = 0;
    if (info)
        memset(info, 0, sizeof *info);
    int rc = kiln_store_key_check(key, err);
    if (rc)
        return rc;
    if (off < 0 || len < 0)
        return kiln_err_set(err, KILN_EINVAL, "%s: negative range", key);
    return s->ops->get_range(s, key, off, len, if_match && *if_match ? if_match : NULL, out, n, info, err);
}

int kiln_store_get_stream(kiln_store *s, const char *key, kiln_store_stream_fn fn, void *ctx, kiln_store_info *info,
                          kiln_err *err)
{
    int rc = kiln_store_key_check(key, err);
    return rc ? rc : s->ops->get_stream(s, key, fn, ctx, info, err);
}

int kiln_store_get_file(kiln_store *s, const char *key, const char *path, kiln_err *err)
{
    int rc = kiln_store_key_check(key, err);
    return rc ? rc : s->ops->get_file(s, key, path, err);
}

int kiln_store_put(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err)
{
    int rc = kiln_store_key_check(key, err);
    kiln_failpoint("store.put.before");
    return rc ? rc : s->ops->put(s, key, data, n, err);
}

int kiln_store_put_file(kiln_store *s, const char *key, const char *path, kiln_err *err)
{
    int rc = kiln_store_key_check(key, err);
    kiln_failpoint("store.put.before");
    return rc ? rc : s->ops->put_file(s, key, path, err);
}

int kiln_store_create(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err)
{
    int rc = kiln_store_key_check(key, err);
    return rc ? rc : s->ops->create(s, key, data, n, err);
}

int kiln_store_head(kiln_store *s, const char *key, kiln_store_info *out, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = kiln_store_key_check(key, err);
    return rc ? rc : s->ops->head(s, key, out, err);
}

int kiln_store_delete(kiln_store *s, const char *key, kiln_err *err)
{
    int rc = kiln_store_key_check(key, err);
    return rc ? rc : s->ops->del(s, key, err);
}

int kiln_store_list_page(kiln_store *s, const char *prefix, const char *delim, const char *token, int max_keys,
                         kiln_store_list_fn fn, void *ctx, char **next, kiln_err *err)
{
    *next = NULL;
    int rc = prefix_check(prefix, err);
    if (rc)
        return rc;
    if (delim && strcmp(delim, "/") != 0)
        return kiln_err_set(err, KILN_EUNSUPP, "list: only \"/\" is supported as a delimiter");
    return s->ops->list_page(s, prefix ? prefix : "", delim, token, max_keys > 0 ? max_keys : 1000, fn, ctx, next, err);
}

int kiln_store_list(kiln_store *s, const char *prefix, const char *delim, kiln_store_list_fn fn, void *ctx,
                    kiln_err *err)
{
    char *token = NULL;
    int rc = 0;
    do {
        char *next = NULL;
        rc = kiln_store_list_page(s, prefix, delim, token, 1000, fn, ctx, &next, err);
        kiln_free(token);
        token = next;
    } while (rc == 0 && token);
    kiln_free(token);
    return rc;
}

/* ------------------------------------------------------------ local backend */

typedef struct local {
    char *root; /* no trailing '/' */
} local;

static char *lpath(kiln_store *s, const char *key) { return kiln_sprintf("%s/%s", ((local *)s->impl)->root, key); }

static int parent_dirs(const char *path, kiln_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    char *dir = kiln_strndup(path, (size_t)(slash - path));
    if (!dir)
        return KILN_OOM(err);
    int rc = kiln_mkdirs(dir, err);
    kiln_free(dir);
    return rc;
}

static void head_fill(kiln_store_info *out, const struct stat *st);

/* bytes [off, off+len) of the file; with if_match, only of the version
 * whose etag it is (KILN_ECONFLICT otherwise); info: size and etag */
static int local_get_ex(kiln_store *s, const char *key, int64_t off, int64_t len, size_t cap, const char *if_match,
                        kiln_store_info *info, char **out, size_t *n, kiln_err *err)
{
    char *p = lpath(s, key);
    if (!p)
        return KILN_OOM(err);
    int rc = 0, fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) || (fd >= 0 && !S_ISREG(st.st_mode))
                 ? kiln_err_set(err, KILN_ENOTFOUND, "%s: no such object", key)
                 : kiln_err_set(err, KILN_EIO, "%s: %s", p, strerror(errno));
        goto done;
    }
    kiln_store_info h;
    head_fill(&h, &st);
    if (info)
        *info = h;
    if (if_match && strcmp(if_match, h.etag) != 0) {
        rc = kiln_err_set(err, KILN_ECONFLICT, "%s: the object changed while it was read (etag %s, now %s)", key,
                          if_match, h.etag);
        goto done;
    }
    int64_t size = st.st_size;
    int64_t start = off > size ? size : off;
    int64_t want = len < 0 || start + len > size ? size - start : len;
    if (cap && (uint64_t)want > cap) {
        rc = kiln_err_set(err, KILN_ELIMIT, "%s: %lld bytes is more than the %zu allowed", key, (long long)want, cap);
        goto done;
    }
    char *buf = kiln_malloc((size_t)want + 1);
    if (!buf) {
        rc = KILN_OOM(err);
        goto done;
    }
    ssize_t r = kiln_fd_pread_full(fd, buf, (size_t)want, start);
    if (r < want) {
        kiln_free(buf);
        rc = r < 0 ? kiln_err_set(err, KILN_EIO, "%s: read failed: %s", p, strerror(errno))
                   : kiln_err_set(err, KILN_ETRUNC, "%s: the file shrank while it was read", p);
        goto done;
    }
    size_t got = (size_t)r;
    buf[got] = 0;
    *out = buf;
    *n = got;
    __atomic_add_fetch(&s->bytes_in, got, __ATOMIC_RELAXED);
done:
    if (fd >= 0)
        close(fd);
    kiln_free(p);
    return rc;
}

static int local_get(kiln_store *s, const char *key, int64_t off, int64_t len, size_t cap, char **out, size_t *n,
                     kiln_err *err)
{
    return local_get_ex(s, key, off, len, cap, NULL, NULL, out, n, err);
}

static int local_get_range(kiln_store *s, const char *key, int64_t off, int64_t len, const char *if_match, char **out,
                           size_t *n, kiln_store_info *info, kiln_err *err)
{
    return local_get_ex(s, key, off, len, 0, if_match, info, out, n, err);
}

/* read in 256 KiB pieces into fn */
static int local_get_stream(kiln_store *s, const char *key, kiln_store_stream_fn fn, void *ctx, kiln_store_info *info,
                            kiln_err *err)
{
    char *p = lpath(s, key);
    if (!p)
        return KILN_OOM(err);
    int rc = 0, fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) || (fd >= 0 && !S_ISREG(st.st_mode))
                 ? kiln_err_set(err, KILN_ENOTFOUND, "%s: no such object", key)
                 : kiln_err_set(err, KILN_EIO, "%s: %s", p, strerror(errno));
        goto done;
    }
    if (info)
        head_fill(info, &st);
    if (!(buf = kiln_malloc(256 << 10))) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (;;) {
        ssize_t r = kiln_fd_read(fd, buf, 256 << 10);
        if (r < 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: read failed: %s", p, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        __atomic_add_fetch(&s->bytes_in, (uint64_t)r, __ATOMIC_RELAXED);
        if ((rc = fn(ctx, buf, (size_t)r, err)))
            break;
    }
done:
    kiln_free(buf);
    if (fd >= 0)
        close(fd);
    kiln_free(p);
    return rc;
}

/* copy src to a new file dst (O_EXCL when excl), fsync'd */
static int copy_file(const char *src, const char *dst, int excl, uint64_t *bytes, kiln_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: %s", src, strerror(errno));
    int o = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC | (excl ? O_EXCL : O_TRUNC), 0644);
    if (o < 0) {
        int e = errno;
        close(in);
        return kiln_err_set(err, e == EEXIST ? KILN_EEXIST : KILN_EIO, "%s: cannot create: %s", dst, strerror(e));
    }
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t r = kiln_fd_read(in, buf, sizeof buf);
        if (r < 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: read failed: %s", src, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        if (kiln_fd_write_all(o, buf, (size_t)r) != 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: write failed: %s", dst, strerror(errno));
            break;
        }
        if (bytes)
            *bytes += (uint64_t)r;
    }
    if (!rc && fsync(o) != 0)
        rc = kiln_err_set(err, KILN_EIO, "%s: fsync failed: %s", dst, strerror(errno));
    if (close(o) != 0 && !rc)
        rc = kiln_err_set(err, KILN_EIO, "%s: close failed: %s", dst, strerror(errno));
    close(in);
    if (rc)
        unlink(dst);
    return rc;
}

static char *temp_beside(const char *path)
{
    char rnd[9];
    snprintf(rnd, sizeof rnd, "%08x", (unsigned)(kiln_now_micros() ^ (uint64_t)getpid() << 16 ^ (uint64_t)rand()));
    const char *slash = strrchr(path, '/');
    return kiln_sprintf("%.*s.tmp-%s-%s", (int)(slash ? slash - path + 1 : 0), path, rnd, slash ? slash + 1 : path);
}

static int local_get_file(kiln_store *s, const char *key, const char *path, kiln_err *err)
{
    char *p = lpath(s, key);
    if (!p)
        return KILN_OOM(err);
    uint64_t bytes = 0;
    unlink(path);
    int rc = copy_file(p, path, 0, &bytes, err);
    if (rc == KILN_ENOTFOUND)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no such object", key);
    __atomic_add_fetch(&s->bytes_in, bytes, __ATOMIC_RELAXED);
    kiln_free(p);
    return rc;
}

static int local_put(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err)
{
    char *p = lpath(s, key);
    if (!p)
        return KILN_OOM(err);
    int rc = parent_dirs(p, err);
    if (!rc)
        rc = kiln_file_write_atomic(p, data, n, err);
    if (!rc)
        __atomic_add_fetch(&s->bytes_out, n, __ATOMIC_RELAXED);
    kiln_free(p);
    return rc;
}

static int local_put_file(kiln_store *s, const char *key, const char *path, kiln_err *err)
{
    char *p = lpath(s, key), *tmp = p ? temp_beside(p) : NULL;
    int rc = 0;
    uint64_t bytes = 0;
    if (!p || !tmp)
        rc = KILN_OOM(err);
    else if (!(rc = parent_dirs(p, err)) && !(rc = copy_file(path, tmp, 1, &bytes, err))) {
        if (rename(tmp, p) != 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: cannot rename into place: %s", p, strerror(errno));
            unlink(tmp);
        }
    }
    __atomic_add_fetch(&s->bytes_out, bytes, __ATOMIC_RELAXED);
    kiln_free(p);
    kiln_free(tmp);
    return rc;
}

static int write_all_new(const char *path, const void *data, size_t n, kiln_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return kiln_err_set(err, errno == EEXIST ? KILN_EEXIST : KILN_EIO, "%s: cannot create: %s", path,
                            strerror(errno));
    int rc = 0;
    if (kiln_fd_write_all(fd, data, n) != 0)
        rc = kiln_err_set(err, KILN_EIO, "%s: write failed: %s", path, strerror(errno));
    if (!rc && fsync(fd) != 0)
        rc = kiln_err_set(err, KILN_EIO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = kiln_err_set(err, KILN_EIO, "%s: close failed: %s", path, strerror(errno));
    if (rc)
        unlink(path);
    return rc;
}

static int local_create(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err)
{
    char *p = lpath(s, key), *tmp = p ? temp_beside(p) : NULL;
    int rc = 0;
    if (!p || !tmp)
        rc = KILN_OOM(err);
    else if (!(rc = parent_dirs(p, err)) && !(rc = write_all_new(tmp, data, n, err))) {
        if (link(tmp, p) != 0)
            rc = errno == EEXIST ? kiln_err_set(err, KILN_EEXIST, "%s: object already exists", key)
                                 : kiln_err_set(err, KILN_EIO, "%s: cannot link: %s", p, strerror(errno));
        unlink(tmp);
        if (!rc) {
            __atomic_add_fetch(&s->bytes_out, n, __ATOMIC_RELAXED);
            char *slash = strrchr(p, '/');
            *slash = 0;
            int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                (void)fsync(dfd);
                close(dfd);
            }
        }
    }
    kiln_free(p);
    kiln_free(tmp);
    return rc;
}

static void head_fill(kiln_store_info *out, const struct stat *st)
{
    out->size = st->st_size;
    out->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    snprintf(out->etag, sizeof out->etag, "%llx-%llx",
             (unsigned long long)((uint64_t)st->st_mtim.tv_sec * 1000000000ull + (uint64_t)st->st_mtim.tv_nsec),
             (unsigned long long)st->st_size);
}

static int local_head(kiln_store *s, const char *key, kiln_store_info *out, kiln_err *err)
{
    char *p = lpath(s, key);
    if (!p)
        return KILN_OOM(err);
    struct stat st;
    int rc = 0;
    if (stat(p, &st) != 0)
        rc = errno == ENOENT || errno == ENOTDIR ? kiln_err_set(err, KILN_ENOTFOUND, "%s: no such object", key)
                                                 : kiln_err_set(err, KILN_EIO, "%s: %s", p, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no such object (a directory)", key);
    else
        head_fill(out, &st);
    kiln_free(p);
    return rc;
}

static int local_del(kiln_store *s, const char *key, kiln_err *err)
{
    char *p = lpath(s, key);
    if (!p)
        return KILN_OOM(err);
    int rc = 0;
    if (unlink(p) != 0 && errno != ENOENT && errno != ENOTDIR)
        rc = kiln_err_set(err, KILN_EIO, "%s: cannot delete: %s", p, strerror(errno));
    kiln_free(p);
    return rc;
}

typedef struct lent {
    char *key;
    int is_prefix;
    struct stat st;
} lent;

typedef KILN_VEC(lent) lent_vec;

/* collect keys under ROOT/dir (dir "" or ending in '/') matching prefix */
static int walk(const char *root, const char *dir, const char *prefix, int delim, lent_vec *v, kiln_err *err)
{
    char *full = kiln_sprintf("%s/%s", root, dir);
    if (!full)
        return KILN_OOM(err);
    DIR *d = opendir(full);
    kiln_free(full);
    if (!d)
        return 0;
    struct dirent *de;
    int rc = 0;
    size_t pl = strlen(prefix);
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
            continue;
        if (!strncmp(de->d_name, ".tmp-", 5))
            continue; /* an unfinished put */
        char *key = kiln_sprintf("%s%s", dir, de->d_name);
        char *p = key ? kiln_sprintf("%s/%s", root, key) : NULL;
        struct stat st;
        if (!key || !p) {
            kiln_free(key);
            kiln_free(p);
            rc = KILN_OOM(err);
            break;
        }
        int ok = lstat(p, &st) == 0;
        kiln_free(p);
        size_t kl = strlen(key);
        if (ok && S_ISDIR(st.st_mode)) {
            char *sub = kiln_sprintf("%s/", key);
            kiln_free(key);
            if (!sub) {
                rc = KILN_OOM(err);
                break;
            }
            size_t sl = kl + 1;
            /* descend only where keys can still match the prefix */
            if (strncmp(sub, prefix, sl < pl ? sl : pl) != 0) {
                kiln_free(sub);
                continue;
            }
            if (delim && sl > pl) {
                lent e = {sub, 1, st};
                if ((rc = kiln_vec_push(v, e, err)))
                    kiln_free(sub);
            } else {
                rc = walk(root, sub, prefix, delim, v, err);
                kiln_free(sub);
            }
        } else if (ok && S_ISREG(st.st_mode) && kl >= pl && !strncmp(key, prefix, pl)) {
            lent e = {key, 0, st};
            if ((rc = kiln_vec_push(v, e, err)))
                kiln_free(key);
        } else {
            kiln_free(key);
        }
    }
    closedir(d);
    return rc;
}

static int lent_cmp(const void *a, const void *b) { return strcmp(((const lent *)a)->key, ((const lent *)b)->key); }

static int local_list_page(kiln_store *s, const char *prefix, const char *delim, const char *token, int max_keys,
                           kiln_store_list_fn fn, void *ctx, char **next, kiln_err *err)
{
    local *l = s->impl;
    const char *slash = strrchr(prefix, '/');
    char *dir = kiln_strndup(prefix, slash ? (size_t)(slash - prefix + 1) : 0);
    lent_vec v = {0};
    if (!dir)
        return KILN_OOM(err);
    int rc = walk(l->root, dir, prefix, delim != NULL, &v, err);
    kiln_free(dir);
    if (!rc)
        kiln_sort(v.items, v.len, sizeof *v.items, lent_cmp);
    int emitted = 0;
    for (size_t i = 0; i < v.len && !rc; i++) {
        if (token && strcmp(v.items[i].key, token) <= 0)
            continue;
        if (emitted == max_keys) {
            if (!(*next = kiln_strdup(v.items[i - 1].key)))
                rc = KILN_OOM(err);
            break;
        }
        kiln_store_info h;
        memset(&h, 0, sizeof h);
        if (!v.items[i].is_prefix)
            head_fill(&h, &v.items[i].st);
        kiln_store_entry e = {v.items[i].key, v.items[i].is_prefix, h.size, h.mtime_ms, h.etag};
        rc = fn(ctx, &e);
        emitted++;
    }
    for (size_t i = 0; i < v.len; i++)
        kiln_free(v.items[i].key);
    kiln_vec_free(&v);
    return rc;
}

static void local_free(kiln_store *s)
{
    local *l = s->impl;
    kiln_free(l->root);
    kiln_free(l);
    kiln_free(s);
}

static const kiln_store_ops LOCAL_OPS = {
    "local",    local_get, local_get_file,  local_put,  local_put_file,   local_create,
    local_head, local_del, local_list_page, local_free, local_get_stream, local_get_range,
};

int kiln_store__open_local(kiln_store **out, const char *dir, kiln_err *err)
{
    kiln_store *s = kiln_calloc(1, sizeof *s);
    local *l = kiln_calloc(1, sizeof *l);
    char *root = kiln_strdup(dir);
    if (!s || !l || !root) {
        kiln_free(s);
        kiln_free(l);
        kiln_free(root);
        return KILN_OOM(err);
    }
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        root[--n] = 0;
    l->root = root;
    s->ops = &LOCAL_OPS;
    s->impl = l;
    *out = s;
    return 0;
}
