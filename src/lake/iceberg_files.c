/*
 * iceberg_files.c - file-level maintenance of an Iceberg table: listing the
 * live files of a snapshot, finding and removing orphan files, and the
 * file-deletion half of expire snapshots.
 *
 * Reachability: a file is referenced if it is a metadata file
 * (metadata/v*.metadata.json, *.metadata.json listed in the metadata log,
 * version-hint.text) or the manifest list of any snapshot in the current
 * metadata, a manifest in any of those lists, or a data/delete file in any
 * of those manifests (any status: DELETED entries still name files an
 * older snapshot reads). Everything else under the table directory that is
 * older than the threshold is an orphan: leftovers of crashed or retried
 * commits (a commit that lost a race leaves its manifest list behind).
 * Files younger than the threshold are kept because a concurrent writer
 * may be about to commit them.
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lake/lake_data_int.h"
#include "lake/lake.h"
#include "lake/lake_io.h"

/* Add every file reachable from snapshot s to set (local paths). */
static int reach_snapshot(kiln_map *set, kiln_arena *a, const kiln_lake_meta *m, const kiln_lake_snapshot *s,
                          kiln_map *seen_manifests, kiln_err *err)
{
    kiln_lake_view view;
    char *lp = NULL;
    int rc;
    if (!s->manifest_list)
        return 0;
    if ((rc = kiln_lake_uri_to_path(&lp, s->manifest_list, err)))
        return rc;
    rc = kiln_map_put(set, lp, strlen(lp), NULL, err);
    kiln_lake_manifest *ms = NULL;
    size_t nm = 0;
    if (!rc) {
        if (!kiln_lake__io_exists(lp)) {
            kiln_free(lp);
            return 0; /* an expired or missing list: nothing more to reach */
        }
        rc = kiln_lake_manifest_list_read(&ms, &nm, a, lp, err);
    }
    kiln_free(lp);
    if (rc)
        return rc;
    if ((rc = kiln_lake_view_from_meta(&view, a, m, -1, NULL, err)))
        return rc;
    for (size_t i = 0; i < nm; i++) {
        if ((rc = kiln_lake_uri_to_path(&lp, ms[i].path, err)))
            return rc;
        if (kiln_map_has(seen_manifests, lp, strlen(lp))) {
            kiln_free(lp);
            continue;
        }
        rc = kiln_map_put(seen_manifests, lp, strlen(lp), NULL, err);
        if (!rc)
            rc = kiln_map_put(set, lp, strlen(lp), NULL, err);
        kiln_lake_entry *es = NULL;
        size_t ne = 0;
        if (!rc && kiln_lake__io_exists(lp))
            rc = kiln_lake_manifest_read(&es, &ne, a, &ms[i], lp, kiln_lake_view_spec(&view, ms[i].spec_id), err);
        kiln_free(lp);
        if (rc)
            return rc;
        for (size_t k = 0; k < ne; k++) {
            char *dp = NULL;
            if ((rc = kiln_lake_uri_to_path(&dp, es[k].df.file_path, err)))
                return rc;
            rc = kiln_map_put(set, dp, strlen(dp), NULL, err);
            kiln_free(dp);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int kiln_lake_files_list(kiln_lake_table *t, int64_t snapshot_id, int (*fn)(void *ctx, const kiln_lake_entry *e),
                         void *ctx, kiln_err *err)
{
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    kiln_arena *a = kiln_arena_new(16 * 1024);
    kiln_lake_plan *plan = NULL;
    kiln_lake_view v;
    int rc;
    if (!a)
        return KILN_OOM(err);
    if (snapshot_id < 0)
        snapshot_id = m->current_snapshot_id;
    if ((rc = kiln_lake_view_from_meta(&v, a, m, snapshot_id, NULL, err)) ||
        (rc = kiln_lake_plan_new(&plan, &v, NULL, err)))
        goto done;
    for (size_t i = 0; i < kiln_lake_plan_nlive(plan); i++)
        if ((rc = fn(ctx, kiln_lake_plan_live(plan, i))))
            goto done;
done:
    kiln_lake_plan_free(plan);
    kiln_arena_free(a);
    return rc;
}

/* All files reachable from the table's current metadata. */
static int reachable(kiln_map *set, kiln_lake_table *t, kiln_err *err)
{
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    kiln_arena *a = kiln_arena_new(64 * 1024);
    kiln_map *seen = kiln_map_new();
    int rc = 0;
    if (!a || !seen) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < m->nsnapshots; i++)
        if ((rc = reach_snapshot(set, a, m, &m->snapshots[i], seen, err)))
            goto done;
    for (size_t i = 0; i < m->nmetadata_log; i++) {
        char *p = NULL;
        if (kiln_lake_uri_to_path(&p, m->metadata_log[i].metadata_file, err) == 0) {
            rc = kiln_map_put(set, p, strlen(p), NULL, err);
            kiln_free(p);
            if (rc)
                goto done;
        }
    }
    char *cur = NULL;
    if (kiln_lake_uri_to_path(&cur, kiln_lake_table_metadata_location(t), err) == 0) {
        rc = kiln_map_put(set, cur, strlen(cur), NULL, err);
        kiln_free(cur);
    }
done:
    kiln_map_free(seen);
    kiln_arena_free(a);
    return rc;
}

/* Committed metadata versions (v<N>.metadata.json) and the hint are never
 * orphans, even when the metadata log was trimmed. A <uuid>.metadata.json
 * left by a commit that crashed before its link is one. */
static int never_orphan(const char *rel, const char *name)
{
    size_t n = strlen(name);
    if (!strcmp(name, "version-hint.text"))
        return 1;
    if (!strncmp(rel, "metadata/", 9) && name[0] == 'v' && n > 15 && !strcmp(name + n - 14, ".metadata.json")) {
        size_t i = 1;
        while (i < n - 14 && name[i] >= '0' && name[i] <= '9')
            i++;
        if (i == n - 14)
            return 1;
    }
    return 0;
}

typedef struct walk_ctx {
    kiln_map *reach;
    const kiln_lake_orphan_opts *opts;
    int64_t cutoff_ms;
    int (*fn)(void *ctx, const char *path, int64_t size);
    void *fn_ctx;
    size_t count;
    size_t root_len;
} walk_ctx;

static int walk(walk_ctx *wc, const char *dir, int depth, kiln_err *err);

typedef struct walk_dir {
    walk_ctx *wc;
    const char *dir;
    int depth;
    kiln_err *err;
} walk_dir;

static int walk_entry(void *vctx, const char *name, const kiln_lake_io_stat *st)
{
    walk_dir *wd = vctx;
    walk_ctx *wc = wd->wc;
    char *p = kiln_sprintf("%s/%s", wd->dir, name);
    int rc = 0;
    if (!p)
        return KILN_OOM(wd->err);
    if (st->is_dir) {
        rc = walk(wc, p, wd->depth + 1, wd->err);
        goto done;
    }
    const char *rel = p + wc->root_len + 1;
    if (never_orphan(rel, name) || kiln_map_has(wc->reach, p, strlen(p)))
        goto done;
    if (wc->opts->older_than_ms >= 0 && st->mtime_ms >= wc->cutoff_ms)
        goto done;
    wc->count++;
    if (wc->fn && (rc = wc->fn(wc->fn_ctx, p, st->size)))
        goto done;
    if (!wc->opts->dry_run)
        rc = kiln_lake__io_remove(p, wd->err);
done:
    kiln_free(p);
    return rc;
}

/* Orphans under dir: every regular file not reachable (symlinks and other
 * kinds are never followed or deleted). */
static int walk(walk_ctx *wc, const char *dir, int depth, kiln_err *err)
{
    if (depth > 32)
        return kiln_err_set(err, KILN_ELIMIT, "%s: directories nested deeper than 32", dir);
    walk_dir wd = {wc, dir, depth, err};
    return kiln_lake__io_list(dir, walk_entry, &wd, err);
}

int kiln_lake_orphans_remove(kiln_lake_table *t, const kiln_lake_orphan_opts *opts,
                             int (*fn)(void *ctx, const char *path, int64_t size), void *ctx, size_t *count_out,
                             kiln_err *err)
{
    if (kiln_lake__refuse_registered_delete(t, "remove orphan files", err))
        return err->code;
    kiln_lake_orphan_opts o = {0, 1};
    if (opts)
        o = *opts;
    int rc = kiln_lake_table_refresh(t, err);
    if (rc)
        return rc;
    kiln_map *reach = kiln_map_new();
    if (!reach)
        return KILN_OOM(err);
    if ((rc = reachable(reach, t, err)))
        goto done;
    walk_ctx wc;
    memset(&wc, 0, sizeof wc);
    wc.reach = reach;
    wc.opts = &o;
    wc.cutoff_ms = o.older_than_ms > 0 ? o.older_than_ms : kiln_now_micros() / 1000 - 3LL * 86400 * 1000;
    wc.fn = fn;
    wc.fn_ctx = ctx;
    const char *root = kiln_lake_table_dir(t);
    wc.root_len = strlen(root);
    char *dd = kiln_sprintf("%s/data", root), *md = kiln_sprintf("%s/metadata", root);
    if (!dd || !md)
        rc = KILN_OOM(err);
    if (!rc)
        rc = walk(&wc, dd, 0, err);
    if (!rc)
        rc = walk(&wc, md, 0, err);
    kiln_free(dd);
    kiln_free(md);
    if (count_out)
        *count_out = wc.count;
done:
    kiln_map_free(reach);
    return rc;
}

/* Files reachable from a set of snapshots of m. */
static int reach_ids(kiln_map *set, const kiln_lake_meta *m, const int64_t *ids, size_t n, int all, kiln_err *err)
{
    kiln_arena *a = kiln_arena_new(64 * 1024);
    kiln_map *seen = kiln_map_new();
    int rc = 0;
    if (!a || !seen) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < m->nsnapshots; i++) {
        int want = all;
        for (size_t k = 0; !want && k < n; k++)
            want = m->snapshots[i].snapshot_id == ids[k];
        if (want && (rc = reach_snapshot(set, a, m, &m->snapshots[i], seen, err)))
            goto done;
    }
done:
    kiln_map_free(seen);
    kiln_arena_free(a);
    return rc;
}

/* Remove every file of `gone` that is not in `keep` (keys: locations as
 * stored); skip_missing: a file already gone is not counted. *count (may
 * be NULL) += files removed (or, dry_run, that would be). */
int kiln_lake__remove_difference(const kiln_map *gone, const kiln_map *keep, int skip_missing, int dry_run,
                                 size_t *count, kiln_err *err)
{
    size_t pos = 0;
    const char *key;
    size_t klen;
    void *val;
    while (kiln_map_next(gone, &pos, &key, &klen, &val)) {
        if (kiln_map_has(keep, key, klen))
            continue;
        char *p = kiln_strndup(key, klen);
        if (!p)
            return KILN_OOM(err);
        if (skip_missing && !kiln_lake__io_exists(p)) { /* deleted before (or never written) */
            kiln_free(p);
            continue;
        }
        int rc = dry_run ? 0 : kiln_lake__io_remove(p, err);
        kiln_free(p);
        if (rc) {
            kiln_err_prefix(err, "expire: ");
            return rc;
        }
        if (count)
            (*count)++;
    }
    return 0;
}

int kiln_lake_expire_delete_files(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                  const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err)
{
    size_t *count = ctx;
    kiln_map *gone = kiln_map_new(), *keep = kiln_map_new();
    int rc = 0;
    if (!gone || !keep) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = reach_ids(gone, before, expired_ids, n, 0, err)) || (rc = reach_ids(keep, after, NULL, 0, 1, err)))
        goto done;
    rc = kiln_lake__remove_difference(gone, keep, 0, dry_run, count, err);
done:
    kiln_map_free(gone);
    kiln_map_free(keep);
    return rc;
}
