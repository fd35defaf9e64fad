// Nick and room name rules: the same for every protocol.
//
// Three forms of a name (docs/PROTOCOL.md, "Names"):
//   display   what people see: the name as typed after NFKC (width mapping: `ｒｉｔａ` and
//             `𝐫𝐢𝐭𝐚` are shown as `rita`), case kept.
//   key       what is compared: NFKC_Casefold (NFKC, full case folding, default ignorables
//             removed), PRECIS-style (RFC 8265/8266). A nick or room is unique by key.
//   skeleton  what it looks like: UTS #39's confusable skeleton of the key (`rіta` with a
//             Cyrillic і, `ｒｉｔａ`, `RITA` all have the skeleton `rita`). A name whose
//             skeleton equals one in use (or reserved) is refused, naming the one it resembles.
// And one rule on a name alone: its letters stay within UTS #39's "highly restrictive" level
// (one script, or Latin with Han/Hiragana/Katakana/Hangul), with digits of one system.
// ICU does the Unicode work (Sources/CTCPChatUnicode); pure ASCII takes a fast path for key
// and display (key: ASCII lowercase, no ICU call), since keys are computed for every private
// message and room lookup.

import CTCPChatUnicode

/// Nick and room name rules.
public enum Names {
    public static let maxLength = 32

    /// Nicks nobody may take: they would read as the server speaking. Nor a nick that looks
    /// like one of them (`ѕerver` with a Cyrillic ѕ).
    public static let reservedNicks: Set<String> = ["server", "history", "system", "admin", "root", "nickserv"]

    /// Why `nick` is not acceptable, or nil when it is: its characters, its length, a reserved
    /// nick or its lookalike, mixed scripts. (Whether someone has it, or one like it, is the
    /// core's question: ChatCore.refusal(ofNick:for:).) `nick` as typed; it is checked in its
    /// display form.
    public static func nickProblem(_ nick: String) -> String? {
        let nick = display(nick)
        if let problem = formProblem(ofNick: nick) { return problem }
        return scriptProblem(nick)
    }

    /// Why `room` (with its leading #) is not acceptable, or nil when it is: its characters,
    /// its length, mixed scripts.
    public static func roomProblem(_ room: String) -> String? {
        let room = display(room)
        if let problem = formProblem(ofRoom: room) { return problem }
        return scriptProblem(room)
    }

    /// The prepared form under which a nick or room is unique: NFKC_Casefold (width mapping,
    /// compatibility forms, full case folding); for pure ASCII, its ASCII lowercase.
    public static func key(_ name: String) -> String {
        if let ascii = asciiLowercase(name) { return ascii }
        return icu(name, ctu_nfkc_casefold) ?? name.lowercased()
    }

    /// The UTS #39 confusable skeleton of the prepared form (`key`): `rіta` (Cyrillic і),
    /// `rita`, `RITA` and `ｒｉｔａ` all have the skeleton `rita`. Equal keys give equal
    /// skeletons.
    public static func skeleton(_ name: String) -> String {
        skeleton(ofKey: key(name))
    }

    /// The skeleton of what is shown, case kept: UTS #39's skeleton of the display form, then
    /// folded, then its skeleton again. The same as `skeleton` for most names; it differs when
    /// a capital letter looks like another letter's lower case (capital I like l: `BiII` shows
    /// like `Bill`; Greek and Cyrillic capitals like Latin ones: `ΗΕΡΑ` like `HEPA`), which
    /// `skeleton`, taken after case folding, cannot see. The core refuses a nick when either
    /// form meets either form of a nick in use.
    package static func displaySkeleton(_ name: String) -> String {
        let shown = display(name)
        guard let seen = icu(shown, ctu_skeleton) else { return skeleton(name) }
        return skeleton(ofKey: key(seen))
    }

    /// The skeleton of a name already in its `key` form.
    package static func skeleton(ofKey key: String) -> String {
        icu(key, ctu_skeleton) ?? key
    }

    /// What people see: the name after NFKC (`ｒｉｔａ` -> `rita`, `𝐫𝐢𝐭𝐚` -> `rita`), case kept.
    public static func display(_ name: String) -> String {
        if isASCII(name) { return name }
        return icu(name, ctu_nfkc) ?? name
    }

    // MARK: The rules, one at a time (the core checks them in its own order)

    /// A nick's characters and length only (no Unicode data needed): what a parser of the
    /// server's lines checks (Notice.swift, the client), where a nick is whatever the server
    /// gave out.
    package static func syntaxProblem(ofNick nick: String) -> String? {
        let count = nick.unicodeScalars.count
        if count == 0 { return "a nick cannot be empty" }
        if count > maxLength { return "nick too long (\(count) characters; at most \(maxLength))" }
        if let bad = nick.unicodeScalars.first(where: { !isNameScalar($0) }) {
            return "nick may contain only \(allowed(bad)) (found \(describe(bad)))"
        }
        return nil
    }

    /// Whether the server could have given out `nick`, as a parser of its lines sees it: the
    /// characters and length, and not a reserved nick (so `server joined #x` is no notice).
    /// Cheaper than `nickProblem` (no skeletons), and lenient about what only the server can
    /// judge (lookalikes, scripts).
    package static func couldBeNick(_ nick: String) -> Bool {
        syntaxProblem(ofNick: nick) == nil && !reservedNicks.contains(key(nick))
    }

    /// A nick's characters, length, and reserved nicks (or their lookalikes). `nick` in display form.
    package static func formProblem(ofNick nick: String) -> String? {
        if let problem = syntaxProblem(ofNick: nick) { return problem }
        if reservedNicks.contains(nick) { return "nick \(nick) is reserved" }  // (the common case, without ICU)
        let key = key(nick)
        if reservedNicks.contains(key) { return "nick \(nick) is reserved" }
        if let reserved = reservedSkeletons[skeleton(ofKey: key)] ?? reservedSkeletons[displaySkeleton(nick)] {
            return "nick \(nick) is too much like \(reserved), which is reserved; pick another"
        }
        return nil
    }

    /// A room name's characters and length. `room` in display form.
    package static func formProblem(ofRoom room: String) -> String? {
        let name = room.dropFirst()
        let count = name.unicodeScalars.count
        if !room.hasPrefix("#") || count == 0 { return "a room name is # followed by 1-\(maxLength) letters, digits, _ or -" }
        if count > maxLength { return "room name too long (\(count) characters; at most \(maxLength))" }
        if let bad = name.unicodeScalars.first(where: { !isNameScalar($0) }) {
            return "room name may contain only \(allowed(bad)) (found \(describe(bad)))"
        }
        return nil
    }

    /// UTS #39's restriction level ("highly restrictive") and mixed numbers, for a name whose
    /// characters are already known to be allowed; nil when it passes (and for pure ASCII,
    /// which always does).
    package static func scriptProblem(_ name: String) -> String? {
        if isASCII(name) { return nil }
        var name = name
        var scripts = [CChar](repeating: 0, count: 128)
        let verdict = name.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { ctu_check($0.baseAddress, $0.count, &scripts, scripts.count) }
        }
        guard verdict > 0 else { return nil }  // CTU_ERROR: ICU unusable; nothing more is refused
        let names = scripts.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.split(separator: ",").map(String.init)
        if verdict & CTU_MIXED_SCRIPTS != 0 {
            return "\(name) mixes \(sentence(names)) letters; use one script (Latin with Han/Hiragana/Katakana/Hangul is fine)"
        }
        return "\(name) mixes digits of different number systems; use one"
    }

    /// The skeletons of the reserved nicks, and the nick each belongs to.
    package static let reservedSkeletons: [String: String] = {
        var table: [String: String] = [:]
        for nick in reservedNicks { table[skeleton(ofKey: nick)] = nick }
        return table
    }()

    // MARK: Characters

    package static func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "_" || scalar == "-" { return true }
        // Invisible letters: U+3164 HANGUL FILLER, U+115F, U+FFA0 ... are letters by category
        // but default ignorable, so they show as nothing and NFKC_Casefold drops them from the
        // key (a nick of fillers alone had an empty key).
        if !scalar.isASCII && scalar.properties.isDefaultIgnorableCodePoint { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// What a name may contain, said so that the character found is seen to be outside it.
    private static func allowed(_ bad: Unicode.Scalar) -> String {
        bad.properties.isDefaultIgnorableCodePoint ? "visible letters, digits, _ and -" : "letters, digits, _ and -"
    }

    package static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if scalar.properties.generalCategory == .control || scalar.value < 0x20 || scalar == " "
            || scalar.properties.isDefaultIgnorableCodePoint { return code }
        return "'\(scalar)' \(code)"
    }

    /// The version of ICU doing the Unicode work, e.g. "72.1".
    public static var unicodeLibraryVersion: String { String(cString: ctu_library_version()) }

    // MARK: Helpers

    private static func isASCII(_ name: String) -> Bool {
        var name = name
        return name.withUTF8 { bytes in bytes.allSatisfy { $0 < 0x80 } }
    }

    /// The ASCII lowercase of a pure-ASCII name (the name itself when it has no capital), or nil.
    @inline(__always)
    private static func asciiLowercase(_ name: String) -> String? {
        var name = name
        var upper = false
        let ascii = name.withUTF8 { bytes -> Bool in
            for byte in bytes {
                if byte >= 0x80 { return false }
                if byte &- 0x41 < 26 { upper = true }
            }
            return true
        }
        guard ascii else { return nil }
        guard upper else { return name }
        return name.withUTF8 { bytes in
            String(unsafeUninitializedCapacity: bytes.count) { out in
                for index in bytes.indices {
                    let byte = bytes[index]
                    out[index] = byte &- 0x41 < 26 ? byte | 0x20 : byte
                }
                return bytes.count
            }
        }
    }

    /// Runs one of the shim's string functions; nil when ICU failed.
    private static func icu(_ name: String,
                            _ function: (UnsafePointer<CChar>?, Int, UnsafeMutablePointer<CChar>?, Int) -> Int) -> String? {
        if name.isEmpty { return name }
        var name = name
        return name.withUTF8 { input -> String? in
            input.withMemoryRebound(to: CChar.self) { input -> String? in
                var capacity = input.count * 3 + 16
                for _ in 0..<3 {
                    let result = withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { out -> String?? in
                        let written = function(input.baseAddress, input.count, out.baseAddress, capacity)
                        if written == Int(CTU_TOO_SMALL) { return .some(nil) }
                        if written < 0 { return .none }
                        return out.withMemoryRebound(to: UInt8.self) { String(decoding: $0.prefix(written), as: UTF8.self) }
                    }
                    switch result {
                    case .none: return nil
                    case .some(let text?): return text
                    case .some(nil): capacity *= 6
                    }
                }
                return nil
            }
        }
    }

    /// "Latin and Cyrillic", "Latin, Greek and Cyrillic".
    private static func sentence(_ items: [String]) -> String {
        guard items.count > 1 else { return items.first ?? "several scripts'" }
        return items.dropLast().joined(separator: ", ") + " and " + items.last!
    }
}
