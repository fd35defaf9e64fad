// The load generator's read loop, shared by the main thread (LoadGenerator) and the extra
// reader threads of --threads (ReaderThread): read until the socket is empty, hand up each
// complete line, carry an unfinished one over to the next read.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

enum LineReading {
    enum Outcome { case drained, closed }

    /// Up to 8 reads into `buffer` (`size` bytes) through `read` (the socket's, or TLS's),
    /// each line (without its LF) to `line` with the time it was read. `.closed`: the server
    /// closed the connection or it failed (the caller closes it); `.drained`: nothing more now.
    @inline(__always)
    static func readAll(from connection: BenchConnection, into buffer: UnsafeMutableRawPointer, size: Int,
                        read: (UnsafeMutableRawPointer, Int) -> Int,
                        line: (UnsafePointer<UInt8>, Int, UInt64) -> Void) -> Outcome {
        for _ in 0..<8 {
            let carried = connection.carry.count
            if carried > 0 {
                connection.carry.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: carried) }
                connection.carry.removeAll(keepingCapacity: true)
            }
            let room = size - carried
            let count = read(buffer + carried, room)
            if count <= 0 {
                guard count < 0 && (ctc_errno() == EAGAIN || ctc_errno() == EINTR) else { return .closed }
                if carried > 0 { connection.carry.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: carried)) }
                return .drained
            }
            let now = monotonicNanoseconds()
            let end = carried + count
            let bytes = buffer.assumingMemoryBound(to: UInt8.self)
            var start = 0
            while start < end, let newline = memchr(bytes + start, 0x0A, end - start) {
                let lineEnd = UnsafeRawPointer(newline) - UnsafeRawPointer(bytes)
                line(bytes + start, lineEnd - start, now)
                start = lineEnd + 1
            }
            // An unfinished line waits for the next read; a line longer than half the buffer is dropped.
            if start < end && end - start < size / 2 {
                connection.carry.append(contentsOf: UnsafeRawBufferPointer(start: bytes + start, count: end - start))
            }
            if count < room { return .drained }
        }
        return .drained
    }
}
