// Comparing secrets (the server password, IRC operator passwords) in time that does not
// depend on where the first difference is, so that timing a wrong guess tells an attacker
// nothing about how much of it was right.

enum Secret {
    /// True when `given` and `expected` are the same bytes. Every byte position up to the
    /// longer of the two is compared; the time depends on the lengths only.
    static func matches(_ given: String, _ expected: String) -> Bool {
        let a = Array(given.utf8), b = Array(expected.utf8)
        var difference = UInt(bitPattern: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            let x: UInt8 = i < a.count ? a[i] : 0
            let y: UInt8 = i < b.count ? b[i] : 0
            difference |= UInt(x ^ y)
        }
        return difference == 0
    }
}
