public import FoundationEssentials
import Synchronization
import KV

/// Something people should learn about as it happens: an approval request, a decision, a
/// run's result, a new turn in their conversation, a webhook the portal turned off. Only the people in `audience` receive it.
/// Made from outbox entries by `notification(for:)` (the notification relay).
public struct PortalNotification: Codable, Sendable, Equatable {
    public enum Audience: Codable, Sendable, Equatable {
        /// These users.
        case users(Set<UUID>)
        /// Whoever holds the permission in the organization (approvers for a request).
        case permission(Permission)
        /// No client: a signal to the portal's own listeners (an event that may end access).
        case portal
    }

    public let kind: EventKind
    /// The organization concerned (`nil` only for portal-wide events).
    public let organizationID: UUID?
    public let runID: String
    public let tool: String
    public let status: String
    public let audience: Audience
    /// For `chat.turn`: the conversation that has a new turn.
    public var sessionID: String? = nil
    /// For `webhook.disabled`: which webhook (scheme, host and port) and why.
    public var detail: String? = nil

    /// Whether `principal` is meant to receive it.
    public func isFor(_ principal: Principal) -> Bool {
        guard principal.organizationID == organizationID else { return false }
        switch audience {
        case let .users(users): return users.contains(principal.user.id)
        case let .permission(permission): return principal.has(permission)
        case .portal: return false
        }
    }

    /// Whether open event streams must check their principal again.
    public var mayEndAccess: Bool { audience == .portal && kind.mayEndAccess }

    /// What the event tells whom, if anyone.
    public static func notification(for entry: OutboxEntry) -> PortalNotification? {
        let organizationID = entry.organizationID
        func about(_ run: RunEvent, _ audience: Audience) -> PortalNotification {
            PortalNotification(kind: entry.event.kind, organizationID: organizationID, runID: run.runID.description, tool: run.tool, status: run.status.rawValue,
                               audience: audience)
        }
        switch entry.event {
        case let .approvalRequested(run): return about(run, .permission(.approvalsDecide))
        case let .approvalDecided(decision): return about(decision.run, .users(Set([decision.run.requesterID] + decision.run.deciders)))
        case let .runFinished(run): return about(run, .users(Set([run.requesterID] + run.deciders)))
        case let .chatTurn(turn):
            return PortalNotification(kind: .chatTurn, organizationID: organizationID, runID: turn.runID ?? "", tool: "", status: turn.runStatus ?? "",
                                      audience: .users([turn.ownerID]), sessionID: turn.sessionID.description)
        case let .security(event) where event.kind == .webhookDisabled:
            // The organization's admins learn at once that its webhooks stopped delivering.
            return PortalNotification(kind: event.kind, organizationID: event.organizationID, runID: "", tool: "", status: "disabled",
                                      audience: .permission(.admin), detail: event.detail)
        case let .security(event) where event.kind.mayEndAccess:
            return PortalNotification(kind: event.kind, organizationID: event.organizationID, runID: "", tool: "", status: "", audience: .portal)
        case let .workflow(event) where event.runID != nil:
            // Run views (anyone who may see the organization's tools) follow each run as it moves.
            return PortalNotification(kind: event.kind, organizationID: organizationID, runID: event.runID!.description, tool: event.workflow, status: event.status,
                                      audience: .permission(.toolsRead), detail: event.node)
        case let .incident(event) where event.kind == .incidentSLAWarning || event.kind == .incidentSLABreached:
            // The assignee (or, with none, everyone who works incidents) hears of a clock running out.
            return PortalNotification(kind: event.kind, organizationID: organizationID, runID: event.incidentID.description, tool: "INC-\(event.number)",
                                      status: event.state.rawValue, audience: event.assigneeID.map { .users([$0]) } ?? .permission(.incidentsWork), detail: event.detail)
        case let .incident(event):
            // Incident pages (every member may read incidents) follow each one as it changes.
            return PortalNotification(kind: event.kind, organizationID: organizationID, runID: event.incidentID.description, tool: "INC-\(event.number)",
                                      status: event.state.rawValue, audience: .permission(.incidentsReport), detail: event.detail)
        case let .change(event):
            // Change pages (every member may read changes; the CAB's policy decides who answers) follow each one.
            return PortalNotification(kind: event.kind, organizationID: organizationID, runID: event.changeID.description, tool: "CHG-\(event.number)",
                                      status: event.state.rawValue, audience: .permission(.incidentsReport), detail: event.detail)
        case .runRequested, .runRefused, .approvalRefused, .approvalPolicyChanged, .security, .workflow, .asset, .change:
            return nil
        }
    }
}

/// An in-process broadcast of notifications to every subscriber (server-sent event streams,
/// waiting requests). Guarantees: a subscriber receives every notification published after
/// `subscribe` returns, in order, until it stops listening; a slow subscriber buffers at most
/// `bufferLimit` and then loses the oldest, never slowing the publisher.
public final class Notifications: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<PortalNotification>.Continuation]>([:])
    public static let bufferLimit = 256

    public init() {}

    /// Returns once `done()` holds (checked at once, then at each notification about `runID`:
    /// a tool or workflow run) or after `timeout`.
    public func wait(forRun runID: String, timeout: Duration, until done: @escaping @Sendable () -> Bool) async {
        let stream = subscribe()
        if done() { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { for await notification in stream where notification.runID == runID { if done() { return } } }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    public func subscribe() -> AsyncStream<PortalNotification> {
        let (stream, continuation) = AsyncStream.makeStream(of: PortalNotification.self, bufferingPolicy: .bufferingNewest(Self.bufferLimit))
        let id = UUID()
        subscribers.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    public func publish(_ notification: PortalNotification) {
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.yield(notification) }
    }
}
