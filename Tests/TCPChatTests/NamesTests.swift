// Names that cannot impersonate each other (issue 20, deliverable 1): PRECIS-style keys, UTS #39
// skeletons and restriction levels (ICU, through CTCPChatUnicode), the core's refusals, and the
// real server binary refusing lookalikes over the line protocol and IRC.
import Foundation
import Testing
@testable import TCPChat
@testable import TCPChatCore

@Suite struct NamesTests {
    // MARK: The three forms

    @Test(arguments: [
        // (typed, display, key, skeleton)
        ("rita", "rita", "rita", "rita"),
        ("RITA", "RITA", "rita", "rita"),
        ("ｒｉｔａ", "rita", "rita", "rita"),  // fullwidth: width mapping (NFKC)
        ("𝐫𝐢𝐭𝐚", "rita", "rita", "rita"),  // mathematical bold (U+1D42B...): NFKC
        ("r\u{0456}ta", "r\u{0456}ta", "r\u{0456}ta", "rita"),  // Cyrillic і: only the skeleton meets
        ("\u{03C1}aul", "\u{03C1}aul", "\u{03C1}aul", "paul"),  // Greek rho
        ("Straße", "Straße", "strasse", "strasse"),  // full case folding
        ("李rita", "李rita", "李rita", "李rita"),
        ("rita1", "rita1", "rita1", "rital"),  // UTS #39: the digit 1 looks like l
        ("ritaI", "ritaI", "ritai", "ritai"),  // folded first: I becomes i, not l
        ("bam", "bam", "bam", "barn"),  // UTS #39: m looks like rn
        ("#Lobby", "#Lobby", "#lobby", "#lobby"),
    ])
    func forms(typed: String, display: String, key: String, skeleton: String) {
        #expect(Names.display(typed) == display)
        #expect(Names.key(typed) == key)
        #expect(Names.skeleton(typed) == skeleton)
    }

    @Test func asciiKeysAreTheirLowercaseAndIdempotent() {
        #expect(Names.key("Guest_12-X") == "guest_12-x")
        let keyed = "already-lower"
        #expect(Names.key(keyed) == keyed)
        for name in ["ＲＩＴＡ", "Straße", "ΣΊΣΥΦΟΣ", "r\u{0456}ta"] { #expect(Names.key(Names.key(name)) == Names.key(name)) }
    }

    // MARK: The verdicts, with rita, paul and the bot "helper" here

    /// How the core answers a nick, as a short verdict to compare.
    enum Verdict: Equatable, CustomStringConvertible {
        case accepted
        case taken(String)
        case resembles(String)
        case resemblesReserved(String)
        case mixedScripts(String)
        case invalid

        var description: String {
            switch self {
            case .accepted: return "accepted"
            case .taken(let nick): return "taken by \(nick)"
            case .resembles(let nick): return "too much like \(nick)"
            case .resemblesReserved(let nick): return "too much like the reserved \(nick)"
            case .mixedScripts(let scripts): return "mixes \(scripts)"
            case .invalid: return "invalid"
            }
        }
    }

    static func verdict(_ nick: String, in core: ChatCore) -> Verdict {
        switch core.refusal(ofNick: Names.display(nick), for: nil) {
        case nil: return .accepted
        case .nickTaken(let holder)?: return .taken(holder)
        case .nickResembles(_, let like, _)?: return .resembles(like)
        case .nickInvalid(let problem)?:
            if let range = problem.range(of: "which is reserved") {
                let head = problem[..<range.lowerBound]
                let like = head.components(separatedBy: "too much like ").last!.trimmingCharacters(in: CharacterSet(charactersIn: ", "))
                return .resemblesReserved(like)
            }
            if let start = problem.range(of: " mixes "), let end = problem.range(of: " letters") ?? problem.range(of: "; use one") {
                return .mixedScripts(String(problem[start.upperBound..<end.lowerBound]))
            }
            return .invalid
        default: return .invalid
        }
    }

    @Test("an invisible letter is named by its code point, as not visible")
    func invisibleLetters() {
        // (checked as shown: NFKC makes U+3164 HANGUL FILLER U+1160 HANGUL JUNGSEONG FILLER)
        #expect(Names.nickProblem("rita\u{3164}") == "nick may contain only visible letters, digits, _ and - (found U+1160)")
        #expect(Names.roomProblem("#\u{FFA0}") == "room name may contain only visible letters, digits, _ and - (found U+1160)")
        #expect(Names.nickProblem("\u{115F}") == "nick may contain only visible letters, digits, _ and - (found U+115F)")
        #expect(Names.nickProblem("rita!") == "nick may contain only letters, digits, _ and - (found '!' U+0021)")
    }

    @Test(arguments: [
        // homoglyphs of a nick in use
        ("r\u{0456}ta", Verdict.resembles("rita")),  // Cyrillic і U+0456
        ("rit\u{0430}", .resembles("rita")),  // Cyrillic а U+0430
        ("\u{0440}ita", .mixedScripts("Cyrillic and Latin")),  // Cyrillic р looks like p, not r
        ("\u{03C1}aul", .resembles("paul")),  // Greek rho
        // width, compatibility forms and case: the same key as rita
        ("ｒｉｔａ", .taken("rita")),
        ("𝐫𝐢𝐭𝐚", .taken("rita")),
        ("RITA", .taken("rita")),
        ("Rita", .taken("rita")),
        // mixed scripts beyond "highly restrictive", with nobody alike here
        ("\u{0397}elen", .mixedScripts("Greek and Latin")),  // Greek capital Eta
        ("m\u{0430}ry", .mixedScripts("Latin and Cyrillic")),  // Cyrillic а
        ("ri\u{0442}a", .mixedScripts("Latin and Cyrillic")),  // Cyrillic т: not in the skeleton table
        ("ann\u{0661}", .mixedScripts("Latin and Arabic")),  // an Arabic-Indic digit
        // one script, or Latin with Han / Hiragana / Katakana / Hangul: fine
        ("李rita", .accepted),
        ("ritaの友", .accepted),  // Hiragana and Han with Latin
        ("\u{30EA}\u{30BF}rita", .accepted),  // Katakana with Latin
        ("\u{B9AC}\u{D0C0}rita", .accepted),  // Hangul with Latin
        ("\u{0441}\u{0430}\u{0448}\u{0430}", .accepted),  // саша: all Cyrillic
        ("\u{03C3}\u{03BF}\u{03C6}\u{03AF}\u{03B1}", .accepted),  // σοφία: all Greek
        ("李小龙", .accepted),
        // digits and letters UTS #39 calls alike
        ("rital", .accepted),  // nobody like it yet (rita1 is not here)
        ("r1ta", .accepted),  // skeleton r l t a, not rita
        ("helper", .taken("helper")),  // the bot's
        ("he1per", .resembles("helper")),  // 1 looks like l
        // reserved nicks and their lookalikes
        ("\u{0455}erver", .resemblesReserved("server")),  // Cyrillic ѕ
        ("r00t", .resemblesReserved("root")),  // 0 is O's lookalike, and O folds to o
        ("nickserv", .invalid),
        ("NickServ", .invalid),
        // invisible letters (default ignorable, though letters by category): refused, not a
        // blank nick, nor rita under another key
        ("\u{3164}", .invalid),  // HANGUL FILLER
        ("\u{115F}", .invalid),  // HANGUL CHOSEONG FILLER
        ("rita\u{3164}", .invalid),
    ])
    func verdictsWithRitaPaulAndABotHere(nick: String, expected: Verdict) throws {
        let harness = CoreHarness()
        _ = harness.session("rita")
        _ = harness.session("paul")
        try harness.core.say(asBot: "helper", text: "hello", inRoom: "#lobby")
        #expect(Self.verdict(nick, in: harness.core) == expected, "\(nick)")
    }

    /// Capital letters that look like other lower-case ones: the skeleton of the key (folded
    /// first) cannot see them; the display skeleton (case kept) does, both ways round.
    @Test(arguments: [
        (["Bill"], "BiII", Verdict.resembles("Bill")),  // capital i twice
        (["BiII"], "Bill", .resembles("BiII")),
        (["BiII"], "bill", .resembles("BiII")),
        (["HEPA"], "\u{0397}\u{0395}\u{03A1}\u{0391}", .resembles("HEPA")),  // all Greek capitals
        (["\u{0397}\u{0395}\u{03A1}\u{0391}"], "hepa", .resembles("\u{0397}\u{0395}\u{03A1}\u{0391}")),
        (["rital"], "ritaI", .resembles("rital")),
        (["RITA"], "rlta", .resembles("RITA")),  // RITA's I looks like l
        (["Bill"], "biil", .accepted),  // lower-case i does not look like l
    ])
    func capitalsThatLookLikeOtherLetters(here: [String], nick: String, expected: Verdict) {
        let harness = CoreHarness()
        for person in here { _ = harness.session(person) }
        #expect(Self.verdict(nick, in: harness.core) == expected, "\(nick)")
    }

    @Test func aGuestNickSkipsTheNumbersThatLookLikeSomeoneHere() {
        let harness = CoreHarness()
        _ = harness.session("guestI")  // a capital i: looks like guest1 (and guestl)
        let (guest, _) = harness.session(nil)
        #expect(guest.nick == "guest2")
    }

    @Test func aLookalikeIsFreeOnceTheNickItResemblesIsGoneAndIsShownWidthMapped() {
        let harness = CoreHarness()
        let (rita, _) = harness.session("rita")
        let (other, output) = harness.session("guest")
        harness.core.handle(.changeNick("ｒｉｔａ"), from: other)
        #expect(output.take() == [##"{"event":"error","error":"nickTaken(\"rita\")"}"##])
        harness.core.detach(rita, reason: "quit", announce: true)
        harness.core.handle(.changeNick("ｒｉｔａ"), from: other)
        #expect(other.nick == "rita")  // shown width-mapped, case kept
        #expect(harness.core.person(named: "RITA") === other && harness.core.person(named: "r\u{0456}ta") == nil)
        harness.core.handle(.changeNick("Rita"), from: other)  // one's own nick in another case: fine
        #expect(other.nick == "Rita")
    }

    @Test func roomsAreComparedTheSameWay() {
        let harness = CoreHarness()
        let (ann, output) = harness.session("ann")
        harness.core.handle(.join("#rita", exclusive: false), from: ann)
        _ = output.take()
        harness.core.handle(.join("#r\u{0456}ta", exclusive: false), from: ann)
        let refusal = output.take()
        #expect(refusal.count == 1 && refusal[0].contains("roomResembles") && refusal[0].contains(##"like: \"#rita\""##))
        harness.core.handle(.join("#ＲＩＴＡ", exclusive: false), from: ann)
        #expect(output.take() == [##"{"event":"error","error":"alreadyInRoom(\"#rita\")"}"##])
        harness.core.handle(.join("#m\u{0430}ry", exclusive: false), from: ann)
        #expect(output.take().first?.contains("mixes Latin and Cyrillic letters") == true)
        harness.core.handle(.join("#ｍａｒｙ", exclusive: false), from: ann)
        #expect(ann.rooms.map(\.name).contains("#mary"))  // width-mapped
    }

    @Test func theErrorsRead() {
        #expect(LineCodec.describe(.nickResembles("r\u{0456}ta", like: "rita", holder: .here))
                == "nick r\u{0456}ta is too much like rita (someone here is using it); pick another")
        #expect(LineCodec.describe(.nickResembles("he1per", like: "helper", holder: .bot))
                == "nick he1per is too much like helper (a bot speaks as it); pick another")
        #expect(LineCodec.describe(.roomResembles("#r\u{0456}ta", like: "#rita"))
                == "cannot join #r\u{0456}ta: it is too much like #rita; join #rita")
        #expect(Names.nickProblem("m\u{0430}ry")
                == "m\u{0430}ry mixes Latin and Cyrillic letters; use one script (Latin with Han/Hiragana/Katakana/Hangul is fine)")
        #expect(Names.nickProblem("\u{0455}erver") == "nick \u{0455}erver is too much like server, which is reserved; pick another")
    }

    // MARK: The real server binary

    @Test func theServerRefusesLookalikesNamingTheNickTheyResemble() throws {
        let server = try ServerProcess(["--host", "127.0.0.1", "--port", "0"])
        let port = try server.waitForPort()
        let rita = try TestClient(host: "127.0.0.1", port: port)
        _ = try rita.waitFor { $0.hasPrefix("* you joined") }
        try rita.send("/nick rita")
        _ = try rita.waitFor { $0 == "* you are now known as rita" }
        let other = try TestClient(host: "127.0.0.1", port: port)
        _ = try other.waitFor { $0.hasPrefix("* you joined") }
        try other.send("/nick r\u{0456}ta")
        #expect(try other.waitFor { $0.hasPrefix("! ") } == "! nick r\u{0456}ta is too much like rita (someone here is using it); pick another")
        for taken in ["ｒｉｔａ", "RITA", "𝐫𝐢𝐭𝐚"] {
            try other.send("/nick \(taken)")
            #expect(try other.waitFor { $0.hasPrefix("! ") } == "! nick rita is taken; choose another", "\(taken)")
        }
        try other.send("/nick m\u{0430}ry")
        #expect(try other.waitFor { $0.hasPrefix("! ") }
                == "! cannot change nick: m\u{0430}ry mixes Latin and Cyrillic letters; use one script (Latin with Han/Hiragana/Katakana/Hangul is fine)")
        try rita.send("/quit")
        _ = try other.waitFor { $0.contains("rita left") }
        try other.send("/nick ｒｉｔａ")
        #expect(try other.waitFor { $0.hasPrefix("* you are now known as") } == "* you are now known as rita")
        try other.send("hello")
        let third = try TestClient(host: "127.0.0.1", port: port)
        _ = try third.waitFor { $0.hasPrefix("* you joined") }
        try third.send("/who")
        #expect(try third.waitFor { $0.contains("rita") }.contains("rita"))
    }

    @Test func ircClientsHear433ForALookalikeAnd432WithTheReasonForMixedScripts() throws {
        let server = try RunningServer()
        let rita = try IRCTestClient(server, nick: "rita")
        let other = try IRCTestClient(server, nick: "x", register: false)
        try other.send("NICK r\u{0456}ta")
        try expectNext(other, ":tcpchat 433 * r\u{0456}ta :Nickname is too much like rita (in use)")
        try other.send("NICK m\u{0430}ry")
        try expectNext(other, ":tcpchat 432 * m\u{0430}ry :Erroneous nickname: m\u{0430}ry mixes Latin and Cyrillic letters; use one script (Latin with Han/Hiragana/Katakana/Hangul is fine)")
        try other.send("NICK ＲＩＴＡ")
        try expectNext(other, ":tcpchat 433 * ＲＩＴＡ :Nickname is already in use")
        try other.send("NICK bob")
        try other.send("USER bob 0 * :Bob")
        #expect(try other.next().hasPrefix(":tcpchat 001 bob "))
        try other.send("NICK r\u{0456}ta")
        _ = try other.waitFor { $0 == ":tcpchat 433 bob r\u{0456}ta :Nickname is too much like rita (in use)" }
        _ = rita
    }
}
