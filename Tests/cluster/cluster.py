#!/usr/bin/env python3
"""End-to-end checks of tcpchat-server's Redis cluster mode (issue 8), on loopback only.

Each check starts its own redis-server (persistence off, on a free 127.0.0.1 port, stopped
after), two or three tcpchat-servers joined through it with `--cluster-ttl 2`, and plain socket
clients on each. A check prints `ok: NAME` or fails with what was sent and what arrived; then
every process it started is killed. Checks assert behaviour only: time is a guard against
hangs, the retry interval where the contract allows a delay (chat resuming after Redis comes
back), and one pause that gives the reconnect backoff room to misbehave; nothing is measured.
Absence ("exactly once", "not back to the sender") is proved with markers: see settle().

usage: cluster.py SERVER_BINARY [CHECK ...]     (no CHECK: all of them, in order)
"""
import atexit
import itertools
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SERVER = sys.argv[1] if len(sys.argv) > 1 else None
GUARD = 20.0           # seconds: a wait longer than this means the test is stuck
TTL = 2                # --cluster-ttl of every server here
LOST_GUARD = TTL * 3 + 5   # how long a SIGKILLed server's people may take to leave elsewhere
RESUME_GUARD = 15.0    # how long cross-server chat may take to resume after Redis comes back
LINK_DOWN = "* cluster link down: chat reaches this server only until it is back"
LINK_RESTORED = "* cluster link restored"

RUNNING = []   # processes (Server, Redis) the current check started: killed if it fails
CLIENTS = []   # clients of the current check: their transcripts are shown if it fails
SYNC = itertools.count(1)


def free_port():
    """A loopback port nothing listens on (the kernel's pick, released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(what, probe, guard=GUARD):
    deadline = time.monotonic() + guard
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {guard:g} s for {what}"
        time.sleep(0.05)


class Redis:
    """A throwaway redis-server on 127.0.0.1: no RDB, no AOF, so a restart starts empty."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.workdir = tempfile.TemporaryDirectory(prefix="tcpchat-cluster-redis-")
        RUNNING.append(self)
        self.start()

    def start(self):
        self.log = open(os.path.join(self.workdir.name, "redis.log"), "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no"],
            cwd=self.workdir.name, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(f"redis-server on port {self.port} to answer PING",
                   lambda: self.answers_ping() or self.proc.poll() is not None)
        assert self.proc.poll() is None, f"redis-server exited {self.proc.returncode}: {self.log_tail()}"

    def answers_ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def log_tail(self):
        with open(os.path.join(self.workdir.name, "redis.log"), "rb") as log:
            return log.read().decode(errors="replace")[-800:]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=GUARD)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("redis-server did not stop on SIGTERM")
        self.log.close()
        assert code == 0, f"redis-server exited {code}: {self.log_tail()}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Server:
    """A tcpchat-server in a cluster: its stderr is read by a thread and kept line by line."""

    def __init__(self, name, url, *flags, wait_link=True):
        self.name = name
        RUNNING.append(self)
        self.proc = subprocess.Popen(
            [SERVER, "--host", "127.0.0.1", "--port", "0", "--cluster", url,
             "--cluster-ttl", str(TTL), "--no-rate-limit", "--verbose", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "SWIFT_BACKTRACE": "enable=no"})
        self.log = []
        self.log_changed = threading.Condition()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        line = self._first_stdout_line()
        assert line.startswith("listening on "), f"server {name}: unexpected first line {line!r}; stderr: {self.log[-5:]}"
        self.port = int(line.rsplit(":", 1)[1])
        if wait_link:
            self.wait_log("cluster link up")

    def _first_stdout_line(self):
        fd = self.proc.stdout.fileno()
        data = b""
        deadline = time.monotonic() + GUARD
        while b"\n" not in data:
            left = deadline - time.monotonic()
            assert left > 0, f"server {self.name} printed no listening line in {GUARD:g} s"
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
        return data.decode(errors="replace").split("\n", 1)[0]

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self.log_changed:
                self.log.append(raw.decode(errors="replace").rstrip("\n"))
                self.log_changed.notify_all()

    def wait_log(self, text, after=0, guard=GUARD):
        """The index of the first stderr line from `after` on that contains `text`."""
        deadline = time.monotonic() + guard
        with self.log_changed:
            while True:
                for index in range(after, len(self.log)):
                    if text in self.log[index]:
                        return index
                left = deadline - time.monotonic()
                assert left > 0 and self.proc.poll() is None, \
                    f"server {self.name} never logged {text!r} (exit status {self.proc.poll()}); stderr: {self.log[after:][-8:]}"
                self.log_changed.wait(min(left, 0.2))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=GUARD)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"server {self.name} did not stop on SIGTERM")
        assert code == 0, f"server {self.name} exited {code}; stderr: {self.log[-8:]}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Client:
    """A plain socket client. Lines it reads but no expect() asked for are kept in `extra`,
    so a check can later assert that nothing else (and nothing twice) arrived."""

    def __init__(self, server, nick=None):
        self.server = server
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD)
        self.buffer = b""
        self.extra = []
        self.transcript = []   # ("<<" sent | ">>" received, line): shown when a check fails
        CLIENTS.append(self)
        welcome = self.next_line()
        match = re.fullmatch(r"\* welcome to tcpchat, (\S+)! .*", welcome)
        assert match, f"first line on server {server.name}: {welcome!r}"
        self.guest = self.nick = match.group(1)
        self.joined = self.next_line()
        assert self.joined.startswith("* you joined #lobby"), f"{self.label}: second line {self.joined!r}"
        if nick:
            self.rename(nick)

    @property
    def label(self):
        return f"{self.nick}@{self.server.name}"

    def send(self, text):
        self.transcript.append(("<<", text))
        self.sock.sendall(text.encode() + b"\n")

    def next_line(self, guard=GUARD, what="a line", deadline=None):
        """The next line, whatever it is (it does not look in `extra`)."""
        deadline = deadline or time.monotonic() + guard
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.label}: waited {guard:g} s for {what}; unclaimed lines: {self.extra!r}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise AssertionError(f"{self.label}: connection closed while waiting for {what} "
                                     f"(server {self.server.name} exit status {self.server.proc.poll()}); unclaimed lines: {self.extra!r}")
            self.buffer += data
        raw, self.buffer = self.buffer.split(b"\n", 1)
        line = raw.decode(errors="replace")
        self.transcript.append((">>", line))
        return line

    def expect(self, wanted, guard=GUARD):
        """Waits for the exact line `wanted` (or takes it from `extra`); other lines go to `extra`."""
        return self.expect_match(lambda line: line == wanted, repr(wanted), guard)

    def expect_prefix(self, prefix, guard=GUARD):
        return self.expect_match(lambda line: line.startswith(prefix), f"a line starting {prefix!r}", guard)

    def expect_match(self, matches, what, guard=GUARD):
        for index, line in enumerate(self.extra):
            if matches(line):
                return self.extra.pop(index)
        deadline = time.monotonic() + guard
        while True:
            line = self.next_line(guard, what, deadline)
            if matches(line):
                return line
            self.extra.append(line)

    def poll_prefix(self, prefix, seconds):
        """A line starting with `prefix` if one arrives within `seconds`, else None."""
        try:
            return self.expect_prefix(prefix, guard=seconds)
        except AssertionError:
            return None

    def ask(self, command, reply_prefix):
        """Sends a command and returns its reply line (e.g. /who -> `* people in ...`)."""
        self.send(command)
        return self.expect_prefix(reply_prefix)

    def rename(self, nick):
        self.send(f"/nick {nick}")
        self.expect(f"* you are now known as {nick}")
        self.nick = nick

    def take_extra(self):
        lines, self.extra = self.extra, []
        return lines

    def close(self):
        self.sock.close()


def settle(*members):
    """Proves, without a clock, that everything sent to these clients so far has arrived.

    Each member in turn sends every other member a private marker, twice round. A /who round
    trip (hardening.py's sync) would not do: it only orders the lines of the client's own
    server, while a line (or a wrong duplicate) from another server comes through Redis. A
    marker sent by a member who has already seen everything before it is published after all
    of that, so Redis delivers it after all of that; and with members on two servers, each
    member waits for a marker that crossed Redis. Private markers, unlike chat lines, stay out
    of room history and need no shared room.
    """
    for _ in range(2):
        for speaker in members:
            for other in members:
                if other is not speaker:
                    text = f"sync {next(SYNC)}"
                    speaker.send(f"/msg {other.nick} {text}")
                    speaker.expect(f"<{speaker.nick} -> {other.nick}> {text}")
                    other.expect(f"<{speaker.nick} -> {other.nick}> {text}")


def assert_quiet(context, *clients):
    """Nothing arrived beyond what the check expected (call after settle)."""
    for client in clients:
        extra = client.take_extra()
        assert not extra, f"{client.label} got unexpected lines {extra!r} ({context})"


def assert_extra(client, expected, context):
    """What arrived beyond the expected lines is exactly `expected`, in any order, each once."""
    extra = client.take_extra()
    assert sorted(extra) == sorted(expected), \
        f"{client.label} ({context}): expected exactly {sorted(expected)!r}, got {extra!r}"


def setup_done(*members):
    """Ends a check's setup: settles the room and forgets the join/nick notices it caused."""
    settle(*members)
    for member in members:
        member.extra.clear()


def join(room, *clients):
    """The clients move to `room` one after another; each earlier one sees the next arrive."""
    inside = []
    for client in clients:
        client.send(f"/join {room}")
        client.expect_prefix(f"* you joined {room} (")
        for earlier in inside:
            earlier.expect(f"* {client.nick} joined {room}")
        inside.append(client)


def assert_reply(client, command, expected):
    """Sends /who or /rooms and checks the one-line answer."""
    reply = client.ask(command, {"/who": "* people in ", "/rooms": "* rooms ("}[command])
    assert reply == expected, f"{client.label} sent {command}: expected {expected!r}, got {reply!r}"


def say_until_it_crosses(sender, receiver, word, guard=RESUME_GUARD):
    """Says `word N` (N = 1, 2, ...) every half second until the receiver gets one of them.
    Returns N. Used only where the contract allows a delay (re-subscribing after Redis is back)."""
    deadline = time.monotonic() + guard
    for tries in itertools.count(1):
        sender.send(f"{word} {tries}")
        if receiver.poll_prefix(f"<{sender.nick}> {word} ", 0.5):
            return tries
        assert time.monotonic() < deadline, \
            f"{sender.label} said {word!r} {tries} times over {guard:g} s; {receiver.label} got none (got {receiver.extra!r})"


def drop_retries(client, sender_nick, word, tries):
    """Removes the `<sender> word N` retries from the client's extra lines; each at most once."""
    pattern = re.compile(rf"<{re.escape(sender_nick)}> {re.escape(word)} (\d+)")
    seen = [line for line in client.extra if pattern.fullmatch(line)]
    assert len(seen) == len(set(seen)), f"{client.label} got a retry twice: {seen!r}"
    assert all(1 <= int(pattern.fullmatch(line).group(1)) <= tries for line in seen), seen
    client.extra = [line for line in client.extra if not pattern.fullmatch(line)]


# --- checks ---------------------------------------------------------------------------------

def check_chat():
    """Two servers: chat, /me, join/leave/nick notices cross, once each, never back to the sender."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    link_up = a.log[a.wait_log("cluster link up")]
    assert link_up == f"tcpchat-server: cluster link up ({redis.url}/0)", f"link-up log line: {link_up!r}"
    people = []
    for server, nick in ((a, "alice"), (b, "bob"), (a, "carol"), (b, "dave")):
        newcomer = Client(server, nick)
        # A round trip through Redis from the newcomer's server: its notices are published
        # before the next person connects (else a notice may overtake that person's arrival).
        newcomer.ask("/rooms", "* rooms (")
        for person in people:
            person.expect(f"* {newcomer.guest} joined #lobby")
            person.expect(f"* {newcomer.guest} is now known as {nick}")
        people.append(newcomer)
    alice, bob, carol, dave = people
    settle(*people)
    assert_quiet("each arrival and nick notice of #lobby once, on both servers", *people)

    alice.send("hello from A")
    for other in (carol, bob, dave):
        other.expect("<alice> hello from A")
    bob.send("/me waves from B")
    for other in (alice, carol, dave):
        other.expect("* bob waves from B")
    settle(*people)
    assert_quiet("after one chat line from A and one /me from B", *people)

    join("#den", alice)
    for other in (carol, bob, dave):
        other.expect("* alice left #lobby (joined #den)")
    join("#den", bob)
    alice.expect("* bob joined #den")
    for other in (carol, dave):
        other.expect("* bob left #lobby (joined #den)")
    bob.send("just us in the den")
    alice.expect("<bob> just us in the den")
    alice.send("/me closes the door")
    bob.expect("* alice closes the door")
    bob.rename("robert")
    alice.expect("* bob is now known as robert")
    settle(alice, bob)
    settle(carol, dave)
    assert_quiet("#den chat, /me and a nick change must not reach #lobby, nor come back", alice, bob, carol, dave)

    bob.send("/quit see you")
    bob.expect("* goodbye, robert")
    alice.expect("* robert left (quit: see you)")
    alice.send("/join #lobby")
    alice.expect_prefix("* you joined #lobby (")
    replay = [alice.next_line(what="a history line") for _ in range(2)]
    assert replay == ["* history: <alice> hello from A", "* history: * bob waves from B"], \
        f"alice@A came back to #lobby; after the join line came {replay!r}"
    for other in (carol, dave):
        other.expect("* alice joined #lobby")
    settle(alice, carol, dave)
    assert_quiet("after robert quit #den and alice came back to #lobby", alice, carol, dave)
    for server in (a, b):
        server.stop()
    redis.stop()


def check_three_servers():
    """Three servers, one client each, in one room: every line reaches the two others once."""
    redis = Redis()
    servers = [Server(name, redis.url) for name in "ABC"]
    x, y, z = (Client(server, nick) for server, nick in zip(servers, ("xena", "yuri", "zoe")))
    join("#trio", x, y, z)
    setup_done(x, y, z)
    for speaker in (x, y, z):
        speaker.send(f"{speaker.nick} was here")
        for other in (x, y, z):
            if other is not speaker:
                other.expect(f"<{speaker.nick}> {speaker.nick} was here")
    z.send("/me counts to three")
    x.expect("* zoe counts to three")
    y.expect("* zoe counts to three")
    assert_reply(y, "/who", "* people in #trio (3): xena yuri zoe")
    settle(x, y, z)
    assert_quiet("three servers chatting in #trio", x, y, z)
    for server in servers:
        server.stop()
    redis.stop()


def check_private_messages():
    """/msg reaches a nick on any server and in any room; an unknown nick is an error."""
    redis = Redis()
    a, b, c = (Server(name, redis.url) for name in "ABC")
    alice, erin = Client(a, "alice"), Client(a, "erin")
    bob, carol = Client(b, "bob"), Client(b, "carol")
    dave = Client(c, "dave")
    join("#elsewhere", erin, dave)
    setup_done(alice, bob, carol)
    setup_done(erin, dave)

    alice.send("/msg bob psst, bob")
    bob.expect("<alice -> bob> psst, bob")
    alice.expect("<alice -> bob> psst, bob")
    alice.send("/msg dave you are on C")
    dave.expect("<alice -> dave> you are on C")
    alice.expect("<alice -> dave> you are on C")
    bob.send("/msg alice back at you")
    alice.expect("<bob -> alice> back at you")
    bob.expect("<bob -> alice> back at you")
    alice.send("/msg nobody hello?")
    alice.expect("! no such nick nobody, try /who or /rooms")
    settle(alice, bob, carol)
    settle(erin, dave)
    assert_quiet("private messages go to the receiver and back to the sender only, once",
                 alice, bob, carol, erin, dave)
    for server in (a, b, c):
        server.stop()
    redis.stop()


def check_who_and_rooms():
    """/who and /rooms count the members of every live server."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    amy, carol = Client(a, "amy"), Client(a, "carol")
    zed, bob, dave, erin = Client(b, "Zed"), Client(b, "bob"), Client(b, "dave"), Client(b, "erin")
    join("#x", carol, dave)
    join("#y", erin)
    erin.extra.clear()   # #lobby's notices from before she left it
    setup_done(amy, zed, bob)
    setup_done(carol, dave)

    assert_reply(amy, "/who", "* people in #lobby (3): amy bob Zed")
    assert_reply(dave, "/who", "* people in #x (2): carol dave")
    assert_reply(erin, "/rooms", "* rooms (3): #lobby (3), #x (2), #y (1)")
    carol.send("/quit")
    dave.expect("* carol left (quit)")
    assert_reply(dave, "/who", "* people in #x (1): dave")
    join("#x", erin)
    dave.expect("* erin joined #x")
    # dave is on erin's server: his notice does not prove Redis has her move yet. A marker
    # from her that crossed Redis does (her server writes to Redis in order).
    settle(amy, erin)
    assert_reply(amy, "/rooms", "* rooms (2): #lobby (3), #x (2)")
    settle(amy, zed, bob)
    settle(dave, erin)
    assert_quiet("/who and /rooms answer the asker only", amy, zed, bob, dave, erin)
    for server in (a, b):
        server.stop()
    redis.stop()


def check_history():
    """Joining a room replays what was said in it on any server, in order."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    alice = Client(a, "alice")
    join("#hist", alice)
    alice.send("first, from A")
    alice.send("/me second, from A")
    # The /rooms answer comes from Redis: asked after the lines, it follows their recording.
    alice.ask("/rooms", "* rooms ")

    carol = Client(b, "carol")
    carol.send("/join #hist")
    carol.expect_prefix("* you joined #hist (")
    replay = [carol.next_line(what="history line") for _ in range(2)]
    assert replay == ["* history: <alice> first, from A", "* history: * alice second, from A"], \
        f"carol@B joined #hist and got {replay!r} after its join line"
    alice.expect("* carol joined #hist")
    carol.send("third, from B")
    alice.expect("<carol> third, from B")

    dave = Client(a, "dave")
    dave.send("/join #hist")
    dave.expect_prefix("* you joined #hist (")
    replay = [dave.next_line(what="history line") for _ in range(3)]
    assert replay == ["* history: <alice> first, from A", "* history: * alice second, from A",
                      "* history: <carol> third, from B"], f"dave@A joined #hist and got {replay!r} after its join line"
    alice.expect("* dave joined #hist")
    carol.expect("* dave joined #hist")
    settle(alice, carol, dave)
    assert_quiet("history is replayed once, to the joiner only", alice, carol, dave)
    for server in (a, b):
        server.stop()
    redis.stop()


def check_nicks():
    """Nicks are unique across the cluster, guest nicks too; a released nick is free everywhere."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    guests = [Client(server) for server in (a, b, a, b, a, b)]
    names = [guest.nick for guest in guests]
    assert len(set(n.lower() for n in names)) == len(names), f"guest nicks repeat across servers: {names}"

    ann = Client(a, "ann")
    ben = Client(b)
    ben.send("/nick ann")
    ben.expect("! nick ann is taken; choose another")
    ben.send("/nick ANN")
    taken = ben.expect_prefix("! nick ")
    assert re.fullmatch(r"! nick ann is taken; choose another", taken, re.IGNORECASE), \
        f"/nick ANN on B while ann is on A: {taken!r}"

    # A lookalike is refused across servers too (claims are by UTS #39 skeleton), naming the
    # nick it resembles: асе, all Cyrillic (one script, so only its look is against it), while
    # ace is on A. A fullwidth ａｎｎ is ann itself (the same key).
    ace = Client(a, "ace")
    ben.send("/nick \u0430\u0441\u0435")
    ben.expect("! nick \u0430\u0441\u0435 is too much like ace (someone on another server is using it); pick another")
    ben.send("/nick \uff41\uff4e\uff4e")
    ben.expect("! nick ann is taken; choose another")
    ace.send("/quit")

    ann.rename("anna")
    ben.expect("* ann is now known as anna")   # B has heard of it: "ann" is free
    ben.rename("ann")
    ann.expect(f"* {ben.guest} is now known as ann")
    ann.send("/nick ann")
    ann.expect("! nick ann is taken; choose another")

    # Two servers are asked for one nick at the same moment: exactly one of them grants it.
    x, y = Client(a), Client(b)
    x.send("/nick contested")
    y.send("/nick contested")
    granted, refused = "* you are now known as contested", "! nick contested is taken; choose another"
    replies = [client.expect_match(lambda line: line in (granted, refused), "the reply to /nick contested")
               for client in (x, y)]
    assert sorted(replies) == sorted([granted, refused]), \
        f"x@A and y@B both asked for 'contested' at once; the replies were {replies!r}"

    ben.send("/quit")
    ben.expect("* goodbye, ann")
    ann.expect("* ann left (quit)")
    ann.rename("ann")   # freed by /quit on B, taken back on A
    for server in (a, b):
        server.stop()
    redis.stop()


def check_server_lost():
    """kill -9 one server: after about the TTL its people leave everywhere and their nicks free up."""
    redis = Redis()
    a, b, c = (Server(name, redis.url) for name in "ABC")
    ann, ben = Client(a, "ann"), Client(a, "ben")
    bob, sid = Client(b, "bob"), Client(b, "sid")
    cat = Client(c, "cat")
    join("#side", ben, sid)
    setup_done(ann, bob, cat)
    setup_done(ben, sid)

    a.kill()
    bob.expect("* ann left (server lost)", guard=LOST_GUARD)
    cat.expect("* ann left (server lost)", guard=LOST_GUARD)
    sid.expect("* ben left (server lost)", guard=LOST_GUARD)
    settle(bob, cat)
    assert_reply(sid, "/who", "* people in #side (1): sid")
    assert_quiet("each of the lost server's people leaves once, in their own room only", bob, cat, sid)
    assert_reply(bob, "/who", "* people in #lobby (2): bob cat")
    assert_reply(cat, "/rooms", "* rooms (2): #lobby (2), #side (1)")
    cat.rename("ann")
    sid.rename("ben")
    bob.expect("* cat is now known as ann")
    settle(bob, cat)
    assert_quiet("after the lost nicks were taken again", bob, cat, sid)
    for server in (b, c):
        server.stop()
    redis.stop()


def check_redis_restart():
    """Redis stops mid-chat: local chat goes on, one link-down line each; back: one restored
    line each, cross-server chat and /who come back."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    alice, carol = Client(a, "alice"), Client(a, "carol")
    bob, dave = Client(b, "bob"), Client(b, "dave")
    people = [alice, carol, bob, dave]
    setup_done(*people)
    log_marks = {server: len(server.log) for server in (a, b)}

    redis.stop()
    for person in people:
        person.expect(LINK_DOWN)
    for server in (a, b):
        line = server.log[server.wait_log("cluster link down (", after=log_marks[server])]
        assert line.startswith("tcpchat-server: cluster link down (") and line.endswith("); retrying"), \
            f"server {server.name} link-down log line: {line!r}"
    alice.send("A only, while Redis is down")
    carol.expect("<alice> A only, while Redis is down")
    dave.send("B only, while Redis is down")
    bob.expect("<dave> B only, while Redis is down")
    settle(alice, carol)
    settle(bob, dave)
    # Give the reconnect backoff (0.1 s, 0.2 s, ...) a few failed attempts: one link-down line
    # per client must survive them. Nothing is measured; the wait only widens the window.
    time.sleep(1.0)

    for server in (a, b):
        log_marks[server] = len(server.log)
    redis.start()
    for person in people:
        person.expect(LINK_RESTORED, guard=RESUME_GUARD)
    for server in (a, b):
        server.wait_log("cluster link up", after=log_marks[server], guard=RESUME_GUARD)
    a_tries = say_until_it_crosses(alice, bob, "A to B again")
    b_tries = say_until_it_crosses(bob, alice, "B to A again")
    dave.expect_prefix("<alice> A to B again ")
    carol.expect_prefix("<bob> B to A again ")
    settle(*people)
    for person in people:
        drop_retries(person, "alice", "A to B again", a_tries)
        drop_retries(person, "bob", "B to A again", b_tries)
        # Whether a line said while the link was down crosses later is not specified; if it
        # does, it arrives once.
        late = [line for line in person.extra if "while Redis is down" in line]
        assert len(late) == len(set(late)), f"{person.label} got a line twice: {late!r}"
        person.extra = [line for line in person.extra if line not in late]
    assert_quiet("exactly one link-down and one link-restored line per client", *people)
    # Redis came back empty: the servers must claim their people again (within a heartbeat).
    deadline = time.monotonic() + RESUME_GUARD
    while (who := alice.ask("/who", "* people in ")) != "* people in #lobby (4): alice bob carol dave":
        assert time.monotonic() < deadline, f"after Redis restarted, /who still answers {who!r}"
        time.sleep(0.2)
    for server in (a, b):
        server.stop()
    redis.stop()


def check_redis_unreachable():
    """A server started before Redis serves local chat and says the link is down; when Redis
    appears, the link comes up, clients hear it once, and chat crosses servers."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}"
    a = Server("A", url, wait_link=False)
    line = a.log[a.wait_log("cluster link down (")]
    assert line.endswith("); retrying"), f"link-down log line: {line!r}"
    first, second = Client(a), Client(a)
    for client in (first, second):
        after_join = client.next_line(what="the link-down line after the join line")
        assert after_join == LINK_DOWN, f"{client.label} connected while Redis was down; after its join line came {after_join!r}"
    first.send("only here for now")
    second.expect(f"<{first.nick}> only here for now")
    settle(first, second)
    assert_extra(first, [f"* {second.nick} joined #lobby"], "local chat while Redis is unreachable")
    assert_quiet("local chat while Redis is unreachable", second)

    redis = Redis(port)
    a.wait_log("cluster link up", guard=RESUME_GUARD)
    first.expect(LINK_RESTORED, guard=RESUME_GUARD)
    second.expect(LINK_RESTORED, guard=RESUME_GUARD)
    b = Server("B", url)
    bob = Client(b, "bob")
    assert bob.guest not in (first.nick, second.nick), \
        f"a client of B (link up) was welcomed as {bob.guest}, a nick A has held since its link came up"
    tries = say_until_it_crosses(first, bob, "hello B")
    second.expect_prefix(f"<{first.nick}> hello B ")
    settle(first, second, bob)
    for client in (first, second, bob):
        drop_retries(client, first.nick, "hello B", tries)
        # bob's arrival may or may not be announced on A, depending on whether A's
        # subscription was back yet when bob joined; if it is, it is announced once.
        for notice in (f"* {bob.guest} joined #lobby", f"* {bob.guest} is now known as bob"):
            if notice in client.extra:
                client.extra.remove(notice)   # a second copy stays, and fails below
    assert_quiet("after Redis appeared", first, second, bob)
    for server in (a, b):
        server.stop()
    redis.stop()


def check_redis_stalled():
    """Redis stops answering but keeps its connections (SIGSTOP): no EOF, no RST. Unanswered
    heartbeats declare the link lost; local chat goes on; SIGCONT brings it back."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    alice, carol = Client(a, "alice"), Client(a, "carol")
    bob = Client(b, "bob")
    setup_done(alice, carol, bob)

    redis.proc.send_signal(signal.SIGSTOP)
    try:
        for person in (alice, carol, bob):
            person.expect(LINK_DOWN, guard=LOST_GUARD)
        line = a.log[a.wait_log("cluster link down (")]
        assert "Redis stopped answering" in line, f"A's link-down log line: {line!r}"
        alice.send("still here")
        carol.expect("<alice> still here")
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    for person in (alice, carol, bob):
        person.expect(LINK_RESTORED, guard=RESUME_GUARD)
    tries = say_until_it_crosses(alice, bob, "across again")
    carol.expect_prefix("<alice> across again ")
    settle(alice, carol, bob)
    for person in (alice, carol, bob):
        drop_retries(person, "alice", "across again", tries)
        person.extra = [line for line in person.extra if "still here" not in line]  # may cross late, once
    assert_quiet("one link-down and one restored line each", alice, carol, bob)
    for server in (a, b):
        server.stop()
    redis.stop()


def check_bad_flags():
    """A --cluster URL that is not redis://, or a TTL out of range: exit 1, one line on stderr."""
    cases = [
        (["--cluster", "http://x"], "redis://"),
        (["--cluster", "redis://127.0.0.1:1", "--cluster-ttl", "0"], "1-3600"),
        (["--cluster", "redis://127.0.0.1:1", "--cluster-ttl", "3601"], "1-3600"),
    ]
    for flags, mentions in cases:
        shown = " ".join(flags)
        try:
            run = subprocess.run([SERVER, "--host", "127.0.0.1", "--port", "0", *flags],
                                 capture_output=True, timeout=GUARD,
                                 env={**os.environ, "SWIFT_BACKTRACE": "enable=no"})
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{shown}: the server started instead of refusing the flags")
        err = run.stderr.decode(errors="replace").strip()
        assert run.returncode == 1, f"{shown}: exit status {run.returncode}, stderr {err!r}"
        assert not run.stdout, f"{shown}: printed {run.stdout!r} on stdout"
        assert len(err.splitlines()) == 1, f"{shown}: stderr is not one line: {err!r}"
        assert mentions in err, f"{shown}: stderr does not mention {mentions}: {err!r}"


class IRCClient:
    """An IRC client on a raw socket (RFC 2812 registration), for the cross-protocol check."""

    def __init__(self, server, nick):
        self.server = server
        self.nick = nick
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD)
        self.buffer = b""
        self.transcript = []
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick} on IRC")
        self.expect_match(lambda line: f" 001 {nick} " in line, "the 001 welcome")

    def send(self, text):
        self.transcript.append(("<<", text))
        self.sock.sendall(text.encode() + b"\r\n")

    def expect_match(self, matches, what, guard=GUARD):
        """The first line that `matches` (answering PINGs meanwhile); others are skipped."""
        deadline = time.monotonic() + guard
        while True:
            while b"\n" not in self.buffer:
                left = deadline - time.monotonic()
                assert left > 0, f"IRC {self.nick}@{self.server.name}: waited {guard:g} s for {what}; saw {self.transcript[-8:]!r}"
                self.sock.settimeout(left)
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                assert data, f"IRC {self.nick}@{self.server.name}: connection closed while waiting for {what}"
                self.buffer += data
            raw, self.buffer = self.buffer.split(b"\n", 1)
            line = raw.decode(errors="replace").rstrip("\r")
            self.transcript.append((">>", line))
            if line.startswith("PING "):
                self.send("PONG " + line[5:])
                continue
            if matches(line):
                return line

    def expect_suffix(self, command_and_text):
        """A line `:prefix COMMAND_AND_TEXT`."""
        return self.expect_match(lambda line: line.startswith(":") and line.split(" ", 1)[-1] == command_and_text,
                                 repr(command_and_text))


def check_irc_across_servers():
    """An IRC client on server A and line-protocol clients on A and B share #lobby: chat, /me,
    private lines, a topic and a quit cross both protocols and both servers."""
    redis = Redis()
    a, b = Server("A", redis.url), Server("B", redis.url)
    bob = Client(b, "bob")
    carol = Client(a, "carol")
    bob.ask("/rooms", "* rooms (")
    carol.ask("/rooms", "* rooms (")
    irc = IRCClient(a, "ircy")
    irc.send("JOIN #lobby")
    irc.expect_match(lambda line: " 366 ircy #lobby " in line, "the end of NAMES for #lobby")
    for person in (bob, carol):
        person.expect("* ircy joined #lobby")
    # Give the join a round trip through Redis before anything else is said.
    bob.ask("/who", "* people in #lobby")

    bob.send("hello from B")
    irc.expect_suffix("PRIVMSG #lobby :hello from B")
    carol.expect("<bob> hello from B")
    irc.send("PRIVMSG #lobby :hello from IRC on A")
    bob.expect("<ircy> hello from IRC on A")
    carol.expect("<ircy> hello from IRC on A")
    irc.send("PRIVMSG #lobby :\x01ACTION waves\x01")
    bob.expect("* ircy waves")
    bob.send("/me waves back")
    irc.expect_suffix("PRIVMSG #lobby :\x01ACTION waves back\x01")

    bob.send("/msg ircy psst from B")
    bob.expect("<bob -> ircy> psst from B")
    irc.expect_suffix("PRIVMSG ircy :psst from B")
    irc.send("PRIVMSG bob :and back")
    bob.expect("<ircy -> bob> and back")
    # A /me in private crosses too (as the CTCP ACTION it is), and shows as an action.
    irc.send("PRIVMSG bob :\x01ACTION nods to B\x01")
    bob.expect("<ircy -> bob> * ircy nods to B")

    irc.send("TOPIC #lobby :one room, two protocols")
    bob.expect("* ircy set the topic of #lobby: one room, two protocols")
    # The topic is server B's too: asked there, it answers without IRC's server.
    bob.ask("/topic", "* topic of #lobby: one room, two protocols")

    # A NOTICE to a nick on the other server crosses too (1.1), to IRC and to the line protocol.
    ircb = IRCClient(b, "ircb")
    irc.send("NOTICE ircb :a notice across")
    ircb.expect_match(lambda line: line.startswith(":ircy!") and line.endswith(" NOTICE ircb :a notice across"),
                      "ircy's NOTICE")
    irc.send("NOTICE bob :noticed, bob?")
    bob.expect("<ircy -> bob> noticed, bob?")
    irc.send("NOTICE nobody-anywhere :lost")  # never answered, even with an error
    # A room new to server B learns the topic set on A before (kept in Redis, 1.1); joins,
    # topics and parts cross between IRC clients of both servers.
    irc.send("JOIN #side")
    irc.expect_match(lambda line: " 366 ircy #side " in line, "the end of NAMES for #side")
    irc.send("TOPIC #side :set on A before B had the room")
    irc.expect_suffix("TOPIC #side :set on A before B had the room")
    ircb.send("JOIN #side")
    ircb.expect_match(lambda line: line.split(" ", 1)[-1] == "332 ircb #side :set on A before B had the room",
                      "332 with A's topic")
    irc.expect_match(lambda line: line.startswith(":ircb!") and line.endswith(" JOIN #side"), "ircb's JOIN")
    ircb.send("TOPIC #side :changed on B")
    irc.expect_suffix("TOPIC #side :changed on B")
    bob.send("/join #side")
    bob.expect("* topic of #side: changed on B")
    ircb.send("PART #side :off")
    irc.expect_match(lambda line: line.startswith(":ircb!") and line.endswith(" PART #side :off"), "ircb's PART")

    irc.send("QUIT :bye now")
    for person in (bob, carol):
        person.expect_prefix("* ircy left (")
    for server in (a, b):
        server.stop()
    redis.stop()


CHECKS = {
    "chat": check_chat,
    "three": check_three_servers,
    "msg": check_private_messages,
    "who": check_who_and_rooms,
    "history": check_history,
    "nicks": check_nicks,
    "lost": check_server_lost,
    "restart": check_redis_restart,
    "unreachable": check_redis_unreachable,
    "stalled": check_redis_stalled,
    "badflags": check_bad_flags,
    "irc": check_irc_across_servers,
}


def show_failure_context():
    """What each client sent and received, and what each server logged, for the report."""
    for client in CLIENTS:
        lines = client.transcript[-20:]
        print(f"  {client.label} (last {len(lines)} of {len(client.transcript)}):")
        for direction, line in lines:
            print(f"    {direction} {line}")
    for process in RUNNING:
        if isinstance(process, Server):
            print(f"  server {process.name} (exit status {process.proc.poll()}) stderr tail:")
            for line in process.log[-6:]:
                print(f"    {line}")


def kill_everything_started():
    for process in RUNNING:
        process.kill()


if __name__ == "__main__":
    # However the run ends (an error outside a check, ^C, a CI timeout's SIGTERM), no Redis or
    # server is left behind.
    atexit.register(kill_everything_started)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not SERVER or any(name not in CHECKS for name in sys.argv[2:]):
        sys.exit(f"usage: cluster.py SERVER_BINARY [CHECK ...]\nchecks: {' '.join(CHECKS)}")
    names = sys.argv[2:] or list(CHECKS)
    failed = 0
    began = time.monotonic()
    for name in names:
        start = time.monotonic()
        try:
            CHECKS[name]()
            print(f"ok: {name} ({time.monotonic() - start:.1f} s)", flush=True)
        except Exception as error:  # report every check, then fail
            failed += 1
            print(f"FAILED: {name}: {error}", flush=True)
            show_failure_context()
        kill_everything_started()
        for client in CLIENTS:
            client.close()
        RUNNING.clear()
        CLIENTS.clear()
    print(f"{len(names) - failed} passed, {failed} failed ({time.monotonic() - began:.1f} s)")
    sys.exit(1 if failed else 0)
