import Foundation

/// The kind of receipt (FFD tag 1054).
public enum WireOperation: String, Sendable, Codable, CaseIterable {
    case sell
    case sellRefund = "sell_refund"
    case buy
    case buyRefund = "buy_refund"
}

/// Arguments of `sell`: one receipt to fiscalize.
///
/// Money is integer kopecks; quantities are integer thousandths (2000 = 2.000).
public struct SellRequest: Sendable, Codable, Equatable {
    /// The job's uuid, canonical lowercase; stored as FFD tag 1192 so the archive names the job.
    public var jobID: String
    public var operation: WireOperation
    public var inn: String
    /// Must equal the registered payment address character for character.
    public var paymentAddress: String
    /// The receipt's tax system; must be one of the registered ones.
    public var sno: String
    public var client: WireClient?
    public var items: [WireItem]
    public var payments: [WirePayment]
    /// Kopecks; equals Σ item sums and Σ payments.
    public var total: Int64
    /// The job whose duplicate document this refund annuls (resend-and-annul); stored in the
    /// document so the archive itself says what the refund cancels.
    public var annuls: String?

    public init(
        jobID: String, operation: WireOperation = .sell, inn: String, paymentAddress: String, sno: String,
        client: WireClient? = nil, items: [WireItem], payments: [WirePayment], total: Int64
    ) {
        self.jobID = jobID
        self.operation = operation
        self.inn = inn
        self.paymentAddress = paymentAddress
        self.sno = sno
        self.client = client
        self.items = items
        self.payments = payments
        self.total = total
    }

    /// The same, naming the job by its uuid (written in canonical lowercase).
    public init(
        job: UUID, operation: WireOperation = .sell, inn: String, paymentAddress: String, sno: String,
        client: WireClient? = nil, items: [WireItem], payments: [WirePayment], total: Int64
    ) {
        self.init(
            jobID: job.uuidString.lowercased(), operation: operation, inn: inn, paymentAddress: paymentAddress,
            sno: sno, client: client, items: items, payments: payments, total: total)
    }

    enum CodingKeys: String, CodingKey {
        case operation, inn, sno, client, items, payments, total, annuls
        case jobID = "job_id"
        case paymentAddress = "payment_address"
    }
}

/// The buyer's contact the electronic receipt goes to.
public struct WireClient: Sendable, Codable, Equatable {
    public var email: String?
    public var phone: String?

    public init(email: String? = nil, phone: String? = nil) {
        self.email = email
        self.phone = phone
    }
}

/// One receipt line.
public struct WireItem: Sendable, Codable, Equatable {
    public var name: String
    /// Kopecks per unit.
    public var price: Int64
    /// Thousandths of a unit (1000 = 1.000).
    public var quantity: Int64
    /// Kopecks: price × quantity / 1000, rounded half-up.
    public var sum: Int64
    /// VAT rate code (`none`, `vat0`, `vat10`, `vat20`, ...), passed through.
    public var vat: String
    /// FFD 1.05 payment method (`full_payment`, `advance`, ...), passed through.
    public var paymentMethod: String
    /// FFD 1.05 payment object (`commodity`, `service`, ...), passed through.
    public var paymentObject: String

    public init(
        name: String, price: Int64, quantity: Int64, sum: Int64, vat: String = "none",
        paymentMethod: String = "full_payment", paymentObject: String = "commodity"
    ) {
        self.name = name
        self.price = price
        self.quantity = quantity
        self.sum = sum
        self.vat = vat
        self.paymentMethod = paymentMethod
        self.paymentObject = paymentObject
    }

    enum CodingKeys: String, CodingKey {
        case name, price, quantity, sum, vat
        case paymentMethod = "payment_method"
        case paymentObject = "payment_object"
    }
}

/// One payment of a receipt.
public struct WirePayment: Sendable, Codable, Equatable {
    /// ATOL payment type (0 cash, 1 electronic, 2...9 prepaid, credit and others).
    public var type: Int
    /// Kopecks.
    public var sum: Int64

    public init(type: Int, sum: Int64) {
        self.type = type
        self.sum = sum
    }
}
