// The core's view of a cluster: what it asks the link to the other servers (ClusterBackend,
// implemented over Redis by the TCPChat module's ClusterLink) and what the link tells it back
// (ClusterHost, implemented by ChatCore). Both speak in events, never in wire text.

package protocol ClusterBackend: AnyObject {
    /// Registered with the cluster: what the core tells the link now reaches the others.
    var isUp: Bool { get }
    /// A chat line or action said here: published once, and kept in the room's shared history.
    func say(_ event: ChatEvent, inRoom roomKey: String)
    /// A presence event for the room's members on other servers.
    func announce(_ event: ChatEvent, inRoom roomKey: String)
    func entered(nick: String, roomKey: String, roomName: String)
    /// Calls `then` once this server receives the room's messages.
    func whenSubscribed(toRoom roomKey: String, _ then: @escaping () -> Void)
    func left(nick: String, roomKey: String, lastHere: Bool)
    func roomUnused(_ roomKey: String)
    /// Claims the nick `nick` by its skeleton (Names.skeleton): a server holds a skeleton, so
    /// that no two servers give out nicks that look alike. `done` says whether it is this
    /// server's now, or which nick holds it elsewhere, or that the link is down.
    func claim(_ skeleton: String, nick: String, _ done: @escaping (ClaimAnswer) -> Void)
    func release(_ skeleton: String)
    /// `done(true)` sent, `done(false)` no such nick in the cluster, `done(nil)` link down.
    func sendPrivate(_ event: ChatEvent, toNick nickKey: String, _ done: @escaping (Bool?) -> Void)
    func who(inRoom roomKey: String, _ done: @escaping ([String]?) -> Void)
    func rooms(_ done: @escaping ([RoomCount]?) -> Void)
    func reserveGuestNumbers()
    /// How many guest numbers one reservation brings.
    var guestBlock: Int { get }
    /// A room's shared history, oldest first; nil when the link is down.
    func history(ofRoom roomKey: String, _ done: @escaping ([ChatEvent]?) -> Void)
    /// A room's topic as the cluster last set it (text, who, when), for a server the room is
    /// new to; nil when it has none or the link is down.
    func topic(ofRoom roomKey: String, _ done: @escaping (SharedTopic?) -> Void)
}

/// The answer to a claim of a nick's skeleton.
package enum ClaimAnswer: Equatable, Sendable {
    case claimed
    /// Another server holds the skeleton, for this nick (the same nick, or one like it).
    case heldElsewhere(nick: String)
    /// The link is down (or went down before Redis answered).
    case linkDown
}

/// A topic kept in the cluster for the servers that did not have the room when it was set.
package struct SharedTopic: Sendable {
    package var text: String
    package var setter: String?
    package var time: Int
    package init(text: String, setter: String?, time: Int) {
        self.text = text
        self.setter = setter
        self.time = time
    }
}

/// What the link needs from the core. All calls come on the loop thread.
package protocol ClusterHost: AnyObject {
    /// Every person here, with their room: what the link re-registers after a (re)connect.
    func clusterLocalMembers() -> [(nick: String, roomKey: String, roomName: String)]
    /// An event another server published to a room that has members here.
    func clusterDeliver(_ event: ChatEvent, toRoom roomKey: String)
    /// A private message another server sent to a nick it believes is here.
    func clusterDeliverPrivate(_ event: ChatEvent, toNick nickKey: String)
    /// The link came up or went down.
    func clusterLinkChanged(up: Bool)
    /// Another server owns this nick's skeleton (taken while this server was cut off).
    func clusterNickLost(_ skeleton: String)
    /// People of dead servers, to be announced as gone.
    func clusterPeopleLost(_ departures: [(roomKey: String, nick: String)])
    /// Guest numbers reserved for this server alone.
    func clusterGuestNumbers(_ numbers: ClosedRange<Int>)
}
