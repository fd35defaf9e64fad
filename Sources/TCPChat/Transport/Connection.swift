// One accepted client connection: its socket, framer, flood control, output queue and life.
// It knows bytes, not chat: its lines go up to its codec through Connections' handler, and it
// carries a session's events down as SessionOutput.
#if canImport(Glibc)
import Glibc
#endif
import TCPChatCore
import TCPChatNet

final class Connection: EventHandler, SessionOutput {
    /// A connection's life, one way: open → (doomed | draining) → closed; draining may still
    /// be doomed (its flush failed).
    enum Life: Equatable {
        /// Reading and writing.
        case open
        /// Failed, or dropped by a limit, with this reason: detached and closed at the end of
        /// the loop iteration (never in the middle of a fan-out).
        case doomed(String)
        /// Leaving (quit, EOF, shutdown, a deadline): no longer read; what is queued is
        /// written, then it closes.
        case draining(String)
        /// Socket closed and forgotten.
        case closed
    }

    let fd: Int32
    let address: String
    /// The peer's IP address alone, for the per-address connection cap.
    let host: String
    /// Its protocol's codec; the line protocol's until the first line shows it speaks another
    /// (ChatServer.detectProtocol).
    var codec: any WireCodec
    /// Waiting for its first line to tell its protocol (nil once decided); the timer that
    /// decides for the line protocol when nothing comes.
    var detection: EventLoop.TimerID?
    var detecting = false
    /// No line has been handed to a codec yet.
    var awaitingFirstLine = false
    private(set) var life = Life.open {
        didSet { acceptsOutput = life == .open || isDraining }
    }
    /// Open or draining (`isWritable`), kept as a flag for the fan-out's sake: read once per
    /// delivery, it must cost one load. Unchecked exclusivity: only the loop thread touches it,
    /// and never while another access to it is under way.
    @exclusivity(unchecked) private var acceptsOutput = true
    var framer: LineFramer
    let output = OutputQueue()
    /// Its session in the chat core; set right after the connection is made, and let go when
    /// the connection closes (the session holds its connection: the two would keep each other).
    var session: ChatSession!
    /// Flood control; nil when the server has no rate limit (or the peer has gone).
    var bucket: TokenBucket?
    /// Out of tokens (or waiting for the cluster): not read from until resumed.
    var throttled = false
    /// Bytes read but not yet handled because the bucket ran out (at most one read's worth).
    var pendingInput: [UInt8] = []
    /// When the connection was accepted and last sent anything (monotonic milliseconds).
    let connectedAt: Int64
    var lastInputAt: Int64
    var hasSentALine = false
    /// The client closed its side: its last lines are handled without waiting for anything.
    var inputEnded = false
    /// On the list of connections to flush at the end of this loop iteration.
    @exclusivity(unchecked) var isDirty = false
    /// The last flush left bytes queued: EPOLLOUT is wanted.
    var wantsWrite = false
    /// What epoll watches for now.
    var interest: EventLoop.Interest = .read
    /// The timer that closes a draining connection that does not drain in time.
    var drainDeadline: EventLoop.TimerID?
    /// The timer that resumes reading a throttled connection.
    var resumeTimer: EventLoop.TimerID?
    private unowned(unsafe) let connections: Connections
    private let maxQueueBytes: Int

    init(fd: Int32, address: String, host: String, codec: any WireCodec, connections: Connections,
         maxLineBytes: Int, maxQueueBytes: Int, now: Int64) {
        self.fd = fd
        self.address = address
        self.host = host
        self.codec = codec
        self.connections = connections
        self.maxQueueBytes = maxQueueBytes
        connectedAt = now
        lastInputAt = now
        framer = LineFramer(maxLineBytes: maxLineBytes)
    }

    /// Open: read, handle lines, write.
    var isOpen: Bool { life == .open }
    /// Open or draining: what is queued for it will still be written.
    var isWritable: Bool {
        switch life {
        case .open, .draining: return true
        case .doomed, .closed: return false
        }
    }
    var isDraining: Bool {
        if case .draining = life { return true }
        return false
    }
    var isClosed: Bool { life == .closed }

    /// Its session waits for an answer of the cluster, and it has not ended its input.
    var mustWait: Bool { session.waitingForCluster && !inputEnded }

    // Only Connections changes the life, through these.
    func markDoomed(_ reason: String) { life = .doomed(reason) }
    func markDraining(_ reason: String) { life = .draining(reason) }
    func markClosed() { life = .closed }

    /// Why it is closing: the doom or drain reason.
    var closeReason: String {
        switch life {
        case .doomed(let reason), .draining(let reason): return reason
        case .open, .closed: return "closed"
        }
    }

    // MARK: EventHandler

    func handleEvent(_ readiness: EventLoop.Readiness) {
        connections.handle(self, readiness)
    }

    // MARK: SessionOutput

    /// A fan-out calls this once per member: keep it short. The queue is the connection's own,
    /// so no retain per line; past the cap, Connections decides (flush now, or doom).
    @inline(__always)
    func enqueue(_ buffer: SharedBuffer) {
        guard acceptsOutput else { return }
        if output.append(buffer) > maxQueueBytes {
            connections.overflowed(self)
        } else if !isDirty {
            connections.markDirty(self)
        }
    }

    func finish(reason: String) {
        connections.startDraining(self, reason: reason)
    }

    func resumeInput() {
        connections.inputMayResume(self)
    }
}
