/*
 * err.c - the error struct: a negative code, a human message naming the
 * thing that failed, and the input offset when one is known.
 */
#include "base.h"

#include <string.h>

static int vset(kiln_err *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

int kiln_err_set(kiln_err *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    if (err)
        err->offset = 0;
    return code;
}

int kiln_err_set_at(kiln_err *err, int code, uint64_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(err, code, fmt, ap);
    va_end(ap);
    if (err)
        err->offset = offset;
    return code;
}

int kiln_err_prefix(kiln_err *err, const char *fmt, ...)
{
    if (!err)
        return KILN_EINVAL;
    char prefix[512], old[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s%s", prefix, old);
    return err->code;
}

void kiln_err_clear(kiln_err *err)
{
    if (err) {
        err->code = 0;
        err->offset = 0;
        err->msg[0] = '\0';
    }
}

const char *kiln_err_name(int code)
{
    switch (code) {
    case KILN_OK: return "OK";
    case KILN_EINVAL: return "EINVAL";
    case KILN_ENOMEM: return "ENOMEM";
    case KILN_EIO: return "EIO";
    case KILN_EFORMAT: return "EFORMAT";
    case KILN_ETRUNC: return "ETRUNC";
    case KILN_ELIMIT: return "ELIMIT";
    case KILN_ENOTFOUND: return "ENOTFOUND";
    case KILN_EEXIST: return "EEXIST";
    case KILN_ECONFLICT: return "ECONFLICT";
    case KILN_EUNSUPP: return "EUNSUPP";
    case KILN_ECONFIG: return "ECONFIG";
    case KILN_EINTERNAL: return "EINTERNAL";
    default: return "EUNKNOWN";
    }
}

int kiln_exit_code(int code)
{
    switch (code) {
    case 0: return KILN_EXIT_OK;
    case KILN_EINVAL: return KILN_EXIT_USAGE;
    case KILN_ECONFIG: return KILN_EXIT_CONFIG;
    case KILN_ENOTFOUND: return KILN_EXIT_NOTFOUND;
    case KILN_ECONFLICT: return KILN_EXIT_CONFLICT;
    case KILN_EINTERNAL: return KILN_EXIT_INTERNAL;
    default: return KILN_EXIT_FAIL;
    }
}
