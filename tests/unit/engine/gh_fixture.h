/*
 * gh_fixture.h - hand-made GH Archive hour files for the engine's unit
 * tests: gzip text into DIR/NAME, optionally cut after `cut` compressed
 * bytes (a truncated download). Header-only, included by each test file.
 */
#ifndef KILN_TEST_GH_FIXTURE_H
#define KILN_TEST_GH_FIXTURE_H

#include "harness/harness.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static inline void write_gz(const char *dir, const char *name, const char *data, size_t n, size_t cut)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t len = z.total_out;
    deflateEnd(&z);
    kt_write_file(path, out, cut && cut < len ? cut : len);
    free(out);
}

static inline void write_hour(const char *dir, const char *name, const char *text)
{
    write_gz(dir, name, text, strlen(text), 0);
}

#endif
