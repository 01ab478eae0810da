/// A module's link to the OFD (fiscal data operator), which every fiscal document must reach.
///
/// Kept apart from `ModuleFault` on purpose: a lost OFD link is an outside condition (the
/// operator's network, the OFD itself, an unpaid OFD contract) that the module works through
/// normally, piling documents up in its FN; it can coincide with any fault of the module itself
/// (a module may hang while its OFD is also unreachable). One fault value per module could not
/// say both.
public enum OFDLink: String, Sendable, Equatable, CaseIterable {
    /// Queued documents are delivered in the background.
    case up
    /// Documents pile up undelivered until the link is up again.
    case down
}
