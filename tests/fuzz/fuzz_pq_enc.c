/*
 * fuzz_pq_enc.c - fuzz target for the Parquet encodings and codecs
 * (src/format/pq_enc.c, pq_codec.c).
 *
 * Input layout: byte 0 picks the decoder, bytes 1..3 its parameters
 * (bit width, value count, dictionary size, codec, ...), the rest is the
 * encoded data. Modes >= 12 instead treat the data as values, encode them
 * and check that decoding gives them back (abort on mismatch).
 * Value counts are capped at 4096 so memory stays small.
 */
#include "harness/harness.h"
#include "format/parquet/pq_enc.h"

#include <dirent.h>
#include <stdlib.h>

#define FZ_MAX_COUNT 4096

static void rt_abort(const char *what)
{
    fprintf(stderr, "fuzz_pq_enc: round trip mismatch in %s\n", what);
    abort();
}

static void fuzz_roundtrip(int mode, int p1, const uint8_t *d, size_t n)
{
    kiln_err err = {0};
    kiln_buf b;
    kiln_buf_init(&b, 0);
    size_t count = n / 4 > FZ_MAX_COUNT ? FZ_MAX_COUNT : n / 4;
    uint32_t *u = malloc((count + 1) * 4), *ub = malloc((count + 1) * 4);
    int64_t *l = malloc((count + 1) * 8), *lb = malloc((count + 1) * 8);
    for (size_t i = 0; i < count; i++) {
        memcpy(&u[i], d + 4 * i, 4);
        l[i] = (int64_t)((((uint64_t)u[i] << (p1 % 33)) * (p1 & 1 ? 0x9E3779B97F4A7C15ull : 1)) ^ (uint64_t)u[i]);
    }
    if (mode == 12) {
        int w = p1 % 33;
        for (size_t i = 0; i < count; i++) {
            if (p1 & 64)
                u[i] %= 3; /* long runs */
            if (w < 32)
                u[i] &= (1u << w) - 1;
        }
        if (kiln_pq_rle_encode(&b, u, count, w, &err) ||
            kiln_pq_rle_decode(ub, count, w, (const uint8_t *)b.data, b.len, NULL, &err) ||
            (count && memcmp(u, ub, count * 4)))
            rt_abort("RLE");
    } else if (mode == 13) {
        int32_t *s = (int32_t *)u, *sb = (int32_t *)ub;
        if (kiln_pq_delta_encode_i32(&b, s, count, &err) ||
            kiln_pq_delta_decode_i32(sb, count, (const uint8_t *)b.data, b.len, NULL, &err) ||
            (count && memcmp(s, sb, count * 4)))
            rt_abort("DELTA_BINARY_PACKED int32");
    } else if (mode == 14) {
        if (kiln_pq_delta_encode_i64(&b, l, count, &err) ||
            kiln_pq_delta_decode_i64(lb, count, (const uint8_t *)b.data, b.len, NULL, &err) ||
            (count && memcmp(l, lb, count * 8)))
            rt_abort("DELTA_BINARY_PACKED int64");
    } else {
        /* byte arrays: split the data at bytes equal to p1 */
        kiln_pq_bytes *v = malloc((n + 1) * sizeof *v), *vb = malloc((n + 1) * sizeof *vb);
        size_t nv = 0, start = 0;
        for (size_t i = 0; i <= n && nv < FZ_MAX_COUNT; i++) {
            if (i == n || d[i] == (uint8_t)p1) {
                v[nv].ptr = d + start;
                v[nv].len = (uint32_t)(i - start);
                nv++;
                start = i + 1;
            }
        }
        kiln_arena *arena = kiln_arena_new(0);
        int rc = mode == 15 ? kiln_pq_dba_encode(&b, v, nv, &err) : kiln_pq_dlba_encode(&b, v, nv, &err);
        if (rc == 0)
            rc = mode == 15 ? kiln_pq_dba_decode(vb, nv, (const uint8_t *)b.data, b.len, arena, NULL, &err)
                            : kiln_pq_dlba_decode(vb, nv, (const uint8_t *)b.data, b.len, NULL, &err);
        if (rc)
            rt_abort("byte arrays");
        for (size_t i = 0; i < nv; i++)
            if (vb[i].len != v[i].len || (v[i].len && memcmp(vb[i].ptr, v[i].ptr, v[i].len)))
                rt_abort("byte array value");
        kiln_arena_free(arena);
        free(v);
        free(vb);
    }
    free(u);
    free(ub);
    free(l);
    free(lb);
    kiln_buf_free(&b);
}

int kiln_fuzz_pq_enc(const uint8_t *d, size_t n)
{
    if (n < 4)
        return 0;
    int mode = d[0] % 17, p1 = d[1];
    size_t count = ((size_t)d[2] | (size_t)d[3] << 8) % (FZ_MAX_COUNT + 1);
    const uint8_t *in = d + 4;
    size_t len = n - 4;
    /* copy to an exact-size block so ASan catches any over-read */
    uint8_t *data = malloc(len ? len : 1);
    memcpy(data, in, len);
    kiln_err err = {0};
    size_t used = 0;
    void *out = malloc((count + 1) * 16);
    kiln_arena *arena = NULL;
    switch (mode) {
    case 0: kiln_pq_rle_decode(out, count, p1 % 33, data, len, &used, &err); break;
    case 1: kiln_pq_rle_decode_prefixed(out, count, p1 % 33, data, len, &used, &err); break;
    case 2: kiln_pq_dict_indices_decode(out, count, (uint32_t)p1 * 3, data, len, &err); break;
    case 3: kiln_pq_plain_decode_bool(out, count, data, len, &used, &err); break;
    case 4: kiln_pq_plain_decode_bytes(out, count, data, len, &used, &err); break;
    case 5: kiln_pq_delta_decode_i32(out, count, data, len, &used, &err); break;
    case 6: kiln_pq_delta_decode_i64(out, count, data, len, &used, &err); break;
    case 7: kiln_pq_dlba_decode(out, count, data, len, &used, &err); break;
    case 8:
        arena = kiln_arena_new(0);
        if (kiln_pq_dba_decode(out, count, data, len, arena, &used, &err) == 0) {
            /* touch every rebuilt value so ASan checks the pointers */
            kiln_pq_bytes *v = out;
            unsigned sum = 0;
            for (size_t i = 0; i < count; i++)
                for (uint32_t k = 0; k < v[i].len; k++)
                    sum += v[i].ptr[k];
            (void)sum;
        }
        break;
    case 9: kiln_pq_bss_decode(out, count, (size_t)(p1 % 16) + 1, data, len, &used, &err); break;
    case 10: {
        size_t out_len = count * 16;
        kiln_pq_decompress(out, out_len, p1 % 8, data, len, &err);
        break;
    }
    case 11: {
        int64_t us;
        kiln_pq_bitpacked_legacy_decode(out, count, p1 % 33, data, len, &used, &err);
        for (size_t i = 0; i + 12 <= len; i += 12)
            kiln_pq_int96_to_micros(&us, data + i);
        break;
    }
    default: fuzz_roundtrip(mode, p1, data, len); break;
    }
    if (used > len) {
        fprintf(stderr, "fuzz_pq_enc: consumed %zu > input %zu (mode %d)\n", used, len, mode);
        abort();
    }
    kiln_arena_free(arena);
    free(out);
    free(data);
    return 0;
}

#ifdef KILN_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return kiln_fuzz_pq_enc(d, n); }
#endif

KT_FUZZ_CORPUS_TEST(pq_enc, kiln_fuzz_pq_enc)
