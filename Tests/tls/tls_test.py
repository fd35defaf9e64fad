#!/usr/bin/env python3
"""TLS end to end (issue 17): the real tcpchat-server and tcpchat client binaries, the real
`openssl s_client`/`s_server` and `ncat --ssl`, and Python's ssl module (OpenSSL too) for load,
all on 127.0.0.1 with certificates this script makes with the `openssl` command in a temp dir:
a CA, a server certificate for localhost/127.0.0.1/::1, a second one (for reloads), an expired
one, one for another name, and a self-signed one.

    python3 Tests/tls/tls_test.py SERVER CLIENT [TEST...]

Waits have generous limits that only guard against hangs; no assertion is about time.
"""
import os, queue, shutil, signal, socket, ssl, subprocess, sys, tempfile, threading, time

SERVER, CLIENT = sys.argv[1], sys.argv[2]
HANG = 30.0  # seconds: the most any step may wait before the test is called failed (a hang)
TMP = tempfile.mkdtemp(prefix="tcpchat-tls-")
ENV = dict(os.environ, SWIFT_BACKTRACE="enable=no", NO_COLOR="1")


def sh(*args):
    subprocess.run(args, check=True, cwd=TMP, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certificates():
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    sh("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
       "-subj", "/CN=tcpchat test CA", "-addext", "basicConstraints=critical,CA:TRUE",
       "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(name, san, days="30"):
        with open(os.path.join(TMP, name + ".ext"), "w") as f:
            f.write("subjectAltName=" + san + "\nbasicConstraints=CA:FALSE\n")
        sh("openssl", "req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
        sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
           "-CAcreateserial", "-out", name + ".pem", "-days", days, "-extfile", name + ".ext")

    issue("server", "DNS:localhost,IP:127.0.0.1,IP:::1")
    issue("server2", "DNS:localhost,IP:127.0.0.1,IP:::1")
    issue("expired", "DNS:localhost,IP:127.0.0.1", days="-1")
    issue("other", "DNS:other.example")
    sh("openssl", "req", "-x509", *ec, "-keyout", "self.key", "-out", "self.pem", "-days", "30",
       "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")


def path(name):
    return os.path.join(TMP, name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Lines:
    """A process's output (or a socket's), read by a thread into a queue of lines."""

    def __init__(self, stream):
        self.queue, self.seen = queue.Queue(), []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream):
        for raw in iter(stream.readline, b""):
            self.queue.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self.queue.put(None)

    def wait_for(self, text, what=""):
        deadline = time.monotonic() + HANG
        while time.monotonic() < deadline:
            if any(text in line for line in self.seen):
                return
            try:
                line = self.queue.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
        raise AssertionError(f"never saw {text!r} {what}; saw: {self.seen[-15:]}")


class Server:
    def __init__(self, *extra, cert="server", plain=True):
        args = [SERVER, "--port", "0", "--tls-port", "0", "--verbose", "--no-rate-limit", "--max-per-ip", "0"]
        if cert:
            args += ["--tls-cert", path(cert + ".pem"), "--tls-key", path(cert + ".key")]
        if not plain:
            args += ["--no-plain"]
        self.process = subprocess.Popen(args + list(extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        self.out, self.err = Lines(self.process.stdout), Lines(self.process.stderr)
        self.port = self.tls_port = None
        deadline = time.monotonic() + HANG
        while (self.tls_port is None or (plain and self.port is None)) and time.monotonic() < deadline:
            line = self.out.queue.get(timeout=HANG)
            if line is None:
                raise AssertionError("server exited: " + " ".join(self.err.seen))
            self.out.seen.append(line)
            if line.startswith("listening on ") and line.endswith(" (TLS)"):
                self.tls_port = int(line[:-len(" (TLS)")].rsplit(":", 1)[1])
            elif line.startswith("listening on "):
                self.port = int(line.rsplit(":", 1)[1])

    @property
    def pid(self):
        return self.process.pid

    def descriptors(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=HANG)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise AssertionError("server did not stop on SIGINT")
        if self.process.returncode != 0:
            time.sleep(0.2)  # let the reader thread take the last of stderr
            while True:
                try:
                    line = self.err.queue.get_nowait()
                except queue.Empty:
                    break
                if line is not None:
                    self.err.seen.append(line)
            raise AssertionError(f"server exited with {self.process.returncode}: " + "\n".join(self.err.seen[-60:]))


def tls_context(ca="ca.pem"):
    context = ssl.create_default_context(cafile=path(ca))
    return context


class TLSClient:
    """A line client over Python's ssl (OpenSSL), for load and for checks on raw behaviour."""

    def __init__(self, port, nick=None, context=None, host="localhost"):
        raw = socket.create_connection(("127.0.0.1", port), timeout=HANG)
        self.sock = (context or tls_context()).wrap_socket(raw, server_hostname=host)
        self.buffer = b""
        self.lines = []
        if nick:
            self.send("/nick " + nick)
            self.wait_for("you are now known as " + nick)

    def send(self, text):
        self.sock.sendall((text + "\n").encode())

    def read_line(self):
        while b"\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed; lines so far: %r" % self.lines[-5:])
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        text = line.decode("utf-8", "replace").rstrip("\r")
        self.lines.append(text)
        return text

    def wait_for(self, text):
        while True:
            if text in self.read_line():
                return

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run_client(*args, stdin=b"", timeout=HANG):
    return subprocess.run([CLIENT, *args], input=stdin, capture_output=True, timeout=timeout, env=ENV)


# --- the tests --------------------------------------------------------------------------------

def test_scene():
    """The "done when" scene: openssl s_client, ncat --ssl and tcpchat --tls users chat in one
    room through a certificate a test CA issued."""
    server = Server()
    port = str(server.tls_port)
    sc = subprocess.Popen(["openssl", "s_client", "-quiet", "-connect", "localhost:" + port, "-CAfile", path("ca.pem"),
                           "-verify_return_error", "-verify_hostname", "localhost"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    nc = subprocess.Popen(["ncat", "--ssl", "--ssl-verify", "--ssl-trustfile", path("ca.pem"), "localhost", port],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    tc = subprocess.Popen([CLIENT, "--tls", "--tls-ca", path("ca.pem"), "localhost", port],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    outs = {name: Lines(p.stdout) for name, p in (("sclient", sc), ("ncatuser", nc), ("tcpuser", tc))}
    procs = {"sclient": sc, "ncatuser": nc, "tcpuser": tc}
    for name, p in procs.items():
        outs[name].wait_for("welcome to tcpchat", name)
        p.stdin.write(f"/nick {name}\n".encode()); p.stdin.flush()
        outs[name].wait_for("you are now known as " + name, name)
    for name, p in procs.items():
        p.stdin.write(f"hello from {name}\n".encode()); p.stdin.flush()
        for other in procs:
            if other != name:
                outs[other].wait_for(f"<{name}> hello from {name}", f"(at {other})")
    for p in procs.values():
        p.stdin.write(b"/quit\n"); p.stdin.flush()
    for p in procs.values():
        p.stdin.close()
        p.wait(timeout=HANG)
    assert tc.returncode == 0, tc.stderr.read()
    server.stop()


def _peer_exchange(listener, connect_host, check_name):
    """Our client against a foreign TLS server: both directions."""
    out = Lines(listener.stdout)
    deadline = time.monotonic() + HANG
    client = None
    while client is None:
        try:
            socket.create_connection(("127.0.0.1", listener.port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(check_name + " never listened")
            time.sleep(0.1)
    # (the probe above is a plain connect the server took as a failed handshake: both servers
    # carry on, s_server with -naccept counting only handshakes that worked... so give it 2)
    client = subprocess.Popen([CLIENT, "--tls", "--tls-ca", path("ca.pem"), connect_host, str(listener.port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    client_out = Lines(client.stdout)
    client.stdin.write(b"hello server\n"); client.stdin.flush()
    out.wait_for("hello server", check_name)
    listener.stdin.write(b"hello client\n"); listener.stdin.flush()
    client_out.wait_for("hello client", "at tcpchat --tls")
    client.stdin.close()
    listener.kill()
    client.wait(timeout=HANG)
    listener.wait(timeout=HANG)


def test_client_against_s_server():
    port = free_port()
    p = subprocess.Popen(["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert", path("server.pem"),
                          "-key", path("server.key")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.port = port
    _peer_exchange(p, "localhost", "openssl s_server")


def wait_listening(port):
    """Until a socket listens on 127.0.0.1:port (/proc/net/tcp, state 0A), without connecting."""
    wanted = "0100007F:%04X" % port
    deadline = time.monotonic() + HANG
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as table:
            if any(f[1] == wanted and f[3] == "0A" for f in (line.split() for line in table)):
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def test_client_against_ncat_listener():
    port = free_port()
    p = subprocess.Popen(["ncat", "--ssl", "--ssl-cert", path("server.pem"), "--ssl-key", path("server.key"),
                          "-l", "127.0.0.1", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p.port = port
    # ncat -l takes one connection and ends with it, so no probe connection: wait until the
    # kernel shows its socket listening (a client started before that was refused, and the
    # wait for its line then ran out the whole deadline: a flaky test)
    wait_listening(port)
    result = subprocess.Popen([CLIENT, "--tls", "--tls-ca", path("ca.pem"), "127.0.0.1", str(port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    client_out = Lines(result.stdout)
    result.stdin.write(b"hello server\n"); result.stdin.flush()
    Lines(p.stdout).wait_for("hello server", "ncat --ssl -l")
    p.stdin.write(b"hello client\n"); p.stdin.flush()
    client_out.wait_for("hello client", "at tcpchat --tls (from ncat)")
    result.stdin.close()
    p.kill()
    result.wait(timeout=HANG)


def test_client_errors():
    """Every failure of the client's checks, with a message that says which."""
    cases = [("expired", ["--tls-ca", path("ca.pem")], "has expired"),
             ("server", [], "unknown CA"),            # the system's store does not know the test CA
             ("self", [], "self-signed"),
             ("other", ["--tls-ca", path("ca.pem")], "is for other.example, not localhost")]
    for cert, flags, expected in cases:
        server = Server(cert=cert)
        result = run_client("--tls", *flags, "localhost", str(server.tls_port), stdin=b"hi\n")
        err = result.stderr.decode()
        assert result.returncode == 1 and expected in err, f"{cert}: rc {result.returncode}, {err!r}"
        # nothing was said by a client that did not connect; the server is fine
        TLSClient(server.tls_port, context=ssl._create_unverified_context()).close()
        server.stop()
    # --tls-insecure connects anyway, with a warning each time
    server = Server(cert="self")
    result = run_client("--tls", "--tls-insecure", "localhost", str(server.tls_port), stdin=b"hi\n")
    assert result.returncode == 0 and "warning: --tls-insecure" in result.stderr.decode(), result.stderr
    # TLS client on the plaintext port: the server answers in plaintext, the client says so
    result = run_client("--tls", "--tls-ca", path("ca.pem"), "localhost", str(server.port), stdin=b"hi\n")
    err = result.stderr.decode()
    assert result.returncode == 1 and "does not speak TLS" in err and "plaintext" in err, err
    server.stop()
    # a server that refuses the handshake (TLS 1.2 that demands a client certificate)
    port = free_port()
    s = subprocess.Popen(["openssl", "s_server", "-quiet", "-tls1_2", "-Verify", "1", "-accept", f"127.0.0.1:{port}",
                          "-cert", path("server.pem"), "-key", path("server.key")],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + HANG
    while True:
        result = run_client("--tls", "--tls-ca", path("ca.pem"), "localhost", str(port), stdin=b"hi\n")
        if "connection refused" not in result.stderr.decode() or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    s.kill()
    err = result.stderr.decode()
    assert result.returncode == 1 and "refused" in err and "handshake" in err, err
    # a server that closes at once (handshake refused without a word)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    def close_all():
        conn, _ = listener.accept()
        conn.recv(1)
        conn.close()
    threading.Thread(target=close_all, daemon=True).start()
    result = run_client("--tls", "localhost", str(listener.getsockname()[1]), stdin=b"hi\n")
    err = result.stderr.decode()
    assert result.returncode == 1 and "handshake refused" in err, err
    listener.close()


def test_wrong_protocol_on_each_port():
    """A plaintext client on the TLS port and a TLS client on the plaintext port are each told and
    closed; the chat of the others goes on, and neither intruder's bytes reach the room."""
    server = Server()
    a, b = TLSClient(server.tls_port, "alice"), TLSClient(server.tls_port, "bob")
    plain = socket.create_connection(("127.0.0.1", server.tls_port), timeout=HANG)
    plain.sendall(b"hello there\n")
    answer = b""
    while True:
        data = plain.recv(4096)
        if not data:
            break
        answer += data
    assert b"this port speaks TLS only" in answer, answer
    plain.close()
    try:
        TLSClient(server.port)
        raise AssertionError("a TLS handshake on the plaintext port worked")
    except ssl.SSLError:
        pass
    a.send("still here")
    b.wait_for("<alice> still here")
    b.send("me too")
    a.wait_for("<bob> me too")
    chat = [line for line in a.lines + b.lines if line.startswith("<") and not line.startswith(("<alice>", "<bob>"))]
    assert not chat, chat
    a.close(); b.close()
    server.stop()


def test_handshake_deadline():
    """A client that opens TLS and stalls (nothing, or half a hello) is dropped at the deadline."""
    server = Server("--tls-handshake-timeout", "1")
    silent = socket.create_connection(("127.0.0.1", server.tls_port), timeout=HANG)
    half = socket.create_connection(("127.0.0.1", server.tls_port), timeout=HANG)
    half.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]))  # a hello's first bytes, then nothing
    for s in (silent, half):
        assert s.recv(100) == b"", "stalled handshake not closed"
        s.close()
    server.err.wait_for("TLS handshake not completed within 1 s")
    TLSClient(server.tls_port, "fine").close()
    server.stop()


def _abandon(port, kind, context):
    s = socket.create_connection(("127.0.0.1", port), timeout=HANG)
    if kind == 1:
        s.sendall(bytes([0x16, 0x03, 0x01, 0x02, 0x00]))
    elif kind == 2:
        # a real handshake, started and left: the server has answered with its hello
        s.setblocking(False)
        t = context.wrap_socket(s, server_hostname="localhost", do_handshake_on_connect=False)
        try:
            t.do_handshake()
        except ssl.SSLWantReadError:
            pass
        s = t
    if kind != 0:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
    return s


ROUNDS = int(os.environ.get("TLS_ROUNDS", "16"))  # of 250: 1000 at least, and enough to tell warm-up from a leak


def test_abandoned_handshakes():
    """4000 handshakes (at least 1000) opened and abandoned (closed, reset after half a hello, reset after the
    server's hello) leave no descriptor and no memory behind."""
    server = Server()
    check, listener = TLSClient(server.tls_port, "watcher"), TLSClient(server.tls_port, "listener")
    baseline = server.descriptors()
    context = ssl.create_default_context(cafile=path("ca.pem"))
    rss = []
    for _ in range(ROUNDS):
        sockets = [_abandon(server.tls_port, i % 3, context) for i in range(250)]
        for s in sockets:
            s.close()
        deadline = time.monotonic() + HANG
        while server.descriptors() > baseline:
            assert time.monotonic() < deadline, f"{server.descriptors()} descriptors, {baseline} before"
            time.sleep(0.05)
        rss.append(server.rss_kib())
    # The first rounds warm the allocator up (OpenSSL's and ours): the later ones must not grow.
    growth = rss[-1] - max(rss[:ROUNDS // 2])
    print(f"    RSS after each 250 abandoned handshakes: {rss} KiB")
    # (Under AddressSanitizer freed memory sits in its quarantine: RSS says nothing there, and
    # LeakSanitizer at the server's exit checks what is left instead.)
    if not os.environ.get("TLS_NO_RSS_CHECK"):
        assert growth < 2048, f"RSS grew by {growth} KiB over the last {ROUNDS - ROUNDS // 2 - 1} rounds: {rss}"
    check.send("after all that")
    listener.wait_for("<watcher> after all that")
    server.stop()


def test_reset_mid_fanout():
    """A TLS client that resets in the middle of a fan-out costs only itself."""
    server = Server()
    readers = [TLSClient(server.tls_port, f"r{i}") for i in range(5)]
    sender = TLSClient(server.tls_port, "sender")
    victim = readers[0]
    count = 3000
    def send_all():
        for i in range(count):
            sender.send(f"line {i} " + "x" * 100)
        sender.send("done")
    threading.Thread(target=send_all, daemon=True).start()
    victim.wait_for("line 100 ")
    victim.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    victim.sock.close()
    for r in readers[1:]:
        r.wait_for("<sender> done")
        got = sum(1 for line in r.lines if line.startswith("<sender> line "))
        assert got == count, f"{got} of {count} lines"
    newcomer = TLSClient(server.tls_port, "newcomer")
    newcomer.send("hi")
    readers[1].wait_for("<newcomer> hi")
    server.stop()


def server_send_queue(port):
    """Bytes in the largest send queue of the server's sockets on `port` (ss's Send-Q)."""
    out = subprocess.run(["ss", "-Htn", f"sport = :{port}"], capture_output=True, text=True).stdout
    return max((int(line.split()[2]) for line in out.splitlines() if len(line.split()) > 2), default=0)


def test_slow_reader_partial_writes():
    """A TLS reader with a tiny receive window that reads nothing until 4 MB wait for it: the
    server's TLS writes are partial and retried on EPOLLOUT (OpenSSL's rule: the same bytes
    again) thousands of times; every line then arrives intact and in order."""
    server = Server("--max-queue", "16777216", "--soft-queue", "16777216")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(HANG)
    raw.connect(("127.0.0.1", server.tls_port))
    reader = TLSClient.__new__(TLSClient)
    reader.sock, reader.buffer, reader.lines = tls_context().wrap_socket(raw, server_hostname="localhost"), b"", []
    reader.send("/nick slow")
    reader.wait_for("you are now known as slow")
    sender = TLSClient(server.tls_port, "fast")
    count, filler = 8000, "z" * 500
    for i in range(count):
        sender.send(f"{i} {filler}")
    sender.send("end")
    # Let the server queue what the reader's window does not take (not an assertion: the lines
    # must arrive whatever the timing; this only makes the retried writes certain).
    deadline = time.monotonic() + HANG
    while server_send_queue(server.tls_port) < 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"    server's socket send queue to the slow reader: {server_send_queue(server.tls_port)} bytes")
    seen = 0
    while True:
        line = reader.read_line()
        if line == "<fast> end":
            break
        if line.startswith("<fast> "):
            assert line == f"<fast> {seen} {filler}", f"line {seen} arrived as {line[:40]!r}"
            seen += 1
    assert seen == count, f"{seen} of {count}"
    server.stop()


def _certificate_der(sock):
    return sock.sock.getpeercert(binary_form=True)


def test_sighup_reload():
    """SIGHUP under load: new connections get the new certificate, open ones go on; a bad file
    keeps the one in use, and the server says why."""
    shutil.copy(path("server.pem"), path("live.pem"))
    shutil.copy(path("server.key"), path("live.key"))
    server = Server(cert="live")
    first = open(path("server.pem")).read()
    second = open(path("server2.pem")).read()
    reader, talker = TLSClient(server.tls_port, "reader"), TLSClient(server.tls_port, "talker")
    assert _certificate_der(reader) == ssl.PEM_cert_to_DER_cert(first)
    stop = threading.Event()
    sent = [0]
    def talk():
        while not stop.is_set():
            talker.send(f"load {sent[0]}")
            sent[0] += 1
            time.sleep(0.002)
    thread = threading.Thread(target=talk, daemon=True)
    thread.start()
    reader.wait_for("<talker> load 10")
    shutil.copy(path("server2.pem"), path("live.pem"))
    shutil.copy(path("server2.key"), path("live.key"))
    server.process.send_signal(signal.SIGHUP)
    server.err.wait_for("TLS certificate and key reloaded")
    fresh = TLSClient(server.tls_port, "fresh")
    assert _certificate_der(fresh) == ssl.PEM_cert_to_DER_cert(second), "new connection did not get the new certificate"
    mark = sent[0]
    reader.wait_for(f"<talker> load {mark + 10}")  # the open connections went on through the reload
    with open(path("live.pem"), "w") as f:
        f.write("not a certificate\n")
    server.process.send_signal(signal.SIGHUP)
    server.err.wait_for("TLS reload failed, keeping the certificate in use")
    again = TLSClient(server.tls_port, "again")
    assert _certificate_der(again) == ssl.PEM_cert_to_DER_cert(second), "a bad file replaced the certificate"
    stop.set()
    thread.join()
    talker.send("end")
    reader.wait_for("<talker> end")
    server.stop()


def test_irc_over_tls():
    """IRC is told from the first line on the TLS port too."""
    server = Server()
    line_user = TLSClient(server.tls_port, "liner")
    irc = TLSClient(server.tls_port)
    irc.sock.sendall(b"NICK ircer\r\nUSER ircer 0 * :IRC over TLS\r\n")
    irc.wait_for(" 001 ircer ")
    irc.sock.sendall(b"JOIN #lobby\r\n")
    irc.wait_for("JOIN #lobby")
    line_user.send("hello irc")
    irc.wait_for("PRIVMSG #lobby :hello irc")
    irc.sock.sendall(b"PRIVMSG #lobby :hello line\r\n")
    line_user.wait_for("<ircer> hello line")
    server.stop()


def test_tls_only_and_config_errors():
    server = Server(plain=False)
    assert server.port is None and server.tls_port
    TLSClient(server.tls_port, "solo").close()
    server.stop()
    bad = subprocess.run([SERVER, "--port", "0", "--tls-port", "0", "--tls-cert", path("server.pem"),
                          "--tls-key", path("other.key")], capture_output=True, timeout=HANG, env=ENV)
    assert bad.returncode == 1 and b"does not match the certificate" in bad.stderr, bad.stderr
    missing = subprocess.run([SERVER, "--port", "0", "--tls-cert", path("nope.pem"), "--tls-key", path("server.key")],
                             capture_output=True, timeout=HANG, env=ENV)
    assert missing.returncode == 1 and b"nope.pem" in missing.stderr, missing.stderr


TESTS = [test_scene, test_client_against_s_server, test_client_against_ncat_listener, test_client_errors,
         test_wrong_protocol_on_each_port, test_handshake_deadline, test_abandoned_handshakes,
         test_reset_mid_fanout, test_slow_reader_partial_writes, test_sighup_reload, test_irc_over_tls, test_tls_only_and_config_errors]

if __name__ == "__main__":
    wanted = sys.argv[3:]
    make_certificates()
    failed = 0
    for test in TESTS:
        if wanted and not any(w in test.__name__ for w in wanted):
            continue
        start = time.monotonic()
        try:
            test()
            print(f"ok   {test.__name__} ({time.monotonic() - start:.1f} s)", flush=True)
        except Exception as error:  # noqa: BLE001 -- report every failure, run the rest
            failed += 1
            print(f"FAIL {test.__name__}: {type(error).__name__}: {error}", flush=True)
    shutil.rmtree(TMP, ignore_errors=True)
    print("tls tests:", "all passed" if not failed else f"{failed} failed")
    sys.exit(1 if failed else 0)
