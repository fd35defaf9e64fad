/*
** The calls the header allows from any thread, made from several threads at once; built and
** run under ThreadSanitizer by scripts/test.d/20-capi.sh as well as plainly and under valgrind.
**   - tcpchat_server_run() serves on a thread of the test (the loop thread);
**   - two threads broadcast while three clients chat, and one client sends from two threads
**     while a third thread receives for it;
**   - on_message answers "!ping" with a broadcast made from the loop thread (a callback);
**   - a first stop comes from yet another thread while every client is still connected;
**     every client gets the goodbye and the close, and run returns TCPCHAT_OK.
*/
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "test_support.h"

#define BROADCASTS 50
#define SENDS 50

struct shared {
    tcpchat_server *server;   /* written before any thread starts */
    int run_result;           /* written by the run thread, read after joining it */
    pthread_mutex_t lock;     /* guards `answers` */
    int answers;
};

static void *serve(void *argument) {
    struct shared *shared = argument;
    shared->run_result = tcpchat_server_run(shared->server);
    return NULL;
}

static void *broadcaster(void *argument) {
    struct shared *shared = argument;
    int i;
    for (i = 0; i < BROADCASTS; i++) CHECK_RC(tcpchat_server_broadcast(shared->server, "#lobby", "tick"), TCPCHAT_OK);
    return NULL;
}

static void *sender(void *argument) {
    tcpchat_client *client = argument;
    int i;
    for (i = 0; i < SENDS; i++) CHECK_RC(tcpchat_client_send(client, "chatter"), TCPCHAT_OK);
    return NULL;
}

static void *stopper(void *argument) {
    struct shared *shared = argument;
    CHECK_RC(tcpchat_server_stop(shared->server), TCPCHAT_OK);
    return NULL;
}

/* Runs on the loop thread: answers "!ping" with a broadcast. */
static void on_message(const char *room, const char *nick, const char *text, void *user_data) {
    struct shared *shared = user_data;
    (void)nick;
    if (strcmp(text, "!ping") == 0) {
        CHECK_RC(tcpchat_server_broadcast(shared->server, room, "pong"), TCPCHAT_OK);
        pthread_mutex_lock(&shared->lock);
        shared->answers++;
        pthread_mutex_unlock(&shared->lock);
    }
}

/* Counts lines equal to `text` until `wanted` of them arrived. */
static void count_lines(tcpchat_client *client, const char *text, int wanted) {
    char line[4096];
    int seen = 0;
    while (seen < wanted) {
        int rc = tcpchat_client_recv(client, line, sizeof line, STUCK_AFTER_MS);
        CHECK(rc >= 0);
        if (strcmp(line, text) == 0) seen++;
    }
}

static void *receiver(void *argument) {
    count_lines(argument, "<ada> chatter", 2 * SENDS);
    return NULL;
}

int main(void) {
    struct shared shared;
    tcpchat_server_config config = test_config();
    pthread_t run_thread, broadcasters[2], senders[2], reader, stop_thread;
    tcpchat_client *ada, *bob, *cy;
    char line[4096];
    int port, i;

    memset(&shared, 0, sizeof shared);
    pthread_mutex_init(&shared.lock, NULL);
    config.on_message = on_message;
    config.user_data = &shared;
    config.lines_per_second = 0;   /* no flood control: ada sends 100 lines at once */
    CHECK_RC(tcpchat_server_create(&config, &shared.server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_bind(shared.server), TCPCHAT_OK);   /* so the port is known now */
    port = tcpchat_server_port(shared.server);
    CHECK(pthread_create(&run_thread, NULL, serve, &shared) == 0);

    ada = join_as(port, "ada");
    bob = join_as(port, "bob");
    cy = join_as(port, "cy");

    /* Broadcasts from two threads, sends from two threads, and a receiving thread at once. */
    CHECK(pthread_create(&reader, NULL, receiver, bob) == 0);
    for (i = 0; i < 2; i++) CHECK(pthread_create(&broadcasters[i], NULL, broadcaster, &shared) == 0);
    for (i = 0; i < 2; i++) CHECK(pthread_create(&senders[i], NULL, sender, ada) == 0);
    count_lines(cy, "* tick", 2 * BROADCASTS);
    for (i = 0; i < 2; i++) pthread_join(broadcasters[i], NULL);
    for (i = 0; i < 2; i++) pthread_join(senders[i], NULL);
    pthread_join(reader, NULL);
    count_lines(ada, "* tick", 2 * BROADCASTS);

    /* A callback that broadcasts from the loop thread. */
    CHECK_RC(tcpchat_client_send(cy, "!ping"), TCPCHAT_OK);
    WAIT_FOR(ada, "* pong", line);
    WAIT_FOR(cy, "* pong", line);
    pthread_mutex_lock(&shared.lock);
    CHECK(shared.answers == 1);
    pthread_mutex_unlock(&shared.lock);

    /* Stop from another thread while all three are connected. */
    CHECK(pthread_create(&stop_thread, NULL, stopper, &shared) == 0);
    WAIT_FOR(ada, "* server shutting down, goodbye", line);
    WAIT_FOR(bob, "* server shutting down, goodbye", line);
    WAIT_FOR(cy, "* server shutting down, goodbye", line);
    WAIT_FOR_CLOSE(ada);
    WAIT_FOR_CLOSE(bob);
    WAIT_FOR_CLOSE(cy);
    pthread_join(stop_thread, NULL);
    pthread_join(run_thread, NULL);
    CHECK_RC(shared.run_result, TCPCHAT_OK);

    tcpchat_client_close(ada);
    tcpchat_client_close(bob);
    tcpchat_client_close(cy);
    tcpchat_server_destroy(shared.server);
    pthread_mutex_destroy(&shared.lock);
    puts("test_threads: ok");
    return 0;
}
