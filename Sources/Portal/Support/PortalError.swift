public import FoundationEssentials
public import Vector

/// The domain's one error type: what went wrong, in words for the caller, by kind. The web
/// layer maps each kind to its HTTP status in one place (`ProblemMiddleware`); the domain
/// knows nothing of HTTP. Messages never hold secrets or internals.
public enum PortalError: Error, Equatable, Sendable {
    /// The request is malformed or breaks a rule (400).
    case invalid(String)
    /// Input that fails a schema, field by field (400 with the fields named).
    case invalidInput(InputError)
    /// No principal: sign in or send an API key (401).
    case unauthenticated
    /// Signed in, but not allowed to do this; the text says why (403).
    case forbidden(String)
    /// No such thing, or not one the caller may see (404).
    case notFound(String)
    /// It clashes with the current state (409).
    case conflict(String)
    /// Well-formed, but it cannot be processed as configured (422).
    case unprocessable(String)
    /// Larger than allowed; the text names the limit (413).
    case tooLarge(String)
    /// Too many attempts; retry after this many seconds (429).
    case throttled(retryAfterSeconds: Int)
    /// A system the portal depends on failed or answered wrongly (502).
    case upstreamFailed(String)
    /// The portal cannot do it now (storage full, shutting down); retry later (503).
    case unavailable(String)

    /// Its words for the caller.
    public var message: String {
        switch self {
        case let .invalid(text), let .forbidden(text), let .conflict(text), let .unprocessable(text), let .tooLarge(text),
             let .upstreamFailed(text), let .unavailable(text): text
        case let .notFound(what): "no such \(what)"
        case let .invalidInput(input): input.description
        case .unauthenticated: "sign in or send an API key"
        case let .throttled(seconds): "too many attempts: retry after \(seconds) s"
        }
    }
}

/// A narrower error of one area (a tool's run, a pack, a vector collection) that says which
/// `PortalError` it is, so the web layer has one mapping; `nil` for a fault that is not the
/// caller's (a corrupt record), which is logged and answered as an opaque 500.
public protocol PortalErrorConvertible: Error {
    var portalError: PortalError? { get }
}

extension ToolError: PortalErrorConvertible {
    public var portalError: PortalError? {
        switch self {
        case let .notFound(what) where what == "run": .notFound("run")
        case .notFound: .notFound("tool in this organization (or its pack is not enabled here)")
        case let .forbidden(detail): .forbidden(detail)
        case let .invalidInput(input): .invalidInput(input)
        case let .invalidTool(detail): .unprocessable("The tool is misconfigured: \(detail)")
        case let .executionFailed(detail): .upstreamFailed(detail)
        }
    }
}

extension PackError: PortalErrorConvertible {
    public var portalError: PortalError? { .invalid(description) }
}

extension VectorError: PortalErrorConvertible {
    public var portalError: PortalError? {
        switch self {
        case .unknownCollection, .unknownID: .notFound(description)
        case .collectionExists: .conflict(description)
        case .wrongDimension, .notFinite, .zeroVector: .invalid(description)
        case .corruptRecord: nil
        }
    }
}
