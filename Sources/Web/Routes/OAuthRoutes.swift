import FoundationEssentials
import HTTPTypes
import Hummingbird
import NIOCore
import Portal

/// OAuth 2.1 for MCP clients: the portal is both the authorization server and the protected
/// resource (`/mcp`). Metadata (RFC 9728, RFC 8414), dynamic registration (RFC 7591),
/// authorization code with PKCE S256, consent in the web client, tokens and revocation
/// (RFC 7009). Errors of the OAuth endpoints are OAuth's JSON (`error`, `error_description`),
/// as its clients expect.
extension PortalRoutes {
    func addOAuthRoutes(core: PortalCore, options: WebOptions) {
        let oauth = core.oauth
        let metadata = JSONAny.object(["type": .string("object")])

        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"] {
            get(path, .public, .doc(path.hasSuffix("/mcp") ? "mcpResourceMetadata" : "resourceMetadata",
                                    "OAuth protected-resource metadata of the MCP endpoint (RFC 9728).", returns: metadata, rate: .exempt)) { request, _ in
                let issuer = OAuthAddress.issuer(request, publicURL: options.publicURL)
                return try OAuthAddress.json(.ok, [
                    "resource": .string(issuer + "/mcp"), "authorization_servers": .array([.string(issuer)]),
                    "scopes_supported": .array([.string("mcp")]), "bearer_methods_supported": .array([.string("header")]),
                    "resource_name": .string("Self-Service Portal tools"),
                ])
            }
        }

        get("/.well-known/oauth-authorization-server", .public, .doc("authorizationServerMetadata", "OAuth authorization-server metadata (RFC 8414).",
                                                                     returns: metadata, rate: .exempt)) { request, _ in
            let issuer = OAuthAddress.issuer(request, publicURL: options.publicURL)
            return try OAuthAddress.json(.ok, [
                "issuer": .string(issuer),
                "authorization_endpoint": .string(issuer + "/oauth/authorize"),
                "token_endpoint": .string(issuer + "/oauth/token"),
                "registration_endpoint": .string(issuer + "/oauth/register"),
                "revocation_endpoint": .string(issuer + "/oauth/revoke"),
                "response_types_supported": .array([.string("code")]),
                "grant_types_supported": .array([.string("authorization_code"), .string("refresh_token")]),
                "code_challenge_methods_supported": .array([.string("S256")]),
                "token_endpoint_auth_methods_supported": .array([.string("none")]),
                "revocation_endpoint_auth_methods_supported": .array([.string("none")]),
                "scopes_supported": .array([.string("mcp")]),
                "authorization_response_iss_parameter_supported": .bool(true),
            ])
        }

        struct Registration: Decodable {
            let client_name: String?
            let redirect_uris: [String]
            let token_endpoint_auth_method: String?
        }
        post("/oauth/register", .public, .doc("registerOAuthClient", "Registers an MCP client (RFC 7591 dynamic registration; public clients).",
                                              body: Registration.self, returns: metadata, status: 201)) { request, context in
            let body = try await Self.decode(Registration.self, request, context)
            if let method = body.token_endpoint_auth_method, method != "none" {
                return try OAuthAddress.error(OAuthError(code: "invalid_client_metadata", description: "only public clients: token_endpoint_auth_method none"))
            }
            do {
                let client = try await oauth.register(name: body.client_name ?? "MCP client", redirectURIs: body.redirect_uris)
                return try OAuthAddress.json(.created, [
                    "client_id": .string(client.id), "client_id_issued_at": .number(client.createdAt.timeIntervalSince1970.rounded(.down)),
                    "client_name": .string(client.name), "redirect_uris": .array(client.redirectURIs.map(JSONAny.string)),
                    "grant_types": .array([.string("authorization_code"), .string("refresh_token")]), "response_types": .array([.string("code")]),
                    "token_endpoint_auth_method": .string("none"),
                ])
            } catch let error as OAuthError {
                return try OAuthAddress.error(error)
            }
        }

        // The browser's step: checked, kept, then the person is sent to the consent page (which
        // signs them in first when needed). A client or redirect URI that cannot be trusted
        // gets an error page, never a redirect.
        get("/oauth/authorize", .public, .doc("authorize", "Starts an authorization (code flow with PKCE S256); continues at the consent page.",
                                              responses: [ResponseSpec(302, "To the consent page, or back to the client with an error.", contentType: nil)])) { request, _ in
            let query = request.uri.queryParameters
            let issuer = OAuthAddress.issuer(request, publicURL: options.publicURL)
            let clientID = query.get("client_id") ?? "", redirectURI = query.get("redirect_uri") ?? ""
            guard let client = try oauth.client(clientID), client.redirectURIs.contains(redirectURI) else {
                throw ProblemDetails(.badRequest, detail: "Unknown client_id, or a redirect_uri it did not register: this authorization cannot continue.")
            }
            func back(_ error: OAuthError) -> Response {
                var parameters = [("error", error.code), ("error_description", error.description)]
                if let state = query.get("state") { parameters.append(("state", state)) }
                parameters.append(("iss", issuer))
                return Response(status: .found, headers: [.location: OAuthServer.appending(parameters, to: redirectURI), .cacheControl: "no-store"])
            }
            guard query.get("response_type") == "code" else { return back(OAuthError(code: "unsupported_response_type", description: "response_type must be code")) }
            do {
                let pending = try await oauth.begin(clientID: clientID, redirectURI: redirectURI, codeChallenge: query.get("code_challenge"),
                                                    challengeMethod: query.get("code_challenge_method"), state: query.get("state"),
                                                    resource: query.get("resource"), expectedResource: issuer + "/mcp")
                return Response(status: .found, headers: [.location: "/#/oauth/consent/\(pending.id)", .cacheControl: "no-store"])
            } catch let error as OAuthError {
                return back(error)
            }
        }

        // The consent page's two calls: what is asked, and the person's answer.
        get("/api/oauth/requests/{id}", .authenticated, .doc("getAuthorizationRequest", "An application's pending request to act for you (the consent page).",
                                                             returns: metadata)) { _, context in
            let principal = context.principal!
            guard principal.apiKeyID == nil, let (pending, client) = try oauth.pending(context.parameters.get("id") ?? "") else {
                throw ProblemDetails(.notFound, detail: "No such request waits for your consent (it may have expired: start again from the application).")
            }
            let organization = try principal.organizationID.flatMap { try core.organizations.organization($0) }
            return try Self.jsonResponse(.ok, [
                "client": JSONAny.string(client.name), "redirectHost": .string(OAuthAddress.host(of: pending.redirectURI)),
                "organization": organization.map { .string($0.displayName) } ?? .null,
                "role": .string(principal.user.isAdministrator ? "admin" : principal.role?.rawValue ?? "none"),
                "expiresAt": .string(pending.expiresAt.ISO8601Format()),
            ])
        }

        struct Decision: Decodable { let approve: Bool }
        post("/api/oauth/requests/{id}/decision", .authenticated, .doc("decideAuthorizationRequest", "Approves or denies an application's request; answers where to go next.",
                                                                      body: Decision.self, returns: metadata)) { request, context in
            let body = try await Self.decode(Decision.self, request, context)
            let redirect = try await oauth.decide(context.parameters.get("id") ?? "", approve: body.approve, by: context.principal!,
                                                  issuer: OAuthAddress.issuer(request, publicURL: options.publicURL))
            return try Self.jsonResponse(.ok, ["redirect": redirect])
        }

        post("/oauth/token", .public, .doc("token", "Exchanges an authorization code (with its PKCE verifier) or a refresh token for tokens.",
                                           returns: metadata)) { request, context in
            do {
                let form = try await OAuthAddress.form(request, context)
                let issuer = OAuthAddress.issuer(request, publicURL: options.publicURL)
                let grant: TokenGrant
                switch form.get("grant_type") {
                case "authorization_code":
                    grant = try await oauth.exchange(code: form.get("code") ?? "", verifier: form.get("code_verifier") ?? "", clientID: form.get("client_id") ?? "",
                                                     redirectURI: form.get("redirect_uri") ?? "", resource: form.get("resource"))
                case "refresh_token":
                    if let resource = form.get("resource"), resource != issuer + "/mcp" { throw OAuthError(code: "invalid_target", description: "resource must be \(issuer)/mcp") }
                    grant = try await oauth.refresh(token: form.get("refresh_token") ?? "", clientID: form.get("client_id") ?? "")
                default:
                    throw OAuthError(code: "unsupported_grant_type", description: "grant_type is authorization_code or refresh_token")
                }
                return try Self.jsonResponse(.ok, grant)
            } catch let error as OAuthError {
                return try OAuthAddress.error(error)
            }
        }

        post("/oauth/revoke", .public, .doc("revokeToken", "Revokes an access or refresh token (RFC 7009); a refresh token revokes the grant.",
                                            responses: [ResponseSpec(200, "Revoked, or unknown.", contentType: nil)])) { request, context in
            do {
                let form = try await OAuthAddress.form(request, context)
                try await oauth.revoke(token: form.get("token") ?? "")
                return Response(status: .ok, headers: [.cacheControl: "no-store"])
            } catch let error as OAuthError {
                return try OAuthAddress.error(error)
            }
        }
    }
}

/// Addresses and bodies of the OAuth endpoints.
enum OAuthAddress {
    /// The portal's own address, which is the issuer: `server.public_url` when set, else the
    /// request's `Host` over http (a portal reached directly on this machine).
    static func issuer(_ request: Request, publicURL: String?) -> String {
        if let publicURL { return publicURL.hasSuffix("/") ? String(publicURL.dropLast()) : publicURL }
        return "http://" + (request.head.authority ?? "127.0.0.1")
    }

    /// What a 401 of a protected resource answers: where its metadata is (RFC 9728: the
    /// well-known path followed by the resource's own path).
    static func challenge(_ request: Request, publicURL: String?) -> String {
        "Bearer resource_metadata=\"\(issuer(request, publicURL: publicURL))/.well-known/oauth-protected-resource\(request.uri.path)\", scope=\"mcp\""
    }

    static func host(of uri: String) -> String {
        guard let start = uri.firstRange(of: "://") else { return uri }
        return String(uri[start.upperBound...].prefix { $0 != "/" && $0 != "?" })
    }

    static func json(_ status: HTTPResponse.Status, _ fields: [String: JSONAny]) throws -> Response {
        try PortalRoutes.jsonResponse(status, JSONAny.object(fields))
    }

    static func error(_ error: OAuthError) throws -> Response {
        try json(error.status == 401 ? .unauthorized : .badRequest, ["error": .string(error.code), "error_description": .string(error.description)])
    }

    /// An `application/x-www-form-urlencoded` body (the token and revocation requests): each
    /// name once (RFC 6749 §3.2), at most 16 KiB.
    static func form(_ request: Request, _ context: PortalContext) async throws -> FormQuery {
        let type = request.headers[.contentType]?.split(separator: ";").first.map { String($0.filter { !$0.isWhitespace }).lowercased() }
        guard type == "application/x-www-form-urlencoded" else {
            throw OAuthError(code: "invalid_request", description: "send the body as application/x-www-form-urlencoded")
        }
        var buffer = try await request.body.collect(upTo: 16 << 10)
        let form = FormQuery(buffer.readString(length: buffer.readableBytes) ?? "")
        if let repeated = form.repeatedName { throw OAuthError(code: "invalid_request", description: "\(repeated.prefix(40)) is given twice") }
        return form
    }
}
