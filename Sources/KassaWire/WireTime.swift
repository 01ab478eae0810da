import Foundation
import KassaModel

/// The two time formats of the protocol, done by hand so they do not depend on an encoder's date
/// strategy or the host's locale and time zone:
/// - ISO 8601 UTC with whole seconds (`2026-11-23T10:00:00Z`) in `status`;
/// - the document `datetime` as printed on a receipt, `dd.MM.yyyy HH:mm:ss` in the kassa's local
///   time, which the emulator fixes at Moscow time (UTC+3, no daylight saving since 2014): the
///   API's own timestamp form, so it is `ATOLTimestamp`'s.
public enum WireTime {
    /// `2026-11-23T10:00:00Z` (fractions of a second dropped).
    public static func iso8601(_ date: Date) -> String {
        let (c, second) = CivilDate.split(secondsSinceEpoch: Int64(date.timeIntervalSince1970.rounded(.down)))
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T"
            + "\(pad(second / 3600, 2)):\(pad(second / 60 % 60, 2)):\(pad(second % 60, 2))Z"
    }

    /// `23.11.2026 13:00:00` for 10:00:00 UTC: the API's timestamp form (`ATOLTimestamp`).
    public static func documentDateTime(_ date: Date) -> String {
        ATOLTimestamp.format(date)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; nil when the text is not that.
    public static func parseISO8601(_ text: String) -> Date? {
        let b = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= b.count else { return nil }
            var value = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                value = value * 10 + Int(b[i] - 48)
            }
            return value
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {  // '.'
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {  // 'Z'
            i += 1
        } else if b[i] == 43 || b[i] == 45, i + 6 == b.count, b[i + 3] == 58,
            let oh = number(i + 1..<i + 3), let om = number(i + 4..<i + 6)
        {
            offset = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = CivilDate(year: year, month: month, day: day).daysSinceEpoch
        let seconds = days * 86400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Parses a document `datetime` (`dd.MM.yyyy HH:mm:ss`, Moscow time); nil when malformed
    /// or not a real date.
    public static func parseDocumentDateTime(_ text: String) -> Date? {
        ATOLTimestamp.parse(text)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

extension KeyedDecodingContainer {
    /// Decodes an ISO 8601 string (see `WireTime.parseISO8601`).
    func decodeISO8601(forKey key: Key) throws -> Date {
        let text = try decode(String.self, forKey: key)
        guard let date = WireTime.parseISO8601(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "expected an ISO 8601 time like 2026-11-23T10:00:00Z")
        }
        return date
    }

    func decodeISO8601IfPresent(forKey key: Key) throws -> Date? {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let date = WireTime.parseISO8601(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "expected an ISO 8601 time like 2026-11-23T10:00:00Z")
        }
        return date
    }
}
