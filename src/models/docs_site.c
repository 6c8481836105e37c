/*
 * docs_site.c - `kiln docs generate`: compile the project, write
 * manifest.json and catalog.json, and the static site
 * <target-path>/index.html: one self-contained page (style and script
 * inline, the project's data embedded as JSON) that lists every model,
 * seed, snapshot, source and test with columns, types, descriptions,
 * tests and compiled SQL, the project's __overview__ docs block, search,
 * and a lineage graph to click through. It opens from file:// and makes
 * no network request.
 *
 * Descriptions in the page are rendered as dbt renders them (doc() and the
 * rest of the node's Jinja context); the manifest.json written beside it
 * keeps them as written (see docs/models.md).
 */
#include "models/docs_site.h"
#include "models/project.h"

#include <stdlib.h>

/* Replace a "description" member of obj with its rendered text. */
static int render_desc(kiln_project *p, size_t idx, json_t *obj, kiln_err *err)
{
    json_t *d = json_object_get(obj, "description");
    if (!json_is_string(d))
        return 0;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kiln_models__render_description(p, idx, json_string_value(d), &b, err);
    if (!rc)
        json_object_set_new(obj, "description", json_stringn(b.data ? b.data : "", b.len));
    kiln_buf_free(&b);
    return rc;
}

/* The manifest with each node's and each column's description rendered. */
static int render_descriptions(kiln_project *p, json_t *manifest, kiln_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < p->nodes.len && !rc; i++) {
        km_node *n = p->nodes.items[i];
        json_t *o =
            json_object_get(json_object_get(manifest, n->kind == KM_SOURCE ? "sources" : "nodes"), n->unique_id);
        if (!o)
            continue;
        if ((rc = render_desc(p, i, o, err)))
            break;
        const char *k;
        json_t *col;
        json_object_foreach(json_object_get(o, "columns"), k, col)
        {
            if ((rc = render_desc(p, i, col, err)))
                break;
        }
    }
    return rc;
}

/* The __overview__ docs block (rendered), or NULL. Caller frees. */
static char *overview(kiln_project *p, kiln_err *err, int *rc)
{
    *rc = 0;
    kj_val *v = p->docs.t == KJ_DICT ? kj_dict_getc(p->docs, "__overview__") : NULL;
    if (!v || v->t != KJ_STR)
        return NULL;
    if (!p->nodes.len) /* no node to lend a context: the text as written */
        return kiln_strdup(v->u.s->p);
    kiln_buf b;
    kiln_buf_init(&b, 0);
    if ((*rc = kiln_models__render_description(p, 0, v->u.s->p, &b, err))) {
        kiln_buf_free(&b);
        return NULL;
    }
    char *s = kiln_buf_detach(&b, NULL);
    return s ? s : kiln_strdup("");
}

/* index.html: head, the data as JSON with every '<' written \u003c (so
 * nothing in it can end the script element), tail. */
static int write_page(kiln_project *p, json_t *data, kiln_err *err)
{
    char *text = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return KILN_OOM(err);
    kiln_buf b;
    kiln_buf_init(&b, strlen(text) + strlen(kiln_docs_site_head) + strlen(kiln_docs_site_tail) + 256);
    int rc = kiln_buf_append(&b, kiln_docs_site_head, strlen(kiln_docs_site_head), err);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "<script type=\"application/json\" id=\"kiln-data\">");
    for (const char *s = text; !rc && *s;) {
        const char *lt = strchr(s, '<');
        size_t n = lt ? (size_t)(lt - s) : strlen(s);
        rc = kiln_buf_append(&b, s, n, err);
        if (!rc && lt)
            rc = kiln_buf_append(&b, "\\u003c", 6, err);
        s += n + (lt ? 1 : 0);
    }
    free(text);
    if (!rc)
        rc = kiln_buf_printf(&b, err, "</script>\n");
    if (!rc)
        rc = kiln_buf_append(&b, kiln_docs_site_tail, strlen(kiln_docs_site_tail), err);
    char *path = rc ? NULL : kiln_sprintf("%s/%s/index.html", p->dir, p->target_path);
    if (!rc && !path)
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_file_write_atomic(path, b.data, b.len, err);
    kiln_free(path);
    kiln_buf_free(&b);
    return rc;
}

int kiln_models_docs_generate(const kiln_models_opts *o, FILE *out, kiln_err *err)
{
    kiln_project *p = NULL;
    km_idxvec all = {0};
    json_t *manifest = NULL, *catalog = NULL, *data = NULL;
    char *ov = NULL;
    int rc = kiln_project_load(&p, o, err);
    if (rc)
        return rc;
    if ((rc = kiln_models__render_all(p, err)) || (rc = kiln_models__graph_build(p, err)) ||
        (rc = kiln_models__select(p, NULL, NULL, ~0u, &all, err)))
        goto done;
    for (size_t i = 0; i < all.len && !rc; i++)
        rc = kiln_models__inject_ctes(p, p->nodes.items[all.items[i]], err);
    for (size_t i = 0; i < all.len && !rc; i++) { /* dbt docs generate compiles too */
        km_node *n = p->nodes.items[all.items[i]];
        if (n->kind == KM_MODEL || n->kind == KM_TEST)
            rc = kiln_models__write_compiled(p, n, err);
    }
    if (rc || (rc = kiln_models__write_manifest(p, err)) || (rc = kiln_models__write_catalog(p, err)))
        goto done;
    kiln_models__print_found(p, out);
    manifest = kiln_models__manifest_json(p);
    catalog = kiln_models__catalog_json(p);
    if (!manifest || !catalog) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = render_descriptions(p, manifest, err)))
        goto done;
    ov = overview(p, err, &rc);
    if (rc)
        goto done;
    data = json_pack("{s:O,s:O,s:o}", "manifest", manifest, "catalog", catalog, "overview",
                     ov ? json_string(ov) : json_null());
    if (!data) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = write_page(p, data, err)))
        goto done;
    size_t nrel =
        json_object_size(json_object_get(catalog, "nodes")) + json_object_size(json_object_get(catalog, "sources"));
    fprintf(out, "Catalog: %zu relations found in the warehouse\n", nrel);
    fprintf(out, "Catalog written to %s/%s/catalog.json\n", p->dir, p->target_path);
    fprintf(out, "Docs site written to %s/%s/index.html\n", p->dir, p->target_path);
done:
    json_decref(data);
    json_decref(manifest);
    json_decref(catalog);
    kiln_free(ov);
    kiln_vec_free(&all);
    kiln_project_free(p);
    return rc;
}
