/*
 * log.c - leveled logging to stderr (or a chosen stream) in one line format,
 * "kiln: LEVEL COMPONENT: MESSAGE", or one JSON object per line with
 * --log-json (errors included: the CLI prints its final error line through
 * kiln_log_line). KILN_LOG checks the level before evaluating its
 * arguments. Never log secrets: callers pass redacted values.
 */
#include "base.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

kiln_log_level kiln_log_min = KILN_LOG_INFO;
static int log_json;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void kiln_log_set_json(int on) { log_json = on; }
int kiln_log_json(void) { return log_json; }
void kiln_log_set_stream(FILE *f) { log_stream = f; }

static const char *names[] = {"debug", "info", "warn", "error"};

int kiln_log_level_parse(const char *s, kiln_log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0) {
            *out = (kiln_log_level)i;
            return 0;
        }
    if (strcasecmp(s, "off") == 0) {
        *out = KILN_LOG_OFF;
        return 0;
    }
    return KILN_EINVAL;
}

static void emit(kiln_log_level lvl, const char *component, const char *src, const char *msg)
{
    FILE *f = log_stream ? log_stream : stderr;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    kiln_err err = {0};
    int rc = 0;
    if (log_json) {
        char ts[40];
        kiln_ts_format(kiln_now_micros() / 1000 * 1000, ts);
        rc = kiln_buf_printf(&b, &err, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":", ts, names[lvl]);
        if (!rc)
            rc = kiln_json_write_str(&b, component ? component : "kiln", strlen(component ? component : "kiln"), &err);
        if (!rc && src) {
            rc = kiln_buf_append(&b, ",\"src\":", 7, &err);
            if (!rc)
                rc = kiln_json_write_str(&b, src, strlen(src), &err);
        }
        if (!rc)
            rc = kiln_buf_append(&b, ",\"msg\":", 7, &err);
        if (!rc)
            rc = kiln_json_write_str(&b, msg, strlen(msg), &err);
        if (!rc)
            rc = kiln_buf_append(&b, "}\n", 2, &err);
    } else if (component && *component) {
        rc = kiln_buf_printf(&b, &err, "kiln: %s %s: %s\n", names[lvl], component, msg);
    } else {
        rc = kiln_buf_printf(&b, &err, "kiln: %s: %s\n", names[lvl], msg);
    }
    pthread_mutex_lock(&log_lock);
    if (rc == 0)
        fwrite(b.data, 1, b.len, f);
    else /* out of memory: still say it */
        fprintf(f, "kiln: %s: %s\n", names[lvl], msg);
    fflush(f);
    pthread_mutex_unlock(&log_lock);
    kiln_buf_free(&b);
}

void kiln_log_line(kiln_log_level lvl, const char *component, const char *msg)
{
    if (lvl < KILN_LOG_DEBUG || lvl > KILN_LOG_ERROR)
        return;
    emit(lvl, component, NULL, msg);
}

void kiln__log(kiln_log_level lvl, const char *file, int line, const char *fmt, ...)
{
    if (lvl < KILN_LOG_DEBUG || lvl > KILN_LOG_ERROR)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* component: the module directory of src/MODULE/file.c */
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char component[32] = "kiln";
    const char *s = strstr(file, "src/");
    if (s) {
        s += 4;
        const char *slash = strchr(s, '/');
        if (slash && (size_t)(slash - s) < sizeof component)
            snprintf(component, sizeof component, "%.*s", (int)(slash - s), s);
    }
    char src[128];
    snprintf(src, sizeof src, "%s:%d", base, line);
    emit(lvl, component, src, msg);
}
