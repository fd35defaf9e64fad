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

@c @implementation public func tcpchat_client_connect(
    _ host: UnsafePointer<CChar>!, _ port: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    guard let host, let out, (1...65535).contains(port) else { return TCPCHAT_EINVAL }
    do {
        let connection = try ChatConnection.connect(host: String(cString: host), port: Int(port))
        out.pointee = OpaquePointer(Unmanaged.passRetained(ClientHandle(connection)).toOpaque())
        return TCPCHAT_OK
    } catch {
        return ResultCode.of(error)
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
