"""A real IRC client, irssi, with accounts (issue 20, branch acct-irc): SASL PLAIN from irssi's
own network settings (sasl_mechanism, sasl_username, sasl_password: what `/network add
-sasl_mechanism PLAIN -sasl_username ... -sasl_password ...` writes), a wrong SASL password,
NickServ IDENTIFY typed in irssi, and the grace period as irssi shows it: NickServ's NOTICE,
then irssi following its own nick change to the guest nick.

    python3 Tests/irc/irssi_accounts_test.py PATH/TO/tcpchat-server

Standard library only; reuses Tests/client/harness.py. Timeouts only guard against hangs.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
from harness import Failure, Peer, Server, Terminal, Tmux  # noqa: E402

PASSWORD = "correct-horse-battery"


def account_server(binary, directory):
    """tcpchat-server with accounts in a fresh SQLite file and a 2 s grace period."""
    return Server(binary, "--accounts", os.path.join(directory, "accounts.db"), "--nick-grace", "2",
                  "--scrypt-cost", "12")


def irssi(tmux, name, port, nick, sasl=None):
    """irssi connecting at start to 127.0.0.1:port as nick, with SASL PLAIN when sasl is
    (username, password)."""
    home = tempfile.mkdtemp(prefix=f"irssi-{name}-", dir=tmux.dir)
    network = ""
    if sasl:
        network = f'sasl_mechanism = "PLAIN"; sasl_username = "{sasl[0]}"; sasl_password = "{sasl[1]}";'
    with open(os.path.join(home, "config"), "w") as config:
        config.write(
            f'servers = ( {{ address = "127.0.0.1"; chatnet = "tcpchat"; port = "{port}"; autoconnect = "yes"; use_tls = "no"; }} );\n'
            f'chatnets = {{ tcpchat = {{ type = "IRC"; {network} }}; }};\n'
            f'settings = {{ core = {{ real_name = "Irssi User"; user_name = "irssi"; nick = "{nick}"; }}; '
            # Everything in the one window the test reads: no query windows for NickServ.
            f'"fe-common/core" = {{ autocreate_own_query = "no"; autocreate_query_level = "NONE"; }}; }};\n')
    return Terminal(tmux, name, ["irssi", f"--home={home}", "-n", nick])


def register(port, nick):
    peer = Peer(port, nick)
    peer.send(f"/register {PASSWORD}")
    peer.expect(rf"^\* {nick} is now registered to you")
    peer.send("/quit")
    peer.read_until_closed()


def main(server_binary):
    tmux = Tmux()
    server = account_server(server_binary, tmux.dir)
    terminals = []
    try:
        register(server.port, "rita")
        register(server.port, "carol")
        liner = Peer(server.port, "liner")

        # SASL PLAIN from irssi's network settings: logged in before registration, no grace.
        rita = irssi(tmux, "rita", server.port, "rita", sasl=("rita", PASSWORD))
        terminals.append(rita)
        rita.wait_for(r"You are now logged in as rita")
        rita.wait_for(r"SASL authentication succeeded")
        rita.wait_for(r"Welcome to the tcpchat IRC network rita!")
        rita.type(f"/msg NickServ IDENTIFY {PASSWORD}")
        rita.keys("Enter")
        rita.wait_for(r"you are already identified as rita")
        if "This nickname is registered" in rita.screen():
            raise Failure(f"irssi logged in with SASL got the grace warning:\n{rita.screen()}")

        # A wrong SASL password: irssi shows the failure.
        wrong = irssi(tmux, "wrong", server.port, "wrongpw", sasl=("carol", "not-the-password"))
        terminals.append(wrong)
        wrong.wait_for(r"SASL authentication failed")

        # carol's nick taken without SASL: NickServ's NOTICE, then irssi follows its own
        # nick change to the guest nick.
        taker = irssi(tmux, "taker", server.port, "carol")
        terminals.append(taker)
        taker.wait_for(r"Welcome to the tcpchat IRC network carol!")
        taker.wait_for(r"-NickServ\(NickServ@services\.\)- This nickname is registered\. If it is yours, /msg NickServ IDENTIFY password")
        taker.wait_for(r"You're now known as guest\d+")
        guest = re.search(r"You're now known as (guest\d+)", taker.screen()).group(1)
        taker.type("/msg liner hello from the guest")
        taker.keys("Enter")
        liner.expect(rf"^<{guest} -> liner> hello from the guest$")
        # It identifies with NickServ IDENTIFY NICK: back to carol, identified.
        taker.type(f"/msg NickServ IDENTIFY carol {PASSWORD}")
        taker.keys("Enter")
        taker.wait_for(r"You're now known as carol")
        taker.wait_for(r"You are now identified as carol")
        taker.type("/msg liner carol again")
        taker.keys("Enter")
        liner.expect(r"^<carol -> liner> carol again$")
        print("irssi accounts: ok")
        return 0
    except Failure as failure:
        print(f"irssi accounts: FAILED: {failure}")
        return 1
    finally:
        for terminal in terminals:
            terminal.close()
        tmux.shutdown()
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
