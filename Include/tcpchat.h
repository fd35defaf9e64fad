/*
** tcpchat.h -- the C API of libtcpchat: host a TCP chat server, or be a chat client,
** inside your own program.
**
** This header is the contract and the manual. Every declaration below is preceded by a
** comment that says what it does, who owns each pointer and for how long, what NULL does,
** which thread may call it, and every code it returns.
**
** QUICK START -- a client:
**
**     tcpchat_client *client;
**     char line[4096];
**     int rc = tcpchat_client_connect("127.0.0.1", 6789, &client);
**     if (rc != TCPCHAT_OK) { fprintf(stderr, "%s\n", tcpchat_strerror(rc)); return 1; }
**     tcpchat_client_send(client, "hello, everyone");
**     while ((rc = tcpchat_client_recv(client, line, sizeof line, 5000)) >= 0)
**         puts(line);                          (until TCPCHAT_ETIMEDOUT or TCPCHAT_ECLOSED)
**     tcpchat_client_close(client);
**
** QUICK START -- an embedded server:
**
**     tcpchat_server_config config;
**     tcpchat_server *server;
**     tcpchat_server_config_init(&config);     (always: it fills every field's default)
**     config.port = 0;                         (0 = any free port)
**     config.on_message = my_callback;         (optional; runs on the server's thread)
**     if (tcpchat_server_create(&config, &server) != TCPCHAT_OK) ...
**     if (tcpchat_server_start(server) != TCPCHAT_OK) ...    (serves on a thread of its own)
**     printf("port %d\n", tcpchat_server_port(server));
**     ...
**     tcpchat_server_stop(server);             (any thread, e.g. after sigwait())
**     tcpchat_server_wait(server);
**     tcpchat_server_destroy(server);
**
** THE PROTOCOL. Clients and server exchange UTF-8 lines ending in LF. A line a client sends is
** chat for its room, or a command: /nick NAME, /who, /msg NICK TEXT, /me ACTION, /join #room,
** /rooms, /help, /quit [REASON] ("//text" sends "/text"). Every line the server sends starts
** with a marker: "<nick> text" (chat), "<from -> to> text" (private message), "* text"
** (notice) or "! text" (an error meant for you alone). A new client is "guestN" in #lobby.
** docs/PROTOCOL.md has the whole grammar.
**
** CONVENTIONS.
**   - Functions return TCPCHAT_OK (0) or a non-negative result on success, and a negative
**     TCPCHAT_E... code on failure; tcpchat_strerror() describes any code. New handles are
**     returned through out-parameters, which are written only on success.
**   - A handle (tcpchat_server *, tcpchat_client *) is created by one function and freed by
**     exactly one call to its destroy/close function; using it afterwards is undefined.
**     Passing NULL where a handle is expected returns TCPCHAT_EINVAL (destroy/close: no-op).
**   - Strings passed in are copied before the call returns unless said otherwise; strings
**     passed out (callback arguments) are valid only during the call.
**   - The library never installs signal handlers, never changes the signal mask, never
**     calls exit() and never prints. Sends use MSG_NOSIGNAL, so a host that keeps SIGPIPE at
**     its default action survives a peer that resets. Diagnostics go to the log callback.
**   - On TCPCHAT_ESYSTEM, errno holds the system's error code.
**   - Loading the library installs no signal handler either: the Swift runtime it needs would
**     install its crash reporter's handlers (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP,
**     SIGQUIT) when it is loaded into a C program; the library takes them back out as it
**     loads, before any of your code runs again (only where the runtime put them: a handler of
**     yours stays). Swift programs keep the runtime's crash reports. (Setting
**     SWIFT_BACKTRACE=enable=no in the environment before the process starts also keeps the
**     runtime from installing them.)
**
** BINARY COMPATIBILITY. The library is libtcpchat.so.1 (SONAME) from 1.0.0 on. Within one SONAME
** only additions are made: new functions (under a new symbol version: TCPCHAT_1.1, ...), new
** result codes, and new fields at the end of the config and options structs. Nothing is
** removed, renamed, reordered or retyped, so a program built against 1.x runs on every later
** 1.y. scripts/test checks each build with libabigail's abidiff against the ABI of the release.
** Every exported function carries the symbol version of the release that added it (1.0.0:
** TCPCHAT_1.0; 1.1.0: TCPCHAT_1.1); only tcpchat_* functions (and the Swift module's own symbols, for Swift) are
** exported.
**
** GROWING STRUCTS. A struct the caller allocates (tcpchat_server_config,
** tcpchat_client_options) starts with `size_t struct_size`, the size of the struct the caller was
** compiled with. Its _init() macro passes sizeof (as zlib's deflateInit() passes
** sizeof(z_stream)) and stores it there; _create()/_connect_ex() read it. The library then reads
** and writes only those bytes: a field the caller's header did not have yet (one past
** struct_size) gets its default, and a program built with a later header (a larger struct) works
** with this library as long as the fields this library does not know are left as _init() set
** them (zero). So: always _init() the struct (do not zero it yourself or copy one from another
** build), then set what you need. Fields are only ever added at the end, each struct ends
** exactly where its last field ends (no tail padding), and a later field is zero by default.
** Why a size field and not setters: the struct stays a plain struct, readable in a debugger, and
** the one _init() call every program already makes is all that is needed (source-compatible with
** 0.x programs); why the size and not a version number: the size says exactly which bytes exist.
**
** Compiles as C99 (-std=c99 -Wall -Wextra -pedantic) and as C++.
*/
#ifndef TCPCHAT_H
#define TCPCHAT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
** VERSION. The compile-time version of this header. tcpchat_version() returns the version of
** the library actually loaded; compare the two to detect a mismatched libtcpchat.so.
** TCPCHAT_VERSION_NUMBER is MAJOR * 1000000 + MINOR * 1000 + PATCH, for #if comparisons.
** These macros are the single source of the version: the Swift module reads them too, and the
** CMake build takes the SONAME from TCPCHAT_VERSION_MAJOR (libtcpchat.so.1).
*/
#define TCPCHAT_VERSION_MAJOR 1
#define TCPCHAT_VERSION_MINOR 1
#define TCPCHAT_VERSION_PATCH 0
#define TCPCHAT_VERSION_STRING "1.1.0"
#define TCPCHAT_VERSION_NUMBER \
    (TCPCHAT_VERSION_MAJOR * 1000000 + TCPCHAT_VERSION_MINOR * 1000 + TCPCHAT_VERSION_PATCH)

/*
** RESULT CODES. TCPCHAT_OK is success; every failure is one of these negative values.
** The list may grow; treat any other negative value as a failure too (tcpchat_strerror()
** describes unknown codes as well).
*/
#define TCPCHAT_OK             0  /* success */
#define TCPCHAT_EINVAL       (-1) /* a NULL handle or argument, or a value out of range */
#define TCPCHAT_ERESOLVE     (-2) /* the host name could not be resolved */
#define TCPCHAT_EADDRINUSE   (-3) /* the server's address and port are already in use */
#define TCPCHAT_ECONNREFUSED (-4) /* nobody listens at that address and port */
#define TCPCHAT_ETIMEDOUT    (-5) /* no line within the timeout (call again); or connecting timed out */
#define TCPCHAT_ECLOSED      (-6) /* the connection was closed (by the server, or shut by you) */
#define TCPCHAT_ERESET       (-7) /* the connection was reset by the peer */
#define TCPCHAT_ENOSPC       (-8) /* the buffer is too small for the line; the line stays queued */
#define TCPCHAT_ESTATE       (-9) /* not now: the server was already started, or has not been */
#define TCPCHAT_ESYSTEM     (-10) /* another system call failed; errno says which error */
#define TCPCHAT_EAGAIN      (-11) /* would block: the send queue is full, or connecting/flushing goes on (1.1) */
#define TCPCHAT_EMISUSE     (-12) /* not from here: serving, waiting or destroying from the server's own callback (1.1) */
#define TCPCHAT_ENOTFOUND   (-13) /* no such connection, nick or room (1.1) */
#define TCPCHAT_ETLS        (-14) /* the TLS handshake failed: the certificate was not accepted (expired, unknown CA,
                                  ** another host name), or the peer does not speak TLS; tcpchat_client_options.error
                                  ** says which (1.1, TLS) */

/*
** LOG LEVELS, as passed to tcpchat_server_config.log; a smaller number matters more.
*/
#define TCPCHAT_LOG_ERROR   0   /* the server cannot do something it should (e.g. accept) */
#define TCPCHAT_LOG_WARNING 1   /* a limit was hit (server full, out of descriptors) */
#define TCPCHAT_LOG_INFO    2   /* listening, connects, disconnects with their reason, stop */
#define TCPCHAT_LOG_DEBUG   3   /* detail for debugging the library */

/*
** The longest line tcpchat_client_recv() can return, in bytes without its NUL: a server line
** longer than this is replaced by a short notice. A buffer of TCPCHAT_CLIENT_MAX_LINE + 1
** bytes never gets TCPCHAT_ENOSPC.
*/
#define TCPCHAT_CLIENT_MAX_LINE (1 << 20)

/* ========================================================================================= */
/* Library                                                                                    */
/* ========================================================================================= */

/*
** tcpchat_version -- the version of the loaded library, e.g. "1.1.0".
**
** Returns a static string the caller must not free; it stays valid for the life of the
** process. Any thread.
*/
const char *tcpchat_version(void);

/*
** tcpchat_strerror -- a short English description of a result code.
**
** Works for every code this header defines, for TCPCHAT_OK, and for unknown codes (which get
** "unknown tcpchat error"). Returns a static string the caller must not free; it stays valid
** for the life of the process. Any thread.
*/
const char *tcpchat_strerror(int code);

/* ========================================================================================= */
/* Server                                                                                     */
/* ========================================================================================= */

/*
** A chat server: rooms, nicknames, history, bounded per-client queues. Opaque; created by
** tcpchat_server_create(), freed by tcpchat_server_destroy().
**
** THREADING. A server has one loop thread that owns every socket and all chat state: the
** thread tcpchat_server_start() creates, or the thread that calls tcpchat_server_run().
** Callbacks run on that thread, one at a time. tcpchat_server_port(), _broadcast(), _stop() and
** the host control functions (HOST CONTROL below) may be called from any thread, including from
** a callback. _bind, _start, _run, _wait and _destroy of one server must not run at the same
** time as each other. From that server's own callbacks, _start, _run, _poll and _wait return
** TCPCHAT_EMISUSE (and _destroy does nothing) instead of running callbacks inside callbacks.
*/
typedef struct tcpchat_server tcpchat_server;

/*
** EVENTS (added in 1.1.0). tcpchat_server_config.on_event is called with what every client of
** the server does, on the loop thread, as it happens (in the manner of libwebsockets' one
** callback with a reason). Each connection has an id: 1, 2, 3 ... in the order connections are
** accepted, never reused while the server lives. Per id the order is: TCPCHAT_EVENT_CONNECTED
** first, then TCPCHAT_EVENT_REGISTERED (its guest nick), then what it does (JOINED #lobby,
** SAID, RENAMED, ...), each LEFT of its rooms, and TCPCHAT_EVENT_DISCONNECTED last. Events of
** different ids interleave as they happen. In a cluster only this server's clients have events.
** The old on_message callback still works and sees a subset: the SAID events.
*/
#define TCPCHAT_EVENT_CONNECTED    1  /* accepted; address set, nick "" */
#define TCPCHAT_EVENT_REGISTERED   2  /* got its first nick (nick, e.g. "guest3") */
#define TCPCHAT_EVENT_RENAMED      3  /* target (the old nick) is now nick */
#define TCPCHAT_EVENT_JOINED       4  /* nick entered room */
#define TCPCHAT_EVENT_LEFT         5  /* nick left room; reason: "quit", "moved to #x", "kicked: ..." */
#define TCPCHAT_EVENT_SAID         6  /* nick said text in room */
#define TCPCHAT_EVENT_ACTED        7  /* nick did text in room (/me) */
#define TCPCHAT_EVENT_PRIVATE      8  /* nick sent text to target alone (/msg) */
#define TCPCHAT_EVENT_DISCONNECTED 9  /* the connection closed, with reason; the last of its id */
#define TCPCHAT_EVENT_COMMAND     10  /* filter only: a /command the server does not know (text: the line) */
/* (Added in 1.1.0, accounts: tcpchat_server_config.accounts_path.) The connection proved it owns
** the account `text` (the registered nick; `nick` is its nick now, the same or a look-alike);
** `reason` says how: "identified" (/identify, or IRC's NickServ IDENTIFY), "sasl" (IRC's SASL
** PLAIN), "registered" (it has just registered the account) or "ghost" (it disconnected the
** session that held the nick). Not sent
** to the filter (passwords never reach the host). */
#define TCPCHAT_EVENT_IDENTIFIED  11

/*
** tcpchat_event -- one event, or (for the filter) one thing a client asked. Made by the library
** and valid only during the callback, with every string in it: copy what you keep. Strings are
** UTF-8; a field that does not apply to the kind is NULL (nick is "" before REGISTERED).
** struct_size is the size of the library's struct: a field added in a later release is there
** only when struct_size reaches past it. (Added in 1.1.0.)
*/
typedef struct tcpchat_event {
    size_t struct_size;       /* sizeof the library's tcpchat_event */
    int kind;                 /* TCPCHAT_EVENT_... */
    int reserved_1_1;         /* 0 */
    unsigned long long id;    /* the connection's id, >= 1 */
    const char *address;      /* the peer, e.g. "127.0.0.1:50312" or "[::1]:50312" */
    const char *nick;         /* the connection's nick ("" before REGISTERED) */
    const char *room;         /* JOINED, LEFT, SAID, ACTED (filter: COMMAND): the room, e.g. "#lobby" */
    const char *text;         /* SAID, ACTED, PRIVATE: the text; filter RENAMED: the nick asked
                              ** for; filter COMMAND: the whole line, e.g. "/roll 2d6";
                              ** IDENTIFIED: the account */
    const char *target;       /* RENAMED: the old nick; PRIVATE: who it is for */
    const char *reason;       /* LEFT, DISCONNECTED: why; IDENTIFIED: how */
} tcpchat_event;

/*
** FILTER (added in 1.1.0). tcpchat_server_config.filter is called on the loop thread *before*
** the server acts on what a client asked, with a tcpchat_event whose kind says what:
**   TCPCHAT_EVENT_SAID (a chat line; room, text), TCPCHAT_EVENT_ACTED (/me; room, text),
**   TCPCHAT_EVENT_PRIVATE (/msg; target, text), TCPCHAT_EVENT_RENAMED (/nick; text = the nick
**   asked for, target = the current one), TCPCHAT_EVENT_JOINED (/join; room = the room asked
**   for), TCPCHAT_EVENT_COMMAND (a /command the server does not know; text = the whole line,
**   room = the sender's room).
** /who, /rooms, /help and /quit are not filtered. It returns one of:
**   TCPCHAT_FILTER_ACCEPT   go ahead as asked;
**   TCPCHAT_FILTER_REJECT   refuse: the sender alone gets "! REASON", REASON being what the filter
**                           wrote into `text` ("! refused" when it wrote nothing);
**   TCPCHAT_FILTER_REPLACE  go ahead with what the filter wrote into `text` instead (the line, the
**                           nick, the room); for a COMMAND: its sender alone gets "* TEXT";
**   TCPCHAT_FILTER_DROP     the host took it (e.g. a custom command it answered with
**                           tcpchat_server_send()): nothing happens and nobody is told.
** Any other value is taken as REJECT. `text` is a buffer of `size` bytes (at least 1024, and
** at least max_line + 1) holding "" when the filter is called: write a NUL-terminated string
** into it (it is cut at size - 1 bytes). An unknown command that no filter takes gets "! unknown
** command /NAME, try /help", as without a filter.
** Custom command:  if (e->kind == TCPCHAT_EVENT_COMMAND && starts_with(e->text, "/roll"))
**                      { tcpchat_server_say(server, room, "dice", "..."); return TCPCHAT_FILTER_DROP; }
** Moderation:      on SAID, copy e->text with the bad words masked into text, return REPLACE.
** Authentication:  reject a nick with REJECT on RENAMED; a connection by address with
**   filter_connection. A password given as the first line: keep a set of ids that have not
**   logged in yet (add on TCPCHAT_EVENT_CONNECTED); while an id is in it, the filter REJECTs
**   (or DROPs) everything, except the SAID or COMMAND line that holds the password, on which
**   it removes the id and DROPs the line (tcpchat_server_kick() those that fail).
** The filter may call the host control functions below (send, kick, say, ...).
*/
#define TCPCHAT_FILTER_ACCEPT  0
#define TCPCHAT_FILTER_REJECT  1
#define TCPCHAT_FILTER_REPLACE 2
#define TCPCHAT_FILTER_DROP    3

/*
** tcpchat_server_config -- how to create a server. Always call tcpchat_server_config_init()
** first: it sets struct_size and every field to its default, and fields added in later versions
** get their defaults that way without breaking your code (see GROWING STRUCTS above). The library
** copies what it needs during tcpchat_server_create(); the struct and its strings may be freed
** afterwards. Fields are added only at the end.
*/
typedef struct tcpchat_server_config {
    /* sizeof(tcpchat_server_config) in the program that made it: set by
    ** tcpchat_server_config_init(); leave it alone. (Added in 1.0.0, as the first field.) */
    size_t struct_size;
    /* Address to bind, e.g. "127.0.0.1", "::1" or a host name; NULL or "" = all interfaces
    ** (IPv6 and IPv4). Default NULL. */
    const char *host;
    /* TCP port, 0-65535; 0 = any free port (read it with tcpchat_server_port()).
    ** Default 6789. */
    int port;
    /* Most clients at once, >= 1; the next one gets an error line and is closed.
    ** Default 10000. */
    int max_clients;
    /* Longest line a client may send, in bytes without its LF, 16 to 16 MiB; a longer line is
    ** discarded and its sender gets an error line. Default 4096. */
    int max_line;
    /* Unsent output allowed per client in bytes, at least 8 * max_line; each queued line counts
    ** its bytes plus 80 for bookkeeping, so this bounds memory. A client past it (one that does
    ** not read) is disconnected, and its room is told why. Default 262144. */
    int max_queue;
    /* Lines each room keeps and replays to people who join, 0-10000. Default 20. */
    int history;
    /* Rooms with more members than this do not announce joins, leaves and nick changes (chat
    ** and /me are always relayed), >= 0; 0 = always announce. Default 1000. */
    int announce_limit;
    /* Flood control: lines per second a client may send once its burst is spent, 0.001 to
    ** 1000000; a client over it is not dropped, the server reads from it more slowly. 0 = no limit.
    ** Default 10. */
    double lines_per_second;
    /* Flood control: lines a client may send at once before lines_per_second applies, >= 1.
    ** Default 20. */
    int burst_lines;
    /* Connections allowed from one IP address (loopback included), >= 0; 0 = no cap.
    ** Default 256. */
    int max_per_address;
    /* A client that sends no line within this many seconds of connecting is disconnected,
    ** 0 to 31536000 (a year); 0 = no deadline. Default 0. */
    int first_line_timeout_s;
    /* A client that sends nothing for this many seconds is disconnected, 0 to 31536000; 0 =
    ** never (TCP keepalive still finds dead peers). Default 0. */
    int idle_timeout_s;
    /* How to read client lines that are not valid UTF-8: "none" (invalid bytes become U+FFFD)
    ** or "gbk" (decode as GBK first). NULL = "none". Default NULL. */
    const char *fallback_encoding;
    /* How long a stop waits for queued output to reach clients before closing, in
    ** milliseconds, >= 0. Default 1000. */
    int shutdown_grace_ms;
    /* Called with each diagnostic at level <= log_level (TCPCHAT_LOG_...), on the loop
    ** thread -- except the "listening on ADDRESS" line, which comes on the thread that calls
    ** _bind, _start or _run, before it returns. `message` is valid only during the call.
    ** NULL = no logging. Default NULL. */
    void (*log)(int level, const char *message, void *user_data);
    /* The most detailed level passed to `log`. Default TCPCHAT_LOG_INFO. */
    int log_level;
    /* Called with every chat line a client of this server said in a room (not commands, not
    ** private messages, not lines relayed from other servers of a cluster), after it was
    ** relayed, on the loop thread. `room` (e.g. "#lobby"), `nick` and
    ** `text` are UTF-8 and valid only during the call. The callback may call
    ** tcpchat_server_broadcast(), e.g. to answer; it must not block for long, since every
    ** client waits while it runs. NULL = none. Default NULL. (Kept for 1.0 programs: on_event,
    ** added in 1.1.0, sees these lines as TCPCHAT_EVENT_SAID, and everything else clients do.) */
    void (*on_message)(const char *room, const char *nick, const char *text, void *user_data);
    /* Passed unchanged to every callback (log, on_message, and 1.1's on_event, filter and
    ** filter_connection). The library never dereferences it; it must
    ** stay valid for as long as callbacks can run (until tcpchat_server_destroy() returns).
    ** Default NULL. */
    void *user_data;
    /* Join a cluster: servers given the same Redis share rooms, nicks, private messages, /who,
    ** /rooms and history (docs/ARCHITECTURE.md, "Cluster"). "redis://HOST:PORT[/DB]", e.g.
    ** "redis://127.0.0.1:6379/0"; a malformed URL makes tcpchat_server_create() return
    ** TCPCHAT_EINVAL. The server serves even while Redis is unreachable (chat then stays on
    ** this server; clients are told, and told again when the link is back). NULL = serve alone.
    ** Default NULL. */
    const char *cluster;
    /* With `cluster`: seconds, 1-3600, after which the nicks and people of a server that stopped
    ** sending heartbeats (every third of it) expire, and the other servers announce that they
    ** left. Default 15. */
    int cluster_ttl_s;
    /* With `cluster`: bytes that may wait to be written to Redis, >= 65536; past it, lines are
    ** still relayed on this server but not published to the others until Redis catches up.
    ** Default 8388608. */
    int cluster_queue;
    /* -- Added in 1.1.0: events, filter, connect filter. -- */
    /* Called with every event of every connection (EVENTS above), on the loop thread. The
    ** event and its strings are valid only during the call. May call the host control
    ** functions; must not block for long (every client waits). NULL = none. Default NULL. */
    void (*on_event)(const tcpchat_event *event, void *user_data);
    /* Called before the server acts on what a client asked (FILTER above), on the loop thread;
    ** returns a TCPCHAT_FILTER_... verdict, writing a reason or replacement into `text` (a
    ** buffer of `size` bytes, holding "" on entry). NULL = accept everything. Default NULL. */
    int (*filter)(const tcpchat_event *event, char *text, size_t size, void *user_data);
    /* Called with each new connection's peer address (e.g. "127.0.0.1:50312"), before it is
    ** admitted and before any event of it, on the loop thread. Return 0 to admit it; anything
    ** else refuses it: the client gets "! REASON" (what the callback wrote into `reason`, a
    ** buffer of `size` >= 256 bytes holding "" on entry; "! refused" when empty) and is
    ** closed; no event is sent for it. NULL = admit everyone (the other caps still apply).
    ** Default NULL. */
    int (*filter_connection)(const char *address, char *reason, size_t size, void *user_data);
    /* Soft mark of unsent output per client in bytes, counted as for max_queue, >= 0; 0 = the
    ** default. While a client above it is still reading (its peer acknowledges data) but does
    ** not drain, the server stops reading from the clients whose lines are queued to it
    ** (backpressure: TCP slows them down) until it has drained to half the mark; a value >=
    ** max_queue turns the soft mark off (the hard cap alone applies). Default 65536. (Added in
    ** 1.1.0.) */
    int soft_queue;
    /* The soft time in milliseconds, 10 to 2000000000; 0 = the default. A client above
    ** soft_queue holds its senders back this long at most at a time; one that took less than
    ** soft_queue bytes in that time is disconnected as not reading (its room is told why).
    ** Default 10000. (Added in 1.1.0.) */
    int soft_queue_ms;
    /* -- Added in 1.1.0: IRC on the same port, the server password. -- */
    /* IRC on the same port: milliseconds a new connection has to send a first line that opens
    ** IRC (CAP, NICK, USER, PASS) before it is welcomed in the line protocol, 1 to 10000; 0 =
    ** the default (50); -1 = no IRC (the line protocol's welcome goes out at connect). */
    int irc_detection_ms;
    /* The server's name in IRC replies (":NAME 001 ..."): one word without ':'. NULL or "" =
    ** "tcpchat". (The tcpchat-server program defaults to the host name.) Default NULL. */
    const char *server_name;
    /* A password every client must give first, 1 to 256 bytes without spaces: IRC clients
    ** send PASS before NICK/USER (else 464 and ERROR, then closed); a line-protocol client's
    ** first line must be "/pass PASSWORD" (else one error line, then closed). Compared in
    ** constant time; copied at create. NULL or "" = no password. Default NULL. */
    const char *password;
    /* -- Added in 1.1.0: TLS (docs/PROTOCOL.md, "TLS"), a TLS listener beside the plaintext one,
    ** through the system's OpenSSL 3. Its connections speak the same protocols once their
    ** handshake is done. -- */
    /* PEM file of the server's certificate chain (its own certificate first, then the
    ** intermediates) and PEM file of its private key (unencrypted). Both set: a TLS listener on
    ** tls_port (TLS 1.2 or later, OpenSSL's default ciphers); a file that cannot be loaded, or a
    ** key that does not match, makes tcpchat_server_create() return TCPCHAT_EINVAL (the log
    ** callback hears why). Both NULL: no TLS. Read again by tcpchat_server_reload_tls().
    ** Default NULL. */
    const char *tls_cert;
    const char *tls_key;
    /* The TLS listener's port, 1-65535, or TCPCHAT_TLS_PORT_ANY for any free port (read it
    ** with tcpchat_server_tls_port()); 0 = the default, 6697. */
    int tls_port;
    /* Nonzero: no plaintext listener, TLS only (needs tls_cert and tls_key); tcpchat_server_port()
    ** then returns the TLS port. Default 0. */
    int tls_only;
    /* A TLS connection that has not completed its handshake within this many milliseconds is
    ** closed (a client that stalls in the handshake holds nothing longer), 1 to 3600000, or
    ** TCPCHAT_TLS_NO_DEADLINE; 0 = the default, 10000. */
    int tls_handshake_timeout_ms;
    /* Always 0 (it makes the struct end on a field). */
    int reserved_tls;
    /* -- Added in 1.1.0: accounts (docs/PROTOCOL.md, "Accounts"): /register PASSWORD,
    ** /identify [NICK] PASSWORD, /ghost NICK PASSWORD; a registered nick (or a look-alike) held
    ** by someone else is theirs for nick_grace_ms, then they are renamed to a guest. Passwords
    ** are hashed with scrypt on a worker thread of the server's (started when it serves,
    ** joined when it stops); the host sees TCPCHAT_EVENT_IDENTIFIED. -- */
    /* The SQLite database of the accounts, created (mode 0600) when missing; NULL = no
    ** accounts. A file that cannot be used (corrupt, not a database, unreadable, a newer
    ** schema) makes tcpchat_server_create() return TCPCHAT_EINVAL, and the log callback hears
    ** which file and what SQLite said. With `cluster` set: TCPCHAT_EINVAL (a cluster keeps
    ** its accounts in Redis: cluster_accounts). Default NULL. */
    const char *accounts_path;
    /* Nonzero: accept passwords over plaintext connections from any peer. 0: only over TLS,
    ** or from the peers of plaintext_password_networks. Default 0. */
    int allow_plaintext_passwords;
    /* Milliseconds someone holding a registered nick they have not identified to has before
    ** being renamed to a guest, 1 to 86400000; 0 = the default, 30000. */
    int nick_grace_ms;
    /* Peers that may send passwords over plaintext anyway: comma-separated CIDR ranges (e.g.
    ** "10.0.0.0/8,fd00::/8"); "" = none; NULL = the default, loopback ("127.0.0.0/8,::1/128"). */
    const char *plaintext_password_networks;
    /* Account requests (password hashing, the database) that may wait for the worker; past it
    ** a request is answered "server busy, try again in a moment". 0 = the default, 64. */
    int account_queue;
    /* Accounts one IP address may register per hour; TCPCHAT_NO_CAP = no cap; 0 = the
    ** default, 3. */
    int registrations_per_hour;
    /* IP addresses whose failed logins and registrations are remembered for an hour; past it
    ** the least recently seen is forgotten. 0 = the default, 4096. */
    int account_addresses;
    /* scrypt's cost, log2(N) with r = 8, p = 1: 10 to 22 (15 = 32 MiB and about 0.1 s per
    ** password); raising it rehashes each password at its owner's next identify. 0 = the
    ** default, 15. */
    int scrypt_cost;
    /* -- Added in 1.1.0: accounts in a cluster (branch acct-irc). -- */
    /* Nonzero, with `cluster`: accounts (as above, the same limits and scrypt settings) kept
    ** in the cluster's Redis, a hash per account, so that every server agrees; accounts_path
    ** must then be NULL. Without `cluster`: TCPCHAT_EINVAL. While the server is cut off from
    ** Redis, account commands are answered "accounts are unavailable while the server is cut
    ** off from the cluster; try again". Default 0. */
    int cluster_accounts;
    /* Always 0 (it makes the struct end on a field). */
    int reserved_cluster_accounts;
    /* (Fields added after 1.1.0 go here, each with the version that added it. A field added
    ** later must take its default when it is zero, so that a program built with this header
    ** and run with an older 1.x library can leave it zero.) */
} tcpchat_server_config;

/*
** tcpchat_server_config_init -- sets config->struct_size to the size of the struct this
** program was compiled with, and every field to its default (listed above).
**
** A macro (as zlib's deflateInit()): it passes sizeof(tcpchat_server_config) of the header the
** program is compiled with to tcpchat_server_config_init_sized(), so existing code
** `tcpchat_server_config_init(&config);` keeps compiling and becomes size-aware. NULL is a
** no-op. Any thread.
*/
#define tcpchat_server_config_init(config) \
    tcpchat_server_config_init_sized((config), sizeof(tcpchat_server_config))

/*
** tcpchat_server_config_init_sized -- what tcpchat_server_config_init() calls: writes the
** defaults into the first `size` bytes of *config, and no byte beyond them. Fields this library
** knows get their defaults; bytes past the fields it knows (a program built with a later
** header) are set to zero, which every later field takes as its default. struct_size is set to
** `size`. Call it through the macro; call it directly only with the sizeof of the struct the
** memory holds.
**
** NULL, or a size smaller than struct_size itself, is a no-op. Any thread. (Added in 1.0.0.)
*/
void tcpchat_server_config_init_sized(tcpchat_server_config *config, size_t size);

/*
** tcpchat_server_create -- creates a server from *config. It does not bind or serve yet.
**
** On success *out is a new server the caller owns; free it with tcpchat_server_destroy().
** On failure *out is left unchanged. The config and its strings are copied (the callbacks and
** user_data are kept as they are).
**
** It reads only the config->struct_size bytes the caller's struct has: fields past them (added
** after the caller's header) take their defaults.
**
** Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when config or out is NULL, or a field is out of its range (the comments
**     above give each range), or fallback_encoding is not "none" or "gbk", or cluster is not a
**     valid redis:// URL; or config->struct_size does not end where a field of the struct
**     starts or ends (the struct was not made by tcpchat_server_config_init()), or it is
**     larger than this library's struct and a field this library does not know is not zero
**     (the program needs a later libtcpchat). In each case, when config->log is set, it is first called at
**     TCPCHAT_LOG_ERROR with the reason (e.g. "invalid configuration: max_line must be
**     16...16777216"), on the calling thread, before this function returns;
**   TCPCHAT_ESYSTEM when the event loop could not be made (e.g. out of descriptors).
*/
int tcpchat_server_create(const tcpchat_server_config *config, tcpchat_server **out);

/*
** tcpchat_server_bind -- binds and listens now, without serving yet.
**
** Optional: _start and _run bind when not bound. Calling it first lets a host learn the port
** (tcpchat_server_port()), or fail on a port in use, before it commits a thread to _run.
** Clients may connect once it returns; they are served when the server starts. Binding a
** server that was bound before (even one that has since stopped) does nothing and returns
** TCPCHAT_OK. Not concurrently with _start or _run.
**
** Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when server is NULL;
**   TCPCHAT_ERESOLVE when config.host cannot be resolved;
**   TCPCHAT_EADDRINUSE when that port is in use on that address;
**   TCPCHAT_ESYSTEM for any other failure (errno says which, e.g. EACCES, EADDRNOTAVAIL).
*/
int tcpchat_server_bind(tcpchat_server *server);

/*
** tcpchat_server_start -- binds (if needed) and serves on a new thread of its own; returns
** once the server listens. Stop it with tcpchat_server_stop(), then tcpchat_server_wait().
**
** A server serves once: a second _start or _run fails with TCPCHAT_ESTATE, even after a
** stop. A server stopped before it started returns from serving at once.
**
** Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when server is NULL;
**   TCPCHAT_ESTATE when the server was already started or run;
**   TCPCHAT_ERESOLVE, TCPCHAT_EADDRINUSE, TCPCHAT_ESYSTEM as for tcpchat_server_bind()
**     (TCPCHAT_ESYSTEM also when the thread could not be created).
*/
int tcpchat_server_start(tcpchat_server *server);

/*
** tcpchat_server_run -- binds (if needed) and serves on the calling thread, which becomes the
** loop thread (callbacks run on it), until tcpchat_server_stop() is called from another
** thread or from a callback. Every client has been sent its goodbye and closed when it
** returns.
**
** Returns TCPCHAT_OK after a stop; otherwise the codes of tcpchat_server_start(), returned
** at once without serving.
*/
int tcpchat_server_run(tcpchat_server *server);

/*
** tcpchat_server_port -- the TCP port the server is bound to: the one it was given, or the
** one the system chose for port 0.
**
** Any thread. Returns the port (1-65535);
**   TCPCHAT_EINVAL when server is NULL;
**   TCPCHAT_ESTATE when the server is not bound yet (before _bind, _start or _run).
*/
int tcpchat_server_port(const tcpchat_server *server);

/* tcpchat_server_config.tls_port: any free port. (Added in 1.1.0, TLS.) */
#define TCPCHAT_TLS_PORT_ANY (-1)
/* tcpchat_server_config.registrations_per_hour: no cap. (Added in 1.1.0.) */
#define TCPCHAT_NO_CAP (-1)
/* tcpchat_server_config.tls_handshake_timeout_ms: no deadline. (Added in 1.1.0, TLS.) */
#define TCPCHAT_TLS_NO_DEADLINE (-1)

/*
** tcpchat_server_tls_port -- the TCP port of the server's TLS listener (the one it was given,
** or the one the system chose for TCPCHAT_TLS_PORT_ANY).
**
** Any thread. Returns the port (1-65535);
**   TCPCHAT_EINVAL when server is NULL;
**   TCPCHAT_ESTATE when the server is not bound yet, or has no TLS listener.
** (Added in 1.1.0, TLS.)
*/
int tcpchat_server_tls_port(const tcpchat_server *server);

/*
** tcpchat_server_reload_tls -- loads the TLS certificate chain and key again from the files
** tcpchat_server_config named (e.g. after a renewal): connections made from now on use them,
** the open ones keep theirs. The library installs no signal handler; a host that wants
** "SIGHUP reloads" (as tcpchat-server does) calls this from its own handling. The files are read
** on the calling thread.
**
** Any thread, also from a callback. Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when server is NULL, or a file cannot be loaded or the key does not match
**     the certificate: the server keeps the certificate it had, and the log callback is told
**     why at TCPCHAT_LOG_ERROR;
**   TCPCHAT_ESTATE when the server has no TLS listener.
** (Added in 1.1.0, TLS.)
*/
int tcpchat_server_reload_tls(tcpchat_server *server);

/*
** tcpchat_server_broadcast -- sends the notice "* text" to everyone in `room` (e.g.
** "#lobby"; rooms are matched without regard to case), or in every room when room is NULL.
**
** Any thread, including callbacks; it runs on the loop thread (see HOST CONTROL: from another
** thread the call waits until the loop has run it). `text` is UTF-8 (invalid bytes become
** U+FFFD); terminal escape sequences and control characters other than TAB are removed from it.
** `room` and `text` are copied. In a cluster (config.cluster), it reaches this server's clients
** only: each host speaks for its own server.
**
** Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when server or text is NULL;
**   TCPCHAT_ENOTFOUND when there is no room `room` on this server (1.0 returned TCPCHAT_OK);
**   TCPCHAT_ESTATE when the server is not serving (not started yet, or stopped and finished;
**     1.0 returned TCPCHAT_OK and sent nothing).
*/
int tcpchat_server_broadcast(tcpchat_server *server, const char *room, const char *text);

/*
** tcpchat_server_stop -- asks the server to stop: it stops accepting, every client is sent
** "* server shutting down, goodbye", queued output is flushed (for up to
** config.shutdown_grace_ms), every socket is closed, and then _run returns or the thread of
** _start ends (see tcpchat_server_wait()).
**
** Any thread, including callbacks; but not from a signal handler (it takes a lock and
** allocates): have the handler write to a pipe, or use sigwait() on a thread of yours.
** Returns at once, without waiting. Idempotent: stopping a stopped server does nothing.
**
** Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when server is NULL.
*/
int tcpchat_server_stop(tcpchat_server *server);

/*
** tcpchat_server_wait -- waits until the thread tcpchat_server_start() created has finished
** (after tcpchat_server_stop()). Returns at once when the server was not started with _start
** or was already waited for.
**
** Not from a callback (the loop thread would wait for itself). Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when server is NULL;
**   TCPCHAT_EMISUSE when called from one of this server's callbacks (it does not wait).
*/
int tcpchat_server_wait(tcpchat_server *server);

/*
** tcpchat_server_destroy -- stops the server if it runs (as _stop does, then waits as _wait
** does), and frees it. After it returns no callback runs any more, and user_data may be
** freed.
**
** NULL is a no-op. Called from one of this server's own callbacks it does nothing (it cannot
** return a code: it logs the misuse at TCPCHAT_LOG_ERROR and returns). A server served by _run must have returned from
** _run first (stop it, and let _run return, before destroying it). A host-driven server
** should be stopped and polled until TCPCHAT_ECLOSED first: destroying it while it serves
** closes every connection at once, without the goodbye.
*/
void tcpchat_server_destroy(tcpchat_server *server);

/*
** HOST-DRIVEN SERVING. Instead of _start or _run, a host with its own poll/select/epoll loop
** can serve from that loop, on its own thread (which then is the loop thread: callbacks run
** there, inside tcpchat_server_poll()), in the manner of libuv's uv_backend_fd():
**
**     int fd = tcpchat_server_fd(server);
**     while ((rc = tcpchat_server_poll(server, 0)) == TCPCHAT_OK) {
**         ...poll() on fd (POLLIN) and your own descriptors, waiting no longer than
**            tcpchat_server_timeout(server); then handle your descriptors...
**     }
**     (rc is TCPCHAT_ECLOSED once the server was stopped and has finished)
**
** tcpchat_server_stop() and _broadcast() work as always, from any thread: they make fd
** readable. A server is served one way only: _start, _run, or _poll.
*/

/*
** tcpchat_server_fd -- the server's event descriptor (an epoll descriptor): readable when
** tcpchat_server_poll() has work to do. The server owns it; only poll/select/epoll on it.
** Valid until tcpchat_server_destroy(). Any thread.
**
** Returns the descriptor (>= 0); TCPCHAT_EINVAL when server is NULL.
*/
int tcpchat_server_fd(const tcpchat_server *server);

/*
** tcpchat_server_timeout -- for host-driven serving: the longest the host may wait on
** tcpchat_server_fd() before calling tcpchat_server_poll() anyway (a timer of the server is
** due then), in milliseconds; -1 when no timer is pending (wait as long as you like).
** The driving thread only.
**
** Returns the milliseconds (>= 0), or -1 (also when server is NULL) -- ready to pass to
** poll() as its timeout.
*/
int tcpchat_server_timeout(const tcpchat_server *server);

/*
** tcpchat_server_poll -- host-driven serving: does the work that is ready (accepts, reads,
** relays, writes, timers, and the requests of _stop and _broadcast), waiting up to
** timeout_ms for some if there is none (0 = do not wait; negative = wait for ever). The first
** call binds (if needed) and claims the server as _run would. Call it from one thread only.
**
** Returns TCPCHAT_OK while the server serves;
**   TCPCHAT_ECLOSED once it was stopped and has finished (every client said goodbye to and
**     closed, as when _run returns), and on every later call;
**   TCPCHAT_EINVAL when server is NULL;
**   TCPCHAT_ESTATE when the server is served by _start or _run;
**   TCPCHAT_EMISUSE when called from one of this server's own callbacks (nothing is run);
**   TCPCHAT_ERESOLVE, TCPCHAT_EADDRINUSE, TCPCHAT_ESYSTEM on the first call, as for
**     tcpchat_server_bind().
*/
int tcpchat_server_poll(tcpchat_server *server, int timeout_ms);

/*
** HOST CONTROL (added in 1.1.0). The host steers its server: a line to one connection or nick,
** kick, list rooms and members, speak as a bot. Each of these functions may be called from any
** thread, and from the server's callbacks. On the loop thread (in a callback, or on the thread
** of a host-driven server between two _poll calls) it acts at once; from another thread it is
** handed to the loop thread (as _stop is) and waits there until the loop has run it, so it
** returns the real answer. Such a call waits for a host-driven server's next _poll: do not call
** it from another thread while holding something the polling thread waits for. Each returns
** TCPCHAT_ESTATE when the server is not serving (not started yet, or stopped and finished), and
** TCPCHAT_EINVAL when server or a string is NULL. In a cluster they see and reach this server's
** clients only. Strings passed in are copied; text is cleaned as for tcpchat_server_broadcast().
*/

/*
** tcpchat_server_send -- sends the notice "* text" to connection `id` alone (an id from an
** event). Any thread. Returns TCPCHAT_OK; TCPCHAT_ENOTFOUND when no registered connection has
** that id (it closed, or is closing); TCPCHAT_EINVAL, TCPCHAT_ESTATE (HOST CONTROL).
*/
int tcpchat_server_send(tcpchat_server *server, unsigned long long id, const char *text);

/*
** tcpchat_server_send_nick -- sends the notice "* text" to whoever has `nick` (matched without
** regard to case) on this server. Any thread. Returns TCPCHAT_OK; TCPCHAT_ENOTFOUND when nobody
** here has that nick; TCPCHAT_EINVAL, TCPCHAT_ESTATE (HOST CONTROL).
*/
int tcpchat_server_send_nick(tcpchat_server *server, const char *nick, const char *text);

/*
** tcpchat_server_lookup -- the connection id of whoever has `nick` on this server, into *id
** (written only on success). Any thread. Returns TCPCHAT_OK; TCPCHAT_ENOTFOUND when nobody here
** has that nick; TCPCHAT_EINVAL when id is NULL; TCPCHAT_ESTATE (HOST CONTROL).
*/
int tcpchat_server_lookup(tcpchat_server *server, const char *nick, unsigned long long *id);

/*
** tcpchat_server_kick -- disconnects connection `id`: it is sent "! you were kicked: REASON",
** its room hears "* NICK left (kicked: REASON)", and it is closed once that is sent (events:
** LEFT with reason "kicked: REASON", then DISCONNECTED). Any thread. Returns TCPCHAT_OK;
** TCPCHAT_ENOTFOUND when no registered connection has that id; TCPCHAT_EINVAL when reason is
** NULL; TCPCHAT_ESTATE (HOST CONTROL).
*/
int tcpchat_server_kick(tcpchat_server *server, unsigned long long id, const char *reason);

/*
** tcpchat_server_rooms -- a snapshot of the names of this server's rooms, sorted: *rooms
** becomes a NULL-terminated array of NUL-terminated UTF-8 strings. OWNERSHIP: the caller owns
** the snapshot, one block holding the array and its strings, and frees it with exactly one
** tcpchat_list_free() (not free(): the library's allocator is its own business). It does not
** change when rooms come and go. *rooms is written only on success. Any thread.
** Returns the number of rooms (>= 1: #lobby always exists); TCPCHAT_EINVAL when rooms is NULL;
** TCPCHAT_ESTATE (HOST CONTROL); TCPCHAT_ESYSTEM when out of memory.
*/
int tcpchat_server_rooms(tcpchat_server *server, char ***rooms);

/*
** tcpchat_server_members -- a snapshot of the nicks in `room` on this server, in the order they
** joined, as a NULL-terminated array like tcpchat_server_rooms() (same ownership: free it with
** tcpchat_list_free()). Any thread. Returns the number of members (0 for an empty #lobby);
** TCPCHAT_ENOTFOUND when there is no such room; TCPCHAT_EINVAL when room or nicks is NULL;
** TCPCHAT_ESTATE (HOST CONTROL); TCPCHAT_ESYSTEM when out of memory.
*/
int tcpchat_server_members(tcpchat_server *server, const char *room, char ***nicks);

/*
** tcpchat_list_free -- frees a snapshot made by tcpchat_server_rooms() or _members(). NULL is a
** no-op. Any thread.
*/
void tcpchat_list_free(char **list);

/*
** tcpchat_server_say -- says `text` in `room` as the bot `bot` (a nick: 1-32 letters, digits, _
** or -, in one script; compared and shown as docs/PROTOCOL.md "Names" says, so a fullwidth
** name is shown in ordinary letters). Everyone in the room, and the room's history, gets the
** chat line "<@BOT> text": the '@' is in no person's nick, so clients can tell a bot from a
** person (docs/PROTOCOL.md). The first call reserves the nick for the host: from then on no
** client may take it, nor a nick that looks like it. No event is sent for it. Any thread.
** Returns TCPCHAT_OK;
**   TCPCHAT_ENOTFOUND when there is no room `room`;
**   TCPCHAT_EINVAL when bot is not a valid nick, or a NULL argument;
**   TCPCHAT_ESTATE when a client has the nick `bot` or one that looks like it (choose another),
**   or as in HOST CONTROL.
*/
int tcpchat_server_say(tcpchat_server *server, const char *room, const char *bot, const char *text);

/* ========================================================================================= */
/* Client                                                                                     */
/* ========================================================================================= */

/*
** A connection to a chat server, framed by line. Opaque; created by tcpchat_client_connect(),
** freed by tcpchat_client_close().
**
** THREADING. tcpchat_client_send() and tcpchat_client_shutdown() may be called from any
** thread, also while another thread is in tcpchat_client_recv(). Receiving
** (tcpchat_client_recv(), _needed_size()) belongs to one thread at a time.
** tcpchat_client_close() must not run at the same time as any other call on that client.
**
** NEVER BLOCKING (added in 1.1.0), in the manner of libcurl's multi interface: connect with
** tcpchat_client_connect_start(), send with tcpchat_client_try_send(), and in your poll loop
** wait for tcpchat_client_events() on tcpchat_client_fd() (no longer than
** tcpchat_client_timeout()); when the descriptor is writable (or the timeout passed) call
** tcpchat_client_flush(), when readable tcpchat_client_recv(client, buf, size, 0) until
** TCPCHAT_ETIMEDOUT:
**
**     rc = tcpchat_client_connect_start("127.0.0.1", port, &options, &client);
**     for (;;) {
**         struct pollfd fds[2] = {{tcpchat_client_fd(client), (short)tcpchat_client_events(client), 0},
**                                 {0, POLLIN, 0}};          (stdin, or your own descriptors)
**         poll(fds, 2, tcpchat_client_timeout(client));
**         rc = tcpchat_client_flush(client);               (connects, writes what is queued)
**         if (rc != TCPCHAT_OK && rc != TCPCHAT_EAGAIN) break;   (refused, timed out, reset)
**         while ((rc = tcpchat_client_recv(client, line, sizeof line, 0)) >= 0) puts(line);
**         ... read stdin; tcpchat_client_try_send(client, typed) == TCPCHAT_EAGAIN means the
**             server is not reading: keep the line and try again later ...
**     }
**
** The blocking calls keep working on such a client once it is connected (a blocking send
** first writes whatever try_send queued, so lines keep their order).
**
** TWO WAYS TO RECEIVE. Block in tcpchat_client_recv() with a timeout; or watch
** tcpchat_client_fd() in your own poll/select/epoll loop and, each time it is readable, call
** tcpchat_client_recv(client, buf, size, 0) until it returns TCPCHAT_ETIMEDOUT -- one read
** can bring several lines, and the ones not yet returned are buffered where poll cannot see
** them.
*/
typedef struct tcpchat_client tcpchat_client;

/*
** tcpchat_client_options -- how tcpchat_client_connect_ex() connects. Made like
** tcpchat_server_config (see GROWING STRUCTS above): always tcpchat_client_options_init() it
** first, then set what you need. Options added later (TLS, for one) are added at the end.
** Only read during tcpchat_client_connect_ex(). (Added in 1.0.0.)
*/
typedef struct tcpchat_client_options {
    /* sizeof(tcpchat_client_options) in the program that made it: set by
    ** tcpchat_client_options_init(); leave it alone. */
    size_t struct_size;
    /* The longest the whole connection attempt may take (every address the host name
    ** resolves to, not the name lookup itself), in milliseconds, >= 0; after it
    ** tcpchat_client_connect_ex() returns TCPCHAT_ETIMEDOUT. 0 = as long as the system allows
    ** (Linux: about two minutes per address). Default 0. */
    int connect_timeout_ms;
    /* Always 0: it makes the struct end on a field (see GROWING STRUCTS). A later release may
    ** turn it into an option whose default is 0. */
    int reserved_1_0;
    /* -- Added in 1.1.0: the non-blocking client. -- */
    /* Bytes tcpchat_client_try_send() may queue while the server does not take them, 1 to
    ** 16777216; past it, try_send returns TCPCHAT_EAGAIN and queues nothing. 0 = the default,
    ** 65536. */
    int send_queue_bytes;
    /* Always 0 (it makes the struct end on a field). */
    int reserved_1_1;
    /* -- Added in 1.1.0: TLS (OpenSSL 3; docs/PROTOCOL.md, "TLS"). -- */
    /* Nonzero: connect with TLS. The server's certificate is verified: issued by a CA in
    ** tls_ca_file (or, when it is NULL, the system's trust store), valid now, and for
    ** tls_server_name (or `host`); a failed check fails the connect with TCPCHAT_ETLS.
    ** With tcpchat_client_connect_start() the handshake goes on in tcpchat_client_flush() once
    ** TCP is connected (TCPCHAT_EAGAIN meanwhile; tcpchat_client_events() says which way to
    ** wait; connect_timeout_ms covers it too); a failed check makes flush return TCPCHAT_ETLS,
    ** and tcpchat_client_last_error() says why. Default 0. */
    int tls;
    /* Nonzero (with tls): do not verify the server's certificate. Anyone in the middle can then
    ** read and change everything; for tests. Default 0. */
    int tls_insecure;
    /* PEM file of the CA certificates to trust instead of the system's (a private CA, or a
    ** self-signed server's own certificate). NULL = the system's trust store. Default NULL. */
    const char *tls_ca_file;
    /* The name sent to the server (SNI) and checked against its certificate; NULL = `host`. An
    ** IP address is checked against the certificate's IP addresses. Default NULL. */
    const char *tls_server_name;
    /* Where a failed tcpchat_client_connect_ex() writes why, as a sentence (e.g. "the server's
    ** certificate has expired (it was valid until ...)"), NUL-terminated and cut to error_size
    ** bytes; NULL = nowhere. Written only when the connect fails, during the call (a
    ** non-blocking connect that fails later: tcpchat_client_last_error()). Default NULL, 0. */
    char *error;
    size_t error_size;
} tcpchat_client_options;

/*
** tcpchat_client_options_init -- sets options->struct_size to the size of the struct this
** program was compiled with, and every field to its default (listed above). A macro over
** tcpchat_client_options_init_sized(), as tcpchat_server_config_init() is. NULL is a no-op.
** Any thread.
*/
#define tcpchat_client_options_init(options) \
    tcpchat_client_options_init_sized((options), sizeof(tcpchat_client_options))

/*
** tcpchat_client_options_init_sized -- what tcpchat_client_options_init() calls: writes the
** defaults into the first `size` bytes of *options and no byte beyond them, as
** tcpchat_server_config_init_sized() does. NULL, or a size smaller than struct_size itself, is
** a no-op. Any thread. (Added in 1.0.0.)
*/
void tcpchat_client_options_init_sized(tcpchat_client_options *options, size_t size);

/*
** tcpchat_client_connect -- connects to a chat server at host:port (a name or an IPv4/IPv6
** address; every address the name resolves to is tried in turn). Blocks until connected or
** refused.
**
** On success *out is a new client the caller owns; free it with tcpchat_client_close(). On
** failure *out is left unchanged. `host` is only read during the call. Any thread.
**
** Returns TCPCHAT_OK;
**   TCPCHAT_EINVAL when host or out is NULL, or port is not 1-65535;
**   TCPCHAT_ERESOLVE when host cannot be resolved;
**   TCPCHAT_ECONNREFUSED when nobody listens there;
**   TCPCHAT_ETIMEDOUT when the connection attempt timed out;
**   TCPCHAT_ESYSTEM for any other failure (errno says which, e.g. ENETUNREACH).
*/
int tcpchat_client_connect(const char *host, int port, tcpchat_client **out);

/*
** tcpchat_client_connect_ex -- tcpchat_client_connect() with options: connects to host:port
** as *options says. NULL options = every default (then it is tcpchat_client_connect()). It
** reads only the options->struct_size bytes the caller's struct has; options added after the
** caller's header take their defaults. `options` is only read during the call. Any thread.
** (Added in 1.0.0.)
**
** Returns the codes of tcpchat_client_connect(), and
**   TCPCHAT_EINVAL also when an option is out of its range (reserved_1_0 not 0 included), or
**     options->struct_size is not that of a struct made by tcpchat_client_options_init(), or
**     it is larger than this library's struct and an option this library does not know is not
**     zero;
**   TCPCHAT_ETIMEDOUT when connect_timeout_ms passed before a connection was made.
*/
int tcpchat_client_connect_ex(const char *host, int port, const tcpchat_client_options *options,
                              tcpchat_client **out);

/*
** tcpchat_client_connect_start -- starts connecting to host:port and returns at once, without
** waiting for the connection (non-blocking connect). On TCPCHAT_OK *out is a client that is
** still connecting: drive it with tcpchat_client_flush() each time tcpchat_client_fd() is
** writable or tcpchat_client_timeout() has passed, until flush returns TCPCHAT_OK (connected)
** or a failure. Every address the name resolves to is tried in turn, within
** options->connect_timeout_ms for all of them (0 = the system's limit). The descriptor number
** stays the same while the addresses are tried, but it may then refer to a new socket: a
** poll()/select() loop need do nothing; an epoll loop should add it again once flush returned
** TCPCHAT_OK. Lines given to tcpchat_client_try_send() meanwhile are queued and sent once
** connected; tcpchat_client_recv() returns TCPCHAT_ETIMEDOUT until then, and blocking sends
** return TCPCHAT_EAGAIN.
**
** A numeric address ("127.0.0.1", "::1") is used at once. A host name is resolved on a worker
** thread the library starts for it (getaddrinfo may wait for the network; the caller never
** does): meanwhile tcpchat_client_events() asks for POLLIN on tcpchat_client_fd() (an eventfd
** that becomes readable when the addresses are known) and flush() returns TCPCHAT_EAGAIN, or
** TCPCHAT_ERESOLVE when the name cannot be resolved. connect_timeout_ms then covers the name
** lookup too (a lookup still running at the deadline is left to finish on its thread, and
** flush() returns TCPCHAT_ETIMEDOUT). The worker ends on its own once getaddrinfo returns, even
** when the client was closed meanwhile; it touches nothing of the caller's. Any thread.
** (Added in 1.1.0.)
**
** Returns TCPCHAT_OK; the codes of tcpchat_client_connect_ex() for what fails at once
** (TCPCHAT_EINVAL, TCPCHAT_ECONNREFUSED when every address refused at once, TCPCHAT_ESYSTEM,
** e.g. when the worker thread could not be started).
*/
int tcpchat_client_connect_start(const char *host, int port, const tcpchat_client_options *options,
                                 tcpchat_client **out);

/*
** tcpchat_client_try_send -- queues `line` and a LF and writes what the socket takes now, never
** blocking. The queue holds up to options.send_queue_bytes (default 65536); a line that does
** not fit is not queued at all, and TCPCHAT_EAGAIN is returned: the server is not reading fast
** enough -- keep the line, wait until tcpchat_client_events() no longer has POLLOUT (call
** tcpchat_client_flush() when writable) and try again. A line containing LF is sent as several
** lines. `line` is only read during the call. Any thread. (Added in 1.1.0.)
**
** Returns TCPCHAT_OK (queued; maybe already written);
**   TCPCHAT_EAGAIN when the queue has no room for the line (nothing was queued);
**   TCPCHAT_EINVAL when client or line is NULL, or the line alone is larger than the queue;
**   TCPCHAT_ECLOSED, TCPCHAT_ERESET, TCPCHAT_ESYSTEM as for tcpchat_client_send().
*/
int tcpchat_client_try_send(tcpchat_client *client, const char *line);

/*
** tcpchat_client_events -- the poll() events to wait for on tcpchat_client_fd(): POLLIN (of
** <poll.h>) while connected, plus POLLOUT while output is queued; while connecting POLLOUT
** alone (POLLIN alone while a host name is being resolved). Any
** thread. Returns the events (> 0), or TCPCHAT_EINVAL when client is NULL. (Added in 1.1.0.)
*/
int tcpchat_client_events(const tcpchat_client *client);

/*
** tcpchat_client_flush -- moves the client on without blocking: finishes a connection started
** with tcpchat_client_connect_start() (or tries the next address, or times out), then writes
** what is queued as far as the socket takes it. Call it when tcpchat_client_fd() is writable,
** or when tcpchat_client_timeout() has passed. Any thread. (Added in 1.1.0.)
**
** Returns TCPCHAT_OK when connected and nothing is queued any more;
**   TCPCHAT_EAGAIN when still connecting, or output is still queued (wait for POLLOUT);
**   TCPCHAT_EINVAL when client is NULL;
**   TCPCHAT_ETIMEDOUT when connecting took longer than connect_timeout_ms;
**   TCPCHAT_ERESOLVE when the host name could not be resolved;
**   TCPCHAT_ECONNREFUSED, TCPCHAT_ESYSTEM when connecting failed (every address tried);
**   TCPCHAT_ECLOSED, TCPCHAT_ERESET, TCPCHAT_ESYSTEM as for tcpchat_client_send().
** After a failure to connect, every call returns the same code; close the client.
*/
int tcpchat_client_flush(tcpchat_client *client);

/*
** tcpchat_client_timeout -- how long a poll loop may wait before calling tcpchat_client_flush()
** anyway, in milliseconds: the time left until connect_timeout_ms while connecting, -1 when
** nothing is due (wait as long as you like). Any thread. Returns the milliseconds (>= 0) or -1
** (also when client is NULL) -- ready to pass to poll(). (Added in 1.1.0.)
*/
int tcpchat_client_timeout(const tcpchat_client *client);

/*
** tcpchat_client_last_error -- why the non-blocking connect of tcpchat_client_connect_start()
** failed, as a sentence (e.g. after tcpchat_client_flush() returned TCPCHAT_ETLS: "TLS with
** HOST:PORT failed: the server's certificate is self-signed ..."), or "" when it did not fail
** (or the failure has no more to say than its code). Owned by the client, valid until the next
** call on it; NULL gives "". From the thread that calls tcpchat_client_flush() (it writes the
** text). (Added in 1.1.0, TLS.)
*/
const char *tcpchat_client_last_error(const tcpchat_client *client);

/*
** tcpchat_client_send -- sends `line` and a LF: chat for your room, or a command such as
** "/nick ada" or "/msg bob hi". A line containing LF is sent as several lines. Blocks until
** the kernel has taken every byte (after what tcpchat_client_try_send() queued, if anything).
** `line` is only read during the call. A loop that must never block uses
** tcpchat_client_try_send() instead.
**
** Any thread. Returns TCPCHAT_OK;
**   TCPCHAT_EAGAIN while a connection from tcpchat_client_connect_start() is still being made;
**   TCPCHAT_EINVAL when client or line is NULL;
**   TCPCHAT_ECLOSED after tcpchat_client_shutdown(), or when the server has closed (a send
**     just after the server closed may still succeed; tcpchat_client_recv() tells for sure);
**   TCPCHAT_ERESET when the server reset the connection;
**   TCPCHAT_ESYSTEM for any other failure (errno says which).
*/
int tcpchat_client_send(tcpchat_client *client, const char *line);

/*
** tcpchat_client_recv -- receives the next line from the server: copies it into buf without
** its newline and NUL-terminates it. Waits up to timeout_ms milliseconds for it: a negative
** value waits for ever, 0 only takes what has already arrived. A line is normally UTF-8
** without NUL bytes (the server removes control characters); the return value is its full
** length either way.
**
** Returns the line's length in bytes (not counting the NUL; 0 for an empty line);
**   TCPCHAT_EINVAL when client or buf is NULL, or size is 0;
**   TCPCHAT_ETIMEDOUT when no line arrived in time (call again later);
**   TCPCHAT_ENOSPC when the line needs more than `size` bytes: nothing is copied, and the line
**     stays queued -- tcpchat_client_needed_size() tells the size it needs, and the next call
**     with a buffer that large returns it;
**   TCPCHAT_ECLOSED once the server has closed the connection and every line it sent before
**     was returned (and on every later call);
**   TCPCHAT_ERESET when the connection was reset, after every line that came before;
**   TCPCHAT_ESYSTEM for any other failure (errno says which).
*/
int tcpchat_client_recv(tcpchat_client *client, char *buf, size_t size, int timeout_ms);

/*
** tcpchat_client_needed_size -- after tcpchat_client_recv() returned TCPCHAT_ENOSPC, the
** buffer size (line length + 1) the queued line needs; 0 when no line is held back, or when
** client is NULL. Same thread as tcpchat_client_recv().
*/
size_t tcpchat_client_needed_size(const tcpchat_client *client);

/*
** tcpchat_client_fd -- the connection's socket, for the host's poll/select/epoll loop (see
** TWO WAYS TO RECEIVE above). The client owns it: do not read, write or close it yourself.
** Valid until tcpchat_client_close(). Any thread.
**
** Returns the descriptor (>= 0); TCPCHAT_EINVAL when client is NULL.
*/
int tcpchat_client_fd(const tcpchat_client *client);

/*
** tcpchat_client_shutdown -- half-close: tells the server you will send nothing more (TCP
** FIN). Lines from the server can still be received; the server treats it as leaving and
** closes its side once your queued output is flushed, so tcpchat_client_recv() then returns
** TCPCHAT_ECLOSED. Later sends return TCPCHAT_ECLOSED. Idempotent. Lines tcpchat_client_try_send()
** queued and not yet written are not sent after it: call tcpchat_client_flush() until it
** returns TCPCHAT_OK first.
**
** Any thread. Returns TCPCHAT_OK; TCPCHAT_EINVAL when client is NULL.
*/
int tcpchat_client_shutdown(tcpchat_client *client);

/*
** tcpchat_client_close -- closes the connection (without sending /quit; send "/quit" first
** for a polite exit) and frees the client, including its descriptor.
**
** NULL is a no-op. Not concurrently with any other call on this client.
*/
void tcpchat_client_close(tcpchat_client *client);

#ifdef __cplusplus
}
#endif

#endif /* TCPCHAT_H */
