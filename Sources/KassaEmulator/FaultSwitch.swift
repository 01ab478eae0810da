/// A module's fault, how many sells a counted fault has left, and who is waiting for the fault
/// to change. Lives inside the `KassaModule` actor, which is what makes it safe.
///
/// Waiters (a hung command, the module's listener while it is down) are woken when the fault
/// changes rather than polling it, so a fleet of idle faulty modules costs nothing.
struct FaultSwitch {
    private(set) var fault: ModuleFault = .none
    /// Sells the fault still applies to; nil means until it is cleared.
    private(set) var remainingSells: Int?

    private struct Waiter {
        let until: @Sendable (ModuleFault) -> Bool
        let continuation: CheckedContinuation<Void, Never>
    }
    private var waiters: [UInt64: Waiter] = [:]
    private var nextWaiterID: UInt64 = 0

    /// Shows `fault` from now on, for `count` sells when given.
    mutating func set(_ fault: ModuleFault, count: Int?) {
        self.fault = fault
        remainingSells = fault == .none ? nil : count
        wakeSatisfiedWaiters()
    }

    /// One sell has been spent on the fault; true if that was its last and the module is normal again.
    mutating func spendSell() -> Bool {
        guard let remaining = remainingSells else { return false }
        if remaining > 1 {
            remainingSells = remaining - 1
            return false
        }
        set(.none, count: nil)
        return true
    }

    /// An id for `addWaiter`, taken first so a cancellation can name the waiter.
    mutating func newWaiterID() -> UInt64 {
        defer { nextWaiterID += 1 }
        return nextWaiterID
    }

    /// Registers a waiter to be resumed once `until` holds for the fault.
    mutating func addWaiter(
        _ id: UInt64, until: @escaping @Sendable (ModuleFault) -> Bool, _ continuation: CheckedContinuation<Void, Never>
    ) {
        waiters[id] = Waiter(until: until, continuation: continuation)
    }

    /// Resumes one waiter now (its task was cancelled), if it is still waiting.
    mutating func resumeWaiter(_ id: UInt64) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    private mutating func wakeSatisfiedWaiters() {
        for (id, waiter) in waiters where waiter.until(fault) {
            waiters[id] = nil
            waiter.continuation.resume()
        }
    }
}
