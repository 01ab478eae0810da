import ArgumentParser
import Foundation
import KassaModel
import KassaWire
import Registry
import Yams

struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "Registry administration.",
        subcommands: [Migrate.self, Provision.self, TopologyCommand.self, PlaceCommand.self, PlacementShowCommand.self, RetireCommand.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations.")
        @OptionGroup var common: CommonOptions

        func run() async throws {
            let logger = common.logger("kassa.registry")
            var configuration = RegistryConfiguration(connectionString: common.db, poolSize: 1)
            // A migration may rebuild a large table or wait for another migrator's lock: the answer
            // timeout that bounds a partition's silence for ordinary statements would cut it short.
            configuration.answerTimeout = .seconds(3600)
            let registry = try Registry(configuration: configuration, logger: logger)
            defer { registry.close() }
            let applied = try await registry.migrate()
            print(applied.isEmpty ? "registry schema is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
        }
    }

    /// Creates the tenants of a tenants file and gives each its kassas from the topology,
    /// registering each kassa module with its tenant's INN, payment address and tax systems.
    struct Provision: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Provision tenants and their kassas (registers the modules).")
        @OptionGroup var common: CommonOptions
        @Option(help: "Topology file.") var topology = "cluster/topology.yaml"
        @Option(help: "Tenants file.") var tenants = "cluster/tenants.yaml"
        @Option(help: "Added to every module port of the topology.") var portOffset = 0
        @Option(help: "Where to write the tenants' credentials (JSON) for the load tool.") var credentialsOut: String?

        func run() async throws {
            let logger = common.logger("kassa.registry")
            let topology = try Topology.load(path: self.topology).shifted(portOffset: portOffset)
            let plan = try TenantsFile.load(path: tenants)
            let needed = plan.tenants.map(\.kassas).reduce(0, +)
            guard needed <= topology.modules.count else {
                throw ValidationError("the tenants need \(needed) kassas but the topology has \(topology.modules.count) modules")
            }
            let registry = try Registry(configuration: .init(connectionString: common.db, poolSize: 2), logger: logger)
            defer { registry.close() }
            try await registry.loadTopology(topology)
            for (index, tenant) in plan.tenants.enumerated() {
                try await registry.upsertTenant(groupCode: tenant.groupCode, inn: tenant.inn, paymentAddress: tenant.paymentAddress,
                                                sno: tenant.sno, login: tenant.login, password: tenant.password, callbackURL: nil,
                                                policy: plan.policies[index])
                try await registry.setKassasWanted(groupCode: tenant.groupCode, count: tenant.kassas)
            }
            // Placed after every tenant is on record, one kassa per tenant per round, so the
            // tenants share the hardware evenly instead of the first taking the best spread.
            var placed = plan.tenants.map { _ in [ModuleSlot]() }
            for round in 1...(plan.tenants.map(\.kassas).max() ?? 0) {
                for (index, tenant) in plan.tenants.enumerated() where tenant.kassas >= round {
                    let outcome = try await registry.placeKassas(groupCode: tenant.groupCode, count: round, register: registerModule)
                    placed[index] = outcome.holding
                }
            }
            for (index, tenant) in plan.tenants.enumerated() {
                print(PlacementTable.render(PlacementOutcome(groupCode: tenant.groupCode, placed: [], holding: placed[index]), dryRun: false))
            }
            if let credentialsOut {
                let credentials = plan.tenants.map {
                    ["group_code": $0.groupCode, "login": $0.login, "password": $0.password, "inn": $0.inn,
                     "payment_address": $0.paymentAddress, "sno": $0.sno.first ?? "osn"]
                }
                let data = try JSONSerialization.data(withJSONObject: credentials, options: [.prettyPrinted, .sortedKeys])
                guard FileManager.default.createFile(atPath: credentialsOut, contents: data, attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("--credentials-out \(credentialsOut): cannot write the file (does its directory exist?)")
                }
            }
        }
    }
}

/// The tenants file (cluster/tenants.yaml).
struct TenantsFile: Decodable {
    struct Tenant: Decodable {
        var groupCode: String
        var login: String
        var password: String
        var inn: String
        var paymentAddress: String
        var sno: [String]
        var kassas: Int
        /// Optional policy keys, kept as written (numbers as text) so `load` can name a bad
        /// value: `in_doubt_policy` (wait | resend-and-annul), `in_doubt_resend_after_s`,
        /// `deadline_s`, `deadline_action` (flag | fail).
        var inDoubtPolicy: String?
        var inDoubtResendAfterSeconds: String?
        var deadlineSeconds: String?
        var deadlineAction: String?

        enum CodingKeys: String, CodingKey {
            case groupCode = "group_code", login, password, inn, sno, kassas
            case paymentAddress = "payment_address"
            case inDoubtPolicy = "in_doubt_policy"
            case inDoubtResendAfterSeconds = "in_doubt_resend_after_s"
            case deadlineSeconds = "deadline_s"
            case deadlineAction = "deadline_action"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            groupCode = try container.decode(String.self, forKey: .groupCode)
            login = try container.decode(String.self, forKey: .login)
            password = try container.decode(String.self, forKey: .password)
            inn = try container.decode(String.self, forKey: .inn)
            paymentAddress = try container.decode(String.self, forKey: .paymentAddress)
            sno = try container.decode([String].self, forKey: .sno)
            kassas = try container.decode(Int.self, forKey: .kassas)
            inDoubtPolicy = try Self.scalar(container, .inDoubtPolicy)
            inDoubtResendAfterSeconds = try Self.scalar(container, .inDoubtResendAfterSeconds)
            deadlineSeconds = try Self.scalar(container, .deadlineSeconds)
            deadlineAction = try Self.scalar(container, .deadlineAction)
        }

        /// A scalar as text, whether YAML read it as a number or a string.
        private static func scalar(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> String? {
            if let number = try? container.decodeIfPresent(Double.self, forKey: key) {
                return number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            }
            return try container.decodeIfPresent(String.self, forKey: key)
        }

        /// The tenant's policy from the optional keys (defaults: wait, 30 s, 300 s, flag).
        /// Throws a message naming the key and the expected form; `load` adds file and tenant.
        func policy() throws(PolicyProblem) -> TenantPolicy {
            var inDoubt = TenantPolicy.default.inDoubt
            switch inDoubtPolicy {
            case nil, "wait"?:
                if inDoubtResendAfterSeconds != nil {
                    throw PolicyProblem(key: "in_doubt_resend_after_s", problem: "allowed only with in_doubt_policy: resend-and-annul")
                }
            case "resend-and-annul"?:
                var after = TenantPolicy.defaultResendAfter
                if let text = inDoubtResendAfterSeconds { after = try Self.seconds(text, key: "in_doubt_resend_after_s") }
                inDoubt = .resendAndAnnul(resendAfter: after)
            case let other?:
                throw PolicyProblem(key: "in_doubt_policy", problem: "expected wait or resend-and-annul, got '\(other)'")
            }
            var deadline = TenantPolicy.default.deadline
            if let text = deadlineSeconds { deadline = try Self.seconds(text, key: "deadline_s") }
            var action = TenantPolicy.default.deadlineAction
            if let text = deadlineAction {
                guard let parsed = TenantPolicy.DeadlineAction(rawValue: text) else {
                    throw PolicyProblem(key: "deadline_action", problem: "expected flag or fail, got '\(text)'")
                }
                action = parsed
            }
            return TenantPolicy(inDoubt: inDoubt, deadline: deadline, deadlineAction: action)
        }

        /// Seconds (fractions allowed, to the millisecond) from 0.001 up to 2,147,483 (the column's range).
        private static func seconds(_ text: String, key: String) throws(PolicyProblem) -> Duration {
            guard let value = Double(text), value.isFinite, value >= 0.001, value <= Double(Int32.max) / 1000 else {
                throw PolicyProblem(key: key, problem: "expected a number of seconds from 0.001 to \(Int32.max / 1000), got '\(text)'")
            }
            return .milliseconds(Int64((value * 1000).rounded()))
        }
    }

    /// A bad policy key of one tenant.
    struct PolicyProblem: Error {
        var key: String
        /// What is wrong, e.g. "expected flag or fail, got 'drop'".
        var problem: String
    }

    var tenants: [Tenant]
    /// Each tenant's policy, validated by `load` (same order as `tenants`).
    var policies: [TenantPolicy] = []

    enum CodingKeys: String, CodingKey { case tenants }

    static func load(path: String) throws -> TenantsFile {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(path): cannot read the tenants file")
        }
        let file: TenantsFile
        do {
            file = try YAMLDecoder().decode(TenantsFile.self, from: text)
        } catch {
            throw ValidationError("\(path): \(error)")
        }
        for (i, t) in file.tenants.enumerated() {
            guard INN.isValid(t.inn) else { throw ValidationError("\(path): tenants[\(i)].inn: expected an INN with valid check digits, got \(t.inn)") }
            guard t.kassas >= 2 else { throw ValidationError("\(path): tenants[\(i)].kassas: expected at least 2 (one kassa is a single point of failure)") }
            guard !t.sno.isEmpty else { throw ValidationError("\(path): tenants[\(i)].sno: expected at least one tax system") }
        }
        var validated = file
        for (i, t) in file.tenants.enumerated() {
            do throws(PolicyProblem) {
                validated.policies.append(try t.policy())
            } catch {
                throw ValidationError("\(path): tenant \(t.groupCode) (tenants[\(i)]).\(error.key): \(error.problem)")
            }
        }
        return validated
    }
}
