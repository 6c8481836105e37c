/*
 * serve_models.c - GET /api/v1/models: the model project's graph as the
 * models layer last wrote it (dbt's artifacts DIR/target/manifest.json and
 * run_results.json, from `kiln compile`/`run`/`build`), for the UI's
 * models pages: every model, seed, snapshot and source with its relation,
 * materialization, columns, upstream nodes, last run status, attached
 * tests and their status, and the DAG tasks that produce its relation.
 *
 * DESIGN
 * The artifacts are dbt's documented JSON, so reading them is the models
 * layer's public interface on disk (as dbt docs reads them); nothing is
 * compiled or run by a request. Tests become a list on the node they are
 * attached to, not graph nodes. "built_by": tasks of the --project-dir
 * DAGs whose `produces` names the node's relation ("ns.table" or
 * "iceberg://WAREHOUSE/ns.table").
 */
#include "flow/flow.h"
#include "models/models.h"
#include "serve/serve_int.h"

#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define ARTIFACT_CAP ((size_t)256 << 20)

/* one at a time: the models layer is not documented as thread-safe */
static pthread_mutex_t models_lock = PTHREAD_MUTEX_INITIALIZER;

static int put_s(kiln_buf *b, const char *k, const char *v, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, ",\"%s\":", k);
    return rc ? rc : v ? kiln_json_write_str(b, v, strlen(v), err) : kiln_buf_printf(b, err, "null");
}

static const char *js(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* The relation a produced asset names, or NULL. */
static const char *asset_relation(const char *a)
{
    if (strncmp(a, "iceberg://", 10) == 0) {
        const char *s = strrchr(a + 10, '/');
        return s ? s + 1 : NULL;
    }
    return a;
}

static int built_by(kiln_buf *b, const kiln_flow_project *p, const char *rel, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, ",\"built_by\":["), n = 0;
    for (size_t i = 0; p && rel && !rc && i < p->ndags; i++)
        for (size_t k = 0; !rc && k < p->dags[i]->ntasks; k++) {
            const kiln_flow_task *t = &p->dags[i]->tasks[k];
            int hit = 0;
            for (size_t a = 0; a < t->produces.len && !hit; a++) {
                const char *r = asset_relation(t->produces.items[a]);
                hit = r && strcmp(r, rel) == 0;
            }
            if (!hit)
                continue;
            rc = kiln_buf_printf(b, err, "%s{\"dag_id\":", n++ ? "," : "");
            if (!rc)
                rc = kiln_json_write_str(b, p->dags[i]->id, strlen(p->dags[i]->id), err);
            if (!rc)
                rc = put_s(b, "task_id", t->id, err);
            if (!rc)
                rc = kiln_buf_putc(b, '}', err);
        }
    return rc ? rc : kiln_buf_putc(b, ']', err);
}

static json_t *load(const char *dir, const char *name, int required, kiln_serve_resp *rs)
{
    char *path = kiln_sprintf("%s/target/%s", dir, name);
    struct stat st;
    json_t *j = NULL;
    if (!path) {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
    } else if (stat(path, &st) != 0) {
        if (required)
            kiln_serve__error(rs, 404, "NoSuchArtifactException",
                              "%s not found: run kiln compile, run or build in the models project first", path);
    } else if ((size_t)st.st_size > ARTIFACT_CAP) {
        kiln_serve__error(rs, 500, "ServerErrorException", "%s is larger than %zu MiB", path, ARTIFACT_CAP >> 20);
    } else {
        json_error_t je;
        if (!(j = json_load_file(path, 0, &je)) || !json_is_object(j)) {
            kiln_serve__error(rs, 500, "ServerErrorException", "%s: not a JSON object (%s)", path, je.text);
            json_decref(j);
            j = NULL;
        }
    }
    kiln_free(path);
    return j;
}

/* One graph node (model, seed, snapshot, source). */
static int node_out(kiln_buf *b, const char *id, json_t *n, json_t *status, json_t *tests, const kiln_flow_project *p,
                    kiln_err *err)
{
    const char *rt = js(n, "resource_type");
    int rc = kiln_buf_printf(b, err, "{\"unique_id\":");
    if (!rc)
        rc = kiln_json_write_str(b, id, strlen(id), err);
    if (!rc)
        rc = put_s(b, "resource_type", rt, err);
    if (!rc)
        rc = put_s(b, "name", js(n, "name"), err);
    if (!rc)
        rc = put_s(b, "relation_name", js(n, "relation_name"), err);
    if (!rc)
        rc = put_s(b, "materialized", js(json_object_get(n, "config"), "materialized"), err);
    if (!rc)
        rc = put_s(b, "path", js(n, "original_file_path"), err);
    if (!rc)
        rc = put_s(b, "description", js(n, "description"), err);
    if (!rc)
        rc = put_s(b, "raw_code", js(n, "raw_code"), err);
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"columns\":[");
    const char *k;
    json_t *v;
    int c = 0;
    json_object_foreach(json_object_get(n, "columns"), k, v)
    {
        if (rc)
            break;
        if (!(rc = kiln_buf_printf(b, err, "%s{\"name\":", c++ ? "," : "")))
            rc = kiln_json_write_str(b, k, strlen(k), err);
        if (!rc)
            rc = put_s(b, "description", js(v, "description"), err);
        if (!rc)
            rc = kiln_buf_putc(b, '}', err);
    }
    if (!rc)
        rc = kiln_buf_printf(b, err, "],\"depends_on\":[");
    size_t i;
    int d = 0;
    json_array_foreach(json_object_get(json_object_get(n, "depends_on"), "nodes"), i, v)
    {
        const char *up = json_string_value(v);
        if (rc || !up || strncmp(up, "test.", 5) == 0)
            continue;
        if (!(rc = d++ ? kiln_buf_putc(b, ',', err) : 0))
            rc = kiln_json_write_str(b, up, strlen(up), err);
    }
    json_t *st = json_object_get(status, id);
    if (!rc)
        rc = kiln_buf_printf(b, err, "]");
    if (!rc)
        rc = put_s(b, "status", js(st, "status"), err);
    if (!rc && json_is_number(json_object_get(st, "execution_time")))
        rc = kiln_buf_printf(b, err, ",\"execution_time\":%.6f",
                             json_number_value(json_object_get(st, "execution_time")));
    if (!rc)
        rc = kiln_buf_printf(b, err, ",\"tests\":[");
    int t = 0;
    json_array_foreach(json_object_get(tests, id), i, v)
    {
        const char *tid = js(v, "unique_id");
        if (rc || !tid)
            continue;
        if (!(rc = kiln_buf_printf(b, err, "%s{\"unique_id\":", t++ ? "," : "")))
            rc = kiln_json_write_str(b, tid, strlen(tid), err);
        if (!rc)
            rc = put_s(b, "name", js(v, "name"), err);
        if (!rc)
            rc = put_s(b, "column_name", js(v, "column_name"), err);
        if (!rc)
            rc = put_s(b, "status", js(json_object_get(status, tid), "status"), err);
        if (!rc)
            rc = kiln_buf_putc(b, '}', err);
    }
    if (!rc)
        rc = kiln_buf_putc(b, ']', err);
    if (!rc)
        rc = built_by(b, p, js(n, "relation_name"), err);
    return rc ? rc : kiln_buf_putc(b, '}', err);
}

int kiln_serve__api_models(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    kiln_err err = {0};
    if (!rq->srv->models_dir)
        return kiln_serve__error(rs, 503, "ServiceUnavailableException",
                                 "no models project: start kiln serve with --models-dir");
    json_t *man = load(rq->srv->models_dir, "manifest.json", 1, rs), *res = NULL;
    json_t *status = json_object(), *tests = json_object();
    kiln_flow_project *p = NULL;
    if (!man)
        goto out;
    if ((res = load(rq->srv->models_dir, "run_results.json", 0, rs)) == NULL && rs->status >= 400)
        goto out;
    /* status by unique_id; tests by the node they are attached to */
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res, "results"), i, v) if (js(v, "unique_id"))
        json_object_set(status, js(v, "unique_id"), v);
    const char *k;
    json_object_foreach(json_object_get(man, "nodes"), k, v)
    {
        if (strcmp(js(v, "resource_type") ? js(v, "resource_type") : "", "test") != 0)
            continue;
        const char *on = js(v, "attached_node");
        if (!on) /* a singular test: every node it depends on */
            continue;
        json_t *arr = json_object_get(tests, on);
        if (!arr) {
            arr = json_array();
            json_object_set_new(tests, on, arr);
        }
        json_t *t = json_deep_copy(v);
        json_object_set_new(t, "unique_id", json_string(k));
        json_array_append_new(arr, t);
    }
    if (rq->srv->project_dir && kiln_flow_project_load(&p, rq->srv->project_dir, &err)) {
        kiln_warn("models: DAG project not loaded (built_by left empty): %s", err.msg);
        p = NULL;
        err = (kiln_err){0};
    }
    kiln_buf *b = &rs->body;
    json_t *meta = json_object_get(man, "metadata");
    int rc = kiln_buf_printf(b, &err, "{\"project\":");
    if (!rc)
        rc = js(meta, "project_name")
                 ? kiln_json_write_str(b, js(meta, "project_name"), strlen(js(meta, "project_name")), &err)
                 : kiln_buf_printf(b, &err, "null");
    if (!rc)
        rc = put_s(b, "generated_at", js(meta, "generated_at"), &err);
    if (!rc)
        rc = put_s(b, "run_generated_at", js(json_object_get(res, "metadata"), "generated_at"), &err);
    if (!rc)
        rc = kiln_buf_printf(b, &err, ",\"nodes\":[");
    int n = 0;
    const char *sections[] = {"nodes", "sources"};
    for (int s = 0; s < 2 && !rc; s++)
        json_object_foreach(json_object_get(man, sections[s]), k, v)
        {
            const char *rt = js(v, "resource_type");
            if (rc || !rt ||
                !(strcmp(rt, "model") == 0 || strcmp(rt, "seed") == 0 || strcmp(rt, "snapshot") == 0 ||
                  strcmp(rt, "source") == 0))
                continue;
            if (!(rc = n++ ? kiln_buf_putc(b, ',', &err) : 0))
                rc = node_out(b, k, v, status, tests, p, &err);
        }
    if (!rc)
        rc = kiln_buf_printf(b, &err, "]}");
    if (rc)
        kiln_serve__error_kiln(rs, &err, "NotFoundException");
    else
        rs->status = 200;
out:
    kiln_flow_project_free(p);
    json_decref(man);
    json_decref(res);
    json_decref(status);
    json_decref(tests);
    return 0;
}

/* GET /api/v1/models/lineage?column=MODEL.COLUMN[&downstream=true]: the
 * column-level lineage of the models layer (`kiln lineage --json`),
 * computed from the project's compiled SQL on each request. */
int kiln_serve__api_models_lineage(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    if (!rq->srv->models_dir)
        return kiln_serve__error(rs, 503, "ServiceUnavailableException", "no models project (--models-dir)");
    const char *col = kiln_serve__query(rq, "column"), *down = kiln_serve__query(rq, "downstream");
    if (!col || !*col || strlen(col) > 400)
        return kiln_serve__error(rs, 400, "BadRequestException", "column=MODEL.COLUMN is required");
    for (const char *p = col; *p; p++)
        if ((unsigned char)*p < 0x20)
            return kiln_serve__error(rs, 400, "BadRequestException", "column has a control character");
    if (down && strcmp(down, "true") && strcmp(down, "false"))
        return kiln_serve__error(rs, 400, "BadRequestException", "downstream must be true or false");
    kiln_models_opts o = {.project_dir = rq->srv->models_dir, .warehouse = rq->srv->warehouse};
    kiln_err err = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
    pthread_mutex_lock(&models_lock);
    int rc = kiln_models_lineage(&o, col, down && !strcmp(down, "true"), 1, f, &err);
    pthread_mutex_unlock(&models_lock);
    fclose(f);
    if (rc) {
        if (rc == KILN_ENOTFOUND)
            kiln_serve__error(rs, 404, "NoSuchColumnException", "%s", err.msg);
        else
            kiln_serve__error_kiln(rs, &err, "NoSuchColumnException");
    } else if (kiln_buf_append(&rs->body, text ? text : "", len, &err) == 0) {
        rs->status = 200;
    } else {
        kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
    }
    free(text);
    return 0;
}

/* 'sha256-BASE64' of s[0..n) appended to the policy being built. */
static int csp_hash(char *csp, size_t cap, const char *s, size_t n)
{
    uint8_t d[32];
    unsigned char b64[64];
    kiln_sha256 h;
    kiln_sha256_init(&h);
    kiln_sha256_update(&h, s, n);
    kiln_sha256_final(&h, d);
    EVP_EncodeBlock(b64, d, 32);
    size_t used = strlen(csp);
    int w = snprintf(csp + used, cap - used, " 'sha256-%s'", (const char *)b64);
    return w < 0 || (size_t)w >= cap - used ? -1 : 0;
}

/* Hashes of the bodies of every <TAG ...>...</TAG> in html (script: only
 * executable ones, not type="application/json" data blocks). */
static int csp_hashes(char *csp, size_t cap, const char *html, const char *tag)
{
    char open[16], close[16];
    snprintf(open, sizeof open, "<%s", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    for (const char *p = strstr(html, open); p; p = strstr(p, open)) {
        const char *gt = strchr(p, '>'), *end = gt ? strstr(gt, close) : NULL;
        if (!gt || !end)
            return -1;
        char attrs[256];
        snprintf(attrs, sizeof attrs, "%.*s", (int)(gt - p), p);
        if (!strstr(attrs, "application/json") && csp_hash(csp, cap, gt + 1, (size_t)(end - gt - 1)))
            return -1;
        p = end;
    }
    return 0;
}

/* Is a project source file (.sql .yml .yaml .md .csv .jinja, outside
 * target/, logs/, dbt_packages/, hidden directories and warehouses), or
 * one of those directories (a file added or removed), newer than t? */
static int sources_newer(const char *dir, const struct timespec *t, int depth, int *budget)
{
    DIR *d = depth < 8 ? opendir(dir) : NULL;
    struct dirent *e;
    int newer = 0;
    if (!d)
        return 0;
    while (!newer && (e = readdir(d)) != NULL && --*budget > 0) {
        const char *n = e->d_name, *dot = strrchr(n, '.');
        if (n[0] == '.' || (depth == 0 && (!strcmp(n, "target") || !strcmp(n, "logs") || !strcmp(n, "dbt_packages"))))
            continue;
        char *p = kiln_sprintf("%s/%s", dir, n);
        struct stat st;
        if (p && lstat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode)) { /* a file added or removed changes its directory's time */
                char *db = kiln_sprintf("%s/catalog.db", p);
                struct stat dst;
                int warehouse = !db || stat(db, &dst) == 0; /* its data, not the project's sources */
                kiln_free(db);
                if (!warehouse)
                    newer = st.st_mtim.tv_sec > t->tv_sec ||
                            (st.st_mtim.tv_sec == t->tv_sec && st.st_mtim.tv_nsec > t->tv_nsec) ||
                            sources_newer(p, t, depth + 1, budget);
            } else if (S_ISREG(st.st_mode) && dot &&
                       (!strcmp(dot, ".sql") || !strcmp(dot, ".yml") || !strcmp(dot, ".yaml") || !strcmp(dot, ".md") ||
                        !strcmp(dot, ".csv") || !strcmp(dot, ".jinja")))
                newer = st.st_mtim.tv_sec > t->tv_sec ||
                        (st.st_mtim.tv_sec == t->tv_sec && st.st_mtim.tv_nsec > t->tv_nsec);
        }
        kiln_free(p);
    }
    closedir(d);
    return newer;
}

/* Regenerate target/index.html (kiln docs generate) when it is missing or
 * a project source changed since it was written. 0, or the error of the
 * generation (the project does not compile). */
static int docs_refresh(kiln_serve_req *rq, const char *path, kiln_err *err)
{
    struct stat st;
    int budget = 20000, rc = 0;
    if (stat(path, &st) == 0 && !sources_newer(rq->srv->models_dir, &st.st_mtim, 0, &budget))
        return 0;
    pthread_mutex_lock(&models_lock);
    budget = 20000;
    if (stat(path, &st) != 0 || sources_newer(rq->srv->models_dir, &st.st_mtim, 0, &budget)) {
        kiln_models_opts o = {.project_dir = rq->srv->models_dir, .warehouse = rq->srv->warehouse};
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        rc = f ? kiln_models_docs_generate(&o, f, err) : KILN_OOM(err);
        if (f)
            fclose(f);
        free(text);
        if (rc == 0)
            kiln_info("docs site regenerated: the models project changed since %s was written", path);
    }
    pthread_mutex_unlock(&models_lock);
    return rc;
}

/* GET /docs: the models project's documentation site, MODELS_DIR/target/
 * index.html (one file, its script, style and data inline, no network at
 * view time), regenerated first (kiln docs generate) when a project source
 * changed since it was written. When that fails (the project does not
 * compile) the last site is served and the error logged; with no site at
 * all the error is the answer. Its own CSP allows exactly its inline
 * blocks (by hash) and nothing from anywhere. */
int kiln_serve__docs_page(kiln_serve_req *rq, kiln_serve_resp *rs)
{
    if (!rq->srv->models_dir)
        return kiln_serve__error(rs, 503, "ServiceUnavailableException", "no models project (--models-dir)");
    kiln_err err = {0};
    char *path = kiln_sprintf("%s/target/index.html", rq->srv->models_dir), *text = NULL;
    size_t len = 0;
    struct stat st;
    if (!path)
        return kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
    if (docs_refresh(rq, path, &err) != 0) {
        if (stat(path, &st) != 0) {
            kiln_free(path);
            return kiln_serve__error_kiln(rs, &err, "NoSuchArtifactException");
        }
        kiln_warn("docs site not regenerated (the last one is served): %s", err.msg);
        err = (kiln_err){0};
    }
    if (stat(path, &st) != 0) {
        kiln_free(path);
        return kiln_serve__error(rs, 404, "NoSuchArtifactException",
                                 "no docs site yet: run kiln docs generate in the models project");
    }
    int rc = kiln_file_read(path, ARTIFACT_CAP, &text, &len, &err);
    kiln_free(path);
    if (rc)
        return kiln_serve__error_kiln(rs, &err, "NoSuchArtifactException");
    snprintf(rs->csp, sizeof rs->csp, "default-src 'none'; img-src data:; script-src");
    int bad = csp_hashes(rs->csp, sizeof rs->csp, text, "script");
    if (!bad) {
        size_t u = strlen(rs->csp);
        snprintf(rs->csp + u, sizeof rs->csp - u, "; style-src");
        bad = csp_hashes(rs->csp, sizeof rs->csp, text, "style");
    }
    if (!bad) {
        size_t u = strlen(rs->csp);
        bad = snprintf(rs->csp + u, sizeof rs->csp - u,
                       "; frame-ancestors 'none'; base-uri 'none'; form-action 'none'") >= (int)(sizeof rs->csp - u);
    }
    if (bad) {
        kiln_free(text);
        rs->csp[0] = 0;
        return kiln_serve__error(rs, 500, "ServerErrorException", "docs page: unbalanced or too many inline blocks");
    }
    rs->status = 200;
    rs->content_type = "text/html; charset=utf-8";
    rc = kiln_buf_append(&rs->body, text, len, &err);
    kiln_free(text);
    if (rc) {
        rs->csp[0] = 0;
        return kiln_serve__error(rs, 500, "ServerErrorException", "out of memory");
    }
    return 0;
}
