import Foundation
import GroundTruth
import Testing

@Suite("Ground truth: FN archives and the acknowledged log against the reports")
struct GroundTruthCheckTests {
    let a = Scene.job("order-a")
    let b = Scene.job("order-b")
    let c = Scene.job("order-c")
    let d = Scene.job("order-d")
    let fnA = "9999010010010001"
    let fnB = "9999010010020002"

    @Test("a clean run passes: done, failed with a reason and in flight add up")
    func cleanRun() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        for job in [a, b, c, d] { scene.post(job) }
        let docA = scene.receipt(a, on: fnA)
        let docB = scene.receipt(b, on: fnB)
        scene.closeShift(on: fnB)
        let result = try await scene.check([
            a: .done(docA), b: .done(docB), c: .failed(2003, "agent", "INN mismatch"), d: .waiting,
        ])
        #expect(result.passed)
        #expect(result.violations.isEmpty)
        #expect(result.counts.acknowledged == 4)
        #expect(result.counts.done == 2)
        #expect(result.counts.failed == 1)
        #expect(result.counts.failedByReason == ["2003 agent": 1])
        #expect(result.counts.inFlight == 1)
        #expect(result.counts.inFlightInDoubt == 0)
        #expect(result.counts.documentsRead == 5)  // 2 shift openings, 2 receipts, 1 closing
        #expect(result.counts.receiptDocuments == 2)
        #expect(result.counts.conservation == 0)
        // The caller decides whether a receipt still waiting is acceptable.
        #expect(result.passed(allowingInFlight: true))
        #expect(!result.passed(allowingInFlight: false))
        #expect(result.text(allowingInFlight: false).hasPrefix("ground truth: FAILED"))
        #expect(result.text().hasPrefix("ground truth: PASSED"))
    }

    @Test("a receipt the API does not know and no FN holds is lost; so is one reported done without a document")
    func lost() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        scene.post(b)
        scene.post(c)
        let docC = scene.receipt(c, on: fnA)
        let phantom = ObservedReport(status: .done, fnNumber: fnB, fiscalDocumentNumber: 9, fiscalDocumentAttribute: 99, totalKopecks: 30100)
        let result = try await scene.check([b: phantom, c: .done(docC)])  // a: code 34
        #expect(!result.passed)
        #expect(result.counts.lost == 2)
        #expect(Set(result.violations(.lost).map(\.uuid)) == [a, b])
        #expect(result.violations(.lost).allSatisfy { $0.groupCode == Scene.group })
        #expect(result.counts.done == 1)
        #expect(result.counts.acknowledgedWithViolations == 2)
        #expect(result.counts.conservation == 0)  // 3 = done 1 + with violations 2
        #expect(result.text().contains("lost \(a)"))
    }

    @Test("two effective documents of one receipt are a duplicate, naming both FNs")
    func duplicated() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let first = scene.receipt(a, on: fnA)
        scene.receipt(a, on: fnB)
        let result = try await scene.check([a: .done(first)])
        #expect(!result.passed)
        let violation = try #require(result.violations(.duplicated).first)
        #expect(violation.uuid == a)
        #expect(violation.detail.contains(fnA) && violation.detail.contains(fnB))
        #expect(violation.documents.count == 2)
        #expect(result.counts.done == 0)
    }

    @Test("a document of a job nobody posted is unexpected, and its tenant is told by the uuid's group tag")
    func unexpected() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let docA = scene.receipt(a, on: fnA)
        let stranger = Scene.job("never-posted")
        scene.receipt(stranger, on: fnB)
        let result = try await scene.check([a: .done(docA)])
        #expect(!result.passed)
        let violation = try #require(result.violations(.unexpected).first)
        #expect(violation.uuid == stranger)
        #expect(violation.groupCode == Scene.group)
        #expect(violation.detail.contains("\(fnB) FD 2"))
        #expect(result.counts.done == 1)
    }

    @Test("a refund annulling the only sale has no duplicate to cancel: unexpected")
    func annulWithoutDuplicate() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let sale = scene.receipt(a, on: fnA)
        scene.annul(a, duplicate: sale, on: fnA)
        let result = try await scene.check([a: .done(sale)])
        #expect(!result.passed)
        #expect(result.violations(.unexpected).map(\.uuid) == [a])
        #expect(result.counts.annulDocuments == 1)
        #expect(result.counts.done == 0)
    }

    @Test("a report naming another document than the archive holds is a mismatch")
    func reportMismatch() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        scene.post(b)
        let docA = scene.receipt(a, on: fnA)
        let docB = scene.receipt(b, on: fnA)
        var wrongSign = ObservedReport.done(docA)
        wrongSign.fiscalDocumentAttribute = 12345
        var wrongTotal = ObservedReport.done(docB)
        wrongTotal.totalKopecks = 99
        let result = try await scene.check([a: wrongSign, b: wrongTotal])
        #expect(!result.passed)
        #expect(result.violations(.reportMismatch).map(\.uuid) == [a, b])
        #expect(result.counts.reportMismatches == 2)
        #expect(result.counts.done == 0)
    }

    @Test("a receipt reported failed that an FN holds is a mismatch")
    func failedWithDocument() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        scene.receipt(a, on: fnB)
        let result = try await scene.check([a: .failed(1, "timeout", "Превышено время ожидания чека в очереди")])
        #expect(!result.passed)
        let violation = try #require(result.violations(.reportMismatch).first)
        #expect(violation.uuid == a)
        #expect(violation.detail.contains(fnB))
        #expect(result.counts.failed == 0)
    }

    @Test("an annulled duplicate passes: sale on A, its refund on A, sale on B, report names B")
    func annulledDuplicate() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let duplicate = scene.receipt(a, on: fnA)
        scene.annul(a, duplicate: duplicate, on: fnA)
        let kept = scene.receipt(a, on: fnB)
        let result = try await scene.check([a: .done(kept)])
        #expect(result.passed, "\(result.text())")
        #expect(result.counts.done == 1)
        #expect(result.counts.receiptDocuments == 2)
        #expect(result.counts.annulDocuments == 1)

        // The refund names the sale it cancels: a report naming the annulled sale is wrong.
        let wrong = try await scene.check([a: .done(duplicate)])
        #expect(wrong.violations(.reportMismatch).map(\.uuid) == [a])
        #expect(wrong.violations(.reportMismatch).first?.detail.contains("annulled") == true)
    }

    @Test("a refund on another FN than the duplicate it annuls still cancels it")
    func annulOnAnotherFN() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let duplicate = scene.receipt(a, on: fnA)
        let kept = scene.receipt(a, on: fnB)
        scene.annul(a, duplicate: duplicate, on: fnB)
        let result = try await scene.check([a: .done(kept)])
        #expect(result.passed, "\(result.text())")
        #expect(result.counts.done == 1)
    }

    @Test("a torn last line is counted, not fatal; an unreadable line elsewhere fails with file and line")
    func tornLines() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let docA = scene.receipt(a, on: fnA)
        scene.tails[fnA] = #"{"datetime":"23.11.2026 13:15:03","fiscal_docu"#
        let result = try await scene.check([a: .done(docA)])
        #expect(result.passed, "\(result.text())")
        #expect(result.counts.tornLines == 1)
        #expect(result.counts.done == 1)

        // The same bytes followed by a whole line: no longer the last line, so a problem.
        scene.tails[fnA] = #"{"datetime":"23.11.2026 13:15:03","fiscal_docu"# + "\n" + #"{"kind":"open_shift","fiscal_document_number":4}"# + "\n"
        let damaged = try await scene.check([a: .done(docA)])
        #expect(!damaged.passed)
        let problem = try #require(damaged.problems.first)
        #expect(problem.path == "\(scene.dataDirectory)/\(fnA)/archive.jsonl")
        #expect(problem.line == 3)
        #expect(damaged.counts.tornLines == 0)
        #expect(damaged.text().contains("archive.jsonl:3"))
    }

    @Test("an unanswered post may have a document: counted, and the check passes")
    func unansweredPosts() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        scene.post(b, unanswered: true)
        scene.post(c, unanswered: true)
        scene.post(d, unanswered: true)
        scene.post(d)  // answered on a retry: acknowledged
        let docA = scene.receipt(a, on: fnA)
        scene.receipt(b, on: fnB)
        let docD = scene.receipt(d, on: fnB)
        let result = try await scene.check([a: .done(docA), d: .done(docD)])
        #expect(result.passed, "\(result.text())")
        #expect(result.counts.acknowledged == 2)
        #expect(result.counts.unanswered == 2)
        #expect(result.counts.unacknowledgedFiscalized == 1)
        #expect(result.counts.done == 2)
    }

    @Test("an unanswered post fiscalized twice is still a duplicate")
    func unansweredDuplicate() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(b, unanswered: true)
        scene.receipt(b, on: fnA)
        scene.receipt(b, on: fnB)
        let result = try await scene.check([:])
        #expect(result.violations(.duplicated).map(\.uuid) == [b])
    }

    @Test("a receipt waiting with a document is in flight, in doubt")
    func inFlightInDoubt() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        scene.receipt(a, on: fnA)
        let result = try await scene.check([a: .waiting])
        #expect(result.passed)
        #expect(result.counts.inFlight == 1)
        #expect(result.counts.inFlightInDoubt == 1)
        #expect(!result.passed(allowingInFlight: false))
    }

    @Test("documents up to the baseline existed before the drill and are ignored")
    func baseline() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.receipt(Scene.job("earlier-run"), on: fnA)
        try scene.write()
        let baseline = try FNArchives.lastDocumentNumbers(dataDirectory: scene.dataDirectory)
        #expect(baseline == [fnA: 2])
        scene.post(a)
        let docA = scene.receipt(a, on: fnA)
        try scene.write()
        let result = try await GroundTruthCheck(dataDirectory: scene.dataDirectory, acknowledgedLogPath: scene.logPath, baseline: baseline)
            .run(reports: FakeReports(reports: [a: .done(docA)]))
        #expect(result.passed, "\(result.text())")
        #expect(result.counts.documentsRead == 1)
        let everything = try await scene.check([a: .done(docA)])
        #expect(everything.violations(.unexpected).count == 1)
    }

    @Test("the result encodes as JSON with snake_case figures")
    func json() async throws {
        var scene = try Scene()
        defer { scene.remove() }
        scene.post(a)
        let result = try await scene.check([:])
        let object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(result)) as? [String: Any])
        #expect(object["passed"] as? Bool == false)
        let counts = try #require(object["counts"] as? [String: Any])
        #expect(counts["in_flight_in_doubt"] as? Int == 0)
        #expect(counts["lost"] as? Int == 1)
        let violations = try #require(object["violations"] as? [[String: Any]])
        #expect(violations.first?["group_code"] as? String == Scene.group)
        #expect(violations.first?["kind"] as? String == "lost")
    }
}
