public import FoundationEssentials
import Synchronization

/// Something people should learn about as it happens: an approval request, a decision, a
/// run's result. Only the people in `audience` receive it.
public struct PortalNotification: Codable, Sendable, Equatable {
    public enum Audience: Codable, Sendable, Equatable {
        /// These users.
        case users(Set<UUID>)
        /// Whoever holds the permission in the organization (approvers for a request).
        case permission(Permission)
        /// No client: a signal to the portal's own listeners (`access.changed`).
        case portal
    }

    /// `approval.requested`, `approval.decided`, `run.finished`, `chat.turn`; and
    /// `access.changed`, which no client receives (see `SecurityEvents`).
    public let kind: String
    /// The organization concerned (`nil` only for portal-wide `access.changed`).
    public let organizationID: UUID?
    public let runID: String
    public let tool: String
    public let status: String
    public let audience: Audience
    /// For `chat.turn`: the conversation that has a new turn.
    public var sessionID: String? = nil

    /// Whether `principal` is meant to receive it.
    public func isFor(_ principal: Principal) -> Bool {
        guard principal.organizationID == organizationID else { return false }
        switch audience {
        case let .users(users): return users.contains(principal.user.id)
        case let .permission(permission): return principal.has(permission)
        case .portal: return false
        }
    }

    /// Someone's access may have ended: streams check their principal again.
    static func accessChanged(organizationID: UUID?) -> PortalNotification {
        PortalNotification(kind: "access.changed", organizationID: organizationID, runID: "", tool: "", status: "", audience: .portal)
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
