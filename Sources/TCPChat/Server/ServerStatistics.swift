// Counters a host (or a test) can read from any thread while the server runs.
import Synchronization

/// A snapshot of what the server has done so far.
public struct ServerStatistics: Sendable, Equatable {
    /// Clients connected now.
    public var connections: Int
    /// Connections accepted since the start.
    public var accepted: Int
    /// Connections refused (server full, per-address cap, out of descriptors, shutting down).
    public var refused: Int
    /// Clients disconnected because their output queue passed the cap (they stopped reading).
    public var slowReadersDropped: Int
    /// Times a client's reads were paused by flood control.
    public var throttled: Int
    /// Times a sender's reads were paused because a client it sent to was above the soft mark
    /// (`ChatServerConfiguration.softQueueBytes`) and not draining: backpressure.
    public var sendersHeld: Int = 0
}

final class StatisticsCounters: Sendable {
    let connections = Atomic<Int>(0)
    let accepted = Atomic<Int>(0)
    let refused = Atomic<Int>(0)
    let slowReadersDropped = Atomic<Int>(0)
    let throttled = Atomic<Int>(0)
    let sendersHeld = Atomic<Int>(0)

    var snapshot: ServerStatistics {
        ServerStatistics(connections: connections.load(ordering: .relaxed),
                         accepted: accepted.load(ordering: .relaxed),
                         refused: refused.load(ordering: .relaxed),
                         slowReadersDropped: slowReadersDropped.load(ordering: .relaxed),
                         throttled: throttled.load(ordering: .relaxed),
                         sendersHeld: sendersHeld.load(ordering: .relaxed))
    }
}
