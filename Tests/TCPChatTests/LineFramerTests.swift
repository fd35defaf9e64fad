import Testing
@testable import TCPChat

@Suite struct LineFramerTests {
    /// Feeds `chunks` and returns the lines (as strings) and overlong markers seen.
    func frame(_ chunks: [[UInt8]], max: Int = 4096) -> [String] {
        var framer = LineFramer(maxLineBytes: max)
        var out: [String] = []
        for chunk in chunks {
            chunk.withUnsafeBytes { bytes in
                framer.feed(bytes) { event in
                    switch event {
                    case .line(let line): out.append(String(decoding: line, as: UTF8.self))
                    case .overlong: out.append("<overlong>")
                    }
                }
            }
        }
        return out
    }

    @Test func lineSplitOverManyReads() {
        let text = Array("hello, world\n".utf8)
        #expect(frame(text.map { [$0] }) == ["hello, world"])
    }

    @Test func hundredLinesInOneRead() {
        let text = (1...100).map { "line \($0)\n" }.joined()
        let lines = frame([Array(text.utf8)])
        #expect(lines.count == 100)
        #expect(lines.first == "line 1" && lines.last == "line 100")
    }

    @Test func crlfAndEmptyLines() {
        #expect(frame([Array("a\r\n\r\n\nb\n".utf8)]) == ["a", "b"])
    }

    @Test func bareCRInsideALineIsKeptForTheSanitizer() {
        #expect(frame([Array("a\rb\n".utf8)]) == ["a\rb"])
    }

    @Test func overlongLineIsReportedOnceAndDiscarded() {
        let long = [UInt8](repeating: 0x41, count: 100)
        let lines = frame([Array(long[0..<40]), Array(long[40..<100]), Array("tail\nnext\n".utf8)], max: 16)
        #expect(lines == ["<overlong>", "next"])
    }

    @Test func overlongLineDoesNotBuffer() {
        var framer = LineFramer(maxLineBytes: 16)
        let chunk = [UInt8](repeating: 0x41, count: 1000)
        for _ in 0..<100 { chunk.withUnsafeBytes { framer.feed($0) { _ in } } }
        #expect(framer.bufferedBytes == 0)
    }

    @Test func overlongLineWithinOneRead() {
        let lines = frame([Array((String(repeating: "x", count: 20) + "\nok\n").utf8)], max: 16)
        #expect(lines == ["<overlong>", "ok"])
    }

    @Test func finishDeliversALastLineWithoutNewline() {
        var framer = LineFramer(maxLineBytes: 16)
        var lines: [String] = []
        let collect: (LineFramer.Event) -> Void = { if case .line(let l) = $0 { lines.append(String(decoding: l, as: UTF8.self)) } }
        Array("one\ntwo".utf8).withUnsafeBytes { framer.feed($0, collect) }
        framer.finish(collect)
        framer.finish(collect)  // nothing left the second time
        #expect(lines == ["one", "two"])
        #expect(framer.bufferedBytes == 0)
    }

    @Test func exactlyMaxBytesWithCRLFIsAccepted() {
        let line = String(repeating: "y", count: 16)
        #expect(frame([Array((line + "\r\n").utf8)], max: 16) == [line])
        #expect(frame([Array(line.utf8), Array("\r\n".utf8)], max: 16) == [line])
    }
}
