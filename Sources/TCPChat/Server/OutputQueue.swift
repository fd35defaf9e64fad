// A connection's bounded output queue: shared buffers waiting to be written, flushed with
// writev in as few calls as the kernel allows. The queue never copies a buffer.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

struct OutputQueue {
    enum FlushResult {
        /// Everything was written.
        case drained
        /// The socket's send buffer is full; wait for EPOLLOUT.
        case pending
        /// The peer is gone (reset, broken pipe).
        case failed(SystemError)
    }

    private var buffers: [SharedBuffer] = []
    private var head = 0           // index of the first unsent buffer
    private var headOffset = 0     // bytes of buffers[head] already sent
    private(set) var queuedBytes = 0

    var isEmpty: Bool { head == buffers.count }

    mutating func append(_ buffer: SharedBuffer) {
        buffers.append(buffer)
        queuedBytes += buffer.count
    }

    /// Writes as much as the socket takes, using `iovecs` (capacity ≥ ctc_IOV_MAX) as scratch.
    mutating func flush(to fd: Int32, iovecs: UnsafeMutablePointer<iovec>) -> FlushResult {
        while !isEmpty {
            let batch = min(buffers.count - head, Int(ctc_IOV_MAX))
            for index in 0..<batch {
                let buffer = buffers[head + index]
                let skip = index == 0 ? headOffset : 0
                iovecs[index] = iovec(iov_base: buffer.base + skip, iov_len: buffer.count - skip)
            }
            let written: Int
            do {
                switch try Sys.writev(fd, iovecs, Int32(batch)) {
                case .wouldBlock: return .pending
                case .done(let count): written = count
                }
            } catch {
                return .failed(error)
            }
            consume(written)
        }
        buffers.removeAll(keepingCapacity: buffers.capacity <= 64)
        head = 0
        return .drained
    }

    private mutating func consume(_ written: Int) {
        var left = written
        queuedBytes -= written
        while left > 0 {
            let available = buffers[head].count - headOffset
            if left >= available {
                left -= available
                headOffset = 0
                head += 1
            } else {
                headOffset += left
                left = 0
            }
        }
        // Drop sent references in bulk so the array does not grow without end.
        if head > 64 && head * 2 > buffers.count {
            buffers.removeFirst(head)
            head = 0
        }
    }

    mutating func removeAll() {
        buffers.removeAll()
        head = 0
        headOffset = 0
        queuedBytes = 0
    }
}
