import Foundation
import AsyncHTTPClient
import KassaModel
import Testing

extension ClusterSuites {
    /// A receipt's whole path on real parts: ingress → Kafka → dispatcher → kassa → registry → report.
    @Suite(.serialized) struct ReceiptPathTests {
        @Test func aPostedReceiptReachesDoneWithTheFNArchivesAttributes() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let tenant = cluster.tenants[0]
            let token = try await api.token(tenant)
            let externalID = "it-done-\(UUID().uuidString)"
            let posted = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: sellBody(tenant, externalID: externalID))
            #expect(posted.status == 200)
            #expect(posted.statusText == "wait")
            let uuid = try #require(posted.uuid)
            #expect(uuid == JobID.derive(groupCode: tenant.groupCode, externalID: externalID).uuidString.lowercased())

            let report = try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token)
            #expect(report.statusText == "done", "report: \(report.json.serialized())")
            let payload = try #require(report.json["payload"])

            let docs = try documents(forJob: uuid, in: cluster.fnDirectory)
            #expect(docs.count == 1)
            let doc = try #require(docs.first)
            #expect(payload["fn_number"] == doc["fn_serial"])
            #expect(payload["fiscal_document_number"] == doc["fiscal_document_number"])
            #expect(payload["fiscal_document_attribute"] == doc["fiscal_document_attribute"])
            #expect(payload["fiscal_receipt_number"] == doc["fiscal_receipt_number"])
            #expect(payload["shift_number"] == doc["shift_number"])
            #expect(payload["receipt_datetime"] == doc["datetime"])
            #expect(payload["ecr_registration_number"] == doc["registration_number"])
            #expect(payload["total"] == .number(301))
            #expect(doc["total"] == .number(30100))
            #expect(doc["inn"] == .string(tenant.inn))
        }

        @Test func aRepeatedExternalIDGivesTheSameUUIDAndOneDocument() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let tenant = cluster.tenants[1]
            let token = try await api.token(tenant)
            let externalID = "it-dup-\(UUID().uuidString)"
            let body = sellBody(tenant, externalID: externalID)
            let first = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: body)
            let uuid = try #require(first.uuid)
            _ = try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token)
            let second = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: body)
            #expect(second.errorCode == 33)
            #expect(second.uuid == uuid)
            #expect(second.statusText == "wait")

            // A re-post that races the first copy through Kafka is also fiscalized once.
            let racingID = "it-race-\(UUID().uuidString)"
            let racingBody = sellBody(tenant, externalID: racingID)
            async let a = api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: racingBody)
            async let b = api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: racingBody)
            let (ra, rb) = try await (a, b)
            #expect(ra.uuid != nil && ra.uuid == rb.uuid)
            let racing = try #require(ra.uuid)
            #expect(try await api.awaitFinal(group: tenant.groupCode, uuid: racing, token: token).statusText == "done")
            // Wait for every later job of this tenant's partition to be done too, so a straggling copy would have run.
            let marker = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: sellBody(tenant, externalID: "it-marker-\(UUID().uuidString)"))
            _ = try await api.awaitFinal(group: tenant.groupCode, uuid: try #require(marker.uuid), token: token)

            #expect(try documents(forJob: uuid, in: cluster.fnDirectory).count == 1)
            #expect(try documents(forJob: racing, in: cluster.fnDirectory).count == 1)
        }

        @Test func invalidReceiptsGetFieldSpecificErrorsAndLeaveNoDocument() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let tenant = cluster.tenants[2]
            let token = try await api.token(tenant)
            let cases: [(String, String, Int, String)] = [
                ("it-bad-price", sellBody(tenant, externalID: "it-bad-price", price: "\"150.5\""), 32, "receipt.items[0].price"),
                ("it-bad-sum", sellBody(tenant, externalID: "it-bad-sum", price: "150.5", quantity: "2", sum: "300"), 13, "receipt.items[0].sum"),
                ("it-bad-qty", sellBody(tenant, externalID: "it-bad-qty", quantity: "0.0001"), 32, "receipt.items[0].quantity"),
                ("it-bad-ts", sellBody(tenant, externalID: "it-bad-ts").replacingOccurrences(of: "23.11.2026 10:15:02", with: "2026-11-23"), 32, "timestamp"),
            ]
            for (externalID, body, code, path) in cases {
                let answer = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: body)
                #expect(answer.status == 400, "\(externalID)")
                #expect(answer.errorCode == code, "\(externalID): \(answer.json.serialized())")
                #expect(answer.errorText?.contains(path) == true, "\(externalID): \(answer.errorText ?? "")")
                #expect(answer.uuid == nil)
            }
            let notJSON = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: "{not json")
            #expect(notJSON.errorCode == 32)
            let badOperation = try await api.request(.POST, "/\(tenant.groupCode)/sell_everything", token: token, body: sellBody(tenant, externalID: "x"))
            #expect(badOperation.errorCode == 31)

            // A valid receipt after them, in the same partition: once it is done, anything published
            // before it would have been registered.
            let valid = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: sellBody(tenant, externalID: "it-valid-\(UUID().uuidString)"))
            #expect(try await api.awaitFinal(group: tenant.groupCode, uuid: try #require(valid.uuid), token: token).statusText == "done")
            for (externalID, _, _, _) in cases {
                let uuid = JobID.derive(groupCode: tenant.groupCode, externalID: externalID).uuidString.lowercased()
                let report = try await api.request(.GET, "/\(tenant.groupCode)/report/\(uuid)", token: token)
                #expect(report.errorCode == 34, "\(externalID) must not be registered")
                #expect(try documents(forJob: uuid, in: cluster.fnDirectory).isEmpty)
            }
        }

        @Test func aKassaErrorTheTenantMustFixFailsTheJobWithItsReason() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let tenant = cluster.tenants[1]
            let token = try await api.token(tenant)
            // Valid on its own, but not what this tenant's kassas were registered with.
            let otherINN = cluster.tenants[0].inn
            let wrongINN = sellBody(tenant, externalID: "it-inn-\(UUID().uuidString)").replacingOccurrences(of: "\"inn\":\"\(tenant.inn)\"", with: "\"inn\":\"\(otherINN)\"")
            let wrongAddress = sellBody(tenant, externalID: "it-addr-\(UUID().uuidString)").replacingOccurrences(of: tenant.paymentAddress, with: tenant.paymentAddress + "/shop")
            for (body, code, type) in [(wrongINN, 2003, "agent"), (wrongAddress, 2007, "driver")] {
                let posted = try await api.request(.POST, "/\(tenant.groupCode)/sell", token: token, body: body)
                let uuid = try #require(posted.uuid, "\(posted.json.serialized())")
                let report = try await api.awaitFinal(group: tenant.groupCode, uuid: uuid, token: token)
                #expect(report.statusText == "fail", "\(report.json.serialized())")
                #expect(report.errorCode == code)
                #expect(report.json["error"]?["type"] == .string(type))
                #expect(try documents(forJob: uuid, in: cluster.fnDirectory).isEmpty)
            }
        }

        @Test func anotherTenantsReportIsRefused() async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL)
            let owner = cluster.tenants[0]
            let stranger = cluster.tenants[3]
            let ownerToken = try await api.token(owner)
            let strangerToken = try await api.token(stranger)
            let posted = try await api.request(.POST, "/\(owner.groupCode)/sell", token: ownerToken, body: sellBody(owner, externalID: "it-own-\(UUID().uuidString)"))
            let uuid = try #require(posted.uuid)
            _ = try await api.awaitFinal(group: owner.groupCode, uuid: uuid, token: ownerToken)

            let viaOwnGroup = try await api.request(.GET, "/\(stranger.groupCode)/report/\(uuid)", token: strangerToken)
            #expect(viaOwnGroup.errorCode == 30)
            #expect(viaOwnGroup.json["payload"] == nil || viaOwnGroup.json["payload"] == .null)
            let viaOwnersGroup = try await api.request(.GET, "/\(owner.groupCode)/report/\(uuid)", token: strangerToken)
            #expect(viaOwnersGroup.errorCode == 20)
            #expect(viaOwnersGroup.status == 401)
            let noToken = try await api.request(.GET, "/\(owner.groupCode)/report/\(uuid)")
            #expect(noToken.errorCode == 10)
            let wrongPassword = try await api.request(.POST, "/getToken", body: #"{"login":"\#(owner.login)","pass":"nope"}"#)
            #expect(wrongPassword.errorCode == 12)
        }

        @Test func sigtermOnTheIngressLosesNoAcknowledgedReceipt() async throws {
            // Clients of this test's own (see APIClient.http): one for the calls the stop refuses,
            // a fresh one for after the restart.
            try await withOwnHTTPClient { stopping in
                try await withOwnHTTPClient { restarted in
                    try await sigtermOnTheIngress(stopping: stopping, restarted: restarted)
                }
            }
        }

        private func sigtermOnTheIngress(stopping: HTTPClient, restarted: HTTPClient) async throws {
            let cluster = try await TestCluster.shared.start()
            let api = APIClient(base: cluster.baseURL, http: stopping)
            let tenant = cluster.tenants[3]
            let token = try await api.token(tenant)
            let pidFile = cluster.directory.appendingPathComponent("pids/ingress.pid")
            let pid = try #require(Int32(String(contentsOf: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))

            // Keep posting from several clients while the ingress gets SIGTERM halfway.
            let (acknowledged, sawNotReady) = try await withThrowingTaskGroup(of: (acked: [String], notReady: Bool).self) { group in
                for client in 0..<4 {
                    group.addTask {
                        var acked: [String] = []
                        for n in 0..<60 {
                            guard let answer = try? await api.request(.POST, "/\(tenant.groupCode)/sell", token: token,
                                                                       body: sellBody(tenant, externalID: "it-term-\(client)-\(n)-\(UUID().uuidString)"))
                            else { break }  // connection refused: the node is gone
                            if answer.status == 200, answer.statusText == "wait", let uuid = answer.uuid { acked.append(uuid) }
                        }
                        return (acked, false)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(300))  // let some receipts through first; not synchronization
                    kill(pid, SIGTERM)
                    // While it drains, readiness must fail (the listener is still open for 2 s).
                    for _ in 0..<100 {
                        var probe = HTTPClientRequest(url: cluster.ingressURL + "/readyz")
                        probe.method = .GET
                        guard let response = try? await stopping.execute(probe, timeout: .seconds(2)) else { break }
                        if response.status == .serviceUnavailable { return ([], true) }
                        try await Task.sleep(for: .milliseconds(20))  // the probe interval
                    }
                    return ([], false)
                }
                var all: [String] = []
                var notReady = false
                for try await part in group {
                    all += part.acked
                    notReady = notReady || part.notReady
                }
                return (all, notReady)
            }
            #expect(acknowledged.count > 0)
            #expect(sawNotReady, "readiness should fail while the ingress drains")

            // Readiness fails while it drains, then the process exits by itself.
            var exited = false
            for _ in 0..<300 where !exited {
                exited = kill(pid, 0) != 0
                if !exited { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(exited, "the ingress should exit after draining")

            // Bring the ingress back (cluster/up starts only what is missing) and check every ack.
            let status = try await TestCluster.run(cluster.root.appendingPathComponent("cluster/up").path, environment: [
                "KASSA_CLUSTER_DIR": cluster.directory.path, "KASSA_PORT_OFFSET": "\(TestCluster.shared.portOffset)", "KASSA_SPEED": "20", "KASSA_SKIP_BUILD": "1",
            ])
            #expect(status == 0)
            let afterRestart = APIClient(base: cluster.baseURL, http: restarted)
            let freshToken = try await afterRestart.token(tenant)
            for uuid in acknowledged {
                let report = try await afterRestart.awaitFinal(group: tenant.groupCode, uuid: uuid, token: freshToken, within: 120)
                #expect(report.statusText == "done", "acknowledged \(uuid) was lost: \(report.json.serialized())")
                #expect(try documents(forJob: uuid, in: cluster.fnDirectory).count == 1)
            }
        }
    }
}
