/* broadcaster: the "what the hardware allows" line of docs/BENCHMARKS.md.
 *
 * The least a line broadcaster can do: one epoll thread; every complete line a client sends is
 * copied, unchanged, into the output buffer of every other client; output buffers are flushed
 * once per loop iteration (so lines that arrive together leave in one write). No nicks, no
 * limits, no protocol: whatever tcpchat does beyond this costs it relative to this line.
 *
 *   gcc -O2 -o broadcaster broadcaster.c && ./broadcaster PORT [HOST]   (default 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct { char *data; size_t len, cap; } buffer;
typedef struct { int fd, open, dirty, wantwrite; buffer in, out; } client;

static client **clients;            /* indexed by fd */
static int nclients_cap, maxfd, epfd;
static int *dirty, ndirty;          /* fds with output to flush this iteration */

static void append(buffer *b, const char *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc(b->data, b->cap);
        if (!b->data) { perror("realloc"); exit(1); }
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void watch(int fd, unsigned events, int op) {
    struct epoll_event ev = { .events = events, .data.fd = fd };
    epoll_ctl(epfd, op, fd, &ev);
}

static void drop(client *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->open = c->dirty = c->wantwrite = 0;
    free(c->in.data); free(c->out.data);
    memset(&c->in, 0, sizeof c->in); memset(&c->out, 0, sizeof c->out);
}

static void flush(client *c) {
    c->dirty = 0;
    size_t done = 0;
    while (done < c->out.len) {
        ssize_t n = write(c->fd, c->out.data + done, c->out.len - done);
        if (n > 0) { done += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        drop(c);
        return;
    }
    memmove(c->out.data, c->out.data + done, c->out.len - done);
    c->out.len -= done;
    if ((c->out.len > 0) != c->wantwrite) {  /* ask for EPOLLOUT only while bytes remain */
        c->wantwrite = c->out.len > 0;
        watch(c->fd, c->wantwrite ? EPOLLIN | EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
    }
}

static void broadcast(client *from, const char *p, size_t n) {
    for (int fd = 0; fd <= maxfd; fd++) {
        client *c = clients[fd];
        if (!c || !c->open || c == from) continue;
        append(&c->out, p, n);
        if (!c->dirty) { c->dirty = 1; dirty[ndirty++] = fd; }
    }
}

static void readable(client *c) {
    char chunk[65536];
    ssize_t n = read(c->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) { drop(c); return; }
    char *last = memrchr(chunk, '\n', (size_t)n);
    if (!last) { append(&c->in, chunk, (size_t)n); return; }
    size_t whole = (size_t)(last - chunk) + 1;
    if (c->in.len) {  /* finish the line left over from the last read */
        append(&c->in, chunk, whole);
        broadcast(c, c->in.data, c->in.len);
        c->in.len = 0;
    } else {
        broadcast(c, chunk, whole);
    }
    append(&c->in, chunk + whole, (size_t)n - whole);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]); return 2; }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &addr.sin_addr);
    int one = 1, listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) { perror("listen"); return 1; }
    nclients_cap = 1 << 16;
    clients = calloc((size_t)nclients_cap, sizeof *clients);
    dirty = calloc((size_t)nclients_cap, sizeof *dirty);
    epfd = epoll_create1(0);
    watch(listener, EPOLLIN, EPOLL_CTL_ADD);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == listener) {
                int c;
                while ((c = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0 && c < nclients_cap) {
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (!clients[c]) clients[c] = calloc(1, sizeof(client));
                    clients[c]->fd = c; clients[c]->open = 1;
                    if (c > maxfd) maxfd = c;
                    watch(c, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            client *c = clients[fd];
            if (!c || !c->open) continue;
            if (events[i].events & EPOLLOUT) flush(c);
            if (c->open && events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) readable(c);
        }
        for (int i = 0; i < ndirty; i++) {
            client *c = clients[dirty[i]];
            if (c->open && c->dirty) flush(c);
        }
        ndirty = 0;
    }
}
