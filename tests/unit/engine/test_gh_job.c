/*
 * test_gh_job.c - the gh-events job as one library call
 * (kiln_gh_events_job, gh_job.c): the result struct and its two renderings
 * for a partial run (every failed hour's error, the quarantine folder), the
 * fail-fast default (later days skipped), an empty input (not found, or an
 * allowed "0 hours" run), an hour spelled two ways, the Iceberg path (kiln's
 * staging directory, tables loaded, staged copy dropped) and bad options.
 */
#include "harness/harness.h"
#include "engine/gh_events.h"
#include "gh_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

/* n PushEvents (ids from id0) of one commit each, at ts. */
static char *pushes(int id0, int n, const char *ts)
{
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    for (int i = 0; i < n; i++)
        kiln_buf_printf(&b, &err,
                        "{\"id\":\"%d\",\"type\":\"PushEvent\",\"actor\":{\"id\":1,\"login\":\"a\"},\"repo\":{\"id\":"
                        "7,\"name\":\"o/r\"},\"payload\":{\"push_id\":%d,\"size\":1,\"distinct_size\":1,\"ref\":\"r\","
                        "\"head\":\"h\",\"before\":\"b\",\"commits\":[{\"sha\":\"s%d\",\"author\":{\"name\":\"n\","
                        "\"email\":\"e\"},\"message\":\"m\",\"distinct\":true}]},\"created_at\":\"%s\"}\n",
                        id0 + i, 500 + id0 + i, id0 + i, ts);
    return b.data;
}

/* Day 1 (2025-03-01) good, with one garbage line; day 2 two hours
 * truncated; day 3 good. */
static void write_input(const char *in)
{
    kiln_err err = {0};
    kiln_mkdirs(in, &err);
    char *a = pushes(100, 3, "2025-03-01T00:00:01Z");
    char *a2 = kiln_sprintf("%snot json at all\n", a);
    write_gz(in, "2025-03-01-0.json.gz", a2, strlen(a2), 0);
    char *b = pushes(200, 300, "2025-03-02T01:00:00Z");
    write_gz(in, "2025-03-02-1.json.gz", b, strlen(b), 100);
    write_gz(in, "2025-03-02-2.json.gz", b, strlen(b), 150);
    char *c = pushes(900, 2, "2025-03-03T05:00:00Z");
    write_gz(in, "2025-03-03-05.json.gz", c, strlen(c), 0); /* zero-padded */
    free(a);
    kiln_free(a2);
    free(b);
    free(c);
}

TEST(gh_job, partial_result_and_renderings)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    write_input(in);
    kiln_gh_job_opts o;
    kiln_gh_job_opts_init(&o);
    o.scan.in_dir = in;
    o.scan.out_dir = out;
    o.scan.threads = 2;
    o.scan.keep_going = 1;
    kiln_gh_job_result r;
    kiln_err err = {0};
    CHECK_OK(kiln_gh_events_job(&r, &o, &err), &err);
    CHECK(r.status == KILN_GH_JOB_PARTIAL);
    CHECK_EQ_INT(r.report.nparts, 3);
    CHECK(r.report.parts[0].status == KILN_GH_PART_OK && r.report.parts[2].status == KILN_GH_PART_OK);
    const kiln_gh_partition *p = &r.report.parts[1];
    CHECK(p->status == KILN_GH_PART_FAILED);
    CHECK_EQ_INT(p->nerrors, 2); /* both hours, not only the first */
    CHECK(p->nerrors == 2 && strncmp(p->errors[0], "2025-03-02-1.json.gz: ", 22) == 0 &&
          strncmp(p->errors[1], "2025-03-02-2.json.gz: ", 22) == 0);
    CHECK_EQ_INT(r.report.loaded, 2);
    CHECK_EQ_INT(r.report.total.quarantined, 1);
    char q[4200];
    snprintf(q, sizeof q, "%s/_quarantine", out);
    CHECK_STR(r.quarantine_dir, q);
    snprintf(q, sizeof q, "%s/_quarantine/2025-03-01-0.json.gz.ndjson", out);
    size_t n;
    char *qtext = kt_read_file(q, &n);
    CHECK(qtext && strstr(qtext, "not json at all"));
    free(qtext);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_gh_job_result_json(&r, &b, &err), &err);
    CHECK(strstr(b.data, "\"status\":\"partial\"") && strstr(b.data, "\"hours\":4") &&
          strstr(b.data, "\"quarantine\":\"") && strstr(b.data, "\"errors\":[\"2025-03-02-1.json.gz: "));
    kiln_buf_reset(&b);
    CHECK_OK(kiln_gh_job_result_text(&r, &b, &err), &err);
    CHECK(strstr(b.data, "partition 2025-03-02 failed, previous output kept:\n  2025-03-02-1.json.gz: ") &&
          strstr(b.data, "\n  2025-03-02-2.json.gz: ") && strstr(b.data, "quarantined 1 bad line(s) to ") &&
          strstr(b.data, "\ntotal        partial "));
    kiln_buf_free(&b);
    kiln_gh_job_result_free(&r);

    /* default: stop at the first failure; 1 thread, so day 3 never starts */
    o.scan.keep_going = 0;
    o.scan.threads = 1;
    snprintf(out, sizeof out, "%s/out2", kt_tmpdir());
    o.scan.out_dir = out;
    CHECK_OK(kiln_gh_events_job(&r, &o, &err), &err);
    CHECK(r.status == KILN_GH_JOB_PARTIAL);
    CHECK(r.report.parts[1].status == KILN_GH_PART_FAILED && r.report.parts[1].nerrors == 1);
    CHECK(r.report.parts[2].status == KILN_GH_PART_SKIPPED);
    kiln_gh_job_result_free(&r);
    /* only the bad day: a total failure */
    o.scan.has_range = 1;
    kiln_date_parse("2025-03-02", 10, &o.scan.start_day);
    o.scan.end_day = o.scan.start_day;
    CHECK_OK(kiln_gh_events_job(&r, &o, &err), &err);
    CHECK(r.status == KILN_GH_JOB_FAILED);
    kiln_gh_job_result_free(&r);
}

TEST(gh_job, nothing_to_read)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/empty", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    kiln_gh_job_opts o;
    kiln_gh_job_opts_init(&o);
    o.scan.in_dir = in;
    o.scan.out_dir = out;
    kiln_gh_job_result r;
    CHECK_EQ_INT(kiln_gh_events_job(&r, &o, &err), KILN_ENOTFOUND);
    CHECK(strstr(err.msg, in) && strstr(err.msg, "YYYY-MM-DD-H.json.gz") && strstr(err.msg, "empty"));
    kiln_gh_job_result_free(&r);
    o.scan.allow_missing = 1;
    CHECK_OK(kiln_gh_events_job(&r, &o, &err), &err);
    CHECK(r.status == KILN_GH_JOB_OK && r.report.total.files == 0);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_gh_job_result_text(&r, &b, &err), &err);
    CHECK(strstr(b.data, "\n0 hours,") != NULL);
    kiln_buf_free(&b);
    kiln_gh_job_result_free(&r);
    /* one hour spelled both ways */
    char *a = pushes(1, 1, "2025-03-01T04:00:00Z");
    write_gz(in, "2025-03-01-4.json.gz", a, strlen(a), 0);
    write_gz(in, "2025-03-01-04.json.gz", a, strlen(a), 0);
    free(a);
    CHECK_EQ_INT(kiln_gh_events_job(&r, &o, &err), KILN_EFORMAT);
    CHECK(strstr(err.msg, "2025-03-01-4.json.gz") && strstr(err.msg, "2025-03-01-04.json.gz"));
    kiln_gh_job_result_free(&r);
    /* a missing folder */
    snprintf(in, sizeof in, "%s/emptx", kt_tmpdir());
    o.scan.in_dir = in;
    CHECK_EQ_INT(kiln_gh_events_job(&r, &o, &err), KILN_ENOTFOUND);
    CHECK(strstr(err.msg, "did you mean") && strstr(err.msg, "/empty?"));
    kiln_gh_job_result_free(&r);
}

TEST(gh_job, iceberg_in_one_call)
{
    char in[4096], wh[4096], path[4300];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(wh, sizeof wh, "%s/wh", kt_tmpdir());
    write_input(in);
    kiln_gh_job_opts o;
    kiln_gh_job_opts_init(&o);
    o.scan.in_dir = in;
    o.scan.threads = 2;
    o.scan.keep_going = 1;
    o.iceberg = 1;
    kiln_gh_job_result r;
    kiln_err err = {0};
    CHECK_EQ_INT(kiln_gh_events_job(&r, &o, &err), KILN_EINVAL); /* no warehouse */
    kiln_gh_job_result_free(&r);
    o.iceberg_opts.warehouse = wh;
    CHECK_OK(kiln_gh_events_job(&r, &o, &err), &err);
    CHECK(r.status == KILN_GH_JOB_PARTIAL && r.iceberg);
    snprintf(path, sizeof path, "%s/_staging/gh-events", wh);
    CHECK_STR(r.out_dir, path);
    CHECK_STR(r.branch, "main");
    CHECK_EQ_INT(r.iceberg_result.tables[0].rows_inserted, 5); /* pushes of days 1 and 3 */
    CHECK_EQ_INT(r.iceberg_result.tables[1].rows_inserted, 5);
    struct stat sb;
    snprintf(path, sizeof path, "%s/_staging/gh-events/pushes/date=2025-03-01", wh);
    CHECK(stat(path, &sb) != 0); /* the loaded day's staged copy is gone */
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_gh_job_result_json(&r, &b, &err), &err);
    CHECK(strstr(b.data, "\"iceberg\":[{\"table\":\"github.pushes\"") != NULL);
    kiln_buf_reset(&b);
    CHECK_OK(kiln_gh_job_result_text(&r, &b, &err), &err);
    CHECK(strstr(b.data, "iceberg github.commits: 1 snapshot(s)") != NULL);
    kiln_buf_free(&b);
    kiln_gh_job_result_free(&r);
}
