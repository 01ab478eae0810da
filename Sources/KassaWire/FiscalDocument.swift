/// One document in the FN archive: a receipt, or a shift opening or closing (Z-report).
///
/// This is both the result of `sell` and a line of `archive.jsonl`. Receipt fields are absent
/// (not null) from shift documents; `receipts_in_shift` is present only on `close_shift`.
public struct FiscalDocument: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case receipt
        case openShift = "open_shift"
        case closeShift = "close_shift"
    }

    public var kind: Kind
    /// FFD tag 1040: 1, 2, 3, ... across every kind of document of the FN.
    public var fiscalDocumentNumber: Int64
    /// FFD tag 1077, the fiscal sign (FPD): see `FiscalDocument.canonicalText`.
    public var fiscalDocumentAttribute: UInt32
    /// FFD tag 1042: the receipt's number within its shift (receipts only).
    public var fiscalReceiptNumber: Int64?
    public var shiftNumber: Int64
    /// `dd.MM.yyyy HH:mm:ss`, Moscow time (see `WireTime.documentDateTime`).
    public var datetime: String
    public var fnSerial: String
    public var registrationNumber: String
    /// FFD tag 1192: the job this receipt fiscalizes (receipts only).
    public var jobID: String?
    public var operation: WireOperation?
    public var total: Int64?
    public var inn: String?
    public var paymentAddress: String?
    public var sno: String?
    public var client: WireClient?
    public var items: [WireItem]?
    public var payments: [WirePayment]?
    /// Receipts made in the shift (close_shift only).
    public var receiptsInShift: Int64?
    /// A refund made to annul a duplicate: the job whose duplicate it cancels.
    public var annuls: String?

    public init(
        kind: Kind, fiscalDocumentNumber: Int64, fiscalDocumentAttribute: UInt32 = 0,
        fiscalReceiptNumber: Int64? = nil, shiftNumber: Int64, datetime: String, fnSerial: String,
        registrationNumber: String, jobID: String? = nil, operation: WireOperation? = nil, total: Int64? = nil,
        inn: String? = nil, paymentAddress: String? = nil, sno: String? = nil, client: WireClient? = nil,
        items: [WireItem]? = nil, payments: [WirePayment]? = nil, receiptsInShift: Int64? = nil
    ) {
        self.kind = kind
        self.fiscalDocumentNumber = fiscalDocumentNumber
        self.fiscalDocumentAttribute = fiscalDocumentAttribute
        self.fiscalReceiptNumber = fiscalReceiptNumber
        self.shiftNumber = shiftNumber
        self.datetime = datetime
        self.fnSerial = fnSerial
        self.registrationNumber = registrationNumber
        self.jobID = jobID
        self.operation = operation
        self.total = total
        self.inn = inn
        self.paymentAddress = paymentAddress
        self.sno = sno
        self.client = client
        self.items = items
        self.payments = payments
        self.receiptsInShift = receiptsInShift
    }

    enum CodingKeys: String, CodingKey {
        case kind, datetime, operation, total, inn, sno, client, items, payments, annuls
        case fiscalDocumentNumber = "fiscal_document_number"
        case fiscalDocumentAttribute = "fiscal_document_attribute"
        case fiscalReceiptNumber = "fiscal_receipt_number"
        case shiftNumber = "shift_number"
        case fnSerial = "fn_serial"
        case registrationNumber = "registration_number"
        case jobID = "job_id"
        case paymentAddress = "payment_address"
        case receiptsInShift = "receipts_in_shift"
    }
}
