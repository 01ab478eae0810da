import Testing

@testable import Load

@Suite struct TimelineTests {
    @Test func receiptsAreCountedInTheSecondTheyFinished() {
        let start = ContinuousClock.now
        var recorder = TimelineRecorder(start: start)
        recorder.accepted(at: start + .milliseconds(100))
        recorder.done(at: start + .milliseconds(200), latencyMilliseconds: 900)
        recorder.done(at: start + .milliseconds(700), latencyMilliseconds: 1100)
        recorder.failed(at: start + .milliseconds(2100))
        recorder.done(at: start + .milliseconds(2500), latencyMilliseconds: 5000)
        let seconds = recorder.everySecond()
        #expect(seconds.map(\.second) == [0, 1, 2])
        #expect(seconds.map(\.done) == [2, 0, 1])
        #expect(seconds.map(\.accepted) == [1, 0, 0])
        #expect(seconds.map(\.failed) == [0, 0, 1])
        #expect(seconds[0].maxMilliseconds == 1100)
        #expect(seconds[1].p99Milliseconds == nil)
        #expect(seconds[2].p99Milliseconds == 5000)
        // The last two whole seconds before 3 s: one receipt in two seconds.
        let recent = recorder.recent(window: 2, now: start + .milliseconds(3100))
        #expect(recent.donePerSecond == 0.5)
        #expect(recent.p99Milliseconds == 5000)
    }

    @Test func eachTenantsThroughputIsCountedToo() {
        let start = ContinuousClock.now
        var recorder = TimelineRecorder(start: start)
        recorder.done(at: start + .milliseconds(100), latencyMilliseconds: 900, tenant: "shop-tea")
        recorder.done(at: start + .milliseconds(200), latencyMilliseconds: 900, tenant: "shop-tea")
        recorder.done(at: start + .milliseconds(300), latencyMilliseconds: 900, tenant: "shop-books")
        recorder.done(at: start + .milliseconds(1300), latencyMilliseconds: 900, tenant: "shop-books")
        let seconds = recorder.everySecond()
        #expect(seconds.map(\.doneByTenant) == [["shop-tea": 2, "shop-books": 1], ["shop-books": 1]])
    }
}
