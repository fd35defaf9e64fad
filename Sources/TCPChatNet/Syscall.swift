// One wrapper per system call, in the manner of swift-system's `valueOrErrno`:
// EINTR is retried, EAGAIN/EWOULDBLOCK becomes `.wouldBlock`, anything else is an `Errno`.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CTCPChatLinux

/// A failed system call: the call's name and its errno.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let call: String
    public let code: Int32

    public init(_ call: String, _ code: Int32) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(SystemError.message(for: code))" }

    package static func message(for code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }
}

/// The outcome of a non-blocking call.
@usableFromInline
package enum IOResult<T> {
    case done(T)
    case wouldBlock
}

@inline(__always)
package func currentErrno() -> Int32 { ctc_errno() }

/// Runs `body` until it returns something other than -1/EINTR; -1 with another errno throws.
@inline(__always)
package func retryingInterrupts<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = currentErrno()
        if code == EINTR { continue }
        throw SystemError(call, code)
    }
}

/// Like `retryingInterrupts`, but EAGAIN/EWOULDBLOCK is a normal outcome.
@inline(__always)
package func nonBlocking<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result != -1 { return .done(result) }
        let code = currentErrno()
        if code == EINTR { continue }
        if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
        throw SystemError(call, code)
    }
}

/// Thin, total wrappers over the calls the library makes.
package enum Sys {
    package static func close(_ fd: Int32) {
        // close() must not be retried on EINTR on Linux: the descriptor is already gone.
        _ = Glibc.close(fd)
    }

    package static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlocking("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// writev(2) semantics through sendmsg(2), because only send calls take MSG_NOSIGNAL: a
    /// peer that reset must never raise SIGPIPE in the host process.
    package static func writev(_ fd: Int32, _ iov: UnsafeMutablePointer<iovec>, _ count: Int32) throws(SystemError) -> IOResult<Int> {
        var message = msghdr()
        message.msg_iov = iov
        message.msg_iovlen = Int(count)
        return try nonBlocking("sendmsg") { sendmsg(fd, &message, ctc_MSG_NOSIGNAL) }
    }

    /// send() with MSG_NOSIGNAL: a peer that reset never raises SIGPIPE in the host process.
    package static func send(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try nonBlocking("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, ctc_MSG_NOSIGNAL) }
    }

    package static func shutdown(_ fd: Int32, _ how: Int32) {
        _ = Glibc.shutdown(fd, how)
    }

    package static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    package static func setNonBlocking(_ fd: Int32, _ on: Bool) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK))
    }

    /// Bytes of a TCP socket's output its peer has acknowledged; -1 when unknown (not TCP).
    package static func tcpBytesAcked(_ fd: Int32) -> Int64 { ctc_tcp_bytes_acked(fd) }

    package static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }
}
