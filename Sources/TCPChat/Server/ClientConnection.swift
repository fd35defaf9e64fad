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
    var framer: LineFramer
    var output = OutputQueue()
    var nick: String
    var room: Room?
    var memberIndex = -1
    var state = State.open
    /// EPOLLOUT is registered (the last flush left bytes queued).
    var wantsWrite = false
    /// On the server's list of connections to flush at the end of this loop iteration.
    var isDirty = false
    /// Detached from its room and nick, with this reason; closes as soon as it may.
    var pendingCloseReason: String?
    /// Why the connection is draining (quit, EOF, shutdown), for the log line when it closes.
    var drainReason: String?

    var pendingCloseReasonOrDrain: String { pendingCloseReason ?? drainReason ?? "closed" }

    init(fd: Int32, token: UInt64, address: String, nick: String, maxLineBytes: Int) {
        self.fd = fd
        self.token = token
        self.address = address
        self.nick = nick
        self.framer = LineFramer(maxLineBytes: maxLineBytes)
    }
}
