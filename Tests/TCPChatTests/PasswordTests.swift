// --password: both protocols must give it first (IRC's PASS before NICK/USER, the line
// protocol's first line `/pass SECRET`), over real sockets; and the server binary's
// --password-file and --server-name, and the client's TCPCHAT_PASSWORD.
import Foundation
import Testing
@testable import TCPChat

@Suite struct PasswordTests {
    @Test func secretsCompareByEveryByte() {
        #expect(Secret.matches("s3cret", "s3cret"))
        #expect(!Secret.matches("s3creT", "s3cret"))
        #expect(!Secret.matches("s3cre", "s3cret"))
        #expect(!Secret.matches("s3crets", "s3cret"))
        #expect(!Secret.matches("", "s3cret"))
        #expect(Secret.matches("pässwört", "pässwört"))
    }

    @Test func lineProtocolWithTheRightPasswordIsWelcomedAndChats() throws {
        let server = try RunningServer { $0.password = "s3cret" }
        let listener = try server.connect()
        try listener.send("/pass s3cret")
        #expect(try listener.next().hasPrefix("* welcome"))
        _ = try listener.waitFor { $0.hasPrefix("* you joined #lobby") }
        let talker = try server.connect()
        try talker.send("/pass s3cret")
        _ = try talker.waitFor { $0.hasPrefix("* you joined #lobby") }
        try talker.send("hello with a password")
        #expect(try listener.waitFor { $0.hasPrefix("<") }.hasSuffix("> hello with a password"))
    }

    @Test func lineProtocolWithAWrongPasswordIsToldAndClosed() throws {
        let server = try RunningServer { $0.password = "s3cret" }
        let listener = try server.connect()
        try listener.send("/pass s3cret")
        _ = try listener.waitFor { $0.hasPrefix("* you joined #lobby") }
        let wrong = try server.connect()
        try wrong.send("/pass s3creT")
        let (lines, _) = try wrong.readUntilClosed()
        #expect(lines == ["! wrong password: reconnect and send /pass with the right one"])
        // It never was in the room: nobody saw it come or go.
        #expect(try listener.linesBeforeSync().isEmpty)
    }

    @Test func lineProtocolWithoutAPasswordIsToldWhatToDoAndClosed() throws {
        let server = try RunningServer { $0.password = "s3cret" }
        let listener = try server.connect()
        try listener.send("/pass s3cret")
        _ = try listener.waitFor { $0.hasPrefix("* you joined #lobby") }
        let missing = try server.connect()
        try missing.send("hello, anyone?")
        let (lines, _) = try missing.readUntilClosed()
        #expect(lines.count == 1 && lines[0].hasPrefix("! this server needs a password: send /pass PASSWORD"))
        // Its first line was not chat.
        #expect(try listener.linesBeforeSync().isEmpty)
    }

    @Test func lineProtocolPasswordWorksWithIRCDetectionOff() throws {
        let server = try RunningServer {
            $0.password = "s3cret"
            $0.ircDetectionMilliseconds = 0
        }
        let client = try server.connect()
        try client.send("/pass s3cret")
        #expect(try client.next().hasPrefix("* welcome"))
        let refused = try server.connect()
        try refused.send("/pass nope")
        let (lines, _) = try refused.readUntilClosed()
        #expect(lines.first?.hasPrefix("! wrong password") == true)
    }

    @Test func ircWithTheRightPassIsRegisteredAndMayNotPassAgain() throws {
        let server = try RunningServer { $0.password = "s3cret" }
        let client = try IRCTestClient(server, nick: "x", register: false)
        try client.send("PASS s3cret")
        try client.send("NICK alice")
        try client.send("USER alice 0 * :Alice")
        #expect(try client.next().hasPrefix(":tcpchat 001 alice "))
        _ = try client.waitFor { $0.contains(" 422 ") }
        try client.send("PASS s3cret")
        try expectNext(client, ":tcpchat 462 alice :You may not reregister")
        // and it chats with a line-protocol user who gave /pass
        let line = try server.connect()
        try line.send("/pass s3cret")
        _ = try line.waitFor { $0.hasPrefix("* you joined #lobby") }
        try client.send("JOIN #lobby")
        _ = try client.waitFor { $0.contains(" 366 ") }
        try line.send("hi alice")
        _ = try client.waitFor { $0.hasSuffix(" PRIVMSG #lobby :hi alice") }
    }

    @Test func ircWithAWrongOrMissingPassGets464ErrorAndIsClosed() throws {
        let server = try RunningServer { $0.password = "s3cret" }
        for pass in ["PASS s3cretgarbage", nil] {
            let client = try server.connect()
            if let pass { try client.sendRaw(Array((pass + "\r\n").utf8)) }
            try client.sendRaw(Array("NICK alice\r\nUSER alice 0 * :Alice\r\n".utf8))
            let (lines, _) = try client.readUntilClosed()
            #expect(lines == [":tcpchat 464 alice :Password incorrect", "ERROR :Closing Link: 127.0.0.1 (Bad password)"])
        }
        // The nick was not taken by either attempt.
        let good = try IRCTestClient(server, nick: "x", register: false)
        try good.send("PASS s3cret")
        try good.send("NICK alice")
        try good.send("USER alice 0 * :Alice")
        #expect(try good.next().hasPrefix(":tcpchat 001 alice "))
    }

    @Test func withoutAPasswordPassIsIgnored() throws {
        let server = try RunningServer()
        let client = try IRCTestClient(server, nick: "x", register: false)
        try client.send("PASS whatever")
        try client.send("NICK alice")
        try client.send("USER alice 0 * :Alice")
        #expect(try client.next().hasPrefix(":tcpchat 001 alice "))
    }

    @Test func badPasswordsAreConfigurationProblems() {
        var configuration = ChatServerConfiguration()
        configuration.password = ""
        #expect(configuration.problem() != nil)
        configuration.password = "two words"
        #expect(configuration.problem() != nil)
        configuration.password = "fine"
        #expect(configuration.problem() == nil)
    }

    @Test func serverBinaryReadsThePasswordFileAndNamesItself() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tcpchat-password-\(getpid())")
        try "from-a-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let server = try ServerProcess(["--host", "127.0.0.1", "--port", "0", "--password-file", file.path,
                                        "--server-name", "My.Little.Server"])
        let port = try server.waitForPort()
        let irc = try TestClient(host: "127.0.0.1", port: port)
        try irc.sendRaw(Array("PASS from-a-file\r\nNICK alice\r\nUSER alice 0 * :Alice\r\n".utf8))
        #expect(try irc.next().hasPrefix(":My.Little.Server 001 alice "))
        let line = try TestClient(host: "127.0.0.1", port: port)
        try line.send("/pass from-a-file")
        _ = try line.waitFor { $0.hasPrefix("* you joined #lobby") }
    }

    @Test func serverBinaryIsNamedAfterItsHostByDefaultAndKeepsTheOldFlag() throws {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, 255)
        let hostName = String(cString: buffer)
        let server = try ServerProcess(["--host", "127.0.0.1", "--port", "0"])
        let irc = try TestClient(host: "127.0.0.1", port: try server.waitForPort())
        try irc.sendRaw(Array("NICK alice\r\nUSER alice 0 * :Alice\r\n".utf8))
        #expect(try irc.next().hasPrefix(":\(hostName) 001 alice "))
        let old = try ServerProcess(["--host", "127.0.0.1", "--port", "0", "--irc-server-name", "old.name"])
        let client = try TestClient(host: "127.0.0.1", port: try old.waitForPort())
        try client.sendRaw(Array("NICK bob\r\nUSER bob 0 * :Bob\r\n".utf8))
        #expect(try client.next().hasPrefix(":old.name 001 bob "))
    }

    @Test func clientSendsThePasswordFromTheEnvironmentFirst() throws {
        let server = try RunningServer { $0.password = "s3cret" }
        let listener = try server.connect()
        try listener.send("/pass s3cret")
        _ = try listener.waitFor { $0.hasPrefix("* you joined #lobby") }
        let client = Process()
        client.executableURL = productsDirectory().appendingPathComponent("tcpchat-client")
        client.arguments = ["127.0.0.1", String(server.port), "--nick", "bob"]
        var environment = ProcessInfo.processInfo.environment
        environment["TCPCHAT_PASSWORD"] = "s3cret"
        client.environment = environment
        let input = Pipe()
        client.standardInput = input
        client.standardOutput = Pipe()
        client.standardError = Pipe()
        try client.run()
        input.fileHandleForWriting.write("hello from the client\n".data(using: .utf8)!)
        #expect(try listener.waitFor { $0.hasPrefix("<") } == "<bob> hello from the client")
        try input.fileHandleForWriting.close()
        client.waitUntilExit()
    }
}
