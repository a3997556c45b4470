public import Hummingbird
import FoundationEssentials

/// An error the HTTP edge can show a caller: an RFC 9457 problem-details document.
///
/// Its `detail` is written for the caller and must not contain internals; the raw cause of an
/// unexpected error is logged, never returned (see `ProblemMiddleware`).
public struct ProblemDetails: Error, Sendable {
    public let status: HTTPResponse.Status
    /// The stable kind, the `type` URI clients branch on.
    public let type: ProblemType
    public let title: String
    public let detail: String?
    /// Extra headers, such as `Allow` for 405 or `Retry-After` for 429.
    public let headers: HTTPFields
    /// For invalid input: each field at fault and what is wrong with it (an RFC 9457
    /// extension member, `errors`).
    public let fieldErrors: [FieldError]

    public struct FieldError: Codable, Sendable, Equatable {
        public let field: String
        public let message: String
    }

    public init(_ status: HTTPResponse.Status, type: ProblemType? = nil, title: String? = nil, detail: String? = nil, headers: HTTPFields = [:], fieldErrors: [FieldError] = []) {
        self.status = status
        self.type = type ?? (fieldErrors.isEmpty ? ProblemType.of(status: status.code) : .invalidInput)
        self.title = title ?? status.reasonPhrase
        self.detail = detail
        self.headers = headers
        self.fieldErrors = fieldErrors
    }

    /// The same problem with `headers` instead of its own.
    func replacingHeaders(_ headers: HTTPFields) -> ProblemDetails {
        ProblemDetails(status, type: type, title: title, detail: detail, headers: headers, fieldErrors: fieldErrors)
    }


    /// The JSON body, with the request id so a user can quote it to an operator.
    struct Body: Codable {
        let type: String
        let title: String
        let status: Int
        let detail: String?
        let instance: String
        let requestId: String
        let errors: [FieldError]?
    }

    func response(path: String, requestID: String) -> Response {
        let body = Body(type: type.uri, title: title, status: status.code, detail: detail, instance: path, requestId: requestID, errors: fieldErrors.isEmpty ? nil : fieldErrors)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The body holds only strings and an integer; encoding it cannot fail.
        let data = (try? encoder.encode(body)) ?? Data(#"{"title":"Internal Server Error","status":500}"#.utf8)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
