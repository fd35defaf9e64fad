"""A real IRC client across two clustered servers: irssi (in tmux) on server A chats in #lobby
with a real `nc` user and a real `tcpchat` user (each in its own tmux pane) on server B, the
servers sharing a Redis (Debian's redis-server, on a free loopback port). Messages go every
way; /me, a private line, a topic, a join and a part of another room are seen across.

    python3 Tests/irc/irssi_cluster_test.py PATH/TO/tcpchat-server PATH/TO/tcpchat-client

Standard library only; reuses Tests/client/harness.py. Timeouts only guard against hangs.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "client"))
from harness import Failure, Terminal, Tmux, free_port, wait_until  # noqa: E402


class Redis:
    """A throwaway redis-server on 127.0.0.1 (no persistence), in its own directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tcpchat-redis-")
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as probe:
                    probe.sendall(b"PING\r\n")
                    return probe.recv(16).startswith(b"+PONG")
            except OSError:
                return False
        wait_until("redis-server to answer", answers)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.process.terminate()
        self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class ClusterServer:
    """A tcpchat-server on 127.0.0.1 in a cluster; waits until its Redis link is up."""

    def __init__(self, binary, name, url, directory):
        self.log = os.path.join(directory, f"server-{name}.log")
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [binary, "--host", "127.0.0.1", "--port", "0", "--cluster", url, "--server-name", f"{name}.test",
                 "--verbose"],
                stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on .*:(\d+)$", line.strip())
        if not match:
            self.stop()
            raise Failure(f"server {name} did not start: {line!r}")
        self.port = int(match.group(1))
        wait_until(f"server {name}'s cluster link", lambda: "cluster link up" in open(self.log).read())

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


def enter(terminal):
    terminal.keys("Enter")


def main(server_binary, client_binary):
    redis = Redis()
    a = b = None
    tmux = Tmux()
    panes = []
    try:
        a = ClusterServer(server_binary, "A", redis.url, tmux.dir)
        b = ClusterServer(server_binary, "B", redis.url, tmux.dir)

        # On B: a real nc and a real tcpchat already chat in #lobby.
        nc = Terminal(tmux, "nc", ["nc", "127.0.0.1", str(b.port)])
        panes.append(nc)
        nc.wait_for(r"you joined #lobby")
        nc.type("/nick ncuser")
        enter(nc)
        nc.wait_for(r"you are now known as ncuser")
        tc = Terminal(tmux, "tcpchat", [client_binary, "--no-color", "127.0.0.1", str(b.port), "--nick", "tcuser"])
        panes.append(tc)
        tc.wait_for(r"you are now known as tcuser")
        nc.wait_for(r"now known as tcuser")
        nc.type("hello from nc")
        enter(nc)
        tc.wait_for(r"<ncuser> hello from nc")

        # On A: irssi.
        home = tempfile.mkdtemp(prefix="irssi-", dir=tmux.dir)
        with open(os.path.join(home, "config"), "w") as config:
            config.write('settings = { core = { real_name = "Irssi User"; user_name = "irssi"; nick = "ircuser"; }; '
                         '"fe-common/core" = { autocreate_query_level = "MSGS"; }; };\n')
        irssi = Terminal(tmux, "irssi", ["irssi", f"--home={home}", "-c", "127.0.0.1", "-p", str(a.port), "-n", "ircuser"])
        panes.append(irssi)
        irssi.wait_for(r"Welcome to the tcpchat IRC network ircuser!")
        irssi.type("/join #lobby")
        enter(irssi)
        nc.wait_for(r"\* ircuser joined #lobby")
        tc.wait_for(r"ircuser joined #lobby")
        irssi.wait_for(r"ncuser")   # NAMES lists the people of server B
        irssi.wait_for(r"tcuser")

        # Messages every way.
        nc.type("hi irssi, nc here")
        enter(nc)
        irssi.wait_for(r"<.?ncuser> hi irssi, nc here")
        tc.type("hi irssi, tcpchat here")
        enter(tc)
        irssi.wait_for(r"<.?tcuser> hi irssi, tcpchat here")
        irssi.type("hello both of you on B")
        enter(irssi)
        nc.wait_for(r"<ircuser> hello both of you on B")
        tc.wait_for(r"<ircuser> hello both of you on B")
        irssi.type("/me waves across")
        enter(irssi)
        nc.wait_for(r"\* ircuser waves across")
        tc.wait_for(r"ircuser waves across")
        tc.type("/me waves back")
        enter(tc)
        irssi.wait_for(r"\* tcuser waves back")

        # A private line from B to A.
        nc.type("/msg ircuser psst from nc")
        enter(nc)
        irssi.type("/window goto ncuser")  # irssi opens a query window for a private line
        enter(irssi)
        irssi.wait_for(r"<ncuser> psst from nc")
        irssi.type("/msg ncuser and back")
        enter(irssi)
        nc.wait_for(r"<ircuser -> ncuser> and back")
        irssi.type("/window goto #lobby")
        enter(irssi)

        # A topic set on A is seen on B, and one set on B is seen in irssi.
        irssi.type("/topic one room, two servers")
        enter(irssi)
        nc.wait_for(r"\* ircuser set the topic of #lobby: one room, two servers")
        tc.wait_for(r"ircuser set the topic of #lobby: one room, two servers")
        nc.type("/topic changed on B")
        enter(nc)
        irssi.wait_for(r"ncuser changed the topic of #lobby to: changed on B")

        # Joins and parts of another room, across: the tcpchat user moves to #side on B,
        # irssi joins it too from A (and sees B's topic of it), then parts.
        tc.type("/join #side")
        enter(tc)
        tc.wait_for(r"you joined #side")
        nc.wait_for(r"tcuser left.*#side|tcuser (moved|went) to #side")
        tc.type("/topic the side room")
        enter(tc)
        irssi.type("/join #side")
        enter(irssi)
        tc.wait_for(r"\* ircuser joined #side")
        irssi.wait_for(r"Topic for #side: the side room")
        irssi.type("/part #side see you")
        enter(irssi)
        tc.wait_for(r"ircuser left .*see you")

        irssi.type("/quit bye from A")
        enter(irssi)
        nc.wait_for(r"\* ircuser left \(quit: bye from A\)")
        print("irssi across a cluster: ok")
        return 0
    except Failure as failure:
        print(f"irssi across a cluster: FAILED: {failure}")
        return 1
    finally:
        for pane in panes:
            pane.close()
        tmux.shutdown()
        for server in (a, b):
            if server:
                server.stop()
        redis.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
