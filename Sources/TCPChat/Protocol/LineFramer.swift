// Turns a TCP byte stream into lines. TCP has no message boundaries: one recv may hold half a
// line or a hundred lines, so the framer keeps the unfinished tail between calls.
//
// LF ends a line; one trailing CR is dropped (CRLF clients); empty lines are skipped. A line
// longer than `maxLineBytes` is reported once as `.overlong` and the rest of it is discarded as
// it arrives, so it never costs more than `maxLineBytes` of memory.
#if canImport(Glibc)
import Glibc
#endif

public struct LineFramer {
    public enum Event {
        /// A complete line without its terminator. Valid only during the callback.
        case line(UnsafeRawBufferPointer)
        /// A line passed the limit; its remaining bytes up to the next LF are being dropped.
        case overlong
    }

    // 12 bytes (a server keeps one per connection: issue 19, memory per idle connection): the
    // limit in the low 31 bits of a word whose top bit says whether a line over it is being
    // dropped.
    private var partial: [UInt8] = []
    private var limitAndDiscarding: UInt32

    private var limit: Int32 { Int32(bitPattern: limitAndDiscarding & 0x7FFF_FFFF) }
    private var discarding: Bool {
        get { limitAndDiscarding & 0x8000_0000 != 0 }
        set { limitAndDiscarding = limitAndDiscarding & 0x7FFF_FFFF | (newValue ? 0x8000_0000 : 0) }
    }

    public var maxLineBytes: Int { Int(limit) }

    public init(maxLineBytes: Int) {
        precondition(maxLineBytes > 0, "maxLineBytes must be positive")
        limitAndDiscarding = UInt32(Int32(clamping: maxLineBytes))
    }

    /// Bytes of an unfinished line held between calls.
    public var bufferedBytes: Int { partial.count }

    /// Feeds received bytes; calls `onEvent` for each complete line or overlong line, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onEvent: (Event) -> Void) {
        _ = consume(bytes) { event in
            onEvent(event)
            return true
        }
    }

    /// Feeds received bytes until `onEvent` returns false (the caller wants no more lines for
    /// now, e.g. its rate limit ran out). Returns how many bytes were consumed: the caller keeps
    /// the rest and feeds it again later. Returns `bytes.count` when it was not stopped.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, _ onEvent: (Event) -> Bool) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        var start = 0
        let end = bytes.count
        while start < end {
            let remaining = end - start
            guard let found = memchr(base + start, 0x0A, remaining) else {
                absorbTail(UnsafeRawBufferPointer(start: base + start, count: remaining)) { _ = onEvent($0) }
                return end
            }
            let newline = UnsafeRawPointer(found) - base
            let piece = UnsafeRawBufferPointer(start: base + start, count: newline - start)
            start = newline + 1
            var wantsMore = true
            finishLine(piece) { wantsMore = onEvent($0) }
            if !wantsMore { return start }
        }
        return end
    }

    /// The stream ended: a last line that had no LF is delivered as a line (a peer such as
    /// `nc` may close right after typing it). Leaves the framer empty.
    public mutating func finish(_ onEvent: (Event) -> Void) {
        let wasDiscarding = discarding
        discarding = false
        guard !partial.isEmpty, !wasDiscarding else {
            partial.removeAll()
            return
        }
        let line = partial
        partial.removeAll()
        line.withUnsafeBytes { deliver($0, onEvent) }
    }

    /// Bytes with no LF in them: keep them for later, or drop them when over the limit.
    private mutating func absorbTail(_ piece: UnsafeRawBufferPointer, _ onEvent: (Event) -> Void) {
        if discarding { return }
        // One byte of slack for the CR of a CRLF line that is exactly at the limit.
        if partial.count + piece.count > maxLineBytes + 1 {
            partial.removeAll(keepingCapacity: false)
            discarding = true
            onEvent(.overlong)
            return
        }
        partial.append(contentsOf: piece)
    }

    /// `piece` is the end of a line (the bytes before an LF).
    private mutating func finishLine(_ piece: UnsafeRawBufferPointer, _ onEvent: (Event) -> Void) {
        if discarding {
            discarding = false
            return
        }
        if partial.isEmpty {
            deliver(piece, onEvent)
        } else {
            partial.append(contentsOf: piece)
            let line = partial
            partial.removeAll(keepingCapacity: partial.capacity <= 4096)
            line.withUnsafeBytes { deliver($0, onEvent) }
        }
    }

    private func deliver(_ raw: UnsafeRawBufferPointer, _ onEvent: (Event) -> Void) {
        var line = raw
        if let last = line.last, last == 0x0D {
            line = UnsafeRawBufferPointer(rebasing: line.dropLast())
        }
        if line.count > maxLineBytes {
            onEvent(.overlong)
            return
        }
        if line.isEmpty { return }
        onEvent(.line(line))
    }
}
