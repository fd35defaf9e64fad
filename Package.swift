// swift-tools-version: 6.1
// tcpchat: an embeddable TCP chat library (C and Swift APIs), a room server and a readline client.
// CMakeLists.txt builds the same products for C users; see README.md.
import PackageDescription

let package = Package(
    name: "tcpchat",
    products: [
        // libtcpchat.so: the C API of Include/tcpchat.h and the Swift module TCPChat.
        .library(name: "tcpchat", type: .dynamic, targets: ["TCPChat"]),
        .executable(name: "tcpchat-server", targets: ["tcpchat-server"]),
        // The load generator of docs/BENCHMARKS.md (scripts/bench runs it against the peers).
        .executable(name: "tcpchat-bench", targets: ["tcpchat-bench"]),
        // The readline client. CMake installs it as `tcpchat`; SwiftPM cannot give an executable
        // the name of the library product, so here it is `tcpchat-client`.
        .executable(name: "tcpchat-client", targets: ["tcpchat-client"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // epoll, eventfd, accept4 and friends, which Glibc does not expose to Swift.
        .target(
            name: "CTCPChatLinux",
            path: "Sources/CTCPChatLinux"
        ),
        // TLS: a thin C layer over the system's OpenSSL 3 (libssl-dev; see its header). The
        // library links libssl and libcrypto; a build without the headers stops at its #error.
        .target(
            name: "CTCPChatTLS",
            path: "Sources/CTCPChatTLS",
            linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]
        ),
        // Unicode for names: a thin C layer over the system's ICU (libicu-dev; see its header):
        // normalization (NFKC, NFKC_Casefold) and UTS #39 (confusable skeletons, restriction
        // levels). The library links libicuuc and libicui18n.
        .target(
            name: "CTCPChatUnicode",
            path: "Sources/CTCPChatUnicode",
            linkerSettings: [.linkedLibrary("icui18n"), .linkedLibrary("icuuc")]
        ),
        // Accounts (issue 20): the account table in SQLite (libsqlite3-dev) and scrypt through
        // OpenSSL 3's EVP_KDF, as a few plain C functions (see its header).
        .target(
            name: "CTCPChatAccounts",
            path: "Sources/CTCPChatAccounts",
            linkerSettings: [.linkedLibrary("sqlite3"), .linkedLibrary("crypto")]
        ),
        // Include/tcpchat.h, the C API: a header-only target the Swift core implements.
        .target(name: "CTCPChat", path: "Include", publicHeadersPath: "."),
        // The layers, each a module, so that the compiler holds them apart (docs/ARCHITECTURE.md):
        // Net (syscalls, sockets, the epoll loop) and Core (the chat rules, no sockets, no wire
        // text) know nothing of each other; TCPChat (transport, codecs, cluster, the server and
        // client fronts, the C API) composes them and is the one module users import.
        .target(
            name: "TCPChatNet",
            dependencies: ["CTCPChatLinux"],
            path: "Sources/TCPChatNet"
        ),
        .target(
            name: "TCPChatCore",
            dependencies: ["CTCPChatUnicode"],
            path: "Sources/TCPChatCore"
        ),
        .target(
            name: "TCPChat",
            dependencies: ["TCPChatNet", "TCPChatCore", "CTCPChatLinux", "CTCPChatTLS", "CTCPChatAccounts", "CTCPChat"],
            path: "Sources/TCPChat"
        ),
        .executableTarget(
            name: "tcpchat-server",
            dependencies: [
                "TCPChat",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/tcpchat-server"
        ),
        .executableTarget(
            name: "tcpchat-bench",
            dependencies: [
                "TCPChat",
                "CTCPChatLinux",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/tcpchat-bench"
        ),
        // GNU readline (GPL-3): only the client executable links it, never the library.
        .systemLibrary(
            name: "CReadline",
            path: "Sources/CReadline",
            providers: [.apt(["libreadline-dev"])]
        ),
        .executableTarget(
            name: "tcpchat-client",
            dependencies: [
                "TCPChat",
                "CReadline",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/tcpchat-client"
        ),
        // examples/swift: the C examples' twins on the Swift API (README: "Using the library
        // from C and Swift").
        .executableTarget(name: "example-chat-client", dependencies: ["TCPChat"], path: "examples/swift/chat-client"),
        .executableTarget(name: "example-embedded-server", dependencies: ["TCPChat"], path: "examples/swift/embedded-server"),
        .executableTarget(name: "example-bot", dependencies: ["TCPChat"], path: "examples/swift/bot"),
        .executableTarget(name: "example-poll-client", dependencies: ["TCPChat"], path: "examples/swift/poll-client"),
        .testTarget(
            name: "TCPChatTests",
            dependencies: ["TCPChat", "TCPChatCore", "TCPChatNet"],
            path: "Tests/TCPChatTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
