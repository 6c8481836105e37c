/*
 * test_i64set.c - the int64 set (map.c) as the gh-events dedupe set uses
 * it: members near-sequential and random, the reserved value INT64_MIN and
 * 0 as ordinary members, growth, iteration yielding each member once, NULL
 * as the empty set; and the edit distance (strdist.c) of "did you mean".
 */
#include "harness/harness.h"

#include <stdlib.h>

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

TEST(i64set, add_has_iterate)
{
    kiln_err err = {0};
    kiln_i64set *s = kiln_i64set_new();
    CHECK(s != NULL);
    enum { N = 20000 };
    int64_t *want = malloc(sizeof(int64_t) * (N + 3));
    size_t n = 0;
    for (int i = 0; i < N; i++) { /* near-sequential ids, as GH Archive's */
        int64_t v = 40000000000LL + 2 * i + (i % 3 == 0);
        CHECK_EQ_INT(kiln_i64set_add(s, v, &err), 1);
        want[n++] = v;
    }
    int64_t special[3] = {INT64_MIN, 0, INT64_MAX};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(kiln_i64set_has(s, special[i]), 0);
        CHECK_EQ_INT(kiln_i64set_add(s, special[i], &err), 1);
        CHECK_EQ_INT(kiln_i64set_add(s, special[i], &err), 0);
        want[n++] = special[i];
    }
    CHECK_EQ_INT(kiln_i64set_add(s, want[7], &err), 0);
    CHECK_EQ_INT(kiln_i64set_len(s), n);
    CHECK(!kiln_i64set_has(s, 40000000000LL + 2 * N + 5));
    int64_t *got = malloc(sizeof(int64_t) * (n + 1));
    size_t m = 0;
    int64_t x;
    for (size_t pos = 0; kiln_i64set_next(s, &pos, &x);) {
        CHECK(m < n);
        if (m < n)
            got[m++] = x;
        kiln_i64set_prefetch(s, x);
    }
    CHECK_EQ_INT(m, n);
    qsort(want, n, sizeof(int64_t), cmp64);
    qsort(got, m, sizeof(int64_t), cmp64);
    for (size_t i = 0; i < n && i < m; i++)
        CHECK(want[i] == got[i]);
    /* NULL is the empty set */
    size_t pos = 0;
    CHECK_EQ_INT(kiln_i64set_has(NULL, 1), 0);
    CHECK_EQ_INT(kiln_i64set_len(NULL), 0);
    CHECK_EQ_INT(kiln_i64set_next(NULL, &pos, &x), 0);
    kiln_i64set_prefetch(NULL, 1);
    free(want);
    free(got);
    kiln_i64set_free(s);
}

TEST(strdist, levenshtein)
{
    CHECK_EQ_INT(kiln_str_distance("gen", "gen"), 0);
    CHECK_EQ_INT(kiln_str_distance("gne", "gen"), 2);
    CHECK_EQ_INT(kiln_str_distance("in", "inn"), 1);
    CHECK_EQ_INT(kiln_str_distance("", "abc"), 3);
    CHECK_EQ_INT(kiln_str_distance("kitten", "sitting"), 3);
    char long_name[80];
    memset(long_name, 'a', 79);
    long_name[79] = 0;
    CHECK_EQ_INT(kiln_str_distance(long_name, "a"), 99);
}
