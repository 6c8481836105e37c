/*
 * iceberg_catalog.c - where Iceberg tables live and how a commit becomes
 * visible: the SQLite catalog (WAREHOUSE/catalog.db) and the file-system
 * ("hadoop") layout, which every kiln table also has.
 *
 * DESIGN
 * - Layout: WAREHOUSE/<ns>/<table>/metadata/v<N>.metadata.json, plus
 *   metadata/version-hint.text holding the bare N (no newline), and
 *   WAREHOUSE/<ns>/<table>/data/. Names are checked so nothing escapes
 *   the warehouse.
 * - Commit point: the new metadata is written to metadata/<uuid>.metadata.json
 *   (fsync), then linked to v<N+1>.metadata.json with link(2), which fails
 *   with EEXIST if another committer got there first, then the temp name is
 *   removed and the directory fsync'd. Whoever links v<N+1> wins.
 * - SQLite catalog: the tables iceberg_tables / iceberg_namespace_properties
 *   follow the Iceberg JDBC catalog's shape (catalog_name 'kiln') so
 *   JDBC-catalog readers (e.g. PyIceberg's SqlCatalog; untested here) can
 *   open catalog.db. A commit holds the database
 *   write lock (BEGIN IMMEDIATE) around: check metadata_location = old,
 *   link v<N+1>, UPDATE ... WHERE metadata_location = old, write the hint,
 *   COMMIT. If the process dies after the link but before COMMIT, the row
 *   still names v<N>; loading a table rolls the row forward to the newest
 *   v<N+k> whose metadata-log ends with the previous file (same table-uuid),
 *   so the file-level commit stands in both views.
 * - Hadoop catalog: no database; tables are directories; the current
 *   version is the hint, then probed upward while v<N+1> exists.
 */
#include "lake/lake_io.h"
#include "lake/lake_data_int.h"
#include "lake/lake_meta_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CATALOG_NAME "kiln"
#define MAX_VERSION 100000000

/* ------------------------------------------------------------ paths, names */

static int part_ok(const char *s, size_t n)
{
    if (n == 0 || n > 128 || !kiln_path_component_ok(s, n))
        return 0;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

int kiln_lake_name_split(const char *name, char ns[129], char table[129], kiln_err *err)
{
    const char *dot = name ? strchr(name, '.') : NULL;
    if (!name || !dot || strchr(dot + 1, '.') || !part_ok(name, (size_t)(dot - name)) ||
        !part_ok(dot + 1, strlen(dot + 1)))
        return kiln_err_set(err, KILN_EINVAL,
                            "bad table name \"%s\": use namespace.table, each part letters, digits, '_' or '-', "
                            "starting with a letter or '_', at most 128 bytes",
                            name ? name : "");
    memcpy(ns, name, (size_t)(dot - name));
    ns[dot - name] = 0;
    strcpy(table, dot + 1);
    return 0;
}

static int ns_check(const char *ns, kiln_err *err)
{
    if (!ns || !part_ok(ns, strlen(ns)))
        return kiln_err_set(err, KILN_EINVAL,
                            "bad namespace \"%s\": letters, digits, '_' or '-', starting with a letter or '_'",
                            ns ? ns : "");
    return 0;
}

/* ------------------------------------------------------------ catalog */

#if defined(__SANITIZE_THREAD__)
#define KILN_TSAN_PROBE 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KILN_TSAN_PROBE 1
#endif
#endif

/* A catalog serves one thread at a time (its SQLite handle is opened
 * NOMUTEX). In a ThreadSanitizer build this unsynchronised write makes TSan
 * report two threads that use one catalog with no lock (or join) ordering
 * them, whether or not their calls happened to overlap in time: TSan does
 * not see inside the system SQLite library, where the real damage is. */
static void one_thread(kiln_lake_catalog *c)
{
#ifdef KILN_TSAN_PROBE
    c->tsan_probe++;
#else
    (void)c;
#endif
}

static int db_err(kiln_lake_catalog *c, kiln_err *err, const char *what)
{
    return kiln_err_set(err, KILN_EIO, "%s/catalog.db: %s: %s", c->warehouse, what, sqlite3_errmsg((sqlite3 *)c->db));
}

static int db_exec(kiln_lake_catalog *c, const char *sql, kiln_err *err)
{
    char *msg = NULL;
    one_thread(c);
    if (sqlite3_exec((sqlite3 *)c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = kiln_err_set(err, KILN_EIO, "%s/catalog.db: %s", c->warehouse, msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

/* Prepares SQL on the catalog and binds args[0..n) as text to ?1..?n (a
 * NULL binds SQL NULL). */
static int db_prepare(kiln_lake_catalog *c, const char *sql, const char *const *args, int n, sqlite3_stmt **st,
                      kiln_err *err)
{
    *st = NULL;
    one_thread(c);
    if (sqlite3_prepare_v2((sqlite3 *)c->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_err(c, err, "prepare");
    for (int i = 0; i < n; i++)
        if (args[i])
            sqlite3_bind_text(*st, i + 1, args[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(*st, i + 1);
    return 0;
}

/* Runs one statement that returns no rows; *changes (when not NULL) gets the
 * number of rows it changed. WHAT names the step in the error. */
static int db_write(kiln_lake_catalog *c, const char *sql, const char *const *args, int n, int *changes,
                    const char *what, kiln_err *err)
{
    sqlite3_stmt *st;
    int rc = db_prepare(c, sql, args, n, &st, err);
    if (rc == 0) {
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = db_err(c, err, what);
        else if (changes)
            *changes = sqlite3_changes((sqlite3 *)c->db);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The argument list of db_prepare/db_write: DB_ARGS("a", b) */
#define DB_ARGS(...)                                                                                                   \
    (const char *const[]){__VA_ARGS__}, (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

static const char CATALOG_SCHEMA[] = "PRAGMA journal_mode=WAL;"
                                     "CREATE TABLE IF NOT EXISTS iceberg_tables("
                                     " catalog_name VARCHAR(255) NOT NULL,"
                                     " table_namespace VARCHAR(255) NOT NULL,"
                                     " table_name VARCHAR(255) NOT NULL,"
                                     " metadata_location VARCHAR(1000),"
                                     " previous_metadata_location VARCHAR(1000),"
                                     " PRIMARY KEY (catalog_name, table_namespace, table_name));"
                                     "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties("
                                     " catalog_name VARCHAR(255) NOT NULL,"
                                     " namespace VARCHAR(255) NOT NULL,"
                                     " property_key VARCHAR(255),"
                                     " property_value VARCHAR(1000),"
                                     " PRIMARY KEY (catalog_name, namespace, property_key));";

/* 1 when the directory holding path cannot be written (EROFS, EACCES) */
static int ro_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash || (size_t)(slash - path) >= sizeof dir)
        return 0;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = 0;
    return access(*dir ? dir : "/", W_OK) != 0 && (errno == EROFS || errno == EACCES);
}

/* Open WAREHOUSE/catalog.db (create: make it and its tables when missing).
 * Not creating and missing: c->db stays NULL (an empty catalog). */
static int db_open(kiln_lake_catalog *c, int create, kiln_err *err)
{
    char *loc = kiln_sprintf("%s/catalog.db", c->warehouse), *dbpath = NULL;
    sqlite3 *db = NULL;
    int rc;
    if (!loc) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (!create && !kiln_lake__io_exists(loc)) {
        rc = 0;
        goto done;
    }
    /* SQLite opens the file itself: the store hands it a local one */
    if ((rc = kiln_lake__io_local_file(&dbpath, loc, err)))
        goto done;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    char *ro_uri = NULL; /* a read-only warehouse (a read-only mount, no write permission): WAL mode
                          * cannot make its -shm file there, so read the file as immutable (docs/faults.md) */
    if (create && ro_dir(dbpath)) {
        rc = kiln_err_set(err, KILN_EIO, "%s: the warehouse is not writable (%s); nothing was changed", c->warehouse,
                          strerror(errno));
        goto done;
    }
    if (!create && ro_dir(dbpath) && (ro_uri = sqlite3_mprintf("file:%s?immutable=1", dbpath)))
        flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    int orc = sqlite3_open_v2(ro_uri ? ro_uri : dbpath, &db, flags, NULL);
    sqlite3_free(ro_uri);
    if (orc != SQLITE_OK) {
        rc = kiln_err_set(err, KILN_EIO, "%s: cannot open: %s", dbpath, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        goto done;
    }
    c->db = db;
    sqlite3_busy_timeout(db, 30000);
    if (create)
        rc = db_exec(c, CATALOG_SCHEMA, err);
done:
    kiln_free(loc);
    kiln_free(dbpath);
    return rc;
}

/* Before a read: a warehouse or catalog.db missing at open may have been
 * created since (by another process or connection). */
static int catalog_readable(kiln_lake_catalog *c, kiln_err *err)
{
    one_thread(c);
    if (!c->present && kiln_lake__io_exists(c->warehouse))
        c->present = 1;
    if (!c->present && c->mode == KILN_LAKE_OPEN_READONLY)
        return kiln_err_set(err, KILN_ENOTFOUND, "warehouse not found: %s", c->warehouse);
    if (c->present && c->kind == KILN_LAKE_CATALOG_SQLITE && !c->db)
        return db_open(c, 0, err);
    return 0;
}

/* Before any change to the catalog: refuse in a read-only open; in a lazy
 * one, create the warehouse directory and catalog.db now. */
static int catalog_writable(kiln_lake_catalog *c, kiln_err *err)
{
    int rc;
    if (c->mode == KILN_LAKE_OPEN_READONLY)
        return kiln_err_set(err, KILN_EINVAL, "warehouse %s was opened read-only", c->warehouse);
    if (!c->present) {
        if ((rc = kiln_lake__io_mkdirs(c->warehouse, err)))
            return rc;
        c->present = 1;
    }
    if (c->kind == KILN_LAKE_CATALOG_SQLITE && !c->db && (rc = db_open(c, 1, err)))
        return rc;
    return 0;
}

int kiln_lake_catalog_open(kiln_lake_catalog **out, const char *warehouse, kiln_lake_catalog_kind kind, kiln_err *err)
{
    return kiln_lake_catalog_open_mode(out, warehouse, kind, KILN_LAKE_OPEN_CREATE, err);
}

int kiln_lake_catalog_open_mode(kiln_lake_catalog **out, const char *warehouse, kiln_lake_catalog_kind kind,
                                kiln_lake_open_mode mode, kiln_err *err)
{
    *out = NULL;
    kiln_lake_catalog *c = NULL;
    char *path = NULL;
    const kiln_lake_io_ops *ops;
    kiln_lake_io_stat st;
    int rc;
    if (!warehouse || !*warehouse) {
        rc = kiln_err_set(err, KILN_EINVAL, "no warehouse directory given (--warehouse DIR or KILN_WAREHOUSE)");
        goto done;
    }
    /* a scheme kiln cannot serve is an error here, not a folder named "s3:" */
    if ((rc = kiln_lake__io_resolve(&ops, &path, warehouse, err)))
        goto done;
    if (!(c = kiln_calloc(1, sizeof(*c)))) {
        rc = KILN_OOM(err);
        goto done;
    }
    c->kind = kind;
    c->mode = mode;
    rc = kiln_lake__io_stat(path, &st, err);
    if (rc == 0 && !st.is_dir) {
        rc = kiln_err_set(err, KILN_EINVAL, "warehouse %s is not a directory", warehouse);
        goto done;
    }
    c->present = rc == 0;
    if (rc == KILN_ENOTFOUND) {
        /* read-only: the first read says "warehouse not found" (a command
         * that reads a metadata file directly needs no warehouse) */
        if (mode == KILN_LAKE_OPEN_CREATE) {
            if ((rc = kiln_lake__io_mkdirs(path, err)))
                goto done;
            c->present = 1;
        }
        rc = 0;
    }
    if (rc)
        goto done;
    if ((rc = kiln_lake__io_abspath(&c->warehouse, warehouse, err)))
        goto done;
    if (kind == KILN_LAKE_CATALOG_SQLITE && c->present && (rc = db_open(c, mode == KILN_LAKE_OPEN_CREATE, err)))
        goto done;
    *out = c;
    c = NULL;
done:
    kiln_lake_catalog_free(c);
    kiln_free(path);
    return rc;
}

void kiln_lake_catalog_free(kiln_lake_catalog *c)
{
    if (!c)
        return;
    if (c->db)
        sqlite3_close((sqlite3 *)c->db);
    kiln_free(c->warehouse);
    kiln_free(c);
}

const char *kiln_lake_catalog_warehouse(const kiln_lake_catalog *c) { return c->warehouse; }

/* ------------------------------------------------------------ namespaces */

int kiln_lake_namespace_create(kiln_lake_catalog *c, const char *ns, kiln_err *err)
{
    int rc;
    if ((rc = ns_check(ns, err)) != 0 || (rc = catalog_writable(c, err)) != 0)
        return rc;
    char *dir = kiln_sprintf("%s/%s", c->warehouse, ns);
    if (!dir)
        return KILN_OOM(err);
    rc = kiln_lake__io_mkdirs(dir, err);
    kiln_free(dir);
    if (rc != 0 || c->kind != KILN_LAKE_CATALOG_SQLITE)
        return rc;
    return db_write(c, "INSERT OR IGNORE INTO iceberg_namespace_properties VALUES (?, ?, 'exists', 'true')",
                    DB_ARGS(CATALOG_NAME, ns), NULL, "create namespace", err);
}

static int count_tables_cb(void *ctx, const char *name, const char *loc)
{
    (void)name;
    (void)loc;
    (*(int *)ctx)++;
    return 0;
}

int kiln_lake_namespace_drop(kiln_lake_catalog *c, const char *ns, kiln_err *err)
{
    int rc, n = 0;
    if ((rc = ns_check(ns, err)) != 0)
        return rc;
    if ((rc = kiln_lake_table_list(c, ns, count_tables_cb, &n, err)) != 0)
        return rc;
    if (n > 0)
        return kiln_err_set(err, KILN_EEXIST, "namespace %s still has %d table(s); drop them first", ns, n);
    if ((rc = catalog_writable(c, err)) != 0)
        return rc;
    if (c->kind == KILN_LAKE_CATALOG_SQLITE) {
        rc = db_write(c, "DELETE FROM iceberg_namespace_properties WHERE catalog_name=? AND namespace=?",
                      DB_ARGS(CATALOG_NAME, ns), NULL, "drop namespace", err);
        if (rc != 0)
            return rc;
    }
    char *dir = kiln_sprintf("%s/%s", c->warehouse, ns);
    if (dir)
        kiln_lake__io_rmdir_empty(dir); /* only if empty; leftovers of purged tables stay */
    kiln_free(dir);
    return 0;
}

/* Namespace properties live in iceberg_namespace_properties beside the
 * 'exists' marker row (the Iceberg JDBC catalog's layout). */
int kiln_lake_namespace_props(kiln_lake_catalog *c, const char *ns,
                              int (*fn)(void *ctx, const char *key, const char *value), void *ctx, kiln_err *err)
{
    int rc;
    if ((rc = ns_check(ns, err)) != 0)
        return rc;
    if (c->kind != KILN_LAKE_CATALOG_SQLITE || !c->db)
        return 0; /* the Hadoop catalog (and a missing warehouse) has none */
    sqlite3_stmt *st;
    if ((rc = db_prepare(c,
                         "SELECT property_key, property_value FROM iceberg_namespace_properties "
                         "WHERE catalog_name=? AND namespace=? AND property_key<>'exists' ORDER BY 1",
                         DB_ARGS(CATALOG_NAME, ns), &st, err)) != 0)
        return rc;
    int step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0), *v = (const char *)sqlite3_column_text(st, 1);
        rc = fn(ctx, k ? k : "", v ? v : "");
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_err(c, err, "namespace properties");
    sqlite3_finalize(st);
    return rc;
}

int kiln_lake_namespace_props_update(kiln_lake_catalog *c, const char *ns, const char *const *remove, size_t nremove,
                                     int *removed, const char *const *keys, const char *const *values, size_t nset,
                                     kiln_err *err)
{
    int rc;
    if ((rc = ns_check(ns, err)) != 0 || (rc = catalog_writable(c, err)) != 0)
        return rc;
    if (c->kind != KILN_LAKE_CATALOG_SQLITE)
        return kiln_err_set(err, KILN_EUNSUPP, "namespace %s: the hadoop catalog keeps no namespace properties", ns);
    for (size_t i = 0; i < nremove; i++)
        if (strcmp(remove[i], "exists") == 0)
            return kiln_err_set(err, KILN_EINVAL, "namespace property 'exists' is reserved");
    for (size_t i = 0; i < nset; i++)
        if (strcmp(keys[i], "exists") == 0)
            return kiln_err_set(err, KILN_EINVAL, "namespace property 'exists' is reserved");
    if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_err(c, err, "begin");
    for (size_t i = 0; i < nremove; i++) {
        int changed = 0;
        if ((rc = db_write(c,
                           "DELETE FROM iceberg_namespace_properties WHERE catalog_name=? AND namespace=? AND "
                           "property_key=?",
                           DB_ARGS(CATALOG_NAME, ns, remove[i]), &changed, "namespace properties", err)) != 0)
            goto done;
        if (removed)
            removed[i] = changed > 0;
    }
    for (size_t i = 0; i < nset; i++)
        if ((rc = db_write(c, "INSERT OR REPLACE INTO iceberg_namespace_properties VALUES (?, ?, ?, ?)",
                           DB_ARGS(CATALOG_NAME, ns, keys[i], values[i]), NULL, "namespace properties", err)) != 0)
            goto done;
    if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_err(c, err, "commit");
done:
    if (rc)
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

typedef KILN_VEC(char *) name_vec;

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct dirs_ctx {
    name_vec *out;
    kiln_err *err;
} dirs_ctx;

static int dirs_add(void *vctx, const char *name, const kiln_lake_io_stat *st)
{
    dirs_ctx *dc = vctx;
    if (!st->is_dir || !part_ok(name, strlen(name)))
        return 0;
    char *copy = kiln_strdup(name);
    if (!copy || kiln_vec_push(dc->out, copy, dc->err) != 0) {
        kiln_free(copy);
        return KILN_OOM(dc->err);
    }
    return 0;
}

/* Sorted subdirectory names of dir with safe names. */
static int list_dirs(const char *dir, name_vec *out, kiln_err *err)
{
    dirs_ctx dc = {out, err};
    int rc = kiln_lake__io_list(dir, dirs_add, &dc, err);
    kiln_sort(out->items, out->len, sizeof(char *), cmp_str);
    return rc;
}

static void free_names(name_vec *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}

int kiln_lake_namespace_list(kiln_lake_catalog *c, int (*fn)(void *ctx, const char *ns), void *ctx, kiln_err *err)
{
    int rc = 0;
    if (c->kind == KILN_LAKE_CATALOG_SQLITE) {
        if ((rc = catalog_readable(c, err)) != 0 || !c->db)
            return rc; /* no catalog.db (yet): no namespaces */
        sqlite3_stmt *st = NULL;
        if ((rc = db_prepare(c,
                             "SELECT namespace FROM iceberg_namespace_properties WHERE catalog_name=?1 "
                             "UNION SELECT table_namespace FROM iceberg_tables WHERE catalog_name=?1 ORDER BY 1",
                             DB_ARGS(CATALOG_NAME), &st, err)) != 0)
            return rc;
        int s;
        while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
            rc = fn(ctx, (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return rc;
    }
    name_vec names = {0};
    if ((rc = catalog_readable(c, err)) == 0 && (rc = list_dirs(c->warehouse, &names, err)) == 0)
        for (size_t i = 0; rc == 0 && i < names.len; i++)
            rc = fn(ctx, names.items[i]);
    free_names(&names);
    return rc;
}

/* ------------------------------------------------------------ versions */

static char *meta_path(const char *dir, int version)
{
    return kiln_sprintf("%s/metadata/v%d.metadata.json", dir, version);
}

static int file_exists(const char *p) { return kiln_lake__io_exists(p); }

/* Parse N out of ".../vN.metadata.json"; -1 if it is not that shape. */
static int version_of(const char *loc)
{
    const char *slash = strrchr(loc, '/');
    const char *b = slash ? slash + 1 : loc;
    if (b[0] != 'v')
        return -1;
    char *end;
    long v = strtol(b + 1, &end, 10);
    if (end == b + 1 || strcmp(end, ".metadata.json") != 0 || v < 0 || v > MAX_VERSION)
        return -1;
    return (int)v;
}

/* N of ".../NNNNN-<uuid>.metadata.json" (the names Iceberg Java's Hive,
 * REST, Glue and JDBC catalogs give; Spark's and Trino's tables), or -1. */
static int java_version_of(const char *loc)
{
    const char *slash = strrchr(loc, '/');
    const char *b = slash ? slash + 1 : loc;
    int d = 0;
    while (b[d] >= '0' && b[d] <= '9')
        d++;
    size_t n = strlen(b), suf = strlen(".metadata.json");
    if (d < 5 || b[d] != '-' || n <= (size_t)d + 1 + suf || strcmp(b + n - suf, ".metadata.json") != 0)
        return -1;
    long v = strtol(b, NULL, 10);
    return v >= 0 && v <= MAX_VERSION ? (int)v : -1;
}

static int max_version_cb(void *ctx, const char *name, const kiln_lake_io_stat *st)
{
    int x = st->is_dir ? -1 : version_of(name);
    if (x > *(int *)ctx)
        *(int *)ctx = x;
    return 0;
}

/* Hadoop view: the hint, then the highest v<N> probing upward. 0 = none. */
static int hadoop_current_version(const char *dir)
{
    int v = 0;
    char *hint = kiln_sprintf("%s/metadata/version-hint.text", dir);
    char *data = NULL;
    size_t n = 0;
    kiln_err e = {0};
    if (hint && kiln_lake__io_read_all(hint, 64, &data, &n, &e) == 0) {
        v = atoi(data);
        if (v < 0 || v > MAX_VERSION)
            v = 0;
    }
    kiln_free(hint);
    kiln_free(data);
    if (v > 0) {
        /* a hint naming a missing file (damaged or hand-edited) is ignored */
        char *cur = meta_path(dir, v);
        if (!file_exists(cur))
            v = 0;
        kiln_free(cur);
    }
    if (v == 0) {
        /* no hint: list the directory */
        char *mdir = kiln_sprintf("%s/metadata", dir);
        if (mdir)
            kiln_lake__io_list(mdir, max_version_cb, &v, &e);
        kiln_free(mdir);
    }
    for (;;) {
        char *next = meta_path(dir, v + 1);
        int ok = file_exists(next);
        kiln_free(next);
        if (!ok)
            break;
        v++;
    }
    if (v > 0) {
        char *cur = meta_path(dir, v);
        if (!file_exists(cur))
            v = 0;
        kiln_free(cur);
    }
    return v;
}

static int write_hint(const char *dir, int version, kiln_err *err)
{
    char *hint = kiln_sprintf("%s/metadata/version-hint.text", dir);
    char num[16];
    int n = snprintf(num, sizeof(num), "%d", version);
    int rc = hint ? kiln_lake__io_write_atomic(hint, num, (size_t)n, err) : KILN_OOM(err);
    kiln_free(hint);
    return rc;
}

/* ------------------------------------------------------------ table rows */

static int row_get(kiln_lake_catalog *c, const char *ns, const char *tbl, char **loc_out, kiln_err *err)
{
    *loc_out = NULL;
    int rc = catalog_readable(c, err);
    if (rc)
        return rc;
    if (!c->present)
        return kiln_err_set(err, KILN_ENOTFOUND, "warehouse not found: %s", c->warehouse);
    if (!c->db)
        return kiln_err_set(err, KILN_ENOTFOUND, "no table %s.%s: %s has no catalog.db", ns, tbl, c->warehouse);
    sqlite3_stmt *st;
    if ((rc = db_prepare(c,
                         "SELECT metadata_location FROM iceberg_tables WHERE catalog_name=? AND table_namespace=? "
                         "AND table_name=?",
                         DB_ARGS(CATALOG_NAME, ns, tbl), &st, err)) != 0)
        return rc;
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (!(*loc_out = kiln_strdup(v ? v : "")))
            rc = KILN_OOM(err);
    } else if (s == SQLITE_DONE) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "no table %s.%s in catalog %s/catalog.db (see 'kiln table list')", ns,
                          tbl, c->warehouse);
    } else {
        rc = db_err(c, err, "read table");
    }
    sqlite3_finalize(st);
    return rc;
}

/* UPDATE ... WHERE metadata_location = old. KILN_ECONFLICT if 0 rows. */
static int row_swap(kiln_lake_catalog *c, const char *ns, const char *tbl, const char *old, const char *new_loc,
                    kiln_err *err)
{
    int changed = 0;
    int rc = db_write(c,
                      "UPDATE iceberg_tables SET metadata_location=?, previous_metadata_location=? "
                      "WHERE catalog_name=? AND table_namespace=? AND table_name=? AND metadata_location=?",
                      DB_ARGS(new_loc, old, CATALOG_NAME, ns, tbl, old), &changed, "swap metadata location", err);
    if (rc == 0 && changed != 1)
        rc = kiln_err_set(err, KILN_ECONFLICT, "table %s.%s was changed by another commit", ns, tbl);
    return rc;
}

/* ------------------------------------------------------------ load */

static void table_free_fields(kiln_lake_table *t)
{
    kiln_free(t->name);
    kiln_free(t->dir);
    kiln_free(t->metadata_location);
    kiln_lake_meta_free(t->meta);
}

void kiln_lake_table_free(kiln_lake_table *t)
{
    if (!t)
        return;
    table_free_fields(t);
    kiln_free(t);
}

/* Roll the SQLite row forward over versions committed by link but not yet
 * recorded (a crash between link and UPDATE, or a hadoop-mode writer). */
static int roll_forward(kiln_lake_table *t, kiln_err *err)
{
    int rc = 0;
    const int start_version = t->version;
    for (;;) {
        char *next = meta_path(t->dir, t->version + 1);
        if (!next)
            return KILN_OOM(err);
        if (!file_exists(next)) {
            kiln_free(next);
            if (t->version > start_version && t->cat->mode != KILN_LAKE_OPEN_READONLY) {
                /* readers that follow version-hint.text (Hadoop tables,
                 * icebird) must see the recovered version too */
                kiln_err he = {0};
                if (write_hint(t->dir, t->version, &he) != 0)
                    kiln_warn("table %s: version-hint.text not updated: %s", t->name, he.msg);
            }
            return 0;
        }
        kiln_lake_meta *m = NULL;
        kiln_err e2 = {0};
        int ok = kiln_lake_meta_read(&m, next, &e2) == 0 && m->table_uuid && t->meta->table_uuid &&
                 strcmp(m->table_uuid, t->meta->table_uuid) == 0 && m->nmetadata_log > 0 &&
                 strcmp(m->metadata_log[m->nmetadata_log - 1].metadata_file, t->metadata_location) == 0;
        if (!ok) {
            kiln_lake_meta_free(m);
            rc = kiln_err_set(err, KILN_EFORMAT,
                              "%s exists but does not continue %s (a foreign or damaged file; move it away to "
                              "let commits proceed)",
                              next, t->metadata_location);
            kiln_free(next);
            return rc;
        }
        char *loc = kiln_lake_path_to_uri(next);
        kiln_free(next);
        if (!loc) {
            kiln_lake_meta_free(m);
            return KILN_OOM(err);
        }
        if (t->cat->kind == KILN_LAKE_CATALOG_SQLITE && t->cat->mode != KILN_LAKE_OPEN_READONLY) {
            rc = row_swap(t->cat, t->ns, t->tbl, t->metadata_location, loc, err);
            if (rc == KILN_ECONFLICT) {
                /* someone else rolled it forward or committed: re-read */
                kiln_free(loc);
                kiln_lake_meta_free(m);
                char *cur = NULL;
                if ((rc = row_get(t->cat, t->ns, t->tbl, &cur, err)) != 0)
                    return rc;
                kiln_lake_meta *cm = NULL;
                if ((rc = kiln_lake_meta_read(&cm, cur, err)) != 0) {
                    kiln_free(cur);
                    return rc;
                }
                kiln_lake_meta_free(t->meta);
                t->meta = cm;
                kiln_free(t->metadata_location);
                t->metadata_location = cur;
                t->version = version_of(cur);
                if (t->version < 0)
                    return 0;
                continue;
            }
            if (rc != 0) {
                /* The catalog row could not be moved (typically SQLITE_BUSY:
                 * this connection reads inside a transaction while a writer
                 * holds the write lock, so SQLite refuses to wait). The
                 * linked metadata file is the commit; the writer (or the
                 * next load) records it in the row. Read the table as of the
                 * file, as every reader of version-hint.text does. */
                kiln_debug("table %s: v%d read from its metadata file; catalog row not moved (%s)", t->name,
                           t->version + 1, err->msg);
                *err = (kiln_err){0};
                rc = 0;
            } else {
                kiln_warn("table %s: recovered commit v%d (catalog row was behind the metadata files)", t->name,
                          t->version + 1);
            }
        }
        kiln_lake_meta_free(t->meta);
        t->meta = m;
        kiln_free(t->metadata_location);
        t->metadata_location = loc;
        t->version++;
    }
}

static int table_new(kiln_lake_table **out, kiln_lake_catalog *c, const char *name, kiln_err *err);

/* Is loc one of the metadata files t's current metadata descends from? */
static int row_is_ancestor(const kiln_lake_table *t, const char *loc)
{
    for (size_t i = 0; t->meta && i < t->meta->nmetadata_log; i++)
        if (t->meta->metadata_log[i].metadata_file && !strcmp(t->meta->metadata_log[i].metadata_file, loc))
            return 1;
    return 0;
}

/* Is t a registered table? Then set t->registered and m's remap from the
 * kiln_registered row (catalogs without that table have none). */
static int registered_get(kiln_lake_table *t, kiln_lake_meta *m, kiln_err *err)
{
    sqlite3_stmt *st = NULL;
    if (!t->cat->db || sqlite3_prepare_v2(t->cat->db,
                                          "SELECT remap_from, remap_to FROM kiln_registered WHERE catalog_name=? AND "
                                          "table_namespace=? AND table_name=?",
                                          -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return 0; /* no such table: nothing was ever registered here */
    }
    sqlite3_bind_text(st, 1, CATALOG_NAME, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t->tbl, -1, SQLITE_STATIC);
    int rc = 0;
    if (sqlite3_step(st) == SQLITE_ROW) {
        t->registered = 1;
        const char *from = (const char *)sqlite3_column_text(st, 0), *to = (const char *)sqlite3_column_text(st, 1);
        if (from && *from) {
            m->remap_from = kiln_lake__strdup(m, from);
            m->remap_to = kiln_lake__strdup(m, to ? to : "");
            if (!m->remap_from || !m->remap_to)
                rc = KILN_OOM(err);
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int kiln_lake_table_is_registered(const kiln_lake_table *t) { return t && t->registered; }

int kiln_lake__refuse_registered(const kiln_lake_table *t, kiln_err *err)
{
    if (!t || !t->registered)
        return 0;
    if (t->meta && t->meta->remap_from) /* a copy read through a remap: its paths name another place */
        return kiln_err_set(err, KILN_EUNSUPP,
                            "table %s was registered with --remap %s=%s (a copy read in place of %s): kiln never "
                            "writes into a remapped table; register the table where its metadata says it is to "
                            "write to it (docs/lake.md)",
                            t->name, t->meta->remap_from, t->meta->remap_to ? t->meta->remap_to : "",
                            t->meta->remap_from);
    return 0; /* kiln commits to it like to its own tables (docs/lake.md) */
}

int kiln_lake__refuse_registered_delete(const kiln_lake_table *t, const char *what, kiln_err *err)
{
    int rc = kiln_lake__refuse_registered(t, err);
    if (rc || !t || !t->registered)
        return rc;
    return kiln_err_set(err, KILN_EUNSUPP,
                        "table %s was registered from another engine's metadata: kiln does not %s in it (files "
                        "the other engine's catalog may still reference would be deleted; docs/lake.md)",
                        t->name, what);
}

int kiln_lake_table_register(kiln_lake_catalog *c, const char *name, const char *metadata, const kiln_lake_remap *remap,
                             kiln_err *err)
{
    kiln_lake_table *t = NULL;
    kiln_lake_meta *m = NULL;
    char *path = NULL, *loc = NULL;
    int rc, in_txn = 0;
    if (c->kind != KILN_LAKE_CATALOG_SQLITE)
        return kiln_err_set(err, KILN_EUNSUPP,
                            "register needs the SQLite catalog (the hadoop catalog finds tables "
                            "by directory only)");
    if ((rc = catalog_writable(c, err)) || (rc = table_new(&t, c, name, err)))
        goto done;
    /* a local path: file: URIs and relative paths made absolute */
    if (strncmp(metadata, "file:", 5) == 0) {
        if ((rc = kiln_lake_uri_to_path(&path, metadata, err)))
            goto done;
    } else if (!strncmp(metadata, "s3://", 5) || !strncmp(metadata, "s3a://", 6) || !strncmp(metadata, "s3n://", 6)) {
        /* the object store (src/store through lake_io): Hadoop's s3a:/s3n: name the same objects */
        const char *rest = strstr(metadata, "://") + 3;
        char *uri = kiln_sprintf("s3://%s", rest);
        if (!uri) {
            rc = KILN_OOM(err);
            goto done;
        }
        size_t l = strlen(uri);
        while (l > 5 && uri[l - 1] == '/')
            uri[--l] = 0;
        if (l > 14 && !strcmp(uri + l - 14, ".metadata.json")) {
            loc = uri;
        } else { /* a table directory: its current vN.metadata.json */
            int v = hadoop_current_version(uri);
            if (v <= 0) {
                rc = kiln_err_set(err, KILN_ENOTFOUND,
                                  "register: %s has no metadata/vN.metadata.json; give the metadata file itself "
                                  "with --metadata",
                                  uri);
                kiln_free(uri);
                goto done;
            }
            loc = meta_path(uri, v);
            kiln_free(uri);
            if (!loc) {
                rc = KILN_OOM(err);
                goto done;
            }
        }
        if (!kiln_lake__io_exists(loc)) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "register: %s: no such object", loc);
            goto done;
        }
        goto have_loc;
    } else if (strstr(metadata, "://")) {
        rc = kiln_err_set(err, KILN_EUNSUPP,
                          "%s: kiln registers tables whose metadata is a local file (a path or file: URI) or an "
                          "s3:// (s3a://) object; copy it locally and use --remap",
                          metadata);
        goto done;
    } else if (metadata[0] == '/') {
        path = kiln_strdup(metadata);
    } else {
        char cwd[4096];
        path = getcwd(cwd, sizeof cwd) ? kiln_sprintf("%s/%s", cwd, metadata) : NULL;
        if (!path) {
            rc = kiln_err_set(err, KILN_EIO, "register: cannot resolve %s: %s", metadata, strerror(errno));
            goto done;
        }
    }
    if (!path) {
        rc = KILN_OOM(err);
        goto done;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        rc = kiln_err_set(err, KILN_ENOTFOUND, "register: %s: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) { /* a table directory: its current vN.metadata.json */
        size_t l = strlen(path);
        while (l > 1 && path[l - 1] == '/')
            path[--l] = 0;
        int v = hadoop_current_version(path);
        if (v <= 0) {
            rc = kiln_err_set(err, KILN_ENOTFOUND,
                              "register: %s has no metadata/vN.metadata.json; give the "
                              "metadata file itself with --metadata",
                              path);
            goto done;
        }
        char *p = meta_path(path, v);
        kiln_free(path);
        path = p;
        if (!path) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    if (!(loc = kiln_lake_path_to_uri(path))) {
        rc = KILN_OOM(err);
        goto done;
    }
have_loc:
    if ((rc = kiln_lake_meta_read(&m, loc, err)))
        goto done;
    {
        /* every column must be one kiln can deliver: refuse now, naming it */
        kiln_arena *a = kiln_arena_new(16 * 1024);
        kiln_lake_view v;
        if (!a) {
            rc = KILN_OOM(err);
            goto done;
        }
        rc = kiln_lake_view_from_meta(&v, a, m, -1, NULL, err);
        kiln_arena_free(a);
        if (rc) {
            kiln_err_prefix(err, "register %s: ", t->name);
            goto done;
        }
    }
    if ((rc = db_exec(c,
                      "CREATE TABLE IF NOT EXISTS kiln_registered("
                      " catalog_name VARCHAR(255) NOT NULL, table_namespace VARCHAR(255) NOT NULL,"
                      " table_name VARCHAR(255) NOT NULL, remap_from VARCHAR(1000), remap_to VARCHAR(1000),"
                      " PRIMARY KEY (catalog_name, table_namespace, table_name))",
                      err)))
        goto done;
    if ((rc = db_exec(c, "BEGIN IMMEDIATE", err)))
        goto done;
    in_txn = 1;
    {
        char *cur = NULL;
        kiln_err e2 = {0};
        if (row_get(c, t->ns, t->tbl, &cur, &e2) == 0) {
            kiln_free(cur);
            rc = kiln_err_set(err, KILN_EEXIST, "table %s already exists", t->name);
            goto done;
        }
    }
    if (!rc) {
        const char *from = remap && remap->from ? remap->from : NULL, *to = from ? (remap->to ? remap->to : "") : NULL;
        rc = db_write(c, "INSERT INTO iceberg_tables VALUES (?, ?, ?, ?, NULL)",
                      DB_ARGS(CATALOG_NAME, t->ns, t->tbl, loc), NULL, "register table", err);
        if (!rc)
            rc = db_write(c, "INSERT OR REPLACE INTO kiln_registered VALUES (?, ?, ?, ?, ?)",
                          DB_ARGS(CATALOG_NAME, t->ns, t->tbl, from, to), NULL, "register table", err);
    }
    if (!rc && !(rc = db_exec(c, "COMMIT", err)))
        in_txn = 0;
done:
    if (in_txn)
        db_exec(c, "ROLLBACK", &(kiln_err){0});
    kiln_lake_meta_free(m);
    kiln_free(path);
    kiln_free(loc);
    kiln_lake_table_free(t);
    return rc;
}

static int table_read_current(kiln_lake_table *t, kiln_err *err)
{
    int rc;
    char *loc = NULL;
    kiln_lake_meta *m = NULL;
    if ((rc = catalog_readable(t->cat, err)) != 0)
        goto done;
    if (t->cat->kind == KILN_LAKE_CATALOG_SQLITE) {
        if ((rc = row_get(t->cat, t->ns, t->tbl, &loc, err)) != 0)
            goto done;
    } else {
        int v = hadoop_current_version(t->dir);
        if (v <= 0) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "no table %s under %s (no metadata/v*.metadata.json)", t->name,
                              t->cat->warehouse);
            goto done;
        }
        char *p = meta_path(t->dir, v);
        loc = p ? kiln_lake_path_to_uri(p) : NULL;
        kiln_free(p);
        if (!loc) {
            rc = KILN_OOM(err);
            goto done;
        }
    }
    if ((rc = kiln_lake_meta_read(&m, loc, err)) != 0) {
        /* a multi-table commit committed loc but crashed before linking it */
        char *from = NULL;
        kiln_err re = {0};
        if (rc != KILN_ENOTFOUND || kiln_lake__multi_recover(t->cat, loc, &from, &re) != 0)
            goto done;
        *err = (kiln_err){0};
        rc = kiln_lake_meta_read(&m, from ? from : loc, err);
        kiln_free(from);
        if (rc != 0)
            goto done;
    }
    if (t->cat->kind == KILN_LAKE_CATALOG_SQLITE && (rc = registered_get(t, m, err)) != 0)
        goto done;
    kiln_lake_meta_free(t->meta);
    t->meta = m;
    m = NULL;
    kiln_free(t->metadata_location);
    t->metadata_location = loc;
    loc = NULL;
    t->version = version_of(t->metadata_location);
    t->java_names = 0;
    if (t->version < 0 && t->registered && (t->version = java_version_of(t->metadata_location)) >= 0)
        t->java_names = 1; /* a registered table of Spark/Trino: continue its naming */
    if (t->version >= 0) {
        /* the table directory is where its metadata is (a renamed table
         * keeps its files where they were) */
        char *path = NULL;
        if ((rc = kiln_lake_uri_to_path(&path, t->metadata_location, err)) != 0)
            goto done;
        char *slash = strrchr(path, '/');
        if (slash) {
            *slash = 0;
            slash = strrchr(path, '/');
        }
        if (slash && strcmp(slash, "/metadata") == 0) {
            *slash = 0;
            kiln_free(t->dir);
            t->dir = path;
            path = NULL;
        }
        kiln_free(path);
        rc = roll_forward(t, err);
    }
done:
    kiln_free(loc);
    kiln_lake_meta_free(m);
    return rc;
}

static int table_new(kiln_lake_table **out, kiln_lake_catalog *c, const char *name, kiln_err *err)
{
    *out = NULL;
    kiln_lake_table *t = kiln_calloc(1, sizeof(*t));
    if (!t)
        return KILN_OOM(err);
    int rc = kiln_lake_name_split(name, t->ns, t->tbl, err);
    if (rc != 0) {
        kiln_free(t);
        return rc;
    }
    t->cat = c;
    t->name = kiln_sprintf("%s.%s", t->ns, t->tbl);
    t->dir = kiln_sprintf("%s/%s/%s", c->warehouse, t->ns, t->tbl);
    if (!t->name || !t->dir) {
        kiln_lake_table_free(t);
        return KILN_OOM(err);
    }
    *out = t;
    return 0;
}

int kiln_lake_table_load(kiln_lake_table **out, kiln_lake_catalog *c, const char *name, kiln_err *err)
{
    *out = NULL;
    kiln_lake_table *t = NULL;
    int rc = table_new(&t, c, name, err);
    if (rc == 0 && (rc = table_read_current(t, err)) == 0) {
        *out = t;
        t = NULL;
    }
    kiln_lake_table_free(t);
    return rc;
}

int kiln_lake_table_refresh(kiln_lake_table *t, kiln_err *err) { return table_read_current(t, err); }

const kiln_lake_meta *kiln_lake_table_meta(const kiln_lake_table *t) { return t->meta; }
const char *kiln_lake_table_name(const kiln_lake_table *t) { return t->name; }
const char *kiln_lake_table_metadata_location(const kiln_lake_table *t) { return t->metadata_location; }
int kiln_lake_table_version(const kiln_lake_table *t) { return t->version; }
const char *kiln_lake_table_dir(const kiln_lake_table *t) { return t->dir; }
kiln_lake_catalog *kiln_lake_table_catalog(const kiln_lake_table *t) { return t->cat; }

/* ------------------------------------------------------------ list */

typedef struct {
    int (*fn)(void *ctx, const char *name, const char *loc);
    void *ctx;
    kiln_lake_catalog *c;
    kiln_err *err;
} list_ctx;

static int list_ns_tables_hadoop(void *vctx, const char *ns)
{
    list_ctx *lc = vctx;
    char *nsdir = kiln_sprintf("%s/%s", lc->c->warehouse, ns);
    name_vec names = {0};
    int rc = nsdir ? list_dirs(nsdir, &names, lc->err) : KILN_ENOMEM;
    for (size_t i = 0; rc == 0 && i < names.len; i++) {
        char *dir = kiln_sprintf("%s/%s", nsdir, names.items[i]);
        int v = dir ? hadoop_current_version(dir) : 0;
        if (v > 0) {
            char *p = meta_path(dir, v), *loc = p ? kiln_lake_path_to_uri(p) : NULL;
            char *name = kiln_sprintf("%s.%s", ns, names.items[i]);
            if (loc && name)
                rc = lc->fn(lc->ctx, name, loc);
            kiln_free(p);
            kiln_free(loc);
            kiln_free(name);
        }
        kiln_free(dir);
    }
    free_names(&names);
    kiln_free(nsdir);
    return rc;
}

int kiln_lake_table_list(kiln_lake_catalog *c, const char *ns,
                         int (*fn)(void *ctx, const char *name, const char *metadata_location), void *ctx,
                         kiln_err *err)
{
    int rc;
    if (ns && (rc = ns_check(ns, err)) != 0)
        return rc;
    if (c->kind == KILN_LAKE_CATALOG_HADOOP) {
        list_ctx lc = {fn, ctx, c, err};
        if (ns)
            return list_ns_tables_hadoop(&lc, ns);
        return kiln_lake_namespace_list(c, list_ns_tables_hadoop, &lc, err);
    }
    if ((rc = catalog_readable(c, err)) != 0 || !c->db)
        return rc; /* no catalog.db (yet): no tables */
    sqlite3_stmt *st;
    if ((rc = db_prepare(c,
                         "SELECT table_namespace || '.' || table_name, metadata_location FROM iceberg_tables "
                         "WHERE catalog_name=?1 AND (?2 IS NULL OR table_namespace=?2) ORDER BY 1",
                         DB_ARGS(CATALOG_NAME, ns), &st, err)) != 0)
        return rc;
    int s;
    while (rc == 0 && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = fn(ctx, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return rc;
}

/* ------------------------------------------------------------ commit */

static int hook(const kiln_lake_commit_opts *opts, kiln_lake_hook_point where, kiln_err *err)
{
    if (opts && opts->test_hook) {
        int rc = opts->test_hook(where, opts->test_hook_ctx);
        if (rc != 0)
            return kiln_err_set(err, rc < 0 ? rc : KILN_EIO, "commit stopped by test hook at point %d", (int)where);
    }
    return 0;
}

/* Write m as version `version` into t->dir: temp file then no-overwrite
 * link. On success *loc_out is the new file:// URI. The SQLite lock (if
 * any) is held by the caller. */
static int link_version(kiln_lake_table *t, const kiln_buf *json, int version, const kiln_lake_commit_opts *opts,
                        char **loc_out, kiln_err *err)
{
    *loc_out = NULL;
    char uuid[37];
    kiln_lake_uuid_v4(uuid);
    char *mdir = kiln_sprintf("%s/metadata", t->dir);
    char *tmp = kiln_sprintf("%s/metadata/%s.metadata.json", t->dir, uuid);
    char uuid2[37];
    kiln_lake_uuid_v4(uuid2);
    char *final = t->java_names ? kiln_sprintf("%s/metadata/%05d-%s.metadata.json", t->dir, version, uuid2)
                                : meta_path(t->dir, version);
    /* everything the success path needs is allocated before the link: once
     * the link is made the commit has happened and must not fail */
    char *loc = final ? kiln_lake_path_to_uri(final) : NULL;
    int rc;
    if (!mdir || !tmp || !final || !loc) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake__io_mkdirs(mdir, err)) != 0)
        goto done;
    if ((rc = kiln_lake__io_write_new(tmp, json->data, json->len, err)) != 0)
        goto done;
    if ((rc = hook(opts, KILN_LAKE_HOOK_BEFORE_SWAP, err)) != 0) {
        /* a crash here leaves only the temp file: invisible, an orphan */
        goto done;
    }
    kiln_failpoint("lake.commit.before_link");
    if ((rc = kiln_lake__io_link_new(tmp, final, err)) != 0) {
        kiln_lake__io_remove(tmp, &(kiln_err){0});
        if (rc == KILN_EEXIST)
            rc = kiln_err_set(err, KILN_ECONFLICT, "table %s: v%d.metadata.json was committed by someone else", t->name,
                              version);
        goto done;
    }
    kiln_lake__io_remove(tmp, &(kiln_err){0});
    kiln_lake__io_sync_dir(mdir);
    *loc_out = loc;
    loc = NULL;
done:
    kiln_free(loc);
    kiln_free(mdir);
    kiln_free(tmp);
    kiln_free(final);
    return rc;
}

/* After the hint is written, make sure it does not point behind a newer
 * version someone else committed meanwhile (hadoop mode has no lock). */
static void fix_hint(const char *dir, int version)
{
    int v = version;
    for (;;) {
        char *next = meta_path(dir, v + 1);
        int ok = file_exists(next);
        kiln_free(next);
        if (!ok)
            break;
        v++;
    }
    if (v != version) {
        kiln_err e = {0};
        write_hint(dir, v, &e);
    }
}

int kiln_lake__table_commit(kiln_lake_table *t, kiln_lake_meta *m, const kiln_lake_commit_opts *opts, kiln_err *err)
{
    kiln_buf json;
    kiln_buf_init(&json, KILN_LAKE_META_MAX_BYTES);
    char *loc = NULL, *cur = NULL;
    const char *row_old = NULL; /* the row's location when it lags t's (else t's own) */
    int rc, in_txn = 0;
    int version = t->version + 1;
    kiln_lake_catalog *c = t->cat;

    if ((rc = catalog_writable(c, err)) != 0)
        goto done;
    if ((rc = kiln_lake__refuse_registered(t, err)) != 0)
        goto done; /* registered or format v3: read-only */
    if (t->version < 0) {
        rc = kiln_err_set(err, KILN_EUNSUPP,
                          "table %s: current metadata %s is not named vN.metadata.json; kiln commits only to "
                          "tables it can version",
                          t->name, t->metadata_location);
        goto done;
    }
    kiln_failpoint("lake.commit.before_metadata");
    if ((rc = kiln_lake_meta_write(m, 1, &json, err)) != 0)
        goto done;
    if ((rc = hook(opts, KILN_LAKE_HOOK_BEFORE_WRITE, err)) != 0)
        goto done;
    if (c->kind == KILN_LAKE_CATALOG_SQLITE) {
        if ((rc = db_exec(c, "BEGIN IMMEDIATE", err)) != 0)
            goto done;
        in_txn = 1;
        if ((rc = row_get(c, t->ns, t->tbl, &cur, err)) != 0)
            goto done;
        if (strcmp(cur, t->metadata_location) != 0) {
            if (!row_is_ancestor(t, cur)) {
                rc = kiln_err_set(err, KILN_ECONFLICT, "table %s was changed by another commit (now %s)", t->name, cur);
                goto done;
            }
            /* the row is behind the files this handle read (a reader rolled
             * forward without moving it): move it from where it is */
            row_old = cur;
        }
    }
    if ((rc = link_version(t, &json, version, opts, &loc, err)) != 0)
        goto done;
    /* Committed at the file level from here on. */
    if ((rc = hook(opts, KILN_LAKE_HOOK_AFTER_SWAP, err)) != 0)
        goto done; /* simulated crash: the SQLite txn rolls back; load rolls forward */
    kiln_failpoint("lake.commit.after_link");
    /* From here nothing may turn the commit into a failure: the linked
     * file IS the commit, and reporting an error for it would make a caller
     * believe a change that a later load will show did not happen. A
     * catalog row that cannot be updated (out of memory, disk) is only
     * behind; the next load rolls it forward. */
    {
        kiln_err cerr = {0};
        int row_rc = 0;
        if (c->kind == KILN_LAKE_CATALOG_SQLITE)
            row_rc = row_swap(c, t->ns, t->tbl, row_old ? row_old : t->metadata_location, loc, &cerr);
        kiln_err herr = {0};
        if (t->java_names)
            ; /* Iceberg Java's catalogs have no hint file */
        else if (write_hint(t->dir, version, &herr) != 0)
            kiln_warn("table %s: version-hint.text not updated: %s", t->name, herr.msg);
        else if (c->kind == KILN_LAKE_CATALOG_HADOOP)
            fix_hint(t->dir, version);
        if (in_txn && row_rc == 0 && (row_rc = db_exec(c, "COMMIT", &cerr)) == 0)
            in_txn = 0;
        if (row_rc != 0)
            kiln_warn("table %s: v%d is committed but the catalog row was not updated (%s); the next load "
                      "records it",
                      t->name, version, cerr.msg);
        kiln_failpoint("lake.commit.after_catalog");
    }
    kiln_lake_meta_free(t->meta);
    t->meta = m;
    m = NULL;
    kiln_free(t->metadata_location);
    t->metadata_location = loc;
    loc = NULL;
    t->version = version;
done:
    if (in_txn)
        db_exec(c, "ROLLBACK", &(kiln_err){0});
    kiln_buf_free(&json);
    kiln_free(loc);
    kiln_free(cur);
    if (rc != 0)
        kiln_lake_meta_free(m);
    return rc;
}

int kiln_lake__table_register(kiln_lake_catalog *c, const char *name, kiln_lake_meta *m, kiln_lake_table **out,
                              kiln_err *err)
{
    *out = NULL;
    kiln_lake_table *t = NULL;
    kiln_buf json;
    kiln_buf_init(&json, KILN_LAKE_META_MAX_BYTES);
    char *loc = NULL, *datadir = NULL;
    int rc, in_txn = 0;
    if ((rc = table_new(&t, c, name, err)) != 0)
        goto done;
    if ((rc = kiln_lake_namespace_create(c, t->ns, err)) != 0)
        goto done;
    datadir = kiln_sprintf("%s/data", t->dir);
    if (!datadir) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = kiln_lake__io_mkdirs(datadir, err)) != 0)
        goto done;
    if ((rc = kiln_lake_meta_write(m, 1, &json, err)) != 0)
        goto done;
    if (c->kind == KILN_LAKE_CATALOG_SQLITE) {
        if ((rc = db_exec(c, "BEGIN IMMEDIATE", err)) != 0)
            goto done;
        in_txn = 1;
        char *cur = NULL;
        kiln_err e2 = {0};
        if (row_get(c, t->ns, t->tbl, &cur, &e2) == 0) {
            kiln_free(cur);
            rc = kiln_err_set(err, KILN_EEXIST, "table %s already exists", t->name);
            goto done;
        }
    }
    if (hadoop_current_version(t->dir) > 0) {
        rc = kiln_err_set(err, KILN_EEXIST,
                          "table %s: %s/metadata already holds table metadata (a dropped table's files? "
                          "remove the directory or choose another name)",
                          t->name, t->dir);
        goto done;
    }
    if ((rc = link_version(t, &json, 1, NULL, &loc, err)) != 0) {
        if (rc == KILN_ECONFLICT)
            rc = kiln_err_set(err, KILN_EEXIST, "table %s was created concurrently", t->name);
        goto done;
    }
    if (c->kind == KILN_LAKE_CATALOG_SQLITE) {
        if ((rc = db_write(c, "INSERT INTO iceberg_tables VALUES (?, ?, ?, ?, NULL)",
                           DB_ARGS(CATALOG_NAME, t->ns, t->tbl, loc), NULL, "insert table", err)) != 0)
            goto done;
    }
    if ((rc = write_hint(t->dir, 1, err)) != 0)
        goto done;
    if (in_txn) {
        if ((rc = db_exec(c, "COMMIT", err)) != 0)
            goto done;
        in_txn = 0;
    }
    t->meta = m;
    m = NULL;
    t->metadata_location = loc;
    loc = NULL;
    t->version = 1;
    *out = t;
    t = NULL;
done:
    if (in_txn)
        db_exec(c, "ROLLBACK", &(kiln_err){0});
    kiln_buf_free(&json);
    kiln_free(loc);
    kiln_free(datadir);
    kiln_lake_meta_free(m);
    kiln_lake_table_free(t);
    return rc;
}

/* ------------------------------------------------------------ drop, rename */

int kiln_lake_table_drop(kiln_lake_catalog *c, const char *name, int purge, kiln_err *err)
{
    char ns[129], tbl[129];
    int rc = kiln_lake_name_split(name, ns, tbl, err);
    if (rc != 0 || (rc = catalog_writable(c, err)) != 0)
        return rc;
    char *dir = kiln_sprintf("%s/%s/%s", c->warehouse, ns, tbl);
    if (!dir)
        return KILN_OOM(err);
    if (c->kind == KILN_LAKE_CATALOG_SQLITE) {
        if (purge) {
            /* a renamed table keeps its files where they were: purge the
             * directory its metadata is in, if that is in the warehouse */
            kiln_lake_table *t = NULL;
            kiln_err e2 = {0};
            if (kiln_lake_table_load(&t, c, name, &e2) == 0) {
                if (t->registered) {
                    kiln_lake_table_free(t);
                    rc = kiln_err_set(err, KILN_EINVAL,
                                      "table %s was registered from another engine: drop it "
                                      "without --purge (its files are not kiln's to delete)",
                                      name);
                    goto done;
                }
                size_t wl = strlen(c->warehouse);
                if (strncmp(t->dir, c->warehouse, wl) == 0 && t->dir[wl] == '/' && !strstr(t->dir + wl, "/../")) {
                    kiln_free(dir);
                    dir = kiln_strdup(t->dir);
                }
                kiln_lake_table_free(t);
                if (!dir)
                    return KILN_OOM(err);
            }
        }
        int changed = 0;
        rc = db_write(c, "DELETE FROM iceberg_tables WHERE catalog_name=? AND table_namespace=? AND table_name=?",
                      DB_ARGS(CATALOG_NAME, ns, tbl), &changed, "drop table", err);
        if (rc == 0 && changed == 0)
            rc = kiln_err_set(err, KILN_ENOTFOUND, "no table %s to drop", name);
        if (rc != 0)
            goto done;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(c->db,
                               "DELETE FROM kiln_registered WHERE catalog_name=? AND table_namespace=? AND "
                               "table_name=?",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, CATALOG_NAME, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, tbl, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                rc = db_err(c, err, "drop registered table");
        }
        sqlite3_finalize(st);
        if (rc != 0)
            goto done;
    } else {
        if (hadoop_current_version(dir) <= 0) {
            rc = kiln_err_set(err, KILN_ENOTFOUND, "no table %s to drop", name);
            goto done;
        }
        if (!purge) {
            rc =
                kiln_err_set(err, KILN_EINVAL,
                             "the hadoop catalog has no registry: dropping %s needs --purge (deletes its files)", name);
            goto done;
        }
    }
    if (purge)
        rc = kiln_lake__io_rmtree(dir, err);
done:
    kiln_free(dir);
    return rc;
}

int kiln_lake_table_rename(kiln_lake_catalog *c, const char *from, const char *to, kiln_err *err)
{
    char ns1[129], t1[129], ns2[129], t2[129];
    int rc;
    if ((rc = kiln_lake_name_split(from, ns1, t1, err)) != 0 || (rc = kiln_lake_name_split(to, ns2, t2, err)) != 0)
        return rc;
    if (c->kind != KILN_LAKE_CATALOG_SQLITE)
        return kiln_err_set(err, KILN_EUNSUPP, "rename needs the SQLite catalog (hadoop tables are directories)");
    if ((rc = catalog_writable(c, err)) != 0)
        return rc;
    char *cur = NULL;
    kiln_err e2 = {0};
    if (row_get(c, ns2, t2, &cur, &e2) == 0) {
        kiln_free(cur);
        return kiln_err_set(err, KILN_EEXIST, "table %s already exists", to);
    }
    if ((rc = kiln_lake_namespace_create(c, ns2, err)) != 0)
        return rc;
    int changed = 0;
    rc = db_write(c,
                  "UPDATE iceberg_tables SET table_namespace=?, table_name=? WHERE catalog_name=? AND "
                  "table_namespace=? AND table_name=?",
                  DB_ARGS(ns2, t2, CATALOG_NAME, ns1, t1), &changed, "rename table", err);
    if (rc == 0 && changed == 0)
        rc = kiln_err_set(err, KILN_ENOTFOUND, "no table %s to rename", from);
    return rc;
}
