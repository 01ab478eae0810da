import Crypto
import Foundation
import KassaWire

/// The fiscal sign (FPD, FFD tag 1077) an FN puts on each document.
public enum FiscalSign {
    /// The first 4 bytes, big-endian, of HMAC-SHA256(key, text).
    public static func compute(key: [UInt8], text: String) -> UInt32 {
        let code = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: key))
        return code.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    }

    /// The sign of `document` under `key`, over `document.canonicalText`.
    public static func compute(key: [UInt8], document: FiscalDocument) -> UInt32 {
        compute(key: key, text: document.canonicalText)
    }

    /// A new FN's secret key: 32 random bytes.
    public static func makeKey() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
