import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import WANLink

struct WANLinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wan-link",
        abstract: "Relay the cross-site TCP links with added latency, and cut or slow them at run time.")

    @Option(help: "Links file (YAML: links with name, latency_ms, jitter_ms, state, routes of listen → target).")
    var config: String
    @Option(help: "Serve the control plane (HTTP: GET /links, POST /links/{name}, POST /links) on 127.0.0.1 at this port.")
    var controlPort: Int
    @Option(help: "Log level.") var logLevel = "info"

    func run() async throws {
        guard (1...65535).contains(controlPort) else {
            throw ValidationError("--control-port: expected a port number 1-65535, found \(controlPort)")
        }
        let configuration: WANConfiguration
        do {
            configuration = try WANConfiguration.load(path: config)
        } catch {
            throw ValidationError("--config: \(error)")
        }
        let logger = CommonOptions.logger("kassa.wan-link", level: logLevel)
        // SIGTERM and SIGINT stop it gracefully: no port listens any more and every relayed
        // connection is closed before the process ends.
        let service = WANLinkService(configuration: configuration, controlPort: controlPort, logger: logger)
        try await ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }
}

/// The links and their control plane as one service, ended by the signals.
private struct WANLinkService: Service {
    let configuration: WANConfiguration
    let controlPort: Int
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            try await runWANLink(configuration, controlPort: controlPort, logger: logger)
        }
    }
}
