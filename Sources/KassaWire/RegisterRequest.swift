/// Arguments of `register`: the registration with the tax service that the FN stores.
public struct RegisterRequest: Sendable, Codable, Equatable {
    /// The tenant's INN (10 or 12 digits).
    public var inn: String
    /// The shop's site address; receipts must carry exactly this text.
    public var paymentAddress: String
    /// Tax systems the kassa may use (`osn`, `usn_income`, `usn_income_outcome`, `envd`, `esn`, `patent`).
    public var sno: [String]
    /// The kassa registration number assigned by the tax service.
    public var registrationNumber: String

    public init(inn: String, paymentAddress: String, sno: [String], registrationNumber: String) {
        self.inn = inn
        self.paymentAddress = paymentAddress
        self.sno = sno
        self.registrationNumber = registrationNumber
    }

    enum CodingKeys: String, CodingKey {
        case inn, sno
        case paymentAddress = "payment_address"
        case registrationNumber = "registration_number"
    }
}
