/*
 * gh_gen.h - synthetic GitHub activity data for tests, demos and
 * benchmarks: GH Archive hourly files (`kiln gen gharchive`) and the
 * matching GitHub REST API responses (`kiln gen github-api`).
 *
 * Output is a pure function of the options: the same options give
 * byte-identical files, whatever the number of threads. Design notes and
 * file formats: docs/gen.md.
 */
#ifndef KILN_ENGINE_GH_GEN_H
#define KILN_ENGINE_GH_GEN_H

#include "base/base.h"

/* Events per hour at scale 1 (a 2024-like hour, ~650 MB of JSON with the
 * default mix, ~950 MB with KILN_GEN_MIX_LEGACY). */
#define KILN_GEN_EVENTS_PER_HOUR 250000
/* PushEvent payloads lose size/distinct_size/commits from this UTC day on
 * (2025-10-07, GitHub changelog 2025-08-08). Days since 1970-01-01. */
#define KILN_GEN_PUSH_ERA_DAY 20368
/* Longest range accepted (2015 to 2026 is ~4,400 days). */
#define KILN_GEN_MAX_DAYS 5000
/* Shortest span (days x hours) --quirks accepts: the duplicates take two
 * adjacent hours, the missing hour, the truncated file, the NUL run and the
 * malformed line one more each. */
#define KILN_GEN_QUIRKS_MIN_HOURS 6
/* Largest --scale accepted (keeps ids of consecutive hours apart). */
#define KILN_GEN_MAX_SCALE 8.0

typedef struct kiln_gen_opts {
    int64_t start_day;   /* first UTC day, days since 1970-01-01 */
    int days;            /* number of days, >= 1 */
    int hours;           /* hours per day, 1..24 (0 means 24); hours 0..hours-1 */
    double scale;        /* average events per hour = 250000 * scale */
    uint64_t seed;       /* PRNG seed */
    const char *out_dir; /* created if missing; borrowed */
    int quirks;          /* gharchive: inject real-world faults (see docs/gen.md);
                            needs days * hours >= KILN_GEN_QUIRKS_MIN_HOURS */
    int threads;         /* worker threads; 0 = number of CPUs */
    int mix;             /* KILN_GEN_MIX_*: type mix and payload sizes */
} kiln_gen_opts;

/* Event mix. REAL2025 (default): type shares and per-type byte sizes of a
 * real 2025 hour (~2.4 KB/event, PushEvent ~71 % of events / ~31 % of
 * bytes, PullRequestEvent ~20 KB). LEGACY: the 2023 type mix and sizes of
 * earlier kiln versions (~3.8 KB/event), byte-identical to their output.
 * docs/gen.md has the calibration. */
enum { KILN_GEN_MIX_REAL2025 = 0, KILN_GEN_MIX_LEGACY = 1 };

typedef struct kiln_gen_report {
    uint64_t hours;  /* hours simulated */
    uint64_t files;  /* files written (hour files, or API response files) */
    uint64_t events; /* events generated (before quirks) */
    uint64_t push_events;
    uint64_t json_bytes; /* uncompressed JSON bytes written */
    uint64_t gz_bytes;   /* compressed bytes written (gharchive) */
    double seconds;      /* wall time */
} kiln_gen_report;

/* Defaults: 2025-01-01, 1 day, 24 hours, scale 0.001, seed 1, no quirks. */
void kiln_gen_opts_init(kiln_gen_opts *o);

/* Write OUT_DIR/YYYY-MM-DD-H.json.gz for each hour, plus
 * OUT_DIR/_manifest.json (generator-side per-hour counts) and, with
 * quirks, OUT_DIR/_quirks.json (what was injected where).
 * out may be NULL. Returns 0 or a negative KILN_E* code. */
int kiln_gen_gharchive(const kiln_gen_opts *opts, kiln_gen_report *out, kiln_err *err);

/* Write the API responses matching kiln_gen_gharchive with the same
 * options: OUT_DIR/repos/{owner}/{repo}.json, .history.json, and
 * OUT_DIR/compare/{owner}/{repo}/{base}...{head}.json for every push on or
 * after 2025-10-07, plus OUT_DIR/_api_manifest.json. quirks is ignored. */
int kiln_gen_github_api(const kiln_gen_opts *opts, kiln_gen_report *out, kiln_err *err);

/* "YYYY-MM-DD-H.json.gz" (hour not zero-padded) into out (>= 32 bytes). */
void kiln_gen_hour_name(int64_t day, int hour, char *out);

#endif /* KILN_ENGINE_GH_GEN_H */
