import Testing
@testable import TCPChat

/// The notices a client parses: the exact text of each (docs/PROTOCOL.md, and what the server
/// sent before Notice existed), that parsing the rendering gives the value back, and that
/// anything else parses to nil.
@Suite struct NoticeTests {
    typealias R = Notice.RoomCount

    /// One value per case and edge, with the text the server puts on the wire for it.
    static let wire: [(Notice, String)] = [
        (.welcome(nick: "guest1"), "welcome to tcpchat, guest1! /nick NAME changes your nick, /help lists the commands"),
        (.welcome(nick: "张三"), "welcome to tcpchat, 张三! /nick NAME changes your nick, /help lists the commands"),
        (.youJoined(room: "#lobby", others: 0, scope: .here), "you joined #lobby (0 others here)"),
        (.youJoined(room: "#lobby", others: 1, scope: .here), "you joined #lobby (1 other here)"),
        (.youJoined(room: "#lobby", others: 2, scope: .here), "you joined #lobby (2 others here)"),
        (.youJoined(room: "#rust", others: 0, scope: .onThisServer), "you joined #rust (0 others on this server)"),
        (.youJoined(room: "#rust", others: 1, scope: .onThisServer), "you joined #rust (1 other on this server)"),
        (.youJoined(room: "#聊天", others: 12, scope: .onThisServer), "you joined #聊天 (12 others on this server)"),
        (.joined(nick: "alice", room: "#lobby"), "alice joined #lobby"),
        (.joined(nick: "张三", room: "#聊天"), "张三 joined #聊天"),
        (.left(nick: "bob", reason: "quit"), "bob left (quit)"),
        (.left(nick: "bob", reason: "quit: see you (later)"), "bob left (quit: see you (later))"),
        (.left(nick: "guest7", reason: "disconnected: not reading (over 262144 bytes queued)"),
         "guest7 left (disconnected: not reading (over 262144 bytes queued))"),
        (.left(nick: "carol", reason: "server lost"), "carol left (server lost)"),
        (.left(nick: "carol", reason: "server shutting down"), "carol left (server shutting down)"),
        (.moved(nick: "bob", from: "#lobby", to: "#rust"), "bob left #lobby (joined #rust)"),
        (.renamed(old: "guest1", new: "alice"), "guest1 is now known as alice"),
        (.renamed(old: "alice", new: "张三"), "alice is now known as 张三"),
        (.youAreNowKnownAs(nick: "alice", because: nil), "you are now known as alice"),
        (.youAreNowKnownAs(nick: "guest12", because: "guest3 is in use on another server"),
         "guest3 is in use on another server; you are now known as guest12"),
        (.youAreNowKnownAs(nick: "guest4", because: "alice was taken on another server while the cluster link was down"),
         "alice was taken on another server while the cluster link was down; you are now known as guest4"),
        (.names(room: "#lobby", count: 3, nicks: ["alice", "bob", "张三"], more: 0), "people in #lobby (3): alice bob 张三"),
        (.names(room: "#lobby", count: 1, nicks: ["guest1"], more: 0), "people in #lobby (1): guest1"),
        (.names(room: "#empty", count: 0, nicks: [], more: 0), "people in #empty (0): "),
        (.names(room: "#big", count: 5, nicks: ["a", "b"], more: 3), "people in #big (5): a b ... and 3 more"),
        (.names(room: "#big", count: 5, nicks: [], more: 5), "people in #big (5):  ... and 5 more"),
        (.rooms([R(name: "#lobby", count: 3), R(name: "#rust", count: 1)], more: 0), "rooms (2): #lobby (3), #rust (1)"),
        (.rooms([R(name: "#lobby", count: 0)], more: 0), "rooms (1): #lobby (0)"),
        (.rooms([], more: 0), "rooms (0): "),
        (.rooms([R(name: "#a", count: 10)], more: 2), "rooms (3): #a (10), ... and 2 more"),
        (.rooms([], more: 4), "rooms (4): , ... and 4 more"),
    ]

    @Test func rendersTodaysWireText() {
        for (notice, text) in Self.wire {
            #expect(notice.text == text)
            #expect(notice.line == "* \(text)\n")
        }
    }

    @Test func roundTrips() {
        for (notice, text) in Self.wire {
            #expect(Notice.parse(notice.text) == notice, "\(text)")
            #expect(Notice.parse(text) == notice, "\(text)")
        }
    }

    /// What a client receives goes through Wire.classify first.
    @Test func parsesWhatClassifyHandsOver() {
        for (notice, _) in Self.wire {
            guard case .notice(let text) = Wire.classify(String(notice.line.dropLast())) else {
                Issue.record("not a notice: \(notice.line)")
                continue
            }
            #expect(Notice.parse(text) == notice)
        }
    }

    @Test func builders() {
        #expect(Notice.youJoined(room: "#x", others: 2, inCluster: false) == .youJoined(room: "#x", others: 2, scope: .here))
        #expect(Notice.youJoined(room: "#x", others: 1, inCluster: true).text == "you joined #x (1 other on this server)")
    }

    /// The cut the server's `listing` made: an item is shown while the text so far plus it and
    /// one separator stay within the budget; then `SEP... and N more`.
    @Test func truncatedListings() {
        let nicks = ["alice", "bob", "carol", "dave"]
        // Shown while (text so far) + item + separator <= budget: alice 0+5+1 = 6, bob 5+3+1 = 9,
        // carol 9+5+1 = 15.
        #expect(Notice.names(room: "#x", nicks: nicks, budget: 100) == .names(room: "#x", count: 4, nicks: nicks, more: 0))
        #expect(Notice.names(room: "#x", nicks: nicks, budget: 10) == .names(room: "#x", count: 4, nicks: ["alice", "bob"], more: 2))
        #expect(Notice.names(room: "#x", nicks: nicks, budget: 10).text == "people in #x (4): alice bob ... and 2 more")
        #expect(Notice.names(room: "#x", nicks: nicks, budget: 9).text == "people in #x (4): alice bob ... and 2 more")
        #expect(Notice.names(room: "#x", nicks: nicks, budget: 8).text == "people in #x (4): alice ... and 3 more")
        #expect(Notice.names(room: "#x", nicks: nicks, budget: 5).text == "people in #x (4):  ... and 4 more")
        #expect(Notice.names(room: "#x", nicks: [], budget: 5).text == "people in #x (0): ")
        // Bytes, not characters: 张三 is 6 bytes.
        #expect(Notice.names(room: "#x", nicks: ["张三", "li"], budget: 6).text == "people in #x (2):  ... and 2 more")
        #expect(Notice.names(room: "#x", nicks: ["张三", "li"], budget: 7).text == "people in #x (2): 张三 ... and 1 more")

        let rooms = [R(name: "#a", count: 3), R(name: "#b", count: 1), R(name: "#c", count: 2)]
        // #a (3): 0+6+2 = 8, #b (1): 6+6+2 = 14, #c (2): 14+6+2 = 22.
        #expect(Notice.rooms(rooms, budget: 16).text == "rooms (3): #a (3), #b (1), ... and 1 more")
        #expect(Notice.rooms(rooms, budget: 14).text == "rooms (3): #a (3), #b (1), ... and 1 more")
        #expect(Notice.rooms(rooms, budget: 13).text == "rooms (3): #a (3), ... and 2 more")
        #expect(Notice.rooms(rooms, budget: 1000).text == "rooms (3): #a (3), #b (1), #c (2)")
        #expect(Notice.rooms(rooms, budget: 7) == .rooms([], more: 3))
        for budget in 0..<40 {
            let notice = Notice.rooms(rooms, budget: budget)
            #expect(Notice.parse(notice.text) == notice)
            #expect(notice.text == "rooms (3): " + Self.listing(rooms.map { "\($0.name) (\($0.count))" }, separator: ", ", budget: budget))
            let names = Notice.names(room: "#x", nicks: nicks, budget: budget)
            #expect(Notice.parse(names.text) == names)
            #expect(names.text == "people in #x (4): " + Self.listing(nicks, separator: " ", budget: budget))
        }
    }

    /// ChatServer.listing as it was before Notice, kept here as the reference.
    static func listing(_ items: [String], separator: String, budget: Int) -> String {
        var text = ""
        for (index, item) in items.enumerated() {
            if text.utf8.count + item.utf8.count + separator.utf8.count > budget {
                return text + separator + "... and \(items.count - index) more"
            }
            text += index == 0 ? item : separator + item
        }
        return text
    }

    /// What a running server sends is what Notice renders and parses (until the server renders
    /// with Notice itself, this ties the two texts together).
    @Test func aServerSaysExactlyThis() throws {
        let server = try RunningServer()
        let alice = try server.connect()
        func expect(_ notice: Notice, _ line: String) {
            #expect(notice.line == line + "\n")
            guard case .notice(let text) = Wire.classify(line) else {
                Issue.record("not a notice: \(line)")
                return
            }
            #expect(Notice.parse(text) == notice)
        }
        expect(.welcome(nick: "guest1"), try alice.next())
        expect(.youJoined(room: "#lobby", others: 0, scope: .here), try alice.next())
        try alice.send("/nick alice")
        expect(.youAreNowKnownAs(nick: "alice", because: nil), try alice.next())
        let bob = try server.connect()
        expect(.welcome(nick: "guest2"), try bob.next())
        expect(.youJoined(room: "#lobby", others: 1, scope: .here), try bob.next())
        expect(.joined(nick: "guest2", room: "#lobby"), try alice.next())
        try bob.send("/nick 张三")
        expect(.youAreNowKnownAs(nick: "张三", because: nil), try bob.next())
        expect(.renamed(old: "guest2", new: "张三"), try alice.next())
        let carol = try server.join(as: "carol")
        try bob.send("/who")
        _ = try bob.waitFor { $0.hasSuffix(" is now known as carol") }
        expect(.names(room: "#lobby", count: 3, nicks: ["alice", "carol", "张三"], more: 0), try bob.next())
        try bob.send("/join #rust")
        expect(.youJoined(room: "#rust", others: 0, scope: .here), try bob.next())
        _ = try alice.waitFor { $0.hasSuffix(" is now known as carol") }
        expect(.moved(nick: "张三", from: "#lobby", to: "#rust"), try alice.next())
        try alice.send("/rooms")
        expect(.rooms([R(name: "#lobby", count: 2), R(name: "#rust", count: 1)], more: 0), try alice.next())
        try carol.send("/quit see you (soon)")
        expect(.left(nick: "carol", reason: "quit: see you (soon)"), try alice.next())
    }

    /// Parsing is exact: whatever text parses renders back to that very text. Checked over
    /// texts glued from the notices' own pieces (a fixed seed, so a failure repeats).
    @Test func whatParsesRendersBackTheSame() {
        let pieces = [
            "you", " joined ", "#lobby", " (", "1", "0", "12", " other", "s", " here", " on this server", ")",
            " left ", " left (", "quit", "bob", "张三", " is now known as ", "you are now known as ", "; ",
            "people in ", "rooms (", "): ", " ", ", ", "... and ", " more", "welcome to tcpchat, ",
            "! /nick NAME changes your nick, /help lists the commands", "(joined ", "\u{301}", "-", "",
        ]
        var rng = SplitMix(seed: 42)
        func random(_ count: Int) -> Int { Int(rng.next() % UInt64(count)) }
        var parsed = 0
        for round in 0..<20_000 {
            var text: [Unicode.Scalar] = []
            if round % 2 == 0 {
                for _ in 0..<random(8) + 1 { text += pieces[random(pieces.count)].unicodeScalars }
            } else {
                // A real notice with a piece inserted, or some scalars dropped.
                text = Array(Self.wire[random(Self.wire.count)].1.unicodeScalars)
                let at = random(text.count + 1)
                if random(2) == 0 {
                    text.insert(contentsOf: pieces[random(pieces.count)].unicodeScalars, at: at)
                } else {
                    text.removeSubrange(at..<min(text.count, at + random(4) + 1))
                }
            }
            var string = ""
            string.unicodeScalars.append(contentsOf: text)
            guard let notice = Notice.parse(string) else { continue }
            parsed += 1
            #expect(notice.text == string)
        }
        #expect(parsed > 1000, "only \(parsed) parsed")  // the pieces do make notices
    }

    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func foreignAndMalformedTextIsNil() {
        let foreign = [
            "", "hello", "commands:", "  /nick NAME - change your nick", "goodbye, alice",
            "server shutting down, goodbye", "cluster link restored",
            "cluster link down: chat reaches this server only until it is back",
            "history: <alice> hi", "history: * bob joined #x", "you are already alice",
            // Actions that do not take a notice's form.
            "bob waves", "bob joined the fun", "bob left", "bob left early", "bob is now known as the boss",
            // Welcome.
            "welcome to tcpchat, ! /nick NAME changes your nick, /help lists the commands",
            "welcome to tcpchat, a b! /nick NAME changes your nick, /help lists the commands",
            "welcome to tcpchat, alice! /nick NAME changes your nick, /help lists the commands ",
            "welcome to tcpchat, alice!",
            // You joined: counts, plural, scope, room.
            "you joined #lobby (1 others here)", "you joined #lobby (2 other here)",
            "you joined #lobby (-1 others here)", "you joined #lobby (+1 other here)",
            "you joined #lobby (01 other here)", "you joined #lobby (x others here)",
            "you joined #lobby (99999999999999999999 others here)",
            "you joined #lobby (2 others there)", "you joined #lobby (2 others here", "you joined #lobby (2 others here) ",
            "you joined lobby (2 others here)", "you joined # (2 others here)", "you joined #a b (2 others here)",
            // Joined.
            "bob joined lobby", "bob joined #", "bob joined #lobby now", "bob  joined #lobby", "server joined #lobby",
            "a\u{202E}b joined #lobby",
            String(repeating: "a", count: 33) + " joined #lobby",
            // Left and moved.
            "bob left quit)", "bob left (quit", "bob left #lobby", "bob left #lobby (joined rust)",
            "bob left #lobby (joined #rust) ", "bob left lobby (joined #rust)", "bob smith left (quit)",
            // Renamed and you are now known as.
            "alice is now known as", "alice is now known as b c", "is now known as bob",
            "you are now known as ", "you are now known as a b", "; you are now known as guest1",
            "x; you are now known as guest 1", "you are now known as root",
            // Names.
            "people in lobby (1): a", "people in #lobby (1) a", "people in #lobby (1):", "people in #lobby (a): a",
            "people in #lobby (2): a  b", "people in #lobby (2): a b ", "people in #lobby (2): a b!",
            "people in #lobby (5): a ... and 0 more", "people in #lobby (5): a ... and x more", "people in #lobby (5): a ... and 3",
            // Rooms.
            "rooms (1): #a", "rooms (1): #a (x)", "rooms (1): a (1)", "rooms (2): #a (1)", "rooms (1): #a (1),",
            "rooms (2): #a (1),, #b (2)", "rooms (2): #a (1) #b (2)", "rooms 1: #a (1)", "rooms (1): #a (1) ",
            "rooms (3): #a (1), ... and 1 more", "rooms (1): , ... and 0 more",
        ]
        for text in foreign {
            #expect(Notice.parse(text) == nil, "\(text)")
        }
    }

    @Test func nicksAndRoomsFollowNames() {
        #expect(Notice.parse("Ünïcödé_nick-2 joined #Raum_1") == .joined(nick: "Ünïcödé_nick-2", room: "#Raum_1"))
        let longest = String(repeating: "名", count: 32)
        #expect(Notice.parse("\(longest) joined #\(longest)") == .joined(nick: longest, room: "#\(longest)"))
        #expect(Notice.parse("\(longest)x joined #a") == nil)
        #expect(Notice.parse("a joined #\(longest)x") == nil)
        // A combining mark right after the literal does not hide it (nor pass for a nick).
        #expect(Notice.parse("you joined \u{301}#a (1 other here)") == nil)
        #expect(Notice.parse("\u{301} joined #a") == nil)
    }

    /// A `/me` action is `* NICK ACTION`: it can take a notice's form, but only one whose first
    /// word is the actor's nick. The parser cannot tell them apart (PROTOCOL.md says so).
    @Test func actionsTakingANoticeForm() {
        #expect(Notice.parse(String(Wire.action("bob", "joined #x").dropFirst(2).dropLast())) == .joined(nick: "bob", room: "#x"))
        #expect(Notice.parse("bob is in use on another server; you are now known as guest9")
            == .youAreNowKnownAs(nick: "guest9", because: "bob is in use on another server"))
        // The last `; you are now known as` ends the reason.
        #expect(Notice.parse("you are now known as a; you are now known as b")
            == .youAreNowKnownAs(nick: "b", because: "you are now known as a"))
    }
}
