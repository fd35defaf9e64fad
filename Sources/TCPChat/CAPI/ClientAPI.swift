// tcpchat_client_*: the C face of ChatConnection. A `tcpchat_client *` is a retained
// ClientHandle (Unmanaged.passRetained on connect, release on close). See Include/tcpchat.h.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChat
import CTCPChatLinux
import Synchronization
import TCPChatNet

/// A connection being made without blocking (tcpchat_client_connect_start): the addresses
/// left to try, the deadline, and the failure once every address failed.
struct PendingConnect {
    var candidates: [SocketAddress]
    var next: Int
    var deadline: Int64?   // monotonic ms; nil = the system's limit
    var failure: Int32?    // a TCPCHAT_ code, sticky
    var lastError: SocketError
    /// A host name being resolved on a worker thread; nil once its addresses are known.
    var resolving: Resolution? = nil
}

/// A host name resolved by a worker thread for tcpchat_client_connect_start: getaddrinfo may
/// wait for the network, the caller's loop must not. The worker writes to its own duplicate of
/// the client's eventfd when done (so the host's poll() wakes up), closes it, and ends; the
/// client never waits for it (closing the client meanwhile is fine: the worker touches only
/// this box and its own descriptor).
final class Resolution: @unchecked Sendable {
    /// nil while resolving; then the addresses (empty: the name could not be resolved).
    let result = Mutex<[SocketAddress]?>(nil)

    static func start(host: String, port: Int, notify fd: Int32) throws(SystemError) -> Resolution {
        let resolution = Resolution()
        let signal = dup(fd)
        guard signal >= 0 else { throw SystemError("dup", currentErrno()) }
        do {
            let thread = try LoopThread.start {
                let addresses = (try? SocketAddress.resolve(host: host, port: port, passive: false)) ?? []
                resolution.result.withLock { $0 = addresses }
                var one: UInt64 = 1
                _ = write(signal, &one, 8)
                Sys.close(signal)
            }
            pthread_detach(thread)
        } catch {
            Sys.close(signal)
            throw error
        }
        return resolution
    }
}

/// True when `host` is an IPv4 or IPv6 address (getaddrinfo then does not wait for anything).
private func isNumericAddress(_ host: String) -> Bool {
    var buffer = in6_addr()
    return inet_pton(AF_INET, host, &buffer) == 1 || inet_pton(AF_INET6, host, &buffer) == 1
}

/// A connection plus the one line tcpchat_client_recv() held back because the caller's buffer
/// was too small (TCPCHAT_ENOSPC): the next receive returns it first.
final class ClientHandle {
    let connection: ChatConnection
    var heldLine: [UInt8]?
    /// Non-nil while a non-blocking connect is in progress, or failed.
    let pending = Mutex<PendingConnect?>(nil)
    /// A non-blocking connect's TLS handshake, once TCP is connected (nil: none, or done).
    let pendingTLS = Mutex<PendingTLS?>(nil)
    /// tcpchat_client_last_error(): why the non-blocking connect failed ("" until then).
    let lastError: UnsafeMutablePointer<CChar>
    static let lastErrorSize = 1024

    init(_ connection: ChatConnection) {
        self.connection = connection
        lastError = .allocate(capacity: ClientHandle.lastErrorSize)
        lastError.initialize(to: 0)
    }

    deinit { lastError.deallocate() }

    /// Keeps `text` for tcpchat_client_last_error (cut to the buffer). Under pendingTLS's lock.
    func remember(_ text: String) {
        let bytes = Array(text.utf8.prefix(ClientHandle.lastErrorSize - 1))
        for (index, byte) in bytes.enumerated() { lastError[index] = CChar(bitPattern: byte) }
        lastError[bytes.count] = 0
    }
}

/// The TLS handshake of tcpchat_client_connect_start with options.tls, driven by
/// tcpchat_client_flush once TCP is connected (the connection stays `connecting` until it is done).
struct PendingTLS: @unchecked Sendable {
    let options: TLSClientOptions
    let host: String
    let port: Int
    let deadline: Int64?   // monotonic ms; nil = none (connect_timeout_ms 0)
    var session: TLSSession?
    var wantsWrite = false
    var failure: Int32?
}

private func client(_ handle: OpaquePointer) -> ClientHandle {
    Unmanaged<ClientHandle>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// Where each option after struct_size starts (see serverConfigFieldOffsets).
private let clientOptionsFieldOffsets: [Int] = [
    MemoryLayout<tcpchat_client_options>.offset(of: \.connect_timeout_ms)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.reserved_1_0)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.send_queue_bytes)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.reserved_1_1)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.tls)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.tls_insecure)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.tls_ca_file)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.tls_server_name)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.error)!,
    MemoryLayout<tcpchat_client_options>.offset(of: \.error_size)!,
]

/// The options of a connect call, read and checked; nil when invalid.
private func readOptions(_ options: UnsafePointer<tcpchat_client_options>?) -> tcpchat_client_options? {
    var settings = defaultClientOptions()
    if let options {
        do {
            settings = try SizedStruct.read(UnsafeRawPointer(options), defaults: settings, fieldOffsets: clientOptionsFieldOffsets)
        } catch {
            return nil
        }
    }
    guard settings.connect_timeout_ms >= 0, settings.reserved_1_0 == 0, settings.reserved_1_1 == 0,
          (0...(1 << 24)).contains(settings.send_queue_bytes) else { return nil }
    return settings
}

private func makeHandle(_ connection: ChatConnection, _ settings: tcpchat_client_options) -> ClientHandle {
    if settings.send_queue_bytes > 0 { connection.sendQueueBytes = Int(settings.send_queue_bytes) }
    return ClientHandle(connection)
}

/// Every option's default, as tcpchat_client_options_init() documents them.
private func defaultClientOptions() -> tcpchat_client_options {
    tcpchat_client_options(struct_size: MemoryLayout<tcpchat_client_options>.size, connect_timeout_ms: 0, reserved_1_0: 0,
                           send_queue_bytes: 0, reserved_1_1: 0, tls: 0, tls_insecure: 0, tls_ca_file: nil,
                           tls_server_name: nil, error: nil, error_size: 0)
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
    guard let host, let out, (1...65535).contains(port), let settings = readOptions(options) else { return TCPCHAT_EINVAL }
    let name = String(cString: host)
    do throws(SocketError) {
        let fd = try connectSocket(host: name, port: Int(port), timeoutMilliseconds: Int64(settings.connect_timeout_ms))
        let connection: ChatConnection
        if let tls = tlsOptions(settings) {
            do {
                connection = try ChatConnection.adopting(fd: fd, tls: tls, host: name, port: Int(port))
            } catch {
                Sys.close(fd)
                throw error
            }
        } else {
            connection = ChatConnection.adopting(fd: fd)
        }
        out.pointee = OpaquePointer(Unmanaged.passRetained(makeHandle(connection, settings)).toOpaque())
        return TCPCHAT_OK
    } catch {
        report(error, to: settings)
        return ResultCode.of(error)
    }
}

/// The TLS options of a connect call, or nil for plaintext.
private func tlsOptions(_ settings: tcpchat_client_options) -> TLSClientOptions? {
    guard settings.tls != 0 else { return nil }
    var options = TLSClientOptions(verify: settings.tls_insecure == 0, caFile: settings.tls_ca_file.map { String(cString: $0) },
                                   serverName: settings.tls_server_name.map { String(cString: $0) })
    if settings.connect_timeout_ms > 0 { options.handshakeTimeoutMilliseconds = Int(settings.connect_timeout_ms) }
    return options
}

/// Writes why a connect failed into the caller's error buffer, if it gave one.
private func report(_ error: SocketError, to settings: tcpchat_client_options) {
    guard let buffer = settings.error, settings.error_size > 0 else { return }
    let text = Array(error.description.utf8.prefix(settings.error_size - 1))
    for (index, byte) in text.enumerated() { buffer[index] = CChar(bitPattern: byte) }
    buffer[text.count] = 0
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
    if client(handle).connection.connecting.load(ordering: .acquiring) { return TCPCHAT_EAGAIN }
    do { try client(handle).connection.send(String(cString: line)) } catch { return ResultCode.of(error) }
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_client_recv(
    _ handle: OpaquePointer!, _ buffer: UnsafeMutablePointer<CChar>!, _ size: Int, _ timeoutMilliseconds: Int32
) -> Int32 {
    guard let handle, let buffer, size > 0 else { return TCPCHAT_EINVAL }
    let state = client(handle)
    if state.connection.connecting.load(ordering: .acquiring) { return TCPCHAT_ETIMEDOUT }
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

// MARK: Never blocking (1.1)

/// Starts a non-blocking connect() of `fd` to `address`: 0 when connected at once,
/// EINPROGRESS while it goes on, else the error.
private func startConnect(_ fd: Int32, to address: SocketAddress) -> Int32 {
    address.withSockaddr { Glibc.connect(fd, $0, $1) } == 0 ? 0 : currentErrno()
}

/// Tries the next candidates on the handle's descriptor number (a new socket is dup2'ed onto
/// it) until one connects or is in progress; sets the sticky failure when none is left.
private func advance(_ pending: inout PendingConnect, fd: Int32, connection: ChatConnection) {
    while pending.next < pending.candidates.count {
        if let deadline = pending.deadline, monotonicMilliseconds() >= deadline { break }
        let address = pending.candidates[pending.next]
        pending.next += 1
        let fresh: Int32
        do { fresh = try Socket.make(family: address.family, nonBlocking: true) } catch {
            pending.lastError = .system(error)
            continue
        }
        guard dup2(fresh, fd) >= 0 else {
            pending.lastError = .system(SystemError("dup2", currentErrno()))
            Sys.close(fresh)
            continue
        }
        Sys.close(fresh)
        var code = startConnect(fd, to: address)
        if code == EINTR { code = EINPROGRESS }
        if code == EINPROGRESS { return }
        if code == 0 {
            finishConnect(fd, connection: connection)
            pending.failure = TCPCHAT_OK
            return
        }
        pending.lastError = .connect(address: address.description, code: code)
    }
    if let deadline = pending.deadline, monotonicMilliseconds() >= deadline {
        pending.failure = TCPCHAT_ETIMEDOUT
    } else {
        pending.failure = ResultCode.of(pending.lastError)
    }
}

private func finishConnect(_ fd: Int32, connection: ChatConnection) {
    Socket.configureConnected(fd)
    Sys.setNonBlocking(fd, false)
    // With TLS, connecting goes on through the handshake (driveHandshake).
    if !connection.connectsWithTLS { connection.connecting.store(false, ordering: .releasing) }
}

/// tcpchat_client_connect_start with options.tls: the connection will make its TLS handshake
/// once connected. Before the connect starts (it may complete at once).
private func prepareTLS(_ handle: ClientHandle, _ settings: tcpchat_client_options, host: String, port: Int) {
    guard let options = tlsOptions(settings) else { return }
    handle.connection.connectsWithTLS = true
    let timeout = Int64(settings.connect_timeout_ms)
    handle.pendingTLS.withLock {
        $0 = PendingTLS(options: options, host: host, port: port, deadline: timeout > 0 ? monotonicMilliseconds() + timeout : nil)
    }
}

/// Moves a non-blocking connect's TLS handshake on (TCP is connected): TCPCHAT_OK once done,
/// TCPCHAT_EAGAIN while it goes on (tcpchat_client_events says which way to wait), or the
/// failure (TCPCHAT_ETLS, TCPCHAT_ETIMEDOUT; tcpchat_client_last_error says why).
private func driveHandshake(_ state: ClientHandle) -> Int32 {
    state.pendingTLS.withLock { slot -> Int32 in
        guard var pending = slot else { return TCPCHAT_OK }
        if let failure = pending.failure { return failure }
        let address = "\(pending.host):\(pending.port)"
        func fail(_ code: Int32, _ reason: String) -> Int32 {
            pending.failure = code
            state.remember(SocketError.tls(address: address, reason: reason).description)
            slot = pending
            return code
        }
        if pending.session == nil {
            let context: TLSContext
            do throws(TLSError) { context = try pending.options.context() } catch { return fail(TCPCHAT_ETLS, error.description) }
            guard let session = TLSSession(context: context, fd: state.connection.fd, server: false,
                                           host: pending.options.serverName ?? pending.host) else {
                return fail(TCPCHAT_ESYSTEM, "out of memory")
            }
            pending.session = session
        }
        switch pending.session!.handshake() {
        case .done:
            state.connection.adoptTLS(pending.session!)
            slot = nil
            return TCPCHAT_OK
        case .wantRead: pending.wantsWrite = false
        case .wantWrite: pending.wantsWrite = true
        case .end: return fail(TCPCHAT_ETLS, "the server closed the connection during the TLS handshake")
        case .failed(let reason, _): return fail(TCPCHAT_ETLS, reason)
        }
        if let deadline = pending.deadline, monotonicMilliseconds() >= deadline {
            return fail(TCPCHAT_ETIMEDOUT, "no TLS handshake within the connect timeout (is this a TLS port? a plaintext server waits for a line)")
        }
        slot = pending
        return TCPCHAT_EAGAIN
    }
}

@c @implementation public func tcpchat_client_last_error(_ handle: OpaquePointer!) -> UnsafePointer<CChar>! {
    guard let handle else { return UnsafePointer(ClientHandle.noClient) }
    // The buffer lives as long as the client; it is written under pendingTLS's lock, by the
    // thread that calls flush (the one that then reads it, as the header says).
    return UnsafePointer(client(handle).lastError)
}

extension ClientHandle {
    /// "" for tcpchat_client_last_error(NULL): static, never freed.
    nonisolated(unsafe) static let noClient: UnsafeMutablePointer<CChar> = {
        let text = UnsafeMutablePointer<CChar>.allocate(capacity: 1)
        text.initialize(to: 0)
        return text
    }()
}

@c @implementation public func tcpchat_client_connect_start(
    _ host: UnsafePointer<CChar>!, _ port: Int32, _ options: UnsafePointer<tcpchat_client_options>!,
    _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    guard let host, let out, (1...65535).contains(port), let settings = readOptions(options) else { return TCPCHAT_EINVAL }
    let name = String(cString: host)
    let timeout = Int64(settings.connect_timeout_ms)
    if !isNumericAddress(name) {
        // A name: resolved on a worker thread; the host polls an eventfd (POLLIN) meanwhile,
        // and the socket later takes over its descriptor number.
        let fd: Int32
        do { fd = try retryingInterrupts("eventfd") { ctc_eventfd() } } catch { return ResultCode.system(error.code) }
        let resolution: Resolution
        do { resolution = try Resolution.start(host: name, port: Int(port), notify: fd) } catch {
            Sys.close(fd)
            return ResultCode.system(error.code)
        }
        let connection = ChatConnection(fd: fd)
        connection.connecting.store(true, ordering: .releasing)
        let handle = makeHandle(connection, settings)
        prepareTLS(handle, settings, host: name, port: Int(port))
        handle.pending.withLock {
            $0 = PendingConnect(
                candidates: [], next: 0, deadline: timeout > 0 ? monotonicMilliseconds() + timeout : nil, failure: nil,
                lastError: .connect(address: "\(name):\(port)", code: EHOSTUNREACH), resolving: resolution)
        }
        out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
        return TCPCHAT_OK
    }
    let candidates: [SocketAddress]
    do { candidates = try SocketAddress.resolve(host: name, port: Int(port), passive: false) } catch {
        return TCPCHAT_ERESOLVE
    }
    guard let first = candidates.first else { return TCPCHAT_ERESOLVE }
    // The descriptor the host will poll: the first candidate's socket; later candidates are
    // dup2'ed onto its number.
    let fd: Int32
    do { fd = try Socket.make(family: first.family, nonBlocking: true) } catch { return ResultCode.system(error.code) }
    let connection = ChatConnection(fd: fd)
    connection.connecting.store(true, ordering: .releasing)
    let handle = makeHandle(connection, settings)
    prepareTLS(handle, settings, host: name, port: Int(port))
    var pending = PendingConnect(
        candidates: candidates, next: 1, deadline: timeout > 0 ? monotonicMilliseconds() + timeout : nil, failure: nil,
        lastError: .connect(address: "\(name):\(port)", code: EHOSTUNREACH))
    var code = startConnect(fd, to: first)
    if code == EINTR { code = EINPROGRESS }
    if code == 0 {
        finishConnect(fd, connection: connection)
        pending.failure = TCPCHAT_OK
    } else if code != EINPROGRESS {
        pending.lastError = .connect(address: first.description, code: code)
        advance(&pending, fd: fd, connection: connection)
    }
    if let failure = pending.failure, failure != TCPCHAT_OK {
        connection.close()
        return failure
    }
    handle.pending.withLock { $0 = pending.failure == TCPCHAT_OK ? nil : pending }
    out.pointee = OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
    return TCPCHAT_OK
}

/// Moves a pending connect on: TCPCHAT_OK once connected, TCPCHAT_EAGAIN while it goes on,
/// or the failure.
private func driveConnect(_ state: ClientHandle) -> Int32 {
    state.pending.withLock { slot -> Int32 in
        guard var pending = slot else { return TCPCHAT_OK }
        if let failure = pending.failure { return failure }
        let fd = state.connection.fd
        if let resolution = pending.resolving {
            guard let addresses = resolution.result.withLock({ $0 }) else {
                if let deadline = pending.deadline, monotonicMilliseconds() >= deadline {
                    pending.failure = TCPCHAT_ETIMEDOUT
                    slot = pending
                    return TCPCHAT_ETIMEDOUT
                }
                return TCPCHAT_EAGAIN
            }
            pending.resolving = nil
            pending.candidates = addresses
            pending.next = 0
            if addresses.isEmpty {
                pending.failure = TCPCHAT_ERESOLVE
            } else {
                advance(&pending, fd: fd, connection: state.connection)  // the first socket replaces the eventfd
            }
            if pending.failure == TCPCHAT_OK {
                slot = nil
                return TCPCHAT_OK
            }
            slot = pending
            return pending.failure ?? TCPCHAT_EAGAIN
        }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&entry, 1, 0)
        if ready > 0 {
            let error = Sys.pendingError(fd)
            if error == 0 {
                finishConnect(fd, connection: state.connection)
                slot = nil
                return TCPCHAT_OK
            }
            pending.lastError = .connect(address: pending.candidates[pending.next - 1].description, code: error)
            advance(&pending, fd: fd, connection: state.connection)
        } else if let deadline = pending.deadline, monotonicMilliseconds() >= deadline {
            pending.failure = TCPCHAT_ETIMEDOUT
        }
        if pending.failure == TCPCHAT_OK {
            slot = nil
            return TCPCHAT_OK
        }
        slot = pending
        return pending.failure ?? TCPCHAT_EAGAIN
    }
}

@c @implementation public func tcpchat_client_try_send(_ handle: OpaquePointer!, _ line: UnsafePointer<CChar>!) -> Int32 {
    guard let handle, let line else { return TCPCHAT_EINVAL }
    do {
        return try client(handle).connection.trySend(String(cString: line)) ? TCPCHAT_OK : TCPCHAT_EAGAIN
    } catch {
        return error.code == EMSGSIZE ? TCPCHAT_EINVAL : ResultCode.of(error)
    }
}

@c @implementation public func tcpchat_client_events(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    let state = client(handle)
    let connection = state.connection
    if connection.connecting.load(ordering: .acquiring) {
        // TCP connected, TLS handshake under way: the way OpenSSL waits (before its first step,
        // writable: the ClientHello goes out at the next flush).
        let tcpDone = state.pending.withLock { $0 == nil }
        if tcpDone, let wantsWrite = state.pendingTLS.withLock({ $0.map { $0.session == nil || $0.wantsWrite } }) {
            return wantsWrite ? Int32(POLLOUT) : Int32(POLLIN)
        }
        let resolving = state.pending.withLock { $0?.resolving != nil && $0?.failure == nil }
        return resolving ? Int32(POLLIN) : Int32(POLLOUT)
    }
    return Int32(POLLIN) | (connection.queuedBytes > 0 ? Int32(POLLOUT) : 0)
}

@c @implementation public func tcpchat_client_flush(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    let state = client(handle)
    let connected = driveConnect(state)
    guard connected == TCPCHAT_OK else { return connected }
    if state.connection.connecting.load(ordering: .acquiring) {  // TCP is up; TLS's handshake goes on
        let secured = driveHandshake(state)
        guard secured == TCPCHAT_OK else { return secured }
    }
    do { return try state.connection.flush() ? TCPCHAT_OK : TCPCHAT_EAGAIN } catch { return ResultCode.of(error) }
}

@c @implementation public func tcpchat_client_timeout(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return -1 }
    let state = client(handle)
    let connecting = state.pending.withLock { pending -> Int32? in
        guard let pending else { return nil }
        guard pending.failure == nil, let deadline = pending.deadline else { return -1 }
        return Int32(clamping: max(0, deadline - monotonicMilliseconds()))
    }
    if let connecting { return connecting }
    return state.pendingTLS.withLock { pending -> Int32 in
        guard let pending, pending.failure == nil, let deadline = pending.deadline else { return -1 }
        return Int32(clamping: max(0, deadline - monotonicMilliseconds()))
    }
}
