// One accepted client connection: its socket, framer, flood control, output queue and life.
// It knows bytes, not chat: its lines go up to its codec through Connections' handler, and it
// carries its session's events down. It is its session: a ChatSession subclass (the core's
// fields first, the transport's after them), one object per connection (issue 19).
#if canImport(Glibc)
import Glibc
#endif
import TCPChatCore
import TCPChatNet

final class Connection: ChatSession {
    /// A connection's life, one way: open → (doomed | draining) → closed; draining may still
    /// be doomed (its flush failed). The reason of a doom or a drain is kept in the cold part
    /// (`closeReason`): only a closing connection has one.
    enum Life: UInt8 {
        /// Reading and writing.
        case open
        /// Failed, or dropped by a limit: detached and closed at the end of the loop iteration
        /// (never in the middle of a fan-out).
        case doomed
        /// Leaving (quit, EOF, shutdown, a deadline): no longer read; what is queued is
        /// written, then it closes.
        case draining
        /// Socket closed and forgotten.
        case closed
    }

    // Issue 19, memory per idle connection: one record of 152 usable bytes (a 160-byte chunk;
    // MemoryTests) holds the session (ChatSession's 64 bytes with the header come first), the
    // transport's state and the output queue. A class's stored properties are laid out in the
    // order declared, with no padding here: words first, the queue (40), the framer (12), then
    // the 32-bit fields, the life and flags' 16 bits and the telnet state's two bytes.
    // What only a throttled, congested, input-holding, draining,
    // closing or TLS connection needs is in `Cold` (since the fourth pass also the congestion
    // serial and the count of receivers holding it as a sender), and the time it connected is
    // `lastInputAt` until its first line.

    /// Connections.senderClock: which sender's lines are being delivered now, followed by the
    /// soft mark (past which a delivery takes the slow path, Connections.pressed; the hard cap
    /// when there is no soft mark), the hard cap and the Connections object itself: one pointer
    /// for the four, shared by every connection, rather than four words in each.
    private let senderClock: UnsafeMutablePointer<Int>
    // Unchecked exclusivity on what every line reads (cold, life, heldBy): only the loop
    // thread touches a connection, and nothing holds an access to one of these across a call
    // that could touch it again (issue 19: a run-time check is ~85 instructions).
    @exclusivity(unchecked) private(set) var cold: Cold?
    /// The peer's address in one word (issue 19: a String took 16 bytes, and a heap block for
    /// one longer than 15 bytes): an IPv4 address and port inline, with the top bit set
    /// (`1 << 63 | port << 32 | address`); anything else (IPv6, a test's text) is the address
    /// of a retained `PeerText`. `address` and `host` make the text back when asked (log lines,
    /// host events, the per-address cap at connect and at close).
    private let peerWord: UInt
    /// Its output queue, inline (OutputQueue). Unchecked exclusivity: only the loop thread
    /// touches it, and never while another access to it is under way.
    @exclusivity(unchecked) var output = OutputQueue()
    /// Unchecked exclusivity: consumed for every read, on the loop thread only, and nothing
    /// its callback does touches it (Connections.handleInput).
    @exclusivity(unchecked) var framer: LineFramer
    /// When it last sent anything (Connections.tenths: tenths of a second in 32 bits); until
    /// its first line, when it connected (the first-line deadline reads it; Connections moves
    /// it on a read before the first line only when there is no such deadline).
    var lastInputAt: UInt32
    let fd: Int32
    /// Its life (the low two bits: Life's raw value) and its flags, one bit each, in 16 bits
    /// (they took a byte each). Unchecked exclusivity: only the loop thread touches them, and
    /// never while another access to them is under way (the fan-out reads the life for every
    /// delivery).
    @exclusivity(unchecked) private var bits: UInt16 = Bit.watchesRead
    /// Takes telnet's commands out of what arrives, before the framer (Protocol/TelnetFilter).
    var telnet = TelnetFilter()
    private enum Bit {
        static let life: UInt16 = 3
        static let notWritable: UInt16 = 1  // doomed (1) and closed (3) have it, open and draining not
        static let detecting: UInt16 = 1 << 2
        static let awaitingFirstLine: UInt16 = 1 << 3
        static let throttled: UInt16 = 1 << 4
        static let isCongested: UInt16 = 1 << 5
        static let ignoresHolds: UInt16 = 1 << 6
        static let hasSentALine: UInt16 = 1 << 7
        static let inputEnded: UInt16 = 1 << 8
        static let isDirty: UInt16 = 1 << 9
        static let wantsWrite: UInt16 = 1 << 10
        static let watchesRead: UInt16 = 1 << 11
        static let watchesWrite: UInt16 = 1 << 12
        static let hasSession: UInt16 = 1 << 13
    }
    @inline(__always) private func bit(_ bit: UInt16) -> Bool { bits & bit != 0 }
    @inline(__always) private func set(_ bit: UInt16, _ on: Bool) {
        if on { bits |= bit } else { bits &= ~bit }
    }

    private(set) var life: Life {
        get { Life(rawValue: UInt8(truncatingIfNeeded: bits & Bit.life)).unsafelyUnwrapped }
        set { bits = bits & ~Bit.life | UInt16(newValue.rawValue) }
    }
    /// Waiting for its first line to tell its protocol (ChatServer.beginDetection).
    var detecting: Bool {
        get { bit(Bit.detecting) }
        set { set(Bit.detecting, newValue) }
    }
    /// No line has been handed to a codec yet (read for every line: ChatServer.received).
    var awaitingFirstLine: Bool {
        get { bit(Bit.awaitingFirstLine) }
        set { set(Bit.awaitingFirstLine, newValue) }
    }
    /// Out of tokens (or waiting for the cluster): not read from until resumed.
    var throttled: Bool {
        get { bit(Bit.throttled) }
        set { set(Bit.throttled, newValue) }
    }
    /// Backpressure (see below): above the soft mark and not drained yet.
    var isCongested: Bool {
        get { bit(Bit.isCongested) }
        set { set(Bit.isCongested, newValue) }
    }
    /// Its peer has gone (hangup, end of stream): what it sent is handled without holds.
    var ignoresHolds: Bool {
        get { bit(Bit.ignoresHolds) }
        set { set(Bit.ignoresHolds, newValue) }
    }
    var hasSentALine: Bool {
        get { bit(Bit.hasSentALine) }
        set { set(Bit.hasSentALine, newValue) }
    }
    /// The client closed its side: its last lines are handled without waiting for anything.
    var inputEnded: Bool {
        get { bit(Bit.inputEnded) }
        set { set(Bit.inputEnded, newValue) }
    }
    /// On the list of connections to flush at the end of this loop iteration.
    var isDirty: Bool {
        get { bit(Bit.isDirty) }
        set { set(Bit.isDirty, newValue) }
    }
    /// The last flush left bytes queued: EPOLLOUT is wanted.
    var wantsWrite: Bool {
        get { bit(Bit.wantsWrite) }
        set { set(Bit.wantsWrite, newValue) }
    }
    /// Its session is the server's: given to the server when the connection was made, and
    /// let go when it closed (ChatServer.closed). Before the record was one object with its
    /// session this was `session != nil`; a connection made outside a server (tests) has none.
    var hasSession: Bool {
        get { bit(Bit.hasSession) }
        set { set(Bit.hasSession, newValue) }
    }
    /// What epoll watches for now (read when adopted).
    var interest: EventLoop.Interest {
        get {
            var interest: EventLoop.Interest = []
            if bit(Bit.watchesRead) { interest.insert(.read) }
            if bit(Bit.watchesWrite) { interest.insert(.write) }
            return interest
        }
        set {
            set(Bit.watchesRead, newValue.contains(.read))
            set(Bit.watchesWrite, newValue.contains(.write))
        }
    }

    /// The peer's address, `host:port` (IPv6 hosts in brackets), as the acceptor gave it.
    var address: String {
        if peerWord >> 63 != 0 {
            return "\(Connection.dotted(UInt32(truncatingIfNeeded: peerWord))):\(UInt16(truncatingIfNeeded: peerWord >> 32))"
        }
        return peerText.text
    }

    /// The peer's IP address alone (for the per-address connection cap): `address` without
    /// its port and brackets, as the acceptor's SocketAddress.host gave it.
    var host: String {
        if peerWord >> 63 != 0 { return Connection.dotted(UInt32(truncatingIfNeeded: peerWord)) }
        return Connection.host(of: peerText.text)
    }

    /// A peer address that is not IPv4 (peerWord).
    private final class PeerText {
        let text: String
        init(_ text: String) { self.text = text }
    }

    private var peerText: PeerText {
        Unmanaged<PeerText>.fromOpaque(UnsafeRawPointer(bitPattern: peerWord).unsafelyUnwrapped).takeUnretainedValue()
    }

    /// `address` in a word (peerWord): inline when it is an IPv4 address and port that read
    /// back the same (`a.b.c.d:port`, as getnameinfo writes it), else a PeerText.
    private static func peerWord(of address: String) -> UInt {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, let port = UInt16(parts[1]) {
            let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt8($0) }
            if octets.count == 4 {
                let value = octets.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                let word = 1 << 63 | UInt(port) << 32 | UInt(value)
                if "\(dotted(value)):\(port)" == address { return word }
            }
        }
        return UInt(bitPattern: Unmanaged.passRetained(PeerText(address)).toOpaque())
    }

    private static func dotted(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 0xFF).\(value >> 8 & 0xFF).\(value & 0xFF)"
    }

    static func host(of address: String) -> String {
        if address.hasPrefix("["), let close = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        guard let colon = address.lastIndex(of: ":") else { return address }
        return String(address[..<colon])
    }

    /// Its TLS session (Transport/TLS), or nil for a plaintext connection. In the cold part, so
    /// that a plaintext connection does not carry the word (a TLS one has far larger state in
    /// OpenSSL anyway).
    var tls: TLSSession? {
        get { cold?.tls }
        set { if cold != nil || newValue != nil { warm.tls = newValue } }
    }
    /// Flood control; nil when the server has no rate limit (or the peer has gone).
    var bucket: TokenBucket? {
        get { cold?.bucket }
        set { if cold != nil || newValue != nil { warm.bucket = newValue } }
    }
    /// Bytes read but not yet handled because the bucket ran out (at most one read's worth).
    var pendingInput: [UInt8] {
        get { cold?.pendingInput ?? [] }
        set { if cold != nil || !newValue.isEmpty { warm.pendingInput = newValue } }
    }
    /// The timer that closes a draining connection that does not drain in time.
    var drainDeadline: EventLoop.TimerID? {
        get { cold?.drainDeadline }
        set { if cold != nil || newValue != nil { warm.drainDeadline = newValue } }
    }
    /// The timer that resumes reading a throttled connection.
    var resumeTimer: EventLoop.TimerID? {
        get { cold?.resumeTimer }
        set { if cold != nil || newValue != nil { warm.resumeTimer = newValue } }
    }

    // Backpressure (Connections, "Soft limit"). As a receiver: congested = its queue passed
    // the soft mark and its socket would not take it; it holds the senders whose lines it was
    // given since, until it drains to half the mark or is dropped (at the soft time).
    // (isCongested is declared with the other fields, above.)
    /// Connections' serial of the sender when this receiver was last pressed
    /// (Connections.pressed; read only past the soft mark).
    var pressSerial: Int32 {
        get { cold?.pressSerial ?? -1 }
        set { if cold != nil || newValue != -1 { warm.pressSerial = newValue } }
    }
    /// As a sender: how many congested receivers hold it. Not read from while above zero.
    var heldBy: Int32 {
        get { cold?.heldBy ?? 0 }
        set { if cold != nil || newValue != 0 { warm.heldBy = newValue } }
    }
    /// The senders it holds (a sender may appear more than once: each entry is one count in
    /// its `heldBy`).
    var holding: [Connection] {
        get { cold?.holding ?? [] }
        _modify { yield &warm.holding }
    }
    /// Lines queued to it while congested that no sender can be paused for (from the cluster,
    /// a server broadcast, a timer).
    var unheldLines: Int {
        get { cold?.unheldLines ?? 0 }
        set { if cold != nil || newValue != 0 { warm.unheldLines = newValue } }
    }
    /// Fires at the end of each soft period: drops it unless it took a soft mark's worth.
    var softTimer: EventLoop.TimerID? {
        get { cold?.softTimer }
        set { if cold != nil || newValue != nil { warm.softTimer = newValue } }
    }
    /// Bytes its peer had acknowledged when this soft period began (-1: unknown).
    var ackedAtPeriodStart: Int64 {
        get { cold?.ackedAtPeriodStart ?? -1 }
        set { if cold != nil || newValue != -1 { warm.ackedAtPeriodStart = newValue } }
    }
    /// Progress of its peer, sampled while its socket is full (Connections.sampleProgress):
    /// bytes acknowledged at the last checkpoint (-1: none yet), when the acknowledged bytes last
    /// passed a checkpoint by a soft mark's worth (monotonic milliseconds; .min: never), and
    /// when the last sample was taken.
    var checkpointAcked: Int64 {
        get { cold?.checkpointAcked ?? -1 }
        set { if cold != nil || newValue != -1 { warm.checkpointAcked = newValue } }
    }
    var progressAt: Int64 {
        get { cold?.progressAt ?? .min }
        set { if cold != nil || newValue != .min { warm.progressAt = newValue } }
    }
    var lastSampleAt: Int64 {
        get { cold?.lastSampleAt ?? 0 }
        set { if cold != nil || newValue != 0 { warm.lastSampleAt = newValue } }
    }
    /// Congested with no progress on record: whether it holds its senders anyway, on trust
    /// (Connections.probe).
    var onProbation: Bool {
        get { cold?.onProbation ?? false }
        set { if cold != nil || newValue { warm.onProbation = newValue } }
    }

    /// What only a connection that is throttled, congested, holding input, draining, closing or
    /// on TLS needs, allocated the first time one of these is set (issue 19: memory per idle
    /// connection): the properties above read their defaults while it is nil, and Connections
    /// uses them as before.
    final class Cold {
        var bucket: TokenBucket?
        var pendingInput: [UInt8] = []
        var drainDeadline: EventLoop.TimerID?
        var resumeTimer: EventLoop.TimerID?
        var holding: [Connection] = []
        var unheldLines = 0
        var softTimer: EventLoop.TimerID?
        var ackedAtPeriodStart: Int64 = -1
        var checkpointAcked: Int64 = -1
        var progressAt: Int64 = .min
        var lastSampleAt: Int64 = 0
        var onProbation = false
        // Unchecked exclusivity: heldBy is read for every line (isHeld), pressSerial for every
        // delivery past the soft mark; loop thread only, never reentrant.
        @exclusivity(unchecked) var pressSerial: Int32 = -1
        @exclusivity(unchecked) var heldBy: Int32 = 0
        var tls: TLSSession?
        /// Why it is closing (doomed or draining).
        var closeReason = "closed"
    }
    private var warm: Cold {
        if let cold { return cold }
        let made = Cold()
        cold = made
        return made
    }
    var isHeld: Bool { heldBy > 0 && !ignoresHolds }
    private var softQueueBytes: Int { senderClock[1] }
    private var maxQueueBytes: Int { senderClock[2] }
    /// Its Connections (which holds it), unretained.
    private var connections: Unmanaged<Connections> {
        Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: senderClock[3]).unsafelyUnwrapped)
    }

    /// A connection whose session speaks the protocol of `slot` (`shared`, its encoder in the
    /// core) until its first line tells otherwise (ChatServer.decideProtocol).
    init(fd: Int32, address: String, host: String, connections: Connections, shared: SharedEncoder, slot: Int,
         maxLineBytes: Int, softQueueBytes: Int, maxQueueBytes: Int, now: Int64) {
        self.fd = fd
        peerWord = Connection.peerWord(of: address)
        assert(host == Connection.host(of: address), "the host is the address without its port")
        senderClock = connections.senderClock
        assert(senderClock[1] == softQueueBytes && senderClock[2] == maxQueueBytes)
        lastInputAt = Connections.tenths(now)
        framer = LineFramer(maxLineBytes: maxLineBytes)
        super.init(shared: shared, slot: slot)
    }

    deinit {
        output.discard()
        if peerWord >> 63 == 0 { Unmanaged<PeerText>.fromOpaque(UnsafeRawPointer(bitPattern: peerWord).unsafelyUnwrapped).release() }
    }

    /// Open: read, handle lines, write.
    var isOpen: Bool { bits & Bit.life == 0 }
    /// Open or draining: what is queued for it will still be written.
    var isWritable: Bool { bits & Bit.notWritable == 0 }
    var isDraining: Bool { life == .draining }
    var isClosed: Bool { life == .closed }

    /// Its session waits for an answer of the cluster, and it has not ended its input (a
    /// closed connection's session was detached: it waits for nothing).
    var mustWait: Bool { isWaitingForCluster && !inputEnded }

    // Only Connections changes the life, through these.
    func markDoomed(_ reason: String) {
        warm.closeReason = reason
        life = .doomed
    }
    func markDraining(_ reason: String) {
        warm.closeReason = reason
        life = .draining
    }
    func markClosed() { life = .closed }

    /// Why it is closing: the doom or drain reason.
    var closeReason: String {
        switch life {
        case .doomed, .draining: return cold?.closeReason ?? "closed"
        case .open, .closed: return "closed"
        }
    }

    // MARK: The session's transport (ChatSession's open methods)

    /// A fan-out calls this once per member: keep it short. The queue is the connection's own,
    /// so no retain per line; past the soft mark, Connections decides (flush now, hold the
    /// sender, or doom past the hard cap). One compare, as before there were two limits.
    @inline(__always)
    override func enqueue(_ buffer: SharedBuffer) {
        guard bits & Bit.notWritable == 0 else { return }  // open or draining
        let queued = output.append(buffer)
        // Past the soft mark, Connections decides, once per sender's read (pressSerial): the
        // rest of a burst costs a compare here. Past the hard cap it always decides.
        if queued > softQueueBytes && (Int(pressSerial) != senderClock.pointee || queued > maxQueueBytes) {
            connections._withUnsafeGuaranteedRef { $0.pressed(self) }
        } else if !isDirty {
            connections._withUnsafeGuaranteedRef { $0.markDirty(self) }
        }
    }

    override func finish(reason: String) {
        connections._withUnsafeGuaranteedRef { $0.startDraining(self, reason: reason) }
    }

    override var label: String { address }

    override func resumeInput() {
        connections._withUnsafeGuaranteedRef { $0.inputMayResume(self) }
    }
}
