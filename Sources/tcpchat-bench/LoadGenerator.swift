// The load generator: one thread, one epoll set, every connection non-blocking.
//
// A run has four phases:
//   1. connect   — open every connection (slow readers first), a bounded number at a time,
//                  spread over the source addresses; send the first line, if any.
//   2. register  — one client sends probe lines until every reading client has received one:
//                  then the server knows them all, whatever its protocol (this is how we learn
//                  that NIO's asynchronous registration, or ncat's, has happened).
//   3. hold      — keep reading for a moment, then take the server's memory.
//   4. messages  — the senders send, flat out or paced; every reading client counts and times
//                  what it receives, until every message reached every receiver or nothing
//                  arrived for the idle timeout.
// Afterwards each slow reader is read to its end to learn whether the server dropped it.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import Synchronization
import TCPChat

final class BenchConnection {
    enum State { case waiting, connecting, open, closed }

    let index: Int
    let reads: Bool
    var fd: Int32 = -1
    var state = State.waiting
    /// The unfinished line of the last read.
    var carry: [UInt8] = []
    var seenProbe = false
    /// Bytes to send that the socket has not taken yet.
    var outbox = ByteQueue()
    var wantsWrite = false
    /// The server closed the connection (or reset it).
    var closedByServer = false
    /// --tls: the connection's TLS session, made once connected.
    var tls: TLSSession?

    init(index: Int, reads: Bool) {
        self.index = index
        self.reads = reads
    }
}

/// A growable byte buffer that is written at the end and consumed from the front.
struct ByteQueue {
    private(set) var storage = UnsafeMutableRawPointer.allocate(byteCount: 0, alignment: 1)
    private(set) var head = 0
    private(set) var tail = 0
    private var capacity = 0

    var isEmpty: Bool { head == tail }
    var pending: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: storage + head, count: tail - head) }

    /// Room for `count` more bytes at the end; returns where to write them.
    mutating func reserve(_ count: Int) -> UnsafeMutableRawPointer {
        if head == tail { head = 0; tail = 0 }
        if tail + count > capacity {
            let live = tail - head
            let newCapacity = max(4096, (live + count) * 2)
            let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 1)
            grown.copyMemory(from: storage + head, byteCount: live)
            storage.deallocate()
            storage = grown
            capacity = newCapacity
            head = 0
            tail = live
        }
        let at = storage + tail
        tail += count
        return at
    }

    mutating func consume(_ count: Int) { head += count }
}

final class LoadGenerator {
    let plan: LoadPlan
    private var connections: [BenchConnection] = []
    /// Client index of each sender.
    private let senderClients: [Int]
    private let epollFD: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity = 1024
    private let readBuffer: UnsafeMutableRawPointer
    private let readBufferSize = 256 * 1024

    // Connect phase.
    private var nextToConnect = 0
    private var connecting = 0
    private var established = 0
    private var failedConnects = 0
    private var firstConnectError: String?

    // Register phase.
    private var probeID: UInt32 = 0
    private var prober: BenchConnection?

    // Message phase.
    /// Behind a pointer: see DeliveryTally. Nil until the message phase.
    private var tally: UnsafeMutablePointer<DeliveryTally>?
    private var nextMessage = 0
    private var firstSendTime: UInt64 = 0
    private var lastProgressTime: UInt64 = 0
    private var messagePhase = false
    /// The message phase hit --max-seconds before every line was delivered.
    private var cutShort = false
    /// --threads: the other reader threads of the message phase (ReaderThread).
    private var readers: [ReaderThread] = []

    // Server memory.
    private var peakKiB: Int?
    private var lastMemorySample: UInt64 = 0

    private var lastProgressPrint: UInt64 = 0
    /// --tls: one client context for every connection (no verification).
    private let tlsContext: TLSContext?
    /// --tls: the handshakes made and the time they took in all (the connect phase's TLS cost).
    private(set) var handshakes = 0
    private(set) var handshakeNanoseconds: UInt64 = 0

    init(plan: LoadPlan) throws(BenchError) {
        self.plan = plan
        if plan.tls {
            do { tlsContext = try TLSContext.client(verify: false) } catch { throw .system("TLS: \(error)") }
        } else {
            tlsContext = nil
        }
        epollFD = ctc_epoll_create()
        guard epollFD >= 0 else { throw .system("epoll_create1: \(String(cString: strerror(ctc_errno())))") }
        events = .allocate(capacity: eventCapacity)
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
        for index in 0..<plan.totalConnections {
            connections.append(BenchConnection(index: index, reads: index >= plan.slowReaders))
        }
        senderClients = (0..<plan.senders).map { plan.slowReaders + $0 }
    }

    deinit {
        for connection in connections where connection.fd >= 0 { close(connection.fd) }
        close(epollFD)
        events.deallocate()
        readBuffer.deallocate()
        if let tally {
            tally.pointee.free()
            tally.deallocate()
        }
    }

    // MARK: Running

    func run() throws(BenchError) -> BenchResult {
        var result = BenchResult(plan: plan)
        result.rssBeforeKiB = serverMemory()

        try connectAll()
        result.connected = established
        result.failedConnects = failedConnects
        result.firstConnectError = firstConnectError

        result.registered = waitForRegistration()
        hold(seconds: plan.holdSeconds)
        result.rssConnectedKiB = serverMemory()
        peakKiB = result.rssConnectedKiB
        // From here the kernel tracks the peak itself (VmHWM): a run lasts about 0.1 s, and the
        // 100 ms samples taken while lines flow can miss it entirely.
        let kernelTracksPeak = ProcessMemory.resetPeak(of: plan.serverPIDs)

        if plan.totalMessages > 0 && prober != nil {
            let cpuBefore = ProcessCPU.nanoseconds(of: plan.serverPIDs)
            sendMessages()
            if let before = cpuBefore, let after = ProcessCPU.nanoseconds(of: plan.serverPIDs), after >= before {
                result.serverCPUSeconds = Double(after - before) / 1e9
            }
            result.messagesSent = nextMessage
            for reader in readers { reader.join() }
            let tallies = [tally!.pointee] + readers.map { $0.tally.pointee }
            let merged = DeliveryTally.merged(tallies)
            result.expectedPerMessage = merged.expectedPerMessage
            result.delivered = merged.delivered
            result.duplicates = merged.duplicates
            result.echoes = tally!.pointee.echoes
            result.completedMessages = merged.completed
            result.lost = merged.lost
            result.cutShort = cutShort
            result.readerThreads = 1 + readers.count
            if merged.lastDeliveryTime > firstSendTime {
                result.seconds = Double(merged.lastDeliveryTime - firstSendTime) / 1e9
            }
            result.latenciesMicroseconds = tallies.flatMap { $0.latencyArray }
        }
        if kernelTracksPeak, let kib = ProcessMemory.peakResidentKiB(of: plan.serverPIDs) { peakKiB = max(peakKiB ?? 0, kib) }
        result.rssPeakKiB = peakKiB
        result.rssAfterKiB = serverMemory()
        result.closedByServer = connections.filter { $0.reads && $0.closedByServer }.count
        if plan.slowReaders > 0 { result.slowReadersDropped = drainSlowReaders() }
        return result
    }

    // MARK: Phase 1: connect

    private func connectAll() throws(BenchError) {
        var servers: [IPv4Address] = []
        for port in plan.ports {
            guard let address = IPv4Address(plan.host, port: port) else {
                throw .usage("--host must be an IPv4 address such as 127.0.0.1 (got \(plan.host))")
            }
            servers.append(address)
        }
        let maxInFlight = 128
        let started = monotonicNanoseconds()
        let nanosecondsPerConnect = plan.connectRate > 0 ? 1e9 / plan.connectRate : 0
        let deadline = started + UInt64(plan.registerTimeoutSeconds * 1e9)
        while established + failedConnects < connections.count {
            if monotonicNanoseconds() >= deadline {
                // A server whose listen queue stays full leaves connects retrying SYNs for minutes.
                abandonConnects()
                return
            }
            while connecting < maxInFlight && nextToConnect < connections.count {
                if plan.connectRate > 0 && Double(monotonicNanoseconds() - started) < Double(nextToConnect) * nanosecondsPerConnect { break }
                startConnect(connections[nextToConnect], to: servers[nextToConnect % servers.count])
                nextToConnect += 1
            }
            poll(timeoutMilliseconds: plan.connectRate > 0 ? 1 : 100)
            progress("connected \(established) of \(connections.count)", since: started)
        }
    }

    private func startConnect(_ connection: BenchConnection, to server: IPv4Address) {
        let fd = socket(AF_INET, ctc_SOCK_STREAM | ctc_SOCK_NONBLOCK | ctc_SOCK_CLOEXEC, 0)
        guard fd >= 0 else { return connectFailed(connection, errno: ctc_errno()) }
        connection.fd = fd
        if plan.sourceAddresses > 1 {
            // Pick the port at connect() time, per destination: bind(port 0) alone would pick it
            // from the whole range at bind() time and run out at ~28 000 sockets.
            var on: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_IP), 24 /* IP_BIND_ADDRESS_NO_PORT */, &on, socklen_t(MemoryLayout<Int32>.size))
            let source = IPv4Address(sourceIndex: connection.index % plan.sourceAddresses)
            if source.withSockaddr({ bind(fd, $0, $1) }) != 0 { return connectFailed(connection, errno: ctc_errno()) }
        }
        if !connection.reads {
            // A small receive buffer, so the server's own queue, not the kernel, holds the backlog.
            var size: Int32 = 4096
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let rc = server.withSockaddr { Glibc.connect(fd, $0, $1) }
        if rc != 0 && ctc_errno() != EINPROGRESS { return connectFailed(connection, errno: ctc_errno()) }
        connection.state = .connecting
        connecting += 1
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, UInt32(ctc_EPOLLOUT), UInt64(connection.index))
    }

    /// Gives up on every connection not established yet.
    private func abandonConnects() {
        for connection in connections where connection.state == .connecting || connection.state == .waiting {
            if connection.state == .connecting {
                _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
            }
            connectFailed(connection, errno: ETIMEDOUT)
        }
    }

    private func connectFailed(_ connection: BenchConnection, errno code: Int32) {
        if connection.fd >= 0 { close(connection.fd) }
        connection.fd = -1
        if connection.state == .connecting { connecting -= 1 }
        connection.state = .closed
        failedConnects += 1
        if firstConnectError == nil { firstConnectError = String(cString: strerror(code)) }
    }

    private func finishConnect(_ connection: BenchConnection) {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(connection.fd, SOL_SOCKET, SO_ERROR, &error, &length)
        if error != 0 {
            _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
            return connectFailed(connection, errno: error)
        }
        if let tlsContext, !handshake(connection, context: tlsContext) {
            _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
            return connectFailed(connection, errno: EPROTO)
        }
        connecting -= 1
        established += 1
        connection.state = .open
        var on: Int32 = 1
        _ = setsockopt(connection.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        if let template = plan.firstLine {
            let line = template.replacing("{n}", with: String(connection.index)) + "\n"
            enqueue(Array(line.utf8), on: connection)
        }
        // A slow reader is watched for nothing: it never reads (epoll still reports errors).
        updateInterest(connection)
    }

    // MARK: Phase 2: register

    /// Returns how many reading clients are known to be registered with the server.
    private func waitForRegistration() -> Int {
        guard let first = connections.first(where: { $0.reads && $0.state == .open }) else { return 0 }
        prober = first
        let started = monotonicNanoseconds()
        let deadline = started + UInt64(plan.registerTimeoutSeconds * 1e9)
        var nextProbe: UInt64 = 0
        while true {
            let waiting = connections.filter { $0.reads && $0.state == .open && $0 !== first && !$0.seenProbe }.count
            if waiting == 0 { break }
            let now = monotonicNanoseconds()
            if now >= deadline || first.state != .open { break }
            if now >= nextProbe {
                probeID &+= 1
                enqueue(plan.messagePrefix + Payload.probe(probeID), on: first)
                nextProbe = now + 500_000_000
            }
            poll(timeoutMilliseconds: 50)
            progress("registered \(connections.filter { $0.seenProbe }.count + 1) of \(connections.filter { $0.reads }.count) reading clients", since: started)
        }
        let seen = connections.filter { $0.reads && $0.state == .open && $0.seenProbe }.count
        return first.state == .open ? seen + 1 : seen
    }

    private func hold(seconds: Double) {
        let until = monotonicNanoseconds() + UInt64(max(0, seconds) * 1e9)
        while monotonicNanoseconds() < until { poll(timeoutMilliseconds: 50) }
    }

    // MARK: Phase 4: messages

    private func sendMessages() {
        messagePhase = true
        var receivers = connections.filter { $0.reads && $0.state == .open }
        // --threads: every reading client that does not send goes, in turn, to one of the
        // threads (the main thread included); the senders stay here, where they are written.
        if plan.threads > 1 {
            let senders = Set(senderClients)
            var shares = Array(repeating: [BenchConnection](), count: plan.threads)
            var kept: [BenchConnection] = []
            var turn = 0
            for connection in receivers {
                if senders.contains(connection.index) { kept.append(connection); continue }
                if turn == 0 { kept.append(connection) } else { shares[turn].append(connection) }
                turn = (turn + 1) % plan.threads
            }
            for share in shares.dropFirst() where !share.isEmpty {
                for connection in share { _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0) }
                do {
                    let reader = try ReaderThread(plan: plan, connections: share)
                    try reader.start()
                    readers.append(reader)
                } catch {
                    printError("tcpchat-bench: \(error); reading on fewer threads")
                    for connection in share { updateInterest(connection); kept.append(connection) }
                }
            }
            receivers = kept
        }
        let counting = UnsafeMutablePointer<DeliveryTally>.allocate(capacity: 1)
        // A sender does not count its own line.
        counting.initialize(to: DeliveryTally(messages: plan.totalMessages, expectedPerMessage: receivers.count - 1))
        tally = counting
        let start = monotonicNanoseconds()
        firstSendTime = start
        lastProgressTime = start
        let nanosecondsPerMessage = plan.rate > 0 ? 1e9 / plan.rate : 0
        let idleTimeout = UInt64(plan.idleTimeoutSeconds * 1e9)
        let maxDuration = UInt64(plan.maxSeconds * 1e9)
        while completedEverywhere(counting) < plan.totalMessages {
            let now = monotonicNanoseconds()
            // Send what the pacing and the window allow, a bounded batch per iteration so
            // reading keeps up.
            var batch = 0
            while nextMessage < plan.totalMessages && batch < 1024 {
                if plan.window > 0 && nextMessage - completedEverywhere(counting) >= plan.window { break }
                if plan.rate > 0 && Double(now - start) < Double(nextMessage) * nanosecondsPerMessage { break }
                sendMessage(nextMessage)
                nextMessage += 1
                batch += 1
            }
            if batch > 0 {
                for index in senderClients { flushOutbox(connections[index]) }
                lastProgressTime = now
            }
            let lastProgress = max(lastProgressTime, lastDeliveryEverywhere(counting))
            if now > lastProgress && now - lastProgress > idleTimeout { break }
            if maxDuration > 0 && now - start > maxDuration {
                cutShort = true
                break
            }
            var timeout: Int32 = 100
            if plan.rate > 0 && nextMessage < plan.totalMessages {
                let due = Double(nextMessage) * nanosecondsPerMessage - Double(now - start)
                timeout = Int32(max(0, min(100, (due / 1e6).rounded(.up))))
            }
            if batch == 1024 { timeout = 0 }
            poll(timeoutMilliseconds: timeout)
            progress("delivered \(readers.reduce(counting.pointee.delivered) { $0 + $1.delivered.load(ordering: .acquiring) }) messages' lines", since: start)
        }
        messagePhase = false
    }

    /// Messages every thread has seen complete among its own receivers, as far as the reader
    /// threads have published: the least of them (a lower bound on the messages complete
    /// everywhere, exact at the end). A thread whose receivers expect nothing does not count.
    private func completedEverywhere(_ counting: UnsafeMutablePointer<DeliveryTally>) -> Int {
        var least = counting.pointee.expectedPerMessage > 0 ? counting.pointee.completed : plan.totalMessages
        for reader in readers { least = min(least, reader.completed.load(ordering: .acquiring)) }
        return least
    }

    private func lastDeliveryEverywhere(_ counting: UnsafeMutablePointer<DeliveryTally>) -> UInt64 {
        readers.reduce(counting.pointee.lastDeliveryTime) { max($0, $1.lastDeliveryTime.load(ordering: .acquiring)) }
    }

    private func sendMessage(_ number: Int) {
        let sender = number % plan.senders
        let connection = connections[senderClients[sender]]
        guard connection.state == .open else { return }
        let prefix = plan.messagePrefix.count
        var at = connection.outbox.reserve(prefix + plan.messageBytes)
        if prefix > 0 {
            plan.messagePrefix.withUnsafeBytes { at.copyMemory(from: $0.baseAddress!, byteCount: prefix) }
            at += prefix
        }
        Payload.writeMessage(to: at, size: plan.messageBytes, sender: sender, sequence: number / plan.senders,
                             sentNanoseconds: monotonicNanoseconds())
    }

    // MARK: After the run

    /// Reads each slow reader to its end (at most 3 s): the number whose connection the server
    /// closed. A server that kept them open leaves them open.
    private func drainSlowReaders() -> Int {
        let slow = connections.prefix(plan.slowReaders).filter { $0.state == .open }
        for connection in slow {
            _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, UInt32(ctc_EPOLLIN | ctc_EPOLLRDHUP), UInt64(connection.index))
        }
        let deadline = monotonicNanoseconds() + 3_000_000_000
        while monotonicNanoseconds() < deadline && slow.contains(where: { $0.state == .open }) {
            poll(timeoutMilliseconds: 50)
        }
        return connections.prefix(plan.slowReaders).filter { $0.closedByServer }.count
    }

    // MARK: The event loop

    private func poll(timeoutMilliseconds: Int32) {
        let count = ctc_epoll_wait(epollFD, events, Int32(eventCapacity), timeoutMilliseconds)
        if count > 0 {
            for index in 0..<Int(count) {
                let connection = connections[Int(ctc_epoll_event_token(events + index))]
                let flags = ctc_epoll_event_flags(events + index)
                switch connection.state {
                case .connecting:
                    finishConnect(connection)
                case .open where !connection.reads && messagePhase:
                    // A slow reader reads nothing while messages flow; an error or hang-up
                    // (reported whatever the interest) means the server dropped it.
                    if flags & UInt32(ctc_EPOLLHUP | ctc_EPOLLERR) != 0 { closeByServer(connection) }
                    else if flags & UInt32(ctc_EPOLLOUT) != 0 { flushOutbox(connection) }
                case .open:
                    if flags & UInt32(ctc_EPOLLOUT) != 0 { flushOutbox(connection) }
                    if connection.state == .open && flags & UInt32(ctc_EPOLLIN | ctc_EPOLLRDHUP | ctc_EPOLLHUP | ctc_EPOLLERR) != 0 {
                        readAll(from: connection)
                    }
                case .waiting, .closed:
                    break
                }
            }
        }
        sampleServerMemory()
    }

    /// --tls: the handshake, done at once (a poll per round trip): the connect phase is not what
    /// the TLS rows measure, the line phase is; handshakes per second are reported apart.
    private func handshake(_ connection: BenchConnection, context: TLSContext) -> Bool {
        guard let session = TLSSession(context: context, fd: connection.fd, server: false, host: plan.host) else { return false }
        let started = monotonicNanoseconds()
        while true {
            var entry: pollfd
            switch session.handshake() {
            case .done:
                connection.tls = session
                handshakes += 1
                handshakeNanoseconds += monotonicNanoseconds() - started
                return true
            case .wantRead: entry = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
            case .wantWrite: entry = pollfd(fd: connection.fd, events: Int16(POLLOUT), revents: 0)
            case .end:
                return false
            case .failed(let reason, _):
                if firstConnectError == nil { firstConnectError = "TLS: \(reason)" }
                return false
            }
            _ = Glibc.poll(&entry, 1, 10_000)
        }
    }

    /// read(2) for a TLS connection: decrypts whole records into `buffer` while one fits.
    /// Returns bytes (> 0), 0 at the end, -1 with errno EAGAIN when nothing is there yet.
    private func tlsRead(_ session: TLSSession, _ buffer: UnsafeMutableRawPointer, _ room: Int) -> Int {
        var total = 0
        while room - total >= TLSSession.maxRecordBytes {
            switch session.read(into: UnsafeMutableRawBufferPointer(start: buffer + total, count: room - total)) {
            case .done(let count): total += count
            case .wantRead, .wantWrite:
                if total > 0 { return total }
                errno = EAGAIN
                return -1
            case .end, .failed: return total > 0 ? total : 0
            }
        }
        return total
    }

    private func updateInterest(_ connection: BenchConnection) {
        var interest: Int32 = 0
        if connection.reads { interest |= ctc_EPOLLIN | ctc_EPOLLRDHUP }
        if connection.wantsWrite { interest |= ctc_EPOLLOUT }
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_MOD, connection.fd, UInt32(interest), UInt64(connection.index))
    }

    private func enqueue(_ bytes: [UInt8], on connection: BenchConnection) {
        let at = connection.outbox.reserve(bytes.count)
        bytes.withUnsafeBytes { at.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        flushOutbox(connection)
    }

    private func flushOutbox(_ connection: BenchConnection) {
        guard connection.state == .open else { return }
        while !connection.outbox.isEmpty {
            let pending = connection.outbox.pending
            var written: Int
            if let session = connection.tls {
                switch session.write(pending.baseAddress!, count: pending.count) {
                case .done(let count): written = count
                case .wantWrite, .wantRead: written = -1; errno = EAGAIN
                case .end, .failed: written = 0
                }
            } else {
                written = write(connection.fd, pending.baseAddress, pending.count)
            }
            if written > 0 {
                connection.outbox.consume(written)
                continue
            }
            let code = ctc_errno()
            if written < 0 && code == EINTR { continue }
            if written < 0 && (code == EAGAIN || code == EWOULDBLOCK) {
                if !connection.wantsWrite {
                    connection.wantsWrite = true
                    updateInterest(connection)
                }
                return
            }
            return closeByServer(connection)
        }
        if connection.wantsWrite {
            connection.wantsWrite = false
            updateInterest(connection)
        }
    }

    private func closeByServer(_ connection: BenchConnection) {
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
        connection.tls = nil
        close(connection.fd)
        connection.fd = -1
        connection.state = .closed
        connection.closedByServer = true
    }

    /// Reads until the socket is empty (a few large reads), handling every complete line.
    private func readAll(from connection: BenchConnection) {
        let tally = self.tally  // one read of the property per call, not one per line
        let outcome = LineReading.readAll(from: connection, into: readBuffer, size: readBufferSize,
            read: { buffer, room in connection.tls.map { tlsRead($0, buffer, room) } ?? read(connection.fd, buffer, room) },
            line: { line, count, now in handleLine(line, count: count, on: connection, now: now, tally: tally) })
        if outcome == .closed { closeByServer(connection) }
    }

    @inline(__always)
    private func handleLine(_ line: UnsafePointer<UInt8>, count: Int, on connection: BenchConnection, now: UInt64,
                            tally: UnsafeMutablePointer<DeliveryTally>?) {
        switch Payload.find(in: line, count: count, anywhere: plan.prefixAgnostic) {
        case .message(let sender, let sequence, let sent):
            guard let tally, sender < plan.senders, sequence < plan.messagesPerSender else { return }
            if senderClients[sender] == connection.index {
                tally.pointee.echoes += 1
                return
            }
            tally.pointee.record(message: sequence * plan.senders + sender, latencyNanoseconds: now &- sent, at: now)
        case .probe:
            connection.seenProbe = true
        case .none:
            break
        }
    }

    // MARK: Server memory and progress

    private func serverMemory() -> Int? {
        ProcessMemory.residentKiB(of: plan.serverPIDs)
    }

    private func sampleServerMemory() {
        guard !plan.serverPIDs.isEmpty else { return }
        let now = monotonicNanoseconds()
        guard now - lastMemorySample >= 100_000_000 else { return }
        lastMemorySample = now
        if let kib = serverMemory() { peakKiB = max(peakKiB ?? 0, kib) }
    }

    private func progress(_ text: @autoclosure () -> String, since started: UInt64) {
        guard plan.showProgress else { return }
        let now = monotonicNanoseconds()
        guard now - started > 2_000_000_000, now - lastProgressPrint > 1_000_000_000 else { return }
        lastProgressPrint = now
        printError("tcpchat-bench: \(text())")
    }
}

/// An IPv4 socket address.
struct IPv4Address {
    var storage = sockaddr_in()

    init?(_ host: String, port: Int) {
        storage.sin_family = sa_family_t(AF_INET)
        storage.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &storage.sin_addr) == 1 else { return nil }
    }

    /// 127.0.0.(1 + index), port 0.
    init(sourceIndex: Int) {
        storage.sin_family = sa_family_t(AF_INET)
        storage.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001 + sourceIndex).bigEndian)
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}

enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    case system(String)

    var description: String {
        switch self {
        case .usage(let text), .system(let text): return text
        }
    }
}

/// One line to standard error, in one write(2).
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
