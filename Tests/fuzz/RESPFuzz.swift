// libFuzzer target for the RESP2 reply parser (Sources/TCPChat/Cluster/RESP.swift).
//
// The cluster link parses whatever Redis (or anything listening where Redis should be) sends.
// Whatever the bytes, the parser must never crash or allocate what a length field claims, and
// must agree with itself however the bytes arrive: when a whole value parses from the input,
// (a) the same value parses from exactly its own bytes, (b) every shorter prefix is
// "incomplete" (never an error, never a different value) — which is what makes a value that
// arrives over several reads parse the same as one that arrives at once.
//
// Input: the bytes Redis sent. Built by scripts/fuzz with `swiftc -sanitize=fuzzer,address`
// over RESP.swift alone.

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

enum Outcome: Equatable {
    case incomplete
    case invalid
    case value(RESPValue, Int)
}

func parse(_ bytes: ArraySlice<UInt8>) -> Outcome {
    Array(bytes).withUnsafeBytes { buffer in
        do {
            guard let (value, end) = try RESP.parse(buffer, from: 0) else { return .incomplete }
            return .value(value, end)
        } catch {
            return .invalid
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func respFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard case .value(let value, let end) = parse(input[...]) else { return 0 }
    check(end > 0 && end <= input.count, "end \(end) outside 1...\(input.count)")
    check(parse(input[..<end]) == .value(value, end), "the value's own \(end) bytes parse differently")
    // Every shorter prefix is incomplete (checked at up to 64 cut points, to stay fast).
    let step = max(1, end / 64)
    for cut in stride(from: 0, to: end, by: step) {
        check(parse(input[..<cut]) == .incomplete, "a \(cut)-byte prefix of a \(end)-byte value is not just incomplete")
    }
    return 0
}
