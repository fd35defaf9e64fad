// What may reach other people's screens. Relayed text is decoded (UTF-8, or GBK as the seed
// lesson's clients send it, when the server is told so) and cleaned: no control characters but
// TAB, no escape sequences (ESC, CSI, OSC), no bare CR, no bidi overrides. Invalid UTF-8 bytes
// become U+FFFD.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux

/// How to read a line that is not valid UTF-8.
public enum FallbackEncoding: String, Sendable, CaseIterable {
    /// Invalid bytes become U+FFFD.
    case none
    /// The line is decoded as GBK (through iconv); if that fails too, invalid bytes become U+FFFD.
    case gbk
}

public struct TextSanitizer {
    private var gbkDecoder: UnsafeMutableRawPointer?
    public let fallback: FallbackEncoding

    public init(fallback: FallbackEncoding) {
        self.fallback = fallback
        if fallback == .gbk { gbkDecoder = ctc_iconv_open("UTF-8", "GBK") }
    }

    /// Releases the iconv descriptor. The sanitizer is a value owned by one server.
    public mutating func close() {
        if let decoder = gbkDecoder { ctc_iconv_close(decoder) }
        gbkDecoder = nil
    }

    /// Decodes and cleans one received line. The result may be empty (a line of control bytes).
    public func clean(_ bytes: UnsafeRawBufferPointer) -> String {
        if TextSanitizer.isPlainASCII(bytes) {
            return String(decoding: bytes, as: UTF8.self)
        }
        return TextSanitizer.strip(decode(bytes))
    }

    /// Printable ASCII and TAB only: the common case, which needs no further work.
    /// Eight bytes at a time (issue 19: this check was ~800 instructions of a 64-byte chat
    /// line): a word with no byte below 0x20, none at 0x7F and none above is plain; a word
    /// that has one is looked at byte by byte (TAB is plain).
    @inline(__always)
    static func isPlainASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var offset = 0
        while offset + 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            let below = (word &- ones &* 0x20) & ~word & highs          // some byte < 0x20
            let deleted = ((word ^ (ones &* 0x7F)) &- ones) & ~(word ^ (ones &* 0x7F)) & highs  // some byte == 0x7F
            if (word & highs) | below | deleted != 0 {
                if !isPlainASCIIBytes(UnsafeRawBufferPointer(start: base + offset, count: 8)) { return false }
            }
            offset += 8
        }
        return isPlainASCIIBytes(UnsafeRawBufferPointer(start: base + offset, count: count - offset))
    }

    @inline(__always)
    static func isPlainASCIIBytes(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for byte in bytes where (byte < 0x20 && byte != 0x09) || byte >= 0x7F { return false }
        return true
    }

    func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        if let decoder = gbkDecoder, let converted = convert(bytes, with: decoder) { return converted }
        return String(decoding: bytes, as: UTF8.self)  // invalid sequences become U+FFFD
    }

    private func convert(_ bytes: UnsafeRawBufferPointer, with decoder: UnsafeMutableRawPointer) -> String? {
        _ = ctc_iconv(decoder, nil, nil, nil, nil)  // reset shift state
        // Each GBK byte yields at most 3 UTF-8 bytes: 0x80 alone is € (U+20AC, 3 bytes), so 2
        // per byte ran out of room on a line of euro signs (found by Tests/fuzz/TextFuzz.swift).
        var output = [UInt8](repeating: 0, count: bytes.count * 3 + 4)
        var input = Array(bytes)
        let produced: Int? = input.withUnsafeMutableBytes { inBuffer in
            output.withUnsafeMutableBytes { outBuffer in
                var inPointer = inBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
                var inLeft = inBuffer.count
                var outPointer = outBuffer.baseAddress?.assumingMemoryBound(to: CChar.self)
                var outLeft = outBuffer.count
                let rc = ctc_iconv(decoder, &inPointer, &inLeft, &outPointer, &outLeft)
                if rc == -1 || inLeft != 0 { return nil }  // size_t imports as Int: (size_t)-1 is -1
                return outBuffer.count - outLeft
            }
        }
        guard let produced else { return nil }
        return String(validating: output[..<produced], as: UTF8.self)
    }

    /// Removes escape sequences, control characters (but TAB) and bidi overrides.
    static func strip(_ text: String) -> String {
        var result = String.UnicodeScalarView()
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            switch scalar.value {
            case 0x1B:  // ESC: drop the whole sequence
                skipEscapeSequence(&scalars)
            case 0x9B:  // C1 CSI
                skipUntilFinalByte(&scalars)
            case 0x09:
                result.append(scalar)
            case 0x00...0x1F, 0x7F...0x9F:
                continue
            case 0x202A...0x202E, 0x2066...0x2069:  // bidi embeddings, overrides and isolates
                continue
            default:
                result.append(scalar)
            }
        }
        return String(result)
    }

    private static func skipEscapeSequence(_ scalars: inout String.UnicodeScalarView.Iterator) {
        guard let next = scalars.next() else { return }
        switch next {
        case "[":
            skipUntilFinalByte(&scalars)
        case "]", "P", "X", "^", "_":  // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \)
            while let s = scalars.next() {
                if s.value == 0x07 { return }
                if s.value == 0x1B { _ = scalars.next(); return }
            }
        default:
            return  // a two-character sequence such as ESC c
        }
    }

    private static func skipUntilFinalByte(_ scalars: inout String.UnicodeScalarView.Iterator) {
        while let s = scalars.next() {
            if (0x40...0x7E).contains(s.value) { return }
        }
    }
}
