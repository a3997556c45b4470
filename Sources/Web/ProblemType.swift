/// The stable kinds of error the API answers with: each is a problem-details `type` URI
/// (`/#/api/problems/<slug>`, relative to the portal, documented on the portal's API reference
/// page). Clients branch on the type, never on the text of `title` or `detail`.
public enum ProblemType: String, CaseIterable, Sendable {
    case invalidRequest = "invalid-request"
    case invalidInput = "invalid-input"
    case unknownParameter = "unknown-parameter"
    case unauthenticated
    case forbidden
    case passwordChangeRequired = "password-change-required"
    case notFound = "not-found"
    case methodNotAllowed = "method-not-allowed"
    case conflict
    case idempotencyKeyInUse = "idempotency-key-in-use"
    case preconditionFailed = "precondition-failed"
    case tooLarge = "too-large"
    case unsupportedMediaType = "unsupported-media-type"
    case idempotencyKeyReused = "idempotency-key-reused"
    case unprocessable
    case rateLimited = "rate-limited"
    case upstreamFailed = "upstream-failed"
    case unavailable
    case internalError = "internal-error"

    /// The `type` member: a URI reference resolved against the request's URL.
    public var uri: String { "/#/api/problems/\(rawValue)" }

    /// The status it is answered with.
    public var status: Int {
        switch self {
        case .invalidRequest, .invalidInput, .unknownParameter: 400
        case .unauthenticated: 401
        case .forbidden, .passwordChangeRequired: 403
        case .notFound: 404
        case .methodNotAllowed: 405
        case .conflict, .idempotencyKeyInUse: 409
        case .preconditionFailed: 412
        case .tooLarge: 413
        case .unsupportedMediaType: 415
        case .idempotencyKeyReused, .unprocessable: 422
        case .rateLimited: 429
        case .internalError: 500
        case .upstreamFailed: 502
        case .unavailable: 503
        }
    }

    /// What it means and what to do, for the reference page.
    public var explanation: String {
        switch self {
        case .invalidRequest: "The request breaks a rule of this operation; `detail` says which. Fix the request before sending it again."
        case .invalidInput: "The body or a tool's input fails its schema; `errors` names each field and what is wrong with it."
        case .unknownParameter: "A query parameter this operation does not read (often a typo); `detail` names it."
        case .unauthenticated: "No valid session or API key: sign in, or send `Authorization: Bearer <key>`. A revoked key or an ended session answers this too."
        case .forbidden: "Signed in, but your role in the current organization lacks the permission `detail` names."
        case .passwordChangeRequired: "You signed in with a one-time password; change it (POST /api/me/password) before anything else."
        case .notFound: "No such record, or not one you may see (records of other organizations are never revealed)."
        case .methodNotAllowed: "The path exists with other methods; the `Allow` header lists them."
        case .conflict: "The change clashes with the current state (a name taken, a decision already made)."
        case .idempotencyKeyInUse: "A request with this Idempotency-Key is still being processed, or one was interrupted by a restart so its outcome is unknown: look the result up instead of retrying."
        case .preconditionFailed: "`If-Match` names a version that is no longer current: someone changed the record since you read it. Read it again, re-apply your change, and send the new ETag."
        case .tooLarge: "The body is larger than this operation accepts; `detail` names the limit."
        case .unsupportedMediaType: "Send bodies as `application/json`."
        case .idempotencyKeyReused: "This Idempotency-Key was used in the last 24 hours with a different request; use a new key for a new request."
        case .unprocessable: "Well-formed, but it cannot be done as the portal is configured (a misconfigured tool, a model that is not set up)."
        case .rateLimited: "Over the budget for this kind of request; wait for `Retry-After` seconds. `RateLimit-*` headers on every answer show the budget."
        case .upstreamFailed: "A system the portal depends on (a tool's target, a model provider) failed or answered wrongly."
        case .unavailable: "The portal cannot do it now (storage full, shutting down); retry later."
        case .internalError: "An unexpected fault; quote `requestId` when you report it."
        }
    }

    /// The generic type of a status, for errors that do not name a more specific one.
    static func of(status: Int) -> ProblemType {
        switch status {
        case 400: .invalidRequest
        case 401: .unauthenticated
        case 403: .forbidden
        case 404: .notFound
        case 405: .methodNotAllowed
        case 409: .conflict
        case 412: .preconditionFailed
        case 413: .tooLarge
        case 415: .unsupportedMediaType
        case 422: .unprocessable
        case 429: .rateLimited
        case 502: .upstreamFailed
        case 503: .unavailable
        case 400..<500: .invalidRequest
        default: .internalError
        }
    }
}
