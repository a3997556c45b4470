public import Hummingbird
public import Portal
import NIOCore
import Logging

/// The per-request context every route and middleware sees.
public struct PortalContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the caller's `X-Request-Id` when it is well formed, otherwise generated.
    public var requestID: String = ""
    /// Who is calling, once `AuthenticationMiddleware` has resolved it.
    public var principal: Principal?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    /// The client's address, for throttling: the peer's IP ("unknown" in in-process tests).
    public let clientAddress: String

    /// Requests larger than this are refused with 413 before their body is read.
    public var maxUploadSize: Int { 1 << 20 }
}
