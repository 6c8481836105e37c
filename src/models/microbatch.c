/*
 * microbatch.c - dbt 1.9's microbatch incremental strategy.
 *
 * config: incremental_strategy: microbatch, event_time (the model's
 * column that places a row in a batch), batch_size (hour, day, month,
 * year), begin (the first batch), lookback (default 1). Each batch renders
 * the model with every ref()/source() of a node that has an `event_time`
 * config filtered to the batch's window, and replaces the rows of that
 * window in the table in one Iceberg commit (INSERT OVERWRITE of the
 * table's other rows plus the batch's; the first batch with rows creates
 * the table). Windows compare the event time's text by prefix
 * ('YYYY', 'YYYY-MM', 'YYYY-MM-DD', 'YYYY-MM-DD HH'; a 'T' separator is
 * read as a space), so dates and ISO timestamps both work.
 *
 * Beyond dbt: the batches a table holds are recorded in its Iceberg
 * property `kiln.microbatch.done` (set after each batch's data commit). A
 * run without --event-time-start/--event-time-end runs every batch from
 * `begin` up to the current one that is not recorded (an earlier gap in
 * runs, or a batch that failed: "filled N missing batches"), and the last
 * `lookback` recorded batches again. A failed batch is not recorded: the
 * next build runs it again alone.
 */
#include "models/project.h"

#include "lake/lake.h"
#include "sql/sql.h"

#include <stdlib.h>
#include <time.h>

int kiln_models__microbatch_is(const km_node *n)
{
    return n->kind == KM_MODEL && !strcmp(kiln_models__cfg_str(n, "materialized", ""), "incremental") &&
           !strcmp(kiln_models__cfg_str(n, "incremental_strategy", ""), "microbatch");
}

/* ------------------------------------------------------------ batches */

enum { B_HOUR, B_DAY, B_MONTH, B_YEAR };

static int parse_time(const char *s, struct tm *tm)
{
    memset(tm, 0, sizeof *tm);
    int y = 0, mo = 1, d = 1, h = 0, n;
    n = sscanf(s, "%d-%d-%d%*[ T]%d", &y, &mo, &d, &h);
    if (n < 1 || y < 1000 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23)
        return -1;
    tm->tm_year = y - 1900;
    tm->tm_mon = mo - 1;
    tm->tm_mday = d;
    tm->tm_hour = h;
    return 0;
}

static void trunc_tm(struct tm *tm, int bs)
{
    tm->tm_min = tm->tm_sec = 0;
    if (bs >= B_DAY)
        tm->tm_hour = 0;
    if (bs >= B_MONTH)
        tm->tm_mday = 1;
    if (bs >= B_YEAR)
        tm->tm_mon = 0;
}

static void step(struct tm *tm, int bs)
{
    if (bs == B_HOUR)
        tm->tm_hour++;
    else if (bs == B_DAY)
        tm->tm_mday++;
    else if (bs == B_MONTH)
        tm->tm_mon++;
    else
        tm->tm_year++;
    time_t t = timegm(tm);
    gmtime_r(&t, tm);
}

static void key_of(const struct tm *tm, int bs, char *out, size_t cap)
{
    if (bs == B_YEAR)
        snprintf(out, cap, "%04d", tm->tm_year + 1900);
    else if (bs == B_MONTH)
        snprintf(out, cap, "%04d-%02d", tm->tm_year + 1900, tm->tm_mon + 1);
    else if (bs == B_DAY)
        snprintf(out, cap, "%04d-%02d-%02d", tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday);
    else
        snprintf(out, cap, "%04d-%02d-%02d %02d", tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour);
}

typedef struct batch {
    char start[24], end[24];
    int done, run, gap;
} batch;

/* ------------------------------------------------------------ rendering */

typedef struct mb_ctx {
    kiln_project *p;
    const batch *b;
} mb_ctx;

typedef struct mrel {
    char *text;
} mrel;
static int mrel_str(kj_in *in, void *ud, kiln_buf *out)
{
    return kiln_buf_printf(out, kj_in_err(in), "%s", ((mrel *)ud)->text);
}
static void mrel_free(void *ud)
{
    kiln_free(((mrel *)ud)->text);
    kiln_free(ud);
}
static int mrel_getattr(kj_in *in, void *ud, const char *name, kj_val *out)
{
    *out = kj_undef();
    return 0;
}
static const kj_class mrel_class = {"Relation", mrel_getattr, mrel_str, mrel_free, NULL, NULL};

/* window predicate on column col */
static char *window_pred(const char *col, const batch *b)
{
    size_t l = strlen(b->start);
    return kiln_sprintf("substr(replace(cast(\"%s\" as text), 'T', ' '), 1, %zu) >= '%s' and "
                        "substr(replace(cast(\"%s\" as text), 'T', ' '), 1, %zu) < '%s'",
                        col, l, b->start, col, l, b->end);
}

static int rel_val(mb_ctx *c, long idx, kj_in *in, kj_val *out)
{
    km_node *n = c->p->nodes.items[idx];
    char *rel = kiln_models__relation(c->p, n);
    if (rel && c->p->on_branch && c->p->on_branch[idx]) { /* flow3's branch names */
        const char *dot = strchr(rel, '.');
        char *b = dot ? kiln_sprintf("%.*s.\"%s@%s\"", (int)(dot - rel), rel, dot + 1, c->p->opts.branch) : NULL;
        kiln_free(rel);
        rel = b;
    }
    const char *et = kiln_models__cfg_str(n, "event_time", NULL);
    char *text = NULL;
    if (rel && et) {
        char *pred = window_pred(et, c->b);
        text = pred ? kiln_sprintf("(select * from %s where %s)", rel, pred) : NULL;
        kiln_free(pred);
        kiln_free(rel);
    } else
        text = rel;
    mrel *m = text ? kiln_calloc(1, sizeof *m) : NULL;
    if (!m) {
        kiln_free(text);
        return KILN_OOM(kj_in_err(in));
    }
    m->text = text;
    *out = kj_obj_new(&mrel_class, m);
    return kj_oom(*out) ? KILN_OOM(kj_in_err(in)) : 0;
}

static int mb_ref(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    mb_ctx *c = ud;
    kj_val name = a->npos >= 2 ? a->pos[1] : kj_arg(a, 0, NULL);
    if (name.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "ref() takes a model name (a string)");
    long idx = kiln_models__find_name(c->p, name.u.s->p);
    if (idx < 0)
        return kj_fail(in, KILN_ENOTFOUND, "a node named '%s' was not found", name.u.s->p);
    return rel_val(c, idx, in, out);
}

static int mb_source(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    mb_ctx *c = ud;
    kj_val s = kj_arg(a, 0, "source_name"), t = kj_arg(a, 1, "table_name");
    if (s.t != KJ_STR || t.t != KJ_STR)
        return kj_fail(in, KILN_EINVAL, "source() takes a source name and a table name");
    for (size_t i = 0; i < c->p->nodes.len; i++) {
        km_node *n = c->p->nodes.items[i];
        if (n->kind == KM_SOURCE && n->source_name && !strcmp(n->source_name, s.u.s->p) && !strcmp(n->name, t.u.s->p))
            return rel_val(c, (long)i, in, out);
    }
    return kj_fail(in, KILN_ENOTFOUND, "source '%s.%s' was not found", s.u.s->p, t.u.s->p);
}

/* ------------------------------------------------------------ SQL */

static int exec_all(sqlite3 *db, const char *sql, kiln_err *err) { return kiln_models__exec_all(db, sql, NULL, err); }

static int64_t count_q(sqlite3 *db, const char *sql, kiln_err *err, int *rc)
{
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    int64_t n = 0;
    if ((*rc = kiln_sql_prepare(db, sql, strlen(sql), &st, &used, &eo, err)))
        return 0;
    if (st && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        *rc = kiln_err_set(err, KILN_EFORMAT, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return n;
}

static int table_cols(sqlite3 *db, const char *rel, kiln_buf *out, kiln_err *err)
{
    char *q = kiln_sprintf("select * from %s limit 0", rel);
    sqlite3_stmt *st = NULL;
    size_t used;
    long eo;
    int rc = q ? kiln_sql_prepare(db, q, strlen(q), &st, &used, &eo, err) : KILN_OOM(err);
    for (int i = 0; !rc && st && i < sqlite3_column_count(st); i++)
        rc = kiln_buf_printf(out, err, "%s\"%s\"", i ? ", " : "", sqlite3_column_name(st, i));
    sqlite3_finalize(st);
    kiln_free(q);
    return rc;
}

/* the lake table of rel (schema.ident or schema."ident@branch": the table) */
static int load_table(sqlite3 *db, const char *rel, kiln_lake_table **t, kiln_err *err)
{
    char plain[600];
    const char *q = strstr(rel, ".\"");
    if (q) {
        const char *at = strchr(q + 2, '@');
        snprintf(plain, sizeof plain, "%.*s.%.*s", (int)(q - rel), rel, at ? (int)(at - q - 2) : 0, q + 2);
        rel = plain;
    }
    kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
    if (!cat)
        return kiln_err_set(err, KILN_ENOTFOUND, "no warehouse");
    return kiln_lake_table_load(t, cat, rel, err);
}

static int cmp_batch(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int save_done(sqlite3 *db, const char *rel, batch *bs, size_t nb, const char *old, kiln_err *err)
{
    /* keep what was recorded outside this run's range too */
    KILN_VEC(char *) keys = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = 0;
    char *copy = old ? kiln_strdup(old) : NULL;
    for (char *s = copy, *tok; s && (tok = strsep(&s, ",")) && !rc;) {
        if (!*tok)
            continue;
        int ours = 0;
        for (size_t i = 0; i < nb; i++)
            ours |= !strcmp(bs[i].start, tok);
        if (!ours)
            rc = kiln_vec_push(&keys, tok, err);
    }
    for (size_t i = 0; i < nb && !rc; i++)
        if (bs[i].done)
            rc = kiln_vec_push(&keys, bs[i].start, err);
    if (!rc)
        kiln_sort(keys.items, keys.len, sizeof(char *), cmp_batch);
    for (size_t i = 0; i < keys.len && !rc; i++)
        rc = kiln_buf_printf(&b, err, "%s%s", i ? "," : "", keys.items[i]);
    kiln_lake_table *t = NULL;
    if (!rc && !(rc = load_table(db, rel, &t, err))) {
        kiln_lake_kv kv = {"kiln.microbatch.done", b.data ? b.data : ""};
        rc = kiln_lake_set_properties(t, &kv, 1, err);
    }
    kiln_lake_table_free(t);
    kiln_vec_free(&keys);
    kiln_buf_free(&b);
    kiln_free(copy);
    return rc;
}

/* ------------------------------------------------------------ run */

int kiln_models__microbatch_run(kiln_project *p, sqlite3 *db, size_t idx, const char *rel, int exists, FILE *out,
                                kiln_err *err)
{
    km_node *n = p->nodes.items[idx];
    const char *et = kiln_models__cfg_str(n, "event_time", NULL), *bsz = kiln_models__cfg_str(n, "batch_size", NULL),
               *begin = kiln_models__cfg_str(n, "begin", NULL);
    kj_val lb = kiln_models__cfg(n, "lookback");
    int lookback = lb.t == KJ_INT ? (int)lb.u.i : 1;
    int bs = !bsz                    ? -1
             : !strcmp(bsz, "hour")  ? B_HOUR
             : !strcmp(bsz, "day")   ? B_DAY
             : !strcmp(bsz, "month") ? B_MONTH
             : !strcmp(bsz, "year")  ? B_YEAR
                                     : -1;
    struct tm tb, te, tn;
    if (!et || bs < 0 || !begin)
        return kiln_err_set(err, KILN_EINVAL,
                            "microbatch model '%s' needs event_time, batch_size (hour, day, month, year) and begin",
                            n->name);
    if (parse_time(begin, &tb))
        return kiln_err_set(err, KILN_EINVAL, "microbatch model '%s': begin '%s' is not a date (YYYY-MM-DD[ HH])",
                            n->name, begin);
    if (lookback < 0)
        return kiln_err_set(err, KILN_EINVAL, "microbatch model '%s': lookback must be >= 0", n->name);
    const char *es = p->opts.event_time_start, *ee = p->opts.event_time_end;
    time_t now = time(NULL);
    gmtime_r(&now, &tn);
    if (ee && parse_time(ee, &te))
        return kiln_err_set(err, KILN_EINVAL, "--event-time-end '%s' is not a date", ee);
    if (!ee) { /* up to and including the current batch */
        te = tn;
        trunc_tm(&te, bs);
        step(&te, bs);
    }
    struct tm ts = tb;
    if (es && parse_time(es, &ts))
        return kiln_err_set(err, KILN_EINVAL, "--event-time-start '%s' is not a date", es);
    trunc_tm(&ts, bs);
    trunc_tm(&tb, bs);
    time_t tend = timegm(&te);
    KILN_VEC(batch) bsv = {0};
    int rc = 0;
    for (struct tm c = tb; timegm(&c) < tend && !rc;) {
        batch b = {0};
        key_of(&c, bs, b.start, sizeof b.start);
        step(&c, bs);
        key_of(&c, bs, b.end, sizeof b.end);
        if (bsv.len > 100000) {
            rc = kiln_err_set(err, KILN_ELIMIT, "microbatch model '%s': more than 100000 batches", n->name);
            break;
        }
        rc = kiln_vec_push(&bsv, b, err);
    }
    /* what the table holds */
    char *done_prop = NULL;
    if (!rc && exists) {
        kiln_lake_table *t = NULL;
        kiln_err e = {0};
        if (!load_table(db, rel, &t, &e)) {
            const char *v = kiln_lake_meta_property(kiln_lake_table_meta(t), "kiln.microbatch.done");
            done_prop = v ? kiln_strdup(v) : NULL;
        }
        kiln_lake_table_free(t);
    }
    char sk[24];
    key_of(&ts, bs, sk, sizeof sk);
    long last = -1;
    for (size_t i = 0; i < bsv.len; i++) {
        batch *b = &bsv.items[i];
        int was = 0;
        if (done_prop) {
            size_t l = strlen(b->start);
            for (const char *q = strstr(done_prop, b->start); q; q = strstr(q + 1, b->start))
                was |= (q == done_prop || q[-1] == ',') && (q[l] == ',' || !q[l]);
        }
        b->done = was;
        if (was)
            last = (long)i;
    }
    size_t nrun = 0, ngap = 0;
    /* a forward-only change applied on a plan's branch keeps history (plan.c) */
    int full =
        p->opts.full_refresh &&
        !(p->opts.branch && (p->opts.forward_only || kj_truthy(kiln_models__cfg(p->nodes.items[idx], "forward_only"))));
    for (size_t i = 0; i < bsv.len; i++) {
        batch *b = &bsv.items[i];
        if (es || ee || !exists || full || !done_prop)
            b->run = strcmp(b->start, sk) >= 0 || !(es || ee);
        else if ((long)i > last - lookback)
            b->run = 1;
        else if (!b->done)
            b->run = b->gap = 1;
        nrun += b->run;
        ngap += b->gap;
        if (b->run)
            b->done = 0;
    }
    if (!rc && exists && p->opts.full_refresh && !p->opts.branch) { /* rebuild from scratch */
        kiln_lake_catalog *cat = kiln_sql_lake_catalog(db);
        char *drop = kiln_sprintf("drop table if exists %s", rel);
        if (!(rc = kiln_lake_table_drop(cat, rel, 1, err)))
            rc = drop ? exec_all(db, drop, err) : KILN_OOM(err);
        kiln_free(drop);
        exists = 0;
    }
    size_t nok = 0, nfail = 0, ncommit = 0;
    char firsterr[400] = "";
    kiln_buf sql, q, cols;
    kiln_buf_init(&sql, 0);
    kiln_buf_init(&q, 0);
    kiln_buf_init(&cols, 0);
    for (size_t i = 0; i < bsv.len && !rc; i++) {
        batch *b = &bsv.items[i];
        if (!b->run)
            continue;
        mb_ctx c = {p, b};
        kj_val over = kj_dict_new();
        kj_val fr = kj_func_new("ref", mb_ref, &c, kj_undef()), fs = kj_func_new("source", mb_source, &c, kj_undef());
        kiln_err e = {0};
        int brc = kj_oom(over) || kj_oom(fr) || kj_oom(fs) ? KILN_OOM(&e) : 0;
        if (!brc && !(brc = kj_dict_setc(over, "ref", fr, &e)))
            brc = kj_dict_setc(over, "source", fs, &e);
        else
            kj_release(fr), kj_release(fs);
        fr = fs = kj_undef();
        sql.len = q.len = 0;
        if (!brc)
            brc = kiln_models__render_node_over(p, idx, over, &sql, &e);
        kj_release(over);
        int64_t nnew = 0, nold = 0;
        if (!brc) {
            char *cq = kiln_sprintf("select count(*) from (\n%s\n)", sql.data ? sql.data : "");
            nnew = cq ? count_q(db, cq, &e, &brc) : (brc = KILN_OOM(&e), 0);
            kiln_free(cq);
        }
        char *pred = window_pred(et, b);
        if (!pred)
            brc = KILN_OOM(&e);
        if (!brc && exists) {
            char *cq = kiln_sprintf("select count(*) from %s where %s", rel, pred);
            nold = cq ? count_q(db, cq, &e, &brc) : (brc = KILN_OOM(&e), 0);
            kiln_free(cq);
        }
        if (!brc && !exists && nnew > 0 && p->opts.branch && p->opts.branch_new) {
            /* a new model in a plan's environment: the table is created with
             * no main snapshot, this batch's rows on the branch (plan.c) */
            if (!(brc = kiln_models__branch_stage(p, db, rel, sql.data, "", 0, NULL, 1, &e)))
                exists = 1, ncommit++;
        } else if (!brc && !exists && nnew > 0) {
            brc = kiln_buf_printf(&q, &e, "create table %s as select * from (\n%s\n)", rel, sql.data);
            if (!brc && !(brc = exec_all(db, q.data, &e)))
                exists = 1, ncommit++;
        } else if (!brc && exists && (nnew || nold)) {
            cols.len = 0;
            if (!(brc = table_cols(db, rel, &cols, &e)))
                brc = kiln_buf_printf(
                    &q, &e, "insert overwrite %s select * from %s where not (%s) union all select %s from (\n%s\n)",
                    rel, rel, pred, cols.data, sql.data);
            if (!brc && !(brc = exec_all(db, q.data, &e)))
                ncommit++;
        }
        kiln_free(pred);
        if (brc == KILN_ENOMEM) {
            *err = e;
            rc = brc;
            break;
        }
        if (brc) {
            nfail++;
            if (!firsterr[0])
                snprintf(firsterr, sizeof firsterr, "batch %s: %s", b->start, e.msg);
            fprintf(out, "  batch %s of %s: ERROR %s\n", b->start, n->name, e.msg);
        } else {
            b->done = 1;
            nok++;
        }
        /* record after each batch's commit, so a crash loses at most one batch's record */
        if (!brc && exists && (rc = save_done(db, rel, bsv.items, bsv.len, done_prop, err)))
            break;
    }
    if (!rc)
        fprintf(out, "  microbatch %s: %zu batch%s run (%zu commit%s)%s", rel, nok, nok == 1 ? "" : "es", ncommit,
                ncommit == 1 ? "" : "s", ngap ? "" : "\n");
    if (!rc && ngap)
        fprintf(out, ", filled %zu missing batch%s\n", ngap, ngap == 1 ? "" : "es");
    if (!rc && nfail)
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "%zu of %zu batches failed (%s); the others are committed and recorded, the failed ones run "
                          "again on the next build",
                          nfail, nrun, firsterr);
    kiln_buf_free(&sql);
    kiln_buf_free(&q);
    kiln_buf_free(&cols);
    kiln_free(done_prop);
    kiln_vec_free(&bsv);
    return rc;
}
