/*
** Every misuse the header documents returns its documented code, and leaves out-parameters
** alone: NULL handles and arguments, invalid configurations, a closed client, a bad host, a
** port in use, a refused connection, a buffer too small, starting twice. Also: every code has
** a description, unknown codes included.
*/
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_support.h"

/* A host name glibc rejects before asking any name server (it has a space and a '!'), so the
** test sends no traffic off this machine. */
#define BAD_HOST "bad host!"

static void check_descriptions(void) {
    static const int codes[] = {
        TCPCHAT_OK, TCPCHAT_EINVAL, TCPCHAT_ERESOLVE, TCPCHAT_EADDRINUSE, TCPCHAT_ECONNREFUSED,
        TCPCHAT_ETIMEDOUT, TCPCHAT_ECLOSED, TCPCHAT_ERESET, TCPCHAT_ENOSPC, TCPCHAT_ESTATE,
        TCPCHAT_ESYSTEM,
    };
    const char *unknown = tcpchat_strerror(-12345);
    size_t i, j;
    CHECK(unknown != NULL && strcmp(unknown, "unknown tcpchat error") == 0);
    CHECK(strcmp(tcpchat_strerror(42), unknown) == 0);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *text = tcpchat_strerror(codes[i]);
        CHECK(text != NULL && text[0] != '\0' && strcmp(text, unknown) != 0);
        CHECK(codes[i] <= 0);
        for (j = 0; j < i; j++) CHECK(codes[i] != codes[j] && strcmp(text, tcpchat_strerror(codes[j])) != 0);
    }
    CHECK(strcmp(tcpchat_version(), TCPCHAT_VERSION_STRING) == 0);
}

static void check_null_handles(void) {
    char line[64];
    tcpchat_server_config_init(NULL);   /* no-op */
    tcpchat_client_options_init(NULL);  /* no-op */
    CHECK_RC(tcpchat_server_bind(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_start(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_run(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_port(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_broadcast(NULL, NULL, "text"), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_stop(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_wait(NULL), TCPCHAT_EINVAL);
    tcpchat_server_destroy(NULL);       /* no-op */
    CHECK_RC(tcpchat_client_send(NULL, "line"), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_recv(NULL, line, sizeof line, 0), TCPCHAT_EINVAL);
    CHECK(tcpchat_client_needed_size(NULL) == 0);
    CHECK_RC(tcpchat_client_fd(NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_shutdown(NULL), TCPCHAT_EINVAL);
    tcpchat_client_close(NULL);         /* no-op */
}

/* Creating from `config` fails with TCPCHAT_EINVAL and leaves *out alone. */
static void check_rejected(const tcpchat_server_config *config, const char *what) {
    tcpchat_server *untouched = (tcpchat_server *)&untouched;
    int rc = tcpchat_server_create(config, &untouched);
    if (rc != TCPCHAT_EINVAL || untouched != (tcpchat_server *)&untouched) {
        fprintf(stderr, "invalid config (%s) gave %s\n", what, tcpchat_strerror(rc));
        exit(1);
    }
}

static void check_invalid_configs(void) {
    tcpchat_server_config config;
    tcpchat_server *server = NULL;
    tcpchat_server_config_init(&config);
    CHECK(config.host == NULL && config.port == 6789 && config.max_clients == 10000);
    CHECK(config.max_line == 4096 && config.max_queue == 262144 && config.history == 20);
    CHECK(config.announce_limit == 1000 && config.lines_per_second == 10 && config.burst_lines == 20);
    CHECK(config.max_per_address == 256 && config.first_line_timeout_s == 0 && config.idle_timeout_s == 0);
    CHECK(config.fallback_encoding == NULL && config.shutdown_grace_ms == 1000);
    CHECK(config.log == NULL && config.log_level == TCPCHAT_LOG_INFO);
    CHECK(config.on_message == NULL && config.user_data == NULL);
    CHECK(config.cluster == NULL && config.cluster_ttl_s == 15 && config.cluster_queue == 8 << 20);
    CHECK(config.soft_queue == 65536 && config.soft_queue_ms == 10000);
    CHECK(config.irc_detection_ms == 0 && config.server_name == NULL && config.password == NULL);

    CHECK_RC(tcpchat_server_create(NULL, &server), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_create(&config, NULL), TCPCHAT_EINVAL);
#define REJECT(field, value)                                      \
    do {                                                          \
        tcpchat_server_config_init(&config);                      \
        config.field = value;                                     \
        check_rejected(&config, #field " = " #value);             \
    } while (0)
    REJECT(port, -1);
    REJECT(port, 65536);
    REJECT(max_clients, 0);
    REJECT(max_line, 15);
    REJECT(max_queue, 8 * 4096 - 1);   /* less than 8 times max_line */
    REJECT(history, -1);
    REJECT(history, 10001);
    REJECT(shutdown_grace_ms, -1);
    REJECT(announce_limit, -1);
    REJECT(lines_per_second, -0.5);
    REJECT(burst_lines, 0);
    REJECT(max_per_address, -1);
    REJECT(first_line_timeout_s, -1);
    REJECT(idle_timeout_s, -1);
    REJECT(soft_queue, -1);
    REJECT(soft_queue_ms, -1);
    REJECT(soft_queue_ms, 9);   /* under 10 ms */
    REJECT(fallback_encoding, "latin-9");
    REJECT(irc_detection_ms, -2);
    REJECT(irc_detection_ms, 10001);
    REJECT(server_name, "two words");
    REJECT(server_name, "a:b");
    REJECT(password, "two words");
    REJECT(cluster, "http://127.0.0.1:6379");
    REJECT(cluster, "redis://127.0.0.1:99999");
    REJECT(cluster, "redis://127.0.0.1:6379/16");
    REJECT(cluster, "redis://user:secret@127.0.0.1:6379");
#undef REJECT
#define REJECT_CLUSTER(field, value)                              \
    do {                                                          \
        tcpchat_server_config_init(&config);                      \
        config.cluster = "redis://127.0.0.1:6379/0";              \
        config.field = value;                                     \
        check_rejected(&config, "cluster with " #field " = " #value); \
    } while (0)
    REJECT_CLUSTER(cluster_ttl_s, 0);
    REJECT_CLUSTER(cluster_ttl_s, 3601);
    REJECT_CLUSTER(cluster_queue, 65535);
#undef REJECT_CLUSTER
    tcpchat_server_config_init(&config);
    config.fallback_encoding = "gbk";
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    tcpchat_server_destroy(server);   /* never started: destroy alone is enough */
    /* The soft limit: zero is the default (as for every field added after 1.0.0); a mark at or
    ** above max_queue is off, not an error; the smallest soft time is 10 ms. */
    tcpchat_server_config_init(&config);
    config.soft_queue = 0;
    config.soft_queue_ms = 0;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    tcpchat_server_destroy(server);
    tcpchat_server_config_init(&config);
    config.soft_queue = config.max_queue * 2;
    config.soft_queue_ms = 10;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    tcpchat_server_destroy(server);
}

/* 1.1's password: a line-protocol client's first line must be "/pass PASSWORD". */
static void check_password(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *right = NULL, *wrong = NULL;
    char line[4096];
    config.password = "s3cret";
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", tcpchat_server_port(server), &right), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_send(right, "/pass s3cret"), TCPCHAT_OK);
    WAIT_FOR(right, "* you joined #lobby", line);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", tcpchat_server_port(server), &wrong), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_send(wrong, "/pass guess"), TCPCHAT_OK);
    WAIT_FOR(wrong, "! wrong password", line);
    WAIT_FOR_CLOSE(wrong);
    tcpchat_client_close(wrong);
    tcpchat_client_close(right);
    tcpchat_server_stop(server);
    tcpchat_server_wait(server);
    tcpchat_server_destroy(server);
}

static void check_server_misuse(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL, *rival = NULL, *unresolvable = NULL;
    int port;

    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_port(server), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_broadcast(server, "#lobby", NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_server_bind(server), TCPCHAT_OK);
    port = tcpchat_server_port(server);
    CHECK(port > 0);
    CHECK_RC(tcpchat_server_bind(server), TCPCHAT_OK);   /* bound already: nothing to do */
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_port(server), port);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_run(server), TCPCHAT_ESTATE);

    /* Port in use: a second server on the same address and port. */
    config.port = port;
    CHECK_RC(tcpchat_server_create(&config, &rival), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_bind(rival), TCPCHAT_EADDRINUSE);
    CHECK_RC(tcpchat_server_start(rival), TCPCHAT_EADDRINUSE);
    CHECK_RC(tcpchat_server_run(rival), TCPCHAT_EADDRINUSE);
    CHECK_RC(tcpchat_server_port(rival), TCPCHAT_ESTATE);
    tcpchat_server_destroy(rival);

    /* A host that does not resolve. */
    config.host = BAD_HOST;
    config.port = 0;
    CHECK_RC(tcpchat_server_create(&config, &unresolvable), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_start(unresolvable), TCPCHAT_ERESOLVE);
    tcpchat_server_destroy(unresolvable);

    /* Destroy stops a running server and waits for it. */
    tcpchat_server_destroy(server);

    /* A stop before serving is not lost: run returns at once, and only once. */
    config = test_config();
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_run(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_run(server), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_wait(server), TCPCHAT_OK);   /* not started by _start: returns at once */
    tcpchat_server_destroy(server);
}

static void check_client_misuse(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *client = NULL;
    tcpchat_client *untouched = (tcpchat_client *)&untouched;
    char line[4096];
    char tiny[8];
    int closed_port, placeholder;

    CHECK_RC(tcpchat_client_connect(NULL, 6789, &client), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", 6789, NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", 0, &client), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", 65536, &client), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect_ex(NULL, 6789, NULL, &client), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", 6789, NULL, NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", 0, NULL, &client), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_connect(BAD_HOST, 6789, &untouched), TCPCHAT_ERESOLVE);
    CHECK(untouched == (tcpchat_client *)&untouched);
    placeholder = loopback_bound_socket(&closed_port);  /* bound, so no one takes the port; not listening */
    CHECK_RC(tcpchat_client_connect("127.0.0.1", closed_port, &untouched), TCPCHAT_ECONNREFUSED);
    CHECK(untouched == (tcpchat_client *)&untouched);
    close(placeholder);

    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", tcpchat_server_port(server), &client), TCPCHAT_OK);
    CHECK(tcpchat_client_fd(client) >= 0);
    CHECK_RC(tcpchat_client_send(client, NULL), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_recv(client, NULL, 10, 0), TCPCHAT_EINVAL);
    CHECK_RC(tcpchat_client_recv(client, line, 0, 0), TCPCHAT_EINVAL);

    /* Buffer too small: the welcome line is held, not lost and not truncated. */
    CHECK_RC(tcpchat_client_recv(client, tiny, sizeof tiny, STUCK_AFTER_MS), TCPCHAT_ENOSPC);
    CHECK(tcpchat_client_needed_size(client) > sizeof tiny);
    EXPECT_NEXT(client, "* welcome to tcpchat, guest", line);
    CHECK(tcpchat_client_needed_size(client) == 0);
    WAIT_FOR(client, "* you joined #lobby", line);
    CHECK_RC(tcpchat_client_recv(client, line, sizeof line, 0), TCPCHAT_ETIMEDOUT);

    /* A client the server has closed: receiving says so, every time; sending fails soon. */
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    WAIT_FOR(client, "* server shutting down, goodbye", line);
    WAIT_FOR_CLOSE(client);
    CHECK_RC(tcpchat_client_recv(client, line, sizeof line, 0), TCPCHAT_ECLOSED);
    CHECK_RC(tcpchat_client_recv(client, line, sizeof line, -1), TCPCHAT_ECLOSED);
    {
        int rc = TCPCHAT_OK, tries;
        for (tries = 0; tries < 100 && rc == TCPCHAT_OK; tries++) rc = tcpchat_client_send(client, "anyone?");
        CHECK(rc == TCPCHAT_ECLOSED || rc == TCPCHAT_ERESET);
    }
    tcpchat_client_close(client);
    CHECK_RC(tcpchat_server_wait(server), TCPCHAT_OK);
    tcpchat_server_destroy(server);
}

/* A cluster whose Redis is not there (a loopback port bound but not listening refuses every
** connection): the server serves all the same, clients chat locally and hear why chat stays
** on this server; stopping works. (Tests/cluster/cluster.py covers a real Redis.) */
static void check_cluster_without_redis(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *ann, *bea;
    char url[64], line[4096];
    int redis_port;
    int refusing = loopback_bound_socket(&redis_port);

    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis_port);
    config.cluster = url;   /* copied by _create */
    config.cluster_ttl_s = 1;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    memset(url, 0, sizeof url);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    /* Whether the first failure comes before or after ann connects, ann hears it once. */
    CHECK_RC(tcpchat_client_connect("127.0.0.1", tcpchat_server_port(server), &ann), TCPCHAT_OK);
    WAIT_FOR(ann, "* cluster link down: chat reaches this server only", line);
    /* bea connects while the link is known to be down: told right after joining. */
    CHECK_RC(tcpchat_client_connect("127.0.0.1", tcpchat_server_port(server), &bea), TCPCHAT_OK);
    WAIT_FOR(bea, "* you joined #lobby", line);
    EXPECT_NEXT(bea, "* cluster link down: chat reaches this server only", line);
    CHECK_RC(tcpchat_client_send(ann, "/nick ann"), TCPCHAT_OK);
    WAIT_FOR(ann, "* you are now known as ann", line);
    CHECK_RC(tcpchat_client_send(ann, "still chatting"), TCPCHAT_OK);
    WAIT_FOR(bea, "<ann> still chatting", line);
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_wait(server), TCPCHAT_OK);
    tcpchat_client_close(ann);
    tcpchat_client_close(bea);
    tcpchat_server_destroy(server);
    close(refusing);
}

int main(void) {
    check_descriptions();
    check_null_handles();
    check_invalid_configs();
    check_server_misuse();
    check_password();
    check_client_misuse();
    check_cluster_without_redis();
    puts("test_misuse: ok");
    return 0;
}
