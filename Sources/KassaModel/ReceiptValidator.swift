import Foundation

/// One problem with a request: where (a field path such as `receipt.items[2].price`) and what
/// form was expected there.
public struct FieldProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var expected: String
    public var description: String { "\(path): \(expected)" }
}

/// Why a receipt request was refused. Schema problems (types, required fields, lengths, enums,
/// formats) answer code 32; consistency problems (arithmetic, check digits) answer code 13.
public struct ReceiptValidationError: Error, Sendable, Equatable {
    public var problems: [FieldProblem]
    public var code: ATOLErrorCode

    /// The API error, naming every field path and the expected form.
    public var atolError: ATOLError {
        ATOLError(code, "fields: " + problems.map(\.description).joined(separator: "; "))
    }
}

/// Validates an ATOL v4 (FFD 1.05) sell / sell_refund / buy / buy_refund body and builds the
/// typed receipt. Every rule of the request is checked; all problems are reported at once.
public enum ReceiptValidator {
    public static let maxPrice: Kopecks = 4_294_967_295
    public static let paymentMethods: Set<String> = [
        "full_prepayment", "prepayment", "advance", "full_payment", "partial_payment", "credit", "credit_payment",
    ]
    public static let paymentObjects: Set<String> = [
        "commodity", "excise", "job", "service", "gambling_bet", "gambling_prize", "lottery", "lottery_prize",
        "intellectual_activity", "payment", "agent_commission", "composite", "award", "another", "property_right",
        "non-operating_gain", "insurance_premium", "sales_tax", "resort_fee", "deposit", "expense",
        "pension_insurance_ip", "pension_insurance", "medical_insurance_ip", "medical_insurance", "social_insurance",
        "casino_payment",
    ]
    public static let taxSystems = Set(TaxSystem.allCases.map(\.rawValue))
    /// vat18 and vat118 are refused since 01.04.2019.
    public static let vatTypes: Set<String> = ["none", "vat0", "vat10", "vat110", "vat20", "vat120"]

    public static func validate(_ body: JSONValue) -> Result<ReceiptRequest, ReceiptValidationError> {
        var walk = Walk()
        let request = walk.request(body)
        if !walk.schema.isEmpty {
            return .failure(ReceiptValidationError(problems: walk.schema + walk.consistency, code: .incomingValidation))
        }
        if !walk.consistency.isEmpty {
            return .failure(ReceiptValidationError(problems: walk.consistency, code: .validation))
        }
        guard let request else {
            return .failure(ReceiptValidationError(problems: [FieldProblem(path: "(body)", expected: "a JSON object")], code: .incomingValidation))
        }
        return .success(request)
    }
}

/// Collects problems while walking the JSON tree. Paths and expected forms are autoclosures
/// and built only for a problem: the ingress walks every receipt, and building them eagerly
/// (sorting an enum's names for each field) was most of the walk's cost.
private struct Walk {
    var schema: [FieldProblem] = []
    var consistency: [FieldProblem] = []

    mutating func fail(_ path: String, _ expected: String) { schema.append(FieldProblem(path: path, expected: expected)) }
    mutating func inconsistent(_ path: String, _ expected: String) { consistency.append(FieldProblem(path: path, expected: expected)) }

    mutating func object(_ value: JSONValue?, _ path: @autoclosure () -> String, required: Bool = true) -> [String: JSONValue]? {
        switch value {
        case .object(let o)?: return o
        case nil, .null?:
            if required { fail(path(), "required, an object") }
            return nil
        case let v?:
            fail(path(), "an object, got \(v.typeName)")
            return nil
        }
    }

    mutating func string(_ value: JSONValue?, _ path: @autoclosure () -> String, required: Bool, length: ClosedRange<Int>) -> String? {
        switch value {
        case .string(let s)?:
            // Characters are never more than UTF-8 bytes, so a short enough non-empty string needs
            // no count (String.count breaks the text into grapheme clusters).
            let surelyFits = s.utf8.count <= length.upperBound && (length.lowerBound == 0 || (length.lowerBound == 1 && !s.isEmpty))
            guard surelyFits || length.contains(s.count) else {
                fail(path(), "a string of \(length.lowerBound) to \(length.upperBound) characters, got \(s.count)")
                return nil
            }
            return s
        case nil, .null?:
            if required { fail(path(), "required, a string of \(length.lowerBound) to \(length.upperBound) characters") }
            return nil
        case let v?:
            fail(path(), "a string, got \(v.typeName)")
            return nil
        }
    }

    mutating func oneOf(_ value: JSONValue?, _ path: @autoclosure () -> String, required: Bool, _ allowed: Set<String>) -> String? {
        func form() -> String { "one of " + allowed.sorted().joined(separator: "|") }
        switch value {
        case .string(let s)? where allowed.contains(s): return s
        case nil, .null?:
            if required { fail(path(), "required, \(form())") }
            return nil
        default:
            fail(path(), form())
            return nil
        }
    }

    /// A decimal number with at most `places` decimals within `range` (in scaled units).
    mutating func decimal(_ value: JSONValue?, _ path: @autoclosure () -> String, places: Int, range: ClosedRange<Int64>) -> Int64? {
        func form() -> String {
            "a number with at most \(places) decimals from \(Decimals.format(range.lowerBound, places: places)) to \(Decimals.format(range.upperBound, places: places))"
        }
        guard case .number(let d)? = value else {
            if value == nil || value == .null { fail(path(), "required, \(form())") } else { fail(path(), form() + ", got \(value?.typeName ?? "nothing")") }
            return nil
        }
        guard let scaled = Decimals.scaled(d, places: places), range.contains(scaled) else {
            fail(path(), form())
            return nil
        }
        return scaled
    }

    mutating func array(_ value: JSONValue?, _ path: @autoclosure () -> String, required: Bool, count: ClosedRange<Int>) -> [JSONValue]? {
        switch value {
        case .array(let a)?:
            guard count.contains(a.count) else {
                fail(path(), "an array of \(count.lowerBound) to \(count.upperBound) elements, got \(a.count)")
                return nil
            }
            return a
        case nil, .null?:
            if required { fail(path(), "required, an array of \(count.lowerBound) to \(count.upperBound) elements") }
            return nil
        case let v?:
            fail(path(), "an array, got \(v.typeName)")
            return nil
        }
    }

    mutating func inn(_ value: JSONValue?, _ path: String, required: Bool) -> String? {
        guard let text = string(value, path, required: required, length: 10...12) else { return nil }
        guard text.count == 10 || text.count == 12, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            fail(path, "10 or 12 digits")
            return nil
        }
        guard INN.isValid(text) else {
            inconsistent(path, "an INN whose check digits are valid")
            return nil
        }
        return text
    }

    mutating func request(_ body: JSONValue) -> ReceiptRequest? {
        guard let top = object(body, "(body)") else { return nil }
        let timestampText = string(top["timestamp"], "timestamp", required: true, length: 19...19)
        var timestamp: Date?
        if let timestampText {
            timestamp = ATOLTimestamp.parse(timestampText)
            if timestamp == nil { fail("timestamp", "a date in the form \(ATOLTimestamp.expectedForm)") }
        } else if case .string? = top["timestamp"] {
            // Length problem already reported; say the form too.
            schema[schema.count - 1].expected += " in the form \(ATOLTimestamp.expectedForm)"
        }
        let externalID = string(top["external_id"], "external_id", required: true, length: 1...128)
        var callbackURL: String?
        if let service = object(top["service"], "service", required: false) {
            callbackURL = string(service["callback_url"], "service.callback_url", required: false, length: 0...256)
            if callbackURL?.isEmpty == true { callbackURL = nil }
        }
        let receipt = self.receipt(top["receipt"])
        guard let timestamp, let externalID, let receipt else { return nil }
        return ReceiptRequest(timestamp: timestamp, externalID: externalID, callbackURL: callbackURL, receipt: receipt)
    }

    mutating func receipt(_ value: JSONValue?) -> Receipt? {
        guard let r = object(value, "receipt") else { return nil }
        let client = self.client(r["client"])
        let company = self.company(r["company"])
        var items: [Receipt.Item] = []
        var itemsOK = true
        if let list = array(r["items"], "receipt.items", required: true, count: 1...100) {
            for (i, element) in list.enumerated() {
                if let item = self.item(element, "receipt.items[\(i)]") { items.append(item) } else { itemsOK = false }
            }
        } else { itemsOK = false }
        var payments: [Receipt.Payment] = []
        var paymentsOK = true
        if let list = array(r["payments"], "receipt.payments", required: true, count: 1...10) {
            for (i, element) in list.enumerated() {
                func path() -> String { "receipt.payments[\(i)]" }
                guard let p = object(element, path()) else { paymentsOK = false; continue }
                var type: Int?
                if case .number(let d)? = p["type"], d == d.rounded(), (0...9).contains(d) { type = Int(d) } else {
                    fail(path() + ".type", "required, an integer from 0 to 9")
                }
                let sum = decimal(p["sum"], path() + ".sum", places: 2, range: 0...ReceiptValidator.maxPrice * 100)
                if let type, let sum { payments.append(.init(type: type, sum: sum)) } else { paymentsOK = false }
            }
        } else { paymentsOK = false }
        if let vats = array(r["vats"], "receipt.vats", required: false, count: 1...6) {
            for (i, element) in vats.enumerated() {
                func path() -> String { "receipt.vats[\(i)]" }
                guard let v = object(element, path()) else { continue }
                _ = oneOf(v["type"], path() + ".type", required: true, ReceiptValidator.vatTypes)
                if v["sum"] != nil { _ = decimal(v["sum"], path() + ".sum", places: 2, range: 0...ReceiptValidator.maxPrice * 100) }
            }
        }
        let total = decimal(r["total"], "receipt.total", places: 2, range: 0...ReceiptValidator.maxPrice * 100)
        let cashier = string(r["cashier"], "receipt.cashier", required: false, length: 0...64)
        if let total, itemsOK {
            let sum = items.reduce(0) { $0 + $1.sum }
            if sum != total {
                inconsistent("receipt.total", "the sum of receipt.items[].sum (\(Decimals.format(sum, places: 2))), got \(Decimals.format(total, places: 2))")
            }
        }
        if let total, paymentsOK {
            let paid = payments.reduce(0) { $0 + $1.sum }
            if paid != total {
                inconsistent("receipt.payments", "sums adding up to receipt.total (\(Decimals.format(total, places: 2))), got \(Decimals.format(paid, places: 2))")
            }
        }
        guard let client, let company, let total, itemsOK, paymentsOK else { return nil }
        return Receipt(client: client, company: company, items: items, payments: payments, total: total, cashier: cashier)
    }

    mutating func client(_ value: JSONValue?) -> Receipt.Client? {
        guard let c = object(value, "receipt.client") else { return nil }
        let email = string(c["email"], "receipt.client.email", required: false, length: 1...64)
        let phone = string(c["phone"], "receipt.client.phone", required: false, length: 1...64)
        let name = string(c["name"], "receipt.client.name", required: false, length: 1...256)
        let inn = c["inn"] == nil ? nil : self.inn(c["inn"], "receipt.client.inn", required: false)
        if c["email"] == nil && c["phone"] == nil {
            fail("receipt.client", "an email or a phone (at least one is required)")
            return nil
        }
        return Receipt.Client(email: email, phone: phone, name: name, inn: inn)
    }

    mutating func company(_ value: JSONValue?) -> Receipt.Company? {
        guard let c = object(value, "receipt.company") else { return nil }
        let email = string(c["email"], "receipt.company.email", required: false, length: 1...64)
        let sno = oneOf(c["sno"], "receipt.company.sno", required: false, ReceiptValidator.taxSystems)
        let inn = self.inn(c["inn"], "receipt.company.inn", required: true)
        let address = string(c["payment_address"], "receipt.company.payment_address", required: true, length: 1...256)
        let location = string(c["location"], "receipt.company.location", required: false, length: 1...256)
        guard let inn, let address else { return nil }
        return Receipt.Company(email: email, sno: sno.flatMap(TaxSystem.init(rawValue:)), inn: inn, paymentAddress: address, location: location)
    }

    mutating func item(_ value: JSONValue?, _ path: @autoclosure () -> String) -> Receipt.Item? {
        guard let i = object(value, path()) else { return nil }
        let name = string(i["name"], path() + ".name", required: true, length: 1...128)
        let price = decimal(i["price"], path() + ".price", places: 2, range: 0...ReceiptValidator.maxPrice)
        let quantity = decimal(i["quantity"], path() + ".quantity", places: 3, range: 1...99_999_999)
        let sum = decimal(i["sum"], path() + ".sum", places: 2, range: 0...ReceiptValidator.maxPrice * 100)
        let unit = string(i["measurement_unit"], path() + ".measurement_unit", required: false, length: 0...16)
        let method = oneOf(i["payment_method"], path() + ".payment_method", required: true, ReceiptValidator.paymentMethods)
        let object = oneOf(i["payment_object"], path() + ".payment_object", required: true, ReceiptValidator.paymentObjects)
        var vat: String?
        var vatSum: Kopecks?
        if let v = self.object(i["vat"], path() + ".vat") {
            vat = oneOf(v["type"], path() + ".vat.type", required: true, ReceiptValidator.vatTypes)
            if v["sum"] != nil { vatSum = decimal(v["sum"], path() + ".vat.sum", places: 2, range: 0...ReceiptValidator.maxPrice * 100) }
        }
        _ = string(i["user_data"], path() + ".user_data", required: false, length: 0...64)
        guard let name, let price, let quantity, let sum, let method, let object, let vat else { return nil }
        let expected = Decimals.itemSum(price: price, quantity: quantity)
        // "Within rounding": the FN rounds half up; allow one kopeck for clients that round otherwise.
        if abs(expected - sum) > 1 {
            inconsistent(path() + ".sum", "price × quantity = \(Decimals.format(expected, places: 2)), got \(Decimals.format(sum, places: 2))")
        }
        return Receipt.Item(name: name, price: price, quantity: quantity, sum: sum, measurementUnit: unit,
                            paymentMethod: method, paymentObject: object, vat: vat, vatSum: vatSum)
    }
}
