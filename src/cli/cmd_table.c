/*
 * cmd_table.c - `kiln table`: Iceberg tables in a warehouse directory —
 * list, describe, snapshots, history, create, drop, alter, branch, tag,
 * fast-forward, rollback, expire (metadata) and, from cmd_table_data.c,
 * scan, files, remove-orphans, rewrite-manifests and the writes.
 *
 * Every subcommand is one row of table_subs[] (name, positionals, options;
 * src/cli/opt.h) and one function of type kiln_table_sub_fn in sub_fns[],
 * in the same order. The option tables drive parsing, help, completion and
 * the docs check (docs/cli/table.md).
 */
#include "table_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

int kiln_table_open(kiln_table_cli *cli, const char *name, kiln_lake_table **out)
{
    kiln_err err = {0};
    if (kiln_lake_table_load(out, cli->cat, name, &err) != 0)
        return kiln_cli_fail(&err);
    return 0;
}

int kiln_table_parse_time_ms(const char *s, int64_t *out, kiln_err *err)
{
    size_t n = strlen(s);
    int64_t v;
    char *end;
    if (n >= 2 && strchr("dhms", s[n - 1]) && s[0] >= '0' && s[0] <= '9') {
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s + n - 1 && errno == 0 && x >= 0) {
            int64_t unit = s[n - 1] == 'd' ? 86400000 : s[n - 1] == 'h' ? 3600000 : s[n - 1] == 'm' ? 60000 : 1000;
            *out = kiln_now_micros() / 1000 - x * unit;
            return 0;
        }
    }
    if (strncmp(s, "ms:", 3) == 0) {
        long long x = strtoll(s + 3, &end, 10);
        if (*end == 0 && end != s + 3) {
            *out = x;
            return 0;
        }
    }
    if (kiln_ts_parse(s, n, &v) == 0) {
        *out = v / 1000;
        return 0;
    }
    if (kiln_date_parse(s, n, &v) == 0) {
        *out = (v + 1) * 86400000 - 1;
        return 0;
    }
    return kiln_err_set(err, KILN_EINVAL, "bad time \"%s\" (2024-03-03T10:00:00Z, 2024-03-03, ms:N, or 7d/12h/30m)", s);
}

/* A non-negative integer option into *out (left as is when absent). */
static int opt_i64(const kiln_args *a, const char *name, int64_t *out)
{
    long long x = *out;
    int rc = kiln_opt_int(a, name, 0, (long long)(~0ULL >> 1), &x);
    *out = x;
    return rc;
}

static void fmt_ms(int64_t ms, char out[40]) { kiln_ts_format(ms * 1000, out); }

/* ------------------------------------------------------------ list */

typedef struct {
    int json, n;
} list_state;

static int list_cb(void *ctx, const char *name, const char *loc)
{
    list_state *s = ctx;
    if (s->json) {
        printf("%s{\"name\":", s->n ? "," : "");
        kiln_cli_json_str(stdout, name);
        printf(",\"metadata_location\":");
        kiln_cli_json_str(stdout, loc);
        printf("}");
    } else {
        printf("%s\t%s\n", name, loc);
    }
    s->n++;
    return 0;
}

static int ns_cb(void *ctx, const char *ns)
{
    list_state *s = ctx;
    if (s->json) {
        printf("%s", s->n ? "," : "");
        kiln_cli_json_str(stdout, ns);
    } else {
        printf("%s\n", ns);
    }
    s->n++;
    return 0;
}

static int sub_list(kiln_table_cli *cli, const kiln_args *a)
{
    list_state s = {kiln_opt_has(a, "--json"), 0};
    kiln_err err = {0};
    if (s.json)
        printf("[");
    else
        printf("name\tmetadata_location\n"); /* TSV: always a header line */
    int rc = kiln_lake_table_list(cli->cat, a->npos ? a->pos[0] : NULL, list_cb, &s, &err);
    if (s.json)
        printf("]\n");
    return rc ? kiln_cli_fail(&err) : 0;
}

static int sub_namespaces(kiln_table_cli *cli, const kiln_args *a)
{
    list_state s = {kiln_opt_has(a, "--json"), 0};
    kiln_err err = {0};
    if (s.json)
        printf("[");
    int rc = kiln_lake_namespace_list(cli->cat, ns_cb, &s, &err);
    if (s.json)
        printf("]\n");
    return rc ? kiln_cli_fail(&err) : 0;
}

/* ------------------------------------------------------------ describe */

static int sub_describe(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    if (kiln_opt_has(a, "--json")) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_err err = {0};
        if (kiln_lake_meta_write(m, 0, &b, &err) != 0) {
            kiln_buf_free(&b);
            kiln_lake_table_free(t);
            return kiln_cli_fail(&err);
        }
        printf("{\"name\":");
        kiln_cli_json_str(stdout, kiln_lake_table_name(t));
        printf(",\"metadata_location\":");
        kiln_cli_json_str(stdout, kiln_lake_table_metadata_location(t));
        printf(",\"version\":%d,\"metadata\":%s}\n", kiln_lake_table_version(t), b.data);
        kiln_buf_free(&b);
        kiln_lake_table_free(t);
        return 0;
    }
    char when[40], tb[1024];
    fmt_ms(m->last_updated_ms, when);
    printf("table           %s\n", kiln_lake_table_name(t));
    printf("uuid            %s\n", m->table_uuid ? m->table_uuid : "");
    printf("location        %s\n", m->location);
    printf("metadata        %s (v%d)\n", kiln_lake_table_metadata_location(t), kiln_lake_table_version(t));
    printf("format-version  %d\n", m->format_version);
    printf("last-updated    %s\n", when);
    printf("current         %" PRId64 "\n", m->current_snapshot_id);
    printf("snapshots       %zu (last sequence number %" PRId64 ")\n", m->nsnapshots, m->last_sequence_number);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    printf("\nschema %d (last column id %d)\n", s->schema_id, m->last_column_id);
    for (size_t i = 0; i < s->nfields; i++)
        printf("  %4d  %-24s %s%s\n", s->fields[i].id, s->fields[i].name,
               kiln_lake_type_str(s->fields[i].type, tb, sizeof tb), s->fields[i].required ? " not null" : "");
    const kiln_lake_spec *spec = kiln_lake_meta_default_spec(m);
    printf("\npartition spec %d%s\n", spec ? spec->spec_id : -1, spec && spec->nfields ? "" : " (unpartitioned)");
    for (size_t i = 0; spec && i < spec->nfields; i++) {
        const kiln_lake_field *src = kiln_lake_schema_field(s, spec->fields[i].source_id);
        printf("  %4d  %-24s %s(%s)\n", spec->fields[i].field_id, spec->fields[i].name, spec->fields[i].transform.text,
               src ? src->name : "?");
    }
    for (size_t i = 0; i < m->nsort_orders; i++)
        if (m->sort_orders[i].order_id == m->default_sort_order_id && m->sort_orders[i].nfields) {
            printf("\nsort order %d\n", m->sort_orders[i].order_id);
            for (size_t f = 0; f < m->sort_orders[i].nfields; f++) {
                const kiln_lake_sort_field *sf = &m->sort_orders[i].fields[f];
                const kiln_lake_field *src = kiln_lake_schema_field(s, sf->source_id);
                printf("  %s(%s) %s %s\n", sf->transform.text, src ? src->name : "?", sf->descending ? "desc" : "asc",
                       sf->nulls_first ? "nulls first" : "nulls last");
            }
        }
    if (m->nrefs) {
        printf("\nrefs\n");
        for (size_t i = 0; i < m->nrefs; i++)
            printf("  %-6s %-20s %" PRId64 "\n", m->refs[i].type == KILN_LAKE_TAG ? "tag" : "branch", m->refs[i].name,
                   m->refs[i].snapshot_id);
    }
    if (m->nproperties) {
        printf("\nproperties\n");
        for (size_t i = 0; i < m->nproperties; i++)
            printf("  %s = %s\n", m->properties[i].key, m->properties[i].value);
    }
    kiln_lake_table_free(t);
    return 0;
}

/* ------------------------------------------------------------ snapshots, history */

static int sub_snapshots(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int json = kiln_opt_has(a, "--json");
    if (json)
        printf("[");
    else
        printf("%-20s %-20s %5s %-27s %-10s %s\n", "snapshot_id", "parent_id", "seq", "committed_at", "operation",
               "summary");
    for (size_t i = 0; i < m->nsnapshots; i++) {
        const kiln_lake_snapshot *s = &m->snapshots[i];
        char when[40];
        fmt_ms(s->timestamp_ms, when);
        if (json) {
            printf("%s{\"snapshot_id\":%" PRId64 ",\"parent_id\":", i ? "," : "", s->snapshot_id);
            if (s->parent_id >= 0)
                printf("%" PRId64, s->parent_id);
            else
                printf("null");
            printf(",\"sequence_number\":%" PRId64 ",\"timestamp_ms\":%" PRId64 ",\"committed_at\":\"%s\","
                   "\"operation\":",
                   s->sequence_number, s->timestamp_ms, when);
            kiln_cli_json_str(stdout, s->operation);
            printf(",\"manifest_list\":");
            kiln_cli_json_str(stdout, s->manifest_list);
            printf(",\"current\":%s,\"summary\":{", s->snapshot_id == m->current_snapshot_id ? "true" : "false");
            for (size_t k = 0; k < s->nsummary; k++) {
                printf("%s", k ? "," : "");
                kiln_cli_json_str(stdout, s->summary[k].key);
                printf(":");
                kiln_cli_json_str(stdout, s->summary[k].value);
            }
            printf("}}");
        } else {
            char parent[24] = "-";
            if (s->parent_id >= 0)
                snprintf(parent, sizeof parent, "%" PRId64, s->parent_id);
            const char *added = kiln_lake_snapshot_summary(s, "added-records");
            const char *total = kiln_lake_snapshot_summary(s, "total-records");
            printf("%-20" PRId64 " %-20s %5" PRId64 " %-27s %-10s added-records=%s total-records=%s%s\n",
                   s->snapshot_id, parent, s->sequence_number, when, s->operation ? s->operation : "?",
                   added ? added : "-", total ? total : "-",
                   s->snapshot_id == m->current_snapshot_id ? " (current)" : "");
        }
    }
    if (json)
        printf("]\n");
    kiln_lake_table_free(t);
    return 0;
}

static int sub_history(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int json = kiln_opt_has(a, "--json");
    if (json)
        printf("[");
    else
        printf("%-27s %-20s %-20s %s\n", "made_current_at", "snapshot_id", "parent_id", "is_current_ancestor");
    for (size_t i = 0; i < m->nsnapshot_log; i++) {
        const kiln_lake_snaplog *l = &m->snapshot_log[i];
        const kiln_lake_snapshot *s = kiln_lake_meta_snapshot(m, l->snapshot_id);
        int anc = kiln_lake_meta_is_ancestor(m, m->current_snapshot_id, l->snapshot_id);
        char when[40], parent[24] = "null";
        fmt_ms(l->timestamp_ms, when);
        if (s && s->parent_id >= 0)
            snprintf(parent, sizeof parent, "%" PRId64, s->parent_id);
        if (json)
            printf("%s{\"made_current_at\":\"%s\",\"timestamp_ms\":%" PRId64 ",\"snapshot_id\":%" PRId64
                   ",\"parent_id\":%s,\"is_current_ancestor\":%s}",
                   i ? "," : "", when, l->timestamp_ms, l->snapshot_id, parent, anc ? "true" : "false");
        else
            printf("%-27s %-20" PRId64 " %-20s %s\n", when, l->snapshot_id, strcmp(parent, "null") ? parent : "-",
                   anc ? "true" : "false");
    }
    if (json)
        printf("]\n");
    kiln_lake_table_free(t);
    return 0;
}

/* ------------------------------------------------------------ create, drop */

static int split_kv(const kiln_args *a, const char *s, kiln_lake_kv *out, char **owned)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return kiln_opt_usage(a, "'%s': expected KEY=VALUE", s);
    *owned = kiln_strndup(s, (size_t)(eq - s));
    out->key = *owned;
    out->value = eq + 1;
    return 0;
}

static int sub_create(kiln_table_cli *cli, const kiln_args *a)
{
    int rc = 0;
    if (!kiln_opt_get(a, "--schema"))
        return kiln_opt_usage(a, "--schema is required, e.g. --schema 'id long not null, name string'");
    const char *props[32];
    int nprops = kiln_opt_values(a, "--property", props, 32);
    if (nprops > 32)
        return kiln_opt_usage(a, "at most 32 --property");
    kiln_lake_kv kv[32];
    char *owned[32] = {0};
    for (int i = 0; i < nprops; i++)
        if ((rc = split_kv(a, props[i], &kv[i], &owned[i])) != 0)
            goto done;
    kiln_lake_create_opts o = {.schema_ddl = kiln_opt_get(a, "--schema"),
                               .partition = kiln_opt_get(a, "--partition"),
                               .sort = kiln_opt_get(a, "--sort"),
                               .nproperties = (size_t)nprops,
                               .properties = kv};
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    if (kiln_lake_table_create(&t, cli->cat, a->pos[0], &o, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (kiln_opt_has(a, "--json")) {
        printf("{\"name\":");
        kiln_cli_json_str(stdout, kiln_lake_table_name(t));
        printf(",\"table_uuid\":\"%s\",\"metadata_location\":", kiln_lake_table_meta(t)->table_uuid);
        kiln_cli_json_str(stdout, kiln_lake_table_metadata_location(t));
        printf("}\n");
    } else {
        printf("created %s at %s\n", kiln_lake_table_name(t), kiln_lake_table_meta(t)->location);
    }
    kiln_lake_table_free(t);
done:
    for (int i = 0; i < 32; i++)
        kiln_free(owned[i]);
    return rc;
}

static int sub_drop(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_err err = {0};
    int purge = kiln_opt_has(a, "--purge");
    if (kiln_lake_table_drop(cli->cat, a->pos[0], purge, &err) != 0)
        return kiln_cli_fail(&err);
    if (kiln_opt_has(a, "--json")) {
        printf("{\"name\":");
        kiln_cli_json_str(stdout, a->pos[0]);
        printf(",\"dropped\":true,\"purged\":%s}\n", purge ? "true" : "false");
    } else {
        printf("dropped %s%s\n", a->pos[0], purge ? " (files deleted)" : "");
    }
    return 0;
}

/* ------------------------------------------------------------ register */

/* kiln table register NS.TABLE --metadata PATH [--remap FROM=TO]: a table
 * another engine wrote, added to the catalog (lake.h's
 * kiln_lake_table_register). */
static int sub_register(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_err err = {0};
    const char *meta = kiln_opt_get(a, "--metadata");
    const char *rv = kiln_opt_get(a, "--remap");
    if (!meta)
        return kiln_opt_usage(a, "which table metadata? (--metadata PATH: a metadata.json or the table's directory)");
    kiln_lake_remap remap = {0};
    char *owned = NULL;
    if (rv) {
        const char *eq = strchr(rv, '=');
        if (!eq || eq == rv)
            return kiln_opt_usage(a, "--remap %s: use FROM=TO", rv);
        if (!(owned = kiln_strdup(rv)))
            return kiln_cli_fail(&(kiln_err){.code = KILN_ENOMEM, .msg = "out of memory"});
        owned[eq - rv] = 0;
        remap.from = owned;
        remap.to = owned + (eq - rv) + 1;
    }
    int rc = kiln_lake_table_register(cli->cat, a->pos[0], meta, &remap, &err);
    kiln_free(owned);
    if (rc != 0)
        return kiln_cli_fail(&err);
    if (kiln_opt_has(a, "--json")) {
        printf("{\"name\":");
        kiln_cli_json_str(stdout, a->pos[0]);
        printf(",\"registered\":true}\n");
    } else {
        printf("registered %s\n", a->pos[0]);
    }
    return 0;
}

/* ------------------------------------------------------------ alter */

static int sub_alter(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    kiln_lake_txn *txn = NULL;
    kiln_err err = {0};
    char *owned[32] = {0};
    const char *vals[32];
    int nvals;
    if (a->nseen == kiln_opt_has(a, "--json"))
        return kiln_opt_usage(a, "nothing to change (--add-column, --rename-column, ...)");
    static const char *const repeatable[] = {"--add-column", "--rename-column", "--widen-column", "--set-property",
                                             "--remove-property"};
    for (size_t i = 0; i < sizeof repeatable / sizeof repeatable[0]; i++)
        if (kiln_opt_has(a, repeatable[i]) > 32)
            return kiln_opt_usage(a, "at most 32 %s in one alter", repeatable[i]);
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    if (kiln_lake_txn_begin(&txn, t, &err) != 0)
        goto fail;
    nvals = kiln_opt_values(a, "--add-column", vals, 32);
    for (int i = 0; i < nvals; i++) {
        const char *spec = vals[i];
        const char *sp = strpbrk(spec, " \t");
        if (!sp) {
            rc = kiln_opt_usage(a, "--add-column '%s': expected 'NAME TYPE'", spec);
            goto done;
        }
        char *path = kiln_strndup(spec, (size_t)(sp - spec));
        char *dot = strrchr(path, '.');
        const char *parent = NULL, *name = path;
        if (dot) {
            *dot = 0;
            parent = path;
            name = dot + 1;
        }
        while (*sp == ' ' || *sp == '\t')
            sp++;
        int r = kiln_lake_txn_add_column(txn, parent, name, sp, NULL, &err);
        kiln_free(path);
        if (r != 0)
            goto fail;
    }
    nvals = kiln_opt_values(a, "--rename-column", vals, 32);
    for (int i = 0; i < nvals; i++) {
        kiln_lake_kv kv;
        if ((rc = split_kv(a, vals[i], &kv, &owned[0])) != 0)
            goto done;
        int r = kiln_lake_txn_rename_column(txn, kv.key, kv.value, &err);
        kiln_free(owned[0]);
        owned[0] = NULL;
        if (r != 0)
            goto fail;
    }
    nvals = kiln_opt_values(a, "--widen-column", vals, 32);
    for (int i = 0; i < nvals; i++) {
        kiln_lake_kv kv;
        if ((rc = split_kv(a, vals[i], &kv, &owned[0])) != 0)
            goto done;
        int r = kiln_lake_txn_widen_column(txn, kv.key, kv.value, &err);
        kiln_free(owned[0]);
        owned[0] = NULL;
        if (r != 0)
            goto fail;
    }
    if (kiln_opt_get(a, "--partition")) {
        if (kiln_lake_txn_add_spec(txn, kiln_opt_get(a, "--partition"), &err) != 0 ||
            kiln_lake_txn_set_default_spec(txn, -1, &err) != 0)
            goto fail;
    }
    nvals = kiln_opt_values(a, "--set-property", vals, 32);
    kiln_lake_kv kv[32];
    for (int i = 0; i < nvals; i++)
        if ((rc = split_kv(a, vals[i], &kv[i], &owned[i])) != 0)
            goto done;
    if (nvals && kiln_lake_txn_set_properties(txn, kv, (size_t)nvals, &err) != 0)
        goto fail;
    nvals = kiln_opt_values(a, "--remove-property", vals, 32);
    if (nvals && kiln_lake_txn_remove_properties(txn, vals, (size_t)nvals, &err) != 0)
        goto fail;
    if (kiln_lake_txn_commit(txn, NULL, NULL, &err) != 0)
        goto fail;
    if (kiln_opt_has(a, "--json")) {
        printf("{\"name\":");
        kiln_cli_json_str(stdout, kiln_lake_table_name(t));
        printf(",\"version\":%d}\n", kiln_lake_table_version(t));
    } else {
        printf("altered %s (v%d)\n", kiln_lake_table_name(t), kiln_lake_table_version(t));
    }
    goto done;
fail:
    rc = kiln_cli_fail(&err);
done:
    for (int i = 0; i < 32; i++)
        kiln_free(owned[i]);
    kiln_lake_txn_free(txn);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ refs */

static void print_refs(const kiln_lake_meta *m, kiln_lake_ref_type type, int json)
{
    int n = 0;
    if (json)
        printf("[");
    for (size_t i = 0; i < m->nrefs; i++) {
        const kiln_lake_ref *r = &m->refs[i];
        if (r->type != type)
            continue;
        if (json) {
            printf("%s{\"name\":", n ? "," : "");
            kiln_cli_json_str(stdout, r->name);
            printf(",\"type\":\"%s\",\"snapshot_id\":%" PRId64, type == KILN_LAKE_TAG ? "tag" : "branch",
                   r->snapshot_id);
            if (r->min_snapshots_to_keep >= 0)
                printf(",\"min_snapshots_to_keep\":%" PRId64, r->min_snapshots_to_keep);
            if (r->max_snapshot_age_ms >= 0)
                printf(",\"max_snapshot_age_ms\":%" PRId64, r->max_snapshot_age_ms);
            if (r->max_ref_age_ms >= 0)
                printf(",\"max_ref_age_ms\":%" PRId64, r->max_ref_age_ms);
            printf("}");
        } else {
            printf("%-24s %" PRId64 "\n", r->name, r->snapshot_id);
        }
        n++;
    }
    if (json)
        printf("]\n");
}

static int sub_ref(kiln_table_cli *cli, const kiln_args *a, kiln_lake_ref_type type)
{
    const char *sub = type == KILN_LAKE_TAG ? "tag" : "branch";
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int json = kiln_opt_has(a, "--json");
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    const char *drop = kiln_opt_get(a, "--drop");
    if (drop) {
        const kiln_lake_ref *r = kiln_lake_meta_ref(m, drop);
        if (r && r->type != type) {
            rc = kiln_opt_usage(a, "%s is a %s, not a %s", drop, r->type == KILN_LAKE_TAG ? "tag" : "branch", sub);
            goto done;
        }
        if (kiln_lake_ref_drop(t, drop, &err) != 0)
            goto fail;
        if (json) {
            printf("{\"name\":");
            kiln_cli_json_str(stdout, drop);
            printf(",\"type\":\"%s\",\"dropped\":true}\n", sub);
        } else {
            printf("dropped %s %s\n", sub, drop);
        }
        goto done;
    }
    if (a->npos < 2) {
        print_refs(m, type, json);
        goto done;
    }
    kiln_lake_ref r = {a->pos[1], type, -1, -1, -1, -1};
    const char *snap = kiln_opt_get(a, "--snapshot");
    if (snap && kiln_lake_meta_resolve(m, snap, &r.snapshot_id, &err) != 0)
        goto fail;
    if ((rc = opt_i64(a, "--max-ref-age-ms", &r.max_ref_age_ms)))
        goto done;
    if (type == KILN_LAKE_BRANCH) {
        if ((rc = opt_i64(a, "--min-snapshots", &r.min_snapshots_to_keep)) ||
            (rc = opt_i64(a, "--max-snapshot-age-ms", &r.max_snapshot_age_ms)))
            goto done;
    }
    if (kiln_lake_ref_create(t, &r, &err) != 0)
        goto fail;
    const kiln_lake_ref *made = kiln_lake_meta_ref(kiln_lake_table_meta(t), a->pos[1]);
    if (json) {
        printf("{\"name\":");
        kiln_cli_json_str(stdout, a->pos[1]);
        printf(",\"type\":\"%s\",\"snapshot_id\":%" PRId64 "}\n", sub, made ? made->snapshot_id : -1);
    } else {
        printf("created %s %s at snapshot %" PRId64 "\n", sub, a->pos[1], made ? made->snapshot_id : -1);
    }
    goto done;
fail:
    rc = kiln_cli_fail(&err);
done:
    kiln_lake_table_free(t);
    return rc;
}

static int sub_branch(kiln_table_cli *cli, const kiln_args *a) { return sub_ref(cli, a, KILN_LAKE_BRANCH); }

static int sub_tag(kiln_table_cli *cli, const kiln_args *a) { return sub_ref(cli, a, KILN_LAKE_TAG); }

static int sub_fast_forward(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    const char *to = kiln_opt_get(a, "--to") ? kiln_opt_get(a, "--to") : "main";
    if (kiln_lake_fast_forward(t, to, a->pos[1], &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else {
        int64_t id = kiln_lake_meta_ref(kiln_lake_table_meta(t), to)->snapshot_id;
        if (kiln_opt_has(a, "--json")) {
            printf("{\"branch\":");
            kiln_cli_json_str(stdout, to);
            printf(",\"snapshot_id\":%" PRId64 ",\"from\":", id);
            kiln_cli_json_str(stdout, a->pos[1]);
            printf("}\n");
        } else {
            printf("%s is now at %" PRId64 " (%s's head)\n", to, id, a->pos[1]);
        }
    }
    kiln_lake_table_free(t);
    return rc;
}

static int sub_rollback(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int rc = kiln_table_open(cli, a->pos[0], &t);
    if (rc)
        return rc;
    int64_t id;
    if (kiln_lake_meta_resolve(kiln_lake_table_meta(t), a->pos[1], &id, &err) != 0 ||
        kiln_lake_rollback(t, id, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (kiln_opt_has(a, "--json")) {
        printf("{\"branch\":\"main\",\"snapshot_id\":%" PRId64 "}\n", id);
    } else {
        printf("main is now at %" PRId64 "\n", id);
    }
    kiln_lake_table_free(t);
    return rc;
}

static int sub_expire(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    kiln_lake_expire_opts o = {
        .older_than_ms = -1, .dry_run = kiln_opt_has(a, "--dry-run"), .delete_manifest_lists = 1};
    const char *v;
    if ((v = kiln_opt_get(a, "--older-than")) && kiln_table_parse_time_ms(v, &o.older_than_ms, &err) != 0)
        return kiln_opt_usage(a, "--older-than: %s", err.msg);
    long long retain = 0;
    int rc = kiln_opt_int(a, "--retain-last", 1, 1000000, &retain);
    if (rc)
        return rc;
    o.retain_last = (int)retain;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    int64_t *ids = NULL;
    size_t n = 0;
    size_t nfiles = 0;
    /* manifest lists, manifests and data files reachable only from the
     * expired snapshots are deleted (also files a compaction or MERGE
     * replaced once no retained snapshot reads them) */
    o.on_expired = kiln_lake_expire_delete_unreachable;
    o.ctx = &nfiles;
    o.delete_manifest_lists = 0;
    if (o.dry_run)
        o.delete_manifest_lists = 0;
    if (kiln_lake_expire(t, &o, &ids, &n, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (kiln_opt_has(a, "--json")) {
        printf("{\"dry_run\":%s,\"expired_snapshot_ids\":[", o.dry_run ? "true" : "false");
        for (size_t i = 0; i < n; i++)
            printf("%s%" PRId64, i ? "," : "", ids[i]);
        printf("],\"remaining_snapshots\":%zu,\"files_%s\":%zu}\n", kiln_lake_table_meta(t)->nsnapshots,
               o.dry_run ? "to_delete" : "deleted", nfiles);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s %" PRId64 "\n", o.dry_run ? "would expire" : "expired", ids[i]);
        printf("%zu snapshot(s) %s; %zu file(s) %s\n", n, o.dry_run ? "would be expired (dry run)" : "expired", nfiles,
               o.dry_run ? "would be deleted" : "deleted");
    }
done:
    kiln_free(ids);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ options and dispatch */

#define JSON_OPT(what)                                                                                                 \
    {                                                                                                                  \
        "--json", 'j', 0, NULL, what                                                                                   \
    }

static const kiln_opt list_opts[] = {JSON_OPT("a JSON array of {name, metadata_location}"), KILN_OPT_END};
static const kiln_opt namespaces_opts[] = {JSON_OPT("a JSON array of namespace names"), KILN_OPT_END};
static const kiln_opt describe_opts[] = {
    JSON_OPT("{name, metadata_location, version, metadata: the table's\nmetadata JSON}"), KILN_OPT_END};
static const kiln_opt snapshots_opts[] = {
    JSON_OPT("a JSON array of {snapshot_id, parent_id, sequence_number,\ntimestamp_ms, committed_at, operation, "
             "manifest_list,\ncurrent, summary}"),
    KILN_OPT_END};
static const kiln_opt history_opts[] = {
    JSON_OPT("a JSON array of {made_current_at, timestamp_ms, snapshot_id,\nparent_id, is_current_ancestor}"),
    KILN_OPT_END};
static const kiln_opt create_opts[] = {
    {"--schema", 0, KILN_OPT_VALUE, "DDL",
     "columns (required): 'id long not null, name string,\nts timestamptz, tags list<string>, m map<string,double>,\n"
     "s struct<a:int>, price decimal(9,2), key fixed[16]'"},
    {"--partition", 0, KILN_OPT_VALUE, "SPEC",
     "'day(ts), bucket(16, id), truncate(4, name), identity(x)'\n(also year, month, hour, void)"},
    {"--sort", 0, KILN_OPT_VALUE, "ORDER", "'ts desc nulls last, id'"},
    {"--property", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "K=V", "table property (repeatable)"},
    JSON_OPT("{name, table_uuid, metadata_location}"),
    KILN_OPT_END};
static const kiln_opt register_opts[] = {
    {"--metadata", 0, KILN_OPT_VALUE, "PATH",
     "the other engine's table: its metadata.json (path or file: URI)\nor its directory (required)"},
    {"--remap", 0, KILN_OPT_VALUE, "FROM=TO", "read stored paths starting with FROM under TO\n(kept in the catalog)"},
    JSON_OPT("{name, registered}"),
    KILN_OPT_END};
static const kiln_opt drop_opts[] = {{"--purge", 0, 0, NULL, "also delete the table's directory (data and metadata)"},
                                     JSON_OPT("{name, dropped, purged}"),
                                     KILN_OPT_END};
static const kiln_opt alter_opts[] = {
    {"--add-column", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "SPEC",
     "'NAME TYPE': a new optional column ('PARENT.NAME TYPE'\nin a struct)"},
    {"--rename-column", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "OLD=NEW",
     "rename by field id (data files are untouched)"},
    {"--widen-column", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "NAME=TYPE",
     "int->long, float->double, decimal(P,S)->decimal(P2,S)"},
    {"--partition", 0, KILN_OPT_VALUE, "SPEC", "a new default partition spec"},
    {"--set-property", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "K=V", "set a table property (repeatable)"},
    {"--remove-property", 0, KILN_OPT_VALUE | KILN_OPT_REPEAT, "K", "remove a table property (repeatable)"},
    JSON_OPT("{name, version}: the table's metadata version after the commit"),
    KILN_OPT_END};
static const kiln_opt branch_opts[] = {
    {"--snapshot", 0, KILN_OPT_VALUE, "REF", "snapshot id, ref name or time for the new branch\n(default main)"},
    {"--min-snapshots", 0, KILN_OPT_VALUE, "N", "retention: keep at least N snapshots"},
    {"--max-snapshot-age-ms", 0, KILN_OPT_VALUE, "MS", "retention: snapshot age limit"},
    {"--max-ref-age-ms", 0, KILN_OPT_VALUE, "MS", "drop the ref itself when older than this"},
    {"--drop", 0, KILN_OPT_VALUE, "NAME", "remove a branch"},
    JSON_OPT("list: a JSON array of {name, type, snapshot_id, retention\nfields when set}; create: {name, type, "
             "snapshot_id};\n--drop: {name, type, dropped}"),
    KILN_OPT_END};
static const kiln_opt tag_opts[] = {
    {"--snapshot", 0, KILN_OPT_VALUE, "REF", "snapshot id, ref name or time for the new tag\n(default main)"},
    {"--max-ref-age-ms", 0, KILN_OPT_VALUE, "MS", "drop the tag when older than this"},
    {"--drop", 0, KILN_OPT_VALUE, "NAME", "remove a tag"},
    JSON_OPT("as for branch"),
    KILN_OPT_END};
static const kiln_opt ff_opts[] = {{"--to", 0, KILN_OPT_VALUE, "TARGET", "branch to move (default main)"},
                                   JSON_OPT("{branch, snapshot_id, from}"),
                                   KILN_OPT_END};
static const kiln_opt rollback_opts[] = {JSON_OPT("{branch, snapshot_id}"), KILN_OPT_END};
static const kiln_opt expire_opts[] = {
    {"--older-than", 0, KILN_OPT_VALUE, "TIME",
     "expire snapshots older than TIME: ISO time, date, ms:N,\nor an age 7d / 12h / 30m (default: property or 5 days)"},
    {"--retain-last", 0, KILN_OPT_VALUE, "N", "keep at least N snapshots of each branch (default 1)"},
    {"--dry-run", 0, 0, NULL, "show what would be expired, change nothing"},
    JSON_OPT("{dry_run, expired_snapshot_ids, remaining_snapshots,\nfiles_deleted (files_to_delete with --dry-run)}"),
    KILN_OPT_END};

/* ------------------------------------------------------------ rewrite-data-files (maintenance) */

static const kiln_opt rewrite_data_opts[] = {
    {"--target-size", 0, KILN_OPT_VALUE, "SIZE",
     "target data file size: bytes or 64k / 128m / 1g (default:\nwrite.target-file-size-bytes, else 512m)"},
    {"--min-file-size", 0, KILN_OPT_VALUE, "SIZE", "files below this are rewritten (default 75% of target)"},
    {"--max-file-size", 0, KILN_OPT_VALUE, "SIZE", "files above this are rewritten (default 180% of target)"},
    {"--min-input-files", 0, KILN_OPT_VALUE, "N",
     "rewrite a partition once it has N such files (default 5;\nalso when they exceed the target, or have deletes)"},
    {"--rewrite-all", 0, 0, NULL, "rewrite every file of every selected partition"},
    {"--where", 0, KILN_OPT_VALUE, "PRED", "only files that may hold matching rows (as for scan)"},
    {"--sort", 0, 0, NULL, "sort each partition's rows by the table's sort order"},
    {"--sort-by", 0, KILN_OPT_VALUE, "ORDER", "sort by these columns: 'ts desc nulls last, id'"},
    {"--zorder", 0, KILN_OPT_VALUE, "COLS", "z-order by 2 to 4 columns: 'repo_id,created_at'"},
    {"--branch", 0, KILN_OPT_VALUE, "NAME", "rewrite this branch (default main)"},
    {"--max-rounds", 0, KILN_OPT_VALUE, "N",
     "partitions failed by a concurrent commit are planned and\nrewritten again, up to N rounds in all (default 3)"},
    {"--partial-progress", 0, KILN_OPT_VALUE, "on|off",
     "on: commit the partitions in up to --max-commits batches,\neach its own snapshot (a conflict fails only its "
     "batch);\noff: one snapshot for all (default)"},
    {"--max-commits", 0, KILN_OPT_VALUE, "N", "with --partial-progress on: at most N commits (default 10)"},
    {"--dry-run", 0, 0, NULL, "show what would be rewritten, write nothing"},
    JSON_OPT("{dry_run, snapshot_id, groups_total, groups_rewritten,\ngroups_failed, data_files_rewritten, "
             "data_files_added,\nbytes_rewritten, bytes_added, delete_files_removed,\nrows_read, rows_written, "
             "attempts, commits, failed_reason}"),
    KILN_OPT_END};

#define REWRITE_DATA_TEXT                                                                                              \
    "Compact data files (Iceberg's rewrite_data_files): in each partition, files\n"                                    \
    "smaller than --min-file-size (or larger than --max-file-size, or with\n"                                          \
    "delete files applying to them) are read with their position and equality\n"                                       \
    "deletes applied and written again as files of about --target-size; delete\n"                                      \
    "files that no longer apply to any data file are dropped. One snapshot with\n"                                     \
    "operation \"replace\"; the rows are the same. A concurrent commit that\n"                                         \
    "removed an input file fails only that partition (exit 6, the others commit);\n"                                   \
    "concurrent appends are kept. See docs/maintenance.md."

/* "123", "64k", "128m", "1g" -> bytes (> 0). */
static int parse_size(const kiln_args *a, const char *name, int64_t *out)
{
    const char *v = kiln_opt_get(a, name);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    int64_t mul = 1;
    if (*end && !end[1])
        mul = (*end == 'k' || *end == 'K')   ? 1 << 10
              : (*end == 'm' || *end == 'M') ? 1 << 20
              : (*end == 'g' || *end == 'G') ? 1 << 30
                                             : 0;
    else if (*end)
        mul = 0;
    if (end == v || errno || x <= 0 || mul == 0 || x > (INT64_MAX >> 31))
        return kiln_opt_usage(a, "%s %s: want a size in bytes, or with k, m or g (e.g. 128m)", name, v);
    *out = (int64_t)x * mul;
    return 0;
}

static int sub_rewrite_data(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_rewrite_data_opts o;
    memset(&o, 0, sizeof o);
    long long n = 0;
    int rc;
    if ((rc = parse_size(a, "--target-size", &o.target_file_bytes)) ||
        (rc = parse_size(a, "--min-file-size", &o.min_file_bytes)) ||
        (rc = parse_size(a, "--max-file-size", &o.max_file_bytes)) ||
        (rc = kiln_opt_int(a, "--min-input-files", 1, 1000000, &n)))
        return rc;
    o.min_input_files = (int)n;
    long long rounds = 0;
    if ((rc = kiln_opt_int(a, "--max-rounds", 1, 100, &rounds)))
        return rc;
    o.max_rounds = (int)rounds;
    const char *pp = kiln_opt_get(a, "--partial-progress");
    if (pp && strcmp(pp, "on") && strcmp(pp, "off"))
        return kiln_opt_usage(a, "--partial-progress %s: want on or off", pp);
    o.partial_progress = pp && !strcmp(pp, "on");
    long long mc = 0;
    if ((rc = kiln_opt_int(a, "--max-commits", 1, 100000, &mc)))
        return rc;
    if (mc && !o.partial_progress)
        return kiln_opt_usage(a, "--max-commits needs --partial-progress on");
    o.max_commits = (int)mc;
    o.rewrite_all = kiln_opt_has(a, "--rewrite-all") > 0;
    o.where = kiln_opt_get(a, "--where");
    o.sort_by = kiln_opt_get(a, "--sort-by");
    o.sort_table_order = kiln_opt_has(a, "--sort") > 0;
    o.zorder = kiln_opt_get(a, "--zorder");
    o.branch = kiln_opt_get(a, "--branch");
    o.dry_run = kiln_opt_has(a, "--dry-run") > 0;
    if ((o.sort_by != NULL) + o.sort_table_order + (o.zorder != NULL) > 1)
        return kiln_opt_usage(a, "--sort, --sort-by and --zorder: give one");
    kiln_lake_table *t = NULL;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    kiln_err err = {0};
    kiln_lake_rewrite_data_result r;
    if (kiln_lake_rewrite_data_files(t, &o, &r, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (kiln_opt_has(a, "--json")) {
        kiln_buf reason;
        kiln_buf_init(&reason, 0);
        kiln_json_write_str(&reason, r.failed_reason, strlen(r.failed_reason), &err);
        printf("{\"dry_run\":%s,\"snapshot_id\":%" PRId64 ",\"groups_total\":%" PRId64 ",\"groups_rewritten\":%" PRId64
               ",\"groups_failed\":%" PRId64 ",\"data_files_rewritten\":%" PRId64 ",\"data_files_added\":%" PRId64
               ",\"bytes_rewritten\":%" PRId64 ",\"bytes_added\":%" PRId64 ",\"delete_files_removed\":%" PRId64
               ",\"rows_read\":%" PRId64 ",\"rows_written\":%" PRId64 ",\"attempts\":%d,\"commits\":%" PRId64
               ",\"failed_reason\":%s}\n",
               o.dry_run ? "true" : "false", r.snapshot_id, r.groups_total, r.groups_rewritten, r.groups_failed,
               r.data_files_rewritten, r.data_files_added, r.bytes_rewritten, r.bytes_added, r.delete_files_removed,
               r.rows_read, r.rows_written, r.attempts, r.commits, reason.len ? reason.data : "\"\"");
        kiln_buf_free(&reason);
    } else if (o.dry_run) {
        printf("dry run: would rewrite %" PRId64 " data file(s), %" PRId64 " bytes, %" PRId64 " rows in %" PRId64
               " of %" PRId64 " partition(s); %" PRId64 " delete file(s) would be removed\n",
               r.data_files_rewritten, r.bytes_rewritten, r.rows_read, r.groups_rewritten, r.groups_total,
               r.delete_files_removed);
    } else if (r.snapshot_id < 0) {
        printf("nothing to rewrite in %" PRId64 " partition(s), no snapshot\n", r.groups_total);
    } else {
        printf("rewrote %" PRId64 " data file(s) (%" PRId64 " bytes, %" PRId64 " rows) into %" PRId64 " (%" PRId64
               " bytes, %" PRId64 " rows) in %" PRId64 " partition(s); removed %" PRId64
               " delete file(s); snapshot %" PRId64 "%s\n",
               r.data_files_rewritten, r.bytes_rewritten, r.rows_read, r.data_files_added, r.bytes_added,
               r.rows_written, r.groups_rewritten, r.delete_files_removed, r.snapshot_id,
               r.commits > 1 ? " (the last of several commits)" : "");
    }
    if (!rc && r.groups_failed > 0) {
        fprintf(stderr, "kiln: warning table rewrite-data-files: %" PRId64 " partition(s) not rewritten: %s\n",
                r.groups_failed, r.failed_reason);
        rc = KILN_EXIT_PARTIAL;
    }
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ rewrite-position-delete-files (maintenance) */

static const kiln_opt rewrite_posdel_opts[] = {
    {"--branch", 0, KILN_OPT_VALUE, "NAME", "rewrite this branch (default main)"},
    {"--dry-run", 0, 0, NULL, "show what would be rewritten, write nothing"},
    JSON_OPT("{dry_run, snapshot_id, partitions,\nrewritten_delete_files_count, added_delete_files_count,\n"
             "rewritten_bytes_count, added_bytes_count, deletes_read,\ndeletes_written}"),
    KILN_OPT_END};

#define REWRITE_POSDEL_TEXT                                                                                            \
    "Rewrite position delete files (Iceberg's rewrite_position_delete_files):\n"                                       \
    "the Parquet position delete files of each partition become one, sorted by\n"                                      \
    "file and position, without the entries that name data files no longer\n"                                          \
    "live. A partition is rewritten when it has two or more such files or\n"                                           \
    "entries to drop. One snapshot with operation \"replace\"; the rows read are\n"                                    \
    "the same. See docs/maintenance.md."

static int sub_rewrite_posdel(kiln_table_cli *cli, const kiln_args *a)
{
    kiln_lake_rewrite_posdel_opts o;
    memset(&o, 0, sizeof o);
    o.branch = kiln_opt_get(a, "--branch");
    o.dry_run = kiln_opt_has(a, "--dry-run") > 0;
    kiln_lake_table *t = NULL;
    int rc;
    if ((rc = kiln_table_open(cli, a->pos[0], &t)))
        return rc;
    kiln_err err = {0};
    kiln_lake_rewrite_posdel_result r;
    if (kiln_lake_rewrite_position_delete_files(t, &o, &r, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else if (kiln_opt_has(a, "--json")) {
        printf("{\"dry_run\":%s,\"snapshot_id\":%" PRId64 ",\"partitions\":%" PRId64
               ",\"rewritten_delete_files_count\":%" PRId64 ",\"added_delete_files_count\":%" PRId64
               ",\"rewritten_bytes_count\":%" PRId64 ",\"added_bytes_count\":%" PRId64 ",\"deletes_read\":%" PRId64
               ",\"deletes_written\":%" PRId64 "}\n",
               o.dry_run ? "true" : "false", r.snapshot_id, r.partitions, r.delete_files_rewritten,
               r.delete_files_added, r.bytes_rewritten, r.bytes_added, r.deletes_read, r.deletes_written);
    } else if (o.dry_run) {
        printf("dry run: would rewrite %" PRId64 " position delete file(s), %" PRId64 " bytes, %" PRId64
               " entries in %" PRId64 " partition(s) into %" PRId64 " file(s) of %" PRId64 " entries\n",
               r.delete_files_rewritten, r.bytes_rewritten, r.deletes_read, r.partitions, r.delete_files_added,
               r.deletes_written);
    } else if (r.snapshot_id < 0) {
        printf("no position delete files to rewrite, no snapshot\n");
    } else {
        printf("rewrote %" PRId64 " position delete file(s) (%" PRId64 " bytes, %" PRId64 " entries) into %" PRId64
               " (%" PRId64 " bytes, %" PRId64 " entries) in %" PRId64 " partition(s); snapshot %" PRId64 "\n",
               r.delete_files_rewritten, r.bytes_rewritten, r.deletes_read, r.delete_files_added, r.bytes_added,
               r.deletes_written, r.partitions, r.snapshot_id);
    }
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ maintain */

static const kiln_opt maintain_opts[] = {
    {"--all", 0, 0, NULL, "every table of the warehouse"},
    {"--dry-run", 0, 0, NULL, "say what is due and why, change nothing"},
    JSON_OPT("one object per table: {table, dry_run, compact, expire,\nremove_orphans}, each step {status, why, ...}"),
    KILN_OPT_END};

#define MAINTAIN_TEXT                                                                                                  \
    "Run what the table's maintenance policy (table properties) says is due:\n"                                        \
    "compaction of small files and files with deletes (rewrite-data-files),\n"                                         \
    "expiry of snapshots past history.expire.max-snapshot-age-ms (keeping\n"                                           \
    "history.expire.min-snapshots-to-keep), and removal of orphan files older\n"                                       \
    "than kiln.maintain.remove-orphans.older-than-ms (3 days). Prints each\n"                                          \
    "step's status (done, due, not due, disabled, failed) and why.\n"                                                  \
    "See docs/maintenance.md for every property."

static const char *maint_status_name(kiln_lake_maint_status s, int dry)
{
    switch (s) {
    case KILN_LAKE_MAINT_NOT_DUE: return "not due";
    case KILN_LAKE_MAINT_DUE: return dry ? "due" : "due";
    case KILN_LAKE_MAINT_DONE: return "done";
    case KILN_LAKE_MAINT_DISABLED: return "disabled";
    default: return "failed";
    }
}

static void json_str(kiln_buf *b, const char *s)
{
    kiln_err e = {0};
    kiln_json_write_str(b, s, strlen(s), &e);
}

static void stats_json(kiln_buf *b, const char *key, const kiln_lake_file_stats *st)
{
    kiln_err e = {0};
    kiln_buf_printf(b, &e,
                    ",\"%s\":{\"data_files\":%" PRId64 ",\"small_files\":%" PRId64 ",\"delete_files\":%" PRId64
                    ",\"data_bytes\":%" PRId64 ",\"delete_bytes\":%" PRId64 ",\"records\":%" PRId64
                    ",\"snapshots\":%" PRId64 ",\"last_compaction_ms\":%" PRId64 "}",
                    key, st->data_files, st->small_files, st->delete_files, st->data_bytes, st->delete_bytes,
                    st->records, st->snapshots, st->last_compaction_ms);
}

static void print_maintain(const char *name, const kiln_lake_maintain_result *r, int dry, int json)
{
    if (json) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_err e = {0};
        kiln_buf_printf(&b, &e, "{\"table\":");
        json_str(&b, name);
        kiln_buf_printf(&b, &e, ",\"dry_run\":%s,\"compact\":{\"status\":", dry ? "true" : "false");
        json_str(&b, maint_status_name(r->compact_status, dry));
        kiln_buf_printf(&b, &e, ",\"why\":");
        json_str(&b, r->compact_why);
        kiln_buf_printf(&b, &e,
                        ",\"snapshot_id\":%" PRId64 ",\"data_files_rewritten\":%" PRId64
                        ",\"data_files_added\":%" PRId64 ",\"delete_files_removed\":%" PRId64
                        "},\"expire\":{\"status\":",
                        r->rewrite.snapshot_id, r->rewrite.data_files_rewritten, r->rewrite.data_files_added,
                        r->rewrite.delete_files_removed);
        json_str(&b, maint_status_name(r->expire_status, dry));
        kiln_buf_printf(&b, &e, ",\"why\":");
        json_str(&b, r->expire_why);
        kiln_buf_printf(
            &b, &e, ",\"snapshots_expired\":%" PRId64 ",\"files_deleted\":%" PRId64 "},\"remove_orphans\":{\"status\":",
            r->snapshots_expired, r->expired_files_deleted);
        json_str(&b, maint_status_name(r->orphans_status, dry));
        kiln_buf_printf(&b, &e, ",\"why\":");
        json_str(&b, r->orphans_why);
        kiln_buf_printf(&b, &e, ",\"files\":%" PRId64 ",\"bytes\":%" PRId64 "}", r->orphans_removed, r->orphan_bytes);
        stats_json(&b, "files_before", &r->before);
        stats_json(&b, "files_after", &r->after);
        kiln_buf_printf(&b, &e, "}");
        printf("%s\n", b.data ? b.data : "{}");
        kiln_buf_free(&b);
        return;
    }
    char when[40] = "never";
    if (r->after.last_compaction_ms >= 0)
        fmt_ms(r->after.last_compaction_ms, when);
    printf("%s files: %" PRId64 " data (%" PRId64 " small), %" PRId64 " delete, %" PRId64 " bytes -> %" PRId64
           " data (%" PRId64 " small), %" PRId64 " delete, %" PRId64 " bytes; last compaction %s\n",
           name, r->before.data_files, r->before.small_files, r->before.delete_files,
           r->before.data_bytes + r->before.delete_bytes, r->after.data_files, r->after.small_files,
           r->after.delete_files, r->after.data_bytes + r->after.delete_bytes, when);
    printf("%s compact: %s: %s", name, maint_status_name(r->compact_status, dry), r->compact_why);
    if (r->compact_status == KILN_LAKE_MAINT_DONE)
        printf("; rewrote %" PRId64 " data file(s) into %" PRId64 ", removed %" PRId64
               " delete file(s), snapshot %" PRId64,
               r->rewrite.data_files_rewritten, r->rewrite.data_files_added, r->rewrite.delete_files_removed,
               r->rewrite.snapshot_id);
    printf("\n%s expire: %s: %s", name, maint_status_name(r->expire_status, dry), r->expire_why);
    if (r->expire_status == KILN_LAKE_MAINT_DONE)
        printf("; expired %" PRId64 " snapshot(s), deleted %" PRId64 " file(s)", r->snapshots_expired,
               r->expired_files_deleted);
    printf("\n%s remove-orphans: %s: %s", name, maint_status_name(r->orphans_status, dry), r->orphans_why);
    if (r->orphans_status == KILN_LAKE_MAINT_DONE)
        printf("; deleted %" PRId64 " file(s), %" PRId64 " bytes", r->orphans_removed, r->orphan_bytes);
    printf("\n");
}

typedef struct name_list {
    KILN_VEC(char *) names;
} name_list;

static int collect_name(void *ctx, const char *name, const char *metadata_location)
{
    (void)metadata_location;
    name_list *l = ctx;
    kiln_err e = {0};
    char *dup = kiln_sprintf("%s", name);
    if (!dup)
        return KILN_ENOMEM;
    if (kiln_vec_push(&l->names, dup, &e)) {
        kiln_free(dup);
        return e.code;
    }
    return 0;
}

static int sub_maintain(kiln_table_cli *cli, const kiln_args *a)
{
    int all = kiln_opt_has(a, "--all") > 0;
    if (all == (a->npos == 1))
        return kiln_opt_usage(a, "give TABLE or --all");
    kiln_lake_maintain_opts o = {kiln_opt_has(a, "--dry-run") > 0, 0};
    int json = kiln_opt_has(a, "--json") > 0;
    name_list l = {0};
    kiln_err err = {0};
    int rc = 0;
    if (all) {
        if (kiln_lake_table_list(cli->cat, NULL, collect_name, &l, &err) != 0) {
            rc = kiln_cli_fail(&err);
            goto done;
        }
    } else {
        char *dup = kiln_sprintf("%s", a->pos[0]);
        if (!dup || kiln_vec_push(&l.names, dup, &err)) {
            kiln_free(dup);
            rc = KILN_EXIT_FAIL;
            goto done;
        }
    }
    size_t failed = 0;
    int first_exit = 0;
    for (size_t i = 0; i < l.names.len; i++) {
        kiln_lake_table *t = NULL;
        int trc = kiln_table_open(cli, l.names.items[i], &t);
        if (trc) {
            failed++;
            first_exit = first_exit ? first_exit : trc;
            continue;
        }
        kiln_lake_maintain_result r;
        kiln_err e = {0};
        int mrc = kiln_lake_maintain(t, &o, &r, &e);
        print_maintain(l.names.items[i], &r, o.dry_run, json);
        if (mrc) {
            failed++;
            trc = kiln_cli_fail(&e);
            first_exit = first_exit ? first_exit : trc;
        }
        kiln_lake_table_free(t);
    }
    if (failed)
        rc = (all && failed < l.names.len) ? KILN_EXIT_PARTIAL : first_exit;
done:
    for (size_t i = 0; i < l.names.len; i++)
        kiln_free(l.names.items[i]);
    kiln_vec_free(&l.names);
    return rc;
}

#define REF_TEXT                                                                                                       \
    "REF / TIME: a snapshot id, a branch or tag name, 2024-03-03T10:00:00Z,\n"                                         \
    "2024-03-03 (end of that day, UTC) or ms:<epoch milliseconds>."

static const kiln_subcmd table_subs[] = {
    {"list", "[NAMESPACE]", 0, 1, "tables (and their metadata files)", NULL, list_opts},
    {"namespaces", NULL, 0, 0, "namespaces", NULL, namespaces_opts},
    {"describe", "TABLE", 1, 1, "schema, partitioning, sort order, refs, properties", NULL, describe_opts},
    {"snapshots", "TABLE", 1, 1, "every snapshot with its summary", NULL, snapshots_opts},
    {"history", "TABLE", 1, 1, "when each snapshot became current", NULL, history_opts},
    {"create", "TABLE", 1, 1, "create a table (--schema)", NULL, create_opts},
    {"drop", "TABLE", 1, 1, "remove from the catalog (--purge: and its files)", NULL, drop_opts},
    {"alter", "TABLE", 1, 1, "schema, partitioning and property changes in one commit", NULL, alter_opts},
    {"branch", "TABLE [NAME]", 1, 2, "list branches, or create NAME (--drop NAME removes one)", REF_TEXT, branch_opts},
    {"tag", "TABLE [NAME]", 1, 2, "list tags, or create NAME (--drop NAME removes one)", REF_TEXT, tag_opts},
    {"fast-forward", "TABLE BRANCH", 2, 2, "move TARGET (default main) to BRANCH's head", NULL, ff_opts},
    {"rollback", "TABLE REF", 2, 2, "main back to an ancestor (id, tag, time)", REF_TEXT, rollback_opts},
    {"expire", "TABLE", 1, 1, "expire old snapshots and delete the files only they used", REF_TEXT, expire_opts},
    {"scan", "[TABLE]", 0, 1, "rows (CSV with a header, or NDJSON)", KILN_TABLE_SCAN_TEXT, kiln_table_scan_opts},
    {"files", "TABLE", 1, 1, "data and delete files of a snapshot", KILN_TABLE_FILES_TEXT, kiln_table_files_opts},
    {"remove-orphans", "TABLE", 1, 1, "delete files no snapshot references", KILN_TABLE_ORPHANS_TEXT,
     kiln_table_orphans_opts},
    {"rewrite-manifests", "TABLE", 1, 1, "compact small manifests (one commit)", KILN_TABLE_REWRITE_TEXT,
     kiln_table_rewrite_opts},
    {"append", "TABLE", 1, 1, "add NDJSON rows (one commit)", KILN_TABLE_WRITE_TEXT, kiln_table_append_opts},
    {"overwrite", "TABLE", 1, 1, "replace the partitions NDJSON rows fall in (one commit)", KILN_TABLE_WRITE_TEXT,
     kiln_table_append_opts},
    {"merge", "TABLE", 1, 1, "upsert NDJSON rows by key columns (one commit)", KILN_TABLE_WRITE_TEXT,
     kiln_table_merge_opts},
    {"delete", "TABLE", 1, 1, "delete the rows matching --where (one commit)", KILN_TABLE_WRITE_TEXT,
     kiln_table_delete_opts},
    /* maintenance (docs/maintenance.md) */
    {"rewrite-data-files", "TABLE", 1, 1, "compact small data files, applying deletes (one commit)", REWRITE_DATA_TEXT,
     rewrite_data_opts},
    {"rewrite-position-delete-files", "TABLE", 1, 1, "merge each partition's position delete files (one commit)",
     REWRITE_POSDEL_TEXT, rewrite_posdel_opts},
    {"maintain", "[TABLE]", 0, 1, "run the compaction, expiry and orphan removal that are due", MAINTAIN_TEXT,
     maintain_opts},
    {"register", "TABLE", 1, 1, "add a table another engine wrote (read-only; docs/interop.md)", NULL, register_opts},
};

/* In the order of table_subs. */
static const kiln_table_sub_fn sub_fns[] = {
    sub_list,
    sub_namespaces,
    sub_describe,
    sub_snapshots,
    sub_history,
    sub_create,
    sub_drop,
    sub_alter,
    sub_branch,
    sub_tag,
    sub_fast_forward,
    sub_rollback,
    sub_expire,
    kiln_table_cmd_scan,
    kiln_table_cmd_files,
    kiln_table_cmd_remove_orphans,
    kiln_table_cmd_rewrite_manifests,
    kiln_table_cmd_append,
    kiln_table_cmd_overwrite,
    kiln_table_cmd_merge,
    kiln_table_cmd_delete,
    /* maintenance */
    sub_rewrite_data,
    sub_rewrite_posdel,
    sub_maintain,
    sub_register,
};

_Static_assert(sizeof sub_fns / sizeof sub_fns[0] == sizeof table_subs / sizeof table_subs[0],
               "one function per subcommand");

static const kiln_opt table_opts[] = {
    {"--catalog", 0, KILN_OPT_VALUE, "KIND", "sqlite (default; DIR/catalog.db) or hadoop (directories only)"},
    KILN_OPT_END};

static const kiln_cmdspec table_spec = {
    .name = "table",
    .text = "Apache Iceberg (format v2) tables in a warehouse directory (--warehouse).\n"
            "TABLE is namespace.table. Tables live in DIR/<namespace>/<table>/ with\n"
            "metadata/ (vN.metadata.json + version-hint.text, readable by any engine as\n"
            "a Hadoop table) and data/.",
    .opts = table_opts,
    .subs = table_subs,
    .nsubs = (int)(sizeof table_subs / sizeof table_subs[0]),
    .footer = "exit codes: 0 ok, 1 failed, 2 usage, 4 warehouse/table/snapshot/file not found,\n"
              "5 conflict (a concurrent commit won and this one could not be rebased)\n",
};

static int run_table(int argc, char **argv)
{
    kiln_args a;
    if (kiln_opt_parse(&a, &table_spec, argc, argv))
        return a.exit;
    const kiln_subcmd *sub = a.sub;
    kiln_table_cli cli = {.kind = KILN_LAKE_CATALOG_SQLITE};
    const char *kind = kiln_opt_get(&a, "--catalog");
    if (kind && strcmp(kind, "sqlite") == 0)
        cli.kind = KILN_LAKE_CATALOG_SQLITE;
    else if (kind && strcmp(kind, "hadoop") == 0)
        cli.kind = KILN_LAKE_CATALOG_HADOOP;
    else if (kind)
        return kiln_opt_usage(&a, "--catalog %s: use sqlite or hadoop", kind);
    cli.warehouse = kiln_cli_warehouse() ? kiln_cli_warehouse() : "warehouse";
    kiln_err err = {0};
    kiln_debug("warehouse %s, %s catalog", cli.warehouse, cli.kind == KILN_LAKE_CATALOG_HADOOP ? "hadoop" : "sqlite");
    /* subcommands that only read create nothing: a missing warehouse is "not found" */
    static const char *const readers[] = {"list", "namespaces", "describe", "snapshots", "history", "scan", "files"};
    kiln_lake_open_mode mode = KILN_LAKE_OPEN_CREATE;
    for (size_t k = 0; k < sizeof readers / sizeof readers[0]; k++)
        if (strcmp(sub->name, readers[k]) == 0)
            mode = KILN_LAKE_OPEN_READONLY;
    if (kiln_lake_catalog_open_mode(&cli.cat, cli.warehouse, cli.kind, mode, &err) != 0)
        return kiln_cli_fail(&err);
    int rc = sub_fns[sub - table_subs](&cli, &a);
    kiln_lake_catalog_free(cli.cat);
    return rc;
}

KILN_COMMAND(cmd_table, "table", "Iceberg tables: list, describe, snapshots, branches, rollback, expire, scan, write",
             NULL, run_table, 40, NULL, 0, &table_spec)
