// The stored and shared form of a room event: what room history in Redis and the cluster's
// messages carry, so that a line said on a line-protocol server reaches a user of any other
// protocol on another server as that protocol's own message.
//
//   record  = version TAB kind TAB field *(TAB field)
//   version = "1"
//   kind    = "S" said | "A" acted | "J" joined | "L" left | "R" renamed | "T" topic
//           | "P" private message | "N" notice | "O" notice to a room | "K" kick
//           | "Q" private notice (IRC's NOTICE to a nick; 1.1)
//
// Fields are in a fixed order per kind; names (nicks, rooms) never hold a TAB or LF, and the
// one free text field, which may hold TABs, is always last. No field holds an LF. A record of a
// newer version, or one that does not parse, is nil: the receiver drops it (and logs it).

extension ChatEvent {
    package static let recordVersion = "1"

    /// The record of this event, or nil for events that are never stored or shared.
    package var record: String? {
        switch self {
        case .said(let room, let nick, let text): return ChatEvent.join("S", [room, nick, text])
        case .acted(let room, let nick, let text): return ChatEvent.join("A", [room, nick, text])
        case .joined(let room, let nick): return ChatEvent.join("J", [room, nick])
        case .left(let room, let nick, let reason):
            switch reason {
            case .disconnected(let why): return ChatEvent.join("L", [room, nick, "d", why])
            case .moved(let to): return ChatEvent.join("L", [room, nick, "m", to])
            case .parted(let why): return ChatEvent.join("L", [room, nick, why == nil ? "p" : "P", why ?? ""])
            }
        case .renamed(let room, let old, let new): return ChatEvent.join("R", [room ?? "", old, new])
        case .topic(let room, let nick, let text): return ChatEvent.join("T", [room, nick ?? "", text])
        case .privateMessage(let from, let to, let text): return ChatEvent.join("P", [from, to, text])
        case .privateNotice(let from, let to, let text): return ChatEvent.join("Q", [from, to, text])
        case .notice(let text): return ChatEvent.join("N", [text])
        case .noticed(let room, let nick, let text): return ChatEvent.join("O", [room, nick, text])
        case .kicked(let room, let nick, let by, let reason): return ChatEvent.join("K", [room, nick, by, reason])
        default: return nil
        }
    }

    /// The event a record stands for; nil when it is malformed or of another version.
    package init?(record: String) {
        var fields = record.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0] == ChatEvent.recordVersion, !record.utf8.contains(10) else { return nil }
        let kind = fields[1]
        let body = fields[2]
        func split(_ count: Int) -> [String]? {
            let parts = body.split(separator: "\t", maxSplits: count - 1, omittingEmptySubsequences: false)
            return parts.count == count ? parts.map(String.init) : nil
        }
        fields = []
        switch kind {
        case "S": guard let f = split(3) else { return nil }; self = .said(room: f[0], nick: f[1], text: f[2])
        case "A": guard let f = split(3) else { return nil }; self = .acted(room: f[0], nick: f[1], text: f[2])
        case "J": guard let f = split(2) else { return nil }; self = .joined(room: f[0], nick: f[1])
        case "L":
            guard let f = split(4) else { return nil }
            switch f[2] {
            case "d": self = .left(room: f[0], nick: f[1], reason: .disconnected(f[3]))
            case "m": self = .left(room: f[0], nick: f[1], reason: .moved(to: f[3]))
            case "p": self = .left(room: f[0], nick: f[1], reason: .parted(nil))
            case "P": self = .left(room: f[0], nick: f[1], reason: .parted(f[3]))
            default: return nil
            }
        case "R": guard let f = split(3) else { return nil }; self = .renamed(room: f[0].isEmpty ? nil : f[0], old: f[1], new: f[2])
        case "T": guard let f = split(3) else { return nil }; self = .topic(room: f[0], nick: f[1].isEmpty ? nil : f[1], text: f[2])
        case "P": guard let f = split(3) else { return nil }; self = .privateMessage(from: f[0], to: f[1], text: f[2])
        case "Q": guard let f = split(3) else { return nil }; self = .privateNotice(from: f[0], to: f[1], text: f[2])
        case "N": self = .notice(String(body))
        case "K": guard let f = split(4) else { return nil }; self = .kicked(room: f[0], nick: f[1], by: f[2], reason: f[3])
        case "O": guard let f = split(3) else { return nil }; self = .noticed(room: f[0], nick: f[1], text: f[2])
        default: return nil
        }
    }

    private static func join(_ kind: String, _ fields: [String]) -> String {
        ([recordVersion, kind] + fields).joined(separator: "\t")
    }
}
