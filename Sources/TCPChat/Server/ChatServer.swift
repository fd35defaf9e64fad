// The room server's public front: configuration, threading, and the wiring of its layers.
// A line's path, top to bottom:
//   Acceptor (caps) → Connections: socket readable → one shared read buffer → the
//   connection's LineFramer (flood control) → ChatServer hands the line to the connection's
//   codec → the codec's intents → ChatCore (the rules) → events, encoded once per codec for a
//   room → one SharedBuffer appended to each member's bounded OutputQueue → at the end of the
//   loop iteration Connections.settle() closes what failed and flushes with writev.
//
// Threading: one loop thread owns every socket and all chat state. `stop()`, `broadcast(...)`,
// `port`, `address` and `statistics` may be used from any thread; everything else runs on
// the loop thread.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TCPChatCore
import TCPChatNet

public enum ChatServerError: Error, CustomStringConvertible, Sendable {
    case invalidConfiguration(String)
    case socket(SocketError)
    case system(SystemError)
    /// `run()` or `start()` was called on a server that already runs or has run.
    case alreadyStarted
    /// Called from one of this server's own callbacks, where it cannot work (serving, waiting
    /// for or destroying the server whose loop is running the callback).
    case calledFromCallback

    public var description: String {
        switch self {
        case .invalidConfiguration(let problem): return "invalid configuration: \(problem)"
        case .socket(let error): return error.description
        case .system(let error): return error.description
        case .alreadyStarted: return "the server was already started"
        case .calledFromCallback: return "called from one of the server's own callbacks (serve, wait and destroy only from outside them)"
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
    /// The thread that drives the loop (0 until serving starts).
    private let loopThreadID = Atomic<UInt>(0)
    /// Whether host calls from other threads can be run by the loop (HostControl.swift).
    let servingState = Mutex<ServingState>(.notYet)

    // Loop thread only.
    let core: ChatCore
    private let acceptor: Acceptor
    /// TLS (Transport/TLS): the TLS listener and the context new connections use (swapped by
    /// `reloadTLS`, from any thread).
    private let tlsAcceptor: Acceptor?
    private let tlsContext = Mutex<TLSContext?>(nil)
    private let boundTLSPort = Atomic<Int>(-1)
    private let boundTLSAddress = Mutex<SocketAddress?>(nil)
    private let connections: Connections
    private let lineCodec: LineCodec
    private let lineSlot: Int
    private let ircCodec: IRCCodec
    private let ircSlot: Int
    private var cluster: ClusterLink?
    /// Accounts (issue 20): the SQLite store, whose worker thread runs while the server serves.
    private var accountStore: SQLiteAccountStore?
    /// Accounts in a cluster: the Redis store, whose KDF worker runs while the server serves.
    private var clusterAccountStore: RedisAccountStore?
    private var shuttingDown = false
    private var finished = false     // serving ended: sockets closed, "stopped" logged
    private var hostDriven = false   // served by serveOnce calls, not run/start
    private var deadlineSweep: EventLoop.TimerID?
    /// The loop thread is inside `iterate` (so inside a callback, when a host's code runs).
    private(set) var iterating = false
    /// Connection ids: the last one given.
    private var lastConnectionID: UInt64 = 0
    /// The descriptors of open connections, by id (HostControl; their sessions are the
    /// connections').
    private var connectionIDs = ConnectionIDs()
    /// With a password: line-protocol connections whose first line must still be `/pass
    /// SECRET`, by id (bounded by the connections: an entry leaves when its connection closes).
    /// Unchecked exclusivity: read for every line (received), loop thread only, never accessed
    /// reentrantly.
    @exclusivity(unchecked) private var awaitingPassword: Set<UInt64> = []
    /// Connections waiting for their first line to tell their protocol, with the time when the
    /// line protocol is decided for them, in the order they began waiting: by deadline, the
    /// delay being the same for all. One timer, for the earliest (issue 19, memory per idle
    /// connection: a timer per connection cost ~40 bytes each, its closure and its entries in
    /// the timer heap, kept at the peak of a burst of connections). An entry whose connection
    /// stopped waiting (`detecting` false) is skipped when its time comes; the array is let go
    /// when it empties, so it is bounded by the connections accepted within one delay.
    private var detectionQueue: [(deadline: Int64, connection: Connection)] = []
    private var detectionHead = 0
    private var detectionTimer: EventLoop.TimerID?

    public init(configuration: ChatServerConfiguration) throws(ChatServerError) {
        if let problem = configuration.problem() { throw .invalidConfiguration(problem) }
        self.configuration = configuration
        do { loop = try EventLoop() } catch { throw .system(error) }
        var settings = CoreSettings()
        settings.historyLength = configuration.historyLength
        settings.announceLimit = configuration.announceLimit
        settings.permanentRooms = [LineCodec.lobby]
        let log = configuration.log
        settings.log = log.map { log in { level, message in log(level, message) } }
        settings.onMessage = configuration.onMessage.map { onMessage in { message in onMessage(message) } }
        settings.onEvent = configuration.onEvent.map { onEvent in { event in onEvent(event) } }
        // What the host's filter writes is cleaned as a client's line is (no escapes, no controls).
        settings.filter = configuration.filter.map { filter in
            { event in
                switch filter(event) {
                case .replace(let text): return .replace(TextSanitizer.strip(text))
                case .reject(let reason): return .reject(TextSanitizer.strip(reason))
                case let verdict: return verdict
                }
            }
        }
        core = ChatCore(settings: settings)
        lineCodec = LineCodec(fallbackEncoding: configuration.fallbackEncoding, maxQueueBytes: configuration.maxQueueBytes)
        lineSlot = core.register(encoder: lineCodec)
        ircCodec = IRCCodec(serverName: configuration.ircServerName, operators: configuration.ircOperators,
                            password: configuration.password)
        ircSlot = core.register(encoder: ircCodec)
        acceptor = Acceptor(loop: loop, counters: counters)
        if let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile {
            let context: TLSContext
            do { context = try TLSContext.server(certificateFile: certificate, keyFile: key) } catch {
                throw .invalidConfiguration("TLS: \(error)")
            }
            tlsContext.withLock { $0 = context }
            tlsAcceptor = Acceptor(loop: loop, counters: counters, secure: true)
        } else {
            tlsAcceptor = nil
        }
        connections = Connections(loop: loop, settings: ConnectionSettings(
            maxLineBytes: configuration.maxLineBytes, maxQueueBytes: configuration.maxQueueBytes,
            softQueueBytes: min(configuration.softQueueBytes, configuration.maxQueueBytes),
            softQueueMilliseconds: Int64((configuration.softQueueSeconds * 1000).rounded()),
            linesPerSecond: configuration.linesPerSecond, burstLines: configuration.burstLines,
            firstLineTimeoutSeconds: configuration.firstLineTimeoutSeconds,
            idleTimeoutSeconds: configuration.idleTimeoutSeconds,
            shutdownGraceMilliseconds: configuration.shutdownGraceMilliseconds,
            tlsHandshakeMilliseconds: configuration.tlsHandshakeTimeoutMilliseconds), counters: counters)
        loop.diagnostics = { message in log?(.error, message) }
        acceptor.handler = self
        tlsAcceptor?.handler = self
        connections.handler = self
        if let clusterConfiguration = configuration.cluster {
            let link = try makeClusterLink(clusterConfiguration)
            cluster = link
            core.cluster = link
            connections.readsWhileFlushing = false
        }
        if let path = configuration.accountsPath {
            let store = try SQLiteAccountStore(path: path, parameters: ScryptParameters(cost: configuration.scryptCost),
                                               queueLimit: configuration.accountQueueLimit, loop: loop, log: log)
            accountStore = store
            core.accounts = AccountService(settings: accountSettings(store: store), core: core)
            log?(.info, "accounts in \(path)")
        }
        if configuration.clusterAccounts, let cluster {
            let store = RedisAccountStore(link: cluster, parameters: ScryptParameters(cost: configuration.scryptCost),
                                          queueLimit: configuration.accountQueueLimit, loop: loop, log: log)
            clusterAccountStore = store
            var settings = accountSettings(store: store)
            settings.claimNick = { [weak cluster] nick, done in
                guard let cluster else { return done(.linkDown) }
                cluster.claim(Names.skeleton(nick), nick: nick, done)
            }
            settings.takeOverNick = { [weak cluster] nick, ghost, done in
                guard let cluster else { return done(nil) }
                cluster.takeOver(nick, by: ghost, done)
            }
            cluster.onGhost = { [weak core] key, ghost in
                guard let core, let holder = core.person(withKey: key) else { return }
                core.disconnect(holder, reason: "ghosted by \(ghost)")
            }
            core.accounts = AccountService(settings: settings, core: core)
            log?(.info, "accounts in the cluster's Redis")
        }
    }

    /// The rules of the accounts, as the configuration sets them.
    private func accountSettings(store: any AccountStore) -> AccountSettings {
        let loop = loop
        var settings = AccountSettings(
            store: store,
            schedule: { [weak loop] milliseconds, action in
                guard let timer = loop?.schedule(after: milliseconds, action) else { return {} }
                return { [weak loop] in loop?.cancel(timer) }
            },
            now: {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
            },
            monotonic: { monotonicMilliseconds() })
        settings.graceMilliseconds = Int64(configuration.nickGraceMilliseconds)
        settings.registrationsPerHour = configuration.registrationsPerHour
        settings.maxAddresses = configuration.accountAddressLimit
        let anywhere = configuration.allowPlaintextPasswords
        let local = configuration.plaintextPasswordNetworks.compactMap(NetworkPrefix.init)
        settings.mayReceivePasswords = { session in
            guard let connection = session as? Connection else { return true }
            return anywhere || connection.tls != nil || local.contains { $0.contains(connection.host) }
        }
        // IPv6 peers by their /64 (one subscriber's usual share), so a host cannot multiply
        // its guesses and registrations by changing its low 64 bits.
        settings.address = { session in NetworkPrefix.limitKey((session as? Connection)?.host ?? session.label) }
        return settings
    }

    deinit {
        acceptor.close()
        tlsAcceptor?.close()
    }

    // MARK: Public, any thread

    /// The bound port, or -1 before `bind()`: the plaintext listener's (with
    /// `plaintextListener` off, the TLS listener's).
    public var port: Int { boundPort.load(ordering: .acquiring) }

    /// The TLS listener's port, or -1 before `bind()` and without TLS. Any thread.
    public var tlsPort: Int { boundTLSPort.load(ordering: .acquiring) }

    /// The TLS listener's address, or nil before `bind()` and without TLS. Any thread.
    public var tlsAddress: SocketAddress? { boundTLSAddress.withLock { $0 } }

    /// Loads the TLS certificate chain and key again from the files the configuration names
    /// (e.g. renewed by Let's Encrypt): connections made from now on use them, the open ones
    /// keep theirs. When a file is missing or bad, the server keeps the old ones and this throws
    /// why (`invalidConfiguration`). Loading happens on the calling thread; any thread (the
    /// tcpchat-server program calls it on SIGHUP; the library installs no signal handler).
    public func reloadTLS() throws(ChatServerError) {
        guard let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile else {
            throw .invalidConfiguration("TLS is not configured: nothing to reload")
        }
        let context: TLSContext
        do { context = try TLSContext.server(certificateFile: certificate, keyFile: key) } catch {
            log(.error, "TLS reload failed, keeping the certificate in use: \(error)")
            throw .invalidConfiguration("TLS reload: \(error)")
        }
        tlsContext.withLock { $0 = context }
        log(.info, "TLS certificate reloaded from \(certificate)")
    }

    /// What the server has done so far. Any thread.
    public var statistics: ServerStatistics { counters.snapshot }

    /// The bound address, or nil before `bind()`.
    public var address: SocketAddress? { boundAddress.withLock { $0 } }

    /// Binds and listens. Called by `run()` and `start()` when not called before; calling it
    /// first lets a program learn the port, or fail on a port in use, before serving.
    public func bind() throws(ChatServerError) {
        if boundPort.load(ordering: .acquiring) >= 0 { return }
        var address: SocketAddress?
        if configuration.plaintextListener {
            address = try acceptor.listen(host: configuration.host, port: configuration.port)
            log(.info, "listening on \(address!)")
        }
        if let tlsAcceptor {
            let tlsAddress = try tlsAcceptor.listen(host: configuration.host, port: configuration.tlsPort)
            boundTLSAddress.withLock { $0 = tlsAddress }
            boundTLSPort.store(tlsAddress.port, ordering: .releasing)
            core.accounts?.settings.tlsPort = tlsAddress.port
            log(.info, "listening on \(tlsAddress) (TLS)")
            if address == nil { address = tlsAddress }
        }
        guard let address else { throw .invalidConfiguration("no listener: the plaintext one is off and TLS is not configured") }
        boundAddress.withLock { $0 = address }
        boundPort.store(address.port, ordering: .releasing)
    }

    /// Serves on the calling thread until `stop()`. A server runs once.
    public func run() throws(ChatServerError) {
        try refuseFromCallback()
        try claim()
        serve()
    }

    /// Binds and serves on a thread of its own; returns once the server listens.
    public func start() throws(ChatServerError) {
        try refuseFromCallback()
        try claim()
        do {
            let thread = try LoopThread.start { self.serve() }
            loopThread.withLock { $0 = thread }
        } catch {
            throw .system(error)
        }
    }

    private func claim() throws(ChatServerError) {
        try bind()
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            throw .alreadyStarted
        }
    }

    /// True when the calling thread is this server's loop thread, inside one of its callbacks.
    public var isInCallback: Bool {
        let id = loopThreadID.load(ordering: .acquiring)
        return id != 0 && id == UInt(bitPattern: Int(bitPattern: pthread_self())) && iterating
    }

    /// True when the calling thread drives the loop (in a callback, or between host-driven polls).
    var isOnLoopThread: Bool {
        let id = loopThreadID.load(ordering: .acquiring)
        return id != 0 && id == UInt(bitPattern: Int(bitPattern: pthread_self()))
    }

    /// Throws `calledFromCallback` on this server's loop thread, inside a callback.
    func refuseFromCallback() throws(ChatServerError) {
        if isInCallback { throw .calledFromCallback }
    }

    private func markLoopThread() {
        loopThreadID.store(UInt(bitPattern: Int(bitPattern: pthread_self())), ordering: .releasing)
        servingState.withLock { if $0 == .notYet { $0 = .serving } }
    }

    /// Waits for the thread `start()` made to finish (after `stop()`). From one of the server's
    /// own callbacks it returns at once (the loop thread would wait for itself; `isInCallback`).
    public func wait() {
        if isInCallback { return }
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
            self?.core.broadcast(notice: TextSanitizer.strip(text), room: room)
        }
    }

    // MARK: The loop

    private func serve() {
        markLoopThread()
        beginServing()
        while iterate(timeoutMilliseconds: -1) {}
    }

    private func beginServing() {
        cluster?.start()
        if let accountStore {
            do { try accountStore.start() } catch {
                log(.error, "accounts: cannot start the account worker (\(error)); account commands will answer \"server busy\"")
            }
        }
        if let clusterAccountStore {
            do { try clusterAccountStore.start() } catch {
                log(.error, "accounts: cannot start the account worker (\(error)); account commands will answer \"server busy\"")
            }
        }
        if configuration.idleTimeoutSeconds > 0 || configuration.firstLineTimeoutSeconds > 0 {
            scheduleDeadlineSweep()
        }
    }

    /// One turn of the loop. Once the loop has stopped it finishes serving and returns false.
    private func iterate(timeoutMilliseconds: Int32) -> Bool {
        if !loop.isStopped {
            iterating = true
            loop.poll(timeoutMilliseconds: timeoutMilliseconds)
            settle()
            iterating = false
        }
        if !loop.isStopped { return true }
        if !finished { finishServing() }
        return false
    }

    /// Closes what must close and flushes what was written to, until nothing is left to do.
    func settle() {
        repeat {
            // What this iteration told the cluster, in one write, before the clients hear of
            // it: a line reaches Redis before its sender's next action can.
            cluster?.flush()
            connections.settle()
        } while connections.hasWork
        cluster?.flush()  // what closing connections told it (a leave, a released nick)
    }

    private func finishServing() {
        finished = true
        cluster?.stop(nicks: Array(core.nicks.keys))
        connections.releaseAll(reason: "server stopped")
        acceptor.close()
        tlsAcceptor?.close()
        core.accounts?.close()  // the account worker finishes its job and is joined
        loop.cancelAllTimers()  // their actions hold the server: left behind, they would leak it
        detectionTimer = nil
        detectionQueue = []
        detectionHead = 0
        // Host calls queued from other threads wait for their answer: run the ones queued
        // before serving ended (none can be queued after).
        servingState.withLock { $0 = .finished }
        iterating = true
        loop.poll(timeoutMilliseconds: 0)
        iterating = false
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
        try refuseFromCallback()
        if !hostDriven {
            try claim()
            hostDriven = true
            markLoopThread()
            beginServing()
        }
        return iterate(timeoutMilliseconds: timeoutMilliseconds)
    }

    // MARK: Deadlines

    /// Once a second while deadlines are configured: drops clients past them.
    private func scheduleDeadlineSweep() {
        deadlineSweep = loop.schedule(after: 1000) { [weak self] in
            guard let self, !self.shuttingDown else { return }
            connections.sweepDeadlines { connection, error in connection.send(.error(error)) }
            settle()
            scheduleDeadlineSweep()
        }
    }

    // MARK: Stopping

    private func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        log(.info, "shutting down (\(connections.count) clients)")
        if acceptor.isListening { acceptor.acceptPending() }  // the backlog hears why, too
        acceptor.close()
        tlsAcceptor?.close()
        if let timer = deadlineSweep { loop.cancel(timer) }
        core.shutDown()
        connections.drainAll(reason: "server shutting down")
        if connections.count == 0 {
            loop.stop()
            return
        }
        loop.schedule(after: Int64(configuration.shutdownGraceMilliseconds)) { [weak self] in
            guard let self else { return }
            connections.releaseAll(reason: "server shutting down (output not flushed in time)")
            loop.stop()
        }
    }

    func log(_ level: LogLevel, _ message: String) {
        configuration.log?(level, message)
    }
}

// MARK: Accepting

extension ChatServer: AcceptorHandler {
    func refusal(forConnectionFrom host: String, peer: String) -> ChatError? {
        let perAddress = configuration.maxConnectionsPerAddress
        if shuttingDown { return .shuttingDown }
        if let accept = configuration.acceptConnection, let reason = accept(peer) {
            log(.info, "refused \(peer): \(reason)")
            return .refused(reason)
        }
        if connections.count >= configuration.maxClients {
            log(.warning, "refused \(peer): server full (\(configuration.maxClients) clients)")
            return .serverFull(configuration.maxClients)
        }
        if perAddress > 0 && connections.connections(from: host) >= perAddress {
            log(.warning, "refused \(peer): \(perAddress) connections from \(host) already")
            return .tooManyFromAddress(perAddress)
        }
        return nil
    }

    /// Before a connection has spoken, the server cannot know its protocol: refusals are in
    /// the line protocol, which any client shows as text.
    func refusalLine(_ error: ChatError) -> String {
        lineCodec.render(.error(error)) ?? ""
    }

    func admit(_ fd: Int32, peer: String, host: String, secure: Bool) {
        var tls: TLSSession?
        if secure {
            guard let context = tlsContext.withLock({ $0 }), let session = TLSSession(context: context, fd: fd, server: true) else {
                log(.error, "cannot start TLS for \(peer): out of memory")
                Sys.close(fd)
                return
            }
            tls = session
        }
        guard let connection = connections.adopt(fd, address: peer, host: host, shared: core.sharedEncoder(slot: lineSlot),
                                                 slot: lineSlot, tls: tls) else {
            log(.error, "cannot watch \(peer): epoll refused it")
            return
        }
        // Until its first line (or the detection delay) the connection's session (the
        // connection itself) speaks the line protocol and is not registered: it is in no room
        // and has no nick, and errors (a line too long, a deadline) reach it in the line
        // protocol.
        lastConnectionID += 1
        connection.id = lastConnectionID
        connection.hasSession = true
        connectionIDs.add(connection.id, fd: fd)
        configuration.onEvent?(HostEvent(kind: .connected, id: connection.id, address: peer, nick: ""))
        // A TLS connection says its first line once its handshake is done (secured).
        if !secure { beginDetection(of: connection) }
    }

    /// The session of open connection `id` (HostControl).
    func session(ofConnection id: UInt64) -> ChatSession? {
        guard let fd = connectionIDs.fd(of: id), let connection = connections.connection(fd),
              connection.hasSession, connection.id == id else { return nil }
        return connection
    }

    /// Waits for the first line to tell the protocol (IRC or the line protocol).
    private func beginDetection(of connection: Connection) {
        let delay = configuration.ircDetectionMilliseconds
        guard delay > 0 else { return decideProtocol(of: connection, irc: false) }
        connection.detecting = true
        connection.awaitingFirstLine = true
        // The connection is held strongly, not weakly: a weak reference gives the object a side
        // table for the rest of its life (issue 19: memory per idle connection), which
        // LeakSanitizer also takes for a leak when the process exits with it alive
        // (llvm/llvm-project#56751). It is held one delay at most.
        detectionQueue.append((monotonicMilliseconds() + Int64(delay), connection))
        if detectionTimer == nil { scheduleDetection() }
    }

    /// Schedules the one detection timer for the earliest connection still waiting, or lets the
    /// queue go when none is.
    private func scheduleDetection() {
        while detectionHead < detectionQueue.count && !detectionQueue[detectionHead].connection.detecting {
            detectionHead += 1
        }
        guard detectionHead < detectionQueue.count else {
            detectionQueue = []
            detectionHead = 0
            return
        }
        let wait = max(0, detectionQueue[detectionHead].deadline - monotonicMilliseconds())
        detectionTimer = loop.schedule(after: wait) { [weak self] in
            guard let self else { return }
            detectionTimer = nil
            detectionsDue()
        }
    }

    /// The connections whose delay is over and that sent no first line speak the line protocol.
    private func detectionsDue() {
        let now = monotonicMilliseconds()
        while detectionHead < detectionQueue.count && detectionQueue[detectionHead].deadline <= now {
            let connection = detectionQueue[detectionHead].connection
            detectionHead += 1
            guard connection.detecting && connection.isOpen else { continue }
            decideProtocol(of: connection, irc: false)
            settle()  // its welcome goes out now: a burst's welcomes are not all held at once
        }
        if detectionHead >= 1024 && detectionHead * 2 >= detectionQueue.count {
            detectionQueue.removeFirst(detectionHead)
            detectionHead = 0
        }
        scheduleDetection()
    }

    /// The connection speaks IRC or the line protocol from now on: its codec opens its session
    /// (the line protocol's welcome and #lobby; IRC waits for NICK and USER).
    private func decideProtocol(of connection: Connection, irc: Bool) {
        connection.detecting = false  // its entry in detectionQueue is skipped
        if irc {
            // The same session object (the connection), the same id for the host; a guest of
            // the line protocol was detached first (received(line:on:)).
            connection.speak(shared: core.sharedEncoder(slot: ircSlot), slot: ircSlot)
            ircCodec.opened(connection, core: core)
            log(.info, "connect \(connection.address) (IRC)")
        } else if configuration.password != nil {
            awaitingPassword.insert(connection.id)  // welcomed once its /pass is right
        } else {
            lineCodec.opened(connection, core: core)
            log(.info, "connect \(connection.address) as \(connection.nick)")
        }
    }

    /// With a password, a line-protocol connection's first line: `/pass SECRET` welcomes it
    /// (the line is not chat); anything else gets an error line and the connection is closed.
    private func checkPassword(_ line: UnsafeRawBufferPointer, on connection: Connection) {
        awaitingPassword.remove(connection.id)
        var text = String(decoding: line, as: UTF8.self)
        while text.last == "\r" || text.last == " " { text.removeLast() }
        let word = text.prefix { $0 != " " }
        let given = word.lowercased() == "/pass" ? String(text.dropFirst(word.count + 1)) : nil
        if let given, let password = configuration.password, Secret.matches(given, password) {
            lineCodec.opened(connection, core: core)
            log(.info, "connect \(connection.address) as \(connection.nick)")
            return
        }
        let problem = given == nil
            ? "this server needs a password: send /pass PASSWORD as your first line (tcpchat --password, or TCPCHAT_PASSWORD)"
            : "wrong password: reconnect and send /pass with the right one"
        connection.enqueue(SharedBuffer(Wire.error(problem)))
        connection.finish(reason: given == nil ? "no password (/pass) given" : "wrong password (/pass)")
    }
}

// MARK: Connection events

extension ChatServer: ConnectionsHandler {
    func secured(_ connection: Connection, version: String, cipher: String) {
        log(.debug, "TLS \(connection.address): \(version) \(cipher)")
        beginDetection(of: connection)
    }

    func received(line: UnsafeRawBufferPointer, on connection: Connection) {
        if connection.awaitingFirstLine {
            connection.awaitingFirstLine = false
            if connection.tls == nil && line.count >= 3 && line[0] == 0x16 && line[1] == 0x03 {
                return refuseTLSHello(on: connection)
            }
            if connection.detecting {
                decideProtocol(of: connection, irc: IRCMessage.opensIRC(line))
            } else if configuration.ircDetectionMilliseconds > 0, IRCMessage.opensIRC(line) {
                // An IRC client slower than the detection delay: it was welcomed as a guest of
                // the line protocol (and ignored those lines); it leaves as a guest and goes on
                // as IRC.
                if awaitingPassword.remove(connection.id) == nil {
                    core.detach(connection, reason: "speaks IRC", announce: true)
                }
                decideProtocol(of: connection, irc: true)
            }
        }
        if !awaitingPassword.isEmpty, awaitingPassword.contains(connection.id) {
            return checkPassword(line, on: connection)
        }
        core.beginLines()  // ended by linesHandled, once the read's lines are handled
        let session: ChatSession = connection
        if session.encoderSlot == lineSlot {
            lineCodec.received(line: line, from: session, core: core)
        } else {
            codec(of: session).received(line: line, from: session, core: core)
        }
    }

    /// The codec of a connection's protocol: its session's encoder (the line protocol's until
    /// the first line shows it speaks IRC, decideProtocol). Told apart by the encoder's slot,
    /// so that a connection needs no reference of its own (issue 19, memory per idle
    /// connection) and a line-protocol line is handed to LineCodec without a dynamic call.
    private func codec(of session: ChatSession) -> any WireCodec {
        session.encoderSlot == ircSlot ? ircCodec : lineCodec
    }

    func linesHandled(on connection: Connection) {
        core.endLines()
    }

    /// A TLS client on the plaintext port (its first bytes are a TLS handshake record): one
    /// line says where TLS is, and it leaves without its hello being taken for chat.
    private func refuseTLSHello(on connection: Connection) {
        let port = tlsPort
        let hint = port >= 0 ? "connect with TLS to port \(port), or without TLS here" : "this server has no TLS listener; connect without TLS"
        connection.detecting = false  // no welcome, no room: it never spoke our protocol
        connection.send(.error(.refused("this port speaks plaintext, not TLS: \(hint)")))
        connections.startDraining(connection, reason: "disconnected: a TLS handshake on the plaintext port")
    }

    func receivedOverlongLine(on connection: Connection) {
        connection.send(.error(.lineTooLong(configuration.maxLineBytes)))
    }

    func queuedUnheld(_ lines: Int, to connection: Connection) {
        log(.warning, "\(lines) lines with no sender to hold back (cluster, broadcast) were queued to \(connection.address) \(connection.nick) above the soft mark; --max-queue bounds them")
    }

    func ending(_ connection: Connection, reason: String, announce: Bool) {
        core.detach(connection, reason: reason, announce: announce)
    }

    func closed(_ connection: Connection, reason: String) {
        let session: ChatSession = connection
        log(.info, "disconnect \(connection.address) \(session.nick): \(reason)")
        connection.detecting = false
        codec(of: session).closed(session)
        connectionIDs.remove(session.id)
        awaitingPassword.remove(session.id)
        configuration.onEvent?(HostEvent(kind: .disconnected, id: session.id, address: session.label, nick: session.nick,
                                         reason: reason))
        connection.hasSession = false  // let go: no longer the server's (session(ofConnection:))
        if shuttingDown && connections.count == 0 { loop.stop() }
    }
}

// MARK: Cluster

extension ChatServer {
    func makeClusterLink(_ settings: ClusterConfiguration) throws(ChatServerError) -> ClusterLink {
        // Resolved once, here, on the caller's thread: getaddrinfo may block, the loop must not.
        let candidates: [SocketAddress]
        do { candidates = try SocketAddress.resolve(host: settings.redis.host, port: settings.redis.port, passive: false) } catch {
            throw .invalidConfiguration("cluster address \(settings.redis): \(error)")
        }
        guard let address = candidates.first else {
            throw .invalidConfiguration("cluster address \(settings.redis): the host has no address")
        }
        let log = configuration.log
        return ClusterLink(configuration: settings, address: address, loop: loop, host: core,
                           maxLineBytes: configuration.maxLineBytes, historyLength: configuration.historyLength,
                           log: { level, message in log?(level, message) })
    }
}
