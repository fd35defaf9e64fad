// What differs between talking to a tcpchat server and talking to the one raw peer of
// --listen: how received lines look, what a typed line becomes, what Tab offers, and what the
// end of the stream means.
import TCPChat

/// What the main loop does about one received line.
struct Reaction {
    /// What to print on stdout, or nil for nothing.
    var display: String?
    /// Lines the client sends on its own in answer.
    var replies: [String] = []
    /// The prompt must be redrawn (your nick changed).
    var promptChanged = false
}

/// How the stream ended, in words and as an exit status.
struct Ending {
    /// A line for stdout (an expected end) ...
    var notice: String?
    /// ... or for stderr (a failure).
    var error: String?
    var status: Int32
}

protocol Conversation: AnyObject {
    var prompt: String { get }
    func received(_ line: String) -> Reaction
    /// What to send for a line the person typed, or nil to send nothing.
    func outgoing(_ typed: String) -> String?
    func completions(for word: String, atLineStart: Bool) -> [String]
    /// `weClosed`: we half-closed (Ctrl-D, end of stdin) before the stream ended.
    func ending(_ reason: ChatConnection.ReceiveError, weClosed: Bool) -> Ending
    /// Who the other side is, for the --verbose close sequence ("the server", "the peer").
    var otherSide: String { get }
}

/// A tcpchat server: lines carry markers (`<nick>`, `*`, `!`), typed lines may be /commands.
final class RoomConversation: Conversation {
    private let display: Display
    private let interactive: Bool
    private var state = RoomState()
    private var quitSent = false

    /// `interactive`: a person at a terminal, who gets the member list of each room joined
    /// (which also feeds nick completion). A script gets only the answers to what it sent.
    init(display: Display, interactive: Bool) {
        self.display = display
        self.interactive = interactive
    }

    var otherSide: String { "the server" }

    var prompt: String { display.prompt(state.nick) }

    func received(_ line: String) -> Reaction {
        var reaction = Reaction(display: display.serverLine(line))
        switch state.observe(Wire.classify(line)) {
        case .ownNick:
            reaction.promptChanged = true
        case .joinedRoom where interactive:
            reaction.replies.append("/who")
        case .joinedRoom, .nothing:
            break
        }
        return reaction
    }

    func outgoing(_ typed: String) -> String? {
        guard !typed.isEmpty else { return nil }
        if case .quit = Command.parse(typed) { quitSent = true }
        return typed
    }

    func completions(for word: String, atLineStart: Bool) -> [String] {
        if word.hasPrefix("/") {
            return atLineStart ? Completion.matching(word, in: Command.names) : []
        }
        if word.hasPrefix("#") {
            return Completion.matching(word, in: state.roomNames)
        }
        return Completion.matching(word, in: state.memberNicks)
    }

    func ending(_ reason: ChatConnection.ReceiveError, weClosed: Bool) -> Ending {
        // The server closing after our /quit or our FIN is the end we asked for.
        if reason == .closed && (weClosed || quitSent) { return Ending(status: 0) }
        return Ending(error: reason.description, status: 1)
    }
}

/// The one peer of --listen, e.g. `nc HOST PORT`: plain lines both ways, no markers, no commands.
final class PeerConversation: Conversation {
    private let display: Display

    init(display: Display) {
        self.display = display
    }

    var otherSide: String { "the peer" }

    var prompt: String { display.prompt(nil) }

    func received(_ line: String) -> Reaction {
        Reaction(display: display.peerLine(line))
    }

    func outgoing(_ typed: String) -> String? { typed }

    func completions(for word: String, atLineStart: Bool) -> [String] { [] }

    func ending(_ reason: ChatConnection.ReceiveError, weClosed: Bool) -> Ending {
        switch reason {
        case .closed: return Ending(notice: display.notice("the peer closed the connection"), status: 0)
        case .reset, .system: return Ending(error: reason.description, status: 1)
        }
    }
}
