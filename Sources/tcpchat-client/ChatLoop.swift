// The client's one thread: a single poll on the socket, on stdin, and (at a terminal) on the
// signal pipe. Received bytes are framed into lines by the library (never one recv = one
// message); typed lines come from readline's callback interface or, without a terminal, from
// plain reads. Nothing blocks but poll itself (and a send, until the kernel takes the line).
//
// The close sequence, as the lesson teaches it: Ctrl-D (or the end of piped input) shuts down
// our sending side (FIN) and keeps reading until the other side closes too; /quit asks the
// server to close. Either way the client exits 0 once the other side's FIN arrives. If the
// other side goes away first, that is a failure for a server (exit 1) and the normal end for a
// --listen peer.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import TCPChat

final class ChatLoop {
    private let connection: ChatConnection
    private let conversation: Conversation
    private let screen: Screen
    private let interactive: Bool
    private var editor: LineEditor?
    private var plainInput = PlainInput()
    private var history = HistoryFile()
    private var signals: Int32 = -1
    private var readingStdin = true
    private var weClosed = false
    private var exitStatus: Int32?

    /// `interactive`: stdin and stdout are a terminal, so readline edits the lines.
    init(connection: ChatConnection, conversation: Conversation, screen: Screen, interactive: Bool) {
        self.connection = connection
        self.conversation = conversation
        self.screen = screen
        self.interactive = interactive
    }

    /// Sends `firstLines` (e.g. `/nick NAME`), then chats until the connection ends. Returns
    /// the exit status; the terminal is as it was before.
    func run(sending firstLines: [String] = []) -> Int32 {
        if interactive { startEditor() }
        defer { finish() }
        for line in firstLines { send(line) }
        while exitStatus == nil { waitAndHandle() }
        return exitStatus ?? 1
    }

    private func startEditor() {
        signals = SignalPipe.start()
        history.load()
        if let problem = history.problem { screen.error(problem) }
        let conversation = self.conversation
        let completion = Completion { word, atLineStart in
            conversation.completions(for: word, atLineStart: atLineStart)
        }
        editor = LineEditor(prompt: conversation.prompt, completion: completion)
        screen.editor = editor
    }

    /// Every way out passes here: the terminal is given back before anything else.
    private func finish() {
        editor?.stop()
        history.finish()
        connection.close()
        screen.note("socket closed")
    }

    // MARK: The loop

    private func waitAndHandle() {
        var watched = [pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)]
        if readingStdin { watched.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
        if signals >= 0 { watched.append(pollfd(fd: signals, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&watched, nfds_t(watched.count), -1)
        if ready < 0 {
            if errno == EINTR { return }
            screen.error("poll: \(String(cString: strerror(errno)))")
            exitStatus = 1
            return
        }
        for entry in watched where entry.revents != 0 {
            if exitStatus != nil { return }
            switch entry.fd {
            case connection.fd: receive()
            case 0: readStdin(hangup: entry.revents & Int16(POLLNVAL) != 0)
            default: handleSignals()
            }
        }
    }

    private func receive() {
        switch connection.readAvailable() {
        case .lines(let lines):
            handleReceived(lines)
        case .ended(let lines, let reason):
            handleReceived(lines)
            end(reason)
        }
    }

    /// Shows what arrived in one go (a burst, such as a room's history, redraws the prompt
    /// once, not once a line) and answers what needs an answer.
    private func handleReceived(_ lines: [String]) {
        var shown: [String] = []
        var promptChanged = false
        for line in lines {
            let reaction = conversation.received(line)
            if let text = reaction.display { shown.append(text) }
            promptChanged = promptChanged || reaction.promptChanged
            if !weClosed { reaction.replies.forEach(send) }
        }
        if !shown.isEmpty { screen.show(shown.joined(separator: "\n")) }
        if promptChanged { editor?.setPrompt(conversation.prompt) }
    }

    private func readStdin(hangup: Bool) {
        if let editor {
            editor.readInput()
            for line in editor.takeLines() {
                guard let line else { return halfClose() }  // Ctrl-D on an empty line
                history.record(line)
                if let outgoing = conversation.outgoing(line) { send(outgoing) }
            }
        } else {
            let (lines, ended) = hangup ? ([], true) : plainInput.read(0)
            for line in lines {
                if let outgoing = conversation.outgoing(line) { send(outgoing) }
            }
            if ended { halfClose() }
        }
    }

    private func handleSignals() {
        for signal in SignalPipe.drain(signals) {
            switch signal {
            case SIGINT where editor?.isActive == true:
                editor?.interrupt()
            case SIGWINCH:
                editor?.resize()
            case SIGTSTP:
                editor?.suspend()
            default:
                // SIGTERM, SIGHUP, SIGQUIT, or Ctrl-C while only waiting for the other side.
                screen.note("stopped by signal \(signal)")
                exitStatus = 128 + signal
                return
            }
        }
    }

    // MARK: Sending and closing

    private func send(_ line: String) {
        do {
            try connection.send(line)
        } catch {
            // The reading side reports why the connection ended; this says what was lost.
            let shown = line.hasPrefix("/pass ") ? "/pass ********" : line  // never echo a password
            screen.error("not sent (\(error)): \(shown)")
        }
    }

    /// Our side is done: FIN to the other side, then keep printing until it closes too.
    private func halfClose() {
        readingStdin = false
        editor?.stop()
        connection.shutdownWrite()
        weClosed = true
        screen.note("sent FIN (our side is closed); waiting for \(conversation.otherSide) to close")
    }

    private func end(_ reason: ChatConnection.ReceiveError) {
        switch reason {
        case .closed: screen.note("got FIN from \(conversation.otherSide)")
        case .reset: screen.note("got RST from \(conversation.otherSide)")
        case .system: break
        }
        let ending = conversation.ending(reason, weClosed: weClosed)
        editor?.stop()
        if let notice = ending.notice { screen.show(notice) }
        if let error = ending.error { screen.error(error) }
        exitStatus = ending.status
    }
}
