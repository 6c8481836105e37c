/*
 * fuzz_jinja.c - fuzz target for kiln's Jinja interpreter (src/models/jinja*.c).
 *
 * Each input is parsed as a template and, when it parses, rendered with
 * small caps (output 256 KB, depth 40, 200k steps) and a few variables.
 * Invariants (abort on violation): no crash or sanitizer report; every
 * error has a code and a message that starts with the template name and a
 * line:column (or names an out-of-memory); output never exceeds the cap.
 */
#include "harness/harness.h"
#include "models/jinja.h"

#include <stdlib.h>

static void fz_abort(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_jinja: %s: %s\n", what, msg);
    abort();
}

int kiln_fuzz_jinja(const uint8_t *d, size_t n)
{
    kj_env *env = NULL;
    kiln_err err = {0};
    if (kj_env_new(&env, &err))
        return 0;
    kj_limits lim = {256 << 10, 40, 200000};
    kj_env_set_limits(env, &lim);
    kj_val vars = kj_dict_new();
    kj_val l = kj_list_new();
    kj_list_push(l, kj_str_c("a"), &err);
    kj_list_push(l, kj_int(2), &err);
    kj_dict_setc(vars, "items", l, &err);
    kj_dict_setc(vars, "name", kj_str_c("model"), &err);
    kj_dict_setc(vars, "n", kj_int(7), &err);
    kj_tpl *t;
    int rc = kj_parse(env, "fuzz.sql", (const char *)d, n, &t, &err);
    kiln_buf out;
    kiln_buf_init(&out, 0);
    if (!rc) {
        kj_val ret;
        rc = kj_render(env, t, vars, &out, &ret, &err);
        kj_release(ret);
        if (out.len > lim.max_output)
            fz_abort("output over the cap", "");
    }
    if (rc) {
        if (rc > 0 || !err.code || !err.msg[0])
            fz_abort("error without a code or message", err.msg);
        if (rc != KILN_ENOMEM && strncmp(err.msg, "fuzz.sql:", 9) != 0)
            fz_abort("error without a position", err.msg);
    }
    kiln_buf_free(&out);
    kj_release(vars);
    kj_env_free(env);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_jinja(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(jinja, kiln_fuzz_jinja)
