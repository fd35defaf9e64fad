// Batching a sender's lines (issue 19): the chat lines one read of one client holds, said in
// one room whose members all speak one protocol, are rendered one after the other into a
// batch and fanned out as ONE shared buffer, so that a receiver's queue gets one entry (and
// its flush one iovec, with no copy) per batch instead of one per line. The C reference does
// the same with each read's complete lines. Every line is still a line of its own for
// everything else: it is recorded in the room's history, handed to the cluster and to the
// host's hooks one by one.
//
// Order: a batch holds lines of one sender to one room; anything else the core sends (a
// fan-out, an announcement, a reply, a private line: every other intent, every other path)
// first sends the batch (ChatCore.flushBatch), so nobody sees a later event before an earlier
// line. The transport ends the batch when it has handled a read's lines (ChatCore.endLines),
// and the core sends it early when it reaches `LineBatch.limit` bytes: a sender's batch is
// what may pass a receiver's soft mark before backpressure can hold that sender, so it is kept
// small (issue 18): 8 KiB, an eighth of the default soft mark. It was 4 KiB, which cut the 100
// chat lines of a typical flat-out read (~7.3 KB rendered) in two: two queue entries, two
// enqueues per receiver (the member loop's cost is mostly the cache misses of touching each
// receiver) and two iovecs per read where the C reference has one. 8 KiB: one (issue 19).

/// An encoder whose room lines can be written one after another into a batch: the bytes are
/// exactly those encode(event, for: nil) makes.
package protocol BatchingEncoder: EventEncoder {
    /// Appends the bytes of `event` for every member; false (nothing appended) when this
    /// event is not batched.
    func append(_ event: ChatEvent, to batch: inout LineBatch) -> Bool
    /// Appends the bytes of `.said(room:, nick: nick, text: text)` for every member, `text`
    /// being the line's bytes (valid UTF-8, already clean): ChatCore.sayPlain, with no String
    /// made for the text. False (nothing appended) when this encoder does not batch it.
    func appendSaid(nick: String, text: UnsafeRawBufferPointer, to batch: inout LineBatch) -> Bool
}

/// The bytes of the lines being batched; one per core, reused.
package struct LineBatch {
    /// The batch is sent once it holds this many bytes.
    static let limit = 8192
    private(set) var base: UnsafeMutableRawPointer
    private(set) var count = 0
    private var capacity: Int

    init() {
        capacity = LineBatch.limit * 2
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    func free() { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    mutating func reset() { count = 0 }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(count + extra) }
    }

    private mutating func grow(_ needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        grown.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    package mutating func append(byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// `prefix`, `name`, `infix`, `text` and `suffix` one after the other (a chat line: `<`,
    /// the nick, `> `, its text, the newline), with one check for room.
    package mutating func append(_ prefix: StaticString, _ name: String, _ infix: StaticString,
                                 _ text: UnsafeRawBufferPointer, _ suffix: StaticString) {
        var name = name
        name.withUTF8 { nameBytes in
            let total = prefix.utf8CodeUnitCount + nameBytes.count + infix.utf8CodeUnitCount + text.count
                + suffix.utf8CodeUnitCount
            reserve(total)
            var at = base + count
            at.copyMemory(from: prefix.utf8Start, byteCount: prefix.utf8CodeUnitCount)
            at += prefix.utf8CodeUnitCount
            if let source = nameBytes.baseAddress { at.copyMemory(from: source, byteCount: nameBytes.count) }
            at += nameBytes.count
            at.copyMemory(from: infix.utf8Start, byteCount: infix.utf8CodeUnitCount)
            at += infix.utf8CodeUnitCount
            if let source = text.baseAddress { at.copyMemory(from: source, byteCount: text.count) }
            at += text.count
            at.copyMemory(from: suffix.utf8Start, byteCount: suffix.utf8CodeUnitCount)
            count += total
        }
    }

    package mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            guard let source = utf8.baseAddress, utf8.count > 0 else { return }
            reserve(utf8.count)
            (base + count).copyMemory(from: source, byteCount: utf8.count)
            count += utf8.count
        }
    }
}
