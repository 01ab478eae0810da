/// The v4 operations the load generator posts (corrections have a different body and
/// are out of scope for load).
public enum ReceiptOperation: String, Sendable, Codable, CaseIterable {
    case sell
    case sellRefund = "sell_refund"
    case buy
    case buyRefund = "buy_refund"
}

/// One receipt line, with money in kopecks and quantity in thousandths.
public struct GeneratedItem: Sendable, Hashable {
    public var name: String
    public var priceKopecks: Int
    public var quantityThousandths: Int
    /// Always `DecimalText.itemSumKopecks(price, quantity)` for valid receipts.
    public var sumKopecks: Int
    public var measurementUnit: String
    public var paymentMethod: String
    public var paymentObject: String
    public var vat: String
}

/// One `receipt.payments[]` entry.
public struct GeneratedPayment: Sendable, Hashable {
    /// 0 cash, 1 cashless, 2 prepayment offset.
    public var type: Int
    public var sumKopecks: Int
}

/// The single thing wrong with a deliberately invalid receipt. Each one violates the
/// v4 JSON schema, so a conforming server answers code 32 (IncomingValidationException).
public enum ReceiptFlaw: String, Sendable, CaseIterable, Codable {
    /// `items: []` against `minItems: 1`.
    case emptyItems
    /// `payments` left out although required.
    case missingPayments
    /// A quantity of 0 against `minimum: 0.001`.
    case zeroQuantity
    /// A `vat.type` outside the enum.
    case unknownVAT
    /// `company.inn` left out although required.
    case missingCompanyINN
}

/// A receipt ready to post, plus the facts needed to check what comes back.
public struct GeneratedReceipt: Sendable {
    /// Position in the run's stream; regenerating the same number gives the same receipt.
    public var number: Int
    public var externalID: String
    public var operation: ReceiptOperation
    /// `dd.mm.yyyy HH:MM:SS`, as sent.
    public var timestamp: String
    public var tenant: TenantCredentials
    public var companyEmail: String
    public var clientEmail: String?
    public var clientPhone: String?
    public var items: [GeneratedItem]
    public var payments: [GeneratedPayment]
    /// `receipt.total`: the sum of item sums (and of payments) for valid receipts.
    public var totalKopecks: Int
    /// Set only for deliberately invalid receipts.
    public var flaw: ReceiptFlaw?
}
