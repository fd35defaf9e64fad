// The lines you typed, kept across runs in $XDG_STATE_HOME/tcpchat/history (by default
// ~/.local/state/tcpchat/history), mode 0600, at most `maxEntries` lines. Each line is appended
// as it is sent, so a crash loses nothing; the file is trimmed once at exit.
@preconcurrency import CReadline
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

struct HistoryFile {
    static let maxEntries: Int32 = 1000

    /// Where the history lives, or nil when neither XDG_STATE_HOME nor HOME says.
    let path: String?
    /// Why the file cannot be used (the history then lasts for this run only).
    private(set) var problem: String?
    private var last: String?

    init() {
        path = HistoryFile.defaultPath()
    }

    /// XDG Base Directory rules: a relative XDG_STATE_HOME is ignored.
    static func defaultPath() -> String? {
        if let state = environment("XDG_STATE_HOME"), state.hasPrefix("/") {
            return state + "/tcpchat/history"
        }
        if let home = environment("HOME"), !home.isEmpty {
            return home + "/.local/state/tcpchat/history"
        }
        return nil
    }

    /// Bounds the in-memory history and loads the file, creating it (and its folders) if needed.
    mutating func load() {
        stifle_history(HistoryFile.maxEntries)
        guard let path else {
            problem = "history is not saved: neither XDG_STATE_HOME nor HOME is set"
            return
        }
        let folder = String(path[..<path.lastIndex(of: "/")!])
        if let failure = HistoryFile.makeFolders(folder) {
            problem = "history is not saved: cannot create \(folder): \(failure)"
            return
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            problem = "history is not saved: cannot open \(path): \(String(cString: strerror(errno)))"
            return
        }
        fchmod(fd, 0o600)  // what you typed is yours alone, whatever the umask or an older file said
        close(fd)
        read_history(path)
        if history_length > 0, let entry = history_get(history_base + history_length - 1) {
            last = String(cString: entry.pointee.line)
        }
    }

    /// Adds a sent line to the history (not an empty line, nor a repeat of the previous one).
    mutating func record(_ line: String) {
        guard !line.isEmpty, line != last, !HistoryFile.carriesPassword(line) else { return }
        last = line
        add_history(line)
        // Readline's callback interface has already started the next line (and set the history
        // position, one past the newest entry, for it) before the loop gets here; adding an
        // entry moves the end, so the position must follow, or Up and Ctrl-R would start at
        // the entry just added as if it were the line being typed and skip it.
        using_history()
        if let path, problem == nil { append_history(1, path) }
    }

    /// Lines with a password (/register, /identify, /ghost, /pass) stay out of the history
    /// (and its file).
    static func carriesPassword(_ line: String) -> Bool {
        let word = line.split(separator: " ", maxSplits: 1).first.map { $0.lowercased() } ?? ""
        return ["/register", "/identify", "/ghost", "/pass"].contains(word)
    }

    /// Trims the file to `maxEntries` lines.
    func finish() {
        if let path, problem == nil { history_truncate_file(path, HistoryFile.maxEntries) }
    }

    /// mkdir -p with mode 0700; nil on success, else the reason.
    private static func makeFolders(_ folder: String) -> String? {
        var partial = ""
        for component in folder.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o700) != 0 && errno != EEXIST {
                return String(cString: strerror(errno))
            }
        }
        return nil
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
