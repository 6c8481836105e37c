/*
 * cmd_table.c - `kiln table`: Iceberg tables in a warehouse directory —
 * list, describe, snapshots, history, create, drop, alter, branch, tag,
 * fast-forward, rollback, expire (metadata; lake-meta) and scan, files,
 * remove-orphans (data; lake-data).
 *
 * ADDING A SUBCOMMAND (lake-data, read this): every subcommand is one row of
 * SUBS[] below: {name, function, usage line}. The function has the type
 * kiln_table_sub_fn from src/cli/table_cli.h and gets the opened catalog
 * plus its own argv (argv[0] = the subcommand name); it returns an exit
 * code. scan, files, remove-orphans, append, overwrite, merge and delete
 * already have rows pointing at the weak symbols kiln_table_cmd_<name>
 * declared in table_cli.h: define those functions in your own
 * src/cli/cmd_table_data.c and they are live, no edit here needed.
 * `kiln table help NAME` calls NAME's function with argv {NAME, "--help"}
 * (main.c passes `kiln table NAME --help` through to NAME: own_help). To add another one, add a row
 * and a line to `usage` and docs/cli/table.md (a test checks every --flag
 * of `kiln table --help` is documented there).
 */
#include "table_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: kiln table [--warehouse DIR] [--catalog sqlite|hadoop] SUBCOMMAND [ARGS]\n"
    "\n"
    "Apache Iceberg (format v2) tables in a warehouse directory. TABLE is\n"
    "namespace.table. Tables live in DIR/<namespace>/<table>/ with metadata/\n"
    "(vN.metadata.json + version-hint.text, readable by any engine as a\n"
    "Hadoop table) and data/.\n"
    "\n"
    "subcommands:\n"
    "  list [NAMESPACE] [--json]                 tables (and their metadata files)\n"
    "  namespaces [--json]                       namespaces\n"
    "  describe TABLE [--json]                   schema, partitioning, refs, properties\n"
    "  snapshots TABLE [--json]                  every snapshot with its summary\n"
    "  history TABLE [--json]                    when each snapshot became current\n"
    "  create TABLE --schema DDL [--partition SPEC] [--sort ORDER]\n"
    "         [--property K=V]... [--json]\n"
    "  drop TABLE [--purge]                      remove from the catalog (--purge: and its files)\n"
    "  alter TABLE [--add-column 'NAME TYPE'] [--rename-column OLD=NEW]\n"
    "         [--widen-column NAME=TYPE] [--partition SPEC]\n"
    "         [--set-property K=V] [--remove-property K]   (one commit)\n"
    "  branch TABLE [NAME [--snapshot REF] [--min-snapshots N]\n"
    "         [--max-snapshot-age-ms MS] [--max-ref-age-ms MS]] [--drop NAME] [--json]\n"
    "  tag TABLE [NAME [--snapshot REF] [--max-ref-age-ms MS]] [--drop NAME] [--json]\n"
    "  fast-forward TABLE BRANCH [--to TARGET]   move TARGET (default main) to BRANCH's head\n"
    "  rollback TABLE REF                        main back to an ancestor (id, tag, time)\n"
    "  expire TABLE [--older-than TIME] [--retain-last N] [--dry-run] [--json]\n"
    "  scan TABLE ...                            rows (CSV or NDJSON)\n"
    "  files TABLE ...                           data and delete files of a snapshot\n"
    "  remove-orphans TABLE ...                  delete files no snapshot references\n"
    "  rewrite-manifests TABLE ...               compact small manifests (one commit)\n"
    "  append | overwrite | merge | delete TABLE ...   write rows (one commit each)\n"
    "  help SUBCOMMAND                           the options of scan, files, append, ...\n"
    "\n"
    "options:\n"
    "  --warehouse DIR    warehouse directory (default $KILN_WAREHOUSE, else ./warehouse)\n"
    "  --catalog KIND     sqlite (default; DIR/catalog.db) or hadoop (directories only)\n"
    "  --json             print data as JSON\n"
    "  --schema DDL       columns: 'id long not null, name string, ts timestamptz,\n"
    "                     tags list<string>, m map<string,double>, s struct<a:int>,\n"
    "                     price decimal(9,2), key fixed[16]'\n"
    "  --partition SPEC   'day(ts), bucket(16, id), truncate(4, name), identity(x)'\n"
    "                     (also year, month, hour, void)\n"
    "  --sort ORDER       'ts desc nulls last, id'\n"
    "  --property K=V     table property (repeatable)\n"
    "  --purge            drop also deletes the table's directory\n"
    "  --add-column SPEC  'NAME TYPE' (new optional column; 'PARENT.NAME TYPE' in a struct)\n"
    "  --rename-column OLD=NEW    rename by field id (data files are untouched)\n"
    "  --widen-column NAME=TYPE   int->long, float->double, decimal(P,S)->decimal(P2,S)\n"
    "  --set-property K=V         set a table property (repeatable)\n"
    "  --remove-property K        remove a table property (repeatable)\n"
    "  --snapshot REF     snapshot id, ref name or time for a new branch/tag (default main)\n"
    "  --min-snapshots N  branch retention: keep at least N snapshots\n"
    "  --max-snapshot-age-ms MS   branch retention: snapshot age limit\n"
    "  --max-ref-age-ms MS        drop the ref itself when older than this\n"
    "  --drop NAME        remove a branch or tag\n"
    "  --to TARGET        branch to move (fast-forward; default main)\n"
    "  --older-than TIME  expire snapshots older than TIME: ISO time, date, ms:N,\n"
    "                     or an age 7d / 12h / 30m (default: property or 5 days)\n"
    "  --retain-last N    keep at least N snapshots of each branch (default 1)\n"
    "  --dry-run          show what would be expired, change nothing\n"
    "  -h, --help         show this help\n"
    "\n"
    "REF / TIME: a snapshot id, a branch or tag name, 2024-03-03T10:00:00Z,\n"
    "2024-03-03 (end of that day, UTC) or ms:<epoch milliseconds>.\n"
    "\n"
    "exit codes: 0 ok, 1 failed, 2 usage, 4 table/snapshot not found,\n"
    "5 conflict (a concurrent commit won and this one could not be rebased)\n";

/* ------------------------------------------------------------ helpers */

int kiln_table_usage(const char *sub, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "kiln table %s: %s (see 'kiln table --help')\n", sub, msg);
    return KILN_EXIT_USAGE;
}

int kiln_table_open(kiln_table_cli *cli, const char *name, kiln_lake_table **out)
{
    kiln_err err = {0};
    if (kiln_lake_table_load(out, cli->cat, name, &err) != 0)
        return kiln_cli_fail(&err);
    return 0;
}

void kiln_table_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
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

/* A tiny flag parser: flags with a value take the next argument (or
 * --flag=value); repeatable ones collect up to 32 values. */
typedef struct {
    const char *name;
    int has_value; /* 0 switch, 1 value, 2 repeatable value */
    int present;
    const char *value;
    const char *values[32];
    int nvalues;
} flag;
#define F(n, v) {.name = (n), .has_value = (v)}

static int parse(const char *sub, int argc, char **argv, flag *flags, const char **pos, int maxpos, int *npos)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            flag *f = NULL;
            for (flag *g = flags; g && g->name; g++)
                if (strlen(g->name) == len && strncmp(g->name, a, len) == 0)
                    f = g;
            if (!f)
                return kiln_table_usage(sub, "unknown option '%.*s'", (int)len, a);
            f->present = 1;
            if (!f->has_value) {
                if (eq)
                    return kiln_table_usage(sub, "%s takes no value", f->name);
                continue;
            }
            const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v)
                return kiln_table_usage(sub, "%s needs a value", f->name);
            f->value = v;
            if (f->has_value == 2) {
                if (f->nvalues >= 32)
                    return kiln_table_usage(sub, "too many %s", f->name);
                f->values[f->nvalues++] = v;
            }
        } else {
            if (*npos >= maxpos)
                return kiln_table_usage(sub, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
        }
    }
    return 0;
}

static flag *fl(flag *flags, const char *name)
{
    for (flag *g = flags; g->name; g++)
        if (strcmp(g->name, name) == 0)
            return g;
    return NULL;
}

static int parse_i64(const char *sub, const char *what, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || end == s || errno || v < 0)
        return kiln_table_usage(sub, "%s: '%s' is not a non-negative integer", what, s);
    *out = v;
    return 0;
}

static void fmt_ms(int64_t ms, char out[40])
{
    kiln_ts_format(ms * 1000, out);
}

/* ------------------------------------------------------------ list */

typedef struct {
    int json, n;
} list_state;

static int list_cb(void *ctx, const char *name, const char *loc)
{
    list_state *s = ctx;
    if (s->json) {
        printf("%s{\"name\":", s->n ? "," : "");
        kiln_table_json_str(stdout, name);
        printf(",\"metadata_location\":");
        kiln_table_json_str(stdout, loc);
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
        kiln_table_json_str(stdout, ns);
    } else {
        printf("%s\n", ns);
    }
    s->n++;
    return 0;
}

static int sub_list(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), {.name = NULL}};
    const char *pos[1];
    int npos, rc;
    if ((rc = parse("list", argc, argv, flags, pos, 1, &npos)) != 0)
        return rc;
    list_state s = {flags[0].present, 0};
    kiln_err err = {0};
    if (s.json)
        printf("[");
    rc = kiln_lake_table_list(cli->cat, npos ? pos[0] : NULL, list_cb, &s, &err);
    if (s.json)
        printf("]\n");
    return rc ? kiln_cli_fail(&err) : 0;
}

static int sub_namespaces(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), {.name = NULL}};
    const char *pos[1];
    int npos, rc;
    if ((rc = parse("namespaces", argc, argv, flags, pos, 0, &npos)) != 0)
        return rc;
    list_state s = {flags[0].present, 0};
    kiln_err err = {0};
    if (s.json)
        printf("[");
    rc = kiln_lake_namespace_list(cli->cat, ns_cb, &s, &err);
    if (s.json)
        printf("]\n");
    return rc ? kiln_cli_fail(&err) : 0;
}

/* ------------------------------------------------------------ describe */

static int one_table(const char *sub, kiln_table_cli *cli, int argc, char **argv, flag *flags,
                     kiln_lake_table **t, const char **pos, int maxpos, int *npos)
{
    int rc = parse(sub, argc, argv, flags, pos, maxpos, npos);
    if (rc)
        return rc;
    if (*npos < 1)
        return kiln_table_usage(sub, "which table? (namespace.table)");
    return kiln_table_open(cli, pos[0], t);
}

static int sub_describe(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), {.name = NULL}};
    const char *pos[1];
    int npos;
    kiln_lake_table *t = NULL;
    int rc = one_table("describe", cli, argc, argv, flags, &t, pos, 1, &npos);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    if (flags[0].present) {
        kiln_buf b;
        kiln_buf_init(&b, 0);
        kiln_err err = {0};
        if (kiln_lake_meta_write(m, 0, &b, &err) != 0) {
            kiln_buf_free(&b);
            kiln_lake_table_free(t);
            return kiln_cli_fail(&err);
        }
        printf("{\"name\":");
        kiln_table_json_str(stdout, kiln_lake_table_name(t));
        printf(",\"metadata_location\":");
        kiln_table_json_str(stdout, kiln_lake_table_metadata_location(t));
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

static int sub_snapshots(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), {.name = NULL}};
    const char *pos[1];
    int npos;
    kiln_lake_table *t = NULL;
    int rc = one_table("snapshots", cli, argc, argv, flags, &t, pos, 1, &npos);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int json = flags[0].present;
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
            kiln_table_json_str(stdout, s->operation);
            printf(",\"manifest_list\":");
            kiln_table_json_str(stdout, s->manifest_list);
            printf(",\"current\":%s,\"summary\":{", s->snapshot_id == m->current_snapshot_id ? "true" : "false");
            for (size_t k = 0; k < s->nsummary; k++) {
                printf("%s", k ? "," : "");
                kiln_table_json_str(stdout, s->summary[k].key);
                printf(":");
                kiln_table_json_str(stdout, s->summary[k].value);
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
                   added ? added : "-", total ? total : "-", s->snapshot_id == m->current_snapshot_id ? " (current)" : "");
        }
    }
    if (json)
        printf("]\n");
    kiln_lake_table_free(t);
    return 0;
}

static int sub_history(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), {.name = NULL}};
    const char *pos[1];
    int npos;
    kiln_lake_table *t = NULL;
    int rc = one_table("history", cli, argc, argv, flags, &t, pos, 1, &npos);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    int json = flags[0].present;
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

static int split_kv(const char *sub, const char *s, kiln_lake_kv *out, char **owned)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s)
        return kiln_table_usage(sub, "'%s': expected KEY=VALUE", s);
    *owned = kiln_strndup(s, (size_t)(eq - s));
    out->key = *owned;
    out->value = eq + 1;
    return 0;
}

static int sub_create(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), F("--schema", 1), F("--partition", 1), F("--sort", 1), F("--property", 2), {.name = NULL}};
    const char *pos[1];
    int npos, rc;
    if ((rc = parse("create", argc, argv, flags, pos, 1, &npos)) != 0)
        return rc;
    if (npos < 1)
        return kiln_table_usage("create", "which table? (namespace.table)");
    if (!fl(flags, "--schema")->value)
        return kiln_table_usage("create", "--schema is required, e.g. --schema 'id long not null, name string'");
    flag *props = fl(flags, "--property");
    kiln_lake_kv kv[32];
    char *owned[32] = {0};
    for (int i = 0; i < props->nvalues; i++)
        if ((rc = split_kv("create", props->values[i], &kv[i], &owned[i])) != 0)
            goto done;
    kiln_lake_create_opts o = {.schema_ddl = fl(flags, "--schema")->value,
                               .partition = fl(flags, "--partition")->value,
                               .sort = fl(flags, "--sort")->value,
                               .nproperties = (size_t)props->nvalues,
                               .properties = kv};
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    if (kiln_lake_table_create(&t, cli->cat, pos[0], &o, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (flags[0].present) {
        printf("{\"name\":");
        kiln_table_json_str(stdout, kiln_lake_table_name(t));
        printf(",\"table_uuid\":\"%s\",\"metadata_location\":", kiln_lake_table_meta(t)->table_uuid);
        kiln_table_json_str(stdout, kiln_lake_table_metadata_location(t));
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

static int sub_drop(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--purge", 0), {.name = NULL}};
    const char *pos[1];
    int npos, rc;
    if ((rc = parse("drop", argc, argv, flags, pos, 1, &npos)) != 0)
        return rc;
    if (npos < 1)
        return kiln_table_usage("drop", "which table? (namespace.table)");
    kiln_err err = {0};
    if (kiln_lake_table_drop(cli->cat, pos[0], flags[0].present, &err) != 0)
        return kiln_cli_fail(&err);
    printf("dropped %s%s\n", pos[0], flags[0].present ? " (files deleted)" : "");
    return 0;
}

/* ------------------------------------------------------------ alter */

static int sub_alter(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--add-column", 2),     F("--rename-column", 2),   F("--widen-column", 2), F("--partition", 1),
                    F("--set-property", 2), F("--remove-property", 2), {.name = NULL}};
    const char *pos[1];
    int npos;
    kiln_lake_table *t = NULL;
    kiln_lake_txn *txn = NULL;
    kiln_err err = {0};
    char *owned[32] = {0};
    int rc = one_table("alter", cli, argc, argv, flags, &t, pos, 1, &npos);
    if (rc)
        return rc;
    int any = 0;
    for (flag *f = flags; f->name; f++)
        any |= f->present;
    if (!any) {
        rc = kiln_table_usage("alter", "nothing to change (--add-column, --rename-column, ...)");
        goto done;
    }
    if (kiln_lake_txn_begin(&txn, t, &err) != 0)
        goto fail;
    flag *f = fl(flags, "--add-column");
    for (int i = 0; i < f->nvalues; i++) {
        const char *spec = f->values[i];
        const char *sp = strpbrk(spec, " \t");
        if (!sp) {
            rc = kiln_table_usage("alter", "--add-column '%s': expected 'NAME TYPE'", spec);
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
    f = fl(flags, "--rename-column");
    for (int i = 0; i < f->nvalues; i++) {
        kiln_lake_kv kv;
        if ((rc = split_kv("alter", f->values[i], &kv, &owned[0])) != 0)
            goto done;
        int r = kiln_lake_txn_rename_column(txn, kv.key, kv.value, &err);
        kiln_free(owned[0]);
        owned[0] = NULL;
        if (r != 0)
            goto fail;
    }
    f = fl(flags, "--widen-column");
    for (int i = 0; i < f->nvalues; i++) {
        kiln_lake_kv kv;
        if ((rc = split_kv("alter", f->values[i], &kv, &owned[0])) != 0)
            goto done;
        int r = kiln_lake_txn_widen_column(txn, kv.key, kv.value, &err);
        kiln_free(owned[0]);
        owned[0] = NULL;
        if (r != 0)
            goto fail;
    }
    if (fl(flags, "--partition")->present) {
        if (kiln_lake_txn_add_spec(txn, fl(flags, "--partition")->value, &err) != 0 ||
            kiln_lake_txn_set_default_spec(txn, -1, &err) != 0)
            goto fail;
    }
    f = fl(flags, "--set-property");
    kiln_lake_kv kv[32];
    for (int i = 0; i < f->nvalues; i++)
        if ((rc = split_kv("alter", f->values[i], &kv[i], &owned[i])) != 0)
            goto done;
    if (f->nvalues && kiln_lake_txn_set_properties(txn, kv, (size_t)f->nvalues, &err) != 0)
        goto fail;
    f = fl(flags, "--remove-property");
    if (f->nvalues && kiln_lake_txn_remove_properties(txn, f->values, (size_t)f->nvalues, &err) != 0)
        goto fail;
    if (kiln_lake_txn_commit(txn, NULL, NULL, &err) != 0)
        goto fail;
    printf("altered %s (v%d)\n", kiln_lake_table_name(t), kiln_lake_table_version(t));
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
            kiln_table_json_str(stdout, r->name);
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

static int sub_ref(kiln_table_cli *cli, int argc, char **argv, kiln_lake_ref_type type)
{
    const char *sub = type == KILN_LAKE_TAG ? "tag" : "branch";
    flag bflags[] = {F("--json", 0),
                     F("--snapshot", 1),
                     F("--drop", 1),
                     F("--max-ref-age-ms", 1),
                     F("--min-snapshots", 1),
                     F("--max-snapshot-age-ms", 1),
                     {.name = NULL}};
    if (type == KILN_LAKE_TAG)
        bflags[4].name = NULL;
    const char *pos[2];
    int npos;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int rc = one_table(sub, cli, argc, argv, bflags, &t, pos, 2, &npos);
    if (rc)
        return rc;
    const kiln_lake_meta *m = kiln_lake_table_meta(t);
    flag *drop = fl(bflags, "--drop");
    if (drop->present) {
        const kiln_lake_ref *r = kiln_lake_meta_ref(m, drop->value);
        if (r && r->type != type) {
            rc = kiln_table_usage(sub, "%s is a %s, not a %s", drop->value, r->type == KILN_LAKE_TAG ? "tag" : "branch",
                                  sub);
            goto done;
        }
        if (kiln_lake_ref_drop(t, drop->value, &err) != 0)
            goto fail;
        printf("dropped %s %s\n", sub, drop->value);
        goto done;
    }
    if (npos < 2) {
        print_refs(m, type, bflags[0].present);
        goto done;
    }
    kiln_lake_ref r = {pos[1], type, -1, -1, -1, -1};
    flag *snap = fl(bflags, "--snapshot");
    if (snap->present && kiln_lake_meta_resolve(m, snap->value, &r.snapshot_id, &err) != 0)
        goto fail;
    const char *v;
    if ((v = fl(bflags, "--max-ref-age-ms")->value) && (rc = parse_i64(sub, "--max-ref-age-ms", v, &r.max_ref_age_ms)))
        goto done;
    if (type == KILN_LAKE_BRANCH) {
        if ((v = fl(bflags, "--min-snapshots")->value) &&
            (rc = parse_i64(sub, "--min-snapshots", v, &r.min_snapshots_to_keep)))
            goto done;
        if ((v = fl(bflags, "--max-snapshot-age-ms")->value) &&
            (rc = parse_i64(sub, "--max-snapshot-age-ms", v, &r.max_snapshot_age_ms)))
            goto done;
    }
    if (kiln_lake_ref_create(t, &r, &err) != 0)
        goto fail;
    const kiln_lake_ref *made = kiln_lake_meta_ref(kiln_lake_table_meta(t), pos[1]);
    if (bflags[0].present)
        printf("{\"name\":\"%s\",\"type\":\"%s\",\"snapshot_id\":%" PRId64 "}\n", pos[1], sub,
               made ? made->snapshot_id : -1);
    else
        printf("created %s %s at snapshot %" PRId64 "\n", sub, pos[1], made ? made->snapshot_id : -1);
    goto done;
fail:
    rc = kiln_cli_fail(&err);
done:
    kiln_lake_table_free(t);
    return rc;
}

static int sub_branch(kiln_table_cli *cli, int argc, char **argv)
{
    return sub_ref(cli, argc, argv, KILN_LAKE_BRANCH);
}

static int sub_tag(kiln_table_cli *cli, int argc, char **argv)
{
    return sub_ref(cli, argc, argv, KILN_LAKE_TAG);
}

static int sub_fast_forward(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--to", 1), {.name = NULL}};
    const char *pos[2];
    int npos;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int rc = one_table("fast-forward", cli, argc, argv, flags, &t, pos, 2, &npos);
    if (rc)
        return rc;
    if (npos < 2) {
        kiln_lake_table_free(t);
        return kiln_table_usage("fast-forward", "which branch to fast-forward to?");
    }
    const char *to = flags[0].value ? flags[0].value : "main";
    if (kiln_lake_fast_forward(t, to, pos[1], &err) != 0)
        rc = kiln_cli_fail(&err);
    else
        printf("%s is now at %" PRId64 " (%s's head)\n", to, kiln_lake_meta_ref(kiln_lake_table_meta(t), to)->snapshot_id,
               pos[1]);
    kiln_lake_table_free(t);
    return rc;
}

static int sub_rollback(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {{.name = NULL}};
    const char *pos[2];
    int npos;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int rc = one_table("rollback", cli, argc, argv, flags, &t, pos, 2, &npos);
    if (rc)
        return rc;
    int64_t id;
    if (npos < 2) {
        rc = kiln_table_usage("rollback", "to which snapshot? (id, tag or time)");
    } else if (kiln_lake_meta_resolve(kiln_lake_table_meta(t), pos[1], &id, &err) != 0 ||
               kiln_lake_rollback(t, id, &err) != 0) {
        rc = kiln_cli_fail(&err);
    } else {
        printf("main is now at %" PRId64 "\n", id);
    }
    kiln_lake_table_free(t);
    return rc;
}

static int sub_expire(kiln_table_cli *cli, int argc, char **argv)
{
    flag flags[] = {F("--json", 0), F("--older-than", 1), F("--retain-last", 1), F("--dry-run", 0), {.name = NULL}};
    const char *pos[1];
    int npos;
    kiln_lake_table *t = NULL;
    kiln_err err = {0};
    int rc = one_table("expire", cli, argc, argv, flags, &t, pos, 1, &npos);
    if (rc)
        return rc;
    kiln_lake_expire_opts o = {.older_than_ms = -1, .dry_run = fl(flags, "--dry-run")->present,
                               .delete_manifest_lists = 1};
    int64_t *ids = NULL;
    size_t n = 0;
    const char *v;
    if ((v = fl(flags, "--older-than")->value) && kiln_table_parse_time_ms(v, &o.older_than_ms, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if ((v = fl(flags, "--retain-last")->value)) {
        int64_t x;
        if ((rc = parse_i64("expire", "--retain-last", v, &x)) != 0)
            goto done;
        if (x < 1 || x > 1000000) {
            rc = kiln_table_usage("expire", "--retain-last must be 1 or more");
            goto done;
        }
        o.retain_last = (int)x;
    }
    size_t nfiles = 0;
    /* the data half deletes manifest lists, manifests and data files
     * reachable only from the expired snapshots */
    o.on_expired = kiln_lake_expire_delete_files;
    o.ctx = &nfiles;
    o.delete_manifest_lists = 0;
    if (o.dry_run)
        o.delete_manifest_lists = 0;
    if (kiln_lake_expire(t, &o, &ids, &n, &err) != 0) {
        rc = kiln_cli_fail(&err);
        goto done;
    }
    if (fl(flags, "--json")->present) {
        printf("{\"dry_run\":%s,\"expired_snapshot_ids\":[", o.dry_run ? "true" : "false");
        for (size_t i = 0; i < n; i++)
            printf("%s%" PRId64, i ? "," : "", ids[i]);
        printf("],\"remaining_snapshots\":%zu,\"files_%s\":%zu}\n", kiln_lake_table_meta(t)->nsnapshots,
               o.dry_run ? "to_delete" : "deleted", nfiles);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s %" PRId64 "\n", o.dry_run ? "would expire" : "expired", ids[i]);
        printf("%zu snapshot(s) %s; %zu file(s) %s\n", n, o.dry_run ? "would be expired (dry run)" : "expired",
               nfiles, o.dry_run ? "would be deleted" : "deleted");
    }
done:
    kiln_free(ids);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ dispatch */

typedef struct {
    const char *name;
    kiln_table_sub_fn fn;
    int own_help; /* 1: the function prints its own --help (the data half's) */
} table_sub;

static const table_sub SUBS[] = {
    {"list", sub_list, 0},
    {"namespaces", sub_namespaces, 0},
    {"describe", sub_describe, 0},
    {"snapshots", sub_snapshots, 0},
    {"history", sub_history, 0},
    {"create", sub_create, 0},
    {"drop", sub_drop, 0},
    {"alter", sub_alter, 0},
    {"branch", sub_branch, 0},
    {"tag", sub_tag, 0},
    {"fast-forward", sub_fast_forward, 0},
    {"rollback", sub_rollback, 0},
    {"expire", sub_expire, 0},
    /* data half (lake-data): weak until defined in src/cli/cmd_table_data.c */
    {"scan", kiln_table_cmd_scan, 1},
    {"files", kiln_table_cmd_files, 1},
    {"remove-orphans", kiln_table_cmd_remove_orphans, 1},
    {"append", kiln_table_cmd_append, 1},
    {"overwrite", kiln_table_cmd_overwrite, 1},
    {"merge", kiln_table_cmd_merge, 1},
    {"delete", kiln_table_cmd_delete, 1},
    {"rewrite-manifests", kiln_table_cmd_rewrite_manifests, 1},
};

static int run_table(int argc, char **argv)
{
    kiln_table_cli cli = {.kind = KILN_LAKE_CATALOG_SQLITE};
    const char *warehouse = getenv("KILN_WAREHOUSE");
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--warehouse") == 0 && i + 1 < argc)
            warehouse = argv[++i];
        else if (strncmp(a, "--warehouse=", 12) == 0)
            warehouse = a + 12;
        else if ((strcmp(a, "--catalog") == 0 && i + 1 < argc) || strncmp(a, "--catalog=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : argv[++i];
            if (strcmp(v, "sqlite") == 0)
                cli.kind = KILN_LAKE_CATALOG_SQLITE;
            else if (strcmp(v, "hadoop") == 0)
                cli.kind = KILN_LAKE_CATALOG_HADOOP;
            else
                return kiln_cli_usage_error("table", "--catalog %s: use sqlite or hadoop", v);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            return kiln_cli_print_help(kiln_cli_find("table"));
        } else if (a[0] == '-') {
            return kiln_cli_usage_error("table", "unknown option '%s' before the subcommand", a);
        } else {
            break;
        }
    }
    if (i >= argc)
        return kiln_cli_usage_error("table", "which subcommand? (list, describe, snapshots, ...)");
    /* `kiln table help SUB` is `kiln table SUB --help` */
    char *help_argv[3] = {NULL, "--help", NULL};
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 >= argc)
            return kiln_cli_print_help(kiln_cli_find("table"));
        help_argv[0] = argv[i + 1];
        argv = help_argv;
        argc = 2;
        i = 0;
    }
    const table_sub *sub = NULL;
    for (size_t k = 0; k < sizeof SUBS / sizeof SUBS[0]; k++)
        if (strcmp(SUBS[k].name, argv[i]) == 0)
            sub = &SUBS[k];
    if (!sub)
        return kiln_cli_usage_error("table", "unknown subcommand '%s'", argv[i]);
    if (!sub->fn) {
        fprintf(stderr, "kiln table %s: not available in this build\n", sub->name);
        return KILN_EXIT_FAIL;
    }
    if (kiln_cli_wants_help(argc - i, argv + i)) {
        /* the data half's subcommands print their own options; the others
         * are described in this command's usage */
        if (!sub->own_help)
            return kiln_cli_print_help(kiln_cli_find("table"));
        return sub->fn(&cli, argc - i, argv + i);
    }
    cli.warehouse = warehouse && *warehouse ? warehouse : "warehouse";
    kiln_err err = {0};
    /* subcommands that only read create nothing: a missing warehouse is "not found" */
    static const char *const readers[] = {"list", "namespaces", "describe", "snapshots", "history", "scan", "files"};
    kiln_lake_open_mode mode = KILN_LAKE_OPEN_CREATE;
    for (size_t k = 0; k < sizeof readers / sizeof readers[0]; k++)
        if (strcmp(sub->name, readers[k]) == 0)
            mode = KILN_LAKE_OPEN_READONLY;
    if (kiln_lake_catalog_open_mode(&cli.cat, cli.warehouse, cli.kind, mode, &err) != 0)
        return kiln_cli_fail(&err);
    int rc = sub->fn(&cli, argc - i, argv + i);
    kiln_lake_catalog_free(cli.cat);
    return rc;
}

KILN_COMMAND(cmd_table, "table", "Iceberg tables: list, describe, snapshots, branches, rollback, expire", usage,
             run_table, 40, NULL, 1)
