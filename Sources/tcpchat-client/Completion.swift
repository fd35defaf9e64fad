// Tab completion: /commands at the start of the line, #rooms, and the nicks of the room you
// are in. Readline asks through C function pointers that cannot carry context, so the one
// completion source lives in a static.
@preconcurrency import CReadline
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

final class Completion {
    /// Returns the candidates for `word`; `atLineStart` is true when it is the first word.
    typealias Source = (_ word: String, _ atLineStart: Bool) -> [String]

    nonisolated(unsafe) private static var source: Source = { _, _ in [] }
    nonisolated(unsafe) private static var matches: [String] = []
    nonisolated(unsafe) private static var nextMatch = 0

    private let candidates: Source

    init(_ candidates: @escaping Source) {
        self.candidates = candidates
    }

    /// Points readline's completion at this source. Called once by `LineEditor`.
    func install() {
        Completion.source = candidates
        rl_attempted_completion_function = { text, start, _ in
            // Never fall back to readline's default, which would offer file names.
            rl_attempted_completion_over = 1
            let word = text.map { String(cString: $0) } ?? ""
            Completion.matches = Completion.source(word, start == 0)
            Completion.nextMatch = 0
            guard !Completion.matches.isEmpty else { return nil }
            // rl_completion_matches computes the common prefix and frees what we hand it.
            return rl_completion_matches(text) { _, _ in
                guard Completion.nextMatch < Completion.matches.count else { return nil }
                defer { Completion.nextMatch += 1 }
                return strdup(Completion.matches[Completion.nextMatch])
            }
        }
    }

    /// The entries of `names` that start with `word`, ignoring case (nicks and rooms are
    /// case-insensitive on the server), sorted.
    static func matching(_ word: String, in names: [String]) -> [String] {
        let prefix = word.lowercased()
        return names.filter { $0.lowercased().hasPrefix(prefix) }.sorted()
    }
}
