// The structs a C caller allocates and the library fills or reads (tcpchat_server_config,
// tcpchat_client_options) start with `size_t struct_size`: the sizeof of the struct in the
// header the caller was compiled with (tcpchat.h, "GROWING STRUCTS"). These helpers touch only
// those bytes, so a program built with an older header (a smaller struct) is never written or
// read past its end, and the fields it did not know take their defaults.
//
// Keep each struct growing with every release that adds fields (pad explicitly if a new field
// would fit into the old tail padding): struct_size is how the library tells releases apart.

import CTCPChat

/// Why a caller's struct cannot be read.
enum SizedStructProblem: Error {
    /// struct_size is below the size of the first release of the struct in this SONAME (or far
    /// above anything a later release could have): not a struct its _init() made.
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
    /// the caller has. `minimum` is the size of the struct's first release in this SONAME.
    /// (`ignoringUnknownFields`: only to find the log callback that reports an unknown field.)
    static func read<T>(
        _ source: UnsafeRawPointer, defaults: T, minimum: Int, ignoringUnknownFields: Bool = false
    ) throws(SizedStructProblem) -> T {
        let size = source.load(as: Int.self)
        let known = MemoryLayout<T>.size
        guard size >= minimum, size <= known + largestPlausibleGrowth else { throw .badSize(size) }
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
