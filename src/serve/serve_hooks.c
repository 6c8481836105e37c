/*
 * serve_hooks.c - POST /hooks/github: the stream side of the GitHub data.
 * A signed push delivery is turned into one GH Archive event line
 * (PushEvent, the shape `kiln job gh-events` reads) and landed durably in
 * the raw zone, so the same engine job makes the same kind of rows from
 * webhooks as from the GH Archive backfill (Kappa).
 *
 * DESIGN
 * Layout: RAW/webhooks/date=YYYY-MM-DD/YYYY-MM-DD-H.json.gz (hour not
 * zero-padded, the engine's hour-file name; day and hour of the event's
 * created_at), so `kiln job gh-events --in RAW/webhooks/date=D` reads a day.
 * Each delivery is appended to its hour file as one gzip member (the
 * engine's reader takes multi-member files as one stream).
 *
 * Durability: under one lock, append the member and fsync the file (and
 * its directory when the file is new), then append "DELIVERY\tFILE\tEND\n"
 * to RAW/webhooks/_deliveries.log and fsync it; only then answer 202. The
 * log is the commit record: at start-up a torn log line is cut off, every
 * hour file is truncated to the END of its last logged delivery (removing
 * a member torn by a crash, or written but never acknowledged), and files
 * no delivery committed to are removed. So after kill -9 the files hold
 * exactly the acknowledged deliveries, each once (the log's delivery ids
 * are the dedupe set; a redelivery of a known id answers 200 and lands
 * nothing).
 *
 * Mapping a push payload to a GH Archive event: actor = sender, repo =
 * repository (id, full_name), org = organization, payload {ref, head
 * (after), before, size and distinct_size (counted from commits), commits
 * [{sha, author{name,email}, message, distinct, url}]}, created_at =
 * repository.pushed_at (or the receive time). Webhooks carry no event id or
 * push_id: both are derived from the push itself (first 53 bits of the
 * SHA-256 of repository full name, ref, before and after): id is that
 * number, push_id its negation, so it can never be taken for one of
 * GitHub's (positive) push ids and the engine's MERGE on push_id stays
 * idempotent when a day is loaded again.
 */
#include "serve/serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define LOG_NAME "_deliveries.log"
#define LOG_CAP ((size_t)1 << 30)

struct kiln_serve_hooks {
    pthread_mutex_t lock;
    char *dir; /* RAW/webhooks */
    int log_fd;
    kiln_map *seen; /* delivery id -> NULL */
    kiln_map *ends; /* relative file -> committed end offset (uintptr_t) */
};

/* ------------------------------------------------------------------ recovery */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int delivery_ok(const char *id, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

/* Read the log into seen/ends; cut a torn last line. */
static int load_log(kiln_serve_hooks *h, const char *path, kiln_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = kiln_file_read(path, LOG_CAP, &text, &len, err);
    if (rc == KILN_ENOTFOUND || (rc && access(path, F_OK) != 0)) {
        *err = (kiln_err){0};
        return 0;
    }
    if (rc)
        return rc;
    size_t good = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break; /* torn by a crash: never acknowledged */
        const char *t1 = memchr(p, '\t', (size_t)(nl - p));
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
        if (t2 && delivery_ok(p, (size_t)(t1 - p))) {
            unsigned long long off = strtoull(t2 + 1, NULL, 10);
            size_t fl = (size_t)(t2 - t1 - 1);
            uintptr_t prev = (uintptr_t)kiln_map_get(h->ends, t1 + 1, fl);
            if ((rc = kiln_map_put(h->seen, p, (size_t)(t1 - p), NULL, err)) ||
                (rc = kiln_map_put(h->ends, t1 + 1, fl, (void *)(uintptr_t)(off > prev ? off : prev), err)))
                break;
        }
        good = (size_t)(nl + 1 - text);
        p = nl + 1;
    }
    if (!rc && good < len && truncate(path, (off_t)good) != 0)
        rc = kiln_err_set(err, KILN_EIO, "%s: cannot cut torn line: %s", path, strerror(errno));
    kiln_free(text);
    return rc;
}

/* Cut every hour file back to its last logged end; remove unlogged files. */
static int repair_files(kiln_serve_hooks *h, kiln_err *err)
{
    DIR *d = opendir(h->dir);
    if (!d)
        return kiln_err_set(err, KILN_EIO, "%s: %s", h->dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (strncmp(e->d_name, "date=", 5) != 0)
            continue;
        char *sub = kiln_sprintf("%s/%s", h->dir, e->d_name);
        DIR *sd = sub ? opendir(sub) : NULL;
        struct dirent *f;
        while (sd && !rc && (f = readdir(sd))) {
            size_t n = strlen(f->d_name);
            if (n < 9 || strcmp(f->d_name + n - 8, ".json.gz") != 0)
                continue;
            char *rel = kiln_sprintf("%s/%s", e->d_name, f->d_name);
            char *abs = kiln_sprintf("%s/%s", sub, f->d_name);
            if (!rel || !abs) {
                rc = KILN_OOM(err);
            } else {
                struct stat st;
                int known = kiln_map_has(h->ends, rel, strlen(rel));
                uintptr_t end = (uintptr_t)kiln_map_get(h->ends, rel, strlen(rel));
                if (!known || end == 0) {
                    if (unlink(abs) == 0)
                        kiln_warn("webhooks: removed %s (no acknowledged delivery in it)", rel);
                } else if (stat(abs, &st) == 0 && (uintptr_t)st.st_size > end) {
                    if (truncate(abs, (off_t)end) != 0)
                        rc = kiln_err_set(err, KILN_EIO, "%s: %s", abs, strerror(errno));
                    else
                        kiln_warn("webhooks: cut %s back to %llu bytes (unacknowledged tail of %llu bytes)", rel,
                                  (unsigned long long)end, (unsigned long long)((uintptr_t)st.st_size - end));
                }
            }
            kiln_free(rel);
            kiln_free(abs);
        }
        if (sd)
            closedir(sd);
        kiln_free(sub);
    }
    closedir(d);
    return rc;
}

int kiln_serve__hooks_open(kiln_serve_hooks **out, const char *raw_dir, kiln_err *err)
{
    int rc = 0;
    char *logp = NULL;
    kiln_serve_hooks *h = kiln_malloc(sizeof *h);
    if (!h)
        return KILN_OOM(err);
    memset(h, 0, sizeof *h);
    h->log_fd = -1;
    pthread_mutex_init(&h->lock, NULL);
    if (!(h->dir = kiln_sprintf("%s/webhooks", raw_dir)) || !(h->seen = kiln_map_new()) ||
        !(h->ends = kiln_map_new()) || !(logp = kiln_sprintf("%s/" LOG_NAME, h->dir))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_mkdirs(h->dir, err)) || (rc = load_log(h, logp, err)) || (rc = repair_files(h, err)))
        goto done;
    h->log_fd = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (h->log_fd < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", logp, strerror(errno));
        goto done;
    }
    fsync_dir(h->dir);
    *out = h;
    h = NULL;
done:
    kiln_free(logp);
    kiln_serve__hooks_free(h);
    return rc;
}

void kiln_serve__hooks_free(kiln_serve_hooks *h)
{
    if (!h)
        return;
    if (h->log_fd >= 0)
        close(h->log_fd);
    kiln_map_free(h->seen);
    kiln_map_free(h->ends);
    kiln_free(h->dir);
    pthread_mutex_destroy(&h->lock);
    kiln_free(h);
}

/* ------------------------------------------------------------------ event mapping */

static json_t *pick(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return v ? json_deep_copy(v) : json_null();
}

/* The GH Archive PushEvent for a push payload; NULL when it is not one. */
static json_t *push_event(json_t *p, int64_t *created_us)
{
    json_t *repo = json_object_get(p, "repository"), *sender = json_object_get(p, "sender");
    json_t *org = json_object_get(p, "organization"), *commits = json_object_get(p, "commits");
    if (!json_is_object(repo) || !json_is_string(json_object_get(repo, "full_name")) ||
        !json_is_string(json_object_get(p, "ref")))
        return NULL;
    /* A push is (repository, ref, before, after): the same push delivered
     * twice (a redelivery with a new GUID, a repo and an org hook) gets the
     * same ids, so the engine's event-id dedupe and its MERGE on push_id
     * keep one row. */
    uint8_t dig[32];
    kiln_sha256 sh;
    kiln_sha256_init(&sh);
    const char *parts[] = {
        json_string_value(json_object_get(repo, "full_name")), json_string_value(json_object_get(p, "ref")),
        json_string_value(json_object_get(p, "before")), json_string_value(json_object_get(p, "after"))};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        const char *v = parts[k] ? parts[k] : "";
        kiln_sha256_update(&sh, v, strlen(v) + 1); /* with the NUL: "ab"+"c" != "a"+"bc" */
    }
    kiln_sha256_final(&sh, dig);
    uint64_t id = 0;
    for (int i = 0; i < 8; i++)
        id = (id << 8) | dig[i];
    id >>= 11; /* 53 bits: positive, and exact in JavaScript readers (as the lake's ids) */
    json_t *pushed = json_object_get(repo, "pushed_at");
    *created_us = json_is_integer(pushed) && json_integer_value(pushed) > 0
                      ? (int64_t)json_integer_value(pushed) * 1000000
                      : kiln_now_micros() / 1000000 * 1000000;
    char ts[32], idtxt[24];
    kiln_ts_format(*created_us, ts);
    snprintf(idtxt, sizeof idtxt, "%llu", (unsigned long long)id);
    json_t *cs = json_array();
    size_t i, ndistinct = 0;
    json_t *c;
    json_array_foreach(commits, i, c)
    {
        json_t *a = json_object_get(c, "author");
        int distinct = json_is_true(json_object_get(c, "distinct"));
        ndistinct += (size_t)distinct;
        json_array_append_new(cs, json_pack("{s:o,s:{s:o,s:o},s:o,s:b,s:o}", "sha", pick(c, "id"), "author", "email",
                                            pick(a, "email"), "name", pick(a, "name"), "message", pick(c, "message"),
                                            "distinct", distinct, "url", pick(c, "url")));
    }
    json_t *ev = json_object();
    json_object_set_new(ev, "id", json_string(idtxt));
    json_object_set_new(ev, "type", json_string("PushEvent"));
    json_object_set_new(ev, "actor", json_pack("{s:o,s:o}", "id", pick(sender, "id"), "login", pick(sender, "login")));
    json_object_set_new(ev, "repo", json_pack("{s:o,s:o}", "id", pick(repo, "id"), "name", pick(repo, "full_name")));
    json_object_set_new(ev, "payload",
                        json_pack("{s:o,s:I,s:I,s:I,s:o,s:o,s:o,s:o}", "repository_id", pick(repo, "id"), "push_id",
                                  -(json_int_t)id, "size", (json_int_t)json_array_size(commits), "distinct_size",
                                  (json_int_t)ndistinct, "ref", pick(p, "ref"), "head", pick(p, "after"), "before",
                                  pick(p, "before"), "commits", cs));
    json_object_set_new(ev, "public", json_boolean(!json_is_true(json_object_get(repo, "private"))));
    json_object_set_new(ev, "created_at", json_string(ts));
    if (json_is_object(org))
        json_object_set_new(ev, "org", json_pack("{s:o,s:o}", "id", pick(org, "id"), "login", pick(org, "login")));
    return ev;
}

/* One gzip member holding line. */
static int gzip_member(kiln_buf *out, const char *line, size_t n, kiln_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return kiln_err_set(err, KILN_ENOMEM, "deflateInit2 failed");
    uLong bound = deflateBound(&z, n);
    int rc = kiln_buf_reserve(out, bound, err);
    if (!rc) {
        z.next_in = (Bytef *)line;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            rc = kiln_err_set(err, KILN_EINTERNAL, "deflate did not finish");
        else
            out->len += z.total_out;
    }
    deflateEnd(&z);
    return rc;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Land one delivery (lock held). */
static int land(kiln_serve_hooks *h, const char *delivery, const char *member, size_t n, int64_t created_us,
                kiln_err *err)
{
    char day[16], rel[64], ts[32];
    kiln_ts_format(created_us, ts);
    memcpy(day, ts, 10);
    day[10] = 0;
    int hour = atoi(ts + 11);
    snprintf(rel, sizeof rel, "date=%s/%s-%d.json.gz", day, day, hour);
    char *sub = kiln_sprintf("%s/date=%s", h->dir, day), *path = kiln_sprintf("%s/%s", h->dir, rel);
    int rc = 0, fd = -1;
    off_t start = 0;
    if (!sub || !path) {
        rc = KILN_OOM(err);
        goto done;
    }
    struct stat st;
    int new_dir = stat(sub, &st) != 0;
    if (new_dir && (rc = kiln_mkdirs(sub, err)))
        goto done;
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    /* append after the committed end, never after an unacknowledged tail */
    uintptr_t committed = (uintptr_t)kiln_map_get(h->ends, rel, strlen(rel));
    start = (off_t)committed;
    if (st.st_size != start && ftruncate(fd, start) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (lseek(fd, start, SEEK_SET) < 0 || write_all(fd, member, n) != 0 || fdatasync(fd) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (committed == 0 && (fsync_dir(sub) != 0 || (new_dir && fsync_dir(h->dir) != 0))) {
        rc = kiln_err_set(err, KILN_EIO, "%s: fsync: %s", sub, strerror(errno));
        goto done;
    }
    kiln_failpoint("serve.hook.after_data");
    char line[160];
    int ll = snprintf(line, sizeof line, "%s\t%s\t%llu\n", delivery, rel, (unsigned long long)(start + (off_t)n));
    if (write_all(h->log_fd, line, (size_t)ll) != 0 || fdatasync(h->log_fd) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "deliveries log: %s", strerror(errno));
        goto done;
    }
    if ((rc = kiln_map_put(h->seen, delivery, strlen(delivery), NULL, err)) ||
        (rc = kiln_map_put(h->ends, rel, strlen(rel), (void *)(uintptr_t)(start + (off_t)n), err)))
        goto done;
done:
    if (rc && fd >= 0 && ftruncate(fd, start) != 0)
        kiln_warn("webhooks: %s: could not cut back a failed append; it is cut at the next start", rel);
    if (fd >= 0)
        close(fd);
    kiln_free(sub);
    kiln_free(path);
    return rc;
}

/* ------------------------------------------------------------------ handler */

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static int signature_ok(const char *secret, const char *hdr, const char *body, size_t n)
{
    uint8_t want[32], got[32];
    unsigned glen = 0;
    if (!hdr || strncmp(hdr, "sha256=", 7) != 0 || strlen(hdr + 7) != 64)
        return 0;
    for (int i = 0; i < 32; i++) {
        int a = hexval(hdr[7 + 2 * i]), b = hexval(hdr[8 + 2 * i]);
        if (a < 0 || b < 0)
            return 0;
        want[i] = (uint8_t)(a << 4 | b);
    }
    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, n, got, &glen) || glen != 32)
        return 0;
    return CRYPTO_memcmp(want, got, 32) == 0;
}

int kiln_serve__hook_github(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_server *s = rq->srv;
    kiln_err err = {0};
    const char *event = kiln_serve__header(rq, "X-GitHub-Event");
    const char *delivery = kiln_serve__header(rq, "X-GitHub-Delivery");
    const char *ev = event ? event : "";
    if (!s->hooks || !s->webhook_secret) {
        kiln_serve__metrics_hook(s->metrics, ev, "error");
        return kiln_serve__error(rs, 503, "ServiceUnavailableException",
                                 "webhooks are off: start with --webhook-secret-file or KILN_WEBHOOK_SECRET");
    }
    if (!signature_ok(s->webhook_secret, kiln_serve__header(rq, "X-Hub-Signature-256"), rq->body, rq->body_len)) {
        kiln_serve__metrics_hook(s->metrics, ev, "bad_signature");
        return kiln_serve__error(rs, 401, "NotAuthorizedException", "X-Hub-Signature-256 is missing or does not match");
    }
    if (!delivery || !delivery_ok(delivery, strlen(delivery))) {
        kiln_serve__metrics_hook(s->metrics, ev, "error");
        return kiln_serve__error(rs, 400, "BadRequestException", "X-GitHub-Delivery must be a GUID");
    }
    if (strcmp(ev, "ping") == 0) {
        kiln_serve__metrics_hook(s->metrics, ev, "accepted");
        rs->status = 200;
        return kiln_buf_printf(&rs->body, &err, "{\"ok\":true,\"event\":\"ping\"}");
    }
    if (strcmp(ev, "push") != 0) {
        kiln_serve__metrics_hook(s->metrics, ev, "ignored");
        rs->status = 202;
        return kiln_buf_printf(&rs->body, &err, "{\"ok\":true,\"landed\":false,\"reason\":\"only push events land\"}");
    }
    json_error_t je;
    json_t *p = json_loadb(rq->body, rq->body_len, 0, &je);
    int64_t created_us = 0;
    json_t *evj = p ? push_event(p, &created_us) : NULL;
    char *line = evj ? json_dumps(evj, JSON_COMPACT) : NULL;
    kiln_buf member;
    kiln_buf_init(&member, 0);
    int rc = 0;
    if (!line) {
        kiln_serve__metrics_hook(s->metrics, ev, "error");
        kiln_serve__error(rs, 400, "BadRequestException", "not a push payload (needs repository.full_name and ref)");
        goto done;
    }
    size_t ln = strlen(line);
    line[ln] = '\n'; /* json_dumps left room for the NUL: the newline takes it */
    if ((rc = gzip_member(&member, line, ln + 1, &err)))
        goto fail;
    kiln_serve_hooks *h = s->hooks;
    pthread_mutex_lock(&h->lock);
    int dup = kiln_map_has(h->seen, delivery, strlen(delivery));
    if (!dup)
        rc = land(h, delivery, member.data, member.len, created_us, &err);
    pthread_mutex_unlock(&h->lock);
    if (rc)
        goto fail;
    kiln_failpoint("serve.hook.after_log");
    kiln_serve__metrics_hook(s->metrics, ev, dup ? "duplicate" : "accepted");
    if (!dup)
        kiln_serve__metrics_ingest_bytes(s->metrics, member.len); /* the gzip member now durable in RAW */
    rs->status = dup ? 200 : 202;
    kiln_buf_printf(&rs->body, &err, "{\"ok\":true,\"landed\":%s,\"duplicate\":%s}", dup ? "false" : "true",
                    dup ? "true" : "false");
    goto done;
fail:
    kiln_serve__metrics_hook(s->metrics, ev, "error");
    kiln_error("webhooks: delivery %s not landed: %s", delivery, err.msg);
    kiln_serve__error(rs, 500, "ServerErrorException", "delivery not landed (GitHub will retry)");
done:
    free(line);
    json_decref(evj);
    json_decref(p);
    kiln_buf_free(&member);
    return 0;
}

/* ------------------------------------------------------------------ micro-batch staging */

/* Copy the first n bytes of from into a new file to (fsync not needed: a
 * staging copy is rebuilt from the raw zone if lost). */
static int copy_prefix(const char *from, const char *to, uint64_t n, kiln_err *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    char buf[1 << 16];
    if (in < 0 || (out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", in < 0 ? from : to, strerror(errno));
        goto done;
    }
    while (n > 0) {
        ssize_t r = read(in, buf, n < sizeof buf ? (size_t)n : sizeof buf);
        if (r <= 0 || write_all(out, buf, (size_t)r) != 0) {
            rc = kiln_err_set(err, KILN_EIO, "%s: copy failed: %s", from,
                              r == 0 ? "file shorter than logged" : strerror(errno));
            goto done;
        }
        n -= (uint64_t)r;
    }
done:
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return rc;
}

int kiln_serve__hooks_stage(kiln_serve_hooks *h, const char *stage_dir, const kiln_map *ingested, kiln_map *staged,
                            size_t *nchanged, kiln_err *err)
{
    typedef struct {
        char *rel;
        uint64_t end;
    } entry;
    KILN_VEC(entry) files = {0};
    kiln_map *days = kiln_map_new();
    int rc = days ? 0 : KILN_OOM(err);
    *nchanged = 0;
    /* the committed ends, read under the lock; the bytes below them never
     * change again, so they are copied without it */
    pthread_mutex_lock(&h->lock);
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (!rc && kiln_map_next(h->ends, &pos, &k, &kl, &v)) {
        entry e = {kiln_malloc(kl + 1), (uint64_t)(uintptr_t)v};
        if (!e.rel || kiln_vec_push(&files, e, err)) {
            kiln_free(e.rel);
            rc = KILN_OOM(err);
            break;
        }
        memcpy(e.rel, k, kl);
        e.rel[kl] = 0;
        if ((uintptr_t)kiln_map_get(ingested, k, kl) != (uintptr_t)e.end && kl > 16 &&
            (rc = kiln_map_put(days, k, 15 /* "date=YYYY-MM-DD" */, NULL, err)) == 0)
            (*nchanged)++;
    }
    pthread_mutex_unlock(&h->lock);
    /* every file of a changed day goes in: the engine replaces (MERGEs) whole days */
    for (size_t i = 0; !rc && i < files.len; i++) {
        if (!kiln_map_has(days, files.items[i].rel, 15))
            continue;
        const char *base = strchr(files.items[i].rel, '/');
        char *from = kiln_sprintf("%s/%s", h->dir, files.items[i].rel);
        char *to = base ? kiln_sprintf("%s%s", stage_dir, base) : NULL;
        if (!from || !to)
            rc = KILN_OOM(err);
        else if (!(rc = copy_prefix(from, to, files.items[i].end, err)))
            rc = kiln_map_put(staged, files.items[i].rel, strlen(files.items[i].rel),
                              (void *)(uintptr_t)files.items[i].end, err);
        kiln_free(from);
        kiln_free(to);
    }
    for (size_t i = 0; i < files.len; i++)
        kiln_free(files.items[i].rel);
    kiln_vec_free(&files);
    kiln_map_free(days);
    return rc;
}

const char *kiln_serve__hooks_dir(const kiln_serve_hooks *h) { return h->dir; }

/* ------------------------------------------------------------------ read-only staging (verify) */

int kiln_serve__hooks_stage_ro(const char *raw_dir, int64_t start_day, int64_t end_day, const char *stage_dir,
                               size_t *nfiles, size_t *ndeliveries, kiln_err *err)
{
    char *dir = kiln_sprintf("%s/webhooks", raw_dir), *logp = kiln_sprintf("%s/webhooks/" LOG_NAME, raw_dir);
    char *text = NULL;
    size_t len = 0;
    kiln_map *ends = kiln_map_new();
    int rc = (!dir || !logp || !ends) ? KILN_OOM(err) : 0;
    *nfiles = *ndeliveries = 0;
    if (!rc && (rc = kiln_file_read(logp, LOG_CAP, &text, &len, err)) && access(logp, F_OK) != 0)
        rc = kiln_err_set(err, KILN_ENOTFOUND,
                          "%s: no webhook delivery log (kiln serve with a webhook secret and --raw %s writes it)", logp,
                          raw_dir);
    /* the log as kiln serve's start-up reads it, but nothing is repaired:
     * a torn last line (a delivery being acknowledged right now) is skipped */
    const char *p = text, *end = text ? text + len : NULL;
    while (!rc && p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        const char *t1 = memchr(p, '\t', (size_t)(nl - p));
        const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
        size_t fl = t2 ? (size_t)(t2 - t1 - 1) : 0;
        int64_t day;
        /* "date=YYYY-MM-DD/NAME": only days of the window */
        if (t2 && delivery_ok(p, (size_t)(t1 - p)) && fl > 16 && memcmp(t1 + 1, "date=", 5) == 0 &&
            kiln_date_parse(t1 + 6, 10, &day) == 0 && day >= start_day && day <= end_day) {
            unsigned long long off = strtoull(t2 + 1, NULL, 10);
            uintptr_t prev = (uintptr_t)kiln_map_get(ends, t1 + 1, fl);
            rc = kiln_map_put(ends, t1 + 1, fl, (void *)(uintptr_t)(off > prev ? off : prev), err);
            (*ndeliveries)++;
        }
        p = nl + 1;
    }
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (!rc && kiln_map_next(ends, &pos, &k, &kl, &v)) {
        const char *base = memchr(k, '/', kl);
        char *from = kiln_sprintf("%s/%.*s", dir, (int)kl, k);
        char *to = base ? kiln_sprintf("%s/%.*s", stage_dir, (int)(kl - (size_t)(base + 1 - k)), base + 1) : NULL;
        if (!from || !to)
            rc = KILN_OOM(err);
        else if (!(rc = copy_prefix(from, to, (uint64_t)(uintptr_t)v, err)))
            (*nfiles)++;
        kiln_free(from);
        kiln_free(to);
    }
    kiln_map_free(ends);
    kiln_free(text);
    kiln_free(dir);
    kiln_free(logp);
    return rc;
}
