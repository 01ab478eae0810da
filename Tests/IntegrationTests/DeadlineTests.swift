import Foundation
import KassaModel
import Testing

/// Deadlines on a real cluster: a tenant whose kassas are all down sees its receipt flagged late
/// (`flag`) or failed with ATOL's queue timeout (`fail`); a failed one is re-sent with its uuid
/// once the kassas are back, and fiscalized once. Runs on the drills' cluster (it takes a
/// tenant's kassas down), inside their serialized suite.
extension ClusterSuites.ChaosDrillTests {
    /// Runs SQL on the cluster's registry through psql.
    func sql(_ cluster: TestCluster.Info, _ statement: String) async throws -> String {
        let finished = try await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/psql"),
            ["-h", "127.0.0.1", "-p", "\(55432 + TestCluster.drills.portOffset)", "-U", "postgres", "-d", "kassa", "-tAc", statement],
            captureOutput: true)
        guard finished.status == 0 else { throw TestCluster.ClusterError(text: "psql failed: \(statement)") }
        return finished.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The emulator's fault control plane.
    func faults(_ method: String, _ body: String? = nil) async throws -> Int {
        let control = APIClient(base: "http://127.0.0.1:\(20999 + TestCluster.drills.portOffset)")
        return try await control.request(method == "POST" ? .POST : .DELETE, "/faults", body: body).status
    }

    @Test func aReceiptPastItsDeadlineIsFlaggedOrFailedAndCanBeResent() async throws {
        let cluster = try await TestCluster.drills.start()
        let tenant = try #require(cluster.tenants.first { $0.groupCode == "shop-books" })
        let api = APIClient(base: cluster.baseURL)
        let token = try await api.token(tenant)
        let serials = try await sql(cluster, """
            SELECT string_agg(k.fn_serial, ',') FROM kassas k JOIN tenants t ON t.id = k.tenant_id WHERE t.group_code = 'shop-books'
            """).split(separator: ",").map(String.init)
        #expect(serials.count == 24)
        do {
            try await pastTheDeadline(cluster, tenant, api, token, serials)
        } catch {
            // The drills after this one need the tenant's default deadline back.
            _ = try? await sql(cluster, "UPDATE tenants SET deadline_ms = 300000, deadline_action = 'flag' WHERE group_code = 'shop-books'")
            throw error
        }
    }

    private func pastTheDeadline(_ cluster: TestCluster.Info, _ tenant: TestCluster.Tenant, _ api: APIClient, _ token: String,
                                 _ serials: [String]) async throws {
        // Every kassa of the tenant down; a 2 s deadline that only flags.
        _ = try await sql(cluster, "UPDATE tenants SET deadline_ms = 2000, deadline_action = 'flag' WHERE group_code = 'shop-books'")
        for serial in serials {
            #expect(try await faults("POST", #"{"fault":"down","target":{"fn_serial":"\#(serial)"}}"#) == 200)
        }
        let late = try await api.request(.POST, "/shop-books/sell", token: token, body: sellBody(tenant, externalID: "deadline-flag-\(UUID())"))
        let lateUUID = try #require(late.uuid)
        var flagged = false
        let deadline = ContinuousClock.now + .seconds(60)
        while !flagged, ContinuousClock.now < deadline {
            let report = try await api.request(.GET, "/shop-books/report/\(lateUUID)", token: token)
            #expect(report.statusText == "wait")
            flagged = report.json["warnings"]?["deadline"] != nil
            if !flagged { try await Task.sleep(for: .milliseconds(200)) }  // the polling interval
        }
        #expect(flagged, "a receipt queued past the deadline carries a deadline warning")

        // Now the tenant fails receipts past the deadline instead.
        _ = try await sql(cluster, "UPDATE tenants SET deadline_action = 'fail' WHERE group_code = 'shop-books'")
        let doomed = try await api.request(.POST, "/shop-books/sell", token: token, body: sellBody(tenant, externalID: "deadline-fail-\(UUID())"))
        let doomedUUID = try #require(doomed.uuid)
        let failed = try await api.awaitFinal(group: "shop-books", uuid: doomedUUID, token: token, within: 60)
        #expect(failed.statusText == "fail")
        #expect(failed.errorCode == 1)
        #expect(failed.json["error"]?["type"] == .string("timeout"))
        // The receipt flagged before is still queued past the deadline: it fails too.
        let alsoFailed = try await api.awaitFinal(group: "shop-books", uuid: lateUUID, token: token, within: 60)
        #expect(alsoFailed.statusText == "fail")
        #expect(alsoFailed.errorCode == 1)
        for uuid in [lateUUID, doomedUUID] {
            #expect(try documents(forJob: uuid, in: cluster.fnDirectory).isEmpty)
        }

        // The kassas come back and the deadline is the default again: both are re-sent with
        // their uuids and fiscalized once.
        _ = try await sql(cluster, "UPDATE tenants SET deadline_ms = 300000, deadline_action = 'flag' WHERE group_code = 'shop-books'")
        #expect(try await faults("DELETE") == 200)
        let resend = try await api.request(.POST, "/shop-books/resend", token: token, body: #"{"error_type":"timeout"}"#)
        #expect(resend.status == 200)
        #expect(resend.json["count"] == .number(2))
        for uuid in [lateUUID, doomedUUID] {
            let resent = try await api.awaitFinal(group: "shop-books", uuid: uuid, token: token, within: 90)
            #expect(resent.statusText == "done")
            #expect(try documents(forJob: uuid, in: cluster.fnDirectory).count == 1)
        }
    }
}
