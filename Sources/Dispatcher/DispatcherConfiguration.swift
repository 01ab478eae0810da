/// Settings of one dispatcher process.
public struct DispatcherConfiguration: Sendable {
    /// This dispatcher's name; it owns leases under this name. Unique per process.
    public var name: String
    public var site: String
    public var bootstrapServers: String
    public var topic: String = "receipt-jobs"
    public var groupID: String = "kassa-dispatchers"
    /// A lease not renewed within this time may be taken over by another dispatcher.
    public var leaseTTL: Duration = .seconds(10)
    /// All held leases are renewed in one statement this often.
    public var leaseRenewInterval: Duration = .seconds(3)
    /// How often durable offsets are committed to Kafka.
    public var commitInterval: Duration = .milliseconds(250)
    /// How long a kassa may take to answer a sale before the job is in doubt.
    public var sellTimeout: Duration = .seconds(10)
    public var connectTimeout: Duration = .seconds(2)
    /// How long a kassa that failed (could not connect, refused for a reason of its own) rests.
    public var kassaRestInterval: Duration = .seconds(5)
    /// How many of a receipt's last failed kassas its next try avoids (with their assemblies,
    /// racks and sites). Older failures are forgotten, so a receipt outlives an outage of every
    /// kassa (an emulator restart) by waiting instead of failing.
    public var rememberedFailures: Int = 3
    /// DEBUG ONLY: treat a receipt in doubt as never made and send it elsewhere at once, without
    /// reading the FN archive. This breaks exactly-once on purpose; it exists so a drill can show
    /// that the ground-truth checker catches the duplicates.
    public var unsafeSkipReconcile = false

    public init(name: String, site: String, bootstrapServers: String) {
        self.name = name
        self.site = site
        self.bootstrapServers = bootstrapServers
    }
}
