// What the client knows about where it is, learned only from what the server says: your nick,
// your room, who else is in it (for Tab), and the rooms you have heard of. Kept current from
// /who answers and the join, leave and nick notices; docs/PROTOCOL.md has their wording.
import TCPChat

struct RoomState {
    /// What a received line changed, when the client must react to it.
    enum Change: Equatable {
        case nothing
        /// Your nick is now `nick` (the prompt shows it).
        case ownNick
        /// You are in a new room, whose member list is not known yet.
        case joinedRoom
    }

    private(set) var nick: String?
    private(set) var room: String?
    /// The other people in your room, by Names.key.
    private var members: [String: String] = [:]
    private var knownRooms: [String: String] = [:]

    var memberNicks: [String] { Array(members.values) }
    var roomNames: [String] { Array(knownRooms.values) }

    mutating func observe(_ kind: Wire.Kind) -> Change {
        switch kind {
        case .chat(let nick, _):
            addMember(nick)  // whoever speaks in the room is in it
        case .notice(let text):
            return observeNotice(text)
        case .privateMessage, .error, .other:
            break
        }
        return .nothing
    }

    private mutating func observeNotice(_ text: String) -> Change {
        if let rest = text.removingPrefix("welcome to tcpchat, "), let bang = rest.firstIndex(of: "!") {
            nick = String(rest[..<bang])
            return .ownNick
        }
        if let name = text.removingPrefix("you are now known as ").map(String.init) {
            members.removeValue(forKey: Names.key(name))
            nick = name
            return .ownNick
        }
        let words = text.split(separator: " ").map(String.init)
        // `you joined #room (N others here)`
        if words.count >= 3, words[0] == "you", words[1] == "joined", words[2].hasPrefix("#") {
            room = words[2]
            members.removeAll()
            knownRooms[Names.key(words[2])] = words[2]
            return .joinedRoom
        }
        // `people in #room (N): a b c`, the answer to /who
        if words.count >= 4, words[0] == "people", words[1] == "in", let room, Names.key(words[2]) == Names.key(room) {
            members.removeAll()
            for name in words.dropFirst(4) { addMember(name) }
            return .nothing
        }
        // `rooms (N): #lobby (3), #x (1)`, the answer to /rooms
        if words.first == "rooms" {
            for word in words where word.hasPrefix("#") {
                let name = word.hasSuffix(",") ? String(word.dropLast()) : word
                knownRooms[Names.key(name)] = name
            }
            return .nothing
        }
        // `NICK joined #room`
        if words.count == 3, words[1] == "joined", words[2].hasPrefix("#") {
            addMember(words[0])
        // `NICK left (reason)` and `NICK left #old (joined #new)`
        } else if words.count >= 2, words[1] == "left" {
            members.removeValue(forKey: Names.key(words[0]))
        // `OLD is now known as NEW`
        } else if words.count == 6, words[1...4] == ["is", "now", "known", "as"] {
            members.removeValue(forKey: Names.key(words[0]))
            addMember(words[5])
        }
        return .nothing
    }

    private mutating func addMember(_ name: String) {
        guard Names.nickProblem(name) == nil, Names.key(name) != nick.map(Names.key) else { return }
        members[Names.key(name)] = name
    }
}

extension String {
    /// The rest of the string after `prefix`, or nil when it does not start with it.
    func removingPrefix(_ prefix: String) -> Substring? {
        hasPrefix(prefix) ? dropFirst(prefix.count) : nil
    }
}
