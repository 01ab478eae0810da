/// Money as integer kopecks and quantities as integer thousandths: receipts are checked for
/// exact arithmetic, which floating point cannot promise.
public typealias Kopecks = Int64

/// Quantity in thousandths of a unit (FFD allows three decimals): 2.5 kg is 2500.
public typealias Milliunits = Int64

public enum Decimals {
    /// Converts a JSON number to an integer count of 1/10^places units, or nil when it has more
    /// decimals than `places` (beyond what binary floating point noise explains).
    public static func scaled(_ value: Double, places: Int) -> Int64? {
        guard value.isFinite else { return nil }
        var factor = 1.0
        for _ in 0..<places { factor *= 10 }
        let scaled = value * factor
        guard abs(scaled) < 9.0e15 else { return nil }
        let rounded = scaled.rounded()
        guard abs(scaled - rounded) < 1e-6 * max(1, abs(scaled)) else { return nil }
        return Int64(rounded)
    }

    /// Renders an integer count of 1/10^places units as a plain decimal ("301", "0.15", "1500.5").
    public static func format(_ units: Int64, places: Int) -> String {
        var factor: Int64 = 1
        for _ in 0..<places { factor *= 10 }
        let negative = units < 0
        let magnitude = units.magnitude
        let whole = magnitude / UInt64(factor)
        var fraction = String(magnitude % UInt64(factor))
        var text = String(whole)
        if fraction != "0" {
            fraction = String(repeating: "0", count: places - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return negative ? "-" + text : text
    }

    /// price × quantity in kopecks, rounded half up, as the FN computes an item's sum.
    public static func itemSum(price: Kopecks, quantity: Milliunits) -> Kopecks {
        let product = price * quantity
        return (product + 500) / 1000
    }
}
