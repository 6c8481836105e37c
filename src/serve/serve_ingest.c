/*
 * serve_ingest.c - the micro-batch side of the webhook stream (`kiln serve
 * --ingest-every S`): every S seconds, the days that received acknowledged
 * deliveries since the last successful run are loaded into github.pushes
 * and github.commits by the same engine job as the GH Archive backfill
 * (kiln_gh_events_run to Parquet, then kiln_gh_iceberg_load MERGE).
 *
 * DESIGN
 * One background thread. A tick copies, for each changed day, the
 * committed prefix of every hour file of that day (the bytes below the
 * delivery log's END offsets, which never change again) into
 * RAW/webhooks/_ingest/in, so the engine never sees a member being
 * appended; runs the job into RAW/webhooks/_ingest/out; and on success
 * records the ends it loaded. Whole days are reloaded: the MERGE on the
 * tables' keys (push_id; repo_id, sha) makes that idempotent, which is also
 * why nothing needs to survive a restart (the first tick after a start
 * reloads every day once). A failed tick is logged, counted and retried at
 * the next one.
 */
#include "engine/gh_events.h"
#include "serve/serve_int.h"

#include <errno.h>
#include <string.h>
#include <time.h>

struct kiln_serve_ingest {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int every_s;
    kiln_server *srv;
    kiln_map *ingested; /* relative hour file -> end offset loaded (uintptr_t) */
};

static int tick(kiln_serve_ingest *ig, kiln_err *err)
{
    kiln_server *s = ig->srv;
    const char *dir = kiln_serve__hooks_dir(s->hooks);
    char *root = kiln_sprintf("%s/_ingest", dir), *in = kiln_sprintf("%s/_ingest/in", dir),
         *out = kiln_sprintf("%s/_ingest/out", dir);
    kiln_map *staged = kiln_map_new();
    kiln_gh_report rep;
    int have_rep = 0, rc = 0;
    size_t nchanged = 0;
    memset(&rep, 0, sizeof rep);
    if (!root || !in || !out || !staged) {
        rc = KILN_OOM(err);
        goto done;
    }
    kiln_err ignore = {0};
    kiln_rmtree(root, &ignore); /* a previous tick's leftovers (crash) */
    if ((rc = kiln_mkdirs(in, err)) ||
        (rc = kiln_serve__hooks_stage(s->hooks, in, ig->ingested, staged, &nchanged, err)) || nchanged == 0)
        goto done;
    kiln_gh_opts o;
    kiln_gh_opts_init(&o);
    o.in_dir = in;
    o.out_dir = out;
    o.format = kiln_gh_format_find("parquet");
    o.threads = 1; /* a background job: leave the cores to the requests */
    if ((rc = kiln_gh_events_run(&o, &rep, err)))
        goto done;
    have_rep = 1;
    kiln_gh_iceberg_opts io = {.warehouse = s->warehouse};
    kiln_gh_iceberg_result res;
    if ((rc = kiln_gh_iceberg_load(&io, out, &rep, &res, err)))
        goto done;
    if (rep.failed) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%zu day(s) failed in the engine job (see the quarantine in %s)",
                          rep.failed, out);
        goto done;
    }
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (!rc && kiln_map_next(staged, &pos, &k, &kl, &v))
        rc = kiln_map_put(ig->ingested, k, kl, v, err);
    if (!rc)
        kiln_info("webhooks: loaded %llu push(es), %llu commit(s) from %zu changed hour file(s) into github.pushes "
                  "and github.commits",
                  (unsigned long long)rep.total.pushes, (unsigned long long)rep.total.commits, nchanged);
done:
    if (have_rep)
        kiln_gh_report_free(&rep);
    if (nchanged || rc)
        kiln_serve__metrics_ingest(s->metrics, rc == 0);
    if (rc == 0 && root)
        kiln_rmtree(root, &ignore);
    kiln_map_free(staged);
    kiln_free(root);
    kiln_free(in);
    kiln_free(out);
    return rc;
}

static void *run(void *arg)
{
    kiln_serve_ingest *ig = arg;
    pthread_mutex_lock(&ig->mu);
    while (!ig->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += ig->every_s;
        while (!ig->stop && pthread_cond_timedwait(&ig->cv, &ig->mu, &until) != ETIMEDOUT)
            ;
        if (ig->stop)
            break;
        pthread_mutex_unlock(&ig->mu);
        kiln_err err = {0};
        if (tick(ig, &err))
            kiln_warn("webhooks: micro-batch failed (retried in %d s): %s", ig->every_s, err.msg);
        pthread_mutex_lock(&ig->mu);
    }
    pthread_mutex_unlock(&ig->mu);
    return NULL;
}

int kiln_serve__ingest_start(kiln_serve_ingest **out, kiln_server *s, int every_s, kiln_err *err)
{
    *out = NULL;
    if (!s->warehouse || !s->hooks)
        return kiln_err_set(err, KILN_ECONFIG, "--ingest-every needs --warehouse and a webhook secret");
    kiln_serve_ingest *ig = kiln_malloc(sizeof *ig);
    if (!ig)
        return KILN_OOM(err);
    memset(ig, 0, sizeof *ig);
    ig->srv = s;
    ig->every_s = every_s;
    pthread_mutex_init(&ig->mu, NULL);
    pthread_cond_init(&ig->cv, NULL);
    if (!(ig->ingested = kiln_map_new()) || pthread_create(&ig->thread, NULL, run, ig) != 0) {
        kiln_map_free(ig->ingested);
        pthread_mutex_destroy(&ig->mu);
        pthread_cond_destroy(&ig->cv);
        kiln_free(ig);
        return kiln_err_set(err, KILN_ENOMEM, "cannot start the micro-batch thread");
    }
    *out = ig;
    return 0;
}

void kiln_serve__ingest_stop(kiln_serve_ingest *ig)
{
    if (!ig)
        return;
    pthread_mutex_lock(&ig->mu);
    ig->stop = 1;
    pthread_cond_signal(&ig->cv);
    pthread_mutex_unlock(&ig->mu);
    pthread_join(ig->thread, NULL); /* a tick in progress finishes first */
    kiln_map_free(ig->ingested);
    pthread_mutex_destroy(&ig->mu);
    pthread_cond_destroy(&ig->cv);
    kiln_free(ig);
}
