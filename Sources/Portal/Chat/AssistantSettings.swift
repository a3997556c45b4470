import FoundationEssentials
import KV

/// The language model the assistant uses: any OpenAI-compatible chat-completions endpoint.
/// The API key is not here: it is a sealed secret (`Secrets`, `AssistantConfiguration.apiKeyName`).
public struct AssistantSettings: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    public var enabled: Bool
    /// The API root, such as `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    public var baseURL: String
    public var model: String
    /// At most this many model calls answer one message (each round of tool calls is one).
    public var maxSteps: Int
    /// The model server may stay silent this long before the call ends.
    public var timeoutSeconds: Int
    /// At most this many tool definitions go to the model: all the person may run when they
    /// are few, else those closest in meaning to the message.
    public var maxTools: Int

    public init(enabled: Bool, baseURL: String, model: String, maxSteps: Int = 6, timeoutSeconds: Int = 60, maxTools: Int = 24) {
        self.enabled = enabled
        self.baseURL = baseURL
        self.model = model
        self.maxSteps = maxSteps
        self.timeoutSeconds = timeoutSeconds
        self.maxTools = maxTools
    }

    /// What an administrator starts from: no model, the default limits.
    public static let unconfigured = AssistantSettings(enabled: false, baseURL: "", model: "")

    /// Throws `PortalError.invalid` naming the field.
    func validate() throws {
        guard OutboundHTTP.isAPIRoot(baseURL) else {
            throw PortalError.invalid("baseURL must be an http or https URL without query or fragment, such as https://api.openai.com/v1")
        }
        guard (1...200).contains(model.count) else { throw PortalError.invalid("model is required (at most 200 characters)") }
        guard (1...20).contains(maxSteps) else { throw PortalError.invalid("maxSteps must be 1–20") }
        guard (1...600).contains(timeoutSeconds) else { throw PortalError.invalid("timeoutSeconds must be 1–600") }
        guard (1...128).contains(maxTools) else { throw PortalError.invalid("maxTools must be 1–128") }
    }
}

/// Where the assistant's settings live. Guarantees: the API key is sealed (AES-256-GCM under
/// the master key), never returned, never logged; each change is a security event.
public final class AssistantConfiguration: Sendable {
    let environment: Environment
    let table: Table<StringKey, JSONValue<AssistantSettings>>
    let secrets: Secrets
    let events: SecurityEvents
    static let apiKeyName = "assistant.model.api-key"

    init(environment: Environment, secrets: Secrets, events: SecurityEvents) throws {
        self.environment = environment
        self.secrets = secrets
        self.events = events
        table = try environment.table("assistant_settings", key: StringKey.self, value: JSONValue<AssistantSettings>.self)
    }

    /// The stored settings, or `nil` when no model was ever configured.
    public func settings() throws -> AssistantSettings? {
        try environment.read { txn in try txn.get(table, "model") }
    }

    public func hasAPIKey() throws -> Bool { try secrets.get(Self.apiKeyName) != nil }

    /// The model client when a model is configured and enabled.
    func model() throws -> (settings: AssistantSettings, client: OpenAICompatibleChatModel)? {
        guard let settings = try settings(), settings.enabled else { return nil }
        let client = OpenAICompatibleChatModel(baseURL: settings.baseURL, model: settings.model, apiKey: try secrets.get(Self.apiKeyName),
                                               idleTimeout: .seconds(settings.timeoutSeconds), timeout: .seconds(settings.timeoutSeconds * 5))
        return (settings, client)
    }

    /// Replaces the settings. `apiKey`: a new key, `""` to remove it, `nil` to keep the stored one.
    public func configure(_ settings: AssistantSettings, apiKey: String?, by actor: Principal) async throws {
        try settings.validate()
        try await secrets.update(Self.apiKeyName, to: apiKey, field: "apiKey", maximumLength: 4096)
        let event = SecurityEvent(kind: .assistantConfigured, userID: actor.user.id, username: actor.user.username, organizationID: nil,
                                  detail: "model \(settings.model) at \(settings.baseURL), \(settings.enabled ? "enabled" : "disabled")")
        try await environment.write { [table, events] txn in
            try txn.put(table, "model", settings)
            try events.record(event, in: txn)
        }
    }
}
