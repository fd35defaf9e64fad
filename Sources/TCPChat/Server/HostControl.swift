// The host's control of its server (tcpchat.h "HOST CONTROL"): send a line to one connection or
// nick, kick, list rooms and members, speak as a bot, a notice to a room. Callable from any
// thread: on the loop thread (a callback, or the thread of a host-driven server between polls)
// the call runs at once; from another thread it is queued to the loop (EventLoop.execute) and
// the caller waits for its answer, so every call returns a real result (no such room, no such
// nick) rather than "queued".
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TCPChatCore

/// Whether the loop can run the host's calls.
enum ServingState: Equatable {
    case notYet, serving, finished
}

/// Why a host control call did nothing.
public enum HostControlError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server is not serving (not started yet, or stopped and finished).
    case notServing
    case noSuchConnection(UInt64)
    case noSuchNick(String)
    case noSuchRoom(String)
    /// The bot nick breaks the nick rules (the problem says which).
    case nickInvalid(String)
    /// A person has that nick: a bot cannot speak as them.
    case nickTaken(String)

    public var description: String {
        switch self {
        case .notServing: return "the server is not serving (start it first; or it has stopped)"
        case .noSuchConnection(let id): return "no connection \(id) (it closed, or never was)"
        case .noSuchNick(let nick): return "nobody on this server is called \(nick)"
        case .noSuchRoom(let room): return "no room \(room) on this server"
        case .nickInvalid(let problem): return problem
        case .nickTaken(let nick): return "\(nick) is, or looks like, a person's nick; choose another bot nick"
        }
    }
}

/// A result handed from the loop thread to a waiting thread.
private final class Rendezvous<T>: @unchecked Sendable {
    private var semaphore = sem_t()
    var value: T?

    init() { sem_init(&semaphore, 0, 0) }
    deinit { sem_destroy(&semaphore) }

    func post(_ result: T) {
        value = result
        sem_post(&semaphore)
    }

    func wait() -> T {
        while sem_wait(&semaphore) != 0 {}  // EINTR
        return value!
    }
}

extension ChatServer {
    /// Runs `body` on the loop thread and returns its result: at once when already there,
    /// otherwise through the loop's task queue, waiting for it.
    func onLoop<T>(_ body: @escaping (ChatServer) -> Result<T, HostControlError>) -> Result<T, HostControlError> {
        if isOnLoopThread {
            if servingState.withLock({ $0 }) == .finished { return .failure(.notServing) }
            let result = body(self)
            if !iterating && servingState.withLock({ $0 }) == .serving { settle() }  // between host-driven polls: flush now
            return result
        }
        let rendezvous = Rendezvous<Result<T, HostControlError>>()
        let queued = servingState.withLock { state -> Bool in
            guard state == .serving else { return false }
            let box = UncheckedBox(body)
            loop.execute { [self] in rendezvous.post(box.value(self)) }
            return true
        }
        guard queued else { return .failure(.notServing) }
        return rendezvous.wait()
    }

    private func session(_ id: UInt64) -> Result<ChatSession, HostControlError> {
        guard let session = session(ofConnection: id), session.isRegistered else { return .failure(.noSuchConnection(id)) }
        return .success(session)
    }

    private func session(nick: String) -> Result<ChatSession, HostControlError> {
        guard let session = core.person(named: nick) else { return .failure(.noSuchNick(nick)) }
        return .success(session)
    }

    /// Sends the notice `* text` to connection `id`. Any thread.
    public func send(_ text: String, toConnection id: UInt64) throws(HostControlError) {
        let clean = TextSanitizer.strip(text)
        try onLoop { server in server.session(id).map { _ = server.core.send(notice: clean, to: $0) } }.get()
    }

    /// Sends the notice `* text` to whoever is called `nick` on this server. Any thread.
    public func send(_ text: String, toNick nick: String) throws(HostControlError) {
        let clean = TextSanitizer.strip(text)
        try onLoop { server in server.session(nick: nick).map { _ = server.core.send(notice: clean, to: $0) } }.get()
    }

    /// The id of the connection called `nick` on this server. Any thread.
    public func connectionID(ofNick nick: String) throws(HostControlError) -> UInt64 {
        try onLoop { server in server.session(nick: nick).map(\.id) }.get()
    }

    /// Disconnects connection `id`: it gets "! you were kicked: REASON", its room hears
    /// "* NICK left (kicked: REASON)", and it is closed once that is sent. Any thread.
    public func kick(_ id: UInt64, reason: String) throws(HostControlError) {
        let clean = TextSanitizer.strip(reason)
        try onLoop { server in server.session(id).map { server.core.kick($0, reason: clean) } }.get()
    }

    /// The names of this server's rooms, sorted. Any thread.
    public func roomNames() throws(HostControlError) -> [String] {
        try onLoop { server in .success(server.core.roomNames) }.get()
    }

    /// The nicks in `room` on this server, in the order they joined. Any thread.
    public func members(ofRoom room: String) throws(HostControlError) -> [String] {
        try onLoop { server in
            server.core.members(ofRoom: room).map { .success($0) } ?? .failure(.noSuchRoom(room))
        }.get()
    }

    /// Says `text` in `room` as the bot `nick`: clients see "<@nick> text" ('@' is in no
    /// person's nick). The nick is reserved for the host from then on. Any thread.
    public func say(_ text: String, inRoom room: String, asBot nick: String) throws(HostControlError) {
        let clean = TextSanitizer.strip(text)
        try onLoop { server -> Result<Void, HostControlError> in
            do throws(ChatCore.BotProblem) { try server.core.say(asBot: nick, text: clean, inRoom: room) } catch {
                switch error {
                case .noSuchRoom: return .failure(.noSuchRoom(room))
                case .nickInvalid(let problem): return .failure(.nickInvalid(problem))
                case .nickTaken: return .failure(.nickTaken(nick))
                }
            }
            return .success(())
        }.get()
    }

    /// Sends the notice `* text` to everyone in `room` (nil: every room), as `broadcast` does,
    /// but answers: `noSuchRoom` when there is no such room. Any thread.
    public func sendNotice(_ text: String, toRoom room: String?) throws(HostControlError) {
        let clean = TextSanitizer.strip(text)
        try onLoop { server in
            server.core.broadcast(notice: clean, room: room) ? .success(()) : .failure(.noSuchRoom(room ?? ""))
        }.get()
    }
}

/// Carries a closure made on one thread to the loop thread, which alone runs it.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
