public import Hummingbird
public import HummingbirdCore
import NIOCore
import NIOHTTPTypes
public import Portal
import Synchronization

/// How long a client may take and how many connections it may hold: the defence against
/// clients that open connections and send slowly (slowloris) or never.
///
/// Guarantees: a connection must deliver its first request's headers within `headerTimeout`
/// of opening, and each request's body within `bodyTimeout` of its headers; a connection
/// with no request in progress is closed after `idleTimeout` (so a later request's headers,
/// too, must come within it); one client address (an IPv6 client's /64) holds at most
/// `maxConnectionsPerAddress` connections at once (trusted proxies, which carry many
/// clients, are exempt). A response
/// being written (a long event stream) is never cut by these deadlines.
public struct ConnectionLimits: Sendable {
    public var headerTimeout: Duration
    public var bodyTimeout: Duration
    public var idleTimeout: Duration
    public var maxConnectionsPerAddress: Int
    /// Addresses the per-address cap does not apply to (`server.trusted_proxies`).
    public var exempt: [NetworkRange]

    public init(headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(30), idleTimeout: Duration = .seconds(60),
                maxConnectionsPerAddress: Int = 64, exempt: [NetworkRange] = []) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.exempt = exempt
    }

    /// The HTTP/1.1 server with these limits in every connection's pipeline.
    public func server() -> HTTPServerBuilder {
        let counts = ConnectionCounts()
        let limits = self
        return .http1(configuration: .init(
            additionalChannelHandlers: [
                ConnectionCapHandler(counts: counts, limit: limits.maxConnectionsPerAddress, exempt: limits.exempt),
                RequestDeadlineHandler(headerTimeout: TimeAmount(limits.headerTimeout), bodyTimeout: TimeAmount(limits.bodyTimeout)),
            ],
            idleTimeout: TimeAmount(idleTimeout)))
    }
}

/// Open connections per client address, shared by every connection of one server.
final class ConnectionCounts: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts a new connection from `address` unless it already holds `limit`.
    func open(_ address: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let current = counts[address, default: 0]
            guard current < limit else { return false }
            counts[address] = current + 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLock { counts in
            let remaining = counts[address, default: 1] - 1
            counts[address] = remaining > 0 ? remaining : nil
        }
    }
}

/// Closes a connection at once when its address already holds the maximum.
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let counts: ConnectionCounts
    let limit: Int
    let exempt: [NetworkRange]
    private var counted: String?

    init(counts: ConnectionCounts, limit: Int, exempt: [NetworkRange]) {
        self.counts = counts
        self.limit = limit
        self.exempt = exempt
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let peer = context.channel.remoteAddress?.ipAddress, exempt.firstContaining(peer) == nil else { return }
        let address = NetworkRange.subject(peer)
        if counts.open(address, limit: limit) {
            counted = address
        } else {
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        if let counted { counts.close(counted) }
        counted = nil
    }
}

/// Closes a connection whose request headers or body do not arrive in time.
final class RequestDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let headerTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, bodyTimeout)
        case .body: break
        case .end: disarm()
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { context.close(promise: nil) }
    }

    private func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
