/*
** embedded_server -- a C program that hosts a tcpchat server, with a bot: anyone who says
** "!time" in a room gets the time from the server, as a notice to that room.
**
**     embedded_server [PORT]           (default 6789; 0 picks a free port)
**
** It prints "listening on port N", logs connects and disconnects to standard error, and stops
** cleanly on Ctrl-C (SIGINT) or SIGTERM: every client gets a goodbye and the program exits 0.
**
** Signals are the host's business, not the library's (it installs no handlers): this program
** blocks SIGINT and SIGTERM before the server's thread starts -- new threads inherit the mask,
** so the signals reach only sigwait() -- and the main thread waits for them and calls
** tcpchat_server_stop().
**
** Build:  cc -std=c99 embedded_server.c -I<repo>/Include -L<dir of libtcpchat.so> -ltcpchat \
**            -Wl,-rpath,<dir of libtcpchat.so> -lpthread -o embedded_server
*/
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcpchat.h"

/* Runs on the server's loop thread for every chat line. The strings are valid only during the
** call; broadcasting from here is allowed (it is queued and sent right after). */
static void bot(const char *room, const char *nick, const char *text, void *user_data) {
    tcpchat_server *server = *(tcpchat_server **)user_data;
    if (strcmp(text, "!time") == 0) {
        char answer[128];
        char clock[32];
        struct tm utc;
        time_t now = time(NULL);
        gmtime_r(&now, &utc);
        strftime(clock, sizeof clock, "%Y-%m-%d %H:%M:%S UTC", &utc);
        snprintf(answer, sizeof answer, "%s asked the time: it is %s", nick, clock);
        tcpchat_server_broadcast(server, room, answer);
    }
}

/* Runs on the loop thread too; the library itself never prints. */
static void log_line(int level, const char *message, void *user_data) {
    static const char *const names[] = {"error", "warning", "info", "debug"};
    (void)user_data;
    fprintf(stderr, "embedded_server: %s: %s\n", names[level & 3], message);
}

int main(int argc, char **argv) {
    tcpchat_server_config config;
    tcpchat_server *server = NULL;
    sigset_t stop_signals;
    int rc, signal_number;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: embedded_server [PORT]   (default 6789; 0 picks a free port)\n");
        return 2;
    }
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);   /* before any thread starts */

    tcpchat_server_config_init(&config);
    config.port = argc == 2 ? atoi(argv[1]) : 6789;
    config.on_message = bot;
    config.log = log_line;
    config.user_data = &server;   /* the bot needs the server; it is set before serving */
    rc = tcpchat_server_create(&config, &server);
    if (rc == TCPCHAT_OK) rc = tcpchat_server_start(server);
    if (rc != TCPCHAT_OK) {
        fprintf(stderr, "embedded_server: %s\n", tcpchat_strerror(rc));
        tcpchat_server_destroy(server);
        return 1;
    }
    printf("listening on port %d (libtcpchat %s)\n", tcpchat_server_port(server), tcpchat_version());
    fflush(stdout);

    sigwait(&stop_signals, &signal_number);
    fprintf(stderr, "embedded_server: %s, stopping\n", signal_number == SIGINT ? "interrupted" : "terminated");
    tcpchat_server_stop(server);   /* clients get "* server shutting down, goodbye" */
    tcpchat_server_wait(server);
    tcpchat_server_destroy(server);
    return 0;
}
