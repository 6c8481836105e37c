/*
 * avro_int.h - internals shared by src/format/avro_*.c (not for other
 * modules; they use format/avro.h).
 */
#ifndef KILN_FORMAT_AVRO_INT_H
#define KILN_FORMAT_AVRO_INT_H

#include "format/avro/avro.h"

/* Build a value of schema s from a JSON default (Avro default rules: a union
 * default is for its first branch; bytes/fixed are strings of U+0000..U+00FF).
 * Memory from arena a. KILN_EFORMAT when json does not fit s. */
int kiln_avro__value_from_default(kiln_avro_value *out, kiln_arena *a, const kiln_avro_schema *s, const char *json,
                                  kiln_err *err);

#endif
