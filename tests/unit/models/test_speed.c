/*
 * test_speed.c - the loader's and the manifest's two-thread paths :
 * the model files of a folder are read and parsed on two threads (even
 * and odd files), yet the nodes come out in file order and the error
 * reported is the first file's in file order, whichever thread met it; the
 * manifest's nodes are written in two halves on two threads, yet the text
 * is one valid JSON document with every node once, in node order.
 */
#include "harness/harness.h"
#include "models/project.h"

#include <jansson.h>
#include <stdlib.h>

static void put(const char *dir, const char *rel, const char *text) { CHECK(kt_put(dir, rel, text) == 0); }

static const char profile[] = "p:\n  target: dev\n  outputs:\n    dev:\n      type: kiln\n      schema: an\n";

/* N models m0000.. in models/, each (after the first) ref'ing the one
 * before; model `bad` (if >= 0) gets a Jinja syntax error on line 2. */
static void project(const char *d, int n, int bad1, int bad2)
{
    put(d, "dbt_project.yml", "name: p\nprofile: p\n");
    put(d, "profiles.yml", profile);
    char rel[64], body[256];
    for (int i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "models/m%04d.sql", i);
        if (i == bad1 || i == bad2)
            snprintf(body, sizeof body, "select 1 as id\n{%% if %%}x{%% endif %%}\n");
        else if (i == 0)
            snprintf(body, sizeof body, "select 1 as id\n");
        else
            snprintf(body, sizeof body, "{%% set c = ['id'] %%}select {{ c[0] }} from {{ ref('m%04d') }}\n", i - 1);
        put(d, rel, body);
    }
}

TEST(models_speed, threaded_load_keeps_file_order)
{
    const char *d = kt_tmpdir();
    project(d, 301, -1, -1);
    put(d, "models/schema.yml",
        "version: 2\nmodels:\n  - name: m0150\n    columns:\n      - name: id\n"
        "        tests: [not_null]\n");
    kiln_models_opts o = {0};
    o.project_dir = d;
    kiln_project *p;
    kiln_err err = {0};
    CHECK_OK(kiln_project_load(&p, &o, &err), &err);
    CHECK_OK(kiln_models__render_all(p, &err), &err);
    CHECK_OK(kiln_models__graph_build(p, &err), &err);
    size_t models = 0;
    char want[32];
    for (size_t i = 0; i < p->nodes.len; i++) {
        km_node *n = p->nodes.items[i];
        if (n->kind != KM_MODEL)
            continue;
        snprintf(want, sizeof want, "m%04zu", models++);
        CHECK_STR(n->name, want);
    }
    CHECK_EQ_INT(models, 301);
    km_node *m7 = p->nodes.items[kiln_models__find_name(p, "m0007")];
    CHECK_STR(m7->compiled, "select id from an.m0006");
    CHECK_EQ_INT(m7->parents.len, 1);
    CHECK_EQ_INT(m7->parents.items[0], kiln_models__find_name(p, "m0006"));
    /* the manifest: 301 models + 1 test, in node order, one document */
    json_t *doc = kiln_models__manifest_json(p);
    CHECK(doc != NULL);
    json_t *nodes = json_object_get(doc, "nodes");
    CHECK_EQ_INT(json_object_size(nodes), p->nodes.len);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(nodes, k, v)
    {
        while (i < p->nodes.len && p->nodes.items[i]->kind == KM_SOURCE)
            i++;
        CHECK(i < p->nodes.len);
        CHECK_STR(k, p->nodes.items[i]->unique_id);
        CHECK_STR(json_string_value(json_object_get(v, "unique_id")), k);
        i++;
    }
    CHECK_STR(json_string_value(json_object_get(json_object_get(nodes, "model.p.m0300"), "compiled_code")),
              "select id from an.m0299");
    json_decref(doc);
    kiln_project_free(p);
}

TEST(models_speed, threaded_load_reports_first_error_in_file_order)
{
    /* file 3 (the second thread's) before file 4 (the first's), then file
     * 2 (the first's) before file 5 (the second's) */
    static const int cases[][3] = {{3, 4, 3}, {5, 2, 2}};
    for (size_t c = 0; c < 2; c++) {
        const char *d = kt_tmpdir();
        project(d, 12, cases[c][0], cases[c][1]);
        kiln_models_opts o = {0};
        o.project_dir = d;
        kiln_project *p = NULL;
        kiln_err err = {0};
        CHECK(kiln_project_load(&p, &o, &err) == KILN_EFORMAT);
        char want[64];
        snprintf(want, sizeof want, "models/m%04d.sql:2:", cases[c][2]);
        CHECK_MSG(strstr(err.msg, want) != NULL, "want %s in: %s", want, err.msg);
    }
}
