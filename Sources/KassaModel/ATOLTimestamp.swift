import Foundation

/// The API's timestamp form `dd.mm.yyyy HH:MM:SS`, in Moscow time (UTC+3, no DST), which is what
/// ATOL's servers and the FN print.
public enum ATOLTimestamp {
    public static let expectedForm = "dd.mm.yyyy HH:MM:SS"

    /// Parses `dd.mm.yyyy HH:MM:SS`; nil when the text is not exactly that form or not a real date.
    public static func parse(_ text: String) -> Date? {
        let chars = Array(text.utf8)
        guard chars.count == 19 else { return nil }
        let separators: [(Int, UInt8)] = [(2, UInt8(ascii: ".")), (5, UInt8(ascii: ".")), (10, UInt8(ascii: " ")),
                                          (13, UInt8(ascii: ":")), (16, UInt8(ascii: ":"))]
        for (i, c) in separators where chars[i] != c { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for i in range {
                let c = chars[i]
                guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(c - UInt8(ascii: "0"))
            }
            return value
        }
        guard let day = number(0..<2), let month = number(3..<5), let year = number(6..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              hour < 24, minute < 60, second < 60, year >= 2000
        else { return nil }
        let date = CivilDate(year: year, month: month, day: day)
        guard date.isValid else { return nil }
        let local = date.daysSinceEpoch * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return Date(timeIntervalSince1970: Double(local - moscowOffset))
    }

    /// Formats a date as `dd.mm.yyyy HH:MM:SS` in Moscow time.
    public static func format(_ date: Date) -> String {
        let (day, second) = CivilDate.split(secondsSinceEpoch: Int64(date.timeIntervalSince1970.rounded(.down)) + moscowOffset)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(two(day.day)).\(two(day.month)).\(day.year) \(two(second / 3600)):\(two(second / 60 % 60)):\(two(second % 60))"
    }

    /// A fixed UTC+3, as ATOL's servers and the FN print.
    private static let moscowOffset: Int64 = 3 * 3600
}
