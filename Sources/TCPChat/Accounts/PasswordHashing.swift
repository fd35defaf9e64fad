// Password hashes (issue 20): scrypt (RFC 7914) through OpenSSL 3's EVP_KDF, a fresh 16-byte
// salt per password (RAND_bytes), compared in constant time (CRYPTO_memcmp). The parameters
// are stored with each hash, so that raising them later takes effect as each owner next
// identifies (the store rehashes then). The copy of the password's bytes handed to OpenSSL and
// a candidate key derived for a comparison are wiped after use (OPENSSL_cleanse; best effort:
// the String the password came in, and copies Swift made of it, are not). Slow on purpose: call it from the account worker,
// never on the loop thread. Any store (SQLite, Redis) uses these.
import CTCPChatAccounts

/// scrypt's cost parameters. Memory per hash: 128 * n * r bytes.
public struct ScryptParameters: Equatable, Sendable {
    /// The CPU/memory cost, a power of two.
    public var n: UInt64
    /// The block size.
    public var r: UInt32
    /// The parallelism (run one after another here: time grows with it).
    public var p: UInt32

    public init(n: UInt64, r: UInt32, p: UInt32) {
        self.n = n
        self.r = r
        self.p = p
    }

    /// N = 2^15, r = 8, p = 1: 32 MiB and 77 ms per hash on this project's 2-core test
    /// machine (docs/ARCHITECTURE.md, "Accounts"); OWASP's scrypt floor is N = 2^17 with
    /// r = 8 for 128 MiB, which the worker's one thread would turn into 0.32 s per login.
    public static let standard = ScryptParameters(n: 1 << 15, r: 8, p: 1)

    /// `n` as 2^cost.
    public init(cost: Int) { self.init(n: 1 << UInt64(cost), r: 8, p: 1) }

    /// Memory one hash takes, in bytes.
    public var memoryBytes: UInt64 { 128 * n * UInt64(r) }
}

package struct PasswordHash: Equatable, Sendable {
    package var parameters: ScryptParameters
    package var salt: [UInt8]
    package var hash: [UInt8]

    package static let saltLength = 16
    package static let hashLength = 32

    package init(parameters: ScryptParameters, salt: [UInt8], hash: [UInt8]) {
        self.parameters = parameters
        self.salt = salt
        self.hash = hash
    }

    /// A new hash of `password` with a fresh salt; nil with the reason when OpenSSL failed.
    package static func make(_ password: String, _ parameters: ScryptParameters) -> Result<PasswordHash, PasswordHashError> {
        var salt = [UInt8](repeating: 0, count: saltLength)
        guard cta_random(&salt, salt.count) == 1 else { return .failure(PasswordHashError(message: "no random bytes for a salt (RAND_bytes failed)")) }
        return derive(password, salt: salt, parameters).map { PasswordHash(parameters: parameters, salt: salt, hash: $0) }
    }

    /// Whether `password` is the one hashed (constant-time comparison).
    package func matches(_ password: String) -> Result<Bool, PasswordHashError> {
        derive(password: password).map { candidate in
            var candidate = candidate
            defer { PasswordHash.wipe(&candidate) }
            return candidate.count == hash.count && candidate.withUnsafeBytes { a in hash.withUnsafeBytes { b in cta_equal(a.baseAddress, b.baseAddress, a.count) == 1 } }
        }
    }

    private func derive(password: String) -> Result<[UInt8], PasswordHashError> {
        PasswordHash.derive(password, salt: salt, parameters, length: max(1, hash.count))
    }

    private static func derive(_ password: String, salt: [UInt8], _ parameters: ScryptParameters,
                               length: Int = hashLength) -> Result<[UInt8], PasswordHashError> {
        var out = [UInt8](repeating: 0, count: length)
        var error = [CChar](repeating: 0, count: 256)
        var bytes = Array(password.utf8)
        defer { wipe(&bytes) }
        let ok = bytes.withUnsafeBufferPointer { pw in
            pw.withMemoryRebound(to: CChar.self) { pw in
                cta_scrypt(pw.baseAddress, pw.count, salt, salt.count, parameters.n, parameters.r, parameters.p,
                           &out, out.count, &error, error.count)
            }
        }
        guard ok == 1 else { wipe(&out); return .failure(PasswordHashError(message: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))) }
        return .success(out)
    }
}

extension PasswordHash {
    /// Zeros `bytes` in place (OPENSSL_cleanse, which the optimizer keeps).
    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { cta_wipe($0.baseAddress, $0.count) }
    }
}

package struct PasswordHashError: Error, Sendable {
    package var message: String
}
