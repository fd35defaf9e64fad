#!/usr/bin/env python3
"""Accounts for IRC clients (issue 20, branch acct-irc): SASL PLAIN and NickServ, with a raw
socket IRC client against the real tcpchat-server with --accounts (SQLite) on 127.0.0.1.

    python3 Tests/irc/irc_accounts_test.py SERVER [TEST...]

What it shows: CAP LS 302 offers sasl=PLAIN (and nothing without accounts); CAP REQ :sasl is
ACKed; AUTHENTICATE PLAIN, +, the base64 payload (in 400-byte chunks when long) -> 900 and
903, and the session is identified once registered; a wrong password -> 904; abort (906),
an unknown mechanism (908, 904), too long (905), already (907); CAP END sent right behind the
payload waits for the answer (903 before 001); NickServ REGISTER, IDENTIFY, IDENTIFY NICK,
GHOST, HELP as NOTICEs from NickServ!NickServ@services., 900 on identify; NICK NickServ is
refused; the grace warning and rename as an IRC client sees them (NickServ NOTICE, then a NICK
line for its own nick); plaintext passwords refused over SASL and NickServ from a peer outside
--plaintext-password-networks. Waits only guard against hangs; nothing is about time.
"""
import base64, os, socket, subprocess, sys, tempfile, threading, time

SERVER = sys.argv[1]
HANG = 30.0
TMP = tempfile.mkdtemp(prefix="tcpchat-irc-accounts-")
ENV = dict(os.environ, SWIFT_BACKTRACE="enable=no")
PASSWORD = "correct-horse-battery"
NICKSERV = ":NickServ!NickServ@services. NOTICE "


class Server:
    def __init__(self, *flags, accounts=True):
        db = os.path.join(TMP, f"accounts-{time.monotonic_ns()}.db")
        args = [SERVER, "--host", "127.0.0.1", "--port", "0", "--nick-grace", "1", "--scrypt-cost", "12", "--verbose", *flags]
        if accounts:
            args += ["--accounts", db]
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        line = self.process.stdout.readline().decode()
        assert line.startswith("listening on"), f"server did not start: {line!r} {self.process.stderr.read()!r}"
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.log = []
        threading.Thread(target=lambda: [self.log.append(l.decode(errors="replace")) for l in self.process.stderr], daemon=True).start()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=HANG)


class IRC:
    def __init__(self, server, host="127.0.0.1"):
        self.sock = socket.create_connection((host, server.port), timeout=HANG)
        self.buffer = b""
        self.seen = []

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def line(self):
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError(f"closed; seen {self.seen[-10:]}")
            self.buffer += data
        raw, self.buffer = self.buffer.split(b"\r\n", 1)
        text = raw.decode(errors="replace")
        self.seen.append(text)
        if text.startswith("PING "):
            self.send("PONG " + text[5:])
        return text

    def expect(self, *parts):
        """The next line containing every part (other lines are skipped, kept in `seen`)."""
        start = len(self.seen)
        while True:
            try:
                line = self.line()
            except (socket.timeout, EOFError) as error:
                raise AssertionError(f"waited for {parts!r} in vain; saw {self.seen[start:]} ({error})")
            if all(part in line for part in parts):
                return line

    def lines_until(self, *parts):
        """Every line up to and including the one containing all parts."""
        start = len(self.seen)
        self.expect(*parts)
        return self.seen[start:]

    def register(self, nick):
        self.send(f"NICK {nick}")
        self.send(f"USER {nick} 0 * :{nick}")
        self.expect(f" 001 {nick} ")

    def sync(self):
        """The lines before the answer to a PING round trip."""
        token = f"sync{time.monotonic_ns()}"
        self.send(f"PING {token}")
        lines = self.lines_until("PONG", token)
        return lines[:-1]

    def close(self):
        self.sock.close()


def plain(authcid, password, authzid=""):
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


def sasl(client, authcid, password, then_end=True):
    client.send("CAP LS 302")
    client.expect("CAP * LS :sasl=PLAIN")
    client.send("CAP REQ :sasl")
    client.expect("CAP * ACK :sasl")
    client.send("AUTHENTICATE PLAIN")
    client.expect("AUTHENTICATE +")
    client.send(f"AUTHENTICATE {plain(authcid, password)}")


def registered(server, nick):
    """An IRC client that registered `nick` with NickServ (and stays connected)."""
    c = IRC(server)
    c.register(nick)
    c.send(f"PRIVMSG NickServ :REGISTER {PASSWORD} someone@example.org")
    c.expect(NICKSERV, f"Account created: {nick} is registered to you")
    c.expect(" 900 ", f"You are now logged in as {nick}")
    return c


# --- tests ----------------------------------------------------------------------------------

def test_sasl_success():
    server = Server()
    registered(server, "rita").close()
    c = IRC(server)
    sasl(c, "rita", PASSWORD)
    line = c.expect(" 900 ")
    assert line.endswith(" rita :You are now logged in as rita"), line
    c.expect(" 903 ", ":SASL authentication successful")
    c.send("CAP END")
    c.register("rita")
    # Identified: no grace warning, and NickServ says so when asked to identify again.
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    line = c.expect(NICKSERV)
    assert "you are already identified as rita" in line, line
    assert not any("is registered" in l for l in c.seen), c.seen
    server.stop()


def test_sasl_failures():
    server = Server()
    registered(server, "rita").close()
    c = IRC(server)
    sasl(c, "rita", "wrong-password")
    c.expect(" 904 ", ":SASL authentication failed")
    # Not registered: 904 too (and the session may try again).
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE +")
    c.send(f"AUTHENTICATE {plain('nobody', PASSWORD)}")
    c.expect(" 904 ")
    # Aborted, unknown mechanism, too long.
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE +")
    c.send("AUTHENTICATE *")
    c.expect(" 906 ", ":SASL authentication aborted")
    c.send("AUTHENTICATE SCRAM-SHA-256")
    c.expect(" 908 ", "PLAIN :are available SASL mechanisms")
    c.expect(" 904 ")
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE +")
    c.send("AUTHENTICATE " + "A" * 401)
    c.expect(" 905 ", ":SASL message too long")
    # Not base64.
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE +")
    c.send("AUTHENTICATE !!!!")
    c.expect(" 904 ")
    # Then right (the account's wait after the failure applies, and passes): 903; then 907.
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE +")
    c.send(f"AUTHENTICATE {plain('rita', PASSWORD)}")
    c.expect(" 903 ")
    c.send("AUTHENTICATE PLAIN")
    c.expect(" 907 ")
    server.stop()


def test_sasl_chunks():
    """A payload longer than 400 bytes comes in 400-byte chunks, the last shorter; one of
    exactly 400 is followed by `AUTHENTICATE +` (IRCv3 SASL 3.1)."""
    server = Server()
    cases = [("n" * 32, "x" * 256), ("m" * 32, "y" * 234)]  # raw 322 bytes (432 base64), 300 (400)
    for nick, password in cases:
        owner = IRC(server)
        owner.register(nick)
        owner.send(f"PRIVMSG NickServ :REGISTER {password}")
        owner.expect(" 900 ")
        owner.close()
    for nick, password in cases:
        payload = base64.b64encode(f"{nick.upper()}\0{nick}\0{password}".encode()).decode()
        chunks = [payload[i:i + 400] for i in range(0, len(payload), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")
        assert len(chunks) == 2, (len(payload), chunks)
        c = IRC(server)
        for line in ("CAP LS 302", "CAP REQ :sasl", "AUTHENTICATE PLAIN"):
            c.send(line)
        c.expect("AUTHENTICATE +")
        for chunk in chunks:
            c.send(f"AUTHENTICATE {chunk}")
        c.expect(" 900 ", f"You are now logged in as {nick}")
        c.expect(" 903 ")
        c.close()
    server.stop()


def test_cap_end_waits_for_answer():
    server = Server()
    registered(server, "rita").close()
    c = IRC(server)
    c.send("CAP LS 302")
    c.send("CAP REQ :sasl")
    c.send("AUTHENTICATE PLAIN")
    c.expect("AUTHENTICATE +")
    c.send(f"AUTHENTICATE {plain('rita', PASSWORD)}")
    c.send("CAP END")
    c.send("NICK rita")
    c.send("USER rita 0 * :rita")
    lines = c.lines_until(" 001 rita ")
    done = [i for i, l in enumerate(lines) if " 903 " in l]
    assert done, f"no 903 before 001: {lines}"
    server.stop()


def test_no_sasl_without_accounts():
    server = Server(accounts=False)
    c = IRC(server)
    c.send("CAP LS 302")
    line = c.expect(" CAP * LS ")
    assert line.endswith("LS :"), line
    c.send("CAP REQ :sasl")
    c.expect("CAP * NAK :sasl")
    c.send("CAP END")
    c.register("ircy")
    c.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    line = c.expect(NICKSERV)
    assert "this server keeps no accounts" in line, line
    server.stop()


def test_nickserv():
    server = Server()
    rita = registered(server, "rita")
    c = IRC(server)
    c.register("bob")
    c.send("PRIVMSG NickServ :HELP")
    c.expect(NICKSERV, "REGISTER password [email]")
    c.send("PRIVMSG NickServ :FROB")
    c.expect(NICKSERV, "unknown command FROB")
    c.send(f"PRIVMSG NickServ :IDENTIFY rita {PASSWORD}")
    c.expect(NICKSERV, "rita is in use by another session; /msg NickServ GHOST rita PASSWORD disconnects it")
    c.send("PRIVMSG NickServ :GHOST rita wrong-password")
    c.expect(NICKSERV, "wrong password for rita")
    c.send(f"PRIVMSG NickServ :GHOST rita {PASSWORD}")
    c.expect(NICKSERV, "rita has been ghosted")
    c.expect(":bob!", "NICK :rita")  # its own nick change, as IRC clients follow it
    c.expect(" 900 rita ", "You are now logged in as rita")
    rita.expect("ERROR", "ghosted by bob")
    # IDENTIFY NICK: a second client takes the account's nick once it is free.
    c.send("QUIT")
    d = IRC(server)
    d.register("carol")
    d.send(f"NICKSERV IDENTIFY rita {PASSWORD}")  # the NICKSERV command works as the PRIVMSG
    d.expect(":carol!", "NICK :rita")
    d.expect(NICKSERV, "You are now identified as rita")
    # NickServ is nobody's nick.
    e = IRC(server)
    e.send("NICK NickServ")
    e.expect(" 432 ", "NickServ")
    server.stop()


def test_grace_rename_seen_by_irc():
    server = Server()
    registered(server, "rita").close()
    c = IRC(server)
    c.register("rita")
    warning = c.expect(NICKSERV)
    assert "This nickname is registered. If it is yours, /msg NickServ IDENTIFY password within 1 s" in warning, warning
    notice = c.expect(NICKSERV, "rita is registered and you did not identify within 1 s")
    line = c.expect(":rita!", " NICK :guest")
    guest = line.rsplit(":", 1)[1]
    c.send("PRIVMSG NickServ :HELP")
    line = c.expect(NICKSERV)
    assert f"NOTICE {guest} :" in line, (guest, line)
    del notice
    # Identifying in time keeps it.
    d = IRC(server)
    d.register("rita")
    d.expect(NICKSERV, "This nickname is registered")
    d.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    d.expect(" 900 rita ")
    server.stop()


def test_plaintext_refused():
    server = Server("--plaintext-password-networks", "")
    c = IRC(server)
    c.register("rita")
    c.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    line = c.expect(NICKSERV)
    assert "passwords are not accepted over a plaintext connection" in line, line
    d = IRC(server)
    sasl(d, "rita", PASSWORD)
    line = d.expect(NICKSERV)
    assert "passwords are not accepted over a plaintext connection" in line, line
    d.expect(" 904 ")
    server.stop()
    # Loopback is a plaintext password network by default: accepted (the other tests).


TESTS = {name[5:]: fn for name, fn in sorted(globals().items()) if name.startswith("test_")}

if __name__ == "__main__":
    names = sys.argv[2:] or list(TESTS)
    failed = 0
    for name in names:
        try:
            TESTS[name]()
            print(f"ok: {name}", flush=True)
        except Exception as error:  # report each, then fail
            failed += 1
            print(f"FAILED: {name}: {error!r}", flush=True)
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
