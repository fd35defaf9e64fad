// TextSanitizer.isPlainASCII reads eight bytes at a time (issue 19); it must say exactly what
// the byte-by-byte check says, wherever in a line the one byte that matters sits.
import Testing
@testable import TCPChat

@Suite struct PlainASCIITests {
    @Test func wordCheckAgreesWithByteCheck() {
        let interesting: [UInt8] = [0x00, 0x01, 0x08, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x20, 0x21, 0x41, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
        for length in 0...33 {
            for position in 0..<max(length, 1) where length > 0 {
                for byte in interesting {
                    var line = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    line[position] = byte
                    line.withUnsafeBytes { bytes in
                        #expect(TextSanitizer.isPlainASCII(bytes) == TextSanitizer.isPlainASCIIBytes(bytes),
                                "length \(length), byte \(byte) at \(position)")
                    }
                }
            }
            let plain = [UInt8](repeating: UInt8(ascii: "~"), count: length)
            plain.withUnsafeBytes { #expect(TextSanitizer.isPlainASCII($0)) }
        }
    }
}
