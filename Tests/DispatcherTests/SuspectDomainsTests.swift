import Testing

@testable import Dispatcher

@Suite struct SuspectDomainsTests {
    static func kassa(_ id: Int64, _ assembly: String, rack: String = "A1") -> KassaCandidate {
        KassaCandidate(id: id, site: "A", rack: rack, assembly: assembly, used: 0)
    }

    let start = ContinuousClock.now

    @Test func oneDeadKassaDoesNotCondemnItsAssembly() {
        var domains = SuspectDomains()
        // The same kassa failing again and again is that kassa's problem.
        for second in 0..<5 {
            #expect(domains.recordFailure(of: Self.kassa(1, "A1-1"), at: start + .seconds(second)).isEmpty)
        }
        #expect(!domains.isSuspect(Self.kassa(2, "A1-1")))
    }

    @Test func failuresOnSeveralKassasOfOneAssemblyMakeItSuspectUntilAProbePasses() {
        var domains = SuspectDomains()
        #expect(domains.recordFailure(of: Self.kassa(1, "A1-1"), at: start).isEmpty)
        #expect(domains.recordFailure(of: Self.kassa(2, "A1-1"), at: start + .seconds(1)).isEmpty)
        #expect(domains.recordFailure(of: Self.kassa(3, "A1-1"), at: start + .seconds(2)) == [.assembly("A1-1")])
        // Every kassa of the assembly is suspect, even one that never failed; others are not.
        #expect(domains.isSuspect(Self.kassa(4, "A1-1")))
        #expect(!domains.isSuspect(Self.kassa(5, "A1-2")))
        #expect(domains.suspectDomain(of: Self.kassa(4, "A1-1")) == .assembly("A1-1"))
        // Still suspect long after the failures: only a probe clears it.
        #expect(domains.isSuspect(Self.kassa(4, "A1-1")))
        #expect(domains.probePassed(on: Self.kassa(5, "A1-2")).isEmpty)
        #expect(domains.probePassed(on: Self.kassa(4, "A1-1")) == [.assembly("A1-1")])
        #expect(!domains.isSuspect(Self.kassa(1, "A1-1")))
        // Its failures are forgotten: one more does not bring it back.
        #expect(domains.recordFailure(of: Self.kassa(1, "A1-1"), at: start + .seconds(3)).isEmpty)
    }

    @Test func failuresOutsideTheWindowDoNotAddUp() {
        var domains = SuspectDomains()
        _ = domains.recordFailure(of: Self.kassa(1, "A1-1"), at: start)
        _ = domains.recordFailure(of: Self.kassa(2, "A1-1"), at: start + .seconds(11))
        #expect(domains.recordFailure(of: Self.kassa(3, "A1-1"), at: start + .seconds(22)).isEmpty)
        #expect(domains.suspects.isEmpty)
    }

    @Test func failuresAcrossAssembliesOfOneRackMakeTheRackSuspect() {
        var domains = SuspectDomains()
        var newly: [FailureDomain] = []
        for (id, assembly) in [(1, "A1-1"), (2, "A1-2"), (3, "A1-3"), (4, "A1-4")] {
            newly += domains.recordFailure(of: Self.kassa(Int64(id), assembly), at: start + .milliseconds(100 * id))
        }
        #expect(newly == [.rack("A1")])
        #expect(domains.isSuspect(Self.kassa(9, "A1-12")))
        #expect(!domains.isSuspect(Self.kassa(10, "A2-1", rack: "A2")))
        #expect(domains.probePassed(on: Self.kassa(9, "A1-12")) == [.rack("A1")])
        #expect(domains.suspects.isEmpty)
    }

    @Test func twoLoneFailuresInARackAreNotARack() {
        var domains = SuspectDomains()
        _ = domains.recordFailure(of: Self.kassa(1, "A1-1"), at: start)
        #expect(domains.recordFailure(of: Self.kassa(2, "A1-2"), at: start).isEmpty)
        #expect(domains.suspects.isEmpty)
    }
}

@Suite struct SiteRouteTests {
    @Test func anotherSitesKassasAreDialedThroughTheWAN() throws {
        var configuration = DispatcherConfiguration(name: "a1", site: "A", bootstrapServers: "")
        let (site, route) = try SiteRoute.parse("B=127.0.0.1:+10000")
        configuration.siteRoutes[site] = route
        #expect(configuration.dialAddress(site: "B", address: "127.0.0.1:23007") == "127.0.0.1:33007")
        // Its own site, and a site without a route, are dialed directly.
        #expect(configuration.dialAddress(site: "A", address: "127.0.0.1:21007") == "127.0.0.1:21007")
        #expect(configuration.dialAddress(site: "C", address: "127.0.0.1:25007") == "127.0.0.1:25007")
        #expect(try SiteRoute.parse("A=10.0.0.1:-5").route == SiteRoute(host: "10.0.0.1", portShift: -5))
    }

    @Test(arguments: ["B", "B=127.0.0.1", "B=127.0.0.1:10000", "=127.0.0.1:+1", "B=:+1", "B=h:+x"])
    func aMalformedRouteSaysWhatIsExpected(_ text: String) {
        #expect(throws: SiteRouteError("\(text): expected SITE=HOST:+SHIFT, e.g. B=127.0.0.1:+10000")) {
            try SiteRoute.parse(text)
        }
    }
}
