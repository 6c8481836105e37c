/*
 * iceberg_ops.c - metadata-only table operations, each one transaction:
 * create, rollback, set current snapshot, branches and tags, fast-forward,
 * properties, snapshot expiry.
 *
 * Every operation is written as a "build" function that turns the latest
 * metadata into requirements + updates. It runs once for the first attempt
 * and again (via the txn rebase hook) after each lost race, so validation
 * (e.g. "main must be an ancestor of the branch") is always done against
 * the metadata the commit will actually replace.
 */
#include "lake/lake_io.h"
#include "lake/lake_data_int.h"
#include "lake/lake_meta_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int (*build_fn)(kiln_lake_txn *txn, const kiln_lake_meta *base, void *ctx, kiln_err *err);

typedef struct {
    build_fn build;
    void *ctx;
} rebuild_ctx;

static int rebuild(kiln_lake_txn *txn, void *vctx, kiln_err *err)
{
    rebuild_ctx *rc = vctx;
    kiln_lake_txn_clear(txn);
    return rc->build(txn, kiln_lake_txn_base(txn), rc->ctx, err);
}

static int run_op(kiln_lake_table *t, build_fn build, void *ctx, kiln_err *err)
{
    kiln_lake_txn *txn = NULL;
    rebuild_ctx rctx = {build, ctx};
    kiln_lake_commit_opts opts = {.rebase = rebuild, .rebase_ctx = &rctx};
    int rc = kiln_lake_txn_begin(&txn, t, err);
    if (rc == 0)
        rc = build(txn, kiln_lake_table_meta(t), ctx, err);
    if (rc == 0)
        rc = kiln_lake_txn_commit(txn, &opts, NULL, err);
    kiln_lake_txn_free(txn);
    return rc;
}

/* ------------------------------------------------------------ create */

static int schema_from_ddl(kiln_lake_meta *m, const char *ddl, kiln_lake_schema *out, kiln_err *err)
{
    KILN_VEC(kiln_lake_field) fs = {0};
    int32_t next = 1;
    const char *p = ddl;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    while (isspace((unsigned char)*p))
        p++;
    while (*p) {
        char name[129];
        size_t n = 0;
        while ((isalnum((unsigned char)*p) || *p == '_') && n + 1 < sizeof(name))
            name[n++] = *p++;
        name[n] = 0;
        if (!n) {
            rc = kiln_err_set(err, KILN_EINVAL, "schema: expected a column name at \"%.20s\"", p);
            goto done;
        }
        for (size_t i = 0; i < fs.len; i++)
            if (strcmp(fs.items[i].name, name) == 0) {
                rc = kiln_err_set(err, KILN_EINVAL, "schema: column \"%s\" given twice", name);
                goto done;
            }
        kiln_lake_field f = {.id = next++, .name = kiln_lake__strdup(m, name)};
        if (!f.name) {
            rc = KILN_OOM(err);
            goto done;
        }
        if ((rc = kiln_lake__type_from_ddl(m, &p, &f.type, &next, 0, err)) != 0) {
            kiln_err_prefix(err, "schema: column %s: ", name);
            goto done;
        }
        while (isspace((unsigned char)*p))
            p++;
        if (strncasecmp(p, "not null", 8) == 0) {
            f.required = 1;
            p += 8;
        } else if (strncasecmp(p, "required", 8) == 0) {
            f.required = 1;
            p += 8;
        }
        while (isspace((unsigned char)*p))
            p++;
        if ((rc = kiln_vec_push(&fs, f, err)) != 0)
            goto done;
        if (*p == ',') {
            p++;
            while (isspace((unsigned char)*p))
                p++;
        } else if (*p) {
            rc = kiln_err_set(err, KILN_EINVAL, "schema: unexpected \"%.20s\" (separate columns with ',')", p);
            goto done;
        }
    }
    if (fs.len == 0) {
        rc = kiln_err_set(err, KILN_EINVAL, "schema: no columns (e.g. --schema 'id long not null, name string')");
        goto done;
    }
    kiln_lake_field *arr = kiln_lake__alloc(m, fs.len * sizeof(*arr));
    if (!arr) {
        rc = KILN_OOM(err);
        goto done;
    }
    memcpy(arr, fs.items, fs.len * sizeof(*arr));
    out->fields = arr;
    out->nfields = fs.len;
    m->last_column_id = next - 1;
done:
    kiln_vec_free(&fs);
    return rc;
}

static int sort_from_text(kiln_lake_meta *m, const kiln_lake_schema *schema, const char *text,
                          kiln_lake_sort_order *out, kiln_err *err)
{
    KILN_VEC(kiln_lake_sort_field) fs = {0};
    char *copy = kiln_strdup(text);
    int rc = 0;
    if (!copy)
        return KILN_OOM(err);
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char col[129] = "", w1[16] = "", w2[16] = "", w3[16] = "";
        int n = sscanf(item, " %128s %15s %15s %15s", col, w1, w2, w3);
        if (n < 1)
            continue;
        kiln_lake_sort_field sf = {.nulls_first = 1};
        /* a transform as Iceberg sort orders allow: day(ts), hour(ts),
         * month(ts), year(ts), bucket[16](id), truncate[4](name) */
        char xname[64] = "identity";
        char *open = strchr(col, '(');
        if (open) {
            char *close = strchr(open, ')');
            if (!close || close[1] || close == open + 1 || (size_t)(open - col) >= sizeof xname) {
                rc = kiln_err_set(err, KILN_EINVAL, "sort: \"%s\": expected TRANSFORM(column), e.g. day(ts)", col);
                goto done;
            }
            snprintf(xname, sizeof xname, "%.*s", (int)(open - col), col);
            *close = 0;
            memmove(col, open + 1, strlen(open + 1) + 1);
        }
        const kiln_lake_field *f = kiln_lake__schema_path(schema, col);
        if (!f) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "sort: no column \"%s\"", col);
            goto done;
        }
        sf.source_id = f->id;
        char *xtext = kiln_lake__strdup(m, xname);
        if (!xtext) {
            rc = KILN_OOM(err);
            goto done;
        }
        kiln_lake_transform_parse(&sf.transform, xtext, err);
        if (sf.transform.kind == KILN_LAKE_XF_UNKNOWN || sf.transform.kind == KILN_LAKE_XF_VOID) {
            rc = kiln_err_set(err, KILN_EINVAL,
                              "sort: unknown transform \"%s\" (identity, year, month, day, hour, bucket[N], "
                              "truncate[W])",
                              xname);
            goto done;
        }
        kiln_lake_type rt;
        kiln_err te = {0};
        if (kiln_lake_transform_result(&rt, &sf.transform, f->type, &te) != 0) {
            rc = kiln_err_set(err, KILN_EINVAL, "sort: %s does not apply to column %s (%s)", xname, col,
                              f->type && f->type->name ? f->type->name : "its type");
            goto done;
        }
        const char *words[3] = {w1, w2, w3};
        for (int i = 0; i < 3 && i < n - 1; i++) {
            if (strcasecmp(words[i], "desc") == 0) {
                sf.descending = 1;
                sf.nulls_first = 0;
            } else if (strcasecmp(words[i], "asc") == 0) {
                sf.descending = 0;
            } else if (strcasecmp(words[i], "nulls") == 0 && i + 1 < n - 1) {
                sf.nulls_first = strcasecmp(words[i + 1], "first") == 0;
                i++;
            } else {
                rc = kiln_err_set(err, KILN_EINVAL, "sort: unexpected \"%s\" (col [asc|desc] [nulls first|last])",
                                  words[i]);
                goto done;
            }
        }
        if ((rc = kiln_vec_push(&fs, sf, err)) != 0)
            goto done;
    }
    kiln_lake_sort_field *arr = kiln_lake__alloc(m, fs.len * sizeof(*arr));
    if (!arr) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (fs.len)
        memcpy(arr, fs.items, fs.len * sizeof(*arr));
    out->fields = arr;
    out->nfields = fs.len;
    out->order_id = fs.len ? 1 : 0;
done:
    kiln_vec_free(&fs);
    kiln_free(copy);
    return rc;
}

int kiln_lake_table_create(kiln_lake_table **out, kiln_lake_catalog *c, const char *name,
                           const kiln_lake_create_opts *opts, kiln_err *err)
{
    *out = NULL;
    kiln_lake_meta *m = NULL;
    char ns[129], tbl[129], uuid[37];
    char *loc = NULL;
    int rc;
    if ((rc = kiln_lake_name_split(name, ns, tbl, err)) != 0)
        goto done;
    if (!opts || (!opts->schema_ddl && !opts->schema_json)) {
        rc = kiln_err_set(err, KILN_EINVAL, "create %s: a schema is required", name);
        goto done;
    }
    if ((rc = kiln_lake__meta_new(&m, err)) != 0)
        goto done;
    kiln_lake_uuid_v4(uuid);
    {
        char *dir = kiln_sprintf("%s/%s/%s", kiln_lake_catalog_warehouse(c), ns, tbl);
        loc = dir ? kiln_lake_path_to_uri(dir) : NULL; /* file:// or the store's s3:// */
        kiln_free(dir);
    }
    m->table_uuid = kiln_lake__strdup(m, uuid);
    m->location = kiln_lake__strdup(m, loc);
    if (!loc || !m->table_uuid || !m->location) {
        rc = KILN_OOM(err);
        goto done;
    }
    kiln_lake_schema *schema = kiln_lake__alloc(m, sizeof(*schema));
    if (!schema) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (opts->schema_ddl) {
        if ((rc = schema_from_ddl(m, opts->schema_ddl, schema, err)) != 0)
            goto done;
    } else {
        json_error_t je;
        json_t *j = json_loads(opts->schema_json, 0, &je);
        if (!j) {
            rc = kiln_err_set(err, KILN_EINVAL, "create %s: schema JSON: %s (line %d)", name, je.text, je.line);
            goto done;
        }
        rc = kiln_lake__schema_from_json(m, j, schema, err);
        json_decref(j);
        if (rc != 0)
            goto done;
    }
    schema->schema_id = 0;
    m->schemas = schema;
    m->nschemas = 1;
    m->current_schema_id = 0;
    if (opts->schema_json)
        m->last_column_id = kiln_lake__max_field_id(schema->fields, schema->nfields);

    kiln_lake_spec *spec = kiln_lake__alloc(m, sizeof(*spec));
    if (!spec) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (opts->partition && (rc = kiln_lake__spec_from_text(m, schema, opts->partition, spec, err)) != 0)
        goto done;
    m->specs = spec;
    m->nspecs = 1;
    m->default_spec_id = 0;

    kiln_lake_sort_order *so = kiln_lake__alloc(m, sizeof(*so));
    if (!so) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (opts->sort && (rc = sort_from_text(m, schema, opts->sort, so, err)) != 0)
        goto done;
    m->sort_orders = so;
    m->nsort_orders = 1;
    m->default_sort_order_id = so->order_id;

    if (opts->nproperties) {
        kiln_lake_kv *kv = kiln_lake__alloc(m, opts->nproperties * sizeof(*kv));
        if (!kv) {
            rc = KILN_OOM(err);
            goto done;
        }
        size_t nkv = 0;
        for (size_t i = 0; i < opts->nproperties; i++) {
            if (strcmp(opts->properties[i].key, "format-version") == 0) {
                /* reserved, as in Iceberg: the table's version (2 or 3), not a stored property */
                if ((rc = kiln_lake__upgrade_format(m, opts->properties[i].value, name, err)) != 0)
                    goto done;
                continue;
            }
            kv[nkv].key = kiln_lake__strdup(m, opts->properties[i].key);
            kv[nkv].value = kiln_lake__strdup(m, opts->properties[i].value);
            if (!kv[nkv].key || !kv[nkv].value) {
                rc = KILN_OOM(err);
                goto done;
            }
            nkv++;
        }
        m->properties = kv;
        m->nproperties = nkv;
    }
    m->last_updated_ms = kiln_now_micros() / 1000;
    m->last_sequence_number = 0;
    m->current_snapshot_id = -1;
    rc = kiln_lake__table_register(c, name, m, out, err); /* takes m */
    m = NULL;
done:
    kiln_lake_meta_free(m);
    kiln_free(loc);
    return rc;
}

/* ------------------------------------------------------------ refs */

static int ref_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '-' || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

typedef struct {
    int64_t snapshot_id;
    int must_be_ancestor;
} setcur_ctx;

static int build_set_current(kiln_lake_txn *txn, const kiln_lake_meta *base, void *vctx, kiln_err *err)
{
    setcur_ctx *c = vctx;
    if (!kiln_lake_meta_snapshot(base, c->snapshot_id))
        return kiln_err_set(err, KILN_ENOTFOUND, "no snapshot %" PRId64 " in this table", c->snapshot_id);
    if (c->must_be_ancestor && !kiln_lake_meta_is_ancestor(base, base->current_snapshot_id, c->snapshot_id))
        return kiln_err_set(err, KILN_EINVAL,
                            "snapshot %" PRId64 " is not an ancestor of the current snapshot %" PRId64
                            " (rollback goes back along main's history; use set-current for any snapshot)",
                            c->snapshot_id, base->current_snapshot_id);
    const kiln_lake_ref *main = kiln_lake_meta_ref(base, "main");
    kiln_lake_ref r = {"main", KILN_LAKE_BRANCH, c->snapshot_id, -1, -1, -1};
    if (main) {
        r = *main;
        r.snapshot_id = c->snapshot_id;
    }
    int rc = kiln_lake_txn_require_ref_snapshot(txn, "main", main ? main->snapshot_id : -1, err);
    return rc ? rc : kiln_lake_txn_set_ref(txn, &r, err);
}

int kiln_lake_rollback(kiln_lake_table *t, int64_t snapshot_id, kiln_err *err)
{
    setcur_ctx c = {snapshot_id, 1};
    return run_op(t, build_set_current, &c, err);
}

int kiln_lake_set_current(kiln_lake_table *t, int64_t snapshot_id, kiln_err *err)
{
    setcur_ctx c = {snapshot_id, 0};
    return run_op(t, build_set_current, &c, err);
}

static int build_ref_create(kiln_lake_txn *txn, const kiln_lake_meta *base, void *vctx, kiln_err *err)
{
    const kiln_lake_ref *want = vctx;
    kiln_lake_ref r = *want;
    if (kiln_lake_meta_ref(base, r.name))
        return kiln_err_set(err, KILN_EEXIST, "ref %s already exists", r.name);
    if (r.snapshot_id < 0) {
        r.snapshot_id = base->current_snapshot_id;
        if (r.snapshot_id < 0)
            return kiln_err_set(err, KILN_ENOTFOUND, "the table has no snapshot yet to put %s on", r.name);
    }
    if (!kiln_lake_meta_snapshot(base, r.snapshot_id))
        return kiln_err_set(err, KILN_ENOTFOUND, "no snapshot %" PRId64 " in this table", r.snapshot_id);
    if (r.type == KILN_LAKE_TAG)
        r.min_snapshots_to_keep = r.max_snapshot_age_ms = -1;
    int rc = kiln_lake_txn_require_ref_snapshot(txn, r.name, -1, err);
    return rc ? rc : kiln_lake_txn_set_ref(txn, &r, err);
}

int kiln_lake_ref_create(kiln_lake_table *t, const kiln_lake_ref *ref, kiln_err *err)
{
    if (!ref->name || !ref_name_ok(ref->name))
        return kiln_err_set(err, KILN_EINVAL, "bad ref name \"%s\" (letters, digits, '_', '-', '.')",
                            ref->name ? ref->name : "");
    if (strcmp(ref->name, "main") == 0)
        return kiln_err_set(err, KILN_EEXIST, "main always exists");
    return run_op(t, build_ref_create, (void *)ref, err);
}

static int build_ref_drop(kiln_lake_txn *txn, const kiln_lake_meta *base, void *vctx, kiln_err *err)
{
    const char *name = vctx;
    const kiln_lake_ref *r = kiln_lake_meta_ref(base, name);
    if (!r)
        return kiln_err_set(err, KILN_ENOTFOUND, "no branch or tag %s", name);
    int rc = kiln_lake_txn_require_ref_snapshot(txn, name, r->snapshot_id, err);
    return rc ? rc : kiln_lake_txn_remove_ref(txn, name, err);
}

int kiln_lake_ref_drop(kiln_lake_table *t, const char *name, kiln_err *err)
{
    if (strcmp(name, "main") == 0)
        return kiln_err_set(err, KILN_EINVAL, "the main branch cannot be dropped");
    return run_op(t, build_ref_drop, (void *)name, err);
}

typedef struct {
    const char *to, *from;
    int publish; /* also drop `from`; a missing `to` is created at its head */
} ff_ctx;

static int build_ff(kiln_lake_txn *txn, const kiln_lake_meta *base, void *vctx, kiln_err *err)
{
    ff_ctx *c = vctx;
    const kiln_lake_ref *to = kiln_lake_meta_ref(base, c->to), *from = kiln_lake_meta_ref(base, c->from);
    if (!from)
        return kiln_err_set(err, KILN_ENOTFOUND, "no branch or tag %s", c->from);
    if (!to && strcmp(c->to, "main") != 0 && !c->publish)
        return kiln_err_set(err, KILN_ENOTFOUND, "no branch %s", c->to);
    if (to && to->type != KILN_LAKE_BRANCH)
        return kiln_err_set(err, KILN_EINVAL, "%s is a tag; only branches move", c->to);
    if (c->publish && (from->type != KILN_LAKE_BRANCH || strcmp(c->from, "main") == 0 || !strcmp(c->from, c->to)))
        return kiln_err_set(err, KILN_EINVAL, "publish: %s must be a branch other than main and %s", c->from, c->to);
    int64_t to_head = to ? to->snapshot_id : -1;
    if (to_head >= 0 && !kiln_lake_meta_is_ancestor(base, from->snapshot_id, to_head))
        return kiln_err_set(err, KILN_ECONFLICT,
                            "cannot fast-forward %s to %s: %s's head %" PRId64 " is not an ancestor of %" PRId64
                            " (the branches diverged)",
                            c->to, c->from, c->to, to_head, from->snapshot_id);
    kiln_lake_ref r = {c->to, KILN_LAKE_BRANCH, from->snapshot_id, -1, -1, -1};
    if (to) {
        r = *to;
        r.snapshot_id = from->snapshot_id;
    }
    int rc;
    if ((rc = kiln_lake_txn_require_ref_snapshot(txn, c->to, to_head, err)) != 0 ||
        (rc = kiln_lake_txn_require_ref_snapshot(txn, c->from, from->snapshot_id, err)) != 0)
        return rc;
    if (to_head != from->snapshot_id && (rc = kiln_lake_txn_set_ref(txn, &r, err)) != 0)
        return rc;
    if (c->publish)
        rc = kiln_lake_txn_remove_ref(txn, c->from, err);
    return rc;
}

int kiln_lake_fast_forward(kiln_lake_table *t, const char *to, const char *from, kiln_err *err)
{
    ff_ctx c = {to && *to ? to : "main", from, 0};
    if (!from)
        return kiln_err_set(err, KILN_EINVAL, "fast-forward needs a source branch");
    return run_op(t, build_ff, &c, err);
}

int kiln_lake_publish(kiln_lake_table *t, const char *to, const char *from, kiln_err *err)
{
    ff_ctx c = {to && *to ? to : "main", from, 1};
    if (!from)
        return kiln_err_set(err, KILN_EINVAL, "publish needs a source branch");
    return run_op(t, build_ff, &c, err);
}

typedef struct {
    const kiln_lake_kv *kv;
    size_t n;
} props_ctx;

static int build_props(kiln_lake_txn *txn, const kiln_lake_meta *base, void *vctx, kiln_err *err)
{
    (void)base;
    props_ctx *c = vctx;
    return kiln_lake_txn_set_properties(txn, c->kv, c->n, err);
}

int kiln_lake_set_properties(kiln_lake_table *t, const kiln_lake_kv *kv, size_t n, kiln_err *err)
{
    props_ctx c = {kv, n};
    return run_op(t, build_props, &c, err);
}

/* ------------------------------------------------------------ expire */

typedef struct {
    const kiln_lake_expire_opts *opts;
    int64_t now;
    KILN_VEC(int64_t) expired;
    KILN_VEC(const char *) dropped_refs;
} expire_ctx;

static int64_t prop_i64(const kiln_lake_meta *m, const char *key, int64_t dflt)
{
    const char *v = kiln_lake_meta_property(m, key);
    if (!v)
        return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end || x < 0 ? dflt : x;
}

static int build_expire(kiln_lake_txn *txn, const kiln_lake_meta *base, void *vctx, kiln_err *err)
{
    expire_ctx *c = vctx;
    const kiln_lake_expire_opts *o = c->opts;
    c->expired.len = 0;
    c->dropped_refs.len = 0;
    int64_t dflt_age = prop_i64(base, "history.expire.max-snapshot-age-ms", INT64_C(432000000));
    int64_t dflt_keep = prop_i64(base, "history.expire.min-snapshots-to-keep", 1);
    int64_t dflt_ref_age = prop_i64(base, "history.expire.max-ref-age-ms", INT64_MAX);
    int64_t cutoff = o && o->older_than_ms >= 0 ? o->older_than_ms : c->now - dflt_age;
    kiln_i64set *keep = kiln_i64set_new();
    int rc = 0;
    if (!keep)
        return KILN_OOM(err);
    for (size_t i = 0; i < base->nrefs && rc == 0; i++) {
        const kiln_lake_ref *r = &base->refs[i];
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(base, r->snapshot_id);
        int is_main = strcmp(r->name, "main") == 0;
        int64_t ref_age = r->max_ref_age_ms >= 0 ? r->max_ref_age_ms : dflt_ref_age;
        if (!is_main && s && ref_age != INT64_MAX && c->now - s->timestamp_ms > ref_age) {
            if ((rc = kiln_vec_push(&c->dropped_refs, r->name, err)) == 0)
                rc = kiln_lake_txn_remove_ref(txn, r->name, err);
            continue;
        }
        if ((rc = kiln_i64set_add(keep, r->snapshot_id, err)) < 0)
            break;
        rc = 0;
        if (r->type != KILN_LAKE_BRANCH)
            continue;
        int64_t min_keep = o && o->retain_last > 0         ? o->retain_last
                           : r->min_snapshots_to_keep >= 0 ? r->min_snapshots_to_keep
                                                           : dflt_keep;
        int64_t branch_cutoff = o && o->older_than_ms >= 0    ? o->older_than_ms
                                : r->max_snapshot_age_ms >= 0 ? c->now - r->max_snapshot_age_ms
                                                              : cutoff;
        int64_t id = r->snapshot_id, count = 0;
        size_t steps = 0;
        while (id >= 0 && steps++ <= base->nsnapshots) {
            const kiln_lake_snapshot *a = kiln_lake_meta_snapshot(base, id);
            if (!a)
                break;
            if (count >= min_keep && a->timestamp_ms < branch_cutoff)
                break;
            if ((rc = kiln_i64set_add(keep, id, err)) < 0)
                break;
            rc = 0;
            count++;
            id = a->parent_id;
        }
    }
    for (size_t i = 0; i < base->nsnapshots && rc == 0; i++) {
        const kiln_lake_snapshot *s = &base->snapshots[i];
        if (kiln_i64set_has(keep, s->snapshot_id))
            continue;
        /* off every kept branch path: expire when older than the cutoff */
        int on_branch_path = 0;
        for (size_t r = 0; r < base->nrefs && !on_branch_path; r++)
            on_branch_path = base->refs[r].type == KILN_LAKE_BRANCH &&
                             kiln_lake_meta_is_ancestor(base, base->refs[r].snapshot_id, s->snapshot_id);
        if (!on_branch_path && s->timestamp_ms >= cutoff)
            continue;
        rc = kiln_vec_push(&c->expired, s->snapshot_id, err);
    }
    kiln_i64set_free(keep);
    if (rc == 0 && c->expired.len)
        rc = kiln_lake_txn_remove_snapshots(txn, c->expired.items, c->expired.len, err);
    return rc;
}

int kiln_lake_expire(kiln_lake_table *t, const kiln_lake_expire_opts *opts, int64_t **expired_out, size_t *nexpired_out,
                     kiln_err *err)
{
    if (kiln_lake__refuse_registered_delete(t, "expire snapshots", err))
        return err->code;
    if (expired_out)
        *expired_out = NULL;
    if (nexpired_out)
        *nexpired_out = 0;
    expire_ctx c = {.opts = opts, .now = kiln_now_micros() / 1000};
    kiln_lake_meta *before = NULL;
    kiln_lake_txn *txn = NULL;
    int rc;
    if ((rc = kiln_lake_meta_clone(&before, kiln_lake_table_meta(t), err)) != 0)
        goto done;
    if (opts && opts->dry_run) {
        if ((rc = kiln_lake_txn_begin(&txn, t, err)) != 0 ||
            (rc = build_expire(txn, kiln_lake_table_meta(t), &c, err)) != 0)
            goto done;
        const kiln_lake_meta *after = NULL;
        if ((rc = kiln_lake_txn_preview(&after, txn, err)) != 0)
            goto done;
        if (opts->on_expired &&
            (rc = opts->on_expired(opts->ctx, before, after, c.expired.items, c.expired.len, 1, err)) != 0)
            goto done;
    } else {
        int any = 0;
        if ((rc = kiln_lake_txn_begin(&txn, t, err)) != 0 ||
            (rc = build_expire(txn, kiln_lake_table_meta(t), &c, err)) != 0)
            goto done;
        any = c.expired.len > 0 || c.dropped_refs.len > 0;
        if (any) {
            rebuild_ctx rctx = {build_expire, &c};
            kiln_lake_commit_opts copts = {.rebase = rebuild, .rebase_ctx = &rctx};
            /* before must be the base the commit replaced */
            if ((rc = kiln_lake_txn_commit(txn, &copts, NULL, err)) != 0)
                goto done;
        }
        const kiln_lake_meta *after = kiln_lake_table_meta(t);
        if (opts && opts->delete_manifest_lists) {
            for (size_t i = 0; i < c.expired.len; i++) {
                const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(before, c.expired.items[i]);
                if (!s || !s->manifest_list)
                    continue;
                int shared = 0;
                for (size_t j = 0; j < after->nsnapshots && !shared; j++)
                    shared = after->snapshots[j].manifest_list &&
                             strcmp(after->snapshots[j].manifest_list, s->manifest_list) == 0;
                char *path = NULL;
                kiln_err e2 = {0};
                /* only files inside this table's directory, never a
                 * relative or foreign path */
                const char *tdir = kiln_lake_table_dir(t);
                size_t tl = strlen(tdir);
                if (!shared && kiln_lake_uri_to_path(&path, s->manifest_list, &e2) == 0 &&
                    strncmp(path, tdir, tl) == 0 && path[tl] == '/' && !strstr(path + tl, "/../"))
                    kiln_lake__io_remove(path, &e2);
                kiln_free(path);
            }
        }
        if (opts && opts->on_expired &&
            (rc = opts->on_expired(opts->ctx, before, after, c.expired.items, c.expired.len, 0, err)) != 0)
            goto done;
    }
    if (expired_out && c.expired.len) {
        *expired_out = kiln_malloc(c.expired.len * sizeof(int64_t));
        if (!*expired_out) {
            rc = KILN_OOM(err);
            goto done;
        }
        memcpy(*expired_out, c.expired.items, c.expired.len * sizeof(int64_t));
    }
    if (nexpired_out)
        *nexpired_out = c.expired.len;
done:
    kiln_vec_free(&c.expired);
    kiln_vec_free(&c.dropped_refs);
    kiln_lake_txn_free(txn);
    kiln_lake_meta_free(before);
    return rc;
}
