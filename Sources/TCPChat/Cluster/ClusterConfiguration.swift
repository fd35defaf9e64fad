// What a server needs to join a cluster: where Redis is, how long its claims live without a
// heartbeat, and how much may wait to be written to Redis.

/// A parsed `redis://HOST[:PORT][/DB]` address.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int

    public init(host: String, port: Int = 6379, database: Int = 0) {
        self.host = host
        self.port = port
        self.database = database
    }

    /// Parses `redis://HOST[:PORT][/DB]`; IPv6 hosts go in brackets (`redis://[::1]:6379`).
    /// Throws a message that says what is wrong and what the form is.
    public init(url: String) throws(ChatServerError) {
        let form = "use redis://HOST:PORT[/DB], e.g. redis://127.0.0.1:6379/0"
        func bad(_ problem: String) -> ChatServerError { .invalidConfiguration("cluster address \(url): \(problem); \(form)") }
        guard url.hasPrefix("redis://") else { throw bad("not a redis:// URL") }
        var rest = Substring(url.dropFirst("redis://".count))
        if rest.contains("@") { throw bad("user names and passwords are not supported") }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let digits = rest[rest.index(after: slash)...]
            if !digits.isEmpty {
                guard let number = Int(digits), (0...15).contains(number) else { throw bad("the database must be a number 0-15") }
                database = number
            }
            rest = rest[..<slash]
        }
        var host = rest
        var port = 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("no ] after the IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { throw bad("bad port") }
                port = number
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            guard let number = Int(rest[rest.index(after: colon)...]) else { throw bad("bad port") }
            port = number
        }
        guard !host.isEmpty else { throw bad("no host") }
        guard (1...65535).contains(port) else { throw bad("the port must be 1-65535") }
        self.init(host: String(host), port: port, database: database)
    }

    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "redis://\(shown):\(port)/\(database)"
    }
}

public struct ClusterConfiguration: Sendable {
    /// The Redis server every server of the cluster shares.
    public var redis: RedisEndpoint
    /// A server's nicks and its liveness key expire this long after its last heartbeat
    /// (heartbeats go every third of it): how long a dead server's people linger.
    public var ttlSeconds: Int = ClusterConfiguration.defaultTTLSeconds
    /// Bytes that may wait to be written to Redis. Past it, publications are dropped (counted
    /// and logged) until Redis has read what is queued: the chat on this server goes on.
    public var maxQueueBytes: Int = ClusterConfiguration.defaultMaxQueueBytes

    public static let defaultTTLSeconds = 15
    public static let defaultMaxQueueBytes = 8 << 20

    public init(redis: RedisEndpoint) {
        self.redis = redis
    }

    func problem() -> String? {
        if !(1...3600).contains(ttlSeconds) { return "cluster TTL must be 1-3600 seconds (got \(ttlSeconds))" }
        if maxQueueBytes < 64 * 1024 { return "cluster queue must be at least 65536 bytes (got \(maxQueueBytes))" }
        return nil
    }
}
