/*
 * gh_events.c - the GitHub-events job: GH Archive hour files -> pushes and
 * commits rows per UTC day (see gh_events.h, docs/engine.md).
 *
 * DESIGN
 * Plan: IN is listed once (hour names "-H" or zero-padded "-HH"; one hour
 * spelled both ways is refused; look-alike names are reported, not read).
 * The date range (or every hour file in IN) gives the days; each day gets
 * 24 hour slots; a slot whose file exists becomes a task, the rest are
 * reported missing; no task at all is "not found" unless allow_missing.
 * Tasks run on the base thread pool in time order; without keep_going no
 * task starts after one failed (its day's remaining hours are "skipped").
 *
 * A task streams its file through the ISA-L reader into a window buffer,
 * cuts lines with memchr, and scans each line for JSON objects (several if
 * they were concatenated `}{`). The scanner reads "id" and "type" first; a
 * non-push event is skipped to its closing brace without decoding anything.
 * A PushEvent has its fields decoded into a per-worker scratch buffer and is
 * appended to two columnar batches, flushed to the sinks at a row limit.
 * Anything unparseable is quarantined (NDJSON record with file, line, byte
 * offset, reason, raw prefix) and the scan resyncs at the next `{"id"` or
 * the next line.
 *
 * Dedupe: an event id seen earlier in the same hour, or in the previous
 * hour file, is a duplicate. Each task keeps the set of its ids; task h
 * uses task h-1's set as an exclusion set when h-1 finished before h
 * started; otherwise h checks its push ids against h-1's set at the end
 * and, on a hit (rare), re-runs its file with the exclusion set. Every
 * hour set is freed once its successor has used it, so memory holds a few
 * hours of ids, never a day's.
 *
 * Output: each task writes OUT/pushes/.staging-date=D/part-HH.<ext> (temp
 * file, fsync, rename) and its commit rows to a spill file beside the
 * commits' part files, remembering a key per row. When the last task of a
 * day finishes and all succeeded, the commit grain is applied (one row per
 * (repo_id, sha) and day, the later push's; see "grain" below), the
 * commits' part files are written from the spills, and each staged
 * directory is swapped with OUT/<table>/date=D in one
 * renameat2(RENAME_EXCHANGE) and the old one removed; on any failure the
 * staging is removed and the previous output stays.
 */
#include "engine/gh_events.h"
#include "engine/gh_int.h"
#include "format/text/text.h"
#include "format/gzip/gzip_read.h"
#include "format/json/json_scan.h"
#include "format/parquet/parquet.h"

#include <dirent.h>
#include <errno.h>
#include <isa-l/crc64.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GH_WINDOW_INIT ((size_t)4 << 20)
#define GH_READ_CHUNK ((size_t)1 << 20)
#define GH_LINE_CAP_DEFAULT ((size_t)64 << 20)
#define GH_BATCH_ROWS_DEFAULT 8192
#define GH_BATCH_BYTES ((size_t)16 << 20)
#define GH_QRAW_CAP 4096
#define GH_SCRATCH_CAP ((size_t)256 << 20)
#define GH_MAX_COMMITS 100000

/* ------------------------------------------------------------------ schemas */

static const kiln_column_def push_cols[KILN_GH_P_NCOLS] = {
    {"event_id", KILN_T_INT64, 1, 1, 0, 0},
    {"push_id", KILN_T_INT64, 0, 2, 0, 0},
    {"repo_id", KILN_T_INT64, 1, 3, 0, 0},
    {"repo_name", KILN_T_STRING, 0, 4, 0, 0},
    {"actor_id", KILN_T_INT64, 0, 5, 0, 0},
    {"actor_login", KILN_T_STRING, 0, 6, 0, 0},
    {"org_login", KILN_T_STRING, 0, 7, 0, 0},
    {"ref", KILN_T_STRING, 0, 8, 0, 0},
    {"head", KILN_T_STRING, 0, 9, 0, 0},
    {"before", KILN_T_STRING, 0, 10, 0, 0},
    {"size", KILN_T_INT32, 0, 11, 0, 0},
    {"distinct_size", KILN_T_INT32, 0, 12, 0, 0},
    {"created_at", KILN_T_TIMESTAMPTZ, 1, 13, 0, 0},
};
static const kiln_column_def commit_cols[KILN_GH_C_NCOLS] = {
    {"repo_id", KILN_T_INT64, 1, 1, 0, 0},
    {"repo_name", KILN_T_STRING, 0, 2, 0, 0},
    {"sha", KILN_T_STRING, 0, 3, 0, 0},
    {"push_id", KILN_T_INT64, 0, 4, 0, 0},
    {"author_name", KILN_T_STRING, 0, 5, 0, 0},
    {"author_email", KILN_T_STRING, 0, 6, 0, 0},
    {"message", KILN_T_STRING, 0, 7, 0, 0},
    {"distinct", KILN_T_BOOL, 0, 8, 0, 0},
    {"created_at", KILN_T_TIMESTAMPTZ, 1, 9, 0, 0},
};
static const kiln_schema push_schema = {KILN_GH_P_NCOLS, push_cols};
static const kiln_schema commit_schema = {KILN_GH_C_NCOLS, commit_cols};

const kiln_schema *kiln_gh_pushes_schema(void) { return &push_schema; }
const kiln_schema *kiln_gh_commits_schema(void) { return &commit_schema; }

/* ------------------------------------------------------------------ formats */

/* Parquet: one file per table per hour (like the text formats), kiln's
 * writer with its defaults (ZSTD 3, dictionary) but row groups of at most
 * 131,072 rows, field ids from the schemas above; temp name + rename inside
 * the staged day. Row groups that small keep the writer (one open file per
 * table per worker) and any reader of the file, the Iceberg load among
 * them, at tens of MB: with 128 MB row groups one hour at --scale 1 was a
 * single ~100 MB row group and the Iceberg load peaked near 260 MB. */
static int sink_parquet_open(kiln_sink **out, const char *path, const kiln_schema *schema, kiln_err *err)
{
    kiln_parquet_write_opts po;
    kiln_parquet_write_opts_init(&po);
    po.row_group_rows = 131072;
    return kiln_parquet_sink_new(out, path, schema, &po, NULL, err);
}

static const kiln_gh_format formats[] = {
    {"csv", ".csv", kiln_sink_csv_open},
    {"ndjson", ".ndjson", kiln_sink_ndjson_open},
    {"parquet", ".parquet", sink_parquet_open},
};

const kiln_gh_format *kiln_gh_format_find(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0)
            return &formats[i];
    return NULL;
}

const char *kiln_gh_format_names(void) { return "csv, ndjson, parquet"; }

void kiln_gh_opts_init(kiln_gh_opts *o)
{
    memset(o, 0, sizeof *o);
    o->format = &formats[0];
}

int kiln_gh_hour_name_parse(const char *name, int64_t *day, int *hour)
{
    size_t n = strlen(name);
    if (n < 20 || strcmp(name + n - 8, ".json.gz") != 0 || name[10] != '-')
        return KILN_EFORMAT;
    if (kiln_date_parse(name, 10, day) != 0)
        return KILN_EFORMAT;
    const char *h = name + 11;
    size_t hl = n - 8 - 11;
    if (hl < 1 || hl > 2) /* "5" (GH Archive) or "05" (zero-padded) */
        return KILN_EFORMAT;
    int v = 0;
    for (size_t i = 0; i < hl; i++) {
        if (h[i] < '0' || h[i] > '9')
            return KILN_EFORMAT;
        v = v * 10 + (h[i] - '0');
    }
    if (v > 23)
        return KILN_EFORMAT;
    *hour = v;
    return 0;
}

/* ------------------------------------------------------------------ plan */

typedef struct day_state day_state;

/* One commit row of an hour, for the grain (see commit_grain): the key's
 * hash (64 bits, plus 32 independent ones), where the row is, and the
 * push that carried it. */
typedef struct commit_key {
    uint64_t h;
    uint32_t fp;
    uint32_t loc;    /* row index in the hour; at the day's end task index << 27 | row */
    int64_t push_id; /* INT64_MIN for null: the lowest */
} commit_key;
#define GH_ROW_BITS 27

typedef struct hour_task {
    int64_t day;
    int hour;
    char name[40];
    char *path;
    day_state *dstate;
    struct hour_task *prev; /* the previous hour's task, if that file is planned */
    int has_next;           /* a task for the next hour exists (it frees our ids) */
    int done, failed, skipped;
    char error[512];
    kiln_gh_counts counts;
    kiln_i64set *ids; /* this hour's event ids (NULL until it runs) */
    KILN_VEC(int64_t) push_ids;
    KILN_VEC(commit_key) ckeys; /* one per commit row written to the spill */
    uint8_t *drop;              /* at the day's end: 1 per commit row the grain drops */
    size_t ncrows;              /* commit rows in the spill (ckeys.len, kept once ckeys is freed) */
    uint64_t gz_size;
    struct job *job;
} hour_task;

struct day_state {
    int64_t day;
    size_t first_task; /* its tasks are j->tasks[first_task .. first_task + ntasks) */
    int ntasks, pending, failed, skipped;
    int writes_pending; /* hours whose commit file is still being written */
    char error[512];
    kiln_gh_counts counts;
    int unchanged;               /* opts.unchanged said yes: no task planned */
    char fp[KILN_GH_FP_LEN + 1]; /* input fingerprint (opts.unchanged set), else "" */
};

/* A parsed filter: values per key (OR within a key, AND across keys). */
typedef struct strvec {
    char **items;
    size_t len, alloc;
} strvec;
typedef struct gh_filter {
    strvec actor, org, repo;
} gh_filter;

/* Per-worker reusable state. */
typedef struct worker {
    char *win;
    size_t win_alloc;
    kiln_buf scratch;
    kiln_batch *pb, *cb;
    kiln_buf qbuf;
} worker;

typedef struct job {
    const kiln_gh_opts *o;
    char *qdir;
    gh_filter filter;
    hour_task *tasks;
    size_t ntasks;
    day_state *days;
    size_t ndays;
    worker *workers;
    int nworkers;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t tasks_done;
    size_t tasks_started;        /* atomic: hour tasks a worker has picked up */
    kiln_pool *pool;             /* the day's commit files are written as tasks too */
    int stop;                    /* an hour failed and keep_going is 0: start no more */
    uint64_t gz_done, json_done; /* atomics */
    uint64_t gz_total;
    size_t line_cap, batch_rows;
    kiln_gh__remote *remote; /* --in on S3: hour files streamed (gh_rawzone.c), else NULL */
} job;

/* ------------------------------------------------------------------ parsing */

/* A decoded string in the worker scratch buffer; present = 0 is null. */
typedef struct span {
    uint32_t off, len;
    int present;
} span;

typedef struct gh_commit {
    span sha, name, email, message;
    int distinct; /* -1 null */
} gh_commit;

typedef struct gh_event {
    int64_t id;
    int has_id;
    int is_push; /* -1 unknown */
    int64_t actor_id, repo_id, push_id;
    int has_actor_id, has_repo_id, has_push_id;
    span actor_login, repo_name, org_login, ref, head, before;
    int64_t size, distinct_size;
    int has_size, has_distinct_size;
    int64_t created_at;
    int has_created;
    const char *payload, *payload_end; /* deferred when seen before "type" */
    KILN_VEC(gh_commit) commits;
} gh_event;

typedef struct scan_ctx {
    job *j;
    hour_task *t;
    worker *w;
    gh_event ev;
    const kiln_i64set *exclude;
    kiln_sink *psink, *csink;
    FILE *qf;
    char *qtmp, *qpath;
    uint64_t line_no, line_off; /* current line (1-based) and its stream offset */
    const char *line_start;
    kiln_err err; /* a fatal error (I/O, memory) stops the task */
    int fatal;
} scan_ctx;

#define KEYIS(k, n, lit) ((n) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

/* Decode a string-or-null value into scratch. */
static const char *get_str(scan_ctx *c, const char *p, const char *end, span *out, const char **why)
{
    if (p < end && *p == 'n') {
        out->present = 0;
        return kiln_json_skip_value(p, end, why);
    }
    kiln_buf *s = &c->w->scratch;
    size_t before = s->len;
    const char *q = kiln_json_str_decode(p, end, s, &c->t->counts.utf8_repaired, why);
    if (!q)
        return NULL;
    out->off = (uint32_t)before;
    out->len = (uint32_t)(s->len - before);
    out->present = 1;
    return q;
}

/* An int64 (number, digit string) or null. */
static const char *get_i64(const char *p, const char *end, int64_t *v, int *has, const char **why)
{
    if (p < end && *p == 'n') {
        *has = 0;
        return kiln_json_skip_value(p, end, why);
    }
    *has = 1;
    return kiln_json_parse_i64(p, end, v, why);
}

/* Generic "object with a few wanted keys" walker: calls one of three
 * small parsers depending on which sub-object we are in. */
enum { OBJ_ACTOR, OBJ_REPO, OBJ_ORG, OBJ_AUTHOR };

static const char *parse_small_obj(scan_ctx *c, int kind, const char *p, const char *end, gh_commit *cm,
                                   const char **why)
{
    gh_event *e = &c->ev;
    if (p < end && *p == 'n')
        return kiln_json_skip_value(p, end, why);
    p = kiln_json_obj_begin(p, end, why);
    if (!p)
        return NULL;
    for (;;) {
        const char *k;
        size_t kl;
        int done;
        p = kiln_json_obj_key(p, end, &k, &kl, &done, why);
        if (!p || done)
            return p;
        switch (kind) {
        case OBJ_ACTOR:
            if (KEYIS(k, kl, "id"))
                p = get_i64(p, end, &e->actor_id, &e->has_actor_id, why);
            else if (KEYIS(k, kl, "login"))
                p = get_str(c, p, end, &e->actor_login, why);
            else
                p = kiln_json_skip_value(p, end, why);
            break;
        case OBJ_REPO:
            if (KEYIS(k, kl, "id"))
                p = get_i64(p, end, &e->repo_id, &e->has_repo_id, why);
            else if (KEYIS(k, kl, "name"))
                p = get_str(c, p, end, &e->repo_name, why);
            else
                p = kiln_json_skip_value(p, end, why);
            break;
        case OBJ_ORG:
            if (KEYIS(k, kl, "login"))
                p = get_str(c, p, end, &e->org_login, why);
            else
                p = kiln_json_skip_value(p, end, why);
            break;
        default: /* OBJ_AUTHOR */
            if (KEYIS(k, kl, "name"))
                p = get_str(c, p, end, &cm->name, why);
            else if (KEYIS(k, kl, "email"))
                p = get_str(c, p, end, &cm->email, why);
            else
                p = kiln_json_skip_value(p, end, why);
            break;
        }
        if (!p)
            return NULL;
        p = kiln_json_obj_next(p, end, &done, why);
        if (!p || done)
            return p;
    }
}

static const char *parse_commit(scan_ctx *c, const char *p, const char *end, gh_commit *cm, const char **why)
{
    memset(cm, 0, sizeof *cm);
    cm->distinct = -1;
    p = kiln_json_obj_begin(p, end, why);
    if (!p)
        return NULL;
    for (;;) {
        const char *k;
        size_t kl;
        int done;
        p = kiln_json_obj_key(p, end, &k, &kl, &done, why);
        if (!p || done)
            return p;
        if (KEYIS(k, kl, "sha"))
            p = get_str(c, p, end, &cm->sha, why);
        else if (KEYIS(k, kl, "message"))
            p = get_str(c, p, end, &cm->message, why);
        else if (KEYIS(k, kl, "author"))
            p = parse_small_obj(c, OBJ_AUTHOR, p, end, cm, why);
        else if (KEYIS(k, kl, "distinct"))
            p = kiln_json_parse_bool(p, end, &cm->distinct, why);
        else
            p = kiln_json_skip_value(p, end, why);
        if (!p)
            return NULL;
        p = kiln_json_obj_next(p, end, &done, why);
        if (!p || done)
            return p;
    }
}

static const char *parse_commits(scan_ctx *c, const char *p, const char *end, const char **why)
{
    gh_event *e = &c->ev;
    if (p < end && *p == 'n')
        return kiln_json_skip_value(p, end, why);
    if (p >= end || *p != '[') {
        *why = "payload.commits is not an array";
        return NULL;
    }
    p = kiln_json_ws(p + 1, end);
    if (p < end && *p == ']')
        return p + 1;
    for (;;) {
        if (e->commits.len >= GH_MAX_COMMITS) {
            *why = "payload.commits has more than 100000 entries";
            return NULL;
        }
        gh_commit cm;
        p = parse_commit(c, p, end, &cm, why);
        if (!p)
            return NULL;
        if (kiln_vec_push(&e->commits, cm, &c->err)) {
            c->fatal = 1;
            *why = "out of memory";
            return NULL;
        }
        p = kiln_json_ws(p, end);
        if (p >= end) {
            *why = "truncated JSON (unclosed commits array)";
            return NULL;
        }
        if (*p == ']')
            return p + 1;
        if (*p != ',') {
            *why = "expected ',' or ']' in payload.commits";
            return NULL;
        }
        p = kiln_json_ws(p + 1, end);
    }
}

static const char *parse_payload(scan_ctx *c, const char *p, const char *end, const char **why)
{
    gh_event *e = &c->ev;
    p = kiln_json_obj_begin(p, end, why);
    if (!p)
        return NULL;
    for (;;) {
        const char *k;
        size_t kl;
        int done;
        p = kiln_json_obj_key(p, end, &k, &kl, &done, why);
        if (!p || done)
            return p;
        if (KEYIS(k, kl, "push_id"))
            p = get_i64(p, end, &e->push_id, &e->has_push_id, why);
        else if (KEYIS(k, kl, "size"))
            p = get_i64(p, end, &e->size, &e->has_size, why);
        else if (KEYIS(k, kl, "distinct_size"))
            p = get_i64(p, end, &e->distinct_size, &e->has_distinct_size, why);
        else if (KEYIS(k, kl, "ref"))
            p = get_str(c, p, end, &e->ref, why);
        else if (KEYIS(k, kl, "head"))
            p = get_str(c, p, end, &e->head, why);
        else if (KEYIS(k, kl, "before"))
            p = get_str(c, p, end, &e->before, why);
        else if (KEYIS(k, kl, "commits"))
            p = parse_commits(c, p, end, why);
        else
            p = kiln_json_skip_value(p, end, why);
        if (!p)
            return NULL;
        p = kiln_json_obj_next(p, end, &done, why);
        if (!p || done)
            return p;
    }
}

static void event_reset(gh_event *e)
{
    size_t alloc = e->commits.alloc;
    gh_commit *items = e->commits.items;
    memset(e, 0, sizeof *e);
    e->commits.items = items;
    e->commits.alloc = alloc;
    e->is_push = -1;
}

/* Parse one event object at p. Returns the position after it, or NULL. */
static const char *parse_event(scan_ctx *c, const char *p, const char *end, const char **why)
{
    gh_event *e = &c->ev;
    event_reset(e);
    kiln_buf_reset(&c->w->scratch);
    p = kiln_json_obj_begin(p, end, why);
    if (!p)
        return NULL;
    for (;;) {
        const char *k;
        size_t kl;
        int done;
        p = kiln_json_obj_key(p, end, &k, &kl, &done, why);
        if (!p)
            return NULL;
        if (done)
            break;
        if (KEYIS(k, kl, "id")) {
            p = kiln_json_parse_i64(p, end, &e->id, why);
            e->has_id = 1;
            /* the dedupe probes in handle_event miss the cache (the sets are
             * MBs, the slots random): start those loads now, so they overlap
             * the parse or skip of the rest of the event */
            if (p) {
                kiln_i64set_prefetch(c->t->ids, e->id);
                kiln_i64set_prefetch(c->exclude, e->id);
            }
        } else if (KEYIS(k, kl, "type")) {
            const char *q = kiln_json_str_skip(p, end, why);
            if (!q)
                return NULL;
            e->is_push = (q - p == 11 && memcmp(p + 1, "PushEvent", 9) == 0);
            p = q;
            if (!e->is_push && e->has_id) /* the fast exit: skip the rest undecoded */
                return kiln_json_skip_rest(p, end, 1, why);
        } else if (e->is_push == 0) {
            p = kiln_json_skip_value(p, end, why);
        } else if (KEYIS(k, kl, "payload")) {
            if (e->is_push == 1) {
                p = parse_payload(c, p, end, why);
            } else {
                e->payload = p;
                p = kiln_json_skip_value(p, end, why);
                e->payload_end = p;
            }
        } else if (KEYIS(k, kl, "actor")) {
            p = parse_small_obj(c, OBJ_ACTOR, p, end, NULL, why);
        } else if (KEYIS(k, kl, "repo")) {
            p = parse_small_obj(c, OBJ_REPO, p, end, NULL, why);
        } else if (KEYIS(k, kl, "org")) {
            p = parse_small_obj(c, OBJ_ORG, p, end, NULL, why);
        } else if (KEYIS(k, kl, "created_at")) {
            const char *q = kiln_json_str_skip(p, end, why);
            if (!q)
                return NULL;
            if (kiln_ts_parse(p + 1, (size_t)(q - p - 2), &e->created_at) != 0) {
                *why = "created_at is not an ISO 8601 timestamp";
                return NULL;
            }
            e->has_created = 1;
            p = q;
        } else {
            p = kiln_json_skip_value(p, end, why);
        }
        if (!p)
            return NULL;
        p = kiln_json_obj_next(p, end, &done, why);
        if (!p)
            return NULL;
        if (done)
            break;
    }
    if (!e->has_id) {
        *why = "event has no id";
        return NULL;
    }
    if (e->is_push < 0) {
        *why = "event has no type";
        return NULL;
    }
    if (e->is_push && e->payload) {
        const char *why2 = NULL;
        if (!parse_payload(c, e->payload, e->payload_end, &why2)) {
            *why = why2;
            return NULL;
        }
    }
    if (e->is_push) {
        if (!e->has_repo_id) {
            *why = "PushEvent has no repo.id";
            return NULL;
        }
        if (!e->has_created) {
            *why = "PushEvent has no created_at";
            return NULL;
        }
        if ((e->has_size && (e->size < 0 || e->size > INT32_MAX)) ||
            (e->has_distinct_size && (e->distinct_size < 0 || e->distinct_size > INT32_MAX))) {
            *why = "payload.size or distinct_size out of range";
            return NULL;
        }
    }
    return p;
}

/* ------------------------------------------------------------------ output */

static int flush_batch(scan_ctx *c, kiln_batch *b, kiln_sink *s)
{
    if (!b->nrows)
        return 0;
    int rc = kiln_sink_write(s, b, &c->err);
    kiln_batch_clear(b);
    return rc;
}

static int put_span(scan_ctx *c, kiln_batch *b, int col, const span *s)
{
    if (!s->present)
        return kiln_batch_put_null(b, col, &c->err);
    return kiln_batch_put_str(b, col, c->w->scratch.data + s->off, s->len, &c->err);
}

static int put_opt_i64(scan_ctx *c, kiln_batch *b, int col, int has, int64_t v)
{
    return has ? kiln_batch_put_i64(b, col, v, &c->err) : kiln_batch_put_null(b, col, &c->err);
}

static int filter_match(const strvec *vals, const char *scratch, const span *s)
{
    if (!vals->len)
        return 1;
    if (!s->present)
        return 0;
    for (size_t i = 0; i < vals->len; i++)
        if (strlen(vals->items[i]) == s->len && strncasecmp(vals->items[i], scratch + s->off, s->len) == 0)
            return 1;
    return 0;
}

/* Remember a commit row's key for the day's grain: two independent hashes
 * of (repo_id, sha) (96 bits: a false match on a 5M-commit day ~1e-16). */
static int note_commit_key(scan_ctx *c, const gh_commit *cm)
{
    const gh_event *e = &c->ev;
    const char *sha = cm->sha.present ? c->w->scratch.data + cm->sha.off : "";
    size_t n = cm->sha.present ? cm->sha.len : 0;
    /* FNV-1a over repo_id, then sha: the 32 bits independent of kiln_hash64 */
    uint32_t fnv = 2166136261u;
    for (size_t i = 0; i < sizeof e->repo_id; i++)
        fnv = (fnv ^ (uint8_t)((uint64_t)e->repo_id >> (8 * i))) * 16777619u;
    for (size_t i = 0; i < n; i++)
        fnv = (fnv ^ (uint8_t)sha[i]) * 16777619u;
    uint64_t pair[2] = {cm->sha.present ? kiln_hash64(sha, n) : 0x5bd1e9955bd1e995ULL, (uint64_t)e->repo_id};
    commit_key k = {kiln_hash64(pair, sizeof pair), fnv ^ (cm->sha.present ? 0u : 0x80000000u),
                    (uint32_t)c->t->ckeys.len, e->has_push_id ? e->push_id : INT64_MIN};
    if (c->t->ckeys.len >= ((size_t)1 << GH_ROW_BITS))
        return kiln_err_set(&c->err, KILN_ELIMIT, "%s: more than %zu commit rows in one hour", c->t->name,
                            (size_t)1 << GH_ROW_BITS);
    return kiln_vec_push(&c->t->ckeys, k, &c->err);
}

static int emit_push(scan_ctx *c)
{
    gh_event *e = &c->ev;
    worker *w = c->w;
    kiln_batch *pb = w->pb, *cb = w->cb;
    int rc;
    if ((rc = kiln_batch_put_i64(pb, KILN_GH_P_EVENT_ID, e->id, &c->err)) ||
        (rc = put_opt_i64(c, pb, KILN_GH_P_PUSH_ID, e->has_push_id, e->push_id)) ||
        (rc = kiln_batch_put_i64(pb, KILN_GH_P_REPO_ID, e->repo_id, &c->err)) ||
        (rc = put_span(c, pb, KILN_GH_P_REPO_NAME, &e->repo_name)) ||
        (rc = put_opt_i64(c, pb, KILN_GH_P_ACTOR_ID, e->has_actor_id, e->actor_id)) ||
        (rc = put_span(c, pb, KILN_GH_P_ACTOR_LOGIN, &e->actor_login)) ||
        (rc = put_span(c, pb, KILN_GH_P_ORG_LOGIN, &e->org_login)) || (rc = put_span(c, pb, KILN_GH_P_REF, &e->ref)) ||
        (rc = put_span(c, pb, KILN_GH_P_HEAD, &e->head)) || (rc = put_span(c, pb, KILN_GH_P_BEFORE, &e->before)) ||
        (rc = e->has_size ? kiln_batch_put_i32(pb, KILN_GH_P_SIZE, (int32_t)e->size, &c->err)
                          : kiln_batch_put_null(pb, KILN_GH_P_SIZE, &c->err)) ||
        (rc = e->has_distinct_size ? kiln_batch_put_i32(pb, KILN_GH_P_DISTINCT_SIZE, (int32_t)e->distinct_size, &c->err)
                                   : kiln_batch_put_null(pb, KILN_GH_P_DISTINCT_SIZE, &c->err)) ||
        (rc = kiln_batch_put_i64(pb, KILN_GH_P_CREATED_AT, e->created_at, &c->err)) ||
        (rc = kiln_batch_end_row(pb, &c->err)))
        return rc;
    c->t->counts.pushes++;
    if (kiln_batch_full(pb) && (rc = flush_batch(c, pb, c->psink)))
        return rc;
    for (size_t i = 0; i < e->commits.len; i++) {
        gh_commit *cm = &e->commits.items[i];
        if ((rc = kiln_batch_put_i64(cb, KILN_GH_C_REPO_ID, e->repo_id, &c->err)) ||
            (rc = put_span(c, cb, KILN_GH_C_REPO_NAME, &e->repo_name)) ||
            (rc = put_span(c, cb, KILN_GH_C_SHA, &cm->sha)) ||
            (rc = put_opt_i64(c, cb, KILN_GH_C_PUSH_ID, e->has_push_id, e->push_id)) ||
            (rc = put_span(c, cb, KILN_GH_C_AUTHOR_NAME, &cm->name)) ||
            (rc = put_span(c, cb, KILN_GH_C_AUTHOR_EMAIL, &cm->email)) ||
            (rc = put_span(c, cb, KILN_GH_C_MESSAGE, &cm->message)) ||
            (rc = cm->distinct >= 0 ? kiln_batch_put_bool(cb, KILN_GH_C_DISTINCT, cm->distinct, &c->err)
                                    : kiln_batch_put_null(cb, KILN_GH_C_DISTINCT, &c->err)) ||
            (rc = kiln_batch_put_i64(cb, KILN_GH_C_CREATED_AT, e->created_at, &c->err)) ||
            (rc = kiln_batch_end_row(cb, &c->err)) || (rc = note_commit_key(c, cm)))
            return rc;
        c->t->counts.commits++;
        if ((kiln_batch_full(cb) || cb->cols[KILN_GH_C_MESSAGE].data.len > GH_BATCH_BYTES) &&
            (rc = flush_batch(c, cb, c->csink)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ quarantine */

static int quarantine(scan_ctx *c, const char *p, const char *end, const char *why)
{
    hour_task *t = c->t;
    t->counts.quarantined++;
    if (!c->qf) {
        if (kiln_mkdirs(c->j->qdir, &c->err))
            return c->err.code;
        c->qf = fopen(c->qtmp, "w");
        if (!c->qf)
            return kiln_err_set(&c->err, KILN_EIO, "%s: cannot create: %s", c->qtmp, strerror(errno));
    }
    kiln_buf *q = &c->w->qbuf;
    kiln_buf_reset(q);
    size_t n = (size_t)(end - p);
    int trunc = n > GH_QRAW_CAP;
    int rc = kiln_buf_printf(q, &c->err, "{\"file\":\"%s\",\"line\":%llu,\"offset\":%llu,\"reason\":", t->name,
                             (unsigned long long)c->line_no,
                             (unsigned long long)(c->line_off + (uint64_t)(p - c->line_start)));
    if (!rc)
        rc = kiln_json_write_str(q, why, strlen(why), &c->err);
    if (!rc)
        rc = kiln_buf_printf(q, &c->err, ",\"bytes\":%zu,\"truncated\":%s,\"raw\":", n, trunc ? "true" : "false");
    if (!rc)
        rc = kiln_json_write_str(q, p, trunc ? GH_QRAW_CAP : n, &c->err);
    if (!rc)
        rc = kiln_buf_append(q, "}\n", 2, &c->err);
    if (rc)
        return rc;
    if (fwrite(q->data, 1, q->len, c->qf) != q->len)
        return kiln_err_set(&c->err, KILN_EIO, "%s: write failed", c->qtmp);
    return 0;
}

/* ------------------------------------------------------------------ lines */

/* Find `{"id"` in [p, end). */
static const char *find_resync(const char *p, const char *end)
{
    const char *r = memmem(p, (size_t)(end - p), "{\"id\"", 5);
    return r ? r : end;
}

static int handle_event(scan_ctx *c)
{
    gh_event *e = &c->ev;
    hour_task *t = c->t;
    int rc;
    t->counts.events++;
    int dup = 0;
    if (kiln_i64set_has(c->exclude, e->id))
        dup = 1;
    rc = kiln_i64set_add(t->ids, e->id, &c->err);
    if (rc < 0)
        return rc;
    if (rc == 0)
        dup = 1;
    if (dup) {
        t->counts.duplicates++;
        return 0;
    }
    if (!e->is_push)
        return 0;
    if (kiln_vec_push(&t->push_ids, e->id, &c->err))
        return KILN_ENOMEM;
    gh_filter *f = &c->j->filter;
    if ((f->actor.len || f->org.len || f->repo.len) && !(filter_match(&f->actor, c->w->scratch.data, &e->actor_login) &&
                                                         filter_match(&f->org, c->w->scratch.data, &e->org_login) &&
                                                         filter_match(&f->repo, c->w->scratch.data, &e->repo_name))) {
        t->counts.filtered++;
        return 0;
    }
    return emit_push(c);
}

/* Scan one line [p, end) (without its newline) for events. */
static int scan_line(scan_ctx *c, const char *p, const char *end)
{
    int rc;
    c->line_start = p;
    while (p < end) {
        p = kiln_json_ws(p, end);
        if (p >= end)
            break;
        if (*p == '\0') {
            const char *r = p;
            while (r < end && *r == '\0')
                r++;
            if ((rc = quarantine(c, p, r, "run of NUL bytes")))
                return rc;
            p = r;
            continue;
        }
        if (*p != '{') {
            const char *r = memchr(p, '{', (size_t)(end - p));
            if (!r)
                r = end;
            if ((rc = quarantine(c, p, r, "text outside a JSON object")))
                return rc;
            p = r;
            continue;
        }
        const char *why = "malformed JSON";
        const char *q = parse_event(c, p, end, &why);
        if (c->fatal)
            return c->err.code ? c->err.code : KILN_ENOMEM;
        if (!q) {
            /* resync: the next `{"id"` that parses as a whole event (nested
             * objects also start with {"id", so candidates that fail are part
             * of the same bad fragment) */
            const char *r = p;
            for (int tries = 0;; tries++) {
                r = tries < 64 ? find_resync(r + 1, end) : end; /* bounded work on hostile lines */
                if (r >= end)
                    break;
                const char *why2;
                q = parse_event(c, r, end, &why2);
                if (c->fatal)
                    return c->err.code ? c->err.code : KILN_ENOMEM;
                if (q)
                    break;
            }
            if ((rc = quarantine(c, p, r, why)))
                return rc;
            if (r >= end)
                break;
            p = r; /* c->ev holds the event parsed at r */
        }
        if ((rc = handle_event(c)))
            return rc;
        if (c->w->scratch.alloc > ((size_t)16 << 20)) { /* one huge event: give the memory back */
            kiln_buf_free(&c->w->scratch);
            kiln_buf_init(&c->w->scratch, GH_SCRATCH_CAP);
        }
        p = q;
    }
    return 0;
}

/* ------------------------------------------------------------------ tasks */

static char *table_dir(const job *j, const char *table, const char *prefix, int64_t day)
{
    char d[16];
    kiln_date_format(day, d);
    return kiln_sprintf("%s/%s/%sdate=%s", j->o->out_dir, table, prefix, d);
}

/* ------------------------------------------------------------------ inflate ahead */

/* When an hour file starts with fewer hour files left to start than there
 * are workers (a one-file run, or the run's tail), a worker would sit idle
 * while this one inflates and parses in turn. Then a helper thread inflates
 * the file ahead into a ring of blocks and the worker only parses: the
 * file's wall time is about max(inflate, parse) instead of their sum. The
 * worker copies each block into its line window (~3 % of the inflate cost),
 * so the lines are cut exactly as from the reader: same output. */
#define GH_AHEAD_BLOCKS 8
#define GH_AHEAD_BLOCK ((size_t)512 << 10)

typedef struct ahead {
    kiln_gz_reader *gz;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *blk[GH_AHEAD_BLOCKS];
    size_t len[GH_AHEAD_BLOCKS];
    uint64_t in_off[GH_AHEAD_BLOCKS]; /* compressed offset after the block */
    int head, count;                  /* first filled block, filled blocks */
    size_t pos;                       /* consumed bytes of blk[head] */
    int done, stop, rc;               /* producer finished (rc: its error) */
    kiln_err err;
} ahead;

static void *ahead_main(void *arg)
{
    ahead *a = arg;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while (a->count == GH_AHEAD_BLOCKS && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        int stop = a->stop, slot = (a->head + a->count) % GH_AHEAD_BLOCKS;
        pthread_mutex_unlock(&a->mu);
        if (stop)
            break;
        size_t got = 0;
        kiln_err e = {0};
        int rc = kiln_gz_reader_read(a->gz, a->blk[slot], GH_AHEAD_BLOCK, &got, &e);
        pthread_mutex_lock(&a->mu);
        if (rc || got == 0) {
            a->rc = rc;
            if (rc)
                a->err = e;
            a->done = 1;
            pthread_cond_broadcast(&a->cv);
            pthread_mutex_unlock(&a->mu);
            break;
        }
        a->len[slot] = got;
        a->in_off[slot] = kiln_gz_reader_in_offset(a->gz);
        a->count++;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

/* Start inflating gz ahead; NULL (and the caller reads gz itself) when a
 * thread or memory is not available. */
static ahead *ahead_start(kiln_gz_reader *gz)
{
    ahead *a = kiln_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->gz = gz;
    int i = 0;
    for (; i < GH_AHEAD_BLOCKS && (a->blk[i] = kiln_malloc(GH_AHEAD_BLOCK)); i++)
        ;
    if (i == GH_AHEAD_BLOCKS && pthread_mutex_init(&a->mu, NULL) == 0) {
        if (pthread_cond_init(&a->cv, NULL) == 0) {
            if (pthread_create(&a->th, NULL, ahead_main, a) == 0)
                return a;
            pthread_cond_destroy(&a->cv);
        }
        pthread_mutex_destroy(&a->mu);
    }
    for (i = 0; i < GH_AHEAD_BLOCKS; i++)
        kiln_free(a->blk[i]);
    kiln_free(a);
    return NULL;
}

/* Stop the helper (it may be waiting for room) and free it. */
static void ahead_free(ahead *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->th, NULL);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    for (int i = 0; i < GH_AHEAD_BLOCKS; i++)
        kiln_free(a->blk[i]);
    kiln_free(a);
}

/* Like kiln_gz_reader_read: up to cap bytes into dst; 0 at the end; the
 * producer's error once the blocks before it are consumed. *in_off: the
 * compressed offset reached by the bytes returned. */
static int ahead_read(ahead *a, char *dst, size_t cap, size_t *got, uint64_t *in_off, kiln_err *err)
{
    *got = 0;
    pthread_mutex_lock(&a->mu);
    while (a->count == 0 && !a->done)
        pthread_cond_wait(&a->cv, &a->mu);
    if (a->count == 0) { /* the producer is done with gz: its end offset is final */
        int rc = a->rc;
        if (rc)
            *err = a->err;
        else
            *in_off = kiln_gz_reader_in_offset(a->gz);
        pthread_mutex_unlock(&a->mu);
        return rc;
    }
    int h = a->head;
    pthread_mutex_unlock(&a->mu);
    size_t n = a->len[h] - a->pos;
    if (n > cap)
        n = cap;
    memcpy(dst, a->blk[h] + a->pos, n);
    *got = n;
    *in_off = a->in_off[h];
    a->pos += n;
    if (a->pos == a->len[h]) {
        pthread_mutex_lock(&a->mu);
        a->pos = 0;
        a->head = (h + 1) % GH_AHEAD_BLOCKS;
        a->count--;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
    }
    return 0;
}

/* Stream the file through the line window: cut lines, scan each. */
static int stream_lines(scan_ctx *c, kiln_gz_reader *gz, kiln_err *err)
{
    job *j = c->j;
    hour_task *t = c->t;
    worker *w = c->w;
    int rc = 0;
    size_t start = 0, len = 0, scan = 0;
    uint64_t base = 0; /* stream offset of win[0] */
    int skipping = 0;
    c->line_no = 1;
    uint64_t gz_seen = 0;
    /* fewer hour files left to start than workers: inflate on a helper */
    ahead *ah = NULL;
    if (j->nworkers > 1 && !j->remote &&
        j->ntasks - __atomic_load_n(&j->tasks_started, __ATOMIC_RELAXED) + 1 < (size_t)j->nworkers)
        ah = ahead_start(gz);
    for (;;) {
        if (len == w->win_alloc) {
            if (start > 0) {
                memmove(w->win, w->win + start, len - start);
                len -= start;
                scan -= start;
                base += start;
                start = 0;
            } else if (w->win_alloc < j->line_cap) {
                size_t na = w->win_alloc * 2 > j->line_cap ? j->line_cap : w->win_alloc * 2;
                char *nw = kiln_realloc(w->win, na);
                if (!nw) {
                    rc = kiln_err_set(err, KILN_ENOMEM, "out of memory growing the line window to %zu", na);
                    goto out;
                }
                w->win = nw;
                w->win_alloc = na;
            } else {
                /* one line longer than the cap: quarantine its head, skip the rest */
                c->line_off = base;
                c->line_start = w->win;
                char reason[96];
                snprintf(reason, sizeof reason, "line longer than the %zu MB cap (skipped to the next newline)",
                         j->line_cap >> 20);
                if ((rc = quarantine(c, w->win, w->win + len, reason))) {
                    *err = c->err;
                    goto out;
                }
                base += len;
                start = len = scan = 0;
                skipping = 1;
            }
        }
        /* inflate 512 KB at a time: the scanner then reads it while it is
         * still in L2 (4 MB pieces went to L3; 2 threads: -2 % CPU) */
        size_t want = w->win_alloc - len;
        if (want > GH_READ_CHUNK / 2)
            want = GH_READ_CHUNK / 2;
        size_t got = 0;
        uint64_t gz_now = gz_seen;
        if (ah) {
            rc = ahead_read(ah, w->win + len, want, &got, &gz_now, err);
        } else {
            rc = kiln_gz_reader_read(gz, w->win + len, want, &got, err);
            gz_now = kiln_gz_reader_in_offset(gz);
        }
        __atomic_fetch_add(&j->gz_done, gz_now - gz_seen, __ATOMIC_RELAXED);
        gz_seen = gz_now;
        if (rc)
            goto out;
        if (got == 0)
            break;
        t->counts.json_bytes += got;
        __atomic_fetch_add(&j->json_done, got, __ATOMIC_RELAXED);
        len += got;
        for (;;) {
            char *nl = memchr(w->win + scan, '\n', len - scan);
            if (!nl) {
                scan = len;
                break;
            }
            if (skipping) {
                skipping = 0;
            } else {
                c->line_off = base + start;
                if ((rc = scan_line(c, w->win + start, nl))) {
                    *err = c->err;
                    goto out;
                }
            }
            c->line_no++;
            start = scan = (size_t)(nl - w->win) + 1;
        }
        if (skipping) { /* still inside the over-long line: drop what we have */
            base += len;
            start = len = scan = 0;
        }
        if (w->win_alloc > GH_WINDOW_INIT && len - start <= GH_WINDOW_INIT / 2) {
            /* a long line grew the window; shrink it back once it is behind us */
            char *nw = kiln_malloc(GH_WINDOW_INIT);
            if (nw) {
                memcpy(nw, w->win + start, len - start);
                kiln_free(w->win);
                w->win = nw;
                w->win_alloc = GH_WINDOW_INIT;
                base += start;
                len -= start;
                scan -= start;
                start = 0;
            }
        }
    }
    if (start < len && !skipping) {
        c->line_off = base + start;
        if ((rc = scan_line(c, w->win + start, w->win + len))) {
            *err = c->err;
            goto out;
        }
    }
    rc = 0;
out:
    ahead_free(ah);
    return rc;
}

/* The hour is read: flush the batches, commit the sinks, publish the
 * quarantine file (or remove a stale one). */
static int finish_hour(scan_ctx *c, kiln_err *err)
{
    worker *w = c->w;
    int rc;
    if ((rc = flush_batch(c, w->pb, c->psink)) || (rc = flush_batch(c, w->cb, c->csink)) ||
        (rc = kiln_sink_commit(c->psink, &c->err)) || (rc = kiln_sink_commit(c->csink, &c->err))) {
        *err = c->err;
        return rc;
    }
    if (c->qf) {
        int bad = fflush(c->qf) != 0 || fsync(fileno(c->qf)) != 0;
        bad |= fclose(c->qf) != 0;
        c->qf = NULL;
        if (bad || rename(c->qtmp, c->qpath) != 0)
            return kiln_err_set(err, KILN_EIO, "%s: cannot write the quarantine file: %s", c->qpath, strerror(errno));
    } else {
        unlink(c->qpath); /* a re-run that found nothing bad */
    }
    return 0;
}

/* Process the file once. exclude: ids of the previous hour, or NULL. */
static int run_hour(job *j, hour_task *t, worker *w, const kiln_i64set *exclude, kiln_err *err)
{
    scan_ctx *c = kiln_calloc(1, sizeof *c);
    if (!c)
        return KILN_OOM(err);
    int rc = 0;
    kiln_gz_reader *gz = NULL;
    kiln_gh__rstream *rstream = NULL;
    char *pdir = NULL, *cdir = NULL, *ppath = NULL, *cpath = NULL;
    char d[16];
    kiln_date_format(t->day, d);
    c->j = j;
    c->t = t;
    c->w = w;
    c->exclude = exclude;
    event_reset(&c->ev);
    memset(&t->counts, 0, sizeof t->counts);
    kiln_i64set_free(t->ids);
    if (!(t->ids = kiln_i64set_new())) {
        kiln_free(c);
        return KILN_OOM(err);
    }
    t->push_ids.len = 0;
    t->ckeys.len = 0;
    kiln_batch_clear(w->pb);
    kiln_batch_clear(w->cb);
    c->qpath = kiln_sprintf("%s/%s.ndjson", j->qdir, t->name);
    c->qtmp = kiln_sprintf("%s/.%s.ndjson.tmp", j->qdir, t->name);
    pdir = table_dir(j, "pushes", ".staging-", t->day);
    cdir = table_dir(j, "commits", ".staging-", t->day);
    if (!c->qpath || !c->qtmp || !pdir || !cdir) {
        rc = KILN_OOM(err);
        goto done;
    }
    ppath = kiln_sprintf("%s/part-%02d%s", pdir, t->hour, j->o->format->ext);
    cpath = kiln_sprintf("%s/.part-%02d.spill", cdir, t->hour); /* written for real at the day's end */
    if (!ppath || !cpath) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = j->o->format->open(&c->psink, ppath, &push_schema, err)) ||
        (rc = kiln_gh__spill_sink_open(&c->csink, cpath, &commit_schema, err)))
        goto done;
    if (j->remote) {
        if ((rc = kiln_gh__remote_stream(j->remote, t->name, &gz, &rstream, err)))
            goto done;
        rc = stream_lines(c, gz, err);
        t->counts.gz_bytes = kiln_gz_reader_in_offset(gz);
        if ((rc = kiln_gh__remote_close(rstream, &gz, rc, err)) || (rc = finish_hour(c, err)))
            goto done;
    } else {
        if ((rc = kiln_gz_reader_open(&gz, t->path, err)))
            goto done;
        if ((rc = stream_lines(c, gz, err)) || (rc = finish_hour(c, err)))
            goto done;
        t->counts.gz_bytes = kiln_gz_reader_file_size(gz);
    }
done:
    if (rc) {
        if (c->psink)
            kiln_sink_abort(c->psink);
        if (c->csink)
            kiln_sink_abort(c->csink);
        if (c->qf) {
            fclose(c->qf);
            c->qf = NULL;
            unlink(c->qtmp);
        }
    }
    kiln_sink_free(c->psink);
    kiln_sink_free(c->csink);
    kiln_gz_reader_free(gz);
    kiln_vec_free(&c->ev.commits);
    kiln_free(c->qpath);
    kiln_free(c->qtmp);
    kiln_free(pdir);
    kiln_free(cdir);
    kiln_free(ppath);
    kiln_free(cpath);
    kiln_free(c);
    return rc;
}

/* Swap the staged directory of one table into place. */
static int swap_in(const job *j, const char *table, int64_t day, kiln_err *err)
{
    char *staged = table_dir(j, table, ".staging-", day);
    char *final = table_dir(j, table, "", day);
    int rc = 0;
    if (!staged || !final) {
        rc = KILN_OOM(err);
        goto done;
    }
    struct stat sb;
    if (stat(final, &sb) == 0) {
        if (renameat2(AT_FDCWD, staged, AT_FDCWD, final, RENAME_EXCHANGE) != 0) {
            rc = kiln_err_set(err, KILN_EIO, "swap %s <-> %s failed: %s", staged, final, strerror(errno));
            goto done;
        }
        rc = kiln_rmtree(staged, err); /* now holds the old output */
    } else if (rename(staged, final) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "rename %s -> %s failed: %s", staged, final, strerror(errno));
    }
    if (rc == 0) {
        char *parent = kiln_sprintf("%s/%s", j->o->out_dir, table);
        int fd = parent ? open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
        kiln_free(parent);
    }
done:
    kiln_free(staged);
    kiln_free(final);
    return rc;
}

static void drop_staging(const job *j, int64_t day)
{
    const char *tables[2] = {"pushes", "commits"};
    for (int i = 0; i < 2; i++) {
        char *s = table_dir(j, tables[i], ".staging-", day);
        kiln_err e = {0};
        if (s)
            kiln_rmtree(s, &e);
        kiln_free(s);
    }
}

/* ------------------------------------------------------------------ grain
 *
 * The commits table's grain is (repo_id, sha) per day, as the Iceberg
 * MERGE keeps it (it matches keys within a partition): when pushes of the
 * same day carry the same commit (a branch pushed, then merged; a re-push),
 * one row stays, the one of the later push: the greater push_id (GitHub
 * numbers pushes in time order; null is the lowest), then the later hour,
 * then the later entry of the push's commits list. The hours write their
 * commit rows to spill files and remember each row's key; when the day's
 * last hour is done, the keys seen more than once are sorted, every row but
 * the last of each key is marked, and the spills are written to the real
 * commit files without the marked rows. Every output format gets the same
 * rows. */

static int cmp_commit_key(const void *pa, const void *pb)
{
    const commit_key *a = pa, *b = pb;
    if (a->h != b->h)
        return a->h < b->h ? -1 : 1;
    if (a->fp != b->fp)
        return a->fp < b->fp ? -1 : 1;
    if (a->push_id != b->push_id)
        return a->push_id < b->push_id ? -1 : 1;
    return a->loc < b->loc ? -1 : a->loc > b->loc;
}

/* Write hour t's spilled commit rows, without the dropped ones, to its
 * commit file in the day's staging directory. */
static int write_commits(job *j, hour_task *t, const uint8_t *drop, kiln_batch *b, kiln_err *err)
{
    char *dir = table_dir(j, "commits", ".staging-", t->day);
    char *spath = dir ? kiln_sprintf("%s/.part-%02d.spill", dir, t->hour) : NULL;
    char *path = dir ? kiln_sprintf("%s/part-%02d%s", dir, t->hour, j->o->format->ext) : NULL;
    kiln_sink *sink = NULL;
    void *map = NULL;
    size_t len = 0;
    int fd = -1, rc = 0;
    if (!spath || !path) {
        rc = KILN_OOM(err);
        goto done;
    }
    if (j->o->format->open == kiln_gh__spill_sink_open) {
        /* the output is kiln's row format too (Iceberg staging): without a
         * dropped row the spill already is the file */
        size_t ndrop = 0;
        for (size_t row = 0; row < t->ncrows; row++)
            ndrop += drop[row];
        if (!ndrop) {
            if (rename(spath, path) != 0)
                rc = kiln_err_set(err, KILN_EIO, "%s: rename: %s", spath, strerror(errno));
            goto done;
        }
    }
    struct stat st;
    fd = open(spath, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", spath, strerror(errno));
        goto done;
    }
    len = (size_t)st.st_size;
    if (len && (map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED) {
        map = NULL;
        rc = kiln_err_set(err, KILN_EIO, "%s: mmap: %s", spath, strerror(errno));
        goto done;
    }
    if (map)
        madvise(map, len, MADV_SEQUENTIAL);
    if ((rc = j->o->format->open(&sink, path, &commit_schema, err)))
        goto done;
    kiln_batch_clear(b);
    const uint8_t *p = map, *end = p + len;
    for (size_t row = 0; p < end && rc == 0; row++) {
        if (row >= t->ncrows) {
            rc = kiln_err_set(err, KILN_EINTERNAL, "%s: more rows than keys", spath);
            break;
        }
        rc = kiln_gh__spill_get(&p, end, &commit_schema, drop[row] ? NULL : b, spath, err);
        if (rc == 0 && (kiln_batch_full(b) || b->cols[KILN_GH_C_MESSAGE].data.len > GH_BATCH_BYTES)) {
            rc = kiln_sink_write(sink, b, err);
            kiln_batch_clear(b);
        }
    }
    if (rc == 0 && b->nrows)
        rc = kiln_sink_write(sink, b, err);
    kiln_batch_clear(b);
    if (rc == 0)
        rc = kiln_sink_commit(sink, err);
    if (rc)
        kiln_sink_abort(sink);
done:
    kiln_sink_free(sink);
    if (map)
        munmap(map, len);
    if (fd >= 0)
        close(fd);
    if (spath)
        unlink(spath);
    kiln_free(spath);
    kiln_free(path);
    kiln_free(dir);
    return rc;
}

/* The day's hours are done: mark the rows the grain drops (tasks' drop).
 * A key seen once (nearly all) needs no sort: one pass through a set finds
 * the hashes seen twice, and only their rows are sorted. */
static int commit_grain(job *j, day_state *d, kiln_err *err)
{
    hour_task *tasks = &j->tasks[d->first_task];
    kiln_i64set *seen = kiln_i64set_new(), *twice = kiln_i64set_new();
    uint8_t **drop = kiln_calloc((size_t)d->ntasks, sizeof *drop);
    KILN_VEC(commit_key) cand = {0};
    int i;
    uint64_t superseded = 0;
    int rc = 0;
    if (!seen || !twice || !drop) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (int i = 0; i < d->ntasks && rc == 0; i++) {
        if (!(drop[i] = kiln_calloc(tasks[i].ckeys.len ? tasks[i].ckeys.len : 1, 1))) {
            rc = KILN_OOM(err);
            break;
        }
        for (size_t r = 0; r < tasks[i].ckeys.len && rc == 0; r++) {
            int64_t h = (int64_t)tasks[i].ckeys.items[r].h;
            if ((rc = kiln_i64set_add(seen, h, err)) == 0)
                rc = kiln_i64set_add(twice, h, err);
            rc = rc < 0 ? rc : 0;
        }
    }
    kiln_i64set_free(seen);
    seen = NULL;
    for (int i = 0; i < d->ntasks && rc == 0 && kiln_i64set_len(twice); i++)
        for (size_t r = 0; r < tasks[i].ckeys.len && rc == 0; r++) {
            commit_key k = tasks[i].ckeys.items[r];
            if (!kiln_i64set_has(twice, (int64_t)k.h))
                continue;
            k.loc = (uint32_t)i << GH_ROW_BITS | (uint32_t)r;
            rc = kiln_vec_push(&cand, k, err);
        }
    if (rc)
        goto done;
    kiln_sort(cand.items, cand.len, sizeof *cand.items, cmp_commit_key);
    for (size_t i = 0; i + 1 < cand.len; i++) /* every row but the last of its key */
        if (cand.items[i].h == cand.items[i + 1].h && cand.items[i].fp == cand.items[i + 1].fp) {
            uint32_t loc = cand.items[i].loc;
            drop[loc >> GH_ROW_BITS][loc & (((uint32_t)1 << GH_ROW_BITS) - 1)] = 1;
            superseded++;
        }
    for (i = 0; i < d->ntasks; i++) { /* handed over to the writes; the keys are done */
        tasks[i].drop = drop[i];
        drop[i] = NULL;
        tasks[i].ncrows = tasks[i].ckeys.len;
        kiln_vec_free(&tasks[i].ckeys);
    }
    pthread_mutex_lock(&j->lock);
    d->counts.commits -= superseded;
    d->counts.commits_superseded += superseded;
    pthread_mutex_unlock(&j->lock);
done:
    kiln_i64set_free(seen);
    kiln_i64set_free(twice);
    kiln_vec_free(&cand);
    for (i = 0; drop && i < d->ntasks; i++)
        kiln_free(drop[i]);
    kiln_free(drop);
    return rc;
}

static void day_fail(job *j, day_state *d, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    if (!d->failed)
        snprintf(d->error, sizeof d->error, "%s", msg);
    d->failed = 1;
    pthread_mutex_unlock(&j->lock);
}

static void day_release(job *j, day_state *d)
{
    for (int i = 0; i < d->ntasks; i++) {
        hour_task *t = &j->tasks[d->first_task + (size_t)i];
        kiln_vec_free(&t->ckeys);
        kiln_free(t->drop);
        t->drop = NULL;
    }
}

/* Every commit file of the day is written: swap the day into place, or
 * drop its staging if anything failed. */
static void publish_day(job *j, day_state *d)
{
    kiln_err e2 = {0};
    day_release(j, d);
    if (!d->failed && swap_in(j, "pushes", d->day, &e2) == 0 && swap_in(j, "commits", d->day, &e2) == 0)
        return;
    if (!d->failed)
        day_fail(j, d, e2.msg);
    drop_staging(j, d->day);
}

/* One hour's commit file, on whichever worker is free; the last of the
 * day publishes it. */
static void write_task_main(void *arg, int widx)
{
    hour_task *t = arg;
    job *j = t->job;
    day_state *d = t->dstate;
    kiln_err e2 = {0};
    if (write_commits(j, t, t->drop, j->workers[widx].cb, &e2))
        day_fail(j, d, e2.msg);
    pthread_mutex_lock(&j->lock);
    int last = --d->writes_pending == 0;
    pthread_mutex_unlock(&j->lock);
    if (last)
        publish_day(j, d);
}

/* The day's last hour is done: apply the grain and write the day's commit
 * files in parallel (one pool task per hour; the last publishes), or drop
 * the day if an hour failed. */
static void finish_day(job *j, day_state *d, int widx, int day_failed)
{
    kiln_err e2 = {0};
    if (day_failed) {
        day_release(j, d);
        drop_staging(j, d->day);
        return;
    }
    if (commit_grain(j, d, &e2)) {
        day_fail(j, d, e2.msg);
        publish_day(j, d);
        return;
    }
    /* While hours are still queued the other workers are busy with them:
     * write here, so the day is published now, not behind every queued
     * hour. Once every hour has started (the run's tail), the pool is
     * idle but for this: one task per hour file. */
    int tail = __atomic_load_n(&j->tasks_started, __ATOMIC_RELAXED) >= j->ntasks;
    d->writes_pending = d->ntasks; /* no write of this day ends before it is set */
    for (int i = 0; i < d->ntasks; i++) {
        hour_task *t = &j->tasks[d->first_task + (size_t)i];
        if (!tail || kiln_pool_submit(j->pool, write_task_main, t, &e2) != 0)
            write_task_main(t, widx);
    }
}

static void counts_add(kiln_gh_counts *a, const kiln_gh_counts *b);

static void task_main(void *arg, int widx)
{
    hour_task *t = arg;
    job *j = t->job;
    worker *w = &j->workers[widx];
    kiln_err err = {0};
    hour_task *prev = t->prev;
    __atomic_fetch_add(&j->tasks_started, 1, __ATOMIC_RELAXED);

    pthread_mutex_lock(&j->lock);
    int prev_ready = !prev || prev->done;
    int skip = j->stop;
    pthread_mutex_unlock(&j->lock);

    int rc = 0;
    if (skip) /* an earlier hour failed and keep_going is off: do not start */
        t->skipped = 1;
    else
        rc = run_hour(j, t, w, prev && prev_ready ? prev->ids : NULL, &err);
    if (prev && !prev_ready) {
        /* wait even when we failed: prev's ids are ours to free, and prev is
         * still filling them */
        pthread_mutex_lock(&j->lock);
        while (!prev->done)
            pthread_cond_wait(&j->cond, &j->lock);
        pthread_mutex_unlock(&j->lock);
    }
    if (rc == 0 && !skip && prev && !prev_ready) {
        int hit = 0;
        for (size_t i = 0; i < t->push_ids.len && !hit; i++)
            hit = kiln_i64set_has(prev->ids, t->push_ids.items[i]);
        if (hit) {
            rc = run_hour(j, t, w, prev->ids, &err);
            t->counts.reruns = 1;
        } else {
            uint64_t cross = 0;
            int64_t id;
            for (size_t pos = 0; kiln_i64set_next(t->ids, &pos, &id);)
                cross += (uint64_t)kiln_i64set_has(prev->ids, id);
            t->counts.duplicates += cross;
        }
    }
    if (prev) { /* we were its only consumer */
        kiln_i64set_free(prev->ids);
        prev->ids = NULL;
    }
    kiln_vec_free(&t->push_ids);
    if (!t->has_next) {
        kiln_i64set_free(t->ids);
        t->ids = NULL;
    }

    pthread_mutex_lock(&j->lock);
    day_state *d = t->dstate;
    t->failed = rc != 0;
    if (rc) {
        snprintf(t->error, sizeof t->error, "%s", err.msg);
        if (!d->failed)
            snprintf(d->error, sizeof d->error, "%s", err.msg);
        d->failed = 1;
        if (!j->o->keep_going)
            j->stop = 1;
    }
    if (skip)
        d->skipped++;
    t->counts.files = !skip;
    t->counts.gz_bytes = skip ? 0 : t->gz_size;
    counts_add(&d->counts, &t->counts);
    int last = --d->pending == 0;
    int day_failed = d->failed || d->skipped;
    pthread_mutex_unlock(&j->lock);

    if (last)
        finish_day(j, d, widx, day_failed);
    pthread_mutex_lock(&j->lock);
    t->done = 1;
    j->tasks_done++;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

/* ------------------------------------------------------------------ filter */

static int parse_filter(gh_filter *f, const char *spec, kiln_err *err)
{
    if (!spec || !*spec)
        return 0;
    const char *p = spec;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p || eq + 1 == p + n)
            return kiln_err_set(err, KILN_EINVAL, "--filter: '%.*s' is not KEY=VALUE (keys: actor, org, repo)", (int)n,
                                p);
        size_t kl = (size_t)(eq - p);
        char *v = kiln_strndup(eq + 1, n - kl - 1);
        if (!v)
            return KILN_OOM(err);
        int rc;
        if (kl == 5 && memcmp(p, "actor", 5) == 0)
            rc = kiln_vec_push(&f->actor, v, err);
        else if (kl == 3 && memcmp(p, "org", 3) == 0)
            rc = kiln_vec_push(&f->org, v, err);
        else if (kl == 4 && memcmp(p, "repo", 4) == 0)
            rc = kiln_vec_push(&f->repo, v, err);
        else {
            kiln_free(v);
            return kiln_err_set(err, KILN_EINVAL, "--filter: unknown key '%.*s' (use actor, org or repo)", (int)kl, p);
        }
        if (rc) {
            kiln_free(v);
            return rc;
        }
        p = comma ? comma + 1 : p + n;
    }
    return 0;
}

static void strvec_free(strvec *v)
{
    for (size_t i = 0; i < v->len; i++)
        kiln_free(v->items[i]);
    kiln_vec_free(v);
}

static void free_filter(gh_filter *f)
{
    strvec_free(&f->actor);
    strvec_free(&f->org);
    strvec_free(&f->repo);
}

/* ------------------------------------------------------------------ plan
 *
 * IN is listed once. Every name that parses as an hour file (GH Archive's
 * "YYYY-MM-DD-H.json.gz" or the zero-padded "-HH") is a candidate; an hour
 * spelled both ways is refused (which one would be the data?). Names that
 * look like hour files but do not parse are kept to be reported, never
 * read silently past. Nothing to read is an error unless allow_missing. */

typedef struct hour_file {
    int64_t slot; /* day * 24 + hour */
    char *name;
} hour_file;

typedef struct in_listing {
    KILN_VEC(hour_file) hours; /* sorted by slot */
    strvec ignored;            /* look like hour files, do not parse */
    strvec others;             /* the other names (hints in errors) */
} in_listing;

static int cmp_hour_file(const void *a, const void *b)
{
    const hour_file *x = a, *y = b;
    return x->slot < y->slot ? -1 : x->slot > y->slot ? 1 : strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void listing_free(in_listing *l)
{
    for (size_t i = 0; i < l->hours.len; i++)
        kiln_free(l->hours.items[i].name);
    kiln_vec_free(&l->hours);
    strvec_free(&l->ignored);
    strvec_free(&l->others);
}

/* Names that look like an hour file a user meant: *.gz or *.json*, not the
 * generator's _manifest.json / _quirks.json, not hidden files. */
static int looks_like_hour(const char *name)
{
    return name[0] != '_' && name[0] != '.' && (strstr(name, ".json") || strstr(name, ".gz"));
}

/* IN does not exist: not found, with the closest sibling directory. */
static int in_not_found(const char *in, kiln_err *err)
{
    char *parent = kiln_strdup(in);
    if (!parent)
        return KILN_OOM(err);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = 0;
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : parent;
    const char *pdir = slash ? (slash == parent ? "/" : parent) : ".";
    if (slash && slash != parent)
        *slash = 0;
    char best[256] = "";
    size_t bestd = 3;
    DIR *dp = opendir(pdir);
    for (struct dirent *de; dp && (de = readdir(dp));) {
        if (de->d_name[0] == '.')
            continue;
        size_t d = kiln_str_distance(base, de->d_name);
        if (d < bestd) {
            bestd = d;
            snprintf(best, sizeof best, "%s", de->d_name);
        }
    }
    if (dp)
        closedir(dp);
    int rc = best[0] ? kiln_err_set(err, KILN_ENOTFOUND, "--in %s: no such directory (did you mean %s%s%s?)", in,
                                    slash ? pdir : "", slash ? (strcmp(pdir, "/") ? "/" : "") : "", best)
                     : kiln_err_set(err, KILN_ENOTFOUND, "--in %s: no such directory", in);
    kiln_free(parent);
    return rc;
}

static int list_remote(const kiln_gh__remote *r, in_listing *l, kiln_err *err)
{
    int rc = 0;
    for (size_t i = 0; i < kiln_gh__remote_count(r) && !rc; i++) {
        int64_t day;
        int hour;
        char *copy = kiln_strdup(kiln_gh__remote_name(r, i, NULL, NULL));
        if (!copy)
            return KILN_OOM(err);
        if (kiln_gh_hour_name_parse(copy, &day, &hour) == 0) {
            hour_file hf = {day * 24 + hour, copy};
            rc = kiln_vec_push(&l->hours, hf, err);
        } else {
            rc = kiln_vec_push(&l->ignored, copy, err);
        }
        if (rc)
            kiln_free(copy);
    }
    if (!rc && l->hours.len)
        kiln_sort(l->hours.items, l->hours.len, sizeof(hour_file), cmp_hour_file);
    return rc;
}

static int list_in_dir(const char *in, in_listing *l, kiln_err *err)
{
    struct stat sb;
    if (stat(in, &sb) != 0)
        return errno == ENOENT ? in_not_found(in, err)
                               : kiln_err_set(err, KILN_EIO, "--in %s: %s", in, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return kiln_err_set(err, KILN_ENOTFOUND, "--in %s: not a directory", in);
    DIR *dp = opendir(in);
    if (!dp)
        return kiln_err_set(err, KILN_EIO, "--in %s: cannot read directory: %s", in, strerror(errno));
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(dp));) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        int64_t day;
        int hour;
        char *copy = kiln_strdup(nm);
        if (!copy) {
            rc = KILN_OOM(err);
            break;
        }
        if (kiln_gh_hour_name_parse(nm, &day, &hour) == 0) {
            hour_file hf = {day * 24 + hour, copy};
            rc = kiln_vec_push(&l->hours, hf, err);
        } else if (looks_like_hour(nm)) {
            rc = kiln_vec_push(&l->ignored, copy, err);
        } else {
            rc = kiln_vec_push(&l->others, copy, err);
        }
        if (rc)
            kiln_free(copy);
    }
    closedir(dp);
    if (rc)
        return rc;
    kiln_sort(l->hours.items, l->hours.len, sizeof(hour_file), cmp_hour_file);
    if (l->ignored.len)
        kiln_sort(l->ignored.items, l->ignored.len, sizeof(char *), cmp_name);
    kiln_sort(l->others.items, l->others.len, sizeof(char *), cmp_name);
    return 0;
}

static int in_range(const kiln_gh_opts *o, int64_t slot)
{
    return !o->has_range || (slot / 24 >= o->start_day && slot / 24 <= o->end_day);
}

/* One hour spelled both ways ("-5" and "-05") inside the run: refuse. */
static int check_spellings(const kiln_gh_opts *o, const in_listing *l, kiln_err *err)
{
    for (size_t i = 1; i < l->hours.len; i++) {
        const hour_file *a = &l->hours.items[i - 1], *b = &l->hours.items[i];
        if (a->slot == b->slot && in_range(o, a->slot))
            return kiln_err_set(err, KILN_EFORMAT,
                                "--in %s: one hour is there twice, as %s and as %s; keep one of them", o->in_dir,
                                a->name, b->name);
    }
    return 0;
}

static const hour_file *find_hour(const in_listing *l, int64_t slot)
{
    size_t lo = 0, hi = l->hours.len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->hours.items[mid].slot < slot)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->hours.len && l->hours.items[lo].slot == slot ? &l->hours.items[lo] : NULL;
}

/* Days to plan: the range, or the days of every hour file in IN. */
static int plan_days(const kiln_gh_opts *o, const in_listing *l, int64_t **days_out, size_t *n_out, kiln_err *err)
{
    *days_out = NULL;
    *n_out = 0;
    KILN_VEC(int64_t) days = {0};
    if (o->has_range) {
        if (o->end_day < o->start_day)
            return kiln_err_set(err, KILN_EINVAL, "--end is before --start");
        if (o->end_day - o->start_day > 366 * 20)
            return kiln_err_set(err, KILN_EINVAL, "date range over 20 years; split the job");
        for (int64_t d = o->start_day; d <= o->end_day; d++)
            if (kiln_vec_push(&days, d, err)) {
                kiln_vec_free(&days);
                return KILN_ENOMEM;
            }
    } else {
        for (size_t i = 0; i < l->hours.len; i++) {
            int64_t d = l->hours.items[i].slot / 24;
            if ((!days.len || days.items[days.len - 1] != d) && kiln_vec_push(&days, d, err)) {
                kiln_vec_free(&days);
                return KILN_ENOMEM;
            }
        }
    }
    *days_out = days.items;
    *n_out = days.len;
    return 0;
}

/* Nothing to read: say what was looked for and what is there. */
static int nothing_found(const kiln_gh_opts *o, const in_listing *l, kiln_err *err)
{
    char range[48] = "", hint[160] = "";
    if (o->has_range) {
        char a[16], b[16];
        kiln_date_format(o->start_day, a);
        kiln_date_format(o->end_day, b);
        snprintf(range, sizeof range, " for %s..%s", a, b);
    }
    if (l->hours.len) {
        char a[16], b[16];
        kiln_date_format(l->hours.items[0].slot / 24, a);
        kiln_date_format(l->hours.items[l->hours.len - 1].slot / 24, b);
        snprintf(hint, sizeof hint, "; its %zu hour files cover %s..%s", l->hours.len, a, b);
    } else if (l->ignored.len) {
        snprintf(hint, sizeof hint, "; not hour names: %s%s%s%s", l->ignored.items[0], l->ignored.len > 1 ? ", " : "",
                 l->ignored.len > 1 ? l->ignored.items[1] : "", l->ignored.len > 2 ? ", ..." : "");
    } else if (l->others.len) {
        snprintf(hint, sizeof hint, "; it holds %zu other entries (%s%s)", l->others.len, l->others.items[0],
                 l->others.len > 1 ? ", ..." : "");
    } else {
        snprintf(hint, sizeof hint, "; the folder is empty");
    }
    return kiln_err_set(err, KILN_ENOTFOUND,
                        "--in %s: no hour files%s (looked for YYYY-MM-DD-H.json.gz or -HH.json.gz)%s; "
                        "--allow-missing accepts an empty run",
                        o->in_dir, range, hint);
}

/* One input file's line of a day's fingerprint: name, size, mtime (ns) and
 * the CRC-64 of its bytes (ISA-L, ~10 GB/s: small next to inflating). */
static int file_fp_line(const job *j, const char *dir, const char *name, kiln_buf *out, kiln_err *err)
{
    if (j->remote) { /* on S3: the object's size and ETag (its MD5 unless multipart) */
        long i = kiln_gh__remote_find(j->remote, name);
        int64_t size = 0;
        const char *etag = "";
        if (i >= 0)
            (void)kiln_gh__remote_name(j->remote, (size_t)i, &size, &etag);
        return i < 0 ? kiln_buf_printf(out, err, "%s not-a-file\n", name)
                     : kiln_buf_printf(out, err, "%s %lld etag %s\n", name, (long long)size, etag);
    }
    char *path = kiln_sprintf("%s/%s", dir, name);
    if (!path)
        return KILN_OOM(err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        kiln_free(path);
        return kiln_err_set(err, KILN_EIO, "%s/%s: %s", dir, name, strerror(e));
    }
    kiln_free(path);
    if (!S_ISREG(st.st_mode)) { /* planned as missing; still part of what the day is */
        close(fd);
        return kiln_buf_printf(out, err, "%s not-a-file\n", name);
    }
    uint64_t crc = 0;
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return kiln_err_set(err, KILN_EIO, "%s/%s: cannot map: %s", dir, name, strerror(e));
        }
        madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
        crc = crc64_ecma_refl(0, m, (uint64_t)st.st_size);
        munmap(m, (size_t)st.st_size);
    }
    close(fd);
    return kiln_buf_printf(out, err, "%s %lld %lld.%09ld %016llx\n", name, (long long)st.st_size,
                           (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec, (unsigned long long)crc);
}

/* Fingerprints of the planned days (opts.unchanged set) and which of them
 * need not be read. A day's fingerprint covers its hour files and, when the
 * previous day is planned too, the previous hour's file (the day's first
 * hour is deduped against it). A day stays planned when the next day is
 * read and starts with the hour after the day's last one: that hour
 * dedupes against this day's last hour, so it must run as in the first
 * load (the grain's "later push wins" would otherwise see other rows). */
static int fingerprint_days(job *j, const in_listing *l, const int64_t *days, size_t ndays, kiln_err *err)
{
    const kiln_gh_opts *o = j->o;
    kiln_buf b = {0}, prev_line = {0};
    int64_t prev_slot = -1;
    int rc = 0;
    for (size_t di = 0; di < ndays && !rc; di++) {
        day_state *d = &j->days[di];
        b.len = 0;
        rc = kiln_buf_printf(&b, err, "kiln gh-events inputs v1\nfilter %s\n", o->filter ? o->filter : "");
        /* the previous hour's file, read in this run when its day is planned */
        int64_t ps = days[di] * 24 - 1;
        if (!rc && di > 0 && days[di - 1] == days[di] - 1 && find_hour(l, ps)) {
            if (prev_slot == ps)
                rc = kiln_buf_printf(&b, err, "prev %.*s", (int)prev_line.len, prev_line.data);
            else if (!(rc = kiln_buf_append(&b, "prev ", 5, err)))
                rc = file_fp_line(j, o->in_dir, find_hour(l, ps)->name, &b, err);
        }
        size_t nfiles = 0;
        for (int h = 0; h < 24 && !rc; h++) {
            const hour_file *hf = find_hour(l, days[di] * 24 + h);
            if (!hf)
                continue;
            size_t at = b.len;
            if ((rc = file_fp_line(j, o->in_dir, hf->name, &b, err)))
                break;
            nfiles++;
            if (h == 23) {
                prev_line.len = 0;
                rc = kiln_buf_append(&prev_line, b.data + at, b.len - at, err);
                prev_slot = days[di] * 24 + 23;
            }
        }
        if (rc)
            break;
        if (!nfiles)
            continue; /* nothing to read anyway */
        uint8_t sum[32];
        kiln_sha256 sh;
        kiln_sha256_init(&sh);
        kiln_sha256_update(&sh, b.data, b.len);
        kiln_sha256_final(&sh, sum);
        for (int i = 0; i < 32; i++)
            snprintf(d->fp + 2 * i, 3, "%02x", sum[i]);
        d->unchanged = o->unchanged(o->unchanged_ctx, days[di], d->fp) == 1;
    }
    kiln_buf_free(&b);
    kiln_buf_free(&prev_line);
    if (rc)
        return rc;
    for (size_t di = ndays; di-- > 1;) {
        day_state *d = &j->days[di], *pd = &j->days[di - 1];
        if (!d->unchanged && pd->unchanged && days[di - 1] == days[di] - 1 && find_hour(l, days[di] * 24) &&
            find_hour(l, days[di] * 24 - 1))
            pd->unchanged = 0;
    }
    return 0;
}

/* Tasks: one per hour file of the planned days, in time order; the other
 * slots are reported missing. */
static int plan_tasks(job *j, const in_listing *l, const int64_t *days, size_t ndays, char ***missing, size_t *nmissing,
                      kiln_err *err)
{
    const kiln_gh_opts *o = j->o;
    KILN_VEC(char *) miss = {0};
    int rc = 0;
    j->ndays = ndays;
    j->days = kiln_calloc(ndays ? ndays : 1, sizeof(day_state));
    j->tasks = kiln_calloc(ndays ? ndays * 24 : 1, sizeof(hour_task));
    if (!j->days || !j->tasks)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory planning %zu days", ndays);
    for (size_t di = 0; di < ndays; di++)
        j->days[di].day = days[di];
    if (o->unchanged && (rc = fingerprint_days(j, l, days, ndays, err)))
        return rc;
    hour_task *last = NULL;
    for (size_t di = 0; di < ndays && !rc; di++) {
        day_state *d = &j->days[di];
        d->day = days[di];
        d->first_task = j->ntasks;
        if (d->unchanged) {
            last = NULL; /* the next day is unchanged too, or does not start at hour 0 */
            continue;
        }
        for (int h = 0; h < 24 && !rc; h++) {
            const hour_file *hf = find_hour(l, d->day * 24 + h);
            struct stat fs;
            char *path = hf ? kiln_sprintf("%s/%s", o->in_dir, hf->name) : NULL;
            if (hf && !path) {
                rc = KILN_OOM(err);
                break;
            }
            if (hf && j->remote) { /* streamed from S3: listed, so there */
                memset(&fs, 0, sizeof fs);
                fs.st_mode = S_IFREG;
                long ri = kiln_gh__remote_find(j->remote, hf->name);
                int64_t rsz = 0;
                if (ri >= 0)
                    (void)kiln_gh__remote_name(j->remote, (size_t)ri, &rsz, NULL);
                fs.st_size = (off_t)rsz;
            }
            if (!hf || (!j->remote && stat(path, &fs) != 0) || !S_ISREG(fs.st_mode)) {
                char ds[16];
                kiln_date_format(d->day, ds);
                char *m = kiln_sprintf("%s-%d.json.gz", ds, h);
                kiln_free(path);
                if (!m || kiln_vec_push(&miss, m, err)) {
                    kiln_free(m);
                    rc = KILN_OOM(err);
                    break;
                }
                d->counts.missing++;
                continue;
            }
            hour_task *t = &j->tasks[j->ntasks++];
            t->day = d->day;
            t->hour = h;
            snprintf(t->name, sizeof t->name, "%s", hf->name);
            t->path = path;
            t->dstate = d;
            t->job = j;
            t->gz_size = (uint64_t)fs.st_size;
            j->gz_total += t->gz_size;
            if (last && last->day * 24 + last->hour == d->day * 24 + h - 1) {
                t->prev = last;
                last->has_next = 1;
            }
            last = t;
            d->ntasks++;
        }
        d->pending = d->ntasks;
    }
    *missing = miss.items;
    *nmissing = miss.len;
    return rc;
}

/* Output directories, and staging a crashed run left behind. */
static int prepare_output(job *j, kiln_err *err)
{
    for (size_t di = 0; di < j->ndays; di++) {
        day_state *d = &j->days[di];
        if (!d->ntasks)
            continue;
        drop_staging(j, d->day);
        const char *tables[2] = {"pushes", "commits"};
        for (int i = 0; i < 2; i++) {
            char *s = table_dir(j, tables[i], ".staging-", d->day);
            if (!s)
                return KILN_OOM(err);
            int rc = kiln_mkdirs(s, err);
            kiln_free(s);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int worker_init(worker *w, size_t batch_rows, kiln_err *err)
{
    int rc;
    w->win_alloc = GH_WINDOW_INIT;
    w->win = kiln_malloc(w->win_alloc);
    if (!w->win)
        return KILN_OOM(err);
    kiln_buf_init(&w->scratch, GH_SCRATCH_CAP);
    kiln_buf_init(&w->qbuf, (size_t)1 << 20);
    if ((rc = kiln_batch_new(&w->pb, &push_schema, batch_rows, 0, err)) ||
        (rc = kiln_batch_new(&w->cb, &commit_schema, batch_rows, 0, err)))
        return rc;
    return 0;
}

static void worker_free(worker *w)
{
    kiln_free(w->win);
    kiln_buf_free(&w->scratch);
    kiln_buf_free(&w->qbuf);
    kiln_batch_free(w->pb);
    kiln_batch_free(w->cb);
}

/* Run every task on the pool; report progress every 200 ms meanwhile. */
static int run_tasks(job *j, kiln_err *err)
{
    const kiln_gh_opts *o = j->o;
    kiln_pool *pool = NULL;
    int nthreads = o->threads > 0 ? o->threads : kiln_ncpus();
    if (nthreads > 256)
        nthreads = 256;
    j->nworkers = nthreads;
    j->workers = kiln_calloc((size_t)nthreads, sizeof(worker));
    if (!j->workers)
        return KILN_OOM(err);
    int rc;
    for (int i = 0; i < nthreads; i++)
        if ((rc = worker_init(&j->workers[i], j->batch_rows, err)))
            return rc;
    if ((rc = kiln_pool_new(&pool, nthreads, err)))
        return rc;
    j->pool = pool;
    for (size_t i = 0; i < j->ntasks; i++)
        if ((rc = kiln_pool_submit(pool, task_main, &j->tasks[i], err))) {
            kiln_pool_free(pool);
            j->pool = NULL;
            return rc;
        }
    pthread_mutex_lock(&j->lock);
    while (j->tasks_done < j->ntasks) {
        if (o->progress) {
            size_t td = j->tasks_done;
            pthread_mutex_unlock(&j->lock);
            o->progress(o->progress_ctx, td, j->ntasks, __atomic_load_n(&j->gz_done, __ATOMIC_RELAXED), j->gz_total,
                        __atomic_load_n(&j->json_done, __ATOMIC_RELAXED));
            pthread_mutex_lock(&j->lock);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&j->cond, &j->lock, &ts);
        } else {
            pthread_cond_wait(&j->cond, &j->lock);
        }
    }
    pthread_mutex_unlock(&j->lock);
    kiln_pool_free(pool); /* waits for the days' commit-file tasks too */
    j->pool = NULL;
    if (o->progress)
        o->progress(o->progress_ctx, j->ntasks, j->ntasks, j->gz_total, j->gz_total, j->json_done);
    return 0;
}

static void counts_add(kiln_gh_counts *a, const kiln_gh_counts *b)
{
    a->files += b->files;
    a->missing += b->missing;
    a->events += b->events;
    a->pushes += b->pushes;
    a->commits += b->commits;
    a->quarantined += b->quarantined;
    a->duplicates += b->duplicates;
    a->filtered += b->filtered;
    a->json_bytes += b->json_bytes;
    a->gz_bytes += b->gz_bytes;
    a->utf8_repaired += b->utf8_repaired;
    a->commits_superseded += b->commits_superseded;
    a->reruns += b->reruns;
}

/* Every failed hour's error of one day, "FILE: message", hours ascending;
 * a day that failed after its hours (the swap) has that error alone. */
static int part_errors(const job *j, const day_state *d, kiln_gh_partition *p, kiln_err *err)
{
    KILN_VEC(char *) errs = {0};
    for (size_t i = 0; i < j->ntasks; i++) {
        const hour_task *t = &j->tasks[i];
        if (t->dstate != d || !t->failed)
            continue;
        char *e = kiln_sprintf("%s: %s", t->name, t->error);
        if (!e || kiln_vec_push(&errs, e, err)) {
            kiln_free(e);
            goto oom;
        }
    }
    if (!errs.len && d->error[0]) {
        char *e = kiln_strdup(d->error);
        if (!e || kiln_vec_push(&errs, e, err)) {
            kiln_free(e);
            goto oom;
        }
    }
    p->errors = errs.items;
    p->nerrors = errs.len;
    return 0;
oom:
    for (size_t i = 0; i < errs.len; i++)
        kiln_free(errs.items[i]);
    kiln_vec_free(&errs);
    return KILN_OOM(err);
}

static int build_report(const job *j, kiln_gh_report *report, kiln_err *err)
{
    report->parts = kiln_calloc(j->ndays ? j->ndays : 1, sizeof(kiln_gh_partition));
    if (!report->parts)
        return KILN_OOM(err);
    report->nparts = j->ndays;
    for (size_t di = 0; di < j->ndays; di++) {
        const day_state *d = &j->days[di];
        kiln_gh_partition *p = &report->parts[di];
        p->day = d->day;
        p->counts = d->counts;
        p->status = d->failed      ? KILN_GH_PART_FAILED
                    : d->skipped   ? KILN_GH_PART_SKIPPED
                    : d->unchanged ? KILN_GH_PART_UNCHANGED
                    : d->ntasks    ? KILN_GH_PART_OK
                                   : KILN_GH_PART_NO_DATA;
        memcpy(p->input_fp, d->fp, sizeof p->input_fp);
        report->unchanged += p->status == KILN_GH_PART_UNCHANGED;
        p->failed = p->status == KILN_GH_PART_FAILED || p->status == KILN_GH_PART_SKIPPED;
        if (p->status == KILN_GH_PART_SKIPPED)
            snprintf(p->error, sizeof p->error,
                     "not run: an earlier hour failed (--keep-going loads every other hour)");
        else
            snprintf(p->error, sizeof p->error, "%s", d->error);
        int rc;
        if (p->status == KILN_GH_PART_FAILED && (rc = part_errors(j, d, p, err)))
            return rc;
        report->failed += p->failed;
        report->loaded += p->status == KILN_GH_PART_OK;
        counts_add(&report->total, &d->counts);
    }
    return 0;
}

static int job_init(job *j, const kiln_gh_opts *o, kiln_err *err)
{
    memset(j, 0, sizeof *j);
    j->o = o;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    if (!o->in_dir || !o->out_dir || !o->format)
        return kiln_err_set(err, KILN_EINVAL, "gh-events: --in, --out and --format are required");
    j->line_cap = o->line_cap ? o->line_cap : GH_LINE_CAP_DEFAULT;
    if (j->line_cap < GH_WINDOW_INIT)
        j->line_cap = GH_WINDOW_INIT;
    j->batch_rows = o->batch_rows ? o->batch_rows : GH_BATCH_ROWS_DEFAULT;
    int rc = parse_filter(&j->filter, o->filter, err);
    if (rc)
        return rc;
    j->qdir = o->quarantine_dir ? kiln_strdup(o->quarantine_dir) : kiln_sprintf("%s/_quarantine", o->out_dir);
    return j->qdir ? 0 : KILN_OOM(err);
}

static void job_free(job *j, int failed)
{
    if (j->workers)
        for (int i = 0; i < j->nworkers; i++)
            worker_free(&j->workers[i]);
    kiln_free(j->workers);
    for (size_t i = 0; i < j->ntasks; i++) {
        kiln_free(j->tasks[i].path);
        kiln_i64set_free(j->tasks[i].ids);
        kiln_vec_free(&j->tasks[i].push_ids);
        kiln_vec_free(&j->tasks[i].ckeys);
        kiln_free(j->tasks[i].drop);
    }
    if (failed) /* a job-level failure: nothing was committed past the staging */
        for (size_t di = 0; di < j->ndays; di++)
            if (j->days && j->days[di].ntasks && j->days[di].pending)
                drop_staging(j, j->days[di].day);
    kiln_free(j->tasks);
    kiln_free(j->days);
    free_filter(&j->filter);
    kiln_free(j->qdir);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kiln_free(v[i]);
    kiln_free(v);
}

static int gh_events_run_dir(const kiln_gh_opts *o, kiln_gh__remote *remote, kiln_gh_report *report, kiln_err *err);

/* --in on S3: hour files streamed while read; a local raw zone: a staged
 * folder of links to its hour files, removed after the run (gh_rawzone.c) */
int kiln_gh_events_run(const kiln_gh_opts *o, kiln_gh_report *report, kiln_err *err)
{
    char *staged = NULL;
    kiln_gh__remote *remote = NULL;
    memset(report, 0, sizeof *report);
    int rc = o->in_dir ? kiln_gh__remote_open(o, &remote, err) : 0;
    if (!rc && remote) {
        rc = gh_events_run_dir(o, remote, report, err);
        kiln_gh__remote_free(remote);
        return rc;
    }
    rc = rc ? rc : o->in_dir ? kiln_gh__rawzone_stage(o, &staged, err) : 0;
    if (rc || !staged)
        return rc ? rc : gh_events_run_dir(o, NULL, report, err);
    kiln_gh_opts so = *o;
    so.in_dir = staged;
    rc = gh_events_run_dir(&so, NULL, report, err);
    (void)kiln_rmtree(staged, NULL);
    kiln_free(staged);
    return rc;
}

static int gh_events_run_dir(const kiln_gh_opts *o, kiln_gh__remote *remote, kiln_gh_report *report, kiln_err *err)
{
    memset(report, 0, sizeof *report);
    double t0 = kiln_mono_seconds();
    job j;
    in_listing l;
    memset(&l, 0, sizeof l);
    int64_t *days = NULL;
    size_t ndays = 0;
    int rc;
    if ((rc = job_init(&j, o, err)) || (rc = remote ? list_remote(remote, &l, err) : list_in_dir(o->in_dir, &l, err)) ||
        (rc = (j.remote = remote, check_spellings(o, &l, err))) || (rc = plan_days(o, &l, &days, &ndays, err)) ||
        (rc = plan_tasks(&j, &l, days, ndays, &report->missing, &report->nmissing, err)))
        goto done;
    size_t nunchanged = 0;
    for (size_t di = 0; di < j.ndays; di++)
        nunchanged += (size_t)j.days[di].unchanged;
    if (j.ntasks == 0 && !nunchanged && !o->allow_missing) {
        rc = nothing_found(o, &l, err);
        goto done;
    }
    /* names that look like hour files but are not: listed, never read */
    report->ignored = l.ignored.items;
    report->nignored = l.ignored.len;
    l.ignored.items = NULL;
    l.ignored.len = l.ignored.alloc = 0;
    if ((rc = prepare_output(&j, err)) || (rc = run_tasks(&j, err)) || (rc = build_report(&j, report, err)))
        goto done;
done:
    job_free(&j, rc != 0);
    listing_free(&l);
    kiln_free(days);
    report->seconds = kiln_mono_seconds() - t0;
    if (rc)
        kiln_gh_report_free(report);
    return rc;
}

void kiln_gh_report_free(kiln_gh_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; r->parts && i < r->nparts; i++)
        free_names(r->parts[i].errors, r->parts[i].nerrors);
    kiln_free(r->parts);
    free_names(r->missing, r->nmissing);
    free_names(r->ignored, r->nignored);
    memset(r, 0, sizeof *r);
}

const char *kiln_gh_part_status_name(kiln_gh_part_status s)
{
    switch (s) {
    case KILN_GH_PART_OK: return "ok";
    case KILN_GH_PART_NO_DATA: return "no_data";
    case KILN_GH_PART_FAILED: return "failed";
    case KILN_GH_PART_UNCHANGED: return "unchanged";
    default: return "skipped";
    }
}

/* Counters as JSON members (numbers only: no string to escape). */
static int counts_json(kiln_buf *b, const kiln_gh_counts *c, kiln_err *err)
{
    return kiln_buf_printf(b, err,
                           "\"files\":%llu,\"missing_hours\":%llu,\"events\":%llu,\"pushes\":%llu,\"commits\":%llu,"
                           "\"commits_superseded\":%llu,\"quarantined\":%llu,\"duplicates\":%llu,\"filtered\":%llu,"
                           "\"utf8_repaired\":%llu,\"reruns\":%llu,\"json_bytes\":%llu,\"gz_bytes\":%llu",
                           (unsigned long long)c->files, (unsigned long long)c->missing, (unsigned long long)c->events,
                           (unsigned long long)c->pushes, (unsigned long long)c->commits,
                           (unsigned long long)c->commits_superseded, (unsigned long long)c->quarantined,
                           (unsigned long long)c->duplicates, (unsigned long long)c->filtered,
                           (unsigned long long)c->utf8_repaired, (unsigned long long)c->reruns,
                           (unsigned long long)c->json_bytes, (unsigned long long)c->gz_bytes);
}

static int names_json(kiln_buf *b, char *const *v, size_t n, kiln_err *err)
{
    int rc = kiln_buf_putc(b, '[', err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (i)
            rc = kiln_buf_putc(b, ',', err);
        if (!rc)
            rc = kiln_json_write_str(b, v[i], strlen(v[i]), err);
    }
    return rc ? rc : kiln_buf_putc(b, ']', err);
}

int kiln_gh_report_json(const kiln_gh_report *r, kiln_buf *b, kiln_err *err)
{
    int rc = kiln_buf_append(b, "{\"partitions\":[", 15, err);
    for (size_t i = 0; rc == 0 && i < r->nparts; i++) {
        const kiln_gh_partition *p = &r->parts[i];
        char d[16];
        kiln_date_format(p->day, d);
        rc = kiln_buf_printf(b, err, "%s{\"date\":\"%s\",\"status\":\"%s\",", i ? "," : "", d,
                             kiln_gh_part_status_name(p->status));
        if (!rc)
            rc = counts_json(b, &p->counts, err);
        if (!rc && p->failed) {
            rc = kiln_buf_append(b, ",\"error\":", 9, err);
            if (!rc)
                rc = kiln_json_write_str(b, p->error, strlen(p->error), err);
            if (!rc)
                rc = kiln_buf_append(b, ",\"errors\":", 10, err);
            if (!rc)
                rc = names_json(b, p->errors, p->nerrors, err);
        }
        if (!rc)
            rc = kiln_buf_putc(b, '}', err);
    }
    if (!rc)
        rc = kiln_buf_append(b, "],\"total\":{", 11, err);
    if (!rc)
        rc = counts_json(b, &r->total, err);
    if (!rc)
        rc = kiln_buf_printf(b, err,
                             "},\"failed_partitions\":%zu,\"loaded_partitions\":%zu,\"unchanged_partitions\":%zu,"
                             "\"seconds\":%.3f,\"missing\":",
                             r->failed, r->loaded, r->unchanged, r->seconds);
    if (!rc)
        rc = names_json(b, r->missing, r->nmissing, err);
    if (!rc)
        rc = kiln_buf_append(b, ",\"ignored\":", 11, err);
    if (!rc)
        rc = names_json(b, r->ignored, r->nignored, err);
    if (!rc)
        rc = kiln_buf_putc(b, '}', err);
    return rc;
}
