/*
** bot -- a C program that serves tcpchat from its own poll() loop (no thread of the library's)
** and steers it: a /roll command of its own, a greeting for everyone who joins a room, a word
** filter, and /kick for the people who logged in as admins.
**
**     bot [PORT [PASSWORD]]     (default 6789 and "secret"; port 0 picks a free port)
**
** In the chat:
**     /roll [NdM]          the bot "dice" says in your room what you rolled (default 1d6)
**     /login PASSWORD      makes your connection an admin; nobody sees the line
**     /kick NICK [REASON]  admins only: disconnects NICK; the room sees why
**     darn                 anything with "darn" in it is relayed with "****" instead
**
** It prints "listening on port N" and stops cleanly on Ctrl-C (SIGINT) or SIGTERM: every client
** gets a goodbye and the program exits 0. The signal handler is the host's (the library installs
** none): it writes a byte to a pipe that the same poll() loop watches.
**
** Build:  cc -std=c99 bot.c -I<repo>/Include -L<dir of libtcpchat.so> -ltcpchat \
**            -Wl,-rpath,<dir of libtcpchat.so> -o bot
*/
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcpchat.h"

#define MAX_ADMINS 16

static tcpchat_server *server;
static const char *password = "secret";
static unsigned long long admins[MAX_ADMINS];   /* connection ids; 0 = free. Loop thread only. */
static int stop_pipe[2];

static int is_admin(unsigned long long id) {
    int i;
    for (i = 0; i < MAX_ADMINS; i++)
        if (admins[i] == id) return 1;
    return 0;
}

static void set_admin(unsigned long long id, int on) {
    int i;
    for (i = 0; i < MAX_ADMINS; i++) {
        if (on && admins[i] == 0) { admins[i] = id; return; }
        if (!on && admins[i] == id) admins[i] = 0;
    }
}

/* Events: greet whoever joins a room; forget admins who leave. Runs inside tcpchat_server_poll(). */
static void on_event(const tcpchat_event *event, void *user_data) {
    char greeting[160];
    (void)user_data;
    if (event->kind == TCPCHAT_EVENT_JOINED) {
        snprintf(greeting, sizeof greeting, "welcome to %s, %s", event->room, event->nick);
        tcpchat_server_send(server, event->id, greeting);
    } else if (event->kind == TCPCHAT_EVENT_DISCONNECTED) {
        set_admin(event->id, 0);
    }
}

/* "/roll 2d6": N dice of M sides, within reason. */
static void roll(const tcpchat_event *event) {
    int dice = 1, sides = 6, total = 0, i;
    char said[200];
    const char *spec = event->text + 5;
    while (*spec == ' ') spec++;
    if (*spec && (sscanf(spec, "%dd%d", &dice, &sides) != 2 || dice < 1 || dice > 100 || sides < 2 || sides > 1000)) {
        tcpchat_server_send(server, event->id, "usage: /roll [NdM], e.g. /roll 2d6");
        return;
    }
    for (i = 0; i < dice; i++) total += 1 + rand() % sides;
    snprintf(said, sizeof said, "%s rolled %dd%d: %d", event->nick, dice, sides, total);
    tcpchat_server_say(server, event->room, "dice", said);
}

/* "/kick NICK [REASON]", for admins. */
static void kick(const tcpchat_event *event) {
    char nick[64], reason[200];
    unsigned long long id;
    int rc;
    reason[0] = 0;
    if (!is_admin(event->id)) {
        tcpchat_server_send(server, event->id, "only admins may /kick (/login PASSWORD first)");
        return;
    }
    if (sscanf(event->text, "/kick %63s %199[^\n]", nick, reason) < 1) {
        tcpchat_server_send(server, event->id, "usage: /kick NICK [REASON]");
        return;
    }
    rc = tcpchat_server_lookup(server, nick, &id);
    if (rc == TCPCHAT_OK) rc = tcpchat_server_kick(server, id, reason[0] ? reason : "kicked by an admin");
    if (rc != TCPCHAT_OK) {
        char answer[160];
        snprintf(answer, sizeof answer, "cannot kick %s: %s", nick, tcpchat_strerror(rc));
        tcpchat_server_send(server, event->id, answer);
    }
}

/* Masks every "darn" (any case) in text with "****"; 1 when something changed. */
static int mask_words(const char *text, char *out, size_t size) {
    size_t i, n = strlen(text);
    int changed = 0;
    if (n >= size) n = size - 1;
    memcpy(out, text, n);
    out[n] = 0;
    for (i = 0; i + 4 <= n; i++) {
        if (tolower((unsigned char)out[i]) == 'd' && tolower((unsigned char)out[i + 1]) == 'a' &&
            tolower((unsigned char)out[i + 2]) == 'r' && tolower((unsigned char)out[i + 3]) == 'n') {
            memcpy(out + i, "****", 4);
            changed = 1;
        }
    }
    return changed;
}

/* The filter: before the server acts on what a client sent. */
static int filter(const tcpchat_event *event, char *text, size_t size, void *user_data) {
    (void)user_data;
    switch (event->kind) {
    case TCPCHAT_EVENT_COMMAND:
        if (strncmp(event->text, "/roll", 5) == 0 && (event->text[5] == 0 || event->text[5] == ' ')) {
            roll(event);
            return TCPCHAT_FILTER_DROP;
        }
        if (strncmp(event->text, "/kick ", 6) == 0) {
            kick(event);
            return TCPCHAT_FILTER_DROP;
        }
        if (strncmp(event->text, "/login ", 7) == 0) {
            if (strcmp(event->text + 7, password) != 0) {
                snprintf(text, size, "wrong password");
                return TCPCHAT_FILTER_REJECT;
            }
            set_admin(event->id, 1);
            snprintf(text, size, "you are an admin now");
            return TCPCHAT_FILTER_REPLACE;   /* for a command: the answer, to its sender alone */
        }
        return TCPCHAT_FILTER_ACCEPT;        /* the server says "unknown command" */
    case TCPCHAT_EVENT_SAID:
    case TCPCHAT_EVENT_ACTED:
    case TCPCHAT_EVENT_PRIVATE:
        return mask_words(event->text, text, size) ? TCPCHAT_FILTER_REPLACE : TCPCHAT_FILTER_ACCEPT;
    default:
        return TCPCHAT_FILTER_ACCEPT;
    }
}

static void log_line(int level, const char *message, void *user_data) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    (void)user_data;
    fprintf(stderr, "bot: %s: %s\n", names[level & 3], message);
}

static void on_signal(int number) {
    char byte = (char)number;
    ssize_t ignored = write(stop_pipe[1], &byte, 1);
    (void)ignored;
}

int main(int argc, char **argv) {
    tcpchat_server_config config;
    struct sigaction action;
    int rc;

    if (argc > 3 || (argc >= 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: bot [PORT [PASSWORD]]   (default 6789 and \"secret\"; port 0 picks a free port)\n");
        return 2;
    }
    if (argc == 3) password = argv[2];
    srand((unsigned)time(NULL));
    if (pipe(stop_pipe) != 0) { perror("bot: pipe"); return 1; }
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);

    tcpchat_server_config_init(&config);
    config.port = argc >= 2 ? atoi(argv[1]) : 6789;
    config.log = log_line;
    config.on_event = on_event;
    config.filter = filter;
    rc = tcpchat_server_create(&config, &server);
    if (rc == TCPCHAT_OK) rc = tcpchat_server_bind(server);
    if (rc != TCPCHAT_OK) {
        fprintf(stderr, "bot: %s\n", tcpchat_strerror(rc));
        tcpchat_server_destroy(server);
        return 1;
    }
    printf("listening on port %d (libtcpchat %s)\n", tcpchat_server_port(server), tcpchat_version());
    fflush(stdout);

    /* The host's loop: the server's descriptor and the stop pipe in one poll(). */
    while ((rc = tcpchat_server_poll(server, 0)) == TCPCHAT_OK) {
        struct pollfd fds[2];
        fds[0].fd = tcpchat_server_fd(server);
        fds[0].events = POLLIN;
        fds[1].fd = stop_pipe[0];
        fds[1].events = POLLIN;
        if (poll(fds, 2, tcpchat_server_timeout(server)) < 0 && errno != EINTR) { perror("bot: poll"); break; }
        if (fds[1].revents & POLLIN) {
            char byte;
            if (read(stop_pipe[0], &byte, 1) == 1) {
                fprintf(stderr, "bot: %s, stopping\n", byte == SIGINT ? "interrupted" : "terminated");
                tcpchat_server_stop(server);   /* polling goes on until every client had its goodbye */
            }
        }
    }
    tcpchat_server_destroy(server);
    return rc == TCPCHAT_ECLOSED ? 0 : 1;
}
