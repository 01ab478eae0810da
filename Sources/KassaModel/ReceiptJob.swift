import Foundation

/// A receipt job as it travels on the job topic, keyed by the tenant's group code.
public struct ReceiptJob: Sendable, Equatable {
    public var uuid: UUID
    public var groupCode: String
    public var tenantID: Int64
    public var operation: Operation
    public var externalID: String
    /// When the ingress received the request (the shop's clock is in `timestamp`).
    public var acceptedAt: Date
    /// The shop's `timestamp` field.
    public var timestamp: Date
    public var callbackURL: String?
    public var receipt: Receipt
    /// Set on a refund the dispatcher issues to annul a duplicate document of that job
    /// (resend-and-annul); nil on the shops' own receipts.
    public var annuls: UUID?

    public init(uuid: UUID, groupCode: String, tenantID: Int64, operation: Operation, externalID: String,
                acceptedAt: Date, timestamp: Date, callbackURL: String?, receipt: Receipt) {
        self.uuid = uuid
        self.groupCode = groupCode
        self.tenantID = tenantID
        self.operation = operation
        self.externalID = externalID
        self.acceptedAt = acceptedAt
        self.timestamp = timestamp
        self.callbackURL = callbackURL
        self.receipt = receipt
    }

    /// The refund that annuls a duplicate document of this job on FN `fnSerial` (document
    /// `fiscalDocumentNumber`): the same receipt with the inverse operation, under a uuid derived
    /// from the duplicate, so however often it is prepared it is one job.
    public func annulment(fnSerial: String, fiscalDocumentNumber: Int64, at now: Date) -> ReceiptJob {
        let externalID = "annul:\(uuid.uuidString.lowercased()):\(fnSerial):\(fiscalDocumentNumber)"
        var refund = ReceiptJob(uuid: JobID.derive(groupCode: groupCode, externalID: externalID), groupCode: groupCode, tenantID: tenantID,
                                operation: operation.inverse, externalID: externalID, acceptedAt: now, timestamp: now, callbackURL: nil,
                                receipt: receipt)
        refund.annuls = uuid
        return refund
    }
}

/// The fiscal attributes of a done receipt, as the report's `payload` carries them.
public struct FiscalPayload: Sendable, Codable, Equatable {
    public var fiscalReceiptNumber: Int
    public var shiftNumber: Int
    public var receiptDatetime: String
    public var total: Kopecks
    public var fnNumber: String
    public var ecrRegistrationNumber: String
    public var fiscalDocumentNumber: Int64
    public var fiscalDocumentAttribute: Int64
    public var fnsSite: String
    public var ofdINN: String

    public init(fiscalReceiptNumber: Int, shiftNumber: Int, receiptDatetime: String, total: Kopecks, fnNumber: String,
                ecrRegistrationNumber: String, fiscalDocumentNumber: Int64, fiscalDocumentAttribute: Int64,
                fnsSite: String = "www.nalog.gov.ru", ofdINN: String = "7704211201") {
        self.fiscalReceiptNumber = fiscalReceiptNumber
        self.shiftNumber = shiftNumber
        self.receiptDatetime = receiptDatetime
        self.total = total
        self.fnNumber = fnNumber
        self.ecrRegistrationNumber = ecrRegistrationNumber
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
        self.fnsSite = fnsSite
        self.ofdINN = ofdINN
    }
}
