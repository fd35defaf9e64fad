// The room server. Data path, top to bottom:
//   socket readable → read into one shared buffer → the connection's LineFramer → whole lines
//   → TextSanitizer → Command → a reply to the sender, or a room fan-out: one SharedBuffer
//   appended to each member's bounded OutputQueue → at the end of the loop iteration, every
//   touched queue is flushed with writev; EPOLLOUT is asked for only while bytes remain.
//
// Threading: one loop thread owns every socket and all chat state. `stop()`, `broadcast(...)`,
// `port` and `address` may be used from any thread; everything else runs on the loop thread.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import Synchronization

public enum ChatServerError: Error, CustomStringConvertible, Sendable {
    case invalidConfiguration(String)
    case socket(SocketError)
    case system(SystemError)
    /// `run()` or `start()` was called on a server that already runs or has run.
    case alreadyStarted

    public var description: String {
        switch self {
        case .invalidConfiguration(let problem): return "invalid configuration: \(problem)"
        case .socket(let error): return error.description
        case .system(let error): return error.description
        case .alreadyStarted: return "the server was already started"
        }
    }
}

public final class ChatServer: @unchecked Sendable {
    public let configuration: ChatServerConfiguration

    // Any thread.
    let loop: EventLoop
    private let boundPort = Atomic<Int>(-1)
    private let started = Atomic<Bool>(false)
    private let boundAddress = Mutex<SocketAddress?>(nil)
    private let loopThread = Mutex<pthread_t?>(nil)
    private let counters = StatisticsCounters()

    // Loop thread only.
    private var listenerFD: Int32 = -1
    private var reserveFD: Int32 = -1
    private var acceptPaused = false
    private var connections: [ClientConnection?] = []
    private var connectionCount = 0
    private var generation: UInt64 = 0
    var nicks: [String: ClientConnection] = [:]
    var rooms: [String: Room] = [:]
    var nextGuest = 1
    private var dirty: [ClientConnection] = []
    private var closing: [ClientConnection] = []
    private var sanitizer: TextSanitizer
    private var connectionsPerHost: [String: Int] = [:]
    private var shuttingDown = false
    private var finished = false     // serving ended: sockets closed, "stopped" logged
    private var hostDriven = false   // served by serveOnce calls, not run/start
    /// The link to the other servers of a cluster (ChatServer+Cluster.swift); nil when alone.
    var cluster: ClusterLink?
    /// Clients were told the cluster link is down (and will be told when it is back).
    var clusterLinkDown = false
    /// Guest numbers the cluster reserved for this server: `nextReservedGuest...lastReservedGuest`.
    var nextReservedGuest = 1
    var lastReservedGuest = 0
    /// Nicks being claimed in the cluster for a /nick, by key: nobody else here may take them meanwhile.
    var nicksBeingClaimed: [String: ClientConnection] = [:]
    private let readBuffer: UnsafeMutableRawBufferPointer
    /// Where a flush gathers short lines into one segment. Not the read buffer: a queue may be
    /// flushed in the middle of a fan-out, while the line being relayed still sits in there.
    private let flushScratch: UnsafeMutableRawBufferPointer
    private let iovecs: UnsafeMutablePointer<iovec>

    static let listenerToken: UInt64 = .max - 1
    static let lobby = "#lobby"

    public init(configuration: ChatServerConfiguration) throws(ChatServerError) {
        if let problem = configuration.problem() { throw .invalidConfiguration(problem) }
        self.configuration = configuration
        do { loop = try EventLoop() } catch { throw .system(error) }
        sanitizer = TextSanitizer(fallback: configuration.fallbackEncoding)
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        flushScratch = .allocate(byteCount: 64 * 1024, alignment: 16)
        iovecs = .allocate(capacity: Int(ctc_IOV_MAX))
        if let clusterConfiguration = configuration.cluster { cluster = try makeClusterLink(clusterConfiguration) }
    }

    deinit {
        if listenerFD >= 0 { Sys.close(listenerFD) }
        if reserveFD >= 0 { Sys.close(reserveFD) }
        for connection in connections.compactMap({ $0 }) where connection.state != .closed {
            Sys.close(connection.fd)
        }
        sanitizer.close()
        readBuffer.deallocate()
        flushScratch.deallocate()
        iovecs.deallocate()
    }

    // MARK: Public, any thread

    /// The bound port, or -1 before `bind()`.
    public var port: Int { boundPort.load(ordering: .acquiring) }

    /// What the server has done so far. Any thread.
    public var statistics: ServerStatistics { counters.snapshot }

    /// The bound address, or nil before `bind()`.
    public var address: SocketAddress? { boundAddress.withLock { $0 } }

    /// Binds and listens. Called by `run()` and `start()` when not called before; calling it
    /// first lets a program learn the port, or fail on a port in use, before serving.
    public func bind() throws(ChatServerError) {
        if boundPort.load(ordering: .acquiring) >= 0 { return }
        let (fd, address): (Int32, SocketAddress)
        do { (fd, address) = try Socket.listen(host: configuration.host, port: configuration.port) } catch { throw .socket(error) }
        do { try loop.register(fd, token: ChatServer.listenerToken, interest: .read) } catch {
            Sys.close(fd)
            throw .system(error)
        }
        listenerFD = fd
        reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        boundAddress.withLock { $0 = address }
        boundPort.store(address.port, ordering: .releasing)
        log(.info, "listening on \(address)")
    }

    /// Serves on the calling thread until `stop()`. A server runs once.
    public func run() throws(ChatServerError) {
        try bind()
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw .alreadyStarted
        }
        serve()
    }

    /// Binds and serves on a thread of its own; returns once the server listens.
    public func start() throws(ChatServerError) {
        try bind()
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw .alreadyStarted
        }
        do {
            let thread = try LoopThread.start { self.serve() }
            loopThread.withLock { $0 = thread }
        } catch {
            throw .system(error)
        }
    }

    /// Waits for the thread `start()` made to finish (after `stop()`). Not from the loop thread.
    public func wait() {
        let thread = loopThread.withLock { value -> pthread_t? in
            let taken = value
            value = nil
            return taken
        }
        if let thread { LoopThread.join(thread) }
    }

    /// Stops serving: every client gets a goodbye notice, queues flush (bounded by
    /// `shutdownGraceMilliseconds`), sockets close, and `run()` returns. Any thread; idempotent.
    public func stop() {
        // weak: a task queued after the loop has ended never runs, and must not keep the
        // server (which owns the loop and its queue) alive in a cycle.
        loop.execute { [weak self] in self?.beginShutdown() }
    }

    /// Sends `* text` to everyone in `room`, or in every room when `room` is nil. Any thread.
    /// Rooms that do not exist when the loop gets to it are skipped. In a cluster, it reaches
    /// this server's clients only.
    public func broadcast(room: String?, text: String) {
        loop.execute { [weak self] in
            guard let self else { return }
            let line = SharedBuffer(Wire.notice(TextSanitizer.strip(text)))
            if let room {
                if let target = rooms[Names.key(room)] { fanOut(line, in: target, except: nil) }
            } else {
                for target in rooms.values { fanOut(line, in: target, except: nil) }
            }
        }
    }

    // MARK: The loop

    private func serve() {
        beginServing()
        while iterate(timeoutMilliseconds: -1) {}
    }

    private func beginServing() {
        cluster?.start()
        if configuration.idleTimeoutSeconds > 0 || configuration.firstLineTimeoutSeconds > 0 {
            scheduleTimeoutSweep()
        }
    }

    /// One turn of the loop. Once the loop has stopped it finishes serving and returns false.
    private func iterate(timeoutMilliseconds: Int32) -> Bool {
        if !loop.isStopped {
            loop.poll(timeoutMilliseconds: timeoutMilliseconds) { token, readiness in handle(token, readiness) }
            settle()
        }
        if !loop.isStopped { return true }
        if !finished { finishServing() }
        return false
    }

    private func finishServing() {
        finished = true
        cluster?.stop(nicks: Array(nicks.keys))
        for connection in connections.compactMap({ $0 }) { release(connection, reason: "server stopped") }
        closeListener()
        loop.cancelAllTimers()  // their actions hold the server: left behind, they would leak it
        log(.info, "stopped")
    }

    // MARK: Host-driven serving

    /// The loop's epoll descriptor, for a host that drives the server from its own poll loop
    /// instead of `run()`/`start()`: when it is readable, or `hostTimeoutMilliseconds` has
    /// passed, call `serveOnce`. Any thread.
    public var loopDescriptor: Int32 { loop.epollFD }

    /// The longest a host-driven server may wait for `loopDescriptor` before the next
    /// `serveOnce` (a timer is due then); -1 = no limit. The driving thread only.
    public var hostTimeoutMilliseconds: Int32 { loop.millisecondsUntilNextTimer }

    /// Host-driven serving: the first call binds (if needed) and claims the server, as `run()`
    /// would; each call does what is ready, waiting up to `timeoutMilliseconds` (0 = no wait)
    /// for something to do. Returns false once the server has stopped and finished (as `run()`
    /// returns). Always from the same thread, which is the loop thread while it drives.
    public func serveOnce(timeoutMilliseconds: Int32) throws(ChatServerError) -> Bool {
        if !hostDriven {
            try bind()
            guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
                throw .alreadyStarted
            }
            hostDriven = true
            beginServing()
        }
        return iterate(timeoutMilliseconds: timeoutMilliseconds)
    }

    private func handle(_ token: UInt64, _ readiness: EventLoop.Readiness) {
        if token == ChatServer.listenerToken {
            acceptPending()
            return
        }
        if let cluster, cluster.handle(token, readiness) { return }
        let fd = Int(token & 0xFFFF_FFFF)
        guard fd < connections.count, let connection = connections[fd], connection.token == token else { return }
        if readiness.readable && connection.state == .open && connection.pendingCloseReason == nil {
            if connection.throttled && readiness.hangup {
                // The peer is gone: flood control no longer matters. Handle what it sent before
                // it went (its lines are not dropped), then read on to the EOF or error.
                connection.bucket = nil
                resume(connection)
            }
            if !connection.throttled { read(from: connection) }
        }
        if readiness.writable && connection.state != .closed { flush(connection) }
    }

    /// Closes what must close and flushes what was written to, until nothing is left to do.
    private func settle() {
        repeat {
            // What this iteration told the cluster, in one write, before the clients hear of
            // it: a line reaches Redis before its sender's next action can.
            cluster?.flush()
            settleClients()
        } while !closing.isEmpty || !dirty.isEmpty
        cluster?.flush()  // what closing connections told it (a leave, a released nick)
    }

    private func settleClients() {
        while !closing.isEmpty || !dirty.isEmpty {
            if !closing.isEmpty {
                let list = closing
                closing.removeAll(keepingCapacity: true)
                for connection in list {
                    let reason = connection.pendingCloseReason ?? "closed"
                    detach(connection, reason: reason, announce: true)
                    release(connection, reason: reason)
                }
            }
            if !dirty.isEmpty {
                let list = dirty
                dirty.removeAll(keepingCapacity: true)
                for connection in list {
                    connection.isDirty = false
                    flush(connection)
                }
            }
        }
    }

    // MARK: Accepting

    private func acceptPending() {
        for _ in 0..<64 {
            let accepted: IOResult<(Int32, SocketAddress?)>
            do { accepted = try Socket.accept(listenerFD) } catch {
                acceptFailed(error)
                return
            }
            guard case .done(let (fd, address)) = accepted else { return }
            let peer = address?.description ?? "?"
            let host = address?.host ?? "?"
            let perAddress = configuration.maxConnectionsPerAddress
            if shuttingDown {
                refuse(fd, Wire.error("server shutting down"))
            } else if connectionCount >= configuration.maxClients {
                log(.warning, "refused \(peer): server full (\(configuration.maxClients) clients)")
                refuse(fd, Wire.error("server full (\(configuration.maxClients) clients); try again later"))
            } else if perAddress > 0 && connectionsPerHost[host, default: 0] >= perAddress {
                log(.warning, "refused \(peer): \(perAddress) connections from \(host) already")
                refuse(fd, Wire.error("too many connections from your address (\(perAddress)); close some and try again"))
            } else {
                admit(fd, peer: peer, host: host)
            }
        }
    }

    /// Out of descriptors (EMFILE/ENFILE): give up the reserve descriptor to accept and refuse
    /// one pending connection politely, then take it back. If even that fails, stop watching the
    /// listener for a moment instead of spinning on it.
    private func acceptFailed(_ error: SystemError) {
        switch error.code {
        case ECONNABORTED, EPROTO, EPERM, EINTR:
            return
        case EMFILE, ENFILE:
            var refusedOne = false
            if reserveFD >= 0 {
                Sys.close(reserveFD)
                reserveFD = -1
                if case .done(let (fd, _))? = try? Socket.accept(listenerFD) {
                    refuse(fd, Wire.error("server out of file descriptors; try again later"))
                    refusedOne = true
                }
                reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
            }
            // Progress was made (one pending connection consumed): carry on. Otherwise the
            // level-triggered listener would wake the loop at once, forever: pause instead.
            if refusedOne && reserveFD >= 0 { return }
            log(.warning, "accept: \(error); pausing accepts for 100 ms")
            pauseAccepting()
        default:
            log(.error, "accept: \(error); pausing accepts for 100 ms")
            pauseAccepting()
        }
    }

    private func pauseAccepting() {
        guard !acceptPaused, listenerFD >= 0 else { return }
        acceptPaused = true
        loop.unregister(listenerFD)
        loop.schedule(after: 100) { [weak self] in
            guard let self else { return }
            acceptPaused = false
            guard listenerFD >= 0 else { return }
            if reserveFD < 0 { reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC) }
            try? loop.register(listenerFD, token: ChatServer.listenerToken, interest: .read)
        }
    }

    /// Sends one error line (best effort, never blocks) and closes.
    private func refuse(_ fd: Int32, _ line: String) {
        counters.refused.add(1, ordering: .relaxed)
        var text = line
        text.withUTF8 { _ = try? Sys.send(fd, UnsafeRawBufferPointer($0)) }
        Sys.close(fd)
    }

    private func admit(_ fd: Int32, peer: String, host: String) {
        generation &+= 1
        let token = (generation << 32) | UInt64(UInt32(bitPattern: fd))
        let nick = nextGuestNick()
        let now = monotonicMilliseconds()
        let connection = ClientConnection(fd: fd, token: token, address: peer, host: host, nick: nick,
                                          maxLineBytes: configuration.maxLineBytes, now: now)
        if configuration.linesPerSecond > 0 {
            connection.bucket = TokenBucket(linesPerSecond: configuration.linesPerSecond,
                                            burst: configuration.burstLines, now: now)
        }
        do { try loop.register(fd, token: token, interest: .read) } catch {
            log(.error, "cannot watch \(peer): \(error)")
            Sys.close(fd)
            return
        }
        let index = Int(fd)
        if index >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: max(index + 1 - connections.count, connections.count)))
        }
        connections[index] = connection
        connectionCount += 1
        connectionsPerHost[host, default: 0] += 1
        counters.accepted.add(1, ordering: .relaxed)
        counters.connections.add(1, ordering: .relaxed)
        nicks[Names.key(nick)] = connection
        log(.info, "connect \(peer) as \(nick)")
        send(Wire.notice("welcome to tcpchat, \(nick)! /nick NAME changes your nick, /help lists the commands"), to: connection)
        enter(connection, roomNamed: ChatServer.lobby)
        if cluster != nil { clusterAdmitted(connection) }
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
            if nicks[candidate] == nil { return candidate }
        }
    }

    // MARK: Reading

    private func read(from connection: ClientConnection) {
        // A few reads per wake-up, then let other sockets have their turn (epoll is level-triggered).
        for _ in 0..<4 {
            let result: IOResult<Int>
            do { result = try Sys.read(connection.fd, readBuffer) } catch {
                doom(connection, reason: ChatServer.reason(for: error))
                return
            }
            guard case .done(let count) = result else { return }
            if count == 0 {
                handleLastLine(of: connection)
                beginDrain(connection, reason: "connection closed")
                return
            }
            let now = monotonicMilliseconds()
            connection.lastInputAt = now
            connection.bucket?.refill(now: now)
            // Telnet's own commands (Ctrl-C: IAC IP IAC DO TIMING-MARK) are answered and taken
            // out before framing; see Protocol/TelnetFilter.swift.
            var telnetReplies: [UInt8] = []
            let kept = connection.telnet.filter(UnsafeMutableRawBufferPointer(rebasing: readBuffer[..<count]), replies: &telnetReplies)
            if !telnetReplies.isEmpty { enqueue(SharedBuffer(bytes: telnetReplies), to: connection) }
            let input = UnsafeRawBufferPointer(rebasing: readBuffer[..<kept])
            let used = handleInput(input, from: connection)
            guard connection.state == .open, connection.pendingCloseReason == nil else { return }
            if used < kept {
                connection.pendingInput = Array(input[used...])
                throttle(connection)
                return
            }
            if count < readBuffer.count { return }
        }
    }

    /// Hands the lines in `input` to the chat while the client's bucket has tokens and no
    /// answer from the cluster is awaited. Returns the bytes used; the rest waits in
    /// `pendingInput` until the bucket refills or the answer comes.
    private func handleInput(_ input: UnsafeRawBufferPointer, from connection: ClientConnection) -> Int {
        if connection.mustWaitForCluster { return 0 }
        if let bucket = connection.bucket, !bucket.hasToken { return 0 }
        return connection.framer.consume(input) { event in
            guard connection.state == .open, connection.pendingCloseReason == nil else { return false }
            connection.hasSentALine = true
            switch event {
            case .line(let bytes):
                handleLine(bytes, from: connection)
            case .overlong:
                send(Wire.error("line too long (over \(configuration.maxLineBytes) bytes); it was discarded"), to: connection)
            }
            let hasToken = connection.bucket?.spend() ?? true
            return hasToken && !connection.mustWaitForCluster
        }
    }

    /// End of stream: a last line without LF (e.g. `printf hi | nc -N`) still counts; flood
    /// control no longer applies to a client that is leaving.
    private func handleLastLine(of connection: ClientConnection) {
        connection.inputEnded = true
        if !connection.pendingInput.isEmpty {
            connection.bucket = nil
            let input = connection.pendingInput
            connection.pendingInput = []
            _ = input.withUnsafeBytes { handleInput($0, from: connection) }
        }
        connection.framer.finish { event in
            guard connection.state == .open, connection.pendingCloseReason == nil,
                  case .line(let bytes) = event else { return }
            handleLine(bytes, from: connection)
        }
    }

    /// Out of tokens: stop reading this socket until one is back (TCP backpressure slows the
    /// sender; nothing is dropped).
    private func throttle(_ connection: ClientConnection) {
        guard !connection.throttled else { return }
        if connection.mustWaitForCluster {  // resumed by the answer (clusterAnswered), not a timer
            connection.throttled = true
            updateInterest(connection)
            return
        }
        guard let bucket = connection.bucket else { return }
        connection.throttled = true
        counters.throttled.add(1, ordering: .relaxed)
        updateInterest(connection)
        loop.schedule(after: bucket.millisecondsUntilToken) { [weak self, connection] in
            self?.resume(connection)
        }
    }

    /// The cluster answered what `connection` asked: its next lines may be handled.
    func clusterAnswered(_ connection: ClientConnection) {
        connection.waitingForCluster = false
        if connection.throttled { resume(connection) }
    }

    private func resume(_ connection: ClientConnection) {
        guard connection.throttled, connection.state == .open, connection.pendingCloseReason == nil else { return }
        connection.throttled = false
        connection.bucket?.refill(now: monotonicMilliseconds())
        if !connection.pendingInput.isEmpty {
            let input = connection.pendingInput
            connection.pendingInput = []
            let used = input.withUnsafeBytes { handleInput($0, from: connection) }
            guard connection.state == .open, connection.pendingCloseReason == nil else { return }
            if used < input.count {
                connection.pendingInput = Array(input[used...])
                throttle(connection)
                return
            }
        }
        updateInterest(connection)
    }

    /// Tells epoll what this connection waits for: input while open and not throttled, output
    /// while bytes are queued or it is draining.
    private func updateInterest(_ connection: ClientConnection) {
        guard connection.state != .closed else { return }
        var interest: EventLoop.Interest = []
        if connection.state == .open && !connection.throttled { interest.insert(.read) }
        if connection.wantsWrite || connection.state == .draining { interest.insert(.write) }
        if interest != connection.interest {
            connection.interest = interest
            loop.modify(connection.fd, token: connection.token, interest: interest)
        }
    }

    /// Once a second while timeouts are configured: drops clients past their deadlines.
    private func scheduleTimeoutSweep() {
        loop.schedule(after: 1000) { [weak self] in
            guard let self, !self.shuttingDown else { return }
            self.sweepTimeouts()
            self.scheduleTimeoutSweep()
        }
    }

    private func sweepTimeouts() {
        let now = monotonicMilliseconds()
        let firstLine = Int64(configuration.firstLineTimeoutSeconds) * 1000
        let idle = Int64(configuration.idleTimeoutSeconds) * 1000
        for case let connection? in connections where connection.state == .open && connection.pendingCloseReason == nil {
            if firstLine > 0 && !connection.hasSentALine && now - connection.connectedAt >= firstLine {
                send(Wire.error("disconnected: no line within \(configuration.firstLineTimeoutSeconds) s of connecting"), to: connection)
                beginDrain(connection, reason: "disconnected: sent nothing within \(configuration.firstLineTimeoutSeconds) s")
            } else if idle > 0 && now - connection.lastInputAt >= idle {
                send(Wire.error("disconnected: idle for \(configuration.idleTimeoutSeconds) s"), to: connection)
                beginDrain(connection, reason: "disconnected: idle for \(configuration.idleTimeoutSeconds) s")
            }
        }
        settle()
    }

    private func handleLine(_ bytes: UnsafeRawBufferPointer, from connection: ClientConnection) {
        let text = sanitizer.clean(bytes)
        if text.isEmpty { return }
        switch Command.parse(text) {
        case .say(let message):
            say(message, from: connection)
        case .nick(let name):
            changeNick(of: connection, to: name)
        case .who:
            guard let room = connection.room else { return }
            let local = room.members.map(\.nick)
            guard let cluster, cluster.isUp else { return replyWho(room.name, local, to: connection) }
            askCluster(for: connection) { answered in
                cluster.who(inRoom: Names.key(room.name)) { [weak self] everyone in
                    self?.replyWho(room.name, everyone ?? local, to: connection)
                    answered()
                }
            }
        case .msg(let target, let message):
            privateMessage(message, from: connection, to: target)
        case .me(let action):
            guard let room = connection.room else { return }
            let text = Wire.action(connection.nick, action)
            let line = SharedBuffer(text)
            fanOut(line, in: room, except: connection)
            room.record(line)
            cluster?.say(text, inRoom: Names.key(room.name))
        case .join(let name):
            join(connection, roomNamed: name)
        case .rooms:
            let local = rooms.values.map { (name: $0.name, count: $0.members.count) }
            guard let cluster, cluster.isUp else { return replyRooms(local, to: connection) }
            askCluster(for: connection) { answered in
                cluster.rooms { [weak self] everywhere in
                    self?.replyRooms(everywhere ?? local, to: connection)
                    answered()
                }
            }
        case .help:
            var text = Wire.notice("commands:")
            for (usage, summary) in Command.helpLines { text += Wire.notice("  \(usage) - \(summary)") }
            send(text, to: connection)
        case .quit(let reason):
            send(Wire.notice("goodbye, \(connection.nick)"), to: connection)
            beginDrain(connection, reason: reason.map { "quit: \($0)" } ?? "quit")
        case .invalid(let problem):
            send(Wire.error(problem), to: connection)
        }
    }

    // MARK: Chat

    private func say(_ text: String, from connection: ClientConnection) {
        guard let room = connection.room else { return }
        let wire = Wire.chat(from: connection.nick, text)
        let line = SharedBuffer(wire)
        fanOut(line, in: room, except: connection)
        room.record(line)
        cluster?.say(wire, inRoom: Names.key(room.name))
        configuration.onMessage?(ChatMessage(room: room.name, nick: connection.nick, text: text))
    }

    private func privateMessage(_ text: String, from sender: ClientConnection, to target: String) {
        guard let receiver = nicks[Names.key(target)] else {
            if let cluster { return privateMessageElsewhere(text, from: sender, to: target, through: cluster) }
            send(Wire.error("no such nick \(target), try /who or /rooms"), to: sender)
            return
        }
        let line = SharedBuffer(Wire.privateMessage(from: sender.nick, to: receiver.nick, text))
        enqueue(line, to: receiver)
        if receiver !== sender { enqueue(line, to: sender) }
    }

    private func changeNick(of connection: ClientConnection, to name: String) {
        if let problem = Names.nickProblem(name) {
            send(Wire.error("cannot change nick: \(problem)"), to: connection)
            return
        }
        let key = Names.key(name)
        if let owner = nicks[key] ?? nicksBeingClaimed[key], owner !== connection {
            send(Wire.error("nick \(nicks[key]?.nick ?? name) is taken; choose another"), to: connection)
            return
        }
        if name == connection.nick {
            send(Wire.notice("you are already \(name)"), to: connection)
            return
        }
        if let cluster, cluster.isUp, key != Names.key(connection.nick) {
            return claimNick(name, for: connection, through: cluster)
        }
        rename(connection, to: name)
        send(Wire.notice("you are now known as \(name)"), to: connection)
    }

    /// Gives the connection a new nick (already checked and claimed) and tells its room.
    func rename(_ connection: ClientConnection, to name: String) {
        let old = connection.nick
        let oldKey = Names.key(old)
        if nicks[oldKey] === connection {
            nicks.removeValue(forKey: oldKey)
            if oldKey != Names.key(name) { cluster?.release(oldKey) }
        }
        nicks[Names.key(name)] = connection
        connection.nick = name
        if let room = connection.room {
            cluster?.left(nick: old, roomKey: Names.key(room.name), lastHere: false)
            cluster?.entered(nick: name, roomKey: Names.key(room.name), roomName: room.name)
            announce("\(old) is now known as \(name)", in: room, except: connection)
        }
    }

    private func join(_ connection: ClientConnection, roomNamed name: String) {
        if let problem = Names.roomProblem(name) {
            send(Wire.error("cannot join: \(problem)"), to: connection)
            return
        }
        if let current = connection.room, Names.key(current.name) == Names.key(name) {
            send(Wire.error("you are already in \(current.name)"), to: connection)
            return
        }
        leaveRoom(connection, announcing: "left \(connection.room?.name ?? "") (joined \(name))")
        enter(connection, roomNamed: name)
    }

    private func enter(_ connection: ClientConnection, roomNamed name: String) {
        guard let cluster, cluster.isUp else { return enterNow(connection, roomNamed: name) {} }
        // In a cluster, the room's channel must be subscribed before the newcomer is told
        // "you joined" (at once when this server already has it), or lines other servers
        // publish meanwhile would miss them.
        askCluster(for: connection) { answered in
            cluster.whenSubscribed(toRoom: Names.key(name)) { [weak self] in
                guard let self, connection.state == .open, connection.pendingCloseReason == nil, connection.room == nil else {
                    if let self, self.rooms[Names.key(name)] == nil { cluster.roomUnused(Names.key(name)) }
                    return answered()
                }
                self.enterNow(connection, roomNamed: name, then: answered)
            }
        }
    }

    /// Puts the connection in the room, tells everyone, replays the history; `done` once the
    /// history is out (it may come from the cluster).
    private func enterNow(_ connection: ClientConnection, roomNamed name: String, then done: @escaping () -> Void) {
        let key = Names.key(name)
        let room: Room
        if let existing = rooms[key] {
            room = existing
        } else {
            room = Room(name: name, historyLength: configuration.historyLength)
            rooms[key] = room
        }
        announce("\(connection.nick) joined \(room.name)", in: room, except: nil)
        room.add(connection)
        connection.room = room
        cluster?.entered(nick: connection.nick, roomKey: key, roomName: room.name)
        let others = room.members.count - 1
        let here = cluster == nil ? "here" : "on this server"  // /who counts the whole cluster
        send(Wire.notice("you joined \(room.name) (\(others) other\(others == 1 ? "" : "s") \(here))"), to: connection)
        guard let cluster, cluster.isUp else {
            replayHistory(room.recentHistory.map(\.string), to: connection)
            return done()
        }
        // The room's history across the cluster (lines said on other servers before anyone
        // here was in the room); this server's own when the link cannot answer.
        cluster.history(ofRoom: key) { [weak self] shared in
            if connection.room === room { self?.replayHistory(shared ?? room.recentHistory.map(\.string), to: connection) }
            done()
        }
    }

    /// Replays the newest lines that fit in a quarter of the output cap, so that a long
    /// history can never get a newcomer dropped as "not reading".
    func replayHistory(_ lines: [String], to connection: ClientConnection) {
        var budget = configuration.maxQueueBytes / 4
        var replayed: [String] = []
        for line in lines.reversed() {
            let text = Wire.history(line)
            budget -= text.utf8.count
            if budget < 0 { break }
            replayed.append(text)
        }
        if !replayed.isEmpty { send(replayed.reversed().joined(), to: connection) }
    }

    /// `items` joined, cut short with "… and N more" so that one reply stays well under the
    /// output cap however many people or rooms there are.
    func listing(_ items: [String], separator: String) -> String {
        let budget = min(16 * 1024, configuration.maxQueueBytes / 4)
        var text = ""
        for (index, item) in items.enumerated() {
            if text.utf8.count + item.utf8.count + separator.utf8.count > budget {
                return text + separator + "... and \(items.count - index) more"
            }
            text += index == 0 ? item : separator + item
        }
        return text
    }

    /// Takes the connection out of its room; the others see `* nick <what>`.
    private func leaveRoom(_ connection: ClientConnection, announcing what: String?) {
        guard let room = connection.room else { return }
        room.remove(connection)
        connection.room = nil
        cluster?.left(nick: connection.nick, roomKey: Names.key(room.name), lastHere: room.isEmpty)
        if let what { announce("\(connection.nick) \(what)", in: room, except: nil) }
        if room.isEmpty && room.name != ChatServer.lobby { rooms.removeValue(forKey: Names.key(room.name)) }
    }

    // MARK: Output

    func send(_ text: String, to connection: ClientConnection) {
        enqueue(SharedBuffer(text), to: connection)
    }

    /// A presence notice (join, leave, nick change) for the room. Rooms larger than
    /// `announceLimit` stay quiet: announcing every arrival to everyone costs O(members²) and
    /// would fill the queues of people who only listen.
    func announce(_ text: String, in room: Room, except sender: ClientConnection?) {
        let limit = configuration.announceLimit
        guard limit == 0 || room.members.count <= limit else { return }
        let line = Wire.notice(text)
        fanOut(SharedBuffer(line), in: room, except: sender)
        cluster?.announce(line, inRoom: Names.key(room.name))
    }

    func fanOut(_ line: SharedBuffer, in room: Room, except sender: ClientConnection?) {
        // The hottest loop of the server (N appends per line): walk the members without
        // retaining each one. Safe because nothing leaves `room.members` during a fan-out
        // (a member that fails is only doomed, and detached later in settle()).
        room.members.withUnsafeBufferPointer { members in
            for index in members.indices {
                Unmanaged.passUnretained(members[index])._withUnsafeGuaranteedRef { member in
                    if member !== sender { enqueue(line, to: member) }
                }
            }
        }
    }

    func enqueue(_ line: SharedBuffer, to connection: ClientConnection) {
        guard connection.state != .closed, connection.pendingCloseReason == nil else { return }
        // The connection owns its queue: no retain of it per line.
        let queued = Unmanaged.passUnretained(connection.output)._withUnsafeGuaranteedRef { $0.append(line) }
        if queued > configuration.maxQueueBytes && !flushedBelowCap(connection) {
            counters.slowReadersDropped.add(1, ordering: .relaxed)
            doom(connection, reason: "disconnected: not reading (over \(configuration.maxQueueBytes) bytes queued)")
            return
        }
        if !connection.isDirty {
            connection.isDirty = true
            dirty.append(connection)
        }
    }

    /// A queue passed the cap, maybe only because one big read's worth of lines was relayed
    /// before the end-of-iteration flush: write now, and call the client slow only if its socket
    /// does not take enough. Only for open connections (a draining one would be released, which
    /// must not happen during a fan-out; it gets nothing new from rooms anyway).
    private func flushedBelowCap(_ connection: ClientConnection) -> Bool {
        guard connection.state == .open else { return false }
        flush(connection)
        return connection.pendingCloseReason == nil && connection.output.queuedBytes <= configuration.maxQueueBytes
    }

    private func flush(_ connection: ClientConnection) {
        guard connection.state != .closed, connection.pendingCloseReason == nil else { return }
        switch connection.output.flush(to: connection.fd, iovecs: iovecs, scratch: flushScratch) {
        case .drained:
            if connection.state == .draining {
                release(connection, reason: connection.pendingCloseReasonOrDrain)
                return
            }
            if connection.wantsWrite {
                connection.wantsWrite = false
                updateInterest(connection)
            }
        case .pending:
            if !connection.wantsWrite {
                connection.wantsWrite = true
                updateInterest(connection)
            }
        case .failed(let error):
            doom(connection, reason: ChatServer.reason(for: error))
        }
    }

    // MARK: Closing

    /// Marks a connection to be closed at the end of this iteration. Safe during a fan-out.
    private func doom(_ connection: ClientConnection, reason: String) {
        guard connection.state != .closed, connection.pendingCloseReason == nil else { return }
        connection.pendingCloseReason = reason
        closing.append(connection)
    }

    /// The client is leaving (quit, EOF): it leaves its room now, and its socket closes once
    /// what is queued for it has been written (or after the grace period).
    private func beginDrain(_ connection: ClientConnection, reason: String) {
        guard connection.state == .open, connection.pendingCloseReason == nil else { return }
        detach(connection, reason: reason, announce: true)
        connection.state = .draining
        connection.drainReason = reason
        connection.wantsWrite = true
        updateInterest(connection)
        if !connection.isDirty {
            connection.isDirty = true
            dirty.append(connection)
        }
        loop.schedule(after: Int64(max(configuration.shutdownGraceMilliseconds, 1000))) { [weak self] in
            if connection.state == .draining { self?.release(connection, reason: reason + " (output not flushed)") }
        }
    }

    /// Removes the connection from its room and frees its nick.
    private func detach(_ connection: ClientConnection, reason: String, announce: Bool) {
        leaveRoom(connection, announcing: announce ? "left (\(reason))" : nil)
        let key = Names.key(connection.nick)
        if nicks[key] === connection {
            nicks.removeValue(forKey: key)
            cluster?.release(key)
        }
    }

    /// Closes the socket and forgets the connection.
    private func release(_ connection: ClientConnection, reason: String) {
        guard connection.state != .closed else { return }
        detach(connection, reason: reason, announce: false)
        loop.unregister(connection.fd)
        Sys.close(connection.fd)
        connection.state = .closed
        connection.output.removeAll()
        connections[Int(connection.fd)] = nil
        connectionCount -= 1
        counters.connections.subtract(1, ordering: .relaxed)
        if let count = connectionsPerHost[connection.host] {
            connectionsPerHost[connection.host] = count > 1 ? count - 1 : nil
        }
        log(.info, "disconnect \(connection.address) \(connection.nick): \(reason)")
        if shuttingDown && connectionCount == 0 { loop.stop() }
    }

    private func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        log(.info, "shutting down (\(connectionCount) clients)")
        if listenerFD >= 0 && !acceptPaused { acceptPending() }  // the backlog hears why, too
        closeListener()
        let goodbye = SharedBuffer(Wire.notice("server shutting down, goodbye"))
        for connection in connections.compactMap({ $0 }) where connection.state == .open && connection.pendingCloseReason == nil {
            if let room = connection.room {  // people here leave anyway; people elsewhere are told
                cluster?.announce(Wire.notice("\(connection.nick) left (server shutting down)"), inRoom: Names.key(room.name))
            }
            detach(connection, reason: "server shutting down", announce: false)
            enqueue(goodbye, to: connection)
            connection.state = .draining
            connection.drainReason = "server shutting down"
            connection.wantsWrite = true
            updateInterest(connection)
        }
        if connectionCount == 0 {
            loop.stop()
            return
        }
        loop.schedule(after: Int64(configuration.shutdownGraceMilliseconds)) { [weak self] in
            guard let self else { return }
            for connection in connections.compactMap({ $0 }) {
                release(connection, reason: "server shutting down (output not flushed in time)")
            }
            loop.stop()
        }
    }

    private func closeListener() {
        guard listenerFD >= 0 else { return }
        if !acceptPaused { loop.unregister(listenerFD) }
        Sys.close(listenerFD)
        listenerFD = -1
    }

    // MARK: Helpers

    static func reason(for error: SystemError) -> String {
        switch error.code {
        case ECONNRESET: return "connection reset by peer"
        case EPIPE: return "connection closed by peer"
        case ETIMEDOUT: return "connection timed out"
        default: return error.description
        }
    }

    private func log(_ level: LogLevel, _ message: String) {
        configuration.log?(level, message)
    }
}
