// example-chat-client: the seed lesson's chat client in Swift, on ChatClient.
//
//     example-chat-client [HOST [PORT]]      (default: 127.0.0.1 6789)
//
// Sends each line of standard input; prints every line from the server as it arrives (a task
// iterates `client.lines` while the main thread reads input). Ends when the server closes the
// connection: after "/quit", or after end of input (the client half-closes and the server,
// seeing you leave, closes too).
#if canImport(Glibc)
import Glibc
#endif
import TCPChat

/// Writes one line to standard error (write(2): the C `stderr` global is not concurrency-safe).
func printError(_ message: String) {
    var line = "example-chat-client: " + message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Writes one line to standard output at once, even when it is a pipe. (Not print + fflush:
/// fflush(NULL) would wait for the lock of stdin, which readLine() holds while it waits.)
func printLine(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    printError(message)
    exit(status)
}

let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.count > 2 || arguments.first?.hasPrefix("-") == true {
    fail("usage: example-chat-client [HOST [PORT]]   (default 127.0.0.1 6789)", status: 2)
}
let host = arguments.first ?? "127.0.0.1"
guard let port = arguments.count > 1 ? Int(arguments[1]) : 6789 else { fail("PORT must be a number") }

let client: ChatClient
do {
    client = try ChatClient(host: host, port: port)
} catch {
    fail("\(error)")
}

let printer = Task.detached {
    do {
        for try await line in client.lines { printLine(line) }
    } catch {
        fail("\(error)")
    }
}

while let line = readLine() {
    do { try client.send(line) } catch { fail("\(error)") }
    if line == "/quit" || line.hasPrefix("/quit ") { break }
}
client.shutdownWrite()  // after /quit the server closes anyway; after end of input this says goodbye
await printer.value
