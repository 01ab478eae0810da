/// A response line: `{"id": 17, "ok": true, "result": {...}}` or
/// `{"id": 17, "ok": false, "error": {...}}`. `id` is null only when the request's id could not be read.
public struct WireResponse<Result: Codable & Sendable>: Codable, Sendable {
    public var id: Int64?
    public var ok: Bool
    public var result: Result?
    public var error: KassaWireError?

    public static func success(id: Int64?, _ result: Result) -> WireResponse {
        WireResponse(id: id, ok: true, result: result, error: nil)
    }

    public static func failure(id: Int64?, _ error: KassaWireError) -> WireResponse {
        WireResponse(id: id, ok: false, result: nil, error: error)
    }

    public init(id: Int64?, ok: Bool, result: Result?, error: KassaWireError?) {
        self.id = id
        self.ok = ok
        self.result = result
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case id, ok, result, error
    }

    /// Writes `"id": null` rather than leaving it out, as the protocol shows it.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(ok, forKey: .ok)
        try c.encodeIfPresent(result, forKey: .result)
        try c.encodeIfPresent(error, forKey: .error)
    }
}

/// A failure response, for when there is no result type at hand.
public typealias WireFailure = WireResponse<NoArguments>
