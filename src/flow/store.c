/*
 * store.c - the orchestrator's state in SQLite: .kiln/flow.db in WAL mode
 * (readers such as `kiln runs` never block the runner), busy timeout for a
 * second runner, and the schema:
 *
 *   dag_run        one row per (dag, logical_date): run id, interval, state
 *   task_instance  one row per (dag, task, logical_date): state, tries so
 *                  far, the idempotency key of the last decision, a note
 *   task_try       one row per try: pid, start/end, exit status, log path
 *   idem_key       keys whose task instance succeeded (with the definition
 *                  hash, kiln version and consumed assets' state, so
 *                  --explain can say what changed)
 *   dag_pause      DAGs paused for the scheduler
 *   alert_open     task instances whose failure alert is not resolved yet
 */
#include "flow_int.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS dag_run(dag TEXT NOT NULL, logical_date TEXT NOT NULL, run_id TEXT NOT NULL,"
    " interval_start TEXT, interval_end TEXT, state TEXT NOT NULL, started TEXT, ended TEXT,"
    " PRIMARY KEY(dag, logical_date));"
    "CREATE TABLE IF NOT EXISTS task_instance(dag TEXT NOT NULL, task TEXT NOT NULL, logical_date TEXT NOT NULL,"
    " state TEXT NOT NULL, try_number INTEGER NOT NULL DEFAULT 0, idem_key TEXT, note TEXT, started TEXT, ended TEXT,"
    " PRIMARY KEY(dag, task, logical_date));"
    "CREATE TABLE IF NOT EXISTS task_try(dag TEXT NOT NULL, task TEXT NOT NULL, logical_date TEXT NOT NULL,"
    " try_number INTEGER NOT NULL, state TEXT NOT NULL, pid INTEGER, started TEXT, ended TEXT, exit_code INTEGER,"
    " log_path TEXT, idem_key TEXT, note TEXT, duration_ms INTEGER,"
    " PRIMARY KEY(dag, task, logical_date, try_number));"
    "CREATE TABLE IF NOT EXISTS idem_key(key TEXT PRIMARY KEY, dag TEXT NOT NULL, task TEXT NOT NULL,"
    " logical_date TEXT NOT NULL, def_hash TEXT NOT NULL, kiln_version TEXT NOT NULL, try_number INTEGER,"
    " succeeded_at TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS idem_key_ti ON idem_key(dag, task, logical_date);"
    "CREATE TABLE IF NOT EXISTS dag_pause(dag TEXT PRIMARY KEY, paused INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alert_open(dag TEXT NOT NULL, task TEXT NOT NULL, logical_date TEXT NOT NULL,"
    " raised TEXT NOT NULL, PRIMARY KEY(dag, task, logical_date));"
    /* what a successful library task try wrote (task_lib.c result lines) */
    "CREATE TABLE IF NOT EXISTS asset_materialization(dag TEXT NOT NULL, task TEXT NOT NULL,"
    " logical_date TEXT NOT NULL, try_number INTEGER NOT NULL, asset TEXT NOT NULL, snapshot_id INTEGER,"
    " partition TEXT, rows INTEGER NOT NULL, recorded INTEGER NOT NULL,"
    " PRIMARY KEY(dag, task, logical_date, try_number, asset));"
    /* metrics the runners note for metrics.prom: the scheduler loop's lag
     * (a histogram shared by all runners) and each DAG's queue depth */
    "CREATE TABLE IF NOT EXISTS loop_lag(bucket INTEGER PRIMARY KEY, n INTEGER NOT NULL, sum_ms REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS queue_depth(dag TEXT PRIMARY KEY, n INTEGER NOT NULL, updated INTEGER NOT NULL);"
    /* asset-scheduled DAGs: each asset's state at the DAG's last run (or when first seen) */
    "CREATE TABLE IF NOT EXISTS asset_trigger(dag TEXT NOT NULL, asset TEXT NOT NULL, state TEXT NOT NULL,"
    " seen TEXT NOT NULL, PRIMARY KEY(dag, asset));";

int kiln_flow__store_open(kiln_flow_store *s, const char *state_dir, kiln_err *err)
{
    memset(s, 0, sizeof *s);
    int rc = kiln_mkdirs(state_dir, err);
    if (rc)
        return rc;
    char *path = kiln_sprintf("%s/flow.db", state_dir);
    if (!path)
        return KILN_OOM(err);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        goto done;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, msg ? msg : "schema");
        sqlite3_free(msg);
    }
    /* added later (a store made before lacks them; "duplicate column" means
     * another process added it meanwhile): the consumed assets' state a key
     * covered, a try's queue wait */
    static const char *const added[][2] = {{"idem_key", "inputs TEXT"}, {"task_try", "queue_wait_ms INTEGER"}};
    for (size_t i = 0; !rc && i < sizeof added / sizeof *added; i++) {
        char q[200];
        sqlite3_stmt *cst = NULL;
        snprintf(q, sizeof q, "SELECT %.*s FROM %s LIMIT 0", (int)strcspn(added[i][1], " "), added[i][1], added[i][0]);
        int has = sqlite3_prepare_v2(s->db, q, -1, &cst, NULL) == SQLITE_OK;
        sqlite3_finalize(cst);
        snprintf(q, sizeof q, "ALTER TABLE %s ADD COLUMN %s", added[i][0], added[i][1]);
        if (!has && sqlite3_exec(s->db, q, NULL, NULL, &msg) != SQLITE_OK) {
            if (!msg || !strstr(msg, "duplicate column"))
                rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, msg ? msg : "schema");
            sqlite3_free(msg);
            msg = NULL;
        }
    }
done:
    if (rc) {
        sqlite3_close(s->db);
        s->db = NULL;
    }
    kiln_free(path);
    return rc;
}

void kiln_flow__store_close(kiln_flow_store *s)
{
    for (unsigned i = 0; i < s->ncache; i++)
        sqlite3_finalize(s->cache[i].st);
    s->ncache = 0;
    if (s->db)
        sqlite3_close(s->db);
    s->db = NULL;
}

static void bind(sqlite3_stmt *st, const char *types, va_list ap)
{
    for (int i = 0; types[i]; i++) {
        if (types[i] == 's') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i + 1);
        } else {
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
    }
}

static int prepare(kiln_flow_store *s, sqlite3_stmt **st, kiln_err *err, const char *sql)
{
    *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return kiln_err_set(err, KILN_EINTERNAL, "state store: %s (%s)", sqlite3_errmsg(s->db), sql);
    return 0;
}

int kiln_flow__q(kiln_flow_store *s, sqlite3_stmt **out, kiln_err *err, const char *sql, const char *types, ...)
{
    int rc = prepare(s, out, err, sql);
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, types);
    bind(*out, types, ap);
    va_end(ap);
    return 0;
}

/* The cached statement for sql, prepared on first use. The pointer is the
 * key (callers pass literals); the text is compared too, so a caller's
 * buffer reused for other SQL at the same address is prepared afresh. */
static int cached(kiln_flow_store *s, sqlite3_stmt **out, kiln_err *err, const char *sql)
{
    for (unsigned i = 0; i < s->ncache; i++)
        if (s->cache[i].sql == sql && !strcmp(sqlite3_sql(s->cache[i].st), sql)) {
            *out = s->cache[i].st;
            return 0;
        }
    int rc = prepare(s, out, err, sql);
    if (rc)
        return rc;
    unsigned slot;
    if (s->ncache < KILN_FLOW_STMT_CACHE) {
        slot = s->ncache++;
    } else {
        slot = s->next_evict++ % KILN_FLOW_STMT_CACHE;
        sqlite3_finalize(s->cache[slot].st);
    }
    s->cache[slot].sql = sql;
    s->cache[slot].st = *out;
    return 0;
}

int kiln_flow__qc(kiln_flow_store *s, sqlite3_stmt **out, kiln_err *err, const char *sql, const char *types, ...)
{
    int rc = cached(s, out, err, sql);
    if (rc)
        return rc;
    sqlite3_reset(*out);
    sqlite3_clear_bindings(*out);
    va_list ap;
    va_start(ap, types);
    bind(*out, types, ap);
    va_end(ap);
    return 0;
}

int kiln_flow__x(kiln_flow_store *s, kiln_err *err, const char *sql, const char *types, ...)
{
    sqlite3_stmt *st;
    int rc = cached(s, &st, err, sql);
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, types);
    bind(st, types, ap);
    va_end(ap);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW)
        ;
    if (r != SQLITE_DONE)
        rc = kiln_err_set(err, KILN_EIO, "state store: %s", sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

void kiln_flow__ts(int64_t secs, char *out) { kiln_ts_format(secs * 1000000, out); }

int kiln_flow__mkdirs(const char *dir, kiln_err *err)
{
    /* the folder usually exists or only its last level is missing: one
     * mkdir, not one per level (a runner makes one per task instance) */
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    const char *slash = strrchr(dir, '/');
    if (errno != ENOENT || !slash || slash == dir)
        return kiln_mkdirs(dir, err); /* reports the error */
    /* the parent is missing too (a task's first instance): make it the
     * same way, from the bottom up, then this one */
    char *parent = kiln_strndup(dir, (size_t)(slash - dir));
    if (!parent)
        return KILN_OOM(err);
    int rc = kiln_flow__mkdirs(parent, err);
    kiln_free(parent);
    if (rc)
        return rc;
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    return kiln_mkdirs(dir, err);
}

int kiln_flow__mkdirs_for(const char *path, kiln_err *err)
{
    char *dir = kiln_strdup(path);
    if (!dir)
        return KILN_OOM(err);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash) {
        *slash = 0;
        rc = kiln_flow__mkdirs(dir, err);
    }
    kiln_free(dir);
    return rc;
}

char *kiln_flow__log_path(const kiln_flow_project *p, const char *dag, const char *task, const char *logical,
                          int try_number)
{
    /* one folder per DAG run, one file per try: a new folder per task
     * instance cost a mkdir (an inode and a directory block) per task,
     * the runner's largest cost for short tasks */
    return kiln_sprintf("%s/logs/%s/%s/%s.try-%d.log", p->state_dir, dag, logical, task, try_number);
}

/* The byte of the DAG's lock file that stands for a task instance: FNV-1a
 * (64 bits) of "task NUL logical", kept below 2^62 so start + 1 fits an
 * off_t. Two instances that share a byte (odds ~ n^2 / 2^63) only wait
 * for each other. */
static off_t ti_lock_byte(const char *task, const char *logical)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = task;; c++) {
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
        if (!*c)
            break;
    }
    for (const char *c = logical; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    return (off_t)(h & 0x3fffffffffffffffULL);
}

int kiln_flow__ti_lock(const kiln_flow_project *p, const char *dag, const char *task, const char *logical, int *fd_out,
                       kiln_err *err)
{
    *fd_out = -1;
    char *path = kiln_sprintf("%s/logs/%s/.locks", p->state_dir, dag);
    if (!path)
        return KILN_OOM(err);
    int rc = 0;
    /* O_RDWR: a write lock needs a descriptor open for writing. Its own
     * open file description per instance: open file description locks
     * conflict with each other even within one process, and one lives as
     * long as any descriptor of it (the task's fd 3 included) */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT && (rc = kiln_flow__mkdirs_for(path, err)) == 0)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (!rc)
            rc = kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
        kiln_free(path);
        return rc;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = ti_lock_byte(task, logical), .l_len = 1};
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        close(fd);
        if (e == EAGAIN || e == EACCES) {
            rc = 1;
        } else {
            rc = kiln_err_set(err, KILN_EIO, "%s: lock: %s", path, strerror(e));
        }
    } else {
        *fd_out = fd;
    }
    kiln_free(path);
    return rc;
}
