// tcpchat-server: the room server as a program. The library does the serving; this file
// parses flags, turns SIGINT/SIGTERM into a graceful stop, and prints the log.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import TCPChat

struct ServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpchat-server",
        abstract: "A TCP chat server with nicknames, rooms and history.",
        discussion: """
            Clients speak plain UTF-8 lines, so `nc HOST 6789` works as a client, as does \
            `tcpchat`. Every server line starts with `<nick> ` (chat), `* ` (notice) or `! ` \
            (error); docs/PROTOCOL.md has the whole grammar. Type /help once connected.

            At start the server prints `listening on ADDRESS:PORT` on standard output, and \
            with TLS also `listening on ADDRESS:PORT (TLS)` (only that line with --no-plain). \
            SIGINT or SIGTERM stops it gracefully: every client gets a goodbye notice, \
            queues are flushed for up to one second, and it exits with status 0. SIGHUP \
            reloads the TLS certificate and key (a bad file keeps the old ones, and says why).
            """,
        version: TCPChatVersion.string
    )

    @Option(help: ArgumentHelp("Address to listen on (default: all interfaces, IPv6 and IPv4).", valueName: "address"))
    var host: String?

    @Option(help: ArgumentHelp("TCP port; 0 picks a free one.", valueName: "port"))
    var port: Int = 6789

    @Option(help: ArgumentHelp("Most clients at once; the next one gets an error line and is closed.", valueName: "n"))
    var maxClients: Int = 10_000

    @Option(help: ArgumentHelp("Longest line in bytes; a longer one is discarded with an error to its sender.", valueName: "bytes"))
    var maxLine: Int = 4096

    @Option(help: ArgumentHelp("Unsent output allowed per client in bytes (each line counts 80 bytes more for bookkeeping); a client past it (not reading) is disconnected.", valueName: "bytes"))
    var maxQueue: Int = 256 * 1024

    @Option(help: ArgumentHelp("Soft mark of unsent output per client in bytes (counted as for --max-queue): while a client above it is still reading but does not drain, the server stops reading from the clients whose lines it is given (backpressure) until it drains to half the mark; at or above --max-queue: off.", valueName: "bytes"))
    var softQueue: Int = 64 * 1024

    @Option(help: ArgumentHelp("Longest a client above --soft-queue holds its senders back at a time (fractions allowed); one that took less than --soft-queue bytes in that time is disconnected as not reading.", valueName: "seconds"))
    var softSeconds: Double = 10

    @Option(help: ArgumentHelp("Lines of history each room replays to people who join.", valueName: "lines"))
    var history: Int = 20

    @Option(help: ArgumentHelp("How to read lines that are not valid UTF-8: gbk (decode as GBK, as the seed lesson's clients send) or none (invalid bytes become U+FFFD).", valueName: "gbk|none"))
    var fallbackEncoding: String = "none"

    @Option(help: ArgumentHelp("Rooms with more members than this do not announce joins, leaves and nick changes; 0 = always announce.", valueName: "members"))
    var announceLimit: Int = 1000

    @Option(help: ArgumentHelp("Flood control: lines per second a client may send after its burst; a faster client is read more slowly (nothing is dropped).", valueName: "lines"))
    var rate: Double = 10

    @Option(help: ArgumentHelp("Flood control: lines a client may send at once before --rate applies.", valueName: "lines"))
    var burst: Int = 20

    @Flag(help: "Turn flood control off (for benchmarks and trusted networks).")
    var noRateLimit = false

    @Option(help: ArgumentHelp("Most connections from one IP address, loopback included; 0 = no cap.", valueName: "n"))
    var maxPerIp: Int = 256

    @Option(help: ArgumentHelp("Disconnect a client that sends no line within this many seconds of connecting; 0 = no deadline.", valueName: "seconds"))
    var firstLineTimeout: Int = 0

    @Option(help: ArgumentHelp("Disconnect a client that sends nothing for this many seconds; 0 = never (TCP keepalive still finds dead peers).", valueName: "seconds"))
    var idleTimeout: Int = 0

    @Option(help: ArgumentHelp("IRC on the same port: milliseconds a new connection has to send a first line that opens IRC (CAP, NICK, USER, PASS) before it is welcomed in the line protocol; 0 = no IRC, the welcome goes out at connect.", valueName: "ms"))
    var ircDetection: Int = 50

    @Option(help: ArgumentHelp("The server's name in IRC replies (:NAME 001 ...). (default: this machine's host name)", valueName: "name"))
    var serverName: String?

    @Option(help: .hidden)  // the name before 1.1's --server-name; kept for old scripts
    var ircServerName: String?

    @Option(help: ArgumentHelp("A password every client must give first: IRC clients with PASS, the line protocol with a first line /pass PASSWORD (tcpchat --password). Visible in ps: prefer --password-file on a shared machine.", valueName: "password"))
    var password: String?

    @Option(help: ArgumentHelp("Read --password from the first line of this file.", valueName: "path"))
    var passwordFile: String?

    // --oper is the name the IRC issue and irctest's habits use; --irc-oper was its 1.1 beta name.
    @Option(name: [.customLong("oper"), .customLong("irc-oper")],
            help: ArgumentHelp("An IRC operator (OPER NAME PASSWORD); may be repeated.", valueName: "name:password"))
    var ircOper: [String] = []

    @Option(help: ArgumentHelp("Share rooms, nicks and history with the other servers using this Redis (e.g. redis://127.0.0.1:6379/0). Chat on this server goes on while Redis is unreachable.", valueName: "redis://host:port[/db]"))
    var cluster: String?

    @Option(help: ArgumentHelp("With --cluster: seconds after which a silent server's nicks and people expire (heartbeats go every third of it). (default: \(ClusterConfiguration.defaultTTLSeconds))", valueName: "seconds"))
    var clusterTtl: Int?

    @Option(help: ArgumentHelp("With --cluster: bytes that may wait to be written to Redis; past it, lines are still chatted here but not published to the other servers until Redis catches up. (default: \(ClusterConfiguration.defaultMaxQueueBytes))", valueName: "bytes"))
    var clusterQueue: Int?

    @Option(help: ArgumentHelp("TLS: the server's certificate chain (PEM, its own certificate first); with --tls-key it opens a TLS listener on --tls-port.", valueName: "file"))
    var tlsCert: String?

    @Option(help: ArgumentHelp("TLS: the private key of --tls-cert (PEM, unencrypted).", valueName: "file"))
    var tlsKey: String?

    @Option(help: ArgumentHelp("TLS: the TLS listener's port (IRC's TLS port by default); 0 picks a free one.", valueName: "port"))
    var tlsPort: Int = 6697

    @Flag(help: "TLS only: no plaintext listener (needs --tls-cert and --tls-key).")
    var noPlain = false

    @Option(help: ArgumentHelp("TLS: close a connection that has not completed its TLS handshake within this many seconds (fractions allowed); 0 = no deadline.", valueName: "seconds"))
    var tlsHandshakeTimeout: Double = 10

    @Option(help: ArgumentHelp("Accounts: keep them in this SQLite database (created, mode 0600, when missing): /register PASSWORD, /identify [NICK] PASSWORD, /ghost NICK PASSWORD; a registered nick is its owner's. A corrupt or unreadable file stops the server at start. Refused with --cluster (use --cluster-accounts).", valueName: "path"))
    var accounts: String?

    @Flag(help: "Accounts: accept passwords over plaintext connections from anyone. Without it a password is accepted only over TLS (--tls-cert) or from a peer of --plaintext-password-networks (loopback).")
    var allowPlaintextPasswords = false

    @Option(help: ArgumentHelp("Accounts: peers that may send passwords over plaintext anyway, as comma-separated CIDR ranges; \"\" = none.", valueName: "cidr,..."))
    var plaintextPasswordNetworks: String = "127.0.0.0/8,::1/128"

    @Option(help: ArgumentHelp("Accounts: seconds someone holding a registered nick (or a look-alike) has to /identify before being renamed to a guest.", valueName: "seconds"))
    var nickGrace: Double = 30

    @Option(help: ArgumentHelp("Accounts: requests waiting for the password hasher and the database; past it a request gets \"server busy, try again in a moment\".", valueName: "n"))
    var accountQueue: Int = 64

    @Option(help: ArgumentHelp("Accounts: accounts one IP address may register per hour; 0 = no cap.", valueName: "n"))
    var registrationsPerHour: Int = 3

    @Option(help: ArgumentHelp("Accounts: IP addresses whose failed logins and registrations are remembered (an hour); past it the least recently seen is forgotten.", valueName: "n"))
    var accountAddresses: Int = 4096

    @Option(help: ArgumentHelp("Accounts: scrypt cost, log2(N) with r=8, p=1 (15: 32 MiB, about 0.08 s per password on a 2020s server core); raising it rehashes each password at its owner's next /identify.", valueName: "n"))
    var scryptCost: Int = 15

    @Flag(help: "Accounts in a cluster: keep them in the cluster's Redis (needs --cluster; instead of --accounts, which is refused with --cluster), so every server agrees on who owns a nick.")
    var clusterAccounts = false

    @Flag(help: "Log every connect and disconnect, with the peer's address and the reason, to standard error.")
    var verbose = false

    func validate() throws {
        if cluster == nil && (clusterTtl != nil || clusterQueue != nil) {
            throw ValidationError("--cluster-ttl and --cluster-queue only apply with --cluster redis://HOST:PORT[/DB]")
        }
        if serverName != nil && ircServerName != nil {
            throw ValidationError("--irc-server-name is the old name of --server-name: give one of them")
        }
        if password != nil && passwordFile != nil {
            throw ValidationError("give --password or --password-file, not both")
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("TLS needs both --tls-cert FILE and --tls-key FILE")
        }
        if noPlain && tlsCert == nil {
            throw ValidationError("--no-plain needs a TLS listener: give --tls-cert FILE and --tls-key FILE")
        }
        guard FallbackEncoding(rawValue: fallbackEncoding) != nil else {
            throw ValidationError("--fallback-encoding must be gbk or none (got \(fallbackEncoding))")
        }
    }

    func run() throws {
        var settings = ChatServerConfiguration()
        settings.host = host
        settings.port = port
        settings.maxClients = maxClients
        settings.maxLineBytes = maxLine
        settings.maxQueueBytes = maxQueue
        settings.softQueueBytes = softQueue
        settings.softQueueSeconds = softSeconds
        settings.historyLength = history
        settings.fallbackEncoding = FallbackEncoding(rawValue: fallbackEncoding) ?? .none
        settings.announceLimit = announceLimit
        settings.linesPerSecond = noRateLimit ? 0 : rate
        settings.burstLines = burst
        settings.maxConnectionsPerAddress = maxPerIp
        settings.firstLineTimeoutSeconds = firstLineTimeout
        settings.idleTimeoutSeconds = idleTimeout
        settings.ircDetectionMilliseconds = ircDetection
        settings.ircServerName = serverName ?? ircServerName ?? ServerCommand.hostName()
        if let path = passwordFile {
            guard let text = ServerCommand.firstLine(ofFile: path) else {
                printError("tcpchat-server: cannot read --password-file \(path): \(String(cString: strerror(errno)))")
                throw ExitCode(1)
            }
            settings.password = text
        }
        if let password { settings.password = password }
        for entry in ircOper {
            guard let colon = entry.firstIndex(of: ":") else { continue }
            settings.ircOperators[String(entry[..<colon])] = String(entry[entry.index(after: colon)...])
        }
        if let url = cluster {
            do {
                var clusterSettings = ClusterConfiguration(redis: try RedisEndpoint(url: url))
                clusterSettings.ttlSeconds = clusterTtl ?? ClusterConfiguration.defaultTTLSeconds
                clusterSettings.maxQueueBytes = clusterQueue ?? ClusterConfiguration.defaultMaxQueueBytes
                settings.cluster = clusterSettings
            } catch {
                printError("tcpchat-server: \(error)")
                throw ExitCode(1)
            }
        }
        settings.tlsCertificateFile = tlsCert
        settings.tlsKeyFile = tlsKey
        settings.tlsPort = tlsPort
        settings.plaintextListener = !noPlain
        settings.tlsHandshakeTimeoutMilliseconds = Int((tlsHandshakeTimeout * 1000).rounded())
        settings.accountsPath = accounts
        settings.allowPlaintextPasswords = allowPlaintextPasswords
        settings.plaintextPasswordNetworks = plaintextPasswordNetworks.split(separator: ",").map { String($0).filter { $0 != " " } }
        settings.nickGraceMilliseconds = Int((nickGrace * 1000).rounded())
        settings.accountQueueLimit = accountQueue
        settings.registrationsPerHour = registrationsPerHour
        settings.accountAddressLimit = accountAddresses
        settings.scryptCost = scryptCost
        settings.clusterAccounts = clusterAccounts
        let verbose = self.verbose
        settings.log = { level, message in
            guard verbose || level <= .warning else { return }
            printError("tcpchat-server: \(message)")
        }

        if let problem = settings.problem() {
            printError("tcpchat-server: invalid configuration: \(problem)")
            throw ExitCode(1)
        }
        DescriptorLimit.raise(toServe: maxClients)
        // A file-size limit (ulimit -f) reached by the accounts database is a write error that
        // the server reports and survives (the user hears the disk is full), not a kill.
        signal(SIGXFSZ, SIG_IGN)
        let server: ChatServer
        do {
            server = try ChatServer(configuration: settings)
            try server.bind()
        } catch {
            printError("tcpchat-server: \(ServerCommand.message(for: error))")
            throw ExitCode(1)
        }
        guard let address = server.address else { throw ExitCode(1) }
        func shown(_ address: SocketAddress) -> String {
            address.isIPv6 && host == nil ? "[::]:\(address.port)" : address.description
        }
        if !noPlain { print("listening on \(shown(address))") }
        if let tlsAddress = server.tlsAddress { print("listening on \(shown(tlsAddress)) (TLS)") }
        fflush(nil)  // a script waiting for these lines must see them now

        let signals = StopSignals.forward(to: server)
        defer { signals.finish() }
        do {
            try server.run()
        } catch {
            printError("tcpchat-server: \(error)")
            throw ExitCode(1)
        }
    }
}

extension ServerCommand {
    /// This machine's host name (gethostname), as IRC's server name; "tcpchat" when it has none
    /// or one IRC cannot carry (a space or ':').
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "tcpchat" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if name.isEmpty || name.contains(where: { $0 == " " || $0 == ":" || $0.isNewline }) { return "tcpchat" }
        return name
    }

    /// The first line of a file (without its line break), or nil when it cannot be read.
    static func firstLine(ofFile path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        while bytes.count < 4096 {
            let c = getc(file)
            if c == EOF || c == 10 { break }
            bytes.append(UInt8(truncatingIfNeeded: c))
        }
        if bytes.last == 13 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A failed bind, with what to do about it in this program's flags (the library's message
    /// names none: it does not know how its host is configured).
    static func message(for error: ChatServerError) -> String {
        guard case .socket(let socketError) = error, case .bind(let address, let code) = socketError else { return error.description }
        if code == EADDRINUSE { return "cannot listen on \(address): address already in use (another server on that port? pick another with --port, or 0 for any free port)" }
        if code == EADDRNOTAVAIL { return "cannot listen on \(address): no such local address (check --host)" }
        return error.description
    }
}

/// SIGINT and SIGTERM become `server.stop()`, SIGHUP `server.reloadTLS()`: the signals are
/// blocked in every thread and one thread waits for them with sigwait, so no code runs in a
/// signal handler.
struct StopSignals {
    private let thread: pthread_t

    static func forward(to server: ChatServer) -> StopSignals {
        var signals = StopSignals.set()
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let box = Unmanaged.passRetained(server).toOpaque()
        var thread = pthread_t()
        pthread_create(&thread, nil, { argument in
            let server = Unmanaged<ChatServer>.fromOpaque(argument!).takeRetainedValue()
            var signals = StopSignals.set()
            var received: Int32 = 0
            while sigwait(&signals, &received) == 0 && received == SIGHUP {
                // Reload the TLS certificate and key; a failure keeps the old ones and is logged
                // by the server (its log prints errors), so nothing more to say here.
                if server.configuration.tlsCertificateFile == nil {
                    printError("tcpchat-server: SIGHUP: no TLS certificate to reload (no --tls-cert)")
                } else if (try? server.reloadTLS()) != nil {
                    printError("tcpchat-server: TLS certificate and key reloaded from \(server.configuration.tlsCertificateFile!)")
                }
            }
            server.stop()
            return nil
        }, box)
        return StopSignals(thread: thread)
    }

    /// Once the server has stopped, for whatever reason: wakes the waiting thread if no signal
    /// came (it then stops a stopped server, which does nothing) and waits until it has let go
    /// of the server, so that the server is freed before the process exits. Freed, not only
    /// unreachable: under LeakSanitizer a live Swift object's weak-reference side table looks
    /// leaked (llvm/llvm-project#56751), and whether the server was still alive at exit used
    /// to depend on which thread got there first (a flaky exit status 1 under ASan).
    func finish() {
        pthread_kill(thread, SIGTERM)  // blocked in every thread: stays pending if nobody waits
        pthread_join(thread, nil)
    }

    private static func set() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGHUP)
        return signals
    }
}

/// Each client costs a descriptor: raise the soft RLIMIT_NOFILE toward the hard limit so that
/// --max-clients can be reached. (The program does this, not the library: a library must not
/// change process-wide limits behind its host's back.)
enum DescriptorLimit {
    static func raise(toServe clients: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(clients + 64)  // listener, epoll, eventfd, reserve, stdio and slack
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < wanted {
            printError("tcpchat-server: warning: the descriptor limit (\(limit.rlim_max)) allows about \(Int(limit.rlim_cur) - 64) clients, fewer than --max-clients \(clients)")
        }
    }
}

/// One line to standard error, in one write(2) so concurrent lines do not interleave.
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

ServerCommand.main()
