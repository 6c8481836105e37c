/*
 * gunzip_isal.c - the "decompression alone" peer of bench/gh_events.sh:
 * decompress each .json.gz argument with ISA-L's streaming isal_inflate
 * (same library and input path as kiln's reader: the file mmap'ed, or read
 * in 256 KB chunks if mapping fails; 4 MB output chunks),
 * files spread over T threads, output discarded. Prints total bytes.
 * Same decompression work as kiln's reader: crc_flag = ISAL_GZIP, so ISA-L
 * parses each member header, computes the CRC32 of the output and checks
 * the CRC32/ISIZE trailer (a flipped trailer bit fails with error -6 here
 * and "CRC32/length check failed" in kiln); multi-member files continue.
 *   gunzip_isal THREADS FILE...    (GUNZIP_READ=1: read() only, no mmap)
 * Built by the bench script: cc -O2 gunzip_isal.c -lisal -pthread
 */
#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char **files;
static int nfiles, next_file;
static unsigned long long total_out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned long long inflate_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    static __thread unsigned char in[256 * 1024], *out;
    if (!out)
        out = malloc(4u << 20);
    struct inflate_state st;
    isal_inflate_init(&st);
    st.crc_flag = ISAL_GZIP;
    unsigned long long n = 0;
    int eof = 0;
    st.avail_in = 0;
    struct stat sb;
    void *map = MAP_FAILED;
    size_t dropped = 0;
    if (getenv("GUNZIP_READ") == NULL && fstat(fd, &sb) == 0 && sb.st_size > 0 && sb.st_size < (1ll << 32))
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map != MAP_FAILED) {
        madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL);
        st.next_in = map;
        st.avail_in = (unsigned)sb.st_size;
        eof = 1;
    }
    for (;;) {
        if (st.avail_in == 0 && !eof) {
            ssize_t got = read(fd, in, sizeof in);
            if (got <= 0)
                eof = 1;
            st.next_in = in;
            st.avail_in = got > 0 ? (unsigned)got : 0;
        }
        st.next_out = out;
        st.avail_out = 4u << 20;
        int ret = isal_inflate(&st);
        if (ret < 0) {
            fprintf(stderr, "%s: isal_inflate error %d\n", path, ret);
            exit(1);
        }
        n += (4u << 20) - st.avail_out;
        if (map != MAP_FAILED) { /* release consumed input as kiln's reader does */
            size_t pos = (size_t)(st.next_in - (unsigned char *)map) & ~(size_t)((1u << 20) - 1);
            if (pos >= dropped + (2u << 20)) {
                madvise((char *)map + dropped, pos - dropped, MADV_DONTNEED);
                dropped = pos;
            }
        }
        if (st.block_state == ISAL_BLOCK_FINISH) {
            if (st.avail_in == 0 && eof)
                break;
            if (st.avail_in == 0) {
                ssize_t got = read(fd, in, sizeof in);
                if (got <= 0)
                    break;
                st.next_in = in;
                st.avail_in = (unsigned)got;
            }
            unsigned char *ni = st.next_in;
            unsigned ai = st.avail_in;
            isal_inflate_reset(&st);
            st.crc_flag = ISAL_GZIP;
            st.next_in = ni;
            st.avail_in = ai;
        } else if (eof && st.avail_in == 0 && st.avail_out != 0) {
            break;
        }
    }
    if (map != MAP_FAILED)
        munmap(map, (size_t)sb.st_size);
    close(fd);
    return n;
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        int i = next_file < nfiles ? next_file++ : -1;
        pthread_mutex_unlock(&lock);
        if (i < 0)
            return NULL;
        unsigned long long n = inflate_file(files[i]);
        pthread_mutex_lock(&lock);
        total_out += n;
        pthread_mutex_unlock(&lock);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: gunzip_isal THREADS FILE...\n");
        return 2;
    }
    int t = atoi(argv[1]);
    files = argv + 2;
    nfiles = argc - 2;
    pthread_t th[256];
    if (t < 1 || t > 256)
        t = 1;
    for (int i = 0; i < t; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    printf("%llu\n", total_out);
    return 0;
}
