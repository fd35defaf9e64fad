// The event loop: epoll over non-blocking descriptors, an eventfd so other threads can wake
// it, and a heap of timers. In the manner of redis's ae.c, its owner runs
// `while !loop.isStopped { loop.poll(...) }`.
//
// Each registered descriptor has a slot in a table indexed by descriptor number: a generation
// and who handles it. The epoll token carries the descriptor and its slot, so an event queued
// for a descriptor that was closed and reused within the same epoll_wait batch is recognised
// and dropped. A descriptor's handler is either its own object (`register(_:interest:handler:)`:
// listeners, a Redis link), kept in a small dictionary, or a dispatcher that handles many
// descriptors by number (`register(_:interest:dispatcher:)`: a server's client connections),
// so that the table holds 4 bytes per descriptor, not a reference (issue 19, memory per idle
// connection).
//
// Threading: the loop, and everything registered with it, belongs to the thread that calls
// `poll`. The only members any thread may use are `execute(_:)` and `wakeUp()`.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import Synchronization

/// Milliseconds on the monotonic clock.
@inline(__always)
package func monotonicMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Something registered with the loop for one descriptor. The loop holds it until the
/// descriptor is unregistered, so a handler must not hold the loop strongly (or must be
/// unregistered before its owner lets go), or the two keep each other alive.
package protocol EventHandler: AnyObject {
    func handleEvent(_ readiness: EventLoop.Readiness)
}

/// Something registered with the loop for many descriptors, told which one is ready. The loop
/// holds it weakly (its owner usually holds the loop; events for it are dropped once it is
/// gone), at most 255 per loop.
package protocol EventDispatcher: AnyObject {
    func handleEvent(_ fd: Int32, _ readiness: EventLoop.Readiness)
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

    /// A scheduled timer, for `cancel(_:)`.
    package struct TimerID: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    /// One slot per descriptor number: the generation it was registered with (high 24 bits,
    /// never 0) and who handles it (low 8 bits: 0 its own handler in `handlers`, n the
    /// dispatcher `dispatchers[n - 1]`); 0: free. 4 bytes a slot (a handler reference and a
    /// generation took 20, issue 19's memory per idle connection), grown by a quarter, not
    /// doubled (see register).
    private var slots: [UInt32] = []
    /// The handlers of descriptors registered with one of their own (a few: listeners, links).
    private var handlers: [Int32: any EventHandler] = [:]
    private var dispatchers: [WeakDispatcher] = []
    private struct WeakDispatcher {
        weak var value: (any EventDispatcher)?
    }

    /// The token of the loop's own wake-up descriptor (no registration has generation 0 and
    /// descriptor -1).
    private static let wakeToken: UInt64 = .max

    package let epollFD: Int32
    private let wakeFD: Int32
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private var events: UnsafeMutablePointer<epoll_event>
    private let eventCapacity = 1024
    /// dispatchReady's batch (not `events`: poll's batch may still be in use below it).
    private var readyEvents: UnsafeMutablePointer<epoll_event>
    private let readyEventCapacity = 64
    /// Handlers of an epoll batch are running (poll's or dispatchReady's).
    private var dispatching = false
    private var nextGeneration: UInt32 = 1  // 24 bits
    private var timers = TimerHeap()
    private(set) package var isStopped = false
    /// Where the loop reports failures that are nobody's caller's (epoll_wait failing).
    package var diagnostics: ((String) -> Void)?

    public init() throws(SystemError) {
        epollFD = try retryingInterrupts("epoll_create1") { ctc_epoll_create() }
        do {
            wakeFD = try retryingInterrupts("eventfd") { ctc_eventfd() }
        } catch {
            Sys.close(epollFD)
            throw error
        }
        // Without its wake-up descriptor the loop could never be stopped or handed work from
        // another thread: fail here rather than hang later.
        let (epoll, wake) = (epollFD, wakeFD)
        do {
            _ = try retryingInterrupts("epoll_ctl") {
                ctc_epoll_ctl(epoll, EPOLL_CTL_ADD, wake, UInt32(ctc_EPOLLIN), EventLoop.wakeToken)
            }
        } catch {
            Sys.close(wake)
            Sys.close(epoll)
            throw error
        }
        events = .allocate(capacity: 1024)
        readyEvents = .allocate(capacity: 64)
    }

    deinit {
        Sys.close(wakeFD)
        Sys.close(epollFD)
        events.deallocate()
        readyEvents.deallocate()
    }

    // MARK: Registration (loop thread)

    /// Watches `fd` for `interest`; `handler` is called with each readiness until `unregister`.
    package func register(_ fd: Int32, interest: Interest, handler: any EventHandler) throws(SystemError) {
        try register(fd, interest: interest, owner: 0)
        handlers[fd] = handler
    }

    /// Watches `fd` for `interest`; `dispatcher` is called with `fd` and each readiness until
    /// `unregister`.
    package func register(_ fd: Int32, interest: Interest, dispatcher: any EventDispatcher) throws(SystemError) {
        let owner: Int
        if let index = dispatchers.firstIndex(where: { $0.value === dispatcher }) {
            owner = index + 1
        } else if let index = dispatchers.firstIndex(where: { $0.value == nil }) {
            dispatchers[index].value = dispatcher  // one that is gone: its descriptors were closed
            owner = index + 1
        } else {
            precondition(dispatchers.count < 255, "at most 255 dispatchers per event loop")
            dispatchers.append(WeakDispatcher(value: dispatcher))
            owner = dispatchers.count
        }
        try register(fd, interest: interest, owner: UInt32(owner))
    }

    private func register(_ fd: Int32, interest: Interest, owner: UInt32) throws(SystemError) {
        let index = Int(fd)
        if index >= slots.count {
            // A quarter more (and at least the descriptor): at 10 000 connections the table is
            // at most ~12 500 slots, where doubling made it 16 384. reserveCapacity first, or
            // the array's own growth would double it anyway.
            let count = max(index + 1, slots.count + slots.count / 4, 64)
            slots.reserveCapacity(count)
            slots.append(contentsOf: repeatElement(0, count: count - slots.count))
        }
        let slot = nextGeneration << 8 | owner
        nextGeneration = nextGeneration == 0xFF_FFFF ? 1 : nextGeneration + 1
        _ = try retryingInterrupts("epoll_ctl") {
            ctc_epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, interest.rawValue, EventLoop.token(fd, slot))
        }
        slots[index] = slot
    }

    /// Changes what `fd` is watched for. A failure (ENOMEM, or a descriptor that is not
    /// registered: a bug) is thrown: the caller cannot rely on the descriptor being watched.
    package func modify(_ fd: Int32, interest: Interest) throws(SystemError) {
        let index = Int(fd)
        guard index >= 0, index < slots.count, slots[index] != 0 else {
            throw SystemError("epoll_ctl", ENOENT)
        }
        let token = EventLoop.token(fd, slots[index])
        _ = try retryingInterrupts("epoll_ctl") { ctc_epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, interest.rawValue, token) }
    }

    /// Stops watching `fd` and forgets its handler; events already fetched for it are dropped.
    /// Call it before closing the descriptor.
    package func unregister(_ fd: Int32) {
        let index = Int(fd)
        guard index >= 0, index < slots.count, slots[index] != 0 else { return }
        if slots[index] & 0xFF == 0 { handlers[fd] = nil }
        slots[index] = 0
        if ctc_epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, 0, 0) != 0 {
            // Only EBADF/ENOENT can happen here, both a caller's bug; the slot is cleared anyway,
            // so no event reaches a handler that was let go.
            diagnostics?("epoll_ctl(DEL, \(fd)): \(SystemError.message(for: currentErrno()))")
        }
    }

    private static func token(_ fd: Int32, _ slot: UInt32) -> UInt64 {
        UInt64(slot) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    // MARK: Timers (loop thread)

    /// Runs `action` on the loop thread after `milliseconds`. The returned id cancels it.
    @discardableResult
    package func schedule(after milliseconds: Int64, _ action: @escaping () -> Void) -> TimerID {
        TimerID(value: timers.insert(deadline: monotonicMilliseconds() + milliseconds, action))
    }

    /// Cancels a timer that has not run yet (a no-op for one that has).
    package func cancel(_ timer: TimerID) {
        timers.cancel(timer.value)
    }

    /// Milliseconds until the next timer is due (0 when one is overdue); -1 without timers.
    package var millisecondsUntilNextTimer: Int32 {
        guard let soonest = timers.nextDeadline else { return -1 }
        return Int32(clamping: max(0, soonest - monotonicMilliseconds()))
    }

    /// Forgets every timer. For the loop's owner once the loop has stopped: a timer's action
    /// usually holds its owner, which holds the loop, so a timer left behind is a leaked cycle.
    package func cancelAllTimers() {
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
    package func stop() { isStopped = true }

    /// One iteration: wait (no longer than `timeoutMilliseconds`, -1 = until something
    /// happens, and never past the next timer), call the handlers of ready descriptors, run
    /// due timers and queued tasks.
    package func poll(timeoutMilliseconds: Int32) {
        var timeout = timeoutMilliseconds
        let untilTimer = millisecondsUntilNextTimer
        if untilTimer >= 0 { timeout = timeout < 0 ? untilTimer : min(timeout, untilTimer) }
        let count = ctc_epoll_wait(epollFD, events, Int32(eventCapacity), timeout)
        if count < 0 {
            let code = currentErrno()
            // EINTR: a signal (a debugger, a host's handler). Anything else means the epoll
            // descriptor itself is broken: say so, and wait a little rather than spin.
            if code != EINTR {
                diagnostics?("epoll_wait: \(SystemError.message(for: code))")
                usleep(10_000)
            }
        }
        let wasDispatching = dispatching  // (a poll from inside a handler leaves it as it was)
        dispatching = true
        dispatch(events, count, drainWakeUp: true)
        dispatching = wasDispatching
        runDueTimers()
        runPendingTasks()
    }

    /// Calls the handlers of the descriptors that are ready now, without waiting, and nothing
    /// else (no timers, no queued tasks: the next `poll` runs those, and a pending wake-up
    /// stays pending for it). For an owner in the middle of a long pass of writes (a fan-out's
    /// flush to thousands of clients): input that arrived meanwhile is taken before the rest
    /// of the pass, so the clients not yet written get it in the same write instead of one
    /// more later (issue 19). With `only`, the descriptors of that dispatcher alone: the
    /// others' readiness is left for the next poll (level-triggered, it is reported again), so
    /// that nothing else (an accept, a cluster link) runs in the middle of its pass. Does
    /// nothing (returns 0) while handlers of an epoll batch run: from inside `poll`'s dispatch
    /// or another `dispatchReady`. Returns the events handed to handlers. Loop thread.
    @discardableResult
    package func dispatchReady(only: EventDispatcher? = nil) -> Int {
        guard !dispatching else { return 0 }
        let count = ctc_epoll_wait(epollFD, readyEvents, Int32(readyEventCapacity), 0)
        guard count > 0 else { return 0 }
        dispatching = true
        let handled = dispatch(readyEvents, count, drainWakeUp: false, only: only)
        dispatching = false
        return handled
    }

    /// Hands an epoll batch to its handlers (only `only`'s, when given); the number handed.
    @discardableResult
    private func dispatch(_ batch: UnsafeMutablePointer<epoll_event>, _ count: Int32, drainWakeUp: Bool,
                          only: EventDispatcher? = nil) -> Int {
        var handled = 0
        for index in 0..<Int(max(count, 0)) {
            let token = ctc_epoll_event_token(batch + index)
            if token == EventLoop.wakeToken {
                if drainWakeUp {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeFD, &value, 8)
                }
                continue
            }
            let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
            let slot = UInt32(truncatingIfNeeded: token >> 32)
            guard fd >= 0, Int(fd) < slots.count, slots[Int(fd)] == slot else { continue }
            let readiness = Readiness(flags: ctc_epoll_event_flags(batch + index))
            let owner = Int(slot & 0xFF)
            if owner > 0 {
                guard let dispatcher = dispatchers[owner - 1].value, only == nil || dispatcher === only else { continue }
                dispatcher.handleEvent(fd, readiness)
                handled += 1
            } else if only == nil, let handler = handlers[fd] {
                handler.handleEvent(readiness)
                handled += 1
            }
        }
        return handled
    }

    private func runDueTimers() {
        guard timers.nextDeadline != nil else { return }
        let now = monotonicMilliseconds()
        // Timers scheduled by these actions wait for the next iteration, even when due now.
        var due: [() -> Void] = []
        while let action = timers.popDue(now: now) { due.append(action) }
        for action in due { action() }
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

/// A binary min-heap of deadlines. Cancelling marks a timer dead (its action is dropped at
/// once); the heap entry goes when it reaches the top, or in a rebuild once dead entries are
/// more than half of the heap, so memory stays proportional to the live timers.
package struct TimerHeap {
    private struct Entry {
        let deadline: Int64
        let id: UInt64
    }

    private var heap: [Entry] = []
    private var actions: [UInt64: () -> Void] = [:]
    private var lastID: UInt64 = 0

    package init() {}

    package var count: Int { actions.count }

    /// Adds a timer; returns its id.
    package mutating func insert(deadline: Int64, _ action: @escaping () -> Void) -> UInt64 {
        lastID += 1
        actions[lastID] = action
        heap.append(Entry(deadline: deadline, id: lastID))
        siftUp(heap.count - 1)
        return lastID
    }

    package mutating func cancel(_ id: UInt64) {
        guard actions.removeValue(forKey: id) != nil else { return }
        if heap.count > 64 && actions.count < heap.count / 2 { rebuild() }
    }

    /// The earliest deadline of a live timer.
    package var nextDeadline: Int64? {
        mutating get {
            dropDeadTop()
            return heap.first?.deadline
        }
    }

    /// The action of the earliest timer if it is due at `now` (removed), else nil.
    package mutating func popDue(now: Int64) -> (() -> Void)? {
        dropDeadTop()
        guard let top = heap.first, top.deadline <= now else { return nil }
        removeTop()
        return actions.removeValue(forKey: top.id)
    }

    package mutating func removeAll() {
        heap.removeAll()
        actions.removeAll()
    }

    private mutating func dropDeadTop() {
        while let top = heap.first, actions[top.id] == nil { removeTop() }
    }

    private mutating func removeTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private mutating func rebuild() {
        heap.removeAll { actions[$0.id] == nil }
        for index in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    private func less(_ a: Int, _ b: Int) -> Bool {
        heap[a].deadline < heap[b].deadline || (heap[a].deadline == heap[b].deadline && heap[a].id < heap[b].id)
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(child, parent) else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var smallest = left
            if left + 1 < heap.count && less(left + 1, left) { smallest = left + 1 }
            guard less(smallest, parent) else { return }
            heap.swapAt(smallest, parent)
            parent = smallest
        }
    }
}
