// A connection's bounded output queue: shared buffers waiting to be written, flushed with
// writev in as few calls as the kernel allows. The queue never copies a buffer.
//
// This is the hottest code in the server (a room of N costs N appends per line), so:
// - references are kept as `Unmanaged` in storage of its own: one retain when a buffer is
//   queued and one release when it has been written, and nothing else (no Array uniqueness
//   checks, no retain/release while building the iovecs);
// - the queue is a class whose mutable state sits behind a pointer. Swift checks every
//   mutation of a class's stored property at run time (exclusivity enforcement, ~120
//   instructions: more than the append itself); through a pointer there is nothing to check.
//   The queue is owned by one connection and used on the loop thread only.
// An idle connection's queue holds no slot storage at all.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

final class OutputQueue {
    enum FlushResult {
        /// Everything was written.
        case drained
        /// The socket's send buffer is full; wait for EPOLLOUT.
        case pending
        /// The peer is gone (reset, broken pipe).
        case failed(SystemError)
    }

    fileprivate struct State {
        /// Queued buffers, each retained once, at `head..<tail`.
        var slots: UnsafeMutablePointer<Unmanaged<SharedBuffer>>?
        var capacity = 0
        var head = 0           // the first unsent buffer
        var tail = 0           // one past the last queued buffer
        var headOffset = 0     // bytes of slots[head] already sent
        var queuedBytes = 0
    }

    private let state: UnsafeMutablePointer<State>

    init() {
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        state.pointee.releaseQueued()
        state.pointee.slots?.deallocate()
        state.deallocate()
    }

    var isEmpty: Bool { state.pointee.head == state.pointee.tail }

    /// Bytes queued and not yet written.
    var queuedBytes: Int { state.pointee.queuedBytes }

    /// Queues `buffer`; returns the bytes now queued.
    @inline(__always)
    @discardableResult
    func append(_ buffer: SharedBuffer) -> Int { state.pointee.append(buffer) }

    /// Writes as much as the socket takes, using `iovecs` (capacity ≥ ctc_IOV_MAX) as scratch.
    func flush(to fd: Int32, iovecs: UnsafeMutablePointer<iovec>) -> FlushResult { state.pointee.flush(to: fd, iovecs: iovecs) }

    /// Drops everything queued (the connection is closing).
    func removeAll() { state.pointee.removeAll() }
}

extension OutputQueue.State {
    /// A drained queue keeps storage up to this many slots, so a busy connection does not
    /// allocate once per loop iteration; anything larger is returned to the allocator.
    static let keptCapacity = 64

    @inline(__always)
    mutating func append(_ buffer: SharedBuffer) -> Int {
        // An empty buffer would make a flush of nothing but empty iovecs write 0 bytes, for ever.
        guard buffer.count > 0 else { return queuedBytes }
        if tail == capacity { makeRoom() }
        slots.unsafelyUnwrapped[tail] = Unmanaged.passRetained(buffer)
        tail += 1
        queuedBytes += buffer.count
        return queuedBytes
    }

    mutating func flush(to fd: Int32, iovecs: UnsafeMutablePointer<iovec>) -> OutputQueue.FlushResult {
        while head < tail {
            let queued = slots.unsafelyUnwrapped
            let batch = min(tail - head, Int(ctc_IOV_MAX))
            for index in 0..<batch {
                let skip = index == 0 ? headOffset : 0
                iovecs[index] = queued[head + index]._withUnsafeGuaranteedRef {
                    iovec(iov_base: $0.base + skip, iov_len: $0.count - skip)
                }
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
        head = 0
        tail = 0
        if capacity > OutputQueue.State.keptCapacity { freeStorage() }
        return .drained
    }

    /// Releases the buffers `written` bytes have completed.
    private mutating func consume(_ written: Int) {
        let queued = slots.unsafelyUnwrapped
        var left = written
        queuedBytes -= written
        while left > 0 {
            let available = queued[head]._withUnsafeGuaranteedRef { $0.count } - headOffset
            if left >= available {
                left -= available
                headOffset = 0
                queued[head].release()
                head += 1
            } else {
                headOffset += left
                left = 0
            }
        }
    }

    mutating func removeAll() {
        releaseQueued()
        freeStorage()
        headOffset = 0
        queuedBytes = 0
    }

    func releaseQueued() {
        guard let queued = slots else { return }
        for index in head..<tail { queued[index].release() }
    }

    private mutating func freeStorage() {
        slots?.deallocate()
        slots = nil
        capacity = 0
        head = 0
        tail = 0
    }

    /// Called when `tail` reached the end: slide the live slots to the front if that frees at
    /// least half, else grow (×2). Unmanaged references are plain words, so memmove is right.
    private mutating func makeRoom() {
        let live = tail - head
        if let queued = slots, head > 0, live * 2 <= capacity {
            memmove(queued, queued + head, live * MemoryLayout<Unmanaged<SharedBuffer>>.stride)
        } else {
            let grown = UnsafeMutablePointer<Unmanaged<SharedBuffer>>.allocate(capacity: max(16, capacity * 2))
            if let queued = slots {
                grown.initialize(from: queued + head, count: live)
                queued.deallocate()
            }
            slots = grown
            capacity = max(16, capacity * 2)
        }
        head = 0
        tail = live
    }
}
