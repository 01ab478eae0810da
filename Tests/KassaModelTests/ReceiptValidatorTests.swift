import Foundation
import KassaModel
import Testing

/// A valid v4 sell body; tests change one thing at a time.
func validBody(_ edit: (inout [String: Any]) -> Void = { _ in }) -> JSONValue {
    var receipt: [String: Any] = [
        "client": ["email": "buyer@example.com"],
        "company": ["email": "shop@example.com", "sno": "osn", "inn": "7707083893", "payment_address": "https://tea.example"],
        "items": [
            ["name": "Tea", "price": 150.5, "quantity": 2.0, "sum": 301.0, "measurement_unit": "pcs",
             "payment_method": "full_payment", "payment_object": "commodity", "vat": ["type": "vat20"]],
            ["name": "Honey", "price": 99.99, "quantity": 0.333, "sum": 33.3,
             "payment_method": "full_payment", "payment_object": "commodity", "vat": ["type": "vat10"]],
        ],
        "payments": [["type": 1, "sum": 334.3]],
        "total": 334.3,
    ]
    var body: [String: Any] = ["timestamp": "23.11.2026 10:15:02", "external_id": "order-1", "receipt": receipt]
    edit(&body)
    _ = receipt
    let data = try! JSONSerialization.data(withJSONObject: body)
    return try! JSONValue.parse(data)
}

func problems(_ body: JSONValue) -> ReceiptValidationError? {
    if case .failure(let e) = ReceiptValidator.validate(body) { return e }
    return nil
}

func receipt(_ body: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
    var r = body["receipt"] as! [String: Any]
    edit(&r)
    body["receipt"] = r
}

@Suite struct ReceiptValidatorTests {
    @Test func acceptsAValidReceiptWithExactKopecks() throws {
        let request = try ReceiptValidator.validate(validBody()).get()
        #expect(request.externalID == "order-1")
        #expect(request.receipt.total == 33430)
        #expect(request.receipt.items[1].price == 9999)
        #expect(request.receipt.items[1].quantity == 333)
        #expect(request.receipt.items[1].sum == 3330)
        #expect(request.receipt.company.sno == .osn)
    }

    @Test func namesTheFieldPathOfAWrongType() throws {
        let e = try #require(problems(validBody { b in receipt(&b) { r in
            var items = r["items"] as! [[String: Any]]
            items[1]["price"] = "99.99"
            r["items"] = items
        } }))
        #expect(e.code == .incomingValidation)
        #expect(e.atolError.text.contains("receipt.items[1].price: a number with at most 2 decimals"))
        #expect(e.atolError.code == 32)
    }

    @Test func refusesTooManyDecimals() throws {
        let e = try #require(problems(validBody { b in receipt(&b) { r in
            var items = r["items"] as! [[String: Any]]
            items[0]["quantity"] = 2.0001
            r["items"] = items
        } }))
        #expect(e.problems.map(\.path) == ["receipt.items[0].quantity"])
    }

    @Test func refusesAMissingRequiredFieldAndAnUnknownEnum() throws {
        let e = try #require(problems(validBody { b in
            b["external_id"] = nil
            receipt(&b) { r in
                var items = r["items"] as! [[String: Any]]
                items[0]["payment_method"] = "cash"
                items[0]["vat"] = ["type": "vat18"]
                r["items"] = items
            }
        }))
        let paths = Set(e.problems.map(\.path))
        #expect(paths == ["external_id", "receipt.items[0].payment_method", "receipt.items[0].vat.type"])
        #expect(e.atolError.text.contains("required"))
    }

    @Test func refusesABadTimestampForm() throws {
        let e = try #require(problems(validBody { $0["timestamp"] = "2026-11-23T10:15:02" }))
        #expect(e.problems.first?.path == "timestamp")
        #expect(e.atolError.text.contains("dd.mm.yyyy HH:MM:SS"))
        #expect(problems(validBody { $0["timestamp"] = "31.02.2026 10:15:02" }) != nil)
    }

    @Test func checksItemArithmeticTotalsAndPayments() throws {
        let arithmetic = try #require(problems(validBody { b in receipt(&b) { r in
            var items = r["items"] as! [[String: Any]]
            items[0]["sum"] = 310.0
            r["items"] = items
            r["total"] = 343.3
            r["payments"] = [["type": 1, "sum": 343.3]]
        } }))
        #expect(arithmetic.code == .validation)
        #expect(arithmetic.problems.map(\.path) == ["receipt.items[0].sum"])
        #expect(arithmetic.atolError.code == 13)

        let total = try #require(problems(validBody { b in receipt(&b) { r in r["total"] = 300.0; r["payments"] = [["type": 1, "sum": 300.0]] } }))
        #expect(total.problems.map(\.path) == ["receipt.total"])

        let payments = try #require(problems(validBody { b in receipt(&b) { r in r["payments"] = [["type": 1, "sum": 300.0]] } }))
        #expect(payments.problems.map(\.path) == ["receipt.payments"])
    }

    @Test func checksINNCheckDigitsAndClientContact() throws {
        let inn = try #require(problems(validBody { b in receipt(&b) { r in
            var c = r["company"] as! [String: Any]
            c["inn"] = "7707083894"
            r["company"] = c
        } }))
        #expect(inn.problems.map(\.path) == ["receipt.company.inn"])
        let contact = try #require(problems(validBody { b in receipt(&b) { r in r["client"] = [String: Any]() } }))
        #expect(contact.problems.map(\.path) == ["receipt.client"])
    }

    @Test func checksLengthsAndCounts() throws {
        let e = try #require(problems(validBody { b in
            b["external_id"] = String(repeating: "x", count: 129)
            receipt(&b) { r in r["payments"] = [[String: Any]]() }
        }))
        #expect(Set(e.problems.map(\.path)) == ["external_id", "receipt.payments"])
    }
}

@Suite struct ModelRulesTests {
    @Test func innCheckDigits() {
        #expect(INN.isValid("7707083893"))
        #expect(!INN.isValid("7707083890"))
        #expect(INN.isValid("500100732259"))
        #expect(!INN.isValid("500100732258"))
        #expect(!INN.isValid("77070838９3"))
        // Neither other characters nor other lengths pass, whatever their digits add up to.
        #expect(!INN.isValid("770708389 3"))
        #expect(!INN.isValid("-707083893"))
        #expect(!INN.isValid("07707083893"))
        #expect(!INN.isValid(""))
    }

    @Test func jobIDIsDeterministicAndBoundToTheGroup() {
        let a = JobID.derive(groupCode: "shop-tea", externalID: "order-1")
        #expect(a == JobID.derive(groupCode: "shop-tea", externalID: "order-1"))
        #expect(a != JobID.derive(groupCode: "shop-tea", externalID: "order-2"))
        #expect(a != JobID.derive(groupCode: "shop-books", externalID: "order-1"))
        #expect(JobID.belongs(a, to: "shop-tea"))
        #expect(!JobID.belongs(a, to: "shop-books"))
        #expect(!JobID.belongs(UUID(), to: "shop-tea"))
        #expect(a.uuidString.lowercased().dropFirst(14).first == "8")  // version 8
    }

    @Test func timestampRoundTrip() throws {
        let date = try #require(ATOLTimestamp.parse("01.03.2026 00:00:05"))
        #expect(ATOLTimestamp.format(date) == "01.03.2026 00:00:05")
        #expect(ATOLTimestamp.parse("1.03.2026 00:00:05") == nil)
        #expect(ATOLTimestamp.parse("01.13.2026 00:00:05") == nil)
    }

    /// The timestamp's own date arithmetic agrees with Foundation's Calendar, in both directions,
    /// over leap years, month ends and the day boundary in Moscow time.
    @Test func timestampsAgreeWithFoundationsCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(secondsFromGMT: 3 * 3600))
        var seed: UInt64 = 42
        for _ in 0..<5000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let seconds = Double((seed >> 16) % 4_102_444_800) + 0.75  // 1970 to 2100, with a fraction
            let date = Date(timeIntervalSince1970: seconds)
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let expected = String(format: "%02d.%02d.%d %02d:%02d:%02d", c.day ?? 0, c.month ?? 0, c.year ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
            #expect(ATOLTimestamp.format(date) == expected)
            if (c.year ?? 0) >= 2000 {
                #expect(ATOLTimestamp.parse(expected) == Date(timeIntervalSince1970: seconds.rounded(.down)))
            }
        }
        #expect(ATOLTimestamp.format(Date(timeIntervalSince1970: 1_709_154_000)) == "29.02.2024 00:00:00")
        #expect(ATOLTimestamp.format(Date(timeIntervalSince1970: 1_709_153_999)) == "28.02.2024 23:59:59")
        #expect(ATOLTimestamp.parse("29.02.2024 12:00:00") != nil)
        #expect(ATOLTimestamp.parse("29.02.2023 12:00:00") == nil)
        #expect(ATOLTimestamp.parse("29.02.2000 12:00:00") != nil)
        #expect(ATOLTimestamp.parse("31.04.2026 12:00:00") == nil)
        #expect(ATOLTimestamp.parse("00.04.2026 12:00:00") == nil)
        #expect(ATOLTimestamp.parse("31.12.2099 23:59:59") == Date(timeIntervalSince1970: 4_102_433_999))
    }

    @Test func decimals() {
        #expect(Decimals.scaled(301.1, places: 2) == 30110)
        #expect(Decimals.scaled(0.1 + 0.2, places: 2) == 30)
        #expect(Decimals.scaled(1.005, places: 2) == nil)
        #expect(Decimals.format(30100, places: 2) == "301")
        #expect(Decimals.format(15, places: 2) == "0.15")
        #expect(Decimals.format(150050, places: 2) == "1500.5")
        #expect(Decimals.itemSum(price: 9999, quantity: 333) == 3330)
    }

    @Test func jobRoundTripsThroughItsWireForm() throws {
        let request = try ReceiptValidator.validate(validBody()).get()
        let job = ReceiptJob(uuid: JobID.derive(groupCode: "g", externalID: "order-1"), groupCode: "g", tenantID: 7, operation: .sellRefund,
                             externalID: "order-1", acceptedAt: Date(timeIntervalSince1970: 1_700_000_000.123), timestamp: request.timestamp,
                             callbackURL: nil, receipt: request.receipt)
        #expect(try ReceiptJob.decode(job.encoded()) == job)
    }
}
