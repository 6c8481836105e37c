/*
 * harness.c - the runner behind harness.h: registration, selection with
 * -s and -k, per-test timing and temp dirs, the summary line, and process helpers for tests
 * that drive the real kiln binary.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static kt_test *head, *tail;
static int cur_failed;
static char tmpdir[PATH_MAX];
static char root[PATH_MAX];
static char kiln_bin[PATH_MAX];

void kt_register(kt_test *t)
{
    if (tail)
        tail->next = t;
    else
        head = t;
    tail = t;
}

void kt_fail(const char *file, int line, const char *fmt, ...)
{
    cur_failed = 1;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int kt_failed(void) { return cur_failed; }

static void rm_rf(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", path, (char *)NULL);
        _exit(127);
    }
    int st;
    if (pid > 0)
        waitpid(pid, &st, 0);
}

const char *kt_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/kiln-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return tmpdir;
}

const char *kt_root(void)
{
    if (!root[0]) {
        const char *r = getenv("KILN_ROOT");
        if (r && *r)
            snprintf(root, sizeof root, "%s", r);
        else if (!getcwd(root, sizeof root))
            abort();
    }
    return root;
}

const char *kt_kiln_bin(void)
{
    if (!kiln_bin[0]) {
        const char *b = getenv("KILN_BIN");
        if (b && *b)
            snprintf(kiln_bin, sizeof kiln_bin, "%s", b);
        else
            snprintf(kiln_bin, sizeof kiln_bin, "%s/build/kiln", kt_root());
    }
    return kiln_bin;
}

int kt_run(char *const argv[], char **out)
{
    char path[] = "/tmp/kiln-test-out-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (out) {
        off_t n = lseek(fd, 0, SEEK_END);
        *out = malloc((size_t)n + 1);
        pread(fd, *out, (size_t)n, 0);
        (*out)[n] = '\0';
    }
    close(fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int kt_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

int kt_put(const char *dir, const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = 0;
    kiln_err err = {0};
    if (kiln_mkdirs(path, &err) != 0)
        return -1;
    *slash = '/';
    return kt_write_file(path, text, strlen(text));
}

char *kt_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)len + 1);
    size_t got = fread(p, 1, (size_t)len, f);
    p[got] = '\0';
    fclose(f);
    if (n)
        *n = got;
    return p;
}

int kt_replay_corpus(const char *name, int (*fn)(const uint8_t *d, size_t n))
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", kt_root(), name);
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    int files = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        char path[PATH_MAX + 256];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        size_t n = 0;
        char *data = kt_read_file(path, &n);
        if (!data)
            continue;
        fn((const uint8_t *)data, n);
        free(data);
        files++;
    }
    closedir(dp);
    return files;
}

static int selected_one(const kt_test *t, const char *sel)
{
    size_t sl = strlen(t->suite);
    if (strncmp(sel, t->suite, sl) != 0)
        return 0;
    if (sel[sl] == '\0')
        return 1;
    return sel[sl] == ':' && sel[sl + 1] == ':' && strcmp(sel + sl + 2, t->name) == 0;
}

/* -s may be given more than once: a test runs when any of them selects it. */
static int selected(const kt_test *t, const char *const *sels, int nsel)
{
    if (nsel == 0)
        return 1;
    for (int i = 0; i < nsel; i++)
        if (selected_one(t, sels[i]))
            return 1;
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/*
 * kiln-tests [-l] [-s suite[::name]]... [-k I/N]
 *   -s  run only the selected suites or tests (repeatable)
 *   -k  shard I of N (0 <= I < N): every N-th selected test from the I-th, so
 *       tests/run.sh can run the suite as N processes beside the e2e scripts
 * Each passing test prints "ok   suite::name (N ms)".
 */
int main(int argc, char **argv)
{
    const char *sels[64];
    int nsel = 0, list = 0;
    long shard = 0, shards = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc && nsel < 64)
            sels[nsel++] = argv[++i];
        else if (strcmp(argv[i], "-l") == 0)
            list = 1;
        else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc && sscanf(argv[i + 1], "%ld/%ld", &shard, &shards) == 2 &&
                 shards >= 1 && shard >= 0 && shard < shards)
            i++;
        else {
            fprintf(stderr, "usage: %s [-l] [-s suite[::name]]... [-k I/N]\n", argv[0]);
            return 2;
        }
    }
    int passed = 0, failed = 0;
    long index = 0;
    for (kt_test *t = head; t; t = t->next) {
        if (!selected(t, sels, nsel))
            continue;
        if (index++ % shards != shard)
            continue;
        if (list) {
            printf("%s::%s\n", t->suite, t->name);
            continue;
        }
        cur_failed = 0;
        tmpdir[0] = '\0';
        double t0 = now_ms();
        t->fn();
        long ms = (long)(now_ms() - t0);
        if (cur_failed) {
            fprintf(stderr, "FAIL %s::%s (%ld ms; tmp dir kept: %s)\n", t->suite, t->name, ms,
                    tmpdir[0] ? tmpdir : "none");
            failed++;
        } else {
            printf("ok   %s::%s (%ld ms)\n", t->suite, t->name, ms);
            if (tmpdir[0])
                rm_rf(tmpdir);
            passed++;
        }
        fflush(stdout);
    }
    if (!list)
        printf("unit: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
