// One encoded server line, shared by every receiver. A room broadcast formats and encodes its
// line once; each member's output queue holds a reference to the same immutable bytes, and
// writev sends them straight from here.
#if canImport(Glibc)
import Glibc
#endif

final class SharedBuffer {
    let base: UnsafeMutableRawPointer
    let count: Int

    init(_ text: String) {
        var text = text
        count = text.utf8.count
        base = .allocate(byteCount: max(count, 1), alignment: 1)
        text.withUTF8 { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    deinit { base.deallocate() }

    var string: String {
        String(decoding: UnsafeRawBufferPointer(start: base, count: count), as: UTF8.self)
    }
}
