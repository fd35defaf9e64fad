// Accounts in a cluster (branch acct-irc): RedisAccountStore against a real redis-server on a
// free loopback port (TestRedis, ClusterTests.swift), in-process servers started with
// `clusterAccounts`. Two servers' stores race to create the same account through their own
// Redis connections: exactly one wins, whatever the interleaving (the Lua script decides); a
// server that served cluster accounts lets go of its store once stopped.
#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import TCPChat
import TCPChatCore

@Suite("accounts in a cluster, through a real redis-server", .enabled(if: TestRedis.isInstalled, "needs redis-server (scripts/test installs it)"))
struct ClusterAccountsTests {
    /// A server with cluster accounts, returned once its link is up.
    private func member(of redis: TestRedis) throws -> ChatServer {
        let up = Atomic<Bool>(false)
        var configuration = ChatServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        var cluster = ClusterConfiguration(redis: try RedisEndpoint(url: redis.url))
        cluster.ttlSeconds = 2
        configuration.cluster = cluster
        configuration.clusterAccounts = true
        configuration.scryptCost = 10
        configuration.log = { _, message in if message.hasPrefix("cluster link up") { up.store(true, ordering: .releasing) } }
        let server = try ChatServer(configuration: configuration)
        try server.start()
        for _ in 0..<400 where !up.load(ordering: .acquiring) { usleep(25_000) }  // a guard, not a timing assertion
        guard up.load(ordering: .acquiring) else { throw TestFailure("the cluster link did not come up") }
        return server
    }

    @Test("two servers create the same account (or two with one skeleton) at once: exactly one is created, the other is told it exists")
    func registerRace() throws {
        let redis = try TestRedis()
        let a = try member(of: redis), b = try member(of: redis)
        defer { a.stop(); a.wait(); b.stop(); b.wait() }
        let outcomes = Mutex<[String: AccountCreation]>([:])
        for round in 0..<10 {
            outcomes.withLock { $0 = [:] }
            // Even rounds: one key (duel0 and DUEL0). Odd rounds: two keys with one skeleton, as
            // two look-alike nicks (rita, rіta) will have once UTS #39 skeletons land.
            let skeleton = "duel\(round)"
            let contenders = round % 2 == 0 ? [(a, "duel\(round)", skeleton), (b, "DUEL\(round)", skeleton)]
                                            : [(a, "duel\(round)", "duel\(round)"), (b, "dueI\(round)", "duei\(round)")]
            for (server, name, key) in contenders {
                server.loop.execute { [weak server] in
                    guard let store = server?.core.accounts?.settings.store else { return }
                    store.create(name: name, key: key, skeleton: skeleton, password: "correct-horse-battery") { result in
                        if case .success(let creation) = result { outcomes.withLock { $0[name] = creation } }
                    }
                }
            }
            for _ in 0..<800 where outcomes.withLock({ $0.count }) < 2 { usleep(10_000) }
            let both = outcomes.withLock { $0 }
            #expect(both.count == 2, "round \(round): \(both)")
            let created = both.values.compactMap { if case .created(let record) = $0 { return record } else { return nil } }
            let existing = both.values.compactMap { if case .exists(let record) = $0 { return record } else { return nil } }
            #expect(created.count == 1 && existing.count == 1, "round \(round): \(both)")
            #expect(created.first?.name == existing.first?.name, "the loser is told the winner's account: \(both)")
        }
    }

    @Test("a server that served cluster accounts lets go of its store and service once stopped")
    func nothingLeaks() throws {
        let redis = try TestRedis()
        weak var store: RedisAccountStore?
        weak var service: AccountService?
        weak var weakServer: ChatServer?
        do {
            let server = try member(of: redis)
            weakServer = server
            service = server.core.accounts
            store = service?.settings.store as? RedisAccountStore
            #expect(store != nil)
            try AccountTests.useAccountsThenStop(server, password: "correct-horse-battery")
        }
        #expect(weakServer == nil)
        #expect(service == nil)
        #expect(store == nil)
    }
}
