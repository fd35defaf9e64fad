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
    @exclusivity(unchecked) private var history: [ChatEvent] = []
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

    package var isEmpty: Bool { members.isEmpty }

    /// The only encoder slot of the members, when they all speak one protocol; else nil.
    var singleSlot: Int? {
        guard slotsInUse == 1 else { return nil }
        return members.first?.encoderSlot
    }

    func slotIsUsed(_ slot: Int) -> Bool { slot < membersPerSlot.count && membersPerSlot[slot] > 0 }

    func add(_ member: ChatSession) {

        member.memberships.append(ChatSession.Membership(room: self, index: members.count))
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
        guard let position = member.memberships.firstIndex(where: { $0.room === self }) else { return }
        let index = member.memberships[position].index
        member.memberships.remove(at: position)
        let last = members.removeLast()
        if index < members.count {
            members[index] = last
            if let lastPosition = last.memberships.firstIndex(where: { $0.room === self }) {
                last.memberships[lastPosition].index = index
            }
        }
        membersPerSlot[member.encoderSlot] -= 1
        if membersPerSlot[member.encoderSlot] == 0 { slotsInUse -= 1 }
    }

    /// Keeps `event` (said or acted) as the newest history entry.
    func record(_ event: ChatEvent) {
        guard historyLength > 0 else { return }
        if history.count < historyLength {
            history.append(event)
        } else {
            history[historyStart] = event
            historyStart += 1  // no division per line
            if historyStart == historyLength { historyStart = 0 }
        }
    }

    /// History, oldest first.
    package var recentHistory: [ChatEvent] {
        Array(history[historyStart...] + history[..<historyStart])
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
