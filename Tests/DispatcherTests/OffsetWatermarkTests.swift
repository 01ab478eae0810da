import Dispatcher
import Testing

@Suite struct OffsetWatermarkTests {
    @Test func commitsOnlyUpToTheLowestJobNotYetDurable() {
        var w = OffsetWatermark()
        for offset in Int64(10)...14 { w.consumed(partition: 0, offset: offset) }
        #expect(w.committable(partition: 0) == 10)
        w.durable(partition: 0, offset: 11)
        w.durable(partition: 0, offset: 12)
        #expect(w.committable(partition: 0) == 10)
        w.durable(partition: 0, offset: 10)
        #expect(w.committable(partition: 0) == 13)
        w.durable(partition: 0, offset: 14)
        w.durable(partition: 0, offset: 13)
        #expect(w.committable(partition: 0) == 15)
        #expect(w.inFlight == 0)
    }

    @Test func partitionsAreIndependentAndCommitsAreNotRepeated() {
        var w = OffsetWatermark()
        w.consumed(partition: 0, offset: 5)
        w.consumed(partition: 1, offset: 100)
        w.durable(partition: 1, offset: 100)
        #expect(w.takeCommits() == [0: 5, 1: 101])
        #expect(w.takeCommits().isEmpty)
        w.durable(partition: 0, offset: 5)
        #expect(w.takeCommits() == [0: 6])
        w.forget(partition: 0)
        #expect(w.committable(partition: 0) == nil)
    }
}

@Suite struct KassaChoiceTests {
    let kassas = [
        KassaCandidate(id: 1, site: "A", rack: "A1", assembly: "A1-1", used: 3),
        KassaCandidate(id: 2, site: "A", rack: "A1", assembly: "A1-1", used: 0),
        KassaCandidate(id: 3, site: "A", rack: "A1", assembly: "A1-2", used: 5),
        KassaCandidate(id: 4, site: "B", rack: "B1", assembly: "B1-1", used: 9),
    ]

    @Test func leastUsedFirst() {
        #expect(KassaChoice.pick(from: kassas, failedOn: [])?.id == 2)
    }

    @Test func retryAvoidsTheFailedAssemblyThenRackThenSite() {
        #expect(KassaChoice.pick(from: kassas, failedOn: [kassas[1]])?.id == 4)
        #expect(KassaChoice.pick(from: Array(kassas.prefix(3)), failedOn: [kassas[1]])?.id == 3)
        #expect(KassaChoice.pick(from: Array(kassas.prefix(2)), failedOn: [kassas[1]])?.id == 1)
        #expect(KassaChoice.pick(from: [kassas[1]], failedOn: [kassas[1]]) == nil)
    }
}
