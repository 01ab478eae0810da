import Foundation
import Synchronization

/// Tokens this ingress has verified, with their claims: a shop sends the same token with every
/// request for a day, and checking its signature each time (base64, HMAC, JSON) cost about a
/// tenth of the ingress's CPU. Expiry is still checked on every use, against the claims.
final class VerifiedTokens: Sendable {
    private let known = Mutex<[String: TokenSigner.Claims]>([:])
    /// At most this many tokens are kept; past it the cache starts afresh (a simple bound: a
    /// flood of forged tokens never gets in, since only verified ones are kept).
    let capacity: Int

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// The token's claims: remembered, or verified by `signer` (and then remembered).
    func verify(_ token: String, with signer: TokenSigner, now: Date = Date()) -> Result<TokenSigner.Claims, TokenSigner.Failure> {
        if let claims = known.withLock({ $0[token] }) {
            return Int64(now.timeIntervalSince1970) < claims.expires ? .success(claims) : .failure(.expired)
        }
        let verified = signer.verify(token, now: now)
        if case .success(let claims) = verified {
            known.withLock { tokens in
                if tokens.count >= capacity { tokens.removeAll(keepingCapacity: true) }
                tokens[token] = claims
            }
        }
        return verified
    }
}
