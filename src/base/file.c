/*
 * file.c - whole-file reads with a cap, atomic writes (temp + fsync +
 * rename), mkdir -p, rm -rf of our own trees, and path-component checks
 * that keep names from escaping a root.
 */
#include "base.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kiln_file_read(const char *path, size_t cap, char **out, size_t *len, kiln_err *err)
{
    *out = NULL;
    *len = 0;
    int rc = 0;
    char *data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (cap && (uint64_t)st.st_size > cap) {
        rc = kiln_err_set(err, KILN_ELIMIT, "%s: %lld bytes is over the %zu-byte limit", path, (long long)st.st_size,
                          cap);
        goto done;
    }
    size_t n = (size_t)st.st_size, got = 0;
    data = kiln_malloc(n + 1);
    if (!data) {
        rc = kiln_err_set(err, KILN_ENOMEM, "%s: out of memory reading %zu bytes", path, n);
        goto done;
    }
    ssize_t r = kiln_fd_pread_full(fd, data, n, 0);
    if (r < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: read: %s", path, strerror(errno));
        goto done;
    }
    got = (size_t)r;
    data[got] = '\0';
    *out = data;
    *len = got;
    data = NULL;
done:
    kiln_free(data);
    close(fd);
    return rc;
}

ssize_t kiln_fd_read(int fd, void *buf, size_t n)
{
    ssize_t r;
    while ((r = read(fd, buf, n)) < 0 && errno == EINTR)
        ;
    return r;
}

ssize_t kiln_fd_pread_full(int fd, void *buf, size_t n, int64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int kiln_fd_write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int kiln_file_write_atomic(const char *path, const void *data, size_t n, kiln_err *err)
{
    int rc = 0;
    /* pid and a per-process sequence, so that two threads writing
     * the same path (a table's version-hint.text) never share a temp file */
    static unsigned seq;
    char *tmp = kiln_sprintf("%s.tmp.%d.%u", path, (int)getpid(), __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    if (!tmp)
        return KILN_OOM(err);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", tmp, strerror(errno));
        goto done;
    }
    if (kiln_fd_write_all(fd, data, n) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: write: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto done;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: fsync/close: %s", tmp, strerror(errno));
        unlink(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "rename %s -> %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
    }
done:
    kiln_free(tmp);
    return rc;
}

int kiln_mkdirs(const char *path, kiln_err *err)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return kiln_err_set(err, KILN_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return kiln_err_set(err, KILN_EIO, "mkdir %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}

int kiln_rmtree(const char *path, kiln_err *err)
{
    if (!path[0] || strcmp(path, "/") == 0)
        return kiln_err_set(err, KILN_EINVAL, "refusing to remove '%s'", path);
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0)
            return kiln_err_set(err, KILN_EIO, "unlink %s: %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *child = kiln_sprintf("%s/%s", path, e->d_name);
        if (!child) {
            rc = KILN_OOM(err);
            break;
        }
        rc = kiln_rmtree(child, err);
        kiln_free(child);
    }
    closedir(d);
    if (rc == 0 && rmdir(path) != 0)
        rc = kiln_err_set(err, KILN_EIO, "rmdir %s: %s", path, strerror(errno));
    return rc;
}

int kiln_path_component_ok(const char *name, size_t n)
{
    if (n == 0 || n > 255)
        return 0;
    if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == '\\' || c == 0 || c < 0x20)
            return 0;
    }
    return 1;
}
