/*
 * iceberg_rewrite_maintain.c - `kiln table maintain`: run what a table's
 * maintenance policy says is due, and say why. The policy is table
 * properties (Iceberg's names where they exist, kiln.maintain.* otherwise;
 * docs/maintenance.md lists them):
 *
 *   compact   kiln_lake_rewrite_data_files with the table's target size and
 *             kiln.maintain.compact.min-input-files: due when a partition
 *             holds that many small files, or files with deletes applying.
 *   expire    kiln_lake_expire under history.expire.max-snapshot-age-ms /
 *             history.expire.min-snapshots-to-keep, deleting the files only
 *             expired snapshots used: due when a snapshot is past retention.
 *   orphans   kiln_lake_orphans_remove of files older than
 *             kiln.maintain.remove-orphans.older-than-ms (default 3 days).
 *
 * Each step is its own commit (or none), so a failure in one leaves the
 * others done; the first error is returned after every step has run.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lake/lake.h"

static int64_t prop_num(const kiln_lake_meta *m, const char *k, int64_t dflt, int *bad)
{
    const char *v = kiln_lake_meta_property(m, k);
    if (!v)
        return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || end == v || x < 0) {
        *bad = 1;
        return dflt;
    }
    return (int64_t)x;
}

static int prop_bool(const kiln_lake_meta *m, const char *k, int dflt)
{
    const char *v = kiln_lake_meta_property(m, k);
    if (!v)
        return dflt;
    return !(strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "off") == 0);
}

static void fmt_age(int64_t ms, char *out, size_t cap)
{
    if (ms == 0)
        snprintf(out, cap, "0s");
    else if (ms % 86400000 == 0)
        snprintf(out, cap, "%" PRId64 "d", ms / 86400000);
    else if (ms % 3600000 == 0)
        snprintf(out, cap, "%" PRId64 "h", ms / 3600000);
    else if (ms % 60000 == 0)
        snprintf(out, cap, "%" PRId64 "m", ms / 60000);
    else
        snprintf(out, cap, "%" PRId64 "ms", ms);
}

typedef struct orphan_sum {
    int64_t bytes;
} orphan_sum;

static int orphan_cb(void *ctx, const char *path, int64_t size)
{
    (void)path;
    ((orphan_sum *)ctx)->bytes += size;
    return 0;
}

int kiln_lake_maintain(kiln_lake_table *t, const kiln_lake_maintain_opts *opts, kiln_lake_maintain_result *result,
                       kiln_err *err)
{
    kiln_lake_maintain_result r;
    memset(&r, 0, sizeof r);
    r.rewrite.snapshot_id = -1;
    int dry = opts && opts->dry_run;
    int64_t now = opts && opts->now_ms > 0 ? opts->now_ms : kiln_now_micros() / 1000;
    kiln_err first = {0};
    int rc = 0;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int bad = 0;
    int64_t min_input = prop_num(m, "kiln.maintain.compact.min-input-files", 5, &bad);
    int64_t ratio = prop_num(m, "kiln.maintain.compact.small-file-ratio", 0, &bad);
    int64_t orphan_age = prop_num(m, "kiln.maintain.remove-orphans.older-than-ms", 3LL * 86400000, &bad);
    int64_t max_age = prop_num(m, "history.expire.max-snapshot-age-ms", 432000000, &bad);
    int64_t keep = prop_num(m, "history.expire.min-snapshots-to-keep", 1, &bad);
    if (ratio > 100)
        bad = 1;
    if (bad) {
        rc = kiln_err_set(err, KILN_ECONFIG,
                          "%s: a maintenance property is not a non-negative integer (kiln.maintain.*, "
                          "history.expire.*); see docs/maintenance.md",
                          kiln_lake_table_name(t));
        goto out;
    }
    if (min_input < 1)
        min_input = 1;
    if ((rc = kiln_lake_table_file_stats(t, &r.before, err)))
        goto out;
    /* m is t's and goes away when a step commits: read the policy now */
    int compact_on = prop_bool(m, "kiln.maintain.compact.enabled", 1);
    int orphans_on = prop_bool(m, "kiln.maintain.remove-orphans.enabled", 1);
    m = NULL;

    /* ---- compact */
    if (!compact_on) {
        r.compact_status = KILN_LAKE_MAINT_DISABLED;
        snprintf(r.compact_why, sizeof r.compact_why, "kiln.maintain.compact.enabled=false");
    } else {
        kiln_lake_rewrite_data_opts ro;
        memset(&ro, 0, sizeof ro);
        ro.min_input_files = (int)min_input;
        ro.min_candidate_pct = (int)ratio;
        ro.dry_run = 1;
        kiln_lake_rewrite_data_result plan;
        kiln_err e = {0};
        int src = kiln_lake_rewrite_data_files(t, &ro, &plan, &e);
        if (!src && plan.groups_rewritten == 0 && plan.delete_files_removed == 0) {
            r.compact_status = KILN_LAKE_MAINT_NOT_DUE;
            snprintf(r.compact_why, sizeof r.compact_why,
                     "no partition of %" PRId64 " has %" PRId64 " small files%s or files with deletes",
                     plan.groups_total, min_input, ratio ? " (or that ratio of small files)" : "");
        } else if (!src) {
            snprintf(r.compact_why, sizeof r.compact_why,
                     "%" PRId64 " partition(s) with >= %" PRId64 " small files%s or with deletes (%" PRId64
                     " files, %" PRId64 " delete files)",
                     plan.groups_rewritten, min_input, ratio ? " (or that ratio of small files)" : "",
                     plan.data_files_rewritten, plan.delete_files_removed);
            r.rewrite = plan;
            r.compact_status = KILN_LAKE_MAINT_DUE;
            if (!dry) {
                ro.dry_run = 0;
                src = kiln_lake_rewrite_data_files(t, &ro, &r.rewrite, &e);
                r.compact_status = src ? KILN_LAKE_MAINT_FAILED : KILN_LAKE_MAINT_DONE;
            }
        }
        if (src) {
            r.compact_status = KILN_LAKE_MAINT_FAILED;
            snprintf(r.compact_why, sizeof r.compact_why, "%s", e.msg);
            if (!first.code)
                first = e;
        }
    }

    /* ---- expire */
    {
        char age[32];
        fmt_age(max_age, age, sizeof age);
        kiln_lake_expire_opts eo;
        memset(&eo, 0, sizeof eo);
        eo.older_than_ms = -1; /* the properties (and each branch's own retention) */
        eo.dry_run = 1;
        int64_t *ids = NULL;
        size_t n = 0;
        kiln_err e = {0};
        int erc = kiln_lake_expire(t, &eo, &ids, &n, &e);
        kiln_free(ids);
        ids = NULL;
        if (!erc && n == 0) {
            r.expire_status = KILN_LAKE_MAINT_NOT_DUE;
            snprintf(r.expire_why, sizeof r.expire_why, "no snapshot older than %s beyond the last %" PRId64, age,
                     keep);
        } else if (!erc) {
            r.expire_status = KILN_LAKE_MAINT_DUE;
            r.snapshots_expired = (int64_t)n;
            snprintf(r.expire_why, sizeof r.expire_why, "%zu snapshot(s) older than %s beyond the last %" PRId64, n,
                     age, keep);
            if (!dry) {
                size_t nfiles = 0;
                eo.dry_run = 0;
                eo.on_expired = kiln_lake_expire_delete_unreachable;
                eo.ctx = &nfiles;
                erc = kiln_lake_expire(t, &eo, &ids, &n, &e);
                kiln_free(ids);
                r.snapshots_expired = erc ? 0 : (int64_t)n;
                r.expired_files_deleted = (int64_t)nfiles;
                r.expire_status = erc ? KILN_LAKE_MAINT_FAILED : KILN_LAKE_MAINT_DONE;
            }
        }
        if (erc) {
            r.expire_status = KILN_LAKE_MAINT_FAILED;
            snprintf(r.expire_why, sizeof r.expire_why, "%s", e.msg);
            if (!first.code)
                first = e;
        }
    }

    /* ---- orphans */
    if (!orphans_on) {
        r.orphans_status = KILN_LAKE_MAINT_DISABLED;
        snprintf(r.orphans_why, sizeof r.orphans_why, "kiln.maintain.remove-orphans.enabled=false");
    } else {
        char age[32];
        fmt_age(orphan_age, age, sizeof age);
        kiln_lake_orphan_opts oo = {now - orphan_age, 1};
        orphan_sum os = {0};
        size_t n = 0;
        kiln_err e = {0};
        int orc = kiln_lake_orphans_remove(t, &oo, orphan_cb, &os, &n, &e);
        if (!orc && n == 0) {
            r.orphans_status = KILN_LAKE_MAINT_NOT_DUE;
            snprintf(r.orphans_why, sizeof r.orphans_why, "no unreferenced file older than %s", age);
        } else if (!orc) {
            r.orphans_status = KILN_LAKE_MAINT_DUE;
            r.orphans_removed = (int64_t)n;
            r.orphan_bytes = os.bytes;
            snprintf(r.orphans_why, sizeof r.orphans_why, "%zu unreferenced file(s) older than %s", n, age);
            if (!dry) {
                oo.dry_run = 0;
                os.bytes = 0;
                orc = kiln_lake_orphans_remove(t, &oo, orphan_cb, &os, &n, &e);
                r.orphans_removed = orc ? 0 : (int64_t)n;
                r.orphan_bytes = os.bytes;
                r.orphans_status = orc ? KILN_LAKE_MAINT_FAILED : KILN_LAKE_MAINT_DONE;
            }
        }
        if (orc) {
            r.orphans_status = KILN_LAKE_MAINT_FAILED;
            snprintf(r.orphans_why, sizeof r.orphans_why, "%s", e.msg);
            if (!first.code)
                first = e;
        }
    }
    {
        kiln_err e = {0};
        if (kiln_lake_table_file_stats(t, &r.after, &e) && !first.code)
            first = e;
    }
    if (first.code) {
        *err = first;
        rc = first.code;
    }
out:
    if (result)
        *result = r;
    return rc;
}

/* ---------------------------------------------------------------- file statistics */

typedef struct stats_ctx {
    kiln_lake_file_stats *st;
    int64_t small;
} stats_ctx;

static int stats_cb(void *ctx, const kiln_lake_entry *e)
{
    stats_ctx *c = ctx;
    if (e->df.content == KILN_LAKE_CONTENT_DATA) {
        c->st->data_files++;
        c->st->data_bytes += e->df.file_size_in_bytes;
        c->st->records += e->df.record_count;
        if (e->df.file_size_in_bytes < c->small)
            c->st->small_files++;
    } else {
        c->st->delete_files++;
        c->st->delete_bytes += e->df.file_size_in_bytes;
    }
    return 0;
}

int kiln_lake_table_file_stats(kiln_lake_table *t, kiln_lake_file_stats *out, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    out->last_compaction_ms = -1;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int bad = 0;
    int64_t target = prop_num(m, "write.target-file-size-bytes", (int64_t)512 << 20, &bad);
    if (target <= 0)
        target = (int64_t)512 << 20;
    stats_ctx c = {out, target / 4 * 3};
    for (size_t i = 0; i < m->nsnapshots; i++) {
        const char *v = kiln_lake_snapshot_summary(&m->snapshots[i], "kiln.rewrite");
        if (v && m->snapshots[i].timestamp_ms > out->last_compaction_ms)
            out->last_compaction_ms = m->snapshots[i].timestamp_ms;
    }
    out->snapshots = (int64_t)m->nsnapshots;
    if (m->current_snapshot_id < 0)
        return 0;
    return kiln_lake_files_list(t, -1, stats_cb, &c, err);
}
