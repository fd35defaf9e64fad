// Telnet clients speak the line protocol too, but a telnet program mixes commands of its own
// into the byte stream (RFC 854): Ctrl-C in `telnet HOST 6789` sends IAC IP IAC DO TIMING-MARK
// (FF F4 FF FD 06) and then waits, discarding what the server sends, until the server answers
// the DO. Left in, those bytes reached the room as U+FFFD.
//
// The filter takes the commands out of a client's bytes before they are framed into lines, and
// answers each option request as a server that implements no options must (RFC 1143): DO x
// gets WONT x, WILL x gets DONT x; WONT and DONT need no answer, so no negotiation can loop.
// Everything else is dropped: IAC and its command byte (IP, AO, AYT, EC, EL, BRK, NOP, DM,
// GA, EOR, ...: 0xEC-0xFE), IAC WILL/WONT/DO/DONT and its option byte, IAC SB ... IAC SE
// whole. IAC IAC is one literal 0xFF data byte, and so is 0xFF before a byte that is no
// command (a stray 0xFF in text, as from a client that is not telnet: it stays, and the
// sanitizer makes it U+FFFD; a newline after it still ends the line; only a stray 0xFF that
// ends one read is dropped, as the filter works in place). Neither UTF-8 nor GBK
// text ever contains 0xFF, so text is never touched, and the server's own output (UTF-8)
// never needs IAC doubling.
//
// The state (a command cut between two reads) lives in the filter, one per connection. Pure:
// bytes in, bytes and replies out, no I/O.
#if canImport(Glibc)
import Glibc
#endif

/// RFC 854 bytes the filter knows by name.
enum Telnet {
    static let iac: UInt8 = 0xFF
    static let dont: UInt8 = 0xFE
    static let `do`: UInt8 = 0xFD
    static let wont: UInt8 = 0xFC
    static let will: UInt8 = 0xFB
    static let sb: UInt8 = 0xFA  // subnegotiation begins
    static let se: UInt8 = 0xF0  // subnegotiation ends
    static let ip: UInt8 = 0xF4  // interrupt process (Ctrl-C)
    static let timingMark: UInt8 = 0x06
    /// The lowest command code (EOF of RFC 1184; RFC 854's own start at SE, 0xF0).
    static let lowestCommand: UInt8 = 0xEC
}

struct TelnetFilter {
    private enum State {
        /// Plain data.
        case data
        /// After IAC.
        case command
        /// After IAC WILL/WONT/DO/DONT: the option byte comes next.
        case option(verb: UInt8)
        /// Inside IAC SB ... : dropped up to IAC SE.
        case subnegotiation
        /// IAC inside a subnegotiation.
        case subnegotiationCommand
    }

    private var state = State.data

    /// True while a command is cut off at the end of the bytes filtered so far.
    var isInsideCommand: Bool {
        if case .data = state { return false }
        return true
    }

    /// Removes the telnet commands from `bytes` in place: the data bytes are moved to the
    /// front, and their count is returned. Answers to option requests are appended to
    /// `replies` (bytes to send back to the client as they are).
    mutating func filter(_ bytes: UnsafeMutableRawBufferPointer, replies: inout [UInt8]) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        // The common case, a client that is not telnet or says nothing to it: one memchr.
        if case .data = state, memchr(base, Int32(Telnet.iac), bytes.count) == nil { return bytes.count }
        var kept = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            switch state {
            case .data:
                if byte == Telnet.iac {
                    state = .command
                } else {
                    bytes[kept] = byte
                    kept += 1
                }
            case .command:
                switch byte {
                case Telnet.iac:  // IAC IAC: a literal 0xFF
                    bytes[kept] = byte
                    kept += 1
                    state = .data
                case Telnet.will, Telnet.wont, Telnet.do, Telnet.dont:
                    state = .option(verb: byte)
                case Telnet.sb:
                    state = .subnegotiation
                case Telnet.lowestCommand...:  // IP, AO, AYT, EC, EL, BRK, NOP, DM, GA, EOR, ...
                    state = .data
                default:  // no command: the 0xFF was data, and so is this byte
                    // In place, the 0xFF fits only when it came in these bytes (at index - 1, so
                    // kept < index); one cut off at the end of the previous read is dropped
                    // (it would only have become U+FFFD).
                    if index > 0 {
                        bytes[kept] = Telnet.iac
                        kept += 1
                    }
                    bytes[kept] = byte
                    kept += 1
                    state = .data
                }
            case .option(let verb):
                if verb == Telnet.do { replies += [Telnet.iac, Telnet.wont, byte] }
                if verb == Telnet.will { replies += [Telnet.iac, Telnet.dont, byte] }
                state = .data
            case .subnegotiation:
                if byte == Telnet.iac { state = .subnegotiationCommand }
            case .subnegotiationCommand:
                state = byte == Telnet.se ? .data : .subnegotiation  // IAC IAC inside SB is data
            }
        }
        return kept
    }

    /// Filters a copy of `bytes`; for tests and callers that hold an array.
    mutating func filter(_ bytes: [UInt8], replies: inout [UInt8]) -> [UInt8] {
        var copy = bytes
        let kept = copy.withUnsafeMutableBytes { filter($0, replies: &replies) }
        return Array(copy[..<kept])
    }
}
