// What a run measured, and its two renderings: a table for people, JSON for scripts/bench.

struct BenchResult {
    let plan: LoadPlan
    var connected = 0
    var failedConnects = 0
    var firstConnectError: String?
    /// Reading clients the server was shown to know (they received a probe, or sent it).
    var registered = 0
    /// Reading clients whose connection the server closed during the run.
    var closedByServer = 0
    var messagesSent = 0
    var expectedPerMessage = 0
    var completedMessages = 0
    /// Deliveries of a message to a client other than its sender.
    var delivered = 0
    var duplicates = 0
    /// Messages a server sent back to their own sender (not counted as deliveries).
    var echoes = 0
    var lost = 0
    /// --max-seconds ended the run before every line arrived.
    var cutShort = false
    /// Threads that read while the lines flowed (--threads).
    var readerThreads = 1
    /// From the first send to the last delivery.
    var seconds = 0.0
    var latenciesMicroseconds: [UInt32] = []
    var rssBeforeKiB: Int?
    var rssConnectedKiB: Int?
    var rssPeakKiB: Int?
    var rssAfterKiB: Int?
    var slowReadersDropped: Int?
    /// CPU time the server used during the message phase (all its threads; needs --server-pid;
    /// with several pids, their sum).
    var serverCPUSeconds: Double?

    /// Server CPU time per delivery in nanoseconds: what a delivery costs the server, which a
    /// busy machine disturbs much less than deliveries/s.
    var serverNanosecondsPerDelivery: Double? {
        guard let cpu = serverCPUSeconds, delivered > 0 else { return nil }
        return cpu * 1e9 / Double(delivered)
    }

    var deliveriesPerSecond: Double { seconds > 0 ? Double(delivered) / seconds : 0 }
    var expectedDeliveries: Int { plan.totalMessages * max(expectedPerMessage, 0) }

    /// Server memory per connection held, in bytes: (connected − before) / connections.
    var rssPerConnectionBytes: Double? {
        guard let before = rssBeforeKiB, let after = rssConnectedKiB, connected > 0 else { return nil }
        return Double(after - before) * 1024 / Double(connected)
    }

    struct Percentiles {
        var p50 = 0.0, p90 = 0.0, p99 = 0.0, max = 0.0
    }

    /// Latency percentiles in milliseconds (nearest rank).
    func latency() -> Percentiles? {
        guard !latenciesMicroseconds.isEmpty else { return nil }
        let sorted = latenciesMicroseconds.sorted()
        func rank(_ p: Double) -> Double {
            let index = min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))
            return Double(sorted[index]) / 1000
        }
        return Percentiles(p50: rank(0.50), p90: rank(0.90), p99: rank(0.99), max: Double(sorted.last!) / 1000)
    }

    // MARK: Renderings

    func table() -> String {
        var rows: [(String, String)] = []
        let p = plan
        let processes = p.serverPIDs.count > 1 ? " (\(p.serverPIDs.count) processes together)" : ""
        rows.append(("server", p.ports.map { "\(p.host):\($0)" }.joined(separator: ", ")))
        rows.append(("connections", "\(connected) of \(p.totalConnections) connected, \(registered) of \(p.clients) readers registered"
            + (failedConnects > 0 ? ", \(failedConnects) failed (\(firstConnectError ?? "?"))" : "")))
        if p.totalMessages > 0 {
            let pace = p.rate > 0 ? "\(format(p.rate)) msg/s" : "flat out" + (p.window > 0 ? " (window \(p.window))" : "")
            rows.append(("load", "\(p.senders) senders × \(p.messagesPerSender) × \(p.messageBytes) B, \(pace)"))
            rows.append(("delivered", "\(delivered) of \(expectedDeliveries) in \(format(seconds, digits: 3)) s" + (cutShort ? " (cut short by --max-seconds)" : "")))
            rows.append(("deliveries/s", format(deliveriesPerSecond)))
            if let cpu = serverCPUSeconds, let each = serverNanosecondsPerDelivery {
                rows.append(("server CPU", "\(format(cpu, digits: 3)) s, \(format(each)) ns per delivery" + processes))
            }
            rows.append(("lost", "\(lost)" + (duplicates > 0 ? " (\(duplicates) duplicates)" : "") + (echoes > 0 ? " (\(echoes) echoes to senders ignored)" : "")))
            if let l = latency() {
                rows.append(("latency ms", "p50 \(format(l.p50, digits: 3))  p90 \(format(l.p90, digits: 3))  p99 \(format(l.p99, digits: 3))  max \(format(l.max, digits: 3))"))
            }
        }
        if closedByServer > 0 { rows.append(("closed by server", "\(closedByServer) reading clients")) }
        if let dropped = slowReadersDropped { rows.append(("slow readers", "\(dropped) of \(p.slowReaders) dropped by the server")) }
        if let before = rssBeforeKiB {
            var memory = "before \(before) KiB"
            if let v = rssConnectedKiB { memory += ", connected \(v) KiB" }
            if let v = rssPeakKiB { memory += ", peak \(v) KiB" }
            if let v = rssAfterKiB { memory += ", after \(v) KiB" }
            rows.append(("server RSS", memory + processes))
            if let perConnection = rssPerConnectionBytes { rows.append(("RSS/connection", "\(format(perConnection)) B")) }
        }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }.joined(separator: "\n")
    }

    func json() -> String {
        var fields: [(String, String)] = []
        func add(_ key: String, _ value: Int?) { fields.append((key, value.map(String.init) ?? "null")) }
        func add(_ key: String, _ value: Double?) { fields.append((key, value.map { format($0, digits: 3, grouping: false) } ?? "null")) }
        add("servers", plan.ports.count)
        add("clients", plan.clients)
        add("slowReaders", plan.slowReaders)
        add("senders", plan.senders)
        add("messagesPerSender", plan.messagesPerSender)
        add("messageBytes", plan.messageBytes)
        add("rate", plan.rate)
        add("connected", connected)
        add("failedConnects", failedConnects)
        add("registered", registered)
        add("closedByServer", closedByServer)
        add("messagesSent", messagesSent)
        add("expectedDeliveries", expectedDeliveries)
        add("delivered", delivered)
        add("lost", lost)
        fields.append(("cutShort", cutShort ? "true" : "false"))
        fields.append(("readerThreads", "\(readerThreads)"))
        add("duplicates", duplicates)
        add("echoes", echoes)
        add("seconds", seconds)
        add("deliveriesPerSecond", deliveriesPerSecond)
        let l = latency()
        add("latencyP50Ms", l?.p50)
        add("latencyP90Ms", l?.p90)
        add("latencyP99Ms", l?.p99)
        add("latencyMaxMs", l?.max)
        add("rssBeforeKiB", rssBeforeKiB)
        add("rssConnectedKiB", rssConnectedKiB)
        add("rssPeakKiB", rssPeakKiB)
        add("rssAfterKiB", rssAfterKiB)
        add("rssPerConnectionBytes", rssPerConnectionBytes)
        add("slowReadersDropped", slowReadersDropped)
        add("serverCPUSeconds", serverCPUSeconds)
        add("serverNanosecondsPerDelivery", serverNanosecondsPerDelivery)
        return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
    }
}

/// A number for people (`1 234 567`, `12.5`) or for JSON (no grouping).
func format(_ value: Double, digits: Int = 0, grouping: Bool = true) -> String {
    guard value.isFinite else { return "0" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    let whole = Int(scaled / scale)
    var text = String(whole)
    if grouping && digits == 0 {
        var grouped = ""
        for (offset, character) in text.reversed().enumerated() {
            if offset > 0 && offset % 3 == 0 { grouped.append(" ") }
            grouped.append(character)
        }
        text = String(grouped.reversed())
    }
    if digits > 0 {
        let fraction = Int(scaled) - whole * Int(scale)
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
    }
    return (value < 0 ? "-" : "") + text
}
