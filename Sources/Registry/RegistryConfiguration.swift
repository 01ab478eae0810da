/// How to reach the registry database and how many connections to keep.
///
/// The connection string is handed to libpq unchanged, so everything libpq understands works:
/// key/value form (`host=a,b port=5432,5432 dbname=kassa target_session_attrs=read-write`) or a
/// URI (`postgresql://a:5432,b:5432/kassa?target_session_attrs=read-write`). Multi-host strings
/// with `target_session_attrs=read-write` are how clients follow a Patroni failover.
public struct RegistryConfiguration: Sendable {
    /// A libpq connection string (key/value or URI form). It may contain a password: it is never
    /// logged and never copied into error messages.
    public var connectionString: String

    /// Number of connections, each bound to its own thread. Also the number of statements that
    /// can run at once.
    public var poolSize: Int = 4

    /// Default `connect_timeout` per host when the connection string sets none. libpq's own
    /// default is to wait forever, which would stall a failover for minutes.
    public var connectTimeout: Duration = .seconds(5)

    /// How long a statement may wait for the server's answer before its connection is dropped
    /// and the statement reported with an unknown outcome. A partition can swallow a statement
    /// without any error; registry statements take milliseconds, so this only bounds that case.
    public var answerTimeout: Duration = .seconds(10)

    /// How long `Registry.isReachable()` waits for a fresh connection and `SELECT 1`.
    public var reachabilityTimeout: Duration = .seconds(2)

    /// `fallback_application_name`, shown in `pg_stat_activity` unless the string sets one.
    public var applicationName: String = "kassa-registry"

    public init(connectionString: String, poolSize: Int = 4) {
        self.connectionString = connectionString
        self.poolSize = poolSize
    }
}
