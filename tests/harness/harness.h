/*
 * harness.h - kiln's own test runner: no dependencies, one process (so gdb,
 * valgrind and ASan work directly), closing line "N passed, N failed".
 *
 *   TEST(suite, name) { CHECK(x == 1); CHECK_EQ_INT(a, b); CHECK_STR(s, "x"); }
 *
 * Run one test with `-s suite::name`, one suite with `-s suite` (repeatable),
 * shard I of N with `-k I/N`, list with -l.
 * A failing CHECK records file:line and the values, then returns from the test.
 */
#ifndef KILN_HARNESS_H
#define KILN_HARNESS_H

#include <stdint.h>
#include <string.h>

#include "base/base.h"

typedef struct kt_test {
    const char *suite, *name;
    void (*fn)(void);
    struct kt_test *next;
} kt_test;

void kt_register(kt_test *t);
void kt_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kt_failed(void);
/* A fresh empty directory for this test, removed after it passes. */
const char *kt_tmpdir(void);
/* Repository root (where the Makefile is) and the data dir tests/data. */
const char *kt_root(void);
/* Path of the built kiln binary ($KILN_BIN, else build/kiln). */
const char *kt_kiln_bin(void);
/* 1 in the ASan/UBSan and TSan builds (GCC and clang), where a test may
 * sample a sweep that has no memory-safety value of its own more sparsely;
 * the plain build always checks all of it. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define KT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define KT_SANITIZED 1
#endif
#endif
#ifndef KT_SANITIZED
#define KT_SANITIZED 0
#endif
/* Run argv (NULL-terminated) without a shell; capture stdout+stderr into
 * *out (malloc'd, caller frees). Returns the exit status (or -1). */
int kt_run(char *const argv[], char **out);
/* Write/read a whole file (test-only helpers; abort the test on error). */
int kt_write_file(const char *path, const void *data, size_t n);
/* Write text to dir/rel, creating rel's folders: 0 or -1. */
int kt_put(const char *dir, const char *rel, const char *text);
char *kt_read_file(const char *path, size_t *n); /* caller frees with free */
/* Feed every file of tests/fuzz/corpus/<name>/ to fn (a fuzz target's entry
 * point). Returns the number of files, or -1 when the directory is missing. */
int kt_replay_corpus(const char *name, int (*fn)(const uint8_t *d, size_t n));
/* The corpus-replay test of a fuzz target: `make test` runs every stored input. */
#define KT_FUZZ_CORPUS_TEST(name, fn)                                                                                  \
    TEST(fuzz, name##_corpus)                                                                                          \
    {                                                                                                                  \
        int kt_files = kt_replay_corpus(#name, fn);                                                                    \
        CHECK_MSG(kt_files >= 0, "no corpus directory tests/fuzz/corpus/%s", #name);                                   \
        CHECK_MSG(kt_files > 0, "corpus tests/fuzz/corpus/%s is empty", #name);                                        \
    }

#ifdef KILN_LIBFUZZER
/* In a libFuzzer build (tests/fuzz/run.sh) the corpus-replay tests compile
 * but are not registered: libFuzzer owns main(). */
#define TEST(suite, name) __attribute__((unused)) static void kt_fn_##suite##_##name(void)
#else
#define TEST(suite, name)                                                                                              \
    static void kt_fn_##suite##_##name(void);                                                                          \
    static kt_test kt_t_##suite##_##name = {#suite, #name, kt_fn_##suite##_##name, 0};                                 \
    __attribute__((constructor)) static void kt_reg_##suite##_##name(void) { kt_register(&kt_t_##suite##_##name); }    \
    static void kt_fn_##suite##_##name(void)
#endif

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            kt_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                                           \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                                           \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            kt_fail(__FILE__, __LINE__, __VA_ARGS__);                                                                  \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                             \
    do {                                                                                                               \
        long long kt_a = (long long)(a), kt_b = (long long)(b);                                                        \
        if (kt_a != kt_b) {                                                                                            \
            kt_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, kt_a, kt_b);                                 \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *kt_sa = (a), *kt_sb = (b);                                                                         \
        if (!kt_sa || !kt_sb || strcmp(kt_sa, kt_sb) != 0) {                                                           \
            kt_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, kt_sa ? kt_sa : "(null)",                \
                    kt_sb ? kt_sb : "(null)");                                                                         \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

/* Checks that a call returning 0-or-negative succeeded; prints err.msg. */
#define CHECK_OK(call, errp)                                                                                           \
    do {                                                                                                               \
        int kt_rc = (call);                                                                                            \
        if (kt_rc != 0) {                                                                                              \
            const kiln_err *kt_e = (errp);                                                                             \
            kt_fail(__FILE__, __LINE__, "%s failed: %d %s", #call, kt_rc, kt_e ? kt_e->msg : "");                      \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

#endif
