// The line protocol of docs/PROTOCOL.md as a codec: client lines are cleaned (TextSanitizer),
// parsed (Command) and become intents; events become `<nick> text`, `* notice` and `! error`
// lines (Wire). The notices a client reads back (joins, leaves, names, renames) are Notice's,
// rendered by the same code that parses them. One room at a time is this protocol's rule:
// `/join` leaves the current room.
import TCPChatCore

package final class LineCodec: WireCodec, BatchingEncoder {
    static let lobby = "#lobby"

    @exclusivity(unchecked) private var sanitizer: TextSanitizer
    /// A reply is cut short past this many bytes ("... and N more"), so that one answer stays
    /// well under the output cap however many people or rooms there are.
    private let listingBudget: Int
    /// History replayed to a newcomer fits in this many bytes (the newest lines win), so a long
    /// history can never get them dropped as "not reading".
    private let historyBudget: Int
    private let help: String

    package init(fallbackEncoding: FallbackEncoding, maxQueueBytes: Int) {
        sanitizer = TextSanitizer(fallback: fallbackEncoding)
        listingBudget = min(16 * 1024, maxQueueBytes / 4)
        historyBudget = maxQueueBytes / 4
        var help = Wire.notice("commands:")
        for (usage, summary) in Command.helpLines { help += Wire.notice("  \(usage) - \(summary)") }
        self.help = help
    }

    deinit { sanitizer.close() }

    // MARK: Lines in

    package func opened(_ session: ChatSession, core: ChatCore) {
        core.handle(.register(nick: nil, rooms: [LineCodec.lobby]), from: session)
    }

    package func received(line bytes: UnsafeRawBufferPointer, from session: ChatSession, core: ChatCore) {
        // The common line (issue 19): plain chat text, which the sanitizer would keep as it is
        // and Command would take as `.say`, goes to the core as bytes (no String, no Intent).
        if let first = bytes.first, first != UInt8(ascii: "/"), TextSanitizer.isPlainASCII(bytes),
           core.sayPlain(bytes, from: session) { return }
        let text = sanitizer.clean(bytes)
        if text.isEmpty { return }
        let intent: Intent
        switch Command.parse(text) {
        case .say(let message): intent = .say(room: nil, text: message)
        case .nick(let name): intent = .changeNick(name)
        case .who: intent = .who(room: nil)
        case .msg(let target, let message): intent = .privateMessage(to: target, text: message)
        case .me(let action): intent = .act(room: nil, text: action)
        case .join(let name): intent = .join(name, exclusive: true)
        case .rooms: intent = .listRooms
        case .topic(let text):
            guard let room = session.room else { return }
            guard let text else {
                let topic = room.topic ?? ""
                return session.enqueue(SharedBuffer(Wire.notice(topic.isEmpty ? "\(room.name) has no topic" : "topic of \(room.name): \(topic)")))
            }
            intent = .setTopic(room: room.name, text: text)
        case .quit(let reason): intent = .quit(reason: reason)
        case .register(let password): intent = .registerAccount(password: password)
        case .identify(let nick, let password): intent = .identify(nick: nick, password: password)
        case .ghost(let nick, let password): intent = .ghost(nick: nick, password: password)
        case .help: return session.enqueue(SharedBuffer(help))
        case .invalid(let problem): return session.enqueue(SharedBuffer(Wire.error(problem)))
        case .unknown(let name): intent = .command(text, problem: Command.unknownProblem(name))
        }
        core.handle(intent, from: session)
    }

    // MARK: Events out

    package func encode(_ event: ChatEvent, for session: ChatSession?) -> SharedBuffer? {
        render(event).map(SharedBuffer.init)
    }

    /// A chat line, `<nick> text` (Wire.chat), written straight into a batch: no String is made.
    package func append(_ event: ChatEvent, to batch: inout LineBatch) -> Bool {
        guard case .said(_, let nick, let text) = event else { return false }
        batch.append(byte: UInt8(ascii: "<"))
        batch.append(nick)
        batch.append(byte: UInt8(ascii: ">"))
        batch.append(byte: UInt8(ascii: " "))
        batch.append(text)
        batch.append(byte: UInt8(ascii: "\n"))
        return true
    }

    package func appendSaid(nick: String, text: UnsafeRawBufferPointer, to batch: inout LineBatch) -> Bool {
        batch.append("<", nick, "> ", text, "\n")  // Wire.chat
        return true
    }

    /// The line (or lines) of `event`, with their terminators; nil when the line protocol
    /// has no form for it (topics).
    func render(_ event: ChatEvent) -> String? {
        switch event {
        case .said(_, let nick, let text): return Wire.chat(from: nick, text)
        case .acted(_, let nick, let text): return Wire.action(nick, text)
        case .joined(let room, let nick): return Notice.joined(nick: nick, room: room).line
        case .left(let room, let nick, let reason):
            switch reason {
            case .disconnected(let why): return Notice.left(nick: nick, reason: why).line
            case .moved(let to): return Notice.moved(nick: nick, from: room, to: to).line
            case .parted(let why): return Wire.notice("\(nick) left \(room)" + (why.map { " (\($0))" } ?? ""))
            }
        case .renamed(_, let old, let new): return Notice.renamed(old: old, new: new).line
        case .topic(let room, let nick, let text):
            guard let nick else { return text.isEmpty ? nil : Wire.notice("topic of \(room): \(text)") }
            return Wire.notice(text.isEmpty ? "\(nick) cleared the topic of \(room)" : "\(nick) set the topic of \(room): \(text)")
        case .privateMessage(let from, let to, let text):
            if let action = LineCodec.ctcpAction(text) { return Wire.privateMessage(from: from, to: to, "* \(from) \(action)") }
            return Wire.privateMessage(from: from, to: to, text)
        case .noticed(_, let nick, let text): return Wire.chat(from: nick, text)
        case .kicked(let room, let nick, let by, let reason):
            return Wire.notice("\(nick) was put out of \(room) by \(by)" + (reason.isEmpty ? "" : " (\(reason))"))
        case .modeChanged: return nil
        case .privateNotice(let from, let to, let text): return Wire.privateMessage(from: from, to: to, text)
        case .notice(let text): return Wire.notice(text)
        case .legacyLine(let line): return line
        case .welcome(let nick): return Notice.welcome(nick: nick).line
        case .youJoined(let room, let others, let inCluster):
            return Notice.youJoined(room: room, others: others, inCluster: inCluster).line
        case .youRenamed(let nick, let because): return Notice.youAreNowKnownAs(nick: nick, because: because).line
        case .alreadyNamed(let nick): return Wire.notice("you are already \(nick)")
        case .names(let room, let nicks):
            let sorted = nicks.sorted { $0.lowercased() < $1.lowercased() }
            return Notice.names(room: room, nicks: sorted, budget: listingBudget).line
        case .roomList(let counts):
            return Notice.rooms(counts.sorted { $0.name < $1.name }, budget: listingBudget).line
        case .history(_, let events): return replay(events)
        case .goodbye(let nick): return Wire.notice("goodbye, \(nick)")
        case .serverShuttingDown: return Wire.notice("server shutting down, goodbye")
        case .clusterLink(let up):
            return Wire.notice(up ? "cluster link restored" : "cluster link down: chat reaches this server only until it is back")
        case .accountRegistered, .identified, .nickOwned, .ghosted: return LineCodec.accountNotice(event).map(Wire.notice)
        case .error(let error): return Wire.error(LineCodec.describe(error))
        }
    }

    /// The action of a private CTCP ACTION (`\u{1}ACTION text\u{1}`, as IRC sends `/me` to a
    /// nick), or nil.
    static func ctcpAction(_ text: String) -> String? {
        guard text.hasPrefix("\u{1}ACTION ") else { return nil }
        var action = text.dropFirst(8)
        if action.hasSuffix("\u{1}") { action = action.dropLast() }
        return String(action)
    }

    /// The error's text in this protocol (after `! `).
    static func describe(_ error: ChatError) -> String {
        switch error {
        case .nickInvalid(let problem): return "cannot change nick: \(problem)"
        case .nickTaken(let nick): return "nick \(nick) is taken; choose another"
        case .nickResembles(let nick, let like, let holder):
            let whose: String
            switch holder {
            case .here: whose = "someone here is using it"
            case .bot: whose = "a bot speaks as it"
            case .otherServer: whose = "someone on another server is using it"
            }
            return "nick \(nick) is too much like \(like) (\(whose)); pick another"
        case .noSuchNick(let nick, let linkDown):
            return linkDown ? "no such nick \(nick) on this server, and the cluster link is down; try again later"
                            : "no such nick \(nick), try /who or /rooms"
        case .roomInvalid(let problem): return "cannot join: \(problem)"
        case .roomResembles(let room, let like): return "cannot join \(room): it is too much like \(like); join \(like)"
        case .alreadyInRoom(let room): return "you are already in \(room)"
        case .notInRoom(let room): return "you are not in \(room)"
        case .notOperator(let room): return "only the operators of \(room) may do that"
        case .notInRoomThemselves(let nick, let room): return "\(nick) is not in \(room)"
        case .serverFull(let limit): return "server full (\(limit) clients); try again later"
        case .tooManyFromAddress(let limit): return "too many connections from your address (\(limit)); close some and try again"
        case .outOfDescriptors: return "server out of file descriptors; try again later"
        case .shuttingDown: return "server shutting down"
        case .lineTooLong(let limit): return "line too long (over \(limit) bytes); it was discarded"
        case .firstLineTimeout(let seconds): return "disconnected: no line within \(seconds) s of connecting"
        case .idleTimeout(let seconds): return "disconnected: idle for \(seconds) s"
        case .refused(let reason): return reason.isEmpty ? "refused" : reason
        case .kicked(let reason): return "you were kicked: \(reason)"
        case .unknownCommand(let problem): return problem
        case .account(let problem): return describe(problem)
        }
    }

    /// The text of an account event's notice (docs/PROTOCOL.md, "Accounts").
    static func accountNotice(_ event: ChatEvent) -> String? {
        switch event {
        case .accountRegistered(let nick): return "\(nick) is now registered to you"
        case .identified(let account): return "you are now identified as \(account)"
        case .nickOwned(let nick, let account, let seconds):
            let whose = Names.key(nick) == Names.key(account) ? "\(nick) is registered" : "\(nick) looks like the registered nick \(account)"
            return "\(whose); /identify PASSWORD within \(seconds) s or you will be renamed"
        case .ghosted(let nick): return "the session holding \(nick) was disconnected"
        default: return nil
        }
    }

    /// An account command's refusal (docs/PROTOCOL.md, "Accounts").
    static func describe(_ problem: AccountProblem) -> String {
        switch problem {
        case .disabled: return "this server keeps no accounts (the operator can enable them with --accounts)"
        case .plaintext(let tlsPort):
            let tls = tlsPort.map { "use --tls to port \($0)" } ?? "use a TLS connection"
            return "passwords are not accepted over a plaintext connection; \(tls), or ask the operator for --allow-plaintext-passwords"
        case .passwordInvalid(let problem): return "cannot register: \(problem)"
        case .guestNick(let nick): return "\(nick) is a guest nick and cannot be registered; choose a nick with /nick NAME first"
        case .alreadyRegistered(let nick, let registered):
            return Names.key(nick) == Names.key(registered) ? "\(nick) is already registered; /identify PASSWORD if it is yours"
                                      : "\(nick) looks like the registered nick \(registered) and cannot be registered"
        case .notRegistered(let nick): return "\(nick) is not registered; /register PASSWORD registers your current nick"
        case .wrongPassword(let nick): return "wrong password for \(nick)"
        case .tooManyAttempts(let seconds): return "too many failed attempts from your address; wait \(seconds) s and try again"
        case .tooManyRegistrations(let seconds): return "too many accounts registered from your address; wait \(seconds) s and try again"
        case .attemptPending: return "your last account command is still being checked; wait for its answer"
        case .addressPending: return "one password check at a time from your address; wait for its answer"
        case .accountPaced(let nick, let seconds): return "too many password attempts at \(nick) are waiting; wait \(seconds) s and try again"
        case .busy: return "server busy, try again in a moment"
        case .diskFull: return "could not save your account: the server's disk is full; try later"
        case .storageFailed: return "the account store failed; try later (the server's log says why)"
        case .cutOff: return "accounts are unavailable while the server is cut off from the cluster; try again"
        case .alreadyIdentified(let nick): return "you are already identified as \(nick)"
        case .nickInUse(let nick): return "\(nick) is in use by another session; /ghost \(nick) PASSWORD disconnects it"
        case .nobodyHolds(let nick): return "nobody is using \(nick); /identify \(nick) PASSWORD takes it"
        case .ghostSelf(let nick): return "you are \(nick) already"
        }
    }

    /// The newest history lines that fit the budget, oldest first, each as `* history: LINE`.
    private func replay(_ events: [ChatEvent]) -> String? {
        var budget = historyBudget
        var replayed: [String] = []
        for event in events.reversed() {
            guard let line = render(event) else { continue }
            let text = Wire.history(line)
            budget -= text.utf8.count
            if budget < 0 { break }
            replayed.append(text)
        }
        return replayed.isEmpty ? nil : replayed.reversed().joined()
    }
}
