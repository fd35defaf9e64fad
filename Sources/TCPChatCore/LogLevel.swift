// What the core reports to its host: log lines and chat lines.

/// How much a log line matters.
public enum LogLevel: Int, Sendable, Comparable {
    case error = 0, warning, info, debug

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
    public var name: String { ["error", "warning", "info", "debug"][rawValue] }
}

/// A chat line seen by the server, handed to `ChatServerConfiguration.onMessage`.
public struct ChatMessage: Sendable, Equatable {
    public let room: String
    public let nick: String
    public let text: String

    package init(room: String, nick: String, text: String) {
        self.room = room
        self.nick = nick
        self.text = text
    }
}
