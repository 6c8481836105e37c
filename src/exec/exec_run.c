/*
 * exec_run.c - the columnar executor (exec.h): plans the Iceberg scan of
 * the one table (deletes applied by the lake's task reader, exactly as the
 * SQLite path's scan does), reads only the columns the query uses, and
 * runs worker threads that claim whole data files, evaluate the WHERE on
 * each batch's column vectors into a selection vector, and aggregate the
 * selected rows into a per-thread hash table. The partial tables are
 * merged at the end, the groups sorted (GROUP BY order, then ORDER BY),
 * cut by LIMIT/OFFSET, and handed to SQLite as a temporary table whose
 * SELECT prints exactly as the original statement would.
 *
 * Exactness rules (why a statement is declined at run time): an integer
 * sum whose terms' absolute values add past INT64_MAX (SQLite's "integer
 * overflow" depends on row order), an avg whose terms add past 2^53 (its
 * double sum then depends on row order), a date function of a timestamp
 * outside years 0000-9999 (SQLite raises an error), and a group table
 * past its memory cap (SQLite's sorter spills to disk).
 */
#include "exec_int.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lake/lake.h"
#include "sql/sql_int.h"

#define US_PER_SEC INT64_C(1000000)
#define US_PER_DAY (INT64_C(86400) * US_PER_SEC)
#define TS_MIN (INT64_C(-719528) * US_PER_DAY)
#define TS_MAX (INT64_C(2932897) * US_PER_DAY - 1)
#define DAY_0000 INT64_C(-719528)
#define DAY_9999 INT64_C(2932896)
/* on_batch's return when the scan stops early (a decline, another
 * thread's error): not an error of its own */
#define STOPPED KILN_ELIMIT

/* ------------------------------------------------------------ values */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* A cell's text (TEXT as is; TS / DATE formatted into buf, >= 40 bytes). */
static const char *cell_text(const xcell *c, char *buf, size_t *n)
{
    if (c->t == V_TS) {
        *n = kiln_sql_ts_text(c->i, buf);
        return buf;
    }
    if (c->t == V_DATE) {
        *n = kiln_sql_date_text(c->i, buf);
        return buf;
    }
    *n = c->n;
    return c->p;
}

/* sqlite3IntFloatCompare */
static int int_real_cmp(int64_t i, double r)
{
    if (r < -9223372036854775808.0)
        return 1;
    if (r >= 9223372036854775808.0)
        return -1;
    int64_t y = (int64_t)r;
    if (i < y)
        return -1;
    if (i > y)
        return 1;
    double s = (double)i;
    return s < r ? -1 : s > r ? 1 : 0;
}

static int numeric(int t) { return t == V_INT || t == V_REAL; }

/* SQLite's order of two values: NULL < numbers < text (BINARY). */
static int cell_cmp(const xcell *a, const xcell *b)
{
    if (a->t == V_NULL || b->t == V_NULL)
        return (a->t != V_NULL) - (b->t != V_NULL);
    int na = numeric(a->t), nb = numeric(b->t);
    if (na != nb)
        return na ? -1 : 1;
    if (na) {
        if (a->t == V_INT && b->t == V_INT)
            return (a->i > b->i) - (a->i < b->i);
        if (a->t == V_REAL && b->t == V_REAL)
            return (a->d > b->d) - (a->d < b->d);
        if (a->t == V_INT)
            return int_real_cmp(a->i, b->d);
        return -int_real_cmp(b->i, a->d);
    }
    if (a->t == b->t && (a->t == V_DATE))
        return (a->i > b->i) - (a->i < b->i); /* fixed-width text in years 0000-9999 (checked when read) */
    if (a->t == V_TS && b->t == V_TS && a->i >= TS_MIN && a->i <= TS_MAX && b->i >= TS_MIN && b->i <= TS_MAX) {
        /* the text order without the text: whole seconds first; within a
         * second "SS.ffffffZ" sorts before "SSZ" ('.' < 'Z') */
        int64_t sa = floor_div(a->i, US_PER_SEC), sb = floor_div(b->i, US_PER_SEC);
        if (sa != sb)
            return sa < sb ? -1 : 1;
        int64_t fa = a->i - sa * US_PER_SEC, fb = b->i - sb * US_PER_SEC;
        if (fa == fb)
            return 0;
        if (fa == 0 || fb == 0)
            return fa == 0 ? 1 : -1;
        return fa < fb ? -1 : 1;
    }
    char ba[48], bb[48];
    size_t la, lb;
    const char *pa = cell_text(a, ba, &la), *pb = cell_text(b, bb, &lb);
    int c = memcmp(pa, pb, la < lb ? la : lb);
    if (c)
        return c < 0 ? -1 : 1;
    return (la > lb) - (la < lb);
}

static int cell_eq(const xcell *a, const xcell *b)
{
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case V_NULL: return 1;
    case V_REAL: return a->d == b->d;
    case V_TEXT: return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
    default: return a->i == b->i;
    }
}

static uint64_t mix(uint64_t h) /* splitmix64 finalizer */
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

static uint64_t cell_hash(const xcell *c)
{
    switch (c->t) {
    case V_NULL: return 0x9e3779b97f4a7c15ULL;
    case V_REAL: {
        double d = c->d == 0 ? 0.0 : c->d; /* -0.0 equals 0.0 */
        uint64_t u;
        memcpy(&u, &d, 8);
        return mix(u ^ 0x1111);
    }
    case V_TEXT: return kiln_hash64(c->p, c->n) ^ 0x2222;
    default: return mix((uint64_t)c->i + (uint64_t)c->t * 0x3333);
    }
}

/* Row `row` of batch column bc, as the SQLite path's vtab delivers it. */
static inline void cell_at(const kiln_batch *b, int bc, const kiln_column_def *def, size_t row, xcell *o)
{
    const kiln_col *col = &b->cols[bc];
    if (col->nulls && col->nulls[row]) {
        o->t = V_NULL;
        return;
    }
    switch (col->type) {
    case KILN_T_BOOL: o->t = V_INT, o->i = col->v.b[row] != 0; break;
    case KILN_T_INT32: o->t = V_INT, o->i = col->v.i32[row]; break;
    case KILN_T_INT64: o->t = V_INT, o->i = col->v.i64[row]; break;
    case KILN_T_FLOAT: o->t = V_REAL, o->d = col->v.f32[row]; break;
    case KILN_T_DOUBLE: o->t = V_REAL, o->d = col->v.f64[row]; break;
    case KILN_T_DECIMAL: {
        double d = (double)col->v.i64[row];
        for (int k = 0; k < def->scale; k++)
            d /= 10.0;
        o->t = V_REAL;
        o->d = d;
        break;
    }
    case KILN_T_STRING: {
        size_t n;
        o->p = kiln_batch_str(b, bc, row, &n);
        o->n = (uint32_t)n;
        o->t = V_TEXT;
        break;
    }
    case KILN_T_DATE: o->t = V_DATE, o->i = col->v.i32[row]; break;
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: o->t = V_TS, o->i = col->v.i64[row]; break;
    default: o->t = V_NULL; break;
    }
    if (o->t == V_REAL && isnan(o->d))
        o->t = V_NULL; /* SQLite stores a NaN result as NULL */
}

/* ------------------------------------------------------------ aggregation state */

typedef struct dset { /* distinct values of one group */
    size_t n, cap;
    xcell *v; /* open addressing; t == -1 marks empty */
} dset;

typedef struct aggst {
    int64_t cnt;
    __int128 sum;
    unsigned __int128 abs;
    int has;
    xcell mm;
    char *buf; /* text of mm (owned) */
    size_t bcap;
    dset *ds;
} aggst;

typedef struct htab {
    size_t ng, gcap;
    uint64_t *gh;
    xcell *keys;
    aggst *aggs;
    uint64_t *slots; /* (hash's high 32 bits << 32) | (group index + 1); 0 = empty */
    size_t nslots;
    kiln_arena *arena; /* key and distinct-value text */
} htab;

typedef struct run run;

typedef struct worker {
    run *r;
    htab h;
    int rc;
    kiln_err err;
    int declined;
    char why[256];
    int64_t rows_in, rows_kept;
    uint8_t *scratch[64];
    size_t scap;
    xcell *kc;                           /* key cells of the current row */
    kiln_arena *tmp;                     /* text computed for the current batch (copied when kept) */
    unsigned kmask[X_MAX], amask[X_MAX]; /* V_ types seen of computed keys / aggregate arguments */
    int64_t task, trow;                  /* the task being read, its rows so far (N_ROWID) */
    pthread_t tid;
} worker;

struct run {
    xquery *q;
    kiln_lake_view pview; /* the view with the projected schema */
    kiln_schema pschema;
    kiln_lake_plan *plan;
    size_t ntasks;
    atomic_size_t next;
    atomic_int stop;
    int bcol[1024]; /* table column -> batch column */
    size_t mem_cap;
    atomic_size_t mem;
    size_t scan_cap;         /* a plain scan's most rows out (KILN_EXEC_SCAN_ROWS) */
    atomic_size_t scan_rows; /* a plain scan's rows out so far */
};

static int mem_add(worker *w, size_t n)
{
    size_t now = atomic_fetch_add(&w->r->mem, n) + n;
    if (now > w->r->mem_cap) {
        if (!w->declined)
            snprintf(w->why, sizeof w->why,
                     "the aggregation needs more than %zu MB (KILN_EXEC_MEM_MB); SQLite runs it, spilling to disk",
                     w->r->mem_cap >> 20);
        w->declined = 1;
        atomic_store(&w->r->stop, 1);
        return -1;
    }
    return 0;
}

static void decline(worker *w, const char *why)
{
    if (!w->declined)
        snprintf(w->why, sizeof w->why, "%s", why);
    w->declined = 1;
    atomic_store(&w->r->stop, 1);
}

static char *arena_text(worker *w, const char *p, size_t n)
{
    char *s = kiln_arena_alloc(w->h.arena, n ? n : 1);
    if (s && n)
        memcpy(s, p, n);
    return s;
}

static int ds_insert(worker *w, aggst *a, const xcell *c, int copy)
{
    dset *d = a->ds;
    if (!d) {
        if (!(d = a->ds = kiln_calloc(1, sizeof *d)))
            return -1;
    }
    if ((d->n + 1) * 2 > d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        xcell *nv = kiln_malloc(nc * sizeof *nv);
        if (!nv || mem_add(w, (nc - d->cap) * sizeof *nv)) {
            kiln_free(nv);
            return -1;
        }
        for (size_t i = 0; i < nc; i++)
            nv[i].t = -1;
        for (size_t i = 0; i < d->cap; i++) {
            if (d->v[i].t == -1)
                continue;
            size_t s = cell_hash(&d->v[i]) & (nc - 1);
            while (nv[s].t != -1)
                s = (s + 1) & (nc - 1);
            nv[s] = d->v[i];
        }
        kiln_free(d->v);
        d->v = nv;
        d->cap = nc;
    }
    size_t s = cell_hash(c) & (d->cap - 1);
    while (d->v[s].t != -1) {
        if (cell_eq(&d->v[s], c))
            return 0;
        s = (s + 1) & (d->cap - 1);
    }
    d->v[s] = *c;
    if (copy && c->t == V_TEXT) {
        if (!(d->v[s].p = arena_text(w, c->p, c->n)) || mem_add(w, c->n))
            return -1;
    }
    d->n++;
    return 0;
}

static int mm_set(aggst *a, const xcell *c)
{
    a->mm = *c;
    if (c->t == V_TEXT) {
        if (c->n + 1 > a->bcap) {
            size_t nc = c->n + 16;
            char *nb = kiln_realloc(a->buf, nc);
            if (!nb)
                return -1;
            a->buf = nb;
            a->bcap = nc;
        }
        memcpy(a->buf, c->p, c->n);
        a->mm.p = a->buf;
    }
    a->has = 1;
    return 0;
}

static int agg_step(worker *w, aggst *a, const xnode *f, const xcell *c)
{
    if (f->fn == A_COUNT_STAR) {
        a->cnt++;
        return 0;
    }
    if (c->t == V_NULL)
        return 0;
    switch (f->fn) {
    case A_COUNT:
        if (f->distinct)
            return ds_insert(w, a, c, 1);
        a->cnt++;
        return 0;
    case A_SUM:
    case A_AVG:
        a->cnt++;
        a->sum += c->i;
        a->abs += c->i < 0 ? (unsigned __int128)(-(__int128)c->i) : (unsigned __int128)c->i;
        return 0;
    case A_MIN:
    case A_MAX:
        if (!a->has) {
            if (c->t == V_TEXT && mem_add(w, c->n))
                return -1;
            return mm_set(a, c);
        }
        int cmp = cell_cmp(&a->mm, c);
        if ((f->fn == A_MIN && cmp > 0) || (f->fn == A_MAX && cmp < 0))
            return mm_set(a, c);
        return 0;
    }
    return 0;
}

static int agg_merge(worker *w, aggst *a, aggst *b, const xnode *f)
{
    a->cnt += b->cnt;
    a->sum += b->sum;
    a->abs += b->abs;
    if (b->has && (f->fn == A_MIN || f->fn == A_MAX)) {
        int cmp = a->has ? cell_cmp(&a->mm, &b->mm) : 0;
        if (!a->has || (f->fn == A_MIN && cmp > 0) || (f->fn == A_MAX && cmp < 0))
            if (mm_set(a, &b->mm))
                return -1;
    }
    if (b->ds)
        for (size_t i = 0; i < b->ds->cap; i++)
            if (b->ds->v[i].t != -1 && ds_insert(w, a, &b->ds->v[i], 0))
                return -1;
    return 0;
}

static void htab_free(htab *h, int naggs)
{
    for (size_t g = 0; h->aggs && g < h->ng; g++)
        for (int k = 0; k < naggs; k++) {
            aggst *a = &h->aggs[g * (size_t)naggs + (size_t)k];
            kiln_free(a->buf);
            if (a->ds) {
                kiln_free(a->ds->v);
                kiln_free(a->ds);
            }
        }
    kiln_free(h->gh);
    kiln_free(h->keys);
    kiln_free(h->aggs);
    kiln_free(h->slots);
    kiln_arena_free(h->arena);
    memset(h, 0, sizeof *h);
}

/* The group of keys kc (hash hv), created when new (key text copied when
 * copy is set). Returns its index, or -1 (memory). */
static long group_find(worker *w, htab *h, const xcell *kc, uint64_t hv, int copy)
{
    xquery *q = w->r->q;
    size_t nk = (size_t)q->nkeys, na = (size_t)q->naggs;
    if ((h->ng + 1) * 2 > h->nslots) {
        size_t ns = h->nslots ? h->nslots * 2 : 1024;
        uint64_t *sl = kiln_calloc(ns, sizeof *sl);
        if (!sl || mem_add(w, (ns - h->nslots) * sizeof *sl)) {
            kiln_free(sl);
            return -1;
        }
        for (size_t g = 0; g < h->ng; g++) {
            size_t s = h->gh[g] & (ns - 1);
            while (sl[s])
                s = (s + 1) & (ns - 1);
            sl[s] = (h->gh[g] & 0xffffffff00000000ULL) | (uint64_t)(g + 1);
        }
        kiln_free(h->slots);
        h->slots = sl;
        h->nslots = ns;
    }
    /* the slot holds the hash's high bits: most misses end without
     * touching the group's keys */
    size_t s = hv & (h->nslots - 1);
    uint64_t tag = hv & 0xffffffff00000000ULL;
    for (; h->slots[s]; s = (s + 1) & (h->nslots - 1)) {
        if ((h->slots[s] & 0xffffffff00000000ULL) != tag)
            continue;
        size_t g = (size_t)(h->slots[s] & 0xffffffffu) - 1;
        if (h->gh[g] != hv)
            continue;
        size_t k = 0;
        while (k < nk && cell_eq(&h->keys[g * nk + k], &kc[k]))
            k++;
        if (k == nk)
            return (long)g;
    }
    if (h->ng >= UINT32_MAX - 1)
        return -1;
    if (h->ng == h->gcap) {
        size_t nc = h->gcap ? h->gcap * 2 : 256;
        uint64_t *gh = kiln_realloc(h->gh, nc * sizeof *gh);
        if (gh)
            h->gh = gh;
        xcell *keys = gh ? kiln_realloc(h->keys, nc * (nk ? nk : 1) * sizeof *keys) : NULL;
        if (keys)
            h->keys = keys;
        aggst *aggs = keys ? kiln_realloc(h->aggs, nc * (na ? na : 1) * sizeof *aggs) : NULL;
        if (aggs)
            h->aggs = aggs;
        if (!aggs || mem_add(w, (nc - h->gcap) * (8 + nk * sizeof(xcell) + na * sizeof(aggst))))
            return -1;
        h->gcap = nc;
    }
    size_t g = h->ng++;
    h->gh[g] = hv;
    for (size_t k = 0; k < nk; k++) {
        h->keys[g * nk + k] = kc[k];
        if (copy && kc[k].t == V_TEXT) {
            if (!(h->keys[g * nk + k].p = arena_text(w, kc[k].p, kc[k].n)) || mem_add(w, kc[k].n))
                return -1;
        }
    }
    memset(&h->aggs[g * na], 0, na * sizeof(aggst));
    h->slots[s] = tag | (uint64_t)(g + 1);
    return (long)g;
}

/* ------------------------------------------------------------ filter */

static const xcell *operand_cell(worker *w, const kiln_batch *b, const xnode *n, size_t row, xcell *tmp)
{
    if (n->k == N_LIT)
        return &n->lit;
    cell_at(b, w->r->bcol[n->col], &w->r->q->schema->cols[n->col], row, tmp);
    return tmp;
}

static uint8_t cmp_result(int op, int c)
{
    switch (op) {
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

static int leafy(const xnode *n);
static int rowwise(worker *w, const kiln_batch *b, const xnode *n, uint8_t *out);

/* out[i] = 0 false, 1 true, 2 NULL for each row of b. */
static int eval(worker *w, const kiln_batch *b, const xnode *n, int depth, uint8_t *out)
{
    size_t nr = b->nrows;
    xcell ta, tb, tc;
    if (depth >= 62)
        return -1;
    if (n->k != N_AND && n->k != N_OR && n->k != N_NOT && !leafy(n))
        return rowwise(w, b, n, out);
    switch (n->k) {
    case N_CMP: {
        /* the common case, an integer column against an integer literal */
        if (n->a->k == N_COL && n->b->k == N_LIT && n->b->lit.t == V_INT &&
            b->cols[w->r->bcol[n->a->col]].type == KILN_T_INT64) {
            const kiln_col *col = &b->cols[w->r->bcol[n->a->col]];
            int64_t v = n->b->lit.i;
            for (size_t i = 0; i < nr; i++) {
                int64_t x = col->v.i64[i];
                out[i] = cmp_result(n->op, (x > v) - (x < v));
            }
            if (col->nulls)
                for (size_t i = 0; i < nr; i++)
                    if (col->nulls[i])
                        out[i] = 2;
            return 0;
        }
        for (size_t i = 0; i < nr; i++) {
            const xcell *a = operand_cell(w, b, n->a, i, &ta), *c = operand_cell(w, b, n->b, i, &tb);
            out[i] = a->t == V_NULL || c->t == V_NULL ? 2 : cmp_result(n->op, cell_cmp(a, c));
        }
        return 0;
    }
    case N_ISNULL:
        for (size_t i = 0; i < nr; i++) {
            const xcell *a = operand_cell(w, b, n->a, i, &ta);
            out[i] = (uint8_t)((a->t == V_NULL) != n->neg);
        }
        return 0;
    case N_IN: {
        int list_null = 0;
        for (int k = 0; k < n->nlist; k++)
            list_null |= n->list[k]->lit.t == V_NULL;
        for (size_t i = 0; i < nr; i++) {
            if (n->nlist == 0) {
                out[i] = (uint8_t)n->neg;
                continue;
            }
            const xcell *a = operand_cell(w, b, n->a, i, &ta);
            if (a->t == V_NULL) {
                out[i] = 2;
                continue;
            }
            int found = 0;
            for (int k = 0; k < n->nlist && !found; k++)
                found = n->list[k]->lit.t != V_NULL && cell_cmp(a, &n->list[k]->lit) == 0;
            out[i] = found ? (uint8_t)!n->neg : list_null ? 2 : (uint8_t)n->neg;
        }
        return 0;
    }
    case N_BETWEEN:
        for (size_t i = 0; i < nr; i++) {
            const xcell *a = operand_cell(w, b, n->a, i, &ta);
            const xcell *lo = operand_cell(w, b, n->b, i, &tb), *hi = operand_cell(w, b, n->c, i, &tc);
            uint8_t x = a->t == V_NULL || lo->t == V_NULL ? 2 : cell_cmp(a, lo) >= 0;
            uint8_t y = a->t == V_NULL || hi->t == V_NULL ? 2 : cell_cmp(a, hi) <= 0;
            uint8_t r = x == 0 || y == 0 ? 0 : x == 2 || y == 2 ? 2 : 1;
            out[i] = n->neg && r != 2 ? (uint8_t)!r : r;
        }
        return 0;
    case N_NOT:
        if (eval(w, b, n->a, depth + 1, out))
            return -1;
        for (size_t i = 0; i < nr; i++)
            out[i] = out[i] == 2 ? 2 : (uint8_t)!out[i];
        return 0;
    case N_AND:
    case N_OR: {
        uint8_t *r = w->scratch[depth];
        if (eval(w, b, n->a, depth + 1, out) || eval(w, b, n->b, depth + 1, r))
            return -1;
        if (n->k == N_AND) {
            for (size_t i = 0; i < nr; i++)
                out[i] = out[i] == 0 || r[i] == 0 ? 0 : out[i] == 2 || r[i] == 2 ? 2 : 1;
        } else {
            for (size_t i = 0; i < nr; i++)
                out[i] = out[i] == 1 || r[i] == 1 ? 1 : out[i] == 2 || r[i] == 2 ? 2 : 0;
        }
        return 0;
    }
    default: return -1;
    }
}

/* ------------------------------------------------------------ keys */

static int64_t trunc_us(int64_t us, int u)
{
    int64_t days = floor_div(us, US_PER_DAY);
    int y, m, d;
    switch (u) {
    case U_SECOND: return floor_div(us, US_PER_SEC) * US_PER_SEC;
    case U_MINUTE: return floor_div(us, 60 * US_PER_SEC) * 60 * US_PER_SEC;
    case U_HOUR: return floor_div(us, 3600 * US_PER_SEC) * 3600 * US_PER_SEC;
    case U_DAY: return days * US_PER_DAY;
    case U_WEEK: return kiln_iso_week_monday(days) * US_PER_DAY;
    case U_MONTH: kiln_civil_from_days(days, &y, &m, &d); return kiln_days_from_civil(y, m, 1) * US_PER_DAY;
    case U_QUARTER:
        kiln_civil_from_days(days, &y, &m, &d);
        return kiln_days_from_civil(y, (m - 1) / 3 * 3 + 1, 1) * US_PER_DAY;
    default: kiln_civil_from_days(days, &y, &m, &d); return kiln_days_from_civil(y, 1, 1) * US_PER_DAY;
    }
}

/* The value of a key expression for a row; -1 when SQLite would raise an
 * error (out of range): the worker declines. */
static int key_cell(worker *w, const kiln_batch *b, const xnode *e, size_t row, xcell *o)
{
    const kiln_column_def *def = &w->r->q->schema->cols[e->col];
    cell_at(b, w->r->bcol[e->col], def, row, o);
    if (e->k == N_COL || o->t == V_NULL) {
        if (o->t == V_DATE && (o->i < DAY_0000 || o->i > DAY_9999))
            return -1; /* text order would not be day order */
        return 0;
    }
    int is_date = o->t == V_DATE;
    int64_t us = is_date ? o->i * US_PER_DAY : o->i;
    if (us < TS_MIN || us > TS_MAX || (is_date && (o->i < DAY_0000 || o->i > DAY_9999)))
        return -1;
    if (e->k == N_ISOWEEK) {
        int iy, iw;
        kiln_iso_week(floor_div(us, US_PER_DAY), &iy, &iw);
        o->t = V_INT;
        o->i = e->unit ? iy : iw;
        return 0;
    }
    int64_t t = trunc_us(us, e->unit);
    if (t < TS_MIN || t > TS_MAX)
        return -1;
    if (is_date && e->unit >= U_DAY) {
        o->t = V_DATE;
        o->i = floor_div(t, US_PER_DAY);
    } else {
        o->t = V_TS;
        o->i = t;
    }
    return 0;
}

/* ------------------------------------------------------------ expressions */

/* Where an expression is evaluated: one row of a batch (b, row), or one
 * group after the aggregation (keys, aggs: its key values and finished
 * aggregates). why: the reason when the evaluation declines. */
typedef struct ectx {
    worker *w;
    const kiln_batch *b;
    size_t row;
    const xcell *keys, *aggs;
    kiln_arena *tmp;
    const char *why;
} ectx;

static int edecl(ectx *x, const char *why)
{
    x->why = why;
    return -1;
}

static int truth(ectx *x, const xnode *n, int depth);

/* sqlite3VdbeIntValue of a double (doubleToInt64) */
static int64_t d2i(double r)
{
    if (r <= -9223372036854775808.0)
        return INT64_MIN;
    if (r >= 9223372036854775808.0)
        return INT64_MAX;
    return (int64_t)r;
}

/* SQLite's OP_Add / OP_Subtract / OP_Multiply / OP_Divide / OP_Remainder:
 * integers stay integers unless the result overflows (then real), x / 0
 * and x % 0 are NULL, NaN is NULL. */
static void arith(int op, const xcell *a, const xcell *b, xcell *o)
{
    memset(o, 0, sizeof *o);
    if (a->t == V_NULL || b->t == V_NULL)
        return;
    if (a->t == V_INT && b->t == V_INT) {
        int64_t x = a->i, y = b->i, r = 0;
        int ovf = 0;
        switch (op) {
        case AR_ADD: ovf = __builtin_add_overflow(x, y, &r); break;
        case AR_SUB: ovf = __builtin_sub_overflow(x, y, &r); break;
        case AR_MUL: ovf = __builtin_mul_overflow(x, y, &r); break;
        case AR_DIV:
            if (y == 0)
                return;
            if (x == INT64_MIN && y == -1)
                ovf = 1;
            else
                r = x / y;
            break;
        default:
            if (y == 0)
                return;
            r = x % (y == -1 ? 1 : y);
            break;
        }
        if (!ovf) {
            o->t = V_INT;
            o->i = r;
            return;
        }
    }
    double x = a->t == V_INT ? (double)a->i : a->d, y = b->t == V_INT ? (double)b->i : b->d, r;
    switch (op) {
    case AR_ADD: r = x + y; break;
    case AR_SUB: r = x - y; break;
    case AR_MUL: r = x * y; break;
    case AR_DIV:
        if (y == 0.0)
            return;
        r = x / y;
        break;
    default: {
        int64_t ix = a->t == V_INT ? a->i : d2i(a->d), iy = b->t == V_INT ? b->i : d2i(b->d);
        if (iy == 0)
            return;
        r = (double)(ix % (iy == -1 ? 1 : iy));
        break;
    }
    }
    if (isnan(r))
        return;
    o->t = V_REAL;
    o->d = r;
}

static int textual_t(int t) { return t == V_TEXT || t == V_TS || t == V_DATE; }

/* A value as text for || and CAST(... AS TEXT): 0, or -1 (a real: its
 * text is SQLite's own formatting, not reproduced here). */
static int as_text(ectx *x, const xcell *c, const char **p, size_t *n, char *buf)
{
    if (c->t == V_INT) {
        *n = (size_t)snprintf(buf, 48, "%lld", (long long)c->i);
        *p = buf;
        return 0;
    }
    if (!textual_t(c->t))
        return edecl(x, "a real number turned into text (SQLite's number formatting)");
    *p = cell_text(c, buf, n);
    return 0;
}

static const unsigned char *skip_utf8(const unsigned char *z, const unsigned char *e)
{
    if (*(z++) >= 0xc0)
        while (z < e && (*z & 0xc0) == 0x80)
            z++;
    return z;
}

static int scalar(ectx *x, const xnode *n, xcell *o, int depth)
{
    if (depth > 200)
        return edecl(x, "an expression nested too deeply");
    xcell a, b;
    char ba[48], bb[48];
    switch (n->k) {
    case N_LIT: *o = n->lit; return 0;
    case N_KEYREF: *o = x->keys[n->idx]; return 0;
    case N_AGG:
        if (!x->aggs)
            return edecl(x, "an aggregate outside the aggregation");
        *o = x->aggs[n->idx];
        return 0;
    case N_COL:
    case N_TRUNC:
    case N_ISOWEEK:
        if (!x->b)
            return edecl(x, "a column outside a row");
        if (n->k == N_COL) {
            cell_at(x->b, x->w->r->bcol[n->col], &x->w->r->q->schema->cols[n->col], x->row, o);
            return 0;
        }
        if (key_cell(x->w, x->b, n, x->row, o))
            return edecl(x, "a date function of a value outside years 0000-9999 (SQLite raises an error)");
        return 0;
    case N_ARITH:
        if (scalar(x, n->a, &a, depth + 1) || scalar(x, n->b, &b, depth + 1))
            return -1;
        if ((a.t != V_NULL && !numeric(a.t)) || (b.t != V_NULL && !numeric(b.t)))
            return edecl(x, "arithmetic on text");
        arith(n->op, &a, &b, o);
        return 0;
    case N_CASE:
        if (n->a && scalar(x, n->a, &a, depth + 1))
            return -1;
        for (int i = 0; i + 1 < n->nlist; i += 2) {
            int hit;
            if (n->a) {
                if (scalar(x, n->list[i], &b, depth + 1))
                    return -1;
                hit = a.t != V_NULL && b.t != V_NULL && cell_cmp(&a, &b) == 0;
            } else {
                int t = truth(x, n->list[i], depth + 1);
                if (t < 0)
                    return -1;
                hit = t == 1;
            }
            if (hit)
                return scalar(x, n->list[i + 1], o, depth + 1);
        }
        if (n->c)
            return scalar(x, n->c, o, depth + 1);
        memset(o, 0, sizeof *o);
        return 0;
    case N_COALESCE:
        for (int i = 0; i < n->nlist; i++) {
            if (scalar(x, n->list[i], o, depth + 1))
                return -1;
            if (o->t != V_NULL)
                return 0;
        }
        return 0;
    case N_CAST:
        if (scalar(x, n->a, o, depth + 1))
            return -1;
        if (o->t == V_NULL)
            return 0;
        if (n->fn == V_INT) {
            if (o->t == V_REAL)
                o->t = V_INT, o->i = d2i(o->d);
            else if (o->t != V_INT)
                return edecl(x, "CAST of text to a number");
        } else if (n->fn == V_REAL) {
            if (o->t == V_INT)
                o->t = V_REAL, o->d = (double)o->i;
            else if (o->t != V_REAL)
                return edecl(x, "CAST of text to a number");
        } else if (!textual_t(o->t)) {
            const char *p;
            size_t len;
            if (as_text(x, o, &p, &len, ba))
                return -1;
            char *s = kiln_arena_alloc(x->tmp, len + 1);
            if (!s)
                return edecl(x, "out of memory");
            memcpy(s, p, len);
            o->t = V_TEXT, o->p = s, o->n = (uint32_t)len;
        }
        return 0;
    case N_CONCAT: {
        if (scalar(x, n->a, &a, depth + 1) || scalar(x, n->b, &b, depth + 1))
            return -1;
        memset(o, 0, sizeof *o);
        if (a.t == V_NULL || b.t == V_NULL)
            return 0;
        const char *pa, *pb;
        size_t la, lb;
        if (as_text(x, &a, &pa, &la, ba) || as_text(x, &b, &pb, &lb, bb))
            return -1;
        if (la + lb >= UINT32_MAX)
            return edecl(x, "a string too long");
        char *s = kiln_arena_alloc(x->tmp, la + lb + 1);
        if (!s)
            return edecl(x, "out of memory");
        memcpy(s, pa, la);
        memcpy(s + la, pb, lb);
        o->t = V_TEXT, o->p = s, o->n = (uint32_t)(la + lb);
        return 0;
    }
    case N_SUBSTR: {
        if (scalar(x, n->a, &a, depth + 1))
            return -1;
        memset(o, 0, sizeof *o);
        if (a.t == V_NULL)
            return 0;
        if (!textual_t(a.t))
            return edecl(x, "substr() of a number");
        size_t len;
        const char *p = cell_text(&a, ba, &len);
        if (a.t != V_TEXT) { /* formatted into ba: keep it */
            char *s = kiln_arena_alloc(x->tmp, len + 1);
            if (!s)
                return edecl(x, "out of memory");
            memcpy(s, p, len);
            p = s;
        }
        /* substrFunc, for a start >= 0 and a length >= 0 (the parser's
         * limits); SQLite walks to the first NUL */
        const void *nul = memchr(p, 0, len);
        const unsigned char *z = (const unsigned char *)p,
                            *e = nul ? (const unsigned char *)nul : (const unsigned char *)p + len;
        int64_t p1 = n->lit.i, p2 = n->c ? n->c->lit.i : INT64_MAX;
        if (p1 > 0)
            p1--;
        else if (p2 > 0)
            p2--;
        while (z < e && p1) {
            z = skip_utf8(z, e);
            p1--;
        }
        const unsigned char *z2 = z;
        for (; z2 < e && p2; p2--)
            z2 = skip_utf8(z2, e);
        o->t = V_TEXT, o->p = (const char *)z, o->n = (uint32_t)(z2 - z);
        return 0;
    }
    case N_STRFN: {
        if (scalar(x, n->a, &a, depth + 1))
            return -1;
        if (a.t == V_NULL) {
            memset(o, 0, sizeof *o);
            return 0;
        }
        const char *p;
        size_t len;
        if (as_text(x, &a, &p, &len, ba))
            return -1;
        memset(o, 0, sizeof *o);
        if (n->fn == 3) { /* characters before the first NUL, as SQLite counts them */
            const void *nul = memchr(p, 0, len);
            const unsigned char *z = (const unsigned char *)p,
                                *e = nul ? (const unsigned char *)nul : (const unsigned char *)p + len;
            int64_t c = 0;
            while (z < e) {
                z = skip_utf8(z, e);
                c++;
            }
            o->t = V_INT, o->i = c;
            return 0;
        }
        char *s = kiln_arena_alloc(x->tmp, len + 1);
        if (!s)
            return edecl(x, "out of memory");
        for (size_t i = 0; i < len; i++) { /* SQLite's lower/upper fold ASCII only */
            unsigned char c = (unsigned char)p[i];
            s[i] = (char)(n->fn == 1 && c >= 'A' && c <= 'Z'   ? c + 32
                          : n->fn == 2 && c >= 'a' && c <= 'z' ? c - 32
                                                               : c);
        }
        o->t = V_TEXT, o->p = s, o->n = (uint32_t)len;
        return 0;
    }
    default: {
        int t = truth(x, n, depth + 1);
        if (t < 0)
            return -1;
        memset(o, 0, sizeof *o);
        if (t != 2)
            o->t = V_INT, o->i = t;
        return 0;
    }
    }
}

/* LIKE 'prefix%' / LIKE 'text': SQLite's default LIKE folds ASCII case
 * only. */
static int like_match(const char *s, size_t n, const char *p, size_t pn, int trailing)
{
    if (n < pn || (!trailing && n != pn))
        return 0;
    for (size_t i = 0; i < pn; i++) {
        unsigned char a = (unsigned char)s[i], b = (unsigned char)p[i];
        if (a == b)
            continue;
        if (a < 0x80 && b < 0x80 && (a | 0x20) == (b | 0x20) && (a | 0x20) >= 'a' && (a | 0x20) <= 'z')
            continue;
        return 0;
    }
    return 1;
}

/* A boolean's value for one row or group: 0, 1, 2 (NULL), -1 (declined). */
static int truth(ectx *x, const xnode *n, int depth)
{
    xcell a, b, c;
    if (depth > 200)
        return edecl(x, "an expression nested too deeply");
    switch (n->k) {
    case N_CMP:
        if (scalar(x, n->a, &a, depth + 1) || scalar(x, n->b, &b, depth + 1))
            return -1;
        return a.t == V_NULL || b.t == V_NULL ? 2 : cmp_result(n->op, cell_cmp(&a, &b));
    case N_ISNULL:
        if (scalar(x, n->a, &a, depth + 1))
            return -1;
        return (a.t == V_NULL) != n->neg;
    case N_IN: {
        if (n->nlist == 0)
            return n->neg;
        if (scalar(x, n->a, &a, depth + 1))
            return -1;
        if (a.t == V_NULL)
            return 2;
        int list_null = 0;
        for (int k = 0; k < n->nlist; k++) {
            if (n->list[k]->lit.t == V_NULL)
                list_null = 1;
            else if (cell_cmp(&a, &n->list[k]->lit) == 0)
                return !n->neg;
        }
        return list_null ? 2 : n->neg;
    }
    case N_BETWEEN: {
        if (scalar(x, n->a, &a, depth + 1) || scalar(x, n->b, &b, depth + 1) || scalar(x, n->c, &c, depth + 1))
            return -1;
        int l = a.t == V_NULL || b.t == V_NULL ? 2 : cell_cmp(&a, &b) >= 0;
        int h = a.t == V_NULL || c.t == V_NULL ? 2 : cell_cmp(&a, &c) <= 0;
        int r = l == 0 || h == 0 ? 0 : l == 2 || h == 2 ? 2 : 1;
        return n->neg && r != 2 ? !r : r;
    }
    case N_LIKE: {
        if (scalar(x, n->a, &a, depth + 1))
            return -1;
        if (a.t == V_NULL)
            return 2;
        if (!textual_t(a.t))
            return edecl(x, "LIKE of a number");
        char buf[48];
        size_t len;
        const char *s = cell_text(&a, buf, &len);
        int m = like_match(s, len, n->lit.p, n->lit.n, n->unit);
        return n->neg ? !m : m;
    }
    case N_NOT: {
        int t = truth(x, n->a, depth + 1);
        return t < 0 ? -1 : t == 2 ? 2 : !t;
    }
    case N_AND:
    case N_OR: {
        int l = truth(x, n->a, depth + 1), r;
        if (l < 0 || (r = truth(x, n->b, depth + 1)) < 0)
            return -1;
        if (n->k == N_AND)
            return l == 0 || r == 0 ? 0 : l == 2 || r == 2 ? 2 : 1;
        return l == 1 || r == 1 ? 1 : l == 2 || r == 2 ? 2 : 0;
    }
    default:
        if (scalar(x, n, &a, depth + 1))
            return -1;
        if (a.t == V_NULL)
            return 2;
        if (a.t == V_INT)
            return a.i != 0;
        if (a.t == V_REAL)
            return a.d != 0.0;
        return edecl(x, "text as a condition");
    }
}

static int is_leaf(const xnode *n) { return n->k == N_COL || n->k == N_LIT; }

/* The vectorized filter handles comparisons / IS NULL / IN / BETWEEN of
 * columns and literals; anything else is evaluated row by row. */
static int leafy(const xnode *n)
{
    switch (n->k) {
    case N_CMP: return is_leaf(n->a) && is_leaf(n->b);
    case N_ISNULL:
    case N_IN: return is_leaf(n->a);
    case N_BETWEEN: return is_leaf(n->a) && is_leaf(n->b) && is_leaf(n->c);
    default: return 0;
    }
}

static int rowwise(worker *w, const kiln_batch *b, const xnode *n, uint8_t *out)
{
    ectx x = {.w = w, .b = b, .tmp = w->tmp};
    for (size_t i = 0; i < b->nrows; i++) {
        x.row = i;
        int t = truth(&x, n, 0);
        if (t < 0) {
            decline(w, x.why);
            return -1;
        }
        out[i] = (uint8_t)t;
    }
    return 0;
}

static int unmixed(unsigned m)
{
    if ((m & (1u << V_INT)) && (m & (1u << V_REAL)))
        return 0;
    return __builtin_popcount(m & ((1u << V_TEXT) | (1u << V_TS) | (1u << V_DATE))) <= 1;
}

/* ------------------------------------------------------------ workers */

static int on_batch(void *ctx, const kiln_batch *b, kiln_err *err)
{
    worker *w = ctx;
    run *r = w->r;
    xquery *q = r->q;
    size_t nr = b->nrows;
    if (atomic_load(&r->stop))
        return STOPPED;
    if (nr > w->scap) {
        for (int i = 0; i < 64; i++) {
            kiln_free(w->scratch[i]);
            if (!(w->scratch[i] = kiln_malloc(nr)))
                return KILN_OOM(err);
        }
        w->scap = nr;
    }
    w->rows_in += (int64_t)nr;
    kiln_arena_reset(w->tmp);
    uint8_t *sel = w->scratch[63];
    ectx x = {.w = w, .b = b, .tmp = w->tmp};
    if (q->where) {
        if (eval(w, b, q->where, 0, sel)) {
            decline(w, "a WHERE nested more than 60 levels deep");
            return STOPPED;
        }
    } else {
        memset(sel, 1, nr);
    }
    size_t nk = (size_t)q->nkeys, na = (size_t)q->naggs;
    xcell *kc = w->kc, arg;
    for (size_t row = 0; row < nr; row++) {
        if (sel[row] != 1)
            continue;
        w->rows_kept++;
        uint64_t hv = 0x51ed270b27a1c3f5ULL;
        x.row = row;
        for (size_t k = 0; k < nk; k++) {
            const xnode *e = q->keys[k];
            if (e->k == N_ROWID) {
                kc[k].t = V_INT;
                kc[k].i = (int64_t)((uint64_t)w->task << 32 | (uint64_t)(w->trow + (int64_t)row));
            } else if (e->k == N_COL || e->k == N_TRUNC || e->k == N_ISOWEEK) {
                if (key_cell(w, b, e, row, &kc[k])) {
                    decline(w, "a date function of a value outside years 0000-9999 (SQLite raises an error)");
                    return STOPPED;
                }
            } else {
                if (scalar(&x, e, &kc[k], 0)) {
                    decline(w, x.why);
                    return STOPPED;
                }
                w->kmask[k] |= 1u << kc[k].t;
            }
            if (k == 0 || !q->plain) /* a plain scan's row place is unique */
                hv = mix(hv ^ cell_hash(&kc[k]));
        }
        long g = group_find(w, &w->h, kc, hv, 1);
        if (g < 0)
            goto oom;
        aggst *as = &w->h.aggs[(size_t)g * na];
        for (size_t k = 0; k < na; k++) {
            const xnode *f = q->aggs[k];
            if (f->a) {
                if (scalar(&x, f->a, &arg, 0)) {
                    decline(w, x.why);
                    return STOPPED;
                }
                w->amask[k] |= 1u << arg.t;
                if ((f->fn == A_SUM || f->fn == A_AVG) && arg.t != V_INT && arg.t != V_NULL) {
                    decline(w, "sum()/avg() of a real value (its sum depends on row order)");
                    return STOPPED;
                }
            } else if (f->col >= 0) {
                cell_at(b, r->bcol[f->col], &q->schema->cols[f->col], row, &arg);
            }
            if (agg_step(w, &as[k], f, &arg))
                goto oom;
        }
    }
    w->trow += (int64_t)nr;
    if (q->plain) {
        /* a plain scan's rows all go through SQLite again (the result
         * table): a win only when the filter keeps few of them */
        size_t kept = 0;
        for (size_t row = 0; row < nr; row++)
            kept += sel[row] == 1;
        if (atomic_fetch_add(&r->scan_rows, kept) + kept > r->scan_cap) {
            char why[160];
            snprintf(why, sizeof why,
                     "a plain scan of more than %zu rows (KILN_EXEC_SCAN_ROWS): SQLite streams it faster", r->scan_cap);
            decline(w, why);
            return STOPPED;
        }
    }
    return 0;
oom:
    if (!w->declined)
        return KILN_OOM(err);
    return STOPPED;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    for (;;) {
        if (atomic_load(&r->stop))
            break;
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->ntasks)
            break;
        w->task = (int64_t)i;
        w->trow = 0;
        int rc = kiln_lake_task_read(&r->pview, kiln_lake_plan_task(r->plan, i), on_batch, w, &w->err);
        if (rc) {
            if (!w->declined && !(rc == STOPPED && atomic_load(&r->stop)))
                w->rc = rc;
            atomic_store(&r->stop, 1);
            break;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------ pruning */

static int flip(int op)
{
    switch (op) {
    case OP_LT: return OP_GT;
    case OP_LE: return OP_GE;
    case OP_GT: return OP_LT;
    case OP_GE: return OP_LE;
    default: return op;
    }
}

/* One planning term for column c op literal v (a superset of the rows
 * that satisfy it); nothing appended when no safe term exists. */
static void push_term(kiln_buf *w, const kiln_column_def *c, int op, const xcell *v)
{
    static const char *const ops[] = {"", "=", "!=", "<", "<=", ">", ">="};
    size_t mark = w->len;
    if (op == OP_NE || v->t == V_NULL)
        return;
    kiln_buf_printf(w, NULL, "%s%s ", w->len ? " and " : "", c->name);
    switch (c->type) {
    case KILN_T_INT32:
    case KILN_T_INT64:
        if (v->t != V_INT)
            goto skip;
        kiln_buf_printf(w, NULL, "%s %lld", ops[op], (long long)v->i);
        return;
    case KILN_T_DOUBLE:
        if (v->t == V_INT)
            kiln_buf_printf(w, NULL, "%s %lld", ops[op], (long long)v->i);
        else if (v->t == V_REAL && isfinite(v->d))
            kiln_buf_printf(w, NULL, "%s %.17g", ops[op], v->d);
        else
            goto skip;
        return;
    case KILN_T_STRING: {
        char q = memchr(v->p, '\'', v->n) == NULL ? '\'' : memchr(v->p, '"', v->n) == NULL ? '"' : 0;
        if (v->t != V_TEXT || !q || memchr(v->p, 0, v->n))
            goto skip;
        kiln_buf_printf(w, NULL, "%s %c%.*s%c", ops[op], q, (int)v->n, v->p, q);
        return;
    }
    case KILN_T_DATE:
    case KILN_T_TIMESTAMP:
    case KILN_T_TIMESTAMPTZ: {
        int is_date = c->type == KILN_T_DATE;
        int64_t lo, hi;
        if (v->t != V_TEXT || kiln_sql__ts_text_bounds(v->p, v->n, is_date, &lo, &hi))
            goto skip;
        char a[40], b[40];
        if (is_date) {
            kiln_date_format(lo, a);
            kiln_date_format(hi, b);
        } else {
            kiln_ts_format(lo, a);
            kiln_ts_format(hi, b);
            if (v->n == 10 && (op == OP_LT || op == OP_LE))
                kiln_ts_format(lo - 1, b); /* X < 'D' (a bare date) means X < D 00:00 */
        }
        if (op == OP_EQ)
            kiln_buf_printf(w, NULL, "between '%s' and '%s'", a, b);
        else if (op == OP_GT || op == OP_GE)
            kiln_buf_printf(w, NULL, ">= '%s'", a);
        else
            kiln_buf_printf(w, NULL, "<= '%s'", b);
        return;
    }
    default: goto skip;
    }
skip:
    w->len = mark;
}

/* The planning predicate of the WHERE's top-level AND terms. */
static void push_where(kiln_buf *w, const xquery *q, const xnode *n)
{
    if (!n)
        return;
    if (n->k == N_AND) {
        push_where(w, q, n->a);
        push_where(w, q, n->b);
    } else if (n->k == N_CMP) {
        if (n->a->k == N_COL && n->b->k == N_LIT)
            push_term(w, &q->schema->cols[n->a->col], n->op, &n->b->lit);
        else if (n->a->k == N_LIT && n->b->k == N_COL)
            push_term(w, &q->schema->cols[n->b->col], flip(n->op), &n->a->lit);
    } else if (n->k == N_ISNULL && n->a->k == N_COL) {
        kiln_buf_printf(w, NULL, "%s%s %s", w->len ? " and " : "", q->schema->cols[n->a->col].name,
                        n->neg ? "is not null" : "is null");
    } else if (n->k == N_BETWEEN && !n->neg && n->a->k == N_COL && n->b->k == N_LIT && n->c->k == N_LIT) {
        push_term(w, &q->schema->cols[n->a->col], OP_GE, &n->b->lit);
        push_term(w, &q->schema->cols[n->a->col], OP_LE, &n->c->lit);
    }
}

/* ------------------------------------------------------------ results */

#define X_CTES 8

struct kiln_exec_result {
    sqlite3 *db;
    sqlite3_stmt *st;
    char table[64];
    char more[X_CTES][64]; /* the tables of further WITH terms run here */
    char summary[3072];
};

sqlite3_stmt *kiln_exec_result_stmt(kiln_exec_result *r) { return r->st; }
const char *kiln_exec_result_summary(const kiln_exec_result *r) { return r->summary; }

void kiln_exec_result_free(kiln_exec_result *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->st);
    for (int i = -1; i < X_CTES; i++) {
        const char *t = i < 0 ? r->table : r->more[i];
        if (!t[0])
            continue;
        char *q = sqlite3_mprintf("DROP TABLE IF EXISTS temp.\"%w\"", t);
        if (q)
            sqlite3_exec(r->db, q, NULL, NULL, NULL);
        sqlite3_free(q);
    }
    kiln_free(r);
}

int kiln_exec_enabled(void)
{
    const char *e = getenv("KILN_EXEC");
    return !(e && (!strcmp(e, "0") || !strcasecmp(e, "off") || !strcasecmp(e, "no")));
}

typedef struct sortctx {
    const xquery *q;
    const xcell *cells; /* nrows x nitems */
} sortctx;

static _Thread_local const sortctx *g_sort;

static int row_cmp(const void *pa, const void *pb)
{
    const sortctx *s = g_sort;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    size_t ni = (size_t)s->q->nitems;
    for (int k = 0; k < s->q->norder; k++) {
        size_t it = (size_t)s->q->order[k].item;
        const xcell *x = &s->cells[a * ni + it], *y = &s->cells[b * ni + it];
        int nulls = s->q->order[k].nulls;
        if (nulls && (x->t == V_NULL) != (y->t == V_NULL)) /* NULLS FIRST / LAST whatever the direction */
            return (x->t == V_NULL) == (nulls == 1) ? -1 : 1;
        int c = cell_cmp(x, y);
        if (c)
            return s->q->order[k].desc ? -c : c;
    }
    return (a > b) - (a < b); /* ties are declined (see below) */
}

typedef struct keyctx {
    const xcell *keys;
    size_t nk;
} keyctx;
static _Thread_local const keyctx *g_keys;

static int key_cmp(const void *pa, const void *pb)
{
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    for (size_t k = 0; k < g_keys->nk; k++) {
        int c = cell_cmp(&g_keys->keys[a * g_keys->nk + k], &g_keys->keys[b * g_keys->nk + k]);
        if (c)
            return c;
    }
    return 0;
}

static void agg_final(const xnode *f, const aggst *a, xcell *o)
{
    memset(o, 0, sizeof *o);
    switch (f->fn) {
    case A_COUNT_STAR:
    case A_COUNT:
        o->t = V_INT;
        o->i = f->distinct ? (a->ds ? (int64_t)a->ds->n : 0) : a->cnt;
        break;
    case A_SUM:
        if (a->cnt) {
            o->t = V_INT;
            o->i = (int64_t)a->sum;
        }
        break;
    case A_AVG:
        if (a->cnt) {
            o->t = V_REAL;
            o->d = (double)(int64_t)a->sum / (double)a->cnt;
        }
        break;
    default:
        if (a->has)
            *o = a->mm;
        break;
    }
}

/* Put the rows into a temp table and prepare the SELECT that prints them
 * under the statement's column names. */
static int emit(sqlite3 *db, sqlite3_stmt *orig, const xquery *q, const xcell *cells, const size_t *order, size_t nrows,
                kiln_exec_result *res, int as_table, char *why, size_t cap)
{
    static atomic_int seq;
    int ni = q->nout;                  /* the columns */
    size_t stride = (size_t)q->nitems; /* cells per row, with hidden sort columns */
    snprintf(res->table, sizeof res->table, "kiln_exec_%d_%d", (int)getpid(), atomic_fetch_add(&seq, 1));
    kiln_buf sql;
    kiln_buf_init(&sql, 0);
    int rc = -1;
    sqlite3_stmt *ins = NULL;
    char *msg = NULL; /* before the first goto: done frees it (clang -Wsometimes-uninitialized) */
    kiln_buf_printf(&sql, NULL, "CREATE TEMP TABLE \"%s\"(", res->table);
    for (int i = 0; i < ni; i++) {
        /* declared as SQLite declares st's columns (a direct column
         * reference has its table column's type, anything else none): the
         * same affinity for a subquery's outer query, the same decltype for
         * CTAS's type inference; the values already have those classes */
        const char *dt = sqlite3_column_decltype(orig, i);
        char *c = as_table ? sqlite3_mprintf("%s\"%w\" %s", i ? ", " : "", sqlite3_column_name(orig, i), dt ? dt : "")
                           : sqlite3_mprintf("%sc%d %s", i ? ", " : "", i, dt ? dt : "");
        if (!c)
            goto done;
        kiln_buf_append(&sql, c, strlen(c), NULL);
        sqlite3_free(c);
    }
    kiln_buf_printf(&sql, NULL, ")");
    kiln_buf_putc(&sql, 0, NULL);
    if (sqlite3_exec(db, sql.data, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(why, cap, "cannot create the result table: %s", msg ? msg : "?");
        res->table[0] = 0;
        goto done;
    }
    kiln_buf_reset(&sql);
    kiln_buf_printf(&sql, NULL, "INSERT INTO temp.\"%s\" VALUES(", res->table);
    for (int i = 0; i < ni; i++)
        kiln_buf_printf(&sql, NULL, "%s?", i ? "," : "");
    kiln_buf_printf(&sql, NULL, ")");
    kiln_buf_putc(&sql, 0, NULL);
    if (sqlite3_prepare_v2(db, sql.data, -1, &ins, NULL) != SQLITE_OK) {
        snprintf(why, cap, "cannot fill the result table: %s", sqlite3_errmsg(db));
        goto done;
    }
    for (size_t r = 0; r < nrows; r++) {
        sqlite3_reset(ins);
        for (int i = 0; i < ni; i++) {
            const xcell *c = &cells[order[r] * stride + (size_t)i];
            char buf[48];
            size_t n;
            switch (c->t) {
            case V_NULL: sqlite3_bind_null(ins, i + 1); break;
            case V_INT: sqlite3_bind_int64(ins, i + 1, c->i); break;
            case V_REAL: sqlite3_bind_double(ins, i + 1, c->d); break;
            default: {
                const char *p = cell_text(c, buf, &n);
                sqlite3_bind_text(ins, i + 1, p, (int)n, SQLITE_TRANSIENT);
            }
            }
        }
        if (sqlite3_step(ins) != SQLITE_DONE) {
            snprintf(why, cap, "cannot fill the result table: %s", sqlite3_errmsg(db));
            goto done;
        }
    }
    if (as_table) {
        rc = 0;
        goto done;
    }
    kiln_buf_reset(&sql);
    kiln_buf_printf(&sql, NULL, "SELECT ");
    for (int i = 0; i < ni; i++) {
        char *nm = sqlite3_mprintf("%sc%d AS \"%w\"", i ? ", " : "", i, sqlite3_column_name(orig, i));
        if (!nm)
            goto done;
        kiln_buf_append(&sql, nm, strlen(nm), NULL);
        sqlite3_free(nm);
    }
    kiln_buf_printf(&sql, NULL, " FROM temp.\"%s\" ORDER BY rowid", res->table);
    kiln_buf_putc(&sql, 0, NULL);
    if (sqlite3_prepare_v2(db, sql.data, -1, &res->st, NULL) != SQLITE_OK) {
        snprintf(why, cap, "cannot read the result table: %s", sqlite3_errmsg(db));
        goto done;
    }
    rc = 0;
done:
    sqlite3_free(msg);
    sqlite3_finalize(ins);
    kiln_buf_free(&sql);
    return rc;
}

/* ------------------------------------------------------------ entry */

static int env_int(const char *name, int dflt)
{
    const char *e = getenv(name);
    if (!e || !*e)
        return dflt;
    int v = atoi(e);
    return v > 0 ? v : dflt;
}

/* The table columns an expression reads (before the aggregation). */
static void need_cols(const xnode *n, uint8_t *need)
{
    if (!n)
        return;
    if ((n->k == N_COL || n->k == N_TRUNC || n->k == N_ISOWEEK || n->k == N_AGG) && n->col >= 0)
        need[n->col] = 1;
    need_cols(n->a, need);
    need_cols(n->b, need);
    need_cols(n->c, need);
    for (int i = 0; i < n->nlist; i++)
        need_cols(n->list[i], need);
}

/* The parser's scalar subquery ("(SELECT ...)" as a value): one that
 * prepares alone reads nothing of the statement around it, so SQLite runs
 * it once here and its first row's value (NULL without rows) is a literal
 * of the columnar query. */
static int scalar_subquery(void *ctx, xquery *q, const char *sql, size_t len, xcell *out, char *why, size_t cap)
{
    sqlite3 *db = ctx;
    sqlite3_stmt *st = NULL;
    size_t used = 0;
    kiln_err e = {0};
    memset(out, 0, sizeof *out);
    if (kiln_sql_prepare(db, sql, len, &st, &used, NULL, &e) != 0 || !st || used < len ||
        sqlite3_column_count(st) != 1) {
        sqlite3_finalize(st);
        snprintf(why, cap, "a subquery that does not run alone (correlated, or over a WITH term)");
        return 1;
    }
    int rc = sqlite3_step(st), bad = 0;
    if (rc == SQLITE_ROW) {
        switch (sqlite3_column_type(st, 0)) {
        case SQLITE_INTEGER: out->t = V_INT, out->i = sqlite3_column_int64(st, 0); break;
        case SQLITE_FLOAT: out->t = V_REAL, out->d = sqlite3_column_double(st, 0); break;
        case SQLITE_TEXT: {
            size_t n = (size_t)sqlite3_column_bytes(st, 0);
            char *t = kiln_arena_alloc(q->a, n + 1);
            if (!t) {
                bad = 1;
                break;
            }
            memcpy(t, sqlite3_column_text(st, 0), n);
            t[n] = 0;
            out->t = V_TEXT, out->p = t, out->n = (uint32_t)n;
            break;
        }
        case SQLITE_NULL: break;
        default: bad = 1; break; /* a blob */
        }
    } else if (rc != SQLITE_DONE) {
        bad = 1; /* its error is SQLite's to report */
    }
    sqlite3_finalize(st);
    if (bad)
        snprintf(why, cap, "a subquery whose value is a blob, or that fails");
    return bad;
}

/* 1 when a top-level AND term of the WHERE is an IN or an OR: SQLite may
 * hand the virtual table one lookup per value (IN, or an OR of equalities
 * it turns into one), so a plain scan's rows come in the values' order. */
static int lookup_order(const xnode *n)
{
    if (!n)
        return 0;
    if (n->k == N_AND)
        return lookup_order(n->a) || lookup_order(n->b);
    return (n->k == N_IN && !n->neg) || n->k == N_OR;
}

/* The statement sql[0..len) (prepared by SQLite as st) on the columnar
 * path; as_table: leave the rows in a temporary table named and typed as
 * st's columns (a subquery's result) instead of preparing their SELECT. */
static int run_direct(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt *st, int as_table, const xterm *terms,
                      int nterms, kiln_exec_result **out, char *why, size_t cap, kiln_err *err)
{
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    char ns[129], tb[129];
    int term = 0;
    if (!cat) {
        why[0] = 0; /* not an Iceberg query: nothing to say */
        return 0;
    }
    if (kiln_exec__parse_from(sql, len, terms, nterms, ns, tb, &term) || strchr(tb, '@') ||
        !kiln_sql_is_lake_schema(db, ns)) {
        why[0] = 0; /* not an Iceberg query: nothing to say */
        return 0;
    }
    int rc = 0;
    xquery q;
    memset(&q, 0, sizeof q);
    kiln_lake_table *t = NULL;
    kiln_lake_view view;
    run *r = NULL;
    worker *ws = NULL;
    int nth = 0;
    xcell *cells = NULL, *fin = NULL;
    size_t *order = NULL;
    kiln_exec_result *res = NULL;
    char name[260], pushed_text[1024], colnames[1024];
    snprintf(name, sizeof name, "%s.%s", ns, tb);
    if (!(q.a = kiln_arena_new(16 * 1024)))
        return KILN_OOM(err);
    snprintf(q.ns, sizeof q.ns, "%s", ns);
    snprintf(q.tb, sizeof q.tb, "%s", tb);
    q.terms = terms;
    q.nterms = nterms;
    q.term = term;
    q.subquery = scalar_subquery;
    q.subquery_ctx = db;
    kiln_err lerr = {0};
    if (kiln_lake_table_load(&t, cat, name, &lerr) != 0) {
        snprintf(why, cap, "cannot load %s: %s", name, lerr.msg);
        goto done;
    }
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    if (kiln_lake_view_from_meta(&view, q.a, m, m->current_snapshot_id, NULL, &lerr) != 0) {
        snprintf(why, cap, "%s: %s", name, lerr.msg);
        goto done;
    }
    q.schema = view.schema;
    if (view.schema->ncols > 1024) {
        snprintf(why, cap, "more than 1024 columns");
        goto done;
    }
    for (int i = 0; view.has_initial_default && i < view.schema->ncols; i++)
        if (view.has_initial_default[i]) {
            snprintf(why, cap, "a column has an initial-default");
            goto done;
        }
    if (kiln_exec__parse(&q, sql, len, why, cap))
        goto done;
    if (q.plain && !q.norder && lookup_order(q.where)) {
        snprintf(why, cap, "a plain scan whose IN / OR SQLite may run as one lookup per value (its row order)");
        goto done;
    }
    if (q.nout != sqlite3_column_count(st)) {
        snprintf(why, cap, "column count differs from SQLite's");
        goto done;
    }
    /* plan and projection */
    if (!(r = kiln_calloc(1, sizeof *r))) {
        rc = KILN_OOM(err);
        goto done;
    }
    r->q = &q;
    r->mem_cap = (size_t)env_int("KILN_EXEC_MEM_MB", 1024) << 20;
    r->scan_cap = (size_t)env_int("KILN_EXEC_SCAN_ROWS", 100000);
    /* file pruning: the WHERE's top-level AND terms as a planning
     * predicate (partition values, column statistics); rows are still
     * tested by the filter, so a term only has to be a superset */
    kiln_buf pushed;
    kiln_buf_init(&pushed, 0);
    push_where(&pushed, &q, q.where);
    kiln_buf_putc(&pushed, 0, NULL);
    kiln_lake_pred pred;
    int has_pred = pushed.len > 1 && kiln_lake_pred_parse(&pred, q.a, view.schema, pushed.data, &lerr) == 0;
    snprintf(pushed_text, sizeof pushed_text, "%s", has_pred ? pushed.data : "(nothing)");
    kiln_buf_free(&pushed);
    if ((rc = kiln_lake_plan_new(&r->plan, &view, has_pred ? &pred : NULL, err)))
        goto done;
    r->ntasks = kiln_lake_plan_ntasks(r->plan);
    int ncols = view.schema->ncols;
    uint8_t *need = kiln_arena_alloc(q.a, (size_t)ncols + 1);
    kiln_column_def *pc = kiln_arena_alloc(q.a, ((size_t)ncols + 1) * sizeof *pc);
    if (!need || !pc) {
        rc = KILN_OOM(err);
        goto done;
    }
    memset(need, 0, (size_t)ncols + 1);
    for (int k = 0; k < q.nkeys; k++)
        need_cols(q.keys[k], need);
    for (int k = 0; k < q.naggs; k++)
        need_cols(q.aggs[k], need);
    need_cols(q.where, need);
    for (size_t i = 0; i < kiln_lake_plan_nlive(r->plan); i++) {
        const kiln_lake_datafile *d = &kiln_lake_plan_live(r->plan, i)->df;
        if (d->content != KILN_LAKE_CONTENT_EQ_DELETES)
            continue;
        for (int k = 0; k < d->nequality_ids; k++)
            for (int c = 0; c < ncols; c++)
                if (view.schema->cols[c].field_id == d->equality_ids[k])
                    need[c] = 1;
    }
    int np = 0;
    for (int c = 0; c < ncols; c++) {
        r->bcol[c] = -1;
        if (need[c]) {
            r->bcol[c] = np;
            pc[np++] = view.schema->cols[c];
        }
    }
    r->pschema.ncols = np;
    r->pschema.cols = pc;
    r->pview = view;
    r->pview.schema = &r->pschema;
    /* run */
    nth = env_int("KILN_EXEC_THREADS", (int)sysconf(_SC_NPROCESSORS_ONLN));
    if (nth > 64)
        nth = 64;
    if ((size_t)nth > r->ntasks)
        nth = r->ntasks ? (int)r->ntasks : 1;
    if (!(ws = kiln_calloc((size_t)nth, sizeof *ws))) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < nth; i++) {
        ws[i].r = r;
        if (!(ws[i].h.arena = kiln_arena_new(64 * 1024)) || !(ws[i].tmp = kiln_arena_new(64 * 1024)) ||
            !(ws[i].kc = kiln_calloc((size_t)(q.nkeys ? q.nkeys : 1), sizeof(xcell)))) {
            nth = i + 1;
            rc = KILN_OOM(err);
            goto done;
        }
    }
    int started = 0;
    for (int i = 1; i < nth; i++) {
        if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0)
            break; /* the threads that did start claim every task */
        started = i;
    }
    worker_main(&ws[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(ws[i].tid, NULL);
    int64_t rows_in = 0, rows_kept = 0;
    for (int i = 0; i < nth; i++) {
        rows_in += ws[i].rows_in;
        rows_kept += ws[i].rows_kept;
        if (ws[i].declined) {
            snprintf(why, cap, "%s", ws[i].why);
            goto done;
        }
    }
    for (int i = 0; i < nth; i++)
        if (ws[i].rc) {
            rc = ws[i].rc;
            *err = ws[i].err;
            goto done;
        }
    /* merge the partial tables into the first */
    htab *h = &ws[0].h;
    size_t nk = (size_t)q.nkeys, na = (size_t)q.naggs;
    for (int i = 1; i < nth; i++) {
        htab *o = &ws[i].h;
        for (size_t g = 0; g < o->ng; g++) {
            long d = group_find(&ws[0], h, &o->keys[g * nk], o->gh[g], 0);
            if (d < 0)
                break;
            for (size_t k = 0; k < na; k++)
                if (agg_merge(&ws[0], &h->aggs[(size_t)d * na + k], &o->aggs[g * na + k], q.aggs[k]))
                    break;
        }
        if (ws[0].declined) {
            snprintf(why, cap, "%s", ws[0].why);
            goto done;
        }
    }
    /* an aggregate without GROUP BY has one row, even over no input */
    if (!q.has_group && h->ng == 0) {
        xcell none;
        memset(&none, 0, sizeof none);
        if (group_find(&ws[0], h, &none, 0, 0) < 0) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    /* exactness checks on the finished aggregates */
    for (size_t g = 0; g < h->ng; g++)
        for (size_t k = 0; k < na; k++) {
            const aggst *a = &h->aggs[g * na + k];
            if (q.aggs[k]->fn == A_SUM && a->abs > (unsigned __int128)INT64_MAX) {
                snprintf(why, cap, "sum() may overflow a 64-bit integer in some row order (SQLite decides)");
                goto done;
            }
            if (q.aggs[k]->fn == A_AVG && a->abs > ((unsigned __int128)1 << 53)) {
                snprintf(why, cap, "avg() of integers past 2^53 (its double sum depends on row order)");
                goto done;
            }
        }
    /* a computed key or aggregate argument with both integers and reals
     * (or text in two forms) would group / compare as SQLite does, but
     * which of two equal values SQLite shows depends on its row order */
    for (int k = 0; k < X_MAX && k < (int)(nk > na ? nk : na); k++) {
        unsigned km = 0, am = 0;
        for (int i = 0; i < nth; i++)
            km |= ws[i].kmask[k], am |= ws[i].amask[k];
        if ((!q.plain && !unmixed(km)) || (k < (int)na && q.aggs[k]->fn != A_COUNT_STAR && !unmixed(am) &&
                                           (q.aggs[k]->fn != A_COUNT || q.aggs[k]->distinct))) {
            snprintf(why, cap, "a computed value mixes integers and reals (or text forms); SQLite decides");
            goto done;
        }
    }
    size_t ngroups = h->ng, ni = (size_t)q.nitems;
    if (!(cells = kiln_malloc((ngroups ? ngroups : 1) * ni * sizeof *cells)) ||
        !(order = kiln_malloc((ngroups ? ngroups : 1) * sizeof *order)) ||
        !(fin = kiln_malloc((na ? na : 1) * sizeof *fin))) {
        rc = KILN_OOM(err);
        goto done;
    }
    /* HAVING keeps the groups it is true for */
    size_t ng = 0;
    ectx gx = {.w = &ws[0], .tmp = h->arena};
    for (size_t g = 0; g < ngroups; g++) {
        if (q.having) {
            for (size_t k = 0; k < na; k++)
                agg_final(q.aggs[k], &h->aggs[g * na + k], &fin[k]);
            gx.keys = &h->keys[g * nk];
            gx.aggs = fin;
            int t = truth(&gx, q.having, 0);
            if (t < 0) {
                snprintf(why, cap, "%s", gx.why);
                goto done;
            }
            if (t != 1)
                continue;
        }
        order[ng++] = g;
    }
    /* GROUP BY order: SQLite's sorter emits the groups in key order */
    keyctx kx = {h->keys, nk};
    g_keys = &kx;
    if (nk)
        kiln_sort(order, ng, sizeof *order, key_cmp);
    for (size_t r2 = 0; r2 < ng; r2++) {
        size_t g = order[r2];
        for (size_t k = 0; k < na; k++)
            agg_final(q.aggs[k], &h->aggs[g * na + k], &fin[k]);
        gx.keys = &h->keys[g * nk];
        gx.aggs = fin;
        for (size_t i = 0; i < ni; i++) {
            const xitem *it = &q.items[i];
            if (it->key >= 0) {
                cells[r2 * ni + i] = h->keys[g * nk + (size_t)it->key];
            } else if (it->agg >= 0) {
                cells[r2 * ni + i] = fin[it->agg];
            } else if (scalar(&gx, it->e, &cells[r2 * ni + i], 0)) {
                snprintf(why, cap, "%s", gx.why);
                goto done;
            }
        }
    }
    for (size_t g = 0; g < ng; g++)
        order[g] = g;
    if (q.norder) {
        sortctx sc = {&q, cells};
        g_sort = &sc;
        kiln_sort(order, ng, sizeof *order, row_cmp);
    }
    size_t from = (size_t)q.offset < ng ? (size_t)q.offset : ng;
    size_t count = ng - from;
    if (q.limit >= 0 && (size_t)q.limit < count)
        count = (size_t)q.limit;
    if (q.norder && count) {
        /* rows equal under the ORDER BY come out of SQLite's sorter in an
         * order of its own (it varies with LIMIT and the key count): when
         * such ties reach the output, SQLite runs the statement */
        sortctx sc = {&q, cells};
        size_t lo = from ? from - 1 : 0, hi = from + count < ng ? from + count : ng - 1;
        for (size_t i = lo; i < hi; i++) {
            int tie = 1;
            for (int k = 0; k < q.norder && tie; k++) {
                size_t it = (size_t)q.order[k].item;
                tie = cell_cmp(&sc.cells[order[i] * ni + it], &sc.cells[order[i + 1] * ni + it]) == 0;
            }
            if (tie) {
                snprintf(why, cap, "rows tie under the ORDER BY (SQLite's order among equal rows is its own)");
                goto done;
            }
        }
    }
    if (!(res = kiln_calloc(1, sizeof *res))) {
        rc = KILN_OOM(err);
        goto done;
    }
    res->db = db;
    if (emit(db, st, &q, cells, order + from, count, res, as_table, why, cap)) {
        kiln_exec_result_free(res);
        res = NULL;
        goto done;
    }
    colnames[0] = 0;
    for (int c = 0, off = 0; c < np && off < (int)sizeof colnames - 1; c++)
        off += snprintf(colnames + off, sizeof colnames - (size_t)off, "%s%s", c ? "," : "", pc[c].name);
    const kiln_lake_plan_stats *ps = kiln_lake_plan_stats_get(r->plan);
    snprintf(res->summary, sizeof res->summary,
             "columnar, %d thread%s\n`-- %s (snapshot %lld)%s%s%s\n    columns: %s\n    pushed: %s\n"
             "    files: %zu read, %zu skipped by partition, %zu by column stats, of %zu\n"
             "    rows: %lld scanned, %lld kept; %s: %zu",
             nth, nth == 1 ? "" : "s", name, (long long)view.snapshot_id, term ? ", read through WITH term " : "",
             term ? terms[term - 1].name : "", term ? " (its filter inlined)" : "", colnames, pushed_text, r->ntasks,
             ps->files_pruned_partition, ps->files_pruned_stats, ps->files_total, (long long)rows_in,
             (long long)rows_kept, q.plain ? "rows out (a plain scan)" : "groups", ngroups);
    *out = res;
    res = NULL;
done:
    kiln_free(cells);
    kiln_free(fin);
    kiln_free(order);
    for (int i = 0; ws && i < nth; i++) {
        htab_free(&ws[i].h, q.naggs);
        for (int k = 0; k < 64; k++)
            kiln_free(ws[i].scratch[k]);
        kiln_free(ws[i].kc);
        kiln_arena_free(ws[i].tmp);
    }
    kiln_free(ws);
    if (r)
        kiln_lake_plan_free(r->plan);
    kiln_free(r);
    kiln_lake_table_free(t);
    kiln_arena_free(q.a);
    return rc;
}

/* The parentheses of a subquery right after the statement's first FROM
 * (at depth 0): 1 with their offsets, else 0. */
static int from_subquery(const char *sql, size_t len, size_t *lp, size_t *rp)
{
    kiln_sql_lexer lx = {sql, len, 0};
    for (kiln_sql_tok t = kiln_sql_lex_next(&lx); t.kind; t = kiln_sql_lex_next(&lx)) {
        if (kiln_sql_lex_p(&lx, t, '(')) {
            kiln_sql_lex_skip_parens(&lx);
        } else if (kiln_sql_lex_kw(&lx, t, "from")) {
            kiln_sql_tok a = kiln_sql_lex_next(&lx);
            if (!kiln_sql_lex_p(&lx, a, '(') || !kiln_sql_lex_kw(&lx, kiln_sql_lex_peek(&lx), "select"))
                return 0;
            kiln_sql_tok b = kiln_sql_lex_skip_parens(&lx);
            if (!b.kind)
                return 0;
            *lp = a.b;
            *rp = b.b;
            return 1;
        }
    }
    return 0;
}

/* Run the query sql[b..e) (a subquery or a WITH term's body) here into a
 * temporary table named and typed as SQLite sees its columns. terms are
 * the WITH terms before it (sql[db0..de) their definitions, prepared in
 * front of a body that reads one). Returns 0 with *out set, or 0 with *out
 * NULL and why (declined), or <0. */
static int run_inner(sqlite3 *db, const char *sql, size_t b, size_t e, const xterm *terms, int nterms, size_t db0,
                     size_t de, kiln_exec_result **out, char *why, size_t cap, kiln_err *err)
{
    sqlite3_stmt *ist = NULL;
    size_t used = 0;
    kiln_err e2 = {0};
    *out = NULL;
    if (kiln_sql_prepare(db, sql + b, e - b, &ist, &used, NULL, &e2) != 0 || !ist) {
        sqlite3_finalize(ist);
        ist = NULL;
        if (nterms > 0) { /* it reads an earlier term: prepared with the terms in front */
            kiln_buf w;
            kiln_buf_init(&w, 0);
            kiln_buf_append(&w, "WITH ", 5, NULL);
            kiln_buf_append(&w, sql + db0, de - db0, NULL);
            kiln_buf_putc(&w, ' ', NULL);
            kiln_buf_append(&w, sql + b, e - b, NULL);
            kiln_err e3 = {0};
            if (kiln_sql_prepare(db, w.data, w.len, &ist, &used, NULL, &e3) != 0 || !ist) {
                sqlite3_finalize(ist);
                ist = NULL;
            }
            kiln_buf_free(&w);
        }
        if (!ist) {
            snprintf(why, cap, "does not prepare alone: %s", e2.msg);
            return 0;
        }
    }
    int rc =
        sqlite3_column_count(ist) > 0 ? run_direct(db, sql + b, e - b, ist, 1, terms, nterms, out, why, cap, err) : 0;
    sqlite3_finalize(ist);
    return rc;
}

/* Take one's temporary table into *res (the first result becomes *res) and
 * note what in its summary; returns the table's name, or NULL (one freed)
 * when *res holds no more tables. */
static const char *adopt(kiln_exec_result **res, int *ran, kiln_exec_result *one, const char *what)
{
    kiln_exec_result *r = *res;
    if (!r) {
        *res = r = one;
        size_t l = strlen(r->summary);
        snprintf(r->summary + l, sizeof r->summary - l, "\n    (%s; SQLite runs the rest)", what);
        ++*ran;
        return r->table;
    }
    if (*ran - 1 >= X_CTES) {
        kiln_exec_result_free(one);
        return NULL;
    }
    snprintf(r->more[*ran - 1], sizeof r->more[0], "%s", one->table);
    one->table[0] = 0; /* dropped with r */
    size_t l = strlen(r->summary);
    snprintf(r->summary + l, sizeof r->summary - l, "\n    (%s, also columnar:) %s", what, one->summary);
    kiln_exec_result_free(one);
    return r->more[(*ran)++ - 1];
}

/* sql[b..e) as a compound of UNION ALL branches: each branch the executor
 * runs becomes SELECT * FROM its temporary table (SQLite concatenates
 * them, in order, as it would the branches' rows). A last branch with the
 * compound's ORDER BY / LIMIT stays SQLite's. Appends the rewritten text to
 * out; *is set to 0 (nothing appended) when sql[b..e) has no UNION ALL or
 * another compound operator. Returns <0 on a real error. */
static int run_compound(sqlite3 *db, const char *sql, size_t b, size_t e, kiln_buf *out, kiln_exec_result **res,
                        int *ran, char *first, size_t fcap, int *is, kiln_err *err)
{
    size_t cut[X_CTES + 2], ncut = 0; /* branch starts, then e */
    int tail = 0;                     /* the last branch has ORDER BY / LIMIT */
    *is = 0;
    kiln_sql_lexer lx = {sql, e, b};
    cut[ncut++] = b;
    for (kiln_sql_tok t = kiln_sql_lex_next(&lx); t.kind; t = kiln_sql_lex_next(&lx)) {
        if (kiln_sql_lex_p(&lx, t, '(')) {
            kiln_sql_lex_skip_parens(&lx);
        } else if (kiln_sql_lex_kw(&lx, t, "union")) {
            if (!kiln_sql_lex_kw(&lx, kiln_sql_lex_next(&lx), "all") || ncut > X_CTES)
                return 0;
            cut[ncut++] = lx.pos;
            tail = 0;
        } else if (kiln_sql_lex_kw(&lx, t, "intersect") || kiln_sql_lex_kw(&lx, t, "except") ||
                   kiln_sql_lex_kw(&lx, t, "with")) {
            return 0;
        } else if (kiln_sql_lex_kw(&lx, t, "order") || kiln_sql_lex_kw(&lx, t, "limit")) {
            tail = 1;
        }
    }
    if (ncut < 2)
        return 0;
    *is = 1;
    cut[ncut] = e;
    size_t at = b;
    for (size_t k = 0; k < ncut; k++) {
        if (k == ncut - 1 && tail)
            break;
        /* the branch's text: after UNION ALL, up to the next UNION */
        size_t bb = cut[k], be = cut[k + 1];
        if (k + 1 < ncut) { /* back over "UNION ALL" */
            kiln_sql_lexer l2 = {sql, be, bb};
            size_t last_end = bb;
            for (kiln_sql_tok t = kiln_sql_lex_next(&l2); t.kind; t = kiln_sql_lex_next(&l2)) {
                if (kiln_sql_lex_p(&l2, t, '('))
                    t = kiln_sql_lex_skip_parens(&l2);
                if (kiln_sql_lex_kw(&l2, t, "union"))
                    break;
                last_end = t.e;
            }
            be = last_end;
        }
        kiln_exec_result *one = NULL;
        char w1[512] = "";
        int rc = run_inner(db, sql, bb, be, NULL, 0, 0, 0, &one, w1, sizeof w1, err);
        if (rc) {
            kiln_exec_result_free(one);
            return rc;
        }
        if (!one) {
            if (!first[0] && w1[0])
                snprintf(first, fcap, "UNION ALL branch %zu: %s", k + 1, w1);
            continue;
        }
        char what[64];
        snprintf(what, sizeof what, "UNION ALL branch %zu", k + 1);
        const char *tb = adopt(res, ran, one, what);
        if (!tb)
            break;
        kiln_buf_append(out, sql + at, bb - at, NULL);
        kiln_buf_printf(out, NULL, " SELECT * FROM temp.\"%s\" ", tb);
        at = be;
    }
    kiln_buf_append(out, sql + at, e - at, NULL);
    return 0;
}

/* WITH [name AS (query)], ... SELECT ...: every term whose query runs here
 * becomes a temporary table (its body replaced by a SELECT of it) and
 * SQLite runs the rest. 1 when the statement is a WITH (handled: *out set
 * or why says why not), 0 when it is not. */
static int try_with(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt *st, kiln_exec_result **out, char *why,
                    size_t cap, kiln_err *err, int *rcp)
{
    kiln_sql_lexer lx = {sql, len, 0};
    if (!kiln_sql_lex_kw(&lx, kiln_sql_lex_next(&lx), "with"))
        return 0;
    *rcp = 0;
    if (kiln_sql_lex_kw(&lx, kiln_sql_lex_peek(&lx), "recursive"))
        return 0; /* as any other statement */
    size_t lp[X_CTES + 1], rp[X_CTES + 1];
    xterm terms[X_CTES + 1];
    int n = 0, whole = 0;
    size_t defs = lx.pos;
    for (;;) {
        kiln_sql_tok name = kiln_sql_lex_next(&lx);
        if (name.kind != 'w' && name.kind != 'q')
            break;
        if (kiln_sql_lex_ident(&lx, name, terms[n].name, sizeof terms[n].name))
            terms[n].name[0] = 0;
        kiln_sql_tok t = kiln_sql_lex_next(&lx);
        if (kiln_sql_lex_p(&lx, t, '(')) { /* a column list: SQLite renames; not done here */
            kiln_sql_lex_skip_parens(&lx);
            t = kiln_sql_lex_next(&lx);
            lp[n] = rp[n] = 0;
        } else {
            lp[n] = 1;
        }
        if (!kiln_sql_lex_kw(&lx, t, "as"))
            break;
        t = kiln_sql_lex_next(&lx);
        if (kiln_sql_lex_kw(&lx, t, "not"))
            t = kiln_sql_lex_next(&lx);
        if (kiln_sql_lex_kw(&lx, t, "materialized"))
            t = kiln_sql_lex_next(&lx);
        if (!kiln_sql_lex_p(&lx, t, '('))
            break;
        kiln_sql_tok c = kiln_sql_lex_skip_parens(&lx);
        if (!c.kind)
            break;
        if (lp[n]) {
            lp[n] = t.b;
            rp[n] = c.b;
            terms[n].body = sql + t.b + 1;
            terms[n].len = c.b - t.b - 1;
        } else { /* a term with a column list is never inlined */
            terms[n].name[0] = 0;
            terms[n].body = NULL;
            terms[n].len = 0;
        }
        if (n < X_CTES)
            n++;
        if (!kiln_sql_lex_p(&lx, kiln_sql_lex_peek(&lx), ',')) {
            whole = n < X_CTES;
            break;
        }
        kiln_sql_lex_next(&lx);
    }
    char first[512] = "";
    if (whole && n > 0) {
        /* the statement's own SELECT over a filter term: the whole
         * statement runs here */
        size_t mb = lx.pos;
        int rc = run_direct(db, sql + mb, len - mb, st, 0, terms, n, out, first, sizeof first, err);
        if (rc || *out) {
            *rcp = rc;
            return 1;
        }
        if (first[0]) {
            char tmp[512];
            snprintf(tmp, sizeof tmp, "the statement's SELECT: %s", first);
            snprintf(first, sizeof first, "%s", tmp);
        }
    }
    kiln_exec_result *res = NULL;
    kiln_buf text;
    kiln_buf_init(&text, 0);
    size_t at = 0;
    int ran = 0;
    for (int i = 0; i < n && *rcp == 0; i++) {
        if (!rp[i])
            continue;
        int is = 0;
        kiln_buf cb;
        kiln_buf_init(&cb, 0);
        int ran0 = ran;
        *rcp = run_compound(db, sql, lp[i] + 1, rp[i], &cb, &res, &ran, first, sizeof first, &is, err);
        if (is) { /* a term of UNION ALL branches: those run here are replaced */
            if (ran > ran0) {
                kiln_buf_append(&text, sql + at, lp[i] + 1 - at, NULL);
                kiln_buf_append(&text, cb.data, cb.len, NULL);
                at = rp[i];
            }
            kiln_buf_free(&cb);
            continue;
        }
        kiln_buf_free(&cb);
        kiln_exec_result *one = NULL;
        char w1[512] = "";
        size_t de = 0;
        for (int k = 0; k < i; k++)
            de = rp[k] ? rp[k] + 1 : de;
        *rcp = run_inner(db, sql, lp[i] + 1, rp[i], terms, de ? i : 0, defs, de, &one, w1, sizeof w1, err);
        if (!one) {
            if (!first[0] && w1[0])
                snprintf(first, sizeof first, "WITH term %d: %s", i + 1, w1);
            continue;
        }
        char what[64];
        snprintf(what, sizeof what, "WITH term %d", i + 1);
        const char *tbn = adopt(&res, &ran, one, what);
        if (!tbn)
            break;
        kiln_buf_append(&text, sql + at, lp[i] - at, NULL);
        kiln_buf_printf(&text, NULL, "(SELECT * FROM temp.\"%s\")", tbn);
        at = rp[i] + 1;
    }
    if (*rcp || !res) {
        if (!*rcp)
            snprintf(why, cap, "%s", first); /* empty when no term reads an Iceberg table: nothing to say */
        kiln_exec_result_free(res);
        kiln_buf_free(&text);
        return 1;
    }
    kiln_buf_append(&text, sql + at, len - at, NULL);
    size_t used = 0;
    kiln_err e2 = {0};
    if (kiln_sql_prepare(db, text.data, text.len, &res->st, &used, NULL, &e2) != 0 || !res->st) {
        snprintf(why, cap, "the query over the WITH terms' results does not prepare: %s", e2.msg);
        kiln_exec_result_free(res);
    } else {
        *out = res;
    }
    kiln_buf_free(&text);
    return 1;
}

static int exec_try(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt *st, kiln_exec_result **out, char *why,
                    size_t cap, kiln_err *err);

int kiln_exec_try(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt *st, kiln_exec_result **out, char *why,
                  size_t cap, kiln_err *err)
{
    int rc = exec_try(db, sql, len, st, out, why, cap, err);
    /* the path of every statement (also a write's source, which prints no
     * --explain): KILN_LOG=debug */
    if (*out && kiln_log_min <= KILN_LOG_DEBUG) {
        char line[sizeof(*out)->summary];
        size_t k = 0;
        for (const char *c = kiln_exec_result_summary(*out); *c && k + 2 < sizeof line; c++) {
            if (*c == '\n') { /* one line: "; " between the summary's lines */
                line[k++] = ';';
                line[k++] = ' ';
                while (c[1] == ' ')
                    c++;
            } else {
                line[k++] = *c;
            }
        }
        line[k] = 0;
        kiln_debug("%s", line);
    } else if (!*out && !rc && why[0]) {
        kiln_debug("sqlite: %s", why);
    }
    return rc;
}

static int exec_try(sqlite3 *db, const char *sql, size_t len, sqlite3_stmt *st, kiln_exec_result **out, char *why,
                    size_t cap, kiln_err *err)
{
    *out = NULL;
    why[0] = 0; /* stays empty when the statement reads no Iceberg table here: nothing to say */
    if (!kiln_exec_enabled()) {
        snprintf(why, cap, "off (KILN_EXEC=0)");
        return 0;
    }
    if (sqlite3_stmt_isexplain(st) || !sqlite3_stmt_readonly(st) || sqlite3_column_count(st) == 0)
        return 0;
    int wrc = 0;
    if (try_with(db, sql, len, st, out, why, cap, err, &wrc))
        return wrc;
    {
        int is = 0, ran = 0;
        kiln_buf text;
        kiln_buf_init(&text, 0);
        kiln_exec_result *res = NULL;
        int rc = run_compound(db, sql, 0, len, &text, &res, &ran, why, cap, &is, err);
        if (is || rc) {
            if (!rc && res) {
                size_t used = 0;
                kiln_err e2 = {0};
                if (kiln_sql_prepare(db, text.data, text.len, &res->st, &used, NULL, &e2) != 0 || !res->st) {
                    snprintf(why, cap, "the compound over the branches' results does not prepare: %s", e2.msg);
                    kiln_exec_result_free(res);
                } else {
                    *out = res;
                }
            } else {
                kiln_exec_result_free(res);
            }
            kiln_buf_free(&text);
            return rc;
        }
        kiln_buf_free(&text);
    }
    size_t lp, rp;
    if (!from_subquery(sql, len, &lp, &rp))
        return run_direct(db, sql, len, st, 0, NULL, 0, out, why, cap, err);
    /* SELECT ... FROM (a supported query) ...: the subquery runs here into
     * a temporary table, SQLite runs the rest over it */
    const char *isql = sql + lp + 1;
    size_t ilen = rp - lp - 1, used = 0;
    sqlite3_stmt *ist = NULL;
    kiln_err e2 = {0};
    if (kiln_sql_prepare(db, isql, ilen, &ist, &used, NULL, &e2) != 0 || !ist) {
        snprintf(why, cap, "the subquery in FROM does not prepare alone: %s", e2.msg);
        return 0;
    }
    kiln_exec_result *inner = NULL;
    int rc = run_direct(db, isql, ilen, ist, 1, NULL, 0, &inner, why, cap, err);
    sqlite3_finalize(ist);
    if (rc || !inner) {
        if (!rc && why[0]) {
            char tmp[512];
            snprintf(tmp, sizeof tmp, "the subquery in FROM: %s", why);
            snprintf(why, cap, "%s", tmp);
        }
        return rc;
    }
    kiln_buf text;
    kiln_buf_init(&text, 0);
    kiln_buf_append(&text, sql, lp, NULL);
    kiln_buf_printf(&text, NULL, "temp.\"%s\"", inner->table);
    kiln_buf_append(&text, sql + rp + 1, len - rp - 1, NULL);
    if (kiln_sql_prepare(db, text.data, text.len, &inner->st, &used, NULL, &e2) != 0 || !inner->st) {
        snprintf(why, cap, "the query over the subquery's result does not prepare: %s", e2.msg);
        kiln_buf_free(&text);
        kiln_exec_result_free(inner);
        return 0;
    }
    kiln_buf_free(&text);
    char tmp[sizeof inner->summary];
    snprintf(tmp, sizeof tmp, "%s\n    (the subquery in FROM; SQLite runs the outer query over its rows)",
             inner->summary);
    snprintf(inner->summary, sizeof inner->summary, "%s", tmp);
    *out = inner;
    return 0;
}
