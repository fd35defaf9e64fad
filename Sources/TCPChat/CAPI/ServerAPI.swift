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
    var onEvent: (@convention(c) (UnsafePointer<tcpchat_event>?, UnsafeMutableRawPointer?) -> Void)? = nil
    var filter: (@convention(c) (UnsafePointer<tcpchat_event>?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32)? = nil
    var filterConnection: (@convention(c) (UnsafePointer<CChar>?, UnsafeMutablePointer<CChar>?, Int, UnsafeMutableRawPointer?) -> Int32)? = nil
}

/// Calls `body` with `event` as a C tcpchat_event whose strings live during the call: one
/// buffer holds them all, NUL-terminated.
private func withCEvent<R>(_ event: HostEvent, _ body: (UnsafePointer<tcpchat_event>) -> R) -> R {
    let fields: [String?] = [event.address, event.nick, event.room, event.text, event.target, event.reason]
    var bytes: [CChar] = []
    var offsets: [Int?] = []
    for field in fields {
        guard let field else { offsets.append(nil); continue }
        offsets.append(bytes.count)
        bytes.append(contentsOf: field.utf8.map { CChar(bitPattern: $0) })
        bytes.append(0)
    }
    return bytes.withUnsafeBufferPointer { buffer in
        func at(_ index: Int) -> UnsafePointer<CChar>? { offsets[index].map { buffer.baseAddress! + $0 } }
        var c = tcpchat_event(
            struct_size: MemoryLayout<tcpchat_event>.size, kind: event.kind.rawValue, reserved_1_1: 0, id: event.id,
            address: at(0), nick: at(1), room: at(2), text: at(3), target: at(4), reason: at(5))
        return withUnsafePointer(to: &c) { body($0) }
    }
}

/// A buffer the host's filter writes into; read back as the text it wrote (cut at size - 1).
private final class FilterBuffer: @unchecked Sendable {
    let size: Int
    let bytes: UnsafeMutablePointer<CChar>

    init(size: Int) {
        self.size = size
        bytes = .allocate(capacity: size)
        bytes.initialize(repeating: 0, count: size)
    }

    deinit { bytes.deallocate() }

    func clear() { bytes[0] = 0 }

    var text: String {
        bytes[size - 1] = 0
        return String(cString: bytes)
    }
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
        \C.on_event, \C.filter, \C.filter_connection,
        \C.soft_queue, \C.soft_queue_ms,
        \C.irc_detection_ms, \C.server_name, \C.password,
        \C.tls_cert, \C.tls_key, \C.tls_port, \C.tls_only, \C.tls_handshake_timeout_ms, \C.reserved_tls,
        \C.accounts_path, \C.allow_plaintext_passwords, \C.nick_grace_ms, \C.plaintext_password_networks,
        \C.account_queue, \C.registrations_per_hour, \C.account_addresses, \C.scrypt_cost,
        \C.cluster_accounts, \C.reserved_cluster_accounts,
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
        on_event: nil,
        filter: nil,
        filter_connection: nil,
        soft_queue: Int32(defaults.softQueueBytes),
        soft_queue_ms: Int32((defaults.softQueueSeconds * 1000).rounded()),
        irc_detection_ms: 0,
        server_name: nil,
        password: nil,
        tls_cert: nil,
        tls_key: nil,
        tls_port: Int32(defaults.tlsPort),
        tls_only: 0,
        tls_handshake_timeout_ms: Int32(defaults.tlsHandshakeTimeoutMilliseconds),
        reserved_tls: 0,
        accounts_path: nil,
        allow_plaintext_passwords: 0,
        nick_grace_ms: Int32(defaults.nickGraceMilliseconds),
        plaintext_password_networks: nil,
        account_queue: Int32(defaults.accountQueueLimit),
        registrations_per_hour: Int32(defaults.registrationsPerHour),
        account_addresses: Int32(defaults.accountAddressLimit),
        scrypt_cost: Int32(defaults.scryptCost),
        cluster_accounts: 0,
        reserved_cluster_accounts: 0)
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
    let callbacks = HostCallbacks(log: c.log, logLevel: c.log_level, onMessage: c.on_message, userData: c.user_data,
                                  onEvent: c.on_event, filter: c.filter, filterConnection: c.filter_connection)
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
    if c.irc_detection_ms != 0 { settings.ircDetectionMilliseconds = c.irc_detection_ms < 0 ? (c.irc_detection_ms == -1 ? 0 : -1) : Int(c.irc_detection_ms) }
    if let name = c.server_name, name.pointee != 0 { settings.ircServerName = String(cString: name) }
    if let secret = c.password, secret.pointee != 0 { settings.password = String(cString: secret) }
    // TLS: 0 is each field's default (a program built before TLS leaves them zero).
    settings.tlsCertificateFile = c.tls_cert.map { String(cString: $0) }
    settings.tlsKeyFile = c.tls_key.map { String(cString: $0) }
    if c.tls_port == TCPCHAT_TLS_PORT_ANY { settings.tlsPort = 0 } else if c.tls_port != 0 { settings.tlsPort = Int(c.tls_port) }
    settings.plaintextListener = c.tls_only == 0
    if c.tls_handshake_timeout_ms == TCPCHAT_TLS_NO_DEADLINE {
        settings.tlsHandshakeTimeoutMilliseconds = 0
    } else if c.tls_handshake_timeout_ms != 0 {
        settings.tlsHandshakeTimeoutMilliseconds = Int(c.tls_handshake_timeout_ms)
    }
    // Accounts: 0 is each field's default (a program built before accounts leaves them zero).
    settings.accountsPath = c.accounts_path.map { String(cString: $0) }
    settings.allowPlaintextPasswords = c.allow_plaintext_passwords != 0
    if c.nick_grace_ms != 0 { settings.nickGraceMilliseconds = Int(c.nick_grace_ms) }
    if let networks = c.plaintext_password_networks {
        settings.plaintextPasswordNetworks = String(cString: networks).split(separator: ",").map { String($0).filter { $0 != " " } }
    }
    if c.account_queue != 0 { settings.accountQueueLimit = Int(c.account_queue) }
    if c.registrations_per_hour == TCPCHAT_NO_CAP { settings.registrationsPerHour = 0 } else if c.registrations_per_hour != 0 { settings.registrationsPerHour = Int(c.registrations_per_hour) }
    if c.account_addresses != 0 { settings.accountAddressLimit = Int(c.account_addresses) }
    if c.scrypt_cost != 0 { settings.scryptCost = Int(c.scrypt_cost) }
    settings.clusterAccounts = c.cluster_accounts != 0
    guard c.reserved_cluster_accounts == 0 else {
        reportCreateFailure(callbacks, "invalid configuration: reserved_cluster_accounts must be 0")
        return TCPCHAT_EINVAL
    }
    guard c.reserved_tls == 0 else {
        reportCreateFailure(callbacks, "invalid configuration: reserved_tls must be 0")
        return TCPCHAT_EINVAL
    }
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
    if let onEvent = callbacks.onEvent {
        settings.onEvent = { event in withCEvent(event) { onEvent($0, callbacks.userData) } }
    }
    if let filter = callbacks.filter {
        // One buffer per server, used on its loop thread alone.
        let buffer = FilterBuffer(size: max(1024, Int(c.max_line) + 1))
        settings.filter = { event in
            buffer.clear()
            let verdict = withCEvent(event) { filter($0, buffer.bytes, buffer.size, callbacks.userData) }
            switch verdict {
            case TCPCHAT_FILTER_ACCEPT: return .accept
            case TCPCHAT_FILTER_REPLACE: return .replace(TextSanitizer.strip(buffer.text))
            case TCPCHAT_FILTER_DROP: return .drop
            default: return .reject(TextSanitizer.strip(buffer.text))
            }
        }
    }
    if let filterConnection = callbacks.filterConnection {
        let buffer = FilterBuffer(size: 256)
        settings.acceptConnection = { address in
            buffer.clear()
            let verdict = address.withCString { filterConnection($0, buffer.bytes, buffer.size, callbacks.userData) }
            return verdict == 0 ? nil : TextSanitizer.strip(buffer.text)
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

@c @implementation public func tcpchat_server_tls_port(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    let port = server(handle).tlsPort
    return port < 0 ? TCPCHAT_ESTATE : Int32(port)
}

@c @implementation public func tcpchat_server_reload_tls(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    let target = server(handle)
    guard target.configuration.tlsCertificateFile != nil else { return TCPCHAT_ESTATE }
    do { try target.reloadTLS() } catch { return ResultCode.of(error) }
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
    return hostCall { () throws(HostControlError) in try server(handle).sendNotice(String(cString: text), toRoom: room.map { String(cString: $0) }) }
}

@c @implementation public func tcpchat_server_stop(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    server(handle).stop()
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_wait(_ handle: OpaquePointer!) -> Int32 {
    guard let handle else { return TCPCHAT_EINVAL }
    if server(handle).isInCallback { return TCPCHAT_EMISUSE }
    server(handle).wait()
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_destroy(_ handle: OpaquePointer!) {
    guard let handle else { return }
    let unmanaged = Unmanaged<ChatServer>.fromOpaque(UnsafeRawPointer(handle))
    let chatServer = unmanaged.takeUnretainedValue()
    if chatServer.isInCallback {
        chatServer.log(.error, "tcpchat_server_destroy called from one of the server's own callbacks: ignored "
            + "(stop it there, and destroy it once _run, _wait or _poll has returned)")
        return
    }
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

// MARK: Host control

/// Runs a host control call, mapping its failure to a code.
private func hostCall(_ body: () throws(HostControlError) -> Void) -> Int32 {
    do { try body() } catch { return ResultCode.of(error) }
    return TCPCHAT_OK
}

@c @implementation public func tcpchat_server_send(_ handle: OpaquePointer!, _ id: UInt64, _ text: UnsafePointer<CChar>!) -> Int32 {
    guard let handle, let text else { return TCPCHAT_EINVAL }
    return hostCall { () throws(HostControlError) in try server(handle).send(String(cString: text), toConnection: id) }
}

@c @implementation public func tcpchat_server_send_nick(
    _ handle: OpaquePointer!, _ nick: UnsafePointer<CChar>!, _ text: UnsafePointer<CChar>!
) -> Int32 {
    guard let handle, let nick, let text else { return TCPCHAT_EINVAL }
    return hostCall { () throws(HostControlError) in try server(handle).send(String(cString: text), toNick: String(cString: nick)) }
}

@c @implementation public func tcpchat_server_lookup(
    _ handle: OpaquePointer!, _ nick: UnsafePointer<CChar>!, _ id: UnsafeMutablePointer<UInt64>!
) -> Int32 {
    guard let handle, let nick, let id else { return TCPCHAT_EINVAL }
    return hostCall { () throws(HostControlError) in id.pointee = try server(handle).connectionID(ofNick: String(cString: nick)) }
}

@c @implementation public func tcpchat_server_kick(_ handle: OpaquePointer!, _ id: UInt64, _ reason: UnsafePointer<CChar>!) -> Int32 {
    guard let handle, let reason else { return TCPCHAT_EINVAL }
    return hostCall { () throws(HostControlError) in try server(handle).kick(id, reason: String(cString: reason)) }
}

/// `strings` as one malloc'd block: a NULL-terminated array of pointers, then the strings.
/// tcpchat_list_free() frees it with free().
private func makeList(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
    let pointerBytes = (strings.count + 1) * MemoryLayout<UnsafeMutablePointer<CChar>?>.stride
    let total = pointerBytes + strings.reduce(0) { $0 + $1.utf8.count + 1 }
    guard let block = malloc(total) else { return nil }
    let array = block.bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: strings.count + 1)
    var cursor = (block + pointerBytes).assumingMemoryBound(to: CChar.self)
    for (index, string) in strings.enumerated() {
        array[index] = cursor
        for byte in string.utf8 {
            cursor.pointee = CChar(bitPattern: byte)
            cursor += 1
        }
        cursor.pointee = 0
        cursor += 1
    }
    array[strings.count] = nil
    return array
}

private func listResult(
    _ out: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>, _ body: () throws(HostControlError) -> [String]
) -> Int32 {
    let strings: [String]
    do { strings = try body() } catch { return ResultCode.of(error) }
    guard let list = makeList(strings) else { return ResultCode.system(ENOMEM) }
    out.pointee = list
    return Int32(clamping: strings.count)
}

@c @implementation public func tcpchat_server_rooms(
    _ handle: OpaquePointer!, _ rooms: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>!
) -> Int32 {
    guard let handle, let rooms else { return TCPCHAT_EINVAL }
    return listResult(rooms) { () throws(HostControlError) in try server(handle).roomNames() }
}

@c @implementation public func tcpchat_server_members(
    _ handle: OpaquePointer!, _ room: UnsafePointer<CChar>!,
    _ nicks: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>!
) -> Int32 {
    guard let handle, let room, let nicks else { return TCPCHAT_EINVAL }
    return listResult(nicks) { () throws(HostControlError) in try server(handle).members(ofRoom: String(cString: room)) }
}

@c @implementation public func tcpchat_list_free(_ list: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>!) {
    free(list)
}

@c @implementation public func tcpchat_server_say(
    _ handle: OpaquePointer!, _ room: UnsafePointer<CChar>!, _ bot: UnsafePointer<CChar>!, _ text: UnsafePointer<CChar>!
) -> Int32 {
    guard let handle, let room, let bot, let text else { return TCPCHAT_EINVAL }
    return hostCall { () throws(HostControlError) in try server(handle).say(String(cString: text), inRoom: String(cString: room), asBot: String(cString: bot)) }
}
