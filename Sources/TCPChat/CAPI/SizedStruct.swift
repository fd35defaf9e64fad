// The structs a C caller allocates and the library fills or reads (tcpchat_server_config,
// tcpchat_client_options) start with `size_t struct_size`: the sizeof of the struct in the
// header the caller was compiled with (tcpchat.h, "GROWING STRUCTS"). These helpers touch only
// those bytes, so a program built with an older header (a smaller struct) is never written or
// read past its end, and the fields it did not know take their defaults.
//
// The library reads the fields that lie wholly within struct_size; the others keep their
// defaults. So every release's struct must end exactly where its last field ends (no tail
// padding: pad explicitly), or a later release would take an older program's padding for a
// field; Include/tcpchat_symbols.c asserts it for the structs of this header.

import CTCPChat

/// Why a caller's struct cannot be read.
enum SizedStructProblem: Error {
    /// struct_size does not end on a field of the struct (or is far above anything a later
    /// release could have): not a struct its _init() made.
    case badSize(Int)
    /// A byte past the fields this library knows is not zero: the caller set a field of a later
    /// release.
    case unknownField(offset: Int)

    func describe(_ structName: String, knownSize: Int) -> String {
        switch self {
        case .badSize(let size):
            return "\(structName).struct_size is \(size), not the size of a \(structName) made by its _init() "
                + "(this library's is \(knownSize)): call \(structName)_init() on it first"
        case .unknownField(let offset):
            return "\(structName) has a field set at byte \(offset), past the \(knownSize) bytes this "
                + "libtcpchat \(TCPCHAT_VERSION_STRING) knows: the program needs a later libtcpchat.so.1"
        }
    }
}

enum SizedStruct {
    /// A later release adds fields, never kilobytes: a larger struct_size is garbage, and is
    /// refused before a single byte past the known struct is read.
    static let largestPlausibleGrowth = 4096

    /// Writes `defaults` into the first `size` bytes at `destination` and nothing past them:
    /// the known fields get their defaults, bytes past them (fields of a later release) zero,
    /// and struct_size (the first field) becomes `size`. Returns false, writing nothing, when
    /// `size` cannot even hold struct_size.
    @discardableResult
    static func initialize<T>(_ destination: UnsafeMutableRawPointer, size: Int, defaults: T) -> Bool {
        guard size >= MemoryLayout<Int>.size else { return false }
        withUnsafeBytes(of: defaults) { bytes in
            let known = bytes.count
            destination.copyMemory(from: bytes.baseAddress!, byteCount: min(size, known))
            if size > known {
                (destination + known).initializeMemory(as: UInt8.self, repeating: 0, count: size - known)
            }
        }
        destination.storeBytes(of: size, as: Int.self)
        return true
    }

    /// The caller's struct at `source` as a `T`: `defaults` overlaid with the struct_size bytes
    /// the caller has. `fieldOffsets`: where each field after struct_size starts; a smaller
    /// struct_size must be one of them (a program built before the field there was added).
    /// (`ignoringUnknownFields`: only to find the log callback that reports an unknown field.)
    static func read<T>(
        _ source: UnsafeRawPointer, defaults: T, fieldOffsets: [Int], ignoringUnknownFields: Bool = false
    ) throws(SizedStructProblem) -> T {
        let size = source.load(as: Int.self)
        let known = MemoryLayout<T>.size
        let endsOnAField = size == known || fieldOffsets.contains(size)
        guard endsOnAField || (size > known && size <= known + largestPlausibleGrowth) else { throw .badSize(size) }
        if size > known && !ignoringUnknownFields {
            for offset in known..<size where source.load(fromByteOffset: offset, as: UInt8.self) != 0 {
                throw .unknownField(offset: offset)
            }
        }
        var value = defaults
        withUnsafeMutableBytes(of: &value) { bytes in
            bytes.baseAddress!.copyMemory(from: source, byteCount: min(size, known))
        }
        return value
    }
}
