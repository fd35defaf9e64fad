// Address ranges (CIDR) for the accounts' "local peers": the peers that may send a password over
// plaintext (loopback by default: nothing crosses a wire). An IPv4-mapped IPv6 address
// (::ffff:127.0.0.1, as a dual-stack listener sees IPv4 peers) counts as its IPv4 address.
#if canImport(Glibc)
import Glibc
#endif

package struct NetworkPrefix: Equatable, Sendable {
    /// 16 bytes: IPv4 as IPv4-mapped IPv6.
    let bytes: [UInt8]
    let bits: Int

    /// Loopback: 127.0.0.0/8 and ::1.
    package static let loopback = [NetworkPrefix("127.0.0.0/8")!, NetworkPrefix("::1/128")!]

    /// "10.0.0.0/8", "fd00::/8", "192.0.2.7" (a single address); nil when not one.
    package init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let address = NetworkPrefix.parse(first) else { return nil }
        let isIPv4 = !first.contains(":")
        let most = isIPv4 ? 32 : 128
        var bits = most
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...most).contains(given) else { return nil }
            bits = given
        }
        self.bytes = address
        self.bits = isIPv4 ? bits + 96 : bits
    }

    /// Whether `host` (a numeric address, as Connection.host has it) is in the range.
    package func contains(_ host: String) -> Bool {
        guard let address = NetworkPrefix.parse(host) else { return false }
        var left = bits
        for index in 0..<16 where left > 0 {
            let mask: UInt8 = left >= 8 ? 0xFF : ~(0xFF >> UInt8(left))
            if address[index] & mask != bytes[index] & mask { return false }
            left -= 8
        }
        return true
    }

    /// 16 bytes of an IPv4 or IPv6 address (IPv4 mapped), or nil.
    static func parse(_ text: String) -> [UInt8]? {
        var host = text
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if let percent = host.firstIndex(of: "%") { host = String(host[..<percent]) }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// The key of the per-address account limits for `host`: an IPv4 address (an IPv4-mapped
    /// one as IPv4) as it is, an IPv6 address by its /64 ("2001:db8:0:1::/64"), since one
    /// subscriber usually holds a whole /64; `host` itself when it is not an address.
    package static func limitKey(_ host: String) -> String {
        guard let bytes = parse(host) else { return host }
        if bytes[0..<12].elementsEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]) {
            return bytes[12...].map(String.init).joined(separator: ".")
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// Parses a comma-separated list ("" = none); nil with the bad entry when one is not a range.
    package static func list(_ text: String) -> Result<[NetworkPrefix], NetworkPrefixError> {
        var prefixes: [NetworkPrefix] = []
        for entry in text.split(separator: ",") {
            let trimmed = entry.trimmingSpaces
            if trimmed.isEmpty { continue }
            guard let prefix = NetworkPrefix(trimmed) else { return .failure(NetworkPrefixError(entry: trimmed)) }
            prefixes.append(prefix)
        }
        return .success(prefixes)
    }
}

package struct NetworkPrefixError: Error, Sendable {
    package var entry: String
}

extension Substring {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
