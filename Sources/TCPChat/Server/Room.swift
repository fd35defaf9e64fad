// A room: its members, in join order, and the last lines said in it.

final class Room {
    let name: String
    private(set) var members: [ClientConnection] = []
    private var history: [SharedBuffer] = []
    private var historyStart = 0
    private let historyLength: Int

    init(name: String, historyLength: Int) {
        self.name = name
        self.historyLength = historyLength
    }

    var isEmpty: Bool { members.isEmpty }

    func add(_ member: ClientConnection) {
        member.memberIndex = members.count
        members.append(member)
    }

    /// O(1): the last member takes the leaver's slot.
    func remove(_ member: ClientConnection) {
        let index = member.memberIndex
        guard index >= 0, index < members.count, members[index] === member else { return }
        let last = members.removeLast()
        if index < members.count {
            members[index] = last
            last.memberIndex = index
        }
        member.memberIndex = -1
    }

    /// Keeps `line` (already in its history form) as the newest history entry.
    func record(_ line: SharedBuffer) {
        guard historyLength > 0 else { return }
        if history.count < historyLength {
            history.append(line)
        } else {
            history[historyStart] = line
            historyStart = (historyStart + 1) % historyLength
        }
    }

    /// History, oldest first.
    var recentHistory: [SharedBuffer] {
        Array(history[historyStart...] + history[..<historyStart])
    }
}
