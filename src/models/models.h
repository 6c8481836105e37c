/*
 * models.h - kiln's dbt-compatible model layer: the public API the CLI
 * uses (one header for the module; src/models/jinja.h is internal).
 *
 * Today: rendering Jinja templates (`kiln jinja`). See docs/models.md for
 * what works and what does not yet.
 */
#ifndef KILN_MODELS_H
#define KILN_MODELS_H

#include "base/base.h"

/* Render the Jinja template in file `path` with dbt's Jinja settings.
 * vars_json: a JSON object whose members become template variables, or
 * NULL. The output is appended to out. Errors: KILN_EIO (file),
 * KILN_EFORMAT (template syntax: "path:line:col: message"), KILN_EINVAL
 * (evaluation: "path:line:col: message (in macro ...)"), KILN_ELIMIT. */
int kiln_models_render_file(const char *path, const char *vars_json, kiln_buf *out, kiln_err *err);

#endif /* KILN_MODELS_H */
