/*
 * store_int.h - private to src/store: the backend table behind store.h.
 * Keys reaching a backend are checked and relative to the store's root.
 */
#ifndef KILN_STORE_INT_H
#define KILN_STORE_INT_H

#include "store/store.h"

typedef struct kiln_store_ops {
    const char *kind;
    int (*get)(kiln_store *s, const char *key, int64_t off, int64_t len, size_t cap, char **out, size_t *n,
               kiln_err *err);
    int (*get_file)(kiln_store *s, const char *key, const char *path, kiln_err *err);
    int (*put)(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err);
    int (*put_file)(kiln_store *s, const char *key, const char *path, kiln_err *err);
    int (*create)(kiln_store *s, const char *key, const void *data, size_t n, kiln_err *err);
    int (*head)(kiln_store *s, const char *key, kiln_store_info *out, kiln_err *err);
    int (*del)(kiln_store *s, const char *key, kiln_err *err);
    int (*list_page)(kiln_store *s, const char *prefix, const char *delim, const char *token, int max_keys,
                     kiln_store_list_fn fn, void *ctx, char **next, kiln_err *err);
    void (*free)(kiln_store *s);
    int (*get_stream)(kiln_store *s, const char *key, kiln_store_stream_fn fn, void *ctx, kiln_store_info *info,
                      kiln_err *err);
    int (*get_range)(kiln_store *s, const char *key, int64_t off, int64_t len, const char *if_match, char **out,
                     size_t *n, kiln_store_info *info, kiln_err *err);
} kiln_store_ops;

struct kiln_store {
    const kiln_store_ops *ops;
    void *impl;
    /* counters (updated with __atomic builtins) */
    uint64_t requests, retries, bytes_in, bytes_out;
};

int kiln_store__open_local(kiln_store **out, const char *dir, kiln_err *err);
int kiln_store__open_s3(kiln_store **out, const char *bucket, const char *prefix, const kiln_store_s3_opts *o,
                        kiln_err *err);

/* s3_creds.c: temporary credentials from the place a process runs */
enum { KILN_S3_CRED_NONE = 0, KILN_S3_CRED_CONTAINER, KILN_S3_CRED_WEBID, KILN_S3_CRED_IMDS };
typedef struct kiln_s3_creds {
    char *ak, *sk, *token;
    int64_t expires; /* epoch seconds; 0: no expiry given */
} kiln_s3_creds;
/* Which source applies, from the environment alone (no I/O). */
int kiln_s3__cred_source(void);
const char *kiln_s3__cred_source_name(int src);
/* Fetch keys from a source (KILN_ECONFIG naming it when that fails). */
int kiln_s3__creds_fetch(int src, const char *region, kiln_s3_creds *out, kiln_err *err);
void kiln_s3__creds_clear(kiln_s3_creds *c);

#endif /* KILN_STORE_INT_H */
