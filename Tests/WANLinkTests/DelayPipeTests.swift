import NIOCore
import Testing

@testable import WANLink

/// The pipe under each direction of a link: bounded, ordered, never early.
@Suite("Delay pipe")
struct DelayPipeTests {
    static func chunk(_ size: Int, _ byte: UInt8 = 0) -> ByteBuffer {
        ByteBuffer(bytes: [UInt8](repeating: byte, count: size))
    }

    @Test func aFullPipeTakesNothingMoreUntilDrained() async {
        let pipe = DelayPipe(capacity: 100)
        #expect(pipe.offer(Self.chunk(60), delay: .zero))
        #expect(pipe.offer(Self.chunk(60), delay: .zero))  // 60 < 100: still room for one more
        #expect(!pipe.offer(Self.chunk(1), delay: .zero))  // 120 held: full
        #expect(pipe.bytesHeld == 120)
        _ = await pipe.pop()
        #expect(pipe.offer(Self.chunk(1), delay: .zero))
        #expect(pipe.bytesHeld == 61)
    }

    @Test func anEmptyPipeTakesAChunkLargerThanItsCapacity() {
        let pipe = DelayPipe(capacity: 10)
        #expect(pipe.offer(Self.chunk(1000), delay: .zero))
        #expect(!pipe.offer(Self.chunk(1), delay: .zero))
    }

    @Test func aWaitingPushGoesInOnceThereIsRoom() async {
        let pipe = DelayPipe(capacity: 10)
        #expect(pipe.offer(Self.chunk(10, 1), delay: .zero))
        // Waits: the pipe is full until the consumer takes the first chunk.
        let pushing = Task { await pipe.push(Self.chunk(10, 2), delay: .zero) }
        let first = await pipe.pop()
        #expect(await pushing.value)
        let second = await pipe.pop()
        #expect(first?.chunk.readableBytesView.first == 1)
        #expect(second?.chunk.readableBytesView.first == 2)
    }

    @Test func aChunkWaitsBehindAnEarlierOneWithALongerDelay() async {
        let pipe = DelayPipe(capacity: 1 << 20)
        let now = ContinuousClock.now
        #expect(pipe.offer(Self.chunk(1, 1), delay: .milliseconds(50), now: now))
        // Due earlier on its own, but a pipe does not let it overtake: due with the first.
        #expect(pipe.offer(Self.chunk(1, 2), delay: .milliseconds(10), now: now + .milliseconds(1)))
        #expect(pipe.offer(Self.chunk(1, 3), delay: .milliseconds(10), now: now + .milliseconds(100)))
        pipe.finish()
        var items: [DelayPipe.Item] = []
        while let item = await pipe.pop() { items.append(item) }
        #expect(items.map(\.due) == [now + .milliseconds(50), now + .milliseconds(50), now + .milliseconds(110)])
        #expect(items.compactMap(\.chunk.readableBytesView.first) == [1, 2, 3])
    }

    @Test func finishDrainsAndCloseDrops() async {
        let pipe = DelayPipe(capacity: 100)
        #expect(pipe.offer(Self.chunk(1), delay: .zero))
        pipe.finish()
        #expect(await pipe.pop() != nil)
        #expect(await pipe.pop() == nil)

        let closed = DelayPipe(capacity: 100)
        #expect(closed.offer(Self.chunk(1), delay: .zero))
        closed.close()
        #expect(await closed.pop() == nil)
        #expect(!closed.offer(Self.chunk(1), delay: .zero))
        #expect(await closed.push(Self.chunk(1), delay: .zero) == false)
    }
}
