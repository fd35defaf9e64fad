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
    ///
    /// Markers are matched scalar by scalar, not Character by Character: text that starts with
    /// a combining mark fuses with the space before it into one Character, which would hide
    /// the `* ` or `> ` marker (found by Tests/fuzz/TextFuzz.swift).
    public static func classify(_ line: String) -> Kind {
        var rest = Substring(line).unicodeScalars
        func take(_ marker: String) -> Bool {
            guard rest.starts(with: marker.unicodeScalars) else { return false }
            rest = rest.dropFirst(marker.unicodeScalars.count)
            return true
        }
        func text(_ scalars: Substring.UnicodeScalarView) -> String { String(Substring(scalars)) }
        if take("* ") { return .notice(text(rest)) }
        if take("! ") { return .error(text(rest)) }
        guard take("<") else { return .other(line) }
        // A nick never holds a space or '>': `<nick> text` or `<from -> to> text`.
        guard let end = rest.firstIndex(where: { $0 == ">" || $0 == " " }) else { return .other(line) }
        let first = text(rest[..<end])
        rest = rest[end...]
        if take(">") {
            _ = take(" ")
            return .chat(nick: first, text: text(rest))
        }
        guard take(" -> "), let close = rest.firstIndex(of: ">") else { return .other(line) }
        let to = text(rest[..<close])
        rest = rest[rest.index(after: close)...]
        _ = take(" ")
        return .privateMessage(from: first, to: to, text: text(rest))
    }
}
