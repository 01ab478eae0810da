import Foundation
import KassaModel

/// Conversions between Swift values and PostgreSQL's text representation.
///
/// Every connection sets `TimeZone=UTC` and `DateStyle=ISO, YMD` right after (re)connecting, so
/// timestamps come back as `2024-05-01 12:34:56.123456+00`. The parser still honours any offset
/// it finds, so a session changed behind our back cannot shift a date silently.
/// Hand-written rather than DateFormatter: exact to the microsecond, no locale, no shared state.
public enum PostgresText {

    // MARK: Dates

    /// Text for a `timestamptz` parameter: ISO 8601 in UTC with microseconds
    /// (`2024-05-01T12:34:56.123456Z`), PostgreSQL's own precision.
    public static func timestamp(_ date: Date) -> String {
        if date == .distantFuture { return "infinity" }
        if date == .distantPast { return "-infinity" }
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, microOfDay) = floorDivMod(micros, 86_400_000_000)
        let civil = CivilDate(daysSinceEpoch: days)
        let (year, month, day) = (Int64(civil.year), Int64(civil.month), Int64(civil.day))
        let secondOfDay = microOfDay / 1_000_000
        let fraction = microOfDay % 1_000_000
        let hour = secondOfDay / 3600
        let minute = (secondOfDay % 3600) / 60
        let second = secondOfDay % 60
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(hour, 2) + ":"
            + pad(minute, 2) + ":" + pad(second, 2) + "." + pad(fraction, 6) + "Z"
    }

    /// Parses `timestamptz`, `timestamp` (read as UTC) and `date` text output in ISO style.
    /// Accepts a space or `T` between date and time, an optional fraction, and an offset of the
    /// forms `Z`, `+hh`, `+hh:mm`, `+hh:mm:ss`. Returns nil for anything else (e.g. BC dates).
    public static func date(from text: String) -> Date? {
        switch text {
        case "infinity": return .distantFuture
        case "-infinity": return .distantPast
        default: break
        }
        var scanner = ByteScanner(Array(text.utf8))
        guard let year = scanner.number(minDigits: 4, maxDigits: 6), scanner.take("-"),
              let month = scanner.number(minDigits: 2, maxDigits: 2), scanner.take("-"),
              let day = scanner.number(minDigits: 2, maxDigits: 2),
              (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var micros: Int64 = 0
        var offsetSeconds: Int64 = 0
        if !scanner.atEnd {
            guard scanner.take(" ") || scanner.take("T"),
                  let hour = scanner.number(minDigits: 2, maxDigits: 2), scanner.take(":"),
                  let minute = scanner.number(minDigits: 2, maxDigits: 2), scanner.take(":"),
                  let second = scanner.number(minDigits: 2, maxDigits: 2),
                  hour <= 24, minute < 60, second < 61
            else { return nil }
            var fraction: Int64 = 0
            if scanner.take(".") {
                var digits = 0
                while let digit = scanner.digit() {
                    if digits < 6 { fraction = fraction * 10 + digit }
                    digits += 1
                }
                guard digits > 0 else { return nil }
                for _ in min(digits, 6)..<6 { fraction *= 10 }
            }
            micros = ((hour * 60 + minute) * 60 + second) * 1_000_000 + fraction
            if scanner.take("Z") {
                offsetSeconds = 0
            } else if let sign = scanner.sign() {
                guard let offsetHours = scanner.number(minDigits: 2, maxDigits: 2) else { return nil }
                var offset = offsetHours * 3600
                if scanner.take(":") {
                    guard let offsetMinutes = scanner.number(minDigits: 2, maxDigits: 2) else { return nil }
                    offset += offsetMinutes * 60
                    if scanner.take(":") {
                        guard let offsetSecs = scanner.number(minDigits: 2, maxDigits: 2) else { return nil }
                        offset += offsetSecs
                    }
                }
                offsetSeconds = sign * offset
            }
            guard scanner.atEnd else { return nil }
        }
        let days = CivilDate(year: Int(year), month: Int(month), day: Int(day)).daysSinceEpoch
        let total = days * 86_400_000_000 + micros - offsetSeconds * 1_000_000
        return Date(timeIntervalSince1970: Double(total) / 1_000_000)
    }

    // MARK: Arrays

    /// Text for a one-dimensional array parameter (`text[]`, `bigint[]`, `uuid[]`, ...):
    /// every element double-quoted with `"` and `\` escaped, nil as NULL.
    public static func array(_ elements: [String?]) -> String {
        // Built as UTF-8 bytes: receipt bodies pass through here on every admission, and walking
        // them as Characters (grapheme clusters) was a tenth of a dispatcher's CPU.
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(elements.reduce(2) { $0 + ($1?.utf8.count ?? 4) + 3 })
        for (index, element) in elements.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard let element else { out.append(contentsOf: "NULL".utf8); continue }
            out.append(UInt8(ascii: "\""))
            for byte in element.utf8 {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out.append(UInt8(ascii: "\\")) }
                out.append(byte)
            }
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Text for an array parameter of integers.
    public static func array<I: BinaryInteger>(_ elements: [I]) -> String {
        "{" + elements.map { String($0) }.joined(separator: ",") + "}"
    }

    /// Parses the text output of a one-dimensional array. Unquoted `NULL` becomes nil.
    /// Returns nil for malformed input or multi-dimensional arrays.
    public static func arrayElements(from text: String) -> [String?]? {
        let bytes = Array(text.utf8)
        var index = 0
        // An explicit lower bound ("[0:2]={...}") precedes the braces when it is not 1.
        if bytes.first == UInt8(ascii: "[") {
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            index = equals + 1
        }
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{"), bytes.last == UInt8(ascii: "}") else {
            return nil
        }
        index += 1
        let end = bytes.count - 1
        var elements: [String?] = []
        if index == end { return [] }
        while index <= end {
            var element: [UInt8] = []
            var quoted = false
            if bytes[index] == UInt8(ascii: "{") { return nil }  // nested: not supported
            if bytes[index] == UInt8(ascii: "\"") {
                quoted = true
                index += 1
                while index < end, bytes[index] != UInt8(ascii: "\"") {
                    if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                    guard index < end else { return nil }
                    element.append(bytes[index])
                    index += 1
                }
                guard index < end else { return nil }
                index += 1  // closing quote
            } else {
                while index < end, bytes[index] != UInt8(ascii: ",") {
                    element.append(bytes[index])
                    index += 1
                }
            }
            let value = String(decoding: element, as: UTF8.self)
            elements.append(!quoted && value.uppercased() == "NULL" ? nil : value)
            if index == end { break }
            guard bytes[index] == UInt8(ascii: ",") else { return nil }
            index += 1
        }
        return elements
    }

    // MARK: Durations

    /// Whole microseconds in a duration, for `$n::bigint * interval '1 microsecond'`.
    /// Sub-microsecond parts are rounded up so a tiny positive ttl never becomes zero.
    static func microseconds(_ duration: Duration) -> Int64? {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return nil }
        let (wholeSeconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000)
        guard !overflow else { return nil }
        let micros = attoseconds / 1_000_000_000_000 + (attoseconds % 1_000_000_000_000 > 0 ? 1 : 0)
        return wholeSeconds + micros
    }

    private static func floorDivMod(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

/// A tiny cursor over ASCII bytes for the date parser.
private struct ByteScanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { position == bytes.count }

    mutating func take(_ character: Unicode.Scalar) -> Bool {
        guard position < bytes.count, bytes[position] == UInt8(ascii: character) else { return false }
        position += 1
        return true
    }

    mutating func digit() -> Int64? {
        guard position < bytes.count, bytes[position] >= 0x30, bytes[position] <= 0x39 else { return nil }
        defer { position += 1 }
        return Int64(bytes[position] - 0x30)
    }

    mutating func number(minDigits: Int, maxDigits: Int) -> Int64? {
        let start = position
        var value: Int64 = 0
        while position - start < maxDigits, let digit = digit() { value = value * 10 + digit }
        return position - start >= minDigits ? value : nil
    }

    mutating func sign() -> Int64? {
        if take("+") { return 1 }
        if take("-") { return -1 }
        return nil
    }
}
