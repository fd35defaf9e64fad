/*
** A host that leaves SIGPIPE at its default action (terminate) survives peers that reset:
** the library sends with MSG_NOSIGNAL and never touches the signal disposition.
**   1. our client against a raw server that resets the connection (SO_LINGER 0 + close);
**   2. our server writing to a raw client that reset while lines were queued for it.
** If a SIGPIPE were raised, this process would die and the test would fail.
*/
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_support.h"

/* Closes `fd` so that the kernel sends RST instead of FIN. */
static void reset_and_close(int fd) {
    struct linger linger;
    linger.l_onoff = 1;
    linger.l_linger = 0;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, sizeof linger) == 0);
    CHECK(close(fd) == 0);
}

static int raw_listener(int *port_out) {
    int fd = loopback_bound_socket(port_out);
    CHECK(listen(fd, 4) == 0);
    return fd;
}

static int raw_connect(int port) {
    struct sockaddr_in address;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    memset(&address, 0, sizeof address);
    address.sin_family = AF_INET;
    address.sin_port = htons((unsigned short)port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr *)&address, sizeof address) == 0);
    return fd;
}

static void client_survives_a_reset_server(void) {
    tcpchat_client *client = NULL;
    char line[256];
    int port, rc = TCPCHAT_OK, tries;
    int listener = raw_listener(&port);
    int peer;

    CHECK_RC(tcpchat_client_connect("127.0.0.1", port, &client), TCPCHAT_OK);
    peer = accept(listener, NULL, NULL);
    CHECK(peer >= 0);
    reset_and_close(peer);
    for (tries = 0; tries < 1000 && rc == TCPCHAT_OK; tries++) rc = tcpchat_client_send(client, "are you there?");
    CHECK(rc == TCPCHAT_ERESET || rc == TCPCHAT_ECLOSED);
    rc = tcpchat_client_recv(client, line, sizeof line, STUCK_AFTER_MS);
    CHECK(rc == TCPCHAT_ERESET || rc == TCPCHAT_ECLOSED);
    tcpchat_client_close(client);
    close(listener);
}

static void server_survives_a_reset_client(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *watcher;
    char line[4096];
    int i, port, raw;

    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    port = tcpchat_server_port(server);
    watcher = join_as(port, "watcher");

    /* A raw client joins, never reads, and resets while the server is writing to it. */
    raw = raw_connect(port);
    WAIT_FOR(watcher, "* guest", line);   /* "* guestN joined #lobby" */
    for (i = 0; i < 200; i++) CHECK_RC(tcpchat_server_broadcast(server, "#lobby", "a line for everyone"), TCPCHAT_OK);
    reset_and_close(raw);
    for (i = 0; i < 200; i++) CHECK_RC(tcpchat_server_broadcast(server, "#lobby", "and another"), TCPCHAT_OK);
    WAIT_FOR(watcher, "* guest", line);   /* "* guestN left (connection reset by peer)" */
    CHECK(strstr(line, " left (") != NULL);

    /* The server carries on. */
    CHECK_RC(tcpchat_client_send(watcher, "/who"), TCPCHAT_OK);
    WAIT_FOR(watcher, "* people in #lobby (1): watcher", line);
    tcpchat_client_close(watcher);
    tcpchat_server_destroy(server);
}

int main(void) {
    struct sigaction current;
    CHECK(sigaction(SIGPIPE, NULL, &current) == 0);
    CHECK(current.sa_handler == SIG_DFL);   /* the test means nothing if SIGPIPE is ignored */
    client_survives_a_reset_server();
    server_survives_a_reset_client();
    CHECK(sigaction(SIGPIPE, NULL, &current) == 0);
    CHECK(current.sa_handler == SIG_DFL);   /* and the library did not change it */
    puts("test_sigpipe: ok");
    return 0;
}
