// Telnet as a client: its commands are answered and never reach the room. The filter alone,
// on bytes, then the server over a real socket with the bytes telnet sends.
import Foundation
import Testing
@testable import TCPChat

@Suite struct TelnetFilterTests {
    private func filtered(_ chunks: [[UInt8]]) -> (data: [UInt8], replies: [UInt8]) {
        var filter = TelnetFilter()
        var data: [UInt8] = []
        var replies: [UInt8] = []
        for chunk in chunks { data += filter.filter(chunk, replies: &replies) }
        return (data, replies)
    }

    @Test func ctrlCInTelnetIsRemovedAndTheTimingMarkRefused() {
        // IAC IP IAC DO TIMING-MARK, then the next line typed.
        let result = filtered([[0xFF, 0xF4, 0xFF, 0xFD, 0x06] + Array("after ctrl-c\r\n".utf8)])
        #expect(result.data == Array("after ctrl-c\r\n".utf8))
        #expect(result.replies == [0xFF, 0xFC, 0x06])  // IAC WONT TIMING-MARK
    }

    @Test func textWithoutIACIsUntouched() {
        let text = Array("plain ascii, 你好 in UTF-8, and \u{1B}[31m escapes for the sanitizer\n".utf8)
        let gbk: [UInt8] = [0xC4, 0xE3, 0xBA, 0xC3, 0x0A]  // 你好 in GBK
        let result = filtered([text, gbk])
        #expect(result.data == text + gbk)
        #expect(result.replies.isEmpty)
    }

    @Test func everyOptionRequestIsRefusedAndRefusalsAreNotAnswered() {
        // DO ECHO, WILL NAWS, WONT LINEMODE, DONT SGA, each with text around it.
        let result = filtered([[0x61, 0xFF, 0xFD, 0x01, 0x62, 0xFF, 0xFB, 0x1F, 0x63, 0xFF, 0xFC, 0x22, 0x64, 0xFF, 0xFE, 0x03, 0x65]])
        #expect(result.data == Array("abcde".utf8))
        #expect(result.replies == [0xFF, 0xFC, 0x01, 0xFF, 0xFE, 0x1F])  // WONT ECHO, DONT NAWS
    }

    @Test func commandsCutBetweenReadsAreStillRemoved() {
        let result = filtered([[0x61, 0xFF], [0xFD], [0x06, 0x62, 0xFF], [0xF4, 0x63]])
        #expect(result.data == Array("abc".utf8))
        #expect(result.replies == [0xFF, 0xFC, 0x06])
    }

    @Test func everySplitOfAStreamFiltersAsTheWhole() {
        // Every construct once (no stray 0xFF, whose loss at the end of a read is documented).
        let stream: [UInt8] = Array("hi ".utf8) + [0xFF, 0xF4, 0xFF, 0xFD, 0x06] + Array("x".utf8)
            + [0xFF, 0xFF, 0xFF, 0xFB, 0x18, 0xFF, 0xFA, 0x18, 0x00, 0x0A, 0xFF, 0xFF, 0xFF, 0xF0]
            + Array("y\r\n".utf8) + [0xFF, 0xFE, 0x01, 0xFF, 0xF1] + Array("你".utf8)
        let whole = filtered([stream])
        #expect(whole.data == Array("hi x".utf8) + [0xFF] + Array("y\r\n你".utf8))
        #expect(whole.replies == [0xFF, 0xFC, 0x06, 0xFF, 0xFE, 0x18])
        for cut in 1..<stream.count {
            let split = filtered([Array(stream[..<cut]), Array(stream[cut...])])
            #expect(split.data == whole.data && split.replies == whole.replies, "cut at \(cut)")
        }
        let bytewise = filtered(stream.map { [$0] })
        #expect(bytewise.data == whole.data && bytewise.replies == whole.replies)
    }

    @Test func doubledIACIsOneDataByte() {
        let result = filtered([[0x61, 0xFF, 0xFF, 0x62], [0xFF], [0xFF]])
        #expect(result.data == [0x61, 0xFF, 0x62, 0xFF])
        #expect(result.replies.isEmpty)
    }

    @Test func a0xFFThatStartsNoCommandIsData() {
        // A stray 0xFF in text (not telnet): kept, and the newline after it still ends the line.
        let result = filtered([[0x61, 0xFF, 0x0A, 0x62, 0xFF, 0x41, 0x0A]])
        #expect(result.data == [0x61, 0xFF, 0x0A, 0x62, 0xFF, 0x41, 0x0A])
        #expect(result.replies.isEmpty)
        // One that ends a read is dropped (in place there is no room for it); what follows
        // is data, even a one-byte read (nothing is written past it).
        let split = filtered([[0x61, 0xFF], [0x0A], [0x62, 0xFF], [0x41, 0x0A]])
        #expect(split.data == [0x61, 0x0A, 0x62, 0x41, 0x0A])
    }

    @Test func subnegotiationIsDroppedWholeEvenAcrossNewlines() {
        // IAC SB NAWS 0 80 0 10 (0x0A, a newline byte inside) IAC IAC IAC SE, then text.
        let result = filtered([[0x78, 0xFF, 0xFA, 0x1F, 0x00, 0x50, 0x00], [0x0A, 0xFF, 0xFF, 0xFF, 0xF0, 0x79, 0x0A]])
        #expect(result.data == [0x78, 0x79, 0x0A])
        #expect(result.replies.isEmpty)
    }

    @Test func otherCommandsAreDroppedWithTheirByteOnly() {
        // AYT, NOP, GA, EL, DM: two bytes each.
        let result = filtered([[0xFF, 0xF6, 0x61, 0xFF, 0xF1, 0x62, 0xFF, 0xF9, 0xFF, 0xF8, 0xFF, 0xF2, 0x63]])
        #expect(result.data == Array("abc".utf8))
        #expect(result.replies.isEmpty)
    }
}

@Suite struct TelnetServerTests {
    /// Raw bytes from `client` until `wanted` has arrived (or the stuck guard fails the test).
    private func readRaw(_ client: TestClient, until wanted: [UInt8]) throws -> [UInt8] {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(wanted) {
            var entry = pollfd(fd: client.connection.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, stuckAfterMilliseconds) == 1 else {
                throw TestFailure("no \(wanted) in \(received)")
            }
            let count = buffer.withUnsafeMutableBytes { recv(client.connection.fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw TestFailure("closed before \(wanted); got \(received)") }
            received += buffer[..<count]
        }
        return received
    }

    @Test func telnetCtrlCNeverReachesTheRoomAndIsAnswered() throws {
        let server = try RunningServer()
        let bob = try server.join(as: "bob")
        // A raw socket, as telnet is: everything it receives is read as bytes.
        let telnet = try server.connect()
        _ = try readRaw(telnet, until: Array("* you joined #lobby".utf8))
        try telnet.sendRaw(Array("before\r\n".utf8) + [0xFF, 0xF4, 0xFF, 0xFD, 0x06] + Array("after ctrl-c\r\n".utf8))
        let guest = try bob.waitFor { $0.hasSuffix("> before") }.dropFirst().prefix { $0 != ">" }
        #expect(try bob.next() == "<\(guest)> after ctrl-c")
        // IAC WONT TIMING-MARK comes back, so telnet stops discarding the server's output.
        try telnet.sendRaw(Array("/rooms\r\n".utf8))
        let answer = try readRaw(telnet, until: Array("* rooms (1)".utf8))
        #expect(answer.starts(with: [0xFF, 0xFC, 0x06]))
        #expect(answer.filter { $0 == 0xFF }.count == 1)  // answered once, and nothing else is IAC
    }

    @Test func theAnswerDoesNotWaitForTheEndOfTheLine() throws {
        let server = try RunningServer()
        let telnet = try server.connect()
        _ = try readRaw(telnet, until: Array("* you joined #lobby".utf8))
        // telnet sends the interrupt at once, mid-line, and discards output until answered.
        try telnet.sendRaw(Array("half a li".utf8) + [0xFF, 0xF4, 0xFF, 0xFD, 0x06])
        _ = try readRaw(telnet, until: [0xFF, 0xFC, 0x06])
    }
}
