/// A fault a module is told to show (the seam for fault injection; the control plane that sets
/// faults on modules, assemblies, racks and sites comes later).
public enum ModuleFault: Sendable, Equatable {
    /// Works normally.
    case none
    /// Stops answering: commands are read but not carried out until the fault is cleared, as
    /// when the FN or the board hangs. Clients time out (in doubt).
    case hang
    /// Carries out a `sell` (the document is in the archive) and then drops the connection
    /// instead of answering: the in-doubt case the dispatcher must reconcile from the archive.
    /// Other commands are answered normally.
    case dropAnswerAfterFiscalizing
}
