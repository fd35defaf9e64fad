// The server → client grammar. Every line starts with a marker a client can rely on:
//   `<nick> text`          chat in your room
//   `<nick -> you> text`   a private message (a nick never contains a space, so room chat
//                          can never look like this)
//   `* text`               a notice from the server
//   `! text`               an error for you alone
// See docs/PROTOCOL.md for each notice.

public enum Wire {
    public static func chat(from nick: String, _ text: String) -> String { "<\(nick)> \(text)\n" }
    public static func privateMessage(from: String, to: String, _ text: String) -> String { "<\(from) -> \(to)> \(text)\n" }
    public static func action(_ nick: String, _ text: String) -> String { "* \(nick) \(text)\n" }
    public static func notice(_ text: String) -> String { "* \(text)\n" }
    public static func error(_ text: String) -> String { "! \(text)\n" }
    /// A line replayed from a room's history: the original line behind `* history: `.
    public static func history(_ line: String) -> String { "* history: \(line)" }

    /// What kind of line a client received.
    public enum Kind: Equatable, Sendable {
        case chat(nick: String, text: String)
        case privateMessage(from: String, to: String, text: String)
        case notice(String)
        case error(String)
        case other(String)
    }

    /// Classifies one received line (without its newline). Used by clients.
    public static func classify(_ line: String) -> Kind {
        if line.hasPrefix("* ") { return .notice(String(line.dropFirst(2))) }
        if line.hasPrefix("! ") { return .error(String(line.dropFirst(2))) }
        if line.hasPrefix("<") {
            // A nick never holds a space or '>': `<nick> text` or `<from -> to> text`.
            let afterBracket = line.dropFirst()
            guard let end = afterBracket.firstIndex(where: { $0 == ">" || $0 == " " }) else { return .other(line) }
            let first = String(afterBracket[..<end])
            var rest = afterBracket[end...]
            if rest.hasPrefix(">") {
                rest = rest.dropFirst()
                return .chat(nick: first, text: String(rest.hasPrefix(" ") ? rest.dropFirst() : rest))
            }
            guard rest.hasPrefix(" -> ") else { return .other(line) }
            rest = rest.dropFirst(4)
            guard let close = rest.firstIndex(of: ">") else { return .other(line) }
            let to = String(rest[..<close])
            let text = rest[rest.index(after: close)...]
            return .privateMessage(from: first, to: to, text: String(text.hasPrefix(" ") ? text.dropFirst() : text))
        }
        return .other(line)
    }
}
