// Accounts (issue 20) through the Swift API: ChatServerConfiguration.accountsPath enables
// /register, /identify and /ghost; the host's onEvent hears `.identified`; a registered nick
// taken by someone else is renamed after the grace period; the side table of the accounts
// empties as sessions leave. Plus the parts with no socket: the command grammar, the network
// ranges of the plaintext rule, the scrypt hash. (The real server binary, TLS, the full disk
// and bad databases: Tests/accounts/accounts_test.py.)
import Foundation
import Synchronization
import Testing
@testable import TCPChat
@testable import TCPChatCore

/// A fresh directory for one test's database, removed when it ends.
final class TemporaryDirectory {
    let path: String
    init() {
        var template = Array("/tmp/tcpchat-swift-accounts-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("Accounts")
struct AccountTests {
    let password = "correct-horse"

    @Test("register, identify with a nick, ghost: the host hears .identified each time, with the account and how")
    func identifiedEvents() throws {
        let directory = TemporaryDirectory()
        let log = EventLog()
        let running = try RunningServer { configuration in
            configuration.accountsPath = directory.path + "/accounts.db"
            configuration.scryptCost = 12
            configuration.nickGraceMilliseconds = 600_000
            configuration.onEvent = { log.append($0) }
        }
        let ada = try running.join(as: "ada")
        try ada.send("/register \(password)")
        _ = try ada.waitFor { $0 == "* you are now identified as ada" }
        let registered = try log.waitFor { $0.kind == .identified }
        #expect(registered.text == "ada" && registered.reason == "registered" && registered.nick == "ada")

        let bob = try running.join(as: "bob")
        try bob.send("/identify ada \(password)")
        #expect(try bob.next() == "! ada is in use by another session; /ghost ada PASSWORD disconnects it")
        try bob.send("/ghost ada \(password)")
        // Everyone in the room (bob too) hears why ada left; then bob takes the nick.
        #expect(try bob.next() == "* ada left (ghosted by bob)")
        #expect(try bob.next() == "* the session holding ada was disconnected")
        #expect(try bob.next() == "* you are now known as ada")
        #expect(try bob.next() == "* you are now identified as ada")
        let (lines, _) = try ada.readUntilClosed()
        #expect(lines.contains("! disconnected: ghosted by bob"))
        let ghost = try log.waitFor { $0.kind == .identified && $0.reason == "ghost" }
        #expect(ghost.text == "ada" && ghost.nick == "ada")
        #expect(HostEvent.Kind.identified.rawValue == 11)
    }

    @Test("a registered nick taken by someone else: told at once, renamed to a guest after the grace period")
    func graceRename() throws {
        let directory = TemporaryDirectory()
        let running = try RunningServer { configuration in
            configuration.accountsPath = directory.path + "/accounts.db"
            configuration.scryptCost = 12
            configuration.nickGraceMilliseconds = 200
        }
        let rita = try running.join(as: "rita")
        try rita.send("/register \(password)")
        _ = try rita.waitFor { $0 == "* you are now identified as rita" }
        rita.close()
        let taker = try running.join()
        try taker.send("/nick rita")
        #expect(try taker.next() == "* you are now known as rita")
        #expect(try taker.next() == "* rita is registered; /identify PASSWORD within 1 s or you will be renamed")
        let renamed = try taker.next()
        #expect(renamed.hasPrefix("* rita is registered and you did not identify within 1 s; you are now known as guest"))
        // Once everyone left, the accounts keep nothing of them.
        taker.close()
        let watcher = try running.join()
        _ = try watcher.linesBeforeSync()
        let tracked = try onLoop(running.server) { $0.core.accounts?.trackedSessions ?? -1 }
        #expect(tracked == 0)
    }

    @Test("a server that served accounts lets go of everything once stopped (store, worker, database)")
    func nothingLeaks() throws {
        let directory = TemporaryDirectory()
        weak var store: SQLiteAccountStore?
        weak var service: AccountService?
        weak var weakServer: ChatServer?
        do {
            var configuration = ChatServerConfiguration()
            configuration.host = "127.0.0.1"
            configuration.port = 0
            configuration.scryptCost = 12
            configuration.accountsPath = directory.path + "/accounts.db"
            let server = try ChatServer(configuration: configuration)
            weakServer = server
            service = server.core.accounts
            store = service?.settings.store as? SQLiteAccountStore
            #expect(store != nil)
            try server.start()
            try AccountTests.useAccountsThenStop(server, password: password)
        }
        #expect(weakServer == nil)
        #expect(service == nil)
        #expect(store == nil)
    }

    @Test("without accountsPath the commands say the server keeps no accounts")
    func disabled() throws {
        let running = try RunningServer()
        let ada = try running.join(as: "ada")
        try ada.send("/register \(password)")
        #expect(try ada.next() == "! this server keeps no accounts (the operator can enable them with --accounts)")
    }

    @Test("the account worker's queue is bounded: past its limit a job is refused at once, not queued")
    func workerQueueBound() throws {
        let worker = AccountWorker(limit: 2)
        try worker.start()
        let gate = Gate()
        let ran = Counter()
        // The first job holds the worker until the gate opens: the next ones wait in the queue.
        #expect(worker.submit { gate.wait(); ran.add() })
        while worker.waiting > 0 { usleep(1000) }  // the worker took it
        #expect(worker.submit { ran.add() })
        #expect(worker.submit { ran.add() })
        #expect(!worker.submit { ran.add() })  // the limit: refused
        #expect(worker.waiting == 2)
        gate.open()
        while ran.value < 3 { usleep(1000) }
        #expect(worker.submit { ran.add() })
        worker.stop()
        #expect(!worker.submit { ran.add() })  // stopped: refused
    }

    @Test("a quick job (a nick lookup) is accepted while the slow lane is full, and runs before the slow jobs waiting")
    func workerQuickLane() throws {
        let worker = AccountWorker(limit: 2)
        try worker.start()
        let gate = Gate()
        let order = Mutex<[String]>([])
        #expect(worker.submit { gate.wait() })
        while worker.waiting > 0 { usleep(1000) }
        #expect(worker.submit { order.withLock { $0.append("slow1") } })
        #expect(worker.submit { order.withLock { $0.append("slow2") } })
        #expect(!worker.submit { order.withLock { $0.append("slow3") } })  // the slow lane is full
        #expect(worker.submit(quick: true) { order.withLock { $0.append("quick") } })
        gate.open()
        while order.withLock({ $0.count }) < 3 { usleep(1000) }
        #expect(order.withLock { $0 } == ["quick", "slow1", "slow2"])
        worker.stop()
    }

    @Test("a quarter of the slow lane is kept for the owner's checks: a flood of others is refused before it")
    func workerReserve() throws {
        let worker = AccountWorker(limit: 4)
        try worker.start()
        let gate = Gate()
        #expect(worker.reserve == 1)
        #expect(worker.submit { gate.wait() })
        while worker.waiting > 0 { usleep(1000) }
        for _ in 0..<3 { #expect(worker.submit {}) }
        #expect(!worker.submit {})  // only the reserve is left
        #expect(worker.submit(reserved: true) {})
        #expect(!worker.submit(reserved: true) {})
        gate.open()
        worker.stop()
    }

    @Test("the queue-full warning is logged at most once per 10 s, with the count refused since")
    func busyWarningRateLimited() {
        var warning = BusyWarning()
        #expect(warning.refusal(now: 0) == "accounts: the account queue is full; a request was refused")
        for now in 1...119 { #expect(warning.refusal(now: Int64(now)) == nil) }
        #expect(warning.refusal(now: 10_000) == "accounts: the account queue is full; 120 requests were refused since the last warning")
        #expect(warning.refusal(now: 10_001) == nil)
    }

    @Test("the per-address limits key IPv6 peers by /64, IPv4 (mapped or not) by the address")
    func limitKeys() {
        #expect(NetworkPrefix.limitKey("2001:db8:0:1::5") == "2001:db8:0:1::/64")
        #expect(NetworkPrefix.limitKey("2001:db8:0:1:ffff:1:2:3") == "2001:db8:0:1::/64")
        #expect(NetworkPrefix.limitKey("::1") == "0:0:0:0::/64")
        #expect(NetworkPrefix.limitKey("192.0.2.7") == "192.0.2.7")
        #expect(NetworkPrefix.limitKey("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(NetworkPrefix.limitKey("local") == "local")
    }

    @Test("a job the worker took is let go at once (with the password it captured), not kept until its queue compacts")
    func workerLetsJobsGo() throws {
        final class Secret: @unchecked Sendable {}
        let worker = AccountWorker(limit: 64)
        try worker.start()
        weak var weakSecret: Secret?
        let ran = Counter()
        do {
            let secret = Secret()
            weakSecret = secret
            #expect(worker.submit { _ = secret; ran.add() })
        }
        let gate = Gate()
        #expect(worker.submit { ran.add(); gate.wait() })  // a later job holds the lane open
        while ran.value < 2 { usleep(1000) }  // the worker is past the first job
        #expect(weakSecret == nil)
        gate.open()
        worker.stop()
    }

    @Test("PasswordHash.wipe zeros the bytes")
    func wipe() {
        var bytes: [UInt8] = Array("secret-password".utf8)
        PasswordHash.wipe(&bytes)
        #expect(bytes.allSatisfy { $0 == 0 } && bytes.count == 15)
    }

    @Test("the grammar of /register, /identify and /ghost")
    func grammar() {
        #expect(Command.parse("/register pw123456") == .register(password: "pw123456"))
        #expect(Command.parse("/register two words") == .invalid("usage: /register PASSWORD (one word)"))
        #expect(Command.parse("/identify pw123456") == .identify(nick: nil, password: "pw123456"))
        #expect(Command.parse("/IDENTIFY rita pw123456") == .identify(nick: "rita", password: "pw123456"))
        #expect(Command.parse("/identify") == .invalid("usage: /identify [NICK] PASSWORD"))
        #expect(Command.parse("/ghost rita pw123456") == .ghost(nick: "rita", password: "pw123456"))
        #expect(Command.parse("/ghost rita") == .invalid("usage: /ghost NICK PASSWORD"))
    }

    @Test("which peers may send passwords over plaintext: CIDR ranges, IPv4-mapped IPv6 as IPv4")
    func networkRanges() {
        let loopback = NetworkPrefix.loopback
        for host in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            #expect(loopback.contains { $0.contains(host) }, "\(host)")
        }
        for host in ["10.0.0.1", "::2", "::ffff:10.0.0.1", "128.0.0.1", "nonsense"] {
            #expect(!loopback.contains { $0.contains(host) }, "\(host)")
        }
        #expect(NetworkPrefix("10.0.0.0/8")!.contains("10.200.0.1"))
        #expect(!NetworkPrefix("10.0.0.0/9")!.contains("10.200.0.1"))
        #expect(NetworkPrefix("fd00::/8")!.contains("fd12::1"))
        #expect(NetworkPrefix("10.0.0.0/33") == nil && NetworkPrefix("bad") == nil)
    }

    @Test("scrypt: the same password matches, another does not; salts differ")
    func hashing() throws {
        let parameters = ScryptParameters(cost: 10)
        let one = try PasswordHash.make("hunter2hunter2", parameters).get()
        let two = try PasswordHash.make("hunter2hunter2", parameters).get()
        #expect(one.salt.count == 16 && one.hash.count == 32)
        #expect(one.salt != two.salt && one.hash != two.hash)
        #expect(try one.matches("hunter2hunter2").get())
        #expect(try !one.matches("hunter2hunter3").get())
    }
}

/// Runs `body` on the server's loop thread and returns what it returned.
final class LoopAnswer<T: Sendable>: Sendable {
    let value = Mutex<T?>(nil)
}

func onLoop<T: Sendable>(_ server: ChatServer, _ body: @escaping @Sendable (ChatServer) -> T) throws -> T {
    let slot = LoopAnswer<T>()
    server.loop.execute { let answer = body(server); slot.value.withLock { $0 = answer } }
    for _ in 0..<1000 {
        if let value = slot.value.withLock({ $0 }) { return value }
        usleep(10_000)
    }
    throw TestFailure("the loop did not run the task")
}

/// A one-shot gate between threads.
final class Gate: Sendable {
    private let isOpen = Mutex(false)
    func open() { isOpen.withLock { $0 = true } }
    func wait() { while !isOpen.withLock({ $0 }) { usleep(1000) } }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

extension AccountTests {
    /// Registers ada, identifies again after a rename (a lookup the worker may still hold when
    /// the server stops), renames once more, then stops the server: what the leak tests of
    /// both stores (SQLite, Redis) do before they check that everything was let go.
    static func useAccountsThenStop(_ server: ChatServer, password: String) throws {
        let client = try TestClient(host: "127.0.0.1", port: server.port)
        _ = try client.waitFor { $0.hasPrefix("* you joined") }
        try client.send("/nick ada")
        try client.send("/register \(password)")
        _ = try client.waitFor { $0 == "* you are now identified as ada" }
        try client.send("/nick bob")
        try client.send("/identify ada \(password)")
        _ = try client.waitFor { $0 == "* you are now identified as ada" }
        try client.send("/nick carol")
        client.close()
        server.stop()
        server.wait()
    }
}
