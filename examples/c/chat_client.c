/*
** chat_client -- the seed lesson's chat client, written in C on tcpchat.h.
**
**     chat_client [HOST [PORT]]        (default: 127.0.0.1 6789)
**
** Reads lines from standard input and sends each to the server; prints every line the server
** sends. One poll() loop watches both standard input and the connection (tcpchat_client_fd),
** so incoming lines appear while you type. It ends when the server closes the connection:
** after "/quit" (the server says goodbye and closes), or after end of input (the client
** half-closes, the server sees you leave and closes too).
**
** Build:  cc -std=c99 chat_client.c -I<repo>/Include -L<dir of libtcpchat.so> -ltcpchat \
**            -Wl,-rpath,<dir of libtcpchat.so> -o chat_client
*/
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcpchat.h"

/* Standard input, split into lines as it arrives. */
struct input {
    char data[8192];
    size_t used;
    int ended;   /* end of input seen */
    int quit;    /* "/quit" was sent: send nothing more */
};

static int send_line(tcpchat_client *client, struct input *input, const char *line) {
    int rc;
    if (input->quit) return TCPCHAT_OK;
    rc = tcpchat_client_send(client, line);
    if (strcmp(line, "/quit") == 0 || strncmp(line, "/quit ", 6) == 0) input->quit = 1;
    return rc;
}

/* Reads what standard input has and sends every whole line. Returns a TCPCHAT_ code. */
static int pump_input(tcpchat_client *client, struct input *input) {
    char *start, *newline;
    ssize_t count = read(STDIN_FILENO, input->data + input->used, sizeof input->data - 1 - input->used);
    int rc = TCPCHAT_OK;
    if (count < 0) return errno == EINTR ? TCPCHAT_OK : TCPCHAT_ESYSTEM;
    if (count == 0) input->ended = 1;
    input->used += (size_t)count;
    input->data[input->used] = '\0';
    start = input->data;
    while (rc == TCPCHAT_OK && (newline = strchr(start, '\n')) != NULL) {
        *newline = '\0';
        if (newline > start && newline[-1] == '\r') newline[-1] = '\0';
        rc = send_line(client, input, start);
        start = newline + 1;
    }
    input->used -= (size_t)(start - input->data);
    memmove(input->data, start, input->used);
    /* A last line without a newline at the end of input, or one longer than the buffer. */
    if (rc == TCPCHAT_OK && input->used > 0 && (input->ended || input->used == sizeof input->data - 1)) {
        input->data[input->used] = '\0';
        input->used = 0;
        rc = send_line(client, input, input->data);
    }
    if (rc == TCPCHAT_OK && input->ended) rc = tcpchat_client_shutdown(client);
    return rc;
}

/* Prints every line that has arrived. Returns TCPCHAT_ETIMEDOUT when there is no more for
** now, or the code that ended the connection. `*line` grows when a line does not fit. */
static int print_lines(tcpchat_client *client, char **line, size_t *size) {
    for (;;) {
        int rc = tcpchat_client_recv(client, *line, *size, 0);
        if (rc == TCPCHAT_ENOSPC) {   /* the line waits; make room for it */
            size_t needed = tcpchat_client_needed_size(client);
            char *larger = realloc(*line, needed);
            if (larger == NULL) return TCPCHAT_ESYSTEM;
            *line = larger;
            *size = needed;
            continue;
        }
        if (rc < 0) return rc;
        puts(*line);
        fflush(stdout);
    }
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 6789;
    struct input input;
    tcpchat_client *client;
    size_t size = 4096;
    char *line = malloc(size);
    int rc;

    if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: chat_client [HOST [PORT]]   (default 127.0.0.1 6789)\n");
        return 2;
    }
    if (line == NULL) return 1;
    rc = tcpchat_client_connect(host, port, &client);
    if (rc != TCPCHAT_OK) {
        fprintf(stderr, "chat_client: cannot connect to %s:%d: %s\n", host, port, tcpchat_strerror(rc));
        free(line);
        return 1;
    }
    memset(&input, 0, sizeof input);
    for (;;) {
        struct pollfd watched[2];
        int watching_input = !input.ended && !input.quit;
        watched[0].fd = tcpchat_client_fd(client);
        watched[0].events = POLLIN;
        watched[1].fd = STDIN_FILENO;
        watched[1].events = POLLIN;
        if (poll(watched, watching_input ? 2 : 1, -1) < 0) {
            if (errno == EINTR) continue;
            rc = TCPCHAT_ESYSTEM;
            break;
        }
        if (watched[0].revents != 0) {
            rc = print_lines(client, &line, &size);
            if (rc != TCPCHAT_ETIMEDOUT) break;
        }
        if (watching_input && watched[1].revents != 0) {
            rc = pump_input(client, &input);
            if (rc != TCPCHAT_OK) break;
        }
    }
    if (rc != TCPCHAT_ECLOSED) fprintf(stderr, "chat_client: %s\n", tcpchat_strerror(rc));
    tcpchat_client_close(client);
    free(line);
    return rc == TCPCHAT_ECLOSED ? 0 : 1;
}
