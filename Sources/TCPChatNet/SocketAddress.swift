// Socket addresses: resolution through getaddrinfo (IPv4 and IPv6 alike) and formatting
// as `1.2.3.4:port` or `[::1]:port`.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

/// An IPv4 or IPv6 socket address, copied out of a `sockaddr_storage`.
public struct SocketAddress: Sendable, CustomStringConvertible, Equatable {
    package var storage: sockaddr_storage
    package var length: socklen_t

    package init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    package init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        guard Int(length) <= MemoryLayout<sockaddr_storage>.size else { return nil }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
        self.init(storage: storage, length: length)
    }

    public var family: Int32 { Int32(storage.ss_family) }
    public var isIPv6: Bool { family == AF_INET6 }

    /// The numeric host: `127.0.0.1`, `::1`, or an IPv4-mapped IPv6 address shown as IPv4.
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var copy = storage
        let rc = withUnsafePointer(to: &copy) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getnameinfo($0, length, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
            }
        }
        guard rc == 0 else { return "?" }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("::ffff:"), text.contains(".") { return String(text.dropFirst(7)) }
        return text
    }

    public var port: Int {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                Int(UInt16(bigEndian: $0.pointee.sin_port))  // sin6_port sits at the same offset
            }
        }
    }

    /// `host:port`, with IPv6 hosts in brackets.
    public var description: String {
        let h = host
        return h.contains(":") ? "[\(h)]:\(port)" : "\(h):\(port)"
    }

    public static func == (a: SocketAddress, b: SocketAddress) -> Bool { a.description == b.description }

    package func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafePointer(to: storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Resolves `host` (nil = the wildcard address) and `port` to candidate addresses, in the
    /// order getaddrinfo returns them. `passive` asks for addresses to bind to.
    public static func resolve(host: String?, port: Int, passive: Bool) throws(ResolveError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = ctc_SOCK_STREAM
        hints.ai_flags = passive ? AI_PASSIVE : AI_ADDRCONFIG
        if passive { hints.ai_flags |= AI_NUMERICSERV }
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let reason = rc == EAI_SYSTEM ? SystemError.message(for: currentErrno()) : String(cString: gai_strerror(rc))
            throw ResolveError(host: host ?? "*", reason: reason)
        }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let address = current.pointee.ai_addr, let value = SocketAddress(address, length: current.pointee.ai_addrlen) {
                result.append(value)
            }
            entry = current.pointee.ai_next
        }
        return result
    }
}

/// A host name that could not be resolved.
public struct ResolveError: Error, CustomStringConvertible, Sendable {
    public let host: String
    public let reason: String
    public var description: String { "cannot resolve \(host): \(reason)" }
}
