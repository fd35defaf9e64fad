// TLS through the Swift API (issue 17): a ChatServer with a TLS listener (tlsPort 0) beside the
// plaintext one, ChatConnection/ChatClient over TLS, the client's certificate checks, the
// server's configuration errors and reloadTLS(). Certificates are made once by the `openssl`
// command in a temporary directory. Tests/tls/tls_test.py drives the binaries and the outside
// peers (openssl s_client/s_server, ncat --ssl); these are the API's own contract.
import Foundation
import Testing
@testable import TCPChat

/// Self-signed certificates for localhost/127.0.0.1, made once per test process.
enum TestCertificates {
    struct Files: Sendable {
        let directory: String
        var cert: String { directory + "/cert.pem" }
        var key: String { directory + "/key.pem" }
        var otherKey: String { directory + "/other.key" }
    }

    static let files: Files = {
        let directory = NSTemporaryDirectory() + "tcpchat-swift-tls-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = Files(directory: directory)
        for (key, cert) in [(files.key, files.cert), (files.otherKey, directory + "/other.pem")] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                 "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try? process.run()
            process.waitUntilExit()
        }
        return files
    }()
}

private func tlsServer(_ adjust: (inout ChatServerConfiguration) -> Void = { _ in }) throws -> RunningServer {
    let files = TestCertificates.files
    return try RunningServer { configuration in
        configuration.tlsCertificateFile = files.cert
        configuration.tlsKeyFile = files.key
        configuration.tlsPort = 0
        adjust(&configuration)
    }
}

private func trusted() -> TLSClientOptions { TLSClientOptions(caFile: TestCertificates.files.cert) }

@Suite("TLS")
struct TLSTests {
    @Test("a TLS connection and a plaintext one chat in one room")
    func tlsAndPlaintext() throws {
        let running = try tlsServer()
        #expect(running.server.tlsPort > 0 && running.server.tlsPort != running.server.port)
        let secure = try ChatConnection.connect(host: "127.0.0.1", port: running.server.tlsPort, tls: trusted())
        defer { secure.close() }
        #expect(secure.tlsDescription?.hasPrefix("TLSv1.") == true)
        let plain = try running.join(as: "plain")
        func next(_ prefix: String) throws -> String {
            while true {
                guard let line = try secure.receive(timeoutMilliseconds: stuckAfterMilliseconds) else { throw TestFailure("stuck waiting for \(prefix)") }
                if line.hasPrefix(prefix) { return line }
            }
        }
        _ = try next("* you joined #lobby")
        try secure.send("/nick sealed")
        _ = try next("* you are now known as sealed")
        try secure.send("hello in TLS")
        #expect(try plain.waitFor { $0.hasPrefix("<sealed>") } == "<sealed> hello in TLS")
        try plain.send("hello in the clear")
        #expect(try next("<plain>") == "<plain> hello in the clear")
    }

    @Test("trySend and flush over TLS: every line arrives, in order, whatever the socket took at a time")
    func nonBlockingSends() throws {
        let running = try tlsServer()
        let reader = try running.join(as: "reader")
        let sender = try ChatConnection.connect(host: "127.0.0.1", port: running.server.tlsPort, tls: trusted())
        defer { sender.close() }
        let count = 3000
        let filler = String(repeating: "y", count: 300)
        var sent = 0
        while sent < count {
            if try sender.trySend("\(sent) \(filler)") { sent += 1 } else { _ = try sender.flush(); usleep(1000) }
        }
        while try !sender.flush() { usleep(1000) }
        var expected = 0
        while expected < count {
            let line = try reader.waitFor { $0.hasPrefix("<guest") }
            #expect(line.hasSuffix("> \(expected) \(filler)"))
            expected += 1
        }
    }

    @Test("a certificate the client does not trust, or for another name, fails with why")
    func verificationFailures() throws {
        let running = try tlsServer()
        let port = running.server.tlsPort
        #expect {
            try ChatClient(host: "127.0.0.1", port: port, tls: TLSClientOptions())
        } throws: { error in
            guard case SocketError.tls(_, let reason) = error else { return false }
            return reason.contains("self-signed")
        }
        #expect {
            try ChatClient(host: "127.0.0.1", port: port, tls: TLSClientOptions(caFile: TestCertificates.files.cert, serverName: "other.example"))
        } throws: { error in
            guard case SocketError.tls(_, let reason) = error else { return false }
            return reason.contains("is for localhost, 127.0.0.1, not other.example")
        }
        #expect {
            try ChatClient(host: "127.0.0.1", port: running.server.port, tls: trusted())
        } throws: { error in
            guard case SocketError.tls(_, let reason) = error else { return false }
            return reason.contains("does not speak TLS")
        }
        let insecure = try ChatClient(host: "127.0.0.1", port: port, tls: TLSClientOptions(verify: false))
        #expect(insecure.tlsDescription != nil)
        insecure.close()
    }

    @Test("configuration errors name the file and what is wrong")
    func configurationErrors() throws {
        let files = TestCertificates.files
        var configuration = ChatServerConfiguration()
        configuration.port = 0
        configuration.tlsPort = 0
        configuration.tlsCertificateFile = files.cert
        #expect(configuration.problem()?.contains("both a certificate file and a key file") == true)
        configuration.tlsKeyFile = files.otherKey
        #expect { try ChatServer(configuration: configuration) } throws: { error in
            "\(error)".contains("does not match the certificate")
        }
        configuration.tlsCertificateFile = files.directory + "/missing.pem"
        #expect { try ChatServer(configuration: configuration) } throws: { error in
            "\(error)".contains("missing.pem")
        }
        var tlsOnly = ChatServerConfiguration()
        tlsOnly.plaintextListener = false
        #expect(tlsOnly.problem()?.contains("no listener") == true)
    }

    @Test("reloadTLS: a good file is taken, a bad one is refused and the old certificate stays")
    func reload() throws {
        let directory = TestCertificates.files.directory + "/reload-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestCertificates.files.cert, toPath: directory + "/cert.pem")
        try FileManager.default.copyItem(atPath: TestCertificates.files.key, toPath: directory + "/key.pem")
        let running = try tlsServer { configuration in
            configuration.tlsCertificateFile = directory + "/cert.pem"
            configuration.tlsKeyFile = directory + "/key.pem"
        }
        try running.server.reloadTLS()
        try "not a certificate\n".write(toFile: directory + "/cert.pem", atomically: true, encoding: .utf8)
        #expect(throws: ChatServerError.self) { try running.server.reloadTLS() }
        let client = try ChatConnection.connect(host: "127.0.0.1", port: running.server.tlsPort, tls: trusted())
        defer { client.close() }
        #expect(try client.receive(timeoutMilliseconds: stuckAfterMilliseconds)?.hasPrefix("* welcome") == true)
        let plain = try RunningServer()
        #expect(throws: ChatServerError.self) { try plain.server.reloadTLS() }
        #expect(plain.server.tlsPort == -1)
    }
}
