// The other half of a one-to-one chat (the classic lesson's server, `tcpchat --listen`): listen
// on a port, accept exactly one peer, stop listening. The peer then talks through an ordinary
// ChatConnection, as if it were a server.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

public final class PeerListener {
    /// The listening socket, for a host that polls it together with its own descriptors
    /// (readable: a peer is waiting, `acceptPeer()` will not block).
    public let fd: Int32
    /// The bound address; with port 0, the port the kernel picked.
    public let address: SocketAddress
    private var isOpen = true

    /// Binds and listens on `host:port` (nil host: every interface, IPv6 and IPv4).
    public init(host: String?, port: Int) throws(SocketError) {
        (fd, address) = try Socket.listen(host: host, port: port, backlog: 1)
    }

    deinit { close() }

    /// Waits for one peer (blocking; at once when `fd` is readable), stops listening so a
    /// second peer is refused, and returns the connection (lines in `encoding`).
    public func acceptPeer(encoding: TextEncoding = .utf8) throws(SystemError) -> ChatConnection {
        while true {
            guard isOpen else { throw SystemError("accept", EBADF) }
            if case .done(let (peer, _)) = try Socket.accept(fd) {
                close()
                return ChatConnection.adopting(fd: peer, encoding: encoding)
            }
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, -1)
        }
    }

    /// Stops listening. Idempotent.
    public func close() {
        guard isOpen else { return }
        isOpen = false
        Sys.close(fd)
    }
}
