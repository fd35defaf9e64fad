// Nick and room name rules: the same for every protocol.

/// Nick and room name rules.
public enum Names {
    public static let maxLength = 32

    /// Nicks nobody may take: they would read as the server speaking.
    public static let reservedNicks: Set<String> = ["server", "history", "system", "admin", "root", "nickserv"]

    /// Why `nick` is not acceptable, or nil when it is.
    public static func nickProblem(_ nick: String) -> String? {
        let count = nick.unicodeScalars.count
        if count == 0 { return "a nick cannot be empty" }
        if count > maxLength { return "nick too long (\(count) characters; at most \(maxLength))" }
        if let bad = nick.unicodeScalars.first(where: { !isNameScalar($0) }) {
            return "nick may contain only letters, digits, _ and - (found \(describe(bad)))"
        }
        if reservedNicks.contains(nick.lowercased()) { return "nick \(nick) is reserved" }
        return nil
    }

    /// Why `room` (with its leading #) is not acceptable, or nil when it is.
    public static func roomProblem(_ room: String) -> String? {
        let name = room.dropFirst()
        let count = name.unicodeScalars.count
        if !room.hasPrefix("#") || count == 0 { return "a room name is # followed by 1-\(maxLength) letters, digits, _ or -" }
        if count > maxLength { return "room name too long (\(count) characters; at most \(maxLength))" }
        if let bad = name.unicodeScalars.first(where: { !isNameScalar($0) }) {
            return "room name may contain only letters, digits, _ and - (found \(describe(bad)))"
        }
        return nil
    }

    /// The case-insensitive key under which a nick or room is unique.
    public static func key(_ name: String) -> String { name.lowercased() }

    package static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar == "-" { return true }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    package static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if scalar.properties.generalCategory == .control || scalar.value < 0x20 || scalar == " " { return code }
        return "'\(scalar)' \(code)"
    }
}
