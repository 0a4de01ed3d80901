/* fuzz-http.c — whole HTTP requests (request line, headers, body: any bytes) through provd's
 * real HTTP layer: a Daemon with a two-node inventory and an Http serving it on 127.0.0.1, as
 * `provd serve` runs them, set up once; each input is written to a fresh TCP connection, the
 * write side is shut, and the answer is read until the server closes or goes quiet.  Checks: provd stays
 * up and answering; an answer starts with an HTTP/1.x status line; no input makes provd
 * answer 500 (its handlers turn every client error into a 4xx/5xx of their own: a 500 means a
 * handler could not build its answer).
 *
 * Input: the bytes sent, as they are. */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "fuzz.h"
#include "http.h"
#include "log.h"

static Daemon *daemon_;
static Http *http_;
static struct sockaddr_in addr;
static char dir[] = "/tmp/provd-fuzz-http.XXXXXX";

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");
        assert(f);
        fputs(text, f);
        fclose(f);
}

static void teardown(void) {
        if (http_)
                http_stop(http_);
        if (daemon_)
                daemon_free(daemon_);
        char cmd[sizeof dir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
                fprintf(stderr, "fuzz-http: could not remove %s\n", dir);
}

static void setup(void) {
        char inv[256], kernel[256], initrd[256], state[256], json[2048];
        assert(mkdtemp(dir));
        snprintf(kernel, sizeof kernel, "%s/bzImage", dir);
        snprintf(initrd, sizeof initrd, "%s/initrd", dir);
        snprintf(state, sizeof state, "%s/state", dir);
        snprintf(inv, sizeof inv, "%s/inventory.json", dir);
        write_file(kernel, "kernel");
        write_file(initrd, "initrd");
        snprintf(json, sizeof json,
                 "{\"version\": 1, \"nodes\": ["
                 "{\"name\": \"node-01\", \"rack\": \"r1\", \"mac\": [\"52:54:00:00:00:01\"], "
                 "\"boot\": {\"kernel\": \"%s\", \"initrd\": [\"%s\"], \"cmdline\": \"init=/nix/store/x/init\"}, "
                 "\"system\": {\"toplevel\": \"/nix/store/a-system\", \"install\": \"/nix/store/b-install\"}},"
                 "{\"name\": \"node-02\", \"mac\": [\"52:54:00:00:00:02\"], "
                 "\"boot\": {\"kernel\": \"%s\", \"initrd\": [\"%s\"], \"cmdline\": \"init=/nix/store/x/init\"}, "
                 "\"system\": {\"toplevel\": \"/nix/store/a-system\", \"install\": \"/nix/store/b-install\"}}]}",
                 kernel, initrd, kernel, initrd);
        write_file(inv, json);
        log_set_max_level(LOG_CRIT);
        int r = daemon_new(&(DaemonConfig) { .inventory_path = inv, .state_dir = state, .public_url = "http://127.0.0.1:1" },
                           &daemon_);
        assert(r >= 0);

        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(fd >= 0);
        addr = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof addr;
        assert(bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0 && listen(fd, 64) == 0);
        assert(getsockname(fd, (struct sockaddr *) &addr, &len) == 0);
        r = http_start(daemon_, fd, &(HttpConfig) { .threads = 2, .ipxe_efi = kernel }, &http_);
        assert(r >= 0);
        atexit(teardown);
}

/* Sends data on a new connection, shuts the write side, reads the answer (at most cap bytes
 * kept) until the server closes, nothing more comes for 100 ms after the first bytes (a
 * keep-alive connection stays open after its answer), or 5 s pass.  Returns the bytes kept. */
static size_t exchange(const uint8_t *data, size_t size, char *out, size_t cap) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert(fd >= 0);
        assert(connect(fd, (struct sockaddr *) &addr, sizeof addr) == 0);
        struct timeval tv = { .tv_sec = 5 };
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        for (size_t off = 0; off < size;) {
                ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
                if (n <= 0)
                        break; /* the server closed early: fine */
                off += (size_t) n;
        }
        shutdown(fd, SHUT_WR);
        size_t got = 0;
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                if (poll(&p, 1, got ? 100 : 2000) <= 0)
                        break;
                char buf[4096];
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0)
                        break;
                if (got < cap) {
                        size_t k = (size_t) n < cap - got ? (size_t) n : cap - got;
                        memcpy(out + got, buf, k);
                        got += k;
                }
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - start.tv_sec > 5)
                        break;
        }
        close(fd);
        return got;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!daemon_)
                setup();
        char out[16384];
        size_t got = exchange(data, size, out, sizeof out - 1);
        out[got] = '\0';
        if (got > 0) {
                assert(got >= 12 && strncmp(out, "HTTP/1.", 7) == 0);
                assert(strncmp(out + 8, " 500 ", 5) != 0);
        }
        /* still up: a plain request is answered */
        static const char probe[] = "GET /v1/summary HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        got = exchange((const uint8_t *) probe, sizeof probe - 1, out, sizeof out - 1);
        out[got] = '\0';
        assert(strncmp(out, "HTTP/1.1 200 ", 13) == 0);
        return 0;
}
