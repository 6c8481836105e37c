/*
 * iceberg_expire_files.c - the expire hook that deletes what expired
 * snapshots leave unreachable, counting a file as still needed only when a
 * retained snapshot has it live (ADDED or EXISTING), as Iceberg's
 * ExpireSnapshots does.
 *
 * Why a second hook: kiln_lake_expire_delete_files keeps every file any
 * retained manifest names, DELETED entries included. A compaction (or a
 * MERGE) writes the files it replaced as DELETED entries of the new
 * snapshot's manifests, so once the older snapshots expire those files are
 * read by no snapshot, yet that hook keeps them forever. Here: the manifest
 * lists and manifests of retained snapshots are kept, and the data and
 * delete files they hold live; everything else reachable from the expired
 * snapshots (lists, manifests, files of any status) is deleted.
 */
#include <stdint.h>
#include <string.h>

#include "lake/lake.h"
#include "lake/lake_data_int.h"
#include "lake/lake_io.h"

typedef struct walk {
    kiln_arena *a;
    kiln_map *seen; /* manifests already read in this walk */
} walk;

/* The value stored with each path: what kind of file it is, for the
 * counts of kiln_lake_expire_delete_unreachable_counts. */
enum { K_LIST = 1, K_MANIFEST, K_DATA, K_POSDEL, K_EQDEL };

static int put_path(kiln_map *set, const char *uri, int kind, kiln_err *err)
{
    char *p = NULL;
    int rc = kiln_lake_uri_to_path(&p, uri, err);
    if (!rc)
        rc = kiln_map_put(set, p, strlen(p), (void *)(intptr_t)kind, err);
    kiln_free(p);
    return rc;
}

/* Add snapshot s's manifest list, manifests and files to set: files of
 * every status when all_entries, else only the live ones. */
static int reach(walk *w, kiln_map *set, const kiln_lake_meta *m, const kiln_lake_snapshot *s, int all_entries,
                 kiln_err *err)
{
    if (!s || !s->manifest_list)
        return 0;
    char *lp = NULL;
    int rc = kiln_lake_uri_to_path(&lp, s->manifest_list, err);
    if (rc)
        return rc;
    rc = kiln_map_put(set, lp, strlen(lp), (void *)(intptr_t)K_LIST, err);
    kiln_lake_manifest *ms = NULL;
    size_t nm = 0;
    int exists = kiln_lake__io_exists(lp);
    if (!rc && exists)
        rc = kiln_lake_manifest_list_read(&ms, &nm, w->a, lp, err);
    kiln_free(lp);
    if (rc || !exists)
        return rc;
    kiln_lake_view view;
    if ((rc = kiln_lake_view_from_meta(&view, w->a, m, -1, NULL, err)))
        return rc;
    for (size_t i = 0; i < nm; i++) {
        if ((rc = put_path(set, ms[i].path, K_MANIFEST, err)))
            return rc;
        if ((rc = kiln_lake_uri_to_path(&lp, ms[i].path, err)))
            return rc;
        int again = kiln_map_has(w->seen, lp, strlen(lp));
        kiln_lake_entry *es = NULL;
        size_t ne = 0;
        if (!again && !(rc = kiln_map_put(w->seen, lp, strlen(lp), NULL, err)) && kiln_lake__io_exists(lp))
            rc = kiln_lake_manifest_read(&es, &ne, w->a, &ms[i], lp, kiln_lake_view_spec(&view, ms[i].spec_id), err);
        kiln_free(lp);
        if (rc)
            return rc;
        for (size_t k = 0; k < ne; k++)
            if ((all_entries || es[k].status != KILN_LAKE_STATUS_DELETED) &&
                (rc = put_path(set, es[k].df.file_path,
                               es[k].df.content == 1   ? K_POSDEL
                               : es[k].df.content == 2 ? K_EQDEL
                                                       : K_DATA,
                               err)))
                return rc;
    }
    return 0;
}

static int delete_unreachable(size_t *count, kiln_lake_expire_counts *kinds, const kiln_lake_meta *before,
                              const kiln_lake_meta *after, const int64_t *expired_ids, size_t n, int dry_run,
                              kiln_err *err)
{
    kiln_map *gone = kiln_map_new(), *keep = kiln_map_new(), *seen_keep = kiln_map_new(), *seen_gone = kiln_map_new();
    kiln_arena *a = kiln_arena_new(64 * 1024);
    int rc = 0;
    if (!gone || !keep || !seen_keep || !seen_gone || !a) {
        rc = KILN_OOM(err);
        goto done;
    }
    walk wk = {a, seen_keep}, wg = {a, seen_gone};
    for (size_t i = 0; i < after->nsnapshots && !rc; i++)
        rc = reach(&wk, keep, after, &after->snapshots[i], 0, err);
    for (size_t i = 0; i < n && !rc; i++)
        rc = reach(&wg, gone, before, kiln_lake_meta_snapshot(before, expired_ids[i]), 1, err);
    if (rc)
        goto done;
    if (kinds) { /* what will go, by kind (the removal below skips the same files) */
        size_t pos = 0, kl;
        const char *k;
        void *v;
        while (kiln_map_next(gone, &pos, &k, &kl, &v)) {
            if (kiln_map_has(keep, k, kl))
                continue;
            char *p = kiln_strndup(k, kl);
            if (!p) {
                rc = KILN_OOM(err);
                goto done;
            }
            if (kiln_lake__io_exists(p)) {
                intptr_t kind = (intptr_t)v;
                size_t *c = kind == K_LIST       ? &kinds->manifest_lists
                            : kind == K_MANIFEST ? &kinds->manifests
                            : kind == K_POSDEL   ? &kinds->position_delete_files
                            : kind == K_EQDEL    ? &kinds->equality_delete_files
                                                 : &kinds->data_files;
                (*c)++;
            }
            kiln_free(p);
        }
    }
    rc = kiln_lake__remove_difference(gone, keep, 1, dry_run, count, err);
done:
    kiln_map_free(gone);
    kiln_map_free(keep);
    kiln_map_free(seen_keep);
    kiln_map_free(seen_gone);
    kiln_arena_free(a);
    return rc;
}

int kiln_lake_expire_delete_unreachable(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                        const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err)
{
    return delete_unreachable(ctx, NULL, before, after, expired_ids, n, dry_run, err);
}

int kiln_lake_expire_delete_unreachable_counts(void *ctx, const kiln_lake_meta *before, const kiln_lake_meta *after,
                                               const int64_t *expired_ids, size_t n, int dry_run, kiln_err *err)
{
    kiln_lake_expire_counts *c = ctx;
    return delete_unreachable(&c->total, c, before, after, expired_ids, n, dry_run, err);
}
