// The account worker (issue 20): one thread, owned by the server, that runs what must not run
// on the loop thread (the password KDF, SQLite). Jobs wait in a bounded queue; past its limit
// a job is refused at once (the user hears "server busy, try again in a moment"), so the queue
// also bounds the CPU and memory a flood of password attempts can take. A job's result goes
// back to the loop thread with EventLoop.execute (a locked queue and an eventfd).
//
// Two lanes: the quick jobs (a lookup: one indexed SQLite read) wait in their own queue, which
// the thread empties before it takes the next slow one (a password hash), so a queue full of
// scrypt jobs cannot starve the lookup that decides whether a nick is registered. Each lane has
// its own limit. A quarter of the slow lane is kept for the owner's checks (a password checked
// for the nick its session holds): a flood of other attempts fills the rest and is refused,
// and the owner is still let in.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import TCPChatNet

/// The "account queue is full" warning, at most once per `interval` ms with the count of
/// requests refused since the last one (a flood would otherwise log a line per request).
/// Loop thread.
struct BusyWarning {
    var interval: Int64 = 10_000
    private var refused = 0
    private var loggedAt: Int64?

    /// A request was refused: the line to log now, or nil (counted for the next one).
    mutating func refusal(now: Int64 = monotonicMilliseconds()) -> String? {
        refused += 1
        if let loggedAt, now - loggedAt < interval { return nil }
        defer { refused = 0; loggedAt = now }
        return refused == 1 ? "accounts: the account queue is full; a request was refused"
                            : "accounts: the account queue is full; \(refused) requests were refused since the last warning"
    }
}

package final class AccountWorker: @unchecked Sendable {
    private struct Lane {
        var jobs: [@Sendable () -> Void] = []
        var head = 0
        var count: Int { jobs.count - head }

        mutating func take() -> (@Sendable () -> Void)? {
            guard head < jobs.count else { return nil }
            let job = jobs[head]
            // The slot is cleared at once: a finished job (and the password it captured) is
            // not kept until the lane compacts.
            jobs[head] = {}
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: jobs.capacity <= 256)
                head = 0
            } else if head >= 64 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            return job
        }
    }
    private struct Queue {
        var slow = Lane()
        var quick = Lane()
        var stopping = false
        var count: Int { slow.count + quick.count }
    }
    private let queue = Mutex(Queue())
    /// Counts the jobs queued (and one more post to wake the thread for stopping).
    private let ready: UnsafeMutablePointer<sem_t>
    private let thread = Mutex<pthread_t?>(nil)
    /// Jobs that may wait at once (in each lane).
    package let limit: Int
    /// Slots of the slow lane only `reserved` jobs may take.
    package var reserve: Int { limit / 4 }

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
    /// `quick`: a cheap job (a lookup) that goes ahead of the slow ones, in its own lane
    /// of `limit` jobs. `reserved`: a slow job that may take the lane's last `reserve` slots.
    package func submit(quick: Bool = false, reserved: Bool = false, _ job: @escaping @Sendable () -> Void) -> Bool {
        let reserve = reserve
        let queued = queue.withLock { state -> Bool in
            guard !state.stopping else { return false }
            if quick {
                guard state.quick.count < limit else { return false }
                state.quick.jobs.append(job)
            } else {
                guard state.slow.count < limit - (reserved ? 0 : reserve) else { return false }
                state.slow.jobs.append(job)
            }
            return true
        }
        if queued { sem_post(ready) }
        return queued
    }

    /// Jobs waiting now.
    package var waiting: Int { queue.withLock { $0.count } }

    /// stop() was called: no job is taken any more.
    package var isStopping: Bool { queue.withLock { $0.stopping } }

    /// Lets the job running finish, drops the ones waiting, joins the thread. Idempotent.
    package func stop() {
        // The jobs waiting are dropped here, not kept until the worker goes: they may hold what
        // holds the worker.
        let dropped = queue.withLock { state -> [@Sendable () -> Void] in
            state.stopping = true
            let jobs = state.slow.jobs + state.quick.jobs
            state.slow = Lane()
            state.quick = Lane()
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
                guard let job = state.quick.take() ?? state.slow.take() else { return nil }
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

/// An account store whose database work and password hashing run on an AccountWorker
/// (SQLiteAccountStore, RedisAccountStore): starting and closing it are its worker's.
protocol WorkerBackedAccountStore: AccountStore {
    var worker: AccountWorker { get }
}

extension WorkerBackedAccountStore {
    /// Starts the worker thread.
    func start() throws(ChatServerError) {
        do { try worker.start() } catch { throw .system(error) }
    }

    /// AccountStore.close: the worker stops (idempotent); nothing is answered any more.
    func close() { worker.stop() }

    /// Closed (the server stopped): requests are not taken, and not answered.
    var closed: Bool { worker.isStopping }
}
