// What a host embedding the server sees of its clients (tcpchat.h "EVENTS" and "FILTER"): one
// event type with a kind, and the filter's verdict on what a client asked before the core acts
// on it. The core emits the events of the chat (registered ... private message); the front adds
// `connected` and `disconnected`, which only the transport knows.
//
// Ordering, per connection id: `connected` first, `disconnected` last (after the `left` of each
// of its rooms); between them, in the order the core applied them.

public struct HostEvent: Sendable, Equatable {
    /// The kinds, numbered as tcpchat.h's TCPCHAT_EVENT_ constants.
    public enum Kind: Int32, Sendable {
        /// A connection was accepted (`address`); nothing of this id comes before it.
        case connected = 1
        /// The connection got its first nick (`nick`, e.g. "guest3").
        case registered = 2
        /// `target` (the old nick) is now `nick`. Filter: `text` is the nick asked for.
        case renamed = 3
        /// `nick` entered `room`.
        case joined = 4
        /// `nick` left `room`; `reason` says why ("quit", "connection closed", "moved to #x").
        case left = 5
        /// `nick` said `text` in `room`.
        case said = 6
        /// `nick` did `text` (/me) in `room`.
        case acted = 7
        /// `nick` sent `text` to `target` alone.
        case privateMessage = 8
        /// The connection closed, with `reason`; the last event of this id.
        case disconnected = 9
        /// Filter only: a command the server does not know (`text`: the whole line, e.g.
        /// "/roll 2d6"); without a filter that takes it, its sender gets "unknown command".
        case command = 10
        /// The session proved it owns the account `text` (its nick, `nick`): by `/identify`
        /// or IRC's SASL/NickServ (`reason` "identified"), by registering it ("registered"),
        /// or by ghosting the session that held it ("ghost"). Issue 20.
        case identified = 11
    }

    public var kind: Kind
    /// The connection's id: 1, 2, 3 ... in order of connecting, never reused while the server lives.
    public var id: UInt64
    /// The peer's address, e.g. "127.0.0.1:50312".
    public var address: String
    /// The connection's nick ("" before it registered).
    public var nick: String
    public var room: String?
    public var text: String?
    /// renamed: the old nick; privateMessage: who it is for.
    public var target: String?
    /// left, disconnected: why.
    public var reason: String?

    public init(kind: Kind, id: UInt64, address: String, nick: String, room: String? = nil, text: String? = nil,
                target: String? = nil, reason: String? = nil) {
        self.kind = kind
        self.id = id
        self.address = address
        self.nick = nick
        self.room = room
        self.text = text
        self.target = target
        self.reason = reason
    }
}

/// What a host's filter decides about what a client asked (a line said or acted, a private
/// message, a nick change, a join, an unknown command), before the server acts on it.
public enum FilterVerdict: Sendable, Equatable {
    /// Go ahead as asked.
    case accept
    /// Refuse: the sender gets the reason as an error line; nobody else sees anything.
    case reject(String)
    /// Go ahead with this text instead (the line's text, the nick, the room name); for a
    /// command, the answer: its sender alone gets it as a notice.
    case replace(String)
    /// The host took it (a custom command it answered, a line it swallowed): nothing happens,
    /// and the sender is told nothing.
    case drop
}
