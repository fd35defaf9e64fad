// The account worker (issue 20): one thread, owned by the server, that runs what must not run
// on the loop thread (the password KDF, SQLite). Jobs wait in a bounded queue; past its limit
// a job is refused at once (the user hears "server busy, try again in a moment"), so the queue
// also bounds the CPU and memory a flood of password attempts can take. A job's result goes
// back to the loop thread with EventLoop.execute (a locked queue and an eventfd).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TCPChatNet

package final class AccountWorker: @unchecked Sendable {
    private struct Queue {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var stopping = false
        var count: Int { jobs.count - head }
    }
    private let queue = Mutex(Queue())
    /// Counts the jobs queued (and one more post to wake the thread for stopping).
    private let ready: UnsafeMutablePointer<sem_t>
    private let thread = Mutex<pthread_t?>(nil)
    /// Jobs that may wait at once.
    package let limit: Int

    package init(limit: Int) {
        self.limit = max(1, limit)
        ready = .allocate(capacity: 1)
        sem_init(ready, 0, 0)
    }

    deinit {
        stop()
        sem_destroy(ready)
        ready.deallocate()
    }

    /// Starts the thread (once).
    package func start() throws(SystemError) {
        try thread.withLock { (handle: inout pthread_t?) throws(SystemError) in
            guard handle == nil else { return }
            handle = try LoopThread.start { [self] in work() }
        }
    }

    /// Queues `job`; false (nothing queued) when `limit` jobs wait already or it is stopping.
    package func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        let queued = queue.withLock { state -> Bool in
            guard !state.stopping, state.count < limit else { return false }
            state.jobs.append(job)
            return true
        }
        if queued { sem_post(ready) }
        return queued
    }

    /// Jobs waiting now.
    package var waiting: Int { queue.withLock { $0.count } }

    /// Lets the job running finish, drops the ones waiting, joins the thread. Idempotent.
    package func stop() {
        // The jobs waiting are dropped here, not kept until the worker goes: they may hold what
        // holds the worker.
        let dropped = queue.withLock { state -> [@Sendable () -> Void] in
            state.stopping = true
            let jobs = state.jobs
            state.jobs = []
            state.head = 0
            return jobs
        }
        _ = dropped
        sem_post(ready)
        let handle = thread.withLock { handle -> pthread_t? in
            let taken = handle
            handle = nil
            return taken
        }
        if let handle { LoopThread.join(handle) }
    }

    private func work() {
        while true {
            while sem_wait(ready) != 0 {}  // EINTR
            let job = queue.withLock { state -> (@Sendable () -> Void)?? in
                if state.stopping { return .some(nil) }
                guard state.head < state.jobs.count else { return nil }
                let job = state.jobs[state.head]
                state.head += 1
                if state.head >= 64 && state.head * 2 >= state.jobs.count {
                    state.jobs.removeFirst(state.head)
                    state.head = 0
                }
                return .some(job)
            }
            switch job {
            case .some(nil): return
            case .some(let job?): job()
            case nil: continue
            }
        }
    }
}
