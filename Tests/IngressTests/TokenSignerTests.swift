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

    @Test func rememberedTokensStillExpireAndForgedOnesAreNeverRemembered() {
        let now = Date()
        let verified = VerifiedTokens(capacity: 2)
        let (token, claims) = signer.issue(tenantID: 3, groupCode: "shop-tea", now: now)
        #expect(verified.verify(token, with: signer, now: now) == .success(claims))
        // Remembered: a signer with another secret is not asked again.
        let stranger = TokenSigner(secret: Array("another-secret-another-secret-xx".utf8))
        #expect(verified.verify(token, with: stranger, now: now) == .success(claims))
        #expect(verified.verify(token, with: stranger, now: now.addingTimeInterval(24 * 3600 + 1)) == .failure(.expired))
        // A token the signer refuses is refused every time, not remembered.
        let (foreign, _) = stranger.issue(tenantID: 4, groupCode: "shop-books", now: now)
        #expect(verified.verify(foreign, with: signer, now: now) == .failure(.invalid))
        #expect(verified.verify(foreign, with: signer, now: now) == .failure(.invalid))
        // Past its capacity the cache starts afresh: the first token is verified again.
        _ = verified.verify(signer.issue(tenantID: 5, groupCode: "a", now: now).token, with: signer, now: now)
        _ = verified.verify(signer.issue(tenantID: 6, groupCode: "b", now: now).token, with: signer, now: now)
        #expect(verified.verify(token, with: stranger, now: now) == .failure(.invalid))
    }
}

extension Result {
    var isSuccess: Bool { if case .success = self { return true } else { return false } }
}
