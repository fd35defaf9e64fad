// Accounts in SQLite (issue 20): the store of a server that runs alone (`--accounts PATH`).
// The database (CTCPChatAccounts: WAL, schema versioned and migrated, created 0600) is opened
// on the thread that makes the store (so that a bad file stops the server before it serves),
// then used only by the account worker's thread; every answer goes back to the loop thread.
// Nothing is cached: each question reads the table.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatAccounts
import TCPChatCore
import TCPChatNet

/// A value that crosses to the worker and back, used by one thread at a time (the loop thread
/// hands it over and gets it back through the queues, which order the accesses).
struct Handed<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

final class SQLiteAccountStore: WorkerBackedAccountStore {
    let path: String
    private let db: Handed<OpaquePointer>
    let worker: AccountWorker
    private let loop: EventLoop
    private let parameters: ScryptParameters
    private let log: (@Sendable (LogLevel, String) -> Void)?
    private var busyWarning = BusyWarning()

    /// Opens (creating) the database; throws one sentence naming the file, what SQLite said
    /// and what to do.
    init(path: String, parameters: ScryptParameters, queueLimit: Int, loop: EventLoop,
         log: (@Sendable (LogLevel, String) -> Void)?) throws(ChatServerError) {
        var error = [CChar](repeating: 0, count: 600)
        guard let handle = cta_db_open(path, &error, error.count) else {
            // One line: SQLite's integrity report has one line per problem.
            let said = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                .split(whereSeparator: \.isNewline).joined(separator: "; ")
            // The file itself could not be opened: a path or permission problem, not a bad database.
            let advice = said.hasPrefix("cannot open ") || said.hasSuffix("is not a regular file")
                ? "check the path, and that the server's user may create, read and write it and its directory"
                : "restore it from a backup, or move it away to start with no accounts"
            throw .invalidConfiguration("accounts database \(path) cannot be used: \(said); \(advice)")
        }
        self.path = path
        db = Handed(handle)
        // Created 0600 here; a file made otherwise (a restored backup) may be readable by others.
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o077 != 0 {
            let mode = String(info.st_mode & 0o777, radix: 8)
            log?(.warning, "accounts database \(path) is readable or writable by other users (mode \(mode)): chmod 600 it")
        }
        worker = AccountWorker(limit: queueLimit)
        self.loop = loop
        self.parameters = parameters
        self.log = log
    }

    deinit {
        worker.stop()
        cta_db_close(db.value)
    }

    // MARK: AccountStore

    func account(key: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void) {
        perform(quick: true, done) { db in SQLiteAccountStore.find(db, bySkeleton: false, key) }
    }

    func account(skeleton: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void) {
        perform(quick: true, done) { db in SQLiteAccountStore.find(db, bySkeleton: true, skeleton) }
    }

    func create(name: String, key: String, skeleton: String, password: String,
                _ done: @escaping (Result<AccountCreation, AccountStoreFailure>) -> Void) {
        let parameters = parameters
        perform(done) { db in
            // Taken already? (Asked before the slow hash; the insert's constraint still decides.)
            for (bySkeleton, value) in [(false, key), (true, skeleton)] {
                switch SQLiteAccountStore.row(db, bySkeleton: bySkeleton, value) {
                case .failure(let failure): return .failure(failure)
                case .success(let found?): return .success(.exists(SQLiteAccountStore.record(found)))
                case .success(nil): break
                }
            }
            let hash: PasswordHash
            switch PasswordHash.make(password, parameters) {
            case .failure(let error): return .failure(.unavailable(error.message))
            case .success(let made): hash = made
            }
            var row = cta_account()
            SQLiteAccountStore.set(&row.name, name)
            SQLiteAccountStore.set(&row.key, key)
            SQLiteAccountStore.set(&row.skeleton, skeleton)
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            row.created = Int64(now.tv_sec)
            SQLiteAccountStore.setHash(&row, hash)
            switch cta_insert(db, &row) {
            case CTA_OK: return .success(.created(SQLiteAccountStore.record(row)))
            case CTA_EXISTS:
                let other = SQLiteAccountStore.find(db, bySkeleton: false, key)
                if case .success(let found?) = other { return .success(.exists(found)) }
                if case .success(let found?) = SQLiteAccountStore.find(db, bySkeleton: true, skeleton) { return .success(.exists(found)) }
                return .failure(.unavailable(String(cString: cta_db_error(db))))
            case CTA_FULL: return .failure(.diskFull)
            default: return .failure(.unavailable(String(cString: cta_db_error(db))))
            }
        }
    }

    func verify(key: String, password: String, holder: Bool, _ done: @escaping (Result<PasswordCheck, AccountStoreFailure>) -> Void) {
        let parameters = parameters
        let log = log
        let loop = loop
        perform(reserved: holder, done) { db in
            var row: cta_account
            switch SQLiteAccountStore.row(db, bySkeleton: false, key) {
            case .failure(let failure): return .failure(failure)
            case .success(nil): return .success(.noSuchAccount)
            case .success(let found?): row = found
            }
            let stored = PasswordHash(parameters: ScryptParameters(n: row.n, r: row.r, p: row.p),
                                      salt: SQLiteAccountStore.bytes(of: row.salt, count: row.salt_len),
                                      hash: SQLiteAccountStore.bytes(of: row.hash, count: row.hash_len))
            let matches: Bool
            switch stored.matches(password) {
            case .failure(let error): return .failure(.unavailable(error.message))
            case .success(let answer): matches = answer
            }
            var record = SQLiteAccountStore.record(row)
            if !matches {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                record.failures += 1
                record.lastFailureAt = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
                let rc = cta_set_failures(db, key, Int64(record.failures), record.lastFailureAt)
                if rc != CTA_OK {
                    // Still a wrong password; the count is lost (the per-address limit holds).
                    let said = String(cString: cta_db_error(db))
                    loop.execute { log?(.error, "accounts: could not count a failed login for \(key): \(said)") }
                }
                return .success(.wrongPassword(record))
            }
            if record.failures != 0 {
                _ = cta_set_failures(db, key, 0, 0)
                record.failures = 0
                record.lastFailureAt = 0
            }
            if stored.parameters != parameters, case .success(let fresh) = PasswordHash.make(password, parameters) {
                let rc = fresh.salt.withUnsafeBufferPointer { salt in
                    fresh.hash.withUnsafeBufferPointer { hash in
                        cta_set_password(db, key, parameters.n, parameters.r, parameters.p, salt.baseAddress, salt.count, hash.baseAddress, hash.count)
                    }
                }
                let said = rc == CTA_OK ? nil : String(cString: cta_db_error(db))
                let old = stored.parameters
                loop.execute {
                    if let said { log?(.warning, "accounts: could not rehash the password of \(key): \(said)") }
                    else { log?(.info, "accounts: rehashed the password of \(key) (scrypt N=\(old.n) r=\(old.r) p=\(old.p) -> N=\(parameters.n) r=\(parameters.r) p=\(parameters.p))") }
                }
            }
            return .success(.verified(record))
        }
    }

    // MARK: The worker's side

    /// Runs `work` on the worker; `done` gets its result on the loop thread (`.busy` when the
    /// queue is full). A storage failure is logged there.
    private func perform<T: Sendable>(quick: Bool = false, reserved: Bool = false, _ done: @escaping (Result<T, AccountStoreFailure>) -> Void,
                                      _ work: @escaping @Sendable (OpaquePointer) -> Result<T, AccountStoreFailure>) {
        let done = Handed(done)
        let loop = loop
        let log = log
        let path = path
        let db = db
        let report: @Sendable (Result<T, AccountStoreFailure>) -> Void = { result in
            loop.execute {
                switch result {
                case .failure(.diskFull): log?(.error, "accounts: could not save to \(path): the disk is full (or the file cannot grow); the server goes on")
                case .failure(.unavailable(let why)): log?(.error, "accounts: \(path): \(why)")
                default: break
                }
                done.value(result)
            }
        }
        // Closed (the server stopped): nothing is answered any more (protocol AccountStore).
        if closed { return }
        if !worker.submit(quick: quick, reserved: reserved, { report(work(db.value)) }) {
            if let line = busyWarning.refusal() { log?(.warning, line) }
            report(.failure(.busy))
        }
    }

    private static func row(_ db: OpaquePointer, bySkeleton: Bool, _ value: String) -> Result<cta_account?, AccountStoreFailure> {
        var row = cta_account()
        switch cta_find(db, bySkeleton ? 1 : 0, value, &row) {
        case CTA_OK: return .success(row)
        case CTA_NOT_FOUND: return .success(nil)
        case CTA_FULL: return .failure(.unavailable("reading: " + String(cString: cta_db_error(db))))
        default: return .failure(.unavailable(String(cString: cta_db_error(db))))
        }
    }

    private static func find(_ db: OpaquePointer, bySkeleton: Bool, _ value: String) -> Result<AccountRecord?, AccountStoreFailure> {
        row(db, bySkeleton: bySkeleton, value).map { $0.map(record) }
    }

    private static func record(_ row: cta_account) -> AccountRecord {
        var row = row
        return AccountRecord(name: text(&row.name), key: text(&row.key), skeleton: text(&row.skeleton),
                             createdAt: row.created, failures: Int(row.failures), lastFailureAt: row.last_failure)
    }

    private static func text<T>(_ field: inout T) -> String {
        withUnsafeBytes(of: &field) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func set<T>(_ field: inout T, _ value: String) {
        withUnsafeMutableBytes(of: &field) { raw in
            let bytes = Array(value.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
    }

    private static func bytes<T>(of field: T, count: Int) -> [UInt8] {
        withUnsafeBytes(of: field) { Array($0.prefix(count)) }
    }

    private static func setHash(_ row: inout cta_account, _ hash: PasswordHash) {
        row.n = hash.parameters.n
        row.r = hash.parameters.r
        row.p = hash.parameters.p
        withUnsafeMutableBytes(of: &row.salt) { $0.copyBytes(from: hash.salt) }
        row.salt_len = hash.salt.count
        withUnsafeMutableBytes(of: &row.hash) { $0.copyBytes(from: hash.hash) }
        row.hash_len = hash.hash.count
    }
}
