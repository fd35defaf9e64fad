/*
** Loading libtcpchat into a C program leaves the host's signal handling as it was: the set of
** caught signals (SigCgt in /proc/self/status) is the same before dlopen(), after it, and after
** the library has been used (a server created, started, chatted with, stopped; a client).
** The Swift runtime the library loads would otherwise install its crash reporter on SIGSEGV,
** SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP and SIGQUIT (Include/tcpchat_guest.c says how it is
** taken back out). A handler the host installed itself before loading stays the host's.
**
** Built like the other tests but not linked with the library: it dlopen()s the path given as
** argv[1] (default: libtcpchat.so on the library path). The test does not hold when
** SWIFT_BACKTRACE asks for the backtracer; it clears that variable for itself at start.
*/
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcpchat.h"

#define CHECK(condition)                                                                   \
    do {                                                                                   \
        if (!(condition)) {                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);  \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

/* The caught-signal mask, from the SigCgt line of /proc/self/status: signals 1-31. (glibc's
** own pthread_create() installs a handler on its internal real-time signal 33 the first time a
** process makes a thread -- any threaded program has it; it is glibc's, not ours.) */
static unsigned long long caught_signals(void) {
    char line[256];
    unsigned long long mask = 0;
    int found = 0;
    FILE *status = fopen("/proc/self/status", "r");
    CHECK(status != NULL);
    while (fgets(line, sizeof line, status) != NULL) {
        if (strncmp(line, "SigCgt:", 7) == 0) {
            mask = strtoull(line + 7, NULL, 16);
            found = 1;
        }
    }
    fclose(status);
    CHECK(found);
    return mask & 0x7fffffffULL;
}

static void host_handler(int signum) { (void)signum; }

#define SIGNAL_BIT(signum) (1ULL << ((signum) - 1))

/* The library's functions, looked up by name as a plugin host would. */
/* (ISO C has no cast from void * to a function pointer: the bytes are copied, as POSIX
** allows for dlsym().) */
#define LOOKUP(library, function, name)                                                    \
    do {                                                                                   \
        void *address_ = lookup((library), (name));                                        \
        memcpy(&(function), &address_, sizeof address_);                                   \
    } while (0)
static void *lookup(void *library, const char *name) {
    void *address = dlsym(library, name);
    if (address == NULL) {
        fprintf(stderr, "dlsym(%s): %s\n", name, dlerror());
        exit(1);
    }
    return address;
}

typedef void (*config_init_fn)(tcpchat_server_config *, size_t);
typedef int (*create_fn)(const tcpchat_server_config *, tcpchat_server **);
typedef int (*server_fn)(tcpchat_server *);
typedef int (*port_fn)(const tcpchat_server *);
typedef void (*destroy_fn)(tcpchat_server *);
typedef int (*connect_fn)(const char *, int, tcpchat_client **);
typedef int (*send_fn)(tcpchat_client *, const char *);
typedef int (*recv_fn)(tcpchat_client *, char *, size_t, int);
typedef void (*close_fn)(tcpchat_client *);

/* A server on loopback and one client that asks who is there and hears the answer. */
static void use_the_library(void *library) {
    config_init_fn config_init;
    create_fn create;
    server_fn start, stop, wait_for;
    port_fn port;
    destroy_fn destroy;
    connect_fn connect_to;
    send_fn send_line;
    recv_fn recv_line;
    close_fn close_client;
    tcpchat_server_config config;
    tcpchat_server *server = NULL;
    tcpchat_client *client = NULL;
    char line[4096];
    int heard = 0;

    LOOKUP(library, config_init, "tcpchat_server_config_init_sized");
    LOOKUP(library, create, "tcpchat_server_create");
    LOOKUP(library, start, "tcpchat_server_start");
    LOOKUP(library, stop, "tcpchat_server_stop");
    LOOKUP(library, wait_for, "tcpchat_server_wait");
    LOOKUP(library, port, "tcpchat_server_port");
    LOOKUP(library, destroy, "tcpchat_server_destroy");
    LOOKUP(library, connect_to, "tcpchat_client_connect");
    LOOKUP(library, send_line, "tcpchat_client_send");
    LOOKUP(library, recv_line, "tcpchat_client_recv");
    LOOKUP(library, close_client, "tcpchat_client_close");

    config_init(&config, sizeof config);
    config.host = "127.0.0.1";
    config.port = 0;
    CHECK(create(&config, &server) == TCPCHAT_OK);
    CHECK(start(server) == TCPCHAT_OK);
    CHECK(connect_to("127.0.0.1", port(server), &client) == TCPCHAT_OK);
    CHECK(send_line(client, "/who") == TCPCHAT_OK);
    while (!heard && recv_line(client, line, sizeof line, 10000) >= 0) {
        heard = strstr(line, "in #lobby") != NULL;
    }
    CHECK(heard);
    close_client(client);
    CHECK(stop(server) == TCPCHAT_OK);
    CHECK(wait_for(server) == TCPCHAT_OK);
    destroy(server);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "libtcpchat.so";
    unsigned long long before, after_load, after_use;
    struct sigaction mine;
    void *library;

    unsetenv("SWIFT_BACKTRACE");   /* (read when the runtime loads, below) */

    /* The host's own handler on SIGSEGV: it must still be the host's afterwards. */
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = host_handler;
    sigemptyset(&mine.sa_mask);
    CHECK(sigaction(SIGSEGV, &mine, NULL) == 0);

    before = caught_signals();
    CHECK(before & SIGNAL_BIT(SIGSEGV));
    CHECK(dlsym(RTLD_DEFAULT, "swift_retain") == NULL);   /* no Swift runtime yet */

    library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "dlopen(%s): %s\n", path, dlerror());
        return 1;
    }
    after_load = caught_signals();
    use_the_library(library);
    after_use = caught_signals();

    printf("SigCgt before dlopen %016llx, after dlopen %016llx, after use %016llx\n", before, after_load,
           after_use);
    CHECK(after_load == before);
    CHECK(after_use == before);
    {
        struct sigaction current;
        CHECK(sigaction(SIGSEGV, NULL, &current) == 0);
        CHECK(!(current.sa_flags & SA_SIGINFO) && current.sa_handler == host_handler);
    }
    /* (The library stays loaded: the Swift runtime cannot be unloaded.) */
    printf("test_signals: ok\n");
    return 0;
}
