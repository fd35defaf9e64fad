// The built tcpchat-server program: its first line, signals, exit codes and error messages.
import Foundation
import Testing
@testable import TCPChat

/// A tcpchat-server process with its stdout and stderr captured.
final class ServerProcess {
    let process = Process()
    private let output = Pipe()
    private let errors = Pipe()
    private(set) var firstLine = ""

    init(_ arguments: [String]) throws {
        process.executableURL = productsDirectory().appendingPathComponent("tcpchat-server")
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        try process.run()
    }

    /// Reads the `listening on ...` line and returns the port in it.
    func waitForPort() throws -> Int {
        var bytes: [UInt8] = []
        while true {
            let chunk = output.fileHandleForReading.readData(ofLength: 1)
            guard let byte = chunk.first else { throw TestFailure("server exited before listening: \(stderrText())") }
            if byte == 0x0A { break }
            bytes.append(byte)
        }
        firstLine = String(decoding: bytes, as: UTF8.self)
        guard let colon = firstLine.lastIndex(of: ":"), let port = Int(firstLine[firstLine.index(after: colon)...]) else {
            throw TestFailure("unexpected first line: \(firstLine)")
        }
        return port
    }

    func stderrText() -> String {
        String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    func exitStatus() -> Int32 {
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Waits for the exit and expects status 0; a failure shows what the server wrote on stderr
    /// (a sanitizer's report, say: under ASan a leak at exit turns status 0 into 1).
    func expectExitZero(sourceLocation: SourceLocation = #_sourceLocation) {
        let status = exitStatus()
        #expect(status == 0, "exit status \(status); stderr: \(stderrText())", sourceLocation: sourceLocation)
    }

    deinit { if process.isRunning { process.terminate() } }
}

@Suite struct ServerBinaryTests {
    @Test func printsTheRealPortAndServesIPv4AndIPv6() throws {
        let server = try ServerProcess(["--port", "0"])
        let port = try server.waitForPort()
        #expect(server.firstLine == "listening on [::]:\(port)")
        let v4 = try TestClient(host: "127.0.0.1", port: port)
        _ = try v4.waitFor { $0.hasPrefix("* you joined") }
        let v6 = try TestClient(host: "::1", port: port)
        _ = try v6.waitFor { $0.hasPrefix("* you joined") }
        try v6.send("hello from v6")
        #expect(try v4.waitFor { $0.hasPrefix("<") }.hasSuffix("> hello from v6"))
        server.process.terminate()
        server.expectExitZero()
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func signalSaysGoodbyeAndExitsZero(signal: Int32) throws {
        let server = try ServerProcess(["--host", "127.0.0.1", "--port", "0"])
        let port = try server.waitForPort()
        #expect(server.firstLine == "listening on 127.0.0.1:\(port)")
        let clients = try (0..<3).map { _ in try TestClient(host: "127.0.0.1", port: port) }
        for client in clients { _ = try client.waitFor { $0.hasPrefix("* you joined") } }
        kill(server.process.processIdentifier, signal)
        for client in clients {
            let (lines, end) = try client.readUntilClosed()
            #expect(lines.last == "* server shutting down, goodbye")
            #expect(end == .closed)
        }
        server.expectExitZero()
    }

    @Test func portInUseIsOneClearLineAndExitOne() throws {
        let first = try ServerProcess(["--host", "127.0.0.1", "--port", "0"])
        let port = try first.waitForPort()
        let second = try ServerProcess(["--host", "127.0.0.1", "--port", String(port)])
        #expect(second.exitStatus() == 1)
        let message = second.stderrText()
        #expect(message == "tcpchat-server: cannot listen on 127.0.0.1:\(port): address already in use (another server on that port? pick another with --port, or 0 for any free port)\n")
    }

    @Test func badAddressIsOneClearLine() throws {
        let server = try ServerProcess(["--host", "203.0.113.300", "--port", "0"])
        #expect(server.exitStatus() == 1)
        let message = server.stderrText()
        #expect(message.hasPrefix("tcpchat-server: cannot resolve 203.0.113.300: "))
        #expect(message.split(separator: "\n").count == 1)
    }

    @Test func badFlagsAreUsageErrors() throws {
        let server = try ServerProcess(["--fallback-encoding", "latin1"])
        #expect(server.exitStatus() != 0)
        #expect(server.stderrText().contains("--fallback-encoding must be gbk or none"))
        let tooSmall = try ServerProcess(["--max-line", "1"])
        #expect(tooSmall.exitStatus() != 0)
        #expect(tooSmall.stderrText().contains("max line must be"))
    }

    @Test func helpExplainsTheFlags() throws {
        let server = try ServerProcess(["--help"])
        let text = String(decoding: (server.process.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        server.expectExitZero()
        for flag in ["--host", "--port", "--max-clients", "--max-line", "--max-queue", "--history", "--fallback-encoding", "--verbose"] {
            #expect(text.contains(flag), "\(flag)")
        }
    }
}
