// Everything the client prints goes through `Screen`, so that while readline is active nothing
// is written across the line being typed: received lines on stdout, our own diagnostics on
// stderr as `tcpchat: ...`.
//
// The C streams `stdout` and `stderr` are named in this file alone (`Output.standardOutput`,
// `Output.standardError`). Both Glibc and CReadline declare them (readline.h includes
// <stdio.h>, which Glibc's module map does not own, so each module gets its own copy), and
// which copy a reference resolves to differs between a debug build and a release build's
// whole-module optimisation. Swift 6 accepts the reference only when the file imports the
// owning module with @preconcurrency, so this file imports both that way; every other file
// of the client imports Glibc (and CReadline, where used) with @preconcurrency too.
@preconcurrency import CReadline
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
        print(text, on: Output.standardOutput)
    }

    /// A diagnostic for stderr.
    func error(_ text: String) {
        print("tcpchat: " + text, on: Output.standardError)
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
    /// C's `stdout`, the stream readline writes to.
    static var standardOutput: UnsafeMutablePointer<FILE> { stdout }
    static var standardError: UnsafeMutablePointer<FILE> { stderr }

    /// Writes through stdio, as readline does, so the two never overtake each other; flushed at
    /// once, since a script may be waiting for the line.
    static func write(_ text: String, to stream: UnsafeMutablePointer<FILE>) {
        if stream != stdout { fflush(stdout) }
        fputs(text, stream)
        fflush(stream)
    }
}
