"""Drives the real tcpchat client in real pseudo-terminals (tmux panes) against a real
tcpchat-server on 127.0.0.1, port 0. Standard library only.

Every wait has a generous timeout that only guards against a hang; no test depends on timing.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time

TIMEOUT = 20.0  # seconds; a guard against hangs, never a measurement


class Failure(Exception):
    pass


def wait_until(what, probe, timeout=TIMEOUT):
    """Calls probe() until it returns something truthy; returns that, or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out waiting for {what}")
        time.sleep(0.05)


class Server:
    """A tcpchat-server on 127.0.0.1 with a port the kernel picked, and any other flags."""

    def __init__(self, binary, *flags):
        self.process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        match = re.search(r"listening on .*:(\d+)$", line.strip())
        if not match:
            self.stop()
            raise Failure(f"server did not start: {line!r}")
        self.port = int(match.group(1))

    def kill(self):
        """SIGKILL: the server vanishes mid-session, no goodbye."""
        self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Peer:
    """A plain socket client (what `nc` would be), reading whole lines."""

    def __init__(self, port, nick=None, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buffer = b""
        self.lines = []
        self.seen = 0
        if nick:
            self.send(f"/nick {nick}")
            self.expect(rf"^\* you are now known as {re.escape(nick)}$")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def _read_some(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        if not data:
            return False
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        self.lines += [line.decode(errors="replace") for line in complete]
        return True

    def expect(self, pattern, timeout=TIMEOUT):
        """The next line (after those already matched) that matches pattern."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            while self.seen < len(self.lines):
                line = self.lines[self.seen]
                self.seen += 1
                if regex.search(line):
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Failure(f"peer never got a line matching {pattern!r}; got {self.lines!r}")
            if not self._read_some(min(remaining, 0.5)):
                raise Failure(f"peer connection closed before {pattern!r}; got {self.lines!r}")

    def read_until_closed(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while self._read_some(0.5):
            if time.monotonic() > deadline:
                raise Failure("peer: the other side never closed")
        return self.lines

    def close(self):
        self.sock.close()


class Terminal:
    """One tmux pane running the client through a wrapper that records the terminal settings
    before and after (`stty -g`) and the exit status."""

    def __init__(self, tmux, name, argv, env=None, unset=None, size=(120, 40)):
        """Runs argv with env added and the variables in unset removed (NO_COLOR always is,
        unless env sets it)."""
        self.tmux = tmux
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"{name}-", dir=tmux.dir)
        # Never the real ~/.local/state: each pane keeps its history in its own folder.
        env = {"XDG_STATE_HOME": f"{self.dir}/state", **(env or {})}
        assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        unset = " ".join(f"-u {name}" for name in ["NO_COLOR", *(unset or [])] if name not in env)
        script = (
            f"stty -g > {self.dir}/stty.before; "
            f"env {unset} {assignments} {' '.join(shlex.quote(a) for a in argv)}; "
            f"echo $? > {self.dir}/status.tmp; mv {self.dir}/status.tmp {self.dir}/status; "
            f"stty -g > {self.dir}/stty.after; exec sleep 3600")
        tmux.run("new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), "sh", "-c", script)

    # What is on the screen.
    def screen(self, colours=False):
        args = ["capture-pane", "-p", "-J", "-t", self.name, "-S", "-"]
        if colours:
            args.insert(1, "-e")
        return self.tmux.run(*args)

    def lines(self):
        return [line.rstrip() for line in self.screen().split("\n")]

    def cursor(self):
        x, y = self.tmux.run("display-message", "-p", "-t", self.name, "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def wait_for_cursor_column(self, column, timeout=TIMEOUT):
        """Waits until the keys sent have moved the cursor to column; returns (x, y)."""
        try:
            wait_until(f"cursor in column {column}", lambda: self.cursor()[0] == column, timeout)
        except Failure:
            raise Failure(f"cursor never reached column {column} (at {self.cursor()}); screen:\n{self.screen()}")
        return self.cursor()

    def last_line(self):
        lines = [line for line in self.lines() if line]
        return lines[-1] if lines else ""

    def wait_for(self, pattern, timeout=TIMEOUT):
        regex = re.compile(pattern, re.MULTILINE)
        try:
            return wait_until(f"{pattern!r} on screen", lambda: regex.search(self.screen()), timeout)
        except Failure:
            raise Failure(f"timed out waiting for {pattern!r} on screen:\n{self.screen()}")

    def wait_for_last_line(self, expected, timeout=TIMEOUT):
        try:
            wait_until(f"last line {expected!r}", lambda: self.last_line() == expected, timeout)
        except Failure:
            raise Failure(f"last line never became {expected!r}; screen:\n{self.screen()}")

    def client_pid(self):
        """The client's process id: the one child of the pane's shell."""
        shell = self.tmux.run("display-message", "-p", "-t", self.name, "#{pane_pid}").strip()
        children = wait_until("the client process", lambda: subprocess.run(
            ["ps", "-o", "pid=", "--ppid", shell], capture_output=True, text=True).stdout.split())
        return int(children[0])

    # Typing.
    def type(self, text):
        self.tmux.run("send-keys", "-t", self.name, "-l", text)

    def keys(self, *keys):
        self.tmux.run("send-keys", "-t", self.name, *keys)

    # After the client ends.
    def exit_status(self, timeout=TIMEOUT):
        path = f"{self.dir}/status"
        try:
            wait_until("the client to exit", lambda: os.path.exists(path), timeout)
        except Failure:
            raise Failure(f"the client did not exit; screen:\n{self.screen()}")
        wait_until("stty after exit", lambda: os.path.exists(f"{self.dir}/stty.after")
                   and open(f"{self.dir}/stty.after").read().strip())
        return int(open(path).read())

    def terminal_restored(self):
        before = open(f"{self.dir}/stty.before").read().strip()
        after = open(f"{self.dir}/stty.after").read().strip()
        return before == after

    def close(self):
        self.tmux.run("kill-session", "-t", self.name, check=False)


class Tmux:
    """A private tmux server (its own socket), so nothing touches anyone's sessions."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tcpchat-tmux-")
        self.socket = os.path.join(self.dir, "socket")
        # tmux exits with its last session; this one keeps it up between tests.
        self.run("new-session", "-d", "-s", "keepalive", "sleep", "3600")

    def run(self, *args, check=True):
        result = subprocess.run(["tmux", "-u", "-S", self.socket, "-f", "/dev/null", *args],
                                capture_output=True, text=True, timeout=TIMEOUT)
        if check and result.returncode != 0:
            raise Failure(f"tmux {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def shutdown(self):
        """Ends every pane and removes every file the tests made (all under self.dir)."""
        self.run("kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
