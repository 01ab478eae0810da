import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One proxied connection as the link sees it: its two channels, whether it has gone silent
/// (blackholed), and how to end it from outside its relay (a state change, the proxy stopping).
final class ProxyConnection: Sendable {
    private struct State {
        var target: (any Channel)?
        var silenced = false
        var ended = false
    }

    let id: UInt64
    /// The accepted connection.
    let client: any Channel
    private let state = NIOLockedValueBox(State())

    init(id: UInt64, client: any Channel) {
        self.id = id
        self.client = client
    }

    /// Whether the link blackholed this connection: nothing it carries is forwarded any more,
    /// and it is closed when the link comes back up.
    var isSilenced: Bool { state.withLockedValue { $0.silenced } }

    func silence() {
        state.withLockedValue { $0.silenced = true }
    }

    /// Records the connection to the target. False when the connection was ended meanwhile:
    /// the caller closes `target` itself.
    func attach(target: any Channel) -> Bool {
        state.withLockedValue { state in
            guard !state.ended else { return false }
            state.target = target
            return true
        }
    }

    /// Resets both sides (SO_LINGER 0: the peers get an RST, as from a WAN that reset them).
    func abort() {
        for channel in end() {
            channel.eventLoop.execute {
                if let socket = channel as? any SocketOptionProvider {
                    _ = socket.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                }
                channel.close(promise: nil)
            }
        }
    }

    /// Closes both sides the ordinary way (FIN), when the proxy stops.
    func close() {
        for channel in end() {
            channel.close(promise: nil)
        }
    }

    private func end() -> [any Channel] {
        let target = state.withLockedValue { state in
            state.ended = true
            return state.target
        }
        return [client] + (target.map { [$0] } ?? [])
    }
}
