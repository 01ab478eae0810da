import Foundation

/// Wall-clock timestamps in the two textual forms the load generator needs.
///
/// Formatted by hand from epoch seconds: the conversion is a few lines, is the same on
/// every platform, and avoids sharing `DateFormatter` instances across tasks.
public enum WallClockText {
    /// Moscow time (UTC+3, no daylight saving since 2014): ATOL timestamps are local
    /// time without a zone, and Russian shops stamp receipts in Moscow time by default.
    public static let moscowOffsetSeconds = 3 * 3600

    /// `dd.mm.yyyy HH:MM:SS`, the format of a receipt's `timestamp` field.
    public static func atolTimestamp(_ date: Date, offsetSeconds: Int = moscowOffsetSeconds) -> String {
        let parts = CivilTime(epochMilliseconds: milliseconds(date) + Int64(offsetSeconds) * 1000)
        return "\(two(parts.day)).\(two(parts.month)).\(four(parts.year)) "
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
    }

    /// ISO 8601 in UTC with milliseconds, e.g. `2026-11-23T07:15:02.123Z`.
    public static func iso8601(_ date: Date) -> String {
        let parts = CivilTime(epochMilliseconds: milliseconds(date))
        return "\(four(parts.year))-\(two(parts.month))-\(two(parts.day))"
            + "T\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))"
            + ".\(three(parts.millisecond))Z"
    }

    private static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    private static func two(_ value: Int) -> String { padded(value, 2) }
    private static func three(_ value: Int) -> String { padded(value, 3) }
    private static func four(_ value: Int) -> String { padded(value, 4) }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// A proleptic Gregorian date and time split out of epoch milliseconds.
private struct CivilTime {
    var year, month, day, hour, minute, second, millisecond: Int

    init(epochMilliseconds: Int64) {
        let msPerDay: Int64 = 86_400_000
        // Floor division so instants before 1970 still land on the right day.
        var days = epochMilliseconds / msPerDay
        var rest = epochMilliseconds % msPerDay
        if rest < 0 {
            rest += msPerDay
            days -= 1
        }
        millisecond = Int(rest % 1000)
        second = Int(rest / 1000 % 60)
        minute = Int(rest / 60_000 % 60)
        hour = Int(rest / 3_600_000)

        // Howard Hinnant's civil_from_days.
        let z = Int(days) + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    }
}
