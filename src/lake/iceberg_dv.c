/*
 * iceberg_dv.c - Iceberg v3 deletion vectors: the row positions deleted
 * from one data file, stored as a "deletion-vector-v1" blob of a Puffin
 * file that the delete manifest entry locates by content_offset and
 * content_size_in_bytes.
 *
 * The blob (Iceberg spec, "Deletion Vectors"): a 4-byte big-endian length
 * of what follows up to the checksum, the magic D1 D3 39 64, a Roaring
 * bitmap in the 64-bit portable form, and a big-endian CRC-32 of the magic
 * and the bitmap. The 64-bit form is a little-endian count of 32-bit
 * bitmaps, each a 4-byte little-endian key (the positions' high 32 bits)
 * followed by a 32-bit Roaring bitmap in the portable serialization
 * (cookie 12346 without run containers, 12347 with them; per container a
 * 16-bit key and cardinality; then array, bitmap or run containers).
 *
 * Every length is checked against the blob, so a corrupt vector is an
 * error naming the file, never a wrong set of deleted rows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lake/lake.h"
#include "lake/lake_data_int.h"
#include "lake/lake_io.h"

#define DV_MAX ((int64_t)1 << 30)

typedef struct rd {
    const uint8_t *p, *end;
} rd;

static int need(rd *r, size_t n) { return (size_t)(r->end - r->p) >= n; }
static uint16_t u16(rd *r)
{
    uint16_t v = (uint16_t)(r->p[0] | r->p[1] << 8);
    r->p += 2;
    return v;
}
static uint32_t u32(rd *r)
{
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

/* One 32-bit portable Roaring bitmap; positions get `high` as bits 32..63. */
static int bitmap32(rd *r, uint64_t high, kiln_i64set *set, const char *path, kiln_err *err)
{
    if (!need(r, 4))
        goto bad;
    uint32_t cookie = u32(r), n;
    const uint8_t *runflags = NULL;
    int offsets;
    if ((cookie & 0xffff) == 12347) {
        n = (cookie >> 16) + 1;
        if (!need(r, (n + 7) / 8))
            goto bad;
        runflags = r->p;
        r->p += (n + 7) / 8;
        offsets = n >= 4;
    } else if (cookie == 12346) {
        if (!need(r, 4))
            goto bad;
        n = u32(r);
        offsets = 1;
    } else {
        return kiln_err_set(err, KILN_EFORMAT, "%s: deletion vector: not a portable Roaring bitmap (cookie %u)", path,
                            cookie);
    }
    if (n > 65536 || !need(r, (size_t)n * 4))
        goto bad;
    const uint8_t *hdr = r->p;
    r->p += (size_t)n * 4;
    if (offsets) {
        if (!need(r, (size_t)n * 4))
            goto bad;
        r->p += (size_t)n * 4; /* containers follow in order: offsets not needed */
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t key = (uint64_t)(hdr[4 * i] | hdr[4 * i + 1] << 8);
        uint32_t card = (uint32_t)(hdr[4 * i + 2] | hdr[4 * i + 3] << 8) + 1;
        uint64_t base = high << 32 | key << 16;
        int rc;
        if (runflags && (runflags[i / 8] >> (i % 8) & 1)) {
            if (!need(r, 2))
                goto bad;
            uint16_t nruns = u16(r);
            if (!need(r, (size_t)nruns * 4))
                goto bad;
            for (uint16_t k = 0; k < nruns; k++) {
                uint32_t start = u16(r), len = u16(r);
                if (start + len > 65535)
                    goto bad;
                for (uint32_t x = start; x <= start + len; x++)
                    if ((rc = kiln_i64set_add(set, (int64_t)(base | x), err)) < 0)
                        return rc;
            }
        } else if (card <= 4096) {
            if (!need(r, (size_t)card * 2))
                goto bad;
            for (uint32_t k = 0; k < card; k++)
                if ((rc = kiln_i64set_add(set, (int64_t)(base | u16(r)), err)) < 0)
                    return rc;
        } else {
            if (!need(r, 8192))
                goto bad;
            for (uint32_t w = 0; w < 1024; w++) {
                uint64_t bits = 0;
                for (int b = 0; b < 8; b++)
                    bits |= (uint64_t)r->p[8 * w + (uint32_t)b] << (8 * b);
                for (int b = 0; bits && b < 64; b++, bits >>= 1)
                    if ((bits & 1) && (rc = kiln_i64set_add(set, (int64_t)(base | (w * 64 + (uint32_t)b)), err)) < 0)
                        return rc;
            }
            r->p += 8192;
        }
    }
    return 0; /* (kiln_i64set_add's count of new members is not passed on) */
bad:
    return kiln_err_set(err, KILN_EFORMAT, "%s: deletion vector: the Roaring bitmap is truncated or malformed", path);
}

int kiln_lake__dv_load(kiln_i64set *set, const char *path, int64_t offset, int64_t size, kiln_err *err)
{
    if (offset < 0 || size < 12 || size > DV_MAX)
        return kiln_err_set(err, KILN_EFORMAT, "%s: deletion vector at offset %lld with size %lld is out of range",
                            path, (long long)offset, (long long)size);
    uint8_t *buf = kiln_malloc((size_t)size);
    if (!buf)
        return KILN_OOM(err);
    int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    ssize_t got = pread(fd, buf, (size_t)size, (off_t)offset);
    close(fd);
    if (got != (ssize_t)size) {
        rc = kiln_err_set(err, KILN_ETRUNC, "%s: deletion vector at offset %lld: file ends before its %lld bytes", path,
                          (long long)offset, (long long)size);
        goto done;
    }
    uint32_t len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    if ((int64_t)len + 8 != size || memcmp(buf + 4, "\xD1\xD3\x39\x64", 4) != 0) {
        rc = kiln_err_set(err, KILN_EFORMAT,
                          "%s: the blob at offset %lld is not a deletion-vector-v1 (length %u, "
                          "size %lld)",
                          path, (long long)offset, len, (long long)size);
        goto done;
    }
    const uint8_t *c = buf + 4 + len;
    uint32_t want = (uint32_t)c[0] << 24 | (uint32_t)c[1] << 16 | (uint32_t)c[2] << 8 | c[3];
    if ((uint32_t)crc32(0L, buf + 4, len) != want) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: deletion vector at offset %lld fails its CRC-32", path,
                          (long long)offset);
        goto done;
    }
    rd r = {buf + 8, buf + 4 + len};
    if (!need(&r, 8)) {
        rc = kiln_err_set(err, KILN_EFORMAT, "%s: deletion vector too short", path);
        goto done;
    }
    uint64_t nmaps = (uint64_t)u32(&r);
    nmaps |= (uint64_t)u32(&r) << 32;
    for (uint64_t i = 0; i < nmaps && !rc; i++) {
        if (!need(&r, 4)) {
            rc = kiln_err_set(err, KILN_EFORMAT, "%s: deletion vector: bitmap %llu is missing", path,
                              (unsigned long long)i);
            break;
        }
        uint64_t key = u32(&r);
        rc = bitmap32(&r, key, set, path, err);
        if (rc > 0)
            rc = 0;
    }
done:
    kiln_free(buf);
    return rc;
}

/* ================================================================ writing
 *
 * One Puffin file per commit holds a deletion-vector-v1 blob for each data
 * file the commit deletes rows from (its earlier deletes merged in). The
 * file: magic "PFA1", the blobs, then the footer: magic, the UTF-8 JSON
 * payload (uncompressed), its length (4 bytes little-endian), 4 flag bytes
 * (0: not compressed) and the magic again. Each blob's footer entry has
 * the type, fields [2147483645] (the _pos metadata column), snapshot-id
 * and sequence-number -1 (inherited from the manifest entry, as the spec
 * requires for vectors), offset, length and the properties
 * referenced-data-file and cardinality. Bitmaps use array containers (up
 * to 4096 positions of one 16-bit chunk) and bitmap containers, no runs
 * (cookie 12346), which every portable Roaring reader accepts. */

static int put_u16(kiln_buf *b, uint32_t v, kiln_err *err)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return kiln_buf_append(b, x, 2, err);
}
static int put_u32(kiln_buf *b, uint32_t v, kiln_err *err)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return kiln_buf_append(b, x, 4, err);
}
static int put_be32(kiln_buf *b, uint32_t v, kiln_err *err)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return kiln_buf_append(b, x, 4, err);
}

/* The 32-bit portable bitmap of pos[0..n) (sorted, one high word). */
static int bitmap32_write(kiln_buf *b, const int64_t *pos, size_t n, kiln_err *err)
{
    /* containers: runs of equal bits 16..31 */
    size_t nc = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || ((uint64_t)pos[i] >> 16 & 0xffff) != ((uint64_t)pos[i - 1] >> 16 & 0xffff))
            nc++;
    int rc = put_u32(b, 12346, err);
    if (!rc)
        rc = put_u32(b, (uint32_t)nc, err);
    /* descriptive header: key, cardinality - 1 */
    size_t start = 0;
    uint32_t *cards = kiln_calloc(nc ? nc : 1, sizeof *cards);
    if (!cards)
        return KILN_OOM(err);
    for (size_t c = 0, i = 0; !rc && c < nc; c++) {
        start = i;
        uint32_t key = (uint32_t)((uint64_t)pos[i] >> 16 & 0xffff);
        while (i < n && (uint32_t)((uint64_t)pos[i] >> 16 & 0xffff) == key)
            i++;
        cards[c] = (uint32_t)(i - start);
        rc = put_u16(b, key, err);
        if (!rc)
            rc = put_u16(b, cards[c] - 1, err);
    }
    /* offsets from the start of this 32-bit bitmap */
    uint32_t off = 4 + 4 + 4 * (uint32_t)nc + 4 * (uint32_t)nc;
    for (size_t c = 0; !rc && c < nc; c++) {
        rc = put_u32(b, off, err);
        off += cards[c] <= 4096 ? 2 * cards[c] : 8192;
    }
    for (size_t c = 0, i = 0; !rc && c < nc; c++) {
        if (cards[c] <= 4096) {
            for (uint32_t k = 0; !rc && k < cards[c]; k++, i++)
                rc = put_u16(b, (uint32_t)((uint64_t)pos[i] & 0xffff), err);
        } else {
            uint8_t bits[8192];
            memset(bits, 0, sizeof bits);
            for (uint32_t k = 0; k < cards[c]; k++, i++) {
                uint32_t x = (uint32_t)((uint64_t)pos[i] & 0xffff);
                bits[x >> 3] |= (uint8_t)(1u << (x & 7)); /* 64-bit words little-endian = bytes in order */
            }
            rc = kiln_buf_append(b, bits, sizeof bits, err);
        }
    }
    kiln_free(cards);
    return rc;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int kiln_lake__dv_blob(kiln_buf *out, int64_t *pos, size_t n, kiln_err *err)
{
    kiln_sort(pos, n, sizeof *pos, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (pos[i] < 0 || (i && pos[i] == pos[i - 1]))
            return kiln_err_set(err, KILN_EINTERNAL, "deletion vector: position %lld is negative or repeated",
                                (long long)pos[i]);
    size_t start = out->len;
    int rc = put_be32(out, 0, err); /* length, patched below */
    if (!rc)
        rc = kiln_buf_append(out, "\xD1\xD3\x39\x64", 4, err);
    size_t nmaps = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || (uint64_t)pos[i] >> 32 != (uint64_t)pos[i - 1] >> 32)
            nmaps++;
    if (!rc)
        rc = put_u32(out, (uint32_t)nmaps, err);
    if (!rc)
        rc = put_u32(out, (uint32_t)((uint64_t)nmaps >> 32), err);
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        while (j < n && (uint64_t)pos[j] >> 32 == (uint64_t)pos[i] >> 32)
            j++;
        rc = put_u32(out, (uint32_t)((uint64_t)pos[i] >> 32), err);
        if (!rc)
            rc = bitmap32_write(out, pos + i, j - i, err);
        i = j;
    }
    if (rc)
        return rc;
    size_t len = out->len - start - 4; /* magic + bitmap */
    uint8_t *p = (uint8_t *)out->data + start;
    p[0] = (uint8_t)(len >> 24);
    p[1] = (uint8_t)(len >> 16);
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)out->data + start + 4, (uInt)len);
    return put_be32(out, crc, err);
}

int kiln_lake__puffin_write_dvs(const char *loc, kiln_lake__dv_out *dvs, size_t n, int64_t *file_size, kiln_err *err)
{
    kiln_buf b, foot;
    kiln_buf_init(&b, 0);
    kiln_buf_init(&foot, 0);
    int rc = kiln_buf_append(&b, "PFA1", 4, err);
    if (!rc)
        rc = kiln_buf_append(&foot, "{\"blobs\":[", 10, err);
    for (size_t i = 0; !rc && i < n; i++) {
        dvs[i].offset = (int64_t)b.len;
        rc = kiln_lake__dv_blob(&b, dvs[i].pos, dvs[i].n, err);
        if (rc)
            break;
        dvs[i].length = (int64_t)b.len - dvs[i].offset;
        rc = kiln_buf_printf(&foot, err,
                             "%s{\"type\":\"deletion-vector-v1\",\"fields\":[2147483645],\"snapshot-id\":-1,"
                             "\"sequence-number\":-1,\"offset\":%lld,\"length\":%lld,\"properties\":{"
                             "\"referenced-data-file\":",
                             i ? "," : "", (long long)dvs[i].offset, (long long)dvs[i].length);
        if (!rc)
            rc = kiln_json_write_str(&foot, dvs[i].data_file, strlen(dvs[i].data_file), err);
        if (!rc)
            rc = kiln_buf_printf(&foot, err, ",\"cardinality\":\"%zu\"}}", dvs[i].n);
    }
    if (!rc)
        rc = kiln_buf_printf(&foot, err, "],\"properties\":{\"created-by\":\"kiln %s\"}}", KILN_VERSION);
    if (!rc)
        rc = kiln_buf_append(&b, "PFA1", 4, err);
    if (!rc)
        rc = kiln_buf_append(&b, foot.data, foot.len, err);
    if (!rc)
        rc = put_u32(&b, (uint32_t)foot.len, err);
    if (!rc)
        rc = put_u32(&b, 0, err); /* flags: footer not compressed */
    if (!rc)
        rc = kiln_buf_append(&b, "PFA1", 4, err);
    if (!rc)
        rc = kiln_lake__io_write_new(loc, b.data, b.len, err);
    if (!rc && file_size)
        *file_size = (int64_t)b.len;
    kiln_buf_free(&b);
    kiln_buf_free(&foot);
    return rc;
}
