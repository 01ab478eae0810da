extension GeneratedReceipt {
    /// The request body for `POST {base}/{group_code}/{operation}`, as UTF-8 JSON text.
    ///
    /// Money is written from kopecks with at most two decimals and quantities from
    /// thousandths with at most three, so the text carries exactly the intended decimals.
    /// `service` is left out: load runs poll instead of taking callbacks.
    public var jsonBody: String {
        var json = JSONText()
        json.beginObject()
        json.field("timestamp", timestamp)
        json.field("external_id", externalID)
        json.key("receipt")
        json.beginObject()

        json.key("client")
        json.beginObject()
        if let clientEmail { json.field("email", clientEmail) }
        if let clientPhone { json.field("phone", clientPhone) }
        json.endObject()

        json.key("company")
        json.beginObject()
        json.field("email", companyEmail)
        json.field("sno", tenant.sno)
        if flaw != .missingCompanyINN { json.field("inn", tenant.inn) }
        json.field("payment_address", tenant.paymentAddress)
        json.endObject()

        json.key("items")
        json.beginArray()
        for item in items {
            json.beginObject()
            json.field("name", item.name)
            json.field("price", number: DecimalText.kopecks(item.priceKopecks))
            json.field("quantity", number: DecimalText.thousandths(item.quantityThousandths))
            json.field("sum", number: DecimalText.kopecks(item.sumKopecks))
            json.field("measurement_unit", item.measurementUnit)
            json.field("payment_method", item.paymentMethod)
            json.field("payment_object", item.paymentObject)
            json.key("vat")
            json.beginObject()
            json.field("type", item.vat)
            json.endObject()
            json.endObject()
        }
        json.endArray()

        if flaw != .missingPayments {
            json.key("payments")
            json.beginArray()
            for payment in payments {
                json.beginObject()
                json.key("type")
                json.number(payment.type)
                json.field("sum", number: DecimalText.kopecks(payment.sumKopecks))
                json.endObject()
            }
            json.endArray()
        }

        json.field("total", number: DecimalText.kopecks(totalKopecks))
        json.endObject()
        json.endObject()
        return json.text
    }
}
