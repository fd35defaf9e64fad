// The client → server grammar: a line is chat text, or a /command. See docs/PROTOCOL.md.

/// One parsed client line.
public enum Command: Equatable, Sendable {
    /// Chat text for the room (a leading `//` has already been turned into `/`).
    case say(String)
    case nick(String)
    case who
    case msg(to: String, text: String)
    case me(String)
    case join(String)
    case rooms
    /// Show the room's topic (nil), or set it.
    case topic(String?)
    case help
    case quit(reason: String?)
    /// Accounts (docs/PROTOCOL.md, "Accounts"): register the current nick with a password.
    case register(password: String)
    /// Identify to the account of NICK (nil: the current nick).
    case identify(nick: String?, password: String)
    /// Disconnect the session holding NICK, then take it.
    case ghost(nick: String, password: String)
    /// A line that cannot be run; the associated text is the error to send back (without `! `).
    case invalid(String)
    /// A /command this grammar does not know (its name, without the /): a server's host may
    /// take it (tcpchat.h, FILTER); otherwise it is `unknownProblem(name)`.
    case unknown(String)

    /// The error an unknown command gets when nobody takes it.
    public static func unknownProblem(_ name: String) -> String { "unknown command /\(name), try /help" }

    /// The commands and their one-line help, in the order `/help` lists them.
    public static let helpLines: [(usage: String, summary: String)] = [
        ("/nick NAME", "change your nick (1-32 letters, digits, _ or -)"),
        ("/who", "list the people in your room"),
        ("/msg NICK TEXT", "send TEXT to NICK alone"),
        ("/me ACTION", "tell the room what you are doing"),
        ("/join #ROOM", "leave your room and join (or create) #ROOM"),
        ("/rooms", "list the rooms and how many people are in each"),
        ("/topic [TEXT]", "show the topic of your room, or set it to TEXT"),
        ("/register PASSWORD", "register your nick: only you may use it (accounts)"),
        ("/identify [NICK] PASSWORD", "prove a registered nick is yours (and take NICK)"),
        ("/ghost NICK PASSWORD", "disconnect a session holding your nick, and take it"),
        ("/help", "show this list"),
        ("/quit [REASON]", "leave the server"),
        ("//TEXT", "send a line that starts with / as chat"),
    ]

    /// Command names, for completion and /help.
    public static let names = ["/nick", "/who", "/msg", "/me", "/join", "/rooms", "/topic", "/register", "/identify", "/ghost", "/help", "/quit"]

    /// Parses one cleaned line (non-empty, no terminator).
    public static func parse(_ line: String) -> Command {
        guard line.hasPrefix("/") else { return .say(line) }
        if line.hasPrefix("//") { return .say(String(line.dropFirst())) }
        let body = line.dropFirst()
        let name: Substring
        let rest: Substring
        if let space = body.firstIndex(where: { $0 == " " || $0 == "\t" }) {
            name = body[..<space]
            rest = body[body.index(after: space)...].drop { $0 == " " || $0 == "\t" }
        } else {
            name = body
            rest = ""
        }
        let argument = String(rest.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        switch name.lowercased() {
        case "nick":
            guard !argument.isEmpty, !argument.contains(" ") else { return .invalid("usage: /nick NAME") }
            return .nick(argument)
        case "who":
            return .who
        case "msg":
            guard let space = argument.firstIndex(of: " ") else { return .invalid("usage: /msg NICK TEXT") }
            let text = argument[argument.index(after: space)...].drop { $0 == " " }
            guard !text.isEmpty else { return .invalid("usage: /msg NICK TEXT") }
            return .msg(to: String(argument[..<space]), text: String(text))
        case "me":
            guard !argument.isEmpty else { return .invalid("usage: /me ACTION") }
            return .me(argument)
        case "join":
            guard !argument.isEmpty, !argument.contains(" ") else { return .invalid("usage: /join #ROOM") }
            return .join(argument.hasPrefix("#") ? argument : "#" + argument)
        case "rooms":
            return .rooms
        case "topic":
            return .topic(argument.isEmpty ? nil : argument)
        case "help":
            return .help
        case "register":
            let words = argument.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 1 else { return .invalid("usage: /register PASSWORD (one word)") }
            return .register(password: String(words[0]))
        case "identify":
            let words = argument.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 1 || words.count == 2 else { return .invalid("usage: /identify [NICK] PASSWORD") }
            return .identify(nick: words.count == 2 ? String(words[0]) : nil, password: String(words[words.count - 1]))
        case "ghost":
            let words = argument.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count == 2 else { return .invalid("usage: /ghost NICK PASSWORD") }
            return .ghost(nick: String(words[0]), password: String(words[1]))
        case "quit":
            return .quit(reason: argument.isEmpty ? nil : argument)
        default:
            return .unknown(String(name))
        }
    }
}
