// See include/CTCPChatAccounts.h. SQLite (libsqlite3) keeps the accounts; OpenSSL's libcrypto
// hashes their passwords. Nothing here prints; failures come back as codes and sentences.
#define _POSIX_C_SOURCE 200809L  /* O_CLOEXEC under -std=c99 */
#if !defined(__has_include) || !__has_include(<sqlite3.h>)
#error "SQLite headers not found: install libsqlite3-dev (Debian/Ubuntu) or sqlite-devel (Fedora)"
#endif
#include <sqlite3.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "CTCPChatAccounts.h"

struct cta_db {
    sqlite3 *handle;
    sqlite3_stmt *find_key, *find_skeleton, *insert, *set_failures, *set_password;
    char error[512];
};

// The schema, one step per version: migrations[i] takes a database from version i to i + 1
// (PRAGMA user_version). To change it, add a step (never edit a released one), e.g.
//   /* 2 */ "ALTER TABLE accounts ADD COLUMN email TEXT;"
// and a database of any older version is brought up to date, step by step, at open.
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE accounts ("
    "  key TEXT PRIMARY KEY NOT NULL,"        /* Names.key(name) */
    "  name TEXT NOT NULL,"                   /* the nick as registered */
    "  skeleton TEXT NOT NULL UNIQUE,"        /* Names.skeleton(name), indexed by UNIQUE */
    "  created INTEGER NOT NULL,"             /* Unix seconds */
    "  kdf TEXT NOT NULL,"                    /* 'scrypt' */
    "  n INTEGER NOT NULL, r INTEGER NOT NULL, p INTEGER NOT NULL,"
    "  salt BLOB NOT NULL, hash BLOB NOT NULL,"
    "  failures INTEGER NOT NULL DEFAULT 0,"  /* wrong passwords since the last right one */
    "  last_failure INTEGER NOT NULL DEFAULT 0"  /* Unix ms */
    ") WITHOUT ROWID;",
};
#define SCHEMA_VERSION ((int)(sizeof migrations / sizeof migrations[0]))

static void keep_error(cta_db *db, const char *what) {
    snprintf(db->error, sizeof db->error, "%s: %s", what, sqlite3_errmsg(db->handle));
}

static int code_of(cta_db *db, int rc, const char *what) {
    keep_error(db, what);
    int primary = rc & 0xff;
    if (primary == SQLITE_FULL || primary == SQLITE_IOERR) return CTA_FULL;
    if (primary == SQLITE_CONSTRAINT) return CTA_EXISTS;
    return CTA_ERROR;
}

const char *cta_db_error(cta_db *db) { return db ? db->error : "no database"; }

static int exec(cta_db *db, const char *sql) {
    char *message = NULL;
    int rc = sqlite3_exec(db->handle, sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        snprintf(db->error, sizeof db->error, "%s", message ? message : sqlite3_errstr(rc));
    }
    sqlite3_free(message);
    return rc;
}

int cta_db_schema_version(cta_db *db) {
    sqlite3_stmt *statement = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db->handle, "PRAGMA user_version", -1, &statement, NULL) == SQLITE_OK
        && sqlite3_step(statement) == SQLITE_ROW) {
        version = sqlite3_column_int(statement, 0);
    } else {
        keep_error(db, "reading the schema version");
    }
    sqlite3_finalize(statement);
    return version;
}

static int migrate(cta_db *db) {
    int version = cta_db_schema_version(db);
    if (version < 0) return 0;
    if (version > SCHEMA_VERSION) {
        snprintf(db->error, sizeof db->error,
                 "its schema version is %d, newer than this tcpchat knows (%d); run a newer tcpchat", version, SCHEMA_VERSION);
        return 0;
    }
    for (; version < SCHEMA_VERSION; version++) {
        char bump[64];
        snprintf(bump, sizeof bump, "PRAGMA user_version = %d", version + 1);
        if (exec(db, "BEGIN IMMEDIATE") != SQLITE_OK) return 0;
        if (exec(db, migrations[version]) != SQLITE_OK || exec(db, bump) != SQLITE_OK) {
            char reason[sizeof db->error];
            snprintf(reason, sizeof reason, "migrating the schema to version %d: %s", version + 1, db->error);
            exec(db, "ROLLBACK");
            snprintf(db->error, sizeof db->error, "%s", reason);
            return 0;
        }
        if (exec(db, "COMMIT") != SQLITE_OK) return 0;
    }
    return 1;
}

static int prepare(cta_db *db, const char *sql, sqlite3_stmt **statement) {
    if (sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, statement, NULL) == SQLITE_OK) return 1;
    keep_error(db, "preparing a statement");
    return 0;
}

#define COLUMNS "name, key, skeleton, created, failures, last_failure, n, r, p, salt, hash"

cta_db *cta_db_open(const char *path, char *error, size_t error_size) {
    // Created here, 0600, before SQLite opens it (SQLite would create it 0644 under the usual
    // umask); its -wal and -shm files take the database file's mode.
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(error, error_size, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat info;
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        snprintf(error, error_size, "%s is not a regular file", path);
        close(fd);
        return NULL;
    }
    close(fd);
    cta_db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(error, error_size, "out of memory");
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &db->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(error, error_size, "%s", db->handle ? sqlite3_errmsg(db->handle) : sqlite3_errstr(rc));
        cta_db_close(db);
        return NULL;
    }
    sqlite3_extended_result_codes(db->handle, 1);
    sqlite3_busy_timeout(db->handle, 5000);
    int ok = exec(db, "PRAGMA journal_mode = WAL") == SQLITE_OK
          && exec(db, "PRAGMA synchronous = NORMAL") == SQLITE_OK;
    if (ok) {
        // Reads every page's structure (not the rows' contents): a corrupt file is found now,
        // not at the first login.
        sqlite3_stmt *check = NULL;
        ok = sqlite3_prepare_v2(db->handle, "PRAGMA quick_check", -1, &check, NULL) == SQLITE_OK;
        if (!ok) keep_error(db, "checking the database");
        while (ok) {
            rc = sqlite3_step(check);
            if (rc == SQLITE_DONE) break;
            if (rc != SQLITE_ROW) { keep_error(db, "checking the database"); ok = 0; break; }
            const char *verdict = (const char *)sqlite3_column_text(check, 0);
            if (!verdict || strcmp(verdict, "ok") != 0) {
                snprintf(db->error, sizeof db->error, "the integrity check failed: %s", verdict ? verdict : "?");
                ok = 0;
            }
        }
        sqlite3_finalize(check);
    }
    ok = ok && migrate(db)
        && prepare(db, "SELECT " COLUMNS " FROM accounts WHERE key = ?1", &db->find_key)
        && prepare(db, "SELECT " COLUMNS " FROM accounts WHERE skeleton = ?1", &db->find_skeleton)
        && prepare(db, "INSERT INTO accounts (name, key, skeleton, created, kdf, n, r, p, salt, hash)"
                       " VALUES (?1, ?2, ?3, ?4, 'scrypt', ?5, ?6, ?7, ?8, ?9)", &db->insert)
        && prepare(db, "UPDATE accounts SET failures = ?2, last_failure = ?3 WHERE key = ?1", &db->set_failures)
        && prepare(db, "UPDATE accounts SET kdf = 'scrypt', n = ?2, r = ?3, p = ?4, salt = ?5, hash = ?6 WHERE key = ?1", &db->set_password);
    if (!ok) {
        snprintf(error, error_size, "%s", db->error);
        cta_db_close(db);
        return NULL;
    }
    return db;
}

void cta_db_close(cta_db *db) {
    if (!db) return;
    sqlite3_finalize(db->find_key);
    sqlite3_finalize(db->find_skeleton);
    sqlite3_finalize(db->insert);
    sqlite3_finalize(db->set_failures);
    sqlite3_finalize(db->set_password);
    sqlite3_close_v2(db->handle);
    free(db);
}

static void copy_text(char *to, const unsigned char *from) {
    snprintf(to, CTA_TEXT_MAX, "%s", from ? (const char *)from : "");
}

static size_t copy_blob(unsigned char *to, size_t capacity, const void *from, int size) {
    size_t length = size > 0 ? (size_t)size : 0;
    if (length > capacity) length = capacity;
    if (length) memcpy(to, from, length);
    return length;
}

int cta_find(cta_db *db, int by_skeleton, const char *value, cta_account *out) {
    sqlite3_stmt *statement = by_skeleton ? db->find_skeleton : db->find_key;
    sqlite3_bind_text(statement, 1, value, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(statement);
    int result;
    if (rc == SQLITE_ROW) {
        copy_text(out->name, sqlite3_column_text(statement, 0));
        copy_text(out->key, sqlite3_column_text(statement, 1));
        copy_text(out->skeleton, sqlite3_column_text(statement, 2));
        out->created = sqlite3_column_int64(statement, 3);
        out->failures = sqlite3_column_int64(statement, 4);
        out->last_failure = sqlite3_column_int64(statement, 5);
        out->n = (uint64_t)sqlite3_column_int64(statement, 6);
        out->r = (uint32_t)sqlite3_column_int64(statement, 7);
        out->p = (uint32_t)sqlite3_column_int64(statement, 8);
        out->salt_len = copy_blob(out->salt, sizeof out->salt, sqlite3_column_blob(statement, 9), sqlite3_column_bytes(statement, 9));
        out->hash_len = copy_blob(out->hash, sizeof out->hash, sqlite3_column_blob(statement, 10), sqlite3_column_bytes(statement, 10));
        result = CTA_OK;
    } else if (rc == SQLITE_DONE) {
        result = CTA_NOT_FOUND;
    } else {
        result = code_of(db, rc, "reading an account");
        if (result == CTA_EXISTS) result = CTA_ERROR;
    }
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return result;
}

static int run(cta_db *db, sqlite3_stmt *statement, const char *what) {
    int rc = sqlite3_step(statement);
    int result = rc == SQLITE_DONE ? CTA_OK : code_of(db, rc, what);
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
    return result;
}

int cta_insert(cta_db *db, const cta_account *account) {
    sqlite3_stmt *s = db->insert;
    sqlite3_bind_text(s, 1, account->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, account->key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 3, account->skeleton, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 4, account->created);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)account->n);
    sqlite3_bind_int64(s, 6, account->r);
    sqlite3_bind_int64(s, 7, account->p);
    sqlite3_bind_blob(s, 8, account->salt, (int)account->salt_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 9, account->hash, (int)account->hash_len, SQLITE_TRANSIENT);
    return run(db, s, "saving an account");
}

int cta_set_failures(cta_db *db, const char *key, int64_t failures, int64_t last_failure) {
    sqlite3_stmt *s = db->set_failures;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, failures);
    sqlite3_bind_int64(s, 3, last_failure);
    return run(db, s, "counting a failed login");
}

int cta_set_password(cta_db *db, const char *key, uint64_t n, uint32_t r, uint32_t p,
                     const unsigned char *salt, size_t salt_len, const unsigned char *hash, size_t hash_len) {
    sqlite3_stmt *s = db->set_password;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)n);
    sqlite3_bind_int64(s, 3, r);
    sqlite3_bind_int64(s, 4, p);
    sqlite3_bind_blob(s, 5, salt, (int)salt_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(s, 6, hash, (int)hash_len, SQLITE_TRANSIENT);
    return run(db, s, "rehashing a password");
}

int cta_scrypt(const char *password, size_t password_len, const unsigned char *salt, size_t salt_len,
               uint64_t n, uint32_t r, uint32_t p, unsigned char *out, size_t out_len,
               char *error, size_t error_size) {
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
    EVP_KDF_CTX *context = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (!context) {
        snprintf(error, error_size, "OpenSSL has no SCRYPT KDF");
        ERR_clear_error();
        return 0;
    }
    // Room for the parameters' memory (128 * N * r bytes) and a little more.
    uint64_t maxmem = 128 * n * r + (1u << 20);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)password, password_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
        OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
        OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
        OSSL_PARAM_construct_end(),
    };
    int ok = EVP_KDF_derive(context, out, out_len, params) == 1;
    if (!ok) {
        unsigned long code = ERR_get_error();
        char reason[256] = "unknown error";
        if (code) ERR_error_string_n(code, reason, sizeof reason);
        snprintf(error, error_size, "scrypt failed: %s", reason);
        ERR_clear_error();
    }
    EVP_KDF_CTX_free(context);
    return ok;
}

int cta_random(unsigned char *out, size_t len) {
    int ok = RAND_bytes(out, (int)len) == 1;
    if (!ok) ERR_clear_error();
    return ok;
}

void cta_wipe(void *bytes, size_t len) {
    if (bytes && len) OPENSSL_cleanse(bytes, len);
}

int cta_equal(const void *a, const void *b, size_t len) {
    return CRYPTO_memcmp(a, b, len) == 0;
}
