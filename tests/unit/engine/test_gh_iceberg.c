/*
 * test_gh_iceberg.c - the Iceberg output of the gh-events job
 * (kiln_gh_iceberg_load) on tiny hand-made hour files: tables created with
 * the job's field ids and day(created_at); a second load is a no-op (no
 * snapshot); a changed row is an update, not an insert; a failed partition
 * contributes nothing while the other day commits (one snapshot per day with
 * per_partition); a staging budget splits a run into several commits on a
 * staging branch that is published in one (write-audit-publish), and a
 * staging branch left by a killed run is dropped; options are checked.
 */
#include "harness/harness.h"
#include "engine/gh_events.h"
#include "engine/gh_int.h"
#include "gh_fixture.h"
#include "format/parquet/parquet.h"
#include "lake/lake.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

/* An old-era PushEvent with one commit (sha) on repo repo_id. */
static char *push(int id, int push_id, int repo_id, const char *sha, const char *ref, const char *ts)
{
    return kiln_sprintf(
        "{\"id\":\"%d\",\"type\":\"PushEvent\",\"actor\":{\"id\":11,\"login\":\"alice\"},"
        "\"repo\":{\"id\":%d,\"name\":\"o/r%d\"},\"payload\":{\"push_id\":%d,\"size\":1,\"distinct_size\":1,"
        "\"ref\":\"%s\",\"head\":\"h\",\"before\":\"b\",\"commits\":[{\"sha\":\"%s\",\"author\":{\"email\":\"e\","
        "\"name\":\"n\"},\"message\":\"m\",\"distinct\":true}]},\"public\":true,\"created_at\":\"%s\"}\n",
        id, repo_id, repo_id, push_id, ref, sha, ts);
}

/* Day 2025-10-05 hour 0: pushes 1, 2; day 2025-10-06 hour 0: push 3 (ref of push 1 = ref1). */
static void write_input(const char *in, const char *ref1)
{
    char *a = push(1, 101, 7, "s1", ref1, "2025-10-05T00:00:01Z");
    char *b = push(2, 102, 8, "s2", "refs/heads/x", "2025-10-05T00:00:02Z");
    char *c = push(3, 103, 7, "s3", "refs/heads/y", "2025-10-06T00:00:03Z");
    char *d1 = kiln_sprintf("%s%s", a, b);
    write_hour(in, "2025-10-05-0.json.gz", d1);
    write_hour(in, "2025-10-06-0.json.gz", c);
    kiln_free(a);
    kiln_free(b);
    kiln_free(c);
    kiln_free(d1);
}

static int run_parquet(const char *in, const char *stage, kiln_gh_report *rep, kiln_err *err)
{
    kiln_gh_opts o;
    kiln_gh_opts_init(&o);
    o.in_dir = in;
    o.out_dir = stage;
    o.threads = 1;
    o.format = kiln_gh_format_find("parquet");
    return kiln_gh_events_run(&o, rep, err);
}

static int64_t count_rows(const char *wh, const char *name, const char *where)
{
    kiln_err err = {0};
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_scan *s = NULL;
    int64_t n = -1;
    if (kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err) || kiln_lake_table_load(&t, c, name, &err))
        goto done;
    kiln_lake_scan_opts so = {0};
    so.where = where;
    if (kiln_lake_scan_open(&s, t, &so, &err))
        goto done;
    const kiln_batch *b;
    int rc;
    n = 0;
    while ((rc = kiln_lake_scan_next(s, &b, &err)) == 1)
        n += (int64_t)b->nrows;
    if (rc < 0)
        n = -1;
done:
    kiln_lake_scan_free(s);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    return n;
}

/* what: 's' snapshots, 'l' entries of main's snapshot log, 'r' refs */
static int meta_count(const char *wh, const char *name, char what)
{
    kiln_err err = {0};
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    int n = -1;
    if (!kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err) && !kiln_lake_table_load(&t, c, name, &err)) {
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        n = (int)(what == 's' ? m->nsnapshots : what == 'l' ? m->nsnapshot_log : m->nrefs);
    }
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    return n;
}

static int nsnapshots(const char *wh, const char *name) { return meta_count(wh, name, 's'); }

static int cmp_text(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

TEST(gh_iceberg, load_noop_update)
{
    char in[4096], stage[4096], wh[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(stage, sizeof stage, "%s/stage", kt_tmpdir());
    snprintf(wh, sizeof wh, "%s/wh", kt_tmpdir());
    mkdir(in, 0755);
    write_input(in, "refs/heads/main");
    kiln_err err = {0};
    kiln_gh_report rep;
    CHECK_OK(run_parquet(in, stage, &rep, &err), &err);
    kiln_gh_iceberg_opts io = {wh, NULL, 0, 0, NULL, NULL, 0};
    kiln_gh_iceberg_result r;
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err);
    CHECK_STR(r.tables[0].name, "github.pushes");
    CHECK_EQ_INT(r.tables[0].snapshots, 1);
    CHECK_EQ_INT(r.tables[0].rows_inserted, 3);
    CHECK_EQ_INT(r.tables[1].snapshots, 1);
    CHECK_EQ_INT(r.tables[1].rows_inserted, 3);
    CHECK_EQ_INT(count_rows(wh, "github.commits", NULL), 3);
    CHECK_EQ_INT(count_rows(wh, "github.pushes", "created_at >= '2025-10-06T00:00:00Z'"), 1);

    /* schema, field ids and partition spec come from gh_events.h */
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t, c, "github.pushes", &err), &err);
    kiln_buf js;
    kiln_buf_init(&js, 0);
    CHECK_OK(kiln_lake_meta_write(kiln_lake_table_meta(t), 0, &js, &err), &err);
    CHECK(strstr(js.data, "\"id\":13,\"name\":\"created_at\",\"required\":true,\"type\":\"timestamptz\"") != NULL);
    CHECK(strstr(js.data, "\"transform\":\"day\"") != NULL);
    kiln_buf_free(&js);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);

    /* the same input again: nothing changes, no snapshot */
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[0].snapshots, 0);
    CHECK_EQ_INT(r.tables[0].published, 0);
    CHECK_EQ_INT(r.tables[0].noop_commits, 1);
    CHECK_EQ_INT(r.tables[1].snapshots, 0);
    CHECK_EQ_INT(nsnapshots(wh, "github.pushes"), 1);
    CHECK_EQ_INT(meta_count(wh, "github.pushes", 'r'), 1); /* main only: no staging branch left */
    kiln_gh_report_free(&rep);

    /* push 1 changes its ref: one update in pushes, commits unchanged */
    write_input(in, "refs/heads/other");
    CHECK_OK(run_parquet(in, stage, &rep, &err), &err);
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[0].snapshots, 1);
    CHECK_EQ_INT(r.tables[0].rows_updated, 1);
    CHECK_EQ_INT(r.tables[0].rows_inserted, 0);
    CHECK_EQ_INT(r.tables[1].snapshots, 0);
    CHECK_EQ_INT(count_rows(wh, "github.pushes", "ref = 'refs/heads/other'"), 1);
    CHECK_EQ_INT(count_rows(wh, "github.pushes", NULL), 3);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    CHECK_OK(kiln_gh_iceberg_result_json(&r, &b, &err), &err);
    CHECK(strstr(b.data, "{\"table\":\"github.pushes\",\"snapshots\":1,\"published\":1,\"buckets\":0,"
                         "\"noop_commits\":0,") == b.data + 1);
    kiln_buf_free(&b);
    kiln_gh_report_free(&rep);
}

TEST(gh_iceberg, failed_partition_and_budget)
{
    char in[4096], stage[4096], wh[4096], wh2[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(stage, sizeof stage, "%s/stage", kt_tmpdir());
    snprintf(wh, sizeof wh, "%s/wh", kt_tmpdir());
    snprintf(wh2, sizeof wh2, "%s/wh2", kt_tmpdir());
    mkdir(in, 0755);
    write_input(in, "refs/heads/main");
    kiln_err err = {0};
    kiln_gh_report rep;
    CHECK_OK(run_parquet(in, stage, &rep, &err), &err);
    CHECK_EQ_INT(rep.nparts, 2);

    /* day 1 failed (as if its hour were truncated): only day 2 is loaded */
    rep.parts[0].failed = 1;
    kiln_gh_iceberg_opts io = {wh, NULL, 1, 0, NULL, NULL, 0};
    kiln_gh_iceberg_result r;
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[0].snapshots, 1);
    CHECK_EQ_INT(r.tables[0].rows_inserted, 1);
    CHECK_EQ_INT(count_rows(wh, "github.pushes", NULL), 1);
    /* both days, one commit per day: one new snapshot (day 2 is unchanged) */
    rep.parts[0].failed = 0;
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[0].snapshots, 1);
    CHECK_EQ_INT(r.tables[0].noop_commits, 1);
    CHECK_EQ_INT(nsnapshots(wh, "github.pushes"), 2);

    /* a tiny staging budget: every day is bigger than it, so each day goes
     * through key-range buckets, one chunk per non-empty bucket (day 1: two
     * pushes, day 2: one) = 3 snapshots per table for one job-mode run,
     * published once, on a branch (main stays empty, only "dev" is left) */
    kiln_gh_iceberg_opts io2 = {wh2, "dev", 0, 1, NULL, NULL, 0};
    CHECK_OK(kiln_gh_iceberg_load(&io2, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[0].snapshots, 3);
    CHECK_EQ_INT(r.tables[0].buckets, 3);
    CHECK_EQ_INT(r.tables[0].published, 1);
    CHECK_EQ_INT(r.tables[1].snapshots, 3);
    CHECK_EQ_INT(r.tables[1].published, 1);
    CHECK_EQ_INT(count_rows(wh2, "github.pushes", "created_at >= '2025-01-01T00:00:00Z'"), 0); /* main */
    CHECK_EQ_INT(count_rows(wh2, "github.pushes", NULL), 0);
    CHECK_EQ_INT(meta_count(wh2, "github.pushes", 'r'), 1);
    /* ... and on main: main's history gains one entry for the two chunks */
    char wh3[4096];
    snprintf(wh3, sizeof wh3, "%s/wh3", kt_tmpdir());
    kiln_gh_iceberg_opts io3 = {wh3, NULL, 0, 1, NULL, NULL, 0};
    CHECK_OK(kiln_gh_iceberg_load(&io3, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[1].snapshots, 3);
    CHECK_EQ_INT(r.tables[1].published, 1);
    CHECK_EQ_INT(nsnapshots(wh3, "github.commits"), 3);
    CHECK_EQ_INT(meta_count(wh3, "github.commits", 'l'), 1);
    CHECK_EQ_INT(meta_count(wh3, "github.commits", 'r'), 1);
    CHECK_EQ_INT(count_rows(wh3, "github.commits", NULL), 3);

    /* a staging branch left by a run that was killed (its PID is gone) is
     * dropped by the next run; one of a live process is kept */
    pid_t dead = fork();
    if (dead == 0)
        _exit(0);
    waitpid(dead, NULL, 0);
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    CHECK_OK(kiln_lake_catalog_open(&c, wh3, KILN_LAKE_CATALOG_SQLITE, &err), &err);
    CHECK_OK(kiln_lake_table_load(&t, c, "github.commits", &err), &err);
    char stale[64], live[64];
    snprintf(stale, sizeof stale, "kiln-stage-gh-events-%ld", (long)dead);
    snprintf(live, sizeof live, "kiln-stage-gh-events-%ld", (long)getppid());
    kiln_lake_ref ref = {stale, KILN_LAKE_BRANCH, -1, -1, -1, -1};
    CHECK_OK(kiln_lake_ref_create(t, &ref, &err), &err);
    ref.name = live;
    CHECK_OK(kiln_lake_ref_create(t, &ref, &err), &err);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    CHECK_EQ_INT(meta_count(wh3, "github.commits", 'r'), 3);
    /* and so are bucket spill files: the dead run's go, a live one's stay
     * (one with a "PID-N" name, as this process's concurrent loads use) */
    char dead_spill[4200], live_spill[4200];
    snprintf(dead_spill, sizeof dead_spill, "%s/_spill-%ld-1-commits-2025-10-05-0", stage, (long)dead);
    snprintf(live_spill, sizeof live_spill, "%s/_spill-%ld-7-commits-2025-10-05-0", stage, (long)getppid());
    kt_write_file(dead_spill, "x", 1);
    kt_write_file(live_spill, "x", 1);
    CHECK_OK(kiln_gh_iceberg_load(&io3, stage, &rep, &r, &err), &err);
    struct stat spst;
    CHECK(stat(dead_spill, &spst) != 0);
    CHECK(stat(live_spill, &spst) == 0);
    unlink(live_spill);
    CHECK_EQ_INT(r.tables[1].snapshots, 0);                  /* a no-op re-run */
    CHECK_EQ_INT(meta_count(wh3, "github.commits", 'r'), 2); /* main + the live one */
    CHECK_EQ_INT(r.tables[1].stale_branches_dropped, 1);     /* reported in the result, not printed */

    /* options */
    kiln_gh_iceberg_opts bad = {NULL, NULL, 0, 0, NULL, NULL, 0};
    CHECK_EQ_INT(kiln_gh_iceberg_load(&bad, stage, &rep, &r, &err), KILN_EINVAL);
    kiln_gh_report_free(&rep);
}

/* All rows of a table as sorted text "col|col|...\n", for comparing loads. */
static char *table_text(const char *wh, const char *name)
{
    kiln_err err = {0};
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_scan *s = NULL;
    kiln_buf line, all;
    kiln_buf_init(&line, 0);
    kiln_buf_init(&all, 0);
    KILN_VEC(char *) rows = {0};
    char *out = NULL;
    if (kiln_lake_catalog_open(&c, wh, KILN_LAKE_CATALOG_SQLITE, &err) || kiln_lake_table_load(&t, c, name, &err))
        goto done;
    kiln_lake_scan_opts so = {0};
    if (kiln_lake_scan_open(&s, t, &so, &err))
        goto done;
    const kiln_batch *b;
    while (kiln_lake_scan_next(s, &b, &err) == 1)
        for (size_t r = 0; r < b->nrows; r++) {
            kiln_buf_reset(&line);
            for (int col = 0; col < b->schema->ncols; col++) {
                if (col)
                    kiln_buf_putc(&line, '|', &err);
                kiln_parquet_format_value(&line, b, col, r, &err);
            }
            kiln_vec_push(&rows, kiln_sprintf("%s", line.data ? line.data : ""), &err);
        }
    qsort(rows.items, rows.len, sizeof(char *), cmp_text);
    for (size_t i = 0; i < rows.len; i++)
        kiln_buf_printf(&all, &err, "%s\n", rows.items[i]);
    out = all.data ? kiln_buf_detach(&all, NULL) : kiln_sprintf("%s", "");
done:
    for (size_t i = 0; i < rows.len; i++)
        kiln_free(rows.items[i]);
    kiln_vec_free(&rows);
    kiln_buf_free(&line);
    kiln_buf_free(&all);
    kiln_lake_scan_free(s);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
    return out;
}

/* A day bigger than the budget goes through key-range buckets: the same
 * commit (repo, sha) pushed in hour 0 and again in hour 5 keeps the later
 * push, exactly as a load in one chunk does; every bucket's data files have
 * disjoint sha ranges. */
TEST(gh_iceberg, big_day_buckets_match_one_chunk)
{
    char in[4096], stage[4096], wh1[4096], wh2[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(stage, sizeof stage, "%s/stage", kt_tmpdir());
    snprintf(wh1, sizeof wh1, "%s/wh1", kt_tmpdir());
    snprintf(wh2, sizeof wh2, "%s/wh2", kt_tmpdir());
    mkdir(in, 0755);
    /* 40 pushes over two hours of one day; shas spread over the hex range;
     * push 1's commit is pushed again (push 40) five hours later */
    for (int h = 0; h < 2; h++) {
        kiln_buf txt;
        kiln_buf_init(&txt, 0);
        kiln_err e = {0};
        for (int i = 0; i < 20; i++) {
            int id = h * 20 + i + 1;
            int sid = id == 40 ? 1 : id; /* the last push repeats push 1's commit */
            char sha[41];
            snprintf(sha, sizeof sha, "%02x%038d", (sid * 37) % 256, sid);
            char ts[32];
            snprintf(ts, sizeof ts, "2025-10-05T%02d:%02d:00Z", h * 5, i);
            char *p = push(id, 1000 + id, 7 + sid % 3, sha, "refs/heads/main", ts);
            kiln_buf_printf(&txt, &e, "%s", p);
            kiln_free(p);
        }
        char name[64];
        snprintf(name, sizeof name, "2025-10-05-%d.json.gz", h * 5);
        write_hour(in, name, txt.data);
        kiln_buf_free(&txt);
    }
    kiln_err err = {0};
    kiln_gh_report rep;
    CHECK_OK(run_parquet(in, stage, &rep, &err), &err);
    kiln_gh_iceberg_opts one = {wh1, NULL, 0, (uint64_t)1 << 30, NULL, NULL, 0};
    kiln_gh_iceberg_result r;
    CHECK_OK(kiln_gh_iceberg_load(&one, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[1].buckets, 0);
    CHECK_EQ_INT(r.tables[1].snapshots, 1);
    kiln_gh_iceberg_opts small = {wh2, NULL, 0, 512, NULL, NULL, 0};
    CHECK_OK(kiln_gh_iceberg_load(&small, stage, &rep, &r, &err), &err);
    CHECK(r.tables[1].buckets >= 4);
    CHECK_EQ_INT(r.tables[1].snapshots, r.tables[1].buckets);
    CHECK_EQ_INT(r.tables[0].published, 1);
    CHECK_EQ_INT(r.tables[1].rows_inserted, 39); /* 40 commits, one (repo, sha) twice */
    char *a = table_text(wh1, "github.commits"), *b = table_text(wh2, "github.commits");
    CHECK(a && b);
    CHECK_STR(b, a);
    CHECK(strstr(a, "|2500000000000000000000000000000000000001|1040|") != NULL); /* the later push won */
    CHECK(strstr(a, "|2500000000000000000000000000000000000001|1001|") == NULL);
    kiln_free(a);
    kiln_free(b);
    a = table_text(wh1, "github.pushes");
    b = table_text(wh2, "github.pushes");
    CHECK_STR(b, a);
    kiln_free(a);
    kiln_free(b);
    /* the same load again changes nothing, bucket by bucket */
    CHECK_OK(kiln_gh_iceberg_load(&small, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(r.tables[1].snapshots, 0);
    CHECK_EQ_INT(r.tables[1].rows_updated, 0);
    kiln_gh_report_free(&rep);
}

/* Another writer commits to github.commits while the job is loading (the
 * hook runs just before the publish): the publish conflicts, the job loads
 * its unit again on the new head and publishes; both writers' rows are on
 * main, no staging branch is left. */
typedef struct other_writer {
    const char *wh;
    int done;
    int rc;
} other_writer;

static void commit_as_other(void *ctx, const char *table)
{
    other_writer *ow = ctx;
    if (ow->done || strcmp(table, "github.commits") != 0)
        return;
    ow->done = 1;
    kiln_err err = {0};
    kiln_lake_catalog *c = NULL;
    kiln_lake_table *t = NULL;
    kiln_lake_writer *w = NULL;
    kiln_batch *b = NULL;
    if ((ow->rc = kiln_lake_catalog_open(&c, ow->wh, KILN_LAKE_CATALOG_SQLITE, &err)) ||
        (ow->rc = kiln_lake_table_load(&t, c, "github.commits", &err)))
        goto done;
    kiln_lake_write_opts wo = {0};
    wo.mode = KILN_LAKE_WRITE_APPEND;
    if ((ow->rc = kiln_lake_writer_open(&w, t, &wo, &err)))
        goto done;
    const kiln_schema *s = kiln_lake_writer_schema(w);
    if ((ow->rc = kiln_batch_new(&b, s, 4, 0, &err)))
        goto done;
    for (int col = 0; col < s->ncols; col++) {
        const char *nm = s->cols[col].name;
        if (!strcmp(nm, "created_at"))
            kiln_batch_put_i64(b, col, (int64_t)kiln_days_from_civil(2025, 9, 1) * 86400000000LL, &err);
        else if (s->cols[col].type == KILN_T_STRING)
            kiln_batch_put_str(b, col, "other", 5, &err);
        else if (s->cols[col].type == KILN_T_BOOL)
            kiln_batch_put_bool(b, col, 1, &err);
        else
            kiln_batch_put_i64(b, col, 424242, &err);
    }
    kiln_batch_end_row(b, &err);
    if (!(ow->rc = kiln_lake_writer_write(w, b, &err)))
        ow->rc = kiln_lake_writer_commit(w, NULL, &err);
done:
    kiln_batch_free(b);
    kiln_lake_writer_free(w);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(c);
}

TEST(gh_iceberg, publish_conflict_reloads_on_new_head)
{
    char in[4096], stage[4096], wh[4096];
    snprintf(in, sizeof in, "%s/in", kt_tmpdir());
    snprintf(stage, sizeof stage, "%s/stage", kt_tmpdir());
    snprintf(wh, sizeof wh, "%s/wh", kt_tmpdir());
    mkdir(in, 0755);
    write_input(in, "refs/heads/main");
    kiln_err err = {0};
    kiln_gh_report rep;
    CHECK_OK(run_parquet(in, stage, &rep, &err), &err);
    kiln_gh_iceberg_opts io = {wh, NULL, 0, 0, NULL, NULL, 0};
    kiln_gh_iceberg_result r;
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err); /* tables exist, 3 commits */
    /* new rows for the job (push 1 changes ref), another writer in between */
    kiln_gh_report_free(&rep);
    write_input(in, "refs/heads/other");
    char *extra = push(4, 104, 9, "s4", "refs/heads/z", "2025-10-06T01:00:04Z"); /* a new commit */
    write_hour(in, "2025-10-06-1.json.gz", extra);
    kiln_free(extra);
    CHECK_OK(run_parquet(in, stage, &rep, &err), &err);
    other_writer ow = {wh, 0, 0};
    io.before_publish = commit_as_other;
    io.hook_ctx = &ow;
    /* without the reload, this publish would fail: main moved under it */
    CHECK_OK(kiln_gh_iceberg_load(&io, stage, &rep, &r, &err), &err);
    CHECK_EQ_INT(ow.done, 1);
    CHECK_EQ_INT(ow.rc, 0);
    CHECK_EQ_INT(r.tables[1].published, 1);
    CHECK_EQ_INT(r.tables[1].rows_inserted, 1); /* counted once, not per attempt */
    CHECK_EQ_INT(r.tables[1].reloads, 1);
    CHECK_EQ_INT(count_rows(wh, "github.commits", NULL), 5); /* 3 + the job's new one + the other writer's */
    CHECK_EQ_INT(count_rows(wh, "github.commits", "sha = 's4'"), 1);
    CHECK_EQ_INT(count_rows(wh, "github.commits", "sha = 'other'"), 1);
    CHECK_EQ_INT(count_rows(wh, "github.pushes", "ref = 'refs/heads/other'"), 1);
    CHECK_EQ_INT(meta_count(wh, "github.commits", 'r'), 1);
    CHECK_EQ_INT(meta_count(wh, "github.pushes", 'r'), 1);
    kiln_gh_report_free(&rep);
}

/* The engine's spill records (engine/gh_int.h): a record walked with
 * kiln_gh__spill_field gives the column's bytes as kiln_gh__spill_put wrote
 * them and ends where kiln_gh__spill_get ends; a cut record is an error. */
TEST(gh_iceberg, spill_field_walks_records)
{
    static const kiln_column_def cols[] = {
        {"id", KILN_T_INT64, 1, 1, 0, 0},
        {"name", KILN_T_STRING, 0, 2, 0, 0},
        {"ok", KILN_T_BOOL, 0, 3, 0, 0},
    };
    static const kiln_schema schema = {3, cols};
    kiln_batch *b;
    kiln_err err = {0};
    CHECK_OK(kiln_batch_new(&b, &schema, 4, 0, &err), &err);
    CHECK_OK(kiln_batch_put_i64(b, 0, 42, &err), &err);
    CHECK_OK(kiln_batch_put_str(b, 1, "abc1", 4, &err), &err);
    CHECK_OK(kiln_batch_put_null(b, 2, &err), &err);
    CHECK_OK(kiln_batch_end_row(b, &err), &err);
    CHECK_OK(kiln_batch_put_i64(b, 0, -7, &err), &err);
    CHECK_OK(kiln_batch_put_null(b, 1, &err), &err);
    CHECK_OK(kiln_batch_put_bool(b, 2, 1, &err), &err);
    CHECK_OK(kiln_batch_end_row(b, &err), &err);
    kiln_buf o;
    kiln_buf_init(&o, 0);
    CHECK_OK(kiln_gh__spill_put(&o, b, 0, &err), &err);
    CHECK_OK(kiln_gh__spill_put(&o, b, 1, &err), &err);
    const uint8_t *data = (const uint8_t *)o.data, *p = data, *end = data + o.len, *q = data, *val;
    size_t len;
    CHECK_OK(kiln_gh__spill_field(&p, end, &schema, 1, &val, &len, "t", &err), &err);
    CHECK(val && len == 4 && memcmp(val, "abc1", 4) == 0);
    CHECK_OK(kiln_gh__spill_get(&q, end, &schema, NULL, "t", &err), &err);
    CHECK(p == q);
    CHECK_OK(kiln_gh__spill_field(&p, end, &schema, 0, &val, &len, "t", &err), &err);
    int64_t v;
    CHECK(val && len == 8);
    memcpy(&v, val, 8);
    CHECK_EQ_INT(v, -7);
    CHECK(p == end);
    p = data;
    CHECK_EQ_INT(kiln_gh__spill_field(&p, data + 5, &schema, 1, &val, &len, "t", &err), KILN_EFORMAT);
    CHECK(p == data); /* not advanced */
    kiln_buf_free(&o);
    kiln_batch_free(b);
}
