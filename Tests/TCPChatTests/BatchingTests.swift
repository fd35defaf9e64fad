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

    /// A plain chat line is kept in the room's history as its nick and bytes, written over the
    /// oldest entry (Room.recordSaid); an action or a line that is not plain ASCII as an event.
    /// A ring of 4 written over twice, every kind over every other and a long line over a
    /// short one: the newcomer's replay is the last 4, in order, as they were said.
    @Test func historyOfBatchedLinesIsReplayedAsSaid() throws {
        let server = try RunningServer { $0.historyLength = 4 }
        let alice = try server.join(as: "alice")
        let long = String(repeating: "x", count: 300)
        try alice.sendRaw(Array("a1\n/me waves\na2\na3\na4 é\nb\n\(long)\n/me nods\nc\n".utf8))
        _ = try alice.linesBeforeSync()
        let bob = try server.connect()
        _ = try bob.waitFor { $0.hasPrefix("* you joined") }
        #expect(try (0..<4).map { _ in try bob.next() } == [
            "* history: <alice> b", "* history: <alice> \(long)", "* history: * alice nods", "* history: <alice> c",
        ])
        // Once more around the ring, from a read of its own: the same storage, shorter lines.
        try alice.sendRaw(Array("d\n/me sits\ne é\nf\n".utf8))
        _ = try alice.linesBeforeSync()
        let carol = try server.connect()
        _ = try carol.waitFor { $0.hasPrefix("* you joined") }
        #expect(try (0..<4).map { _ in try carol.next() } == [
            "* history: <alice> d", "* history: * alice sits", "* history: <alice> e é", "* history: <alice> f",
        ])
    }

    @Test func aBurstPastTheBatchLimitArrivesWholeAndInOrder() throws {
        let server = try RunningServer()
        let alice = try server.join(as: "alice")
        let bob = try server.join(as: "bob")
        let count = 600  // ~5 × LineBatch.limit (~39 KB rendered) in one write
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
