/// A fault a module is told to show, by the control plane (`FaultControl`) or a test. The raw
/// values are the names the control plane's JSON uses.
public enum ModuleFault: String, Sendable, Equatable, CaseIterable {
    /// Works normally.
    case none
    /// Stops answering: commands are read but not carried out (no document is made) until the
    /// fault is cleared, as when the FN or the board hangs. Clients time out (in doubt).
    case hang
    /// The next `sell` is carried out (its document is fsynced into the archive) and then the
    /// module hangs: that answer never comes, and every later command on any connection hangs
    /// too (the module then shows `hang`). When cleared, the held connection is closed without
    /// the answer — the client is in doubt — and the module works normally again.
    case hangAfterFiscalizing = "hang_after_fiscalizing"
    /// Carries out a `sell` (the document is in the archive) and then closes the connection
    /// instead of answering: the in-doubt case the dispatcher must reconcile from the archive.
    /// Other commands are answered normally.
    case dropAnswerAfterFiscalizing = "drop_answer_after_fiscalizing"
    /// Dead: the module's open connections are closed and its port stops listening until the
    /// fault is cleared; then the same port is bound again.
    case down

    /// Whether the fault can be limited to a number of sells (`count`). A counted
    /// `drop_answer_after_fiscalizing` reverts to `none` by itself; `hang_after_fiscalizing`
    /// trips on one sell by nature, so only a count of 1 means anything for it.
    public var takesCount: Bool {
        self == .dropAnswerAfterFiscalizing || self == .hangAfterFiscalizing
    }
}
