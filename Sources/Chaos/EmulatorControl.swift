import AsyncHTTPClient
import Foundation
import KassaModel
import NIOCore
import NIOHTTP1

/// The emulator's fault control plane (`kassa emulator --control-port`, see
/// docs/KASSA-PROTOCOL.md): sets and lifts faults on kassa modules over HTTP.
struct EmulatorControl: Sendable {
    let baseURL: String
    let client: HTTPClient

    /// Makes the module with this FN show `fault` (`none` lifts it); `count` limits it to that
    /// many answers where the fault supports it.
    func set(_ fault: String, fnSerial: String, count: Int? = nil) async throws(ChaosError) {
        var body: [String: JSONValue] = ["fault": .string(fault), "target": .object(["fn_serial": .string(fnSerial)])]
        if let count { body["count"] = .number(Double(count)) }
        try await send(.POST, path: "/faults", body: JSONValue.object(body).serialized())
    }

    /// Lifts every fault on every module.
    func clearAll() async throws(ChaosError) {
        try await send(.DELETE, path: "/faults", body: nil)
    }

    private func send(_ method: HTTPMethod, path: String, body: String?) async throws(ChaosError) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let answer = try await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(response.status.code) else {
                throw ChaosError.emulatorControl("\(method) \(path) answered \(response.status.code): \(String(buffer: answer))")
            }
        } catch let error as ChaosError {
            throw error
        } catch {
            throw .emulatorControl("\(method) \(baseURL)\(path): \(error)")
        }
    }
}
