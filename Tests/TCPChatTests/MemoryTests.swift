// What an idle connection costs the server (issue 19, docs/BENCHMARKS.md "Memory per idle
// connection"): its records stay as small as the breakdown says, and the parts only a busy or
// congested connection needs are not allocated for an idle one.
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import TCPChat
@testable import TCPChatCore
import TCPChatNet

@Suite struct MemoryTests {
    /// glibc's malloc_usable_size: the bytes an allocation really holds.
    private static let usableSize: @convention(c) (UnsafeMutableRawPointer?) -> Int = {
        unsafeBitCast(dlsym(nil, "malloc_usable_size"), to: (@convention(c) (UnsafeMutableRawPointer?) -> Int).self)
    }()

    private func usable(_ object: AnyObject) -> Int {
        MemoryTests.usableSize(Unmanaged.passUnretained(object).toOpaque())
    }

    /// A class's instance size: the 32-bit field after the kind, superclass, flags and address
    /// point words of a Swift class's metadata on Linux (no Objective-C fields).
    private func instanceSize(_ type: AnyClass) -> Int {
        Int(unsafeBitCast(type, to: UnsafeRawPointer.self).load(fromByteOffset: 24, as: UInt32.self))
    }

    private func makeConnection() throws -> (Connection, Connections, EventLoop, LineCodec) {
        let loop = try EventLoop()
        let settings = ConnectionSettings(maxLineBytes: 4096, maxQueueBytes: 262_144, softQueueBytes: 65_536,
                                          softQueueMilliseconds: 10_000, linesPerSecond: 0, burstLines: 0,
                                          firstLineTimeoutSeconds: 0, idleTimeoutSeconds: 0, shutdownGraceMilliseconds: 1000)
        let connections = Connections(loop: loop, settings: settings, counters: StatisticsCounters())
        let codec = LineCodec(fallbackEncoding: .none, maxQueueBytes: 262_144)
        let connection = Connection(fd: -1, address: "127.0.0.1:54321", host: "127.0.0.1", connections: connections,
                                    shared: SharedEncoder(codec), slot: 0, maxLineBytes: 4096, softQueueBytes: 65_536,
                                    maxQueueBytes: 262_144, now: 0)
        return (connection, connections, loop, codec)
    }

    @Test func idleRecordsStaySmall() throws {
        let (connection, connections, loop, _) = try makeConnection()
        // The figures of the breakdown in docs/BENCHMARKS.md; a new stored property that makes
        // one of them grow should update the breakdown too.
        // One record per connection (a chunk of 160): the session's fields (64 bytes with the
        // header) and the transport's, its output queue (40 bytes inline) among them.
        // The instance size (what is asked of malloc) from the class's metadata, not
        // malloc_usable_size of this one object: glibc may hand out a larger free chunk than
        // the size asks (it does not split off less than 32 bytes).
        #expect(instanceSize(ChatSession.self) <= 64)
        #expect(instanceSize(Connection.self) <= 152)
        #expect(usable(connection) >= instanceSize(Connection.self))
        #expect(MemoryLayout<LineFramer>.size <= 12)
        #expect(MemoryLayout<OutputQueue>.size <= 40)
        withExtendedLifetime((connections, loop)) {}
    }

    /// The peer's address in one word: IPv4 inline, anything else kept as given; both read
    /// back exactly as the acceptor gave them (the per-address cap counts by `host` at connect
    /// and at close).
    @Test func peerAddressesReadBackAsGiven() throws {
        let loop = try EventLoop()
        let settings = ConnectionSettings(maxLineBytes: 4096, maxQueueBytes: 262_144, softQueueBytes: 65_536,
                                          softQueueMilliseconds: 10_000, linesPerSecond: 0, burstLines: 0,
                                          firstLineTimeoutSeconds: 0, idleTimeoutSeconds: 0, shutdownGraceMilliseconds: 1000)
        let connections = Connections(loop: loop, settings: settings, counters: StatisticsCounters())
        let shared = SharedEncoder(JSONCodec())
        for (address, host) in [("127.0.0.1:54321", "127.0.0.1"), ("255.255.255.255:65535", "255.255.255.255"),
                                ("0.0.0.0:0", "0.0.0.0"), ("203.0.113.77:8", "203.0.113.77"),
                                ("[::1]:40000", "::1"), ("[2001:db8::42]:1", "2001:db8::42"),
                                ("01.2.3.4:5", "01.2.3.4"), ("1.2.3:4", "1.2.3"), ("?", "?")] {
            let connection = Connection(fd: -1, address: address, host: host, connections: connections, shared: shared,
                                        slot: 0, maxLineBytes: 4096, softQueueBytes: 65_536, maxQueueBytes: 262_144, now: 0)
            #expect(connection.address == address && connection.host == host && connection.label == address)
        }
        withExtendedLifetime((connections, loop)) {}
    }

    /// A session's rooms in one word: one room inline, two or more in a side object, in the
    /// order joined; back inline when it is down to one. The room indexes follow the moves of
    /// Room.remove (the last member takes the leaver's place).
    @Test func membershipsInOneWord() {
        let codec = JSONCodec()
        let rooms = (0..<4).map { Room(name: "#r\($0)", historyLength: 0) }
        let people = (0..<3).map { _ in ForwardingSession(encoder: codec, slot: 0, output: RecordingOutput()) }
        weak var gone: ChatSession?
        do {
            let visitor = ForwardingSession(encoder: codec, slot: 0, output: RecordingOutput())
            gone = visitor
            #expect(visitor.room == nil && visitor.rooms.isEmpty && !visitor.isMember(of: rooms[0]))
            for person in people { rooms[0].add(person) }
            rooms[0].add(visitor)
            #expect(visitor.room === rooms[0] && visitor.isMember(of: rooms[0]) && !visitor.isMember(of: rooms[1]))
            for room in rooms.dropFirst() { room.add(visitor) }
            #expect(visitor.rooms.map(\.name) == ["#r0", "#r1", "#r2", "#r3"])
            #expect(visitor.memberships.map(\.index) == [3, 0, 0, 0])
            rooms[0].remove(people[0])  // the visitor, last, takes index 0
            #expect(visitor.memberships.first?.index == 0 && rooms[0].members[0] === visitor)
            rooms[0].remove(visitor)  // the next room joined becomes the first
            #expect(visitor.room === rooms[1] && !visitor.isMember(of: rooms[0]))
            #expect(rooms[0].members.count == 2 && rooms[0].members.allSatisfy { $0 !== visitor })
            rooms[2].remove(visitor)
            rooms[1].remove(visitor)
            #expect(visitor.rooms.map(\.name) == ["#r3"] && visitor.memberships.map(\.index) == [0])
            rooms[3].add(people[1])
            rooms[3].remove(visitor)  // people[1] moves to index 0
            #expect(visitor.rooms.isEmpty && people[1].memberships.map(\.index) == [1, 0])
            rooms[1].add(visitor)
            rooms[2].add(visitor)  // a side object again, let go with the session
        }
        for room in rooms { for member in room.members where member !== people[0] && member !== people[1] && member !== people[2] { room.remove(member) } }
        #expect(gone == nil)
        #expect(people[1].rooms.map(\.name) == ["#r0", "#r3"])
    }

    /// A big room's member list grows by a quarter, not doubled: 8 bytes a member.
    @Test func bigRoomsGrowByAQuarter() {
        let codec = JSONCodec()
        let room = Room(name: "#big", historyLength: 0)
        var sessions: [ChatSession] = []
        for _ in 0..<5_000 {
            let session = ForwardingSession(encoder: codec, slot: 0, output: RecordingOutput())
            sessions.append(session)
            room.add(session)
        }
        #expect(room.members.count == 5_000)
        #expect(room.members.capacity <= 5_000 * 5 / 4 + 64)
        for session in sessions { room.remove(session) }
        #expect(room.isEmpty)
    }

    @Test func queueOfOneAllocatesNothing() throws {
        var pair: [Int32] = [-1, -1]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let iovecs = UnsafeMutablePointer<iovec>.allocate(capacity: 1024)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { iovecs.deallocate(); scratch.deallocate() }
        var queue = OutputQueue()
        defer { queue.discard() }
        // One entry at a time (an idle connection's notices): the inline slot, no storage.
        for text in ["one\n", "two\n"] {
            queue.append(SharedBuffer(text))
            #expect(!queue.hasSlotStorage)
            guard case .drained = queue.flush(to: pair[0], iovecs: iovecs, scratch: scratch) else {
                Issue.record("a flush of a few bytes to an empty socket drains")
                return
            }
            #expect(queue.isEmpty && queue.queuedBytes == 0)
        }
        // Two at a time: two slots, given back when drained; in order on the wire.
        queue.append(SharedBuffer("three\n"))
        queue.append(SharedBuffer("four\n"))
        #expect(queue.hasSlotStorage)
        guard case .drained = queue.flush(to: pair[0], iovecs: iovecs, scratch: scratch) else {
            Issue.record("a flush of a few bytes to an empty socket drains")
            return
        }
        #expect(!queue.hasSlotStorage && queue.isEmpty)
        // More at a time (a busy receiver): its slots are kept for the next iteration.
        for index in 0..<5 { queue.append(SharedBuffer("line \(index)\n")) }
        #expect(queue.queuedBytes == 5 * (7 + OutputQueue.entryCost))
        guard case .drained = queue.flush(to: pair[0], iovecs: iovecs, scratch: scratch) else {
            Issue.record("a flush of a few bytes to an empty socket drains")
            return
        }
        #expect(queue.hasSlotStorage && queue.isEmpty)
        var received = [UInt8](repeating: 0, count: 256)
        let count = read(pair[1], &received, received.count)
        #expect(String(decoding: received.prefix(max(count, 0)), as: UTF8.self)
                == "one\ntwo\nthree\nfour\nline 0\nline 1\nline 2\nline 3\nline 4\n")
    }

    /// Connection ids to descriptors without a dictionary entry per connection: the same
    /// answers as a dictionary through churn, a long-lived connection held across many windows,
    /// and ids that closed.
    @Test func connectionIDsAnswerAsADictionaryWould() {
        var ids = ConnectionIDs()
        var reference: [UInt64: Int32] = [:]
        var next: UInt64 = 1
        var generator = SystemRandomNumberGenerator()
        func check() {
            #expect(ids.count == reference.count)
            for id in 1..<next where ids.fd(of: id) != reference[id] {
                Issue.record("id \(id): \(String(describing: ids.fd(of: id))), expected \(String(describing: reference[id]))")
                return
            }
        }
        // One that stays for the whole run, and one that leaves at the end.
        for _ in 0..<2 {
            ids.add(next, fd: Int32(next))
            reference[next] = Int32(next)
            next += 1
        }
        for round in 0..<2_000 {
            let fd = Int32(truncatingIfNeeded: next % 20_000)
            ids.add(next, fd: fd)
            reference[next] = fd
            next += 2  // an id that was never added (refused) leaves a hole too
            if round % 3 != 0, let victim = reference.keys.filter({ $0 > 2 }).randomElement(using: &generator) {
                ids.remove(victim)
                reference[victim] = nil
            }
            if round % 97 == 0 { check() }
        }
        ids.remove(2)
        reference[2] = nil
        ids.remove(999_999)  // never added: nothing happens
        check()
        #expect(ids.fd(of: 1) == 1)
        for id in reference.keys where id != 1 { ids.remove(id) }
        #expect(ids.count == 1 && ids.fd(of: 1) == 1)
    }

    @Test func coldPartOnlyWhenNeeded() throws {
        let (connection, connections, loop, _) = try makeConnection()
        // What Connections does to every connection, idle or not, leaves the cold part unmade.
        connection.bucket = nil
        connection.pendingInput = []
        connection.drainDeadline = nil
        connection.resumeTimer = nil
        connection.unheldLines = 0
        connection.onProbation = false
        connection.pressSerial = -1
        connection.heldBy = 0
        #expect(connection.cold == nil)
        #expect(connection.pressSerial == -1 && connection.heldBy == 0)
        #expect(connection.holding.isEmpty && connection.ackedAtPeriodStart == -1 && connection.progressAt == .min)
        // Congestion state makes it, and reads back what was set.
        connection.holding.append(connection)
        connection.ackedAtPeriodStart = 42
        connection.heldBy += 1
        connection.pressSerial = 7
        #expect(connection.cold != nil)
        #expect(connection.heldBy == 1 && connection.pressSerial == 7)
        #expect(connection.holding.count == 1 && connection.ackedAtPeriodStart == 42)
        connection.holding = []  // the cycle the test made
        withExtendedLifetime((connections, loop)) {}
    }
}

/// The core's nick table (NickTable, a reference a slot): the same answers as the dictionary
/// it replaced through growth, churn, tombstones and renames, and the sessions let go.
@Suite struct NickTableTests {
    private func session(_ nick: String, codec: JSONCodec) -> ChatSession {
        let session = ForwardingSession(encoder: codec, slot: 0, output: RecordingOutput())
        session.nick = nick
        return session
    }

    @Test func answersAsADictionaryWould() {
        let codec = JSONCodec()
        let table = NickTable()
        var reference: [String: ChatSession] = [:]
        var generator = SystemRandomNumberGenerator()
        func check() {
            #expect(table.count == reference.count)
            for (skeleton, session) in reference where table[skeleton] !== session {
                Issue.record("\(skeleton): not found")
                return
            }
            #expect(Set(table.values.map(ObjectIdentifier.init)) == Set(reference.values.map(ObjectIdentifier.init)))
            #expect(Set(table.keys) == Set(reference.keys))
        }
        for round in 0..<3_000 {
            let nick = "user\(round)"
            let person = session(nick, codec: codec)
            let skeleton = Names.skeleton(nick)
            table.insert(person, skeleton: skeleton)
            reference[skeleton] = person
            if round % 3 != 0, let victim = reference.randomElement(using: &generator) {
                #expect(table.remove(victim.value, skeleton: victim.key))
                reference[victim.key] = nil
                #expect(table[victim.key] == nil)
                #expect(!table.remove(victim.value, skeleton: victim.key))
            }
            if round % 499 == 0 { check() }
        }
        check()
        // Lookalikes share a skeleton: one holds it; a nick that is not in the table is not found.
        let rita = session("rita", codec: codec)
        table.insert(rita, skeleton: Names.skeleton("rita"))
        #expect(table[Names.skeleton("r\u{0456}ta")] === rita)
        #expect(table[Names.skeleton("nobody")] == nil)
        // Renamed: out under the old skeleton (the nick already changed), in under the new.
        rita.nick = "paul"
        #expect(table.remove(rita, skeleton: Names.skeleton("rita")))
        table.insert(rita, skeleton: Names.skeleton("paul"))
        #expect(table[Names.skeleton("rita")] == nil && table[Names.skeleton("paul")] === rita)
        // The same session entered twice is there once.
        table.insert(rita, skeleton: Names.skeleton("paul"))
        #expect(table.count == reference.count + 1)
    }

    /// Past 65 536 slots (49 152 nicks) a rebuild hashes every key again rather than placing
    /// by the fingerprint: every session is still found, and under its own key only.
    @Test func findsEveryoneBeyondTheFingerprintsReach() {
        let codec = JSONCodec()
        let table = NickTable()
        var people: [(String, ChatSession)] = []
        for index in 0..<50_000 {
            let nick = "n\(index)x"
            let person = session(nick, codec: codec)
            let skeleton = Names.skeleton(nick)
            table.insert(person, skeleton: skeleton)
            people.append((skeleton, person))
        }
        #expect(table.count == 50_000)
        var missing = 0
        for (skeleton, person) in people where table[skeleton] !== person { missing += 1 }
        #expect(missing == 0)
        for (skeleton, person) in people.prefix(25_000) { #expect(table.remove(person, skeleton: skeleton)) }
        #expect(table.count == 25_000 && table[people[0].0] == nil && table[people[49_999].0] === people[49_999].1)
    }

    /// The core's lookalikes: the same table keyed by display skeleton. A guest whose number
    /// has a 0 is in it (its display skeleton differs from its skeleton), a nick with a
    /// capital I too; it is found under its display skeleton only, and taken out.
    @Test func lookalikesByDisplaySkeleton() {
        let codec = JSONCodec()
        #expect(Names.displaySkeleton("guest10") != Names.skeleton("guest10"))
        #expect(Names.displaySkeleton("guest12") == Names.skeleton("guest12"))
        let table = NickTable(display: true)
        var entered: [(String, ChatSession)] = []
        for nick in ["guest10", "guest2040", "BiII", "guest100"] {
            let person = session(nick, codec: codec)
            let shown = Names.displaySkeleton(nick)
            #expect(shown != Names.skeleton(nick))
            table.insert(person, skeleton: shown)
            entered.append((shown, person))
        }
        #expect(table.count == 4)
        for (shown, person) in entered { #expect(table[shown] === person) }
        #expect(table[Names.skeleton("guest10")] == nil)
        #expect(Set(table.keys) == Set(entered.map(\.0)))
        #expect(table.remove(entered[0].1, skeleton: entered[0].0) && table[entered[0].0] == nil && table.count == 3)
    }

    @Test func letsGoOfItsSessions() {
        let codec = JSONCodec()
        weak var gone: ChatSession?
        do {
            let table = NickTable()
            let person = session("solo", codec: codec)
            gone = person
            table.insert(person, skeleton: Names.skeleton("solo"))
            let other = session("other", codec: codec)
            table.insert(other, skeleton: Names.skeleton("other"))
            #expect(table.remove(other, skeleton: Names.skeleton("other")))
        }
        #expect(gone == nil)
    }
}

/// A closed connection is freed: the connection is its session, so no cycle between the two
/// remains to break, and nothing else the server keeps (its tables, the rooms, the nick table,
/// the detection queue) holds it once it has closed.
@Suite struct ConnectionLifetimeTests {
    private final class Watch: @unchecked Sendable {
        weak var session: ChatSession?
        var taken = false
    }

    @Test func closedConnectionsAreFreed() throws {
        let running = try RunningServer()
        let alice = try running.join()
        let bob = try running.join()
        let watch = Watch()
        // Connection ids are handed out in order from 1: alice's is 1.
        _ = running.server.onLoop { server -> Result<Void, HostControlError> in
            watch.session = server.session(ofConnection: 1)
            watch.taken = watch.session != nil
            return .success(())
        }
        #expect(watch.taken)
        alice.close()
        _ = try bob.waitFor { $0.contains("left") }
        // The close completes on the loop thread; ask until it has (bounded only so that a
        // broken build does not hang).
        var freed = false
        for _ in 0..<1000 {
            freed = (try? running.server.onLoop { _ -> Result<Bool, HostControlError> in .success(watch.session == nil) }.get()) == true
            if freed { break }
            usleep(1000)
        }
        #expect(freed, "a closed connection is still alive: something keeps a reference to it")
        withExtendedLifetime(bob) {}
    }
}
