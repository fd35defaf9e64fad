// Accounts in a cluster (issue 20): the AccountStore of a server run with `--cluster` and
// `--cluster-accounts`. The accounts live in the cluster's Redis (keys in ClusterScripts.swift:
// a hash per account, a skeleton index written with it by one Lua script, a failure counter
// with a TTL), so every server of the cluster agrees on who owns which nick, and two servers
// registering the same or a confusable nick at the same moment cannot both win: Redis runs
// one script at a time, and the second finds the first's key or skeleton.
//
// Threads: the Redis I/O is the cluster link's, on the loop thread (pipelined with the
// chat's commands, never blocking); the scrypt KDF runs on an AccountWorker thread, as it does
// for the SQLite store, and its result comes back with EventLoop.execute. Nothing is cached:
// each question asks Redis.
//
// The link down (or dropping before Redis answered): `.cutOff`, which the user hears as
// "accounts are unavailable while the server is cut off from the cluster; try again". A
// registration that was sent and then lost its answer may have been made: the retry then
// says the nick is registered (nothing is half-written: the script is atomic).
#if canImport(Glibc)
import Glibc
#endif
import TCPChatCore
import TCPChatNet

final class RedisAccountStore: WorkerBackedAccountStore {
    private weak var link: ClusterLink?
    private var busyWarning = BusyWarning()
    let worker: AccountWorker
    private let loop: EventLoop
    private let parameters: ScryptParameters
    private let log: (@Sendable (LogLevel, String) -> Void)?
    /// How long a wrong password counts (for the per-account delay), in seconds.
    static let failureSeconds = 3600
    /// "Redis is not answering" was logged for this outage (it is said once, not per request).
    private var reportedCutOff = false

    init(link: ClusterLink, parameters: ScryptParameters, queueLimit: Int, loop: EventLoop,
         log: (@Sendable (LogLevel, String) -> Void)?) {
        self.link = link
        self.parameters = parameters
        worker = AccountWorker(limit: queueLimit)
        self.loop = loop
        self.log = log
    }

    deinit { worker.stop() }

    // MARK: AccountStore

    func account(key: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void) {
        find(key: key, skeleton: "") { done($0.map { $0?.record }) }
    }

    func account(skeleton: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void) {
        find(key: "", skeleton: skeleton) { done($0.map { $0?.record }) }
    }

    func create(name: String, key: String, skeleton: String, password: String,
                _ done: @escaping (Result<AccountCreation, AccountStoreFailure>) -> Void) {
        // Taken already? Asked before the slow hash (the script still decides, atomically).
        find(key: key, skeleton: skeleton) { [weak self] found in
            guard let self else { return }
            switch found {
            case .failure(let failure): return done(.failure(failure))
            case .success(let stored?): return done(.success(.exists(stored.record)))
            case .success(nil): break
            }
            let parameters = self.parameters
            self.onWorker(done, { PasswordHash.make(password, parameters).mapError { .unavailable($0.message) } }) { [weak self] hash in
                guard let self else { return }
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let created = Int64(now.tv_sec)
                let arguments = [key, skeleton, name, String(hash.parameters.n), String(hash.parameters.r), String(hash.parameters.p),
                                 RedisAccountStore.hex(hash.salt), RedisAccountStore.hex(hash.hash), String(created)]
                self.script(.accountCreate, arguments, done) { [weak self] reply in
                    guard let self else { return }
                    guard let answer = reply.texts, answer.count == 2 else { return done(.failure(.unavailable("accountCreate: unexpected reply \(reply)"))) }
                    if answer[0] == "created" {
                        return done(.success(.created(AccountRecord(name: name, key: key, skeleton: skeleton, createdAt: created))))
                    }
                    // Taken meanwhile (by another server, or a look-alike): that account.
                    self.find(key: answer[1], skeleton: "") { found in
                        switch found {
                        case .failure(let failure): done(.failure(failure))
                        case .success(let stored?): done(.success(.exists(stored.record)))
                        case .success(nil): done(.failure(.unavailable("account \(answer[1]) vanished while \(name) was registered")))
                        }
                    }
                }
            }
        }
    }

    func verify(key: String, password: String, holder: Bool, _ done: @escaping (Result<PasswordCheck, AccountStoreFailure>) -> Void) {
        find(key: key, skeleton: "") { [weak self] found in
            guard let self else { return }
            let stored: Stored
            switch found {
            case .failure(let failure): return done(.failure(failure))
            case .success(nil): return done(.success(.noSuchAccount))
            case .success(let account?): stored = account
            }
            let parameters = self.parameters
            let hash = stored.hash
            // On the worker: the check, and a fresh hash when the cost was raised since.
            self.onWorker(done, reserved: holder, { () -> Result<(Bool, PasswordHash?), AccountStoreFailure> in
                switch hash.matches(password) {
                case .failure(let error): return .failure(.unavailable(error.message))
                case .success(false): return .success((false, nil))
                case .success(true):
                    guard hash.parameters != parameters, case .success(let fresh) = PasswordHash.make(password, parameters) else { return .success((true, nil)) }
                    return .success((true, fresh))
                }
            }) { [weak self] (matches, fresh) in
                guard let self else { return }
                var record = stored.record
                guard matches else {
                    var now = timespec()
                    clock_gettime(CLOCK_REALTIME, &now)
                    let at = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
                    record.failures += 1
                    record.lastFailureAt = at
                    // Counted in Redis, for every server; if the link dropped meanwhile it is
                    // still a wrong password (the per-address limit holds; this count is lost).
                    let sent = self.link?.runAccountScript(.accountFailed, [key, String(at), String(RedisAccountStore.failureSeconds)]) { reply in
                        if case .integer(let count) = reply { record.failures = count }
                        done(.success(.wrongPassword(record)))
                    } ?? false
                    if !sent { done(.success(.wrongPassword(record))) }
                    return
                }
                if record.failures != 0 { self.link?.accountCommand(["DEL", "tcpchat:account-failures:" + key]) }
                record.failures = 0
                record.lastFailureAt = 0
                if let fresh {
                    let old = stored.hash.parameters
                    let log = self.log
                    _ = self.link?.runAccountScript(.accountRehash, [key, String(fresh.parameters.n), String(fresh.parameters.r), String(fresh.parameters.p),
                                                                      RedisAccountStore.hex(fresh.salt), RedisAccountStore.hex(fresh.hash)]) { reply in
                        if case .error(let message) = reply { log?(.warning, "accounts: could not rehash the password of \(key): \(message)") }
                        else { log?(.info, "accounts: rehashed the password of \(key) (scrypt N=\(old.n) r=\(old.r) p=\(old.p) -> N=\(fresh.parameters.n) r=\(fresh.parameters.r) p=\(fresh.parameters.p))") }
                    }
                }
                done(.success(.verified(record)))
            }
        }
    }

    // MARK: Redis

    /// An account as Redis keeps it: the record and the hash.
    struct Stored {
        var record: AccountRecord
        var hash: PasswordHash
    }

    private func find(key: String, skeleton: String, _ done: @escaping (Result<Stored?, AccountStoreFailure>) -> Void) {
        script(.accountFind, [key, skeleton], done) { reply in
            if reply == .null { return done(.success(nil)) }
            guard let flat = reply.texts, let stored = RedisAccountStore.stored(flat) else {
                return done(.failure(.unavailable("an account in Redis that cannot be read (\(key.isEmpty ? "skeleton " + skeleton : key))")))
            }
            done(.success(stored))
        }
    }

    /// Runs an account script; `answered` gets a reply that is not an error. The failures
    /// (the link down or lost, a full Redis, an error reply) go to `done`, logged.
    private func script<T>(_ script: ClusterScript, _ arguments: [String], _ done: @escaping (Result<T, AccountStoreFailure>) -> Void,
                           _ answered: @escaping (RESPValue) -> Void) {
        guard !closed, let link else { return later { done(.failure(.cutOff)) } }
        let sent = link.runAccountScript(script, arguments) { [weak self] reply in
            guard case .error(let message) = reply else {
                self?.reportedCutOff = false
                return answered(reply)
            }
            if reply == RedisConnection.linkLost { return done(.failure(.cutOff)) }
            if message.hasPrefix("OOM") {
                self?.log?(.error, "accounts: Redis is out of memory (maxmemory): nothing was saved; the server goes on")
                return done(.failure(.diskFull))
            }
            self?.log?(.error, "accounts: Redis refused \(script): \(message)")
            done(.failure(.unavailable(message)))
        }
        if !sent {
            if !reportedCutOff {
                reportedCutOff = true
                log?(.warning, "accounts: the cluster link is down (or its queue is full); account commands are refused until it is back")
            }
            later { done(.failure(.cutOff)) }
        }
    }

    /// Runs `done` on the loop thread, later (the seam's rule: never inside the call).
    private func later(_ action: @escaping () -> Void) {
        let handed = Handed(action)
        loop.execute { handed.value() }
    }

    /// Runs `work` on the worker; `then` gets its success on the loop thread, `done` its
    /// failure (`.busy` when the queue is full).
    private func onWorker<T: Sendable, R>(_ done: @escaping (Result<R, AccountStoreFailure>) -> Void, reserved: Bool = false,
                                          _ work: @escaping @Sendable () -> Result<T, AccountStoreFailure>,
                                          then: @escaping (T) -> Void) {
        let handed = Handed((done, then))
        let loop = loop
        let log = log
        let submitted = !closed && worker.submit(reserved: reserved) {
            let result = work()
            loop.execute {
                switch result {
                case .success(let value): handed.value.1(value)
                case .failure(let failure):
                    if case .unavailable(let why) = failure { log?(.error, "accounts: \(why)") }
                    handed.value.0(.failure(failure))
                }
            }
        }
        if !submitted {
            if let line = busyWarning.refusal() { log?(.warning, line) }
            later { done(.failure(.busy)) }
        }
    }

    /// HGETALL's flat list (plus failures, last_failure) → the account; nil when a field is
    /// missing or unreadable.
    static func stored(_ flat: [String]) -> Stored? {
        var fields: [String: String] = [:]
        for index in stride(from: 0, to: flat.count - 1, by: 2) { fields[flat[index]] = flat[index + 1] }
        guard let name = fields["name"], let key = fields["key"], let skeleton = fields["skeleton"],
              let n = fields["n"].flatMap({ UInt64($0) }), let r = fields["r"].flatMap({ UInt32($0) }), let p = fields["p"].flatMap({ UInt32($0) }),
              let salt = fields["salt"].flatMap(bytes(hex:)), let hash = fields["hash"].flatMap(bytes(hex:)), !hash.isEmpty else { return nil }
        let record = AccountRecord(name: name, key: key, skeleton: skeleton, createdAt: fields["created"].flatMap { Int64($0) } ?? 0,
                                   failures: fields["failures"].flatMap { Int($0) } ?? 0,
                                   lastFailureAt: fields["last_failure"].flatMap { Int64($0) } ?? 0)
        return Stored(record: record, hash: PasswordHash(parameters: ScryptParameters(n: n, r: r, p: p), salt: salt, hash: hash))
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: String) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = value(utf8[index]), let low = value(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
        }
        return out
    }
}
