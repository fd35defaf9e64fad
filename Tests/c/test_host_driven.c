/*
** Host-driven serving: one thread runs its own poll() loop over the server's descriptor
** (tcpchat_server_fd) and two clients' descriptors, calling tcpchat_server_poll() -- no thread
** of the library's. Callbacks run on that thread, inside tcpchat_server_poll(). Another
** thread broadcasts and then stops the server, which the loop sees through the descriptor;
** polling then returns TCPCHAT_ECLOSED after every client got its goodbye.
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>

#include "test_support.h"

/* Rounds of the host loop allowed while waiting for one line: a guard against hangs only. */
#define MAX_ROUNDS 2000

static pthread_t host_thread;
static int messages_seen;   /* written by on_message, on the host thread only */

static void on_message(const char *room, const char *nick, const char *text, void *user_data) {
    (void)room;
    (void)nick;
    (void)text;
    (void)user_data;
    CHECK(pthread_equal(pthread_self(), host_thread));   /* callbacks run inside _poll */
    messages_seen++;
}

/* One round of the host's loop: wait (bounded) for the server or the client (NULL: the server
** alone), then serve. */
static int host_round(tcpchat_server *server, tcpchat_client *client) {
    struct pollfd entries[2];
    int timeout = tcpchat_server_timeout(server);
    entries[0].fd = tcpchat_server_fd(server);
    entries[0].events = POLLIN;
    entries[1].fd = client ? tcpchat_client_fd(client) : -1;   /* poll() skips a negative fd */
    entries[1].events = POLLIN;
    if (timeout < 0 || timeout > 100) timeout = 100;
    CHECK(poll(entries, 2, timeout) >= 0);
    return tcpchat_server_poll(server, 0);
}

/* Serves until `client` receives a line starting with `prefix`. */
static void serve_until(tcpchat_server *server, tcpchat_client *client, const char *prefix) {
    char line[4096];
    int round, rc;
    for (round = 0; round < MAX_ROUNDS; round++) {
        CHECK_RC(host_round(server, client), TCPCHAT_OK);
        while ((rc = tcpchat_client_recv(client, line, sizeof line, 0)) >= 0) {
            if (starts_with(line, prefix)) return;
        }
        CHECK_RC(rc, TCPCHAT_ETIMEDOUT);
    }
    fprintf(stderr, "no line starting \"%s\" after %d rounds\n", prefix, MAX_ROUNDS);
    exit(1);
}

static void *broadcast_then_stop(void *argument) {
    tcpchat_server *server = argument;
    CHECK_RC(tcpchat_server_broadcast(server, NULL, "from another thread"), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    return NULL;
}

int main(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *ada = NULL, *bob = NULL;
    pthread_t other;
    char line[4096];
    int port, rc, round;

    host_thread = pthread_self();
    config.on_message = on_message;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK(tcpchat_server_fd(server) >= 0);
    CHECK(tcpchat_server_timeout(NULL) == -1);
    CHECK_RC(tcpchat_server_poll(NULL, 0), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_poll(server, 0), TCPCHAT_OK);   /* binds and claims the server */
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_run(server), TCPCHAT_ESTATE);
    port = tcpchat_server_port(server);
    CHECK(port > 0);

    /* connect() completes in the kernel's backlog; the server accepts in a later round. */
    CHECK_RC(tcpchat_client_connect("127.0.0.1", port, &ada), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", port, &bob), TCPCHAT_OK);
    serve_until(server, ada, "* you joined #lobby");
    serve_until(server, bob, "* you joined #lobby");
    CHECK_RC(tcpchat_client_send(ada, "/nick ada"), TCPCHAT_OK);
    serve_until(server, ada, "* you are now known as ada");

    CHECK_RC(tcpchat_client_send(ada, "hello from the host loop"), TCPCHAT_OK);
    serve_until(server, bob, "<ada> hello from the host loop");
    CHECK(messages_seen == 1);

    /* Host control from the polling thread between two polls (1.1): it acts at once, and what it
    ** sends is written before it returns -- ada gets it without another poll. */
    {
        char **rooms = NULL;
        CHECK_RC(tcpchat_server_send_nick(server, "ada", "between polls"), TCPCHAT_OK);
        WAIT_FOR(ada, "* between polls", line);
        CHECK(tcpchat_server_rooms(server, &rooms) == 1 && strcmp(rooms[0], "#lobby") == 0);
        tcpchat_list_free(rooms);
    }

    /* Another thread broadcasts and stops; the loop wakes through the server's descriptor. */
    CHECK(pthread_create(&other, NULL, broadcast_then_stop, server) == 0);
    /* Wait on the server's descriptor alone: ada's unread lines would make poll() return at
    ** once and use up the rounds before the other thread gets to stop. */
    for (round = 0, rc = TCPCHAT_OK; rc == TCPCHAT_OK && round < MAX_ROUNDS; round++) rc = host_round(server, NULL);
    CHECK_RC(rc, TCPCHAT_ECLOSED);
    pthread_join(other, NULL);
    CHECK_RC(tcpchat_server_poll(server, 0), TCPCHAT_ECLOSED);   /* and stays so */
    /* What the server sent before it closed waits in the clients' sockets. */
    WAIT_FOR(bob, "* from another thread", line);
    WAIT_FOR(ada, "* server shutting down, goodbye", line);
    WAIT_FOR(bob, "* server shutting down, goodbye", line);
    WAIT_FOR_CLOSE(ada);
    WAIT_FOR_CLOSE(bob);

    tcpchat_client_close(ada);
    tcpchat_client_close(bob);
    tcpchat_server_destroy(server);
    puts("test_host_driven: ok");
    return 0;
}
