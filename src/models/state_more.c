/*
 * state_more.c - refinements of `state:` selection (issue 19):
 *
 *  - modified.contract: the node's contract (enforced, column types:
 *    its checksum) differs from the state manifest's;
 *  - modified.macros: the node calls (`name(` in its file) a project macro
 *    whose `macro_sql` differs from the state manifest's, or that calls
 *    such a macro (followed through macros to a fixpoint);
 *  - whitespace: a body whose file checksum differs but whose raw code is
 *    the same once runs of whitespace are collapsed is not modified (dbt
 *    compares the checksum only; an edit of comments still counts).
 * `state:modified` includes .contract and .macros.
 */
#include "models/project.h"

#include <ctype.h>
#include <jansson.h>

static int same_ws(const char *a, const char *b)
{
    for (;;) {
        while (*a && isspace((unsigned char)*a) && (a[1] == 0 || isspace((unsigned char)a[1])))
            a++;
        while (*b && isspace((unsigned char)*b) && (b[1] == 0 || isspace((unsigned char)b[1])))
            b++;
        int sa = *a && isspace((unsigned char)*a), sb = *b && isspace((unsigned char)*b);
        if (sa && sb) {
            a++, b++;
            continue;
        }
        if (*a != *b)
            return 0;
        if (!*a)
            return 1;
        a++, b++;
    }
}

int kiln_models__state_same_code(json_t *now, json_t *old)
{
    const char *a = json_string_value(json_object_get(now, "raw_code")),
               *b = json_string_value(json_object_get(old, "raw_code"));
    if (!a || !b)
        return 0;
    while (isspace((unsigned char)*a))
        a++;
    while (isspace((unsigned char)*b))
        b++;
    return same_ws(a, b);
}

int kiln_models__state_contract_changed(json_t *now, json_t *old)
{
    json_t *x = json_object_get(now, "contract"), *y = json_object_get(old, "contract");
    if (!x && !y)
        return 0;
    return !x || !y || !json_equal(x, y);
}

static int calls(const char *text, const char *name)
{
    size_t l = strlen(name);
    for (const char *q = strstr(text, name); q; q = strstr(q + 1, name)) {
        if (q > text && (isalnum((unsigned char)q[-1]) || q[-1] == '_' || q[-1] == '.'))
            continue;
        const char *e = q + l;
        while (*e == ' ')
            e++;
        if (*e == '(')
            return 1;
    }
    return 0;
}

int kiln_models__state_macros_changed(const kiln_project *p, const km_node *n)
{
    if (!p->state_manifest || p->macros.t != KJ_LIST || !n->raw)
        return 0;
    json_t *old = json_object_get(p->state_manifest, "macros");
    size_t nm = p->macros.u.l->len;
    unsigned char *changed = kiln_calloc(nm + 1, 1);
    if (!changed)
        return 1;
    for (size_t i = 0; i < nm; i++) {
        kj_val m = p->macros.u.l->items[i];
        kj_val *name = kj_dict_getc(m, "name"), *sql = kj_dict_getc(m, "sql");
        char *id = name ? kiln_sprintf("macro.%s.%s", p->name, name->u.s->p) : NULL;
        const char *was = id ? json_string_value(json_object_get(json_object_get(old, id), "macro_sql")) : NULL;
        changed[i] = !was || !sql || sql->t != KJ_STR || strcmp(was, sql->u.s->p);
        kiln_free(id);
    }
    for (int again = 1; again;) { /* a macro calling a changed macro changed */
        again = 0;
        for (size_t i = 0; i < nm; i++) {
            if (changed[i])
                continue;
            kj_val *sql = kj_dict_getc(p->macros.u.l->items[i], "sql");
            for (size_t k = 0; k < nm && sql && sql->t == KJ_STR; k++)
                if (changed[k] && calls(sql->u.s->p, kj_dict_getc(p->macros.u.l->items[k], "name")->u.s->p)) {
                    changed[i] = 1;
                    again = 1;
                    break;
                }
        }
    }
    int hit = 0;
    for (size_t i = 0; i < nm && !hit; i++)
        hit = changed[i] && calls(n->raw, kj_dict_getc(p->macros.u.l->items[i], "name")->u.s->p);
    kiln_free(changed);
    return hit;
}
