// What one tcpchat-bench run does, as the command line described it.

struct LoadPlan {
    /// The server: an IPv4 address (the bench binds its sockets to 127.0.0.x source addresses).
    var host: String
    /// One port per server; connection i connects to ports[i % ports.count]. Several servers
    /// must share their rooms (a cluster): every line is expected at every client all the same.
    var ports: [Int]
    /// Connections that read everything (the senders are among them).
    var clients: Int
    /// Extra connections that never read a byte, connected before the others.
    var slowReaders: Int
    /// How many of the reading clients send.
    var senders: Int
    var messagesPerSender: Int
    /// Bytes per message line, LF included.
    var messageBytes: Int
    /// Messages per second, all senders together; 0 = flat out.
    var rate: Double
    /// At most this many messages sent but not yet delivered to every receiver; 0 = no bound.
    var window: Int
    /// Sent by each connection right after it connects; `{n}` becomes the connection's number.
    var firstLine: String?
    /// Bytes before every message and probe (IRC: `PRIVMSG #lobby :`); not counted in messageBytes.
    var messagePrefix: [UInt8] = []
    /// Find the payload anywhere in a received line, not only after `<nick> `.
    var prefixAgnostic: Bool
    /// New connections per second; 0 = as fast as 128 at a time allow. Servers with a short
    /// listen backlog (ncat) need a gentler pace.
    var connectRate: Double
    /// Spread connections over the source addresses 127.0.0.1 … 127.0.0.N.
    var sourceAddresses: Int
    /// The server's process ids (several for a cluster, Redis included if wanted), to read
    /// their resident memory and CPU time from /proc; the figures are their sums. Empty: none.
    var serverPIDs: [Int32]
    /// Seconds to keep the connections open, reading, between registration and the messages.
    var holdSeconds: Double
    /// Give up connecting after this many seconds, and waiting for registration after as many again.
    var registerTimeoutSeconds: Double
    /// End the run when nothing was delivered for this many seconds (lost lines, a stalled server).
    var idleTimeoutSeconds: Double
    /// End the message phase after this many seconds even if lines are still arriving; 0 = no
    /// limit. What has not arrived by then counts as lost, and the result says it was cut short.
    var maxSeconds: Double
    /// Print progress on standard error.
    var showProgress: Bool
    /// Threads that read during the message phase (the main thread, which also sends, among them).
    var threads: Int = 1
    /// Connect with TLS (the certificate is not checked: the bench measures, it does not trust).
    var tls: Bool = false

    var totalMessages: Int { senders * messagesPerSender }
    var totalConnections: Int { clients + slowReaders }
}
