/*
 * exec.c - the local executor: one posix_spawn per task try.
 *
 * The program runs from argv directly (PATH lookup, never a shell), in its
 * own process group (so a timeout kills the whole tree the task started),
 * with stdin from /dev/null and stdout+stderr appended to the try's log
 * file. A pidfd (pidfd_open) per process is what the scheduler's poll()
 * waits on, so an idle scheduler sleeps in the kernel instead of waking to
 * check on children. The per-task-instance lock file descriptor is handed
 * to the child as fd 3: the lock (flock) then lasts as long as either the
 * runner or the task lives, so a restarted runner cannot start a second
 * copy of a task whose orphan is still running.
 */
#include "flow_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* environ with env_extra's names replaced or added. Caller frees the array
 * (not the strings). */
static char **merged_env(char *const *extra)
{
    size_t ne = 0, nx = 0;
    while (environ[ne])
        ne++;
    while (extra && extra[nx])
        nx++;
    char **env = kiln_malloc((ne + nx + 1) * sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        size_t nl = strcspn(environ[i], "=");
        int overridden = 0;
        for (size_t j = 0; j < nx && !overridden; j++)
            overridden = strncmp(extra[j], environ[i], nl) == 0 && extra[j][nl] == '=';
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < nx; j++)
        env[k++] = extra[j];
    env[k] = NULL;
    return env;
}

static int local_start(kiln_flow_executor *ex, const kiln_flow_spawn *s, kiln_flow_proc *out, kiln_err *err)
{
    (void)ex;
    out->pid = -1;
    out->wait_fd = -1;
    int rc = 0, logfd = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    char **env = merged_env(s->env_extra);
    if (!env)
        return KILN_OOM(err);
    logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        kiln_free(env);
        return kiln_err_set(err, KILN_EIO, "%s: %s", s->log_path, strerror(errno));
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, logfd, 1);
    posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    if (s->lock_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, s->lock_fd, 3); /* clears close-on-exec on fd 3 */
    if (s->cwd)
        posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    /* default dispositions for everything the runner may have changed */
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGCHLD);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int e = posix_spawnp(&pid, s->argv[0], &fa, &at, s->argv, env);
    (void)all;
    if (e != 0) {
        /* the failure belongs in the try's log too, where the user looks */
        dprintf(logfd, "kiln: cannot start '%s': %s\n", s->argv[0], strerror(e));
        rc = kiln_err_set(err, KILN_EIO, "cannot start '%s': %s", s->argv[0], strerror(e));
        goto done;
    }
    out->pid = pid;
    out->wait_fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (out->wait_fd < 0) {
        rc = kiln_err_set(err, KILN_EIO, "pidfd_open: %s (kiln needs Linux 5.3 or later)", strerror(errno));
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        out->pid = -1;
        goto done;
    }
    fcntl(out->wait_fd, F_SETFD, FD_CLOEXEC);
done:
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(logfd);
    kiln_free(env);
    return rc;
}

static int local_poll(kiln_flow_executor *ex, kiln_flow_proc *p, int *done, int *exit_code, int *signo, kiln_err *err)
{
    (void)ex;
    int status = 0;
    *done = 0;
    *signo = 0;
    pid_t r = waitpid(p->pid, &status, WNOHANG);
    if (r == 0)
        return 0;
    if (r < 0)
        return kiln_err_set(err, KILN_EIO, "waitpid %d: %s", p->pid, strerror(errno));
    *done = 1;
    if (WIFEXITED(status)) {
        *exit_code = WEXITSTATUS(status);
    } else {
        *signo = WTERMSIG(status);
        *exit_code = 128 + *signo;
    }
    if (p->wait_fd >= 0)
        close(p->wait_fd);
    p->wait_fd = -1;
    return 0;
}

static int local_kill(kiln_flow_executor *ex, kiln_flow_proc *p, int signo)
{
    (void)ex;
    if (p->pid <= 0)
        return 0;
    return kill(-p->pid, signo) == 0 || errno == ESRCH ? 0 : KILN_EIO;
}

kiln_flow_executor kiln_flow_local_executor = {"local", local_start, local_poll, local_kill};
