import FoundationEssentials
import Hummingbird
import KV
import Portal

/// A subscription as the API shows it (never its secret).
struct WebhookBody: Codable, SchemaComponent {
    static let componentName = "Webhook"
    let id: UUID
    let url: String
    let events: [String]
    let tools: [String]?
    let minimumRisk: String?
    let description: String
    let enabled: Bool
    let disabledReason: String?
    let failingSince: Date?
    let previousSecretValidUntil: Date?
    let createdAt: Date
    let updatedAt: Date

    init(_ subscription: WebhookSubscription) {
        id = subscription.id
        url = subscription.url
        events = subscription.eventTypes.map(\.rawValue)
        tools = subscription.tools
        minimumRisk = subscription.minimumRisk?.rawValue
        description = subscription.description
        enabled = subscription.enabled
        disabledReason = subscription.disabledReason
        failingSince = subscription.failingSince
        previousSecretValidUntil = subscription.previousSecretValidUntil
        createdAt = subscription.createdAt
        updatedAt = subscription.updatedAt
    }
}

/// A new subscription and its secret, shown this once.
struct CreatedWebhookBody: Codable {
    let webhook: WebhookBody
    let secret: String
}

/// A delivery and its attempts.
struct DeliveryBody: Codable, SchemaComponent {
    static let componentName = "WebhookDelivery"
    let id: String
    let messageID: String
    let eventType: String
    let eventSequence: UInt64?
    let state: String
    let body: String
    let attempts: [WebhookDelivery.Attempt]
    let nextAttemptAt: Date?
    let createdAt: Date

    init(_ delivery: WebhookDelivery) {
        id = delivery.id.description
        messageID = delivery.messageID
        eventType = delivery.eventType
        eventSequence = delivery.eventSequence
        state = delivery.state.rawValue
        body = delivery.body
        attempts = delivery.attempts
        nextAttemptAt = delivery.nextAttemptAt
        createdAt = delivery.createdAt
    }
}

extension PortalRoutes {
    /// Webhooks: an organization's subscriptions, their delivery logs, pings, redeliveries and
    /// secret rotation. Organization admins only.
    func addWebhookRoutes(core: PortalCore) {
        struct SubscriptionRequest: Decodable {
            let url: String
            let events: [String]
            let tools: [String]?
            let minimumRisk: String?
            let description: String?
            let enabled: Bool?
        }

        @Sendable func settings(_ body: SubscriptionRequest) throws -> Webhooks.Settings {
            var kinds: [EventKind] = []
            for name in body.events {
                guard let kind = EventKind(rawValue: name) else { throw PortalError.invalid("events: \(name.prefix(100)) is not an event type (GET /api/webhooks/event-types lists them)") }
                if !kinds.contains(kind) { kinds.append(kind) }
            }
            var risk: RiskLevel?
            if let name = body.minimumRisk {
                guard let level = RiskLevel(rawValue: name) else { throw PortalError.invalid("minimumRisk must be one of \(RiskLevel.allCases.map(\.rawValue).joined(separator: ", "))") }
                risk = level
            }
            return Webhooks.Settings(url: body.url, eventTypes: kinds, tools: body.tools, minimumRisk: risk, description: body.description ?? "", enabled: body.enabled)
        }

        @Sendable func webhookID(_ context: PortalContext) throws -> UUID {
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw PortalError.notFound("webhook") }
            return id
        }

        get("/api/webhooks/event-types", .permission(.admin), .doc("listWebhookEventTypes", "The event types a webhook may subscribe to.", returns: .object(["type": .string("object"), "required": .array([.string("eventTypes")]), "properties": .object(["eventTypes": .object(["type": .string("array"), "items": .object(["type": .string("string")])])])]))) { _, _ in
            try Self.jsonResponse(.ok, ["eventTypes": EventKind.allCases.map(\.rawValue)])
        }

        get("/api/webhooks", .permission(.admin), .doc("listWebhooks", "This organization's webhook subscriptions.", returns: APISchema.list("webhooks", of: WebhookBody.self))) { _, context in
            try Self.jsonResponse(.ok, ["webhooks": try core.webhooks.list(by: context.principal!).map(WebhookBody.init)])
        }

        post("/api/webhooks", .permission(.admin), .doc("createWebhook", "Subscribes a URL to event types; answers the secret once.", body: SubscriptionRequest.self, returns: APISchema.of(CreatedWebhookBody.self), status: 201, created: .init(idPointer: "/webhook/id"))) { request, context in
            let body = try await Self.decode(SubscriptionRequest.self, request, context)
            let created = try await core.webhooks.create(try settings(body), by: context.principal!)
            var response = try Self.jsonResponse(.created, CreatedWebhookBody(webhook: WebhookBody(created.subscription), secret: created.secret))
            response.headers[.location] = "/api/webhooks/\(created.subscription.id)"
            return response
        }

        get("/api/webhooks/{id}", .permission(.admin), .doc("getWebhook", "One webhook subscription, with its ETag.", returns: APISchema.of(WebhookBody.self), revision: .tagged)) { _, context in
            try APIConventions.taggedResponse(WebhookBody(try core.webhooks.subscription(try webhookID(context), by: context.principal!)))
        }

        on(.put, "/api/webhooks/{id}", .permission(.admin), .doc("updateWebhook", "Replaces a subscription's settings; enabling it again clears why it was disabled.", body: SubscriptionRequest.self, returns: APISchema.of(WebhookBody.self), revision: .conditional)) { request, context in
            let body = try await Self.decode(SubscriptionRequest.self, request, context)
            let updated = try await core.webhooks.update(try webhookID(context), try settings(body), by: context.principal!,
                                                         precondition: try APIConventions.precondition(request, WebhookBody.init))
            return try APIConventions.taggedResponse(WebhookBody(updated))
        }

        on(.delete, "/api/webhooks/{id}", .permission(.admin), .doc("deleteWebhook", "Deletes a subscription and its delivery log.", status: 204)) { _, context in
            try await core.webhooks.delete(try webhookID(context), by: context.principal!)
            return Response(status: .noContent, headers: [.cacheControl: "no-store"])
        }

        struct RotatedBody: Codable { let secret: String; let previousSecretValidUntil: Date }
        post("/api/webhooks/{id}/secret", .permission(.admin), .doc("rotateWebhookSecret", "A new secret (shown once); the previous one keeps signing for the overlap window.", returns: APISchema.of(RotatedBody.self))) { _, context in
            let rotated = try await core.webhooks.rotateSecret(try webhookID(context), by: context.principal!)
            return try Self.jsonResponse(.ok, RotatedBody(secret: rotated.secret, previousSecretValidUntil: rotated.previousValidUntil))
        }

        post("/api/webhooks/{id}/ping", .permission(.admin), .doc("pingWebhook", "Sends a webhook.ping message now.", returns: APISchema.of(DeliveryBody.self), status: 202)) { _, context in
            let id = try webhookID(context)
            let delivery = try await core.webhooks.ping(id, by: context.principal!)
            var response = try Self.jsonResponse(.accepted, DeliveryBody(delivery))
            response.headers[.location] = "/api/webhooks/\(id)/deliveries"
            return response
        }

        get("/api/webhooks/{id}/deliveries", .permission(.admin), .doc("listWebhookDeliveries", "The subscription's deliveries, newest first, with every attempt.", returns: APISchema.of(DeliveryPage.self), query: QueryParameter.paging)) { request, context in
            let limit = try APIConventions.pageSize(request)
            let found = try core.webhooks.deliveries(of: try webhookID(context), by: context.principal!, limit: limit, before: try Self.pageCursor(request))
            let next = APIConventions.nextLink(request, cursor: found.count == limit ? found.last?.id.description : nil)
            return try APIConventions.pageResponse(DeliveryPage(deliveries: found.map(DeliveryBody.init), next: next, limit: limit), next: next)
        }

        post("/api/webhooks/{id}/deliveries/{delivery}/redeliver", .permission(.admin), .doc("redeliverWebhook", "Sends a finished delivery again (same message id, new signature).", returns: APISchema.of(DeliveryBody.self), status: 202)) { _, context in
            let id = try webhookID(context)
            guard let deliveryID = context.parameters.get("delivery").flatMap(TimeOrderedID.init) else { throw PortalError.notFound("delivery") }
            let delivery = try await core.webhooks.redeliver(deliveryID, of: id, by: context.principal!)
            var response = try Self.jsonResponse(.accepted, DeliveryBody(delivery))
            response.headers[.location] = "/api/webhooks/\(id)/deliveries"
            return response
        }
    }
}

struct DeliveryPage: Codable {
    let deliveries: [DeliveryBody]
    let next: String?
    let limit: Int
}
