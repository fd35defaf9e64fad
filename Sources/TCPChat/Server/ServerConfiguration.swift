// Everything a server can be told. Every limit has a default (the brief's table) and a flag in
// tcpchat-server; docs/PROTOCOL.md says what a client sees at each limit.

public struct ChatServerConfiguration: Sendable {
    /// Address to bind; nil or empty = all interfaces (`[::]` dual-stack, else `0.0.0.0`).
    public var host: String? = nil
    /// Port to bind; 0 = any free port (read the real one from `ChatServer.port`).
    public var port: Int = 6789
    /// Connections beyond this get an error line and are closed.
    public var maxClients: Int = 10_000
    /// Longest accepted line in bytes, without its terminator.
    public var maxLineBytes: Int = 4096
    /// A client whose unsent output passes this many bytes is disconnected.
    /// Each queued line counts its bytes plus 80 bytes of bookkeeping: the cap bounds memory.
    public var maxQueueBytes: Int = 256 * 1024
    /// The soft mark: a client whose unsent output passes this many bytes (counted as for
    /// `maxQueueBytes`) and whose socket does not take it is congested. While it is, and its
    /// peer is still reading (acknowledges data), the server stops reading from the clients
    /// whose lines are queued to it (backpressure), until it drains to half the mark, for
    /// `softQueueSeconds` at a time; a client that took less than this many bytes in that time
    /// is disconnected as a slow reader. Values at or above `maxQueueBytes` turn the soft mark
    /// off (the hard cap alone applies).
    public var softQueueBytes: Int = 64 * 1024
    /// The soft time: the longest a congested client holds its senders back at a time, and the
    /// period over which it must take `softQueueBytes` not to be disconnected; fractions
    /// allowed (at least 0.01).
    public var softQueueSeconds: Double = 10
    /// Lines of history a room keeps and replays to people who join.
    public var historyLength: Int = 20
    /// Rooms with more members than this do not announce joins, leaves and nick changes
    /// (chat and /me are always relayed); 0 = always announce.
    public var announceLimit: Int = 1000
    /// How to read lines that are not valid UTF-8.
    public var fallbackEncoding: FallbackEncoding = .none
    /// Flood control: lines a client may send per second once its burst is spent. A client
    /// over it is not dropped: the server reads from it more slowly. 0 = no limit.
    public var linesPerSecond: Double = 10
    /// Flood control: lines a client may send at once before `linesPerSecond` applies.
    public var burstLines: Int = 20
    /// Connections allowed from one IP address (loopback included); 0 = no cap.
    public var maxConnectionsPerAddress: Int = 256
    /// A client that sends no line within this many seconds of connecting is disconnected;
    /// 0 = no deadline.
    public var firstLineTimeoutSeconds: Int = 0
    /// A client that sends nothing for this many seconds is disconnected; 0 = never.
    /// (TCP keepalive is always on, so dead peers are found even with this off.)
    public var idleTimeoutSeconds: Int = 0
    /// IRC on the same port: a new connection is given this many milliseconds to send its
    /// first line before it is taken for the line protocol and welcomed; a first line that
    /// opens IRC (`CAP LS`, `NICK x`, `USER ...`, `PASS x`) makes it an IRC connection (even
    /// after the delay: the guest it was given then leaves). 0 = no
    /// IRC: the line protocol's welcome goes out at connect. See docs/PROTOCOL.md.
    public var ircDetectionMilliseconds: Int = 50
    /// The server's name in IRC replies (`:NAME 001 ...`).
    public var ircServerName: String = "tcpchat"
    /// IRC operators: OPER NAME PASSWORD (for WALLOPS). Empty: nobody may OPER.
    public var ircOperators: [String: String] = [:]
    /// A password every client must give before it chats; nil = none. IRC clients send
    /// `PASS SECRET` before NICK/USER (else 464 and ERROR, then closed); a line-protocol
    /// client's first line must be `/pass SECRET` (else an error line, then closed). Compared
    /// in constant time. See docs/PROTOCOL.md, "Password".
    public var password: String? = nil
    /// How long a graceful stop waits for queues to flush, in milliseconds.
    public var shutdownGraceMilliseconds: Int = 1000
    /// Join a cluster of servers that share rooms, nicks and history through Redis; nil = serve
    /// alone (nothing of Redis is used). See docs/ARCHITECTURE.md, "Cluster".
    public var cluster: ClusterConfiguration? = nil
    /// Receives diagnostics on the loop thread. The library never prints.
    public var log: (@Sendable (LogLevel, String) -> Void)? = nil
    /// Receives every chat line (not commands) said on this server (not lines relayed from the
    /// other servers of a cluster), on the loop thread, after it was relayed.
    public var onMessage: (@Sendable (ChatMessage) -> Void)? = nil
    /// Receives what every client of this server does (HostEvent.Kind lists it), on the loop
    /// thread, as it happens: per connection id, `.connected` first and `.disconnected` last.
    /// `onMessage` sees a subset of it (the `.said` events). May call the server's host
    /// control methods (`send`, `kick`, `say`, ...).
    public var onEvent: (@Sendable (HostEvent) -> Void)? = nil
    /// Called before the server acts on what a client asked (chat, /me, /msg, /nick, /join and
    /// commands the server does not know), on the loop thread: accept, reject with a reason,
    /// replace the text, or drop (the host took it). See FilterVerdict.
    public var filter: (@Sendable (HostEvent) -> FilterVerdict)? = nil
    /// Called with each new connection's peer address ("127.0.0.1:50312") before it is
    /// admitted, on the loop thread: nil admits it; a reason refuses it (the client gets it as
    /// an error line, then is closed; no event is sent for it).
    public var acceptConnection: (@Sendable (String) -> String?)? = nil

    // TLS (docs/PROTOCOL.md, "TLS"): a second listener whose connections speak TLS (OpenSSL 3,
    // TLS 1.2 or later), then the same protocols (the line protocol, IRC) as the plaintext one.
    /// PEM certificate chain (the server's certificate first, then intermediates) and PEM
    /// private key: both set = a TLS listener on `tlsPort`; both nil = no TLS.
    public var tlsCertificateFile: String? = nil
    public var tlsKeyFile: String? = nil
    /// The TLS listener's port (IRC's 6697 by default); 0 = any free port (`ChatServer.tlsPort`).
    public var tlsPort: Int = 6697
    /// The plaintext listener on `port`; false = TLS only (needs the TLS files).
    public var plaintextListener: Bool = true
    /// A TLS connection that has not completed its handshake within this many milliseconds is
    /// closed (a client that stalls in the handshake holds nothing longer); 0 = no deadline.
    public var tlsHandshakeTimeoutMilliseconds: Int = 10_000

    // Accounts (issue 20; docs/PROTOCOL.md, "Accounts"): /register, /identify, /ghost, and
    // registered nicks only their owner may keep.
    /// The SQLite database of accounts, created (mode 0600) when missing; nil = no accounts.
    /// A file that cannot be used (corrupt, not a database, unreadable) makes the server's
    /// init throw `invalidConfiguration`, naming the file and what SQLite said.
    public var accountsPath: String? = nil
    /// Accept passwords over plaintext connections from any peer. Off: only over TLS, or
    /// from the peers of `plaintextPasswordNetworks` (loopback).
    public var allowPlaintextPasswords: Bool = false
    /// Peers that may send a password over plaintext even when `allowPlaintextPasswords` is
    /// off, as CIDR ranges ("127.0.0.0/8", "::1/128": loopback, where nothing crosses a wire);
    /// empty = none (every plaintext password is refused).
    public var plaintextPasswordNetworks: [String] = ["127.0.0.0/8", "::1/128"]
    /// Someone holding a registered nick (or a look-alike) without identifying is renamed to
    /// a guest after this many milliseconds.
    public var nickGraceMilliseconds: Int = 30_000
    /// Account requests (hashing, the database) waiting for the account worker; past it a
    /// request is refused with "server busy, try again in a moment".
    public var accountQueueLimit: Int = 64
    /// Accounts one IP address may register per hour.
    public var registrationsPerHour: Int = 3
    /// IP addresses whose failed logins and registrations are remembered (for an hour); past
    /// it the least recently seen is forgotten.
    public var accountAddressLimit: Int = 4096
    /// scrypt's cost as log2(N) (r = 8, p = 1): memory per hash 128 * 2^cost * 8 bytes (15 =
    /// 32 MiB). Raising it rehashes each password at its owner's next identify.
    public var scryptCost: Int = 15
    /// Accounts in a cluster (branch acct-irc): keep them in the cluster's Redis (a hash per
    /// account), so every server agrees; needs `cluster`. `accountsPath` (SQLite) is refused
    /// with a cluster: two servers with files of their own would each let a nick be registered.
    public var clusterAccounts: Bool = false

    public init() {}

    /// Why this configuration cannot be used, or nil.
    public func problem() -> String? {
        if port < 0 || port > 65535 { return "port must be 0-65535 (got \(port))" }
        if maxClients < 1 { return "max clients must be at least 1 (got \(maxClients))" }
        if maxLineBytes < 16 || maxLineBytes > 1 << 24 { return "max line must be 16 bytes to 16 MiB (got \(maxLineBytes))" }
        // A relayed line can grow to 3x its bytes once cleaned (each invalid byte becomes the
        // 3-byte U+FFFD) plus a nick: the queue must hold a few such lines.
        if maxQueueBytes < maxLineBytes * 8 { return "max queue must be at least 8 times max line (\(maxLineBytes * 8) bytes; got \(maxQueueBytes))" }
        if softQueueBytes < 1 { return "soft queue must be at least 1 byte (got \(softQueueBytes))" }
        if !(softQueueSeconds >= 0.01 && softQueueSeconds <= 31_536_000) { return "soft seconds must be 0.01 to 31536000 (got \(softQueueSeconds))" }
        if historyLength < 0 || historyLength > 10_000 { return "history must be 0-10000 lines (got \(historyLength))" }
        if ircServerName.isEmpty || ircServerName.contains(where: { $0 == " " || $0 == ":" || $0.isNewline }) { return "IRC server name must be one word without ':' (got \(ircServerName))" }
        if !(0...10_000).contains(ircDetectionMilliseconds) { return "IRC detection must be 0 (off) to 10000 ms (got \(ircDetectionMilliseconds))" }
        if let password, password.isEmpty || password.utf8.count > 256 || password.contains(where: { $0 == " " || $0.isNewline }) {
            return "password must be 1 to 256 bytes without spaces or line breaks"
        }
        if shutdownGraceMilliseconds < 0 { return "shutdown grace must not be negative" }
        if !(linesPerSecond == 0 || (linesPerSecond >= 0.001 && linesPerSecond <= 1_000_000)) { return "rate must be 0 (no limit) or 0.001 to 1000000 lines per second (got \(linesPerSecond))" }
        if announceLimit < 0 { return "announce limit must be 0 (always) or more members (got \(announceLimit))" }
        if burstLines < 1 { return "burst must be at least 1 line (got \(burstLines))" }
        if maxConnectionsPerAddress < 0 { return "max per address must be 0 (no cap) or more (got \(maxConnectionsPerAddress))" }
        if !(0...31_536_000).contains(firstLineTimeoutSeconds) || !(0...31_536_000).contains(idleTimeoutSeconds) {
            return "timeouts must be 0 (off) to 31536000 seconds (a year)"
        }
        if let problem = cluster?.problem() { return problem }
        if (tlsCertificateFile == nil) != (tlsKeyFile == nil) { return "TLS needs both a certificate file and a key file" }
        if tlsPort < 0 || tlsPort > 65535 { return "TLS port must be 0-65535 (got \(tlsPort))" }
        if tlsCertificateFile != nil && plaintextListener && port != 0 && tlsPort == port { return "the TLS port must differ from the plaintext port (both \(port))" }
        if !plaintextListener && tlsCertificateFile == nil { return "no listener: the plaintext listener is off and no TLS certificate and key are given" }
        if let accountsPath, accountsPath.isEmpty { return "the accounts path must not be empty" }
        if accountsPath != nil && cluster != nil { return "--accounts PATH is for a server alone (SQLite); in a cluster the accounts live in Redis, so every server agrees: use --cluster-accounts instead" }
        if clusterAccounts && cluster == nil { return "--cluster-accounts keeps the accounts in the cluster's Redis and needs --cluster; a server alone keeps them with --accounts PATH" }
        for network in plaintextPasswordNetworks where NetworkPrefix(network) == nil {
            return "plaintext password networks: \(network) is not an address or a CIDR range (e.g. 10.0.0.0/8)"
        }
        if !(0...86_400_000).contains(nickGraceMilliseconds) { return "nick grace must be 0 to 86400000 ms (a day; got \(nickGraceMilliseconds))" }
        if !(1...1_000_000).contains(accountQueueLimit) { return "account queue must be 1 to 1000000 requests (got \(accountQueueLimit))" }
        if !(0...1_000_000).contains(registrationsPerHour) { return "registrations per hour must be 0 to 1000000 (got \(registrationsPerHour))" }
        if !(1...10_000_000).contains(accountAddressLimit) { return "account address limit must be 1 to 10000000 (got \(accountAddressLimit))" }
        if !(10...22).contains(scryptCost) { return "scrypt cost must be 10 to 22 (N = 2^cost; got \(scryptCost))" }
        if !(0...3_600_000).contains(tlsHandshakeTimeoutMilliseconds) { return "TLS handshake timeout must be 0 (none) to 3600000 ms (got \(tlsHandshakeTimeoutMilliseconds))" }
        return nil
    }
}
