public import Logging
public import Portal
public import ServiceLifecycle

/// The services a portal runs beside its core (the jobs runner, the outbox consumers), run by
/// a test as `portal serve` runs them: in a `ServiceGroup`. `stop()` shuts them down
/// gracefully, as SIGTERM would; dropping the last reference cancels them.
public final class RunningServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    public init(_ services: [any Service]) {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
            gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test.services")))
        self.group = group
        task = Task { try await group.run() }
    }

    /// Shuts the services down gracefully and waits until they have stopped.
    public func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }

    deinit { task.cancel() }
}

extension PortalCore {
    /// Starts this core's services; they run until the result is stopped or released.
    public func startServices() -> RunningServices { RunningServices(services) }
}
