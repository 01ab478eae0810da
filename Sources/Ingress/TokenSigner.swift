import Crypto
import Foundation

/// Issues and verifies API tokens. A token is `v1.<claims>.<signature>`, both base64url; the
/// signature is HMAC-SHA256 over the claims with a key every ingress node shares, so any node
/// verifies any token without shared state.
public struct TokenSigner: Sendable {
    public struct Claims: Sendable, Equatable, Codable {
        public var tenantID: Int64
        public var groupCode: String
        /// Expiry, seconds since 1970.
        public var expires: Int64

        enum CodingKeys: String, CodingKey {
            case tenantID = "t"
            case groupCode = "g"
            case expires = "e"
        }
    }

    public enum Failure: Error, Sendable, Equatable {
        /// Not a token we issued (malformed or bad signature): ATOL code 10.
        case invalid
        /// A token we issued whose 24 h lifetime passed: ATOL code 11.
        case expired
    }

    // Kept as bytes: SymmetricKey is not Sendable in this swift-crypto.
    private let secret: [UInt8]
    private var key: SymmetricKey { SymmetricKey(data: secret) }
    public let lifetime: Duration

    public init(secret: [UInt8], lifetime: Duration = .seconds(24 * 3600)) {
        self.secret = secret
        self.lifetime = lifetime
    }

    public func issue(tenantID: Int64, groupCode: String, now: Date = Date()) -> (token: String, claims: Claims) {
        let claims = Claims(tenantID: tenantID, groupCode: groupCode, expires: Int64(now.timeIntervalSince1970) + lifetime.components.seconds)
        let body = Base64URL.encode((try? JSONEncoder().encode(claims)) ?? Data())
        let signature = Base64URL.encode(Data(HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key)))
        return ("v1.\(body).\(signature)", claims)
    }

    public func verify(_ token: String, now: Date = Date()) -> Result<Claims, Failure> {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard token.count <= 1000, parts.count == 3, parts[0] == "v1",
              let signature = Base64URL.decode(String(parts[2])),
              HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: Data(parts[1].utf8), using: key),
              let json = Base64URL.decode(String(parts[1])),
              let claims = try? JSONDecoder().decode(Claims.self, from: json)
        else { return .failure(.invalid) }
        guard Int64(now.timeIntervalSince1970) < claims.expires else { return .failure(.expired) }
        return .success(claims)
    }
}

enum Base64URL {
    static func encode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> Data? {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s)
    }
}
