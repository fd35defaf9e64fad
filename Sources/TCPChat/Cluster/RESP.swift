// RESP2, the Redis wire protocol (https://redis.io/docs/reference/protocol-spec/): commands go
// out as arrays of bulk strings; replies come back as one of five types. The parser is
// incremental (it says "not yet" until a whole value has arrived) and bounded: a bulk string,
// an array or a nesting deeper than the limits below is a protocol error, never an allocation
// the size a peer asked for.

enum RESPValue: Equatable {
    case simple(String)
    case error(String)
    case integer(Int)
    case bulk([UInt8])
    case null
    case array([RESPValue])

    /// The value as text: simple and bulk strings (bulk decoded as UTF-8), nil otherwise.
    var text: String? {
        switch self {
        case .simple(let text): return text
        case .bulk(let bytes): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// The elements of an array of strings, as text; nil when it is not one.
    var texts: [String]? {
        guard case .array(let items) = self else { return nil }
        var texts: [String] = []
        texts.reserveCapacity(items.count)
        for item in items {
            guard let text = item.text else { return nil }
            texts.append(text)
        }
        return texts
    }
}

enum RESP {
    /// Largest bulk string accepted (Redis's own default proto-max-bulk-len is 512 MB; ours only
    /// ever carries chat lines and nick lists).
    static let maxBulkBytes = 16 << 20
    static let maxArrayCount = 1 << 20
    static let maxDepth = 8
    /// Longest type line (`+OK`, `-ERR ...`, `:42`, `$5`, `*3`) before its CRLF.
    static let maxLineBytes = 64 * 1024

    struct ProtocolError: Error, CustomStringConvertible {
        let description: String
    }

    /// Appends `command` (an array of bulk strings) to `output`.
    static func encode(_ command: [String], into output: inout [UInt8]) {
        output.append(UInt8(ascii: "*"))
        appendNumber(command.count, to: &output)
        for argument in command {
            var argument = argument
            argument.withUTF8 { bytes in
                output.append(UInt8(ascii: "$"))
                appendNumber(bytes.count, to: &output)
                output.append(contentsOf: bytes)
                output.append(contentsOf: [13, 10])
            }
        }
    }

    private static func appendNumber(_ value: Int, to output: inout [UInt8]) {
        output.append(contentsOf: String(value).utf8)
        output.append(contentsOf: [13, 10])
    }

    /// Parses one whole value from `input[start...]`: the value and the index after it, nil when
    /// more bytes are needed, or throws on a malformed or over-limit value.
    static func parse(_ input: UnsafeRawBufferPointer, from start: Int) throws(ProtocolError) -> (RESPValue, Int)? {
        try parse(input, from: start, depth: 0)
    }

    private static func parse(_ input: UnsafeRawBufferPointer, from start: Int, depth: Int) throws(ProtocolError) -> (RESPValue, Int)? {
        guard depth <= maxDepth else { throw ProtocolError(description: "replies nested deeper than \(maxDepth)") }
        guard let (line, next) = try readLine(input, from: start) else { return nil }
        guard let type = line.first else { throw ProtocolError(description: "empty reply line") }
        let body = line.dropFirst()
        switch type {
        case UInt8(ascii: "+"):
            return (.simple(String(decoding: body, as: UTF8.self)), next)
        case UInt8(ascii: "-"):
            return (.error(String(decoding: body, as: UTF8.self)), next)
        case UInt8(ascii: ":"):
            return (.integer(try number(body)), next)
        case UInt8(ascii: "$"):
            let length = try number(body)
            if length == -1 { return (.null, next) }
            guard (0...maxBulkBytes).contains(length) else { throw ProtocolError(description: "bulk string of \(length) bytes (limit \(maxBulkBytes))") }
            guard input.count - next >= length + 2 else { return nil }
            guard input[next + length] == 13, input[next + length + 1] == 10 else {
                throw ProtocolError(description: "bulk string not followed by CRLF")
            }
            return (.bulk(Array(input[next..<(next + length)])), next + length + 2)
        case UInt8(ascii: "*"):
            let count = try number(body)
            if count == -1 { return (.null, next) }
            guard (0...maxArrayCount).contains(count) else { throw ProtocolError(description: "array of \(count) elements (limit \(maxArrayCount))") }
            var items: [RESPValue] = []
            items.reserveCapacity(min(count, 1024))  // not `count`: it is only a claim until the bytes arrive
            var position = next
            for _ in 0..<count {
                guard let (item, after) = try parse(input, from: position, depth: depth + 1) else { return nil }
                items.append(item)
                position = after
            }
            return (.array(items), position)
        default:
            throw ProtocolError(description: "unknown reply type byte \(type)")
        }
    }

    /// The bytes of the line at `start` (without CRLF) and the index after its CRLF.
    private static func readLine(_ input: UnsafeRawBufferPointer, from start: Int) throws(ProtocolError) -> (Slice<UnsafeRawBufferPointer>, Int)? {
        var index = start
        let end = min(input.count, start + maxLineBytes + 2)
        while index + 1 < end {
            if input[index] == 13 && input[index + 1] == 10 { return (input[start..<index], index + 2) }
            index += 1
        }
        if input.count - start >= maxLineBytes + 2 { throw ProtocolError(description: "reply line longer than \(maxLineBytes) bytes") }
        return nil
    }

    private static func number(_ digits: Slice<UnsafeRawBufferPointer>) throws(ProtocolError) -> Int {
        guard let value = Int(String(decoding: digits, as: UTF8.self)) else {
            throw ProtocolError(description: "bad number in reply: \(String(decoding: digits.prefix(32), as: UTF8.self))")
        }
        return value
    }
}
