/*
 * fuzz_yaml.c - fuzz target for the model layer's YAML reader
 * (src/models/yaml.c): each input is parsed; when it parses it is turned
 * into Jinja values. Invariants (abort on violation): no crash or
 * sanitizer report; an error has a message starting with the file name and
 * a line:column; every node's line and column are >= 1.
 */
#include "harness/harness.h"
#include "models/models_int.h"

#include <stdlib.h>

static void fz_abort(const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_yaml: %s: %s\n", what, msg);
    abort();
}

static void check_positions(const km_yaml *n, int depth)
{
    if (!n || depth > 300)
        return;
    if (n->line < 1 || n->col < 1)
        fz_abort("node without a position", n->s ? n->s : "");
    for (size_t i = 0; i < n->n; i++)
        check_positions(n->kids[i], depth + 1);
}

int kiln_fuzz_yaml(const uint8_t *d, size_t n)
{
    kiln_arena *a = kiln_arena_new(16384);
    if (!a)
        return 0;
    km_yaml *y = NULL;
    kiln_err err = {0};
    int rc = kiln_models__yaml_parse("f.yml", (const char *)d, n, a, &y, &err);
    if (rc) {
        if (rc != KILN_ENOMEM && strncmp(err.msg, "f.yml:", 6) != 0)
            fz_abort("error without a position", err.msg);
    } else if (y) {
        check_positions(y, 0);
        kj_val v;
        if (!kiln_models__yaml_to_kj(y, &v, &err))
            kj_release(v);
    }
    kiln_arena_free(a);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_yaml(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(yaml, kiln_fuzz_yaml)
