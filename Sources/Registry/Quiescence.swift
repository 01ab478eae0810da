extension Registry {
    /// What is still under way: jobs waiting, kassas with an intent (a receipt sent or in doubt),
    /// duplicates whose refund is not fiscalized yet. All zero when the cluster is at rest.
    public func unfinishedWork() async throws -> (waitingJobs: Int, intents: Int, pendingAnnulments: Int) {
        try await withConnection { connection in
            guard let row = try connection.query("""
                SELECT (SELECT count(*) FROM jobs WHERE status = 'wait') AS waiting,
                       (SELECT count(*) FROM intents) AS intents,
                       (SELECT count(*) FROM annulments WHERE annulled_at IS NULL) AS annulments
                """).first else { throw RegistryError.decoding("unfinishedWork returned no row") }
            return (try row.int("waiting"), try row.int("intents"), try row.int("annulments"))
        }
    }
}
