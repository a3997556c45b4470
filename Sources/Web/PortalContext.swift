public import Hummingbird
import Logging

/// The per-request context every route and middleware sees.
public struct PortalContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id: the caller's `X-Request-Id` when it is well formed, otherwise generated.
    public var requestID: String = ""

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
    }

    /// Requests larger than this are refused with 413 before their body is read.
    public var maxUploadSize: Int { 1 << 20 }
}
