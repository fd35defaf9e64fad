// Starting a thread without Foundation: pthread_create with a boxed Swift closure.
#if canImport(Glibc)
import Glibc
#endif

package final class ThreadBody {
    package let body: () -> Void
    package init(_ body: @escaping () -> Void) { self.body = body }
}

package enum LoopThread {
    /// Starts `body` on a new joinable thread.
    package static func start(_ body: @escaping () -> Void) throws(SystemError) -> pthread_t {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw SystemError("pthread_create", rc)
        }
        return thread
    }

    package static func join(_ thread: pthread_t) {
        _ = pthread_join(thread, nil)
    }
}
