import FoundationEssentials

/// How the portal signs people in through an OpenID Connect provider. The client secret is
/// not here: it is a sealed secret (`Secrets`, name `SingleSignOn.clientSecretName`).
public struct SingleSignOnSettings: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var enabled: Bool
    /// The provider's issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`.
    public var issuer: String
    public var clientID: String
    /// The label of the sign-in page's button.
    public var buttonLabel: String
    /// Requested scopes; always includes `openid`.
    public var scopes: [String]
    /// The ID-token claim that lists the person's groups.
    public var groupsClaim: String
    /// The claim that proposes a user name for new users (then `email`, then `sub`).
    public var usernameClaim: String
    /// Which groups grant which role in which organization. A person in no mapped group (and
    /// with no `*` mapping) is refused.
    public var mappings: [GroupMapping]

    public init(enabled: Bool, issuer: String, clientID: String, buttonLabel: String = "Sign in with SSO",
                scopes: [String] = ["openid", "profile", "email"], groupsClaim: String = "groups",
                usernameClaim: String = "preferred_username", mappings: [GroupMapping]) {
        self.enabled = enabled
        self.issuer = issuer
        self.clientID = clientID
        self.buttonLabel = buttonLabel
        self.scopes = scopes
        self.groupsClaim = groupsClaim
        self.usernameClaim = usernameClaim
        self.mappings = mappings
    }

    /// Checks what can be checked without the provider; throws `PortalError.invalid` naming the field.
    func validate() throws {
        guard let issuerURL = URL(string: issuer), let host = issuerURL.host, !host.isEmpty,
              issuerURL.query == nil, issuerURL.fragment == nil
        else { throw PortalError.invalid("issuer must be an absolute URL without query or fragment") }
        guard issuerURL.scheme == "https" || (issuerURL.scheme == "http" && Self.isLoopback(host)) else {
            throw PortalError.invalid("issuer must use https (plain http only on a loopback address)")
        }
        guard !clientID.isEmpty, clientID.count <= 256 else { throw PortalError.invalid("clientID is required (at most 256 characters)") }
        guard (1...64).contains(buttonLabel.count) else { throw PortalError.invalid("buttonLabel must be 1–64 characters") }
        guard scopes.contains("openid"), scopes.allSatisfy({ !$0.isEmpty && !$0.contains(" ") }) else {
            throw PortalError.invalid("scopes must include openid, each without spaces")
        }
        guard !groupsClaim.isEmpty, !usernameClaim.isEmpty else { throw PortalError.invalid("groupsClaim and usernameClaim are required") }
        guard !mappings.contains(where: { $0.group.isEmpty }) else {
            throw PortalError.invalid("a mapping's group must not be empty (use * for everyone)")
        }
    }

    /// Loopback hosts, the only ones where plain-HTTP providers are accepted (tests, local IdPs).
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "127.0.0.1" || host == "::1" || host == "[::1]"
    }
}

/// Members of `group` (or everyone, for `*`) get `role` in the organization `organization` (a slug).
public struct GroupMapping: Codable, Sendable, Equatable {
    public var group: String
    public var organization: String
    public var role: Role

    public init(group: String, organization: String, role: Role) {
        self.group = group
        self.organization = organization
        self.role = role
    }
}
