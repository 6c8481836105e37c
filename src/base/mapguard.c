/*
 * mapguard.c - turn a SIGBUS on a file mapping into an error.
 *
 * Readers map files for speed (Parquet page bodies, gzip input). If another
 * process truncates the file while it is mapped, touching a page past the
 * new end raises SIGBUS, which would kill the process. A guard names the
 * mapping a thread is about to read; the SIGBUS handler (installed once,
 * SA_NODEFER so the signal is never left blocked) checks the faulting
 * address against the innermost guard of the faulting thread and, when it
 * lies inside, pops the guard and siglongjmps back to the guarded
 * function's sigsetjmp, which returns an error naming the file. Any other
 * SIGBUS goes to the handler that was installed before (or the default
 * action: the process dies exactly as it would have without us).
 *
 * Cost: pushing and popping a guard is two thread-local stores; the
 * sigsetjmp(env, 0) saves registers only (no signal-mask system call).
 */
#include "base.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>

static _Thread_local kiln_map_guard *guard_top;
static struct sigaction prev_action;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    kiln_map_guard *g = guard_top;
    const uint8_t *a = si ? (const uint8_t *)si->si_addr : NULL;
    if (g && a >= g->lo && a < g->hi) {
        guard_top = g->prev;
        siglongjmp(g->env, 1);
    }
    /* not a read of a guarded mapping: what would have happened without us */
    if ((prev_action.sa_flags & SA_SIGINFO) && prev_action.sa_sigaction) {
        prev_action.sa_sigaction(sig, si, uc);
        return;
    }
    if (prev_action.sa_handler != SIG_DFL && prev_action.sa_handler != SIG_IGN) {
        prev_action.sa_handler(sig);
        return;
    }
    /* returning re-executes the faulting access, which now takes the
     * default action */
    signal(SIGBUS, SIG_DFL);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &prev_action);
}

void kiln_map_guard_push(kiln_map_guard *g, const void *map, size_t n)
{
    pthread_once(&install_once, install);
    g->lo = map;
    g->hi = (const uint8_t *)map + n;
    g->prev = guard_top;
    guard_top = g;
}

void kiln_map_guard_pop(kiln_map_guard *g) { guard_top = g->prev; }
