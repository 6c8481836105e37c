/*
 * models_int.h - declarations shared by the files of src/models (not for
 * other modules: they use models.h).
 */
#ifndef KILN_MODELS_INT_H
#define KILN_MODELS_INT_H

#include <jansson.h>

#include "models/jinja.h"

/* JSON value -> Jinja value (objects keep their key order). *out owned. */
int kiln_models__json_to_kj(const json_t *j, kj_val *out, kiln_err *err);

/* ------------------------------------------------------------ YAML (yaml.c) */

enum { KM_Y_SCALAR, KM_Y_SEQ, KM_Y_MAP };

/* A YAML node with its position (1-based). Maps hold kids as key, value,
 * key, value... Nodes live in the arena given to kiln_models__yaml_parse. */
typedef struct km_yaml {
    int type;
    int quoted; /* scalar written in quotes (or block style): always a string */
    int done;   /* fully parsed (an alias to an unfinished node would make a cycle) */
    uint32_t line, col;
    const char *s; /* scalar text, NUL-terminated */
    size_t len;
    struct km_yaml **kids;
    size_t n;
} km_yaml;

/* Parse one YAML document. *out is NULL for an empty file. Errors:
 * KILN_EFORMAT "file:line:col: message". */
int kiln_models__yaml_parse(const char *file, const char *data, size_t len, kiln_arena *arena, km_yaml **out,
                            kiln_err *err);
int kiln_models__yaml_is_null(const km_yaml *n);
int kiln_models__yaml_bool(const km_yaml *n); /* 1, 0, or -1 when not a boolean */
/* The node as a Jinja value (typed as PyYAML types scalars). *out owned. */
int kiln_models__yaml_to_kj(const km_yaml *n, kj_val *out, kiln_err *err);
/* Value of key in a map (NULL when absent or n is not a map). */
const km_yaml *kiln_models__yaml_get(const km_yaml *map, const char *key);
/* "FILE:LINE:COL: message" (KILN_EFORMAT) at YAML node n (NULL: 1:1), the one
 * way a project file's error is reported (project.c). */
/* A Jinja Relation object (schema, identifier, name, table; prints
 * "schema.identifier", or the identifier alone for schema ""); compile.c. */
kj_val kiln_models__relation_new(const char *schema, const char *identifier);
/* A Jinja value as JSON (None/undefined -> null; dict keys as their text);
 * artifacts.c. */
json_t *kiln_models__kj_json(kj_val v);
int kiln_models__yfail(kiln_err *err, const char *file, const km_yaml *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* KILN_MODELS_INT_H */
