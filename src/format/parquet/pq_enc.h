/*
 * pq_enc.h - Parquet value encodings and page compression codecs: the
 * low-level layer kiln's Parquet reader/writer (format/parquet*.c) is built on.
 *
 * Encodings (pq_enc.c): bit packing, the RLE / bit-packed hybrid (levels,
 * dictionary indices, RLE booleans), PLAIN for every physical type,
 * DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY,
 * BYTE_STREAM_SPLIT. Codecs (pq_codec.c): UNCOMPRESSED, SNAPPY, GZIP, ZSTD.
 *
 * Conventions for every function here:
 *  - Decoders take the input as (in, n) and the number of values the caller
 *    expects (`count`, from the page header). They never read outside
 *    in[0..n), never write more than `count` values, and return 0 or a
 *    negative KILN_E* code: KILN_ETRUNC when the input ends early,
 *    KILN_EFORMAT when it is malformed, KILN_ELIMIT when a cap is hit;
 *    err->offset then holds the byte offset into `in` where it went wrong.
 *  - `consumed` (may be NULL) receives the number of input bytes the decoded
 *    values occupied, so the caller can find what follows (e.g. the values
 *    after v1 levels). Set only on success.
 *  - Encoders APPEND to a kiln_buf the caller owns (init/free it yourself);
 *    on error the buffer may hold a partial append (reset it).
 *  - Values are host order; kiln assumes a little-endian host (checked at
 *    compile time in pq_enc.c), so PLAIN numbers are plain memcpy.
 *  - No global state; all functions are thread-safe.
 */
#ifndef KILN_PQ_ENC_H
#define KILN_PQ_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Cap on bytes a single decoder call may materialize (DELTA_BYTE_ARRAY
 * values whose prefixes repeat earlier bytes). Beyond it: KILN_ELIMIT. */
#define KILN_PQ_MATERIALIZE_CAP ((size_t)1 << 30)

/* A byte string: a borrowed pointer and a length. Who owns `ptr` is stated
 * at each function (usually: points into the decoder's input). */
typedef struct kiln_pq_bytes {
    const uint8_t *ptr;
    uint32_t len;
} kiln_pq_bytes;

/* ------------------------------------------------------------ bit packing */

/* Number of bits needed to hold v (0 for 0, 32 for UINT32_MAX). Use
 * kiln_pq_bit_width(max_level) for levels, (dict_size - 1) for indices. */
int kiln_pq_bit_width(uint64_t v);

/* Bytes needed to bit-pack count values of `width` bits: ceil(count*width/8). */
size_t kiln_pq_bitpacked_size(size_t count, int width);

/* Unpack `count` values of `width` (0..32) bits, LSB first (Parquet order),
 * from in, which must hold at least kiln_pq_bitpacked_size(count, width)
 * bytes (the caller checks; this primitive does no bounds checks). */
void kiln_pq_bitunpack32(uint32_t *out, const uint8_t *in, size_t count, int width);
/* Pack `count` values (each must fit in `width` bits; higher bits are
 * masked off) and append kiln_pq_bitpacked_size(count, width) bytes. */
int kiln_pq_bitpack32(kiln_buf *out, const uint32_t *vals, size_t count, int width, kiln_err *err);

/* ------------------------------------------- RLE / bit-packed hybrid */

/* Bare hybrid stream (data page v2 levels; dictionary indices after their
 * width byte; anything whose length is known from elsewhere). Decodes
 * exactly `count` values of `width` (0..32) bits. A final bit-packed group
 * may hold padding values beyond `count`; they are ignored. Width 0 decodes
 * count zeros and consumes nothing. Values wider than `width` cannot occur
 * (RLE values are masked-checked: a value >= 2^width is KILN_EFORMAT). */
int kiln_pq_rle_decode(uint32_t *out, size_t count, int width, const uint8_t *in, size_t n, size_t *consumed,
                       kiln_err *err);
/* Length-prefixed form (data page v1 levels, RLE-encoded booleans):
 * a 4-byte little-endian length L, then L bytes of hybrid data.
 * *consumed = 4 + L (the whole prefixed block, even if count values ended
 * earlier inside it). */
int kiln_pq_rle_decode_prefixed(uint32_t *out, size_t count, int width, const uint8_t *in, size_t n, size_t *consumed,
                                kiln_err *err);
/* Dictionary indices (RLE_DICTIONARY / PLAIN_DICTIONARY data pages):
 * a 1-byte bit width (0..32) then the bare hybrid stream to the end of
 * the input. Every index is checked to be < dict_size (KILN_EFORMAT
 * otherwise) so callers may index the dictionary directly. */
int kiln_pq_dict_indices_decode(uint32_t *out, size_t count, uint32_t dict_size, const uint8_t *in, size_t n,
                                kiln_err *err);

/* Deprecated BIT_PACKED (encoding 4) levels from very old writers: values
 * packed back to back MSB first, no header; consumes
 * kiln_pq_bitpacked_size(count, width) bytes. */
int kiln_pq_bitpacked_legacy_decode(uint32_t *out, size_t count, int width, const uint8_t *in, size_t n,
                                    size_t *consumed, kiln_err *err);

/* Encoders. Runs of >= 8 equal values (at a group-of-8 boundary) become RLE
 * runs; everything else is packed in bit-packed groups of 8 (the last group
 * zero-padded). Values must fit in `width` bits (KILN_EINVAL otherwise). */
int kiln_pq_rle_encode(kiln_buf *out, const uint32_t *vals, size_t count, int width, kiln_err *err);
/* Appends a 4-byte LE length then the bare stream (v1 levels). */
int kiln_pq_rle_encode_prefixed(kiln_buf *out, const uint32_t *vals, size_t count, int width, kiln_err *err);
/* Appends the 1-byte width then the bare stream. width is
 * kiln_pq_bit_width(dict_size - 1) (or pass -1 to compute it from the max
 * index). */
int kiln_pq_dict_indices_encode(kiln_buf *out, const uint32_t *idx, size_t count, int width, kiln_err *err);

/* ------------------------------------------------------------------ PLAIN */

/* BOOLEAN: bit-packed, LSB first, one bit per value. out[i] is 0 or 1. */
int kiln_pq_plain_decode_bool(uint8_t *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err);
int kiln_pq_plain_encode_bool(kiln_buf *out, const uint8_t *vals, size_t count, kiln_err *err);

/* Fixed-width values: INT32 (width 4), INT64/DOUBLE (8), FLOAT (4),
 * INT96 (12), FIXED_LEN_BYTE_ARRAY (type_length). Copies count*width
 * bytes into out (which must hold them). width must be >= 1. */
int kiln_pq_plain_decode_fixed(void *out, size_t count, size_t width, const uint8_t *in, size_t n, size_t *consumed,
                               kiln_err *err);
int kiln_pq_plain_encode_fixed(kiln_buf *out, const void *vals, size_t count, size_t width, kiln_err *err);

/* BYTE_ARRAY: each value a 4-byte LE length then the bytes. Decoded
 * out[i].ptr point INTO `in` (zero copy): valid while `in` is. */
int kiln_pq_plain_decode_bytes(kiln_pq_bytes *out, size_t count, const uint8_t *in, size_t n, size_t *consumed,
                               kiln_err *err);
int kiln_pq_plain_encode_bytes(kiln_buf *out, const kiln_pq_bytes *vals, size_t count, kiln_err *err);

/* INT96 timestamps (legacy Impala/Spark): 8 bytes LE nanoseconds within the
 * day, then 4 bytes LE Julian day number (2440588 = 1970-01-01).
 * to_micros returns 0, or KILN_EFORMAT if nanos >= 86400e9 or the result
 * does not fit int64 microseconds. */
int kiln_pq_int96_to_micros(int64_t *out, const uint8_t in[12]);
void kiln_pq_int96_from_micros(uint8_t out[12], int64_t micros);

/* ---------------------------------------------------- DELTA_BINARY_PACKED */

/* Decode `count` values. The stream's header states its own total; fewer
 * than `count` is KILN_EFORMAT, more is allowed (only `count` are decoded)
 * but *consumed always covers the whole stream. Arithmetic wraps modulo
 * 2^32 / 2^64 as the spec says. Miniblock widths up to 64 are accepted for
 * INT32 too (DuckDB writes 33-bit INT32 miniblocks); the encoder never
 * writes more than 32. */
int kiln_pq_delta_decode_i32(int32_t *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err);
int kiln_pq_delta_decode_i64(int64_t *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err);
/* Read only the header's total value count (to size buffers; capped by the
 * caller). */
int kiln_pq_delta_count(uint64_t *out, const uint8_t *in, size_t n, kiln_err *err);
/* Encode with block size 128, 4 miniblocks of 32. */
int kiln_pq_delta_encode_i32(kiln_buf *out, const int32_t *vals, size_t count, kiln_err *err);
int kiln_pq_delta_encode_i64(kiln_buf *out, const int64_t *vals, size_t count, kiln_err *err);

/* ------------------------------------------------ DELTA_LENGTH_BYTE_ARRAY */

/* DELTA_BINARY_PACKED lengths, then all the bytes concatenated.
 * out[i].ptr point INTO `in` (zero copy). Allocates a temporary of
 * count*4 bytes. If the lengths header holds more than `count` values,
 * *consumed ends after the bytes of the first `count` values. */
int kiln_pq_dlba_decode(kiln_pq_bytes *out, size_t count, const uint8_t *in, size_t n, size_t *consumed, kiln_err *err);
int kiln_pq_dlba_encode(kiln_buf *out, const kiln_pq_bytes *vals, size_t count, kiln_err *err);

/* --------------------------------------------------------- DELTA_BYTE_ARRAY */

/* Front coding: DELTA_BINARY_PACKED prefix lengths, then the suffixes as
 * DELTA_LENGTH_BYTE_ARRAY. Values are rebuilt into memory allocated from
 * `arena` (caller owns the arena; out[i].ptr live until it is reset/freed).
 * Total rebuilt bytes are capped at KILN_PQ_MATERIALIZE_CAP. A prefix
 * longer than the previous value is KILN_EFORMAT. Also used for
 * FIXED_LEN_BYTE_ARRAY columns. */
int kiln_pq_dba_decode(kiln_pq_bytes *out, size_t count, const uint8_t *in, size_t n, kiln_arena *arena,
                       size_t *consumed, kiln_err *err);
int kiln_pq_dba_encode(kiln_buf *out, const kiln_pq_bytes *vals, size_t count, kiln_err *err);

/* ------------------------------------------------------- BYTE_STREAM_SPLIT */

/* `width` byte streams of count bytes each (width 4 FLOAT/INT32, 8 DOUBLE/
 * INT64, or a FIXED_LEN_BYTE_ARRAY length). Decode needs n >= count*width
 * (KILN_ETRUNC otherwise); *consumed = count*width. out holds count*width
 * bytes, values in host (little-endian) order. */
int kiln_pq_bss_decode(void *out, size_t count, size_t width, const uint8_t *in, size_t n, size_t *consumed,
                       kiln_err *err);
int kiln_pq_bss_encode(kiln_buf *out, const void *vals, size_t count, size_t width, kiln_err *err);

/* ---------------------------------------------------------------- codecs */

/* Values are the Thrift CompressionCodec numbers in the Parquet footer. */
typedef enum kiln_pq_codec {
    KILN_PQ_UNCOMPRESSED = 0,
    KILN_PQ_SNAPPY = 1,
    KILN_PQ_GZIP = 2,
    KILN_PQ_LZO = 3,
    KILN_PQ_BROTLI = 4,
    KILN_PQ_LZ4 = 5, /* deprecated Hadoop-framed LZ4 */
    KILN_PQ_ZSTD = 6,
    KILN_PQ_LZ4_RAW = 7
} kiln_pq_codec;

/* Static name ("SNAPPY", "ZSTD", ... or "UNKNOWN"). */
const char *kiln_pq_codec_name(int codec);
/* 1 if compress/decompress support codec (UNCOMPRESSED, SNAPPY, GZIP, ZSTD). */
int kiln_pq_codec_supported(int codec);
/* Parse "snappy"/"gzip"/"zstd"/"none"/"uncompressed" (case-insensitive).
 * Returns 0 or KILN_EINVAL (message lists the choices). */
int kiln_pq_codec_parse(int *out, const char *name, kiln_err *err);

/* Compress in[0..n) and APPEND the result to out. level 0 = codec default
 * (zstd 3, gzip 6; ignored by snappy). GZIP writes one RFC 1952 member.
 * Unsupported codec: KILN_EUNSUPP naming it. */
int kiln_pq_compress(kiln_buf *out, int codec, int level, const void *in, size_t n, kiln_err *err);
/* Decompress in[0..n) into out, which holds exactly out_len bytes (the page
 * header's uncompressed_page_size). The data must decompress to EXACTLY
 * out_len bytes: more, fewer or corrupt data is KILN_EFORMAT with a
 * message naming the codec; never writes past out_len. GZIP accepts
 * concatenated members (and a zlib stream, which some old writers emit).
 * Unsupported codec (LZO, BROTLI, LZ4, LZ4_RAW): KILN_EUNSUPP. */
int kiln_pq_decompress(void *out, size_t out_len, int codec, const void *in, size_t n, kiln_err *err);

#endif /* KILN_PQ_ENC_H */
