/// Exact decimal text for money and quantities.
///
/// Amounts are kept as integers (kopecks, thousandths) everywhere and only turned into
/// text here, so a JSON body can never carry binary-float noise like `301.00000000001`.
public enum DecimalText {
    /// Formats an amount in kopecks as roubles with at most two decimals, trailing
    /// zeros dropped: 30100 → "301", 15 → "0.15", 150050 → "1500.5".
    public static func kopecks(_ kopecks: Int) -> String {
        fixedPoint(kopecks, scale: 100, digits: 2)
    }

    /// Formats a quantity in thousandths with at most three decimals, trailing zeros
    /// dropped: 2000 → "2", 250 → "0.25", 1375 → "1.375".
    public static func thousandths(_ thousandths: Int) -> String {
        fixedPoint(thousandths, scale: 1000, digits: 3)
    }

    /// `price × quantity` rounded half up to whole kopecks, the way ATOL and the FN
    /// compute an item sum (tag 1043) from price (1079) and quantity (1023).
    ///
    /// Integer arithmetic only; callers pass non-negative values.
    public static func itemSumKopecks(priceKopecks: Int, quantityThousandths: Int) -> Int {
        // +500 then truncate == round half up for a non-negative product.
        (priceKopecks * quantityThousandths + 500) / 1000
    }

    private static func fixedPoint(_ value: Int, scale: Int, digits: Int) -> String {
        let sign = value < 0 ? "-" : ""
        // magnitude avoids overflow for Int.min.
        let magnitude = value.magnitude
        let whole = magnitude / UInt(scale)
        var fraction = magnitude % UInt(scale)
        guard fraction != 0 else { return sign + String(whole) }
        var width = digits
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        let fractionText = String(fraction)
        let padding = String(repeating: "0", count: width - fractionText.count)
        return "\(sign)\(whole).\(padding)\(fractionText)"
    }
}
