public import FoundationEssentials
public import Hummingbird
public import Portal
import NIOCore
import Synchronization
import Logging

/// What inner middleware learned about a request that outer middleware logs.
public final class RequestOutcome: Sendable {
    private let principal = Mutex<String?>(nil)

    /// `user:<id>` or `key:<id>` of the authenticated caller.
    public var principalID: String? {
        get { principal.withLock { $0 } }
        set { principal.withLock { $0 = newValue } }
    }
}

/// The per-request context every route and middleware sees.
public struct PortalContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the caller's `X-Request-Id` when it is well formed, otherwise generated.
    public var requestID: String = ""
    /// Who is calling, once `AuthenticationMiddleware` has resolved it.
    public var principal: Principal? {
        didSet { outcome.principalID = principal?.id }
    }
    /// Shared with the middleware outside the one that authenticates (contexts are values,
    /// so this is how the request log learns who called).
    public let outcome = RequestOutcome()

    /// The connection, to close after answering a client that is still sending a body the
    /// portal refused (413).
    let channel: any Channel

    /// Bodies are JSON; their times are RFC 3339 as the API document's `date-time` promises
    /// (any fraction, offsets up to ±23:59, which Foundation's ISO 8601 reading refuses
    /// beyond ±18:00), and a time that is not one names its field.
    public var requestDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = RFC3339.date(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text.prefix(64))' is not an RFC 3339 time such as 2026-11-26T09:00:00Z")
            }
            return date
        }
        return decoder
    }

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
        self.clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The client's address, for throttling and the audit trail: the peer's IP, or, when the
    /// peer is a trusted proxy, the address it forwarded (`ClientAddressMiddleware`).
    /// "unknown" when there is no peer (in-process router tests).
    public internal(set) var clientAddress: String

    /// The rate rule of the route this request goes to, once the rate limiter looked it up.
    var rateRule: RateRule?

    /// Bodies larger than this are refused with 413: the route's limit (`RouteDoc.maxBodyBytes`).
    public var maxUploadSize: Int = RouteDoc.defaultMaxBodyBytes
}
