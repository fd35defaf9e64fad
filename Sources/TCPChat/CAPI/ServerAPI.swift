// tcpchat_server_*: the C face of ChatServer. A `tcpchat_server *` is a retained ChatServer
// (Unmanaged.passRetained on create, release on destroy); every function here only checks its
// arguments, converts them, and maps the result to a code. See Include/tcpchat.h for the contract.
#if canImport(Glibc)
import Glibc
#endif
import CTCPChat

/// The C callbacks and their user_data, carried into the loop thread's closures. The host
/// promises (tcpchat.h) that user_data stays valid while callbacks can run.
private struct HostCallbacks: @unchecked Sendable {
    let log: (@convention(c) (Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void)?
    let logLevel: Int32
    let onMessage: (@convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void)?
    let userData: UnsafeMutableRawPointer?
}

private func server(_ handle: OpaquePointer) -> ChatServer {
    Unmanaged<ChatServer>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// Where each field of tcpchat_server_config after struct_size starts: a program built before
/// a field was added has a struct_size equal to that field's offset (SizedStruct.read).
private let serverConfigFieldOffsets: [Int] = {
    typealias C = tcpchat_server_config
    let fields: [PartialKeyPath<C>] = [
        \C.host, \C.port, \C.max_clients, \C.max_line, \C.max_queue, \C.history, \C.announce_limit,
        \C.lines_per_second, \C.burst_lines, \C.max_per_address, \C.first_line_timeout_s,
        \C.idle_timeout_s, \C.fallback_encoding, \C.shutdown_grace_ms, \C.log, \C.log_level,
        \C.on_message, \C.user_data, \C.cluster, \C.cluster_ttl_s, \C.cluster_queue,
        \C.soft_queue, \C.soft_queue_ms,
    ]
    return fields.map { MemoryLayout<C>.offset(of: $0)! }
}()

/// Every field's default, as tcpchat_server_config_init() documents them.
private func defaultServerConfig() -> tcpchat_server_config {
    let defaults = ChatServerConfiguration()
    return tcpchat_server_config(
        struct_size: MemoryLayout<tcpchat_server_config>.size,
        host: nil,
        port: Int32(defaults.port),
        max_clients: Int32(defaults.maxClients),
        max_line: Int32(defaults.maxLineBytes),
        max_queue: Int32(defaults.maxQueueBytes),
        history: Int32(defaults.historyLength),
        announce_limit: Int32(defaults.announceLimit),
        lines_per_second: defaults.linesPerSecond,
        burst_lines: Int32(defaults.burstLines),
        max_per_address: Int32(defaults.maxConnectionsPerAddress),
        first_line_timeout_s: Int32(defaults.firstLineTimeoutSeconds),
        idle_timeout_s: Int32(defaults.idleTimeoutSeconds),
        fallback_encoding: nil,
        shutdown_grace_ms: Int32(defaults.shutdownGraceMilliseconds),
        log: nil,
        log_level: TCPCHAT_LOG_INFO,
        on_message: nil,
        user_data: nil,
        cluster: nil,
        cluster_ttl_s: Int32(ClusterConfiguration.defaultTTLSeconds),
        cluster_queue: Int32(ClusterConfiguration.defaultMaxQueueBytes),
        soft_queue: Int32(defaults.softQueueBytes),
        soft_queue_ms: Int32((defaults.softQueueSeconds * 1000).rounded()))
}

@c @implementation public func tcpchat_server_config_init_sized(
    _ config: UnsafeMutablePointer<tcpchat_server_config>!, _ size: Int
) {
    guard let config else { return }
    SizedStruct.initialize(UnsafeMutableRawPointer(config), size: size, defaults: defaultServerConfig())
}

/// Tells the host's log callback (if any, and if its level lets errors through) why
/// tcpchat_server_create() is about to fail: the code alone cannot say which field was wrong.
private func reportCreateFailure(_ callbacks: HostCallbacks, _ reason: String) {
    guard let log = callbacks.log, TCPCHAT_LOG_ERROR <= callbacks.logLevel else { return }
    "tcpchat_server_create: \(reason)".withCString { log(TCPCHAT_LOG_ERROR, $0, callbacks.userData) }
}

@c @implementation public func tcpchat_server_create(
    _ config: UnsafePointer<tcpchat_server_config>!, _ out: UnsafeMutablePointer<OpaquePointer?>!
) -> Int32 {
    guard let config, let out else { return TCPCHAT_EINVAL }
    let c: tcpchat_server_config
    do {
        c = try SizedStruct.read(UnsafeRawPointer(config), defaults: defaultServerConfig(), fieldOffsets: serverConfigFieldOffsets)
    } catch {
        // A struct too small to hold 1.0.0's fields has no log field to trust: only the
        // unknown-field case can report (its log field is within the bytes read).
        if case .unknownField = error {
            let known = try? SizedStruct.read(
                UnsafeRawPointer(config), defaults: defaultServerConfig(), fieldOffsets: serverConfigFieldOffsets,
                ignoringUnknownFields: true)
            if let known {
                reportCreateFailure(
                    HostCallbacks(log: known.log, logLevel: known.log_level, onMessage: nil, userData: known.user_data),
                    error.describe("tcpchat_server_config", knownSize: MemoryLayout<tcpchat_server_config>.size))
            }
        }
        return TCPCHAT_EINVAL
    }
    let callbacks = HostCallbacks(log: c.log, logLevel: c.log_level, onMessage: c.on_message, userData: c.user_data)
    var settings = ChatServerConfiguration()
    settings.host = c.host.map { String(cString: $0) }
    settings.port = Int(c.port)
    settings.maxClients = Int(c.max_clients)
    settings.maxLineBytes = Int(c.max_line)
    settings.maxQueueBytes = Int(c.max_queue)
    settings.historyLength = Int(c.history)
    settings.announceLimit = Int(c.announce_limit)
    settings.linesPerSecond = c.lines_per_second
    settings.burstLines = Int(c.burst_lines)
    settings.maxConnectionsPerAddress = Int(c.max_per_address)
    settings.firstLineTimeoutSeconds = Int(c.first_line_timeout_s)
    settings.idleTimeoutSeconds = Int(c.idle_timeout_s)
    settings.shutdownGraceMilliseconds = Int(c.shutdown_grace_ms)
    if c.soft_queue != 0 { settings.softQueueBytes = Int(c.soft_queue) }   // 0: the default
    if c.soft_queue_ms != 0 { settings.softQueueSeconds = Double(c.soft_queue_ms) / 1000 }
    if let name = c.fallback_encoding {
        let text = String(cString: name)
        guard let encoding = FallbackEncoding(rawValue: text) else {
            reportCreateFailure(callbacks, "invalid configuration: fallback_encoding \"\(text)\" is neither \"none\" nor \"gbk\"")
            return TCPCHAT_EINVAL
        }
        settings.fallbackEncoding = encoding
    }
    if let url = c.cluster {
        let endpoint: RedisEndpoint
        do { endpoint = try RedisEndpoint(url: String(cString: url)) } catch {
            reportCreateFailure(callbacks, "\(error)")
            return TCPCHAT_EINVAL
        }
        var cluster = ClusterConfiguration(redis: endpoint)
        cluster.ttlSeconds = Int(c.cluster_ttl_s)
        cluster.maxQueueBytes = Int(c.cluster_queue)
        settings.cluster = cluster
    }
    if callbacks.log != nil {
        settings.log = { level, message in
            guard Int32(level.rawValue) <= callbacks.logLevel, let log = callbacks.log else { return }
            message.withCString { log(Int32(level.rawValue), $0, callbacks.userData) }
        }
    }
    if callbacks.onMessage != nil {
        settings.onMessage = { message in
            guard let onMessage = callbacks.onMessage else { return }
            message.room.withCString { room in
                message.nick.withCString { nick in
                    message.text.withCString { text in onMessage(room, nick, text, callbacks.userData) }
                }
            }
        }
    }
    do {
        let created = try ChatServer(configuration: settings)
        out.pointee = OpaquePointer(Unmanaged.passRetained(created).toOpaque())
        return TCPCHAT_OK
    } catch {
        reportCreateFailure(callbacks, "\(error)")
        return ResultCode.of(error)
    }
}

@c @implementation public func tcpchat_server_bind(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    do { try server(handle).bind() } catch { return ResultCode.of(error) }
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_start(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    do { try server(handle).start() } catch { return ResultCode.of(error) }
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_run(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    do { try server(handle).run() } catch { return ResultCode.of(error) }
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_port(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    let port = server(handle).port
    return port < 0 ? TCPCHAT_ESTATE : Int32(port)
}

@c @implementation public func tcpchat_server_broadcast(
    _ handle: OpaquePointer!, _ room: UnsafePointer<CChar>!, _ text: UnsafePointer<CChar>!
) -> Int32 {
    guard let handle, let text else { return TCPCHAT_EINVAL }
    server(handle).broadcast(room: room.map { String(cString: $0) }, text: String(cString: text))
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_stop(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    server(handle).stop()
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_wait(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    server(handle).wait()
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_destroy(_ handle: OpaquePointer!) {
    guard let handle else { return }
    let unmanaged = Unmanaged<ChatServer>.fromOpaque(UnsafeRawPointer(handle))
    let chatServer = unmanaged.takeUnretainedValue()
    chatServer.stop()
    chatServer.wait()
    unmanaged.release()
}

// MARK: Host-driven serving

@c @implementation public func tcpchat_server_fd(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    return server(handle).loopDescriptor
}

@c @implementation public func tcpchat_server_timeout(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return -1 }
    return server(handle).hostTimeoutMilliseconds
}

@c @implementation public func tcpchat_server_poll(_ handle: OpaquePointer!, _ timeoutMilliseconds: Int32) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    do {
        return try server(handle).serveOnce(timeoutMilliseconds: timeoutMilliseconds) ? TCPCHAT_OK : TCPCHAT_ECLOSED
    } catch {
        return ResultCode.of(error)
    }
}
