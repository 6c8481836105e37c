/*
 * avro_io.c - Avro binary encoding and object container files: the writer,
 * the reader, block codecs and reader-schema projection.
 *
 * DESIGN
 *   File  = "Obj\x01", metadata map<bytes> (avro.schema, avro.codec, user
 *           keys), 16-byte sync, then blocks: long count, long size,
 *           `size` bytes of (compressed) records, the sync again.
 *   Write   records are encoded into an in-memory block buffer; when it
 *           passes opts.block_bytes the block is compressed and appended
 *           to the sink (a kiln_buf; for a path the whole file is written
 *           atomically at close).
 *   Read    the whole file is in memory (a borrowed buffer or a capped
 *           file read). Each block is checked (count and size against
 *           the bytes left, sync match), decompressed under a cap, and
 *           decoded record by record with the writer schema into arena
 *           values. Every length read from the input is checked against
 *           the bytes left before anything is allocated; arrays/maps of
 *           zero-byte items are capped by count; nesting is capped.
 */
#include "format/avro/avro.h"
#include "format/avro/avro_int.h"

#include <fcntl.h>
#include <math.h>
#include <snappy-c.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define AVRO_MAX_DEPTH 128
#define AVRO_MAX_BLOCK ((size_t)256 << 20)      /* decompressed block cap */
#define AVRO_MAX_ZERO_ITEMS ((uint64_t)1 << 20) /* items that take no bytes */
#define AVRO_MAX_FILE ((size_t)1 << 30)
#define AVRO_MAX_META_ITEMS 4096
#define AVRO_DEFAULT_BLOCK ((size_t)256 << 10)

static const uint8_t MAGIC[4] = {'O', 'b', 'j', 1};

/* ---------------------------------------------------------------- varints */

size_t kiln_avro_zigzag_encode(int64_t x, uint8_t out[10])
{
    uint64_t z = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        out[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (uint8_t)z;
    return n;
}

size_t kiln_avro_zigzag_decode(const uint8_t *p, size_t n, int64_t *out)
{
    uint64_t z = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        uint8_t b = p[i];
        if (i == 9 && b > 1)
            return 0; /* more than 64 bits */
        z |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *out = (int64_t)((z >> 1) ^ (~(z & 1) + 1));
            return i + 1;
        }
    }
    return 0;
}

const char *kiln_avro_codec_name(kiln_avro_codec c)
{
    switch (c) {
    case KILN_AVRO_CODEC_NULL: return "null";
    case KILN_AVRO_CODEC_DEFLATE: return "deflate";
    case KILN_AVRO_CODEC_SNAPPY: return "snappy";
    case KILN_AVRO_CODEC_ZSTD: return "zstandard";
    }
    return "?";
}

int kiln_avro_codec_parse(const char *name, kiln_avro_codec *out, kiln_err *err)
{
    for (int c = KILN_AVRO_CODEC_NULL; c <= KILN_AVRO_CODEC_ZSTD; c++) {
        if (strcmp(name, kiln_avro_codec_name((kiln_avro_codec)c)) == 0) {
            *out = (kiln_avro_codec)c;
            return 0;
        }
    }
    if (strcmp(name, "zstd") == 0) {
        *out = KILN_AVRO_CODEC_ZSTD;
        return 0;
    }
    return kiln_err_set(err, KILN_EUNSUPP,
                        "avro: unsupported codec \"%.64s\" (known: null, deflate, snappy, zstandard)", name);
}

/* ---------------------------------------------------------------- encoder */

typedef struct enc {
    kiln_buf *out;
    kiln_err *err;
    /* field names from the root down; the "$.a.b" text is only built when
     * an error needs it */
    int nnames;
    const char *names[AVRO_MAX_DEPTH + 2];
    char path[256];
} enc;

static const char *enc_path(enc *e)
{
    size_t len = 1;
    e->path[0] = '$';
    e->path[1] = 0;
    for (int i = 0; i < e->nnames && len < sizeof e->path; i++) {
        int n = snprintf(e->path + len, sizeof e->path - len, ".%s", e->names[i]);
        if (n < 0)
            break;
        len += (size_t)n;
    }
    return e->path;
}

static int put_long(enc *e, int64_t x)
{
    uint8_t b[10];
    size_t n = kiln_avro_zigzag_encode(x, b);
    return kiln_buf_append(e->out, b, n, e->err);
}

static int put_blob(enc *e, const void *p, size_t n)
{
    int rc = put_long(e, (int64_t)n);
    return rc ? rc : kiln_buf_append(e->out, p, n, e->err);
}

static int mismatch(enc *e, const kiln_avro_schema *s, const kiln_avro_value *v)
{
    return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s the schema wants %s but the value is %s", enc_path(e),
                        s->name ? s->name : kiln_avro_type_name(s->type), kiln_avro_type_name(v->type));
}

/* Does value v fit schema node s (for union branch choice)? strict: named
 * types must also match by name when the value knows its schema (to choose
 * between two record branches); the lenient pass ignores names so records
 * read from another writer (Iceberg's partition records are "r102" in one
 * file and something else in another) can be written. */
static int fits(const kiln_avro_schema *s, const kiln_avro_value *v, int strict)
{
    kiln_avro_type t = s->type, vt = v->type;
    if (v->schema && v->schema == s)
        return 1;
    switch (t) {
    case KILN_AVRO_LONG: return vt == KILN_AVRO_LONG || vt == KILN_AVRO_INT;
    case KILN_AVRO_DOUBLE: return vt == KILN_AVRO_DOUBLE || vt == KILN_AVRO_FLOAT;
    case KILN_AVRO_RECORD:
    case KILN_AVRO_ENUM:
    case KILN_AVRO_FIXED:
        if (vt != t)
            return 0;
        if (t == KILN_AVRO_RECORD && v->u.array.n != s->nfields)
            return 0;
        return !strict || !v->schema || !v->schema->name || strcmp(v->schema->name, s->name) == 0;
    default: return vt == t;
    }
}

static int encode(enc *e, const kiln_avro_schema *s, const kiln_avro_value *v, int depth)
{
    if (depth > AVRO_MAX_DEPTH)
        return kiln_err_set(e->err, KILN_ELIMIT, "avro write: value nested deeper than %d", AVRO_MAX_DEPTH);
    int rc = 0;
    uint8_t b[8];
    switch (s->type) {
    case KILN_AVRO_NULL: return v->type == KILN_AVRO_NULL ? 0 : mismatch(e, s, v);
    case KILN_AVRO_BOOLEAN:
        if (v->type != KILN_AVRO_BOOLEAN)
            return mismatch(e, s, v);
        return kiln_buf_putc(e->out, v->u.boolean ? 1 : 0, e->err);
    case KILN_AVRO_INT:
        if (v->type == KILN_AVRO_INT)
            return put_long(e, v->u.i);
        if (v->type == KILN_AVRO_LONG && v->u.l >= INT32_MIN && v->u.l <= INT32_MAX)
            return put_long(e, v->u.l);
        return mismatch(e, s, v);
    case KILN_AVRO_LONG:
        if (v->type == KILN_AVRO_LONG)
            return put_long(e, v->u.l);
        if (v->type == KILN_AVRO_INT)
            return put_long(e, v->u.i);
        return mismatch(e, s, v);
    case KILN_AVRO_FLOAT: {
        float f;
        if (v->type == KILN_AVRO_FLOAT)
            f = v->u.f;
        else if (v->type == KILN_AVRO_DOUBLE)
            f = (float)v->u.d;
        else
            return mismatch(e, s, v);
        uint32_t u;
        memcpy(&u, &f, 4);
        for (int i = 0; i < 4; i++)
            b[i] = (uint8_t)(u >> (8 * i));
        return kiln_buf_append(e->out, b, 4, e->err);
    }
    case KILN_AVRO_DOUBLE: {
        double d;
        if (v->type == KILN_AVRO_DOUBLE)
            d = v->u.d;
        else if (v->type == KILN_AVRO_FLOAT)
            d = v->u.f;
        else if (v->type == KILN_AVRO_INT)
            d = v->u.i;
        else if (v->type == KILN_AVRO_LONG)
            d = (double)v->u.l;
        else
            return mismatch(e, s, v);
        uint64_t u;
        memcpy(&u, &d, 8);
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)(u >> (8 * i));
        return kiln_buf_append(e->out, b, 8, e->err);
    }
    case KILN_AVRO_STRING:
        if (v->type != KILN_AVRO_STRING)
            return mismatch(e, s, v);
        return put_blob(e, v->u.bytes.ptr, v->u.bytes.len);
    case KILN_AVRO_BYTES:
        if (v->type != KILN_AVRO_BYTES && v->type != KILN_AVRO_STRING && v->type != KILN_AVRO_FIXED)
            return mismatch(e, s, v);
        return put_blob(e, v->u.bytes.ptr, v->u.bytes.len);
    case KILN_AVRO_FIXED:
        if (v->type != KILN_AVRO_FIXED && v->type != KILN_AVRO_BYTES)
            return mismatch(e, s, v);
        if (v->u.bytes.len != s->size)
            return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s fixed %s needs %zu bytes, got %zu", enc_path(e),
                                s->name, s->size, v->u.bytes.len);
        return kiln_buf_append(e->out, v->u.bytes.ptr, s->size, e->err);
    case KILN_AVRO_ENUM:
        if (v->type == KILN_AVRO_ENUM) {
            if (v->u.i < 0 || (size_t)v->u.i >= s->nsymbols)
                return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s enum index %d out of range", enc_path(e),
                                    (int)v->u.i);
            return put_long(e, v->u.i);
        }
        if (v->type == KILN_AVRO_STRING) {
            for (size_t i = 0; i < s->nsymbols; i++)
                if (strcmp(s->symbols[i], (const char *)v->u.bytes.ptr) == 0)
                    return put_long(e, (int64_t)i);
            return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s \"%.60s\" is not a symbol of enum %s",
                                enc_path(e), (const char *)v->u.bytes.ptr, s->name);
        }
        return mismatch(e, s, v);
    case KILN_AVRO_ARRAY:
        if (v->type != KILN_AVRO_ARRAY)
            return mismatch(e, s, v);
        if (v->u.array.n) {
            if ((rc = put_long(e, (int64_t)v->u.array.n)))
                return rc;
            for (size_t i = 0; i < v->u.array.n; i++)
                if ((rc = encode(e, s->items, &v->u.array.items[i], depth + 1)))
                    return rc;
        }
        return put_long(e, 0);
    case KILN_AVRO_MAP:
        if (v->type != KILN_AVRO_MAP)
            return mismatch(e, s, v);
        if (v->u.map.n) {
            if ((rc = put_long(e, (int64_t)v->u.map.n)))
                return rc;
            for (size_t i = 0; i < v->u.map.n; i++) {
                const char *k = v->u.map.keys[i] ? v->u.map.keys[i] : "";
                if ((rc = put_blob(e, k, strlen(k))) || (rc = encode(e, s->items, &v->u.map.vals[i], depth + 1)))
                    return rc;
            }
        }
        return put_long(e, 0);
    case KILN_AVRO_RECORD: {
        if (v->type != KILN_AVRO_RECORD)
            return mismatch(e, s, v);
        if (v->u.array.n != s->nfields)
            return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s record %s has %zu fields, value has %zu",
                                enc_path(e), s->name, s->nfields, v->u.array.n);
        int slot = e->nnames < AVRO_MAX_DEPTH + 2 ? e->nnames++ : -1;
        for (size_t i = 0; i < s->nfields; i++) {
            if (slot >= 0)
                e->names[slot] = s->fields[i].name;
            if ((rc = encode(e, s->fields[i].type, &v->u.array.items[i], depth + 1)))
                return rc;
        }
        if (slot >= 0)
            e->nnames--;
        return 0;
    }
    case KILN_AVRO_UNION: {
        int br = v->branch;
        if (br >= 0) {
            if ((size_t)br >= s->nbranches || !fits(s->branches[br], v, 0))
                return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s union branch %d does not fit a %s value",
                                    enc_path(e), br, kiln_avro_type_name(v->type));
        } else {
            /* same type and name, then same type, then a promotion */
            for (size_t i = 0; i < s->nbranches && br < 0; i++)
                if (s->branches[i]->type == v->type && fits(s->branches[i], v, 1))
                    br = (int)i;
            for (size_t i = 0; i < s->nbranches && br < 0; i++)
                if (s->branches[i]->type == v->type && fits(s->branches[i], v, 0))
                    br = (int)i;
            for (size_t i = 0; i < s->nbranches && br < 0; i++)
                if (fits(s->branches[i], v, 0))
                    br = (int)i;
            if (br < 0)
                return kiln_err_set(e->err, KILN_EINVAL, "avro write: at %s no union branch takes a %s value",
                                    enc_path(e), kiln_avro_type_name(v->type));
        }
        if ((rc = put_long(e, br)))
            return rc;
        return encode(e, s->branches[br], v, depth + 1);
    }
    }
    return kiln_err_set(e->err, KILN_EINTERNAL, "avro write: bad schema node type %d", (int)s->type);
}

/* ---------------------------------------------------------------- codecs */

static int compress_block(kiln_avro_codec codec, int level, const uint8_t *in, size_t n, kiln_buf *out, kiln_err *err)
{
    int rc = 0;
    kiln_buf_reset(out);
    switch (codec) {
    case KILN_AVRO_CODEC_NULL: return kiln_buf_append(out, in, n, err);
    case KILN_AVRO_CODEC_DEFLATE: {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (deflateInit2(&zs, level > 0 && level <= 9 ? level : 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return kiln_err_set(err, KILN_ENOMEM, "avro: deflateInit failed");
        size_t bound = deflateBound(&zs, (uLong)n) + 16;
        if ((rc = kiln_buf_reserve(out, bound, err)) == 0) {
            zs.next_in = (Bytef *)in;
            zs.avail_in = (uInt)n;
            zs.next_out = (Bytef *)out->data;
            zs.avail_out = (uInt)bound;
            if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
                rc = kiln_err_set(err, KILN_EINTERNAL, "avro: deflate did not finish");
            else
                out->len = zs.total_out;
        }
        deflateEnd(&zs);
        return rc;
    }
    case KILN_AVRO_CODEC_SNAPPY: {
        size_t bound = snappy_max_compressed_length(n);
        if ((rc = kiln_buf_reserve(out, bound + 4, err)))
            return rc;
        size_t clen = bound;
        if (snappy_compress((const char *)in, n, out->data, &clen) != SNAPPY_OK)
            return kiln_err_set(err, KILN_EINTERNAL, "avro: snappy_compress failed");
        uint32_t crc = (uint32_t)crc32(0L, in, (uInt)n);
        uint8_t c4[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16), (uint8_t)(crc >> 8), (uint8_t)crc};
        memcpy(out->data + clen, c4, 4);
        out->len = clen + 4;
        return 0;
    }
    case KILN_AVRO_CODEC_ZSTD: {
        size_t bound = ZSTD_compressBound(n);
        if ((rc = kiln_buf_reserve(out, bound, err)))
            return rc;
        size_t r = ZSTD_compress(out->data, bound, in, n, level ? level : 3);
        if (ZSTD_isError(r))
            return kiln_err_set(err, KILN_EINTERNAL, "avro: zstd: %s", ZSTD_getErrorName(r));
        out->len = r;
        return 0;
    }
    }
    return kiln_err_set(err, KILN_EINVAL, "avro: bad codec %d", (int)codec);
}

/* Decompress into out (reset first). Offsets in errors are the block's. */
static int decompress_block(kiln_avro_codec codec, const uint8_t *in, size_t n, kiln_buf *out, uint64_t off,
                            kiln_err *err)
{
    int rc = 0;
    kiln_buf_reset(out);
    switch (codec) {
    case KILN_AVRO_CODEC_NULL: return kiln_buf_append(out, in, n, err);
    case KILN_AVRO_CODEC_DEFLATE: {
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        if (inflateInit2(&zs, -15) != Z_OK)
            return kiln_err_set(err, KILN_ENOMEM, "avro: inflateInit failed");
        zs.next_in = (Bytef *)in;
        zs.avail_in = (uInt)n;
        for (;;) {
            size_t want = out->len < 4096 ? 4096 : out->len;
            if (out->len + want > AVRO_MAX_BLOCK)
                want = AVRO_MAX_BLOCK - out->len;
            if (want == 0) {
                rc = kiln_err_set_at(err, KILN_ELIMIT, off, "avro: block at offset %llu inflates past %zu MiB",
                                     (unsigned long long)off, AVRO_MAX_BLOCK >> 20);
                break;
            }
            if ((rc = kiln_buf_reserve(out, want, err)))
                break;
            zs.next_out = (Bytef *)out->data + out->len;
            zs.avail_out = (uInt)want;
            int zr = inflate(&zs, Z_NO_FLUSH);
            out->len = want - zs.avail_out + out->len;
            if (zr == Z_STREAM_END)
                break;
            if (zr != Z_OK && !(zr == Z_BUF_ERROR && zs.avail_out == 0)) {
                rc = kiln_err_set_at(err, zr == Z_BUF_ERROR ? KILN_ETRUNC : KILN_EFORMAT, off,
                                     "avro: block at offset %llu: bad deflate data (%s)", (unsigned long long)off,
                                     zs.msg ? zs.msg : "truncated");
                break;
            }
        }
        inflateEnd(&zs);
        if (rc == 0 && out->data)
            out->data[out->len] = 0;
        return rc;
    }
    case KILN_AVRO_CODEC_SNAPPY: {
        if (n < 4)
            return kiln_err_set_at(err, KILN_ETRUNC, off, "avro: snappy block at offset %llu lacks its CRC",
                                   (unsigned long long)off);
        size_t ulen;
        if (snappy_uncompressed_length((const char *)in, n - 4, &ulen) != SNAPPY_OK)
            return kiln_err_set_at(err, KILN_EFORMAT, off, "avro: snappy block at offset %llu: bad header",
                                   (unsigned long long)off);
        if (ulen > AVRO_MAX_BLOCK)
            return kiln_err_set_at(err, KILN_ELIMIT, off, "avro: block at offset %llu inflates past %zu MiB",
                                   (unsigned long long)off, AVRO_MAX_BLOCK >> 20);
        if ((rc = kiln_buf_reserve(out, ulen + 1, err)))
            return rc;
        size_t got = ulen;
        if (snappy_uncompress((const char *)in, n - 4, out->data, &got) != SNAPPY_OK || got != ulen)
            return kiln_err_set_at(err, KILN_EFORMAT, off, "avro: snappy block at offset %llu: corrupt data",
                                   (unsigned long long)off);
        out->len = got;
        out->data[got] = 0;
        const uint8_t *c = in + n - 4;
        uint32_t want = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
        if ((uint32_t)crc32(0L, (const Bytef *)out->data, (uInt)got) != want)
            return kiln_err_set_at(err, KILN_EFORMAT, off, "avro: snappy block at offset %llu: CRC mismatch",
                                   (unsigned long long)off);
        return 0;
    }
    case KILN_AVRO_CODEC_ZSTD: {
        ZSTD_DStream *ds = ZSTD_createDStream();
        if (!ds)
            return kiln_err_set(err, KILN_ENOMEM, "avro: zstd: out of memory");
        ZSTD_inBuffer zin = {in, n, 0};
        size_t last = 1;
        while (zin.pos < zin.size || last != 0) {
            size_t want = out->len < 4096 ? 4096 : out->len;
            if (out->len + want > AVRO_MAX_BLOCK)
                want = AVRO_MAX_BLOCK - out->len;
            if (want == 0) {
                rc = kiln_err_set_at(err, KILN_ELIMIT, off, "avro: block at offset %llu inflates past %zu MiB",
                                     (unsigned long long)off, AVRO_MAX_BLOCK >> 20);
                break;
            }
            if ((rc = kiln_buf_reserve(out, want, err)))
                break;
            ZSTD_outBuffer zout = {out->data + out->len, want, 0};
            size_t before = zin.pos;
            last = ZSTD_decompressStream(ds, &zout, &zin);
            out->len += zout.pos;
            if (ZSTD_isError(last)) {
                rc = kiln_err_set_at(err, KILN_EFORMAT, off, "avro: zstd block at offset %llu: %s",
                                     (unsigned long long)off, ZSTD_getErrorName(last));
                break;
            }
            if (zin.pos == zin.size && last != 0 && zout.pos < want && zin.pos == before) {
                rc = kiln_err_set_at(err, KILN_ETRUNC, off, "avro: zstd block at offset %llu is truncated",
                                     (unsigned long long)off);
                break;
            }
        }
        ZSTD_freeDStream(ds);
        if (rc == 0 && out->data)
            out->data[out->len] = 0;
        return rc;
    }
    }
    return kiln_err_set(err, KILN_EINVAL, "avro: bad codec %d", (int)codec);
}

/* ---------------------------------------------------------------- writer */

struct kiln_avro_writer {
    const kiln_avro_schema *schema;
    kiln_avro_codec codec;
    int level;
    size_t block_bytes;
    uint8_t sync[16];
    kiln_buf *sink;
    kiln_buf own_sink; /* for _open(path) */
    char *path;
    kiln_buf block;
    kiln_buf packed;
    uint64_t block_count;
    uint64_t count;
};

static int random_sync(uint8_t out[16], kiln_err *err)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    if (fd >= 0) {
        while (got < 16) {
            ssize_t r = read(fd, out + got, 16 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
    }
    if (got == 16)
        return 0;
    /* fall back on time and address bits: uniqueness matters, not secrecy */
    uint64_t a = (uint64_t)kiln_now_micros(), b = (uint64_t)(uintptr_t)out ^ kiln_hash64(&a, sizeof a);
    memcpy(out, &a, 8);
    memcpy(out + 8, &b, 8);
    (void)err;
    return 0;
}

static int write_header(kiln_avro_writer *w, const kiln_avro_writer_opts *o, kiln_err *err)
{
    enc e = {.out = w->sink, .err = err};
    int rc;
    const char *sj = kiln_avro_schema_json(w->schema);
    kiln_buf tmp;
    kiln_buf_init(&tmp, 0);
    if (!sj) { /* an inner node: serialize it */
        if ((rc = kiln_avro_schema_to_json(w->schema, &tmp, err)))
            goto done;
        sj = tmp.data;
    }
    size_t nmeta = o ? o->nmeta : 0;
    for (size_t i = 0; i < nmeta; i++) {
        if (!o->meta[i].key || !o->meta[i].value || strncmp(o->meta[i].key, "avro.", 5) == 0) {
            rc = kiln_err_set(err, KILN_EINVAL, "avro write: metadata key \"%s\" is reserved or empty",
                              o->meta[i].key ? o->meta[i].key : "(null)");
            goto done;
        }
    }
    if ((rc = kiln_buf_append(w->sink, MAGIC, 4, err)) || (rc = put_long(&e, (int64_t)(2 + nmeta))))
        goto done;
    const char *codec = kiln_avro_codec_name(w->codec);
    if ((rc = put_blob(&e, "avro.schema", 11)) || (rc = put_blob(&e, sj, strlen(sj))) ||
        (rc = put_blob(&e, "avro.codec", 10)) || (rc = put_blob(&e, codec, strlen(codec))))
        goto done;
    for (size_t i = 0; i < nmeta; i++)
        if ((rc = put_blob(&e, o->meta[i].key, strlen(o->meta[i].key))) ||
            (rc = put_blob(&e, o->meta[i].value, strlen(o->meta[i].value))))
            goto done;
    if ((rc = put_long(&e, 0)) || (rc = kiln_buf_append(w->sink, w->sync, 16, err)))
        goto done;
done:
    kiln_buf_free(&tmp);
    return rc;
}

static int writer_init(kiln_avro_writer **out, kiln_avro_writer *w, const kiln_avro_schema *schema,
                       const kiln_avro_writer_opts *o, kiln_err *err)
{
    int rc;
    w->schema = schema;
    w->codec = o ? o->codec : KILN_AVRO_CODEC_NULL;
    w->level = o ? o->level : 0;
    w->block_bytes = o && o->block_bytes ? o->block_bytes : AVRO_DEFAULT_BLOCK;
    if (w->block_bytes > AVRO_MAX_BLOCK / 2)
        w->block_bytes = AVRO_MAX_BLOCK / 2;
    if ((unsigned)w->codec > KILN_AVRO_CODEC_ZSTD) {
        rc = kiln_err_set(err, KILN_EINVAL, "avro write: bad codec %d", (int)w->codec);
        goto fail;
    }
    kiln_buf_init(&w->block, AVRO_MAX_BLOCK);
    kiln_buf_init(&w->packed, 0);
    if (o && o->sync)
        memcpy(w->sync, o->sync, 16);
    else if ((rc = random_sync(w->sync, err)))
        goto fail;
    if ((rc = write_header(w, o, err)))
        goto fail;
    *out = w;
    return 0;
fail:
    kiln_avro_writer_free(w);
    return rc;
}

int kiln_avro_writer_open_buf(kiln_avro_writer **out, kiln_buf *sink, const kiln_avro_schema *schema,
                              const kiln_avro_writer_opts *opts, kiln_err *err)
{
    *out = NULL;
    if (!sink || !schema)
        return kiln_err_set(err, KILN_EINVAL, "avro write: sink and schema are required");
    kiln_avro_writer *w = kiln_calloc(1, sizeof *w);
    if (!w)
        return KILN_OOM(err);
    kiln_buf_init(&w->own_sink, 0);
    w->sink = sink;
    return writer_init(out, w, schema, opts, err);
}

int kiln_avro_writer_open(kiln_avro_writer **out, const char *path, const kiln_avro_schema *schema,
                          const kiln_avro_writer_opts *opts, kiln_err *err)
{
    *out = NULL;
    if (!path || !schema)
        return kiln_err_set(err, KILN_EINVAL, "avro write: path and schema are required");
    kiln_avro_writer *w = kiln_calloc(1, sizeof *w);
    if (!w || !(w->path = kiln_strdup(path))) {
        kiln_free(w);
        return KILN_OOM(err);
    }
    kiln_buf_init(&w->own_sink, 0);
    w->sink = &w->own_sink;
    return writer_init(out, w, schema, opts, err);
}

static int flush_block(kiln_avro_writer *w, kiln_err *err)
{
    if (w->block_count == 0)
        return 0;
    int rc = compress_block(w->codec, w->level, (const uint8_t *)w->block.data, w->block.len, &w->packed, err);
    enc e = {.out = w->sink, .err = err};
    if (rc || (rc = put_long(&e, (int64_t)w->block_count)) || (rc = put_long(&e, (int64_t)w->packed.len)) ||
        (rc = kiln_buf_append(w->sink, w->packed.data, w->packed.len, err)) ||
        (rc = kiln_buf_append(w->sink, w->sync, 16, err)))
        return rc;
    kiln_buf_reset(&w->block);
    w->block_count = 0;
    return 0;
}

int kiln_avro_writer_append(kiln_avro_writer *w, const kiln_avro_value *v, kiln_err *err)
{
    size_t mark = w->block.len;
    enc e = {.out = &w->block, .err = err};
    int rc = encode(&e, w->schema, v, 0);
    if (rc) {
        w->block.len = mark;
        if (w->block.data)
            w->block.data[mark] = 0;
        return rc;
    }
    w->block_count++;
    w->count++;
    if (w->block.len >= w->block_bytes)
        return flush_block(w, err);
    return 0;
}

uint64_t kiln_avro_writer_count(const kiln_avro_writer *w) { return w->count; }

int kiln_avro_writer_close(kiln_avro_writer *w, uint64_t *bytes_out, kiln_err *err)
{
    int rc = flush_block(w, err);
    if (rc == 0 && bytes_out)
        *bytes_out = w->sink->len;
    if (rc == 0 && w->path) {
        rc = kiln_file_write_atomic(w->path, w->sink->data, w->sink->len, err);
        if (rc)
            kiln_err_prefix(err, "avro write %s: ", w->path);
    }
    kiln_avro_writer_free(w);
    return rc;
}

void kiln_avro_writer_free(kiln_avro_writer *w)
{
    if (!w)
        return;
    kiln_buf_free(&w->block);
    kiln_buf_free(&w->packed);
    kiln_buf_free(&w->own_sink);
    kiln_free(w->path);
    kiln_free(w);
}

/* ---------------------------------------------------------------- decoder */

typedef struct dec {
    const uint8_t *p, *end;
    uint64_t base; /* file offset of the buffer start (for messages) */
    const uint8_t *start;
    kiln_arena *a;
    kiln_err *err;
    const char *what; /* "block at offset N" or "header" */
} dec;

static uint64_t doff(const dec *d) { return d->base + (uint64_t)(d->p - d->start); }

static int trunc_err(dec *d, const char *what)
{
    return kiln_err_set_at(d->err, KILN_ETRUNC, doff(d), "avro: %s ends early while reading %s (offset %llu)", d->what,
                           what, (unsigned long long)doff(d));
}

static int get_long(dec *d, int64_t *out)
{
    size_t n = kiln_avro_zigzag_decode(d->p, (size_t)(d->end - d->p), out);
    if (n == 0) {
        if (d->end - d->p >= 10)
            return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d), "avro: %s: varint longer than 64 bits at offset %llu",
                                   d->what, (unsigned long long)doff(d));
        return trunc_err(d, "a varint");
    }
    d->p += n;
    return 0;
}

static int get_len(dec *d, const char *what, size_t *out)
{
    int64_t n;
    int rc = get_long(d, &n);
    if (rc)
        return rc;
    if (n < 0)
        return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d), "avro: %s: negative %s length %lld at offset %llu",
                               d->what, what, (long long)n, (unsigned long long)doff(d));
    if ((uint64_t)n > (uint64_t)(d->end - d->p))
        return kiln_err_set_at(d->err, KILN_ETRUNC, doff(d),
                               "avro: %s: %s length %lld is past the end (%zu bytes left) at offset %llu", d->what,
                               what, (long long)n, (size_t)(d->end - d->p), (unsigned long long)doff(d));
    *out = (size_t)n;
    return 0;
}

static int dec_oom(dec *d) { return kiln_err_set(d->err, KILN_ENOMEM, "avro: out of memory decoding %s", d->what); }

/* Smallest encoded size of a value of s: 0 means items of s can take no
 * bytes (null, empty records), so their counts need a separate cap. */
static size_t min_size(const kiln_avro_schema *s, int depth)
{
    if (depth > 8)
        return 1;
    switch (s->type) {
    case KILN_AVRO_NULL: return 0;
    case KILN_AVRO_FLOAT: return 4;
    case KILN_AVRO_DOUBLE: return 8;
    case KILN_AVRO_FIXED: return s->size;
    case KILN_AVRO_RECORD: {
        size_t n = 0;
        for (size_t i = 0; i < s->nfields && n == 0; i++)
            n += min_size(s->fields[i].type, depth + 1);
        return n;
    }
    default: return 1;
    }
}

static int decode(dec *d, const kiln_avro_schema *s, kiln_avro_value *v, int depth);

/* Array or map blocks: (count, [bytesize], items...) ... 0 */
static int decode_blocks(dec *d, const kiln_avro_schema *s, kiln_avro_value *v, int is_map, int depth)
{
    size_t cap = 0, n = 0;
    kiln_avro_value *items = NULL;
    const char **keys = NULL;
    size_t item_min = min_size(s->items, 0) + (is_map ? 1 : 0);
    uint64_t zero_total = 0;
    for (;;) {
        int64_t cnt;
        int rc = get_long(d, &cnt);
        if (rc)
            return rc;
        if (cnt == 0)
            break;
        if (cnt < 0) {
            if (cnt == INT64_MIN)
                return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d), "avro: %s: bad block count at offset %llu",
                                       d->what, (unsigned long long)doff(d));
            cnt = -cnt;
            size_t bsz;
            if ((rc = get_len(d, "array block", &bsz)))
                return rc;
        }
        size_t left = (size_t)(d->end - d->p);
        if (item_min > 0 ? (uint64_t)cnt > left / item_min : (zero_total += (uint64_t)cnt) > AVRO_MAX_ZERO_ITEMS)
            return kiln_err_set_at(d->err, item_min ? KILN_ETRUNC : KILN_ELIMIT, doff(d),
                                   "avro: %s: %s of %lld items cannot fit in the %zu bytes left (offset %llu)", d->what,
                                   is_map ? "map" : "array", (long long)cnt, left, (unsigned long long)doff(d));
        if (n + (size_t)cnt > cap) {
            size_t ncap = cap ? cap * 2 : 4;
            while (ncap < n + (size_t)cnt)
                ncap *= 2;
            kiln_avro_value *ni = kiln_arena_alloc(d->a, ncap * sizeof *ni);
            const char **nk = is_map ? kiln_arena_alloc(d->a, ncap * sizeof *nk) : NULL;
            if (!ni || (is_map && !nk))
                return dec_oom(d);
            if (n) {
                memcpy(ni, items, n * sizeof *ni);
                if (is_map)
                    memcpy(nk, keys, n * sizeof *nk);
            }
            items = ni;
            keys = nk;
            cap = ncap;
        }
        for (int64_t i = 0; i < cnt; i++, n++) {
            if (is_map) {
                size_t kl;
                if ((rc = get_len(d, "map key", &kl)))
                    return rc;
                if (!(keys[n] = kiln_arena_strndup(d->a, (const char *)d->p, kl)))
                    return dec_oom(d);
                d->p += kl;
            }
            if ((rc = decode(d, s->items, &items[n], depth + 1)))
                return rc;
        }
    }
    v->type = is_map ? KILN_AVRO_MAP : KILN_AVRO_ARRAY;
    if (is_map) {
        v->u.map.n = n;
        v->u.map.keys = keys;
        v->u.map.vals = items;
    } else {
        v->u.array.n = n;
        v->u.array.items = items;
    }
    return 0;
}

static int decode(dec *d, const kiln_avro_schema *s, kiln_avro_value *v, int depth)
{
    int rc = 0;
    int64_t x;
    size_t n;
    if (depth > AVRO_MAX_DEPTH)
        return kiln_err_set_at(d->err, KILN_ELIMIT, doff(d), "avro: %s: values nested deeper than %d at offset %llu",
                               d->what, AVRO_MAX_DEPTH, (unsigned long long)doff(d));
    v->type = s->type;
    v->schema = s;
    v->branch = -1;
    switch (s->type) {
    case KILN_AVRO_NULL: return 0;
    case KILN_AVRO_BOOLEAN:
        if (d->p >= d->end)
            return trunc_err(d, "a boolean");
        if (*d->p > 1)
            return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d), "avro: %s: boolean byte %u at offset %llu", d->what,
                                   *d->p, (unsigned long long)doff(d));
        v->u.boolean = *d->p++;
        return 0;
    case KILN_AVRO_INT:
        if ((rc = get_long(d, &x)))
            return rc;
        if (x < INT32_MIN || x > INT32_MAX)
            return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d), "avro: %s: int %lld out of range at offset %llu",
                                   d->what, (long long)x, (unsigned long long)doff(d));
        v->u.i = (int32_t)x;
        return 0;
    case KILN_AVRO_LONG: return get_long(d, &v->u.l);
    case KILN_AVRO_FLOAT: {
        if (d->end - d->p < 4)
            return trunc_err(d, "a float");
        uint32_t u = (uint32_t)d->p[0] | (uint32_t)d->p[1] << 8 | (uint32_t)d->p[2] << 16 | (uint32_t)d->p[3] << 24;
        memcpy(&v->u.f, &u, 4);
        d->p += 4;
        return 0;
    }
    case KILN_AVRO_DOUBLE: {
        if (d->end - d->p < 8)
            return trunc_err(d, "a double");
        uint64_t u = 0;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | d->p[i];
        memcpy(&v->u.d, &u, 8);
        d->p += 8;
        return 0;
    }
    case KILN_AVRO_BYTES:
    case KILN_AVRO_STRING:
        if ((rc = get_len(d, s->type == KILN_AVRO_STRING ? "string" : "bytes", &n)))
            return rc;
        goto blob;
    case KILN_AVRO_FIXED:
        n = s->size;
        if ((size_t)(d->end - d->p) < n)
            return trunc_err(d, "a fixed");
    blob : {
        uint8_t *b = kiln_arena_alloc(d->a, n + 1);
        if (!b)
            return dec_oom(d);
        memcpy(b, d->p, n);
        b[n] = 0;
        v->u.bytes.ptr = b;
        v->u.bytes.len = n;
        d->p += n;
        return 0;
    }
    case KILN_AVRO_ENUM:
        if ((rc = get_long(d, &x)))
            return rc;
        if (x < 0 || (uint64_t)x >= s->nsymbols)
            return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d),
                                   "avro: %s: enum %s index %lld out of range at offset %llu", d->what, s->name,
                                   (long long)x, (unsigned long long)doff(d));
        v->u.i = (int32_t)x;
        return 0;
    case KILN_AVRO_ARRAY: return decode_blocks(d, s, v, 0, depth);
    case KILN_AVRO_MAP: return decode_blocks(d, s, v, 1, depth);
    case KILN_AVRO_RECORD: {
        size_t nf = s->nfields;
        kiln_avro_value *kids = kiln_arena_alloc(d->a, (nf ? nf : 1) * sizeof *kids);
        if (!kids)
            return dec_oom(d);
        for (size_t i = 0; i < nf; i++)
            if ((rc = decode(d, s->fields[i].type, &kids[i], depth + 1)))
                return rc;
        v->u.array.n = nf;
        v->u.array.items = kids;
        return 0;
    }
    case KILN_AVRO_UNION:
        if ((rc = get_long(d, &x)))
            return rc;
        if (x < 0 || (uint64_t)x >= s->nbranches)
            return kiln_err_set_at(d->err, KILN_EFORMAT, doff(d),
                                   "avro: %s: union branch %lld out of range (%zu branches) at offset %llu", d->what,
                                   (long long)x, s->nbranches, (unsigned long long)doff(d));
        if ((rc = decode(d, s->branches[x], v, depth + 1)))
            return rc;
        v->branch = (int32_t)x;
        return 0;
    }
    return kiln_err_set(d->err, KILN_EINTERNAL, "avro: bad schema node type %d", (int)s->type);
}

/* ---------------------------------------------------------------- projection */

static int promotes(kiln_avro_type w, kiln_avro_type r)
{
    if (w == r)
        return 1;
    switch (w) {
    case KILN_AVRO_INT: return r == KILN_AVRO_LONG || r == KILN_AVRO_FLOAT || r == KILN_AVRO_DOUBLE;
    case KILN_AVRO_LONG: return r == KILN_AVRO_FLOAT || r == KILN_AVRO_DOUBLE;
    case KILN_AVRO_FLOAT: return r == KILN_AVRO_DOUBLE;
    case KILN_AVRO_STRING: return r == KILN_AVRO_BYTES;
    case KILN_AVRO_BYTES: return r == KILN_AVRO_STRING;
    default: return 0;
    }
}

static int writer_field_for(const kiln_avro_schema *ws, const kiln_avro_field *rf)
{
    if (rf->field_id != KILN_AVRO_NO_ID) {
        /* by id; if a (broken) writer schema repeats the id, prefer the
         * field that also has the reader's name */
        int i = -1;
        for (size_t k = 0; k < ws->nfields; k++)
            if (ws->fields[k].field_id == rf->field_id && (i < 0 || strcmp(ws->fields[k].name, rf->name) == 0)) {
                i = (int)k;
                if (strcmp(ws->fields[k].name, rf->name) == 0)
                    break;
            }
        if (i >= 0)
            return i;
        /* both sides use ids: a missing id means a missing field */
        for (size_t k = 0; k < ws->nfields; k++)
            if (ws->fields[k].field_id != KILN_AVRO_NO_ID)
                return -1;
    }
    int i = kiln_avro_schema_field_index(ws, rf->name);
    for (size_t k = 0; i < 0 && k < rf->naliases; k++)
        i = kiln_avro_schema_field_index(ws, rf->aliases[k]);
    return i;
}

static int missing_ok(const kiln_avro_field *rf)
{
    return rf->default_json != NULL || kiln_avro_schema_nullable_branch(rf->type) >= 0 ||
           rf->type->type == KILN_AVRO_NULL;
}

/* Static check that values of ws can be projected to rs. */
static int check_resolve(const kiln_avro_schema *ws, const kiln_avro_schema *rs, int depth, char *path, size_t pcap,
                         kiln_err *err)
{
    if (depth > 24)
        return 0; /* recursive schemas: checked at run time */
    if (ws->type == KILN_AVRO_UNION) {
        for (size_t i = 0; i < ws->nbranches; i++) {
            kiln_err tmp = {0};
            if (check_resolve(ws->branches[i], rs, depth + 1, path, pcap, &tmp) == 0)
                return 0; /* at least one branch resolves; others fail at run time */
        }
        return kiln_err_set(err, KILN_EFORMAT, "avro: reader schema at %s fits no branch of the writer union",
                            path[0] ? path : "$");
    }
    if (rs->type == KILN_AVRO_UNION) {
        for (size_t i = 0; i < rs->nbranches; i++) {
            kiln_err tmp = {0};
            if (check_resolve(ws, rs->branches[i], depth + 1, path, pcap, &tmp) == 0)
                return 0;
        }
        return kiln_err_set(err, KILN_EFORMAT, "avro: writer type %s at %s fits no branch of the reader union",
                            kiln_avro_type_name(ws->type), path[0] ? path : "$");
    }
    if (!promotes(ws->type, rs->type))
        return kiln_err_set(err, KILN_EFORMAT, "avro: writer type %s at %s cannot be read as %s",
                            kiln_avro_type_name(ws->type), path[0] ? path : "$", kiln_avro_type_name(rs->type));
    if (ws->type == KILN_AVRO_FIXED && ws->size != rs->size)
        return kiln_err_set(err, KILN_EFORMAT, "avro: fixed sizes differ at %s (%zu vs %zu)", path[0] ? path : "$",
                            ws->size, rs->size);
    if (ws->type == KILN_AVRO_ARRAY || ws->type == KILN_AVRO_MAP)
        return check_resolve(ws->items, rs->items, depth + 1, path, pcap, err);
    if (ws->type == KILN_AVRO_RECORD) {
        size_t plen = strlen(path);
        for (size_t i = 0; i < rs->nfields; i++) {
            const kiln_avro_field *rf = &rs->fields[i];
            snprintf(path + plen, pcap - plen, ".%s", rf->name);
            int wi = writer_field_for(ws, rf);
            int rc = 0;
            if (wi < 0) {
                if (!missing_ok(rf))
                    rc = kiln_err_set(err, KILN_EFORMAT,
                                      "avro: reader field %s is not in the writer schema and has no default", path);
            } else {
                rc = check_resolve(ws->fields[wi].type, rf->type, depth + 1, path, pcap, err);
            }
            if (rc)
                return rc;
        }
        path[plen] = 0;
    }
    return 0;
}

static int project(kiln_arena *a, const kiln_avro_value *wv, const kiln_avro_schema *rs, kiln_avro_value *out,
                   int depth, kiln_err *err)
{
    if (depth > AVRO_MAX_DEPTH)
        return kiln_err_set(err, KILN_ELIMIT, "avro: projection nested deeper than %d", AVRO_MAX_DEPTH);
    if (rs->type == KILN_AVRO_UNION) {
        /* pick: same type and name first, then promotable */
        int br = -1;
        for (int pass = 0; pass < 2 && br < 0; pass++)
            for (size_t i = 0; i < rs->nbranches && br < 0; i++) {
                const kiln_avro_schema *b = rs->branches[i];
                int ok = pass == 0 ? b->type == wv->type : promotes(wv->type, b->type);
                if (ok && pass == 0 && b->name && wv->schema && wv->schema->name &&
                    strcmp(b->name, wv->schema->name) != 0)
                    ok = 0;
                if (ok)
                    br = (int)i;
            }
        if (br < 0)
            return kiln_err_set(err, KILN_EFORMAT, "avro: a %s value fits no branch of the reader union",
                                kiln_avro_type_name(wv->type));
        int rc = project(a, wv, rs->branches[br], out, depth + 1, err);
        out->branch = br;
        return rc;
    }
    *out = *wv;
    out->schema = rs;
    out->branch = -1;
    if (!promotes(wv->type, rs->type))
        return kiln_err_set(err, KILN_EFORMAT, "avro: a %s value cannot be read as %s", kiln_avro_type_name(wv->type),
                            kiln_avro_type_name(rs->type));
    out->type = rs->type;
    switch (rs->type) {
    case KILN_AVRO_LONG:
        if (wv->type == KILN_AVRO_INT)
            out->u.l = wv->u.i;
        return 0;
    case KILN_AVRO_FLOAT:
        out->u.f = wv->type == KILN_AVRO_INT ? (float)wv->u.i : wv->type == KILN_AVRO_LONG ? (float)wv->u.l : wv->u.f;
        return 0;
    case KILN_AVRO_DOUBLE:
        out->u.d = wv->type == KILN_AVRO_INT     ? (double)wv->u.i
                   : wv->type == KILN_AVRO_LONG  ? (double)wv->u.l
                   : wv->type == KILN_AVRO_FLOAT ? (double)wv->u.f
                                                 : wv->u.d;
        return 0;
    case KILN_AVRO_FIXED:
        if (wv->u.bytes.len != rs->size)
            return kiln_err_set(err, KILN_EFORMAT, "avro: fixed size %zu read as %zu", wv->u.bytes.len, rs->size);
        return 0;
    case KILN_AVRO_ENUM: {
        const char *sym =
            wv->schema && wv->u.i >= 0 && (size_t)wv->u.i < wv->schema->nsymbols ? wv->schema->symbols[wv->u.i] : NULL;
        for (size_t i = 0; sym && i < rs->nsymbols; i++)
            if (strcmp(rs->symbols[i], sym) == 0) {
                out->u.i = (int32_t)i;
                return 0;
            }
        const char *def = kiln_avro_schema_attr_str(rs, "default");
        for (size_t i = 0; def && i < rs->nsymbols; i++)
            if (strcmp(rs->symbols[i], def) == 0) {
                out->u.i = (int32_t)i;
                return 0;
            }
        return kiln_err_set(err, KILN_EFORMAT, "avro: enum symbol %s is not in reader enum %s", sym ? sym : "?",
                            rs->name);
    }
    case KILN_AVRO_ARRAY:
    case KILN_AVRO_MAP: {
        size_t n = wv->u.array.n; /* same position for map.n */
        if (rs->type == KILN_AVRO_MAP)
            n = wv->u.map.n;
        kiln_avro_value *items = kiln_arena_alloc(a, (n ? n : 1) * sizeof *items);
        if (!items)
            return KILN_OOM(err);
        const kiln_avro_value *src = rs->type == KILN_AVRO_MAP ? wv->u.map.vals : wv->u.array.items;
        for (size_t i = 0; i < n; i++) {
            int rc = project(a, &src[i], rs->items, &items[i], depth + 1, err);
            if (rc)
                return rc;
        }
        if (rs->type == KILN_AVRO_MAP)
            out->u.map.vals = items;
        else
            out->u.array.items = items;
        return 0;
    }
    case KILN_AVRO_RECORD: {
        size_t n = rs->nfields;
        kiln_avro_value *kids = kiln_arena_alloc(a, (n ? n : 1) * sizeof *kids);
        if (!kids)
            return KILN_OOM(err);
        for (size_t i = 0; i < n; i++) {
            const kiln_avro_field *rf = &rs->fields[i];
            int wi = wv->schema ? writer_field_for(wv->schema, rf) : -1;
            int rc;
            if (wi >= 0 && (size_t)wi < wv->u.array.n) {
                rc = project(a, &wv->u.array.items[wi], rf->type, &kids[i], depth + 1, err);
            } else if (rf->default_json) {
                rc = kiln_avro__value_from_default(&kids[i], a, rf->type, rf->default_json, err);
            } else if (rf->type->type == KILN_AVRO_NULL || kiln_avro_schema_nullable_branch(rf->type) >= 0) {
                memset(&kids[i], 0, sizeof kids[i]);
                kids[i].type = KILN_AVRO_NULL;
                kids[i].branch = -1;
                if (rf->type->type == KILN_AVRO_UNION)
                    for (size_t b = 0; b < rf->type->nbranches; b++)
                        if (rf->type->branches[b]->type == KILN_AVRO_NULL)
                            kids[i].branch = (int32_t)b;
                rc = 0;
            } else {
                rc = kiln_err_set(err, KILN_EFORMAT, "avro: reader field %s missing from the data and has no default",
                                  rf->name);
            }
            if (rc)
                return rc;
        }
        out->u.array.n = n;
        out->u.array.items = kids;
        return 0;
    }
    default: return 0;
    }
}

/* ---------------------------------------------------------------- reader */

typedef struct meta_kv {
    char *key;
    char *value;
    size_t len;
} meta_kv;

struct kiln_avro_reader {
    char *owned; /* file contents for _open */
    const uint8_t *data;
    size_t len;
    size_t pos; /* next block start */
    kiln_avro_schema *schema;
    const kiln_avro_schema *reader_schema;
    kiln_avro_codec codec;
    uint8_t sync[16];
    meta_kv *meta;
    size_t nmeta;
    kiln_buf block; /* decompressed current block */
    dec d;          /* decoder over block */
    uint64_t left;  /* records left in the current block */
    uint64_t block_off;
    uint64_t count;
};

static int read_header(kiln_avro_reader *r, kiln_err *err)
{
    int rc = 0;
    dec d = {r->data, r->data + r->len, 0, r->data, NULL, err, "header"};
    if (r->len < 4 || memcmp(r->data, MAGIC, 4) != 0)
        return kiln_err_set_at(err, KILN_EFORMAT, 0, "avro: not an Avro object container file (no \"Obj\\x01\" magic)");
    d.p += 4;
    size_t cap = 0;
    for (;;) {
        int64_t cnt;
        if ((rc = get_long(&d, &cnt)))
            return rc;
        if (cnt == 0)
            break;
        if (cnt < 0) {
            size_t bsz;
            if (cnt == INT64_MIN)
                return kiln_err_set_at(err, KILN_EFORMAT, doff(&d), "avro: header: bad metadata count");
            cnt = -cnt;
            if ((rc = get_len(&d, "metadata block", &bsz)))
                return rc;
        }
        if ((uint64_t)cnt > AVRO_MAX_META_ITEMS || r->nmeta + (size_t)cnt > AVRO_MAX_META_ITEMS)
            return kiln_err_set_at(err, KILN_ELIMIT, doff(&d), "avro: header: more than %d metadata entries",
                                   AVRO_MAX_META_ITEMS);
        if ((uint64_t)cnt > (uint64_t)(d.end - d.p) / 2)
            return trunc_err(&d, "metadata");
        if (r->nmeta + (size_t)cnt > cap) {
            size_t ncap = r->nmeta + (size_t)cnt;
            meta_kv *nm = kiln_realloc(r->meta, ncap * sizeof *nm);
            if (!nm)
                return KILN_OOM(err);
            r->meta = nm;
            cap = ncap;
        }
        for (int64_t i = 0; i < cnt; i++) {
            size_t kl, vl;
            if ((rc = get_len(&d, "metadata key", &kl)))
                return rc;
            const uint8_t *k = d.p;
            d.p += kl;
            if ((rc = get_len(&d, "metadata value", &vl)))
                return rc;
            meta_kv *m = &r->meta[r->nmeta];
            m->key = kiln_strndup((const char *)k, kl);
            m->value = kiln_strndup((const char *)d.p, vl);
            m->len = vl;
            if (!m->key || !m->value) {
                kiln_free(m->key);
                kiln_free(m->value);
                return KILN_OOM(err);
            }
            r->nmeta++;
            d.p += vl;
        }
    }
    if (d.end - d.p < 16)
        return trunc_err(&d, "the sync marker");
    memcpy(r->sync, d.p, 16);
    d.p += 16;
    r->pos = (size_t)(d.p - r->data);

    size_t slen;
    const char *sj = kiln_avro_reader_meta(r, "avro.schema", &slen);
    if (!sj)
        return kiln_err_set_at(err, KILN_EFORMAT, 4, "avro: header has no avro.schema");
    if ((rc = kiln_avro_schema_parse(&r->schema, sj, slen, err))) {
        kiln_err_prefix(err, "avro header: ");
        return rc;
    }
    const char *codec = kiln_avro_reader_meta(r, "avro.codec", NULL);
    r->codec = KILN_AVRO_CODEC_NULL;
    if (codec && *codec && (rc = kiln_avro_codec_parse(codec, &r->codec, err)))
        return rc;
    return 0;
}

static int reader_init(kiln_avro_reader **out, kiln_avro_reader *r, kiln_err *err)
{
    kiln_buf_init(&r->block, AVRO_MAX_BLOCK + 1);
    int rc = read_header(r, err);
    if (rc) {
        kiln_avro_reader_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int kiln_avro_reader_open_mem(kiln_avro_reader **out, const void *data, size_t len, kiln_err *err)
{
    *out = NULL;
    kiln_avro_reader *r = kiln_calloc(1, sizeof *r);
    if (!r)
        return KILN_OOM(err);
    r->data = data;
    r->len = len;
    return reader_init(out, r, err);
}

int kiln_avro_reader_open(kiln_avro_reader **out, const char *path, kiln_err *err)
{
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = kiln_file_read(path, AVRO_MAX_FILE, &buf, &len, err);
    if (rc)
        return rc;
    kiln_avro_reader *r = kiln_calloc(1, sizeof *r);
    if (!r) {
        kiln_free(buf);
        return KILN_OOM(err);
    }
    r->owned = buf;
    r->data = (const uint8_t *)buf;
    r->len = len;
    rc = reader_init(out, r, err);
    if (rc)
        kiln_err_prefix(err, "%s: ", path);
    return rc;
}

const kiln_avro_schema *kiln_avro_reader_schema(const kiln_avro_reader *r) { return r->schema; }
const char *kiln_avro_reader_schema_json(const kiln_avro_reader *r) { return kiln_avro_schema_json(r->schema); }
kiln_avro_codec kiln_avro_reader_codec(const kiln_avro_reader *r) { return r->codec; }
size_t kiln_avro_reader_meta_count(const kiln_avro_reader *r) { return r->nmeta; }
uint64_t kiln_avro_reader_count(const kiln_avro_reader *r) { return r->count; }

const char *kiln_avro_reader_meta(const kiln_avro_reader *r, const char *key, size_t *len_out)
{
    for (size_t i = 0; i < r->nmeta; i++)
        if (strcmp(r->meta[i].key, key) == 0) {
            if (len_out)
                *len_out = r->meta[i].len;
            return r->meta[i].value;
        }
    return NULL;
}

void kiln_avro_reader_meta_at(const kiln_avro_reader *r, size_t i, const char **key, const char **value, size_t *len)
{
    *key = r->meta[i].key;
    *value = r->meta[i].value;
    if (len)
        *len = r->meta[i].len;
}

int kiln_avro_reader_set_schema(kiln_avro_reader *r, const kiln_avro_schema *rs, kiln_err *err)
{
    if (rs) {
        char path[256] = "";
        int rc = check_resolve(r->schema, rs, 0, path, sizeof path, err);
        if (rc)
            return rc;
    }
    r->reader_schema = rs;
    return 0;
}

/* Load the next block into r->block; 0 = loaded, 1 = end of file. */
static int next_block(kiln_avro_reader *r, kiln_err *err)
{
    for (;;) {
        if (r->pos >= r->len)
            return 1;
        dec d = {r->data + r->pos, r->data + r->len, r->pos, r->data + r->pos, NULL, err, "block header"};
        int64_t cnt;
        size_t size;
        int rc = get_long(&d, &cnt);
        if (rc)
            return rc;
        if (cnt < 0)
            return kiln_err_set_at(err, KILN_EFORMAT, r->pos, "avro: block at offset %zu has negative count %lld",
                                   r->pos, (long long)cnt);
        if ((rc = get_len(&d, "block", &size)))
            return rc;
        if ((size_t)(d.end - d.p) < size + 16)
            return kiln_err_set_at(err, KILN_ETRUNC, r->pos,
                                   "avro: block at offset %zu (%zu bytes) runs past the end of the file", r->pos, size);
        if (memcmp(d.p + size, r->sync, 16) != 0)
            return kiln_err_set_at(err, KILN_EFORMAT, doff(&d) + size,
                                   "avro: block at offset %zu: sync marker mismatch at offset %llu (corrupt file?)",
                                   r->pos, (unsigned long long)(doff(&d) + size));
        uint64_t data_off = doff(&d);
        r->block_off = r->pos;
        r->pos = (size_t)(data_off + size + 16);
        if ((rc = decompress_block(r->codec, d.p, size, &r->block, r->block_off, err)))
            return rc;
        size_t blen = r->block.len;
        size_t ms = min_size(r->schema, 0);
        if (ms > 0 ? (uint64_t)cnt > blen / ms : (uint64_t)cnt > AVRO_MAX_ZERO_ITEMS)
            return kiln_err_set_at(err, ms ? KILN_EFORMAT : KILN_ELIMIT, r->block_off,
                                   "avro: block at offset %llu claims %lld records in %zu bytes",
                                   (unsigned long long)r->block_off, (long long)cnt, blen);
        if (cnt == 0) {
            if (blen != 0)
                return kiln_err_set_at(err, KILN_EFORMAT, r->block_off,
                                       "avro: block at offset %llu has 0 records but %zu bytes",
                                       (unsigned long long)r->block_off, blen);
            continue;
        }
        r->left = (uint64_t)cnt;
        r->d.start = r->d.p = (const uint8_t *)r->block.data;
        r->d.end = r->d.p + blen;
        r->d.base = data_off; /* offsets inside compressed blocks are approximate */
        r->d.what = "block";
        return 0;
    }
}

int kiln_avro_reader_next(kiln_avro_reader *r, kiln_arena *a, kiln_avro_value **out, kiln_err *err)
{
    int rc;
    *out = NULL;
    if (r->left == 0) {
        rc = next_block(r, err);
        if (rc == 1)
            return 0;
        if (rc)
            return rc;
    }
    /* Writer-schema values go into the caller's arena even when projecting:
     * the projection shares their strings and bytes. */
    int proj = r->reader_schema != NULL;
    r->d.a = a;
    r->d.err = err;
    kiln_avro_value *v = kiln_arena_alloc(a, sizeof *v);
    if (!v)
        return KILN_OOM(err);
    if ((rc = decode(&r->d, r->schema, v, 0)))
        return rc;
    r->left--;
    if (r->left == 0 && r->d.p != r->d.end)
        return kiln_err_set_at(err, KILN_EFORMAT, r->block_off,
                               "avro: block at offset %llu has %zu bytes after its last record",
                               (unsigned long long)r->block_off, (size_t)(r->d.end - r->d.p));
    if (proj) {
        kiln_avro_value *pv = kiln_arena_alloc(a, sizeof *pv);
        if (!pv)
            return KILN_OOM(err);
        if ((rc = project(a, v, r->reader_schema, pv, 0, err))) {
            kiln_err_prefix(err, "avro: record %llu: ", (unsigned long long)r->count);
            return rc;
        }
        v = pv;
    }
    r->count++;
    *out = v;
    return 1;
}

void kiln_avro_reader_free(kiln_avro_reader *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmeta; i++) {
        kiln_free(r->meta[i].key);
        kiln_free(r->meta[i].value);
    }
    kiln_free(r->meta);
    kiln_avro_schema_free(r->schema);
    kiln_buf_free(&r->block);
    kiln_free(r->owned);
    kiln_free(r);
}
