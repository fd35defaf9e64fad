// The Swift client API: a connection whose incoming lines are an AsyncSequence.
//
//     let client = try ChatClient(host: "127.0.0.1", port: 6789)
//     try client.send("hello")
//     for try await line in client.lines { print(line) }   // ends when the server closes
//
// Under it is a ChatConnection and one reader thread that blocks in `receive` and yields each
// line into an AsyncThrowingStream. The reader owns the end of the connection: closing is a
// `shutdown(SHUT_RDWR)` that wakes it, and the reader closes the descriptor itself, so no
// thread ever reads from a descriptor another thread has closed (and the kernel reused).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

public final class ChatClient: Sendable {
    /// Every line the server sends, without its newline, in order. It finishes when the server
    /// closes the connection (or after `close()`), and throws `ChatConnection.ReceiveError`
    /// when the connection is reset or fails. One consumer: iterate it from one task. Up to
    /// `ChatClient.bufferedLines` lines wait to be read; past that the reader stops reading the
    /// socket until there is room (nothing is dropped; TCP holds the rest, and a server may
    /// disconnect a client that falls far behind). Cancelling the iterating task closes the client.
    public let lines: AsyncThrowingStream<String, any Error>

    private let reader: LineReader

    /// How many received lines may wait unread in `lines`.
    public static let bufferedLines = 4096

    /// Connects (blocking) to `host:port`; every address `host` resolves to is tried in turn.
    public convenience init(host: String, port: Int) throws(SocketError) {
        try self.init(host: host, port: port, tls: nil)
    }

    /// Connects (blocking) to `host:port`, over TLS when `tls` is given: the handshake verifies
    /// the server's certificate (against the system's trust store or `tls.caFile`, and the host
    /// name) unless `tls.verify` is off; a failure throws `SocketError.tls` saying what failed.
    public init(host: String, port: Int, tls: TLSClientOptions?) throws(SocketError) {
        let connection = try ChatConnection.connect(host: host, port: port, tls: tls)
        let (stream, continuation) = AsyncThrowingStream<String, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(ChatClient.bufferedLines))
        lines = stream
        reader = LineReader(connection: connection, continuation: continuation)
        do {
            try reader.start()
        } catch {
            connection.close()
            throw .system(error)
        }
    }

    deinit { reader.stop() }

    /// The local and remote addresses of the connection.
    public var localAddress: SocketAddress? { reader.connection.localAddress }
    public var remoteAddress: SocketAddress? { reader.connection.remoteAddress }
    /// The TLS protocol and cipher ("TLSv1.3 TLS_AES_256_GCM_SHA384"), or nil for plaintext.
    public var tlsDescription: String? { reader.connection.tlsDescription }

    /// Sends `line` plus LF: chat for your room, or a command such as "/nick ada". Blocks until
    /// the kernel took every byte. Any thread. Throws (EPIPE) after `shutdownWrite()` or
    /// `close()`, and when the connection is gone.
    public func send(_ line: String) throws(SystemError) {
        try reader.connection.send(line)
    }

    /// Half-close: tells the server you will send nothing more. `lines` goes on until the
    /// server closes its side (it does once it has said what it had to). Any thread.
    public func shutdownWrite() {
        reader.connection.shutdownWrite()
    }

    /// Closes the connection without a /quit (send "/quit" first to leave politely); `lines`
    /// finishes after the lines already received. Any thread; idempotent.
    public func close() {
        reader.stop()
    }
}

/// The reader thread and the connection's end of life, shared by the client, the thread and
/// the stream's termination handler.
private final class LineReader: Sendable {
    let connection: ChatConnection
    private let continuation: AsyncThrowingStream<String, any Error>.Continuation
    /// True once the reader has closed the descriptor; guards against shutting down a
    /// descriptor number that may already belong to someone else.
    private let finished = Mutex<Bool>(false)

    init(connection: ChatConnection, continuation: AsyncThrowingStream<String, any Error>.Continuation) {
        self.connection = connection
        self.continuation = continuation
    }

    func start() throws(SystemError) {
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.stop() }
        }
        let thread = try LoopThread.start { [self] in readUntilEnd() }
        pthread_detach(thread)
    }

    /// Wakes the reader (its receive sees end of stream) unless it has already finished.
    func stop() {
        finished.withLock { done in
            if !done { Sys.shutdown(connection.fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Hands `line` to the stream, waiting while the stream's buffer is full: the stream has no
    /// way to signal room, so the reader looks again every millisecond (only while the consumer
    /// is behind). A terminated stream (cancelled, closed) takes nothing more.
    private func deliver(_ line: String) {
        while true {
            switch continuation.yield(line) {
            case .enqueued, .terminated: return
            case .dropped: usleep(1000)
            @unknown default: return
            }
        }
    }

    private func readUntilEnd() {
        var ending: ChatConnection.ReceiveError?
        while ending == nil {
            do throws(ChatConnection.ReceiveError) {
                if let line = try connection.receive(timeoutMilliseconds: -1) { deliver(line) }
            } catch {
                ending = error
            }
        }
        finished.withLock { done in
            done = true
            connection.close()
        }
        if ending == .closed {
            continuation.finish()
        } else {
            continuation.finish(throwing: ending)
        }
    }
}
