import CTCPChat

/// The library's version. The single source of the numbers is Include/tcpchat.h
/// (`TCPCHAT_VERSION_*`), so C and Swift cannot disagree.
public enum TCPChatVersion {
    public static let major = Int(TCPCHAT_VERSION_MAJOR)
    public static let minor = Int(TCPCHAT_VERSION_MINOR)
    public static let patch = Int(TCPCHAT_VERSION_PATCH)
    public static var string: String { TCPCHAT_VERSION_STRING }
}
