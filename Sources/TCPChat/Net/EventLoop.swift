// The event loop: epoll over non-blocking descriptors, an eventfd so other threads can wake
// it, and a short list of timers. In the manner of redis's ae.c, its owner runs
// `while !loop.isStopped { loop.poll(...) }`.
//
// Threading: the loop, and everything registered with it, belongs to the thread that calls
// `poll`. The only members any thread may use are `execute(_:)` and `wakeUp()`.
// Timers are a plain array, scanned once per iteration: fine for the handful a server has
// (throttled clients, draining clients); a heap would be the next step for many thousands.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import Synchronization

/// Milliseconds on the monotonic clock.
@inline(__always)
func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

public final class EventLoop: @unchecked Sendable {
    /// What readiness to wait for on a descriptor.
    public struct Interest: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let read = Interest(rawValue: UInt32(ctc_EPOLLIN | ctc_EPOLLRDHUP))
        public static let write = Interest(rawValue: UInt32(ctc_EPOLLOUT))
    }

    /// Readiness reported for a descriptor.
    public struct Readiness: Sendable {
        public let flags: UInt32
        public var readable: Bool { flags & UInt32(ctc_EPOLLIN | ctc_EPOLLRDHUP | ctc_EPOLLHUP | ctc_EPOLLERR) != 0 }
        public var writable: Bool { flags & UInt32(ctc_EPOLLOUT | ctc_EPOLLERR | ctc_EPOLLHUP) != 0 }
        public var hangup: Bool { flags & UInt32(ctc_EPOLLHUP | ctc_EPOLLERR) != 0 }
    }

    /// The token that marks the loop's own wake-up descriptor.
    static let wakeToken: UInt64 = .max

    let epollFD: Int32
    let wakeFD: Int32
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private var events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity = 1024
    private var timers: [(deadline: Int64, action: () -> Void)] = []
    private(set) var isStopped = false

    public init() throws(SystemError) {
        epollFD = try retryingInterrupts("epoll_create1") { ctc_epoll_create() }
        do {
            wakeFD = try retryingInterrupts("eventfd") { ctc_eventfd() }
        } catch {
            Sys.close(epollFD)
            throw error
        }
        events = .allocate(capacity: eventCapacity)
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, UInt32(ctc_EPOLLIN), EventLoop.wakeToken)
    }

    deinit {
        Sys.close(wakeFD)
        Sys.close(epollFD)
        events.deallocate()
    }

    // MARK: Registration (loop thread)

    func register(_ fd: Int32, token: UInt64, interest: Interest) throws(SystemError) {
        _ = try retryingInterrupts("epoll_ctl") { ctc_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, interest.rawValue, token) }
    }

    func modify(_ fd: Int32, token: UInt64, interest: Interest) {
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, interest.rawValue, token)
    }

    func unregister(_ fd: Int32) {
        _ = ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, 0, 0)
    }

    // MARK: Timers (loop thread)

    /// Runs `action` on the loop thread after `milliseconds`.
    func schedule(after milliseconds: Int64, _ action: @escaping () -> Void) {
        timers.append((monotonicMilliseconds() + milliseconds, action))
    }

    /// Milliseconds until the next timer is due (0 when one is overdue); -1 without timers.
    var millisecondsUntilNextTimer: Int32 {
        guard let soonest = timers.map(\.deadline).min() else { return -1 }
        return Int32(clamping: max(0, soonest - monotonicMilliseconds()))
    }

    /// Forgets every timer. For the loop's owner once the loop has stopped: a timer's action
    /// usually holds its owner, which holds the loop, so a timer left behind is a leaked cycle.
    func cancelAllTimers() {
        timers.removeAll()
    }

    // MARK: Cross-thread

    /// Queues `task` to run on the loop thread and wakes the loop. Any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        pending.withLock { $0.append(task) }
        wakeUp()
    }

    /// Interrupts a blocked `epoll_wait`. Any thread; async-signal-safe (one write(2)).
    public func wakeUp() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, 8)
    }

    // MARK: Running

    /// Marks the loop stopped; its owner's `while !isStopped` ends. Loop thread.
    func stop() { isStopped = true }

    /// One iteration: wait (no longer than `timeoutMilliseconds`, -1 = until something
    /// happens, and never past the next timer), dispatch events, run due timers and queued tasks.
    func poll(timeoutMilliseconds: Int32, _ handle: (UInt64, Readiness) -> Void) {
        var timeout = timeoutMilliseconds
        if let soonest = timers.map(\.deadline).min() {
            let untilTimer = Int32(clamping: max(0, soonest - monotonicMilliseconds()))
            timeout = timeout < 0 ? untilTimer : min(timeout, untilTimer)
        }
        let count = ctc_epoll_wait(epollFD, events, Int32(eventCapacity), timeout)
        if count > 0 {
            for index in 0..<Int(count) {
                let token = ctc_epoll_event_token(events + index)
                if token == EventLoop.wakeToken {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeFD, &value, 8)
                    continue
                }
                handle(token, Readiness(flags: ctc_epoll_event_flags(events + index)))
            }
        }
        runDueTimers()
        runPendingTasks()
    }

    private func runDueTimers() {
        guard !timers.isEmpty else { return }
        let now = monotonicMilliseconds()
        let due = timers.filter { $0.deadline <= now }
        guard !due.isEmpty else { return }
        timers.removeAll { $0.deadline <= now }
        for timer in due { timer.action() }
    }

    private func runPendingTasks() {
        let tasks = pending.withLock { queue -> [@Sendable () -> Void] in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        for task in tasks { task() }
    }
}
