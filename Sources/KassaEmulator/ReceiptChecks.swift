import KassaWire

/// Checks on a receipt that need nothing but the receipt.
public enum ReceiptChecks {
    /// The longest job id the FN stores in tag 1192.
    public static let maximumJobIDLength = 64

    /// Refuses (`bad_request`) a receipt that is not well formed: the dispatcher sent something
    /// no kassa could take, whatever the tenant's data.
    public static func checkShape(_ receipt: SellRequest) throws(KassaWireError) {
        if receipt.jobID.isEmpty || receipt.jobID.utf8.count > maximumJobIDLength {
            throw .badRequest("args.job_id: expected 1...\(maximumJobIDLength) characters")
        }
        if receipt.items.isEmpty { throw .badRequest("args.items: expected at least one item") }
        if receipt.payments.isEmpty { throw .badRequest("args.payments: expected at least one payment") }
        for (i, item) in receipt.items.enumerated() {
            if item.name.isEmpty { throw .badRequest("args.items[\(i)].name: expected a name") }
            if item.price < 0 { throw .badRequest("args.items[\(i)].price: expected ≥ 0, found \(item.price)") }
            if item.quantity <= 0 {
                throw .badRequest("args.items[\(i)].quantity: expected > 0, found \(item.quantity)")
            }
            if item.sum < 0 { throw .badRequest("args.items[\(i)].sum: expected ≥ 0, found \(item.sum)") }
        }
        for (i, payment) in receipt.payments.enumerated() {
            if payment.sum < 0 { throw .badRequest("args.payments[\(i)].sum: expected ≥ 0, found \(payment.sum)") }
            if payment.type < 0 { throw .badRequest("args.payments[\(i)].type: expected ≥ 0, found \(payment.type)") }
        }
        if receipt.total < 0 { throw .badRequest("args.total: expected ≥ 0, found \(receipt.total)") }
    }

    /// price × quantity / 1000, rounded half-up to kopecks; nil on overflow. Inputs are ≥ 0
    /// (checked by `checkShape`), so half-up is `(p × q + 500) / 1000`.
    public static func itemSum(price: Int64, quantity: Int64) -> Int64? {
        let (product, overflow) = price.multipliedReportingOverflow(by: quantity)
        guard !overflow, product <= Int64.max - 500 else { return nil }
        return (product + 500) / 1000
    }

    /// Refuses (`invalid_arithmetic`) a receipt whose numbers do not add up: every item's sum is
    /// its price × quantity rounded half-up, the item sums make the total, and so do the payments.
    public static func checkArithmetic(_ receipt: SellRequest) throws(KassaWireError) {
        var itemsTotal: Int64 = 0
        for (i, item) in receipt.items.enumerated() {
            guard let expected = itemSum(price: item.price, quantity: item.quantity) else {
                throw KassaWireError(.invalidArithmetic, "item \(i + 1) (\"\(item.name)\"): price × quantity overflows")
            }
            if expected != item.sum {
                throw KassaWireError(
                    .invalidArithmetic,
                    "item \(i + 1) (\"\(item.name)\"): \(item.price) × \(thousandths(item.quantity)) = \(expected) kopecks, but sum is \(item.sum)"
                )
            }
            let (next, overflow) = itemsTotal.addingReportingOverflow(item.sum)
            guard !overflow else { throw KassaWireError(.invalidArithmetic, "the item sums overflow") }
            itemsTotal = next
        }
        if itemsTotal != receipt.total {
            throw KassaWireError(
                .invalidArithmetic, "the items add up to \(itemsTotal) kopecks, but total is \(receipt.total)")
        }
        var paid: Int64 = 0
        for payment in receipt.payments {
            let (next, overflow) = paid.addingReportingOverflow(payment.sum)
            guard !overflow else { throw KassaWireError(.invalidArithmetic, "the payments overflow") }
            paid = next
        }
        if paid != receipt.total {
            throw KassaWireError(
                .invalidArithmetic, "the payments add up to \(paid) kopecks, but total is \(receipt.total)")
        }
    }

    /// 2000 → "2.000".
    private static func thousandths(_ value: Int64) -> String {
        let fraction = String(value % 1000)
        return "\(value / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}
