// AccountService (the accounts' rules in the core) with an in-memory store, a hand-driven clock
// and hand-fired timers: the guessing limits shown step by step with no wall clock, and the
// SASL-shaped `authenticate` for a session that is not registered yet.
import Testing
@testable import TCPChat
@testable import TCPChatCore

/// Accounts in a dictionary; answers are queued and delivered by `deliver()` ("later").
final class MemoryAccountStore: AccountStore {
    var accounts: [String: (record: AccountRecord, password: String)] = [:]
    var queued: [() -> Void] = []
    var now: () -> Int64 = { 0 }

    func deliver() {
        while !queued.isEmpty { queued.removeFirst()() }
    }

    func account(key: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void) {
        let found = accounts[key]?.record
        queued.append { done(.success(found)) }
    }

    /// When set, lookups fail with it (a full queue, a link cut off).
    var lookupFailure: AccountStoreFailure?

    func account(skeleton: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void) {
        if let failure = lookupFailure { return queued.append { done(.failure(failure)) } }
        let found = accounts.values.first { $0.record.skeleton == skeleton }?.record
        queued.append { done(.success(found)) }
    }

    func create(name: String, key: String, skeleton: String, password: String,
                _ done: @escaping (Result<AccountCreation, AccountStoreFailure>) -> Void) {
        if let existing = accounts.values.first(where: { $0.record.key == key || $0.record.skeleton == skeleton }) {
            return queued.append { done(.success(.exists(existing.record))) }
        }
        let record = AccountRecord(name: name, key: key, skeleton: skeleton, createdAt: 0)
        accounts[key] = (record, password)
        queued.append { done(.success(.created(record))) }
    }

    func verify(key: String, password: String, holder: Bool, _ done: @escaping (Result<PasswordCheck, AccountStoreFailure>) -> Void) {
        guard var entry = accounts[key] else { return queued.append { done(.success(.noSuchAccount)) } }
        if entry.password == password {
            entry.record.failures = 0
            accounts[key] = entry
            let record = entry.record
            return queued.append { done(.success(.verified(record))) }
        }
        entry.record.failures += 1
        entry.record.lastFailureAt = now()
        accounts[key] = entry
        let record = entry.record
        queued.append { done(.success(.wrongPassword(record))) }
    }

    func close() {}
}

/// The core, one protocol (the line protocol), the store, a clock and the timers scheduled.
final class AccountHarness {
    let store = MemoryAccountStore()
    let codec = LineCodec(fallbackEncoding: .none, maxQueueBytes: 256 * 1024)
    let core: ChatCore
    let slot: Int
    var clock: Int64 = 1_000_000
    var timers: [(delay: Int64, action: () -> Void)] = []

    init(plaintext: Bool = true) {
        core = ChatCore(settings: CoreSettings())
        slot = core.register(encoder: codec)
        var settings = AccountSettings(
            store: store,
            schedule: { [unowned self] delay, action in
                timers.append((delay, action))
                return {}
            },
            now: { [unowned self] in clock },
            monotonic: { [unowned self] in clock })
        settings.mayReceivePasswords = { _ in plaintext }
        settings.address = { _ in "192.0.2.1" }
        store.now = { [unowned self] in clock }
        core.accounts = AccountService(settings: settings, core: core)
    }

    func session(_ nick: String?) -> (ChatSession, RecordingOutput) {
        let output = RecordingOutput()
        let session = ForwardingSession(encoder: codec, slot: slot, output: output)
        if let nick {
            core.handle(.register(nick: nick, rooms: []), from: session)
            store.deliver()
            _ = output.take()
        }
        return (session, output)
    }

    /// rita registers her nick (password "rita-password") and quits: the account exists and
    /// nobody holds the nick.
    func registerRitaAndLeave() {
        let (owner, _) = session("rita")
        core.handle(.registerAccount(password: "rita-password"), from: owner)
        store.deliver()
        core.handle(.quit(reason: nil), from: owner)
    }

    /// Runs the timers scheduled so far (in order), then the store's answers.
    func fireTimers() {
        let due = timers
        timers.removeAll()
        for timer in due { timer.action() }
        store.deliver()
    }
}

@Suite("AccountService")
struct AccountServiceTests {
    @Test("a wrong password delays the next attempt at that account (1 s, 2 s, 4 s, at most 5 s), never refuses it; the address is refused past two free failures")
    func guessingLimits() {
        let harness = AccountHarness()
        let (owner, ownerOutput) = harness.session("rita")
        harness.core.handle(.registerAccount(password: "right-password"), from: owner)
        harness.store.deliver()
        #expect(ownerOutput.take().last == "* you are now identified as rita")
        harness.core.handle(.quit(reason: nil), from: owner)

        let (guesser, out) = harness.session("mallory")
        harness.core.handle(.identify(nick: "rita", password: "guess-one"), from: guesser)
        harness.store.deliver()
        #expect(out.take() == ["! wrong password for rita"])
        #expect(harness.timers.isEmpty)

        // The second attempt waits for the account's first failure: 1 s, scheduled, not refused.
        harness.core.handle(.identify(nick: "rita", password: "guess-two"), from: guesser)
        harness.store.deliver()
        #expect(out.take().isEmpty)
        #expect(harness.timers.map(\.delay) == [1000])
        harness.clock += 1000
        harness.fireTimers()
        #expect(out.take() == ["! wrong password for rita"])

        // Third: waits 2 s; its failure is this address's third, which costs the address 2 s.
        harness.core.handle(.identify(nick: "rita", password: "guess-three"), from: guesser)
        harness.store.deliver()
        #expect(harness.timers.map(\.delay) == [2000])
        harness.clock += 2000
        harness.fireTimers()
        #expect(out.take() == ["! wrong password for rita"])
        harness.core.handle(.identify(nick: "rita", password: "right-password"), from: guesser)
        #expect(out.take() == ["! too many failed attempts from your address; wait 2 s and try again"])

        // Another address, the owner's: its attempt waits the account's capped delay and gets in.
        harness.core.accounts!.settings.address = { _ in "198.51.100.7" }
        harness.clock += 10
        let (back, backOutput) = harness.session("guest")
        harness.core.handle(.identify(nick: "rita", password: "right-password"), from: back)
        harness.store.deliver()
        #expect(harness.timers.map(\.delay) == [4000 - 10])
        harness.fireTimers()
        #expect(backOutput.take() == ["* you are now known as rita", "* you are now identified as rita"])
        #expect(harness.store.accounts["rita"]?.record.failures == 0)

        // Ten failures later the account's wait is still 5 s at most.
        harness.store.accounts["rita"]!.record.failures = 10
        harness.store.accounts["rita"]!.record.lastFailureAt = harness.clock
        #expect(harness.core.accounts!.accountWait(harness.store.accounts["rita"]!.record) == 5000)
    }

    @Test("registrations per address per hour; the hour passes")
    func registrationBound() {
        let harness = AccountHarness()
        harness.core.accounts!.settings.registrationsPerHour = 1
        let (one, oneOutput) = harness.session("one")
        harness.core.handle(.registerAccount(password: "password-1"), from: one)
        harness.store.deliver()
        #expect(oneOutput.take().last == "* you are now identified as one")
        let (two, twoOutput) = harness.session("two")
        harness.core.handle(.registerAccount(password: "password-2"), from: two)
        #expect(twoOutput.take() == ["! too many accounts registered from your address; wait 3600 s and try again"])
        harness.clock += 3_600_000
        harness.core.handle(.registerAccount(password: "password-2"), from: two)
        harness.store.deliver()
        #expect(twoOutput.take().last == "* you are now identified as two")
    }

    @Test("authenticate (IRC's SASL, before registration): the account, nothing sent; the plaintext rule applies")
    func authenticateBeforeRegistration() {
        let harness = AccountHarness()
        let (owner, _) = harness.session("ada")
        harness.core.handle(.registerAccount(password: "ada-password"), from: owner)
        harness.store.deliver()
        let (fresh, output) = harness.session(nil)
        var answer: Result<AccountRecord, AccountProblem>?
        harness.core.accounts!.authenticate(nick: "ADA", password: "ada-password", from: fresh) { answer = $0 }
        harness.store.deliver()
        #expect((try? answer?.get())?.name == "ada")
        #expect(output.take().isEmpty)

        let refusing = AccountHarness(plaintext: false)
        let (plain, _) = refusing.session(nil)
        refusing.core.accounts!.authenticate(nick: "ada", password: "whatever-1", from: plain) { answer = $0 }
        #expect(answer == .failure(.plaintext(tlsPort: nil)))
    }

    @Test("the grace timer: cancelled by identifying; a rename away from the account ends the identification")
    func graceAndRename() {
        let harness = AccountHarness()
        let (owner, _) = harness.session("rita")
        harness.core.handle(.registerAccount(password: "rita-password"), from: owner)
        harness.store.deliver()
        harness.core.handle(.changeNick("other"), from: owner)
        harness.store.deliver()
        #expect(harness.core.accounts!.account(of: owner) == nil)

        let (taker, out) = harness.session("guest")
        harness.core.handle(.changeNick("Rita"), from: taker)
        harness.store.deliver()
        #expect(out.take() == ["* you are now known as Rita",
                               "* Rita is registered; /identify PASSWORD within 30 s or you will be renamed"])
        #expect(harness.timers.map(\.delay) == [30_000])
        harness.core.handle(.identify(nick: nil, password: "rita-password"), from: taker)
        harness.store.deliver()
        #expect(out.take() == ["* you are now identified as rita"])
        harness.fireTimers()  // the grace timer runs late: it finds its holder identified
        #expect(out.take().isEmpty)
        #expect(harness.core.accounts!.account(of: taker) == "rita")
        harness.core.detach(taker, reason: "gone", announce: false)
        harness.core.detach(owner, reason: "gone", announce: false)
        #expect(harness.core.accounts!.trackedSessions == 0)
    }
}

@Suite("AccountService fixes")
struct AccountServiceFixTests {
    @Test("registrations sent in parallel count at submission; a refused one gives its slot back")
    func parallelRegistrations() {
        let harness = AccountHarness()
        harness.core.accounts!.settings.registrationsPerHour = 2
        harness.core.accounts!.settings.passwordChecksPerAddress = 3  // the bound itself, not this one
        let (taken, _) = harness.session("taken")
        harness.core.handle(.registerAccount(password: "password-0"), from: taken)
        harness.store.deliver()
        harness.core.handle(.quit(reason: nil), from: taken)
        harness.core.accounts!.settings.address = { _ in "192.0.2.99" }
        // "Taken" exists: that registration fails and gives its slot back.
        let (dup, dupOutput) = harness.session("TAKEN2")
        harness.core.handle(.changeNick("tAken"), from: dup)
        harness.store.deliver()
        _ = dupOutput.take()
        harness.core.handle(.registerAccount(password: "password-9"), from: dup)
        harness.store.deliver()
        #expect(dupOutput.take().last == "! tAken is already registered; /identify PASSWORD if it is yours")
        // Three at once, nothing answered yet: the third is refused at submission.
        let parallel = (1...3).map { harness.session("par\($0)") }
        let outputs = parallel.map(\.1)
        for (index, (session, _)) in parallel.enumerated() {
            harness.core.handle(.registerAccount(password: "password-\(index)"), from: session)
        }
        #expect(outputs[2].take() == ["! too many accounts registered from your address; wait 3600 s and try again"])
        harness.store.deliver()
        #expect(outputs[0].take().last == "* you are now identified as par1")
        #expect(outputs[1].take().last == "* you are now identified as par2")
        #expect(harness.store.accounts["par3"] == nil)
    }
}

extension AccountServiceFixTests {
    @Test("a nick whose owner the store cannot look up (busy, cut off) is asked about again until it answers; then the grace period starts")
    func lookupRetried() {
        let harness = AccountHarness()
        harness.registerRitaAndLeave()

        let (taker, out) = harness.session("mallory")
        harness.store.lookupFailure = .busy
        harness.core.handle(.changeNick("rita"), from: taker)
        harness.store.deliver()
        #expect(out.take() == ["* you are now known as rita"])
        #expect(harness.timers.map(\.delay) == [1000])
        harness.fireTimers()
        #expect(harness.timers.map(\.delay) == [2000])
        harness.store.lookupFailure = nil
        harness.fireTimers()
        #expect(out.take() == ["* rita is registered; /identify PASSWORD within 30 s or you will be renamed"])
        #expect(harness.timers.map(\.delay) == [30_000])
        harness.fireTimers()
        #expect(out.take().first?.hasPrefix("* rita is registered and you did not identify within 30 s; you are now known as guest") == true)
        harness.core.detach(taker, reason: "gone", announce: false)
        #expect(harness.core.accounts!.trackedSessions == 0)
    }
}

extension AccountServiceFixTests {
    @Test("one password command at a time per address: a second session from it is refused while the first is answered")
    func oneAtATimePerAddress() {
        let harness = AccountHarness()
        harness.registerRitaAndLeave()
        let (one, oneOutput) = harness.session("one")
        let (two, twoOutput) = harness.session("two")
        harness.core.handle(.identify(nick: "rita", password: "guess-one"), from: one)
        harness.core.handle(.identify(nick: "rita", password: "guess-two"), from: two)
        harness.core.handle(.registerAccount(password: "password-2"), from: two)
        #expect(twoOutput.take() == ["! one password check at a time from your address; wait for its answer",
                                     "! one password check at a time from your address; wait for its answer"])
        #expect(harness.core.accounts!.addressesInFlight == 1)
        harness.store.deliver()
        #expect(oneOutput.take() == ["! wrong password for rita"])
        #expect(harness.core.accounts!.addressesInFlight == 0)
        harness.core.handle(.registerAccount(password: "password-2"), from: two)
        harness.store.deliver()
        #expect(twoOutput.take().last == "* you are now identified as two")
        #expect(harness.core.accounts!.addressesInFlight == 0)
    }
}

extension AccountServiceFixTests {
    @Test("attempts at one account sent at once from many addresses are checked one at a time, each after the delay of the failures before it; the nick's holder is not queued behind them")
    func parallelAttemptsPaced() {
        let harness = AccountHarness()
        harness.registerRitaAndLeave()
        let guessers = (1...4).map { harness.session("guesser\($0)") }
        harness.core.accounts!.settings.address = { session in "198.51.100.\(session.nick.last!)" }
        for (index, (session, _)) in guessers.enumerated() {
            harness.core.handle(.identify(nick: "rita", password: "guess-\(index)"), from: session)
        }
        harness.store.deliver()
        // The first at once, then 1 s after it, 2 s after that, 4 s after that: not all at once.
        #expect(harness.timers.map(\.delay) == [1000, 3000, 7000])
        #expect(guessers[0].1.take() == ["! wrong password for rita"])
        // The holder of the nick waits the stored failures' delay only (1 s), not its turn.
        let (holder, holderOutput) = harness.session("mallory")
        harness.core.handle(.changeNick("rita"), from: holder)
        harness.store.deliver()
        _ = holderOutput.take()
        harness.core.handle(.identify(nick: nil, password: "rita-password"), from: holder)
        harness.store.deliver()
        #expect(harness.timers.map(\.delay).last == 1000)

        // Sixty seconds of queue at most: past it an attempt is refused, with when to come back.
        let harness2 = AccountHarness()
        let (owner2, _) = harness2.session("ada")
        harness2.core.handle(.registerAccount(password: "ada-password"), from: owner2)
        harness2.store.deliver()
        harness2.core.handle(.quit(reason: nil), from: owner2)
        let many = (0..<20).map { harness2.session("g\($0)") }
        harness2.core.accounts!.settings.address = { session in "203.0.113.\(session.nick.dropFirst())" }
        for (session, _) in many { harness2.core.handle(.identify(nick: "ada", password: "guess-guess"), from: session) }
        harness2.store.deliver()
        let refused = many.filter { $0.1.take().first?.hasPrefix("! too many password attempts at ada are waiting; wait ") == true }
        #expect(!refused.isEmpty)
        #expect(harness2.timers.allSatisfy { $0.delay <= 60_000 })
    }
}

extension AccountServiceFixTests {
    @Test("a case variant of a registered nick IS that nick (PROTOCOL): the grace notice and the rename say so")
    func caseVariantIsTheNick() {
        let harness = AccountHarness()
        harness.registerRitaAndLeave()
        let (taker, out) = harness.session("mallory")
        harness.core.handle(.changeNick("RITA"), from: taker)
        harness.store.deliver()
        #expect(out.take() == ["* you are now known as RITA",
                               "* RITA is registered; /identify PASSWORD within 30 s or you will be renamed"])
        harness.fireTimers()
        #expect(out.take().first?.hasPrefix("* RITA is registered and you did not identify within 30 s; you are now known as guest") == true)
    }
}
