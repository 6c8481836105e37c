/*
 * serve_http.c - the HTTP side of `kiln serve`: libmicrohttpd setup (thread
 * pool, keep-alive, timeouts, connection memory cap), body accumulation with
 * a hard size cap, routing by path segments, bearer-token checks, the
 * access log and response helpers shared by the handlers.
 *
 * DESIGN
 * Routes are a static table of (method, segment pattern, handler); a "*"
 * segment matches one path segment. Nothing maps a URL to a file: every
 * route is code, so there is no path to traverse, and "." / ".." / empty
 * segments are rejected before routing anyway. The route's pattern (not the
 * raw path) is the metrics label, so clients cannot blow up cardinality.
 *
 * Auth: GET/HEAD on a loopback listener are open; anything else needs
 * "Authorization: Bearer TOKEN", compared as SHA-256 digests with
 * CRYPTO_memcmp (constant time, no length leak). /hooks/github carries its
 * own HMAC signature instead (checked in serve_hooks.c).
 */
#include "flow/flow.h"
#include "serve/serve_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SERVE_DEFAULT_LISTEN "127.0.0.1:8080"
#define SERVE_DEFAULT_BODY ((size_t)16 << 20)

/* ------------------------------------------------------------------ routes */

#define ROUTE_HMAC 1u /* authenticated by the handler (webhook signature), not by bearer token */

typedef struct route {
    const char *method;
    const char *pattern; /* segments joined by '/', "*" = any one segment */
    const char *label;   /* metrics/access-log label */
    kiln_serve_handler fn;
    unsigned flags;
} route;

static int h_health(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    (void)rq;
    kiln_err err = {0};
    rs->status = 200;
    return kiln_buf_printf(&rs->body, &err, "{\"status\":\"ok\"}");
}

static const route routes[] = {
    {"GET", "", "/", kiln_serve__ui_page, 0},
    {"GET", "ui/app.js", "/ui/app.js", kiln_serve__ui_js, 0},
    {"GET", "ui/app.css", "/ui/app.css", kiln_serve__ui_css, 0},
    {"GET", "api/v1/tables", "/api/v1/tables", kiln_serve__api_tables, 0},
    {"GET", "api/v1/tables/*/*", "/api/v1/tables/{namespace}/{table}", kiln_serve__api_table, 0},
    {"GET", "api/v1/tables/*/*/preview", "/api/v1/tables/{namespace}/{table}/preview", kiln_serve__api_preview, 0},
    {"GET", "api/v1/dags", "/api/v1/dags", kiln_serve__api_dags, 0},
    {"GET", "api/v1/dags/*", "/api/v1/dags/{dag}", kiln_serve__api_dag, 0},
    {"GET", "api/v1/dags/*/runs", "/api/v1/dags/{dag}/runs", kiln_serve__api_runs, 0},
    {"POST", "api/v1/dags/*/runs", "/api/v1/dags/{dag}/runs", kiln_serve__api_trigger, 0},
    {"GET", "api/v1/dags/*/runs/*", "/api/v1/dags/{dag}/runs/{logical_date}", kiln_serve__api_run, 0},
    {"GET", "api/v1/dags/*/runs/*/tasks/*", "/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}", kiln_serve__api_task,
     0},
    {"GET", "api/v1/dags/*/runs/*/tasks/*/log", "/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/log",
     kiln_serve__api_log, 0},
    {"POST", "api/v1/dags/*/clear", "/api/v1/dags/{dag}/clear", kiln_serve__api_clear, 0},
    {"POST", "api/v1/dags/*/paused", "/api/v1/dags/{dag}/paused", kiln_serve__api_pause, 0},
    {"POST", "api/v1/dags/*/runs/*/tasks/*/state", "/api/v1/dags/{dag}/runs/{logical_date}/tasks/{task}/state",
     kiln_serve__api_mark, 0},
    {"GET", "api/v1/lineage", "/api/v1/lineage", kiln_serve__api_lineage, 0},
    {"GET", "api/v1/models", "/api/v1/models", kiln_serve__api_models, 0},
    {"GET", "api/v1/models/lineage", "/api/v1/models/lineage", kiln_serve__api_models_lineage, 0},
    {"GET", "docs", "/docs", kiln_serve__docs_page, 0},
    {"GET", "api/v1/openapi.json", "/api/v1/openapi.json", kiln_serve__api_openapi, 0},
    {"GET", "healthz", "/healthz", h_health, 0},
    {"GET", "metrics", "/metrics", kiln_serve__metrics, 0},
    {"POST", "hooks/github", "/hooks/github", kiln_serve__hook_github, ROUTE_HMAC},
    {"GET", "v1/config", "/v1/config", kiln_serve__cat_config, 0},
    {"GET", "v1/namespaces", "/v1/namespaces", kiln_serve__cat_ns_list, 0},
    {"POST", "v1/namespaces", "/v1/namespaces", kiln_serve__cat_ns_create, 0},
    {"GET", "v1/namespaces/*", "/v1/namespaces/{namespace}", kiln_serve__cat_ns_load, 0},
    {"HEAD", "v1/namespaces/*", "/v1/namespaces/{namespace}", kiln_serve__cat_ns_exists, 0},
    {"DELETE", "v1/namespaces/*", "/v1/namespaces/{namespace}", kiln_serve__cat_ns_drop, 0},
    {"POST", "v1/namespaces/*/properties", "/v1/namespaces/{namespace}/properties", kiln_serve__cat_ns_props, 0},
    {"GET", "v1/namespaces/*/tables", "/v1/namespaces/{namespace}/tables", kiln_serve__cat_tbl_list, 0},
    {"POST", "v1/namespaces/*/tables", "/v1/namespaces/{namespace}/tables", kiln_serve__cat_tbl_create, 0},
    {"GET", "v1/namespaces/*/tables/*", "/v1/namespaces/{namespace}/tables/{table}", kiln_serve__cat_tbl_load, 0},
    {"HEAD", "v1/namespaces/*/tables/*", "/v1/namespaces/{namespace}/tables/{table}", kiln_serve__cat_tbl_exists, 0},
    {"POST", "v1/namespaces/*/tables/*", "/v1/namespaces/{namespace}/tables/{table}", kiln_serve__cat_tbl_commit, 0},
    {"DELETE", "v1/namespaces/*/tables/*", "/v1/namespaces/{namespace}/tables/{table}", kiln_serve__cat_tbl_drop, 0},
    {"POST", "v1/namespaces/*/tables/*/metrics", "/v1/namespaces/{namespace}/tables/{table}/metrics",
     kiln_serve__cat_tbl_report, 0},
    {"POST", "v1/tables/rename", "/v1/tables/rename", kiln_serve__cat_tbl_rename, 0},
    {"POST", "v1/transactions/commit", "/v1/transactions/commit", kiln_serve__cat_txn_commit, 0},
    {"GET", "v1/namespaces/*/views", "/v1/namespaces/{namespace}/views", kiln_serve__cat_view_list, 0},
    {"POST", "v1/namespaces/*/views", "/v1/namespaces/{namespace}/views", kiln_serve__cat_view_create, 0},
    {"GET", "v1/namespaces/*/views/*", "/v1/namespaces/{namespace}/views/{view}", kiln_serve__cat_view_load, 0},
    {"HEAD", "v1/namespaces/*/views/*", "/v1/namespaces/{namespace}/views/{view}", kiln_serve__cat_view_exists, 0},
    {"POST", "v1/namespaces/*/views/*", "/v1/namespaces/{namespace}/views/{view}", kiln_serve__cat_view_commit, 0},
    {"DELETE", "v1/namespaces/*/views/*", "/v1/namespaces/{namespace}/views/{view}", kiln_serve__cat_view_drop, 0},
    {"POST", "v1/views/rename", "/v1/views/rename", kiln_serve__cat_view_rename, 0},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static int pattern_match(const char *pattern, char *const *segs, int nsegs)
{
    int i = 0;
    const char *p = pattern;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (i >= nsegs)
            return 0;
        if (!(n == 1 && p[0] == '*') && (strlen(segs[i]) != n || memcmp(segs[i], p, n) != 0))
            return 0;
        i++;
        p += n;
        if (*p == '/')
            p++;
    }
    return i == nsegs;
}

/* ------------------------------------------------------------------ helpers */

const char *kiln_serve__header(const kiln_serve_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *kiln_serve__query(const kiln_serve_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

int kiln_serve__error(kiln_serve_resp *rs, int status, const char *type, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kiln_err err = {0};
    kiln_buf_reset(&rs->body);
    rs->status = status;
    rs->content_type = "application/json";
    int rc = kiln_buf_printf(&rs->body, &err, "{\"error\":{\"message\":");
    if (!rc)
        rc = kiln_json_write_str(&rs->body, msg, strlen(msg), &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, ",\"type\":");
    if (!rc)
        rc = kiln_json_write_str(&rs->body, type, strlen(type), &err);
    if (!rc)
        rc = kiln_buf_printf(&rs->body, &err, ",\"code\":%d}}", status);
    return rc;
}

json_t *kiln_serve__body_json(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    json_error_t je;
    json_t *j = json_loadb(rq->body, rq->body_len, 0, &je);
    if (!j || !json_is_object(j)) {
        kiln_serve__error(rs, 400, "BadRequestException", "request body must be a JSON object%s%s", j ? "" : ": ",
                          j ? "" : je.text);
        json_decref(j);
        return NULL;
    }
    return j;
}

int kiln_serve__error_kiln(kiln_serve_resp *rs, const kiln_err *err, const char *notfound_type)
{
    switch (err->code) {
    case KILN_ENOTFOUND: return kiln_serve__error(rs, 404, notfound_type, "%s", err->msg);
    case KILN_EEXIST: return kiln_serve__error(rs, 409, "AlreadyExistsException", "%s", err->msg);
    case KILN_ECONFLICT: return kiln_serve__error(rs, 409, "CommitFailedException", "%s", err->msg);
    case KILN_EINVAL:
    case KILN_EFORMAT: return kiln_serve__error(rs, 400, "BadRequestException", "%s", err->msg);
    case KILN_EUNSUPP: return kiln_serve__error(rs, 406, "UnsupportedOperationException", "%s", err->msg);
    default: return kiln_serve__error(rs, 500, "ServerErrorException", "%s", err->msg);
    }
}

/* Constant-time bearer check: compare SHA-256 digests so neither the
 * content nor the length of the token leaks through timing. */
static int token_ok(const kiln_server *s, const char *authz)
{
    if (!s->token || !authz || strncmp(authz, "Bearer ", 7) != 0)
        return 0;
    uint8_t a[32], b[32];
    kiln_sha256 h;
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, authz + 7, strlen(authz + 7));
    kiln_sha256_final(&h, a);
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, s->token, strlen(s->token));
    kiln_sha256_final(&h, b);
    return CRYPTO_memcmp(a, b, 32) == 0;
}

/* ------------------------------------------------------------------ per-request state */

typedef struct conn_state {
    kiln_buf body;
    double t0;
    int too_big;        /* over max_body: the body is drained, then 413 */
    uint64_t discarded; /* bytes drained so far */
    int answered;       /* a response is queued before the body was read */
} conn_state;

static void access_log(const kiln_serve_req *rq, const char *label, int status, size_t nbytes, double secs)
{
    if (KILN_LOG_INFO < kiln_log_min)
        return;
    char remote[INET6_ADDRSTRLEN] = "-";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, remote, sizeof remote);
    kiln_err err = {0};
    kiln_buf path;
    kiln_buf_init(&path, 0);
    /* the path is client text: JSON-quote it so the line stays one parseable line */
    if (kiln_json_write_str(&path, rq->path, strlen(rq->path), &err) == 0 && kiln_buf_putc(&path, 0, &err) == 0)
        kiln_info("access method=%s route=%s path=%s status=%d bytes=%zu ms=%.2f remote=%s", rq->method, label,
                  path.data, status, nbytes, secs * 1e3, remote);
    kiln_buf_free(&path);
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, kiln_serve_resp *rs, int www_auth)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(rs->body.len, rs->body.data ? rs->body.data : (void *)"",
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", rs->content_type ? rs->content_type : "application/json");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (www_auth)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    if (rs->content_type && strncmp(rs->content_type, "text/html", 9) == 0) {
        /* the UI: same-origin scripts, styles and fetches only; never framed */
        MHD_add_response_header(r, "Content-Security-Policy",
                                rs->csp[0] ? rs->csp
                                           : "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
                                             "base-uri 'none'");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

static int split_path(kiln_serve_req *rq, const char *url)
{
    if (url[0] != '/')
        return -1;
    const char *p = url + 1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0) {
            if (!slash)
                break;
            return -1; /* "//" */
        }
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return -1;
        if (rq->nsegs == KILN_SERVE_MAX_SEGS)
            return -1;
        char *s = kiln_malloc(n + 1);
        if (!s)
            return -1;
        memcpy(s, p, n);
        s[n] = 0;
        int ctrl = 0;
        for (size_t i = 0; i < n; i++)
            ctrl |= (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
        if (ctrl || strchr(s, '\\')) {
            kiln_free(s);
            return -1;
        }
        rq->segs[rq->nsegs++] = s;
        p += n;
        if (*p == '/')
            p++;
    }
    return 0;
}

/* Percent-decoding for the path and query (MHD's unescape callback). A
 * %00 would end the C string MHD hands us, so "/ui/app.js%00.html" would
 * route as "/ui/app.js": it becomes a control byte instead, which
 * split_path refuses (400) like every other control character. */
static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r; r++) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0) {
            int v = hi << 4 | lo;
            *w++ = v ? (char)v : '\x01';
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

static enum MHD_Result dispatch(kiln_server *s, struct MHD_Connection *conn, const char *url, const char *method,
                                conn_state *cs)
{
    kiln_serve_req rq = {.srv = s, .conn = conn, .method = method, .path = url};
    kiln_serve_resp rs = {.status = 200, .content_type = "application/json"};
    kiln_buf_init(&rs.body, 0);
    const char *label = "other";
    int www_auth = 0;
    kiln_err err = {0};
    (void)err;
    rq.body = cs->body.data ? cs->body.data : ""; /* kiln_buf keeps data NUL-terminated */
    rq.body_len = cs->body.len;
    if (cs->too_big) {
        kiln_serve__error(&rs, 413, "BadRequestException", "request body is larger than the limit of %zu bytes",
                          s->max_body);
        goto respond;
    }
    if (split_path(&rq, url) != 0) {
        kiln_serve__error(&rs, 400, "BadRequestException", "malformed path");
        goto respond;
    }
    const route *rt = NULL;
    int path_known = 0;
    for (size_t i = 0; i < NROUTES; i++)
        if (pattern_match(routes[i].pattern, rq.segs, rq.nsegs)) {
            path_known = 1;
            label = routes[i].label;
            if (strcmp(routes[i].method, method) == 0) {
                rt = &routes[i];
                break;
            }
        }
    if (!rt) {
        if (path_known)
            kiln_serve__error(&rs, 405, "BadRequestException", "method %s not allowed here", method);
        else
            kiln_serve__error(&rs, 404, "NotFoundException", "no such endpoint");
        goto respond;
    }
    int is_read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (!(rt->flags & ROUTE_HMAC) && (!is_read || !s->loopback)) {
        if (!s->token) {
            www_auth = 1;
            kiln_serve__error(&rs, 401, "NotAuthorizedException",
                              "write requests need a bearer token, and this server was started without --token-file");
            goto respond;
        }
        if (!token_ok(s, kiln_serve__header(&rq, "Authorization"))) {
            www_auth = 1;
            kiln_serve__error(&rs, 401, "NotAuthorizedException", "missing or wrong bearer token");
            goto respond;
        }
    }
    if (rt->fn(&rq, &rs) != 0 && rs.status < 500)
        kiln_serve__error(&rs, 500, "ServerErrorException", "internal error");

respond:;
    enum MHD_Result ret = send_resp(conn, &rs, www_auth);
    double secs = kiln_mono_seconds() - cs->t0;
    kiln_serve__metrics_http(s->metrics, method, label, rs.status, secs);
    access_log(&rq, label, rs.status, rs.body.len, secs);
    for (int i = 0; i < rq.nsegs; i++)
        kiln_free(rq.segs[i]);
    kiln_buf_free(&rs.body);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    kiln_server *s = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = kiln_malloc(sizeof *cs);
        if (!cs)
            return MHD_NO;
        kiln_buf_init(&cs->body, 0);
        cs->t0 = kiln_mono_seconds();
        cs->too_big = 0;
        cs->discarded = 0;
        cs->answered = 0;
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
        if (cl && strtoull(cl, NULL, 10) > s->max_body) {
            cs->too_big = 1;
            /* With "Expect: 100-continue" the client waits for our answer
             * before sending the body: answer 413 now. Without it, a client
             * that is still sending when we close may never read an early
             * answer, so a body up to 4x the cap is drained and answered
             * after; a bigger one is answered at once and the connection
             * closed (the client may see only a reset). */
            if ((expect && strcasecmp(expect, "100-continue") == 0) || strtoull(cl, NULL, 10) / 4 > s->max_body) {
                cs->answered = 1;
                return dispatch(s, conn, url, method, cs);
            }
        }
        return MHD_YES;
    }
    if (cs->answered) { /* discard whatever still arrives */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        kiln_err err = {0};
        size_t n = *upload_size;
        *upload_size = 0;
        if (!cs->too_big && (cs->body.len + n > s->max_body || kiln_buf_append(&cs->body, upload_data, n, &err) != 0)) {
            cs->too_big = 1; /* a chunked body that grew past the cap */
            kiln_buf_free(&cs->body);
            kiln_buf_init(&cs->body, 0);
        }
        if (cs->too_big && (cs->discarded += n) / 4 > s->max_body) {
            cs->answered = 1; /* drained enough: answer and close */
            return dispatch(s, conn, url, method, cs);
        }
        return MHD_YES;
    }
    return dispatch(s, conn, url, method, cs);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    conn_state *cs = *con_cls;
    if (cs) {
        kiln_buf_free(&cs->body);
        kiln_free(cs);
        *con_cls = NULL;
    }
}

/* ------------------------------------------------------------------ lifecycle */

static int parse_listen(const char *listen, struct sockaddr_in *sa, kiln_err *err)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen)
        return kiln_err_set(err, KILN_EINVAL, "--listen %s: expected HOST:PORT (e.g. 127.0.0.1:8080)", listen);
    char host[64];
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof host)
        return kiln_err_set(err, KILN_EINVAL, "--listen %s: host too long", listen);
    memcpy(host, listen, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
        return kiln_err_set(err, KILN_EINVAL, "--listen %s: port must be 0..65535", listen);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return kiln_err_set(err, KILN_EINVAL, "--listen %s: host must be an IPv4 address or localhost", listen);
    return 0;
}

int kiln_serve_start(kiln_server **out, const kiln_serve_opts *o, kiln_err *err)
{
    int rc = 0;
    *out = NULL;
    struct sockaddr_in sa;
    if ((rc = parse_listen(o->listen ? o->listen : SERVE_DEFAULT_LISTEN, &sa, err)))
        return rc;
    kiln_server *s = kiln_malloc(sizeof *s);
    if (!s)
        return KILN_OOM(err);
    memset(s, 0, sizeof *s);
    s->loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    s->max_body = o->max_body ? o->max_body : SERVE_DEFAULT_BODY;
    if (!s->loopback && (!o->token || !*o->token)) {
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "listening on a non-loopback address needs a bearer token (--token-file): every request "
                          "is then authenticated");
        goto done;
    }
    struct stat st;
    /* an object-store warehouse (s3://) is reached through the lake at the
     * first request; a local one must exist */
    if (o->warehouse && strncmp(o->warehouse, "s3://", 5) != 0 &&
        (stat(o->warehouse, &st) != 0 || !S_ISDIR(st.st_mode))) {
        /* never create a warehouse by serving it: a typo would otherwise give
         * REST clients a fresh empty catalog to write to */
        rc =
            kiln_err_set(err, KILN_ENOTFOUND, "warehouse not found: %s (mkdir it to serve an empty one)", o->warehouse);
        goto done;
    }
    if (o->project_dir) {
        /* a project that does not load is a start-up error, not a stream of 404s */
        kiln_flow_project *p = NULL;
        if ((rc = kiln_flow_project_load(&p, o->project_dir, err)))
            goto done;
        kiln_flow_project_free(p);
    }
    if ((o->token && !(s->token = kiln_strdup(o->token))) ||
        (o->warehouse && !(s->warehouse = kiln_strdup(o->warehouse))) ||
        !(s->raw_dir = kiln_strdup(o->raw_dir ? o->raw_dir : "raw")) ||
        (o->webhook_secret && !(s->webhook_secret = kiln_strdup(o->webhook_secret))) ||
        (o->project_dir && !(s->project_dir = kiln_strdup(o->project_dir))) ||
        (o->self_exe && !(s->self_exe = kiln_strdup(o->self_exe))) ||
        (o->models_dir && !(s->models_dir = kiln_strdup(o->models_dir)))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_serve__metrics_new(&s->metrics, err)))
        goto done;
    if (s->webhook_secret && (rc = kiln_serve__hooks_open(&s->hooks, s->raw_dir, err)))
        goto done;
    unsigned threads = (unsigned)(o->threads > 0 ? o->threads : 4);
    unsigned timeout = (unsigned)(o->timeout_s > 0 ? o->timeout_s : 30);
    s->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
                              MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
                              on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
    if (!s->mhd) {
        rc = kiln_err_set(err, KILN_EIO, "cannot listen on %s (address in use or not permitted)",
                          o->listen ? o->listen : SERVE_DEFAULT_LISTEN);
        goto done;
    }
    if (o->ingest_every_s > 0 && (rc = kiln_serve__ingest_start(&s->ingest, s, o->ingest_every_s, err)))
        goto done;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : ntohs(sa.sin_port);
    *out = s;
    s = NULL;
done:
    kiln_serve_stop(s);
    return rc;
}

int kiln_serve_port(const kiln_server *s) { return s->port; }

void kiln_serve_stop(kiln_server *s)
{
    if (!s)
        return;
    if (s->mhd)
        MHD_stop_daemon(s->mhd); /* joins the pool: requests in flight finish first */
    kiln_serve__ingest_stop(s->ingest);
    kiln_serve__hooks_free(s->hooks);
    kiln_serve__metrics_free(s->metrics);
    kiln_free(s->token);
    kiln_free(s->warehouse);
    kiln_free(s->raw_dir);
    kiln_free(s->project_dir);
    kiln_free(s->self_exe);
    kiln_free(s->models_dir);
    if (s->webhook_secret) {
        OPENSSL_cleanse(s->webhook_secret, strlen(s->webhook_secret));
        kiln_free(s->webhook_secret);
    }
    kiln_free(s);
}

/* The scheduler's process for --scheduler: forked before the HTTP threads
 * exist, so it (and the runners it forks) start from a single-threaded
 * process and can never inherit a lock a request thread held at fork time.
 * Its own process group: a terminal's Ctrl-C reaches only the server, which
 * passes each signal on once. It dies with the server (PDEATHSIG). */
static int scheduler_fork(const kiln_serve_opts *o, const sigset_t *unblocked, pid_t *out, kiln_err *err)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return kiln_err_set(err, KILN_EIO, "cannot start the scheduler: fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        signal(SIGPIPE, SIG_DFL);
        pthread_sigmask(SIG_SETMASK, unblocked, NULL);
        kiln_flow_sched_opts so = {.progress = stderr};
        kiln_err e = {0};
        int rc = kiln_flow_scheduler(o->project_dir, &so, &e);
        if (rc)
            kiln_error("scheduler: %s", e.msg);
        fflush(NULL);
        _exit(rc ? 1 : 0);
    }
    setpgid(pid, pid);
    *out = pid;
    return 0;
}

int kiln_serve_run(const kiln_serve_opts *o, kiln_err *err)
{
    if (o->scheduler && !o->project_dir)
        return kiln_err_set(err, KILN_ECONFIG, "--scheduler needs a project (--project-dir, or ./dags)");
    /* Block the stop signals (and SIGCHLD, for the scheduler) before MHD
     * starts its threads (they inherit the mask), so only sigwait below
     * sees them. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (o->scheduler)
        sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    signal(SIGPIPE, SIG_IGN);
    kiln_server *s = NULL;
    pid_t sched = 0;
    int rc = 0;
    if (o->scheduler) {
        /* a project that does not load fails here, before anything runs */
        kiln_flow_project *p = NULL;
        if (!(rc = kiln_flow_project_load(&p, o->project_dir, err)))
            rc = scheduler_fork(o, &old, &sched, err);
        kiln_flow_project_free(p);
    }
    if (!rc)
        rc = kiln_serve_start(&s, o, err);
    if (rc) {
        if (sched > 0) {
            kill(sched, SIGTERM);
            waitpid(sched, NULL, 0);
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return rc;
    }
    const char *listen = o->listen ? o->listen : SERVE_DEFAULT_LISTEN;
    printf("kiln serve: listening on http://%.*s:%d\n", (int)(strrchr(listen, ':') - listen), listen, s->port);
    fflush(stdout);
    int sig = 0;
    if (!sched) {
        sigwait(&set, &sig);
        kiln_info("signal %d: stopping (finishing requests in flight)", sig);
    } else {
        /* SIGTERM/SIGINT go on to the scheduler (the first drains it, a
         * second stops its runs' tasks); the server stops once it ended */
        int status = 0, stopping = 0;
        for (;;) {
            sigwait(&set, &sig);
            if (sig == SIGCHLD) {
                pid_t w = waitpid(sched, &status, WNOHANG);
                if (w == sched)
                    break;
                continue;
            }
            stopping++;
            kiln_info("signal %d: %s the scheduler", sig, stopping == 1 ? "draining" : "stopping the runs of");
            kill(sched, sig);
        }
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        kiln_info("scheduler stopped (exit %d): stopping (finishing requests in flight)", code);
        if (!stopping || code != 0)
            rc = kiln_err_set(err, KILN_EIO, "the scheduler ended %s (exit %d)",
                              stopping ? "with an error" : "on its own", code);
    }
    kiln_serve_stop(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}
