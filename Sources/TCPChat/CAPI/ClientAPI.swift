// tcpchat_client_*: the C face of ChatConnection. A `tcpchat_client *` is a retained
// ClientHandle (Unmanaged.passRetained on connect, release on close). See Include/tcpchat.h.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChat

/// A connection plus the one line tcpchat_client_recv() held back because the caller's buffer
/// was too small (TCPCHAT_ENOSPC): the next receive returns it first.
final class ClientHandle {
    let connection: ChatConnection
    var heldLine: [UInt8]?

    init(_ connection: ChatConnection) { self.connection = connection }
}

private func client(_ handle: OpaquePointer) -> ClientHandle {
    Unmanaged<ClientHandle>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// Where each option after struct_size starts (see serverConfigFieldOffsets).
private let clientOptionsFieldOffsets: [Int] = [
    MemoryLayout<tcpchat_client_options>.offset(of: \.connect_timeout_ms)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.reserved_1_0)!,
]

/// Every option's default, as tcpchat_client_options_init() documents them.
private func defaultClientOptions() -> tcpchat_client_options {
    tcpchat_client_options(struct_size: MemoryLayout<tcpchat_client_options>.size, connect_timeout_ms: 0, reserved_1_0: 0)
}

@c @implementation public func tcpchat_client_options_init_sized(
    _ options: UnsafeMutablePointer<tcpchat_client_options>!, _ size: Int
) {
    guard let options else { return }
    SizedStruct.initialize(UnsafeMutableRawPointer(options), size: size, defaults: defaultClientOptions())
}

@c @implementation public func tcpchat_client_connect(
    _ host: UnsafePointer<CChar>!, _ port: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    tcpchat_client_connect_ex(host, port, nil, out)
}

@c @implementation public func tcpchat_client_connect_ex(
    _ host: UnsafePointer<CChar>!, _ port: Int32, _ options: UnsafePointer<tcpchat_client_options>!,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    guard let host, let out, (1...65535).contains(port) else { return TCPCHAT_EINVAL }
    var settings = defaultClientOptions()
    if let options {
        do {
            settings = try SizedStruct.read(UnsafeRawPointer(options), defaults: settings, fieldOffsets: clientOptionsFieldOffsets)
        } catch {
            return TCPCHAT_EINVAL
        }
    }
    guard settings.connect_timeout_ms >= 0, settings.reserved_1_0 == 0 else { return TCPCHAT_EINVAL }
    do {
        let fd = try connectSocket(host: String(cString: host), port: Int(port), timeoutMilliseconds: Int64(settings.connect_timeout_ms))
        out.pointee = OpaquePointer(Unmanaged.passRetained(ClientHandle(ChatConnection.adopting(fd: fd))).toOpaque())
        return TCPCHAT_OK
    } catch {
        return ResultCode.of(error)
    }
}

/// A connected, blocking socket to the first address of host:port that answers, within
/// `timeoutMilliseconds` for all of them (0: no limit but the system's, which is
/// Socket.connect). A connection with a deadline is a non-blocking connect() and a poll() for
/// it (the Net layer has no deadline of its own yet; this is the C API's connect_timeout_ms).
private func connectSocket(host: String, port: Int, timeoutMilliseconds: Int64) throws(SocketError) -> Int32 {
    if timeoutMilliseconds == 0 { return try Socket.connect(host: host, port: port) }
    let deadline = monotonicMilliseconds() + timeoutMilliseconds
    let candidates: [SocketAddress]
    do { candidates = try SocketAddress.resolve(host: host, port: port, passive: false) } catch { throw .resolve(error) }
    var lastError: SocketError = .connect(address: "\(host):\(port)", code: EHOSTUNREACH)
    for address in candidates {
        guard monotonicMilliseconds() < deadline else {
            lastError = .connect(address: address.description, code: ETIMEDOUT)
            break
        }
        let fd: Int32
        do { fd = try Socket.make(family: address.family, nonBlocking: true) } catch {
            lastError = .system(error)
            continue
        }
        var code: Int32 = address.withSockaddr { Glibc.connect(fd, $0, $1) } == 0 ? 0 : currentErrno()
        if code == EINPROGRESS || code == EINTR { code = awaitConnect(fd, deadline: deadline) }
        if code == 0 {
            Socket.configureConnected(fd)
            return fd
        }
        lastError = .connect(address: address.description, code: code)
        Sys.close(fd)
    }
    throw lastError
}

/// Waits for a non-blocking connect() on `fd` to finish, until `deadline`: 0 once connected,
/// else the error it failed with (ETIMEDOUT at the deadline).
private func awaitConnect(_ fd: Int32, deadline: Int64) -> Int32 {
    var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    while true {
        let remaining = deadline - monotonicMilliseconds()
        guard remaining > 0 else { return ETIMEDOUT }
        let ready = poll(&entry, 1, Int32(min(remaining, Int64(Int32.max))))
        if ready < 0 {
            if currentErrno() == EINTR { continue }
            return currentErrno()
        }
        if ready == 0 { continue }   // the loop re-checks the deadline
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return currentErrno() }
        return error
    }
}

@c @implementation public func tcpchat_client_send(_ handle: OpaquePointer!, _ line: UnsafePointer<CChar>!) -> Int32 {
    guard let handle, let line else { return TCPCHAT_EINVAL }
    do { try client(handle).connection.send(String(cString: line)) } catch { return ResultCode.of(error) }
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_client_recv(
    _ handle: OpaquePointer!, _ buffer: UnsafeMutablePointer<CChar>!, _ size: Int, _ timeoutMilliseconds: Int32
) -> Int32 {
    guard let handle, let buffer, size > 0 else { return TCPCHAT_EINVAL }
    let state = client(handle)
    let line: [UInt8]
    if let held = state.heldLine {
        line = held
    } else {
        do {
            guard let received = try state.connection.receive(timeoutMilliseconds: timeoutMilliseconds) else {
                return TCPCHAT_ETIMEDOUT
            }
            line = Array(received.utf8)
        } catch {
            return ResultCode.of(error)
        }
    }
    guard line.count < size else {
        state.heldLine = line
        return TCPCHAT_ENOSPC
    }
    state.heldLine = nil
    line.withUnsafeBytes { bytes in
        if let start = bytes.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: start, byteCount: bytes.count) }
    }
    buffer[line.count] = 0
    return Int32(line.count)
}

@c @implementation public func tcpchat_client_needed_size(_ handle: OpaquePointer!) -> Int {
    guard let handle, let held = client(handle).heldLine else { return 0 }
    return held.count + 1
}

@c @implementation public func tcpchat_client_fd(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    return client(handle).connection.fd
}

@c @implementation public func tcpchat_client_shutdown(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    client(handle).connection.shutdownWrite()
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_client_close(_ handle: OpaquePointer!) {
    guard let handle else { return }
    let unmanaged = Unmanaged<ClientHandle>.fromOpaque(UnsafeRawPointer(handle))
    unmanaged.takeUnretainedValue().connection.close()
    unmanaged.release()
}
