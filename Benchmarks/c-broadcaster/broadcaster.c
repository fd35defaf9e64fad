/* broadcaster: the strong C reference of docs/BENCHMARKS.md (issue 19).
 *
 * As much as a single-threaded line broadcaster can be made to do with as little as possible:
 * - one epoll thread (level-triggered), clients kept in a table by descriptor and in a dense
 *   member array (a fan-out walks exactly the members, no scan of the descriptor range);
 * - each read's complete lines (with the unfinished line carried over from the read before)
 *   are copied ONCE into a reference-counted block; every other member's queue gets a pointer
 *   to it (a 16-byte ring entry, no per-receiver copy of the bytes);
 * - each receiver that was given something is flushed once per loop iteration with ONE
 *   writev of its queued blocks (EPOLLOUT only while bytes remain);
 * - global flow control: while the bytes the server holds undelivered (live blocks plus queue
 *   entries) pass HIGH_MARK, it stops reading (the readable clients are parked: EPOLLIN off),
 *   and reads again below LOW_MARK. Memory is bounded; a client that never reads stalls
 *   everyone once the server holds HIGH_MARK for it (there is no per-client cap, as before).
 * Lines are relayed unchanged (no nicks, no protocol): whatever tcpchat does beyond this costs
 * it relative to this line. An unfinished line is carried without limit, as before.
 *
 *   gcc -O2 -o broadcaster broadcaster.c && ./broadcaster PORT [HOST]   (default 127.0.0.1)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define READ_BYTES (64 * 1024)
#define HIGH_MARK ((size_t)64 << 20)  /* undelivered bytes held: stop reading above this */
#define LOW_MARK ((size_t)32 << 20)   /* ... and read again below this */
#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

typedef struct block { uint32_t refs; uint32_t len; char data[]; } block;

typedef struct client {
    int fd;
    int member;             /* index in members[], -1 when closed */
    uint8_t dirty, wantwrite, parked;
    uint32_t head, count, cap;  /* queue ring: entries[head .. head+count) modulo cap */
    uint32_t headoff;       /* bytes of the first entry already written */
    block **ring;           /* allocated on first use */
    char *carry;            /* the unfinished line, allocated on first use */
    uint32_t carrylen, carrycap;
} client;

static client **table;      /* by descriptor */
static int tablecap, epfd;
static client **members;    /* the open clients, dense */
static int nmembers;
static client **dirty;      /* clients given something this iteration */
static int ndirty;
static client **parked;     /* readable clients not read because of flow control */
static int nparked;
static size_t held;         /* undelivered bytes: live blocks + queue entries */
static int paused;

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n);
    if (!p) { perror("realloc"); exit(1); }
    return p;
}

static void watch(client *c, unsigned events, int op) {
    struct epoll_event ev = { .events = events, .data.ptr = c };
    epoll_ctl(epfd, op, c->fd, &ev);
}

static inline void unref(block *b) {
    if (--b->refs == 0) { held -= sizeof(block) + b->len; free(b); }
}

static void drop(client *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    for (uint32_t i = 0; i < c->count; i++) unref(c->ring[(c->head + i) % c->cap]);
    held -= (size_t)c->count * sizeof(block *);
    free(c->ring); free(c->carry);
    int at = c->member;
    members[at] = members[--nmembers];
    members[at]->member = at;
    table[c->fd] = NULL;
    c->member = -1;         /* freed at the end of the iteration (it may be on dirty/parked) */
    c->fd = -1;
    c->ring = NULL; c->carry = NULL; c->count = 0;
}

static void flush(client *c) {
    c->dirty = 0;
    if (c->member < 0) return;
    struct iovec iov[IOV_MAX];
    while (c->count > 0) {
        int n = 0;
        size_t total = 0;
        for (uint32_t i = 0; i < c->count && n < IOV_MAX; i++) {
            block *b = c->ring[(c->head + i) & (c->cap - 1)];
            size_t skip = i == 0 ? c->headoff : 0;
            iov[n].iov_base = b->data + skip;
            iov[n].iov_len = b->len - skip;
            total += iov[n].iov_len;
            n++;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) break;
            drop(c);
            return;
        }
        size_t left = (size_t)w;
        while (left > 0) {
            block *b = c->ring[c->head];
            size_t rest = b->len - c->headoff;
            if (left < rest) { c->headoff += (uint32_t)left; break; }
            left -= rest;
            c->headoff = 0;
            c->head = (c->head + 1) & (c->cap - 1);
            c->count--;
            held -= sizeof(block *);
            unref(b);
        }
        if ((size_t)w < total) break;  /* the socket is full: wait for EPOLLOUT */
    }
    if ((c->count > 0) != c->wantwrite) {
        c->wantwrite = c->count > 0;
        watch(c, (c->parked ? 0 : EPOLLIN) | (c->wantwrite ? EPOLLOUT : 0), EPOLL_CTL_MOD);
    }
    if (c->count == 0 && c->cap > 64) {  /* a drained queue keeps at most 64 entries of room */
        free(c->ring); c->ring = NULL; c->cap = 0; c->head = 0;
    }
}

static void push(client *c, block *b) {
    if (c->count == c->cap) {  /* grow the ring (power of two), unwrapping it */
        uint32_t cap = c->cap ? c->cap * 2 : 16;
        block **ring = xrealloc(NULL, cap * sizeof *ring);
        for (uint32_t i = 0; i < c->count; i++) ring[i] = c->ring[(c->head + i) & (c->cap - 1)];
        free(c->ring);
        c->ring = ring; c->cap = cap; c->head = 0;
    }
    c->ring[(c->head + c->count) & (c->cap - 1)] = b;
    c->count++;
    if (!c->dirty) { c->dirty = 1; dirty[ndirty++] = c; }
}

static void broadcast(client *from, block *b) {
    uint32_t receivers = (uint32_t)nmembers - 1;
    if (receivers == 0) { free(b); return; }
    b->refs = receivers;
    held += sizeof(block) + b->len + (size_t)receivers * sizeof(block *);
    client **m = members;
    for (int i = 0, n = nmembers; i < n; i++) {
        client *c = m[i];
        if (c != from) push(c, b);
    }
}

static void park(client *c) {
    c->parked = 1;
    parked[nparked++] = c;
    watch(c, c->wantwrite ? EPOLLOUT : 0, EPOLL_CTL_MOD);
}

static void readable(client *c) {
    if (paused) { if (!c->parked) park(c); return; }
    char chunk[READ_BYTES];
    ssize_t n = read(c->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) { drop(c); return; }
    char *last = memrchr(chunk, '\n', (size_t)n);
    size_t whole = last ? (size_t)(last - chunk) + 1 : 0;
    if (whole > 0) {
        size_t len = c->carrylen + whole;
        block *b = xrealloc(NULL, sizeof(block) + len);
        b->len = (uint32_t)len;
        if (c->carrylen) memcpy(b->data, c->carry, c->carrylen);
        memcpy(b->data + c->carrylen, chunk, whole);
        c->carrylen = 0;
        broadcast(c, b);
        if (held > HIGH_MARK) paused = 1;
    }
    size_t rest = (size_t)n - whole;
    if (rest) {
        if (c->carrylen + rest > c->carrycap) {
            c->carrycap = (uint32_t)((c->carrylen + rest) * 2);
            c->carry = xrealloc(c->carry, c->carrycap);
        }
        memcpy(c->carry + c->carrylen, chunk + whole, rest);
        c->carrylen += (uint32_t)rest;
    }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s PORT [HOST]\n", argv[0]); return 2; }
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])) };
    inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &addr.sin_addr);
    int one = 1, listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) || listen(listener, 4096)) { perror("listen"); return 1; }
    tablecap = 1 << 16;
    table = calloc((size_t)tablecap, sizeof *table);
    members = calloc((size_t)tablecap, sizeof *members);
    dirty = calloc((size_t)tablecap, sizeof *dirty);
    parked = calloc((size_t)tablecap, sizeof *parked);
    client **closed = calloc((size_t)tablecap, sizeof *closed);
    int nclosed = 0;
    epfd = epoll_create1(0);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epfd, EPOLL_CTL_ADD, listener, &lev);
    printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            client *c = events[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (fd >= tablecap) { close(fd); continue; }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    client *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    nc->member = nmembers;
                    members[nmembers++] = nc;
                    table[fd] = nc;
                    watch(nc, EPOLLIN, EPOLL_CTL_ADD);
                }
                continue;
            }
            if (c->member < 0) continue;  /* dropped earlier in this batch */
            if (events[i].events & EPOLLOUT) flush(c);
            if (c->member >= 0 && events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                readable(c);
                if (c->member < 0) closed[nclosed++] = c;
            } else if (c->member < 0) {
                closed[nclosed++] = c;
            }
        }
        for (int i = 0; i < ndirty; i++) {
            client *c = dirty[i];
            flush(c);
            if (c->member < 0 && c->fd == -1) { c->fd = -2; closed[nclosed++] = c; }
        }
        ndirty = 0;
        if (paused && held < LOW_MARK) {
            paused = 0;
            for (int i = 0; i < nparked; i++) {
                client *c = parked[i];
                if (c->member < 0) continue;
                c->parked = 0;
                watch(c, EPOLLIN | (c->wantwrite ? EPOLLOUT : 0), EPOLL_CTL_MOD);
            }
            nparked = 0;
        }
        if (nclosed && !nparked) {  /* free what was dropped once nothing refers to it */
            for (int i = 0; i < nclosed; i++) {
                /* a client may be listed twice (dropped while reading and while flushing) */
                if (closed[i]) {
                    for (int j = i + 1; j < nclosed; j++) if (closed[j] == closed[i]) closed[j] = NULL;
                    free(closed[i]);
                }
            }
            nclosed = 0;
        }
    }
}
