// Accounts (issue 20), the rules: register, identify, ghost, the grace period of a nick that
// belongs to someone else, and the limits on guessing. The accounts themselves live in an
// AccountStore (AccountStore.swift); this keeps only what online sessions need: per session
// with something going on (identified, in a grace period, or waiting for the store), a small
// entry in a side table (not in ChatSession, whose size is tuned), and per address, the
// failures and registrations of the last hour (a bounded table, oldest evicted).
//
// Loop thread only, like the core it serves.

package struct AccountSettings {
    package var store: any AccountStore
    /// How long someone holding a registered nick (or a look-alike) has to identify before
    /// they are renamed to a guest, in milliseconds.
    package var graceMilliseconds: Int64 = 30_000
    /// Whether a session may send a password: over TLS, from a local peer, or anywhere when
    /// the server allows plaintext passwords. The front decides (it knows the transport).
    package var mayReceivePasswords: (ChatSession) -> Bool = { _ in true }
    /// The TLS port to point a refused client to (nil: the server has no TLS listener).
    package var tlsPort: Int? = nil
    /// A session's peer address without its port (the per-address limits' key).
    package var address: (ChatSession) -> String = { $0.label }
    /// Addresses whose failures and registrations are remembered; past it the oldest entry
    /// is forgotten.
    package var maxAddresses = 4096
    /// Accounts one address may register per hour; 0 = no cap.
    package var registrationsPerHour = 3
    /// Password commands (register, identify, ghost, SASL) one address may have being
    /// answered at once: parallel sessions from one address do not multiply its guesses.
    package var passwordChecksPerAddress = 1
    /// Wrong passwords from one address before each further one costs a growing wait.
    package var freeFailuresPerAddress = 2
    /// The longest wait the failures of one account impose on the next attempt at it (the
    /// owner's included): the cap keeps an attacker from locking the owner out.
    package var accountDelayCapMilliseconds: Int64 = 5_000
    /// Runs `action` on the loop thread after the milliseconds given; the result cancels it.
    package var schedule: (Int64, @escaping () -> Void) -> () -> Void
    /// Wall-clock time, Unix milliseconds (failures are stored with this).
    package var now: () -> Int64
    /// Monotonic milliseconds (per-address waits).
    package var monotonic: () -> Int64
    /// In a cluster (the server sets these; nil alone). Claims a nick (the account's name) for
    /// this server before /identify NICK renames to it, as ClusterBackend.claim does (by
    /// skeleton); when the link is down it is renamed anyway, as /nick does (the heartbeat
    /// settles it).
    package var claimNick: ((String, @escaping (ClaimAnswer) -> Void) -> Void)? = nil
    /// Ghost across servers: takes the nick (arguments: the account's name, the ghost's nick;
    /// by skeleton in the cluster) from the
    /// server whose session holds it, which disconnects that session: true taken, false no
    /// server holds it, nil the link is down.
    package var takeOverNick: ((String, String, @escaping (Bool?) -> Void) -> Void)? = nil

    package init(store: any AccountStore, schedule: @escaping (Int64, @escaping () -> Void) -> () -> Void,
                 now: @escaping () -> Int64, monotonic: @escaping () -> Int64) {
        self.store = store
        self.schedule = schedule
        self.now = now
        self.monotonic = monotonic
    }
}

package final class AccountService {
    package var settings: AccountSettings
    unowned let core: ChatCore

    /// What a session has going on with accounts (only sessions with something do).
    struct SessionState {
        /// The key of the account it is identified to.
        var account: String?
        /// The skeleton of that account (a rename to a nick with it keeps the identification).
        var accountSkeleton: String?
        /// Cancels the grace timer of a registered nick it holds unidentified.
        var cancelGrace: (() -> Void)?
        /// An account command of it waits for the store.
        var pending = false
        var isEmpty: Bool { account == nil && cancelGrace == nil && !pending }
    }
    private var sessions: [ObjectIdentifier: SessionState] = [:]
    /// The server stopped: answers still arriving are dropped (they would schedule timers or
    /// ask the store again after the loop's last turn, and leave a task holding a session).
    private var closed = false

    struct AddressState {
        var failures = 0
        /// Monotonic ms before which a password attempt from it is refused.
        var nextAttemptAt: Int64 = 0
        var lastFailureAt: Int64 = 0
        /// Monotonic ms of its registrations in the last hour.
        var registrations: [Int64] = []
        var lastSeen: Int64 = 0
    }
    private var addresses: [String: AddressState] = [:]
    /// Password commands being answered, per address (an entry only while one is): at most one
    /// at a time per address, so parallel sessions cannot multiply an address's guesses.
    private var inFlight: [String: Int] = [:]
    /// Per account (by key) with attempts going on: when the next check of a password for it
    /// may run (wall ms), and its failures counting the checks scheduled as if they fail. The
    /// checks of one account run one at a time at the pace its failures set, however many
    /// arrive at once (the record each request read is not enough: parallel requests read the
    /// same count). Bounded by `maxAddresses`; an entry whose time has passed is dropped.
    struct AccountPace {
        var nextCheckAt: Int64
        var failures: Int
    }
    private var paces: [String: AccountPace] = [:]
    /// The longest an attempt at an account may wait its turn; past it it is refused.
    static let paceQueueMilliseconds: Int64 = 60_000
    private static let hour: Int64 = 3_600_000

    private func begin(_ address: String) { inFlight[address, default: 0] += 1 }

    private func end(_ address: String) {
        guard let count = inFlight[address] else { return }
        if count <= 1 { inFlight.removeValue(forKey: address) } else { inFlight[address] = count - 1 }
    }

    /// Addresses with a password command being answered (for tests: it must empty).
    package var addressesInFlight: Int { inFlight.count }
    /// The longest wait between two lookups of a nick's owner the store could not answer.
    static let lookupRetryCapMilliseconds: Int64 = 30_000

    package init(settings: AccountSettings, core: ChatCore) {
        self.settings = settings
        self.core = core
    }

    /// The account the session is identified to (its key), if any.
    package func account(of session: ChatSession) -> String? { sessions[ObjectIdentifier(session)]?.account }

    /// Sessions with an entry in the side table (for tests: it must empty as they leave).
    package var trackedSessions: Int { sessions.count }
    package var trackedAddresses: Int { addresses.count }

    private func state(_ session: ChatSession) -> SessionState { sessions[ObjectIdentifier(session)] ?? SessionState() }

    private func update(_ session: ChatSession, _ change: (inout SessionState) -> Void) {
        let id = ObjectIdentifier(session)
        var entry = sessions[id] ?? SessionState()
        change(&entry)
        if entry.isEmpty { sessions.removeValue(forKey: id) } else { sessions[id] = entry }
    }

    private func fail(_ session: ChatSession, _ problem: AccountProblem) {
        session.send(.error(.account(problem)))
    }

    private func storeFailed(_ session: ChatSession, _ failure: AccountStoreFailure) {
        switch failure {
        case .busy: fail(session, .busy)
        case .diskFull: fail(session, .diskFull)
        case .unavailable: fail(session, .storageFailed)
        case .cutOff: fail(session, .cutOff)
        }
    }

    /// Why `session` may not send a password now (the checks every password command starts
    /// with), or nil.
    private func passwordRefusal(_ session: ChatSession) -> AccountProblem? {
        if state(session).pending { return .attemptPending }
        if !settings.mayReceivePasswords(session) { return .plaintext(tlsPort: settings.tlsPort) }
        let now = settings.monotonic()
        let address = settings.address(session)
        if inFlight[address, default: 0] >= max(1, settings.passwordChecksPerAddress) { return .addressPending }
        if let entry = addresses[address], entry.nextAttemptAt > now {
            return .tooManyAttempts(seconds: Int((entry.nextAttemptAt - now + 999) / 1000))
        }
        return nil
    }

    private func mayTakePassword(from session: ChatSession) -> Bool {
        guard let problem = passwordRefusal(session) else { return true }
        fail(session, problem)
        return false
    }

    static func passwordProblem(_ password: String) -> String? {
        if password.unicodeScalars.count < 8 { return "a password needs at least 8 characters" }
        if password.utf8.count > 256 { return "a password may have at most 256 bytes" }
        if password.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == " " || $0.value == 0x7F }) {
            return "a password may not contain spaces or control characters"
        }
        return nil
    }

    static func isGuest(_ nick: String) -> Bool {
        let key = Names.key(nick)
        guard key.hasPrefix("guest") else { return false }
        let digits = key.dropFirst(5)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    // MARK: Intents

    package func handle(_ intent: Intent, from session: ChatSession) {
        switch intent {
        case .registerAccount(let password): register(session, password: password)
        case .identify(let nick, let password): identify(session, nick: nick, password: password)
        case .ghost(let nick, let password): ghost(session, nick: nick, password: password)
        default: break
        }
    }

    private func register(_ session: ChatSession, password: String) {
        guard mayTakePassword(from: session) else { return }
        if let problem = AccountService.passwordProblem(password) { return fail(session, .passwordInvalid(problem)) }
        let nick = session.nick
        if AccountService.isGuest(nick) { return fail(session, .guestNick(nick)) }
        if state(session).account == Names.key(nick) { return fail(session, .alreadyIdentified(nick)) }
        let address = settings.address(session)
        let now = settings.monotonic()
        var entry = addresses[address] ?? AddressState()
        entry.registrations.removeAll { now - $0 >= AccountService.hour }
        addresses[address]?.registrations = entry.registrations
        if settings.registrationsPerHour > 0, entry.registrations.count >= settings.registrationsPerHour, let oldest = entry.registrations.first {
            return fail(session, .tooManyRegistrations(seconds: Int((oldest + AccountService.hour - now + 999) / 1000)))
        }
        // The slot is taken now (parallel registrations count), given back unless it is used.
        let slot = now
        remember(address) { $0.registrations.append(slot) }
        update(session) { $0.pending = true }
        begin(address)
        settings.store.create(name: nick, key: Names.key(nick), skeleton: Names.skeleton(nick), password: password) { [weak self] result in
            guard let self, !self.closed else { return }
            self.update(session) { $0.pending = false }
            self.end(address)
            if case .success(.created) = result {} else {
                if let index = self.addresses[address]?.registrations.firstIndex(of: slot) {
                    self.addresses[address]?.registrations.remove(at: index)
                }
            }
            guard session.isRegistered else { return }
            switch result {
            case .failure(let failure): self.storeFailed(session, failure)
            case .success(.exists(let record)): self.fail(session, .alreadyRegistered(nick: nick, registered: record.name))
            case .success(.created(let record)):
                self.core.log(.info, "account \(record.name) registered from \(address)")
                session.send(.accountRegistered(nick: record.name))
                if Names.skeleton(session.nick) == record.skeleton { self.identified(session, record, how: "registered") }
            }
        }
    }

    private func identify(_ session: ChatSession, nick: String?, password: String) {
        guard mayTakePassword(from: session) else { return }
        let target = nick ?? session.nick
        if let account = state(session).account, account == Names.key(target) { return fail(session, .alreadyIdentified(target)) }
        check(password, of: target, for: session) { [weak self] record in
            guard let self, !self.closed else { return }
            if Names.skeleton(session.nick) == record.skeleton { return self.identified(session, record, how: "identified") }
            // Identify NICK: the session takes the account's nick, when nobody else holds it.
            if let holder = self.holder(ofSkeleton: record.skeleton), holder !== session {
                return self.fail(session, .nickInUse(holder.nick))
            }
            guard let claim = self.settings.claimNick else { return self.takeNick(session, record, how: "identified") }
            claim(record.name) { [weak self] answer in
                guard let self, !self.closed, session.isRegistered else { return }
                if case .heldElsewhere = answer { return self.fail(session, .nickInUse(record.name)) }
                if let holder = self.holder(ofSkeleton: record.skeleton), holder !== session { return self.fail(session, .nickInUse(holder.nick)) }
                self.takeNick(session, record, how: "identified")
            }
        }
    }

    private func ghost(_ session: ChatSession, nick: String, password: String) {
        guard mayTakePassword(from: session) else { return }
        check(password, of: nick, for: session) { [weak self] record in
            guard let self, !self.closed else { return }
            guard let holder = self.holder(ofSkeleton: record.skeleton) else {
                guard let takeOver = self.settings.takeOverNick else { return self.fail(session, .nobodyHolds(nick)) }
                // Maybe on another server: it disconnects its session once the nick is ours.
                return takeOver(record.name, session.nick) { [weak self] taken in
                    guard let self, !self.closed, session.isRegistered else { return }
                    switch taken {
                    case true?:
                        session.send(.ghosted(nick: record.name))
                        self.takeNick(session, record, how: "ghost")
                    case false?: self.fail(session, .nobodyHolds(nick))
                    case nil: self.fail(session, .cutOff)
                    }
                }
            }
            if holder === session { return self.fail(session, .ghostSelf(holder.nick)) }
            let held = holder.nick
            self.core.disconnect(holder, reason: "ghosted by \(session.nick)")
            session.send(.ghosted(nick: held))
            self.core.rename(session, to: record.name)
            session.send(.youRenamed(nick: record.name, because: nil))
            self.identified(session, record, how: "ghost")
        }
    }

    /// The session takes the account's nick, identified.
    private func takeNick(_ session: ChatSession, _ record: AccountRecord, how: String) {
        if session.nick != record.name {
            core.rename(session, to: record.name)
            session.send(.youRenamed(nick: record.name, because: nil))
        }
        identified(session, record, how: how)
    }

    /// The session of this server whose nick has the skeleton, if any (the core's nicks are
    /// held by skeleton).
    private func holder(ofSkeleton skeleton: String) -> ChatSession? {
        core.nicks[skeleton]
    }

    /// Looks up the account of `nick`, waits what its failures impose, checks the password;
    /// `then` with the account when it is right (the session was told otherwise).
    private func check(_ password: String, of nick: String, for session: ChatSession, then: @escaping (AccountRecord) -> Void) {
        verify(password, of: nick, for: session) { [weak self] result in
            guard let self, !self.closed, session.isRegistered else { return }
            switch result {
            case .failure(let problem): self.fail(session, problem)
            case .success(let record): then(record)
            }
        }
    }

    /// Whether `password` opens the account of `nick` (or of a nick that looks like it), for
    /// `session`, which need not be registered yet (IRC's SASL comes before registration):
    /// the plaintext rule, the per-session, per-address and per-account limits apply as for
    /// /identify, and a wrong password counts. `done` on the loop thread, later; nothing is
    /// sent to the session and it is not identified (`identified(_:as:how:)` does that).
    package func authenticate(nick: String, password: String, from session: ChatSession,
                              _ done: @escaping (Result<AccountRecord, AccountProblem>) -> Void) {
        if let problem = passwordRefusal(session) { return done(.failure(problem)) }
        verify(password, of: nick, for: session, done)
    }

    /// Identifies `session` to `record` (after `authenticate`, once it is registered): it hears
    /// `.identified`, the host `.identified` with `how` ("identified", "sasl" ...), and a grace
    /// period running ends.
    package func identified(_ session: ChatSession, as record: AccountRecord, how: String) {
        identified(session, record, how: how)
    }

    private func verify(_ password: String, of nick: String, for session: ChatSession,
                        _ done: @escaping (Result<AccountRecord, AccountProblem>) -> Void) {
        update(session) { $0.pending = true }
        let address = settings.address(session)
        begin(address)
        let holder = Names.skeleton(session.nick) == Names.skeleton(nick)
        let store = settings.store
        let finish: (Result<AccountRecord, AccountProblem>) -> Void = { [weak self] result in
            self?.update(session) { $0.pending = false }
            self?.end(address)
            done(result)
        }
        func problem(_ failure: AccountStoreFailure) -> AccountProblem {
            switch failure {
            case .busy: return .busy
            case .diskFull: return .diskFull
            case .unavailable: return .storageFailed
            case .cutOff: return .cutOff
            }
        }
        store.account(skeleton: Names.skeleton(nick)) { [weak self] result in
            guard let self, !self.closed else { return }
            let record: AccountRecord
            switch result {
            case .failure(let failure): return finish(.failure(problem(failure)))
            case .success(nil): return finish(.failure(.notRegistered(nick)))
            case .success(let found?): record = found
            }
            let check = { [weak self] in
                guard let self, !self.closed else { return }
                store.verify(key: record.key, password: password, holder: holder) { [weak self] result in
                    guard let self, !self.closed else { return }
                    switch result {
                    case .failure(let failure): finish(.failure(problem(failure)))
                    case .success(.noSuchAccount): finish(.failure(.notRegistered(nick)))
                    case .success(.wrongPassword(let after)):
                        let address = self.settings.address(session)
                        self.failed(from: address)
                        self.core.log(.info, "wrong password for account \(after.name) from \(address) (\(after.failures) in a row)")
                        finish(.failure(.wrongPassword(nick)))
                    case .success(.verified(let account)):
                        self.addresses[self.settings.address(session)]?.failures = 0
                        self.paces.removeValue(forKey: account.key)
                        finish(.success(account))
                    }
                }
            }
            let wait: Int64
            switch self.pace(record, holder: holder) {
            case .failure(let refusal): return finish(.failure(refusal))
            case .success(let delay): wait = delay
            }
            if wait > 0 { _ = self.settings.schedule(wait, check) } else { check() }
        }
    }

    /// The failures' delay: 1 s after one, 2, 4 ..., at most the cap.
    func delay(afterFailures failures: Int) -> Int64 {
        guard failures > 0 else { return 0 }
        let cap = settings.accountDelayCapMilliseconds
        return failures > 20 ? cap : min(cap, Int64(1000) << Int64(failures - 1))
    }

    /// When the check of an attempt at `record` may run (ms from now), taking its turn: the
    /// attempts at one account are checked one at a time, each after the delay the failures
    /// before it set (the ones scheduled counted as failures). The holder of the nick (one
    /// session at a time) waits only the delay of the failures stored, not its turn: a queue of
    /// others cannot keep the owner out. Refused when the turn is more than a minute away.
    private func pace(_ record: AccountRecord, holder: Bool) -> Result<Int64, AccountProblem> {
        let now = settings.now()
        var entry = paces[record.key] ?? AccountPace(nextCheckAt: 0, failures: 0)
        if entry.nextCheckAt <= now { entry = AccountPace(nextCheckAt: 0, failures: 0) }
        let failures = max(entry.failures, record.failures)
        var start = now + accountWait(record)
        if !holder {
            start = max(start, entry.nextCheckAt)
            if start - now > AccountService.paceQueueMilliseconds {
                return .failure(.accountPaced(nick: record.name, seconds: Int((start - now - AccountService.paceQueueMilliseconds + 999) / 1000)))
            }
        }
        entry.failures = failures + 1
        entry.nextCheckAt = max(entry.nextCheckAt, start + delay(afterFailures: failures + 1))
        if paces[record.key] == nil && paces.count >= settings.maxAddresses {
            paces = paces.filter { $0.value.nextCheckAt > now }
            if paces.count >= settings.maxAddresses, let soonest = paces.min(by: { $0.value.nextCheckAt < $1.value.nextCheckAt })?.key {
                paces.removeValue(forKey: soonest)
            }
        }
        paces[record.key] = entry
        return .success(start - now)
    }

    /// How long an attempt at `record` waits for its earlier failures: 1 s after one, 2, 4 ...,
    /// at most the cap, counted from the last failure.
    func accountWait(_ record: AccountRecord) -> Int64 {
        guard record.failures > 0 else { return 0 }
        let delay = delay(afterFailures: record.failures)
        return max(0, min(delay, record.lastFailureAt + delay - settings.now()))
    }

    private func remember(_ address: String, _ change: (inout AddressState) -> Void) {
        let now = settings.monotonic()
        var entry = addresses[address] ?? AddressState()
        if entry.lastFailureAt != 0 && now - entry.lastFailureAt >= AccountService.hour { entry.failures = 0 }
        change(&entry)
        entry.lastSeen = now
        if addresses[address] == nil && addresses.count >= settings.maxAddresses,
           let oldest = addresses.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
            addresses.removeValue(forKey: oldest)
        }
        addresses[address] = entry
    }

    /// A wrong password from `address`: past the free ones, each costs a wait that doubles
    /// (2 s, 4 s, ... at most an hour).
    private func failed(from address: String) {
        remember(address) { entry in
            let now = settings.monotonic()
            entry.failures += 1
            entry.lastFailureAt = now
            let over = entry.failures - settings.freeFailuresPerAddress
            if over > 0 { entry.nextAttemptAt = now + min(AccountService.hour, Int64(1000) << Int64(min(over, 12))) }
        }
    }

    private func identified(_ session: ChatSession, _ record: AccountRecord, how: String) {
        update(session) {
            $0.cancelGrace?()
            $0.cancelGrace = nil
            $0.account = record.key
            $0.accountSkeleton = record.skeleton
        }
        session.send(.identified(account: record.name))
        core.emit(.identified, session, text: record.name, reason: how)
    }

    // MARK: Nicks (ChatCore calls these)

    /// `session` now holds its nick (welcomed, or renamed): when the nick is (or looks like) a
    /// registered one it is not identified to, it is told, and renamed to a guest after the
    /// grace period unless it identifies.
    package func nickTaken(by session: ChatSession) {
        let nick = session.nick
        let skeleton = Names.skeleton(nick)
        let current = state(session)
        if current.cancelGrace != nil || (current.account != nil && current.accountSkeleton != skeleton) {
            update(session) {
                $0.cancelGrace?()
                $0.cancelGrace = nil
                if $0.accountSkeleton != skeleton { $0.account = nil; $0.accountSkeleton = nil }
            }
        }
        if state(session).account != nil || AccountService.isGuest(nick) { return }
        lookUpOwner(of: session, nick: nick, skeleton: skeleton, retry: 0)
    }

    /// Asks the store whose `nick` is; when it cannot say (busy, cut off, failing), asks again
    /// after 1 s, 2 s, 4 s ... (at most 30 s) for as long as the session holds the nick: a nick
    /// is never let be unchecked (the retry timer sits where the grace timer would, so a rename
    /// or an identification cancels it).
    private func lookUpOwner(of session: ChatSession, nick: String, skeleton: String, retry: Int) {
        settings.store.account(skeleton: skeleton) { [weak self] result in
            guard let self, !self.closed, session.isRegistered, session.nick == nick, self.state(session).account == nil else { return }
            switch result {
            case .failure(let failure):
                if retry == 0 { self.core.log(.warning, "could not check whether \(nick) is registered (\(failure)); asking again until the store answers") }
                let delay = min(AccountService.lookupRetryCapMilliseconds, Int64(1000) << Int64(min(retry, 5)))
                let cancel = self.settings.schedule(delay) { [weak self] in
                    guard let self, !self.closed else { return }
                    self.update(session) { $0.cancelGrace = nil }
                    guard session.isRegistered, session.nick == nick, self.state(session).account == nil else { return }
                    self.lookUpOwner(of: session, nick: nick, skeleton: skeleton, retry: retry + 1)
                }
                self.update(session) {
                    $0.cancelGrace?()
                    $0.cancelGrace = cancel
                }
            case .success(nil):
                break
            case .success(let record?):
                let grace = self.settings.graceMilliseconds
                session.send(.nickOwned(nick: nick, account: record.name, graceSeconds: Int((grace + 999) / 1000)))
                let cancel = self.settings.schedule(grace) { [weak self] in
                guard let self, !self.closed else { return }
                self.graceOver(session, nick: nick, account: record.name)
            }
                self.update(session) {
                    $0.cancelGrace?()
                    $0.cancelGrace = cancel
                }
            }
        }
    }

    private func graceOver(_ session: ChatSession, nick: String, account: String) {
        update(session) { $0.cancelGrace = nil }
        guard session.isRegistered, session.nick == nick, state(session).account == nil else { return }
        let guest = core.nextGuestNick()
        core.rename(session, to: guest)
        let seconds = Int((settings.graceMilliseconds + 999) / 1000)
        let because = Names.key(nick) == Names.key(account) ? "\(nick) is registered and you did not identify within \(seconds) s"
                                      : "\(nick) looks like the registered nick \(account) and you did not identify within \(seconds) s"
        session.send(.youRenamed(nick: guest, because: because))
    }

    /// The session left: its entry goes (and its grace timer with it).
    package func sessionLeft(_ session: ChatSession) {
        guard let entry = sessions.removeValue(forKey: ObjectIdentifier(session)) else { return }
        entry.cancelGrace?()
    }

    /// The server stops.
    package func close() {
        closed = true
        for entry in sessions.values { entry.cancelGrace?() }
        sessions.removeAll()
        inFlight.removeAll()
        paces.removeAll()
        settings.store.close()
    }
}
