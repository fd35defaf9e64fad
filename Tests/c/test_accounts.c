/*
** Accounts through the C API (issue 20): tcpchat_server_config.accounts_path (and the other
** account fields) enable /register and /identify; the host sees TCPCHAT_EVENT_IDENTIFIED with
** the account in `text` and how in `reason`. A database that is not one makes
** tcpchat_server_create() fail with TCPCHAT_EINVAL, and the log callback says why. The
** database lives in a fresh temporary directory.
*/
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_support.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int identified_count;
static char identified_text[64], identified_reason[64], identified_nick[64];
static char last_error[1024];

static void copy(char *to, size_t size, const char *from) {
    strncpy(to, from ? from : "", size - 1);
    to[size - 1] = 0;
}

static void on_event(const tcpchat_event *event, void *user_data) {
    (void)user_data;
    if (event->kind != TCPCHAT_EVENT_IDENTIFIED) return;
    pthread_mutex_lock(&lock);
    identified_count++;
    copy(identified_text, sizeof identified_text, event->text);
    copy(identified_reason, sizeof identified_reason, event->reason);
    copy(identified_nick, sizeof identified_nick, event->nick);
    pthread_mutex_unlock(&lock);
}

static void on_log(int level, const char *message, void *user_data) {
    (void)user_data;
    if (level == TCPCHAT_LOG_ERROR) copy(last_error, sizeof last_error, message);
}

int main(void) {
    char directory[] = "/tmp/tcpchat-c-accounts-XXXXXX";
    char path[256], garbage[256], line[4096];
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *ada, *bob;
    struct stat info;
    FILE *file;
    int port;

    CHECK(mkdtemp(directory) != NULL);
    snprintf(path, sizeof path, "%s/accounts.db", directory);
    snprintf(garbage, sizeof garbage, "%s/garbage.db", directory);

    /* Defaults from _init: no accounts, loopback may send passwords over plaintext. */
    CHECK(config.accounts_path == NULL);
    CHECK(config.nick_grace_ms == 30000);
    CHECK(config.scrypt_cost == 15);
    CHECK(config.registrations_per_hour == 3);

    config.accounts_path = path;
    config.scrypt_cost = 12;           /* fast enough for a test run under valgrind */
    config.nick_grace_ms = 600000;     /* nobody is renamed during this test */
    config.on_event = on_event;
    config.log = on_log;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK(stat(path, &info) == 0 && (info.st_mode & 0777) == 0600);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    port = tcpchat_server_port(server);

    ada = join_as(port, "ada");
    CHECK_RC(tcpchat_client_send(ada, "/register correct-horse"), TCPCHAT_OK);
    WAIT_FOR(ada, "* ada is now registered to you", line);
    WAIT_FOR(ada, "* you are now identified as ada", line);

    bob = join_as(port, "bob");
    CHECK_RC(tcpchat_client_send(bob, "/identify ada wrong-password"), TCPCHAT_OK);
    WAIT_FOR(bob, "! wrong password for ada", line);
    tcpchat_client_close(ada);
    CHECK_RC(tcpchat_client_send(bob, "/identify ada correct-horse"), TCPCHAT_OK);
    WAIT_FOR(bob, "* you are now known as ada", line);
    WAIT_FOR(bob, "* you are now identified as ada", line);
    tcpchat_client_close(bob);

    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_wait(server), TCPCHAT_OK);
    tcpchat_server_destroy(server);

    /* The events came before each "identified" line was sent: both are in. */
    CHECK(identified_count == 2);
    CHECK(strcmp(identified_text, "ada") == 0);
    CHECK(strcmp(identified_nick, "ada") == 0);
    CHECK(strcmp(identified_reason, "identified") == 0);

    /* Not a database: EINVAL, and the log callback names the file and what SQLite said. */
    file = fopen(garbage, "w");
    CHECK(file != NULL);
    for (port = 0; port < 100; port++) fputs("not a database, just text\n", file);
    fclose(file);
    config.accounts_path = garbage;
    server = NULL;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_EINVAL);
    CHECK(server == NULL);
    CHECK(strstr(last_error, garbage) != NULL);
    CHECK(strstr(last_error, "file is not a database") != NULL);

    unlink(garbage);
    unlink(path);
    snprintf(line, sizeof line, "%s-wal", path);
    unlink(line);
    snprintf(line, sizeof line, "%s-shm", path);
    unlink(line);
    rmdir(directory);
    printf("test_accounts: ok\n");
    return 0;
}
