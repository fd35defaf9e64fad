// The definitions of CTCPChatTLS.h over OpenSSL 3 (see the header for the contract).
#define _GNU_SOURCE
#if !defined(__has_include) || !__has_include(<openssl/ssl.h>)
#error "tcpchat needs the OpenSSL 3 headers for TLS: install them (Debian/Ubuntu: apt-get install libssl-dev; Fedora: dnf install openssl-devel)"
#endif
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/opensslv.h>
#if OPENSSL_VERSION_NUMBER < 0x30000000L
#error "tcpchat needs OpenSSL 3.0 or later (found an older <openssl/ssl.h>): install libssl-dev 3"
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "CTCPChatTLS.h"

struct ctt_ctx { SSL_CTX *ssl_ctx; int verify; };

struct ctt_conn {
    SSL *ssl;
    int fd;
    int server;
    int verify;             /* a client that checks the server's certificate */
    int sys_errno;          /* errno of the last failed send/recv */
    int received;           /* bytes received so far (up to sizeof first) */
    unsigned char first[48];/* the peer's first bytes, to tell plaintext from TLS */
    char host[256];
    char error[1024];
    long verify_error;      /* the first certificate check that failed (X509_V_ERR_...), or 0 */
    X509 *verify_cert;      /* the certificate it failed on (a reference), or NULL */
};

static int conn_index = -1;   /* SSL ex_data slot of the ctt_conn, for the verify callback */

/* Records the first failure of the certificate checks (OpenSSL then fails the handshake with a
** bare "certificate verify failed"; this keeps which check and which certificate). */
static int verify_callback(int ok, X509_STORE_CTX *store) {
    if (ok) return 1;
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct ctt_conn *conn = ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
    if (conn && conn->verify_error == 0) {
        conn->verify_error = X509_STORE_CTX_get_error(store);
        X509 *cert = X509_STORE_CTX_get_current_cert(store);
        if (cert && X509_up_ref(cert)) conn->verify_cert = cert;
    }
    return 0;
}

/* ---- a socket BIO that never raises SIGPIPE --------------------------------------------------
** OpenSSL's socket BIO writes with write(2): a peer that reset would kill the host with SIGPIPE,
** and a library may not install a handler for it. This one sends with MSG_NOSIGNAL and never
** blocks (MSG_DONTWAIT), whatever the descriptor's mode; it also keeps the peer's first bytes. */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int bio_write(BIO *bio, const char *data, int length) {
    struct ctt_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t sent;
    do sent = send(conn->fd, data, (size_t)length, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(bio);
        else conn->sys_errno = errno;
        return -1;
    }
    return (int)sent;
}

static int bio_read(BIO *bio, char *data, int length) {
    struct ctt_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t got;
    do got = recv(conn->fd, data, (size_t)length, MSG_DONTWAIT);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(bio);
        else conn->sys_errno = errno;
        return -1;
    }
    if (got > 0 && conn->received < (int)sizeof conn->first) {
        size_t keep = sizeof conn->first - (size_t)conn->received;
        if (keep > (size_t)got) keep = (size_t)got;
        memcpy(conn->first + conn->received, data, keep);
        conn->received += (int)keep;
    }
    return (int)got;
}

static long bio_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)bio; (void)number; (void)pointer;
    return command == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *bio) { BIO_set_init(bio, 1); return 1; }

static void make_bio_method(void) {
    conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    BIO_METHOD *method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tcpchat socket");
    if (!method) return;
    BIO_meth_set_write(method, bio_write);
    BIO_meth_set_read(method, bio_read);
    BIO_meth_set_ctrl(method, bio_ctrl);
    BIO_meth_set_create(method, bio_create);
    bio_method = method;
}

/* ---- contexts -------------------------------------------------------------------------------- */

/* The reason of the first error on OpenSSL's queue ("no such file", "wrong version number"). */
static const char *openssl_reason(char *buffer, size_t size) {
    unsigned long code = ERR_peek_last_error();
    if (code == 0) { snprintf(buffer, size, "unknown error"); return buffer; }
    const char *reason = ERR_reason_error_string(code);
    if (ERR_GET_LIB(code) == ERR_LIB_SYS) snprintf(buffer, size, "%s", strerror(ERR_GET_REASON(code)));
    else if (reason) snprintf(buffer, size, "%s", reason);
    else ERR_error_string_n(code, buffer, size);
    return buffer;
}

static void common_options(SSL_CTX *ctx) {
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);   /* 1.3 preferred: negotiated when both can */
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Partial writes (a queue is flushed as far as the socket takes it), a retried write may
    ** come from another address with the same bytes, and idle connections give their buffers
    ** back (tens of KiB each, which 10 000 idle clients would otherwise keep). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS);
}

ctt_ctx *ctt_server_ctx_new(const char *cert_file, const char *key_file, char *error, size_t error_size) {
    char reason[256];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) { snprintf(error, error_size, "cannot make a TLS context: %s", openssl_reason(reason, sizeof reason)); return NULL; }
    common_options(ctx);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        snprintf(error, error_size, "cannot load the certificate chain from %s (PEM, the server's certificate first): %s",
                 cert_file, openssl_reason(reason, sizeof reason));
        SSL_CTX_free(ctx);
        return NULL;
    }
    ERR_clear_error();
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            snprintf(error, error_size, "the private key in %s does not match the certificate in %s", key_file, cert_file);
        else snprintf(error, error_size, "cannot load the private key from %s (PEM, unencrypted): %s",
                 key_file, openssl_reason(reason, sizeof reason));
        SSL_CTX_free(ctx);
        return NULL;
    }
    ERR_clear_error();
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(error, error_size, "the private key in %s does not match the certificate in %s", key_file, cert_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    struct ctt_ctx *result = calloc(1, sizeof *result);
    if (!result) { SSL_CTX_free(ctx); snprintf(error, error_size, "out of memory"); return NULL; }
    result->ssl_ctx = ctx;
    return result;
}

ctt_ctx *ctt_client_ctx_new(int verify, const char *ca_file, char *error, size_t error_size) {
    char reason[256];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { snprintf(error, error_size, "cannot make a TLS context: %s", openssl_reason(reason, sizeof reason)); return NULL; }
    common_options(ctx);
    if (verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_callback);
        int loaded = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx);
        if (loaded != 1) {
            if (ca_file) snprintf(error, error_size, "cannot load the CA certificates from %s (PEM): %s", ca_file, openssl_reason(reason, sizeof reason));
            else snprintf(error, error_size, "cannot load the system's trusted certificates: %s", openssl_reason(reason, sizeof reason));
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    struct ctt_ctx *result = calloc(1, sizeof *result);
    if (!result) { SSL_CTX_free(ctx); snprintf(error, error_size, "out of memory"); return NULL; }
    result->ssl_ctx = ctx;
    result->verify = verify;
    return result;
}

void ctt_ctx_free(ctt_ctx *ctx) {
    if (!ctx) return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ---- connections ----------------------------------------------------------------------------- */

ctt_conn *ctt_conn_new(ctt_ctx *ctx, int fd, int server, const char *host) {
    pthread_once(&bio_once, make_bio_method);
    if (!bio_method) return NULL;
    struct ctt_conn *conn = calloc(1, sizeof *conn);
    if (!conn) return NULL;
    conn->fd = fd;
    conn->server = server;
    conn->verify = ctx->verify;
    conn->ssl = SSL_new(ctx->ssl_ctx);
    BIO *bio = BIO_new(bio_method);
    if (!conn->ssl || !bio) { BIO_free(bio); SSL_free(conn->ssl); free(conn); return NULL; }
    BIO_set_data(bio, conn);
    SSL_set_bio(conn->ssl, bio, bio);
    SSL_set_ex_data(conn->ssl, conn_index, conn);
    if (server) {
        SSL_set_accept_state(conn->ssl);
    } else {
        SSL_set_connect_state(conn->ssl);
        if (host && *host) {
            snprintf(conn->host, sizeof conn->host, "%s", host);
            unsigned char address[16];
            int literal = inet_pton(AF_INET, host, address) == 1 || inet_pton(AF_INET6, host, address) == 1;
            if (!literal) SSL_set_tlsext_host_name(conn->ssl, host);   /* SNI: names only (RFC 6066) */
            if (ctx->verify) {
                X509_VERIFY_PARAM *param = SSL_get0_param(conn->ssl);
                if (literal) X509_VERIFY_PARAM_set1_ip_asc(param, host);
                else SSL_set1_host(conn->ssl, host);
            }
        }
    }
    return conn;
}

void ctt_conn_free(ctt_conn *conn) {
    if (!conn) return;
    SSL_free(conn->ssl);   /* frees the BIO too */
    X509_free(conn->verify_cert);
    free(conn);
}

/* The peer's first bytes as text, for a message ("* welcome to tcpchat"): what OpenSSL read
** (a record header's worth), then what waits in the socket (the connection fails anyway). */
static void quote_first(ctt_conn *conn, char *out, size_t size) {
    size_t used = 0;
    if (conn->received < 40) {
        ssize_t more = recv(conn->fd, conn->first + conn->received, sizeof conn->first - (size_t)conn->received, MSG_DONTWAIT);
        if (more > 0) conn->received += (int)more;
    }
    for (int i = 0; i < conn->received && used + 2 < size; i++) {
        unsigned char c = conn->first[i];
        if (c == '\n' || c == '\r') break;
        out[used++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    out[used] = 0;
}

int ctt_conn_peer_not_tls(const ctt_conn *conn) {
    /* A TLS record starts with its content type (20-23: change cipher spec, alert, handshake,
    ** application data) and version 3.x. */
    if (conn->received < 1) return 0;
    if (conn->first[0] < 20 || conn->first[0] > 23) return 1;
    return conn->received >= 2 && conn->first[1] != 3;
}

/* The names a certificate is for: its DNS and IP subject alternative names, else its CN. */
static void certificate_names(X509 *cert, char *out, size_t size) {
    size_t used = 0;
    out[0] = 0;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        char text[INET6_ADDRSTRLEN + 1] = "";
        const char *shown = NULL;
        if (name->type == GEN_DNS) {
            shown = (const char *)ASN1_STRING_get0_data(name->d.dNSName);
        } else if (name->type == GEN_IPADD) {
            int length = ASN1_STRING_length(name->d.iPAddress);
            const unsigned char *bytes = ASN1_STRING_get0_data(name->d.iPAddress);
            if (length == 4 || length == 16) shown = inet_ntop(length == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
        }
        if (!shown) continue;
        int wrote = snprintf(out + used, size - used, "%s%s", used ? ", " : "", shown);
        if (wrote < 0 || (size_t)wrote >= size - used) break;
        used += (size_t)wrote;
    }
    GENERAL_NAMES_free(names);
    if (used == 0) {
        char common[256];
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, common, sizeof common) > 0)
            snprintf(out, size, "%s (its common name; it has no subject alternative names)", common);
        else
            snprintf(out, size, "no name at all");
    }
}

static void certificate_time(const ASN1_TIME *time, char *out, size_t size) {
    out[0] = 0;
    BIO *memory = BIO_new(BIO_s_mem());
    if (!memory) return;
    if (ASN1_TIME_print(memory, time) == 1) {
        int length = BIO_read(memory, out, (int)size - 1);
        out[length > 0 ? length : 0] = 0;
    }
    BIO_free(memory);
}

/* Why the certificate was not accepted, with what to do. */
static void describe_verification(ctt_conn *conn, long result) {
    X509 *cert = conn->verify_cert ? conn->verify_cert : SSL_get0_peer_certificate(conn->ssl);
    char text[512] = "", subject[256] = "?", issuer[256] = "?";
    if (cert) {
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
        X509_NAME_oneline(X509_get_issuer_name(cert), issuer, sizeof issuer);
    }
    switch (result) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        if (cert) certificate_time(X509_get0_notAfter(cert), text, sizeof text);
        snprintf(conn->error, sizeof conn->error, "the server's certificate has expired (it was valid until %s; subject %s): the server must renew it", text, subject);
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        if (cert) certificate_time(X509_get0_notBefore(cert), text, sizeof text);
        snprintf(conn->error, sizeof conn->error, "the server's certificate is not valid yet (it is valid from %s; check this machine's clock)", text);
        break;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        snprintf(conn->error, sizeof conn->error, "the server's certificate is self-signed and not trusted here (subject %s): trust it or its CA with a CA file (tcpchat --tls-ca FILE), or skip verification (--tls-insecure, not safe)", subject);
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        snprintf(conn->error, sizeof conn->error, "the server's certificate was issued by an unknown CA (issuer %s): trust that CA with a CA file (tcpchat --tls-ca FILE), or skip verification (--tls-insecure, not safe)", issuer);
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        if (cert) certificate_names(cert, text, sizeof text);
        snprintf(conn->error, sizeof conn->error, "the server's certificate is for %s, not %s: connect by one of those names", text, conn->host);
        break;
    default:
        snprintf(conn->error, sizeof conn->error, "the server's certificate was not accepted: %s (subject %s)", X509_verify_cert_error_string(result), subject);
    }
}

/* Turns a failed call's SSL_get_error into a result, and a failure into a sentence. */
static long outcome(ctt_conn *conn, int rc, int handshaking) {
    int code = SSL_get_error(conn->ssl, rc);
    char reason[256], quoted[64];
    switch (code) {
    case SSL_ERROR_WANT_READ: return CTT_WANT_READ;
    case SSL_ERROR_WANT_WRITE: return CTT_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        if (!handshaking) return 0;
        snprintf(conn->error, sizeof conn->error, "the peer closed the connection during the TLS handshake");
        return CTT_ERROR;
    case SSL_ERROR_SYSCALL:
        if (conn->sys_errno != 0) {
            if (handshaking && conn->sys_errno == ECONNRESET)
                snprintf(conn->error, sizeof conn->error, "the %s reset the connection during the TLS handshake (handshake refused%s)",
                         conn->server ? "client" : "server", conn->server ? "" : ": does it want a client certificate, or not speak TLS here?");
            else
                snprintf(conn->error, sizeof conn->error, "%s", conn->sys_errno == ECONNRESET ? "connection reset by peer" : strerror(conn->sys_errno));
            return CTT_ERROR;
        }
        if (!handshaking) return 0;   /* EOF without close_notify (allowed: SSL_OP_IGNORE_UNEXPECTED_EOF) */
        break;
    case SSL_ERROR_SSL:
        break;
    default:
        snprintf(conn->error, sizeof conn->error, "TLS failure (SSL_get_error %d)", code);
        return CTT_ERROR;
    }
    /* A handshake (or a record) failed. */
    if (ctt_conn_peer_not_tls(conn)) {
        quote_first(conn, quoted, sizeof quoted);
        if (conn->server)
            snprintf(conn->error, sizeof conn->error, "the client does not speak TLS (it sent plaintext: \"%s\")", quoted);
        else
            snprintf(conn->error, sizeof conn->error, "the server does not speak TLS: it answered in plaintext (\"%s\"); is this a plaintext port? connect without TLS, or to the server's TLS port", quoted);
        return CTT_ERROR;
    }
    if (!conn->server && conn->verify) {
        long verified = conn->verify_error ? conn->verify_error : SSL_get_verify_result(conn->ssl);
        if (verified != X509_V_OK) {
            describe_verification(conn, verified);
            return CTT_ERROR;
        }
    }
    if (code == SSL_ERROR_SYSCALL || ERR_peek_last_error() == 0) {
        if (conn->received == 0 && handshaking)
            snprintf(conn->error, sizeof conn->error, conn->server ? "the client closed the connection before the TLS handshake" : "the server closed the connection without answering the TLS handshake (handshake refused; is this a TLS port?)");
        else
            snprintf(conn->error, sizeof conn->error, "the peer closed the connection in the middle of the TLS handshake (handshake refused)");
        return CTT_ERROR;
    }
    openssl_reason(reason, sizeof reason);
    if (strstr(reason, "alert"))
        snprintf(conn->error, sizeof conn->error, "the %s refused the TLS handshake: %s", conn->server ? "client" : "server", reason);
    else
        snprintf(conn->error, sizeof conn->error, "TLS %s failed: %s", handshaking ? "handshake" : "connection", reason);
    return CTT_ERROR;
}

int ctt_handshake(ctt_conn *conn) {
    ERR_clear_error();
    conn->sys_errno = 0;
    int rc = SSL_do_handshake(conn->ssl);
    if (rc == 1) return 1;
    return (int)outcome(conn, rc, 1);
}

long ctt_read(ctt_conn *conn, void *buffer, size_t size) {
    ERR_clear_error();
    conn->sys_errno = 0;
    size_t got = 0;
    int rc = SSL_read_ex(conn->ssl, buffer, size, &got);
    if (rc == 1) return (long)got;
    return outcome(conn, rc, !SSL_is_init_finished(conn->ssl));
}

long ctt_write(ctt_conn *conn, const void *buffer, size_t size) {
    ERR_clear_error();
    conn->sys_errno = 0;
    size_t wrote = 0;
    int rc = SSL_write_ex(conn->ssl, buffer, size, &wrote);
    if (rc == 1) return (long)wrote;
    long result = outcome(conn, rc, !SSL_is_init_finished(conn->ssl));
    if (result == 0) {  /* the peer closed: a write cannot go on */
        snprintf(conn->error, sizeof conn->error, "connection closed by peer");
        return CTT_ERROR;
    }
    return result;
}

void ctt_shutdown(ctt_conn *conn) {
    if (!conn || !SSL_is_init_finished(conn->ssl)) return;
    ERR_clear_error();
    (void)SSL_shutdown(conn->ssl);   /* one try: sends close_notify if the socket takes it */
    ERR_clear_error();
}

int ctt_pending(ctt_conn *conn) { return SSL_pending(conn->ssl); }
const char *ctt_conn_error(const ctt_conn *conn) { return conn->error; }
int ctt_conn_errno(const ctt_conn *conn) { return conn->sys_errno; }
const char *ctt_conn_version(const ctt_conn *conn) { return SSL_get_version(conn->ssl); }
const char *ctt_conn_cipher(const ctt_conn *conn) {
    const char *name = SSL_get_cipher_name(conn->ssl);
    return name ? name : "";
}
const char *ctt_library_version(void) { return OpenSSL_version(OPENSSL_VERSION); }
