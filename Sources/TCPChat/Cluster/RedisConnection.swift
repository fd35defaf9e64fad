// One non-blocking connection to Redis on the server's event loop. Commands are pipelined:
// each is encoded into a bounded output buffer and its reply handler joins a FIFO, because
// Redis answers in order. A subscriber connection (SUBSCRIBE mode) has no FIFO: everything it
// receives is a push (`message`, `subscribe`, `unsubscribe`).
//
// Nothing here blocks: connect is EINPROGRESS then EPOLLOUT, reads and writes stop at EAGAIN.
// Any failure closes the connection and reports once through `onFailure`; pending handlers are
// then answered with `linkLost`, so that whoever waits (a /who, a /nick) gets an answer: the
// owner falls back to what it knows locally.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import TCPChatNet

final class RedisConnection: EventHandler {
    typealias ReplyHandler = (RESPValue) -> Void

    private let loop: EventLoop
    private let isSubscriber: Bool
    private let maxQueueBytes: Int
    private var fd: Int32 = -1
    private(set) var isConnected = false
    private(set) var isClosed = false
    private var output: [UInt8] = []
    private var outputStart = 0
    private var input: [UInt8] = []
    private var handlers: [ReplyHandler?] = []
    private var handlersStart = 0
    private var interest: EventLoop.Interest = []
    /// Where reads land before they join `input` (one allocation for the connection's life).
    private let readChunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    /// Called once, with a reason, when the connection fails or Redis closes it.
    var onFailure: ((String) -> Void)?
    /// Subscriber connections only: every value Redis pushes.
    var onPush: ((RESPValue) -> Void)?
    /// Every error reply Redis sends, before it goes to its handler (if any): one place for the
    /// owner to log them or react, instead of a wrapper around each command.
    var onErrorReply: ((String) -> Void)?

    /// The reply every pending handler gets when the connection closes before Redis answered.
    static let linkLost = RESPValue.error("tcpchat: the link to Redis closed before it answered")

    /// Largest input kept while a reply is incomplete.
    static let maxInputBytes = 32 << 20

    init(to address: SocketAddress, loop: EventLoop, subscriber: Bool, maxQueueBytes: Int) throws(SystemError) {
        self.loop = loop
        self.isSubscriber = subscriber
        self.maxQueueBytes = maxQueueBytes
        fd = try Socket.make(family: address.family, nonBlocking: true)
        var rc: Int32
        repeat { rc = address.withSockaddr { Glibc.connect(fd, $0, $1) } } while rc != 0 && currentErrno() == EINTR
        if rc != 0 && currentErrno() != EINPROGRESS {
            let error = SystemError("connect", currentErrno())
            Sys.close(fd)
            fd = -1
            throw error
        }
        Socket.configureConnected(fd)
        interest = [.read, .write]  // writable = the connect finished (or failed)
        do { try loop.register(fd, interest: interest, handler: self) } catch {
            Sys.close(fd)
            fd = -1
            throw error
        }
    }

    deinit {
        close(answeringPending: false)
        readChunk.deallocate()
    }

    /// Bytes queued for Redis and not yet written.
    var queuedBytes: Int { output.count - outputStart }

    /// Queues `command`. False (and `reply` is never called) when the connection is closed or
    /// its queue is over the cap.
    @discardableResult
    func send(_ command: [String], reply: ReplyHandler? = nil) -> Bool {
        guard !isClosed, queuedBytes < maxQueueBytes else { return false }
        RESP.encode(command, into: &output)
        if !isSubscriber { handlers.append(reply) }
        return true
    }

    /// Writes what is queued, as far as the socket takes it.
    func flush() {
        guard isConnected, !isClosed else { return }
        while outputStart < output.count {
            let result: IOResult<Int>
            do {
                result = try output.withUnsafeBytes { bytes in
                    try Sys.send(fd, UnsafeRawBufferPointer(rebasing: bytes[outputStart...]))
                }
            } catch {
                fail("\(error)")
                return
            }
            guard case .done(let count) = result else { break }
            outputStart += count
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 1 << 20)
            outputStart = 0
        } else if outputStart > 1 << 20 {
            output.removeFirst(outputStart)
            outputStart = 0
        }
        setInterest(outputStart < output.count ? [.read, .write] : [.read])
    }

    func handleEvent(_ readiness: EventLoop.Readiness) {
        if !isConnected {
            guard readiness.writable || readiness.hangup else { return }
            let code = Sys.pendingError(fd)
            guard code == 0 else {
                fail("connect: \(SystemError.message(for: code))")
                return
            }
            isConnected = true
            flush()
            return
        }
        if readiness.readable { readAvailable() }
        if readiness.writable && !isClosed { flush() }
    }

    /// Closes the socket and answers every pending handler with `linkLost` (unless
    /// `answeringPending` is false: the owner is going away). Does not call `onFailure`.
    func close(answeringPending: Bool = true) {
        guard !isClosed else { return }
        isClosed = true
        if fd >= 0 {
            loop.unregister(fd)
            Sys.close(fd)
            fd = -1
        }
        let pending = answeringPending ? handlers[handlersStart...].compactMap { $0 } : []
        handlers.removeAll()
        handlersStart = 0
        output.removeAll()
        input.removeAll()
        for handler in pending { handler(RedisConnection.linkLost) }  // after the state is final: they may call back in
    }

    // MARK: Private

    private func fail(_ reason: String) {
        guard !isClosed else { return }
        // The owner hears of the failure before the pending handlers get their `linkLost`, so
        // that they already see the link down when they fall back.
        onFailure?(reason)
        close()
    }

    private func setInterest(_ wanted: EventLoop.Interest) {
        guard wanted != interest, !isClosed else { return }
        interest = wanted
        do { try loop.modify(fd, interest: wanted) } catch { fail("epoll: \(error)") }
    }

    private func readAvailable() {
        for _ in 0..<16 {
            let result: IOResult<Int>
            do { result = try Sys.read(fd, readChunk) } catch {
                fail("\(error)")
                return
            }
            guard case .done(let count) = result else { break }
            if count == 0 {
                fail("Redis closed the connection")
                return
            }
            input.append(contentsOf: UnsafeRawBufferPointer(rebasing: readChunk[..<count]))
            if input.count > RedisConnection.maxInputBytes {
                fail("a reply larger than \(RedisConnection.maxInputBytes) bytes")
                return
            }
            if count < readChunk.count { break }
        }
        dispatchReplies()
    }

    private func dispatchReplies() {
        var consumed = 0
        while !isClosed {
            let parsed: (RESPValue, Int)?
            do { parsed = try input.withUnsafeBytes { bytes in try RESP.parse(bytes, from: consumed) } } catch {
                fail("protocol error: \(error)")
                return
            }
            guard let (value, next) = parsed else { break }
            consumed = next
            if isSubscriber {
                if case .error(let message) = value { onErrorReply?(message) }
                onPush?(value)
                continue
            }
            guard handlersStart < handlers.count else {
                fail("protocol error: a reply nobody asked for")
                return
            }
            // Taken off the FIFO before anyone is told of an error: the owner may close the
            // connection in `onErrorReply`, which answers (and empties) the rest of the FIFO.
            let handler = handlers[handlersStart]
            handlers[handlersStart] = nil
            handlersStart += 1
            if handlersStart > 1024 && handlersStart * 2 > handlers.count {
                handlers.removeFirst(handlersStart)
                handlersStart = 0
            }
            if case .error(let message) = value { onErrorReply?(message) }
            handler?(value)
        }
        if !isClosed && consumed > 0 { input.removeFirst(consumed) }
    }
}
