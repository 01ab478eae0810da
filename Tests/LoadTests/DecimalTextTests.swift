import Foundation
import Testing

@testable import Load

@Suite("Money and quantity text")
struct DecimalTextTests {
    @Test("kopecks format to at most two decimals", arguments: [
        (30100, "301"), (15, "0.15"), (150050, "1500.5"), (0, "0"), (5, "0.05"),
        (100, "1"), (101, "1.01"), (110, "1.1"), (-15, "-0.15"), (4_294_967_295, "42949672.95"),
    ])
    func kopecks(value: Int, expected: String) {
        #expect(DecimalText.kopecks(value) == expected)
    }

    @Test("thousandths format to at most three decimals", arguments: [
        (2000, "2"), (250, "0.25"), (1375, "1.375"), (1, "0.001"), (10, "0.01"), (99_999_999, "99999.999"),
    ])
    func thousandths(value: Int, expected: String) {
        #expect(DecimalText.thousandths(value) == expected)
    }

    @Test("a JSON parser reads the text as exactly the intended decimal")
    func roundTripsThroughJSON() throws {
        for kopecks in Array(0...1_000) + [30100, 150050, 999_999_99, 4_294_967_295] {
            let text = DecimalText.kopecks(kopecks)
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(text)]".utf8)) as? [NSNumber]
            let value = try #require(parsed?.first)
            #expect(Int((value.doubleValue * 100).rounded()) == kopecks)
            #expect(Decimal(string: text) == Decimal(kopecks) / 100)
        }
    }

    @Test("item sums round half up to whole kopecks")
    func itemSums() {
        #expect(DecimalText.itemSumKopecks(priceKopecks: 15050, quantityThousandths: 2000) == 30100)
        #expect(DecimalText.itemSumKopecks(priceKopecks: 1, quantityThousandths: 500) == 1)  // 0.5 kopeck → up
        #expect(DecimalText.itemSumKopecks(priceKopecks: 1, quantityThousandths: 499) == 0)
        #expect(DecimalText.itemSumKopecks(priceKopecks: 333, quantityThousandths: 1500) == 500)  // 499.5 → 500
        #expect(DecimalText.itemSumKopecks(priceKopecks: 9999, quantityThousandths: 1) == 10)  // 9.999 → 10
    }
}
