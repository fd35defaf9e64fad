// IRC on the server's one port, over real sockets: detection by the first line, registration,
// the core commands, numerics, 512-byte lines, and IRC and line-protocol users in one room.
import Testing
@testable import TCPChat

/// An IRC client over a real socket: lines go out with CR LF.
final class IRCTestClient {
    let client: TestClient
    let nick: String

    init(_ server: RunningServer, nick: String, register: Bool = true) throws {
        client = try server.connect()
        self.nick = nick
        if register {
            try send("NICK \(nick)")
            try send("USER \(nick) 0 * :Real \(nick)")
            _ = try waitFor { $0.contains(" 422 ") || $0.contains(" 376 ") }
        }
    }

    func send(_ line: String) throws { try client.sendRaw(Array((line + "\r\n").utf8)) }
    func next() throws -> String { try client.next() }
    @discardableResult
    func waitFor(_ matches: (String) -> Bool) throws -> String { try client.waitFor(matches) }

    /// Every line the server sent before it answered a PING sent now.
    func linesBeforeSync(_ token: String = "sync") throws -> [String] {
        try send("PING \(token)")
        var lines: [String] = []
        while true {
            let line = try next()
            if line.hasSuffix("PONG tcpchat :\(token)") { return lines }
            lines.append(line)
        }
    }

    func close() { client.close() }
}

/// The next line is `expected` (a failure shows both).
func expectNext(_ client: IRCTestClient, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let line = try client.next()
    #expect(line == expected, sourceLocation: sourceLocation)
}

/// The next line is `expected` (a failure shows both).
func expectNext(_ client: TestClient, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let line = try client.next()
    #expect(line == expected, sourceLocation: sourceLocation)
}

@Suite struct IRCTests {
    @Test func registrationGetsTheWelcomeNumericsAndNoLineProtocolText() throws {
        let server = try RunningServer()
        let client = try server.connect()
        try client.sendRaw(Array("CAP LS 302\r\nNICK alice\r\nUSER al 0 * :Alice A\r\n".utf8))
        try expectNext(client, ":tcpchat CAP * LS :")
        try client.sendRaw(Array("CAP END\r\n".utf8))
        let welcome = try client.next()
        #expect(welcome.hasPrefix(":tcpchat 001 alice :Welcome"))
        #expect(welcome.hasSuffix("alice!al@127.0.0.1"))
        #expect(try client.next().hasPrefix(":tcpchat 002 alice "))
        #expect(try client.next().hasPrefix(":tcpchat 003 alice "))
        #expect(try client.next().hasPrefix(":tcpchat 004 alice tcpchat "))
        let isupport = try client.next()
        #expect(isupport.hasPrefix(":tcpchat 005 alice ") && isupport.contains("CASEMAPPING=ascii"))
        let rest = try client.waitFor { $0.contains(" 422 ") }
        #expect(rest == ":tcpchat 422 alice :MOTD File is missing")
    }

    @Test func lineProtocolClientsAreWelcomedWithoutSendingAnything() throws {
        let server = try RunningServer()
        let client = try server.connect()
        #expect(try client.next().hasPrefix("* welcome"))
        _ = try client.waitFor { $0.hasPrefix("* you joined #lobby") }
    }

    @Test func aFirstLineThatIsNotIRCIsLineProtocol() throws {
        let server = try RunningServer { $0.ircDetectionMilliseconds = 3_000 }
        let listener = try server.join(as: "listener")  // waits the detection out: 3 s
        _ = listener
        let typist = try server.connect()
        try typist.send("nick is great")  // lower case, three words: chat
        #expect(try typist.next().hasPrefix("* welcome"))
        _ = try listener.waitFor { $0.hasSuffix("> nick is great") }
    }

    @Test func nickCollisionsAndBadNicksAreNumericsBeforeRegistration() throws {
        let server = try RunningServer()
        let alice = try IRCTestClient(server, nick: "alice")
        let other = try IRCTestClient(server, nick: "x", register: false)
        try other.send("NICK Alice")
        try expectNext(other, ":tcpchat 433 * Alice :Nickname is already in use")
        try other.send("NICK bad!nick")
        try expectNext(other, ":tcpchat 432 * bad!nick :Erroneous nickname")
        try other.send("PRIVMSG alice :hi")
        try expectNext(other, ":tcpchat 451 * :You have not registered")
        try other.send("NICK bob")
        try other.send("USER bob 0 * :Bob")
        #expect(try other.next().hasPrefix(":tcpchat 001 bob "))
        _ = alice
        // and after registration
        try other.send("NICK alice")
        _ = try other.waitFor { $0 == ":tcpchat 433 bob alice :Nickname is already in use" }
    }

    @Test func channelsPrivateMessagesNoticesAndPresence() throws {
        let server = try RunningServer()
        let alice = try IRCTestClient(server, nick: "alice")
        let bob = try IRCTestClient(server, nick: "bob")
        try alice.send("JOIN #chat")
        try expectNext(alice, ":alice!alice@127.0.0.1 JOIN #chat")
        try expectNext(alice, ":tcpchat 353 alice = #chat :@alice")
        try expectNext(alice, ":tcpchat 366 alice #chat :End of /NAMES list")
        try bob.send("JOIN #chat")
        try expectNext(alice, ":bob!bob@127.0.0.1 JOIN #chat")
        _ = try bob.waitFor { $0 == ":tcpchat 353 bob = #chat :@alice bob" }
        _ = try bob.waitFor { $0.hasPrefix(":tcpchat 366 ") }
        try bob.send("PRIVMSG #chat :hello all")
        try expectNext(alice, ":bob!bob@127.0.0.1 PRIVMSG #chat :hello all")
        try bob.send("PRIVMSG #chat :\u{1}ACTION waves\u{1}")
        try expectNext(alice, ":bob!bob@127.0.0.1 PRIVMSG #chat :\u{1}ACTION waves\u{1}")
        try bob.send("NOTICE #chat :note")
        try expectNext(alice, ":bob!bob@127.0.0.1 NOTICE #chat :note")
        try bob.send("PRIVMSG alice :psst")
        try expectNext(alice, ":bob!bob@127.0.0.1 PRIVMSG alice :psst")
        #expect(try bob.linesBeforeSync().isEmpty)  // no echo of what bob said
        try bob.send("NICK bobby")
        try expectNext(bob, ":bob!bob@127.0.0.1 NICK :bobby")
        try expectNext(alice, ":bob!bob@127.0.0.1 NICK :bobby")
        try alice.send("TOPIC #chat :the topic")
        try expectNext(alice, ":alice!alice@127.0.0.1 TOPIC #chat :the topic")
        try expectNext(bob, ":alice!alice@127.0.0.1 TOPIC #chat :the topic")
        try bob.send("TOPIC #chat")
        try expectNext(bob, ":tcpchat 332 bobby #chat :the topic")
        #expect(try bob.next().hasPrefix(":tcpchat 333 bobby #chat alice "))
        try bob.send("PART #chat :later")
        try expectNext(alice, ":bobby!bob@127.0.0.1 PART #chat :later")
        try expectNext(bob, ":bobby!bob@127.0.0.1 PART #chat :later")
        try bob.send("PART #chat")
        try expectNext(bob, ":tcpchat 442 bobby #chat :You're not on that channel")
        try bob.send("JOIN #chat")
        _ = try bob.waitFor { $0.hasPrefix(":tcpchat 332 bobby #chat :the topic") }
        _ = try alice.waitFor { $0.hasSuffix("JOIN #chat") }
        try bob.send("QUIT :gone")
        _ = try bob.waitFor { $0.hasPrefix("ERROR :Closing Link") }
        try expectNext(alice, ":bobby!bob@127.0.0.1 QUIT :Quit: gone")
    }

    /// A nick whose skeleton is not its key (`bam`: UTS #39 reads m as rn) is still found for
    /// its prefix and its operator status (the core holds nicks by skeleton).
    @Test func aNickWhoseSkeletonDiffersKeepsItsPrefixAndStatus() throws {
        let server = try RunningServer()
        let bam = try IRCTestClient(server, nick: "bam")
        try bam.send("JOIN #chat")
        try expectNext(bam, ":bam!bam@127.0.0.1 JOIN #chat")
        try expectNext(bam, ":tcpchat 353 bam = #chat :@bam")
        try expectNext(bam, ":tcpchat 366 bam #chat :End of /NAMES list")
        let bob = try IRCTestClient(server, nick: "bob")
        try bob.send("JOIN #chat")
        _ = try bob.waitFor { $0 == ":tcpchat 353 bob = #chat :@bam bob" }
        try bam.send("PRIVMSG #chat :hi")
        _ = try bob.waitFor { $0 == ":bam!bam@127.0.0.1 PRIVMSG #chat :hi" }
    }

    @Test func errorsAreNumerics() throws {
        let server = try RunningServer()
        let alice = try IRCTestClient(server, nick: "alice")
        try alice.send("FROB x")
        try expectNext(alice, ":tcpchat 421 alice FROB :Unknown command")
        try alice.send("JOIN")
        try expectNext(alice, ":tcpchat 461 alice JOIN :Not enough parameters")
        try alice.send("PRIVMSG nobody :hi")
        try expectNext(alice, ":tcpchat 401 alice nobody :No such nick/channel")
        try alice.send("PRIVMSG #nowhere :hi")
        try expectNext(alice, ":tcpchat 403 alice #nowhere :No such channel")
        try alice.send("PRIVMSG")
        try expectNext(alice, ":tcpchat 411 alice :No recipient given (PRIVMSG)")
        try alice.send("PRIVMSG bob")
        try expectNext(alice, ":tcpchat 412 alice :No text to send")
        try alice.send("USER a b c d")
        try expectNext(alice, ":tcpchat 462 alice :You may not reregister")
        try alice.send("JOIN nohash")
        try expectNext(alice, ":tcpchat 403 alice nohash :No such channel")
        try alice.send("MOTD")
        try expectNext(alice, ":tcpchat 422 alice :MOTD File is missing")
        try alice.send("PING :abc")
        try expectNext(alice, ":tcpchat PONG tcpchat :abc")
        try alice.send("PRIVMSG alice :" + String(repeating: "x", count: 600))
        try expectNext(alice, ":tcpchat 417 alice :Input line was too long")
    }

    @Test func linesOutAreAtMost512Bytes() throws {
        let server = try RunningServer()
        let irc = try IRCTestClient(server, nick: "irc")
        try irc.send("JOIN #lobby")
        _ = try irc.waitFor { $0.contains(" 366 ") }
        let line = try server.join(as: "talker")
        _ = try irc.waitFor { $0.hasSuffix("NICK :talker") }
        let long = String(repeating: "é", count: 1000)  // 2000 bytes
        try line.send(long)
        var received = ""
        while received.unicodeScalars.count < 1000 {
            let message = try irc.next()
            #expect(message.utf8.count <= 510)
            #expect(message.hasPrefix(":talker!line@127.0.0.1 PRIVMSG #lobby :"))
            received += message.split(separator: ":", maxSplits: 2)[1]
        }
        #expect(received == long)
    }

    @Test func ircAndLineProtocolShareARoomBothWays() throws {
        let server = try RunningServer()
        let liner = try server.join(as: "liner")
        let irc = try IRCTestClient(server, nick: "ircer")
        try irc.send("JOIN #lobby")
        #expect(try irc.waitFor { $0.hasPrefix(":tcpchat 353 ircer = #lobby :") } == ":tcpchat 353 ircer = #lobby :ircer liner")
        _ = try irc.waitFor { $0.hasPrefix(":tcpchat 366 ") }
        _ = try liner.waitFor { $0 == "* ircer joined #lobby" }
        // messages both ways
        try irc.send("PRIVMSG #lobby :hi from irc")
        _ = try liner.waitFor { $0 == "<ircer> hi from irc" }
        try liner.send("hi from the line")
        try expectNext(irc, ":liner!line@127.0.0.1 PRIVMSG #lobby :hi from the line")
        try liner.send("/me nods")
        try expectNext(irc, ":liner!line@127.0.0.1 PRIVMSG #lobby :\u{1}ACTION nods\u{1}")
        try irc.send("PRIVMSG #lobby :\u{1}ACTION waves\u{1}")
        _ = try liner.waitFor { $0 == "* ircer waves" }
        // private lines both ways
        try irc.send("PRIVMSG liner :just you")
        _ = try liner.waitFor { $0 == "<ircer -> liner> just you" }
        try liner.send("/msg ircer and you")
        try expectNext(irc, ":liner!line@127.0.0.1 PRIVMSG ircer :and you")
        // topics both ways, including the line protocol's /topic
        try liner.send("/topic line topic")
        try expectNext(irc, ":liner!line@127.0.0.1 TOPIC #lobby :line topic")
        try irc.send("TOPIC #lobby :irc topic")
        try expectNext(irc, ":ircer!ircer@127.0.0.1 TOPIC #lobby :irc topic")
        _ = try liner.waitFor { $0 == "* ircer set the topic of #lobby: irc topic" }
        try liner.send("/topic")
        _ = try liner.waitFor { $0 == "* topic of #lobby: irc topic" }
        // presence both ways
        try liner.send("/nick liner2")
        try expectNext(irc, ":liner!line@127.0.0.1 NICK :liner2")
        try irc.send("NICK ircer2")
        try expectNext(irc, ":ircer!ircer@127.0.0.1 NICK :ircer2")
        _ = try liner.waitFor { $0 == "* ircer is now known as ircer2" }
        let late = try server.join()
        let joined = try irc.next()
        #expect(joined.hasPrefix(":guest") && joined.hasSuffix("!line@127.0.0.1 JOIN #lobby"))
        late.close()
        let quit = try irc.next()
        #expect(quit.hasPrefix(":guest") && quit.contains("!line@127.0.0.1 QUIT :"))
        try irc.send("PART #lobby :bye")
        _ = try liner.waitFor { $0 == "* ircer2 left #lobby (bye)" }
        try irc.send("JOIN #lobby")
        _ = try liner.waitFor { $0 == "* ircer2 joined #lobby" }
        try irc.send("QUIT :done")
        _ = try liner.waitFor { $0.hasPrefix("* ircer2 left") }
    }

    @Test func otherCommands() throws {
        let server = try RunningServer()
        let alice = try IRCTestClient(server, nick: "alice")
        let bob = try IRCTestClient(server, nick: "bob")
        try alice.send("JOIN #a")
        _ = try alice.waitFor { $0.contains(" 366 ") }
        try alice.send("TOPIC #a :about a")
        _ = try alice.waitFor { $0.hasSuffix("TOPIC #a :about a") }
        try bob.send("LIST")
        try expectNext(bob, ":tcpchat 321 bob Channel :Users  Name")
        _ = try bob.waitFor { $0 == ":tcpchat 322 bob #a 1 :about a" }
        _ = try bob.waitFor { $0 == ":tcpchat 323 bob :End of /LIST" }
        try bob.send("WHOIS alice")
        try expectNext(bob, ":tcpchat 311 bob alice alice 127.0.0.1 * :Real alice")
        try expectNext(bob, ":tcpchat 319 bob alice :@#a")
        _ = try bob.waitFor { $0 == ":tcpchat 318 bob alice :End of /WHOIS list" }
        try bob.send("WHO #a")
        try expectNext(bob, ":tcpchat 352 bob #a alice 127.0.0.1 tcpchat alice H@ :0 Real alice")
        try expectNext(bob, ":tcpchat 315 bob #a :End of /WHO list")
        try bob.send("ISON alice nobody bob")
        try expectNext(bob, ":tcpchat 303 bob :alice bob")
        try bob.send("USERHOST alice")
        try expectNext(bob, ":tcpchat 302 bob :alice=+alice@127.0.0.1")
        try alice.send("AWAY :lunch")
        try expectNext(alice, ":tcpchat 306 alice :You have been marked as being away")
        try bob.send("PRIVMSG alice :there?")
        try expectNext(bob, ":tcpchat 301 bob alice :lunch")
        try alice.send("AWAY")
        _ = try alice.waitFor { $0 == ":tcpchat 305 alice :You are no longer marked as being away" }
        try bob.send("MODE bob")
        try expectNext(bob, ":tcpchat 221 bob +")
        try bob.send("MODE bob +i")
        try expectNext(bob, ":bob MODE bob :+i")
        try bob.send("MODE bob")
        try expectNext(bob, ":tcpchat 221 bob +i")
        try bob.send("MODE #a")
        try expectNext(bob, ":tcpchat 324 bob #a +n")
        try bob.send("OPER bob secret")
        try expectNext(bob, ":tcpchat 464 bob :Password incorrect")
    }

    @Test func operatorsKickAndChannelModes() throws {
        let server = try RunningServer()
        let op = try IRCTestClient(server, nick: "op")
        let bob = try IRCTestClient(server, nick: "bob")
        try op.send("JOIN #room")
        _ = try op.waitFor { $0.contains(" 366 ") }
        try bob.send("JOIN #room")
        _ = try bob.waitFor { $0.contains(" 366 ") }
        _ = try op.waitFor { $0.hasSuffix("JOIN #room") }
        try bob.send("KICK #room op")
        try expectNext(bob, ":tcpchat 482 bob #room :You're not channel operator")
        try op.send("MODE #room +tm")
        try expectNext(op, ":op!op@127.0.0.1 MODE #room +tm")
        try expectNext(bob, ":op!op@127.0.0.1 MODE #room +tm")
        try bob.send("TOPIC #room :mine")
        try expectNext(bob, ":tcpchat 482 bob #room :You're not channel operator")
        try bob.send("PRIVMSG #room :hello?")
        try expectNext(bob, ":tcpchat 404 bob #room :Cannot send to channel")
        try op.send("MODE #room +v bob")
        try expectNext(op, ":op!op@127.0.0.1 MODE #room +v bob")
        try expectNext(bob, ":op!op@127.0.0.1 MODE #room +v bob")
        try bob.send("PRIVMSG #room :now I may")
        try expectNext(op, ":bob!bob@127.0.0.1 PRIVMSG #room :now I may")
        try op.send("MODE #room +k sesame")
        _ = try bob.waitFor { $0.hasSuffix("MODE #room +k sesame") }
        try op.send("KICK #room bob :out")
        try expectNext(bob, ":op!op@127.0.0.1 KICK #room bob :out")
        _ = try op.waitFor { $0 == ":op!op@127.0.0.1 KICK #room bob :out" }
        try bob.send("JOIN #room")
        try expectNext(bob, ":tcpchat 475 bob #room :Cannot join channel (+k)")
        try bob.send("JOIN #room sesame")
        try expectNext(bob, ":bob!bob@127.0.0.1 JOIN #room")
        try op.send("MODE #room")
        _ = try op.waitFor { $0 == ":tcpchat 324 op #room +mnt sesame" || $0 == ":tcpchat 324 op #room +mntk sesame" }
    }

    @Test func aSlowIRCClientIsStillServedAfterTheLineWelcome() throws {
        let server = try RunningServer { $0.ircDetectionMilliseconds = 1 }
        let watcher = try server.join(as: "watcher")
        let slow = try server.connect()
        _ = try slow.waitFor { $0.hasPrefix("* you joined #lobby") }  // taken for the line protocol
        _ = try watcher.waitFor { $0.hasSuffix("joined #lobby") }
        try slow.sendRaw(Array("NICK late\r\nUSER late 0 * :Late\r\n".utf8))
        _ = try slow.waitFor { $0.hasPrefix(":tcpchat 001 late ") }
        _ = try watcher.waitFor { $0.hasSuffix("left (speaks IRC)") }
    }

    @Test func aQuitOrRenameIsHeardOnceAcrossSharedRooms() throws {
        let server = try RunningServer()
        let alice = try IRCTestClient(server, nick: "alice")
        let bob = try IRCTestClient(server, nick: "bob")
        for client in [alice, bob] {
            try client.send("JOIN #one,#two")
            _ = try client.waitFor { $0.hasPrefix(":tcpchat 366 \(client.nick) #two") }
        }
        _ = try alice.linesBeforeSync()
        try bob.send("NICK robert")
        _ = try bob.waitFor { $0.hasSuffix("NICK :robert") }
        try bob.send("QUIT :bye")
        _ = try bob.waitFor { $0.hasPrefix("ERROR") }
        let seen = try alice.linesBeforeSync()
        #expect(seen == [":bob!bob@127.0.0.1 NICK :robert", ":robert!bob@127.0.0.1 QUIT :Quit: bye"])
    }
}
