// libFuzzer target for IRC's message grammar (Sources/TCPChat/IRC/IRCMessage.swift): any line a
// client sends is parsed without a crash, into a message that says what the line said, and
// what the server cuts to fit 512 bytes loses nothing and splits no character.
//
// Input: byte 0 chooses a cutting budget (4 + byte), the rest is one line (no terminator; the
// framer has removed it).
//
// Built by scripts/fuzz with `swiftc -sanitize=fuzzer,address` over IRCMessage.swift alone.

func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

/// The message as a client would write it back: middle parameters, then the last after ':'.
func serialize(_ message: IRCMessage) -> String {
    var line = message.command
    for (index, param) in message.params.enumerated() {
        let last = index == message.params.count - 1
        line += last ? " :" + param : " " + param
    }
    return line
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let budget = 4 + Int(data[0])
    let line = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    _ = IRCMessage.opensIRC(line)
    if let message = IRCMessage.parse(line) {
        check(!message.command.isEmpty && !message.command.contains(" "), "command \(message.command.debugDescription)")
        check(message.command == message.command.uppercased(), "command not upper case")
        check(message.params.count <= 15, "\(message.params.count) parameters")
        for param in message.params.dropLast() {
            check(!param.isEmpty && !param.contains(" ") && !param.hasPrefix(":"), "middle parameter \(param.debugDescription)")
        }
        // Written back and read again, it is the same message.
        check(IRCMessage.parse(serialize(message)) == message, "round trip of \(message)")
    } else {
        // By scalar, as the parser reads: "@" followed by a combining mark is still a tag marker.
        let text = String(decoding: line, as: UTF8.self)
        let start = text.unicodeScalars.drop { $0 == " " }.first
        check(start == nil || start == "@" || start == ":", "no message from \(text.debugDescription)")
    }
    // Cutting: pieces within the budget, nothing lost, no scalar split.
    let text = String(decoding: line, as: UTF8.self)
    let pieces = IRCMessage.pieces(of: text, budget: budget)
    check(!pieces.isEmpty, "no piece")
    check(pieces.joined() == text, "pieces lose text")
    for piece in pieces { check(piece.utf8.count <= max(budget, 4) || piece.unicodeScalars.count == 1, "piece of \(piece.utf8.count) bytes over \(budget)") }
    let fitted = IRCMessage.fit(text)
    check(fitted.utf8.count <= IRCMessage.maxLineBytes - 2 && text.unicodeScalars.starts(with: fitted.unicodeScalars), "fit")
    return 0
}
