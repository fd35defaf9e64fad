"""A real IRC client, irssi, in a tmux pane, chatting with a line-protocol peer through
tcpchat-server: registration, join, messages and actions both ways, a topic, a rename, quit.

    python3 Tests/irc/irssi_test.py PATH/TO/tcpchat-server

Standard library only; reuses Tests/client/harness.py. Timeouts only guard against hangs.
"""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
from harness import Failure, Peer, Server, Terminal, Tmux  # noqa: E402


def main(server_binary):
    server = Server(server_binary)
    tmux = Tmux()
    irssi = None
    try:
        liner = Peer(server.port, "liner")
        home = tempfile.mkdtemp(prefix="irssi-", dir=tmux.dir)
        with open(os.path.join(home, "config"), "w") as config:
            config.write('settings = { core = { real_name = "Irssi User"; user_name = "irssi"; nick = "ircuser"; }; '
                         '"fe-common/core" = { autocreate_query_level = "MSGS"; }; };\n')
        irssi = Terminal(tmux, "irssi", ["irssi", f"--home={home}", "-c", "127.0.0.1", "-p", str(server.port), "-n", "ircuser"])
        irssi.wait_for(r"Welcome to the tcpchat IRC network ircuser!")
        irssi.wait_for(r"MOTD File is missing")
        # Not a line-protocol guest: nobody in #lobby saw a guest come and go.
        irssi.type("/join #lobby")
        irssi.keys("Enter")
        liner.expect(r"^\* ircuser joined #lobby$")
        irssi.wait_for(r"liner")  # the names list
        liner.send("hello irssi")
        irssi.wait_for(r"<.?liner> hello irssi")
        irssi.type("hi line")
        irssi.keys("Enter")
        liner.expect(r"^<ircuser> hi line$")
        irssi.type("/me waves")
        irssi.keys("Enter")
        liner.expect(r"^\* ircuser waves$")
        liner.send("/me nods")
        irssi.wait_for(r"\* liner nods")
        irssi.type("/topic a topic from irssi")
        irssi.keys("Enter")
        liner.expect(r"^\* ircuser set the topic of #lobby: a topic from irssi$")
        liner.send("/msg ircuser psst")
        irssi.type("/window goto liner")  # irssi opens a query window for a private line
        irssi.keys("Enter")
        irssi.wait_for(r"<liner> psst")
        irssi.type("/window goto #lobby")
        irssi.keys("Enter")
        liner.send("/nick liner2")
        irssi.wait_for(r"liner is now known as liner2")
        irssi.type("/quit see you")
        irssi.keys("Enter")
        liner.expect(r"^\* ircuser left \(quit: see you\)$")
        before = liner.lines[:]
        if any(re.search(r"guest\d+ (joined|left)", line) for line in before):
            raise Failure(f"the IRC client was taken for a line-protocol guest: {before!r}")
        print("irssi: ok")
        return 0
    except Failure as failure:
        print(f"irssi: FAILED: {failure}")
        return 1
    finally:
        if irssi:
            irssi.close()
        tmux.shutdown()
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
