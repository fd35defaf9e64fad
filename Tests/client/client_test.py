#!/usr/bin/env python3
"""The tcpchat client, end to end: the real binary in real pseudo-terminals (tmux) and in
pipes, against a real tcpchat-server and plain sockets on 127.0.0.1.

usage: client_test.py CLIENT_BINARY SERVER_BINARY [TEST_NAME_SUBSTRING...]
"""

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import traceback

from harness import TIMEOUT, Failure, Peer, Server, Terminal, Tmux, free_port, wait_until

CLIENT, SERVER = sys.argv[1], sys.argv[2]
ESC = "\x1b"
tests = []


def test(function):
    tests.append(function)
    return function


def check(condition, message):
    if not condition:
        raise Failure(message)


def connect_terminal(tmux, server, name, *extra, env=None, unset=None):
    """A client in a terminal, connected; returns it and its prompt (`guestN> `)."""
    terminal = Terminal(tmux, name, [CLIENT, *extra, "127.0.0.1", str(server.port)], env=env, unset=unset)
    match = terminal.wait_for(r"^(\S+)> *$")
    return terminal, match.group(1)


# --- typing while lines arrive ------------------------------------------------------------

@test
def half_typed_line_survives_an_incoming_message(tmux, server):
    alice = Peer(server.port, "alice")
    terminal, me = connect_terminal(tmux, server, "survive")
    terminal.type("hello wor")
    terminal.keys("Left", "Left")  # the cursor sits between "w" and "or"
    terminal.wait_for_last_line(f"{me}> hello wor")
    cursor_before = terminal.wait_for_cursor_column(len(f"{me}> hello w"))

    alice.send("a message while you type")
    terminal.wait_for(r"^<alice> a message while you type$")
    lines = [line for line in terminal.lines() if line]
    check(lines[-1] == f"{me}> hello wor", f"the half-typed line was disturbed: {lines[-1]!r}")
    check(lines[-2] == "<alice> a message while you type", f"the message is not just above the prompt: {lines[-2:]!r}")
    cursor_after = terminal.cursor()
    check(cursor_after[0] == cursor_before[0], f"cursor column moved: {cursor_before} -> {cursor_after}")
    check(cursor_after[1] == cursor_before[1] + 1, f"cursor row should move down one line: {cursor_before} -> {cursor_after}")

    # Typing goes on at the cursor, and the whole line is sent once.
    terminal.type("X")
    terminal.keys("End")
    terminal.type("ld")
    terminal.keys("Enter")
    alice.expect(rf"^<{me}> hello wXorld$")
    terminal.wait_for(rf"^{me}> hello wXorld$")
    check(terminal.screen().count("hello wXorld") == 1, "your own line must be shown once")
    terminal.close()
    alice.close()


@test
def wrapped_line_survives_an_incoming_message(tmux, server):
    alice = Peer(server.port, "alice8")
    terminal = Terminal(tmux, "wrapped", [CLIENT, "127.0.0.1", str(server.port)], size=(40, 30))
    me = terminal.wait_for(r"^(\S+)> *$").group(1)
    long_line = "".join(str(i % 10) for i in range(100))  # three rows at 40 columns
    terminal.type(long_line)
    terminal.keys(*["Left"] * 50)  # back onto the second row
    cursor_before = terminal.wait_for_cursor_column(len(f"{me}> ") + 50 - 40)
    alice.send("a message long enough to wrap on a screen this narrow, too")
    terminal.wait_for(r"^<alice8> a message long enough to wrap on a screen this narrow, too$")
    check(terminal.screen().rstrip().endswith(f"{me}> {long_line}"), f"the wrapped line was disturbed:\n{terminal.screen()}")
    cursor_after = terminal.cursor()
    check(cursor_after[0] == cursor_before[0], f"cursor column moved: {cursor_before} -> {cursor_after}")
    terminal.type("X")
    terminal.keys("Enter")
    alice.expect(rf"^<{me}> {long_line[:50]}X{long_line[50:]}$")
    terminal.close()
    alice.close()


@test
def utf8_editing_without_a_utf8_locale(tmux, server):
    alice = Peer(server.port, "alice7")
    terminal, me = connect_terminal(tmux, server, "utf8", unset=["LANG", "LC_ALL", "LC_CTYPE"])
    terminal.type("héllo 你好")
    terminal.keys("Left")
    terminal.type("X")
    terminal.wait_for_last_line(f"{me}> héllo 你X好")
    alice.send("ça va? 很好")
    terminal.wait_for(r"^<alice7> ça va\? 很好$")
    terminal.wait_for_last_line(f"{me}> héllo 你X好")
    terminal.keys("Enter")
    alice.expect(rf"^<{me}> héllo 你X好$")
    terminal.close()
    alice.close()


@test
def nick_option_and_prompt(tmux, server):
    alice = Peer(server.port, "alice9")
    terminal, me = connect_terminal(tmux, server, "nick", "--nick", "chosen_nick")
    terminal.wait_for(r"^\* you are now known as chosen_nick$")
    terminal.wait_for_last_line("chosen_nick>")
    alice.expect(r"^\* \S+ is now known as chosen_nick$")
    terminal.type("/nick renamed_again")
    terminal.keys("Enter")
    terminal.wait_for_last_line("renamed_again>")  # the prompt follows your nick
    terminal.close()
    alice.close()


@test
def two_terminals_chat(tmux, server):
    one, nick_one = connect_terminal(tmux, server, "one")
    two, nick_two = connect_terminal(tmux, server, "two")
    one.type("hi from one")
    one.keys("Enter")
    two.wait_for(rf"^<{nick_one}> hi from one$")
    two.type("and back from two")
    two.keys("Enter")
    one.wait_for(rf"^<{nick_two}> and back from two$")
    one.close()
    two.close()


@test
def window_resize_keeps_the_line(tmux, server):
    alice = Peer(server.port, "alice2")
    terminal, me = connect_terminal(tmux, server, "resize")
    # 80 columns of text: one row at the first width, two after the resize. Readline must
    # learn the new width (SIGWINCH), or moving the cursor across the wrap goes astray.
    # (Readline redraws after the resize from the row the cursor is on, so a stale copy of the
    # line's first row may stay on screen, as in bash: tmux had reflowed it. Not checked.)
    typed = "a line typed before the resize " + "".join(str(i % 10) for i in range(49))
    terminal.type(typed)
    terminal.wait_for_last_line(f"{me}> {typed}")
    tmux.run("resize-window", "-t", "resize", "-x", "60", "-y", "20")
    wait_until("the window to shrink", lambda: tmux.run("display-message", "-p", "-t", "resize", "#{window_width}").strip() == "60")
    alice.send("after the resize")
    terminal.wait_for(r"^<alice2> after the resize$")
    terminal.wait_for_last_line(f"{me}> {typed}")
    terminal.keys("Home")  # up across the wrap, to the start of the line
    terminal.type("X")
    terminal.wait_for_last_line(f"{me}> X{typed}")
    check(terminal.cursor() == (len(f"{me}> X"), terminal.cursor()[1]), f"cursor at {terminal.cursor()}")
    terminal.keys("Enter")
    alice.expect(rf"^<{me}> X{typed}$")
    terminal.close()
    alice.close()


# --- history and editing ------------------------------------------------------------------

@test
def history_survives_a_restart(tmux, server):
    state = tmux.dir + "/history-state"
    env = {"XDG_STATE_HOME": state}
    first, me = connect_terminal(tmux, server, "history1", env=env)
    first.type("remember this line")
    first.keys("Enter")
    first.wait_for(rf"^{me}> remember this line$")
    first.keys("C-d")
    check(first.exit_status() == 0, "Ctrl-D should exit 0")
    path = f"{state}/tcpchat/history"
    check(os.path.exists(path), f"no history file at {path}")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    check(mode == 0o600, f"history file mode is {oct(mode)}, not 0600")
    check("remember this line" in open(path).read(), "the line is not in the history file")
    first.close()

    second, me = connect_terminal(tmux, server, "history2", env=env)
    second.keys("Up")
    second.wait_for_last_line(f"{me}> remember this line")
    second.keys("Down")  # back to the empty new line (editing the recalled one would change it)
    second.wait_for_last_line(f"{me}>")
    second.keys("C-r")
    second.type("remem")
    second.wait_for(r"\(reverse-i-search\)`remem': remember this line")
    second.keys("C-g", "C-d")  # leave the search, then end
    check(second.exit_status() == 0, "Ctrl-D should exit 0")
    second.close()


@test
def history_recalls_this_sessions_lines(tmux, server):
    """Up, Up, Down and Ctrl-R over lines sent in this same session (issue 12: Up showed
    nothing after the first line, and the line before the newest after that)."""
    alice = Peer(server.port, "alice_hist")
    terminal, me = connect_terminal(tmux, server, "samesession")
    for line in ["first of this run", "second of this run"]:
        terminal.type(line)
        terminal.keys("Enter")
        alice.expect(rf"^<{me}> {line}$")
    terminal.keys("Up")
    terminal.wait_for_last_line(f"{me}> second of this run")
    terminal.keys("Up")
    terminal.wait_for_last_line(f"{me}> first of this run")
    terminal.keys("Down")
    terminal.wait_for_last_line(f"{me}> second of this run")
    terminal.keys("Down")
    terminal.wait_for_last_line(f"{me}>")
    terminal.keys("C-p")  # Ctrl-P is Up
    terminal.wait_for_last_line(f"{me}> second of this run")
    terminal.keys("C-u")

    # Ctrl-R finds a line of this session, a few lines back.
    terminal.type("hi zoe_bot")
    terminal.keys("Enter")
    alice.expect(rf"^<{me}> hi zoe_bot$")
    for line in ["/join #games", "/who"]:
        terminal.type(line)
        terminal.keys("Enter")
    terminal.wait_for(r"^\* people in #games \(1\): ")
    terminal.keys("C-r")
    terminal.type("hi")
    terminal.wait_for(r"\(reverse-i-search\)`hi': hi zoe_bot")
    terminal.keys("Enter")  # accept the found line: it is sent again
    wait_until("the found line sent again", lambda: [line for line in terminal.lines()
                                                     if line == f"{me}> hi zoe_bot"] == [f"{me}> hi zoe_bot"] * 2)
    terminal.keys("Up")  # and it is the newest entry now
    terminal.wait_for_last_line(f"{me}> hi zoe_bot")
    terminal.close()
    alice.close()


@test
def history_defaults_to_home_local_state(tmux, server):
    home = tmux.dir + "/home"
    os.makedirs(home)
    terminal, me = connect_terminal(tmux, server, "homehistory", env={"HOME": home, "XDG_STATE_HOME": ""})
    terminal.type("kept under HOME")
    terminal.keys("Enter")
    terminal.wait_for(rf"^{me}> kept under HOME$")
    terminal.keys("C-d")
    check(terminal.exit_status() == 0, "Ctrl-D should exit 0")
    path = f"{home}/.local/state/tcpchat/history"
    check(os.path.exists(path) and "kept under HOME" in open(path).read(), f"nothing in {path}")
    terminal.close()


@test
def tab_completes_nicks_and_commands(tmux, server):
    here_first = Peer(server.port, "zebra_first")  # known from the /who answer on joining
    terminal, me = connect_terminal(tmux, server, "complete")
    terminal.wait_for(r"^\* people in #lobby \(\d+\): .*zebra_first")
    later = Peer(server.port)                       # known from the join and nick notices
    later.send("/nick yak_later")
    terminal.wait_for(r"^\* \S+ is now known as yak_later$")

    terminal.type("hi zeb")
    terminal.keys("Tab")
    terminal.wait_for_last_line(f"{me}> hi zebra_first")
    terminal.keys("C-u")
    terminal.type("YA")  # nicks are case-insensitive
    terminal.keys("Tab")
    terminal.wait_for_last_line(f"{me}> yak_later")
    terminal.keys("C-u")
    terminal.type("/jo")
    terminal.keys("Tab")
    terminal.wait_for_last_line(f"{me}> /join")
    terminal.keys("C-u")
    terminal.type("/join #lo")
    terminal.keys("Tab")
    terminal.wait_for_last_line(f"{me}> /join #lobby")
    terminal.keys("C-u")
    later.close()
    terminal.wait_for(r"^\* yak_later left")
    terminal.type("ya")
    terminal.keys("Tab")
    terminal.type("!")
    terminal.wait_for_last_line(f"{me}> ya!")  # gone from the room, gone from completion
    terminal.close()
    here_first.close()


@test
def actions_do_not_pass_for_your_own_notices(tmux, server):
    # A /me action is `* NICK ACTION`; someone named `welcome`, or an action ending in the
    # cluster's `; you are now known as guestN`, must not change your nick (Notice.parse reads
    # both, RoomState trusts them only where an action cannot forge them).
    terminal, me = connect_terminal(tmux, server, "forged")
    welcome = Peer(server.port, "welcome")
    welcome.send("/me to tcpchat, evil! /nick NAME changes your nick, /help lists the commands")
    terminal.wait_for(r"^\* welcome to tcpchat, evil!")
    welcome.send("/me is in use on another server; you are now known as guest999")
    terminal.wait_for(r"^\* welcome is in use on another server; you are now known as guest999$")
    welcome.send("done")
    terminal.wait_for(r"^<welcome> done$")
    terminal.wait_for_last_line(f"{me}>")
    welcome.close()
    terminal.close()


@test
def inputrc_is_honoured(tmux, server):
    inputrc = tmux.dir + "/inputrc"
    with open(inputrc, "w") as file:
        file.write('$if tcpchat\n"\\C-t": "typed by a macro from inputrc"\n$endif\n')
    terminal, me = connect_terminal(tmux, server, "inputrc", env={"INPUTRC": inputrc})
    terminal.keys("C-t")
    terminal.wait_for_last_line(f"{me}> typed by a macro from inputrc")
    terminal.close()


@test
def ctrl_c_clears_the_line(tmux, server):
    alice = Peer(server.port, "alice3")
    terminal, me = connect_terminal(tmux, server, "ctrlc")
    terminal.type("this is abandoned")
    terminal.wait_for_last_line(f"{me}> this is abandoned")
    terminal.keys("C-c")
    terminal.wait_for(rf"^{me}> this is abandoned\^C\n{me}> *$")
    terminal.type("this is sent")
    terminal.keys("Enter")
    line = alice.expect(rf"^<{me}> ")
    check(line == f"<{me}> this is sent", f"Ctrl-C did not clear the line: {line!r}")
    terminal.close()
    alice.close()


# --- lifecycle ----------------------------------------------------------------------------

@test
def ctrl_d_half_closes_and_exits_0(tmux, server):
    alice = Peer(server.port, "alice4")
    terminal, me = connect_terminal(tmux, server, "ctrld", "--verbose")
    terminal.wait_for(r"^tcpchat: connecting to 127\.0\.0\.1 port \d+$")
    terminal.wait_for(r"^tcpchat: connected: 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$")
    terminal.keys("C-d")
    check(terminal.exit_status() == 0, "Ctrl-D should exit 0")
    screen = terminal.screen()
    for step in ["sent FIN", "got FIN from the server", "socket closed"]:
        check(f"tcpchat: {step}" in screen, f"--verbose did not show {step!r}:\n{screen}")
    check(screen.index("sent FIN") < screen.index("got FIN"), "FIN order")
    check(terminal.terminal_restored(), "terminal settings differ after exit")
    alice.expect(rf"^\* {me} left \(connection closed\)$")
    terminal.close()
    alice.close()


@test
def quit_waits_for_the_server_and_exits_0(tmux, server):
    terminal, me = connect_terminal(tmux, server, "quit")
    terminal.type("/quit see you")
    terminal.keys("Enter")
    terminal.wait_for(rf"^\* goodbye, {me}$")
    check(terminal.exit_status() == 0, "/quit should exit 0")
    check(terminal.terminal_restored(), "terminal settings differ after exit")
    terminal.close()


@test
def server_killed_mid_session(tmux, server_binary_only):
    own = Server(SERVER)
    try:
        terminal, me = connect_terminal(tmux, own, "killed")
        terminal.type("never sent")
        terminal.wait_for_last_line(f"{me}> never sent")
        own.kill()
        terminal.wait_for(r"^tcpchat: connection (closed by server|reset by peer)$")
        status = terminal.exit_status()
        check(status != 0, f"exit status {status} after the server vanished")
        check(terminal.terminal_restored(), "terminal settings differ after exit")
        terminal.close()
    finally:
        own.stop()


@test
def sigterm_restores_the_terminal(tmux, server):
    terminal, me = connect_terminal(tmux, server, "sigterm")
    terminal.type("half a line")
    terminal.wait_for_last_line(f"{me}> half a line")
    os.kill(terminal.client_pid(), signal.SIGTERM)
    check(terminal.exit_status() == 128 + signal.SIGTERM, "exit status after SIGTERM")
    check(terminal.terminal_restored(), "terminal settings differ after exit")
    terminal.close()


@test
def connection_refused_is_one_clear_line(tmux, server):
    port = free_port()
    result = subprocess.run([CLIENT, "127.0.0.1", str(port)], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 1, f"exit status {result.returncode}")
    lines = result.stderr.splitlines()
    check(len(lines) == 1, f"expected one line on stderr, got {lines!r}")
    check("connection refused" in lines[0], f"unclear: {lines[0]!r}")
    check(result.stdout == "", f"stdout: {result.stdout!r}")
    # And the same at a terminal: one line, exit 1, terminal untouched.
    terminal = Terminal(tmux, "refused", [CLIENT, "127.0.0.1", str(port)])
    check(terminal.exit_status() == 1, "exit status at a terminal")
    shown = [line for line in terminal.lines() if line]
    check(shown == [f"tcpchat: cannot connect to 127.0.0.1:{port}: connection refused (is the server running on that port?)"], f"screen: {shown!r}")
    check(terminal.terminal_restored(), "terminal settings differ after exit")
    terminal.close()


@test
def command_line(tmux, server):
    result = subprocess.run([CLIENT, "--help"], capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 0 and "USAGE: tcpchat [<host>] [<port>]" in result.stdout, "--help")
    check("tcpchat-client" not in result.stdout, "--help must call the program tcpchat")
    result = subprocess.run([CLIENT, "--version"], capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\n", result.stdout), f"--version: {result.stdout!r}")
    for bad in (["--listen", "--nick", "x"], ["--host", "::1"], ["127.0.0.1", "70000"], ["--nick", "two words"]):
        result = subprocess.run([CLIENT, *bad], capture_output=True, text=True, timeout=TIMEOUT)
        check(result.returncode == 64, f"{bad}: exit status {result.returncode}, not 64")


# --- display ------------------------------------------------------------------------------

def coloured_screen(tmux, server, name, extra=(), env=None):
    alice = Peer(server.port, f"{name}_alice")
    terminal, me = connect_terminal(tmux, server, name, *extra, env=env)
    alice.send("colourful?")
    terminal.wait_for(rf"^<{name}_alice> colourful\?$")
    terminal.type("/nosuchcommand")
    terminal.keys("Enter")
    terminal.wait_for(r"^! unknown command /nosuchcommand")
    screen = terminal.screen(colours=True)
    terminal.close()
    alice.close()
    return screen


@test
def colours_only_when_wanted(tmux, server):
    coloured = coloured_screen(tmux, server, "colour")
    check(f"{ESC}[" in coloured, "with a terminal and no NO_COLOR there should be colours")
    plain = coloured_screen(tmux, server, "nocolor", env={"NO_COLOR": "1"})
    check(ESC not in plain, f"NO_COLOR output has escape codes: {plain!r}")
    plain = coloured_screen(tmux, server, "nocolorflag", extra=["--no-color"])
    check(ESC not in plain, f"--no-color output has escape codes: {plain!r}")


@test
def timestamps(tmux, server):
    alice = Peer(server.port, "alice5")
    terminal, me = connect_terminal(tmux, server, "stamps", "--timestamps")
    alice.send("what time is it")
    terminal.wait_for(r"^\d\d:\d\d <alice5> what time is it$")
    terminal.close()
    alice.close()


# --- without a terminal -------------------------------------------------------------------

@test
def pipe_mode(tmux, server):
    alice = Peer(server.port, "alice6")
    result = subprocess.run([CLIENT, "127.0.0.1", str(server.port)], input="hi\n/quit\n",
                            capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 0, f"exit status {result.returncode}; stderr {result.stderr!r}")
    me = alice.expect(r"^<\S+> hi$")[1:].split(">")[0]
    lines = result.stdout.splitlines()
    check(lines[-1] == f"* goodbye, {me}", f"stdout: {lines!r}")
    check(all(re.match(r"^(\* |<|! )", line) for line in lines), f"a prompt or echo in stdout: {lines!r}")
    check(ESC not in result.stdout and result.stderr == "", "no colours, nothing on stderr")

    # End of input without /quit: half-close, then exit 0 when the server closes.
    result = subprocess.run([CLIENT, "127.0.0.1", str(server.port)], input="last line without newline",
                            capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 0, f"exit status {result.returncode}; stderr {result.stderr!r}")
    alice.expect(r"^<\S+> last line without newline$")

    # A number alone is the port, on localhost.
    result = subprocess.run([CLIENT, str(server.port)], input="/quit\n",
                            capture_output=True, text=True, timeout=TIMEOUT)
    check(result.returncode == 0 and "* goodbye, " in result.stdout, f"`tcpchat PORT`: {result!r}")
    alice.close()


# --- --listen -----------------------------------------------------------------------------

def listening_terminal(tmux, name):
    terminal = Terminal(tmux, name, [CLIENT, "--listen", "0", "--host", "127.0.0.1"])
    port = int(terminal.wait_for(r"^\* listening on 127\.0\.0\.1:(\d+), waiting for one peer$").group(1))
    return terminal, port


@test
def listen_with_a_plain_socket(tmux, server):
    terminal, port = listening_terminal(tmux, "listen")
    peer = Peer(port)
    terminal.wait_for(r"^\* 127\.0\.0\.1:\d+ connected; Ctrl-D ends the chat$")
    terminal.wait_for_last_line(">")
    # A second peer is refused: one to one.
    try:
        Peer(port).close()
        refused = False
    except ConnectionRefusedError:
        refused = True
    check(refused, "a second peer could connect")

    terminal.type("half typ")
    # One line in two segments: shown once, whole (framed by line, never by recv).
    peer.sock.sendall(b"hello from ")
    time.sleep(0.2)  # only makes two recvs likely; the check holds either way
    peer.send("the socket")
    terminal.wait_for(r"^<peer> hello from the socket$")
    check(not re.search(r"^<peer> (hello from|the socket) *$", terminal.screen(), re.MULTILINE), "a partial line was shown")
    terminal.wait_for_last_line("> half typ")
    terminal.type("ed, now whole")
    terminal.keys("Enter")
    peer.expect(r"^half typed, now whole$")
    peer.close()
    terminal.wait_for(r"^\* the peer closed the connection$")
    check(terminal.exit_status() == 0, "the peer closing should end --listen with 0")
    check(terminal.terminal_restored(), "terminal settings differ after exit")
    terminal.close()


@test
def listen_with_nc(tmux, server):
    """The homework's other side, literally: OpenBSD nc (scripts/test installs netcat-openbsd)."""
    if not shutil.which("nc"):
        raise Failure("nc is not installed (apt-get install netcat-openbsd)")
    terminal, port = listening_terminal(tmux, "listennc")
    # -N: at the end of its input, nc shuts down its sending side, as our Ctrl-D does.
    nc = subprocess.Popen(["nc", "-N", "127.0.0.1", str(port)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    try:
        terminal.wait_for(r"^\* 127\.0\.0\.1:\d+ connected")
        terminal.wait_for_last_line(">")
        terminal.type("hello, nc")
        terminal.keys("Enter")
        check(nc.stdout.readline() == "hello, nc\n", "nc did not print the line")
        nc.stdin.write("hello from nc\n")
        nc.stdin.close()
        terminal.wait_for(r"^<peer> hello from nc$")
        terminal.wait_for(r"^\* the peer closed the connection$")
        check(terminal.exit_status() == 0, "listener exit status")
        check(nc.wait(timeout=TIMEOUT) == 0, "nc exit status")
    finally:
        if nc.poll() is None:
            nc.kill()
    terminal.close()


@test
def listen_ctrl_d_half_closes(tmux, server):
    terminal, port = listening_terminal(tmux, "listenfin")
    peer = Peer(port)
    terminal.wait_for(r"^\* 127\.0\.0\.1:\d+ connected")
    terminal.wait_for_last_line(">")
    terminal.keys("C-d")
    check(peer.read_until_closed() == [], "the peer should see our FIN and nothing else")
    peer.send("still heard after your FIN")  # a half-closed connection still carries the other way
    terminal.wait_for(r"^<peer> still heard after your FIN$")
    peer.close()
    terminal.wait_for(r"^\* the peer closed the connection$")
    check(terminal.exit_status() == 0, "exit status")
    check(terminal.terminal_restored(), "terminal settings differ after exit")
    terminal.close()


@test
def listen_with_another_tcpchat(tmux, server):
    terminal, port = listening_terminal(tmux, "listen2")
    client = subprocess.Popen([CLIENT, "127.0.0.1", str(port)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        terminal.wait_for(r"^\* 127\.0\.0\.1:\d+ connected")
        terminal.wait_for_last_line(">")
        terminal.type("hello, client")
        terminal.keys("Enter")
        line = client.stdout.readline()
        check(line == "hello, client\n", f"the connecting tcpchat printed {line!r}")
        client.stdin.write("hello, listener\n")
        client.stdin.close()  # end of input: it half-closes, we see its FIN and close
        terminal.wait_for(r"^<peer> hello, listener$")
        terminal.wait_for(r"^\* the peer closed the connection$")
        check(terminal.exit_status() == 0, "listener exit status")
        check(client.wait(timeout=TIMEOUT) == 0, f"connecting tcpchat exit status; stderr {client.stderr.read()!r}")
    finally:
        if client.poll() is None:
            client.kill()
    terminal.close()


# --- --encoding gbk: the lesson's own programs ---------------------------------------------

def read_raw_line(sock):
    """Bytes up to and including the next LF, undecoded."""
    data = b""
    sock.settimeout(TIMEOUT)
    while not data.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise Failure(f"closed before a whole line; got {data!r}")
        data += chunk
    return data


@test
def listen_with_a_gbk_peer(tmux, server):
    """A lesson-style peer on Chinese Windows: GBK both ways; a UTF-8 line still reads right."""
    terminal = Terminal(tmux, "listengbk", [CLIENT, "--listen", "0", "--host", "127.0.0.1", "--encoding", "gbk"])
    port = int(terminal.wait_for(r"^\* listening on 127\.0\.0\.1:(\d+), waiting").group(1))
    peer = Peer(port)
    terminal.wait_for(r"^\* 127\.0\.0\.1:\d+ connected")
    terminal.wait_for_last_line(">")
    peer.sock.sendall("你好, from GBK".encode("gbk") + b"\n")
    terminal.wait_for(r"^<peer> 你好, from GBK$")
    peer.sock.sendall("世界, from UTF-8\n".encode("utf-8"))
    terminal.wait_for(r"^<peer> 世界, from UTF-8$")
    terminal.type("你好")
    terminal.keys("Enter")
    line = read_raw_line(peer.sock)
    check(line == "你好\n".encode("gbk"), f"the peer got {line!r}, not 你好 in GBK")
    peer.close()
    terminal.wait_for(r"^\* the peer closed the connection$")
    check(terminal.exit_status() == 0, "exit status")
    terminal.close()


def lesson_server(replies):
    """The lesson's server, on 127.0.0.1 and a free port: accept one client, read what it
    sends (here until its FIN, so the exchange does not depend on recv boundaries), decode it
    as GBK, send `replies` (bytes) and close. Returns the listening socket and a function
    that waits for it and returns what it decoded."""
    import socket
    import threading
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    got = {}

    def serve():
        conn, _ = listener.accept()
        conn.settimeout(TIMEOUT)
        data = b""
        while chunk := conn.recv(1024):
            data += chunk
        got["text"] = data.decode("gbk")
        conn.sendall(replies)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def result():
        thread.join(TIMEOUT)
        listener.close()
        return got.get("text")
    return listener.getsockname()[1], result


@test
def gbk_with_a_server_that_is_not_tcpchat(tmux, server):
    port, result = lesson_server("你好 from the lesson\n".encode("gbk") + b"hello world")
    client = subprocess.run([CLIENT, "--encoding", "gbk", "127.0.0.1", str(port)], input="你好\n".encode(),
                            capture_output=True, timeout=TIMEOUT)
    check(result() == "你好\n", f"the lesson's server decoded {result()!r} from GBK")
    lines = client.stdout.decode().splitlines()
    check(lines == ["你好 from the lesson", "hello world"], f"stdout: {lines!r}; stderr {client.stderr!r}")
    check(client.returncode == 0, f"exit status {client.returncode}")

    # Without --encoding the client speaks UTF-8, which the lesson's server misreads (the
    # issue's 浣犲ソ): the flag is what makes the difference.
    port, result = lesson_server(b"hello world")
    client = subprocess.run([CLIENT, "127.0.0.1", str(port)], input="你好\n".encode(),
                            capture_output=True, timeout=TIMEOUT)
    check(result() == "你好\n".encode().decode("gbk", errors="replace"), f"decoded {result()!r}")


def main():
    wanted = sys.argv[3:]
    tmux = Tmux()
    server = Server(SERVER)
    failed = []
    try:
        for function in tests:
            name = function.__name__
            if wanted and not any(w in name for w in wanted):
                continue
            try:
                function(tmux, server)
                print(f"ok   {name}", flush=True)
            except Exception as error:  # report every test, then fail at the end
                failed.append(name)
                print(f"FAIL {name}: {error}", flush=True)
                if not isinstance(error, Failure):
                    traceback.print_exc()
                tmux.run("kill-session", "-t", name, check=False)
    finally:
        server.stop()
        tmux.shutdown()
    print(f"{len(failed)} failed: {' '.join(failed)}" if failed else "all client tests passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
