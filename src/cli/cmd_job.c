/*
 * cmd_job.c - `kiln job`: run one engine job by hand. Today: gh-events,
 * GH Archive hour files -> pushes and commits per day. The job is one
 * library call (kiln_gh_events_job, src/engine/gh_job.c); this file parses
 * the flags, shows progress, prints the result and maps it to an exit code.
 */
#include "cli.h"
#include "engine/gh_events.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static const kiln_opt gh_opts[] = {
    {"--in", 'i', KILN_OPT_VALUE, "DIR", "directory with the hour files (required)"},
    {"--out", 'o', KILN_OPT_VALUE, "DIR",
     "output directory (created if missing); with --format iceberg\nthe Parquet staging directory (default "
     "WAREHOUSE/_staging/gh-events)"},
    {"--format", 'f', KILN_OPT_VALUE, "F",
     "csv (default), ndjson, parquet (one file per table per hour)\nor iceberg (tables github.pushes and "
     "github.commits in\n--warehouse, MERGE on push_id / repo_id,sha, partitioned\nby day(created_at))"},
    {"--commit", 0, KILN_OPT_VALUE, "MODE",
     "iceberg: job (default: the target branch moves once per\ntable per run) or partition (once per day)"},
    {"--branch", 0, KILN_OPT_VALUE, "NAME",
     "iceberg: commit to this branch (default main; created at\nmain's head when missing)"},
    {"--stage-mb", 0, KILN_OPT_VALUE, "N",
     "iceberg: rows held in memory for one commit, 8..4096\n(default 32); past it the rows so far go to a staging\n"
     "branch, published to the target in one commit at the end"},
    {"--start", 0, KILN_OPT_VALUE, "DATE",
     "first UTC day of the range (with --end; default: every\nhour file in --in)"},
    {"--end", 0, KILN_OPT_VALUE, "DATE", "last UTC day of the range, inclusive; hours missing in it\nare reported"},
    {"--filter", 0, KILN_OPT_VALUE, "SPEC",
     "keep pushes matching KEY=VALUE[,KEY=VALUE...]; keys actor,\norg, repo (owner/name); a key given twice matches "
     "either\n"
     "value; case-insensitive"},
    {"--keep-going", 'k', 0, NULL,
     "a failed hour fails its day, every other hour still loads\n(default: no hour starts after the first failure)"},
    {"--allow-missing", 0, 0, NULL, "no hour file to read is an empty run (\"0 hours\"), not an\nerror"},
    {"--threads", 'j', KILN_OPT_VALUE, "N", "worker threads, 1..256 (default: number of CPUs)"},
    {"--quarantine", 0, KILN_OPT_VALUE, "DIR", "where bad lines go (default OUT/_quarantine)"},
    {"--line-cap", 0, KILN_OPT_VALUE, "MB", "longest line accepted, 4..1024 (default 64)"},
    {"--json", 0, 0, NULL, "print the summary as one JSON object"},
    KILN_OPT_END};

static const kiln_subcmd job_subs[] = {
    {"gh-events", NULL, 0, 0, "GH Archive -> pushes, commits",
     "Read GH Archive hour files IN/YYYY-MM-DD-H.json.gz (or zero-padded -HH)\n"
     "and write per UTC day OUT/pushes/date=D/part-HH.EXT and\n"
     "OUT/commits/date=D/part-HH.EXT: one row per PushEvent, and one row per\n"
     "commit (repo_id, sha) and day, from the latest push that carried it. A\n"
     "day is replaced atomically when all its hours succeed; a truncated or\n"
     "corrupt file fails its day and leaves that day's previous output in\n"
     "place. No hour file to read is an error (exit 4) unless --allow-missing.",
     gh_opts},
};

static const kiln_cmdspec job_spec = {
    .name = "job",
    .text = "Run an engine job by hand. --warehouse DIR (a global option) names the\n"
            "warehouse of --format iceberg.",
    .subs = job_subs,
    .nsubs = 1,
    .footer = "exit codes: 0 ok, 1 every partition failed (or bad data: one hour\n"
              "spelled twice), 2 usage, 4 --in not found or no hour file in it,\n"
              "6 partial: some partitions loaded, some failed (each is named)\n",
};

typedef struct progress {
    double t0;
    int shown;
} progress;

static void show_progress(void *ctx, uint64_t files_done, uint64_t files_total, uint64_t gz_done, uint64_t gz_total,
                          uint64_t json_bytes)
{
    progress *p = ctx;
    double el = kiln_mono_seconds() - p->t0;
    double mbs = el > 0 ? (double)json_bytes / 1e6 / el : 0;
    double frac = gz_total ? (double)gz_done / (double)gz_total : 1.0;
    if (frac > 1)
        frac = 1;
    int width = 30, fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double eta = frac > 0.01 ? el * (1 - frac) / frac : 0;
    fprintf(stderr, "\r[%s] %llu/%llu files  %.0f MB/s  ETA %d:%02d ", bar, (unsigned long long)files_done,
            (unsigned long long)files_total, mbs, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
    p->shown = 1;
}

/* Flags -> job options. Returns 0, or the exit code of a usage error. */
static int gh_parse(const kiln_args *a, kiln_gh_job_opts *o)
{
    kiln_gh_opts *s = &o->scan;
    const char *v, *start, *end;
    long long n;
    int rc;
    s->in_dir = kiln_opt_get(a, "--in");
    s->out_dir = kiln_opt_get(a, "--out");
    s->filter = kiln_opt_get(a, "--filter");
    s->quarantine_dir = kiln_opt_get(a, "--quarantine");
    s->keep_going = kiln_opt_has(a, "--keep-going") > 0;
    s->allow_missing = kiln_opt_has(a, "--allow-missing") > 0;
    if ((v = kiln_opt_get(a, "--format"))) {
        o->iceberg = strcmp(v, "iceberg") == 0;
        if (!o->iceberg && !(s->format = kiln_gh_format_find(v)))
            return kiln_opt_usage(a, "--format %s: use one of %s, iceberg", v, kiln_gh_format_names());
    }
    o->iceberg_opts.warehouse = kiln_cli_warehouse();
    o->iceberg_opts.branch = kiln_opt_get(a, "--branch");
    if ((v = kiln_opt_get(a, "--commit"))) {
        if (strcmp(v, "job") != 0 && strcmp(v, "partition") != 0)
            return kiln_opt_usage(a, "--commit %s: use job or partition", v);
        o->iceberg_opts.per_partition = strcmp(v, "partition") == 0;
    }
    n = 0;
    if ((rc = kiln_opt_int(a, "--stage-mb", 8, 4096, &n)))
        return rc;
    o->iceberg_opts.stage_bytes = (uint64_t)n << 20;
    n = 0;
    if ((rc = kiln_opt_int(a, "--threads", 1, 256, &n)))
        return rc;
    s->threads = (int)n;
    n = 0;
    if ((rc = kiln_opt_int(a, "--line-cap", 4, 1024, &n)))
        return rc;
    s->line_cap = (size_t)n << 20;
    if (!o->iceberg && (o->iceberg_opts.branch || o->iceberg_opts.stage_bytes || kiln_opt_has(a, "--commit")))
        return kiln_opt_usage(a, "--branch, --commit and --stage-mb go with --format iceberg");
    if (o->iceberg && !o->iceberg_opts.warehouse)
        return kiln_opt_usage(a, "--format iceberg needs --warehouse DIR");
    if (!s->in_dir || (!o->iceberg && !s->out_dir))
        return kiln_opt_usage(a, "gh-events needs --in DIR and --out DIR");
    start = kiln_opt_get(a, "--start");
    end = kiln_opt_get(a, "--end");
    if ((start != NULL) != (end != NULL))
        return kiln_opt_usage(a, "give both --start and --end, or neither");
    if (start) {
        if (kiln_date_parse(start, strlen(start), &s->start_day) != 0)
            return kiln_opt_usage(a, "--start %s is not a date YYYY-MM-DD", start);
        if (kiln_date_parse(end, strlen(end), &s->end_day) != 0)
            return kiln_opt_usage(a, "--end %s is not a date YYYY-MM-DD", end);
        if (s->end_day < s->start_day)
            return kiln_opt_usage(a, "--end %s is before --start %s", end, start);
        s->has_range = 1;
    }
    return 0;
}

/* The result on stdout (text table or JSON), each failed partition's
 * errors on stderr too; the status as the exit code. */
static int gh_print(const kiln_gh_job_result *r, int json)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    int rc = json ? kiln_gh_job_result_json(r, &b, &err) : kiln_gh_job_result_text(r, &b, &err);
    if (rc == 0)
        fputs(b.data, stdout);
    if (rc == 0 && json)
        fputc('\n', stdout);
    kiln_buf_free(&b);
    if (rc)
        return kiln_cli_fail(&err);
    for (size_t i = 0; i < r->report.nparts; i++) {
        const kiln_gh_partition *p = &r->report.parts[i];
        char d[16];
        kiln_date_format(p->day, d);
        for (size_t k = 0; k < p->nerrors; k++)
            fprintf(stderr, "kiln: partition %s failed, previous output kept: %s\n", d, p->errors[k]);
    }
    return r->status == KILN_GH_JOB_OK        ? KILN_EXIT_OK
           : r->status == KILN_GH_JOB_PARTIAL ? KILN_EXIT_PARTIAL
                                              : KILN_EXIT_FAIL;
}

static int run_gh_events(const kiln_args *a)
{
    kiln_gh_job_opts o;
    kiln_gh_job_opts_init(&o);
    int rc = gh_parse(a, &o);
    if (rc)
        return rc;
    /* Memory: the workers allocate and free MB-sized buffers per hour file
     * (Parquet pages, column chunks). With glibc's defaults the threshold
     * for mmap-ing a block rises as such blocks are freed, after which they
     * come from per-thread arenas that fragmentation keeps resident: the
     * job with Parquet output peaked at 261 MB on 12 hours at --scale 1 for
     * ~80 MB of live heap. Fixed thresholds give big blocks back to the
     * kernel on free: 203 MB, ~5 % slower. Only for this long-running job
     * (short commands keep the faster defaults); an explicit GLIBC_TUNABLES
     * setting wins. */
    if (!getenv("GLIBC_TUNABLES")) {
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    }
    progress pr = {kiln_mono_seconds(), 0};
    if (kiln_cli_tty()) {
        o.scan.progress = show_progress;
        o.scan.progress_ctx = &pr;
    }
    kiln_gh_job_result res;
    kiln_err err = {0};
    rc = kiln_gh_events_job(&res, &o, &err);
    if (pr.shown)
        fputc('\n', stderr);
    int exit_code = rc ? kiln_cli_fail(&err) : gh_print(&res, kiln_opt_has(a, "--json") > 0);
    kiln_gh_job_result_free(&res);
    return exit_code;
}

static int run_job(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &job_spec, argc, argv))
        return a.exit;
    return run_gh_events(&a); /* the one job today (the parser knows the subcommands) */
}

KILN_COMMAND(cmd_job, "job", "run an engine job by hand (gh-events: GH Archive -> pushes, commits)", NULL, run_job, 40,
             NULL, 0, &job_spec)
