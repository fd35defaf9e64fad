// The core's registered sessions by the skeleton of their nick (ChatCore.nicks), at 8 bytes a
// slot (issue 19, memory per idle connection): a `[String: ChatSession]` holds the key's
// String beside the reference, 24 bytes a bucket (~39 bytes per connection at 10 000). Here a
// slot is one word: the session's address, retained, with the top 16 bits of the key's hash
// above it (a user-space address on Linux fits in 48 bits), so a probe compares a whole key
// only where those 16 bits match. The key itself is not stored: it is the skeleton of the
// session's nick (Names.skeleton), which the core keeps true (a session's nick is set before
// it is entered under it, and it is taken out under its old nick before the nick changes).
//
// Open addressing with linear probing; a slot taken out becomes a tombstone; the table grows
// (doubles) when more than 3/4 of its slots are used, tombstones included, and is rebuilt at
// the same size when tombstones alone pass that mark. A key's first slot is its hash rotated
// so that the fingerprint's 16 bits are the low ones: up to 65 536 slots (49 152 nicks) a
// rebuild places every session from its fingerprint alone; past that it takes each session's
// skeleton again (ICU), once per rebuild.
//
// The same table serves the core's lookalikes (ChatCore.lookalikes, `display: true`): the
// sessions whose nick's display skeleton (Names.displaySkeleton) differs from its skeleton, by
// the display skeleton; a guest whose number has a 0 is one (0's skeleton is a capital O), so
// at 10 000 guests about 3 000 are (a `[String: ChatSession]` took ~10 bytes per connection,
// issue 19).
//
// Loop thread only, as the rest of the core.

package final class NickTable {
    private static let empty: UInt = 0
    private static let tombstone: UInt = 1
    private static let addressMask: UInt = (1 << 48) - 1

    /// `capacity` words, each empty, a tombstone, or a retained session with its fingerprint.
    private var slots: UnsafeMutablePointer<UInt>
    private var capacity: Int
    /// Sessions in the table.
    package private(set) var count = 0
    /// Slots not empty (sessions and tombstones).
    private var used = 0
    /// Keyed by the display skeleton of the nick (Names.displaySkeleton), not its skeleton.
    private let display: Bool

    init(display: Bool = false) {
        self.display = display
        capacity = 16
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: NickTable.empty, count: capacity)
    }

    deinit {
        for index in 0..<capacity { release(slots[index]) }
        slots.deallocate()
    }

    package var isEmpty: Bool { count == 0 }

    /// The session whose nick has this skeleton, or nil.
    package subscript(skeleton: String) -> ChatSession? {
        get {
            let hash = NickTable.hash(skeleton)
            var index = home(hash)
            while true {
                let word = slots[index]
                if word == NickTable.empty { return nil }
                if word != NickTable.tombstone, word >> 48 == UInt(bitPattern: hash) >> 48 {
                    let session = NickTable.session(word)
                    if key(of: session) == skeleton { return session }
                }
                index = (index + 1) & (capacity - 1)
            }
        }
    }

    /// Enters `session` under `skeleton` (the skeleton of its nick, which must already be
    /// set), replacing the session that held it.
    func insert(_ session: ChatSession, skeleton: String) {
        if let holder = self[skeleton] {
            if holder === session { return }
            _ = remove(holder, skeleton: skeleton)
        }
        if (used + 1) * 4 > capacity * 3 {
            rebuild(capacity: (count + 1) * 4 > capacity * 3 / 2 ? capacity * 2 : capacity)
        }
        place(session, hash: NickTable.hash(skeleton))
        count += 1
    }

    /// Takes `session` out, looking for it under `skeleton` (the skeleton it was entered
    /// under); whether it was there.
    func remove(_ session: ChatSession, skeleton: String) -> Bool {
        let address = UInt(bitPattern: Unmanaged.passUnretained(session).toOpaque())
        var index = home(NickTable.hash(skeleton))
        while true {
            let word = slots[index]
            if word == NickTable.empty { return false }
            if word != NickTable.tombstone, word & NickTable.addressMask == address {
                slots[index] = NickTable.tombstone
                count -= 1
                release(word)
                return true
            }
            index = (index + 1) & (capacity - 1)
        }
    }

    /// Every session in the table, in no particular order.
    package var values: [ChatSession] {
        var sessions: [ChatSession] = []
        sessions.reserveCapacity(count)
        for index in 0..<capacity {
            let word = slots[index]
            if word != NickTable.empty && word != NickTable.tombstone { sessions.append(NickTable.session(word)) }
        }
        return sessions
    }

    /// The skeletons of every session's nick, in no particular order.
    package var keys: [String] { values.map { key(of: $0) } }

    // MARK: Helpers

    /// The key a session is entered under: the (display) skeleton of its nick.
    private func key(of session: ChatSession) -> String {
        display ? Names.displaySkeleton(session.nick) : Names.skeleton(session.nick)
    }

    private static func hash(_ skeleton: String) -> Int {
        var hasher = Hasher()
        hasher.combine(skeleton)
        return hasher.finalize()
    }

    /// The first slot of a key's probe: its hash rotated left by 16 (the fingerprint's bits
    /// lowest), within the capacity.
    private func home(_ hash: Int) -> Int {
        let bits = UInt(bitPattern: hash)
        return Int(truncatingIfNeeded: (bits >> 48 | bits << 16) & UInt(capacity - 1))
    }

    private static func session(_ word: UInt) -> ChatSession {
        Unmanaged<ChatSession>.fromOpaque(UnsafeRawPointer(bitPattern: word & addressMask)!).takeUnretainedValue()
    }

    private func release(_ word: UInt) {
        guard word != NickTable.empty, word != NickTable.tombstone else { return }
        Unmanaged<ChatSession>.fromOpaque(UnsafeRawPointer(bitPattern: word & NickTable.addressMask)!).release()
    }

    /// Puts a session not yet in the table in the first free slot of its probe (no growth).
    private func place(_ session: ChatSession, hash: Int) {
        let address = UInt(bitPattern: Unmanaged.passRetained(session).toOpaque())
        precondition(address & ~NickTable.addressMask == 0, "a session's address beyond 48 bits")
        var index = home(hash)
        while slots[index] != NickTable.empty && slots[index] != NickTable.tombstone {
            index = (index + 1) & (capacity - 1)
        }
        if slots[index] == NickTable.empty { used += 1 }
        slots[index] = address | (UInt(bitPattern: hash) >> 48) << 48
    }

    /// The same sessions in `newCapacity` slots, without tombstones.
    private func rebuild(capacity newCapacity: Int) {
        let old = slots, oldCapacity = capacity
        capacity = newCapacity
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: NickTable.empty, count: capacity)
        used = 0
        for index in 0..<oldCapacity {
            let word = old[index]
            guard word != NickTable.empty && word != NickTable.tombstone else { continue }
            // The fingerprint is the hash's top 16 bits; within 65 536 slots it is all `home`
            // reads. The session's reference moves as it is (retained once, by the table).
            let hash = capacity <= 1 << 16 ? Int(bitPattern: word & ~NickTable.addressMask)
                                           : NickTable.hash(key(of: NickTable.session(word)))
            var slot = home(hash)
            while slots[slot] != NickTable.empty { slot = (slot + 1) & (capacity - 1) }
            slots[slot] = word & NickTable.addressMask | (UInt(bitPattern: hash) >> 48) << 48
            used += 1
        }
        old.deallocate()
    }
}
