// The bytes tcpchat-bench sends, and how it finds them again in what a server relays.
//
// A message is one line of exactly `size` bytes (LF included):
//     ~B SSSS QQQQQQQQ TTTTTTTTTTTTTTTT xxxx…x\n
// with the sender's index (4 hex digits), the message's sequence number (8 hex digits) and the
// monotonic send time in nanoseconds (16 hex digits). A probe, used to learn that every
// connection is registered with the server, is `~P IIIIIIII\n`.
//
// A server may put anything before the payload (`<nick> `, `(1.2.3.4:5) - `, `<user5> `), so
// the receiver looks for the `~` marker: right after the first `> ` (tcpchat's chat format,
// the default), or anywhere in the line with `--prefix-agnostic`.
#if canImport(Glibc)
import Glibc
#endif

enum Payload {
    /// Bytes before the padding: marker, three fields and their separators.
    static let headerBytes = 2 + 1 + 4 + 1 + 8 + 1 + 16
    /// The smallest message: the header, one space, one LF.
    static let minimumSize = headerBytes + 2

    enum Found {
        case message(sender: Int, sequence: Int, sentNanoseconds: UInt64)
        case probe(UInt32)
        case none
    }

    /// Writes one message of `size` bytes at `destination`.
    static func writeMessage(to destination: UnsafeMutableRawPointer, size: Int, sender: Int, sequence: Int, sentNanoseconds: UInt64) {
        let bytes = destination.assumingMemoryBound(to: UInt8.self)
        bytes[0] = UInt8(ascii: "~"); bytes[1] = UInt8(ascii: "B"); bytes[2] = UInt8(ascii: " ")
        writeHex(UInt64(sender), digits: 4, to: bytes + 3)
        bytes[7] = UInt8(ascii: " ")
        writeHex(UInt64(sequence), digits: 8, to: bytes + 8)
        bytes[16] = UInt8(ascii: " ")
        writeHex(sentNanoseconds, digits: 16, to: bytes + 17)
        bytes[headerBytes] = UInt8(ascii: " ")
        if size - 1 > headerBytes + 1 {
            memset(bytes + headerBytes + 1, Int32(UInt8(ascii: "x")), size - 1 - (headerBytes + 1))
        }
        bytes[size - 1] = UInt8(ascii: "\n")
    }

    /// The probe line for `id`.
    static func probe(_ id: UInt32) -> [UInt8] {
        var line: [UInt8] = Array("~P ".utf8) + Array(repeating: 0, count: 8) + [UInt8(ascii: "\n")]
        line.withUnsafeMutableBufferPointer { writeHex(UInt64(id), digits: 8, to: $0.baseAddress! + 3) }
        return line
    }

    /// Looks for a payload in one received line (without its LF).
    @inline(__always)
    static func find(in line: UnsafePointer<UInt8>, count: Int, anywhere: Bool) -> Found {
        var start = 0
        if anywhere {
            // The first `~B ` or `~P `: a prefix may hold a `~` of its own (ngIRCd's
            // `nick!~user@host` for a user without ident).
            while true {
                guard start < count, let tilde = memchr(line + start, Int32(UInt8(ascii: "~")), count - start) else { return .none }
                start = UnsafeRawPointer(tilde) - UnsafeRawPointer(line)
                if start + 2 < count && (line[start + 1] == UInt8(ascii: "B") || line[start + 1] == UInt8(ascii: "P"))
                    && line[start + 2] == UInt8(ascii: " ") { break }
                start += 1
            }
        } else {
            // `<nick> ~B…`: a nick never contains a space, so the first "> " ends the prefix.
            guard count > 0, line[0] == UInt8(ascii: "<") else { return .none }
            var index = 1
            while index + 1 < count && !(line[index] == UInt8(ascii: ">") && line[index + 1] == UInt8(ascii: " ")) { index += 1 }
            start = index + 2
            guard start < count, line[start] == UInt8(ascii: "~") else { return .none }
        }
        let rest = count - start
        let p = line + start
        if rest >= headerBytes && p[1] == UInt8(ascii: "B") {
            guard let sender = readHex(p + 3, digits: 4), let sequence = readHex(p + 8, digits: 8),
                  let sent = readHex(p + 17, digits: 16) else { return .none }
            return .message(sender: Int(sender), sequence: Int(sequence), sentNanoseconds: sent)
        }
        if rest >= 11 && p[1] == UInt8(ascii: "P"), let id = readHex(p + 3, digits: 8) {
            return .probe(UInt32(id))
        }
        return .none
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    @inline(__always)
    private static func writeHex(_ value: UInt64, digits: Int, to destination: UnsafeMutablePointer<UInt8>) {
        var value = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            destination[index] = hexDigits[Int(value & 0xF)]
            value >>= 4
        }
    }

    @inline(__always)
    private static func readHex(_ source: UnsafePointer<UInt8>, digits: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in 0..<digits {
            let c = source[index]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c &- UInt8(ascii: "a") &+ 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
