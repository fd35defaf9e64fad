// The client side of one chat connection: connect, send lines, receive whole lines. It frames
// what arrives by line (never by recv) and works two ways:
//   - blocking: `receive(timeoutMilliseconds:)` waits for the next line;
//   - driven by the host's own poll/epoll loop on `fd`: call `readAvailable()` when readable.
//
// Threading: `send`, `shutdownWrite` may be called from any thread (sends are serialised);
// receiving belongs to one thread at a time.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import Synchronization

public final class ChatConnection: @unchecked Sendable {
    /// How a connection ended, or why receiving failed.
    public enum ReceiveError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The server closed the connection (orderly FIN).
        case closed
        /// The connection was reset by the peer.
        case reset
        case system(SystemError)

        public var description: String {
            switch self {
            case .closed: return "connection closed by server"
            case .reset: return "connection reset by peer"
            case .system(let error): return error.description
            }
        }
    }

    /// What one `readAvailable()` call found.
    public enum ReadStatus: Equatable, Sendable {
        /// Lines (possibly none) and the connection is still open.
        case lines([String])
        /// These lines, then the end of the stream (or an error).
        case ended([String], ReceiveError)
    }

    /// Longest server line kept whole; a longer one arrives as `tooLongLine`.
    public static let maxLineBytes = 1 << 20
    public static let tooLongLine = "! (a line from the server was over 1 MiB and was dropped)"

    public let fd: Int32
    public let localAddress: SocketAddress?
    /// How lines are sent and read (UTF-8 unless the connection was made with another).
    public var encoding: TextEncoding { codec.encoding }
    /// Encodes under `sendLock`, decodes on the receiving thread.
    private let codec: TextTranscoder
    public let remoteAddress: SocketAddress?
    private var framer = LineFramer(maxLineBytes: ChatConnection.maxLineBytes)
    /// Where `recv` reads into: one buffer for the connection's life, used by one reader.
    private let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    private var ready: [String] = []
    private var readyHead = 0
    private var ended: ReceiveError?
    /// The write side: shut or not, and what `trySend` queued that the socket has not taken.
    private struct SendSide {
        var shut = false
        var queue: [UInt8] = []
        var head = 0
        var count: Int { queue.count - head }
    }
    private let sendLock = Mutex<SendSide>(SendSide())
    /// The most bytes `trySend` may queue (set before sending; C: send_queue_bytes).
    public static let defaultSendQueueBytes = 65536
    private let sendQueueLimit = Atomic<Int>(ChatConnection.defaultSendQueueBytes)
    private let closed = Atomic<Bool>(false)
    /// TLS (Transport/TLS): every byte goes through this session; nil = plaintext. OpenSSL's
    /// state is one object for both directions: `tlsLock` serialises the (never blocking) calls
    /// of the sending threads and the receiving one; nobody waits while holding it.
    /// Set at init, or (a non-blocking connect: tcpchat_client_connect_start) once by
    /// `adoptTLS` while `connecting` is still true, before it turns false: every other use
    /// comes after `connecting` was read false (acquire), or on a connection made with it.
    private var tls: TLSSession?
    private let tlsLock = Mutex<Void>(())

    /// The TLS protocol and cipher in use ("TLSv1.3 TLS_AES_256_GCM_SHA384"), or nil for plaintext.
    public var tlsDescription: String? { tls.map { "\($0.version) \($0.cipher)" } }

    init(fd: Int32, encoding: TextEncoding = .utf8, tls: TLSSession? = nil) {
        self.fd = fd
        self.tls = tls
        codec = TextTranscoder(encoding)
        localAddress = Socket.localAddress(fd)
        remoteAddress = Socket.peerAddress(fd)
    }

    deinit {
        close()
        receiveBuffer.deallocate()
    }

    /// Connects to `host:port` (names resolved with getaddrinfo; IPv6 and IPv4 tried in order).
    /// `encoding`: what the other side speaks; a tcpchat server speaks UTF-8, the default.
    public static func connect(host: String, port: Int, encoding: TextEncoding = .utf8) throws(SocketError) -> ChatConnection {
        ChatConnection(fd: try Socket.connect(host: host, port: port), encoding: encoding)
    }

    /// Connects to `host:port` and, with `tls`, makes a TLS connection over it: the handshake
    /// (within `tls.handshakeTimeoutMilliseconds`) verifies the server's certificate unless
    /// told not to. A failed handshake throws `SocketError.tls` with what failed.
    public static func connect(host: String, port: Int, encoding: TextEncoding = .utf8, tls: TLSClientOptions?) throws(SocketError) -> ChatConnection {
        let fd = try Socket.connect(host: host, port: port)
        guard let tls else { return ChatConnection(fd: fd, encoding: encoding) }
        do {
            let session = try ChatConnection.handshake(fd: fd, options: tls, host: host, port: port)
            return ChatConnection(fd: fd, encoding: encoding, tls: session)
        } catch {
            Sys.close(fd)
            throw error
        }
    }

    /// Makes the TLS session of a connected socket and completes its handshake (blocking, with
    /// the options' deadline).
    static func handshake(fd: Int32, options: TLSClientOptions, host: String, port: Int) throws(SocketError) -> TLSSession {
        let address = "\(host):\(port)"
        let context: TLSContext
        do { context = try options.context() } catch { throw .tls(address: address, reason: error.description) }
        guard let session = TLSSession(context: context, fd: fd, server: false, host: options.serverName ?? host) else {
            throw .system(SystemError("SSL_new", ENOMEM))
        }
        let deadline = options.handshakeTimeoutMilliseconds > 0 ? monotonicMilliseconds() + Int64(options.handshakeTimeoutMilliseconds) : Int64.max
        while true {
            let events: Int16
            switch session.handshake() {
            case .done: return session
            case .wantRead: events = Int16(POLLIN)
            case .wantWrite: events = Int16(POLLOUT)
            case .end: throw .tls(address: address, reason: "the server closed the connection during the TLS handshake")
            case .failed(let reason, _): throw .tls(address: address, reason: reason)
            }
            let remaining = deadline == .max ? -1 : Int32(clamping: deadline - monotonicMilliseconds())
            if deadline != .max && remaining <= 0 {
                throw .tls(address: address, reason: "no TLS handshake within \(options.handshakeTimeoutMilliseconds) ms (is this a TLS port? a plaintext server waits for a line)")
            }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            if poll(&entry, 1, remaining) < 0 && currentErrno() != EINTR { throw .system(SystemError("poll", currentErrno())) }
        }
    }

    /// One non-blocking write of `bytes`, through TLS when the connection has it. A write that
    /// would block is retried later with the same bytes (OpenSSL's rule; every caller does).
    private func transmit(_ bytes: UnsafeRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        guard let tls else { return try Sys.send(fd, bytes) }
        guard bytes.count > 0 else { return .done(0) }
        let outcome = tlsLock.withLock { _ in tls.write(bytes.baseAddress!, count: bytes.count) }
        switch outcome {
        case .done(let count): return .done(count)
        case .wantWrite, .wantRead: return .wouldBlock
        case .end: throw SystemError("send", EPIPE)
        case .failed(_, let code): throw SystemError("send", code != 0 ? code : EPROTO)
        }
    }

    /// Wraps a connected stream socket the caller owns no longer (e.g. one `accept` returned).
    public static func adopting(fd: Int32, encoding: TextEncoding = .utf8) -> ChatConnection {
        Sys.setNonBlocking(fd, false)
        return ChatConnection(fd: fd, encoding: encoding)
    }

    /// Wraps a connected socket (as `adopting(fd:)`) and makes a TLS connection over it; on
    /// failure the socket is left to the caller.
    public static func adopting(fd: Int32, encoding: TextEncoding = .utf8, tls: TLSClientOptions, host: String, port: Int) throws(SocketError) -> ChatConnection {
        Sys.setNonBlocking(fd, false)
        let session = try handshake(fd: fd, options: tls, host: host, port: port)
        return ChatConnection(fd: fd, encoding: encoding, tls: session)
    }

    // MARK: Sending

    /// Sends `line` plus LF, all of it (blocking until the kernel took every byte), in the
    /// connection's encoding. A line that contains LF is sent as several lines. Any thread.
    public func send(_ line: String) throws(SystemError) {
        let failure: SystemError? = sendLock.withLock { side in
            if side.shut || closed.load(ordering: .acquiring) { return SystemError("send", EPIPE) }
            var data = codec.encode(line)
            data.append(0x0A)
            if side.count > 0 {  // what trySend queued goes first
                data.insert(contentsOf: side.queue[side.head...], at: 0)
                side.queue.removeAll()
                side.head = 0
            }
            return data.withUnsafeBytes { bytes -> SystemError? in
                var offset = 0
                while offset < bytes.count {
                    do throws(SystemError) {
                        switch try transmit(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
                        case .done(let count): offset += count
                        case .wouldBlock: waitWritable()
                        }
                    } catch {
                        return error
                    }
                }
                return nil
            }
        }
        if let failure { throw failure }
    }

    /// The most bytes `trySend` may queue, >= 1. Any thread.
    public var sendQueueBytes: Int {
        get { sendQueueLimit.load(ordering: .relaxed) }
        set { sendQueueLimit.store(max(1, newValue), ordering: .relaxed) }
    }

    /// Whether the connection is being made (`connect_start`): nothing is written meanwhile.
    let connecting = Atomic<Bool>(false)
    /// A non-blocking connect that makes a TLS connection once TCP is connected: `connecting`
    /// stays true until the handshake is done (ClientAPI, tcpchat_client_flush).
    var connectsWithTLS = false

    /// The TLS session a non-blocking connect's handshake made; then `connecting` ends.
    func adoptTLS(_ session: TLSSession) {
        tls = session
        connecting.store(false, ordering: .releasing)
    }

    /// Queues `line` plus LF and writes what the socket takes now, never blocking. False (and
    /// nothing queued) when the queue has no room for the line: the server does not read fast
    /// enough. Throws `EMSGSIZE` when the line alone is larger than the queue. Any thread.
    public func trySend(_ line: String) throws(SystemError) -> Bool {
        let limit = sendQueueBytes
        let outcome: Result<Bool, SystemError> = sendLock.withLock { side in
            if side.shut || closed.load(ordering: .acquiring) { return .failure(SystemError("send", EPIPE)) }
            let encoded = codec.encode(line)  // in the connection's encoding, under the lock (iconv)
            let needed = encoded.count + 1
            if needed > limit { return .failure(SystemError("send", EMSGSIZE)) }
            if side.count + needed > limit {
                // Maybe the socket took some since: write, then look again.
                if let error = write(&side) { return .failure(error) }
                if side.count + needed > limit { return .success(false) }
            }
            if side.head > 0 && side.head >= side.queue.count / 2 {
                side.queue.removeFirst(side.head)
                side.head = 0
            }
            side.queue.append(contentsOf: encoded)
            side.queue.append(0x0A)
            if let error = write(&side) { return .failure(error) }
            return .success(true)
        }
        return try outcome.get()
    }

    /// Writes what `trySend` queued as far as the socket takes it, never blocking. True when
    /// nothing is left. Any thread.
    public func flush() throws(SystemError) -> Bool {
        let outcome: Result<Bool, SystemError> = sendLock.withLock { side in
            if side.count == 0 { return .success(true) }
            if side.shut || closed.load(ordering: .acquiring) { return .failure(SystemError("send", EPIPE)) }
            if let error = write(&side) { return .failure(error) }
            return .success(side.count == 0)
        }
        return try outcome.get()
    }

    /// Bytes queued by `trySend` and not yet taken by the socket. Any thread.
    public var queuedBytes: Int { sendLock.withLock { $0.count } }

    /// One non-blocking write of the queue; the error when the socket failed.
    private func write(_ side: inout SendSide) -> SystemError? {
        if connecting.load(ordering: .acquiring) { return nil }
        if tls != nil {
            while side.count > 0 {
                let head = side.head
                let result: Result<IOResult<Int>, SystemError> = side.queue.withUnsafeBytes { bytes in
                    do throws(SystemError) { return .success(try transmit(UnsafeRawBufferPointer(rebasing: bytes[head...]))) } catch { return .failure(error) }
                }
                let written: IOResult<Int>
                switch result {
                case .success(let outcome): written = outcome
                case .failure(let error): return error
                }
                guard case .done(let count) = written else { return nil }
                side.head += count
            }
            side.queue.removeAll(keepingCapacity: side.queue.capacity <= 4096)
            side.head = 0
            return nil
        }
        while side.count > 0 {
            let sent = side.queue.withUnsafeBytes { bytes in
                Glibc.send(fd, bytes.baseAddress! + side.head, side.count, ctc_MSG_NOSIGNAL | Int32(MSG_DONTWAIT))
            }
            if sent < 0 {
                let code = currentErrno()
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK { return nil }
                return SystemError("send", code)
            }
            side.head += sent
        }
        side.queue.removeAll(keepingCapacity: side.queue.capacity <= 4096)
        side.head = 0
        return nil
    }

    private func waitWritable() {
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        _ = poll(&entry, 1, -1)
    }

    /// Half-close: no more lines will be sent; the server's lines can still be received. Any thread.
    public func shutdownWrite() {
        sendLock.withLock { side in
            if !side.shut && !closed.load(ordering: .acquiring) {
                if let tls { tlsLock.withLock { _ in tls.shutdown() } }  // close_notify first
                Sys.shutdown(fd, Int32(SHUT_WR))
            }
            side.shut = true
        }
    }

    // MARK: Receiving

    /// The next line from the server, without its newline; nil when `timeoutMilliseconds`
    /// passed first (-1 waits for ever, 0 only looks). Throws once the stream has ended and
    /// every line before the end was returned.
    public func receive(timeoutMilliseconds: Int32) throws(ReceiveError) -> String? {
        let deadline = timeoutMilliseconds < 0 ? Int64.max : monotonicMilliseconds() + Int64(timeoutMilliseconds)
        while true {
            if let line = takeReady() { return line }
            if let ended { throw ended }
            let remaining = deadline == .max ? -1 : Int32(clamping: max(0, deadline - monotonicMilliseconds()))
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&entry, 1, remaining)
            if rc < 0 && currentErrno() != EINTR { throw .system(SystemError("poll", currentErrno())) }
            if rc == 0 && remaining == 0 { return nil }
            if rc > 0 { readOnce() }
        }
    }

    /// Reads what the socket has now, without blocking. For hosts that poll `fd` themselves.
    public func readAvailable() -> ReadStatus {
        if ended == nil { readOnce() }
        var lines: [String] = []
        while let line = takeReady() { lines.append(line) }
        if let ended { return .ended(lines, ended) }
        return .lines(lines)
    }

    /// True when lines are buffered (a poll on `fd` would not show them).
    public var hasBufferedLines: Bool { readyHead < ready.count }

    private func takeReady() -> String? {
        guard readyHead < ready.count else { return nil }
        let line = ready[readyHead]
        readyHead += 1
        if readyHead == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
        }
        return line
    }

    private func take(_ event: LineFramer.Event) {
        switch event {
        case .line(let bytes): ready.append(codec.decode(bytes))
        case .overlong: ready.append(ChatConnection.tooLongLine)
        }
    }

    private func readOnce() {
        if let tls { return readOnce(tls) }
        let count = recv(fd, receiveBuffer.baseAddress, receiveBuffer.count, Int32(MSG_DONTWAIT))
        if count > 0 {
            framer.feed(UnsafeRawBufferPointer(rebasing: receiveBuffer[..<count]), take)
        } else if count == 0 {
            framer.finish(take)
            ended = .closed
        } else {
            let code = currentErrno()
            if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return }
            ended = code == ECONNRESET ? .reset : .system(SystemError("recv", code))
        }
    }

    /// Decrypts what has arrived, a whole record at a time (so OpenSSL keeps nothing back that
    /// a poll on `fd` would not show), up to four records.
    private func readOnce(_ tls: TLSSession) {
        for _ in 0..<4 {
            let outcome = tlsLock.withLock { _ in tls.read(into: receiveBuffer) }
            switch outcome {
            case .done(let count):
                framer.feed(UnsafeRawBufferPointer(rebasing: receiveBuffer[..<count]), take)
            case .end:
                framer.finish(take)
                ended = .closed
                return
            case .wantRead, .wantWrite:
                return
            case .failed(let reason, let code):
                if code == ECONNRESET { ended = .reset } else if code != 0 { ended = .system(SystemError("recv", code)) } else {
                    ready.append("! TLS: \(reason)")
                    ended = .system(SystemError("TLS", EPROTO))
                }
                return
            }
        }
    }

    // MARK: Closing

    /// Closes the socket. Idempotent; after it, `send` fails with EPIPE.
    public func close() {
        sendLock.withLock { _ in
            if !closed.exchange(true, ordering: .acquiringAndReleasing) { Sys.close(fd) }
        }
    }
}
