import Foundation
import Testing

@testable import Load

@Suite("Receipt generator")
struct ReceiptGeneratorTests {
    static let tenant = TenantCredentials(
        groupCode: "shop1_group", login: "shop1", password: "secret", inn: "7707083893",
        paymentAddress: "https://shop1.example.com", sno: "osn")
    static let timestamp = "23.11.2026 10:15:02"

    @Test("receipts are arithmetically consistent")
    func consistency() {
        let generator = ReceiptGenerator(seed: 42, runID: "t")
        for number in 0..<3000 {
            let receipt = generator.receipt(number: number, tenant: Self.tenant, timestamp: Self.timestamp)
            #expect((1...5).contains(receipt.items.count))
            for item in receipt.items {
                #expect(item.priceKopecks > 0)
                #expect((1...99_999_999).contains(item.quantityThousandths))
                #expect(item.sumKopecks == (item.priceKopecks * item.quantityThousandths + 500) / 1000)
                #expect(item.sumKopecks > 0)
            }
            #expect(receipt.totalKopecks == receipt.items.reduce(0) { $0 + $1.sumKopecks })
            #expect(receipt.payments.reduce(0) { $0 + $1.sumKopecks } == receipt.totalKopecks)
            #expect((1...2).contains(receipt.payments.count))
            #expect(receipt.payments.allSatisfy { $0.sumKopecks > 0 })
            #expect(receipt.payments[0].type == 1)
            if receipt.payments.count == 2 { #expect([0, 2].contains(receipt.payments[1].type)) }
            #expect(receipt.clientEmail != nil || receipt.clientPhone != nil)
            #expect(receipt.externalID == "load-t-\(number)")
            #expect(receipt.flaw == nil)
        }
    }

    @Test("the JSON body carries the same numbers, with at most 2 / 3 decimals")
    func jsonBody() throws {
        let generator = ReceiptGenerator(seed: 7, runID: "json")
        for number in 0..<1000 {
            let receipt = generator.receipt(number: number, tenant: Self.tenant, timestamp: Self.timestamp)
            let text = receipt.jsonBody
            for (key, decimals) in numberTokens(in: text) {
                let limit = key == "quantity" ? 3 : 2
                #expect(decimals <= limit, "\(key) has \(decimals) decimals in \(text)")
            }

            let body = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(body["timestamp"] as? String == Self.timestamp)
            #expect(body["external_id"] as? String == receipt.externalID)
            #expect(body["service"] == nil)
            let inner = try #require(body["receipt"] as? [String: Any])
            let company = try #require(inner["company"] as? [String: Any])
            #expect(company["inn"] as? String == Self.tenant.inn)
            #expect(company["payment_address"] as? String == Self.tenant.paymentAddress)
            #expect(company["sno"] as? String == Self.tenant.sno)

            let items = try #require(inner["items"] as? [[String: Any]])
            #expect(items.count == receipt.items.count)
            var itemTotal = 0
            for (json, item) in zip(items, receipt.items) {
                let price = try kopecks(json["price"])
                let quantity = try thousandths(json["quantity"])
                let sum = try kopecks(json["sum"])
                #expect(price == item.priceKopecks)
                #expect(quantity == item.quantityThousandths)
                #expect(sum == DecimalText.itemSumKopecks(priceKopecks: price, quantityThousandths: quantity))
                #expect(json["name"] as? String == item.name)
                itemTotal += sum
            }
            let total = try kopecks(inner["total"])
            #expect(total == itemTotal)
            let payments = try #require(inner["payments"] as? [[String: Any]])
            #expect(try payments.reduce(0) { $0 + (try kopecks($1["sum"])) } == total)
        }
    }

    @Test("the same seed and number give the same receipt; another seed does not")
    func determinism() {
        let one = ReceiptGenerator(seed: 2026, runID: "r")
        let again = ReceiptGenerator(seed: 2026, runID: "r")
        let other = ReceiptGenerator(seed: 2027, runID: "r")
        var differing = 0
        for number in 0..<200 {
            let body = one.receipt(number: number, tenant: Self.tenant, timestamp: Self.timestamp).jsonBody
            #expect(body == again.receipt(number: number, tenant: Self.tenant, timestamp: Self.timestamp).jsonBody)
            if body != other.receipt(number: number, tenant: Self.tenant, timestamp: Self.timestamp).jsonBody {
                differing += 1
            }
        }
        #expect(differing > 190)
        // Independent of generation order: receipt 150 alone equals receipt 150 after 0..<150.
        #expect(
            one.receipt(number: 150, tenant: Self.tenant, timestamp: Self.timestamp).jsonBody
                == ReceiptGenerator(seed: 2026, runID: "r").receipt(number: 150, tenant: Self.tenant, timestamp: Self.timestamp).jsonBody)
    }

    @Test("the mix covers all operations, split payments and weighed goods")
    func variety() {
        let generator = ReceiptGenerator(seed: 1, runID: "v")
        let receipts = (0..<2000).map { generator.receipt(number: $0, tenant: Self.tenant, timestamp: Self.timestamp) }
        #expect(Set(receipts.map(\.operation)) == Set(ReceiptOperation.allCases))
        let sells = receipts.filter { $0.operation == .sell }.count
        #expect(sells > 1500 && sells < 1900)
        #expect(receipts.contains { $0.payments.count == 2 })
        #expect(receipts.contains { $0.items.contains { $0.quantityThousandths % 1000 != 0 } })
        #expect(receipts.contains { $0.items.contains { $0.priceKopecks % 100 != 0 } })
        #expect(Set(receipts.map(\.items.count)) == Set(1...5))
    }

    @Test("invalid receipts carry exactly their flaw")
    func invalidReceipts() throws {
        let generator = ReceiptGenerator(seed: 9, runID: "bad")
        var seen: Set<ReceiptFlaw> = []
        for number in 0..<200 {
            let receipt = generator.invalidReceipt(number: number, tenant: Self.tenant, timestamp: Self.timestamp)
            let flaw = try #require(receipt.flaw)
            seen.insert(flaw)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(receipt.jsonBody.utf8)) as? [String: Any])
            let inner = try #require(body["receipt"] as? [String: Any])
            let items = inner["items"] as? [[String: Any]] ?? []
            let company = inner["company"] as? [String: Any] ?? [:]
            switch flaw {
            case .emptyItems: #expect(items.isEmpty)
            case .missingPayments: #expect(inner["payments"] == nil)
            case .zeroQuantity: #expect((items.first?["quantity"] as? NSNumber)?.doubleValue == 0)
            case .unknownVAT: #expect((items.first?["vat"] as? [String: Any])?["type"] as? String == "vat99")
            case .missingCompanyINN: #expect(company["inn"] == nil)
            }
        }
        #expect(seen == Set(ReceiptFlaw.allCases))
    }

    @Test("names with quotes and Cyrillic survive JSON escaping")
    func escaping() throws {
        var json = JSONText()
        json.beginObject()
        json.field("name", "Хлеб \"Бородинский\"\\\n\u{1}")
        json.key("list")
        json.beginArray()
        json.number(1)
        json.beginObject()
        json.endObject()
        json.endArray()
        json.endObject()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.text.utf8)) as? [String: Any])
        #expect(object["name"] as? String == "Хлеб \"Бородинский\"\\\n\u{1}")
        #expect((object["list"] as? [Any])?.count == 2)
    }

    // MARK: - Helpers

    /// Every `"key":number` in `text` with the count of digits after its decimal point.
    private func numberTokens(in text: String) -> [(key: String, decimals: Int)] {
        let pattern = /"([a-z_]+)":(-?[0-9]+(?:\.([0-9]+))?)(?=[,}\]])/
        return text.matches(of: pattern).map { match in
            (String(match.output.1), match.output.3.map(\.count) ?? 0)
        }
    }

    private func kopecks(_ value: Any?) throws -> Int {
        let number = try #require(value as? NSNumber)
        return Int((number.doubleValue * 100).rounded())
    }

    private func thousandths(_ value: Any?) throws -> Int {
        let number = try #require(value as? NSNumber)
        return Int((number.doubleValue * 1000).rounded())
    }
}
