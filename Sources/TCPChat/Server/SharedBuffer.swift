// One encoded server line, shared by every receiver. A room broadcast formats and encodes its
// line once; each member's output queue refers to the same immutable bytes, and the flush
// sends them from here (short lines gathered into one segment, see OutputQueue).
//
// Output queues do not retain a buffer each: they count themselves in `queueCount`, a plain
// integer in the buffer's own allocation, and hold one retain in all while the count is above
// zero. An atomic retain and release per delivery was the largest user-space cost of a fan-out
// once the rest was gone. Buffers, like the queues, are used on their server's loop thread only.
#if canImport(Glibc)
import Glibc
#endif

final class SharedBuffer {
    let base: UnsafeMutableRawPointer
    let count: Int
    /// How many output queue entries refer to this buffer (loop thread only).
    let queueCount: UnsafeMutablePointer<Int>

    init(_ text: String) {
        var text = text
        count = text.utf8.count
        let header = MemoryLayout<Int>.stride
        let storage = UnsafeMutableRawPointer.allocate(byteCount: header + max(count, 1), alignment: MemoryLayout<Int>.alignment)
        queueCount = storage.bindMemory(to: Int.self, capacity: 1)
        queueCount.initialize(to: 0)
        base = storage + header
        text.withUTF8 { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// Bytes sent as they are, not a line of text (a telnet reply, see TelnetFilter).
    init(bytes: [UInt8]) {
        count = bytes.count
        let header = MemoryLayout<Int>.stride
        let storage = UnsafeMutableRawPointer.allocate(byteCount: header + max(count, 1), alignment: MemoryLayout<Int>.alignment)
        queueCount = storage.bindMemory(to: Int.self, capacity: 1)
        queueCount.initialize(to: 0)
        base = storage + header
        bytes.withUnsafeBytes { if count > 0 { base.copyMemory(from: $0.baseAddress!, byteCount: count) } }
    }

    deinit { UnsafeMutableRawPointer(queueCount).deallocate() }

    var string: String {
        String(decoding: UnsafeRawBufferPointer(start: base, count: count), as: UTF8.self)
    }

    /// A queue entry now refers to `buffer`: count it, retaining the buffer for the first.
    @inline(__always)
    static func enqueued(_ buffer: SharedBuffer) -> Unmanaged<SharedBuffer> {
        let entry = Unmanaged.passUnretained(buffer)
        if buffer.queueCount.pointee == 0 { _ = entry.retain() }
        buffer.queueCount.pointee += 1
        return entry
    }

    /// A queue entry is done with `entry`: the last one gives the retain back (which may free
    /// the buffer, so nothing touches it afterwards).
    @inline(__always)
    static func dequeued(_ entry: Unmanaged<SharedBuffer>) {
        let counter = entry._withUnsafeGuaranteedRef { $0.queueCount }
        counter.pointee -= 1
        if counter.pointee == 0 { entry.release() }
    }
}
