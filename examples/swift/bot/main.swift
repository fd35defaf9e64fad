// example-bot: the twin of examples/c/bot.c on the Swift API. It serves from its own poll()
// loop (ChatServer.serveOnce over loopDescriptor; no thread of the library's) and steers the
// server: /roll (the bot "dice" says what you rolled), a greeting for whoever joins a room, a
// word filter ("darn" becomes "****"), and /kick for connections that sent "/login PASSWORD".
//
//     example-bot [PORT [PASSWORD]]     (default 6789 and "secret"; port 0 picks a free port)
//
// SIGINT and SIGTERM stop it cleanly: the handler (the program's, not the library's) writes a
// byte to a pipe that the same poll() loop watches.
#if canImport(Glibc)
import Glibc
#endif
import TCPChat

func printError(_ message: String) {
    var line = "example-bot: " + message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    printError(message)
    exit(status)
}

/// The bot's state. Its methods run on the loop thread (this program's main thread, inside
/// serveOnce), one at a time.
final class Bot: @unchecked Sendable {
    var server: ChatServer!
    let password: String
    var admins: Set<UInt64> = []

    init(password: String) { self.password = password }

    func event(_ event: HostEvent) {
        switch event.kind {
        case .joined: try? server.send("welcome to \(event.room ?? ""), \(event.nick)", toConnection: event.id)
        case .disconnected: admins.remove(event.id)
        default: break
        }
    }

    func filter(_ event: HostEvent) -> FilterVerdict {
        let text = event.text ?? ""
        switch event.kind {
        case .command where text == "/roll" || text.hasPrefix("/roll "):
            roll(event, spec: text.dropFirst(5).trimmingPrefix(" "))
            return .drop
        case .command where text.hasPrefix("/kick "):
            kick(event, arguments: text.dropFirst(6))
            return .drop
        case .command where text.hasPrefix("/login "):
            guard text.dropFirst(7) == password else { return .reject("wrong password") }
            admins.insert(event.id)
            return .replace("you are an admin now")  // for a command: the answer, to its sender
        case .said, .acted, .privateMessage:
            let masked = mask(text)
            return masked == text ? .accept : .replace(masked)
        default:
            return .accept
        }
    }

    private func roll(_ event: HostEvent, spec: Substring) {
        var dice = 1, sides = 6
        if !spec.isEmpty {
            let parts = spec.split(separator: "d", maxSplits: 1)
            guard parts.count == 2, let n = Int(parts[0]), let m = Int(parts[1]), (1...100).contains(n), (2...1000).contains(m) else {
                try? server.send("usage: /roll [NdM], e.g. /roll 2d6", toConnection: event.id)
                return
            }
            (dice, sides) = (n, m)
        }
        let total = (0..<dice).reduce(0) { sum, _ in sum + Int.random(in: 1...sides) }
        try? server.say("\(event.nick) rolled \(dice)d\(sides): \(total)", inRoom: event.room ?? "#lobby", asBot: "dice")
    }

    private func kick(_ event: HostEvent, arguments: Substring) {
        guard admins.contains(event.id) else {
            try? server.send("only admins may /kick (/login PASSWORD first)", toConnection: event.id)
            return
        }
        let parts = arguments.split(separator: " ", maxSplits: 1)
        guard let nick = parts.first.map(String.init) else { return }
        let reason = parts.count > 1 ? String(parts[1]) : "kicked by an admin"
        do {
            try server.kick(try server.connectionID(ofNick: nick), reason: reason)
        } catch {
            try? server.send("cannot kick \(nick): \(error)", toConnection: event.id)
        }
    }

    private func mask(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        let word = Array("darn".unicodeScalars)
        var index = 0
        while index + word.count <= scalars.count {
            if zip(scalars[index..<index + word.count], word).allSatisfy({ String($0).lowercased() == String($1) }) {
                for offset in 0..<word.count { scalars[index + offset] = "*" }
            }
            index += 1
        }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        return String(result)
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count > 2 || arguments.first?.hasPrefix("-") == true {
    fail("usage: example-bot [PORT [PASSWORD]]   (default 6789 and \"secret\"; port 0 picks a free port)", status: 2)
}
guard let port = arguments.isEmpty ? 6789 : Int(arguments[0]) else { fail("PORT must be a number") }
let bot = Bot(password: arguments.count > 1 ? arguments[1] : "secret")

// The stop pipe and its handler: async-signal-safe (one write).
nonisolated(unsafe) var stopPipe: [Int32] = [-1, -1]
guard pipe(&stopPipe) == 0 else { fail("pipe failed") }
nonisolated(unsafe) var stopWriteEnd: Int32 = stopPipe[1]
signal(SIGINT) { number in
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(stopWriteEnd, &byte, 1)
}
signal(SIGTERM) { number in
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(stopWriteEnd, &byte, 1)
}

var configuration = ChatServerConfiguration()
configuration.port = port
configuration.onEvent = { bot.event($0) }
configuration.filter = { bot.filter($0) }
configuration.log = { level, message in
    guard level <= .info else { return }
    printError("\(level.name): \(message)")
}
let server: ChatServer
do {
    server = try ChatServer(configuration: configuration)
    try server.bind()
} catch {
    fail("\(error)")
}
bot.server = server
print("listening on port \(server.port) (TCPChat \(TCPChatVersion.string))")
fflush(nil)

do {
    while try server.serveOnce(timeoutMilliseconds: 0) {
        var fds = [pollfd(fd: server.loopDescriptor, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopPipe[0], events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 2, server.hostTimeoutMilliseconds)
        if fds[1].revents & Int16(POLLIN) != 0 {
            var byte: UInt8 = 0
            if read(stopPipe[0], &byte, 1) == 1 {
                printError(Int32(byte) == SIGINT ? "interrupted, stopping" : "terminated, stopping")
                server.stop()  // serving goes on until every client had its goodbye
            }
        }
    }
} catch {
    fail("\(error)")
}
