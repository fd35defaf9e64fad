// A session: one person in the chat, as the core sees them. Whatever carries their bytes is a
// ChatSession subclass that overrides its transport side (the server's Connection), or a
// SessionOutput wrapped in a ForwardingSession (a test's fake); the codec of their protocol
// implements EventEncoder. The core knows nothing else of either.

/// Where a session's events go: the transport side of a session (ChatSession's open methods,
/// for a transport that is an object of its own: ForwardingSession). Loop thread only.
package protocol SessionOutput: AnyObject {
    /// Queues encoded bytes. The transport bounds the queue; a session over its limit is only
    /// marked to close (never removed from a room during a fan-out).
    func enqueue(_ buffer: SharedBuffer)
    /// The session asked to leave (quit): send what is queued, then close.
    func finish(reason: String)
    /// For the host's log lines and events: the peer's address ("" when there is none).
    var label: String { get }
    /// The session's intents may be taken again (the cluster answered what it waited for).
    func resumeInput()
}

/// Turns events into the bytes of one protocol. `session` is nil when the same bytes go to
/// every member of a room who speaks this protocol (a fan-out renders once per codec, not
/// once per member); nil as a result means the event has no form in this protocol.
package protocol EventEncoder: AnyObject {
    func encode(_ event: ChatEvent, for session: ChatSession?) -> SharedBuffer?
    /// Whether the sender of a private message gets it back (the line protocol shows
    /// `<me -> them> text`; IRC does not echo).
    var echoesPrivateMessages: Bool { get }
    /// Whether joining a room is followed by the list of its people (IRC's NAMES after JOIN),
    /// once the join is done (in a cluster, after Redis answered).
    var listsPeopleOnJoin: Bool { get }
}

extension SessionOutput {
    package var label: String { "" }
}

extension EventEncoder {
    package var echoesPrivateMessages: Bool { true }
    package var listsPeopleOnJoin: Bool { false }
}

/// A protocol's encoder as its sessions hold it: one reference (8 bytes) shared by all of them,
/// rather than the encoder's existential (16) in each (issue 19, memory per idle connection).
/// The core makes one per encoder it registers (ChatCore.sharedEncoder(slot:)).
package final class SharedEncoder {
    package let encoder: any EventEncoder
    package init(_ encoder: any EventEncoder) { self.encoder = encoder }
}

/// One person in the chat: the core's record of a session, and the base class of whatever
/// carries its bytes (issue 19, memory per idle connection: one object per connection, not a
/// session and a transport record pointing at each other). The transport overrides the four
/// methods of its side (`enqueue`, `finish`, `label`, `resumeInput`); the server's `Connection`
/// is a subclass, a test's fake output is wrapped in a `ForwardingSession`. Everything else is
/// final. `open` (hence public) only because a `package` class cannot be subclassed in another
/// module of the package. Users of `import TCPChat` see the name (re-exported), with no public
/// member and no initializer they can call.
open class ChatSession: SessionOutput {
    /// A room the session is in, and its index in the room's member list. Not retained: the
    /// room holds its members, and stays in the core as long as it has any.
    package struct Membership {
        package unowned let room: Room
        package internal(set) var index: Int
    }

    // Unchecked exclusivity (nick, isRegistered, the memberships): read for every line
    // (ChatCore.sayPlain), loop thread only, never accessed reentrantly (see ChatCore's batch
    // state).
    //
    // Stored properties in an order that packs them (issue 19, memory per idle connection):
    // 64 bytes with the object's header, which the subclass's fields follow (Connection: one
    // record of 160 bytes, MemoryTests). The label is the transport's, not a copy here; the
    // encoder is shared (SharedEncoder); the slot is 16 bits; no announcement serial
    // (ChatCore.heard); the first room's membership is inline, so that a session in one room
    // (the line protocol's rule) has no memberships array of its own.
    @exclusivity(unchecked) package final internal(set) var nick: String
    /// The encoder of its protocol, shared. A var: a connection's protocol is known only from
    /// its first line (ChatServer.decideProtocol, `speak(shared:slot:)`).
    private final var shared: SharedEncoder
    /// The host's id of the connection (HostEvent.id); 0 when the front gives none.
    package final var id: UInt64 = 0
    /// The rooms the session is in, in one word: 0 for none; its one room's address (not
    /// retained: the room holds its members, and stays in the core as long as it has any),
    /// with its index in the room's member list in `firstIndex`; or, in two rooms or more, the
    /// address of a `MoreRooms` (retained) with the low bit set, which holds every membership
    /// in the order joined. One word rather than a room and an array (issue 19).
    @exclusivity(unchecked) private final var roomsWord: UInt = 0
    @exclusivity(unchecked) private final var firstIndex: Int32 = 0
    private final var slot: UInt16
    /// Registered (has a nick and was welcomed), and not yet detached.
    @exclusivity(unchecked) package final internal(set) var isRegistered = false
    /// A question of this session waits for the cluster's answer (who, rooms, nick, a private
    /// line to another server, a join's history): its next intents wait too, so that replies
    /// come in the order asked. Unchecked exclusivity: the transport reads it for every line
    /// (Connection.mustWait, through `isWaitingForCluster`), loop thread only.
    @exclusivity(unchecked) package final internal(set) var waitingForCluster = false

    /// A session of the encoder of `slot` in a core (ChatCore.sharedEncoder(slot:)): what a
    /// transport's initializer calls.
    package init(shared: SharedEncoder, slot: Int) {
        self.shared = shared
        self.slot = UInt16(slot)
        nick = ""
    }

    /// From now on the session speaks the protocol of `slot` (a connection whose first line
    /// told its protocol). Only before it registered, or after it was detached (the core holds
    /// nothing of it then): it starts again with no nick, as a new session would.
    package final func speak(shared: SharedEncoder, slot: Int) {
        precondition(!isRegistered && roomsWord == 0, "a session changes its protocol only while it is in no room")
        self.shared = shared
        self.slot = UInt16(slot)
        nick = ""
    }

    // MARK: The transport's side (overridden by the transport; SessionOutput)

    /// Queues encoded bytes. The transport bounds the queue; a session over its limit is only
    /// marked to close (never removed from a room during a fan-out). The base drops them.
    open func enqueue(_ buffer: SharedBuffer) {}
    /// The session asked to leave (quit): send what is queued, then close.
    open func finish(reason: String) {}
    /// For the host's log lines and events: the peer's address ("" when there is none).
    open var label: String { "" }
    /// The session's intents may be taken again (the cluster answered what it waited for).
    open func resumeInput() {}

    /// The encoder of the session's protocol.
    package var encoder: any EventEncoder { shared.encoder }

    /// `waitingForCluster`, for other modules: read here, it costs no run-time exclusivity
    /// check (the attribute is honoured only in this module; read directly from the transport,
    /// for every line, it cost ~76 instructions).
    package var isWaitingForCluster: Bool { waitingForCluster }

    /// The encoder's number in the core (ChatCore.register(encoder:)).
    package var encoderSlot: Int { Int(slot) }

    /// The memberships of a session in two rooms or more (roomsWord).
    private final class MoreRooms {
        var memberships: [Membership]
        init(_ memberships: [Membership]) { self.memberships = memberships }
    }

    deinit {
        if roomsWord & 1 != 0 { Unmanaged<MoreRooms>.fromOpaque(UnsafeRawPointer(bitPattern: roomsWord & ~1).unsafelyUnwrapped).release() }
    }

    @inline(__always) private static func word(of room: Room) -> UInt {
        UInt(bitPattern: Unmanaged.passUnretained(room).toOpaque())
    }

    /// Its MoreRooms; only when roomsWord's low bit is set.
    private final var moreRooms: MoreRooms {
        Unmanaged<MoreRooms>.fromOpaque(UnsafeRawPointer(bitPattern: roomsWord & ~1).unsafelyUnwrapped).takeUnretainedValue()
    }

    /// The rooms the session is in and its index in each, in the order joined.
    package final var memberships: [Membership] {
        let word = roomsWord
        if word == 0 { return [] }
        if word & 1 != 0 { return moreRooms.memberships }
        return [Membership(room: room.unsafelyUnwrapped, index: Int(firstIndex))]
    }

    /// The rooms the session is in, in the order joined.
    package final var rooms: [Room] {
        let word = roomsWord
        if word == 0 { return [] }
        if word & 1 != 0 { return moreRooms.memberships.map(\.room) }
        return [room.unsafelyUnwrapped]
    }

    /// The one room of a protocol with one room at a time (the first joined).
    package final var room: Room? {
        let word = roomsWord
        if word == 0 { return nil }
        if word & 1 != 0 { return moreRooms.memberships[0].room }
        return Unmanaged<Room>.fromOpaque(UnsafeRawPointer(bitPattern: word).unsafelyUnwrapped).takeUnretainedValue()
    }

    package final func isMember(of room: Room) -> Bool {
        let word = roomsWord
        if word & 1 != 0 { return moreRooms.memberships.contains { $0.room === room } }
        return word != 0 && word == ChatSession.word(of: room)
    }

    // MARK: Memberships (Room.add / Room.remove)

    final func addMembership(in room: Room, at index: Int) {
        let word = roomsWord
        if word == 0 {
            roomsWord = ChatSession.word(of: room)
            firstIndex = Int32(index)
        } else if word & 1 == 0 {
            let more = MoreRooms([Membership(room: self.room.unsafelyUnwrapped, index: Int(firstIndex)),
                                  Membership(room: room, index: index)])
            roomsWord = UInt(bitPattern: Unmanaged.passRetained(more).toOpaque()) | 1
        } else {
            moreRooms.memberships.append(Membership(room: room, index: index))
        }
    }

    /// Forgets the membership in `room`; its index in the room's member list, or nil when the
    /// session was not in it. The next room joined becomes the first.
    final func removeMembership(in room: Room) -> Int? {
        let word = roomsWord
        if word & 1 == 0 {
            guard word != 0 && word == ChatSession.word(of: room) else { return nil }
            roomsWord = 0
            return Int(firstIndex)
        }
        let more = moreRooms
        guard let position = more.memberships.firstIndex(where: { $0.room === room }) else { return nil }
        let index = more.memberships.remove(at: position).index
        if more.memberships.count == 1 {
            let last = more.memberships[0]
            roomsWord = ChatSession.word(of: last.room)
            firstIndex = Int32(last.index)
            Unmanaged.passUnretained(more).release()
        }
        return index
    }

    /// The session is now at `index` in `room`'s member list.
    final func setMembershipIndex(_ index: Int, in room: Room) {
        let word = roomsWord
        if word & 1 == 0 {
            if word != 0 && word == ChatSession.word(of: room) { firstIndex = Int32(index) }
        } else if let position = moreRooms.memberships.firstIndex(where: { $0.room === room }) {
            moreRooms.memberships[position].index = index
        }
    }

    /// Encodes `event` for this session alone and queues it.
    package func send(_ event: ChatEvent) {
        if let buffer = encoder.encode(event, for: self) { enqueue(buffer) }
    }
}

/// A session whose transport is a separate SessionOutput object (tests, a fake front): it
/// forwards the transport's side to it. The server's connections are ChatSession subclasses
/// themselves (Connection) and need no second object.
package final class ForwardingSession: ChatSession {
    package let target: any SessionOutput

    package init(shared: SharedEncoder, slot: Int, output: any SessionOutput) {
        target = output
        super.init(shared: shared, slot: slot)
    }

    /// A session with an encoder of its own: one allocation more.
    package convenience init(encoder: any EventEncoder, slot: Int, output: any SessionOutput) {
        self.init(shared: SharedEncoder(encoder), slot: slot, output: output)
    }

    override package func enqueue(_ buffer: SharedBuffer) { target.enqueue(buffer) }
    override package func finish(reason: String) { target.finish(reason: reason) }
    override package var label: String { target.label }
    override package func resumeInput() { target.resumeInput() }
}
