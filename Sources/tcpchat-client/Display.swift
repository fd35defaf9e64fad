// How received lines look on screen: chat, private messages, notices and errors each in their
// own colour (every nick keeps one colour), an optional timestamp, and nothing a peer sent
// that could drive the terminal. Colours only when stdout is a terminal and neither NO_COLOR
// (https://no-color.org) nor --no-color says otherwise.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import TCPChat

struct Display {
    let colours: Bool
    let timestamps: Bool

    /// Whether to colour: only for a terminal, and only when nobody asked us not to.
    static func wantsColour(noColorFlag: Bool) -> Bool {
        if noColorFlag || isatty(1) == 0 { return false }
        if let value = getenv("NO_COLOR"), value.pointee != 0 { return false }
        return true
    }

    // MARK: Received lines

    /// A line from a tcpchat server, styled by its marker.
    func serverLine(_ line: String) -> String {
        let clean = Display.sanitize(line)
        let styled: String
        switch Wire.classify(clean) {
        case .chat(let nick, let text):
            styled = paint("<\(nick)>", Display.colour(for: nick)) + " " + text
        case .privateMessage(let from, let to, let text):
            styled = paint("<\(from) -> \(to)>", SGR.privateMessage) + " " + text
        case .notice(let text) where text.hasPrefix("history: "):
            styled = paint(clean, SGR.history)  // replayed: older than everything else on screen
        case .notice:
            styled = paint(clean, SGR.notice)
        case .error:
            styled = paint(clean, SGR.error)
        case .other:
            styled = clean
        }
        return stamped(styled)
    }

    /// A line from the one peer of --listen: plain text, shown as `<peer> text`.
    func peerLine(_ line: String) -> String {
        stamped(paint("<peer>", SGR.peer) + " " + Display.sanitize(line))
    }

    /// Something the client itself says on stdout (who connected, ...), styled as a notice.
    func notice(_ text: String) -> String {
        stamped(paint("* " + text, SGR.notice))
    }

    /// The prompt before the line being typed: `nick> `, bold. Readline must not count the
    /// colour codes as width, hence the \u{1} ... \u{2} brackets around them.
    func prompt(_ name: String?) -> String {
        let text = (name ?? "") + ">"
        guard colours else { return text + " " }
        return "\u{1}\(SGR.own)\u{2}\(text)\u{1}\(SGR.reset)\u{2} "
    }

    // MARK: Pieces

    private func paint(_ text: String, _ code: String) -> String {
        colours ? code + text + SGR.reset : text
    }

    private func stamped(_ text: String) -> String {
        timestamps ? Display.clock() + " " + text : text
    }

    /// Local time as HH:MM.
    static func clock() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        func twoDigits(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return twoDigits(parts.tm_hour) + ":" + twoDigits(parts.tm_min)
    }

    /// No escape sequences or control characters reach our terminal, whoever sent them: the
    /// server cleans what it relays, but a --listen peer is a raw socket.
    static func sanitize(_ line: String) -> String {
        var copy = line
        // Without a fallback encoding the sanitizer holds no iconv descriptor: cheap to make.
        return copy.withUTF8 { TextSanitizer(fallback: .none).clean(UnsafeRawBufferPointer($0)) }
    }

    /// One stable colour per nick (FNV-1a of its lowercased UTF-8; Swift's Hasher is seeded
    /// per process, so it would change colours between runs).
    static func colour(for nick: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in nick.lowercased().utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return SGR.nickPalette[Int(hash % UInt32(SGR.nickPalette.count))]
    }
}

/// ANSI select-graphic-rendition sequences.
enum SGR {
    static let reset = "\u{1B}[0m"
    static let own = "\u{1B}[1m"  // bold
    static let notice = "\u{1B}[36m"  // cyan
    static let history = "\u{1B}[2m"  // faint
    static let error = "\u{1B}[1;31m"  // bold red
    static let privateMessage = "\u{1B}[1;35m"  // bold magenta
    static let peer = "\u{1B}[32m"  // green
    /// Nick colours: neither the notice cyan nor the error red.
    static let nickPalette = ["\u{1B}[32m", "\u{1B}[33m", "\u{1B}[34m", "\u{1B}[35m", "\u{1B}[92m", "\u{1B}[93m", "\u{1B}[94m", "\u{1B}[95m"]
}
