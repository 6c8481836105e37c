/*
 * render.c - conversions between JSON (jansson) and Jinja values, and the
 * one-file render behind `kiln jinja`.
 */
#include "models/models.h"
#include "models/models_int.h"

#include <jansson.h>

int kiln_models__json_to_kj(const json_t *j, kj_val *out, kiln_err *err)
{
    int rc = 0;
    *out = kj_undef();
    switch (json_typeof(j)) {
    case JSON_NULL: *out = kj_none(); return 0;
    case JSON_TRUE: *out = kj_bool(1); return 0;
    case JSON_FALSE: *out = kj_bool(0); return 0;
    case JSON_INTEGER: *out = kj_int(json_integer_value(j)); return 0;
    case JSON_REAL: *out = kj_float(json_real_value(j)); return 0;
    case JSON_STRING:
        *out = kj_str_new(json_string_value(j), json_string_length(j));
        return kj_oom(*out) ? KILN_OOM(err) : 0;
    case JSON_ARRAY: {
        kj_val l = kj_list_new();
        if (kj_oom(l))
            return KILN_OOM(err);
        for (size_t i = 0; i < json_array_size(j) && !rc; i++) {
            kj_val v;
            if (!(rc = kiln_models__json_to_kj(json_array_get(j, i), &v, err)))
                rc = kj_list_push(l, v, err);
        }
        if (rc) {
            kj_release(l);
            return rc;
        }
        *out = l;
        return 0;
    }
    case JSON_OBJECT: {
        kj_val d = kj_dict_new();
        if (kj_oom(d))
            return KILN_OOM(err);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            kj_val x;
            if ((rc = kiln_models__json_to_kj(v, &x, err)) || (rc = kj_dict_setc(d, k, x, err)))
                break;
        }
        if (rc) {
            kj_release(d);
            return rc;
        }
        *out = d;
        return 0;
    }
    }
    return kiln_err_set(err, KILN_EINTERNAL, "unknown JSON type");
}

int kiln_models_render_string(const char *name, const char *src, size_t len, const char *vars_json, kiln_buf *out,
                              kiln_err *err)
{
    int rc;
    kj_env *env = NULL;
    kj_tpl *t;
    kj_val vars = kj_undef();
    json_t *j = NULL;
    if (vars_json) {
        json_error_t je;
        j = json_loads(vars_json, JSON_DECODE_ANY, &je);
        if (!j || !json_is_object(j)) {
            rc = kiln_err_set(err, KILN_EINVAL, "template variables: not a JSON object%s%s", j ? "" : ": ",
                              j ? "" : je.text);
            goto done;
        }
        if ((rc = kiln_models__json_to_kj(j, &vars, err)))
            goto done;
    }
    if ((rc = kj_env_new(&env, err)) || (rc = kj_parse(env, name, src, len, &t, err)))
        goto done;
    rc = kj_render(env, t, vars, out, NULL, err);
done:
    kj_release(vars);
    json_decref(j);
    kj_env_free(env);
    return rc;
}

int kiln_models_render_file(const char *path, const char *vars_json, kiln_buf *out, kiln_err *err)
{
    char *src = NULL;
    size_t len = 0;
    int rc = kiln_file_read(path, (size_t)64 << 20, &src, &len, err);
    if (rc == 0)
        rc = kiln_models_render_string(path, src, len, vars_json, out, err);
    kiln_free(src);
    return rc;
}
