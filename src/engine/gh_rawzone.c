/*
 * gh_rawzone.c - the gh-events job's input from an object store: --in
 * s3://bucket/prefix, or a raw zone written by `kiln ingest gharchive`
 * (IN/gharchive/date=D/hour=H/D-H.json.gz, local or on S3).
 *
 * The job reads hour files from one local folder (names D-H.json.gz); this
 * stages such a folder: every key below IN whose last segment is an hour
 * file name (within the job's date range, if any) is linked (local raw
 * zone: a symlink, no copy) or downloaded (S3) into a temporary folder,
 * which the job then reads; the folder is removed after the run. Two keys
 * naming the same hour file are refused (which one would be the data?).
 */
#include "engine/gh_events.h"
#include "engine/gh_int.h"
#include "store/store.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct stage_ctx {
    const kiln_gh_opts *o;
    KILN_VEC(char *) keys;
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
    return 0;
}

static int base_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    const char *bx = strrchr(x, '/'), *by = strrchr(y, '/');
    return strcmp(bx ? bx + 1 : x, by ? by + 1 : y);
}

int kiln_gh__rawzone_stage(const kiln_gh_opts *o, char **staged, kiln_err *err)
{
    *staged = NULL;
    const char *in = o->in_dir;
    int s3 = strncasecmp(in, "s3://", 5) == 0;
    if (!s3) {
        char *g = kiln_sprintf("%s/gharchive", in);
        struct stat st;
        int raw = g && stat(g, &st) == 0 && S_ISDIR(st.st_mode);
        kiln_free(g);
        if (!raw)
            return 0; /* a plain folder of hour files: read as it is */
    }
    kiln_store *s = NULL;
    stage_ctx c = {o, {0}, err};
    char *dir = NULL;
    int rc = kiln_store_open(&s, in, NULL, err);
    if (rc)
        goto done;
    if ((rc = kiln_store_list(s, s3 ? "" : "gharchive/", NULL, stage_cb, &c, err)))
        goto done;
    qsort(c.keys.items, c.keys.len, sizeof(char *), base_cmp);
    for (size_t i = 1; i < c.keys.len; i++)
        if (!base_cmp(&c.keys.items[i - 1], &c.keys.items[i])) {
            rc = kiln_err_set(err, KILN_EINVAL, "--in %s: the hour file %s is there twice (%s and %s)", in,
                              strrchr(c.keys.items[i], '/') ? strrchr(c.keys.items[i], '/') + 1 : c.keys.items[i],
                              c.keys.items[i - 1], c.keys.items[i]);
            goto done;
        }
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
    if (!s3 && !realpath(in, real)) {
        rc = kiln_err_set(err, KILN_EIO, "--in %s: %s", in, strerror(errno));
        goto done;
    }
    for (size_t i = 0; i < c.keys.len && !rc; i++) {
        const char *k = c.keys.items[i], *slash = strrchr(k, '/');
        char *dst = kiln_sprintf("%s/%s", dir, slash ? slash + 1 : k);
        char *src = s3 ? NULL : kiln_sprintf("%s/%s", real, k);
        if (!dst || (!s3 && !src))
            rc = KILN_OOM(err);
        else if (s3)
            rc = kiln_store_get_file(s, k, dst, err);
        else if (symlink(src, dst) != 0)
            rc = kiln_err_set(err, KILN_EIO, "%s: cannot link: %s", dst, strerror(errno));
        kiln_free(dst);
        kiln_free(src);
    }
    if (!rc) {
        kiln_info("--in %s: %zu hour file(s) %s %s", in, c.keys.len, s3 ? "downloaded to" : "linked in", dir);
        *staged = dir;
        dir = NULL;
    }
done:
    if (dir) {
        (void)kiln_rmtree(dir, NULL);
        kiln_free(dir);
    }
    for (size_t i = 0; i < c.keys.len; i++)
        kiln_free(c.keys.items[i]);
    kiln_vec_free(&c.keys);
    kiln_store_free(s);
    return rc;
}
