// Accounts for tcpchat (issue 20): the account table in SQLite and the password KDF (scrypt
// through OpenSSL 3's EVP_KDF), as a few plain functions. Like CTCPChatTLS, the header names
// no SQLite or OpenSSL type, so the Swift module needs neither's headers at import time.
//
// Threading: a cta_db belongs to one thread at a time (tcpchat's account worker); the KDF
// functions may run on any thread.
#ifndef CTCPCHAT_ACCOUNTS_H
#define CTCPCHAT_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#define CTA_OK        0
#define CTA_NOT_FOUND 1   /* no such account */
#define CTA_EXISTS    2   /* the key or the skeleton is taken */
#define CTA_ERROR    (-1) /* anything else: cta_db_error() says what */
#define CTA_FULL     (-2) /* a write failed for want of space (SQLITE_FULL, or an I/O error) */

#define CTA_TEXT_MAX 512  /* bytes of a name, key or skeleton, with the NUL */
#define CTA_SALT_MAX 64
#define CTA_HASH_MAX 128

typedef struct cta_db cta_db;

/* One account row. */
typedef struct cta_account {
    char name[CTA_TEXT_MAX];
    char key[CTA_TEXT_MAX];
    char skeleton[CTA_TEXT_MAX];
    int64_t created;        /* Unix seconds */
    int64_t failures;       /* wrong passwords since the last right one */
    int64_t last_failure;   /* Unix milliseconds of the last wrong one (0: none) */
    uint64_t n;             /* scrypt parameters the hash was made with */
    uint32_t r, p;
    unsigned char salt[CTA_SALT_MAX];
    size_t salt_len;
    unsigned char hash[CTA_HASH_MAX];
    size_t hash_len;
} cta_account;

/* Opens (creating it, mode 0600, when missing) the account database at `path`: WAL journal,
** a busy timeout, a quick integrity check, the schema migrated to the newest version. NULL
** with a sentence in `error` when it cannot be used (not a database, corrupt, unreadable, a
** newer schema than this build knows). */
cta_db *cta_db_open(const char *path, char *error, size_t error_size);
/* Closes it; NULL is a no-op. */
void cta_db_close(cta_db *db);
/* SQLite's words for the last failure of `db`. */
const char *cta_db_error(cta_db *db);
/* The schema version (PRAGMA user_version) of an open database. */
int cta_db_schema_version(cta_db *db);

/* The account whose key (by_skeleton = 0) or skeleton (1) is `value`: CTA_OK (into `out`),
** CTA_NOT_FOUND or CTA_ERROR. */
int cta_find(cta_db *db, int by_skeleton, const char *value, cta_account *out);
/* Adds `account` (every field but failures/last_failure): CTA_OK, CTA_EXISTS, CTA_FULL or
** CTA_ERROR. */
int cta_insert(cta_db *db, const cta_account *account);
/* Sets the failure count and time of the account `key`: CTA_OK, CTA_FULL or CTA_ERROR. */
int cta_set_failures(cta_db *db, const char *key, int64_t failures, int64_t last_failure);
/* Replaces the password hash of `key` (a rehash with newer parameters). */
int cta_set_password(cta_db *db, const char *key, uint64_t n, uint32_t r, uint32_t p,
                     const unsigned char *salt, size_t salt_len, const unsigned char *hash, size_t hash_len);

/* scrypt (RFC 7914) of `password` with `salt` and N, r, p into `out` (out_len bytes), by
** OpenSSL's EVP_KDF "SCRYPT". 1 on success; 0 with a sentence in `error`. */
int cta_scrypt(const char *password, size_t password_len, const unsigned char *salt, size_t salt_len,
               uint64_t n, uint32_t r, uint32_t p, unsigned char *out, size_t out_len,
               char *error, size_t error_size);
/* `len` random bytes from OpenSSL's CSPRNG (RAND_bytes): 1, or 0 when it failed. */
int cta_random(unsigned char *out, size_t len);
/* 1 when the `len` bytes at a and b are equal, compared in constant time (CRYPTO_memcmp). */
int cta_equal(const void *a, const void *b, size_t len);
/* Overwrites `len` bytes with zeros in a way the compiler keeps (OPENSSL_cleanse). */
void cta_wipe(void *bytes, size_t len);

#endif
