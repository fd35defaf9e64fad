// Accounts for IRC clients (issue 20, branch acct-irc; docs/PROTOCOL.md, "IRC: accounts"):
// SASL PLAIN during CAP negotiation (IRCv3 `sasl`, https://ircv3.net/specs/extensions/sasl-3.1
// and 3.2's `sasl=PLAIN` in CAP LS 302), and NickServ in the Ergo/Atheme style: PRIVMSG
// NickServ :IDENTIFY/REGISTER/GHOST/HELP, answered by NOTICEs from NickServ!NickServ@services.
// NickServ is no session: the nick is reserved (Names.reservedNicks), and its lines are the
// codec's. The rules (limits, grace, plaintext refusal) are the core's AccountService.
import TCPChatCore

/// What IRC knows of a session's SASL exchange and login.
struct IRCAccountState {
    /// `CAP REQ :sasl` was acknowledged.
    var capability = false
    /// `AUTHENTICATE PLAIN` was accepted: the next AUTHENTICATE lines carry the payload.
    var exchanging = false
    /// The base64 payload so far (chunks of 400 bytes; a shorter one, or `+`, ends it).
    var payload = ""
    /// The payload went to the account store; the session's input waits for its answer.
    var waiting = false
    /// Logged in with SASL before registration: identified once registered.
    var loggedIn: AccountRecord?
    /// SASL's 900 said it already: the `.identified` event for this account renders nothing.
    var announced: String?
}

extension IRCCodec {
    static let nickServKey = "nickserv"
    static let nickServPrefix = "NickServ!NickServ@services."
    /// A SASL payload longer than this (base64, all chunks) fails (904; memory bounded): PLAIN's
    /// authzid, authcid (nicks) and password (at most 256 bytes) fit in well under it.
    static let maxSASLPayload = 2000

    private var accountsEnabled: Bool { core?.accounts != nil }

    /// CAP LS's list: `sasl=PLAIN` (302 and later: values), `sasl` (older) when accounts are on.
    func offeredCapabilities(version: Int) -> String {
        guard accountsEnabled else { return "" }
        return version >= 302 ? "sasl=PLAIN" : "sasl"
    }

    /// CAP REQ: all or nothing (IRCv3); `sasl` is the one capability here (and only when the
    /// server keeps accounts); `-sasl` drops it.
    func acknowledge(_ asked: String, _ state: State) -> Bool {
        let names = asked.split(separator: " ")
        guard !names.isEmpty, accountsEnabled, names.allSatisfy({ $0.lowercased() == "sasl" || $0.lowercased() == "-sasl" }) else { return false }
        for name in names { state.account.capability = !name.hasPrefix("-") }
        return true
    }

    /// CAP END in the middle of an exchange aborts it (906), as the spec says.
    func saslEndedByCapEnd(_ session: ChatSession, _ state: State) {
        guard state.account.exchanging else { return }
        resetSASL(state)
        reply(session, state, "906", ":SASL authentication aborted")
    }

    private func resetSASL(_ state: State) {
        state.account.exchanging = false
        state.account.payload = ""
    }

    // MARK: SASL

    func authenticate(_ params: [String], _ session: ChatSession, _ state: State, _ core: ChatCore) {
        guard let accounts = core.accounts, state.account.capability else {
            return reply(session, state, "904", ":SASL authentication failed")
        }
        guard let argument = params.first, !argument.isEmpty else { return reply(session, state, "461", "AUTHENTICATE", ":Not enough parameters") }
        if state.account.loggedIn != nil || (state.registered && accounts.account(of: session) != nil) {
            return reply(session, state, "907", ":You have already authenticated using SASL")
        }
        if argument == "*" {
            guard state.account.exchanging else { return reply(session, state, "906", ":SASL authentication aborted") }
            resetSASL(state)
            return reply(session, state, "906", ":SASL authentication aborted")
        }
        guard state.account.exchanging else {
            guard argument.uppercased() == "PLAIN" else {
                reply(session, state, "908", "PLAIN", ":are available SASL mechanisms")
                return reply(session, state, "904", ":SASL authentication failed")
            }
            state.account.exchanging = true
            state.account.payload = ""
            return send(session, "AUTHENTICATE +")
        }
        if argument.utf8.count > 400 {  // a chunk is at most 400 bytes
            resetSASL(state)
            return reply(session, state, "905", ":SASL message too long")
        }
        if state.account.payload.utf8.count + argument.utf8.count > IRCCodec.maxSASLPayload {  // no PLAIN payload is this long
            resetSASL(state)
            return reply(session, state, "904", ":SASL authentication failed")
        }
        if argument != "+" { state.account.payload += argument }
        if argument.utf8.count == 400 { return }  // more follows (a last chunk of 400 is followed by `+`)
        let payload = state.account.payload
        resetSASL(state)
        guard let decoded = IRCCodec.base64Decode(payload) else {
            return reply(session, state, "904", ":SASL authentication failed")
        }
        // authzid NUL authcid NUL password
        let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else {
            return reply(session, state, "904", ":SASL authentication failed")
        }
        let authzid = String(decoding: parts[0], as: UTF8.self)
        let authcid = String(decoding: parts[1], as: UTF8.self)
        let password = String(decoding: parts[2], as: UTF8.self)
        guard authzid.isEmpty || Names.key(authzid) == Names.key(authcid) else {
            notice(session, state, "logging in as one account for another (authzid \(authzid)) is not supported")
            return reply(session, state, "904", ":SASL authentication failed")
        }
        guard Names.nickProblem(authcid) == nil else { return reply(session, state, "904", ":SASL authentication failed") }
        state.account.waiting = true
        core.holdInput(of: session)  // CAP END and the rest wait for the answer
        let id = ObjectIdentifier(session)
        accounts.authenticate(nick: authcid, password: password, from: session) { [weak self, weak core] result in
            guard let self, self.states[id] != nil else { return }  // the session closed meanwhile
            state.account.waiting = false
            switch result {
            case .failure(let problem):
                switch problem {
                case .wrongPassword, .notRegistered: break
                default: self.notice(session, state, IRCCodec.describe(problem))
                }
                self.reply(session, state, "904", ":SASL authentication failed")
            case .success(let record):
                let nick = state.registered ? session.nick : (state.nick ?? "*")
                self.reply(session, state, "900", "\(nick)!\(state.user ?? nick)@\(state.host)", record.name, ":You are now logged in as \(record.name)")
                self.reply(session, state, "903", ":SASL authentication successful")
                // Before registration: identified once registered (tryToRegister); after it
                // (SASL after CAP END, as IRCv3 allows): now.
                if state.registered {
                    state.account.announced = record.name
                    core?.accounts?.identified(session, as: record, how: "sasl")
                } else {
                    state.account.loggedIn = record
                }
            }
            core?.releaseInput(of: session)
        }
    }

    // MARK: NickServ

    /// A line to NickServ (PRIVMSG NickServ, or the NICKSERV / NS command).
    func nickServ(_ text: String, _ session: ChatSession, _ state: State, _ core: ChatCore) {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let command = words.first?.uppercased() else { return nickServHelp(session, state) }
        let arguments = Array(words.dropFirst())
        switch command {
        case "IDENTIFY", "LOGIN":
            guard arguments.count == 1 || arguments.count == 2 else { return notice(session, state, "usage: /msg NickServ IDENTIFY [nick] password") }
            core.handle(.identify(nick: arguments.count == 2 ? arguments[0] : nil, password: arguments[arguments.count - 1]), from: session)
        case "REGISTER":
            // REGISTER password [email]: the email is accepted and ignored (no mail is sent).
            guard arguments.count == 1 || arguments.count == 2 else { return notice(session, state, "usage: /msg NickServ REGISTER password [email]") }
            core.handle(.registerAccount(password: arguments[0]), from: session)
        case "GHOST", "RECOVER":
            guard arguments.count == 2 else { return notice(session, state, "usage: /msg NickServ GHOST nick password") }
            core.handle(.ghost(nick: arguments[0], password: arguments[1]), from: session)
        case "HELP":
            nickServHelp(session, state)
        default:
            notice(session, state, "unknown command \(command); /msg NickServ HELP lists the commands")
        }
    }

    private func nickServHelp(_ session: ChatSession, _ state: State) {
        guard accountsEnabled else { return notice(session, state, IRCCodec.describe(.disabled)) }
        for line in [
            "NickServ: a registered nick can be used only by its owner.",
            "REGISTER password [email]  - register your current nick (the email is ignored)",
            "IDENTIFY [nick] password   - prove a registered nick is yours (and take nick)",
            "GHOST nick password        - disconnect a session holding your nick, and take it",
            "HELP                       - this list",
            "Or log in as you connect: SASL PLAIN (e.g. irssi's /network add -sasl_mechanism PLAIN).",
        ] { notice(session, state, line) }
    }

    /// One NOTICE from NickServ to the session.
    private func notice(_ session: ChatSession, _ state: State, _ text: String) {
        send(session, nickServLines(to: state.registered ? session.nick : (state.nick ?? "*"), text))
    }

    /// `:NickServ!NickServ@services. NOTICE target :text`, in as many lines as it needs.
    func nickServLines(to target: String, _ text: String) -> [String] {
        textLines(IRCCodec.nickServPrefix, "NOTICE", target, text)
    }

    /// The account events as IRC clients see them: NickServ's NOTICEs, and 900 RPL_LOGGEDIN
    /// when the session is identified.
    func accountLines(_ event: ChatEvent, for session: ChatSession?) -> [String]? {
        guard let session else { return nil }
        let state = state(of: session)
        let me = state.registered ? session.nick : (state.nick ?? "*")
        switch event {
        case .accountRegistered(let nick):
            return nickServLines(to: me, "Account created: \(nick) is registered to you. Others who take it are renamed unless they identify.")
        case .identified(let account):
            if state.account.announced == account {  // SASL's 900 said it
                state.account.announced = nil
                return []
            }
            return nickServLines(to: me, "You are now identified as \(account).")
                + [numericLine("900", to: me, ["\(me)!\(state.user ?? me)@\(state.host)", account, ":You are now logged in as \(account)"])]
        case .nickOwned(let nick, let account, let seconds):
            let whose = Names.key(nick) == Names.key(account) ? "This nickname is registered" : "\(nick) looks like the registered nickname \(account)"
            return nickServLines(to: me, "\(whose). If it is yours, /msg NickServ IDENTIFY password within \(seconds) s; otherwise you will be renamed to a guest nick.")
        case .ghosted(let nick):
            return nickServLines(to: me, "\(nick) has been ghosted: its session was disconnected.")
        default:
            return nil
        }
    }

    /// An account refusal in IRC's words: the line protocol's sentences with NickServ's
    /// commands for /register, /identify, /ghost.
    static func describe(_ problem: AccountProblem) -> String {
        var text = LineCodec.describe(problem)
        for (line, irc) in [("/identify", "/msg NickServ IDENTIFY"), ("/register", "/msg NickServ REGISTER"),
                            ("/ghost", "/msg NickServ GHOST"), ("use --tls to port", "connect with TLS to port")] {
            text = text.replacing(line, with: irc)
        }
        return text
    }

    // MARK: Base64 (RFC 4648, the SASL payload)

    /// The bytes of standard base64 (padding optional); nil when it is not base64.
    static func base64Decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for byte in text.utf8 {
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="):
                padding += 1
                continue
            default: return nil
            }
            if padding > 0 { return nil }  // data after padding
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        guard padding <= 2, bits < 6 else { return nil }
        return out
    }
}
