// A wire protocol, as the server plugs it in: framed lines of its sessions in, intents to the
// core out (`handle`), and the core's events in, bytes out (EventEncoder's `encode`). One
// codec object serves every session of its protocol on a server; it lives on the loop thread.
//
// Adding a protocol: a type conforming to WireCodec in its own folder, registered with the
// core (ChatCore.register(encoder:)) and given to the connections that speak it. See
// docs/ARCHITECTURE.md, "Adding a protocol".
import TCPChatCore

package protocol WireCodec: EventEncoder {
    /// A session of this protocol was opened: what happens first (the line protocol
    /// registers a guest at once and joins #lobby; IRC waits for NICK and USER).
    func opened(_ session: ChatSession, core: ChatCore)
    /// One framed line (without its terminator) from `session`; valid during the call.
    func received(line: UnsafeRawBufferPointer, from session: ChatSession, core: ChatCore)
    /// The session's connection closed (after the core detached it): forget what is kept for it.
    func closed(_ session: ChatSession)
}

extension WireCodec {
    package func closed(_ session: ChatSession) {}
}
