/*
 * log.c - leveled logging to stderr (or a chosen stream), plain text or one
 * JSON object per line. KILN_LOG checks the level before evaluating its
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

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
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
    char ts[32];
    kiln_ts_format(kiln_now_micros() / 1000 * 1000, ts);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    FILE *f = log_stream ? log_stream : stderr;
    pthread_mutex_lock(&log_lock);
    if (log_json) {
        fprintf(f, "{\"ts\":\"%s\",\"level\":\"%s\",\"src\":\"%s:%d\",\"msg\":", ts, names[lvl], base, line);
        json_str(f, msg);
        fputs("}\n", f);
    } else {
        fprintf(f, "%s %-5s %s\n", ts, names[lvl], msg);
    }
    fflush(f);
    pthread_mutex_unlock(&log_lock);
}
