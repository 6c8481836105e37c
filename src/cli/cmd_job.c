/*
 * cmd_job.c - `kiln job`: run one engine job by hand. Today: gh-events,
 * GH Archive hour files -> pushes and commits per day (src/engine/gh_events.c).
 */
#include "cli.h"
#include "engine/gh_events.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kiln job gh-events --in DIR --out DIR [--format csv|ndjson|parquet]\n"
    "       kiln job gh-events --in DIR --format iceberg --warehouse DIR [--out DIR]\n"
    "                          [--commit job|partition] [--branch NAME] [--stage-mb N]\n"
    "                          [--start YYYY-MM-DD --end YYYY-MM-DD]\n"
    "                          [--filter actor=LOGIN,org=LOGIN,repo=OWNER/NAME]\n"
    "                          [--threads N] [--quarantine DIR] [--line-cap MB] [--json]\n"
    "\n"
    "Run an engine job by hand.\n"
    "\n"
    "  gh-events  read GH Archive hour files IN/YYYY-MM-DD-H.json.gz and write\n"
    "             per UTC day OUT/pushes/date=D/part-HH.EXT and\n"
    "             OUT/commits/date=D/part-HH.EXT (one row per PushEvent, one per\n"
    "             entry of its payload.commits). A day is replaced atomically\n"
    "             when all its hours succeed; a truncated or corrupt file fails\n"
    "             its day and leaves that day's previous output in place.\n"
    "\n"
    "options:\n"
    "  --in DIR             directory with the hour files\n"
    "  --out DIR            output directory (created if missing)\n"
    "  --format F           csv (default), ndjson, parquet (one file per table\n"
    "                       per hour) or iceberg (tables github.pushes and\n"
    "                       github.commits, MERGE on push_id / repo_id,sha,\n"
    "                       partitioned by day(created_at); --out is then the\n"
    "                       Parquet staging directory, default\n"
    "                       WAREHOUSE/_staging/gh-events)\n"
    "  --warehouse DIR      iceberg: warehouse directory (sqlite catalog)\n"
    "  --commit MODE        iceberg: job (default: the target branch moves once\n"
    "                       per table per run) or partition (once per day)\n"
    "  --branch NAME        iceberg: commit to this branch (default main;\n"
    "                       created at main's head when missing)\n"
    "  --stage-mb N         iceberg: rows held in memory for one commit, 8..4096\n"
    "                       (default 32); past it the rows so far are committed\n"
    "                       to a staging branch (cut anywhere), published\n"
    "                       to the target in one commit at the end (bounded RSS)\n"
    "  --start D, --end D   inclusive UTC date range; hours missing in it are\n"
    "                       reported (default: every hour file in --in)\n"
    "  --filter SPEC        keep pushes matching KEY=VALUE[,KEY=VALUE...]; keys\n"
    "                       actor, org, repo (owner/name); a key given twice\n"
    "                       matches either value; case-insensitive\n"
    "  --threads N          worker threads (default: number of CPUs)\n"
    "  --quarantine DIR     where bad lines go (default OUT/_quarantine)\n"
    "  --line-cap MB        longest line accepted, 4..1024 (default 64)\n"
    "  --json               print the summary as one JSON object\n"
    "  -h, --help           show this help\n"
    "\n"
    "exit codes: 0 ok, 1 a partition failed (iceberg: the other days were\n"
    "committed), 2 usage, 4 --in not found\n";

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

static void print_counts_row(const char *label, const char *status, const kiln_gh_counts *c)
{
    printf("%-12s %-7s %5llu %7llu %10llu %9llu %9llu %11llu %10llu\n", label, status, (unsigned long long)c->files,
           (unsigned long long)c->missing, (unsigned long long)c->events, (unsigned long long)c->pushes,
           (unsigned long long)c->commits, (unsigned long long)c->quarantined, (unsigned long long)c->duplicates);
}

static int run_gh_events(int argc, char **argv)
{
    kiln_gh_opts o;
    kiln_gh_opts_init(&o);
    const char *start = NULL, *end = NULL;
    int json = 0, iceberg = 0;
    kiln_gh_iceberg_opts io = {0};
    char *stage = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG                                                                   \
    do {                                                                           \
        if (!v)                                                                    \
            return kiln_cli_usage_error("job", "%s needs a value", a);             \
        i++;                                                                       \
    } while (0)
        if (strcmp(a, "--in") == 0) {
            NEED_ARG;
            o.in_dir = v;
        } else if (strcmp(a, "--out") == 0) {
            NEED_ARG;
            o.out_dir = v;
        } else if (strcmp(a, "--format") == 0) {
            NEED_ARG;
            iceberg = strcmp(v, "iceberg") == 0;
            o.format = kiln_gh_format_find(iceberg ? "parquet" : v);
            if (!o.format)
                return kiln_cli_usage_error("job", "--format %s: use one of %s, iceberg", v, kiln_gh_format_names());
        } else if (strcmp(a, "--warehouse") == 0) {
            NEED_ARG;
            io.warehouse = v;
        } else if (strcmp(a, "--branch") == 0) {
            NEED_ARG;
            io.branch = v;
        } else if (strcmp(a, "--stage-mb") == 0) {
            NEED_ARG;
            char *e;
            long n = strtol(v, &e, 10);
            if (*e || n < 8 || n > 4096)
                return kiln_cli_usage_error("job", "--stage-mb %s: use 8..4096", v);
            io.stage_bytes = (uint64_t)n << 20;
        } else if (strcmp(a, "--commit") == 0) {
            NEED_ARG;
            if (strcmp(v, "job") == 0)
                io.per_partition = 0;
            else if (strcmp(v, "partition") == 0)
                io.per_partition = 1;
            else
                return kiln_cli_usage_error("job", "--commit %s: use job or partition", v);
        } else if (strcmp(a, "--start") == 0) {
            NEED_ARG;
            start = v;
        } else if (strcmp(a, "--end") == 0) {
            NEED_ARG;
            end = v;
        } else if (strcmp(a, "--filter") == 0) {
            NEED_ARG;
            o.filter = v;
        } else if (strcmp(a, "--threads") == 0) {
            NEED_ARG;
            char *e;
            long n = strtol(v, &e, 10);
            if (*e || n < 1 || n > 256)
                return kiln_cli_usage_error("job", "--threads %s: use 1..256", v);
            o.threads = (int)n;
        } else if (strcmp(a, "--quarantine") == 0) {
            NEED_ARG;
            o.quarantine_dir = v;
        } else if (strcmp(a, "--line-cap") == 0) {
            NEED_ARG;
            char *e;
            long n = strtol(v, &e, 10);
            if (*e || n < 4 || n > 1024)
                return kiln_cli_usage_error("job", "--line-cap %s: use 4..1024 (MB)", v);
            o.line_cap = (size_t)n << 20;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else {
            return kiln_cli_usage_error("job", "unknown option %s", a);
        }
#undef NEED_ARG
    }
    if (!iceberg && (io.warehouse || io.branch || io.stage_bytes))
        return kiln_cli_usage_error("job", "--warehouse, --branch and --stage-mb go with --format iceberg");
    if (iceberg && !io.warehouse)
        return kiln_cli_usage_error("job", "--format iceberg needs --warehouse DIR");
    if (iceberg && !o.out_dir)
        o.out_dir = stage = kiln_sprintf("%s/_staging/gh-events", io.warehouse);
    if (!o.in_dir || !o.out_dir)
        return kiln_cli_usage_error("job", "gh-events needs --in DIR and --out DIR");
    if ((start != NULL) != (end != NULL))
        return kiln_cli_usage_error("job", "give both --start and --end, or neither");
    if (start) {
        if (kiln_date_parse(start, strlen(start), &o.start_day) != 0)
            return kiln_cli_usage_error("job", "--start %s is not a date YYYY-MM-DD", start);
        if (kiln_date_parse(end, strlen(end), &o.end_day) != 0)
            return kiln_cli_usage_error("job", "--end %s is not a date YYYY-MM-DD", end);
        if (o.end_day < o.start_day)
            return kiln_cli_usage_error("job", "--end %s is before --start %s", end, start);
        o.has_range = 1;
    }
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
        o.progress = show_progress;
        o.progress_ctx = &pr;
    }
    kiln_gh_report rep;
    kiln_err err = {0};
    int rc = kiln_gh_events_run(&o, &rep, &err);
    if (pr.shown)
        fputc('\n', stderr);
    if (rc) {
        kiln_free(stage);
        return kiln_cli_fail(&err);
    }
    kiln_gh_iceberg_result ir;
    if (iceberg) {
        rc = kiln_gh_iceberg_load(&io, o.out_dir, &rep, &ir, &err);
        if (rc) {
            kiln_gh_report_free(&rep);
            kiln_free(stage);
            return kiln_cli_fail(&err);
        }
        /* the default staging directory (under the warehouse) is kiln's own:
         * once the tables hold a day, its Parquet copy is only disk space.
         * Failed days and _quarantine stay; an explicit --out is the user's. */
        for (size_t i = 0; stage && i < rep.nparts; i++) {
            if (rep.parts[i].failed || rep.parts[i].counts.files == 0)
                continue;
            char d[16];
            kiln_date_format(rep.parts[i].day, d);
            for (int k = 0; k < 2; k++) {
                char *dir = kiln_sprintf("%s/%s/date=%s", stage, k ? "commits" : "pushes", d);
                kiln_err e2 = {0};
                if (kiln_rmtree(dir, &e2) != 0)
                    kiln_warn("could not remove the staged copy %s: %s", dir, e2.msg);
                kiln_free(dir);
            }
        }
    }
    kiln_free(stage);
    if (json) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        if (kiln_gh_report_json(&rep, &b, &err) == 0) {
            if (iceberg && b.len && b.data[b.len - 1] == '}') {
                b.len--;
                if (kiln_buf_printf(&b, &err, ",\"iceberg\":") == 0 && kiln_gh_iceberg_result_json(&ir, &b, &err) == 0)
                    kiln_buf_printf(&b, &err, "}");
            }
            printf("%s\n", b.data);
        }
        kiln_buf_free(&b);
    } else {
        printf("%-12s %-7s %5s %7s %10s %9s %9s %11s %10s\n", "partition", "status", "files", "missing", "events",
               "pushes", "commits", "quarantined", "duplicates");
        for (size_t i = 0; i < rep.nparts; i++) {
            char d[16];
            kiln_date_format(rep.parts[i].day, d);
            const kiln_gh_partition *p = &rep.parts[i];
            print_counts_row(d, p->failed ? "FAILED" : p->counts.files ? "ok" : "no-data", &p->counts);
        }
        print_counts_row("total", rep.failed ? "FAILED" : "ok", &rep.total);
        double mb = (double)rep.total.json_bytes / 1e6;
        printf("%.1f MB of JSON in %.2f s (%.0f MB/s)", mb, rep.seconds, rep.seconds > 0 ? mb / rep.seconds : 0);
        if (rep.total.filtered)
            printf(", %llu pushes filtered out", (unsigned long long)rep.total.filtered);
        if (rep.total.utf8_repaired)
            printf(", %llu invalid UTF-8/surrogates replaced by U+FFFD", (unsigned long long)rep.total.utf8_repaired);
        printf("\n");
        if (rep.nmissing) {
            printf("missing hours (%zu):", rep.nmissing);
            for (size_t i = 0; i < rep.nmissing && i < 48; i++)
                printf(" %s", rep.missing[i]);
            printf("%s\n", rep.nmissing > 48 ? " ..." : "");
        }
        for (int i = 0; iceberg && i < 2; i++) {
            const kiln_gh_iceberg_table_result *t = &ir.tables[i];
            printf("iceberg %s: %d snapshot(s)", t->name, t->snapshots);
            if (t->last_snapshot_id >= 0)
                printf(" (last %lld)", (long long)t->last_snapshot_id);
            printf(", %s moved %d time(s)", io.branch ? io.branch : "main", t->published);
            printf(", %d commit(s) without change, %lld rows inserted, %lld updated, %lld files added, %lld removed\n",
                   t->noop_commits, (long long)t->rows_inserted, (long long)t->rows_updated,
                   (long long)t->files_added, (long long)t->files_removed);
        }
    }
    for (size_t i = 0; i < rep.nparts; i++) {
        if (rep.parts[i].failed) {
            char d[16];
            kiln_date_format(rep.parts[i].day, d);
            fprintf(stderr, "kiln: partition %s failed, previous output kept: %s\n", d, rep.parts[i].error);
        }
    }
    int exit_code = rep.failed ? KILN_EXIT_FAIL : KILN_EXIT_OK;
    kiln_gh_report_free(&rep);
    return exit_code;
}

static int run_job(int argc, char **argv)
{
    if (argc < 2 || kiln_cli_wants_help(argc, argv)) {
        kiln_cli_print_help(kiln_cli_find("job"));
        return argc < 2 ? KILN_EXIT_USAGE : KILN_EXIT_OK;
    }
    if (strcmp(argv[1], "gh-events") == 0)
        return run_gh_events(argc, argv);
    return kiln_cli_usage_error("job", "unknown job '%s' (jobs: gh-events)", argv[1]);
}

KILN_COMMAND(cmd_job, "job", "run an engine job by hand (gh-events: GH Archive -> pushes, commits)", usage, run_job,
             40, NULL)
