import Testing
@testable import TCPChat

@Suite struct CommandTests {
    @Test func chatAndEscapedSlash() {
        #expect(Command.parse("hello") == .say("hello"))
        #expect(Command.parse("//join is a command") == .say("/join is a command"))
    }

    @Test func everyCommand() {
        #expect(Command.parse("/nick alice") == .nick("alice"))
        #expect(Command.parse("/NICK  alice ") == .nick("alice"))
        #expect(Command.parse("/who") == .who)
        #expect(Command.parse("/msg bob hi there") == .msg(to: "bob", text: "hi there"))
        #expect(Command.parse("/me waves") == .me("waves"))
        #expect(Command.parse("/join #rust") == .join("#rust"))
        #expect(Command.parse("/join rust") == .join("#rust"))
        #expect(Command.parse("/rooms") == .rooms)
        #expect(Command.parse("/help") == .help)
        #expect(Command.parse("/quit") == .quit(reason: nil))
        #expect(Command.parse("/quit see you") == .quit(reason: "see you"))
    }

    @Test func usageErrors() {
        #expect(Command.parse("/nick") == .invalid("usage: /nick NAME"))
        #expect(Command.parse("/nick a b") == .invalid("usage: /nick NAME"))
        #expect(Command.parse("/msg bob") == .invalid("usage: /msg NICK TEXT"))
        #expect(Command.parse("/me") == .invalid("usage: /me ACTION"))
        #expect(Command.parse("/join") == .invalid("usage: /join #ROOM"))
        #expect(Command.parse("/frobnicate x") == .unknown("frobnicate"))
        #expect(Command.unknownProblem("frobnicate") == "unknown command /frobnicate, try /help")
    }
}

@Suite struct NameTests {
    @Test func acceptable() {
        for nick in ["alice", "Bob_2", "x", "张三", "a-b", String(repeating: "n", count: 32)] {
            #expect(Names.nickProblem(nick) == nil, "\(nick)")
        }
    }

    @Test func rejected() {
        #expect(Names.nickProblem("") == "a nick cannot be empty")
        #expect(Names.nickProblem(String(repeating: "n", count: 33)) == "nick too long (33 characters; at most 32)")
        #expect(Names.nickProblem("a.b")?.contains("found '.' U+002E") == true)
        #expect(Names.nickProblem("evil\u{202E}lin")?.contains("U+202E") == true)
        #expect(Names.nickProblem("Server") == "nick Server is reserved")
        #expect(Names.nickProblem("tab\there") != nil)
    }

    @Test func rooms() {
        #expect(Names.roomProblem("#rust") == nil)
        #expect(Names.roomProblem("#") != nil)
        #expect(Names.roomProblem("#a b") != nil)
    }
}

@Suite struct SanitizerTests {
    func clean(_ bytes: [UInt8], _ fallback: FallbackEncoding = .none) -> String {
        var sanitizer = TextSanitizer(fallback: fallback)
        defer { sanitizer.close() }
        return bytes.withUnsafeBytes { sanitizer.clean($0) }
    }

    @Test func plainTextPassesUnchanged() {
        #expect(clean(Array("hello\tworld".utf8)) == "hello\tworld")
        #expect(clean(Array("你好 café".utf8)) == "你好 café")
    }

    @Test func escapeSequencesAreRemovedWhole() {
        #expect(clean(Array("\u{1B}[31mred\u{1B}[0m".utf8)) == "red")
        #expect(clean(Array("\u{1B}]0;title\u{07}after".utf8)) == "after")
        #expect(clean(Array("\u{1B}[2J\u{1B}[Hclear".utf8)) == "clear")
        #expect(clean(Array("a\u{9B}31mb".utf8)) == "ab")
    }

    @Test func controlCharactersAreRemoved() {
        #expect(clean([0x61, 0x00, 0x62, 0x0D, 0x63, 0x07, 0x7F, 0x64]) == "abcd")
    }

    @Test func bidiOverridesAreRemoved() {
        #expect(clean(Array("abc\u{202E}fed".utf8)) == "abcfed")
    }

    @Test func invalidUTF8BecomesReplacementCharacters() {
        #expect(clean([0x61, 0xFF, 0x62]) == "a\u{FFFD}b")
        #expect(clean([0xC0, 0xAF]) == "\u{FFFD}\u{FFFD}")  // overlong "/": never a "/" (nor nothing)
    }

    @Test func gbkFallbackDecodesTheLessonsEncoding() {
        let nihao: [UInt8] = [0xC4, 0xE3, 0xBA, 0xC3]  // 你好 in GBK
        #expect(clean(nihao, .gbk) == "你好")
        #expect(clean(nihao, .none) == "\u{FFFD}\u{FFFD}\u{FFFD}")  // not decoded, not dropped
    }
}

@Suite struct WireTests {
    @Test func classify() {
        #expect(Wire.classify("<alice> hi") == .chat(nick: "alice", text: "hi"))
        #expect(Wire.classify("<alice -> bob> psst") == .privateMessage(from: "alice", to: "bob", text: "psst"))
        #expect(Wire.classify("* notice") == .notice("notice"))
        #expect(Wire.classify("! error") == .error("error"))
        #expect(Wire.classify("<bob> a -> b> c") == .chat(nick: "bob", text: "a -> b> c"))
        #expect(Wire.classify("<weird") == .other("<weird"))
    }
}
