// What a session asks of the chat core. A codec turns a framed line of its protocol into
// intents (LineCodec: `/join #x` is `.join("#x", exclusive: true)`); the core applies the
// rules and answers with events.

package enum Intent: Equatable, Sendable {
    /// The session is ready to chat: it gets `nick` (a guest nick when nil), is welcomed, and
    /// enters `rooms` (the line protocol starts everyone in #lobby; IRC joins nothing).
    case register(nick: String?, rooms: [String])
    /// Register with exactly `nick` (IRC): when it is invalid or taken the session is told
    /// (`.error(.nickInvalid / .nickTaken)`) and stays unregistered, free to try another.
    case registerAs(nick: String)
    case say(room: String?, text: String)
    case act(room: String?, text: String)
    case privateMessage(to: String, text: String)
    case changeNick(String)
    /// Enter `room`. `exclusive`: leave every other room first (the line protocol's rule of
    /// one room at a time; the others hear "left #old (joined #new)").
    case join(String, exclusive: Bool)
    case part(String, reason: String?)
    /// Who is in `room` (nil: the session's room).
    case who(room: String?)
    case listRooms
    case setTopic(room: String, text: String)
    /// A command the protocol does not know (`line`: all of it, e.g. "/roll 2d6"): the host's
    /// filter may take it; otherwise the sender gets `problem` as an error.
    case command(String, problem: String)
    /// The host's filter answered a command with `text` (a notice to its sender alone).
    case commandAnswered(String)
    /// A notice to a room (IRC's NOTICE): relayed like `.say`, never answered automatically.
    case notice(room: String, text: String)
    /// A notice to one person (IRC's NOTICE to a nick); errors are not reported back.
    case privateNotice(to: String, text: String)
    /// An operator of `room` puts `nick` out of it.
    case kick(room: String, nick: String, reason: String)
    /// Tell `room` that its rules changed (IRC's MODE line, `+m`, `+o bob`), after the codec
    /// changed them.
    case announceModes(room: String, change: String)
    /// Leave the server, with the person's reason.
    case quit(reason: String?)

    // Accounts (issue 20; AccountService): a nick owned by a password. Each is refused over
    // plaintext when the server allows passwords only over TLS (loopback peers excepted).
    /// Register the session's current nick as an account with `password`; the session is then
    /// identified to it.
    case registerAccount(password: String)
    /// Prove the session owns the account `nick` (nil: its current nick); with a nick other
    /// than its own, the session takes that nick once the password is right.
    case identify(nick: String?, password: String)
    /// Disconnect the session holding `nick` (or a nick that looks like it), whose account
    /// `password` opens; the sender then takes the nick, identified.
    case ghost(nick: String, password: String)
}
