// Accounts for IRC clients (branch acct-irc), over real sockets against an in-process server
// with accounts in a temporary SQLite file: CAP LS offers sasl=PLAIN only with accounts; SASL
// PLAIN logs in before registration (900, 903) and the session is identified once registered;
// a wrong password is 904; NickServ answers as NOTICEs; the base64 decoder of the payload.
// (The same and more end to end, with irssi and in a cluster: Tests/irc, Tests/accounts.)
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import TCPChat

@Suite struct IRCAccountsTests {
    /// A server with accounts in `directory` (which the caller keeps until the test ends).
    static func accountsServer(in directory: TemporaryDirectory) throws -> RunningServer {
        try RunningServer { configuration in
            configuration.accountsPath = directory.path + "/accounts.db"
            configuration.scryptCost = 10
        }
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var out = ""
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = chunk.enumerated().reduce(0) { $0 | (Int($1.element) << (16 - 8 * $1.offset)) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[(value >> (18 - 6 * position)) & 63] : "=")
            }
            index += 3
        }
        return out
    }

    @Test func capLsOffersSASLOnlyWithAccounts() throws {
        let plain = try RunningServer()
        let without = try plain.connect()
        try without.sendRaw(Array("CAP LS 302\r\nCAP REQ :sasl\r\n".utf8))
        try expectNext(without, ":tcpchat CAP * LS :")
        try expectNext(without, ":tcpchat CAP * NAK :sasl")
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let server = try Self.accountsServer(in: directory)
        let with = try server.connect()
        try with.sendRaw(Array("CAP LS 302\r\nCAP LS\r\nCAP REQ :sasl\r\n".utf8))
        try expectNext(with, ":tcpchat CAP * LS :sasl=PLAIN")
        try expectNext(with, ":tcpchat CAP * LS :sasl")
        try expectNext(with, ":tcpchat CAP * ACK :sasl")
    }

    @Test func saslPlainLogsInAndNickServAnswers() throws {
        let directory = TemporaryDirectory()
        defer { withExtendedLifetime(directory) {} }
        let server = try Self.accountsServer(in: directory)
        let owner = try IRCTestClient(server, nick: "rita")
        try owner.send("PRIVMSG NickServ :REGISTER correct-horse-battery")
        #expect(try owner.waitFor { $0.contains(" 900 ") } == ":tcpchat 900 rita rita!rita@127.0.0.1 rita :You are now logged in as rita")
        owner.close()

        let wrong = try server.connect()
        try wrong.sendRaw(Array("CAP REQ :sasl\r\nAUTHENTICATE PLAIN\r\n".utf8))
        try expectNext(wrong, ":tcpchat CAP * ACK :sasl")
        try expectNext(wrong, "AUTHENTICATE +")
        try wrong.sendRaw(Array("AUTHENTICATE \(Self.base64(Array("\0rita\0wrong-password".utf8)))\r\n".utf8))
        try expectNext(wrong, ":tcpchat 904 * :SASL authentication failed")

        let client = try server.connect()
        try client.sendRaw(Array("CAP REQ :sasl\r\nAUTHENTICATE PLAIN\r\n".utf8))
        try expectNext(client, ":tcpchat CAP * ACK :sasl")
        try expectNext(client, "AUTHENTICATE +")
        try client.sendRaw(Array("AUTHENTICATE \(Self.base64(Array("rita\0rita\0correct-horse-battery".utf8)))\r\nCAP END\r\nNICK rita\r\nUSER r 0 * :R\r\n".utf8))
        try expectNext(client, ":tcpchat 900 * *!*@127.0.0.1 rita :You are now logged in as rita")
        try expectNext(client, ":tcpchat 903 * :SASL authentication successful")
        _ = try client.waitFor { $0.contains(" 422 ") }
        try client.sendRaw(Array("PRIVMSG NickServ :IDENTIFY correct-horse-battery\r\n".utf8))
        try expectNext(client, ":NickServ!NickServ@services. NOTICE rita :you are already identified as rita")
        try client.sendRaw(Array("NICK NickServ\r\n".utf8))
        #expect(try client.next().hasPrefix(":tcpchat 432 rita NickServ "))
    }

    @Test func base64DecoderTakesPaddingAndRefusesTheRest() {
        #expect(IRCCodec.base64Decode("cml0YQ==") == Array("rita".utf8))
        #expect(IRCCodec.base64Decode("cml0YQ") == Array("rita".utf8))
        #expect(IRCCodec.base64Decode("AHJpdGEAcHc=") == Array("\0rita\0pw".utf8))
        #expect(IRCCodec.base64Decode("") == [])
        #expect(IRCCodec.base64Decode("cml0YQ==x") == nil)
        #expect(IRCCodec.base64Decode("c!l0") == nil)
        #expect(IRCCodec.base64Decode("c") == nil)
    }
}
