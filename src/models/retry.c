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
        if (!strncmp(id, "unit_test.", 10)) /* after the nodes (below) */
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
    /* a unit test that failed, whose model is not retried (kiln test):
     * unit_test:MODEL.NAME (a retried model's unit tests run with it) */
    size_t nu = 0;
    kiln_buf ut;
    kiln_buf_init(&ut, 0);
    json_array_foreach(json_object_get(doc, "results"), i, r)
    {
        const char *st = json_string_value(json_object_get(r, "status")),
                   *id = json_string_value(json_object_get(r, "unique_id"));
        if (!st || !id || strncmp(id, "unit_test.", 10) || !(!strcmp(st, "error") || !strcmp(st, "fail")))
            continue;
        const char *m = strchr(id + 10, '.'); /* unit_test.<project>.<model>.<name> */
        const char *nm = m ? strchr(m + 1, '.') : NULL;
        if (!nm)
            continue;
        char model[256];
        snprintf(model, sizeof model, "%.*s", (int)(nm - m - 1), m + 1);
        int with = 0;
        for (const char *q = sel.data; q && *q && !with;) {
            size_t l = strcspn(q, " ");
            with = l == strlen(model) && !strncmp(q, model, l);
            q += l + (q[l] == ' ');
        }
        if (!with && (rc = kiln_buf_printf(&ut, err, "%sunit_test:%s.%s", ut.len ? " " : "", model, nm + 1))) {
            kiln_buf_free(&ut);
            goto done;
        }
        nu += !with;
    }
    size_t nodes_len = sel.len;
    if (nu) {
        fprintf(out, "Retrying %zu unit test%s of the last %s: %s\n", nu, nu == 1 ? "" : "s", verb, ut.data);
        if ((rc = kiln_buf_printf(&sel, err, "%s%s", sel.len ? " " : "", ut.data))) {
            kiln_buf_free(&ut);
            goto done;
        }
    }
    kiln_buf_free(&ut);
    if (!n && !nu) {
        fprintf(out, "Nothing to retry: the last %s (%s) had no error, failure or skip.\n", verb, path);
        goto done;
    }
    if (n)
        fprintf(out, "Retrying %zu node%s of the last %s: %.*s\n", n, n == 1 ? "" : "s", verb, (int)nodes_len,
                sel.data);
    fputc('\n', out);
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
