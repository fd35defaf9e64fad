// The cluster's parts: the RESP codec, the redis:// parser, the channel payload format, and two
// in-process servers sharing a room through a real redis-server on a free loopback port.
// (Tests/cluster/cluster.py drives the real binaries through the failure cases.)
import Foundation
import Synchronization
import Testing
@testable import TCPChat

@Suite("RESP codec")
struct RESPTests {
    private func parse(_ text: String) throws -> (RESPValue, Int)? {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBytes { try RESP.parse($0, from: 0) }
    }

    @Test("each reply type parses, and the index after it is returned")
    func types() throws {
        #expect(try parse("+OK\r\n")! == (.simple("OK"), 5))
        #expect(try parse("-ERR no\r\n")!.0 == .error("ERR no"))
        #expect(try parse(":-42\r\n")!.0 == .integer(-42))
        #expect(try parse("$5\r\nhe\r\no\r\n")!.0 == .bulk(Array("he\r\no".utf8)))
        #expect(try parse("$-1\r\n")!.0 == .null)
        #expect(try parse("*-1\r\n")!.0 == .null)
        let nested = try parse("*3\r\n$7\r\nmessage\r\n*1\r\n:1\r\n$0\r\n\r\n+next\r\n")!
        #expect(nested.0 == .array([.bulk(Array("message".utf8)), .array([.integer(1)]), .bulk([])]))
        #expect(nested.1 == 31)  // the "+next" after it is not consumed
    }

    @Test("every proper prefix of a value is incomplete, not an error")
    func prefixes() throws {
        let whole = "*2\r\n$3\r\nabc\r\n*2\r\n:7\r\n+x\r\n"
        for length in 0..<whole.utf8.count {
            let prefix = Array(whole.utf8.prefix(length))
            #expect(try prefix.withUnsafeBytes { try RESP.parse($0, from: 0) } == nil, "prefix of \(length) bytes")
        }
        #expect(try parse(whole) != nil)
    }

    @Test("malformed and over-limit replies are protocol errors", arguments: [
        "?what\r\n", ":12x\r\n", "$3\r\nabcde\r\n", "$\(RESP.maxBulkBytes + 1)\r\n", "*\(RESP.maxArrayCount + 1)\r\n",
        String(repeating: "*1\r\n", count: RESP.maxDepth + 2) + ":1\r\n", "\r\n",
    ])
    func malformed(_ text: String) {
        #expect(throws: RESP.ProtocolError.self) { _ = try parse(text) }
    }

    @Test("a type line without CRLF longer than the limit is an error, not a wait")
    func endlessLine() {
        #expect(throws: RESP.ProtocolError.self) { _ = try parse("+" + String(repeating: "a", count: RESP.maxLineBytes + 2)) }
    }

    @Test("commands encode as arrays of bulk strings, byte counts in UTF-8")
    func encode() throws {
        var output: [UInt8] = []
        RESP.encode(["PUBLISH", "tcpchat:0:room:#x", "héllo"], into: &output)
        #expect(String(decoding: output, as: UTF8.self) == "*3\r\n$7\r\nPUBLISH\r\n$17\r\ntcpchat:0:room:#x\r\n$6\r\nhéllo\r\n")
    }
}

@Suite("redis:// addresses and channel payloads")
struct ClusterAddressTests {
    @Test("good addresses", arguments: [
        ("redis://127.0.0.1:6379/0", "127.0.0.1", 6379, 0),
        ("redis://localhost", "localhost", 6379, 0),
        ("redis://[::1]:7000/3", "::1", 7000, 3),
        ("redis://cache.internal:6380/", "cache.internal", 6380, 0),
    ])
    func good(_ url: String, _ host: String, _ port: Int, _ database: Int) throws {
        let endpoint = try RedisEndpoint(url: url)
        #expect(endpoint == RedisEndpoint(host: host, port: port, database: database))
    }

    @Test("bad addresses say what is wrong and what the form is", arguments: [
        "http://127.0.0.1:6379", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536", "redis://h:port",
        "redis://h:6379/16", "redis://h:6379/x", "redis://u:p@h:6379", "redis://[::1:6379",
    ])
    func bad(_ url: String) {
        do {
            _ = try RedisEndpoint(url: url)
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.description.contains("redis://HOST:PORT[/DB]"))
        }
    }

    @Test("payloads split into origin, kind and body; malformed ones are refused")
    func payloads() {
        let parts = ClusterLink.split(Array("ab12\tC\t<bob> hi\tthere\n".utf8))
        #expect(parts?.origin == "ab12" && parts?.kind == .chat && parts?.body == "<bob> hi\tthere\n")
        #expect(ClusterLink.split(Array("ab12\tX\tbody\n".utf8)) == nil)
        #expect(ClusterLink.split(Array("no tabs".utf8)) == nil)
        #expect(ClusterLink.split(Array("id\tC".utf8)) == nil)
        #expect(ClusterLink.isOneLine("<bob> hi\n"))
        #expect(!ClusterLink.isOneLine("<bob> hi\n* forged\n"))
        #expect(!ClusterLink.isOneLine("<bob> hi"))
    }
}

/// A redis-server of its own on a free loopback port, persistence off; killed on deinit.
/// (posix_spawn, not Foundation's Process: its waitUntilExit can hang in a test process.)
final class TestRedis {
    static let path = "/usr/bin/redis-server"
    let port: Int
    private var pid: pid_t = 0

    static var isInstalled: Bool { access(path, X_OK) == 0 }

    init() throws {
        port = try TestRedis.freePort()
        let arguments = [TestRedis.path, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, TestRedis.path, nil, nil, &argv, environ)
        guard rc == 0 else { throw TestFailure("cannot start redis-server: errno \(rc)") }
        for _ in 0..<400 {  // until it accepts connections (a guard, not a timing assertion)
            if let probe = try? ChatConnection.connect(host: "127.0.0.1", port: port) {
                probe.close()
                return
            }
            usleep(25_000)
        }
        throw TestFailure("redis-server did not start on port \(port)")
    }

    var url: String { "redis://127.0.0.1:\(port)/0" }

    private static func freePort() throws -> Int {
        let (fd, address) = try Socket.listen(host: "127.0.0.1", port: 0)
        close(fd)
        return address.port
    }

    deinit {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

@Suite("cluster through a real redis-server", .enabled(if: TestRedis.isInstalled, "needs redis-server (scripts/test installs it)"))
struct ClusterServerTests {
    /// A server in the cluster, returned once its link is up.
    private func member(of redis: TestRedis) throws -> RunningServer {
        let up = Atomic<Bool>(false)
        let server = try RunningServer { configuration in
            var cluster = ClusterConfiguration(redis: try! RedisEndpoint(url: redis.url))
            cluster.ttlSeconds = 2
            configuration.cluster = cluster
            configuration.log = { _, message in if message.hasPrefix("cluster link up") { up.store(true, ordering: .releasing) } }
        }
        for _ in 0..<400 where !up.load(ordering: .acquiring) { usleep(25_000) }
        guard up.load(ordering: .acquiring) else { throw TestFailure("the cluster link did not come up") }
        return server
    }

    @Test("two servers share #lobby: chat, /me, /msg, /who, nick uniqueness; each line once")
    func twoServers() throws {
        let redis = try TestRedis()
        let a = try member(of: redis), b = try member(of: redis)
        let alice = try a.join(as: "alice")
        let bob = try b.join(as: "bob")
        try alice.waitFor { $0 == "* bob joined #lobby" || $0.hasSuffix("is now known as bob") }

        try alice.send("hello from A")
        try bob.waitFor { $0 == "<alice> hello from A" }
        try bob.send("/me waves")
        try alice.waitFor { $0 == "* bob waves" }
        try alice.send("/msg bob psst")
        try bob.waitFor { $0 == "<alice -> bob> psst" }
        try alice.waitFor { $0 == "<alice -> bob> psst" }
        try bob.send("/nick Alice")
        try bob.waitFor { $0 == "! nick alice is taken; choose another" }  // named as its holder shows it
        try bob.send("/who")
        try bob.waitFor { $0 == "* people in #lobby (2): alice bob" }

        // Exactly once, and never back to the sender. Lines from one server reach another in
        // order (one Redis channel), so a later line is the barrier: a duplicate of "once", or
        // an echo of it to its sender, would come before "twice" / "ack".
        try alice.send("once")
        try alice.send("twice")
        var seen: [String] = []
        while seen.last != "<alice> twice" { seen.append(try bob.next()) }
        #expect(seen.filter { $0 == "<alice> once" }.count == 1, "bob saw \(seen)")
        try bob.send("ack")
        seen = []
        while seen.last != "<bob> ack" { seen.append(try alice.next()) }
        #expect(seen.allSatisfy { !$0.contains("once") && !$0.contains("twice") }, "alice saw \(seen)")
    }

    @Test("replies come in the order the commands were sent, though some wait for Redis")
    func pipelinedOrder() throws {
        let redis = try TestRedis()
        let a = try member(of: redis), b = try member(of: redis)
        let carol = try b.join(as: "carol")
        let dan = try a.join(as: "dan")
        // One write: cluster questions (/who, /rooms, /nick, /msg elsewhere, /join's history)
        // between commands answered on the spot (/help, an unknown command).
        try dan.sendRaw(Array("/who\n/help\n/rooms\n/bogus\n/nick dan2\n/msg carol hi\n/join #y\n/who\n".utf8))
        let starts = ["* people in #lobby", "* commands:", "* rooms (", "! unknown command", "* you are now known as dan2",
                      "<dan2 -> carol> hi", "* you joined #y", "* people in #y (1): dan2"]
        var order: [Int] = []
        while order.last != starts.count - 1 {
            let line = try dan.next()
            if let index = starts.firstIndex(where: { line.hasPrefix($0) }) { order.append(index) }
        }
        #expect(order == Array(0..<starts.count))
        try carol.waitFor { $0 == "<dan2 -> carol> hi" }
    }
}
