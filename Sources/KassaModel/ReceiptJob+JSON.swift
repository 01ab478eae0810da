import Foundation

/// The job's wire form on the job topic, and in the registry's `jobs.body`: JSON with the
/// properties' own names as keys, uuids in upper case, dates as milliseconds since 1970.
///
/// Written and read by hand rather than through Codable: the ingress encodes and a dispatcher
/// decodes every receipt, and the generic containers cost more than all the other work on a job
/// (see ARCHITECTURE.md, "JSON on the hot path"). The form is the one `JSONEncoder` wrote before,
/// so bodies already stored still read.
extension ReceiptJob {
    /// The wire form: compact JSON.
    public func encoded() -> [UInt8] {
        var w = JSONWriter(capacity: 768)
        w.beginObject()
        w.member("uuid", uuid.uuidString)
        w.member("groupCode", groupCode)
        w.member("tenantID", tenantID)
        w.member("operation", operation.rawValue)
        w.member("externalID", externalID)
        w.key("acceptedAt")
        w.number(acceptedAt.timeIntervalSince1970 * 1000)
        w.key("timestamp")
        w.number(timestamp.timeIntervalSince1970 * 1000)
        w.member("callbackURL", callbackURL)
        w.key("receipt")
        receipt.write(to: &w)
        w.member("annuls", annuls?.uuidString)
        w.endObject()
        return w.bytes
    }

    /// Reads the wire form; a document of another shape throws `JSONValue.ParseError` or
    /// `JSONShapeError`, which names the member.
    public static func decode(_ bytes: [UInt8]) throws -> ReceiptJob {
        let json = try JSONObjectReader(try JSONValue.parse(bytes))
        var job = ReceiptJob(
            uuid: try json.uuid("uuid"), groupCode: try json.string("groupCode"), tenantID: try json.int64("tenantID"),
            operation: try json.enumeration("operation", Operation.self), externalID: try json.string("externalID"),
            acceptedAt: Date(timeIntervalSince1970: try json.double("acceptedAt") / 1000),
            timestamp: Date(timeIntervalSince1970: try json.double("timestamp") / 1000),
            callbackURL: try json.optionalString("callbackURL"), receipt: try Receipt(try json.object("receipt")))
        job.annuls = try json.optionalUUID("annuls")
        return job
    }
}

extension Receipt {
    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("client")
        w.beginObject()
        w.member("email", client.email)
        w.member("phone", client.phone)
        w.member("name", client.name)
        w.member("inn", client.inn)
        w.endObject()
        w.key("company")
        w.beginObject()
        w.member("email", company.email)
        w.member("sno", company.sno?.rawValue)
        w.member("inn", company.inn)
        w.member("paymentAddress", company.paymentAddress)
        w.member("location", company.location)
        w.endObject()
        w.key("items")
        w.beginArray()
        for item in items {
            w.beginObject()
            w.member("name", item.name)
            w.member("price", item.price)
            w.member("quantity", item.quantity)
            w.member("sum", item.sum)
            w.member("measurementUnit", item.measurementUnit)
            w.member("paymentMethod", item.paymentMethod)
            w.member("paymentObject", item.paymentObject)
            w.member("vat", item.vat)
            w.member("vatSum", item.vatSum)
            w.endObject()
        }
        w.endArray()
        w.key("payments")
        w.beginArray()
        for payment in payments {
            w.beginObject()
            w.member("type", Int64(payment.type))
            w.member("sum", payment.sum)
            w.endObject()
        }
        w.endArray()
        w.member("total", total)
        w.member("cashier", cashier)
        w.endObject()
    }

    init(_ json: JSONObjectReader) throws(JSONShapeError) {
        let client = try json.object("client")
        let company = try json.object("company")
        var items: [Item] = []
        for item in try json.objects("items") {
            items.append(Item(
                name: try item.string("name"), price: try item.int64("price"), quantity: try item.int64("quantity"),
                sum: try item.int64("sum"), measurementUnit: try item.optionalString("measurementUnit"),
                paymentMethod: try item.string("paymentMethod"), paymentObject: try item.string("paymentObject"),
                vat: try item.string("vat"), vatSum: try item.optionalInt64("vatSum")))
        }
        var payments: [Payment] = []
        for payment in try json.objects("payments") {
            payments.append(Payment(type: Int(try payment.int64("type")), sum: try payment.int64("sum")))
        }
        self.init(
            client: Client(email: try client.optionalString("email"), phone: try client.optionalString("phone"),
                           name: try client.optionalString("name"), inn: try client.optionalString("inn")),
            company: Company(email: try company.optionalString("email"), sno: try company.optionalEnumeration("sno", TaxSystem.self),
                             inn: try company.string("inn"), paymentAddress: try company.string("paymentAddress"),
                             location: try company.optionalString("location")),
            items: items, payments: payments, total: try json.int64("total"), cashier: try json.optionalString("cashier"))
    }
}
