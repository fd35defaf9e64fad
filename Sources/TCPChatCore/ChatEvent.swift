// What the chat core tells sessions: events with structure, never wire text. A codec
// (LineCodec, an IRC codec, a test's JSON codec) turns each into bytes for its protocol.
//
// Events about a room (said, acted, joined, left, renamed, topic) are fanned out to its
// members; the rest go to one session. `ChatEvent.record` is the versioned, protocol-neutral
// text form that room history in Redis and the cluster's messages carry (EventRecord.swift).

/// Why someone is no longer in a room.
package enum LeaveReason: Equatable, Sendable {
    /// They left the server: `quit`, `quit: THEIR REASON`, `connection closed`,
    /// `connection reset by peer`, `server lost`, `server shutting down` ...
    case disconnected(String)
    /// They left this room for `room` (a protocol with one room at a time).
    case moved(to: String)
    /// They left this room and stay on the server (IRC's PART), with their reason, if any.
    case parted(String?)
}

/// A room and how many people are in it (the answer to "list rooms").
public struct RoomCount: Equatable, Sendable {
    public var name: String
    public var count: Int

    public init(name: String, count: Int) {
        self.name = name
        self.count = count
    }
}

/// Who uses a nick that a new one resembles.
package enum NickHolder: Equatable, Sendable {
    /// Someone on this server.
    case here
    /// The host speaks as it (a bot nick).
    case bot
    /// Someone on another server of the cluster.
    case otherServer
}

/// Why an intent was refused. Typed, so that each protocol words it its own way.
package enum ChatError: Equatable, Sendable {
    /// The nick breaks the rules of `Names` (the problem says which).
    case nickInvalid(String)
    case nickTaken(String)
    /// The nick (first) looks like one in use (second): their UTS #39 skeletons are equal
    /// (Names.swift). `holder`: who uses the one it resembles.
    case nickResembles(String, like: String, holder: NickHolder)
    /// Nobody has this nick; `linkDown`: not on this server, and the cluster cannot be asked.
    case noSuchNick(String, linkDown: Bool)
    /// The room name breaks the rules of `Names`.
    case roomInvalid(String)
    /// The room name (first) looks like an existing room's (second): equal skeletons.
    case roomResembles(String, like: String)
    case alreadyInRoom(String)
    case notInRoom(String)
    /// Only the room's operators may do that.
    case notOperator(String)
    /// `nick` is not in `room` (a kick).
    case notInRoomThemselves(nick: String, room: String)
    /// Refused at the door: the server is at `--max-clients`.
    case serverFull(Int)
    /// Refused at the door: `--max-per-ip` connections from this address already.
    case tooManyFromAddress(Int)
    /// Refused at the door: out of file descriptors.
    case outOfDescriptors
    /// Refused at the door: the server is stopping.
    case shuttingDown
    /// A line longer than the limit (bytes) was discarded.
    case lineTooLong(Int)
    /// Disconnected: no line within this many seconds of connecting.
    case firstLineTimeout(Int)
    /// Disconnected: nothing received for this many seconds.
    case idleTimeout(Int)
    /// The host's filter refused what was asked (or, at the door, the connection), saying why.
    case refused(String)
    /// The host kicked the session, saying why.
    case kicked(String)
    /// A command the protocol does not know (the codec's wording of the problem).
    case unknownCommand(String)
    /// An account command (register, identify, ghost) was refused (AccountProblem says why).
    case account(AccountProblem)
}

/// Why an account command was refused. Each codec words it (docs/PROTOCOL.md lists the line
/// protocol's sentences).
package enum AccountProblem: Error, Equatable, Sendable {
    /// The server keeps no accounts (no `--accounts` and no cluster).
    case disabled
    /// A password over a plaintext connection from a non-local peer, and the server does not
    /// allow it (`--allow-plaintext-passwords`). `tlsPort`: where TLS listens, if it does.
    case plaintext(tlsPort: Int?)
    /// The password breaks the rules (the text says which).
    case passwordInvalid(String)
    /// Guest nicks are handed out by the server and cannot be registered.
    case guestNick(String)
    /// The nick (or one that looks like it: `registered`) is an account already.
    case alreadyRegistered(nick: String, registered: String)
    /// No account owns this nick.
    case notRegistered(String)
    /// The password is not that of the account `nick`.
    case wrongPassword(String)
    /// Too many wrong passwords from this address: the next attempt is accepted in `seconds`.
    case tooManyAttempts(seconds: Int)
    /// Too many accounts registered from this address: the next in `seconds`.
    case tooManyRegistrations(seconds: Int)
    /// The session's previous account command is still being answered.
    case attemptPending
    /// Another session from the same address has a password being checked (one at a time
    /// per address).
    case addressPending
    /// So many attempts at the account `nick` wait their turn that this one would wait more
    /// than a minute: the next is accepted in `seconds`.
    case accountPaced(nick: String, seconds: Int)
    /// The server's account queue is full: try again in a moment.
    case busy
    /// The account could not be saved: the server's disk is full.
    case diskFull
    /// The account store failed otherwise (the log says how).
    case storageFailed
    /// In a cluster: the server is cut off from Redis, where the accounts are.
    case cutOff
    /// The session is identified to this account already.
    case alreadyIdentified(String)
    /// Identify NICK: another session holds the nick (ghost it).
    case nickInUse(String)
    /// Ghost NICK: nobody holds it (or a nick that looks like it).
    case nobodyHolds(String)
    /// Ghost NICK: it is the sender who holds it.
    case ghostSelf(String)
}

package enum ChatEvent: Equatable, Sendable {
    // MARK: Room events (fanned out; recorded in history when chat)
    case said(room: String, nick: String, text: String)
    case acted(room: String, nick: String, text: String)
    case joined(room: String, nick: String)
    case left(room: String, nick: String, reason: LeaveReason)
    /// `room`: the room that hears of it (nil for the private copy of a rename).
    case renamed(room: String?, old: String, new: String)
    case topic(room: String, nick: String?, text: String)
    case privateMessage(from: String, to: String, text: String)
    /// `nick` was put out of `room` by the operator `by`.
    case kicked(room: String, nick: String, by: String, reason: String)
    /// An operator changed the room's rules (IRC mode text: `+k key`, `-m`, `+o bob`).
    case modeChanged(room: String, nick: String, change: String)
    /// A notice said to a room by a person (IRC's NOTICE).
    case noticed(room: String, nick: String, text: String)
    /// A notice from one person to another (IRC's NOTICE to a nick).
    case privateNotice(from: String, to: String, text: String)
    /// A notice from the server or its host (`tcpchat_server_broadcast`).
    case notice(String)
    /// A line in the line protocol's wire form, from a cluster server older than the event
    /// records (see EventRecord.swift); shown as it is.
    case legacyLine(String)

    // MARK: Events for one session
    case welcome(nick: String)
    /// You entered `room`, where `others` people already are (on this server when
    /// `inCluster`; "names" lists everyone).
    case youJoined(room: String, others: Int, inCluster: Bool)
    /// Your nick is now `nick`; `because` says why when you did not ask for it (a cluster took
    /// your guest nick).
    case youRenamed(nick: String, because: String?)
    case alreadyNamed(String)
    case names(room: String, nicks: [String])
    case roomList([RoomCount])
    /// The newest history of `room`, oldest first (said and acted events).
    case history(room: String, events: [ChatEvent])
    case goodbye(nick: String)
    case serverShuttingDown
    /// The cluster link went down (chat reaches this server only) or came back.
    case clusterLink(up: Bool)

    // MARK: Accounts (one session)
    /// The session's nick `nick` is now an account, and the session is identified to it.
    case accountRegistered(nick: String)
    /// The session is identified to the account `account` (its nick).
    case identified(account: String)
    /// The session's nick `nick` is (or looks like) the registered nick `account`: identify
    /// within `graceSeconds`, or be renamed to a guest.
    case nickOwned(nick: String, account: String, graceSeconds: Int)
    /// The session that held `nick` was disconnected (ghost), at the sender's request.
    case ghosted(nick: String)

    case error(ChatError)
}
