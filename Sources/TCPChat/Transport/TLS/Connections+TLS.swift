// TLS on the server's connections: the handshake on the epoll loop (with its deadline), and the
// two places where a TLS connection's bytes differ from a plaintext one's: the read (decrypt
// into the shared read buffer) and the flush (encrypt what is queued). Everything else
// (framing, flood control, backpressure, fan-out, draining) is the plaintext path unchanged.
//
// The fan-out is unchanged in shape: a line is still rendered once and shared by every queue;
// each TLS connection encrypts its own copy when it flushes (a memcpy into the scratch buffer
// plus AES-GCM or ChaCha20 and a record header per 16 KiB), which is the cost of TLS per
// delivery (docs/BENCHMARKS.md, "TLS").
#if canImport(Glibc)
import Glibc
#endif
import CTCPChatLinux
import TCPChatCore
import TCPChatNet

extension Connections {
    /// A new TLS connection: its handshake waits for the client's hello, under a deadline (a
    /// client that opens a connection and stalls must not hold a descriptor and a session).
    func startHandshake(_ connection: Connection, _ tls: TLSSession) {
        connection.tls = tls
        let milliseconds = settings.tlsHandshakeMilliseconds
        guard milliseconds > 0 else { return }
        // No weak references (each gives its object a side table, which LeakSanitizer reports
        // when the process exits with the object alive: Tests/sanitizers/lsan.supp): the
        // connection is held, and closing it cancels this timer (endTLS); `unowned` self, since
        // the loop runs timers only while the server (which owns this Connections) serves.
        tls.deadline = loop.schedule(after: Int64(milliseconds)) { [unowned self, connection] in
            guard let tls = connection.tls else { return }
            tls.deadline = nil
            guard !tls.established else { return }
            doom(connection, reason: "disconnected: TLS handshake not completed within \(Connections.seconds(Int64(milliseconds))) s")
        }
    }

    /// Before the plaintext path handles readiness: drives the handshake until it is done (false:
    /// nothing more to do now). A read that needed the socket writable has had it once the
    /// plaintext path flushes (the next read goes on when epoll reports input).
    func tlsReady(_ connection: Connection, _ tls: TLSSession) -> Bool {
        if tls.established {
            tls.readWaitsForWrite = false
            return true
        }
        guard connection.isOpen else {
            // Leaving before its handshake was done: nothing can be said to it.
            if connection.isDraining { release(connection, reason: connection.closeReason) }
            return false
        }
        switch tls.handshake() {
        case .done:
            if let timer = tls.deadline { loop.cancel(timer) }
            tls.deadline = nil
            connection.wantsWrite = false
            updateInterest(connection)
            handler.secured(connection, version: tls.version, cipher: tls.cipher)
            // What was queued meanwhile (nothing, or an error) goes out now; its first lines
            // may already wait in the socket: epoll (level-triggered) reports them.
            if !connection.output.isEmpty && !connection.isDirty { markDirty(connection) }
        case .wantRead:
            connection.wantsWrite = false
            updateInterest(connection)
        case .wantWrite:
            connection.wantsWrite = true
            updateInterest(connection)
        case .end:
            doom(connection, reason: "TLS handshake failed: the client closed the connection")
        case .failed(let reason, _):
            if tls.peerSpeaksPlaintext {
                // A plaintext client (nc, a tcpchat without --tls) on the TLS port: tell it in
                // the only language it reads, once, without blocking.
                // What it sent is read first: closing with unread input would reset the
                // connection, and its kernel would drop the line before it is read.
                _ = try? Sys.read(connection.fd, readBuffer)
                var line = "! this port speaks TLS only: connect with TLS (tcpchat --tls, openssl s_client, ncat --ssl), or to the plaintext port\n"
                line.withUTF8 { _ = try? Sys.send(connection.fd, UnsafeRawBufferPointer($0)) }
            }
            doom(connection, reason: "TLS handshake failed: \(reason)")
        }
        return false
    }

    /// Decrypts into the shared read buffer, a whole record at a time while a record fits, so
    /// that OpenSSL keeps no decrypted bytes back (epoll could not tell): what the plaintext
    /// path's read(2) would have returned. A failure dooms the connection (and reads as "would
    /// block").
    func read(from connection: Connection, _ tls: TLSSession) -> IOResult<Int> {
        if tls.endPending { return .done(0) }
        var total = 0
        while readBuffer.count - total >= TLSSession.maxRecordBytes {
            switch tls.read(into: UnsafeMutableRawBufferPointer(rebasing: readBuffer[total...])) {
            case .done(let count):
                total += count
            case .end:
                if total == 0 { return .done(0) }
                tls.endPending = true
                return .done(total)
            case .wantRead:
                return total > 0 ? .done(total) : .wouldBlock
            case .wantWrite:
                tls.readWaitsForWrite = true
                connection.wantsWrite = true
                updateInterest(connection)
                return total > 0 ? .done(total) : .wouldBlock
            case .failed(let reason, let code):
                doom(connection, reason: code != 0 ? Connections.reason(for: SystemError("recv", code)) : "TLS: \(reason)")
                return .wouldBlock
            }
        }
        return .done(total)
    }

    /// Encrypts and writes as much of the queue as the socket takes, one scratch-full (64 KiB,
    /// four records) at a time. Before the handshake is done nothing can be written: the queue
    /// waits (reported as drained, so a connection that leaves meanwhile closes at once).
    func flush(_ connection: Connection, _ tls: TLSSession) -> OutputQueue.FlushResult {
        guard tls.established else { return .drained }
        while let piece = connection.output.nextPiece(scratch: flushScratch) {
            switch tls.write(piece.baseAddress!, count: piece.count) {
            case .done(let written):
                connection.output.consume(written)
                if written < piece.count { return .pending }
            case .wantWrite:
                return .pending
            case .wantRead:
                // Only a renegotiation asks this, and renegotiation is off (SSL_OP_NO_RENEGOTIATION).
                return .pending
            case .end:
                doom(connection, reason: "connection closed by peer")
                return .failed(SystemError("send", EPIPE))
            case .failed(let reason, let code):
                if code != 0 { return .failed(SystemError("send", code)) }
                doom(connection, reason: "TLS: \(reason)")
                return .failed(SystemError("send", EPROTO))
            }
        }
        return .drained
    }

    /// The connection closes: close_notify when the handshake was done (best effort), and the
    /// TLS state is freed now rather than with the connection object.
    func endTLS(_ connection: Connection, _ tls: TLSSession) {
        if let timer = tls.deadline { loop.cancel(timer) }
        tls.deadline = nil
        if tls.established { tls.shutdown() }
        connection.tls = nil
    }
}
