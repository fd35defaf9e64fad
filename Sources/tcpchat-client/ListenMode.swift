// `tcpchat --listen`: the one-to-one chat of the classic lesson. Listen, accept one peer, say
// who it is, then chat with it exactly as with a server, but in plain lines.
#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import TCPChat

enum ListenMode {
    static func run(host: String?, port: Int, encoding: TextEncoding, display: Display, screen: Screen, interactive: Bool) -> Int32 {
        let listener: PeerListener
        do {
            listener = try PeerListener(host: host, port: port)
        } catch {
            screen.error(error.description)
            return 1
        }
        // Like tcpchat-server: the wildcard address reads [::], and with port 0 this line is
        // how a person (or a script) learns the port.
        let address = listener.address
        let shown = address.isIPv6 && host == nil ? "[::]:\(address.port)" : address.description
        screen.show(display.notice("listening on \(shown), waiting for one peer"))

        let connection: ChatConnection
        do {
            connection = try listener.acceptPeer(encoding: encoding)  // Ctrl-C here simply ends the program
        } catch {
            screen.error(error.description)
            return 1
        }
        screen.note("connected: \(ClientCommand.describe(connection.localAddress)) -> \(ClientCommand.describe(connection.remoteAddress))")
        let peer = ClientCommand.describe(connection.remoteAddress)
        screen.show(display.notice("\(peer) connected; Ctrl-D ends the chat"))
        let loop = ChatLoop(connection: connection, conversation: PeerConversation(display: display), screen: screen, interactive: interactive)
        return loop.run()
    }
}
