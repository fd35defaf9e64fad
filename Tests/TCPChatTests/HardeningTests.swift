// Hostile and unlucky clients: floods, address caps, deadlines, resets. Each test shows that
// the one client gets an error or is dropped with a reason, and everyone else carries on.
import Foundation
import Testing
@testable import TCPChat

@Suite struct HardeningTests {
    @Test func floodIsSlowedByReadingLessAndNothingIsDropped() throws {
        let server = try RunningServer {
            $0.linesPerSecond = 200
            $0.burstLines = 5
        }
        let flooder = try server.join(as: "flooder")
        let reader = try server.join(as: "reader")
        let count = 300
        try flooder.sendRaw(Array((0..<count).map { "flood \($0)\n" }.joined().utf8))
        for n in 0..<count { #expect(try reader.waitFor { $0.hasPrefix("<flooder>") } == "<flooder> flood \(n)") }
        #expect(server.server.statistics.throttled > 0)
        // The flooder is still connected and served.
        try flooder.send("/who")
        #expect(try flooder.waitFor { $0.hasPrefix("* people") } == "* people in #lobby (2): flooder reader")
    }

    @Test func oneFlooderDoesNotDelayOthers() throws {
        let server = try RunningServer {
            $0.linesPerSecond = 5
            $0.burstLines = 2
        }
        let flooder = try server.join(as: "flooder")
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try flooder.sendRaw(Array((0..<50).map { "spam \($0)\n" }.joined().utf8))
        try alice.send("hello bob")
        // At 5 lines/s the flooder's backlog takes ~10 s; alice's line must not queue behind it.
        var spamFirst = 0
        while try bob.next() != "<alice> hello bob" { spamFirst += 1 }
        #expect(spamFirst < 50, "alice's line came after all the flooder's lines")
    }

    @Test func perAddressCapRefusesWithAnErrorLine() throws {
        let server = try RunningServer { $0.maxConnectionsPerAddress = 2 }
        let first = try server.join()
        let second = try server.join()
        let third = try server.connect()
        let (lines, end) = try third.readUntilClosed()
        #expect(lines == ["! too many connections from your address (2); close some and try again"])
        #expect(end == .closed)
        second.close()
        _ = try first.waitFor { $0.contains("left") }
        let fourth = try server.join()  // a slot is free again
        try fourth.send("back")
        #expect(try first.waitFor { $0.hasPrefix("<") }.hasSuffix("> back"))
    }

    @Test func silentClientMissesTheFirstLineDeadline() throws {
        let server = try RunningServer { $0.firstLineTimeoutSeconds = 1 }
        let talker = try server.join(as: "talker")  // /nick is its first line
        let silent = try server.connect()
        let (lines, end) = try silent.readUntilClosed()
        #expect(lines.last == "! disconnected: no line within 1 s of connecting")
        #expect(end == .closed)
        try talker.send("/rooms")
        #expect(try talker.waitFor { $0.hasPrefix("* rooms") } == "* rooms (1): #lobby (1)")
    }

    @Test func idleClientIsDisconnectedWithAReason() throws {
        let server = try RunningServer { $0.idleTimeoutSeconds = 1 }
        let watcher = try server.join(as: "watcher")
        let idler = try server.join(as: "idler")
        let (lines, _) = try idler.readUntilClosed()
        #expect(lines.last == "! disconnected: idle for 1 s")
        _ = watcher  // it may be dropped too; what matters is the idler's reason
    }

    @Test func resetsDuringJoinAndBroadcastLeaveNoStuckClient() throws {
        let server = try RunningServer()
        let sender = try server.join(as: "sender")
        let reader = try server.join(as: "reader")
        for round in 0..<20 {
            // Vanish right after connecting (before or during the welcome), with an RST.
            let vanisher = try server.connect()
            var hard = linger(l_onoff: 1, l_linger: 0)
            setsockopt(vanisher.connection.fd, SOL_SOCKET, SO_LINGER, &hard, socklen_t(MemoryLayout<linger>.size))
            vanisher.close()
            try sender.send("round \(round)")
        }
        for round in 0..<20 { #expect(try reader.waitFor { $0.hasPrefix("<sender>") } == "<sender> round \(round)") }
        // Every vanished client is gone: only the two remain.
        var people = ""
        for _ in 0..<50 {
            try sender.send("/who")
            people = try sender.waitFor { $0.hasPrefix("* people") }
            if people == "* people in #lobby (2): reader sender" { break }
        }
        #expect(people == "* people in #lobby (2): reader sender")
    }

    @Test func everyReceiverSeesEachSendersLinesInOrder() throws {
        let server = try RunningServer()
        let senders = try (0..<4).map { try server.join(as: "s\($0)") }
        let receivers = try (0..<4).map { try server.join(as: "r\($0)") }
        let perSender = 250
        // next[r][i]: the number receiver r must see next from sender i.
        var next = [[Int]](repeating: [Int](repeating: 0, count: senders.count), count: receivers.count)
        func check(_ lines: [String], at receiver: Int) {
            for line in lines where line.hasPrefix("<s") {
                // "<sI> I:N"
                let parts = line.split(separator: " ").last!.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2, parts[0] < senders.count else {
                    Issue.record("receiver r\(receiver) got a garbled line: \(line)")
                    continue
                }
                #expect(parts[1] == next[receiver][parts[0]], "r\(receiver) after s\(parts[0]):\(next[receiver][parts[0]] - 1) got \(line)")
                next[receiver][parts[0]] = parts[1] + 1
            }
        }
        // Interleave the senders' writes; each sender's own lines must stay in its order at
        // every receiver, and none may be lost.
        for n in 0..<perSender {
            for (index, sender) in senders.enumerated() { try sender.send("\(index):\(n)") }
            if n % 50 == 49 {  // drain (and check) as we go, keeping the queues short
                for (index, receiver) in receivers.enumerated() { check(try receiver.linesBeforeSync(), at: index) }
            }
        }
        // The senders' lines were all handled before the receivers' /rooms (one loop thread, and
        // each sender's last line went out before the receivers' syncs above); drain once more.
        for (index, receiver) in receivers.enumerated() { check(try receiver.linesBeforeSync(), at: index) }
        for (index, seen) in next.enumerated() {
            #expect(seen == [Int](repeating: perSender, count: senders.count), "r\(index) saw \(seen) lines of each sender")
        }

        // A burst without draining, read by a newcomer: the same order.
        let checker = try server.join(as: "checker")
        for n in 0..<perSender { for (index, sender) in senders.enumerated() { try sender.send("b\(index):\(n)") } }
        var burst = [Int](repeating: 0, count: senders.count)
        while burst.contains(where: { $0 < perSender }) {
            let line = try checker.waitFor { $0.hasPrefix("<s") }
            let body = line.split(separator: " ").last!.dropFirst()  // "index:n"
            let parts = body.split(separator: ":").compactMap { Int($0) }
            #expect(parts[1] == burst[parts[0]], "\(line)")
            burst[parts[0]] = parts[1] + 1
        }
    }

    @Test func aLastLineWithoutNewlineIsRelayedAtEndOfStream() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.sendRaw(Array("no newline at the end".utf8))
        alice.connection.shutdownWrite()
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> no newline at the end")
    }

    @Test func historyReplayStaysWellUnderTheOutputCap() throws {
        let server = try RunningServer {
            $0.maxLineBytes = 4096
            $0.maxQueueBytes = 8 * 4096
            $0.historyLength = 100
        }
        let alice = try server.join(as: "alice")
        let long = String(repeating: "h", count: 4000)
        for n in 0..<100 { try alice.send("\(n) \(long)") }
        _ = try alice.linesBeforeSync()
        let newcomer = try server.connect()
        _ = try newcomer.waitFor { $0.hasPrefix("* you joined") }
        let replay = try newcomer.linesBeforeSync()
        #expect(!replay.isEmpty && replay.count < 100)
        #expect(replay.last?.hasPrefix("* history: <alice> 99 ") == true)  // the newest are kept
        #expect(server.server.statistics.slowReadersDropped == 0)
    }

    @Test func longListingsAreCutShort() throws {
        let server = try RunningServer { $0.maxConnectionsPerAddress = 0 }
        var clients: [TestClient] = []
        for n in 0..<600 { clients.append(try server.join(as: "person-with-a-long-nickname-\(n)")) }
        try clients[0].send("/who")
        let who = try clients[0].waitFor { $0.hasPrefix("* people") }
        #expect(who.hasPrefix("* people in #lobby (600): "))
        #expect(who.hasSuffix("more"))
        #expect(who.utf8.count < 17 * 1024)
    }

    @Test func nickEdgeCases() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "Alice")
        let other = try server.join()
        for (attempt, error) in [
            ("alice", "! nick Alice is taken; choose another"),
            ("ALICE", "! nick Alice is taken; choose another"),
            ("HISTORY", "! cannot change nick: nick HISTORY is reserved"),
            ("a.b", "! cannot change nick: nick may contain only letters, digits, _ and - (found '.' U+002E)"),
            ("", "! usage: /nick NAME"),
            (String(repeating: "长", count: 33), "! cannot change nick: nick too long (33 characters; at most 32)"),
        ] {
            try other.send("/nick \(attempt)")
            #expect(try other.waitFor { $0.hasPrefix("!") } == error)
        }
        // Bidi overrides are cleaned out of every line before it is read, nicks included.
        try other.send("/nick ab\u{202E}cd")
        #expect(try other.waitFor { $0.hasPrefix("*") || $0.hasPrefix("!") } == "* you are now known as abcd")
        try other.sendRaw(Array("/nick evil\u{1B}[31m\n".utf8))  // the escape is cleaned first
        #expect(try other.waitFor { $0.hasPrefix("*") || $0.hasPrefix("!") } == "* you are now known as evil")
        _ = alice
    }
}
