/*
** The client that never blocks (1.1): try_send against a listener that never reads fills a
** bounded queue and then returns TCPCHAT_EAGAIN at once, while the test's own loop keeps
** running; once the peer reads, flush() on writability delivers every line, in order.
** Connecting without blocking: connect_start + flush against the server; against a listener
** whose backlog is full (loopback; the SYN is never answered) both connect_ex and
** connect_start give TCPCHAT_ETIMEDOUT after connect_timeout_ms; a port nobody listens on
** is refused. Every wait is bounded only so that a broken build fails instead of hanging.
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "test_support.h"

#define LINE_BYTES 1000
#define QUEUE_BYTES 4096
#define MAX_ROUNDS 100000

/* A listener on 127.0.0.1 with this backlog; *port_out its port. */
static int listener(int backlog, int *port_out) {
    int fd = loopback_bound_socket(port_out);
    int small = 4096;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);   /* inherited */
    CHECK(listen(fd, backlog) == 0);
    return fd;
}

/* Drives a connect_start client until flush() says something other than EAGAIN. */
static int drive_connect(tcpchat_client *client) {
    int round, rc = TCPCHAT_EAGAIN;
    for (round = 0; round < MAX_ROUNDS && rc == TCPCHAT_EAGAIN; round++) {
        struct pollfd entry;
        int timeout = tcpchat_client_timeout(client);
        entry.fd = tcpchat_client_fd(client);
        entry.events = (short)tcpchat_client_events(client);
        entry.revents = 0;
        CHECK(entry.events == POLLOUT || entry.events == POLLIN);   /* connecting, or resolving */
        if (timeout < 0 || timeout > 1000) timeout = 1000;
        CHECK(poll(&entry, 1, timeout) >= 0);
        rc = tcpchat_client_flush(client);
    }
    return rc;
}

/* Drives a connect_start client until connected and every line it queued meanwhile is written. */
static int connect_and_flush(tcpchat_client *client) {
    int rc = drive_connect(client);
    while (rc == TCPCHAT_EAGAIN) {
        struct pollfd entry = {0, POLLOUT, 0};
        entry.fd = tcpchat_client_fd(client);
        CHECK(poll(&entry, 1, 1000) >= 0);
        rc = tcpchat_client_flush(client);
    }
    return rc;
}

static void never_reading_peer(void) {
    tcpchat_client_options options;
    tcpchat_client *client;
    char line[LINE_BYTES + 1];
    char received[65536];
    int port, listen_fd, peer, rounds, queued_lines = 0, rc, lines_read = 0, expected_digit = 0;
    int sndbuf = 4096;
    size_t i;

    listen_fd = listener(16, &port);
    tcpchat_client_options_init(&options);
    options.send_queue_bytes = QUEUE_BYTES;
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", port, &options, &client), TCPCHAT_OK);
    CHECK(setsockopt(tcpchat_client_fd(client), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) == 0);
    CHECK(tcpchat_client_events(client) == POLLIN);            /* nothing queued yet */

    /* A line larger than the whole queue can never be queued. */
    {
        static char huge[QUEUE_BYTES + 10];
        memset(huge, 'x', sizeof huge - 1);
        CHECK_RC(tcpchat_client_try_send(client, huge), TCPCHAT_EINVAL);
    }

    /* Nobody reads: the kernel buffers fill, then the queue, then EAGAIN -- never a block. */
    for (rounds = 0; rounds < MAX_ROUNDS; rounds++) {
        memset(line, '0' + queued_lines % 10, LINE_BYTES - 1);
        line[LINE_BYTES - 1] = 0;
        rc = tcpchat_client_try_send(client, line);
        if (rc == TCPCHAT_EAGAIN) break;
        CHECK_RC(rc, TCPCHAT_OK);
        queued_lines++;
    }
    CHECK(rounds < MAX_ROUNDS);
    printf("never-reading peer: TCPCHAT_EAGAIN after %d lines of %d bytes (kernel buffers + a %d-byte queue)\n",
           queued_lines, LINE_BYTES, QUEUE_BYTES);
    CHECK(tcpchat_client_events(client) == (POLLIN | POLLOUT));   /* output waits */
    /* Nothing blocks; but the kernel may take a little more meanwhile (the peer's receive
    ** window grows while it sits in the backlog: seen under valgrind), so a flush may drain
    ** and the refused line may then fit. Either way every queued line must arrive below. */
    rc = tcpchat_client_flush(client);
    CHECK(rc == TCPCHAT_EAGAIN || rc == TCPCHAT_OK);
    rc = tcpchat_client_try_send(client, line);
    CHECK(rc == TCPCHAT_EAGAIN || rc == TCPCHAT_OK);
    if (rc == TCPCHAT_OK) queued_lines++;
    /* The loop keeps running: receiving (nothing there) does not block either. */
    CHECK_RC(tcpchat_client_recv(client, received, sizeof received, 0), TCPCHAT_ETIMEDOUT);

    /* The peer starts reading: flushing on writability delivers every line, in order. */
    peer = accept(listen_fd, NULL, NULL);
    CHECK(peer >= 0);
    CHECK(fcntl(peer, F_SETFL, O_NONBLOCK) == 0);
    for (rounds = 0; rounds < MAX_ROUNDS && lines_read < queued_lines; rounds++) {
        struct pollfd entries[2];
        ssize_t count;
        entries[0].fd = tcpchat_client_fd(client);
        entries[0].events = (short)tcpchat_client_events(client);
        entries[1].fd = peer;
        entries[1].events = POLLIN;
        CHECK(poll(entries, 2, 1000) >= 0);
        if (entries[0].revents & POLLOUT) {
            rc = tcpchat_client_flush(client);
            CHECK(rc == TCPCHAT_OK || rc == TCPCHAT_EAGAIN);
        }
        count = read(peer, received, sizeof received);
        if (count < 0) { CHECK(errno == EAGAIN); continue; }
        CHECK(count > 0);
        for (i = 0; i < (size_t)count; i++) {
            if (received[i] == '\n') {
                lines_read++;
                expected_digit = (expected_digit + 1) % 10;
            } else {
                CHECK(received[i] == '0' + expected_digit);   /* whole lines, in order */
            }
        }
    }
    CHECK(lines_read == queued_lines);
    CHECK_RC(tcpchat_client_flush(client), TCPCHAT_OK);
    CHECK(tcpchat_client_events(client) == POLLIN);
    /* Now it fits again, and a blocking send works on the same client. */
    CHECK_RC(tcpchat_client_try_send(client, "after"), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_send(client, "blocking"), TCPCHAT_OK);
    tcpchat_client_close(client);
    close(peer);
    close(listen_fd);
}

static void full_backlog(void) {
    tcpchat_client_options options;
    tcpchat_client *client = NULL;
    int port, listen_fd, fillers[8], i;

    /* Backlog 0: one pending connection fills the queue; the kernel then drops further SYNs
    ** (they are retransmitted, never answered in time). Fill it with non-blocking connects. */
    listen_fd = listener(0, &port);
    for (i = 0; i < 8; i++) {
        struct sockaddr_in address;
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        CHECK(fillers[i] >= 0);
        memset(&address, 0, sizeof address);
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons((unsigned short)port);
        CHECK(connect(fillers[i], (struct sockaddr *)&address, sizeof address) == 0 || errno == EINPROGRESS);
    }

    tcpchat_client_options_init(&options);
    options.connect_timeout_ms = 300;
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", port, &options, &client), TCPCHAT_ETIMEDOUT);
    CHECK(client == NULL);

    CHECK_RC(tcpchat_client_connect_start("127.0.0.1", port, &options, &client), TCPCHAT_OK);
    CHECK(client != NULL);
    CHECK(tcpchat_client_timeout(client) >= 0 && tcpchat_client_timeout(client) <= 300);
    CHECK_RC(tcpchat_client_send(client, "not yet"), TCPCHAT_EAGAIN);       /* would block */
    CHECK_RC(tcpchat_client_try_send(client, "queued meanwhile"), TCPCHAT_OK);
    CHECK_RC(drive_connect(client), TCPCHAT_ETIMEDOUT);
    CHECK_RC(tcpchat_client_flush(client), TCPCHAT_ETIMEDOUT);               /* sticky */
    CHECK(tcpchat_client_timeout(client) == -1);
    tcpchat_client_close(client);

    for (i = 0; i < 8; i++) close(fillers[i]);
    close(listen_fd);
}

static void connect_start_to_the_server(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server;
    tcpchat_client *client = NULL;
    char line[4096];
    int port, closed_port, closed_fd, rc;

    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    port = tcpchat_server_port(server);

    CHECK_RC(tcpchat_client_connect_start("127.0.0.1", port, NULL, &client), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_try_send(client, "/nick early"), TCPCHAT_OK);   /* sent once connected */
    CHECK_RC(connect_and_flush(client), TCPCHAT_OK);                       /* and the queued line */
    WAIT_FOR(client, "* you are now known as early", line);
    tcpchat_client_close(client);

    /* A name is resolved on the library's worker thread: the client's descriptor is readable
    ** (POLLIN) once the addresses are known, then connecting goes on as for an address. */
    CHECK_RC(tcpchat_client_connect_start("localhost", port, NULL, &client), TCPCHAT_OK);
    CHECK(tcpchat_client_events(client) == POLLIN || tcpchat_client_events(client) == POLLOUT);
    CHECK_RC(tcpchat_client_try_send(client, "/nick named"), TCPCHAT_OK);
    CHECK_RC(connect_and_flush(client), TCPCHAT_OK);
    WAIT_FOR(client, "* you are now known as named", line);
    tcpchat_client_close(client);

    /* Closing a client while its name is still being resolved is fine (the worker finishes alone). */
    CHECK_RC(tcpchat_client_connect_start("localhost", port, NULL, &client), TCPCHAT_OK);
    tcpchat_client_close(client);

    /* Nobody listens: refused, at once or once driven. */
    closed_fd = loopback_bound_socket(&closed_port);
    client = NULL;
    rc = tcpchat_client_connect_start("127.0.0.1", closed_port, NULL, &client);
    if (rc == TCPCHAT_OK) {
        rc = drive_connect(client);
        tcpchat_client_close(client);
    }
    CHECK_RC(rc, TCPCHAT_ECONNREFUSED);
    close(closed_fd);

    CHECK_RC(tcpchat_client_connect_start("127.0.0.1", 0, NULL, &client), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_flush(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_events(NULL), TCPCHAT_EINVAL);
    CHECK(tcpchat_client_timeout(NULL) == -1);
    CHECK_RC(tcpchat_client_try_send(NULL, "x"), TCPCHAT_EINVAL);

    tcpchat_server_destroy(server);
}

int main(void) {
    never_reading_peer();
    full_backlog();
    connect_start_to_the_server();
    puts("test_nonblocking: ok");
    return 0;
}
