// A ChatConnection in GBK, as the lesson's programs speak it, against a raw socket that sends
// and checks the bytes themselves.
import Foundation
import Testing
@testable import TCPChat

@Suite struct TextEncodingTests {
    /// A connection in `encoding` and the raw other end of it (a connected socket pair).
    private func pair(_ encoding: TextEncoding) throws -> (ChatConnection, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { throw TestFailure("socketpair: errno \(errno)") }
        return (ChatConnection.adopting(fd: fds[0], encoding: encoding), fds[1])
    }

    private func write(_ bytes: [UInt8], to fd: Int32) {
        #expect(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count)
    }

    /// The bytes up to and including the next LF (or what came before the stuck guard).
    private func readLine(from fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.last != 0x0A {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, stuckAfterMilliseconds) == 1, Glibc.read(fd, &byte, 1) == 1 else { break }
            bytes.append(byte)
        }
        return bytes
    }

    private func line(_ connection: ChatConnection) throws -> String? {
        try connection.receive(timeoutMilliseconds: stuckAfterMilliseconds)
    }

    @Test func gbkIsSentAndReadBothWays() throws {
        let (connection, peer) = try pair(.gbk)
        defer { Glibc.close(peer) }
        try connection.send("你好")
        #expect(readLine(from: peer) == [0xC4, 0xE3, 0xBA, 0xC3, 0x0A])
        write([0xC4, 0xE3, 0xBA, 0xC3, 0x20, 0x68, 0x69, 0x0A], to: peer)  // "你好 hi" in GBK
        #expect(try line(connection) == "你好 hi")
    }

    @Test func withGBKAValidUTF8LineIsStillUTF8() throws {
        let (connection, peer) = try pair(.gbk)
        defer { Glibc.close(peer) }
        write(Array("你好 from UTF-8\n".utf8), to: peer)
        #expect(try line(connection) == "你好 from UTF-8")
        try connection.send("plain ascii")  // the same bytes in either encoding
        #expect(readLine(from: peer) == Array("plain ascii\n".utf8))
    }

    @Test func charactersGBKLacksBecomeQuestionMarks() throws {
        let (connection, peer) = try pair(.gbk)
        defer { Glibc.close(peer) }
        try connection.send("a😀b你")  // no GBK for the emoji
        #expect(readLine(from: peer) == [0x61, 0x3F, 0x62, 0xC4, 0xE3, 0x0A])
    }

    @Test func utf8StaysTheDefault() throws {
        let (connection, peer) = try pair(.utf8)
        defer { Glibc.close(peer) }
        #expect(connection.encoding == .utf8)
        try connection.send("你好")
        #expect(readLine(from: peer) == Array("你好\n".utf8))
        write([0xC4, 0xE3, 0xBA, 0xC3, 0x0A], to: peer)  // GBK on a UTF-8 connection: not guessed
        #expect(try line(connection) == "\u{FFFD}\u{FFFD}\u{FFFD}")
    }

    @Test func encodingNames() {
        #expect(TextEncoding(name: "GBK") == .gbk)
        #expect(TextEncoding(name: "utf8") == .utf8)
        #expect(TextEncoding(name: "UTF-8") == .utf8)
        #expect(TextEncoding(name: "latin1") == nil)
    }
}
