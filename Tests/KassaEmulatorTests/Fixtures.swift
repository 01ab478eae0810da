import Foundation
import KassaWire
import Testing

@testable import KassaEmulator

/// Shared test data: one tenant, one registration, receipts that add up.
enum Fixture {
    static let inn = "7707083893"
    static let address = "https://shop.example"
    static let start = Date(timeIntervalSince1970: 1_795_000_000)  // 2026-11-18, a fixed "now"

    static let registration = RegisterRequest(
        inn: inn, paymentAddress: address, sno: ["osn", "usn_income"], registrationNumber: "0000000001012345")

    static func receipt(job: String = "3f2a0000-0000-4000-8000-000000000001", price: Int64 = 15000,
                        quantity: Int64 = 2000, sum: Int64? = nil, total: Int64? = nil, paid: Int64? = nil) -> SellRequest {
        let itemSum = sum ?? ReceiptChecks.itemSum(price: price, quantity: quantity) ?? 0
        return SellRequest(
            jobID: job, inn: inn, paymentAddress: address, sno: "osn", client: WireClient(email: "a@b.ru"),
            items: [WireItem(name: "Tea", price: price, quantity: quantity, sum: itemSum, vat: "vat20")],
            payments: [WirePayment(type: 1, sum: paid ?? total ?? itemSum)], total: total ?? itemSum)
    }

    static func drive(capacity: Int64 = 250_000, lifetime: FiscalDriveLifetime = .standard,
                      key: [UInt8] = Array(repeating: 7, count: 32)) -> FiscalDrive {
        var drive = FiscalDrive(serial: "9999010010010001", capacity: capacity, createdAt: start, lifetime: lifetime,
                                secretKey: key)
        try? drive.register(registration)
        return drive
    }

    /// The refusal code a rule throws, or nil if it did not throw.
    static func refusal(_ body: () throws -> Void) -> KassaErrorCode? {
        do {
            try body()
            return nil
        } catch let error as KassaWireError {
            return error.code
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    /// A fresh directory inside this test process's own folder, which goes when the process exits.
    static func temporaryDirectory(_ label: String = #function) -> String {
        let path = testProcessFolder + "/\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// One folder per test process, so a single removal at exit cleans every test's drives.
    private static let testProcessFolder: String = {
        let path = NSTemporaryDirectory() + "kassa-emulator-tests-\(getpid())"
        try? FileManager.default.removeItem(atPath: path)
        // Swift Testing has no global teardown; atexit is the one hook every run passes through.
        atexit { try? FileManager.default.removeItem(atPath: NSTemporaryDirectory() + "kassa-emulator-tests-\(getpid())") }
        return path
    }()
}
