/*
 * gzip_read.h - a streaming gzip reader on ISA-L (isal_inflate): reads a
 * .gz file in fixed-size input chunks and hands out decompressed bytes
 * into the caller's buffer, so memory stays bounded whatever the file size.
 * Multi-member files (concatenated gzip streams) are read as one stream.
 * A regular file is mmap'ed read-only (inflate reads the page cache with no
 * read() copy; the mapping is address space, not heap); anything else
 * (FIFO, mapping refused) is read in 256 KB chunks. A file truncated by
 * another process while mapped would fault (SIGBUS): inputs are expected
 * to be complete files, as GH Archive downloads are.
 *
 * Errors name the file and the compressed byte offset where decoding
 * stopped: a truncated file is KILN_ETRUNC, a corrupt one KILN_EFORMAT.
 * A reader belongs to one thread.
 */
#ifndef KILN_GZIP_READ_H
#define KILN_GZIP_READ_H

#include "base/base.h"

typedef struct kiln_gz_reader kiln_gz_reader;

/* Open path for reading. Caller frees with kiln_gz_reader_free. */
int kiln_gz_reader_open(kiln_gz_reader **out, const char *path, kiln_err *err);
/* Decompress up to cap bytes into dst. *n_out is the number written; 0 with
 * a 0 return means end of stream. Returns 0 or a negative KILN_E* code. */
int kiln_gz_reader_read(kiln_gz_reader *r, void *dst, size_t cap, size_t *n_out, kiln_err *err);
/* Compressed bytes consumed so far (the position errors report). */
uint64_t kiln_gz_reader_in_offset(const kiln_gz_reader *r);
/* Decompressed bytes produced so far. */
uint64_t kiln_gz_reader_out_offset(const kiln_gz_reader *r);
/* Size of the compressed file in bytes. */
uint64_t kiln_gz_reader_file_size(const kiln_gz_reader *r);
/* Number of gzip members started so far. */
uint64_t kiln_gz_reader_members(const kiln_gz_reader *r);
void kiln_gz_reader_free(kiln_gz_reader *r); /* NULL is a no-op */

#endif
