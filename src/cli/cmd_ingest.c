/*
 * cmd_ingest.c - `kiln ingest gharchive`: GH Archive hour files into an
 * immutable raw zone (src/ingest/ingest.h). Parses flags, calls the module,
 * prints the summary.
 */
#include "cli.h"
#include "ingest/ingest.h"

#include <stdlib.h>
#include <string.h>

static const kiln_opt ingest_opts[] = {
    {"--json", 'j', 0, NULL,
     "print the summary as {source, out, hours, landed, unchanged, kept,\nchanged, missing, failed, bytes_downloaded, "
     "seconds, failures}"},
    KILN_OPT_END};

static const kiln_opt gharchive_opts[] = {
    {"--from", 0, KILN_OPT_VALUE, "URL",
     "where the hour files are (default https://data.gharchive.org;\nhttp, https or file:///dir)"},
    {"--start", 0, KILN_OPT_VALUE, "DATE", "first UTC day, YYYY-MM-DD (required)"},
    {"--end", 0, KILN_OPT_VALUE, "DATE", "last UTC day, inclusive (default: --start)"},
    {"--hours", 0, KILN_OPT_VALUE, "H-H", "hours of each day, e.g. 0-23 (default) or 5 or 3-7"},
    {"--out", 'o', KILN_OPT_VALUE, "RAW",
     "the raw zone: a directory or s3://bucket/prefix (required);\nfiles land at "
     "RAW/gharchive/date=D/hour=H/D-H.json.gz"},
    {"--partial-dir", 0, KILN_OPT_VALUE, "DIR",
     "where interrupted downloads wait to be resumed\n(default $XDG_CACHE_HOME/kiln/ingest or ~/.cache/kiln/ingest)"},
    {"--parallel", 'P', KILN_OPT_VALUE, "N", "downloads at once, 1..64 (default 4)"},
    {"--retries", 0, KILN_OPT_VALUE, "N", "attempts per hour file, 1..20 (default 5)"},
    KILN_OPT_END};

static const kiln_opt gh_events_opts[] = {
    {"--user", 0, KILN_OPT_VALUE, "LOGIN", "the GitHub user whose public events to pull (required)"},
    {"--out", 'o', KILN_OPT_VALUE, "RAW",
     "the raw zone: a directory or s3://bucket/prefix (required); files land at\n"
     "RAW/github-events/user=U/gharchive/date=D/hour=H/D-H.json.gz"},
    {"--api-url", 0, KILN_OPT_VALUE, "URL",
     "the REST API root (default $KILN_GITHUB_API_URL or https://api.github.com;\nGitHub Enterprise: "
     "https://HOST/api/v3)"},
    {"--cache", 0, KILN_OPT_VALUE, "STORE",
     "where the ETag response cache lives, a directory or s3://... (default: RAW)"},
    {"--budget", 0, KILN_OPT_VALUE, "N", "at most N HTTP requests this run, 1..1000000 (default 1000)"},
    {"--per-page", 0, KILN_OPT_VALUE, "N", "events per page, 1..100 (default 100)"},
    {"--retries", 0, KILN_OPT_VALUE, "N", "attempts per request, 1..20 (default 6)"},
    {"--max-wait", 0, KILN_OPT_VALUE, "SECONDS",
     "longest wait for a rate-limit reset or Retry-After, 0..86400 (default 3900);\na longer one is an error"},
    {"--follow", 'f', 0, NULL,
     "keep going: a round, then a wait of the longer of --interval and the\nAPI's X-Poll-Interval, again, until "
     "SIGINT/SIGTERM or --rounds"},
    {"--rounds", 0, KILN_OPT_VALUE, "N", "with --follow: stop after N rounds, 1..1000000 (default: no limit)"},
    {"--interval", 0, KILN_OPT_VALUE, "SECONDS", "with --follow: shortest wait between rounds, 0..86400 (default 60)"},
    KILN_OPT_END};

#define GH_API_OPTS                                                                                                    \
    {"--api-url", 0, KILN_OPT_VALUE, "URL",                                                                            \
     "the REST API root (default $KILN_GITHUB_API_URL or https://api.github.com)"},                                    \
        {"--cache", 0, KILN_OPT_VALUE, "STORE",                                                                        \
         "where API answers are cached (ETag; compares for good), a directory or\ns3://... (default "                  \
         "WAREHOUSE/_cache)"},                                                                                         \
        {"--budget", 0, KILN_OPT_VALUE, "N", "at most N HTTP requests this run, 1..1000000 (default 1000)"},           \
        {"--retries", 0, KILN_OPT_VALUE, "N", "attempts per request, 1..20 (default 6)"},                              \
    {                                                                                                                  \
        "--max-wait", 0, KILN_OPT_VALUE, "SECONDS",                                                                    \
            "longest wait for a rate-limit reset or Retry-After, 0..86400 (default 3900)"                              \
    }

static const kiln_opt gh_repos_opts[] = {GH_API_OPTS,
                                         {"--observed-at", 0, KILN_OPT_VALUE, "TIME",
                                          "the time the new versions start (valid_from), ISO timestamp (default now)"},
                                         KILN_OPT_END};

static const kiln_opt gh_compare_opts[] = {
    GH_API_OPTS,
    {"--filter", 0, KILN_OPT_VALUE, "SPEC",
     "only pushes matching KEY=VALUE[,KEY=VALUE...]; keys actor, org, repo\n(owner/name); a key given twice matches "
     "either "
     "value; case-insensitive"},
    {"--since", 0, KILN_OPT_VALUE, "DATE", "first day of pushes to enrich (default 2025-10-07)"},
    KILN_OPT_END};

static const kiln_subcmd ingest_subs[] = {
    {"gharchive", NULL, 0, 0, "GH Archive hour files into the raw zone",
     "Download SOURCE/YYYY-MM-DD-H.json.gz (hour not zero-padded) for each hour\n"
     "of --start..--end into RAW/gharchive/date=YYYY-MM-DD/hour=H/, write-once:\n"
     "an object that is there is never overwritten; a re-run asks the source\n"
     "with If-None-Match and reports unchanged / changed upstream. Downloads\n"
     "resume (Range) from --partial-dir, retry with backoff on 5xx, 429,\n"
     "connection errors and truncated bodies; the gzip stream is checked whole\n"
     "before it lands; a 404 is a missing hour (not an error). Each day gets\n"
     "RAW/gharchive/date=YYYY-MM-DD/_manifest.json (size, sha256, etag, url).",
     gharchive_opts},
    {"github-events", NULL, 0, 0, "a user's recent public events from the GitHub REST API into the raw zone",
     "GET /users/LOGIN/events (newest first; GitHub keeps the last 300 events\n"
     "of the last 90 days), following Link rel=\"next\" pages, and land them\n"
     "as GH Archive lines (one event a line, oldest first) in one gzip file per\n"
     "hour: RAW/github-events/user=LOGIN/gharchive/date=D/hour=H/D-H.json.gz,\n"
     "so `kiln job gh-events --in RAW/github-events/user=LOGIN` processes them.\n"
     "Write-once: a landed hour is never rewritten; an hour that may still grow\n"
     "(ended less than 10 minutes ago) waits for the next run. GITHUB_TOKEN is\n"
     "sent when set (never logged). Pages are cached by ETag (a 304 costs no\n"
     "quota); rate limits are waited out, not failed.",
     gh_events_opts},
    {"github-repos", NULL, 0, 0, "repository metadata for the repos in github.pushes into github.repos (SCD2)",
     "GET /repos/OWNER/REPO for every repo of github.pushes (--warehouse) and\n"
     "MERGE the answers into github.repos (created when missing): one row per\n"
     "(repo_id, valid_from); a change of full_name, language, default_branch,\n"
     "fork or archived closes the current row (valid_to, is_current false) and\n"
     "opens a new one, so history is kept (SCD type 2). Repos answering 404,\n"
     "451 or 403 are counted as unavailable, not fatal. One Iceberg commit.",
     gh_repos_opts},
    {"github-compare", NULL, 0, 0, "commits of pushes since 2025-10-07 from the compare API into github.commits",
     "Since 2025-10-07 PushEvents carry no commits. For each push of\n"
     "github.pushes on or after --since (and --filter), GET\n"
     "/repos/OWNER/REPO/compare/BEFORE...HEAD (BEFORE all zeros: the repo's\n"
     "default branch), every page of 250 commits, cached for good in --cache;\n"
     "404, 451, 409 are recorded (CACHE/github-compare/_unavailable.json), not\n"
     "fatal. The commits are MERGEd into github.commits on (repo_id, sha), the\n"
     "keys of archive-era commits; distinct is NULL (the compare API cannot\n"
     "tell). One Iceberg commit.",
     gh_compare_opts},
};

static const kiln_cmdspec ingest_spec = {
    .name = "ingest",
    .text = "Pull source data over HTTP into the raw zone of a local or S3 store.",
    .opts = ingest_opts,
    .subs = ingest_subs,
    .nsubs = 4,
    .footer = "exit codes: 0 every hour landed, unchanged, kept or missing; 1 nothing\n"
              "landed and some hour failed; 2 usage; 3 bad S3 settings; 4 every hour\n"
              "missing at the source; 6 some hours failed, others landed\n",
};

static int parse_hours(const char *v, int *lo, int *hi)
{
    char *end;
    long a = strtol(v, &end, 10), b = a;
    if (end == v)
        return -1;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtol(p, &end, 10);
        if (end == p)
            return -1;
    }
    if (*end || a < 0 || b > 23 || a > b)
        return -1;
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

typedef struct ev_print {
    kiln_args *a;
    const kiln_ingest_gh_events_opts *o;
} ev_print;

static void print_events_round(void *ctx, int round, const kiln_ingest_gh_events_report *r, int rc, const kiln_err *e);

static int run_github_events(kiln_args *a)
{
    kiln_ingest_gh_events_opts o;
    memset(&o, 0, sizeof o);
    const char *v;
    long long x;
    int rc;
    if (!(o.user = kiln_opt_get(a, "--user")))
        return kiln_opt_usage(a, "--user LOGIN is required");
    if (!(o.out = kiln_opt_get(a, "--out")))
        return kiln_opt_usage(a, "--out RAW is required");
    o.api.api_url = kiln_opt_get(a, "--api-url");
    o.api.cache = kiln_opt_get(a, "--cache");
    x = 1000;
    if ((rc = kiln_opt_int(a, "--budget", 1, 1000000, &x)))
        return rc;
    o.api.budget = x;
    x = 100;
    if ((rc = kiln_opt_int(a, "--per-page", 1, 100, &x)))
        return rc;
    o.per_page = (int)x;
    x = 6;
    if ((rc = kiln_opt_int(a, "--retries", 1, 20, &x)))
        return rc;
    o.api.max_attempts = (int)x;
    x = 3900;
    if ((rc = kiln_opt_int(a, "--max-wait", 0, 86400, &x)))
        return rc;
    o.api.max_wait_ms = x > 0 ? (long)x * 1000 : 1;
    (void)v;
    int follow = kiln_opt_has(a, "--follow");
    long long rounds = 0, interval = 60;
    if ((kiln_opt_get(a, "--rounds") || kiln_opt_get(a, "--interval")) && !follow)
        return kiln_opt_usage(a, "--rounds and --interval go with --follow");
    if ((rc = kiln_opt_int(a, "--rounds", 1, 1000000, &rounds)) ||
        (rc = kiln_opt_int(a, "--interval", 0, 86400, &interval)))
        return rc;
    ev_print pr = {a, &o};
    kiln_err err = {0};
    if (follow) {
        int n = 0;
        rc = kiln_ingest_github_events_follow(&o, (int)rounds, (long)interval, print_events_round, &pr, &n, &err);
        if (rc)
            return kiln_cli_fail(&err);
        kiln_info("ingest github-events --follow: %d round(s)", n);
        return KILN_EXIT_OK;
    }
    kiln_ingest_gh_events_report rep;
    rc = kiln_ingest_github_events(&o, &rep, &err);
    print_events_round(&pr, 1, &rep, rc, &err);
    if (rc)
        return kiln_cli_fail(&err);
    return KILN_EXIT_OK;
}

static void print_events_round(void *ctx, int round, const kiln_ingest_gh_events_report *r, int rc, const kiln_err *e)
{
    ev_print *pr = ctx;
    kiln_args *a = pr->a;
    const kiln_ingest_gh_events_opts *op = pr->o;
    const kiln_ingest_gh_events_report rep = *r;
    const kiln_github_stats *st = &rep.stats;
    (void)e;
    if (kiln_opt_has(a, "--json")) {
        printf("{\"source\":\"github-events\",\"user\":");
        kiln_cli_json_str(stdout, op->user);
        printf(",\"out\":");
        kiln_cli_json_str(stdout, op->out);
        if (kiln_opt_has(a, "--follow"))
            printf(",\"round\":%d", round);
        printf(",\"ok\":%s,\"pages\":%d,\"events\":%d,\"hours_landed\":%d,\"hours_unchanged\":%d,"
               "\"hours_partial\":%d,\"events_not_landed\":%d,\"gap\":%s,\"oldest\":",
               rc ? "false" : "true", rep.pages, rep.events, rep.hours_landed, rep.hours_unchanged, rep.hours_partial,
               rep.events_not_landed, rep.gap ? "true" : "false");
        kiln_cli_json_str(stdout, rep.oldest);
        printf(",\"newest\":");
        kiln_cli_json_str(stdout, rep.newest);
        printf(",\"requests\":%llu,\"not_modified\":%llu,\"retries\":%llu,\"rate_waits\":%llu,"
               "\"secondary_waits\":%llu,\"rate_remaining\":%ld,\"poll_interval\":%ld}\n",
               (unsigned long long)st->requests, (unsigned long long)st->not_modified, (unsigned long long)st->retries,
               (unsigned long long)st->rate_waits, (unsigned long long)st->secondary_waits, st->rate_remaining,
               st->poll_interval_s);
    } else if (!rc) {
        printf("ingest github-events %s: %d event(s) on %d page(s) (%s .. %s): %d hour(s) landed, %d already "
               "there, %d landed before without some events; %d event(s) not landed; %llu request(s), %llu "
               "answered 304 from the cache, %llu retried, %llu rate-limit wait(s), %llu secondary\n",
               op->user, rep.events, rep.pages, rep.oldest[0] ? rep.oldest : "-", rep.newest[0] ? rep.newest : "-",
               rep.hours_landed, rep.hours_unchanged, rep.hours_partial, rep.events_not_landed,
               (unsigned long long)st->requests, (unsigned long long)st->not_modified, (unsigned long long)st->retries,
               (unsigned long long)st->rate_waits, (unsigned long long)st->secondary_waits);
    }
    fflush(stdout);
    if (!rc && rep.gap)
        fprintf(stderr,
                "kiln: warning ingest: the API's event window no longer reaches the newest event landed before: "
                "events in between are lost (run more often than the 300-event window fills)\n");
}

static int gh_api_opts(kiln_args *a, kiln_github_opts *o, char **cache_owned)
{
    long long x;
    int rc;
    o->api_url = kiln_opt_get(a, "--api-url");
    o->cache = kiln_opt_get(a, "--cache");
    const char *wh = kiln_cli_warehouse();
    if (!o->cache && wh)
        o->cache = *cache_owned = kiln_sprintf("%s/_cache", wh);
    x = 1000;
    if ((rc = kiln_opt_int(a, "--budget", 1, 1000000, &x)))
        return rc;
    o->budget = x;
    x = 6;
    if ((rc = kiln_opt_int(a, "--retries", 1, 20, &x)))
        return rc;
    o->max_attempts = (int)x;
    x = 3900;
    if ((rc = kiln_opt_int(a, "--max-wait", 0, 86400, &x)))
        return rc;
    o->max_wait_ms = x > 0 ? (long)x * 1000 : 1;
    return 0;
}

static int run_github_load(kiln_args *a, int compare)
{
    kiln_ingest_gh_load_opts o;
    memset(&o, 0, sizeof o);
    char *cache = NULL;
    int rc;
    if (!(o.warehouse = kiln_cli_warehouse()))
        return kiln_opt_usage(a, "--warehouse DIR is required (the lake with github.pushes)");
    if ((rc = gh_api_opts(a, &o.api, &cache)))
        return rc;
    if (compare) {
        o.filter = kiln_opt_get(a, "--filter");
        o.since = kiln_opt_get(a, "--since");
    } else {
        o.observed_at = kiln_opt_get(a, "--observed-at");
    }
    kiln_ingest_gh_load_report rep;
    kiln_err err = {0};
    rc = compare ? kiln_ingest_github_compare(&o, &rep, &err) : kiln_ingest_github_repos(&o, &rep, &err);
    kiln_free(cache);
    if (rc == KILN_EINVAL)
        return kiln_opt_usage(a, "%s", err.msg);
    const kiln_github_stats *st = &rep.stats;
    if (kiln_opt_has(a, "--json")) {
        if (compare)
            printf("{\"source\":\"github-compare\",\"ok\":%s,\"pushes\":%d,\"fetched\":%d,\"cached\":%d,"
                   "\"unavailable\":%d,\"pages\":%d,\"commits\":%lld,\"inserted\":%lld,\"updated\":%lld,"
                   "\"sizes_set\":%lld,",
                   rc ? "false" : "true", rep.pushes, rep.compares_fetched, rep.compares_cached,
                   rep.compares_unavailable, rep.pages, (long long)rep.commits, (long long)rep.rows_inserted,
                   (long long)rep.rows_updated, (long long)rep.sizes_set);
        else
            printf("{\"source\":\"github-repos\",\"ok\":%s,\"repos\":%d,\"unavailable\":%d,\"opened\":%d,"
                   "\"closed\":%d,\"unchanged\":%d,\"inserted\":%lld,\"updated\":%lld,",
                   rc ? "false" : "true", rep.repos, rep.repos_unavailable, rep.versions_opened, rep.versions_closed,
                   rep.repos_unchanged, (long long)rep.rows_inserted, (long long)rep.rows_updated);
        printf("\"requests\":%llu,\"not_modified\":%llu,\"retries\":%llu,\"rate_waits\":%llu,"
               "\"secondary_waits\":%llu}\n",
               (unsigned long long)st->requests, (unsigned long long)st->not_modified, (unsigned long long)st->retries,
               (unsigned long long)st->rate_waits, (unsigned long long)st->secondary_waits);
    } else if (!rc) {
        if (compare)
            printf("ingest github-compare: %d push(es): %d compared (%d page(s)), %d from the cache, %d unavailable; "
                   "%lld commit(s) merged into github.commits (%lld inserted, %lld updated); %llu request(s)\n",
                   rep.pushes, rep.compares_fetched, rep.pages, rep.compares_cached, rep.compares_unavailable,
                   (long long)rep.commits, (long long)rep.rows_inserted, (long long)rep.rows_updated,
                   (unsigned long long)st->requests);
        else
            printf("ingest github-repos: %d repo(s): %d new version(s) (%d closed), %d unchanged, %d unavailable; "
                   "%llu request(s), %llu answered 304 from the cache\n",
                   rep.repos, rep.versions_opened, rep.versions_closed, rep.repos_unchanged, rep.repos_unavailable,
                   (unsigned long long)st->requests, (unsigned long long)st->not_modified);
    }
    if (rc)
        return kiln_cli_fail(&err);
    return KILN_EXIT_OK;
}

static int run_ingest(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &ingest_spec, argc, argv))
        return a.exit;
    if (a.sub && !strcmp(a.sub->name, "github-events"))
        return run_github_events(&a);
    if (a.sub && !strcmp(a.sub->name, "github-repos"))
        return run_github_load(&a, 0);
    if (a.sub && !strcmp(a.sub->name, "github-compare"))
        return run_github_load(&a, 1);
    kiln_ingest_gha_opts o;
    kiln_ingest_gha_opts_init(&o);
    const char *v;
    long long x;
    int rc;
    if ((v = kiln_opt_get(&a, "--from")))
        o.base_url = v;
    if (!(v = kiln_opt_get(&a, "--start")))
        return kiln_opt_usage(&a, "--start DATE is required");
    if (kiln_date_parse(v, strlen(v), &o.start_day) != 0)
        return kiln_opt_usage(&a, "--start %s: expected YYYY-MM-DD", v);
    o.end_day = o.start_day;
    if ((v = kiln_opt_get(&a, "--end")) && kiln_date_parse(v, strlen(v), &o.end_day) != 0)
        return kiln_opt_usage(&a, "--end %s: expected YYYY-MM-DD", v);
    if (o.end_day < o.start_day)
        return kiln_opt_usage(&a, "--end is before --start");
    if ((v = kiln_opt_get(&a, "--hours")) && parse_hours(v, &o.hour_lo, &o.hour_hi) != 0)
        return kiln_opt_usage(&a, "--hours %s: expected H or H-H within 0-23", v);
    if (!(o.out = kiln_opt_get(&a, "--out")))
        return kiln_opt_usage(&a, "--out RAW is required");
    o.partial_dir = kiln_opt_get(&a, "--partial-dir");
    x = o.parallel;
    if ((rc = kiln_opt_int(&a, "--parallel", 1, 64, &x)))
        return rc;
    o.parallel = (int)x;
    x = o.max_attempts;
    if ((rc = kiln_opt_int(&a, "--retries", 1, 20, &x)))
        return rc;
    o.max_attempts = (int)x;

    kiln_ingest_report rep;
    kiln_err err = {0};
    if ((rc = kiln_ingest_gharchive(&o, &rep, &err))) {
        kiln_ingest_report_free(&rep);
        return kiln_cli_fail(&err);
    }
    const int *c = rep.counts;
    if (kiln_opt_has(&a, "--json")) {
        printf("{\"source\":");
        kiln_cli_json_str(stdout, o.base_url);
        printf(",\"out\":");
        kiln_cli_json_str(stdout, o.out);
        printf(",\"hours\":%zu,\"landed\":%d,\"unchanged\":%d,\"kept\":%d,\"changed\":%d,\"missing\":%d,"
               "\"failed\":%d,\"bytes_downloaded\":%llu,\"seconds\":%.3f,\"failures\":[",
               rep.nhours, c[KILN_INGEST_LANDED], c[KILN_INGEST_UNCHANGED], c[KILN_INGEST_KEPT], c[KILN_INGEST_CHANGED],
               c[KILN_INGEST_MISSING], c[KILN_INGEST_FAILED], (unsigned long long)rep.bytes_downloaded, rep.seconds);
        int first = 1;
        for (size_t i = 0; i < rep.nhours; i++)
            if (rep.hours[i].status == KILN_INGEST_FAILED) {
                printf("%s", first ? "" : ",");
                first = 0;
                kiln_cli_json_str(stdout, rep.hours[i].msg);
            }
        printf("]}\n");
    } else {
        for (size_t i = 0; i < rep.nhours; i++) {
            const kiln_ingest_hour *h = &rep.hours[i];
            char d[11];
            kiln_date_format(h->day, d);
            printf("%s-%d\t%s", d, h->hour, kiln_ingest_status_name(h->status));
            if (h->status != KILN_INGEST_MISSING && h->status != KILN_INGEST_FAILED)
                printf("\t%lld bytes\tsha256 %.16s", (long long)h->size, h->sha256);
            if (h->msg[0] && h->status != KILN_INGEST_MISSING)
                printf("\t%s", h->msg);
            printf("\n");
        }
        printf("ingest gharchive: %zu hour(s): %d landed, %d unchanged, %d kept, %d changed upstream, %d missing, "
               "%d failed; %.1f MB downloaded in %.2f s\n",
               rep.nhours, c[KILN_INGEST_LANDED], c[KILN_INGEST_UNCHANGED], c[KILN_INGEST_KEPT], c[KILN_INGEST_CHANGED],
               c[KILN_INGEST_MISSING], c[KILN_INGEST_FAILED], (double)rep.bytes_downloaded / 1e6, rep.seconds);
    }
    for (size_t i = 0; i < rep.nhours; i++)
        if (rep.hours[i].status == KILN_INGEST_FAILED)
            fprintf(stderr, "kiln: error ingest: %s\n", rep.hours[i].msg);
    int ok = c[KILN_INGEST_LANDED] + c[KILN_INGEST_UNCHANGED] + c[KILN_INGEST_KEPT] + c[KILN_INGEST_CHANGED];
    int code = KILN_EXIT_OK;
    if (c[KILN_INGEST_FAILED])
        code = ok ? KILN_EXIT_PARTIAL : KILN_EXIT_FAIL;
    else if (!ok && c[KILN_INGEST_MISSING])
        code = KILN_EXIT_NOTFOUND;
    if (code == KILN_EXIT_NOTFOUND)
        fprintf(stderr, "kiln: error ingest: no hour file found at %s for the range asked\n", o.base_url);
    kiln_ingest_report_free(&rep);
    return code;
}

KILN_COMMAND(cmd_ingest, "ingest", "pull GH Archive hours and GitHub API data into an immutable raw zone (local or S3)",
             NULL, run_ingest, 62, NULL, 0, &ingest_spec)
