public import FoundationEssentials
public import KV
import Logging

/// How webhooks are delivered (`webhooks.*` in the configuration).
public struct WebhookOptions: Sendable {
    /// Networks a webhook may reach although `WebhookTargets` refuses them by default.
    public var allowedNetworks: [NetworkRange] = []
    /// The waits before the 2nd, 3rd, … attempt (each ±20% jitter, at least a `Retry-After`):
    /// about a day in all, as Standard Webhooks suggests.
    public var retrySchedule: [Duration] = [.seconds(5), .seconds(300), .seconds(1800), .seconds(7200), .seconds(18000), .seconds(36000), .seconds(36000)]
    /// A subscription whose deliveries have failed this long without a success is disabled.
    public var disableAfter: Duration = .seconds(24 * 3600)
    /// How long a rotated-out secret still signs deliveries.
    public var rotationOverlap: Duration = .seconds(24 * 3600)
    public var timeout: Duration = .seconds(15)
    /// Deliveries kept per subscription (the oldest finished ones go first).
    public var keptDeliveries = 200

    public init() {}
}

/// Webhook subscriptions and their deliveries.
///
/// Guarantees: every event committed in an organization is turned into one delivery per
/// matching, enabled subscription exactly once (the `webhooks` outbox consumer creates the
/// deliveries and their jobs in the transaction that moves its cursor); each attempt is a
/// durable job, so a retry series goes on across restarts; every attempt is recorded with
/// its answer; 2xx is success, 410 disables the subscription, anything else is retried on the
/// schedule (never sooner than a `Retry-After`) and a subscription failing for
/// `disableAfter` is disabled, each with an audited `webhook.disabled` event. Secrets are
/// stored sealed and shown once.
public final class Webhooks: Sendable {
    static let deliverJob = "webhook.deliver"
    static let consumerName = "webhooks"
    static let pingType = "webhook.ping"

    let environment: Environment
    let subscriptions: IndexedTable<Key<UUID>, JSONValue<WebhookSubscription>>
    let byOrganization: IndexHandle<Key<UUID>, Key<UUID>>
    let deliveries: Table<CompositeKey<UUID, TimeOrderedID>, JSONValue<WebhookDelivery>>
    let secrets: Secrets
    let events: SecurityEvents
    let jobs: Jobs
    let clock: any WallClock
    public let options: WebhookOptions
    let targets: WebhookTargets
    let http: OutboundHTTP
    let logger = Logger(label: "portal.webhooks")

    init(environment: Environment, secrets: Secrets, events: SecurityEvents, jobs: Jobs, clock: any WallClock, options: WebhookOptions) throws {
        self.environment = environment
        self.secrets = secrets
        self.events = events
        self.jobs = jobs
        self.clock = clock
        self.options = options
        targets = WebhookTargets(allowed: options.allowedNetworks)
        var http = OutboundHTTP()
        http.timeout = options.timeout
        self.http = http
        subscriptions = try environment.indexedTable("webhooks", key: Key<UUID>.self, value: JSONValue<WebhookSubscription>.self, indexes: [
            .multiple("organization", Key<UUID>.self) { [$0.organizationID] },
        ])
        byOrganization = subscriptions.index("organization", Key<UUID>.self)
        deliveries = try environment.table("webhook_deliveries", key: CompositeKey<UUID, TimeOrderedID>.self, value: JSONValue<WebhookDelivery>.self)
        jobs.register(JobKind(Self.deliverJob, concurrency: 8, maxAttempts: 5, backoff: .seconds(2)) { [self] context in
            try await attempt(context.payload(as: AttemptPayload.self))
        })
    }

    /// What a delivery job carries.
    struct AttemptPayload: Codable {
        let subscriptionID: UUID
        let deliveryID: TimeOrderedID
        /// Which attempt of the delivery this job is (1 for the first): a job run again after
        /// its attempt was recorded (a crash between the two writes) sends nothing.
        let number: Int
        /// A person asked for it (a redelivery): no automatic retries follow a failure.
        let manual: Bool
    }

    // MARK: Subscriptions

    /// What a person may set on a subscription.
    public struct Settings: Sendable {
        public var url: String
        public var eventTypes: [EventKind]
        public var tools: [String]?
        public var minimumRisk: RiskLevel?
        public var description: String
        /// `nil`: on for a new subscription, unchanged for an update (so saving other settings
        /// never turns back on a subscription the portal turned off).
        public var enabled: Bool?

        public init(url: String, eventTypes: [EventKind], tools: [String]? = nil, minimumRisk: RiskLevel? = nil, description: String = "", enabled: Bool? = nil) {
            self.url = url
            self.eventTypes = eventTypes
            self.tools = tools
            self.minimumRisk = minimumRisk
            self.description = description
            self.enabled = enabled
        }
    }

    /// The organization `principal` administers now, or `forbidden`/`invalid`.
    private func organization(of principal: Principal) throws -> UUID {
        guard principal.has(.admin) else { throw PortalError.forbidden("webhooks need the admin permission") }
        guard let organizationID = principal.organizationID else { throw PortalError.invalid("choose an organization first") }
        return organizationID
    }

    /// Checks what a person asked for; resolves the URL off the cooperative pool.
    private func validate(_ settings: Settings, checkTarget: Bool = true) async throws {
        guard !settings.eventTypes.isEmpty else { throw PortalError.invalid("events: choose at least one event type") }
        guard settings.description.count <= 200 else { throw PortalError.invalid("description is at most 200 characters") }
        if let tools = settings.tools {
            guard !tools.isEmpty, tools.count <= 100, tools.allSatisfy({ (1...128).contains($0.count) }) else {
                throw PortalError.invalid("tools: 1–100 tool names, or leave it out for every tool")
            }
        }
        let targets = targets, url = settings.url
        if checkTarget {
            _ = try await onOwnThread("portal.webhook-target") { try targets.resolve(url) }
        } else {
            _ = try targets.parse(url)
        }
    }

    public func list(by principal: Principal) throws -> [WebhookSubscription] {
        let organizationID = try organization(of: principal)
        return try environment.read { txn in
            try txn.primaryKeys(byOrganization, organizationID).compactMap { try txn.get(subscriptions.table, $0) }
        }.sorted { $0.createdAt < $1.createdAt }
    }

    /// The subscription, if it is in `principal`'s organization (any other is `notFound`).
    public func subscription(_ id: UUID, by principal: Principal) throws -> WebhookSubscription {
        let organizationID = try organization(of: principal)
        guard let found = try environment.read({ txn in try txn.get(subscriptions.table, id) }), found.organizationID == organizationID else {
            throw PortalError.notFound("webhook")
        }
        return found
    }

    /// Creates a subscription; returns it with its secret, which is not shown again.
    public func create(_ settings: Settings, by principal: Principal) async throws -> (subscription: WebhookSubscription, secret: String) {
        let organizationID = try organization(of: principal)
        try await validate(settings)
        let now = clock.now(), secret = WebhookSignature.newSecret()
        let subscription = WebhookSubscription(id: UUID(), organizationID: organizationID, url: settings.url, eventTypes: settings.eventTypes, tools: settings.tools,
                                               minimumRisk: settings.minimumRisk, description: settings.description, enabled: settings.enabled ?? true,
                                               disabledReason: nil, failingSince: nil, previousSecretValidUntil: nil,
                                               createdBy: principal.user.id, createdAt: now, updatedAt: now)
        let sealed = try secrets.seal(WebhookSubscription.secretName(subscription.id), secret)
        try await environment.write { [self] txn in
            guard try txn.primaryKeys(byOrganization, organizationID).count < 100 else { throw PortalError.conflict("an organization has at most 100 webhooks") }
            try txn.put(subscriptions, subscription.id, subscription)
            try txn.put(secrets.table, WebhookSubscription.secretName(subscription.id), sealed)
            try events.record(SecurityEvent(kind: .webhookCreated, userID: principal.user.id, username: principal.user.username, organizationID: organizationID,
                                            detail: "\(WebhookTargets.shown(subscription.url)) for \(settings.eventTypes.map(\.rawValue).joined(separator: ", "))", time: now), in: txn)
        }
        return (subscription, secret)
    }

    /// Replaces the subscription's settings. Turning it on again clears why it was off. The
    /// URL is checked when the subscription is to send (so one can always be turned off).
    /// `precondition` runs on the stored subscription inside the write (a lost-update check):
    /// when it throws, nothing changes.
    public func update(_ id: UUID, _ settings: Settings, by principal: Principal,
                       precondition: (@Sendable (WebhookSubscription) throws -> Void)? = nil) async throws -> WebhookSubscription {
        let current = try subscription(id, by: principal)
        let enabled = settings.enabled ?? current.enabled
        try await validate(settings, checkTarget: enabled)
        let now = clock.now(), organizationID = current.organizationID
        return try await environment.write { [self] txn in
            guard var subscription = try txn.get(subscriptions.table, id), subscription.organizationID == organizationID else { throw PortalError.notFound("webhook") }
            try precondition?(subscription)
            if enabled && !subscription.enabled { (subscription.disabledReason, subscription.failingSince) = (nil, nil) }
            subscription.url = settings.url
            subscription.eventTypes = settings.eventTypes
            subscription.tools = settings.tools
            subscription.minimumRisk = settings.minimumRisk
            subscription.description = settings.description
            subscription.enabled = enabled
            subscription.updatedAt = now
            try txn.put(subscriptions, id, subscription)
            try events.record(SecurityEvent(kind: .webhookUpdated, userID: principal.user.id, username: principal.user.username, organizationID: organizationID,
                                            detail: "\(WebhookTargets.shown(subscription.url))\(enabled ? "" : ", disabled")", time: now), in: txn)
            return subscription
        }
    }

    /// Deletes the subscription, its secrets and its delivery log; its pending attempts end.
    public func delete(_ id: UUID, by principal: Principal) async throws {
        let organizationID = try organization(of: principal)
        let now = clock.now()
        try await environment.write { [self] txn in
            guard let subscription = try txn.get(subscriptions.table, id), subscription.organizationID == organizationID else { throw PortalError.notFound("webhook") }
            _ = try txn.delete(subscriptions, id)
            _ = try txn.delete(secrets.table, WebhookSubscription.secretName(id))
            _ = try txn.delete(secrets.table, WebhookSubscription.secretName(id, previous: true))
            var keys: [CompositeKey<UUID, TimeOrderedID>.Value] = []
            try txn.forEach(deliveries, prefix: CompositeKey<UUID, TimeOrderedID>.prefix(id)) { (key, _) throws(KVError) in
                keys.append(key)
                return true
            }
            for key in keys { _ = try txn.delete(deliveries, key) }
            try events.record(SecurityEvent(kind: .webhookDeleted, userID: principal.user.id, username: principal.user.username, organizationID: organizationID,
                                            detail: WebhookTargets.shown(subscription.url), time: now), in: txn)
        }
    }

    /// A new secret; the one it replaces still signs deliveries for `rotationOverlap`, so
    /// receivers can switch without losing messages. Returns the new secret (shown once).
    public func rotateSecret(_ id: UUID, by principal: Principal) async throws -> (secret: String, previousValidUntil: Date) {
        let organizationID = try organization(of: principal)
        let now = clock.now(), secret = WebhookSignature.newSecret(), until = now.addingTimeInterval(options.rotationOverlap.timeInterval)
        let sealedNew = try secrets.seal(WebhookSubscription.secretName(id), secret)
        try await environment.write { [self] txn in
            guard var subscription = try txn.get(subscriptions.table, id), subscription.organizationID == organizationID,
                  let sealedCurrent = try txn.get(secrets.table, WebhookSubscription.secretName(id)) else { throw PortalError.notFound("webhook") }
            // Read and replaced in one transaction: two rotations at once cannot lose a secret.
            let current = try secrets.open(sealedCurrent, name: WebhookSubscription.secretName(id))
            let sealedOld = try secrets.seal(WebhookSubscription.secretName(id, previous: true), current)
            subscription.previousSecretValidUntil = until
            subscription.updatedAt = now
            try txn.put(subscriptions, id, subscription)
            try txn.put(secrets.table, WebhookSubscription.secretName(id), sealedNew)
            try txn.put(secrets.table, WebhookSubscription.secretName(id, previous: true), sealedOld)
            try events.record(SecurityEvent(kind: .webhookSecretRotated, userID: principal.user.id, username: principal.user.username, organizationID: organizationID,
                                            detail: "\(WebhookTargets.shown(subscription.url)); the previous secret signs until \(until.formatted(.iso8601))", time: now), in: txn)
        }
        return (secret, until)
    }

    // MARK: Deliveries

    /// The subscription's deliveries, newest first, at most `limit`.
    /// The subscription's deliveries, newest first, from the one before `before` when given.
    public func deliveries(of id: UUID, by principal: Principal, limit: Int = 50, before: TimeOrderedID? = nil) throws -> [WebhookDelivery] {
        _ = try subscription(id, by: principal)
        return try environment.read { txn in
            var found: [WebhookDelivery] = []
            // The log is short (`keptDeliveries`): skipping to the cursor is a bounded scan.
            try txn.forEach(deliveries, prefix: CompositeKey<UUID, TimeOrderedID>.prefix(id), direction: .reverse) { (_, delivery) throws(KVError) in
                if let before, delivery.id >= before { return true }
                found.append(delivery)
                return found.count < limit
            }
            return found
        }
    }

    /// Sends a `webhook.ping` message now (even to a disabled subscription: it tests the receiver).
    public func ping(_ id: UUID, by principal: Principal) async throws -> WebhookDelivery {
        let subscription = try subscription(id, by: principal)
        let now = clock.now()
        let body = Self.body(type: Self.pingType, time: now, sequence: nil, organizationID: subscription.organizationID,
                             data: .object(["subscriptionID": .string(id.uuidString), "url": .string(subscription.url)]))
        return try await environment.write { [self] txn in
            try addDelivery(to: subscription, type: Self.pingType, sequence: nil, body: body, at: now, manual: true, in: txn)
        }
    }

    /// Sends a delivery again, as it was (same message id, a new timestamp and signature).
    public func redeliver(_ deliveryID: TimeOrderedID, of id: UUID, by principal: Principal) async throws -> WebhookDelivery {
        _ = try subscription(id, by: principal)
        let now = clock.now()
        return try await environment.write { [self] txn in
            guard var delivery = try txn.get(deliveries, (id, deliveryID)) else { throw PortalError.notFound("delivery") }
            guard delivery.state != .pending else { throw PortalError.conflict("this delivery is still being attempted") }
            delivery.state = .pending
            delivery.nextAttemptAt = now
            try txn.put(deliveries, (id, deliveryID), delivery)
            try enqueueAttempt(delivery, number: delivery.attempts.count + 1, at: now, manual: true, in: txn)
            return delivery
        }
    }

    /// The consumer that turns committed events into deliveries.
    func consumer(outbox: Outbox) -> EventConsumer {
        EventConsumer(Self.consumerName, outbox: outbox, handle: { [self] entries, txn in
            var byOrganization: [UUID: [WebhookSubscription]] = [:]
            for entry in entries {
                guard let organizationID = entry.organizationID else { continue }
                if byOrganization[organizationID] == nil {
                    byOrganization[organizationID] = try txn.primaryKeys(self.byOrganization, organizationID).compactMap { try txn.get(subscriptions.table, $0) }
                }
                let wanting = byOrganization[organizationID]!.filter { $0.wants(entry.event, in: organizationID) }
                guard !wanting.isEmpty else { continue }
                // One body for every subscription that gets the event.
                let body = Self.body(type: entry.event.kind.rawValue, time: entry.time, sequence: entry.sequence, organizationID: organizationID,
                                     data: try Self.payload(of: entry.event))
                for subscription in wanting {
                    _ = try addDelivery(to: subscription, type: entry.event.kind.rawValue, sequence: entry.sequence, body: body, at: clock.now(), manual: false, in: txn)
                }
            }
        })
    }

    private func addDelivery(to subscription: WebhookSubscription, type: String, sequence: UInt64?, body: String, at now: Date, manual: Bool,
                             in txn: borrowing WriteTransaction) throws -> WebhookDelivery {
        let id = TimeOrderedID.generate(now: now)
        let delivery = WebhookDelivery(id: id, subscriptionID: subscription.id, organizationID: subscription.organizationID, messageID: "msg_\(id)",
                                       eventType: type, eventSequence: sequence, body: body, state: .pending, attempts: [], nextAttemptAt: now, createdAt: now)
        try txn.put(deliveries, (subscription.id, id), delivery)
        try enqueueAttempt(delivery, number: 1, at: now, manual: manual, in: txn)
        return delivery
    }

    private func enqueueAttempt(_ delivery: WebhookDelivery, number: Int, at due: Date, manual: Bool, in txn: borrowing WriteTransaction) throws {
        let payload = try JSONAny(encoding: AttemptPayload(subscriptionID: delivery.subscriptionID, deliveryID: delivery.id, number: number, manual: manual))
        _ = try jobs.enqueue(JobRequest(kind: Self.deliverJob, payload: payload, idempotencyKey: "webhook:\(delivery.id):\(number)", dueAt: due), in: txn)
    }

    /// Keeps each subscription's newest `keptDeliveries` deliveries (pending ones always stay);
    /// run by the hourly prune timer, off the path that creates deliveries. Returns how many
    /// were removed.
    public func trimLogs() async throws -> Int {
        let ids = try environment.read { txn in
            var ids: [UUID] = []
            try txn.forEach(subscriptions.table) { (id, _) throws(KVError) in
                ids.append(id)
                return true
            }
            return ids
        }
        var removed = 0
        for id in ids {
            // Found in a read; a write (and its sync) only for a log that is too long.
            let doomed = try environment.read { txn in
                var kept = 0
                var doomed: [CompositeKey<UUID, TimeOrderedID>.Value] = []
                try txn.forEach(deliveries, prefix: CompositeKey<UUID, TimeOrderedID>.prefix(id), direction: .reverse) { (key, delivery) throws(KVError) in
                    kept += 1
                    if kept > options.keptDeliveries && delivery.state != .pending { doomed.append(key) }
                    return true
                }
                return doomed
            }
            guard !doomed.isEmpty else { continue }
            // Deleting a delivery removed meanwhile (the subscription was deleted) is a no-op.
            removed += try await environment.write { [self] txn in try doomed.reduce(0) { $0 + (try txn.delete(deliveries, $1) ? 1 : 0) } }
        }
        return removed
    }

    /// `{"type", "timestamp", "sequence", "organizationID", "data"}`, keys sorted.
    static func body(type: String, time: Date, sequence: UInt64?, organizationID: UUID, data: JSONAny) -> String {
        var object: [String: JSONAny] = ["type": .string(type), "timestamp": .string(time.formatted(.iso8601)),
                                         "organizationID": .string(organizationID.uuidString), "data": data]
        if let sequence { object["sequence"] = .number(Double(sequence)) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(JSONAny.object(object))) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The event's typed payload as JSON, dates in ISO 8601 as the API writes them.
    static func payload(of event: DomainEvent) throws -> JSONAny {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        guard let payload = JSONAny(json: try encoder.encode(event))?.object?["payload"] else { throw PortalError.invalid("an event without a payload") }
        return payload
    }

    // MARK: Attempts

    /// One attempt: send, then record the answer and decide what follows, in one write.
    func attempt(_ payload: AttemptPayload) async throws {
        let now = clock.now()
        let loaded = try environment.read { txn in
            (try txn.get(subscriptions.table, payload.subscriptionID), try txn.get(deliveries, (payload.subscriptionID, payload.deliveryID)))
        }
        guard let subscription = loaded.0, let delivery = loaded.1, delivery.state == .pending, delivery.attempts.count + 1 == payload.number else { return }
        guard subscription.enabled || payload.manual else {
            try await finish(delivery, subscription: subscription, attempt: nil, manual: false, outcome: .abandon)
            return
        }
        guard let current = try secrets.get(WebhookSubscription.secretName(subscription.id)) else {
            let missing = WebhookDelivery.Attempt(time: now, status: nil, error: "the webhook has no secret: nothing is sent unsigned", durationMilliseconds: 0,
                                                  response: "", manual: payload.manual)
            return try await finish(delivery, subscription: subscription, attempt: missing, manual: payload.manual, outcome: .abandon)
        }
        var signing = [current]
        if let until = subscription.previousSecretValidUntil, until > now, let previous = try secrets.get(WebhookSubscription.secretName(subscription.id, previous: true)) {
            signing.append(previous)
        }
        let started = ContinuousClock.now
        var status: Int?, failure: String?, response = "", retryAfter: Int?
        do {
            let targets = targets, url = subscription.url
            let (target, address) = try await onOwnThread("portal.webhook-target") { try targets.resolve(url) }
            let timestamp = Int(Date().timeIntervalSince1970)
            let headers = [
                ("Content-Type", "application/json"), ("User-Agent", "portal-webhooks/1"),
                ("webhook-id", delivery.messageID), ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", WebhookSignature.header(id: delivery.messageID, timestamp: timestamp, body: delivery.body, secrets: signing)),
            ]
            // A name is pinned to the address just checked; a numeric host is that address already
            // (and goes through the shared client, without a client per request).
            let pinned = NetworkRange.isAddress(target.host) ? nil : (host: target.host, address: address)
            let answer = try await http.send(url: target.url, method: "POST", headers: headers, body: Array(delivery.body.utf8), pinned: pinned)
            status = answer.status
            response = String(decoding: answer.body.prefix(1024), as: UTF8.self)
            retryAfter = answer.retryAfterSeconds
        } catch is CancellationError {
            throw CancellationError()  // shutting down: the job stays due and tries again
        } catch {
            failure = "\(error)"
        }
        try Task.checkCancellation()
        let record = WebhookDelivery.Attempt(time: now, status: status, error: failure, durationMilliseconds: (ContinuousClock.now - started).timeInterval * 1000,
                                             response: response, manual: payload.manual)
        let outcome: Outcome
        if let status, (200..<300).contains(status) {
            outcome = .succeeded
        } else if status == 410 {
            outcome = .gone
        } else {
            outcome = .failed(retryAfterSeconds: retryAfter)
        }
        try await finish(delivery, subscription: subscription, attempt: record, manual: payload.manual, outcome: outcome)
    }

    enum Outcome {
        case succeeded, gone, abandon
        case failed(retryAfterSeconds: Int?)
    }

    /// Records an attempt's end on the delivery and the subscription: success, the next
    /// retry, or the end of the series (and, after 410 or `disableAfter` of failures, the
    /// subscription turned off with an audited event).
    private func finish(_ sent: WebhookDelivery, subscription sentTo: WebhookSubscription, attempt: WebhookDelivery.Attempt?, manual: Bool, outcome: Outcome) async throws {
        let now = clock.now()
        try await environment.write { [self] txn in
            // Only the attempt this job made is recorded (another may have been recorded since).
            guard var delivery = try txn.get(deliveries, (sent.subscriptionID, sent.id)), delivery.state == .pending,
                  delivery.attempts.count == sent.attempts.count else { return }
            var subscription = try txn.get(subscriptions.table, sentTo.id)
            if let attempt { delivery.attempts.append(attempt) }
            delivery.nextAttemptAt = nil
            var disable: String?
            switch outcome {
            case .succeeded:
                delivery.state = .succeeded
                subscription?.failingSince = nil
            case .abandon:
                delivery.state = .abandoned
            case .gone:
                delivery.state = .abandoned
                disable = "the receiver answered 410 Gone"
            case let .failed(retryAfterSeconds):
                if subscription?.failingSince == nil { subscription?.failingSince = now }
                let automatic = delivery.attempts.filter { !$0.manual }.count
                if let since = subscription?.failingSince, now.timeIntervalSince(since) >= options.disableAfter.timeInterval {
                    delivery.state = .abandoned
                    disable = "deliveries failed for \(Int(options.disableAfter.timeInterval / 3600)) hours without a success"
                } else if !manual, automatic <= options.retrySchedule.count {
                    let planned = options.retrySchedule[automatic - 1].timeInterval * Double.random(in: 0.8...1.2)
                    let wait = min(max(planned, Double(retryAfterSeconds ?? 0)), 24 * 3600)
                    let due = now.addingTimeInterval(wait)
                    delivery.nextAttemptAt = due
                    try enqueueAttempt(delivery, number: delivery.attempts.count + 1, at: due, manual: false, in: txn)
                } else {
                    // The series ran out, or a person's redelivery failed: nothing more is tried.
                    delivery.state = .abandoned
                }
            }
            try txn.put(deliveries, (delivery.subscriptionID, delivery.id), delivery)
            guard var subscription else { return }
            if let disable, subscription.enabled {
                subscription.enabled = false
                subscription.disabledReason = disable
                try events.record(SecurityEvent(kind: .webhookDisabled, userID: nil, username: nil, organizationID: subscription.organizationID,
                                                detail: "\(WebhookTargets.shown(subscription.url)): \(disable)", time: now), in: txn)
                logger.warning("webhook disabled", metadata: ["webhook": "\(subscription.id)", "reason": "\(disable)"])
            }
            try txn.put(subscriptions, subscription.id, subscription)
        }
    }
}
