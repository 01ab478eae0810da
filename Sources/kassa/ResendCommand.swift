import ArgumentParser
import Foundation
import Ingress
import Kafka
import KassaModel
import Registry

/// `kassa resend`: re-sends a tenant's failed receipts under their original uuids, through the
/// same `ResendDesk` the API's `POST /{group}/resend` uses.
struct ResendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resend",
        abstract: "Re-send a tenant's failed receipts (same uuids; each is still fiscalized at most once).",
        discussion: """
            Selects the group's failed receipts (all conditions given must hold; --from/--to bound when the \
            receipt was accepted, --from inclusive, --to exclusive), reopens them in the registry and publishes \
            their stored jobs to Kafka again. A receipt Kafka does not take is put back to its failure.
            """
    )

    @OptionGroup var common: CommonOptions
    @Option(help: "The tenant's group code.") var groupCode: String
    @Option(help: "Only receipts failed with this error code (e.g. 2003).") var errorCode: Int?
    @Option(help: "Only receipts failed with this error type (agent, driver, system, timeout, unknown).") var errorType: String?
    @Option(help: "Only receipts accepted at or after this ISO 8601 time, e.g. 2026-11-23T10:00:00+03:00.") var from: String?
    @Option(help: "Only receipts accepted before this ISO 8601 time.") var to: String?
    @Option(name: .customLong("uuid"), help: "Only this receipt (repeat for several).") var uuids: [String] = []
    @Option(help: "At most this many receipts, oldest first (1...\(ResendFilter.maxLimit)).") var limit = ResendFilter.maxLimit
    @Option(help: "Job topic.") var topic = "receipt-jobs"
    @Flag(help: "Only list what would be re-sent.") var dryRun = false
    @Flag(help: "Print the outcome as one JSON object.") var json = false

    func run() async throws {
        let filter = try makeFilter()
        let logger = common.logger("kassa.resend")
        let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: 2), logger: logger)
        defer { registry.close() }
        guard let tenant = try await registry.tenant(groupCode: groupCode) else {
            throw ValidationError("--group-code \(groupCode): no such tenant")
        }
        let producer: KafkaProducer?
        let publisher: any JobPublisher
        if dryRun {
            producer = nil
            publisher = NoPublisher()
        } else {
            var configuration = KafkaProducerConfiguration(bootstrapServers: common.kafka)
            configuration.clientID = "kassa-resend"
            configuration.messageTimeoutMilliseconds = 10_000
            let made = try KafkaProducer(configuration: configuration, logger: logger)
            producer = made
            publisher = KafkaJobPublisher(producer: made, topic: topic)
            // The producer connects in the background; give it the message timeout to do so.
            try await waitUntilConnected(made, within: .seconds(10))
        }
        let desk = ResendDesk(store: registry, publisher: publisher, logger: logger)
        let outcome: ResendOutcome
        do {
            outcome = try await desk.resend(tenantID: tenant.id, filter: filter, dryRun: dryRun)
        } catch {
            await producer?.close()
            throw error
        }
        await producer?.close()
        print(json ? render(json: outcome) : render(text: outcome))
    }

    /// The filter from the options; `ValidationError` naming the option for a bad value.
    func makeFilter() throws -> ResendFilter {
        var filter = ResendFilter(errorCode: errorCode, errorType: errorType, limit: limit)
        if let from { filter.from = try Self.parseTime(from, option: "--from") }
        if let to { filter.to = try Self.parseTime(to, option: "--to") }
        if let start = filter.from, let end = filter.to, start >= end {
            throw ValidationError("--to \(to ?? ""): expected a time later than --from")
        }
        if !uuids.isEmpty {
            filter.uuids = try uuids.map { text in
                guard let uuid = UUID(uuidString: text) else {
                    throw ValidationError("--uuid \(text): expected a uuid (8-4-4-4-12 hex digits)")
                }
                return uuid
            }
        }
        guard (1...ResendFilter.maxLimit).contains(limit) else {
            throw ValidationError("--limit \(limit): expected 1...\(ResendFilter.maxLimit)")
        }
        if let errorType, !["agent", "driver", "system", "timeout", "unknown"].contains(errorType) {
            throw ValidationError("--error-type \(errorType): expected one of agent, driver, system, timeout, unknown")
        }
        return filter
    }

    /// ISO 8601 with an offset or Z, with or without fractional seconds.
    static func parseTime(_ text: String, option: String) throws -> Date {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        throw ValidationError("\(option) \(text): expected an ISO 8601 time with an offset, e.g. 2026-11-23T10:00:00+03:00")
    }

    private func waitUntilConnected(_ producer: KafkaProducer, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while !producer.isConnected {
            guard ContinuousClock.now < deadline else {
                await producer.close()
                throw ValidationError("--kafka \(common.kafka): no broker connection within \(limit); nothing was re-sent")
            }
            try await Task.sleep(for: .milliseconds(100))  // polling the connection state
        }
    }

    func render(text outcome: ResendOutcome) -> String {
        var lines: [String] = []
        let withBody = outcome.matched.filter { $0.body != nil }
        if outcome.dryRun {
            lines.append("dry run: \(withBody.count) failed receipt(s) of \(groupCode) would be re-sent")
            for job in withBody {
                lines.append("  \(job.uuid.uuidString.lowercased())  \(job.externalID)  error \(job.errorCode.map(String.init) ?? "-")"
                             + " \(job.errorType ?? "-"): \(job.errorText ?? "")  (re-sent \(job.resendCount)x)")
            }
        } else {
            lines.append("re-sent \(outcome.resent.count) receipt(s) of \(groupCode)")
            let byUUID = Dictionary(uniqueKeysWithValues: outcome.matched.map { ($0.uuid, $0) })
            for uuid in outcome.resent {
                let job = byUUID[uuid]
                lines.append("  \(uuid.uuidString.lowercased())  \(job?.externalID ?? "")  was error \(job?.errorCode.map(String.init) ?? "-")")
            }
        }
        if !outcome.notResent.isEmpty {
            lines.append("not re-sent: \(outcome.notResent.count)")
            for item in outcome.notResent { lines.append("  \(item.uuid.uuidString.lowercased())  \(item.reason)") }
        }
        return lines.joined(separator: "\n")
    }

    func render(json outcome: ResendOutcome) -> String {
        let value: JSONValue = [
            "group_code": .string(groupCode),
            "dry_run": .bool(outcome.dryRun),
            "matched": .array(outcome.matched.map { job in
                [
                    "uuid": .string(job.uuid.uuidString.lowercased()), "external_id": .string(job.externalID),
                    "error_code": job.errorCode.map { .number(Double($0)) } ?? .null,
                    "error_type": job.errorType.map { .string($0) } ?? .null,
                    "error_text": job.errorText.map { .string($0) } ?? .null,
                    "resend_count": .number(Double(job.resendCount)), "has_body": .bool(job.body != nil),
                ]
            }),
            "resent": .array(outcome.resent.map { .string($0.uuidString.lowercased()) }),
            "count": .number(Double(outcome.resent.count)),
            "not_resent": .array(outcome.notResent.map {
                ["uuid": .string($0.uuid.uuidString.lowercased()), "reason": .string($0.reason)]
            }),
        ]
        return value.serialized()
    }
}

/// The publisher of a dry run: never called (a dry run publishes nothing).
private struct NoPublisher: JobPublisher {
    func publish(_ job: ReceiptJob) async throws(PublishFailure) {
        throw .unavailable("dry run: nothing is published")
    }
    var isConnected: Bool { false }
    func flush(timeout: Duration) async -> Bool { true }
}
