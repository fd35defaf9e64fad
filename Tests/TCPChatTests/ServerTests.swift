// The server over real loopback sockets: every command, its errors, and the limits.
import Foundation
import Testing
@testable import TCPChat

@Suite struct ServerChatTests {
    @Test func welcomeNamesTheGuestAndOthersSeeTheJoin() throws {
        let server = try RunningServer()
        let alice = try server.join()
        let bob = try server.connect()
        let welcome = try bob.next()
        #expect(welcome.hasPrefix("* welcome to tcpchat, guest"))
        #expect(welcome.contains("/help"))
        #expect(try bob.next() == "* you joined #lobby (1 other here)")
        #expect(try alice.waitFor { $0.hasSuffix("joined #lobby") }.hasPrefix("* guest"))
    }

    @Test func chatReachesOthersButIsNotEchoed() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        let carol = try server.join(as: "carol")
        try alice.send("hello, world")
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> hello, world")
        #expect(try carol.waitFor { $0.hasPrefix("<") } == "<alice> hello, world")
        #expect(try alice.linesBeforeSync().filter { $0.hasPrefix("<") }.isEmpty)
    }

    @Test func nickChangesAndTheirErrors() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let other = try server.join()
        try other.send("/nick ALICE")
        #expect(try other.next() == "! nick alice is taken; choose another")
        try other.send("/nick \(String(repeating: "x", count: 33))")
        #expect(try other.next() == "! cannot change nick: nick too long (33 characters; at most 32)")
        try other.send("/nick a.b")
        #expect(try other.next().hasPrefix("! cannot change nick: nick may contain only"))
        try other.send("/nick server")
        #expect(try other.next() == "! cannot change nick: nick server is reserved")
        try other.send("/nick 张三")
        #expect(try other.next() == "* you are now known as 张三")
        #expect(try alice.waitFor { $0.contains("is now known as") }.hasSuffix("is now known as 张三"))
        try alice.send("/nick alice")
        #expect(try alice.next() == "* you are already alice")
    }

    @Test func whoListsTheRoom() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.send("/who")
        #expect(try alice.waitFor { $0.hasPrefix("* people") } == "* people in #lobby (2): alice bob")
        bob.close()
    }

    @Test func privateMessagesReachOneNickInAnyRoom() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        let carol = try server.join(as: "carol")
        try bob.send("/join #elsewhere")
        _ = try bob.waitFor { $0.hasPrefix("* you joined #elsewhere") }
        try alice.send("/msg BOB meet at noon")
        #expect(try bob.next() == "<alice -> bob> meet at noon")
        #expect(try alice.waitFor { $0.hasPrefix("<") } == "<alice -> bob> meet at noon")
        #expect(try carol.linesBeforeSync().filter { $0.hasPrefix("<") }.isEmpty)
        try alice.send("/msg nobody hi")
        #expect(try alice.next() == "! no such nick nobody, try /who or /rooms")
    }

    @Test func meIsANoticeWithTheNickFirst() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.send("/me waves")
        #expect(try bob.waitFor { $0.hasPrefix("* alice ") } == "* alice waves")
    }

    @Test func joinMovesBetweenRoomsAndRoomsCountsThem() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try bob.send("/join rust")
        #expect(try bob.next() == "* you joined #rust (0 others here)")
        #expect(try alice.waitFor { $0.hasPrefix("* bob") } == "* bob left #lobby (joined #rust)")
        try bob.send("/join #RUST")
        #expect(try bob.next() == "! you are already in #rust")
        try bob.send("/join #no way")
        #expect(try bob.next() == "! usage: /join #ROOM")
        try alice.send("/rooms")
        #expect(try alice.next() == "* rooms (2): #lobby (1), #rust (1)")
        try alice.send("in lobby")
        try bob.send("in rust")
        #expect(try bob.linesBeforeSync().filter { $0.hasPrefix("<") }.isEmpty)
        #expect(try alice.linesBeforeSync().filter { $0.hasPrefix("<") }.isEmpty)
    }

    @Test func historyIsReplayedOnJoin() throws {
        let server = try RunningServer { $0.historyLength = 3 }
        let alice = try server.join(as: "alice")
        for n in 1...5 { try alice.send("message \(n)") }
        _ = try alice.linesBeforeSync()
        let bob = try server.connect()
        _ = try bob.waitFor { $0.hasPrefix("* you joined") }
        #expect(try bob.next() == "* history: <alice> message 3")
        #expect(try bob.next() == "* history: <alice> message 4")
        #expect(try bob.next() == "* history: <alice> message 5")
    }

    @Test func helpAndUnknownCommands() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        try alice.send("/help")
        #expect(try alice.next() == "* commands:")
        #expect(try alice.next().hasPrefix("*   /nick NAME"))
        let bob = try server.join(as: "bob")
        try alice.send("/bogus")
        #expect(try alice.waitFor { $0.hasPrefix("!") } == "! unknown command /bogus, try /help")
        #expect(try bob.linesBeforeSync().filter { $0.hasPrefix("<") }.isEmpty)  // an error is not chat
        // "//x" is chat that starts with "/": the room sees "/bogus", and it is no error.
        try alice.send("//bogus")
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> /bogus")
        #expect(try alice.linesBeforeSync().filter { $0.hasPrefix("!") || $0.hasPrefix("<") }.isEmpty)
    }

    @Test func quitAnswersClosesAndTellsTheRoomWhy() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try bob.send("/quit off to lunch")
        let (lines, end) = try bob.readUntilClosed()
        #expect(lines == ["* goodbye, bob"])
        #expect(end == .closed)
        #expect(try alice.waitFor { $0.hasPrefix("* bob") } == "* bob left (quit: off to lunch)")
    }
}

@Suite struct ServerFramingTests {
    @Test func oneByteWritesMakeOneLine() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        for byte in Array("split across many writes\r\n".utf8) { try alice.sendRaw([byte]) }
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> split across many writes")
    }

    @Test func manyLinesInOneWriteArriveInOrder() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.sendRaw(Array((1...100).map { "n\($0)\n" }.joined().utf8))
        for n in 1...100 { #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> n\(n)") }
    }

    @Test func escapesAndControlBytesNeverReachOthers() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.sendRaw([0x1B] + Array("[2Jclear\u{1B}]0;pwned\u{07} a".utf8) + [0x00, 0x0D, 0x62, 0xFF, 0x0A])
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> clear ab\u{FFFD}")
    }

    @Test func overlongLineGetsOneErrorAndTheConnectionGoesOn() throws {
        let server = try RunningServer { $0.maxLineBytes = 64 }
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.sendRaw(Array(repeating: 0x41, count: 10_000))
        try alice.sendRaw(Array("tail of the long line\nshort one\n".utf8))
        #expect(try alice.waitFor { $0.hasPrefix("!") } == "! line too long (over 64 bytes); it was discarded")
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> short one")
        #expect(try alice.linesBeforeSync().filter { $0.hasPrefix("!") }.isEmpty)
    }

    @Test func gbkFallbackDecodesTheLessonsClients() throws {
        let server = try RunningServer { $0.fallbackEncoding = .gbk }
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.sendRaw([0xC4, 0xE3, 0xBA, 0xC3, 0x0A])  // 你好 in GBK
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> 你好")
    }

    @Test func ipv6Loopback() throws {
        let server = try RunningServer(host: "::1")
        #expect(server.server.address?.description == "[::1]:\(server.port)")
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.send("over v6")
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> over v6")
    }
}

@Suite struct ServerLimitTests {
    @Test func clientBeyondMaxClientsGetsAnErrorThenClose() throws {
        let server = try RunningServer { $0.maxClients = 2 }
        let first = try server.join()
        let second = try server.join()
        let third = try server.connect()
        let (lines, end) = try third.readUntilClosed()
        #expect(lines == ["! server full (2 clients); try again later"])
        #expect(end == .closed)
        try second.send("still here")
        #expect(try first.waitFor { $0.hasPrefix("<") }.hasSuffix("> still here"))
    }

    @Test func stalledReaderIsDroppedAndOthersLoseNothing() throws {
        let server = try RunningServer { $0.maxQueueBytes = 64 * 1024 }
        let sender = try server.join(as: "sender")
        let reader = try server.join(as: "reader")
        // The staller has a small receive window and never reads after joining.
        let staller = try TestClient(port: server.port, receiveBuffer: 4096)
        _ = try staller.waitFor { $0.hasPrefix("* you joined") }
        try staller.send("/nick staller")
        _ = try staller.waitFor { $0.hasPrefix("* you are now known as") }
        let payload = String(repeating: "p", count: 1000)
        let count = 10_000  // 10 MB: far past any socket buffers plus the 64 KiB queue
        var received = 0
        var sawDrop = false
        // Send in batches and let the reader keep up, as a live reader would.
        for batch in stride(from: 0, to: count, by: 20) {
            for n in batch..<(batch + 20) { try sender.send("\(n) \(payload)") }
            while received < batch + 20 {
                let line = try reader.next()
                if line.hasPrefix("<sender> ") {
                    #expect(line.hasPrefix("<sender> \(received) "))
                    received += 1
                } else if line.hasPrefix("* staller left (disconnected: not reading") {
                    sawDrop = true
                }
            }
        }
        if !sawDrop { _ = try reader.waitFor { $0.hasPrefix("* staller left (disconnected: not reading") } }
        #expect(received == count)
        let (_, end) = try staller.readUntilClosed()
        #expect(end == .closed || end == .reset)
    }

    @Test func resetPeerInTheMiddleOfABroadcastCostsOnlyThatPeer() throws {
        let server = try RunningServer()
        let sender = try server.join(as: "sender")
        let reader = try server.join(as: "reader")
        var resetters: [TestClient] = []
        for n in 0..<10 { resetters.append(try server.join(as: "r\(n)")) }
        for n in 0..<200 {
            try sender.send("line \(n)")
            if n % 20 == 10, let victim = resetters.popLast() {
                var linger = linger(l_onoff: 1, l_linger: 0)
                setsockopt(victim.connection.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
                victim.close()  // RST
            }
        }
        for n in 0..<200 { #expect(try reader.waitFor { $0.hasPrefix("<sender>") } == "<sender> line \(n)") }
        try sender.send("/who")
        #expect(try sender.waitFor { $0.hasPrefix("* people") } == "* people in #lobby (2): reader sender")
    }

    @Test func halfClosedClientStillReceivesUntilTheServerCloses() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        try alice.send("/me is leaving")
        try alice.send("last words")
        try alice.send("/who")  // answered after alice's FIN arrived: she still receives
        alice.connection.shutdownWrite()
        let (lines, end) = try alice.readUntilClosed()
        #expect(end == .closed)
        #expect(lines.last == "* people in #lobby (2): alice bob")
        #expect(lines.allSatisfy { !$0.hasPrefix("!") })
        #expect(try bob.waitFor { $0.hasPrefix("<") } == "<alice> last words")
        #expect(try bob.waitFor { $0.hasPrefix("* alice left") } == "* alice left (connection closed)")
    }

    @Test func stopSaysGoodbyeToEveryone() throws {
        var configuration = ChatServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let server = try ChatServer(configuration: configuration)
        try server.start()
        let clients = try (0..<3).map { _ in try TestClient(host: "127.0.0.1", port: server.port) }
        for client in clients { _ = try client.waitFor { $0.hasPrefix("* you joined") } }
        server.stop()
        server.wait()
        for client in clients {
            let (lines, end) = try client.readUntilClosed()
            #expect(lines.last == "* server shutting down, goodbye")
            #expect(end == .closed)
        }
    }

    @Test func portInUseIsAClearError() throws {
        let first = try RunningServer()
        var configuration = ChatServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = first.port
        let second = try ChatServer(configuration: configuration)
        #expect(throws: ChatServerError.self) { try second.bind() }
        do { try second.bind() } catch {
            #expect(error.description.contains("address already in use"))
        }
    }

    @Test func invalidConfigurationIsRejected() {
        var configuration = ChatServerConfiguration()
        configuration.maxLineBytes = 1
        #expect(throws: ChatServerError.self) { try ChatServer(configuration: configuration) }
    }
}
