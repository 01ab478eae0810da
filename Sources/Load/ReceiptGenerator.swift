/// Makes varied, arithmetically consistent ATOL v4 receipts, reproducibly.
///
/// Receipt `n` depends only on `(seed, n)` and the tenant, never on which receipts were
/// generated before it, so a deliberate duplicate can regenerate the exact original body
/// instead of the runner keeping every body in memory.
public struct ReceiptGenerator: Sendable {
    public let seed: UInt64
    /// Part of every external_id; distinguishes runs that share a seed.
    public let runID: String

    public init(seed: UInt64, runID: String) {
        self.seed = seed
        self.runID = runID
    }

    /// `load-<runID>-<number>`.
    public func externalID(number: Int) -> String {
        "load-\(runID)-\(number)"
    }

    /// A valid receipt: 1–5 items, sums rounded half up, 1–2 payments adding up to the total.
    public func receipt(number: Int, tenant: TenantCredentials, timestamp: String) -> GeneratedReceipt {
        var random = SeededRandom(seed: seed, stream: UInt64(truncatingIfNeeded: number))
        let operation = Self.operation(&random)
        let items = (0..<random.int(in: 1...5)).map { _ in Self.item(&random) }
        let total = items.reduce(0) { $0 + $1.sumKopecks }
        let payments = Self.payments(total: total, &random)
        let (email, phone) = Self.client(&random)
        return GeneratedReceipt(
            number: number,
            externalID: externalID(number: number),
            operation: operation,
            timestamp: timestamp,
            tenant: tenant,
            companyEmail: "shop@example.com",
            clientEmail: email,
            clientPhone: phone,
            items: items,
            payments: payments,
            totalKopecks: total,
            flaw: nil
        )
    }

    /// A receipt with exactly one schema violation, chosen from the seed.
    public func invalidReceipt(number: Int, tenant: TenantCredentials, timestamp: String) -> GeneratedReceipt {
        var receipt = receipt(number: number, tenant: tenant, timestamp: timestamp)
        // A separate stream so the flaw choice does not shift the valid content.
        var random = SeededRandom(seed: ~seed, stream: UInt64(truncatingIfNeeded: number))
        let flaw = random.pick(ReceiptFlaw.allCases)
        receipt.flaw = flaw
        switch flaw {
        case .emptyItems:
            receipt.items = []
        case .zeroQuantity:
            receipt.items[0].quantityThousandths = 0
        case .unknownVAT:
            receipt.items[0].vat = "vat99"
        case .missingPayments, .missingCompanyINN:
            break  // rendered by leaving the field out
        }
        return receipt
    }

    // MARK: - Content tables

    private static let catalogue: [(name: String, weighed: Bool)] = [
        ("Tea", false), ("Coffee beans 250 g", false), ("Чай чёрный байховый", false),
        ("Хлеб \"Бородинский\"", false), ("USB-C cable 1 m", false), ("Notebook A5", false),
        ("Яблоки", true), ("Cheese", true), ("Сыр российский", true), ("Bananas", true),
        ("Delivery", false), ("Gift wrap", false),
    ]
    private static let vatTypes = ["none", "vat0", "vat10", "vat20", "vat110", "vat120"]

    private static func operation(_ random: inout SeededRandom) -> ReceiptOperation {
        // Mostly sales, as in a real shop; refunds and purchases keep those paths warm.
        switch random.int(in: 0...99) {
        case 0..<85: .sell
        case 85..<92: .sellRefund
        case 92..<97: .buy
        default: .buyRefund
        }
    }

    private static func item(_ random: inout SeededRandom) -> GeneratedItem {
        let product = random.pick(catalogue)
        var price = random.int(in: 1_000...500_000)  // 10 to 5000 roubles
        if random.chance(0.3) { price -= price % 100 }  // whole roubles are common too
        let quantity: Int
        if product.weighed {
            // Weighed goods: 0.050 to 5.000 kg, often with three significant decimals.
            quantity = random.int(in: 50...5_000)
        } else {
            quantity = random.int(in: 1...5) * 1000
        }
        let isService = product.name == "Delivery"
        return GeneratedItem(
            name: product.name,
            priceKopecks: price,
            quantityThousandths: quantity,
            sumKopecks: DecimalText.itemSumKopecks(priceKopecks: price, quantityThousandths: quantity),
            measurementUnit: product.weighed ? "кг" : "шт",
            paymentMethod: random.chance(0.9) ? "full_payment" : "full_prepayment",
            paymentObject: isService ? "service" : "commodity",
            vat: random.pick(vatTypes)
        )
    }

    private static func payments(total: Int, _ random: inout SeededRandom) -> [GeneratedPayment] {
        guard total >= 2, random.chance(0.3) else {
            return [GeneratedPayment(type: 1, sumKopecks: total)]
        }
        // Split: part by card, the rest in cash or as an offset of a prepayment.
        let cashless = random.int(in: 1...(total - 1))
        return [
            GeneratedPayment(type: 1, sumKopecks: cashless),
            GeneratedPayment(type: random.chance(0.5) ? 0 : 2, sumKopecks: total - cashless),
        ]
    }

    private static func client(_ random: inout SeededRandom) -> (email: String?, phone: String?) {
        if random.chance(0.85) {
            return ("buyer\(random.int(in: 1...999))@example.com", nil)
        }
        return (nil, "+7900\(random.int(in: 1_000_000...9_999_999))")
    }
}
