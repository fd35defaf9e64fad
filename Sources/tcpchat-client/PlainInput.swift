// Standard input when it is not a terminal (a pipe, a file, a script): no readline, no prompt,
// no echo. Bytes are split into lines at LF (a CR before it is dropped); at end of input an
// unterminated last line still counts.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct PlainInput {
    private var pending: [UInt8] = []

    /// Reads what stdin has now (call when poll says it is readable). Returns the complete
    /// lines, and `ended` once stdin is at its end (or failed).
    mutating func read(_ fd: Int32) -> (lines: [String], ended: Bool) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return ([], false) }
        guard count > 0 else {
            let last = pending.isEmpty ? [] : [PlainInput.text(pending[...])]
            pending.removeAll()
            return (last, true)
        }
        pending.append(contentsOf: buffer[..<count])
        var lines: [String] = []
        var start = pending.startIndex
        while let newline = pending[start...].firstIndex(of: 0x0A) {
            lines.append(PlainInput.text(pending[start..<newline]))
            start = newline + 1
        }
        pending.removeSubrange(..<start)
        return (lines, false)
    }

    private static func text(_ bytes: ArraySlice<UInt8>) -> String {
        let line = bytes.last == 0x0D ? bytes.dropLast() : bytes
        return String(decoding: line, as: UTF8.self)
    }
}
