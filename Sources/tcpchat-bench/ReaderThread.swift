// A reader thread of --threads N: during the message phase it reads a share of the receiving
// clients on an epoll set of its own, with a tally of its own (DeliveryTally, no atomics per
// line), so one thread's reading is not the ceiling of what a server is seen to deliver. The
// senders and the slow readers stay on the main thread; each connection is read by exactly
// one thread while lines flow. What the main thread needs while the phase runs (how far this
// thread got: messages complete here, deliveries, the last arrival) is published once per
// epoll batch through atomics.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import Synchronization

final class ReaderThread {
    private let plan: LoadPlan
    private let epollFD: Int32
    private let events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity = 1024
    private let readBuffer: UnsafeMutableRawPointer
    private let readBufferSize = 256 * 1024
    /// This thread's connections, by token (their index in `mine`).
    private var mine: [BenchConnection] = []
    let tally: UnsafeMutablePointer<DeliveryTally>
    private var thread: pthread_t?

    let stop = Atomic<Bool>(false)
    let completed = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let lastDeliveryTime = Atomic<UInt64>(0)

    /// Takes `connections` (already removed from the main thread's epoll set).
    init(plan: LoadPlan, connections: [BenchConnection]) throws(BenchError) {
        self.plan = plan
        epollFD = ctc_epoll_create()
        guard epollFD >= 0 else { throw .system("epoll_create1: \(String(cString: strerror(ctc_errno())))") }
        events = .allocate(capacity: eventCapacity)
        readBuffer = .allocate(byteCount: readBufferSize, alignment: 16)
        mine = connections
        tally = .allocate(capacity: 1)
        tally.initialize(to: DeliveryTally(messages: plan.totalMessages, expectedPerMessage: connections.count))
        for (token, connection) in connections.enumerated() {
            _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_ADD, connection.fd, UInt32(ctc_EPOLLIN | ctc_EPOLLRDHUP), UInt64(token))
        }
    }

    deinit {
        close(epollFD)
        events.deallocate()
        readBuffer.deallocate()
        tally.pointee.free()
        tally.deallocate()
    }

    func start() throws(BenchError) {
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { context in
            let reader = Unmanaged<ReaderThread>.fromOpaque(context!).takeRetainedValue()
            reader.loop()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<ReaderThread>.fromOpaque(context).release()
            throw .system("pthread_create: \(String(cString: strerror(rc)))")
        }
        thread = handle
    }

    /// Stops the thread and waits for it; its tally is final afterwards.
    func join() {
        stop.store(true, ordering: .releasing)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func loop() {
        while !stop.load(ordering: .acquiring) {
            let count = ctc_epoll_wait(epollFD, events, Int32(eventCapacity), 10)
            guard count > 0 else { continue }
            for index in 0..<Int(count) {
                let connection = mine[Int(ctc_epoll_event_token(events + index))]
                if connection.state == .open { readAll(from: connection) }
            }
            completed.store(tally.pointee.completed, ordering: .releasing)
            delivered.store(tally.pointee.delivered, ordering: .releasing)
            lastDeliveryTime.store(tally.pointee.lastDeliveryTime, ordering: .releasing)
        }
    }

    /// As LoadGenerator.readAll, on this thread's buffer and tally.
    private func readAll(from connection: BenchConnection) {
        let outcome = LineReading.readAll(from: connection, into: readBuffer, size: readBufferSize,
            read: { buffer, room in read(connection.fd, buffer, room) },
            line: { bytes, count, now in
                if case .message(let sender, let sequence, let sent) = Payload.find(in: bytes, count: count, anywhere: plan.prefixAgnostic),
                   sender < plan.senders, sequence < plan.messagesPerSender {
                    tally.pointee.record(message: sequence * plan.senders + sender, latencyNanoseconds: now &- sent, at: now)
                }
            })
        guard outcome == .closed else { return }
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, connection.fd, 0, 0)
        close(connection.fd)
        connection.fd = -1
        connection.state = .closed
        connection.closedByServer = true
    }
}
