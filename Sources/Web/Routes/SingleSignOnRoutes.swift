import FoundationEssentials
import HTTPTypes
import Hummingbird
import Logging
import Portal

/// OpenID Connect single sign-on: the sign-in page's button, the two browser legs of the
/// authorization code flow, and the administrators' settings.
///
/// The browser legs answer with redirects, never JSON: a failure sends the browser back to
/// the sign-in page with `?sso_error=<message>` (the message names the failed check, never a
/// token). The sign-in attempt is bound to the browser by the `portal_sso` cookie, which is
/// HttpOnly, SameSite=Lax (it must come back on the provider's top-level redirect), scoped to
/// the callback's path and cleared by it.
extension PortalRoutes {
    func addSingleSignOnRoutes(core: PortalCore, metrics: PortalMetrics, options: WebOptions) {
        let sso = core.singleSignOn
        let secure = options.secureCookies

        struct Availability: Codable {
            let enabled: Bool
            let buttonLabel: String?
        }
        get("/api/auth/oidc", .public, .doc("getSingleSignOn", "Whether single sign-on is offered, and its button label.", returns: APISchema.of(Availability.self))) { _, _ in
            let settings = try sso.settings()
            let enabled = settings?.enabled ?? false
            return try Self.jsonResponse(.ok, Availability(enabled: enabled, buttonLabel: enabled ? settings?.buttonLabel : nil))
        }

        get("/api/auth/oidc/login", .public, .doc("startSingleSignOn", "Redirects to the identity provider.", query: [.string("return_to", "Where to go after signing in (a path on this portal).")], rate: .limited(.singleSignOn), responses: [ResponseSpec(302, "To the identity provider.", contentType: nil)])) { request, context in
            let returnTo = request.uri.queryParameters.get("return_to") ?? "/"
            do {
                let authorization = try await sso.begin(redirectURI: try Self.redirectURI(request, options), returnTo: returnTo)
                var response = Self.redirect(to: authorization.url)
                response.headers.append(HTTPField(name: .setCookie, value: BindingCookie.set(authorization.bindingToken, secure: secure)))
                return response
            } catch let error as SingleSignOnError {
                context.logger.warning("single sign-on could not start", metadata: ["reason": .string(error.description)])
                return Self.signInPage(error: error.description)
            }
        }

        get("/api/auth/oidc/callback", .public, .doc("finishSingleSignOn", "The identity provider returns here; signs in and redirects.", query: [.string("code", "The authorization code."), .string("state", "The state sent to the provider."), .string("error", "The provider's error, if any."), .string("error_description", "The provider's explanation.")], rate: .limited(.singleSignOn), responses: [ResponseSpec(302, "Signed in (or back to the sign-in page with the reason).", contentType: nil)])) { request, context in
            // The provider's redirect carries application/x-www-form-urlencoded parameters
            // (RFC 6749 §4.1.2): "+" is a space.
            let query = FormQuery(request.uri.query ?? "")
            var response: Response
            do {
                if let error = query.get("error") {
                    // The provider refused (the person cancelled, or is not assigned the app).
                    let description = query.get("error_description").map { ": \($0.prefix(200))" } ?? ""
                    throw SingleSignOnError.rejected("the identity provider answered \(error.prefix(64))\(description)")
                }
                let completed = try await sso.complete(
                    code: query.get("code") ?? "", state: query.get("state") ?? "",
                    bindingToken: request.cookies[BindingCookie.name]?.value, clientAddress: context.clientAddress)
                metrics.recordSignIn(method: "sso", outcome: "success")
                response = Self.redirect(to: completed.returnTo)
                response.headers.append(HTTPField(name: .setCookie, value: SessionCookie.set(
                    completed.signedIn.token, maxAge: Int(core.sessions.absoluteLifetime.components.seconds), secure: secure)))
            } catch let error as SingleSignOnError {
                metrics.recordSignIn(method: "sso", outcome: "failure")
                context.logger.warning("single sign-on refused", metadata: ["reason": .string(error.description)])
                response = Self.signInPage(error: error.description)
            }
            response.headers.append(HTTPField(name: .setCookie, value: BindingCookie.clear(secure: secure)))
            return response
        }

        struct SettingsBody: Codable {
            var enabled: Bool
            var issuer: String
            var clientID: String
            /// Write only: a new secret, "" to remove it, absent to keep it.
            var clientSecret: String?
            var buttonLabel: String?
            var scopes: [String]?
            var groupsClaim: String?
            var usernameClaim: String?
            var mappings: [GroupMapping]
            /// Read only.
            var hasClientSecret: Bool?
            var redirectURI: String?
        }

        get("/api/auth/oidc/settings", .systemAdministrator, .doc("getSingleSignOnSettings", "The OpenID Connect settings (never the client secret).", returns: APISchema.of(SettingsBody.self))) { request, _ in
            let redirectURI = try Self.redirectURI(request, options)
            guard let settings = try sso.settings() else {
                return try Self.jsonResponse(.ok, SettingsBody(enabled: false, issuer: "", clientID: "", mappings: [], hasClientSecret: false, redirectURI: redirectURI))
            }
            return try Self.jsonResponse(.ok, SettingsBody(
                enabled: settings.enabled, issuer: settings.issuer, clientID: settings.clientID, buttonLabel: settings.buttonLabel,
                scopes: settings.scopes, groupsClaim: settings.groupsClaim, usernameClaim: settings.usernameClaim,
                mappings: settings.mappings, hasClientSecret: try sso.hasClientSecret(), redirectURI: redirectURI))
        }

        on(.put, "/api/auth/oidc/settings", .systemAdministrator, .doc("setSingleSignOnSettings", "Configures OpenID Connect sign-in.", body: SettingsBody.self, status: 204)) { request, context in
            let body = try await Self.decode(SettingsBody.self, request, context)
            let defaults = SingleSignOnSettings(enabled: false, issuer: "", clientID: "", mappings: [])
            let settings = SingleSignOnSettings(
                enabled: body.enabled, issuer: body.issuer, clientID: body.clientID,
                buttonLabel: body.buttonLabel ?? defaults.buttonLabel, scopes: body.scopes ?? defaults.scopes,
                groupsClaim: body.groupsClaim ?? defaults.groupsClaim, usernameClaim: body.usernameClaim ?? defaults.usernameClaim,
                mappings: body.mappings)
            try await sso.configure(settings, clientSecret: body.clientSecret, by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }
    }

    /// The callback URL to register with the provider: from `server.public_url` when set,
    /// otherwise from the request's host.
    static func redirectURI(_ request: Request, _ options: WebOptions) throws -> String {
        let path = "api/auth/oidc/callback"
        if let publicURL = options.publicURL { return (publicURL.hasSuffix("/") ? publicURL : publicURL + "/") + path }
        guard let authority = request.head.authority, !authority.isEmpty, !authority.contains("/"), !authority.contains("@") else {
            throw ProblemDetails(.badRequest, detail: "The request has no Host header; set server.public_url.")
        }
        return "http://\(authority)/\(path)"
    }

    static func redirect(to location: String) -> Response {
        Response(status: .found, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// Back to the sign-in page, with the reason shown there.
    static func signInPage(error message: String) -> Response {
        redirect(to: "/?sso_error=" + OutboundHTTP.formEncode(String(message.prefix(300))))
    }
}

/// A query string or form body read as `application/x-www-form-urlencoded` (`+` is a space,
/// `%XX` a byte): how OAuth 2.0 providers send their answers, and clients their token requests.
struct FormQuery {
    private let pairs: [(String, String)]

    init(_ query: String) {
        pairs = query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : "")
        }
    }

    /// The first value of `name`.
    func get(_ name: String) -> String? { pairs.first { $0.0 == name }?.1 }

    /// A name given more than once, if any (OAuth requests must not repeat a parameter).
    var repeatedName: String? {
        var seen = Set<String>()
        return pairs.first { !seen.insert($0.0).inserted }?.0
    }

    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let high = utf8.index(index, offsetBy: 1, limitedBy: utf8.endIndex), high < utf8.endIndex,
                      let low = utf8.index(index, offsetBy: 2, limitedBy: utf8.endIndex), low < utf8.endIndex,
                      let value = UInt8(String(decoding: [utf8[high], utf8[low]], as: UTF8.self), radix: 16) {
                bytes.append(value)
                index = low
            } else {
                bytes.append(byte)
            }
            index = utf8.index(after: index)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The cookie that binds a sign-in attempt to the browser that started it.
enum BindingCookie {
    static let name = "portal_sso"
    static let path = "/api/auth/oidc/callback"

    static func set(_ token: String, secure: Bool) -> String {
        "\(name)=\(token); Path=\(path); HttpOnly; SameSite=Lax; Max-Age=600" + (secure ? "; Secure" : "")
    }

    static func clear(secure: Bool) -> String {
        "\(name)=; Path=\(path); HttpOnly; SameSite=Lax; Max-Age=0" + (secure ? "; Secure" : "")
    }
}
