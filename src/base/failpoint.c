/*
 * failpoint.c - named crash points for the fault tests (docs/faults.md).
 *
 * KILN_FAILPOINT=NAME[:N][,NAME[:N]...] makes the N-th (default first)
 * pass of this process through kiln_failpoint(NAME) kill the process with
 * SIGKILL on the spot: no atexit handlers, no buffered output flushed, no
 * temp files removed, exactly what `kill -9` or a power cut leaves. Before
 * dying it appends "NAME PID" to $KILN_FAILPOINT_LOG (when set), so a test
 * can tell that the point was reached; the process's own exit status is
 * 137 as for kill -9.
 *
 * The same variable carries a few test hooks with a value (NAME=VALUE, see
 * g_valued), which their call sites read; they never kill.
 *
 * KILN_FAILPOINT_ONCE=PATH: fire only in the process that creates PATH
 * (O_EXCL), so of a scheduler's runners and their tasks, which all inherit
 * the environment, exactly one dies.
 *
 * The environment is read once, by a constructor. With KILN_FAILPOINT unset
 * a failpoint is one load and one well-predicted branch. A name that is not
 * in the table below is refused at start-up (exit 2) so a typo cannot make a
 * fault test pass without the fault; the e2e test fault_list checks that the
 * table, the kiln_failpoint() calls in src/ and docs/faults.md agree.
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static const kiln_failpoint_info g_points[] = {
    {"lake.commit.before_metadata", "lake: data and manifest files written, next vN.metadata.json not yet"},
    {"lake.commit.before_link", "lake: new metadata in its temp file, not yet linked to vN.metadata.json"},
    {"lake.commit.after_link", "lake: vN.metadata.json linked (committed), catalog row not yet swapped"},
    {"lake.commit.after_catalog", "lake: catalog row swapped and its transaction committed"},
    {"flow.run.started", "flow: dag_run row set to running"},
    {"flow.try.spawning", "flow: task instance claimed (its lock held), no process and no try row yet"},
    {"flow.try.spawned", "flow: task process started, its try row and instance say running"},
    {"flow.try.recorded", "flow: task try's outcome written, idempotency key not yet"},
    {"flow.idem.recorded", "flow: idempotency key written, task instance not yet success"},
    {"flow.run.finished", "flow: dag_run row set to success or failed"},
    {"serve.hook.after_data", "serve: webhook gzip member fsynced, delivery log line not yet written"},
    {"serve.hook.after_log", "serve: delivery log line fsynced, 202 not yet sent"},
    {"store.put.before", "store: an object put (data file, manifest, raw hour file) about to start"},
};

#define NPOINTS (sizeof g_points / sizeof g_points[0])

/* Test hooks that take a value (NAME=VALUE entries of the same variable),
 * read at their call site: accepted here so that the start-up check above
 * refuses only what no part of kiln reads. docs/faults.md lists them. */
static const kiln_failpoint_info g_valued[] = {
    {"lake.rewrite.before-commit=wait:PATH", /* src/lake/iceberg_rewrite.c */
     "hook, lake: the first rewrite commit creates PATH.ready, waits until PATH exists"},
    {"lake.multi=crash-before-commit|crash-after-first", /* src/lake/iceberg_multi.c */
     "hook, lake: a multi-table commit (a branch backfill's publish) exits as kill -9 does, before its commit "
     "point or after linking its first table"},
    {"flow.task=DAG.TASK[@DATE]:fail-tries=N", /* src/flow/task_lib.c */
     "hook, flow: tries 1..N of that in-process task fail (exit 1) before the call"},
};
#define NVALUED (sizeof g_valued / sizeof g_valued[0])
/* the NAME of a hook's "NAME=VALUE" */
static int valued_is(size_t k, const char *name, size_t len)
{
    return strcspn(g_valued[k].name, "=") == len && memcmp(g_valued[k].name, name, len) == 0;
}

const kiln_failpoint_info *kiln_failpoint_hooks(size_t *n)
{
    *n = NVALUED;
    return g_valued;
}

volatile int kiln_failpoint__armed;
static int g_at[NPOINTS]; /* N of NAME:N; 0 = not armed */
static int g_hits[NPOINTS];

const kiln_failpoint_info *kiln_failpoint_list(size_t *n)
{
    *n = NPOINTS;
    return g_points;
}

static int lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < NPOINTS; i++)
        if (strlen(g_points[i].name) == len && memcmp(g_points[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

__attribute__((constructor)) static void failpoint_init(void)
{
    const char *spec = getenv("KILN_FAILPOINT");
    if (!spec || !*spec)
        return;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) { /* NAME=VALUE: a valued hook; its value may hold ':' and ',' */
            size_t vl = (size_t)(eq - p), k = 0;
            for (; k < NVALUED; k++)
                if (valued_is(k, p, vl))
                    break;
            if (k == NVALUED) {
                fprintf(stderr, "kiln: KILN_FAILPOINT=%s: no test hook named '%.*s' (docs/faults.md lists them)\n",
                        spec, (int)vl, p);
                _exit(2);
            }
            /* skip to the next entry that starts with a known name */
            const char *q = end;
            while (q) {
                const char *n = q + 1, *ne = strpbrk(n, ",=:");
                size_t nl = ne ? (size_t)(ne - n) : strlen(n);
                if (lookup(n, nl) >= 0)
                    break;
                int known = 0;
                for (size_t j = 0; j < NVALUED; j++)
                    known |= valued_is(j, n, nl) && ne && *ne == '=';
                if (known)
                    break;
                q = strchr(n, ',');
            }
            p = q ? q + 1 : p + strlen(p);
            continue;
        }
        const char *colon = memchr(p, ':', len);
        size_t nlen = colon ? (size_t)(colon - p) : len;
        int at = 1;
        if (colon) {
            char num[16];
            size_t dl = len - nlen - 1;
            char *e = NULL;
            long v = 0;
            if (dl > 0 && dl < sizeof num) {
                memcpy(num, colon + 1, dl);
                num[dl] = 0;
                v = strtol(num, &e, 10);
            }
            if (!e || *e || v < 1 || v > 1000000) {
                fprintf(stderr, "kiln: KILN_FAILPOINT=%s: the count after ':' must be 1..1000000\n", spec);
                _exit(2);
            }
            at = (int)v;
        }
        int i = lookup(p, nlen);
        if (i < 0) {
            fprintf(stderr, "kiln: KILN_FAILPOINT=%s: no failpoint named '%.*s' (kiln failpoints lists them)\n", spec,
                    (int)nlen, p);
            _exit(2);
        }
        g_at[i] = at;
        p = end ? end + 1 : p + len;
    }
    kiln_failpoint__armed = 1;
}

void kiln_failpoint__hit(const char *name)
{
    int i = lookup(name, strlen(name));
    if (i < 0) {
        /* a call site whose name is not in the table: fault_list catches it */
        fprintf(stderr, "kiln: failpoint '%s' is not in the failpoint table\n", name);
        abort();
    }
    if (!g_at[i] || __atomic_add_fetch(&g_hits[i], 1, __ATOMIC_SEQ_CST) != g_at[i])
        return;
    const char *once = getenv("KILN_FAILPOINT_ONCE");
    if (once && *once) {
        int fd = open(once, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            return; /* another process fired it */
        close(fd);
    }
    const char *log = getenv("KILN_FAILPOINT_LOG");
    if (log && *log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            char line[160];
            int n = snprintf(line, sizeof line, "%s %ld\n", name, (long)getpid());
            if (n > 0 && write(fd, line, (size_t)n) < 0) {
            }
            fsync(fd);
            close(fd);
        }
    }
    raise(SIGKILL);
    _exit(137); /* not reached */
}
