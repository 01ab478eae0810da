import Foundation
import KassaModel
import Testing

/// The JSON reader and writer on the receipt path, and the job's wire form.
@Suite struct JSONCodingTests {
    private func parse(_ text: String) throws -> JSONValue {
        try JSONValue.parse(Array(text.utf8))
    }

    private func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try JSONValue.parse(bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test func readsEveryKindOfValue() throws {
        let value = try parse(#" { "a" : [1, -2.5, 3e2, true, false, null], "b": {"c": "d"}, "e": "" } "#)
        #expect(value == ["a": [1, .number(-2.5), 300, true, false, nil], "b": ["c": "d"], "e": ""])
        #expect(try parse("42") == 42)
        #expect(try parse("\"top\"") == "top")
        #expect(try parse("[]") == [])
        #expect(try parse("{}") == [:])
        #expect(try parse("\u{FEFF}{}") == [:])
    }

    @Test func decodesEscapesAndUnicode() throws {
        #expect(try parse(#""q\"b\\s\/n\nt\tr\rb\bf\f""#) == .string("q\"b\\s/n\nt\tr\rb\u{08}f\u{0C}"))
        #expect(try parse(#""\u0416\u00e9\ud83d\ude00""#) == .string("Жé😀"))
        #expect(try parse("\"Чай, 100 г\"") == .string("Чай, 100 г"))
    }

    @Test func numbersAreTheNearestDouble() throws {
        // The fast path (digits over a power of ten) must agree with Swift's own correctly
        // rounded conversion, and longer texts go through it.
        let texts = ["0", "-0", "0.1", "250.00", "99.99", "99.98999999999999", "1.005", "123456789012345",
                     "1234567890123456789", "1e22", "1e23", "1.5E-7", "-3.25e+2", "0.000001", "9007199254740993",
                     "1732400000123.456", "5e-324", "1.7976931348623157e308"]
        for text in texts {
            #expect(try parse(text) == .number(try #require(Double(text))), "\(text)")
        }
        // Amounts with kopecks, spread over eight digits of rubles; fixed, so a failure repeats.
        for step in 0..<2_000 {
            let rubles = (step * 7_919_993) % 100_000_000
            let text = "\(rubles).\(String(format: "%02d", step % 100))"
            #expect(try parse(text) == .number(try #require(Double(text))), "\(text)")
        }
    }

    @Test func refusesWhatIsNotJSON() {
        let cases: [(String, String)] = [
            ("", "expected a value, found the end of the text at line 1, column 1"),
            ("{\"a\":1,}", "expected a quoted key at line 1, column 8"),
            ("[1,]", "expected a value at line 1, column 4"),
            ("{\"a\" 1}", "expected ':' after the key \"a\" at line 1, column 6"),
            ("{\n  \"a\": 1\n  \"b\": 2}", "expected ',' or '}' after the value of \"a\" at line 3, column 3"),
            ("01", "a number must not have a leading zero at line 1, column 2"),
            ("1.", "expected a digit after the decimal point at line 1, column 3"),
            ("-", "expected a digit at line 1, column 2"),
            ("tru", "expected a value at line 1, column 1"),
            ("{} x", "unexpected text after the JSON value at line 1, column 4"),
            ("\"open", "a string is not closed at line 1, column 1"),
            ("\"a\tb\"", "a control character must be escaped in a string at line 1, column 3"),
            ("\"\\x\"", "unknown escape in a string at line 1, column 2"),
            ("\"\\ud800\"", "a \\u escape of a high surrogate must be followed by a low one at line 1, column 8"),
            ("\"\\udc00\"", "a \\u escape is a lone surrogate at line 1, column 8"),
            ("\"\\u12\"", "a \\u escape needs four hex digits at line 1, column 4"),
            ("NaN", "expected a value at line 1, column 1"),
            ("[1e400]", "a number is out of range at line 1, column 2"),
        ]
        for (text, reason) in cases {
            #expect(refusal(Array(text.utf8)) == reason, "\(text)")
        }
        #expect(refusal([0x22, 0xFF, 0x22]) == "a string is not valid UTF-8 at line 1, column 1")
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(refusal(Array(deep.utf8)) == "nested deeper than 512 levels at line 1, column 513")
    }

    @Test func writtenTextReadsBack() throws {
        var w = JSONWriter()
        w.beginObject()
        w.member("text", "quote \" backslash \\ newline \n tab \t bell \u{07} юникод 😀 /")
        w.member("count", Int64(-12))
        w.member("absent", nil as String?)
        w.key("list")
        w.beginArray()
        w.number(0.5)
        w.number(3)
        w.bool(true)
        w.null()
        w.beginObject()
        w.endObject()
        w.endArray()
        w.endObject()
        let text = String(decoding: w.bytes, as: UTF8.self)
        #expect(text.contains(#"bell \u0007"#))
        #expect(try JSONValue.parse(w.bytes) == [
            "text": "quote \" backslash \\ newline \n tab \t bell \u{07} юникод 😀 /", "count": -12,
            "list": [.number(0.5), 3, true, nil, [:]],
        ])
        // The same as JSONSerialization reads it.
        let foundation = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        #expect(foundation["text"] as? String == "quote \" backslash \\ newline \n tab \t bell \u{07} юникод 😀 /")
    }

    @Test func aJobBodyWrittenByJSONEncoderStillReads() throws {
        // The form the registry holds from before the job was coded by hand.
        let stored = [
            #"{"acceptedAt":1700000000123.4561,"callbackURL":"https:\/\/shop.example\/cb","externalID":"order-1","groupCode":"g","#,
            #""operation":"sell","receipt":{"client":{"email":"buyer@example.com"},"company":{"inn":"7707083893","#,
            #""paymentAddress":"https:\/\/tea.example","sno":"osn"},"items":[{"measurementUnit":"pcs","name":"Tea","paymentMethod":"#,
            #""full_payment","paymentObject":"commodity","price":15050,"quantity":2000,"sum":30100,"vat":"vat20"}],"#,
            #""payments":[{"sum":30100,"type":1}],"total":30100},"tenantID":7,"timestamp":1700000000000,"#,
            #""uuid":"6F9619FF-8B86-D011-B42D-00CF4FC964FF"}"#,
        ].joined()
        let job = try ReceiptJob.decode(Array(stored.utf8))
        #expect(job.uuid == UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF"))
        #expect(job.callbackURL == "https://shop.example/cb")
        #expect(job.acceptedAt == Date(timeIntervalSince1970: 1700000000123.4561 / 1000))
        #expect(job.receipt.items == [Receipt.Item(name: "Tea", price: 15050, quantity: 2000, sum: 30100, measurementUnit: "pcs",
                                                   paymentMethod: "full_payment", paymentObject: "commodity", vat: "vat20")])
        #expect(job.receipt.company.sno == .osn)
        #expect(job.annuls == nil)
        #expect(try ReceiptJob.decode(job.encoded()) == job)
    }

    @Test func aJobOfTheWrongShapeNamesTheMember() throws {
        let job = ReceiptJob(uuid: UUID(), groupCode: "g", tenantID: 1, operation: .sell, externalID: "e",
                             acceptedAt: Date(timeIntervalSince1970: 1_700_000_000.5), timestamp: Date(timeIntervalSince1970: 1_700_000_000),
                             callbackURL: nil,
                             receipt: Receipt(client: .init(email: "a@b.c"), company: .init(inn: "7707083893", paymentAddress: "x"),
                                              items: [.init(name: "n", price: 1, quantity: 1000, sum: 1, paymentMethod: "full_payment",
                                                            paymentObject: "commodity", vat: "none")],
                                              payments: [.init(type: 1, sum: 1)], total: 1))
        var refund = job.annulment(fnSerial: "9999078900001234", fiscalDocumentNumber: 5, at: Date(timeIntervalSince1970: 1_700_000_100.25))
        refund.receipt.cashier = "Иванова"
        #expect(try ReceiptJob.decode(refund.encoded()) == refund)
        let broken = String(decoding: job.encoded(), as: UTF8.self).replacingOccurrences(of: #""price":1"#, with: #""price":"1""#)
        #expect(throws: JSONShapeError(path: "receipt.items[0].price", expected: "an integer", found: .string("1"))) {
            try ReceiptJob.decode(Array(broken.utf8))
        }
        let unknown = String(decoding: job.encoded(), as: UTF8.self).replacingOccurrences(of: #""operation":"sell""#, with: #""operation":"gift""#)
        #expect(throws: JSONShapeError(path: "operation", expected: "a known Operation value", found: .string("gift"))) {
            try ReceiptJob.decode(Array(unknown.utf8))
        }
    }
}
