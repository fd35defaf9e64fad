/*
** Accounts in a cluster through the C API (branch acct-irc): tcpchat_server_config's
** cluster_accounts. Defaults to 0; without `cluster`, or with accounts_path beside `cluster`,
** tcpchat_server_create() fails with TCPCHAT_EINVAL; with a cluster whose Redis cannot be
** reached (a closed loopback port: no Redis is needed), the server serves and answers an
** account command with the cut-off sentence. (Accounts shared through a real Redis:
** Tests/accounts/cluster_accounts_test.py.)
*/
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "test_support.h"

int main(void) {
    char url[64], line[4096];
    tcpchat_server_config config = test_config();
    tcpchat_server *server = NULL;
    tcpchat_client *ada;
    int closed_port, probe, port;

    CHECK(config.cluster_accounts == 0);
    CHECK(config.reserved_cluster_accounts == 0);

    /* A loopback port nothing listens on: the link to "Redis" keeps failing and retrying. */
    probe = loopback_bound_socket(&closed_port);
    CHECK(probe >= 0);
    close(probe);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", closed_port);

    config.cluster_accounts = 1;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_EINVAL);  /* no cluster */
    CHECK(server == NULL);
    config.cluster = url;
    config.accounts_path = "/tmp/tcpchat-never-created.db";
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_EINVAL);  /* SQLite in a cluster */
    CHECK(server == NULL);
    config.accounts_path = NULL;
    config.reserved_cluster_accounts = 1;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_EINVAL);
    config.reserved_cluster_accounts = 0;

    config.scrypt_cost = 10;
    CHECK_RC(tcpchat_server_create(&config, &server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_start(server), TCPCHAT_OK);
    port = tcpchat_server_port(server);
    ada = join_as(port, "ada");
    CHECK_RC(tcpchat_client_send(ada, "/register correct-horse"), TCPCHAT_OK);
    WAIT_FOR(ada, "! accounts are unavailable while the server is cut off from the cluster; try again", line);
    tcpchat_client_close(ada);
    CHECK_RC(tcpchat_server_stop(server), TCPCHAT_OK);
    CHECK_RC(tcpchat_server_wait(server), TCPCHAT_OK);
    tcpchat_server_destroy(server);
    printf("test_cluster_accounts: ok\n");
    return 0;
}
