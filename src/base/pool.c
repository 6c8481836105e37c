/*
 * pool.c - a fixed-size thread pool with a FIFO queue. Workers receive
 * their index so each can own per-worker state (arena, sqlite3*, buffers).
 * One mutex guards the queue; two condition variables signal work and idle.
 */
#include "base.h"

#include <pthread.h>
#include <unistd.h>

typedef struct task {
    struct task *next;
    kiln_task_fn fn;
    void *arg;
} task;

typedef struct worker_arg {
    kiln_pool *pool;
    int index;
} worker_arg;

struct kiln_pool {
    pthread_mutex_t lock;
    pthread_cond_t has_work, idle;
    task *head, *tail;
    int pending; /* queued + running */
    int stopping;
    int nthreads;
    pthread_t *threads;
    worker_arg *args;
};

static void *worker_main(void *p)
{
    worker_arg *wa = p;
    kiln_pool *pool = wa->pool;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (!pool->head && !pool->stopping)
            pthread_cond_wait(&pool->has_work, &pool->lock);
        if (!pool->head && pool->stopping)
            break;
        task *t = pool->head;
        pool->head = t->next;
        if (!pool->head)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);
        t->fn(t->arg, wa->index);
        kiln_free(t);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0)
            pthread_cond_broadcast(&pool->idle);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int kiln_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int kiln_pool_new(kiln_pool **out, int nthreads, kiln_err *err)
{
    *out = NULL;
    if (nthreads <= 0)
        nthreads = kiln_ncpus();
    kiln_pool *p = kiln_calloc(1, sizeof *p);
    if (!p)
        return KILN_OOM(err);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->has_work, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->threads = kiln_calloc((size_t)nthreads, sizeof(pthread_t));
    p->args = kiln_calloc((size_t)nthreads, sizeof(worker_arg));
    if (!p->threads || !p->args) {
        kiln_pool_free(p);
        return KILN_OOM(err);
    }
    for (int i = 0; i < nthreads; i++) {
        p->args[i] = (worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, &p->args[i]) != 0) {
            kiln_pool_free(p);
            return kiln_err_set(err, KILN_EIO, "cannot start worker thread %d", i);
        }
        p->nthreads++;
    }
    *out = p;
    return 0;
}

int kiln_pool_submit(kiln_pool *p, kiln_task_fn fn, void *arg, kiln_err *err)
{
    task *t = kiln_malloc(sizeof *t);
    if (!t)
        return KILN_OOM(err);
    *t = (task){NULL, fn, arg};
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = t;
    else
        p->head = t;
    p->tail = t;
    p->pending++;
    pthread_cond_signal(&p->has_work);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void kiln_pool_wait(kiln_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->pending > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

int kiln_pool_size(const kiln_pool *p) { return p->nthreads; }

void kiln_pool_free(kiln_pool *p)
{
    if (!p)
        return;
    if (p->nthreads)
        kiln_pool_wait(p);
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_broadcast(&p->has_work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->has_work);
    pthread_cond_destroy(&p->idle);
    kiln_free(p->threads);
    kiln_free(p->args);
    kiln_free(p);
}
