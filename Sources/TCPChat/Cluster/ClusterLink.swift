// A server's link to the cluster: two Redis connections on the server's own event loop (one
// for commands, one subscribed to this server's channels, as SUBSCRIBE mode allows nothing
// else), the scripts of ClusterScripts.swift, a heartbeat, and reconnection with capped
// exponential backoff. Everything runs on the loop thread and nothing here blocks: while the
// link is down, the server chats locally and asks the link nothing.
//
// Each message is published once, to the room's channel, with this server's id in front;
// every server delivers it to its own members of that room, and a server ignores what it
// published itself (it delivered that locally when it was said).
#if canImport(Glibc)
import Glibc
#endif
import TCPChatCore
import TCPChatNet

final class ClusterLink: ClusterBackend {
    /// What a message on a channel carries: `origin TAB kind TAB body`.
    enum Kind: Character {
        /// A room event: the body is its record (ChatEvent.record, versioned).
        case event = "E"
        /// A private message for one nick on the receiving server: `nickKey TAB record`.
        case privateEvent = "F"
        /// Ghost (accounts): disconnect the session holding a nick on the receiving server,
        /// whose nick another server has taken over: `nickKey TAB the ghost's nick`.
        case ghost = "G"
        // Servers before the event records published wire lines. Still read (shown as they
        // are) so that a cluster can be upgraded one server at a time; never sent.
        /// A chat line or /me, as a wire line.
        case chat = "C"
        /// A join, leave or nick-change notice, as a wire line.
        case notice = "N"
        /// A private message, as `nickKey TAB wire line`.
        case privateLine = "P"
    }

    static let guestBlock = 1000
    var guestBlock: Int { ClusterLink.guestBlock }
    /// Longest payload accepted from a channel: a line can be 3x the line limit once cleaned.
    let maxPayloadBytes: Int

    let configuration: ClusterConfiguration
    let serverID: String
    private unowned let host: any ClusterHost
    private let loop: EventLoop
    private let address: SocketAddress
    private let log: (LogLevel, String) -> Void
    private let historyLength: Int

    private var commands: RedisConnection?
    private var subscriber: RedisConnection?
    private var scriptIDs: [ClusterScript: String] = [:]
    /// Room channels this server has sent SUBSCRIBE for (and not UNSUBSCRIBE since).
    private var subscribedRooms: Set<String> = []
    /// SUBSCRIBEs per room that Redis has not confirmed yet.
    private var unconfirmedSubscribes: [String: Int] = [:]
    /// Who waits for a room's subscription to be confirmed (see `whenSubscribed`).
    private var subscriptionWaiters: [String: [() -> Void]] = [:]
    /// Registered: from here on, what the server tells the link goes to Redis, after (and
    /// so consistent with) the registration. Set when the registration is queued, not when it
    /// is answered, so that a join in between is not missed.
    private(set) var isUp = false
    /// Clients and the log were told the link is up (Redis answered the registration).
    private var announcedUp = false
    private var stopped = false
    private var attempts = 0
    private var heartbeatsUnanswered = 0
    private var droppedWhileFull = 0
    private var reservingGuests = false
    private var errorReplies = 0
    private var unreadableRecords = 0
    /// Room history in Redis: a list of event records per room. Servers before the records
    /// kept wire lines under `tcpchat:history:`; this key is new, so neither reads the other's.
    static let historyPrefix = "tcpchat:history:v1:"
    /// A room's topic in Redis ("TIME TAB record"), for servers the room is new to; kept
    /// `topicSeconds` after it was last set (a cleared topic is deleted). 1.1.
    static let topicPrefix = "tcpchat:topic:v1:"
    static let topicSeconds = 30 * 24 * 3600
    /// This outage was reported (logged, clients told): a long one is reported once, not once
    /// per retry.
    private var reportedDown = false

    private let roomChannelPrefix: String
    private let serverChannel: String
    private var heartbeatMilliseconds: Int64 { max(Int64(configuration.ttlSeconds) * 1000 / 3, 200) }

    init(configuration: ClusterConfiguration, address: SocketAddress, loop: EventLoop, host: any ClusterHost,
         maxLineBytes: Int, historyLength: Int, log: @escaping (LogLevel, String) -> Void) {
        self.configuration = configuration
        self.address = address
        self.loop = loop
        self.host = host
        self.log = log
        self.historyLength = historyLength
        maxPayloadBytes = maxLineBytes * 3 + 512
        var random = SystemRandomNumberGenerator()
        serverID = String(random.next() as UInt64, radix: 16)
        roomChannelPrefix = "tcpchat:\(configuration.redis.database):room:"
        serverChannel = "tcpchat:\(configuration.redis.database):server:\(serverID)"
    }

    // MARK: Life cycle

    func start() {
        connect()
        scheduleHeartbeat()
    }

    /// Leaves the cluster on purpose: gives up this server's nicks and records, writes that as
    /// far as the socket takes it right now, and closes.
    func stop(nicks: [String]) {
        guard !stopped else { return }
        stopped = true
        if isUp {
            for chunk in chunks(of: nicks) { run(.release, [serverID] + chunk) }
            run(.retire, [serverID])
            commands?.flush()
        }
        tearDown()
    }

    /// Writes what the loop iteration queued (one write for many commands).
    func flush() {
        commands?.flush()
        subscriber?.flush()
    }

    // MARK: What the server tells the cluster

    /// A chat line or /me said here: published once, and kept in the room's shared history.
    func say(_ event: ChatEvent, inRoom roomKey: String) {
        guard isUp, let line = event.record else { return }
        // Three plain commands, pipelined: 3.5 times the rate Redis manages for the same work
        // as one Lua script (measured: docs/ARCHITECTURE.md). Not atomic, and need not be.
        guard send(["PUBLISH", roomChannelPrefix + roomKey, payload(.event, line)]) else { return dropped() }
        guard historyLength > 0 else { return }
        let history = ClusterLink.historyPrefix + roomKey
        send(["RPUSH", history, line])
        send(["LTRIM", history, String(-historyLength), "-1"])
    }

    /// A presence event for the room's members on other servers.
    func announce(_ event: ChatEvent, inRoom roomKey: String) {
        guard isUp, let record = event.record else { return }
        if !send(["PUBLISH", roomChannelPrefix + roomKey, payload(.event, record)]) { return dropped() }
        if case .topic(_, _, let text) = event {
            let key = ClusterLink.topicPrefix + roomKey
            if text.isEmpty {
                send(["DEL", key])
            } else {
                send(["SET", key, "\(time(nil))\t" + record, "EX", String(ClusterLink.topicSeconds)])
            }
        }
    }

    /// Someone here entered a room: recorded for /who and /rooms; the room's channel is
    /// subscribed when it is the room's first member here.
    func entered(nick: String, roomKey: String, roomName: String) {
        guard isUp else { return }
        send(["SADD", "tcpchat:who:\(serverID):\(roomKey)", nick])
        send(["HSET", "tcpchat:rooms:\(serverID)", roomKey, roomName])
        subscribe([roomKey])  // already done by whenSubscribed, unless the link came up meanwhile
    }

    /// Calls `then` once this server receives the room's channel: at once when it already does
    /// (or when the link is down: there is nothing to wait for), else when Redis confirms the
    /// SUBSCRIBE. Someone entering a room new to this server waits for it, so that no line
    /// published after they were told "you joined" can miss them.
    func whenSubscribed(toRoom roomKey: String, _ then: @escaping () -> Void) {
        guard isUp else { return then() }
        if subscribedRooms.contains(roomKey) && unconfirmedSubscribes[roomKey] == nil { return then() }
        subscriptionWaiters[roomKey, default: []].append(then)
        subscribe([roomKey])
    }

    private func subscribe(_ roomKeys: [String]) {
        let new = roomKeys.filter { subscribedRooms.insert($0).inserted }
        for roomKey in new { unconfirmedSubscribes[roomKey, default: 0] += 1 }
        for chunk in chunks(of: new) { subscriber!.send(["SUBSCRIBE"] + chunk.map { roomChannelPrefix + $0 }) }
    }

    /// Redis confirmed a SUBSCRIBE: once all sent for the room are, its waiters go on.
    private func subscribeConfirmed(_ roomKey: String) {
        guard let count = unconfirmedSubscribes[roomKey] else { return }
        if count > 1 { return unconfirmedSubscribes[roomKey] = count - 1 }
        unconfirmedSubscribes[roomKey] = nil
        for waiter in subscriptionWaiters.removeValue(forKey: roomKey) ?? [] { waiter() }
    }

    /// Someone here left their room (or changed nick, or left). `lastHere`: nobody here is left
    /// in the room, so its channel is no longer needed.
    func left(nick: String, roomKey: String, lastHere: Bool) {
        guard isUp else { return }
        send(["SREM", "tcpchat:who:\(serverID):\(roomKey)", nick])
        guard lastHere else { return }
        send(["HDEL", "tcpchat:rooms:\(serverID)", roomKey])
        roomUnused(roomKey)
    }

    /// Nobody here is in the room any longer: its channel is not needed, unless someone is
    /// waiting to enter it.
    func roomUnused(_ roomKey: String) {
        guard isUp, subscriptionWaiters[roomKey] == nil, subscribedRooms.remove(roomKey) != nil else { return }
        subscriber!.send(["UNSUBSCRIBE", roomChannelPrefix + roomKey])
    }

    /// Claims a nick for this server. `done(true)` claimed, `done(false)` another server holds
    /// it, `done(nil)` the link is down (or went down before Redis answered).
    func claim(_ skeleton: String, nick: String, _ done: @escaping (ClaimAnswer) -> Void) {
        guard isUp else { return done(.linkDown) }
        let sent = run(.heartbeat, [serverID, String(configuration.ttlSeconds), skeleton, nick]) { reply in
            guard let lost = reply.texts else { return done(.linkDown) }
            done(lost.count >= 2 ? .heldElsewhere(nick: lost[1]) : .claimed)
        }
        if !sent { done(.linkDown) }
    }

    func release(_ skeleton: String) {
        guard isUp else { return }
        run(.release, [serverID, skeleton])
    }

    /// Sends a private line to `nickKey` wherever it is. `done(true)` sent, `done(false)` no such
    /// nick in the cluster, `done(nil)` the link is down.
    func sendPrivate(_ event: ChatEvent, toNick nickKey: String, _ done: @escaping (Bool?) -> Void) {
        guard isUp, let record = event.record else { return done(nil) }
        let sent = send(["GET", "tcpchat:nick:" + Names.skeleton(ofKey: nickKey)]) { [weak self] reply in
            guard let self, self.isUp else { return done(nil) }
            // "<server id> TAB <nick>": the skeleton's holder, which must be this very nick (a
            // server before 1.2 wrote its id alone, under the key, which is the skeleton of most
            // ASCII nicks)
            guard let held = reply.text else { return done(false) }
            let tab = held.firstIndex(of: "\t") ?? held.endIndex
            if tab != held.endIndex, Names.key(String(held[held.index(after: tab)...])) != nickKey { return done(false) }
            let owner = held[..<tab]
            let channel = "tcpchat:\(self.configuration.redis.database):server:\(owner)"
            done(self.send(["PUBLISH", channel, self.payload(.privateEvent, nickKey + "\t" + record)]) ? true : nil)
        }
        if !sent { done(nil) }
    }

    /// The nicks in a room on every live server; nil when the link is down.
    func who(inRoom roomKey: String, _ done: @escaping ([String]?) -> Void) {
        guard isUp else { return done(nil) }
        if !run(.who, [roomKey], { done($0.texts) }) { done(nil) }
    }

    /// Every room with people on a live server, and how many; nil when the link is down.
    func rooms(_ done: @escaping ([RoomCount]?) -> Void) {
        guard isUp else { return done(nil) }
        let sent = run(.rooms, []) { reply in
            guard let flat = reply.texts else { return done(nil) }
            var counts: [String: (name: String, count: Int)] = [:]
            for index in stride(from: 0, to: flat.count - 2, by: 3) {
                counts[flat[index], default: (flat[index + 1], 0)].count += Int(flat[index + 2]) ?? 0
            }
            done(counts.values.map { RoomCount(name: $0.name, count: $0.count) })
        }
        if !sent { done(nil) }
    }

    /// Asks for a fresh block of guest numbers no other server hands out.
    func reserveGuestNumbers() {
        guard isUp, !reservingGuests else { return }
        reservingGuests = send(["INCRBY", "tcpchat:guests", String(ClusterLink.guestBlock)]) { [weak self] reply in
            guard let self else { return }
            self.reservingGuests = false
            guard case .integer(let last) = reply else { return }
            self.host.clusterGuestNumbers((last - ClusterLink.guestBlock + 1)...last)
        }
    }

    /// A room's shared history, oldest first; nil when the link is down.
    func history(ofRoom roomKey: String, _ done: @escaping ([ChatEvent]?) -> Void) {
        guard isUp, historyLength > 0 else { return done(nil) }
        let sent = send(["LRANGE", ClusterLink.historyPrefix + roomKey, String(-historyLength), "-1"]) { reply in
            done(reply.texts.map { records in records.compactMap { ChatEvent(record: $0) } })
        }
        if !sent {
            done(nil)
        }
    }

    /// A room's topic kept in Redis; nil when there is none or the link is down.
    func topic(ofRoom roomKey: String, _ done: @escaping (SharedTopic?) -> Void) {
        guard isUp else { return done(nil) }
        let sent = send(["GET", ClusterLink.topicPrefix + roomKey]) { reply in
            guard let value = reply.text, let tab = value.firstIndex(of: "\t"), let time = Int(value[..<tab]),
                  case .topic(_, let setter, let text)? = ChatEvent(record: String(value[value.index(after: tab)...])),
                  !text.isEmpty else { return done(nil) }
            done(SharedTopic(text: text, setter: setter, time: time))
        }
        if !sent { done(nil) }
    }

    // MARK: Accounts (RedisAccountStore)

    /// Runs an account script. `reply` gets Redis's answer, or the link's `linkLost` error when
    /// the link drops first; false (and `reply` is never called) when the link is down or its
    /// queue is full.
    func runAccountScript(_ script: ClusterScript, _ arguments: [String], _ reply: @escaping RedisConnection.ReplyHandler) -> Bool {
        guard isUp else { return false }
        return run(script, arguments, reply)
    }

    /// Ghost across servers: the server of another session holding `nick` (by skeleton) gives it to this
    /// one and disconnects that session (ClusterScript.accountTakeOver). `done(true)` taken,
    /// `done(false)` no other server holds it, `done(nil)` the link is down.
    func takeOver(_ nick: String, by ghost: String, _ done: @escaping (Bool?) -> Void) {
        guard isUp else { return done(nil) }
        let channelPrefix = "tcpchat:\(configuration.redis.database):server:"
        let nickKey = Names.key(nick)
        let sent = run(.accountTakeOver, [Names.skeleton(ofKey: nickKey), serverID, String(configuration.ttlSeconds),
                                          channelPrefix, payload(.ghost, nickKey + "\t" + ghost), nick]) { reply in
            guard case .integer(let taken) = reply else { return done(nil) }
            done(taken == 1)
        }
        if !sent { done(nil) }
    }

    /// Another server took a nick of this server over (ghost): `nickKey`, the ghost's nick.
    var onGhost: ((String, String) -> Void)?

    /// Queues a plain command for the accounts (DEL of a failure count); false when it cannot.
    @discardableResult
    func accountCommand(_ command: [String], _ reply: RedisConnection.ReplyHandler? = nil) -> Bool {
        guard isUp else { return false }
        return send(command, reply)
    }

    // MARK: Connecting

    private func connect() {
        guard !stopped else { return }
        do {
            let commands = try RedisConnection(to: address, loop: loop, subscriber: false,
                                               maxQueueBytes: configuration.maxQueueBytes)
            let subscriber = try RedisConnection(to: address, loop: loop, subscriber: true,
                                                 maxQueueBytes: configuration.maxQueueBytes)
            self.commands = commands
            self.subscriber = subscriber
        } catch {
            retry(because: "connect: \(SystemError.message(for: error.code))", wasUp: false)
            return
        }
        commands!.onFailure = { [weak self] reason in self?.linkFailed(reason) }
        commands!.onErrorReply = { [weak self] message in self?.errorReplied(message) }
        subscriber!.onFailure = { [weak self] reason in self?.linkFailed(reason) }
        subscriber!.onPush = { [weak self] value in self?.received(value) }
        handshake()
    }

    /// Queued at once (Redis reads it once connected): select the database, load the scripts,
    /// then register this server's state. The link is up when the registration is answered.
    private func handshake() {
        if configuration.redis.database != 0 {
            send(["SELECT", String(configuration.redis.database)]) { [weak self] reply in
                if case .error(let message) = reply { self?.linkFailed("SELECT: \(message)") }
            }
        }
        for script in ClusterScript.allCases {
            send(["SCRIPT", "LOAD", script.source]) { [weak self] reply in
                guard let self else { return }
                guard case .bulk = reply, let id = reply.text else {
                    // e.g. NOAUTH: this Redis wants a password, which redis:// URLs here do not carry
                    if case .error(let message) = reply { return self.linkFailed("SCRIPT LOAD refused: \(message)") }
                    return self.linkFailed("SCRIPT LOAD: unexpected reply \(reply)")
                }
                self.scriptIDs[script] = id
                if self.scriptIDs.count == ClusterScript.allCases.count { self.register() }
            }
        }
        subscriber!.send(["SUBSCRIBE", serverChannel])
    }

    /// After every (re)connect: claim the nicks of everyone here, write who is where, subscribe
    /// their rooms, reserve guest numbers. Redis may have restarted empty, or may have reaped
    /// this server while it was cut off: registering from scratch covers both.
    private func register() {
        let members = host.clusterLocalMembers()
        run(.reset, [serverID])
        var nicksByRoom: [String: [String]] = [:]
        var roomNames: [String: String] = [:]
        for member in members {
            nicksByRoom[member.roomKey, default: []].append(member.nick)
            roomNames[member.roomKey] = member.roomName
        }
        for (roomKey, nicks) in nicksByRoom {
            for chunk in chunks(of: nicks) { send(["SADD", "tcpchat:who:\(serverID):\(roomKey)"] + chunk) }
            send(["HSET", "tcpchat:rooms:\(serverID)", roomKey, roomNames[roomKey]!])
        }
        subscribe(Array(nicksByRoom.keys))
        isUp = true
        reserveGuestNumbers()
        sendHeartbeat(nicks: members.map(\.nick)) { [weak self] in
            guard let self, self.isUp, !self.announcedUp else { return }
            self.announcedUp = true
            self.attempts = 0
            self.reportedDown = false
            self.log(.info, "cluster link up (\(self.configuration.redis))")
            self.host.clusterLinkChanged(up: true)
        }
    }

    private func linkFailed(_ reason: String) {
        // Once per failure: closing answers pending handlers, which may report it again.
        guard !stopped, commands != nil else { return }
        let wasUp = announcedUp
        tearDown()
        retry(because: reason, wasUp: wasUp)
    }

    private func retry(because reason: String, wasUp: Bool) {
        attempts += 1
        // 100 ms, 200 ms, ... capped at 2 s, with jitter so that servers that lost the same
        // Redis do not all come back in the same millisecond.
        let base = Int64(100) << Int64(min(attempts - 1, 5))
        let delay = min(base, 2000) / 2 + Int64.random(in: 0...(min(base, 2000) / 2))
        if wasUp || !reportedDown {
            log(.warning, "cluster link down (\(reason)); retrying")
            reportedDown = true
            host.clusterLinkChanged(up: false)
        }
        loop.schedule(after: delay) { [weak self] in self?.connect() }
    }

    /// Drops both connections and all that belonged to them. The state is reset first: closing
    /// answers pending handlers and releases subscription waiters, and they must see the link
    /// down (they fall back to what this server knows).
    private func tearDown() {
        isUp = false
        announcedUp = false
        let (closingCommands, closingSubscriber) = (commands, subscriber)
        commands = nil
        subscriber = nil
        scriptIDs.removeAll()
        subscribedRooms.removeAll()
        unconfirmedSubscribes.removeAll()
        let waiters = subscriptionWaiters.values.flatMap { $0 }
        subscriptionWaiters.removeAll()
        heartbeatsUnanswered = 0
        reservingGuests = false
        closingCommands?.close()
        closingSubscriber?.close()
        for waiter in waiters { waiter() }
    }

    // MARK: Heartbeat

    private func scheduleHeartbeat() {
        loop.schedule(after: heartbeatMilliseconds) { [weak self] in
            guard let self, !self.stopped else { return }
            self.heartbeat()
            self.scheduleHeartbeat()
        }
    }

    private func heartbeat() {
        guard commands != nil else { return }  // waiting to reconnect
        // Redis accepted the connection but answers nothing (stopped with SIGSTOP, a dead
        // path with no RST): two heartbeats unanswered and the link is treated as lost.
        if heartbeatsUnanswered >= 2 { return linkFailed("Redis stopped answering") }
        guard announcedUp else {
            heartbeatsUnanswered += 1  // still waiting for the handshake's answers
            return
        }
        sendHeartbeat(nicks: host.clusterLocalMembers().map(\.nick)) {}
        run(.reap, [serverID]) { [weak self] reply in
            guard let self, let flat = reply.texts, !flat.isEmpty else { return }
            var departures: [(roomKey: String, nick: String)] = []
            for index in stride(from: 0, to: flat.count - 1, by: 2) { departures.append((flat[index], flat[index + 1])) }
            self.host.clusterPeopleLost(departures)
        }
    }

    /// Refreshes liveness and claims `nicks` (in chunks, so Redis is never busy long on one
    /// script); `answered` runs when the last chunk is answered.
    private func sendHeartbeat(nicks: [String], answered: @escaping () -> Void) {
        heartbeatsUnanswered += 1
        var seen = Set<String>()
        let claims = nicks.filter { seen.insert($0).inserted }.flatMap { [Names.skeleton($0), $0] }
        let batches = claims.isEmpty ? [[]] : chunks(of: claims, size: 2000)
        for (index, batch) in batches.enumerated() {
            let isLast = index == batches.count - 1
            run(.heartbeat, [serverID, String(configuration.ttlSeconds)] + batch) { [weak self] reply in
                guard let self else { return }
                let lost = reply.texts ?? []
                for index in stride(from: 0, to: lost.count - 1, by: 2) { self.host.clusterNickLost(lost[index]) }
                if isLast {
                    self.heartbeatsUnanswered = 0
                    answered()
                }
            }
        }
    }

    // MARK: Receiving

    private func received(_ value: RESPValue) {
        guard case .array(let parts) = value, parts.count == 3, let channel = parts[1].text else { return }
        if parts[0].text == "subscribe" {
            if channel.hasPrefix(roomChannelPrefix) { subscribeConfirmed(String(channel.dropFirst(roomChannelPrefix.count))) }
            return
        }
        guard parts[0].text == "message", case .bulk(let bytes) = parts[2] else { return }
        guard bytes.count <= maxPayloadBytes, let (origin, kind, body) = ClusterLink.split(bytes) else {
            log(.warning, "cluster: ignored a malformed message on \(channel)")
            return
        }
        if origin == serverID { return }
        let isRoomChannel = channel.hasPrefix(roomChannelPrefix)
        let roomKey = isRoomChannel ? String(channel.dropFirst(roomChannelPrefix.count)) : ""
        switch kind {
        case .event:
            guard isRoomChannel else { return }
            guard let event = ChatEvent(record: body) else { return unreadable(channel) }
            host.clusterDeliver(event, toRoom: roomKey)
        case .privateEvent:
            guard channel == serverChannel, let tab = body.firstIndex(of: "\t") else { return }
            guard let event = ChatEvent(record: String(body[body.index(after: tab)...])) else { return unreadable(channel) }
            host.clusterDeliverPrivate(event, toNick: String(body[..<tab]))
        case .ghost:
            guard channel == serverChannel, let tab = body.firstIndex(of: "\t") else { return }
            onGhost?(String(body[..<tab]), String(body[body.index(after: tab)...]))
        case .chat, .notice:
            guard isRoomChannel, ClusterLink.isOneLine(body) else { return }
            host.clusterDeliver(.legacyLine(body), toRoom: roomKey)
        case .privateLine:
            guard channel == serverChannel, let tab = body.firstIndex(of: "\t") else { return }
            let line = String(body[body.index(after: tab)...])
            guard ClusterLink.isOneLine(line) else { return }
            host.clusterDeliverPrivate(.legacyLine(line), toNick: String(body[..<tab]))
        }
    }

    /// A record this server cannot read (a newer version, or damaged): dropped, and said once
    /// and then every 1000th time, so that a mixed-version cluster is visible in the log.
    private func unreadable(_ channel: String) {
        unreadableRecords += 1
        if unreadableRecords == 1 || unreadableRecords % 1000 == 0 {
            log(.warning, "cluster: dropped \(unreadableRecords) message(s) in a format this server cannot read (a newer tcpchat-server in the cluster?), last on \(channel)")
        }
    }

    /// `origin \t kind \t body` → its parts; nil when malformed.
    static func split(_ bytes: [UInt8]) -> (origin: String, kind: Kind, body: String)? {
        guard let first = bytes.firstIndex(of: 9), first + 2 < bytes.count, bytes[first + 2] == 9,
              let kind = Kind(rawValue: Character(Unicode.Scalar(bytes[first + 1]))) else { return nil }
        return (String(decoding: bytes[..<first], as: UTF8.self), kind, String(decoding: bytes[(first + 3)...], as: UTF8.self))
    }

    /// A whole wire line: one LF, at the end.
    static func isOneLine(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard utf8.last == 10 else { return false }
        return utf8.dropLast().firstIndex(of: 10) == nil
    }

    // MARK: Helpers

    private func payload(_ kind: Kind, _ body: String) -> String { "\(serverID)\t\(kind.rawValue)\t\(body)" }

    /// Runs a loaded script. False when the link cannot take it now.
    @discardableResult
    private func run(_ script: ClusterScript, _ arguments: [String], _ reply: RedisConnection.ReplyHandler? = nil) -> Bool {
        guard let id = scriptIDs[script] else { return false }
        return send(["EVALSHA", id, "0"] + arguments, reply)
    }

    /// Queues a command on the command connection. False when the link cannot take it now.
    @discardableResult
    private func send(_ command: [String], _ reply: RedisConnection.ReplyHandler? = nil) -> Bool {
        commands?.send(command, reply: reply) ?? false
    }

    /// Redis refused a command (its handler, if any, still gets the error and falls back). A
    /// script Redis no longer has makes the link reconnect and load them again; anything else
    /// is logged, once and then every 1000th.
    private func errorReplied(_ message: String) {
        if message.hasPrefix("NOSCRIPT") { return linkFailed("Redis lost the scripts (\(message))") }
        errorReplies += 1
        if errorReplies == 1 || errorReplies % 1000 == 0 {
            log(.warning, "cluster: Redis answered a command with an error (\(errorReplies) so far): \(message)")
        }
    }

    private func dropped() {
        droppedWhileFull += 1
        if droppedWhileFull == 1 || droppedWhileFull % 1000 == 0 {
            log(.warning, "cluster: Redis is not keeping up; \(droppedWhileFull) publications dropped so far (queue cap \(configuration.maxQueueBytes) bytes)")
        }
    }

    private func chunks<T>(of items: [T], size: Int = 1000) -> [[T]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
    }
}
