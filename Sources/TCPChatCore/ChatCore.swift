// The chat core: sessions, nicks, rooms, history, topics and the rules, with no socket and no
// wire format. Intents come in from sessions (through their codec), events go out to
// sessions (through their encoder, and their transport's enqueue). The cluster link, when there is one, is a
// ClusterBackend (ChatCore+Cluster.swift).
//
// Threading: the core belongs to its server's loop thread, like everything it touches.

#if canImport(Glibc)
import Glibc
#endif

package struct CoreSettings {
    /// Lines of history a room keeps and replays to people who join.
    package var historyLength = 20
    /// Rooms with more members than this do not announce joins, leaves and nick changes; 0 =
    /// always announce.
    package var announceLimit = 1000
    /// Rooms that exist even when empty (and keep their history).
    package var permanentRooms: Set<String> = ["#lobby"]
    package var log: ((LogLevel, String) -> Void)?
    /// Every chat line said by a session of this server (not relayed from other servers).
    package var onMessage: ((ChatMessage) -> Void)?
    /// The host's events (HostEvent.swift): what sessions of this server did, as it happened.
    package var onEvent: ((HostEvent) -> Void)?
    /// The host's filter: called before the core acts on what a session asked.
    package var filter: ((HostEvent) -> FilterVerdict)?

    package init() {}
}

package final class ChatCore {
    package let settings: CoreSettings
    /// The registered sessions, by the skeleton of their nick (Names.skeleton): one table
    /// serves uniqueness by key (equal keys have equal skeletons) and refusing lookalikes. Look
    /// a nick up with `person(named:)`, which also checks the key. A reference a slot (see
    /// NickTable): a session's nick is set before it is entered, and it is taken out under its
    /// old nick before the nick changes.
    package let nicks = NickTable()
    package private(set) var rooms: [String: Room] = [:]
    /// The registered sessions whose nick's display skeleton (Names.displaySkeleton) differs
    /// from its skeleton, by the display skeleton (a capital I, Greek or Cyrillic capitals: few
    /// nicks, and the guests whose number has a 0: its skeleton is a capital O). A NickTable
    /// by display skeleton: one word a slot (issue 19).
    private let lookalikes = NickTable(display: true)
    /// The rooms of `rooms` by the skeleton of their key, and by their display skeleton: a new
    /// room that looks like one of them is refused.
    private var roomsBySkeleton: [String: Room] = [:]
    /// The link to the other servers of a cluster; nil when alone.
    /// (Unchecked exclusivity: read for every line; loop thread only, never reentrant.)
    @exclusivity(unchecked) package var cluster: (any ClusterBackend)?
    /// Accounts (issue 20): nil when the server keeps none (register, identify and ghost are
    /// then refused).
    package var accounts: AccountService?
    var nextGuest = 1
    /// Clients were told the cluster link is down (and will be told when it is back).
    var clusterLinkDown = false
    /// Guest numbers the cluster reserved for this server: `nextReservedGuest...lastReservedGuest`.
    var nextReservedGuest = 1
    var lastReservedGuest = 0
    /// Nicks being claimed in the cluster, by skeleton: nobody else here may take them (or
    /// one like them) meanwhile.
    var nicksBeingClaimed: [String: ChatSession] = [:]
    /// Numbers an announcement made in several rooms at once (a quit, a rename), so that a
    /// member of several of them hears it once (`heard`).
    private var announcementSerial = 0
    /// The members who heard the announcement `heardSerial` (fanOutOnce), made only for one
    /// announced in several rooms (the sessions do not keep a serial: 4 bytes each, issue 19)
    /// and emptied once it was made in all of them.
    private var heard = Set<ObjectIdentifier>()
    private var heardSerial = -1
    private var encoders: [any EventEncoder] = []
    /// The same encoders as the sessions hold them (one reference each, shared).
    private var sharedEncoders: [SharedEncoder] = []
    /// Per encoder slot, the bytes of the event being fanned out (scratch, emptied after).
    private var rendered: [SharedBuffer?] = []
    /// Nicks the host speaks as (`say(asBot:...)`), by skeleton: no session may take them, or
    /// one like them.
    private(set) var botNicks: [String: String] = [:]
    /// Per encoder slot, the encoder as a BatchingEncoder (nil: it does not batch).
    @exclusivity(unchecked) private var batchers: [(any BatchingEncoder)?] = []
    /// The lines being batched (LineBatch.swift), their room and sender; `batching` while the
    /// transport hands up the lines of one read (beginLines ... endLines).
    // Unchecked exclusivity (here and on the few other properties a line touches: Room's
    // members and history, ChatSession.memberships, Connections.dirty, LineCodec.sanitizer,
    // Connection.hasSentALine): loop thread only, never accessed reentrantly; the run-time
    // check cost ~85 instructions per access, ~10 accesses per line (issue 19).
    @exclusivity(unchecked) private var batch = LineBatch()
    @exclusivity(unchecked) private var batchRoom: Room?
    @exclusivity(unchecked) private var batchSender: ChatSession?
    @exclusivity(unchecked) private var batching = false
    /// The host has hooks (a filter, events, messages): it could act between two lines of a
    /// read, so lines are not batched.
    private let hostHooks: Bool

    package init(settings: CoreSettings) {
        self.settings = settings
        hostHooks = settings.filter != nil || settings.onEvent != nil || settings.onMessage != nil
        for name in settings.permanentRooms { add(Room(name: name, historyLength: settings.historyLength)) }
    }

    deinit { batch.free() }

    /// Makes `encoder` known; its sessions are created with the slot returned.
    package func register(encoder: any EventEncoder) -> Int {
        precondition(encoders.count < Int(UInt16.max), "more encoders than a session's slot holds")
        encoders.append(encoder)
        sharedEncoders.append(SharedEncoder(encoder))
        rendered.append(nil)
        batchers.append(encoder as? any BatchingEncoder)
        return encoders.count - 1
    }

    /// The encoder of `slot` as its sessions hold it (ChatSession.init(shared:slot:), ChatSession.speak).
    package func sharedEncoder(slot: Int) -> SharedEncoder { sharedEncoders[slot] }

    // MARK: Intents

    /// Applies the rules to what `session` asks. Loop thread.
    package func handle(_ intent: Intent, from session: ChatSession) {
        if batchRoom != nil {
            if case .say = intent {} else { flushBatch() }
        }
        if case .register(let nick, let rooms) = intent { return register(session, nick: nick, rooms: rooms) }
        if case .registerAs(let nick) = intent { return register(session, exactly: nick) }
        guard session.isRegistered else { return }
        var intent = intent
        if settings.filter != nil {
            guard let allowed = filtered(intent, from: session), session.isRegistered else { return }
            intent = allowed
        }
        switch intent {
        case .register, .registerAs:
            break
        case .say(let roomName, let text):
            guard let room = room(named: roomName, for: session, orOpen: true) else { return }
            say(.said(room: room.name, nick: session.nick, text: text), in: room, from: session)
            settings.onMessage?(ChatMessage(room: room.name, nick: session.nick, text: text))
            emit(.said, session, room: room.name, text: text)
        case .act(let roomName, let text):
            guard let room = room(named: roomName, for: session) else { return }
            say(.acted(room: room.name, nick: session.nick, text: text), in: room, from: session)
            emit(.acted, session, room: room.name, text: text)
        case .privateMessage(let target, let text):
            privateMessage(text, from: session, to: target)
        case .command(_, let problem):
            session.send(.error(.unknownCommand(problem)))
        case .commandAnswered(let text):
            session.send(.notice(text))
        case .changeNick(let name):
            changeNick(of: session, to: name)
        case .join(let name, let exclusive):
            join(session, roomNamed: name, exclusive: exclusive)
        case .part(let name, let reason):
            guard let room = rooms[Names.key(name)], session.isMember(of: room) else {
                return session.send(.error(.notInRoom(name)))
            }
            leave(session, room, reason: .parted(reason), announce: true)
        case .who(let roomName):
            guard let room = room(named: roomName, for: session) else { return }
            who(in: room, for: session)
        case .listRooms:
            listRooms(for: session)
        case .setTopic(let name, let text):
            guard let room = rooms[Names.key(name)], session.isMember(of: room) else {
                return session.send(.error(.notInRoom(name)))
            }
            room.topic = text
            room.topicSetter = session.nick
            room.topicTime = Int(time(nil))
            fanOut(.topic(room: room.name, nick: session.nick, text: text), in: room, except: nil)
            cluster?.announce(.topic(room: room.name, nick: session.nick, text: text), inRoom: room.key)
        case .notice(let roomName, let text):
            guard let room = room(named: roomName, for: session, orOpen: true) else { return }
            fanOut(.noticed(room: room.name, nick: session.nick, text: text), in: room, except: session)
            cluster?.say(.noticed(room: room.name, nick: session.nick, text: text), inRoom: room.key)
        case .privateNotice(let target, let text):
            guard let receiver = person(named: target) else {
                if let cluster { privateNoticeElsewhere(text, from: session, to: target, through: cluster) }
                return  // a notice is never answered with an error
            }
            receiver.send(.privateNotice(from: session.nick, to: receiver.nick, text: text))
        case .kick(let roomName, let nick, let reason):
            guard let room = rooms[Names.key(roomName)], session.isMember(of: room) else {
                return session.send(.error(.notInRoom(roomName)))
            }
            guard room.isOperator(session) else { return session.send(.error(.notOperator(room.name))) }
            guard let victim = person(named: nick), victim.isMember(of: room) else {
                return session.send(.error(.notInRoomThemselves(nick: nick, room: room.name)))
            }
            fanOut(.kicked(room: room.name, nick: victim.nick, by: session.nick, reason: reason), in: room, except: nil)
            cluster?.announce(.kicked(room: room.name, nick: victim.nick, by: session.nick, reason: reason), inRoom: room.key)
            leave(victim, room, reason: .parted("kicked by \(session.nick): \(reason)"), announce: false)
        case .announceModes(let roomName, let change):
            guard let room = rooms[Names.key(roomName)] else { return }
            fanOut(.modeChanged(room: room.name, nick: session.nick, change: change), in: room, except: nil)
        case .registerAccount, .identify, .ghost:
            guard let accounts else { return session.send(.error(.account(.disabled))) }
            accounts.handle(intent, from: session)
        case .quit(let reason):
            session.send(.goodbye(nick: session.nick))
            let why = reason.map { "quit: \($0)" } ?? "quit"
            detach(session, reason: why, announce: true)
            session.finish(reason: why)
        }
    }

    // MARK: The host's view

    /// Tells the host what `session` did (when it listens).
    func emit(_ kind: HostEvent.Kind, _ session: ChatSession, room: String? = nil, text: String? = nil,
                      target: String? = nil, reason: String? = nil) {
        guard let onEvent = settings.onEvent else { return }
        onEvent(HostEvent(kind: kind, id: session.id, address: session.label, nick: session.nick, room: room,
                          text: text, target: target, reason: reason))
    }

    /// The intent as the host's filter lets it through (possibly rewritten), or nil when the
    /// filter refused it (the sender was told why) or took it. Intents without a text the host
    /// could judge (who, rooms, part, topic, quit) pass unfiltered.
    private func filtered(_ intent: Intent, from session: ChatSession) -> Intent? {
        guard let filter = settings.filter else { return intent }
        let question: HostEvent
        let base = HostEvent(kind: .said, id: session.id, address: session.label, nick: session.nick)
        switch intent {
        case .say(let name, let text):
            question = with(base) { $0.room = name ?? session.room?.name; $0.text = text }
        case .act(let name, let text):
            question = with(base) { $0.kind = .acted; $0.room = name ?? session.room?.name; $0.text = text }
        case .privateMessage(let target, let text):
            question = with(base) { $0.kind = .privateMessage; $0.target = target; $0.text = text }
        case .changeNick(let nick):
            question = with(base) { $0.kind = .renamed; $0.target = session.nick; $0.text = nick }
        case .join(let room, _):
            question = with(base) { $0.kind = .joined; $0.room = room }
        case .command(let line, _):
            question = with(base) { $0.kind = .command; $0.room = session.room?.name; $0.text = line }
        default:
            return intent
        }
        switch filter(question) {
        case .accept:
            return intent
        case .drop:
            return nil
        case .reject(let reason):
            session.send(.error(.refused(reason)))
            return nil
        case .replace(let text):
            switch intent {
            case .say(let room, _): return .say(room: room, text: text)
            case .act(let room, _): return .act(room: room, text: text)
            case .privateMessage(let target, _): return .privateMessage(to: target, text: text)
            case .changeNick: return .changeNick(text)
            case .join(_, let exclusive): return .join(text, exclusive: exclusive)
            case .command: return .commandAnswered(text)
            default: return intent
            }
        }
    }

    private func with(_ event: HostEvent, _ change: (inout HostEvent) -> Void) -> HostEvent {
        var copy = event
        change(&copy)
        return copy
    }

    /// A notice to one session (the host's send). False when it is not registered.
    package func send(notice text: String, to session: ChatSession) -> Bool {
        guard session.isRegistered else { return false }
        session.send(.notice(text))
        return true
    }

    /// The host's kick: the session is told why, its rooms hear "NICK left (kicked: REASON)", and
    /// its connection closes once that is sent.
    package func kick(_ session: ChatSession, reason: String) {
        let why = "kicked: \(reason)"
        session.send(.error(.kicked(reason)))
        detach(session, reason: why, announce: true)
        session.finish(reason: why)
    }

    /// Disconnects `session` (accounts: a ghost): it is told why, its rooms hear "NICK left
    /// (REASON)", and its connection closes once that is sent.
    package func disconnect(_ session: ChatSession, reason: String) {
        session.send(.error(.refused("disconnected: \(reason)")))
        detach(session, reason: reason, announce: true)
        session.finish(reason: reason)
    }

    /// What the host's `say(asBot:)` found wrong.
    package enum BotProblem: Error, Equatable {
        case noSuchRoom
        case nickInvalid(String)
        case nickTaken
    }

    /// The host speaks in `roomName` as the bot `nick`: everyone in the room gets a chat line
    /// from "@nick" ('@' is in no person's nick, so clients can tell a bot from a person). The
    /// nick is reserved from then on: nobody may take it.
    package func say(asBot nick: String, text: String, inRoom roomName: String) throws(BotProblem) {
        let nick = Names.display(nick)
        let skeleton = Names.skeleton(nick)
        // The people's rules (a bot the host already speaks as is its own: no refusal).
        if botNicks[skeleton].map(Names.key) != Names.key(nick), let refusal = refusal(ofNick: nick, for: nil) {
            if case .nickInvalid(let problem) = refusal { throw .nickInvalid(problem) }
            throw .nickTaken
        }
        guard let room = rooms[Names.key(roomName)] else { throw .noSuchRoom }
        if botNicks[skeleton] == nil { botNicks[skeleton] = nick }
        let shown = Names.displaySkeleton(nick)
        if botNicks[shown] == nil { botNicks[shown] = nick }
        let event = ChatEvent.said(room: room.name, nick: "@" + nick, text: text)
        fanOut(event, in: room, except: nil)
        room.record(event)
        cluster?.say(event, inRoom: room.key)
    }

    /// The names of this server's rooms, sorted.
    package var roomNames: [String] { rooms.values.map(\.name).sorted() }

    /// The nicks in `roomName` on this server, in the order they joined; nil when no such room.
    package func members(ofRoom roomName: String) -> [String]? {
        rooms[Names.key(roomName)]?.members.map(\.nick)
    }

    /// The room an intent names, or the session's room; nil (after telling the session, when it
    /// named one it is not in) when there is none.
    private func room(named name: String?, for session: ChatSession, orOpen: Bool = false) -> Room? {
        guard let name else { return session.room }
        guard let room = rooms[Names.key(name)], session.isMember(of: room) || (orOpen && !room.modes.noExternal) else {
            session.send(.error(.notInRoom(name)))
            return nil
        }
        return room
    }

    private func register(_ session: ChatSession, nick requested: String?, rooms roomNames: [String]) {
        guard !session.isRegistered else { return }
        var nick = requested.map(Names.display) ?? nextGuestNick()
        if requested != nil, let refusal = refusal(ofNick: nick, for: session) {
            session.send(.error(refusal))
            nick = nextGuestNick()
        }
        session.nick = nick
        session.isRegistered = true
        hold(nick, for: session)
        session.send(.welcome(nick: nick))
        emit(.registered, session)
        for name in roomNames { enter(session, roomNamed: name) }
        accounts?.nickTaken(by: session)
        if cluster != nil { clusterAdmitted(session) }
    }

    /// IRC's registration: the nick asked for or nothing (the session hears why and may try again).
    private func register(_ session: ChatSession, exactly nick: String) {
        guard !session.isRegistered else { return }
        if let refusal = refusal(ofNick: Names.display(nick), for: session) { return session.send(.error(refusal)) }
        register(session, nick: nick, rooms: [])
    }

    /// Why `session` (nil: the host) may not take `nick` (in display form), or nil when it may.
    /// In this order: its characters and length, a reserved nick or its lookalike; the same
    /// nick (by key) or a lookalike (by skeleton) in use here, being claimed in the cluster, or
    /// a bot's; mixed scripts. Both protocols ask this (IRC before registration too).
    package func refusal(ofNick nick: String, for session: ChatSession?) -> ChatError? {
        if let problem = Names.formProblem(ofNick: nick) { return .nickInvalid(problem) }
        let key = Names.key(nick)
        let skeleton = Names.skeleton(ofKey: key)
        if let holder = nicks[skeleton] ?? nicksBeingClaimed[skeleton], holder !== session {
            return Names.key(holder.nick) == key ? .nickTaken(holder.nick) : .nickResembles(nick, like: holder.nick, holder: .here)
        }
        // What is shown, case kept: `BiII` against `Bill`, `ΗΕΡΑ` against `HEPA`.
        let shown = Names.displaySkeleton(nick)
        if let holder = lookalikes[skeleton] ?? nicks[shown] ?? lookalikes[shown], holder !== session {
            return .nickResembles(nick, like: holder.nick, holder: .here)
        }
        if let bot = botNicks[skeleton] ?? botNicks[shown] {
            return Names.key(bot) == key ? .nickTaken(bot) : .nickResembles(nick, like: bot, holder: .bot)
        }
        if let problem = Names.scriptProblem(nick) { return .nickInvalid(problem) }
        return nil
    }

    /// Enters `nick` in the tables as `session`'s.
    private func hold(_ nick: String, for session: ChatSession) {
        let skeleton = Names.skeleton(nick)
        nicks.insert(session, skeleton: skeleton)
        let shown = Names.displaySkeleton(nick)
        if shown != skeleton { lookalikes.insert(session, skeleton: shown) }
    }

    /// Takes `nick` out of the tables when `session` holds it; its skeleton, or nil when it
    /// did not hold it.
    private func release(_ nick: String, of session: ChatSession) -> String? {
        let skeleton = Names.skeleton(nick)
        let shown = Names.displaySkeleton(nick)
        if shown != skeleton { _ = lookalikes.remove(session, skeleton: shown) }
        guard nicks.remove(session, skeleton: skeleton) else { return nil }
        return skeleton
    }

    /// The session whose nick is `name` (compared by key), or nil.
    package func person(named name: String) -> ChatSession? {
        person(withKey: Names.key(name))
    }

    /// The session whose nick has this key, or nil.
    package func person(withKey key: String) -> ChatSession? {
        guard let session = nicks[Names.skeleton(ofKey: key)], Names.key(session.nick) == key else { return nil }
        return session
    }

    func nextGuestNick() -> String {
        while true {
            let candidate: String
            if nextReservedGuest <= lastReservedGuest {  // numbers no other server of the cluster hands out
                candidate = "guest\(nextReservedGuest)"
                nextReservedGuest += 1
            } else {
                candidate = "guest\(nextGuest)"
                nextGuest += 1
            }
            let skeleton = Names.skeleton(ofKey: candidate)
            // (lookalikes too: `guestI` with a capital i, here, looks like guest1)
            if nicks[skeleton] == nil && nicksBeingClaimed[skeleton] == nil && botNicks[skeleton] == nil
                && lookalikes[skeleton] == nil { return candidate }
        }
    }

    // MARK: Chat

    private func say(_ event: ChatEvent, in room: Room, from session: ChatSession) {
        if batching && !hostHooks, let slot = room.singleSlot, let batcher = batchers[slot] {
            if batchRoom !== room || batchSender !== session { flushBatch() }
            if batcher.append(event, to: &batch) {
                if batchRoom == nil {
                    batchRoom = room
                    batchSender = session
                }
                room.record(event)
                cluster?.say(event, inRoom: room.key)
                if batch.count >= LineBatch.limit { flushBatch() }
                return
            }
        }
        fanOut(event, in: room, except: session)
        room.record(event)
        cluster?.say(event, inRoom: room.key)
    }

    /// `session` says `text` in its room: the intent `.say(room: nil, text:)` for a line whose
    /// bytes are its text as they are (plain, clean, not a command; the codec checked), taken
    /// without a String, an Intent or a ChatEvent when the line can be batched (LineBatch.swift):
    /// its bytes go into the batch, its history entry keeps nick and bytes (Room.recordSaid),
    /// and only a cluster gets an event made for it. False, with nothing done, when the line
    /// cannot be batched (host hooks, a room of several protocols, not registered, not in
    /// a room, outside beginLines...endLines): the codec then takes the ordinary way (issue 19).
    package func sayPlain(_ text: UnsafeRawBufferPointer, from session: ChatSession) -> Bool {
        guard batching && !hostHooks, session.isRegistered, let room = session.room,
              let slot = room.singleSlot, let batcher = batchers[slot] else { return false }
        if batchRoom !== room || batchSender !== session { flushBatch() }
        let nick = session.nick
        guard batcher.appendSaid(nick: nick, text: text, to: &batch) else { return false }
        if batchRoom == nil {
            batchRoom = room
            batchSender = session
        }
        room.recordSaid(nick: nick, text: text)
        if let cluster {
            cluster.say(.said(room: room.name, nick: nick, text: String(decoding: text, as: UTF8.self)), inRoom: room.key)
        }
        if batch.count >= LineBatch.limit { flushBatch() }
        return true
    }

    // MARK: Batches (LineBatch.swift)

    /// The transport starts handing up the lines of one read of one client.
    package func beginLines() { batching = true }

    /// The transport has handed up the lines of one read: the batch goes out.
    package func endLines() {
        batching = false
        flushBatch()
    }

    /// Sends the lines batched so far, as one buffer, to the room's members but their sender.
    @inline(__always)
    func flushBatch() {
        if batchRoom != nil { sendBatch() }
    }

    private func sendBatch() {
        guard let room = batchRoom else { return }
        let sender = batchSender
        batchRoom = nil
        batchSender = nil
        let buffer = SharedBuffer(copying: batch.bytes)
        batch.reset()
        deliver(buffer, to: room, except: sender)
    }

    private func privateMessage(_ text: String, from sender: ChatSession, to target: String) {
        guard let receiver = person(named: target) else {
            if let cluster { return privateMessageElsewhere(text, from: sender, to: target, through: cluster) }
            return sender.send(.error(.noSuchNick(target, linkDown: false)))
        }
        let event = ChatEvent.privateMessage(from: sender.nick, to: receiver.nick, text: text)
        emit(.privateMessage, sender, text: text, target: receiver.nick)
        let echo = sender.encoder.echoesPrivateMessages
        if echo, receiver.encoderSlot == sender.encoderSlot, receiver !== sender,
           let buffer = receiver.encoder.encode(event, for: nil) {
            receiver.enqueue(buffer)
            sender.enqueue(buffer)
            return
        }
        receiver.send(event)
        if receiver !== sender && echo { sender.send(event) }
    }

    private func changeNick(of session: ChatSession, to typed: String) {
        let name = Names.display(typed)
        if let refusal = refusal(ofNick: name, for: session) { return session.send(.error(refusal)) }
        if name == session.nick { return session.send(.alreadyNamed(name)) }
        if let cluster, cluster.isUp, Names.skeleton(name) != Names.skeleton(session.nick) {
            return claimNick(name, for: session, through: cluster)
        }
        rename(session, to: name)
        session.send(.youRenamed(nick: name, because: nil))
    }

    /// Gives the session a new nick (already checked and claimed) and tells its rooms.
    func rename(_ session: ChatSession, to name: String) {
        let old = session.nick
        if let oldSkeleton = release(old, of: session), oldSkeleton != Names.skeleton(name) { cluster?.release(oldSkeleton) }
        session.nick = name
        hold(name, for: session)
        emit(.renamed, session, target: old)
        let rooms = session.rooms
        announcementSerial += 1
        let once = rooms.count > 1 ? announcementSerial : nil
        for room in rooms {
            cluster?.left(nick: old, roomKey: room.key, lastHere: false)
            cluster?.entered(nick: name, roomKey: room.key, roomName: room.name)
            announce(.renamed(room: room.name, old: old, new: name), in: room, except: session, once: once)
        }
        heard = []
        accounts?.nickTaken(by: session)
    }

    // MARK: Rooms

    private func join(_ session: ChatSession, roomNamed typed: String, exclusive: Bool) {
        let name = Names.display(typed)
        if let problem = Names.formProblem(ofRoom: name) { return session.send(.error(.roomInvalid(problem))) }
        let key = Names.key(name)
        if let current = rooms[key], session.isMember(of: current) {
            return session.send(.error(.alreadyInRoom(current.name)))
        }
        if rooms[key] == nil {
            if let lookalike = roomsBySkeleton[Names.skeleton(ofKey: key)] ?? roomsBySkeleton[Names.displaySkeleton(name)] {
                return session.send(.error(.roomResembles(name, like: lookalike.name)))
            }
            if let problem = Names.scriptProblem(name) { return session.send(.error(.roomInvalid(problem))) }
        }
        if exclusive {
            for room in session.rooms { leave(session, room, reason: .moved(to: name), announce: true) }
        }
        enter(session, roomNamed: name)
    }

    private func enter(_ session: ChatSession, roomNamed name: String) {
        guard let cluster, cluster.isUp else { return enterNow(session, roomNamed: name) {} }
        // In a cluster, the room's channel must be subscribed before the newcomer is told
        // "you joined" (at once when this server already has it), or lines other servers
        // publish meanwhile would miss them.
        let key = Names.key(name)
        askCluster(for: session) { answered in
            cluster.whenSubscribed(toRoom: key) { [weak self] in
                guard let self else { return answered() }
                // A room new to this server: its topic may have been set elsewhere before.
                guard self.rooms[key] == nil else { return self.enterIfStillWanted(session, name, topic: nil, cluster, answered) }
                cluster.topic(ofRoom: key) { [weak self] topic in
                    guard let self else { return answered() }
                    self.enterIfStillWanted(session, name, topic: topic, cluster, answered)
                }
            }
        }
    }

    private func enterIfStillWanted(_ session: ChatSession, _ name: String, topic: SharedTopic?,
                                    _ cluster: any ClusterBackend, _ answered: @escaping () -> Void) {
        let key = Names.key(name)
        guard session.isRegistered, !session.memberships.contains(where: { $0.room.key == key }) else {
            if rooms[key] == nil { cluster.roomUnused(key) }
            return answered()
        }
        enterNow(session, roomNamed: name, sharedTopic: topic, then: answered)
    }

    /// Puts the session in the room, tells everyone, replays the history; `done` once the
    /// history is out (it may come from the cluster). `sharedTopic`: the cluster's topic, for
    /// a room new to this server.
    private func enterNow(_ session: ChatSession, roomNamed name: String, sharedTopic: SharedTopic? = nil,
                          then joined: @escaping () -> Void) {
        let key = Names.key(name)
        let room: Room
        if let existing = rooms[key] {
            room = existing
        } else {
            room = Room(name: name, historyLength: settings.historyLength)
            add(room)
            room.operators.insert(ObjectIdentifier(session))  // who makes a room runs it
            if let sharedTopic {
                room.topic = sharedTopic.text
                room.topicSetter = sharedTopic.setter
                room.topicTime = sharedTopic.time
            }
        }
        // IRC's NAMES after JOIN: the room's people (across the cluster) once the join is done.
        let done: () -> Void = !session.encoder.listsPeopleOnJoin ? joined : { [weak self, weak room] in
            guard let self, let room, session.isMember(of: room) else { return joined() }
            guard let cluster = self.cluster, cluster.isUp else {
                session.send(.names(room: room.name, nicks: room.members.map(\.nick)))
                return joined()
            }
            let local = room.members.map(\.nick)
            cluster.who(inRoom: room.key) { everyone in
                session.send(.names(room: room.name, nicks: everyone ?? local))
                joined()
            }
        }
        announce(.joined(room: room.name, nick: session.nick), in: room, except: nil)
        room.add(session)
        cluster?.entered(nick: session.nick, roomKey: key, roomName: room.name)
        session.send(.youJoined(room: room.name, others: room.members.count - 1, inCluster: cluster != nil))
        if let topic = room.topic { session.send(.topic(room: room.name, nick: nil, text: topic)) }
        emit(.joined, session, room: room.name)  // after "you joined": a host's greeting comes after it
        guard let cluster, cluster.isUp else {
            replayHistory(room.recentHistory, of: room, to: session)
            return done()
        }
        // The room's history across the cluster (lines said on other servers before anyone
        // here was in the room); this server's own when the link cannot answer.
        cluster.history(ofRoom: key) { [weak self] shared in
            if session.isMember(of: room) { self?.replayHistory(shared ?? room.recentHistory, of: room, to: session) }
            done()
        }
    }

    private func add(_ room: Room) {
        rooms[room.key] = room
        roomsBySkeleton[Names.skeleton(ofKey: room.key)] = room
        roomsBySkeleton[Names.displaySkeleton(room.name)] = room
    }

    private func remove(_ room: Room) {
        rooms.removeValue(forKey: room.key)
        for skeleton in [Names.skeleton(ofKey: room.key), Names.displaySkeleton(room.name)] where roomsBySkeleton[skeleton] === room {
            roomsBySkeleton.removeValue(forKey: skeleton)
        }
    }

    private func replayHistory(_ events: [ChatEvent], of room: Room, to session: ChatSession) {
        if !events.isEmpty { session.send(.history(room: room.name, events: events)) }
    }

    /// Takes the session out of `room`; the others hear why.
    private func leave(_ session: ChatSession, _ room: Room, reason: LeaveReason, announce announced: Bool, once serial: Int? = nil) {
        room.remove(session)
        cluster?.left(nick: session.nick, roomKey: room.key, lastHere: room.isEmpty)
        if announced { announce(.left(room: room.name, nick: session.nick, reason: reason), in: room, except: nil, once: serial) }
        if settings.onEvent != nil {
            let why: String
            switch reason {
            case .disconnected(let text): why = text
            case .moved(let to): why = "moved to \(to)"
            case .parted(let text): why = text ?? "parted"
            }
            emit(.left, session, room: room.name, reason: why)
        }
        if room.isEmpty && !settings.permanentRooms.contains(room.name) { remove(room) }
    }

    private func who(in room: Room, for session: ChatSession) {
        let local = room.members.map(\.nick)
        guard let cluster, cluster.isUp else { return session.send(.names(room: room.name, nicks: local)) }
        askCluster(for: session) { answered in
            cluster.who(inRoom: room.key) { everyone in
                session.send(.names(room: room.name, nicks: everyone ?? local))
                answered()
            }
        }
    }

    private func listRooms(for session: ChatSession) {
        let local = rooms.values.map { RoomCount(name: $0.name, count: $0.members.count) }
        guard let cluster, cluster.isUp else { return session.send(.roomList(local)) }
        askCluster(for: session) { answered in
            cluster.rooms { everywhere in
                session.send(.roomList(everywhere ?? local))
                answered()
            }
        }
    }

    // MARK: Leaving

    /// Takes the session out of its rooms and frees its nick; its rooms hear why when
    /// `announce`. Called by the transport when the connection ends, and for quit.
    package func detach(_ session: ChatSession, reason: String, announce: Bool) {
        flushBatch()
        guard session.isRegistered else { return }
        let rooms = session.rooms
        announcementSerial += 1
        let once = rooms.count > 1 ? announcementSerial : nil
        for room in rooms { leave(session, room, reason: .disconnected(reason), announce: announce, once: once) }
        heard = []
        session.isRegistered = false
        accounts?.sessionLeft(session)
        if let skeleton = release(session.nick, of: session) { cluster?.release(skeleton) }
    }

    /// The server is stopping: everyone is told, detached without a word to their rooms (they
    /// are all leaving), and the other servers of a cluster hear that they left.
    package func shutDown() {
        for session in nicks.values {
            for room in session.rooms {
                cluster?.announce(.left(room: room.name, nick: session.nick, reason: .disconnected("server shutting down")), inRoom: room.key)
            }
            detach(session, reason: "server shutting down", announce: false)
            session.send(.serverShuttingDown)
        }
    }

    /// A notice to everyone in `roomName`, or in every room when nil (the host's broadcast).
    /// Rooms that do not exist are skipped.
    /// False (nothing sent) when there is no room `roomName`.
    @discardableResult
    package func broadcast(notice text: String, room roomName: String?) -> Bool {
        if let roomName {
            guard let room = rooms[Names.key(roomName)] else { return false }
            fanOut(.notice(text), in: room, except: nil)
        } else {
            for room in rooms.values { fanOut(.notice(text), in: room, except: nil) }
        }
        return true
    }

    // MARK: Fan-out

    /// A presence event (join, leave, nick change) for the room. Rooms larger than
    /// `announceLimit` stay quiet: announcing every arrival to everyone costs O(members²) and
    /// would fill the queues of people who only listen.
    /// `once`: the serial of an announcement made in several rooms (a quit, a rename): members
    /// who already heard it in another room are skipped.
    func announce(_ event: ChatEvent, in room: Room, except sender: ChatSession?, once serial: Int? = nil) {
        let limit = settings.announceLimit
        guard limit == 0 || room.members.count <= limit else { return }
        if let serial { fanOutOnce(event, in: room, except: sender, serial: serial) } else { fanOut(event, in: room, except: sender) }
        cluster?.announce(event, inRoom: room.key)
    }

    /// fanOut for an announcement made in several rooms: each member hears it once.
    private func fanOutOnce(_ event: ChatEvent, in room: Room, except sender: ChatSession?, serial: Int) {
        flushBatch()
        for slot in encoders.indices where room.slotIsUsed(slot) { rendered[slot] = encoders[slot].encode(event, for: nil) }
        if heardSerial != serial {
            heard = []
            heardSerial = serial
        }
        for member in room.members where member !== sender && heard.insert(ObjectIdentifier(member)).inserted {
            if let buffer = rendered[member.encoderSlot] { member.enqueue(buffer) }
        }
        for slot in rendered.indices { rendered[slot] = nil }
    }

    /// Sends `event` to every member of `room` but `sender`, encoded once per protocol.
    func fanOut(_ event: ChatEvent, in room: Room, except sender: ChatSession?) {
        flushBatch()
        if let slot = room.singleSlot {
            guard let buffer = encoders[slot].encode(event, for: nil) else { return }
            deliver(buffer, to: room, except: sender)
            return
        }
        for slot in encoders.indices where room.slotIsUsed(slot) { rendered[slot] = encoders[slot].encode(event, for: nil) }
        room.members.withUnsafeBufferPointer { members in
            for member in members where member !== sender {
                if let buffer = rendered[member.encoderSlot] { member.enqueue(buffer) }
            }
        }
        for slot in rendered.indices { rendered[slot] = nil }
    }

    /// The hottest loop of the server (N appends per line): walk the members without
    /// retaining each one. Safe because nothing leaves `room.members` during a fan-out (a
    /// member whose queue overflows is only marked; the transport detaches it afterwards).
    private func deliver(_ buffer: SharedBuffer, to room: Room, except sender: ChatSession?) {
        room.members.withUnsafeBufferPointer { members in
            for index in members.indices {
                Unmanaged.passUnretained(members[index])._withUnsafeGuaranteedRef { member in
                    if member !== sender { member.enqueue(buffer) }
                }
            }
        }
    }

    func log(_ level: LogLevel, _ message: String) {
        settings.log?(level, message)
    }
}
