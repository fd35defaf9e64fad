// Lines of one read are fanned out as one batch (issue 19, TCPChatCore/LineBatch.swift): the
// receivers must still see every line once, in order, and anything the sender did between two
// lines (a rename, a private line) exactly where it happened.
import Testing
@testable import TCPChat

@Suite struct BatchingTests {
    @Test func otherEventsKeepTheirPlaceAmongBatchedLines() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        // One write: the server reads it at once, so the lines around the commands are batched.
        try alice.sendRaw(Array("one\ntwo\n/nick alicia\nthree\n/msg bob psst\nfour\n".utf8))
        var seen: [String] = []
        while seen.count < 6 {
            let line = try bob.next()
            if line.hasPrefix("<") || line.contains("is now known as") { seen.append(line) }
        }
        #expect(seen == ["<alice> one", "<alice> two", "* alice is now known as alicia", "<alicia> three",
                         "<alicia -> bob> psst", "<alicia> four"])
    }

    @Test func aBurstPastTheBatchLimitArrivesWholeAndInOrder() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        let count = 300  // ~3 × LineBatch.limit in one write
        let text = (0..<count).map { "line \($0) " + String(repeating: "x", count: 40) + "\n" }.joined()
        try alice.sendRaw(Array(text.utf8))
        var received: [String] = []
        while received.count < count {
            let line = try bob.next()
            if line.hasPrefix("<alice> ") { received.append(line) }
        }
        #expect(received == (0..<count).map { "<alice> line \($0) " + String(repeating: "x", count: 40) })
    }
}
