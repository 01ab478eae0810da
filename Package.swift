// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "kassa-cluster",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kassa", targets: ["kassa"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // Receipts, tenants, job ids, fiscal results, validation, ATOL error codes.
        .target(
            name: "KassaModel",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // librdkafka's C API, found by pkg-config.
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        .target(
            name: "Kafka",
            dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // libpq's C API, found by pkg-config.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(
            name: "Registry",
            dependencies: [
                "CLibPQ", "KassaModel",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The kassa wire protocol: messages, codec, client.
        .target(
            name: "KassaWire",
            dependencies: [
                "KassaModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Fiscal drives and a fleet of modules serving the wire protocol.
        .target(
            name: "KassaEmulator",
            dependencies: [
                "KassaModel", "KassaWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // The ATOL-compatible HTTP API.
        .target(
            name: "Ingress",
            dependencies: [
                "KassaModel", "Kafka", "Registry",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Consumes jobs, leases kassas, fiscalizes exactly once.
        .target(
            name: "Dispatcher",
            dependencies: [
                "KassaModel", "Kafka", "Registry", "KassaWire",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Load generation and latency summaries.
        .target(
            name: "Load",
            dependencies: [
                "KassaModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The drills' checker: FN archives and the acknowledged log against the reports.
        .target(
            name: "GroundTruth",
            dependencies: [
                "KassaModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Chaos drills: drill files, fault injection, steady-state judgement, reports.
        .target(
            name: "Chaos",
            dependencies: [
                "KassaModel", "Load", "Registry", "GroundTruth",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // The WAN between two sites on one machine: a TCP delay proxy with a control plane.
        .target(
            name: "WANLink",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "kassa",
            dependencies: [
                "KassaModel", "Kafka", "Registry", "KassaWire", "KassaEmulator",
                "Ingress", "Dispatcher", "Load", "Chaos", "GroundTruth", "WANLink",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "KassaModelTests", dependencies: ["KassaModel"], swiftSettings: strict),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"], swiftSettings: strict),
        .testTarget(
            name: "KassaEmulatorTests",
            dependencies: [
                "KassaEmulator", "KassaWire", "KassaModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "IngressTests", dependencies: ["Ingress"], swiftSettings: strict),
        .testTarget(
            name: "RegistryTests",
            dependencies: ["Registry", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(name: "DispatcherTests", dependencies: ["Dispatcher", "KassaModel"], swiftSettings: strict),
        .testTarget(name: "LoadTests", dependencies: ["Load"], swiftSettings: strict),
        .testTarget(
            name: "GroundTruthTests",
            dependencies: [
                "GroundTruth", "KassaModel", "KassaWire",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strict
        ),
        .testTarget(name: "ChaosTests", dependencies: ["Chaos", "Load"], swiftSettings: strict),
        .testTarget(
            name: "WANLinkTests",
            dependencies: [
                "WANLink",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "KassaModel",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
    ]
)
