/*
 * task_lib.c - the task types that are kiln library calls rather than
 * programs: job.gh_events (the engine's GitHub-events job for the run's
 * data interval), models.build (the models layer's `build`) and sql (SQL
 * over the warehouse's Iceberg tables).
 *
 * The runner renders the task's settings (templates) into a libcall, the
 * local executor forks and the child calls kiln_flow__lib_main: the same
 * process group, log, lock, timeout and kill as a command task, without an
 * exec and without a command line built from values (nothing goes through
 * a shell). The equivalent `kiln ...` argv is kept for the try's log and for
 * a remote executor that can only start programs.
 */
#include "flow_int.h"

#include "engine/gh_events.h"
#include "models/models.h"
#include "sql/sql.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

struct kiln_flow__libcall {
    char *type;
    kiln_flow_strv keys, vals; /* rendered settings */
    int64_t istart, iend;      /* the data interval */
};

static const char *opt(const kiln_flow__libcall *c, const char *name)
{
    for (size_t i = 0; i < c->keys.len; i++)
        if (!strcmp(c->keys.items[i], name))
            return c->vals.items[i];
    return NULL;
}

static int opt_true(const kiln_flow__libcall *c, const char *name)
{
    const char *v = opt(c, name);
    return v && !strcmp(v, "true");
}

static void strv_clear(kiln_flow_strv *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}

void kiln_flow__lib_free(kiln_flow__libcall *c)
{
    if (!c)
        return;
    kiln_free(c->type);
    strv_clear(&c->keys);
    strv_clear(&c->vals);
    kiln_free(c);
}

int kiln_flow__lib_prepare(const kiln_flow_task *t, const kiln_flow_render_ctx *ctx, int64_t istart, int64_t iend,
                           kiln_flow__libcall **out, kiln_err *err)
{
    *out = NULL;
    kiln_flow__libcall *c = kiln_calloc(1, sizeof *c);
    if (!c || !(c->type = kiln_strdup(t->type))) {
        kiln_free(c);
        return KILN_OOM(err);
    }
    c->istart = istart;
    c->iend = iend;
    int over = kiln_flow__branch_override(t, ctx->branch);
    for (size_t i = 0; i < t->opt_keys.len + (size_t)over; i++) {
        int extra = i == t->opt_keys.len; /* the backfill's branch for a job.gh_events table write */
        if (!extra && over && !strcmp(t->opt_keys.items[i], "branch"))
            continue;
        char *k = kiln_strdup(extra ? "branch" : t->opt_keys.items[i]), *v = NULL;
        int rc = !k      ? KILN_OOM(err)
                 : extra ? ((v = kiln_strdup(ctx->branch)) ? 0 : KILN_OOM(err))
                         : kiln_flow_render(&v, t->opt_vals.items[i], ctx, err);
        if (!rc && kiln_vec_push(&c->keys, k, err) == 0)
            k = NULL;
        else if (!rc)
            rc = KILN_OOM(err);
        if (!rc && kiln_vec_push(&c->vals, v, err) == 0)
            v = NULL;
        else if (!rc)
            rc = KILN_OOM(err);
        kiln_free(k);
        kiln_free(v);
        if (rc) {
            kiln_flow__lib_free(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

int kiln_flow__branch_override(const kiln_flow_task *t, const char *branch)
{
    return branch && !strcmp(t->type, "job.gh_events") && kiln_flow_task_opt(t, "warehouse") != NULL;
}

/* The `kiln ...` command line equivalent to the call (for the log and a
 * remote executor). Caller frees the strings and the array. */
int kiln_flow__lib_argv(const kiln_flow__libcall *c, char ***out, kiln_err *err)
{
    KILN_VEC(char *) v = {0};
    int rc = 0;
#define ARG(s)                                                                                                         \
    do {                                                                                                               \
        char *a_ = kiln_strdup(s);                                                                                     \
        if (!a_ || kiln_vec_push(&v, a_, err)) {                                                                       \
            kiln_free(a_);                                                                                             \
            rc = KILN_OOM(err);                                                                                        \
            goto done;                                                                                                 \
        }                                                                                                              \
    } while (0)
#define OPT(flag, name)                                                                                                \
    do {                                                                                                               \
        if (opt(c, name)) {                                                                                            \
            ARG(flag);                                                                                                 \
            ARG(opt(c, name));                                                                                         \
        }                                                                                                              \
    } while (0)
    ARG("kiln");
    if (!strcmp(c->type, "job.gh_events")) {
        char a[32], b[32];
        kiln_flow__days(c->istart, c->iend, a, b);
        ARG("job");
        ARG("gh-events");
        OPT("--in", "in");
        if (opt(c, "warehouse")) {
            ARG("--format");
            ARG("iceberg");
            OPT("--warehouse", "warehouse");
            OPT("--branch", "branch");
        } else {
            OPT("--out", "out");
            ARG("--format");
            ARG(opt(c, "format") ? opt(c, "format") : "parquet"); /* the task's default */
        }
        ARG("--start");
        ARG(a);
        ARG("--end");
        ARG(b);
        OPT("--filter", "filter");
        OPT("--threads", "threads");
        if (opt_true(c, "allow_missing"))
            ARG("--allow-missing");
        if (opt_true(c, "keep_going"))
            ARG("--keep-going");
    } else if (!strcmp(c->type, "models.build")) {
        ARG("build");
        ARG("--project-dir");
        ARG(opt(c, "project_dir") ? opt(c, "project_dir") : ".");
        OPT("--profiles-dir", "profiles_dir");
        OPT("--target", "target");
        OPT("--select", "select");
        OPT("--exclude", "exclude");
        OPT("--threads", "threads");
        if (opt_true(c, "full_refresh"))
            ARG("--full-refresh");
        if (opt_true(c, "fail_fast"))
            ARG("--fail-fast");
    } else if (!strcmp(c->type, "sql")) {
        ARG("sql");
        ARG("--warehouse");
        ARG(opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse");
        ARG("--bail");
        ARG("-c");
        ARG(opt(c, "sql"));
    } else if (!strcmp(c->type, "table.maintain")) { /* maint.c */
        ARG("table");
        ARG("maintain");
        if (opt(c, "table") && strcmp(opt(c, "table"), "all"))
            ARG(opt(c, "table"));
        else
            ARG("--all");
        ARG("--warehouse");
        ARG(opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse");
        if (opt_true(c, "dry_run"))
            ARG("--dry-run");
    }
#undef OPT
#undef ARG
    if (kiln_vec_push(&v, (char *)NULL, err))
        rc = KILN_OOM(err);
done:
    if (rc) {
        for (size_t i = 0; i < v.len; i++)
            kiln_free(v.items[i]);
        kiln_vec_free(&v);
        *out = NULL;
        return rc;
    }
    *out = v.items;
    return 0;
}

/* The UTC days the interval [istart, iend) touches, as YYYY-MM-DD; an
 * empty interval (a DAG without a schedule) is the day of istart. */
void kiln_flow__days(int64_t istart, int64_t iend, char first[32], char last[32])
{
    int64_t end = iend > istart ? iend - 1 : istart;
    kiln_ts_format(istart * 1000000, first);
    kiln_ts_format(end * 1000000, last);
    first[10] = last[10] = 0;
}

static int fail(const char *what, const kiln_err *e)
{
    fprintf(stderr, "kiln: error %s: %s\n", what, e->msg[0] ? e->msg : "failed");
    return kiln_exit_code(e->code);
}

static int run_gh_events(const kiln_flow__libcall *c)
{
    kiln_err err = {0};
    kiln_gh_job_opts o;
    kiln_gh_job_opts_init(&o);
    o.scan.in_dir = opt(c, "in");
    o.scan.filter = opt(c, "filter");
    o.scan.allow_missing = opt_true(c, "allow_missing");
    o.scan.keep_going = opt_true(c, "keep_going");
    if (opt(c, "threads"))
        o.scan.threads = atoi(opt(c, "threads"));
    char a[32], b[32];
    kiln_flow__days(c->istart, c->iend, a, b);
    if (kiln_date_parse(a, 10, &o.scan.start_day) != 0 || kiln_date_parse(b, 10, &o.scan.end_day) != 0) {
        fprintf(stderr, "kiln: error job.gh_events: bad interval days %s..%s\n", a, b);
        return 70;
    }
    o.scan.has_range = 1;
    if (opt(c, "warehouse")) {
        o.iceberg = 1;
        o.iceberg_opts.warehouse = opt(c, "warehouse");
        o.iceberg_opts.branch = opt(c, "branch");
    } else {
        o.scan.out_dir = opt(c, "out");
        const char *f = opt(c, "format") ? opt(c, "format") : "parquet";
        if (!(o.scan.format = kiln_gh_format_find(f))) {
            fprintf(stderr, "kiln: error job.gh_events: format '%s' is not one of %s\n", f, kiln_gh_format_names());
            return 2;
        }
    }
    printf("job.gh_events: days %s..%s from %s into %s%s%s\n", a, b, o.scan.in_dir,
           o.iceberg ? o.iceberg_opts.warehouse : o.scan.out_dir, o.iceberg_opts.branch ? " branch " : "",
           o.iceberg_opts.branch ? o.iceberg_opts.branch : "");
    kiln_gh_job_result res;
    memset(&res, 0, sizeof res);
    int rc = kiln_gh_events_job(&res, &o, &err), ec;
    kiln_buf txt;
    kiln_buf_init(&txt, 0);
    kiln_err e2 = {0};
    if (kiln_gh_job_result_text(&res, &txt, &e2) == 0 && txt.data)
        fwrite(txt.data, 1, txt.len, stdout);
    kiln_buf_free(&txt);
    /* what was written, for the runner's asset_materialization records */
    const char *rf = getenv("KILN_RESULT_FILE");
    FILE *res_f = rc == 0 && rf && *rf ? fopen(rf, "w") : NULL;
    if (res_f) {
        if (o.iceberg) {
            for (int i = 0; i < 2; i++) {
                const kiln_gh_iceberg_table_result *tr = &res.iceberg_result.tables[i];
                if (tr->name[0] && tr->last_snapshot_id >= 0)
                    fprintf(res_f, "%s\t%lld\t%s..%s\t%lld\n", tr->name, (long long)tr->last_snapshot_id, a, b,
                            (long long)(tr->rows_inserted + tr->rows_updated));
            }
        } else {
            fprintf(res_f, "%s/pushes\t-1\t%s..%s\t%llu\n", o.scan.out_dir, a, b,
                    (unsigned long long)res.report.total.pushes);
            fprintf(res_f, "%s/commits\t-1\t%s..%s\t%llu\n", o.scan.out_dir, a, b,
                    (unsigned long long)res.report.total.commits);
        }
        fclose(res_f);
    }
    if (rc != 0)
        ec = fail("job.gh_events", &err);
    else if (res.status == KILN_GH_JOB_OK)
        ec = 0;
    else {
        fprintf(stderr, "kiln: error job.gh_events: %s: %zu of %zu day partitions failed\n",
                kiln_gh_job_status_name(res.status), res.report.failed, res.report.nparts);
        ec = res.status == KILN_GH_JOB_PARTIAL ? 6 : 1;
    }
    kiln_gh_job_result_free(&res);
    return ec;
}

static int run_models_build(const kiln_flow__libcall *c)
{
    kiln_err err = {0};
    kiln_models_opts o = {0};
    o.project_dir = opt(c, "project_dir") ? opt(c, "project_dir") : ".";
    o.profiles_dir = opt(c, "profiles_dir");
    o.target = opt(c, "target");
    o.select = opt(c, "select");
    o.exclude = opt(c, "exclude");
    o.full_refresh = opt_true(c, "full_refresh");
    o.fail_fast = opt_true(c, "fail_fast");
    if (opt(c, "threads"))
        o.threads = atoi(opt(c, "threads"));
    /* vars: the task's vars map as the JSON mapping --vars takes */
    kiln_buf vars;
    kiln_buf_init(&vars, 0);
    int nv = 0, rc = 0;
    for (size_t i = 0; !rc && i < c->keys.len; i++) {
        if (strncmp(c->keys.items[i], "vars.", 5))
            continue;
        const char *k = c->keys.items[i] + 5, *v = c->vals.items[i];
        rc = kiln_buf_putc(&vars, nv++ ? ',' : '{', &err);
        if (!rc)
            rc = kiln_json_write_str(&vars, k, strlen(k), &err);
        if (!rc)
            rc = kiln_buf_putc(&vars, ':', &err);
        if (!rc)
            rc = kiln_json_write_str(&vars, v, strlen(v), &err);
    }
    if (!rc && nv)
        rc = kiln_buf_putc(&vars, '}', &err);
    if (rc) {
        kiln_buf_free(&vars);
        return fail("models.build", &err);
    }
    o.vars = nv ? vars.data : NULL;
    int failed = 0;
    rc = kiln_models_run("build", &o, stdout, &failed, &err);
    kiln_buf_free(&vars);
    if (rc < 0)
        return fail("models.build", &err);
    if (failed) {
        fprintf(stderr, "kiln: error models.build: %d node%s ended in ERROR or FAIL\n", failed, failed == 1 ? "" : "s");
        return 1;
    }
    return 0;
}

static int run_sql(const kiln_flow__libcall *c)
{
    kiln_err err = {0};
    const char *wh = opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse", *text = opt(c, "sql");
    sqlite3 *db = NULL;
    kiln_sql_shell *sh = NULL;
    int ec = 0;
    if (kiln_sql_db_open(&db, NULL, 0, &err) != 0 || kiln_sql_lake_attach_ex(db, wh, KILN_SQL_LAKE_DEFER, &err) != 0) {
        ec = fail("sql", &err);
        goto done;
    }
    if (kiln_sql_lake_missing(db) && !kiln_sql_text_creates_table(text, strlen(text))) {
        fprintf(stderr, "kiln: error sql: warehouse not found: %s (nothing created; a CREATE TABLE creates it)\n", wh);
        ec = 4;
        goto done;
    }
    kiln_sql_shell_opts so = {.fmt = KILN_SQL_FMT_TABLE, .bail = 1};
    if (kiln_sql_shell_new(&sh, db, stdout, stderr, &so, &err) != 0) {
        ec = fail("sql", &err);
        goto done;
    }
    kiln_sql_shell_text(sh, text);
    int first = kiln_sql_shell_first_error(sh);
    /* a failed statement is failed work (1), as for `kiln sql` */
    ec = first == KILN_EINVAL ? 1 : kiln_exit_code(first);
done:
    kiln_sql_shell_free(sh);
    kiln_sql_db_close(db);
    return ec;
}

/* Test and demo hook: KILN_FAILPOINT="flow.task=DAG.TASK[@YYYY-MM-DD]:fail-tries=N[,...]"
 * makes tries 1..N of that task instance fail (exit 1) before the call. */
static int failpoint(void)
{
    const char *fp = getenv("KILN_FAILPOINT"), *dag = getenv("KILN_DAG"), *task = getenv("KILN_TASK"),
               *ld = getenv("KILN_LOGICAL_DATE"), *tn = getenv("KILN_TRY_NUMBER");
    if (!fp || !dag || !task || !ld || !tn)
        return 0;
    char want[300];
    snprintf(want, sizeof want, "flow.task=%s.%s", dag, task);
    for (const char *e = fp; e && *e; e = strchr(e, ',') ? strchr(e, ',') + 1 : NULL) {
        size_t n = strlen(want);
        if (strncmp(e, want, n))
            continue;
        const char *p = e + n;
        if (*p == '@') {
            if (strncmp(p + 1, ld, 10))
                continue;
            p += 11;
        }
        int tries = 0;
        if (sscanf(p, ":fail-tries=%d", &tries) == 1 && atoi(tn) <= tries) {
            fprintf(stderr, "kiln: failpoint %.*s: try %s fails on purpose\n", (int)strcspn(e, ","), e, tn);
            return 1;
        }
    }
    return 0;
}

int kiln_flow__lib_main(void *arg)
{
    const kiln_flow__libcall *c = arg;
    char **argv = NULL;
    kiln_err err = {0};
    if (failpoint())
        return 1;
    /* what ran, in the log, as the command line that does the same */
    if (kiln_flow__lib_argv(c, &argv, &err) == 0) {
        printf("kiln: %s (in-process; the same as:", c->type);
        for (size_t i = 0; argv[i]; i++) {
            printf(" ");
            kiln_buf q;
            kiln_buf_init(&q, 0);
            if (strpbrk(argv[i], " \t\n'\"\\$`*?[]{}();&|<>") || !*argv[i]) {
                kiln_json_write_str(&q, argv[i], strlen(argv[i]), &err);
                printf("%s", q.data ? q.data : "");
            } else
                printf("%s", argv[i]);
            kiln_buf_free(&q);
            kiln_free(argv[i]);
        }
        printf(")\n");
        kiln_free(argv);
    }
    if (!strcmp(c->type, "job.gh_events"))
        return run_gh_events(c);
    if (!strcmp(c->type, "models.build"))
        return run_models_build(c);
    if (!strcmp(c->type, "sql"))
        return run_sql(c);
    if (!strcmp(c->type, "table.maintain"))
        return kiln_flow__maint_task(opt(c, "warehouse"), opt(c, "table"), opt_true(c, "dry_run"));
    fprintf(stderr, "kiln: error: task type '%s' has no library call\n", c->type);
    return 70;
}

/* ---- what a models.build task's key covers: the dbt project's files */

static int hash_tree(kiln_sha256 *h, const char *root, const char *rel, int depth)
{
    char *path = *rel ? kiln_sprintf("%s/%s", root, rel) : kiln_strdup(root);
    if (!path)
        return -1;
    struct dirent **ents = NULL;
    int n = depth > 32 ? -1 : scandir(path, &ents, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        char *r = nm[0] == '.' ? NULL : *rel ? kiln_sprintf("%s/%s", rel, nm) : kiln_strdup(nm);
        char *full = r ? kiln_sprintf("%s/%s", root, r) : NULL;
        struct stat st;
        if (r && full && stat(full, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                hash_tree(h, root, r, depth + 1);
            else if (S_ISREG(st.st_mode)) {
                char *data = NULL;
                size_t len = 0;
                kiln_err e;
                kiln_sha256_update(h, r, strlen(r) + 1);
                if (kiln_file_read(full, (size_t)256 << 20, &data, &len, &e) == 0)
                    kiln_sha256_update(h, data, len);
                else
                    kiln_sha256_update(h, "?", 1);
                kiln_free(data);
            }
        }
        kiln_free(r);
        kiln_free(full);
        free(ents[i]);
    }
    free(ents);
    kiln_free(path);
    return 0;
}

void kiln_flow__models_hash(kiln_sha256 *h, const char *project_dir)
{
    /* the files dbt reads (default paths); target/, logs/ and the
     * warehouse are outputs, not definition */
    static const char *const files[] = {"dbt_project.yml", "profiles.yml", "packages.yml", "selectors.yml"};
    static const char *const dirs[] = {"models", "seeds", "macros", "tests", "snapshots", "analyses"};
    kiln_sha256_update(h, "models-v1", 10);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *p = kiln_sprintf("%s/%s", project_dir, files[i]), *data = NULL;
        size_t len = 0;
        kiln_err e;
        kiln_sha256_update(h, files[i], strlen(files[i]) + 1);
        if (p && kiln_file_read(p, (size_t)16 << 20, &data, &len, &e) == 0)
            kiln_sha256_update(h, data, len);
        kiln_free(data);
        kiln_free(p);
    }
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char *p = kiln_sprintf("%s/%s", project_dir, dirs[i]);
        if (p) {
            kiln_sha256_update(h, dirs[i], strlen(dirs[i]) + 1);
            hash_tree(h, p, "", 0);
        }
        kiln_free(p);
    }
}
