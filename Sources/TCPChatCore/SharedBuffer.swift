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

public final class SharedBuffer {  // public: ChatSession.enqueue is open (Session.swift)
    package let base: UnsafeMutableRawPointer
    package let count: Int
    /// How many output queue entries refer to this buffer (loop thread only).
    package let queueCount: UnsafeMutablePointer<Int>

    package init(_ text: String) {
        var text = text
        (base, queueCount, count) = SharedBuffer.allocate(text.utf8.count)
        text.withUTF8 { [base] in if !$0.isEmpty { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }

    /// Bytes sent as they are, not a line of text (a telnet reply, see TelnetFilter).
    package init(bytes: [UInt8]) {
        (base, queueCount, count) = SharedBuffer.allocate(bytes.count)
        bytes.withUnsafeBytes { [base] in if !$0.isEmpty { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
    }

    /// A copy of `bytes` (a batch of lines, see LineBatch).
    package init(copying bytes: UnsafeRawBufferPointer) {
        (base, queueCount, count) = SharedBuffer.allocate(bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 { base.copyMemory(from: source, byteCount: bytes.count) }
    }

    /// The one allocation: the queue counter (zero), then room for `count` bytes.
    private static func allocate(_ count: Int) -> (UnsafeMutableRawPointer, UnsafeMutablePointer<Int>, Int) {
        let header = MemoryLayout<Int>.stride
        let storage = UnsafeMutableRawPointer.allocate(byteCount: header + max(count, 1), alignment: MemoryLayout<Int>.alignment)
        let counter = storage.bindMemory(to: Int.self, capacity: 1)
        counter.initialize(to: 0)
        return (storage + header, counter, count)
    }

    deinit { UnsafeMutableRawPointer(queueCount).deallocate() }

    package var string: String {
        String(decoding: UnsafeRawBufferPointer(start: base, count: count), as: UTF8.self)
    }
}
