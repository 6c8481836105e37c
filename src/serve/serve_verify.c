/*
 * serve_verify.c - `kiln verify convergence`: do the stream path (webhook
 * deliveries landed by kiln serve) and the batch path (GH Archive, commit
 * lists completed from compare responses) give the same pushes and
 * commits for a window? The Kappa architecture's claim, checked.
 *
 * DESIGN
 * - Both sides run through the same engine job (kiln_gh_events_run, NDJSON
 *   into a scratch directory) for the window's days, so the check covers
 *   the one transformation both paths share and compares its rows. The
 *   stream side is staged read-only from the delivery log (only
 *   acknowledged bytes; nothing under RAW is repaired or written), so it
 *   can run next to a live kiln serve.
 * - Repos: the ones given, else every repo the stream side has in the
 *   window (webhooks cover the repos that installed the hook; GH Archive
 *   covers all of GitHub), passed to the batch run as its repo filter.
 * - Pushes are matched on (repo_id, ref, before, head): push ids differ by
 *   design (webhooks carry none; serve derives a negative one). Commits
 *   are matched on (repo_id, sha) and compare author name, author email
 *   and message. `distinct` is not compared (compare responses lack it),
 *   nor which push listed a commit.
 * - Enrichment: a batch push whose GH Archive commit list is cut (size
 *   over 20 and fewer commits listed), or that has no size (PushEvents from 2025-10-07 on), takes
 *   its commits from API/compare/OWNER/REPO/BEFORE...HEAD.json (for a new
 *   branch, whose before is all zeros, any BASE...HEAD.json of that head).
 *   Pushes that needed it and had no response are counted (unenriched):
 *   their missing commits show up as stream-only differences.
 * - The report lists at most max_diffs differences, sorted (kind, repo,
 *   key), and counts all of them.
 */
#include "engine/gh_events.h"
#include "serve/serve_int.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GH_LISTED_MAX 20 /* commits a PushEvent lists at most */

typedef struct vpush {
    int64_t repo_id, push_id, size; /* size -1 = null */
    char *repo_name, *ref, *before, *head;
} vpush;

typedef struct vcommit {
    int64_t repo_id, push_id;
    char *repo_name, *sha, *author_name, *author_email, *message;
} vcommit;

typedef struct side {
    kiln_map *pushes;  /* "repo_id\tref\tbefore\thead" -> vpush */
    kiln_map *commits; /* "repo_id\tsha" -> vcommit */
    size_t hour_files, deliveries, missing_hours;
} side;

typedef struct diff {
    char *sort_key;
    char *json, *text;
} diff;

static char *dupj(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? kiln_strdup(s) : NULL;
}

static int64_t intj(json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static void push_free(vpush *p)
{
    if (!p)
        return;
    kiln_free(p->repo_name);
    kiln_free(p->ref);
    kiln_free(p->before);
    kiln_free(p->head);
    kiln_free(p);
}

static void commit_free(vcommit *c)
{
    if (!c)
        return;
    kiln_free(c->repo_name);
    kiln_free(c->sha);
    kiln_free(c->author_name);
    kiln_free(c->author_email);
    kiln_free(c->message);
    kiln_free(c);
}

static void side_free(side *s)
{
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (s->pushes && kiln_map_next(s->pushes, &pos, &k, &kl, &v))
        push_free(v);
    pos = 0;
    while (s->commits && kiln_map_next(s->commits, &pos, &k, &kl, &v))
        commit_free(v);
    kiln_map_free(s->pushes);
    kiln_map_free(s->commits);
}

static char *push_key(const vpush *p)
{
    return kiln_sprintf("%lld\t%s\t%s\t%s", (long long)p->repo_id, p->ref ? p->ref : "", p->before ? p->before : "",
                        p->head ? p->head : "");
}

/* Add c unless its key is there already (then free it). */
static int commit_add(side *s, vcommit *c, int *added, kiln_err *err)
{
    char *key = kiln_sprintf("%lld\t%s", (long long)c->repo_id, c->sha ? c->sha : "");
    int rc = 0;
    *added = 0;
    if (!key)
        rc = KILN_OOM(err);
    else if (kiln_map_has(s->commits, key, strlen(key)))
        commit_free(c);
    else if (!(rc = kiln_map_put(s->commits, key, strlen(key), c, err)))
        *added = 1;
    if (rc)
        commit_free(c);
    kiln_free(key);
    return rc;
}

/* Every OUT/TABLE/date=D/NAME.ndjson row into s. */
static int read_rows(side *s, const char *out, const char *table, kiln_err *err)
{
    char *root = kiln_sprintf("%s/%s", out, table);
    if (!root)
        return KILN_OOM(err);
    DIR *d = opendir(root);
    int rc = 0;
    if (!d) {
        kiln_free(root);
        return 0; /* nothing written: no rows */
    }
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (strncmp(e->d_name, "date=", 5) != 0)
            continue;
        char *sub = kiln_sprintf("%s/%s", root, e->d_name);
        DIR *sd = sub ? opendir(sub) : NULL;
        struct dirent *f;
        while (sd && !rc && (f = readdir(sd))) {
            size_t n = strlen(f->d_name);
            if (n < 7 || strcmp(f->d_name + n - 7, ".ndjson") != 0)
                continue;
            char *path = kiln_sprintf("%s/%s", sub, f->d_name), *text = NULL;
            size_t len = 0;
            if (!path) {
                rc = KILN_OOM(err);
                break;
            }
            rc = kiln_file_read(path, (size_t)1 << 32, &text, &len, err);
            for (char *p = text, *nl; !rc && p && (nl = memchr(p, '\n', len - (size_t)(p - text))); p = nl + 1) {
                json_error_t je;
                json_t *row = json_loadb(p, (size_t)(nl - p), 0, &je);
                if (!row) {
                    rc = kiln_err_set(err, KILN_EINTERNAL, "%s: engine output is not NDJSON: %s", path, je.text);
                    break;
                }
                if (strcmp(table, "pushes") == 0) {
                    vpush *pu = kiln_calloc(1, sizeof *pu);
                    char *key = NULL;
                    if (pu) {
                        pu->repo_id = intj(row, "repo_id", 0);
                        pu->push_id = intj(row, "push_id", 0);
                        pu->size = intj(row, "size", -1);
                        pu->repo_name = dupj(row, "repo_name");
                        pu->ref = dupj(row, "ref");
                        pu->before = dupj(row, "before");
                        pu->head = dupj(row, "head");
                        key = push_key(pu);
                    }
                    if (!pu || !key)
                        rc = KILN_OOM(err);
                    else if (kiln_map_has(s->pushes, key, strlen(key)))
                        push_free(pu); /* the same push twice (a redelivery under a new GUID on another day) */
                    else if ((rc = kiln_map_put(s->pushes, key, strlen(key), pu, err)))
                        push_free(pu);
                    kiln_free(key);
                } else {
                    vcommit *c = kiln_calloc(1, sizeof *c);
                    int added;
                    if (!c) {
                        rc = KILN_OOM(err);
                    } else {
                        c->repo_id = intj(row, "repo_id", 0);
                        c->push_id = intj(row, "push_id", 0);
                        c->repo_name = dupj(row, "repo_name");
                        c->sha = dupj(row, "sha");
                        c->author_name = dupj(row, "author_name");
                        c->author_email = dupj(row, "author_email");
                        c->message = dupj(row, "message");
                        rc = commit_add(s, c, &added, err);
                    }
                }
                json_decref(row);
            }
            kiln_free(text);
            kiln_free(path);
        }
        if (sd)
            closedir(sd);
        kiln_free(sub);
    }
    closedir(d);
    kiln_free(root);
    return rc;
}

/* The engine job over in_dir for the window (NDJSON into out_dir). */
static int run_job(const kiln_verify_opts *o, const char *in_dir, const char *out_dir, const char *filter,
                   const char *what, side *s, kiln_err *err)
{
    kiln_gh_opts go;
    kiln_gh_report rep;
    kiln_gh_opts_init(&go);
    go.in_dir = in_dir;
    go.out_dir = out_dir;
    go.start_day = o->start_day;
    go.end_day = o->end_day;
    go.has_range = 1;
    go.allow_missing = 1; /* no delivery in an hour is normal; batch gaps are reported below */
    go.keep_going = 1;
    go.filter = filter;
    go.format = kiln_gh_format_find("ndjson");
    go.threads = o->threads > 0 ? o->threads : 2;
    memset(&rep, 0, sizeof rep);
    int rc = kiln_gh_events_run(&go, &rep, err);
    if (rc)
        return rc;
    s->missing_hours = rep.nmissing;
    for (size_t i = 0; i < rep.nparts && !rc; i++)
        if (rep.parts[i].failed) {
            char day[11];
            kiln_date_format(rep.parts[i].day, day);
            rc = kiln_err_set(err, KILN_EFORMAT, "%s side: the engine job failed on %s: %s", what, day,
                              rep.parts[i].error);
        }
    for (size_t i = 0; i < rep.nparts; i++)
        s->hour_files += rep.parts[i].counts.files;
    kiln_gh_report_free(&rep);
    if (!rc)
        rc = read_rows(s, out_dir, "pushes", err);
    if (!rc)
        rc = read_rows(s, out_dir, "commits", err);
    return rc;
}

/* API/compare/REPO/BEFORE...HEAD.json, or for a new branch any
 * BASE...HEAD.json; NULL when there is none. Caller frees. */
static char *compare_path(const char *api, const vpush *p)
{
    if (!p->repo_name || !p->head || strstr(p->repo_name, "..") || strchr(p->head, '/'))
        return NULL;
    char *path = p->before && !strchr(p->before, '/')
                     ? kiln_sprintf("%s/compare/%s/%s...%s.json", api, p->repo_name, p->before, p->head)
                     : NULL;
    if (path && access(path, R_OK) == 0)
        return path;
    kiln_free(path);
    path = NULL;
    char *dir = kiln_sprintf("%s/compare/%s", api, p->repo_name), *suffix = kiln_sprintf("...%s.json", p->head);
    DIR *d = dir && suffix ? opendir(dir) : NULL;
    struct dirent *e;
    size_t sl = suffix ? strlen(suffix) : 0;
    while (d && !path && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > sl && strcmp(e->d_name + n - sl, suffix) == 0)
            path = kiln_sprintf("%s/%s", dir, e->d_name);
    }
    if (d)
        closedir(d);
    kiln_free(dir);
    kiln_free(suffix);
    return path;
}

/* Complete the batch side's commit lists from compare responses. */
static int enrich(const kiln_verify_opts *o, side *b, size_t *enriched, size_t *added_commits, size_t *unenriched,
                  kiln_err *err)
{
    kiln_map *listed = kiln_map_new(); /* push_id -> commits listed (uintptr_t) */
    int rc = listed ? 0 : KILN_OOM(err);
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (!rc && kiln_map_next(b->commits, &pos, &k, &kl, &v)) {
        const vcommit *c = v;
        uintptr_t n = (uintptr_t)kiln_map_get(listed, (const char *)&c->push_id, sizeof c->push_id);
        rc = kiln_map_put(listed, (const char *)&c->push_id, sizeof c->push_id, (void *)(n + 1), err);
    }
    /* collect first: adding commits while walking pushes is fine, but keep the walk simple */
    KILN_VEC(vpush *) todo = {0};
    pos = 0;
    while (!rc && kiln_map_next(b->pushes, &pos, &k, &kl, &v)) {
        vpush *p = v;
        uintptr_t n = (uintptr_t)kiln_map_get(listed, (const char *)&p->push_id, sizeof p->push_id);
        /* GH Archive lists min(size, 20) commits: below 21 a shorter list
         * only means the engine kept a shared commit on a later push */
        if (p->size < 0 || (p->size > GH_LISTED_MAX && (int64_t)n < p->size))
            rc = kiln_vec_push(&todo, p, err);
    }
    for (size_t i = 0; !rc && i < todo.len; i++) {
        vpush *p = todo.items[i];
        char *path = o->api_dir ? compare_path(o->api_dir, p) : NULL;
        if (!path) {
            (*unenriched)++;
            continue;
        }
        json_error_t je;
        json_t *cmp = json_load_file(path, 0, &je);
        if (!cmp || !json_is_array(json_object_get(cmp, "commits"))) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: not a compare response: %s", path,
                              cmp ? "no commits array" : je.text);
            json_decref(cmp);
            kiln_free(path);
            break;
        }
        size_t j;
        json_t *x;
        json_array_foreach(json_object_get(cmp, "commits"), j, x)
        {
            json_t *cm = json_object_get(x, "commit"), *au = json_object_get(cm, "author");
            vcommit *c = kiln_calloc(1, sizeof *c);
            int added = 0;
            if (!c) {
                rc = KILN_OOM(err);
                break;
            }
            c->repo_id = p->repo_id;
            c->push_id = p->push_id;
            c->repo_name = p->repo_name ? kiln_strdup(p->repo_name) : NULL;
            c->sha = dupj(x, "sha");
            c->author_name = dupj(au, "name");
            c->author_email = dupj(au, "email");
            c->message = dupj(cm, "message");
            if ((rc = commit_add(b, c, &added, err)))
                break;
            *added_commits += (size_t)added;
        }
        (*enriched)++;
        json_decref(cmp);
        kiln_free(path);
    }
    kiln_vec_free(&todo);
    kiln_map_free(listed);
    return rc;
}

/* ------------------------------------------------------------------ differences */

typedef KILN_VEC(diff) diffv;

static int jkv(kiln_buf *b, const char *k, const char *v, kiln_err *err)
{
    int rc = kiln_buf_printf(b, err, ",\"%s\":", k);
    return rc ? rc : v ? kiln_json_write_str(b, v, strlen(v), err) : kiln_buf_printf(b, err, "null");
}

/* Append d (its json taken from j) to dv unless rc already failed; frees
 * what was not kept and j. */
static int diff_push(diffv *dv, diff d, kiln_buf *j, int rc, kiln_err *err)
{
    if (!rc && !(d.json = kiln_strdup(j->data)))
        rc = KILN_OOM(err);
    if (!rc && (!d.sort_key || !d.text))
        rc = KILN_OOM(err);
    if (!rc)
        rc = kiln_vec_push(dv, d, err);
    if (rc) {
        kiln_free(d.sort_key);
        kiln_free(d.json);
        kiln_free(d.text);
    }
    kiln_buf_free(j);
    return rc;
}

static int add_push_diff(diffv *dv, const vpush *p, const char *side_only, kiln_err *err)
{
    kiln_buf j;
    kiln_buf_init(&j, 0);
    int rc = kiln_buf_printf(&j, err, "{\"kind\":\"push\",\"side\":\"%s\",\"repo_id\":%lld", side_only,
                             (long long)p->repo_id);
    if (!rc)
        rc = jkv(&j, "repo_name", p->repo_name, err);
    if (!rc)
        rc = jkv(&j, "ref", p->ref, err);
    if (!rc)
        rc = jkv(&j, "before", p->before, err);
    if (!rc)
        rc = jkv(&j, "head", p->head, err);
    if (!rc)
        rc = kiln_buf_putc(&j, '}', err);
    diff d = {
        kiln_sprintf("1\t%s\t%s\t%s", p->repo_name ? p->repo_name : "", p->ref ? p->ref : "", p->head ? p->head : ""),
        NULL,
        kiln_sprintf("push %s %s %.12s..%.12s: %s", p->repo_name ? p->repo_name : "?", p->ref ? p->ref : "?",
                     p->before ? p->before : "?", p->head ? p->head : "?", side_only)};
    return diff_push(dv, d, &j, rc, err);
}

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

static int commit_json(kiln_buf *j, const vcommit *c, kiln_err *err)
{
    int rc = kiln_buf_putc(j, '{', err);
    if (!rc)
        rc = kiln_buf_printf(j, err, "\"push_id\":%lld", (long long)c->push_id);
    if (!rc)
        rc = jkv(j, "author_name", c->author_name, err);
    if (!rc)
        rc = jkv(j, "author_email", c->author_email, err);
    if (!rc)
        rc = jkv(j, "message", c->message, err);
    return rc ? rc : kiln_buf_putc(j, '}', err);
}

/* a only (s = stream), or both with fields differing */
static int add_commit_diff(diffv *dv, const vcommit *s, const vcommit *b, kiln_err *err)
{
    const vcommit *c = s ? s : b;
    const char *where = s && b ? "both" : s ? "stream_only" : "batch_only";
    char fields[64] = "";
    if (s && b) {
        if (!streq(s->author_name, b->author_name))
            strcat(fields, ",author_name");
        if (!streq(s->author_email, b->author_email))
            strcat(fields, ",author_email");
        if (!streq(s->message, b->message))
            strcat(fields, ",message");
        if (!fields[0])
            return 0;
    }
    kiln_buf j;
    kiln_buf_init(&j, 0);
    int rc =
        kiln_buf_printf(&j, err, "{\"kind\":\"commit\",\"side\":\"%s\",\"repo_id\":%lld", where, (long long)c->repo_id);
    if (!rc)
        rc = jkv(&j, "repo_name", c->repo_name, err);
    if (!rc)
        rc = jkv(&j, "sha", c->sha, err);
    if (!rc && fields[0]) {
        rc = kiln_buf_printf(&j, err, ",\"fields\":[");
        for (char *f = fields + 1, *e; !rc && f; f = e ? e + 1 : NULL) {
            e = strchr(f, ',');
            rc = kiln_buf_printf(&j, err, "%s\"%.*s\"", f == fields + 1 ? "" : ",",
                                 (int)(e ? (size_t)(e - f) : strlen(f)), f);
        }
        if (!rc)
            rc = kiln_buf_putc(&j, ']', err);
    }
    if (!rc && s && (rc = kiln_buf_printf(&j, err, ",\"stream\":")) == 0)
        rc = commit_json(&j, s, err);
    if (!rc && b && (rc = kiln_buf_printf(&j, err, ",\"batch\":")) == 0)
        rc = commit_json(&j, b, err);
    if (!rc)
        rc = kiln_buf_putc(&j, '}', err);
    diff d = {kiln_sprintf("2\t%s\t%s", c->repo_name ? c->repo_name : "", c->sha ? c->sha : ""), NULL,
              fields[0]
                  ? kiln_sprintf("commit %s %s: both, %s differ", c->repo_name ? c->repo_name : "?",
                                 c->sha ? c->sha : "?", fields + 1)
                  : kiln_sprintf("commit %s %s: %s", c->repo_name ? c->repo_name : "?", c->sha ? c->sha : "?", where)};
    return diff_push(dv, d, &j, rc, err);
}

static int diff_cmp(const void *a, const void *b)
{
    return strcmp(((const diff *)a)->sort_key, ((const diff *)b)->sort_key);
}

/* ------------------------------------------------------------------ the check */

int kiln_verify_convergence(const kiln_verify_opts *o, int json, kiln_buf *out, int *equal, kiln_err *err)
{
    side st = {0}, bt = {0};
    diffv dv = {0};
    kiln_buf filter;
    kiln_buf_init(&filter, 0);
    char *work = NULL, *s_in = NULL, *s_out = NULL, *b_out = NULL;
    const char *raw = o->raw_dir ? o->raw_dir : "raw";
    size_t enriched = 0, enriched_commits = 0, unenriched = 0, nrepos = 0;
    int rc = 0;
    *equal = 0;
    struct stat sb;
    if (!o->gharchive_dir)
        return kiln_err_set(err, KILN_EINVAL, "the batch side needs the GH Archive folder (--gharchive DIR)");
    if (stat(o->gharchive_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return kiln_err_set(err, KILN_ENOTFOUND, "GH Archive folder not found: %s", o->gharchive_dir);
    if (o->api_dir && (stat(o->api_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return kiln_err_set(err, KILN_ENOTFOUND, "API response folder not found: %s", o->api_dir);
    if (o->end_day < o->start_day)
        return kiln_err_set(err, KILN_EINVAL, "the window ends before it starts");
    const char *tmp = getenv("TMPDIR");
    if (!(work = kiln_sprintf("%s/kiln-verify-XXXXXX", tmp && *tmp ? tmp : "/tmp")))
        return KILN_OOM(err);
    if (!mkdtemp(work)) {
        rc = kiln_err_set(err, KILN_EIO, "%s: %s", work, strerror(errno));
        kiln_free(work);
        return rc;
    }
    if (!(s_in = kiln_sprintf("%s/stream-in", work)) || !(s_out = kiln_sprintf("%s/stream-out", work)) ||
        !(b_out = kiln_sprintf("%s/batch-out", work)) || !(st.pushes = kiln_map_new()) ||
        !(st.commits = kiln_map_new()) || !(bt.pushes = kiln_map_new()) || !(bt.commits = kiln_map_new())) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; !rc && i < o->nrepos; i++)
        rc = kiln_buf_printf(&filter, err, "%srepo=%s", i ? "," : "", o->repos[i]);
    nrepos = o->nrepos;
    /* stream side: what kiln serve acknowledged */
    if (!rc && !(rc = kiln_mkdirs(s_in, err)))
        rc = kiln_serve__hooks_stage_ro(raw, o->start_day, o->end_day, s_in, &st.hour_files, &st.deliveries, err);
    if (!rc && st.hour_files) {
        size_t staged = st.hour_files;
        rc = run_job(o, s_in, s_out, o->nrepos ? filter.data : NULL, "stream", &st, err);
        st.hour_files = staged;
    }
    if (!rc && !o->nrepos) {
        /* the repos the webhooks cover in this window */
        kiln_map *names = kiln_map_new();
        size_t pos = 0;
        const char *k;
        size_t kl;
        void *v;
        rc = names ? 0 : KILN_OOM(err);
        while (!rc && kiln_map_next(st.pushes, &pos, &k, &kl, &v)) {
            const vpush *p = v;
            if (p->repo_name && !kiln_map_has(names, p->repo_name, strlen(p->repo_name)) &&
                !(rc = kiln_map_put(names, p->repo_name, strlen(p->repo_name), NULL, err)))
                rc = kiln_buf_printf(&filter, err, "%srepo=%s", nrepos++ ? "," : "", p->repo_name);
        }
        kiln_map_free(names);
        if (!rc && !nrepos) {
            char a[11], b[11];
            kiln_date_format(o->start_day, a);
            kiln_date_format(o->end_day, b);
            rc = kiln_err_set(err, KILN_ENOTFOUND,
                              "no webhook push landed in %s/webhooks for %s..%s: nothing to compare (name the repos "
                              "with --repo to check the batch side against an empty stream)",
                              raw, a, b);
        }
    }
    /* batch side: GH Archive for the same days and repos, then compare responses */
    if (!rc)
        rc = run_job(o, o->gharchive_dir, b_out, filter.data, "batch", &bt, err);
    if (!rc)
        rc = enrich(o, &bt, &enriched, &enriched_commits, &unenriched, err);
    /* the differences */
    size_t pos = 0;
    const char *k;
    size_t kl;
    void *v;
    while (!rc && kiln_map_next(st.pushes, &pos, &k, &kl, &v))
        if (!kiln_map_has(bt.pushes, k, kl))
            rc = add_push_diff(&dv, v, "stream_only", err);
    pos = 0;
    while (!rc && kiln_map_next(bt.pushes, &pos, &k, &kl, &v))
        if (!kiln_map_has(st.pushes, k, kl))
            rc = add_push_diff(&dv, v, "batch_only", err);
    pos = 0;
    while (!rc && kiln_map_next(st.commits, &pos, &k, &kl, &v))
        rc = add_commit_diff(&dv, v, kiln_map_get(bt.commits, k, kl), err);
    pos = 0;
    while (!rc && kiln_map_next(bt.commits, &pos, &k, &kl, &v))
        if (!kiln_map_has(st.commits, k, kl))
            rc = add_commit_diff(&dv, NULL, v, err);
    if (rc)
        goto done;
    kiln_sort(dv.items, dv.len, sizeof *dv.items, diff_cmp);
    *equal = dv.len == 0;
    size_t max = o->max_diffs ? o->max_diffs : 100, shown = dv.len < max ? dv.len : max;
    char a[11], b[11];
    kiln_date_format(o->start_day, a);
    kiln_date_format(o->end_day, b);
    if (json) {
        rc = kiln_buf_printf(out, err, "{\"start\":\"%s\",\"end\":\"%s\",\"equal\":%s,\"repos\":[", a, b,
                             *equal ? "true" : "false");
        const char *f = filter.data ? filter.data : "";
        for (int first = 1; !rc && *f; first = 0) {
            const char *e = strchr(f, ',');
            size_t n = e ? (size_t)(e - f) : strlen(f);
            if (!(rc = first ? 0 : kiln_buf_putc(out, ',', err)))
                rc = kiln_json_write_str(out, f + 5, n - 5, err);
            f += n + (e ? 1 : 0);
        }
        if (!rc)
            rc = kiln_buf_printf(out, err,
                                 "],\"stream\":{\"deliveries\":%zu,\"hour_files\":%zu,\"pushes\":%zu,\"commits\":%zu},"
                                 "\"batch\":{\"hour_files\":%zu,\"missing_hours\":%zu,\"pushes\":%zu,\"commits\":%zu,"
                                 "\"enriched_pushes\":%zu,\"enriched_commits\":%zu,\"unenriched_pushes\":%zu},"
                                 "\"differences_total\":%zu,\"differences\":[",
                                 st.deliveries, st.hour_files, kiln_map_len(st.pushes), kiln_map_len(st.commits),
                                 bt.hour_files, bt.missing_hours, kiln_map_len(bt.pushes), kiln_map_len(bt.commits),
                                 enriched, enriched_commits, unenriched, dv.len);
        for (size_t i = 0; !rc && i < shown; i++)
            rc = kiln_buf_printf(out, err, "%s%s", i ? "," : "", dv.items[i].json);
        if (!rc)
            rc = kiln_buf_printf(out, err, "]}\n");
    } else {
        rc = kiln_buf_printf(out, err,
                             "window %s..%s, %zu repo(s)\n"
                             "  stream (webhooks):  %zu pushes, %zu commits from %zu deliveries in %zu hour files\n"
                             "  batch (GH Archive): %zu pushes, %zu commits from %zu hour files (%zu missing); "
                             "%zu pushes completed from compare responses (+%zu commits), %zu without one\n",
                             a, b, nrepos, kiln_map_len(st.pushes), kiln_map_len(st.commits), st.deliveries,
                             st.hour_files, kiln_map_len(bt.pushes), kiln_map_len(bt.commits), bt.hour_files,
                             bt.missing_hours, enriched, enriched_commits, unenriched);
        if (!rc && *equal)
            rc = kiln_buf_printf(out, err, "converged: the same %zu pushes and %zu commits on both paths\n",
                                 kiln_map_len(st.pushes), kiln_map_len(st.commits));
        else if (!rc)
            rc = kiln_buf_printf(out, err, "DIFFERENT: %zu difference(s)%s\n", dv.len,
                                 shown < dv.len ? " (the first listed; --max-diffs shows more)" : "");
        for (size_t i = 0; !rc && i < shown; i++)
            rc = kiln_buf_printf(out, err, "  %s\n", dv.items[i].text);
    }
done:
    for (size_t i = 0; i < dv.len; i++) {
        kiln_free(dv.items[i].sort_key);
        kiln_free(dv.items[i].json);
        kiln_free(dv.items[i].text);
    }
    kiln_vec_free(&dv);
    side_free(&st);
    side_free(&bt);
    kiln_buf_free(&filter);
    kiln_err ignore = {0};
    if (work)
        kiln_rmtree(work, &ignore);
    kiln_free(work);
    kiln_free(s_in);
    kiln_free(s_out);
    kiln_free(b_out);
    return rc;
}
