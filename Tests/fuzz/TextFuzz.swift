// libFuzzer target for what the server does with one received line: TextSanitizer.clean, then
// Command.parse, the Names rules, and the Wire lines other people's clients will classify
// (Sources/TCPChat/Protocol/TextSanitizer.swift, Command.swift, Wire.swift).
//
// Any bytes may arrive, so none may trap, and:
// - cleaned text holds no C0 or C1 control but TAB (so no ESC, CR or LF) and no bidi
//   embedding, override or isolate; cleaning is idempotent;
// - with the GBK fallback, a line that is not UTF-8 but is valid GBK reads as iconv reads it;
// - every parsed command satisfies its usage (a nick or room argument has no space, a /msg has
//   a recipient and text, a room starts with #), and a nick or room name Names accepts is 1-32
//   name scalars (letters, digits, _ and -);
// - the lines the server formats from that text (chat, private message, notice, error) are
//   classified by Wire.classify back into the same nick and text.
//
// Input layout: byte 0 bit 0 picks the fallback encoding (0: none, 1: GBK); the rest is the line.
//
// Built by scripts/fuzz with `swiftc -sanitize=fuzzer,address` over those three files and the
// CTCPChatLinux shim (for iconv).
import CTCPChatLinux

/// Fails the run with a message libFuzzer prints next to the crashing input.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant broken: \(message())") }
}

// One sanitizer per fallback for the whole process, as a server keeps one. libFuzzer runs the
// target on one thread.
nonisolated(unsafe) let utf8Sanitizer = TextSanitizer(fallback: .none)
nonisolated(unsafe) let gbkSanitizer = TextSanitizer(fallback: .gbk)
nonisolated(unsafe) let referenceGBK = ctc_iconv_open("UTF-8", "GBK")

/// May this scalar reach other people's screens?
func isDisplaySafe(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09: return true
    case 0x00...0x1F, 0x7F...0x9F: return false  // C0 (ESC, CR, LF among them), DEL, C1
    case 0x202A...0x202E, 0x2066...0x2069: return false  // bidi embeddings, overrides, isolates
    default: return true
    }
}

/// `bytes` decoded from GBK by iconv with room to spare, or nil when they are not valid GBK.
func decodeGBK(_ bytes: UnsafeRawBufferPointer) -> String? {
    guard let decoder = referenceGBK else { return nil }
    _ = ctc_iconv(decoder, nil, nil, nil, nil)
    var input = Array(bytes)
    var output = [UInt8](repeating: 0, count: bytes.count * 4 + 16)
    let produced: Int? = input.withUnsafeMutableBytes { inBuffer in
        output.withUnsafeMutableBytes { outBuffer in
            var inPointer = inBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            var inLeft = inBuffer.count
            var outPointer = outBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            var outLeft = outBuffer.count
            let rc = ctc_iconv(decoder, &inPointer, &inLeft, &outPointer, &outLeft)
            return rc == size_t.max || inLeft != 0 ? nil : outBuffer.count - outLeft
        }
    }
    return produced.flatMap { String(validating: output[..<$0], as: UTF8.self) }
}

/// Checks what `Command.parse` promises its callers, and returns the nick it names, if any.
func checkCommand(_ text: String) -> String? {
    switch Command.parse(text) {
    case .say(let message):
        check(!message.isEmpty, "empty chat text from \(text.debugDescription)")
    case .nick(let name):
        check(!name.isEmpty && !name.contains(" "), "bad /nick argument \(name.debugDescription)")
        return name
    case .msg(let to, let message):
        check(!to.isEmpty && !message.isEmpty, "bad /msg \(to.debugDescription) \(message.debugDescription)")
        _ = Names.nickProblem(to)
    case .me(let action):
        check(!action.isEmpty, "empty /me from \(text.debugDescription)")
    case .join(let room):
        // Scalars, not Characters: "#" followed by a combining mark is one Character.
        check(room.unicodeScalars.first == "#" && !room.contains(" "), "bad /join argument \(room.debugDescription)")
        if Names.roomProblem(room) == nil {
            // The rules hold for the name as shown (NFKC: "e" + U+0301 becomes "é").
            let name = Names.display(room).unicodeScalars.dropFirst()
            check(name.count >= 1 && name.count <= Names.maxLength && name.allSatisfy { Names.isNameScalar($0) },
                  "accepted room \(room.debugDescription)")
        }
    case .quit(let reason):
        check(reason.map { !$0.isEmpty } ?? true, "empty /quit reason")
    case .invalid(let problem):
        check(!problem.isEmpty, "an invalid command without a reason")
    case .unknown(let name):
        check(!name.contains(" ") && !name.contains("\t"), "bad unknown command name \(name.debugDescription)")
    case .topic(let text):
        check(text.map { !$0.isEmpty } ?? true, "empty /topic text")
    case .register(let password):
        check(!password.isEmpty && !password.contains(" "), "bad /register password \(password.debugDescription)")
    case .identify(let nick, let password):
        check(!password.isEmpty && !password.contains(" "), "bad /identify password \(password.debugDescription)")
        check(nick.map { !$0.isEmpty && !$0.contains(" ") } ?? true, "bad /identify nick \(nick.debugDescription)")
    case .ghost(let nick, let password):
        check(!nick.isEmpty && !nick.contains(" ") && !password.isEmpty && !password.contains(" "),
              "bad /ghost \(nick.debugDescription) \(password.debugDescription)")
    case .who, .rooms, .help:
        break
    }
    return nil
}

/// Formats `text` as the server would and checks that a client reads back the same parts.
func checkWireRoundTrip(nick: String, text: String) {
    func classify(_ formatted: String) -> Wire.Kind {
        check(formatted.hasSuffix("\n"), "a Wire line without its newline")
        return Wire.classify(String(formatted.dropLast()))
    }
    let chat = classify(Wire.chat(from: nick, text))
    check(chat == .chat(nick: nick, text: text), "chat from \(nick.debugDescription) read back as \(chat)")
    let message = classify(Wire.privateMessage(from: nick, to: "guest1", text))
    check(message == .privateMessage(from: nick, to: "guest1", text: text),
          "private message from \(nick.debugDescription) read back as \(message)")
    check(classify(Wire.notice(text)) == .notice(text), "notice read back as \(classify(Wire.notice(text)))")
    check(classify(Wire.error(text)) == .error(text), "error read back as \(classify(Wire.error(text)))")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func textFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 1 else { return 0 }
    let useGBK = data[0] & 1 == 1
    let sanitizer = useGBK ? gbkSanitizer : utf8Sanitizer
    let line = UnsafeRawBufferPointer(start: data + 1, count: size - 1)

    let text = sanitizer.clean(line)
    let unsafe = text.unicodeScalars.first { !isDisplaySafe($0) }
    check(unsafe == nil, "U+\(String(unsafe?.value ?? 0, radix: 16)) survived cleaning in \(text.debugDescription)")
    let recleaned = Array(text.utf8).withUnsafeBytes { sanitizer.clean($0) }
    check(recleaned == text, "cleaning is not idempotent: \(text.debugDescription) → \(recleaned.debugDescription)")
    if useGBK, String(validating: line, as: UTF8.self) == nil, let gbk = decodeGBK(line) {
        let expected = TextSanitizer.strip(gbk)
        check(text == expected, "GBK line read as \(text.debugDescription), iconv reads \(expected.debugDescription)")
    }

    // The server ignores a line that cleans to nothing; everything else is parsed.
    guard !text.isEmpty else { return 0 }
    var nick = "guest1"
    if let typed = checkCommand(text), Names.nickProblem(typed) == nil {
        let named = Names.display(typed)  // the rules hold for the nick as shown (NFKC)
        let scalars = named.unicodeScalars
        check(Names.key(Names.key(named)) == Names.key(named), "key not idempotent for \(named.debugDescription)")
        check(Names.skeleton(named) == Names.skeleton(Names.key(named)), "skeleton differs from its key's for \(named.debugDescription)")
        check(scalars.count >= 1 && scalars.count <= Names.maxLength, "accepted nick of \(scalars.count) scalars")
        check(scalars.allSatisfy { Names.isNameScalar($0) }, "accepted nick \(named.debugDescription)")
        nick = named
    }
    _ = Names.key(text)
    _ = Names.nickProblem(text)
    _ = Names.roomProblem(text)
    _ = Wire.classify(text)  // what a client makes of this text arriving as a raw line
    checkWireRoundTrip(nick: nick, text: text)
    return 0
}
