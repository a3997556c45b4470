public import Hummingbird
public import Portal
import FoundationEssentials
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
    public var required = false

    public init(name: String, schema: JSONAny, description: String, required: Bool = false) {
        self.name = name
        self.schema = schema
        self.description = description
        self.required = required
    }

    public static func string(_ name: String, _ description: String) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("string")]), description: description)
    }

    /// An RFC 3339 time (`format: date-time`).
    public static func time(_ name: String, _ description: String) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("string"), "format": .string("date-time")]), description: description)
    }

    public static func integer(_ name: String, _ description: String, minimum: Int, maximum: Int) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("integer"), "minimum": .number(Double(minimum)), "maximum": .number(Double(maximum))]),
                       description: description)
    }

    public static func choice(_ name: String, _ values: [String], _ description: String) -> QueryParameter {
        QueryParameter(name: name, schema: .object(["type": .string("string"), "enum": .array(values.map(JSONAny.string))]), description: description)
    }

    /// What is wrong with `value` for this parameter's schema (the keywords the document
    /// uses: type integer/string, minimum, maximum, minLength, maxLength, pattern, enum,
    /// format date-time), or `nil`.
    func problem(with value: String) -> String? {
        guard case let .object(schema) = schema else { return nil }
        func number(_ key: String) -> Double? { if case let .number(value)? = schema[key] { value } else { nil } }
        if case let .array(choices)? = schema["enum"], !choices.contains(.string(value)) {
            return "must be one of " + choices.compactMap(\.string).joined(separator: ", ")
        }
        if case .string("integer")? = schema["type"] {
            guard let integer = Int(value) else {
                // Beyond Int's range: fine where there is no maximum (a page size, served at its cap).
                let digits = !value.isEmpty && value.unicodeScalars.allSatisfy { ("0"..."9").contains($0) }
                return digits && number("maximum") == nil ? nil : "must be a whole number"
            }
            if let minimum = number("minimum"), Double(integer) < minimum { return "must be at least \(Int(minimum))" }
            if let maximum = number("maximum"), Double(integer) > maximum { return "must be at most \(Int(maximum))" }
            return nil
        }
        if let minimum = number("minLength"), value.count < Int(minimum) { return "must be at least \(Int(minimum)) characters" }
        if let maximum = number("maxLength"), value.count > Int(maximum) { return "must be at most \(Int(maximum)) characters" }
        if case .string("date-time")? = schema["format"], RFC3339.date(value) == nil {
            return "must be an ISO 8601 time such as 2026-11-26T09:00:00Z"
        }
        if case let .string(pattern)? = schema["pattern"], !Self.patterns.matches(pattern, value) {
            return "does not have the expected form (\(pattern))"
        }
        return nil
    }

    /// The documented patterns, each compiled once (query values are checked on every request).
    static let patterns = CompiledPatterns()

    /// `limit` and `cursor`, the same on every paged list (see `APIConventions`); the cursor
    /// is a record id (`TimeOrderedID`).
    public static let paging = paging(cursorPattern: "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")

    /// Paging whose cursor matches `cursorPattern`.
    public static func paging(cursorPattern: String) -> [QueryParameter] {
        [
            QueryParameter(name: "limit", schema: .object(["type": .string("integer"), "minimum": .number(1)]),
                           description: "Most items per page: 50 when absent; more than 200 is served as 200 (the page's `limit` says how many were asked for at most)."),
            QueryParameter(name: "cursor", schema: .object(["type": .string("string"), "pattern": .string(cursorPattern)]),
                           description: "Where the page starts: from the previous page's `next` link (follow the link rather than building it)."),
        ]
    }

    /// The filters lists share, named the same wherever they apply.
    public static let filters: [QueryParameter] = [
        .string("tool", "Only this tool's records."),
        .string("person", "Only records of this person (by username)."),
        .time("since", "From this time on (ISO 8601)."),
        .time("until", "Before this time (ISO 8601)."),
    ]
}

/// JSON Schemas of bodies, from the Swift types that decode them (`SchemaRecorder`), never
/// written by hand beside the code.
public enum APISchema {
    /// The schema of `type`'s JSON form.
    public static func of<T: Decodable>(_ type: T.Type) -> JSONAny { SchemaRecorder.schema(for: type) }

    /// `type`'s schema with further keywords on some of its properties: the rules its
    /// validation applies that the Swift type cannot state (lengths, forms).
    public static func of<T: Decodable>(_ type: T.Type, constraining constraints: [String: [String: JSONAny]]) -> JSONAny {
        guard case var .object(schema) = of(type), case var .object(properties)? = schema["properties"] else { return of(type) }
        for (name, keywords) in constraints {
            guard case var .object(property)? = properties[name] else { continue }
            property.merge(keywords) { $1 }
            properties[name] = .object(property)
        }
        schema["properties"] = .object(properties)
        return .object(schema)
    }

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
    /// Served for the web client only, never under `/api/v1` (sign-in, the event stream).
    public let webOnly: Bool
    /// How the route takes part in lost-update protection.
    public let revision: Revision
    /// For a creation whose record is not read at its own path + `/{id}`, or whose id is not
    /// the body's `id`: where it is read and where the id is in the answer. The OpenAPI
    /// document links the creation to the operations on the record (stateful clients and
    /// fuzzers follow them).
    public let created: CreatedRecord?
    /// A resource of the portal's OAuth authorization server (the MCP endpoint): its 401s say
    /// where its metadata is (RFC 9728), whichever check refused the request.
    public let oauthResource: Bool

    /// Where a created record is read (a web-client path template with `{id}`) and the JSON
    /// pointer of its id in the creation's answer.
    public struct CreatedRecord: Sendable, Equatable {
        public let path: String?
        public let idPointer: String

        public init(path: String? = nil, idPointer: String = "/id") {
            self.path = path
            self.idPointer = idPointer
        }
    }

    /// Lost-update protection: a `GET` answers with an `ETag`; the update that goes with it
    /// honours `If-Match` (412 when the record changed since).
    public enum Revision: Sendable, Equatable {
        case none
        case tagged
        case conditional
    }

    public static let defaultMaxBodyBytes = 1 << 20

    /// - Parameters:
    ///   - body: the request body's type (a JSON object).
    ///   - returns: the success response's schema; `status` its status.
    public init(_ operationID: String, _ summary: String, body: JSONAny? = nil, returns: JSONAny? = nil, status: Int = 200,
                query: [QueryParameter] = [], rate: RateRule? = nil, responses: [ResponseSpec]? = nil, maxBodyBytes: Int = RouteDoc.defaultMaxBodyBytes,
                webOnly: Bool = false, revision: Revision = .none, created: CreatedRecord? = nil, oauthResource: Bool = false) {
        self.operationID = operationID
        self.summary = summary
        self.requestBody = body
        self.responses = responses ?? [status == 204 ? ResponseSpec(204, "Done.", contentType: nil) : ResponseSpec(status, "Success.", schema: returns ?? .object(["type": .string("object")]))]
        self.query = query
        self.rate = rate
        self.maxBodyBytes = maxBodyBytes
        self.webOnly = webOnly
        self.revision = revision
        self.created = created
        self.oauthResource = oauthResource
    }

    /// A `POST` that creates something honours `Idempotency-Key`: one that answers 201, or 202
    /// (accepted to be done) with no plain 200 beside it (the MCP endpoint answers 200 to a
    /// request and 202 to a notification).
    func createsResource(_ method: HTTPRequest.Method) -> Bool {
        let statuses = Set(responses.map(\.status))
        return method == .post && (statuses.contains(201) || (statuses.contains(202) && !statuses.contains(200)))
    }

    public static func doc<Body: Decodable>(_ operationID: String, _ summary: String, body: Body.Type, returns: JSONAny? = nil, status: Int = 200,
                                            query: [QueryParameter] = [], rate: RateRule? = nil, responses: [ResponseSpec]? = nil,
                                            maxBodyBytes: Int = RouteDoc.defaultMaxBodyBytes, webOnly: Bool = false, revision: Revision = .none,
                                            created: CreatedRecord? = nil) -> RouteDoc {
        RouteDoc(operationID, summary, body: APISchema.of(body), returns: returns, status: status, query: query, rate: rate, responses: responses,
                 maxBodyBytes: maxBodyBytes, webOnly: webOnly, revision: revision, created: created)
    }

    public static func doc(_ operationID: String, _ summary: String, returns: JSONAny? = nil, status: Int = 200,
                           query: [QueryParameter] = [], rate: RateRule? = nil, responses: [ResponseSpec]? = nil,
                           webOnly: Bool = false, revision: Revision = .none) -> RouteDoc {
        RouteDoc(operationID, summary, returns: returns, status: status, query: query, rate: rate, responses: responses, webOnly: webOnly, revision: revision)
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
    /// Served under `/api/v1` (the stable API) rather than for the web client.
    public let stable: Bool
    /// `path` split at `/`, once: every request's route lookup compares against it.
    let template: [Substring]
    /// Whether each template segment is fixed (not a `{parameter}`): the router prefers a
    /// fixed segment, so the most specific match is the one it picks.
    let fixedSegments: [Bool]

    init(method: HTTPRequest.Method, path: String, access: Access, tag: String, doc: RouteDoc, stable: Bool) {
        self.method = method
        self.path = path
        self.access = access
        self.tag = tag
        self.doc = doc
        self.stable = stable
        template = path.split(separator: "/")
        fixedSegments = template.map { $0.first != "{" }
    }

    /// The budget requests to it take from.
    public var rate: RateRule {
        doc.rate ?? .limited([.get, .head, .options].contains(method) ? .read : .write)
    }

    /// Whether `path` (a request's, without its query) is one this route's template matches.
    func matches(_ segments: [Substring]) -> Bool {
        guard template.count == segments.count else { return false }
        return zip(fixedSegments, zip(template, segments)).allSatisfy { fixed, pair in !fixed || pair.0 == pair.1 }
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

    /// The routes the router would pick for `path`, whatever their method: of the templates
    /// that match, those most specific (a fixed segment wins over a parameter at the first
    /// position where they differ, as in the router: `/webhooks/event-types` is not
    /// `/webhooks/{id}`).
    func routes(matching path: String) -> [RouteSpec] {
        let segments = path.split(separator: "/")
        let matching = specs.withLock { $0.filter { $0.matches(segments) } }
        guard let best = matching.map(\.fixedSegments).max(by: { $0.lexicographicallyPrecedes($1) { !$0 && $1 } }) else { return [] }
        return matching.filter { $0.fixedSegments == best }
    }

    /// The rate rule of the route `request` goes to; unknown routes pay as reads or writes.
    func rate(for request: Request) -> RateRule {
        let candidates = routes(matching: request.uri.path)
        if let route = candidates.first(where: { $0.method == request.method || (request.method == .head && $0.method == .get) }) { return route.rate }
        return .limited([.get, .head, .options].contains(request.method) ? .read : .write)
    }
}

/// Regular expressions compiled on first use and kept; matching runs under the lock (the
/// patterns are short, anchored ones such as a cursor's form).
final class CompiledPatterns: Sendable {
    private let compiled = Mutex<[String: Regex<AnyRegexOutput>]>([:])

    /// Whether `value` contains a match of `pattern` (JSON Schema's `pattern`); a pattern that
    /// does not compile matches everything (it cannot be checked, so nothing is refused by it).
    func matches(_ pattern: String, _ value: String) -> Bool {
        compiled.withLock { cache in
            if cache[pattern] == nil { cache[pattern] = try? Regex(pattern) }
            guard let regex = cache[pattern] else { return true }
            return (try? regex.firstMatch(in: value)) != nil
        }
    }
}

