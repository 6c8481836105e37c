/*
 * github.c - the GitHub REST client and `ingest github-events` (see
 * ingest.h).
 *
 * DESIGN
 * - Every request goes through the one HTTP client (net/http.h) with a
 *   classify callback that turns GitHub's rate-limit answers into waits:
 *   403/429 with X-RateLimit-Remaining 0 waits until X-RateLimit-Reset (+1 s),
 *   403/429 with Retry-After waits that long, a 403/429 whose body names a
 *   secondary rate limit waits KILN_GITHUB_SECONDARY_WAIT_MS (default 60 s).
 *   Other 4xx are answers for the caller, 5xx/408/connection errors are the
 *   client's default retries (backoff with jitter).
 * - A 2xx answer with Remaining 0 makes the next request wait for Reset
 *   before it is sent (no request is wasted on a certain 403).
 * - The cache (optional) lives on an object store: the meta object holds the
 *   URL, ETag and Link of the last 200; the body is stored under the URL's
 *   and the ETag's hashes, so a body is never replaced in place.
 * - The budget counts attempts (requests on the wire); a request gets at
 *   most the attempts left in the budget.
 * - The token is put in one header line built per request and wiped after;
 *   messages carry URLs only (redacted by the client).
 * - Not thread-safe: one kiln_github per thread.
 */
#include "ingest/ingest.h"
#include "net/http.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

struct kiln_github {
    kiln_github_opts o;
    char *api_url;
    char *auth; /* "Authorization: Bearer ..." or NULL */
    kiln_http *http;
    kiln_store *cache;
    kiln_github_stats st;
    long secondary_wait_ms;
    int last_kind; /* what the last classify saw: 0 none, 1 primary, 2 secondary */
};

static long env_long(const char *k, long dflt)
{
    const char *v = getenv(k);
    if (!v || !*v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *end || x < 0 ? dflt : x;
}

int kiln_github_open(kiln_github **out, const kiln_github_opts *o, kiln_err *err)
{
    kiln_github *g = kiln_calloc(1, sizeof *g);
    if (!g)
        return KILN_OOM(err);
    if (o)
        g->o = *o;
    if (g->o.budget <= 0)
        g->o.budget = 1000;
    if (g->o.max_attempts <= 0)
        g->o.max_attempts = 6;
    if (g->o.retry_base_ms <= 0)
        g->o.retry_base_ms = env_long("KILN_GITHUB_RETRY_BASE_MS", 1000);
    if (g->o.max_wait_ms <= 0)
        g->o.max_wait_ms = 3900000;
    if (g->o.timeout_ms <= 0)
        g->o.timeout_ms = 60000;
    g->secondary_wait_ms = env_long("KILN_GITHUB_SECONDARY_WAIT_MS", 60000);
    g->st.rate_remaining = -1;
    const char *api = g->o.api_url ? g->o.api_url : getenv("KILN_GITHUB_API_URL");
    if (!api || !*api)
        api = "https://api.github.com";
    int rc = 0;
    if (strncasecmp(api, "http://", 7) != 0 && strncasecmp(api, "https://", 8) != 0) {
        rc = kiln_err_set(err, KILN_ECONFIG, "GitHub API URL \"%s\": expected http(s)://host[:port][/path]", api);
        goto fail;
    }
    size_t l = strlen(api);
    while (l && api[l - 1] == '/')
        l--;
    g->api_url = kiln_strndup(api, l);
    const char *tok = g->o.token ? g->o.token : getenv("GITHUB_TOKEN");
    if (tok && *tok) {
        for (const char *p = tok; *p; p++)
            if ((unsigned char)*p < 0x21 || *p == 0x7f) {
                rc = kiln_err_set(err, KILN_ECONFIG, "GITHUB_TOKEN holds a space or control character");
                goto fail;
            }
        g->auth = kiln_sprintf("Authorization: Bearer %s", tok);
        if (!g->auth) {
            rc = KILN_OOM(err);
            goto fail;
        }
    }
    g->o.token = NULL;
    kiln_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.timeout_ms = g->o.timeout_ms;
    ho.max_attempts = g->o.max_attempts;
    ho.retry_base_ms = g->o.retry_base_ms;
    ho.retry_cap_ms = 60000;
    ho.retry_after_max_ms = g->o.max_wait_ms;
    ho.follow_redirects = 1; /* renamed repositories answer 301 */
    ho.user_agent = "kiln/" KILN_VERSION " (ingest github)";
    if (!g->api_url) {
        rc = KILN_OOM(err);
        goto fail;
    }
    if ((rc = kiln_http_new(&g->http, &ho, err)))
        goto fail;
    if (g->o.cache && (rc = kiln_store_open(&g->cache, g->o.cache, NULL, err)))
        goto fail;
    g->o.cache = NULL;
    g->o.api_url = NULL;
    *out = g;
    return 0;
fail:
    kiln_github_close(g);
    return rc;
}

void kiln_github_close(kiln_github *g)
{
    if (!g)
        return;
    if (g->auth) {
        memset(g->auth, 0, strlen(g->auth));
        kiln_free(g->auth);
    }
    kiln_http_free(g->http);
    kiln_store_free(g->cache);
    kiln_free(g->api_url);
    kiln_free(g);
}

void kiln_github_stats_get(const kiln_github *g, kiln_github_stats *out) { *out = g->st; }

/* ------------------------------------------------------------ rate limits */

static void note_limits(kiln_github *g, const kiln_http_resp *r)
{
    const char *v;
    if ((v = kiln_http_header(r, "X-RateLimit-Remaining")))
        g->st.rate_remaining = strtol(v, NULL, 10);
    if ((v = kiln_http_header(r, "X-RateLimit-Reset")))
        g->st.rate_reset = strtoll(v, NULL, 10);
    if ((v = kiln_http_header(r, "X-Poll-Interval")))
        g->st.poll_interval_s = strtol(v, NULL, 10);
}

static int secondary_body(const kiln_http_resp *r)
{
    return r->body.len && (memmem(r->body.data, r->body.len, "secondary rate limit", 20) ||
                           memmem(r->body.data, r->body.len, "abuse detection", 15));
}

static long gh_classify(void *ctx, const kiln_http_resp *r)
{
    kiln_github *g = ctx;
    note_limits(g, r);
    g->last_kind = 0;
    if (r->status != 403 && r->status != 429)
        return r->status == 304 ? -1 : 0;
    const char *rem = kiln_http_header(r, "X-RateLimit-Remaining");
    long ra = kiln_http_retry_after_ms(r);
    if (ra >= 0 || secondary_body(r)) {
        g->last_kind = 2;
        long w = ra >= 0 ? ra : g->secondary_wait_ms;
        if (w > g->o.max_wait_ms)
            return -1;
        g->st.secondary_waits++;
        return w > 0 ? w : 1;
    }
    if (rem && !strcmp(rem, "0")) {
        g->last_kind = 1;
        int64_t reset = g->st.rate_reset;
        long w = (long)((reset - (int64_t)time(NULL)) * 1000) + 1000;
        if (w > g->o.max_wait_ms)
            return -1;
        g->st.rate_waits++;
        return w > 0 ? w : 1;
    }
    return r->status == 429 ? 0 : -1; /* a plain 403 is an answer */
}

/* ------------------------------------------------------------ cache */

static char *cache_meta_key(const char *url)
{
    char h[65];
    kiln_sha256_hex(url, strlen(url), h);
    return kiln_sprintf("github-cache/%s.meta.json", h);
}

static char *cache_body_key(const char *url, const char *etag)
{
    char h[65], e[65];
    kiln_sha256_hex(url, strlen(url), h);
    kiln_sha256_hex(etag, strlen(etag), e);
    return kiln_sprintf("github-cache/%s/%.32s.json", h, e);
}

typedef struct cached {
    char etag[200];
    char *link_next;
} cached;

static int cache_load(kiln_github *g, const char *url, cached *c)
{
    memset(c, 0, sizeof *c);
    if (!g->cache)
        return 0;
    char *k = cache_meta_key(url), *data = NULL;
    size_t n = 0;
    int have = 0;
    if (k && kiln_store_get(g->cache, k, 0, -1, 1 << 20, &data, &n, NULL) == 0) {
        json_t *m = json_loadb(data, n, 0, NULL);
        const char *u = m ? json_string_value(json_object_get(m, "url")) : NULL;
        const char *e = m ? json_string_value(json_object_get(m, "etag")) : NULL;
        const char *l = m ? json_string_value(json_object_get(m, "next")) : NULL;
        if (u && e && !strcmp(u, url) && strlen(e) < sizeof c->etag) {
            snprintf(c->etag, sizeof c->etag, "%s", e);
            c->link_next = l ? kiln_strdup(l) : NULL;
            have = 1;
        }
        json_decref(m);
    }
    kiln_free(data);
    kiln_free(k);
    return have;
}

static void cache_save(kiln_github *g, const char *url, const char *etag, const char *next, const char *body, size_t n)
{
    if (!g->cache || !etag[0])
        return;
    char *bk = cache_body_key(url, etag), *mk = cache_meta_key(url);
    kiln_err e = {0};
    if (bk && mk && kiln_store_put(g->cache, bk, body, n, &e) == 0) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        int rc = kiln_buf_printf(&b, &e, "{\"url\":");
        rc = rc ? rc : kiln_json_write_str(&b, url, strlen(url), &e);
        rc = rc ? rc : kiln_buf_printf(&b, &e, ",\"etag\":");
        rc = rc ? rc : kiln_json_write_str(&b, etag, strlen(etag), &e);
        if (!rc && next) {
            rc = kiln_buf_printf(&b, &e, ",\"next\":");
            rc = rc ? rc : kiln_json_write_str(&b, next, strlen(next), &e);
        }
        rc = rc ? rc : kiln_buf_printf(&b, &e, "}\n");
        if (!rc)
            rc = kiln_store_put(g->cache, mk, b.data, b.len, &e);
        kiln_buf_free(&b);
    }
    if (e.msg[0])
        kiln_warn("github cache: %s (the answer is used, not cached)", e.msg);
    kiln_free(bk);
    kiln_free(mk);
}

/* ------------------------------------------------------------ GET */

int kiln_github_get(kiln_github *g, const char *path_or_url, long *status, char **body, size_t *n, char **next,
                    int *from_cache, kiln_err *err)
{
    *status = 0;
    *body = NULL;
    *n = 0;
    *next = NULL;
    *from_cache = 0;
    char *url = strstr(path_or_url, "://")
                    ? kiln_strdup(path_or_url)
                    : kiln_sprintf("%s%s%s", g->api_url, path_or_url[0] == '/' ? "" : "/", path_or_url);
    if (!url)
        return KILN_OOM(err);
    char *rurl = kiln_http_redact(url);
    int rc = 0;
    cached c;
    memset(&c, 0, sizeof c);
    kiln_http_resp r;
    kiln_http_resp_init(&r);
    int64_t left = g->o.budget - (int64_t)g->st.requests;
    if (left <= 0) {
        rc = kiln_err_set(err, KILN_ELIMIT, "GET %s: the request budget of %lld for this run is spent", rurl,
                          (long long)g->o.budget);
        goto out;
    }
    /* the last answer said the limit is spent: wait for the reset first */
    if (g->st.rate_remaining == 0) {
        int64_t now = (int64_t)time(NULL);
        long w = g->st.rate_reset > now ? (long)((g->st.rate_reset - now) * 1000) + 1000 : 0;
        if (w > g->o.max_wait_ms) {
            rc = kiln_err_set(err, KILN_EIO,
                              "GET %s: the GitHub rate limit is spent until %lld (epoch s), more than the %ld s "
                              "allowed to wait",
                              rurl, (long long)g->st.rate_reset, g->o.max_wait_ms / 1000);
            goto out;
        }
        if (w > 0) {
            kiln_info("github: rate limit spent; waiting %ld s for the reset", w / 1000);
            g->st.rate_waits++;
            kiln_http_sleep_ms(w);
        }
        g->st.rate_remaining = -1;
    }
    cache_load(g, url, &c);
    const char *hv[5];
    size_t nh = 0;
    char inm[256];
    hv[nh++] = "Accept: application/vnd.github+json";
    hv[nh++] = "X-GitHub-Api-Version: 2022-11-28";
    if (g->auth)
        hv[nh++] = g->auth;
    if (c.etag[0]) {
        snprintf(inm, sizeof inm, "If-None-Match: %s", c.etag);
        hv[nh++] = inm;
    }
    kiln_http_req q;
    kiln_http_req_init(&q, "GET", url);
    q.headers = hv;
    q.nheaders = nh;
    q.classify = gh_classify;
    q.classify_ctx = g;
    q.body_cap = (size_t)64 << 20;
    q.max_attempts = left < g->o.max_attempts ? (int)left : g->o.max_attempts;
    rc = kiln_http_do(g->http, &q, &r, err);
    g->st.requests += (uint64_t)r.attempts;
    if (r.attempts > 1)
        g->st.retries += (uint64_t)r.attempts - 1;
    g->st.bytes_in += r.bytes_in;
    note_limits(g, &r);
    if (rc)
        goto out;
    *status = r.status;
    if (r.status == 304 && c.etag[0]) {
        char *bk = cache_body_key(url, c.etag);
        rc = bk ? kiln_store_get(g->cache, bk, 0, -1, 0, body, n, err) : KILN_OOM(err);
        kiln_free(bk);
        if (rc) {
            kiln_err_prefix(err, "GET %s: 304, but the cached body is unreadable: ", rurl);
            goto out;
        }
        g->st.not_modified++;
        *status = 200;
        *from_cache = 1;
        *next = c.link_next;
        c.link_next = NULL;
        goto out;
    }
    if ((r.status == 403 || r.status == 429) && g->last_kind) {
        if (g->last_kind == 1)
            rc = kiln_err_set(err, KILN_EIO,
                              "GET %s: HTTP %ld: the GitHub rate limit is spent until %lld (epoch s) (after %d "
                              "attempt%s; waits longer than %ld s are not made)",
                              rurl, r.status, (long long)g->st.rate_reset, r.attempts, r.attempts == 1 ? "" : "s",
                              g->o.max_wait_ms / 1000);
        else
            rc = kiln_err_set(err, KILN_EIO, "GET %s: HTTP %ld: secondary rate limit, still limited after %d attempt%s",
                              rurl, r.status, r.attempts, r.attempts == 1 ? "" : "s");
        goto out;
    }
    if (r.status == 401) {
        rc = kiln_err_set(err, KILN_ECONFIG, "GET %s: 401 Bad credentials: %s", rurl,
                          g->auth ? "GitHub rejected the token: check GITHUB_TOKEN"
                                  : "the API wants a token: set GITHUB_TOKEN");
        goto out;
    }
    if (r.status >= 500) {
        rc = kiln_err_set(err, KILN_EIO, "GET %s: HTTP %ld (after %d attempt%s)", rurl, r.status, r.attempts,
                          r.attempts == 1 ? "" : "s");
        goto out;
    }
    if (r.status >= 200 && r.status < 300) {
        *next = kiln_http_link(&r, "next");
        char etag[200];
        kiln_http_etag(&r, etag, sizeof etag, 0);
        cache_save(g, url, etag, *next, r.body.data ? r.body.data : "", r.body.len);
        if (!r.body.data && kiln_buf_reserve(&r.body, 1, err) != 0) {
            rc = KILN_OOM(err);
            goto out;
        }
        r.body.data[r.body.len] = 0;
        *body = kiln_buf_detach(&r.body, n);
    }
out:
    kiln_free(c.link_next);
    kiln_http_resp_free(&r);
    kiln_free(rurl);
    kiln_free(url);
    return rc;
}

/* ------------------------------------------------------------ gzip in memory */

static int gz_pack(const char *p, size_t n, kiln_buf *out, kiln_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return kiln_err_set(err, KILN_ENOMEM, "zlib init failed");
    size_t bound = deflateBound(&z, (uLong)n) + 64;
    int rc = kiln_buf_reserve(out, bound, err);
    if (!rc) {
        z.next_in = (Bytef *)p;
        z.avail_in = (uInt)n;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            rc = kiln_err_set(err, KILN_EINTERNAL, "gzip: deflate did not finish");
        else
            out->len += z.total_out;
    }
    deflateEnd(&z);
    return rc;
}

static int gz_unpack(const char *p, size_t n, kiln_buf *out, kiln_err *err)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return kiln_err_set(err, KILN_ENOMEM, "zlib init failed");
    z.next_in = (Bytef *)p;
    z.avail_in = (uInt)n;
    int rc = 0;
    for (;;) {
        if ((rc = kiln_buf_reserve(out, 1 << 16, err)))
            break;
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = 1 << 16;
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len = (size_t)((char *)z.next_out - out->data);
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0)
                break;
            inflateReset(&z);
            continue;
        }
        if (zr != Z_OK) {
            rc = kiln_err_set(err, KILN_EFORMAT, "not a whole gzip stream");
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

/* ------------------------------------------------------------ github-events */

static int64_t ev_id(json_t *e)
{
    json_t *id = json_object_get(e, "id");
    if (json_is_string(id))
        return strtoll(json_string_value(id), NULL, 10);
    return json_is_integer(id) ? (int64_t)json_integer_value(id) : -1;
}

static const char *ev_created(json_t *e)
{
    const char *s = json_string_value(json_object_get(e, "created_at"));
    return s && strlen(s) >= 13 ? s : NULL;
}

static int ev_cmp(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(ev_created(x), ev_created(y));
    if (c)
        return c;
    int64_t i = ev_id(x), j = ev_id(y);
    return i < j ? -1 : i > j;
}

static int user_ok(const char *u)
{
    size_t n = strlen(u);
    if (!n || n > 39 || u[0] == '-')
        return 0;
    for (const char *p = u; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
              *p == '_' || *p == '[' || *p == ']'))
            return 0;
    return 1;
}

/* ids (as int64) of the events in a landed hour file */
static int landed_ids(kiln_store *s, const char *key, kiln_i64set *ids, kiln_err *err)
{
    char *data = NULL;
    size_t n = 0;
    int rc = kiln_store_get(s, key, 0, -1, 0, &data, &n, err);
    kiln_buf raw;
    kiln_buf_init(&raw, 0);
    if (!rc)
        rc = gz_unpack(data, n, &raw, err);
    for (char *p = raw.data, *nl; !rc && p && p < raw.data + raw.len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(raw.data + raw.len - p));
        if (!nl)
            nl = raw.data + raw.len;
        json_t *e = json_loadb(p, (size_t)(nl - p), 0, NULL);
        if (e && kiln_i64set_add(ids, ev_id(e), err) < 0)
            rc = KILN_ENOMEM;
        json_decref(e);
    }
    kiln_buf_free(&raw);
    kiln_free(data);
    return rc;
}

int kiln_ingest_github_events(const kiln_ingest_gh_events_opts *o, kiln_ingest_gh_events_report *rep, kiln_err *err)
{
    memset(rep, 0, sizeof *rep);
    if (!o->user || !user_ok(o->user))
        return kiln_err_set(err, KILN_EINVAL, "--user %s: not a GitHub login (letters, digits, '-', at most 39)",
                            o->user ? o->user : "");
    int per_page = o->per_page > 0 ? o->per_page : 100;
    if (per_page > 100)
        per_page = 100;
    int max_events = o->max_events > 0 ? o->max_events : 300;
    kiln_github *g = NULL;
    kiln_store *s = NULL;
    json_t *all = json_array(), *state = NULL;
    kiln_i64set *seen = kiln_i64set_new();
    char *next = NULL, *url = NULL, *state_key = NULL;
    json_t **evs = NULL;
    int rc = 0;
    kiln_github_opts ao = o->api;
    if (!ao.cache)
        ao.cache = o->out; /* the cache lives beside the raw zone */
    if (!all || !seen) {
        rc = KILN_OOM(err);
        goto out;
    }
    if ((rc = kiln_store_open(&s, o->out, NULL, err)) || (rc = kiln_github_open(&g, &ao, err)))
        goto out;
    state_key = kiln_sprintf("github-events/user=%s/_state.json", o->user);
    url = kiln_sprintf("/users/%s/events?per_page=%d", o->user, per_page);
    if (!state_key || !url) {
        rc = KILN_OOM(err);
        goto out;
    }
    {
        char *data = NULL;
        size_t n = 0;
        int gr = kiln_store_get(s, state_key, 0, -1, 1 << 20, &data, &n, err);
        if (gr == 0)
            state = json_loadb(data, n, 0, NULL);
        kiln_free(data);
        if (gr && gr != KILN_ENOTFOUND) {
            rc = gr;
            goto out;
        }
        kiln_err_clear(err);
    }
    int64_t prev_newest = state ? (int64_t)json_integer_value(json_object_get(state, "newest_id")) : 0;
    int reached_prev = 0;
    const char *cur = url;
    while (cur && (int)json_array_size(all) < max_events && rep->pages < 10) {
        long status;
        char *body = NULL;
        size_t n;
        int fc;
        char *nx = NULL;
        if ((rc = kiln_github_get(g, cur, &status, &body, &n, &nx, &fc, err)))
            goto out;
        rep->pages++;
        if (status == 404) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "GitHub user %s: not found (404)", o->user);
            kiln_free(nx);
            goto out;
        }
        if (status < 200 || status >= 300) {
            rc = kiln_err_set(err, KILN_EIO, "GET /users/%s/events: HTTP %ld", o->user, status);
            kiln_free(nx);
            goto out;
        }
        json_error_t je;
        json_t *arr = json_loadb(body, n, 0, &je);
        kiln_free(body);
        if (!json_is_array(arr)) {
            json_decref(arr);
            kiln_free(nx);
            rc = kiln_err_set(err, KILN_EFORMAT, "GET /users/%s/events page %d: not a JSON array", o->user, rep->pages);
            goto out;
        }
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            int64_t id = ev_id(e);
            if (id < 0 || !ev_created(e)) {
                json_decref(arr);
                kiln_free(nx);
                rc = kiln_err_set(err, KILN_EFORMAT, "an event without id or created_at on page %d", rep->pages);
                goto out;
            }
            if (prev_newest && id <= prev_newest)
                reached_prev = 1;
            if (kiln_i64set_has(seen, id) || (int)json_array_size(all) >= max_events)
                continue;
            if ((rc = kiln_i64set_add(seen, id, err)) < 0 || json_array_append(all, e)) {
                json_decref(arr);
                kiln_free(nx);
                rc = rc < 0 ? rc : KILN_OOM(err);
                goto out;
            }
            rc = 0;
        }
        json_decref(arr);
        kiln_free(next);
        next = nx;
        cur = next;
    }
    size_t ne = json_array_size(all);
    rep->events = (int)ne;
    rep->gap = prev_newest && !reached_prev && ne > 0;
    evs = kiln_calloc(ne ? ne : 1, sizeof *evs);
    if (!evs) {
        rc = KILN_OOM(err);
        goto out;
    }
    for (size_t i = 0; i < ne; i++)
        evs[i] = json_array_get(all, i);
    kiln_sort(evs, ne, sizeof *evs, ev_cmp);
    if (ne) {
        snprintf(rep->oldest, sizeof rep->oldest, "%s", ev_created(evs[0]));
        snprintf(rep->newest, sizeof rep->newest, "%s", ev_created(evs[ne - 1]));
    }
    int64_t newest_landed = prev_newest;
    char newest_at[32] = "";
    if (state && json_string_value(json_object_get(state, "newest_created_at")))
        snprintf(newest_at, sizeof newest_at, "%s", json_string_value(json_object_get(state, "newest_created_at")));
    time_t now = time(NULL);
    for (size_t a = 0; a < ne;) {
        const char *ca = ev_created(evs[a]);
        size_t b = a + 1;
        while (b < ne && !strncmp(ev_created(evs[b]), ca, 13))
            b++;
        /* the hour "YYYY-MM-DDTHH" */
        int64_t day;
        int hour = atoi(ca + 11);
        if (kiln_date_parse(ca, 10, &day) != 0) {
            rc = kiln_err_set(err, KILN_EFORMAT, "event %lld: created_at %s is not a date", (long long)ev_id(evs[a]),
                              ca);
            goto out;
        }
        char d[11];
        kiln_date_format(day, d);
        if ((int64_t)now < (day * 86400 + hour * 3600 + 3600 + 600)) {
            /* the hour may still grow: land it once it is over */
            rep->events_not_landed += (int)(b - a);
            a = b;
            continue;
        }
        char *key =
            kiln_sprintf("github-events/user=%s/gharchive/date=%s/hour=%d/%s-%d.json.gz", o->user, d, hour, d, hour);
        if (!key) {
            rc = KILN_OOM(err);
            goto out;
        }
        kiln_store_info info;
        int hr = kiln_store_head(s, key, &info, NULL);
        if (hr == 0) {
            kiln_i64set *ids = kiln_i64set_new();
            rc = ids ? landed_ids(s, key, ids, err) : KILN_OOM(err);
            int missing = 0;
            for (size_t k = a; k < b && !rc; k++)
                missing += !kiln_i64set_has(ids, ev_id(evs[k]));
            kiln_i64set_free(ids);
            if (rc) {
                kiln_err_prefix(err, "%s: ", key);
                kiln_free(key);
                goto out;
            }
            if (missing) {
                rep->hours_partial++;
                rep->events_not_landed += missing;
                kiln_warn("%s: already landed without %d event(s) the API now lists (write-once: kept as is)", key,
                          missing);
            } else {
                rep->hours_unchanged++;
            }
        } else {
            kiln_buf lines, gz;
            kiln_buf_init(&lines, 0);
            kiln_buf_init(&gz, 0);
            for (size_t k = a; k < b && !rc; k++) {
                char *js = json_dumps(evs[k], JSON_COMPACT | JSON_PRESERVE_ORDER);
                rc = js ? kiln_buf_printf(&lines, err, "%s\n", js) : KILN_OOM(err);
                free(js);
            }
            if (!rc)
                rc = gz_pack(lines.data ? lines.data : "", lines.len, &gz, err);
            if (!rc) {
                rc = kiln_store_create(s, key, gz.data, gz.len, err);
                if (rc == KILN_EEXIST) { /* another run landed it meanwhile */
                    kiln_err_clear(err);
                    rc = 0;
                    rep->hours_unchanged++;
                } else if (!rc) {
                    rep->hours_landed++;
                }
            }
            kiln_buf_free(&lines);
            kiln_buf_free(&gz);
            if (rc) {
                kiln_free(key);
                goto out;
            }
        }
        kiln_free(key);
        if (ev_id(evs[b - 1]) > newest_landed) {
            newest_landed = ev_id(evs[b - 1]);
            snprintf(newest_at, sizeof newest_at, "%s", ev_created(evs[b - 1]));
        }
        a = b;
    }
    if (newest_landed != prev_newest) {
        kiln_buf sb;
        kiln_buf_init(&sb, 0);
        rc = kiln_buf_printf(&sb, err, "{\"user\":");
        rc = rc ? rc : kiln_json_write_str(&sb, o->user, strlen(o->user), err);
        rc =
            rc ? rc : kiln_buf_printf(&sb, err, ",\"newest_id\":%lld,\"newest_created_at\":", (long long)newest_landed);
        rc = rc ? rc : kiln_json_write_str(&sb, newest_at, strlen(newest_at), err);
        rc = rc ? rc : kiln_buf_printf(&sb, err, "}\n");
        if (!rc)
            rc = kiln_store_put(s, state_key, sb.data, sb.len, err);
        kiln_buf_free(&sb);
    }
out:
    if (g)
        kiln_github_stats_get(g, &rep->stats);
    kiln_free(evs);
    kiln_free(next);
    kiln_free(url);
    kiln_free(state_key);
    json_decref(all);
    json_decref(state);
    kiln_i64set_free(seen);
    kiln_github_close(g);
    kiln_store_free(s);
    return rc;
}

/* ------------------------------------------------------------ follow */

static volatile sig_atomic_t follow_stop;

static void follow_signal(int sig)
{
    (void)sig;
    follow_stop = 1;
}

int kiln_ingest_github_events_follow(const kiln_ingest_gh_events_opts *o, int rounds, long min_interval_s,
                                     kiln_ingest_round_fn on_round, void *ctx, int *nrounds, kiln_err *err)
{
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = follow_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    follow_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = 0, n = 0;
    for (;;) {
        kiln_ingest_gh_events_report rep;
        kiln_err e = {0};
        rc = kiln_ingest_github_events(o, &rep, &e);
        n++;
        if (on_round)
            on_round(ctx, n, &rep, rc, &e);
        if (rc && rc != KILN_EIO) {
            if (err)
                *err = e;
            break;
        }
        if (rc)
            kiln_warn("ingest github-events --follow: round %d failed (%s); trying again at the next round", n, e.msg);
        rc = 0;
        if ((rounds > 0 && n >= rounds) || follow_stop)
            break;
        long wait_s = rep.stats.poll_interval_s > min_interval_s ? rep.stats.poll_interval_s : min_interval_s;
        kiln_debug("ingest github-events --follow: next round in %ld s", wait_s);
        for (long ms = wait_s * 1000; ms > 0 && !follow_stop; ms -= 100)
            kiln_http_sleep_ms(ms < 100 ? ms : 100);
        if (follow_stop)
            break;
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    *nrounds = n;
    return rc;
}
