import AsyncHTTPClient
import Foundation
import KassaModel
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// A real cluster (PostgreSQL, Tansu, the emulator, an ingress, two dispatchers) started once per
/// test process through cluster/up, in its own folder and on its own ports, and stopped at exit.
actor TestCluster {
    static let shared = TestCluster(portOffset: 1000)
    /// The chaos drills' own cluster: drills kill and pause processes and run debug flags that
    /// break the protocol on purpose, which must not touch the other tests' receipts.
    static let drills = TestCluster(portOffset: 5000)
    /// Two sites at test size: Patroni and etcd, an emulator, an ingress and two dispatchers per
    /// site, the WAN link. Offset 9000 keeps every port clear of the other two clusters'.
    static let twoSites = TestCluster(portOffset: 9000, sites: 2, environment: [
        "KASSA_TOPOLOGY": "cluster/ci/topology-2sites.yaml", "KASSA_TENANTS": "cluster/ci/tenants-2sites.yaml",
    ])

    struct Tenant: Decodable, Sendable {
        let groupCode: String
        let login: String
        let password: String
        let inn: String
        let paymentAddress: String
        enum CodingKeys: String, CodingKey {
            case groupCode = "group_code", login, password, inn
            case paymentAddress = "payment_address"
        }
    }

    struct Info: Sendable {
        let root: URL
        let directory: URL
        let baseURL: String
        let ingressURL: String
        let fnDirectory: URL
        let tenants: [Tenant]
    }

    /// The one start of this cluster (see `start()`).
    private var starting: Task<Info, any Error>?
    let portOffset: Int
    let sites: Int
    /// More environment for cluster/up (topology and tenants files, relative to the root).
    let environment: [String: String]

    init(portOffset: Int, sites: Int = 1, environment: [String: String] = [:]) {
        self.portOffset = portOffset
        self.sites = sites
        self.environment = environment
    }

    static var root: URL {
        if let env = ProcessInfo.processInfo.environment["KASSA_ROOT"] { return URL(fileURLWithPath: env) }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts the cluster on first use. Tests that ask while it starts, or after, share that
    /// one start: its cluster, or its error.
    func start() async throws -> Info {
        if let starting { return try await starting.value }
        let task = Task { try await self.bringUp() }
        starting = task
        return try await task.value
    }

    private func bringUp() async throws -> Info {
        let root = Self.root
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kassa-it-\(getpid())-\(portOffset)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        clustersForCleanup.withLock { clusters in
            if clusters.isEmpty { atexit { stopTestClusters() } }
            clusters.append((directory.path, portOffset))
        }
        var environment = [
            "KASSA_CLUSTER_DIR": directory.path, "KASSA_PORT_OFFSET": "\(portOffset)", "KASSA_SPEED": "20", "KASSA_SKIP_BUILD": "1",
        ]
        for (key, value) in self.environment { environment[key] = root.appendingPathComponent(value).path }
        let status = try await Self.run(root.appendingPathComponent("cluster/up").path, sites == 2 ? ["--sites", "2"] : [],
                                        environment: environment)
        guard status == 0 else { throw ClusterError(text: "cluster/up exited with \(status); logs in \(directory.path)/logs") }
        let tenantsData = try Data(contentsOf: directory.appendingPathComponent("tenants.json"))
        let tenants = try JSONDecoder().decode([Tenant].self, from: tenantsData)
        let ingress = "http://127.0.0.1:\(18080 + portOffset)"
        return Info(root: root, directory: directory, baseURL: ingress + "/possystem/v4", ingressURL: ingress,
                    fnDirectory: directory.appendingPathComponent("fn"), tenants: tenants)
    }

    /// Runs a command with the cluster's environment and awaits its exit (output inherited).
    @discardableResult
    static func run(_ path: String, _ arguments: [String] = [], environment: [String: String] = [:]) async throws -> Int32 {
        try await ChildProcess.run(URL(fileURLWithPath: path), arguments, environment: environment).status
    }

    struct ClusterError: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }
}

/// The clusters started by this test process: (folder, port offset).
private let clustersForCleanup = Mutex<[(String, Int)]>([])

/// Stops the test clusters when the test process exits (Swift Testing has no global teardown).
/// Each cluster's logs are kept under .build/test-cluster-logs/ first: a failed run's cause is
/// often only in them, and cluster/test prints their tails when a test failed.
private func stopTestClusters() {
    let kept = TestCluster.root.appendingPathComponent(".build/test-cluster-logs")
    for (directory, offset) in clustersForCleanup.withLock({ $0 }) {
        let target = kept.appendingPathComponent("offset-\(offset)")
        try? FileManager.default.removeItem(at: target)
        try? FileManager.default.createDirectory(at: kept, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: directory + "/logs", toPath: target.path)
        _ = try? ChildProcess.runBlocking(TestCluster.root.appendingPathComponent("cluster/down"), ["--purge"], environment: [
            "KASSA_CLUSTER_DIR": directory, "KASSA_PORT_OFFSET": "\(offset)",
        ])
    }
}

/// A small ATOL API client for the tests.
struct APIClient {
    let base: String
    /// The shared client by default. A test that stops the ingress gives its calls a client of
    /// their own: refused connections put a client's pool for that address into a growing
    /// back-off, and calls made through it after the restart would wait that out.
    var http: HTTPClient = .shared

    struct Answer {
        let status: Int
        let json: JSONValue
        var errorCode: Int? { if case .number(let n)? = json["error"]?["code"] { return Int(n) } else { return nil } }
        var errorText: String? { if case .string(let s)? = json["error"]?["text"] { return s } else { return nil } }
        var uuid: String? { if case .string(let s)? = json["uuid"] { return s } else { return nil } }
        var statusText: String? { if case .string(let s)? = json["status"] { return s } else { return nil } }
    }

    func request(_ method: HTTPMethod, _ path: String, token: String? = nil, body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Token", value: token) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        let json = (try? JSONValue.parse(bytes.readableBytesView)) ?? .null
        return Answer(status: Int(response.status.code), json: json)
    }

    func token(_ tenant: TestCluster.Tenant) async throws -> String {
        let answer = try await request(.POST, "/getToken", body: #"{"login":"\#(tenant.login)","pass":"\#(tenant.password)"}"#)
        guard case .string(let token)? = answer.json["token"] else { throw TestCluster.ClusterError(text: "getToken failed: \(answer.json.serialized())") }
        return token
    }

    /// Polls the report until it is no longer `wait` or the deadline passes.
    func awaitFinal(group: String, uuid: String, token: String, within seconds: Double = 60) async throws -> Answer {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while true {
            let answer = try await request(.GET, "/\(group)/report/\(uuid)", token: token)
            if answer.statusText != "wait" || ContinuousClock.now > deadline { return answer }
            try await Task.sleep(for: .milliseconds(100))  // the polling interval, not synchronization
        }
    }
}

/// Runs `body` with an HTTP client of its own, shut down afterwards.
func withOwnHTTPClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
    let client = HTTPClient(eventLoopGroupProvider: .singleton)
    let result: T
    do {
        result = try await body(client)
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
    return result
}

/// A valid sell body for a tenant.
func sellBody(_ tenant: TestCluster.Tenant, externalID: String, price: String = "150.5", quantity: String = "2", sum: String = "301") -> String {
    """
    {"timestamp":"23.11.2026 10:15:02","external_id":"\(externalID)",
     "receipt":{"client":{"email":"buyer@example.com"},
       "company":{"email":"shop@example.com","inn":"\(tenant.inn)","payment_address":"\(tenant.paymentAddress)"},
       "items":[{"name":"Tea","price":\(price),"quantity":\(quantity),"sum":\(sum),"payment_method":"full_payment","payment_object":"commodity","vat":{"type":"vat20"}}],
       "payments":[{"type":1,"sum":\(sum)}],"total":\(sum)}}
    """
}

/// Every document of every FN archive on disk (the ground truth), as parsed JSON objects.
func archiveDocuments(in fnDirectory: URL) throws -> [JSONValue] {
    var documents: [JSONValue] = []
    for serial in try FileManager.default.contentsOfDirectory(atPath: fnDirectory.path) {
        let file = fnDirectory.appendingPathComponent(serial).appendingPathComponent("archive.jsonl")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") {
            if let doc = try? JSONValue.parse(Array(line.utf8)) { documents.append(doc) }
        }
    }
    return documents
}

func documents(forJob uuid: String, in fnDirectory: URL) throws -> [JSONValue] {
    try archiveDocuments(in: fnDirectory).filter { $0["job_id"] == .string(uuid.lowercased()) }
}
