// A connection's bounded output queue: shared buffers waiting to be written, flushed with
// writev in as few calls as the kernel allows. The queue never copies a buffer.
//
// This is the hottest code in the server (a room of N costs N appends per line), so:
// - references are kept as `Unmanaged` in storage of its own, counted by the buffer itself
//   (queueEntry/releaseEntry below: a plain increment, no atomic retain per delivery), and
//   nothing else (no Array uniqueness checks, no retain/release while building the iovecs);
// - the queue is a struct stored in its connection's record (Connection.output), with
//   unchecked exclusivity there. Swift checks every mutation of a class's stored property at
//   run time (exclusivity enforcement, ~120 instructions: more than the append itself);
//   `@exclusivity(unchecked)` turns that off for it. It was an object of its own (one more
//   allocation per connection, issue 19). The queue is owned by one connection and used on the
//   loop thread only, never reentrantly. Its owner calls `discard()` when it goes (a struct
//   has no deinit).
// A queue that never had anything queued holds no slot storage at all.
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

    // 40 bytes, inline in the connection's own record (issue 19: memory per idle connection;
    // it was an object of its own, 80 bytes with its allocation's header, and an idle
    // connection kept 32 bytes of slots). Counts are 32-bit: a queue holds at most --max-queue
    // bytes, and each entry costs `entryCost` of them.
    /// Queued buffers, each counted in its queueCount, at `head..<tail`: in `slots` when
    /// allocated, else (capacity 1) the one entry in `single`. A queue that never held more
    /// than one entry at a time (an idle connection's) allocates nothing, and a drained queue
    /// of two slots gives them back.
    fileprivate var slots: UnsafeMutablePointer<Unmanaged<SharedBuffer>>?
    fileprivate var single: UnsafeMutableRawPointer?
    fileprivate var queuedByteCount = 0
    fileprivate var capacity: Int32 = 1
    fileprivate var head: Int32 = 0           // the first unsent buffer
    fileprivate var tail: Int32 = 0           // one past the last queued buffer
    fileprivate var headOffset: Int32 = 0     // bytes of slots[head] already sent

    init() {}

    var isEmpty: Bool { head == tail }

    /// Whether it holds slot storage of its own (MemoryTests).
    var hasSlotStorage: Bool { slots != nil }

    /// Bytes queued and not yet written, plus `entryCost` for each queued line: what the queue
    /// keeps alive, as --max-queue counts it.
    var queuedBytes: Int { queuedByteCount }

    /// The queue's owner is going: drops what is queued and its storage (the owner's deinit;
    /// a struct has none of its own).
    mutating func discard() {
        removeAll()
    }

    // For writers other than writev (TLS, Transport/TLS/Connections+TLS.swift): nextPiece
    // gives the next bytes to write as one contiguous piece, consume how many were written.
    // The piece depends only on what is queued from the head (the queue grows at the tail), so
    // a write that must be retried with the same bytes (OpenSSL's rule) gets them again,
    // perhaps with more after.
}

extension OutputQueue {
    /// A drained queue keeps storage up to this many slots, so a busy connection does not
    /// allocate once per loop iteration; anything larger is returned to the allocator.
    /// 16 (128 bytes) since lines are batched (LineBatch): a busy receiver gets a few batches
    /// per iteration, not a line each, and an idle one keeps little after a burst.
    static let keptCapacity = 16

    /// What a queued line costs in memory beyond its bytes (the SharedBuffer object, its
    /// allocation's header and rounding, the slot), charged against --max-queue: a slow reader
    /// that is the last to hold many short lines keeps all of that alive, and the cap is a
    /// bound on memory, not only on bytes to send.
    static let entryCost = 80

    /// Queues `buffer`; returns the bytes now queued.
    @inline(__always)
    @discardableResult
    mutating func append(_ buffer: SharedBuffer) -> Int {
        // An empty buffer would make a flush of nothing but empty iovecs write 0 bytes, for ever.
        guard buffer.count > 0 else { return queuedByteCount }
        if tail == capacity { makeRoom() }
        let entry = queueEntry(for: buffer)
        if let slots { slots[Int(tail)] = entry } else { single = entry.toOpaque() }
        tail &+= 1
        queuedByteCount &+= buffer.count &+ OutputQueue.entryCost
        return queuedByteCount
    }

    /// Lines up to this size are copied into the scratch buffer and leave as one iovec with
    /// their neighbours; larger buffers get an iovec of their own. The kernel's cost per iovec
    /// (a user-access window and a copy call per segment) was most of the server's CPU when
    /// each 70-byte chat line was a segment; one memcpy here is far cheaper.
    static let coalescedBytes = 512

    mutating func flush(to fd: Int32, iovecs: UnsafeMutablePointer<iovec>, scratch: UnsafeMutableRawBufferPointer) -> OutputQueue.FlushResult {
        let maxSegments = Int(ctc_IOV_MAX)
        while head < tail {
            let (queued, one) = (slots, single)
            var segments = 0
            var used = 0          // bytes of scratch filled
            var total = 0         // bytes this writev offers
            var index = Int(head)
            var skip = Int(headOffset)
            let end = Int(tail)
            while index < end && segments < maxSegments {
                let (base, count) = OutputQueue.entry(index, queued, one)._withUnsafeGuaranteedRef { ($0.base + skip, $0.count - skip) }
                if count <= OutputQueue.coalescedBytes {
                    if used + count > scratch.count { break }
                    let destination = scratch.baseAddress.unsafelyUnwrapped + used
                    destination.copyMemory(from: base, byteCount: count)
                    if segments > 0 && iovecs[segments - 1].iov_base.map({ $0 + iovecs[segments - 1].iov_len }) == destination {
                        iovecs[segments - 1].iov_len += count  // extends the scratch segment before it
                    } else {
                        iovecs[segments] = iovec(iov_base: destination, iov_len: count)
                        segments += 1
                    }
                    used += count
                } else {
                    iovecs[segments] = iovec(iov_base: base, iov_len: count)
                    segments += 1
                }
                total += count
                skip = 0
                index += 1
            }
            let written: Int
            do {
                switch try Sys.writev(fd, iovecs, Int32(segments)) {
                case .wouldBlock: return .pending
                case .done(let count): written = count
                }
            } catch {
                return .failed(error)
            }
            consumeEntries(written)
            // A short write means the socket's buffer is full: wait for EPOLLOUT rather than
            // copy the rest into the scratch again only to hear EAGAIN.
            if written < total { return .pending }
        }
        reset()
        return .drained
    }

    /// `written` bytes of the queue's head were written (for writers other than writev: TLS).
    mutating func consume(_ written: Int) {
        consumeEntries(written)
        if head == tail { reset() }
    }

    /// Releases the buffers `written` bytes have completed.
    private mutating func consumeEntries(_ written: Int) {
        var left = written
        var index = Int(head)
        var offset = Int(headOffset)
        let (queued, one) = (slots, single)
        queuedByteCount -= written
        while left > 0 {
            let entry = OutputQueue.entry(index, queued, one)
            let available = entry._withUnsafeGuaranteedRef { $0.count } - offset
            if left >= available {
                left -= available
                offset = 0
                queuedByteCount -= OutputQueue.entryCost
                releaseEntry(entry)
                index += 1
            } else {
                offset += left
                left = 0
            }
        }
        head = Int32(truncatingIfNeeded: index)
        headOffset = Int32(truncatingIfNeeded: offset)
    }

    func nextPiece(scratch: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard head < tail else { return nil }
        let (first, firstCount) = entry(Int(head))._withUnsafeGuaranteedRef { ($0.base + Int(headOffset), $0.count - Int(headOffset)) }
        if firstCount > scratch.count { return UnsafeRawBufferPointer(start: first, count: firstCount) }
        var used = 0
        var index = Int(head)
        var skip = Int(headOffset)
        while index < Int(tail) {
            let (base, count) = entry(index)._withUnsafeGuaranteedRef { ($0.base + skip, $0.count - skip) }
            if used + count > scratch.count { break }
            (scratch.baseAddress.unsafelyUnwrapped + used).copyMemory(from: base, byteCount: count)
            used += count
            skip = 0
            index += 1
        }
        return UnsafeRawBufferPointer(rebasing: scratch[..<used])
    }

    /// Everything was written: empty. Slots beyond `keptCapacity` go back to the allocator, and
    /// so do two: a receiver that gets one entry per iteration (an idle connection's notices, a
    /// quiet room's lines) needs none, and one that gets more grows past two in its first few
    /// busy iterations and keeps its slots.
    mutating func reset() {
        head = 0
        tail = 0
        single = nil
        if capacity == 2 || Int(capacity) > OutputQueue.keptCapacity { freeStorage() }
    }

    mutating func removeAll() {
        releaseQueued()
        freeStorage()
        headOffset = 0
        queuedByteCount = 0
    }

    func releaseQueued() {
        for index in Int(head)..<Int(tail) { releaseEntry(entry(index)) }
    }

    /// The entry at `index`.
    @inline(__always)
    private func entry(_ index: Int) -> Unmanaged<SharedBuffer> {
        OutputQueue.entry(index, slots, single)
    }

    /// The entry at `index` of a queue whose `slots` and `single` are these (the loops read
    /// both once, not through `self` at every entry).
    @inline(__always)
    private static func entry(_ index: Int, _ slots: UnsafeMutablePointer<Unmanaged<SharedBuffer>>?,
                              _ single: UnsafeMutableRawPointer?) -> Unmanaged<SharedBuffer> {
        if let slots { return slots[index] }
        return Unmanaged.fromOpaque(single.unsafelyUnwrapped)
    }

    private mutating func freeStorage() {
        slots?.deallocate()
        slots = nil
        single = nil
        capacity = 1
        head = 0
        tail = 0
    }

    /// Called when `tail` reached the end: reuse the inline slot if it was written, slide the
    /// live slots to the front if that frees at least half, else grow (×2). Unmanaged references are plain words, so memmove is right.
    private mutating func makeRoom() {
        let live = Int(tail - head)
        let first = Int(head)
        if slots == nil && live == 0 {
            single = nil  // the one entry was written: the inline slot is free again
        } else if let queued = slots, first > 0, live * 2 <= Int(capacity) {
            memmove(queued, queued + first, live * MemoryLayout<Unmanaged<SharedBuffer>>.stride)
        } else {
            // From the inline slot to 2, then doubling: a busy receiver doubles its way up in
            // its first few iterations.
            let grownCapacity = max(2, Int(capacity) * 2)
            let grown = UnsafeMutablePointer<Unmanaged<SharedBuffer>>.allocate(capacity: grownCapacity)
            if let queued = slots {
                grown.initialize(from: queued + first, count: live)
                queued.deallocate()
            } else {
                grown.initialize(to: Unmanaged.fromOpaque(single.unsafelyUnwrapped))  // live == 1
                single = nil
            }
            slots = grown
            capacity = Int32(grownCapacity)
        }
        head = 0
        tail = Int32(live)
    }
}

// The buffer's own count of the queue entries that refer to it (SharedBuffer.queueCount). Here,
// beside the queue, and free functions rather than SharedBuffer's static methods: the buffer
// type lives in TCPChatCore, and a call into another module (with the class's metadata for a
// static method's `self`) per delivery cost more than the increment itself.

/// A queue entry now refers to `buffer`: count it, retaining the buffer for the first.
@inline(__always)
private func queueEntry(for buffer: SharedBuffer) -> Unmanaged<SharedBuffer> {
    let entry = Unmanaged.passUnretained(buffer)
    let counter = buffer.queueCount
    if counter.pointee == 0 { _ = entry.retain() }
    counter.pointee += 1
    return entry
}

/// A queue entry is done with `entry`: the last one gives the retain back (which may free the
/// buffer, so nothing touches it afterwards).
@inline(__always)
private func releaseEntry(_ entry: Unmanaged<SharedBuffer>) {
    let counter = entry._withUnsafeGuaranteedRef { $0.queueCount }
    counter.pointee -= 1
    if counter.pointee == 0 { entry.release() }
}
