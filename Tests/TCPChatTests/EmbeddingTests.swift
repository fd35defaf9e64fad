// The embedding API in its Swift shape: ChatServerConfiguration.onEvent / filter /
// acceptConnection, the host control methods of ChatServer (HostControl.swift), re-entrancy
// refused from a callback, and ChatConnection's non-blocking send queue.
import Foundation
import Synchronization
import Testing
@testable import TCPChat

/// What the callbacks saw, across threads.
final class EventLog: Sendable {
    private let events = Mutex<[HostEvent]>([])
    func append(_ event: HostEvent) { events.withLock { $0.append(event) } }
    var all: [HostEvent] { events.withLock { $0 } }

    /// Waits (bounded) until an event matches.
    func waitFor(_ matches: (HostEvent) -> Bool) throws -> HostEvent {
        for _ in 0..<1000 {
            if let found = all.first(where: matches) { return found }
            usleep(10_000)
        }
        throw TestFailure("no such event in \(all)")
    }
}

/// Lets a callback reach the server it is a callback of (weak: the server holds the callback).
final class ServerBox: @unchecked Sendable {
    weak var server: ChatServer?
    var misuse: [Bool] = []
}

@Suite("Embedding: events, filter, host control")
struct EmbeddingTests {
    @Test("every event kind, in order per connection; the filter's four verdicts; a custom command")
    func eventsAndFilter() throws {
        let log = EventLog()
        let box = ServerBox()
        let running = try RunningServer { configuration in
            configuration.onEvent = { log.append($0) }
            configuration.filter = { event in
                switch (event.kind, event.text ?? "") {
                case (.said, let text) where text.contains("forbidden"): return .reject("not that word")
                case (.said, let text) where text.hasPrefix("darn"): return .replace("d**n" + text.dropFirst(4))
                case (.said, "swallow"): return .drop
                case (.command, let text) where text.hasPrefix("/roll"):
                    try? box.server?.say("\(event.nick) rolled 4", inRoom: "#lobby", asBot: "dice")
                    return .drop
                case (.renamed, "root"): return .reject("root is for staff")
                default: return .accept
                }
            }
        }
        box.server = running.server
        let ada = try running.join(as: "ada")
        let bob = try running.join(as: "bob")
        _ = try ada.waitFor { $0 == "* guest2 is now known as bob" }

        try ada.send("darn it")
        #expect(try bob.next() == "<ada> d**n it")
        try ada.send("a forbidden line")
        #expect(try ada.next() == "! not that word")
        try ada.send("swallow")
        try ada.send("/nick root")
        #expect(try ada.next() == "! root is for staff")
        try ada.send("/roll")
        #expect(try ada.next() == "<@dice> ada rolled 4")
        #expect(try bob.next() == "<@dice> ada rolled 4")
        try ada.send("/frob")
        #expect(try ada.next() == "! unknown command /frob, try /help")
        try ada.send("/me waves")
        #expect(try bob.next() == "* ada waves")
        try ada.send("/msg bob hi")
        #expect(try bob.next() == "<ada -> bob> hi")
        try ada.send("/quit")
        _ = try ada.readUntilClosed()

        let adaID = try #require(log.waitFor { $0.kind == .disconnected && $0.nick == "ada" }).id
        let kinds = log.all.filter { $0.id == adaID }.map(\.kind)
        #expect(kinds == [.connected, .registered, .joined, .renamed, .said, .acted, .privateMessage, .left, .disconnected])
        let said = log.all.first { $0.id == adaID && $0.kind == .said }
        #expect(said?.text == "d**n it" && said?.room == "#lobby")
        #expect(log.all.first { $0.id == adaID && $0.kind == .left }?.reason == "quit")
    }

    @Test("host control from another thread: send, lookup, kick, listings, bot, a notice to a missing room")
    func hostControl() throws {
        let running = try RunningServer()
        let server = running.server
        let ada = try running.join(as: "ada")
        let bob = try running.join(as: "bob")
        _ = try ada.waitFor { $0 == "* guest2 is now known as bob" }

        let bobID = try server.connectionID(ofNick: "BOB")
        try server.send("just for you", toConnection: bobID)
        #expect(try bob.next() == "* just for you")
        try server.send("and you", toNick: "ada")
        #expect(try ada.next() == "* and you")
        #expect(throws: HostControlError.noSuchNick("carol")) { try server.send("x", toNick: "carol") }
        #expect(throws: HostControlError.noSuchRoom("#nowhere")) { try server.sendNotice("x", toRoom: "#nowhere") }
        #expect(throws: HostControlError.nickTaken("ada")) { try server.say("x", inRoom: "#lobby", asBot: "ada") }
        try server.say("beep", inRoom: "#lobby", asBot: "robot")
        #expect(try ada.next() == "<@robot> beep")
        #expect(try bob.next() == "<@robot> beep")

        try bob.send("/join #side")
        _ = try bob.waitFor { $0.hasPrefix("* you joined #side") }
        #expect(try server.roomNames() == ["#lobby", "#side"])
        #expect(try server.members(ofRoom: "#lobby") == ["ada"])
        #expect(try server.members(ofRoom: "#SIDE") == ["bob"])

        try server.kick(bobID, reason: "enough")
        #expect(try bob.next() == "! you were kicked: enough")
        _ = try bob.readUntilClosed()
        #expect(throws: HostControlError.noSuchConnection(bobID)) { try server.kick(bobID, reason: "again") }
        #expect(try server.roomNames() == ["#lobby"])
    }

    @Test("serving or waiting from a callback is refused, and the server serves on")
    func reentrancy() throws {
        let box = ServerBox()
        let running = try RunningServer { configuration in
            configuration.onEvent = { event in
                guard event.kind == .said, let server = box.server else { return }
                box.misuse.append(server.isInCallback)
                do { _ = try server.serveOnce(timeoutMilliseconds: 0); box.misuse.append(false) } catch {
                    if case .calledFromCallback? = error as? ChatServerError { box.misuse.append(true) } else { box.misuse.append(false) }
                }
                do { try server.run(); box.misuse.append(false) } catch { if case .calledFromCallback? = error as? ChatServerError { box.misuse.append(true) } else { box.misuse.append(false) } }
                server.wait()  // returns at once
            }
        }
        box.server = running.server
        #expect(!running.server.isInCallback)
        let ada = try running.join(as: "ada")
        try ada.send("hello")
        try ada.send("/who")
        #expect(try ada.next() == "* people in #lobby (1): ada")
        #expect(box.misuse == [true, true, true])
    }

    @Test("the connect filter refuses by address, with its reason, and no event")
    func connectFilter() throws {
        let log = EventLog()
        let running = try RunningServer { configuration in
            configuration.onEvent = { log.append($0) }
            configuration.acceptConnection = { address in address.hasPrefix("127.0.0.1:") ? "no visitors today" : nil }
        }
        let client = try running.connect()
        let (lines, _) = try client.readUntilClosed()
        #expect(lines == ["! no visitors today"])
        #expect(log.all.isEmpty)
    }
}

@Suite("Embedding: the client that never blocks")
struct NonBlockingClientTests {
    @Test("trySend against a peer that never reads: false once the bounded queue is full; flush delivers all")
    func neverReadingPeer() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var small: Int32 = 4096
        setsockopt(listener, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(listener, $0, length)
                _ = getsockname(listener, $0, &length)
            }
        }
        listen(listener, 4)
        let connection = try ChatConnection.connect(host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)))
        defer { connection.close() }
        connection.sendQueueBytes = 4096
        let line = String(repeating: "x", count: 999)
        var queued = 0
        while try connection.trySend(line) {
            queued += 1
            if queued > 100_000 { throw TestFailure("never full") }
        }
        #expect(connection.queuedBytes <= 4096)
        #expect(try connection.flush() == false)

        let peer = accept(listener, nil, nil)
        defer { close(peer) }
        var received = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received < queued * 1000 {
            _ = try connection.flush()
            let count = read(peer, &buffer, buffer.count)
            if count <= 0 { throw TestFailure("read \(count)") }
            received += count
        }
        #expect(received == queued * 1000)
        #expect(try connection.flush() == true)
    }
}
