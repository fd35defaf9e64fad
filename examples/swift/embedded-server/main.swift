// example-embedded-server: a Swift program that hosts a ChatServer, with a bot: anyone who
// says "!time" in a room gets the time from the server, as a notice to that room.
//
//     example-embedded-server [PORT]         (default 6789; 0 picks a free port)
//
// Chat lines arrive through `onMessage` (on the server's loop thread) and are handed to an
// AsyncStream, so the bot is an ordinary `for await` loop. SIGINT (Ctrl-C) and SIGTERM stop the
// server cleanly: the library installs no signal handlers, so this program blocks the signals
// before any thread starts and waits for them with sigwait() on the main thread.
#if canImport(Glibc)
import Glibc
#endif
import TCPChat

/// Writes one line to standard error (write(2): the C `stderr` global is not concurrency-safe).
func printError(_ message: String) {
    var line = "example-embedded-server: " + message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    printError(message)
    exit(status)
}

var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGINT)
sigaddset(&stopSignals, SIGTERM)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)  // first: every thread started later inherits it

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count > 1 || arguments.first?.hasPrefix("-") == true {
    fail("usage: example-embedded-server [PORT]   (default 6789; 0 picks a free port)", status: 2)
}
guard let port = arguments.isEmpty ? 6789 : Int(arguments[0]) else { fail("PORT must be a number") }

let (messages, messageSink) = AsyncStream.makeStream(of: ChatMessage.self)
var configuration = ChatServerConfiguration()
configuration.port = port
configuration.onMessage = { messageSink.yield($0) }
configuration.log = { level, message in
    guard level <= .info else { return }
    printError("\(level.name): \(message)")
}

let server: ChatServer
do {
    server = try ChatServer(configuration: configuration)
    try server.start()
} catch {
    fail("\(error)")
}
print("listening on port \(server.port) (TCPChat \(TCPChatVersion.string))")
fflush(nil)

/// "2026-01-31 12:00:00 UTC", without Foundation.
func utcNow() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var text = [CChar](repeating: 0, count: 32)
    let count = strftime(&text, text.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
    return String(decoding: text[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

let bot = Task.detached {
    for await message in messages where message.text == "!time" {
        server.broadcast(room: message.room, text: "\(message.nick) asked the time: it is \(utcNow())")
    }
}

var received: Int32 = 0
sigwait(&stopSignals, &received)
printError(received == SIGINT ? "interrupted, stopping" : "terminated, stopping")
server.stop()  // clients get "* server shutting down, goodbye"
server.wait()
messageSink.finish()
await bot.value
