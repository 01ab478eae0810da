import AsyncHTTPClient
import Foundation
import KassaModel
import NIOCore
import NIOHTTP1

/// The emulators' fault control planes (`kassa emulator --control-port`, see
/// docs/KASSA-PROTOCOL.md): sets and lifts faults on kassa modules over HTTP. With two sites each
/// site's emulator has its own; a fault goes to every one, and the ones without the targeted
/// modules answer 404, which is fine as long as one of them took it.
struct EmulatorControl: Sendable {
    let baseURLs: [String]
    let client: HTTPClient

    /// Makes the module with this FN show `fault` (`none` lifts it); `count` limits it to that
    /// many answers where the fault supports it.
    func set(_ fault: String, fnSerial: String, count: Int? = nil) async throws(ChaosError) {
        try await set(fault, target: ["fn_serial": .string(fnSerial)], count: count)
    }

    /// Makes every module of a target (`{"assembly": "A1-3"}`, `{"rack": ...}`, `{"site": ...}`)
    /// show `fault`.
    func set(_ fault: String, target: [String: JSONValue], count: Int? = nil) async throws(ChaosError) {
        var body: [String: JSONValue] = ["fault": .string(fault), "target": .object(target)]
        if let count { body["count"] = .number(Double(count)) }
        try await sendToAll(.POST, path: "/faults", body: JSONValue.object(body).serialized())
    }

    /// Lifts every fault on every module.
    func clearAll() async throws(ChaosError) {
        try await sendToAll(.DELETE, path: "/faults", body: nil)
    }

    private func sendToAll(_ method: HTTPMethod, path: String, body: String?) async throws(ChaosError) {
        var taken = false
        var errors: [String] = []
        for baseURL in baseURLs {
            do {
                let status = try await HTTPJSON.send(client, method, url: baseURL + path, body: body)
                if (200..<300).contains(status.code) { taken = true } else if status.code != 404 { errors.append(status.text) }
            } catch {
                errors.append("\(error)")
            }
        }
        if !errors.isEmpty || !taken {
            throw .emulatorControl(errors.isEmpty ? "\(method) \(path): no emulator has the targeted modules" : errors.joined(separator: "; "))
        }
    }
}

/// The WAN link's control plane (`kassa wan-link --control-port`): latency and cuts between sites.
struct WANControl: Sendable {
    let baseURL: String
    let client: HTTPClient

    /// Changes one link (`A->B`) or, with `link` nil, every link: `{"latency_ms": 50}`,
    /// `{"state": "blackhole"}`...
    func change(link: String?, _ change: [String: JSONValue]) async throws(ChaosError) {
        var body = change
        let path: String
        if let link {
            path = "/links/" + (link.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/>"))) ?? link)
        } else {
            path = "/links"
            body["all"] = .bool(true)
        }
        let status: (code: UInt, text: String)
        do {
            status = try await HTTPJSON.send(client, .POST, url: baseURL + path, body: JSONValue.object(body).serialized())
        } catch {
            throw .cluster("WAN link \(baseURL)\(path): \(error)")
        }
        guard (200..<300).contains(status.code) else { throw .cluster("WAN link: \(status.text)") }
    }
}

enum HTTPJSON {
    /// One request; the status and, for errors, a line saying what was asked and answered.
    static func send(_ client: HTTPClient, _ method: HTTPMethod, url: String, body: String?) async throws -> (code: UInt, text: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let answer = try await response.body.collect(upTo: 1 << 20)
        return (response.status.code, "\(method) \(url) answered \(response.status.code): \(String(buffer: answer))")
    }
}
