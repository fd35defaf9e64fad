// Soft and hard output limits with backpressure (issue 18), against the real tcpchat-server
// with flood control off: senders flood a room of readers that read at a steady pace slower
// than the flood. Every steady reader must receive every line in order; a reader that never
// reads is dropped after the soft time; a reader that stops for less than the soft time loses
// nothing. Pacing uses the clock; nothing asserts on it. A stuck run fails after
// `stuckAfterMilliseconds` without progress.
import Foundation
import Testing
@testable import TCPChat

/// One raw, non-blocking client socket of the flood test.
private final class FloodPeer {
    let fd: Int32
    let nick: String
    /// Received bytes not yet parsed, at the start of `buffer`.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var filled = 0
    var outbound: [UInt8] = []
    var sent = 0
    var closed = false
    /// Next line number expected from each sender, by sender index.
    var expected: [Int]
    var chatLines = 0
    var notices: [String] = []
    var disorder: [String] = []

    init(port: Int, nick: String, receiveBuffer: Int32, senders: Int) throws {
        self.nick = nick
        expected = Array(repeating: 0, count: senders)
        fd = try connectToLoopback(port: port, receiveBuffer: receiveBuffer)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        outbound = Array("/nick \(nick)\n".utf8)
    }

    deinit {
        Glibc.close(fd)
        buffer.deallocate()
    }

    /// Writes what the socket takes.
    func write() {
        while sent < outbound.count {
            let n = outbound[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
        outbound.removeAll(keepingCapacity: true)
        sent = 0
    }

    /// Reads up to `limit` bytes (what is there; never waits) and parses the lines; returns the
    /// bytes read.
    @discardableResult
    func read(upTo limit: Int) -> Int {
        var total = 0
        while total < limit && !closed {
            let want = min(buffer.count - filled, limit - total)
            let n = Glibc.recv(fd, buffer.baseAddress! + filled, want, 0)
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { closed = true; break }
            if n < 0 { break }
            filled += n
            total += n
            parse()
        }
        return total
    }

    private func parse() {
        let base = buffer.baseAddress!
        var start = 0
        while start < filled, let newline = memchr(base + start, 0x0A, filled - start) {
            let end = base.distance(to: newline)
            line(UnsafeRawBufferPointer(start: base + start, count: end - start))
            start = end + 1
        }
        if start > 0 {
            memmove(base, base + start, filled - start)
            filled -= start
        }
        if filled == buffer.count { filled = 0 }  // a line longer than the buffer: not ours
    }

    /// `<sK> N payload` from sender K must be line N of K; anything else is kept as a notice.
    private func line(_ bytes: UnsafeRawBufferPointer) {
        var index = 0
        if bytes.count > 4 && bytes[0] == UInt8(ascii: "<") && bytes[1] == UInt8(ascii: "s") {
            index += 2
            var sender = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { sender = sender * 10 + Int(bytes[index] - 0x30); index += 1 }
            index += 2  // "> "
            var number = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { number = number * 10 + Int(bytes[index] - 0x30); index += 1 }
            if sender < expected.count {
                if number != expected[sender] && disorder.count < 5 { disorder.append("s\(sender): got \(number), expected \(expected[sender])") }
                expected[sender] = number + 1
                chatLines += 1
                return
            }
        }
        notices.append(String(decoding: bytes, as: UTF8.self))
    }

    func saw(_ prefix: String) -> Bool { notices.contains { $0.hasPrefix(prefix) } }
}

private func residentKiB(_ pid: Int32, _ field: String) -> Int {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
    return 0
}

private func monotonicNow() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

@Suite(.serialized) struct BackpressureTests {
    enum Shape: String, CustomStringConvertible {
        /// One more client joins and never reads.
        case stalledReader
        /// One of the steady readers stops reading for a moment (shorter than the soft time).
        case pausingReader
        var description: String { rawValue }
    }

    static let senders = 10
    static let readers = 50
    static func kernelSendBufferMax() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_wmem", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).last.flatMap { Int($0) } ?? 4 * 1024 * 1024
    }
    static let maxQueue = 1024 * 1024  // roomy: a reader starved of CPU by parallel tests must not reach it
    static let softQueue = 8 * 1024
    /// Bytes each steady reader takes per tick, and the tick.
    static let readBytes = 16 * 1024
    static let tickMilliseconds: Int64 = 10

    @Test(arguments: [Shape.stalledReader, .pausingReader])
    func steadyReadersLoseNothingUnderAFlood(shape: Shape) throws {
        // The pauser stops for at most 4 s; the soft time is 20 s so that a pause stretched by a
        // starved CPU (ASan on 2 cores beside other builds) still ends well inside it.
        let softSeconds = shape == .stalledReader ? "0.5" : "20"
        // The pauser resumes once the others are more than the kernel's send buffer maximum
        // ahead of it, but the kernel may hold less than that maximum for its socket: the rest
        // waits in its server queue, which must not reach the hard cap (seen once: 1 MiB).
        let maxQueue = shape == .stalledReader ? Self.maxQueue : Self.kernelSendBufferMax() + 2 * Self.maxQueue
        let server = try ServerProcess([
            "--host", "127.0.0.1", "--port", "0", "--no-rate-limit", "--max-per-ip", "0",
            "--max-queue", "\(maxQueue)", "--soft-queue", "\(Self.softQueue)", "--soft-seconds", softSeconds,
        ])
        defer { if server.process.isRunning { server.process.terminate() } }
        let port = try server.waitForPort()
        let pid = server.process.processIdentifier
        let senders = try (0..<Self.senders).map { try FloodPeer(port: port, nick: "s\($0)", receiveBuffer: 64 * 1024, senders: Self.senders) }
        let readers = try (0..<Self.readers).map { try FloodPeer(port: port, nick: "r\($0)", receiveBuffer: 16 * 1024, senders: Self.senders) }
        let staller = shape == .stalledReader ? try FloodPeer(port: port, nick: "staller", receiveBuffer: 4096, senders: Self.senders) : nil
        let everyone = senders + readers + (staller.map { [$0] } ?? [])

        // Everyone has its nick (and so has joined) before the flood.
        var lastProgress = monotonicNow()
        while !everyone.allSatisfy({ $0.saw("* you are now known as \($0.nick)") }) {
            for peer in everyone {
                peer.write()
                if peer.read(upTo: .max) > 0 { lastProgress = monotonicNow() }
                #expect(!peer.closed)
            }
            if monotonicNow() - lastProgress > Int64(stuckAfterMilliseconds) { throw TestFailure("clients did not all join") }
            usleep(1000)
        }
        for peer in everyone { peer.notices.removeAll() }
        let baselineKiB = residentKiB(pid, "VmRSS")

        // The kernel buffers up to tcp_wmem's maximum for a socket that does not read before
        // the server's queue grows at all: the flood is 1 MiB more than that per reader.
        let payload = String(repeating: "x", count: 500)
        let linesPerSender = (Self.kernelSendBufferMax() + 1024 * 1024) / 512 / Self.senders
        for (index, sender) in senders.enumerated() {
            sender.outbound = Array((0..<linesPerSender).map { "\($0) \(index) \(payload)\n" }.joined().utf8)
            sender.sent = 0
        }
        let total = linesPerSender * Self.senders
        var stallerGone: Bool { readers.contains { $0.saw("* staller left") } }
        let pauser = shape == .pausingReader ? readers[0] : nil
        var pauseStart: Int64?
        var paused = false
        lastProgress = monotonicNow()
        var nextTick = monotonicNow()
        while readers.contains(where: { $0.chatLines < total && !$0.closed }) || (staller != nil && !stallerGone) {
            var progress = false
            // Senders write and read as fast as they can.
            for sender in senders {
                let before = sender.sent + sender.outbound.count
                sender.write()
                if sender.sent + sender.outbound.count != before { progress = true }
                if sender.read(upTo: .max) > 0 { progress = true }
            }
            let now = monotonicNow()
            if now >= nextTick {
                nextTick = now + Self.tickMilliseconds
                for reader in readers {
                    if reader === pauser {
                        // It stops for 4 s (the soft time is 20 s), long enough for the kernel's
                        // buffers to fill and its queue to pass the soft mark; sooner if the
                        // others get more than the kernel can hold ahead of it.
                        if !paused && reader.chatLines >= total / 10 {
                            paused = true
                            pauseStart = now
                        }
                        if let start = pauseStart {
                            let ahead = (readers[1].chatLines - reader.chatLines) * 512 > Self.kernelSendBufferMax() + 256 * 1024
                            if !ahead && now - start < 4000 { progress = true; continue }
                            pauseStart = nil
                        }
                    }
                    if reader.read(upTo: Self.readBytes) > 0 { progress = true }
                }
            }
            if progress { lastProgress = now }
            if now - lastProgress > Int64(stuckAfterMilliseconds) {
                server.process.terminate()
                let log = server.stderrText().split(separator: "\n").filter { !$0.contains(": connect ") }.prefix(20).joined(separator: "\n")
                throw TestFailure("no progress; lines per reader: \(readers.map(\.chatLines)); notices of r1: \(readers[1].notices); server: \(log)")
            }
            usleep(500)
        }
        let peakKiB = residentKiB(pid, "VmHWM")

        for reader in readers {
            #expect(!reader.closed, "\(reader.nick) was disconnected: \(reader.notices.suffix(3))")
            #expect(reader.chatLines == total, "\(reader.nick) got \(reader.chatLines) of \(total) lines")
            #expect(reader.disorder.isEmpty, "\(reader.nick): \(reader.disorder)")
            // No reader heard another reader dropped (senders are not judged here: under a
            // sanitizer the test's own loop may read them too slowly to keep up).
            #expect(!reader.notices.contains { notice in readers.contains { notice.hasPrefix("* \($0.nick) left (disconnected") } },
                    "\(reader.nick) heard a reader dropped: \(reader.notices.filter { $0.contains("left (disconnected") })")
        }
        if staller != nil {
            let leave = readers.lazy.compactMap { $0.notices.first { $0.hasPrefix("* staller left") } }.first { $0.hasPrefix("* staller left") } ?? ""
            // Dropped at the hard cap (its queue grows there once it holds nobody back: it
            // stopped reading), or at the end of the soft time if the flood ended first.
            #expect(leave == "* staller left (disconnected: not reading (over \(maxQueue) bytes queued))"
                || leave == "* staller left (disconnected: not reading (over \(Self.softQueue) bytes queued for 0.5 s))")
        }
        if let pauser {
            #expect(paused)
            #expect(pauser.chatLines == total)
        }
        // docs/RELIABILITY.md, "Output queues": at most every client's queue at the hard cap,
        // plus a read's worth of held input per client, plus a line each in its framer.
        let clients = everyone.count
        let boundKiB = baselineKiB + clients * (maxQueue + 64 * 1024 + 4096) / 1024
        // (Not under a sanitizer: its shadow memory and quarantine are not the server's.)
        let sanitized = ProcessInfo.processInfo.environment["ASAN_OPTIONS"] != nil || ProcessInfo.processInfo.environment["TSAN_OPTIONS"] != nil
        #expect(sanitized || (peakKiB > 0 && peakKiB <= boundKiB), "peak RSS \(peakKiB) KiB; bound \(boundKiB) KiB (baseline \(baselineKiB) KiB)")
        server.process.terminate()
        server.expectExitZero()
    }
}
