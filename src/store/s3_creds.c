/*
 * s3_creds.c - temporary S3 credentials from where AWS runs a process: a
 * container's credentials endpoint (ECS/EKS Pod Identity), a web identity
 * token exchanged at STS (EKS IRSA, GitHub Actions OIDC), or the EC2
 * instance metadata service (IMDSv2). Used by store_s3.c when neither the
 * options, the environment (AWS_ACCESS_KEY_ID/...), nor a profile of the
 * shared credentials file gave keys.
 *
 * DESIGN
 * - Which source applies is decided when the store opens, from the
 *   environment only (no I/O, as store.h promises):
 *     AWS_CONTAINER_CREDENTIALS_FULL_URI, or _RELATIVE_URI (on
 *       http://169.254.170.2), with AWS_CONTAINER_AUTHORIZATION_TOKEN or
 *       AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE as the Authorization header;
 *     AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (AWS_ROLE_SESSION_NAME):
 *       STS AssumeRoleWithWebIdentity, an unsigned request, at
 *       https://sts.REGION.amazonaws.com or AWS_ENDPOINT_URL_STS;
 *     else IMDSv2 at http://169.254.169.254 (AWS_EC2_METADATA_SERVICE_ENDPOINT
 *       overrides it), unless AWS_EC2_METADATA_DISABLED=true: a session
 *       token (PUT /latest/api/token), the role name, then its keys.
 * - The keys are fetched at the first request and again when less than five
 *   minutes of their validity are left (a mutex: one fetch at a time).
 * - Secrets are never logged; errors name the source and its URL only.
 */
#include "store/store_int.h"

#include "net/http.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *env(const char *k)
{
    const char *v = getenv(k);
    return v && *v ? v : NULL;
}

const char *kiln_s3__cred_source_name(int src)
{
    switch (src) {
    case KILN_S3_CRED_CONTAINER: return "the container credentials endpoint";
    case KILN_S3_CRED_WEBID: return "STS AssumeRoleWithWebIdentity";
    case KILN_S3_CRED_IMDS: return "the EC2 instance metadata service";
    default: return "static keys";
    }
}

int kiln_s3__cred_source(void)
{
    if (env("AWS_CONTAINER_CREDENTIALS_FULL_URI") || env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
        return KILN_S3_CRED_CONTAINER;
    if (env("AWS_WEB_IDENTITY_TOKEN_FILE") && env("AWS_ROLE_ARN"))
        return KILN_S3_CRED_WEBID;
    const char *off = env("AWS_EC2_METADATA_DISABLED");
    if (off && !strcasecmp(off, "true"))
        return KILN_S3_CRED_NONE;
    return KILN_S3_CRED_IMDS;
}

/* a small, short-timeout client: these endpoints are local or near */
static int client(kiln_http **out, kiln_err *err)
{
    kiln_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.timeout_ms = 5000;
    ho.connect_timeout_ms = 1000;
    ho.max_attempts = 3;
    ho.retry_base_ms = 100;
    ho.retry_cap_ms = 1000;
    return kiln_http_new(out, &ho, err);
}

static int fetch(kiln_http *h, const char *method, const char *url, const char *const *hdrs, size_t nh, kiln_buf *out,
                 const char *what, kiln_err *err)
{
    kiln_http_req q;
    kiln_http_req_init(&q, method, url);
    q.headers = hdrs;
    q.nheaders = nh;
    q.body_cap = 1 << 20;
    kiln_http_resp rs;
    kiln_http_resp_init(&rs);
    int rc = kiln_http_do(h, &q, &rs, err);
    if (rc) {
        kiln_err_prefix(err, "S3 credentials from %s: ", what);
        rc = KILN_ECONFIG;
        if (err)
            err->code = rc;
    } else if (rs.status < 200 || rs.status >= 300) {
        char *u = kiln_http_redact(url);
        rc = kiln_err_set(err, KILN_ECONFIG, "S3 credentials from %s: %s %s answered HTTP %ld", what, method,
                          u ? u : "", rs.status);
        kiln_free(u);
    } else {
        *out = rs.body;
        kiln_buf_init(&rs.body, 0);
    }
    kiln_http_resp_free(&rs);
    return rc;
}

/* Expiration text (ISO 8601) as epoch seconds; 0 (never) when absent */
static int64_t expiry(const char *s)
{
    int64_t us;
    if (!s || kiln_ts_parse(s, strlen(s), &us) != 0)
        return 0;
    return us / 1000000;
}

/* {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} */
static int from_json(const kiln_buf *b, kiln_s3_creds *c, const char *what, kiln_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, 0, &je);
    const char *ak = j ? json_string_value(json_object_get(j, "AccessKeyId")) : NULL;
    const char *sk = j ? json_string_value(json_object_get(j, "SecretAccessKey")) : NULL;
    const char *tok = j ? json_string_value(json_object_get(j, "Token")) : NULL;
    const char *exp = j ? json_string_value(json_object_get(j, "Expiration")) : NULL;
    int rc = 0;
    if (!ak || !sk)
        rc = kiln_err_set(err, KILN_ECONFIG, "S3 credentials from %s: no AccessKeyId/SecretAccessKey in the answer",
                          what);
    else if (!(c->ak = kiln_strdup(ak)) || !(c->sk = kiln_strdup(sk)) || (tok && !(c->token = kiln_strdup(tok))))
        rc = KILN_OOM(err);
    else
        c->expires = expiry(exp);
    json_decref(j);
    return rc;
}

/* text of <tag>..</tag> */
static char *xml_tag(const kiln_buf *b, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *s = b->data ? strstr(b->data, open) : NULL;
    const char *e = s ? strstr(s, close) : NULL;
    return e ? kiln_strndup(s + strlen(open), (size_t)(e - s - strlen(open))) : NULL;
}

static int container(kiln_http *h, kiln_s3_creds *c, kiln_err *err)
{
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    char *url = full ? kiln_strdup(full)
                     : kiln_sprintf("http://169.254.170.2%s", env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
    if (!url)
        return KILN_OOM(err);
    char *tok = NULL;
    const char *tf = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    int rc = 0;
    if (tf) {
        size_t n;
        if ((rc = kiln_file_read(tf, 64 << 10, &tok, &n, err))) {
            kiln_err_prefix(err, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: ");
            kiln_free(url);
            return KILN_ECONFIG;
        }
        while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
            tok[--n] = 0;
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        tok = kiln_strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    char *hdr = tok ? kiln_sprintf("Authorization: %s", tok) : NULL;
    const char *hs[1] = {hdr};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    rc = fetch(h, "GET", url, hs, hdr ? 1 : 0, &b, kiln_s3__cred_source_name(KILN_S3_CRED_CONTAINER), err);
    if (!rc)
        rc = from_json(&b, c, kiln_s3__cred_source_name(KILN_S3_CRED_CONTAINER), err);
    if (tok)
        memset(tok, 0, strlen(tok));
    if (hdr)
        memset(hdr, 0, strlen(hdr));
    kiln_free(tok);
    kiln_free(hdr);
    kiln_free(url);
    kiln_buf_free(&b);
    return rc;
}

static int webid(kiln_http *h, const char *region, kiln_s3_creds *c, kiln_err *err)
{
    const char *what = kiln_s3__cred_source_name(KILN_S3_CRED_WEBID);
    char *tok = NULL;
    size_t n = 0;
    int rc = kiln_file_read(env("AWS_WEB_IDENTITY_TOKEN_FILE"), 1 << 20, &tok, &n, err);
    if (rc) {
        kiln_err_prefix(err, "AWS_WEB_IDENTITY_TOKEN_FILE: ");
        return KILN_ECONFIG;
    }
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        tok[--n] = 0;
    const char *sess = env("AWS_ROLE_SESSION_NAME") ? env("AWS_ROLE_SESSION_NAME") : "kiln";
    char *etok = kiln_sigv4_uri_encode(tok, n, 0);
    char *erole = kiln_sigv4_uri_encode(env("AWS_ROLE_ARN"), strlen(env("AWS_ROLE_ARN")), 0);
    char *esess = kiln_sigv4_uri_encode(sess, strlen(sess), 0);
    const char *ep = env("AWS_ENDPOINT_URL_STS");
    char *base = ep ? kiln_strdup(ep) : kiln_sprintf("https://sts.%s.amazonaws.com", region);
    char *url = etok && erole && esess && base
                    ? kiln_sprintf("%s%s?Action=AssumeRoleWithWebIdentity&DurationSeconds=3600&RoleArn=%s&"
                                   "RoleSessionName=%s&Version=2011-06-15&WebIdentityToken=%s",
                                   base, base[strlen(base) - 1] == '/' ? "" : "/", erole, esess, etok)
                    : NULL;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    if (!url)
        rc = KILN_OOM(err);
    else
        rc = fetch(h, "GET", url, NULL, 0, &b, what, err);
    if (!rc) {
        char *ak = xml_tag(&b, "AccessKeyId"), *sk = xml_tag(&b, "SecretAccessKey");
        char *st = xml_tag(&b, "SessionToken"), *exp = xml_tag(&b, "Expiration");
        if (!ak || !sk) {
            rc = kiln_err_set(err, KILN_ECONFIG, "S3 credentials from %s: no AccessKeyId/SecretAccessKey in the answer",
                              what);
            kiln_free(ak);
            kiln_free(sk);
            kiln_free(st);
        } else {
            c->ak = ak;
            c->sk = sk;
            c->token = st;
            c->expires = expiry(exp);
        }
        kiln_free(exp);
    }
    if (b.data)
        memset(b.data, 0, b.len);
    memset(tok, 0, n);
    if (etok)
        memset(etok, 0, strlen(etok));
    if (url)
        memset(url, 0, strlen(url));
    kiln_free(tok);
    kiln_free(etok);
    kiln_free(erole);
    kiln_free(esess);
    kiln_free(base);
    kiln_free(url);
    kiln_buf_free(&b);
    return rc;
}

static int imds(kiln_http *h, kiln_s3_creds *c, kiln_err *err)
{
    const char *what = kiln_s3__cred_source_name(KILN_S3_CRED_IMDS);
    const char *ep = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char *base = kiln_strdup(ep ? ep : "http://169.254.169.254");
    if (!base)
        return KILN_OOM(err);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = 0;
    char *u1 = kiln_sprintf("%s/latest/api/token", base);
    char *u2 = kiln_sprintf("%s/latest/meta-data/iam/security-credentials/", base);
    kiln_buf tok, role, keys;
    kiln_buf_init(&tok, 0);
    kiln_buf_init(&role, 0);
    kiln_buf_init(&keys, 0);
    char *th = NULL, *u3 = NULL;
    int rc = !u1 || !u2 ? KILN_OOM(err) : 0;
    const char *ttl[1] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"};
    if (!rc)
        rc = fetch(h, "PUT", u1, ttl, 1, &tok, what, err);
    if (!rc && !(th = kiln_sprintf("X-aws-ec2-metadata-token: %.*s", (int)tok.len, tok.data ? tok.data : "")))
        rc = KILN_OOM(err);
    const char *hs[1] = {th};
    if (!rc)
        rc = fetch(h, "GET", u2, hs, 1, &role, what, err);
    if (!rc) {
        size_t rl = strcspn(role.data ? role.data : "", "\r\n");
        if (!rl)
            rc = kiln_err_set(err, KILN_ECONFIG, "S3 credentials from %s: the instance has no IAM role", what);
        else if (!(u3 = kiln_sprintf("%s%.*s", u2, (int)rl, role.data)))
            rc = KILN_OOM(err);
    }
    if (!rc)
        rc = fetch(h, "GET", u3, hs, 1, &keys, what, err);
    if (!rc)
        rc = from_json(&keys, c, what, err);
    if (keys.data)
        memset(keys.data, 0, keys.len);
    if (th)
        memset(th, 0, strlen(th));
    kiln_free(base);
    kiln_free(u1);
    kiln_free(u2);
    kiln_free(u3);
    kiln_free(th);
    kiln_buf_free(&tok);
    kiln_buf_free(&role);
    kiln_buf_free(&keys);
    return rc;
}

void kiln_s3__creds_clear(kiln_s3_creds *c)
{
    if (c->sk)
        memset(c->sk, 0, strlen(c->sk));
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    kiln_free(c->ak);
    kiln_free(c->sk);
    kiln_free(c->token);
    c->ak = c->sk = c->token = NULL;
    c->expires = 0;
}

int kiln_s3__creds_fetch(int src, const char *region, kiln_s3_creds *out, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    kiln_http *h = NULL;
    int rc = client(&h, err);
    if (rc)
        return rc;
    switch (src) {
    case KILN_S3_CRED_CONTAINER: rc = container(h, out, err); break;
    case KILN_S3_CRED_WEBID: rc = webid(h, region, out, err); break;
    case KILN_S3_CRED_IMDS: rc = imds(h, out, err); break;
    default: rc = kiln_err_set(err, KILN_EINTERNAL, "no dynamic S3 credential source");
    }
    kiln_http_free(h);
    if (rc)
        kiln_s3__creds_clear(out);
    else
        kiln_debug("S3 credentials from %s: access key %s, valid until %lld", kiln_s3__cred_source_name(src), out->ak,
                   (long long)out->expires);
    return rc;
}
