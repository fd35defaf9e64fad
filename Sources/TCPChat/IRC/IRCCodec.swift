// IRC (RFC 1459 / 2812, as modern clients speak it) as a codec of the chat core: IRC users
// and line-protocol users share rooms (IRC channels), nicks and private messages. What is
// IRC's alone lives here, per session (IRCCodec.State: USER, registration, away); what a
// room is (members, topic) is the core's. See docs/PROTOCOL.md, "IRC".
#if canImport(Glibc)
import Glibc
#endif
import TCPChatCore

package final class IRCCodec: WireCodec {
    /// What IRC knows of a session that the core does not.
    final class State {
        /// The nick as this session's IRC client knows it (its prefix until a NICK is sent).
        var nick: String?
        var user: String?
        var realname = ""
        let host: String
        /// Between `CAP LS`/`CAP REQ` and `CAP END`: registration waits.
        var negotiatingCapabilities = false
        var registered = false
        var away: String?
        /// OPER succeeded (user mode +o).
        var isOperator = false
        /// User mode +w: receives WALLOPS.
        var wallops = false
        /// User mode +i: kept and shown, changes nothing here (WHO lists members of your rooms only anyway).
        var invisible = false
        /// For numerics that name what was asked (432, 403), the core's errors do not.
        var lastNickAsked = ""
        var lastChannelAsked = ""
        /// The last PASS before registration (checked then, when the server has a password).
        var password: String?
        /// SASL and NickServ (IRCAccounts.swift).
        var account = IRCAccountState()

        init(host: String) { self.host = host }
    }

    let serverName: String
    let version: String
    let created: String
    /// The core, for lookups while rendering (prefixes of other sessions); set on first use.
    weak var core: ChatCore?
    private(set) var states: [ObjectIdentifier: State] = [:]
    /// OPER names and their passwords.
    let operators: [String: String]
    /// The server password (`--password`): registration needs a PASS with it. nil: none.
    let password: String?

    package init(serverName: String = "tcpchat", operators: [String: String] = [:], password: String? = nil) {
        self.serverName = serverName
        self.operators = operators
        self.password = password
        version = "tcpchat-\(TCPChatVersion.string)"
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
        created = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package var echoesPrivateMessages: Bool { false }
    package var listsPeopleOnJoin: Bool { true }

    func state(of session: ChatSession) -> State {
        if let state = states[ObjectIdentifier(session)] { return state }
        let state = State(host: IRCCodec.host(of: session.label))
        states[ObjectIdentifier(session)] = state
        return state
    }

    /// The address part of a session label (`1.2.3.4:5678`, `[::1]:5678`).
    static func host(of label: String) -> String {
        var host = Substring(label)
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        if host.hasPrefix(":") { host = "0" + host }  // a host never starts with ':' in a prefix
        return host.isEmpty ? "unknown" : String(host)
    }

    // MARK: Sessions

    package func opened(_ session: ChatSession, core: ChatCore) {
        self.core = core
        _ = state(of: session)
    }

    package func closed(_ session: ChatSession) {
        if let state = states.removeValue(forKey: ObjectIdentifier(session)), state.registered, let nick = state.nick {
            remember(nick: nick, state)
        }
    }

    // MARK: Lines in

    package func received(line bytes: UnsafeRawBufferPointer, from session: ChatSession, core: ChatCore) {
        self.core = core
        let state = state(of: session)
        if bytes.count > IRCMessage.maxLineBytes - 2 {
            return reply(session, state, "417", ":Input line was too long")
        }
        guard let message = IRCMessage.parse(bytes) else { return }
        let params = message.params
        func need(_ count: Int) -> Bool {
            if params.count >= count && (count == 0 || !params[count - 1].isEmpty || count > 1) { return true }
            reply(session, state, "461", message.command, ":Not enough parameters")
            return false
        }
        switch message.command {
        case "CAP": return capability(params, session, state)
        case "AUTHENTICATE": return authenticate(params, session, state, core)
        case "NICKSERV", "NS":
            guard state.registered else { return reply(session, state, "451", ":You have not registered") }
            return nickServ(params.joined(separator: " "), session, state, core)
        case "PASS":
            if state.registered { return reply(session, state, "462", ":You may not reregister") }
            guard let given = params.first, !given.isEmpty else { return reply(session, state, "461", "PASS", ":Not enough parameters") }
            state.password = given
            return
        case "NICK":
            guard let nick = params.first, !nick.isEmpty else { return reply(session, state, "431", ":No nickname given") }
            return changeNick(to: nick, session, state, core)
        case "USER":
            if state.registered { return reply(session, state, "462", ":You may not reregister") }
            guard params.count >= 4, !params[0].isEmpty else { return reply(session, state, "461", "USER", ":Not enough parameters") }
            state.user = IRCCodec.username(params[0])
            state.realname = TextSanitizer.strip(params[3])
            return tryToRegister(session, state, core)
        case "PING":
            guard need(1) else { return }
            return send(session, ":\(serverName) PONG \(serverName) :\(params[0])")
        case "PONG":
            return
        case "QUIT":
            if !state.registered {
                send(session, "ERROR :Closing Link: \(state.host) (Client Quit)")
                return session.finish(reason: "quit")
            }
            let reason = params.first.map(TextSanitizer.strip).flatMap { $0.isEmpty ? nil : $0 }
            return core.handle(.quit(reason: reason), from: session)
        default:
            break
        }
        guard state.registered else {
            return reply(session, state, "451", ":You have not registered")
        }
        switch message.command {
        case "PRIVMSG", "NOTICE":
            let notice = message.command == "NOTICE"
            guard let targets = params.first, !targets.isEmpty else {
                return notice ? () : reply(session, state, "411", ":No recipient given (\(message.command))")
            }
            guard params.count >= 2, !params[1].isEmpty else { return notice ? () : reply(session, state, "412", ":No text to send") }
            for target in targets.split(separator: ",") {
                deliver(params[1], to: String(target), notice: notice, session, state, core)
            }
        case "JOIN":
            guard need(1) else { return }
            if params[0] == "0" {
                for room in session.rooms {
                    core.handle(.part(room.name, reason: nil), from: session)
                    send(session, ":\(prefix(session.nick)) PART \(room.name)")
                }
                return
            }
            for name in params[0].split(separator: ",") {
                let name = String(name)
                state.lastChannelAsked = name
                if let room = core.rooms[Names.key(name)] {
                    if session.isMember(of: room) { continue }
                    let keys = params.count > 1 ? params[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
                    let index = params[0].split(separator: ",").firstIndex { Names.key(String($0)) == room.key } ?? 0
                    if let refusal = refusal(toJoin: room, key: index < keys.count ? keys[index] : nil, session, state) {
                        reply(session, state, refusal.0, room.name, refusal.1)
                        continue
                    }
                    room.modes.invited.remove(Names.key(session.nick))
                }
                core.handle(.join(name, exclusive: false), from: session)  // NAMES follows (listsPeopleOnJoin)
            }
        case "PART":
            guard need(1) else { return }
            let reason = params.count > 1 ? TextSanitizer.strip(params[1]) : nil
            for name in params[0].split(separator: ",") {
                guard let room = core.rooms[Names.key(String(name))] else {
                    reply(session, state, "403", String(name), ":No such channel")
                    continue
                }
                guard session.isMember(of: room) else {
                    reply(session, state, "442", room.name, ":You're not on that channel")
                    continue
                }
                let why = reason?.isEmpty == true ? nil : reason
                core.handle(.part(room.name, reason: why), from: session)
                if !session.isMember(of: room) { send(session, ":\(prefix(session.nick)) PART \(room.name)" + (why.map { " :\($0)" } ?? "")) }
            }
        case "TOPIC":
            guard need(1) else { return }
            guard let room = core.rooms[Names.key(params[0])] else { return reply(session, state, "403", params[0], ":No such channel") }
            guard session.isMember(of: room) else { return reply(session, state, "442", room.name, ":You're not on that channel") }
            if params.count > 1 {
                if room.modes.topicLocked && !room.isOperator(session) { return reply(session, state, "482", room.name, ":You're not channel operator") }
                return core.handle(.setTopic(room: room.name, text: TextSanitizer.strip(params[1])), from: session)
            }
            topicReply(room, session, state)
        case "NAMES":
            guard let names = params.first, !names.isEmpty else {
                for room in session.rooms { core.handle(.who(room: room.name), from: session) }
                return reply(session, state, "366", "*", ":End of /NAMES list")
            }
            for name in names.split(separator: ",") {
                let name = String(name)
                if let room = core.rooms[Names.key(name)] {
                    if session.isMember(of: room) { core.handle(.who(room: room.name), from: session); continue }
                    send(session, namesLines(room: room.name, nicks: room.members.map(\.nick), for: session))
                } else {
                    reply(session, state, "366", name, ":End of /NAMES list")
                }
            }
        case "MOTD":
            reply(session, state, "422", ":MOTD File is missing")
        case "LIST":
            reply(session, state, "321", "Channel", ":Users  Name")
            let wanted = params.first.map { Set($0.split(separator: ",").map { Names.key(String($0)) }) }
            for room in core.rooms.values.sorted(by: { $0.key < $1.key }) where !room.isEmpty || room.topic != nil {
                if let wanted, !wanted.contains(room.key) { continue }
                if room.modes.secret && !session.isMember(of: room) { continue }
                reply(session, state, "322", room.name, String(room.members.count), ":" + (room.topic ?? ""))
            }
            reply(session, state, "323", ":End of /LIST")
        case "WHO":
            let mask = params.first ?? "*"
            if let room = core.rooms[Names.key(mask)] {
                for member in room.members { send(session, whoLine(member, channel: room.name, for: session, state)) }
            } else if let person = core.person(named: mask) {
                send(session, whoLine(person, channel: person.rooms.first?.name ?? "*", for: session, state))
            }
            reply(session, state, "315", mask, ":End of /WHO list")
        case "WHOIS":
            guard need(1) else { return }
            let nick = params.count > 1 ? params[1] : params[0]
            guard let person = core.person(named: nick) else {
                reply(session, state, "401", nick, ":No such nick/channel")
                return reply(session, state, "318", nick, ":End of /WHOIS list")
            }
            let (user, host, realname, away) = identity(of: person)
            reply(session, state, "311", person.nick, user, host, "*", ":" + realname)
            let visible = person.rooms.filter { !$0.modes.secret || session.isMember(of: $0) }
            if !visible.isEmpty { reply(session, state, "319", person.nick, ":" + visible.map { statusPrefix(of: person.nick, in: $0) + $0.name }.joined(separator: " ")) }
            reply(session, state, "312", person.nick, serverName, ":tcpchat")
            if let away { reply(session, state, "301", person.nick, ":" + away) }
            reply(session, state, "318", person.nick, ":End of /WHOIS list")
        case "ISON":
            guard need(1) else { return }
            let present = params.flatMap { $0.split(separator: " ") }.compactMap { core.person(named: String($0))?.nick }
            reply(session, state, "303", ":" + present.joined(separator: " "))
        case "USERHOST":
            guard need(1) else { return }
            let found = params.prefix(5).compactMap { nick -> String? in
                guard let person = core.person(named: nick) else { return nil }
                let (user, host, _, away) = identity(of: person)
                return "\(person.nick)=\(away == nil ? "+" : "-")\(user)@\(host)"
            }
            reply(session, state, "302", ":" + found.joined(separator: " "))
        case "AWAY":
            if let text = params.first.map(TextSanitizer.strip), !text.isEmpty {
                state.away = text
                reply(session, state, "306", ":You have been marked as being away")
            } else {
                state.away = nil
                reply(session, state, "305", ":You are no longer marked as being away")
            }
        case "MODE":
            guard need(1) else { return }
            mode(params, session, state, core)
        case "OPER":
            guard need(2) else { return }
            guard let password = operators[params[0]], Secret.matches(params[1], password) else {
                return reply(session, state, "464", ":Password incorrect")
            }
            state.isOperator = true
            reply(session, state, "381", ":You are now an IRC operator")
            send(session, ":\(session.nick) MODE \(session.nick) :+o")
        case "WALLOPS":
            guard need(1) else { return }
            guard state.isOperator else { return reply(session, state, "481", ":Permission Denied- You're not an IRC operator") }
            let line = SharedBuffer(IRCMessage.fit(":\(prefix(session.nick)) WALLOPS :\(TextSanitizer.strip(params[0]))") + "\r\n")
            for person in core.nicks.values where person.encoder === self && states[ObjectIdentifier(person)]?.wallops == true {
                person.enqueue(line)
            }
        case "KICK":
            guard need(2) else { return }
            guard let room = core.rooms[Names.key(params[0])] else { return reply(session, state, "403", params[0], ":No such channel") }
            let reason = params.count > 2 ? TextSanitizer.strip(params[2]) : session.nick
            for nick in params[1].split(separator: ",") {
                core.handle(.kick(room: room.name, nick: String(nick), reason: reason), from: session)
            }
        case "INVITE":
            guard need(2) else { return }
            guard let person = core.person(named: params[0]) else { return reply(session, state, "401", params[0], ":No such nick/channel") }
            guard let room = core.rooms[Names.key(params[1])] else { return reply(session, state, "403", params[1], ":No such channel") }
            guard session.isMember(of: room) else { return reply(session, state, "442", room.name, ":You're not on that channel") }
            if room.modes.inviteOnly && !room.isOperator(session) { return reply(session, state, "482", room.name, ":You're not channel operator") }
            if person.isMember(of: room) { return reply(session, state, "443", person.nick, room.name, ":is already on channel") }
            room.modes.invited.insert(Names.key(person.nick))
            reply(session, state, "341", person.nick, room.name)
            if person.encoder === self { person.enqueue(SharedBuffer(":\(prefix(session.nick)) INVITE \(person.nick) :\(room.name)\r\n")) }
        case "INFO":
            if let target = params.first, Names.key(target) != Names.key(serverName), core.person(named: target) == nil {
                return reply(session, state, "402", target, ":No such server")
            }
            reply(session, state, "371", ":\(version), a chat server that also speaks IRC")
            reply(session, state, "374", ":End of /INFO list")
        case "WHOWAS":
            guard need(1) else { return }
            whowas(params, session, state)
        case "VERSION":
            reply(session, state, "351", version + ".", serverName, ":tcpchat")
        case "TIME":
            reply(session, state, "391", serverName, ":" + created)
        case "LUSERS":
            lusers(session, state, core)
        case "USERS", "SUMMON":
            reply(session, state, "446", ":\(message.command) has been disabled")
        default:
            reply(session, state, "421", message.command, ":Unknown command")
        }
    }

    // MARK: Registration

    private func capability(_ params: [String], _ session: ChatSession, _ state: State) {
        let target = state.nick ?? "*"
        switch params.first?.uppercased() ?? "" {
        case "LS":
            if !state.registered { state.negotiatingCapabilities = true }
            send(session, ":\(serverName) CAP \(target) LS :" + offeredCapabilities(version: params.count > 1 ? Int(params[1]) ?? 0 : 0))
        case "LIST":
            send(session, ":\(serverName) CAP \(target) LIST :" + (state.account.capability ? "sasl" : ""))
        case "REQ":
            if !state.registered { state.negotiatingCapabilities = true }
            let asked = params.count > 1 ? params[1] : ""
            send(session, ":\(serverName) CAP \(target) \(acknowledge(asked, state) ? "ACK" : "NAK") :\(asked)")
        case "END":
            guard state.negotiatingCapabilities else { return }
            saslEndedByCapEnd(session, state)
            state.negotiatingCapabilities = false
            if let core { tryToRegister(session, state, core) }
        default:
            reply(session, state, "410", params.first ?? "", ":Invalid CAP command")
        }
    }

    private func changeNick(to nick: String, _ session: ChatSession, _ state: State, _ core: ChatCore) {
        state.lastNickAsked = nick
        guard state.registered else {
            // The core's rules, as for a rename and for the line protocol (ChatCore.refusal).
            if let refusal = core.refusal(ofNick: Names.display(nick), for: session) {
                return send(session, errorLines(refusal, for: session) ?? [])
            }
            state.nick = nick
            return tryToRegister(session, state, core)
        }
        if nick == session.nick { return }
        core.handle(.changeNick(nick), from: session)
    }

    private func tryToRegister(_ session: ChatSession, _ state: State, _ core: ChatCore) {
        guard !state.registered, !state.negotiatingCapabilities, let nick = state.nick, state.user != nil else { return }
        if let password {
            // RFC 2812 3.1.1: PASS comes before NICK/USER; without the right one the server
            // says 464 and closes with ERROR (as ngIRCd does).
            guard let given = state.password, Secret.matches(given, password) else {
                reply(session, state, "464", ":Password incorrect")
                send(session, "ERROR :Closing Link: \(state.host) (Bad password)")
                state.nick = nil
                state.user = nil
                return session.finish(reason: state.password == nil ? "no password (PASS) given" : "wrong password (PASS)")
            }
        }
        core.handle(.registerAs(nick: nick), from: session)
        if session.isRegistered {
            state.registered = true
            state.password = nil  // not kept once checked
            if let record = state.account.loggedIn {  // SASL: identified now (900 was sent then)
                state.account.announced = record.name
                core.accounts?.identified(session, as: record, how: "sasl")
            }
            lusers(session, state, core)
            reply(session, state, "422", ":MOTD File is missing")
        } else {
            state.nick = nil
        }
    }

    /// A username as IRC shows it: `~`-free, printable, at most 10 characters.
    static func username(_ asked: String) -> String {
        let kept = asked.unicodeScalars.filter { Names.isNameScalar($0) || $0 == "." }.prefix(10)
        return kept.isEmpty ? "user" : String(String.UnicodeScalarView(kept))
    }

    private func lusers(_ session: ChatSession, _ state: State, _ core: ChatCore) {
        reply(session, state, "251", ":There are \(core.nicks.count) users and 0 invisible on 1 servers")
        reply(session, state, "254", String(core.rooms.values.filter { !$0.isEmpty }.count), ":channels formed")
        reply(session, state, "255", ":I have \(core.nicks.count) clients and 0 servers")
    }

    // MARK: Chat

    private func deliver(_ text: String, to target: String, notice: Bool, _ session: ChatSession, _ state: State, _ core: ChatCore) {
        if target.utf8.count == 8, Names.key(target) == IRCCodec.nickServKey {  // reserved: nobody else is NickServ
            return notice ? () : nickServ(text, session, state, core)
        }
        let action = IRCCodec.action(in: text)
        if target.hasPrefix("#") {
            guard let room = core.rooms[Names.key(target)] else {
                return notice ? () : reply(session, state, "403", target, ":No such channel")
            }
            let member = session.isMember(of: room)
            let silenced = room.modes.moderated && !room.isOperator(session) && !room.voiced.contains(ObjectIdentifier(session))
            if (!member && room.modes.noExternal) || silenced {
                return notice ? () : reply(session, state, "404", room.name, ":Cannot send to channel")
            }
            if let action { return core.handle(.act(room: room.name, text: TextSanitizer.strip(action)), from: session) }
            if text.hasPrefix("\u{1}") { return }  // other CTCP to a room: nothing a room can show
            let clean = TextSanitizer.strip(text)
            if clean.isEmpty { return }
            core.handle(notice ? .notice(room: room.name, text: clean) : .say(room: room.name, text: clean), from: session)
            return
        }
        guard let receiver = core.person(named: target) else {
            if core.cluster != nil, action != nil || !text.hasPrefix("\u{1}") {
                // Maybe on another server of the cluster (which answers 401 for a PRIVMSG). A
                // /me crosses as the CTCP ACTION it is (the line protocol there shows it as an
                // action, as it does here); other CTCP stays between IRC clients of one server.
                let body = action.map { "\u{1}ACTION \(TextSanitizer.strip($0))\u{1}" } ?? TextSanitizer.strip(text)
                if body.isEmpty { return }
                return core.handle(notice ? .privateNotice(to: target, text: body) : .privateMessage(to: target, text: body), from: session)
            }
            if notice { return }
            return reply(session, state, "401", target, ":No such nick/channel")
        }
        let body: String
        if let action {
            body = "\u{1}ACTION \(TextSanitizer.strip(action))\u{1}"
        } else if text.hasPrefix("\u{1}") {
            // Other CTCP (VERSION, PING...) only between IRC clients, as sent (CR LF NUL cannot be in it).
            guard receiver.encoder === self else { return }
            body = text
        } else {
            body = TextSanitizer.strip(text)
            if body.isEmpty { return }
        }
        if notice { return core.handle(.privateNotice(to: receiver.nick, text: body), from: session) }
        if let away = states[ObjectIdentifier(receiver)]?.away { reply(session, state, "301", receiver.nick, ":" + away) }
        core.handle(.privateMessage(to: receiver.nick, text: body), from: session)
    }

    /// The text of a CTCP ACTION (`/me`), or nil.
    static func action(in text: String) -> String? {
        guard text.hasPrefix("\u{1}ACTION ") || text == "\u{1}ACTION\u{1}" else { return nil }
        var action = text.dropFirst(7)
        if action.hasSuffix("\u{1}") { action = action.dropLast() }
        return String(action.drop { $0 == " " })
    }

    private func mode(_ params: [String], _ session: ChatSession, _ state: State, _ core: ChatCore) {
        let target = params[0]
        if target.hasPrefix("#") {
            guard let room = core.rooms[Names.key(target)] else { return reply(session, state, "403", target, ":No such channel") }
            guard params.count > 1 else { return reply(session, state, "324", room.name, IRCCodec.modeString(room.modes)) }
            return channelMode(room, Array(params.dropFirst()), session, state, core)
        }
        guard Names.key(target) == Names.key(session.nick) else {
            if core.person(named: target) == nil { return reply(session, state, "401", target, ":No such nick/channel") }
            return reply(session, state, "502", ":Can't change mode for other users")
        }
        if params.count == 1 {
            return reply(session, state, "221", "+" + (state.invisible ? "i" : "") + (state.isOperator ? "o" : "") + (state.wallops ? "w" : ""))
        }
        // +w is kept (WALLOPS), +i kept and echoed (irssi waits for the echo before its next
        // commands); -o drops operator status; s, r change nothing.
        var adding = true
        var changed = ""
        var sign: Bool?
        for flag in params[1] {
            switch flag {
            case "+": adding = true
            case "-": adding = false
            case "w" where state.wallops != adding, "i" where state.invisible != adding, "o" where !adding && state.isOperator:
                if flag == "w" { state.wallops = adding } else if flag == "i" { state.invisible = adding } else { state.isOperator = false }
                if sign != adding { changed += adding ? "+" : "-"; sign = adding }
                changed.append(flag)
            case "i", "w", "s", "r", "o":
                break
            default:
                reply(session, state, "501", ":Unknown MODE flag")
            }
        }
        if !changed.isEmpty { send(session, ":\(session.nick) MODE \(session.nick) :\(changed)") }
    }

    /// `+nt`, `+k key`, `+l 5`... for 324.
    static func modeString(_ modes: RoomModes) -> String {
        var flags = "+"
        var arguments: [String] = []
        if modes.inviteOnly { flags += "i" }
        if modes.moderated { flags += "m" }
        if modes.noExternal { flags += "n" }
        if modes.secret { flags += "s" }
        if modes.topicLocked { flags += "t" }
        if let key = modes.key { flags += "k"; arguments.append(key) }
        if let limit = modes.limit { flags += "l"; arguments.append(String(limit)) }
        return ([flags] + arguments).joined(separator: " ")
    }

    /// MODE #room +/-flags args: lists (b, e, I) for anyone, changes for operators; the
    /// changes made are told to the room in one MODE line.
    private func channelMode(_ room: Room, _ arguments: [String], _ session: ChatSession, _ state: State, _ core: ChatCore) {
        var queue = arguments.dropFirst()
        var adding = true
        var applied: [(Bool, Character, String?)] = []
        let isOperator = room.isOperator(session)
        var refused = false
        for flag in arguments[0] {
            if flag == "+" { adding = true; continue }
            if flag == "-" { adding = false; continue }
            switch flag {
            case "b", "e", "I":
                guard let mask = queue.popFirst() else {
                    if flag == "b" {
                        for ban in room.modes.bans { reply(session, state, "367", room.name, ban) }
                        reply(session, state, "368", room.name, ":End of channel ban list")
                    } else if flag == "e" {
                        reply(session, state, "349", room.name, ":End of channel exception list")
                    } else {
                        reply(session, state, "347", room.name, ":End of channel invite list")
                    }
                    continue
                }
                guard isOperator else { refused = true; continue }
                guard flag == "b" else { continue }
                if adding {
                    if !room.modes.bans.contains(mask) { room.modes.bans.append(mask); applied.append((true, "b", mask)) }
                } else if let index = room.modes.bans.firstIndex(of: mask) {
                    room.modes.bans.remove(at: index)
                    applied.append((false, "b", mask))
                }
            case "o", "v":
                guard let nick = queue.popFirst() else { continue }
                guard isOperator else { refused = true; continue }
                guard let person = core.person(named: nick) else { reply(session, state, "401", nick, ":No such nick/channel"); continue }
                guard person.isMember(of: room) else { reply(session, state, "441", person.nick, room.name, ":They aren't on that channel"); continue }
                let id = ObjectIdentifier(person)
                if flag == "o" {
                    if adding { room.operators.insert(id) } else { room.operators.remove(id) }
                } else {
                    if adding { room.voiced.insert(id) } else { room.voiced.remove(id) }
                }
                applied.append((adding, flag, person.nick))
            case "k":
                let key = queue.popFirst()
                guard isOperator else { refused = true; continue }
                if adding {
                    guard let key, !key.isEmpty, key.utf8.count <= 23, !key.contains(" "), key.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                        reply(session, state, "696", room.name, "k", "*", ":Invalid key")
                        continue
                    }
                    room.modes.key = key
                    applied.append((true, "k", key))
                } else if room.modes.key != nil {
                    room.modes.key = nil
                    applied.append((false, "k", "*"))
                }
            case "l":
                guard isOperator else { if adding { _ = queue.popFirst() }; refused = true; continue }
                if adding {
                    guard let text = queue.popFirst(), let limit = Int(text), limit > 0 else {
                        reply(session, state, "696", room.name, "l", "*", ":Invalid limit")
                        continue
                    }
                    room.modes.limit = limit
                    applied.append((true, "l", String(limit)))
                } else if room.modes.limit != nil {
                    room.modes.limit = nil
                    applied.append((false, "l", nil))
                }
            case "i", "m", "n", "s", "t":
                guard isOperator else { refused = true; continue }
                let path: WritableKeyPath<RoomModes, Bool> = switch flag {
                case "i": \.inviteOnly
                case "m": \.moderated
                case "n": \.noExternal
                case "s": \.secret
                default: \.topicLocked
                }
                if room.modes[keyPath: path] != adding {
                    room.modes[keyPath: path] = adding
                    applied.append((adding, flag, nil))
                }
            default:
                reply(session, state, "472", String(flag), ":is unknown mode char to me")
            }
        }
        if refused { reply(session, state, "482", room.name, ":You're not channel operator") }
        guard !applied.isEmpty else { return }
        var text = ""
        var sign: Bool?
        var modeArguments: [String] = []
        for (add, flag, argument) in applied {
            if sign != add { text += add ? "+" : "-"; sign = add }
            text.append(flag)
            if let argument { modeArguments.append(argument) }
        }
        core.handle(.announceModes(room: room.name, change: ([text] + modeArguments).joined(separator: " ")), from: session)
    }

    /// Why `session` may not join `room` (numeric, text), or nil.
    private func refusal(toJoin room: Room, key: String?, _ session: ChatSession, _ state: State) -> (String, String)? {
        let modes = room.modes
        let invited = modes.invited.contains(Names.key(session.nick))
        if let required = modes.key, key != required { return ("475", ":Cannot join channel (+k)") }
        if let limit = modes.limit, room.members.count >= limit { return ("471", ":Cannot join channel (+l)") }
        if modes.inviteOnly && !invited { return ("473", ":Cannot join channel (+i)") }
        let me = "\(session.nick)!\(state.user ?? session.nick)@\(state.host)"
        if !invited, modes.bans.contains(where: { IRCCodec.mask($0, matches: me) }) { return ("474", ":Cannot join channel (+b)") }
        return nil
    }

    /// IRC masks: `*` any run, `?` one character, case-insensitive.
    static func mask(_ mask: String, matches text: String) -> Bool {
        let pattern = Array(mask.lowercased().unicodeScalars)
        let subject = Array(text.lowercased().unicodeScalars)
        var p = 0, t = 0, star = -1, mark = 0
        while t < subject.count {
            if p < pattern.count && (pattern[p] == "?" || pattern[p] == subject[t]) {
                p += 1; t += 1
            } else if p < pattern.count && pattern[p] == "*" {
                star = p; mark = t; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; t = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }

    /// `@` for an operator of `room`, `+` for a voiced member, else nothing.
    private func statusPrefix(of nick: String, in room: Room?) -> String {
        guard let room, let person = core?.person(named: nick) else { return "" }
        if room.isOperator(person) { return "@" }
        if room.voiced.contains(ObjectIdentifier(person)) { return "+" }
        return ""
    }

    // MARK: WHOWAS

    /// Who used a nick before (IRC users who left or renamed), newest first per nick.
    private var history: [(nick: String, user: String, host: String, realname: String)] = []

    private func remember(nick: String, _ state: State) {
        history.append((nick, state.user ?? nick, state.host, state.realname))
        if history.count > 1000 { history.removeFirst(history.count - 1000) }
    }

    private func whowas(_ params: [String], _ session: ChatSession, _ state: State) {
        let count = params.count > 1 ? (Int(params[1]) ?? 0) : 0
        for nick in params[0].split(separator: ",").map(String.init) {
            let found = history.reversed().filter { Names.key($0.nick) == Names.key(nick) }
            if found.isEmpty { reply(session, state, "406", nick, ":There was no such nickname") }
            for entry in found.prefix(count > 0 ? count : found.count) {
                reply(session, state, "314", entry.nick, entry.user, entry.host, "*", ":" + entry.realname)
                reply(session, state, "312", entry.nick, serverName, ":tcpchat")
            }
            reply(session, state, "369", nick, ":End of WHOWAS")
        }
    }

    // MARK: Replies

    func send(_ session: ChatSession, _ line: String) {
        session.enqueue(SharedBuffer(IRCMessage.fit(line) + "\r\n"))
    }

    func send(_ session: ChatSession, _ lines: [String]) {
        session.enqueue(SharedBuffer(lines.map { IRCMessage.fit($0) + "\r\n" }.joined()))
    }

    /// `:server NUMERIC <you> params...` (the last parameter carries its own ':' when it needs one).
    func reply(_ session: ChatSession, _ state: State, _ numeric: String, _ params: String...) {
        send(session, numericLine(numeric, to: state.registered ? session.nick : (state.nick ?? "*"), params))
    }

    func numericLine(_ numeric: String, to target: String, _ params: [String]) -> String {
        ":\(serverName) \(numeric) \(target) " + params.joined(separator: " ")
    }

    private func topicReply(_ room: Room, _ session: ChatSession, _ state: State) {
        guard let topic = room.topic, !topic.isEmpty else { return reply(session, state, "331", room.name, ":No topic is set") }
        reply(session, state, "332", room.name, ":" + topic)
        if let setter = room.topicSetter { reply(session, state, "333", room.name, setter, String(room.topicTime)) }
    }

    /// user, host, real name and away text of anyone (IRC's own, or what stands for them).
    private func identity(of person: ChatSession) -> (String, String, String, String?) {
        if let state = states[ObjectIdentifier(person)] {
            return (state.user ?? person.nick, state.host, state.realname, state.away)
        }
        return ("line", IRCCodec.host(of: person.label), person.nick, nil)  // a line-protocol user
    }

    private func whoLine(_ person: ChatSession, channel: String, for session: ChatSession, _ state: State) -> String {
        let (user, host, realname, away) = identity(of: person)
        let status = statusPrefix(of: person.nick, in: core?.rooms[Names.key(channel)])
        return numericLine("352", to: session.nick, [channel, user, host, serverName, person.nick, (away == nil ? "H" : "G") + status, ":0 " + realname])
    }

    /// `nick!user@host` of a nick, as far as this server knows it.
    private func prefix(_ nick: String) -> String {
        if let person = core?.person(named: nick) {
            let (user, host, _, _) = identity(of: person)
            return "\(nick)!\(user)@\(host)"
        }
        return "\(nick)!remote@\(serverName)"  // on another server of the cluster
    }

    private func namesLines(room: String, nicks: [String], for session: ChatSession) -> [String] {
        let me = session.nick
        let head = ":\(serverName) 353 \(me) \(core?.rooms[Names.key(room)]?.modes.secret == true ? "@" : "=") \(room) :"
        var lines: [String] = []
        var current = ""
        let found = core?.rooms[Names.key(room)]
        for name in nicks.sorted(by: { $0.lowercased() < $1.lowercased() }) {
            let nick = statusPrefix(of: name, in: found) + name
            if !current.isEmpty && head.utf8.count + current.utf8.count + 1 + nick.utf8.count > IRCMessage.maxLineBytes - 2 {
                lines.append(head + current)
                current = ""
            }
            current += current.isEmpty ? nick : " " + nick
        }
        if !current.isEmpty { lines.append(head + current) }
        lines.append(":\(serverName) 366 \(me) \(room) :End of /NAMES list")
        return lines
    }

    /// `:prefix COMMAND target :text`, in as many lines as 512 bytes need.
    func textLines(_ prefix: String, _ command: String, _ target: String, _ text: String,
                           around: (String, String) = ("", "")) -> [String] {
        let head = ":\(prefix) \(command) \(target) :" + around.0
        let budget = IRCMessage.maxLineBytes - 2 - head.utf8.count - around.1.utf8.count
        return IRCMessage.pieces(of: text, budget: budget).map { head + $0 + around.1 }
    }

    // MARK: Events out

    package func encode(_ event: ChatEvent, for session: ChatSession?) -> SharedBuffer? {
        guard let lines = render(event, for: session), !lines.isEmpty else { return nil }
        return SharedBuffer(lines.map { IRCMessage.fit($0) + "\r\n" }.joined())
    }

    func render(_ event: ChatEvent, for session: ChatSession?) -> [String]? {
        switch event {
        case .said(let room, let nick, let text): return textLines(prefix(nick), "PRIVMSG", room, text)
        case .acted(let room, let nick, let text):
            return textLines(prefix(nick), "PRIVMSG", room, text, around: ("\u{1}ACTION ", "\u{1}"))
        case .noticed(let room, let nick, let text): return textLines(prefix(nick), "NOTICE", room, text)
        case .kicked(let room, let nick, let by, let reason): return [":\(prefix(by)) KICK \(room) \(nick) :\(reason)"]
        case .modeChanged(let room, let nick, let change): return [":\(prefix(nick)) MODE \(room) \(change)"]
        case .joined(let room, let nick): return [":\(prefix(nick)) JOIN \(room)"]
        case .left(let room, let nick, let reason):
            switch reason {
            case .parted(let why): return [":\(prefix(nick)) PART \(room)" + (why.map { " :\($0)" } ?? "")]
            case .moved(let to): return [":\(prefix(nick)) PART \(room) :joined \(to)"]
            case .disconnected(let why): return [":\(prefix(nick)) QUIT :\(IRCCodec.quitReason(why))"]
            }
        case .renamed(_, let old, let new):
            guard let person = core?.person(named: new) else { return [":\(old)!remote@\(serverName) NICK :\(new)"] }
            let (user, host, _, _) = identity(of: person)
            return [":\(old)!\(user)@\(host) NICK :\(new)"]
        case .topic(let room, let nick, let text):
            if let nick { return [":\(prefix(nick)) TOPIC \(room) :\(text)"] }
            guard let session, !text.isEmpty else { return nil }
            var lines = [":\(serverName) 332 \(session.nick) \(room) :\(text)"]
            if let found = core?.rooms[Names.key(room)], let setter = found.topicSetter {
                lines.append(":\(serverName) 333 \(session.nick) \(room) \(setter) \(found.topicTime)")
            }
            return lines
        case .privateMessage(let from, let to, let text):
            if let session, Names.key(session.nick) == Names.key(from), Names.key(from) != Names.key(to) { return nil }  // no echo
            return textLines(prefix(from), "PRIVMSG", to, text)
        case .privateNotice(let from, let to, let text): return textLines(prefix(from), "NOTICE", to, text)
        case .notice(let text): return textLines(serverName, "NOTICE", "*", text)
        case .legacyLine(let line):
            var text = Substring(line)
            if text.hasSuffix("\n") { text = text.dropLast() }
            return textLines(serverName, "NOTICE", "*", String(text))
        case .welcome(let nick):
            guard let session else { return nil }
            let state = state(of: session)
            state.nick = nick
            let me = "\(nick)!\(state.user ?? nick)@\(state.host)"
            return [
                ":\(serverName) 001 \(nick) :Welcome to the tcpchat IRC network \(me)",
                ":\(serverName) 002 \(nick) :Your host is \(serverName), running version \(version)",
                ":\(serverName) 003 \(nick) :This server was created \(created)",
                ":\(serverName) 004 \(nick) \(serverName) \(version) iow biklmnostv",
                ":\(serverName) 005 \(nick) CASEMAPPING=ascii CHANTYPES=# CHANLIMIT=#: CHANNELLEN=\(Names.maxLength + 1) NICKLEN=\(Names.maxLength) PREFIX=(ov)@+ CHANMODES=b,k,l,imnst NETWORK=tcpchat MODES=4 :are supported by this server",
            ]
        case .youJoined(let room, _, _):
            guard let session else { return nil }
            return [":\(prefix(session.nick)) JOIN \(room)"]
        case .youRenamed(let nick, let because):
            guard let session else { return nil }
            let state = state(of: session)
            let old = state.nick ?? nick
            if state.registered { remember(nick: old, state) }
            state.nick = nick
            let change = ":\(old)!\(state.user ?? old)@\(state.host) NICK :\(nick)"
            // Why the server renamed it (a registered nick not identified in time, a clash
            // in the cluster): said first, to the nick the client still has.
            guard let because, !because.isEmpty else { return [change] }
            // An account's grace period is NickServ's to explain; a clash in the cluster, the server's.
            let why = because.contains("did not identify") ? nickServLines(to: old, because) : textLines(serverName, "NOTICE", old, because)
            return why + [change]
        case .alreadyNamed: return nil
        case .names(let room, let nicks):
            guard let session else { return nil }
            return namesLines(room: room, nicks: nicks, for: session)
        case .roomList(let counts):
            guard let session else { return nil }
            var lines = [":\(serverName) 321 \(session.nick) Channel :Users  Name"]
            for count in counts.sorted(by: { $0.name < $1.name }) {
                lines.append(":\(serverName) 322 \(session.nick) \(count.name) \(count.count) :")
            }
            lines.append(":\(serverName) 323 \(session.nick) :End of /LIST")
            return lines
        case .history: return nil  // IRC clients do not expect a replay (no chathistory capability)
        case .goodbye:
            guard let session else { return nil }
            return ["ERROR :Closing Link: \(state(of: session).host) (Quit)"]
        case .serverShuttingDown: return ["ERROR :Server shutting down"]
        case .clusterLink(let up):
            return textLines(serverName, "NOTICE", "*", up ? "cluster link restored" : "cluster link down: chat reaches this server only until it is back")
        case .accountRegistered, .identified, .nickOwned, .ghosted:
            return accountLines(event, for: session)  // NickServ's NOTICEs, 900 (IRCAccounts.swift)
        case .error(let error): return errorLines(error, for: session)
        }
    }

    private func errorLines(_ error: ChatError, for session: ChatSession?) -> [String]? {
        let state = session.map(state(of:))
        let me = session.flatMap { $0.isRegistered ? $0.nick : nil } ?? state?.nick ?? "*"
        func numeric(_ code: String, _ params: String...) -> [String] { [numericLine(code, to: me, params)] }
        switch error {
        case .nickInvalid(let problem):
            // The generic text when the characters are wrong; else the reason (mixed scripts, a
            // reserved nick's lookalike), which a client shows.
            let asked = state?.lastNickAsked ?? "*"
            return numeric("432", asked, problem.hasPrefix("nick may contain only") ? ":Erroneous nickname" : ":Erroneous nickname: \(problem)")
        case .nickTaken(let nick): return numeric("433", state?.lastNickAsked ?? nick, ":Nickname is already in use")
        case .nickResembles(let nick, let like, let holder):
            // 433, as for a nick in use: irssi and WeeChat then try their alternate nick.
            let whose = holder == .bot ? "a bot's nick" : holder == .otherServer ? "in use on another server" : "in use"
            return numeric("433", state?.lastNickAsked ?? nick, ":Nickname is too much like \(like) (\(whose))")
        case .roomResembles(let room, let like):
            return numeric("403", state?.lastChannelAsked ?? room, ":Channel name is too much like \(like); join \(like)")
        case .noSuchNick(let nick, _): return numeric("401", nick, ":No such nick/channel")
        case .roomInvalid: return numeric("403", state?.lastChannelAsked ?? "*", ":No such channel")
        case .alreadyInRoom: return nil
        case .notInRoom(let room): return numeric("442", room, ":You're not on that channel")
        case .notOperator(let room): return numeric("482", room, ":You're not channel operator")
        case .notInRoomThemselves(let nick, let room): return numeric("441", nick, room, ":They aren't on that channel")
        case .lineTooLong: return numeric("417", ":Input line was too long")
        case .firstLineTimeout, .idleTimeout, .serverFull, .tooManyFromAddress, .outOfDescriptors, .shuttingDown, .kicked:
            return ["ERROR :Closing Link: \(LineCodec.describe(error))"]
        case .refused(let reason) where reason.hasPrefix("disconnected: "):  // ChatCore.disconnect (a ghost)
            return ["ERROR :Closing Link: \(state?.host ?? "*") (\(reason.dropFirst(14)))"]
        case .refused(let reason):  // the host's filter refused what this session asked
            return ["NOTICE \(me) :\(reason.isEmpty ? "refused" : reason)"]
        case .unknownCommand: return numeric("421", "*", ":Unknown command")
        case .account(let problem): return nickServLines(to: me, IRCCodec.describe(problem))
        }
    }

    /// QUIT's reason as IRC servers word it (`Quit: bye` for a quit, else why the link ended).
    static func quitReason(_ why: String) -> String {
        if why == "quit" { return "Quit: " }
        if why.hasPrefix("quit: ") { return "Quit: " + why.dropFirst(6) }
        return why
    }
}
