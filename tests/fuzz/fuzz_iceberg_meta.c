/*
 * fuzz_iceberg_meta.c - fuzz target for the Iceberg table metadata parser
 * (src/lake/iceberg_meta.c). Any input must parse or fail cleanly; what
 * parses must serialize, and the serialized text must parse again to the
 * same text (abort otherwise). Time travel resolution runs on it too.
 */
#include "harness/harness.h"
#include "lake/lake.h"

#include <dirent.h>
#include <stdlib.h>

int kiln_fuzz_iceberg_meta(const uint8_t *d, size_t n);

int kiln_fuzz_iceberg_meta(const uint8_t *d, size_t n)
{
    kiln_lake_meta *m = NULL, *m2 = NULL;
    kiln_err err = {0};
    kiln_buf b, b2;
    kiln_buf_init(&b, 0);
    kiln_buf_init(&b2, 0);
    if (kiln_lake_meta_parse(&m, (const char *)d, n, &err) == 0) {
        int64_t id;
        kiln_lake_meta_resolve(m, "main", &id, &err);
        kiln_lake_meta_resolve(m, "2024-01-01", &id, &err);
        for (size_t i = 0; i < m->nsnapshots; i++)
            kiln_lake_meta_is_ancestor(m, m->current_snapshot_id, m->snapshots[i].snapshot_id);
        if (kiln_lake_meta_write(m, 0, &b, &err) != 0)
            abort();
        if (kiln_lake_meta_parse(&m2, b.data, b.len, &err) != 0) {
            fprintf(stderr, "fuzz_iceberg_meta: own output does not parse: %s\n", err.msg);
            abort();
        }
        if (kiln_lake_meta_write(m2, 0, &b2, &err) != 0 || b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0) {
            fprintf(stderr, "fuzz_iceberg_meta: round trip differs\n");
            abort();
        }
    }
    kiln_lake_meta_free(m);
    kiln_lake_meta_free(m2);
    kiln_buf_free(&b);
    kiln_buf_free(&b2);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_iceberg_meta(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(iceberg_meta, kiln_fuzz_iceberg_meta)
