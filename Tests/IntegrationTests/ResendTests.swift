import Foundation
import KassaModel
import Testing

extension ClusterSuites {
    /// Re-sending failed receipts on the real cluster: `POST /{group}/resend` and `kassa resend`.
    /// Shares the cluster with ReceiptPathTests; under ClusterSuites the two never run at once,
    /// so the ingress that suite's SIGTERM test stops is back before these start.
    @Suite(.serialized) struct ResendTests {
        /// A sell body that passes validation but that the tenant's kassas refuse (error 2003): the
        /// company INN is another tenant's.
        static func wrongINNBody(_ tenant: TestCluster.Tenant, otherINN: String, externalID: String) -> String {
            sellBody(tenant, externalID: externalID).replacingOccurrences(of: "\"inn\":\"\(tenant.inn)\"", with: "\"inn\":\"\(otherINN)\"")
        }

        @Test func aFailedReceiptIsResentUnderItsUUIDAndFailsAgainForTheSameReasonWithoutADocument() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let tenant = cluster.tenants[2]
            let token = try await api.token(tenant)
            let posted = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token,
                                               body: Self.wrongINNBody(tenant, otherINN: cluster.tenants[0].inn, externalID: "it-resend-\(UUID().uuidString)"))
            let uuid = try #require(posted.uuid, "\(posted.json.serialized())")
            let failed = try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token)
            #expect(failed.statusText == "fail", "\(failed.json.serialized())")
            #expect(failed.errorCode == 2003)
            let reason = try #require(failed.errorText)

            // Through the API.
            let resent = try await api.request(.POST, "/\(tenant.groupCode)/resend", token: token, body: #"{"uuids": ["\#(uuid)"]}"#)
            #expect(resent.status == 200, "\(resent.json.serialized())")
            #expect(resent.json["resent"] == .array([.string(uuid)]))
            #expect(resent.json["count"] == .number(1))
            #expect(resent.json["not_resent"] == .array([]))
            // The job was reopened before the answer: any report from now on shows wait until the
            // dispatcher has run it again, then the new outcome.
            let again = try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token)
            #expect(again.statusText == "fail", "\(again.json.serialized())")
            #expect(again.uuid == uuid)
            #expect(again.errorCode == 2003)
            #expect(again.errorText == reason)
            #expect(try documents(forJob: uuid, in: cluster.fnDirectory).isEmpty)
            // The registry counted the resend: the job is failed again after one reopening.
            let listed = try await Self.kassaResend(cluster, ["--group-code", tenant.groupCode, "--uuid", uuid, "--dry-run", "--json"])
            #expect(Self.resendCount(of: uuid, in: listed) == 1, "\(listed.serialized())")

            // Through the admin command, same uuid again.
            let byCommand = try await Self.kassaResend(cluster, ["--group-code", tenant.groupCode, "--uuid", uuid, "--json"])
            #expect(byCommand["resent"] == .array([.string(uuid)]), "\(byCommand.serialized())")
            #expect(byCommand["count"] == .number(1))
            let third = try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token)
            #expect(third.statusText == "fail" && third.errorCode == 2003 && third.errorText == reason, "\(third.json.serialized())")
            let relisted = try await Self.kassaResend(cluster, ["--group-code", tenant.groupCode, "--uuid", uuid, "--dry-run", "--json"])
            #expect(Self.resendCount(of: uuid, in: relisted) == 2, "\(relisted.serialized())")
            #expect(try documents(forJob: uuid, in: cluster.fnDirectory).isEmpty)
        }

        @Test func aResendFilterThatMatchesNothingResendsNothing() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let tenant = cluster.tenants[3]
            let token = try await api.token(tenant)
            let posted = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token,
                                               body: Self.wrongINNBody(tenant, otherINN: cluster.tenants[0].inn, externalID: "it-nomatch-\(UUID().uuidString)"))
            let uuid = try #require(posted.uuid, "\(posted.json.serialized())")
            #expect(try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token).errorCode == 2003)

            // A failure exists, but none accepted in 2020 and none with this code.
            for filter in [#"{"error_code": 2003, "from": "01.01.2020 00:00:00", "to": "02.01.2020 00:00:00"}"#, #"{"error_code": 9999}"#] {
                let answer = try await api.request(.POST, "/\(tenant.groupCode)/resend", token: token, body: filter)
                #expect(answer.status == 200, "\(filter): \(answer.json.serialized())")
                #expect(answer.json["count"] == .number(0))
                #expect(answer.json["resent"] == .array([]))
                #expect(answer.json["not_resent"] == .array([]))
            }
            // Asked by uuid with a type it does not have: named as not re-sent.
            let mismatched = try await api.request(.POST, "/\(tenant.groupCode)/resend", token: token, body: #"{"uuids": ["\#(uuid)"], "error_type": "driver"}"#)
            #expect(mismatched.json["count"] == .number(0))
            guard case .array(let notResent)? = mismatched.json["not_resent"] else {
                Issue.record("no not_resent array: \(mismatched.json.serialized())")
                return
            }
            #expect(notResent.count == 1)
            #expect(notResent.first?["uuid"] == .string(uuid))
            // Untouched: still the first failure, nothing fiscalized.
            let report = try await api.request(.GET, "/\(tenant.groupCode)/report/\(uuid)", token: token)
            #expect(report.statusText == "fail" && report.errorCode == 2003)
            let listed = try await Self.kassaResend(cluster, ["--group-code", tenant.groupCode, "--uuid", uuid, "--dry-run", "--json"])
            #expect(Self.resendCount(of: uuid, in: listed) == 0, "\(listed.serialized())")
            #expect(try documents(forJob: uuid, in: cluster.fnDirectory).isEmpty)

            // Bad input and bad tokens answer like the other calls.
            let bad = try await api.request(.POST, "/\(tenant.groupCode)/resend", token: token, body: #"{"error_code": "2003", "limit": 0}"#)
            #expect(bad.status == 400)
            #expect(bad.errorCode == 32)
            #expect(bad.errorText?.contains("error_code: an integer") == true && bad.errorText?.contains("limit: an integer from 1") == true,
                    "\(bad.json.serialized())")
            let noToken = try await api.request(.POST, "/\(tenant.groupCode)/resend", body: "{}")
            #expect(noToken.status == 401 && noToken.errorCode == 10)
            let otherGroup = try await api.request(.POST, "/\(cluster.tenants[2].groupCode)/resend", token: token, body: "{}")
            #expect(otherGroup.status == 401 && otherGroup.errorCode == 20)
        }

        // MARK: The admin command

        /// Runs `kassa resend ARGS --db … --kafka …` against the test cluster (settings from the
        /// cluster's `env` file) and parses its JSON output.
        static func kassaResend(_ cluster: TestCluster.Info, _ arguments: [String]) async throws -> JSONValue {
            let settings = try clusterSettings(cluster)
            guard let db = settings["KASSA_DB"], let kafka = settings["KASSA_KAFKA"] else {
                throw TestCluster.ClusterError(text: "the cluster's env file has no KASSA_DB or KASSA_KAFKA")
            }
            let binary = ProcessInfo.processInfo.environment["KASSA_BIN"] ?? cluster.root.appendingPathComponent(".build/debug/kassa").path
            // librdkafka 2.16 first, as cluster/env.sh does (Debian's 2.0.2 cannot talk to Tansu).
            let local = cluster.root.appendingPathComponent(".local/lib").path
            let libraryPath = local + (ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"].map { ":" + $0 } ?? "")
            let finished = try await ChildProcess.run(
                URL(fileURLWithPath: binary), ["resend"] + arguments + ["--db", db, "--kafka", kafka, "--log-level", "error"],
                environment: ["LD_LIBRARY_PATH": libraryPath], captureOutput: true,
                errors: .discarded)
            guard finished.status == 0 else {
                throw TestCluster.ClusterError(text: "kassa resend \(arguments) exited with \(finished.status): \(finished.output)")
            }
            return try JSONValue.parse(Array(finished.output.utf8))
        }

        /// `KEY=value` lines of the cluster's env file, quotes removed.
        static func clusterSettings(_ cluster: TestCluster.Info) throws -> [String: String] {
            let text = try String(contentsOf: cluster.directory.appendingPathComponent("env"), encoding: .utf8)
            var settings: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let equals = line.firstIndex(of: "=") else { continue }
                var value = String(line[line.index(after: equals)...])
                if value.count >= 2, value.hasPrefix("'"), value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
                settings[String(line[..<equals])] = value
            }
            return settings
        }

        /// The `resend_count` of one job in `kassa resend --dry-run --json` output, nil if not listed.
        static func resendCount(of uuid: String, in listed: JSONValue) -> Int? {
            guard case .array(let matched)? = listed["matched"] else { return nil }
            for job in matched where job["uuid"] == .string(uuid) {
                if case .number(let count)? = job["resend_count"] { return Int(count) }
            }
            return nil
        }
    }
}
