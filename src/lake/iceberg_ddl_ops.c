/*
 * iceberg_ddl_ops.c - table operations the SQL layer's DDL needs that the
 * rest of the lake did not offer: dropping a column (a new schema without
 * it, as Iceberg's schema evolution does: the column's data stays in old
 * files and old snapshots still read it) and replacing a table by another
 * in one catalog commit (CREATE OR REPLACE TABLE ... AS: the new table is
 * written under a staging name, then one SQLite transaction makes the
 * catalog row of the target name point at it).
 */
#include "lake/lake_meta_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define CATALOG_NAME "kiln"

/* Drop a field inside a struct column ("s.a", "s.t.b"): the struct keeps
 * its other fields; data files keep the values, which readers no longer
 * show (by field id). A partition source or the struct's last field cannot
 * go. */
static int drop_nested(kiln_lake_txn *txn, const kiln_lake_meta *m, const kiln_lake_schema *s, const char *name,
                       kiln_err *err)
{
    json_t *j = kiln_lake__schema_to_json(s);
    json_t *fields = j ? json_object_get(j, "fields") : NULL;
    char *text = NULL, *path = kiln_strndup(name, strlen(name));
    int rc = 0;
    if (!fields || !path) {
        rc = KILN_OOM(err);
        goto done;
    }
    json_t *found = NULL;
    size_t idx = 0;
    for (char *part = path, *next; part; part = next) {
        next = strchr(part, '.');
        if (next)
            *next++ = 0;
        if (!fields) {
            rc = kiln_err_set(err, KILN_EINVAL, "cannot drop '%s': a part of the path is not a struct", name);
            goto done;
        }
        found = NULL;
        for (size_t i = 0; i < json_array_size(fields) && !found; i++)
            if (!strcmp(json_string_value(json_object_get(json_array_get(fields, i), "name")) ?: "", part)) {
                found = json_array_get(fields, i);
                idx = i;
            }
        if (!found) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "no column '%s'", name);
            goto done;
        }
        if (next) {
            json_t *t = json_object_get(found, "type");
            fields = json_is_object(t) && !strcmp(json_string_value(json_object_get(t, "type")) ?: "", "struct")
                         ? json_object_get(t, "fields")
                         : NULL;
            if (next && !fields) {
                rc = kiln_err_set(err, KILN_EINVAL, "cannot drop '%s': '%s' is not a struct", name, part);
                goto done;
            }
            continue;
        }
    }
    int64_t id = json_integer_value(json_object_get(found, "id"));
    for (size_t i = 0; i < m->nspecs; i++)
        for (size_t k = 0; k < m->specs[i].nfields; k++)
            if (m->specs[i].fields[k].source_id == id) {
                rc = kiln_err_set(err, KILN_EINVAL, "cannot drop '%s': partition field '%s' is derived from it", name,
                                  m->specs[i].fields[k].name);
                goto done;
            }
    if (json_array_size(fields) == 1) {
        rc = kiln_err_set(err, KILN_EINVAL, "cannot drop '%s': it is its struct's only field", name);
        goto done;
    }
    json_array_remove(fields, idx);
    if (!(text = json_dumps(j, JSON_COMPACT))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake_txn_require_current_schema_id(txn, s->schema_id, err)) ||
        (rc = kiln_lake_txn_add_schema_json(txn, text, err)))
        goto done;
    rc = kiln_lake_txn_set_current_schema(txn, -1, err);
done:
    free(text);
    kiln_free(path);
    json_decref(j);
    return rc;
}

int kiln_lake_txn_drop_column(kiln_lake_txn *txn, const char *name, kiln_err *err)
{
    const kiln_lake_meta *m = kiln_lake_txn_base(txn);
    const kiln_lake_schema *s = kiln_lake_meta_current_schema(m);
    if (!s)
        return kiln_err_set(err, KILN_EFORMAT, "table metadata has no current schema");
    if (strchr(name, '.') && !kiln_lake_schema_column(s, name))
        return drop_nested(txn, m, s, name, err);
    const kiln_lake_field *f = kiln_lake_schema_column(s, name);
    if (!f)
        return kiln_err_set(err, KILN_ENOTFOUND, "no column '%s'", name);
    if (s->nfields == 1)
        return kiln_err_set(err, KILN_EINVAL, "cannot drop '%s': it is the table's only column", name);
    /* a column a partition spec reads cannot go (old data files are
     * partitioned by it) */
    for (size_t i = 0; i < m->nspecs; i++)
        for (size_t k = 0; k < m->specs[i].nfields; k++)
            if (m->specs[i].fields[k].source_id == f->id)
                return kiln_err_set(err, KILN_EINVAL,
                                    "cannot drop '%s': partition field '%s' (spec %d) is derived from it", name,
                                    m->specs[i].fields[k].name, (int)m->specs[i].spec_id);
    for (size_t i = 0; i < s->nidentifier; i++)
        if (s->identifier_field_ids[i] == f->id)
            return kiln_err_set(err, KILN_EINVAL, "cannot drop '%s': it is an identifier field", name);
    json_t *j = kiln_lake__schema_to_json(s);
    json_t *fields = j ? json_object_get(j, "fields") : NULL;
    int rc = 0;
    char *text = NULL;
    if (!fields) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < json_array_size(fields); i++) {
        json_t *fj = json_array_get(fields, i);
        if (json_integer_value(json_object_get(fj, "id")) == f->id) {
            json_array_remove(fields, i);
            break;
        }
    }
    if (!(text = json_dumps(j, JSON_COMPACT))) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake_txn_require_current_schema_id(txn, s->schema_id, err)) ||
        (rc = kiln_lake_txn_add_schema_json(txn, text, err)))
        goto done;
    rc = kiln_lake_txn_set_current_schema(txn, -1, err);
done:
    free(text);
    json_decref(j);
    return rc;
}

static int db_fail(kiln_lake_catalog *c, const char *what, kiln_err *err)
{
    return kiln_err_set(err, KILN_EIO, "catalog %s/catalog.db: %s: %s", c->warehouse, what,
                        sqlite3_errmsg((sqlite3 *)c->db));
}

static int exec1(kiln_lake_catalog *c, const char *sql, kiln_err *err)
{
    char *msg = NULL;
    if (sqlite3_exec((sqlite3 *)c->db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    int rc = kiln_err_set(err, KILN_EIO, "catalog %s/catalog.db: %s: %s", c->warehouse, sql,
                          msg ? msg : sqlite3_errmsg((sqlite3 *)c->db));
    sqlite3_free(msg);
    return rc;
}

/* One row change: "UPDATE/DELETE ... WHERE catalog_name=? AND table_namespace=? AND table_name=?"
 * with the optional leading binds a and b; returns the number of rows changed or <0. */
static int row_change(kiln_lake_catalog *c, const char *sql, const char *a, const char *b, const char *ns,
                      const char *tbl, const char *loc, kiln_err *err)
{
    sqlite3 *db = c->db;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, "prepare", err);
    int k = 1;
    if (a)
        sqlite3_bind_text(st, k++, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, k++, b, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, k++, tbl, -1, SQLITE_STATIC);
    if (loc)
        sqlite3_bind_text(st, k++, loc, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? sqlite3_changes(db) : db_fail(c, "update table row", err);
    sqlite3_finalize(st);
    return rc;
}

int kiln_lake_table_replace(kiln_lake_catalog *c, const char *target, const char *staged, kiln_err *err)
{
    if (c->kind != KILN_LAKE_CATALOG_SQLITE)
        return kiln_err_set(err, KILN_EUNSUPP, "replacing a table needs the SQLite catalog");
    kiln_lake_table *old = NULL, *neu = NULL;
    int rc, in_txn = 0;
    char trash[129];
    if ((rc = kiln_lake_table_load(&old, c, target, err)) || (rc = kiln_lake_table_load(&neu, c, staged, err)))
        goto done;
    snprintf(trash, sizeof trash, "_kiln_replaced_%llx", (unsigned long long)kiln_lake_snapshot_id_new());
    if ((rc = exec1(c, "BEGIN IMMEDIATE", err)))
        goto done;
    in_txn = 1;
    /* the old table steps aside under a trash name, if it is still what
     * was loaded (a commit in between wins), and the staged one takes its
     * name: one transaction, so readers see one table or the other */
    rc = row_change(c,
                    "UPDATE iceberg_tables SET table_name=? WHERE catalog_name=? AND table_namespace=? AND "
                    "table_name=? AND metadata_location=?",
                    trash, NULL, old->ns, old->tbl, old->metadata_location, err);
    if (rc == 0)
        rc = kiln_err_set(err, KILN_ECONFLICT, "table %s was changed by another commit during the replace", target);
    if (rc < 0)
        goto done;
    rc = row_change(c,
                    "UPDATE iceberg_tables SET table_namespace=?, table_name=? WHERE catalog_name=? AND "
                    "table_namespace=? AND table_name=?",
                    old->ns, old->tbl, neu->ns, neu->tbl, NULL, err);
    if (rc == 0)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "staged table %s vanished during the replace", staged);
    if (rc < 0)
        goto done;
    if ((rc = exec1(c, "COMMIT", err)))
        goto done;
    in_txn = 0;
    /* the replaced table goes the way DROP TABLE ... PURGE goes; a failure
     * leaves files behind, not a wrong table */
    char trash_name[260];
    snprintf(trash_name, sizeof trash_name, "%s.%s", old->ns, trash);
    kiln_err e2 = {0};
    if (kiln_lake_table_drop(c, trash_name, 1, &e2) != 0)
        kiln_warn("table %s replaced; the old table (now %s) was not removed: %s", target, trash_name, e2.msg);
done:
    if (in_txn)
        exec1(c, "ROLLBACK", &(kiln_err){0});
    kiln_lake_table_free(old);
    kiln_lake_table_free(neu);
    return rc;
}
