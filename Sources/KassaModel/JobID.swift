import Crypto
import Foundation

/// Job identity: the uuid of a receipt job is derived from (group code, external_id), so a
/// re-posted receipt maps to the same job on any ingress node without shared state.
///
/// Layout (a version 8, "custom", UUID): bytes 0..<10 are SHA-256 of the group code and the
/// external_id; bytes 10..<16 are a tag, SHA-256 of the group code and bytes 0..<10. The tag lets
/// any node tell, from the uuid alone, whether it was issued for a given group: a report request
/// with a uuid of another group is refused even before the job reaches the registry.
public enum JobID {
    public static func derive(groupCode: String, externalID: String) -> UUID {
        var identity = SHA256.hash(data: Data("kassa-job\u{0}\(groupCode)\u{0}\(externalID)".utf8)).prefix(10).map { $0 }
        identity[6] = (identity[6] & 0x0F) | 0x80  // version 8
        identity[8] = (identity[8] & 0x3F) | 0x80  // RFC 4122 variant
        let bytes = identity + tag(groupCode: groupCode, identity: identity)
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }

    /// True when `uuid` was derived for `groupCode`.
    public static func belongs(_ uuid: UUID, to groupCode: String) -> Bool {
        let u = uuid.uuid
        let bytes = [u.0, u.1, u.2, u.3, u.4, u.5, u.6, u.7, u.8, u.9, u.10, u.11, u.12, u.13, u.14, u.15]
        return Array(bytes[10..<16]) == tag(groupCode: groupCode, identity: Array(bytes[0..<10]))
    }

    private static func tag(groupCode: String, identity: [UInt8]) -> [UInt8] {
        var data = Data("kassa-group\u{0}\(groupCode)\u{0}".utf8)
        data.append(contentsOf: identity)
        return Array(SHA256.hash(data: data).prefix(6))
    }
}
