// IRC's message grammar (RFC 1459 / 2812, modern.ircdocs.horse): `[@tags] [:prefix] COMMAND
// params... [:trailing]`, at most 512 bytes with CRLF. Parsing is total: any bytes give a
// message or nil (an empty line), never a crash (Tests/fuzz/IRCFuzz.swift).

struct IRCMessage: Equatable {
    /// Upper-cased command (a word or a three-digit numeric).
    var command: String
    var params: [String]

    /// The longest line a peer may send or receive, CR LF included.
    static let maxLineBytes = 512

    /// One line (without its terminator), decoded as UTF-8 (invalid bytes become U+FFFD).
    /// Tags and the prefix a client may send are skipped. nil for a line with no command.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> IRCMessage? {
        parse(String(decoding: bytes, as: UTF8.self))
    }

    static func parse(_ line: String) -> IRCMessage? {
        // By Unicode scalar, not by Character: a combining mark right after a space fuses with
        // it into one Character, which would hide the space (found by Tests/fuzz/IRCFuzz.swift).
        var rest = Substring(line).unicodeScalars
        func skipSpaces() { rest = rest.drop { $0 == " " } }
        func word() -> Substring.UnicodeScalarView {
            let end = rest.firstIndex(of: " ") ?? rest.endIndex
            let taken = rest[..<end]
            rest = rest[end...]
            return taken
        }
        func text(_ scalars: Substring.UnicodeScalarView) -> String { String(Substring(scalars)) }
        skipSpaces()
        if rest.first == "@" { _ = word(); skipSpaces() }
        if rest.first == ":" { _ = word(); skipSpaces() }
        let command = word()
        guard let first = command.first, first != ":", first != "@" else { return nil }
        var params: [String] = []
        while true {
            skipSpaces()
            if rest.isEmpty { break }
            if rest.first == ":" || params.count == 14 {
                params.append(text(rest.first == ":" ? rest.dropFirst() : rest))
                break
            }
            params.append(text(word()))
        }
        return IRCMessage(command: text(command).uppercased(), params: params)
    }

    /// Whether the first line of a connection is IRC: what IRC clients send first, written as
    /// they write it (upper case, the right number of parameters). A person typing in the line
    /// protocol does not open with `NICK alice` or `CAP LS 302`; `nick is great` (three words,
    /// lower case) stays chat. See docs/PROTOCOL.md, "IRC on the same port".
    static func opensIRC(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count <= 4096, let message = parse(String(decoding: bytes, as: UTF8.self)) else { return false }
        let line = String(decoding: bytes, as: UTF8.self)
        let first = Substring(line).unicodeScalars.drop { $0 == " " }.prefix { $0 != " " }
        guard String(Substring(first)) == message.command else { return false }  // upper case as sent, no prefix
        switch message.command {
        case "CAP": return ["LS", "REQ", "END", "LIST"].contains(message.params.first ?? "")
        case "NICK": return message.params.count == 1 && (!message.params[0].isEmpty || line.hasSuffix(" :"))
        case "USER": return message.params.count >= 4
        case "PASS": return message.params.count == 1
        case "QUIT": return message.params.count <= 1 && (message.params.isEmpty || line.contains(" :"))
        default: return false
        }
    }

    /// `text` cut into pieces of at most `budget` bytes of UTF-8, on scalar boundaries; one
    /// piece (possibly empty) at least.
    static func pieces(of text: String, budget: Int) -> [String] {
        let budget = max(budget, 4)
        if text.utf8.count <= budget { return [text] }
        var pieces: [String] = []
        let scalars = text.unicodeScalars
        var start = scalars.startIndex
        var bytes = 0
        var index = scalars.startIndex
        while index < scalars.endIndex {
            let size = scalars[index].utf8.count
            if bytes + size > budget {
                pieces.append(String(scalars[start..<index]))
                start = index
                bytes = 0
            }
            bytes += size
            index = scalars.index(after: index)
        }
        if start < scalars.endIndex { pieces.append(String(scalars[start...])) }
        return pieces
    }

    /// `line` (without terminator) cut to fit 510 bytes on a scalar boundary.
    static func fit(_ line: String) -> String {
        if line.utf8.count <= maxLineBytes - 2 { return line }
        return pieces(of: line, budget: maxLineBytes - 2)[0]
    }
}
