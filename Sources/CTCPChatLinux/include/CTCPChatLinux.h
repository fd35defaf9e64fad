// The few Linux calls that Swift's Glibc module does not expose (epoll, eventfd, accept4)
// or exposes awkwardly (flag constants that are enums or macros). Every function is a plain
// pass-through: no policy lives here. The Swift wrappers in Sources/TCPChat/Net handle EINTR
// and EAGAIN. The definitions live in shim.c, which is compiled with _GNU_SOURCE; defining
// it here would make these system headers differ from the ones Glibc's module sees.
#ifndef CTCPCHAT_LINUX_H
#define CTCPCHAT_LINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

extern const int ctc_EPOLLIN, ctc_EPOLLOUT, ctc_EPOLLERR, ctc_EPOLLHUP, ctc_EPOLLRDHUP;
extern const int ctc_SOCK_STREAM, ctc_SOCK_NONBLOCK, ctc_SOCK_CLOEXEC, ctc_MSG_NOSIGNAL;
/* The most iovecs one writev takes (IOV_MAX on Linux). */
extern const int ctc_IOV_MAX;

int ctc_epoll_create(void);
int ctc_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
int ctc_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms);
uint64_t ctc_epoll_event_token(const struct epoll_event *ev);
uint32_t ctc_epoll_event_flags(const struct epoll_event *ev);
int ctc_eventfd(void);
int ctc_accept4(int fd, struct sockaddr *addr, socklen_t *len);
int ctc_errno(void);
/* Bytes of a TCP socket's output its peer has acknowledged (tcp_info.tcpi_bytes_acked), or -1. */
int64_t ctc_tcp_bytes_acked(int fd);

/* iconv, with iconv_t kept opaque; NULL when the conversion is not available. */
void *ctc_iconv_open(const char *to, const char *from);
size_t ctc_iconv(void *cd, char **in, size_t *inleft, char **out, size_t *outleft);
void ctc_iconv_close(void *cd);

#endif
