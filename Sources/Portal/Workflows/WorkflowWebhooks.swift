public import FoundationEssentials
import KV

/// A workflow's incoming webhook: the URL other systems call to start it.
public struct WorkflowWebhook: Codable, Sendable, Equatable {
    /// Random, in the URL (`/api/hooks/workflows/{id}`): it names neither the organization nor
    /// the workflow.
    public let id: UUID
    public let organizationID: UUID
    public let workflow: String
    public let createdAt: Date
    public var createdByName: String
    public var rotatedAt: Date?
    /// Until when the secret before the last rotation still verifies.
    public var previousValidUntil: Date?
    public var lastDeliveryAt: Date?

    public var path: String { "/api/hooks/workflows/\(id.uuidString.lowercased())" }
}

/// A delivery that is not from whoever holds the webhook's secret: no or a bad signature, or
/// a timestamp outside the window (the web layer answers 401 with `reason`).
public struct WebhookVerificationFailed: Error, Equatable, Sendable {
    public let reason: String
}

/// A message delivered to a workflow's webhook, kept for the replay window.
struct WorkflowWebhookDelivery: Codable, Sendable {
    let runID: TimeOrderedID?
    let receivedAt: Date
}

/// Incoming webhooks that start workflows.
///
/// Guarantees: a request starts a run only when the workflow's latest version has a `webhook`
/// trigger and the request carries a valid Standard Webhooks signature — HMAC-SHA256 under the
/// workflow's own secret over `id.timestamp.body`, compared in constant time — with a timestamp
/// within five minutes of now. A message id delivered again within that window answers with
/// the run the first delivery started, never a second run (the run and the delivery record are
/// one transaction). The secret is sealed, returned only when it is made or rotated (the
/// previous one verifies for 24 hours after a rotation), and never logged. Runs start as the
/// workflow's owner (who saved its latest version), as schedule runs do.
extension Workflows {
    public static let webhookTolerance: TimeInterval = 5 * 60
    public static let webhookBodyLimit = 256 << 10
    static let rotationOverlap: TimeInterval = 24 * 3600

    static func webhookSecretName(_ id: UUID, previous: Bool = false) -> String {
        "workflow-webhook/\(id.uuidString.lowercased())" + (previous ? "/previous" : "")
    }

    /// The workflow's webhook, if it has one.
    public func webhook(of workflow: String, in organizationID: UUID) throws -> WorkflowWebhook? {
        try environment.read { txn in
            guard let id = try txn.get(webhookIDs, (organizationID, workflow)) else { return nil }
            return try txn.get(webhooks, id)
        }
    }

    /// Makes the workflow's webhook, or gives the existing one a new secret (the previous one
    /// verifies for 24 hours more). Needs `workflows:manage`. Returns the webhook, its new
    /// secret (shown this once) and whether it was made now.
    public func setUpWebhook(of workflow: String, by principal: Principal) async throws -> (webhook: WorkflowWebhook, secret: String, created: Bool) {
        let organizationID = try Self.organization(of: principal, needing: .workflowsManage)
        let secret = WebhookSignature.newSecret()
        let now = clock.now()
        let existing = try webhook(of: workflow, in: organizationID)
        let id = existing?.id ?? UUID()
        let sealed = try secrets.seal(Self.webhookSecretName(id), secret)
        let previous = try existing.flatMap { _ in try secrets.get(Self.webhookSecretName(id)) }.map { try secrets.seal(Self.webhookSecretName(id, previous: true), $0) }
        let saved = try await environment.write { [self] txn -> WorkflowWebhook in
            guard try txn.get(summaries, (organizationID, workflow)) != nil else { throw PortalError.notFound("workflow '\(workflow)'") }
            var hook = try txn.get(webhookIDs, (organizationID, workflow)).flatMap { try txn.get(webhooks, $0) }
                ?? WorkflowWebhook(id: id, organizationID: organizationID, workflow: workflow, createdAt: now, createdByName: principal.user.username)
            guard hook.id == id else { throw PortalError.conflict("the webhook was set up meanwhile; try again") }
            if existing != nil {
                hook.rotatedAt = now
                hook.previousValidUntil = now.addingTimeInterval(Self.rotationOverlap)
                if let previous { try txn.put(secrets.table, Self.webhookSecretName(id, previous: true), previous) }
            }
            try txn.put(webhooks, id, hook)
            try txn.put(webhookIDs, (organizationID, workflow), id)
            try txn.put(secrets.table, Self.webhookSecretName(id), sealed)
            try recordWebhookChange(workflow, existing == nil ? "webhook set up" : "webhook secret rotated", in: organizationID, by: principal, now: now, txn: txn)
            return hook
        }
        return (saved, secret, existing == nil)
    }

    /// Removes the workflow's webhook and its secrets (`notFound` when it has none).
    public func removeWebhook(of workflow: String, by principal: Principal) async throws {
        let organizationID = try Self.organization(of: principal, needing: .workflowsManage)
        let now = clock.now()
        try await environment.write { [self] txn in
            guard try deleteWebhook(of: workflow, in: organizationID, txn: txn) else { throw PortalError.notFound("webhook of workflow '\(workflow)'") }
            try recordWebhookChange(workflow, "webhook removed", in: organizationID, by: principal, now: now, txn: txn)
        }
    }

    /// Deletes the webhook's records in `txn`; false when there was none.
    @available(*, noasync)
    func deleteWebhook(of workflow: String, in organizationID: UUID, txn: borrowing WriteTransaction) throws -> Bool {
        guard let id = try txn.get(webhookIDs, (organizationID, workflow)) else { return false }
        _ = try txn.delete(webhookIDs, (organizationID, workflow))
        _ = try txn.delete(webhooks, id)
        _ = try txn.delete(secrets.table, Self.webhookSecretName(id))
        _ = try txn.delete(secrets.table, Self.webhookSecretName(id, previous: true))
        return true
    }

    @available(*, noasync)
    private func recordWebhookChange(_ workflow: String, _ detail: String, in organizationID: UUID, by principal: Principal, now: Date,
                                     txn: borrowing WriteTransaction) throws {
        let version = try txn.get(summaries, (organizationID, workflow))?.latestVersion ?? 0
        let event = WorkflowEvent(kind: .workflowSaved, workflow: workflow, version: version, runID: nil, node: nil, status: "webhook", actorID: principal.user.id, detail: detail)
        try outbox.record(.workflow(event), organizationID: organizationID, time: now,
                          audit: Self.auditEntry(event, organizationID: organizationID, time: now, actor: principal), in: txn)
    }

    /// What a delivery to a webhook came to.
    public enum WebhookOutcome: Sendable, Equatable {
        /// A run started now.
        case started(WorkflowRun)
        /// The message id was delivered before: the run it started (`nil`: its condition did
        /// not hold then).
        case repeated(WorkflowRun?)
        /// The trigger's condition does not hold for this body: nothing started.
        case ignored
    }

    /// A request to `/api/hooks/workflows/{id}`: verified, then a run started (once per
    /// message id). Throws `WebhookVerificationFailed` for a missing or bad signature or a stale timestamp,
    /// `notFound` for an unknown hook or a workflow without a webhook trigger, `invalid` for a
    /// body that is not JSON or inputs that do not match, `unprocessable` when the trigger's
    /// expressions fail on this body, `forbidden` when the owner may no longer run it.
    public func deliver(toWebhook id: UUID, messageID: String?, timestamp: String?, signature: String?, body: [UInt8]) async throws -> WebhookOutcome {
        guard let hook = try environment.read({ txn in try txn.get(webhooks, id) }) else { throw PortalError.notFound("webhook") }
        guard let messageID, (1...256).contains(messageID.utf8.count), let timestamp, let signature else {
            throw WebhookVerificationFailed(reason: "the webhook-id, webhook-timestamp and webhook-signature headers are required (Standard Webhooks)")
        }
        let now = clock.now()
        guard let seconds = Int(timestamp), abs(now.timeIntervalSince1970 - Double(seconds)) <= Self.webhookTolerance else {
            throw WebhookVerificationFailed(reason: "webhook-timestamp is not within \(Int(Self.webhookTolerance / 60)) minutes of the portal's clock")
        }
        var candidates = [try secrets.get(Self.webhookSecretName(id))].compactMap { $0 }
        if let until = hook.previousValidUntil, until > now, let previous = try secrets.get(Self.webhookSecretName(id, previous: true)) { candidates.append(previous) }
        guard candidates.contains(where: { WebhookSignature.verify(id: messageID, timestamp: seconds, body: body, header: signature, secret: $0) }) else {
            throw WebhookVerificationFailed(reason: "the webhook-signature does not match this webhook's secret")
        }
        guard let summary = try summary(hook.workflow, in: hook.organizationID), let latest = try version(hook.workflow, nil, in: hook.organizationID),
              let trigger = latest.definition.triggers.first(where: { $0.type == .webhook && $0.isEnabled }) else {
            throw PortalError.notFound("webhook trigger: the latest version of '\(hook.workflow)' has none enabled")
        }
        guard let payload = body.isEmpty ? .object([:]) : JSONAny(json: body) else { throw PortalError.invalid("the body must be JSON") }
        let scope: [String: JSONAny] = ["body": payload, "webhook": .object(["id": .string(messageID), "timestamp": .number(Double(seconds))])]
        let holds: Bool
        let inputs: JSONAny
        do {
            holds = try trigger.condition.map { try Expression($0).holds(scope) } ?? true
            inputs = try trigger.inputs.map { try ValueTemplate($0).render(scope) } ?? payload
        } catch { throw PortalError.unprocessable("the webhook trigger's expressions: \(error)") }
        guard let owner = try ownerPrincipal(summary, in: hook.organizationID) else {
            throw PortalError.forbidden("the owner of workflow '\(hook.workflow)' may no longer run it")
        }
        let key = "\(id.uuidString.lowercased()):\(messageID)"
        let outcome = try await environment.write { [self] txn -> (WebhookOutcome, [Effect]) in
            if let earlier = try txn.get(webhookDeliveries, key) {
                return (.repeated(try earlier.runID.flatMap { try txn.get(runs, (hook.organizationID, $0)) }), [])
            }
            var created: (WorkflowRun, [Effect])?
            if holds {
                created = try createRun(hook.workflow, version: nil, inputs: inputs, organizationID: hook.organizationID, starterID: owner.user.id,
                                        starterName: owner.user.username, trigger: .webhook, parent: nil, rerunOf: nil, actor: owner, txn: txn)
            }
            try txn.put(webhookDeliveries, key, WorkflowWebhookDelivery(runID: created?.0.id, receivedAt: now),
                        expiresAt: now.addingTimeInterval(2 * Self.webhookTolerance))
            var touched = hook
            touched.lastDeliveryAt = now
            try txn.put(webhooks, id, touched)
            return (created.map { .started($0.0) } ?? .ignored, created?.1 ?? [])
        }
        perform(outcome.1)
        if case let .started(run) = outcome.0 { return .started(try self.run(run.id, in: hook.organizationID) ?? run) }
        return outcome.0
    }
}
