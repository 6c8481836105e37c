/*
 * cmd_verify.c - `kiln verify convergence`: parse the flags and run the
 * stream-vs-batch check (serve/serve.h kiln_verify_convergence). Exit 0
 * when both paths agree, 1 when they differ (the differences printed).
 */
#include "cli.h"
#include "serve/serve.h"

#include <stdio.h>
#include <string.h>

#define MAX_REPOS 100

static const kiln_opt verify_opts[] = {{"--json", 'j', 0, NULL, "print the report as one JSON object"}, KILN_OPT_END};

static const kiln_opt convergence_opts[] = {
    {"--start", 0, KILN_OPT_VALUE, "DATE", "first UTC day of the window, YYYY-MM-DD (required)"},
    {"--end", 0, KILN_OPT_VALUE, "DATE", "last UTC day of the window, inclusive (default --start)"},
    {"--raw", 0, KILN_OPT_VALUE, "DIR",
     "raw zone kiln serve lands webhooks in (DIR/webhooks; read\nonly; default ./raw)"},
    {"--gharchive", 0, KILN_OPT_VALUE, "DIR", "GH Archive hour files YYYY-MM-DD-H.json.gz (required)"},
    {"--api", 0, KILN_OPT_VALUE, "DIR",
     "GitHub REST responses (DIR/compare/OWNER/REPO/BASE...HEAD.json,\nas kiln gen github-api writes them) that "
     "complete GH Archive's\ncommit lists"},
    {"--repo", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "OWNER/NAME",
     "compare this repo (repeatable; default every repo the\nwebhooks have in the window)"},
    {"--max-diffs", 0, KILN_OPT_VALUE, "N", "differences listed, 1..100000 (all are counted; default 100)"},
    {"--threads", 0, KILN_OPT_VALUE, "N", "engine threads (default 2)"},
    KILN_OPT_END};

static const kiln_subcmd verify_subs[] = {
    {"convergence", NULL, 0, 0, "stream (webhooks) vs batch (GH Archive) for a window",
     "Run the webhook deliveries kiln serve landed and the GH Archive hours of the\n"
     "same days, for the same repos, through the same engine job; compare the\n"
     "pushes (repo, ref, before, head) and commits (repo, sha: author name, email,\n"
     "message). Equal, or every difference with the side that has it.",
     convergence_opts},
};

static const kiln_cmdspec verify_spec = {
    .name = "verify",
    .text = "Check that kiln's paths agree.",
    .opts = verify_opts,
    .subs = verify_subs,
    .nsubs = 1,
    .footer = "exit codes: 0 equal, 1 different (or the check failed), 2 usage, 4 an input\n"
              "not found (delivery log, GH Archive folder, no webhook data in the window)\n",
};

static int run_verify(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &verify_spec, argc, argv))
        return a.exit;
    kiln_verify_opts o = {0};
    const char *v, *repos[MAX_REPOS];
    long long x;
    int rc;
    if (!(v = kiln_opt_get(&a, "--start")))
        return kiln_opt_usage(&a, "--start DATE is required");
    if (kiln_date_parse(v, strlen(v), &o.start_day) != 0)
        return kiln_opt_usage(&a, "--start %s: expected YYYY-MM-DD", v);
    o.end_day = o.start_day;
    if ((v = kiln_opt_get(&a, "--end")) && kiln_date_parse(v, strlen(v), &o.end_day) != 0)
        return kiln_opt_usage(&a, "--end %s: expected YYYY-MM-DD", v);
    if (o.end_day < o.start_day)
        return kiln_opt_usage(&a, "--end is before --start");
    if (!(o.gharchive_dir = kiln_opt_get(&a, "--gharchive")))
        return kiln_opt_usage(&a, "--gharchive DIR is required (the batch side)");
    o.raw_dir = kiln_opt_get(&a, "--raw");
    o.api_dir = kiln_opt_get(&a, "--api");
    int n = kiln_opt_values(&a, "--repo", repos, MAX_REPOS);
    if (n > MAX_REPOS)
        return kiln_opt_usage(&a, "at most %d --repo", MAX_REPOS);
    for (int i = 0; i < n; i++)
        if (!strchr(repos[i], '/') || strchr(repos[i], ','))
            return kiln_opt_usage(&a, "--repo %s: expected OWNER/NAME", repos[i]);
    o.repos = (char *const *)repos;
    o.nrepos = (size_t)n;
    x = 100;
    if ((rc = kiln_opt_int(&a, "--max-diffs", 1, 100000, &x)))
        return rc;
    o.max_diffs = (size_t)x;
    x = 2;
    if ((rc = kiln_opt_int(&a, "--threads", 1, 256, &x)))
        return rc;
    o.threads = (int)x;
    kiln_buf out;
    kiln_buf_init(&out, 0);
    kiln_err err = {0};
    int equal = 0;
    if (kiln_verify_convergence(&o, kiln_opt_has(&a, "--json") > 0, &out, &equal, &err)) {
        kiln_buf_free(&out);
        return kiln_cli_fail(&err);
    }
    fwrite(out.data, 1, out.len, stdout);
    kiln_buf_free(&out);
    return equal ? KILN_EXIT_OK : KILN_EXIT_FAIL;
}

KILN_COMMAND(cmd_verify, "verify", "check that the stream and batch paths agree (convergence)", NULL, run_verify, 75,
             NULL, 0, &verify_spec)
