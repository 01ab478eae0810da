import Foundation
import HTTPTypes
import Hummingbird
import KassaModel
import NIOCore

/// Builds the API's JSON answers in ATOL's shapes.
enum ATOLResponse {
    static func json(_ status: HTTPResponse.Status, _ body: JSONValue, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.serialized())))
    }

    static func errorObject(_ error: ATOLError) -> JSONValue {
        ["error_id": .string(UUID().uuidString.lowercased()), "code": .number(Double(error.code)), "text": .string(error.text), "type": .string(error.type)]
    }

    /// A failed request: `{"timestamp","status":"fail","error":{...}}`, with no uuid (nothing was registered).
    static func failure(_ error: ATOLError, status: HTTPResponse.Status? = nil, now: Date = Date(), headers: HTTPFields = [:]) -> Response {
        let http = status ?? HTTPResponse.Status(code: ATOLErrorCode(rawValue: error.code)?.httpStatus ?? 400)
        return json(http, ["timestamp": .string(ATOLTimestamp.format(now)), "status": "fail", "error": errorObject(error), "uuid": nil], headers: headers)
    }

    static func failure(_ code: ATOLErrorCode, _ text: String, headers: HTTPFields = [:]) -> Response {
        failure(ATOLError(code, text), headers: headers)
    }

    /// A registered (or already registered) receipt: status wait with its uuid.
    static func registered(uuid: UUID, duplicate: Bool, now: Date = Date()) -> Response {
        let error: JSONValue = duplicate
            ? errorObject(ATOLError(.externalIDAlreadyExists, "a document with this external_id already exists in this group; its uuid is \(uuid.uuidString.lowercased())"))
            : .null
        return json(duplicate ? .badRequest : .ok, [
            "uuid": .string(uuid.uuidString.lowercased()), "timestamp": .string(ATOLTimestamp.format(now)),
            "error": error, "status": "wait",
        ])
    }

    static func report(_ r: JobReport, now: Date = Date()) -> Response {
        var payload: JSONValue = .null
        if let p = r.payload {
            payload = [
                "fiscal_receipt_number": .number(Double(p.fiscalReceiptNumber)),
                "shift_number": .number(Double(p.shiftNumber)),
                "receipt_datetime": .string(p.receiptDatetime),
                "total": .money(p.total),
                "fn_number": .string(p.fnNumber),
                "ecr_registration_number": .string(p.ecrRegistrationNumber),
                "fiscal_document_number": .number(Double(p.fiscalDocumentNumber)),
                "fiscal_document_attribute": .number(Double(p.fiscalDocumentAttribute)),
                "fns_site": .string(p.fnsSite),
                "ofd_inn": .string(p.ofdINN),
            ]
        }
        return json(.ok, [
            "uuid": .string(r.uuid.uuidString.lowercased()),
            "timestamp": .string(ATOLTimestamp.format(now)),
            "callback_url": .string(r.callbackURL ?? ""),
            "status": .string(r.status.rawValue),
            "group_code": .string(r.groupCode),
            "daemon_code": "kassa-cluster",
            "device_code": .string(r.deviceCode),
            "external_id": .string(r.externalID),
            "error": r.error.map(errorObject) ?? .null,
            "warnings": warnings(r),
            "payload": payload,
        ])
    }

    /// ATOL's `warnings` object (key → text), or null: a job flagged late gets `deadline`; a
    /// done job whose duplicate documents were annulled gets `annulled`.
    static func warnings(_ r: JobReport) -> JSONValue {
        var warnings: [String: JSONValue] = [:]
        if r.status == .wait, let lateSince = r.lateSince {
            warnings["deadline"] = .string("past the tenant's deadline since \(ATOLTimestamp.format(lateSince)) (Moscow time) and still queued; "
                                           + "it will be fiscalized at most once, do not resend")
        }
        if r.status == .done, !r.annulled.isEmpty {
            let list = r.annulled.map { "FN \($0.fnNumber) FD \($0.fiscalDocumentNumber)" + ($0.refunded ? " (refunded)" : " (refund pending)") }
            warnings["annulled"] = .string("the receipt was also fiscalized as " + list.joined(separator: ", ")
                                           + "; annulled by a refund receipt, so the payload is the one effective sale")
        }
        return warnings.isEmpty ? .null : .object(warnings)
    }

    /// The answer to a resend: `{"resent": [uuids], "count": n, "not_resent": [{"uuid","reason"}], "timestamp"}`.
    static func resent(_ outcome: ResendOutcome, now: Date = Date()) -> Response {
        json(.ok, [
            "resent": .array(outcome.resent.map { .string($0.uuidString.lowercased()) }),
            "count": .number(Double(outcome.resent.count)),
            "not_resent": .array(outcome.notResent.map {
                ["uuid": .string($0.uuid.uuidString.lowercased()), "reason": .string($0.reason)]
            }),
            "timestamp": .string(ATOLTimestamp.format(now)),
        ])
    }

    /// A uuid issued for this group that no dispatcher registered yet: code 34, HTTP 200, wait.
    static func notYetProcessed(uuid: UUID, groupCode: String, now: Date = Date()) -> Response {
        json(.ok, [
            "uuid": .string(uuid.uuidString.lowercased()),
            "timestamp": .string(ATOLTimestamp.format(now)),
            "status": "wait",
            "group_code": .string(groupCode),
            "error": errorObject(ATOLError(.stateCheckNotFound, "the receipt is not processed yet; poll later and do not resend")),
            "payload": nil,
        ])
    }
}
