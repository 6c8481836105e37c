/*
 * test_gh_events.c - the gh-events job on small hand-made hour files:
 * extracted columns and CSV escaping, both PushEvent eras, ids as numbers,
 * payload before type, dedupe within an hour and across the day boundary,
 * quarantine positions (NUL run, `}{`, spliced truncation, garbage), a
 * truncated file failing only its day while the previous output stays,
 * the line cap, filters and missing hours.
 */
#include "harness/harness.h"
#include "engine/gh_events.h"
#include "gh_fixture.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

/* A PushEvent line of the old era (size, distinct_size, one commit). */
static char *push_old(const char *id, const char *ts, const char *repo)
{
    return kiln_sprintf(
        "{\"id\":\"%s\",\"type\":\"PushEvent\",\"actor\":{\"id\":11,\"login\":\"alice\",\"display_login\":\"alice\"},"
        "\"repo\":{\"id\":22,\"name\":\"%s\",\"url\":\"https://x\"},\"payload\":{\"repository_id\":22,\"push_id\":33,"
        "\"size\":3,\"distinct_size\":2,\"ref\":\"refs/heads/main\",\"head\":\"abc\",\"before\":\"000\",\"commits\":["
        "{\"sha\":\"s1\",\"author\":{\"email\":\"e@x.org\",\"name\":\"N, \\\"Q\\\"\"},\"message\":\"l1\\nl2 "
        "\\ud83d\\ude00 \\u0000 \\ud800\",\"distinct\":true,\"url\":\"u\"}]},\"public\":true,\"created_at\":\"%s\","
        "\"org\":{\"id\":5,\"login\":\"acme\"}}",
        id, repo, ts);
}

/* A PushEvent of the new era (2025-10-07 on): no size/commits; id as a number. */
static char *push_new(const char *id, const char *ts)
{
    return kiln_sprintf("{\"id\":%s,\"type\":\"PushEvent\",\"actor\":{\"id\":12,\"login\":\"bob\"},"
                        "\"repo\":{\"id\":23,\"name\":\"b/c\"},\"payload\":{\"repository_id\":23,\"push_id\":\"34\","
                        "\"ref\":\"refs/heads/dev\",\"head\":\"h2\",\"before\":\"b2\"},\"public\":true,"
                        "\"created_at\":\"%s\"}",
                        id, ts);
}

static const char *watch_line =
    "{\"id\":\"90\",\"type\":\"WatchEvent\",\"actor\":{\"id\":1,\"login\":\"w\"},\"repo\":{\"id\":2,\"name\":\"x/y\"},"
    "\"payload\":{\"action\":\"started\",\"deep\":[[[{\"s\":\"}]\\\"{\"}]]],\"bad\":\"\xff\"},\"public\":true,"
    "\"created_at\":\"2025-10-06T01:00:00Z\"}";

static int run_job(const char *in, const char *out, const char *start, const char *end, const char *format, int threads,
                   kiln_gh_report *rep, kiln_err *err)
{
    kiln_gh_opts o;
    kiln_gh_opts_init(&o);
    o.in_dir = in;
    o.out_dir = out;
    o.threads = threads;
    o.format = kiln_gh_format_find(format);
    if (start) {
        kiln_date_parse(start, 10, &o.start_day);
        kiln_date_parse(end, 10, &o.end_day);
        o.has_range = 1;
    }
    return kiln_gh_events_run(&o, rep, err);
}

static char *readf(const char *fmt, const char *a, const char *b)
{
    char path[4096];
    snprintf(path, sizeof path, fmt, a, b);
    size_t n;
    return kt_read_file(path, &n);
}

TEST(gh_events, rows_eras_and_escaping)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    char *p1 = push_old("1001", "2025-10-06T01:02:03Z", "o/r");
    /* payload before type, id as a number, no org */
    const char *p2 = "{\"id\":1002,\"payload\":{\"push_id\":35,\"size\":0,\"distinct_size\":0,\"ref\":null,"
                     "\"head\":\"h\",\"before\":\"b\",\"commits\":[]},\"type\":\"PushEvent\",\"actor\":{\"id\":13,"
                     "\"login\":\"c\"},\"repo\":{\"id\":24,\"name\":\"c/d\"},\"created_at\":\"2025-10-06T01:59:59Z\"}";
    char *h1 = kiln_sprintf("%s\n%s\n%s\n", p1, watch_line, p2);
    write_hour(in, "2025-10-06-1.json.gz", h1);
    char *p3 = push_new("1003", "2025-10-07T00:00:01Z");
    char *h2 = kiln_sprintf("%s\n", p3);
    write_hour(in, "2025-10-07-0.json.gz", h2);
    write_hour(in, "notes.txt.json.gz.bak", "ignored"); /* not an hour file name */
    kiln_gh_report rep;
    CHECK_OK(run_job(in, out, "2025-10-06", "2025-10-07", "csv", 2, &rep, &err), &err);
    CHECK_EQ_INT(rep.failed, 0);
    CHECK_EQ_INT(rep.nparts, 2);
    CHECK_EQ_INT(rep.total.files, 2);
    CHECK_EQ_INT(rep.total.missing, 46);
    CHECK_EQ_INT(rep.nmissing, 46);
    CHECK_EQ_INT(rep.total.events, 4);
    CHECK_EQ_INT(rep.total.pushes, 3);
    CHECK_EQ_INT(rep.total.commits, 1);
    CHECK_EQ_INT(rep.total.quarantined, 0);
    CHECK_EQ_INT(rep.total.utf8_repaired, 2); /* \u0000 and the lone \ud800 in the commit message */
    kiln_gh_report_free(&rep);
    char *pushes = readf("%s/pushes/date=%s/part-01.csv", out, "2025-10-06");
    CHECK_STR(pushes, "event_id,push_id,repo_id,repo_name,actor_id,actor_login,org_login,ref,head,before,size,"
                      "distinct_size,created_at\n"
                      "1001,33,22,o/r,11,alice,acme,refs/heads/main,abc,000,3,2,2025-10-06T01:02:03Z\n"
                      "1002,35,24,c/d,13,c,,,h,b,0,0,2025-10-06T01:59:59Z\n");
    char *commits = readf("%s/commits/date=%s/part-01.csv", out, "2025-10-06");
    CHECK_STR(commits, "repo_id,repo_name,sha,push_id,author_name,author_email,message,distinct,created_at\n"
                       "22,o/r,s1,33,\"N, \"\"Q\"\"\",e@x.org,\"l1\nl2 \xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbd\","
                       "true,2025-10-06T01:02:03Z\n");
    char *newera = readf("%s/pushes/date=%s/part-00.csv", out, "2025-10-07");
    CHECK(strstr(newera, "\n1003,34,23,b/c,12,bob,,refs/heads/dev,h2,b2,,,2025-10-07T00:00:01Z\n") != NULL);
    char *nocommits = readf("%s/commits/date=%s/part-00.csv", out, "2025-10-07");
    CHECK_STR(nocommits, "repo_id,repo_name,sha,push_id,author_name,author_email,message,distinct,created_at\n");
    free(pushes);
    free(commits);
    free(newera);
    free(nocommits);
    /* NDJSON of the same input */
    char out2[4096];
    snprintf(out2, sizeof out2, "%s/out2", kt_tmpdir());
    CHECK_OK(run_job(in, out2, NULL, NULL, "ndjson", 1, &rep, &err), &err);
    CHECK_EQ_INT(rep.nparts, 2);
    kiln_gh_report_free(&rep);
    char *nd = readf("%s/pushes/date=%s/part-00.ndjson", out2, "2025-10-07");
    CHECK_STR(nd, "{\"event_id\":1003,\"push_id\":34,\"repo_id\":23,\"repo_name\":\"b/c\",\"actor_id\":12,"
                  "\"actor_login\":\"bob\",\"org_login\":null,\"ref\":\"refs/heads/dev\",\"head\":\"h2\","
                  "\"before\":\"b2\",\"size\":null,\"distinct_size\":null,\"created_at\":\"2025-10-07T00:00:01Z\"}\n");
    char *ndc = readf("%s/commits/date=%s/part-01.ndjson", out2, "2025-10-06");
    CHECK(strstr(ndc, "\"message\":\"l1\\nl2 \xf0\x9f\x98\x80 \xef\xbf\xbd \xef\xbf\xbd\",\"distinct\":true") != NULL);
    free(nd);
    free(ndc);
    kiln_free(p1);
    kiln_free(p3);
    kiln_free(h1);
    kiln_free(h2);
}

static void dedupe_case(int threads)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in%d", kt_tmpdir(), threads);
    snprintf(out, sizeof out, "%s/out%d", kt_tmpdir(), threads);
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    char *a = push_old("100", "2025-01-01T23:59:58Z", "o/r");
    char *b = push_old("102", "2025-01-02T00:00:02Z", "o/r");
    const char *w = "{\"id\":\"101\",\"type\":\"WatchEvent\",\"payload\":{}}";
    char *h23 = kiln_sprintf("%s\n%s\n", a, w);
    /* next hour (next day): both events again, then 102 twice */
    char *h0 = kiln_sprintf("%s\n%s\n%s\n%s\n", a, w, b, b);
    write_hour(in, "2025-01-01-23.json.gz", h23);
    write_hour(in, "2025-01-02-0.json.gz", h0);
    /* hour 2 repeats 100: not a neighbour of hour 23, outside the window */
    char *h2 = kiln_sprintf("%s\n", a);
    write_hour(in, "2025-01-02-2.json.gz", h2);
    kiln_gh_report rep;
    CHECK_OK(run_job(in, out, NULL, NULL, "csv", threads, &rep, &err), &err);
    CHECK_EQ_INT(rep.nparts, 2);
    CHECK_EQ_INT(rep.parts[0].counts.pushes, 1);
    CHECK_EQ_INT(rep.parts[1].counts.pushes, 2); /* 102 once, and 100 again in hour 2 */
    CHECK_EQ_INT(rep.parts[1].counts.duplicates, 3);
    CHECK_EQ_INT(rep.total.events, 7);
    /* the grain: 102 (hour 0) and 100 (hour 2) carry the same commit (repo
     * 22, sha s1, push_id 33) on 2025-01-02: one row, the later hour's */
    CHECK_EQ_INT(rep.total.commits, 2);
    CHECK_EQ_INT(rep.parts[1].counts.commits_superseded, 1);
    kiln_gh_report_free(&rep);
    char *c0 = readf("%s/commits/date=%s/part-00.csv", out, "2025-01-02");
    char *c2 = readf("%s/commits/date=%s/part-02.csv", out, "2025-01-02");
    CHECK(c0 && !strstr(c0, ",s1,"));
    CHECK(c2 && strstr(c2, ",s1,") != NULL);
    free(c0);
    free(c2);
    char *p0 = readf("%s/pushes/date=%s/part-00.csv", out, "2025-01-02");
    CHECK(strstr(p0, "\n102,") && !strstr(p0, "\n100,"));
    CHECK(strstr(strstr(p0, "\n102,") + 1, "\n102,") == NULL);
    free(p0);
    kiln_free(a);
    kiln_free(b);
    kiln_free(h23);
    kiln_free(h0);
    kiln_free(h2);
}

TEST(gh_events, dedupe_one_thread) { dedupe_case(1); }
TEST(gh_events, dedupe_two_threads) { dedupe_case(2); }

TEST(gh_events, quarantine_positions)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    char *A = push_old("1", "2025-03-01T05:00:00Z", "o/a");
    char *B = push_old("2", "2025-03-01T05:00:01Z", "o/b");
    char *C = push_old("3", "2025-03-01T05:00:02Z", "o/c");
    char *D = push_old("4", "2025-03-01T05:00:03Z", "o/d");
    char *E = push_old("5", "2025-03-01T05:00:04Z", "o/e");
    const char *trunc = "{\"id\":\"9\",\"type\":\"PushEvent\",\"actor\":{\"id\":1,\"login\":\"tr";
    kiln_buf t;
    kiln_buf_init(&t, 0);
    kiln_buf_append(&t, A, strlen(A), &err);
    kiln_buf_append(&t, "\0\0\0\0\0\0\0\0", 8, &err); /* NUL run after a record */
    kiln_buf_append(&t, "\n", 1, &err);
    size_t l2 = t.len;
    kiln_buf_printf(&t, &err, "%s%s\n", B, C); /* `}{` concatenation */
    size_t l3 = t.len;
    kiln_buf_printf(&t, &err, "%s%s\n", trunc, D); /* truncated event spliced into the next */
    size_t l4 = t.len;
    kiln_buf_printf(&t, &err, "garbage\n\n%s", E); /* no newline at the end of the file */
    write_gz(in, "2025-03-01-5.json.gz", t.data, t.len, 0);
    kiln_gh_report rep;
    CHECK_OK(run_job(in, out, NULL, NULL, "csv", 1, &rep, &err), &err);
    CHECK_EQ_INT(rep.total.pushes, 5);
    CHECK_EQ_INT(rep.total.events, 5);
    CHECK_EQ_INT(rep.total.quarantined, 3);
    kiln_gh_report_free(&rep);
    char *q = readf("%s/_quarantine/%s.ndjson", out, "2025-03-01-5.json.gz");
    CHECK(q != NULL);
    char want[512];
    snprintf(want, sizeof want,
             "{\"file\":\"2025-03-01-5.json.gz\",\"line\":1,\"offset\":%zu,\"reason\":\"run of NUL bytes\",\"bytes\":8,"
             "\"truncated\":false,\"raw\":\"\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\"}\n",
             strlen(A));
    CHECK_MSG(strncmp(q, want, strlen(want)) == 0, "got %s", q);
    snprintf(want, sizeof want,
             "\"line\":3,\"offset\":%zu,\"reason\":\"expected ',' or '}' after a value\",\"bytes\":%zu", l3,
             strlen(trunc));
    CHECK_MSG(strstr(q, want) != NULL, "want %s in %s", want, q);
    snprintf(want, sizeof want, "\"line\":4,\"offset\":%zu,\"reason\":\"text outside a JSON object\"", l4);
    CHECK_MSG(strstr(q, want) != NULL, "want %s in %s", want, q);
    (void)l2;
    char *p = readf("%s/pushes/date=%s/part-05.csv", out, "2025-03-01");
    const char *ids[] = {"\n1,", "\n2,", "\n3,", "\n4,", "\n5,"};
    const char *at = p;
    for (int i = 0; i < 5; i++) { /* in input order */
        at = strstr(at, ids[i]);
        CHECK_MSG(at != NULL, "push %d missing or out of order", i + 1);
    }
    free(p);
    free(q);
    /* a re-run with clean input removes the stale quarantine file */
    char *clean = kiln_sprintf("%s\n", A);
    write_hour(in, "2025-03-01-5.json.gz", clean);
    CHECK_OK(run_job(in, out, NULL, NULL, "csv", 1, &rep, &err), &err);
    kiln_gh_report_free(&rep);
    char qp[4096];
    snprintf(qp, sizeof qp, "%s/_quarantine/2025-03-01-5.json.gz.ndjson", out);
    struct stat sb;
    CHECK(stat(qp, &sb) != 0);
    kiln_free(clean);
    kiln_buf_free(&t);
    kiln_free(A);
    kiln_free(B);
    kiln_free(C);
    kiln_free(D);
    kiln_free(E);
}

TEST(gh_events, truncated_file_fails_only_its_day)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    kiln_buf big;
    kiln_buf_init(&big, 0);
    for (int i = 0; i < 400; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", 5000 + i);
        char *l = push_old(id, "2025-02-02T03:00:00Z", "o/r");
        kiln_buf_printf(&big, &err, "%s\n", l);
        kiln_free(l);
    }
    char *a = push_old("1", "2025-02-01T00:00:00Z", "o/r");
    char *ha = kiln_sprintf("%s\n", a);
    write_hour(in, "2025-02-01-0.json.gz", ha);
    write_gz(in, "2025-02-02-3.json.gz", big.data, big.len, 0);
    kiln_gh_report rep;
    CHECK_OK(run_job(in, out, "2025-02-01", "2025-02-02", "csv", 2, &rep, &err), &err);
    CHECK_EQ_INT(rep.failed, 0);
    kiln_gh_report_free(&rep);
    char *before = readf("%s/pushes/date=%s/part-03.csv", out, "2025-02-02");
    CHECK(before != NULL);
    /* now the day-2 file is truncated: day 2 fails, keeps its old output */
    write_gz(in, "2025-02-02-3.json.gz", big.data, big.len, 200);
    CHECK_OK(run_job(in, out, "2025-02-01", "2025-02-02", "csv", 2, &rep, &err), &err);
    CHECK_EQ_INT(rep.failed, 1);
    CHECK(!rep.parts[0].failed && rep.parts[1].failed);
    CHECK_MSG(strstr(rep.parts[1].error, "truncated gzip") && strstr(rep.parts[1].error, "offset 200"), "%s",
              rep.parts[1].error);
    kiln_gh_report_free(&rep);
    char *after = readf("%s/pushes/date=%s/part-03.csv", out, "2025-02-02");
    CHECK(after != NULL && strcmp(before, after) == 0);
    char *day1 = readf("%s/pushes/date=%s/part-00.csv", out, "2025-02-01");
    CHECK(day1 && strstr(day1, "\n1,33,"));
    char st[4096];
    snprintf(st, sizeof st, "%s/pushes/.staging-date=2025-02-02", out);
    struct stat sb;
    CHECK(stat(st, &sb) != 0); /* no staging left */
    free(before);
    free(after);
    free(day1);
    kiln_free(a);
    kiln_free(ha);
    kiln_buf_free(&big);
}

TEST(gh_events, line_cap_and_filter)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    size_t huge = 5u << 20;
    kiln_buf t;
    kiln_buf_init(&t, 0);
    kiln_buf_append(&t, "{\"id\":\"7\",\"type\":\"WatchEvent\",\"payload\":{\"s\":\"", 46, &err);
    kiln_buf_reserve(&t, huge, &err);
    memset(t.data + t.len, 'x', huge);
    t.len += huge;
    kiln_buf_append(&t, "\"}}\n", 4, &err);
    char *p1 = push_old("8", "2025-04-01T00:00:00Z", "o/keep");
    char *p2 = push_old("9", "2025-04-01T00:00:01Z", "o/drop");
    kiln_buf_printf(&t, &err, "%s\n%s\n", p1, p2);
    write_gz(in, "2025-04-01-0.json.gz", t.data, t.len, 0);
    kiln_gh_opts o;
    kiln_gh_opts_init(&o);
    o.in_dir = in;
    o.out_dir = out;
    o.threads = 1;
    o.line_cap = 4u << 20;
    o.filter = "repo=O/KEEP,repo=x/y,actor=alice";
    kiln_gh_report rep;
    CHECK_OK(kiln_gh_events_run(&o, &rep, &err), &err);
    CHECK_EQ_INT(rep.total.quarantined, 1);
    CHECK_EQ_INT(rep.total.events, 2);
    CHECK_EQ_INT(rep.total.pushes, 1);
    CHECK_EQ_INT(rep.total.filtered, 1);
    kiln_gh_report_free(&rep);
    char *q = readf("%s/_quarantine/%s.ndjson", out, "2025-04-01-0.json.gz");
    CHECK(q && strstr(q, "\"line\":1,\"offset\":0,\"reason\":\"line longer than the 4 MB cap"));
    CHECK(strstr(q, "\"truncated\":true"));
    char *p = readf("%s/pushes/date=%s/part-00.csv", out, "2025-04-01");
    CHECK(strstr(p, "o/keep") && !strstr(p, "o/drop"));
    free(q);
    free(p);
    /* bad filter keys are usage errors */
    o.filter = "language=C";
    CHECK_EQ_INT(kiln_gh_events_run(&o, &rep, &err), KILN_EINVAL);
    o.filter = "actor";
    CHECK_EQ_INT(kiln_gh_events_run(&o, &rep, &err), KILN_EINVAL);
    kiln_free(p1);
    kiln_free(p2);
    kiln_buf_free(&t);
}

TEST(gh_events, hour_names)
{
    int64_t d;
    int h;
    CHECK_EQ_INT(kiln_gh_hour_name_parse("2015-01-01-15.json.gz", &d, &h), 0);
    CHECK_EQ_INT(h, 15);
    CHECK(d == kiln_days_from_civil(2015, 1, 1));
    CHECK_EQ_INT(kiln_gh_hour_name_parse("2014-12-01-9.json.gz", &d, &h), 0);
    CHECK_EQ_INT(h, 9);
    CHECK_EQ_INT(kiln_gh_hour_name_parse("2014-12-01-09.json.gz", &d, &h), 0); /* zero-padded: accepted too */
    CHECK_EQ_INT(h, 9);
    CHECK_EQ_INT(kiln_gh_hour_name_parse("2014-12-01-00.json.gz", &d, &h), 0);
    CHECK_EQ_INT(h, 0);
    CHECK(kiln_gh_hour_name_parse("2014-12-01-009.json.gz", &d, &h) != 0);
    CHECK(kiln_gh_hour_name_parse("2014-12-01-24.json.gz", &d, &h) != 0);
    CHECK(kiln_gh_hour_name_parse("2014-12-01-1.json", &d, &h) != 0);
    CHECK(kiln_gh_hour_name_parse("_manifest.json", &d, &h) != 0);
    const kiln_schema *s = kiln_gh_pushes_schema();
    CHECK_EQ_INT(s->ncols, 13);
    CHECK_EQ_INT(s->cols[KILN_GH_P_CREATED_AT].field_id, 13);
    CHECK(s->cols[KILN_GH_P_SIZE].type == KILN_T_INT32 && !s->cols[KILN_GH_P_SIZE].required);
    CHECK_EQ_INT(kiln_gh_commits_schema()->ncols, 9);
    CHECK(kiln_gh_format_find("parquet") != NULL && kiln_gh_format_find("ndjson") != NULL &&
          kiln_gh_format_find("iceberg") == NULL && kiln_gh_format_find("xml") == NULL);
}

/* A failing hour must not free the previous hour's id set while that hour
 * is still running (found by TSan; under ASan this was a use-after-free). */
TEST(gh_events, failed_hour_waits_for_previous)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    kiln_buf big;
    kiln_buf_init(&big, 0);
    char *dup = push_old("77", "2025-05-05T00:00:00Z", "o/dup");
    kiln_buf_printf(&big, &err, "%s\n", dup); /* first and last line: the same event */
    for (int i = 0; i < 30000; i++) {
        char id[16];
        snprintf(id, sizeof id, "%d", 100000 + i);
        char *l = push_old(id, "2025-05-05T00:00:00Z", "o/r");
        kiln_buf_printf(&big, &err, "%s\n", l);
        kiln_free(l);
    }
    kiln_buf_printf(&big, &err, "%s\n", dup);
    kiln_free(dup);
    write_gz(in, "2025-05-05-0.json.gz", big.data, big.len, 0);
    write_gz(in, "2025-05-05-1.json.gz", big.data, big.len, 100);
    kiln_gh_report rep;
    CHECK_OK(run_job(in, out, NULL, NULL, "csv", 2, &rep, &err), &err);
    CHECK_EQ_INT(rep.failed, 1);
    /* hour 0 kept its id set to the end: the repeat of event 77 was caught */
    CHECK_EQ_INT(rep.parts[0].counts.duplicates, 1);
    kiln_gh_report_free(&rep);
    kiln_buf_free(&big);
}

/* A line longer than the 4 MB window but under the cap grows the window,
 * which shrinks back afterwards; positions after it stay exact. */
TEST(gh_events, long_line_grows_then_shrinks_window)
{
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(out, sizeof out, "%s/out", kt_tmpdir());
    kiln_err err = {0};
    CHECK_OK(kiln_mkdirs(in, &err), &err);
    kiln_buf t;
    kiln_buf_init(&t, 0);
    size_t huge = 6u << 20;
    kiln_buf_append(&t, "{\"id\":\"7\",\"type\":\"WatchEvent\",\"payload\":{\"s\":\"", 46, &err);
    kiln_buf_reserve(&t, huge, &err);
    memset(t.data + t.len, 'y', huge);
    t.len += huge;
    kiln_buf_append(&t, "\"}}\n", 4, &err);
    char *p1 = push_old("8", "2025-06-01T00:00:00Z", "o/a");
    kiln_buf_printf(&t, &err, "%s\n", p1);
    size_t bad_off = t.len;
    kiln_buf_printf(&t, &err, "oops\n%s\n", p1); /* line 3 bad, line 4 a duplicate */
    write_gz(in, "2025-06-01-0.json.gz", t.data, t.len, 0);
    kiln_gh_opts o;
    kiln_gh_opts_init(&o);
    o.in_dir = in;
    o.out_dir = out;
    o.threads = 1;
    o.line_cap = 16u << 20;
    kiln_gh_report rep;
    CHECK_OK(kiln_gh_events_run(&o, &rep, &err), &err);
    CHECK_EQ_INT(rep.total.events, 3);
    CHECK_EQ_INT(rep.total.pushes, 1);
    CHECK_EQ_INT(rep.total.duplicates, 1);
    CHECK_EQ_INT(rep.total.quarantined, 1);
    kiln_gh_report_free(&rep);
    char *q = readf("%s/_quarantine/%s.ndjson", out, "2025-06-01-0.json.gz");
    char want[128];
    snprintf(want, sizeof want, "\"line\":3,\"offset\":%zu,", bad_off);
    CHECK_MSG(q && strstr(q, want), "want %s in %s", want, q ? q : "(none)");
    free(q);
    kiln_free(p1);
    kiln_buf_free(&t);
}
