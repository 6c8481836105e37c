/* Unit tests for src/engine/gh_gen.c (kiln gen): determinism across thread
 * counts, hour naming, the 2025-10-07 PushEvent switch, payload caps, every
 * line valid JSON (parsed with jansson, not our own code), manifest counts
 * recomputed from the files, quirks where _quirks.json says, and the API
 * compare files matching the pushes. */
#include "harness/harness.h"
#include "engine/gh_gen.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

/* Decompress a whole .gz file (malloc'd); *ok = 0 when the stream is broken. */
static char *gunzip_file(const char *path, size_t *n, int *ok)
{
    gzFile z = gzopen(path, "rb");
    if (!z)
        return NULL;
    size_t cap = 1 << 20, len = 0;
    char *p = malloc(cap);
    int got;
    while ((got = gzread(z, p + len, (unsigned)(cap - len))) > 0) {
        len += (size_t)got;
        if (cap - len < 65536)
            p = realloc(p, cap *= 2);
    }
    int errnum = 0;
    gzerror(z, &errnum);
    *ok = got == 0 && errnum == Z_OK;
    gzclose(z);
    *n = len;
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int files_equal(const char *a, const char *b)
{
    size_t na, nb;
    char *pa = kt_read_file(a, &na), *pb = kt_read_file(b, &nb);
    int eq = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return eq;
}

static json_t *load_json(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return json_load_file(path, 0, NULL);
}

static json_t *manifest_hour(json_t *m, const char *file)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(m, "hours"), i,
                       h) if (strcmp(json_string_value(json_object_get(h, "file")), file) == 0) return h;
    return NULL;
}
#define MI(h, k) ((long long)json_integer_value(json_object_get((h), (k))))

TEST(gh_gen, hour_names_not_zero_padded)
{
    char name[32];
    kiln_gen_hour_name(kiln_days_from_civil(2025, 1, 1), 9, name);
    CHECK_STR(name, "2025-01-01-9.json.gz");
    kiln_gen_hour_name(kiln_days_from_civil(2024, 12, 31), 23, name);
    CHECK_STR(name, "2024-12-31-23.json.gz");
    kiln_gen_hour_name(kiln_days_from_civil(2025, 3, 4), 0, name);
    CHECK_STR(name, "2025-03-04-0.json.gz");
    CHECK_EQ_INT(KILN_GEN_PUSH_ERA_DAY, kiln_days_from_civil(2025, 10, 7));

    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/g", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.out_dir = dir;
    o.hours = 11;
    o.scale = 0.0002;
    kiln_err err = {0};
    kiln_gen_report rep = {0};
    CHECK_OK(kiln_gen_gharchive(&o, &rep, &err), &err);
    CHECK_EQ_INT(rep.files, 11);
    for (int h = 0; h < 11; h++) {
        snprintf(path, sizeof path, "%s/2025-01-01-%d.json.gz", dir, h);
        CHECK_MSG(file_exists(path), "missing %s", path);
    }
    snprintf(path, sizeof path, "%s/2025-01-01-09.json.gz", dir);
    CHECK(!file_exists(path));
    snprintf(path, sizeof path, "%s/2025-01-01-11.json.gz", dir);
    CHECK(!file_exists(path));
    snprintf(path, sizeof path, "%s/_manifest.json", dir);
    CHECK(file_exists(path));
}

TEST(gh_gen, deterministic_across_threads)
{
    char d1[1024], d2[1024], d3[1024], a[1200], b[1200];
    snprintf(d1, sizeof d1, "%s/one", kt_tmpdir());
    snprintf(d2, sizeof d2, "%s/two", kt_tmpdir());
    snprintf(d3, sizeof d3, "%s/seed2", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.hours = 7;
    o.quirks = 1;
    o.seed = 42;
    kiln_err err = {0};
    o.out_dir = d1;
    o.threads = 1;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    o.out_dir = d2;
    o.threads = 3;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    o.out_dir = d3;
    o.seed = 43;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    int compared = 0;
    DIR *dh = opendir(d1);
    CHECK(dh);
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(a, sizeof a, "%s/%s", d1, de->d_name);
        snprintf(b, sizeof b, "%s/%s", d2, de->d_name);
        if (!files_equal(a, b)) {
            closedir(dh);
            CHECK_MSG(0, "%s differs between 1 and 3 threads", de->d_name);
        }
        compared++;
    }
    closedir(dh);
    CHECK(compared >= 7); /* 6 hour files (one missing) + 2 manifests */
    /* gzip header: no name, mtime 0 */
    size_t n;
    snprintf(a, sizeof a, "%s/2025-01-01-%d.json.gz", d1, 0);
    char *p = kt_read_file(a, &n);
    if (!p) { /* hour 0 may be the missing one */
        snprintf(a, sizeof a, "%s/2025-01-01-%d.json.gz", d1, 1);
        p = kt_read_file(a, &n);
    }
    CHECK(p && n > 10);
    CHECK((unsigned char)p[0] == 0x1f && (unsigned char)p[1] == 0x8b && p[3] == 0);
    CHECK(p[4] == 0 && p[5] == 0 && p[6] == 0 && p[7] == 0);
    free(p);
    /* another seed gives other data */
    snprintf(a, sizeof a, "%s/_manifest.json", d1);
    snprintf(b, sizeof b, "%s/_manifest.json", d3);
    CHECK(!files_equal(a, b));
}

/* Walks every line of every ok file of a run and checks envelope, ordering,
 * payload shapes and caps; recomputes the manifest's counts. */
TEST(gh_gen, events_valid_and_manifest_matches)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/era", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.out_dir = dir;
    o.start_day = kiln_days_from_civil(2025, 10, 6);
    o.days = 2;
    o.hours = 2;
    o.scale = 0.004;
    o.seed = 5;
    kiln_err err = {0};
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    json_t *m = load_json(dir, "_manifest.json");
    CHECK(m);
    int64_t prev_id = 0;
    long long old_pushes = 0, new_pushes = 0, big_pushes = 0, orgs = 0, bots = 0, total = 0, zero_before = 0;
    long long type_seen[32] = {0};
    const char *types[] = {"PushEvent",
                           "CreateEvent",
                           "PullRequestEvent",
                           "IssueCommentEvent",
                           "WatchEvent",
                           "DeleteEvent",
                           "PullRequestReviewEvent",
                           "IssuesEvent",
                           "PullRequestReviewCommentEvent",
                           "ForkEvent",
                           "CommitCommentEvent",
                           "ReleaseEvent",
                           "MemberEvent",
                           "PublicEvent",
                           "GollumEvent"};
    int escapes_seen = 0, utf8_seen = 0;
    for (int day = 0; day < 2; day++)
        for (int h = 0; h < 2; h++) {
            char name[32];
            int64_t dnum = o.start_day + day;
            kiln_gen_hour_name(dnum, h, name);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            size_t n;
            int ok;
            char *txt = gunzip_file(path, &n, &ok);
            CHECK_MSG(txt && ok, "%s unreadable", name);
            if (strstr(txt, "\\ud83d\\ude80"))
                escapes_seen = 1;
            if (strstr(txt, "\xe4\xbf\xae") || strstr(txt, "\xd0\xb4"))
                utf8_seen = 1;
            json_t *mh = manifest_hour(m, name);
            CHECK(mh);
            long long events = 0, pushes = 0, dsum = 0, ssum = 0, listed = 0;
            int64_t hour_t0 = dnum * 86400 + h * 3600;
            char prev_ts[32] = "";
            char *line = txt, *end = txt + n;
            while (line < end) {
                char *nl = memchr(line, '\n', (size_t)(end - line));
                CHECK(nl);
                json_error_t je;
                json_t *e = json_loadb(line, (size_t)(nl - line), 0, &je);
                if (!e) {
                    free(txt);
                    json_decref(m);
                    CHECK_MSG(0, "%s: invalid JSON line: %s", name, je.text);
                }
                events++;
                total++;
                const char *id = json_string_value(json_object_get(e, "id"));
                CHECK(id);
                int64_t idv = strtoll(id, NULL, 10);
                CHECK(idv > 4294967296LL);
                CHECK_MSG(idv > prev_id, "ids not increasing at %s", id);
                prev_id = idv;
                const char *ts = json_string_value(json_object_get(e, "created_at"));
                CHECK(ts && strlen(ts) == 20 && ts[19] == 'Z');
                CHECK(strcmp(ts, prev_ts) >= 0);
                snprintf(prev_ts, sizeof prev_ts, "%s", ts);
                int64_t us;
                CHECK_OK(kiln_ts_parse(ts, strlen(ts), &us), &err);
                CHECK(us / 1000000 >= hour_t0 && us / 1000000 < hour_t0 + 3600);
                const char *type = json_string_value(json_object_get(e, "type"));
                for (int t = 0; t < 15; t++)
                    if (strcmp(type, types[t]) == 0)
                        type_seen[t]++;
                json_t *actor = json_object_get(e, "actor"), *repo = json_object_get(e, "repo");
                CHECK(json_is_integer(json_object_get(actor, "id")));
                CHECK(json_is_integer(json_object_get(repo, "id")));
                CHECK(strchr(json_string_value(json_object_get(repo, "name")), '/'));
                const char *login = json_string_value(json_object_get(actor, "login"));
                size_t ll = strlen(login);
                if (ll > 5 && strcmp(login + ll - 5, "[bot]") == 0)
                    bots++;
                if (json_object_get(e, "org"))
                    orgs++;
                CHECK(json_is_true(json_object_get(e, "public")));
                json_t *pl = json_object_get(e, "payload");
                CHECK(json_is_object(pl));
                if (strcmp(type, "PushEvent") == 0) {
                    pushes++;
                    const char *before = json_string_value(json_object_get(pl, "before"));
                    CHECK(before && strlen(before) == 40);
                    if (strcmp(before, "0000000000000000000000000000000000000000") == 0)
                        zero_before++;
                    CHECK(json_integer_value(json_object_get(pl, "repository_id")) ==
                          json_integer_value(json_object_get(repo, "id")));
                    if (dnum < KILN_GEN_PUSH_ERA_DAY) {
                        old_pushes++;
                        long long size = json_integer_value(json_object_get(pl, "size"));
                        long long dist = json_integer_value(json_object_get(pl, "distinct_size"));
                        json_t *commits = json_object_get(pl, "commits");
                        CHECK(json_is_array(commits));
                        long long nc = (long long)json_array_size(commits);
                        CHECK(dist >= 0 && dist <= size);
                        CHECK(nc <= 20);
                        CHECK_EQ_INT(nc, size < 20 ? size : 20);
                        if (size > 20)
                            big_pushes++;
                        size_t ci;
                        json_t *cm;
                        json_array_foreach(commits, ci, cm)
                        {
                            CHECK(json_string_value(json_object_get(cm, "sha")));
                            const char *email =
                                json_string_value(json_object_get(json_object_get(cm, "author"), "email"));
                            CHECK(email && strchr(email, '@') && strchr(email, '@') - email == 40);
                            CHECK(json_is_string(json_object_get(cm, "message")));
                            CHECK(json_is_boolean(json_object_get(cm, "distinct")));
                        }
                        if (nc > 0)
                            CHECK(strcmp(json_string_value(
                                             json_object_get(json_array_get(commits, (size_t)nc - 1), "sha")),
                                         json_string_value(json_object_get(pl, "head"))) == 0);
                        ssum += size;
                        dsum += dist;
                        listed += nc;
                    } else {
                        new_pushes++;
                        CHECK_EQ_INT(json_object_size(pl), 5);
                        CHECK(json_object_get(pl, "push_id") && json_object_get(pl, "ref") &&
                              json_object_get(pl, "head") && json_object_get(pl, "before"));
                    }
                }
                if (strcmp(type, "PullRequestEvent") == 0 && dnum >= KILN_GEN_PUSH_ERA_DAY)
                    CHECK(!json_object_get(json_object_get(pl, "pull_request"), "author_association"));
                json_decref(e);
                line = nl + 1;
            }
            free(txt);
            CHECK_EQ_INT(events, MI(mh, "events"));
            CHECK_EQ_INT(pushes, MI(mh, "push_events"));
            CHECK_EQ_INT(dsum, MI(mh, "distinct_size_sum"));
            CHECK_EQ_INT(ssum, MI(mh, "size_sum"));
            CHECK_EQ_INT(listed, MI(mh, "commits_listed"));
            if (dnum >= KILN_GEN_PUSH_ERA_DAY)
                CHECK(MI(mh, "intended_size_sum") > 0 && MI(mh, "size_sum") == 0);
        }
    json_decref(m);
    CHECK(old_pushes > 100 && new_pushes > 100);
    CHECK(big_pushes > 0);
    CHECK(zero_before > 0);
    CHECK_MSG(total > 3000, "total %lld", total);
    /* mix (real2025): push ~71%, all 15 types present, orgs ~25%, bots present */
    CHECK_MSG(type_seen[0] * 100 > total * 65 && type_seen[0] * 100 < total * 77, "push share %lld/%lld", type_seen[0],
              total);
    int ntypes = 0;
    for (int t = 0; t < 15; t++)
        ntypes += type_seen[t] > 0;
    CHECK(ntypes >= 14);
    CHECK_MSG(orgs * 100 > total * 15 && orgs * 100 < total * 35, "org share %lld/%lld", orgs, total);
    CHECK(bots > 0);
    CHECK(escapes_seen && utf8_seen);
}

/* Per-type count and byte shares of one hour of each mix (docs/gen.md's
 * calibration, what bench/gen_mix.py reports). */
static void mix_stats(const char *dir, double *push_share, double *push_bytes, double *pr_bytes, double *pr_byte_share,
                      double *mean_bytes)
{
    char path[1200], name[32];
    kiln_gen_hour_name(kiln_days_from_civil(2025, 1, 1), 0, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t n;
    int ok;
    char *txt = gunzip_file(path, &n, &ok);
    double ev = 0, pushes = 0, pb = 0, prs = 0, prb = 0;
    for (char *line = txt, *end = txt ? txt + n : NULL; line && line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        size_t len = (size_t)((nl ? nl : end) - line) + 1;
        ev++;
        if (memmem(line, len < 200 ? len : 200, "\"type\":\"PushEvent\"", sizeof "\"type\":\"PushEvent\"" - 1))
            pushes++, pb += (double)len;
        else if (memmem(line, len < 200 ? len : 200, "\"type\":\"PullRequestEvent\"",
                        sizeof "\"type\":\"PullRequestEvent\"" - 1))
            prs++, prb += (double)len;
        line += len;
    }
    free(txt);
    *push_share = ev ? pushes / ev : 0;
    *push_bytes = pushes ? pb / pushes : 0;
    *pr_bytes = prs ? prb / prs : 0;
    *pr_byte_share = n ? prb / (double)n : 0;
    *mean_bytes = ev ? (double)n / ev : 0;
}

TEST(gh_gen, mix_real2025_calibrated_legacy_kept)
{
    char dir[1024];
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.hours = 1;
    o.scale = 0.02;
    o.seed = 7;
    kiln_err err = {0};
    double ps, pb, rb, rs, mb;
    snprintf(dir, sizeof dir, "%s/real", kt_tmpdir());
    o.out_dir = dir;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    mix_stats(dir, &ps, &pb, &rb, &rs, &mb);
    /* the real 2025-01-01 hour: push 71 % of events at ~1.1 KB, PR ~20 KB
     * and ~45 % of the bytes, ~2.4 KB per event */
    CHECK_MSG(ps > 0.66 && ps < 0.76, "push share %.3f", ps);
    CHECK_MSG(pb > 900 && pb < 1350, "push bytes %.0f", pb);
    CHECK_MSG(rb > 17000 && rb < 23000, "PR bytes %.0f", rb);
    CHECK_MSG(rs > 0.36 && rs < 0.54, "PR byte share %.3f", rs);
    CHECK_MSG(mb > 2000 && mb < 2900, "mean bytes %.0f", mb);
    snprintf(dir, sizeof dir, "%s/legacy", kt_tmpdir());
    o.out_dir = dir;
    o.mix = KILN_GEN_MIX_LEGACY;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    mix_stats(dir, &ps, &pb, &rb, &rs, &mb);
    CHECK_MSG(ps > 0.48 && ps < 0.58, "legacy push share %.3f", ps);
    CHECK_MSG(mb > 3300, "legacy mean bytes %.0f", mb);
}

TEST(gh_gen, quirks_where_documented)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/q", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.out_dir = dir;
    o.hours = 8;
    o.quirks = 1;
    o.seed = 9;
    kiln_err err = {0};
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    json_t *q = load_json(dir, "_quirks.json"), *m = load_json(dir, "_manifest.json");
    CHECK(q && m);
    /* missing hour */
    json_t *miss = json_object_get(q, "missing_hours");
    CHECK_EQ_INT(json_array_size(miss), 1);
    snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_array_get(miss, 0)));
    CHECK(!file_exists(path));
    CHECK_STR(
        json_string_value(json_object_get(manifest_hour(m, json_string_value(json_array_get(miss, 0))), "status")),
        "missing");
    /* truncated: the gzip stream breaks, complete_lines lines survive */
    json_t *tr = json_array_get(json_object_get(q, "truncated"), 0);
    CHECK(tr);
    snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(tr, "file")));
    size_t n;
    int ok;
    char *txt = gunzip_file(path, &n, &ok);
    CHECK(txt);
    CHECK(!ok);
    long long nl = 0;
    for (size_t i = 0; i < n; i++)
        nl += txt[i] == '\n';
    free(txt);
    CHECK_EQ_INT(nl, MI(tr, "complete_lines"));
    CHECK(MI(tr, "complete_lines") < MI(tr, "lines_written"));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (long long)st.st_size == MI(tr, "kept_bytes"));
    /* NUL run right after line after_line */
    json_t *nr = json_array_get(json_object_get(q, "nul_runs"), 0);
    CHECK(nr);
    snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(nr, "file")));
    txt = gunzip_file(path, &n, &ok);
    CHECK(txt && ok);
    size_t pos = 0;
    for (long long l = 0; l < MI(nr, "after_line"); l++)
        pos = (size_t)((char *)memchr(txt + pos, '\n', n - pos) - txt) + 1;
    long long run = 0;
    while (pos + (size_t)run < n && txt[pos + (size_t)run] == 0)
        run++;
    CHECK_EQ_INT(run, MI(nr, "bytes"));
    CHECK(txt[pos + (size_t)run] == '{');
    char want[64];
    snprintf(want, sizeof want, "\"id\":\"%s\"", json_string_value(json_object_get(nr, "after_event_id")));
    CHECK(memmem(txt, pos, want, strlen(want)) != NULL);
    free(txt);
    /* malformed + bad unicode (same file): exactly two lines jansson (strict,
     * like DuckDB) rejects, at the said lines; the unicode one is whole JSON
     * with a lone surrogate and \u0000 */
    json_t *mf = json_array_get(json_object_get(q, "malformed"), 0);
    json_t *bu = json_array_get(json_object_get(q, "bad_unicode"), 0);
    CHECK(mf && bu);
    CHECK_STR(json_string_value(json_object_get(mf, "file")), json_string_value(json_object_get(bu, "file")));
    CHECK(MI(mf, "line") != MI(bu, "line"));
    snprintf(path, sizeof path, "%s/%s", dir, json_string_value(json_object_get(mf, "file")));
    txt = gunzip_file(path, &n, &ok);
    CHECK(txt && ok);
    long long lineno = 0, bad = 0, seen_mf = 0, seen_bu = 0;
    const char *want_u = "\\ud800 surrogate, NUL \\u0000";
    for (char *l = txt, *e; l < txt + n; l = e + 1) {
        e = memchr(l, '\n', (size_t)(txt + n - l));
        lineno++;
        json_t *j = json_loadb(l, (size_t)(e - l), 0, NULL);
        if (!j) {
            bad++;
            if (lineno == MI(mf, "line"))
                seen_mf = 1;
            if (lineno == MI(bu, "line") && memmem(l, (size_t)(e - l), want_u, strlen(want_u)))
                seen_bu = 1;
        }
        json_decref(j);
    }
    free(txt);
    CHECK_EQ_INT(bad, 2);
    CHECK(seen_mf && seen_bu);
    /* duplicates: ids of the previous hour's last events open the next file */
    json_t *du = json_array_get(json_object_get(q, "duplicates"), 0);
    CHECK(du);
    json_t *ids = json_object_get(du, "ids");
    CHECK(json_array_size(ids) >= 3);
    const char *files[2] = {json_string_value(json_object_get(du, "from_file")),
                            json_string_value(json_object_get(du, "file"))};
    for (int f = 0; f < 2; f++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        txt = gunzip_file(path, &n, &ok);
        CHECK(txt);
        for (size_t i = 0; i < json_array_size(ids); i++) {
            snprintf(want, sizeof want, "{\"id\":\"%s\"", json_string_value(json_array_get(ids, i)));
            char *hit = memmem(txt, n, want, strlen(want));
            CHECK_MSG(hit, "%s lacks duplicate id %s", files[f], want);
            if (f == 1) /* at the start of the file */
                CHECK(hit - txt < 200000);
        }
        free(txt);
    }
    json_t *mh = manifest_hour(m, files[1]);
    CHECK_EQ_INT(MI(mh, "file_lines"), MI(mh, "events") + (long long)json_array_size(ids));
    /* all five faults in five different files */
    CHECK(strcmp(json_string_value(json_object_get(tr, "file")), json_string_value(json_object_get(nr, "file"))) != 0);
    CHECK(strcmp(json_string_value(json_object_get(mf, "file")), json_string_value(json_object_get(nr, "file"))) != 0);
    json_decref(q);
    json_decref(m);
}

TEST(gh_gen, repo_ids_stable_and_renames)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/r", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.out_dir = dir;
    o.hours = 6;
    o.scale = 0.004;
    kiln_err err = {0};
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    json_t *m = load_json(dir, "_manifest.json");
    CHECK(m);
    json_t *ren = json_object_get(m, "renames");
    CHECK(json_array_size(ren) >= 1 && json_array_size(ren) <= 30);
    json_t *name_to_id = json_object();
    long long renamed_seen_old = 0, renamed_seen_new = 0;
    for (int h = 0; h < 6; h++) {
        char name[32];
        kiln_gen_hour_name(o.start_day, h, name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        size_t n;
        int ok;
        char *txt = gunzip_file(path, &n, &ok);
        CHECK(txt && ok);
        for (char *l = txt, *e; l < txt + n; l = e + 1) {
            e = memchr(l, '\n', (size_t)(txt + n - l));
            json_t *j = json_loadb(l, (size_t)(e - l), 0, NULL);
            CHECK(j);
            json_t *repo = json_object_get(j, "repo");
            const char *rn = json_string_value(json_object_get(repo, "name"));
            json_int_t rid = json_integer_value(json_object_get(repo, "id"));
            json_t *prev = json_object_get(name_to_id, rn);
            if (prev)
                CHECK_MSG(json_integer_value(prev) == rid, "repo %s has two ids", rn);
            else
                json_object_set_new(name_to_id, rn, json_integer(rid));
            size_t i;
            json_t *r;
            json_array_foreach(ren, i, r) if (json_integer_value(json_object_get(r, "repo_id")) == rid)
            {
                const char *ts = json_string_value(json_object_get(j, "created_at"));
                int after = strcmp(ts, json_string_value(json_object_get(r, "renamed_at"))) >= 0;
                CHECK_STR(rn, json_string_value(json_object_get(r, after ? "new_name" : "old_name")));
                if (after)
                    renamed_seen_new++;
                else
                    renamed_seen_old++;
            }
            json_decref(j);
        }
        free(txt);
    }
    json_decref(name_to_id);
    json_decref(m);
    CHECK(renamed_seen_old > 0 && renamed_seen_new > 0);
}

TEST(gh_gen, api_compare_matches_pushes)
{
    char gdir[1024], adir[1024], path[2048];
    snprintf(gdir, sizeof gdir, "%s/gh", kt_tmpdir());
    snprintf(adir, sizeof adir, "%s/api", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.start_day = kiln_days_from_civil(2025, 10, 6);
    o.days = 2;
    o.hours = 2;
    o.scale = 0.002;
    kiln_err err = {0};
    o.out_dir = gdir;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    o.out_dir = adir;
    kiln_gen_report rep = {0};
    CHECK_OK(kiln_gen_github_api(&o, &rep, &err), &err);
    json_t *am = load_json(adir, "_api_manifest.json");
    CHECK(am);
    long long compares = 0, total_commits = 0;
    for (int day = 0; day < 2; day++)
        for (int h = 0; h < 2; h++) {
            char name[32];
            kiln_gen_hour_name(o.start_day + day, h, name);
            snprintf(path, sizeof path, "%s/%s", gdir, name);
            size_t n;
            int ok;
            char *txt = gunzip_file(path, &n, &ok);
            CHECK(txt && ok);
            for (char *l = txt, *e; l < txt + n; l = e + 1) {
                e = memchr(l, '\n', (size_t)(txt + n - l));
                json_t *j = json_loadb(l, (size_t)(e - l), 0, NULL);
                CHECK(j);
                const char *rn = json_string_value(json_object_get(json_object_get(j, "repo"), "name"));
                /* every repo seen has repos/{owner}/{repo}.json (the current name
                 * for renamed repos, the old name answers the same) */
                snprintf(path, sizeof path, "%s/repos/%s.json", adir, rn);
                CHECK_MSG(file_exists(path), "missing %s", path);
                if (strcmp(json_string_value(json_object_get(j, "type")), "PushEvent") == 0) {
                    /* pushed_at is the repo's last push in the range */
                    json_t *rj = json_load_file(path, 0, NULL);
                    CHECK(rj);
                    const char *pa = json_string_value(json_object_get(rj, "pushed_at"));
                    const char *ca = json_string_value(json_object_get(j, "created_at"));
                    int later = pa && ca && strcmp(pa, ca) >= 0;
                    json_decref(rj);
                    CHECK_MSG(later, "%s pushed_at before a push at %s", rn, ca);
                }
                if (strcmp(json_string_value(json_object_get(j, "type")), "PushEvent") == 0 && day == 1) {
                    json_t *pl = json_object_get(j, "payload");
                    const char *before = json_string_value(json_object_get(pl, "before"));
                    const char *head = json_string_value(json_object_get(pl, "head"));
                    char base[64];
                    snprintf(base, sizeof base, "%s", before);
                    if (strcmp(before, "0000000000000000000000000000000000000000") == 0) {
                        snprintf(path, sizeof path, "%s/repos/%s.json", adir, rn);
                        json_t *rj = json_load_file(path, 0, NULL);
                        CHECK(rj);
                        snprintf(base, sizeof base, "%s", json_string_value(json_object_get(rj, "default_branch")));
                        json_decref(rj);
                    }
                    snprintf(path, sizeof path, "%s/compare/%s/%s...%s.json", adir, rn, base, head);
                    json_t *cj = json_load_file(path, 0, NULL);
                    CHECK_MSG(cj, "missing %s", path);
                    long long tc = json_integer_value(json_object_get(cj, "total_commits"));
                    json_t *cms = json_object_get(cj, "commits");
                    CHECK_EQ_INT(json_array_size(cms), tc < 250 ? tc : 250);
                    CHECK_EQ_INT(json_integer_value(json_object_get(cj, "ahead_by")), tc);
                    if (tc > 0 && tc <= 250) {
                        json_t *last = json_array_get(cms, (size_t)tc - 1);
                        CHECK_STR(json_string_value(json_object_get(last, "sha")), head);
                        CHECK(json_string_value(
                            json_object_get(json_object_get(json_object_get(last, "commit"), "author"), "date")));
                    }
                    compares++;
                    total_commits += tc;
                    json_decref(cj);
                }
                json_decref(j);
            }
            free(txt);
        }
    CHECK(compares > 50);
    CHECK_EQ_INT(compares, json_integer_value(json_object_get(am, "compare_files")));
    CHECK_EQ_INT(total_commits, json_integer_value(json_object_get(am, "total_commits_sum")));
    json_decref(am);
    /* history file present with a languages array */
    json_t *hist = NULL;
    DIR *dh;
    snprintf(path, sizeof path, "%s/repos", adir);
    CHECK((dh = opendir(path)));
    struct dirent *de;
    while (!hist && (de = readdir(dh))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[2100];
        snprintf(sub, sizeof sub, "%s/repos/%s", adir, de->d_name);
        DIR *d2 = opendir(sub);
        struct dirent *f;
        while (d2 && (f = readdir(d2)))
            if (strstr(f->d_name, ".history.json")) {
                snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
                hist = json_load_file(path, 0, NULL);
                break;
            }
        if (d2)
            closedir(d2);
    }
    closedir(dh);
    CHECK(hist);
    CHECK(json_array_size(json_object_get(hist, "languages")) >= 1);
    CHECK(json_array_size(json_object_get(hist, "names")) >= 1);
    json_decref(hist);
}

TEST(gh_gen, rejects_bad_options)
{
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    kiln_err err = {0};
    CHECK_EQ_INT(kiln_gen_gharchive(&o, NULL, &err), KILN_EINVAL); /* no out dir */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/x", kt_tmpdir());
    o.out_dir = dir;
    o.scale = 0;
    CHECK_EQ_INT(kiln_gen_gharchive(&o, NULL, &err), KILN_EINVAL);
    CHECK(strstr(err.msg, "--scale"));
    o.scale = 0.001;
    o.start_day = kiln_days_from_civil(2013, 5, 1);
    CHECK_EQ_INT(kiln_gen_gharchive(&o, NULL, &err), KILN_EINVAL);
    o.start_day = kiln_days_from_civil(2025, 1, 1);
    o.hours = 25;
    CHECK_EQ_INT(kiln_gen_github_api(&o, NULL, &err), KILN_EINVAL);
    /* --quirks on a span that cannot hold every fault */
    o.hours = KILN_GEN_QUIRKS_MIN_HOURS - 1;
    o.quirks = 1;
    CHECK_EQ_INT(kiln_gen_gharchive(&o, NULL, &err), KILN_EINVAL);
    CHECK(strstr(err.msg, "at least 6 hours") != NULL);
    o.quirks = 0;
    CHECK_EQ_INT(kiln_gen_github_api(&o, NULL, &err), 0); /* the API ignores quirks... */
    o.quirks = 1;
    CHECK_EQ_INT(kiln_gen_github_api(&o, NULL, &err), 0); /* ...also on a short span */
}

TEST(gh_gen, rerun_into_same_dir_leaves_no_stale_files)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/rerun", kt_tmpdir());
    kiln_gen_opts o;
    kiln_gen_opts_init(&o);
    o.out_dir = dir;
    o.hours = 8;
    kiln_err err = {0};
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err); /* all 8 files */
    o.quirks = 1;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    json_t *q = load_json(dir, "_quirks.json");
    CHECK(q);
    snprintf(path, sizeof path, "%s/%s", dir,
             json_string_value(json_array_get(json_object_get(q, "missing_hours"), 0)));
    json_decref(q);
    CHECK_MSG(!file_exists(path), "%s from the first run survived", path);
    o.quirks = 0;
    CHECK_OK(kiln_gen_gharchive(&o, NULL, &err), &err);
    snprintf(path, sizeof path, "%s/_quirks.json", dir);
    CHECK(!file_exists(path));
}
