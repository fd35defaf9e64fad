// Accounts (issue 20): the storage seam. An account owns one nick; it is kept by an
// AccountStore — SQLite on a worker thread when the server runs alone (TCPChat's
// SQLiteAccountStore), Redis hashes through the cluster's connection in a cluster. The core
// (AccountService) asks the store and never sees a thread, a file or a hash of a password.
//
// Threading: every call is made on the loop thread, and every completion runs on the loop
// thread, later (never inside the call). A store may queue calls (bounded: past its limit it
// completes with `.busy` at once... on the loop thread, later).

/// One account as the store keeps it (the password's hash never leaves the store).
package struct AccountRecord: Equatable, Sendable {
    /// The nick as registered ("Rita"): the account's name.
    package var name: String
    /// `Names.key(name)`: the primary key.
    package var key: String
    /// `Names.skeleton(name)`: indexed; a nick with this skeleton belongs to this account.
    package var skeleton: String
    /// When it was registered, Unix seconds.
    package var createdAt: Int64
    /// Wrong passwords given for it since the last right one (the guessing delay grows with it).
    package var failures: Int
    /// When the last wrong password was given, Unix milliseconds (0: never).
    package var lastFailureAt: Int64

    package init(name: String, key: String, skeleton: String, createdAt: Int64, failures: Int = 0, lastFailureAt: Int64 = 0) {
        self.name = name
        self.key = key
        self.skeleton = skeleton
        self.createdAt = createdAt
        self.failures = failures
        self.lastFailureAt = lastFailureAt
    }
}

/// Why a store could not do what it was asked. The user hears a sentence for each
/// (AccountProblem); the store has logged the details.
package enum AccountStoreFailure: Error, Equatable, Sendable {
    /// Its queue is full (the worker is behind): try again in a moment.
    case busy
    /// The disk is full (SQLITE_FULL, an I/O error on write, Redis OOM): nothing was saved.
    case diskFull
    /// Anything else (the database cannot be read, the cluster link is down); the text is for
    /// the log.
    case unavailable(String)
    /// A cluster's store: the link to Redis is down (or dropped before Redis answered).
    case cutOff
}

/// The answer to "create this account".
package enum AccountCreation: Equatable, Sendable {
    case created(AccountRecord)
    /// An account with this key or skeleton exists already (it is that one).
    case exists(AccountRecord)
}

/// The answer to "is this the password of this account".
package enum PasswordCheck: Equatable, Sendable {
    /// Right: the store has set `failures` to 0 (and rehashed the password when its KDF
    /// parameters were older than the store's).
    case verified(AccountRecord)
    /// Wrong: the store has counted it (`failures`, `lastFailureAt` of the record are after it).
    case wrongPassword(AccountRecord)
    case noSuchAccount
}

/// Where accounts live. Loop thread in, loop thread out (see above).
package protocol AccountStore: AnyObject {
    /// The account whose key is `key`, or nil.
    func account(key: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void)
    /// The account whose skeleton is `skeleton` (the owner of every nick that looks like it),
    /// or nil.
    func account(skeleton: String, _ done: @escaping (Result<AccountRecord?, AccountStoreFailure>) -> Void)
    /// Creates the account `name` (key and skeleton given) with `password`, hashed by the
    /// store with a fresh salt; `.exists` when the key or the skeleton is taken.
    func create(name: String, key: String, skeleton: String, password: String,
                _ done: @escaping (Result<AccountCreation, AccountStoreFailure>) -> Void)
    /// Checks `password` against the account `key` (in constant time), counting a wrong one.
    /// `holder`: the session asking holds the account's nick (the owner identifying): the store
    /// keeps a share of its queue for such checks, so that a flood of others cannot refuse it.
    func verify(key: String, password: String, holder: Bool, _ done: @escaping (Result<PasswordCheck, AccountStoreFailure>) -> Void)
    /// The server is stopping: finish or drop what is queued (completions may no longer run),
    /// release the database. Loop thread; called once.
    func close()
}
