// Connection ids (1, 2, 3 ... in the order accepted, never reused: Include/tcpchat.h) to the
// descriptors of the open connections, for the host's calls by id (HostControl). Issue 19,
// memory per idle connection: a dictionary of id to session cost ~26 bytes per connection;
// this costs ~4-8.
//
// Ids are handed out in increasing order, so the open connections' ids lie in a window
// [first, next id) with holes where connections closed: an array of descriptors, 4 bytes an
// id (-1: closed), trimmed from the front as its oldest close. One long-lived connection would
// hold the window open behind it for ever: when a window of more than 64 ids is more than
// three quarters holes, its open ids move to a dictionary (the few old ones) and the window
// starts afresh. Loop thread only.
struct ConnectionIDs {
    /// The id of window[start].
    private var first: UInt64 = 1
    private var window: [Int32] = []
    private var start = 0
    /// Open ids in the window.
    private var live = 0
    /// Open ids that were moved out of earlier windows.
    private var old: [UInt64: Int32] = [:]

    /// Connection `id` (larger than any added before) has descriptor `fd`.
    mutating func add(_ id: UInt64, fd: Int32) {
        if start == window.count {
            window.removeAll(keepingCapacity: true)
            start = 0
            first = id
        }
        precondition(id >= first + UInt64(window.count - start), "connection ids are added in increasing order")
        while first + UInt64(window.count - start) < id { window.append(-1) }
        window.append(fd)
        live += 1
    }

    /// Connection `id` closed.
    mutating func remove(_ id: UInt64) {
        guard id >= first, id - first < UInt64(window.count - start) else {
            old.removeValue(forKey: id)
            return
        }
        let index = start + Int(id - first)
        guard window[index] >= 0 else { return }
        window[index] = -1
        live -= 1
        while start < window.count && window[start] < 0 {
            start += 1
            first += 1
        }
        let span = window.count - start
        if span > 64 && live * 4 < span {
            // Mostly holes: the survivors move out, and the window starts afresh at the next id.
            for index in start..<window.count where window[index] >= 0 {
                old[first + UInt64(index - start), default: window[index]] = window[index]
            }
            first += UInt64(span)
            window = []
            start = 0
            live = 0
        } else if start >= 64 && start * 2 >= window.count {
            window.removeFirst(start)
            start = 0
        }
    }

    /// The descriptor of open connection `id`, or nil.
    func fd(of id: UInt64) -> Int32? {
        if id >= first, id - first < UInt64(window.count - start) {
            let fd = window[start + Int(id - first)]
            return fd >= 0 ? fd : nil
        }
        return old[id]
    }

    /// Open connections (for tests).
    var count: Int { live + old.count }
}
