public import KV
public import Logging
public import ServiceLifecycle

/// A service that hands every outbox entry to one consumer, in order, from the consumer's
/// durable cursor: at start it catches up on what it has not seen (what happened while the
/// portal was stopped, or since a crash), then waits for commits that record events.
///
/// `handle` runs in the transaction that moves the cursor, so what it writes (jobs, say)
/// happens exactly once per entry; `deliver` runs after that commit, for effects outside
/// storage (at most once: an entry whose batch committed is not delivered again).
public struct EventConsumer: Service {
    public let name: String
    let outbox: Outbox
    let handle: @Sendable ([OutboxEntry], borrowing WriteTransaction) throws -> Void
    let deliver: @Sendable ([OutboxEntry]) -> Void
    let logger: Logger

    init(_ name: String, outbox: Outbox, handle: @escaping @Sendable ([OutboxEntry], borrowing WriteTransaction) throws -> Void = { _, _ in },
         deliver: @escaping @Sendable ([OutboxEntry]) -> Void = { _ in }) {
        self.name = name
        self.outbox = outbox
        self.handle = handle
        self.deliver = deliver
        logger = Logger(label: "portal.events." + name)
    }

    public func run() async throws {
        let changes = outbox.changes()
        try await outbox.register(name)  // the first time: from the newest entry on
        try? await cancelWhenGracefulShutdown {
            await catchUp()
            for await _ in changes { await catchUp() }
        }
    }

    /// Consumes until the cursor reaches the newest entry. A failure is logged; the next
    /// commit tries again.
    func catchUp() async {
        while !Task.isCancelled {
            do {
                let batch = try await outbox.consume(name, handle)
                deliver(batch)
                if batch.isEmpty { return }
            } catch {
                logger.error("consuming events failed", metadata: ["error": "\(error)"])
                return
            }
        }
    }
}
