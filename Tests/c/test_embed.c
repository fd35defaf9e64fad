/*
** The embedding API (1.1): events with their order, the filter (accept, reject, replace, drop;
** a custom command), the connect filter, host control from another thread and from callbacks
** (send, lookup, kick, rooms and members while clients come and go, bot speech, a broadcast to
** a missing room), and re-entrancy refused from a callback. The server serves on its own
** thread (_start); this thread is the "other thread" of the host control calls.
*/
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>

#include "test_support.h"

/* ---- the event log, written on the loop thread, read here ---- */

#define MAX_EVENTS 512

typedef struct {
    int kind;
    unsigned long long id;
    char nick[64], room[64], text[256], target[64], reason[128], address[64];
} record;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static record events[MAX_EVENTS];
static int event_count;
static tcpchat_server *the_server;
static int refuse_connections;          /* set here, read on the loop thread under log_lock */
static int reentry_codes[4];            /* poll, wait, run, start from a callback */
static int reentry_done;
static int greeting_rc = 1;             /* tcpchat_server_send() from a callback */

static void copy(char *to, size_t size, const char *from) {
    if (!from) { to[0] = 0; return; }
    strncpy(to, from, size - 1);
    to[size - 1] = 0;
}

static void on_event(const tcpchat_event *event, void *user_data) {
    record *r;
    CHECK(user_data == &events);
    CHECK(event->struct_size >= sizeof(tcpchat_event));
    CHECK(event->id >= 1);
    CHECK(event->address != NULL && event->nick != NULL);
    pthread_mutex_lock(&log_lock);
    CHECK(event_count < MAX_EVENTS);
    r = &events[event_count++];
    r->kind = event->kind;
    r->id = event->id;
    copy(r->nick, sizeof r->nick, event->nick);
    copy(r->room, sizeof r->room, event->room);
    copy(r->text, sizeof r->text, event->text);
    copy(r->target, sizeof r->target, event->target);
    copy(r->reason, sizeof r->reason, event->reason);
    copy(r->address, sizeof r->address, event->address);
    pthread_mutex_unlock(&log_lock);

    /* A greeting from the callback itself: runs at once, on the loop thread. */
    if (event->kind == TCPCHAT_EVENT_JOINED && strcmp(event->room, "#greet") == 0)
        greeting_rc = tcpchat_server_send(the_server, event->id, "welcome to #greet");
    /* Re-entrancy: serving, waiting or destroying from a callback is refused. */
    if (event->kind == TCPCHAT_EVENT_SAID && strcmp(event->text, "reenter") == 0) {
        reentry_codes[0] = tcpchat_server_poll(the_server, 0);
        reentry_codes[1] = tcpchat_server_wait(the_server);
        reentry_codes[2] = tcpchat_server_run(the_server);
        reentry_codes[3] = tcpchat_server_start(the_server);
        tcpchat_server_destroy(the_server);   /* ignored (logged) */
        pthread_mutex_lock(&log_lock);
        reentry_done = 1;
        pthread_mutex_unlock(&log_lock);
    }
}

static int filter(const tcpchat_event *event, char *text, size_t size, void *user_data) {
    CHECK(user_data == &events);
    CHECK(size >= 1024 && text[0] == 0);
    switch (event->kind) {
    case TCPCHAT_EVENT_SAID:
        if (strstr(event->text, "forbidden")) {
            snprintf(text, size, "no forbidden words, %s", event->nick);
            return TCPCHAT_FILTER_REJECT;
        }
        if (strncmp(event->text, "darn", 4) == 0) {
            snprintf(text, size, "d**n%s", event->text + 4);
            return TCPCHAT_FILTER_REPLACE;
        }
        if (strcmp(event->text, "swallow me") == 0) return TCPCHAT_FILTER_DROP;
        return TCPCHAT_FILTER_ACCEPT;
    case TCPCHAT_EVENT_RENAMED:
        if (strcmp(event->text, "root") == 0) {
            snprintf(text, size, "nick root is for staff");
            return TCPCHAT_FILTER_REJECT;
        }
        return TCPCHAT_FILTER_ACCEPT;
    case TCPCHAT_EVENT_COMMAND:
        if (strncmp(event->text, "/roll", 5) == 0) {
            char said[128];
            snprintf(said, sizeof said, "%s rolled 4", event->nick);
            CHECK_RC(tcpchat_server_say(the_server, "#lobby", "dice", said), TCPCHAT_OK);
            return TCPCHAT_FILTER_DROP;
        }
        if (strcmp(event->text, "/ping") == 0) {
            snprintf(text, size, "pong");
            return TCPCHAT_FILTER_REPLACE;
        }
        return TCPCHAT_FILTER_ACCEPT;
    default:
        return TCPCHAT_FILTER_ACCEPT;
    }
}

static int filter_connection(const char *address, char *reason, size_t size, void *user_data) {
    int refuse;
    CHECK(user_data == &events);
    CHECK(starts_with(address, "127.0.0.1:"));
    CHECK(size >= 256 && reason[0] == 0);
    pthread_mutex_lock(&log_lock);
    refuse = refuse_connections;
    pthread_mutex_unlock(&log_lock);
    if (refuse) snprintf(reason, size, "not today, %s", address);
    return refuse;
}

static void pause_briefly(void) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
}

/* The index of the first event of `kind` for `id` at or after `from`, waiting (bounded) for it. */
static int find_event(int kind, unsigned long long id, int from, const char *file, int at) {
    int tries, i;
    for (tries = 0; tries < STUCK_AFTER_MS / 10; tries++) {
        pthread_mutex_lock(&log_lock);
        for (i = from; i < event_count; i++) {
            if (events[i].kind == kind && events[i].id == id) {
                pthread_mutex_unlock(&log_lock);
                return i;
            }
        }
        pthread_mutex_unlock(&log_lock);
        pause_briefly();
    }
    fprintf(stderr, "%s:%d: no event %d for id %llu\n", file, at, kind, id);
    exit(1);
}
#define FIND(kind, id, from) find_event((kind), (id), (from), __FILE__, __LINE__)

static int list_has(char **list, const char *item) {
    int i;
    for (i = 0; list[i]; i++)
        if (strcmp(list[i], item) == 0) return 1;
    return 0;
}

int main(void) {
    tcpchat_server_config config = test_config();
    tcpchat_client *ada, *bob, *refused;
    char line[4096];
    char **list = NULL;
    unsigned long long ada_id = 0, bob_id = 0;
    int port, i, n, at;

    config.on_event = on_event;
    config.filter = filter;
    config.filter_connection = filter_connection;
    config.user_data = &events;
    CHECK_RC(tcpchat_server_create(&config, &the_server), TCPCHAT_OK);

    /* Before serving, host control has nothing to act on. */
    CHECK_RC(tcpchat_server_send(the_server, 1, "hello?"), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_rooms(the_server, &list), TCPCHAT_ESTATE);
    CHECK(list == NULL);

    CHECK_RC(tcpchat_server_start(the_server), TCPCHAT_OK);
    port = tcpchat_server_port(the_server);

    /* ---- events, in order, for ada ---- */
    ada = join_as(port, "ada");
    CHECK_RC(tcpchat_server_lookup(the_server, "ADA", &ada_id), TCPCHAT_OK);
    CHECK(ada_id == 1);
    at = FIND(TCPCHAT_EVENT_CONNECTED, ada_id, 0);
    CHECK(at == 0);                          /* nothing of id 1 before it */
    CHECK(starts_with(events[at].address, "127.0.0.1:"));
    at = FIND(TCPCHAT_EVENT_REGISTERED, ada_id, at + 1);
    CHECK(starts_with(events[at].nick, "guest"));
    at = FIND(TCPCHAT_EVENT_JOINED, ada_id, at + 1);
    CHECK(strcmp(events[at].room, "#lobby") == 0);
    at = FIND(TCPCHAT_EVENT_RENAMED, ada_id, at + 1);
    CHECK(strcmp(events[at].nick, "ada") == 0 && starts_with(events[at].target, "guest"));

    bob = join_as(port, "bob");
    CHECK_RC(tcpchat_server_lookup(the_server, "bob", &bob_id), TCPCHAT_OK);
    CHECK(bob_id == 2);
    WAIT_FOR(ada, "* guest2 is now known as bob", line);

    /* ---- the filter ---- */
    CHECK_RC(tcpchat_client_send(ada, "hello bob"), TCPCHAT_OK);        /* accepted */
    EXPECT_NEXT(bob, "<ada> hello bob", line);
    CHECK_RC(tcpchat_client_send(ada, "darn it"), TCPCHAT_OK);          /* rewritten */
    EXPECT_NEXT(bob, "<ada> d**n it", line);
    CHECK_RC(tcpchat_client_send(ada, "a forbidden word"), TCPCHAT_OK); /* rejected */
    EXPECT_NEXT(ada, "! no forbidden words, ada", line);
    CHECK_RC(tcpchat_client_send(ada, "swallow me"), TCPCHAT_OK);       /* dropped, silently */
    CHECK_RC(tcpchat_client_send(ada, "/nick root"), TCPCHAT_OK);       /* a nick refused */
    EXPECT_NEXT(ada, "! nick root is for staff", line);
    CHECK_RC(tcpchat_client_send(ada, "/roll 2d6"), TCPCHAT_OK);        /* a custom command */
    EXPECT_NEXT(ada, "<@dice> ada rolled 4", line);                     /* not "unknown command" */
    EXPECT_NEXT(bob, "<@dice> ada rolled 4", line);                     /* nothing swallowed came before */
    CHECK_RC(tcpchat_client_send(ada, "/ping"), TCPCHAT_OK);            /* a command answered */
    EXPECT_NEXT(ada, "* pong", line);
    CHECK_RC(tcpchat_client_send(ada, "/frob"), TCPCHAT_OK);            /* nobody takes it */
    EXPECT_NEXT(ada, "! unknown command /frob, try /help", line);
    CHECK_RC(tcpchat_client_send(bob, "/nick dice"), TCPCHAT_OK);       /* the bot's nick is reserved */
    EXPECT_NEXT(bob, "! nick dice is taken", line);
    CHECK_RC(tcpchat_client_send(ada, "/me waves"), TCPCHAT_OK);
    EXPECT_NEXT(bob, "* ada waves", line);
    CHECK_RC(tcpchat_client_send(ada, "/msg bob psst"), TCPCHAT_OK);
    EXPECT_NEXT(bob, "<ada -> bob> psst", line);
    EXPECT_NEXT(ada, "<ada -> bob> psst", line);                          /* the sender's copy */

    /* The events of what went through, with the texts as relayed. */
    at = FIND(TCPCHAT_EVENT_SAID, ada_id, 0);
    CHECK(strcmp(events[at].text, "hello bob") == 0 && strcmp(events[at].room, "#lobby") == 0);
    at = FIND(TCPCHAT_EVENT_SAID, ada_id, at + 1);
    CHECK(strcmp(events[at].text, "d**n it") == 0);
    at = FIND(TCPCHAT_EVENT_ACTED, ada_id, at + 1);                    /* nothing said between */
    CHECK(strcmp(events[at].text, "waves") == 0);
    at = FIND(TCPCHAT_EVENT_PRIVATE, ada_id, at + 1);
    CHECK(strcmp(events[at].text, "psst") == 0 && strcmp(events[at].target, "bob") == 0);

    /* ---- host control from this (another) thread ---- */
    CHECK_RC(tcpchat_server_send(the_server, bob_id, "a word from the host"), TCPCHAT_OK);
    EXPECT_NEXT(bob, "* a word from the host", line);
    CHECK_RC(tcpchat_server_send_nick(the_server, "Ada", "and for ada"), TCPCHAT_OK);
    EXPECT_NEXT(ada, "* and for ada", line);
    CHECK_RC(tcpchat_server_send(the_server, 999, "nobody"), TCPCHAT_ENOTFOUND);
    CHECK_RC(tcpchat_server_send_nick(the_server, "carol", "nobody"), TCPCHAT_ENOTFOUND);
    CHECK_RC(tcpchat_server_lookup(the_server, "carol", &ada_id), TCPCHAT_ENOTFOUND);
    CHECK(ada_id == 1);                                                  /* untouched on failure */
    CHECK_RC(tcpchat_server_broadcast(the_server, "#nowhere", "hello?"), TCPCHAT_ENOTFOUND);
    CHECK_RC(tcpchat_server_broadcast(the_server, "#LOBBY", "to the lobby"), TCPCHAT_OK);
    EXPECT_NEXT(ada, "* to the lobby", line);
    EXPECT_NEXT(bob, "* to the lobby", line);
    CHECK_RC(tcpchat_server_say(the_server, "#nowhere", "dice", "x"), TCPCHAT_ENOTFOUND);
    CHECK_RC(tcpchat_server_say(the_server, "#lobby", "bad nick!", "x"), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_say(the_server, "#lobby", "ada", "x"), TCPCHAT_ESTATE);   /* a person's nick */
    /* ... in any width, or a lookalike in one script (Cyrillic a, komi de, a: UTS #39 skeleton "ada"),
    ** as docs/PROTOCOL.md "Names" says; and looked up by any width. */
    CHECK_RC(tcpchat_server_say(the_server, "#lobby", "\xef\xbc\xa1\xef\xbc\xa4\xef\xbc\xa1", "x"), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_say(the_server, "#lobby", "\xd0\xb0\xd4\x81\xd0\xb0", "x"), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_say(the_server, "#lobby", "\xd0\xb6" "da", "x"), TCPCHAT_EINVAL);  /* Cyrillic zhe with Latin: mixed scripts */
    {
        unsigned long long found = 0;
        CHECK_RC(tcpchat_server_lookup(the_server, "\xef\xbc\xa1\xef\xbd\x84\xef\xbd\x81", &found), TCPCHAT_OK);  /* fullwidth Ada */
        CHECK(found == ada_id);
    }
    CHECK_RC(tcpchat_server_say(the_server, "#lobby", "dice", "from outside"), TCPCHAT_OK);
    EXPECT_NEXT(ada, "<@dice> from outside", line);
    EXPECT_NEXT(bob, "<@dice> from outside", line);

    /* Listings while clients come and go. */
    n = tcpchat_server_rooms(the_server, &list);
    CHECK(n == 1 && list_has(list, "#lobby") && list[1] == NULL);
    tcpchat_list_free(list);
    CHECK_RC(tcpchat_client_send(bob, "/join #greet"), TCPCHAT_OK);
    WAIT_FOR(bob, "* you joined #greet", line);
    EXPECT_NEXT(bob, "* welcome to #greet", line);                       /* sent from the callback */
    CHECK_RC(greeting_rc, TCPCHAT_OK);
    n = tcpchat_server_rooms(the_server, &list);
    CHECK(n == 2 && strcmp(list[0], "#greet") == 0 && strcmp(list[1], "#lobby") == 0 && list[2] == NULL);
    tcpchat_list_free(list);
    n = tcpchat_server_members(the_server, "#lobby", &list);
    CHECK(n == 1 && strcmp(list[0], "ada") == 0 && list[1] == NULL);
    tcpchat_list_free(list);
    n = tcpchat_server_members(the_server, "#Greet", &list);
    CHECK(n == 1 && strcmp(list[0], "bob") == 0);
    tcpchat_list_free(list);
    list = NULL;
    CHECK_RC(tcpchat_server_members(the_server, "#nowhere", &list), TCPCHAT_ENOTFOUND);
    CHECK(list == NULL);
    tcpchat_list_free(NULL);

    /* Kick: bob is told, his room hears it, he is closed; events LEFT then DISCONNECTED. */
    CHECK_RC(tcpchat_client_send(bob, "/join #lobby"), TCPCHAT_OK);
    WAIT_FOR(ada, "* bob joined #lobby", line);
    CHECK_RC(tcpchat_server_kick(the_server, bob_id, "spamming"), TCPCHAT_OK);
    WAIT_FOR(bob, "! you were kicked: spamming", line);
    WAIT_FOR_CLOSE(bob);
    WAIT_FOR(ada, "* bob left (kicked: spamming)", line);
    at = FIND(TCPCHAT_EVENT_LEFT, bob_id, 0);
    CHECK(strcmp(events[at].room, "#lobby") == 0 && strcmp(events[at].reason, "moved to #greet") == 0);
    at = FIND(TCPCHAT_EVENT_LEFT, bob_id, at + 1);
    CHECK(strcmp(events[at].room, "#greet") == 0 && strcmp(events[at].reason, "moved to #lobby") == 0);
    at = FIND(TCPCHAT_EVENT_LEFT, bob_id, at + 1);
    CHECK(strcmp(events[at].room, "#lobby") == 0 && strcmp(events[at].reason, "kicked: spamming") == 0);
    i = FIND(TCPCHAT_EVENT_DISCONNECTED, bob_id, at + 1);
    pthread_mutex_lock(&log_lock);
    for (n = i + 1; n < event_count; n++) CHECK(events[n].id != bob_id);   /* DISCONNECTED is last */
    pthread_mutex_unlock(&log_lock);
    tcpchat_client_close(bob);
    CHECK_RC(tcpchat_server_kick(the_server, bob_id, "again"), TCPCHAT_ENOTFOUND);
    n = tcpchat_server_rooms(the_server, &list);                         /* #greet went with bob */
    CHECK(n == 1 && strcmp(list[0], "#lobby") == 0);
    tcpchat_list_free(list);

    /* ---- the connect filter ---- */
    pthread_mutex_lock(&log_lock);
    refuse_connections = 1;
    n = event_count;
    pthread_mutex_unlock(&log_lock);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", port, &refused), TCPCHAT_OK);
    EXPECT_NEXT(refused, "! not today, 127.0.0.1:", line);
    WAIT_FOR_CLOSE(refused);
    tcpchat_client_close(refused);
    pthread_mutex_lock(&log_lock);
    refuse_connections = 0;
    for (i = n; i < event_count; i++) CHECK(events[i].kind != TCPCHAT_EVENT_CONNECTED);  /* no event for it */
    pthread_mutex_unlock(&log_lock);

    /* ---- re-entrancy from a callback ---- */
    CHECK_RC(tcpchat_client_send(ada, "reenter"), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_send(ada, "/who"), TCPCHAT_OK);      /* the server still serves */
    WAIT_FOR(ada, "* people in #lobby (1): ada", line);
    pthread_mutex_lock(&log_lock);
    CHECK(reentry_done);
    pthread_mutex_unlock(&log_lock);
    CHECK_RC(reentry_codes[0], TCPCHAT_EMISUSE);
    CHECK_RC(reentry_codes[1], TCPCHAT_EMISUSE);
    CHECK_RC(reentry_codes[2], TCPCHAT_EMISUSE);
    CHECK_RC(reentry_codes[3], TCPCHAT_EMISUSE);

    /* ---- ada quits: her events end with LEFT then DISCONNECTED ---- */
    CHECK_RC(tcpchat_client_send(ada, "/quit bye"), TCPCHAT_OK);
    WAIT_FOR_CLOSE(ada);
    tcpchat_client_close(ada);
    at = FIND(TCPCHAT_EVENT_DISCONNECTED, ada_id, 0);
    CHECK(strcmp(events[at].reason, "quit: bye") == 0);
    pthread_mutex_lock(&log_lock);
    for (i = -1, n = -1, at = 0; at < event_count; at++) {   /* ada's last two events */
        if (events[at].id != ada_id) continue;
        n = i;
        i = at;
    }
    CHECK(events[i].kind == TCPCHAT_EVENT_DISCONNECTED);
    CHECK(n >= 0 && events[n].kind == TCPCHAT_EVENT_LEFT && strcmp(events[n].reason, "quit: bye") == 0);
    pthread_mutex_unlock(&log_lock);

    CHECK_RC(tcpchat_server_stop(the_server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_wait(the_server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_send(the_server, 1, "too late"), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_broadcast(the_server, NULL, "too late"), TCPCHAT_ESTATE);
    tcpchat_server_destroy(the_server);
    puts("test_embed: ok");
    return 0;
}
