// Starting a thread without Foundation: pthread_create with a boxed Swift closure.
#if canImport(Glibc)
import Glibc
#endif

final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

enum LoopThread {
    /// Starts `body` on a new joinable thread.
    static func start(_ body: @escaping () -> Void) throws(SystemError) -> pthread_t {
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

    static func join(_ thread: pthread_t) {
        _ = pthread_join(thread, nil)
    }
}
