// The loop's two data structures: the timer heap and the per-descriptor handler table.
#if canImport(Glibc)
import Glibc
#endif
import Testing
import TCPChatNet

@Suite struct TimerHeapTests {
    @Test func popsInDeadlineOrderThenInsertionOrder() {
        var heap = TimerHeap()
        var fired: [Int] = []
        for (index, deadline) in [50, 10, 30, 10, 40, 20].enumerated() {
            _ = heap.insert(deadline: Int64(deadline)) { fired.append(index) }
        }
        #expect(heap.nextDeadline == 10)
        while let action = heap.popDue(now: 35) { action() }
        #expect(fired == [1, 3, 5, 2])
        #expect(heap.nextDeadline == 40)
        #expect(heap.count == 2)
    }

    @Test func cancelledTimersNeverRunAndDoNotPinMemory() {
        var heap = TimerHeap()
        var fired: [UInt64] = []
        var ids: [UInt64] = []
        for index in 0..<1000 {
            var id: UInt64 = 0
            id = heap.insert(deadline: Int64(index)) { fired.append(id) }
            ids.append(id)
        }
        for id in ids where id % 10 != 0 { heap.cancel(id) }  // 100 left: ids 10, 20, ... 1000
        heap.cancel(ids[9])  // id 10
        heap.cancel(ids[9])  // twice: a no-op
        #expect(heap.count == 99)
        while let action = heap.popDue(now: 10_000) { action() }
        #expect(fired.count == 99)
        #expect(fired == fired.sorted())
        #expect(heap.nextDeadline == nil)
    }
}

/// Counts the readiness it is handed.
final class CountingHandler: EventHandler {
    var calls = 0
    func handleEvent(_ readiness: EventLoop.Readiness) { calls += 1 }
}

/// Counts the readiness it is handed, per descriptor.
final class CountingDispatcher: EventDispatcher {
    var calls: [Int32: Int] = [:]
    func handleEvent(_ fd: Int32, _ readiness: EventLoop.Readiness) { calls[fd, default: 0] += 1 }
}

/// `count` pipes, closed when the object goes.
final class Pipes {
    private(set) var ends: [(read: Int32, write: Int32)] = []
    init(_ count: Int) throws {
        for _ in 0..<count {
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            ends.append((fds[0], fds[1]))
        }
    }
    deinit { for end in ends { close(end.read); close(end.write) } }
    subscript(index: Int) -> (read: Int32, write: Int32) { ends[index] }
}

/// A loop whose CountingHandler watches the read end of one pipe.
func loopWatchingOnePipe() throws -> (loop: EventLoop, pipes: Pipes, handler: CountingHandler) {
    let loop = try EventLoop()
    let pipes = try Pipes(1)
    let handler = CountingHandler()
    try loop.register(pipes[0].read, interest: .read, handler: handler)
    return (loop, pipes, handler)
}

@Suite struct EventLoopTests {
    @Test func handlersAreCalledForTheirDescriptorUntilUnregistered() throws {
        let (loop, pipes, handler) = try loopWatchingOnePipe()
        defer { withExtendedLifetime(pipes) {} }  // open until the test ends
        let fds = [pipes[0].read, pipes[0].write]
        loop.poll(timeoutMilliseconds: 0)
        #expect(handler.calls == 0)
        #expect(write(fds[1], "x", 1) == 1)
        loop.poll(timeoutMilliseconds: 1000)
        #expect(handler.calls == 1)
        loop.unregister(fds[0])
        loop.poll(timeoutMilliseconds: 0)
        #expect(handler.calls == 1)
        // Modifying a descriptor that is not registered is an error, not silence.
        #expect(throws: SystemError.self) { try loop.modify(fds[0], interest: .read) }
    }

    /// dispatchReady (issue 19: input taken in the middle of a long flush) hands over what is
    /// ready without waiting, and nothing else: no timer, no queued task, and a pending
    /// wake-up stays pending for the next poll. Inside a handler of poll's batch it does
    /// nothing (it would hand over that batch's descriptors a second time).
    @Test func dispatchReadyHandsOverReadyDescriptorsOnly() throws {
        let (loop, pipes, handler) = try loopWatchingOnePipe()
        defer { withExtendedLifetime(pipes) {} }  // open until the test ends
        let fds = [pipes[0].read, pipes[0].write]
        #expect(loop.dispatchReady() == 0)
        #expect(handler.calls == 0)
        var timerRan = false
        loop.schedule(after: 0) { timerRan = true }
        // (execute's task runs on the loop thread, which is this one)
        final class Flag: @unchecked Sendable { var value = false }
        let taskRan = Flag()
        loop.execute { taskRan.value = true }
        #expect(write(fds[1], "x", 1) == 1)
        #expect(loop.dispatchReady() >= 1)
        #expect(handler.calls == 1)
        #expect(!timerRan)
        #expect(!taskRan.value)
        // The wake-up was left pending: poll returns at once and runs the task and the timer.
        var byte: UInt8 = 0
        #expect(read(fds[0], &byte, 1) == 1)
        loop.poll(timeoutMilliseconds: 5000)
        #expect(taskRan.value)
        #expect(timerRan)
        #expect(handler.calls == 1)

        // From inside poll's handlers: nothing.
        final class Nested: EventHandler {
            let loop: EventLoop
            var inner = -1
            init(loop: EventLoop) { self.loop = loop }
            func handleEvent(_ readiness: EventLoop.Readiness) { inner = loop.dispatchReady() }
        }
        loop.unregister(fds[0])
        let nested = Nested(loop: loop)
        try loop.register(fds[0], interest: .read, handler: nested)
        #expect(write(fds[1], "y", 1) == 1)
        loop.poll(timeoutMilliseconds: 5000)
        #expect(nested.inner == 0)
        loop.unregister(fds[0])
    }

    /// The table grows a quarter at a time (issue 19): descriptors registered across several
    /// growths each reach their own handler, and a descriptor registered again after an
    /// unregister reaches the new handler only.
    @Test func theTableGrowsAndKeepsEachDescriptorsHandler() throws {
        let loop = try EventLoop()
        var pipes: [(read: Int32, write: Int32)] = []
        defer { for pipe in pipes { close(pipe.read); close(pipe.write) } }
        var handlers: [CountingHandler] = []
        for _ in 0..<150 {  // 300 descriptors: past 64, 80, 100, 125, 156, 195, 243
            var fds: [Int32] = [0, 0]
            try #require(pipe(&fds) == 0)
            pipes.append((fds[0], fds[1]))
            let handler = CountingHandler()
            handlers.append(handler)
            try loop.register(fds[0], interest: .read, handler: handler)
        }
        let ready = [0, 1, 63, 64, 100, 149]
        for index in ready { #expect(write(pipes[index].write, "x", 1) == 1) }
        loop.poll(timeoutMilliseconds: 1000)
        #expect(handlers.indices.filter { handlers[$0].calls > 0 } == ready)
        loop.unregister(pipes[149].read)
        let replacement = CountingHandler()
        try loop.register(pipes[149].read, interest: .read, handler: replacement)
        loop.poll(timeoutMilliseconds: 1000)  // still readable: the new handler hears it
        #expect(replacement.calls == 1)
        #expect(handlers[149].calls == 1)
    }

    /// dispatchReady(only:) hands over that dispatcher's ready descriptors and leaves every
    /// other one (another dispatcher's, a handler's) for the next poll: level-triggered, they
    /// are reported again (Connections takes only its senders' lines in the middle of a pass).
    @Test func dispatchReadyOnlyLeavesTheOthersForThePoll() throws {
        let loop = try EventLoop()
        let pipes = try Pipes(3)
        defer { withExtendedLifetime(pipes) {} }  // open until the test ends
        let mine = CountingDispatcher()
        let other = CountingDispatcher()
        let handler = CountingHandler()
        try loop.register(pipes[0].read, interest: .read, dispatcher: mine)
        try loop.register(pipes[1].read, interest: .read, dispatcher: other)
        try loop.register(pipes[2].read, interest: .read, handler: handler)
        for pipe in pipes.ends { #expect(write(pipe.write, "x", 1) == 1) }
        #expect(loop.dispatchReady(only: mine) == 1)
        #expect(mine.calls == [pipes[0].read: 1])
        #expect(other.calls.isEmpty)
        #expect(handler.calls == 0)
        loop.poll(timeoutMilliseconds: 1000)
        #expect(other.calls == [pipes[1].read: 1])
        #expect(handler.calls == 1)
    }

    /// A dispatcher hears its own descriptors, told which (issue 19: the table holds no
    /// reference per descriptor); handlers and dispatchers share the loop; a descriptor taken
    /// from a dispatcher and given to a handler reaches the handler only; a dispatcher that is
    /// gone is not called.
    @Test func dispatchersHearTheirDescriptors() throws {
        let loop = try EventLoop()
        let pipes = try Pipes(4)
        defer { withExtendedLifetime(pipes) {} }  // open until the test ends
        let first = CountingDispatcher()
        var second: CountingDispatcher? = CountingDispatcher()
        let handler = CountingHandler()
        try loop.register(pipes[0].read, interest: .read, dispatcher: first)
        try loop.register(pipes[1].read, interest: .read, dispatcher: first)
        try loop.register(pipes[2].read, interest: .read, dispatcher: second!)
        try loop.register(pipes[3].read, interest: .read, handler: handler)
        for pipe in pipes.ends { #expect(write(pipe.write, "x", 1) == 1) }
        loop.poll(timeoutMilliseconds: 1000)
        #expect(first.calls == [pipes[0].read: 1, pipes[1].read: 1])
        #expect(second?.calls == [pipes[2].read: 1])
        #expect(handler.calls == 1)
        loop.unregister(pipes[1].read)
        let replacement = CountingHandler()
        try loop.register(pipes[1].read, interest: .read, handler: replacement)
        second = nil
        loop.poll(timeoutMilliseconds: 1000)  // all still readable
        #expect(first.calls == [pipes[0].read: 2, pipes[1].read: 1])
        #expect(replacement.calls == 1 && handler.calls == 2)
        // A new dispatcher takes the place of the one that is gone.
        let third = CountingDispatcher()
        loop.unregister(pipes[2].read)
        try loop.register(pipes[2].read, interest: .read, dispatcher: third)
        loop.poll(timeoutMilliseconds: 1000)
        #expect(third.calls == [pipes[2].read: 1])
        #expect(first.calls == [pipes[0].read: 3, pipes[1].read: 1])
    }

    @Test func timersRunOnTheLoopAndCanBeCancelled() throws {
        let loop = try EventLoop()
        var fired: [String] = []
        loop.schedule(after: 0) { fired.append("now") }
        let cancelled = loop.schedule(after: 0) { fired.append("cancelled") }
        loop.cancel(cancelled)
        loop.schedule(after: 60_000) { fired.append("later") }
        loop.poll(timeoutMilliseconds: 100)
        #expect(fired == ["now"])
        #expect(loop.millisecondsUntilNextTimer > 1000)
        loop.cancelAllTimers()
        #expect(loop.millisecondsUntilNextTimer == -1)
    }
}
