import KassaWire
import Logging
import NIOCore

/// The dispatcher's connection to one kassa under one lease epoch. Reconnects on demand and
/// opens every connection with `hello(epoch)`, so the kassa refuses a dispatcher whose lease was
/// taken over.
actor KassaSession {
    let host: String
    let port: Int
    let epoch: Int64
    private let group: any EventLoopGroup
    private let connectTimeout: Duration
    private var client: KassaClient?

    init(address: String, epoch: Int64, group: any EventLoopGroup, connectTimeout: Duration) {
        let parts = address.split(separator: ":")
        self.host = parts.count == 2 ? String(parts[0]) : address
        self.port = parts.count == 2 ? Int(parts[1]) ?? 0 : 0
        self.epoch = epoch
        self.group = group
        self.connectTimeout = connectTimeout
    }

    /// A connected client that has said hello with this session's epoch.
    func connected() async throws -> KassaClient {
        if let client { return client }
        let fresh = try await KassaClient.connect(host: host, port: port, eventLoopGroup: group, connectTimeout: connectTimeout)
        do {
            _ = try await fresh.hello(epoch: epoch)
        } catch {
            await fresh.close()
            throw error
        }
        client = fresh
        return fresh
    }

    /// Drops the connection (after a timeout or a lost connection), so the next use reconnects.
    func reset() async {
        if let client { await client.close() }
        client = nil
    }
}
