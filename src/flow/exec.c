/*
 * exec.c - the local executor: one posix_spawn per task try.
 *
 * The program runs from argv directly (PATH lookup, never a shell), in its
 * own process group (so a timeout kills the whole tree the task started),
 * with stdin from /dev/null and stdout+stderr appended to the try's log
 * file. A pidfd (pidfd_open) per process is what the scheduler's poll()
 * waits on, so an idle scheduler sleeps in the kernel instead of waking to
 * check on children. The per-task-instance lock file descriptor is handed
 * to the child as fd 3: the lock (an open file description lock, store.c)
 * then lasts as long as either the
 * runner or the task lives, so a restarted runner cannot start a second
 * copy of a task whose orphan is still running.
 */
#include "flow_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
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

/* A library task type: fork (no exec) and call s->fn in the child, set up
 * as posix_spawn sets up a program: own process group, stdin /dev/null,
 * stdout/stderr into the log, the lock as fd 3 and no other inherited
 * descriptor (another task's lock must not live on in this child), default
 * signal handling, cwd and env. The runner is single-threaded when it
 * forks, and the child never touches the runner's SQLite connection: it
 * leaves with _exit. */
static int fork_start(const kiln_flow_spawn *s, kiln_flow_proc *out, int logfd, kiln_err *err)
{
    fflush(NULL); /* no buffered output of the runner may be written twice */
    pid_t pid = fork();
    if (pid < 0)
        return kiln_err_set(err, KILN_EIO, "fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        int nul = open("/dev/null", O_RDONLY);
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0 ||
            (s->lock_fd >= 0 && dup2(s->lock_fd, 3) < 0))
            _exit(127);
        int first = s->lock_fd >= 0 ? 4 : 3;
        if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) != 0)
            for (int fd = first; fd < 65536; fd++)
                close(fd);
        struct sigaction sa = {0};
        sa.sa_handler = SIG_DFL;
        int sigs[] = {SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGUSR1, SIGHUP, SIGQUIT};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
            sigaction(sigs[i], &sa, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (s->cwd && chdir(s->cwd) != 0) {
            dprintf(2, "kiln: cannot enter %s: %s\n", s->cwd, strerror(errno));
            _exit(127);
        }
        for (size_t i = 0; s->env_extra && s->env_extra[i]; i++)
            putenv(s->env_extra[i]);
        /* stdout/stderr are the log now: line-buffer them so a kill at the
         * timeout still leaves what was printed */
        setvbuf(stdout, NULL, _IOLBF, 0);
        setvbuf(stderr, NULL, _IONBF, 0);
        int rc = s->fn(s->fn_arg);
        fflush(NULL);
        _exit(rc < 0 || rc > 255 ? 1 : rc);
    }
    setpgid(pid, pid); /* also in the parent: no window where a kill(-pid) misses */
    out->pid = pid;
    out->wait_fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (out->wait_fd < 0) {
        int e = errno;
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        out->pid = -1;
        return kiln_err_set(err, KILN_EIO, "pidfd_open: %s (kiln needs Linux 5.3 or later)", strerror(e));
    }
    fcntl(out->wait_fd, F_SETFD, FD_CLOEXEC);
    return 0;
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
    /* a new try's log (truncated if one was left with its name); its folder
     * (one per DAG run) is made by the first try that needs it */
    logfd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0 && errno == ENOENT) {
        if ((rc = kiln_flow__mkdirs_for(s->log_path, err))) {
            kiln_free(env);
            return rc;
        }
        logfd = open(s->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    }
    if (logfd < 0) {
        kiln_free(env);
        return kiln_err_set(err, KILN_EIO, "%s: %s", s->log_path, strerror(errno));
    }
    if (s->fn) {
        rc = fork_start(s, out, logfd, err);
        close(logfd);
        kiln_free(env);
        return rc;
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
