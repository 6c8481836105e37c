/*
 * gh_job.c - `kiln job gh-events` as one library call (gh_events.h):
 * options in, result struct out, and the two renderings of the result
 * (the text table and the JSON object the CLI prints). The CLI, the
 * orchestrator's job.gh_events task and the server call the same function.
 *
 * Steps: resolve where the files go (iceberg: WAREHOUSE/_staging/gh-events
 * unless --out is given), scan (kiln_gh_events_run), for iceberg MERGE the
 * days that loaded into the tables and drop their staged copy, then decide
 * the status: ok when every planned partition loaded, partial when some
 * did and some failed or were skipped, failed when none did.
 */
#include "engine/gh_events.h"
#include "engine/gh_int.h"

#include <string.h>

const kiln_gh_format kiln_gh__stage_format = {"rows", KILN_GH_STAGE_EXT, kiln_gh__spill_sink_open};

void kiln_gh_job_opts_init(kiln_gh_job_opts *o)
{
    memset(o, 0, sizeof *o);
    kiln_gh_opts_init(&o->scan);
}

const char *kiln_gh_job_status_name(kiln_gh_job_status s)
{
    return s == KILN_GH_JOB_OK ? "ok" : s == KILN_GH_JOB_PARTIAL ? "partial" : "failed";
}

/* The staged Parquet copy of the days now in the tables is only disk space
 * once they are loaded; failed days and _quarantine stay. Only for kiln's
 * own staging directory: an explicit --out is the user's. */
static int drop_staged_days(const char *stage, const kiln_gh_report *rep)
{
    int left = 0;
    for (size_t i = 0; i < rep->nparts; i++) {
        if (rep->parts[i].status != KILN_GH_PART_OK)
            continue;
        char d[16];
        kiln_date_format(rep->parts[i].day, d);
        for (int k = 0; k < 2; k++) {
            char *dir = kiln_sprintf("%s/%s/date=%s", stage, k ? "commits" : "pushes", d);
            kiln_err e2 = {0};
            left += !dir || kiln_rmtree(dir, &e2) != 0; /* reported, the run still succeeded */
            kiln_free(dir);
        }
    }
    return left;
}

static kiln_gh_job_status job_status(const kiln_gh_report *rep)
{
    if (!rep->failed)
        return KILN_GH_JOB_OK;
    return rep->loaded ? KILN_GH_JOB_PARTIAL : KILN_GH_JOB_FAILED;
}

int kiln_gh_events_job(kiln_gh_job_result *out, const kiln_gh_job_opts *o, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    out->status = KILN_GH_JOB_FAILED;
    kiln_gh_opts scan = o->scan;
    int own_stage = 0, rc;
    if (o->iceberg) {
        if (!o->iceberg_opts.warehouse)
            return kiln_err_set(err, KILN_EINVAL, "gh-events --format iceberg needs --warehouse DIR");
        own_stage = !scan.out_dir;
        /* kiln's own staging: rows in kiln's row format (no Parquet encode
         * here, no decode in the load); an explicit --out gets Parquet */
        scan.format = own_stage ? &kiln_gh__stage_format : kiln_gh_format_find("parquet");
        out->out_dir =
            own_stage ? kiln_sprintf("%s/_staging/gh-events", o->iceberg_opts.warehouse) : kiln_strdup(scan.out_dir);
        out->iceberg = 1;
        snprintf(out->branch, sizeof out->branch, "%s",
                 o->iceberg_opts.branch && *o->iceberg_opts.branch ? o->iceberg_opts.branch : "main");
    } else {
        if (!scan.out_dir)
            return kiln_err_set(err, KILN_EINVAL, "gh-events needs --out DIR");
        out->out_dir = kiln_strdup(scan.out_dir);
    }
    out->quarantine_dir = scan.quarantine_dir ? kiln_strdup(scan.quarantine_dir)
                          : out->out_dir      ? kiln_sprintf("%s/_quarantine", out->out_dir)
                                              : NULL;
    if (!out->out_dir || !out->quarantine_dir)
        return KILN_OOM(err);
    scan.out_dir = out->out_dir;
    kiln_gh__loaded *loaded = NULL;
    if (o->iceberg) { /* re-run fast path: days whose inputs are as when they were loaded */
        if ((rc = kiln_gh__loaded_open(&loaded, &o->iceberg_opts, err)))
            return rc;
        scan.unchanged = kiln_gh__loaded_unchanged;
        scan.unchanged_ctx = loaded;
    }
    rc = kiln_gh_events_run(&scan, &out->report, err);
    kiln_gh__loaded_free(loaded);
    if (rc)
        return rc;
    if (o->iceberg) {
        /* the load runs after the scan: its data files' columns are encoded
         * and compressed on the scan's cores instead of one */
        kiln_gh_iceberg_opts io = o->iceberg_opts;
        if (!io.threads)
            io.threads = scan.threads > 0 ? scan.threads : kiln_ncpus();
        if ((rc = kiln_gh_iceberg_load(&io, out->out_dir, &out->report, &out->iceberg_result, err)))
            return rc;
        if (own_stage)
            out->staged_left = drop_staged_days(out->out_dir, &out->report);
    }
    out->status = job_status(&out->report);
    return 0;
}

void kiln_gh_job_result_free(kiln_gh_job_result *r)
{
    if (!r)
        return;
    kiln_gh_report_free(&r->report);
    kiln_free(r->out_dir);
    kiln_free(r->quarantine_dir);
    memset(r, 0, sizeof *r);
}

int kiln_gh_job_result_json(const kiln_gh_job_result *r, kiln_buf *b, kiln_err *err)
{
    int rc = kiln_gh_report_json(&r->report, b, err);
    if (rc)
        return rc;
    b->len--; /* reopen the report object: the job's members follow */
    if ((rc = kiln_buf_printf(b, err, ",\"status\":\"%s\",\"hours\":%llu,\"out\":", kiln_gh_job_status_name(r->status),
                              (unsigned long long)r->report.total.files)) ||
        (rc = kiln_json_write_str(b, r->out_dir, strlen(r->out_dir), err)) ||
        (rc = kiln_buf_append(b, ",\"quarantine\":", 14, err)))
        return rc;
    rc = r->report.total.quarantined ? kiln_json_write_str(b, r->quarantine_dir, strlen(r->quarantine_dir), err)
                                     : kiln_buf_append(b, "null", 4, err);
    if (!rc && r->iceberg)
        rc = kiln_buf_printf(b, err, ",\"staged_left\":%d", r->staged_left);
    if (!rc && r->iceberg) {
        if (!(rc = kiln_buf_append(b, ",\"iceberg\":", 11, err)))
            rc = kiln_gh_iceberg_result_json(&r->iceberg_result, b, err);
    }
    return rc ? rc : kiln_buf_putc(b, '}', err);
}

static int counts_row(kiln_buf *b, const char *label, const char *status, const kiln_gh_counts *c, kiln_err *err)
{
    return kiln_buf_printf(b, err, "%-12s %-7s %5llu %7llu %10llu %9llu %9llu %11llu %10llu\n", label, status,
                           (unsigned long long)c->files, (unsigned long long)c->missing, (unsigned long long)c->events,
                           (unsigned long long)c->pushes, (unsigned long long)c->commits,
                           (unsigned long long)c->quarantined, (unsigned long long)c->duplicates);
}

static int text_names(kiln_buf *b, const char *what, char *const *v, size_t n, kiln_err *err)
{
    if (!n)
        return 0;
    int rc = kiln_buf_printf(b, err, "%s (%zu):", what, n);
    for (size_t i = 0; rc == 0 && i < n && i < 48; i++)
        rc = kiln_buf_printf(b, err, " %s", v[i]);
    return rc ? rc : kiln_buf_printf(b, err, "%s\n", n > 48 ? " ..." : "");
}

static int text_iceberg(kiln_buf *b, const kiln_gh_job_result *r, kiln_err *err)
{
    int rc = 0;
    for (int i = 0; rc == 0 && i < 2; i++) {
        const kiln_gh_iceberg_table_result *t = &r->iceberg_result.tables[i];
        rc = kiln_buf_printf(b, err, "iceberg %s: %d snapshot(s)", t->name, t->snapshots);
        if (!rc && t->last_snapshot_id >= 0)
            rc = kiln_buf_printf(b, err, " (last %lld)", (long long)t->last_snapshot_id);
        if (!rc)
            rc = kiln_buf_printf(b, err,
                                 ", %s moved %d time(s), %d commit(s) without change, %lld rows inserted, %lld "
                                 "updated, %lld files added, %lld removed\n",
                                 r->branch, t->published, t->noop_commits, (long long)t->rows_inserted,
                                 (long long)t->rows_updated, (long long)t->files_added, (long long)t->files_removed);
        if (!rc && t->stale_branches_dropped)
            rc = kiln_buf_printf(b, err, "iceberg %s: dropped %d staging branch(es) of runs that did not finish\n",
                                 t->name, t->stale_branches_dropped);
        if (!rc && t->reloads)
            rc = kiln_buf_printf(b, err, "iceberg %s: %s moved while this run loaded; loaded again %d time(s)\n",
                                 t->name, r->branch, t->reloads);
        if (!rc && t->warning[0])
            rc = kiln_buf_printf(b, err, "iceberg %s: warning: %s\n", t->name, t->warning);
    }
    if (!rc && r->staged_left)
        rc = kiln_buf_printf(b, err, "warning: %d staged day copies could not be removed from %s\n", r->staged_left,
                             r->out_dir);
    return rc;
}

int kiln_gh_job_result_text(const kiln_gh_job_result *r, kiln_buf *b, kiln_err *err)
{
    const kiln_gh_report *rep = &r->report;
    int rc = kiln_buf_printf(b, err, "%-12s %-7s %5s %7s %10s %9s %9s %11s %10s\n", "partition", "status", "files",
                             "missing", "events", "pushes", "commits", "quarantined", "duplicates");
    for (size_t i = 0; rc == 0 && i < rep->nparts; i++) {
        char d[16];
        kiln_date_format(rep->parts[i].day, d);
        rc = counts_row(b, d, kiln_gh_part_status_name(rep->parts[i].status), &rep->parts[i].counts, err);
    }
    if (!rc)
        rc = counts_row(b, "total", kiln_gh_job_status_name(r->status), &rep->total, err);
    double mb = (double)rep->total.json_bytes / 1e6;
    if (!rc)
        rc = kiln_buf_printf(b, err, "%llu hours, %.1f MB of JSON in %.2f s (%.0f MB/s)",
                             (unsigned long long)rep->total.files, mb, rep->seconds,
                             rep->seconds > 0 ? mb / rep->seconds : 0);
    if (!rc && rep->total.commits_superseded)
        rc = kiln_buf_printf(b, err, ", %llu commit rows superseded by a later push of the same day",
                             (unsigned long long)rep->total.commits_superseded);
    if (!rc && rep->total.filtered)
        rc = kiln_buf_printf(b, err, ", %llu pushes filtered out", (unsigned long long)rep->total.filtered);
    if (!rc && rep->total.utf8_repaired)
        rc = kiln_buf_printf(b, err, ", %llu invalid UTF-8/surrogates replaced by U+FFFD",
                             (unsigned long long)rep->total.utf8_repaired);
    if (!rc)
        rc = kiln_buf_putc(b, '\n', err);
    if (!rc && rep->unchanged)
        rc = kiln_buf_printf(b, err,
                             "%zu day(s) not read: their input files are the ones loaded (same names, sizes, mtimes "
                             "and checksums) and the tables are as that run left them\n",
                             rep->unchanged);
    if (!rc && rep->total.quarantined)
        rc = kiln_buf_printf(b, err, "quarantined %llu bad line(s) to %s\n", (unsigned long long)rep->total.quarantined,
                             r->quarantine_dir);
    if (!rc)
        rc = text_names(b, "missing hours", rep->missing, rep->nmissing, err);
    if (!rc)
        rc = text_names(b, "not read (not an hour file name)", rep->ignored, rep->nignored, err);
    for (size_t i = 0; rc == 0 && i < rep->nparts; i++) {
        const kiln_gh_partition *p = &rep->parts[i];
        if (!p->failed)
            continue;
        char d[16];
        kiln_date_format(p->day, d);
        if (p->status == KILN_GH_PART_SKIPPED) {
            rc = kiln_buf_printf(b, err, "partition %s skipped: %s\n", d, p->error);
            continue;
        }
        rc = kiln_buf_printf(b, err, "partition %s failed, previous output kept:\n", d);
        for (size_t k = 0; rc == 0 && k < p->nerrors; k++)
            rc = kiln_buf_printf(b, err, "  %s\n", p->errors[k]);
    }
    if (!rc && r->iceberg)
        rc = text_iceberg(b, r, err);
    return rc;
}
