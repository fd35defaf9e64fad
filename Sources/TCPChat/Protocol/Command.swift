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
    case help
    case quit(reason: String?)
    /// A line that cannot be run; the associated text is the error to send back (without `! `).
    case invalid(String)

    /// The commands and their one-line help, in the order `/help` lists them.
    public static let helpLines: [(usage: String, summary: String)] = [
        ("/nick NAME", "change your nick (1-32 letters, digits, _ or -)"),
        ("/who", "list the people in your room"),
        ("/msg NICK TEXT", "send TEXT to NICK alone"),
        ("/me ACTION", "tell the room what you are doing"),
        ("/join #ROOM", "leave your room and join (or create) #ROOM"),
        ("/rooms", "list the rooms and how many people are in each"),
        ("/help", "show this list"),
        ("/quit [REASON]", "leave the server"),
        ("//TEXT", "send a line that starts with / as chat"),
    ]

    /// Command names, for completion and /help.
    public static let names = ["/nick", "/who", "/msg", "/me", "/join", "/rooms", "/help", "/quit"]

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
        case "help":
            return .help
        case "quit":
            return .quit(reason: argument.isEmpty ? nil : argument)
        default:
            return .invalid("unknown command /\(name), try /help")
        }
    }
}

/// Nick and room name rules.
public enum Names {
    public static let maxLength = 32

    /// Nicks nobody may take: they would read as the server speaking.
    public static let reservedNicks: Set<String> = ["server", "history", "system", "admin", "root", "nickserv"]

    /// Why `nick` is not acceptable, or nil when it is.
    public static func nickProblem(_ nick: String) -> String? {
        let count = nick.unicodeScalars.count
        if count == 0 { return "a nick cannot be empty" }
        if count > maxLength { return "nick too long (\(count) characters; at most \(maxLength))" }
        if let bad = nick.unicodeScalars.first(where: { !isNameScalar($0) }) {
            return "nick may contain only letters, digits, _ and - (found \(describe(bad)))"
        }
        if reservedNicks.contains(nick.lowercased()) { return "nick \(nick) is reserved" }
        return nil
    }

    /// Why `room` (with its leading #) is not acceptable, or nil when it is.
    public static func roomProblem(_ room: String) -> String? {
        let name = room.dropFirst()
        let count = name.unicodeScalars.count
        if !room.hasPrefix("#") || count == 0 { return "a room name is # followed by 1-\(maxLength) letters, digits, _ or -" }
        if count > maxLength { return "room name too long (\(count) characters; at most \(maxLength))" }
        if let bad = name.unicodeScalars.first(where: { !isNameScalar($0) }) {
            return "room name may contain only letters, digits, _ and - (found \(describe(bad)))"
        }
        return nil
    }

    /// The case-insensitive key under which a nick or room is unique.
    public static func key(_ name: String) -> String { name.lowercased() }

    static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar == "-" { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if scalar.properties.generalCategory == .control || scalar.value < 0x20 || scalar == " " { return code }
        return "'\(scalar)' \(code)"
    }
}
