// TLS as a property of a connection (docs/ARCHITECTURE.md, "TLS"): the system's OpenSSL 3 does
// the protocol, through the small C layer of Sources/CTCPChatTLS. A TLSContext holds the
// certificates and the verification settings (OpenSSL's SSL_CTX, reference-counted: a
// connection keeps the context it was made with, so a reload swaps contexts safely); a
// TLSSession is one connection's TLS state (an SSL) over a non-blocking socket.
//
// Server connections (Transport/Connections) branch on `Connection.tls` at two places only: the
// read call (decrypt into the shared read buffer) and the flush (encrypt the queue's bytes);
// handshakes run on the same epoll loop, with a deadline.
import CTCPChatTLS
import TCPChatNet

/// Why a TLS context or connection could not be set up or went wrong, as a sentence.
public struct TLSError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// The NUL-terminated text a C call wrote into `buffer`.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Certificates and verification settings (an OpenSSL SSL_CTX). Immutable once made; any thread.
public final class TLSContext: @unchecked Sendable {
    let raw: OpaquePointer

    private init(raw: OpaquePointer) { self.raw = raw }

    deinit { ctt_ctx_free(raw) }

    /// A server's context: `certificateFile` holds the PEM certificate chain (the server's own
    /// first, then the intermediates), `keyFile` its PEM private key (unencrypted). TLS 1.2 at
    /// least, 1.3 preferred, OpenSSL's default cipher policy.
    public static func server(certificateFile: String, keyFile: String) throws(TLSError) -> TLSContext {
        var error = [CChar](repeating: 0, count: 1024)
        guard let raw = ctt_server_ctx_new(certificateFile, keyFile, &error, error.count) else {
            throw TLSError(TLSError.text(error))
        }
        return TLSContext(raw: raw)
    }

    /// A client's context: `verify` checks the server's certificate against `caFile` (PEM; nil =
    /// the system trust store) and the host name the connection is made for.
    public static func client(verify: Bool = true, caFile: String? = nil) throws(TLSError) -> TLSContext {
        var error = [CChar](repeating: 0, count: 1024)
        let made: OpaquePointer? = caFile.map { ctt_client_ctx_new(verify ? 1 : 0, $0, &error, error.count) }
            ?? ctt_client_ctx_new(verify ? 1 : 0, nil, &error, error.count)
        guard let raw = made else { throw TLSError(TLSError.text(error)) }
        return TLSContext(raw: raw)
    }

    /// The OpenSSL in use, e.g. "OpenSSL 3.0.19 27 Jan 2026".
    public static var libraryVersion: String { String(cString: ctt_library_version()) }
}

/// One connection's TLS (an OpenSSL SSL over a connected non-blocking socket it does not own).
/// One thread at a time: its users serialise their calls (the loop thread; ChatConnection's
/// lock; a client handle's lock), hence @unchecked Sendable. (`package`: tcpchat-bench's TLS
/// clients use it too.)
package final class TLSSession: @unchecked Sendable {
    package enum Outcome {
        /// Bytes read or written; for a handshake, done.
        case done(Int)
        /// Read: the peer ended the stream (close_notify, or a FIN without one).
        case end
        case wantRead
        case wantWrite
        /// Failed for good: why, and errno when a socket call failed (else 0).
        case failed(String, Int32)
    }

    /// The largest plaintext of one TLS record: a read with at least this much room takes a
    /// whole record, so OpenSSL never holds decrypted bytes that epoll cannot see.
    package static let maxRecordBytes = 16384

    private let raw: OpaquePointer
    private let context: TLSContext  // kept alive while the SSL uses it
    /// The handshake is done.
    var established = false
    /// A read ended the stream after returning bytes: the next read reports the end.
    var endPending = false
    /// A read needs the socket writable (TLS 1.3 key update under a full socket): read again then.
    var readWaitsForWrite = false
    /// The handshake deadline's timer (server connections).
    var deadline: EventLoop.TimerID?

    package init?(context: TLSContext, fd: Int32, server: Bool, host: String? = nil) {
        guard let raw = ctt_conn_new(context.raw, fd, server ? 1 : 0, host) else { return nil }
        self.raw = raw
        self.context = context
    }

    deinit { ctt_conn_free(raw) }

    private func outcome(_ result: Int) -> Outcome {
        switch Int32(truncatingIfNeeded: result) {
        case _ where result > 0: return .done(result)
        case 0: return .end
        case CTT_WANT_READ: return .wantRead
        case CTT_WANT_WRITE: return .wantWrite
        default: return .failed(String(cString: ctt_conn_error(raw)), ctt_conn_errno(raw))
        }
    }

    package func handshake() -> Outcome {
        let result = outcome(Int(ctt_handshake(raw)))
        if case .done = result { established = true }
        return result
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) -> Outcome {
        outcome(ctt_read(raw, buffer.baseAddress, buffer.count))
    }

    package func write(_ bytes: UnsafeRawPointer, count: Int) -> Outcome {
        outcome(ctt_write(raw, bytes, count))
    }

    /// Sends close_notify (once, best effort, never blocking).
    func shutdown() { ctt_shutdown(raw) }

    /// The peer's first bytes were not a TLS record: it speaks plaintext.
    var peerSpeaksPlaintext: Bool { ctt_conn_peer_not_tls(raw) != 0 }
    var pendingBytes: Int { Int(ctt_pending(raw)) }
    var version: String { String(cString: ctt_conn_version(raw)) }
    var cipher: String { String(cString: ctt_conn_cipher(raw)) }
}

/// How a client makes a TLS connection (ChatConnection, ChatClient, tcpchat_client_options).
public struct TLSClientOptions: Sendable {
    /// Check the server's certificate: issued by a trusted CA (`caFile`, or the system's trust
    /// store), valid now, and for the host name connected to (or `serverName`). Default on;
    /// off accepts anyone, including someone in the middle.
    public var verify: Bool = true
    /// PEM file of the CAs to trust instead of the system's (a private CA, a self-signed server).
    public var caFile: String? = nil
    /// The name to send (SNI) and to check the certificate against; nil = the host connected to.
    public var serverName: String? = nil
    /// The longest the handshake may take, in milliseconds; 0 = no limit.
    public var handshakeTimeoutMilliseconds: Int = 30_000

    public init(verify: Bool = true, caFile: String? = nil, serverName: String? = nil) {
        self.verify = verify
        self.caFile = caFile
        self.serverName = serverName
    }

    func context() throws(TLSError) -> TLSContext {
        try TLSContext.client(verify: verify, caFile: caFile)
    }
}
