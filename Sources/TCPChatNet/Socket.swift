// Creating, configuring, connecting and accepting TCP sockets. Every descriptor the library
// creates is CLOEXEC; server-side sockets are non-blocking.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

/// Why opening a listener or a connection failed, worded for a person.
public enum SocketError: Error, CustomStringConvertible, Sendable {
    case resolve(ResolveError)
    case bind(address: String, code: Int32)
    case connect(address: String, code: Int32)
    case system(SystemError)
    /// The TLS handshake with `address` failed, for `reason` (a sentence: an expired or
    /// untrusted certificate, a wrong host name, a peer that does not speak TLS...).
    case tls(address: String, reason: String)

    public var description: String {
        switch self {
        case .resolve(let error):
            return error.description
        case .bind(let address, let code):
            if code == EADDRINUSE { return "cannot listen on \(address): address already in use (another server on that port?)" }
            if code == EADDRNOTAVAIL { return "cannot listen on \(address): no such local address" }
            if code == EACCES { return "cannot listen on \(address): permission denied (ports below 1024 need privileges)" }
            return "cannot listen on \(address): \(SystemError.message(for: code))"
        case .connect(let address, let code):
            if code == ECONNREFUSED { return "cannot connect to \(address): connection refused (is the server running on that port?)" }
            return "cannot connect to \(address): \(SystemError.message(for: code))"
        case .system(let error):
            return error.description
        case .tls(let address, let reason):
            return "TLS with \(address) failed: \(reason)"
        }
    }

    /// The errno behind the failure, when there is one.
    public var code: Int32? {
        switch self {
        case .bind(_, let code), .connect(_, let code): return code
        case .system(let error): return error.code
        case .resolve, .tls: return nil
        }
    }
}

package enum Socket {
    package static func make(family: Int32, nonBlocking: Bool) throws(SystemError) -> Int32 {
        let type = ctc_SOCK_STREAM | ctc_SOCK_CLOEXEC | (nonBlocking ? ctc_SOCK_NONBLOCK : 0)
        return try retryingInterrupts("socket") { socket(family, type, 0) }
    }

    /// Binds and listens on `host:port`. With no host: `[::]` dual-stack, falling back to
    /// `0.0.0.0` when the machine has no IPv6. Returns the descriptor and the bound address.
    package static func listen(host: String?, port: Int, backlog: Int32 = 1024) throws(SocketError) -> (Int32, SocketAddress) {
        let candidates: [SocketAddress]
        if let host, !host.isEmpty {
            do { candidates = try SocketAddress.resolve(host: host, port: port, passive: true) } catch { throw .resolve(error) }
        } else {
            do {
                let all = try SocketAddress.resolve(host: nil, port: port, passive: true)
                candidates = all.filter { $0.isIPv6 } + all.filter { !$0.isIPv6 }
            } catch { throw .resolve(error) }
        }
        var lastError: SocketError = .bind(address: "\(host ?? "*"):\(port)", code: EADDRNOTAVAIL)
        for address in candidates {
            let fd: Int32
            do { fd = try make(family: address.family, nonBlocking: true) } catch {
                lastError = .system(error)
                continue
            }
            Sys.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if address.isIPv6 && (host == nil || host!.isEmpty) {
                Sys.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0)  // dual stack
            }
            let bound = address.withSockaddr { bind(fd, $0, $1) }
            if bound != 0 {
                lastError = .bind(address: address.description, code: currentErrno())
                Sys.close(fd)
                continue
            }
            if Glibc.listen(fd, backlog) != 0 {
                lastError = .bind(address: address.description, code: currentErrno())
                Sys.close(fd)
                continue
            }
            return (fd, localAddress(fd) ?? address)
        }
        throw lastError
    }

    /// Accepts one pending connection, non-blocking and CLOEXEC, with TCP_NODELAY and
    /// SO_KEEPALIVE set. `.wouldBlock` when none is pending.
    package static func accept(_ listener: Int32) throws(SystemError) -> IOResult<(Int32, SocketAddress?)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SystemError) -> IOResult<Int32> in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SystemError) -> IOResult<Int32> in
                try nonBlocking("accept4") { ctc_accept4(listener, address, &length) }
            }
        }
        guard case .done(let fd) = result else { return .wouldBlock }
        configureConnected(fd)
        return .done((fd, SocketAddress(storage: storage, length: length)))
    }

    package static func configureConnected(_ fd: Int32) {
        Sys.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
        Sys.setOption(fd, SOL_SOCKET, SO_KEEPALIVE, 1)
    }

    /// Connects (blocking) to the first address of `host:port` that answers.
    package static func connect(host: String, port: Int) throws(SocketError) -> Int32 {
        let candidates: [SocketAddress]
        do { candidates = try SocketAddress.resolve(host: host, port: port, passive: false) } catch { throw .resolve(error) }
        var lastError: SocketError = .connect(address: "\(host):\(port)", code: EHOSTUNREACH)
        for address in candidates {
            let fd: Int32
            do { fd = try make(family: address.family, nonBlocking: false) } catch {
                lastError = .system(error)
                continue
            }
            var rc: Int32
            repeat { rc = address.withSockaddr { Glibc.connect(fd, $0, $1) } } while rc != 0 && currentErrno() == EINTR
            if rc == 0 {
                configureConnected(fd)
                return fd
            }
            lastError = .connect(address: address.description, code: currentErrno())
            Sys.close(fd)
        }
        throw lastError
    }

    package static func localAddress(_ fd: Int32) -> SocketAddress? { address(of: fd, getsockname) }

    package static func peerAddress(_ fd: Int32) -> SocketAddress? { address(of: fd, getpeername) }

    /// The address getsockname or getpeername reports for `fd`.
    private static func address(
        of fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: storage, length: length) : nil
    }
}
