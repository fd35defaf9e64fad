// The terminal side of the interactive client: GNU readline through its callback ("alternate")
// interface. Readline never blocks here: the main loop polls stdin with the socket and calls
// `readInput()` when a key is waiting; whole lines come back through `takeLines()`.
//
// Printing while the person types: `show` erases the prompt and the half-typed line from the
// screen, prints above them, and has readline draw them again. Readline keeps the line buffer
// and the cursor position itself, so nothing typed is lost or moved.
//
// Readline is one global state machine and not thread-safe; everything here runs on the main
// thread.
@preconcurrency import CReadline
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

final class LineEditor {
    /// Lines typed since the last `takeLines()`; nil stands for end of input (Ctrl-D on an
    /// empty line). Readline's line callback is a C function, so it reaches us through here.
    nonisolated(unsafe) private static var typed: [String?] = []
    /// Set by the line callback at end of input, where it has already given the terminal back.
    nonisolated(unsafe) private static var removedAtEndOfInput = false

    private var installed = false

    /// Readline owns the terminal (installed, and input has not ended).
    var isActive: Bool { installed && !LineEditor.removedAtEndOfInput }

    /// Installs readline on the terminal with `prompt`. `completion` answers Tab.
    init(prompt: String, completion: Completion) {
        LineEditor.useUTF8Characters()
        // The name `$if tcpchat` matches in ~/.inputrc (readline reads it, or $INPUTRC, itself).
        rl_readline_name = UnsafePointer(strdup("tcpchat"))
        // Readline's own signal handlers would run in signal context and re-raise; we take the
        // signals through SignalPipe instead and call readline from the main loop.
        rl_catch_signals = 0
        rl_catch_sigwinch = 0
        completion.install()
        prompt.withCString { text in
            rl_callback_handler_install(text) { line in
                LineEditor.typed.append(line.map { String(cString: $0) })
                free(line)
                if line == nil {
                    // Remove the handler here, while readline has just restored the terminal
                    // and moved to a new line; left installed, it would draw a fresh prompt.
                    rl_callback_handler_remove()
                    LineEditor.removedAtEndOfInput = true
                }
            }
        }
        installed = true
    }

    /// Readline decodes keys and measures the line by the locale's character set. Chat is
    /// UTF-8, so when the environment names no UTF-8 locale (often so in containers and
    /// scripts) LC_CTYPE becomes C.UTF-8; otherwise readline would take the bytes of "é" for
    /// Meta keys and garble the line.
    private static func useUTF8Characters() {
        setlocale(LC_CTYPE, "")
        if String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            setlocale(LC_CTYPE, "C.UTF-8")
        }
    }

    /// Lets readline process the keys waiting on stdin.
    func readInput() {
        guard isActive else { return }
        rl_callback_read_char()
    }

    /// The lines completed by the last `readInput()` calls (nil: end of input).
    func takeLines() -> [String?] {
        defer { LineEditor.typed.removeAll() }
        return LineEditor.typed
    }

    /// Prints `text` (one or more lines, without the final newline) above the prompt, leaving
    /// the half-typed line and its cursor as they were.
    func show(_ text: String, on stream: UnsafeMutablePointer<FILE>) {
        guard isActive else {
            Output.write(text + "\n", to: stream)
            return
        }
        rl_clear_visible_line()  // cursor to column 0 of the prompt's first row, rows erased
        Output.write(text + "\n", to: stream)
        rl_on_new_line()  // the cursor is now at the start of an empty row
        rl_redisplay()
    }

    func setPrompt(_ prompt: String) {
        guard isActive else { return }
        rl_set_prompt(prompt)
        rl_redisplay()
    }

    /// Ctrl-C, as a shell does it: show ^C, abandon the line (and any search), fresh prompt.
    func interrupt() {
        guard isActive else { return }
        rl_callback_sigcleanup()  // leaves incremental search and half-entered key sequences
        rl_free_line_state()
        rl_point = rl_end
        rl_redisplay()
        Output.write("^C\n", to: Output.standardOutput)
        rl_replace_line("", 0)
        using_history()  // Up starts again from the newest entry
        rl_on_new_line()
        rl_redisplay()
    }

    /// The window changed size: readline re-reads it and redraws the line.
    func resize() {
        guard isActive else { return }
        rl_resize_terminal()
    }

    /// Ctrl-Z: give the terminal back, stop, and take it again when continued.
    func suspend() {
        if isActive {
            rl_deprep_terminal()
            Output.write("\n", to: Output.standardOutput)
        }
        // The signal that brought us here is blocked; SIGSTOP cannot be, and stops us the same.
        kill(getpid(), SIGSTOP)
        if isActive {
            rl_prep_terminal(1)
            rl_on_new_line()
            rl_redisplay()
        }
    }

    /// Erases the prompt line and gives the terminal back as it was. Idempotent; every exit
    /// path calls it.
    func stop() {
        guard isActive else { return }
        installed = false
        rl_clear_visible_line()
        fflush(Output.standardOutput)
        rl_callback_handler_remove()  // restores the terminal modes readline changed
    }
}
