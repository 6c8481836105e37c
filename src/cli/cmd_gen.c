/*
 * cmd_gen.c - `kiln gen`: synthetic GH Archive hours and the matching
 * GitHub API responses, for tests, demos and benchmarks (engine/gh_gen.h).
 */
#include "cli.h"
#include "engine/gh_gen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kiln gen gharchive --out DIR [--start YYYY-MM-DD] [--days N] [--hours H]\n"
    "                          [--scale F] [--seed S] [--quirks] [--threads N]\n"
    "       kiln gen github-api --out DIR [--start YYYY-MM-DD] [--days N] [--hours H]\n"
    "                          [--scale F] [--seed S] [--threads N]\n"
    "\n"
    "Generate deterministic synthetic GitHub activity data (same arguments,\n"
    "byte-identical files).\n"
    "\n"
    "  gharchive   GH Archive hour files DIR/YYYY-MM-DD-H.json.gz (hour not\n"
    "              zero-padded), DIR/_manifest.json with per-hour counts\n"
    "              (generator-side ground truth) and, with --quirks,\n"
    "              DIR/_quirks.json listing the injected faults\n"
    "  github-api  the matching REST responses: DIR/repos/OWNER/REPO.json,\n"
    "              DIR/repos/OWNER/REPO.history.json (names and languages over\n"
    "              time) and DIR/compare/OWNER/REPO/BASE...HEAD.json for every\n"
    "              push on or after 2025-10-07, plus DIR/_api_manifest.json\n"
    "\n"
    "options:\n"
    "  --out DIR         output directory (created if missing; required)\n"
    "  --start DATE      first UTC day (default 2025-01-01; 2015-01-01 or later)\n"
    "  --days N          number of days (default 1)\n"
    "  --hours H         hours per day, 0..H-1 (default 24; for quick tests)\n"
    "  --scale F         events per hour = 250000 * F on average (default 0.001;\n"
    "                    1 is a 2024-like hour of ~750 MB JSON; at most 8)\n"
    "  --seed S          PRNG seed, an unsigned integer (default 1)\n"
    "  --quirks          gharchive: inject duplicates across hours, a missing\n"
    "                    hour, a truncated file, a NUL run, a malformed line and\n"
    "                    a lone-surrogate line (listed in DIR/_quirks.json)\n"
    "  --threads N       worker threads (default: number of CPUs); output does\n"
    "                    not depend on it\n"
    "  -h, --help        show this help\n"
    "\n"
    "exit codes: 0 ok, 1 write failed, 2 usage\n";

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
    if (argc < 2)
        return kiln_cli_usage_error("gen", "missing subcommand (gharchive or github-api)");
    const char *sub = argv[1];
    int api;
    if (strcmp(sub, "gharchive") == 0)
        api = 0;
    else if (strcmp(sub, "github-api") == 0)
        api = 1;
    else
        return kiln_cli_usage_error("gen", "unknown subcommand '%s' (use gharchive or github-api)", sub);
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long u;
        if (strcmp(a, "--quirks") == 0) {
            if (api)
                return kiln_cli_usage_error("gen", "--quirks applies to 'gen gharchive' only");
            o.quirks = 1;
            continue;
        }
        if (!v)
            return kiln_cli_usage_error("gen", "%s needs a value", a);
        i++;
        if (strcmp(a, "--out") == 0) {
            o.out_dir = v;
        } else if (strcmp(a, "--start") == 0) {
            if (kiln_date_parse(v, strlen(v), &o.start_day) != 0)
                return kiln_cli_usage_error("gen", "--start %s: expected YYYY-MM-DD", v);
        } else if (strcmp(a, "--days") == 0) {
            if (parse_u64(v, KILN_GEN_MAX_DAYS, &u) || u == 0)
                return kiln_cli_usage_error("gen", "--days %s: expected 1..%d", v, KILN_GEN_MAX_DAYS);
            o.days = (int)u;
        } else if (strcmp(a, "--hours") == 0) {
            if (parse_u64(v, 24, &u) || u == 0)
                return kiln_cli_usage_error("gen", "--hours %s: expected 1..24", v);
            o.hours = (int)u;
        } else if (strcmp(a, "--threads") == 0) {
            if (parse_u64(v, 256, &u) || u == 0)
                return kiln_cli_usage_error("gen", "--threads %s: expected 1..256", v);
            o.threads = (int)u;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(v, ~0ULL, &u))
                return kiln_cli_usage_error("gen", "--seed %s: expected an unsigned integer", v);
            o.seed = u;
        } else if (strcmp(a, "--scale") == 0) {
            char *end;
            double d = strtod(v, &end);
            if (*end || !(d > 0) || d > KILN_GEN_MAX_SCALE)
                return kiln_cli_usage_error("gen", "--scale %s: expected a number in (0, %g]", v,
                                            KILN_GEN_MAX_SCALE);
            o.scale = d;
        } else {
            return kiln_cli_usage_error("gen", "unknown option '%s'", a);
        }
    }
    if (!o.out_dir)
        return kiln_cli_usage_error("gen", "--out DIR is required");
    kiln_gen_report rep = {0};
    kiln_err err = {0};
    int rc = api ? kiln_gen_github_api(&o, &rep, &err) : kiln_gen_gharchive(&o, &rep, &err);
    if (rc)
        return kiln_cli_fail(&err);
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

KILN_COMMAND(cmd_gen, "gen", "generate synthetic GH Archive hours and GitHub API responses", usage, run_gen, 60, NULL)
