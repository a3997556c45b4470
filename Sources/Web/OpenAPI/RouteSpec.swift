public import Hummingbird
public import Portal
import Synchronization

/// How a route is rate-limited: exempt (health, metrics) or from one class's budget.
public enum RateRule: Sendable, Equatable {
    case exempt
    case limited(RateClass)
}

/// A query parameter a route reads.
public struct QueryParameter: Sendable, Equatable {
    public let name: String
    public let schema: JSONAny
    public let description: String

    public static func string(_ name: String, _ description: String) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("string")]), description: description)
    }

    public static func integer(_ name: String, _ description: String, minimum: Int, maximum: Int) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("integer"), "minimum": .number(Double(minimum)), "maximum": .number(Double(maximum))]),
                       description: description)
    }

    public static func choice(_ name: String, _ values: [String], _ description: String) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("string"), "enum": .array(values.map(JSONAny.string))]), description: description)
    }

    /// `limit` and `before`, the same on every paged list.
    public static let paging: [QueryParameter] = [
        .integer("limit", "Most items per page (default 50).", minimum: 1, maximum: 200),
        .string("before", "The `next` value of the previous page."),
    ]
}

/// JSON Schemas of bodies, from the Swift types that decode them (`SchemaRecorder`), never
/// written by hand beside the code.
public enum APISchema {
    /// The schema of `type`'s JSON form.
    public static func of<T: Decodable>(_ type: T.Type) -> JSONAny { SchemaRecorder.schema(for: type) }

    /// An object with one required property holding a list of `T` (`{"users": [...]}`).
    public static func list<T: Decodable>(_ property: String, of type: T.Type) -> JSONAny {
        .object(["type": .string("object"), "required": .array([.string(property)]),
                 "properties": .object([property: .object(["type": .string("array"), "items": of(type)])])])
    }

    /// An object with these required string properties.
    public static func strings(_ properties: String...) -> JSONAny {
        .object(["type": .string("object"), "required": .array(properties.map(JSONAny.string)),
                 "properties": .object(Dictionary(uniqueKeysWithValues: properties.map { ($0, JSONAny.object(["type": .string("string")])) }))])
    }
}

/// What a route answers when it succeeds (errors are problem details on every route).
public struct ResponseSpec: Sendable, Equatable {
    public let status: Int
    public let description: String
    public let contentType: String?
    public let schema: JSONAny?

    public init(_ status: Int, _ description: String, contentType: String? = "application/json", schema: JSONAny? = nil) {
        self.status = status
        self.description = description
        self.contentType = contentType
        self.schema = schema
    }
}

/// What a route is, besides its method, path and access: written once where the route is
/// registered (`PortalRoutes.on`), and the source of the OpenAPI document and the rate class.
public struct RouteDoc: Sendable {
    public let operationID: String
    public let summary: String
    public let requestBody: JSONAny?
    public let responses: [ResponseSpec]
    public let query: [QueryParameter]
    /// `nil`: the class follows the method (reads, writes).
    public let rate: RateRule?
    /// Largest request body accepted, in bytes.
    public let maxBodyBytes: Int

    public static let defaultMaxBodyBytes = 1 << 20

    /// - Parameters:
    ///   - body: the request body's type (a JSON object).
    ///   - returns: the success response's schema; `status` its status.
    public init(_ operationID: String, _ summary: String, body: JSONAny? = nil, returns: JSONAny? = nil, status: Int = 200,
                query: [QueryParameter] = [], rate: RateRule? = nil, responses: [ResponseSpec]? = nil, maxBodyBytes: Int = RouteDoc.defaultMaxBodyBytes) {
        self.operationID = operationID
        self.summary = summary
        self.requestBody = body
        self.responses = responses ?? [status == 204 ? ResponseSpec(204, "Done.", contentType: nil) : ResponseSpec(status, "Success.", schema: returns ?? .object(["type": .string("object")]))]
        self.query = query
        self.rate = rate
        self.maxBodyBytes = maxBodyBytes
    }

    public static func doc<Body: Decodable>(_ operationID: String, _ summary: String, body: Body.Type, returns: JSONAny? = nil, status: Int = 200,
                                            query: [QueryParameter] = [], rate: RateRule? = nil, responses: [ResponseSpec]? = nil,
                                            maxBodyBytes: Int = RouteDoc.defaultMaxBodyBytes) -> RouteDoc {
        RouteDoc(operationID, summary, body: APISchema.of(body), returns: returns, status: status, query: query, rate: rate, responses: responses, maxBodyBytes: maxBodyBytes)
    }

    public static func doc(_ operationID: String, _ summary: String, returns: JSONAny? = nil, status: Int = 200,
                           query: [QueryParameter] = [], rate: RateRule? = nil, responses: [ResponseSpec]? = nil) -> RouteDoc {
        RouteDoc(operationID, summary, returns: returns, status: status, query: query, rate: rate, responses: responses)
    }
}

/// One registered route: everything the router, the rate limiter, the access tests and the
/// OpenAPI document know about it.
public struct RouteSpec: Sendable {
    public let method: HTTPRequest.Method
    public let path: String
    public let access: Access
    public let tag: String
    public let doc: RouteDoc

    /// The budget requests to it take from.
    public var rate: RateRule {
        doc.rate ?? .limited([.get, .head, .options].contains(method) ? .read : .write)
    }

    /// Whether `path` (a request's, without its query) is one this route's template matches.
    func matches(_ segments: [Substring]) -> Bool {
        let template = path.split(separator: "/")
        guard template.count == segments.count else { return false }
        return zip(template, segments).allSatisfy { pattern, segment in pattern.first == "{" || pattern == segment }
    }
}

/// The routes, for what runs before the router picks one: the rate limiter's class and the
/// `405` with `Allow` for a path served with other methods. Filled while the server is set up,
/// read by every request after.
public final class RouteTable: Sendable {
    private let specs = Mutex<[RouteSpec]>([])

    public init() {}

    func add(_ spec: RouteSpec) { specs.withLock { $0.append(spec) } }

    public var all: [RouteSpec] { specs.withLock { $0 } }

    /// Every route whose path template matches `path`, whatever its method.
    func routes(matching path: String) -> [RouteSpec] {
        let segments = path.split(separator: "/")
        return specs.withLock { $0.filter { $0.matches(segments) } }
    }

    /// The rate rule of the route `request` goes to; unknown routes pay as reads or writes.
    func rate(for request: Request) -> RateRule {
        let candidates = routes(matching: request.uri.path)
        if let route = candidates.first(where: { $0.method == request.method || (request.method == .head && $0.method == .get) }) { return route.rate }
        return .limited([.get, .head, .options].contains(request.method) ? .read : .write)
    }
}
