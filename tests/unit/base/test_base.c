/* Unit tests for src/base: errors, buffers, vectors, maps, sets, dates,
 * SHA-256, thread pool, arenas and atomic files. */
#include "harness/harness.h"
#include "base/base.h"

#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>

TEST(base, err_set_and_prefix)
{
    kiln_err err = {0};
    CHECK_EQ_INT(kiln_err_set_at(&err, KILN_EFORMAT, 42, "bad %s", "thing"), KILN_EFORMAT);
    CHECK_EQ_INT(err.offset, 42);
    kiln_err_prefix(&err, "%s: ", "file.json");
    CHECK_STR(err.msg, "file.json: bad thing");
    CHECK_EQ_INT(err.code, KILN_EFORMAT);
    CHECK_STR(kiln_err_name(KILN_ELIMIT), "ELIMIT");
}

TEST(base, buf_grows_and_caps)
{
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 100);
    for (int i = 0; i < 10; i++)
        CHECK_OK(kiln_buf_printf(&b, &err, "%d,", i), &err);
    CHECK_STR(b.data, "0,1,2,3,4,5,6,7,8,9,");
    char big[200];
    memset(big, 'x', sizeof big);
    CHECK_EQ_INT(kiln_buf_append(&b, big, sizeof big, &err), KILN_ELIMIT);
    CHECK_EQ_INT(b.len, 20); /* unchanged after a refused append */
    CHECK_OK(kiln_buf_append(&b, big, 80, &err), &err);
    CHECK_EQ_INT(b.len, 100);
    CHECK_EQ_INT(kiln_buf_putc(&b, 'y', &err), KILN_ELIMIT);
    kiln_buf_free(&b);
}

TEST(base, vec_push)
{
    KILN_VEC(int) v = {0};
    kiln_err err = {0};
    for (int i = 0; i < 1000; i++)
        CHECK_EQ_INT(kiln_vec_push(&v, i * 2, &err), 0);
    CHECK_EQ_INT(v.len, 1000);
    CHECK_EQ_INT(v.items[999], 1998);
    kiln_vec_free(&v);
    CHECK(v.items == NULL);
}

TEST(base, map_put_get_del)
{
    kiln_map *m = kiln_map_new();
    kiln_err err = {0};
    char key[32];
    for (long i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "k%ld", i);
        CHECK_OK(kiln_map_put(m, key, (size_t)n, (void *)(i + 1), &err), &err);
    }
    CHECK_EQ_INT(kiln_map_len(m), 5000);
    CHECK((long)kiln_map_get(m, "k4321", 5) == 4322);
    CHECK(kiln_map_get(m, "nope", 4) == NULL);
    for (long i = 0; i < 5000; i += 2) {
        int n = snprintf(key, sizeof key, "k%ld", i);
        CHECK_EQ_INT(kiln_map_del(m, key, (size_t)n), 1);
    }
    CHECK_EQ_INT(kiln_map_len(m), 2500);
    CHECK(!kiln_map_has(m, "k0", 2));
    CHECK(kiln_map_has(m, "k1", 2));
    /* reinsert after deletes reuses tombstones correctly */
    CHECK_OK(kiln_map_put(m, "k0", 2, (void *)7, &err), &err);
    CHECK((long)kiln_map_get(m, "k0", 2) == 7);
    size_t pos = 0, count = 0;
    while (kiln_map_next(m, &pos, NULL, NULL, NULL))
        count++;
    CHECK_EQ_INT(count, 2501);
    kiln_map_free(m);
}

TEST(base, i64set_dedupes)
{
    kiln_i64set *s = kiln_i64set_new();
    kiln_err err = {0};
    CHECK_EQ_INT(kiln_i64set_add(s, 45193154559LL, &err), 1);
    CHECK_EQ_INT(kiln_i64set_add(s, 45193154559LL, &err), 0);
    CHECK_EQ_INT(kiln_i64set_add(s, INT64_MIN, &err), 1);
    CHECK_EQ_INT(kiln_i64set_add(s, INT64_MIN, &err), 0);
    for (int64_t i = 0; i < 100000; i++)
        CHECK(kiln_i64set_add(s, i * 7919, &err) >= 0);
    CHECK(kiln_i64set_has(s, 7919 * 500));
    CHECK(!kiln_i64set_has(s, 7919 * 500 + 1));
    CHECK_EQ_INT(kiln_i64set_len(s), 100002);
    kiln_i64set_free(s);
}

TEST(base, civil_roundtrip)
{
    CHECK_EQ_INT(kiln_days_from_civil(1970, 1, 1), 0);
    CHECK_EQ_INT(kiln_days_from_civil(2000, 3, 1), 11017);
    CHECK_EQ_INT(kiln_days_from_civil(1969, 12, 31), -1);
    for (int64_t d = -800000; d < 800000; d += 37) {
        int y, m, dd;
        kiln_civil_from_days(d, &y, &m, &dd);
        CHECK_EQ_INT(kiln_days_from_civil(y, m, dd), d);
    }
    CHECK_EQ_INT(kiln_days_in_month(2024, 2), 29);
    CHECK_EQ_INT(kiln_days_in_month(1900, 2), 28);
    CHECK_EQ_INT(kiln_days_in_month(2000, 2), 29);
}

TEST(base, iso_weeks_at_year_boundaries)
{
    int y, w;
    /* 2021-01-03 (Sunday) belongs to 2020-W53 */
    kiln_iso_week(kiln_days_from_civil(2021, 1, 3), &y, &w);
    CHECK_EQ_INT(y, 2020);
    CHECK_EQ_INT(w, 53);
    /* 2021-01-04 is Monday of 2021-W01 */
    kiln_iso_week(kiln_days_from_civil(2021, 1, 4), &y, &w);
    CHECK_EQ_INT(y, 2021);
    CHECK_EQ_INT(w, 1);
    /* 2024-12-30 (Monday) is 2025-W01 */
    kiln_iso_week(kiln_days_from_civil(2024, 12, 30), &y, &w);
    CHECK_EQ_INT(y, 2025);
    CHECK_EQ_INT(w, 1);
    /* 2026-12-31 (Thursday) is 2026-W53 */
    kiln_iso_week(kiln_days_from_civil(2026, 12, 31), &y, &w);
    CHECK_EQ_INT(y, 2026);
    CHECK_EQ_INT(w, 53);
    CHECK_EQ_INT(kiln_weekday(kiln_days_from_civil(2025, 10, 7)), 2); /* Tuesday */
    CHECK_EQ_INT(kiln_iso_week_monday(kiln_days_from_civil(2025, 1, 1)), kiln_days_from_civil(2024, 12, 30));
}

TEST(base, timestamp_parse_format)
{
    int64_t us;
    CHECK_EQ_INT(kiln_ts_parse("2025-01-01T15:00:07Z", 20, &us), 0);
    char out[32];
    kiln_ts_format(us, out);
    CHECK_STR(out, "2025-01-01T15:00:07Z");
    CHECK_EQ_INT(kiln_ts_parse("2012-02-11 10:38:16-07:00", 25, &us), 0);
    kiln_ts_format(us, out);
    CHECK_STR(out, "2012-02-11T17:38:16Z");
    CHECK_EQ_INT(kiln_ts_parse("2024-02-29T23:59:59.5Z", 22, &us), 0);
    kiln_ts_format(us, out);
    CHECK_STR(out, "2024-02-29T23:59:59.500000Z");
    CHECK_EQ_INT(kiln_ts_parse("2023-02-29T00:00:00Z", 20, &us), KILN_EFORMAT);
    CHECK_EQ_INT(kiln_ts_parse("2023-01-01T24:00:00Z", 20, &us), KILN_EFORMAT);
    CHECK_EQ_INT(kiln_ts_parse("2023-01-01", 10, &us), KILN_EFORMAT);
    int64_t d;
    CHECK_EQ_INT(kiln_date_parse("1969-12-31", 10, &d), 0);
    CHECK_EQ_INT(d, -1);
    kiln_date_format(d, out);
    CHECK_STR(out, "1969-12-31");
    kiln_ts_format(-1, out);
    CHECK_STR(out, "1969-12-31T23:59:59.999999Z");
}

TEST(base, sha256_vectors)
{
    char hex[65];
    kiln_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    kiln_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    kiln_sha256_hex(m, strlen(m), hex);
    CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a million 'a' fed in odd-sized pieces */
    kiln_sha256 s;
    kiln_sha256_init(&s);
    char a[997];
    memset(a, 'a', sizeof a);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof a ? left : sizeof a;
        kiln_sha256_update(&s, a, n);
        left -= n;
    }
    uint8_t dg[32];
    kiln_sha256_final(&s, dg);
    kiln_hex(dg, 32, hex);
    CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static pthread_mutex_t sum_lock = PTHREAD_MUTEX_INITIALIZER;
static long sum;
static void add_task(void *arg, int worker)
{
    (void)worker;
    pthread_mutex_lock(&sum_lock);
    sum += (long)arg;
    pthread_mutex_unlock(&sum_lock);
}

TEST(base, pool_runs_every_task)
{
    kiln_pool *p;
    kiln_err err = {0};
    CHECK_OK(kiln_pool_new(&p, 4, &err), &err);
    sum = 0;
    for (long i = 1; i <= 1000; i++)
        CHECK_OK(kiln_pool_submit(p, add_task, (void *)i, &err), &err);
    kiln_pool_wait(p);
    CHECK_EQ_INT(sum, 500500);
    for (long i = 1; i <= 10; i++)
        CHECK_OK(kiln_pool_submit(p, add_task, (void *)i, &err), &err);
    kiln_pool_free(p); /* waits for queued work */
    CHECK_EQ_INT(sum, 500555);
}

TEST(base, arena_alloc_and_reset)
{
    kiln_arena *a = kiln_arena_new(256);
    CHECK(a != NULL);
    char *big = kiln_arena_alloc(a, 10000);
    CHECK(big != NULL);
    memset(big, 1, 10000);
    for (int i = 0; i < 100; i++) {
        char *s = kiln_arena_strndup(a, "hello world", 5);
        CHECK_STR(s, "hello");
        CHECK(((uintptr_t)s & 15) == 0);
    }
    CHECK(kiln_arena_used(a) >= 10000 + 100 * 16);
    kiln_arena_reset(a);
    CHECK_EQ_INT(kiln_arena_used(a), 0);
    CHECK(kiln_arena_alloc(a, 8) != NULL);
    kiln_arena_free(a);
}

TEST(base, alloc_fault_injection)
{
    kiln_alloc_fail_after(2);
    void *a = kiln_malloc(8), *b = kiln_malloc(8), *c = kiln_malloc(8);
    kiln_alloc_fail_after(-1);
    CHECK(a && b);
    CHECK(c == NULL);
    kiln_free(a);
    kiln_free(b);
    /* a buffer reports ENOMEM instead of crashing */
    kiln_buf buf;
    kiln_buf_init(&buf, 0);
    kiln_err err = {0};
    kiln_alloc_fail_after(0);
    int rc = kiln_buf_append(&buf, "x", 1, &err);
    kiln_alloc_fail_after(-1);
    CHECK_EQ_INT(rc, KILN_ENOMEM);
    kiln_buf_free(&buf);
}

TEST(base, atomic_write_and_read)
{
    kiln_err err = {0};
    char *path = kiln_sprintf("%s/a/b/c.txt", kt_tmpdir());
    char *dir = kiln_sprintf("%s/a/b", kt_tmpdir());
    CHECK_OK(kiln_mkdirs(dir, &err), &err);
    CHECK_OK(kiln_file_write_atomic(path, "hello", 5, &err), &err);
    char *data;
    size_t n;
    CHECK_OK(kiln_file_read(path, 0, &data, &n, &err), &err);
    CHECK_EQ_INT(n, 5);
    CHECK_STR(data, "hello");
    kiln_free(data);
    CHECK_EQ_INT(kiln_file_read(path, 3, &data, &n, &err), KILN_ELIMIT);
    char *top = kiln_sprintf("%s/a", kt_tmpdir());
    CHECK_OK(kiln_rmtree(top, &err), &err);
    CHECK_EQ_INT(kiln_file_read(path, 0, &data, &n, &err), KILN_ENOTFOUND);
    kiln_free(path);
    kiln_free(dir);
    kiln_free(top);
}

/* The fd helpers: a write bigger than a pipe's buffer goes through in
 * pieces while a thread drains it; pread_full stops short only at the end. */
static void *drain(void *arg)
{
    int *fds = arg;
    static char sink[1 << 16];
    size_t total = 0;
    ssize_t r;
    while ((r = kiln_fd_read(fds[0], sink, sizeof sink)) > 0)
        total += (size_t)r;
    return (void *)total;
}

TEST(base, fd_read_write_helpers)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, drain, fds) == 0);
    size_t big = 1 << 20;
    char *data = kiln_malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7);
    CHECK_EQ_INT(kiln_fd_write_all(fds[1], data, big), 0);
    close(fds[1]);
    void *got;
    pthread_join(th, &got);
    close(fds[0]);
    CHECK_EQ_INT((size_t)got, big);

    kiln_err err = {0};
    char *path = kiln_sprintf("%s/fd.bin", kt_tmpdir());
    CHECK_OK(kiln_file_write_atomic(path, data, big, &err), &err);
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    char buf[100];
    CHECK_EQ_INT(kiln_fd_pread_full(fd, buf, sizeof buf, 1000), 100);
    CHECK(memcmp(buf, data + 1000, 100) == 0);
    CHECK_EQ_INT(kiln_fd_pread_full(fd, buf, sizeof buf, (int64_t)big - 10), 10);
    CHECK_EQ_INT(kiln_fd_pread_full(fd, buf, sizeof buf, (int64_t)big + 5), 0);
    close(fd);
    CHECK_EQ_INT(kiln_fd_write_all(-1, "x", 1), -1);
    kiln_free(path);
    kiln_free(data);
}

TEST(base, path_components)
{
    CHECK(kiln_path_component_ok("commits", 7));
    CHECK(!kiln_path_component_ok("..", 2));
    CHECK(!kiln_path_component_ok(".", 1));
    CHECK(!kiln_path_component_ok("a/b", 3));
    CHECK(!kiln_path_component_ok("", 0));
    CHECK(!kiln_path_component_ok("a\0b", 3));
}

/* kiln_copy_short equals memcpy for every length, and touches nothing
 * outside [d, d+n). */
TEST(base, copy_short_every_length)
{
    char src[160], dst[160], want[160];
    for (int i = 0; i < 160; i++)
        src[i] = (char)(i * 7 + 1);
    for (size_t off = 0; off < 3; off++)
        for (size_t n = 0; n <= 100; n++) {
            memset(dst, 0x5a, sizeof dst);
            memset(want, 0x5a, sizeof want);
            memcpy(want + 20 + off, src + off, n);
            kiln_copy_short(dst + 20 + off, src + off, n);
            CHECK_MSG(memcmp(dst, want, sizeof dst) == 0, "length %zu, offset %zu", n, off);
        }
}
