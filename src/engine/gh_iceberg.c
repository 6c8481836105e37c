/*
 * gh_iceberg.c - the Iceberg sink of `kiln job gh-events --format iceberg`:
 * loads the job's staged per-day Parquet output into two Iceberg tables,
 * github.pushes (MERGE on push_id) and github.commits (MERGE on
 * repo_id,sha), both partitioned by day(created_at), created on first use
 * with the schemas (and field ids) of gh_events.h.
 *
 * How it works: the job itself runs with the Parquet format into a staging
 * directory (STAGE/pushes/date=D/part-HH.parquet, ...), so the scan keeps its
 * threads, dedupe and per-day atomic swap. Then, on the caller's thread, the
 * days that succeeded are read back hour file by hour file and given to a
 * lake writer in MERGE mode (the writer stages a commit's rows in memory):
 *   commit=job        one commit per table for the whole run;
 *   commit=partition  one commit per table per day;
 *   either way, when the rows staged for a commit pass the budget
 *   (stage_bytes, default 48 MB estimated), they are committed at the next
 *   hour-file boundary, so memory stays bounded (peak ~75 MB + 3 x budget,
 *   figures in docs/engine.md) at the price of more snapshots.
 * A day that failed in the scan (truncated gzip, ...) is not given to the
 * writer at all: it contributes nothing and the others commit. MERGE
 * rewrites only files whose rows change, so a re-run of the same input adds
 * no snapshot (the writer reports noop). A crash at any point before the
 * metadata swap leaves the previous snapshot; files written meanwhile are
 * orphans (`kiln table remove-orphans`).
 *
 * Test hook: KILN_TEST_GH_ICEBERG_KILL=TABLE:POINT (TABLE pushes|commits,
 * POINT data|manifests) SIGKILLs the process at that lake fault point.
 */
#include "engine/gh_events.h"
#include "format/parquet.h"
#include "lake/lake.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Row groups of the table's data files are cut at this many rows: the
 * writer then buffers ~30 MB of encoded columns instead of up to 128 MB. */
#define GH_ICEBERG_RG_ROWS 131072
/* Default staging budget (estimated bytes of rows held by the lake writer,
 * which stages a commit's rows in memory): past it, the rows so far are
 * committed at the next hour-file boundary. */
#define GH_ICEBERG_STAGE_DEFAULT ((uint64_t)48 << 20)

typedef struct gh_table {
    const char *name;       /* "github.pushes" */
    const char *sub;        /* "pushes" */
    const char *keys;       /* merge keys */
    const kiln_schema *schema;
} gh_table;

static int kill_fault(kiln_lake_fault_point where, void *ctx)
{
    const char *want = ctx;
    if ((where == KILN_LAKE_FAULT_AFTER_DATA_FILES && strcmp(want, "data") == 0) ||
        (where == KILN_LAKE_FAULT_AFTER_MANIFESTS && strcmp(want, "manifests") == 0))
        kill(getpid(), SIGKILL);
    return 0;
}

/* Iceberg schema JSON of a kiln schema (ids and requiredness kept). */
static int schema_json(const kiln_schema *s, kiln_buf *out, kiln_err *err)
{
    int rc = kiln_buf_printf(out, err, "{\"type\":\"struct\",\"schema-id\":0,\"fields\":[");
    for (int i = 0; !rc && i < s->ncols; i++)
        rc = kiln_buf_printf(out, err, "%s{\"id\":%d,\"name\":\"%s\",\"required\":%s,\"type\":\"%s\"}", i ? "," : "",
                             s->cols[i].field_id, s->cols[i].name, s->cols[i].required ? "true" : "false",
                             kiln_type_name(s->cols[i].type));
    if (!rc)
        rc = kiln_buf_printf(out, err, "]}");
    return rc;
}

static int table_open(kiln_lake_table **out, kiln_lake_catalog *cat, const gh_table *gt, kiln_err *err)
{
    int rc = kiln_lake_table_load(out, cat, gt->name, err);
    if (rc != KILN_ENOTFOUND)
        return rc;
    kiln_err_clear(err);
    kiln_buf js;
    kiln_buf_init(&js, 0);
    if ((rc = schema_json(gt->schema, &js, err)))
        goto done;
    kiln_lake_create_opts co = {0};
    co.schema_json = js.data;
    co.partition = "day(created_at)";
    rc = kiln_lake_table_create(out, cat, gt->name, &co, err);
    if (rc == KILN_EEXIST) { /* created meanwhile by another run */
        kiln_err_clear(err);
        rc = kiln_lake_table_load(out, cat, gt->name, err);
    }
done:
    kiln_buf_free(&js);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void add_result(kiln_gh_iceberg_table_result *t, const kiln_lake_write_result *r);

/* One table's load: the open writer and how much it has staged. */
typedef struct loader {
    kiln_lake_table *t;
    const kiln_lake_write_opts *wo;
    kiln_lake_writer *w;           /* NULL until rows arrive */
    uint64_t staged;               /* estimated bytes of rows staged in w */
    uint64_t budget;               /* commit at an hour boundary past this */
    kiln_gh_iceberg_table_result *tr;
} loader;

static int loader_commit(loader *l, kiln_err *err)
{
    if (!l->w)
        return 0;
    kiln_lake_write_result wr;
    int rc = kiln_lake_writer_commit(l->w, &wr, err);
    if (!rc)
        add_result(l->tr, &wr);
    kiln_lake_writer_free(l->w);
    l->w = NULL;
    l->staged = 0;
    return rc;
}

/* Rough in-memory size of a batch once the writer has copied it. */
static uint64_t batch_bytes(const kiln_batch *b)
{
    uint64_t n = (uint64_t)b->nrows * (uint64_t)b->schema->ncols * 9;
    for (int c = 0; c < b->schema->ncols; c++)
        if (b->cols[c].type == KILN_T_STRING || b->cols[c].type == KILN_T_BINARY)
            n += b->cols[c].offsets[b->nrows] + 4 * (uint64_t)b->nrows;
    return n;
}

/* Give every STAGE/<sub>/date=D/part-*.parquet of day d to the loader,
 * hours ascending; commits at an hour boundary when the budget is passed. */
static int load_day(loader *l, const char *stage, const gh_table *gt, int64_t day, kiln_err *err)
{
    char ds[16];
    kiln_date_format(day, ds);
    char *dir = kiln_sprintf("%s/%s/date=%s", stage, gt->sub, ds);
    DIR *dh = opendir(dir);
    KILN_VEC(char *) names = {0};
    kiln_parquet_reader *r = NULL;
    int rc = 0;
    if (!dh) /* a day without rows still has a directory; absent = nothing to load */
        goto done;
    struct dirent *de;
    while ((de = readdir(dh))) {
        size_t n = strlen(de->d_name);
        if (n > 8 && strncmp(de->d_name, "part-", 5) == 0 && strcmp(de->d_name + n - 8, ".parquet") == 0) {
            char *s = kiln_sprintf("%s", de->d_name);
            if ((rc = kiln_vec_push(&names, s, err))) {
                kiln_free(s);
                goto done;
            }
        }
    }
    qsort(names.items, names.len, sizeof names.items[0], cmp_str);
    for (size_t i = 0; i < names.len; i++) {
        char *p = kiln_sprintf("%s/%s", dir, names.items[i]);
        rc = kiln_parquet_reader_open(&r, p, NULL, err);
        kiln_free(p);
        if (rc)
            goto done;
        const kiln_batch *b;
        while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
            if (!l->w && (rc = kiln_lake_writer_open(&l->w, l->t, l->wo, err)))
                goto done;
            if ((rc = kiln_lake_writer_write(l->w, b, err)))
                goto done;
            l->staged += batch_bytes(b);
        }
        if (rc < 0)
            goto done;
        kiln_parquet_reader_free(r);
        r = NULL;
        if (l->budget && l->staged >= l->budget && (rc = loader_commit(l, err)))
            goto done;
    }
    rc = 0;
done:
    kiln_parquet_reader_free(r);
    if (dh)
        closedir(dh);
    for (size_t i = 0; i < names.len; i++)
        kiln_free(names.items[i]);
    kiln_vec_free(&names);
    kiln_free(dir);
    return rc;
}

static void add_result(kiln_gh_iceberg_table_result *t, const kiln_lake_write_result *r)
{
    if (r->noop || r->snapshot_id < 0) {
        t->noop_commits++;
    } else {
        t->snapshots++;
        t->last_snapshot_id = r->snapshot_id;
    }
    t->rows_inserted += r->rows_inserted;
    t->rows_updated += r->rows_updated;
    t->files_added += r->files_added;
    t->files_removed += r->files_removed;
}

int kiln_gh_iceberg_load(const kiln_gh_iceberg_opts *o, const char *stage, const kiln_gh_report *rep,
                         kiln_gh_iceberg_result *res, kiln_err *err)
{
    const gh_table tables[2] = {
        {"github.pushes", "pushes", "push_id", kiln_gh_pushes_schema()},
        {"github.commits", "commits", "repo_id,sha", kiln_gh_commits_schema()},
    };
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    char *kill_spec = NULL;
    int rc;
    memset(res, 0, sizeof *res);
    if (!o->warehouse)
        return kiln_err_set(err, KILN_EINVAL, "gh-events --format iceberg needs --warehouse DIR");
    if ((rc = kiln_lake_catalog_open(&cat, o->warehouse, KILN_LAKE_CATALOG_SQLITE, err)))
        goto done;
    const char *ks = getenv("KILN_TEST_GH_ICEBERG_KILL");
    if (ks && *ks)
        kill_spec = kiln_sprintf("%s", ks);
    for (int ti = 0; ti < 2; ti++) {
        const gh_table *gt = &tables[ti];
        kiln_gh_iceberg_table_result *tr = &res->tables[ti];
        snprintf(tr->name, sizeof tr->name, "%s", gt->name);
        tr->last_snapshot_id = -1;
        if ((rc = table_open(&t, cat, gt, err)))
            goto done;
        kiln_lake_write_opts wo = {0};
        wo.mode = KILN_LAKE_WRITE_MERGE;
        wo.branch = o->branch;
        wo.merge_keys = gt->keys;
        wo.row_group_rows = GH_ICEBERG_RG_ROWS;
        if (kill_spec) {
            char *colon = strchr(kill_spec, ':');
            if (colon && (size_t)(colon - kill_spec) == strlen(gt->sub) &&
                strncmp(kill_spec, gt->sub, strlen(gt->sub)) == 0) {
                wo.fault = kill_fault;
                wo.fault_ctx = colon + 1;
            }
        }
        loader l = {t, &wo, NULL, 0, o->stage_bytes ? o->stage_bytes : GH_ICEBERG_STAGE_DEFAULT, tr};
        for (size_t i = 0; i < rep->nparts; i++) {
            /* failed days contribute nothing; days without an hour file in this
             * run may hold an older run's staging, which is not this input */
            if (rep->parts[i].failed || rep->parts[i].counts.files == 0)
                continue;
            rc = load_day(&l, stage, gt, rep->parts[i].day, err);
            if (!rc && o->per_partition)
                rc = loader_commit(&l, err);
            if (rc) {
                kiln_lake_writer_free(l.w);
                goto done;
            }
        }
        if ((rc = loader_commit(&l, err)))
            goto done;
        kiln_lake_table_free(t);
        t = NULL;
    }
    rc = 0;
done:
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    kiln_free(kill_spec);
    return rc;
}

int kiln_gh_iceberg_result_json(const kiln_gh_iceberg_result *r, kiln_buf *out, kiln_err *err)
{
    int rc = kiln_buf_printf(out, err, "[");
    for (int i = 0; !rc && i < 2; i++) {
        const kiln_gh_iceberg_table_result *t = &r->tables[i];
        rc = kiln_buf_printf(out, err,
                             "%s{\"table\":\"%s\",\"snapshots\":%d,\"noop_commits\":%d,\"snapshot_id\":%lld,"
                             "\"rows_inserted\":%lld,\"rows_updated\":%lld,\"files_added\":%lld,"
                             "\"files_removed\":%lld}",
                             i ? "," : "", t->name, t->snapshots, t->noop_commits, (long long)t->last_snapshot_id,
                             (long long)t->rows_inserted, (long long)t->rows_updated, (long long)t->files_added,
                             (long long)t->files_removed);
    }
    if (!rc)
        rc = kiln_buf_printf(out, err, "]");
    return rc;
}
