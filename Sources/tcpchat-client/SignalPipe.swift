// Signals for the interactive client. Readline must not be called from a signal handler, so
// there is no handler at all: the signals are blocked, one thread waits for them with sigwait
// and writes each number as one byte to a pipe, and the main loop polls that pipe together
// with stdin and the socket. Everything that reacts to a signal then runs on the main thread.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

enum SignalPipe {
    /// Ctrl-C (clear the line), window resize, Ctrl-Z (suspend), and the ones that end us.
    static let watched: [Int32] = [SIGINT, SIGWINCH, SIGTSTP, SIGTERM, SIGHUP, SIGQUIT]

    /// Blocks `watched` in this thread (call it before any other thread exists, so all inherit
    /// the mask) and starts the waiting thread. Returns the pipe's read end: one byte per signal.
    static func start() -> Int32 {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // A flood of signals must never block the waiting thread: extra bytes are dropped.
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)

        var signals = signalSet()
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        // The thread gets the write end through its argument (fd + 1, so it is never NULL).
        let argument = UnsafeMutableRawPointer(bitPattern: Int(fds[1]) + 1)
        var thread = pthread_t()
        pthread_create(&thread, nil, { argument in
            let writeEnd = Int32(Int(bitPattern: argument) - 1)
            var signals = SignalPipe.signalSet()
            while true {
                var received: Int32 = 0
                guard sigwait(&signals, &received) == 0 else { continue }
                var byte = UInt8(truncatingIfNeeded: received)
                _ = write(writeEnd, &byte, 1)
            }
        }, argument)
        pthread_detach(thread)
        return fds[0]
    }

    /// Reads the signals that have arrived, in order. The pipe's read end is blocking, so call
    /// this only when poll said it is readable.
    static func drain(_ fd: Int32) -> [Int32] {
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &bytes, bytes.count)
        return count > 0 ? bytes[..<count].map { Int32($0) } : []
    }

    static func signalSet() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in watched { sigaddset(&signals, signal) }
        return signals
    }
}
