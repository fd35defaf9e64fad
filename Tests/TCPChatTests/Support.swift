// Test support: a server on a free loopback port and a line-oriented test client over a real
// socket. Waits are bounded only to stop a broken test from hanging; nothing asserts on time.
import Foundation
import Testing
@testable import TCPChat

/// How long any single wait may take before the test is declared stuck.
let stuckAfterMilliseconds: Int32 = 10_000

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A `ChatServer` on 127.0.0.1 (or `host`), port 0, serving on its own thread.
final class RunningServer {
    let server: ChatServer
    var port: Int { server.port }
    let host: String

    init(host: String = "127.0.0.1", _ adjust: (inout ChatServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ChatServerConfiguration()
        configuration.host = host
        configuration.port = 0
        configuration.linesPerSecond = 0  // tests that flood are not about flood control
        adjust(&configuration)
        server = try ChatServer(configuration: configuration)
        try server.start()
        self.host = host
    }

    func connect() throws -> TestClient { try TestClient(host: host, port: port) }

    /// A client that has read its welcome and join lines (and any history).
    func join(as nick: String? = nil) throws -> TestClient {
        let client = try connect()
        _ = try client.waitFor { $0.hasPrefix("* you joined") }
        if let nick {
            try client.send("/nick \(nick)")
            _ = try client.waitFor { $0.hasPrefix("* you are now known as") }
        }
        return client
    }

    deinit {
        server.stop()
        server.wait()
    }
}

final class TestClient {
    let connection: ChatConnection

    init(host: String, port: Int) throws {
        connection = try ChatConnection.connect(host: host, port: port)
    }

    /// A client on IPv4 loopback whose receive buffer is set to `receiveBuffer` bytes before it
    /// connects (so the TCP window stays small: a reader that stops reading stalls quickly).
    init(port: Int, receiveBuffer: Int32) throws {
        connection = ChatConnection.adopting(fd: try connectToLoopback(port: port, receiveBuffer: receiveBuffer))
    }

    func send(_ line: String) throws { try connection.send(line) }

    /// Writes bytes exactly as given (no newline added).
    func sendRaw(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 { throw TestFailure("send failed: errno \(errno)") }
            offset += n
        }
    }

    /// The next line; fails if none comes before the stuck guard.
    func next() throws -> String {
        guard let line = try connection.receive(timeoutMilliseconds: stuckAfterMilliseconds) else {
            throw TestFailure("no line arrived")
        }
        return line
    }

    /// Skips lines until one matches; returns it.
    @discardableResult
    func waitFor(_ matches: (String) -> Bool) throws -> String {
        var seen: [String] = []
        while true {
            let line: String
            do { line = try next() } catch { throw TestFailure("waited in vain; saw \(seen) (\(error))") }
            if matches(line) { return line }
            seen.append(line)
        }
    }

    /// Every line up to and including the reply to a `/rooms` round trip: what the server sent
    /// before it handled that command. Lets a test show that a line did *not* arrive without
    /// waiting on a clock.
    func linesBeforeSync() throws -> [String] {
        try send("/rooms")
        var lines: [String] = []
        while true {
            let line = try next()
            if line.hasPrefix("* rooms (") { return lines }
            lines.append(line)
        }
    }

    /// Reads until the server closes; returns the lines read and how it ended.
    func readUntilClosed() throws -> ([String], ChatConnection.ReceiveError) {
        var lines: [String] = []
        while true {
            do {
                guard let line = try connection.receive(timeoutMilliseconds: stuckAfterMilliseconds) else {
                    throw TestFailure("server did not close; lines: \(lines)")
                }
                lines.append(line)
            } catch let end as ChatConnection.ReceiveError {
                return (lines, end)
            }
        }
    }

    func close() { connection.close() }
}

/// The directory holding the built products (tcpchat-server sits beside the test bundle).
func productsDirectory() -> URL {
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = executable.deletingLastPathComponent()
    while directory.path != "/" {
        if FileManager.default.fileExists(atPath: directory.appendingPathComponent("tcpchat-server").path) { return directory }
        directory = directory.deletingLastPathComponent()
    }
    return executable.deletingLastPathComponent()
}

/// A blocking TCP socket connected to 127.0.0.1:`port`, its receive buffer set to
/// `receiveBuffer` bytes before it connects (so the TCP window stays small: a reader that stops
/// reading stalls quickly).
func connectToLoopback(port: Int, receiveBuffer: Int32) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var size = receiveBuffer
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    if rc != 0 {
        let code = errno
        close(fd)
        throw TestFailure("connect failed: errno \(code)")
    }
    return fd
}
