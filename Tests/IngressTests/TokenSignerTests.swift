import Foundation
@testable import Ingress
import Testing

@Suite struct TokenSignerTests {
    let signer = TokenSigner(secret: Array("0123456789abcdef0123456789abcdef".utf8))

    @Test func issuedTokensVerifyOnAnyNodeWithTheSameSecret() throws {
        let (token, claims) = signer.issue(tenantID: 3, groupCode: "shop-tea")
        let otherNode = TokenSigner(secret: Array("0123456789abcdef0123456789abcdef".utf8))
        #expect(try otherNode.verify(token).get() == claims)
        #expect(token.count <= 1000)
    }

    @Test func forgedOrTamperedTokensAreInvalid() {
        let (token, _) = signer.issue(tenantID: 3, groupCode: "shop-tea")
        let stranger = TokenSigner(secret: Array("another-secret-another-secret-xx".utf8))
        #expect(stranger.verify(token) == .failure(.invalid))
        var parts = token.split(separator: ".").map(String.init)
        let forged = TokenSigner.Claims(tenantID: 4, groupCode: "shop-books", expires: Int64.max)
        parts[1] = Base64URL.encode(try! JSONEncoder().encode(forged))
        #expect(signer.verify(parts.joined(separator: ".")) == .failure(.invalid))
        #expect(signer.verify("garbage") == .failure(.invalid))
    }

    @Test func tokensExpireAfterTheirLifetime() {
        let now = Date()
        let (token, _) = signer.issue(tenantID: 3, groupCode: "shop-tea", now: now)
        #expect(signer.verify(token, now: now.addingTimeInterval(24 * 3600 - 1)).isSuccess)
        #expect(signer.verify(token, now: now.addingTimeInterval(24 * 3600 + 1)) == .failure(.expired))
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}
