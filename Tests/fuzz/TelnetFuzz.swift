// libFuzzer target for TelnetFilter (Sources/TCPChat/Protocol/TelnetFilter.swift).
//
// The filter runs in place on each read, with a command possibly cut between two reads. Whatever
// the split, it must keep the same data bytes and send the same replies as a plain reference
// that reads the whole stream at once, with one documented exception: a stray 0xFF (one before
// a byte that is no telnet command) that ends a read is dropped. Runs whose split falls right
// after such a byte are checked for the invariants only.
//
// Input layout (every byte string is a valid input):
//   byte 0        low 4 bits: n, how many chunk sizes follow
//   n bytes       chunk sizes, 1 + byte % 16 (small, so commands are often cut), used in turn
//   the rest      the stream
//
// Built by scripts/fuzz with `swiftc -sanitize=fuzzer,address` over TelnetFilter.swift alone.

/// Fails the run with a message libFuzzer prints next to the crashing input.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

/// The whole stream at once: the data kept, the replies, and the indices of stray 0xFF bytes
/// (kept as data here; a split right after one drops it).
func reference(_ stream: [UInt8]) -> (kept: [UInt8], replies: [UInt8], strays: Set<Int>) {
    var kept: [UInt8] = []
    var replies: [UInt8] = []
    var strays: Set<Int> = []
    var index = 0
    func at(_ i: Int) -> UInt8? { i < stream.count ? stream[i] : nil }
    while index < stream.count {
        let byte = stream[index]
        guard byte == 0xFF else {
            kept.append(byte)
            index += 1
            continue
        }
        guard let command = at(index + 1) else { break }  // IAC at the very end: a cut command
        switch command {
        case 0xFF:
            kept.append(0xFF)
            index += 2
        case 0xFB...0xFE:  // WILL WONT DO DONT + option
            guard let option = at(index + 2) else { index = stream.count; break }
            if command == 0xFD { replies += [0xFF, 0xFC, option] }
            if command == 0xFB { replies += [0xFF, 0xFE, option] }
            index += 3
        case 0xFA:  // SB ... IAC SE, dropped whole
            var i = index + 2
            while i < stream.count {
                if stream[i] == 0xFF, let next = at(i + 1) {
                    i += 2
                    if next == 0xF0 { break }
                } else {
                    i += 1
                }
            }
            index = i
        case 0xEC...0xF9:
            index += 2
        default:  // no command: 0xFF and this byte are data
            strays.insert(index)
            kept += [0xFF, command]
            index += 2
        }
    }
    return (kept, replies, strays)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = input.first else { return 0 }
    let sizeCount = Int(first & 0x0F)
    guard input.count > 1 + sizeCount else { return 0 }
    let sizes = input[1..<(1 + sizeCount)].map { 1 + Int($0 % 16) }
    let stream = Array(input[(1 + sizeCount)...])

    var filter = TelnetFilter()
    var kept: [UInt8] = []
    var replies: [UInt8] = []
    var boundaries: [Int] = []
    var offset = 0
    var turn = 0
    while offset < stream.count {
        let length = sizes.isEmpty ? stream.count : min(sizes[turn % sizes.count], stream.count - offset)
        turn += 1
        var chunk = Array(stream[offset..<(offset + length)])
        let count = chunk.withUnsafeMutableBytes { filter.filter($0, replies: &replies) }
        check(count >= 0 && count <= length, "kept \(count) of \(length) bytes")
        kept += chunk[..<count]
        offset += length
        boundaries.append(offset)
    }
    check(replies.count % 3 == 0, "replies come in triples: \(replies)")
    for triple in stride(from: 0, to: replies.count, by: 3) {
        check(replies[triple] == 0xFF && (replies[triple + 1] == 0xFC || replies[triple + 1] == 0xFE),
              "a reply is IAC WONT/DONT x: \(replies)")
    }
    if !stream.contains(0xFF) { check(kept == stream, "a stream without IAC passes unchanged") }

    let expected = reference(stream)
    check(replies == expected.replies, "replies \(replies) differ from the whole stream's \(expected.replies)")
    // A stray 0xFF that ended a read was dropped: compare only when no split fell right after one.
    if expected.strays.allSatisfy({ !boundaries.contains($0 + 1) }) {
        check(kept == expected.kept, "kept \(kept) differs from the whole stream's \(expected.kept)")
    }
    return 0
}
