/*
 * fuzz_serve.h - shared by fuzz_http.c and fuzz_webhook.c: one kiln serve
 * (src/serve, libmicrohttpd) started in-process on 127.0.0.1 on a free port
 * with a temporary warehouse and raw zone, kept for the whole run (stopped
 * and removed at exit), and a raw TCP exchange with it.
 */
#ifndef KILN_FUZZ_SERVE_H
#define KILN_FUZZ_SERVE_H

#include "harness/harness.h"
#include "serve/serve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static kiln_server *fzs_srv;
static char fzs_dir[64];

static void fzs_stop(void)
{
    if (fzs_srv)
        kiln_serve_stop(fzs_srv);
    fzs_srv = NULL;
    if (fzs_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fzs_dir);
        if (system(cmd) != 0) {
        }
    }
}

/* The server's port, starting it on first use (0 when it cannot start). */
static int fzs_port(const char *secret)
{
    if (fzs_srv)
        return kiln_serve_port(fzs_srv);
    snprintf(fzs_dir, sizeof fzs_dir, "/tmp/kiln-fuzz-serve-XXXXXX");
    if (!mkdtemp(fzs_dir))
        return 0;
    atexit(fzs_stop); /* removes the directory even when the start fails */
    static char wh[96], raw[96];
    snprintf(wh, sizeof wh, "%s/wh", fzs_dir);
    snprintf(raw, sizeof raw, "%s/raw", fzs_dir);
    if (mkdir(wh, 0755) != 0)
        return 0;
    kiln_serve_opts o = {.listen = "127.0.0.1:0",
                         .token = "fuzz-token",
                         .warehouse = wh,
                         .raw_dir = raw,
                         .webhook_secret = secret,
                         .threads = 2,
                         .max_body = 1 << 20,
                         .timeout_s = 2};
    kiln_err err = {0};
    kiln_log_min = KILN_LOG_ERROR; /* no access log line per input */
    if (kiln_serve_start(&fzs_srv, &o, &err) != 0) {
        fprintf(stderr, "fuzz serve: %s\n", err.msg);
        return 0;
    }
    return kiln_serve_port(fzs_srv);
}

/* Send req[0..n) on a fresh connection, half-close, read the answer into
 * out (up to cap-1 bytes, NUL-terminated; done when the server closes or
 * is quiet for 200 ms after answering). Returns the bytes read, -1 when
 * the server could not be reached. */
static long fzs_exchange(int port, const void *req, size_t n, char *out, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    const char *p = req;
    size_t left = n;
    while (left) {
        ssize_t w = send(fd, p, left, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may close early on a bad request */
        p += w;
        left -= (size_t)w;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
        if (r <= 0)
            break;
        if (!got) { /* answered: a kept-alive connection is not waited out */
            struct timeval idle = {0, 200000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof idle);
        }
        got += (size_t)r;
        if (got == cap - 1) { /* drain the rest */
            char sink[4096];
            while (recv(fd, sink, sizeof sink, 0) > 0) {
            }
            break;
        }
    }
    out[got] = 0;
    close(fd);
    return (long)got;
}

/* The status of an HTTP/1.x answer, 0 for none, -1 for a malformed one. */
static int fzs_status(const char *resp, long n)
{
    if (n <= 0)
        return 0;
    if (n < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ')
        return -1;
    int s = 0;
    for (int i = 9; i < 12; i++) {
        if (resp[i] < '0' || resp[i] > '9')
            return -1;
        s = s * 10 + (resp[i] - '0');
    }
    return s;
}

#endif
