/*
** poll_client -- a chat client with one poll() loop over standard input and the connection: no
** threads, and it never blocks in the library. It connects without waiting
** (tcpchat_client_connect_start), sends with tcpchat_client_try_send, and when the server stops
** reading (its send queue is full: TCPCHAT_EAGAIN) it keeps the line, stops reading standard
** input until the queue drains, and goes on printing what arrives meanwhile.
**
**     poll_client HOST PORT
**
** Lines typed are sent as they are ("/nick ada", "/quit"); lines from the server are printed.
** At the end of input it sends what is queued, half-closes, prints the rest and exits 0.
**
** Build:  cc -std=c99 poll_client.c -I<repo>/Include -L<dir of libtcpchat.so> -ltcpchat \
**            -Wl,-rpath,<dir of libtcpchat.so> -o poll_client
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpchat.h"

#define INPUT_BYTES 8192

/* Standard input, split into lines by hand (stdio would buffer where poll() cannot see). */
static char input[INPUT_BYTES];
static size_t input_used;
static int input_ended;
static int pending_line;   /* input holds a whole line that try_send could not queue yet */

/* Sends the whole lines buffered from standard input, as far as the queue takes them. */
static int send_input(tcpchat_client *client) {
    char *newline;
    while ((newline = memchr(input, '\n', input_used)) != NULL) {
        size_t length = (size_t)(newline - input);
        int rc;
        *newline = 0;
        if (length > 0 && input[length - 1] == '\r') input[length - 1] = 0;
        rc = tcpchat_client_try_send(client, input);
        if (rc == TCPCHAT_EAGAIN) {   /* the server is not reading: keep it for later */
            *newline = '\n';
            pending_line = 1;
            return TCPCHAT_OK;
        }
        if (rc != TCPCHAT_OK) return rc;
        memmove(input, newline + 1, input_used - length - 1);
        input_used -= length + 1;
    }
    pending_line = 0;
    return TCPCHAT_OK;
}

int main(int argc, char **argv) {
    tcpchat_client_options options;
    tcpchat_client *client;
    char *line = malloc(TCPCHAT_CLIENT_MAX_LINE + 1);   /* no line is longer: never TCPCHAT_ENOSPC */
    int rc, connected = 0, shut = 0;

    if (!line) return 1;
    if (argc != 3) {
        fprintf(stderr, "usage: poll_client HOST PORT\n");
        return 2;
    }
    tcpchat_client_options_init(&options);
    options.connect_timeout_ms = 10000;
    rc = tcpchat_client_connect_start(argv[1], atoi(argv[2]), &options, &client);
    if (rc != TCPCHAT_OK) {
        fprintf(stderr, "poll_client: cannot connect: %s\n", tcpchat_strerror(rc));
        free(line);
        return 1;
    }
    for (;;) {
        struct pollfd fds[2];
        int timeout = tcpchat_client_timeout(client);
        fds[0].fd = tcpchat_client_fd(client);
        fds[0].events = (short)tcpchat_client_events(client);
        /* Standard input only while there is room to take what it brings. */
        fds[1].fd = (input_ended || pending_line || input_used == sizeof input) ? -1 : STDIN_FILENO;
        fds[1].events = POLLIN;
        if (poll(fds, 2, timeout) < 0 && errno != EINTR) { perror("poll_client: poll"); break; }

        rc = tcpchat_client_flush(client);   /* connects; writes what is queued */
        if (rc != TCPCHAT_OK && rc != TCPCHAT_EAGAIN) {
            fprintf(stderr, "poll_client: %s\n", tcpchat_strerror(rc));
            break;
        }
        if (!connected && rc == TCPCHAT_OK) connected = 1;
        if (pending_line && send_input(client) != TCPCHAT_OK) break;

        while ((rc = tcpchat_client_recv(client, line, TCPCHAT_CLIENT_MAX_LINE + 1, 0)) >= 0) {
            puts(line);
        }
        fflush(stdout);
        if (rc == TCPCHAT_ECLOSED) {
            tcpchat_client_close(client);
            free(line);
            return 0;
        }
        if (rc != TCPCHAT_ETIMEDOUT) {
            fprintf(stderr, "poll_client: %s\n", tcpchat_strerror(rc));
            break;
        }

        if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
            ssize_t count = read(STDIN_FILENO, input + input_used, sizeof input - input_used);
            if (count > 0) input_used += (size_t)count;
            else if (count == 0) {
                input_ended = 1;
                if (input_used > 0 && input_used < sizeof input) input[input_used++] = '\n';
            }
            if (send_input(client) != TCPCHAT_OK) break;
        }
        /* End of input, everything sent: half-close, and print what the server still says. */
        if (input_ended && !pending_line && !shut && connected && !(tcpchat_client_events(client) & POLLOUT)) {
            tcpchat_client_shutdown(client);
            shut = 1;
        }
    }
    tcpchat_client_close(client);
    free(line);
    return 1;
}
