// The notices a client may parse: each one's wording, rendered and parsed in one place, so the
// server's text and the client's reading of it cannot drift apart. docs/PROTOCOL.md ("Notices a
// client may parse") states the grammar; the text here is without the `* ` marker and newline
// (`Wire.notice` adds them, `Wire.classify` takes them off).
//
// Pure: no sockets, no server state. A server builds a Notice and sends `notice.line`; a
// client hands the text of a `* ` line to `Notice.parse` and gets a value or nil.
//
// A `/me` action (`* NICK ACTION`) takes the same form, and its first word is always the
// acting nick; so an action can pass for a notice whose first word is a nick (`* bob joined
// #x` from `/me joined #x`), but only one about the actor. docs/PROTOCOL.md says what a client
// can trust.

public enum Notice: Equatable, Sendable {
    /// Where the `others` of `you joined` are counted: on a lone server the whole room, in a
    /// cluster this server's share of it (`/who` lists everyone).
    public enum Scope: Equatable, Sendable {
        case here
        case onThisServer
    }

    /// One entry of a `/rooms` answer: the core's own type.
    public typealias RoomCount = TCPChatCore.RoomCount

    /// `welcome to tcpchat, NICK! /nick NAME changes your nick, /help lists the commands`
    case welcome(nick: String)
    /// `you joined #ROOM (N others here)`; `(1 other here)`; in a cluster `on this server`.
    case youJoined(room: String, others: Int, scope: Scope)
    /// `NICK joined #ROOM`
    case joined(nick: String, room: String)
    /// `NICK left (REASON)`: left the server.
    case left(nick: String, reason: String)
    /// `NICK left #OLD (joined #NEW)`: moved to another room.
    case moved(nick: String, from: String, to: String)
    /// `OLD is now known as NEW`
    case renamed(old: String, new: String)
    /// `you are now known as NEW`, or in a cluster `BECAUSE; you are now known as guestN`
    /// (BECAUSE is `NICK is in use on another server` or
    /// `NICK was taken on another server while the cluster link was down`).
    case youAreNowKnownAs(nick: String, because: String?)
    /// `people in #ROOM (COUNT): a b c`, the answer to `/who`; a long list is cut short,
    /// `a b ... and MORE more`. `nicks` is the part shown.
    case names(room: String, count: Int, nicks: [String], more: Int)
    /// `rooms (N): #a (3), #b (1)`, the answer to `/rooms`; N is `rooms.count + more`, a long
    /// list is cut short, `#a (3), ... and MORE more`.
    case rooms([RoomCount], more: Int)

    // MARK: Building (for the server)

    /// `you joined`, counted on this server alone when `inCluster`.
    public static func youJoined(room: String, others: Int, inCluster: Bool) -> Notice {
        .youJoined(room: room, others: others, scope: inCluster ? .onThisServer : .here)
    }

    /// The `/who` answer for `nicks` (in the order given: the server sorts them), cut short so
    /// the joined list stays within `budget` bytes (the server uses
    /// `min(16 * 1024, maxQueueBytes / 4)`).
    public static func names(room: String, nicks: [String], budget: Int) -> Notice {
        let shown = cut(nicks, separator: namesSeparator, budget: budget)
        return .names(room: room, count: nicks.count, nicks: Array(nicks.prefix(shown)), more: nicks.count - shown)
    }

    /// The `/rooms` answer for `rooms` (in the order given), cut short like `names`.
    public static func rooms(_ rooms: [RoomCount], budget: Int) -> Notice {
        let shown = cut(rooms.map(renderRoomCount), separator: roomsSeparator, budget: budget)
        return .rooms(Array(rooms.prefix(shown)), more: rooms.count - shown)
    }

    /// How many of `items` fit, joined by `separator`, in `budget` bytes: an item is shown
    /// while the text so far plus the item and one separator stay within the budget.
    public static func cut(_ items: [String], separator: String, budget: Int) -> Int {
        var used = 0
        for (index, item) in items.enumerated() {
            if used + item.utf8.count + separator.utf8.count > budget { return index }
            used += (index == 0 ? 0 : separator.utf8.count) + item.utf8.count
        }
        return items.count
    }

    // MARK: Rendering and parsing

    /// The notice's text, without the `* ` marker and the newline.
    public var text: String {
        switch self {
        case .welcome(let nick): Notice.renderWelcome(nick)
        case .youJoined(let room, let others, let scope): Notice.renderYouJoined(room, others, scope)
        case .joined(let nick, let room): Notice.renderJoined(nick, room)
        case .left(let nick, let reason): Notice.renderLeft(nick, reason)
        case .moved(let nick, let from, let to): Notice.renderMoved(nick, from, to)
        case .renamed(let old, let new): Notice.renderRenamed(old, new)
        case .youAreNowKnownAs(let nick, let because): Notice.renderYouAreNowKnownAs(nick, because)
        case .names(let room, let count, let nicks, let more): Notice.renderNames(room, count, nicks, more)
        case .rooms(let rooms, let more): Notice.renderRooms(rooms, more)
        }
    }

    /// The whole line as sent: `* TEXT\n`.
    public var line: String { Wire.notice(text) }

    /// The notice in `noticeText` (a `* ` line without its marker, as `Wire.Kind.notice`
    /// carries it), or nil when it is none of these: another notice, an action that does not
    /// take a notice's form, or anything malformed. Nicks and rooms must satisfy `Names`.
    public static func parse(_ noticeText: String) -> Notice? {
        // Each parser checks a fixed word the others do not share, so at most one matches.
        parseWelcome(noticeText)
            ?? parseYouJoined(noticeText)
            ?? parseYouAreNowKnownAs(noticeText)
            ?? parseNames(noticeText)
            ?? parseRooms(noticeText)
            ?? parseJoined(noticeText)
            ?? parseLeft(noticeText)
            ?? parseMoved(noticeText)
            ?? parseRenamed(noticeText)
    }

    // welcome(nick)

    static let welcomePrefix = "welcome to tcpchat, "
    static let welcomeSuffix = "! /nick NAME changes your nick, /help lists the commands"

    static func renderWelcome(_ nick: String) -> String {
        "\(welcomePrefix)\(nick)\(welcomeSuffix)"
    }

    static func parseWelcome(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard scanner.take(welcomePrefix), let nick = scanner.nick(upTo: welcomeSuffix),
              scanner.take(welcomeSuffix), scanner.atEnd else { return nil }
        return .welcome(nick: nick)
    }

    // youJoined(room, others, scope)

    static func renderYouJoined(_ room: String, _ others: Int, _ scope: Scope) -> String {
        "you joined \(room) (\(others) other\(others == 1 ? "" : "s") \(scope == .here ? "here" : "on this server"))"
    }

    static func parseYouJoined(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard scanner.take("you joined "), let room = scanner.room(upTo: " ("), scanner.take(" ("),
              let others = scanner.number(), scanner.take(others == 1 ? " other " : " others ") else { return nil }
        let scope: Scope
        if scanner.take("here)") {
            scope = .here
        } else if scanner.take("on this server)") {
            scope = .onThisServer
        } else {
            return nil
        }
        return scanner.atEnd ? .youJoined(room: room, others: others, scope: scope) : nil
    }

    // joined(nick, room)

    static func renderJoined(_ nick: String, _ room: String) -> String {
        "\(nick) joined \(room)"
    }

    static func parseJoined(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard let nick = scanner.nick(upTo: " joined "), scanner.take(" joined "),
              let room = scanner.room(upTo: nil), scanner.atEnd else { return nil }
        return .joined(nick: nick, room: room)
    }

    // left(nick, reason)

    static func renderLeft(_ nick: String, _ reason: String) -> String {
        "\(nick) left (\(reason))"
    }

    static func parseLeft(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        // The reason may hold anything, parentheses too: it runs to the last `)`.
        guard let nick = scanner.nick(upTo: " left ("), scanner.take(" left ("),
              let reason = scanner.rest(endingWith: ")") else { return nil }
        return .left(nick: nick, reason: reason)
    }

    // moved(nick, from, to)

    static func renderMoved(_ nick: String, _ from: String, _ to: String) -> String {
        "\(nick) left \(from) (joined \(to))"
    }

    static func parseMoved(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard let nick = scanner.nick(upTo: " left "), scanner.take(" left "),
              let from = scanner.room(upTo: " (joined "), scanner.take(" (joined "),
              let to = scanner.room(upTo: ")"), scanner.take(")"), scanner.atEnd else { return nil }
        return .moved(nick: nick, from: from, to: to)
    }

    // renamed(old, new)

    static func renderRenamed(_ old: String, _ new: String) -> String {
        "\(old) is now known as \(new)"
    }

    static func parseRenamed(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard let old = scanner.nick(upTo: " is now known as "), scanner.take(" is now known as "),
              let new = scanner.nick(upTo: nil), scanner.atEnd else { return nil }
        return .renamed(old: old, new: new)
    }

    // youAreNowKnownAs(nick, because)

    static let nowKnownAs = "you are now known as "

    static func renderYouAreNowKnownAs(_ nick: String, _ because: String?) -> String {
        guard let because else { return "\(nowKnownAs)\(nick)" }
        return "\(because); \(nowKnownAs)\(nick)"
    }

    static func parseYouAreNowKnownAs(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        if scanner.take(nowKnownAs), let nick = scanner.nick(upTo: nil) {
            return .youAreNowKnownAs(nick: nick, because: nil)
        }
        // `BECAUSE; you are now known as NEW`: a nick cannot hold `; `, so the last one ends
        // the reason (which is not empty).
        guard let range = text.ranges(of: "; " + nowKnownAs).last, range.lowerBound > text.startIndex else { return nil }
        scanner = Scanner(String(text[range.upperBound...]))
        guard let nick = scanner.nick(upTo: nil) else { return nil }
        return .youAreNowKnownAs(nick: nick, because: String(text[..<range.lowerBound]))
    }

    // names(room, count, nicks, more)

    static let namesSeparator = " "

    static func renderNames(_ room: String, _ count: Int, _ nicks: [String], _ more: Int) -> String {
        "people in \(room) (\(count)): \(renderList(nicks, separator: namesSeparator, more: more))"
    }

    static func parseNames(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard scanner.take("people in "), let room = scanner.room(upTo: " ("), scanner.take(" ("),
              let count = scanner.number(), scanner.take("): "),
              let (items, more) = parseList(scanner.remaining, separator: namesSeparator) else { return nil }
        guard items.allSatisfy(Names.couldBeNick) else { return nil }
        return .names(room: room, count: count, nicks: items, more: more)
    }

    // rooms(rooms, more)

    static let roomsSeparator = ", "

    static func renderRoomCount(_ room: RoomCount) -> String {
        "\(room.name) (\(room.count))"
    }

    static func renderRooms(_ rooms: [RoomCount], _ more: Int) -> String {
        "rooms (\(rooms.count + more)): \(renderList(rooms.map(renderRoomCount), separator: roomsSeparator, more: more))"
    }

    static func parseRooms(_ text: String) -> Notice? {
        var scanner = Scanner(text)
        guard scanner.take("rooms ("), let total = scanner.number(), scanner.take("): "),
              let (items, more) = parseList(scanner.remaining, separator: roomsSeparator) else { return nil }
        var rooms: [RoomCount] = []
        for item in items {
            var entry = Scanner(item)
            guard let name = entry.room(upTo: " ("), entry.take(" ("), let count = entry.number(),
                  entry.take(")"), entry.atEnd else { return nil }
            rooms.append(RoomCount(name: name, count: count))
        }
        guard total == rooms.count + more else { return nil }
        return .rooms(rooms, more: more)
    }

    // Lists: `a SEP b SEP ... and N more`

    static func renderList(_ items: [String], separator: String, more: Int) -> String {
        let shown = items.joined(separator: separator)
        return more > 0 ? "\(shown)\(separator)... and \(more) more" : shown
    }

    /// The items and the `... and N more` count of a rendered list; nil when an item is empty.
    static func parseList(_ text: Substring, separator: String) -> ([String], Int)? {
        var list = text
        var more = 0
        if list.hasSuffix(" more"), let mark = list.ranges(of: separator + "... and ").last {
            var tail = Scanner(String(list[mark.upperBound...]))
            guard let count = tail.number(), count > 0, tail.take(" more"), tail.atEnd else { return nil }
            more = count
            list = list[..<mark.lowerBound]
        }
        if list.isEmpty { return ([], more) }
        let items = list.split(separator: separator, omittingEmptySubsequences: false).map(String.init)
        guard !items.contains(where: \.isEmpty) else { return nil }
        return (items, more)
    }

    /// Reads a notice left to right, matching scalar by scalar (as `Wire.classify` does), so
    /// that text starting with a combining mark cannot fuse with the literal before it.
    struct Scanner {
        private let text: String
        private var position: String.UnicodeScalarView.Index

        init(_ text: String) {
            self.text = text
            position = text.unicodeScalars.startIndex
        }

        var atEnd: Bool { position == text.unicodeScalars.endIndex }
        var remaining: Substring { Substring(text.unicodeScalars[position...]) }

        /// Consumes `literal` when the text goes on with it.
        mutating func take(_ literal: String) -> Bool {
            let rest = text.unicodeScalars[position...]
            guard rest.starts(with: literal.unicodeScalars) else { return false }
            position = rest.index(position, offsetBy: literal.unicodeScalars.count)
            return true
        }

        /// The text up to the first `terminator` (or to the end when nil), consumed; nil when
        /// the terminator is missing. The terminator itself is left.
        private mutating func word(upTo terminator: String?) -> String? {
            let rest = text.unicodeScalars[position...]
            guard let terminator else {
                position = rest.endIndex
                return String(Substring(rest))
            }
            let needle = Array(terminator.unicodeScalars)
            var index = rest.startIndex
            while index != rest.endIndex {
                if rest[index...].starts(with: needle) {
                    position = index
                    return String(Substring(rest[rest.startIndex..<index]))
                }
                rest.formIndex(after: &index)
            }
            return nil
        }

        /// A nick (by `Names` rules) up to `terminator`.
        mutating func nick(upTo terminator: String?) -> String? {
            let saved = position
            guard let word = word(upTo: terminator), Names.couldBeNick(word) else {
                position = saved
                return nil
            }
            return word
        }

        /// A room (by `Names` rules, with its `#`) up to `terminator`.
        mutating func room(upTo terminator: String?) -> String? {
            let saved = position
            guard let word = word(upTo: terminator), Names.formProblem(ofRoom: word) == nil else {
                position = saved
                return nil
            }
            return word
        }

        /// A count as the server writes it: ASCII digits, no sign, no leading zero.
        mutating func number() -> Int? {
            let rest = text.unicodeScalars[position...]
            let digits = rest.prefix(while: { $0.value >= 0x30 && $0.value <= 0x39 })
            guard !digits.isEmpty, digits.count <= 18, digits.count == 1 || digits.first != "0",
                  let value = Int(String(Substring(digits))) else { return nil }
            position = digits.endIndex
            return value
        }

        /// Everything left up to a final `suffix`, all consumed; nil when it does not end so.
        mutating func rest(endingWith suffix: String) -> String? {
            let rest = text.unicodeScalars[position...]
            let tail = Array(suffix.unicodeScalars)
            guard rest.count >= tail.count, rest.suffix(tail.count).elementsEqual(tail) else { return nil }
            let end = rest.index(rest.endIndex, offsetBy: -tail.count)
            position = rest.endIndex
            return String(Substring(rest[rest.startIndex..<end]))
        }
    }
}
