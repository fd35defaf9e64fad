// Accepting: the listening socket, the caps (clients, per address), and the EMFILE reserve.
// A connection past a cap gets one error line (best effort, never blocking) and is closed; an
// admitted one is handed to the handler, which gives it to Connections and a codec.
#if canImport(Glibc)
import Glibc
#endif
import TCPChatCore
import TCPChatNet

protocol AcceptorHandler: AnyObject {
    /// Why a new connection from `host` must be refused now, or nil to admit it.
    func refusal(forConnectionFrom host: String, peer: String) -> ChatError?
    /// The bytes that tell a refused connection why.
    func refusalLine(_ error: ChatError) -> String
    /// `secure`: accepted on the TLS listener.
    func admit(_ fd: Int32, peer: String, host: String, secure: Bool)
    func log(_ level: LogLevel, _ message: String)
}

final class Acceptor: EventHandler {
    /// Not retained: the loop holds the acceptor while it listens, and the server holds both.
    private unowned(unsafe) let loop: EventLoop
    private let counters: StatisticsCounters
    unowned(unsafe) var handler: (any AcceptorHandler)!
    private(set) var listenerFD: Int32 = -1
    /// Given up to accept one connection when out of descriptors (libuv's trick).
    private var reserveFD: Int32 = -1
    private var paused = false
    /// The TLS listener's acceptor: its connections start with a TLS handshake.
    let secure: Bool

    init(loop: EventLoop, counters: StatisticsCounters, secure: Bool = false) {
        self.loop = loop
        self.counters = counters
        self.secure = secure
    }

    deinit {
        if listenerFD >= 0 { Sys.close(listenerFD) }
        if reserveFD >= 0 { Sys.close(reserveFD) }
    }

    /// Binds and listens; watched by the loop from now on.
    func listen(host: String?, port: Int) throws(ChatServerError) -> SocketAddress {
        let (fd, address): (Int32, SocketAddress)
        do { (fd, address) = try Socket.listen(host: host, port: port) } catch { throw .socket(error) }
        do { try loop.register(fd, interest: .read, handler: self) } catch {
            Sys.close(fd)
            throw .system(error)
        }
        listenerFD = fd
        reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
        return address
    }

    var isListening: Bool { listenerFD >= 0 }

    func close() {
        guard listenerFD >= 0 else { return }
        if !paused { loop.unregister(listenerFD) }
        Sys.close(listenerFD)
        listenerFD = -1
    }

    func handleEvent(_ readiness: EventLoop.Readiness) {
        acceptPending()
    }

    /// Accepts what is pending (up to 64 at a time), admitting or refusing each.
    func acceptPending() {
        guard listenerFD >= 0, !paused else { return }
        for _ in 0..<64 {
            let accepted: IOResult<(Int32, SocketAddress?)>
            do { accepted = try Socket.accept(listenerFD) } catch {
                acceptFailed(error)
                return
            }
            guard case .done(let (fd, address)) = accepted else { return }
            let peer = address?.description ?? "?"
            let host = address?.host ?? "?"
            if let refusal = handler.refusal(forConnectionFrom: host, peer: peer) {
                refuse(fd, refusal)
            } else {
                handler.admit(fd, peer: peer, host: host, secure: secure)
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
                    refuse(fd, .outOfDescriptors)
                    refusedOne = true
                }
                reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC)
            }
            // Progress was made (one pending connection consumed): carry on. Otherwise the
            // level-triggered listener would wake the loop at once, forever: pause instead.
            if refusedOne && reserveFD >= 0 { return }
            handler.log(.warning, "accept: \(error); pausing accepts for 100 ms")
            pause()
        default:
            handler.log(.error, "accept: \(error); pausing accepts for 100 ms")
            pause()
        }
    }

    private func pause() {
        guard !paused, listenerFD >= 0 else { return }
        paused = true
        loop.unregister(listenerFD)
        loop.schedule(after: 100) { [weak self] in
            guard let self else { return }
            paused = false
            guard listenerFD >= 0 else { return }
            if reserveFD < 0 { reserveFD = open("/dev/null", O_RDONLY | O_CLOEXEC) }
            do { try loop.register(listenerFD, interest: .read, handler: self) } catch {
                handler.log(.error, "cannot watch the listener again: \(error); retrying in 100 ms")
                pause()
            }
        }
    }

    /// Sends one error line (best effort, never blocks) and closes.
    private func refuse(_ fd: Int32, _ error: ChatError) {
        counters.refused.add(1, ordering: .relaxed)
        var text = handler.refusalLine(error)
        text.withUTF8 { _ = try? Sys.send(fd, UnsafeRawBufferPointer($0)) }
        Sys.close(fd)
    }
}
