/*
 * task_lib.c - the task types that are kiln library calls rather than
 * programs: job.gh_events (the engine's GitHub-events job for the run's
 * data interval), models.build (the models layer's `build`), sql (SQL
 * over the warehouse's Iceberg tables), table.fast_forward and
 * table.expire (the lake's branch fast-forward and snapshot expiry) and
 * table.publish (a branch run's gate before the backfill's swap).
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
#include "ingest/ingest.h"
#include "lake/lake.h"
#include "models/models.h"
#include "sql/sql.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

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
    if (branch && !strcmp(t->type, "models.build"))
        return 1; /* the models write their profile's warehouse */
    return branch && !strcmp(t->type, "job.gh_events") && kiln_flow_task_opt(t, "warehouse") != NULL;
}

/* The task's vars (settings vars.NAME) as the JSON mapping --vars takes;
 * empty when it has none. */
static int models_vars(const kiln_flow__libcall *c, kiln_buf *vars, kiln_err *err)
{
    int nv = 0, rc = 0;
    for (size_t i = 0; !rc && i < c->keys.len; i++) {
        if (strncmp(c->keys.items[i], "vars.", 5))
            continue;
        const char *k = c->keys.items[i] + 5, *v = c->vals.items[i];
        rc = kiln_buf_putc(vars, nv++ ? ',' : '{', err);
        if (!rc)
            rc = kiln_json_write_str(vars, k, strlen(k), err);
        if (!rc)
            rc = kiln_buf_putc(vars, ':', err);
        if (!rc)
            rc = kiln_json_write_str(vars, v, strlen(v), err);
    }
    if (!rc && nv)
        rc = kiln_buf_putc(vars, '}', err);
    return rc;
}

/* The `kiln ...` command line equivalent to the call (for the log and a
 * remote executor). Caller frees the strings and the array. */
int kiln_flow__lib_argv(const kiln_flow__libcall *c, char ***out, kiln_err *err)
{
    KILN_VEC(char *) v = {0};
    int rc = 0;
    kiln_buf vars;
    kiln_buf_init(&vars, 0);
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
        if ((rc = models_vars(c, &vars, err))) /* the task's vars, as the --vars mapping the call passes */
            goto done;
        if (vars.len) {
            ARG("--vars");
            ARG(vars.data);
        }
    } else if (!strcmp(c->type, "ingest.gharchive")) {
        char a[32], b[32];
        kiln_flow__days(c->istart, c->iend, a, b);
        ARG("ingest");
        ARG("gharchive");
        OPT("--from", "from");
        ARG("--start");
        ARG(a);
        ARG("--end");
        ARG(b);
        OPT("--hours", "hours");
        OPT("--out", "out");
        OPT("--parallel", "parallel");
        OPT("--retries", "attempts");
    } else if (!strcmp(c->type, "ingest.github_api")) {
        const char *w = opt(c, "what") ? opt(c, "what") : "";
        char sub[40];
        snprintf(sub, sizeof sub, "github-%s", w);
        ARG("ingest");
        ARG(sub);
        OPT("--user", "user");
        OPT("--out", "out");
        OPT("--warehouse", "warehouse");
        OPT("--api-url", "api_url");
        OPT("--cache", "cache");
        OPT("--budget", "budget");
        OPT("--filter", "filter");
        OPT("--since", "since");
        OPT("--retries", "attempts");
    } else if (!strcmp(c->type, "table.fast_forward")) {
        ARG("table");
        ARG("--warehouse");
        ARG(opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse");
        ARG("fast-forward");
        ARG(opt(c, "table"));
        ARG(opt(c, "from"));
        OPT("--to", "to");
    } else if (!strcmp(c->type, "table.expire")) {
        ARG("table");
        ARG("--warehouse");
        ARG(opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse");
        ARG("expire");
        ARG(opt(c, "table"));
        OPT("--older-than", "older_than");
        OPT("--retain-last", "retain_last");
        if (opt_true(c, "dry_run"))
            ARG("--dry-run");
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
    kiln_buf_free(&vars);
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

/* ingest.gharchive: the interval's days of GH Archive into the raw zone */
static int run_ingest_gharchive(const kiln_flow__libcall *c)
{
    kiln_err err = {0};
    kiln_ingest_gha_opts o;
    kiln_ingest_gha_opts_init(&o);
    char a[32], b[32];
    kiln_flow__days(c->istart, c->iend, a, b);
    if (kiln_date_parse(a, 10, &o.start_day) != 0 || kiln_date_parse(b, 10, &o.end_day) != 0) {
        fprintf(stderr, "kiln: error ingest.gharchive: bad interval days %s..%s\n", a, b);
        return 70;
    }
    o.out = opt(c, "out");
    if (opt(c, "from"))
        o.base_url = opt(c, "from");
    if (opt(c, "hours")) {
        const char *h = opt(c, "hours");
        char *end;
        long lo = strtol(h, &end, 10), hi = lo;
        if (*end == '-')
            hi = strtol(end + 1, &end, 10);
        if (*end || lo < 0 || hi > 23 || lo > hi) {
            fprintf(stderr, "kiln: error ingest.gharchive: hours '%s': expected H or H-H within 0-23\n", h);
            return 2;
        }
        o.hour_lo = (int)lo;
        o.hour_hi = (int)hi;
    }
    if (opt(c, "parallel"))
        o.parallel = atoi(opt(c, "parallel"));
    if (opt(c, "attempts"))
        o.max_attempts = atoi(opt(c, "attempts"));
    kiln_ingest_report rep;
    if (kiln_ingest_gharchive(&o, &rep, &err) != 0) {
        kiln_ingest_report_free(&rep);
        return fail("ingest.gharchive", &err);
    }
    const int *n = rep.counts;
    printf("ingest.gharchive: %s..%s: %zu hour(s): %d landed, %d unchanged, %d kept, %d changed upstream, %d "
           "missing, %d failed\n",
           a, b, rep.nhours, n[KILN_INGEST_LANDED], n[KILN_INGEST_UNCHANGED], n[KILN_INGEST_KEPT],
           n[KILN_INGEST_CHANGED], n[KILN_INGEST_MISSING], n[KILN_INGEST_FAILED]);
    for (size_t i = 0; i < rep.nhours; i++)
        if (rep.hours[i].status == KILN_INGEST_FAILED)
            fprintf(stderr, "kiln: error ingest.gharchive: %s\n", rep.hours[i].msg);
    int ok = n[KILN_INGEST_LANDED] + n[KILN_INGEST_UNCHANGED] + n[KILN_INGEST_KEPT] + n[KILN_INGEST_CHANGED];
    int ec = n[KILN_INGEST_FAILED] ? (ok ? 6 : 1) : (!ok && n[KILN_INGEST_MISSING] ? 4 : 0);
    kiln_ingest_report_free(&rep);
    return ec;
}

/* ingest.github_api: what = events (user, out) | repos | compare (warehouse) */
static int run_ingest_github_api(const kiln_flow__libcall *c)
{
    kiln_err err = {0};
    const char *w = opt(c, "what");
    kiln_github_opts api;
    memset(&api, 0, sizeof api);
    api.api_url = opt(c, "api_url");
    api.cache = opt(c, "cache");
    if (opt(c, "budget"))
        api.budget = atoll(opt(c, "budget"));
    if (opt(c, "attempts"))
        api.max_attempts = atoi(opt(c, "attempts"));
    int rc;
    char *cache = NULL;
    if (w && !strcmp(w, "events")) {
        if (!opt(c, "user") || !opt(c, "out")) {
            fprintf(stderr, "kiln: error ingest.github_api: what: events needs user: and out:\n");
            return 2;
        }
        kiln_ingest_gh_events_opts o;
        memset(&o, 0, sizeof o);
        o.api = api;
        o.user = opt(c, "user");
        o.out = opt(c, "out");
        kiln_ingest_gh_events_report rep;
        if ((rc = kiln_ingest_github_events(&o, &rep, &err)))
            return fail("ingest.github_api", &err);
        printf("ingest.github_api events %s: %d event(s), %d page(s), %d hour(s) landed, %d already there; %llu "
               "request(s)\n",
               o.user, rep.events, rep.pages, rep.hours_landed, rep.hours_unchanged,
               (unsigned long long)rep.stats.requests);
        return 0;
    }
    if (w && (!strcmp(w, "repos") || !strcmp(w, "compare"))) {
        kiln_ingest_gh_load_opts o;
        memset(&o, 0, sizeof o);
        o.api = api;
        o.warehouse = opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse";
        if (!o.api.cache)
            o.api.cache = cache = kiln_sprintf("%s/_cache", o.warehouse);
        o.filter = opt(c, "filter");
        o.since = opt(c, "since");
        kiln_ingest_gh_load_report rep;
        int cmp = !strcmp(w, "compare");
        rc = cmp ? kiln_ingest_github_compare(&o, &rep, &err) : kiln_ingest_github_repos(&o, &rep, &err);
        kiln_free(cache);
        if (rc)
            return fail("ingest.github_api", &err);
        if (cmp)
            printf("ingest.github_api compare: %d push(es), %d compared, %d cached, %d unavailable; %lld commit(s) "
                   "(%lld inserted, %lld updated)\n",
                   rep.pushes, rep.compares_fetched, rep.compares_cached, rep.compares_unavailable,
                   (long long)rep.commits, (long long)rep.rows_inserted, (long long)rep.rows_updated);
        else
            printf("ingest.github_api repos: %d repo(s), %d new version(s), %d closed, %d unavailable\n", rep.repos,
                   rep.versions_opened, rep.versions_closed, rep.repos_unavailable);
        return 0;
    }
    fprintf(stderr, "kiln: error ingest.github_api: what: '%s' is not one of events, repos, compare\n", w ? w : "");
    return 2;
}

/* ---- models.build's OpenLineage outputs: each model table it built, with
 * a schema facet (the Iceberg schema) and a columnLineage facet from the
 * models layer's column lineage (`kiln lineage MODEL.COLUMN`: the direct
 * upstream columns). Written as JSON array elements to KILN_LINEAGE_FILE
 * for the runner's COMPLETE event. */

static json_t *lineage_json(const kiln_models_opts *o, const char *target)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    kiln_err err = {0};
    if (!m)
        return NULL;
    int rc = kiln_models_lineage(o, target, 0, 1, m, &err);
    fclose(m);
    json_t *j = rc ? NULL : json_loadb(buf, len, 0, NULL);
    free(buf);
    return j;
}

static void models_lineage_out(const kiln_models_opts *o, const char *path)
{
    kiln_models_opts lo = *o;
    lo.output = "json";
    lo.resource_types = "model";
    char *buf = NULL, cwd[4096];
    size_t len = 0;
    kiln_err err = {0};
    kiln_project *p = NULL;
    kiln_lake_catalog *cat = NULL;
    kiln_buf out;
    kiln_buf_init(&out, 0);
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return;
    int rc = kiln_models_ls(&lo, m, &err);
    fclose(m);
    if (rc || kiln_project_load(&p, o, &err) ||
        kiln_lake_catalog_open(&cat, kiln_project_warehouse(p), KILN_LAKE_CATALOG_SQLITE, &err))
        goto done;
    const char *wh = kiln_project_warehouse(p);
    while (wh[0] == '.' && wh[1] == '/')
        wh += 2;
    size_t cl = getcwd(cwd, sizeof cwd) ? strlen(cwd) : 0;
    char *ns = cl && !strncmp(wh, cwd, cl) && wh[cl] == '/' ? kiln_sprintf("iceberg://%s", wh + cl + 1)
                                                            : kiln_sprintf("iceberg://%s", wh);
    int first = 1;
    for (char *line = buf, *nl; ns && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        json_t *node = json_loads(line, 0, NULL);
        const char *name = json_string_value(json_object_get(node, "name"));
        const char *mat = json_string_value(json_object_get(json_object_get(node, "config"), "materialized"));
        char *target = name ? kiln_sprintf("%s.*", name) : NULL;
        json_t *rows = target && !(mat && !strcmp(mat, "ephemeral")) ? lineage_json(o, target) : NULL;
        const char *rel =
            json_string_value(json_object_get(json_array_get(json_object_get(rows, "columns"), 0), "relation"));
        kiln_lake_table *t = NULL;
        kiln_err e2 = {0};
        if (rel && kiln_lake_table_load(&t, cat, rel, &e2) == 0) {
            const kiln_lake_schema *sc = kiln_lake_meta_current_schema(kiln_lake_table_meta(t));
            json_t *ds = json_object(), *facets = json_object(), *schema = json_object(), *fields = json_array();
            json_t *cl_facet = json_object(), *cl_fields = json_object();
            json_object_set_new(ds, "namespace", json_string(ns));
            json_object_set_new(ds, "name", json_string(rel));
            for (size_t i = 0; sc && i < sc->nfields; i++) {
                char tb[128];
                json_t *f = json_object();
                json_object_set_new(f, "name", json_string(sc->fields[i].name));
                json_object_set_new(f, "type", json_string(kiln_lake_type_str(sc->fields[i].type, tb, sizeof tb)));
                json_array_append_new(fields, f);
                char *ct = kiln_sprintf("%s.%s", name, sc->fields[i].name);
                json_t *lj = ct ? lineage_json(o, ct) : NULL, *inputs = json_array();
                kiln_free(ct);
                json_t *x;
                size_t k;
                json_array_foreach(json_object_get(lj, "columns"), k, x)
                {
                    const char *col = json_string_value(json_object_get(x, "column"));
                    if (json_integer_value(json_object_get(x, "depth")) != 1 || !col || !strcmp(col, "*"))
                        continue;
                    json_t *in = json_object(), *tr = json_object();
                    json_object_set_new(in, "namespace", json_string(ns));
                    json_object_set(in, "name", json_object_get(x, "relation"));
                    json_object_set_new(in, "field", json_string(col));
                    json_object_set_new(tr, "type", json_string("DIRECT"));
                    json_object_set_new(
                        tr, "subtype",
                        json_string(json_is_true(json_object_get(x, "transformed")) ? "TRANSFORMATION" : "IDENTITY"));
                    json_object_set_new(in, "transformations", json_pack("[o]", tr));
                    json_array_append_new(inputs, in);
                }
                json_decref(lj);
                if (json_array_size(inputs))
                    json_object_set_new(cl_fields, sc->fields[i].name, json_pack("{s:o}", "inputFields", inputs));
                else
                    json_decref(inputs);
            }
            json_object_set_new(schema, "_producer",
                                json_string("https://github.com/kiln-data/kiln/tree/v" KILN_VERSION));
            json_object_set_new(schema, "_schemaURL",
                                json_string("https://openlineage.io/spec/facets/1-2-0/SchemaDatasetFacet.json#/$defs/"
                                            "SchemaDatasetFacet"));
            json_object_set_new(schema, "fields", fields);
            json_object_set_new(cl_facet, "_producer",
                                json_string("https://github.com/kiln-data/kiln/tree/v" KILN_VERSION));
            json_object_set_new(cl_facet, "_schemaURL",
                                json_string("https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/"
                                            "$defs/ColumnLineageDatasetFacet"));
            json_object_set_new(cl_facet, "fields", cl_fields);
            json_object_set_new(facets, "schema", schema);
            json_object_set_new(facets, "columnLineage", cl_facet);
            json_object_set_new(ds, "facets", facets);
            char *txt = json_dumps(ds, JSON_COMPACT);
            if (txt) {
                if (!first)
                    kiln_buf_putc(&out, ',', &err);
                kiln_buf_append(&out, txt, strlen(txt), &err);
                first = 0;
                free(txt);
            }
            json_decref(ds);
        }
        kiln_lake_table_free(t);
        json_decref(rows);
        json_decref(node);
        kiln_free(target);
    }
    kiln_free(ns);
    if (out.len) {
        FILE *f = fopen(path, "w");
        if (f) {
            fwrite(out.data, 1, out.len, f);
            fclose(f);
        }
    }
done:
    kiln_buf_free(&out);
    kiln_lake_catalog_free(cat);
    kiln_project_free(p);
    free(buf);
}

/* ---- models.build's materializations: each seed, model and snapshot table
 * the build wrote (target/run_results.json: relation_name, status success),
 * with the snapshot id it left at the build's branch (main without one),
 * as KILN_RESULT_FILE lines for the runner's asset_materialization records
 * (the same records job.gh_events writes: `kiln runs --explain`, sensors and
 * consumes see the model tables). The partition is the build's days: vars
 * start_day..end_day when the task passes them, else the data interval. */
static void models_results_out(const kiln_flow__libcall *c, const kiln_models_opts *o)
{
    const char *rf = getenv("KILN_RESULT_FILE");
    if (!rf || !*rf)
        return;
    kiln_err err = {0};
    kiln_project *p = NULL;
    kiln_lake_catalog *cat = NULL;
    char *path = kiln_sprintf("%s/target/run_results.json", o->project_dir);
    json_t *rr = path ? json_load_file(path, 0, NULL) : NULL;
    FILE *f = NULL;
    char a[32], b[32];
    kiln_flow__days(c->istart, c->iend, a, b);
    const char *sd = NULL, *ed = NULL;
    for (size_t i = 0; i < c->keys.len; i++) {
        if (!strcmp(c->keys.items[i], "vars.start_day") && *c->vals.items[i])
            sd = c->vals.items[i];
        if (!strcmp(c->keys.items[i], "vars.end_day") && *c->vals.items[i])
            ed = c->vals.items[i];
    }
    const char *first = sd ? sd : a, *last = ed ? ed : sd ? sd : b;
    if (!rr || kiln_project_load(&p, o, &err) ||
        kiln_lake_catalog_open(&cat, kiln_project_warehouse(p), KILN_LAKE_CATALOG_SQLITE, &err) ||
        !(f = fopen(rf, "a")))
        goto done;
    json_t *x;
    size_t i;
    json_array_foreach(json_object_get(rr, "results"), i, x)
    {
        const char *rel = json_string_value(json_object_get(x, "relation_name")),
                   *st = json_string_value(json_object_get(x, "status"));
        if (!rel || !st || strcmp(st, "success"))
            continue;
        /* schema.ident, or schema."ident@BRANCH" of a build on a branch */
        char name[600];
        const char *q = strstr(rel, ".\"");
        if (q) {
            const char *at = strchr(q + 2, '@');
            size_t il = at ? (size_t)(at - q - 2) : strcspn(q + 2, "\"");
            snprintf(name, sizeof name, "%.*s.%.*s", (int)(q - rel), rel, (int)il, q + 2);
        } else
            snprintf(name, sizeof name, "%s", rel);
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (kiln_lake_table_load(&t, cat, name, &e))
            continue; /* not an Iceberg table (an ephemeral model, a SQLite view) */
        const kiln_lake_ref *r = kiln_lake_meta_ref(kiln_lake_table_meta(t), o->branch ? o->branch : "main");
        /* rows: the table's rows at that snapshot (Iceberg's total-records) */
        const kiln_lake_snapshot *sn = r ? kiln_lake_meta_snapshot(kiln_lake_table_meta(t), r->snapshot_id) : NULL;
        const char *tr = sn ? kiln_lake_snapshot_summary(sn, "total-records") : NULL;
        fprintf(f, "%s\t%lld\t%s..%s\t%lld\n", name, (long long)(r ? r->snapshot_id : -1), first, last,
                tr ? atoll(tr) : 0LL);
        kiln_lake_table_free(t);
    }
done:
    if (f)
        fclose(f);
    json_decref(rr);
    kiln_free(path);
    kiln_lake_catalog_free(cat);
    kiln_project_free(p);
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
    o.branch = opt(c, "branch");
    if (o.branch)
        printf("models.build: on Iceberg branch %s (tables it writes, and tables that have the branch, are read "
               "there)\n",
               o.branch);
    if (opt(c, "threads"))
        o.threads = atoi(opt(c, "threads"));
    /* vars: the task's vars map as the JSON mapping --vars takes */
    kiln_buf vars;
    kiln_buf_init(&vars, 0);
    int rc = models_vars(c, &vars, &err);
    if (rc) {
        kiln_buf_free(&vars);
        return fail("models.build", &err);
    }
    o.vars = vars.len ? vars.data : NULL;
    int failed = 0;
    rc = kiln_models_run("build", &o, stdout, &failed, &err);
    const char *lf = getenv("KILN_LINEAGE_FILE");
    if (rc >= 0 && !failed && lf && *lf)
        models_lineage_out(&o, lf);
    if (rc >= 0 && !failed)
        models_results_out(c, &o);
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

/* ---- table.fast_forward / table.expire: the lake's calls (as `kiln table
 * fast-forward` / `kiln table expire`), no program started */

static int open_table(const kiln_flow__libcall *c, const char *what, kiln_lake_catalog **cat, kiln_lake_table **t)
{
    kiln_err err = {0};
    const char *wh = opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse";
    char *db = kiln_sprintf("%s/catalog.db", wh);
    struct stat st;
    int have = db && stat(db, &st) == 0;
    kiln_free(db);
    if (!have) {
        fprintf(stderr, "kiln: error %s: warehouse not found: %s\n", what, wh);
        return 4;
    }
    if (kiln_lake_catalog_open(cat, wh, KILN_LAKE_CATALOG_SQLITE, &err) != 0 ||
        kiln_lake_table_load(t, *cat, opt(c, "table"), &err) != 0)
        return fail(what, &err);
    return 0;
}

/* A materialization record for the runner (KILN_RESULT_FILE). */
static void result_line(const char *table, int64_t snapshot_id)
{
    const char *rf = getenv("KILN_RESULT_FILE");
    FILE *f = rf && *rf ? fopen(rf, "w") : NULL;
    if (f) {
        fprintf(f, "%s\t%lld\t\t0\n", table, (long long)snapshot_id);
        fclose(f);
    }
}

static int run_table_fast_forward(const kiln_flow__libcall *c)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    const char *to = opt(c, "to") ? opt(c, "to") : "main", *from = opt(c, "from");
    int ec = open_table(c, "table.fast_forward", &cat, &t);
    if (!ec) {
        const kiln_lake_ref *fr = kiln_lake_meta_ref(kiln_lake_table_meta(t), from);
        const kiln_lake_ref *tr = kiln_lake_meta_ref(kiln_lake_table_meta(t), to);
        if (fr && tr && fr->snapshot_id == tr->snapshot_id) {
            printf("table.fast_forward: %s: %s is already at %s's head %lld; nothing to do\n", opt(c, "table"), to,
                   from, (long long)fr->snapshot_id);
        } else if (kiln_lake_fast_forward(t, to, from, &err) != 0) {
            ec = fail("table.fast_forward", &err);
        } else {
            int64_t id = kiln_lake_meta_ref(kiln_lake_table_meta(t), to)->snapshot_id;
            printf("table.fast_forward: %s: %s is now at %lld (%s's head)\n", opt(c, "table"), to, (long long)id, from);
            result_line(opt(c, "table"), id);
        }
    }
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return ec;
}

static int run_table_expire(const kiln_flow__libcall *c)
{
    kiln_lake_catalog *cat = NULL;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    kiln_lake_expire_opts o = {.older_than_ms = -1, .dry_run = opt_true(c, "dry_run")};
    if (opt(c, "older_than")) {
        int64_t age = 0;
        if (kiln_flow_parse_duration(opt(c, "older_than"), &age) != 0) {
            fprintf(stderr, "kiln: error table.expire: older_than: '%s' is not a duration (7d, 12h, 30m)\n",
                    opt(c, "older_than"));
            return 2;
        }
        o.older_than_ms = kiln_now_micros() / 1000 - age;
    }
    if (opt(c, "retain_last")) {
        char *end = NULL;
        long v = strtol(opt(c, "retain_last"), &end, 10);
        if (!end || *end || v < 1 || v > 1000000) {
            fprintf(stderr, "kiln: error table.expire: retain_last: '%s' is not a whole number >= 1\n",
                    opt(c, "retain_last"));
            return 2;
        }
        o.retain_last = (int)v;
    }
    size_t nfiles = 0;
    o.on_expired = kiln_lake_expire_delete_unreachable; /* as `kiln table expire`: unreachable files go */
    o.ctx = &nfiles;
    int64_t *ids = NULL;
    size_t n = 0;
    int ec = open_table(c, "table.expire", &cat, &t);
    if (!ec && kiln_lake_expire(t, &o, &ids, &n, &err) != 0)
        ec = fail("table.expire", &err);
    else if (!ec) {
        for (size_t i = 0; i < n; i++)
            printf("%s %lld\n", o.dry_run ? "would expire" : "expired", (long long)ids[i]);
        printf("table.expire: %s: %zu snapshot(s) %s; %zu file(s) %s; %zu snapshot(s) remain\n", opt(c, "table"), n,
               o.dry_run ? "would be expired (dry run)" : "expired", nfiles, o.dry_run ? "would be deleted" : "deleted",
               kiln_lake_table_meta(t)->nsnapshots);
    }
    kiln_free(ids);
    kiln_lake_table_free(t);
    kiln_lake_catalog_free(cat);
    return ec;
}

/* ---- table.publish: the gate at the end of a run that writes on a branch
 * (a backfill's --branch). It runs only when every task it needs succeeded
 * (the model tests included) and checks that main of every table on the
 * branch can move to the branch's head (main is absent or an ancestor);
 * the backfill then fast-forwards main of all of them in one multi-table
 * commit once every run's publish has succeeded (docs/flow.md "The
 * flagship DAG"). A run on main has nothing to publish. */

static int run_table_publish(const kiln_flow__libcall *c)
{
    const char *b = opt(c, "branch") && *opt(c, "branch") ? opt(c, "branch") : getenv("KILN_BRANCH");
    const char *wh = opt(c, "warehouse") ? opt(c, "warehouse") : "warehouse";
    if (!b || !*b || !strcmp(b, "main")) {
        printf("table.publish: this run wrote main directly: nothing to publish (run it in a backfill with --branch "
               "to publish only what passed)\n");
        return 0;
    }
    kiln_err err = {0};
    char *db = kiln_sprintf("%s/catalog.db", wh);
    struct stat st;
    int have = db && stat(db, &st) == 0;
    kiln_free(db);
    if (!have) {
        fprintf(stderr, "kiln: error table.publish: warehouse not found: %s\n", wh);
        return 4;
    }
    kiln_lake_catalog *cat = NULL;
    kiln_flow_strv names = {0};
    int ec = 0, ready = 0;
    if (kiln_lake_catalog_open(&cat, wh, KILN_LAKE_CATALOG_SQLITE, &err) ||
        kiln_lake_table_list(cat, NULL, kiln_flow__collect_name, &names, &err))
        ec = fail("table.publish", &err);
    for (size_t i = 0; !ec && i < names.len; i++) {
        kiln_lake_table *t = NULL;
        if (kiln_lake_table_load(&t, cat, names.items[i], &err)) {
            ec = fail("table.publish", &err);
            break;
        }
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        const kiln_lake_ref *mr = kiln_lake_meta_ref(m, "main"), *br = kiln_lake_meta_ref(m, b);
        if (br && mr && !kiln_lake_meta_is_ancestor(m, br->snapshot_id, mr->snapshot_id)) {
            fprintf(stderr,
                    "kiln: error table.publish: main of %s moved (to %lld) since branch '%s' was cut: main cannot "
                    "fast-forward to it\n",
                    names.items[i], (long long)mr->snapshot_id, b);
            ec = 1;
        } else if (br) {
            printf("table.publish: %s: main %lld -> %s %lld\n", names.items[i], (long long)(mr ? mr->snapshot_id : -1),
                   b, (long long)br->snapshot_id);
            ready++;
        }
        kiln_lake_table_free(t);
    }
    if (!ec)
        printf("table.publish: %d table(s) on branch '%s' can be published; main of all of them is fast-forwarded in "
               "one commit when every run of the backfill has passed\n",
               ready, b);
    kiln_flow__strv_free(&names);
    kiln_lake_catalog_free(cat);
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
    if (!strcmp(c->type, "table.publish"))
        printf("kiln: table.publish (in-process)\n");
    else if (kiln_flow__lib_argv(c, &argv, &err) == 0) {
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
    if (!strcmp(c->type, "ingest.gharchive"))
        return run_ingest_gharchive(c);
    if (!strcmp(c->type, "ingest.github_api"))
        return run_ingest_github_api(c);
    if (!strcmp(c->type, "table.fast_forward"))
        return run_table_fast_forward(c);
    if (!strcmp(c->type, "table.expire"))
        return run_table_expire(c);
    if (!strcmp(c->type, "table.publish"))
        return run_table_publish(c);
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
