/*
 * lineage.c - OpenLineage RunEvents (spec 2-0-2) for task tries, appended
 * as NDJSON to the file named by kiln.yml's flow.lineage.file.
 *
 * Per try: START when it starts, COMPLETE, FAIL or ABORT (kiln stopped it:
 * dagrun_timeout, SIGINT/SIGTERM to the runner) when it ends, RUNNING per
 * sensor poke that did not end it, all with the
 * same run.runId (a UUIDv7 made at the start). job = {namespace "kiln",
 * name "DAG.TASK"}; run facets nominalTime (the data interval) and parent
 * (the DAG run: job "DAG", a runId derived from DAG and run id, so every
 * task of a run names the same parent); FAIL carries errorMessage. inputs
 * and outputs come from consumes/produces: "scheme://authority/path" keeps
 * its scheme and authority as namespace, a plain name is a file under the
 * project (namespace "file", absolute path). Each event is one write() on an
 * O_APPEND descriptor, so concurrent runners do not interleave lines. A
 * lineage write that fails is reported and never fails the task.
 *
 * flow.lineage.url: each event is also POSTed there (the OpenLineage HTTP
 * transport; Marquez takes them at /api/v1/lineage) by a sender process of
 * the runner, fed through a pipe, so a slow or absent endpoint never blocks
 * a runner: events are sent in order, each with a timeout and retries; one
 * that cannot be delivered goes to .kiln/lineage.undelivered.ndjson.
 */
#include "flow_int.h"
#include "net/http.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#define OL_SCHEMA "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
#define OL_PRODUCER "https://github.com/kiln-data/kiln/tree/v" KILN_VERSION

static void uuid_format(const uint8_t b[16], char out[37])
{
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = 0;
}

void kiln_flow__uuid7(char out[37])
{
    uint8_t b[16];
    uint64_t ms = (uint64_t)(kiln_now_micros() / 1000);
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        /* no entropy source: time and pid still make it unique enough here */
        uint64_t x = kiln_hash64(&ms, sizeof ms) ^ ((uint64_t)getpid() << 32);
        memcpy(b + 8, &x, 8);
        memcpy(b, &x, 8);
    }
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f));
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f));
    uuid_format(b, out);
}

/* A stable UUID (version 8, RFC 9562) for a name: the DAG run's id. */
static void uuid_of_name(const char *name, char out[37])
{
    uint8_t dig[32];
    kiln_sha256 h;
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, name, strlen(name));
    kiln_sha256_final(&h, dig);
    dig[6] = (uint8_t)(0x80 | (dig[6] & 0x0f));
    dig[8] = (uint8_t)(0x80 | (dig[8] & 0x3f));
    uuid_format(dig, out);
}

static int str(kiln_buf *b, const char *s, kiln_err *err) { return kiln_json_write_str(b, s, strlen(s), err); }

static int facet_head(kiln_buf *b, const char *name, const char *schema, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, "\"%s\":{\"_producer\":", name);
    if (!rc)
        rc = str(b, OL_PRODUCER, err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"_schemaURL\":");
    if (!rc)
        rc = str(b, schema, err);
    return rc;
}

static int datasets(kiln_buf *b, const kiln_flow_project *p, const kiln_flow_strv *v, const kiln_flow_render_ctx *ctx,
                    kiln_err *err)
{
    int rc = kiln_buf_putc(b, '[', err);
    for (size_t i = 0; i < v->len && !rc; i++) {
        char *rendered = NULL; /* a templated name: this interval's partition */
        if (kiln_flow__is_template(v->items[i]) && kiln_flow_render(&rendered, v->items[i], ctx, err) != 0)
            rendered = NULL;
        const char *a = rendered ? rendered : v->items[i], *sep = strstr(a, "://");
        char *ns = NULL, *name = NULL;
        if (sep) {
            const char *path = strchr(sep + 3, '/');
            ns = kiln_strndup(a, path ? (size_t)(path - a) : strlen(a));
            name = kiln_strdup(path ? path + 1 : "");
        } else {
            ns = kiln_strdup("file");
            name = a[0] == '/' ? kiln_strdup(a) : kiln_sprintf("%s/%s", p->dir, a);
        }
        if (!ns || !name)
            rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_buf_printf(b, err, "%s{\"namespace\":", i ? "," : "");
        if (!rc)
            rc = str(b, ns, err);
        if (!rc)
            rc = kiln_buf_printf(b, err, ",\"name\":");
        if (!rc)
            rc = str(b, name, err);
        if (!rc)
            rc = kiln_buf_putc(b, '}', err);
        kiln_free(ns);
        kiln_free(name);
        kiln_free(rendered);
    }
    if (!rc)
        rc = kiln_buf_putc(b, ']', err);
    return rc;
}

/* ------------------------------------------------------------ HTTP transport */

/* POST one event (JSON) to url: 1 when a 2xx came back, else 0 with why.
 * Through the one HTTP client (src/net): 3 attempts, 0.5 s then 1 s apart
 * (jittered), on connection failures, 5xx, 429 and 408. */
static int lineage_post(kiln_http *c, const char *url, const char *body, size_t len, char *why, size_t whyn)
{
    const char *hdr[] = {"Content-Type: application/json"};
    kiln_http_req q;
    kiln_http_req_init(&q, "POST", url);
    q.headers = hdr;
    q.nheaders = 1;
    q.body = body;
    q.body_len = len;
    kiln_http_resp r;
    kiln_http_resp_init(&r);
    kiln_err e = {0};
    int ok = 0;
    if (kiln_http_do(c, &q, &r, &e) != 0)
        snprintf(why, whyn, "%s", r.reason[0] ? r.reason : e.msg);
    else if (r.status >= 200 && r.status < 300)
        ok = 1;
    else
        snprintf(why, whyn, "HTTP %ld", r.status);
    kiln_http_resp_free(&r);
    return ok;
}

static int sender_fd = -1;
static pid_t sender_of; /* the process that started it (a forked child must not write to it) */

/* The sender: reads events (lines) from fd 0 until the runner closes the
 * pipe, POSTs each (3 tries, 0.5 s then 1 s apart), appends the ones that
 * failed to the undelivered file. */
static void sender_main(const char *url, int64_t timeout_ms, const char *undelivered)
{
    kiln_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.timeout_ms = (long)timeout_ms;
    ho.max_attempts = 3;
    ho.retry_base_ms = 500;
    ho.retry_cap_ms = 1000;
    kiln_http *c = NULL;
    kiln_err e = {0};
    if (kiln_http_new(&c, &ho, &e) != 0)
        fprintf(stderr, "kiln: warn lineage: %s\n", e.msg);
    FILE *in = fdopen(0, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (in && (n = getline(&line, &cap, in)) > 0) {
        char why[300] = "";
        int ok = 0;
        if (c)
            ok = lineage_post(c, url, line, (size_t)(line[n - 1] == '\n' ? n - 1 : n), why, sizeof why);
        else
            snprintf(why, sizeof why, "no HTTP client");
        if (!ok) {
            int fd = open(undelivered, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                if (write(fd, line, (size_t)n) < 0)
                    (void)0;
                close(fd);
            }
            fprintf(stderr, "kiln: warn lineage: an event was not delivered to the lineage URL: %s\n", why);
        }
    }
    free(line);
    kiln_http_free(c);
}

static int sender_start(const kiln_flow_project *p, kiln_err *err)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return kiln_err_set(err, KILN_EIO, "lineage: pipe: %s", strerror(errno));
    char *undelivered = kiln_sprintf("%s/lineage.undelivered.ndjson", p->state_dir);
    if (!undelivered) {
        close(fds[0]);
        close(fds[1]);
        return KILN_OOM(err);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* detached (double fork, own session); it holds no task lock: every
         * descriptor but the pipe and stderr is closed */
        if (fork() != 0)
            _exit(0);
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        dup2(fds[0], 0);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
        sender_main(p->lineage_url, p->lineage_timeout_ms > 0 ? p->lineage_timeout_ms : 5000, undelivered);
        _exit(0);
    }
    kiln_free(undelivered);
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        return kiln_err_set(err, KILN_EIO, "lineage: fork: %s", strerror(errno));
    }
    waitpid(pid, NULL, 0);
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    sender_fd = fds[1];
    sender_of = getpid();
    return 0;
}

/* Hand one event line to the sender; never waits for the network. */
static int lineage_send(const kiln_flow_project *p, const char *data, size_t len, kiln_err *err)
{
    if (sender_fd >= 0 && sender_of != getpid())
        sender_fd = -1; /* a forked child: the pipe is its parent's */
    if (sender_fd < 0) {
        int rc = sender_start(p, err);
        if (rc)
            return rc;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(sender_fd, data + off, len - off);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EAGAIN && off == 0) {
            return kiln_err_set(err, KILN_EIO, "lineage URL: the sender is %d KiB behind; event dropped", 1024);
        } else if (w < 0 && errno == EAGAIN) {
            usleep(1000); /* the rest of an event already partly in the pipe */
        } else if (w < 0 && errno != EINTR) {
            int e = errno;
            close(sender_fd);
            sender_fd = -1;
            return kiln_err_set(err, KILN_EIO, "lineage URL: the sender is gone: %s", strerror(e));
        }
    }
    return 0;
}

void kiln_flow__lineage_close(void)
{
    if (sender_fd >= 0 && sender_of == getpid())
        close(sender_fd); /* the sender sends what is left, then exits */
    sender_fd = -1;
}

int kiln_flow__lineage_emit(const kiln_flow_project *p, const kiln_flow_dag *d, size_t task, const char *run_id,
                            int64_t istart, int64_t iend, const char *try_uuid, const char *event_type,
                            const char *error_msg, const char *extra_outputs, kiln_err *err)
{
    if (!p->lineage_file && !p->lineage_url)
        return 0;
    const kiln_flow_task *t = &d->tasks[task];
    kiln_flow_render_ctx rctx;
    kiln_flow_render_ctx_init(&rctx, d, istart, istart, iend, run_id, 0);
    rctx.task_id = t->id;
    kiln_buf b;
    kiln_buf_init(&b, 1 << 20);
    char now[40], is[32], ie[32], parent[37], job[512];
    kiln_flow__ts(kiln_now_micros() / 1000000, now);
    kiln_flow__ts(istart, is);
    kiln_flow__ts(iend, ie);
    snprintf(job, sizeof job, "%s.%s", d->id, t->id);
    char *pname = kiln_sprintf("kiln-dag-run:%s:%s", d->id, run_id);
    if (!pname)
        return KILN_OOM(err);
    uuid_of_name(pname, parent);
    kiln_free(pname);
    int rc = kiln_buf_printf(&b, err, "{\"eventTime\":\"%s\",\"producer\":", now);
    if (!rc)
        rc = str(&b, OL_PRODUCER, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err,
                             ",\"schemaURL\":\"%s\",\"eventType\":\"%s\",\"run\":{\"runId\":\"%s\",\"facets\":{",
                             OL_SCHEMA, event_type, try_uuid);
    if (!rc)
        rc = facet_head(&b, "nominalTime",
                        "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
                        err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"nominalStartTime\":\"%s\",\"nominalEndTime\":\"%s\"},", is, ie);
    if (!rc)
        rc = facet_head(&b, "parent",
                        "https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet", err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"run\":{\"runId\":\"%s\"},\"job\":{\"namespace\":\"kiln\",\"name\":", parent);
    if (!rc)
        rc = str(&b, d->id, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "}}");
    if (!rc && error_msg) {
        rc = kiln_buf_putc(&b, ',', err);
        if (!rc)
            rc = facet_head(
                &b, "errorMessage",
                "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet", err);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ",\"message\":");
        if (!rc)
            rc = str(&b, error_msg, err);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ",\"programmingLanguage\":\"command\"}");
    }
    if (!rc)
        rc = kiln_buf_printf(&b, err, "}},\"job\":{\"namespace\":\"kiln\",\"name\":");
    if (!rc)
        rc = str(&b, job, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "},\"inputs\":");
    if (!rc)
        rc = datasets(&b, p, &t->consumes, &rctx, err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, ",\"outputs\":");
    if (!rc)
        rc = datasets(&b, p, &t->produces, &rctx, err);
    if (!rc && extra_outputs && *extra_outputs) { /* models.build's tables, facets included */
        b.len--;                                  /* the ']' */
        rc = kiln_buf_printf(&b, err, "%s%s]", t->produces.len ? "," : "", extra_outputs);
    }
    if (!rc)
        rc = kiln_buf_printf(&b, err, "}\n");
    if (!rc && p->lineage_url)
        rc = lineage_send(p, b.data, b.len, err);
    if (!rc && p->lineage_file) {
        int fd = open(p->lineage_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, b.data, b.len) != (ssize_t)b.len)
            rc = kiln_err_set(err, KILN_EIO, "lineage file %s: %s", p->lineage_file, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    kiln_buf_free(&b);
    return rc;
}
