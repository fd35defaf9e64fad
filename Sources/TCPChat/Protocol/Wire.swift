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
        if line.hasPrefix("<"), let close = line.firstIndex(of: ">") {
            let inside = line[line.index(after: line.startIndex)..<close]
            var text = line[line.index(after: close)...]
            if text.hasPrefix(" ") { text = text.dropFirst() }
            if let arrow = inside.firstRange(of: " -> ") {
                return .privateMessage(from: String(inside[..<arrow.lowerBound]), to: String(inside[arrow.upperBound...]), text: String(text))
            }
            return .chat(nick: String(inside), text: String(text))
        }
        return .other(line)
    }
}
