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
};

static const kiln_cmdspec ingest_spec = {
    .name = "ingest",
    .text = "Pull source data over HTTP into the raw zone of a local or S3 store.",
    .opts = ingest_opts,
    .subs = ingest_subs,
    .nsubs = 1,
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

static int run_ingest(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &ingest_spec, argc, argv))
        return a.exit;
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

KILN_COMMAND(cmd_ingest, "ingest", "pull GH Archive hours into an immutable raw zone (local or S3)", NULL, run_ingest,
             62, NULL, 0, &ingest_spec)
