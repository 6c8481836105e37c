/*
 * store.h - the object store: one interface over a local directory and an
 * S3-compatible service (AWS S3, MinIO, ...), used by the lake (through
 * src/lake/lake_io.c), and by anything else that keeps bytes under keys.
 *
 * A store is opened on a root: a local directory ("/data/wh", "file:///data/wh")
 * or "s3://bucket[/prefix]". Keys are relative to the root, '/'-separated,
 * and validated (kiln_store_key_check): no "." or ".." segment, no leading
 * '/', no empty segment, no backslash, no control character or NUL.
 *
 * Operations: get (whole or a byte range), put (atomic: readers see the old
 * object or the new one; locally temp + fsync + rename; on S3 one PUT, or a
 * multipart upload above a size threshold), create (conditional: fails with
 * KILN_EEXIST when the key exists; locally O_EXCL + link(2); on S3 a PUT with
 * `If-None-Match: *`, preceded by a HEAD because some S3-compatible servers
 * ignore the header), head (size, etag, mtime), delete (a missing key is not
 * an error), list (ListObjectsV2 semantics: keys in byte order, a prefix, an
 * optional "/" delimiter that folds deeper keys into common prefixes, pages
 * with a continuation token).
 *
 * S3 settings come from kiln_store_s3_opts or, for what it leaves NULL, the
 * environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
 * AWS_REGION (then AWS_DEFAULT_REGION, else us-east-1), AWS_ENDPOINT_URL
 * (MinIO, a loopback server; else https://s3.REGION.amazonaws.com),
 * KILN_S3_ADDRESSING (path | virtual; default: path for a custom endpoint,
 * virtual-host for AWS), KILN_S3_MULTIPART_THRESHOLD and KILN_S3_PART_SIZE
 * (bytes), KILN_S3_MAX_ATTEMPTS. Requests are signed with AWS Signature
 * Version 4 (computed here with libcrypto's HMAC-SHA256, the payload hashed,
 * the query canonicalized). Secrets are never logged nor put in messages.
 *
 * Errors: a missing key or bucket is KILN_ENOTFOUND; a signature the server
 * rejects (403 SignatureDoesNotMatch), an unknown access key, or missing
 * credentials is KILN_ECONFIG naming the setting to fix; other 4xx are
 * KILN_EIO with the server's code and message; 5xx, 429 (throttling) and
 * connection failures are retried with exponential backoff and jitter, then
 * KILN_EIO. A rejected key is KILN_EINVAL.
 *
 * Thread-safety: a kiln_store may be used from several threads at once
 * (S3 keeps a small pool of connections, each reused across requests).
 */
#ifndef KILN_STORE_H
#define KILN_STORE_H

#include "base/base.h"

#include <stdint.h>

typedef struct kiln_store kiln_store;

typedef struct kiln_store_s3_opts {
    const char *endpoint;        /* "http://127.0.0.1:9000"; NULL: AWS_ENDPOINT_URL or AWS */
    const char *region;          /* NULL: AWS_REGION / AWS_DEFAULT_REGION / us-east-1 */
    const char *access_key;      /* NULL: AWS_ACCESS_KEY_ID */
    const char *secret_key;      /* NULL: AWS_SECRET_ACCESS_KEY */
    const char *session_token;   /* NULL: AWS_SESSION_TOKEN (may stay unset) */
    int addressing;              /* KILN_STORE_ADDR_* */
    int max_attempts;            /* 0: KILN_S3_MAX_ATTEMPTS or 5 */
    long timeout_ms;             /* whole request; 0: 300000 */
    long connect_timeout_ms;     /* 0: 10000 */
    int64_t multipart_threshold; /* 0: KILN_S3_MULTIPART_THRESHOLD or 64 MiB */
    int64_t part_size;           /* 0: KILN_S3_PART_SIZE or 16 MiB (at least 5 MiB on AWS) */
} kiln_store_s3_opts;

enum { KILN_STORE_ADDR_AUTO = 0, KILN_STORE_ADDR_PATH = 1, KILN_STORE_ADDR_VIRTUAL = 2 };

/* Open a store on a root URI: a path, file:///abs/path or s3://bucket[/prefix]
 * (s3opts may be NULL: everything from the environment). Other schemes are
 * KILN_EUNSUPP. Opening does no I/O. Caller frees with kiln_store_free. */
int kiln_store_open(kiln_store **out, const char *root, const kiln_store_s3_opts *s3opts, kiln_err *err);
void kiln_store_free(kiln_store *s);
/* "local" or "s3". */
const char *kiln_store_kind(const kiln_store *s);
/* Is this URI's scheme one a store serves (none, file://, s3://)? */
int kiln_store_uri_supported(const char *uri);

/* 0, or KILN_EINVAL with a message saying what is wrong with the key. */
int kiln_store_key_check(const char *key, kiln_err *err);

typedef struct kiln_store_info {
    int64_t size;
    int64_t mtime_ms; /* last modification, epoch ms */
    char etag[80];    /* quotes stripped; locally "<mtime ns>-<size>" in hex */
} kiln_store_info;

/* Whole object (len < 0) or bytes [off, off+len) (fewer at the end), at most
 * cap bytes (0: no cap beyond memory). *out is NUL-terminated; caller frees
 * with kiln_free. */
int kiln_store_get(kiln_store *s, const char *key, int64_t off, int64_t len, size_t cap, char **out, size_t *n,
                   kiln_err *err);
/* A ranged read pinned to one version of an object, for readers that
 * fetch pieces of a file (the lake's Parquet scans): bytes [off, off+len)
 * (fewer at the end, none past it). With if_match (an etag as
 * kiln_store_info gives it; NULL: any version) an object whose etag
 * differs is KILN_ECONFLICT: on S3 it is sent as If-Match (412) and the
 * answer's ETag is compared too, for servers that ignore the header.
 * info (may be NULL) gets the object's whole size (S3: from Content-Range)
 * and etag. *out is NUL-terminated; caller frees with kiln_free. */
int kiln_store_get_range(kiln_store *s, const char *key, int64_t off, int64_t len, const char *if_match, char **out,
                         size_t *n, kiln_store_info *info, kiln_err *err);
/* Stream a whole object: fn gets its bytes in order as they arrive, each
 * once (a non-zero return stops the transfer and is returned). On S3 a
 * connection that drops or stalls mid-body is resumed where it stopped: a
 * ranged GET pinned to the first answer's ETag (If-Match), so the bytes
 * cannot come from two versions (a changed object is KILN_ECONFLICT).
 * info (may be NULL) gets the object's size and etag. */
typedef int (*kiln_store_stream_fn)(void *ctx, const char *p, size_t n, kiln_err *err);
int kiln_store_get_stream(kiln_store *s, const char *key, kiln_store_stream_fn fn, void *ctx, kiln_store_info *info,
                          kiln_err *err);
/* Download a whole object into a local file (created or truncated). */
int kiln_store_get_file(kiln_store *s, const char *key, const char *path, kiln_err *err);
/* Replace (or create) an object at once. */
int kiln_store_put(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err);
/* Upload a local file as an object (multipart on S3 above the threshold). */
int kiln_store_put_file(kiln_store *s, const char *key, const char *path, kiln_err *err);
/* Create an object only if the key does not exist: KILN_EEXIST if it does. */
int kiln_store_create(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err);
/* KILN_ENOTFOUND when absent (err may be NULL then: no message is needed). */
int kiln_store_head(kiln_store *s, const char *key, kiln_store_info *out, kiln_err *err);
/* A missing key is not an error. */
int kiln_store_delete(kiln_store *s, const char *key, kiln_err *err);

typedef struct kiln_store_entry {
    const char *key; /* full key (relative to the store's root) */
    int is_prefix;   /* a common prefix (ends with the delimiter): no size/etag */
    int64_t size;
    int64_t mtime_ms;
    const char *etag;
} kiln_store_entry;

typedef int (*kiln_store_list_fn)(void *ctx, const kiln_store_entry *e);

/* One page of keys starting with prefix ("" = all), after `token` (NULL for
 * the first page); delim NULL or "/". At most max_keys entries (0: 1000).
 * *next is the token of the next page, NULL at the end (caller frees).
 * fn's non-zero return stops the listing and is returned. */
int kiln_store_list_page(kiln_store *s, const char *prefix, const char *delim, const char *token, int max_keys,
                         kiln_store_list_fn fn, void *ctx, char **next, kiln_err *err);
/* Every page. */
int kiln_store_list(kiln_store *s, const char *prefix, const char *delim, kiln_store_list_fn fn, void *ctx,
                    kiln_err *err);

/* Counters since open (for logs and benchmarks). */
typedef struct kiln_store_stats {
    uint64_t requests, retries, bytes_in, bytes_out;
} kiln_store_stats;
void kiln_store_stats_get(const kiln_store *s, kiln_store_stats *out);

/* ---------------------------------------------------------------- SigV4
 * AWS Signature Version 4, exposed for the tests (AWS's published vectors)
 * and for anything that signs other AWS requests. */
typedef struct kiln_sigv4_req {
    const char *method;         /* "GET" */
    const char *path;           /* URI path as sent (already percent-encoded) */
    const char *query;          /* raw query as sent, without '?' (NULL: none); canonicalized here */
    const char *const *headers; /* "Name: value" lines to sign (host and x-amz-date included) */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;     /* "YYYYMMDDTHHMMSSZ" */
    const char *region, *service;
    const char *access_key, *secret_key;
} kiln_sigv4_req;

/* The Authorization header value ("AWS4-HMAC-SHA256 Credential=..."); with
 * creq / sts non-NULL, also the canonical request and string to sign. Caller
 * frees each with kiln_free. */
int kiln_sigv4_sign(const kiln_sigv4_req *r, char **authorization, char **creq, char **sts, kiln_err *err);
/* Percent-encode per SigV4 (unreserved A-Z a-z 0-9 - _ . ~ kept; '/' kept
 * when keep_slash). Caller frees. */
char *kiln_sigv4_uri_encode(const char *s, size_t n, int keep_slash);

#endif /* KILN_STORE_H */
