// tcpchat.h's result codes: the descriptions tcpchat_strerror() returns, tcpchat_version(), and
// the one mapping from Swift errors to codes that every C entry point uses.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChat

/// Static, NUL-terminated text: a C caller may keep the pointer for the life of the process.
private func cText(_ text: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(text.utf8Start).assumingMemoryBound(to: CChar.self)
}

@c @implementation public func tcpchat_strerror(_ code: Int32) -> UnsafePointer<CChar>! {
    switch code {
    case TCPCHAT_OK: return cText("success")
    case TCPCHAT_EINVAL: return cText("invalid argument (a NULL handle or argument, or a value out of range)")
    case TCPCHAT_ERESOLVE: return cText("host name could not be resolved")
    case TCPCHAT_EADDRINUSE: return cText("address already in use")
    case TCPCHAT_ECONNREFUSED: return cText("connection refused (is the server running on that port?)")
    case TCPCHAT_ETIMEDOUT: return cText("timed out")
    case TCPCHAT_ECLOSED: return cText("connection closed")
    case TCPCHAT_ERESET: return cText("connection reset by peer")
    case TCPCHAT_ENOSPC: return cText("buffer too small for the line (the line stays queued)")
    case TCPCHAT_ESTATE: return cText("not in this state (the server was already started, or is not bound yet)")
    case TCPCHAT_ESYSTEM: return cText("system call failed (see errno)")
    case TCPCHAT_EAGAIN: return cText("would block (the send queue is full, or connecting goes on): try again when the descriptor is writable")
    case TCPCHAT_EMISUSE: return cText("misuse: called from one of the server's own callbacks, where it cannot run")
    case TCPCHAT_ENOTFOUND: return cText("not found (no such connection, nick or room)")
    case TCPCHAT_ETLS: return cText("the TLS handshake failed (certificate not accepted, wrong host name, or the peer does not speak TLS)")
    default: return cText("unknown tcpchat error")
    }
}

/// The version string of Include/tcpchat.h, copied once into memory that lives as long as the
/// process (the imported macro is a Swift String, which has no stable C address). Written once,
/// by the lazy global initialiser, and only read after that.
nonisolated(unsafe) private let versionCString: UnsafePointer<CChar> = UnsafePointer(strdup(TCPCHAT_VERSION_STRING)!)

@c @implementation public func tcpchat_version() -> UnsafePointer<CChar>! {
    versionCString
}

/// The C result code for a failure, setting errno when the code is TCPCHAT_ESYSTEM.
enum ResultCode {
    static func system(_ code: Int32) -> Int32 {
        errno = code
        return TCPCHAT_ESYSTEM
    }

    static func of(_ error: SystemError) -> Int32 {
        switch error.code {
        case EPIPE: return TCPCHAT_ECLOSED
        case ECONNRESET: return TCPCHAT_ERESET
        default: return system(error.code)
        }
    }

    static func of(_ error: SocketError) -> Int32 {
        switch error {
        case .resolve: return TCPCHAT_ERESOLVE
        case .bind(_, let code) where code == EADDRINUSE: return TCPCHAT_EADDRINUSE
        case .connect(_, let code) where code == ECONNREFUSED: return TCPCHAT_ECONNREFUSED
        case .connect(_, let code) where code == ETIMEDOUT: return TCPCHAT_ETIMEDOUT
        case .bind(_, let code), .connect(_, let code): return system(code)
        case .system(let error): return system(error.code)
        case .tls: return TCPCHAT_ETLS
        }
    }

    static func of(_ error: ChatServerError) -> Int32 {
        switch error {
        case .invalidConfiguration: return TCPCHAT_EINVAL
        case .alreadyStarted: return TCPCHAT_ESTATE
        case .calledFromCallback: return TCPCHAT_EMISUSE
        case .socket(let error): return of(error)
        case .system(let error): return system(error.code)
        }
    }

    static func of(_ error: HostControlError) -> Int32 {
        switch error {
        case .notServing, .nickTaken: return TCPCHAT_ESTATE
        case .noSuchConnection, .noSuchNick, .noSuchRoom: return TCPCHAT_ENOTFOUND
        case .nickInvalid: return TCPCHAT_EINVAL
        }
    }

    static func of(_ error: ChatConnection.ReceiveError) -> Int32 {
        switch error {
        case .closed: return TCPCHAT_ECLOSED
        case .reset: return TCPCHAT_ERESET
        case .system(let error): return of(error)
        }
    }
}
