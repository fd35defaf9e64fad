/*
** TLS through the C API (issue 17): a server with a TLS listener beside the plaintext one
** (tls_cert, tls_key, tls_port = TCPCHAT_TLS_PORT_ANY), a TLS client and a plaintext one chatting
** in #lobby, the client's certificate checks (an untrusted certificate and a wrong name fail
** with TCPCHAT_ETLS and a sentence in options.error), tcpchat_server_reload_tls() with a good and
** a bad file, and the calls TLS does not go with. The certificate is made by the `openssl`
** command into a temporary directory.
*/
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_support.h"

static char dir[64] = "/tmp/tcpchat-c-tls-XXXXXX";
static char cert[128], key[128];

static void make_certificate(void) {
    char command[1024];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(command, sizeof command,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s "
             "-days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1",
             key, cert);
    CHECK(system(command) == 0);
}

/* Drives a non-blocking connect (and its TLS handshake) as a poll loop would, until flush
** returns something else than TCPCHAT_EAGAIN; returns that. */
static int finish_connect(tcpchat_client *client) {
    int rounds, rc = TCPCHAT_EAGAIN;
    for (rounds = 0; rounds < 10000 && rc == TCPCHAT_EAGAIN; rounds++) {
        struct pollfd entry;
        entry.fd = tcpchat_client_fd(client);
        entry.events = (short)tcpchat_client_events(client);
        entry.revents = 0;
        CHECK(poll(&entry, 1, STUCK_AFTER_MS) >= 0);
        rc = tcpchat_client_flush(client);
    }
    return rc;
}

static tcpchat_client_options tls_options(const char *ca, const char *name, char *error, size_t size) {
    tcpchat_client_options options;
    tcpchat_client_options_init(&options);
    options.tls = 1;
    options.tls_ca_file = ca;
    options.tls_server_name = name;
    options.error = error;
    options.error_size = size;
    return options;
}

int main(void) {
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL, *plain_only = NULL;
    tcpchat_client *secure = NULL, *plain = NULL, *refused = NULL;
    tcpchat_client_options options;
    char line[4096], error[512];
    int tls_port, port;
    FILE *junk;

    make_certificate();
    config.tls_cert = cert;
    config.tls_key = key;
    config.tls_port = TCPCHAT_TLS_PORT_ANY;
    config.tls_handshake_timeout_ms = 5000;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_tls_port(server), TCPCHAT_ESTATE);   /* not bound yet */
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    tls_port = tcpchat_server_tls_port(server);
    port = tcpchat_server_port(server);
    CHECK(tls_port > 0 && port > 0 && tls_port != port);

    /* A TLS client that trusts the certificate, and a plaintext one, in one room. */
    options = tls_options(cert, NULL, error, sizeof error);
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", tls_port, &options, &secure), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_connect("127.0.0.1", port, &plain), TCPCHAT_OK);
    WAIT_FOR(secure, "* you joined #lobby", line);
    WAIT_FOR(plain, "* you joined #lobby", line);
    CHECK_RC(tcpchat_client_send(secure, "/nick sealed"), TCPCHAT_OK);
    WAIT_FOR(secure, "* you are now known as sealed", line);
    CHECK_RC(tcpchat_client_send(secure, "over TLS"), TCPCHAT_OK);
    WAIT_FOR(plain, "<sealed> over TLS", line);
    CHECK_RC(tcpchat_client_send(plain, "in the clear"), TCPCHAT_OK);
    WAIT_FOR(secure, "<guest", line);
    CHECK(strstr(line, "in the clear") != NULL);

    /* Not trusted (no CA file: the system's store does not know this self-signed certificate). */
    options = tls_options(NULL, NULL, error, sizeof error);
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", tls_port, &options, &refused), TCPCHAT_ETLS);
    CHECK(strstr(error, "self-signed") != NULL);
    /* The wrong name: the message lists the names the certificate has. */
    options = tls_options(cert, "other.example", error, sizeof error);
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", tls_port, &options, &refused), TCPCHAT_ETLS);
    CHECK(strstr(error, "localhost, 127.0.0.1") != NULL && strstr(error, "other.example") != NULL);
    /* TLS to the plaintext port: the server answers in plaintext. */
    options = tls_options(cert, NULL, error, sizeof error);
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", port, &options, &refused), TCPCHAT_ETLS);
    CHECK(strstr(error, "does not speak TLS") != NULL);
    /* Insecure: connects to anything. */
    options = tls_options(NULL, NULL, error, sizeof error);
    options.tls_insecure = 1;
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", tls_port, &options, &refused), TCPCHAT_OK);
    tcpchat_client_close(refused);
    refused = NULL;
    /* Non-blocking: connect_start with TLS, the handshake driven by flush in a poll loop. */
    options = tls_options(cert, NULL, NULL, 0);
    CHECK_RC(tcpchat_client_connect_start("127.0.0.1", tls_port, &options, &refused), TCPCHAT_OK);
    CHECK_RC(tcpchat_client_send(refused, "too early"), TCPCHAT_EAGAIN);   /* still connecting */
    CHECK_RC(finish_connect(refused), TCPCHAT_OK);
    CHECK(strcmp(tcpchat_client_last_error(refused), "") == 0);
    WAIT_FOR(refused, "* you joined #lobby", line);
    CHECK_RC(tcpchat_client_try_send(refused, "non-blocking TLS"), TCPCHAT_OK);
    CHECK_RC(finish_connect(refused), TCPCHAT_OK);   /* flushes what try_send queued */
    WAIT_FOR(plain, "<guest", line);
    CHECK(strstr(line, "non-blocking TLS") != NULL);
    tcpchat_client_close(refused);
    /* ... and one whose check fails: flush says TCPCHAT_ETLS, last_error why. */
    options = tls_options(NULL, NULL, NULL, 0);
    CHECK_RC(tcpchat_client_connect_start("localhost", tls_port, &options, &refused), TCPCHAT_OK);
    CHECK_RC(finish_connect(refused), TCPCHAT_ETLS);
    CHECK(strstr(tcpchat_client_last_error(refused), "self-signed") != NULL);
    CHECK_RC(tcpchat_client_flush(refused), TCPCHAT_ETLS);   /* sticky */
    tcpchat_client_close(refused);
    refused = NULL;
    CHECK(strcmp(tcpchat_client_last_error(NULL), "") == 0);

    /* Reload: the same good files, then a bad one (kept: the old certificate goes on). */
    CHECK_RC(tcpchat_server_reload_tls(server), TCPCHAT_OK);
    junk = fopen(cert, "w");
    CHECK(junk != NULL);
    fputs("not a certificate\n", junk);
    fclose(junk);
    CHECK_RC(tcpchat_server_reload_tls(server), TCPCHAT_EINVAL);
    options = tls_options(NULL, NULL, error, sizeof error);
    options.tls_insecure = 1;
    CHECK_RC(tcpchat_client_connect_ex("127.0.0.1", tls_port, &options, &refused), TCPCHAT_OK);
    WAIT_FOR(refused, "* you joined #lobby", line);
    tcpchat_client_close(refused);
    CHECK_RC(tcpchat_client_send(secure, "still here"), TCPCHAT_OK);
    WAIT_FOR(plain, "<sealed> still here", line);

    /* A server without TLS. */
    config = test_config();
    CHECK_RC(tcpchat_server_create(&config, &plain_only), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_bind(plain_only), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_tls_port(plain_only), TCPCHAT_ESTATE);
    CHECK_RC(tcpchat_server_reload_tls(plain_only), TCPCHAT_ESTATE);
    tcpchat_server_destroy(plain_only);
    /* TLS only without a certificate: refused at create. */
    config = test_config();
    config.tls_only = 1;
    CHECK_RC(tcpchat_server_create(&config, &plain_only), TCPCHAT_EINVAL);

    tcpchat_client_close(secure);
    tcpchat_client_close(plain);
    tcpchat_server_stop(server);
    tcpchat_server_wait(server);
    tcpchat_server_destroy(server);
    unlink(cert);
    unlink(key);
    rmdir(dir);
    puts("test_tls: ok");
    return 0;
}
