// Everything the client prints goes through `Screen`, so that while readline is active nothing
// is written across the line being typed: received lines on stdout, our own diagnostics on
// stderr as `tcpchat: ...`.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

final class Screen {
    /// Set while readline owns the terminal.
    var editor: LineEditor?
    let verbose: Bool

    init(verbose: Bool) {
        self.verbose = verbose
    }

    /// A line (or lines) for stdout.
    func show(_ text: String) {
        print(text, on: stdout)
    }

    /// A diagnostic for stderr.
    func error(_ text: String) {
        print("tcpchat: " + text, on: stderr)
    }

    /// A --verbose diagnostic: the steps of connecting and closing.
    func note(_ text: String) {
        if verbose { error(text) }
    }

    private func print(_ text: String, on stream: UnsafeMutablePointer<FILE>) {
        if let editor, editor.isActive {
            editor.show(text, on: stream)
        } else {
            Output.write(text + "\n", to: stream)
        }
    }
}

enum Output {
    /// Writes through stdio, as readline does, so the two never overtake each other; flushed at
    /// once, since a script may be waiting for the line.
    static func write(_ text: String, to stream: UnsafeMutablePointer<FILE>) {
        if stream != stdout { fflush(stdout) }
        fputs(text, stream)
        fflush(stream)
    }
}
