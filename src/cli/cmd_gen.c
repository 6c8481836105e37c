/*
 * cmd_gen.c - `kiln gen`: synthetic GH Archive hours and the matching
 * GitHub API responses, for tests, demos and benchmarks (engine/gh_gen.h).
 */
#include "cli.h"
#include "engine/gh_gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const kiln_opt gen_opts[] = {
    {"--out", 'o', KILN_OPT_VALUE, "DIR", "output directory (created if missing; required)"},
    {"--start", 0, KILN_OPT_VALUE, "DATE", "first UTC day (default 2025-01-01; 2015-01-01 or later)"},
    {"--days", 0, KILN_OPT_VALUE, "N", "number of days (default 1)"},
    {"--hours", 0, KILN_OPT_VALUE, "H", "hours per day, 0..H-1 (default 24; for quick tests)"},
    {"--scale", 0, KILN_OPT_VALUE, "F",
     "events per hour = 250000 * F on average (default 0.001;\n1 is a 2024-like hour of ~650 MB JSON; at most 8)"},
    {"--seed", 0, KILN_OPT_VALUE, "S", "PRNG seed, an unsigned integer (default 1)"},
    {"--threads", 0, KILN_OPT_VALUE, "N", "worker threads (default: number of CPUs); output does\nnot depend on it"},
    {"--mix", 0, KILN_OPT_VALUE, "MIX",
     "event type mix and payload sizes: real2025 (default; a real\n2025 hour, ~2.4 KB/event) or legacy (the "
     "2023 mix of\nearlier versions, ~3.8 KB/event)"},
    {"--json", 'j', 0, NULL,
     "print the summary as {subcommand, hours, events, push_events,\nfiles, json_bytes, gz_bytes, seconds, out, "
     "quirks}"},
    KILN_OPT_END};

static const kiln_opt gharchive_opts[] = {
    {"--quirks", 0, 0, NULL,
     "inject duplicates across hours, a missing hour, a truncated\nfile, a NUL run, a malformed line and a "
     "lone-surrogate\nline (listed in DIR/_quirks.json)"},
    KILN_OPT_END};

static const kiln_subcmd gen_subs[] = {
    {"gharchive", NULL, 0, 0, "GH Archive hour files",
     "GH Archive hour files DIR/YYYY-MM-DD-H.json.gz (hour not zero-padded),\n"
     "DIR/_manifest.json with per-hour counts (generator-side ground truth) and,\n"
     "with --quirks, DIR/_quirks.json listing the injected faults.",
     gharchive_opts},
    {"github-api", NULL, 0, 0, "the matching GitHub REST responses",
     "The matching REST responses: DIR/repos/OWNER/REPO.json,\n"
     "DIR/repos/OWNER/REPO.history.json (names and languages over time) and\n"
     "DIR/compare/OWNER/REPO/BASE...HEAD.json for every push on or after\n"
     "2025-10-07, plus DIR/_api_manifest.json.",
     NULL},
};

static const kiln_cmdspec gen_spec = {
    .name = "gen",
    .text = "Generate deterministic synthetic GitHub activity data (same arguments,\n"
            "byte-identical files).",
    .opts = gen_opts,
    .subs = gen_subs,
    .nsubs = 2,
    .footer = "exit codes: 0 ok, 1 write failed, 2 usage\n",
};

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int run_gen(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &gen_spec, argc, argv))
        return a.exit;
    const char *sub = a.sub->name;
    int api = strcmp(sub, "github-api") == 0;
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    const char *v;
    unsigned long long u;
    long long x;
    int rc;
    o.out_dir = kiln_opt_get(&a, "--out");
    o.quirks = !api && kiln_opt_has(&a, "--quirks");
    if ((v = kiln_opt_get(&a, "--start")) && kiln_date_parse(v, strlen(v), &o.start_day) != 0)
        return kiln_opt_usage(&a, "--start %s: expected YYYY-MM-DD", v);
    x = o.days;
    if ((rc = kiln_opt_int(&a, "--days", 1, KILN_GEN_MAX_DAYS, &x)))
        return rc;
    o.days = (int)x;
    x = o.hours;
    if ((rc = kiln_opt_int(&a, "--hours", 1, 24, &x)))
        return rc;
    o.hours = (int)x;
    x = o.threads;
    if ((rc = kiln_opt_int(&a, "--threads", 1, 256, &x)))
        return rc;
    o.threads = (int)x;
    if ((v = kiln_opt_get(&a, "--seed"))) {
        if (parse_u64(v, ~0ULL, &u))
            return kiln_opt_usage(&a, "--seed %s: expected an unsigned integer", v);
        o.seed = u;
    }
    if ((v = kiln_opt_get(&a, "--scale"))) {
        char *end;
        double d = strtod(v, &end);
        if (*end || !(d > 0) || d > KILN_GEN_MAX_SCALE)
            return kiln_opt_usage(&a, "--scale %s: expected a number in (0, %g]", v, KILN_GEN_MAX_SCALE);
        o.scale = d;
    }
    if ((v = kiln_opt_get(&a, "--mix"))) {
        if (strcmp(v, "real2025") == 0)
            o.mix = KILN_GEN_MIX_REAL2025;
        else if (strcmp(v, "legacy") == 0)
            o.mix = KILN_GEN_MIX_LEGACY;
        else
            return kiln_opt_usage(&a, "--mix %s: expected real2025 or legacy", v);
    }
    if (!o.out_dir)
        return kiln_opt_usage(&a, "--out DIR is required");
    kiln_gen_report rep = {0};
    kiln_err err = {0};
    rc = api ? kiln_gen_github_api(&o, &rep, &err) : kiln_gen_gharchive(&o, &rep, &err);
    if (rc)
        return kiln_cli_fail(&err);
    if (kiln_opt_has(&a, "--json")) {
        printf("{\"subcommand\":\"%s\",\"hours\":%llu,\"events\":%llu,\"push_events\":%llu,\"files\":%llu,"
               "\"json_bytes\":%llu,\"gz_bytes\":%llu,\"seconds\":%.3f,\"out\":",
               sub, (unsigned long long)rep.hours, (unsigned long long)rep.events, (unsigned long long)rep.push_events,
               (unsigned long long)rep.files, (unsigned long long)rep.json_bytes, (unsigned long long)rep.gz_bytes,
               rep.seconds);
        kiln_cli_json_str(stdout, o.out_dir);
        printf(",\"quirks\":%s}\n", o.quirks ? "true" : "false");
        return KILN_EXIT_OK;
    }
    double mb = (double)rep.json_bytes / 1e6;
    printf("kiln gen %s: %llu hours, %llu events (%llu pushes), %llu files, %.1f MB JSON", sub,
           (unsigned long long)rep.hours, (unsigned long long)rep.events, (unsigned long long)rep.push_events,
           (unsigned long long)rep.files, mb);
    if (!api)
        printf(" -> %.1f MB gz", (double)rep.gz_bytes / 1e6);
    printf(" in %.2f s (%.0f MB/s JSON)\n", rep.seconds, rep.seconds > 0 ? mb / rep.seconds : 0.0);
    if (!api && o.quirks)
        printf("faults injected: see %s/_quirks.json\n", o.out_dir);
    return KILN_EXIT_OK;
}

KILN_COMMAND(cmd_gen, "gen", "generate synthetic GH Archive hours and GitHub API responses", NULL, run_gen, 60, NULL, 0,
             &gen_spec)
