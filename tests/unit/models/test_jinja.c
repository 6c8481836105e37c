/*
 * test_jinja.c - kiln's Jinja interpreter: rendering (the broad semantic
 * comparison with Jinja2 is tests/e2e/models_jinja_vs_jinja2.sh), error
 * positions and the macro stack, macros collected from other files,
 * return(), the caps on output/depth/steps/nesting, and allocation
 * failures at every point of a render.
 */
#include "harness/harness.h"
#include "models/jinja.h"

#include <stdlib.h>

/* Parse and render src as template "t.sql"; returns rc, output in *out
 * (malloc'd) and the error message in err. */
static int render(kj_env *env, const char *src, kj_val vars, char **out, kiln_err *err)
{
    kj_tpl *t;
    kiln_buf b;
    kiln_buf_init(&b, 0);
    int rc = kj_parse(env, "t.sql", src, strlen(src), &t, err);
    if (!rc)
        rc = kj_render(env, t, vars, &b, NULL, err);
    *out = strdup(b.data ? b.data : "");
    kiln_buf_free(&b);
    return rc;
}

static int ret_native(kj_in *in, void *ud, kj_val self, const kj_args *a, kj_val *out)
{
    return kj_in_return(in, kj_retain(kj_arg(a, 0, NULL)));
}

TEST(jinja, renders_with_vars)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    kj_val vars = kj_dict_new();
    kj_val cols = kj_list_new();
    CHECK_OK(kj_list_push(cols, kj_str_c("id"), &err), &err);
    CHECK_OK(kj_list_push(cols, kj_str_c("name"), &err), &err);
    CHECK_OK(kj_dict_setc(vars, "cols", cols, &err), &err);
    CHECK_OK(kj_dict_setc(vars, "n", kj_int(3), &err), &err);
    char *out;
    int rc = render(env, "select {% for c in cols %}{{ c }}{{ ', ' if not loop.last }}{% endfor %} limit {{ n * 2 }}\n",
                    vars, &out, &err);
    CHECK_OK(rc, &err);
    CHECK_STR(out, "select id, name limit 6");
    free(out);
    kj_release(vars);
    kj_env_free(env);
}

TEST(jinja, error_positions)
{
    static const struct {
        const char *src, *want;
    } cases[] = {
        {"line1\n  {{ nope() }}", "t.sql:2:6: 'nope' is undefined"},
        {"{{ 1 +\n\n   'a' }}", "t.sql:1:6: unsupported operand type(s) for +: 'int' and 'str'"},
        {"{% if x %}\n{% endfor %}", "t.sql:2:4: unexpected 'endfor', expected 'elif'"},
        {"ab\n{{ x.y.z }}", "t.sql:2:4: 'x' is undefined"},
        {"{% for a in [1] %}\n\n  {{ 1 // 0 }}{% endfor %}", "t.sql:3:8: integer division or modulo by zero"},
        {"{{ 'abc }}", "t.sql:1:4: unterminated string"},
        {"{# x", "t.sql:1:1: missing end of comment tag"},
        {"{% frobnicate %}", "t.sql:1:4: unknown tag 'frobnicate'"},
        {"{{ [1] | nosuch }}", "t.sql:1:8: no filter named 'nosuch'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kj_env *env;
        kiln_err err = {0};
        CHECK_OK(kj_env_new(&env, &err), &err);
        char *out;
        int rc = render(env, cases[i].src, kj_undef(), &out, &err);
        free(out);
        kj_env_free(env);
        CHECK_MSG(rc < 0, "case %zu rendered", i);
        CHECK_MSG(strncmp(err.msg, cases[i].want, strlen(cases[i].want)) == 0, "case %zu: got \"%s\" want \"%s\"", i,
                  err.msg, cases[i].want);
    }
}

TEST(jinja, macros_from_other_files_and_stack)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    const char *lib = "{% macro outer(x) %}[{{ inner(x) }}]{% endmacro %}\n"
                      "{% macro inner(x) %}{{ x ~ '!' }}{% if x == 'boom' %}{{ x + 1 }}{% endif %}{% endmacro %}\n"
                      "{% test not_empty(model) %}select 1 from {{ model }}{% endtest %}";
    kj_tpl *lt;
    CHECK_OK(kj_parse(env, "macros/lib.sql", lib, strlen(lib), &lt, &err), &err);
    CHECK_OK(kj_define_macros(env, lt, kj_env_globals(env), &err), &err);
    CHECK(kj_dict_getc(kj_env_globals(env), "outer") != NULL);
    CHECK(kj_dict_getc(kj_env_globals(env), "test_not_empty") != NULL);
    char *out;
    CHECK_OK(render(env, "{{ outer('a') }} {{ test_not_empty('m') }}", kj_undef(), &out, &err), &err);
    CHECK_STR(out, "[a!] select 1 from m");
    free(out);
    int rc = render(env, "\n  {{ outer('boom') }}", kj_undef(), &out, &err);
    free(out);
    CHECK(rc < 0);
    CHECK_MSG(strstr(err.msg, "macros/lib.sql:2:59: ") == err.msg, "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "in macro 'inner' called from macros/lib.sql:1:25"), "%s", err.msg);
    CHECK_MSG(strstr(err.msg, "in macro 'outer' called from t.sql:2:6"), "%s", err.msg);
    kj_env_free(env);
}

/* A macro from another file sees the calling render's variables (dbt's
 * context: var, this, is_incremental...), not only its arguments. */
TEST(jinja, macros_see_the_callers_context)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    const char *lib = "{% macro where_day(col) %}{{ col }} >= '{{ start }}' from {{ this }}{% endmacro %}";
    kj_tpl *lt;
    CHECK_OK(kj_parse(env, "macros/w.sql", lib, strlen(lib), &lt, &err), &err);
    CHECK_OK(kj_define_macros(env, lt, kj_env_globals(env), &err), &err);
    kj_val vars = kj_dict_new();
    CHECK_OK(kj_dict_setc(vars, "start", kj_str_c("2025-10-06"), &err), &err);
    CHECK_OK(kj_dict_setc(vars, "this", kj_str_c("analytics.m"), &err), &err);
    char *out;
    CHECK_OK(render(env, "{{ where_day('day') }}", vars, &out, &err), &err);
    CHECK_STR(out, "day >= '2025-10-06' from analytics.m");
    free(out);
    /* without the variables the names are undefined (print as nothing) */
    CHECK_OK(render(env, "{{ where_day('day') }}", kj_undef(), &out, &err), &err);
    CHECK_STR(out, "day >= '' from ");
    free(out);
    kj_release(vars);
    kj_env_free(env);
}

TEST(jinja, return_value_from_macro)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    CHECK_OK(kj_dict_setc(kj_env_globals(env), "return", kj_func_new("return", ret_native, NULL, kj_undef()), &err),
             &err);
    char *out;
    CHECK_OK(render(env,
                    "{% macro cols() %}ignored{{ return(['a', 'b']) }}never{% endmacro %}"
                    "{% set c = cols() %}{{ c | length }} {{ c[1] }} {{ c is string }}",
                    kj_undef(), &out, &err),
             &err);
    CHECK_STR(out, "2 b False");
    free(out);
    kj_env_free(env);
}

TEST(jinja, call_value_and_caller)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    const char *lib = "{% macro add(a, b=10) %}{{ a + b }}{% endmacro %}";
    kj_tpl *t;
    CHECK_OK(kj_parse(env, "m.sql", lib, strlen(lib), &t, &err), &err);
    CHECK_OK(kj_define_macros(env, t, kj_env_globals(env), &err), &err);
    kj_val args[1] = {kj_int(5)};
    kj_args a = {1, 0, args, NULL, NULL, kj_undef()};
    kj_val out;
    CHECK_OK(kj_call_value(env, *kj_dict_getc(kj_env_globals(env), "add"), &a, &out, &err), &err);
    CHECK(out.t == KJ_STR);
    CHECK_STR(out.u.s->p, "15");
    kj_release(out);
    kj_env_free(env);
}

TEST(jinja, caps)
{
    static const struct {
        const char *src;
        int code;
        const char *what;
    } cases[] = {
        {"{% for i in range(100000) %}xxxxxxxxxx{% endfor %}", KILN_ELIMIT, "output exceeds"},
        {"{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", KILN_ELIMIT, "nested deeper"},
        {"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", KILN_ELIMIT, "steps"},
        {"{{ 'x' * 100000000000 }}", KILN_ELIMIT, "exceeds"},
        {"{{ range(1000000000) }}", KILN_ELIMIT, "range too big"},
        {"{{ 9223372036854775807 + 1 }}", KILN_EINVAL, "integer overflow"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kj_env *env;
        kiln_err err = {0};
        CHECK_OK(kj_env_new(&env, &err), &err);
        kj_limits lim = {100000, 50, 1000000};
        kj_env_set_limits(env, &lim);
        char *out;
        int rc = render(env, cases[i].src, kj_undef(), &out, &err);
        free(out);
        kj_env_free(env);
        CHECK_MSG(rc == cases[i].code, "case %zu: rc %d (%s)", i, rc, err.msg);
        CHECK_MSG(strstr(err.msg, cases[i].what) && strstr(err.msg, "t.sql:1:"), "case %zu: %s", i, err.msg);
    }
    /* parser nesting */
    kiln_buf deep;
    kiln_buf_init(&deep, 0);
    kiln_err err = {0};
    kiln_buf_append(&deep, "{{ ", 3, &err);
    for (int i = 0; i < 5000; i++)
        kiln_buf_putc(&deep, '(', &err);
    kiln_buf_putc(&deep, '1', &err);
    for (int i = 0; i < 5000; i++)
        kiln_buf_putc(&deep, ')', &err);
    kiln_buf_append(&deep, " }}", 3, &err);
    kj_env *env;
    CHECK_OK(kj_env_new(&env, &err), &err);
    char *out;
    int rc = render(env, deep.data, kj_undef(), &out, &err);
    free(out);
    kiln_buf_free(&deep);
    kj_env_free(env);
    CHECK(rc == KILN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "nested too deeply"), "%s", err.msg);
}

TEST(jinja, datetime_module)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    char *out;
    CHECK_OK(render(env,
                    "{% set now = modules.datetime.datetime.now() %}{{ now.year >= 2024 }} "
                    "{{ now.strftime('%Y-%m-%d') | length }} {{ modules.datetime.date.today().isoformat() | length }}",
                    kj_undef(), &out, &err),
             &err);
    CHECK_STR(out, "True 10 10");
    free(out);
    kj_env_free(env);
}

TEST(jinja, zip_and_tuples)
{
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    char *out;
    CHECK_OK(render(env, "{% for a, b in zip([1, 2, 3], 'xy') %}{{ a }}{{ b }} {% endfor %}{{ zip([1], [2]) }}",
                    kj_undef(), &out, &err),
             &err);
    CHECK_STR(out, "1x 2y [(1, 2)]");
    free(out);
    kj_env_free(env);
}

/* Every allocation of a render failing in turn: the render fails cleanly
 * with KILN_ENOMEM (ASan checks nothing leaks or is used after free), or
 * succeeds with the right output. */
TEST(jinja, allocation_failures)
{
    const char *src = "{% macro m(a, b=[1, {'k': 'v'}]) %}{% for x in b %}{{ a }}{{ x }}{% endfor %}{% endmacro %}"
                      "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}"
                      "{{ m(i) | upper | replace('K', 'q') }}{% endfor %}{{ ns.n }} {{ 'a,b'.split(',') | join('-') }}"
                      "{% call m('c') %}{% endcall %}";
    kj_env *env;
    kiln_err err = {0};
    CHECK_OK(kj_env_new(&env, &err), &err);
    char *want;
    CHECK_OK(render(env, src, kj_undef(), &want, &err), &err);
    kj_env_free(env);
    int succeeded = 0;
    for (long n = 0; n < 2000 && !succeeded; n++) {
        kiln_err e2 = {0};
        kj_env *env2 = NULL;
        kiln_alloc_fail_after(n);
        int rc = kj_env_new(&env2, &e2);
        char *out = NULL;
        if (!rc)
            rc = render(env2, src, kj_undef(), &out, &e2);
        kiln_alloc_fail_after(-1);
        kj_env_free(env2);
        if (rc == 0) {
            CHECK_STR(out, want);
            succeeded = 1;
        } else {
            CHECK_MSG(rc == KILN_ENOMEM, "n=%ld rc=%d %s", n, rc, e2.msg);
        }
        free(out);
    }
    free(want);
    CHECK(succeeded);
}
