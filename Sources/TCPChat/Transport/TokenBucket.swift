// Flood control: a token bucket per client. A line costs one token; tokens come back at a
// steady rate up to a burst. When the bucket is empty the server stops reading that socket
// until a token is back, so a flooder is slowed by TCP backpressure and no line is dropped.

struct TokenBucket {
    let perMillisecond: Double
    let burst: Double
    private var tokens: Double
    private var lastRefill: Int64

    init(linesPerSecond: Double, burst: Int, now: Int64) {
        perMillisecond = linesPerSecond / 1000
        self.burst = Double(max(burst, 1))
        tokens = self.burst
        lastRefill = now
    }

    mutating func refill(now: Int64) {
        guard now > lastRefill else { return }
        tokens = min(burst, tokens + Double(now - lastRefill) * perMillisecond)
        lastRefill = now
    }

    /// True when a line may be handled now.
    var hasToken: Bool { tokens >= 1 }

    /// Spends one token; returns whether another line may follow right away.
    mutating func spend() -> Bool {
        tokens -= 1
        return tokens >= 1
    }

    /// How long until `hasToken` becomes true, in milliseconds (at least 1).
    var millisecondsUntilToken: Int64 {
        tokens >= 1 ? 0 : max(1, Int64(min(((1 - tokens) / perMillisecond).rounded(.up), 86_400_000)))
    }
}
