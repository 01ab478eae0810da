import Foundation

/// The API's timestamp form `dd.mm.yyyy HH:MM:SS`, in Moscow time (UTC+3, no DST), which is what
/// ATOL's servers and the FN print.
public enum ATOLTimestamp {
    public static let expectedForm = "dd.mm.yyyy HH:MM:SS"
    private static let moscow = TimeZone(secondsFromGMT: 3 * 3600) ?? .gmt

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
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60, year >= 2000
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = moscow
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let date = calendar.date(from: components) else { return nil }
        // Reject dates the calendar silently rolled over (31.02 -> 03.03).
        let back = calendar.dateComponents([.day, .month], from: date)
        guard back.day == day, back.month == month else { return nil }
        return date
    }

    /// Formats a date as `dd.mm.yyyy HH:MM:SS` in Moscow time.
    public static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = moscow
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String {
            let v = v ?? 0
            return v < 10 ? "0\(v)" : "\(v)"
        }
        return "\(two(c.day)).\(two(c.month)).\(c.year ?? 0) \(two(c.hour)):\(two(c.minute)):\(two(c.second))"
    }
}
