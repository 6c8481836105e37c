/*
 * gh_gen.c - synthetic GH Archive hours and matching GitHub API responses.
 *
 * DESIGN
 * Every event is a pure function of (seed, hour index, event index): its
 * PRNG is seeded from those three numbers, its id is base(hour) + 2*i +
 * (0|1) and its created_at is hour_start + i*3600/n, so ids and times are
 * ascending inside a file and ids increase across hours. Hours are
 * therefore independent tasks run on the thread pool, and a task can
 * regenerate any event of another hour (the duplicate quirk copies the last
 * events of hour h into hour h+1 that way).
 *
 * Repos, actors and orgs are indexes into pools whose properties (login,
 * id, name, language, rename) are hashes of (seed, index); events pick
 * them with a log-uniform (Zipf s=1) draw. Each event is decided first
 * (struct gev: type, actor, repo, push sizes) and then written as JSON by a
 * hand-rolled writer into a buffer that is fed in ~1 MB pieces to ISA-L's
 * isal_deflate (level 1) with our own 10-byte gzip header (mtime 0), so
 * memory per worker stays a few MB whatever the scale.
 *
 * The API generator replays the same decisions without writing events and
 * writes repos/ and compare/ files. docs/gen.md describes the formats,
 * quirks and manifests.
 */
#include "engine/gh_gen.h"

#include <errno.h>
#include <pthread.h>
#include <isa-l/igzip_lib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------ PRNG */

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 as the generator: one add and a mix per number. */
typedef struct rng {
    uint64_t s;
} rng;
static inline uint64_t rnext(rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}
static inline double runif(rng *r) { return (double)(rnext(r) >> 11) * (1.0 / 9007199254740992.0); }
static inline uint32_t rbelow(rng *r, uint32_t n) { return n ? (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32) : 0; }
static inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return mix64(a * 0x9e3779b97f4a7c15ULL ^ mix64(b + 0x632be59bd9b4e019ULL) ^ mix64(c * 0xd6e8feb86659fd93ULL + 7));
}
/* Zipf(s=1)-like rank in [0, n): P(k) ~ 1/(k+q), drawn by inversion of
 * the log; q flattens the head (rank 0 gets log(1+1/q)/log(1+n/q)). */
static inline uint32_t rzipf(rng *r, uint32_t n, double q)
{
    double x = q * exp(runif(r) * log(((double)n + q) / q)) - q;
    uint32_t k = (uint32_t)x;
    return k >= n ? n - 1 : k;
}

/* ------------------------------------------------------------ word lists */

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
static const char *const ADJ[] = {"quiet",  "bright", "rapid",  "silent", "lucky", "brave",  "cosmic", "tiny",
                                  "rusty",  "swift",  "clever", "happy",  "dark",  "golden", "lazy",   "wild",
                                  "frozen", "gentle", "hidden", "mighty", "noisy", "proud",  "shiny",  "zen"};
static const char *const NOUN[] = {"otter",  "falcon", "parser", "kernel", "pixel",  "rocket", "badger", "cloud",
                                   "engine", "forest", "lambda", "matrix", "nebula", "orbit",  "panda",  "quartz",
                                   "river",  "shell",  "tiger",  "vector", "widget", "yak",    "zephyr", "compiler"};
static const char *const TOPIC[] = {"api", "cli",    "sdk",   "docs",   "web",      "app",     "bot",   "lib",  "core",
                                    "ui",  "server", "tools", "config", "dotfiles", "scripts", "infra", "data", "ml"};
static const char *const FIRST[] = {"Alice",   "Bob",  "Chen",  "Dmitri", "Emma",  "Fatima", "Giulia", "Hiro",
                                    "Ivan",    "Jana", "Kwame", "Lena",   "Mateo", "Nadia",  "Omar",   "Priya",
                                    "Quentin", "Rosa", "Sven",  "Tomás",  "Uma",   "Viktor", "Wen",    "Yuki"};
static const char *const LAST[] = {"Smith",    "Müller", "Wang",  "Ivanova", "García", "Okafor", "Rossi", "Tanaka",
                                   "Kowalski", "Nguyen", "Silva", "Hansen",  "Cohen",  "Kim",    "Singh", "O'Brien"};
static const char *const DOMAINS[] = {"users.noreply.github.com",
                                      "gmail.com",
                                      "users.noreply.github.com",
                                      "outlook.com",
                                      "example.org",
                                      "users.noreply.github.com",
                                      "qq.com",
                                      "proton.me"};
static const char *const LANGS[] = {
    "JavaScript", "Python", "TypeScript", "Java", "Go",     "C++",   "Rust", "C#",
    "PHP",        "Shell",  "C",          "Ruby", "Kotlin", "Swift", "HTML", "Jupyter Notebook",
    "Dart",       "Vue",    "Lua",        "Scala"};
static const char *const BOTS[] = {"github-actions[bot]", "dependabot[bot]", "renovate[bot]",
                                   "pre-commit-ci[bot]",  "codecov[bot]",    "allcontributors[bot]"};
static const char *const VERBS[] = {"Fix",   "Add",    "Update",   "Remove",    "Refactor", "Bump",     "Improve",
                                    "Merge", "Revert", "Document", "Implement", "Rename",   "Optimize", "Test"};
static const char *const THINGS[] = {"login flow",
                                     "README",
                                     "build script",
                                     "parser for nested arrays",
                                     "CI workflow",
                                     "dependency versions",
                                     "error handling",
                                     "unit tests",
                                     "docker image",
                                     "cache invalidation",
                                     "API client",
                                     "dark mode",
                                     "memory leak in worker pool",
                                     "typos",
                                     "release notes",
                                     "config loader"};
/* Message fragments already in JSON-escaped form: quotes, backslashes,
 * \u escapes (BMP and surrogate pairs), raw UTF-8 in several scripts. */
static const char *const SPICE[] = {
    "Escape \\\"quoted\\\" paths like C:\\\\Users\\\\build\\\\out",
    "caf\\u00e9 na\\u00efve r\\u00e9sum\\u00e9 \\u2014 handle accents",
    "ship it \\ud83d\\ude80 \\ud83c\\udf89 (escaped surrogate pairs)",
    "\u2728 feat: \u0434\u043e\u0431\u0430\u0432\u0438\u0442\u044c "
    "\u043f\u043e\u0434\u0434\u0435\u0440\u0436\u043a\u0443 UTF-8",
    "\u4fee\u590d\u767b\u5f55\u9875\u9762\u7684\u9519\u8bef",
    "\u0625\u0635\u0644\u0627\u062d \u062e\u0637\u0623 \u0641\u064a \u0627\u0644\u062a\u0631\u062c\u0645\u0629",
    "\U0001f41b fix: \u65e5\u672c\u8a9e\u306e\u30c6\u30b9\u30c8 \U0001f600",
    "tabs\\tand CRLF\\r\\nline endings",
    "regex \\\\d+\\\\.\\\\d+ and backslash-n literal \\\\n",
    "\ud55c\uad6d\uc5b4 \ubb38\uc11c \uc5c5\ub370\uc774\ud2b8 \u2764\ufe0f",
    "emoji \\u2705 done, \\ud83d\\udc4d thumbs",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u05e2\u05d1\u05e8\u05d9\u05ea "
    "\u0939\u093f\u0928\u094d\u0926\u0940"};
static const char *const LOREM[] = {"the",
                                    "build",
                                    "now",
                                    "handles",
                                    "edge",
                                    "cases",
                                    "when",
                                    "input",
                                    "is",
                                    "empty",
                                    "and",
                                    "reports",
                                    "a",
                                    "clear",
                                    "error",
                                    "instead",
                                    "of",
                                    "crashing",
                                    "this",
                                    "also",
                                    "cleans",
                                    "up",
                                    "old",
                                    "code",
                                    "paths",
                                    "for",
                                    "users",
                                    "on",
                                    "windows",
                                    "with",
                                    "long",
                                    "file",
                                    "names",
                                    "we",
                                    "keep",
                                    "backwards",
                                    "compatibility",
                                    "until",
                                    "next",
                                    "major",
                                    "release"};

/* ------------------------------------------------------------ JSON buffer */

#define JB_CAP ((size_t)1 << 28)
typedef struct jbuf {
    char *p;
    size_t len, cap;
    int oom;
} jbuf;

static int jb_grow(jbuf *b, size_t extra)
{
    if (b->oom)
        return -1;
    size_t need = b->len + extra + 1;
    if (need > JB_CAP) { /* flushes happen every ~1 MB: only a bug gets here */
        b->oom = 1;
        return -1;
    }
    if (need <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < need)
        nc *= 2;
    char *np = kiln_realloc(b->p, nc);
    if (!np) {
        b->oom = 1;
        return -1;
    }
    b->p = np;
    b->cap = nc;
    return 0;
}
static inline void jb_put(jbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap && jb_grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
#define JS(b, lit) jb_put((b), (lit), sizeof(lit) - 1)
static inline void jb_cstr(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }
static inline void jb_ch(jbuf *b, char c)
{
    if (b->len + 2 > b->cap && jb_grow(b, 1))
        return;
    b->p[b->len++] = c;
}
static void jb_u64(jbuf *b, uint64_t v)
{
    char t[24];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (b->len + (size_t)n + 1 > b->cap && jb_grow(b, (size_t)n))
        return;
    while (n)
        b->p[b->len++] = t[--n];
}
/* JSON string from raw UTF-8 text: the one JSON string writer
 * (kiln_json_write_str) appending to this buffer, viewed as a kiln_buf
 * (both grow with kiln_realloc and keep room for a NUL). */
static void jb_str(jbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    kiln_buf kb = {b->p, b->len, b->cap, JB_CAP};
    kiln_err err;
    if (kiln_json_write_str(&kb, s, n, &err))
        b->oom = 1;
    b->p = kb.data;
    b->len = kb.len;
    b->cap = kb.alloc;
}
static inline void jb_s(jbuf *b, const char *s) { jb_str(b, s, strlen(s)); }
static void jb_hex(jbuf *b, uint64_t a, uint64_t c, int n)
{
    static const char H[] = "0123456789abcdef";
    char t[48];
    for (int i = 0; i < n; i++) {
        uint64_t w = i < 16 ? a : c;
        t[i] = H[(w >> ((i & 15) * 4)) & 15];
    }
    jb_put(b, t, (size_t)n);
}
/* 40-hex sha from a 64-bit key. */
static void jb_sha(jbuf *b, uint64_t key)
{
    static const char H[] = "0123456789abcdef";
    uint64_t w[3] = {mix64(key), mix64(key ^ 0x5555555555555555ULL), mix64(key + 0x1234567ULL)};
    char t[40];
    for (int i = 0; i < 40; i++)
        t[i] = H[(w[i / 16] >> ((i % 16) * 4)) & 15];
    jb_put(b, t, 40);
}
static void sha_str(uint64_t key, char out[41])
{
    jbuf b = {out, 0, 41, 0};
    jb_sha(&b, key);
    out[40] = 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" from epoch seconds. */
static void ts_fmt(int64_t t, char out[21])
{
    int64_t d = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t s = t - d * 86400;
    int y, m, dd;
    kiln_civil_from_days(d, &y, &m, &dd);
    snprintf(out, 21, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, dd, (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
}
static void jb_ts(jbuf *b, int64_t t)
{
    char s[24];
    ts_fmt(t, s);
    jb_ch(b, '"');
    jb_put(b, s, 20);
    jb_ch(b, '"');
}

/* ------------------------------------------------------------ the world */

enum {
    T_PUSH,
    T_CREATE,
    T_PR,
    T_ISSUECOMMENT,
    T_WATCH,
    T_DELETE,
    T_PRREVIEW,
    T_ISSUES,
    T_PRREVIEWCOMMENT,
    T_FORK,
    T_COMMITCOMMENT,
    T_RELEASE,
    T_MEMBER,
    T_PUBLIC,
    T_GOLLUM,
    T_NTYPES
};
static const char *const TYPE_NAME[T_NTYPES] = {"PushEvent",
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
/* Share by count in tenths of a percent (2023-02-08, duckdb.org); sums to 1000. */
static const int TYPE_PERMILLE[T_NTYPES] = {532, 141, 83, 54, 52, 35, 30, 20, 18, 14, 8, 5, 3, 3, 2};
/* --mix real2025: shares by count of a real 2025-01-01 hour (issue 16's
 * measurements: PushEvent ~71 %, PullRequestEvent ~5.5 %), same order. */
static const int TYPE_PERMILLE_2025[T_NTYPES] = {710, 100, 55, 20, 45, 30, 8, 8, 4, 5, 3, 5, 2, 3, 2};

#define ERA_T ((int64_t)KILN_GEN_PUSH_ERA_DAY * 86400)
#define MAX_LISTED 20
#define MAX_COMPARE 250

typedef struct gen_ctx {
    kiln_gen_opts o;
    int hpd; /* hours per day */
    int T;   /* total hours */
    uint32_t n_repos, n_actors, n_orgs;
    uint64_t id_stride;
    int api;
    int cal; /* mix real2025: calibrated type shares and payload sizes */
    /* quirks: hour indexes, -1 when not injected */
    int q_missing, q_trunc, q_nul, q_malformed, q_dup_src;
    int ndup;
    /* per hour results */
    struct hour_res *res;
    /* api mode, per repo: last event time + 1, last push time + 1 (0 = none) */
    int64_t *repo_seen, *repo_push;
    kiln_err first_err;
    int failed;
    pthread_mutex_t lock;
} gen_ctx;

typedef struct hour_res {
    uint64_t events, pushes, size_sum, distinct_sum, commits_listed, intended_size_sum, intended_distinct_sum;
    uint64_t by_type[T_NTYPES];
    uint64_t json_bytes, gz_bytes, lines, files;
    int status; /* 0 ok, 1 missing, 2 truncated */
    uint64_t trunc_kept, trunc_full, trunc_lines;
    uint64_t nul_after_line, nul_bytes;
    int64_t nul_after_id;
    uint64_t malformed_line;
    int64_t malformed_id;
    uint64_t unicode_line;
    int64_t unicode_id;
    const char *unicode_field;
    int64_t dup_ids[8];
    int ndup;
} hour_res;

static int64_t hour_start(const gen_ctx *c, int h)
{
    return (c->o.start_day + h / c->hpd) * 86400 + (int64_t)(h % c->hpd) * 3600;
}

static uint32_t hour_events(const gen_ctx *c, int h)
{
    int64_t t = hour_start(c, h);
    int hod = (int)(t / 3600 % 24);
    int wd = kiln_weekday(t / 86400);
    double f = 1.0 + 0.15 * sin((hod - 9) * 3.14159265358979 / 12.0); /* peak ~15 UTC */
    if (wd >= 6)
        f *= 0.82;
    rng r = {hash3(c->o.seed, (uint64_t)t, 11)};
    f *= 0.95 + 0.1 * runif(&r);
    double n = KILN_GEN_EVENTS_PER_HOUR * c->o.scale * f;
    return n < 1 ? 1 : (uint32_t)(n + 0.5);
}

static int64_t event_id(const gen_ctx *c, int h, uint32_t i)
{
    int64_t t = hour_start(c, h);
    int64_t hours_since_2015 = (t - (int64_t)16436 * 86400) / 3600; /* 2015-01-01 */
    int64_t base = 10000000000LL + hours_since_2015 * (int64_t)c->id_stride;
    return base + 2 * (int64_t)i + (int64_t)(hash3(c->o.seed, (uint64_t)t, i) & 1);
}

/* ---- actors: index 0..5 are the big bots, ~3% of the rest are app bots */
static int actor_is_bot(const gen_ctx *c, uint32_t a) { return a < NELEM(BOTS) || hash3(c->o.seed, a, 21) % 100 < 3; }
static int64_t actor_id(const gen_ctx *c, uint32_t a)
{
    static const int64_t bot_ids[] = {41898282, 49699333, 29139614, 66853113, 22429695, 46447321};
    if (a < NELEM(BOTS))
        return bot_ids[a];
    return 1000000 + (int64_t)a * 97 + (int64_t)(hash3(c->o.seed, a, 22) % 97);
}
static void actor_login(const gen_ctx *c, uint32_t a, jbuf *b)
{
    if (a < NELEM(BOTS)) {
        jb_cstr(b, BOTS[a]);
        return;
    }
    uint64_t h = hash3(c->o.seed, a, 23);
    jb_cstr(b, ADJ[h % NELEM(ADJ)]);
    if ((h >> 8) & 1)
        jb_ch(b, '-');
    jb_cstr(b, NOUN[(h >> 16) % NELEM(NOUN)]);
    jb_u64(b, a);
    if (actor_is_bot(c, a))
        JS(b, "[bot]");
}
static void actor_name(const gen_ctx *c, uint32_t a, jbuf *b)
{
    uint64_t h = hash3(c->o.seed, a, 24);
    jb_cstr(b, FIRST[h % NELEM(FIRST)]);
    jb_ch(b, ' ');
    jb_cstr(b, LAST[(h >> 20) % NELEM(LAST)]);
}
/* sha1hex@domain, as GH Archive obfuscates emails. */
static void actor_email(const gen_ctx *c, uint32_t a, jbuf *b)
{
    uint64_t h = hash3(c->o.seed, a, 25);
    jb_hex(b, h, mix64(h), 32);
    jb_hex(b, mix64(h + 1), 0, 8);
    jb_ch(b, '@');
    jb_cstr(b, DOMAINS[(h >> 7) % NELEM(DOMAINS)]);
}
static int64_t org_id(const gen_ctx *c, uint32_t o)
{
    return 9000000 + (int64_t)o * 53 + (int64_t)(hash3(c->o.seed, o, 31) % 53);
}
static void org_login(const gen_ctx *c, uint32_t o, jbuf *b)
{
    uint64_t h = hash3(c->o.seed, o, 32);
    jb_cstr(b, NOUN[h % NELEM(NOUN)]);
    jb_ch(b, '-');
    jb_cstr(b, TOPIC[(h >> 12) % NELEM(TOPIC)]);
    JS(b, "-org");
    jb_u64(b, o);
}

/* ---- repos: owner is an org for ~25% of repos, else a user */
typedef struct repo_info {
    uint32_t idx;
    int is_org;
    uint32_t owner; /* org or actor index */
    int64_t id;
    int renamed; /* renamed at rename_t (same id, new name) */
    int64_t rename_t;
    int lang, lang2; /* index into LANGS, -1 = null; lang2 after lang_t */
    int64_t lang_t;
    int64_t created_t;
    int fork;
} repo_info;

static void repo_get(const gen_ctx *c, uint32_t r, repo_info *ri)
{
    uint64_t h = hash3(c->o.seed, r, 41);
    memset(ri, 0, sizeof *ri);
    ri->idx = r;
    ri->is_org = (h % 100) < 25;
    ri->owner = ri->is_org ? (uint32_t)((h >> 8) % c->n_orgs) : (uint32_t)((h >> 8) % c->n_actors);
    if (!ri->is_org && ri->owner < NELEM(BOTS))
        ri->owner += NELEM(BOTS); /* bots own no repos */
    ri->id = 100000000 + (int64_t)r * 61 + (int64_t)(mix64(h) % 61);
    uint64_t h2 = hash3(c->o.seed, r, 42);
    int nhours = c->T;
    /* a few popular repos get renamed inside the range (always repo 3) */
    if (nhours >= 2 && (r == 3 || (r < 3000 && h2 % 700 == 0))) {
        ri->renamed = 1;
        int k = 1 + (int)((h2 >> 16) % (uint64_t)(nhours - 1));
        ri->rename_t = hour_start(c, k) + 1800;
    }
    ri->lang = (h2 >> 24) % 100 < 15 ? -1 : (int)((h2 >> 32) % NELEM(LANGS));
    ri->lang2 = ri->lang;
    ri->lang_t = INT64_MAX;
    if (nhours >= 2 && (h2 >> 40) % 100 < 8) { /* language changes once */
        ri->lang2 = (int)((h2 >> 48) % NELEM(LANGS));
        if (ri->lang2 == ri->lang)
            ri->lang2 = (ri->lang2 + 1) % (int)NELEM(LANGS);
        int k = 1 + (int)((h2 >> 20) % (uint64_t)(nhours - 1));
        ri->lang_t = hour_start(c, k);
    }
    ri->created_t = (int64_t)14000 * 86400 + (int64_t)(mix64(h2) % (uint64_t)((c->o.start_day - 14000) * 86400));
    ri->fork = (h2 >> 56) % 100 < 10;
}
static void repo_owner_login(const gen_ctx *c, const repo_info *ri, jbuf *b)
{
    if (ri->is_org)
        org_login(c, ri->owner, b);
    else
        actor_login(c, ri->owner, b);
}
static void repo_short_name(const gen_ctx *c, const repo_info *ri, int64_t t, jbuf *b)
{
    uint64_t h = hash3(c->o.seed, ri->idx, 43);
    jb_cstr(b, NOUN[h % NELEM(NOUN)]);
    jb_ch(b, (h >> 9) & 1 ? '-' : '.');
    jb_cstr(b, TOPIC[(h >> 13) % NELEM(TOPIC)]);
    jb_u64(b, ri->idx);
    if (ri->renamed && t >= ri->rename_t)
        JS(b, "-next");
}
static void repo_full_name(const gen_ctx *c, const repo_info *ri, int64_t t, jbuf *b)
{
    repo_owner_login(c, ri, b);
    jb_ch(b, '/');
    repo_short_name(c, ri, t, b);
}
static int repo_lang(const repo_info *ri, int64_t t) { return t >= ri->lang_t ? ri->lang2 : ri->lang; }

/* ------------------------------------------------------------ objects */

static void node_id(jbuf *b, const char *prefix, uint64_t key)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    jb_ch(b, '"');
    jb_cstr(b, prefix);
    uint64_t h = mix64(key);
    for (int i = 0; i < 10; i++, h >>= 6)
        jb_ch(b, A[h & 63]);
    jb_ch(b, '"');
}

/* scratch: login into a small stack string */
typedef struct sstr {
    char s[160];
    size_t n;
} sstr;
static void login_of(const gen_ctx *c, uint32_t a, sstr *o)
{
    jbuf b = {o->s, 0, sizeof o->s, 0};
    actor_login(c, a, &b);
    o->n = b.len;
    o->s[o->n] = 0;
}

/* Full user object as in API payloads (~900 bytes). */
static void write_user_obj(jbuf *b, const char *login, size_t ln, int64_t id, int is_org, int is_bot)
{
    JS(b, "{\"login\":");
    jb_str(b, login, ln);
    JS(b, ",\"id\":");
    jb_u64(b, (uint64_t)id);
    JS(b, ",\"node_id\":");
    node_id(b, is_org ? "O_kgDO" : "MDQ6VXNlcj", (uint64_t)id);
    JS(b, ",\"avatar_url\":\"https://avatars.githubusercontent.com/u/");
    jb_u64(b, (uint64_t)id);
    JS(b, "?v=4\",\"gravatar_id\":\"\",\"url\":\"https://api.github.com/users/");
    jb_put(b, login, ln);
    static const char *const U[] = {"\",\"html_url\":\"https://github.com/",
                                    "\",\"followers_url\":\"",
                                    "\",\"following_url\":\"",
                                    "\",\"gists_url\":\"",
                                    "\",\"starred_url\":\"",
                                    "\",\"subscriptions_url\":\"",
                                    "\",\"organizations_url\":\"",
                                    "\",\"repos_url\":\"",
                                    "\",\"events_url\":\"",
                                    "\",\"received_events_url\":\""};
    static const char *const S[] = {"",
                                    "/followers",
                                    "/following{/other_user}",
                                    "/gists{/gist_id}",
                                    "/starred{/owner}{/repo}",
                                    "/subscriptions",
                                    "/orgs",
                                    "/repos",
                                    "/events{/privacy}",
                                    "/received_events"};
    for (size_t i = 0; i < NELEM(U); i++) {
        jb_cstr(b, U[i]);
        if (i > 0)
            JS(b, "https://api.github.com/users/");
        jb_put(b, login, ln);
        jb_cstr(b, S[i]);
    }
    JS(b, "\",\"type\":");
    jb_s(b, is_org ? "Organization" : is_bot ? "Bot" : "User");
    JS(b, ",\"user_view_type\":\"public\",\"site_admin\":false}");
}
static void write_actor_user(const gen_ctx *c, jbuf *b, uint32_t a)
{
    sstr l;
    login_of(c, a, &l);
    write_user_obj(b, l.s, l.n, actor_id(c, a), 0, actor_is_bot(c, a));
}
static void write_owner_user(const gen_ctx *c, jbuf *b, const repo_info *ri)
{
    sstr l;
    jbuf t = {l.s, 0, sizeof l.s, 0};
    repo_owner_login(c, ri, &t);
    l.n = t.len;
    write_user_obj(b, l.s, l.n, ri->is_org ? org_id(c, ri->owner) : actor_id(c, ri->owner), ri->is_org, 0);
}

/* Full repository object (~4-5 KB): the shape of forkee, PR head/base repo
 * and GET /repos/{o}/{r}. */
/* pushed_t > 0: the pushed_at to report (API files); else a synthetic one. */
static void write_repo_obj(const gen_ctx *c, jbuf *b, const repo_info *ri, int64_t t, int api_extra, int64_t pushed_t)
{
    char fn[200];
    jbuf f = {fn, 0, sizeof fn, 0};
    repo_full_name(c, ri, t, &f);
    fn[f.len] = 0;
    const char *slash = strchr(fn, '/');
    uint64_t h = hash3(c->o.seed, ri->idx, 44);
    JS(b, "{\"id\":");
    jb_u64(b, (uint64_t)ri->id);
    JS(b, ",\"node_id\":");
    node_id(b, "R_kgDO", (uint64_t)ri->id);
    JS(b, ",\"name\":");
    jb_s(b, slash + 1);
    JS(b, ",\"full_name\":");
    jb_s(b, fn);
    JS(b, ",\"private\":false,\"owner\":");
    write_owner_user(c, b, ri);
    JS(b, ",\"html_url\":\"https://github.com/");
    jb_cstr(b, fn);
    JS(b, "\",\"description\":");
    if (h % 5 == 0)
        JS(b, "null");
    else {
        jb_ch(b, '"');
        JS(b, "A ");
        jb_cstr(b, ADJ[(h >> 5) % NELEM(ADJ)]);
        jb_ch(b, ' ');
        jb_cstr(b, NOUN[(h >> 10) % NELEM(NOUN)]);
        JS(b, " for ");
        jb_cstr(b, TOPIC[(h >> 15) % NELEM(TOPIC)]);
        if ((h >> 20) % 4 == 0)
            JS(b, " \xe2\x9a\xa1 fast, \\\"batteries included\\\"");
        jb_ch(b, '"');
    }
    JS(b, ",\"fork\":");
    jb_cstr(b, ri->fork ? "true" : "false");
    static const char *const K[] = {"url",
                                    "",
                                    "forks_url",
                                    "/forks",
                                    "keys_url",
                                    "/keys{/key_id}",
                                    "collaborators_url",
                                    "/collaborators{/collaborator}",
                                    "teams_url",
                                    "/teams",
                                    "hooks_url",
                                    "/hooks",
                                    "issue_events_url",
                                    "/issues/events{/number}",
                                    "events_url",
                                    "/events",
                                    "assignees_url",
                                    "/assignees{/user}",
                                    "branches_url",
                                    "/branches{/branch}",
                                    "tags_url",
                                    "/tags",
                                    "blobs_url",
                                    "/git/blobs{/sha}",
                                    "git_tags_url",
                                    "/git/tags{/sha}",
                                    "git_refs_url",
                                    "/git/refs{/sha}",
                                    "trees_url",
                                    "/git/trees{/sha}",
                                    "statuses_url",
                                    "/statuses/{sha}",
                                    "languages_url",
                                    "/languages",
                                    "stargazers_url",
                                    "/stargazers",
                                    "contributors_url",
                                    "/contributors",
                                    "subscribers_url",
                                    "/subscribers",
                                    "subscription_url",
                                    "/subscription",
                                    "commits_url",
                                    "/commits{/sha}",
                                    "git_commits_url",
                                    "/git/commits{/sha}",
                                    "comments_url",
                                    "/comments{/number}",
                                    "issue_comment_url",
                                    "/issues/comments{/number}",
                                    "contents_url",
                                    "/contents/{+path}",
                                    "compare_url",
                                    "/compare/{base}...{head}",
                                    "merges_url",
                                    "/merges",
                                    "archive_url",
                                    "/{archive_format}{/ref}",
                                    "downloads_url",
                                    "/downloads",
                                    "issues_url",
                                    "/issues{/number}",
                                    "pulls_url",
                                    "/pulls{/number}",
                                    "milestones_url",
                                    "/milestones{/number}",
                                    "notifications_url",
                                    "/notifications{?since,all,participating}",
                                    "labels_url",
                                    "/labels{/name}",
                                    "releases_url",
                                    "/releases{/id}",
                                    "deployments_url",
                                    "/deployments"};
    for (size_t i = 0; i < NELEM(K); i += 2) {
        JS(b, ",\"");
        jb_cstr(b, K[i]);
        JS(b, "\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        jb_cstr(b, K[i + 1]);
        jb_ch(b, '"');
    }
    JS(b, ",\"created_at\":");
    jb_ts(b, ri->created_t);
    JS(b, ",\"updated_at\":");
    jb_ts(b, t - 3600 - (int64_t)(h % 86400));
    JS(b, ",\"pushed_at\":");
    jb_ts(b, pushed_t > 0 ? pushed_t : t - (int64_t)(h % 7200));
    JS(b, ",\"git_url\":\"git://github.com/");
    jb_cstr(b, fn);
    JS(b, ".git\",\"ssh_url\":\"git@github.com:");
    jb_cstr(b, fn);
    JS(b, ".git\",\"clone_url\":\"https://github.com/");
    jb_cstr(b, fn);
    JS(b, ".git\",\"svn_url\":\"https://github.com/");
    jb_cstr(b, fn);
    JS(b, "\",\"homepage\":");
    jb_cstr(b, h % 3 == 0 ? "\"https://example.org\"" : "null");
    uint64_t stars = ri->idx < 100 ? 50000 / (ri->idx + 1) : h % 300;
    JS(b, ",\"size\":");
    jb_u64(b, h % 500000);
    JS(b, ",\"stargazers_count\":");
    jb_u64(b, stars);
    JS(b, ",\"watchers_count\":");
    jb_u64(b, stars);
    JS(b, ",\"language\":");
    int lg = repo_lang(ri, t);
    if (lg < 0)
        JS(b, "null");
    else
        jb_s(b, LANGS[lg]);
    JS(b, ",\"has_issues\":true,\"has_projects\":true,\"has_downloads\":true,\"has_wiki\":");
    jb_cstr(b, h & 1 ? "true" : "false");
    JS(b, ",\"has_pages\":false,\"has_discussions\":false,\"forks_count\":");
    jb_u64(b, stars / 7);
    JS(b, ",\"mirror_url\":null,\"archived\":false,\"disabled\":false,\"open_issues_count\":");
    jb_u64(b, (h >> 3) % 90);
    if ((h >> 6) % 3 == 0)
        JS(b, ",\"license\":null");
    else
        JS(b, ",\"license\":{\"key\":\"mit\",\"name\":\"MIT "
              "License\",\"spdx_id\":\"MIT\",\"url\":\"https://api.github.com/licenses/"
              "mit\",\"node_id\":\"MDc6TGljZW5zZTEz\"}");
    JS(b, ",\"allow_forking\":true,\"is_template\":false,\"web_commit_signoff_required\":false,\"topics\":[");
    if (lg >= 0) {
        jb_ch(b, '"');
        for (const char *p = LANGS[lg]; *p; p++)
            jb_ch(b, *p == ' ' || *p == '+' || *p == '#' ? '-' : (char)(*p | 0x20));
        jb_ch(b, '"');
        JS(b, ",\"");
        jb_cstr(b, TOPIC[(h >> 15) % NELEM(TOPIC)]);
        jb_ch(b, '"');
    }
    JS(b, "],\"visibility\":\"public\",\"forks\":");
    jb_u64(b, stars / 7);
    JS(b, ",\"open_issues\":");
    jb_u64(b, (h >> 3) % 90);
    JS(b, ",\"watchers\":");
    jb_u64(b, stars);
    JS(b, ",\"default_branch\":");
    jb_s(b, (h >> 30) % 4 == 0 ? "master" : "main");
    if (api_extra) {
        JS(b, ",\"network_count\":");
        jb_u64(b, stars / 7);
        JS(b, ",\"subscribers_count\":");
        jb_u64(b, stars / 20);
    }
    jb_ch(b, '}');
}
static const char *repo_default_branch(const gen_ctx *c, const repo_info *ri)
{
    uint64_t h = hash3(c->o.seed, ri->idx, 44);
    return (h >> 30) % 4 == 0 ? "master" : "main";
}

/* ------------------------------------------------------------ text */

/* Commit message in JSON-escaped form (no surrounding quotes). */
static void write_message(rng *r, jbuf *b, int cal)
{
    uint32_t u = rbelow(r, 1000);
    if (u < 20) { /* merge commit */
        JS(b, "Merge pull request #");
        jb_u64(b, 1 + rbelow(r, 5000));
        JS(b, " from ");
        jb_cstr(b, ADJ[rbelow(r, NELEM(ADJ))]);
        JS(b, "/feature-");
        jb_cstr(b, NOUN[rbelow(r, NELEM(NOUN))]);
        JS(b, "\\n\\n");
    }
    jb_cstr(b, VERBS[rbelow(r, NELEM(VERBS))]);
    jb_ch(b, ' ');
    jb_cstr(b, THINGS[rbelow(r, NELEM(THINGS))]);
    if (rbelow(r, 100) < 12) {
        JS(b, " ");
        jb_cstr(b, SPICE[rbelow(r, NELEM(SPICE))]);
    }
    if (rbelow(r, 100) < (cal ? 6u : 35u)) { /* multi-line body */
        JS(b, "\\n\\n");
        int nw = 8 + (int)rbelow(r, 60);
        for (int i = 0; i < nw; i++) {
            jb_cstr(b, LOREM[rbelow(r, NELEM(LOREM))]);
            uint32_t v = rbelow(r, 14);
            jb_cstr(b, v == 0 ? ".\\n" : v == 1 ? ", " : " ");
        }
        if (rbelow(r, 4) == 0) {
            JS(b, "\\n\\n- ");
            jb_cstr(b, SPICE[rbelow(r, NELEM(SPICE))]);
            JS(b, "\\n- done");
        }
        if (rbelow(r, 5) == 0)
            JS(b, "\\n\\nSigned-off-by: Dev O'Neil <dev@example.org>");
    }
    if (rbelow(r, 2500) == 0) { /* a generated changelog: tens of KB */
        int lines = 300 + (int)rbelow(r, 1200);
        JS(b, "\\n\\nChangelog:\\n");
        for (int i = 0; i < lines; i++) {
            JS(b, "- bump ");
            jb_cstr(b, NOUN[rbelow(r, NELEM(NOUN))]);
            JS(b, " from 1.");
            jb_u64(b, rbelow(r, 40));
            JS(b, ".0 to 1.");
            jb_u64(b, 40 + rbelow(r, 40));
            JS(b, ".2 (\\\"security\\\" fix \\u2713)\\n");
        }
    }
}
/* Markdown body (JSON-escaped), roughly n bytes. */
static void write_body(rng *r, jbuf *b, int n)
{
    size_t start = b->len;
    JS(b, "## Summary\\r\\n\\r\\n");
    while ((int)(b->len - start) < n && !b->oom) {
        uint32_t v = rbelow(r, 30);
        if (v == 0) {
            JS(b, "\\r\\n\\r\\n```c\\r\\nif (x == NULL) {\\r\\n    return \\\"\\\\n\\\";\\r\\n}\\r\\n```\\r\\n");
        } else if (v == 1) {
            JS(b, "\\r\\n- [x] ");
            jb_cstr(b, SPICE[rbelow(r, NELEM(SPICE))]);
            JS(b, "\\r\\n");
        } else {
            jb_cstr(b, LOREM[rbelow(r, NELEM(LOREM))]);
            jb_ch(b, v == 2 ? '.' : ' ');
        }
    }
}

/* ------------------------------------------------------------ events */

typedef struct gev {
    int hour;
    uint32_t i;
    int64_t id, t;
    int type;
    uint32_t actor;
    repo_info repo;
    int new_era;
    uint64_t seed;
    /* push decisions */
    int size, distinct;
    int ref_kind; /* 0 existing branch, 1 tag, 2 new branch */
    uint64_t push_id;
} gev;

static void gen_event(const gen_ctx *c, int h, uint32_t i, uint32_t n, gev *e)
{
    int64_t t0 = hour_start(c, h);
    memset(e, 0, sizeof *e);
    e->hour = h;
    e->i = i;
    e->id = event_id(c, h, i);
    e->t = t0 + (int64_t)((uint64_t)i * 3600 / n);
    e->seed = hash3(c->o.seed, (uint64_t)t0, (uint64_t)i + 0x1000000000ULL);
    e->new_era = e->t >= ERA_T;
    rng r = {e->seed};
    uint32_t u = rbelow(&r, 1000), acc = 0;
    e->type = T_NTYPES - 1;
    for (int k = 0; k < T_NTYPES; k++) {
        acc += (uint32_t)(c->cal ? TYPE_PERMILLE_2025 : TYPE_PERMILLE)[k];
        if (u < acc) {
            e->type = k;
            break;
        }
    }
    repo_get(c, rzipf(&r, c->n_repos, 20), &e->repo);
    e->actor = rzipf(&r, c->n_actors, 10);
    /* pushes to a user's repo are mostly by the owner; bots push a lot */
    if (e->type == T_PUSH && !e->repo.is_org && rbelow(&r, 100) < 70)
        e->actor = e->repo.owner;
    if (e->type == T_PUSH) {
        e->push_id = 20000000000ULL + (uint64_t)(e->id - 10000000000LL) / 2;
        uint32_t v = rbelow(&r, 1000);
        int size;
        if (c->cal) /* real 2025 pushes are small: mostly one commit (bots, squash merges) */
            size = v < 900   ? 1
                   : v < 945 ? 2
                   : v < 965 ? 3
                   : v < 985 ? 4 + (int)rbelow(&r, 3)
                   : v < 997 ? 7 + (int)rbelow(&r, 14)
                   : v < 999 ? 21 + (int)rbelow(&r, 80)
                             : 101 + (int)rbelow(&r, 300);
        else
            size = v < 620   ? 1
                   : v < 800 ? 2
                   : v < 880 ? 3
                   : v < 930 ? 4 + (int)rbelow(&r, 3)
                   : v < 975 ? 7 + (int)rbelow(&r, 14)
                   : v < 995 ? 21 + (int)rbelow(&r, 80)
                             : 101 + (int)rbelow(&r, 300);
        uint32_t k = rbelow(&r, 100);
        if (k < 4) {
            e->ref_kind = 1;
            size = 0;
        } else if (k < 8) {
            e->ref_kind = 2;
            if (rbelow(&r, 2))
                size = 0;
        }
        e->size = size;
        uint32_t d = rbelow(&r, 100);
        e->distinct = d < 90 ? size : d < 98 ? (int)rbelow(&r, (uint32_t)size + 1) : 0;
    }
}

static void write_ref_name(rng *r, jbuf *b)
{
    uint32_t v = rbelow(r, 10);
    if (v < 3)
        JS(b, "feature/");
    else if (v < 4)
        JS(b, "dependabot/npm_and_yarn/");
    else if (v < 5)
        JS(b, "fix-");
    jb_cstr(b, NOUN[rbelow(r, NELEM(NOUN))]);
    jb_ch(b, '-');
    jb_u64(b, rbelow(r, 1000));
}

/* The sha of commit k of a push; commit size-1 is head. */
static uint64_t commit_key(const gev *e, int k) { return e->seed ^ (0xc0ffee0000ULL + (uint64_t)k * 0x10001ULL); }
static uint64_t head_key(const gev *e) { return e->size > 0 ? commit_key(e, e->size - 1) : e->seed ^ 0xbeadULL; }

/* Commit k's author and message come from its own PRNG so the event and
 * the compare response agree. */
static uint32_t commit_author(const gen_ctx *c, const gev *e, int k, rng *cr)
{
    cr->s = commit_key(e, k) ^ 0xa5a5ULL;
    return rbelow(cr, 100) < 80 ? (e->actor >= NELEM(BOTS) ? e->actor : e->actor + NELEM(BOTS))
                                : rzipf(cr, c->n_actors, 10);
}

static const char *repo_default_branch(const gen_ctx *c, const repo_info *ri);
static void write_ref_full(const gen_ctx *c, const gev *e, rng *r, jbuf *b)
{
    if (e->ref_kind == 1) {
        JS(b, "\"refs/tags/v");
        jb_u64(b, rbelow(r, 5));
        jb_ch(b, '.');
        jb_u64(b, rbelow(r, 30));
        jb_ch(b, '.');
        jb_u64(b, rbelow(r, 10));
        jb_ch(b, '"');
    } else if (e->ref_kind == 2) {
        JS(b, "\"refs/heads/");
        write_ref_name(r, b);
        jb_ch(b, '"');
    } else {
        JS(b, "\"refs/heads/");
        if (rbelow(r, 100) < 75)
            jb_cstr(b, repo_default_branch(c, &e->repo));
        else
            write_ref_name(r, b);
        jb_ch(b, '"');
    }
}

static void write_push_payload(const gen_ctx *c, const gev *e, rng *r, jbuf *b, char *fn, hour_res *hr)
{
    JS(b, "{\"repository_id\":");
    jb_u64(b, (uint64_t)e->repo.id);
    JS(b, ",\"push_id\":");
    jb_u64(b, e->push_id);
    if (!e->new_era) {
        JS(b, ",\"size\":");
        jb_u64(b, (uint64_t)e->size);
        JS(b, ",\"distinct_size\":");
        jb_u64(b, (uint64_t)e->distinct);
    }
    JS(b, ",\"ref\":");
    write_ref_full(c, e, r, b);
    JS(b, ",\"head\":\"");
    jb_sha(b, head_key(e));
    JS(b, "\",\"before\":\"");
    if (e->ref_kind != 0)
        JS(b, "0000000000000000000000000000000000000000");
    else
        jb_sha(b, e->seed ^ 0xbef0eULL);
    jb_ch(b, '"');
    if (hr) {
        hr->pushes++;
        hr->intended_size_sum += (uint64_t)e->size;
        hr->intended_distinct_sum += (uint64_t)e->distinct;
    }
    if (!e->new_era) {
        JS(b, ",\"commits\":[");
        int first = e->size > MAX_LISTED ? e->size - MAX_LISTED : 0;
        for (int k = first; k < e->size; k++) {
            rng cr;
            uint32_t au = commit_author(c, e, k, &cr);
            if (k > first)
                jb_ch(b, ',');
            JS(b, "{\"sha\":\"");
            jb_sha(b, commit_key(e, k));
            JS(b, "\",\"author\":{\"email\":\"");
            actor_email(c, au, b);
            JS(b, "\",\"name\":\"");
            actor_name(c, au, b);
            JS(b, "\"},\"message\":\"");
            write_message(&cr, b, c->cal);
            JS(b, "\",\"distinct\":");
            jb_cstr(b, k >= e->size - e->distinct ? "true" : "false");
            JS(b, ",\"url\":\"https://api.github.com/repos/");
            jb_cstr(b, fn);
            JS(b, "/commits/");
            jb_sha(b, commit_key(e, k));
            JS(b, "\"}");
        }
        jb_ch(b, ']');
        if (hr) {
            hr->size_sum += (uint64_t)e->size;
            hr->distinct_sum += (uint64_t)e->distinct;
            hr->commits_listed += (uint64_t)(e->size - first);
        }
    }
    jb_ch(b, '}');
}

static const char *assoc(rng *r)
{
    static const char *const A[] = {"NONE", "CONTRIBUTOR", "MEMBER", "OWNER", "COLLABORATOR", "FIRST_TIME_CONTRIBUTOR"};
    return A[rbelow(r, NELEM(A))];
}

/* n label objects as in issue and PR payloads (--mix real2025). */
static void write_labels(rng *r, jbuf *b, const char *fn, int n)
{
    static const char *const N[] = {"bug",         "enhancement", "dependencies",   "documentation", "good first issue",
                                    "help wanted", "javascript",  "github_actions", "needs-triage",  "size/S"};
    static const char *const D[] = {"Something isn't working",
                                    "New feature or request",
                                    "Pull requests that update a dependency file",
                                    "Improvements or additions to documentation",
                                    "Good for newcomers",
                                    "Extra attention is needed",
                                    "Pull requests that update Javascript code",
                                    "Pull requests that update GitHub Actions code",
                                    "",
                                    ""};
    for (int i = 0; i < n; i++) {
        uint32_t k = rbelow(r, NELEM(N));
        uint64_t lid = 1000000000ULL + rnext(r) % 8000000000ULL;
        if (i)
            jb_ch(b, ',');
        JS(b, "{\"id\":");
        jb_u64(b, lid);
        JS(b, ",\"node_id\":");
        node_id(b, "LA_kwDO", lid);
        JS(b, ",\"url\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        JS(b, "/labels/");
        for (const char *p = N[k]; *p; p++)
            if (*p == ' ')
                JS(b, "%20");
            else
                jb_ch(b, *p);
        JS(b, "\",\"name\":");
        jb_s(b, N[k]);
        JS(b, ",\"color\":\"");
        jb_hex(b, lid, 0, 6);
        JS(b, "\",\"default\":");
        jb_cstr(b, k < 6 ? "true" : "false");
        JS(b, ",\"description\":");
        if (D[k][0])
            jb_s(b, D[k]);
        else
            JS(b, "null");
        jb_ch(b, '}');
    }
}

static void write_issue_obj(const gen_ctx *c, const gev *e, rng *r, jbuf *b, const char *fn, uint64_t number, int is_pr,
                            int body_max)
{
    uint64_t iid = 1000000000ULL + (uint64_t)e->repo.id * 7 + number;
    JS(b, "{\"url\":\"https://api.github.com/repos/");
    jb_cstr(b, fn);
    JS(b, "/issues/");
    jb_u64(b, number);
    JS(b, "\",\"repository_url\":\"https://api.github.com/repos/");
    jb_cstr(b, fn);
    if (c->cal) {
        static const char *const U[] = {"labels_url", "/labels{/name}", "comments_url",
                                        "/comments",  "events_url",     "/events"};
        for (size_t i = 0; i < NELEM(U); i += 2) {
            JS(b, "\",\"");
            jb_cstr(b, U[i]);
            JS(b, "\":\"https://api.github.com/repos/");
            jb_cstr(b, fn);
            JS(b, "/issues/");
            jb_u64(b, number);
            jb_cstr(b, U[i + 1]);
        }
    }
    JS(b, "\",\"html_url\":\"https://github.com/");
    jb_cstr(b, fn);
    jb_cstr(b, is_pr ? "/pull/" : "/issues/");
    jb_u64(b, number);
    JS(b, "\",\"id\":");
    jb_u64(b, iid);
    JS(b, ",\"node_id\":");
    node_id(b, "I_kwDO", iid);
    JS(b, ",\"number\":");
    jb_u64(b, number);
    JS(b, ",\"title\":\"");
    jb_cstr(b, VERBS[rbelow(r, NELEM(VERBS))]);
    jb_ch(b, ' ');
    jb_cstr(b, THINGS[rbelow(r, NELEM(THINGS))]);
    if (rbelow(r, 10) == 0) {
        jb_ch(b, ' ');
        jb_cstr(b, SPICE[rbelow(r, NELEM(SPICE))]);
    }
    JS(b, "\",\"user\":");
    write_actor_user(c, b, rzipf(r, c->n_actors, 10));
    JS(b, ",\"labels\":[");
    if (c->cal) {
        write_labels(r, b, fn, (int)rbelow(r, 4));
        JS(b, "],\"state\":\"open\",\"locked\":false,\"assignee\":");
        if (rbelow(r, 4) == 0) {
            uint32_t as = rzipf(r, c->n_actors, 10);
            write_actor_user(c, b, as);
            JS(b, ",\"assignees\":[");
            write_actor_user(c, b, as);
            jb_ch(b, ']');
        } else
            JS(b, "null,\"assignees\":[]");
        JS(b, ",\"milestone\":null,\"comments\":");
    } else {
        if (rbelow(r, 3) == 0)
            JS(b, "{\"id\":1234567,\"node_id\":\"MDU6TGFiZWwxMjM0NTY3\",\"name\":\"bug\",\"color\":\"d73a4a\","
                  "\"default\":true,\"description\":\"Something isn't working\"}");
        JS(b,
           "],\"state\":\"open\",\"locked\":false,\"assignee\":null,\"assignees\":[],\"milestone\":null,\"comments\":");
    }
    jb_u64(b, rbelow(r, 30));
    JS(b, ",\"created_at\":");
    jb_ts(b, e->t - 86400 * (int64_t)rbelow(r, 60));
    JS(b, ",\"updated_at\":");
    jb_ts(b, e->t);
    JS(b, ",\"closed_at\":null");
    if (!e->new_era) {
        JS(b, ",\"author_association\":\"");
        jb_cstr(b, assoc(r));
        jb_ch(b, '"');
    }
    JS(b, ",\"active_lock_reason\":null,\"body\":\"");
    write_body(r, b, 100 + (int)rbelow(r, (uint32_t)body_max));
    if (c->cal) {
        JS(b, "\",\"timeline_url\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        JS(b, "/issues/");
        jb_u64(b, number);
        JS(b, "/timeline\",\"performed_via_github_app\":null");
        JS(b, ",\"reactions\":{\"url\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        JS(b, "/issues/");
        jb_u64(b, number);
        JS(b, "/reactions\",\"total_count\":0,");
    } else
        JS(b, "\",\"reactions\":{\"total_count\":0,");
    JS(b, "\"+1\":0,\"-1\":0,\"laugh\":0,\"hooray\":0,\"confused\":0,\"heart\":0,\"rocket\":0,\"eyes\":0},\"state_"
          "reason\":null}");
}

static void write_comment_obj(const gen_ctx *c, const gev *e, rng *r, jbuf *b, const char *fn, const char *kind,
                              int body_len)
{
    uint64_t cid = 2000000000ULL + (uint64_t)(e->id - 10000000000LL) / 3;
    JS(b, "{\"url\":\"https://api.github.com/repos/");
    jb_cstr(b, fn);
    jb_cstr(b, kind);
    jb_u64(b, cid);
    JS(b, "\",\"html_url\":\"https://github.com/");
    jb_cstr(b, fn);
    JS(b, "#comment-");
    jb_u64(b, cid);
    JS(b, "\",\"id\":");
    jb_u64(b, cid);
    JS(b, ",\"node_id\":");
    node_id(b, "IC_kwDO", cid);
    JS(b, ",\"user\":");
    write_actor_user(c, b, e->actor);
    JS(b, ",\"created_at\":");
    jb_ts(b, e->t);
    JS(b, ",\"updated_at\":");
    jb_ts(b, e->t);
    if (!e->new_era) {
        JS(b, ",\"author_association\":\"");
        jb_cstr(b, assoc(r));
        jb_ch(b, '"');
    }
    JS(b, ",\"body\":\"");
    write_body(r, b, body_len);
    JS(b, "\",\"reactions\":{\"total_count\":0,\"+1\":0,\"-1\":0,\"laugh\":0,\"hooray\":0,\"confused\":0,\"heart\":0,"
          "\"rocket\":0,\"eyes\":0}}");
}

static void write_branch_side(const gen_ctx *c, const gev *e, rng *r, jbuf *b, const repo_info *ri, const char *ref,
                              int full)
{
    char fn[200];
    jbuf f = {fn, 0, sizeof fn, 0};
    repo_owner_login(c, ri, &f);
    fn[f.len] = 0;
    JS(b, "{\"label\":\"");
    jb_cstr(b, fn);
    jb_ch(b, ':');
    jb_cstr(b, ref);
    JS(b, "\",\"ref\":\"");
    jb_cstr(b, ref);
    JS(b, "\",\"sha\":\"");
    jb_sha(b, rnext(r));
    jb_ch(b, '"');
    if (full) {
        /* the side's "user" duplicates repo.owner; --mix legacy leaves it
         * out, real2025 has it as the real payloads do (docs/gen.md) */
        if (c->cal) {
            JS(b, ",\"user\":");
            write_owner_user(c, b, ri);
        }
        JS(b, ",\"repo\":");
        write_repo_obj(c, b, ri, e->t, 0, 0);
    } else {
        JS(b, ",\"repo\":{\"id\":");
        jb_u64(b, (uint64_t)ri->id);
        JS(b, ",\"url\":\"https://api.github.com/repos/");
        f.len = 0;
        repo_full_name(c, ri, e->t, &f);
        fn[f.len] = 0;
        jb_cstr(b, fn);
        JS(b, "\",\"name\":\"");
        jb_cstr(b, strchr(fn, '/') + 1);
        JS(b, "\"}");
    }
    jb_ch(b, '}');
}

/* pull_request: full (~12-20 KB) before the 2025-10-07 change, a stub after. */
static void write_pr_obj(const gen_ctx *c, const gev *e, rng *r, jbuf *b, const char *fn, uint64_t number,
                         const char *action)
{
    uint64_t pid = 1500000000ULL + (uint64_t)e->repo.id * 11 + number;
    char ref[64];
    jbuf rb = {ref, 0, sizeof ref, 0};
    write_ref_name(r, &rb);
    ref[rb.len] = 0;
    const char *base_ref = repo_default_branch(c, &e->repo);
    JS(b, "{\"url\":\"https://api.github.com/repos/");
    jb_cstr(b, fn);
    JS(b, "/pulls/");
    jb_u64(b, number);
    JS(b, "\",\"id\":");
    jb_u64(b, pid);
    JS(b, ",\"number\":");
    jb_u64(b, number);
    if (e->new_era) {
        JS(b, ",\"head\":");
        write_branch_side(c, e, r, b, &e->repo, ref, 0);
        JS(b, ",\"base\":");
        write_branch_side(c, e, r, b, &e->repo, base_ref, 0);
        jb_ch(b, '}');
        return;
    }
    JS(b, ",\"node_id\":");
    node_id(b, "PR_kwDO", pid);
    static const char *const L[] = {
        "html_url",  "https://github.com/", "/pull/", "diff_url",  "https://github.com/",           ".diff",
        "patch_url", "https://github.com/", ".patch", "issue_url", "https://api.github.com/repos/", "/issues/"};
    for (size_t i = 0; i < NELEM(L); i += 3) {
        JS(b, ",\"");
        jb_cstr(b, L[i]);
        JS(b, "\":\"");
        jb_cstr(b, L[i + 1]);
        jb_cstr(b, fn);
        if (L[i + 2][0] == '.') {
            JS(b, "/pull/");
            jb_u64(b, number);
            jb_cstr(b, L[i + 2]);
        } else {
            jb_cstr(b, L[i + 2]);
            jb_u64(b, number);
        }
        jb_ch(b, '"');
    }
    int closed = strcmp(action, "closed") == 0;
    int merged = closed && rbelow(r, 3) != 0;
    JS(b, ",\"state\":");
    jb_s(b, closed ? "closed" : "open");
    JS(b, ",\"locked\":false,\"title\":\"");
    jb_cstr(b, VERBS[rbelow(r, NELEM(VERBS))]);
    jb_ch(b, ' ');
    jb_cstr(b, THINGS[rbelow(r, NELEM(THINGS))]);
    if (rbelow(r, 8) == 0) {
        jb_ch(b, ' ');
        jb_cstr(b, SPICE[rbelow(r, NELEM(SPICE))]);
    }
    JS(b, "\",\"user\":");
    write_actor_user(c, b, e->actor);
    JS(b, ",\"body\":");
    if (rbelow(r, 4) == 0)
        JS(b, "null");
    else {
        jb_ch(b, '"');
        write_body(r, b, 100 + (int)(rbelow(r, 1200) * (rbelow(r, 8) == 0 ? 6 : 1)));
        jb_ch(b, '"');
    }
    JS(b, ",\"created_at\":");
    jb_ts(b, e->t - 3600 * (int64_t)rbelow(r, 200));
    JS(b, ",\"updated_at\":");
    jb_ts(b, e->t);
    JS(b, ",\"closed_at\":");
    if (closed)
        jb_ts(b, e->t);
    else
        JS(b, "null");
    JS(b, ",\"merged_at\":");
    if (merged)
        jb_ts(b, e->t);
    else
        JS(b, "null");
    JS(b, ",\"merge_commit_sha\":\"");
    jb_sha(b, pid);
    if (c->cal) {
        JS(b, "\",\"assignee\":null,\"assignees\":[],\"requested_reviewers\":[");
        if (rbelow(r, 3) == 0)
            write_actor_user(c, b, rzipf(r, c->n_actors, 10));
        JS(b, "],\"requested_teams\":[],\"labels\":[");
        write_labels(r, b, fn, (int)rbelow(r, 4));
        JS(b, "],\"milestone\":null,\"draft\":");
    } else
        JS(b, "\",\"assignee\":null,\"assignees\":[],\"requested_reviewers\":[],\"requested_teams\":[],\"labels\":[],"
              "\"milestone\":null,\"draft\":");
    jb_cstr(b, rbelow(r, 10) == 0 ? "true" : "false");
    static const char *const U[] = {"commits_url",       "/pulls/#/commits",   "review_comments_url",
                                    "/pulls/#/comments", "review_comment_url", "/pulls/comments{/number}",
                                    "comments_url",      "/issues/#/comments", "statuses_url",
                                    "/statuses/"};
    for (size_t i = 0; i < NELEM(U); i += 2) {
        JS(b, ",\"");
        jb_cstr(b, U[i]);
        JS(b, "\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        for (const char *p = U[i + 1]; *p; p++) {
            if (*p == '#')
                jb_u64(b, number);
            else
                jb_ch(b, *p);
        }
        if (i == 8)
            jb_sha(b, pid + 1);
        jb_ch(b, '"');
    }
    /* head from a fork now and then (a second full repo object) */
    JS(b, ",\"head\":");
    if (rbelow(r, 3) == 0) {
        repo_info fork;
        repo_get(c, rzipf(r, c->n_repos, 20), &fork);
        write_branch_side(c, e, r, b, &fork, ref, 1);
    } else {
        write_branch_side(c, e, r, b, &e->repo, ref, 1);
    }
    JS(b, ",\"base\":");
    write_branch_side(c, e, r, b, &e->repo, base_ref, 1);
    JS(b, ",\"_links\":{");
    static const char *const K[] = {"self",
                                    "/pulls/",
                                    "html",
                                    "/pull/",
                                    "issue",
                                    "/issues/",
                                    "comments",
                                    "/issues/#/comments",
                                    "review_comments",
                                    "/pulls/#/comments",
                                    "review_comment",
                                    "/pulls/comments{/number}",
                                    "commits",
                                    "/pulls/#/commits",
                                    "statuses",
                                    "/statuses/"};
    for (size_t i = 0; i < NELEM(K); i += 2) {
        if (i)
            jb_ch(b, ',');
        jb_ch(b, '"');
        jb_cstr(b, K[i]);
        JS(b, "\":{\"href\":\"");
        jb_cstr(b, i == 2 ? "https://github.com/" : "https://api.github.com/repos/");
        jb_cstr(b, fn);
        int has_hash = strchr(K[i + 1], '#') != NULL;
        for (const char *p = K[i + 1]; *p; p++) {
            if (*p == '#')
                jb_u64(b, number);
            else
                jb_ch(b, *p);
        }
        if (i == 14)
            jb_sha(b, pid + 1);
        else if (!has_hash && !strchr(K[i + 1], '{'))
            jb_u64(b, number);
        JS(b, "\"}");
    }
    JS(b, "},\"author_association\":\"");
    jb_cstr(b, assoc(r));
    JS(b, "\",\"auto_merge\":null,\"active_lock_reason\":null,\"merged\":");
    jb_cstr(b, merged ? "true" : "false");
    JS(b, ",\"mergeable\":null,\"rebaseable\":null,\"mergeable_state\":\"unknown\",\"merged_by\":");
    if (merged)
        write_actor_user(c, b, rzipf(r, c->n_actors, 10));
    else
        JS(b, "null");
    JS(b, ",\"comments\":");
    jb_u64(b, rbelow(r, 20));
    JS(b, ",\"review_comments\":");
    jb_u64(b, rbelow(r, 10));
    JS(b, ",\"maintainer_can_modify\":false,\"commits\":");
    jb_u64(b, 1 + rbelow(r, 12));
    JS(b, ",\"additions\":");
    jb_u64(b, rbelow(r, 2000));
    JS(b, ",\"deletions\":");
    jb_u64(b, rbelow(r, 800));
    JS(b, ",\"changed_files\":");
    jb_u64(b, 1 + rbelow(r, 40));
    jb_ch(b, '}');
}

static void write_event(const gen_ctx *c, const gev *e, jbuf *b, hour_res *hr)
{
    rng r = {e->seed ^ 0x77777777ULL};
    char fn[200];
    jbuf f = {fn, 0, sizeof fn, 0};
    repo_full_name(c, &e->repo, e->t, &f);
    fn[f.len] = 0;
    sstr login;
    login_of(c, e->actor, &login);
    int64_t aid = actor_id(c, e->actor);

    JS(b, "{\"id\":\"");
    jb_u64(b, (uint64_t)e->id);
    JS(b, "\",\"type\":\"");
    jb_cstr(b, TYPE_NAME[e->type]);
    JS(b, "\",\"actor\":{\"id\":");
    jb_u64(b, (uint64_t)aid);
    JS(b, ",\"login\":");
    jb_str(b, login.s, login.n);
    JS(b, ",\"display_login\":");
    jb_str(b, login.s, login.n > 5 && login.s[login.n - 1] == ']' ? login.n - 5 : login.n);
    JS(b, ",\"gravatar_id\":\"\",\"url\":\"https://api.github.com/users/");
    jb_put(b, login.s, login.n);
    JS(b, "\",\"avatar_url\":\"https://avatars.githubusercontent.com/u/");
    jb_u64(b, (uint64_t)aid);
    JS(b, "?\"},\"repo\":{\"id\":");
    jb_u64(b, (uint64_t)e->repo.id);
    JS(b, ",\"name\":\"");
    jb_cstr(b, fn);
    JS(b, "\",\"url\":\"https://api.github.com/repos/");
    jb_cstr(b, fn);
    JS(b, "\"},\"payload\":");

    uint64_t number = 1 + (hash3(c->o.seed, e->repo.idx, 50) % 3000) + rbelow(&r, 40);
    switch (e->type) {
    case T_PUSH: write_push_payload(c, e, &r, b, fn, hr); break;
    case T_CREATE: {
        uint32_t v = rbelow(&r, 10);
        if (v < 2)
            JS(b, "{\"ref\":null,\"ref_type\":\"repository\"");
        else if (v < 4) {
            JS(b, "{\"ref\":\"v");
            jb_u64(b, rbelow(&r, 4));
            jb_ch(b, '.');
            jb_u64(b, rbelow(&r, 20));
            JS(b, ".0\",\"ref_type\":\"tag\"");
        } else {
            JS(b, "{\"ref\":\"");
            write_ref_name(&r, b);
            JS(b, "\",\"ref_type\":\"branch\"");
        }
        JS(b, ",\"master_branch\":");
        jb_s(b, repo_default_branch(c, &e->repo));
        JS(b, ",\"description\":");
        if (rbelow(&r, 3) == 0)
            JS(b, "null");
        else
            JS(b, "\"Personal \\\"dotfiles\\\" & scripts \xf0\x9f\x9a\x80\"");
        JS(b, ",\"pusher_type\":\"user\"}");
        break;
    }
    case T_DELETE:
        JS(b, "{\"ref\":\"");
        write_ref_name(&r, b);
        JS(b, "\",\"ref_type\":\"branch\",\"pusher_type\":\"user\"}");
        break;
    case T_WATCH: JS(b, "{\"action\":\"started\"}"); break;
    case T_FORK: {
        /* the new fork: the forked repo's name and metadata under the
         * actor's login, with a fresh id (forks do not appear as repo.*
         * elsewhere in the data) */
        repo_info fk = e->repo;
        fk.fork = 1;
        fk.is_org = 0;
        fk.owner = e->actor;
        fk.renamed = 0;
        fk.lang_t = INT64_MAX;
        fk.lang = fk.lang2 = -1; /* forkee.language is nearly always null */
        fk.id = 5000000000LL + (e->id - 10000000000LL) / 2;
        fk.created_t = e->t;
        JS(b, "{\"forkee\":");
        write_repo_obj(c, b, &fk, e->t, 0, 0);
        jb_ch(b, '}');
        break;
    }
    case T_ISSUES: {
        static const char *const A[] = {"opened", "closed", "reopened"};
        JS(b, "{\"action\":\"");
        jb_cstr(b, A[rbelow(&r, 3)]);
        JS(b, "\",\"issue\":");
        write_issue_obj(c, e, &r, b, fn, number, 0, c->cal ? 100 : 1500);
        jb_ch(b, '}');
        break;
    }
    case T_ISSUECOMMENT:
        JS(b, "{\"action\":\"created\",\"issue\":");
        write_issue_obj(c, e, &r, b, fn, number, rbelow(&r, 2), c->cal ? 5000 : 1500);
        JS(b, ",\"comment\":");
        write_comment_obj(c, e, &r, b, fn, "/issues/comments/",
                          50 + (int)(rbelow(&r, 1200) * (c->cal && rbelow(&r, 4) == 0 ? 5 : 1)));
        jb_ch(b, '}');
        break;
    case T_PR: {
        static const char *const A[] = {"opened", "closed", "closed", "reopened", "synchronize"};
        const char *action = A[rbelow(&r, NELEM(A))];
        JS(b, "{\"action\":\"");
        jb_cstr(b, action);
        JS(b, "\",\"number\":");
        jb_u64(b, number);
        JS(b, ",\"pull_request\":");
        write_pr_obj(c, e, &r, b, fn, number, action);
        jb_ch(b, '}');
        break;
    }
    case T_PRREVIEW:
        JS(b, "{\"action\":\"created\",\"review\":{\"id\":");
        jb_u64(b, 2500000000ULL + (uint64_t)(e->id - 10000000000LL) / 5);
        JS(b, ",\"user\":");
        write_actor_user(c, b, e->actor);
        JS(b, ",\"body\":");
        if (c->cal ? rbelow(&r, 4) == 0 : rbelow(&r, 2) != 0)
            JS(b, "null");
        else if (c->cal) {
            JS(b, "\"LGTM \\ud83d\\udc4d, one nit about \\\"naming\\\"\\r\\n\\r\\n");
            write_body(&r, b, 200 + (int)rbelow(&r, 4000));
            jb_ch(b, '"');
        } else
            JS(b, "\"LGTM \\ud83d\\udc4d, one nit about \\\"naming\\\"\"");
        JS(b, ",\"commit_id\":\"");
        jb_sha(b, rnext(&r));
        JS(b, "\",\"submitted_at\":");
        jb_ts(b, e->t);
        JS(b, ",\"state\":\"");
        jb_cstr(b, rbelow(&r, 3) ? "approved" : "commented");
        JS(b, "\",\"html_url\":\"https://github.com/");
        jb_cstr(b, fn);
        JS(b, "/pull/");
        jb_u64(b, number);
        jb_ch(b, '"');
        if (!e->new_era) {
            JS(b, ",\"author_association\":\"");
            jb_cstr(b, assoc(&r));
            jb_ch(b, '"');
        }
        JS(b, "},\"pull_request\":");
        write_pr_obj(c, e, &r, b, fn, number, "opened");
        jb_ch(b, '}');
        break;
    case T_PRREVIEWCOMMENT:
        JS(b, "{\"action\":\"created\",\"comment\":");
        write_comment_obj(c, e, &r, b, fn, "/pulls/comments/", 40 + (int)rbelow(&r, 600));
        JS(b, ",\"pull_request\":");
        write_pr_obj(c, e, &r, b, fn, number, "opened");
        jb_ch(b, '}');
        break;
    case T_COMMITCOMMENT:
        JS(b, "{\"comment\":");
        write_comment_obj(c, e, &r, b, fn, "/comments/", 30 + (int)rbelow(&r, 400));
        jb_ch(b, '}');
        break;
    case T_RELEASE:
        JS(b, "{\"action\":\"published\",\"release\":{\"url\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        JS(b, "/releases/1\",\"id\":");
        jb_u64(b, 3000000000ULL + (uint64_t)(e->id - 10000000000LL) / 7);
        JS(b, ",\"tag_name\":\"v");
        jb_u64(b, rbelow(&r, 5));
        jb_ch(b, '.');
        jb_u64(b, rbelow(&r, 40));
        JS(b, ".0\",\"target_commitish\":\"main\",\"name\":\"Release notes \xe2\x80\x94 "
              "spring\",\"draft\":false,\"prerelease\":false,\"created_at\":");
        jb_ts(b, e->t - 60);
        JS(b, ",\"published_at\":");
        jb_ts(b, e->t);
        JS(b, ",\"author\":");
        write_actor_user(c, b, e->actor);
        JS(b, ",\"assets\":[],\"body\":\"");
        write_body(&r, b, 100 + (int)rbelow(&r, 3000));
        JS(b, "\"}}");
        break;
    case T_MEMBER:
        JS(b, "{\"member\":");
        write_actor_user(c, b, rzipf(&r, c->n_actors, 10));
        JS(b, ",\"action\":\"added\"}");
        break;
    case T_PUBLIC: JS(b, "{}"); break;
    case T_GOLLUM:
    default:
        JS(b,
           "{\"pages\":[{\"page_name\":\"Home\",\"title\":\"Home\",\"summary\":null,\"action\":\"edited\",\"sha\":\"");
        jb_sha(b, rnext(&r));
        JS(b, "\",\"html_url\":\"https://github.com/");
        jb_cstr(b, fn);
        JS(b, "/wiki/Home\"}]}");
        break;
    }
    JS(b, ",\"public\":true,\"created_at\":");
    jb_ts(b, e->t);
    if (e->repo.is_org) {
        sstr ol;
        jbuf ob = {ol.s, 0, sizeof ol.s, 0};
        org_login(c, e->repo.owner, &ob);
        int64_t oid = org_id(c, e->repo.owner);
        JS(b, ",\"org\":{\"id\":");
        jb_u64(b, (uint64_t)oid);
        JS(b, ",\"login\":\"");
        jb_put(b, ol.s, ob.len);
        JS(b, "\",\"gravatar_id\":\"\",\"url\":\"https://api.github.com/orgs/");
        jb_put(b, ol.s, ob.len);
        JS(b, "\",\"avatar_url\":\"https://avatars.githubusercontent.com/u/");
        jb_u64(b, (uint64_t)oid);
        JS(b, "?\"}");
    }
    JS(b, "}\n");
    if (hr)
        hr->by_type[e->type]++;
}

/* ------------------------------------------------------------ gzip out */

typedef struct gzout {
    FILE *f;
    struct isal_zstream zs;
    uint8_t *lvl;
    uint8_t *obuf;
    size_t osz;
    uint64_t written;
    int ioerr;
} gzout;

#define GZ_OBUF (1u << 20)

static int gz_open(gzout *g, const char *path, kiln_err *err)
{
    memset(g, 0, sizeof *g);
    g->f = fopen(path, "wb");
    if (!g->f)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    g->lvl = kiln_malloc(ISAL_DEF_LVL1_DEFAULT);
    g->obuf = kiln_malloc(GZ_OBUF);
    if (!g->lvl || !g->obuf)
        return KILN_OOM(err);
    isal_deflate_init(&g->zs);
    g->zs.level = 1;
    g->zs.level_buf = g->lvl;
    g->zs.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
    g->zs.gzip_flag = IGZIP_GZIP_NO_HDR;
    /* our own header: no name, mtime 0, XFL 0, OS 255 (unknown) */
    static const uint8_t hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    if (fwrite(hdr, 1, 10, g->f) != 10)
        g->ioerr = 1;
    g->written = 10;
    return 0;
}
static int gz_feed(gzout *g, const char *p, size_t n, int last)
{
    g->zs.next_in = (uint8_t *)p;
    g->zs.avail_in = (uint32_t)n;
    g->zs.end_of_stream = (uint16_t)last;
    do {
        g->zs.next_out = g->obuf;
        g->zs.avail_out = GZ_OBUF;
        if (isal_deflate(&g->zs) != COMP_OK)
            return -1;
        size_t got = GZ_OBUF - g->zs.avail_out;
        if (got && fwrite(g->obuf, 1, got, g->f) != got)
            g->ioerr = 1;
        g->written += got;
    } while (g->zs.avail_in > 0 || (last && g->zs.internal_state.state != ZSTATE_END));
    return g->ioerr ? -1 : 0;
}
static int gz_close(gzout *g)
{
    int rc = 0;
    if (g->f && fclose(g->f) != 0)
        rc = -1;
    g->f = NULL;
    kiln_free(g->lvl);
    kiln_free(g->obuf);
    g->lvl = g->obuf = NULL;
    return rc;
}

/* Complete lines in the decompressible prefix of a (truncated) gzip file. */
static uint64_t count_lines_prefix(const char *path)
{
    gzFile z = gzopen(path, "rb");
    if (!z)
        return 0;
    char buf[65536];
    uint64_t n = 0;
    int got;
    while ((got = gzread(z, buf, sizeof buf)) > 0)
        for (int i = 0; i < got; i++)
            n += buf[i] == '\n';
    gzclose(z);
    return n;
}

/* ------------------------------------------------------------ hour task */

typedef struct hour_task {
    gen_ctx *c;
    int h;
} hour_task;

static void ctx_fail(gen_ctx *c, const kiln_err *e)
{
    pthread_mutex_lock(&c->lock);
    if (!c->failed) {
        c->failed = 1;
        c->first_err = *e;
    }
    pthread_mutex_unlock(&c->lock);
}

static void hour_name(const gen_ctx *c, int h, char *out)
{
    kiln_gen_hour_name(c->o.start_day + h / c->hpd, h % c->hpd, out);
}

#define FLUSH_AT (1u << 20)

/* Put a lone surrogate escape and an escaped NUL into the first user-text
 * field of the record at b->p[start..]: real commit messages and bodies carry
 * them (reference: "Unicode"); strict readers such as DuckDB reject the line. */
static int inject_bad_unicode(jbuf *b, size_t start, hour_res *hr)
{
    static const char *const fields[] = {"\"message\":\"", "\"body\":\"", "\"title\":\""};
    static const char ins[] = "lone \\ud800 surrogate, NUL \\u0000 here: ";
    size_t ilen = sizeof ins - 1;
    for (size_t f = 0; f < NELEM(fields); f++) {
        char *hit = memmem(b->p + start, b->len - start, fields[f], strlen(fields[f]));
        if (!hit)
            continue;
        size_t at = (size_t)(hit - b->p) + strlen(fields[f]);
        if (jb_grow(b, ilen))
            return 0;
        memmove(b->p + at + ilen, b->p + at, b->len - at);
        memcpy(b->p + at, ins, ilen);
        b->len += ilen;
        hr->unicode_field = f == 0 ? "message" : f == 1 ? "body" : "title";
        return 1;
    }
    return 0;
}

static void gharchive_hour(void *arg, int worker)
{
    hour_task *ht = arg;
    gen_ctx *c = ht->c;
    int h = ht->h;
    hour_res *hr = &c->res[h];
    kiln_err err = {0};
    jbuf b = {0};
    gzout g = {0};
    char name[40], path[4200], tmp[4300];
    uint32_t n = hour_events(c, h);
    hour_name(c, h, name);
    gev e;
    if (h == c->q_missing) {
        /* still count what GitHub had: the file is just not there */
        for (uint32_t i = 0; i < n; i++) {
            gen_event(c, h, i, n, &e);
            b.len = 0;
            write_event(c, &e, &b, hr);
        }
        hr->events = n;
        hr->status = 1;
        /* a file left by an earlier run into the same directory must go */
        snprintf(path, sizeof path, "%s/%s", c->o.out_dir, name);
        if (unlink(path) != 0 && errno != ENOENT)
            kiln_err_set(&err, KILN_EIO, "cannot remove stale %s: %s", path, strerror(errno));
        goto done;
    }
    snprintf(path, sizeof path, "%s/%s", c->o.out_dir, name);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", c->o.out_dir, name);
    if (gz_open(&g, tmp, &err))
        goto done;
    /* duplicates: the last events of the previous hour appear again first */
    if (h == c->q_dup_src + 1 && c->q_dup_src >= 0) {
        uint32_t pn = hour_events(c, h - 1);
        uint32_t k = (uint32_t)c->ndup < pn ? (uint32_t)c->ndup : pn;
        for (uint32_t i = pn - k; i < pn; i++) {
            gen_event(c, h - 1, i, pn, &e);
            write_event(c, &e, &b, NULL);
            hr->dup_ids[hr->ndup++] = e.id;
            hr->lines++;
        }
    }
    uint32_t nul_at = h == c->q_nul ? n / 2 : UINT32_MAX;
    uint32_t bad_at = h == c->q_malformed ? n / 3 : UINT32_MAX;
    /* the lone-surrogate line goes into the malformed file (so readers that
     * set the malformed file aside set this one aside too) */
    uint32_t uni_from = h == c->q_malformed ? n / 4 : UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        gen_event(c, h, i, n, &e);
        size_t start = b.len;
        write_event(c, &e, &b, hr);
        hr->lines++;
        if (i == bad_at) {
            /* cut the record mid-way: a malformed line */
            size_t len = b.len - start;
            b.len = start + len / 2;
            jb_ch(&b, '\n');
            hr->malformed_line = hr->lines;
            hr->malformed_id = e.id;
        }
        if (i >= uni_from && i != bad_at && !hr->unicode_line && inject_bad_unicode(&b, start, hr)) {
            hr->unicode_line = hr->lines;
            hr->unicode_id = e.id;
        }
        if (i == nul_at) {
            size_t k = 1000 + (size_t)(hash3(c->o.seed, (uint64_t)h, 99) % 3000);
            if (jb_grow(&b, k) == 0) {
                memset(b.p + b.len, 0, k);
                b.len += k;
            }
            hr->nul_after_line = hr->lines;
            hr->nul_after_id = e.id;
            hr->nul_bytes = k;
        }
        if (b.oom) {
            kiln_err_set(&err, KILN_ENOMEM, "out of memory writing %s", name);
            goto done;
        }
        if (b.len >= FLUSH_AT) {
            hr->json_bytes += b.len;
            if (gz_feed(&g, b.p, b.len, 0)) {
                kiln_err_set(&err, KILN_EIO, "%s: compress/write failed (disk full?)", tmp);
                goto done;
            }
            b.len = 0;
        }
    }
    hr->events = n;
    hr->json_bytes += b.len;
    if (gz_feed(&g, b.p, b.len, 1) || gz_close(&g)) {
        kiln_err_set(&err, KILN_EIO, "%s: compress/write failed (disk full?)", tmp);
        goto done;
    }
    hr->gz_bytes = g.written;
    if (h == c->q_trunc) {
        uint64_t keep = g.written * 3 / 5;
        if (truncate(tmp, (off_t)keep) != 0) {
            kiln_err_set(&err, KILN_EIO, "truncate %s: %s", tmp, strerror(errno));
            goto done;
        }
        hr->status = 2;
        hr->trunc_full = g.written;
        hr->trunc_kept = keep;
        hr->gz_bytes = keep;
        hr->trunc_lines = count_lines_prefix(tmp);
    }
    if (rename(tmp, path) != 0) {
        kiln_err_set(&err, KILN_EIO, "rename %s: %s", path, strerror(errno));
        goto done;
    }
    hr->files = 1;
done:
    gz_close(&g);
    kiln_free(b.p);
    if (err.code)
        ctx_fail(c, &err);
}

/* ------------------------------------------------------------ setup */

void kiln_gen_opts_init(kiln_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->start_day = kiln_days_from_civil(2025, 1, 1);
    o->days = 1;
    o->hours = 24;
    o->scale = 0.001;
    o->seed = 1;
}

void kiln_gen_hour_name(int64_t day, int hour, char *out)
{
    int y, m, d;
    kiln_civil_from_days(day, &y, &m, &d);
    snprintf(out, 32, "%04d-%02d-%02d-%d.json.gz", y, m, d, hour);
}

static int ctx_init(gen_ctx *c, const kiln_gen_opts *o, int api, kiln_err *err)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->o = *o;
    c->cal = o->mix == KILN_GEN_MIX_REAL2025;
    c->hpd = o->hours ? o->hours : 24;
    if (!o->out_dir || !o->out_dir[0])
        return kiln_err_set(err, KILN_EINVAL, "gen: an output directory is required (--out DIR)");
    if (o->days < 1 || o->days > KILN_GEN_MAX_DAYS)
        return kiln_err_set(err, KILN_EINVAL, "gen: --days %d out of range (1..%d)", o->days, KILN_GEN_MAX_DAYS);
    if (c->hpd < 1 || c->hpd > 24)
        return kiln_err_set(err, KILN_EINVAL, "gen: --hours %d out of range (1..24)", o->hours);
    if (!(o->scale > 0) || o->scale > KILN_GEN_MAX_SCALE)
        return kiln_err_set(err, KILN_EINVAL, "gen: --scale %g out of range (0 < scale <= %g)", o->scale,
                            KILN_GEN_MAX_SCALE);
    if (o->start_day < kiln_days_from_civil(2015, 1, 1) || o->start_day > kiln_days_from_civil(2099, 1, 1))
        return kiln_err_set(err, KILN_EINVAL,
                            "gen: --start must be between 2015-01-01 and 2099-01-01 "
                            "(the 2011-2014 Timeline format is not generated)");
    c->T = o->days * c->hpd;
    c->api = api;
    c->n_repos = (uint32_t)fmax(800, 2e6 * o->scale);
    c->n_actors = (uint32_t)fmax(600, 1.5e6 * o->scale);
    c->n_orgs = (uint32_t)fmax(80, 2e5 * o->scale);
    c->id_stride = 1000000ULL * (uint64_t)ceil(o->scale);
    c->q_missing = c->q_trunc = c->q_nul = c->q_malformed = c->q_dup_src = -1;
    if (o->quirks && !api && c->T < KILN_GEN_QUIRKS_MIN_HOURS)
        return kiln_err_set(err, KILN_EINVAL,
                            "gen: --quirks needs a span of at least %d hours (--days x --hours) to hold all its "
                            "faults; this one has %d",
                            KILN_GEN_QUIRKS_MIN_HOURS, c->T);
    if (o->quirks && !api) {
        /* distinct hours picked by a seeded shuffle: the duplicates take
         * two adjacent hours, each other fault one more */
        int T = c->T;
        int *perm = kiln_malloc(sizeof(int) * (size_t)T);
        if (!perm)
            return KILN_OOM(err);
        for (int i = 0; i < T; i++)
            perm[i] = i;
        rng r = {hash3(o->seed, 0x9a1c5ULL, 1)};
        for (int i = T - 1; i > 0; i--) {
            int j = (int)rbelow(&r, (uint32_t)i + 1);
            int t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        /* duplicates first: source s with s+1 in range */
        for (int i = 0; i < T; i++)
            if (perm[i] + 1 < T) {
                c->q_dup_src = perm[i];
                c->ndup = 3 + (int)rbelow(&r, 4);
                break;
            }
        int *slots[] = {&c->q_missing, &c->q_trunc, &c->q_nul, &c->q_malformed};
        for (int i = 0, s = 0; i < T && s < (int)NELEM(slots); i++) {
            int hh = perm[i];
            if (hh == c->q_dup_src || hh == c->q_dup_src + 1)
                continue;
            *slots[s++] = hh;
        }
        kiln_free(perm);
    }
    c->res = kiln_calloc((size_t)c->T, sizeof *c->res);
    if (!c->res)
        return KILN_OOM(err);
    return kiln_mkdirs(o->out_dir, err);
}
static void ctx_free(gen_ctx *c)
{
    kiln_free(c->res);
    kiln_free(c->repo_seen);
    kiln_free(c->repo_push);
    pthread_mutex_destroy(&c->lock);
}

static int run_hours(gen_ctx *c, kiln_task_fn fn, kiln_err *err)
{
    int rc = 0;
    kiln_pool *pool = NULL;
    hour_task *tasks = kiln_calloc((size_t)c->T, sizeof *tasks);
    if (!tasks)
        return KILN_OOM(err);
    int nt = c->o.threads > 0 ? c->o.threads : kiln_ncpus();
    if (nt > c->T)
        nt = c->T;
    if ((rc = kiln_pool_new(&pool, nt, err)))
        goto done;
    for (int h = 0; h < c->T; h++) {
        tasks[h] = (hour_task){c, h};
        if ((rc = kiln_pool_submit(pool, fn, &tasks[h], err)))
            goto done;
    }
    kiln_pool_wait(pool);
    if (c->failed) {
        *err = c->first_err;
        rc = c->first_err.code ? c->first_err.code : KILN_EINTERNAL;
    }
done:
    kiln_pool_free(pool);
    kiln_free(tasks);
    return rc;
}

static int write_text(const char *dir, const char *name, const jbuf *b, kiln_err *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (b->oom)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory writing %s", path);
    return kiln_file_write_atomic(path, b->p, b->len, err);
}

static void jb_kv_u64(jbuf *b, const char *k, uint64_t v, int comma)
{
    if (comma)
        jb_ch(b, ',');
    jb_ch(b, '"');
    jb_cstr(b, k);
    JS(b, "\":");
    jb_u64(b, v);
}

static void write_renames(const gen_ctx *c, jbuf *b)
{
    JS(b, "\"renames\":[");
    int first = 1;
    uint32_t lim = c->n_repos < 3000 ? c->n_repos : 3000;
    for (uint32_t r = 0; r < lim; r++) {
        repo_info ri;
        repo_get(c, r, &ri);
        if (!ri.renamed)
            continue;
        jb_cstr(b, first ? "\n  {\"repo_id\":" : ",\n  {\"repo_id\":");
        first = 0;
        jb_u64(b, (uint64_t)ri.id);
        JS(b, ",\"old_name\":\"");
        repo_full_name(c, &ri, ri.rename_t - 1, b);
        JS(b, "\",\"new_name\":\"");
        repo_full_name(c, &ri, ri.rename_t, b);
        JS(b, "\",\"renamed_at\":");
        jb_ts(b, ri.rename_t);
        jb_ch(b, '}');
    }
    JS(b, "]");
}

static int write_manifests(gen_ctx *c, kiln_gen_report *rep, kiln_err *err)
{
    jbuf b = {0};
    int rc;
    char name[40];
    JS(&b, "{\"_comment\":\"generator-side ground truth written by kiln gen gharchive; per hour: what the "
           "simulated GitHub produced (events) and what the file holds (file_*). Engine tests should also "
           "recompute these independently.\",\n\"seed\":");
    jb_u64(&b, c->o.seed);
    JS(&b, ",\"scale\":");
    char sc[32];
    snprintf(sc, sizeof sc, "%.17g", c->o.scale);
    jb_cstr(&b, sc);
    JS(&b, ",\"quirks\":");
    jb_cstr(&b, c->o.quirks ? "true" : "false");
    JS(&b, ",\"push_era_switch\":\"2025-10-07T00:00:00Z\",\n");
    write_renames(c, &b);
    JS(&b, ",\n\"hours\":[");
    uint64_t tot[8] = {0};
    for (int h = 0; h < c->T; h++) {
        hour_res *r = &c->res[h];
        hour_name(c, h, name);
        jb_cstr(&b, h ? ",\n {\"file\":\"" : "\n {\"file\":\"");
        jb_cstr(&b, name);
        JS(&b, "\",\"hour_start\":");
        jb_ts(&b, hour_start(c, h));
        JS(&b, ",\"status\":\"");
        jb_cstr(&b, r->status == 1 ? "missing" : r->status == 2 ? "truncated" : "ok");
        jb_ch(&b, '"');
        jb_kv_u64(&b, "events", r->events, 1);
        jb_kv_u64(&b, "push_events", r->pushes, 1);
        jb_kv_u64(&b, "size_sum", r->size_sum, 1);
        jb_kv_u64(&b, "distinct_size_sum", r->distinct_sum, 1);
        jb_kv_u64(&b, "commits_listed", r->commits_listed, 1);
        jb_kv_u64(&b, "intended_size_sum", r->intended_size_sum, 1);
        jb_kv_u64(&b, "intended_distinct_size_sum", r->intended_distinct_sum, 1);
        JS(&b, ",\"by_type\":{");
        for (int t = 0; t < T_NTYPES; t++)
            jb_kv_u64(&b, TYPE_NAME[t], r->by_type[t], t > 0);
        jb_ch(&b, '}');
        uint64_t valid = r->status == 1 ? 0 : r->lines - (r->malformed_line ? 1 : 0);
        jb_kv_u64(&b, "file_lines", r->status == 1 ? 0 : r->lines, 1);
        jb_kv_u64(&b, "file_valid_events", valid, 1);
        jb_kv_u64(&b, "file_duplicates", (uint64_t)r->ndup, 1);
        jb_kv_u64(&b, "json_bytes", r->json_bytes, 1);
        jb_kv_u64(&b, "gz_bytes", r->gz_bytes, 1);
        jb_ch(&b, '}');
        tot[0] += r->events;
        tot[1] += r->pushes;
        tot[2] += r->distinct_sum;
        tot[3] += r->commits_listed;
        tot[4] += r->json_bytes;
        tot[5] += r->gz_bytes;
        tot[6] += r->files;
        tot[7] += r->size_sum;
    }
    JS(&b, "\n],\"totals\":{");
    jb_kv_u64(&b, "hours", (uint64_t)c->T, 0);
    jb_kv_u64(&b, "files", tot[6], 1);
    jb_kv_u64(&b, "events", tot[0], 1);
    jb_kv_u64(&b, "push_events", tot[1], 1);
    jb_kv_u64(&b, "size_sum", tot[7], 1);
    jb_kv_u64(&b, "distinct_size_sum", tot[2], 1);
    jb_kv_u64(&b, "commits_listed", tot[3], 1);
    jb_kv_u64(&b, "json_bytes", tot[4], 1);
    jb_kv_u64(&b, "gz_bytes", tot[5], 1);
    JS(&b, "}}\n");
    if ((rc = write_text(c->o.out_dir, "_manifest.json", &b, err)))
        goto done;
    if (rep) {
        rep->hours = (uint64_t)c->T;
        rep->files = tot[6];
        rep->events = tot[0];
        rep->push_events = tot[1];
        rep->json_bytes = tot[4];
        rep->gz_bytes = tot[5];
    }
    if (!c->o.quirks) {
        /* no stale fault list from an earlier --quirks run */
        char qpath[4200];
        snprintf(qpath, sizeof qpath, "%s/_quirks.json", c->o.out_dir);
        if (unlink(qpath) != 0 && errno != ENOENT)
            rc = kiln_err_set(err, KILN_EIO, "cannot remove stale %s: %s", qpath, strerror(errno));
        goto done;
    }
    b.len = 0;
    JS(&b, "{\"_comment\":\"faults injected by kiln gen gharchive --quirks; lines are 1-based in the "
           "decompressed file\",\n\"missing_hours\":[");
    if (c->q_missing >= 0) {
        hour_name(c, c->q_missing, name);
        jb_s(&b, name);
    }
    JS(&b, "],\n\"truncated\":[");
    if (c->q_trunc >= 0) {
        hour_res *r = &c->res[c->q_trunc];
        hour_name(c, c->q_trunc, name);
        JS(&b, "{\"file\":");
        jb_s(&b, name);
        jb_kv_u64(&b, "kept_bytes", r->trunc_kept, 1);
        jb_kv_u64(&b, "full_bytes", r->trunc_full, 1);
        jb_kv_u64(&b, "complete_lines", r->trunc_lines, 1);
        jb_kv_u64(&b, "lines_written", r->lines, 1);
        jb_ch(&b, '}');
    }
    JS(&b, "],\n\"nul_runs\":[");
    if (c->q_nul >= 0) {
        hour_res *r = &c->res[c->q_nul];
        hour_name(c, c->q_nul, name);
        JS(&b, "{\"file\":");
        jb_s(&b, name);
        jb_kv_u64(&b, "after_line", r->nul_after_line, 1);
        JS(&b, ",\"after_event_id\":\"");
        jb_u64(&b, (uint64_t)r->nul_after_id);
        jb_ch(&b, '"');
        jb_kv_u64(&b, "bytes", r->nul_bytes, 1);
        jb_ch(&b, '}');
    }
    JS(&b, "],\n\"malformed\":[");
    if (c->q_malformed >= 0) {
        hour_res *r = &c->res[c->q_malformed];
        hour_name(c, c->q_malformed, name);
        JS(&b, "{\"file\":");
        jb_s(&b, name);
        jb_kv_u64(&b, "line", r->malformed_line, 1);
        JS(&b, ",\"event_id\":\"");
        jb_u64(&b, (uint64_t)r->malformed_id);
        JS(&b, "\"}");
    }
    JS(&b, "],\n\"bad_unicode\":[");
    if (c->q_malformed >= 0 && c->res[c->q_malformed].unicode_line) {
        hour_res *r = &c->res[c->q_malformed];
        hour_name(c, c->q_malformed, name);
        JS(&b, "{\"file\":");
        jb_s(&b, name);
        jb_kv_u64(&b, "line", r->unicode_line, 1);
        JS(&b, ",\"event_id\":\"");
        jb_u64(&b, (uint64_t)r->unicode_id);
        JS(&b, "\",\"field\":");
        jb_s(&b, r->unicode_field);
        jb_ch(&b, '}');
    }
    JS(&b, "],\n\"duplicates\":[");
    if (c->q_dup_src >= 0) {
        hour_res *r = &c->res[c->q_dup_src + 1];
        JS(&b, "{\"file\":");
        hour_name(c, c->q_dup_src + 1, name);
        jb_s(&b, name);
        JS(&b, ",\"from_file\":");
        hour_name(c, c->q_dup_src, name);
        jb_s(&b, name);
        JS(&b, ",\"lines\":\"1-");
        jb_u64(&b, (uint64_t)r->ndup);
        JS(&b, "\",\"ids\":[");
        for (int i = 0; i < r->ndup; i++) {
            if (i)
                jb_ch(&b, ',');
            jb_ch(&b, '"');
            jb_u64(&b, (uint64_t)r->dup_ids[i]);
            jb_ch(&b, '"');
        }
        JS(&b, "]}");
    }
    JS(&b, "]}\n");
    rc = write_text(c->o.out_dir, "_quirks.json", &b, err);
done:
    kiln_free(b.p);
    return rc;
}

int kiln_gen_gharchive(const kiln_gen_opts *opts, kiln_gen_report *out, kiln_err *err)
{
    gen_ctx c;
    double t0 = kiln_mono_seconds();
    int rc = ctx_init(&c, opts, 0, err);
    if (rc == 0)
        rc = run_hours(&c, gharchive_hour, err);
    if (rc == 0)
        rc = write_manifests(&c, out, err);
    if (rc == 0 && out)
        out->seconds = kiln_mono_seconds() - t0;
    ctx_free(&c);
    return rc;
}

/* ------------------------------------------------------------ API files */

static int write_file_mk(const char *path, const jbuf *b, kiln_err *err)
{
    if (b->oom)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory writing %s", path);
    FILE *f = fopen(path, "wb");
    if (!f && errno == ENOENT) {
        char dir[4200];
        snprintf(dir, sizeof dir, "%s", path);
        char *s = strrchr(dir, '/');
        if (s) {
            *s = 0;
            int rc = kiln_mkdirs(dir, err);
            if (rc)
                return rc;
        }
        f = fopen(path, "wb");
    }
    if (!f)
        return kiln_err_set(err, KILN_EIO, "%s: %s", path, strerror(errno));
    size_t w = fwrite(b->p, 1, b->len, f);
    if (fclose(f) != 0 || w != b->len)
        return kiln_err_set(err, KILN_EIO, "%s: write failed (disk full?)", path);
    return 0;
}

/* compare/{owner}/{repo}/{base}...{head}.json for one post-era push. */
static int write_compare(const gen_ctx *c, const gev *e, jbuf *b, jbuf *pb, kiln_err *err)
{
    char fn[200], headsha[41], before[41];
    jbuf f = {fn, 0, sizeof fn, 0};
    repo_full_name(c, &e->repo, e->t, &f);
    fn[f.len] = 0;
    sha_str(head_key(e), headsha);
    if (e->ref_kind != 0)
        snprintf(before, sizeof before, "%s", repo_default_branch(c, &e->repo));
    else
        sha_str(e->seed ^ 0xbef0eULL, before);
    b->len = 0;
    JS(b, "{\"url\":\"https://api.github.com/repos/");
    jb_cstr(b, fn);
    JS(b, "/compare/");
    jb_cstr(b, before);
    JS(b, "...");
    jb_cstr(b, headsha);
    JS(b, "\",\"html_url\":\"https://github.com/");
    jb_cstr(b, fn);
    JS(b, "/compare/");
    jb_cstr(b, before);
    JS(b, "...");
    jb_cstr(b, headsha);
    JS(b, "\",\"status\":\"");
    jb_cstr(b, e->size > 0 ? "ahead" : "identical");
    JS(b, "\",\"ahead_by\":");
    jb_u64(b, (uint64_t)e->size);
    JS(b, ",\"behind_by\":0,\"total_commits\":");
    jb_u64(b, (uint64_t)e->size);
    JS(b, ",\"distinct_commits\":");
    jb_u64(b, (uint64_t)e->distinct);
    JS(b, ",\"commits\":[");
    int lim = e->size < MAX_COMPARE ? e->size : MAX_COMPARE;
    for (int k = 0; k < lim; k++) {
        rng cr;
        uint32_t au = commit_author(c, e, k, &cr);
        if (k)
            jb_ch(b, ',');
        JS(b, "{\"sha\":\"");
        jb_sha(b, commit_key(e, k));
        JS(b, "\",\"commit\":{\"author\":{\"name\":\"");
        actor_name(c, au, b);
        JS(b, "\",\"email\":\"");
        actor_email(c, au, b);
        JS(b, "\",\"date\":");
        jb_ts(b, e->t - 60 * (int64_t)(lim - k));
        JS(b, "},\"committer\":{\"name\":\"GitHub\",\"email\":\"noreply@github.com\",\"date\":");
        jb_ts(b, e->t - 60 * (int64_t)(lim - k));
        JS(b, "},\"message\":\"");
        write_message(&cr, b, c->cal);
        JS(b, "\",\"comment_count\":0},\"url\":\"https://api.github.com/repos/");
        jb_cstr(b, fn);
        JS(b, "/commits/");
        jb_sha(b, commit_key(e, k));
        JS(b, "\",\"parents\":[{\"sha\":\"");
        if (k == 0) {
            if (e->ref_kind == 0)
                jb_sha(b, e->seed ^ 0xbef0eULL);
            else
                jb_sha(b, e->seed ^ 0xba5eULL);
        } else {
            jb_sha(b, commit_key(e, k - 1));
        }
        JS(b, "\"}]}");
    }
    JS(b, "],\"files\":[]}\n");
    pb->len = 0;
    jb_cstr(pb, c->o.out_dir);
    JS(pb, "/compare/");
    jb_cstr(pb, fn);
    jb_ch(pb, '/');
    jb_cstr(pb, before);
    JS(pb, "...");
    jb_cstr(pb, headsha);
    JS(pb, ".json");
    jb_ch(pb, 0);
    return write_file_mk(pb->p, b, err);
}

static void api_hour(void *arg, int worker)
{
    hour_task *ht = arg;
    gen_ctx *c = ht->c;
    int h = ht->h;
    hour_res *hr = &c->res[h];
    kiln_err err = {0};
    jbuf b = {0}, pb = {0};
    uint32_t n = hour_events(c, h);
    gev e;
    for (uint32_t i = 0; i < n; i++) {
        gen_event(c, h, i, n, &e);
        hr->events++;
        int64_t v = e.t + 1, cur = __atomic_load_n(&c->repo_seen[e.repo.idx], __ATOMIC_RELAXED);
        while (cur < v && !__atomic_compare_exchange_n(&c->repo_seen[e.repo.idx], &cur, v, 1, __ATOMIC_RELAXED,
                                                       __ATOMIC_RELAXED)) {
        }
        if (e.type != T_PUSH)
            continue;
        cur = __atomic_load_n(&c->repo_push[e.repo.idx], __ATOMIC_RELAXED);
        while (cur < v && !__atomic_compare_exchange_n(&c->repo_push[e.repo.idx], &cur, v, 1, __ATOMIC_RELAXED,
                                                       __ATOMIC_RELAXED)) {
        }
        hr->pushes++;
        hr->intended_size_sum += (uint64_t)e.size;
        hr->intended_distinct_sum += (uint64_t)e.distinct;
        if (!e.new_era)
            continue;
        if (write_compare(c, &e, &b, &pb, &err))
            goto done;
        hr->files++;
        hr->json_bytes += b.len;
    }
done:
    kiln_free(b.p);
    kiln_free(pb.p);
    if (err.code)
        ctx_fail(c, &err);
}

static int write_repo_files(gen_ctx *c, kiln_gen_report *rep, kiln_err *err)
{
    int rc = 0;
    jbuf b = {0}, pb = {0};
    int64_t end_t = hour_start(c, c->T - 1) + 3600;
    for (uint32_t r = 0; r < c->n_repos; r++) {
        if (!c->repo_seen[r])
            continue;
        repo_info ri;
        repo_get(c, r, &ri);
        /* the API answers with the current state: name and language at the end */
        b.len = 0;
        /* pushed_at: the last push in the range, if any */
        write_repo_obj(c, &b, &ri, end_t, 1, c->repo_push[r] ? c->repo_push[r] - 1 : 0);
        jb_ch(&b, '\n');
        for (int pass = 0; pass < (ri.renamed ? 2 : 1); pass++) {
            pb.len = 0;
            jb_cstr(&pb, c->o.out_dir);
            JS(&pb, "/repos/");
            repo_full_name(c, &ri, pass ? ri.rename_t - 1 : end_t, &pb);
            JS(&pb, ".json");
            jb_ch(&pb, 0);
            if ((rc = write_file_mk(pb.p, &b, err)))
                goto done;
            rep->files++;
            rep->json_bytes += b.len;
        }
        /* history: names and languages with validity starts */
        b.len = 0;
        JS(&b, "{\"repo_id\":");
        jb_u64(&b, (uint64_t)ri.id);
        JS(&b, ",\"names\":[{\"from\":");
        jb_ts(&b, ri.created_t);
        JS(&b, ",\"full_name\":\"");
        repo_full_name(c, &ri, ri.renamed ? ri.rename_t - 1 : end_t, &b);
        JS(&b, "\"}");
        if (ri.renamed) {
            JS(&b, ",{\"from\":");
            jb_ts(&b, ri.rename_t);
            JS(&b, ",\"full_name\":\"");
            repo_full_name(c, &ri, ri.rename_t, &b);
            JS(&b, "\"}");
        }
        JS(&b, "],\"languages\":[{\"from\":");
        jb_ts(&b, ri.created_t);
        JS(&b, ",\"language\":");
        if (ri.lang < 0)
            JS(&b, "null");
        else
            jb_s(&b, LANGS[ri.lang]);
        jb_ch(&b, '}');
        if (ri.lang_t != INT64_MAX) {
            JS(&b, ",{\"from\":");
            jb_ts(&b, ri.lang_t);
            JS(&b, ",\"language\":");
            if (ri.lang2 < 0)
                JS(&b, "null");
            else
                jb_s(&b, LANGS[ri.lang2]);
            jb_ch(&b, '}');
        }
        JS(&b, "],\"last_event_at\":");
        jb_ts(&b, c->repo_seen[r] - 1);
        JS(&b, "}\n");
        pb.len = 0;
        jb_cstr(&pb, c->o.out_dir);
        JS(&pb, "/repos/");
        repo_full_name(c, &ri, end_t, &pb);
        JS(&pb, ".history.json");
        jb_ch(&pb, 0);
        if ((rc = write_file_mk(pb.p, &b, err)))
            goto done;
        rep->files++;
        rep->json_bytes += b.len;
    }
done:
    kiln_free(b.p);
    kiln_free(pb.p);
    return rc;
}

int kiln_gen_github_api(const kiln_gen_opts *opts, kiln_gen_report *out, kiln_err *err)
{
    gen_ctx c;
    kiln_gen_report rep = {0};
    jbuf b = {0};
    double t0 = kiln_mono_seconds();
    int rc = ctx_init(&c, opts, 1, err);
    if (rc)
        goto done;
    c.repo_seen = kiln_calloc(c.n_repos, sizeof(int64_t));
    c.repo_push = kiln_calloc(c.n_repos, sizeof(int64_t));
    if (!c.repo_seen || !c.repo_push) {
        rc = KILN_OOM(err);
        goto done;
    }
    if ((rc = run_hours(&c, api_hour, err)))
        goto done;
    if ((rc = write_repo_files(&c, &rep, err)))
        goto done;
    uint64_t compares = 0, isz = 0, idist = 0, pushes_new = 0;
    for (int h = 0; h < c.T; h++) {
        rep.events += c.res[h].events;
        rep.push_events += c.res[h].pushes;
        compares += c.res[h].files;
        rep.json_bytes += c.res[h].json_bytes;
        if (hour_start(&c, h) >= ERA_T) {
            isz += c.res[h].intended_size_sum;
            idist += c.res[h].intended_distinct_sum;
            pushes_new += c.res[h].pushes;
        }
    }
    rep.files += compares;
    rep.hours = (uint64_t)c.T;
    JS(&b, "{\"_comment\":\"generator-side ground truth written by kiln gen github-api: compare files cover every "
           "push on or after 2025-10-07; sums are over those pushes\",\n");
    jb_kv_u64(&b, "compare_files", compares, 0);
    jb_kv_u64(&b, "pushes_after_switch", pushes_new, 1);
    jb_kv_u64(&b, "total_commits_sum", isz, 1);
    jb_kv_u64(&b, "distinct_commits_sum", idist, 1);
    jb_kv_u64(&b, "repo_files", rep.files - compares, 1);
    JS(&b, ",\n");
    write_renames(&c, &b);
    JS(&b, "}\n");
    if ((rc = write_text(opts->out_dir, "_api_manifest.json", &b, err)))
        goto done;
    rep.files++;
    rep.seconds = kiln_mono_seconds() - t0;
    if (out)
        *out = rep;
done:
    kiln_free(b.p);
    ctx_free(&c);
    return rc;
}
