/*
 * yaml.c - YAML documents (dbt_project.yml, profiles.yml, schema files)
 * read with libyaml into a small tree that keeps each node's line and
 * column, so every error about the content can name file:line:column.
 *
 * Scalars are typed as PyYAML's safe_load types them (dbt reads YAML with
 * PyYAML): plain `null`/`~`/empty are None, true/false/yes/no/on/off (any
 * case form YAML 1.1 allows) are booleans, decimal/octal/hex integers, and
 * floats (incl. .inf/.nan); quoted scalars are always strings. Aliases
 * refer to their anchor's node. Bounded: nesting depth 256, 1 M nodes.
 */
#include "models/models_int.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <strings.h>
#include <stdlib.h>
#include <yaml.h>

#define KM_YAML_MAX_DEPTH 256
#define KM_YAML_MAX_NODES 1000000

typedef struct yctx {
    const char *file;
    kiln_arena *arena;
    yaml_parser_t parser;
    size_t nodes;
    struct anchor {
        char *name;
        km_yaml *node;
    } * anchors;
    size_t nanchors, aanchors;
    kiln_err *err;
} yctx;

static int yerr(yctx *c, size_t line0, size_t col0, const char *what)
{
    return kiln_err_set(c->err, KILN_EFORMAT, "%s:%zu:%zu: %s", c->file, line0 + 1, col0 + 1, what);
}

static km_yaml *ynode(yctx *c, int type, const yaml_mark_t *m)
{
    if (++c->nodes > KM_YAML_MAX_NODES)
        return NULL;
    km_yaml *n = kiln_arena_alloc(c->arena, sizeof(km_yaml));
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->type = type;
    n->line = (uint32_t)m->line + 1;
    n->col = (uint32_t)m->column + 1;
    return n;
}

static int add_anchor(yctx *c, const yaml_char_t *name, km_yaml *n)
{
    if (!name)
        return 0;
    if (c->nanchors == c->aanchors) {
        size_t na = c->aanchors ? c->aanchors * 2 : 8;
        void *p = kiln_realloc(c->anchors, na * sizeof(*c->anchors));
        if (!p)
            return KILN_OOM(c->err);
        c->anchors = p;
        c->aanchors = na;
    }
    char *s = kiln_arena_strndup(c->arena, (const char *)name, strlen((const char *)name));
    if (!s)
        return KILN_OOM(c->err);
    c->anchors[c->nanchors].name = s;
    c->anchors[c->nanchors].node = n;
    c->nanchors++;
    return 0;
}

static int next_event(yctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev)) {
        const char *prob = c->parser.problem ? c->parser.problem : "YAML syntax error";
        char msg[300];
        if (c->parser.context)
            snprintf(msg, sizeof msg, "%s %s", c->parser.context, prob);
        else
            snprintf(msg, sizeof msg, "%s", prob);
        return yerr(c, c->parser.problem_mark.line, c->parser.problem_mark.column, msg);
    }
    return 0;
}

typedef KILN_VEC(km_yaml *) ykids;

/* Parse the node whose first event is ev (consumed). */
static int parse_node(yctx *c, yaml_event_t *ev, int depth, km_yaml **out)
{
    int rc = 0;
    if (depth > KM_YAML_MAX_DEPTH)
        return yerr(c, ev->start_mark.line, ev->start_mark.column, "YAML nested too deeply");
    switch (ev->type) {
    case YAML_SCALAR_EVENT: {
        km_yaml *n = ynode(c, KM_Y_SCALAR, &ev->start_mark);
        if (!n)
            return c->nodes > KM_YAML_MAX_NODES
                       ? yerr(c, ev->start_mark.line, ev->start_mark.column, "too many YAML nodes")
                       : KILN_OOM(c->err);
        n->s = kiln_arena_strndup(c->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!n->s)
            return KILN_OOM(c->err);
        n->len = ev->data.scalar.length;
        n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        n->done = 1;
        if ((rc = add_anchor(c, ev->data.scalar.anchor, n)))
            return rc;
        *out = n;
        return 0;
    }
    case YAML_ALIAS_EVENT:
        for (size_t i = c->nanchors; i-- > 0;)
            if (!strcmp(c->anchors[i].name, (const char *)ev->data.alias.anchor)) {
                if (!c->anchors[i].node->done)
                    return yerr(c, ev->start_mark.line, ev->start_mark.column,
                                "recursive alias (refers to a node that contains it)");
                *out = c->anchors[i].node;
                return 0;
            }
        return yerr(c, ev->start_mark.line, ev->start_mark.column, "unknown alias");
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        km_yaml *n = ynode(c, is_map ? KM_Y_MAP : KM_Y_SEQ, &ev->start_mark);
        if (!n)
            return c->nodes > KM_YAML_MAX_NODES
                       ? yerr(c, ev->start_mark.line, ev->start_mark.column, "too many YAML nodes")
                       : KILN_OOM(c->err);
        if ((rc = add_anchor(c, is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor, n)))
            return rc;
        ykids kids = {0};
        for (;;) {
            yaml_event_t e;
            if ((rc = next_event(c, &e)))
                break;
            if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&e);
                break;
            }
            km_yaml *k = NULL;
            rc = parse_node(c, &e, depth + 1, &k);
            yaml_event_delete(&e);
            if (rc || (rc = kiln_vec_push(&kids, k, c->err)))
                break;
        }
        if (!rc && kids.len) {
            n->kids = kiln_arena_alloc(c->arena, kids.len * sizeof(km_yaml *));
            if (!n->kids)
                rc = KILN_OOM(c->err);
            else
                memcpy(n->kids, kids.items, kids.len * sizeof(km_yaml *));
            n->n = kids.len;
        }
        kiln_vec_free(&kids);
        if (!rc && is_map) {
            /* keys must be scalars; duplicate keys are an error (PyYAML keeps
             * the last silently; dbt's loader rejects duplicates) */
            for (size_t i = 0; i < n->n; i += 2) {
                km_yaml *k = n->kids[i];
                if (k->type != KM_Y_SCALAR)
                    return kiln_err_set(c->err, KILN_EFORMAT, "%s:%u:%u: mapping keys must be scalars", c->file,
                                        k->line, k->col);
                for (size_t j = 0; j < i; j += 2)
                    if (!strcmp(n->kids[j]->s, k->s))
                        return kiln_err_set(c->err, KILN_EFORMAT, "%s:%u:%u: duplicate key '%s' (first at line %u)",
                                            c->file, k->line, k->col, k->s, n->kids[j]->line);
            }
        }
        n->done = 1;
        *out = n;
        return rc;
    }
    default: return yerr(c, ev->start_mark.line, ev->start_mark.column, "unexpected YAML event");
    }
}

int kiln_models__yaml_parse(const char *file, const char *data, size_t len, kiln_arena *arena, km_yaml **out,
                            kiln_err *err)
{
    yctx c;
    memset(&c, 0, sizeof c);
    c.file = file;
    c.arena = arena;
    c.err = err;
    *out = NULL;
    if (!yaml_parser_initialize(&c.parser))
        return KILN_OOM(err);
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)data, len);
    int rc = 0, done = 0;
    while (!done && !rc) {
        yaml_event_t ev;
        if ((rc = next_event(&c, &ev)))
            break;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT: done = 1; break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
        case YAML_DOCUMENT_END_EVENT: break;
        default:
            if (*out) {
                rc = yerr(&c, ev.start_mark.line, ev.start_mark.column, "more than one YAML document");
                break;
            }
            rc = parse_node(&c, &ev, 0, out);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&c.parser);
    kiln_free(c.anchors);
    if (rc)
        *out = NULL;
    return rc;
}

/* ------------------------------------------------------------ typed access */

static int ieq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

int kiln_models__yaml_is_null(const km_yaml *n)
{
    return !n ||
           (n->type == KM_Y_SCALAR && !n->quoted &&
            (!n->len || !strcmp(n->s, "~") || !strcmp(n->s, "null") || !strcmp(n->s, "Null") || !strcmp(n->s, "NULL")));
}

/* YAML 1.1 booleans as PyYAML reads them: 1 true, 0 false, -1 not a bool */
int kiln_models__yaml_bool(const km_yaml *n)
{
    if (!n || n->type != KM_Y_SCALAR || n->quoted)
        return -1;
    static const char *const t[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", NULL};
    static const char *const f[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", NULL};
    for (int i = 0; t[i]; i++) {
        if (!strcmp(n->s, t[i]) && !(t[i][0] == 'y' && !t[i][1]) && !(t[i][0] == 'Y' && !t[i][1]))
            return 1;
        if (!strcmp(n->s, f[i]) && !(f[i][0] == 'n' && !f[i][1]) && !(f[i][0] == 'N' && !f[i][1]))
            return 0;
    }
    return -1;
}

/* Scalar to a Jinja value, typed as PyYAML does. */
static int scalar_to_kj(const km_yaml *n, kj_val *out, kiln_err *err)
{
    if (kiln_models__yaml_is_null(n)) {
        *out = kj_none();
        return 0;
    }
    if (!n->quoted) {
        int b = kiln_models__yaml_bool(n);
        if (b >= 0) {
            *out = kj_bool(b);
            return 0;
        }
        const char *s = n->s;
        char buf[128];
        size_t k = 0;
        for (const char *p = s; *p && k < sizeof buf - 1; p++)
            if (*p != '_')
                buf[k++] = *p;
        buf[k] = 0;
        char *end;
        if (k && k < sizeof buf - 1 && strcspn(buf, "0123456789") < k) {
            errno = 0;
            long long v;
            if (buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))
                v = strtoll(buf, &end, 16);
            else if (buf[0] == '0' && buf[1] && strspn(buf, "01234567") == k)
                v = strtoll(buf, &end, 8);
            else
                v = strtoll(buf, &end, 10);
            if (!*end && !errno && (isdigit((unsigned char)buf[0]) || ((buf[0] == '-' || buf[0] == '+') && buf[1]))) {
                *out = kj_int(v);
                return 0;
            }
            double d = strtod(buf, &end);
            if (!*end && strpbrk(buf, ".eE") && !strpbrk(buf, "xXiInN") &&
                (isdigit((unsigned char)buf[0]) || buf[0] == '.' || buf[0] == '-' || buf[0] == '+')) {
                *out = kj_float(d);
                return 0;
            }
        }
        if (ieq(s, ".inf") || ieq(s, "+.inf") || ieq(s, "-.inf") || ieq(s, ".nan")) {
            *out = kj_float(ieq(s, ".nan") ? NAN : s[0] == '-' ? -INFINITY : INFINITY);
            return 0;
        }
    }
    *out = kj_str_new(n->s, n->len);
    return kj_oom(*out) ? KILN_OOM(err) : 0;
}

/* Aliases share nodes, so a small document can stand for a huge tree
 * ("billion laughs"): the conversion counts the values it makes. */
#define KM_YAML_MAX_VALUES 1000000

static int to_kj(const km_yaml *n, kj_val *out, size_t *budget, kiln_err *err);

int kiln_models__yaml_to_kj(const km_yaml *n, kj_val *out, kiln_err *err)
{
    size_t budget = KM_YAML_MAX_VALUES;
    return to_kj(n, out, &budget, err);
}

static int to_kj(const km_yaml *n, kj_val *out, size_t *budget, kiln_err *err)
{
    int rc = 0;
    if (!*budget)
        return kiln_err_set(err, KILN_ELIMIT, "YAML expands to more than %d values (aliases)", KM_YAML_MAX_VALUES);
    --*budget;
    if (!n) {
        *out = kj_none();
        return 0;
    }
    if (n->type == KM_Y_SCALAR)
        return scalar_to_kj(n, out, err);
    kj_val c = n->type == KM_Y_MAP ? kj_dict_new() : kj_list_new();
    if (kj_oom(c))
        return KILN_OOM(err);
    for (size_t i = 0; i < n->n && !rc; i += n->type == KM_Y_MAP ? 2 : 1) {
        kj_val v;
        if (n->type == KM_Y_MAP) {
            kj_val k;
            if ((rc = scalar_to_kj(n->kids[i], &k, err)))
                break;
            if ((rc = to_kj(n->kids[i + 1], &v, budget, err))) {
                kj_release(k);
                break;
            }
            rc = kj_dict_set(c, k, v, err);
        } else {
            if (!(rc = to_kj(n->kids[i], &v, budget, err)))
                rc = kj_list_push(c, v, err);
        }
    }
    if (rc) {
        kj_release(c);
        return rc;
    }
    *out = c;
    return 0;
}

const km_yaml *kiln_models__yaml_get(const km_yaml *map, const char *key)
{
    if (!map || map->type != KM_Y_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (!strcmp(map->kids[i]->s, key))
            return map->kids[i + 1];
    return NULL;
}
