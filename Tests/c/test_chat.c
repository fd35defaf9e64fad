/*
** The C API end to end on loopback: a server on port 0 served by tcpchat_server_start(), three
** clients, room chat, the on_message and log callbacks, broadcasts, private messages,
** TCPCHAT_ENOSPC keeping the line, receiving from the host's own poll loop, half-close, /quit,
** and a stop that says goodbye to everyone still connected.
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <pthread.h>

#include "test_support.h"

/* What the callbacks saw; they run on the server's loop thread, the test reads on its own. */
struct observed {
    pthread_mutex_t lock;
    char last_message[256];
    int messages;
    int log_lines;
    int saw_listening;
};

static void on_message(const char *room, const char *nick, const char *text, void *user_data) {
    struct observed *seen = user_data;
    pthread_mutex_lock(&seen->lock);
    snprintf(seen->last_message, sizeof seen->last_message, "%s %s %s", room, nick, text);
    seen->messages++;
    pthread_mutex_unlock(&seen->lock);
}

static void on_log(int level, const char *message, void *user_data) {
    struct observed *seen = user_data;
    pthread_mutex_lock(&seen->lock);
    CHECK(level >= TCPCHAT_LOG_ERROR && level <= TCPCHAT_LOG_INFO);  /* log_level is INFO */
    seen->log_lines++;
    if (starts_with(message, "listening on")) seen->saw_listening = 1;
    pthread_mutex_unlock(&seen->lock);
}

int main(void) {
    struct observed seen;
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *ada, *bob, *cy;
    char line[4096];
    char tiny[4];
    int port, rc;

    memset(&seen, 0, sizeof seen);
    pthread_mutex_init(&seen.lock, NULL);
    config.on_message = on_message;
    config.log = on_log;
    config.user_data = &seen;
    config.history = 5;

    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_port(server), TCPCHAT_ESTATE);   /* not bound yet */
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    port = tcpchat_server_port(server);
    CHECK(port > 0 && port <= 65535);

    ada = join_as(port, "ada");
    bob = join_as(port, "bob");
    cy = join_as(port, "cy");

    /* Room chat reaches the others, not the sender, and the on_message callback. */
    CHECK_RC(tcpchat_client_send(ada, "hello, everyone"), TCPCHAT_OK);
    WAIT_FOR(bob, "<ada> hello, everyone", line);
    WAIT_FOR(cy, "<ada> hello, everyone", line);
    pthread_mutex_lock(&seen.lock);
    CHECK(seen.messages == 1);
    CHECK(strcmp(seen.last_message, "#lobby ada hello, everyone") == 0);
    CHECK(seen.saw_listening && seen.log_lines >= 4);   /* listening + three connects */
    pthread_mutex_unlock(&seen.lock);

    /* Broadcast to one room, and to every room. */
    CHECK_RC(tcpchat_server_broadcast(server, "#LOBBY", "maintenance at noon"), TCPCHAT_OK);
    WAIT_FOR(ada, "* maintenance at noon", line);
    WAIT_FOR(bob, "* maintenance at noon", line);
    WAIT_FOR(cy, "* maintenance at noon", line);
    CHECK_RC(tcpchat_client_send(cy, "/join #side"), TCPCHAT_OK);
    WAIT_FOR(cy, "* you joined #side", line);
    CHECK_RC(tcpchat_server_broadcast(server, NULL, "to every room"), TCPCHAT_OK);
    WAIT_FOR(ada, "* to every room", line);
    WAIT_FOR(cy, "* to every room", line);
    CHECK_RC(tcpchat_server_broadcast(server, "#nowhere", "skipped"), TCPCHAT_ENOTFOUND);   /* 1.1: not OK */

    /* A private message goes to its receiver and back to its sender, and to nobody else:
    ** cy's next line after the /msg is the answer to its own /who. */
    CHECK_RC(tcpchat_client_send(ada, "/msg bob psst"), TCPCHAT_OK);
    WAIT_FOR(bob, "<ada -> bob> psst", line);
    WAIT_FOR(ada, "<ada -> bob> psst", line);
    CHECK_RC(tcpchat_client_send(cy, "/who"), TCPCHAT_OK);
    EXPECT_NEXT(cy, "* people in #side (1): cy", line);
    CHECK_RC(tcpchat_client_send(cy, "/join #lobby"), TCPCHAT_OK);
    WAIT_FOR(cy, "* you joined #lobby", line);
    WAIT_FOR(ada, "* cy joined #lobby", line);
    WAIT_FOR(bob, "* cy joined #lobby", line);

    /* A buffer too small: TCPCHAT_ENOSPC, the line stays queued and comes with a larger one. */
    CHECK_RC(tcpchat_client_send(ada, "a line longer than four bytes"), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_recv(bob, tiny, sizeof tiny, STUCK_AFTER_MS), TCPCHAT_ENOSPC);
    CHECK(tcpchat_client_needed_size(bob) == strlen("<ada> a line longer than four bytes") + 1);
    CHECK_RC(tcpchat_client_recv(bob, tiny, sizeof tiny, 0), TCPCHAT_ENOSPC);   /* still held */
    rc = tcpchat_client_recv(bob, line, tcpchat_client_needed_size(bob), 0);
    CHECK(rc == (int)strlen("<ada> a line longer than four bytes"));
    CHECK(strcmp(line, "<ada> a line longer than four bytes") == 0);
    CHECK(tcpchat_client_needed_size(bob) == 0);

    /* Receiving from the host's own poll loop: poll the fd, then drain with timeout 0. */
    {
        struct pollfd entry;
        int got = 0;
        entry.fd = tcpchat_client_fd(cy);
        entry.events = POLLIN;
        CHECK(entry.fd >= 0);
        while (!got) {
            CHECK(poll(&entry, 1, STUCK_AFTER_MS) == 1);
            while ((rc = tcpchat_client_recv(cy, line, sizeof line, 0)) >= 0) {
                if (strcmp(line, "<ada> a line longer than four bytes") == 0) got = 1;
            }
            CHECK_RC(rc, TCPCHAT_ETIMEDOUT);
        }
    }

    /* Half-close: no more sending, the server says cy left, and closes cy's side. */
    CHECK_RC(tcpchat_client_shutdown(cy), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_shutdown(cy), TCPCHAT_OK);   /* idempotent */
    CHECK_RC(tcpchat_client_send(cy, "too late"), TCPCHAT_ECLOSED);
    WAIT_FOR(ada, "* cy left (connection closed)", line);
    WAIT_FOR_CLOSE(cy);
    CHECK_RC(tcpchat_client_recv(cy, line, sizeof line, 0), TCPCHAT_ECLOSED);   /* and stays */
    tcpchat_client_close(cy);

    /* /quit: a goodbye, then the server closes. */
    CHECK_RC(tcpchat_client_send(bob, "/quit see you"), TCPCHAT_OK);
    WAIT_FOR(bob, "* goodbye, bob", line);
    WAIT_FOR_CLOSE(bob);
    WAIT_FOR(ada, "* bob left (quit: see you)", line);
    tcpchat_client_close(bob);

    /* Stop with a client connected: it gets the goodbye, then the close. */
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    WAIT_FOR(ada, "* server shutting down, goodbye", line);
    WAIT_FOR_CLOSE(ada);
    CHECK_RC(tcpchat_server_wait(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);   /* idempotent */
    CHECK_RC(tcpchat_server_broadcast(server, NULL, "after the end"), TCPCHAT_ESTATE);   /* 1.1: not serving */
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_ESTATE);   /* a server serves once */
    tcpchat_client_close(ada);
    tcpchat_server_destroy(server);
    pthread_mutex_destroy(&seen.lock);
    puts("test_chat: ok");
    return 0;
}
