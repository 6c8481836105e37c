/*
 * alloc.c - allocation wrappers (counted, with fault injection for tests)
 * and arenas (bump allocation in blocks, freed at once).
 *
 * KILN_ARENA_DEBUG=1 turns every arena allocation into its own kiln_malloc,
 * tracked in a list, so ASan and valgrind see each allocation's bounds.
 */
#include "base.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_ulong alloc_count;
static atomic_long fail_after = -1; /* <0: never fail */

/* Fail once the countdown has reached 0 (and from then on). The countdown
 * is taken with a compare-and-swap so that two threads allocating at once
 * can neither both consume the last "pass" nor push it below 0 (which would
 * turn fault injection off). */
static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
    for (;;) {
        if (n < 0)
            return 0;
        if (n == 0)
            return 1;
        if (atomic_compare_exchange_weak_explicit(&fail_after, &n, n - 1, memory_order_relaxed, memory_order_relaxed))
            return 0;
    }
}

void kiln_alloc_fail_after(long n) { atomic_store(&fail_after, n); }
uint64_t kiln_alloc_count(void) { return atomic_load(&alloc_count); }

void *kiln_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return malloc(n ? n : 1);
}

void *kiln_calloc(size_t count, size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return calloc(count ? count : 1, n ? n : 1);
}

void *kiln_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
    return realloc(p, n ? n : 1);
}

void kiln_free(void *p) { free(p); }

char *kiln_strndup(const char *s, size_t n)
{
    char *d = kiln_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *kiln_strdup(const char *s) { return kiln_strndup(s, strlen(s)); }

char *kiln_sprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = kiln_malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* ------------------------------------------------------------- arena */

typedef struct block {
    struct block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} block;

struct kiln_arena {
    block *head; /* current block; older ones follow */
    size_t block_size;
    size_t used_total;
    int debug; /* KILN_ARENA_DEBUG: one malloc per allocation */
};

kiln_arena *kiln_arena_new(size_t block_size)
{
    kiln_arena *a = kiln_calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->block_size = block_size ? block_size : 64 * 1024;
    const char *dbg = getenv("KILN_ARENA_DEBUG");
    a->debug = dbg && *dbg && *dbg != '0';
    return a;
}

static block *new_block(size_t size)
{
    block *b = kiln_malloc(sizeof(block) + size);
    if (b) {
        b->next = NULL;
        b->size = size;
        b->used = 0;
    }
    return b;
}

void *kiln_arena_alloc(kiln_arena *a, size_t n)
{
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n)
        return NULL;
    if (a->debug) {
        block *b = new_block(n);
        if (!b)
            return NULL;
        b->used = n;
        b->next = a->head;
        a->head = b;
        a->used_total += n;
        return b->data;
    }
    if (!a->head || a->head->size - a->head->used < need) {
        size_t size = need > a->block_size ? need : a->block_size;
        block *b = new_block(size);
        if (!b)
            return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += need;
    a->used_total += need;
    return p;
}

char *kiln_arena_strndup(kiln_arena *a, const char *s, size_t n)
{
    char *d = kiln_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void *kiln_arena_memdup(kiln_arena *a, const void *p, size_t n)
{
    void *d = kiln_arena_alloc(a, n ? n : 1);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

void kiln_arena_reset(kiln_arena *a)
{
    if (!a->head)
        return;
    /* keep the oldest block (the last in the list) for reuse */
    block *b = a->head;
    while (b->next) {
        block *next = b->next;
        kiln_free(b);
        b = next;
    }
    if (a->debug) {
        kiln_free(b);
        a->head = NULL;
    } else {
        b->used = 0;
        a->head = b;
    }
    a->used_total = 0;
}

size_t kiln_arena_used(const kiln_arena *a) { return a->used_total; }

void kiln_arena_free(kiln_arena *a)
{
    if (!a)
        return;
    block *b = a->head;
    while (b) {
        block *next = b->next;
        kiln_free(b);
        b = next;
    }
    kiln_free(a);
}
