import Foundation
import Testing

@testable import Registry

/// Migration v3: a second document for a recorded job (resend-and-annul) keeps its kassa's
/// intent until the annulment is on record; the refund's own commit marks it annulled.
extension RegistryTests {
    @Test func aDuplicateKeepsItsIntentUntilTheAnnulmentIsOnRecord() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let first = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "9999000000001"))
        let second = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 2, fn: "9999000000002"))
        let leaseOne = try #require(try await registry.acquireLease(kassaID: first.id, owner: "d1", ttl: .seconds(60)))
        let leaseTwo = try #require(try await registry.acquireLease(kassaID: second.id, owner: "d1", ttl: .seconds(60)))
        let job = UUID()
        #expect(try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "order-1",
                                               operation: "sell", acceptedAt: Date(), callbackURL: nil, body: "{}"))

        // In doubt on the first kassa, resent to the second, which records it.
        try await registry.writeIntent(kassaID: first.id, jobUUID: job, epoch: leaseOne.epoch, lastDocumentNumber: 0)
        try await registry.writeIntent(kassaID: second.id, jobUUID: job, epoch: leaseTwo.epoch, lastDocumentNumber: 0)
        var onSecond = Self.document(1, fn: "9999000000002")
        onSecond.jobUUID = job
        #expect(try await registry.commitResult(onSecond, jobUUID: job, kassaID: second.id, epoch: leaseTwo.epoch) == .recorded)
        #expect(try await registry.intent(kassaID: second.id) == nil)

        // The first kassa's archive shows it made the receipt too: a duplicate, intent kept.
        let onFirst = Self.document(7, fn: "9999000000001")
        let outcome = try await registry.commitResult(onFirst, jobUUID: job, kassaID: first.id, epoch: leaseOne.epoch)
        guard case .duplicate(let existing) = outcome else {
            Issue.record("expected a duplicate, got \(outcome)")
            return
        }
        #expect(existing.fnSerial == "9999000000002")
        #expect(try await registry.intent(kassaID: first.id)?.jobUUID == job)
        #expect(try await registry.kassa(id: first.id)?.lastDocumentNumber == 7)

        // A stale epoch cannot put the annulment on record.
        let refund = UUID()
        let annulment = AnnulmentRecord(jobUUID: job, kassaID: first.id, fnSerial: "9999000000001", fiscalDocumentNumber: 7,
                                        fiscalDocumentAttribute: 3_000_000_007, totalKopecks: 12_345, annulJobUUID: refund)
        await #expect(throws: RegistryError.self) {
            try await registry.recordDuplicate(annulment, epoch: leaseOne.epoch - 1, tenantID: tenant.id, groupCode: tenant.groupCode,
                                               annulExternalID: "annul:1", annulOperation: "sell_refund", annulBody: "{\"r\":1}")
        }
        #expect(try await registry.intent(kassaID: first.id)?.jobUUID == job)

        // Recorded once (a second call changes nothing), the intent goes, the refund is pending.
        #expect(try await registry.recordDuplicate(annulment, epoch: leaseOne.epoch, tenantID: tenant.id, groupCode: tenant.groupCode,
                                                   annulExternalID: "annul:1", annulOperation: "sell_refund", annulBody: "{\"r\":1}"))
        #expect(!(try await registry.recordDuplicate(annulment, epoch: leaseOne.epoch, tenantID: tenant.id, groupCode: tenant.groupCode,
                                                     annulExternalID: "annul:1", annulOperation: "sell_refund", annulBody: "{\"r\":1}")))
        #expect(try await registry.intent(kassaID: first.id) == nil)
        let pending = try await registry.pendingAnnulments(tenantID: tenant.id)
        #expect(pending.map(\.0.annulJobUUID) == [refund])
        #expect(pending.first?.body == "{\"r\":1}")
        #expect(try await registry.job(uuid: refund)?.0.status == .wait)

        // The refund, in doubt on the first kassa, is not offered for running again.
        try await registry.writeIntent(kassaID: first.id, jobUUID: refund, epoch: leaseOne.epoch, lastDocumentNumber: 7)
        #expect(try await registry.pendingAnnulments(tenantID: tenant.id).isEmpty)

        // Its own result marks the duplicate annulled; the job's report keeps the second kassa's document.
        var refundDocument = Self.document(8, fn: "9999000000001")
        refundDocument.jobUUID = refund
        #expect(try await registry.commitResult(refundDocument, jobUUID: refund, kassaID: first.id, epoch: leaseOne.epoch) == .recorded)
        let annulled = try await registry.annulments(jobUUID: job)
        #expect(annulled.count == 1)
        #expect(annulled.first?.annulledAt != nil)
        #expect(try await registry.pendingAnnulments(tenantID: tenant.id).isEmpty)
        #expect(try await registry.job(uuid: job)?.1?.fnSerial == "9999000000002")
    }

    @Test func theSameDocumentCommittedAgainIsNotADuplicate() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let kassa = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "9999000000001"))
        let lease = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "d1", ttl: .seconds(60)))
        let job = UUID()
        _ = try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "o",
                                           operation: "sell", acceptedAt: Date(), callbackURL: nil)
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: lease.epoch, lastDocumentNumber: 0)
        var document = Self.document(3, fn: "9999000000001")
        document.jobUUID = job
        #expect(try await registry.commitResult(document, jobUUID: job, kassaID: kassa.id, epoch: lease.epoch) == .recorded)
        // A reconcile finding the same document again (its intent re-written meanwhile) drops the intent.
        try await registry.writeIntent(kassaID: kassa.id, jobUUID: job, epoch: lease.epoch, lastDocumentNumber: 2)
        #expect(try await registry.commitResult(document, jobUUID: job, kassaID: kassa.id, epoch: lease.epoch) == .alreadyRecorded)
        #expect(try await registry.intent(kassaID: kassa.id) == nil)
    }
}

/// writeIntent refuses to put a job on a second kassa while it may be in the first one's FN, and
/// never sends a finished job: what keeps exactly-once across a partition moving between dispatchers.
extension RegistryTests {
    @Test func anIntentIsOnlyWrittenForAJobStillWaitingAndNotInDoubtElsewhere() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let first = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 1, fn: "9999000000011"))
        let second = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 2, fn: "9999000000012"))
        let one = try #require(try await registry.acquireLease(kassaID: first.id, owner: "old", ttl: .seconds(60)))
        let two = try #require(try await registry.acquireLease(kassaID: second.id, owner: "new", ttl: .seconds(60)))
        let job = UUID()
        _ = try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "o1",
                                           operation: "sell", acceptedAt: Date(), callbackURL: nil)

        #expect(try await registry.writeIntent(kassaID: first.id, jobUUID: job, epoch: one.epoch, lastDocumentNumber: 0) == .written)
        // The job's partition moved: the new owner must not send it while the first kassa may hold it...
        #expect(try await registry.writeIntent(kassaID: second.id, jobUUID: job, epoch: two.epoch, lastDocumentNumber: 0)
                == .inDoubtElsewhere(kassaID: first.id))
        #expect(try await registry.intent(kassaID: second.id) == nil)
        // ...unless resend-and-annul sends it there on purpose.
        #expect(try await registry.writeIntent(kassaID: second.id, jobUUID: job, epoch: two.epoch, lastDocumentNumber: 0,
                                               allowElsewhere: true) == .written)
        var document = Self.document(1, fn: "9999000000012")
        document.jobUUID = job
        #expect(try await registry.commitResult(document, jobUUID: job, kassaID: second.id, epoch: two.epoch) == .recorded)

        // Done: no kassa may take it again.
        let third = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: 3, fn: "9999000000013"))
        let three = try #require(try await registry.acquireLease(kassaID: third.id, owner: "new", ttl: .seconds(60)))
        #expect(try await registry.writeIntent(kassaID: third.id, jobUUID: job, epoch: three.epoch, lastDocumentNumber: 0) == .jobFinished(.done))
        #expect(try await registry.intent(kassaID: third.id) == nil)
    }

    @Test func twoDispatchersRacingForOneJobPutItOnOneKassa() async throws {
        let (registry, _) = try await Self.registry(poolSize: 8)
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        var leases: [(Int64, Int64)] = []
        for slot in 1...6 {
            let kassa = try await registry.insertKassa(Self.placement(tenantID: tenant.id, slot: slot, fn: "99990000001\(slot)0"))
            let lease = try #require(try await registry.acquireLease(kassaID: kassa.id, owner: "d\(slot)", ttl: .seconds(60)))
            leases.append((kassa.id, lease.epoch))
        }
        for round in 0..<10 {
            let job = UUID()
            _ = try await registry.registerJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "race-\(round)",
                                               operation: "sell", acceptedAt: Date(), callbackURL: nil)
            let outcomes = try await withThrowingTaskGroup(of: IntentOutcome.self) { group in
                for (kassa, epoch) in leases {
                    group.addTask { try await registry.writeIntent(kassaID: kassa, jobUUID: job, epoch: epoch, lastDocumentNumber: 0) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == .written }.count == 1, "round \(round): \(outcomes)")
            for (kassa, epoch) in leases {
                if let intent = try await registry.intent(kassaID: kassa) {
                    try await registry.releaseIntent(kassaID: kassa, jobUUID: intent.jobUUID, epoch: epoch, lastDocumentNumber: 0)
                }
            }
        }
    }
}

extension RegistryTests {
    @Test func admittingAJobRegistersItOnceAndThenReportsItsStatus() async throws {
        let (registry, _) = try await Self.registry()
        defer { registry.close() }
        let tenant = try await Self.tenant(registry)
        let job = UUID()
        func admit() async throws -> Registry.Admission {
            try await registry.admitJob(uuid: job, tenantID: tenant.id, groupCode: tenant.groupCode, externalID: "a1", operation: "sell",
                                        acceptedAt: Date(), callbackURL: nil, body: "{}")
        }
        #expect(try await admit() == .registered)
        #expect(try await admit() == .known(status: .wait, lastResentAt: nil))
        try await registry.failJob(jobUUID: job, kassaID: nil, epoch: nil, code: 1, type: "timeout", text: "late")
        #expect(try await admit() == .known(status: .fail, lastResentAt: nil))
        let reopened = try await registry.reopenForResend(uuids: [job], tenantID: tenant.id)
        #expect(reopened.count == 1)
        guard case .known(.wait, let resentAt) = try await admit() else {
            Issue.record("a reopened job is waiting again")
            return
        }
        #expect(resentAt != nil)
    }
}
