// The chat core driven through fake sessions: no sockets, no wire text. Each session speaks
// either a JSON codec defined here (a second protocol, added without touching the core) or the
// real LineCodec, and records what it was sent.
import Testing
@testable import TCPChat
import TCPChatCore

/// A session's far end: keeps every buffer the core queued for it.
final class RecordingOutput: SessionOutput {
    var lines: [String] = []
    var finishedBecause: String?
    var resumed = 0

    func enqueue(_ buffer: SharedBuffer) {
        lines += buffer.string.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
    func finish(reason: String) { finishedBecause = reason }
    func resumeInput() { resumed += 1 }

    func take() -> [String] {
        defer { lines.removeAll() }
        return lines
    }
}

/// A protocol of its own: each event as one JSON object per line. It needs nothing from the core
/// beyond EventEncoder; `encodeCalls` shows that a fan-out renders once, not once per member.
final class JSONCodec: EventEncoder {
    var encodeCalls = 0

    func encode(_ event: ChatEvent, for session: ChatSession?) -> SharedBuffer? {
        encodeCalls += 1
        return render(event).map { SharedBuffer($0 + "\n") }
    }

    private func render(_ event: ChatEvent) -> String? {
        func object(_ fields: [(String, String)]) -> String {
            "{" + fields.map { "\"\($0.0)\":\"\(escape($0.1))\"" }.joined(separator: ",") + "}"
        }
        func escape(_ text: String) -> String {
            text.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"")
        }
        switch event {
        case .said(let room, let nick, let text): return object([("event", "said"), ("room", room), ("nick", nick), ("text", text)])
        case .acted(let room, let nick, let text): return object([("event", "acted"), ("room", room), ("nick", nick), ("text", text)])
        case .joined(let room, let nick): return object([("event", "joined"), ("room", room), ("nick", nick)])
        case .left(let room, let nick, let reason):
            let why: String
            switch reason {
            case .disconnected(let text): why = "disconnected: " + text
            case .moved(let to): why = "moved to " + to
            case .parted(let text): why = "parted" + (text.map { ": " + $0 } ?? "")
            }
            return object([("event", "left"), ("room", room), ("nick", nick), ("reason", why)])
        case .renamed(_, let old, let new): return object([("event", "renamed"), ("old", old), ("new", new)])
        case .topic(let room, _, let text): return object([("event", "topic"), ("room", room), ("text", text)])
        case .privateMessage(let from, let to, let text): return object([("event", "private"), ("from", from), ("to", to), ("text", text)])
        case .welcome(let nick): return object([("event", "welcome"), ("nick", nick)])
        case .youJoined(let room, let others, _): return object([("event", "you-joined"), ("room", room), ("others", String(others))])
        case .youRenamed(let nick, _): return object([("event", "you-renamed"), ("nick", nick)])
        case .names(let room, let nicks): return object([("event", "names"), ("room", room), ("nicks", nicks.sorted().joined(separator: " "))])
        case .roomList(let rooms): return object([("event", "rooms"), ("rooms", rooms.map { "\($0.name)=\($0.count)" }.sorted().joined(separator: " "))])
        case .history(let room, let events): return object([("event", "history"), ("room", room), ("lines", String(events.count))])
        case .goodbye(let nick): return object([("event", "goodbye"), ("nick", nick)])
        case .error(let error): return object([("event", "error"), ("error", "\(error)")])
        default: return nil
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, _ replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}

/// A core with the two codecs, and sessions to drive it.
final class CoreHarness {
    let core: ChatCore
    let json = JSONCodec()
    let line = LineCodec(fallbackEncoding: .none, maxQueueBytes: 256 * 1024)
    let jsonSlot: Int
    let lineSlot: Int
    var outputs: [RecordingOutput] = []  // the core does not retain them
    var said: [ChatMessage] = []

    init(historyLength: Int = 20, announceLimit: Int = 1000) {
        var settings = CoreSettings()
        settings.historyLength = historyLength
        settings.announceLimit = announceLimit
        var heard: [ChatMessage] = []
        settings.onMessage = { heard.append($0) }
        core = ChatCore(settings: settings)
        jsonSlot = core.register(encoder: json)
        lineSlot = core.register(encoder: line)
    }

    /// Tidy, as the transport is when connections close: every session left is detached.
    deinit {
        for session in Array(core.nicks.values) { core.detach(session, reason: "test over", announce: false) }
    }

    /// A registered session speaking JSON (or the line protocol), in `rooms`.
    func session(_ nick: String?, rooms: [String] = ["#lobby"], lineProtocol: Bool = false) -> (ChatSession, RecordingOutput) {
        let output = RecordingOutput()
        outputs.append(output)
        let session = ForwardingSession(encoder: lineProtocol ? line : json, slot: lineProtocol ? lineSlot : jsonSlot,
                                  output: output)
        core.handle(.register(nick: nick, rooms: rooms), from: session)
        _ = output.take()
        return (session, output)
    }
}

@Suite struct ChatCoreTests {
    @Test func registerGivesAGuestNickAWelcomeAndTheRooms() {
        let harness = CoreHarness()
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: harness.json, slot: harness.jsonSlot, output: output)
        harness.core.handle(.register(nick: nil, rooms: ["#lobby"]), from: session)
        #expect(output.take() == [
            ##"{"event":"welcome","nick":"guest1"}"##,
            ##"{"event":"you-joined","room":"#lobby","others":"0"}"##,
        ])
        #expect(harness.core.person(named: "guest1") === session)
        #expect(session.rooms.map(\.name) == ["#lobby"])
    }

    @Test func intentsBeforeRegisteringAreIgnored() {
        let harness = CoreHarness()
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: harness.json, slot: harness.jsonSlot, output: output)
        harness.core.handle(.say(room: nil, text: "hello"), from: session)
        harness.core.handle(.join("#x", exclusive: false), from: session)
        #expect(output.lines.isEmpty)
        #expect(harness.core.rooms["#x"] == nil)
    }

    @Test func chatReachesTheOthersOnceAndIsRecorded() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann")
        let (_, bobOut) = harness.session("bob")
        _ = annOut.take()
        harness.core.handle(.say(room: nil, text: "hi \"all\""), from: ann)
        #expect(annOut.lines.isEmpty)  // no echo
        #expect(bobOut.take() == [##"{"event":"said","room":"#lobby","nick":"ann","text":"hi \"all\""}"##])
        #expect(harness.core.rooms["#lobby"]!.recentHistory == [.said(room: "#lobby", nick: "ann", text: "hi \"all\"")])
    }

    @Test func joinLeaveAndMultiRoomMembership() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann", rooms: ["#a", "#b"])
        let (_, bobOut) = harness.session("bob", rooms: ["#a"])
        #expect(annOut.take() == [##"{"event":"joined","room":"#a","nick":"bob"}"##])
        #expect(ann.rooms.map(\.name) == ["#a", "#b"])
        // Speaking in #b does not reach #a.
        harness.core.handle(.say(room: "#b", text: "only b"), from: ann)
        #expect(bobOut.take().isEmpty)
        harness.core.handle(.say(room: "#a", text: "in a"), from: ann)
        #expect(bobOut.take() == [##"{"event":"said","room":"#a","nick":"ann","text":"in a"}"##])
        // Parting one room keeps the other; the empty room is gone.
        harness.core.handle(.part("#b", reason: "bye"), from: ann)
        #expect(ann.rooms.map(\.name) == ["#a"])
        #expect(harness.core.rooms["#b"] == nil)
        harness.core.handle(.part("#b", reason: nil), from: ann)
        #expect(annOut.take() == [##"{"event":"error","error":"notInRoom(\"#b\")"}"##])
        // A room not joined cannot be spoken in.
        harness.core.handle(.say(room: "#zzz", text: "x"), from: ann)
        #expect(annOut.take() == [##"{"event":"error","error":"notInRoom(\"#zzz\")"}"##])
    }

    /// A session's first room is kept inline and the others in a list (ChatSession, issue 19):
    /// whatever order people part in, each knows its rooms in the order joined and its right
    /// place in each room's member list (which a leaver's slot is given to the last member).
    @Test func membershipsStayTrueAsPeopleComeAndGo() {
        let harness = CoreHarness()
        let (dan, _) = harness.session("dan", rooms: ["#b"])  // so that ann's places in #a and #b differ
        let (ann, _) = harness.session("ann", rooms: ["#a", "#b", "#c"])
        let (bob, _) = harness.session("bob", rooms: ["#b", "#a"])
        let (cat, _) = harness.session("cat", rooms: ["#a", "#c", "#b"])
        func consistent(_ sessions: [ChatSession]) -> Bool {
            sessions.allSatisfy { session in
                session.memberships.allSatisfy { $0.room.members[$0.index] === session }
                    && session.memberships.map(\.room.name) == session.rooms.map(\.name)
                    && session.rooms.allSatisfy { session.isMember(of: $0) }
            }
        }
        #expect(consistent([ann, bob, cat, dan]))
        harness.core.handle(.part("#a", reason: nil), from: ann)  // ann's first room: #b is first now
        #expect(ann.rooms.map(\.name) == ["#b", "#c"] && ann.room?.name == "#b")
        #expect(consistent([ann, bob, cat, dan]))
        harness.core.handle(.part("#b", reason: nil), from: bob)  // bob's first room, his last place in #b
        harness.core.handle(.part("#c", reason: nil), from: cat)  // one of cat's other rooms
        #expect(bob.rooms.map(\.name) == ["#a"] && cat.rooms.map(\.name) == ["#a", "#b"])
        #expect(consistent([ann, bob, cat, dan]))
        harness.core.handle(.part("#b", reason: nil), from: ann)
        harness.core.handle(.part("#a", reason: nil), from: bob)
        #expect(ann.rooms.map(\.name) == ["#c"] && bob.rooms.isEmpty && bob.room == nil)
        #expect(!bob.isMember(of: harness.core.rooms["#a"]!) && cat.isMember(of: harness.core.rooms["#a"]!))
        #expect(consistent([ann, bob, cat, dan]))
        harness.core.handle(.join("#d", exclusive: false), from: bob)  // a first room again
        #expect(bob.room?.name == "#d" && consistent([ann, bob, cat, dan]))
    }

    @Test func exclusiveJoinLeavesTheOtherRooms() {
        let harness = CoreHarness()
        let (ann, _) = harness.session("ann")
        let (_, bobOut) = harness.session("bob")
        harness.core.handle(.join("#games", exclusive: true), from: ann)
        #expect(bobOut.take() == [##"{"event":"left","room":"#lobby","nick":"ann","reason":"moved to #games"}"##])
        #expect(ann.rooms.map(\.name) == ["#games"])
        #expect(harness.core.rooms["#lobby"] != nil)  // permanent
    }

    @Test func joinErrors() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann")
        harness.core.handle(.join("#lobby", exclusive: true), from: ann)
        harness.core.handle(.join("nohash", exclusive: true), from: ann)
        let lines = annOut.take()
        #expect(lines.count == 2)
        #expect(lines[0] == ##"{"event":"error","error":"alreadyInRoom(\"#lobby\")"}"##)
        #expect(lines[1].contains("roomInvalid"))
    }

    @Test func renameTellsTheRoomAndFreesTheOldNick() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann")
        let (bob, bobOut) = harness.session("bob")
        _ = annOut.take()  // bob joined
        harness.core.handle(.changeNick("Anna"), from: ann)
        #expect(annOut.take() == [##"{"event":"you-renamed","nick":"Anna"}"##])
        #expect(bobOut.take() == [##"{"event":"renamed","old":"ann","new":"Anna"}"##])
        #expect(harness.core.person(named: "ann") == nil && harness.core.person(named: "anna") === ann)
        // The old nick is free again; the new one is taken, whatever its case.
        harness.core.handle(.changeNick("ANNA"), from: bob)
        #expect(bobOut.take() == [##"{"event":"error","error":"nickTaken(\"Anna\")"}"##])
        harness.core.handle(.changeNick("ann"), from: bob)
        #expect(bob.nick == "ann")
    }

    /// A rename or a quit announced in several rooms reaches a member of several of them once
    /// (the core keeps who heard it for the announcement, not a serial in every session), and
    /// each announcement again.
    @Test func announcementsInSeveralRoomsAreHeardOnce() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann", rooms: ["#a", "#b", "#c"])
        let (_, bobOut) = harness.session("bob", rooms: ["#a", "#b"])
        let (_, caraOut) = harness.session("cara", rooms: ["#c"])
        _ = annOut.take()
        _ = bobOut.take()
        for (index, name) in ["anna", "annie", "ann"].enumerated() {
            let old = ["ann", "anna", "annie"][index]
            harness.core.handle(.changeNick(name), from: ann)
            #expect(bobOut.take() == [##"{"event":"renamed","old":"\##(old)","new":"\##(name)"}"##])
            #expect(caraOut.take() == [##"{"event":"renamed","old":"\##(old)","new":"\##(name)"}"##])
        }
        harness.core.handle(.quit(reason: nil), from: ann)
        #expect(bobOut.take().filter { $0.contains(##""event":"left""##) }.count == 1)
        #expect(caraOut.take().filter { $0.contains(##""event":"left""##) }.count == 1)
    }

    @Test func nickErrors() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann")
        harness.core.handle(.changeNick("server"), from: ann)
        harness.core.handle(.changeNick("has space"), from: ann)
        harness.core.handle(.changeNick("ann"), from: ann)
        let lines = annOut.take()
        #expect(lines.count == 2)  // "already named" has no JSON form here
        #expect(lines.allSatisfy { $0.contains("nickInvalid") })
        #expect(ann.nick == "ann")
    }

    @Test func registeringWithATakenNickFallsBackToAGuest() {
        let harness = CoreHarness()
        _ = harness.session("ann")
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: harness.json, slot: harness.jsonSlot, output: output)
        harness.core.handle(.register(nick: "ANN", rooms: []), from: session)
        #expect(output.take() == [
            ##"{"event":"error","error":"nickTaken(\"ann\")"}"##,
            ##"{"event":"welcome","nick":"guest1"}"##,
        ])
    }

    @Test func historyIsReplayedToNewcomersAndBounded() {
        let harness = CoreHarness(historyLength: 2)
        let (ann, _) = harness.session("ann")
        for text in ["one", "two", "three"] { harness.core.handle(.say(room: nil, text: text), from: ann) }
        harness.core.handle(.act(room: nil, text: "waves"), from: ann)
        #expect(harness.core.rooms["#lobby"]!.recentHistory == [
            .said(room: "#lobby", nick: "ann", text: "three"), .acted(room: "#lobby", nick: "ann", text: "waves"),
        ])
        // The line protocol renders the replay: the same bytes as before the core existed.
        let (_, carlOut) = harness.session("carl", lineProtocol: true)
        _ = carlOut
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: harness.line, slot: harness.lineSlot, output: output)
        harness.core.handle(.register(nick: "dora", rooms: ["#lobby"]), from: session)
        #expect(output.take() == [
            "* welcome to tcpchat, dora! /nick NAME changes your nick, /help lists the commands",
            "* you joined #lobby (2 others here)",
            "* history: <ann> three",
            "* history: * ann waves",
        ])
    }

    @Test func privateMessagesReachOneNickAndEchoToTheSender() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann", rooms: ["#a"])
        let (_, bobOut) = harness.session("bob", rooms: ["#b"])
        let (_, carlOut) = harness.session("carl", rooms: ["#a"])
        _ = annOut.take()
        harness.core.handle(.privateMessage(to: "BOB", text: "psst"), from: ann)
        let line = ##"{"event":"private","from":"ann","to":"bob","text":"psst"}"##
        #expect(bobOut.take() == [line])
        #expect(annOut.take() == [line])
        #expect(carlOut.take().isEmpty)
        harness.core.handle(.privateMessage(to: "nobody", text: "x"), from: ann)
        #expect(annOut.take() == [##"{"event":"error","error":"noSuchNick(\"nobody\", linkDown: false)"}"##])
    }

    @Test func aMixedRoomRendersOncePerCodec() {
        let harness = CoreHarness()
        let (ann, _) = harness.session("ann")
        var lineOutputs: [RecordingOutput] = []
        for index in 0..<5 { lineOutputs.append(harness.session("line\(index)", lineProtocol: true).1) }
        var jsonOutputs: [RecordingOutput] = []
        for index in 0..<5 { jsonOutputs.append(harness.session("json\(index)").1) }
        for output in lineOutputs + jsonOutputs { _ = output.take() }
        let before = harness.json.encodeCalls
        harness.core.handle(.say(room: nil, text: "to all"), from: ann)
        #expect(harness.json.encodeCalls == before + 1)
        for output in lineOutputs { #expect(output.take() == ["<ann> to all"]) }
        for output in jsonOutputs { #expect(output.take() == [##"{"event":"said","room":"#lobby","nick":"ann","text":"to all"}"##]) }
    }

    @Test func quitSaysGoodbyeTellsTheRoomAndFinishesTheTransport() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann")
        let (_, bobOut) = harness.session("bob")
        _ = annOut.take()  // bob joined
        harness.core.handle(.quit(reason: "tea"), from: ann)
        #expect(annOut.take().first == ##"{"event":"goodbye","nick":"ann"}"##)
        #expect(annOut.finishedBecause == "quit: tea")
        #expect(bobOut.take() == [##"{"event":"left","room":"#lobby","nick":"ann","reason":"disconnected: quit: tea"}"##])
        #expect(harness.core.person(named: "ann") == nil)
        // Detached: nothing it asks is done any more.
        harness.core.handle(.say(room: "#lobby", text: "ghost"), from: ann)
        #expect(bobOut.take().isEmpty)
    }

    @Test func bigRoomsDoNotAnnouncePresence() {
        let harness = CoreHarness(announceLimit: 2)
        let (_, annOut) = harness.session("ann")
        let (_, _) = harness.session("bob")
        #expect(annOut.take() == [##"{"event":"joined","room":"#lobby","nick":"bob"}"##])
        let (carl, _) = harness.session("carl")  // the room had 2: announced
        #expect(annOut.take().count == 1)
        harness.core.handle(.changeNick("karl"), from: carl)  // 3 > 2: quiet
        #expect(annOut.take().isEmpty)
        harness.core.handle(.say(room: nil, text: "chat is always relayed"), from: carl)
        #expect(annOut.take().count == 1)
    }

    @Test func whoAndRoomListAnswerTheAsker() {
        let harness = CoreHarness()
        let (ann, annOut) = harness.session("ann", rooms: ["#lobby", "#x"])
        _ = harness.session("bob")
        _ = annOut.take()
        harness.core.handle(.who(room: nil), from: ann)
        harness.core.handle(.listRooms, from: ann)
        #expect(annOut.take() == [
            ##"{"event":"names","room":"#lobby","nicks":"ann bob"}"##,
            ##"{"event":"rooms","rooms":"#lobby=2 #x=1"}"##,
        ])
    }

    @Test func topicsReachTheRoomAndNewcomers() {
        let harness = CoreHarness()
        let (ann, _) = harness.session("ann")
        let (_, bobOut) = harness.session("bob")
        harness.core.handle(.setTopic(room: "#lobby", text: "welcome all"), from: ann)
        #expect(bobOut.take() == [##"{"event":"topic","room":"#lobby","text":"welcome all"}"##])
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: harness.json, slot: harness.jsonSlot, output: output)
        harness.core.handle(.register(nick: "carl", rooms: ["#lobby"]), from: session)
        #expect(output.take().contains(##"{"event":"topic","room":"#lobby","text":"welcome all"}"##))
    }

    @Test func detachOnAFailedConnectionTellsTheRooms() {
        let harness = CoreHarness()
        let (ann, _) = harness.session("ann", rooms: ["#a", "#b"])
        let (_, bobOut) = harness.session("bob", rooms: ["#a"])
        harness.core.detach(ann, reason: "connection reset by peer", announce: true)
        #expect(bobOut.take() == [##"{"event":"left","room":"#a","nick":"ann","reason":"disconnected: connection reset by peer"}"##])
        #expect(harness.core.rooms["#b"] == nil)
        #expect(harness.core.person(named: "ann") == nil)
    }

    @Test func onMessageHearsRoomChatOnly() {
        var heard: [ChatMessage] = []
        var settings = CoreSettings()
        settings.onMessage = { heard.append($0) }
        let core = ChatCore(settings: settings)
        let json = JSONCodec()
        let slot = core.register(encoder: json)
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: json, slot: slot, output: output)
        core.handle(.register(nick: "ann", rooms: ["#lobby"]), from: session)
        core.handle(.say(room: nil, text: "hello"), from: session)
        core.handle(.act(room: nil, text: "waves"), from: session)
        core.handle(.privateMessage(to: "ann", text: "self"), from: session)
        #expect(heard == [ChatMessage(room: "#lobby", nick: "ann", text: "hello")])
        core.detach(session, reason: "test over", announce: false)  // the session and #lobby hold each other
    }
}

@Suite struct EventRecordTests {
    static let events: [ChatEvent] = [
        .said(room: "#a", nick: "ann", text: "tabs\tand spaces\t"),
        .acted(room: "#a", nick: "张三", text: "waves"),
        .joined(room: "#a", nick: "bob"),
        .left(room: "#a", nick: "bob", reason: .disconnected("quit: see\tyou")),
        .left(room: "#a", nick: "bob", reason: .moved(to: "#b")),
        .left(room: "#a", nick: "bob", reason: .parted(nil)),
        .left(room: "#a", nick: "bob", reason: .parted("")),
        .renamed(room: "#a", old: "bob", new: "rob"),
        .renamed(room: nil, old: "bob", new: "rob"),
        .topic(room: "#a", nick: nil, text: "t"),
        .privateMessage(from: "ann", to: "bob", text: ""),
        .privateNotice(from: "ann", to: "bob", text: "psst\tx"),
        .notice("cluster link restored"),
    ]

    @Test func everyRoomEventRoundTrips() {
        for event in EventRecordTests.events {
            let record = event.record
            #expect(record != nil)
            #expect(record.flatMap { ChatEvent(record: $0) } == event, "\(record ?? "nil")")
            #expect(record?.hasPrefix("1\t") == true)
        }
    }

    @Test func sessionEventsHaveNoRecord() {
        #expect(ChatEvent.welcome(nick: "x").record == nil)
        #expect(ChatEvent.error(.nickTaken("x")).record == nil)
    }

    @Test func foreignOrDamagedRecordsAreRefused() {
        for text in ["", "1", "1\tS", "1\tS\t#a\tann", "2\tS\t#a\tann\thi", "1\tZ\tx", "1\tL\t#a\tbob\tq\tx",
                     "1\tS\t#a\tann\thi\nforged", "<ann> hi\n"] {
            #expect(ChatEvent(record: text) == nil, "\(text)")
        }
    }
}
