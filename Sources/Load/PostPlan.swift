/// Why a post is made, which decides what answer counts as correct.
enum PostKind: Sendable {
    /// A new receipt; must be accepted.
    case fresh
    /// A re-send of an accepted receipt; must be refused with code 33 and this uuid.
    case duplicate(originalUUID: String)
    /// A schema-invalid receipt; must be refused with code 32.
    case invalid
}

/// One scheduled post.
struct PostPlan: Sendable {
    var kind: PostKind
    var receipt: GeneratedReceipt
    var tenantIndex: Int
}
