import Foundation

/// The open-loop schedule: post `i` goes out at `start + i / rate`, whatever happened to
/// earlier posts, so a slow server faces the offered rate instead of slowing the
/// generator down (which would hide exactly the queueing a load test is for).
struct Sender: Sendable {
    let configuration: LoadConfiguration
    let generator: ReceiptGenerator
    let poster: Poster
    let state: LoadState

    /// Issues every post of the send phase and returns when all of them are settled.
    func run(start: ContinuousClock.Instant) async {
        let tenants = configuration.tenants
        let rate = configuration.rate
        // Separate from the receipt streams so the mix does not perturb receipt content.
        var mix = SeededRandom(seed: configuration.seed ^ 0x6D69_7853_6565_6421)
        var maxLag = Duration.zero
        var sendDuration = Duration.zero

        await withDiscardingTaskGroup { group in
            var index = 0
            while !Task.isCancelled {
                // Computed from the index, not accumulated, so rounding never drifts.
                let offset = Duration.seconds(Double(index) / rate)
                guard offset < configuration.duration else { break }
                let scheduled = start + offset
                do { try await Task.sleep(until: scheduled, clock: .continuous) } catch { break }
                let now = ContinuousClock.now
                maxLag = max(maxLag, now - scheduled)

                let plan = await plan(index: index, tenants: tenants, mix: &mix)
                group.addTask { await poster.deliver(plan) }
                index += 1
            }
            // The phase spans at least its nominal grid (posts × 1/rate), more if the
            // scheduler fell behind; answers still arriving are not part of it.
            sendDuration = max(ContinuousClock.now - start, .seconds(Double(index) / rate))
        }
        await state.finishSending(sendDuration: sendDuration, maxScheduleLag: maxLag)
    }

    private func plan(index: Int, tenants: [TenantCredentials], mix: inout SeededRandom) async -> PostPlan {
        let roll = mix.unit()
        let pick = mix.next()
        let timestamp = WallClockText.atolTimestamp(Date())
        if roll < configuration.duplicateRatio, let original = await state.duplicateCandidate(random: pick) {
            // Rebuild the original body exactly, its timestamp included: a client retry.
            let receipt = generator.receipt(
                number: original.number, tenant: tenants[original.tenantIndex], timestamp: original.timestamp)
            return PostPlan(kind: .duplicate(originalUUID: original.uuid), receipt: receipt, tenantIndex: original.tenantIndex)
        }
        let tenantIndex = index % tenants.count
        if roll >= configuration.duplicateRatio, roll < configuration.duplicateRatio + configuration.invalidRatio {
            let receipt = generator.invalidReceipt(number: index, tenant: tenants[tenantIndex], timestamp: timestamp)
            return PostPlan(kind: .invalid, receipt: receipt, tenantIndex: tenantIndex)
        }
        let receipt = generator.receipt(number: index, tenant: tenants[tenantIndex], timestamp: timestamp)
        return PostPlan(kind: .fresh, receipt: receipt, tenantIndex: tenantIndex)
    }
}
