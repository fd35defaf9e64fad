/*
** Takes the address of every function tcpchat.h declares. Compiled with warnings as errors and
** linked against libtcpchat.so with -Wl,-z,defs, so a function declared in the header but not
** implemented by the library (no @c @implementation) fails the build. Run, it also checks that
** the version macros and tcpchat_version() agree. When you add a function to the header, add
** it here.
*/
#include <stdio.h>
#include <string.h>

#include "tcpchat.h"

#if TCPCHAT_VERSION_NUMBER != \
    TCPCHAT_VERSION_MAJOR * 1000000 + TCPCHAT_VERSION_MINOR * 1000 + TCPCHAT_VERSION_PATCH
#error "TCPCHAT_VERSION_NUMBER disagrees with MAJOR/MINOR/PATCH"
#endif

/* Negative codes are parenthesised, so they survive any expression they are pasted into. */
#if 1-TCPCHAT_EINVAL != 2 || 1-TCPCHAT_ESYSTEM != 11
#error "TCPCHAT_E... codes must be parenthesised negative numbers"
#endif

typedef void (*any_function)(void);

#define ENTRY(name) { #name, (any_function)name }

static const struct {
    const char *name;
    any_function address;
} every_function[] = {
    ENTRY(tcpchat_version),
    ENTRY(tcpchat_strerror),
    ENTRY(tcpchat_server_config_init_sized),
    ENTRY(tcpchat_server_create),
    ENTRY(tcpchat_server_bind),
    ENTRY(tcpchat_server_start),
    ENTRY(tcpchat_server_run),
    ENTRY(tcpchat_server_port),
    ENTRY(tcpchat_server_broadcast),
    ENTRY(tcpchat_server_stop),
    ENTRY(tcpchat_server_wait),
    ENTRY(tcpchat_server_destroy),
    ENTRY(tcpchat_server_fd),
    ENTRY(tcpchat_server_timeout),
    ENTRY(tcpchat_server_poll),
    ENTRY(tcpchat_client_options_init_sized),
    ENTRY(tcpchat_client_connect),
    ENTRY(tcpchat_client_connect_ex),
    ENTRY(tcpchat_client_send),
    ENTRY(tcpchat_client_recv),
    ENTRY(tcpchat_client_needed_size),
    ENTRY(tcpchat_client_fd),
    ENTRY(tcpchat_client_shutdown),
    ENTRY(tcpchat_client_close),
    ENTRY(tcpchat_server_send),
    ENTRY(tcpchat_server_send_nick),
    ENTRY(tcpchat_server_lookup),
    ENTRY(tcpchat_server_kick),
    ENTRY(tcpchat_server_rooms),
    ENTRY(tcpchat_server_members),
    ENTRY(tcpchat_list_free),
    ENTRY(tcpchat_server_say),
    ENTRY(tcpchat_client_connect_start),
    ENTRY(tcpchat_client_try_send),
    ENTRY(tcpchat_client_events),
    ENTRY(tcpchat_client_flush),
    ENTRY(tcpchat_client_timeout),
    ENTRY(tcpchat_server_tls_port),
    ENTRY(tcpchat_server_reload_tls),
    ENTRY(tcpchat_client_last_error),
};

int main(void) {
    char expected[32];
    size_t i;
    int failures = 0;
    for (i = 0; i < sizeof every_function / sizeof every_function[0]; i++) {
        if (every_function[i].address == NULL) {
            printf("not linked: %s\n", every_function[i].name);
            failures++;
        }
    }
    snprintf(expected, sizeof expected, "%d.%d.%d",
             TCPCHAT_VERSION_MAJOR, TCPCHAT_VERSION_MINOR, TCPCHAT_VERSION_PATCH);
    if (strcmp(expected, TCPCHAT_VERSION_STRING) != 0 || strcmp(tcpchat_version(), TCPCHAT_VERSION_STRING) != 0) {
        printf("version mismatch: macros %s / %s, library %s\n", expected, TCPCHAT_VERSION_STRING, tcpchat_version());
        failures++;
    }
    printf("every_symbol: %u functions linked, version %s\n",
           (unsigned)(sizeof every_function / sizeof every_function[0]), tcpchat_version());
    return failures == 0 ? 0 : 1;
}
