// The few facts about processes the bench needs: the time, another process's memory and CPU
// time, and its own descriptor limit.
#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds on CLOCK_MONOTONIC, which every process on the machine shares: a receiver can
/// subtract a sender's timestamp even when they are different programs.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

enum ProcessMemory {
    /// The resident set size of process `pid` in KiB (VmRSS in /proc/PID/status), or nil.
    static func residentKiB(of pid: Int32) -> Int? { statusKiB("VmRSS:", of: pid) }

    /// A KiB field of /proc/PID/status (`VmRSS:`, `VmHWM:`), or nil.
    private static func statusKiB(_ field: String, of pid: Int32) -> Int? {
        guard let text = readSmallFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field) {
            return Int(line.dropFirst(field.count).filter { $0.isNumber })
        }
        return nil
    }

    /// The sum over several processes (the servers of a cluster), or nil when any does not
    /// answer (or there are none): a partial sum would pass for a fall in memory.
    static func residentKiB(of pids: [Int32]) -> Int? {
        sum(pids, residentKiB(of:))
    }

    /// The kernel's high-water mark of the resident set of `pid` in KiB (VmHWM), or nil: the
    /// true peak, however short it was, where samples can miss it.
    static func peakResidentKiB(of pid: Int32) -> Int? { statusKiB("VmHWM:", of: pid) }

    /// The sum of the processes' peaks (for a cluster: an upper bound of the peak of the sum).
    static func peakResidentKiB(of pids: [Int32]) -> Int? {
        sum(pids, peakResidentKiB(of:))
    }

    /// Resets the high-water mark of each process to its current resident set (writes 5 to
    /// /proc/PID/clear_refs; the kernel allows it to the process's owner). False when any
    /// refused: the caller then keeps to its samples.
    static func resetPeak(of pids: [Int32]) -> Bool {
        guard !pids.isEmpty else { return false }
        for pid in pids {
            let fd = open("/proc/\(pid)/clear_refs", O_WRONLY)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            guard write(fd, "5", 1) == 1 else { return false }
        }
        return true
    }
}

enum ProcessCPU {
    /// CPU time process `pid` has run, all threads together, in nanoseconds: the first field
    /// of /proc/PID/task/TID/schedstat for each thread. Unlike wall-clock throughput, this
    /// barely moves when other programs share the CPU. Nil when /proc does not say.
    static func nanoseconds(of pid: Int32) -> UInt64? {
        guard let directory = opendir("/proc/\(pid)/task") else { return nil }
        defer { closedir(directory) }
        var total: UInt64 = 0
        var found = false
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let first = name.first, first.isNumber, let text = readSmallFile("/proc/\(pid)/task/\(name)/schedstat"),
                  let field = text.split(separator: " ").first, let value = UInt64(field) else { continue }
            total += value
            found = true
        }
        return found ? total : nil
    }

    /// The sum over several processes, or nil when any does not answer (or there are none).
    static func nanoseconds(of pids: [Int32]) -> UInt64? {
        sum(pids, nanoseconds(of:))
    }
}

/// `measure` of every process, added up; nil if there are none or any measure is nil.
private func sum<Value: AdditiveArithmetic>(_ pids: [Int32], _ measure: (Int32) -> Value?) -> Value? {
    guard !pids.isEmpty else { return nil }
    var total = Value.zero
    for pid in pids {
        guard let value = measure(pid) else { return nil }
        total += value
    }
    return total
}

/// The start of a small /proc file, or nil.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 8192)
    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    return String(decoding: buffer[..<count], as: UTF8.self)
}

enum DescriptorLimit {
    /// Raises the soft RLIMIT_NOFILE to the hard limit (a process may always do that) and
    /// returns the new soft limit.
    @discardableResult
    static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(clamping: limit.rlim_cur)
    }
}
