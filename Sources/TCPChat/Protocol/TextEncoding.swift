// The encoding of a client connection's lines. A tcpchat server speaks UTF-8; a plain peer may
// not: the seed lesson's programs (Chinese Windows, Python's `decode("gbk")`) send and expect
// GBK. With `.gbk` a ChatConnection sends in GBK and reads GBK, except that a received line
// that is valid UTF-8 is read as UTF-8 (so a tcpchat server or a UTF-8 peer still reads right;
// GBK text of two or more characters is almost never valid UTF-8).
//
// Conversion is iconv's (glibc), through the library's C shim; a program that links libtcpchat
// reaches it through this Swift API only.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

public enum TextEncoding: String, Sendable, CaseIterable, CustomStringConvertible {
    case utf8 = "utf-8"
    case gbk

    public var description: String { rawValue }

    /// `utf-8`, `utf8`, `gbk`, in any case; nil for anything else.
    public init?(name: String) {
        switch name.lowercased() {
        case "utf-8", "utf8": self = .utf8
        case "gbk": self = .gbk
        default: return nil
        }
    }
}

/// Turns lines into bytes and back in one `TextEncoding`. Holds iconv descriptors, which are
/// not thread-safe: encode on one thread at a time, decode on one thread at a time.
final class TextTranscoder {
    let encoding: TextEncoding
    private var decoder: TextSanitizer?
    private var encoder: UnsafeMutableRawPointer?

    init(_ encoding: TextEncoding) {
        self.encoding = encoding
        if encoding == .gbk {
            decoder = TextSanitizer(fallback: .gbk)
            encoder = ctc_iconv_open("GBK", "UTF-8")
        }
    }

    deinit {
        decoder?.close()
        if let encoder { ctc_iconv_close(encoder) }
    }

    /// A received line (without its LF) as text. Invalid bytes become U+FFFD.
    func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        guard let decoder else { return String(decoding: bytes, as: UTF8.self) }
        return decoder.decode(bytes)
    }

    /// `text` in this encoding. A character GBK cannot represent becomes `?`.
    func encode(_ text: String) -> [UInt8] {
        guard let encoder else { return Array(text.utf8) }
        var input = Array(text.utf8)
        if input.allSatisfy({ $0 < 0x80 }) { return input }  // ASCII is the same in GBK
        _ = ctc_iconv(encoder, nil, nil, nil, nil)  // reset shift state
        var result: [UInt8] = []
        result.reserveCapacity(input.count)
        var output = [UInt8](repeating: 0, count: 256)
        input.withUnsafeMutableBytes { inBuffer in
            var inPointer = inBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
            var inLeft = inBuffer.count
            while inLeft > 0 {
                var outLeft = output.count
                let rc = output.withUnsafeMutableBytes { outBuffer -> Int in
                    var outPointer = outBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
                    let rc = ctc_iconv(encoder, &inPointer, &inLeft, &outPointer, &outLeft)
                    return rc == -1 ? Int(currentErrno()) : 0  // size_t imports as Int: (size_t)-1 is -1
                }
                result += output[..<(output.count - outLeft)]
                if rc == 0 { break }  // all of it converted
                if rc == Int(E2BIG) { continue }  // output full (it took at least one character)
                // EILSEQ (no GBK for this character) or EINVAL (cannot happen: the input is a
                // whole String): skip one UTF-8 scalar, write `?`.
                guard let lead = inPointer.map({ UInt8(bitPattern: $0.pointee) }) else { break }
                let length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
                let skip = min(length, inLeft)
                inPointer = inPointer.map { $0 + skip }
                inLeft -= skip
                result.append(UInt8(ascii: "?"))
            }
        }
        return result
    }
}
