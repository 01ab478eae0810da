import Synchronization

/// Group commit for one kind of statement: calls that arrive while `maxInFlight` batches are
/// already running wait, and then go together as the next batch, one statement for many.
///
/// Under light load each call goes alone at once, so nothing waits that would not have
/// waited anyway; under heavy load the batches grow by themselves, which is exactly when round
/// trips and per-statement overhead are what limits the registry.
final class GroupCommit<Input: Sendable, Output: Sendable>: Sendable {
    /// Runs one batch and answers every input in order (one result per input).
    typealias Batch = @Sendable ([Input]) async -> [Result<Output, any Error>]

    private struct Waiting: Sendable {
        let input: Input
        let continuation: CheckedContinuation<Output, any Error>
    }

    private struct State: Sendable {
        var waiting: [Waiting] = []
        var inFlight = 0
    }

    private let state = Mutex(State())
    /// Batches running at once, at most.
    let maxInFlight: Int
    /// Inputs in one batch, at most.
    let maxBatch: Int

    /// Calls waiting for room in a batch right now.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    init(maxInFlight: Int, maxBatch: Int) {
        self.maxInFlight = max(1, maxInFlight)
        self.maxBatch = max(1, maxBatch)
    }

    /// Runs `input` in the next batch there is room for. `batch` is the statement for a batch
    /// (every caller of one GroupCommit passes the same one; the caller that starts a batch runs it).
    func run(_ input: Input, batch: @escaping Batch) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            let first: [Waiting]? = state.withLock { state in
                state.waiting.append(Waiting(input: input, continuation: continuation))
                guard state.inFlight < maxInFlight else { return nil }
                state.inFlight += 1
                return Self.take(&state, upTo: maxBatch)
            }
            if let first {
                Task { await self.drive(first, batch) }
            }
        }
    }

    /// Runs batches until nobody waits: each time one returns, whoever arrived meanwhile goes next.
    private func drive(_ first: [Waiting], _ batch: @escaping Batch) async {
        var current = first
        while true {
            let results = await batch(current.map(\.input))
            for (index, waiting) in current.enumerated() {
                waiting.continuation.resume(with: index < results.count
                    ? results[index]
                    : .failure(RegistryError.decoding("a batch of \(current.count) answered only \(results.count)")))
            }
            let next: [Waiting]? = state.withLock { state in
                if state.waiting.isEmpty {
                    state.inFlight -= 1
                    return nil
                }
                return Self.take(&state, upTo: maxBatch)
            }
            guard let next else { return }
            current = next
        }
    }

    private static func take(_ state: inout State, upTo limit: Int) -> [Waiting] {
        let count = min(limit, state.waiting.count)
        let taken = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return taken
    }
}

extension Registry {
    /// `rowsPerInput` with the inputs run in ascending kassa id, answered in the caller's order.
    ///
    /// Each input locks its kassa's row until the whole batch commits, and so does a lease
    /// renewal for every kassa a dispatcher holds. Locked in one order by all of them, two
    /// batches can wait for each other but never in a cycle; a cycle is found only after
    /// deadlock_timeout (1 s), and every kassa of the losing batch sits idle for it.
    func rowsPerInput<Input: Sendable>(_ inputs: [Input], inKassaOrder kassaID: (Input) -> Int64, what: String,
                                       _ statement: @escaping @Sendable (PostgresConnection, [Input]) throws -> PostgresRows)
        async -> [Result<PostgresRow, any Error>]
    {
        let order = inputs.indices.sorted { kassaID(inputs[$0]) < kassaID(inputs[$1]) }
        // rowsPerInput answers every input, so `sorted` has one answer per position of `order`.
        let sorted = await rowsPerInput(order.map { inputs[$0] }, what: what, statement)
        var answers = sorted
        for (position, index) in order.enumerated() { answers[index] = sorted[position] }
        return answers
    }

    /// Runs one statement for a batch that answers one row per input, in input order.
    ///
    /// A statement error spoils the whole batch (one document claimed twice, a deadlock), so
    /// then each input runs alone and only the one at fault fails. A connection error fails
    /// them all as unknown, as it would have failed each alone.
    /// - Parameter what: names the statement in the error for a wrong row count.
    func rowsPerInput<Input: Sendable>(_ inputs: [Input], what: String,
                                       _ statement: @escaping @Sendable (PostgresConnection, [Input]) throws -> PostgresRows)
        async -> [Result<PostgresRow, any Error>]
    {
        do {
            let rows = try await withConnection { connection in try statement(connection, inputs) }
            guard rows.count == inputs.count else {
                throw RegistryError.decoding("\(what) answered \(rows.count) rows for \(inputs.count) inputs")
            }
            return rows.map { .success($0) }
        } catch let error as RegistryError where inputs.count > 1 && !error.isTransient {
            var results: [Result<PostgresRow, any Error>] = []
            for input in inputs { results += await rowsPerInput([input], what: what, statement) }
            return results
        } catch {
            return Array(repeating: .failure(error), count: inputs.count)
        }
    }
}
