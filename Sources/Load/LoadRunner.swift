import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// Runs one load test: fetches tokens, posts receipts open-loop for the configured
/// duration, polls every accepted receipt to a final status, and summarises.
public struct LoadRunner: Sendable {
    public let configuration: LoadConfiguration
    private let logger: Logger

    public init(configuration: LoadConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs the test; returns after the drain completes or `duration + drainTimeout`.
    ///
    /// - Parameter progress: called about once a second from the runner's own task.
    /// - Throws: `LoadError` when the configuration is invalid, a token cannot be
    ///   obtained, or the acknowledged log cannot be written. Individual failed
    ///   requests are counted in the summary instead.
    public func run(progress: @Sendable (LoadProgress) -> Void) async throws -> LoadSummary {
        try await runRecorded(progress: progress).summary
    }

    /// Runs the test like `run(progress:)` and also returns its per-second timeline.
    public func runRecorded(progress: @Sendable (LoadProgress) -> Void) async throws -> (summary: LoadSummary, timeline: LoadTimeline) {
        try configuration.validate()
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections
        )
        httpConfiguration.timeout = .init(connect: .seconds(5))
        httpConfiguration.redirectConfiguration = .disallow
        return try await HTTPClient.withHTTPClient(
            configuration: httpConfiguration, backgroundActivityLogger: logger
        ) { client in
            try await run(client: client, progress: progress)
        }
    }

    private func run(client: HTTPClient, progress: @Sendable (LoadProgress) -> Void) async throws -> (summary: LoadSummary, timeline: LoadTimeline) {
        let configuration = configuration
        let runID = configuration.runID ?? Self.makeRunID()
        let api = AtolAPI(client: client, baseURL: configuration.baseURL, timeout: configuration.requestTimeout, logger: logger)
        let tokens = TokenStore(api: api, tenants: configuration.tenants)
        try await tokens.fetchAll()
        let log = try configuration.acknowledgedLogPath.map { path throws(LoadError) in try AcknowledgedLog(path: path) }
        let start = ContinuousClock.now
        let startedAt = Date()
        let state = LoadState(pollInterval: configuration.reportPollInterval, start: start)

        let deadline = start + configuration.duration + configuration.drainTimeout
        logger.info("load run starting", metadata: [
            "run": "\(runID)", "rate": "\(configuration.rate)", "duration": "\(configuration.duration)",
            "tenants": "\(configuration.tenants.count)",
        ])

        let poster = Poster(
            api: api, tokens: tokens, state: state, log: log, logger: logger,
            deadline: deadline, maxRetryAfter: configuration.maxRetryAfter)
        let sender = Sender(
            configuration: configuration, generator: ReceiptGenerator(seed: configuration.seed, runID: runID),
            poster: poster, state: state)
        let poller = Poller(
            api: api, tokens: tokens, state: state, logger: logger, maxInFlight: configuration.maxPollsInFlight,
            pollInterval: configuration.reportPollInterval, deadline: deadline)

        // The closure only has to outlive the task group below, which structured
        // concurrency guarantees, so it need not be escaping for callers.
        await withoutActuallyEscaping(progress) { progress in
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await sender.run(start: start) }
                group.addTask { await Self.report(progress, state: state, start: start) }
                // The poller ends the run: drained, or out of time.
                await poller.run()
                group.cancelAll()
            }
        }

        await log?.close()
        if let failure = await log?.failure { throw failure }
        let summary = await state.finalSummary(
            runID: runID, offeredRate: configuration.rate, runDuration: .now - start,
            tokenRenewals: await tokens.renewals)
        progress(await state.progress(elapsed: .now - start))
        return (summary, LoadTimeline(startedAt: startedAt, seconds: await state.timelineSeconds()))
    }

    /// Calls `progress` once a second until cancelled.
    private static func report(
        _ progress: @Sendable (LoadProgress) -> Void, state: LoadState, start: ContinuousClock.Instant
    ) async {
        var next = start + .seconds(1)
        while true {
            do { try await Task.sleep(until: next, clock: .continuous) } catch { return }
            progress(await state.progress(elapsed: .now - start))
            next += .seconds(1)
        }
    }

    /// Unique enough per run: base-36 milliseconds since the epoch.
    private static func makeRunID() -> String {
        String(UInt64(max(0, Date().timeIntervalSince1970 * 1000)), radix: 36)
    }
}
