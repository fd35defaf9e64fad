// Connection I/O for every client of one server: reading into one shared buffer, framing,
// flood control, deadlines, output queues, flushing, draining and closing. It knows bytes and
// lines; what a line means is its handler's business (ChatServer hands it to the
// connection's codec), and so is what a closing connection leaves behind (the core detaches
// its session).
//
// Closing is two-step, so that nothing leaves a room while a fan-out walks it: a connection
// that fails is only doomed (Connection.Life), and `settle()`, at the end of each loop
// iteration, detaches and closes doomed connections and flushes every queue written to.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import TCPChatCore
import TCPChatNet

/// What the connections tell the layer above. Loop thread.
protocol ConnectionsHandler: AnyObject {
    /// One framed line (valid during the call) from an open connection.
    func received(line: UnsafeRawBufferPointer, on connection: Connection)
    /// A line over the limit was discarded.
    func receivedOverlongLine(on connection: Connection)
    /// Lines were queued to a congested client with no sender to hold back (from the cluster,
    /// a server broadcast, a timer): only the hard cap bounds them. Told when its congestion ends.
    func queuedUnheld(_ lines: Int, to connection: Connection)
    /// The lines of one read of `connection` have been handed up (received(line:on:)): what
    /// the layer above gathered from them may go out now.
    func linesHandled(on connection: Connection)
    /// A TLS connection finished its handshake: it may speak now.
    func secured(_ connection: Connection, version: String, cipher: String)
    /// The connection stops taking part (it is leaving: EOF, quit, a deadline, a failure):
    /// its session leaves its rooms; `announce`: they hear why.
    func ending(_ connection: Connection, reason: String, announce: Bool)
    /// The socket is closed and the connection forgotten.
    func closed(_ connection: Connection, reason: String)
}

struct ConnectionSettings {
    var maxLineBytes: Int
    var maxQueueBytes: Int
    /// The soft mark (at most maxQueueBytes; equal: no backpressure) and how long a client may
    /// stay congested above it.
    var softQueueBytes: Int
    var softQueueMilliseconds: Int64
    var linesPerSecond: Double
    var burstLines: Int
    var firstLineTimeoutSeconds: Int
    var idleTimeoutSeconds: Int
    var shutdownGraceMilliseconds: Int
    /// A TLS connection that has not finished its handshake by then is dropped (0: never).
    var tlsHandshakeMilliseconds: Int = 10_000
}

final class Connections: EventDispatcher {
    let loop: EventLoop
    let settings: ConnectionSettings
    private let counters: StatisticsCounters
    unowned(unsafe) var handler: (any ConnectionsHandler)!
    /// Open, doomed and draining connections, by descriptor number.
    private var table: [Connection?] = []
    private(set) var count = 0
    private var perHost: [String: Int] = [:]
    @exclusivity(unchecked) private var dirty: [Connection] = []
    private var closing: [Connection] = []
    /// Senders no receiver holds any more: read again at the end of the iteration.
    private var resuming: [Connection] = []
    /// The connection whose input is being handled: a delivery that congests a receiver holds it.
    private var current: Connection? {
        didSet {
            currentSerial = currentSerial == .max ? 0 : currentSerial + 1  // never noSender or -1
            senderClock.pointee = current == nil ? Connections.noSender : Int(currentSerial)
        }
    }
    /// 32-bit (it wraps), as a receiver keeps it in Connection.pressSerial.
    private var currentSerial: Int32 = 0
    /// Which sender's input is being handled, as a number that changes with `current` (and is
    /// `noSender` while there is none): a receiver already pressed under the same number (the
    /// next line of the same read, fanned out to it) has nothing new to decide, and
    /// Connection.enqueue reads it through a pointer to skip `pressed` at the cost of a compare.
    /// senderClock[1] and [2] are the soft mark and the hard cap, which enqueue reads beside it;
    /// senderClock[3] is this object (unretained), which a connection reaches through it.
    let senderClock: UnsafeMutablePointer<Int>
    static let noSender = -2
    let readBuffer: UnsafeMutableRawBufferPointer
    /// Where a flush gathers short lines into one segment. Not the read buffer: a queue may be
    /// flushed in the middle of a fan-out, while the line being relayed still sits in there.
    let flushScratch: UnsafeMutableRawBufferPointer
    private let iovecs: UnsafeMutablePointer<iovec>

    init(loop: EventLoop, settings: ConnectionSettings, counters: StatisticsCounters) {
        self.loop = loop
        self.settings = settings
        self.counters = counters
        readBuffer = .allocate(byteCount: 64 * 1024, alignment: 16)
        flushScratch = .allocate(byteCount: 64 * 1024, alignment: 16)
        iovecs = .allocate(capacity: Int(ctc_IOV_MAX))
        senderClock = .allocate(capacity: 4)
        senderClock.initialize(to: Connections.noSender)
        (senderClock + 1).initialize(to: settings.softQueueBytes)
        (senderClock + 2).initialize(to: settings.maxQueueBytes)
        (senderClock + 3).initialize(to: Int(bitPattern: Unmanaged.passUnretained(self).toOpaque()))
    }

    /// Monotonic time as connections keep it: tenths of a second in 32 bits (wrapping every
    /// 13 years; timeouts are at most one), so that a connection's two times take 8 bytes.
    static func tenths(_ milliseconds: Int64) -> UInt32 { UInt32(truncatingIfNeeded: milliseconds / 100) }

    /// Milliseconds since `tenths` (at least: rounded down, never a deadline early).
    static func millisecondsSince(_ tenths: UInt32, now: Int64) -> Int64 {
        max(0, Int64(Connections.tenths(now) &- tenths) - 1) * 100
    }

    deinit {
        for connection in all where !connection.isClosed { Sys.close(connection.fd) }
        senderClock.deallocate()
        readBuffer.deallocate()
        flushScratch.deallocate()
        iovecs.deallocate()
    }

    var all: [Connection] { table.compactMap { $0 } }

    /// The open (or closing) connection on descriptor `fd`, if any.
    func connection(_ fd: Int32) -> Connection? {
        fd >= 0 && Int(fd) < table.count ? table[Int(fd)] : nil
    }

    func connections(from host: String) -> Int { perHost[host, default: 0] }

    // MARK: Opening

    /// Takes an accepted socket: watched for input from now on. Nil (socket closed) when epoll
    /// refuses it.
    func adopt(_ fd: Int32, address: String, host: String, shared: SharedEncoder, slot: Int,
               tls: TLSSession? = nil) -> Connection? {
        let now = monotonicMilliseconds()
        let connection = Connection(fd: fd, address: address, host: host, connections: self, shared: shared, slot: slot,
                                    maxLineBytes: settings.maxLineBytes, softQueueBytes: settings.softQueueBytes,
                                    maxQueueBytes: settings.maxQueueBytes, now: now)
        if settings.linesPerSecond > 0 {
            connection.bucket = TokenBucket(linesPerSecond: settings.linesPerSecond, burst: settings.burstLines, now: now)
        }
        do { try loop.register(fd, interest: .read, dispatcher: self) } catch {
            Sys.close(fd)
            return nil
        }
        if let tls { startHandshake(connection, tls) }
        let index = Int(fd)
        if index >= table.count {
            // A quarter more, as the event loop's table grows (issue 19: memory per idle
            // connection); reserveCapacity first, or the array's own growth would double it.
            let grown = max(index + 1, table.count + table.count / 4, 64)
            table.reserveCapacity(grown)
            table.append(contentsOf: repeatElement(nil, count: grown - table.count))
        }
        table[index] = connection
        count += 1
        perHost[connection.host, default: 0] += 1
        counters.accepted.add(1, ordering: .relaxed)
        counters.connections.add(1, ordering: .relaxed)
        return connection
    }

    // MARK: Readiness

    /// The event loop: a connection's descriptor is ready.
    func handleEvent(_ fd: Int32, _ readiness: EventLoop.Readiness) {
        guard let connection = table[Int(fd)] else { return }
        handle(connection, readiness)
    }

    func handle(_ connection: Connection, _ readiness: EventLoop.Readiness) {
        if midPass && connection.awaitingFirstLine { return }  // the next poll (takeInputMidPass)
        if let tls = connection.tls, !tlsReady(connection, tls) { return }
        if readiness.readable && connection.isOpen {
            if readiness.hangup && (connection.throttled || connection.heldBy > 0) {
                // The peer is gone: flood control and backpressure no longer matter. Handle what
                // it sent before it went (its lines are not dropped), then read on to the EOF or
                // error.
                connection.bucket = nil
                connection.ignoresHolds = true
                if connection.throttled { resume(connection) } else { proceed(connection) }
            }
            if !connection.throttled && !connection.isHeld { read(from: connection) }
        }
        if readiness.writable && !connection.isClosed { flush(connection) }
    }

    /// Closes what must close and flushes what was written to, until nothing is left to do.
    func settle() {
        // Input is taken during the first pass of writes only: lines read then put receivers
        // already written on the next pass, and a steady stream of input must not keep this
        // loop (and the loop's timers and tasks behind it) going for ever.
        var readsDuringPass = readsWhileFlushing
        while !closing.isEmpty || !dirty.isEmpty || !resuming.isEmpty {
            if !closing.isEmpty {
                let list = closing
                closing.removeAll(keepingCapacity: list.count <= Connections.keptListCapacity)
                for connection in list {
                    let reason = connection.closeReason
                    handler.ending(connection, reason: reason, announce: true)
                    release(connection, reason: reason)
                }
            }
            if !dirty.isEmpty {
                let list = dirty
                dirty.removeAll(keepingCapacity: list.count <= Connections.keptListCapacity)
                var flushed = 0
                for connection in list {
                    connection.isDirty = false
                    flush(connection)
                    flushed &+= 1
                    // A pass of thousands of writes (a room's fan-out) takes milliseconds, in
                    // which other senders' lines arrive: taking them now gives the receivers
                    // not yet written this pass those lines in the same write (one write each,
                    // not one now and one more next iteration: the kernel's cost per write is
                    // most of a delivery's). Lines for receivers already written put them on
                    // the next pass's list, as before. Issue 19; see docs/ARCHITECTURE.md.
                    if flushed & (Connections.readEvery - 1) == 0 && readsDuringPass { takeInputMidPass() }
                }
                readsDuringPass = false
            }
            if !resuming.isEmpty {
                let list = resuming
                resuming.removeAll(keepingCapacity: list.count <= Connections.keptListCapacity)
                for connection in list { proceed(connection) }
            }
        }
    }

    var hasWork: Bool { !closing.isEmpty || !dirty.isEmpty || !resuming.isEmpty }

    /// In the middle of settle's pass of writes: the lines of clients already chatting, and
    /// nothing else. A new connection (the acceptor), a client's first line (registering: a
    /// welcome, a join and its announcement) and anything not a connection's wait for the next
    /// poll (epoll reports them again): what the pass is for is the senders' lines, and taking
    /// registrations there too interleaves their short-lived allocations (notices, their
    /// queues) with the new records, which left ~40 B more heap per idle connection at 10 000
    /// (idle10k, issue 19).
    private var midPass = false
    private func takeInputMidPass() {
        midPass = true
        loop.dispatchReady(only: self)
        midPass = false
    }

    /// Whether `settle` takes input that arrived while it writes a long list (every
    /// `readEvery` writes; EventLoop.dispatchReady). Off in a cluster, whose link must carry an
    /// iteration's lines to Redis before the clients hear of them (ChatServer.settle).
    var readsWhileFlushing = true
    /// A power of two: a list shorter than this (a small room's) is written in one go.
    static let readEvery = 32

    /// The lists above keep their storage up to this many entries between iterations; a list
    /// that grew past it (a fan-out to thousands, every idle connection's notice) gives it
    /// back, so that a peak is not kept as bytes per connection (issue 19: 13 bytes per
    /// connection at 10 000 before).
    static let keptListCapacity = 1024

    // MARK: Reading

    private func read(from connection: Connection) {
        // A few reads per wake-up, then let other sockets have their turn (epoll is level-triggered).
        for _ in 0..<4 {
            let result: IOResult<Int>
            if let tls = connection.tls {
                result = read(from: connection, tls)  // Transport/TLS/Connections+TLS.swift
            } else {
                do { result = try Sys.read(connection.fd, readBuffer) } catch {
                    doom(connection, reason: Connections.reason(for: error))
                    return
                }
            }
            guard case .done(let count) = result else { return }
            if count == 0 {
                handleLastLine(of: connection)
                startDraining(connection, reason: "connection closed")
                return
            }
            let now = monotonicMilliseconds()
            // Before its first line, lastInputAt is when it connected (the first-line deadline
            // reads it): bytes that make no line do not move it, when there is that deadline.
            let sentALine = connection.hasSentALine
            if sentALine || settings.firstLineTimeoutSeconds == 0 { connection.lastInputAt = Connections.tenths(now) }
            connection.bucket?.refill(now: now)
            // Telnet's own commands (Ctrl-C: IAC IP IAC DO TIMING-MARK) are answered and taken
            // out before framing, so the answer goes out at once; see Protocol/TelnetFilter.swift.
            var telnetReplies: [UInt8] = []
            let kept = connection.telnet.filter(UnsafeMutableRawBufferPointer(rebasing: readBuffer[..<count]), replies: &telnetReplies)
            if !telnetReplies.isEmpty { connection.enqueue(SharedBuffer(bytes: telnetReplies)) }
            let input = UnsafeRawBufferPointer(rebasing: readBuffer[..<kept])
            let used = handleInput(input, from: connection)
            if !sentALine && connection.hasSentALine { connection.lastInputAt = Connections.tenths(now) }
            guard connection.isOpen else { return }
            if used < kept {
                connection.pendingInput = Array(input[used...])
                stopReading(connection)
                return
            }
            if connection.isHeld { return updateInterest(connection) }
            if count < readBuffer.count && !(connection.tls?.endPending ?? false) { return }
        }
    }

    /// Hands the lines in `input` up while the client's bucket has tokens and its session
    /// waits for nothing. Returns the bytes used; the rest waits in `pendingInput` until the
    /// bucket refills or the answer comes.
    private func handleInput(_ input: UnsafeRawBufferPointer, from connection: Connection) -> Int {
        if connection.mustWait { return 0 }
        if let bucket = connection.bucket, !bucket.hasToken { return 0 }
        let previous = current
        current = connection
        // The handler once per read, not per line: the server has weak references to it, so
        // each retain and release of it takes the slow path (~170 instructions a line).
        let handler: any ConnectionsHandler = handler
        defer {
            handler.linesHandled(on: connection)
            current = previous
        }
        return connection.framer.consume(input) { event in
            guard connection.isOpen else { return false }
            connection.hasSentALine = true
            switch event {
            case .line(let bytes): handler.received(line: bytes, on: connection)
            case .overlong: handler.receivedOverlongLine(on: connection)
            }
            let hasToken = connection.bucket?.spend() ?? true
            return hasToken && !connection.mustWait && !connection.isHeld
        }
    }

    /// End of stream: a last line without LF (e.g. `printf hi | nc -N`) still counts; flood
    /// control no longer applies to a client that is leaving.
    private func handleLastLine(of connection: Connection) {
        connection.inputEnded = true
        connection.ignoresHolds = true
        let previous = current
        current = connection
        defer { current = previous }
        if !connection.pendingInput.isEmpty {
            connection.bucket = nil
            let input = connection.pendingInput
            connection.pendingInput = []
            _ = input.withUnsafeBytes { handleInput($0, from: connection) }
        }
        connection.framer.finish { event in
            guard connection.isOpen, case .line(let bytes) = event else { return }
            handler.received(line: bytes, on: connection)
        }
        handler.linesHandled(on: connection)
    }

    /// Out of tokens, or waiting for the cluster: stop reading this socket until resumed (TCP
    /// backpressure slows the sender; nothing is dropped).
    private func throttle(_ connection: Connection) {
        guard !connection.throttled else { return }
        if connection.mustWait {  // resumed by the answer (inputMayResume), not a timer
            connection.throttled = true
            updateInterest(connection)
            return
        }
        guard let bucket = connection.bucket else { return }
        connection.throttled = true
        counters.throttled.add(1, ordering: .relaxed)
        updateInterest(connection)
        connection.resumeTimer = loop.schedule(after: bucket.millisecondsUntilToken) { [weak self, connection] in
            connection.resumeTimer = nil
            self?.resume(connection)
        }
    }

    /// The session's question was answered: its next lines may be handled.
    func inputMayResume(_ connection: Connection) {
        if connection.throttled { resume(connection) }
    }

    private func resume(_ connection: Connection) {
        guard connection.throttled, connection.isOpen else { return }
        if let timer = connection.resumeTimer {
            loop.cancel(timer)
            connection.resumeTimer = nil
        }
        connection.throttled = false
        proceed(connection)
    }

    /// A gate opened (tokens, the cluster's answer, the last hold let go, the peer gone): if no
    /// other gate is closed, handle the input that waited, then watch the socket again.
    private func proceed(_ connection: Connection) {
        guard connection.isOpen, !connection.throttled, !connection.isHeld else { return }
        connection.bucket?.refill(now: monotonicMilliseconds())
        if !connection.pendingInput.isEmpty {
            let input = connection.pendingInput
            connection.pendingInput = []
            let used = input.withUnsafeBytes { handleInput($0, from: connection) }
            guard connection.isOpen else { return }
            if used < input.count {
                connection.pendingInput = Array(input[used...])
                stopReading(connection)
                return
            }
        }
        updateInterest(connection)
    }

    /// Input stopped in the middle of a read: wait for the gate that closed.
    private func stopReading(_ connection: Connection) {
        if connection.isHeld { updateInterest(connection) } else { throttle(connection) }
    }

    /// Tells epoll what this connection waits for: input while open and not throttled, output
    /// while bytes are queued or it is draining.
    func updateInterest(_ connection: Connection) {
        guard !connection.isClosed else { return }
        var interest: EventLoop.Interest = []
        if connection.isOpen && !connection.throttled && !connection.isHeld { interest.insert(.read) }
        if connection.wantsWrite || connection.isDraining { interest.insert(.write) }
        guard interest != connection.interest else { return }
        connection.interest = interest
        do { try loop.modify(connection.fd, interest: interest) } catch {
            // Not watched as it must be: it could hang for ever. Drop it, saying why.
            doom(connection, reason: "internal error: \(error)")
        }
    }

    // MARK: Deadlines

    /// Drops clients past their deadlines: `tell` sends the client why before it drains.
    func sweepDeadlines(tell: (Connection, ChatError) -> Void) {
        let now = monotonicMilliseconds()
        let firstLine = Int64(settings.firstLineTimeoutSeconds) * 1000
        let idle = Int64(settings.idleTimeoutSeconds) * 1000
        for case let connection? in table where connection.isOpen {
            if firstLine > 0 && !connection.hasSentALine && Connections.millisecondsSince(connection.lastInputAt, now: now) >= firstLine {
                tell(connection, .firstLineTimeout(settings.firstLineTimeoutSeconds))
                startDraining(connection, reason: "disconnected: sent nothing within \(settings.firstLineTimeoutSeconds) s")
            } else if idle > 0 && Connections.millisecondsSince(connection.lastInputAt, now: now) >= idle {
                tell(connection, .idleTimeout(settings.idleTimeoutSeconds))
                startDraining(connection, reason: "disconnected: idle for \(settings.idleTimeoutSeconds) s")
            }
        }
    }

    // MARK: Writing

    func markDirty(_ connection: Connection) {
        connection.isDirty = true
        dirty.append(connection)
    }

    /// A queue passed the cap, maybe only because one big read's worth of lines was relayed
    /// before the end-of-iteration flush: write now, and call the client slow only if its
    /// socket does not take enough. Only for open connections (a draining one would be
    /// released, which must not happen during a fan-out; it gets nothing new from rooms anyway).
    func overflowed(_ connection: Connection) {
        if connection.isOpen {
            flush(connection)
            if connection.isOpen && connection.output.queuedBytes <= settings.maxQueueBytes {
                if !connection.isDirty { markDirty(connection) }
                return
            }
        }
        counters.slowReadersDropped.add(1, ordering: .relaxed)
        doom(connection, reason: "disconnected: not reading (over \(settings.maxQueueBytes) bytes queued)")
    }

    // MARK: Soft limit
    //
    // A receiver whose queue passes the soft mark and whose socket will not take it is
    // congested: the senders of the lines it is given from then on (the connection whose input
    // is being handled) are held, i.e. not read from; the kernel's buffers then slow them down,
    // as TCP intends. It lets them go when it has drained to half the mark. At the end of each
    // soft period (--soft-seconds) while still congested, it lets them go anyway, so no sender
    // waits longer than that for one receiver, and the receiver is judged: if its peer took
    // (acknowledged) less than a soft mark's worth of bytes in the period, it is the slow reader
    // and is dropped; else it is slow but reading: a new period begins, and it holds the senders
    // of its next lines again. The kernel's send buffer (megabytes, autotuned) sits between the
    // queue and the peer, so the queue itself may not move for a while under a reader that
    // reads steadily: the peer's acknowledgements are what show progress. What has no sender
    // to hold (cluster lines, broadcasts) is bounded by the hard cap alone.

    /// A delivery left `receiver` above the soft mark (called by Connection.enqueue; may be in
    /// the middle of a fan-out).
    func pressed(_ receiver: Connection) {
        if receiver.output.queuedBytes > settings.maxQueueBytes {
            overflowed(receiver)
        }
        // Once per receiver and read: a burst of lines from one sender (hundreds per read under
        // a flood) fanned out to a congested receiver is decided by the first of them; the
        // rest cost one compare, not the holding bookkeeping and its retains.
        // (Lines with no sender, from the cluster or the host, are each counted below.)
        if current != nil {
            if receiver.pressSerial == currentSerial && receiver.isOpen {
                if !receiver.isDirty { markDirty(receiver) }
                return
            }
            receiver.pressSerial = currentSerial
        }
        guard receiver.isOpen else {
            if !receiver.isDirty { markDirty(receiver) }
            return
        }
        if !receiver.isCongested {
            // Its socket took everything at the last flush: maybe only a read's worth of lines
            // arrived before the flush at the end of the iteration, which decides (no write
            // here: an early write per queue costs more than the fan-out saves).
            if !receiver.wantsWrite {
                if !receiver.isDirty { markDirty(receiver) }
                return
            }
            congest(receiver)
        }
        if let sender = current {
            // Only a receiver that is still reading holds its senders back: one that stopped
            // (its peer acknowledged less than a soft mark's worth in the last soft period)
            // would hold them for the whole soft time for nothing; its queue grows to the hard
            // cap instead, or the soft time ends it.
            guard receiver.onProbation || isProgressing(receiver) else {
                if !receiver.isDirty { markDirty(receiver) }
                return
            }
            if receiver.holding.last !== sender {
                receiver.holding.append(sender)
                sender.heldBy += 1
                if sender.heldBy == 1 { counters.sendersHeld.add(1, ordering: .relaxed) }
            }
        } else {
            receiver.unheldLines += 1
        }
        if !receiver.isDirty { markDirty(receiver) }
    }

    private func congest(_ receiver: Connection) {
        receiver.isCongested = true
        sampleProgress(receiver, now: monotonicMilliseconds())
        startSoftPeriod(receiver)
        if !isProgressing(receiver) { probe(receiver) }
    }

    /// No progress on record (its socket has just filled for the first time, or it stopped
    /// reading a while ago): it holds its senders for this soft period if its peer has taken a
    /// soft mark's worth since it connected, on trust (a reader that kept up, or pauses); the
    /// end of the period judges it. A client that never took that much (the benchmark's slow
    /// reader, one stalled from the start) holds nobody back: its queue meets the hard cap.
    private func probe(_ receiver: Connection) {
        receiver.onProbation = receiver.ackedAtPeriodStart >= Int64(settings.softQueueBytes)
    }

    /// Its peer acknowledged a soft mark's worth within the last soft period (by the samples
    /// taken while its socket was full). (A drain is no sign: the kernel's send buffer grows,
    /// and takes a queue, for a peer that reads nothing.)
    private func isProgressing(_ receiver: Connection) -> Bool {
        receiver.progressAt != .min && monotonicMilliseconds() - receiver.progressAt < settings.softQueueMilliseconds
    }

    /// Samples what its peer has acknowledged (one getsockopt): each soft mark's worth since
    /// the last checkpoint is progress. The first sample is taken when its socket is full and
    /// its queue half way to the mark, so a peer that stopped reading before that (it took only
    /// what its receive buffer holds since) never shows progress.
    private func sampleProgress(_ receiver: Connection, now: Int64) {
        receiver.lastSampleAt = now
        let acked = Sys.tcpBytesAcked(receiver.fd)
        if receiver.checkpointAcked < 0 {
            receiver.checkpointAcked = acked
        } else if acked - receiver.checkpointAcked >= Int64(settings.softQueueBytes) {
            receiver.checkpointAcked = acked
            receiver.progressAt = now
        }
    }

    private func startSoftPeriod(_ receiver: Connection) {
        receiver.ackedAtPeriodStart = Sys.tcpBytesAcked(receiver.fd)
        receiver.softTimer = loop.schedule(after: settings.softQueueMilliseconds) { [weak self, receiver] in
            receiver.softTimer = nil
            guard let self, receiver.isCongested else { return }
            // Draining (it quit, or a deadline): it is closing anyway; its senders go on now.
            guard receiver.isOpen else { return letGo(receiver) }
            endSoftPeriod(receiver)
        }
    }

    private func endSoftPeriod(_ receiver: Connection) {
        let acked = Sys.tcpBytesAcked(receiver.fd)
        letGo(receiver)
        if receiver.ackedAtPeriodStart >= 0 && acked - receiver.ackedAtPeriodStart >= Int64(settings.softQueueBytes) {
            startSoftPeriod(receiver)  // slow, but reading
            return
        }
        counters.slowReadersDropped.add(1, ordering: .relaxed)
        receiver.isCongested = false
        doom(receiver, reason: "disconnected: not reading (over \(settings.softQueueBytes) bytes queued for \(Connections.seconds(settings.softQueueMilliseconds)) s)")
    }

    /// Congestion over (drained, or dropped): the senders it held go on, unless another
    /// receiver still holds them.
    private func relieve(_ receiver: Connection) {
        receiver.isCongested = false
        receiver.onProbation = false
        if let timer = receiver.softTimer {
            loop.cancel(timer)
            receiver.softTimer = nil
        }
        letGo(receiver)
    }

    /// The senders `receiver` holds go on, unless another receiver still holds them.
    private func letGo(_ receiver: Connection) {
        for sender in receiver.holding {
            sender.heldBy -= 1
            if sender.heldBy == 0 { resuming.append(sender) }
        }
        receiver.holding = []
        if receiver.unheldLines > 0 {
            handler.queuedUnheld(receiver.unheldLines, to: receiver)
            receiver.unheldLines = 0
        }
    }

    static func seconds(_ milliseconds: Int64) -> String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)" : "\(Double(milliseconds) / 1000)"
    }

    private func flush(_ connection: Connection) {
        guard connection.isWritable else { return }
        defer {
            if connection.isCongested && connection.output.queuedBytes <= settings.softQueueBytes / 2 {
                relieve(connection)
            }
        }
        let flushed = connection.tls.map { flush(connection, $0) }
            ?? connection.output.flush(to: connection.fd, iovecs: iovecs, scratch: flushScratch)
        switch flushed {
        case .drained:
            if connection.isDraining { return release(connection, reason: connection.closeReason) }
            if connection.wantsWrite {
                connection.wantsWrite = false
                updateInterest(connection)
            }
        case .pending:
            if !connection.wantsWrite {
                connection.wantsWrite = true
                updateInterest(connection)
            }
            // Its socket is full and its queue above half the soft mark: see how its peer is
            // doing, at most every 50 ms (a busy room's sockets fill all the time: they must not
            // cost a getsockopt per flush).
            if connection.output.queuedBytes > settings.softQueueBytes / 2 && settings.softQueueBytes < settings.maxQueueBytes {
                let now = monotonicMilliseconds()
                if now - connection.lastSampleAt >= 50 { sampleProgress(connection, now: now) }
                if !connection.isCongested && connection.isOpen && connection.output.queuedBytes > settings.softQueueBytes {
                    congest(connection)
                }
            }
        case .failed(let error):
            doom(connection, reason: Connections.reason(for: error))
        }
    }

    // MARK: Closing

    /// Marks a connection to be closed at the end of this iteration. Safe during a fan-out.
    func doom(_ connection: Connection, reason: String) {
        guard connection.isWritable else { return }
        connection.markDoomed(reason)
        closing.append(connection)
    }

    /// The one way a connection starts leaving (quit, EOF, a deadline, shutdown): its session
    /// leaves its rooms now (`announce`: they hear why), and its socket closes once what is
    /// queued for it has been written, or after the grace period.
    /// `deadline`: close it after the grace period if it has not drained by then (the server's
    /// shutdown has one deadline for all instead).
    func startDraining(_ connection: Connection, reason: String, deadline: Bool = true) {
        guard connection.isOpen else { return }
        handler.ending(connection, reason: reason, announce: true)
        connection.markDraining(reason)
        connection.wantsWrite = true
        updateInterest(connection)
        if !connection.isDirty { markDirty(connection) }
        guard deadline else { return }
        connection.drainDeadline = loop.schedule(after: Int64(max(settings.shutdownGraceMilliseconds, 1000))) { [weak self] in
            connection.drainDeadline = nil
            if connection.isDraining { self?.release(connection, reason: reason + " (output not flushed)") }
        }
    }

    /// Closes the socket and forgets the connection.
    func release(_ connection: Connection, reason: String) {
        guard !connection.isClosed else { return }
        handler.ending(connection, reason: reason, announce: false)
        if let timer = connection.drainDeadline { loop.cancel(timer) }
        if let timer = connection.resumeTimer { loop.cancel(timer) }
        if connection.isCongested { relieve(connection) }
        connection.drainDeadline = nil
        connection.resumeTimer = nil
        loop.unregister(connection.fd)
        if let tls = connection.tls { endTLS(connection, tls) }
        Sys.close(connection.fd)
        connection.markClosed()
        connection.output.removeAll()
        table[Int(connection.fd)] = nil
        count -= 1
        counters.connections.subtract(1, ordering: .relaxed)
        if let hosts = perHost[connection.host] { perHost[connection.host] = hosts > 1 ? hosts - 1 : nil }
        handler.closed(connection, reason: reason)
    }

    /// The server is stopping: every open connection drains what is queued (its session was
    /// already told and detached); the server's one grace timer closes what is left.
    func drainAll(reason: String) {
        for connection in all where connection.isOpen { startDraining(connection, reason: reason, deadline: false) }
    }

    /// Closes every connection at once (the server has stopped).
    func releaseAll(reason: String) {
        for connection in all { release(connection, reason: reason) }
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
}
