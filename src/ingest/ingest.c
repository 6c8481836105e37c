/*
 * ingest.c - GH Archive hour files into the raw zone (see ingest.h).
 *
 * DESIGN
 * - One task per hour on a thread pool. A task: if the raw object is there,
 *   re-check it against the source (If-None-Match with the landed etag);
 *   else download into PARTIAL/YYYY-MM-DD-H.json.gz.part (with the source's
 *   etag beside it in .etag), resuming with Range + If-Range when a part is
 *   there, check the gzip stream end to end, hash it, and create the object
 *   (conditional create: never overwrites), then drop the part.
 * - Retried with exponential backoff and jitter: connection failures,
 *   truncated bodies (resumed from what arrived), 5xx, 429, a body that is
 *   not a whole gzip stream (downloaded again from scratch).
 * - After the tasks, each day's manifest (date=D/_manifest.json) is
 *   rewritten from the old one and this run's results, keeping landed_at of
 *   objects that were already there, so a re-run that changes nothing
 *   writes the same manifest.
 */
#include "ingest/ingest.h"
#include "net/http.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define LAND_IN_MEMORY_MAX ((int64_t)256 << 20)

void kiln_ingest_gha_opts_init(kiln_ingest_gha_opts *o)
{
    memset(o, 0, sizeof *o);
    o->base_url = "https://data.gharchive.org";
    o->hour_lo = 0;
    o->hour_hi = 23;
    o->parallel = 4;
    o->max_attempts = 5;
    o->retry_base_ms = 500;
    o->timeout_ms = 600000;
}

const char *kiln_ingest_status_name(kiln_ingest_status s)
{
    static const char *const n[] = {"landed", "unchanged", "kept", "changed", "missing", "failed"};
    return (unsigned)s < 6 ? n[s] : "?";
}

void kiln_ingest_report_free(kiln_ingest_report *rep)
{
    kiln_free(rep->hours);
    memset(rep, 0, sizeof *rep);
}

/* ------------------------------------------------------------ helpers */

static void day_str(int64_t day, char out[11]) { kiln_date_format(day, out); }

/* Is the file one or more whole gzip members? */
static int gz_check(const char *path, kiln_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        close(fd);
        return kiln_err_set(err, KILN_ENOMEM, "zlib init failed");
    }
    static __thread unsigned char in[1 << 16], out[1 << 16];
    int rc = 0, at_end = 1, any = 0;
    for (;;) {
        ssize_t n = kiln_fd_read(fd, in, sizeof in);
        if (n < 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        any = 1;
        z.next_in = in;
        z.avail_in = (uInt)n;
        while (z.avail_in > 0) {
            z.next_out = out;
            z.avail_out = sizeof out;
            int zr = inflate(&z, Z_NO_FLUSH);
            at_end = 0;
            if (zr == Z_STREAM_END) {
                at_end = 1;
                if (inflateReset(&z) != Z_OK) {
                    rc = kiln_err_set(err, KILN_EFORMAT, "gzip: reset failed");
                    break;
                }
            } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
                rc = kiln_err_set(err, KILN_EFORMAT, "not a valid gzip stream (%s at input byte %lu)",
                                  z.msg ? z.msg : "error", (unsigned long)z.total_in);
                break;
            } else if (zr == Z_BUF_ERROR && z.avail_in > 0 && z.avail_out > 0) {
                rc = kiln_err_set(err, KILN_EFORMAT, "not a valid gzip stream");
                break;
            }
        }
        if (rc)
            break;
    }
    inflateEnd(&z);
    close(fd);
    if (!rc && !any)
        rc = kiln_err_set(err, KILN_ETRUNC, "empty body");
    else if (!rc && !at_end)
        rc = kiln_err_set(err, KILN_ETRUNC, "truncated gzip stream (ends inside a member)");
    return rc;
}

static int file_sha256(const char *path, char out[65], int64_t *size, kiln_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    kiln_sha256 s;
    kiln_sha256_init(&s);
    static __thread char buf[1 << 16];
    int64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = kiln_fd_read(fd, buf, sizeof buf);
        if (n < 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        kiln_sha256_update(&s, buf, (size_t)n);
        total += n;
    }
    close(fd);
    uint8_t d[32];
    kiln_sha256_final(&s, d);
    kiln_hex(d, 32, out);
    *size = total;
    return rc;
}

static void backoff(const kiln_ingest_gha_opts *o, int attempt)
{
    kiln_http_sleep_ms(kiln_http_backoff_ms(attempt, o->retry_base_ms, 30000));
}

/* ------------------------------------------------------------ HTTP */

typedef struct dl {
    int fd;                /* body goes here (2xx only) */
    int append;            /* a range was asked: 206 (or file://) appends */
    int started;           /* first body byte seen */
    const char *etag_path; /* where to note the etag at the first byte (NULL: no) */
    int write_failed;
} dl;

static int dl_write(void *ctx, const kiln_http_resp *r, const char *p, size_t n, kiln_err *err)
{
    dl *d = ctx;
    if (!d->started) {
        d->started = 1;
        int keep = d->append && (r->status == 206 || r->status == 0);
        if (!keep) {
            if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
                d->write_failed = 1;
                return kiln_err_set(err, KILN_EIO, "truncate: %s", strerror(errno));
            }
        } else {
            lseek(d->fd, 0, SEEK_END);
        }
        char etag[128];
        kiln_http_etag(r, etag, sizeof etag, 0);
        if (d->etag_path && etag[0])
            (void)kiln_file_write_atomic(d->etag_path, etag, strlen(etag), NULL);
    }
    if (kiln_fd_write_all(d->fd, p, n) != 0) {
        d->write_failed = 1;
        return kiln_err_set(err, KILN_EIO, "write: %s", strerror(errno));
    }
    return 0;
}

typedef struct http_res {
    int transport; /* KILN_HTTP_E* */
    long code;
    char etag[128];
    uint64_t bytes;
    int write_failed;
    char error[256];
} http_res;

/* GET url into fd, one attempt (the hour's loop retries: a retry resumes
 * from what arrived). range_from > 0: resume (Range, If-Range: if_range).
 * if_none_match: conditional GET. */
static void http_get(kiln_http *http, const char *url, int fd, int64_t range_from, const char *if_range,
                     const char *if_none_match, const char *etag_path, http_res *res)
{
    memset(res, 0, sizeof *res);
    dl d = {fd, range_from > 0, 0, etag_path, 0};
    const char *hv[2];
    size_t nh = 0;
    char b1[300], b2[300];
    kiln_http_req q;
    kiln_http_req_init(&q, "GET", url);
    if (range_from > 0) {
        q.range_from = range_from;
        if (if_range && *if_range) {
            snprintf(b1, sizeof b1, "If-Range: %s", if_range);
            hv[nh++] = b1;
        }
    }
    if (if_none_match && *if_none_match) {
        snprintf(b2, sizeof b2, "If-None-Match: %s", if_none_match);
        hv[nh++] = b2;
    }
    q.headers = hv;
    q.nheaders = nh;
    q.sink = dl_write;
    q.sink_ctx = &d;
    q.max_attempts = 1;
    kiln_http_resp r;
    kiln_http_resp_init(&r);
    kiln_err e = {0};
    int rc = kiln_http_do(http, &q, &r, &e);
    res->transport = r.transport;
    res->code = r.status;
    kiln_http_etag(&r, res->etag, sizeof res->etag, 0);
    res->bytes = r.bytes_in;
    res->write_failed = d.write_failed;
    if (rc && !r.transport && !d.write_failed)
        res->transport = KILN_HTTP_EOTHER;
    snprintf(res->error, sizeof res->error, "%s", r.error[0] ? r.error : e.msg);
    kiln_http_resp_free(&r);
}

static int retryable(const http_res *r)
{
    if (r->transport == KILN_HTTP_OK)
        return kiln_http_status_retryable(r->code);
    return r->transport != KILN_HTTP_EOTHER && r->transport != KILN_HTTP_ENOFILE;
}

/* ------------------------------------------------------------ one hour */

typedef struct prior {
    int have;
    char sha256[65], etag[128], landed_at[40];
    int64_t size;
} prior;

typedef struct job {
    const kiln_ingest_gha_opts *o;
    kiln_http *http;
    kiln_store *store;
    const char *partial_dir;
    kiln_ingest_hour *h;
    prior pr;
    uint64_t *bytes;
    pthread_mutex_t *mu;
} job;

static void hour_fail(kiln_ingest_hour *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void hour_fail(kiln_ingest_hour *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->msg, sizeof h->msg, fmt, ap);
    va_end(ap);
    h->status = KILN_INGEST_FAILED;
}

static void describe(const http_res *r, char *out, size_t n)
{
    if (r->transport != KILN_HTTP_OK)
        snprintf(out, n, "%s", r->error);
    else
        snprintf(out, n, "HTTP %ld", r->code);
}

/* Already landed: ask the source whether it still serves these bytes. */
static void recheck(job *j, const char *url, const char *key)
{
    kiln_ingest_hour *h = j->h;
    kiln_err e = {0};
    kiln_store_info info;
    h->status = KILN_INGEST_KEPT;
    if (kiln_store_head(j->store, key, &info, &e) == 0)
        h->size = info.size;
    if (j->pr.have) {
        memcpy(h->sha256, j->pr.sha256, sizeof h->sha256);
        memcpy(h->etag, j->pr.etag, sizeof h->etag);
    } else {
        /* landed but not in the manifest: hash what is there */
        char *data = NULL;
        size_t n = 0;
        if (kiln_store_get(j->store, key, 0, -1, 0, &data, &n, &e) == 0) {
            kiln_sha256_hex(data, n, h->sha256);
            h->size = (int64_t)n;
        }
        kiln_free(data);
        return;
    }
    char *tmp = kiln_sprintf("%s/.recheck-%lld-%d-XXXXXX", j->partial_dir, (long long)h->day, h->hour);
    int fd = tmp ? mkstemp(tmp) : -1;
    if (fd < 0) {
        kiln_free(tmp);
        return;
    }
    for (int attempt = 1; attempt <= j->o->max_attempts; attempt++) {
        http_res r;
        h->attempts = attempt;
        http_get(j->http, url, fd, 0, NULL, h->etag[0] ? h->etag : NULL, NULL, &r);
        pthread_mutex_lock(j->mu);
        *j->bytes += r.bytes;
        pthread_mutex_unlock(j->mu);
        if (r.transport == KILN_HTTP_OK && r.code == 304) {
            h->status = KILN_INGEST_UNCHANGED;
            break;
        }
        if (r.transport == KILN_HTTP_OK && (r.code == 200 || r.code == 0)) {
            char sha[65];
            int64_t size;
            if (file_sha256(tmp, sha, &size, &e) == 0) {
                if (!strcmp(sha, h->sha256)) {
                    h->status = KILN_INGEST_UNCHANGED;
                } else {
                    h->status = KILN_INGEST_CHANGED;
                    snprintf(h->msg, sizeof h->msg,
                             "the source now serves other bytes (sha256 %.12s…, %lld bytes, etag %s); the landed "
                             "object is kept",
                             sha, (long long)size, r.etag[0] ? r.etag : "none");
                }
            }
            break;
        }
        if (!retryable(&r))
            break; /* 404 and the like: the source lost it; ours stays */
        if (attempt < j->o->max_attempts)
            backoff(j->o, attempt);
    }
    close(fd);
    unlink(tmp);
    kiln_free(tmp);
}

static int land(job *j, const char *part, const char *key, kiln_err *err)
{
    int64_t size = j->h->size;
    if (size <= LAND_IN_MEMORY_MAX) {
        char *data = NULL;
        size_t n = 0;
        int rc = kiln_file_read(part, (size_t)LAND_IN_MEMORY_MAX + 1, &data, &n, err);
        if (!rc)
            rc = kiln_store_create(j->store, key, data, n, err);
        kiln_free(data);
        return rc;
    }
    kiln_store_info info;
    int rc = kiln_store_head(j->store, key, &info, NULL);
    if (rc == 0)
        return kiln_err_set(err, KILN_EEXIST, "%s: already landed", key);
    return kiln_store_put_file(j->store, key, part, err);
}

static void run_hour(void *arg, int worker)
{
    job *j = arg;
    (void)worker;
    const kiln_ingest_gha_opts *o = j->o;
    kiln_ingest_hour *h = j->h;
    char d[11];
    day_str(h->day, d);
    char *url = kiln_sprintf("%s/%s-%d.json.gz", o->base_url, d, h->hour);
    char *key = kiln_sprintf("gharchive/date=%s/hour=%d/%s-%d.json.gz", d, h->hour, d, h->hour);
    char *part = kiln_sprintf("%s/%s-%d.json.gz.part", j->partial_dir, d, h->hour);
    char *etag_path = kiln_sprintf("%s/%s-%d.json.gz.etag", j->partial_dir, d, h->hour);
    kiln_err e = {0};
    if (!url || !key || !part || !etag_path) {
        hour_fail(h, "out of memory");
        goto done;
    }
    kiln_store_info info;
    int hr = kiln_store_head(j->store, key, &info, &e);
    if (hr == 0) {
        recheck(j, url, key);
        goto done;
    }
    if (hr != KILN_ENOTFOUND) {
        hour_fail(h, "%s", e.msg);
        goto done;
    }
    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hour_fail(h, "%s: %s", part, strerror(errno));
        goto done;
    }
    char reason[200] = "";
    int ok = 0;
    for (int attempt = 1; attempt <= o->max_attempts; attempt++) {
        h->attempts = attempt;
        struct stat st;
        int64_t have = fstat(fd, &st) == 0 ? (int64_t)st.st_size : 0;
        char *etag = NULL;
        size_t elen = 0;
        if (have > 0 && kiln_file_read(etag_path, 200, &etag, &elen, NULL) != 0)
            etag = NULL;
        if (have > 0 && (!etag || !*etag)) {
            /* bytes of unknown origin (no etag to check them with If-Range):
             * start over rather than resume into another file's bytes */
            if (ftruncate(fd, 0) != 0) {
            }
            have = 0;
        }
        http_res r;
        http_get(j->http, url, fd, have, etag, NULL, etag_path, &r);
        kiln_free(etag);
        pthread_mutex_lock(j->mu);
        *j->bytes += r.bytes;
        pthread_mutex_unlock(j->mu);
        if (r.transport == KILN_HTTP_ENOFILE || (r.transport == KILN_HTTP_OK && (r.code == 404 || r.code == 410))) {
            h->status = KILN_INGEST_MISSING;
            snprintf(h->msg, sizeof h->msg, "%s", r.transport == KILN_HTTP_OK ? "HTTP 404" : "no such file");
            close(fd);
            unlink(part);
            unlink(etag_path);
            goto done;
        }
        if (r.transport == KILN_HTTP_OK && r.code == 416 && have > 0) {
            /* the part is already whole: check it below */
        } else if (r.write_failed) {
            snprintf(reason, sizeof reason, "writing %s failed", part);
            break;
        } else if (r.transport != KILN_HTTP_OK || (r.code != 0 && (r.code < 200 || r.code >= 300))) {
            describe(&r, reason, sizeof reason);
            if (!retryable(&r))
                break;
            kiln_debug("%s: %s; attempt %d of %d", url, reason, attempt, o->max_attempts);
            if (attempt < o->max_attempts)
                backoff(o, attempt);
            continue;
        }
        if (r.etag[0])
            snprintf(h->etag, sizeof h->etag, "%s", r.etag);
        else {
            char *et = NULL;
            size_t n = 0;
            if (kiln_file_read(etag_path, 200, &et, &n, NULL) == 0)
                snprintf(h->etag, sizeof h->etag, "%s", et);
            kiln_free(et);
        }
        /* the whole body arrived: is it a whole gzip stream? */
        if (gz_check(part, &e) != 0) {
            snprintf(reason, sizeof reason, "%s", e.msg);
            kiln_debug("%s: %s; downloading again (attempt %d of %d)", url, reason, attempt, o->max_attempts);
            if (ftruncate(fd, 0) != 0) {
            }
            unlink(etag_path);
            if (attempt < o->max_attempts)
                backoff(o, attempt);
            continue;
        }
        ok = 1;
        break;
    }
    close(fd);
    if (!ok) {
        hour_fail(h, "%s: %s (after %d attempt%s)", url, reason[0] ? reason : "failed", h->attempts,
                  h->attempts == 1 ? "" : "s");
        goto done;
    }
    if (file_sha256(part, h->sha256, &h->size, &e) != 0) {
        hour_fail(h, "%s", e.msg);
        goto done;
    }
    int lr = land(j, part, key, &e);
    if (lr == KILN_EEXIST) {
        h->status = KILN_INGEST_KEPT; /* another run landed it meanwhile */
    } else if (lr) {
        hour_fail(h, "%s", e.msg);
        goto done;
    } else {
        h->status = KILN_INGEST_LANDED;
    }
    unlink(part);
    unlink(etag_path);
done:
    kiln_free(url);
    kiln_free(key);
    kiln_free(part);
    kiln_free(etag_path);
}

/* ------------------------------------------------------------ manifests */

static char *manifest_key(int64_t day)
{
    char d[11];
    day_str(day, d);
    return kiln_sprintf("gharchive/date=%s/_manifest.json", d);
}

/* the prior manifest of a day: hour -> entry (json_t object, borrowed) */
static json_t *manifest_load(kiln_store *s, int64_t day, kiln_err *err, int *rc)
{
    char *key = manifest_key(day), *data = NULL;
    size_t n = 0;
    *rc = 0;
    if (!key) {
        *rc = KILN_OOM(err);
        return NULL;
    }
    int r = kiln_store_get(s, key, 0, -1, 16 << 20, &data, &n, err);
    json_t *root = NULL;
    if (r == KILN_ENOTFOUND) {
        kiln_err_clear(err);
    } else if (r) {
        *rc = r;
    } else {
        json_error_t je;
        root = json_loadb(data, n, 0, &je);
        if (!root || !json_is_object(root) || !json_is_array(json_object_get(root, "hours"))) {
            *rc = kiln_err_set(err, KILN_EFORMAT, "%s: not a kiln raw-zone manifest (%s)", key,
                               root ? "no hours array" : je.text);
            json_decref(root);
            root = NULL;
        }
    }
    kiln_free(data);
    kiln_free(key);
    return root;
}

static json_t *manifest_hour(json_t *m, int hour)
{
    json_t *hours = m ? json_object_get(m, "hours") : NULL;
    size_t i;
    json_t *e;
    json_array_foreach(hours, i, e)
    {
        if (json_integer_value(json_object_get(e, "hour")) == hour)
            return e;
    }
    return NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int put_str(kiln_buf *b, const char *name, const char *v, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, ",\"%s\":", name);
    return rc ? rc : kiln_json_write_str(b, v, strlen(v), err);
}

static int manifest_write(kiln_store *s, const kiln_ingest_gha_opts *o, int64_t day, json_t *old,
                          const kiln_ingest_hour *hs, size_t nh, kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    char d[11], now[40];
    day_str(day, d);
    kiln_ts_format((kiln_now_micros() / 1000000) * 1000000, now);
    int rc = kiln_buf_printf(&b, err, "{\"date\":\"%s\",\"source\":", d);
    if (!rc)
        rc = kiln_json_write_str(&b, o->base_url, strlen(o->base_url), err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"hours\":[");
    int first = 1;
    for (int hour = 0; hour < 24 && !rc; hour++) {
        const kiln_ingest_hour *h = NULL;
        for (size_t i = 0; i < nh; i++)
            if (hs[i].day == day && hs[i].hour == hour)
                h = &hs[i];
        json_t *pe = manifest_hour(old, hour);
        if (!h && !pe)
            continue;
        rc = kiln_buf_printf(&b, err, "%s\n{\"hour\":%d", first ? "" : ",", hour);
        first = 0;
        if (rc)
            break;
        if (!h || h->status == KILN_INGEST_FAILED) {
            /* not asked this time (or failed): the old entry stands */
            if (pe) {
                const char *st = jstr(pe, "status");
                rc = put_str(&b, "status", st, err);
                if (!rc && !strcmp(st, "landed")) {
                    json_t *sz = json_object_get(pe, "size");
                    rc = put_str(&b, "key", jstr(pe, "key"), err) || put_str(&b, "url", jstr(pe, "url"), err) ||
                         kiln_buf_printf(&b, err, ",\"size\":%lld", (long long)json_integer_value(sz)) ||
                         put_str(&b, "sha256", jstr(pe, "sha256"), err) || put_str(&b, "etag", jstr(pe, "etag"), err) ||
                         put_str(&b, "landed_at", jstr(pe, "landed_at"), err);
                }
            } else {
                rc = put_str(&b, "status", "failed", err);
            }
        } else if (h->status == KILN_INGEST_MISSING) {
            rc = put_str(&b, "status", "missing", err);
        } else {
            char key[128], url[2048];
            snprintf(key, sizeof key, "gharchive/date=%s/hour=%d/%s-%d.json.gz", d, hour, d, hour);
            snprintf(url, sizeof url, "%s/%s-%d.json.gz", o->base_url, d, hour);
            const char *landed_at = h->status == KILN_INGEST_LANDED || !pe ? now : jstr(pe, "landed_at");
            const char *etag = h->etag[0] ? h->etag : pe ? jstr(pe, "etag") : "";
            rc = put_str(&b, "status", "landed", err) || put_str(&b, "key", key, err) || put_str(&b, "url", url, err) ||
                 kiln_buf_printf(&b, err, ",\"size\":%lld", (long long)h->size) ||
                 put_str(&b, "sha256", h->sha256, err) || put_str(&b, "etag", etag, err) ||
                 put_str(&b, "landed_at", landed_at, err);
            if (!rc && h->status == KILN_INGEST_CHANGED)
                rc = put_str(&b, "upstream_changed", h->msg, err);
        }
        if (rc)
            rc = rc < 0 ? rc : KILN_OOM(err);
        if (!rc)
            rc = kiln_buf_putc(&b, '}', err);
    }
    if (!rc)
        rc = kiln_buf_printf(&b, err, "\n]}\n");
    char *key = rc ? NULL : manifest_key(day);
    if (!rc && !key)
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_store_put(s, key, b.data, b.len, err);
    kiln_free(key);
    kiln_buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------ run */

static int mkdir_p(const char *dir, kiln_err *err) { return kiln_mkdirs(dir, err); }

int kiln_ingest_gharchive(const kiln_ingest_gha_opts *o, kiln_ingest_report *rep, kiln_err *err)
{
    memset(rep, 0, sizeof *rep);
    double t0 = kiln_mono_seconds();
    if (o->start_day > o->end_day)
        return kiln_err_set(err, KILN_EINVAL, "--start is after --end");
    if (o->hour_lo < 0 || o->hour_hi > 23 || o->hour_lo > o->hour_hi)
        return kiln_err_set(err, KILN_EINVAL, "hours must be within 0-23, low to high");
    if (o->end_day - o->start_day > 3660)
        return kiln_err_set(err, KILN_EINVAL, "at most 3660 days at once");
    kiln_ingest_gha_opts oo = *o;
    const char *rb = getenv("KILN_INGEST_RETRY_BASE_MS");
    if (rb && atol(rb) > 0)
        oo.retry_base_ms = atol(rb);
    if (oo.parallel < 1)
        oo.parallel = 1;
    if (oo.max_attempts < 1)
        oo.max_attempts = 1;
    size_t bl = strlen(oo.base_url);
    char *base = kiln_strndup(oo.base_url, bl);
    while (base && bl > 0 && base[bl - 1] == '/')
        base[--bl] = 0;
    oo.base_url = base;
    char *pdir = NULL;
    if (o->partial_dir)
        pdir = kiln_strdup(o->partial_dir);
    else {
        const char *xc = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        pdir = xc && *xc ? kiln_sprintf("%s/kiln/ingest", xc)
                         : kiln_sprintf("%s/.cache/kiln/ingest", home && *home ? home : "/tmp");
    }
    kiln_store *s = NULL;
    kiln_http *http = NULL;
    kiln_pool *pool = NULL;
    job *jobs = NULL;
    json_t **olds = NULL;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    int64_t ndays = o->end_day - o->start_day + 1;
    int nh = o->hour_hi - o->hour_lo + 1;
    int rc = 0;
    if (!base || !pdir) {
        rc = KILN_OOM(err);
        goto done;
    }
    kiln_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.timeout_ms = oo.timeout_ms;
    ho.connect_timeout_ms = 15000;
    ho.low_speed_time_s = 60;
    ho.follow_redirects = 1;
    ho.protocols = "http,https,file";
    ho.user_agent = "kiln/" KILN_VERSION " (ingest gharchive)";
    if ((rc = mkdir_p(pdir, err)) || (rc = kiln_store_open(&s, o->out, NULL, err)) ||
        (rc = kiln_http_new(&http, &ho, err)))
        goto done;
    rep->nhours = (size_t)(ndays * nh);
    rep->hours = kiln_calloc(rep->nhours, sizeof *rep->hours);
    jobs = kiln_calloc(rep->nhours, sizeof *jobs);
    olds = kiln_calloc((size_t)ndays, sizeof *olds);
    if (!rep->hours || !jobs || !olds) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int64_t di = 0; di < ndays; di++) {
        olds[di] = manifest_load(s, o->start_day + di, err, &rc);
        if (rc)
            goto done;
    }
    if ((rc = kiln_pool_new(&pool, oo.parallel, err)))
        goto done;
    size_t k = 0;
    for (int64_t di = 0; di < ndays; di++)
        for (int hour = o->hour_lo; hour <= o->hour_hi; hour++, k++) {
            kiln_ingest_hour *h = &rep->hours[k];
            h->day = o->start_day + di;
            h->hour = hour;
            job *j = &jobs[k];
            j->o = &oo;
            j->http = http;
            j->store = s;
            j->partial_dir = pdir;
            j->h = h;
            j->bytes = &rep->bytes_downloaded;
            j->mu = &mu;
            json_t *pe = manifest_hour(olds[di], hour);
            if (pe && !strcmp(jstr(pe, "status"), "landed")) {
                j->pr.have = 1;
                snprintf(j->pr.sha256, sizeof j->pr.sha256, "%s", jstr(pe, "sha256"));
                snprintf(j->pr.etag, sizeof j->pr.etag, "%s", jstr(pe, "etag"));
                j->pr.size = json_integer_value(json_object_get(pe, "size"));
            }
            if ((rc = kiln_pool_submit(pool, run_hour, j, err))) {
                kiln_pool_wait(pool);
                goto done;
            }
        }
    kiln_pool_wait(pool);
    for (size_t i = 0; i < rep->nhours; i++)
        rep->counts[rep->hours[i].status]++;
    for (int64_t di = 0; di < ndays && !rc; di++)
        rc = manifest_write(s, &oo, o->start_day + di, olds[di], rep->hours, rep->nhours, err);
done:
    kiln_pool_free(pool);
    if (olds)
        for (int64_t di = 0; di < ndays; di++)
            json_decref(olds[di]);
    kiln_free(olds);
    kiln_free(jobs);
    kiln_store_free(s);
    kiln_http_free(http);
    kiln_free(pdir);
    kiln_free(base);
    rep->seconds = kiln_mono_seconds() - t0;
    return rc;
}
