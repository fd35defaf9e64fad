// What the receiving side counts: deliveries per message, latencies, the last arrival.
//
// This is the load generator's hot path (one update per delivery, millions per second), so it
// is a plain struct that LoadGenerator keeps behind a pointer, with raw buffers: a stored
// property of a class is checked for exclusive access at run time on every mutation, which
// cost more than the counting itself and made the bench, not the server, the bottleneck.

struct DeliveryTally {
    /// Deliveries so far of each message (index = sequence × senders + sender).
    private(set) var counts: UnsafeMutablePointer<UInt32>
    let messages: Int
    let expectedPerMessage: Int
    private(set) var completed = 0
    private(set) var delivered = 0
    private(set) var duplicates = 0
    var echoes = 0
    /// One latency in microseconds per delivery, up to `latencyCapacity`.
    private(set) var latencies: UnsafeMutablePointer<UInt32>
    private(set) var latencyCount = 0
    private let latencyCapacity: Int
    private(set) var lastDeliveryTime: UInt64 = 0

    init(messages: Int, expectedPerMessage: Int) {
        self.messages = messages
        self.expectedPerMessage = expectedPerMessage
        counts = .allocate(capacity: max(messages, 1))
        counts.initialize(repeating: 0, count: max(messages, 1))
        latencyCapacity = max(1, min(messages * max(expectedPerMessage, 0), 256 << 20))
        latencies = .allocate(capacity: latencyCapacity)
    }

    /// Frees the buffers; the tally is not used afterwards.
    func free() {
        counts.deallocate()
        latencies.deallocate()
    }

    @inline(__always)
    mutating func record(message id: Int, latencyNanoseconds: UInt64, at now: UInt64) {
        delivered += 1
        lastDeliveryTime = now
        if latencyCount < latencyCapacity {
            latencies[latencyCount] = UInt32(clamping: latencyNanoseconds / 1000)
            latencyCount += 1
        }
        counts[id] &+= 1
        let count = Int(counts[id])
        if count == expectedPerMessage { completed += 1 }
        if count > expectedPerMessage { duplicates += 1 }
    }

    /// Deliveries that never happened: for every message, the receivers it did not reach.
    var lost: Int {
        var lost = 0
        for id in 0..<messages where Int(counts[id]) < expectedPerMessage { lost += expectedPerMessage - Int(counts[id]) }
        return lost
    }

    var latencyArray: [UInt32] { Array(UnsafeBufferPointer(start: latencies, count: latencyCount)) }

    /// The tallies of several reader threads (each over its own receivers) as one: counts per
    /// message added up against the expected deliveries of all of them together.
    static func merged(_ tallies: [DeliveryTally]) -> (expectedPerMessage: Int, delivered: Int, duplicates: Int, completed: Int, lost: Int, lastDeliveryTime: UInt64) {
        guard let first = tallies.first else { return (0, 0, 0, 0, 0, 0) }
        if tallies.count == 1 {
            return (first.expectedPerMessage, first.delivered, first.duplicates, first.completed, first.lost, first.lastDeliveryTime)
        }
        let expected = tallies.reduce(0) { $0 + max($1.expectedPerMessage, 0) }
        var completed = 0, lost = 0, duplicates = 0
        for id in 0..<first.messages {
            var count = 0
            for tally in tallies { count += Int(tally.counts[id]) }
            if count >= expected { completed += 1 } else { lost += expected - count }
            if count > expected { duplicates += count - expected }
        }
        return (expected, tallies.reduce(0) { $0 + $1.delivered }, duplicates, completed, lost,
                tallies.map(\.lastDeliveryTime).max() ?? 0)
    }
}
