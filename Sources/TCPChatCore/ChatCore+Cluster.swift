// The core's side of a cluster: what it asks the link (ClusterBackend) and what it does with
// what the link delivers. Without `--cluster` none of this runs: `cluster` is nil.

#if canImport(Glibc)
import Glibc  // time()
#endif

extension ChatCore: ClusterHost {
    // MARK: Asking the cluster

    /// Asks the cluster something for `session` (`ask` calls `answered` once it has replied):
    /// the session's next intents wait until then, so that its replies come in the order it
    /// asked, as they would from one server. Every question is answered, by Redis or, when the
    /// link drops first, by the fallback to what this server knows.
    func askCluster(for session: ChatSession, _ ask: (_ answered: @escaping () -> Void) -> Void) {
        session.waitingForCluster = true
        ask {
            session.waitingForCluster = false
            session.resumeInput()
        }
    }

    /// A new session: told when the link is down; its guest nick claimed (and replaced if
    /// another server holds it).
    func clusterAdmitted(_ session: ChatSession) {
        if clusterLinkDown { session.send(.clusterLink(up: false)) }
        claimGuestNick(of: session, attempts: 3)
        if let cluster, lastReservedGuest - nextReservedGuest < cluster.guestBlock / 10 { cluster.reserveGuestNumbers() }
    }

    private func claimGuestNick(of session: ChatSession, attempts: Int) {
        guard let cluster, cluster.isUp, attempts > 0 else { return }
        let nick = session.nick
        cluster.claim(Names.skeleton(nick), nick: nick) { [weak self] answer in
            guard let self, case .heldElsewhere = answer, session.isRegistered, session.nick == nick else { return }
            self.renameToGuest(session, because: "\(session.nick) is in use on another server")
            self.claimGuestNick(of: session, attempts: attempts - 1)
        }
    }

    private func renameToGuest(_ session: ChatSession, because reason: String) {
        let guest = nextGuestNick()
        rename(session, to: guest)
        session.send(.youRenamed(nick: guest, because: reason))
    }

    /// A nick change while the link is up: the nick (by skeleton) is held here while Redis is
    /// asked, and given only if no other server owns it or one like it.
    func claimNick(_ name: String, for session: ChatSession, through cluster: any ClusterBackend) {
        let skeleton = Names.skeleton(name)
        nicksBeingClaimed[skeleton] = session
        askCluster(for: session) { answered in
            cluster.claim(skeleton, nick: name) { [weak self] answer in
                self?.nicksBeingClaimed[skeleton] = nil
                self?.claimAnswered(answer, nick: name, for: session, through: cluster)
                answered()
            }
        }
    }

    private func claimAnswered(_ answer: ClaimAnswer, nick name: String, for session: ChatSession, through cluster: any ClusterBackend) {
        let skeleton = Names.skeleton(name)
        guard session.isRegistered, nicks[skeleton] == nil || nicks[skeleton] === session else {
            if answer == .claimed { cluster.release(skeleton) }
            return
        }
        if case .heldElsewhere(let holder) = answer {
            // (An empty holder: a server before 1.2 holds it, which stores no nick.)
            if holder.isEmpty || Names.key(holder) == Names.key(name) { return session.send(.error(.nickTaken(holder.isEmpty ? name : holder))) }
            return session.send(.error(.nickResembles(name, like: holder, holder: .otherServer)))
        }
        // Claimed, or the link went down before Redis answered: then the nick is claimed with
        // the others when the link is back (and replaced if taken meanwhile).
        rename(session, to: name)
        session.send(.youRenamed(nick: name, because: nil))
    }

    /// A private message to a nick not on this server: Redis knows which server holds it.
    func privateMessageElsewhere(_ text: String, from sender: ChatSession, to target: String, through cluster: any ClusterBackend) {
        let event = ChatEvent.privateMessage(from: sender.nick, to: target, text: text)
        askCluster(for: sender) { answered in
            cluster.sendPrivate(event, toNick: Names.key(target)) { sent in
                switch sent {
                case true?: if sender.encoder.echoesPrivateMessages { sender.send(event) }
                case false?: sender.send(.error(.noSuchNick(target, linkDown: false)))
                case nil: sender.send(.error(.noSuchNick(target, linkDown: true)))
                }
                answered()
            }
        }
    }

    /// A private notice (IRC's NOTICE to a nick) to a nick not on this server: as a private
    /// message, but nobody is told when it cannot be delivered (NOTICE is never answered).
    func privateNoticeElsewhere(_ text: String, from sender: ChatSession, to target: String, through cluster: any ClusterBackend) {
        let event = ChatEvent.privateNotice(from: sender.nick, to: target, text: text)
        askCluster(for: sender) { answered in
            cluster.sendPrivate(event, toNick: Names.key(target)) { _ in answered() }
        }
    }

    // MARK: What the cluster tells the core

    package func clusterLocalMembers() -> [(nick: String, roomKey: String, roomName: String)] {
        var members: [(nick: String, roomKey: String, roomName: String)] = []
        for (key, room) in rooms {
            for member in room.members { members.append((member.nick, key, room.name)) }
        }
        return members
    }

    package func clusterDeliver(_ event: ChatEvent, toRoom roomKey: String) {
        guard let room = rooms[roomKey] else { return }
        let isChat: Bool
        switch event {
        case .said, .acted, .legacyLine: isChat = true
        default: isChat = false
        }
        if case .topic(_, let nick, let text) = event {
            // A topic set on another server is this room's topic here too, for newcomers and
            // for IRC's TOPIC query (rooms are per server: one that had nobody here when it was
            // set does not know it).
            room.topic = text
            room.topicSetter = nick
            room.topicTime = Int(time(nil))
        } else if !isChat {
            let limit = settings.announceLimit
            guard limit == 0 || room.members.count <= limit else { return }
        }
        fanOut(event, in: room, except: nil)
        if isChat { room.record(event) }
    }

    package func clusterDeliverPrivate(_ event: ChatEvent, toNick nickKey: String) {
        person(withKey: nickKey)?.send(event)
    }

    package func clusterLinkChanged(up: Bool) {
        guard up == clusterLinkDown else { return }  // said once per outage, and once when it ends
        clusterLinkDown = !up
        for room in rooms.values { fanOut(.clusterLink(up: up), in: room, except: nil) }
        if up { accounts?.recheckNicks() }  // nicks taken while the accounts were out of reach
    }

    package func clusterNickLost(_ skeleton: String) {
        guard let session = nicks[skeleton], session.isRegistered else { return }
        renameToGuest(session, because: "\(session.nick) was taken on another server while the cluster link was down")
        claimGuestNick(of: session, attempts: 3)
    }

    package func clusterPeopleLost(_ departures: [(roomKey: String, nick: String)]) {
        for (roomKey, nick) in departures {
            let event = ChatEvent.left(room: rooms[roomKey]?.name ?? roomKey, nick: nick, reason: .disconnected("server lost"))
            // Told here and published for the other survivors: only this server learned of it.
            clusterDeliver(event, toRoom: roomKey)
            cluster?.announce(event, inRoom: roomKey)
        }
    }

    package func clusterGuestNumbers(_ numbers: ClosedRange<Int>) {
        nextReservedGuest = numbers.lowerBound
        lastReservedGuest = numbers.upperBound
    }
}
