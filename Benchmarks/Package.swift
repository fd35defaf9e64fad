// swift-tools-version: 6.1
// The benchmark peers that are built from Swift packages. Kept apart from the product's
// Package.swift so that tcpchat itself never depends on SwiftNIO.
//
// SwiftNIO ships NIOChatServer as an example target, not as a product, so no package can
// depend on it directly. This package pins swift-nio; scripts/bench resolves it and then
// builds NIOChatServer from the resolved checkout (`swift build --product NIOChatServer`).
import PackageDescription

let package = Package(
    name: "tcpchat-benchmarks",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: []
)
