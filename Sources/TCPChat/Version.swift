/// The library's version. Include/tcpchat.h carries the same numbers for C.
public enum TCPChatVersion {
    public static let major = 0
    public static let minor = 1
    public static let patch = 0
    public static var string: String { "\(major).\(minor).\(patch)" }
}
