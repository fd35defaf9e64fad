// libFuzzer target for LineFramer (Sources/TCPChat/Protocol/LineFramer.swift).
//
// TCP hands the server bytes split at arbitrary points, and the server may stop the framer in
// the middle of a read when a client's rate limit runs out. Whatever the split and wherever it
// stops, the framer must report the same lines as if it had seen the whole stream at once, and
// never hold more than one line of memory. So the fuzzer chooses the stream, the line limit, the
// split points and the stops, and every run is checked against a plain reference framer that
// reads the whole stream in one go.
//
// Input layout (every byte string is a valid input):
//   byte 0        line limit: 1 + (byte % 32), small so that overlong lines are common
//   byte 1        low 4 bits: n, how many chunk sizes follow; bit 4 clear: each chunk goes to
//                 feed(), as the client reads; bit 4 set: to consume(), stopping after every k-th
//                 event (k = 1 + high 3 bits), as the server reads a rate-limited client
//   n bytes       chunk sizes, 1 + byte (1...256 bytes), used in turn, cycling; none: one chunk
//   the rest      the stream
//
// Built by scripts/fuzz with `swiftc -sanitize=fuzzer,address` over LineFramer.swift alone.

enum FramerEvent: Equatable {
    case line([UInt8])
    case overlong
}

/// Fails the run with a message libFuzzer prints next to the crashing input.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

/// What the framer must report for `stream`, computed on the whole stream at once: each LF-ended
/// line without one trailing CR, empty lines skipped, lines over `maxLine` reported as overlong;
/// an unfinished tail is reported as overlong as soon as it holds more than `maxLine + 1` bytes
/// (one byte of slack for a CR still to come).
func referenceEvents(_ stream: ArraySlice<UInt8>, maxLine: Int) -> (events: [FramerEvent], buffered: Int) {
    var events: [FramerEvent] = []
    var rest = stream[...]
    while let newline = rest.firstIndex(of: 0x0A) {
        var line = rest[..<newline]
        if line.last == 0x0D { line = line.dropLast() }
        if line.count > maxLine {
            events.append(.overlong)
        } else if !line.isEmpty {
            events.append(.line(Array(line)))
        }
        rest = rest[(newline + 1)...]
    }
    if rest.count > maxLine + 1 {
        events.append(.overlong)
        return (events, 0)
    }
    return (events, rest.count)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func framerFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard input.count >= 2 else { return 0 }
    let maxLine = 1 + Int(input[0] % 32)
    let chunkCount = Int(input[1] & 0x0F)
    let stopsEarly = input[1] & 0x10 != 0
    let eventsPerStop = 1 + Int(input[1] >> 5)
    guard input.count >= 2 + chunkCount else { return 0 }
    let chunkSizes = chunkCount == 0 ? [size] : input[2..<(2 + chunkCount)].map { 1 + Int($0) }
    let stream = Array(input[(2 + chunkCount)...])

    var framer = LineFramer(maxLineBytes: maxLine)
    var seen: [FramerEvent] = []
    func record(_ event: LineFramer.Event) {
        switch event {
        case .line(let bytes):
            check(!bytes.contains(0x0A), "a line holds an LF")
            check(bytes.count <= maxLine, "a line of \(bytes.count) bytes passed the limit \(maxLine)")
            check(!bytes.isEmpty, "an empty line was delivered")
            seen.append(.line(Array(bytes)))
        case .overlong:
            seen.append(.overlong)
        }
    }
    var eventsSinceStop = 0
    var offset = 0
    var chunkIndex = 0
    stream.withUnsafeBytes { whole in
        while offset < whole.count {
            let chunkSize = min(chunkSizes[chunkIndex % chunkSizes.count], whole.count - offset)
            chunkIndex += 1
            var pending = UnsafeRawBufferPointer(rebasing: whole[offset..<(offset + chunkSize)])
            offset += chunkSize
            guard stopsEarly else {
                framer.feed(pending, record)  // as ChatConnection reads: every line at once
                check(framer.bufferedBytes <= maxLine + 1,
                      "\(framer.bufferedBytes) bytes buffered with a limit of \(maxLine)")
                continue
            }
            // As the server reads a rate-limited client: stop after some lines, and feed the
            // rest of the read again later.
            while !pending.isEmpty {
                let consumed = framer.consume(pending) { event in
                    record(event)
                    eventsSinceStop += 1
                    guard eventsSinceStop >= eventsPerStop else { return true }
                    eventsSinceStop = 0
                    return false
                }
                check(consumed >= 1 && consumed <= pending.count,
                      "consume() returned \(consumed) for \(pending.count) bytes")
                check(framer.bufferedBytes <= maxLine + 1,
                      "\(framer.bufferedBytes) bytes buffered with a limit of \(maxLine)")
                pending = UnsafeRawBufferPointer(rebasing: pending[consumed...])
            }
        }
    }
    let expected = referenceEvents(stream[...], maxLine: maxLine)
    check(seen == expected.events, "events \(seen) differ from the whole-stream reference \(expected.events)")
    check(framer.bufferedBytes == expected.buffered,
          "\(framer.bufferedBytes) bytes buffered, the reference holds \(expected.buffered)")
    return 0
}
