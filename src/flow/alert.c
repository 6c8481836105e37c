/*
 * alert.c - alert deliveries: a command, a generic JSON webhook, a
 * Slack-compatible incoming webhook, PagerDuty Events API v2.
 *
 * The runner must never wait on an alert: kiln_flow__alert_fire builds the
 * payloads, then hands them to a detached grandchild (fork twice; the
 * middle child exits at once, so there is no zombie and no wait). The
 * grandchild first closes every inherited descriptor - above all the
 * task-instance lock files, which it would otherwise keep locked - then
 * delivers with the one HTTP client, net/http.h (timeout per attempt,
 * retries with backoff on a connection error, 429 or 5xx) or runs the command (killed at the
 * timeout), and appends one JSON line per delivery to .kiln/alerts.ndjson.
 * URLs and routing keys may come from environment variables (url_env,
 * routing_key_env) and are never written to a log.
 */
#include "flow_int.h"
#include "net/http.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct delivery {
    const kiln_flow_alert *a;
    char *url;  /* resolved (may come from the environment) */
    char *body; /* JSON, or NULL for a command */
} delivery;

static int jkv(kiln_buf *b, kiln_err *err, const char *k, const char *v, int comma)
{
    int rc = kiln_buf_printf(b, err, "%s\"%s\":", comma ? "," : "", k);
    if (!rc)
        rc = v ? kiln_json_write_str(b, v, strlen(v), err) : kiln_buf_printf(b, err, "null");
    return rc;
}

static char *summary_of(const kiln_flow_alert_event *ev)
{
    if (!strcmp(ev->event, "success"))
        return kiln_sprintf("kiln: DAG %s run %s succeeded", ev->dag, ev->logical_date);
    if (!strcmp(ev->event, "sla_miss"))
        return kiln_sprintf("kiln: %s.%s %s MISSED ITS SLA: %s", ev->dag, ev->task ? ev->task : "", ev->logical_date,
                            ev->message ? ev->message : "");
    if (!strcmp(ev->event, "timeout"))
        return kiln_sprintf("kiln: DAG %s run %s TIMED OUT: %s", ev->dag, ev->logical_date,
                            ev->message ? ev->message : "");
    if (!strcmp(ev->event, "resolve"))
        return kiln_sprintf("kiln: %s.%s %s succeeded again", ev->dag, ev->task ? ev->task : "", ev->logical_date);
    return kiln_sprintf("kiln: %s.%s %s %s after try %d: %s", ev->dag, ev->task ? ev->task : "", ev->logical_date,
                        !strcmp(ev->event, "retry") ? "will retry" : "FAILED", ev->try_number,
                        ev->message ? ev->message : "");
}

/* The JSON body for a target; NULL for a command (it gets env vars). */
static int build_body(const kiln_flow_alert *a, const kiln_flow_alert_event *ev, char **out, kiln_err *err)
{
    kiln_buf b;
    kiln_buf_init(&b, 1 << 20);
    char *summary = summary_of(ev);
    int rc = 0;
    *out = NULL;
    if (!summary)
        return KILN_OOM(err);
    if (a->type == KILN_ALERT_SLACK) {
        /* text is the fallback; the block carries the same in mrkdwn */
        rc = kiln_buf_printf(&b, err, "{");
        if (!rc)
            rc = jkv(&b, err, "text", summary, 0);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ",\"blocks\":[{\"type\":\"section\",\"text\":{\"type\":\"mrkdwn\",");
        if (!rc)
            rc = jkv(&b, err, "text", summary, 0);
        if (!rc)
            rc = kiln_buf_printf(&b, err, "}}]}");
    } else if (a->type == KILN_ALERT_PAGERDUTY) {
        const char *key = a->routing_key_env ? getenv(a->routing_key_env) : NULL;
        char dedup[600];
        snprintf(dedup, sizeof dedup, "kiln/%s/%s/%s", ev->dag, ev->task ? ev->task : "-", ev->logical_date);
        if (!key || !*key) {
            rc = kiln_err_set(err, KILN_ECONFIG, "alert '%s': $%s is not set", a->name,
                              a->routing_key_env ? a->routing_key_env : "?");
            goto done;
        }
        int resolve = !strcmp(ev->event, "resolve");
        rc = kiln_buf_printf(&b, err, "{");
        if (!rc)
            rc = jkv(&b, err, "routing_key", key, 0);
        if (!rc)
            rc = jkv(&b, err, "event_action", resolve ? "resolve" : "trigger", 1);
        if (!rc)
            rc = jkv(&b, err, "dedup_key", dedup, 1);
        if (!rc && !resolve) {
            rc = kiln_buf_printf(&b, err, ",\"payload\":{");
            if (!rc)
                rc = jkv(&b, err, "summary", summary, 0);
            if (!rc)
                rc = jkv(&b, err, "source", "kiln", 1);
            if (!rc)
                rc = jkv(&b, err, "severity",
                         !strcmp(ev->event, "retry") || !strcmp(ev->event, "sla_miss") ? "warning" : "error", 1);
            if (!rc)
                rc = kiln_buf_printf(&b, err, ",\"custom_details\":{");
            if (!rc)
                rc = jkv(&b, err, "dag", ev->dag, 0);
            if (!rc)
                rc = jkv(&b, err, "task", ev->task, 1);
            if (!rc)
                rc = jkv(&b, err, "logical_date", ev->logical_date, 1);
            if (!rc)
                rc = kiln_buf_printf(&b, err, ",\"try\":%d", ev->try_number);
            if (!rc)
                rc = jkv(&b, err, "log", ev->log_path, 1);
            if (!rc)
                rc = kiln_buf_printf(&b, err, "}}");
        }
        if (!rc)
            rc = kiln_buf_printf(&b, err, "}");
    } else if (a->type == KILN_ALERT_WEBHOOK) {
        rc = kiln_buf_printf(&b, err, "{");
        if (!rc)
            rc = jkv(&b, err, "event", ev->event, 0);
        if (!rc)
            rc = jkv(&b, err, "dag", ev->dag, 1);
        if (!rc)
            rc = jkv(&b, err, "task", ev->task, 1);
        if (!rc)
            rc = jkv(&b, err, "logical_date", ev->logical_date, 1);
        if (!rc)
            rc = jkv(&b, err, "run_id", ev->run_id, 1);
        if (!rc)
            rc = kiln_buf_printf(&b, err, ",\"try\":%d", ev->try_number);
        if (!rc)
            rc = jkv(&b, err, "message", ev->message, 1);
        if (!rc)
            rc = jkv(&b, err, "log", ev->log_path, 1);
        if (!rc)
            rc = jkv(&b, err, "summary", summary, 1);
        if (!rc)
            rc = kiln_buf_printf(&b, err, "}");
    } else {
        goto done; /* command */
    }
    if (!rc)
        *out = kiln_buf_detach(&b, NULL);
done:
    kiln_buf_free(&b);
    kiln_free(summary);
    return rc;
}

/* ------------------------------------------------------------ the grandchild */

static int post(const delivery *dv, long *status, int *attempts, char *why, size_t whyn)
{
    /* 0.5 s, 1 s, 2 s, ... (jittered) between attempts */
    kiln_http_opts ho;
    memset(&ho, 0, sizeof ho);
    ho.timeout_ms = (long)dv->a->timeout_ms;
    ho.max_attempts = dv->a->retries + 1;
    ho.retry_base_ms = 500;
    kiln_http *c = NULL;
    kiln_err e = {0};
    int ok = 0;
    *status = 0;
    if (kiln_http_new(&c, &ho, &e) != 0) {
        snprintf(why, whyn, "%s", e.msg);
        return 0;
    }
    const char *hdr[] = {"Content-Type: application/json"};
    kiln_http_req q;
    kiln_http_req_init(&q, "POST", dv->url);
    q.headers = hdr;
    q.nheaders = 1;
    q.body = dv->body;
    q.body_len = strlen(dv->body);
    kiln_http_resp r;
    kiln_http_resp_init(&r);
    int rc = kiln_http_do(c, &q, &r, &e);
    *attempts = r.attempts;
    *status = r.status;
    if (rc) {
        /* not r.error: the URL may be a secret (url_env); say only what failed */
        snprintf(why, whyn, "%s", r.reason[0] ? r.reason : e.msg);
        *status = 0;
    } else if (r.status >= 200 && r.status < 300) {
        ok = 1;
        why[0] = 0;
    } else {
        snprintf(why, whyn, "HTTP %ld", r.status);
    }
    kiln_http_resp_free(&r);
    kiln_http_free(c);
    return ok;
}

static int run_command(const delivery *dv, const kiln_flow_alert_event *ev, int *attempts, char *why, size_t whyn)
{
    char *extra[8] = {0};
    char *summary = summary_of(ev);
    extra[0] = kiln_sprintf("KILN_ALERT_EVENT=%s", ev->event);
    extra[1] = kiln_sprintf("KILN_DAG=%s", ev->dag);
    extra[2] = kiln_sprintf("KILN_TASK=%s", ev->task ? ev->task : "");
    extra[3] = kiln_sprintf("KILN_LOGICAL_DATE=%s", ev->logical_date);
    extra[4] = kiln_sprintf("KILN_TRY_NUMBER=%d", ev->try_number);
    extra[5] = kiln_sprintf("KILN_ALERT_MESSAGE=%s", ev->message ? ev->message : "");
    extra[6] = kiln_sprintf("KILN_ALERT_SUMMARY=%s", summary ? summary : "");
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **env = kiln_calloc(ne + 8, sizeof *env);
    char **argv = kiln_calloc(dv->a->argv.len + 1, sizeof *argv);
    int ok = 0;
    if (!env || !argv)
        goto done;
    memcpy(env, environ, ne * sizeof *env);
    for (int i = 0; i < 7; i++)
        if (extra[i])
            env[ne++] = extra[i];
    for (size_t i = 0; i < dv->a->argv.len; i++)
        argv[i] = dv->a->argv.items[i];
    for (int i = 0; i <= dv->a->retries && !ok; i++) {
        *attempts = i + 1;
        pid_t pid;
        posix_spawnattr_t at;
        posix_spawnattr_init(&at);
        posix_spawnattr_setpgroup(&at, 0);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
        int e = posix_spawnp(&pid, argv[0], NULL, &at, argv, env);
        posix_spawnattr_destroy(&at);
        if (e) {
            snprintf(why, whyn, "cannot start %s: %s", argv[0], strerror(e));
            break;
        }
        int status = 0, waited = 0;
        for (int64_t ms = 0; ms <= dv->a->timeout_ms; ms += 20) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                waited = 1;
                break;
            }
            usleep(20000);
        }
        if (!waited) {
            kill(-pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(why, whyn, "timeout");
            continue;
        }
        ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok)
            snprintf(why, whyn, "exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
done:
    for (int i = 0; i < 7; i++)
        kiln_free(extra[i]);
    kiln_free(env);
    kiln_free(argv);
    kiln_free(summary);
    return ok;
}

static void deliver_all(const char *outlog, delivery *dv, size_t n, const kiln_flow_alert_event *ev)
{
    static const char *const types[] = {"command", "webhook", "slack", "pagerduty"};
    for (size_t i = 0; i < n; i++) {
        long status = 0;
        int attempts = 0, ok;
        char why[300] = "";
        if (!dv[i].url && dv[i].a->type != KILN_ALERT_COMMAND) {
            ok = 0;
            snprintf(why, sizeof why, "%s", dv[i].body ? "no URL" : "no payload (a variable is not set)");
        } else if (dv[i].a->type == KILN_ALERT_COMMAND) {
            ok = run_command(&dv[i], ev, &attempts, why, sizeof why);
        } else {
            ok = post(&dv[i], &status, &attempts, why, sizeof why);
        }
        kiln_buf b;
        kiln_err e;
        char now[40];
        kiln_flow__ts(kiln_now_micros() / 1000000, now);
        kiln_buf_init(&b, 1 << 16);
        int rc = kiln_buf_printf(&b, &e, "{\"time\":\"%s\"", now);
        if (!rc)
            rc = jkv(&b, &e, "target", dv[i].a->name, 1);
        if (!rc)
            rc = jkv(&b, &e, "type", types[dv[i].a->type], 1);
        if (!rc)
            rc = jkv(&b, &e, "event", ev->event, 1);
        if (!rc)
            rc = jkv(&b, &e, "dag", ev->dag, 1);
        if (!rc)
            rc = jkv(&b, &e, "task", ev->task, 1);
        if (!rc)
            rc = jkv(&b, &e, "logical_date", ev->logical_date, 1);
        if (!rc)
            rc = kiln_buf_printf(&b, &e, ",\"ok\":%s,\"attempts\":%d,\"http_status\":%ld", ok ? "true" : "false",
                                 attempts, status);
        if (!rc)
            rc = jkv(&b, &e, "error", ok ? NULL : why, 1);
        if (!rc)
            rc = kiln_buf_printf(&b, &e, "}\n");
        int fd = rc ? -1 : open(outlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, b.data, b.len);
            (void)w;
            close(fd);
        }
        kiln_buf_free(&b);
    }
}

/* ------------------------------------------------------------ firing */

int kiln_flow__alert_fire(const kiln_flow_project *p, const kiln_flow_strv *names, const kiln_flow_alert_event *ev,
                          kiln_err *err)
{
    delivery *dv = kiln_calloc(names->len + 1, sizeof *dv);
    char *outlog = kiln_sprintf("%s/alerts.ndjson", p->state_dir);
    size_t n = 0;
    int rc = 0;
    if (!dv || !outlog) {
        rc = KILN_OOM(err);
        goto done;
    }
    for (size_t i = 0; i < names->len; i++) {
        const kiln_flow_alert *a = NULL;
        for (size_t k = 0; k < p->nalerts; k++)
            if (p->alerts[k].name && !strcmp(p->alerts[k].name, names->items[i]))
                a = &p->alerts[k];
        if (!a)
            continue; /* validation reports unknown names */
        if (!strcmp(ev->event, "resolve") && a->type != KILN_ALERT_PAGERDUTY)
            continue; /* only PagerDuty has incidents to resolve */
        delivery *d = &dv[n++];
        d->a = a;
        const char *url = a->url_env ? getenv(a->url_env) : a->url;
        if (url && *url && !(d->url = kiln_strdup(url))) {
            rc = KILN_OOM(err);
            goto done;
        }
        kiln_err be = {0};
        if (build_body(a, ev, &d->body, &be) != 0)
            d->body = NULL; /* recorded as a failed delivery by the sender */
    }
    if (n == 0)
        goto done;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        rc = kiln_err_set(err, KILN_EIO, "fork for alerts: %s", strerror(errno));
        goto done;
    }
    if (pid == 0) {
        if (fork() == 0) {
            /* inherited descriptors include task-instance locks: drop them */
            int devnull = open("/dev/null", O_RDWR);
            if (devnull >= 0) {
                dup2(devnull, 0);
                dup2(devnull, 1);
                dup2(devnull, 2);
            }
            syscall(SYS_close_range, 3u, ~0u, 0u);
            setsid();
            deliver_all(outlog, dv, n, ev);
            _exit(0);
        }
        _exit(0);
    }
    waitpid(pid, NULL, 0);
done:
    for (size_t i = 0; dv && i < n; i++) {
        kiln_free(dv[i].url);
        kiln_free(dv[i].body);
    }
    kiln_free(dv);
    kiln_free(outlog);
    return rc;
}
