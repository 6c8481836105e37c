/*
 * retry.c - `kiln retry` (dbt's `dbt retry`): run again, with the same
 * command, the nodes the last run did not finish: those that ended in
 * error, fail or skipped in <target-path>/run_results.json. The new run
 * writes run_results.json again, so another retry takes what still failed.
 */
#include "models/project.h"

#include <jansson.h>

int kiln_models_retry(const kiln_models_opts *o, FILE *out, int *failed, kiln_err *err)
{
    *failed = 0;
    kiln_project *p;
    int rc = kiln_project_load(&p, o, err);
    if (rc)
        return rc;
    char *path = kiln_sprintf("%s/%s/run_results.json", p->dir, p->target_path);
    json_error_t je;
    json_t *doc = path ? json_load_file(path, 0, &je) : NULL;
    kiln_buf sel;
    kiln_buf_init(&sel, 0);
    char verb[16] = "build";
    if (!path) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (!doc) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no previous run to retry (%s)", path, je.text);
        goto done;
    }
    const char *which = json_string_value(json_object_get(json_object_get(doc, "args"), "which"));
    if (which && (!strcmp(which, "build") || !strcmp(which, "run") || !strcmp(which, "test") ||
                  !strcmp(which, "seed") || !strcmp(which, "snapshot")))
        snprintf(verb, sizeof verb, "%s", which);
    size_t i, n = 0;
    json_t *r;
    json_array_foreach(json_object_get(doc, "results"), i, r)
    {
        const char *st = json_string_value(json_object_get(r, "status")),
                   *id = json_string_value(json_object_get(r, "unique_id"));
        if (!st || !id ||
            !(!strcmp(st, "error") || !strcmp(st, "fail") || !strcmp(st, "skipped") || !strcmp(st, "runtime error") ||
              !strcmp(st, "partial success")))
            continue;
        long idx = kiln_models__find_id(p, id);
        if (idx < 0) {
            fprintf(out, "warning: %s is no longer in the project: not retried\n", id);
            continue;
        }
        if ((rc = kiln_buf_printf(&sel, err, "%s%s", sel.len ? " " : "", p->nodes.items[idx]->name)))
            goto done;
        n++;
    }
    if (!n) {
        fprintf(out, "Nothing to retry: the last %s (%s) had no error, failure or skip.\n", verb, path);
        goto done;
    }
    fprintf(out, "Retrying %zu node%s of the last %s: %s\n\n", n, n == 1 ? "" : "s", verb, sel.data);
    kiln_models_opts ro = *o;
    ro.select = sel.data;
    ro.exclude = NULL;
    kiln_project_free(p);
    p = NULL;
    rc = kiln_models_run(verb, &ro, out, failed, err);
done:
    json_decref(doc);
    kiln_free(path);
    kiln_buf_free(&sel);
    kiln_project_free(p);
    return rc;
}
