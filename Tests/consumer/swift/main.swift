// swift_check HOST PORT -- the installed Swift module (import TCPChat) used from outside: joins
// the server at HOST:PORT, takes a nick, says a line, quits, and checks the server's answers.
// Exits 0 when the goodbye arrived, 1 otherwise. Built by this folder's CMakeLists.txt
// (find_package) and by scripts/test.d/50-cmake.sh with plain swiftc (pkg-config's
// swiftmoduledir), against an installed prefix.
#if canImport(Glibc)
import Glibc
#endif
import TCPChat

func fail(_ message: String) -> Never {
    print("swift_check: \(message)")
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let port = Int(arguments[2]) else { fail("usage: swift_check HOST PORT") }
print("TCPChat \(TCPChatVersion.string)")

do {
    let client = try ChatClient(host: arguments[1], port: port)
    try client.send("/nick swifty")
    try client.send("hello from Swift")
    try client.send("/quit")
    var expected = ["* you are now known as swifty", "* goodbye, swifty"]
    // The server closes the connection after the goodbye, which ends `lines`.
    for try await line in client.lines {
        print("swifty got: \(line)")
        if line == expected.first { expected.removeFirst() }
    }
    client.close()
    if let missing = expected.first { fail("no \"\(missing)\" before the server closed") }
} catch {
    fail("\(error)")
}
print("swift_check: ok")
