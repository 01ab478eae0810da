import Foundation

/// A receipt operation of the ATOL v4 API (FFD 1.05).
public enum Operation: String, Sendable, Codable, CaseIterable {
    case sell
    case sellRefund = "sell_refund"
    case buy
    case buyRefund = "buy_refund"

    /// The operation that cancels this one (a refund of a sale, a sale of a refund...).
    public var inverse: Operation {
        switch self {
        case .sell: .sellRefund
        case .sellRefund: .sell
        case .buy: .buyRefund
        case .buyRefund: .buy
        }
    }
}

/// Tax systems (sno, tag 1055).
public enum TaxSystem: String, Sendable, Codable, CaseIterable {
    case osn
    case usnIncome = "usn_income"
    case usnIncomeOutcome = "usn_income_outcome"
    case envd
    case esn
    case patent
}

/// A receipt as the kassa needs it, with money already in kopecks.
public struct Receipt: Sendable, Equatable {
    public struct Client: Sendable, Equatable {
        public var email: String?
        public var phone: String?
        public var name: String?
        public var inn: String?
        public init(email: String? = nil, phone: String? = nil, name: String? = nil, inn: String? = nil) {
            self.email = email
            self.phone = phone
            self.name = name
            self.inn = inn
        }
    }

    public struct Company: Sendable, Equatable {
        public var email: String?
        public var sno: TaxSystem?
        public var inn: String
        public var paymentAddress: String
        public var location: String?
        public init(email: String? = nil, sno: TaxSystem? = nil, inn: String, paymentAddress: String, location: String? = nil) {
            self.email = email
            self.sno = sno
            self.inn = inn
            self.paymentAddress = paymentAddress
            self.location = location
        }
    }

    public struct Item: Sendable, Equatable {
        public var name: String
        public var price: Kopecks
        public var quantity: Milliunits
        public var sum: Kopecks
        public var measurementUnit: String?
        public var paymentMethod: String
        public var paymentObject: String
        public var vat: String
        public var vatSum: Kopecks?
        public init(name: String, price: Kopecks, quantity: Milliunits, sum: Kopecks, measurementUnit: String? = nil,
                    paymentMethod: String, paymentObject: String, vat: String, vatSum: Kopecks? = nil) {
            self.name = name
            self.price = price
            self.quantity = quantity
            self.sum = sum
            self.measurementUnit = measurementUnit
            self.paymentMethod = paymentMethod
            self.paymentObject = paymentObject
            self.vat = vat
            self.vatSum = vatSum
        }
    }

    public struct Payment: Sendable, Equatable {
        /// 0 cash, 1 cashless, 2 prepayment offset, 3 credit, 4 counter-provision, 5–9 extended.
        public var type: Int
        public var sum: Kopecks
        public init(type: Int, sum: Kopecks) {
            self.type = type
            self.sum = sum
        }
    }

    public var client: Client
    public var company: Company
    public var items: [Item]
    public var payments: [Payment]
    public var total: Kopecks
    public var cashier: String?

    public init(client: Client, company: Company, items: [Item], payments: [Payment], total: Kopecks, cashier: String? = nil) {
        self.client = client
        self.company = company
        self.items = items
        self.payments = payments
        self.total = total
        self.cashier = cashier
    }
}

/// A validated registration request: `POST /{group_code}/{operation}`.
public struct ReceiptRequest: Sendable, Equatable {
    public var timestamp: Date
    public var externalID: String
    public var callbackURL: String?
    public var receipt: Receipt
}
