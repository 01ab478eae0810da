import Foundation
import KassaModel
import NIOCore
import Testing

@testable import KassaWire

@Suite("Wire messages")
struct WireTests {
    @Test func canonicalTextIsTheArchivedObjectWithoutTheSign() throws {
        var document = FiscalDocument(
            kind: .receipt, fiscalDocumentNumber: 18, fiscalDocumentAttribute: 2_881_263_154, fiscalReceiptNumber: 6,
            shiftNumber: 3, datetime: "23.11.2026 13:15:02", fnSerial: "9999010010010001",
            registrationNumber: "0000000001012345", jobID: "3f2a", operation: .sell, total: 30000, inn: "7707083893",
            paymentAddress: "https://shop.example/путь?a=1&b=\"2\"", sno: "osn", client: WireClient(email: "a@b.ru"),
            items: [WireItem(name: "Чай\tзелёный\u{1}", price: 15000, quantity: 2000, sum: 30000, vat: "vat20")],
            payments: [WirePayment(type: 1, sum: 30000)])
        // Codable's line, its members sorted by JSONValue, against the document's hand-ordered keys.
        let line = try WireJSON.makeEncoder().encode(document)
        guard case .object(var members) = try JSONValue.parse(Array(line)) else {
            Issue.record("not an object")
            return
        }
        members["fiscal_document_attribute"] = nil
        #expect(JSONValue.object(members).serialized() == document.canonicalText)
        #expect(document.canonicalText.hasPrefix("{\"client\":{\"email\":\"a@b.ru\"},\"datetime\":"))
        #expect(document.canonicalText.contains("\"name\":\"Чай\\tзелёный\\u0001\""))
        // The sign is not part of what it signs.
        document.fiscalDocumentAttribute = 1
        #expect(JSONValue.object(members).serialized() == document.canonicalText)
    }

    /// Every member set, with text that needs escaping.
    static let fullDocument: FiscalDocument = {
        var document = FiscalDocument(
            kind: .receipt, fiscalDocumentNumber: 18, fiscalDocumentAttribute: 4_294_967_295, fiscalReceiptNumber: 6,
            shiftNumber: 3, datetime: "23.11.2026 13:15:02", fnSerial: "9999010010010001",
            registrationNumber: "0000000001012345", jobID: "3f2a", operation: .sellRefund, total: 30000, inn: "7707083893",
            paymentAddress: "https://shop.example/путь?a=1&b=\"2\"\\", sno: "osn", client: WireClient(email: "a@b.ru", phone: "+79990001122"),
            items: [WireItem(name: "Чай\tзелёный\u{1}\n", price: 15000, quantity: 2000, sum: 30000, vat: "vat20"),
                    WireItem(name: "Мёд 😀", price: 1, quantity: 1, sum: 0, vat: "none", paymentMethod: "advance", paymentObject: "service")],
            payments: [WirePayment(type: 1, sum: 29000), WirePayment(type: 0, sum: 1000)])
        document.annuls = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
        return document
    }()

    @Test func handWrittenFormsReadBothWays() throws {
        let shift = FiscalDocument(kind: .closeShift, fiscalDocumentNumber: 19, fiscalDocumentAttribute: 7, shiftNumber: 3,
                                   datetime: "23.11.2026 23:59:59", fnSerial: "9999010010010001",
                                   registrationNumber: "0000000001012345", receiptsInShift: 6)
        for document in [Self.fullDocument, shift] {
            var w = JSONWriter()
            document.write(to: &w)
            // What the hand-written form says, Codable reads; and the other way round.
            #expect(try JSONDecoder().decode(FiscalDocument.self, from: Data(w.bytes)) == document)
            let encoded = try WireJSON.makeEncoder().encode(document)
            #expect(try FiscalDocument(reading: JSONObjectReader(JSONValue.parse(Array(encoded)))) == document)
        }
        // Byte for byte what JSONEncoder wrote, where nothing needs escaping.
        var w = JSONWriter()
        shift.write(to: &w)
        #expect(w.bytes == Array(try WireJSON.makeEncoder().encode(shift)))

        var sell = SellRequest(jobID: "j", operation: .buy, inn: "7707083893", paymentAddress: "https://a.example/x",
                               sno: "usn_income", client: WireClient(phone: "+7"), items: Self.fullDocument.items ?? [],
                               payments: [WirePayment(type: 2, sum: 30000)], total: 30000)
        sell.annuls = "a"
        let line = try WireJSON.line(WireRequest(id: 5, cmd: .sell, epoch: 3, args: sell))
        #expect(try JSONDecoder().decode(WireRequest<SellRequest>.self, from: Data(line.readableBytesView.dropLast())).args == sell)
        let parsed = try IncomingRequest.parse(line.readableBytesView.dropLast()).get()
        #expect(parsed == IncomingRequest(id: 5, epoch: 3, command: .sell(sell)))
    }

    @Test func aDocumentAnswerIsWrittenAndReadByHandAndAFailureIsNot() throws {
        let answer = try WireJSON.line(WireResponse.success(id: 41, Self.fullDocument))
        #expect(WireResponse<FiscalDocument>.handRead(answer.readableBytesView)?.result == Self.fullDocument)
        #expect(try JSONDecoder().decode(WireResponse<FiscalDocument>.self, from: Data(answer.readableBytesView)).result == Self.fullDocument)
        // A failure goes through Codable (its error has no hand-written form) and is not read by hand.
        let failure = try WireJSON.line(WireResponse<FiscalDocument>.failure(id: 41, .badRequest("x")))
        #expect(WireResponse<FiscalDocument>.handRead(failure.readableBytesView) == nil)
        #expect(String(buffer: failure).contains(#""ok":false"#))
        // A result of the wrong shape is left to Codable, which says what is wrong.
        let broken = String(buffer: answer).replacingOccurrences(of: #""shift_number":3"#, with: #""shift_number":"3""#)
        #expect(WireResponse<FiscalDocument>.handRead(ByteBuffer(string: broken).readableBytesView) == nil)
    }

    @Test func requestsParse() throws {
        let line = #"{"id": 17, "cmd": "sell", "epoch": 4, "args": {"job_id": "j", "operation": "sell", "inn": "7707083893", "payment_address": "https://shop.example", "sno": "osn", "client": {"email": "a@b.ru", "phone": null}, "items": [{"name": "Tea", "price": 15000, "quantity": 2000, "sum": 30000, "vat": "vat20", "payment_method": "full_payment", "payment_object": "commodity"}], "payments": [{"type": 1, "sum": 30000}], "total": 30000}}"#
        let request = try IncomingRequest.parse(Array(line.utf8)).get()
        #expect(request.id == 17 && request.epoch == 4)
        guard case .sell(let receipt) = request.command else {
            Issue.record("expected sell, got \(request.command)")
            return
        }
        #expect(receipt.items.first?.quantity == 2000)
        #expect(receipt.client == WireClient(email: "a@b.ru", phone: nil))

        let archive = try IncomingRequest.parse(Array(#"{"id":1,"cmd":"archive"}"#.utf8)).get()
        #expect(archive.command == .archive(ArchiveRequest(after: 0, limit: 1000)))
        // A request the client encodes is one the module parses.
        let encoded = try WireJSON.line(WireRequest(id: 9, cmd: .archive, args: ArchiveRequest(after: 5, limit: 10)))
        let decoded = try IncomingRequest.parse(encoded.readableBytesView.dropLast()).get()
        #expect(decoded.command == .archive(ArchiveRequest(after: 5, limit: 10)))
    }

    @Test(arguments: [
        ("not json", nil, "not JSON"),
        ("[1, 2]", nil, "expected a JSON object"),
        (#"{"cmd": "status"}"#, nil, "id: missing"),
        (#"{"id": "x", "cmd": "status"}"#, nil, "id: expected an integer"),
        (#"{"id": 3}"#, 3, "cmd: missing"),
        (#"{"id": 3, "cmd": "fly"}"#, 3, "cmd: unknown command \"fly\""),
        (#"{"id": 3, "cmd": "sell", "args": {}}"#, 3, "epoch: required for sell"),
        (#"{"id": 3, "cmd": "hello", "epoch": -1}"#, 3, "epoch: expected an integer ≥ 0"),
        (#"{"id": 3, "cmd": "register"}"#, 3, "args: missing"),
        (#"{"id": 3, "cmd": "archive", "args": {"limit": 20000}}"#, 3, "args.limit: expected 1...10000"),
        (#"{"id": 3, "cmd": "sell", "epoch": 1, "args": {"job_id": "j"}}"#, 3, "args.operation: missing"),
        (#"{"id": 3, "cmd": "sell", "epoch": 1, "args": {"job_id": "j", "operation": "sell", "inn": "1", "payment_address": "a", "sno": "osn", "items": [{"name": "Tea", "price": "150.00", "quantity": 1, "sum": 1, "vat": "none", "payment_method": "full_payment", "payment_object": "commodity"}], "payments": [], "total": 1}}"#, 3, "args.items[0].price: expected an integer"),
    ] as [(String, Int64?, String)])
    func malformedRequestsAreRejectedWithWhere(line: String, id: Int64?, text: String) {
        switch IncomingRequest.parse(Array(line.utf8)) {
        case .success(let request):
            Issue.record("parsed \(request)")
        case .failure(let rejection):
            #expect(rejection.id == id)
            #expect(rejection.error.code == .badRequest)
            #expect(rejection.error.driverCode == 2006)
            #expect(rejection.error.text.contains(text), "\(rejection.error.text)")
        }
    }

    @Test func failureResponsesCarryANullID() throws {
        let line = try WireJSON.line(WireFailure.failure(id: nil, .badRequest("x")))
        let text = String(buffer: line)
        #expect(text.contains("\"id\":null"))
        #expect(text.contains("\"fiscalized\":false"))
        #expect(text.hasSuffix("\n"))
    }

    @Test func statusEncodesNullsAndISOTimes() throws {
        let status = KassaStatus(
            fnSerial: "1", fnCapacity: 10, documentsUsed: 0, lastDocumentNumber: 0,
            fnExpiresAt: Date(timeIntervalSince1970: 1_798_070_400), registrationNumber: nil, inn: nil,
            paymentAddress: nil, sno: nil, shiftOpen: false, shiftNumber: 0, shiftOpenedAt: nil, receiptsInShift: 0,
            undeliveredDocuments: 0, highestEpoch: 0)
        let text = String(decoding: try WireJSON.makeEncoder().encode(status), as: UTF8.self)
        #expect(text.contains("\"fn_expires_at\":\"2026-12-24T00:00:00Z\""))
        #expect(text.contains("\"inn\":null"))
        #expect(try JSONDecoder().decode(KassaStatus.self, from: Data(text.utf8)) == status)
        // Nothing queued: the key is absent, not null.
        #expect(!text.contains("oldest_undelivered_at"))
    }

    @Test func statusCarriesTheOldestUndeliveredDocumentsTimeWhenThereIsOne() throws {
        var status = KassaStatus(
            fnSerial: "1", fnCapacity: 10, documentsUsed: 3, lastDocumentNumber: 3,
            fnExpiresAt: Date(timeIntervalSince1970: 1_798_070_400), registrationNumber: nil, inn: nil,
            paymentAddress: nil, sno: nil, shiftOpen: true, shiftNumber: 1, shiftOpenedAt: nil, receiptsInShift: 2,
            undeliveredDocuments: 2, highestEpoch: 0)
        status.oldestUndeliveredAt = Date(timeIntervalSince1970: 1_795_000_000)
        let text = String(decoding: try WireJSON.makeEncoder().encode(status), as: UTF8.self)
        #expect(text.contains("\"oldest_undelivered_at\":\"2026-11-18T"))
        #expect(try JSONDecoder().decode(KassaStatus.self, from: Data(text.utf8)) == status)
    }

    @Test func statusFromAnOlderModuleDecodesWithoutTheOFDFields() throws {
        // What a module answered before the OFD link existed: no oldest_undelivered_at.
        let old = #"""
            {"fn_serial": "9999078900012345", "fn_capacity": 250000, "documents_used": 17,
             "last_document_number": 17, "fn_expires_at": "2027-12-23T00:00:00Z",
             "registration_number": "0000000001012345", "inn": "7707083893",
             "payment_address": "https://shop.example", "sno": ["osn"],
             "shift_open": true, "shift_number": 3, "shift_opened_at": "2026-11-23T10:00:00Z",
             "receipts_in_shift": 5, "undelivered_documents": 0, "highest_epoch": 4}
            """#
        let status = try JSONDecoder().decode(KassaStatus.self, from: Data(old.utf8))
        #expect(status.oldestUndeliveredAt == nil)
        #expect(status.undeliveredDocuments == 0)
        #expect(status.documentsUsed == 17)
    }
}

@Suite("Topology")
struct TopologyTests {
    @Test func defaultFileHasTwoAssembliesOf48() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../cluster/topology.yaml").path
        let topology = try Topology.load(path: path)
        let modules = topology.modules
        #expect(modules.count == 96)
        #expect(modules.first?.port == 21000 && modules.first?.assembly == "A1-1" && modules.first?.slot == 1)
        #expect(modules[47].port == 21047)
        #expect(modules[48].port == 21048 && modules[48].assembly == "A1-2")
        #expect(modules.last?.port == 21095)
        #expect(Set(modules.map(\.fnSerial)).count == 96)
        #expect(modules.allSatisfy { $0.fnSerial.count == 16 && $0.fnSerial.allSatisfy(\.isNumber) })
        #expect(modules.first?.fnSerial == "9999010010010001")
        #expect(modules.last?.fnSerial == "9999010010020048")
        let shifted = try topology.shifted(portOffset: 1000)
        #expect(shifted.modules.first?.port == 22000)
        #expect(shifted.modules.first?.fnSerial == modules.first?.fnSerial)
    }

    @Test func errorsSayWhereAndWhat() {
        let tooMany = """
            sites:
              - name: A
                racks:
                  - name: A1
                    assemblies:
                      - {name: A1-1, base_port: 21000, modules: 60}
            """
        #expect(throws: TopologyError(
            file: "topology.yaml", path: "sites[0].racks[0].assemblies[0].modules",
            message: "expected an integer 1...48, found 60")) {
            try Topology.parse(yaml: tooMany)
        }
        let notANumber = tooMany.replacingOccurrences(of: "60", with: "many")
        do {
            _ = try Topology.parse(yaml: notANumber)
            Issue.record("parsed")
        } catch {
            #expect(error.description.hasPrefix("topology.yaml: sites[0].racks[0].assemblies[0].modules: expected an integer"))
        }
        let clash = """
            sites:
              - name: A
                racks:
                  - name: A1
                    assemblies:
                      - {name: A1-1, base_port: 21000, modules: 48}
                      - {name: A1-2, base_port: 21040, modules: 48}
            """
        do {
            _ = try Topology.parse(yaml: clash)
            Issue.record("parsed")
        } catch {
            #expect(error.description.contains("sites[0].racks[0].assemblies[1].base_port: port 127.0.0.1:21040 is also used"))
        }
    }
}
