import KassaModel
import NIOCore

/// A wire message with a hand-written JSON form beside its Codable one: the messages sent for
/// every receipt (`sell`'s arguments, the fiscal document that answers it and goes to the
/// archive). Codable's containers cost the emulator and the dispatcher more than the rest of
/// their work on a receipt (ARCHITECTURE.md, "JSON on the hot path"). The form is the one
/// `WireJSON.makeEncoder()` writes (keys in sorted order, absent optionals left out), and
/// WireTests check that either side reads what the other writes.
public protocol HandWrittenJSON: Codable, Sendable {
    /// Writes the value as one JSON object.
    func write(to w: inout JSONWriter)
    /// Reads the object `json`, naming the member at fault.
    init(reading json: JSONObjectReader) throws(JSONShapeError)
}

/// A request or response that can write its line without `JSONEncoder`.
protocol HandWrittenLine {
    /// The line with its `\n`, or nil when part of it has no hand-written form.
    func handWrittenLine() -> ByteBuffer?
}

extension WireRequest: HandWrittenLine where Args: HandWrittenJSON {
    func handWrittenLine() -> ByteBuffer? {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        if let args {
            w.key("args")
            args.write(to: &w)
        }
        w.member("cmd", cmd.rawValue)
        w.member("epoch", epoch)
        w.member("id", id)
        w.endObject()
        return WireJSON.lineBuffer(w.bytes)
    }
}

extension WireResponse: HandWrittenLine where Result: HandWrittenJSON {
    func handWrittenLine() -> ByteBuffer? {
        // Failures are rare and carry a `KassaWireError`: they take the general way.
        guard error == nil, let result else { return nil }
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("id")
        if let id { w.integer(id) } else { w.null() }
        w.key("ok")
        w.bool(ok)
        w.key("result")
        result.write(to: &w)
        w.endObject()
        return WireJSON.lineBuffer(w.bytes)
    }
}

extension WireResponse {
    /// A success response read without `JSONDecoder`, or nil for anything else (a failure, a
    /// malformed line, a result without a hand-written form): the caller then decodes it the
    /// general way, which also says what is wrong.
    static func handRead(_ bytes: ByteBufferView) -> WireResponse? {
        guard let type = Result.self as? any HandWrittenJSON.Type,
              let json = try? JSONObjectReader(JSONValue.parse(bytes)),
              case .bool(true)? = json.value("ok"),
              let id = try? json.optionalInt64("id"),
              let members = try? json.object("result"),
              let result = (try? type.init(reading: members)) as? Result
        else { return nil }
        return .success(id: id, result)
    }
}

// MARK: - sell's arguments

extension SellRequest: HandWrittenJSON {
    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("annuls", annuls)
        if let client {
            w.key("client")
            client.write(to: &w)
        }
        w.member("inn", inn)
        w.key("items")
        WireItem.write(items, to: &w)
        w.member("job_id", jobID)
        w.member("operation", operation.rawValue)
        w.member("payment_address", paymentAddress)
        w.key("payments")
        WirePayment.write(payments, to: &w)
        w.member("sno", sno)
        w.member("total", total)
        w.endObject()
    }

    public init(reading json: JSONObjectReader) throws(JSONShapeError) {
        self.init(
            jobID: try json.string("job_id"), operation: try json.enumeration("operation", WireOperation.self),
            inn: try json.string("inn"), paymentAddress: try json.string("payment_address"), sno: try json.string("sno"),
            client: try json.optionalObject("client").map { (client) throws(JSONShapeError) in try WireClient(reading: client) },
            items: try WireItem.read(json.objects("items")), payments: try WirePayment.read(json.objects("payments")),
            total: try json.int64("total"))
        annuls = try json.optionalString("annuls")
    }
}

extension WireClient {
    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.member("email", email)
        w.member("phone", phone)
        w.endObject()
    }

    init(reading json: JSONObjectReader) throws(JSONShapeError) {
        self.init(email: try json.optionalString("email"), phone: try json.optionalString("phone"))
    }
}

extension WireItem {
    static func write(_ items: [WireItem], to w: inout JSONWriter) {
        w.beginArray()
        for item in items {
            w.beginObject()
            w.member("name", item.name)
            w.member("payment_method", item.paymentMethod)
            w.member("payment_object", item.paymentObject)
            w.member("price", item.price)
            w.member("quantity", item.quantity)
            w.member("sum", item.sum)
            w.member("vat", item.vat)
            w.endObject()
        }
        w.endArray()
    }

    static func read(_ objects: [JSONObjectReader]) throws(JSONShapeError) -> [WireItem] {
        try objects.map { (item) throws(JSONShapeError) in
            WireItem(
                name: try item.string("name"), price: try item.int64("price"), quantity: try item.int64("quantity"),
                sum: try item.int64("sum"), vat: try item.string("vat"), paymentMethod: try item.string("payment_method"),
                paymentObject: try item.string("payment_object"))
        }
    }
}

extension WirePayment {
    static func write(_ payments: [WirePayment], to w: inout JSONWriter) {
        w.beginArray()
        for payment in payments {
            w.beginObject()
            w.member("sum", payment.sum)
            w.member("type", Int64(payment.type))
            w.endObject()
        }
        w.endArray()
    }

    static func read(_ objects: [JSONObjectReader]) throws(JSONShapeError) -> [WirePayment] {
        try objects.map { (payment) throws(JSONShapeError) in
            WirePayment(type: Int(try payment.int64("type")), sum: try payment.int64("sum"))
        }
    }
}

// MARK: - the fiscal document

extension FiscalDocument: HandWrittenJSON {
    public func write(to w: inout JSONWriter) {
        write(to: &w, withSign: true)
    }

    /// Keys in code point order. Without the sign this is exactly `canonicalText`, the text the
    /// sign is computed over.
    func write(to w: inout JSONWriter, withSign: Bool) {
        w.beginObject()
        w.member("annuls", annuls)
        if let client {
            w.key("client")
            client.write(to: &w)
        }
        w.member("datetime", datetime)
        if withSign { w.member("fiscal_document_attribute", Int64(fiscalDocumentAttribute)) }
        w.member("fiscal_document_number", fiscalDocumentNumber)
        w.member("fiscal_receipt_number", fiscalReceiptNumber)
        w.member("fn_serial", fnSerial)
        w.member("inn", inn)
        if let items {
            w.key("items")
            WireItem.write(items, to: &w)
        }
        w.member("job_id", jobID)
        w.member("kind", kind.rawValue)
        w.member("operation", operation?.rawValue)
        w.member("payment_address", paymentAddress)
        if let payments {
            w.key("payments")
            WirePayment.write(payments, to: &w)
        }
        w.member("receipts_in_shift", receiptsInShift)
        w.member("registration_number", registrationNumber)
        w.member("shift_number", shiftNumber)
        w.member("sno", sno)
        w.member("total", total)
        w.endObject()
    }

    public init(reading json: JSONObjectReader) throws(JSONShapeError) {
        let attribute = try json.int64("fiscal_document_attribute")
        guard let sign = UInt32(exactly: attribute) else {
            throw JSONShapeError(path: "fiscal_document_attribute", expected: "an integer 0...4294967295", found: .number(Double(attribute)))
        }
        self.init(
            kind: try json.enumeration("kind", Kind.self), fiscalDocumentNumber: try json.int64("fiscal_document_number"),
            fiscalDocumentAttribute: sign, fiscalReceiptNumber: try json.optionalInt64("fiscal_receipt_number"),
            shiftNumber: try json.int64("shift_number"), datetime: try json.string("datetime"), fnSerial: try json.string("fn_serial"),
            registrationNumber: try json.string("registration_number"), jobID: try json.optionalString("job_id"),
            operation: try json.optionalEnumeration("operation", WireOperation.self), total: try json.optionalInt64("total"),
            inn: try json.optionalString("inn"), paymentAddress: try json.optionalString("payment_address"),
            sno: try json.optionalString("sno"),
            client: try json.optionalObject("client").map { (client) throws(JSONShapeError) in try WireClient(reading: client) },
            items: try json.optionalObjects("items").map { (items) throws(JSONShapeError) in try WireItem.read(items) },
            payments: try json.optionalObjects("payments").map { (payments) throws(JSONShapeError) in try WirePayment.read(payments) },
            receiptsInShift: try json.optionalInt64("receipts_in_shift"))
        annuls = try json.optionalString("annuls")
    }
}
