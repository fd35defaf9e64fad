// The command line of `tcpchat`: what to connect to (or listen on), and how to show it.
// SwiftPM builds this executable as `tcpchat-client` (the name `tcpchat` is the library's);
// it calls itself `tcpchat` everywhere, and CMake installs it under that name.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import ArgumentParser
import TCPChat

struct ClientCommand: ParsableCommand {
    static let defaultPort = 6789
    static let defaultTLSPort = 6697

    static let configuration = CommandConfiguration(
        commandName: "tcpchat",
        abstract: "Chat on a tcpchat server, or one to one with --listen.",
        usage: """
            tcpchat [<host>] [<port>] [--nick <name>] [<options>]
            tcpchat --tls [<host>] [<port>] [--tls-ca <file>] [<options>]
            tcpchat --listen [<port>] [--host <address>] [<options>]
            """,
        discussion: """
            Type a line and press Enter to send it; /help lists the server's commands. Lines \
            that arrive while you type are printed above your line, which stays as it was.

            Keys are GNU readline's (~/.inputrc is honoured, `$if tcpchat` matches): Up/Down \
            recall earlier lines, Ctrl-R searches them, Tab completes /commands, #rooms and \
            the nicks in your room, Ctrl-C clears the line, Ctrl-D on an empty line closes \
            your side and exits once the server has closed too.

            History is kept in $XDG_STATE_HOME/tcpchat/history (default \
            ~/.local/state/tcpchat/history), mode 0600, the last 1000 lines.

            Colours are used only when standard output is a terminal and neither NO_COLOR \
            (set to anything) nor --no-color is given.

            When standard input or output is not a terminal there is no line editing and no \
            prompt: each input line is sent, each received line is printed, and at the end \
            of input tcpchat closes its side and exits once the server has closed, so \
            `printf 'hi\\n/quit\\n' | tcpchat` works in scripts.

            --listen is the one-to-one mode: wait for one peer (`nc HOST PORT`, or another \
            tcpchat) on PORT, then both type at the same time; plain lines, no server, no \
            commands. It ends when the peer closes.

            Lines are UTF-8, as a tcpchat server speaks. For a peer or a server that speaks \
            GBK (the lesson's programs on Chinese Windows), --encoding gbk sends in GBK and \
            reads GBK; a received line that is valid UTF-8 is still read as UTF-8.

            --tls connects with TLS (default port 6697) and checks the server's \
            certificate: issued by a CA this system trusts (or the one --tls-ca names), \
            valid now, and for the host name given. When it is not, tcpchat says which \
            (expired, unknown CA or self-signed, another host name) and does not connect.

            Exit status: 0 when the connection ended as you asked (Ctrl-D, /quit, end of \
            input; with --listen, the peer closing), 1 when the server went away or the \
            connection could not be made, 64 for a bad command line, 128+N after signal N.
            """,
        version: TCPChatVersion.string
    )

    @Argument(help: ArgumentHelp("Server to connect to (default localhost). A number alone is the port.", valueName: "host"))
    var host: String?

    @Argument(help: ArgumentHelp("Server port (default \(ClientCommand.defaultPort); with --tls \(ClientCommand.defaultTLSPort)).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Take this nick once connected (sends /nick NAME).", valueName: "name"))
    var nick: String?

    @Option(help: ArgumentHelp("The server's password (its --password): sent first, as /pass PASSWORD. Visible in ps: prefer the environment variable TCPCHAT_PASSWORD, read when this option is not given.", valueName: "password"))
    var password: String?

    @Flag(help: "Wait for one peer on the port and chat with it directly.")
    var listen = false

    @Option(name: .customLong("host"), help: ArgumentHelp("With --listen: the address to listen on (default: all interfaces).", valueName: "address"))
    var listenHost: String?

    @Option(help: ArgumentHelp("Send and read lines in this encoding, utf-8 or gbk: gbk for a --listen peer or a server that is not tcpchat and speaks GBK (the lesson's programs). With gbk, a received line that is valid UTF-8 is still read as UTF-8.", valueName: "encoding"))
    var encoding: String = TextEncoding.utf8.rawValue

    @Flag(help: "Print received lines without colours (as does setting NO_COLOR).")
    var noColor = false

    @Flag(help: "Put the local time (HH:MM) before each received line.")
    var timestamps = false

    @Flag(help: "Connect with TLS (default port \(ClientCommand.defaultTLSPort)), verifying the server's certificate against the system's trusted CAs and the host name.")
    var tls = false

    @Option(help: ArgumentHelp("With --tls: trust the CA certificates in this PEM file instead of the system's (a private CA, or a self-signed server's own certificate).", valueName: "file"))
    var tlsCa: String?

    @Flag(help: "With --tls: do not verify the server's certificate (anyone in the middle can read and change everything; a warning is printed each time).")
    var tlsInsecure = false

    @Option(help: ArgumentHelp("With --tls: the name to ask for (SNI) and check the certificate against (default: the host).", valueName: "name"))
    var tlsName: String?

    @Flag(help: "Show connecting, connected (local and remote address) and the close sequence on standard error.")
    var verbose = false

    /// The --encoding, once validate() has accepted it.
    var textEncoding: TextEncoding { TextEncoding(name: encoding) ?? .utf8 }

    mutating func validate() throws {
        guard TextEncoding(name: encoding) != nil else {
            throw ValidationError("--encoding must be utf-8 or gbk (got \(encoding))")
        }
        // `tcpchat 7000`, `tcpchat --listen 7000`: one number alone is the port.
        if let host, port == nil, let number = Int(host) {
            port = number
            self.host = nil
        }
        if !tls && (tlsCa != nil || tlsInsecure || tlsName != nil) {
            throw ValidationError("--tls-ca, --tls-insecure and --tls-name go with --tls")
        }
        if listen {
            guard !tls else { throw ValidationError("--tls connects to a TLS server; --listen has no TLS") }
            guard nick == nil else { throw ValidationError("--nick needs a server; with --listen there is none") }
            guard password == nil else { throw ValidationError("--password needs a server; with --listen there is none") }
            guard host == nil else { throw ValidationError("with --listen the argument is the port; give the address to listen on with --host") }
            try ClientCommand.check(port: port ?? ClientCommand.defaultPort, allowingZero: true)
        } else {
            guard listenHost == nil else { throw ValidationError("--host goes with --listen; to connect, give the host as the first argument") }
            try ClientCommand.check(port: port ?? (tls ? ClientCommand.defaultTLSPort : ClientCommand.defaultPort), allowingZero: false)
            if let nick, let problem = Names.nickProblem(nick) { throw ValidationError("--nick: \(problem)") }
        }
    }

    private static func check(port: Int, allowingZero: Bool) throws {
        guard (allowingZero ? 0 : 1)...65535 ~= port else {
            throw ValidationError("port must be \(allowingZero ? "0 (any free port)" : "1") to 65535 (got \(port))")
        }
    }

    func run() throws {
        let display = Display(colours: Display.wantsColour(noColorFlag: noColor), timestamps: timestamps)
        let screen = Screen(verbose: verbose)
        let interactive = isatty(0) != 0 && isatty(1) != 0
        let status: Int32
        if listen {
            status = ListenMode.run(host: listenHost, port: port ?? ClientCommand.defaultPort, encoding: textEncoding, display: display, screen: screen, interactive: interactive)
        } else {
            status = connectAndChat(display: display, screen: screen, interactive: interactive)
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func connectAndChat(display: Display, screen: Screen, interactive: Bool) -> Int32 {
        let host = self.host ?? "localhost"
        let port = self.port ?? (tls ? ClientCommand.defaultTLSPort : ClientCommand.defaultPort)
        screen.note("connecting to \(host) port \(port)\(tls ? " with TLS" : "")")
        if tls && tlsInsecure {
            screen.error("warning: --tls-insecure: the server's certificate is not checked; anyone in the middle can read and change this chat")
        }
        let connection: ChatConnection
        do {
            let options = tls ? TLSClientOptions(verify: !tlsInsecure, caFile: tlsCa, serverName: tlsName) : nil
            connection = try ChatConnection.connect(host: host, port: port, encoding: textEncoding, tls: options)
        } catch {
            screen.error(error.description)
            return 1
        }
        screen.note("connected: \(Self.describe(connection.localAddress)) -> \(Self.describe(connection.remoteAddress))\(connection.tlsDescription.map { " (\($0))" } ?? "")")
        let conversation = RoomConversation(display: display, interactive: interactive)
        let loop = ChatLoop(connection: connection, conversation: conversation, screen: screen, interactive: interactive)
        var firstLines: [String] = []
        if let secret = password ?? getenv("TCPCHAT_PASSWORD").map({ String(cString: $0) }), !secret.isEmpty {
            firstLines.append("/pass \(secret)")  // the first line, as a server with --password wants
        }
        if let nick { firstLines.append("/nick \(nick)") }
        return loop.run(sending: firstLines)
    }

    static func describe(_ address: SocketAddress?) -> String {
        address?.description ?? "?"
    }
}
