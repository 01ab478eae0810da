import Foundation
import KassaModel

/// A tenant as the ingress sees it.
public struct TenantAccount: Sendable, Equatable {
    public var id: Int64
    public var groupCode: String
    public var blocked: Bool

    public init(id: Int64, groupCode: String, blocked: Bool) {
        self.id = id
        self.groupCode = groupCode
        self.blocked = blocked
    }
}

/// What a report tells about one job.
public struct JobReport: Sendable, Equatable {
    public enum Status: String, Sendable { case wait, done, fail }
    public var uuid: UUID
    public var groupCode: String
    public var externalID: String
    public var status: Status
    public var callbackURL: String?
    public var payload: FiscalPayload?
    public var error: ATOLError?
    /// The kassa that made the document (the report's `device_code`).
    public var deviceCode: String?
    /// When a job still queued was flagged as past its tenant's deadline (the report then
    /// carries a warning); nil otherwise.
    public var lateSince: Date?
    /// Duplicate documents of this receipt annulled by refunds (resend-and-annul): the shop has
    /// exactly one effective sale, the one in `payload`.
    public var annulled: [AnnulledDuplicate] = []

    /// A second document made for the receipt and the refund that cancels it.
    public struct AnnulledDuplicate: Sendable, Equatable {
        public var fnNumber: String
        public var fiscalDocumentNumber: Int64
        /// False while the refund is still to be fiscalized.
        public var refunded: Bool

        public init(fnNumber: String, fiscalDocumentNumber: Int64, refunded: Bool) {
            self.fnNumber = fnNumber
            self.fiscalDocumentNumber = fiscalDocumentNumber
            self.refunded = refunded
        }
    }

    public init(uuid: UUID, groupCode: String, externalID: String, status: Status, callbackURL: String? = nil,
                payload: FiscalPayload? = nil, error: ATOLError? = nil, deviceCode: String? = nil, lateSince: Date? = nil) {
        self.uuid = uuid
        self.groupCode = groupCode
        self.externalID = externalID
        self.status = status
        self.callbackURL = callbackURL
        self.payload = payload
        self.error = error
        self.deviceCode = deviceCode
        self.lateSince = lateSince
    }
}

/// The registry reads the ingress needs. The ingress never writes the registry for a new
/// receipt: a job becomes known there when a dispatcher takes it from Kafka. The one write is a
/// resend of failed receipts, through `resendStore`.
public protocol IngressRegistry: Sendable {
    /// The tenant for these credentials, nil when the login is unknown or the password is wrong.
    func authenticate(login: String, password: String) async throws -> TenantAccount?
    func report(uuid: UUID) async throws -> JobReport?
    /// The group code of a job the registry knows, nil for one it does not (the check for a
    /// repeat made on every receipt, so it reads as little as it can).
    func groupCode(ofJob uuid: UUID) async throws -> String?
    func isReachable() async -> Bool
    /// The registry writes `POST /{group}/resend` needs; nil when this registry offers none
    /// (the endpoint then answers code 50).
    var resendStore: (any ResendStore)? { get }
}

extension IngressRegistry {
    /// By default a registry offers no resend.
    public var resendStore: (any ResendStore)? { nil }
}

/// Why a job could not be handed to Kafka. Either way nothing was acknowledged to the client.
public enum PublishFailure: Error, Sendable {
    /// The producer's queue is full: try again shortly.
    case backpressure
    /// Kafka did not acknowledge in time or refused.
    case unavailable(String)
}

/// Publishes jobs to the job topic and returns once Kafka acknowledged them (acks=all).
public protocol JobPublisher: Sendable {
    func publish(_ job: ReceiptJob) async throws(PublishFailure)
    var isConnected: Bool { get }
    /// Delivers what is queued; returns whether everything was delivered in time.
    func flush(timeout: Duration) async -> Bool
}
