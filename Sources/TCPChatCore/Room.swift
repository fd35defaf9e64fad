// A room: its members, in join order, the codecs they speak, its topic and the last lines
// said in it (as events: each protocol renders its own form on replay).

package final class Room {
    package let name: String
    package let key: String
    @exclusivity(unchecked) package private(set) var members: [ChatSession] = []
    package var topic: String?
    /// Who set the topic and when (seconds since 1970), for IRC's 333.
    package var topicSetter: String?
    package var topicTime: Int = 0
    /// Channel operators (IRC's `@`): whoever made the room (not a permanent one) and whom an
    /// operator names; kept by session, forgotten when they leave.
    package var operators: Set<ObjectIdentifier> = []
    /// Voiced members (IRC's `+`): may speak in a moderated room.
    package var voiced: Set<ObjectIdentifier> = []
    /// Rules an operator set (IRC channel modes); the IRC codec applies them to IRC users.
    package var modes = RoomModes()

    package func isOperator(_ session: ChatSession) -> Bool { operators.contains(ObjectIdentifier(session)) }
    /// The last lines said, a ring of `historyLength` entries (`historyStart` is the oldest once
    /// it is full), allocated at the first line. A chat line said on this server is kept as its
    /// nick and bytes, written over the oldest entry's storage (no allocation per line once
    /// the ring is full and its entries large enough, issue 19); anything else as its event.
    /// Events are made back from them only for a replay.
    @exclusivity(unchecked) private var history: UnsafeMutablePointer<HistoryEntry>?
    @exclusivity(unchecked) private var historyCount = 0
    @exclusivity(unchecked) private var historyStart = 0
    private let historyLength: Int
    /// Members per encoder slot: a fan-out renders once for each slot in use.
    private var membersPerSlot: [Int] = []
    private(set) var slotsInUse = 0

    package init(name: String, historyLength: Int) {
        self.name = name
        self.key = Names.key(name)
        self.historyLength = historyLength
    }

    deinit {
        guard let history else { return }
        for index in 0..<historyCount { history[index].freeText() }
        history.deinitialize(count: historyCount)
        history.deallocate()
    }

    package var isEmpty: Bool { members.isEmpty }

    /// The only encoder slot of the members, when they all speak one protocol; else nil.
    var singleSlot: Int? {
        guard slotsInUse == 1 else { return nil }
        return members.first?.encoderSlot
    }

    func slotIsUsed(_ slot: Int) -> Bool { slot < membersPerSlot.count && membersPerSlot[slot] > 0 }

    func add(_ member: ChatSession) {

        member.addMembership(in: self, at: members.count)
        // Past 1 024 members the list grows by a quarter, not doubled (issue 19, memory per idle
        // connection: 8 bytes a member, ~13 per connection at 10 000 doubled, ~8 this way).
        if members.count == members.capacity && members.count >= 1024 {
            members.reserveCapacity(members.count + members.count / 4)
        }
        members.append(member)
        let slot = member.encoderSlot
        if slot >= membersPerSlot.count { membersPerSlot += Array(repeating: 0, count: slot + 1 - membersPerSlot.count) }
        membersPerSlot[slot] += 1
        if membersPerSlot[slot] == 1 { slotsInUse += 1 }
    }

    /// O(1) in the room (the last member takes the leaver's slot); linear in the few rooms a
    /// session is in.
    func remove(_ member: ChatSession) {
        operators.remove(ObjectIdentifier(member))
        voiced.remove(ObjectIdentifier(member))
        guard let index = member.removeMembership(in: self) else { return }
        let last = members.removeLast()
        if index < members.count {
            members[index] = last
            last.setMembershipIndex(index, in: self)
        }
        membersPerSlot[member.encoderSlot] -= 1
        if membersPerSlot[member.encoderSlot] == 0 { slotsInUse -= 1 }
    }

    /// Keeps `event` (said or acted) as the newest history entry.
    func record(_ event: ChatEvent) {
        guard historyLength > 0 else { return }
        if historyCount < historyLength {
            (historyStorage() + historyCount).initialize(to: HistoryEntry(event: event))
            historyCount += 1
        } else {
            historyStorage()[historyStart].keep(event)
            advanceHistory()
        }
    }

    /// Keeps the chat line `nick` said (`text`: its bytes, valid UTF-8) as the newest history
    /// entry, as `record(.said(room: name, nick: nick, text: text))` would.
    func recordSaid(nick: String, text: UnsafeRawBufferPointer) {
        guard historyLength > 0 else { return }
        if historyCount < historyLength {
            (historyStorage() + historyCount).initialize(to: HistoryEntry(nick: nick, text: text))
            historyCount += 1
        } else {
            historyStorage()[historyStart].keepSaid(nick: nick, text: text)
            advanceHistory()
        }
    }

    @inline(__always)
    private func historyStorage() -> UnsafeMutablePointer<HistoryEntry> {
        if let history { return history }
        let storage = UnsafeMutablePointer<HistoryEntry>.allocate(capacity: historyLength)
        history = storage
        return storage
    }

    @inline(__always)
    private func advanceHistory() {
        historyStart += 1  // no division per line
        if historyStart == historyLength { historyStart = 0 }
    }

    /// History, oldest first.
    package var recentHistory: [ChatEvent] {
        guard let history else { return [] }
        var events: [ChatEvent] = []
        events.reserveCapacity(historyCount)
        for offset in 0..<historyCount {  // historyStart is 0 until the ring is full
            events.append(history[(historyStart + offset) % historyCount].event(in: name))
        }
        return events
    }
}

/// One line of a room's history: an event, or (`stored` nil) a chat line said on this server,
/// kept as its nick and bytes. The bytes are the entry's own allocation, reused by the next
/// line written over it when large enough; the room frees it (freeText).
struct HistoryEntry {
    private var stored: ChatEvent?
    /// `stored` is not nil (a flag, so that a chat line written over a chat line does not
    /// copy the optional event to test it).
    private var isEvent: Bool
    private var nick: String
    private var text: UnsafeMutableRawPointer?
    private var count = 0
    private var capacity = 0

    init(event: ChatEvent) {
        stored = event
        isEvent = true
        nick = ""
    }

    init(nick: String, text bytes: UnsafeRawBufferPointer) {
        isEvent = false
        self.nick = nick
        store(bytes)
    }

    mutating func keep(_ event: ChatEvent) {
        stored = event
        isEvent = true
        nick = ""
        count = 0
    }

    @inline(__always)
    mutating func keepSaid(nick: String, text bytes: UnsafeRawBufferPointer) {
        if isEvent {
            stored = nil
            isEvent = false
        }
        self.nick = nick
        store(bytes)
    }

    @inline(__always)
    private mutating func store(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > capacity {
            text?.deallocate()
            capacity = (bytes.count + 63) & ~63
            text = .allocate(byteCount: capacity, alignment: 8)
        }
        if let source = bytes.baseAddress, let text { text.copyMemory(from: source, byteCount: bytes.count) }
        count = bytes.count
    }

    func freeText() { text?.deallocate() }

    func event(in room: String) -> ChatEvent {
        if isEvent, let stored { return stored }
        return .said(room: room, nick: nick, text: String(decoding: UnsafeRawBufferPointer(start: text, count: count), as: UTF8.self))
    }
}

/// A room's rules, as IRC's channel modes.
package struct RoomModes {
    /// +n: only members may speak in it.
    package var noExternal = true
    /// +t: only operators may set the topic.
    package var topicLocked = false
    /// +m: only operators and voiced members may speak.
    package var moderated = false
    /// +i: only invited people may join.
    package var inviteOnly = false
    /// +s: not listed to non-members.
    package var secret = false
    /// +k: the key to join.
    package var key: String?
    /// +l: most members.
    package var limit: Int?
    /// +b: `nick!user@host` masks (with * and ?) that may not join.
    package var bans: [String] = []
    /// Nick keys invited (INVITE), until they join.
    package var invited: Set<String> = []

    package init() {}
}
