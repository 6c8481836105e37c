/*
 * parquet_read.c - kiln's Parquet reader (see parquet.h).
 *
 * DESIGN
 * open() preads the 8-byte tail, checks the magic and the footer length
 * against the file size, preads the footer and decodes it (parquet_thrift.c),
 * then maps each leaf of the flat schema to a kiln type.
 *
 * next() walks row groups (skipping those the predicate's statistics rule
 * out) and, for each projected column, keeps a cursor into its column
 * chunk: it preads one page header and one page body at a time,
 * decompresses it, decodes definition levels and the non-null values into
 * kiln's representation (int64 micros for every timestamp flavour, int64
 * unscaled decimals, pointers for byte strings), and copies rows into the
 * output batch. Dictionary pages are decoded once per chunk into the same
 * representation, so dictionary indices map straight to values.
 *
 * Limits: every offset and size is checked against the chunk and the file;
 * a page may hold at most PAGE_VALUES_MAX values and PAGE_BYTES_MAX bytes
 * uncompressed; page headers are at most HEADER_MAX bytes. Errors name the
 * file and the byte offset.
 *
 * Page bodies are read from a read-only map of the file (no read() copy).
 * Column fills run under base's mapping guard (kiln_map_guard), so a file
 * another process truncates while it is mapped gives an error naming it
 * instead of SIGBUS; the guard costs a register save per column per batch.
 */
#include "format/parquet/parquet_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <unistd.h>
#include <snappy-c.h>
#include <zstd.h>

#define FOOTER_MAX ((size_t)256 << 20)
#define HEADER_MAX ((size_t)16 << 20)
#define PAGE_BYTES_MAX ((size_t)512 << 20)
#define PAGE_VALUES_MAX ((size_t)1 << 23)
#define BATCH_STRING_BUDGET ((size_t)64 << 20)

/* A schema element in the tree (the footer lists them depth first). */
typedef struct pq_node {
    int el;             /* schema element index */
    int nkids, *kids;   /* element indices of the children */
    int maxdef, maxrep; /* levels at this node (root excluded) */
    int l0, l1;         /* leaves under it: [l0, l1) */
    int leaf;           /* leaf index, -1 for groups */
    int repeated, optional;
    int kind; /* NODE_PLAIN, NODE_LIST, NODE_MAP (annotation) */
} pq_node;
enum { NODE_PLAIN, NODE_LIST, NODE_MAP };

typedef struct rcol {
    int ci;
    struct kiln_parquet_reader *r;
    ZSTD_DCtx *zd; /* of the thread working on this column now */
    kiln_batch *task_batch;
    int task_bcol;
    size_t task_n;
    int task_rc;
    kiln_err task_err;
    int max_def, max_rep;
    uint32_t *reps; /* repetition levels of the page (nested leaves) */
    size_t reps_alloc;
    /* nested leaves: this batch's entries (levels + JSON text of values) */
    KILN_VEC(uint8_t) e_rep, e_def;
    KILN_VEC(uint32_t) e_off; /* into e_txt; value entries only meaningful */
    KILN_VEC(uint32_t) e_row; /* first entry of each row, n+1 */
    kiln_buf e_txt;
    /* chunk cursor */
    uint64_t pos, end;
    int64_t values_left;
    int codec;
    /* dictionary, in kiln representation */
    int has_dict;
    uint32_t ndict;
    void *dict_vals;   /* int64/int32/float/double/uint8 or kiln_pq_bytes */
    uint8_t *dict_raw; /* decompressed dictionary page (byte strings point here) */
    /* page */
    uint8_t *hdr;
    size_t hdr_alloc;
    uint8_t *comp;
    size_t comp_alloc;
    uint8_t *raw;
    size_t raw_alloc;
    uint32_t *defs;
    size_t defs_alloc;
    void *vals;        /* non-null values of the page, kiln representation */
    size_t vals_alloc; /* bytes */
    void *phys;        /* scratch for physical values */
    size_t phys_alloc;
    uint32_t *idx;
    size_t idx_alloc;
    size_t page_n, page_pos, val_pos, page_nonnull;
    int page_has_defs;
    kiln_arena *arena;     /* DELTA_BYTE_ARRAY values, FLBA views */
    kiln_arena *text;      /* wide decimals as text (page) */
    kiln_arena *dict_text; /* same, for the dictionary */
} rcol;

struct kiln_parquet_reader {
    char *path;
    int fd;
    kiln_parquet_src src; /* src.pread set: reads go there instead of fd */
    uint64_t file_size;
    uint64_t data_end; /* where the footer starts */
    uint8_t *footer;
    kiln_arena *arena;
    pq_filemeta meta;
    int ncols;
    kiln_parquet_column *cols;
    int *leaf_el; /* schema element of each top-level column (its leaf when flat) */
    /* leaves (one column chunk each), in schema order; for a flat schema
     * the same as the columns */
    int nleaves;
    kiln_parquet_column *lv;
    int *lv_el;
    int *col_leaf0, *col_nleaf, *col_nested;         /* per top-level column */
    pq_node *nodes;                                  /* per schema element */
    const char *(*name_fn)(void *ctx, int field_id); /* struct field names in JSON; NULL: the file's */
    void *name_ctx;
    kiln_column_def *defs;
    kiln_schema file_schema;
    /* projection */
    int nproj;
    rcol **nest; /* per projected column: its leaves' cursors when nested, else NULL */
    int *slices; /* nested assembly scratch: entry ranges per depth and leaf */
    size_t slices_n;
    int *proj;
    int *pl0, *pnl; /* per projected column: its first leaf and leaf count (a nested sub-path: the target's) */
    int *ptarget;   /* per projected column: schema element of a projected nested sub-path, or -1 */
    kiln_column_def *pdefs;
    kiln_schema out_schema;
    rcol *rc;
    kiln_batch *batch;
    size_t batch_rows;
    size_t rg_batch_rows; /* batch_rows, fewer when the row group's strings are long */
    /* iteration */
    int started;
    int rg; /* current row group, -1 before the first */
    int64_t rg_left;
    int pruned;
    int has_pred;
    const uint8_t *map;              /* the whole file, read-only, or NULL (then pread) */
    int (*claim)(void *ctx, int rg); /* NULL: read every row group */
    void *claim_ctx;
    kiln_parquet_pred pred;
    int nzd;
    ZSTD_DCtx **zds; /* one per thread */
    kiln_pool *pool; /* NULL when single-threaded */
};

/* ------------------------------------------------------------ names */

const char *kiln_parquet_type_name(int t)
{
    static const char *n[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                              "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
    return t >= 0 && t < 8 ? n[t] : "UNKNOWN";
}

const char *kiln_parquet_encoding_name(int e)
{
    switch (e) {
    case 0: return "PLAIN";
    case 1: return "GROUP_VAR_INT";
    case 2: return "PLAIN_DICTIONARY";
    case 3: return "RLE";
    case 4: return "BIT_PACKED";
    case 5: return "DELTA_BINARY_PACKED";
    case 6: return "DELTA_LENGTH_BYTE_ARRAY";
    case 7: return "DELTA_BYTE_ARRAY";
    case 8: return "RLE_DICTIONARY";
    case 9: return "BYTE_STREAM_SPLIT";
    }
    return "UNKNOWN";
}

/* ------------------------------------------------------------ I/O */

static int pread_all(kiln_parquet_reader *r, void *buf, size_t n, uint64_t off, kiln_err *err)
{
    char *p = buf;
    if (r->src.pread) {
        if (off > r->file_size || n > r->file_size - off)
            return kiln_err_set_at(err, KILN_ETRUNC, off, "%s: file ends at byte %llu", r->path,
                                   (unsigned long long)r->file_size);
        return n ? r->src.pread(r->src.ctx, buf, n, off, err) : 0;
    }
    while (n) {
        ssize_t k = pread(r->fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return kiln_err_set_at(err, KILN_EIO, off, "%s: read at byte %llu failed: %s", r->path,
                                   (unsigned long long)off, strerror(errno));
        }
        if (k == 0)
            return kiln_err_set_at(err, KILN_ETRUNC, off, "%s: file ends at byte %llu", r->path,
                                   (unsigned long long)off);
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int grow(void **p, size_t *alloc, size_t need, kiln_err *err)
{
    if (need <= *alloc)
        return 0;
    size_t na = *alloc ? *alloc : 4096;
    while (na < need)
        na *= 2;
    void *q = kiln_realloc(*p, na);
    if (!q)
        return kiln_err_set(err, KILN_ENOMEM, "parquet reader: out of memory (%zu bytes)", na);
    *p = q;
    *alloc = na;
    return 0;
}

/* ------------------------------------------------------------ schema mapping */

static int map_column(kiln_parquet_reader *r, const pq_schema_el *e, kiln_parquet_column *c, kiln_err *err)
{
    char logical[64] = "";
    c->name = e->name;
    c->field_id = e->has_field_id ? e->field_id : 0;
    c->physical = e->type;
    c->type_length = e->type_length;
    c->optional = e->repetition != 0;
    int dec = e->logical == PQ_LT_DECIMAL || e->converted == PQ_CT_DECIMAL;
    if (dec) {
        c->precision = e->logical == PQ_LT_DECIMAL ? e->lt_precision : e->precision;
        c->scale = e->logical == PQ_LT_DECIMAL ? e->lt_scale : e->scale;
        snprintf(logical, sizeof logical, "DECIMAL(%d,%d)", c->precision, c->scale);
    }
    int ts_utc = 1, ts_unit = 0, is_time = 0;
    if (e->logical == PQ_LT_TIMESTAMP) {
        ts_utc = e->lt_utc;
        ts_unit = e->lt_unit;
    } else if (e->converted == PQ_CT_TIMESTAMP_MILLIS) {
        ts_unit = PQ_UNIT_MILLIS;
    } else if (e->converted == PQ_CT_TIMESTAMP_MICROS) {
        ts_unit = PQ_UNIT_MICROS;
    }
    if (e->logical == PQ_LT_TIME || e->converted == PQ_CT_TIME_MILLIS || e->converted == PQ_CT_TIME_MICROS)
        is_time = 1;
    if (ts_unit)
        snprintf(logical, sizeof logical, "TIMESTAMP(%s,%s)", ts_utc ? "UTC" : "LOCAL",
                 ts_unit == PQ_UNIT_MILLIS   ? "MILLIS"
                 : ts_unit == PQ_UNIT_MICROS ? "MICROS"
                                             : "NANOS");
    switch (e->type) {
    case KILN_PQT_BOOLEAN: c->type = KILN_T_BOOL; break;
    case KILN_PQT_INT32:
        if (dec) {
            c->type = KILN_T_DECIMAL;
        } else if (e->logical == PQ_LT_DATE || e->converted == PQ_CT_DATE) {
            c->type = KILN_T_DATE;
            strcpy(logical, "DATE");
        } else if ((e->logical == PQ_LT_INTEGER && !e->lt_signed && e->lt_bits == 32) ||
                   e->converted == PQ_CT_UINT_32) {
            c->type = KILN_T_INT64;
            strcpy(logical, "INT(32,unsigned)");
        } else {
            c->type = is_time ? KILN_T_TIME : KILN_T_INT32; /* TIME(MILLIS): to micros */
            if (is_time)
                strcpy(logical, "TIME(MILLIS)");
            else if (e->logical == PQ_LT_INTEGER)
                snprintf(logical, sizeof logical, "INT(%d,%s)", e->lt_bits, e->lt_signed ? "signed" : "unsigned");
            else if (e->converted >= PQ_CT_UINT_8 && e->converted <= PQ_CT_INT_64)
                snprintf(logical, sizeof logical, "INT(%d,%s)", 8 << ((e->converted - PQ_CT_UINT_8) % 4),
                         e->converted >= PQ_CT_INT_8 ? "signed" : "unsigned");
        }
        break;
    case KILN_PQT_INT64:
        if (dec)
            c->type = KILN_T_DECIMAL;
        else if (ts_unit == PQ_UNIT_NANOS)
            c->type = KILN_T_STRING; /* exact nanosecond text (ns_text), not truncated to micros */
        else if (ts_unit)
            c->type = ts_utc ? KILN_T_TIMESTAMPTZ : KILN_T_TIMESTAMP;
        else {
            c->type = is_time ? KILN_T_TIME : KILN_T_INT64;
            if (is_time)
                strcpy(logical, "TIME");
            else if (e->logical == PQ_LT_INTEGER)
                snprintf(logical, sizeof logical, "INT(%d,%s)", e->lt_bits, e->lt_signed ? "signed" : "unsigned");
        }
        break;
    case KILN_PQT_INT96:
        c->type = KILN_T_TIMESTAMPTZ;
        strcpy(logical, "INT96 timestamp");
        break;
    case KILN_PQT_FLOAT: c->type = KILN_T_FLOAT; break;
    case KILN_PQT_DOUBLE: c->type = KILN_T_DOUBLE; break;
    case KILN_PQT_BYTE_ARRAY:
    case KILN_PQT_FLBA:
        if (e->type == KILN_PQT_FLBA && (e->type_length < 1 || e->type_length > (1 << 20)))
            return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: FIXED_LEN_BYTE_ARRAY length %d out of range",
                                r->path, e->name, e->type_length);
        if (dec) {
            c->type = KILN_T_DECIMAL;
        } else if (e->logical == PQ_LT_STRING || e->converted == PQ_CT_UTF8 || e->logical == PQ_LT_ENUM ||
                   e->converted == PQ_CT_ENUM || e->logical == PQ_LT_JSON || e->converted == PQ_CT_JSON) {
            c->type = KILN_T_STRING;
            strcpy(logical, e->logical == PQ_LT_JSON || e->converted == PQ_CT_JSON   ? "JSON"
                            : e->logical == PQ_LT_ENUM || e->converted == PQ_CT_ENUM ? "ENUM"
                                                                                     : "STRING");
        } else {
            c->type = KILN_T_BINARY;
            if (e->logical == PQ_LT_UUID) {
                strcpy(logical, "UUID");
                if (e->type != KILN_PQT_FLBA || e->type_length != 16)
                    return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: UUID must be FIXED_LEN_BYTE_ARRAY(16)",
                                        r->path, e->name);
                c->type = KILN_T_UUID;
            }
        }
        break;
    default:
        return kiln_err_set(err, KILN_EFORMAT, "%s: column %s has unknown physical type %d", r->path, e->name, e->type);
    }
    if (dec && (c->precision < 1 || c->precision > 38 || c->scale < 0 || c->scale > c->precision))
        return kiln_err_set(err, KILN_EUNSUPP, "%s: column %s: decimal(%d,%d) is not supported (precision 1..38)",
                            r->path, e->name, c->precision, c->scale);
    if (dec && c->precision > 18) {
        /* wider than int64: delivered as exact decimal text */
        if (e->type != KILN_PQT_FLBA && e->type != KILN_PQT_BYTE_ARRAY)
            return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: decimal(%d,%d) cannot be stored in %s", r->path,
                                e->name, c->precision, c->scale, kiln_parquet_type_name(e->type));
        c->type = KILN_T_DECIMAL_WIDE;
    }
    c->logical = kiln_arena_strndup(r->arena, logical, strlen(logical));
    if (!c->logical)
        return KILN_OOM(err);
    return 0;
}

#define NEST_DEPTH_MAX 64

/* Build the tree of schema elements from element idx (depth first):
 * levels, leaf ranges, annotations. *next is the element after idx's
 * subtree. Leaves are numbered in order, as the column chunks are. */
static int build_node(kiln_parquet_reader *r, int idx, int depth, int def, int rep, int *nleaf, int *next,
                      kiln_err *err)
{
    pq_filemeta *m = &r->meta;
    if (idx >= m->nschema)
        return kiln_err_set(err, KILN_EFORMAT, "%s: the schema lists more children than elements", r->path);
    if (depth > NEST_DEPTH_MAX)
        return kiln_err_set(err, KILN_ELIMIT, "%s: schema nested deeper than %d levels", r->path, NEST_DEPTH_MAX);
    const pq_schema_el *e = &m->schema[idx];
    pq_node *n = &r->nodes[idx];
    n->el = idx;
    n->repeated = e->repetition == 2;
    n->optional = e->repetition == 1;
    n->maxdef = def + (depth > 0 && e->repetition != 0 ? 1 : 0);
    n->maxrep = rep + (n->repeated ? 1 : 0);
    n->l0 = *nleaf;
    n->leaf = -1;
    n->kind = e->converted == PQ_CT_LIST || e->logical == PQ_LT_LIST ? NODE_LIST
              : e->converted == PQ_CT_MAP || e->converted == PQ_CT_MAP_KEY_VALUE || e->logical == PQ_LT_MAP
                  ? NODE_MAP
                  : NODE_PLAIN;
    int is_group = depth == 0 || e->type < 0 || e->num_children > 0;
    int k = idx + 1;
    if (!is_group) {
        n->leaf = (*nleaf)++;
    } else {
        if (e->num_children < 0 || e->num_children > m->nschema)
            return kiln_err_set(err, KILN_EFORMAT, "%s: group %s claims %d children", r->path, e->name,
                                e->num_children);
        n->nkids = e->num_children;
        n->kids = kiln_arena_alloc(r->arena, sizeof(int) * (size_t)(n->nkids ? n->nkids : 1));
        if (!n->kids)
            return KILN_OOM(err);
        for (int c = 0; c < n->nkids; c++) {
            n->kids[c] = k;
            int rc = build_node(r, k, depth + 1, n->maxdef, n->maxrep, nleaf, &k, err);
            if (rc)
                return rc;
        }
        if (depth > 0 && n->nkids == 0)
            return kiln_err_set(err, KILN_EFORMAT, "%s: group %s has no children", r->path, e->name);
    }
    n->l1 = *nleaf;
    *next = k;
    return 0;
}

static int map_schema(kiln_parquet_reader *r, kiln_err *err)
{
    pq_filemeta *m = &r->meta;
    if (m->nschema < 2)
        return kiln_err_set(err, KILN_EFORMAT, "%s: the schema has no columns", r->path);
    r->nodes = kiln_arena_alloc(r->arena, sizeof(pq_node) * (size_t)m->nschema);
    if (!r->nodes)
        return KILN_OOM(err);
    memset(r->nodes, 0, sizeof(pq_node) * (size_t)m->nschema);
    int nleaf = 0, next = 0, rc;
    if ((rc = build_node(r, 0, 0, 0, 0, &nleaf, &next, err)))
        return rc;
    if (next != m->nschema)
        return kiln_err_set(err, KILN_EFORMAT, "%s: the schema's %d elements do not form one tree", r->path,
                            m->nschema);
    const pq_node *root = &r->nodes[0];
    r->nleaves = nleaf;
    r->ncols = root->nkids;
    size_t nl = (size_t)(nleaf ? nleaf : 1), nc = (size_t)(r->ncols ? r->ncols : 1);
    r->lv = kiln_arena_alloc(r->arena, sizeof(kiln_parquet_column) * nl);
    r->lv_el = kiln_arena_alloc(r->arena, sizeof(int) * nl);
    r->cols = kiln_arena_alloc(r->arena, sizeof(kiln_parquet_column) * nc);
    r->defs = kiln_arena_alloc(r->arena, sizeof(kiln_column_def) * nc);
    r->leaf_el = kiln_arena_alloc(r->arena, sizeof(int) * nc);
    r->col_leaf0 = kiln_arena_alloc(r->arena, sizeof(int) * nc);
    r->col_nleaf = kiln_arena_alloc(r->arena, sizeof(int) * nc);
    r->col_nested = kiln_arena_alloc(r->arena, sizeof(int) * nc);
    if (!r->lv || !r->lv_el || !r->cols || !r->defs || !r->leaf_el || !r->col_leaf0 || !r->col_nleaf || !r->col_nested)
        return KILN_OOM(err);
    for (int i = 0; i < m->nschema; i++) {
        const pq_node *n = &r->nodes[i];
        if (n->leaf < 0)
            continue;
        memset(&r->lv[n->leaf], 0, sizeof r->lv[n->leaf]);
        if ((rc = map_column(r, &m->schema[i], &r->lv[n->leaf], err)))
            return rc;
        r->lv[n->leaf].optional = n->maxdef > 0;
        r->lv_el[n->leaf] = i;
    }
    for (int i = 0; i < r->ncols; i++) {
        const pq_node *n = &r->nodes[root->kids[i]];
        const pq_schema_el *e = &m->schema[n->el];
        kiln_parquet_column *c = &r->cols[i];
        r->col_leaf0[i] = n->l0;
        r->col_nleaf[i] = n->l1 - n->l0;
        r->col_nested[i] = n->leaf < 0 || n->repeated;
        r->leaf_el[i] = n->el;
        if (!r->col_nested[i]) {
            *c = r->lv[n->leaf];
        } else {
            /* a struct, list, map or repeated field: one column of JSON values */
            memset(c, 0, sizeof *c);
            c->name = e->name;
            c->field_id = e->has_field_id ? e->field_id : 0;
            c->physical = -1;
            c->optional = !n->repeated && e->repetition != 0;
            c->type = KILN_T_JSON;
            c->logical = n->kind == NODE_LIST  ? "LIST"
                         : n->kind == NODE_MAP ? "MAP"
                         : n->repeated         ? "REPEATED"
                                               : "STRUCT";
            if (n->l1 == n->l0)
                return kiln_err_set(err, KILN_EFORMAT, "%s: column %s has no leaves", r->path, e->name);
        }
        kiln_column_def *d = &r->defs[i];
        d->name = c->name;
        d->type = c->type;
        d->required = !c->optional;
        d->field_id = c->field_id;
        d->precision = c->precision;
        d->scale = c->scale;
    }
    r->file_schema.ncols = r->ncols;
    r->file_schema.cols = r->defs;
    for (int g = 0; g < m->nrg; g++) {
        if (m->rgs[g].ncols != r->nleaves)
            return kiln_err_set(err, KILN_EFORMAT, "%s: row group %d has %d column chunks, the schema %d leaf columns",
                                r->path, g, m->rgs[g].ncols, r->nleaves);
        if (m->rgs[g].num_rows < 0)
            return kiln_err_set(err, KILN_EFORMAT, "%s: row group %d has a negative row count", r->path, g);
        for (int c = 0; c < r->nleaves; c++) {
            const pq_chunk *ch = &m->rgs[g].cols[c];
            if (!ch->has_meta)
                return kiln_err_set(err, KILN_EUNSUPP, "%s: row group %d column %s has no metadata", r->path, g,
                                    r->lv[c].name);
            if (ch->meta.type != r->lv[c].physical)
                return kiln_err_set(err, KILN_EFORMAT,
                                    "%s: row group %d column %s: chunk type %s differs from the schema's %s", r->path,
                                    g, r->lv[c].name, kiln_parquet_type_name(ch->meta.type),
                                    kiln_parquet_type_name(r->lv[c].physical));
        }
    }
    return 0;
}

/* ------------------------------------------------------------ open / free */

static int read_footer(kiln_parquet_reader *r, const char *path, kiln_err *err);

/* a reader with its buffers and decoders, not yet on a file */
static int reader_new(kiln_parquet_reader **out, const char *path, const kiln_parquet_read_opts *opts, kiln_err *err)
{
    int rc = 0;
    kiln_parquet_reader *r = kiln_calloc(1, sizeof *r);
    *out = r;
    if (!r)
        return KILN_OOM(err);
    r->fd = -1;
    r->rg = -1;
    r->batch_rows = opts && opts->batch_rows ? opts->batch_rows : 65536;
    if (r->batch_rows > (1u << 20))
        r->batch_rows = 1u << 20;
    r->path = kiln_strdup(path);
    r->arena = kiln_arena_new(64 * 1024);
    r->nzd = opts && opts->threads > 1 ? (opts->threads > 64 ? 64 : opts->threads) : 1;
    r->zds = kiln_calloc((size_t)r->nzd, sizeof(ZSTD_DCtx *));
    if (!r->path || !r->arena || !r->zds) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < r->nzd; i++)
        if (!(r->zds[i] = ZSTD_createDCtx())) {
            rc = KILN_OOM(err);
            goto done;
        }
    if (r->nzd > 1 && (rc = kiln_pool_new(&r->pool, r->nzd, err)))
        goto done;
done:
    return rc;
}

int kiln_parquet_reader_open_src(kiln_parquet_reader **out, const char *name, const kiln_parquet_src *src,
                                 const kiln_parquet_read_opts *opts, kiln_err *err)
{
    *out = NULL;
    kiln_parquet_reader *r = NULL;
    int rc = reader_new(&r, name, opts, err);
    if (r) {
        r->src = *src;
        r->file_size = src->size;
    } else if (src->close) {
        src->close(src->ctx);
    }
    if (!rc)
        rc = read_footer(r, name, err);
    if (rc) {
        kiln_parquet_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int kiln_parquet_reader_open(kiln_parquet_reader **out, const char *path, const kiln_parquet_read_opts *opts,
                             kiln_err *err)
{
    *out = NULL;
    kiln_parquet_reader *r = NULL;
    int rc = reader_new(&r, path, opts, err);
    if (rc)
        goto done;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(r->fd, &st) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    r->file_size = (uint64_t)st.st_size;
    if (S_ISREG(st.st_mode) && r->file_size >= 12 && r->file_size <= (uint64_t)SIZE_MAX) {
        /* page bodies are read straight from a private read-only map; a
         * file truncated by another process while it is read raises SIGBUS,
         * which fill_guarded turns into an error naming the file */
        void *m = mmap(NULL, (size_t)r->file_size, PROT_READ, MAP_PRIVATE, r->fd, 0);
        if (m != MAP_FAILED)
            r->map = m;
    }
    rc = read_footer(r, path, err);
done:
    if (rc) {
        kiln_parquet_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* Check the magic numbers, read and decode the footer, map the schema. */
static int read_footer(kiln_parquet_reader *r, const char *path, kiln_err *err)
{
    int rc = 0;
    if (r->file_size < 12) {
        rc = kiln_err_set_at(err, KILN_ETRUNC, r->file_size,
                             "%s: %llu bytes is too small for a Parquet file (needs at least 12)", path,
                             (unsigned long long)r->file_size);
        goto done;
    }
    uint8_t head[4], tail[8];
    /* the tail first: a source that fetched the file's end has it */
    if ((rc = pread_all(r, tail, 8, r->file_size - 8, err)) || (rc = pread_all(r, head, 4, 0, err)))
        goto done;
    if (memcmp(tail + 4, "PAR1", 4) != 0) {
        rc = kiln_err_set_at(err, KILN_EFORMAT, r->file_size - 4,
                             memcmp(tail + 4, "PARE", 4) == 0
                                 ? "%s: encrypted Parquet files are not supported (footer magic at byte %llu)"
                                 : "%s: not a Parquet file (no PAR1 footer magic at byte %llu)",
                             path, (unsigned long long)(r->file_size - 4));
        goto done;
    }
    if (memcmp(head, "PAR1", 4) != 0) {
        rc = kiln_err_set_at(err, KILN_EFORMAT, 0, "%s: not a Parquet file (no PAR1 magic at byte 0)", path);
        goto done;
    }
    uint32_t flen;
    memcpy(&flen, tail, 4);
    if ((uint64_t)flen + 12 > r->file_size || flen > FOOTER_MAX || flen == 0) {
        rc = kiln_err_set_at(err, KILN_EFORMAT, r->file_size - 8,
                             "%s: footer length %u (at byte %llu) does not fit in the %llu-byte file", path, flen,
                             (unsigned long long)(r->file_size - 8), (unsigned long long)r->file_size);
        goto done;
    }
    r->data_end = r->file_size - 8 - flen;
    r->footer = kiln_malloc(flen);
    if (!r->footer) {
        rc = kiln_err_set(err, KILN_ENOMEM, "out of memory reading a %u-byte footer", flen);
        goto done;
    }
    if ((rc = pread_all(r, r->footer, flen, r->data_end, err)))
        goto done;
    if ((rc = kiln_parquet__decode_filemeta(&r->meta, r->footer, flen, r->arena, r->data_end, err))) {
        kiln_err_prefix(err, "%s: ", path);
        goto done;
    }
    if (r->meta.num_rows < 0) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: negative row count in the footer", path);
        goto done;
    }
    if ((rc = map_schema(r, err)))
        goto done;
    rc = kiln_parquet_reader_project(r, NULL, -1, err);
done:
    return rc;
}

static void rcol_free(rcol *c)
{
    kiln_free(c->dict_vals);
    kiln_free(c->dict_raw);
    kiln_free(c->hdr);
    kiln_free(c->comp);
    kiln_free(c->raw);
    kiln_free(c->defs);
    kiln_free(c->vals);
    kiln_free(c->phys);
    kiln_free(c->idx);
    kiln_free(c->reps);
    kiln_vec_free(&c->e_rep);
    kiln_vec_free(&c->e_def);
    kiln_vec_free(&c->e_off);
    kiln_vec_free(&c->e_row);
    kiln_buf_free(&c->e_txt);
    kiln_arena_free(c->arena);
    kiln_arena_free(c->text);
    kiln_arena_free(c->dict_text);
    memset(c, 0, sizeof *c);
}

static void free_proj(kiln_parquet_reader *r)
{
    if (r->rc)
        for (int i = 0; i < r->nproj; i++)
            rcol_free(&r->rc[i]);
    if (r->nest)
        for (int i = 0; i < r->nproj; i++)
            if (r->nest[i]) {
                for (int k = 0; k < r->pnl[i]; k++)
                    rcol_free(&r->nest[i][k]);
                kiln_free(r->nest[i]);
            }
    kiln_free(r->nest);
    kiln_free(r->slices);
    r->nest = NULL;
    r->slices = NULL;
    r->slices_n = 0;
    kiln_free(r->rc);
    kiln_free(r->proj);
    kiln_free(r->pl0);
    kiln_free(r->pnl);
    kiln_free(r->ptarget);
    kiln_free(r->pdefs);
    kiln_batch_free(r->batch);
    r->rc = NULL;
    r->proj = NULL;
    r->pl0 = r->pnl = r->ptarget = NULL;
    r->pdefs = NULL;
    r->batch = NULL;
    r->nproj = 0;
}

void kiln_parquet_reader_free(kiln_parquet_reader *r)
{
    if (!r)
        return;
    free_proj(r);
    if (r->map)
        munmap((void *)r->map, (size_t)r->file_size);
    if (r->fd >= 0)
        close(r->fd);
    if (r->src.close)
        r->src.close(r->src.ctx);
    kiln_pool_free(r->pool);
    if (r->zds) {
        for (int i = 0; i < r->nzd; i++)
            if (r->zds[i])
                ZSTD_freeDCtx(r->zds[i]);
        kiln_free(r->zds);
    }
    kiln_free(r->footer);
    kiln_arena_free(r->arena);
    kiln_free(r->path);
    kiln_free(r);
}

/* ------------------------------------------------------------ accessors */

int kiln_parquet_reader_ncolumns(const kiln_parquet_reader *r) { return r->ncols; }
void kiln_parquet_reader_field_names(kiln_parquet_reader *r, const char *(*fn)(void *ctx, int field_id), void *ctx)
{
    r->name_fn = fn;
    r->name_ctx = ctx;
}
const char *kiln_pq__ns_text_leaf(const kiln_parquet_reader *r)
{
    for (int i = 0; i < r->nleaves; i++)
        if (r->lv[i].physical == KILN_PQT_INT64 && r->lv[i].type == KILN_T_STRING)
            return r->lv[i].name;
    return NULL;
}

const kiln_parquet_column *kiln_parquet_reader_column(const kiln_parquet_reader *r, int i)
{
    return i >= 0 && i < r->ncols                       ? &r->cols[i]
           : i >= r->ncols && i < r->ncols + r->nleaves ? &r->lv[i - r->ncols]
                                                        : NULL;
}

/* Schema element of a predicate column: a top-level column's, or a
 * nested leaf's (ncols + leaf, see kiln_parquet_reader_find_leaf_id). */
static int pred_el(const kiln_parquet_reader *r, int ci)
{
    return ci < r->ncols ? r->leaf_el[ci] : r->lv_el[ci - r->ncols];
}

int kiln_parquet_reader_find_leaf_id(const kiln_parquet_reader *r, int id)
{
    for (int i = 0; i < r->nleaves && id > 0; i++)
        if (r->lv[i].field_id == id) {
            const pq_node *n = &r->nodes[r->lv_el[i]];
            return n->maxrep == 0 && !n->repeated ? r->ncols + i : -1;
        }
    return -1;
}
const kiln_schema *kiln_parquet_reader_file_schema(const kiln_parquet_reader *r) { return &r->file_schema; }
const kiln_schema *kiln_parquet_reader_schema(const kiln_parquet_reader *r) { return &r->out_schema; }
int kiln_parquet_reader_find(const kiln_parquet_reader *r, const char *name)
{
    for (int i = 0; i < r->ncols; i++)
        if (strcmp(r->cols[i].name, name) == 0)
            return i;
    return -1;
}
int kiln_parquet_reader_find_field_id(const kiln_parquet_reader *r, int id)
{
    for (int i = 0; i < r->ncols; i++)
        if (r->cols[i].field_id == id && id > 0)
            return i;
    return -1;
}
int64_t kiln_parquet_reader_num_rows(const kiln_parquet_reader *r) { return r->meta.num_rows; }
int kiln_parquet_reader_num_row_groups(const kiln_parquet_reader *r) { return r->meta.nrg; }
int64_t kiln_parquet_reader_row_group_rows(const kiln_parquet_reader *r, int g)
{
    return g >= 0 && g < r->meta.nrg ? r->meta.rgs[g].num_rows : -1;
}
static int64_t chunk_start(const pq_colmeta *m)
{
    int64_t s = m->data_page_offset;
    if (m->has_dict_offset && m->dictionary_page_offset > 0 && m->dictionary_page_offset < s)
        s = m->dictionary_page_offset;
    return s;
}
int64_t kiln_parquet_reader_row_group_offset(const kiln_parquet_reader *r, int g)
{
    if (g < 0 || g >= r->meta.nrg || r->meta.rgs[g].ncols < 1)
        return -1;
    return chunk_start(&r->meta.rgs[g].cols[0].meta);
}
int kiln_parquet_reader_nkv(const kiln_parquet_reader *r) { return r->meta.nkv; }
const char *kiln_parquet_reader_kv(const kiln_parquet_reader *r, int i, const char **value)
{
    if (i < 0 || i >= r->meta.nkv) {
        *value = NULL;
        return NULL;
    }
    *value = r->meta.kv_values[i];
    return r->meta.kv_keys[i];
}
const char *kiln_parquet_reader_created_by(const kiln_parquet_reader *r)
{
    return r->meta.created_by ? r->meta.created_by : "";
}
int kiln_parquet_reader_version(const kiln_parquet_reader *r) { return r->meta.version; }
uint64_t kiln_parquet_reader_file_size(const kiln_parquet_reader *r) { return r->file_size; }
int kiln_parquet_reader_pruned(const kiln_parquet_reader *r) { return r->pruned; }

/* Statistics usable for ordering? New-style min_value/max_value always;
 * the deprecated min/max only for types whose legacy order was signed. */
static void chunk_minmax(const kiln_parquet_reader *r, int col, const pq_colmeta *m, pq_bin *mn, pq_bin *mx)
{
    memset(mn, 0, sizeof *mn);
    memset(mx, 0, sizeof *mx);
    if (!m->has_stats)
        return;
    const kiln_parquet_column *c = kiln_parquet_reader_column(r, col);
    if (c->physical == KILN_PQT_INT96)
        return;
    if (m->stats.min_value.set && m->stats.max_value.set) {
        *mn = m->stats.min_value;
        *mx = m->stats.max_value;
        return;
    }
    int signed_legacy = c->physical != KILN_PQT_BYTE_ARRAY && c->physical != KILN_PQT_FLBA &&
                        !(c->type == KILN_T_INT64 && c->physical == KILN_PQT_INT32); /* UINT_32 */
    if (signed_legacy && m->stats.min.set && m->stats.max.set) {
        *mn = m->stats.min;
        *mx = m->stats.max;
    }
}

int kiln_parquet_reader_chunk(const kiln_parquet_reader *r, int g, int col, kiln_parquet_chunk_info *out)
{
    memset(out, 0, sizeof *out);
    if (g < 0 || g >= r->meta.nrg || col < 0 || col >= r->ncols)
        return KILN_EINVAL;
    const pq_colmeta *m = &r->meta.rgs[g].cols[r->col_leaf0[col]].meta;
    if (r->col_nested[col]) { /* a nested column: its first leaf's chunk, no statistics */
        out->codec = m->codec;
        out->num_values = m->num_values;
        out->data_page_offset = m->data_page_offset;
        out->dictionary_page_offset = -1;
        for (int k = r->col_leaf0[col]; k < r->col_leaf0[col] + r->col_nleaf[col]; k++) {
            out->compressed_size += r->meta.rgs[g].cols[k].meta.total_compressed;
            out->uncompressed_size += r->meta.rgs[g].cols[k].meta.total_uncompressed;
            out->encodings |= r->meta.rgs[g].cols[k].meta.encodings;
        }
        return 0;
    }
    out->codec = m->codec;
    out->num_values = m->num_values;
    out->compressed_size = m->total_compressed;
    out->uncompressed_size = m->total_uncompressed;
    out->data_page_offset = m->data_page_offset;
    out->dictionary_page_offset = m->has_dict_offset ? m->dictionary_page_offset : -1;
    out->encodings = m->encodings;
    out->has_null_count = m->has_stats && m->stats.has_null_count;
    out->null_count = m->stats.null_count;
    pq_bin mn, mx;
    chunk_minmax(r, col, m, &mn, &mx);
    out->has_min = mn.set;
    out->has_max = mx.set;
    out->min = mn.p;
    out->max = mx.p;
    out->min_len = mn.n;
    out->max_len = mx.n;
    return 0;
}

/* ------------------------------------------------------------ projection */

/* A nested sub-path projected (targets[i] >= 0: its schema element; name
 * its dotted name): only the leaves under the target are read. Without a
 * list or map on the way and with a primitive target it is delivered as a
 * flat column of the leaf's type (null where any struct above is null);
 * otherwise as JSON: one array level per list on the way. */
static int project_ex(kiln_parquet_reader *r, const int *cols, const int *targets, char *const *tnames, int ncols,
                      kiln_err *err);

int kiln_parquet_reader_project(kiln_parquet_reader *r, const int *cols, int ncols, kiln_err *err)
{
    return project_ex(r, cols, NULL, NULL, ncols, err);
}

static int path_has_repeated(const kiln_parquet_reader *r, int top_el, int target_el)
{
    /* a node between the column and the target (both included) that repeats */
    const pq_node *t = &r->nodes[target_el];
    const pq_node *n = &r->nodes[top_el];
    for (;;) {
        if (n->repeated)
            return 1;
        if (n == t || n->leaf >= 0)
            return 0;
        const pq_node *next = NULL;
        for (int k = 0; k < n->nkids; k++) {
            const pq_node *c = &r->nodes[n->kids[k]];
            if (c->l0 <= t->l0 && t->l0 < c->l1 && c->el <= t->el)
                next = c;
        }
        if (!next)
            return 0;
        n = next;
    }
}

static int project_ex(kiln_parquet_reader *r, const int *cols, const int *targets, char *const *tnames, int ncols,
                      kiln_err *err)
{
    if (r->started)
        return kiln_err_set(err, KILN_EINVAL, "parquet reader: project must come before the first batch");
    int all = ncols < 0;
    if (all)
        ncols = r->ncols;
    if (ncols < 1)
        return kiln_err_set(err, KILN_EINVAL, "parquet reader: project at least one column");
    for (int i = 0; i < ncols && !all; i++)
        if (cols[i] < 0 || cols[i] >= r->ncols)
            return kiln_err_set(err, KILN_EINVAL, "parquet reader: column index %d out of range", cols[i]);
    free_proj(r);
    r->proj = kiln_malloc(sizeof(int) * (size_t)ncols);
    r->pdefs = kiln_malloc(sizeof(kiln_column_def) * (size_t)ncols);
    r->rc = kiln_calloc((size_t)ncols, sizeof(rcol));
    r->nest = kiln_calloc((size_t)ncols, sizeof(rcol *));
    r->pl0 = kiln_malloc(sizeof(int) * (size_t)ncols);
    r->pnl = kiln_malloc(sizeof(int) * (size_t)ncols);
    r->ptarget = kiln_malloc(sizeof(int) * (size_t)ncols);
    if (!r->proj || !r->pdefs || !r->rc || !r->nest || !r->pl0 || !r->pnl || !r->ptarget) {
        free_proj(r);
        return KILN_OOM(err);
    }
    r->nproj = ncols;
    for (int i = 0; i < ncols; i++) {
        int ci = all ? i : cols[i];
        r->proj[i] = ci;
        r->pdefs[i] = r->defs[ci];
        r->rc[i].ci = r->col_leaf0[ci];
        r->rc[i].r = r;
        r->rc[i].zd = r->zds[0];
        r->rc[i].max_def = r->cols[ci].optional ? 1 : 0;
        r->pl0[i] = r->col_leaf0[ci];
        r->pnl[i] = r->col_nested[ci] ? r->col_nleaf[ci] : 1;
        r->ptarget[i] = -1;
        int tel = targets ? targets[i] : -1;
        if (tel >= 0 && tel != r->leaf_el[ci]) {
            const pq_node *t = &r->nodes[tel];
            r->ptarget[i] = tel;
            r->pl0[i] = t->l0;
            r->pnl[i] = t->l1 - t->l0;
            r->pdefs[i].name = tnames[i];
            r->pdefs[i].required = 0;
            if (t->leaf >= 0 && !path_has_repeated(r, r->leaf_el[ci], tel)) { /* a flat leaf */
                const kiln_parquet_column *lc = &r->lv[t->leaf];
                r->pdefs[i].type = lc->type;
                r->pdefs[i].field_id = lc->field_id;
                r->pdefs[i].precision = lc->precision;
                r->pdefs[i].scale = lc->scale;
                r->rc[i].ci = t->leaf;
                r->rc[i].max_def = t->maxdef;
                continue;
            }
            r->pdefs[i].type = KILN_T_JSON;
            r->pdefs[i].field_id = r->meta.schema[tel].has_field_id ? r->meta.schema[tel].field_id : 0;
            r->pdefs[i].precision = r->pdefs[i].scale = 0;
        }
        if (r->col_nested[ci]) {
            int nl = r->pnl[i];
            r->rc[i].ci = -1; /* read through nest[i] */
            if (!(r->nest[i] = kiln_calloc((size_t)nl, sizeof(rcol)))) {
                free_proj(r);
                return KILN_OOM(err);
            }
            for (int k = 0; k < nl; k++) {
                rcol *c = &r->nest[i][k];
                int li = r->pl0[i] + k;
                const pq_node *n = &r->nodes[r->lv_el[li]];
                c->ci = li;
                c->r = r;
                c->zd = r->zds[0];
                c->max_def = n->maxdef;
                c->max_rep = n->maxrep;
                kiln_buf_init(&c->e_txt, 0);
            }
            size_t need = (size_t)(NEST_DEPTH_MAX + 2) * 2 * (size_t)nl;
            if (need > r->slices_n) {
                kiln_free(r->slices);
                if (!(r->slices = kiln_malloc(sizeof(int) * need))) {
                    free_proj(r);
                    return KILN_OOM(err);
                }
                r->slices_n = need;
            }
        }
    }
    r->out_schema.ncols = ncols;
    r->out_schema.cols = r->pdefs;
    return 0;
}

/* "payload.commits.sha": the column and the schema element of the named
 * nested field (lists are stepped through to their element; a map's
 * "key" and "value" are named as such). */
static int resolve_path(kiln_parquet_reader *r, const char *path, int *col, int *target, kiln_err *err)
{
    const char *dot = strchr(path, '.');
    char top[512];
    size_t tl = (size_t)(dot - path);
    if (tl >= sizeof top)
        return kiln_err_set(err, KILN_ENOTFOUND, "%s: no column named \"%s\"", r->path, path);
    memcpy(top, path, tl);
    top[tl] = 0;
    int ci = kiln_parquet_reader_find(r, top);
    if (ci < 0 || !r->col_nested[ci])
        return kiln_err_set(err, KILN_ENOTFOUND, "%s: no column named \"%s\"%s", r->path, path,
                            ci < 0 ? "" : " (its first part is not a nested column)");
    int el = r->leaf_el[ci];
    const char *p = dot + 1;
    while (*p) {
        const char *e = strchr(p, '.');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const pq_node *n = &r->nodes[el];
        /* step through lists (and legacy repeated groups) to the element */
        for (int guard = 0; guard < NEST_DEPTH_MAX && n->leaf < 0; guard++) {
            const pq_node *k0 = n->nkids > 0 ? &r->nodes[n->kids[0]] : NULL;
            if (n->kind == NODE_LIST && n->nkids == 1 && k0->repeated) {
                const pq_schema_el *re = &r->meta.schema[k0->el];
                char tuple[300];
                snprintf(tuple, sizeof tuple, "%s_tuple", r->meta.schema[n->el].name);
                n = (k0->leaf < 0 && k0->nkids == 1 && strcmp(re->name, "array") != 0 && strcmp(re->name, tuple) != 0)
                        ? &r->nodes[k0->kids[0]]
                        : k0;
                continue;
            }
            if (n->kind == NODE_MAP && n->nkids == 1 && k0->repeated && k0->leaf < 0) {
                n = k0; /* key_value: "key" / "value" below */
                break;
            }
            break;
        }
        int found = -1;
        for (int k = 0; k < n->nkids && found < 0; k++) {
            const pq_schema_el *ce = &r->meta.schema[r->nodes[n->kids[k]].el];
            if (strlen(ce->name) == len && !memcmp(ce->name, p, len))
                found = n->kids[k];
        }
        if (found < 0)
            return kiln_err_set(err, KILN_ENOTFOUND, "%s: no nested field \"%.*s\" in \"%s\"", r->path, (int)len, p,
                                path);
        el = found;
        p += len;
        if (*p == '.')
            p++;
    }
    if (r->nodes[el].l1 <= r->nodes[el].l0)
        return kiln_err_set(err, KILN_EUNSUPP, "%s: \"%s\" has no leaf columns", r->path, path);
    *col = ci;
    *target = el;
    return 0;
}

int kiln_parquet_reader_project_names(kiln_parquet_reader *r, const char *names, kiln_err *err)
{
    int idx[4096], tgt[4096];
    char *tnm[4096];
    int n = 0, rc = 0;
    const char *p = names;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && (*p == ' '))
            p++, len--;
        while (len && p[len - 1] == ' ')
            len--;
        if (len) {
            char *nm = kiln_strndup(p, len);
            if (!nm)
                return KILN_OOM(err);
            if (n >= 4096) {
                kiln_free(nm);
                rc = kiln_err_set(err, KILN_ELIMIT, "too many columns in a projection (max 4096)");
                break;
            }
            int ci = kiln_parquet_reader_find(r, nm), tel = -1;
            if (ci < 0 && strchr(nm, '.'))
                rc = resolve_path(r, nm, &ci, &tel, err);
            else if (ci < 0)
                rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no column named \"%s\"", r->path, nm);
            if (rc) {
                kiln_free(nm);
                break;
            }
            idx[n] = ci;
            tgt[n] = tel;
            tnm[n++] = tel >= 0 ? kiln_arena_strndup(r->arena, nm, strlen(nm)) : NULL;
            kiln_free(nm);
            if (tel >= 0 && !tnm[n - 1]) {
                rc = KILN_OOM(err);
                break;
            }
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (rc)
        return rc;
    return project_ex(r, idx, tgt, tnm, n, err);
}

/* Depth-first search under node el for the element carrying field id id. */
static int find_id_under(const kiln_parquet_reader *r, int el, int id, int depth)
{
    const pq_schema_el *se = &r->meta.schema[r->nodes[el].el];
    if (se->has_field_id && se->field_id == id)
        return el;
    for (int k = 0; depth < NEST_DEPTH_MAX && k < r->nodes[el].nkids; k++) {
        int hit = find_id_under(r, r->nodes[el].kids[k], id, depth + 1);
        if (hit >= 0)
            return hit;
    }
    return -1;
}

int kiln_parquet_reader_find_nested(kiln_parquet_reader *r, int field_id, const char *path, int *col, int *target)
{
    *col = *target = -1;
    if (field_id > 0) {
        for (int ci = 0; ci < r->ncols; ci++) {
            if (!r->col_nested[ci])
                continue;
            int el = find_id_under(r, r->leaf_el[ci], field_id, 0);
            if (el >= 0 && el != r->leaf_el[ci]) {
                *col = ci;
                *target = el;
                return 0;
            }
        }
        return KILN_ENOTFOUND;
    }
    if (!path || !strchr(path, '.'))
        return KILN_ENOTFOUND;
    kiln_err e = {0};
    return resolve_path(r, path, col, target, &e) ? KILN_ENOTFOUND : 0;
}

int kiln_parquet_reader_project_nested(kiln_parquet_reader *r, const int *cols, const int *targets,
                                       const char *const *names, int n, kiln_err *err)
{
    if (n < 1)
        return kiln_parquet_reader_project(r, cols, n, err);
    char **tnm = kiln_arena_alloc(r->arena, sizeof(char *) * (size_t)n);
    if (!tnm)
        return KILN_OOM(err);
    for (int i = 0; i < n; i++) {
        tnm[i] = NULL;
        if (targets[i] >= 0 && !(tnm[i] = kiln_arena_strndup(r->arena, names[i], strlen(names[i]))))
            return KILN_OOM(err);
    }
    return project_ex(r, cols, targets, tnm, n, err);
}

int kiln_parquet_reader_project_ids(kiln_parquet_reader *r, const int *ids, int n, kiln_err *err)
{
    int *idx = kiln_malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!idx)
        return KILN_OOM(err);
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        idx[i] = kiln_parquet_reader_find_field_id(r, ids[i]);
        if (idx[i] < 0)
            rc = kiln_err_set(err, KILN_ENOTFOUND, "%s: no column with field id %d", r->path, ids[i]);
    }
    if (!rc)
        rc = kiln_parquet_reader_project(r, idx, n, err);
    kiln_free(idx);
    return rc;
}

/* ------------------------------------------------------------ value conversion */

static size_t kiln_width(kiln_type t)
{
    switch (t) {
    case KILN_T_BOOL: return 1;
    case KILN_T_INT32:
    case KILN_T_DATE:
    case KILN_T_FLOAT: return 4;
    case KILN_T_STRING:
    case KILN_T_BINARY:
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
    case KILN_T_UUID: return sizeof(kiln_pq_bytes);
    default: return 8;
    }
}

static int64_t ts_to_micros(int64_t v, int unit)
{
    if (unit == PQ_UNIT_MILLIS)
        return v * 1000;
    if (unit == PQ_UNIT_NANOS)
        return v >= 0 ? v / 1000 : -((-(v + 1)) / 1000) - 1;
    return v;
}

static int be_to_i64(const uint8_t *p, uint32_t n, int64_t *out)
{
    if (n == 0) {
        *out = 0;
        return 0;
    }
    int neg = p[0] & 0x80;
    while (n > 8) { /* leading bytes must be sign extension */
        if (p[0] != (neg ? 0xff : 0x00))
            return -1;
        p++;
        n--;
    }
    uint64_t v = neg ? ~(uint64_t)0 : 0;
    for (uint32_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *out = (int64_t)v;
    return 0;
}

/* Physical values (count of them at src) -> kiln representation at dst. */
/* Big-endian two's complement (<= 16 bytes) scaled decimal as exact text
 * (base's kiln_decimal_format_i128); -1 when wider than 128 bits. */
static int wide_decimal_text(const uint8_t *p, uint32_t n, int scale, char *out)
{
    int neg = n > 0 && (p[0] & 0x80);
    while (n > 16) {
        if (p[0] != (neg ? 0xff : 0x00))
            return -1;
        p++;
        n--;
        if (n == 16 && !(p[0] & 0x80) != !neg)
            return -1; /* the sign bit moved: the value needs more than 128 bits */
    }
    unsigned __int128 v = neg ? ~(unsigned __int128)0 : 0;
    for (uint32_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    kiln_decimal_format_i128((__int128)v, scale, out);
    return 0;
}

static int convert(kiln_parquet_reader *r, const kiln_parquet_column *col, const void *src, size_t count, void *dst,
                   kiln_arena *text, uint64_t off, kiln_err *err)
{
    const pq_schema_el *e = NULL;
    for (int i = 0; i < r->nleaves; i++)
        if (&r->lv[i] == col)
            e = &r->meta.schema[r->lv_el[i]];
    int unit = 0;
    if (e) {
        if (e->logical == PQ_LT_TIMESTAMP || e->logical == PQ_LT_TIME)
            unit = e->lt_unit;
        else if (e->converted == PQ_CT_TIME_MILLIS)
            unit = PQ_UNIT_MILLIS;
        else if (e->converted == PQ_CT_TIME_MICROS)
            unit = PQ_UNIT_MICROS;
        else if (e->converted == PQ_CT_TIMESTAMP_MILLIS)
            unit = PQ_UNIT_MILLIS;
        else if (e->converted == PQ_CT_TIMESTAMP_MICROS)
            unit = PQ_UNIT_MICROS;
    }
    switch (col->physical) {
    case KILN_PQT_BOOLEAN:
    case KILN_PQT_FLOAT:
    case KILN_PQT_DOUBLE: memcpy(dst, src, count * kiln_width(col->type)); return 0;
    case KILN_PQT_INT32:
        if (col->type == KILN_T_INT32 || col->type == KILN_T_DATE) {
            memcpy(dst, src, count * 4);
        } else { /* decimal or unsigned 32 -> int64 */
            const int32_t *s = src;
            int64_t *d = dst;
            for (size_t i = 0; i < count; i++)
                d[i] = col->type == KILN_T_INT64  ? (int64_t)(uint32_t)s[i]
                       : col->type == KILN_T_TIME ? (int64_t)s[i] * 1000 /* TIME(MILLIS) */
                                                  : (int64_t)s[i];
        }
        return 0;
    case KILN_PQT_INT64:
        if (col->type == KILN_T_STRING) { /* TIMESTAMP(NANOS): exact text */
            const int64_t *s = src;
            kiln_pq_bytes *d = dst;
            int utc = e && e->logical == PQ_LT_TIMESTAMP ? e->lt_utc : 1;
            for (size_t i = 0; i < count; i++) {
                char *t = text ? kiln_arena_alloc(text, 40) : NULL;
                if (!t)
                    return KILN_OOM(err);
                d[i].ptr = (const uint8_t *)t;
                d[i].len = (uint32_t)kiln_ts_format_ns(s[i], utc, t);
            }
        } else if (unit && unit != PQ_UNIT_MICROS) {
            const int64_t *s = src;
            int64_t *d = dst;
            for (size_t i = 0; i < count; i++)
                d[i] = ts_to_micros(s[i], unit);
        } else {
            memcpy(dst, src, count * 8);
        }
        return 0;
    case KILN_PQT_INT96: {
        const uint8_t *s = src;
        int64_t *d = dst;
        for (size_t i = 0; i < count; i++)
            if (kiln_pq_int96_to_micros(&d[i], s + 12 * i) != 0)
                return kiln_err_set_at(err, KILN_EFORMAT, off,
                                       "%s: column %s: INT96 timestamp out of range in the page at byte %llu", r->path,
                                       col->name, (unsigned long long)off);
        return 0;
    }
    default: { /* byte strings (kiln_pq_bytes at src) */
        const kiln_pq_bytes *s = src;
        if (col->type == KILN_T_DECIMAL_WIDE) {
            kiln_pq_bytes *d = dst;
            for (size_t i = 0; i < count; i++) {
                char *t = text ? kiln_arena_alloc(text, 48) : NULL;
                if (!t)
                    return KILN_OOM(err);
                if (wide_decimal_text(s[i].ptr, s[i].len, col->scale, t) != 0)
                    return kiln_err_set_at(err, KILN_EFORMAT, off,
                                           "%s: column %s: decimal value wider than 128 bits in the page at byte %llu",
                                           r->path, col->name, (unsigned long long)off);
                d[i].ptr = (const uint8_t *)t;
                d[i].len = (uint32_t)strlen(t);
            }
        } else if (col->type == KILN_T_DECIMAL) {
            int64_t *d = dst;
            for (size_t i = 0; i < count; i++)
                if (be_to_i64(s[i].ptr, s[i].len, &d[i]) != 0)
                    return kiln_err_set_at(err, KILN_EFORMAT, off,
                                           "%s: column %s: decimal value wider than 64 bits in the page at byte %llu",
                                           r->path, col->name, (unsigned long long)off);
        } else {
            memcpy(dst, src, count * sizeof(kiln_pq_bytes));
        }
        return 0;
    }
    }
}

static size_t phys_width(const kiln_parquet_column *c)
{
    switch (c->physical) {
    case KILN_PQT_BOOLEAN: return 1;
    case KILN_PQT_INT32:
    case KILN_PQT_FLOAT: return 4;
    case KILN_PQT_INT64:
    case KILN_PQT_DOUBLE: return 8;
    case KILN_PQT_INT96: return 12;
    default: return sizeof(kiln_pq_bytes);
    }
}

/* Decode count physical values of a non-dictionary encoding into rc->phys. */
static int decode_phys(kiln_parquet_reader *r, rcol *rc, const kiln_parquet_column *col, int enc, const uint8_t *in,
                       size_t n, size_t count, uint64_t off, kiln_err *err)
{
    int e = 0;
    size_t pw = phys_width(col);
    if ((e = grow(&rc->phys, &rc->phys_alloc, count * pw + 16, err)))
        return e;
    if (col->physical == KILN_PQT_FLBA && count * pw < count * (size_t)col->type_length)
        if ((e = grow(&rc->phys, &rc->phys_alloc, count * (size_t)col->type_length + 16, err)))
            return e;
    switch (enc) {
    case PQ_ENC_PLAIN:
        switch (col->physical) {
        case KILN_PQT_BOOLEAN: e = kiln_pq_plain_decode_bool(rc->phys, count, in, n, NULL, err); break;
        case KILN_PQT_BYTE_ARRAY: e = kiln_pq_plain_decode_bytes(rc->phys, count, in, n, NULL, err); break;
        case KILN_PQT_FLBA: {
            size_t tl = (size_t)col->type_length;
            if (count > n / tl) {
                e = kiln_err_set_at(err, KILN_ETRUNC, 0, "page holds fewer FIXED_LEN_BYTE_ARRAY values than it claims");
                break;
            }
            kiln_pq_bytes *b = rc->phys;
            for (size_t i = 0; i < count; i++) {
                b[i].ptr = in + i * tl;
                b[i].len = (uint32_t)tl;
            }
            break;
        }
        default: e = kiln_pq_plain_decode_fixed(rc->phys, count, pw, in, n, NULL, err);
        }
        break;
    case PQ_ENC_RLE:
        if (col->physical != KILN_PQT_BOOLEAN)
            goto unsupported;
        if ((e = grow((void **)&rc->idx, &rc->idx_alloc, count * 4 + 4, err)))
            return e;
        e = kiln_pq_rle_decode_prefixed(rc->idx, count, 1, in, n, NULL, err);
        if (!e)
            for (size_t i = 0; i < count; i++)
                ((uint8_t *)rc->phys)[i] = (uint8_t)rc->idx[i];
        break;
    case PQ_ENC_DELTA_BINARY_PACKED:
        if (col->physical == KILN_PQT_INT32)
            e = kiln_pq_delta_decode_i32(rc->phys, count, in, n, NULL, err);
        else if (col->physical == KILN_PQT_INT64)
            e = kiln_pq_delta_decode_i64(rc->phys, count, in, n, NULL, err);
        else
            goto unsupported;
        break;
    case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (col->physical != KILN_PQT_BYTE_ARRAY)
            goto unsupported;
        e = kiln_pq_dlba_decode(rc->phys, count, in, n, NULL, err);
        break;
    case PQ_ENC_DELTA_BYTE_ARRAY:
        if (col->physical != KILN_PQT_BYTE_ARRAY && col->physical != KILN_PQT_FLBA)
            goto unsupported;
        if (!rc->arena && !(rc->arena = kiln_arena_new(64 * 1024)))
            return KILN_OOM(err);
        kiln_arena_reset(rc->arena);
        e = kiln_pq_dba_decode(rc->phys, count, in, n, rc->arena, NULL, err);
        break;
    case PQ_ENC_BYTE_STREAM_SPLIT:
        if (col->physical == KILN_PQT_FLBA) {
            size_t tl = (size_t)col->type_length;
            if (!rc->arena && !(rc->arena = kiln_arena_new(64 * 1024)))
                return KILN_OOM(err);
            kiln_arena_reset(rc->arena);
            uint8_t *tmp = count ? kiln_arena_alloc(rc->arena, count * tl) : NULL;
            if (count && !tmp)
                return KILN_OOM(err);
            e = kiln_pq_bss_decode(tmp, count, tl, in, n, NULL, err);
            kiln_pq_bytes *b = rc->phys;
            for (size_t i = 0; !e && i < count; i++) {
                b[i].ptr = tmp + i * tl;
                b[i].len = (uint32_t)tl;
            }
        } else if (col->physical == KILN_PQT_INT32 || col->physical == KILN_PQT_INT64 ||
                   col->physical == KILN_PQT_FLOAT || col->physical == KILN_PQT_DOUBLE) {
            e = kiln_pq_bss_decode(rc->phys, count, pw, in, n, NULL, err);
        } else {
            goto unsupported;
        }
        break;
    default: goto unsupported;
    }
    if (e) {
        uint64_t at = off + err->offset;
        return kiln_err_set_at(err, e, at, "%s: column %s: page at byte %llu: %s", r->path, col->name,
                               (unsigned long long)off, err->msg);
    }
    if (col->physical == KILN_PQT_BYTE_ARRAY || col->physical == KILN_PQT_FLBA) {
        if (col->physical == KILN_PQT_FLBA && enc == PQ_ENC_DELTA_BYTE_ARRAY) {
            const kiln_pq_bytes *b = rc->phys;
            for (size_t i = 0; i < count; i++)
                if (b[i].len != (uint32_t)col->type_length)
                    return kiln_err_set_at(err, KILN_EFORMAT, off,
                                           "%s: column %s: fixed-length value of %u bytes in the page at byte %llu",
                                           r->path, col->name, b[i].len, (unsigned long long)off);
        }
    }
    return 0;
unsupported:
    return kiln_err_set_at(
        err, KILN_EUNSUPP, off, "%s: column %s: encoding %s is not supported for %s (page at byte %llu)", r->path,
        col->name, kiln_parquet_encoding_name(enc), kiln_parquet_type_name(col->physical), (unsigned long long)off);
}

/* ------------------------------------------------------------ pages */

static int decompress(kiln_parquet_reader *r, ZSTD_DCtx *zd, int codec, uint8_t *out, size_t out_len, const uint8_t *in,
                      size_t n, uint64_t off, const char *colname, kiln_err *err)
{
    int rc;
    if (codec == KILN_PQ_UNCOMPRESSED) {
        if (n != out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, off,
                                   "%s: column %s: uncompressed page at byte %llu is %zu bytes but claims %zu", r->path,
                                   colname, (unsigned long long)off, n, out_len);
        memcpy(out, in, n);
        return 0;
    }
    if (codec == KILN_PQ_ZSTD) {
        size_t got = ZSTD_decompressDCtx(zd, out, out_len, in, n);
        if (ZSTD_isError(got) || got != out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, off, "%s: column %s: ZSTD page at byte %llu is corrupt (%s)",
                                   r->path, colname, (unsigned long long)off,
                                   ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong decompressed size");
        return 0;
    }
    if ((rc = kiln_pq_decompress(out, out_len, codec, in, n, err)))
        return kiln_err_set_at(err, rc, off, "%s: column %s: page at byte %llu: %s", r->path, colname,
                               (unsigned long long)off, err->msg);
    return 0;
}

/* Before allocating out_len bytes for a page, check the claim against
 * what the compressed bytes can possibly hold, so a lying header cannot
 * make the reader allocate much more than the file is worth. */
static int check_claim(kiln_parquet_reader *r, int codec, const uint8_t *in, size_t n, size_t out_len, uint64_t off,
                       const char *colname, kiln_err *err)
{
    int ok = 1;
    switch (codec) {
    case KILN_PQ_UNCOMPRESSED: ok = n == out_len; break;
    case KILN_PQ_SNAPPY: {
        size_t ulen = 0;
        ok = snappy_uncompressed_length((const char *)in, n, &ulen) == SNAPPY_OK && ulen == out_len;
        break;
    }
    case KILN_PQ_ZSTD: {
        /* single frame (what writers emit): its declared size must match;
         * otherwise (several frames, size not declared) a ratio cap */
        unsigned long long fc = ZSTD_getFrameContentSize(in, n);
        if (fc == ZSTD_CONTENTSIZE_ERROR)
            ok = 0;
        else if (fc != ZSTD_CONTENTSIZE_UNKNOWN && fc == out_len)
            ok = 1;
        else
            ok = (fc == ZSTD_CONTENTSIZE_UNKNOWN || fc < out_len) && out_len <= n * 1100 + 65536;
        break;
    }
    default: ok = out_len <= n * 1100 + 65536; break; /* deflate expands at most 1032:1 */
    }
    if (!ok)
        return kiln_err_set_at(
            err, KILN_EFORMAT, off,
            "%s: column %s: page at byte %llu claims %zu uncompressed bytes, which its %zu %s bytes cannot hold",
            r->path, colname, (unsigned long long)off, out_len, n, kiln_pq_codec_name(codec));
    return 0;
}

/* Read the next page header at c->pos. */
static int read_header(kiln_parquet_reader *r, rcol *c, pq_page_header *h, size_t *hlen, kiln_err *err)
{
    uint64_t left = c->end - c->pos;
    size_t want = left < 4096 ? (size_t)left : 4096;
    for (;;) {
        int rc = grow((void **)&c->hdr, &c->hdr_alloc, want, err);
        if (rc)
            return rc;
        if ((rc = pread_all(r, c->hdr, want, c->pos, err)))
            return rc;
        rc = kiln_parquet__decode_page_header(h, c->hdr, want, hlen, c->pos, err);
        if (rc == KILN_ETRUNC && want < left && want < HEADER_MAX) {
            want = want * 4 > left ? (size_t)left : want * 4;
            if (want > HEADER_MAX)
                want = HEADER_MAX;
            continue;
        }
        if (rc)
            return kiln_err_prefix(err, "%s: column %s: ", r->path, r->lv[c->ci].name);
        return 0;
    }
}

static int load_dict(kiln_parquet_reader *r, rcol *c, const pq_page_header *h, const uint8_t *body, uint64_t off,
                     kiln_err *err)
{
    const kiln_parquet_column *col = &r->lv[c->ci];
    int rc;
    if (c->has_dict)
        return kiln_err_set_at(err, KILN_EFORMAT, off, "%s: column %s: second dictionary page at byte %llu", r->path,
                               col->name, (unsigned long long)off);
    if (h->encoding != PQ_ENC_PLAIN && h->encoding != PQ_ENC_PLAIN_DICTIONARY)
        return kiln_err_set_at(err, KILN_EUNSUPP, off, "%s: column %s: dictionary page encoding %s is not supported",
                               r->path, col->name, kiln_parquet_encoding_name(h->encoding));
    size_t ulen = (size_t)h->uncompressed_size;
    if (h->num_values < 0 || (size_t)h->num_values > PAGE_VALUES_MAX ||
        (col->physical != KILN_PQT_BOOLEAN && (size_t)h->num_values > ulen))
        return kiln_err_set_at(err, KILN_EFORMAT, off,
                               "%s: column %s: dictionary page at byte %llu claims %d values in %zu bytes", r->path,
                               col->name, (unsigned long long)off, h->num_values, ulen);
    if ((rc = check_claim(r, c->codec, body, (size_t)h->compressed_size, ulen, off, col->name, err)))
        return rc;
    kiln_free(c->dict_raw);
    c->dict_raw = kiln_malloc(ulen ? ulen : 1);
    if (!c->dict_raw)
        return KILN_OOM(err);
    if ((rc = decompress(r, c->zd, c->codec, c->dict_raw, ulen, body, (size_t)h->compressed_size, off, col->name, err)))
        return rc;
    size_t count = (size_t)h->num_values;
    if ((rc = decode_phys(r, c, col, PQ_ENC_PLAIN, c->dict_raw, ulen, count, off, err)))
        return rc;
    kiln_free(c->dict_vals);
    c->dict_vals = kiln_malloc(count * kiln_width(col->type) + 8);
    if (!c->dict_vals)
        return KILN_OOM(err);
    if (!c->dict_text && !(c->dict_text = kiln_arena_new(64 * 1024)))
        return KILN_OOM(err);
    kiln_arena_reset(c->dict_text);
    if ((rc = convert(r, col, c->phys, count, c->dict_vals, c->dict_text, off, err)))
        return rc;
    /* FLBA decimals in a dictionary are converted; FLBA binaries point into
     * dict_raw which stays alive */
    c->ndict = (uint32_t)count;
    c->has_dict = 1;
    return 0;
}

/* Bits of a level up to max (RLE/bit-packed hybrid width). */
static int level_bits(int max)
{
    int b = 0;
    while (max >> b)
        b++;
    return b;
}

/* Load the next data page of column c (skipping dictionary/index pages). */
static int next_page(kiln_parquet_reader *r, rcol *c, kiln_err *err)
{
    const kiln_parquet_column *col = &r->lv[c->ci];
    int rc;
    for (;;) {
        if (c->pos >= c->end)
            return kiln_err_set_at(err, KILN_EFORMAT, c->pos,
                                   "%s: column %s: column chunk ends at byte %llu before all its values were read",
                                   r->path, col->name, (unsigned long long)c->pos);
        pq_page_header h;
        size_t hlen;
        uint64_t off = c->pos;
        if ((rc = read_header(r, c, &h, &hlen, err)))
            return rc;
        uint64_t body_off = off + hlen;
        if ((uint64_t)h.compressed_size > c->end - body_off)
            return kiln_err_set_at(err, KILN_EFORMAT, off,
                                   "%s: column %s: page at byte %llu claims %d compressed bytes, past the end of its "
                                   "column chunk (byte %llu)",
                                   r->path, col->name, (unsigned long long)off, h.compressed_size,
                                   (unsigned long long)c->end);
        if ((size_t)h.uncompressed_size > PAGE_BYTES_MAX)
            return kiln_err_set_at(err, KILN_ELIMIT, off,
                                   "%s: column %s: page at byte %llu claims %d uncompressed bytes (limit %zu)", r->path,
                                   col->name, (unsigned long long)off, h.uncompressed_size, PAGE_BYTES_MAX);
        c->pos = body_off + (uint64_t)h.compressed_size;
        if (h.type != PQ_PAGE_DATA && h.type != PQ_PAGE_DATA_V2 && h.type != PQ_PAGE_DICT)
            continue; /* index pages and unknown pages are skipped */
        const uint8_t *body;
        if (r->map && body_off + (uint64_t)h.compressed_size < r->file_size) { /* a byte to spare, like comp */
            body = r->map + body_off;                                          /* the mapped file: no read() copy */
        } else {
            if ((rc = grow((void **)&c->comp, &c->comp_alloc, (size_t)h.compressed_size + 1, err)))
                return rc;
            if ((rc = pread_all(r, c->comp, (size_t)h.compressed_size, body_off, err)))
                return rc;
            body = c->comp;
        }
        if (h.type == PQ_PAGE_DICT) {
            if (!h.has_dict)
                return kiln_err_set_at(err, KILN_EFORMAT, off,
                                       "%s: column %s: dictionary page at byte %llu has no dictionary header", r->path,
                                       col->name, (unsigned long long)off);
            if ((rc = load_dict(r, c, &h, body, off, err)))
                return rc;
            continue;
        }
        int v2 = h.type == PQ_PAGE_DATA_V2;
        if ((v2 && !h.has_v2) || (!v2 && !h.has_data))
            return kiln_err_set_at(err, KILN_EFORMAT, off, "%s: column %s: data page at byte %llu lacks its header",
                                   r->path, col->name, (unsigned long long)off);
        if (h.num_values < 0 || (size_t)h.num_values > PAGE_VALUES_MAX || h.num_values > c->values_left)
            return kiln_err_set_at(err, KILN_EFORMAT, off,
                                   "%s: column %s: page at byte %llu claims %d values, %lld left in the chunk", r->path,
                                   col->name, (unsigned long long)off, h.num_values, (long long)c->values_left);
        size_t count = (size_t)h.num_values;
        size_t ulen = (size_t)h.uncompressed_size;
        const uint8_t *vals_in;
        size_t vals_n;
        if ((rc = grow((void **)&c->defs, &c->defs_alloc, count * 4 + 4, err)))
            return rc;
        if (c->max_rep > 0 && (rc = grow((void **)&c->reps, &c->reps_alloc, count * 4 + 4, err)))
            return rc;
        int def_bits = level_bits(c->max_def), rep_bits = level_bits(c->max_rep);
        if (!v2) {
            if ((rc = check_claim(r, c->codec, body, (size_t)h.compressed_size, ulen, off, col->name, err)))
                return rc;
            const uint8_t *page = c->raw;
            if (c->codec == KILN_PQ_UNCOMPRESSED && body != c->comp && (size_t)h.compressed_size == ulen) {
                page = body; /* mapped and stored as is: decode in place */
            } else {
                if ((rc = grow((void **)&c->raw, &c->raw_alloc, ulen + 1, err)))
                    return rc;
                if ((rc = decompress(r, c->zd, c->codec, c->raw, ulen, body, (size_t)h.compressed_size, off, col->name,
                                     err)))
                    return rc;
                page = c->raw;
            }
            size_t used = 0;
            if (c->max_rep > 0) {
                if (h.rep_encoding != PQ_ENC_RLE)
                    return kiln_err_set_at(
                        err, KILN_EUNSUPP, off,
                        "%s: column %s: repetition level encoding %s is not supported (page at byte %llu)", r->path,
                        col->name, kiln_parquet_encoding_name(h.rep_encoding), (unsigned long long)off);
                if ((rc = kiln_pq_rle_decode_prefixed(c->reps, count, rep_bits, page, ulen, &used, err)))
                    return kiln_err_set_at(err, rc, body_off + err->offset,
                                           "%s: column %s: repetition levels of the page at byte %llu: %s", r->path,
                                           col->name, (unsigned long long)off, err->msg);
            }
            if (c->max_def > 0) {
                size_t dused = 0;
                if (h.def_encoding != PQ_ENC_RLE)
                    return kiln_err_set_at(
                        err, KILN_EUNSUPP, off,
                        "%s: column %s: definition level encoding %s is not supported (page at byte %llu)", r->path,
                        col->name, kiln_parquet_encoding_name(h.def_encoding), (unsigned long long)off);
                rc = kiln_pq_rle_decode_prefixed(c->defs, count, def_bits, page + used, ulen - used, &dused, err);
                used += dused;
                if (rc)
                    return kiln_err_set_at(err, rc, body_off + err->offset,
                                           "%s: column %s: definition levels of the page at byte %llu: %s", r->path,
                                           col->name, (unsigned long long)off, err->msg);
            }
            vals_in = page + used;
            vals_n = ulen - used;
        } else {
            if (h.def_len < 0 || h.rep_len < 0 ||
                (uint64_t)h.def_len + (uint64_t)h.rep_len > (uint64_t)h.compressed_size ||
                (uint64_t)h.def_len + (uint64_t)h.rep_len > ulen)
                return kiln_err_set_at(err, KILN_EFORMAT, off,
                                       "%s: column %s: v2 page at byte %llu has level lengths past the page", r->path,
                                       col->name, (unsigned long long)off);
            size_t lv = (size_t)h.def_len + (size_t)h.rep_len;
            if (c->max_rep > 0 &&
                (rc = kiln_pq_rle_decode(c->reps, count, rep_bits, body, (size_t)h.rep_len, NULL, err)))
                return kiln_err_set_at(err, rc, body_off + err->offset,
                                       "%s: column %s: repetition levels of the v2 page at byte %llu: %s", r->path,
                                       col->name, (unsigned long long)off, err->msg);
            if (c->max_def > 0) {
                if ((rc = kiln_pq_rle_decode(c->defs, count, def_bits, body + h.rep_len, (size_t)h.def_len, NULL, err)))
                    return kiln_err_set_at(err, rc, body_off + err->offset,
                                           "%s: column %s: definition levels of the v2 page at byte %llu: %s", r->path,
                                           col->name, (unsigned long long)off, err->msg);
            }
            size_t vulen = ulen - lv;
            if ((rc = check_claim(r, h.is_compressed ? c->codec : KILN_PQ_UNCOMPRESSED, body + lv,
                                  (size_t)h.compressed_size - lv, vulen, off, col->name, err)))
                return rc;
            if ((rc = grow((void **)&c->raw, &c->raw_alloc, vulen + 1, err)))
                return rc;
            if (h.is_compressed) {
                if ((rc = decompress(r, c->zd, c->codec, c->raw, vulen, body + lv, (size_t)h.compressed_size - lv, off,
                                     col->name, err)))
                    return rc;
            } else {
                if ((size_t)h.compressed_size - lv != vulen)
                    return kiln_err_set_at(err, KILN_EFORMAT, off,
                                           "%s: column %s: v2 page at byte %llu: sizes disagree", r->path, col->name,
                                           (unsigned long long)off);
                memcpy(c->raw, body + lv, vulen);
            }
            vals_in = c->raw;
            vals_n = vulen;
        }
        size_t nonnull = count;
        if (c->max_def > 0) {
            nonnull = 0;
            for (size_t i = 0; i < count; i++) {
                if (c->defs[i] > (uint32_t)c->max_def)
                    return kiln_err_set_at(
                        err, KILN_EFORMAT, off,
                        "%s: column %s: definition level %u above the maximum %d in the page at byte %llu", r->path,
                        col->name, c->defs[i], c->max_def, (unsigned long long)off);
                nonnull += c->defs[i] == (uint32_t)c->max_def;
            }
        }
        size_t kw = kiln_width(col->type);
        if ((rc = grow(&c->vals, &c->vals_alloc, nonnull * kw + 8, err)))
            return rc;
        if (h.encoding == PQ_ENC_RLE_DICTIONARY || h.encoding == PQ_ENC_PLAIN_DICTIONARY) {
            if (!c->has_dict)
                return kiln_err_set_at(err, KILN_EFORMAT, off,
                                       "%s: column %s: dictionary-encoded page at byte %llu but no dictionary page",
                                       r->path, col->name, (unsigned long long)off);
            if ((rc = grow((void **)&c->idx, &c->idx_alloc, nonnull * 4 + 4, err)))
                return rc;
            if ((rc = kiln_pq_dict_indices_decode(c->idx, nonnull, c->ndict, vals_in, vals_n, err)))
                return kiln_err_set_at(err, rc, off, "%s: column %s: dictionary indices of the page at byte %llu: %s",
                                       r->path, col->name, (unsigned long long)off, err->msg);
            const uint8_t *dv = c->dict_vals;
            uint8_t *ov = c->vals;
            switch (kw) {
            case 1:
                for (size_t i = 0; i < nonnull; i++)
                    ov[i] = dv[c->idx[i]];
                break;
            case 4:
                for (size_t i = 0; i < nonnull; i++)
                    ((uint32_t *)ov)[i] = ((const uint32_t *)dv)[c->idx[i]];
                break;
            case 8:
                for (size_t i = 0; i < nonnull; i++)
                    ((uint64_t *)ov)[i] = ((const uint64_t *)dv)[c->idx[i]];
                break;
            default:
                for (size_t i = 0; i < nonnull; i++)
                    ((kiln_pq_bytes *)ov)[i] = ((const kiln_pq_bytes *)dv)[c->idx[i]];
            }
        } else {
            if ((rc = decode_phys(r, c, col, h.encoding, vals_in, vals_n, nonnull, off, err)))
                return rc;
            if (!c->text && !(c->text = kiln_arena_new(64 * 1024)))
                return KILN_OOM(err);
            kiln_arena_reset(c->text);
            if ((rc = convert(r, col, c->phys, nonnull, c->vals, c->text, off, err)))
                return rc;
        }
        c->values_left -= h.num_values;
        c->page_n = count;
        c->page_pos = 0;
        c->val_pos = 0;
        c->page_nonnull = nonnull;
        c->page_has_defs = c->max_def > 0;
        return 0;
    }
}

/* ------------------------------------------------------------ predicates */

static int cmp_val(kiln_type t, const kiln_pred_value *a, const kiln_pred_value *b)
{
    switch (t) {
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: return a->d < b->d ? -1 : a->d > b->d ? 1 : 0;
    case KILN_T_STRING:
    case KILN_T_BINARY: {
        size_t m = a->n < b->n ? a->n : b->n;
        int c = memcmp(a->s, b->s, m);
        if (c)
            return c < 0 ? -1 : 1;
        return a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
    }
    default: return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    }
}

/* Decode a statistic (PLAIN bytes) into a kiln value. 0 ok, -1 unusable. */
static int stat_value(const kiln_parquet_reader *r, int ci, pq_bin b, kiln_pred_value *v)
{
    const kiln_parquet_column *col = kiln_parquet_reader_column(r, ci);
    const pq_schema_el *e = &r->meta.schema[pred_el(r, ci)];
    memset(v, 0, sizeof *v);
    switch (col->physical) {
    case KILN_PQT_BOOLEAN:
        if (b.n < 1)
            return -1;
        v->i = b.p[0] != 0;
        return 0;
    case KILN_PQT_INT32: {
        if (b.n != 4)
            return -1;
        int32_t x;
        memcpy(&x, b.p, 4);
        v->i = col->type == KILN_T_INT64 ? (int64_t)(uint32_t)x : x;
        return 0;
    }
    case KILN_PQT_INT64: {
        if (b.n != 8 || col->type == KILN_T_STRING) /* TIMESTAMP(NANOS) text: integer bounds do not apply */
            return -1;
        memcpy(&v->i, b.p, 8);
        int unit = e->logical == PQ_LT_TIMESTAMP            ? e->lt_unit
                   : e->converted == PQ_CT_TIMESTAMP_MILLIS ? PQ_UNIT_MILLIS
                                                            : 0;
        if (unit)
            v->i = ts_to_micros(v->i, unit);
        return 0;
    }
    case KILN_PQT_FLOAT: {
        if (b.n != 4)
            return -1;
        float f;
        memcpy(&f, b.p, 4);
        v->d = f;
        return isnan(f) ? -1 : 0;
    }
    case KILN_PQT_DOUBLE: {
        if (b.n != 8)
            return -1;
        memcpy(&v->d, b.p, 8);
        return isnan(v->d) ? -1 : 0;
    }
    case KILN_PQT_BYTE_ARRAY:
    case KILN_PQT_FLBA:
        if (col->type == KILN_T_DECIMAL)
            return be_to_i64(b.p, b.n, &v->i);
        if (col->type != KILN_T_STRING && col->type != KILN_T_BINARY)
            return -1; /* wide decimal: text order is not numeric order */
        v->s = (const char *)b.p;
        v->n = b.n;
        return 0;
    default: return -1;
    }
}

int kiln_parquet_reader_rg_pruned(const kiln_parquet_reader *r, int g, const kiln_parquet_pred *p)
{
    if (!p || g < 0 || g >= r->meta.nrg || p->col < 0 || p->col >= r->ncols + r->nleaves ||
        (p->col < r->ncols && r->col_nested[p->col]))
        return 0;
    /* a nested leaf outside lists and maps has one value per row, so its
     * chunk's null count and bounds describe the rows as a flat column's do */
    int leaf = p->col < r->ncols ? r->col_leaf0[p->col] : p->col - r->ncols;
    const pq_colmeta *m = &r->meta.rgs[g].cols[leaf].meta;
    int64_t rows = r->meta.rgs[g].num_rows;
    int has_nc = m->has_stats && m->stats.has_null_count;
    int64_t nc = m->stats.null_count;
    if (rows == 0)
        return 1;
    if (p->op == KILN_PRED_ISNULL)
        return (has_nc && nc == 0) || !kiln_parquet_reader_column(r, p->col)->optional;
    int all_null = has_nc && nc >= rows;
    if (p->op == KILN_PRED_NOTNULL)
        return all_null;
    if (all_null)
        return 1; /* comparisons never match nulls */
    pq_bin bmn, bmx;
    chunk_minmax(r, p->col, m, &bmn, &bmx);
    if (!bmn.set || !bmx.set)
        return 0;
    kiln_pred_value mn, mx;
    if (stat_value(r, p->col, bmn, &mn) || stat_value(r, p->col, bmx, &mx))
        return 0;
    kiln_type t = kiln_parquet_reader_column(r, p->col)->type;
    switch (p->op) {
    case KILN_PRED_EQ: return cmp_val(t, &p->v, &mn) < 0 || cmp_val(t, &p->v, &mx) > 0;
    case KILN_PRED_NE: return cmp_val(t, &mn, &mx) == 0 && cmp_val(t, &mn, &p->v) == 0 && has_nc;
    case KILN_PRED_LT: return cmp_val(t, &mn, &p->v) >= 0;
    case KILN_PRED_LE: return cmp_val(t, &mn, &p->v) > 0;
    case KILN_PRED_GT: return cmp_val(t, &mx, &p->v) <= 0;
    case KILN_PRED_GE: return cmp_val(t, &mx, &p->v) < 0;
    case KILN_PRED_BETWEEN: return cmp_val(t, &mx, &p->v) < 0 || cmp_val(t, &mn, &p->hi) > 0;
    default: return 0;
    }
}

void kiln_parquet_reader_claim(kiln_parquet_reader *r, int (*fn)(void *ctx, int rg), void *ctx)
{
    r->claim = fn;
    r->claim_ctx = ctx;
}

int kiln_parquet_reader_filter(kiln_parquet_reader *r, const kiln_parquet_pred *p, kiln_err *err)
{
    if (!p) {
        r->has_pred = 0;
        return 0;
    }
    if (p->col < 0 || p->col >= r->ncols + r->nleaves)
        return kiln_err_set(err, KILN_EINVAL, "parquet reader: predicate column %d out of range", p->col);
    r->pred = *p;
    r->has_pred = 1;
    return 0;
}

int kiln_parquet_pred_match(const kiln_parquet_pred *p, const kiln_batch *b, int bc, size_t row)
{
    int isnull = kiln_batch_is_null(b, bc, row);
    if (p->op == KILN_PRED_ISNULL)
        return isnull;
    if (p->op == KILN_PRED_NOTNULL)
        return !isnull;
    if (isnull)
        return 0;
    const kiln_col *c = &b->cols[bc];
    kiln_pred_value v = {0};
    switch (c->type) {
    case KILN_T_BOOL: v.i = c->v.b[row]; break;
    case KILN_T_INT32:
    case KILN_T_DATE: v.i = c->v.i32[row]; break;
    case KILN_T_FLOAT: v.d = c->v.f32[row]; break;
    case KILN_T_DOUBLE: v.d = c->v.f64[row]; break;
    case KILN_T_STRING:
    case KILN_T_BINARY: v.s = kiln_batch_str(b, bc, row, &v.n); break;
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON:
    case KILN_T_UUID: return 0; /* kiln_pred_parse refuses these */
    default: v.i = c->v.i64[row];
    }
    int k = cmp_val(c->type, &v, &p->v);
    switch (p->op) {
    case KILN_PRED_EQ: return k == 0;
    case KILN_PRED_NE: return k != 0;
    case KILN_PRED_LT: return k < 0;
    case KILN_PRED_LE: return k <= 0;
    case KILN_PRED_GT: return k > 0;
    case KILN_PRED_GE: return k >= 0;
    case KILN_PRED_BETWEEN: return k >= 0 && cmp_val(c->type, &v, &p->hi) <= 0;
    default: return 0;
    }
}

int kiln_parquet_pred_parse(kiln_parquet_pred *out, kiln_parquet_reader *r, const char *text, kiln_err *err)
{
    memset(out, 0, sizeof *out);
    kiln_pred_term *terms = NULL;
    int n = 0;
    int rc = kiln_pred_parse(&terms, &n, r->arena, &r->file_schema, text, err);
    if (rc)
        return rc;
    if (n != 1)
        return kiln_err_set(err, KILN_EINVAL, "predicate \"%s\": expected one term 'column OP value'", text);
    *out = terms[0];
    return 0;
}

/* ------------------------------------------------------------ batches */

static int start_chunk(kiln_parquet_reader *r, const pq_rowgroup *rg, int g, rcol *c, kiln_err *err)
{
    const pq_colmeta *m = &rg->cols[c->ci].meta;
    int64_t start = chunk_start(m);
    if (start < 4 || m->total_compressed < 0 || (uint64_t)start > r->data_end ||
        (uint64_t)m->total_compressed > r->data_end - (uint64_t)start)
        return kiln_err_set_at(
            err, KILN_EFORMAT, (uint64_t)(start < 0 ? 0 : start),
            "%s: row group %d column %s: chunk at byte %lld of %lld bytes lies outside the data (ends at %llu)",
            r->path, g, r->lv[c->ci].name, (long long)start, (long long)m->total_compressed,
            (unsigned long long)r->data_end);
    /* one value (or null) per row, unless the leaf repeats */
    if (c->max_rep == 0 ? m->num_values != rg->num_rows : m->num_values < rg->num_rows)
        return kiln_err_set(err, KILN_EFORMAT, "%s: row group %d column %s: %lld values for %lld rows", r->path, g,
                            r->lv[c->ci].name, (long long)m->num_values, (long long)rg->num_rows);
    if (!kiln_pq_codec_supported(m->codec))
        return kiln_err_set_at(
            err, KILN_EUNSUPP, (uint64_t)start,
            "%s: column %s uses codec %s, which kiln does not support (supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD)",
            r->path, r->lv[c->ci].name, kiln_pq_codec_name(m->codec));
    c->pos = (uint64_t)start;
    c->end = (uint64_t)start + (uint64_t)m->total_compressed;
    if (r->src.need)
        r->src.need(r->src.ctx, c->pos, c->end - c->pos);
    if (r->map && c->end <= r->file_size && c->end > c->pos) {
        /* map the chunk's pages in one call instead of a fault per few
         * pages (MADV_POPULATE_READ, Linux 5.14; a no-op if refused) */
        uintptr_t a = (uintptr_t)(r->map + c->pos) & ~(uintptr_t)4095;
        (void)madvise((void *)a, (size_t)((uintptr_t)(r->map + c->end) - a), 22 /* MADV_POPULATE_READ */);
    }
    c->values_left = m->num_values;
    c->codec = m->codec;
    c->has_dict = 0;
    c->ndict = 0;
    c->page_n = c->page_pos = 0;
    return 0;
}

static int start_rowgroup(kiln_parquet_reader *r, int g, kiln_err *err)
{
    const pq_rowgroup *rg = &r->meta.rgs[g];
    int rc;
    for (int i = 0; i < r->nproj; i++) {
        if (r->nest[i]) {
            for (int k = 0; k < r->pnl[i]; k++)
                if ((rc = start_chunk(r, rg, g, &r->nest[i][k], err)))
                    return rc;
        } else if ((rc = start_chunk(r, rg, g, &r->rc[i], err))) {
            return rc;
        }
    }
    r->rg_left = rg->num_rows;
    /* keep a batch's string bytes near BATCH_STRING_BUDGET (the batch's
     * buffers are capped at 1 GB): estimate bytes per row from the chunk
     * sizes of the projected string columns */
    double per_row = 0;
    for (int i = 0; i < r->nproj && rg->num_rows > 0; i++) {
        int l0 = r->nest[i] ? r->pl0[i] : r->rc[i].ci, nl = r->nest[i] ? r->pnl[i] : 1;
        for (int k = l0; k < l0 + nl; k++)
            if (kiln_type_is_bytes(r->lv[k].type) || r->nest[i])
                per_row += (double)rg->cols[k].meta.total_uncompressed / (double)rg->num_rows;
    }
    r->rg_batch_rows = r->batch_rows;
    if (per_row * (double)r->batch_rows > (double)BATCH_STRING_BUDGET) {
        double rows = (double)BATCH_STRING_BUDGET / per_row;
        r->rg_batch_rows = rows < 1 ? 1 : (size_t)rows;
    }
    return 0;
}

/* Copy n rows of column c into batch column bc starting at batch row at. */
static int fill(kiln_parquet_reader *r, rcol *c, kiln_batch *b, int bcol, size_t n, kiln_err *err)
{
    kiln_col *bc = &b->cols[bcol];
    size_t kw = kiln_width(bc->type);
    int is_bytes = kiln_type_is_bytes(bc->type);
    size_t at = 0;
    int rc;
    while (at < n) {
        if (c->page_pos >= c->page_n)
            if ((rc = next_page(r, c, err)))
                return rc;
        size_t k = c->page_n - c->page_pos;
        if (k > n - at)
            k = n - at;
        if (!c->page_has_defs && !is_bytes) { /* no nulls possible: one copy */
            memcpy(bc->v.b + kw * at, (const uint8_t *)c->vals + kw * c->val_pos, kw * k);
            c->val_pos += k;
            c->page_pos += k;
            at += k;
            continue;
        }
        if (is_bytes) { /* reserve the run's bytes once */
            size_t nv = 0;
            uint64_t total = 0;
            for (size_t j = 0; j < k; j++)
                nv += !c->page_has_defs || c->defs[c->page_pos + j] == (uint32_t)c->max_def;
            const kiln_pq_bytes *v = (const kiln_pq_bytes *)c->vals + c->val_pos;
            for (size_t j = 0; j < nv; j++)
                total += v[j].len;
            if (bc->data.len + total > UINT32_MAX)
                return kiln_err_set(err, KILN_ELIMIT, "parquet reader: a batch of column %s holds over 4 GB",
                                    r->lv[c->ci].name);
            if ((rc = kiln_buf_reserve(&bc->data, (size_t)total + 1, err)))
                return rc;
        }
        for (size_t j = 0; j < k; j++) {
            size_t row = at + j;
            int present = !c->page_has_defs || c->defs[c->page_pos + j] == (uint32_t)c->max_def;
            if (!present) {
                if (!bc->nulls) {
                    bc->nulls = kiln_calloc(b->capacity, 1);
                    if (!bc->nulls)
                        return KILN_OOM(err);
                }
                bc->nulls[row] = 1;
                if (is_bytes)
                    bc->offsets[row + 1] = (uint32_t)bc->data.len;
                else
                    memset(bc->v.b + kw * row, 0, kw);
                continue;
            }
            if (is_bytes) {
                const kiln_pq_bytes *v = (const kiln_pq_bytes *)c->vals + c->val_pos++;
                kiln_copy_short(bc->data.data + bc->data.len, v->ptr, v->len); /* reserved above */
                bc->data.len += v->len;
                bc->offsets[row + 1] = (uint32_t)bc->data.len;
            } else {
                memcpy(bc->v.b + kw * row, (const uint8_t *)c->vals + kw * c->val_pos++, kw);
            }
        }
        if (is_bytes)
            bc->data.data[bc->data.len] = 0; /* kiln_buf stays NUL-terminated */
        c->page_pos += k;
        at += k;
    }
    bc->len = n;
    return 0;
}

/* fill() under a mapping guard: page bodies (and the strings copied out
 * of uncompressed pages) are read from the map, and a file truncated by
 * another process meanwhile must give an error, not SIGBUS. */
static int fill_guarded(kiln_parquet_reader *r, rcol *c, kiln_batch *b, int bcol, size_t n, kiln_err *err)
{
    if (!r->map)
        return fill(r, c, b, bcol, n, err);
    kiln_map_guard g;
    if (sigsetjmp(g.env, 0)) {
        c->page_pos = c->page_n = 0;
        c->pos = c->end; /* the chunk cannot be continued */
        return kiln_err_set(err, KILN_EIO,
                            "%s: column %s: the file shrank while it was read (truncated or "
                            "rewritten by another process; it was %llu bytes)",
                            r->path, r->lv[c->ci].name, (unsigned long long)r->file_size);
    }
    kiln_map_guard_push(&g, r->map, (size_t)r->file_size);
    int rc = fill(r, c, b, bcol, n, err);
    kiln_map_guard_pop(&g);
    return rc;
}

/* ------------------------------------------------------------ nested columns
 *
 * A top-level struct, list, map or repeated field is delivered as one
 * column of JSON text per row. Each of its leaves is read as a stream of
 * (repetition level, definition level, value) entries; for a batch of n
 * rows every leaf is read up to the end of the n-th record (a record ends
 * where the next entry has repetition level 0), each value rendered to
 * JSON as it is read. Then each row is assembled from the leaves' entry
 * ranges by walking the schema tree (Dremel record assembly): a node is
 * null where the first entry's definition level is below the node's; a
 * repeated node has one instance per entry whose repetition level is at
 * most the node's (zero when the slot is an empty list). LIST and MAP
 * annotations give JSON arrays and objects; the legacy two-level lists
 * (the repeated group is the element) and unannotated repeated fields give
 * arrays too. Map keys become JSON strings. */

static int leaf_more(const rcol *c) { return c->page_pos < c->page_n || c->values_left > 0; }

/* JSON text of value i of a page (kiln representation of leaf col). */
static int json_value(kiln_buf *out, const kiln_parquet_column *col, const void *vals, size_t i, kiln_err *err)
{
    char tmp[KILN_DECIMAL_TEXT_MAX > 64 ? KILN_DECIMAL_TEXT_MAX : 64];
    switch (col->type) {
    case KILN_T_BOOL: return kiln_buf_printf(out, err, "%s", ((const uint8_t *)vals)[i] ? "true" : "false");
    case KILN_T_INT32: return kiln_buf_printf(out, err, "%d", ((const int32_t *)vals)[i]);
    case KILN_T_INT64: return kiln_buf_printf(out, err, "%lld", (long long)((const int64_t *)vals)[i]);
    case KILN_T_DATE:
        kiln_date_format(((const int32_t *)vals)[i], tmp);
        return kiln_buf_printf(out, err, "\"%s\"", tmp);
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        kiln_ts_format(((const int64_t *)vals)[i], tmp);
        size_t l = strlen(tmp);
        if (col->type == KILN_T_TIMESTAMP && l && tmp[l - 1] == 'Z')
            tmp[l - 1] = 0;
        return kiln_buf_printf(out, err, "\"%s\"", tmp);
    }
    case KILN_T_DECIMAL:
        kiln_decimal_format(((const int64_t *)vals)[i], col->scale, tmp);
        return kiln_buf_printf(out, err, "%s", tmp);
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: {
        double d = col->type == KILN_T_FLOAT ? (double)((const float *)vals)[i] : ((const double *)vals)[i];
        if (isnan(d))
            return kiln_buf_printf(out, err, "\"NaN\"");
        if (isinf(d))
            return kiln_buf_printf(out, err, "\"%sInfinity\"", d < 0 ? "-" : "");
        return kiln_buf_printf(out, err, col->type == KILN_T_FLOAT ? "%.9g" : "%.17g", d);
    }
    case KILN_T_STRING: {
        const kiln_pq_bytes *b = &((const kiln_pq_bytes *)vals)[i];
        return kiln_json_write_str(out, (const char *)b->ptr, b->len, err);
    }
    case KILN_T_DECIMAL_WIDE: {
        const kiln_pq_bytes *b = &((const kiln_pq_bytes *)vals)[i];
        return kiln_buf_append(out, b->ptr, b->len, err);
    }
    case KILN_T_BINARY: {
        const kiln_pq_bytes *b = &((const kiln_pq_bytes *)vals)[i];
        int rc = kiln_buf_putc(out, '"', err);
        if (!rc)
            rc = kiln_buf_reserve(out, (size_t)b->len * 2 + 2, err);
        if (rc)
            return rc;
        kiln_hex(b->ptr, b->len, out->data + out->len);
        out->len += (size_t)b->len * 2;
        out->data[out->len] = 0;
        return kiln_buf_putc(out, '"', err);
    }
    case KILN_T_TIME:
        kiln_time_format(((const int64_t *)vals)[i], tmp);
        return kiln_buf_printf(out, err, "\"%s\"", tmp);
    case KILN_T_UUID: {
        const kiln_pq_bytes *b = &((const kiln_pq_bytes *)vals)[i];
        if (b->len != 16)
            break;
        kiln_uuid_format(b->ptr, tmp);
        return kiln_buf_printf(out, err, "\"%s\"", tmp);
    }
    case KILN_T_JSON: break;
    }
    return kiln_err_set(err, KILN_EINTERNAL, "column %s: no JSON form for its type", col->name);
}

/* Read one entry of leaf c into its batch entries. */
static int leaf_read(kiln_parquet_reader *r, rcol *c, kiln_err *err)
{
    int rc;
    if (c->page_pos >= c->page_n && (rc = next_page(r, c, err)))
        return rc;
    uint32_t rep = c->max_rep ? c->reps[c->page_pos] : 0;
    uint32_t def = c->max_def ? c->defs[c->page_pos] : 0;
    if (rep > (uint32_t)c->max_rep)
        return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: repetition level %u above the maximum %d", r->path,
                            r->lv[c->ci].name, rep, c->max_rep);
    if ((rc = kiln_vec_push(&c->e_rep, (uint8_t)rep, err)) || (rc = kiln_vec_push(&c->e_def, (uint8_t)def, err)) ||
        (rc = kiln_vec_push(&c->e_off, (uint32_t)c->e_txt.len, err)))
        return rc;
    if (def == (uint32_t)c->max_def) {
        if (c->val_pos >= c->page_nonnull)
            return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: more defined entries than values in a page", r->path,
                                r->lv[c->ci].name);
        if ((rc = json_value(&c->e_txt, &r->lv[c->ci], c->vals, c->val_pos++, err)))
            return rc;
        if (c->e_txt.len > 0xffffffffu)
            return kiln_err_set(err, KILN_ELIMIT, "%s: column %s: over 4 GB of nested values in one batch", r->path,
                                r->lv[c->ci].name);
    }
    c->page_pos++;
    return 0;
}

/* Read the entries of n records of leaf c (this batch's). */
static int leaf_records(kiln_parquet_reader *r, rcol *c, size_t n, kiln_err *err)
{
    int rc;
    c->e_rep.len = c->e_def.len = c->e_off.len = c->e_row.len = 0;
    kiln_buf_reset(&c->e_txt);
    for (size_t rec = 0; rec < n; rec++) {
        if ((rc = kiln_vec_push(&c->e_row, (uint32_t)c->e_rep.len, err)))
            return rc;
        if (!leaf_more(c))
            return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: the column chunk ends before its row group's rows",
                                r->path, r->lv[c->ci].name);
        if ((rc = leaf_read(r, c, err)))
            return rc;
        if (c->e_rep.items[c->e_rep.len - 1] != 0)
            return kiln_err_set(err, KILN_EFORMAT, "%s: column %s: a record starts with repetition level %u", r->path,
                                r->lv[c->ci].name, c->e_rep.items[c->e_rep.len - 1]);
        for (;;) {
            if (c->page_pos >= c->page_n) {
                if (c->values_left <= 0)
                    break;
                if ((rc = next_page(r, c, err)))
                    return rc;
            }
            if (c->max_rep == 0 || c->reps[c->page_pos] == 0)
                break;
            if ((rc = leaf_read(r, c, err)))
                return rc;
        }
    }
    return kiln_vec_push(&c->e_row, (uint32_t)c->e_rep.len, err);
}

typedef struct asm_ctx {
    kiln_parquet_reader *r;
    rcol *L;    /* the column's leaves (a projected sub-path's: the target's) */
    int l0, nl; /* first leaf index, count */
    kiln_buf *out;
    kiln_err *err;
    const pq_node *target; /* a projected sub-path's node, or NULL */
} asm_ctx;

static int emit_value(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth);
static int emit_content(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth);

/* Each instance of repeated node rn in the slot [S, E): calls back with the
 * instance's entry ranges. Returns the count through *count. */
typedef int (*inst_fn)(asm_ctx *a, const pq_node *rn, const int *S, const int *E, int depth, int i, void *ctx);

static int each_instance(asm_ctx *a, const pq_node *rn, const int *S, const int *E, int depth, inst_fn fn, void *ctx)
{
    int k0 = rn->l0 - a->l0, k1 = rn->l1 - a->l0;
    if (k0 < 0) /* an ancestor of a projected sub-path: its leaves are the target's */
        k0 = 0;
    if (k1 > a->nl)
        k1 = a->nl;
    if (S[k0] >= E[k0] || a->L[k0].e_def.items[S[k0]] < rn->maxdef)
        return 0; /* an empty list (or map) */
    int *cur = a->r->slices + (size_t)(depth + 1) * 2 * (size_t)a->nl, *nS = cur, *nE = cur + a->nl;
    for (int k = k0; k < k1; k++)
        nE[k] = S[k];
    for (int i = 0; nE[k0] < E[k0]; i++) {
        for (int k = k0; k < k1; k++) {
            int j = nE[k];
            nS[k] = j;
            if (j >= E[k])
                return kiln_err_set(a->err, KILN_EFORMAT, "%s: column %s: its leaves disagree on the number of values",
                                    a->r->path, a->r->lv[a->l0 + k].name);
            j++;
            while (j < E[k] && a->L[k].e_rep.items[j] > rn->maxrep)
                j++;
            nE[k] = j;
        }
        int rc = fn(a, rn, nS, nE, depth + 1, i, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

static int inst_value(asm_ctx *a, const pq_node *rn, const int *S, const int *E, int depth, int i, void *ctx)
{
    const pq_node *elem = ctx; /* the element node (rn itself for two-level lists) */
    int rc = i ? kiln_buf_putc(a->out, ',', a->err) : 0;
    if (rc)
        return rc;
    return elem == rn ? emit_content(a, rn, S, E, depth) : emit_value(a, elem, S, E, depth);
}

static int inst_entry(asm_ctx *a, const pq_node *kv, const int *S, const int *E, int depth, int i, void *ctx)
{
    const pq_node *nodes = ctx;
    int rc = i ? kiln_buf_putc(a->out, ',', a->err) : 0;
    if (rc)
        return rc;
    const pq_node *key = &nodes[kv->kids[0]];
    size_t at = a->out->len;
    if ((rc = emit_value(a, key, S, E, depth)))
        return rc;
    if (a->out->len == at || a->out->data[at] != '"') { /* JSON object keys are strings */
        size_t kn = a->out->len - at;
        char *kt = kiln_strndup(a->out->data + at, kn);
        if (!kt)
            return KILN_OOM(a->err);
        a->out->len = at;
        rc = kiln_json_write_str(a->out, kt, kn, a->err);
        kiln_free(kt);
        if (rc)
            return rc;
    }
    if ((rc = kiln_buf_putc(a->out, ':', a->err)))
        return rc;
    if (kv->nkids < 2)
        return kiln_buf_append(a->out, "null", 4, a->err);
    return emit_value(a, &nodes[kv->kids[1]], S, E, depth);
}

/* A repeated node as a JSON array of its instances. */
static int emit_array(asm_ctx *a, const pq_node *rn, const pq_node *elem, const int *S, const int *E, int depth)
{
    int rc = kiln_buf_putc(a->out, '[', a->err);
    if (!rc)
        rc = each_instance(a, rn, S, E, depth, inst_value, (void *)elem);
    return rc ? rc : kiln_buf_putc(a->out, ']', a->err);
}

/* A non-repeated node in a slot: null, or its content. */
static int emit_value(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth)
{
    int k = n->l0 - a->l0;
    if (k < 0) /* an ancestor of a projected sub-path */
        k = 0;
    if (S[k] >= E[k])
        return kiln_err_set(a->err, KILN_EFORMAT, "%s: column %s: a value is missing", a->r->path,
                            a->r->lv[n->l0].name);
    if (a->L[k].e_def.items[S[k]] < n->maxdef)
        return kiln_buf_append(a->out, "null", 4, a->err);
    return emit_content(a, n, S, E, depth);
}

/* A defined node's content (a repeated node's one instance, too). */
static int emit_content(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth)
{
    const pq_node *nodes = a->r->nodes;
    kiln_parquet_reader *r = a->r;
    int rc;
    if (depth > NEST_DEPTH_MAX)
        return kiln_err_set(a->err, KILN_ELIMIT, "%s: nested deeper than %d levels", r->path, NEST_DEPTH_MAX);
    if (n->leaf >= 0) {
        int k = n->leaf - a->l0;
        const rcol *c = &a->L[k];
        uint32_t e = (uint32_t)S[k];
        uint32_t from = c->e_off.items[e];
        uint32_t to = e + 1 < c->e_off.len ? c->e_off.items[e + 1] : (uint32_t)c->e_txt.len;
        if (c->e_def.items[e] < c->max_def) /* an element that is null inside a list */
            return kiln_buf_append(a->out, "null", 4, a->err);
        return kiln_buf_append(a->out, c->e_txt.data + from, to - from, a->err);
    }
    const pq_node *k0 = n->nkids > 0 ? &nodes[n->kids[0]] : NULL;
    if (n->kind == NODE_LIST && n->nkids == 1 && k0->repeated) {
        const pq_node *elem = k0;
        const pq_schema_el *re = &r->meta.schema[k0->el];
        char tuple[300];
        snprintf(tuple, sizeof tuple, "%s_tuple", r->meta.schema[n->el].name);
        if (k0->leaf < 0 && k0->nkids == 1 && strcmp(re->name, "array") != 0 && strcmp(re->name, tuple) != 0)
            elem = &nodes[k0->kids[0]]; /* three-level list: repeated group { element } */
        return emit_array(a, k0, elem, S, E, depth);
    }
    if (n->kind == NODE_MAP && n->nkids == 1 && k0->repeated && k0->leaf < 0 && k0->nkids >= 1) {
        if ((rc = kiln_buf_putc(a->out, '{', a->err)) ||
            (rc = each_instance(a, k0, S, E, depth, inst_entry, (void *)nodes)))
            return rc;
        return kiln_buf_putc(a->out, '}', a->err);
    }
    if ((rc = kiln_buf_putc(a->out, '{', a->err)))
        return rc;
    for (int i = 0; i < n->nkids; i++) {
        const pq_node *c = &nodes[n->kids[i]];
        const pq_schema_el *ce = &r->meta.schema[c->el];
        const char *name = ce->name;
        if (r->name_fn && ce->has_field_id) {
            const char *nn = r->name_fn(r->name_ctx, ce->field_id);
            if (nn)
                name = nn;
        }
        if ((i && (rc = kiln_buf_putc(a->out, ',', a->err))) ||
            (rc = kiln_json_write_str(a->out, name, strlen(name), a->err)) || (rc = kiln_buf_putc(a->out, ':', a->err)))
            return rc;
        rc = c->repeated ? emit_array(a, c, c, S, E, depth) : emit_value(a, c, S, E, depth);
        if (rc)
            return rc;
    }
    return kiln_buf_putc(a->out, '}', a->err);
}

/* ------------------------------------------------------------ projected sub-paths
 * The nodes from the column down to the target: a struct on the way is
 * stepped into (null if it is null), a list becomes an array of what its
 * elements hold at the path (a map is only entered by naming "key" or
 * "value": an array over its entries). */
static int path_content(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth);

static int path_value(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth)
{
    if (n == a->target)
        return emit_value(a, n, S, E, depth);
    int k = n->l0 - a->l0;
    if (k < 0)
        k = 0;
    if (S[k] >= E[k])
        return kiln_err_set(a->err, KILN_EFORMAT, "%s: a value is missing", a->r->path);
    if (a->L[k].e_def.items[S[k]] < n->maxdef)
        return kiln_buf_append(a->out, "null", 4, a->err);
    return path_content(a, n, S, E, depth);
}

static int inst_path(asm_ctx *a, const pq_node *rn, const int *S, const int *E, int depth, int i, void *ctx)
{
    const pq_node *elem = ctx;
    int rc = i ? kiln_buf_putc(a->out, ',', a->err) : 0;
    if (rc)
        return rc;
    if (elem == a->target)
        return elem == rn ? emit_content(a, rn, S, E, depth) : emit_value(a, elem, S, E, depth);
    return elem == rn ? path_content(a, rn, S, E, depth) : path_value(a, elem, S, E, depth);
}

static int path_array(asm_ctx *a, const pq_node *rn, const pq_node *elem, const int *S, const int *E, int depth)
{
    int rc = kiln_buf_putc(a->out, '[', a->err);
    if (!rc)
        rc = each_instance(a, rn, S, E, depth, inst_path, (void *)elem);
    return rc ? rc : kiln_buf_putc(a->out, ']', a->err);
}

static int path_content(asm_ctx *a, const pq_node *n, const int *S, const int *E, int depth)
{
    const pq_node *nodes = a->r->nodes;
    const pq_node *t = a->target;
    if (depth > NEST_DEPTH_MAX)
        return kiln_err_set(a->err, KILN_ELIMIT, "%s: nested deeper than %d levels", a->r->path, NEST_DEPTH_MAX);
    const pq_node *k0 = n->nkids > 0 ? &nodes[n->kids[0]] : NULL;
    if ((n->kind == NODE_LIST || n->kind == NODE_MAP) && n->nkids == 1 && k0->repeated) {
        const pq_node *elem = k0;
        if (n->kind == NODE_LIST) {
            const pq_schema_el *re = &a->r->meta.schema[k0->el];
            char tuple[300];
            snprintf(tuple, sizeof tuple, "%s_tuple", a->r->meta.schema[n->el].name);
            if (k0->leaf < 0 && k0->nkids == 1 && strcmp(re->name, "array") != 0 && strcmp(re->name, tuple) != 0)
                elem = &nodes[k0->kids[0]];
        } else {
            for (int k = 0; k < k0->nkids; k++) /* the map's key or value the path names */
                if (nodes[k0->kids[k]].l0 <= t->l0 && t->l0 < nodes[k0->kids[k]].l1)
                    elem = &nodes[k0->kids[k]];
        }
        return path_array(a, k0, elem, S, E, depth + 1);
    }
    for (int k = 0; k < n->nkids; k++) {
        const pq_node *c = &nodes[n->kids[k]];
        if (c->l0 <= t->l0 && t->l0 < c->l1 && c->el <= t->el)
            return c->repeated ? path_array(a, c, c, S, E, depth + 1) : path_value(a, c, S, E, depth + 1);
    }
    return kiln_err_set(a->err, KILN_EINTERNAL, "%s: projected path lost its way", a->r->path);
}

/* n rows of nested projected column i into batch column bcol. */
static int fill_nested(kiln_parquet_reader *r, int i, kiln_batch *b, int bcol, size_t n, kiln_err *err)
{
    int ci = r->proj[i], rc;
    asm_ctx a = {r, r->nest[i], r->pl0[i], r->pnl[i], NULL, err, r->ptarget[i] >= 0 ? &r->nodes[r->ptarget[i]] : NULL};
    for (int k = 0; k < a.nl; k++)
        if ((rc = leaf_records(r, &a.L[k], n, err)))
            return rc;
    kiln_col *bc = &b->cols[bcol];
    a.out = &bc->data;
    const pq_node *top = &r->nodes[r->leaf_el[ci]];
    int *S = r->slices, *E = r->slices + a.nl;
    for (size_t row = 0; row < n; row++) {
        for (int k = 0; k < a.nl; k++) {
            S[k] = (int)a.L[k].e_row.items[row];
            E[k] = (int)a.L[k].e_row.items[row + 1];
        }
        if (a.target && top->repeated) {
            rc = path_array(&a, top, top, S, E, 0);
        } else if (a.target && a.L[0].e_def.items[S[0]] >= top->maxdef) {
            rc = path_content(&a, top, S, E, 0);
        } else if (top->repeated) {
            rc = emit_array(&a, top, top, S, E, 0);
        } else if (a.L[0].e_def.items[S[0]] < top->maxdef) {
            if (!bc->nulls && !(bc->nulls = kiln_calloc(b->capacity, 1)))
                return KILN_OOM(err);
            bc->nulls[row] = 1;
            rc = 0;
        } else {
            rc = emit_content(&a, top, S, E, 0);
        }
        if (rc)
            return kiln_err_prefix(err, "column %s: ", r->cols[ci].name);
        if (bc->data.len > UINT32_MAX)
            return kiln_err_set(err, KILN_ELIMIT, "parquet reader: a batch of column %s holds over 4 GB",
                                r->cols[ci].name);
        bc->offsets[row + 1] = (uint32_t)bc->data.len;
    }
    bc->len = n;
    return 0;
}

static int fill_nested_guarded(kiln_parquet_reader *r, int i, kiln_batch *b, int bcol, size_t n, kiln_err *err)
{
    if (!r->map)
        return fill_nested(r, i, b, bcol, n, err);
    kiln_map_guard g;
    if (sigsetjmp(g.env, 0)) {
        for (int k = 0; k < r->pnl[i]; k++) {
            rcol *c = &r->nest[i][k];
            c->page_pos = c->page_n = 0;
            c->pos = c->end;
        }
        return kiln_err_set(err, KILN_EIO,
                            "%s: column %s: the file shrank while it was read (truncated or "
                            "rewritten by another process; it was %llu bytes)",
                            r->path, r->cols[r->proj[i]].name, (unsigned long long)r->file_size);
    }
    kiln_map_guard_push(&g, r->map, (size_t)r->file_size);
    int rc = fill_nested(r, i, b, bcol, n, err);
    kiln_map_guard_pop(&g);
    return rc;
}

static void fill_task(void *arg, int worker)
{
    rcol *c = arg;
    c->zd = c->r->zds[worker];
    kiln_err_clear(&c->task_err);
    c->task_rc = fill_guarded(c->r, c, c->task_batch, c->task_bcol, c->task_n, &c->task_err);
}

static int next_into(kiln_parquet_reader *r, kiln_batch *b, kiln_err *err)
{
    int rc;
    r->started = 1;
    while (r->rg_left == 0) {
        if (r->rg + 1 >= r->meta.nrg)
            return 0;
        r->rg++;
        if (r->meta.rgs[r->rg].num_rows == 0)
            continue;
        if (r->claim && !r->claim(r->claim_ctx, r->rg))
            continue; /* another reader of the file takes it */
        if (r->has_pred && kiln_parquet_reader_rg_pruned(r, r->rg, &r->pred)) {
            r->pruned++;
            continue;
        }
        if ((rc = start_rowgroup(r, r->rg, err)))
            return rc;
    }
    kiln_batch_clear(b);
    size_t n = (size_t)(r->rg_left < (int64_t)r->rg_batch_rows ? r->rg_left : (int64_t)r->rg_batch_rows);
    if (!r->pool || r->nproj < 2) {
        for (int i = 0; i < r->nproj; i++)
            if ((rc = r->nest[i] ? fill_nested_guarded(r, i, b, i, n, err) : fill_guarded(r, &r->rc[i], b, i, n, err)))
                return rc;
    } else {
        /* nested columns on this thread after the pool (they use zds[0]) */
        for (int i = 0; i < r->nproj; i++) {
            rcol *c = &r->rc[i];
            c->task_rc = 0;
            if (r->nest[i])
                continue;
            c->task_batch = b;
            c->task_bcol = i;
            c->task_n = n;
            c->task_rc = 0;
            if ((rc = kiln_pool_submit(r->pool, fill_task, c, err))) {
                kiln_pool_wait(r->pool);
                return rc;
            }
        }
        kiln_pool_wait(r->pool);
        for (int i = 0; i < r->nproj; i++)
            if (r->rc[i].task_rc) {
                *err = r->rc[i].task_err;
                return r->rc[i].task_rc;
            }
        for (int i = 0; i < r->nproj; i++)
            if (r->nest[i] && (rc = fill_nested_guarded(r, i, b, i, n, err)))
                return rc;
    }
    b->nrows = n;
    r->rg_left -= (int64_t)n;
    return 1;
}

int kiln_parquet_reader_next(kiln_parquet_reader *r, const kiln_batch **out, kiln_err *err)
{
    int rc;
    *out = NULL;
    if (!r->batch && (rc = kiln_parquet_reader_batch_new(r, &r->batch, err)))
        return rc;
    if ((rc = next_into(r, r->batch, err)) == 1)
        *out = r->batch;
    return rc;
}

int kiln_parquet_reader_batch_new(kiln_parquet_reader *r, kiln_batch **out, kiln_err *err)
{
    return kiln_batch_new(out, &r->out_schema, r->batch_rows, KILN_BUF_DEFAULT_CAP, err);
}

int kiln_parquet_reader_next_into(kiln_parquet_reader *r, kiln_batch *b, kiln_err *err)
{
    if (b->schema->ncols != r->out_schema.ncols || b->capacity < r->batch_rows)
        return kiln_err_set(err, KILN_EINVAL,
                            "parquet reader: next_into needs a batch from kiln_parquet_reader_batch_new");
    return next_into(r, b, err);
}

/* ------------------------------------------------------------ formatting */

int kiln_parquet_format_value(kiln_buf *buf, const kiln_batch *b, int c, size_t row, kiln_err *err)
{
    if (kiln_batch_is_null(b, c, row))
        return 0;
    const kiln_col *col = &b->cols[c];
    char tmp[64];
    switch (col->type) {
    case KILN_T_BOOL: return kiln_buf_printf(buf, err, "%s", col->v.b[row] ? "true" : "false");
    case KILN_T_INT32: return kiln_buf_printf(buf, err, "%d", col->v.i32[row]);
    case KILN_T_INT64: return kiln_buf_printf(buf, err, "%lld", (long long)col->v.i64[row]);
    case KILN_T_FLOAT: return kiln_buf_printf(buf, err, "%.9g", (double)col->v.f32[row]);
    case KILN_T_DOUBLE: return kiln_buf_printf(buf, err, "%.17g", col->v.f64[row]);
    case KILN_T_DATE: kiln_date_format(col->v.i32[row], tmp); return kiln_buf_printf(buf, err, "%s", tmp);
    case KILN_T_TIME: kiln_time_format(col->v.i64[row], tmp); return kiln_buf_printf(buf, err, "%s", tmp);
    case KILN_T_UUID: {
        size_t n;
        const char *s = kiln_batch_str(b, c, row, &n);
        if (n != 16)
            return kiln_err_set(err, KILN_EFORMAT, "column %s: a uuid of %zu bytes", b->schema->cols[c].name, n);
        kiln_uuid_format((const uint8_t *)s, tmp);
        return kiln_buf_printf(buf, err, "%s", tmp);
    }
    case KILN_T_TIMESTAMPTZ: kiln_ts_format(col->v.i64[row], tmp); return kiln_buf_printf(buf, err, "%s", tmp);
    case KILN_T_TIMESTAMP: {
        kiln_ts_format(col->v.i64[row], tmp);
        size_t l = strlen(tmp);
        if (l && tmp[l - 1] == 'Z')
            tmp[l - 1] = 0;
        return kiln_buf_printf(buf, err, "%s", tmp);
    }
    case KILN_T_DECIMAL: {
        int scale = b->schema->cols[c].scale;
        int64_t v = col->v.i64[row];
        uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        char digits[32];
        int nd = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
        char outs[48];
        int o = 0;
        if (v < 0)
            outs[o++] = '-';
        if (scale <= 0) {
            memcpy(outs + o, digits, (size_t)nd);
            o += nd;
        } else {
            int ip = nd - scale;
            if (ip <= 0) {
                outs[o++] = '0';
                outs[o++] = '.';
                for (int k = 0; k < -ip; k++)
                    outs[o++] = '0';
                memcpy(outs + o, digits, (size_t)nd);
                o += nd;
            } else {
                memcpy(outs + o, digits, (size_t)ip);
                o += ip;
                outs[o++] = '.';
                memcpy(outs + o, digits + ip, (size_t)scale);
                o += scale;
            }
        }
        return kiln_buf_append(buf, outs, (size_t)o, err);
    }
    case KILN_T_STRING:
    case KILN_T_DECIMAL_WIDE:
    case KILN_T_JSON: {
        size_t n;
        const char *s = kiln_batch_str(b, c, row, &n);
        return kiln_buf_append(buf, s, n, err);
    }
    case KILN_T_BINARY: {
        size_t n;
        const char *s = kiln_batch_str(b, c, row, &n);
        int rc = kiln_buf_reserve(buf, n * 2 + 1, err);
        if (rc)
            return rc;
        kiln_hex((const uint8_t *)s, n, buf->data + buf->len);
        buf->len += n * 2;
        buf->data[buf->len] = 0;
        return 0;
    }
    }
    return 0;
}

int kiln_parquet_stat_format(const kiln_parquet_reader *r, int col, const uint8_t *p, uint32_t n, kiln_buf *out,
                             kiln_err *err)
{
    if (col < 0 || col >= r->ncols)
        return kiln_err_set(err, KILN_EINVAL, "column %d out of range", col);
    kiln_pred_value v;
    pq_bin b = {p, n, 1};
    const kiln_parquet_column *c = &r->cols[col];
    if (!p)
        return 0;
    if (c->type == KILN_T_DECIMAL_WIDE) {
        char t[48];
        if (wide_decimal_text(p, n, c->scale, t) == 0)
            return kiln_buf_printf(out, err, "%s", t);
    }
    if (stat_value(r, col, b, &v) != 0) {
        char hex[2 * 64 + 1];
        uint32_t k = n > 64 ? 64 : n;
        kiln_hex(p, k, hex);
        return kiln_buf_printf(out, err, "0x%s%s", hex, n > k ? "..." : "");
    }
    char tmp[64];
    switch (c->type) {
    case KILN_T_FLOAT:
    case KILN_T_DOUBLE: return kiln_buf_printf(out, err, "%.17g", v.d);
    case KILN_T_BOOL: return kiln_buf_printf(out, err, "%s", v.i ? "true" : "false");
    case KILN_T_DATE: kiln_date_format(v.i, tmp); return kiln_buf_printf(out, err, "%s", tmp);
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: kiln_ts_format(v.i, tmp); return kiln_buf_printf(out, err, "%s", tmp);
    case KILN_T_STRING: return kiln_buf_append(out, v.s, v.n, err);
    case KILN_T_BINARY: {
        char hex[2 * 64 + 1];
        size_t k = v.n > 64 ? 64 : v.n;
        kiln_hex((const uint8_t *)v.s, k, hex);
        return kiln_buf_printf(out, err, "0x%s%s", hex, v.n > k ? "..." : "");
    }
    case KILN_T_DECIMAL: {
        /* reuse the batch formatter through a one-row view */
        kiln_column_def d = {c->name, KILN_T_DECIMAL, 1, 0, c->precision, c->scale};
        kiln_schema s = {1, &d};
        kiln_col kc = {0};
        kc.type = KILN_T_DECIMAL;
        kc.v.i64 = &v.i;
        kiln_batch b1 = {&s, 1, 1, &kc};
        return kiln_parquet_format_value(out, &b1, 0, 0, err);
    }
    default: return kiln_buf_printf(out, err, "%lld", (long long)v.i);
    }
}

/* ------------------------------------------------------------ nested shapes (for rewriting) */

static int shape_of(const kiln_parquet_reader *r, const pq_node *n, int content_only, kiln_arena *a, kiln_nested *out,
                    int depth, kiln_err *err)
{
    const pq_node *nodes = r->nodes;
    const pq_schema_el *e = &r->meta.schema[n->el];
    if (depth > NEST_DEPTH_MAX)
        return kiln_err_set(err, KILN_ELIMIT, "%s: nested deeper than %d levels", r->path, NEST_DEPTH_MAX);
    out->name = e->name;
    if (r->name_fn && e->has_field_id) {
        const char *nn = r->name_fn(r->name_ctx, e->field_id);
        if (nn)
            out->name = nn;
    }
    out->field_id = e->has_field_id ? e->field_id : 0;
    out->required = !n->optional;
    if (n->repeated && !content_only) { /* an unannotated repeated field: a list of required elements */
        kiln_nested *k = kiln_arena_alloc(a, sizeof *k);
        if (!k)
            return KILN_OOM(err);
        memset(k, 0, sizeof *k);
        out->kind = KILN_NEST_LIST;
        out->type = KILN_T_JSON;
        out->required = 1;
        out->nkids = 1;
        out->kids = k;
        int rc = shape_of(r, n, 1, a, k, depth + 1, err);
        k->name = "element";
        k->required = 1;
        return rc;
    }
    if (n->leaf >= 0) {
        const kiln_parquet_column *c = &r->lv[n->leaf];
        out->kind = KILN_NEST_PRIM;
        out->type = c->type;
        out->precision = c->precision;
        out->scale = c->scale;
        return 0;
    }
    const pq_node *k0 = n->nkids > 0 ? &nodes[n->kids[0]] : NULL;
    out->type = KILN_T_JSON;
    if (n->kind == NODE_LIST && n->nkids == 1 && k0->repeated) {
        const pq_schema_el *re = &r->meta.schema[k0->el];
        char tuple[300];
        snprintf(tuple, sizeof tuple, "%s_tuple", e->name);
        kiln_nested *k = kiln_arena_alloc(a, sizeof *k);
        if (!k)
            return KILN_OOM(err);
        memset(k, 0, sizeof *k);
        out->kind = KILN_NEST_LIST;
        out->nkids = 1;
        out->kids = k;
        int rc;
        if (k0->leaf < 0 && k0->nkids == 1 && strcmp(re->name, "array") != 0 && strcmp(re->name, tuple) != 0)
            rc = shape_of(r, &nodes[k0->kids[0]], 0, a, k, depth + 1, err); /* three-level */
        else {
            rc = shape_of(r, k0, 1, a, k, depth + 1, err); /* two-level: the repeated node is the element */
            k->required = 1;
        }
        k->name = "element";
        return rc;
    }
    if (n->kind == NODE_MAP && n->nkids == 1 && k0->repeated && k0->leaf < 0 && k0->nkids == 2) {
        kiln_nested *k = kiln_arena_alloc(a, 2 * sizeof *k);
        if (!k)
            return KILN_OOM(err);
        memset(k, 0, 2 * sizeof *k);
        out->kind = KILN_NEST_MAP;
        out->nkids = 2;
        out->kids = k;
        int rc = shape_of(r, &nodes[k0->kids[0]], 0, a, &k[0], depth + 1, err);
        if (!rc)
            rc = shape_of(r, &nodes[k0->kids[1]], 0, a, &k[1], depth + 1, err);
        k[0].name = "key";
        k[0].required = 1;
        k[1].name = "value";
        return rc;
    }
    if (n->kind == NODE_MAP)
        return kiln_err_set(err, KILN_EUNSUPP, "%s: map %s has a shape kiln does not rewrite", r->path, e->name);
    kiln_nested *k = kiln_arena_alloc(a, sizeof *k * (size_t)(n->nkids ? n->nkids : 1));
    if (!k)
        return KILN_OOM(err);
    memset(k, 0, sizeof *k * (size_t)(n->nkids ? n->nkids : 1));
    out->kind = KILN_NEST_STRUCT;
    out->nkids = n->nkids;
    out->kids = k;
    for (int i = 0; i < n->nkids; i++) {
        int rc = shape_of(r, &nodes[n->kids[i]], 0, a, &k[i], depth + 1, err);
        if (rc)
            return rc;
    }
    return 0;
}

int kiln_parquet__reader_shape(kiln_parquet_reader *r, int i, kiln_arena *a, const kiln_nested **out, kiln_err *err)
{
    *out = NULL;
    if (i < 0 || i >= r->nproj || r->out_schema.cols[i].type != KILN_T_JSON)
        return 0;
    if (r->ptarget[i] >= 0)
        return kiln_err_set(err, KILN_EUNSUPP, "%s: a projected nested sub-path (%s) cannot be rewritten", r->path,
                            r->out_schema.cols[i].name);
    kiln_nested *s = kiln_arena_alloc(a, sizeof *s);
    if (!s)
        return KILN_OOM(err);
    memset(s, 0, sizeof *s);
    int rc = shape_of(r, &r->nodes[r->leaf_el[r->proj[i]]], 0, a, s, 0, err);
    if (rc)
        return rc;
    *out = s;
    return 0;
}
