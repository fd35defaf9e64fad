// The Swift API as a Swift program uses it: ChatServer on a loopback port 0, ChatClient with its
// `lines` async sequence, and the version constants shared with Include/tcpchat.h.
// A watchdog closes a client after a generous delay, so a missing line ends the stream (and
// fails the test) instead of hanging; nothing here asserts on timing.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChat
import Testing
@testable import TCPChat

@Suite("Swift API: ChatClient over ChatServer")
struct SwiftAPITests {
    @Test("a client reads the welcome and join notices from `lines`")
    func welcome() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        let client = try server.client()
        var lines = WatchedLines(client)
        defer { lines.cancelWatchdog() }
        let welcome = try await lines.next(startingWith: "* welcome to tcpchat, ")
        #expect(welcome.contains("guest"))
        _ = try await lines.next(startingWith: "* you joined #lobby")
        client.close()
    }

    @Test("three clients: room chat, a private message, a broadcast")
    func threeClients() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        var ada = try await server.join(as: "ada")
        var bob = try await server.join(as: "bob")
        var cy = try await server.join(as: "cy")
        defer { [ada, bob, cy].forEach { $0.cancelWatchdog() } }

        try ada.client.send("hello, everyone")
        #expect(try await bob.next(startingWith: "<ada>") == "<ada> hello, everyone")
        #expect(try await cy.next(startingWith: "<ada>") == "<ada> hello, everyone")

        try ada.client.send("/msg bob psst")
        #expect(try await bob.next(startingWith: "<ada -> bob>") == "<ada -> bob> psst")
        #expect(try await ada.next(startingWith: "<ada -> bob>") == "<ada -> bob> psst")

        server.server.broadcast(room: "#lobby", text: "maintenance at noon")
        #expect(try await ada.next(startingWith: "* maintenance") == "* maintenance at noon")
        #expect(try await bob.next(startingWith: "* maintenance") == "* maintenance at noon")
        // cy joined last, so it saw only ada's line, and not the private message, before this.
        #expect(try await cy.nextLine() == "* maintenance at noon")
        try cy.client.send("/who")
        #expect(try await cy.nextLine() == "* people in #lobby (3): ada bob cy")
        [ada, bob, cy].forEach { $0.client.close() }
    }

    @Test("a consumer that falls behind the buffer loses nothing")
    func slowConsumerLosesNothing() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        var ada = try await server.join(as: "ada")
        var bob = try await server.join(as: "bob")
        defer { [ada, bob].forEach { $0.cancelWatchdog() } }
        let count = ChatClient.bufferedLines + 1000
        for n in 0..<count { try ada.client.send("line \(n)") }
        // Bob reads only now: more lines arrived than his stream buffers.
        for n in 0..<count { #expect(try await bob.next(startingWith: "<ada>") == "<ada> line \(n)") }
        [ada, bob].forEach { $0.client.close() }
    }

    @Test("stopping the server ends `lines` normally, after the goodbye")
    func serverStop() async throws {
        let server = try SwiftAPIServer()
        var lines = try await server.join(as: "ada")
        defer { lines.cancelWatchdog() }
        server.shutDown()
        _ = try await lines.next(startingWith: "* server shutting down, goodbye")
        #expect(try await lines.nextLine() == nil)
    }

    @Test("/quit: a goodbye, then `lines` finishes")
    func quit() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        var lines = try await server.join(as: "ada")
        defer { lines.cancelWatchdog() }
        try lines.client.send("/quit bye")
        _ = try await lines.next(startingWith: "* goodbye, ada")
        #expect(try await lines.nextLine() == nil)
    }

    @Test("shutdownWrite: sending fails, the server closes, `lines` finishes")
    func halfClose() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        var bob = try await server.join(as: "bob")
        var lines = try await server.join(as: "ada")
        defer { [lines, bob].forEach { $0.cancelWatchdog() } }
        try lines.client.send("/who")  // answered after our FIN: the read side still works
        lines.client.shutdownWrite()
        #expect(throws: SystemError.self) { try lines.client.send("too late") }
        #expect(try await lines.next(startingWith: "* people") == "* people in #lobby (2): ada bob")
        while try await lines.nextLine() != nil {}
        // The server, not the test, ended it: it took the FIN for leaving.
        #expect(try await bob.next(startingWith: "* ada left") == "* ada left (connection closed)")
        bob.client.close()
    }

    @Test("close: `lines` finishes and sending fails")
    func close() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        var lines = try await server.join(as: "ada")
        defer { lines.cancelWatchdog() }
        lines.client.close()
        lines.client.close()  // idempotent
        while try await lines.nextLine() != nil {}
        #expect(throws: SystemError.self) { try lines.client.send("anyone?") }
    }

    @Test("cancelling the task that reads `lines` closes the client")
    func cancelReading() async throws {
        let server = try SwiftAPIServer()
        defer { server.shutDown() }
        var watcher = try await server.join(as: "bob")
        defer { watcher.cancelWatchdog() }
        let client = try server.client()
        _ = try await watcher.next(startingWith: "* guest")  // "* guestN joined #lobby"
        let reader = Task {
            for try await _ in client.lines {}
        }
        reader.cancel()
        _ = await reader.result
        let left = try await watcher.next(startingWith: "* guest")
        #expect(left.contains(" left ("))
        #expect(throws: SystemError.self) { try client.send("anyone?") }
    }

    @Test("host-driven: serveOnce from the test's own loop serves a client, then finishes after stop")
    func hostDriven() throws {
        var configuration = ChatServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let server = try ChatServer(configuration: configuration)
        #expect(server.loopDescriptor >= 0)
        #expect(try server.serveOnce(timeoutMilliseconds: 0))  // binds and claims the server
        #expect(throws: ChatServerError.self) { try server.start() }
        let connection = try ChatConnection.connect(host: "127.0.0.1", port: server.port)
        defer { connection.close() }

        /// Serves until the connection has a line with `prefix`; bounded only against hangs.
        func serve(until prefix: String) throws -> Bool {
            for _ in 0..<2000 {
                var entry = pollfd(fd: server.loopDescriptor, events: Int16(POLLIN), revents: 0)
                let timeout = server.hostTimeoutMilliseconds
                _ = poll(&entry, 1, timeout < 0 || timeout > 100 ? 100 : timeout)
                guard try server.serveOnce(timeoutMilliseconds: 0) else { return false }
                while let line = try? connection.receive(timeoutMilliseconds: 0) {
                    if line.hasPrefix(prefix) { return true }
                }
            }
            return false
        }
        #expect(try serve(until: "* you joined #lobby"))
        try connection.send("/nick ada")
        #expect(try serve(until: "* you are now known as ada"))

        server.stop()
        var serving = true
        for _ in 0..<2000 where serving { serving = try server.serveOnce(timeoutMilliseconds: 100) }
        #expect(!serving)
        #expect(try !server.serveOnce(timeoutMilliseconds: 0))
        var lines: [String] = []
        while let line = try? connection.receive(timeoutMilliseconds: 10_000) { lines.append(line) }
        #expect(lines.last == "* server shutting down, goodbye")
    }

    @Test("connection refused and an unresolvable host are SocketErrors")
    func connectFailures() throws {
        // A port that was free a moment ago: bind a server, note its port, stop it.
        let probe = try SwiftAPIServer()
        let port = probe.server.port
        probe.shutDown()
        do {
            _ = try ChatClient(host: "127.0.0.1", port: port)
            Issue.record("connected to a stopped server")
        } catch {
            guard case .connect(_, let code) = error else { throw error }
            #expect(code == ECONNREFUSED)
        }
        // glibc rejects this name itself, without asking a name server.
        do {
            _ = try ChatClient(host: "bad host!", port: 6789)
            Issue.record("resolved an invalid host name")
        } catch {
            guard case .resolve = error else { throw error }
        }
    }

    @Test("the version comes from Include/tcpchat.h, for Swift and C alike")
    func version() {
        #expect(TCPChatVersion.major == Int(TCPCHAT_VERSION_MAJOR))
        #expect(TCPChatVersion.minor == Int(TCPCHAT_VERSION_MINOR))
        #expect(TCPChatVersion.patch == Int(TCPCHAT_VERSION_PATCH))
        #expect(TCPChatVersion.string == "\(TCPChatVersion.major).\(TCPChatVersion.minor).\(TCPChatVersion.patch)")
        #expect(String(cString: tcpchat_version()) == TCPChatVersion.string)
    }

    @Test("the header's TCPCHAT_CLIENT_MAX_LINE is the client's real line limit")
    func clientLineLimit() {
        #expect(ChatConnection.maxLineBytes == Int(TCPCHAT_CLIENT_MAX_LINE))
    }
}

// MARK: Helpers

/// A ChatServer on 127.0.0.1, port 0, serving on its own thread.
private final class SwiftAPIServer: Sendable {
    let server: ChatServer

    init() throws {
        var configuration = ChatServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.linesPerSecond = 0  // a test that sends thousands of lines is not about flood control
        server = try ChatServer(configuration: configuration)
        try server.start()
    }

    func client() throws -> ChatClient {
        try ChatClient(host: "127.0.0.1", port: server.port)
    }

    /// A client that has joined #lobby and is called `nick`.
    func join(as nick: String) async throws -> WatchedLines {
        var lines = WatchedLines(try client())
        _ = try await lines.next(startingWith: "* you joined #lobby")
        try lines.client.send("/nick \(nick)")
        _ = try await lines.next(startingWith: "* you are now known as \(nick)")
        return lines
    }

    func shutDown() {
        server.stop()
        server.wait()
    }
}

private struct StreamEnded: Error, CustomStringConvertible {
    let description: String
}

/// A client's `lines`, read one at a time; a watchdog closes the client if the test is stuck.
private struct WatchedLines {
    let client: ChatClient
    private var iterator: AsyncThrowingStream<String, any Error>.AsyncIterator
    private let watchdog: Task<Void, Never>

    init(_ client: ChatClient) {
        self.client = client
        iterator = client.lines.makeAsyncIterator()
        watchdog = Task { [client] in
            try? await Task.sleep(for: .seconds(20))
            guard !Task.isCancelled else { return }
            // A stream that ends only because of this close must not pass for one that ended
            // by itself ("the server closes, `lines` finishes"): it is a failure of the test.
            Issue.record("stuck: the watchdog closed the client")
            client.close()
        }
    }

    func cancelWatchdog() { watchdog.cancel() }

    /// The next line, or nil once the stream has finished.
    mutating func nextLine() async throws -> String? {
        try await iterator.next()
    }

    /// Skips lines until one starts with `prefix`.
    mutating func next(startingWith prefix: String) async throws -> String {
        while let line = try await iterator.next() {
            if line.hasPrefix(prefix) { return line }
        }
        throw StreamEnded(description: "the stream ended before a line starting \"\(prefix)\"")
    }
}
