/*
 * iceberg_rewrite.c - data-file compaction (Iceberg's rewrite_data_files):
 * bin-pack the small files of each partition into target-size files,
 * optionally sorted, with every position and equality delete applied, and
 * drop the delete files that then apply to nothing; one "replace" snapshot.
 *
 * DESIGN
 *   plan      the branch head is planned (optionally pruned by `where`);
 *             every data task is put in a group keyed by spec id + partition
 *             tuple. A file is a candidate when it is smaller than
 *             min_file_bytes, larger than max_file_bytes, or has deletes
 *             applying to it; a group is rewritten when it has
 *             min_input_files candidates (or more than the target in bytes,
 *             or any candidate with deletes). Same rules as Iceberg Java.
 *   write     candidates are read through kiln_lake_task_read (deletes
 *             applied by the scan's own rules) and written as Parquet files
 *             under the same partition directory, cut when the estimated
 *             size (input bytes per row) reaches the target. With a sort,
 *             the group's rows are held in memory (capped) and sorted first.
 *   commit    build() derives the whole snapshot from a base metadata: the
 *             head's manifests carried, those holding removed files
 *             rewritten (removed -> DELETED, others EXISTING), one manifest
 *             of ADDED files per spec, and delete files no remaining data
 *             file can be affected by dropped. New files get the new
 *             sequence number, so no old delete can apply to them.
 *   rebase    after a lost race, build() runs again on the new head; first
 *             each group is validated against what was committed since the
 *             rewrite started: its input files must still be live and no
 *             new delete file may touch its partition. A group failing that
 *             is dropped (its new files deleted); the rest commits.
 *             Concurrent appends are simply carried over.
 *   dangling  a position delete file the partition rule keeps is judged
 *             by the data files it names (referenced_data_file, equal
 *             file_path bounds, else its file_path column read).
 *   posdel    kiln_lake_rewrite_position_delete_files: each partition's
 *             position delete files merged into one without dangling
 *             entries; the same build()/rebase with w->posdel set (the
 *             replaced files must still be live on a new head).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "format/parquet/parquet.h"
#include "lake/lake.h"
#include "lake/lake_data_int.h"
#include "lake/lake_io.h"

#define DEFAULT_TARGET ((int64_t)512 << 20)
#define DEFAULT_MIN_INPUT 5
/* A sorted rewrite holds a group in memory: cap its input (compressed) bytes. */
#define SORT_MAX_GROUP_BYTES ((int64_t)1 << 30)
#define OUT_BATCH_ROWS 8192
#define MAX_SORT_KEYS 16
#define MAX_ZORDER 4
/* reserved field id of a position delete file's file_path column */
#define POS_FILE_PATH_ID 2147483546

typedef KILN_VEC(const kiln_lake_task *) task_vec;
typedef KILN_VEC(kiln_lake_entry) entry_vec;
typedef KILN_VEC(kiln_lake_manifest) manifest_vec;
typedef KILN_VEC(kiln_lake_kv) kv_vec;
typedef KILN_VEC(char *) str_vec;

typedef struct rgroup {
    int spec_id;
    const kiln_lake_pspec *spec;
    const kiln_lake_value *part; /* borrowed from the first entry */
    char *dir;                   /* "name=value/..." ("" unpartitioned), arena */
    char *key;                   /* "<spec id>|dir", arena */
    task_vec tasks;              /* every planned data file of the group */
    task_vec chosen;             /* the ones to rewrite */
    int64_t chosen_bytes;
    int any_deletes;
    int rewrite;
    int failed;
    entry_vec added; /* files written for the group */
    str_vec written; /* their local paths (kiln_malloc'd) */
} rgroup;

typedef struct sort_key {
    int col;
    int desc;
    int nulls_first;
    int has_xf;          /* a table sort order's non-identity transform: rows compare by pf's result */
    kiln_lake_pfield pf; /* the transform, its source and result types (as a partition field's) */
} sort_key;

typedef struct rw {
    kiln_lake_table *t;
    kiln_lake_rewrite_data_opts o;
    const char *branch;
    kiln_arena *a;
    kiln_lake_view view;
    kiln_lake_plan *plan;
    int64_t start_head;
    KILN_VEC(rgroup *) groups;
    kiln_map *group_map;
    kiln_map *start_live; /* path -> (void *)1 of every live file at the start */
    sort_key keys[MAX_SORT_KEYS];
    int nkeys;
    int zcols[MAX_ZORDER]; /* --zorder columns (schema indexes) */
    int nz;
    int sort_order_id; /* the table order's id when sorting by it, else 0 */
    char *schema_json;
    int64_t target;
    char uuid[37];
    size_t nfile;
    int64_t snapshot_id;
    int attempt;
    str_vec meta_files;   /* manifests / manifest lists of the current attempt */
    int nothing;          /* build found nothing to rewrite or remove */
    const kiln_map *only; /* NULL, or the keys of the groups this round may rewrite */
    kiln_lake_rewrite_data_result *res;
    /* rewrite_position_delete_files: the delete files replaced (paths in
     * a) and the ones written (entries in a, local paths kiln_malloc'd) */
    int posdel;
    KILN_VEC(const char *) pd_removed;
    entry_vec pd_added;
    str_vec pd_written;
    KILN_VEC(const char *) dv_targets; /* v3: the data files given a new deletion vector */
    /* v3: rows are read with their lineage columns and the new files carry
     * _row_id and _last_updated_sequence_number explicitly */
    int lineage;
    kiln_schema lschema; /* the table's columns, then the two lineage columns */
    kiln_column_def *lcols;
} rw;

/* ================================================================ helpers */

static int64_t prop_i64(const kiln_lake_meta *m, const char *k, int64_t dflt)
{
    const char *v = kiln_lake_meta_property(m, k);
    if (!v || !*v)
        return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return (*end == 0 && x > 0) ? (int64_t)x : dflt;
}

static int64_t branch_head(const kiln_lake_meta *m, const char *branch)
{
    const kiln_lake_ref *r = kiln_lake_meta_ref(m, branch);
    if (r)
        return r->snapshot_id;
    if (strcmp(branch, "main") == 0)
        return m->current_snapshot_id; /* -1: empty table */
    return -2;
}

/* "<spec id>|name=value/..." of a file's partition into k (dir = after '|'). */
static int part_key(kiln_buf *k, const kiln_lake_pspec *spec, int spec_id, const kiln_lake_value *part, int npart,
                    kiln_err *err)
{
    kiln_buf_reset(k);
    int rc = kiln_buf_printf(k, err, "%d|", spec_id);
    for (int i = 0; !rc && spec && i < spec->nfields && i < npart; i++) {
        if ((rc = kiln_buf_printf(k, err, "%s%s=", i ? "/" : "", spec->fields[i].name)))
            break;
        rc = kiln_lake_pvalue_text(&spec->fields[i], &part[i], k, err);
    }
    return rc;
}

static int entry_key(kiln_buf *k, const kiln_lake_view *v, const kiln_lake_entry *e, kiln_err *err)
{
    return part_key(k, kiln_lake_view_spec(v, e->df.spec_id), e->df.spec_id, e->df.partition, e->df.npart, err);
}

static void free_strs(str_vec *v, int remove_files)
{
    for (size_t i = 0; i < v->len; i++) {
        if (remove_files)
            kiln_lake__io_remove(v->items[i], &(kiln_err){0});
        kiln_free(v->items[i]);
    }
    kiln_vec_free(v);
}

/* ================================================================ choosing */

static int group_of(rw *w, const kiln_lake_entry *e, kiln_buf *k, rgroup **out, kiln_err *err)
{
    int rc = entry_key(k, &w->view, e, err);
    if (rc)
        return rc;
    rgroup *g = kiln_map_get(w->group_map, k->data, k->len);
    if (!g) {
        g = kiln_arena_alloc(w->a, sizeof *g);
        if (!g)
            return KILN_OOM(err);
        memset(g, 0, sizeof *g);
        g->spec_id = e->df.spec_id;
        g->spec = kiln_lake_view_spec(&w->view, e->df.spec_id);
        g->part = e->df.partition;
        g->key = kiln_arena_strndup(w->a, k->data, k->len);
        if (!g->key)
            return KILN_OOM(err);
        g->dir = strchr(g->key, '|') + 1;
        if ((rc = kiln_map_put(w->group_map, k->data, k->len, g, err)) || (rc = kiln_vec_push(&w->groups, g, err)))
            return rc;
    }
    *out = g;
    return 0;
}

static int choose(rw *w, kiln_err *err)
{
    kiln_buf k;
    kiln_buf_init(&k, 0);
    int rc = 0;
    int64_t minb = w->o.min_file_bytes > 0 ? w->o.min_file_bytes : w->target / 4 * 3;
    int64_t maxb = w->o.max_file_bytes > 0 ? w->o.max_file_bytes : w->target / 10 * 18;
    int min_input = w->o.min_input_files > 0 ? w->o.min_input_files : DEFAULT_MIN_INPUT;
    for (size_t i = 0; i < kiln_lake_plan_ntasks(w->plan); i++) {
        const kiln_lake_task *task = kiln_lake_plan_task(w->plan, i);
        rgroup *g = NULL;
        if ((rc = group_of(w, task->data, &k, &g, err)) || (rc = kiln_vec_push(&g->tasks, task, err)))
            goto done;
        int64_t sz = task->data->df.file_size_in_bytes;
        if (w->o.rewrite_all || sz < minb || sz > maxb || task->ndeletes > 0) {
            if ((rc = kiln_vec_push(&g->chosen, task, err)))
                goto done;
            g->chosen_bytes += sz;
            if (task->ndeletes > 0)
                g->any_deletes = 1;
        }
    }
    w->res->groups_total = (int64_t)w->groups.len;
    for (size_t i = 0; i < w->groups.len; i++) {
        rgroup *g = w->groups.items[i];
        size_t n = g->chosen.len;
        g->rewrite =
            n > 0 &&
            (w->o.rewrite_all || g->any_deletes ||
             (n > 1 && ((int64_t)n >= min_input || g->chosen_bytes > w->target ||
                        (w->o.min_candidate_pct > 0 && n * 100 >= (size_t)w->o.min_candidate_pct * g->tasks.len))));
        if (w->only && !kiln_map_has(w->only, g->key, strlen(g->key)))
            g->rewrite = 0;
        if (g->rewrite && (w->nkeys || w->nz) && g->chosen_bytes > SORT_MAX_GROUP_BYTES) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "%s: partition %s has %" PRId64 " bytes to rewrite; a sorted rewrite holds a "
                              "partition in memory and is limited to %" PRId64 " (narrow it with --where or "
                              "rewrite without sorting)",
                              kiln_lake_table_name(w->t), *g->dir ? g->dir : "(unpartitioned)", g->chosen_bytes,
                              (int64_t)SORT_MAX_GROUP_BYTES);
            goto done;
        }
    }
done:
    kiln_buf_free(&k);
    return rc;
}

/* ================================================================ sort order */

/* Nested (JSON), wide-decimal and uuid values have no order kiln compares by. */
static int sortable(const rw *w, int c)
{
    kiln_type t = w->view.schema->cols[c].type;
    return t != KILN_T_JSON && t != KILN_T_DECIMAL_WIDE && t != KILN_T_UUID;
}

static int add_key(rw *w, int32_t field_id, const char *name, int desc, int nulls_first, kiln_err *err)
{
    int c = -1;
    for (int i = 0; i < w->view.schema->ncols; i++)
        if ((name && strcmp(w->view.schema->cols[i].name, name) == 0) ||
            (!name && w->view.schema->cols[i].field_id == field_id))
            c = i;
    if (c < 0 || !sortable(w, c))
        return kiln_err_set(err, KILN_EINVAL, "%s: sort column %s is not a column kiln can sort by",
                            kiln_lake_table_name(w->t), name ? name : "(by id)");
    if (w->nkeys >= MAX_SORT_KEYS)
        return kiln_err_set(err, KILN_EINVAL, "at most %d sort columns", MAX_SORT_KEYS);
    w->keys[w->nkeys++] = (sort_key){c, desc, nulls_first, 0, {0}};
    return 0;
}

/* "ts desc nulls last, id" */
static int parse_sort(rw *w, const char *text, kiln_err *err)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char item[256];
        if (n >= sizeof item)
            return kiln_err_set(err, KILN_EINVAL, "sort item too long: %.40s...", p);
        memcpy(item, p, n);
        item[n] = 0;
        char *words[5];
        int nw = 0;
        for (char *tok = strtok(item, " \t"); tok && nw < 5; tok = strtok(NULL, " \t"))
            words[nw++] = tok;
        if (nw == 0)
            return kiln_err_set(err, KILN_EINVAL, "empty sort item in \"%s\"", text);
        int desc = 0, nulls_first = -1, bad = 0, i = 1;
        if (i < nw && strcasecmp(words[i], "asc") == 0)
            i++;
        else if (i < nw && strcasecmp(words[i], "desc") == 0)
            desc = 1, i++;
        if (i + 1 < nw && strcasecmp(words[i], "nulls") == 0) {
            if (strcasecmp(words[i + 1], "first") == 0)
                nulls_first = 1;
            else if (strcasecmp(words[i + 1], "last") == 0)
                nulls_first = 0;
            else
                bad = 1;
            i += 2;
        }
        if (bad || i != nw)
            return kiln_err_set(err, KILN_EINVAL, "bad sort item \"%.*s\" (want: COLUMN [asc|desc] [nulls first|last])",
                                (int)n, p);
        /* Iceberg's defaults: nulls first ascending, nulls last descending */
        int rc = add_key(w, 0, words[0], desc, nulls_first < 0 ? !desc : nulls_first, err);
        if (rc)
            return rc;
        p += n;
    }
    if (!w->nkeys)
        return kiln_err_set(err, KILN_EINVAL, "--sort-by: no columns in \"%s\"", text);
    return 0;
}

/* "a,b": 2..4 columns */
static int parse_zorder(rw *w, const char *text, kiln_err *err)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, ", ");
        char name[256];
        if (n >= sizeof name)
            return kiln_err_set(err, KILN_EINVAL, "--zorder: column name too long");
        memcpy(name, p, n);
        name[n] = 0;
        int c = kiln_schema_find(w->view.schema, name);
        if (c < 0 || !sortable(w, c))
            return kiln_err_set(err, KILN_EINVAL, "%s: z-order column %s is not a column kiln can sort by",
                                kiln_lake_table_name(w->t), name);
        if (w->nz >= MAX_ZORDER)
            return kiln_err_set(err, KILN_EINVAL, "--zorder: at most %d columns", MAX_ZORDER);
        w->zcols[w->nz++] = c;
        p += n;
    }
    if (w->nz < 2)
        return kiln_err_set(err, KILN_EINVAL, "--zorder needs 2 to %d columns (\"%s\"); for one, use --sort-by",
                            MAX_ZORDER, text);
    return 0;
}

static int table_sort(rw *w, const kiln_lake_meta *m, kiln_err *err)
{
    const kiln_lake_sort_order *so = NULL;
    for (size_t i = 0; i < m->nsort_orders; i++)
        if (m->sort_orders[i].order_id == m->default_sort_order_id)
            so = &m->sort_orders[i];
    if (!so || so->nfields == 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "%s has no sort order (set one at create with --sort, or name the columns with "
                            "--sort-by)",
                            kiln_lake_table_name(w->t));
    for (size_t i = 0; i < so->nfields; i++) {
        const kiln_lake_sort_field *f = &so->fields[i];
        int rc = add_key(w, f->source_id, NULL, f->descending, f->nulls_first, err);
        if (rc)
            return rc;
        if (f->transform.kind == KILN_LAKE_XF_IDENTITY)
            continue;
        /* day(ts), bucket[16](id), truncate[4](s), ...: rows compare by the
         * transform's value, as Iceberg's sort order defines them */
        sort_key *sk = &w->keys[w->nkeys - 1];
        kiln_type st = w->view.schema->cols[sk->col].type;
        sk->pf = (kiln_lake_pfield){.source_id = f->source_id,
                                    .xform = f->transform.kind,
                                    .param = f->transform.param,
                                    .source_type = st,
                                    .result_type = kiln_lake_xform_result(f->transform.kind, st)};
        kiln_lake_value probe = {0}, out;
        kiln_err pe = {0};
        static const uint8_t empty[1] = {0};
        probe.bytes = empty;
        if (f->transform.kind == KILN_LAKE_XF_UNKNOWN || kiln_lake_xform_apply(&sk->pf, &probe, &out, &pe) != 0)
            return kiln_err_set(err, KILN_EUNSUPP, "%s: sort order field %s(%s) is not a transform kiln can apply",
                                kiln_lake_table_name(w->t), f->transform.text ? f->transform.text : "?",
                                w->view.schema->cols[sk->col].name);
        sk->has_xf = 1;
    }
    w->sort_order_id = so->order_id;
    return 0;
}

/* ================================================================ row store and sort */

typedef struct rowref {
    uint32_t chunk, row;
} rowref;

typedef struct sorter {
    KILN_VEC(kiln_batch *) chunks;
    KILN_VEC(rowref) refs;
} sorter;

static _Thread_local const rw *cmp_w;
static _Thread_local const sorter *cmp_s;

static int cmp_rows(const void *pa, const void *pb)
{
    const rowref *x = pa, *y = pb;
    const kiln_batch *bx = cmp_s->chunks.items[x->chunk], *by = cmp_s->chunks.items[y->chunk];
    for (int k = 0; k < cmp_w->nkeys; k++) {
        const sort_key *sk = &cmp_w->keys[k];
        kiln_lake_value a, b;
        kiln_lake__cell(&a, bx, sk->col, x->row);
        kiln_lake__cell(&b, by, sk->col, y->row);
        kiln_type t = bx->cols[sk->col].type;
        if (sk->has_xf) { /* checked against the column's type when the key was made */
            kiln_lake_value ta, tb;
            kiln_err xe = {0};
            if (kiln_lake_xform_apply(&sk->pf, &a, &ta, &xe) == 0 &&
                kiln_lake_xform_apply(&sk->pf, &b, &tb, &xe) == 0) {
                a = ta;
                b = tb;
                t = sk->pf.result_type;
            }
        }
        int c;
        if (a.is_null || b.is_null)
            c = a.is_null == b.is_null ? 0 : (a.is_null ? -1 : 1) * (sk->nulls_first ? 1 : -1);
        else
            c = kiln_lake_value_cmp(t, &a, &b) * (sk->desc ? -1 : 1);
        if (c)
            return c;
    }
    /* stable: input order breaks ties */
    return x->chunk != y->chunk ? (x->chunk < y->chunk ? -1 : 1) : (x->row < y->row ? -1 : x->row > y->row);
}

/* Copy one cell of b into the row being built in out (same schema). */
static int copy_cell(kiln_batch *out, const kiln_batch *b, int c, size_t row, kiln_err *err)
{
    kiln_lake_value v;
    kiln_lake__cell(&v, b, c, row);
    if (v.is_null)
        return kiln_batch_put_null(out, c, err);
    switch (b->cols[c].type) {
    case KILN_T_BOOL: return kiln_batch_put_bool(out, c, (int)v.i, err);
    case KILN_T_INT32:
    case KILN_T_DATE: return kiln_batch_put_i32(out, c, (int32_t)v.i, err);
    case KILN_T_FLOAT: return kiln_batch_put_f32(out, c, (float)v.d, err);
    case KILN_T_DOUBLE: return kiln_batch_put_f64(out, c, v.d, err);
    default:
        /* strings, binary, wide decimals, uuids and nested (JSON) values are bytes */
        if (kiln_type_is_bytes(b->cols[c].type))
            return kiln_batch_put_str(out, c, (const char *)v.bytes, v.len, err);
        return kiln_batch_put_i64(out, c, v.i, err);
    }
}

static int copy_row(kiln_batch *out, const kiln_batch *b, size_t row, kiln_err *err)
{
    for (int c = 0; c < b->schema->ncols; c++) {
        int rc = copy_cell(out, b, c, row, err);
        if (rc)
            return rc;
    }
    return kiln_batch_end_row(out, err);
}

/* ================================================================ writing files */

typedef struct file_out {
    rw *w;
    rgroup *g;
    kiln_parquet_writer *pw;
    kiln_batch *buf;
    char *local, *stored;
    double est; /* estimated bytes written so far */
    int open;
} file_out;

static int out_open(file_out *f, kiln_err *err)
{
    rw *w = f->w;
    char *d = kiln_sprintf("%s/data%s%s", kiln_lake_table_dir(w->t), *f->g->dir ? "/" : "", f->g->dir);
    int rc;
    if (!d)
        return KILN_OOM(err);
    rc = kiln_lake__io_mkdirs(d, err);
    if (!rc) {
        f->local = kiln_sprintf("%s/%05zu-%s-rewrite.parquet", d, w->nfile++, w->uuid);
        f->stored = f->local ? kiln_lake_path_to_uri(f->local) : NULL;
        if (!f->local || !f->stored)
            rc = KILN_OOM(err);
    }
    kiln_free(d);
    if (rc)
        return rc;
    char *dup = kiln_sprintf("%s", f->local);
    if (!dup || (rc = kiln_vec_push(&f->g->written, dup, err))) {
        kiln_free(dup);
        return rc ? rc : KILN_OOM(err);
    }
    const kiln_schema *fs = w->lineage ? &w->lschema : w->view.schema;
    if (!f->buf && (rc = kiln_batch_new(&f->buf, fs, OUT_BATCH_ROWS, 0, err)))
        return rc;
    kiln_parquet_write_opts po;
    kiln_parquet_write_opts_init(&po);
    kiln_parquet_kv kv = {"iceberg.schema", w->schema_json};
    po.kv = &kv;
    po.nkv = 1;
    po.nested = w->view.nested; /* shapes of the nested (JSON) columns */
    po.nnested = w->view.schema->ncols;
    char *path = NULL;
    if ((rc = kiln_lake__io_local_file(&path, f->local, err)))
        return rc;
    rc = kiln_parquet_writer_open(&f->pw, path, fs, &po, err);
    kiln_free(path);
    if (rc)
        return rc;
    f->est = 0;
    f->open = 1;
    return 0;
}

static int out_flush(file_out *f, kiln_err *err)
{
    if (!f->buf || !f->buf->nrows)
        return 0;
    int rc = kiln_parquet_writer_write(f->pw, f->buf, err);
    kiln_batch_clear(f->buf);
    return rc;
}

/* The ADDED entry of a closed file: Parquet stats as Iceberg metrics. */
static int entry_from_stats(rw *w, rgroup *g, const char *stored, const kiln_parquet_file_stats *st, kiln_err *err)
{
    kiln_lake_entry e;
    memset(&e, 0, sizeof e);
    e.status = KILN_LAKE_STATUS_ADDED;
    e.snapshot_id = -1;
    int rc = kiln_lake__datafile_from_stats(&e.df, w->a, stored, g->spec_id, g->spec, g->part, w->view.schema, st,
                                            w->sort_order_id, err);
    return rc ? rc : kiln_vec_push(&g->added, e, err);
}

static int out_close(file_out *f, kiln_err *err)
{
    if (!f->open)
        return 0;
    kiln_parquet_file_stats st;
    memset(&st, 0, sizeof st);
    int rc = out_flush(f, err);
    if (!rc)
        rc = kiln_parquet_writer_close(f->pw, &st, err);
    if (!rc && st.record_count > 0)
        rc = entry_from_stats(f->w, f->g, f->stored, &st, err);
    else if (!rc) /* nothing survived the deletes: no file */
        kiln_lake__io_remove(f->local, &(kiln_err){0});
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_writer_free(f->pw);
    f->pw = NULL;
    kiln_free(f->local);
    kiln_free(f->stored);
    f->local = f->stored = NULL;
    f->open = 0;
    return rc;
}

static int out_row(file_out *f, const kiln_batch *b, size_t row, double row_bytes, kiln_err *err)
{
    int rc;
    if (!f->open && (rc = out_open(f, err)))
        return rc;
    if ((rc = copy_row(f->buf, b, row, err)))
        return rc;
    f->w->res->rows_written++;
    f->est += row_bytes;
    if (kiln_batch_full(f->buf) && (rc = out_flush(f, err)))
        return rc;
    if (f->est >= (double)f->w->target)
        return out_close(f, err);
    return 0;
}

typedef struct read_ctx {
    file_out *f;
    sorter *s;
    double row_bytes;
} read_ctx;

static int read_cb(void *vctx, const kiln_batch *b, kiln_err *err)
{
    read_ctx *rc_ = vctx;
    int rc = 0;
    if (!rc_->s) {
        for (size_t r = 0; r < b->nrows && !rc; r++)
            rc = out_row(rc_->f, b, r, rc_->row_bytes, err);
        return rc;
    }
    kiln_batch *copy = NULL;
    /* the copy outlives the read: it borrows the rewrite's schema (a
     * lineage read's own schema is gone when the read returns) */
    rw *w = rc_->f->w;
    if ((rc = kiln_batch_new(&copy, w->lineage ? &w->lschema : w->view.schema, b->nrows, 0, err)))
        return rc;
    for (size_t r = 0; r < b->nrows && !rc; r++)
        rc = copy_row(copy, b, r, err);
    if (!rc)
        rc = kiln_vec_push(&rc_->s->chunks, copy, err);
    if (rc) {
        kiln_batch_free(copy);
        return rc;
    }
    uint32_t ci = (uint32_t)(rc_->s->chunks.len - 1);
    for (size_t r = 0; r < b->nrows && !rc; r++) {
        rowref x = {ci, (uint32_t)r};
        rc = kiln_vec_push(&rc_->s->refs, x, err);
    }
    return rc;
}

/* ---------------------------------------------------------------- z-order
 *
 * Each z-order column maps to 8 bytes that sort like its values (integers
 * with the sign bit flipped, floats by their IEEE order, strings by their
 * first 8 bytes, null lowest); the bits of the columns are interleaved,
 * most significant first, and rows sorted by that key. Rows close in every
 * column land in the same file, so min/max statistics prune on each. */

typedef struct zrow {
    uint8_t z[8 * MAX_ZORDER];
    rowref r;
} zrow;

static uint64_t zbits(const kiln_batch *b, int c, size_t row)
{
    kiln_lake_value v;
    kiln_lake__cell(&v, b, c, row);
    if (v.is_null)
        return 0;
    switch (b->cols[c].type) {
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: {
        double d = v.d;
        uint64_t u;
        memcpy(&u, &d, 8);
        return (u >> 63) ? ~u : (u | ((uint64_t)1 << 63));
    }
    case KILN_T_STRING:
    case KILN_T_BINARY: {
        uint64_t u = 0;
        for (size_t i = 0; i < 8; i++)
            u = (u << 8) | (i < v.len ? v.bytes[i] : 0);
        /* 0 is null: shift strings up by one so "" sorts after null */
        return u == UINT64_MAX ? u : u + 1;
    }
    default: return (uint64_t)v.i ^ ((uint64_t)1 << 63);
    }
}

static int cmp_z(const void *pa, const void *pb)
{
    const zrow *x = pa, *y = pb;
    int c = memcmp(x->z, y->z, sizeof x->z);
    if (c)
        return c;
    return x->r.chunk != y->r.chunk ? (x->r.chunk < y->r.chunk ? -1 : 1)
                                    : (x->r.row < y->r.row ? -1 : x->r.row > y->r.row);
}

static int zorder_emit(rw *w, file_out *f, sorter *s, double row_bytes, kiln_err *err)
{
    zrow *zs = kiln_malloc(s->refs.len * sizeof *zs);
    if (!zs)
        return KILN_OOM(err);
    int n = w->nz, bits = 64 * n;
    for (size_t i = 0; i < s->refs.len; i++) {
        const kiln_batch *b = s->chunks.items[s->refs.items[i].chunk];
        uint64_t u[MAX_ZORDER];
        for (int k = 0; k < n; k++)
            u[k] = zbits(b, w->zcols[k], s->refs.items[i].row);
        memset(zs[i].z, 0, sizeof zs[i].z);
        for (int bit = 0; bit < bits; bit++) {
            int col = bit % n, from = 63 - bit / n;
            if ((u[col] >> from) & 1)
                zs[i].z[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
        }
        zs[i].r = s->refs.items[i];
    }
    kiln_sort(zs, s->refs.len, sizeof *zs, cmp_z);
    int rc = 0;
    for (size_t i = 0; i < s->refs.len && !rc; i++)
        rc = out_row(f, s->chunks.items[zs[i].r.chunk], zs[i].r.row, row_bytes, err);
    kiln_free(zs);
    return rc;
}

static int write_group(rw *w, rgroup *g, kiln_err *err)
{
    file_out f;
    memset(&f, 0, sizeof f);
    f.w = w;
    f.g = g;
    sorter s;
    memset(&s, 0, sizeof s);
    int rc = 0;
    double total_bytes = 0, total_rows = 0;
    for (size_t i = 0; i < g->chosen.len && !rc; i++) {
        const kiln_lake_task *task = g->chosen.items[i];
        double nrec = task->data->df.record_count > 0 ? (double)task->data->df.record_count : 1;
        read_ctx rc_ = {&f, w->nkeys || w->nz ? &s : NULL, (double)task->data->df.file_size_in_bytes / nrec};
        total_bytes += (double)task->data->df.file_size_in_bytes;
        total_rows += nrec;
        rc = w->lineage ? kiln_lake__task_read_lineage(&w->view, task, read_cb, NULL, &rc_, err)
                        : kiln_lake_task_read(&w->view, task, read_cb, &rc_, err);
    }
    if (!rc && w->nz && s.refs.len)
        rc = zorder_emit(w, &f, &s, total_rows > 0 ? total_bytes / total_rows : 1, err);
    if (!rc && w->nkeys && s.refs.len) {
        cmp_w = w;
        cmp_s = &s;
        kiln_sort(s.refs.items, s.refs.len, sizeof s.refs.items[0], cmp_rows);
        double row_bytes = total_rows > 0 ? total_bytes / total_rows : 1;
        for (size_t i = 0; i < s.refs.len && !rc; i++)
            rc = out_row(&f, s.chunks.items[s.refs.items[i].chunk], s.refs.items[i].row, row_bytes, err);
    }
    if (!rc)
        rc = out_close(&f, err);
    if (rc && f.open) {
        kiln_parquet_writer_free(f.pw);
        kiln_free(f.local);
        kiln_free(f.stored);
    }
    kiln_batch_free(f.buf);
    for (size_t i = 0; i < s.chunks.len; i++)
        kiln_batch_free(s.chunks.items[i]);
    kiln_vec_free(&s.chunks);
    kiln_vec_free(&s.refs);
    return rc;
}

/* ================================================================ commit */

typedef struct live_info {
    kiln_map *live;      /* path -> entry (base head's live files) */
    entry_vec entries;   /* arena-owned entries of the base head */
    kiln_lake_view view; /* of the base head */
} live_info;

static int summary_add(kv_vec *kv, kiln_arena *a, const char *k, int64_t v, kiln_err *err)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRId64, v);
    kiln_lake_kv x = {k, kiln_arena_strndup(a, num, strlen(num))};
    if (!x.value)
        return KILN_OOM(err);
    return kiln_vec_push(kv, x, err);
}

static int64_t summary_num(const kiln_lake_snapshot *s, const char *key)
{
    const char *v = s ? kiln_lake_snapshot_summary(s, key) : NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}

/* May delete file d apply to a data file of partition key `dkey` with data
 * sequence number dseq? (The spec's scan rules.) */
static int may_apply(const kiln_lake_entry *d, const char *del_key, int del_unpartitioned, const char *data_key,
                     int64_t dseq)
{
    if (d->df.content == KILN_LAKE_CONTENT_POS_DELETES)
        return strcmp(del_key, data_key) == 0 && dseq <= d->seq;
    return (del_unpartitioned || strcmp(del_key, data_key) == 0) && dseq < d->seq;
}

/* Validate the groups against base (rebase only) and decide the removed set. */
static int validate(rw *w, const live_info *li, kiln_arena *a, kiln_err *err)
{
    kiln_buf k, dk;
    kiln_buf_init(&k, 0);
    kiln_buf_init(&dk, 0);
    int rc = 0;
    for (size_t i = 0; i < w->pd_removed.len && !rc; i++)
        if (!kiln_map_get(li->live, w->pd_removed.items[i], strlen(w->pd_removed.items[i])))
            rc = kiln_err_set(err, KILN_ECONFLICT,
                              "%s: delete file %s was removed by a concurrent commit; run the rewrite again",
                              kiln_lake_table_name(w->t), w->pd_removed.items[i]);
    /* v3: one deletion vector per data file, so a vector a concurrent
     * commit gave one of ours (not among the replaced ones) is a conflict,
     * and so is the data file gone */
    for (size_t i = 0; i < w->dv_targets.len && !rc; i++) {
        const char *p = w->dv_targets.items[i];
        const kiln_lake_entry *d = kiln_map_get(li->live, p, strlen(p));
        if (!d || d->df.content != KILN_LAKE_CONTENT_DATA)
            rc = kiln_err_set(err, KILN_ECONFLICT,
                              "%s: data file %s was removed by a concurrent commit; run the rewrite again",
                              kiln_lake_table_name(w->t), p);
    }
    for (size_t i = 0; i < li->entries.len && !rc && w->dv_targets.len; i++) {
        const kiln_lake_entry *e = &li->entries.items[i];
        if (!e->df.referenced_data_file || !e->df.file_format || strcasecmp(e->df.file_format, "PUFFIN") != 0)
            continue;
        int ours = 0, replaced = 0;
        for (size_t j = 0; j < w->dv_targets.len && !ours; j++)
            ours = !strcmp(w->dv_targets.items[j], e->df.referenced_data_file);
        for (size_t j = 0; j < w->pd_removed.len && ours && !replaced; j++)
            replaced = !strcmp(w->pd_removed.items[j], e->df.file_path);
        if (ours && !replaced)
            rc = kiln_err_set(err, KILN_ECONFLICT,
                              "%s: a concurrent commit added a deletion vector for %s; run the rewrite again",
                              kiln_lake_table_name(w->t), e->df.referenced_data_file);
    }
    for (size_t gi = 0; gi < w->groups.len && !rc; gi++) {
        rgroup *g = w->groups.items[gi];
        if (!g->rewrite || g->failed)
            continue;
        const char *why = NULL;
        const char *what = NULL;
        for (size_t i = 0; i < g->chosen.len && !why; i++)
            if (!kiln_map_get(li->live, g->chosen.items[i]->data->df.file_path,
                              strlen(g->chosen.items[i]->data->df.file_path))) {
                why = "was removed by a concurrent commit";
                what = g->chosen.items[i]->data->df.file_path;
            }
        for (size_t i = 0; i < li->entries.len && !why; i++) {
            const kiln_lake_entry *e = &li->entries.items[i];
            if (e->df.content == KILN_LAKE_CONTENT_DATA ||
                kiln_map_get(w->start_live, e->df.file_path, strlen(e->df.file_path)))
                continue;
            const kiln_lake_pspec *ds = kiln_lake_view_spec(&li->view, e->df.spec_id);
            if ((rc = entry_key(&dk, &li->view, e, err)))
                goto done;
            if (may_apply(e, dk.data, !ds || ds->nfields == 0, g->key, -1)) {
                why = "got a delete file from a concurrent commit";
                what = e->df.file_path;
            }
        }
        if (why) {
            g->failed = 1;
            if (!w->res->failed_reason[0])
                snprintf(w->res->failed_reason, sizeof w->res->failed_reason, "partition %s: %s %s",
                         *g->dir ? g->dir : "(unpartitioned)", what, why);
            free_strs(&g->written, 1);
            kiln_vec_free(&g->added);
        }
    }
done:
    (void)a;
    kiln_buf_free(&k);
    kiln_buf_free(&dk);
    return rc;
}

static int load_live(live_info *li, rw *w, const kiln_lake_meta *base, int64_t head, kiln_arena *a, kiln_err *err)
{
    memset(li, 0, sizeof *li);
    li->live = kiln_map_new();
    if (!li->live)
        return KILN_OOM(err);
    int rc = kiln_lake_view_from_meta(&li->view, a, base, head, NULL, err);
    if (rc)
        return rc;
    kiln_lake_plan *p = NULL;
    if ((rc = kiln_lake_plan_new(&p, &li->view, NULL, err)))
        return rc;
    (void)w;
    for (size_t i = 0; i < kiln_lake_plan_nlive(p) && !rc; i++) {
        kiln_lake_entry e = *kiln_lake_plan_live(p, i);
        /* copy what outlives the plan into a */
        e.df.file_path = kiln_arena_strndup(a, e.df.file_path, strlen(e.df.file_path));
        if (e.df.file_format &&
            !(e.df.file_format = kiln_arena_strndup(a, e.df.file_format, strlen(e.df.file_format)))) {
            rc = KILN_OOM(err);
            break;
        }
        kiln_lake_value *pv = kiln_arena_alloc(a, (size_t)(e.df.npart ? e.df.npart : 1) * sizeof *pv);
        if (!e.df.file_path || !pv) {
            rc = KILN_OOM(err);
            break;
        }
        for (int k = 0; k < e.df.npart; k++) {
            pv[k] = e.df.partition[k];
            if (pv[k].bytes) {
                uint8_t *b = kiln_arena_alloc(a, pv[k].len + 1);
                if (!b) {
                    rc = KILN_OOM(err);
                    break;
                }
                memcpy(b, pv[k].bytes, pv[k].len);
                pv[k].bytes = b;
            }
        }
        e.df.partition = pv;
        e.df.colstats = NULL;
        e.df.ncolstats = 0;
        e.df.split_offsets = NULL;
        e.df.nsplits = 0;
        e.df.equality_ids = NULL;
        e.df.nequality_ids = 0;
        /* a position delete naming one data file: referenced_data_file, or
         * equal lower and upper bounds of its file_path column */
        const char *ref = NULL;
        size_t reflen = 0;
        if (e.df.content == KILN_LAKE_CONTENT_POS_DELETES) {
            if (e.df.referenced_data_file) {
                ref = e.df.referenced_data_file;
                reflen = strlen(ref);
            } else {
                for (int c = 0; c < e.df.ncolstats; c++) {
                    const kiln_lake_colstat *cs = &e.df.colstats[c];
                    if (cs->field_id == POS_FILE_PATH_ID && cs->lower && cs->upper && cs->lower_len == cs->upper_len &&
                        memcmp(cs->lower, cs->upper, cs->lower_len) == 0) {
                        ref = (const char *)cs->lower;
                        reflen = cs->lower_len;
                    }
                }
            }
        }
        e.df.referenced_data_file = ref ? kiln_arena_strndup(a, ref, reflen) : NULL;
        if (ref && !e.df.referenced_data_file)
            rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_vec_push(&li->entries, e, err);
    }
    kiln_lake_plan_free(p);
    for (size_t i = 0; i < li->entries.len && !rc; i++)
        rc = kiln_map_put(li->live, li->entries.items[i].df.file_path, strlen(li->entries.items[i].df.file_path),
                          &li->entries.items[i], err);
    return rc;
}

static void live_free(live_info *li)
{
    kiln_map_free(li->live);
    kiln_vec_free(&li->entries);
}

/* Does position delete file e name a data file that stays live (live in
 * the base head and not in removed)? *out 1 or 0. From the single path the
 * manifest gives (referenced_data_file, or equal file_path bounds) when it
 * gives one, else by reading the file's file_path column. */
static int posdel_refs_live(const live_info *li, const kiln_map *removed, const kiln_lake_entry *e, int *out,
                            kiln_err *err)
{
    *out = 0;
    if (e->df.file_format && strcasecmp(e->df.file_format, "PUFFIN") == 0) {
        /* a deletion vector: entries of one Puffin file share its path, so
         * removing one by path could drop its neighbours: keep it */
        *out = 1;
        return 0;
    }
    if (e->df.referenced_data_file) {
        const char *p = e->df.referenced_data_file;
        const kiln_lake_entry *d = kiln_map_get(li->live, p, strlen(p));
        *out = d && d->df.content == KILN_LAKE_CONTENT_DATA && d->seq <= e->seq && !kiln_map_get(removed, p, strlen(p));
        return 0;
    }
    if (e->df.file_format && strcasecmp(e->df.file_format, "PARQUET") != 0) {
        *out = 1; /* cannot read it: keep it (never drop a delete that may apply) */
        return 0;
    }
    kiln_arena *a = kiln_arena_new(1024);
    char *path = a ? kiln_lake_remap_path(a, &li->view.remap, e->df.file_path) : NULL;
    char *local = NULL;
    kiln_parquet_reader *r = NULL;
    if (!path) {
        kiln_arena_free(a);
        return KILN_OOM(err);
    }
    int rc = kiln_lake__io_local_file(&local, path, err);
    if (!rc)
        rc = kiln_parquet_reader_open(&r, local, NULL, err);
    if (local)
        kiln_lake__io_local_release(local, path);
    kiln_free(local);
    if (rc)
        goto done;
    int fp = kiln_parquet_reader_find_field_id(r, POS_FILE_PATH_ID);
    if (fp < 0)
        fp = kiln_parquet_reader_find(r, "file_path");
    if (fp < 0) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: position delete file without a file_path column", path);
        goto done;
    }
    if ((rc = kiln_parquet_reader_project(r, &fp, 1, err)))
        goto done;
    const kiln_batch *b;
    while (!*out && (rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
        for (size_t row = 0; row < b->nrows && !*out; row++) {
            if (kiln_batch_is_null(b, 0, row))
                continue;
            size_t n;
            const char *s = kiln_batch_str(b, 0, row, &n);
            const kiln_lake_entry *d = kiln_map_get(li->live, s, n);
            *out = d && d->df.content == KILN_LAKE_CONTENT_DATA && d->seq <= e->seq && !kiln_map_get(removed, s, n);
        }
    }
    rc = rc < 0 ? rc : 0;
done:
    kiln_parquet_reader_free(r);
    kiln_arena_free(a);
    return rc;
}

typedef struct removal {
    kiln_map *removed; /* path -> (void *)1 */
    int64_t data_files, data_rows, data_bytes;
    int64_t del_files, pos_files, eq_files, pos_rows, eq_rows, del_bytes;
    int64_t added_files, added_rows, added_bytes;
    int64_t groups;
} removal;

/* The removed set for this attempt: inputs of the live groups, plus the
 * delete files no remaining data file can be affected by. */
static int compute_removal(rw *w, const live_info *li, removal *rm, kiln_err *err)
{
    int rc = 0;
    kiln_buf k;
    kiln_buf_init(&k, 0);
    memset(rm, 0, sizeof *rm);
    rm->removed = kiln_map_new();
    if (!rm->removed)
        return KILN_OOM(err);
    for (size_t gi = 0; gi < w->groups.len; gi++) {
        rgroup *g = w->groups.items[gi];
        if (!g->rewrite || g->failed)
            continue;
        rm->groups++;
        for (size_t i = 0; i < g->chosen.len && !rc; i++) {
            const kiln_lake_datafile *d = &g->chosen.items[i]->data->df;
            rm->data_files++;
            rm->data_rows += d->record_count;
            rm->data_bytes += d->file_size_in_bytes;
            rc = kiln_map_put(rm->removed, d->file_path, strlen(d->file_path), (void *)1, err);
        }
        for (size_t i = 0; i < g->added.len; i++) {
            rm->added_files++;
            rm->added_rows += g->added.items[i].df.record_count;
            rm->added_bytes += g->added.items[i].df.file_size_in_bytes;
        }
    }
    /* remaining data files: minimum data sequence number per partition key */
    kiln_map *minseq = kiln_map_new();
    KILN_VEC(int64_t) seqs = {0};
    int64_t global_min = INT64_MAX;
    if (rc)
        goto done;
    if (w->posdel) { /* the replaced delete files, and nothing else */
        for (size_t i = 0; i < w->pd_removed.len && !rc; i++) {
            const char *p = w->pd_removed.items[i];
            const kiln_lake_entry *e = kiln_map_get(li->live, p, strlen(p));
            if (!e)
                continue;
            rm->del_files++;
            rm->pos_files++;
            rm->pos_rows += e->df.record_count;
            rm->del_bytes += e->df.file_size_in_bytes;
            rc = kiln_map_put(rm->removed, p, strlen(p), (void *)1, err);
        }
        goto done;
    }
    if (!minseq) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* two passes: the map stores indexes into seqs (stable while it grows) */
    if ((rc = kiln_vec_push(&seqs, INT64_MAX, err)))
        goto done;
    for (size_t i = 0; i < li->entries.len && !rc; i++) {
        const kiln_lake_entry *e = &li->entries.items[i];
        if (e->df.content != KILN_LAKE_CONTENT_DATA ||
            kiln_map_get(rm->removed, e->df.file_path, strlen(e->df.file_path)))
            continue;
        if ((rc = entry_key(&k, &li->view, e, err)))
            break;
        size_t idx = (size_t)(uintptr_t)kiln_map_get(minseq, k.data, k.len);
        if (!idx) {
            idx = seqs.len;
            if ((rc = kiln_vec_push(&seqs, INT64_MAX, err)) ||
                (rc = kiln_map_put(minseq, k.data, k.len, (void *)(uintptr_t)idx, err)))
                break;
        }
        if (e->seq < seqs.items[idx])
            seqs.items[idx] = e->seq;
        if (e->seq < global_min)
            global_min = e->seq;
    }
    for (size_t i = 0; i < li->entries.len && !rc; i++) {
        const kiln_lake_entry *e = &li->entries.items[i];
        if (e->df.content == KILN_LAKE_CONTENT_DATA)
            continue;
        if ((rc = entry_key(&k, &li->view, e, err)))
            break;
        const kiln_lake_pspec *ds = kiln_lake_view_spec(&li->view, e->df.spec_id);
        int unpart = !ds || ds->nfields == 0;
        size_t idx = (size_t)(uintptr_t)kiln_map_get(minseq, k.data, k.len);
        int64_t m = unpart && e->df.content == KILN_LAKE_CONTENT_EQ_DELETES ? global_min : seqs.items[idx];
        int applies = e->df.content == KILN_LAKE_CONTENT_POS_DELETES ? m <= e->seq : m < e->seq;
        if (unpart && e->df.content == KILN_LAKE_CONTENT_POS_DELETES)
            applies = global_min <= e->seq; /* unpartitioned: one partition, all files */
        /* a position delete the partition rule keeps: exactly, by the data
         * files it names (dangling once none of them stays live) */
        if (applies && e->df.content == KILN_LAKE_CONTENT_POS_DELETES &&
            (rc = posdel_refs_live(li, rm->removed, e, &applies, err)))
            break;
        if (applies)
            continue;
        rm->del_files++;
        rm->del_bytes += e->df.file_size_in_bytes;
        if (e->df.content == KILN_LAKE_CONTENT_POS_DELETES) {
            rm->pos_files++;
            rm->pos_rows += e->df.record_count;
        } else {
            rm->eq_files++;
            rm->eq_rows += e->df.record_count;
        }
        rc = kiln_map_put(rm->removed, e->df.file_path, strlen(e->df.file_path), (void *)1, err);
    }
done:
    kiln_map_free(minseq);
    kiln_vec_free(&seqs);
    kiln_buf_free(&k);
    return rc;
}

static int write_manifest(rw *w, kiln_arena *a, const kiln_lake_pspec *spec, int content, int64_t seq,
                          const kiln_lake_entry *es, size_t n, manifest_vec *rows, const kiln_lake_meta *base,
                          kiln_err *err)
{
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    char *local = kiln_sprintf("%s/metadata/%s-m%d.avro", kiln_lake_table_dir(w->t), uuid, w->attempt);
    char *uri = local ? kiln_lake_path_to_uri(local) : NULL;
    int rc;
    if (!local || !uri) {
        kiln_free(local);
        kiln_free(uri);
        return KILN_OOM(err);
    }
    if ((rc = kiln_vec_push(&w->meta_files, local, err))) {
        kiln_free(local);
        kiln_free(uri);
        return rc;
    }
    kiln_lake_manifest_meta mm = {
        w->schema_json,      kiln_lake_meta_current_schema(base)->schema_id, spec, content, w->snapshot_id, seq,
        base->format_version};
    kiln_lake_manifest row;
    rc = kiln_lake_manifest_write(&row, a, local, uri, &mm, es, n, err);
    kiln_free(uri);
    if (!rc)
        rc = kiln_vec_push(rows, row, err);
    return rc;
}

/* New manifests of a commit, one per partition spec and content. */
typedef struct bucket {
    int spec_id, content;
    const kiln_lake_pspec *spec;
    entry_vec ents;
} bucket;
typedef KILN_VEC(bucket) bucket_vec;

static int bucket_of(bucket_vec *v, int spec_id, int content, const kiln_lake_pspec *spec, bucket **out, kiln_err *err)
{
    for (size_t i = 0; i < v->len; i++)
        if (v->items[i].spec_id == spec_id && v->items[i].content == content) {
            *out = &v->items[i];
            return 0;
        }
    bucket b = {spec_id, content, spec, {0}};
    int rc = kiln_vec_push(v, b, err);
    if (!rc)
        *out = &v->items[v->len - 1];
    return rc;
}

/* The snapshot of this rewrite on txn's base. */
static int build(kiln_lake_txn *txn, rw *w, kiln_err *err)
{
    const kiln_lake_meta *base = kiln_lake_txn_base(txn);
    kiln_arena *a = kiln_arena_new(64 * 1024);
    live_info li;
    memset(&li, 0, sizeof li);
    removal rm;
    memset(&rm, 0, sizeof rm);
    manifest_vec rows = {0};
    bucket_vec buckets = {0};
    kv_vec sum = {0};
    kiln_lake_manifest *ms = NULL;
    size_t nm = 0;
    char *mlpath = NULL, *mluri = NULL;
    int rc = 0;
    if (!a)
        return KILN_OOM(err);
    w->attempt++;
    w->nothing = 0;
    free_strs(&w->meta_files, 1); /* a lost attempt's manifests were never committed */
    int64_t head = branch_head(base, w->branch);
    if (head == -2) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no branch %s", kiln_lake_table_name(w->t), w->branch);
        goto done;
    }
    if ((rc = load_live(&li, w, base, head, a, err)))
        goto done;
    if (head != w->start_head && (rc = validate(w, &li, a, err)))
        goto done;
    if ((rc = compute_removal(w, &li, &rm, err)))
        goto done;
    if (rm.groups == 0 && rm.del_files == 0 && w->pd_added.len == 0) {
        if (w->res->failed_reason[0])
            rc = kiln_err_set(err, KILN_ECONFLICT,
                              "%s: every partition group conflicted with a concurrent commit (%s); run the "
                              "rewrite again",
                              kiln_lake_table_name(w->t), w->res->failed_reason);
        else
            w->nothing = 1;
        goto done;
    }
    int64_t seq = kiln_lake_txn_next_sequence_number(txn);
    /* carry the head's manifests; the entries of those that hold removed
     * files (removed -> DELETED, the rest EXISTING) and the new files go
     * into one new manifest per spec and content, so a compaction does not
     * leave a manifest behind per replaced one */
    if (li.view.manifest_list && (rc = kiln_lake_manifest_list_read(&ms, &nm, a, li.view.manifest_list, err)))
        goto done;
    for (size_t i = 0; i < nm; i++) {
        const kiln_lake_pspec *spec = kiln_lake_view_spec(&li.view, ms[i].spec_id);
        kiln_lake_entry *es = NULL;
        size_t ne = 0;
        if ((rc = kiln_lake_manifest_read(&es, &ne, a, &ms[i], ms[i].path, spec, err)))
            goto done;
        int hit = 0;
        for (size_t j = 0; j < ne && !hit; j++)
            hit = es[j].status != KILN_LAKE_STATUS_DELETED &&
                  kiln_map_get(rm.removed, es[j].df.file_path, strlen(es[j].df.file_path));
        if (!hit) {
            if (ms[i].added_files == 0 && ms[i].existing_files == 0)
                continue; /* only DELETED entries of an earlier snapshot */
            if ((rc = kiln_vec_push(&rows, ms[i], err)))
                goto done;
            continue;
        }
        bucket *bk = NULL;
        if ((rc = bucket_of(&buckets, ms[i].spec_id, ms[i].content, spec, &bk, err)))
            goto done;
        for (size_t j = 0; j < ne; j++) {
            kiln_lake_entry e = es[j];
            if (e.status == KILN_LAKE_STATUS_DELETED)
                continue;
            e.status = kiln_map_get(rm.removed, e.df.file_path, strlen(e.df.file_path)) ? KILN_LAKE_STATUS_DELETED
                                                                                        : KILN_LAKE_STATUS_EXISTING;
            if ((rc = kiln_vec_push(&bk->ents, e, err)))
                goto done;
        }
    }
    for (size_t gi = 0; gi < w->groups.len; gi++) {
        rgroup *g = w->groups.items[gi];
        if (!g->rewrite || g->failed || !g->added.len)
            continue;
        bucket *bk = NULL;
        if ((rc = bucket_of(&buckets, g->spec_id, 0, kiln_lake_view_spec(&li.view, g->spec_id), &bk, err)))
            goto done;
        for (size_t j = 0; j < g->added.len; j++)
            if ((rc = kiln_vec_push(&bk->ents, g->added.items[j], err)))
                goto done;
    }
    int64_t pd_files = 0, pd_rows = 0, pd_bytes = 0;
    for (size_t j = 0; j < w->pd_added.len; j++) {
        const kiln_lake_entry *e = &w->pd_added.items[j];
        bucket *bk = NULL;
        if ((rc = bucket_of(&buckets, e->df.spec_id, KILN_LAKE_CONTENT_POS_DELETES,
                            kiln_lake_view_spec(&li.view, e->df.spec_id), &bk, err)) ||
            (rc = kiln_vec_push(&bk->ents, *e, err)))
            goto done;
        pd_files++;
        pd_rows += e->df.record_count;
        pd_bytes += e->df.file_size_in_bytes;
    }
    for (size_t i = 0; i < buckets.len; i++) {
        bucket *bk = &buckets.items[i];
        if (bk->ents.len &&
            (rc = write_manifest(w, a, bk->spec, bk->content, seq, bk->ents.items, bk->ents.len, &rows, base, err)))
            goto done;
    }
    /* manifest list */
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    mlpath = kiln_sprintf("%s/metadata/snap-%" PRId64 "-%d-%s.avro", kiln_lake_table_dir(w->t), w->snapshot_id,
                          w->attempt, uuid);
    mluri = mlpath ? kiln_lake_path_to_uri(mlpath) : NULL;
    if (!mlpath || !mluri) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* v3: data manifests without a first_row_id (the new ones) get ids
     * from next-row-id on; the rewritten rows keep theirs (written into
     * the files), so the new range is only reserved */
    int v3 = base->format_version >= 3;
    int64_t added_ids = v3 ? kiln_lake_mlist_assign_row_ids(rows.items, rows.len, base->next_row_id) : 0;
    kiln_lake_mlist_meta mlm = {w->snapshot_id, head, seq, v3 ? 3 : 2};
    if ((rc = kiln_lake_manifest_list_write(mlpath, &mlm, rows.items, rows.len, err)))
        goto done;
    {
        char *dup = kiln_sprintf("%s", mlpath);
        if (!dup || (rc = kiln_vec_push(&w->meta_files, dup, err))) {
            kiln_free(dup);
            rc = rc ? rc : KILN_OOM(err);
            goto done;
        }
    }
    /* summary (Iceberg's names for a rewrite) */
    const kiln_lake_snapshot *ps = head >= 0 ? kiln_lake_meta_snapshot(base, head) : NULL;
    int64_t tdf = 0, trec = 0, tdel = 0;
    for (size_t i = 0; i < rows.len; i++) {
        const kiln_lake_manifest *m = &rows.items[i];
        int64_t files = (m->added_files > 0 ? m->added_files : 0) + (m->existing_files > 0 ? m->existing_files : 0);
        if (m->content == 0) {
            tdf += files;
            trec += (m->added_rows > 0 ? m->added_rows : 0) + (m->existing_rows > 0 ? m->existing_rows : 0);
        } else {
            tdel += files;
        }
    }
    /* kiln.rewrite marks a compaction (kiln_lake_table_file_stats finds the last one) */
    kiln_lake_kv kvs[] = {{"operation", "replace"},
                          {"engine-name", "kiln"},
                          {"engine-version", KILN_VERSION},
                          {"kiln.rewrite", w->posdel ? "position-delete-files" : "data-files"}};
    for (size_t i = 0; i < 4; i++)
        if ((rc = kiln_vec_push(&sum, kvs[i], err)))
            goto done;
    int64_t ppos = summary_num(ps, "total-position-deletes") - rm.pos_rows + pd_rows;
    int64_t peq = summary_num(ps, "total-equality-deletes") - rm.eq_rows;
    if ((rm.added_files && ((rc = summary_add(&sum, a, "added-data-files", rm.added_files, err)) ||
                            (rc = summary_add(&sum, a, "added-records", rm.added_rows, err)) ||
                            (rc = summary_add(&sum, a, "added-files-size", rm.added_bytes, err)))) ||
        (rm.data_files && ((rc = summary_add(&sum, a, "deleted-data-files", rm.data_files, err)) ||
                           (rc = summary_add(&sum, a, "deleted-records", rm.data_rows, err)))) ||
        (rm.del_files && ((rc = summary_add(&sum, a, "removed-delete-files", rm.del_files, err)) ||
                          (rc = summary_add(&sum, a, "removed-position-delete-files", rm.pos_files, err)) ||
                          (rc = summary_add(&sum, a, "removed-equality-delete-files", rm.eq_files, err)) ||
                          (rc = summary_add(&sum, a, "removed-position-deletes", rm.pos_rows, err)) ||
                          (rc = summary_add(&sum, a, "removed-equality-deletes", rm.eq_rows, err)))) ||
        (pd_files && ((rc = summary_add(&sum, a, "added-delete-files", pd_files, err)) ||
                      (rc = summary_add(&sum, a, "added-position-delete-files", pd_files, err)) ||
                      (rc = summary_add(&sum, a, "added-position-deletes", pd_rows, err)) ||
                      (rc = summary_add(&sum, a, "added-files-size", pd_bytes, err)))) ||
        (rc = summary_add(&sum, a, "removed-files-size", rm.data_bytes + rm.del_bytes, err)) ||
        (rc = summary_add(&sum, a, "changed-partition-count", rm.groups, err)) ||
        (rc = summary_add(&sum, a, "total-records", trec, err)) ||
        (rc = summary_add(
             &sum, a, "total-files-size",
             summary_num(ps, "total-files-size") + rm.added_bytes + pd_bytes - rm.data_bytes - rm.del_bytes, err)) ||
        (rc = summary_add(&sum, a, "total-data-files", tdf, err)) ||
        (rc = summary_add(&sum, a, "total-delete-files", tdel, err)) ||
        (rc = summary_add(&sum, a, "total-position-deletes", ppos > 0 ? ppos : 0, err)) ||
        (rc = summary_add(&sum, a, "total-equality-deletes", peq > 0 ? peq : 0, err)))
        goto done;
    kiln_lake_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.snapshot_id = w->snapshot_id;
    snap.parent_id = head;
    snap.sequence_number = seq;
    snap.timestamp_ms = kiln_now_micros() / 1000;
    snap.manifest_list = mluri;
    snap.schema_id = kiln_lake_meta_current_schema(base)->schema_id;
    snap.operation = "replace";
    if (v3) {
        snap.has_row_lineage = 1;
        snap.first_row_id = base->next_row_id;
        snap.added_rows = added_ids;
    }
    snap.nsummary = sum.len;
    snap.summary = sum.items;
    if ((rc = kiln_lake_txn_require_ref_snapshot(txn, w->branch, head, err)) ||
        (rc = kiln_lake_txn_add_snapshot(txn, &snap, err)))
        goto done;
    kiln_lake_ref ref = {w->branch, KILN_LAKE_BRANCH, w->snapshot_id, -1, -1, -1};
    const kiln_lake_ref *old = kiln_lake_meta_ref(base, w->branch);
    if (old) {
        ref.min_snapshots_to_keep = old->min_snapshots_to_keep;
        ref.max_snapshot_age_ms = old->max_snapshot_age_ms;
        ref.max_ref_age_ms = old->max_ref_age_ms;
    }
    if ((rc = kiln_lake_txn_set_ref(txn, &ref, err)))
        goto done;
    /* what this attempt commits */
    kiln_lake_rewrite_data_result *r = w->res;
    r->groups_rewritten = rm.groups;
    r->data_files_rewritten = rm.data_files;
    r->data_files_added = rm.added_files;
    r->bytes_rewritten = rm.data_bytes;
    r->bytes_added = rm.added_bytes;
    r->delete_files_removed = rm.del_files;
    r->rows_read = rm.data_rows;
    r->rows_written = rm.added_rows;
    r->groups_failed = 0;
    for (size_t gi = 0; gi < w->groups.len; gi++)
        r->groups_failed += w->groups.items[gi]->failed;
done:
    kiln_free(mlpath);
    kiln_free(mluri);
    kiln_vec_free(&rows);
    for (size_t i = 0; i < buckets.len; i++)
        kiln_vec_free(&buckets.items[i].ents);
    kiln_vec_free(&buckets);
    kiln_vec_free(&sum);
    kiln_map_free(rm.removed);
    live_free(&li);
    kiln_arena_free(a);
    return rc;
}

static int rebase_hook(kiln_lake_txn *txn, void *ctx, kiln_err *err)
{
    kiln_lake_txn_clear(txn);
    return build(txn, ctx, err);
}

/* ================================================================ entry point */

/* KILN_FAILPOINT=...,lake.rewrite.before-commit=wait:PATH[,...]: the first
 * rewrite commit of the process creates PATH.ready and waits until PATH
 * exists (120 s at most), so a test can commit from another process in
 * between. Same variable as the orchestrator's failpoints. */
static int failpoint_wait(kiln_err *err)
{
    static int fired;
    static const char key[] = "lake.rewrite.before-commit=wait:";
    const char *fp = getenv("KILN_FAILPOINT"), *at = fp ? strstr(fp, key) : NULL;
    if (!at || fired)
        return 0;
    fired = 1;
    at += sizeof key - 1;
    char path[1024], ready[1100];
    snprintf(path, sizeof path, "%.*s", (int)strcspn(at, ","), at);
    snprintf(ready, sizeof ready, "%s.ready", path);
    FILE *f = fopen(ready, "w");
    if (!f)
        return kiln_err_set(err, KILN_EIO, "failpoint: cannot create %s", ready);
    fclose(f);
    for (int i = 0; i < 1200; i++) {
        FILE *g = fopen(path, "r");
        if (g) {
            fclose(g);
            return 0;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return kiln_err_set(err, KILN_EINTERNAL, "failpoint: %s did not appear in 120 s", path);
}

/* One planning, writing and commit. only (may be NULL): rewrite just the
 * groups with these keys; failed_out (may be NULL) receives the keys of
 * the groups dropped by conflict validation. */
static int rewrite_round(kiln_lake_table *t, const kiln_lake_rewrite_data_opts *opts, const kiln_map *only,
                         kiln_map *failed_out, kiln_map *chosen_out, kiln_lake_rewrite_data_result *result,
                         kiln_err *err)
{
    static const kiln_lake_rewrite_data_opts defaults;
    kiln_lake_rewrite_data_result res;
    memset(&res, 0, sizeof res);
    res.snapshot_id = -1;
    rw w;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.o = opts ? *opts : defaults;
    w.branch = w.o.branch && *w.o.branch ? w.o.branch : "main";
    w.res = &res;
    w.only = only;
    w.snapshot_id = kiln_lake_snapshot_id_new();
    kiln_lake_uuid_v4(w.uuid);
    kiln_lake_txn *txn = NULL;
    kiln_buf sj;
    kiln_buf_init(&sj, 0);
    int rc = 0, committing = 0;
    /* a private copy: a lost race makes t reload (and free) its metadata,
     * and the view and plan of the start point into it */
    kiln_lake_meta *m = NULL;
    if ((rc = kiln_lake_meta_clone(&m, kiln_lake_table_meta(t), err)))
        goto done;
    w.a = kiln_arena_new(64 * 1024);
    w.group_map = kiln_map_new();
    w.start_live = kiln_map_new();
    if (!w.a || !w.group_map || !w.start_live) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((w.o.sort_by != NULL) + (w.o.sort_table_order != 0) + (w.o.zorder != NULL) > 1) {
        rc = kiln_err_set(err, KILN_EINVAL, "give one of: the table's sort order, sort columns, z-order columns");
        goto done;
    }
    w.target =
        w.o.target_file_bytes > 0 ? w.o.target_file_bytes : prop_i64(m, "write.target-file-size-bytes", DEFAULT_TARGET);
    w.start_head = branch_head(m, w.branch);
    if (w.start_head == -2) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no branch %s", kiln_lake_table_name(t), w.branch);
        goto done;
    }
    if ((rc = kiln_lake_view_from_meta(&w.view, w.a, m, w.start_head, NULL, err)))
        goto done;
    if (m->format_version >= 3) { /* row lineage: the rows keep _row_id and _last_updated_sequence_number */
        int nc = w.view.schema->ncols;
        if (!(w.lcols = kiln_arena_alloc(w.a, (size_t)(nc + 2) * sizeof *w.lcols))) {
            rc = KILN_OOM(err);
            goto done;
        }
        if (nc)
            memcpy(w.lcols, w.view.schema->cols, (size_t)nc * sizeof *w.lcols);
        w.lcols[nc] = *kiln_lake_lineage_col(KILN_LAKE_COL_ROW_ID, 0);
        w.lcols[nc + 1] = *kiln_lake_lineage_col(KILN_LAKE_COL_LAST_UPDATED_SEQ, 0);
        w.lschema.ncols = nc + 2;
        w.lschema.cols = w.lcols;
        w.lineage = 1;
    }
    const kiln_lake_schema *ls = kiln_lake_meta_current_schema(m);
    /* Nested columns are read as JSON and written back through their shapes
     * (view.nested); a column missing from the view is refused before
     * anything is written, so no column is lost. */
    {
        for (size_t i = 0; i < ls->nfields; i++) {
            if (kiln_schema_find(w.view.schema, ls->fields[i].name) < 0) {
                rc = kiln_err_set(err, KILN_EUNSUPP,
                                  "%s: column %s has a type kiln cannot rewrite yet (%s); nothing was changed",
                                  kiln_lake_table_name(t), ls->fields[i].name,
                                  ls->fields[i].type->name ? ls->fields[i].type->name : "nested");
                goto done;
            }
        }
    }
    if ((rc = kiln_lake__schema_json_text(&sj, ls, err)))
        goto done;
    w.schema_json = sj.data;
    if (w.o.sort_by && (rc = parse_sort(&w, w.o.sort_by, err)))
        goto done;
    if (w.o.sort_table_order && (rc = table_sort(&w, m, err)))
        goto done;
    if (w.o.zorder && (rc = parse_zorder(&w, w.o.zorder, err)))
        goto done;
    if (w.start_head < 0) /* empty table */
        goto done;
    kiln_lake_pred pred, *pp = NULL;
    if (w.o.where && *w.o.where) {
        kiln_schema xs; /* struct leaves by path too: the predicate only chooses files */
        if ((rc = kiln_lake_view_leaf_schema(&w.view, w.a, &xs, err)) ||
            (rc = kiln_lake_pred_parse(&pred, w.a, &xs, w.o.where, err)))
            goto done;
        pp = &pred;
    }
    if ((rc = kiln_lake_plan_new(&w.plan, &w.view, pp, err)))
        goto done;
    for (size_t i = 0; i < kiln_lake_plan_nlive(w.plan) && !rc; i++) {
        const char *p = kiln_lake_plan_live(w.plan, i)->df.file_path;
        rc = kiln_map_put(w.start_live, p, strlen(p), (void *)1, err);
    }
    if (rc || (rc = choose(&w, err)))
        goto done;
    if (chosen_out) { /* planning only: the keys of the groups to rewrite */
        for (size_t i = 0; i < w.groups.len && !rc; i++)
            if (w.groups.items[i]->rewrite)
                rc = kiln_map_put(chosen_out, w.groups.items[i]->key, strlen(w.groups.items[i]->key), (void *)1, err);
        goto done;
    }
    if (w.o.dry_run) {
        /* what would be rewritten, and the delete files that would go */
        live_info li;
        removal rm;
        memset(&rm, 0, sizeof rm);
        if (!(rc = load_live(&li, &w, m, w.start_head, w.a, err)) && !(rc = compute_removal(&w, &li, &rm, err))) {
            res.groups_rewritten = rm.groups;
            res.data_files_rewritten = rm.data_files;
            res.bytes_rewritten = rm.data_bytes;
            res.rows_read = rm.data_rows;
            res.delete_files_removed = rm.del_files;
        }
        kiln_map_free(rm.removed);
        live_free(&li);
        goto done;
    }
    int any = 0;
    for (size_t i = 0; i < w.groups.len && !rc; i++)
        if (w.groups.items[i]->rewrite) {
            any = 1;
            rc = write_group(&w, w.groups.items[i], err);
        }
    if (rc)
        goto done;
    if ((rc = kiln_lake_txn_begin(&txn, t, err)))
        goto done;
    if ((rc = build(txn, &w, err)))
        goto done;
    (void)any;
    if (w.nothing)
        goto done; /* nothing chosen, nothing dangling: no snapshot */
    if (w.o.before_commit && (rc = w.o.before_commit(w.o.before_commit_ctx))) {
        rc = kiln_err_set(err, rc < 0 ? rc : KILN_EINTERNAL, "rewrite aborted by the test hook");
        goto done;
    }
    if ((rc = failpoint_wait(err)))
        goto done;
    kiln_lake_commit_opts co;
    memset(&co, 0, sizeof co);
    if (w.o.commit)
        co = *w.o.commit;
    co.rebase = rebase_hook;
    co.rebase_ctx = &w;
    committing = 1;
    if ((rc = kiln_lake_txn_commit(txn, &co, &res.attempts, err)))
        goto done;
    res.snapshot_id = w.snapshot_id;
    res.commits = 1;
    free_strs(&w.meta_files, 0);
done:;
    /* A failed or empty run leaves no files behind. When the commit itself
     * failed other than by a lost race, the new metadata may have been
     * linked (a catalog update failing after the link is rolled forward on
     * load): the files go only if a fresh load shows no such snapshot. */
    int cleanup = (rc != 0 || res.snapshot_id < 0);
    if (committing && rc != 0 && rc != KILN_ECONFLICT) {
        kiln_err e2 = {0};
        cleanup =
            kiln_lake_table_refresh(t, &e2) == 0 && !kiln_lake_meta_snapshot(kiln_lake_table_meta(t), w.snapshot_id);
    }
    free_strs(&w.meta_files, cleanup);
    for (size_t i = 0; i < w.groups.len; i++) {
        rgroup *g = w.groups.items[i];
        if (failed_out && g->failed) {
            kiln_err e2 = {0};
            kiln_map_put(failed_out, g->key, strlen(g->key), (void *)1, &e2);
        }
        free_strs(&g->written, cleanup);
        kiln_vec_free(&g->tasks);
        kiln_vec_free(&g->chosen);
        kiln_vec_free(&g->added);
    }
    if (res.snapshot_id < 0 && !(rc == 0 && w.o.dry_run)) {
        /* nothing committed: report nothing rewritten (but what failed) */
        kiln_lake_rewrite_data_result keep = res;
        memset(&res, 0, sizeof res);
        res.snapshot_id = -1;
        res.groups_total = keep.groups_total;
        res.attempts = keep.attempts;
        for (size_t i = 0; i < w.groups.len; i++)
            res.groups_failed += w.groups.items[i]->failed;
        memcpy(res.failed_reason, keep.failed_reason, sizeof res.failed_reason);
    }
    kiln_lake_txn_free(txn);
    kiln_vec_free(&w.groups);
    kiln_map_free(w.group_map);
    kiln_map_free(w.start_live);
    kiln_lake_plan_free(w.plan);
    kiln_buf_free(&sj);
    kiln_arena_free(w.a);
    kiln_lake_meta_free(m);
    if (result)
        *result = res;
    return rc;
}

/* The groups in only0 (NULL: all chosen), committed in rounds: the groups
 * a round lost to a conflict are planned and rewritten again on the new
 * head, the finished ones never. */
static int rewrite_rounds(kiln_lake_table *t, const kiln_lake_rewrite_data_opts *opts, kiln_map *only0,
                          kiln_lake_rewrite_data_result *result, kiln_err *err)
{
    int rounds = opts && opts->max_rounds > 0 ? opts->max_rounds : 3;
    kiln_lake_rewrite_data_result total, one;
    memset(&total, 0, sizeof total);
    total.snapshot_id = -1;
    kiln_map *only = only0;
    int rc = 0;
    for (int round = 0; round < rounds; round++) {
        kiln_map *failed = kiln_map_new();
        if (!failed) {
            rc = KILN_OOM(err);
            break;
        }
        rc = rewrite_round(t, opts, only, failed, NULL, &one, err);
        if (round == 0) {
            total = one;
        } else {
            total.groups_rewritten += one.groups_rewritten;
            total.data_files_rewritten += one.data_files_rewritten;
            total.data_files_added += one.data_files_added;
            total.bytes_rewritten += one.bytes_rewritten;
            total.bytes_added += one.bytes_added;
            total.delete_files_removed += one.delete_files_removed;
            total.rows_read += one.rows_read;
            total.rows_written += one.rows_written;
            total.attempts += one.attempts;
            total.commits += one.commits;
            if (one.snapshot_id >= 0)
                total.snapshot_id = one.snapshot_id;
            total.groups_failed = one.groups_failed;
            memcpy(total.failed_reason, one.failed_reason, sizeof total.failed_reason);
        }
        if (rc == KILN_ECONFLICT && kiln_map_len(failed)) /* every group of the round conflicted */
            total.groups_failed = (int64_t)kiln_map_len(failed);
        kiln_map_free(only);
        only = failed;
        int again =
            (rc == 0 || rc == KILN_ECONFLICT) && kiln_map_len(failed) && !(opts && opts->dry_run) && round + 1 < rounds;
        if (!again)
            break;
        /* the failed groups again, planned on the new head; finished ones
         * are not redone */
        kiln_lake_table_refresh(t, &(kiln_err){0});
        rc = 0;
    }
    kiln_map_free(only);
    if (rc == 0 && total.groups_failed == 0)
        total.failed_reason[0] = 0;
    if (rc == KILN_ECONFLICT && total.snapshot_id >= 0)
        rc = 0; /* an earlier round committed: partial success, groups_failed says the rest */
    if (result)
        *result = total;
    return rc;
}

static void result_add(kiln_lake_rewrite_data_result *t, const kiln_lake_rewrite_data_result *o)
{
    t->groups_rewritten += o->groups_rewritten;
    t->groups_failed += o->groups_failed;
    t->data_files_rewritten += o->data_files_rewritten;
    t->data_files_added += o->data_files_added;
    t->bytes_rewritten += o->bytes_rewritten;
    t->bytes_added += o->bytes_added;
    t->delete_files_removed += o->delete_files_removed;
    t->rows_read += o->rows_read;
    t->rows_written += o->rows_written;
    t->attempts += o->attempts;
    t->commits += o->commits;
    if (o->snapshot_id >= 0)
        t->snapshot_id = o->snapshot_id;
    if (o->groups_failed && !t->failed_reason[0])
        memcpy(t->failed_reason, o->failed_reason, sizeof t->failed_reason);
}

int kiln_lake_rewrite_data_files(kiln_lake_table *t, const kiln_lake_rewrite_data_opts *opts,
                                 kiln_lake_rewrite_data_result *result, kiln_err *err)
{
    if (!opts || !opts->partial_progress || opts->dry_run)
        return rewrite_rounds(t, opts, NULL, result, err);
    /* Partial progress: plan once, then commit the chosen groups in up to
     * max_commits batches (in plan order), each with its own rounds. */
    kiln_lake_rewrite_data_result total, one;
    memset(&total, 0, sizeof total);
    total.snapshot_id = -1;
    kiln_map *chosen = kiln_map_new();
    if (!chosen)
        return KILN_OOM(err);
    int rc = rewrite_round(t, opts, NULL, NULL, chosen, &one, err);
    total.groups_total = one.groups_total;
    size_t n = kiln_map_len(chosen);
    size_t nb = (size_t)(opts->max_commits > 0 ? opts->max_commits : 10);
    if (nb > n)
        nb = n;
    if (rc == 0 && n == 0) /* nothing chosen: dangling deletes alone, one commit as without batches */
        rc = rewrite_rounds(t, opts, NULL, &total, err);
    int first_rc = 0;
    size_t pos = 0, done_groups = 0;
    for (size_t b = 0; rc == 0 && b < nb; b++) {
        size_t want = n * (b + 1) / nb - done_groups; /* even batches */
        kiln_map *batch = kiln_map_new();
        if (!batch) {
            rc = KILN_OOM(err);
            break;
        }
        const char *k;
        size_t kl;
        void *v;
        for (size_t i = 0; i < want && rc == 0 && kiln_map_next(chosen, &pos, &k, &kl, &v); i++)
            rc = kiln_map_put(batch, k, kl, (void *)1, err);
        done_groups += want;
        if (rc) {
            kiln_map_free(batch);
            break;
        }
        if (b > 0)
            kiln_lake_table_refresh(t, &(kiln_err){0});
        kiln_err e1 = {0};
        int brc = rewrite_rounds(t, opts, batch, &one, &e1); /* frees batch */
        result_add(&total, &one);
        if (brc == KILN_ECONFLICT) { /* this batch's groups failed; the next ones still run */
            if (!one.groups_failed)
                total.groups_failed += (int64_t)want;
            if (!first_rc) {
                first_rc = brc;
                *err = e1;
            }
        } else if (brc) {
            rc = brc;
            *err = e1;
        }
    }
    kiln_map_free(chosen);
    if (rc == 0 && first_rc && total.snapshot_id < 0)
        rc = first_rc; /* every batch conflicted */
    if (rc == 0 && total.groups_failed == 0)
        total.failed_reason[0] = 0;
    if (result)
        *result = total;
    return rc;
}

/* ================================================================ position delete files */

typedef struct pd_pair {
    const char *path; /* arena */
    size_t len;
    int64_t pos;
} pd_pair;

static int cmp_pd(const void *pa, const void *pb)
{
    const pd_pair *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->path, y->path, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

typedef struct pd_group {
    const kiln_lake_entry *first; /* spec id and partition */
    KILN_VEC(const kiln_lake_entry *) files;
} pd_group;

/* Read delete file e's (file_path, pos) entries naming a data file live at
 * its sequence number into pairs (strings in a); *read += entries read. */
static int pd_read(const live_info *li, const kiln_lake_entry *e, kiln_arena *a, void *pairs_v, int64_t *read,
                   kiln_err *err)
{
    KILN_VEC(pd_pair) *pairs = pairs_v;
    char *path = kiln_lake_remap_path(a, &li->view.remap, e->df.file_path);
    char *local = NULL;
    kiln_parquet_reader *r = NULL;
    if (!path)
        return KILN_OOM(err);
    int rc = kiln_lake__io_local_file(&local, path, err);
    if (!rc)
        rc = kiln_parquet_reader_open(&r, local, NULL, err);
    if (local)
        kiln_lake__io_local_release(local, path);
    kiln_free(local);
    if (rc)
        goto done;
    int cols[2] = {kiln_parquet_reader_find_field_id(r, POS_FILE_PATH_ID),
                   kiln_parquet_reader_find_field_id(r, POS_FILE_PATH_ID - 1)};
    if (cols[0] < 0)
        cols[0] = kiln_parquet_reader_find(r, "file_path");
    if (cols[1] < 0)
        cols[1] = kiln_parquet_reader_find(r, "pos");
    if (cols[0] < 0 || cols[1] < 0) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: position delete file without file_path/pos columns", path);
        goto done;
    }
    if ((rc = kiln_parquet_reader_project(r, cols, 2, err)))
        goto done;
    const kiln_batch *b;
    while ((rc = kiln_parquet_reader_next(r, &b, err)) == 1) {
        for (size_t row = 0; row < b->nrows; row++) {
            if (kiln_batch_is_null(b, 0, row) || kiln_batch_is_null(b, 1, row))
                continue;
            (*read)++;
            size_t n;
            const char *s = kiln_batch_str(b, 0, row, &n);
            const kiln_lake_entry *d = kiln_map_get(li->live, s, n);
            if (!d || d->df.content != KILN_LAKE_CONTENT_DATA || d->seq > e->seq)
                continue; /* dangling: its data file is gone */
            pd_pair p = {kiln_arena_strndup(a, s, n), n,
                         b->cols[1].type == KILN_T_INT32 ? b->cols[1].v.i32[row] : b->cols[1].v.i64[row]};
            if (!p.path) {
                rc = KILN_OOM(err);
                goto done;
            }
            if ((rc = kiln_vec_push(pairs, p, err)))
                goto done;
        }
    }
    rc = rc < 0 ? rc : 0;
done:
    kiln_parquet_reader_free(r);
    return rc;
}

/* Write the sorted, deduplicated pairs as one position delete file of the
 * group's partition; its ADDED entry into w->pd_added. */
static int pd_write(rw *w, const live_info *li, const pd_group *g, pd_pair *pairs, size_t n,
                    kiln_lake_rewrite_posdel_result *res, kiln_err *err)
{
    static const kiln_column_def PC[] = {{"file_path", KILN_T_STRING, 1, POS_FILE_PATH_ID, 0, 0},
                                         {"pos", KILN_T_INT64, 1, POS_FILE_PATH_ID - 1, 0, 0}};
    static const kiln_schema PS = {2, PC};
    kiln_batch *b = NULL;
    kiln_parquet_writer *pw = NULL;
    kiln_parquet_file_stats st;
    memset(&st, 0, sizeof st);
    char *path = NULL, *stored = NULL;
    char *local = kiln_sprintf("%s/data/%05zu-%s-deletes.parquet", kiln_lake_table_dir(w->t), w->nfile++, w->uuid);
    int rc = 0;
    if (!local)
        return KILN_OOM(err);
    if ((rc = kiln_vec_push(&w->pd_written, local, err))) {
        kiln_free(local);
        return rc;
    }
    if ((rc = kiln_lake__io_mkdirs(kiln_lake_table_dir(w->t), err)))
        return rc;
    stored = kiln_lake_path_to_uri(local);
    if (!stored)
        return KILN_OOM(err);
    kiln_sort(pairs, n, sizeof *pairs, cmp_pd);
    if ((rc = kiln_lake__io_local_file(&path, local, err)) ||
        (rc = kiln_parquet_writer_open(&pw, path, &PS, NULL, err)) ||
        (rc = kiln_batch_new(&b, &PS, OUT_BATCH_ROWS, 0, err)))
        goto done;
    for (size_t i = 0; i < n && !rc; i++) {
        if (i && cmp_pd(&pairs[i - 1], &pairs[i]) == 0)
            continue; /* the same row named by two files */
        res->deletes_written++;
        if ((rc = kiln_batch_put_str(b, 0, pairs[i].path, pairs[i].len, err)) ||
            (rc = kiln_batch_put_i64(b, 1, pairs[i].pos, err)) || (rc = kiln_batch_end_row(b, err)))
            break;
        if (b->nrows >= OUT_BATCH_ROWS) {
            rc = kiln_parquet_writer_write(pw, b, err);
            kiln_batch_clear(b);
        }
    }
    if (!rc && b->nrows)
        rc = kiln_parquet_writer_write(pw, b, err);
    if (!rc)
        rc = kiln_parquet_writer_close(pw, &st, err);
    if (rc)
        goto done;
    kiln_lake_entry e;
    memset(&e, 0, sizeof e);
    e.status = KILN_LAKE_STATUS_ADDED;
    e.snapshot_id = -1;
    const kiln_lake_entry *f = g->first;
    if ((rc = kiln_lake__datafile_from_stats(&e.df, w->a, stored, f->df.spec_id,
                                             kiln_lake_view_spec(&li->view, f->df.spec_id), f->df.partition, &PS, &st,
                                             0, err)))
        goto done;
    e.df.content = KILN_LAKE_CONTENT_POS_DELETES;
    e.df.has_sort_order_id = 0; /* position deletes: sorted by file and position, no order id (spec) */
    e.df.npart = f->df.npart;
    res->delete_files_added++;
    res->bytes_added += e.df.file_size_in_bytes;
    rc = kiln_vec_push(&w->pd_added, e, err);
done:
    kiln_parquet_file_stats_free(&st);
    kiln_parquet_writer_free(pw);
    kiln_batch_free(b);
    kiln_free(path);
    kiln_free(stored);
    return rc;
}

static int cmp_dv_out(const void *pa, const void *pb)
{
    return strcmp(((const kiln_lake__dv_out *)pa)->data_file, ((const kiln_lake__dv_out *)pb)->data_file);
}

/* v3: the table's Parquet position delete files become deletion vectors
 * (the spec: v3 writers add no position delete files, and a data file has
 * at most one vector). Every position they name in a live data file, with
 * the data file's existing vector merged in, goes into one Puffin file of
 * one vector per data file; the Parquet files go, and so do the Puffin
 * files holding a replaced vector (their other vectors are carried into
 * the new file: entries of one Puffin file are removed by its path).
 * Dangling positions (data file gone) are dropped. */
static int pd_to_dvs(rw *w, const live_info *li, int dry_run, kiln_lake_rewrite_posdel_result *res, kiln_err *err)
{
    KILN_VEC(pd_pair) pairs = {0};
    KILN_VEC(kiln_lake__dv_out) outs = {0};
    kiln_map *targets = kiln_map_new(), *puffins = kiln_map_new();
    kiln_i64set *set = NULL;
    char *local = NULL, *uri = NULL;
    int rc = 0;
    if (!targets || !puffins) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < li->entries.len && !rc; i++) {
        const kiln_lake_entry *e = &li->entries.items[i];
        if (e->df.content != KILN_LAKE_CONTENT_POS_DELETES ||
            (e->df.file_format && strcasecmp(e->df.file_format, "PARQUET") != 0))
            continue;
        res->delete_files_rewritten++;
        res->bytes_rewritten += e->df.file_size_in_bytes;
        if (!(rc = kiln_vec_push(&w->pd_removed, e->df.file_path, err)))
            rc = pd_read(li, e, w->a, &pairs, &res->deletes_read, err);
    }
    if (rc || !w->pd_removed.len)
        goto done; /* no Parquet position deletes: nothing to convert */
    for (size_t i = 0; i < pairs.len && !rc; i++)
        rc = kiln_map_put(targets, pairs.items[i].path, pairs.items[i].len, (void *)1, err);
    /* the Puffin files holding a vector of a target, then all their vectors */
    for (size_t i = 0; i < li->entries.len && !rc; i++) {
        const kiln_lake_entry *e = &li->entries.items[i];
        if (e->df.content == KILN_LAKE_CONTENT_POS_DELETES && e->df.file_format &&
            !strcasecmp(e->df.file_format, "PUFFIN") && e->df.referenced_data_file &&
            kiln_map_get(targets, e->df.referenced_data_file, strlen(e->df.referenced_data_file)) &&
            !kiln_map_get(puffins, e->df.file_path, strlen(e->df.file_path)) &&
            !(rc = kiln_map_put(puffins, e->df.file_path, strlen(e->df.file_path), (void *)1, err))) {
            res->delete_files_rewritten++;
            res->bytes_rewritten += e->df.file_size_in_bytes;
            rc = kiln_vec_push(&w->pd_removed, e->df.file_path, err);
        }
    }
    for (size_t i = 0; i < li->entries.len && !rc; i++) {
        const kiln_lake_entry *e = &li->entries.items[i];
        if (e->df.content != KILN_LAKE_CONTENT_POS_DELETES || !e->df.file_format ||
            strcasecmp(e->df.file_format, "PUFFIN") != 0 ||
            !kiln_map_get(puffins, e->df.file_path, strlen(e->df.file_path)))
            continue;
        const char *ref = e->df.referenced_data_file;
        const kiln_lake_entry *d = ref ? kiln_map_get(li->live, ref, strlen(ref)) : NULL;
        if (!d || d->df.content != KILN_LAKE_CONTENT_DATA)
            continue; /* its data file is gone: the vector goes with the Puffin file */
        char *path = kiln_lake_remap_path(w->a, &li->view.remap, e->df.file_path);
        kiln_i64set_free(set);
        if (!path || !(set = kiln_i64set_new())) {
            rc = KILN_OOM(err);
            break;
        }
        rc = kiln_lake__io_local_file(&local, path, err);
        if (!rc)
            rc = kiln_lake__dv_load(set, local, e->df.content_offset, e->df.content_size, err);
        if (local)
            kiln_lake__io_local_release(local, path);
        kiln_free(local);
        local = NULL;
        size_t it = 0;
        int64_t x;
        const char *rp = rc ? NULL : kiln_arena_strndup(w->a, ref, strlen(ref));
        if (!rc && !rp)
            rc = KILN_OOM(err);
        while (!rc && kiln_i64set_next(set, &it, &x)) {
            pd_pair pp = {rp, strlen(rp), x};
            res->deletes_read++;
            rc = kiln_vec_push(&pairs, pp, err);
        }
    }
    if (rc || !pairs.len)
        goto done; /* every entry dangling: the files just go */
    /* one vector per data file: (path, pos) sorted, duplicates dropped */
    kiln_sort(pairs.items, pairs.len, sizeof *pairs.items, cmp_pd);
    int64_t *pos = kiln_arena_alloc(w->a, pairs.len * sizeof *pos);
    if (!pos) {
        rc = KILN_OOM(err);
        goto done;
    }
    size_t np = 0;
    for (size_t i = 0; i < pairs.len && !rc; i++) {
        if (i && cmp_pd(&pairs.items[i - 1], &pairs.items[i]) == 0)
            continue;
        if (!i || pairs.items[i - 1].len != pairs.items[i].len ||
            memcmp(pairs.items[i - 1].path, pairs.items[i].path, pairs.items[i].len)) {
            kiln_lake__dv_out o;
            memset(&o, 0, sizeof o);
            o.data_file = pairs.items[i].path;
            o.pos = pos + np;
            rc = kiln_vec_push(&outs, o, err);
        }
        if (!rc) {
            pos[np++] = pairs.items[i].pos;
            outs.items[outs.len - 1].n++;
            res->deletes_written++;
        }
    }
    if (rc)
        goto done;
    kiln_sort(outs.items, outs.len, sizeof *outs.items, cmp_dv_out);
    res->partitions = (int64_t)outs.len; /* v3: data files given a vector */
    res->delete_files_added = 1;
    for (size_t i = 0; i < outs.len && !rc; i++)
        rc = kiln_vec_push(&w->dv_targets, outs.items[i].data_file, err);
    if (rc || dry_run)
        goto done;
    const char *tdir = kiln_lake_table_dir(w->t);
    char *ddir = kiln_sprintf("%s/data", tdir);
    rc = ddir ? kiln_lake__io_mkdirs(ddir, err) : KILN_OOM(err);
    kiln_free(ddir);
    if (!rc && (!(local = kiln_sprintf("%s/data/%05zu-%s-deletes.puffin", tdir, w->nfile++, w->uuid)) ||
                !(uri = kiln_lake_path_to_uri(local))))
        rc = KILN_OOM(err);
    if (rc)
        goto done;
    if ((rc = kiln_vec_push(&w->pd_written, local, err))) {
        kiln_free(local);
        local = NULL;
        goto done;
    }
    int64_t fsize = 0;
    rc = kiln_lake__puffin_write_dvs(local, outs.items, outs.len, &fsize, err);
    local = NULL; /* pd_written owns it */
    const char *stored = rc ? NULL : kiln_arena_strndup(w->a, uri, strlen(uri));
    if (!rc && !stored)
        rc = KILN_OOM(err);
    res->bytes_added = fsize;
    for (size_t i = 0; i < outs.len && !rc; i++) {
        const kiln_lake_entry *d = kiln_map_get(li->live, outs.items[i].data_file, strlen(outs.items[i].data_file));
        kiln_lake_entry e;
        memset(&e, 0, sizeof e);
        e.status = KILN_LAKE_STATUS_ADDED;
        e.snapshot_id = -1;
        e.df.content = KILN_LAKE_CONTENT_POS_DELETES;
        e.df.file_path = stored;
        e.df.file_format = "PUFFIN";
        e.df.spec_id = d->df.spec_id;
        e.df.npart = d->df.npart;
        e.df.partition = d->df.partition;
        e.df.record_count = (int64_t)outs.items[i].n;
        e.df.file_size_in_bytes = fsize;
        e.df.referenced_data_file = outs.items[i].data_file;
        e.df.content_offset = outs.items[i].offset;
        e.df.content_size = outs.items[i].length;
        rc = kiln_vec_push(&w->pd_added, e, err);
    }
done:
    kiln_free(local);
    kiln_free(uri);
    kiln_i64set_free(set);
    kiln_map_free(targets);
    kiln_map_free(puffins);
    kiln_vec_free(&pairs);
    kiln_vec_free(&outs);
    return rc;
}

int kiln_lake_rewrite_position_delete_files(kiln_lake_table *t, const kiln_lake_rewrite_posdel_opts *opts,
                                            kiln_lake_rewrite_posdel_result *result, kiln_err *err)
{
    kiln_lake_rewrite_posdel_result res;
    memset(&res, 0, sizeof res);
    res.snapshot_id = -1;
    kiln_lake_rewrite_data_result dres;
    memset(&dres, 0, sizeof dres);
    rw w;
    memset(&w, 0, sizeof w);
    w.t = t;
    w.posdel = 1;
    w.branch = opts && opts->branch && *opts->branch ? opts->branch : "main";
    w.res = &dres;
    w.snapshot_id = kiln_lake_snapshot_id_new();
    kiln_lake_uuid_v4(w.uuid);
    kiln_lake_txn *txn = NULL;
    kiln_lake_meta *m = NULL;
    kiln_map *gmap = NULL;
    KILN_VEC(pd_group) groups = {0};
    KILN_VEC(pd_pair) pairs = {0};
    live_info li;
    memset(&li, 0, sizeof li);
    kiln_buf k, sj;
    kiln_buf_init(&k, 0);
    kiln_buf_init(&sj, 0);
    int rc = 0, committing = 0;
    if ((rc = kiln_lake__refuse_registered(t, err)) || (rc = kiln_lake_meta_clone(&m, kiln_lake_table_meta(t), err)))
        goto done;
    w.a = kiln_arena_new(64 * 1024);
    gmap = kiln_map_new();
    if (!w.a || !gmap) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake__schema_json_text(&sj, kiln_lake_meta_current_schema(m), err)))
        goto done;
    w.schema_json = sj.data;
    w.start_head = branch_head(m, w.branch);
    if (w.start_head == -2) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no branch %s", kiln_lake_table_name(t), w.branch);
        goto done;
    }
    if (w.start_head < 0) /* empty table */
        goto done;
    if ((rc = load_live(&li, &w, m, w.start_head, w.a, err)))
        goto done;
    if (m->format_version >= 3 && (rc = pd_to_dvs(&w, &li, opts && opts->dry_run, &res, err)))
        goto done;
    /* the Parquet position delete files of each partition (groups indexed by position + 1) */
    for (size_t i = 0; i < li.entries.len && !rc && m->format_version < 3; i++) {
        const kiln_lake_entry *e = &li.entries.items[i];
        if (e->df.content != KILN_LAKE_CONTENT_POS_DELETES ||
            (e->df.file_format && strcasecmp(e->df.file_format, "PARQUET") != 0))
            continue;
        if ((rc = entry_key(&k, &li.view, e, err)))
            break;
        size_t gi = (size_t)(uintptr_t)kiln_map_get(gmap, k.data, k.len);
        if (!gi) {
            pd_group g;
            memset(&g, 0, sizeof g);
            g.first = e;
            if ((rc = kiln_vec_push(&groups, g, err)))
                break;
            gi = groups.len;
            if ((rc = kiln_map_put(gmap, k.data, k.len, (void *)(uintptr_t)gi, err)))
                break;
        }
        rc = kiln_vec_push(&groups.items[gi - 1].files, e, err);
    }
    for (size_t gi = 0; gi < groups.len && !rc; gi++) {
        pd_group *g = &groups.items[gi];
        int64_t read = 0, rows = 0;
        pairs.len = 0;
        for (size_t i = 0; i < g->files.len && !rc; i++) {
            rows += g->files.items[i]->df.record_count;
            rc = pd_read(&li, g->files.items[i], w.a, &pairs, &read, err);
        }
        if (rc)
            break;
        if (g->files.len < 2 && (size_t)read == pairs.len)
            continue; /* one file, every entry live: nothing to gain */
        res.partitions++;
        res.deletes_read += read;
        for (size_t i = 0; i < g->files.len && !rc; i++) {
            res.delete_files_rewritten++;
            res.bytes_rewritten += g->files.items[i]->df.file_size_in_bytes;
            rc = kiln_vec_push(&w.pd_removed, g->files.items[i]->df.file_path, err);
        }
        if (rc || !pairs.len)
            continue; /* every entry dangling: the files just go */
        if (opts && opts->dry_run) {
            kiln_sort(pairs.items, pairs.len, sizeof *pairs.items, cmp_pd);
            res.delete_files_added++;
            for (size_t i = 0; i < pairs.len; i++)
                res.deletes_written += !(i && cmp_pd(&pairs.items[i - 1], &pairs.items[i]) == 0);
            continue;
        }
        rc = pd_write(&w, &li, g, pairs.items, pairs.len, &res, err);
    }
    if (rc || (opts && opts->dry_run) || !w.pd_removed.len)
        goto done;
    if ((rc = kiln_lake_txn_begin(&txn, t, err)) || (rc = build(txn, &w, err)))
        goto done;
    if (w.nothing || (rc = failpoint_wait(err)))
        goto done;
    kiln_lake_commit_opts co;
    memset(&co, 0, sizeof co);
    co.rebase = rebase_hook;
    co.rebase_ctx = &w;
    committing = 1;
    if ((rc = kiln_lake_txn_commit(txn, &co, NULL, err)))
        goto done;
    res.snapshot_id = w.snapshot_id;
    free_strs(&w.meta_files, 0);
done:;
    int cleanup = rc != 0 || res.snapshot_id < 0;
    if (committing && rc != 0 && rc != KILN_ECONFLICT) {
        kiln_err e2 = {0};
        cleanup =
            kiln_lake_table_refresh(t, &e2) == 0 && !kiln_lake_meta_snapshot(kiln_lake_table_meta(t), w.snapshot_id);
    }
    free_strs(&w.meta_files, cleanup);
    free_strs(&w.pd_written, cleanup);
    if (res.snapshot_id < 0 && !(rc == 0 && opts && opts->dry_run)) {
        memset(&res, 0, sizeof res); /* nothing committed */
        res.snapshot_id = -1;
    }
    for (size_t i = 0; i < groups.len; i++)
        kiln_vec_free(&groups.items[i].files);
    kiln_vec_free(&groups);
    kiln_vec_free(&pairs);
    kiln_vec_free(&w.pd_removed);
    kiln_vec_free(&w.pd_added);
    kiln_vec_free(&w.dv_targets);
    kiln_map_free(gmap);
    live_free(&li);
    kiln_lake_txn_free(txn);
    kiln_buf_free(&k);
    kiln_buf_free(&sj);
    kiln_arena_free(w.a);
    kiln_lake_meta_free(m);
    if (result)
        *result = res;
    return rc;
}
