/*
 * gh_rawzone.c - the gh-events job's input from an object store: --in
 * s3://bucket/prefix, or a raw zone written by `kiln ingest gharchive`
 * (IN/gharchive/date=D/hour=H/D-H.json.gz, local or on S3).
 *
 * Every key below IN whose last segment is an hour file name (within the
 * job's date range, if any) is an input; two keys naming the same hour file
 * are refused (which one would be the data?).
 *
 * A local raw zone is read in place: its hour files are symlinked into a
 * temporary folder of the shape the job reads (no copy), removed after the
 * run. On S3 nothing is staged: the keys are listed once (names, sizes,
 * ETags: a day's fingerprint is built from these, not from the bytes), and
 * each hour is streamed while it is read: a thread runs the store's
 * streaming GET (kiln_store_get_stream: a dropped or stalled connection
 * resumes with a ranged GET pinned to the ETag) into a pipe, and the job's
 * gzip reader reads the other end (/dev/fd/N: its read() path, as for any
 * FIFO). Memory per hour in flight: the pipe and the store's buffers; disk:
 * none. A reader that stops early closes its end; the writer then fails
 * with EPIPE (SIGPIPE is blocked in the writing thread) and stops the
 * download.
 */
#include "engine/gh_events.h"
#include "engine/gh_int.h"
#include "format/gzip/gzip_read.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct stage_ctx {
    const kiln_gh_opts *o;
    KILN_VEC(char *) keys;
    KILN_VEC(int64_t) sizes;
    KILN_VEC(char *) etags;
    kiln_err *err;
} stage_ctx;

static int stage_cb(void *ctx, const kiln_store_entry *e)
{
    stage_ctx *c = ctx;
    const char *slash = strrchr(e->key, '/');
    const char *base = slash ? slash + 1 : e->key;
    int64_t day;
    int hour;
    if (e->is_prefix || kiln_gh_hour_name_parse(base, &day, &hour) != 0)
        return 0;
    if (c->o->has_range && (day < c->o->start_day || day > c->o->end_day))
        return 0;
    char *k = kiln_strdup(e->key);
    if (!k || kiln_vec_push(&c->keys, k, c->err)) {
        kiln_free(k);
        return KILN_OOM(c->err);
    }
    char *et = kiln_strdup(e->etag ? e->etag : "");
    if (!et || kiln_vec_push(&c->etags, et, c->err)) {
        kiln_free(et);
        return KILN_OOM(c->err);
    }
    return kiln_vec_push(&c->sizes, e->size, c->err);
}

static void stage_free(stage_ctx *c)
{
    for (size_t i = 0; i < c->keys.len; i++)
        kiln_free(c->keys.items[i]);
    for (size_t i = 0; i < c->etags.len; i++)
        kiln_free(c->etags.items[i]);
    kiln_vec_free(&c->keys);
    kiln_vec_free(&c->etags);
    kiln_vec_free(&c->sizes);
}

static const char *base_of(const char *k)
{
    const char *s = strrchr(k, '/');
    return s ? s + 1 : k;
}

static int base_cmp(const void *a, const void *b)
{
    return strcmp(base_of(*(char *const *)a), base_of(*(char *const *)b));
}

/* two keys, one hour file: refuse */
static int check_twice(const char *in, char **keys, size_t n, kiln_err *err)
{
    for (size_t i = 1; i < n; i++)
        if (!strcmp(base_of(keys[i - 1]), base_of(keys[i])))
            return kiln_err_set(err, KILN_EINVAL, "--in %s: the hour file %s is there twice (%s and %s)", in,
                                base_of(keys[i]), keys[i - 1], keys[i]);
    return 0;
}

int kiln_gh__rawzone_stage(const kiln_gh_opts *o, char **staged, kiln_err *err)
{
    *staged = NULL;
    const char *in = o->in_dir;
    if (strncasecmp(in, "s3://", 5) == 0)
        return 0; /* streamed: kiln_gh__remote_open */
    char *g = kiln_sprintf("%s/gharchive", in);
    struct stat st;
    int raw = g && stat(g, &st) == 0 && S_ISDIR(st.st_mode);
    kiln_free(g);
    if (!raw)
        return 0; /* a plain folder of hour files: read as it is */
    kiln_store *s = NULL;
    stage_ctx c = {o, {0}, {0}, {0}, err};
    char *dir = NULL;
    int rc = kiln_store_open(&s, in, NULL, err);
    if (rc)
        goto done;
    if ((rc = kiln_store_list(s, "gharchive/", NULL, stage_cb, &c, err)))
        goto done;
    kiln_sort(c.keys.items, c.keys.len, sizeof(char *), base_cmp);
    if ((rc = check_twice(in, c.keys.items, c.keys.len, err)))
        goto done;
    const char *tmp = getenv("TMPDIR");
    dir = kiln_sprintf("%s/kiln-in-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!dir) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (!mkdtemp(dir)) {
        rc = kiln_err_set(err, KILN_EIO, "cannot create a staging folder for --in %s: %s", in, strerror(errno));
        kiln_free(dir);
        dir = NULL;
        goto done;
    }
    char real[PATH_MAX];
    if (!realpath(in, real)) {
        rc = kiln_err_set(err, KILN_EIO, "--in %s: %s", in, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < c.keys.len && !rc; i++) {
        const char *k = c.keys.items[i], *slash = strrchr(k, '/');
        char *dst = kiln_sprintf("%s/%s", dir, slash ? slash + 1 : k);
        char *src = kiln_sprintf("%s/%s", real, k);
        if (!dst || !src)
            rc = KILN_OOM(err);
        else if (symlink(src, dst) != 0)
            rc = kiln_err_set(err, KILN_EIO, "%s: cannot link: %s", dst, strerror(errno));
        kiln_free(dst);
        kiln_free(src);
    }
    if (!rc) {
        kiln_info("--in %s: %zu hour file(s) linked in %s", in, c.keys.len, dir);
        *staged = dir;
        dir = NULL;
    }
done:
    if (dir) {
        (void)kiln_rmtree(dir, NULL);
        kiln_free(dir);
    }
    stage_free(&c);
    kiln_store_free(s);
    return rc;
}

/* ------------------------------------------------------------ S3: streamed */

typedef struct rfile {
    char *name, *key, *etag;
    int64_t size;
} rfile;

struct kiln_gh__remote {
    kiln_store *store;
    const char *in;
    rfile *files;
    size_t n;
};

static int rfile_cmp(const void *a, const void *b)
{
    return strcmp(((const rfile *)a)->name, ((const rfile *)b)->name);
}

int kiln_gh__remote_open(const kiln_gh_opts *o, kiln_gh__remote **out, kiln_err *err)
{
    *out = NULL;
    if (strncasecmp(o->in_dir, "s3://", 5) != 0)
        return 0;
    kiln_gh__remote *r = kiln_calloc(1, sizeof *r);
    stage_ctx c = {o, {0}, {0}, {0}, err};
    int rc = r ? kiln_store_open(&r->store, o->in_dir, NULL, err) : KILN_OOM(err);
    if (!rc)
        rc = kiln_store_list(r->store, "", NULL, stage_cb, &c, err);
    if (!rc && c.keys.len && !(r->files = kiln_calloc(c.keys.len, sizeof *r->files)))
        rc = KILN_OOM(err);
    for (size_t i = 0; !rc && i < c.keys.len; i++) {
        rfile *f = &r->files[r->n++];
        f->key = c.keys.items[i];
        f->etag = c.etags.items[i];
        f->size = c.sizes.items[i];
        c.keys.items[i] = c.etags.items[i] = NULL;
        if (!(f->name = kiln_strdup(base_of(f->key))))
            rc = KILN_OOM(err);
    }
    stage_free(&c);
    if (!rc && r->n) {
        kiln_sort(r->files, r->n, sizeof *r->files, rfile_cmp);
        for (size_t i = 1; i < r->n && !rc; i++)
            if (!strcmp(r->files[i - 1].name, r->files[i].name))
                rc = kiln_err_set(err, KILN_EINVAL, "--in %s: the hour file %s is there twice (%s and %s)", o->in_dir,
                                  r->files[i].name, r->files[i - 1].key, r->files[i].key);
    }
    if (rc) {
        kiln_gh__remote_free(r);
        return rc;
    }
    r->in = o->in_dir;
    kiln_info("--in %s: %zu hour file(s), streamed while read", o->in_dir, r->n);
    *out = r;
    return 0;
}

void kiln_gh__remote_free(kiln_gh__remote *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        kiln_free(r->files[i].name);
        kiln_free(r->files[i].key);
        kiln_free(r->files[i].etag);
    }
    kiln_free(r->files);
    kiln_store_free(r->store);
    kiln_free(r);
}

size_t kiln_gh__remote_count(const kiln_gh__remote *r) { return r->n; }

const char *kiln_gh__remote_name(const kiln_gh__remote *r, size_t i, int64_t *size, const char **etag)
{
    if (size)
        *size = r->files[i].size;
    if (etag)
        *etag = r->files[i].etag;
    return r->files[i].name;
}

long kiln_gh__remote_find(const kiln_gh__remote *r, const char *name)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->files[mid].name, name);
        if (!c)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

struct kiln_gh__rstream {
    kiln_gh__remote *r;
    const rfile *f;
    int wfd;
    pthread_t th;
    int started;
    int epipe; /* the reader had stopped */
    int rc;
    kiln_err err;
};

static int pipe_write(void *ctx, const char *p, size_t n, kiln_err *err)
{
    kiln_gh__rstream *st = ctx;
    while (n) {
        ssize_t w = write(st->wfd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            st->epipe = errno == EPIPE;
            return kiln_err_set(err, KILN_EIO, "%s/%s: %s", st->r->in, st->f->key,
                                st->epipe ? "the reader stopped" : strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *pump(void *arg)
{
    kiln_gh__rstream *st = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* EPIPE instead; a pending SIGPIPE dies with the thread */
    st->rc = kiln_store_get_stream(st->r->store, st->f->key, pipe_write, st, NULL, &st->err);
    close(st->wfd);
    st->wfd = -1;
    return NULL;
}

int kiln_gh__remote_stream(kiln_gh__remote *r, const char *name, kiln_gz_reader **gz, kiln_gh__rstream **out,
                           kiln_err *err)
{
    *gz = NULL;
    *out = NULL;
    long i = kiln_gh__remote_find(r, name);
    if (i < 0)
        return kiln_err_set(err, KILN_ENOTFOUND, "--in %s: no hour file %s", r->in, name);
    kiln_gh__rstream *st = kiln_calloc(1, sizeof *st);
    if (!st)
        return KILN_OOM(err);
    st->r = r;
    st->f = &r->files[i];
    st->wfd = -1;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        kiln_free(st);
        return kiln_err_set(err, KILN_EIO, "--in %s: cannot create a pipe: %s", r->in, strerror(errno));
    }
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; the default 64 KiB works too */
    st->wfd = fds[1];
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fds[0]);
    int rc = pthread_create(&st->th, NULL, pump, st);
    if (rc) {
        close(fds[0]);
        close(fds[1]);
        kiln_free(st);
        return kiln_err_set(err, KILN_EIO, "--in %s: cannot start a download thread: %s", r->in, strerror(rc));
    }
    st->started = 1;
    rc = kiln_gz_reader_open(gz, path, err);
    close(fds[0]); /* the reader has its own descriptor of the pipe */
    if (rc) {
        kiln_err_prefix(err, "%s: ", st->f->key);
        (void)kiln_gh__remote_close(st, gz, rc, NULL);
        return rc;
    }
    *out = st;
    return 0;
}

int kiln_gh__remote_close(kiln_gh__rstream *st, kiln_gz_reader **gz, int rc, kiln_err *err)
{
    kiln_gz_reader_free(*gz); /* the writer now fails with EPIPE if it is still sending */
    *gz = NULL;
    if (!st)
        return rc;
    if (st->started)
        pthread_join(st->th, NULL);
    if (st->rc && !st->epipe && err) {
        /* the download failed: the reader only saw the stream end early */
        kiln_err_set(err, st->rc, "%s", st->err.msg);
        rc = st->rc;
    } else if (st->rc && !st->epipe && !rc) {
        rc = st->rc;
    }
    kiln_free(st);
    return rc;
}
