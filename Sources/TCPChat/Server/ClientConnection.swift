// One accepted client: its socket, its framer, its output queue and its place in the chat.
#if canImport(Glibc)
import Glibc
#endif

final class ClientConnection {
    enum State {
        /// Reading and writing.
        case open
        /// No longer reading; flushing what is queued, then closing (after /quit, EOF, shutdown).
        case draining
        /// Socket closed and forgotten.
        case closed
    }

    let fd: Int32
    /// fd in the low 32 bits, a generation in the high 32: stale epoll events are recognisable.
    let token: UInt64
    let address: String
    /// The peer's IP address alone, for the per-address connection cap.
    let host: String
    var framer: LineFramer
    /// Takes telnet's commands out of what arrives, before the framer (Protocol/TelnetFilter).
    var telnet = TelnetFilter()
    var output = OutputQueue()
    var nick: String
    var room: Room?
    var memberIndex = -1
    var state = State.open
    /// The last flush left bytes queued: EPOLLOUT is wanted.
    var wantsWrite = false
    /// What epoll watches for now.
    var interest: EventLoop.Interest = .read
    /// Flood control; nil when the server has no rate limit.
    var bucket: TokenBucket?
    /// Out of tokens: not read from until the bucket refills.
    var throttled = false
    /// Bytes read but not yet handled because the bucket ran out (at most one read's worth).
    var pendingInput: [UInt8] = []
    /// When the connection was accepted and last sent anything (monotonic milliseconds).
    let connectedAt: Int64
    var lastInputAt: Int64
    var hasSentALine = false
    /// A command of this client waits for the cluster's answer (/who, /rooms, /msg, /nick,
    /// /join's history): its next lines wait too, so that replies come in the order asked.
    var waitingForCluster = false
    /// The client closed its side: its last lines are handled without waiting for anything.
    var inputEnded = false
    var mustWaitForCluster: Bool { waitingForCluster && !inputEnded }
    /// On the server's list of connections to flush at the end of this loop iteration.
    var isDirty = false
    /// Detached from its room and nick, with this reason; closes as soon as it may.
    var pendingCloseReason: String?
    /// Why the connection is draining (quit, EOF, shutdown), for the log line when it closes.
    var drainReason: String?

    var pendingCloseReasonOrDrain: String { pendingCloseReason ?? drainReason ?? "closed" }

    init(fd: Int32, token: UInt64, address: String, host: String, nick: String, maxLineBytes: Int, now: Int64) {
        self.fd = fd
        self.token = token
        self.address = address
        self.host = host
        connectedAt = now
        lastInputAt = now
        self.nick = nick
        self.framer = LineFramer(maxLineBytes: maxLineBytes)
    }
}
