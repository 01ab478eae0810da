/// What the load generator needs to act as one shop: the ATOL group it posts to, the
/// login that gets a token, and the company block every receipt must carry.
public struct TenantCredentials: Sendable, Codable, Hashable {
    /// ATOL `group_code`, the first path segment of register and report URLs.
    public var groupCode: String
    public var login: String
    public var password: String
    /// The INN the tenant's kassas are registered to (10 or 12 digits).
    public var inn: String
    /// `receipt.company.payment_address` (tag 1187), usually the shop URL.
    public var paymentAddress: String
    /// `receipt.company.sno` (tag 1055), e.g. `osn` or `usn_income`.
    public var sno: String

    public init(groupCode: String, login: String, password: String, inn: String, paymentAddress: String, sno: String) {
        self.groupCode = groupCode
        self.login = login
        self.password = password
        self.inn = inn
        self.paymentAddress = paymentAddress
        self.sno = sno
    }
}
