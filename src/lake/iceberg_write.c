/*
 * iceberg_write.c - operations that add snapshots to an Iceberg v2 table:
 * append, dynamic partition overwrite, MERGE by key (upsert) and delete by
 * predicate, all copy-on-write, each one atomic commit through lake.h's
 * transaction.
 *
 * DESIGN
 *   stage     rows given to the writer are copied into table-schema batches
 *             ("stores"); nothing touches the table before commit.
 *   group     at commit every staged row gets its partition tuple under the
 *             default spec; rows are grouped by tuple (directory name
 *             "name=value/..." is the group key).
 *   files     APPEND/OVERWRITE write each group as Parquet files. MERGE
 *             dedupes the source by key (last row wins), and for each group
 *             reads only the live files of that partition whose key bounds
 *             may hold a source key; a file is rewritten only if one of its
 *             rows actually changes, so the same MERGE run twice changes
 *             nothing the second time (no snapshot: result->noop = 1).
 *             Unmatched source rows are inserted as new files. DELETE plans
 *             with the predicate (partition + stats pruning) and rewrites
 *             files that hold matching rows.
 *   commit    one manifest of ADDED entries (null sequence numbers, so they
 *             inherit), manifests holding removed files rewritten (removed
 *             -> DELETED, others EXISTING with explicit sequence numbers),
 *             the other manifests carried over, a new manifest list, then
 *             add-snapshot + set-snapshot-ref with assert-ref-snapshot-id.
 *             build_commit() derives all of that from a base metadata, so
 *             the rebase hook simply rebuilds it on the new head after
 *             checking the operation does not overlap what was committed
 *             meanwhile (removed files still live; no new files in touched
 *             partitions), else KILN_ECONFLICT.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "format/parquet/parquet.h"
#include "lake/lake.h"
#include "lake/lake_data_int.h"
#include "lake/lake_io.h"

/* ================================================================ row stores */

typedef struct store {
    const kiln_schema *schema;
    KILN_VEC(kiln_batch *) chunks;
    size_t nrows;
} store;

#define STORE_CHUNK 8192

typedef struct rowref {
    uint32_t chunk, row;
} rowref;

static void store_free(store *s)
{
    for (size_t i = 0; i < s->chunks.len; i++)
        kiln_batch_free(s->chunks.items[i]);
    kiln_vec_free(&s->chunks);
    s->nrows = 0;
}

static void store_reset(store *s) { store_free(s); }

static kiln_lake_value cell(const kiln_batch *b, int c, size_t row)
{
    kiln_lake_value v;
    kiln_lake__cell(&v, b, c, row);
    return v;
}

/* Put v (of source type st) into column c of b (converting numbers). */
static int put(kiln_batch *b, int c, const kiln_lake_value *v, kiln_type st, kiln_err *err)
{
    if (v->is_null)
        return kiln_batch_put_null(b, c, err);
    int st_float = st == KILN_T_FLOAT || st == KILN_T_DOUBLE;
    switch (b->cols[c].type) {
    case KILN_T_BOOL: return kiln_batch_put_bool(b, c, (int)v->i, err);
    case KILN_T_INT32:
    case KILN_T_DATE: return kiln_batch_put_i32(b, c, (int32_t)(st_float ? (int64_t)v->d : v->i), err);
    case KILN_T_FLOAT: return kiln_batch_put_f32(b, c, (float)(st_float ? v->d : (double)v->i), err);
    case KILN_T_DOUBLE: return kiln_batch_put_f64(b, c, st_float ? v->d : (double)v->i, err);
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_UUID:
        if (st != KILN_T_STRING && st != KILN_T_BINARY && st != KILN_T_UUID)
            return kiln_err_set(err, KILN_EINVAL, "column %s: a %s value cannot go into a %s column",
                                b->schema->cols[c].name, kiln_type_name(st), kiln_type_name(b->cols[c].type));
        return kiln_batch_put_str(b, c, (const char *)v->bytes, v->len, err);
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
        if (st != b->cols[c].type)
            return kiln_err_set(err, KILN_EINVAL, "column %s: a %s value cannot go into a %s column",
                                b->schema->cols[c].name, kiln_type_name(st), kiln_type_name(b->cols[c].type));
        return kiln_batch_put_str(b, c, (const char *)v->bytes, v->len, err);
    default: return kiln_batch_put_i64(b, c, st_float ? (int64_t)v->d : v->i, err);
    }
}

static int store_tail(store *s, kiln_batch **out, kiln_err *err)
{
    if (!s->chunks.len || kiln_batch_full(s->chunks.items[s->chunks.len - 1])) {
        kiln_batch *b;
        int rc = kiln_batch_new(&b, s->schema, STORE_CHUNK, 0, err);
        if (rc)
            return rc;
        if ((rc = kiln_vec_push(&s->chunks, b, err))) {
            kiln_batch_free(b);
            return rc;
        }
    }
    *out = s->chunks.items[s->chunks.len - 1];
    return 0;
}

/* Append row `row` of b (same schema as the store) to s. */
static int store_add_same(store *s, const kiln_batch *b, size_t row, kiln_err *err)
{
    kiln_batch *t;
    int rc = store_tail(s, &t, err);
    for (int c = 0; !rc && c < s->schema->ncols; c++) {
        kiln_lake_value v = cell(b, c, row);
        rc = put(t, c, &v, b->cols[c].type, err);
    }
    if (!rc)
        rc = kiln_batch_end_row(t, err);
    if (!rc)
        s->nrows++;
    return rc;
}

static const kiln_batch *ref_batch(const store *s, rowref r) { return s->chunks.items[r.chunk]; }

/* ================================================================ keys */

static int key_of(kiln_buf *k, const kiln_batch *b, size_t row, const int *cols, int n, kiln_err *err)
{
    kiln_buf_reset(k);
    for (int i = 0; i < n; i++) {
        int rc = kiln_lake__key_append(k, b, cols[i], row, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* The first n columns of row `row` of b as a key. */
static int row_of(kiln_buf *k, const kiln_batch *b, size_t row, int n, kiln_err *err)
{
    kiln_buf_reset(k);
    for (int c = 0; c < n && c < b->schema->ncols; c++) {
        int rc = kiln_lake__key_append(k, b, c, row, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* ================================================================ writer */

typedef struct group {
    kiln_lake_value *part; /* spec nfields values (arena) */
    char *dir;             /* "name=value/..." ("" when unpartitioned) */
    KILN_VEC(rowref) rows;
} group;

typedef KILN_VEC(group *) group_vec;

/* v3: a data file this commit deletes rows from with a deletion vector.
 * set: every position deleted once committed (the file's earlier deletes
 * merged in); old_dv: the vector it replaces ("path#offset"), or NULL. */
typedef struct dv_target {
    const char *data_file;
    int spec_id;
    int npart;
    kiln_lake_value *part;
    kiln_i64set *set;
    const char *old_dv;
    int64_t old_card;
    int64_t new_rows; /* positions this commit adds */
} dv_target;

struct kiln_lake_writer {
    kiln_lake_table *t;
    kiln_lake_write_opts opts;
    char branch[129];
    char branch_from[129]; /* "" = main */
    kiln_arena *arena;
    kiln_lake_view view; /* of the branch head when opened */
    const kiln_lake_pspec *spec;
    store src;
    int nkeys;
    int key_cols[16];
    /* commit state */
    KILN_VEC(kiln_lake_entry) added;
    KILN_VEC(kiln_lake_entry) removed;
    group_vec touched;      /* partitions whose files an overwrite/merge/delete read */
    kiln_map *touched_live; /* live data file paths in touched partitions at the first base */
    int check_touched;
    kiln_lake_manifest added_manifest;
    int has_added_manifest;
    int64_t snapshot_id;
    int attempt;
    size_t dv_found_data, dv_found_old; /* build_commit: targets still live, old vectors found */
    int is_delete;
    int64_t rows_deleted_by_remove;
    char *schema_json;
    int schema_id;
    size_t nfile;
    char uuid[37];
    /* v3 (format-version 3): DELETE and MERGE write deletion vectors */
    int dv_mode;
    KILN_VEC(dv_target) dvs;
    KILN_VEC(kiln_lake_manifest) dv_manifests; /* the delete manifests of the vectors (commit_files) */
    kiln_map *dv_old;                          /* old_dv keys of dvs */
    /* v3 write-default per column (has_wdef[c]): what a row lacking the column gets */
    uint8_t *has_wdef;
    kiln_lake_value *wdef;
    const char **wdef_json; /* per column: the default's JSON text; NULL when no column has one */
    /* v3 nanosecond timestamps: the table column is exact text, the file
     * column INT64 TIMESTAMP(NANOS); ns_col[c] = 1 (timestamp_ns), 2 (tz) */
    uint8_t *ns_col;
    kiln_schema fschema;  /* the data files' schema when ns_col */
    kiln_arena *pscratch; /* row_partition: values of partition sources inside structs (reset per row) */
};

const char *const *kiln_lake_writer_write_defaults(const kiln_lake_writer *w) { return w->wdef_json; }

const kiln_schema *kiln_lake_writer_schema(const kiln_lake_writer *w) { return w->view.schema; }

static int64_t branch_head(const kiln_lake_meta *m, const char *branch)
{
    const kiln_lake_ref *r = kiln_lake_meta_ref(m, branch);
    if (r)
        return r->snapshot_id;
    if (!strcmp(branch, "main"))
        return m->current_snapshot_id;
    return -2; /* branch does not exist yet */
}

/* Where a branch that does not exist yet starts: branch_from's head, or
 * main's when that is missing too (-1: the table has no snapshot). */
static int64_t fork_head(const kiln_lake_meta *m, const char *from)
{
    int64_t h = from[0] ? branch_head(m, from) : -2;
    return h == -2 ? m->current_snapshot_id : h;
}

/* A nanosecond timestamp anywhere in type t? (kiln reads them as exact
 * text but its Parquet writer would store that text as a string column,
 * which no reader of the table's type accepts.) */
static int has_ns(const kiln_lake_type *t)
{
    if (!t)
        return 0;
    if (t->kind == KILN_LAKE_TIMESTAMP_NS || t->kind == KILN_LAKE_TIMESTAMPTZ_NS)
        return 1;
    for (size_t i = 0; t->kind == KILN_LAKE_STRUCT && i < t->nfields; i++)
        if (has_ns(t->fields[i].type))
            return 1;
    return (t->kind == KILN_LAKE_LIST && has_ns(t->element)) ||
           (t->kind == KILN_LAKE_MAP && (has_ns(t->key) || has_ns(t->value)));
}

int kiln_lake_writer_open(kiln_lake_writer **out, kiln_lake_table *t, const kiln_lake_write_opts *opts, kiln_err *err)
{
    if (kiln_lake__refuse_registered(t, err))
        return err->code;
    int rc = 0;
    kiln_lake_writer *w = kiln_calloc(1, sizeof *w);
    kiln_buf sj;
    kiln_buf_init(&sj, 0);
    if (!w || !(w->arena = kiln_arena_new(64 * 1024))) {
        kiln_free(w);
        return KILN_OOM(err);
    }
    w->t = t;
    if (opts)
        w->opts = *opts;
    if (!w->opts.mode)
        w->opts.mode = KILN_LAKE_WRITE_APPEND;
    if (!w->opts.target_file_rows)
        w->opts.target_file_rows = 1000000;
    const char *br = w->opts.branch && *w->opts.branch ? w->opts.branch : "main";
    if (!(w->opts.branch && *w->opts.branch) && getenv("KILN_BRANCH") && *getenv("KILN_BRANCH"))
        br = getenv("KILN_BRANCH"); /* a task of `kiln dags backfill --branch` writes on its branch */
    if (strlen(br) >= sizeof w->branch) {
        rc = kiln_err_set(err, KILN_EINVAL, "branch name too long");
        goto done;
    }
    strcpy(w->branch, br);
    const char *from = w->opts.branch_from ? w->opts.branch_from : "";
    if (strlen(from) >= sizeof w->branch_from) {
        rc = kiln_err_set(err, KILN_EINVAL, "branch name too long");
        goto done;
    }
    strcpy(w->branch_from, from);
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int64_t head = branch_head(m, w->branch);
    if (head == -2)
        head = fork_head(m, w->branch_from);
    if ((rc = kiln_lake_view_from_meta(&w->view, w->arena, m, head, NULL, err)))
        goto done;
    w->spec = kiln_lake_view_spec(&w->view, m->default_spec_id);
    for (int i = 0; w->spec && i < w->spec->nfields; i++)
        if (w->spec->fields[i].xform == KILN_LAKE_XF_UNKNOWN) {
            rc = kiln_err_set(err, KILN_EUNSUPP, "%s: partition field %s uses a transform kiln cannot compute",
                              kiln_lake_table_name(t), w->spec->fields[i].name);
            goto done;
        }
    w->src.schema = w->view.schema;
    const kiln_lake_schema *ls = w->view.lschema; /* the head's (a schema staged on a branch) or the current one */
    for (size_t i = 0; ls && i < ls->nfields; i++) {
        const kiln_lake_type *ft = ls->fields[i].type;
        int top = ft->kind == KILN_LAKE_TIMESTAMP_NS || ft->kind == KILN_LAKE_TIMESTAMPTZ_NS;
        if (!has_ns(ft))
            continue;
        if (m->format_version < 3 || (int)i >= w->view.schema->ncols) {
            rc = kiln_err_set(err, KILN_EUNSUPP,
                              "%s: column %s holds a nanosecond timestamp (%s): kiln writes them only in "
                              "format-version 3 tables (docs/interop.md)",
                              kiln_lake_table_name(t), ls->fields[i].name, ft->name ? ft->name : "nested");
            goto done;
        }
        if (!top)
            continue; /* inside a nested column: the Parquet writer's shape (view.nested) parses its text */
        int nc = w->view.schema->ncols;
        if (!w->ns_col) {
            kiln_column_def *fc = kiln_arena_alloc(w->arena, (size_t)nc * sizeof *fc);
            if (!fc || !(w->ns_col = kiln_arena_alloc(w->arena, (size_t)nc))) {
                rc = KILN_OOM(err);
                goto done;
            }
            memset(w->ns_col, 0, (size_t)nc);
            memcpy(fc, w->view.schema->cols, (size_t)nc * sizeof *fc);
            w->fschema.ncols = nc;
            w->fschema.cols = fc;
        }
        kiln_column_def *fc = (kiln_column_def *)&w->fschema.cols[i];
        w->ns_col[i] = ft->kind == KILN_LAKE_TIMESTAMPTZ_NS ? 2 : 1;
        fc->type = KILN_T_INT64;
        fc->scale = w->ns_col[i] == 2 ? KILN_PARQUET_TSTZ_NANOS : KILN_PARQUET_TS_NANOS;
        fc->precision = 0;
    }
    if ((rc = kiln_lake__schema_json_text(&sj, ls, err)))
        goto done;
    w->schema_json = kiln_arena_strndup(w->arena, sj.data, sj.len);
    w->schema_id = ls->schema_id;
    if (w->opts.mode == KILN_LAKE_WRITE_MERGE) {
        const char *p = w->opts.merge_keys;
        if (!p || !*p) {
            rc = kiln_err_set(err, KILN_EINVAL, "MERGE needs key columns (e.g. --key id)");
            goto done;
        }
        while (*p) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            char name[256];
            while (n && *p == ' ')
                p++, n--;
            while (n && p[n - 1] == ' ')
                n--;
            if (!n || n >= sizeof name || w->nkeys >= 16) {
                rc = kiln_err_set(err, KILN_EINVAL, "MERGE keys: bad list '%s'", w->opts.merge_keys);
                goto done;
            }
            memcpy(name, p, n);
            name[n] = 0;
            int c = kiln_schema_find(w->view.schema, name);
            if (c < 0) {
                rc = kiln_err_set(err, KILN_ENOTFOUND, "MERGE key '%s' is not a column of %s", name,
                                  kiln_lake_table_name(t));
                goto done;
            }
            w->key_cols[w->nkeys++] = c;
            p = e ? e + 1 : p + n;
        }
    }
    w->dv_mode = m->format_version >= 3;
    if (m->format_version >= 3) { /* write-default of columns that have one */
        int nc = w->view.schema->ncols;
        w->has_wdef = kiln_arena_alloc(w->arena, (size_t)(nc ? nc : 1));
        w->wdef = kiln_arena_alloc(w->arena, (size_t)(nc ? nc : 1) * sizeof *w->wdef);
        if (!w->has_wdef || !w->wdef) {
            rc = KILN_OOM(err);
            goto done;
        }
        memset(w->has_wdef, 0, (size_t)(nc ? nc : 1));
        for (int c = 0; c < nc && w->view.lschema && (size_t)c < w->view.lschema->nfields; c++) {
            const char *x = w->view.lschema->fields[c].extra_json;
            if (!x || !strstr(x, "\"write-default\""))
                continue;
            kiln_lake_value v;
            rc = kiln_lake__field_default(&w->view, c, &w->view.schema->cols[c], "write-default", w->arena, &v, err);
            if (rc) {
                kiln_err_prefix(err, "%s: column %s: ", kiln_lake_table_name(t), w->view.schema->cols[c].name);
                goto done;
            }
            w->wdef[c] = v;
            w->has_wdef[c] = !v.is_null;
            if (v.is_null)
                continue;
            if (!w->wdef_json) {
                if (!(w->wdef_json = kiln_arena_alloc(w->arena, (size_t)nc * sizeof *w->wdef_json))) {
                    rc = KILN_OOM(err);
                    goto done;
                }
                memset(w->wdef_json, 0, (size_t)nc * sizeof *w->wdef_json);
            }
            w->wdef_json[c] = kiln_lake__field_default_json(&w->view.lschema->fields[c], "write-default", w->arena);
        }
    }
    w->opts.merge_keys = NULL; /* borrowed text not kept */
    w->opts.branch = NULL;
    w->opts.branch_from = NULL;
    kiln_lake_uuid_v4(w->uuid);
done:
    kiln_buf_free(&sj);
    if (rc) {
        kiln_lake_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int kiln_lake_writer_write(kiln_lake_writer *w, const kiln_batch *b, kiln_err *err)
{
    const kiln_schema *ts = w->view.schema;
    int map[1024];
    if (ts->ncols > 1024)
        return kiln_err_set(err, KILN_ELIMIT, "more than 1024 columns");
    for (int c = 0; c < ts->ncols; c++) {
        map[c] = kiln_schema_find(b->schema, ts->cols[c].name);
        if (map[c] < 0 && ts->cols[c].required && !(w->has_wdef && w->has_wdef[c]))
            return kiln_err_set(err, KILN_EINVAL, "%s: required column %s is missing from the input",
                                kiln_lake_table_name(w->t), ts->cols[c].name);
    }
    /* the input has the table's columns, in order, with the same types (a
     * job writing its own table): whole column runs are copied at once */
    int same = b->schema->ncols == ts->ncols && !w->ns_col;
    for (int c = 0; same && c < ts->ncols; c++) {
        kiln_type t = ts->cols[c].type;
        same = map[c] == c && b->cols[c].type == t && t != KILN_T_DECIMAL_WIDE && t != KILN_T_JSON &&
               t != KILN_T_UUID &&
               (t != KILN_T_DECIMAL || (b->schema->cols[c].precision == ts->cols[c].precision &&
                                        b->schema->cols[c].scale == ts->cols[c].scale)) &&
               !(ts->cols[c].required && b->cols[c].nulls && memchr(b->cols[c].nulls, 1, b->nrows));
    }
    for (size_t row = 0; same && row < b->nrows;) {
        kiln_batch *t = NULL;
        int rc = store_tail(&w->src, &t, err);
        size_t n = t ? t->capacity - t->nrows : 0;
        if (n > b->nrows - row)
            n = b->nrows - row;
        if (rc || (rc = kiln_batch_append(t, b, row, n, err)))
            return rc;
        row += n;
        w->src.nrows += n;
    }
    for (size_t row = 0; !same && row < b->nrows; row++) {
        kiln_batch *t = NULL;
        int rc = store_tail(&w->src, &t, err);
        for (int c = 0; !rc && c < ts->ncols; c++) {
            if (map[c] < 0) { /* the input lacks the column: its write-default (v3), else null */
                rc = w->has_wdef && w->has_wdef[c] ? put(t, c, &w->wdef[c], ts->cols[c].type, err)
                                                   : kiln_batch_put_null(t, c, err);
                continue;
            }
            kiln_lake_value v = cell(b, map[c], row);
            if (v.is_null && ts->cols[c].required)
                rc = kiln_err_set(err, KILN_EINVAL, "%s: null in required column %s (input row %zu)",
                                  kiln_lake_table_name(w->t), ts->cols[c].name, row + 1);
            else
                rc = put(t, c, &v, b->cols[map[c]].type, err);
        }
        if (!rc)
            rc = kiln_batch_end_row(t, err);
        if (rc) {
            /* drop the partial row */
            for (int c = 0; t && c < ts->ncols; c++) {
                kiln_col *col = &t->cols[c];
                col->len = t->nrows;
                if (col->offsets)
                    col->data.len = col->offsets[t->nrows];
                if (col->nulls)
                    col->nulls[t->nrows] = 0;
            }
            return rc;
        }
        w->src.nrows++;
    }
    return 0;
}

/* The value of partition source field `id`, a primitive inside a struct
 * column (the spec allows no list or map on the way), in row `row` of
 * batch b: the top-level column's JSON value walked by field names. */
static int nested_source(kiln_lake_writer *w, const kiln_batch *b, size_t row, int32_t id, kiln_lake_value *v,
                         kiln_err *err)
{
    memset(v, 0, sizeof *v);
    v->is_null = 1;
    const kiln_lake_schema *ls = w->view.lschema;
    const kiln_lake_field *path[64];
    int depth = 0, top = -1;
    for (size_t i = 0; ls && i < ls->nfields && top < 0; i++) {
        const kiln_lake_field *f = &ls->fields[i];
        depth = 0;
        path[depth++] = f;
        while (f->id != id && f->type->kind == KILN_LAKE_STRUCT && depth < 64) {
            const kiln_lake_field *next = NULL;
            for (size_t k = 0; k < f->type->nfields && !next; k++) {
                const kiln_lake_field *g = &f->type->fields[k];
                if (g->id == id || kiln_lake_schema_field(&(kiln_lake_schema){.fields = g, .nfields = 1}, id))
                    next = g;
            }
            if (!next)
                break;
            path[depth++] = f = next;
        }
        if (f->id == id && depth > 1)
            top = (int)i;
    }
    if (top < 0)
        return kiln_err_set(err, KILN_EINVAL,
                            "partition source field id %d is not a primitive inside struct columns of the schema",
                            (int)id);
    int c = -1;
    for (int i = 0; i < b->schema->ncols; i++)
        if (b->schema->cols[i].field_id == path[0]->id)
            c = i;
    if (c < 0 || kiln_batch_is_null(b, c, row))
        return 0;
    kiln_lake_value top_v = cell(b, c, row);
    json_t *root = json_loadb((const char *)top_v.bytes, top_v.len, JSON_DECODE_ANY, NULL);
    if (!root)
        return kiln_err_set(err, KILN_EFORMAT, "column %s: not a JSON value", path[0]->name);
    json_t *j = root;
    for (int k = 1; k < depth && j && json_is_object(j); k++)
        j = json_object_get(j, path[k]->name);
    int rc = 0;
    if (j && json_is_object(j) == 0 && !json_is_null(j) && depth > 1) {
        const kiln_lake_field *leaf = path[depth - 1];
        kiln_column_def lc = {0};
        lc.name = leaf->name;
        if ((rc = kiln_lake_kind_to_type(leaf->type, &lc.type, err)) == 0) {
            lc.precision = leaf->type->precision;
            lc.scale = leaf->type->scale;
            if (!w->pscratch && !(w->pscratch = kiln_arena_new(4096)))
                rc = KILN_OOM(err);
            v->is_null = 0;
            v->kind = leaf->type->kind;
            if (!rc &&
                (rc = kiln_lake__json_value(j, &lc, leaf->type->name, "partition source value", w->pscratch, v, err)))
                kiln_err_prefix(err, "row %zu: field %s: ", row, leaf->name);
        }
    }
    json_decref(root);
    return rc;
}

/* Partition tuple of a row of batch b (table schema). */
static int row_partition(kiln_lake_writer *w, const kiln_batch *b, size_t row, kiln_lake_value *part, kiln_err *err)
{
    if (w->pscratch)
        kiln_arena_reset(w->pscratch);
    for (int k = 0; w->spec && k < w->spec->nfields; k++) {
        const kiln_lake_pfield *pf = &w->spec->fields[k];
        int c = -1;
        for (int i = 0; i < b->schema->ncols; i++)
            if (b->schema->cols[i].field_id == pf->source_id)
                c = i;
        kiln_lake_value v;
        memset(&v, 0, sizeof v);
        v.is_null = 1;
        if (c >= 0)
            v = cell(b, c, row);
        else {
            int rc = nested_source(w, b, row, pf->source_id, &v, err);
            if (rc)
                return rc;
        }
        int rc = kiln_lake_xform_apply(pf, &v, &part[k], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Same partition value, bit for bit (a cheaper test than the directory
 * text; values that differ only in representation take the map). */
static int pvalue_same(const kiln_lake_value *a, const kiln_lake_value *b)
{
    if (a->is_null || b->is_null)
        return a->is_null && b->is_null;
    return a->kind == b->kind && a->i == b->i && memcmp(&a->d, &b->d, sizeof a->d) == 0 && a->len == b->len &&
           (!a->len || memcmp(a->bytes, b->bytes, a->len) == 0);
}

/* The group of a row. *last is the previous row's group (NULL at first):
 * rows arrive clustered by partition (a day's hour files), so most rows
 * take it without formatting their partition directory. */
static int find_group(kiln_lake_writer *w, kiln_map *groups, group_vec *list, const kiln_batch *b, size_t row,
                      kiln_buf *dir, group **last, group **out, kiln_err *err)
{
    int nf = w->spec ? w->spec->nfields : 0;
    kiln_lake_value part[64];
    if (nf > 64)
        return kiln_err_set(err, KILN_ELIMIT, "more than 64 partition fields");
    int rc = row_partition(w, b, row, part, err);
    if (rc)
        return rc;
    if (*last) {
        int k = 0;
        while (k < nf && pvalue_same(&part[k], &(*last)->part[k]))
            k++;
        if (k == nf) {
            *out = *last;
            return 0;
        }
    }
    kiln_buf_reset(dir);
    for (int k = 0; k < nf; k++) {
        const kiln_lake_pfield *pf = &w->spec->fields[k];
        if ((rc = kiln_buf_printf(dir, err, "%s%s=", k ? "/" : "", pf->name)) ||
            (rc = kiln_lake_pvalue_text(pf, &part[k], dir, err)))
            return rc;
    }
    const char *key = dir->data ? dir->data : ""; /* unpartitioned: one group "" */
    group *g = kiln_map_get(groups, key, dir->len);
    if (!g) {
        g = kiln_arena_alloc(w->arena, sizeof *g);
        if (!g)
            return KILN_OOM(err);
        memset(g, 0, sizeof *g);
        g->dir = kiln_arena_strndup(w->arena, key, dir->len);
        g->part = kiln_arena_alloc(w->arena, (size_t)(nf ? nf : 1) * sizeof *g->part);
        if (!g->dir || !g->part)
            return KILN_OOM(err);
        for (int k = 0; k < nf; k++) {
            g->part[k] = part[k];
            if (part[k].bytes) {
                uint8_t *copy = kiln_arena_alloc(w->arena, part[k].len + 1);
                if (!copy)
                    return KILN_OOM(err);
                memcpy(copy, part[k].bytes, part[k].len);
                g->part[k].bytes = copy;
            }
        }
        if ((rc = kiln_map_put(groups, key, dir->len, g, err)) || (rc = kiln_vec_push(list, g, err)))
            return rc;
    }
    *out = *last = g;
    return 0;
}

/* ---------------------------------------------------------------- data files */

typedef struct file_out {
    kiln_lake_writer *w;
    const group *g;
    const kiln_lake_value *part;
    kiln_parquet_writer *pw;
    kiln_batch *buf;
    char *local;
    char *staged; /* the local file the writer writes (lake_io stage_new) */
    char *stored;
    uint64_t rows;
    int lineage; /* v3: the file also carries _row_id and _last_updated_sequence_number */
} file_out;

static int file_open_ex(file_out *f, kiln_lake_writer *w, const kiln_lake_value *part, const char *dir, int lineage,
                        kiln_err *err)
{
    memset(f, 0, sizeof f[0]);
    f->w = w;
    f->lineage = lineage;
    f->part = part;
    const char *tdir = kiln_lake_table_dir(w->t);
    char *d = kiln_sprintf("%s/data%s%s", tdir, *dir ? "/" : "", dir);
    int rc;
    if (!d)
        return KILN_OOM(err);
    if ((rc = kiln_lake__io_mkdirs(d, err))) {
        kiln_free(d);
        return rc;
    }
    f->local = kiln_sprintf("%s/%05zu-%s.parquet", d, w->nfile++, w->uuid);
    kiln_free(d);
    if (!f->local)
        return KILN_OOM(err);
    f->stored = kiln_lake_path_to_uri(f->local);
    if (!f->stored)
        return KILN_OOM(err);
    const kiln_schema *fs = w->ns_col ? &w->fschema : w->view.schema;
    if (lineage) { /* the table's columns, then the two lineage columns (schema memory in the writer's arena) */
        kiln_column_def *lc = kiln_arena_alloc(w->arena, (size_t)(fs->ncols + 2) * sizeof *lc);
        kiln_schema *lfs = kiln_arena_alloc(w->arena, sizeof *lfs); /* batches and writers borrow it */
        if (!lc || !lfs)
            return KILN_OOM(err);
        if (fs->ncols)
            memcpy(lc, fs->cols, (size_t)fs->ncols * sizeof *lc);
        lc[fs->ncols] = *kiln_lake_lineage_col(KILN_LAKE_COL_ROW_ID, 0);
        lc[fs->ncols + 1] = *kiln_lake_lineage_col(KILN_LAKE_COL_LAST_UPDATED_SEQ, 0);
        lfs->ncols = fs->ncols + 2;
        lfs->cols = lc;
        fs = lfs;
    }
    if ((rc = kiln_batch_new(&f->buf, fs, STORE_CHUNK, 0, err)))
        return rc;
    /* like Iceberg Java: the file carries the schema it was written with, so
     * readers that map columns by name (icebird) survive renames */
    kiln_parquet_write_opts po;
    kiln_parquet_write_opts_init(&po);
    kiln_parquet_kv kv = {"iceberg.schema", w->schema_json};
    po.kv = &kv;
    po.nkv = 1;
    po.row_group_rows = w->opts.row_group_rows;
    po.threads = w->opts.threads;
    /* Iceberg's write.parquet.row-group-size-bytes (measured here on the
     * uncompressed data, as the Parquet writer cuts row groups) */
    const char *rgb =
        w->t ? kiln_lake_meta_property(kiln_lake_table_meta(w->t), "write.parquet.row-group-size-bytes") : NULL;
    char *rgb_end = NULL;
    long long rgb_v = rgb ? strtoll(rgb, &rgb_end, 10) : 0;
    if (rgb && rgb_end && !*rgb_end && rgb_v > 0)
        po.row_group_bytes = (uint64_t)rgb_v;
    /* the Parquet writer writes a local file, which the lake's io stages
     * (on an object store, uploaded by file_close) */
    if ((rc = kiln_lake__io_stage_new(&f->staged, f->local, err)))
        return rc;
    po.nested = w->view.nested; /* shapes of the nested columns */
    po.nnested = w->view.schema->ncols;
    return kiln_parquet_writer_open(&f->pw, f->staged, fs, &po, err);
}

static int file_open(file_out *f, kiln_lake_writer *w, const kiln_lake_value *part, const char *dir, kiln_err *err)
{
    return file_open_ex(f, w, part, dir, 0, err);
}

static void file_free(file_out *f)
{
    kiln_parquet_writer_free(f->pw);
    kiln_batch_free(f->buf);
    kiln_free(f->local);
    kiln_free(f->staged);
    kiln_free(f->stored);
    memset(f, 0, sizeof *f);
}

static int file_flush(file_out *f, kiln_err *err)
{
    if (!f->buf->nrows)
        return 0;
    int rc = kiln_parquet_writer_write(f->pw, f->buf, err);
    kiln_batch_clear(f->buf);
    return rc;
}

/* Add row `row` of b (the table's columns) to f. A lineage file also
 * takes _row_id from the lineage columns of lb (the last two columns,
 * kiln_lake__task_read_lineage) at lrow, or null when lb is NULL (a new
 * row: inherits), and _last_updated_sequence_number from lb when
 * keep_seq, else null (inherits the commit's sequence number: an updated
 * row). */
static int file_add_ex(file_out *f, const kiln_batch *b, size_t row, const kiln_batch *lb, size_t lrow, int keep_seq,
                       kiln_err *err)
{
    int nb = f->lineage ? f->buf->schema->ncols - 2 : b->schema->ncols;
    for (int c = 0; c < nb; c++) {
        kiln_lake_value v = cell(b, c, row);
        int rc;
        if (f->w->ns_col && f->w->ns_col[c] && !v.is_null) { /* exact text -> INT64 nanoseconds */
            int64_t ns;
            if (b->cols[c].type != KILN_T_STRING || kiln_parquet_ts_parse_ns((const char *)v.bytes, v.len, &ns))
                return kiln_err_set(err, KILN_EINVAL,
                                    "%s: column %s: '%.*s' is not a timestamp with up to nine fraction digits "
                                    "in 1677-2262",
                                    kiln_lake_table_name(f->w->t), b->schema->cols[c].name,
                                    b->cols[c].type == KILN_T_STRING ? (int)(v.len > 64 ? 64 : v.len) : 0,
                                    b->cols[c].type == KILN_T_STRING ? (const char *)v.bytes : "");
            rc = kiln_batch_put_i64(f->buf, c, ns, err);
        } else {
            rc = put(f->buf, c, &v, b->cols[c].type, err);
        }
        if (rc)
            return rc;
    }
    int rc = 0;
    if (f->lineage) {
        int lc = lb ? lb->schema->ncols - 2 : 0;
        for (int k = 0; k < 2 && !rc; k++) {
            if (lb && (k == 0 || keep_seq) && !kiln_batch_is_null(lb, lc + k, lrow))
                rc = kiln_batch_put_i64(f->buf, nb + k, lb->cols[lc + k].v.i64[lrow], err);
            else
                rc = kiln_batch_put_null(f->buf, nb + k, err);
        }
        if (rc)
            return rc;
    }
    rc = kiln_batch_end_row(f->buf, err);
    if (rc)
        return rc;
    f->rows++;
    return kiln_batch_full(f->buf) ? file_flush(f, err) : 0;
}

static int file_add(file_out *f, const kiln_batch *b, size_t row, kiln_err *err)
{
    return file_add_ex(f, b, row, NULL, 0, 0, err);
}

/* The data_file of a Parquet file kiln wrote: path as stored, partition,
 * counts, per-column stats (Parquet's INT64 decimal bounds re-encoded as
 * Iceberg's minimal big-endian), split offsets. Memory in arena a. */
int kiln_lake__datafile_from_stats(kiln_lake_datafile *d, kiln_arena *a, const char *stored, int spec_id,
                                   const kiln_lake_pspec *spec, const kiln_lake_value *part, const kiln_schema *schema,
                                   const kiln_parquet_file_stats *st, int sort_order_id, kiln_err *err)
{
    d->content = KILN_LAKE_CONTENT_DATA;
    d->file_path = kiln_arena_strndup(a, stored, strlen(stored));
    d->file_format = "PARQUET";
    d->spec_id = spec_id;
    d->npart = spec ? spec->nfields : 0;
    d->partition = (kiln_lake_value *)part;
    d->record_count = (int64_t)st->record_count;
    d->file_size_in_bytes = (int64_t)st->file_size_in_bytes;
    d->ncolstats = st->ncols;
    d->colstats = kiln_arena_alloc(a, (size_t)(st->ncols ? st->ncols : 1) * sizeof *d->colstats);
    if (!d->file_path || !d->colstats)
        return KILN_OOM(err);
    for (int i = 0; i < st->ncols; i++) {
        const kiln_parquet_col_stats *cs = &st->cols[i];
        kiln_lake_colstat *o = &d->colstats[i];
        kiln_type t = cs->type; /* the leaf's type (nested columns have one entry per leaf) */
        memset(o, 0, sizeof *o);
        o->field_id = cs->field_id;
        o->column_size = (int64_t)cs->column_size;
        o->value_count = (int64_t)cs->value_count;
        o->null_count = (int64_t)cs->null_count;
        o->nan_count = (t == KILN_T_FLOAT || t == KILN_T_DOUBLE) ? (int64_t)cs->nan_count : -1;
        for (int side = 0; side < 2 && !cs->in_repeated; side++) { /* as Iceberg: no bounds inside lists/maps */
            if (!(side ? cs->has_upper : cs->has_lower))
                continue;
            const uint8_t *src = side ? cs->upper : cs->lower;
            uint32_t n = side ? cs->upper_len : cs->lower_len;
            uint8_t tmp[8];
            if (t == KILN_T_DECIMAL && n == 8) { /* Parquet int64 LE -> Iceberg minimal big-endian */
                int64_t v = 0;
                for (int k = 7; k >= 0; k--)
                    v = (int64_t)(((uint64_t)v << 8) | src[k]);
                n = (uint32_t)kiln_parquet_decimal_bound(tmp, v);
                src = tmp;
            }
            uint8_t *copy = kiln_arena_alloc(a, n ? n : 1);
            if (!copy)
                return KILN_OOM(err);
            if (n)
                memcpy(copy, src, n);
            if (side) {
                o->upper = copy;
                o->upper_len = n;
            } else {
                o->lower = copy;
                o->lower_len = n;
            }
        }
    }
    if (st->nsplits) {
        d->nsplits = (int)st->nsplits;
        d->split_offsets = kiln_arena_alloc(a, st->nsplits * sizeof *d->split_offsets);
        if (!d->split_offsets)
            return KILN_OOM(err);
        memcpy(d->split_offsets, st->split_offsets, st->nsplits * sizeof *d->split_offsets);
    }
    d->has_sort_order_id = 1;
    d->sort_order_id = sort_order_id;
    return 0;
}

/* Close the file and record an ADDED entry. */
static int file_close(file_out *f, kiln_err *err)
{
    kiln_lake_writer *w = f->w;
    kiln_parquet_file_stats st;
    memset(&st, 0, sizeof st);
    int rc = file_flush(f, err);
    if (!rc)
        rc = kiln_parquet_writer_close(f->pw, &st, err); /* pw is released by file_free */
    if (rc) { /* a value the writer refused (or a failed close): no file is left behind */
        kiln_lake__io_stage_discard(f->staged, f->local);
        if (w->t && rc == KILN_EFORMAT)
            kiln_err_prefix(err, "table %s: ", kiln_lake_table_name(w->t));
        goto done;
    }
    rc = kiln_lake__io_stage_publish(f->staged, f->local, err);
    if (rc)
        goto done;
    kiln_lake_entry e;
    memset(&e, 0, sizeof e);
    e.status = KILN_LAKE_STATUS_ADDED;
    e.snapshot_id = -1;
    if ((rc = kiln_lake__datafile_from_stats(&e.df, w->arena, f->stored, w->spec ? w->spec->spec_id : 0, w->spec,
                                             f->part, w->view.schema, &st, 0, err)))
        goto done;
    rc = kiln_vec_push(&w->added, e, err);
done:
    kiln_parquet_file_stats_free(&st);
    file_free(f);
    return rc;
}

/* Write rows (refs into s) of one partition as data files. */
static int write_refs(kiln_lake_writer *w, const group *g, const store *s, const rowref *refs, size_t n, kiln_err *err)
{
    file_out f;
    int open = 0, rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (!open) {
            open = 1;
            if ((rc = file_open(&f, w, g->part, g->dir, err)))
                goto done;
        }
        const kiln_batch *cb = ref_batch(s, refs[i]);
        size_t k = 0;
        if (refs[i].row == 0 && !f.buf->nrows && !f.lineage && !w->ns_col && cb->nrows <= n - i &&
            f.rows + cb->nrows <= w->opts.target_file_rows)
            while (k < cb->nrows && refs[i + k].chunk == refs[i].chunk && refs[i + k].row == k)
                k++;
        if (k && k == cb->nrows) {
            /* a whole store chunk in order (a first load: every row of a
             * partition is new): the Parquet writer takes it as it is, the
             * batch file_add would have filled row by row (same capacity) */
            if ((rc = kiln_parquet_writer_write(f.pw, cb, err)))
                goto done;
            f.rows += k;
            i += k - 1;
        } else if ((rc = file_add(&f, cb, refs[i].row, err))) {
            goto done;
        }
        if (f.rows >= w->opts.target_file_rows) {
            open = 0;
            if ((rc = file_close(&f, err)))
                goto done;
        }
    }
    if (open) {
        open = 0;
        rc = file_close(&f, err);
    }
done:
    if (open) {
        if (f.local)
            kiln_lake__io_stage_discard(f.staged, f.local);
        file_free(&f);
    }
    /* the Parquet writer's refusals (a nested value that does not fit)
     * name the column and row; the table's name goes in front */
    if (rc && err && err->code && !strstr(err->msg, kiln_lake_table_name(w->t)))
        kiln_err_prefix(err, "%s: ", kiln_lake_table_name(w->t));
    return rc;
}

static int write_store(kiln_lake_writer *w, const group *g, const store *s, kiln_err *err)
{
    KILN_VEC(rowref) refs = {0};
    int rc = 0;
    for (size_t c = 0; c < s->chunks.len && !rc; c++)
        for (size_t r = 0; r < s->chunks.items[c]->nrows && !rc; r++) {
            rowref x = {(uint32_t)c, (uint32_t)r};
            rc = kiln_vec_push(&refs, x, err);
        }
    if (!rc)
        rc = write_refs(w, g, s, refs.items, refs.len, err);
    kiln_vec_free(&refs);
    return rc;
}

/* ---------------------------------------------------------------- matching files */

static int part_equal(const kiln_lake_pspec *spec, const kiln_lake_value *a, const kiln_lake_value *b)
{
    for (int k = 0; spec && k < spec->nfields; k++) {
        if (a[k].is_null != b[k].is_null)
            return 0;
        if (!a[k].is_null && kiln_lake_value_cmp(spec->fields[k].result_type, &a[k], &b[k]) != 0)
            return 0;
    }
    return 1;
}

static int in_group(const kiln_lake_writer *w, const kiln_lake_entry *e, const group *g)
{
    if (e->df.content != KILN_LAKE_CONTENT_DATA)
        return 0;
    int nf = w->spec ? w->spec->nfields : 0;
    if (nf == 0)
        return 1;
    if (e->df.spec_id != w->spec->spec_id || e->df.npart != nf)
        return 1; /* another spec: cannot tell, treat as overlapping */
    return part_equal(w->spec, e->df.partition, g->part);
}

/* May manifest m (by its partition summaries) hold files of partition g? */
static int manifest_may_hold(const kiln_lake_writer *w, const kiln_lake_manifest *m, const group *g)
{
    int nf = w->spec ? w->spec->nfields : 0;
    if (nf == 0 || m->spec_id != w->spec->spec_id || m->npartitions != nf)
        return 1;
    for (int k = 0; k < nf; k++) {
        const kiln_lake_psummary *s = &m->partitions[k];
        const kiln_lake_value *v = &g->part[k];
        kiln_type t = w->spec->fields[k].result_type;
        if (v->is_null) {
            if (!s->contains_null)
                return 0;
            continue;
        }
        if (t == KILN_T_FLOAT || t == KILN_T_DOUBLE)
            continue;
        kiln_lake_value lo, hi;
        if (!s->lower && !s->upper && s->contains_null)
            return 0; /* only nulls in this manifest */
        if (s->lower && kiln_lake_value_from_bound(t, s->lower, s->lower_len, &lo) == 0 &&
            kiln_lake_value_cmp(t, v, &lo) < 0)
            return 0;
        if (s->upper && kiln_lake_value_from_bound(t, s->upper, s->upper_len, &hi) == 0 &&
            kiln_lake_value_cmp(t, v, &hi) > 0)
            return 0;
    }
    return 1;
}

typedef struct keep_ctx {
    const kiln_lake_writer *w;
    const group *const *groups;
    size_t ngroups;
} keep_ctx;

/* Plan filter: read a data manifest only if it may hold a partition of groups. */
static int keep_manifest(void *ctx, const kiln_lake_manifest *m)
{
    const keep_ctx *kc = ctx;
    for (size_t i = 0; i < kc->ngroups; i++)
        if (manifest_may_hold(kc->w, m, kc->groups[i]))
            return 1;
    return 0;
}

static int remove_entry(kiln_lake_writer *w, const kiln_lake_entry *e, kiln_err *err)
{
    kiln_lake_entry c = *e;
    c.df.file_path = kiln_arena_strndup(w->arena, e->df.file_path, strlen(e->df.file_path));
    if (!c.df.file_path)
        return KILN_OOM(err);
    /* colstats etc. point into the plan arena: drop them, only path/count/size are used */
    c.df.ncolstats = 0;
    c.df.colstats = NULL;
    c.df.nsplits = 0;
    c.df.split_offsets = NULL;
    c.df.partition = NULL;
    c.df.npart = 0;
    c.df.equality_ids = NULL;
    c.df.nequality_ids = 0;
    return kiln_vec_push(&w->removed, c, err);
}

/* Record the live files in touched partitions at the first base. */
static int note_touched(kiln_lake_writer *w, const kiln_lake_plan *plan, kiln_err *err)
{
    if (!w->touched_live && !(w->touched_live = kiln_map_new()))
        return KILN_OOM(err);
    w->check_touched = 1;
    for (size_t i = 0; plan && i < kiln_lake_plan_nlive(plan); i++) {
        const kiln_lake_entry *e = kiln_lake_plan_live(plan, i);
        for (size_t k = 0; k < w->touched.len; k++)
            if (in_group(w, e, w->touched.items[k])) {
                int rc = kiln_map_put(w->touched_live, e->df.file_path, strlen(e->df.file_path), w, err);
                if (rc)
                    return rc;
                break;
            }
    }
    return 0;
}

/* ---------------------------------------------------------------- deletion vectors (v3) */

static char *dv_key(kiln_arena *a, const char *path, int64_t offset)
{
    size_t n = strlen(path);
    char *k = kiln_arena_alloc(a, n + 24);
    if (k)
        snprintf(k, n + 24, "%s#%lld", path, (long long)offset);
    return k;
}

/* Record that positions `set` (taken over) of task's data file are deleted
 * by this commit: the file's earlier position deletes are merged in and
 * its old vector is replaced, as the spec asks (one vector per data file). */
static int dv_add_target(kiln_lake_writer *w, const kiln_lake_task *task, kiln_i64set *set, kiln_err *err)
{
    const kiln_lake_datafile *df = &task->data->df;
    dv_target t;
    memset(&t, 0, sizeof t);
    t.set = set;
    t.new_rows = (int64_t)kiln_i64set_len(set);
    kiln_arena *scratch = kiln_arena_new(16 * 1024);
    const kiln_lake_entry *old = NULL;
    int rc = scratch ? kiln_lake__task_posdeletes(&w->view, task, set, &old, scratch, err) : KILN_OOM(err);
    if (!rc && (int64_t)kiln_i64set_len(set) > df->record_count)
        rc = kiln_err_set(err, KILN_EINTERNAL, "%s: deletes %zu rows of a %lld-row file", df->file_path,
                          kiln_i64set_len(set), (long long)df->record_count);
    if (!rc && !(t.data_file = kiln_arena_strndup(w->arena, df->file_path, strlen(df->file_path))))
        rc = KILN_OOM(err);
    if (!rc && old) {
        t.old_card = old->df.record_count;
        if (!(t.old_dv = dv_key(w->arena, old->df.file_path, old->df.content_offset)))
            rc = KILN_OOM(err);
        if (!rc && !w->dv_old && !(w->dv_old = kiln_map_new()))
            rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_map_put(w->dv_old, t.old_dv, strlen(t.old_dv), w, err);
    }
    t.spec_id = df->spec_id;
    t.npart = df->npart;
    if (!rc && t.npart) {
        if (!(t.part = kiln_arena_alloc(w->arena, (size_t)t.npart * sizeof *t.part)))
            rc = KILN_OOM(err);
        for (int k = 0; !rc && k < t.npart; k++) {
            t.part[k] = df->partition[k];
            if (t.part[k].bytes) {
                uint8_t *cp = kiln_arena_alloc(w->arena, t.part[k].len + 1);
                if (!cp) {
                    rc = KILN_OOM(err);
                    break;
                }
                memcpy(cp, t.part[k].bytes, t.part[k].len);
                t.part[k].bytes = cp;
            }
        }
    }
    kiln_arena_free(scratch);
    if (!rc)
        rc = kiln_vec_push(&w->dvs, t, err);
    if (rc)
        kiln_i64set_free(set);
    return rc;
}

/* The Puffin file of the commit's vectors and one delete manifest (ADDED
 * entries) per partition spec among their data files. */
static int dv_write(kiln_lake_writer *w, kiln_err *err)
{
    size_t n = w->dvs.len;
    kiln_lake__dv_out *outs = kiln_calloc(n, sizeof *outs);
    KILN_VEC(kiln_lake_entry) ents = {0};
    char *local = NULL, *uri = NULL;
    int rc = 0;
    if (!outs)
        return KILN_OOM(err);
    for (size_t i = 0; i < n && !rc; i++) {
        dv_target *t = &w->dvs.items[i];
        size_t cnt = kiln_i64set_len(t->set), it = 0, k = 0;
        int64_t x;
        outs[i].data_file = t->data_file;
        outs[i].n = cnt;
        if (!(outs[i].pos = kiln_arena_alloc(w->arena, (cnt ? cnt : 1) * sizeof(int64_t)))) {
            rc = KILN_OOM(err);
            break;
        }
        while (k < cnt && kiln_i64set_next(t->set, &it, &x))
            outs[i].pos[k++] = x;
    }
    const char *tdir = kiln_lake_table_dir(w->t);
    char *ddir = rc ? NULL : kiln_sprintf("%s/data", tdir);
    if (!rc && !ddir)
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_lake__io_mkdirs(ddir, err);
    kiln_free(ddir);
    if (!rc &&
        (!(local = kiln_sprintf("%s/data/%s-deletes.puffin", tdir, w->uuid)) || !(uri = kiln_lake_path_to_uri(local))))
        rc = KILN_OOM(err);
    int64_t fsize = 0;
    if (!rc)
        rc = kiln_lake__puffin_write_dvs(local, outs, n, &fsize, err);
    const char *stored = rc ? NULL : kiln_arena_strndup(w->arena, uri, strlen(uri));
    if (!rc && !stored)
        rc = KILN_OOM(err);
    /* one delete manifest per spec */
    const kiln_lake_meta *m = kiln_lake_table_meta(w->t);
    for (size_t i = 0; i < n && !rc; i++) {
        int spec_id = w->dvs.items[i].spec_id, seen = 0;
        for (size_t j = 0; j < i; j++)
            seen |= w->dvs.items[j].spec_id == spec_id;
        if (seen)
            continue;
        ents.len = 0;
        for (size_t j = i; j < n && !rc; j++) {
            const dv_target *t = &w->dvs.items[j];
            if (t->spec_id != spec_id)
                continue;
            kiln_lake_entry e;
            memset(&e, 0, sizeof e);
            e.status = KILN_LAKE_STATUS_ADDED;
            e.snapshot_id = -1;
            e.df.content = KILN_LAKE_CONTENT_POS_DELETES;
            e.df.file_path = stored;
            e.df.file_format = "PUFFIN";
            e.df.spec_id = spec_id;
            e.df.npart = t->npart;
            e.df.partition = t->part;
            e.df.record_count = (int64_t)outs[j].n;
            e.df.file_size_in_bytes = fsize;
            e.df.referenced_data_file = t->data_file;
            e.df.content_offset = outs[j].offset;
            e.df.content_size = outs[j].length;
            rc = kiln_vec_push(&ents, e, err);
        }
        char *ml = rc ? NULL : kiln_sprintf("%s/metadata/%s-m-dv%d.avro", tdir, w->uuid, spec_id);
        char *mu = ml ? kiln_lake_path_to_uri(ml) : NULL;
        kiln_lake_manifest_meta mm = {w->schema_json,
                                      w->schema_id,
                                      kiln_lake_view_spec(&w->view, spec_id),
                                      1,
                                      w->snapshot_id,
                                      m->last_sequence_number + 1,
                                      3};
        kiln_lake_manifest row;
        if (!rc && (!ml || !mu))
            rc = KILN_OOM(err);
        if (!rc)
            rc = kiln_lake_manifest_write(&row, w->arena, ml, mu, &mm, ents.items, ents.len, err);
        if (!rc)
            rc = kiln_vec_push(&w->dv_manifests, row, err);
        kiln_free(ml);
        kiln_free(mu);
    }
    kiln_vec_free(&ents);
    kiln_free(local);
    kiln_free(uri);
    kiln_free(outs);
    return rc;
}

/* MERGE over one file: collect output rows; count changes. */
/* MERGE reads a candidate data file twice at most, a batch at a time:
 * pass 1 only finds out whether a row changes (and marks the source keys
 * it matches); only if one does, pass 2 streams the file again into new
 * data files with the changed rows replaced. Memory stays one batch plus
 * the Parquet writer's row group, whatever the size of the file. */
typedef struct merge_ctx {
    kiln_lake_writer *w;
    kiln_map *keys; /* key -> (uintptr_t)(index+1) into srcrefs */
    const rowref *srcrefs;
    uint8_t *matched;
    int64_t changed;
    kiln_buf k1, k2;
    int pass; /* 1 detect, 2 write */
    const group *g;
    file_out f; /* pass 2: the file being written */
    int fopen;
    kiln_i64set *dv; /* v3: positions of the changed rows of the current file */
} merge_ctx;

/* lb/lrow (v3): the old version of an updated row, read with its lineage
 * columns: the new version keeps its _row_id, and its
 * _last_updated_sequence_number is null (the commit's, inherited) */
static int merge_emit(merge_ctx *mc, const kiln_batch *b, size_t row, const kiln_batch *lb, size_t lrow, kiln_err *err)
{
    kiln_lake_writer *w = mc->w;
    int rc;
    if (!mc->fopen) {
        mc->fopen = 1; /* even if opening fails half-way: do_merge_group frees it */
        if ((rc = file_open_ex(&mc->f, w, mc->g->part, mc->g->dir, lb != NULL, err)))
            return rc;
    }
    if ((rc = file_add_ex(&mc->f, b, row, lb, lrow, 0, err)))
        return rc;
    if (mc->f.rows >= w->opts.target_file_rows) {
        mc->fopen = 0;
        return file_close(&mc->f, err);
    }
    return 0;
}

static int merge_cb(void *ctx, const kiln_batch *b, kiln_err *err)
{
    merge_ctx *mc = ctx;
    kiln_lake_writer *w = mc->w;
    for (size_t row = 0; row < b->nrows; row++) {
        int rc = key_of(&mc->k1, b, row, w->key_cols, w->nkeys, err);
        if (rc)
            return rc;
        uintptr_t hit = (uintptr_t)kiln_map_get(mc->keys, mc->k1.data, mc->k1.len);
        const kiln_batch *ob = b;
        size_t orow = row;
        if (hit) {
            size_t idx = hit - 1;
            rowref r = mc->srcrefs[idx];
            const kiln_batch *sb = ref_batch(&w->src, r);
            int n = w->view.schema->ncols;
            if ((rc = row_of(&mc->k1, b, row, n, err)) || (rc = row_of(&mc->k2, sb, r.row, n, err)))
                return rc;
            if (mc->k1.len != mc->k2.len || memcmp(mc->k1.data, mc->k2.data, mc->k1.len) != 0) {
                ob = sb;
                orow = r.row;
                if (mc->pass == 1)
                    mc->changed++;
            }
            if (mc->pass == 1)
                mc->matched[idx] = 1;
        }
        if (mc->pass == 2 && (rc = merge_emit(mc, ob, orow, NULL, 0, err)))
            return rc;
    }
    return 0;
}

/* v3 MERGE, one pass over a file with row positions: a changed row's
 * position goes into the file's deletion vector and its new version into
 * the new data files; unchanged rows stay where they are. */
static int merge_dv_cb(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err)
{
    merge_ctx *mc = ctx;
    kiln_lake_writer *w = mc->w;
    for (size_t row = 0; row < b->nrows; row++) {
        int rc = key_of(&mc->k1, b, row, w->key_cols, w->nkeys, err);
        if (rc)
            return rc;
        uintptr_t hit = (uintptr_t)kiln_map_get(mc->keys, mc->k1.data, mc->k1.len);
        if (!hit)
            continue;
        size_t idx = hit - 1;
        rowref r = mc->srcrefs[idx];
        const kiln_batch *sb = ref_batch(&w->src, r);
        mc->matched[idx] = 1;
        int n = w->view.schema->ncols;
        if ((rc = row_of(&mc->k1, b, row, n, err)) || (rc = row_of(&mc->k2, sb, r.row, n, err)))
            return rc;
        if (mc->k1.len == mc->k2.len && memcmp(mc->k1.data, mc->k2.data, mc->k1.len) == 0)
            continue;
        mc->changed++;
        if (!mc->dv && !(mc->dv = kiln_i64set_new()))
            return KILN_OOM(err);
        if ((rc = kiln_i64set_add(mc->dv, pos[row], err)) < 0 || (rc = merge_emit(mc, sb, r.row, b, row, err)))
            return rc;
    }
    return 0;
}

/* Might data file e hold one of the keys (bounds of each key column)? */
static int file_may_hold_keys(const kiln_lake_writer *w, const kiln_lake_entry *e, const store *s, const rowref *refs,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const kiln_batch *b = ref_batch(s, refs[i]);
        int all = 1;
        for (int k = 0; k < w->nkeys && all; k++) {
            int c = w->key_cols[k];
            const kiln_column_def *cd = &w->view.schema->cols[c];
            if (cd->type == KILN_T_FLOAT || cd->type == KILN_T_DOUBLE)
                continue;
            kiln_lake_value v = cell(b, c, refs[i].row);
            const kiln_lake_colstat *cs = NULL;
            for (int j = 0; j < e->df.ncolstats; j++)
                if (e->df.colstats[j].field_id == cd->field_id)
                    cs = &e->df.colstats[j];
            if (!cs)
                continue;
            if (v.is_null) {
                if (cs->null_count == 0)
                    all = 0;
                continue;
            }
            kiln_lake_value lo, hi;
            if (cs->lower && kiln_lake_value_from_bound(cd->type, cs->lower, cs->lower_len, &lo) == 0 &&
                kiln_lake_value_cmp(cd->type, &v, &lo) < 0)
                all = 0;
            if (cs->upper && kiln_lake_value_from_bound(cd->type, cs->upper, cs->upper_len, &hi) == 0 &&
                kiln_lake_value_cmp(cd->type, &v, &hi) > 0)
                all = 0;
            if (cs->value_count >= 0 && cs->null_count == cs->value_count)
                all = 0;
        }
        if (all)
            return 1;
    }
    return 0;
}

static int do_merge_group(kiln_lake_writer *w, kiln_lake_plan *plan, group *g, kiln_lake_write_result *res,
                          kiln_err *err)
{
    merge_ctx mc;
    memset(&mc, 0, sizeof mc);
    mc.w = w;
    mc.g = g;
    kiln_buf_init(&mc.k1, 0);
    kiln_buf_init(&mc.k2, 0);
    KILN_VEC(rowref) uniq = {0};
    int rc = 0;
    if (!(mc.keys = kiln_map_new())) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* dedupe: last row of a key wins, first appearance keeps its place */
    for (size_t i = 0; i < g->rows.len; i++) {
        rowref r = g->rows.items[i];
        if ((rc = key_of(&mc.k1, ref_batch(&w->src, r), r.row, w->key_cols, w->nkeys, err)))
            goto done;
        uintptr_t hit = (uintptr_t)kiln_map_get(mc.keys, mc.k1.data, mc.k1.len);
        if (hit) {
            uniq.items[hit - 1] = r;
            continue;
        }
        if ((rc = kiln_vec_push(&uniq, r, err)) ||
            (rc = kiln_map_put(mc.keys, mc.k1.data, mc.k1.len, (void *)(uintptr_t)uniq.len, err)))
            goto done;
    }
    mc.srcrefs = uniq.items;
    if (!(mc.matched = kiln_calloc(uniq.len ? uniq.len : 1, 1))) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; plan && i < kiln_lake_plan_ntasks(plan); i++) {
        const kiln_lake_task *task = kiln_lake_plan_task(plan, i);
        if (!in_group(w, task->data, g) || !file_may_hold_keys(w, task->data, &w->src, uniq.items, uniq.len))
            continue;
        mc.changed = 0;
        if (w->dv_mode) { /* v3: deletion vector + new rows, the file stays */
            if ((rc = kiln_lake__task_read_lineage(&w->view, task, NULL, merge_dv_cb, &mc, err)))
                goto done;
            if (mc.dv) {
                res->rows_updated += mc.changed;
                kiln_i64set *set = mc.dv;
                mc.dv = NULL;
                if ((rc = dv_add_target(w, task, set, err)))
                    goto done;
            }
            continue;
        }
        mc.pass = 1;
        if ((rc = kiln_lake_task_read(&w->view, task, merge_cb, &mc, err)))
            goto done;
        if (!mc.changed)
            continue;
        res->rows_updated += mc.changed;
        if ((rc = remove_entry(w, task->data, err)))
            goto done;
        mc.pass = 2;
        if ((rc = kiln_lake_task_read(&w->view, task, merge_cb, &mc, err)))
            goto done;
        if (mc.fopen) {
            mc.fopen = 0;
            if ((rc = file_close(&mc.f, err)))
                goto done;
        }
    }
    if (mc.fopen) { /* v3: updated rows of every file of the group */
        mc.fopen = 0;
        if ((rc = file_close(&mc.f, err)))
            goto done;
    }
    /* inserts */
    KILN_VEC(rowref) ins = {0};
    for (size_t i = 0; i < uniq.len && !rc; i++)
        if (!mc.matched[i])
            rc = kiln_vec_push(&ins, uniq.items[i], err);
    if (!rc && ins.len) {
        res->rows_inserted += (int64_t)ins.len;
        rc = write_refs(w, g, &w->src, ins.items, ins.len, err);
    }
    kiln_vec_free(&ins);
done:
    if (mc.fopen) { /* a failure while writing: the partial file is not referenced */
        if (mc.f.local)
            kiln_lake__io_stage_discard(mc.f.staged, mc.f.local);
        file_free(&mc.f);
    }
    kiln_map_free(mc.keys);
    kiln_i64set_free(mc.dv);
    kiln_free(mc.matched);
    kiln_vec_free(&uniq);
    kiln_buf_free(&mc.k1);
    kiln_buf_free(&mc.k2);
    return rc;
}

/* ---------------------------------------------------------------- commit */

typedef KILN_VEC(kiln_lake_kv) kv_vec;

static int summary_add(kv_vec *kv, kiln_arena *a, const char *k, int64_t v, kiln_err *err)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    kiln_lake_kv x = {k, kiln_arena_strndup(a, tmp, strlen(tmp))};
    if (!x.value)
        return KILN_OOM(err);
    return kiln_vec_push(kv, x, err);
}

static int64_t summary_num(const kiln_lake_snapshot *s, const char *key, int *has)
{
    const char *v = s ? kiln_lake_snapshot_summary(s, key) : NULL;
    *has = v != NULL;
    return v ? strtoll(v, NULL, 10) : 0;
}

typedef KILN_VEC(kiln_lake_manifest) manifest_vec;

/* ---------------------------------------------------------------- manifest merging
 *
 * Every commit adds a manifest, so a table appended to daily would make scan
 * planning read ever more small Avro files. Like Java's MergingSnapshotProducer,
 * a commit bin-packs the small data manifests of a partition spec into
 * manifests of about commit.manifest.target-size-bytes (8 MB) once the spec
 * has commit.manifest.min-count-to-merge (100) of them, unless
 * commit.manifest-merge.enabled is false. `kiln table rewrite-manifests`
 * does the same for every spec regardless of the count (operation
 * "replace"). In a merged manifest, entries this snapshot added stay ADDED,
 * entries it deleted stay DELETED, deletions of older snapshots are dropped
 * and the rest become EXISTING with their sequence numbers written out. */

typedef struct merge_env {
    kiln_lake_table *t;
    kiln_arena *a;
    const kiln_lake_view *view;
    const char *schema_json;
    int schema_id;
    int64_t snapshot_id, seq;
    int64_t target;    /* bytes */
    int64_t min_count; /* merge a spec's manifests once it has this many; 0 = always */
    int created, replaced, kept;
} merge_env;

static int64_t prop_num(const kiln_lake_meta *m, const char *k, int64_t dflt)
{
    const char *v = kiln_lake_meta_property(m, k);
    if (!v || !*v)
        return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end || x < 0 ? dflt : x;
}

static int merge_bin(merge_env *env, const manifest_vec *rows, const size_t *idx, size_t n, manifest_vec *out, int k,
                     kiln_err *err)
{
    KILN_VEC(kiln_lake_entry) ents = {0};
    const kiln_lake_pspec *spec = kiln_lake_view_spec(env->view, rows->items[idx[0]].spec_id);
    char *local = NULL, *uri = NULL;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const kiln_lake_manifest *m = &rows->items[idx[i]];
        kiln_lake_entry *es = NULL;
        size_t ne = 0;
        rc = kiln_lake_manifest_read(&es, &ne, env->a, m, m->path, spec, err);
        for (size_t j = 0; j < ne && !rc; j++) {
            kiln_lake_entry e = es[j];
            int mine = e.snapshot_id == env->snapshot_id;
            if (e.status == KILN_LAKE_STATUS_DELETED && !mine)
                continue;
            if (e.status == KILN_LAKE_STATUS_ADDED && !mine)
                e.status = KILN_LAKE_STATUS_EXISTING;
            rc = kiln_vec_push(&ents, e, err);
        }
    }
    if (rc)
        goto done;
    env->replaced += (int)n;
    if (!ents.len)
        goto done; /* only old deletions: nothing to carry */
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    local = kiln_sprintf("%s/metadata/%s-m%d-merged.avro", kiln_lake_table_dir(env->t), uuid, k);
    uri = local ? kiln_lake_path_to_uri(local) : NULL;
    if (!local || !uri) {
        rc = KILN_OOM(err);
        goto done;
    }
    kiln_lake_manifest_meta mm = {env->schema_json,
                                  env->schema_id,
                                  spec,
                                  0,
                                  env->snapshot_id,
                                  env->seq,
                                  kiln_lake_table_meta(env->t)->format_version};
    kiln_lake_manifest row;
    if ((rc = kiln_lake_manifest_write(&row, env->a, local, uri, &mm, ents.items, ents.len, err)))
        goto done;
    rc = kiln_vec_push(out, row, err);
    env->created++;
done:
    kiln_free(local);
    kiln_free(uri);
    kiln_vec_free(&ents);
    return rc;
}

/* Rewrites *rows: merged manifests first, then those left as they were. */
static int merge_manifests(merge_env *env, manifest_vec *rows, kiln_err *err)
{
    manifest_vec out = {0};
    KILN_VEC(size_t) idx = {0};
    uint8_t *gone = kiln_calloc(rows->len ? rows->len : 1, 1);
    int rc = 0, k = 0;
    if (!gone)
        return KILN_OOM(err);
    for (size_t i = 0; i < rows->len && !rc; i++) {
        const kiln_lake_manifest *m = &rows->items[i];
        if (m->content != 0)
            continue;
        int seen = 0; /* each spec once, at its first manifest */
        for (size_t j = 0; j < i && !seen; j++)
            seen = rows->items[j].content == 0 && rows->items[j].spec_id == m->spec_id;
        if (seen)
            continue;
        int64_t count = 0;
        idx.len = 0;
        for (size_t j = i; j < rows->len && !rc; j++) {
            const kiln_lake_manifest *x = &rows->items[j];
            if (x->content != 0 || x->spec_id != m->spec_id)
                continue;
            count++;
            if (x->length < env->target)
                rc = kiln_vec_push(&idx, j, err);
        }
        if (rc || (env->min_count && count < env->min_count) || !kiln_lake_view_spec(env->view, m->spec_id))
            continue;
        /* bins in manifest-list order, each up to the target size */
        size_t b0 = 0;
        while (b0 < idx.len && !rc) {
            size_t b1 = b0;
            int64_t size = 0;
            while (b1 < idx.len && (b1 == b0 || size + rows->items[idx.items[b1]].length <= env->target))
                size += rows->items[idx.items[b1++]].length;
            if (b1 - b0 >= 2) {
                rc = merge_bin(env, rows, idx.items + b0, b1 - b0, &out, k++, err);
                for (size_t q = b0; q < b1; q++)
                    gone[idx.items[q]] = 1;
            }
            b0 = b1;
        }
    }
    for (size_t i = 0; i < rows->len && !rc; i++)
        if (!gone[i]) {
            rc = kiln_vec_push(&out, rows->items[i], err);
            env->kept++;
        }
    if (!rc) {
        kiln_vec_free(rows);
        *rows = out;
        out.items = NULL;
    }
    kiln_vec_free(&out);
    kiln_vec_free(&idx);
    kiln_free(gone);
    return rc;
}

/* Add a snapshot (summary: sum plus engine name and version; timestamp now) and
 * point branch at it, requiring the branch to be at expect_head (-1: not
 * to exist); an existing branch keeps its retention settings. */
typedef struct snap_spec {
    int64_t snapshot_id, parent_id, seq;
    const char *manifest_list;
    int32_t schema_id;
    const char *operation;
    int has_row_lineage; /* v3: first-row-id and added-rows of the snapshot */
    int64_t first_row_id, added_rows;
} snap_spec;

static int add_snapshot_on(kiln_lake_txn *txn, const kiln_lake_meta *base, const char *branch, int64_t expect_head,
                           const snap_spec *sp, kv_vec *sum, kiln_err *err)
{
    kiln_lake_kv eng[] = {{"engine-name", "kiln"}, {"engine-version", KILN_VERSION}};
    int rc;
    for (size_t i = 0; i < 2; i++)
        if ((rc = kiln_vec_push(sum, eng[i], err)))
            return rc;
    kiln_lake_snapshot snap;
    memset(&snap, 0, sizeof snap);
    snap.snapshot_id = sp->snapshot_id;
    snap.parent_id = sp->parent_id;
    snap.sequence_number = sp->seq;
    snap.timestamp_ms = kiln_now_micros() / 1000;
    snap.manifest_list = sp->manifest_list;
    snap.schema_id = sp->schema_id;
    snap.operation = sp->operation;
    snap.nsummary = sum->len;
    snap.summary = sum->items;
    snap.has_row_lineage = sp->has_row_lineage;
    snap.first_row_id = sp->first_row_id;
    snap.added_rows = sp->added_rows;
    if ((rc = kiln_lake_txn_require_ref_snapshot(txn, branch, expect_head, err)) ||
        (rc = kiln_lake_txn_add_snapshot(txn, &snap, err)))
        return rc;
    kiln_lake_ref ref = {branch, KILN_LAKE_BRANCH, sp->snapshot_id, -1, -1, -1};
    const kiln_lake_ref *old = kiln_lake_meta_ref(base, branch);
    if (old) { /* keep its retention; a new branch gets the defaults */
        ref.min_snapshots_to_keep = old->min_snapshots_to_keep;
        ref.max_snapshot_age_ms = old->max_snapshot_age_ms;
        ref.max_ref_age_ms = old->max_ref_age_ms;
    }
    return kiln_lake_txn_set_ref(txn, &ref, err);
}

/* Write a snapshot's manifest list (named per attempt, so a retried commit
 * never reuses a file); *path and *uri are the caller's to free. */
static int write_mlist(kiln_lake_table *t, int64_t snapshot_id, int attempt, int64_t parent, int64_t seq,
                       manifest_vec *rows, const kiln_lake_meta *base, snap_spec *sp, char **path, char **uri,
                       kiln_err *err)
{
    int fv = base->format_version >= 3 ? 3 : 2;
    if (fv == 3) { /* row lineage: data manifests without first_row_id get ids from next-row-id on */
        sp->has_row_lineage = 1;
        sp->first_row_id = base->next_row_id;
        sp->added_rows = kiln_lake_mlist_assign_row_ids(rows->items, rows->len, base->next_row_id);
    }
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    *path =
        kiln_sprintf("%s/metadata/snap-%lld-%d-%s.avro", kiln_lake_table_dir(t), (long long)snapshot_id, attempt, uuid);
    *uri = *path ? kiln_lake_path_to_uri(*path) : NULL;
    if (!*path || !*uri)
        return KILN_OOM(err);
    kiln_lake_mlist_meta mlm = {snapshot_id, parent, seq, fv};
    return kiln_lake_manifest_list_write(*path, &mlm, rows->items, rows->len, err);
}

typedef KILN_VEC(kiln_lake_entry) entry_vec;

/* build_commit step: carry manifest m (the i-th of the parent's list) into
 * the new snapshot. Entries of files this commit removes become DELETED in
 * a rewritten manifest; *found counts them. A concurrent commit that added
 * a file to a partition this operation rewrites is KILN_ECONFLICT. */
static int carry_manifest(kiln_lake_writer *w, const kiln_lake_view *view, const kiln_lake_manifest *m, size_t i,
                          int64_t seq, kiln_map *removed, kiln_arena *a, entry_vec *ents, manifest_vec *rows,
                          size_t *found, kiln_err *err)
{
    int rc;
    const kiln_lake_pspec *spec = kiln_lake_view_spec(view, m->spec_id);
    kiln_lake_entry *es = NULL;
    size_t ne = 0;
    if ((rc = kiln_lake_manifest_read(&es, &ne, a, m, m->path, spec, err)))
        return rc;
    size_t hits = 0, hits_dv = 0;
    ents->len = 0;
    for (size_t k = 0; k < ne; k++) {
        kiln_lake_entry e = es[k];
        if (e.status == KILN_LAKE_STATUS_DELETED)
            continue;
        int is_removed = m->content == 0 && kiln_map_has(removed, e.df.file_path, strlen(e.df.file_path));
        if (w->dvs.len && m->content == 0) {
            for (size_t d = 0; d < w->dvs.len; d++)
                if (!strcmp(w->dvs.items[d].data_file, e.df.file_path))
                    w->dv_found_data++;
        } else if (w->dvs.len && e.df.content == KILN_LAKE_CONTENT_POS_DELETES && e.df.referenced_data_file &&
                   e.df.file_format && !strcasecmp(e.df.file_format, "PUFFIN")) {
            char key[4096];
            snprintf(key, sizeof key, "%s#%lld", e.df.file_path, (long long)e.df.content_offset);
            if (w->dv_old && kiln_map_has(w->dv_old, key, strlen(key))) {
                is_removed = 1;
                w->dv_found_old++;
                hits_dv++;
            } else {
                for (size_t d = 0; d < w->dvs.len; d++)
                    if (!strcmp(w->dvs.items[d].data_file, e.df.referenced_data_file))
                        return kiln_err_set(err, KILN_ECONFLICT,
                                            "%s: a concurrent commit deleted rows of %s too; retry the operation",
                                            kiln_lake_table_name(w->t), e.df.referenced_data_file);
            }
        }
        if (!is_removed && w->check_touched && w->attempt > 1 &&
            !kiln_map_has(w->touched_live, e.df.file_path, strlen(e.df.file_path))) {
            for (size_t g = 0; g < w->touched.len; g++)
                if (in_group(w, &e, w->touched.items[g])) {
                    rc = kiln_err_set(err, KILN_ECONFLICT,
                                      "%s: a concurrent commit added %s to a partition this operation "
                                      "rewrites; retry the operation",
                                      kiln_lake_table_name(w->t), e.df.file_path);
                    return rc;
                }
        }
        if (is_removed) {
            hits++;
            e.status = KILN_LAKE_STATUS_DELETED;
        } else {
            e.status = KILN_LAKE_STATUS_EXISTING;
        }
        if ((rc = kiln_vec_push(ents, e, err)))
            return rc;
    }
    if (!hits) {
        if (m->added_files == 0 && m->existing_files == 0)
            return 0;
        return kiln_vec_push(rows, *m, err);
    }
    *found += hits - hits_dv;
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    char *local = kiln_sprintf("%s/metadata/%s-m%zu.avro", kiln_lake_table_dir(w->t), uuid, i);
    char *uri = local ? kiln_lake_path_to_uri(local) : NULL;
    kiln_lake_manifest_meta mm = {w->schema_json,
                                  w->schema_id,
                                  spec,
                                  m->content,
                                  w->snapshot_id,
                                  seq,
                                  kiln_lake_table_meta(w->t)->format_version};
    kiln_lake_manifest row;
    if (!local || !uri)
        rc = KILN_OOM(err);
    else
        rc = kiln_lake_manifest_write(&row, a, local, uri, &mm, ents->items, ents->len, err);
    kiln_free(local);
    kiln_free(uri);
    if (rc)
        return rc;
    if (row.added_files == 0 && row.existing_files == 0 && row.deleted_files == 0)
        return 0;
    return kiln_vec_push(rows, row, err);
}

/* build_commit step: the snapshot summary (operation, added/deleted
 * files, records and sizes, changed partitions, totals) into *sum; *op is
 * the operation. */
static int snapshot_summary(kiln_lake_writer *w, const kiln_lake_meta *base, int64_t parent, const manifest_vec *rows,
                            kiln_arena *a, kv_vec *sum, const char **op_out, kiln_err *err)
{
    int rc;
    int64_t added_rows = 0, removed_rows = 0, added_size = 0, removed_size = 0;
    for (size_t i = 0; i < w->added.len; i++) {
        added_rows += w->added.items[i].df.record_count;
        added_size += w->added.items[i].df.file_size_in_bytes;
    }
    for (size_t i = 0; i < w->removed.len; i++) {
        removed_rows += w->removed.items[i].df.record_count;
        removed_size += w->removed.items[i].df.file_size_in_bytes;
    }
    int64_t tdf = 0, trec = 0, tdel = 0;
    for (size_t i = 0; i < rows->len; i++) {
        const kiln_lake_manifest *m = &rows->items[i];
        if (m->content == 0) {
            tdf += (m->added_files > 0 ? m->added_files : 0) + (m->existing_files > 0 ? m->existing_files : 0);
            trec += (m->added_rows > 0 ? m->added_rows : 0) + (m->existing_rows > 0 ? m->existing_rows : 0);
        } else {
            tdel += (m->added_files > 0 ? m->added_files : 0) + (m->existing_files > 0 ? m->existing_files : 0);
        }
    }
    const kiln_lake_snapshot *ps = parent >= 0 ? kiln_lake_meta_snapshot(base, parent) : NULL;
    int has;
    int64_t psize = summary_num(ps, "total-files-size", &has);
    int64_t ppos = summary_num(ps, "total-position-deletes", &has);
    int64_t peq = summary_num(ps, "total-equality-deletes", &has);
    const char *op = w->is_delete                     ? (w->added.len ? "overwrite" : "delete")
                     : (w->removed.len || w->dvs.len) ? "overwrite"
                                                      : "append";
    /* v3 deletion vectors: each counts as a delete file (Iceberg's summary) */
    int64_t dv_added = 0, dv_removed = 0, dv_old_files = 0;
    for (size_t i = 0; i < w->dvs.len; i++) {
        dv_added += (int64_t)kiln_i64set_len(w->dvs.items[i].set);
        dv_removed += w->dvs.items[i].old_card;
        dv_old_files += w->dvs.items[i].old_dv != NULL;
    }
    if (w->dvs.len)
        ppos += dv_added - dv_removed;
    /* changed partitions: distinct dirs of added files + removed files */
    kiln_map *parts = kiln_map_new();
    if (!parts) {
        return KILN_OOM(err);
    }
    for (size_t i = 0; i < w->added.len + w->removed.len; i++) {
        const char *p =
            i < w->added.len ? w->added.items[i].df.file_path : w->removed.items[i - w->added.len].df.file_path;
        const char *slash = strrchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : 0;
        if (kiln_map_put(parts, p, n, NULL, err)) {
            kiln_map_free(parts);
            return err->code;
        }
    }
    int64_t nparts = (int64_t)kiln_map_len(parts);
    kiln_map_free(parts);
    kiln_lake_kv opkv = {"operation", op};
    if ((rc = kiln_vec_push(sum, opkv, err)))
        return rc;
    if ((w->added.len && ((rc = summary_add(sum, a, "added-data-files", (int64_t)w->added.len, err)) ||
                          (rc = summary_add(sum, a, "added-records", added_rows, err)) ||
                          (rc = summary_add(sum, a, "added-files-size", added_size, err)))) ||
        (w->removed.len && ((rc = summary_add(sum, a, "deleted-data-files", (int64_t)w->removed.len, err)) ||
                            (rc = summary_add(sum, a, "deleted-records", removed_rows, err)) ||
                            (rc = summary_add(sum, a, "removed-files-size", removed_size, err)))) ||
        (w->dvs.len && ((rc = summary_add(sum, a, "added-dvs", (int64_t)w->dvs.len, err)) ||
                        (rc = summary_add(sum, a, "added-delete-files", (int64_t)w->dvs.len, err)) ||
                        (rc = summary_add(sum, a, "added-position-deletes", dv_added, err)))) ||
        (dv_old_files && ((rc = summary_add(sum, a, "removed-dvs", dv_old_files, err)) ||
                          (rc = summary_add(sum, a, "removed-delete-files", dv_old_files, err)) ||
                          (rc = summary_add(sum, a, "removed-position-deletes", dv_removed, err)))) ||
        (rc = summary_add(sum, a, "changed-partition-count", nparts, err)) ||
        (rc = summary_add(sum, a, "total-records", trec, err)) ||
        (rc = summary_add(sum, a, "total-files-size", psize + added_size - removed_size, err)) ||
        (rc = summary_add(sum, a, "total-data-files", tdf, err)) ||
        (rc = summary_add(sum, a, "total-delete-files", tdel, err)) ||
        (rc = summary_add(sum, a, "total-position-deletes", ppos, err)) ||
        (rc = summary_add(sum, a, "total-equality-deletes", peq, err)))
        return rc;
    *op_out = op;
    return 0;
}

/* The new snapshot of a writer's commit on txn's base: the parent's
 * manifests carried (rewritten where this commit removes files), the
 * added manifest, manifest merging, the manifest list and the summary. */
static int build_commit(kiln_lake_writer *w, kiln_lake_txn *txn, kiln_err *err)
{
    const kiln_lake_meta *base = kiln_lake_txn_base(txn);
    kiln_arena *a = kiln_arena_new(64 * 1024);
    kiln_lake_view view;
    manifest_vec rows = {0};
    entry_vec ents = {0};
    kv_vec sum = {0};
    kiln_map *removed = NULL;
    char *mlpath = NULL, *mluri = NULL;
    int rc = 0;
    if (!a || !(removed = kiln_map_new())) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < w->removed.len; i++)
        if ((rc = kiln_map_put(removed, w->removed.items[i].df.file_path, strlen(w->removed.items[i].df.file_path),
                               NULL, err)))
            goto done;
    int64_t head = branch_head(base, w->branch);
    int64_t parent = head >= 0 ? head : -1;
    if (head == -2)
        parent = fork_head(base, w->branch_from); /* a new branch starts at branch_from (or main) */
    int64_t seq = kiln_lake_txn_next_sequence_number(txn);
    if ((rc = kiln_lake_view_from_meta(&view, a, base, parent, NULL, err)))
        goto done;
    if (w->has_added_manifest) {
        kiln_lake_manifest m = w->added_manifest;
        m.seq = m.min_seq = seq;
        m.added_snapshot_id = w->snapshot_id;
        if ((rc = kiln_vec_push(&rows, m, err)))
            goto done;
    }
    for (size_t i = 0; i < w->dv_manifests.len; i++) {
        kiln_lake_manifest m = w->dv_manifests.items[i];
        m.seq = m.min_seq = seq;
        m.added_snapshot_id = w->snapshot_id;
        if ((rc = kiln_vec_push(&rows, m, err)))
            goto done;
    }
    size_t found = 0;
    w->dv_found_data = w->dv_found_old = 0;
    if (parent >= 0 && view.manifest_list) {
        kiln_lake_manifest *ms = NULL;
        size_t nm = 0;
        if ((rc = kiln_lake_manifest_list_read(&ms, &nm, a, view.manifest_list, err)))
            goto done;
        for (size_t i = 0; i < nm; i++) {
            const kiln_lake_manifest *m = &ms[i];
            int need_read = m->content == 0 && (w->removed.len || w->check_touched || w->dvs.len);
            if (m->content != 0 && w->dvs.len)
                need_read = 1; /* the vectors replaced, and any concurrent one for the same files */
            if (need_read && w->check_touched) {
                /* removed files all lie in touched partitions: skip manifests
                 * whose partition summaries rule every touched partition out */
                keep_ctx kc = {w, (const group *const *)w->touched.items, w->touched.len};
                need_read = keep_manifest(&kc, m);
            }
            if (!need_read) {
                if (m->added_files == 0 && m->existing_files == 0)
                    continue; /* no live files */
                if ((rc = kiln_vec_push(&rows, *m, err)))
                    goto done;
                continue;
            }
            if ((rc = carry_manifest(w, &view, m, i, seq, removed, a, &ents, &rows, &found, err)))
                goto done;
        }
    }
    if (w->dvs.len && w->dv_found_data != w->dvs.len) {
        rc = kiln_err_set(err, KILN_ECONFLICT,
                          "%s: a data file this operation deletes rows from was removed by a concurrent commit; "
                          "retry the operation",
                          kiln_lake_table_name(w->t));
        goto done;
    }
    if (w->dv_old && w->dv_found_old != kiln_map_len(w->dv_old)) {
        rc = kiln_err_set(err, KILN_ECONFLICT,
                          "%s: a deletion vector this operation replaces was replaced by a concurrent commit; "
                          "retry the operation",
                          kiln_lake_table_name(w->t));
        goto done;
    }
    if (found != w->removed.len) {
        rc = kiln_err_set(err, KILN_ECONFLICT,
                          "%s: %zu of the files this operation rewrites were removed by a concurrent commit; "
                          "retry the operation",
                          kiln_lake_table_name(w->t), w->removed.len - found);
        goto done;
    }
    if (strcmp(kiln_lake_meta_property(base, "commit.manifest-merge.enabled") ?: "true", "false") != 0) {
        merge_env env = {w->t,
                         a,
                         &view,
                         w->schema_json,
                         w->schema_id,
                         w->snapshot_id,
                         seq,
                         prop_num(base, "commit.manifest.target-size-bytes", 8 << 20),
                         prop_num(base, "commit.manifest.min-count-to-merge", 100),
                         0,
                         0,
                         0};
        if (env.min_count < 2)
            env.min_count = 2;
        if ((rc = merge_manifests(&env, &rows, err)))
            goto done;
    }
    snap_spec sp = {w->snapshot_id, parent, seq, NULL, w->schema_id, NULL, 0, 0, 0};
    if ((rc = write_mlist(w->t, w->snapshot_id, w->attempt, parent, seq, &rows, base, &sp, &mlpath, &mluri, err)))
        goto done;
    if (w->attempt == 1 && w->opts.fault && (rc = w->opts.fault(KILN_LAKE_FAULT_AFTER_MANIFESTS, w->opts.fault_ctx))) {
        rc = kiln_err_set(err, rc < 0 ? rc : KILN_EINTERNAL, "fault injected after manifests");
        goto done;
    }
    const char *op = NULL;
    if ((rc = snapshot_summary(w, base, parent, &rows, a, &sum, &op, err)))
        goto done;
    sp.manifest_list = mluri;
    sp.operation = op;
    rc = add_snapshot_on(txn, base, w->branch, head >= 0 ? head : -1, &sp, &sum, err);
done:
    kiln_free(mlpath);
    kiln_free(mluri);
    kiln_vec_free(&rows);
    kiln_vec_free(&ents);
    kiln_vec_free(&sum);
    kiln_map_free(removed);
    kiln_arena_free(a);
    return rc;
}

static int rebase_hook(kiln_lake_txn *txn, void *ctx, kiln_err *err)
{
    kiln_lake_writer *w = ctx;
    kiln_lake_txn_clear(txn);
    w->attempt++;
    return build_commit(w, txn, err);
}

static int commit_files(kiln_lake_writer *w, kiln_lake_write_result *res, kiln_err *err)
{
    int rc = 0;
    kiln_lake_txn *txn = NULL;
    kiln_arena *a = w->arena;
    if (!w->added.len && !w->removed.len && !w->dvs.len) {
        res->noop = 1;
        res->snapshot_id = -1;
        return 0;
    }
    if (w->opts.fault && (rc = w->opts.fault(KILN_LAKE_FAULT_AFTER_DATA_FILES, w->opts.fault_ctx)))
        return kiln_err_set(err, rc < 0 ? rc : KILN_EINTERNAL, "fault injected after data files");
    w->snapshot_id = kiln_lake_snapshot_id_new();
    if (w->added.len) {
        const kiln_lake_meta *m = kiln_lake_table_meta(w->t);
        char *local = kiln_sprintf("%s/metadata/%s-m-added.avro", kiln_lake_table_dir(w->t), w->uuid);
        char *uri = local ? kiln_lake_path_to_uri(local) : NULL;
        kiln_lake_manifest_meta mm = {
            w->schema_json, w->schema_id, w->spec, 0, w->snapshot_id, m->last_sequence_number + 1, m->format_version};
        if (!local || !uri)
            rc = KILN_OOM(err);
        else
            rc = kiln_lake_manifest_write(&w->added_manifest, a, local, uri, &mm, w->added.items, w->added.len, err);
        kiln_free(local);
        kiln_free(uri);
        if (rc)
            return rc;
        w->has_added_manifest = 1;
    }
    if (w->dvs.len && (rc = dv_write(w, err)))
        return rc;
    w->attempt = 1;
    if ((rc = kiln_lake_txn_begin(&txn, w->t, err)))
        return rc;
    if ((rc = build_commit(w, txn, err)))
        goto done;
    kiln_lake_commit_opts co;
    memset(&co, 0, sizeof co);
    if (w->opts.commit)
        co = *w->opts.commit;
    co.rebase = rebase_hook;
    co.rebase_ctx = w;
    int attempts = 0;
    if ((rc = kiln_lake_txn_commit(txn, &co, &attempts, err)))
        goto done;
    res->snapshot_id = w->snapshot_id;
    res->attempts = attempts;
    res->files_added = (int64_t)w->added.len;
    res->files_removed = (int64_t)w->removed.len;
done:
    kiln_lake_txn_free(txn);
    return rc;
}

int kiln_lake_writer_commit(kiln_lake_writer *w, kiln_lake_write_result *result, kiln_err *err)
{
    kiln_lake_write_result res;
    memset(&res, 0, sizeof res);
    res.snapshot_id = -1;
    kiln_map *groups = kiln_map_new();
    group_vec list = {0};
    kiln_lake_plan *plan = NULL;
    kiln_buf dir;
    kiln_buf_init(&dir, 0);
    int rc = 0;
    if (!groups) {
        rc = KILN_OOM(err);
        goto done;
    }
    group *last = NULL;
    for (size_t c = 0; c < w->src.chunks.len; c++) {
        const kiln_batch *b = w->src.chunks.items[c];
        for (size_t r = 0; r < b->nrows; r++) {
            group *g;
            if ((rc = find_group(w, groups, &list, b, r, &dir, &last, &g, err)))
                goto done;
            rowref x = {(uint32_t)c, (uint32_t)r};
            if ((rc = kiln_vec_push(&g->rows, x, err)))
                goto done;
        }
    }
    if (w->opts.mode != KILN_LAKE_WRITE_APPEND && w->view.snapshot_id >= 0) {
        keep_ctx kc = {w, (const group *const *)list.items, list.len};
        if ((rc = kiln_lake__plan_new_ex(&plan, &w->view, NULL, keep_manifest, &kc, err)))
            goto done;
    }
    for (size_t i = 0; i < list.len; i++) {
        group *g = list.items[i];
        switch (w->opts.mode) {
        case KILN_LAKE_WRITE_APPEND:
            rc = write_refs(w, g, &w->src, g->rows.items, g->rows.len, err);
            res.rows_inserted += (int64_t)g->rows.len;
            break;
        case KILN_LAKE_WRITE_OVERWRITE:
            for (size_t k = 0; plan && !rc && k < kiln_lake_plan_nlive(plan); k++) {
                const kiln_lake_entry *e = kiln_lake_plan_live(plan, k);
                if (in_group(w, e, g)) {
                    res.rows_deleted += e->df.record_count;
                    rc = remove_entry(w, e, err);
                }
            }
            if (!rc)
                rc = write_refs(w, g, &w->src, g->rows.items, g->rows.len, err);
            res.rows_inserted += (int64_t)g->rows.len;
            if (!rc)
                rc = kiln_vec_push(&w->touched, g, err);
            break;
        case KILN_LAKE_WRITE_MERGE:
            rc = do_merge_group(w, plan, g, &res, err);
            if (!rc)
                rc = kiln_vec_push(&w->touched, g, err);
            break;
        }
        if (rc)
            goto done;
    }
    if (w->touched.len && (rc = note_touched(w, plan, err)))
        goto done;
    if ((rc = commit_files(w, &res, err)))
        goto done;
done:
    if (result)
        *result = res;
    kiln_buf_free(&dir);
    for (size_t i = 0; i < list.len; i++)
        kiln_vec_free(&list.items[i]->rows);
    kiln_vec_free(&list);
    kiln_map_free(groups);
    kiln_lake_plan_free(plan);
    return rc;
}

void kiln_lake_writer_free(kiln_lake_writer *w)
{
    if (!w)
        return;
    store_free(&w->src);
    kiln_vec_free(&w->added);
    kiln_vec_free(&w->removed);
    kiln_vec_free(&w->touched);
    kiln_map_free(w->touched_live);
    for (size_t i = 0; i < w->dvs.len; i++)
        kiln_i64set_free(w->dvs.items[i].set);
    kiln_vec_free(&w->dvs);
    kiln_vec_free(&w->dv_manifests);
    kiln_map_free(w->dv_old);
    kiln_arena_free(w->pscratch);
    kiln_arena_free(w->arena);
    kiln_free(w);
}

/* ---------------------------------------------------------------- rewrite manifests */

typedef struct rewrite_ctx {
    kiln_lake_table *t;
    const char *branch;
    int64_t target;
    int64_t snapshot_id;
    int attempt;
    kiln_lake_rewrite_result *res;
} rewrite_ctx;

static int build_rewrite(kiln_lake_txn *txn, void *vctx, kiln_err *err)
{
    rewrite_ctx *c = vctx;
    const kiln_lake_meta *base = kiln_lake_txn_base(txn);
    kiln_arena *a = kiln_arena_new(64 * 1024);
    manifest_vec rows = {0};
    kv_vec sum = {0};
    kiln_buf sj;
    kiln_buf_init(&sj, 0);
    char *mlpath = NULL, *mluri = NULL;
    kiln_lake_manifest *ms = NULL;
    size_t nm = 0;
    kiln_lake_view view;
    int rc = 0;
    c->attempt++;
    memset(c->res, 0, sizeof *c->res);
    c->res->snapshot_id = -1;
    if (!a)
        return KILN_OOM(err);
    int64_t head = branch_head(base, c->branch);
    if (head == -2) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no branch %s", kiln_lake_table_name(c->t), c->branch);
        goto done;
    }
    if (head < 0) /* an empty table: nothing to rewrite */
        goto done;
    if ((rc = kiln_lake_view_from_meta(&view, a, base, head, NULL, err)))
        goto done;
    if ((rc = kiln_lake_manifest_list_read(&ms, &nm, a, view.manifest_list, err)))
        goto done;
    for (size_t i = 0; i < nm; i++)
        if ((rc = kiln_vec_push(&rows, ms[i], err)))
            goto done;
    const kiln_lake_schema *ls = kiln_lake_meta_current_schema(base);
    if ((rc = kiln_lake__schema_json_text(&sj, ls, err)))
        goto done;
    int64_t seq = kiln_lake_txn_next_sequence_number(txn);
    merge_env env = {c->t, a, &view, sj.data, ls->schema_id, c->snapshot_id, seq, c->target, 0, 0, 0, 0};
    if ((rc = merge_manifests(&env, &rows, err)))
        goto done;
    c->res->manifests_before = (int)nm;
    c->res->manifests_after = (int)rows.len;
    c->res->manifests_replaced = env.replaced;
    if (!env.replaced)
        goto done; /* already compact: no snapshot */
    snap_spec sp = {c->snapshot_id, head, seq, NULL, ls->schema_id, "replace", 0, 0, 0};
    if ((rc = write_mlist(c->t, c->snapshot_id, c->attempt, head, seq, &rows, base, &sp, &mlpath, &mluri, err)))
        goto done;
    /* summary: what Java's RewriteManifests reports, totals carried over */
    const kiln_lake_snapshot *ps = kiln_lake_meta_snapshot(base, head);
    kiln_lake_kv opkv = {"operation", "replace"};
    if ((rc = kiln_vec_push(&sum, opkv, err)) || (rc = summary_add(&sum, a, "manifests-created", env.created, err)) ||
        (rc = summary_add(&sum, a, "manifests-kept", env.kept, err)) ||
        (rc = summary_add(&sum, a, "manifests-replaced", env.replaced, err)))
        goto done;
    static const char *const totals[] = {"total-records",      "total-files-size",       "total-data-files",
                                         "total-delete-files", "total-position-deletes", "total-equality-deletes"};
    for (size_t i = 0; i < sizeof totals / sizeof totals[0]; i++) {
        int has;
        int64_t v = summary_num(ps, totals[i], &has);
        if (has && (rc = summary_add(&sum, a, totals[i], v, err)))
            goto done;
    }
    sp.manifest_list = mluri;
    if ((rc = add_snapshot_on(txn, base, c->branch, head, &sp, &sum, err)))
        goto done;
    c->res->snapshot_id = c->snapshot_id;
done:
    kiln_free(mlpath);
    kiln_free(mluri);
    kiln_buf_free(&sj);
    kiln_vec_free(&rows);
    kiln_vec_free(&sum);
    kiln_arena_free(a);
    return rc;
}

static int rewrite_rebase(kiln_lake_txn *txn, void *ctx, kiln_err *err)
{
    kiln_lake_txn_clear(txn);
    return build_rewrite(txn, ctx, err);
}

int kiln_lake_rewrite_manifests(kiln_lake_table *t, const char *branch, int64_t target_bytes,
                                kiln_lake_rewrite_result *result, kiln_err *err)
{
    if (kiln_lake__refuse_registered(t, err))
        return err->code;
    kiln_lake_rewrite_result res;
    rewrite_ctx c = {t, branch && *branch ? branch : "main", target_bytes, kiln_lake_snapshot_id_new(), 0, &res};
    if (c.target <= 0)
        c.target = prop_num(kiln_lake_table_meta(t), "commit.manifest.target-size-bytes", 8 << 20);
    kiln_lake_txn *txn = NULL;
    int rc = kiln_lake_txn_begin(&txn, t, err);
    if (!rc)
        rc = build_rewrite(txn, &c, err);
    if (!rc && res.snapshot_id >= 0) {
        kiln_lake_commit_opts co = {.rebase = rewrite_rebase, .rebase_ctx = &c};
        rc = kiln_lake_txn_commit(txn, &co, NULL, err);
    }
    kiln_lake_txn_free(txn);
    if (rc)
        res.snapshot_id = -1;
    if (result)
        *result = res;
    return rc;
}

/* ---------------------------------------------------------------- delete */

typedef struct del_ctx {
    const kiln_lake_pred *pred;
    store keep;
    int64_t dropped;
    kiln_i64set *dv; /* v3: positions of the matching rows */
} del_ctx;

static int del_dv_cb(void *ctx, const kiln_batch *b, const int64_t *pos, kiln_err *err)
{
    del_ctx *dc = ctx;
    for (size_t row = 0; row < b->nrows; row++) {
        if (!kiln_lake_pred_match_row(dc->pred, b, row))
            continue;
        dc->dropped++;
        if (!dc->dv && !(dc->dv = kiln_i64set_new()))
            return KILN_OOM(err);
        int rc = kiln_i64set_add(dc->dv, pos[row], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int del_cb(void *ctx, const kiln_batch *b, kiln_err *err)
{
    del_ctx *dc = ctx;
    for (size_t row = 0; row < b->nrows; row++) {
        if (kiln_lake_pred_match_row(dc->pred, b, row)) {
            dc->dropped++;
            continue;
        }
        int rc = store_add_same(&dc->keep, b, row, err);
        if (rc)
            return rc;
    }
    return 0;
}

int kiln_lake_delete_where(kiln_lake_table *t, const char *where, const kiln_lake_write_opts *opts,
                           kiln_lake_write_result *result, kiln_err *err)
{
    if (kiln_lake__refuse_registered(t, err))
        return err->code;
    kiln_lake_write_opts o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    o.mode = KILN_LAKE_WRITE_APPEND;
    kiln_lake_writer *w = NULL;
    kiln_lake_plan *plan = NULL;
    kiln_lake_write_result res;
    memset(&res, 0, sizeof res);
    res.snapshot_id = -1;
    del_ctx dc;
    memset(&dc, 0, sizeof dc);
    kiln_lake_pred pred;
    int rc;
    if (!where || !*where)
        return kiln_err_set(err, KILN_EINVAL, "delete needs a predicate (--where); to empty a table drop it");
    if ((rc = kiln_lake_writer_open(&w, t, &o, err)))
        return rc;
    w->is_delete = 1;
    dc.keep.schema = w->view.schema;
    kiln_schema xs; /* the columns, and fields inside structs ("s.a") */
    if ((rc = kiln_lake_view_leaf_schema(&w->view, w->arena, &xs, err)) ||
        (rc = kiln_lake_pred_parse(&pred, w->arena, &xs, where, err)))
        goto done;
    dc.pred = &pred;
    if (w->view.snapshot_id >= 0 && (rc = kiln_lake_plan_new(&plan, &w->view, &pred, err)))
        goto done;
    int nf = w->spec ? w->spec->nfields : 0;
    for (size_t i = 0; plan && i < kiln_lake_plan_ntasks(plan); i++) {
        const kiln_lake_task *task = kiln_lake_plan_task(plan, i);
        store_reset(&dc.keep);
        dc.dropped = 0;
        if ((rc = kiln_lake__task_read_where(&w->view, task, &pred, w->dv_mode ? NULL : del_cb,
                                             w->dv_mode ? del_dv_cb : NULL, &dc, err)))
            goto done;
        if (!dc.dropped)
            continue;
        res.rows_deleted += dc.dropped;
        if (w->dv_mode) {
            kiln_i64set *set = dc.dv;
            dc.dv = NULL;
            if ((rc = dv_add_target(w, task, set, err)))
                goto done;
        } else if ((rc = remove_entry(w, task->data, err))) {
            goto done;
        }
        group *g = kiln_arena_alloc(w->arena, sizeof *g);
        if (!g) {
            rc = KILN_OOM(err);
            goto done;
        }
        memset(g, 0, sizeof *g);
        g->part = task->data->df.partition;
        g->dir = "";
        if (nf && task->data->df.spec_id == w->spec->spec_id) {
            /* same directory as the file it replaces */
            kiln_buf d;
            kiln_buf_init(&d, 0);
            for (int k = 0; k < nf && !rc; k++) {
                rc = kiln_buf_printf(&d, err, "%s%s=", k ? "/" : "", w->spec->fields[k].name);
                if (!rc)
                    rc = kiln_lake_pvalue_text(&w->spec->fields[k], &g->part[k], &d, err);
            }
            g->dir = rc ? NULL : kiln_arena_strndup(w->arena, d.data, d.len);
            kiln_buf_free(&d);
            if (rc || !g->dir) {
                rc = rc ? rc : KILN_OOM(err);
                goto done;
            }
            /* partition values must outlive the plan: copy */
            kiln_lake_value *pc = kiln_arena_alloc(w->arena, (size_t)nf * sizeof *pc);
            if (!pc) {
                rc = KILN_OOM(err);
                goto done;
            }
            for (int k = 0; k < nf; k++) {
                pc[k] = g->part[k];
                if (pc[k].bytes) {
                    uint8_t *cp = kiln_arena_alloc(w->arena, pc[k].len + 1);
                    if (!cp) {
                        rc = KILN_OOM(err);
                        goto done;
                    }
                    memcpy(cp, pc[k].bytes, pc[k].len);
                    pc[k].bytes = cp;
                }
            }
            g->part = pc;
        } else if (nf) {
            rc = kiln_err_set(err, KILN_EUNSUPP, "delete: %s was written with an older partition spec",
                              task->data->df.file_path);
            goto done;
        }
        if (dc.keep.nrows && (rc = write_store(w, g, &dc.keep, err)))
            goto done;
        if ((rc = kiln_vec_push(&w->touched, g, err)))
            goto done;
    }
    kiln_lake_plan_free(plan);
    plan = NULL;
    if (w->touched.len) {
        kiln_lake_plan *all = NULL;
        keep_ctx kc = {w, (const group *const *)w->touched.items, w->touched.len};
        if ((rc = kiln_lake__plan_new_ex(&all, &w->view, NULL, keep_manifest, &kc, err)))
            goto done;
        rc = note_touched(w, all, err);
        kiln_lake_plan_free(all);
        if (rc)
            goto done;
    }
    rc = commit_files(w, &res, err);
done:
    if (result)
        *result = res;
    store_free(&dc.keep);
    kiln_i64set_free(dc.dv);
    kiln_lake_plan_free(plan);
    kiln_lake_writer_free(w);
    return rc;
}

/* ---------------------------------------------------------------- sink */

typedef struct lake_sink {
    kiln_sink base;
    kiln_lake_writer *w;
    kiln_lake_write_result *result;
} lake_sink;

static int sink_write(kiln_sink *s, const kiln_batch *b, kiln_err *err)
{
    return kiln_lake_writer_write(((lake_sink *)s)->w, b, err);
}
static int sink_commit(kiln_sink *s, kiln_err *err)
{
    lake_sink *ls = (lake_sink *)s;
    return kiln_lake_writer_commit(ls->w, ls->result, err);
}
static void sink_abort(kiln_sink *s) { (void)s; /* nothing reaches the table before commit */ }
static void sink_free(kiln_sink *s)
{
    lake_sink *ls = (lake_sink *)s;
    kiln_lake_writer_free(ls->w);
    kiln_free(ls);
}
static const kiln_sink_ops lake_sink_ops = {sink_write, sink_commit, sink_abort, sink_free};

int kiln_lake_sink_new(kiln_sink **out, kiln_lake_table *t, const kiln_lake_write_opts *opts,
                       kiln_lake_write_result *result, kiln_err *err)
{
    lake_sink *s = kiln_calloc(1, sizeof *s);
    if (!s)
        return KILN_OOM(err);
    int rc = kiln_lake_writer_open(&s->w, t, opts, err);
    if (rc) {
        kiln_free(s);
        return rc;
    }
    s->base.ops = &lake_sink_ops;
    s->result = result;
    *out = &s->base;
    return 0;
}
