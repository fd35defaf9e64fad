// example-poll-client: the twin of examples/c/poll_client.c on the Swift API: one poll() loop
// over standard input and the connection, no threads, and no call that blocks once connected.
// Lines go out through ChatConnection.trySend; when the server stops reading (the bounded send
// queue is full: trySend returns false) the line is kept, standard input is not read until the
// queue drains (flush on POLLOUT), and what arrives meanwhile is still printed.
//
//     example-poll-client HOST PORT
//
// (The Swift API connects with ChatConnection.connect, which waits for the connection; the C
// API's tcpchat_client_connect_start is the form that does not.)
#if canImport(Glibc)
import Glibc
#endif
import TCPChat

func printError(_ message: String) {
    var line = "example-poll-client: " + message + "\n"
    line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

func output(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { return }
            offset += written
        }
    }
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2, let port = Int(arguments[1]) else {
    printError("usage: example-poll-client HOST PORT")
    exit(2)
}
let connection: ChatConnection
do { connection = try ChatConnection.connect(host: arguments[0], port: port) } catch {
    printError("cannot connect: \(error)")
    exit(1)
}

var input: [UInt8] = []       // what standard input brought, not yet sent
var inputEnded = false
var waiting = false           // a whole line waits for room in the send queue
var shut = false
var buffer = [UInt8](repeating: 0, count: 8192)

/// Sends the whole lines of `input` as far as the queue takes them.
@MainActor func sendInput() throws {
    while let newline = input.firstIndex(of: 0x0A) {
        var line = String(decoding: input[..<newline], as: UTF8.self)
        if line.hasSuffix("\r") { line.removeLast() }
        guard try connection.trySend(line) else {
            waiting = true
            return
        }
        input.removeSubrange(...newline)
    }
    waiting = false
}

do {
    while true {
        let wantsInput = !inputEnded && !waiting && input.count < 8192
        var fds = [pollfd(fd: connection.fd, events: Int16(POLLIN) | (connection.queuedBytes > 0 ? Int16(POLLOUT) : 0), revents: 0),
                   pollfd(fd: wantsInput ? 0 : -1, events: Int16(POLLIN), revents: 0)]
        _ = poll(&fds, 2, -1)
        _ = try connection.flush()
        if waiting { try sendInput() }
        switch connection.readAvailable() {
        case .lines(let lines):
            lines.forEach(output)
        case .ended(let lines, let reason):
            lines.forEach(output)
            if reason != .closed { printError("\(reason)") }
            exit(reason == .closed ? 0 : 1)
        }
        if fds[1].fd >= 0 && fds[1].revents & Int16(POLLIN | POLLHUP) != 0 {
            let count = read(0, &buffer, buffer.count)
            if count > 0 {
                input.append(contentsOf: buffer[..<count])
            } else if count == 0 {
                inputEnded = true
                if !input.isEmpty && input.last != 0x0A { input.append(0x0A) }
            }
            try sendInput()
        }
        if inputEnded && !waiting && !shut && connection.queuedBytes == 0 {
            connection.shutdownWrite()
            shut = true
        }
    }
} catch {
    printError("\(error)")
    exit(1)
}
