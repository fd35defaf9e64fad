/*
** The address of every function tcpchat.h declares, compiled into libtcpchat itself.
**
** Why a C file in the header's target:
**   - A header-only SwiftPM target is not rebuilt when its header changes, so the Swift module
**     that implements the header (@c @implementation checks each signature against it) would
**     not be recompiled either, and a changed declaration would go unnoticed until a clean
**     build. With a source file here, a header change rebuilds this target, and with it the
**     Swift module, whose compile then fails on any drift.
**   - Each entry references its function, so a function declared but not implemented leaves an
**     undefined symbol in libtcpchat.so, which fails the link of every program that uses it
**     (and of the library itself where it is linked with -z defs).
** scripts/test.d/20-capi.sh checks that this list, Tests/c/every_symbol.c and the header agree.
*/
#include <stddef.h>

#include "tcpchat.h"

/*
** The structs a caller allocates end exactly where their last field ends (tcpchat.h, GROWING
** STRUCTS): no tail padding that a later release could mistake for a field it added. (C99 has
** no _Static_assert: an array of negative size fails the compile instead.)
*/
typedef char tcpchat_server_config_has_no_tail_padding[
    sizeof(tcpchat_server_config) == offsetof(tcpchat_server_config, reserved_cluster_accounts) + sizeof(int) ? 1 : -1];
typedef char tcpchat_client_options_has_no_tail_padding[
    sizeof(tcpchat_client_options) == offsetof(tcpchat_client_options, error_size) + sizeof(size_t) ? 1 : -1];

typedef char tcpchat_event_has_no_tail_padding[
    sizeof(tcpchat_event) == offsetof(tcpchat_event, reason) + sizeof(const char *) ? 1 : -1];

typedef void (*tcpchat_any_function)(void);

/* Hidden: part of the library's own build, not of its API. */
__attribute__((visibility("hidden"))) const tcpchat_any_function tcpchat_every_function[] = {
    (tcpchat_any_function)tcpchat_version,
    (tcpchat_any_function)tcpchat_strerror,
    (tcpchat_any_function)tcpchat_server_config_init_sized,
    (tcpchat_any_function)tcpchat_server_create,
    (tcpchat_any_function)tcpchat_server_bind,
    (tcpchat_any_function)tcpchat_server_start,
    (tcpchat_any_function)tcpchat_server_run,
    (tcpchat_any_function)tcpchat_server_port,
    (tcpchat_any_function)tcpchat_server_broadcast,
    (tcpchat_any_function)tcpchat_server_stop,
    (tcpchat_any_function)tcpchat_server_wait,
    (tcpchat_any_function)tcpchat_server_destroy,
    (tcpchat_any_function)tcpchat_server_fd,
    (tcpchat_any_function)tcpchat_server_timeout,
    (tcpchat_any_function)tcpchat_server_poll,
    (tcpchat_any_function)tcpchat_client_options_init_sized,
    (tcpchat_any_function)tcpchat_client_connect,
    (tcpchat_any_function)tcpchat_client_connect_ex,
    (tcpchat_any_function)tcpchat_client_send,
    (tcpchat_any_function)tcpchat_client_recv,
    (tcpchat_any_function)tcpchat_client_needed_size,
    (tcpchat_any_function)tcpchat_client_fd,
    (tcpchat_any_function)tcpchat_client_shutdown,
    (tcpchat_any_function)tcpchat_client_close,
    (tcpchat_any_function)tcpchat_server_send,
    (tcpchat_any_function)tcpchat_server_send_nick,
    (tcpchat_any_function)tcpchat_server_lookup,
    (tcpchat_any_function)tcpchat_server_kick,
    (tcpchat_any_function)tcpchat_server_rooms,
    (tcpchat_any_function)tcpchat_server_members,
    (tcpchat_any_function)tcpchat_list_free,
    (tcpchat_any_function)tcpchat_server_say,
    (tcpchat_any_function)tcpchat_client_connect_start,
    (tcpchat_any_function)tcpchat_client_try_send,
    (tcpchat_any_function)tcpchat_client_events,
    (tcpchat_any_function)tcpchat_client_flush,
    (tcpchat_any_function)tcpchat_client_timeout,
    (tcpchat_any_function)tcpchat_server_tls_port,
    (tcpchat_any_function)tcpchat_server_reload_tls,
    (tcpchat_any_function)tcpchat_client_last_error,
};
