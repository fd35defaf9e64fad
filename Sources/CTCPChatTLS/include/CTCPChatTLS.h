// TLS for tcpchat: a thin layer over the system's OpenSSL 3 (libssl), so that the Swift code
// sees a few plain functions instead of OpenSSL's macros and opaque types. No TLS of our own:
// OpenSSL does the protocol, the certificates and the verification; this file only adapts it
// to a non-blocking socket on an epoll loop and turns its failures into sentences.
//
// The header names no OpenSSL type (the definitions in shim.c include <openssl/ssl.h>), so the
// Swift module needs no OpenSSL headers at import time; the library links libssl and libcrypto.
//
// Results of the I/O calls (ctt_handshake, ctt_read, ctt_write):
//   > 0  bytes read or written (ctt_handshake: 1 = done)
//     0  ctt_read: end of stream (close_notify, or the peer closed without one)
//   CTT_WANT_READ / CTT_WANT_WRITE: would block; call again (with the same bytes, for a write)
//     when the socket is readable / writable
//   CTT_ERROR: failed for good; ctt_conn_error() says why, in a sentence.
#ifndef CTCPCHAT_TLS_H
#define CTCPCHAT_TLS_H

#include <stddef.h>

#define CTT_WANT_READ  (-1)
#define CTT_WANT_WRITE (-2)
#define CTT_ERROR      (-3)

typedef struct ctt_ctx ctt_ctx;    /* an SSL_CTX: certificates, verification settings */
typedef struct ctt_conn ctt_conn;  /* an SSL on one socket */

/* A server context from a PEM certificate chain (the leaf first) and a PEM private key, TLS 1.2
** minimum, OpenSSL's default cipher policy. NULL on failure with the reason in `error`. */
ctt_ctx *ctt_server_ctx_new(const char *cert_file, const char *key_file, char *error, size_t error_size);
/* A client context: verify = 1 checks the server's certificate against ca_file (NULL = the
** system trust store) and the host name given to ctt_conn_new; 0 checks nothing. */
ctt_ctx *ctt_client_ctx_new(int verify, const char *ca_file, char *error, size_t error_size);
/* Drops the caller's reference; connections made from it keep theirs. NULL is a no-op. */
void ctt_ctx_free(ctt_ctx *ctx);

/* A connection on a connected, non-blocking socket `fd` (not owned: the caller closes it).
** server = 1 accepts; else connects, sending `host` as SNI and (when the context verifies)
** checking the certificate against it (a name, or an IP address). NULL when out of memory. */
ctt_conn *ctt_conn_new(ctt_ctx *ctx, int fd, int server, const char *host);
void ctt_conn_free(ctt_conn *conn);

int ctt_handshake(ctt_conn *conn);
/* Reads up to `size` bytes (one TLS record at most; records hold up to 16384 bytes). */
long ctt_read(ctt_conn *conn, void *buffer, size_t size);
long ctt_write(ctt_conn *conn, const void *buffer, size_t size);
/* Sends close_notify once, best effort, never blocking. */
void ctt_shutdown(ctt_conn *conn);
/* Decrypted bytes OpenSSL holds that a read would return at once. */
int ctt_pending(ctt_conn *conn);

/* Why the last call failed, as a sentence (valid until the next call on conn). */
const char *ctt_conn_error(const ctt_conn *conn);
/* errno of the last failed socket call (ECONNRESET, EPIPE...), or 0. */
int ctt_conn_errno(const ctt_conn *conn);
/* 1 when the peer's first bytes were not a TLS record (it speaks plaintext). */
int ctt_conn_peer_not_tls(const ctt_conn *conn);
/* "TLSv1.3" and the cipher, once the handshake is done. */
const char *ctt_conn_version(const ctt_conn *conn);
const char *ctt_conn_cipher(const ctt_conn *conn);
/* The version of the libssl in use, e.g. "OpenSSL 3.0.19 27 Jan 2026". */
const char *ctt_library_version(void);

#endif
