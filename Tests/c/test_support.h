/*
** Helpers shared by the C tests: checks that report file and line and exit non-zero, and
** line waits over the client API. Every wait is bounded (a generous timeout per line) only
** so that a broken build fails instead of hanging; nothing here asserts on timing.
*/
#ifndef TCPCHAT_TEST_SUPPORT_H
#define TCPCHAT_TEST_SUPPORT_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpchat.h"

/* How long one line may take to arrive before the test is declared stuck. */
#define STUCK_AFTER_MS 10000

#define CHECK(condition)                                                                   \
    do {                                                                                   \
        if (!(condition)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);  \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* Evaluates `call` once and checks it returned `expected` (a TCPCHAT_ code). */
#define CHECK_RC(call, expected)                                                           \
    do {                                                                                   \
        int check_rc_ = (call);                                                            \
        if (check_rc_ != (expected)) {                                                     \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", __FILE__,    \
                    __LINE__, #call, check_rc_, tcpchat_strerror(check_rc_), (expected),   \
                    tcpchat_strerror(expected));                                           \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static inline int starts_with(const char *text, const char *prefix) {
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Receives lines until one starts with `prefix`; fails the test if the stream ends first. */
static inline void wait_for_line(tcpchat_client *client, const char *prefix, char *line, size_t size,
                                 const char *file, int at) {
    for (;;) {
        int rc = tcpchat_client_recv(client, line, size, STUCK_AFTER_MS);
        if (rc < 0) {
            fprintf(stderr, "%s:%d: waiting for \"%s\": %s\n", file, at, prefix, tcpchat_strerror(rc));
            exit(1);
        }
        if (starts_with(line, prefix)) return;
    }
}
#define WAIT_FOR(client, prefix, line) wait_for_line((client), (prefix), (line), sizeof(line), __FILE__, __LINE__)

/* The next line must start with `prefix` (nothing else may come before it). */
static inline void expect_next_line(tcpchat_client *client, const char *prefix, char *line, size_t size,
                                    const char *file, int at) {
    int rc = tcpchat_client_recv(client, line, size, STUCK_AFTER_MS);
    if (rc < 0 || !starts_with(line, prefix)) {
        fprintf(stderr, "%s:%d: expected a line starting \"%s\", got %s\n", file, at, prefix,
                rc < 0 ? tcpchat_strerror(rc) : line);
        exit(1);
    }
}
#define EXPECT_NEXT(client, prefix, line) expect_next_line((client), (prefix), (line), sizeof(line), __FILE__, __LINE__)

/* Reads until the server closes; fails on anything else but lines. */
static inline void wait_for_close(tcpchat_client *client, const char *file, int at) {
    char line[4096];
    int rc;
    while ((rc = tcpchat_client_recv(client, line, sizeof line, STUCK_AFTER_MS)) >= 0) {}
    if (rc != TCPCHAT_ECLOSED) {
        fprintf(stderr, "%s:%d: waiting for the close: %s\n", file, at, tcpchat_strerror(rc));
        exit(1);
    }
}
#define WAIT_FOR_CLOSE(client) wait_for_close((client), __FILE__, __LINE__)

/* Connects to the server on 127.0.0.1:port, waits for the join notice, and takes `nick`. */
static inline tcpchat_client *join_as(int port, const char *nick) {
    tcpchat_client *client = NULL;
    char line[4096];
    char command[64];
    CHECK_RC(tcpchat_client_connect("127.0.0.1", port, &client), TCPCHAT_OK);
    CHECK(client != NULL);
    WAIT_FOR(client, "* you joined #lobby", line);
    snprintf(command, sizeof command, "/nick %s", nick);
    CHECK_RC(tcpchat_client_send(client, command), TCPCHAT_OK);
    WAIT_FOR(client, "* you are now known as", line);
    return client;
}

/* A server config for tests: loopback, any free port, short shutdown grace. */
static inline tcpchat_server_config test_config(void) {
    tcpchat_server_config config;
    tcpchat_server_config_init(&config);
    config.host = "127.0.0.1";
    config.port = 0;
    return config;
}

/* A plain TCP socket bound to 127.0.0.1 on a free port (written to *port_out), not yet
** listening: the raw peer some tests need beside the library's own sockets. */
static inline int loopback_bound_socket(int *port_out) {
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&address, sizeof address) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&address, &length) == 0);
    *port_out = ntohs(address.sin_port);
    return fd;
}

#endif
