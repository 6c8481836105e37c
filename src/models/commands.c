/*
 * commands.c - the model layer's commands as the CLI calls them (models.h):
 * `ls` and `compile`. Each loads the project, renders every node (which
 * finds each node's parents), builds the graph, selects, then prints or
 * writes.
 */
#include "models/project.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned kinds_from(const char *types, kiln_err *err, int *rc)
{
    *rc = 0;
    if (!types || !*types)
        return ~0u & ~(1u << KM_SOURCE) & ~(1u << KM_ANALYSIS);
    unsigned k = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", types);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        if (!strcmp(t, "model"))
            k |= 1u << KM_MODEL;
        else if (!strcmp(t, "seed"))
            k |= 1u << KM_SEED;
        else if (!strcmp(t, "test"))
            k |= 1u << KM_TEST;
        else if (!strcmp(t, "source"))
            k |= 1u << KM_SOURCE;
        else if (!strcmp(t, "snapshot"))
            k |= 1u << KM_SNAPSHOT;
        else if (!strcmp(t, "all") || !strcmp(t, "default"))
            k |= ~0u;
        else if (!strcmp(t, "unit_test")) /* unit tests are listed apart (kiln_models_ls) */
            k |= 1u << 31;
        else {
            *rc = kiln_err_set(err, KILN_EINVAL, "unknown resource type '%s' (model, seed, test, source, snapshot)", t);
            return 0;
        }
    }
    return k;
}

/* target/compiled/ holds files kiln writes again on every run, as dbt does:
 * a plain write (no temp file + fsync + rename, which made `kiln compile` of
 * 10,000 models spend minutes in fsync), and mkdir -p only when the
 * directory is missing. */
static int same_content(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int same = 0;
    if (!fstat(fd, &st) && st.st_size == (off_t)n) {
        char buf[8192];
        size_t off = 0;
        same = 1;
        while (same && off < n) {
            ssize_t r = read(fd, buf, n - off < sizeof buf ? n - off : sizeof buf);
            if (r <= 0 || memcmp(buf, data + off, (size_t)r))
                same = 0;
            else
                off += (size_t)r;
        }
    }
    close(fd);
    return same;
}

static int write_plain(char *path, const char *data, size_t n, kiln_err *err)
{
    /* an unchanged file is left alone; a changed one is replaced by a new
     * inode (truncating an existing file makes ext4 flush it on close) */
    if (same_content(path, data, n))
        return 0;
    if (unlink(path) && errno != ENOENT)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
        char *slash = strrchr(path, '/');
        *slash = 0;
        int rc = kiln_mkdirs(path, err);
        *slash = '/';
        if (rc)
            return rc;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd))
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

int kiln_models__write_compiled(const kiln_project *p, const km_node *n, kiln_err *err)
{
    char *path = n->kind == KM_TEST && n->test_macro
                     ? kiln_sprintf("%s/%s/compiled/%s/%s/%s.sql", p->dir, p->target_path, p->name, n->path, n->name)
                     : kiln_sprintf("%s/%s/compiled/%s/%s", p->dir, p->target_path, p->name, n->path);
    if (!path)
        return KILN_OOM(err);
    int rc = write_plain(path, n->compiled ? n->compiled : "", n->compiled_len, err);
    kiln_free(path);
    return rc;
}

void kiln_models__print_found(const kiln_project *p, FILE *out)
{
    size_t nmodels = 0, ntests = 0, nseeds = 0, nsources = 0;
    for (size_t i = 0; i < p->nodes.len; i++) {
        km_kind k = p->nodes.items[i]->kind;
        nmodels += k == KM_MODEL;
        ntests += k == KM_TEST;
        nseeds += k == KM_SEED;
        nsources += k == KM_SOURCE;
    }
    fprintf(out, "Found %zu models, %zu seeds, %zu data tests, %zu sources\n", nmodels, nseeds, ntests, nsources);
}

/* Load, render and build the graph. */
static int prepare(kiln_project **out, const kiln_models_opts *o, kiln_err *err)
{
    kiln_project *p;
    int rc = kiln_project_load(&p, o, err);
    if (rc)
        return rc;
    if ((rc = kiln_models__render_all(p, err)) || (rc = kiln_models__graph_build(p, err))) {
        kiln_project_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

static const kiln_project *ls_nodes; /* qsort has no context argument */
static int ls_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return strcmp(ls_nodes->nodes.items[x]->unique_id, ls_nodes->nodes.items[y]->unique_id);
}

int kiln_models_ls(const kiln_models_opts *o, FILE *out, kiln_err *err)
{
    kiln_project *p;
    km_idxvec sel = {0};
    int rc;
    const char *types = o->resource_types;
    unsigned kinds = kinds_from(types, err, &rc);
    if (rc)
        return rc;
    if (!types || !*types)
        kinds |= 1u << KM_SOURCE; /* dbt ls lists sources too */
    const char *fmt = o->output ? o->output : "selector";
    if (strcmp(fmt, "selector") && strcmp(fmt, "name") && strcmp(fmt, "path") && strcmp(fmt, "json"))
        return kiln_err_set(err, KILN_EINVAL, "--output must be selector, name, path or json");
    if ((rc = prepare(&p, o, err)))
        return rc;
    if ((rc = kiln_models__select(p, o->select, o->exclude, kinds, &sel, err)))
        goto done;
    /* dbt ls prints in unique_id order */
    ls_nodes = p;
    kiln_sort(sel.items, sel.len, sizeof *sel.items, ls_cmp);
    for (size_t i = 0; i < sel.len; i++) {
        km_node *n = p->nodes.items[sel.items[i]];
        if (!strcmp(fmt, "name"))
            fprintf(out, "%s\n", n->name);
        else if (!strcmp(fmt, "path"))
            fprintf(out, "%s\n", n->path);
        else if (!strcmp(fmt, "json")) {
            kiln_buf b;
            kiln_buf_init(&b, 0);
            static const char *const kinds_s[] = {"model", "seed", "test", "source", "snapshot", "analysis"};
            kiln_buf_append(&b, "{\"name\": ", 9, err);
            kiln_json_write_str(&b, n->name, strlen(n->name), err);
            kiln_buf_printf(&b, err, ", \"resource_type\": \"%s\", \"unique_id\": ", kinds_s[n->kind]);
            kiln_json_write_str(&b, n->unique_id, strlen(n->unique_id), err);
            kiln_buf_append(&b, ", \"original_file_path\": ", 24, err);
            kiln_json_write_str(&b, n->path, strlen(n->path), err);
            const char *mat = kiln_models__cfg_str(n, "materialized", "");
            kiln_buf_append(&b, ", \"config\": {\"materialized\": ", 29, err);
            kiln_json_write_str(&b, mat, strlen(mat), err);
            kiln_buf_append(&b, "}}", 2, err);
            fprintf(out, "%s\n", b.data ? b.data : "");
            kiln_buf_free(&b);
        } else if (n->kind == KM_SOURCE)
            fprintf(out, "source:%s\n", n->fqn);
        else
            fprintf(out, "%s\n", n->fqn);
    }
    /* unit tests (dbt ls prints `unit_test:<project>.<model>.<name>`) */
    size_t nu = kiln_models__ut_n(p);
    unsigned char *us = nu && (kinds & (1u << 31)) ? kiln_calloc(nu, 1) : NULL;
    if (nu && (kinds & (1u << 31)) && !us)
        rc = KILN_OOM(err);
    if (us && !(rc = kiln_models__select_ut(p, o->select, o->exclude, us, err)))
        for (size_t i = 0; i < nu; i++) {
            const char *name, *uid, *file;
            kj_val cfg;
            kiln_models__ut_info(p, i, &name, &uid, &file, &cfg);
            if (!us[i])
                continue;
            if (!strcmp(fmt, "name"))
                fprintf(out, "%s\n", name);
            else if (!strcmp(fmt, "path"))
                fprintf(out, "%s\n", file);
            else if (!strcmp(fmt, "json")) {
                kiln_buf b;
                kiln_buf_init(&b, 0);
                kiln_buf_append(&b, "{\"name\": ", 9, err);
                kiln_json_write_str(&b, name, strlen(name), err);
                kiln_buf_append(&b, ", \"resource_type\": \"unit_test\", \"unique_id\": ", 45, err);
                kiln_json_write_str(&b, uid, strlen(uid), err);
                kiln_buf_append(&b, ", \"original_file_path\": ", 24, err);
                kiln_json_write_str(&b, file, strlen(file), err);
                kiln_buf_append(&b, "}", 1, err);
                fprintf(out, "%s\n", b.data ? b.data : "");
                kiln_buf_free(&b);
            } else
                fprintf(out, "unit_test:%s\n", uid + 10);
        }
    kiln_free(us);
done:
    kiln_vec_free(&sel);
    kiln_project_free(p);
    return rc;
}

int kiln_models__inlined(const kiln_project *p, const km_node *n)
{
    const char *m = n->kind == KM_MODEL ? kiln_models__cfg_str(n, "materialized", "") : "";
    return !strcmp(m, "ephemeral") || (p->opts.branch && !strcmp(m, "view"));
}

/* Put the CTEs of ephemeral parents in front of n's SQL, as dbt does
 * (after an existing leading WITH, else as a new WITH). */
int kiln_models__inject_ctes(kiln_project *p, km_node *n, kiln_err *err)
{
    kiln_buf ctes;
    kiln_buf_init(&ctes, 0);
    int rc = 0, count = 0;
    for (size_t k = 0; k < n->parents.len && !rc; k++) {
        km_node *par = p->nodes.items[n->parents.items[k]];
        if (!kiln_models__inlined(p, par))
            continue;
        rc = kiln_buf_printf(&ctes, err, "%s__dbt__cte__%s as (\n%s\n)", count++ ? ",  " : "", par->name,
                             par->compiled ? par->compiled : "");
    }
    if (rc || !count) {
        kiln_buf_free(&ctes);
        return rc;
    }
    const char *s = n->compiled ? n->compiled : "";
    const char *q = s;
    for (;;) { /* past blanks and comments: a model may open with "-- ..." lines before its WITH */
        while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
            q++;
        if (q[0] == '-' && q[1] == '-') {
            q += strcspn(q, "\n");
        } else if (q[0] == '/' && q[1] == '*') {
            const char *e = strstr(q + 2, "*/");
            if (!e)
                break;
            q = e + 2;
        } else {
            break;
        }
    }
    kiln_buf out;
    kiln_buf_init(&out, 0);
    if (!strncasecmp(q, "with", 4) && (q[4] == ' ' || q[4] == '\n' || q[4] == '\t' || q[4] == '\r'))
        rc = kiln_buf_printf(&out, err, "%.*swith %s, %s", (int)(q - s), s, ctes.data, q + 5);
    else
        rc = kiln_buf_printf(&out, err, "with %s\n%s", ctes.data, s);
    kiln_buf_free(&ctes);
    if (rc) {
        kiln_buf_free(&out);
        return rc;
    }
    kiln_free(n->compiled);
    n->compiled = kiln_buf_detach(&out, &n->compiled_len);
    return 0;
}

int kiln_models_compile(const kiln_models_opts *o, FILE *out, kiln_err *err)
{
    kiln_project *p;
    km_idxvec all = {0}, sel = {0};
    int rc;
    unsigned kinds = kinds_from(o->resource_types, err, &rc);
    if (rc)
        return rc;
    /* the partial-parse cache (partial_parse.c), else a full parse that writes it */
    int done = 0;
    struct km_pp_scan *scan = NULL;
    void *pps = NULL;
    if ((rc = kiln_models__pp_compile(o, out, &done, &scan, err)) || done)
        return rc;
    if ((rc = kiln_project_load(&p, o, err))) {
        kiln_models__pp_full(NULL, scan, 3, &pps);
        return rc;
    }
    kiln_models__pp_full(p, scan, 0, &pps);
    if ((rc = kiln_models__render_all(p, err)) || (rc = kiln_models__graph_build(p, err))) {
        kiln_models__pp_full(p, scan, 2, &pps);
        kiln_project_free(p);
        return rc;
    }
    /* ephemeral CTEs need every node, in build order */
    if ((rc = kiln_models__select(p, NULL, NULL, ~0u, &all, err)))
        goto done;
    for (size_t i = 0; i < all.len && !rc; i++)
        rc = kiln_models__inject_ctes(p, p->nodes.items[all.items[i]], err);
    if (rc || (rc = kiln_models__select(p, o->select, o->exclude, kinds, &sel, err)))
        goto done;
    kiln_models__print_found(p, out);
    size_t written = 0;
    for (size_t i = 0; i < sel.len && !rc; i++) {
        km_node *n = p->nodes.items[sel.items[i]];
        if (n->kind != KM_MODEL && n->kind != KM_TEST)
            continue;
        rc = kiln_models__write_compiled(p, n, err);
        written++;
    }
    if (!rc)
        rc = kiln_models__write_manifest(p, err);
    if (!rc)
        fprintf(out, "Compiled %zu nodes into %s/compiled/%s/\n", written, p->target_path, p->name);
done:
    kiln_models__pp_full(p, scan, rc ? 2 : 1, &pps);
    kiln_vec_free(&all);
    kiln_vec_free(&sel);
    kiln_project_free(p);
    return rc;
}
