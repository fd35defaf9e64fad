// The server's side of a cluster: what it asks the link (ClusterLink) and what it does with
// what the link delivers. Without `--cluster` none of this runs: `cluster` is nil.

extension ChatServer: ClusterHost {
    func makeClusterLink(_ settings: ClusterConfiguration) throws(ChatServerError) -> ClusterLink {
        // Resolved once, here, on the caller's thread: getaddrinfo may block, the loop must not.
        let candidates: [SocketAddress]
        do { candidates = try SocketAddress.resolve(host: settings.redis.host, port: settings.redis.port, passive: false) } catch {
            throw .invalidConfiguration("cluster address \(settings.redis): \(error)")
        }
        guard let address = candidates.first else {
            throw .invalidConfiguration("cluster address \(settings.redis): the host has no address")
        }
        let log = configuration.log
        return ClusterLink(configuration: settings, address: address, loop: loop, host: self,
                           maxLineBytes: configuration.maxLineBytes, historyLength: configuration.historyLength,
                           log: { level, message in log?(level, message) })
    }

    // MARK: Asking the cluster

    /// Asks the cluster something for `connection` (`ask` calls `answered` once it has replied):
    /// the client's next lines wait until then, so that its replies come in the order it asked,
    /// as they would from one server. Every question is answered, by Redis or, when the link
    /// drops first, by the fallback to what this server knows.
    func askCluster(for connection: ClientConnection, _ ask: (_ answered: @escaping () -> Void) -> Void) {
        connection.waitingForCluster = true
        ask { [weak self] in self?.clusterAnswered(connection) }
    }

    /// A new client: told when the link is down; its guest nick claimed (and replaced if another
    /// server holds it).
    func clusterAdmitted(_ connection: ClientConnection) {
        if clusterLinkDown { send(ChatServer.linkDownNotice, to: connection) }
        claimGuestNick(of: connection, attempts: 3)
        if lastReservedGuest - nextReservedGuest < ClusterLink.guestBlock / 10 { cluster?.reserveGuestNumbers() }
    }

    private func claimGuestNick(of connection: ClientConnection, attempts: Int) {
        guard let cluster, cluster.isUp, attempts > 0 else { return }
        let key = Names.key(connection.nick)
        cluster.claim(key) { [weak self] claimed in
            guard let self, claimed == false, connection.state == .open, Names.key(connection.nick) == key else { return }
            self.renameToGuest(connection, because: "\(connection.nick) is in use on another server")
            self.claimGuestNick(of: connection, attempts: attempts - 1)
        }
    }

    private func renameToGuest(_ connection: ClientConnection, because reason: String) {
        let guest = nextGuestNick()
        rename(connection, to: guest)
        send(Wire.notice("\(reason); you are now known as \(guest)"), to: connection)
    }

    /// /nick while the link is up: the nick is held here while Redis is asked, and given only
    /// if no other server owns it.
    func claimNick(_ name: String, for connection: ClientConnection, through cluster: ClusterLink) {
        let key = Names.key(name)
        nicksBeingClaimed[key] = connection
        askCluster(for: connection) { answered in
            cluster.claim(key) { [weak self] claimed in
                self?.nicksBeingClaimed[key] = nil
                self?.claimAnswered(claimed, nick: name, for: connection, through: cluster)
                answered()
            }
        }
    }

    private func claimAnswered(_ claimed: Bool?, nick name: String, for connection: ClientConnection, through cluster: ClusterLink) {
        let key = Names.key(name)
        guard connection.state == .open, connection.pendingCloseReason == nil, nicks[key] == nil else {
            if claimed == true { cluster.release(key) }
            return
        }
        if claimed == false { return send(Wire.error("nick \(name) is taken; choose another"), to: connection) }
        // Claimed, or the link went down before Redis answered: then the nick is claimed with
        // the others when the link is back (and replaced if taken meanwhile).
        rename(connection, to: name)
        send(Wire.notice("you are now known as \(name)"), to: connection)
    }

    /// /msg to a nick not on this server: Redis knows which server holds it.
    func privateMessageElsewhere(_ text: String, from sender: ClientConnection, to target: String, through cluster: ClusterLink) {
        let line = Wire.privateMessage(from: sender.nick, to: target, text)
        askCluster(for: sender) { answered in
            cluster.sendPrivate(line, toNick: Names.key(target)) { [weak self] sent in
                switch sent {
                case true?: self?.send(line, to: sender)
                case false?: self?.send(Wire.error("no such nick \(target), try /who or /rooms"), to: sender)
                case nil: self?.send(Wire.error("no such nick \(target) on this server, and the cluster link is down; try again later"), to: sender)
                }
                answered()
            }
        }
    }

    func replyWho(_ roomName: String, _ names: [String], to connection: ClientConnection) {
        let sorted = names.sorted { $0.lowercased() < $1.lowercased() }
        send(Wire.notice("people in \(roomName) (\(sorted.count)): \(listing(sorted, separator: " "))"), to: connection)
    }

    func replyRooms(_ counts: [(name: String, count: Int)], to connection: ClientConnection) {
        let list = counts.sorted { $0.name < $1.name }.map { "\($0.name) (\($0.count))" }
        send(Wire.notice("rooms (\(list.count)): \(listing(list, separator: ", "))"), to: connection)
    }

    // MARK: What the cluster tells the server

    static let linkDownNotice = Wire.notice("cluster link down: chat reaches this server only until it is back")

    func clusterLocalMembers() -> [(nick: String, roomKey: String, roomName: String)] {
        var members: [(nick: String, roomKey: String, roomName: String)] = []
        for (key, room) in rooms {
            for member in room.members { members.append((member.nick, key, room.name)) }
        }
        return members
    }

    func clusterDeliver(_ line: String, toRoom roomKey: String, isChat: Bool) {
        guard let room = rooms[roomKey] else { return }
        if !isChat {
            let limit = configuration.announceLimit
            guard limit == 0 || room.members.count <= limit else { return }
        }
        let buffer = SharedBuffer(line)
        fanOut(buffer, in: room, except: nil)
        if isChat { room.record(buffer) }
    }

    func clusterDeliverPrivate(_ line: String, toNick nickKey: String) {
        guard let receiver = nicks[nickKey] else { return }
        enqueue(SharedBuffer(line), to: receiver)
    }

    func clusterLinkChanged(up: Bool) {
        guard up == clusterLinkDown else { return }  // said once per outage, and once when it ends
        clusterLinkDown = !up
        let notice = SharedBuffer(up ? Wire.notice("cluster link restored") : ChatServer.linkDownNotice)
        for room in rooms.values { fanOut(notice, in: room, except: nil) }
    }

    func clusterNickLost(_ nickKey: String) {
        guard let connection = nicks[nickKey], connection.state == .open else { return }
        renameToGuest(connection, because: "\(connection.nick) was taken on another server while the cluster link was down")
        claimGuestNick(of: connection, attempts: 3)
    }

    func clusterPeopleLost(_ departures: [(roomKey: String, nick: String)]) {
        for (roomKey, nick) in departures {
            let line = Wire.notice("\(nick) left (server lost)")
            // Told here and published for the other survivors: only this server learned of it.
            clusterDeliver(line, toRoom: roomKey, isChat: false)
            cluster?.announce(line, inRoom: roomKey)
        }
    }

    func clusterGuestNumbers(_ numbers: ClosedRange<Int>) {
        nextReservedGuest = numbers.lowerBound
        lastReservedGuest = numbers.upperBound
    }
}
