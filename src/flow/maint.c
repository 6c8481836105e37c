/*
 * maint.c - table maintenance in the orchestrator (docs/maintenance.md
 * "On a schedule"):
 *
 *   table.maintain   a task type: kiln_lake_maintain on one table or every
 *                    table of a warehouse, in the task's process (the same
 *                    as `kiln table maintain TABLE|--all`), except tables
 *                    with a backfill's branch (below).
 *   automatic        when kiln.yml says `maintenance: {auto: true}`, after
 *                    a task succeeded, every table of the maintenance
 *                    warehouse (and the task's own warehouse:) that got a
 *                    commit on main since the task's try started is given
 *                    kiln_lake_maintain, which runs only what the table's
 *                    thresholds (properties) say is due. A table with a
 *                    branch other than main (a backfill writing to it, or
 *                    one that failed and kept its branch) is left alone:
 *                    a compaction would move main under the backfill,
 *                    whose fast-forward would then fail. Nothing runs for
 *                    a backfill's own runs on a branch.
 */
#include "flow_int.h"

#include "lake/lake.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

typedef KILN_VEC(char *) name_vec;

static int collect(void *ctx, const char *name, const char *loc)
{
    (void)loc;
    name_vec *v = ctx;
    char *d = kiln_strdup(name);
    kiln_err e = {0};
    if (!d || kiln_vec_push(v, d, &e)) {
        kiln_free(d);
        return KILN_ENOMEM;
    }
    return 0;
}

static void names_free(name_vec *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}

static const char *status_name(kiln_lake_maint_status s)
{
    static const char *const n[] = {"not due", "due", "done", "disabled", "failed"};
    return n[s];
}

static void print_result(FILE *out, const char *name, const kiln_lake_maintain_result *r)
{
    fprintf(out,
            "%s: compaction %s (%s); expiry %s (%s); orphans %s (%s); data files %" PRId64 " -> %" PRId64
            ", delete files %" PRId64 " -> %" PRId64 "\n",
            name, status_name(r->compact_status), r->compact_why, status_name(r->expire_status), r->expire_why,
            status_name(r->orphans_status), r->orphans_why, r->before.data_files, r->after.data_files,
            r->before.delete_files, r->after.delete_files);
}

/* A branch other than main (a backfill's), or NULL. */
static const char *other_branch(const kiln_lake_meta *m)
{
    for (size_t r = 0; r < m->nrefs; r++)
        if (m->refs[r].type == KILN_LAKE_BRANCH && strcmp(m->refs[r].name, "main"))
            return m->refs[r].name;
    return NULL;
}

int kiln_flow__maint_task(const char *warehouse, const char *table, int dry_run)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    name_vec names = {0};
    int rc = 0;
    const char *wh = warehouse ? warehouse : "warehouse";
    struct stat sb;
    if (stat(wh, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "kiln: error table.maintain: warehouse not found: %s\n", wh);
        return kiln_exit_code(KILN_ENOTFOUND);
    }
    if (kiln_lake_catalog_open(&cat, wh, KILN_LAKE_CATALOG_SQLITE, &err) != 0) {
        fprintf(stderr, "kiln: error table.maintain: %s\n", err.msg);
        return kiln_exit_code(err.code);
    }
    if (table && *table && strcmp(table, "all")) {
        rc = collect(&names, table, NULL);
    } else {
        rc = kiln_lake_table_list(cat, NULL, collect, &names, &err);
    }
    if (rc) {
        fprintf(stderr, "kiln: error table.maintain: %s\n", err.msg[0] ? err.msg : "out of memory");
        rc = kiln_exit_code(rc);
        goto done;
    }
    size_t failed = 0;
    int first = 0;
    kiln_lake_maintain_opts o = {dry_run, 0};
    for (size_t i = 0; i < names.len; i++) {
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        int trc = kiln_lake_table_load(&t, cat, names.items[i], &e);
        const char *ob = trc ? NULL : other_branch(kiln_lake_table_meta(t));
        if (ob) {
            printf("%s: skipped: it has branch '%s' (a backfill writes to it; main is not moved under it)\n",
                   names.items[i], ob);
            kiln_lake_table_free(t);
        } else if (!trc) {
            kiln_lake_maintain_result r;
            trc = kiln_lake_maintain(t, &o, &r, &e);
            print_result(stdout, names.items[i], &r);
            kiln_lake_table_free(t);
        }
        if (trc) {
            fprintf(stderr, "kiln: error table.maintain %s: %s\n", names.items[i], e.msg);
            failed++;
            first = first ? first : kiln_exit_code(trc);
        }
    }
    if (failed)
        rc = (names.len > 1 && failed < names.len) ? KILN_EXIT_PARTIAL : first;
    fflush(stdout);
done:
    names_free(&names);
    kiln_lake_catalog_free(cat);
    return rc;
}

/* ------------------------------------------------------------ automatic */

/* kiln.yml's maintenance: {auto: true|false, warehouse: DIR}. 0 when off
 * (or no kiln.yml); *wh (caller frees) = the warehouse, relative paths
 * under the project directory. A malformed block is a configuration error. */
static int auto_config_read(const kiln_flow_project *p, char **wh, kiln_err *err)
{
    *wh = NULL;
    char *path = kiln_sprintf("%s/kiln.yml", p->dir);
    if (!path)
        return KILN_OOM(err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        kiln_free(path);
        return 0;
    }
    yaml_parser_t ps;
    yaml_document_t doc;
    int on = 0, rc = 0, loaded = 0;
    char *w = NULL;
    yaml_parser_initialize(&ps);
    yaml_parser_set_input_file(&ps, f);
    if (!yaml_parser_load(&ps, &doc)) {
        rc = kiln_err_set(err, KILN_ECONFIG, "%s: not YAML", path);
        goto done;
    }
    loaded = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE)
        goto done;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(&doc, pr->key), *v = yaml_document_get_node(&doc, pr->value);
        if (!k || k->type != YAML_SCALAR_NODE || strcmp((char *)k->data.scalar.value, "maintenance"))
            continue;
        if (!v || v->type != YAML_MAPPING_NODE) {
            rc = kiln_err_set(err, KILN_ECONFIG, "%s:%zu:%zu: maintenance: want a map (auto: true, warehouse: DIR)",
                              path, v ? v->start_mark.line + 1 : 0, v ? v->start_mark.column + 1 : 0);
            goto done;
        }
        for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
            yaml_node_t *kk = yaml_document_get_node(&doc, q->key), *vv = yaml_document_get_node(&doc, q->value);
            const char *key = kk && kk->type == YAML_SCALAR_NODE ? (char *)kk->data.scalar.value : "?";
            const char *val = vv && vv->type == YAML_SCALAR_NODE ? (char *)vv->data.scalar.value : NULL;
            size_t line = kk ? kk->start_mark.line + 1 : 0, col = kk ? kk->start_mark.column + 1 : 0;
            if (!strcmp(key, "auto") && val && (!strcmp(val, "true") || !strcmp(val, "false"))) {
                on = !strcmp(val, "true");
            } else if (!strcmp(key, "warehouse") && val && *val) {
                kiln_free(w);
                w = val[0] == '/' ? kiln_strdup(val) : kiln_sprintf("%s/%s", p->dir, val);
                if (!w) {
                    rc = KILN_OOM(err);
                    goto done;
                }
            } else {
                rc = kiln_err_set(err, KILN_ECONFIG,
                                  "%s:%zu:%zu: maintenance.%s: want auto: true|false or warehouse: DIR", path, line,
                                  col, key);
                goto done;
            }
        }
    }
    if (on && !w && !(w = kiln_sprintf("%s/warehouse", p->dir)))
        rc = KILN_OOM(err);
done:
    if (loaded)
        yaml_document_delete(&doc);
    yaml_parser_delete(&ps);
    fclose(f);
    kiln_free(path);
    if (rc || !on) {
        kiln_free(w);
        return rc ? rc : 0;
    }
    *wh = w;
    return 1;
}

/* auto_config_read, remembered while kiln.yml is unchanged (same
 * folder, inode, size and mtime): a runner asks after every successful
 * task, and parsing the YAML each time was a visible part of its CPU. */
static int auto_config(const kiln_flow_project *p, char **wh, kiln_err *err)
{
    static struct {
        char *dir;
        int have, on;
        struct stat st;
        char *wh;
    } c;
    *wh = NULL;
    char *path = kiln_sprintf("%s/kiln.yml", p->dir);
    if (!path)
        return KILN_OOM(err);
    struct stat st;
    int exists = stat(path, &st) == 0;
    kiln_free(path);
    if (!exists)
        memset(&st, 0, sizeof st);
    if (c.have && c.dir && !strcmp(c.dir, p->dir) && c.st.st_ino == st.st_ino && c.st.st_size == st.st_size &&
        c.st.st_mtim.tv_sec == st.st_mtim.tv_sec && c.st.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
        if (!c.on)
            return 0;
        return (*wh = kiln_strdup(c.wh)) ? 1 : KILN_OOM(err);
    }
    int on = auto_config_read(p, wh, err);
    if (on < 0)
        return on;
    kiln_free(c.dir);
    kiln_free(c.wh);
    c.have = 0;
    c.dir = kiln_strdup(p->dir);
    c.wh = on ? kiln_strdup(*wh) : NULL;
    if (c.dir && (!on || c.wh)) {
        c.have = 1;
        c.on = on;
        c.st = st;
    }
    return on;
}

/* Maintain the tables of warehouse wh whose main got a commit at or after
 * since_ms and that have no other branch. */
static void auto_warehouse(const char *wh, int64_t since_ms, const char *who, FILE *out)
{
    kiln_lake_catalog *cat = NULL;
    kiln_err err = {0};
    name_vec names = {0};
    struct stat sb;
    if (stat(wh, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return; /* no warehouse: nothing was written there */
    if (kiln_lake_catalog_open(&cat, wh, KILN_LAKE_CATALOG_SQLITE, &err) != 0 ||
        kiln_lake_table_list(cat, NULL, collect, &names, &err) != 0) {
        if (err.code != KILN_ENOTFOUND)
            kiln_warn("auto-maintenance after %s: %s", who, err.msg);
        goto done;
    }
    for (size_t i = 0; i < names.len; i++) {
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (kiln_lake_table_load(&t, cat, names.items[i], &e) != 0)
            continue;
        const kiln_lake_meta *m = kiln_lake_table_meta(t);
        const kiln_lake_ref *main_ref = kiln_lake_meta_ref(m, "main");
        const kiln_lake_snapshot *head = main_ref ? kiln_lake_meta_snapshot(m, main_ref->snapshot_id) : NULL;
        const char *other = other_branch(m);
        if (!head || head->timestamp_ms < since_ms) {
            kiln_lake_table_free(t);
            continue; /* not written by the task */
        }
        if (other) {
            if (out)
                fprintf(out,
                        "auto-maintenance: %s skipped: it has branch '%s' (a backfill writes to it; main is not "
                        "moved under it)\n",
                        names.items[i], other);
            kiln_lake_table_free(t);
            continue;
        }
        kiln_lake_maintain_opts o = {0, 0};
        kiln_lake_maintain_result r;
        int rc = kiln_lake_maintain(t, &o, &r, &e);
        int did = r.compact_status == KILN_LAKE_MAINT_DONE || r.expire_status == KILN_LAKE_MAINT_DONE ||
                  r.orphans_status == KILN_LAKE_MAINT_DONE;
        if (rc)
            kiln_warn("auto-maintenance of %s after %s failed: %s", names.items[i], who, e.msg);
        if (out && (did || rc)) {
            fprintf(out, "auto-maintenance after %s: ", who);
            print_result(out, names.items[i], &r);
        } else if (did) /* the scheduler daemon has no progress stream: the log */
            kiln_info("auto-maintenance after %s: %s: compaction %s, expiry %s, orphans %s", who, names.items[i],
                      status_name(r.compact_status), status_name(r.expire_status), status_name(r.orphans_status));
        kiln_lake_table_free(t);
    }
done:
    names_free(&names);
    kiln_lake_catalog_free(cat);
}

int kiln_flow__maint_config_check(const kiln_flow_project *p, kiln_err *err)
{
    char *wh = NULL;
    int rc = auto_config(p, &wh, err);
    kiln_free(wh);
    return rc < 0 ? rc : 0;
}

void kiln_flow__maint_after_task(const kiln_flow_project *p, const kiln_flow_task *t, const char *backfill_branch,
                                 int64_t since_ms, FILE *out)
{
    if (backfill_branch || !strcmp(t->type, "table.maintain") || !strncmp(t->type, "sensor.", 7))
        return; /* the backfill's writes went to its branch; maintenance wrote nothing new */
    char *wh = NULL;
    kiln_err err = {0};
    int on = auto_config(p, &wh, &err);
    if (on < 0) {
        kiln_warn("auto-maintenance: %s", err.msg);
        return;
    }
    if (!on)
        return;
    auto_warehouse(wh, since_ms, t->id, out);
    const char *tw = kiln_flow_task_opt(t, "warehouse");
    if (tw && !kiln_flow__is_template(tw)) {
        char *abs = tw[0] == '/' ? kiln_strdup(tw) : kiln_sprintf("%s/%s", p->dir, tw);
        if (abs && strcmp(abs, wh))
            auto_warehouse(abs, since_ms, t->id, out);
        kiln_free(abs);
    }
    kiln_free(wh);
}
