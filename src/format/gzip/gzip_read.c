/*
 * gzip_read.c - streaming gzip decompression on ISA-L (see gzip_read.h).
 *
 * The file is read in GZ_IN_CHUNK pieces into one input buffer; isal_inflate
 * with crc_flag = ISAL_GZIP parses each member's header, inflates, and checks
 * the CRC32/ISIZE trailer. When a member finishes and more input follows,
 * the state is reset and the next member starts (multi-member files).
 * Memory: the input buffer plus ISA-L's state (~50 KB), whatever the file.
 * A regular file is mapped instead (measured: -3 to -5 % CPU for the
 * gh-events job, mostly the kernel's read() copy and page-cache lookups);
 * inflate is then given the mapping in pieces of at most 1 GB (avail_in is
 * 32-bit) and the error offsets are positions in the mapping. Consumed
 * input is released every 2 MB (MADV_DONTNEED: the pages stay in the page
 * cache, but leave our RSS), so resident memory does not grow with the file.
 * A mapped file truncated by another process while it is read is an error
 * (base's mapping guard), not SIGBUS.
 */
#include "format/gzip/gzip_read.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GZ_IN_CHUNK (256u * 1024u)
#define GZ_MAP_DROP ((uint64_t)2 << 20) /* release consumed mapped input every 2 MB */

struct kiln_gz_reader {
    int fd;
    char *path;
    uint64_t file_size;
    const uint8_t *map;   /* the whole file mapped read-only, or NULL (then in[] and read()) */
    uint64_t in_base;     /* file offset of in[0] (of map[0] when mapped: 0) */
    uint64_t map_dropped; /* mapped bytes before this were released (MADV_DONTNEED) */
    size_t in_len;        /* valid bytes in in[] */
    int eof;              /* read() returned 0 */
    int done;             /* stream finished cleanly */
    int member_open;      /* inside a member (header seen, trailer not yet) */
    int failed;           /* the mapped file shrank: nothing more can be read */
    uint64_t members;
    uint64_t out_total;
    struct inflate_state st;
    uint8_t in[GZ_IN_CHUNK];
};

static uint64_t in_pos(const kiln_gz_reader *r)
{
    return r->in_base + (uint64_t)(r->st.next_in - (r->map ? r->map : r->in));
}

int kiln_gz_reader_open(kiln_gz_reader **out, const char *path, kiln_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kiln_err_set(err, errno == ENOENT ? KILN_ENOTFOUND : KILN_EIO, "%s: cannot open: %s", path,
                            strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return kiln_err_set(err, KILN_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    kiln_gz_reader *r = kiln_malloc(sizeof *r);
    char *p = kiln_strdup(path);
    if (!r || !p) {
        kiln_free(r);
        kiln_free(p);
        close(fd);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory opening %s", path);
    }
    memset(r, 0, offsetof(kiln_gz_reader, st));
    r->fd = fd;
    r->path = p;
    r->file_size = (uint64_t)sb.st_size;
    isal_inflate_init(&r->st);
    r->st.crc_flag = ISAL_GZIP;
    r->st.next_in = r->in;
    r->st.avail_in = 0;
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    /* Map the file when we can: inflate then reads the page cache directly
     * instead of through a read() copy. Any failure keeps the read() path. */
    if (sb.st_size > 0 && (uint64_t)sb.st_size <= SIZE_MAX && S_ISREG(sb.st_mode)) {
        void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, (size_t)sb.st_size, MADV_SEQUENTIAL);
            r->map = m;
            r->st.next_in = (uint8_t *)m;
        }
    }
    *out = r;
    return 0;
}

/* Move unread input to the front and read more from the file. Mapped:
 * hand inflate the next piece of the mapping (avail_in is 32-bit). */
static int refill(kiln_gz_reader *r, kiln_err *err)
{
    if (r->map) {
        uint64_t pos = (uint64_t)(r->st.next_in - r->map);
        uint64_t left = r->file_size - pos;
        uint64_t n = left > ((uint64_t)1 << 30) ? ((uint64_t)1 << 30) : left;
        r->st.avail_in = (uint32_t)n;
        r->in_len = (size_t)n;
        if (pos + n == r->file_size)
            r->eof = 1;
        return 0;
    }
    size_t keep = r->st.avail_in;
    size_t used = (size_t)(r->st.next_in - r->in);
    if (keep && used)
        memmove(r->in, r->st.next_in, keep);
    r->in_base += used;
    r->in_len = keep;
    while (r->in_len < GZ_IN_CHUNK && !r->eof) {
        ssize_t got = read(r->fd, r->in + r->in_len, GZ_IN_CHUNK - r->in_len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return kiln_err_set_at(err, KILN_EIO, r->in_base + r->in_len, "%s: read failed at byte %llu: %s", r->path,
                                   (unsigned long long)(r->in_base + r->in_len), strerror(errno));
        }
        if (got == 0)
            r->eof = 1;
        r->in_len += (size_t)got;
        if (got > 0)
            break; /* one read per refill keeps latency low */
    }
    r->st.next_in = r->in;
    r->st.avail_in = (uint32_t)r->in_len;
    return 0;
}

/* A member just finished: decide whether another follows. Returns 0 and
 * sets done or resets the state for the next member. */
static int next_member(kiln_gz_reader *r, kiln_err *err)
{
    r->member_open = 0;
    for (;;) {
        if (r->st.avail_in == 0) {
            if (r->eof) {
                r->done = 1;
                return 0;
            }
            int rc = refill(r, err);
            if (rc)
                return rc;
            continue;
        }
        if (r->st.next_in[0] != 0x1f) {
            uint64_t at = in_pos(r);
            return kiln_err_set_at(err, KILN_EFORMAT, at,
                                   "%s: corrupt gzip: %u bytes of trailing garbage at compressed byte offset %llu "
                                   "(not a gzip member)",
                                   r->path, r->st.avail_in, (unsigned long long)at);
        }
        uint8_t *nin = r->st.next_in;
        uint32_t ain = r->st.avail_in;
        isal_inflate_reset(&r->st);
        r->st.crc_flag = ISAL_GZIP;
        r->st.next_in = nin;
        r->st.avail_in = ain;
        return 0;
    }
}

static int gz_read(kiln_gz_reader *r, void *dst, size_t cap, size_t *n_out, kiln_err *err);

/* Mapped input is read under a mapping guard: a file truncated by another
 * process meanwhile gives an error naming it, not SIGBUS. */
int kiln_gz_reader_read(kiln_gz_reader *r, void *dst, size_t cap, size_t *n_out, kiln_err *err)
{
    *n_out = 0;
    if (!r->map)
        return gz_read(r, dst, cap, n_out, err);
    if (r->failed)
        return kiln_err_set(err, KILN_EIO, "%s: the file shrank while it was read", r->path);
    kiln_map_guard g;
    if (sigsetjmp(g.env, 0)) {
        r->failed = 1;
        return kiln_err_set(err, KILN_EIO,
                            "%s: the file shrank while it was read (truncated or rewritten by another process; "
                            "it was %llu bytes)",
                            r->path, (unsigned long long)r->file_size);
    }
    kiln_map_guard_push(&g, r->map, (size_t)r->file_size);
    int rc = gz_read(r, dst, cap, n_out, err);
    kiln_map_guard_pop(&g);
    return rc;
}

static int gz_read(kiln_gz_reader *r, void *dst, size_t cap, size_t *n_out, kiln_err *err)
{
    *n_out = 0;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX;
    uint8_t *out = dst;
    size_t got = 0;
    while (!r->done && got < cap) {
        if (r->st.avail_in == 0 && !r->eof) {
            int rc = refill(r, err);
            if (rc)
                return rc;
        }
        if (!r->member_open) {
            if (r->st.avail_in == 0 && r->eof) {
                if (r->members == 0) {
                    return kiln_err_set_at(err, KILN_ETRUNC, 0,
                                           "%s: truncated gzip: the file is empty (compressed byte offset 0)", r->path);
                }
                r->done = 1;
                break;
            }
            r->member_open = 1;
            r->members++;
        }
        r->st.next_out = out + got;
        r->st.avail_out = (uint32_t)(cap - got);
        uint32_t before_in = r->st.avail_in;
        int ret = isal_inflate(&r->st);
        size_t produced = (size_t)(r->st.next_out - (out + got));
        got += produced;
        r->out_total += produced;
        if (ret < 0) {
            uint64_t at = in_pos(r);
            const char *why = ret == ISAL_INVALID_BLOCK        ? "invalid deflate block"
                              : ret == ISAL_INVALID_SYMBOL     ? "invalid deflate symbol"
                              : ret == ISAL_INVALID_LOOKBACK   ? "invalid lookback distance"
                              : ret == ISAL_INVALID_WRAPPER    ? "invalid gzip header"
                              : ret == ISAL_UNSUPPORTED_METHOD ? "unsupported compression method"
                              : ret == ISAL_INCORRECT_CHECKSUM ? "CRC32/length check failed"
                                                               : "decoder error";
            return kiln_err_set_at(err, KILN_EFORMAT, at,
                                   "%s: corrupt gzip: %s at compressed byte offset %llu (member %llu); "
                                   "re-download the file",
                                   r->path, why, (unsigned long long)at, (unsigned long long)r->members);
        }
        if (r->map) { /* inflate never looks back at input: drop what it has read, so RSS stays small */
            uint64_t pos = (uint64_t)(r->st.next_in - r->map) & ~(uint64_t)((1u << 20) - 1);
            if (pos >= r->map_dropped + GZ_MAP_DROP) {
                madvise((void *)(r->map + r->map_dropped), (size_t)(pos - r->map_dropped), MADV_DONTNEED);
                r->map_dropped = pos;
            }
        }
        if (r->st.block_state == ISAL_BLOCK_FINISH) {
            int rc = next_member(r, err);
            if (rc)
                return rc;
            continue;
        }
        if (produced == 0 && r->st.avail_in == before_in && r->st.avail_in == 0 && r->eof) {
            uint64_t at = in_pos(r);
            return kiln_err_set_at(err, KILN_ETRUNC, at,
                                   "%s: truncated gzip: input ends at compressed byte offset %llu inside member "
                                   "%llu (%llu bytes decompressed); re-download the file",
                                   r->path, (unsigned long long)at, (unsigned long long)r->members,
                                   (unsigned long long)r->out_total);
        }
        if (produced && got >= cap / 2)
            break;
    }
    *n_out = got;
    return 0;
}

uint64_t kiln_gz_reader_in_offset(const kiln_gz_reader *r) { return in_pos(r); }
uint64_t kiln_gz_reader_out_offset(const kiln_gz_reader *r) { return r->out_total; }
uint64_t kiln_gz_reader_file_size(const kiln_gz_reader *r) { return r->file_size; }
uint64_t kiln_gz_reader_members(const kiln_gz_reader *r) { return r->members; }

void kiln_gz_reader_free(kiln_gz_reader *r)
{
    if (!r)
        return;
    if (r->map)
        munmap((void *)r->map, (size_t)r->file_size);
    close(r->fd);
    kiln_free(r->path);
    kiln_free(r);
}
