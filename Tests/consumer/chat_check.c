/*
** chat_check -- a tiny outside program on the installed libtcpchat: two clients chat through a
** running server and the program checks they hear each other.
**
**     chat_check HOST PORT
**
** ada and bob connect and take their nicks (ada sees bob's); ada says a line in #lobby, which bob must receive
** as "<ada> ..."; bob answers with /msg, which ada must receive as "<bob -> ada> ..."; both
** /quit and must get their goodbye. Prints what it checks; exits 0 when everything arrived, 1
** otherwise. Waits are bounded only so that a broken server fails the check instead of hanging
** it.
**
** It is built by Tests/consumer/CMakeLists.txt (find_package) and Tests/consumer/Makefile
** (pkg-config) against an installed prefix, and by the tcpchat build itself for CTest's
** end-to-end test.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tcpchat.h>

#define WAIT_MS 20000

static void fail(const char *what, int rc) {
    fprintf(stderr, "chat_check: %s: %s\n", what, tcpchat_strerror(rc));
    exit(1);
}

enum match { WHOLE_LINE, PREFIX, SUFFIX };

static int matches(const char *line, const char *expected, enum match how) {
    size_t length = strlen(line), wanted = strlen(expected);
    switch (how) {
    case PREFIX: return strncmp(line, expected, wanted) == 0;
    case SUFFIX: return length >= wanted && strcmp(line + length - wanted, expected) == 0;
    default: return strcmp(line, expected) == 0;
    }
}

/* Reads lines until one matches `expected`; the lines before it are not checked. */
static void expect(tcpchat_client *client, const char *who, const char *expected, enum match how) {
    static char line[TCPCHAT_CLIENT_MAX_LINE + 1];   /* never TCPCHAT_ENOSPC */
    for (;;) {
        int rc = tcpchat_client_recv(client, line, sizeof line, WAIT_MS);
        if (rc < 0) {
            fprintf(stderr, "chat_check: %s waited for \"%s\": %s\n", who, expected, tcpchat_strerror(rc));
            exit(1);
        }
        if (matches(line, expected, how)) {
            printf("%s got: %s\n", who, line);
            return;
        }
    }
}

static tcpchat_client *join(const char *host, int port, const char *nick) {
    tcpchat_client *client = NULL;
    char command[64];
    char expected[64];
    int rc = tcpchat_client_connect(host, port, &client);
    if (rc != TCPCHAT_OK) fail("connect", rc);
    expect(client, nick, "* welcome to tcpchat, ", PREFIX);
    snprintf(command, sizeof command, "/nick %s", nick);
    if ((rc = tcpchat_client_send(client, command)) != TCPCHAT_OK) fail("send /nick", rc);
    snprintf(expected, sizeof expected, "* you are now known as %s", nick);
    expect(client, nick, expected, WHOLE_LINE);
    return client;
}

int main(int argc, char **argv) {
    tcpchat_client *ada, *bob;
    int rc, port;

    if (argc != 3 || (port = atoi(argv[2])) <= 0) {
        fprintf(stderr, "usage: chat_check HOST PORT\n");
        return 2;
    }
    /* The header this was compiled with and the library it runs with must agree. */
    printf("tcpchat.h %s, libtcpchat %s\n", TCPCHAT_VERSION_STRING, tcpchat_version());
    if (strcmp(TCPCHAT_VERSION_STRING, tcpchat_version()) != 0) {
        fprintf(stderr, "chat_check: header and library versions differ\n");
        return 1;
    }

    ada = join(argv[1], port, "ada");
    bob = join(argv[1], port, "bob");
    /* bob joined as guestN, then took his nick: "* guestN is now known as bob". */
    expect(ada, "ada", " is now known as bob", SUFFIX);

    if ((rc = tcpchat_client_send(ada, "hello from C")) != TCPCHAT_OK) fail("ada send", rc);
    expect(bob, "bob", "<ada> hello from C", WHOLE_LINE);

    if ((rc = tcpchat_client_send(bob, "/msg ada hello back")) != TCPCHAT_OK) fail("bob send", rc);
    expect(ada, "ada", "<bob -> ada> hello back", WHOLE_LINE);

    if ((rc = tcpchat_client_send(bob, "/quit done")) != TCPCHAT_OK) fail("bob /quit", rc);
    expect(bob, "bob", "* goodbye, bob", WHOLE_LINE);
    expect(ada, "ada", "* bob left", PREFIX);
    if ((rc = tcpchat_client_send(ada, "/quit")) != TCPCHAT_OK) fail("ada /quit", rc);
    expect(ada, "ada", "* goodbye, ada", WHOLE_LINE);

    tcpchat_client_close(bob);
    tcpchat_client_close(ada);
    printf("chat_check: ok\n");
    return 0;
}
