// What the client knows about where it is, learned only from what the server says: your nick,
// your room, who else is in it (for Tab), and the rooms you have heard of. Kept current from
// /who answers and the join, leave and nick notices, read by Notice.parse (Sources/TCPChat/
// Protocol/Notice.swift); docs/PROTOCOL.md, "Notices a client may parse", has their forms.
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

    /// The notices are read by `Notice.parse`, the same code the server renders them with.
    /// A `/me` action can take a notice's form, but only one about the actor (its first word is
    /// the acting nick); docs/PROTOCOL.md ("Notices a client may parse") says what that leaves.
    private mutating func observeNotice(_ text: String) -> Change {
        switch Notice.parse(text) {
        case .welcome(let name)?:
            // The server's first line; later it can only be someone's action.
            guard nick == nil else { return .nothing }
            nick = name
            return .ownNick
        case .youAreNowKnownAs(let name, let because)?:
            // In a cluster the reason starts with your own nick, which no action of someone
            // else can (an action starts with its actor's nick, and you do not get yours back).
            if let because, let nick, !because.hasPrefix(nick + " ") { return .nothing }
            members.removeValue(forKey: Names.key(name))
            nick = name
            return .ownNick
        case .youJoined(let name, _, _)?:
            room = name
            members.removeAll()
            knownRooms[Names.key(name)] = name
            return .joinedRoom
        case .names(let name, _, let nicks, _)? where isCurrentRoom(name):
            members.removeAll()
            for name in nicks { addMember(name) }
        case .rooms(let rooms, _)?:
            for entry in rooms { knownRooms[Names.key(entry.name)] = entry.name }
        case .joined(let name, let joinedRoom)? where isCurrentRoom(joinedRoom):
            addMember(name)
        case .left(let name, _)?, .moved(let name, _, _)?:
            members.removeValue(forKey: Names.key(name))
        case .renamed(let old, let new)?:
            members.removeValue(forKey: Names.key(old))
            addMember(new)
        case .names?, .joined?, nil:
            break
        }
        return .nothing
    }

    private func isCurrentRoom(_ name: String) -> Bool {
        room.map(Names.key) == Names.key(name)
    }

    private mutating func addMember(_ name: String) {
        guard Names.couldBeNick(name), Names.key(name) != nick.map(Names.key) else { return }
        members[Names.key(name)] = name
    }
}
