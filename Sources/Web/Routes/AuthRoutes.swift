import FoundationEssentials
import HTTPTypes
import Hummingbird
import Portal

/// Sign-in, sign-out, who am I, password changes, and the caller's organizations.
extension PortalRoutes {
    func addAuthRoutes(core: PortalCore, metrics: PortalMetrics, options: WebOptions) {
        let secureCookies = options.secureCookies
        let sameOrigin = options.sameOrigin
        struct Credentials: Decodable {
            let username: String
            let password: String
        }

        // Sign-in takes JSON only, from the portal's own pages or a non-browser client: a
        // cross-site form (text/plain, urlencoded) cannot sign a victim into someone else's
        // account (login CSRF).
        post("/api/auth/login", .public, .doc("signIn", "Signs in with a username and password; sets the session cookie.", body: Credentials.self, returns: APISchema.of(MeBody.self), rate: .limited(.signIn), webOnly: true)) { request, context in
            try Self.requireJSON(request)
            try sameOrigin.check(request)
            let credentials = try await Self.decode(Credentials.self, request, context)
            guard !credentials.username.isEmpty, credentials.username.count <= 128, credentials.password.count <= 1024 else {
                throw ProblemDetails(.badRequest, detail: "username and password are required (at most 128 and 1024 characters).")
            }
            let signedIn: Sessions.SignedIn
            do {
                signedIn = try await core.sessions.signIn(username: credentials.username, password: credentials.password, clientAddress: context.clientAddress)
            } catch PortalError.unauthenticated {
                metrics.recordSignIn(method: "password", outcome: "failure")
                throw ProblemDetails(.unauthorized, detail: "Wrong user name or password.")
            } catch PortalError.throttled(let seconds) {
                metrics.recordSignIn(method: "password", outcome: "throttled")
                throw PortalError.throttled(retryAfterSeconds: seconds)
            }
            metrics.recordSignIn(method: "password", outcome: "success")
            var response = try Self.jsonResponse(.ok, MeBody(user: signedIn.user, organizations: try core.organizations.memberships(of: signedIn.user.id), csrfToken: signedIn.csrfToken))
            response.headers[.setCookie] = SessionCookie.set(signedIn.token, maxAge: Int(core.sessions.absoluteLifetime.components.seconds), secure: secureCookies)
            return response
        }

        struct PasswordChange: Decodable {
            let currentPassword: String
            let newPassword: String
        }
        post("/api/me/password", .authenticated, .doc("changePassword", "Changes your password; your other sessions end.", body: PasswordChange.self, returns: .object(["type": .string("object"), "properties": .object(["otherSessionsEnded": .object(["type": .string("integer")])])]))) { request, context in
            let body = try await Self.decode(PasswordChange.self, request, context)
            guard body.currentPassword.count <= PasswordRules.maximumLength, body.newPassword.count <= PasswordRules.maximumLength else {
                throw ProblemDetails(.badRequest, detail: "Passwords are at most \(PasswordRules.maximumLength) characters.")
            }
            let ended = try await core.passwords.change(for: context.principal!, current: body.currentPassword, new: body.newPassword,
                                                        clientAddress: context.clientAddress)
            return try Self.jsonResponse(.ok, ["otherSessionsEnded": ended])
        }

        post("/api/auth/logout", .authenticated, .doc("signOut", "Ends this session.", status: 204, webOnly: true)) { _, context in
            try await core.sessions.signOut(context.principal!)
            var response = Response(status: .noContent)
            response.headers[.setCookie] = SessionCookie.clear(secure: secureCookies)
            response.headers[.cacheControl] = "no-store"
            return response
        }

        get("/api/me", .authenticated, .doc("getMe", "Who you are, your organizations and roles.", returns: APISchema.of(MeBody.self))) { _, context in
            try Self.jsonResponse(.ok, try MeBody(context.principal!, core: core))
        }

        // The web client's first question, answered 200 either way (a signed-out visit is not
        // an error, so the browser's console stays clean).
        get("/api/auth/session", .public, .doc("getSignInState", "Whether this request is signed in and, when it is, who you are (as GET /api/me).", returns: APISchema.of(SignInStateBody.self), webOnly: true)) { _, context in
            guard let principal = context.principal else { return try Self.jsonResponse(.ok, SignInStateBody(signedIn: false, me: nil)) }
            return try Self.jsonResponse(.ok, SignInStateBody(signedIn: true, me: try MeBody(principal, core: core)))
        }

        struct OrganizationChoice: Decodable { let organizationID: UUID }
        post("/api/me/organization", .authenticated, .doc("switchOrganization", "Makes another of your organizations the current one.", body: OrganizationChoice.self, status: 204)) { request, context in
            let choice = try await Self.decode(OrganizationChoice.self, request, context)
            try await core.sessions.switchOrganization(context.principal!, to: choice.organizationID)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }
    }

    /// 415 unless the body is declared JSON.
    static func requireJSON(_ request: Request) throws {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingWhitespace().lowercased() }
        guard type == "application/json" else {
            throw ProblemDetails(.unsupportedMediaType, detail: "Send the body as application/json.")
        }
    }

    /// Decodes a JSON body, or answers 400 naming what was wrong.
    static func decode<T: Decodable>(_ type: T.Type, _ request: Request, _ context: PortalContext) async throws -> T {
        do {
            // Straight from the decoder: `Request.decode` would turn its errors into messages
            // that no longer name the field.
            return try await context.requestDecoder.decode(T.self, from: request, context: context)
        } catch let DecodingError.dataCorrupted(problem) where problem.codingPath.isEmpty {
            throw ProblemDetails(.badRequest, detail: "The body must be JSON.")
        } catch let error as DecodingError {
            throw ProblemDetails(.badRequest, detail: "The JSON body does not match: \(Self.describe(error))")
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw RequestBodyRules.tooLarge(context.maxUploadSize)
        } catch {
            throw ProblemDetails(.badRequest, detail: "The body must be JSON.")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .keyNotFound(key, _): "missing field '\(key.stringValue)'"
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        @unknown default: "invalid JSON"
        }
    }

    static func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try jsonEncoder.encode(value))))
    }

    static var jsonEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// A stream of server-sent events, never cached or buffered by a proxy.
    /// Yields `item` into `sink` every 15 seconds until cancelled, so that proxies do not close
    /// an idle event stream.
    static func keepAlive<Item: Sendable>(_ sink: AsyncStream<Item>.Continuation, with item: Item) async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(15))
            sink.yield(item)
        }
    }

    static func eventStreamResponse(_ body: ResponseBody) -> Response {
        Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store", HTTPField.Name("X-Accel-Buffering")!: "no"], body: body)
    }

    /// One server-sent event: `event: name` and the value as one line of JSON.
    static func serverSentEvent(_ name: String, _ value: some Encodable) -> String {
        let json = (try? jsonEncoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
        return "event: \(name)\ndata: \(json)\n\n"
    }
}

/// A user as the API shows it: never the password hash.
struct UserBody: Codable, SchemaComponent {
    static let componentName = "User"
    let id: UUID
    let username: String
    let displayName: String
    let isAdministrator: Bool
    let mustChangePassword: Bool

    init(_ user: User) {
        id = user.id
        username = user.username
        displayName = user.displayName
        isAdministrator = user.isAdministrator
        mustChangePassword = user.mustChangePassword
    }
}

/// `GET /api/me` and the sign-in answer.
/// `GET /api/auth/session`.
struct SignInStateBody: Codable {
    let signedIn: Bool
    let me: MeBody?
}

struct MeBody: Codable {
    struct OrganizationBody: Codable {
        let id: UUID
        let slug: String
        let displayName: String
        let role: String
    }

    let user: UserBody
    let organizations: [OrganizationBody]
    let currentOrganization: UUID?
    let permissions: [String]
    let csrfToken: String?

    /// Who `principal` is now: its user, organizations and the permissions it acts with.
    init(_ principal: Principal, core: PortalCore) throws {
        self.init(user: principal.user, organizations: try core.organizations.memberships(of: principal.user.id), csrfToken: principal.csrfToken, current: principal)
    }

    init(user: User, organizations: [(organization: Organization, role: Role)], csrfToken: String?, current: Principal? = nil) {
        self.user = UserBody(user)
        self.organizations = organizations.map { OrganizationBody(id: $0.organization.id, slug: $0.organization.slug, displayName: $0.organization.displayName, role: $0.role.rawValue) }
        self.currentOrganization = current?.organizationID ?? organizations.first?.organization.id
        let permissions = current?.permissions ?? (user.isAdministrator ? Set(Permission.allCases) : organizations.first?.role.permissions ?? [])
        self.permissions = permissions.map(\.rawValue).sorted()
        self.csrfToken = csrfToken
    }
}
