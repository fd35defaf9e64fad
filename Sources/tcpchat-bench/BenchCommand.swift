// tcpchat-bench: a load generator for line-based chat servers (tcpchat-server and its peers).
// It speaks only plain lines, so it measures any server that relays a line to everyone else.
#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import TCPChat

@main
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpchat-bench",
        abstract: "Measures a line-broadcasting chat server: deliveries/s, lost lines, latency, memory.",
        discussion: """
            Opens --clients connections to HOST:PORT (plus --slow-readers that never read), \
            waits until the server has registered them all (a probe line must reach every \
            client), then lets --senders of them send --messages lines of --bytes bytes each, \
            flat out or at --rate lines/s in total. Every other client must receive every line: \
            the run reports deliveries/s, lost deliveries, latency percentiles (each line carries \
            its send time) and, with --server-pid, the server's resident memory and CPU time.

            Several servers sharing rooms (a tcpchat --cluster) are measured as one: with \
            --port 6789,6790 connection i (slow readers first) goes to entry i mod 2 of the \
            list (counting from 0), so the clients and the senders are spread evenly, and every line must still \
            reach every other client, whichever server it was sent to. --server-pid then takes \
            every process to account for (the servers, Redis) and reports their sums.

            The payload is found right after `<nick> ` (tcpchat's format); for servers that \
            format lines differently use --prefix-agnostic. Lines a server sends back to their \
            own sender are ignored. Progress goes to standard error; the result to standard \
            output, as a table or with --json as one JSON object.

            Examples:
              tcpchat-bench --port 6789 --clients 100 --senders 10 --messages 1000
              tcpchat-bench --port 6789 --clients 10000 --senders 0 --server-pid 1234
              tcpchat-bench --port 6789,6790 --server-pid 1234,1235,1236
            """,
        version: TCPChatVersion.string
    )

    @Option(help: ArgumentHelp("Server address (IPv4).", valueName: "address"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Server port, or several separated by commas (connection i goes to entry i mod n).", valueName: "port[,port...]"))
    var port: NumberList

    @Option(help: ArgumentHelp("Connections that read (the senders are among them).", valueName: "n"))
    var clients = 100

    @Option(help: ArgumentHelp("Extra connections that never read a byte.", valueName: "n"))
    var slowReaders = 0

    @Option(help: ArgumentHelp("How many clients send; 0 only connects and holds.", valueName: "n"))
    var senders = 10

    @Option(help: ArgumentHelp("Messages each sender sends.", valueName: "n"))
    var messages = 1000

    @Option(help: ArgumentHelp("Bytes per message, newline included (at least \(Payload.minimumSize)).", valueName: "bytes"))
    var bytes = 64

    @Option(help: ArgumentHelp("Messages per second, all senders together; 0 sends flat out.", valueName: "n"))
    var rate = 0.0

    @Option(help: ArgumentHelp("Flat out: at most this many messages still travelling (sent, not yet received by everyone); 0 = no bound.", valueName: "n"))
    var window = 1000

    @Option(help: ArgumentHelp("A line each client sends first, e.g. '/nick bench{n}' ({n} = the client's number).", valueName: "line"))
    var firstLine: String?

    @Option(help: ArgumentHelp("Written before every message and probe, e.g. 'PRIVMSG #lobby :' for IRC (with --first-line 'NICK b{n}\\r\\nUSER b 0 * :b\\r\\nJOIN #lobby', \\r\\n written as such).", valueName: "text"))
    var messagePrefix: String = ""

    @Flag(help: "Find the payload anywhere in a received line, for servers that do not prefix lines with `<nick> `.")
    var prefixAgnostic = false

    @Flag(help: "Connect with TLS (OpenSSL; the server's certificate is not checked), e.g. to tcpchat-server --tls-port or ncat --ssl --chat.")
    var tls = false

    @Option(help: ArgumentHelp("New connections per second; 0 = as fast as possible (128 connecting at a time).", valueName: "n"))
    var connectRate = 0.0

    @Option(help: ArgumentHelp("Spread connections over source addresses 127.0.0.1 … 127.0.0.N (default: one per 20 000 connections).", valueName: "n"))
    var sourceAddresses: Int?

    @Option(help: ArgumentHelp("The server's process id, to report its resident memory and CPU time (from /proc); several separated by commas are summed.", valueName: "pid[,pid...]"))
    var serverPid: NumberList?

    @Option(help: ArgumentHelp("Seconds to hold the connections, reading, after registration and before the messages.", valueName: "seconds"))
    var hold = 0.5

    @Option(help: ArgumentHelp("Give up connecting after this many seconds, and then waiting for registration after as many again.", valueName: "seconds"))
    var registerTimeout = 60.0

    @Option(help: ArgumentHelp("End the run when no line arrived for this many seconds.", valueName: "seconds"))
    var idleTimeout = 5.0

    @Option(help: ArgumentHelp("End the run after this many seconds of messages even if lines are still arriving (they count as lost); 0 = no limit.", valueName: "seconds"))
    var maxSeconds = 0.0

    @Option(help: ArgumentHelp("Threads that read the receiving clients while lines flow (the senders stay on the first), so that one thread's reading is not the ceiling; they share the CPUs the bench may use (taskset).", valueName: "n"))
    var threads = 1

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Flag(help: "No progress lines on standard error.")
    var quiet = false

    func validate() throws {
        if port.values.contains(where: { $0 < 1 || $0 > 65535 }) { throw ValidationError("--port must be 1-65535 (or a comma list of such)") }
        if let pids = serverPid, pids.values.contains(where: { $0 < 1 || $0 > Int(Int32.max) }) {
            throw ValidationError("--server-pid must be a process id (or a comma list of them)")
        }
        if clients < 2 && senders > 0 { throw ValidationError("--clients must be at least 2 when anyone sends") }
        if senders < 0 || senders > clients || senders > 0xFFFF { throw ValidationError("--senders must be 0 to --clients (and at most 65535)") }
        if messages < 0 || messages > 0xFFFF_FFFF { throw ValidationError("--messages must be 0 to 4294967295") }
        if bytes < Payload.minimumSize { throw ValidationError("--bytes must be at least \(Payload.minimumSize)") }
        if rate < 0 || window < 0 || slowReaders < 0 || connectRate < 0 || maxSeconds < 0 { throw ValidationError("--rate, --window, --connect-rate, --max-seconds and --slow-readers must not be negative") }
        if let n = sourceAddresses, n < 1 || n > 254 { throw ValidationError("--source-addresses must be 1-254") }
        if threads < 1 || threads > 64 { throw ValidationError("--threads must be 1-64") }
        if tls && threads > 1 { throw ValidationError("--threads above 1 reads plaintext sockets only: use --threads 1 with --tls") }
    }

    func run() throws {
        let limit = DescriptorLimit.raiseToHard()
        let total = clients + slowReaders
        if total + 16 > limit {
            throw ValidationError("\(total) connections need more descriptors than this process may open (\(limit)); run several benches")
        }
        let plan = LoadPlan(
            host: host, ports: port.values, clients: clients, slowReaders: slowReaders, senders: senders,
            messagesPerSender: senders > 0 ? messages : 0, messageBytes: bytes, rate: rate, window: window,
            firstLine: firstLine?.replacing("\\r\\n", with: "\r\n"), messagePrefix: Array(messagePrefix.utf8), prefixAgnostic: prefixAgnostic, connectRate: connectRate,
            sourceAddresses: sourceAddresses ?? max(1, (total + 19_999) / 20_000),
            serverPIDs: serverPid?.values.map { Int32($0) } ?? [], holdSeconds: hold, registerTimeoutSeconds: registerTimeout,
            idleTimeoutSeconds: idleTimeout, maxSeconds: maxSeconds, showProgress: !quiet, threads: threads, tls: tls)
        let result: BenchResult
        do {
            result = try LoadGenerator(plan: plan).run()
        } catch {
            printError("tcpchat-bench: \(error)")
            throw ExitCode(1)
        }
        print(json ? result.json() : result.table())
        // Exit status 1 when lines were lost or connections failed, so scripts can tell.
        if result.lost > 0 || result.connected < plan.totalConnections { throw ExitCode(1) }
    }
}

/// An option value of one or more numbers separated by commas (`6789` or `6789,6790`).
struct NumberList: ExpressibleByArgument {
    let values: [Int]

    init?(argument: String) {
        var values: [Int] = []
        for part in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let value = Int(part) else { return nil }
            values.append(value)
        }
        self.values = values
    }
}
