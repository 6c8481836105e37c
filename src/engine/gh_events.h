/*
 * gh_events.h - the GitHub-events job (`kiln job gh-events`): GH Archive
 * hour files (IN/YYYY-MM-DD-H.json.gz, or -HH) -> two row sets per UTC day:
 * pushes (one row per PushEvent) and commits (from the entries of a
 * PushEvent's payload.commits, the list GitHub caps at 20: one row per
 * (repo_id, sha) and day, the later push's; the same rows in every format,
 * docs/cli/job.md "The grain").
 *
 * Work is split by hour file over a thread pool; a day partition commits
 * only when all its hours succeeded, by swapping a staged directory in
 * place (OUT/pushes/date=D/, OUT/commits/date=D/). Design, dedupe window
 * and output layout: docs/engine.md.
 */
#ifndef KILN_ENGINE_GH_EVENTS_H
#define KILN_ENGINE_GH_EVENTS_H

#include "format/batch.h"

/* Column indexes of the pushes schema. */
enum {
    KILN_GH_P_EVENT_ID,
    KILN_GH_P_PUSH_ID,
    KILN_GH_P_REPO_ID,
    KILN_GH_P_REPO_NAME,
    KILN_GH_P_ACTOR_ID,
    KILN_GH_P_ACTOR_LOGIN,
    KILN_GH_P_ORG_LOGIN,
    KILN_GH_P_REF,
    KILN_GH_P_HEAD,
    KILN_GH_P_BEFORE,
    KILN_GH_P_SIZE,
    KILN_GH_P_DISTINCT_SIZE,
    KILN_GH_P_CREATED_AT,
    KILN_GH_P_NCOLS
};
/* Column indexes of the commits schema. */
enum {
    KILN_GH_C_REPO_ID,
    KILN_GH_C_REPO_NAME,
    KILN_GH_C_SHA,
    KILN_GH_C_PUSH_ID,
    KILN_GH_C_AUTHOR_NAME,
    KILN_GH_C_AUTHOR_EMAIL,
    KILN_GH_C_MESSAGE,
    KILN_GH_C_DISTINCT,
    KILN_GH_C_CREATED_AT,
    KILN_GH_C_NCOLS
};

/* The two output schemas, with Iceberg field ids 1..n (static; never free). */
const kiln_schema *kiln_gh_pushes_schema(void);
const kiln_schema *kiln_gh_commits_schema(void);

/* Output formats: a sink constructor per format. Adding a format (Parquet)
 * is one row in the table in gh_events.c. */
typedef int (*kiln_gh_sink_open_fn)(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err);
typedef struct kiln_gh_format {
    const char *name; /* "csv" */
    const char *ext;  /* ".csv" */
    kiln_gh_sink_open_fn open;
} kiln_gh_format;
const kiln_gh_format *kiln_gh_format_find(const char *name); /* NULL if unknown */
const char *kiln_gh_format_names(void);                      /* "csv, ndjson, parquet" */

/* Progress callback, called from worker threads (must be thread-safe). */
typedef void (*kiln_gh_progress_fn)(void *ctx, uint64_t files_done, uint64_t files_total, uint64_t gz_done,
                                    uint64_t gz_total, uint64_t json_bytes);

typedef struct kiln_gh_opts {
    const char *in_dir;         /* borrowed */
    const char *out_dir;        /* borrowed */
    const char *quarantine_dir; /* NULL: OUT/_quarantine */
    int64_t start_day, end_day; /* inclusive; has_range = 0: every file in in_dir */
    int has_range;
    const char *filter; /* "actor=a,org=b,repo=o/r" or NULL; repeated keys OR */
    const kiln_gh_format *format;
    int threads;       /* 0 = number of CPUs */
    size_t line_cap;   /* longest line accepted (0 = 64 MB) */
    size_t batch_rows; /* rows per batch before a flush (0 = 8192) */
    int keep_going;    /* 1: a failed hour fails its day, every other hour still
                                    runs; 0: no hour starts after the first failure (days
                                    not finished then are "skipped") */
    int allow_missing; /* 1: no hour file to read is an empty run, not an error */
    kiln_gh_progress_fn progress;
    void *progress_ctx;
    /* Re-run fast path (set by the Iceberg job, NULL otherwise): the scan
     * computes each planned day's input fingerprint (KILN_GH_FP_LEN hex:
     * SHA-256 over, per hour file of the day and the previous hour's file
     * when that is planned too, its name, size, mtime and CRC-64 of its
     * bytes, plus the filter) into the partition's input_fp, and asks
     * unchanged(); a day it answers 1 for is not read (status UNCHANGED),
     * unless the next planned day is read and dedupes against its last hour. */
    int (*unchanged)(void *ctx, int64_t day, const char *fingerprint);
    void *unchanged_ctx;
} kiln_gh_opts;

#define KILN_GH_FP_LEN 64

typedef struct kiln_gh_counts {
    uint64_t files, missing, events, pushes, commits, quarantined, duplicates, filtered;
    uint64_t json_bytes, gz_bytes, utf8_repaired;
    uint64_t commits_superseded; /* commit rows dropped for the grain: a later push in
                                    the same day carried the same (repo_id, sha) */
    uint64_t reruns;             /* hours read twice: their pushes repeated events of the
                                    previous hour, found only after both ran */
} kiln_gh_counts;

typedef enum kiln_gh_part_status {
    KILN_GH_PART_OK,       /* every hour file of the day loaded */
    KILN_GH_PART_NO_DATA,  /* no hour file of the day in IN (all missing) */
    KILN_GH_PART_FAILED,   /* an hour failed: the day's previous output is kept */
    KILN_GH_PART_SKIPPED,  /* not run: an earlier hour failed and keep_going was 0 */
    KILN_GH_PART_UNCHANGED /* not read: its inputs match the fingerprint recorded when
                              it was loaded (opts.unchanged) */
} kiln_gh_part_status;

typedef struct kiln_gh_partition {
    int64_t day;
    kiln_gh_counts counts;
    kiln_gh_part_status status;
    int failed;      /* status is FAILED or SKIPPED: output left untouched */
    char error[512]; /* the first error (FAILED) or why it was skipped */
    char **errors;   /* FAILED: every failed hour's error, "FILE: message" */
    size_t nerrors;
    char input_fp[KILN_GH_FP_LEN + 1]; /* with opts.unchanged: the inputs' fingerprint, else "" */
} kiln_gh_partition;

typedef struct kiln_gh_report {
    kiln_gh_partition *parts; /* one per planned day, ascending */
    size_t nparts;
    kiln_gh_counts total;
    char **missing; /* names of planned hour files not found */
    size_t nmissing;
    char **ignored; /* names in IN that look like hour files but are not
                                 YYYY-MM-DD-H.json.gz (nor -HH): never read */
    size_t nignored;
    size_t failed;    /* partitions FAILED or SKIPPED */
    size_t loaded;    /* partitions OK with at least one hour file */
    size_t unchanged; /* partitions UNCHANGED (not read) */
    double seconds;
} kiln_gh_report;

void kiln_gh_opts_init(kiln_gh_opts *o);
/* Run the scan. Returns 0 when it ran (check report->failed for failed
 * partitions) or a negative code for a job-level error: bad options, IN
 * missing (KILN_ENOTFOUND), no hour file to read without allow_missing
 * (KILN_ENOTFOUND, naming the folder, the name pattern, the range and the
 * names that were close), one hour spelled two ways in IN (KILN_EFORMAT,
 * naming both files), OUT not writable. Caller frees the report with
 * kiln_gh_report_free. */
int kiln_gh_events_run(const kiln_gh_opts *opts, kiln_gh_report *report, kiln_err *err);
void kiln_gh_report_free(kiln_gh_report *r);
/* The report as one JSON object (appended to out). */
int kiln_gh_report_json(const kiln_gh_report *r, kiln_buf *out, kiln_err *err);
const char *kiln_gh_part_status_name(kiln_gh_part_status s); /* "ok", "no_data", "failed", "skipped", "unchanged" */

/* ---- Iceberg output (gh_iceberg.c): the job runs with the Parquet format
 * into a staging directory, then kiln_gh_iceberg_load MERGEs the days that
 * succeeded into github.pushes (key push_id) and github.commits (key
 * repo_id,sha) in warehouse (sqlite catalog), partitioned by
 * day(created_at); tables are created on first use. */
typedef struct kiln_gh_iceberg_opts {
    const char *warehouse; /* borrowed */
    const char *branch;    /* NULL = main */
    int per_partition;     /* 1: one commit per table per day; 0: one per table per run */
    uint64_t stage_bytes;  /* staging budget (0 = 32 MB): when the rows held for a
                                commit pass it, they are committed to the staging
                                branch at once; the target still moves
                                once per run (or day) */
    /* Test hook: called before each table's publish (e.g. to commit as
     * another writer would). NULL in production. */
    void (*before_publish)(void *ctx, const char *table);
    void *hook_ctx;
    int threads; /* the load's Parquet encoding (columns in parallel); 0 = the scan's --threads */
} kiln_gh_iceberg_opts;

typedef struct kiln_gh_iceberg_table_result {
    char name[32];            /* "github.pushes" */
    int snapshots;            /* snapshots written (a big run's chunks on the staging branch count) */
    int published;            /* times the target ref moved: 1 per run (commit=job) or per day */
    int buckets;              /* key-range buckets of days bigger than the budget (one chunk each) */
    int noop_commits;         /* commits that changed nothing (no snapshot) */
    int64_t last_snapshot_id; /* -1 if none added */
    int64_t rows_inserted, rows_updated, files_added, files_removed;
    int stale_branches_dropped; /* staging branches of killed runs, dropped */
    int reloads;                /* publishes that conflicted (another writer moved the
                                target) and were loaded again on the new head */
    char warning[256];          /* a cleanup that failed (staging branch left), or "" */
} kiln_gh_iceberg_table_result;

typedef struct kiln_gh_iceberg_result {
    kiln_gh_iceberg_table_result tables[2]; /* pushes, commits */
} kiln_gh_iceberg_result;

/* stage: the --out directory of the Parquet run that produced report rep.
 * Failed partitions of rep are skipped. Both tables are loaded into staging
 * branches, then published together per run (or per day). Returns 0 or a
 * negative code (units published before the failure stay; the failing unit
 * shows nothing, unless the failure is the second table's publish). */
int kiln_gh_iceberg_load(const kiln_gh_iceberg_opts *o, const char *stage, const kiln_gh_report *rep,
                         kiln_gh_iceberg_result *res, kiln_err *err);
/* The result as a JSON array of per-table objects (appended to out). */
int kiln_gh_iceberg_result_json(const kiln_gh_iceberg_result *r, kiln_buf *out, kiln_err *err);

/* Parse an hour file name: GH Archive's "YYYY-MM-DD-H.json.gz" (hour 0..23,
 * not zero-padded) or the zero-padded "YYYY-MM-DD-HH.json.gz". Returns 0
 * and sets day/hour, or KILN_EFORMAT. */
int kiln_gh_hour_name_parse(const char *name, int64_t *day, int *hour);

/* ---- The whole job as one call (gh_job.c): what `kiln job gh-events`,
 * the orchestrator's job.gh_events task and the server run. */

typedef struct kiln_gh_job_opts {
    kiln_gh_opts scan; /* scan.format: the file format; ignored with iceberg */
    int iceberg;       /* 1: load github.pushes / github.commits in iceberg.warehouse */
    kiln_gh_iceberg_opts iceberg_opts;
} kiln_gh_job_opts;

typedef enum kiln_gh_job_status {
    KILN_GH_JOB_OK,      /* every planned partition loaded (or an allowed empty run) */
    KILN_GH_JOB_PARTIAL, /* some partitions loaded, some failed or were skipped */
    KILN_GH_JOB_FAILED   /* partitions failed and none loaded */
} kiln_gh_job_status;

typedef struct kiln_gh_job_result {
    kiln_gh_job_status status;
    kiln_gh_report report; /* the scan: partitions, counts, errors, missing hours */
    char *out_dir;         /* where the files went (iceberg: the staging dir) */
    char *quarantine_dir;  /* where bad lines went (when report.total.quarantined) */
    int staged_left;       /* iceberg: staged day copies that could not be removed */
    int iceberg;           /* 1: iceberg_result is set */
    char branch[128];      /* iceberg: the target ref */
    kiln_gh_iceberg_result iceberg_result;
} kiln_gh_job_result;

void kiln_gh_job_opts_init(kiln_gh_job_opts *o);
/* Run the job: scan IN into OUT (file formats), or into the staging
 * directory (default WAREHOUSE/_staging/gh-events) and then MERGE the days
 * that loaded into the Iceberg tables, dropping their staged copy. Returns 0
 * when it ran (out->status says whether every partition loaded) or a
 * negative code for a job-level error (see kiln_gh_events_run; iceberg
 * catalog errors). out is filled in either case (free it with
 * kiln_gh_job_result_free). */
int kiln_gh_events_job(kiln_gh_job_result *out, const kiln_gh_job_opts *opts, kiln_err *err);
void kiln_gh_job_result_free(kiln_gh_job_result *r);
/* The summary as one JSON object, or as the text table the CLI prints
 * (appended to out). */
int kiln_gh_job_result_json(const kiln_gh_job_result *r, kiln_buf *out, kiln_err *err);
int kiln_gh_job_result_text(const kiln_gh_job_result *r, kiln_buf *out, kiln_err *err);
const char *kiln_gh_job_status_name(kiln_gh_job_status s); /* "ok", "partial", "failed" */

#endif
