#define _GNU_SOURCE
#include "CTCPChatLinux.h"

#include <errno.h>
#include <iconv.h>
#include <limits.h>
#include <linux/tcp.h>  /* tcp_info with tcpi_bytes_acked (glibc's netinet/tcp.h lacks it) */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/eventfd.h>

const int ctc_EPOLLIN = EPOLLIN;
const int ctc_EPOLLOUT = EPOLLOUT;
const int ctc_EPOLLERR = EPOLLERR;
const int ctc_EPOLLHUP = EPOLLHUP;
const int ctc_EPOLLRDHUP = EPOLLRDHUP;
const int ctc_SOCK_STREAM = SOCK_STREAM;
const int ctc_SOCK_NONBLOCK = SOCK_NONBLOCK;
const int ctc_SOCK_CLOEXEC = SOCK_CLOEXEC;
const int ctc_MSG_NOSIGNAL = MSG_NOSIGNAL;
const int ctc_IOV_MAX = IOV_MAX;

_Static_assert(sizeof(uint64_t) == sizeof(((struct epoll_event *)0)->data), "epoll_data is 64 bits");

int ctc_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int ctc_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

int ctc_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms) {
    return epoll_wait(epfd, events, max, timeout_ms);
}

uint64_t ctc_epoll_event_token(const struct epoll_event *ev) { return ev->data.u64; }
uint32_t ctc_epoll_event_flags(const struct epoll_event *ev) { return ev->events; }

int ctc_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

int ctc_accept4(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_CLOEXEC | SOCK_NONBLOCK);
}

int ctc_errno(void) { return errno; }

void *ctc_iconv_open(const char *to, const char *from) {
    iconv_t cd = iconv_open(to, from);
    return cd == (iconv_t)-1 ? NULL : (void *)cd;
}

size_t ctc_iconv(void *cd, char **in, size_t *inleft, char **out, size_t *outleft) {
    return iconv((iconv_t)cd, in, inleft, out, outleft);
}

void ctc_iconv_close(void *cd) { iconv_close((iconv_t)cd); }

int64_t ctc_tcp_bytes_acked(int fd) {
    struct tcp_info info;
    socklen_t length = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    if (length < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) return -1;
    return (int64_t)info.tcpi_bytes_acked;
}
