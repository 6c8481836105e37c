/*
 * pq_codec.c - Parquet page compression: UNCOMPRESSED, SNAPPY (libsnappy's
 * C API), GZIP (libdeflate, RFC 1952 members; zlib streams are accepted on
 * read) and ZSTD (libzstd). API in pq_enc.h.
 *
 * Decompression always goes into a caller buffer of the size the page
 * header claims, and the data must fill it exactly: a lying size or corrupt
 * data is a KILN_EFORMAT error naming the codec, never an overflow. None of
 * the libraries writes past the capacity it is given.
 */
#include "format/parquet/pq_enc.h"

#include <libdeflate.h>
#include <snappy-c.h>
#include <string.h>
#include <strings.h>
#include <zstd.h>

const char *kiln_pq_codec_name(int codec)
{
    switch (codec) {
    case KILN_PQ_UNCOMPRESSED: return "UNCOMPRESSED";
    case KILN_PQ_SNAPPY: return "SNAPPY";
    case KILN_PQ_GZIP: return "GZIP";
    case KILN_PQ_LZO: return "LZO";
    case KILN_PQ_BROTLI: return "BROTLI";
    case KILN_PQ_LZ4: return "LZ4";
    case KILN_PQ_ZSTD: return "ZSTD";
    case KILN_PQ_LZ4_RAW: return "LZ4_RAW";
    default: return "UNKNOWN";
    }
}

int kiln_pq_codec_supported(int codec)
{
    return codec == KILN_PQ_UNCOMPRESSED || codec == KILN_PQ_SNAPPY || codec == KILN_PQ_GZIP || codec == KILN_PQ_ZSTD;
}

int kiln_pq_codec_parse(int *out, const char *name, kiln_err *err)
{
    static const struct {
        const char *name;
        int codec;
    } names[] = {
        {"none", KILN_PQ_UNCOMPRESSED}, {"uncompressed", KILN_PQ_UNCOMPRESSED},
        {"snappy", KILN_PQ_SNAPPY},     {"gzip", KILN_PQ_GZIP},
        {"zstd", KILN_PQ_ZSTD},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (name && strcasecmp(name, names[i].name) == 0) {
            *out = names[i].codec;
            return 0;
        }
    }
    return kiln_err_set(err, KILN_EINVAL, "unknown compression codec '%s' (choose none, snappy, gzip or zstd)",
                        name ? name : "");
}

static int unsupported(int codec, kiln_err *err)
{
    return kiln_err_set(err, KILN_EUNSUPP,
                        "Parquet compression codec %s (%d) is not supported by kiln "
                        "(supported: UNCOMPRESSED, SNAPPY, GZIP, ZSTD); rewrite the file with "
                        "one of those",
                        kiln_pq_codec_name(codec), codec);
}

int kiln_pq_compress(kiln_buf *out, int codec, int level, const void *in, size_t n, kiln_err *err)
{
    int rc = 0;
    size_t bound = 0, got = 0;
    struct libdeflate_compressor *gz = NULL;
    switch (codec) {
    case KILN_PQ_UNCOMPRESSED: return kiln_buf_append(out, in, n, err);
    case KILN_PQ_SNAPPY: bound = snappy_max_compressed_length(n); break;
    case KILN_PQ_ZSTD: bound = ZSTD_compressBound(n); break;
    case KILN_PQ_GZIP:
        if (level < 0 || level > 12)
            return kiln_err_set(err, KILN_EINVAL, "GZIP level %d is outside 1..12", level);
        gz = libdeflate_alloc_compressor(level ? level : 6);
        if (!gz)
            return kiln_err_set(err, KILN_ENOMEM, "GZIP: cannot allocate a compressor");
        bound = libdeflate_gzip_compress_bound(gz, n);
        break;
    default: return unsupported(codec, err);
    }
    rc = kiln_buf_reserve(out, bound, err);
    if (rc)
        goto done;
    char *dst = out->data + out->len;
    if (codec == KILN_PQ_SNAPPY) {
        got = bound;
        if (snappy_compress(in, n, dst, &got) != SNAPPY_OK) {
            rc = kiln_err_set(err, KILN_EINTERNAL, "SNAPPY: compressing %zu bytes failed", n);
            goto done;
        }
    } else if (codec == KILN_PQ_ZSTD) {
        got = ZSTD_compress(dst, bound, in, n, level ? level : 3);
        if (ZSTD_isError(got)) {
            rc = kiln_err_set(err, KILN_EINVAL, "ZSTD: compressing %zu bytes failed: %s", n, ZSTD_getErrorName(got));
            goto done;
        }
    } else {
        got = libdeflate_gzip_compress(gz, in, n, dst, bound);
        if (got == 0) {
            rc = kiln_err_set(err, KILN_EINTERNAL, "GZIP: compressing %zu bytes failed", n);
            goto done;
        }
    }
    out->len += got;
    out->data[out->len] = '\0';
done:
    if (gz)
        libdeflate_free_compressor(gz);
    return rc;
}

static int gzip_decompress(uint8_t *out, size_t out_len, const uint8_t *in, size_t n, kiln_err *err)
{
    int rc = 0;
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    if (!d)
        return kiln_err_set(err, KILN_ENOMEM, "GZIP: cannot allocate a decompressor");
    size_t in_pos = 0, out_pos = 0;
    if (n >= 2 && in[0] != 0x1f) {
        /* not a gzip member: accept a zlib stream (some old writers) */
        size_t used_in = 0, got = 0;
        enum libdeflate_result r = libdeflate_zlib_decompress_ex(d, in, n, out, out_len, &used_in, &got);
        if (r != LIBDEFLATE_SUCCESS || got != out_len || used_in != n) {
            rc = kiln_err_set_at(err, KILN_EFORMAT, 0,
                                 "GZIP: page data (%zu bytes) is neither a gzip member nor a "
                                 "zlib stream that inflates to the %zu bytes the page header "
                                 "says",
                                 n, out_len);
        }
        goto done;
    }
    do {
        size_t used_in = 0, got = 0;
        enum libdeflate_result r =
            libdeflate_gzip_decompress_ex(d, in + in_pos, n - in_pos, out + out_pos, out_len - out_pos, &used_in, &got);
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
            rc = kiln_err_set_at(err, KILN_EFORMAT, in_pos,
                                 "GZIP: data inflates to more than the %zu bytes the page "
                                 "header says",
                                 out_len);
            goto done;
        }
        if (r != LIBDEFLATE_SUCCESS) {
            rc = kiln_err_set_at(err, KILN_EFORMAT, in_pos,
                                 "GZIP: corrupt gzip member at byte %zu of %zu (libdeflate "
                                 "error %d)",
                                 in_pos, n, (int)r);
            goto done;
        }
        in_pos += used_in;
        out_pos += got;
    } while (in_pos < n);
    if (out_pos != out_len)
        rc = kiln_err_set_at(err, KILN_EFORMAT, n, "GZIP: data inflates to %zu bytes but the page header says %zu",
                             out_pos, out_len);
done:
    libdeflate_free_decompressor(d);
    return rc;
}

int kiln_pq_decompress(void *out, size_t out_len, int codec, const void *in, size_t n, kiln_err *err)
{
    switch (codec) {
    case KILN_PQ_UNCOMPRESSED:
        if (n != out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, 0, "UNCOMPRESSED page has %zu bytes but its header says %zu", n,
                                   out_len);
        if (n)
            memcpy(out, in, n);
        return 0;
    case KILN_PQ_SNAPPY: {
        size_t ulen = 0;
        if (snappy_uncompressed_length(in, n, &ulen) != SNAPPY_OK)
            return kiln_err_set_at(err, KILN_EFORMAT, 0, "SNAPPY: page data (%zu bytes) has no valid length header", n);
        if (ulen != out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, 0,
                                   "SNAPPY: data says it holds %zu bytes but the page header "
                                   "says %zu",
                                   ulen, out_len);
        size_t got = out_len;
        snappy_status st = snappy_uncompress(in, n, out, &got);
        if (st != SNAPPY_OK || got != out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, 0, "SNAPPY: corrupt page data (%zu bytes, status %d)", n,
                                   (int)st);
        return 0;
    }
    case KILN_PQ_ZSTD: {
        if (n == 0)
            return kiln_err_set_at(err, KILN_EFORMAT, 0, "ZSTD: page data is empty");
        unsigned long long fcs = ZSTD_getFrameContentSize(in, n);
        if (fcs == ZSTD_CONTENTSIZE_ERROR)
            return kiln_err_set_at(err, KILN_EFORMAT, 0,
                                   "ZSTD: page data (%zu bytes) does not start with a zstd "
                                   "frame",
                                   n);
        if (fcs != ZSTD_CONTENTSIZE_UNKNOWN && fcs > out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, 0,
                                   "ZSTD: frame says it holds %llu bytes but the page header "
                                   "says %zu",
                                   fcs, out_len);
        size_t got = ZSTD_decompress(out, out_len, in, n);
        if (ZSTD_isError(got))
            return kiln_err_set_at(err, KILN_EFORMAT, 0,
                                   "ZSTD: corrupt page data or wrong size (header says %zu "
                                   "bytes): %s",
                                   out_len, ZSTD_getErrorName(got));
        if (got != out_len)
            return kiln_err_set_at(err, KILN_EFORMAT, 0,
                                   "ZSTD: data inflates to %zu bytes but the page header says %zu", got, out_len);
        return 0;
    }
    case KILN_PQ_GZIP:
        if (n == 0)
            return kiln_err_set_at(err, KILN_EFORMAT, 0, "GZIP: page data is empty");
        return gzip_decompress(out, out_len, in, n, err);
    default: return unsupported(codec, err);
    }
}
