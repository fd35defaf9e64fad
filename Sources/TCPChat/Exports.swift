// The public module re-exports the public types of the layers below it (SocketAddress,
// SystemError, SocketError, EventLoop; LogLevel, ChatMessage, Names), so `import TCPChat`
// is all a Swift program needs. Their `package` declarations stay inside this package.
@_exported import TCPChatCore
@_exported import TCPChatNet
