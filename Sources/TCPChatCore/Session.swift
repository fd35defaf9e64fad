// A session: one person in the chat, as the core sees them. Whatever carries their bytes (a
// TCP connection, a TLS one, a test's fake) implements SessionOutput; the codec of their
// protocol implements EventEncoder. The core knows nothing else of either.

/// Where a session's events go: the transport side of a session. Loop thread only.
package protocol SessionOutput: AnyObject {
    /// Queues encoded bytes. The transport bounds the queue; a session over its limit is only
    /// marked to close (never removed from a room during a fan-out).
    func enqueue(_ buffer: SharedBuffer)
    /// The session asked to leave (quit): send what is queued, then close.
    func finish(reason: String)
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

extension EventEncoder {
    package var echoesPrivateMessages: Bool { true }
    package var listsPeopleOnJoin: Bool { false }
}

package final class ChatSession {
    /// A room the session is in, and its index in the room's member list. Not retained: the
    /// room holds its members, and stays in the core as long as it has any.
    package struct Membership {
        package unowned let room: Room
        var index: Int
    }

    // Unchecked exclusivity (nick, isRegistered): read for every line (ChatCore.sayPlain), loop
    // thread only, never accessed reentrantly (see ChatCore's batch state).
    @exclusivity(unchecked) package internal(set) var nick: String
    package let encoder: any EventEncoder
    /// The encoder's number in the core (ChatCore.register(encoder:)).
    package let encoderSlot: Int
    /// The session's transport. Held strongly, and a `let`, so that a fan-out reads it
    /// without a retain per member (the hottest loop of the server); the transport breaks the
    /// cycle when its connection closes (it lets go of the session).
    package let output: any SessionOutput
    @exclusivity(unchecked) package internal(set) var memberships: [Membership] = []
    /// Registered (has a nick and was welcomed), and not yet detached.
    @exclusivity(unchecked) package internal(set) var isRegistered = false
    /// A question of this session waits for the cluster's answer (who, rooms, nick, a private
    /// line to another server, a join's history): its next intents wait too, so that replies
    /// come in the order asked.
    package internal(set) var waitingForCluster = false
    /// The last multi-room announcement this session heard (ChatCore.fanOutOnce).
    var lastAnnouncement = 0
    /// For the host's log lines and events: the peer's address.
    package let label: String
    /// The host's id of the connection (HostEvent.id); 0 when the front gives none.
    package var id: UInt64 = 0

    package init(encoder: any EventEncoder, slot: Int, output: any SessionOutput, label: String) {
        self.encoder = encoder
        self.encoderSlot = slot
        self.output = output
        self.label = label
        nick = ""
    }

    /// The rooms the session is in, in the order joined.
    package var rooms: [Room] { memberships.map(\.room) }

    /// The one room of a protocol with one room at a time (the first joined).
    package var room: Room? { memberships.first?.room }

    package func isMember(of room: Room) -> Bool { memberships.contains { $0.room === room } }

    /// Encodes `event` for this session alone and queues it.
    package func send(_ event: ChatEvent) {
        if let buffer = encoder.encode(event, for: self) { output.enqueue(buffer) }
    }
}
