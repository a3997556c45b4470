public import FoundationEssentials

/// One SLA target of one record (first response, or resolution), counted in business time.
///
/// Guarantees: only business time counts (`BusinessClock`); a pause stops the count and the
/// resume moves the deadline by exactly the business time that passed while paused; the
/// clock keeps the SLA's name, version, target and calendar it started with, so changing the
/// definition later never moves a running clock; a clock stops once, as met or breached.
public struct SLAClock: Codable, Sendable, Equatable {
    public enum Target: String, Codable, Sendable, CaseIterable {
        case firstResponse = "first-response"
        case resolution
    }

    public enum State: String, Codable, Sendable, CaseIterable {
        case running, paused, met, breached
    }

    public let sla: String
    public let slaVersion: Int
    public let target: Target
    /// The calendar it counts with (as it was when the clock started).
    public let calendar: BusinessCalendar
    public let targetSeconds: Int
    /// Warn (pre-breach) at this share of the target, in percent; `nil`: no warning.
    public let warnAtPercent: Int?
    /// What its warning and breach do (as the SLA said when the clock started).
    public let escalations: [SLAEscalation]?
    public private(set) var state: State
    /// Business seconds counted before `runningSince`.
    public private(set) var elapsedSeconds: Int
    public private(set) var runningSince: Date?
    /// When it breaches, while running.
    public private(set) var dueAt: Date?
    /// When its warning is due, while running and not yet past it.
    public private(set) var warnAt: Date?
    public private(set) var stoppedAt: Date?

    /// Starts counting at `start`.
    public init(sla: String, version: Int, target: Target, calendar: BusinessCalendar, targetSeconds: Int, warnAtPercent: Int?,
                escalations: [SLAEscalation]? = nil, start: Date) throws {
        self.sla = sla
        slaVersion = version
        self.target = target
        self.calendar = calendar
        self.targetSeconds = targetSeconds
        self.warnAtPercent = warnAtPercent
        self.escalations = escalations
        state = .running
        elapsedSeconds = 0
        runningSince = start
        try schedule(from: start)
    }

    /// Its escalations at the warning or the breach.
    public func escalations(at moment: SLAEscalation.Moment) -> [SLAEscalation] { (escalations ?? []).filter { $0.at == moment } }

    private var warnSeconds: Int? { warnAtPercent.map { targetSeconds * $0 / 100 } }

    private mutating func schedule(from start: Date) throws {
        let clock = try calendar.check()
        dueAt = clock.adding(max(targetSeconds - elapsedSeconds, 0), to: start)
        warnAt = warnSeconds.flatMap { $0 > elapsedSeconds ? clock.adding($0 - elapsedSeconds, to: start) : nil }
    }

    /// Business seconds counted by `now`.
    public func elapsed(at now: Date) throws -> Int {
        guard let since = runningSince else { return elapsedSeconds }
        return elapsedSeconds + (try calendar.check()).seconds(from: since, to: now)
    }

    /// Counted share of the target by `now`, in percent (past 100 once breached).
    public func percent(at now: Date) throws -> Double {
        targetSeconds == 0 ? 100 : Double(try elapsed(at: now)) * 100 / Double(targetSeconds)
    }

    /// Stops counting (the record waits on someone else). No-op unless running.
    public mutating func pause(at now: Date) throws {
        guard state == .running else { return }
        elapsedSeconds = try elapsed(at: now)
        runningSince = nil
        dueAt = nil
        warnAt = nil
        state = .paused
    }

    /// Counts again from `now`; the deadline moves by the business time spent paused.
    public mutating func resume(at now: Date) throws {
        guard state == .paused else { return }
        state = .running
        runningSince = now
        try schedule(from: now)
    }

    /// Stops for good: met when the target was reached in time (`now` not after the deadline;
    /// for a paused clock, its count within the target).
    public mutating func stop(at now: Date) throws {
        guard state == .running || state == .paused else { return }
        let counted = try elapsed(at: now)
        elapsedSeconds = counted
        state = counted <= targetSeconds && (dueAt.map { now <= $0 } ?? true) ? .met : .breached
        runningSince = nil
        dueAt = nil
        warnAt = nil
        stoppedAt = now
    }

    /// Marks a running clock breached at its deadline (it keeps counting for reports).
    public var isBreached: Bool { state == .breached }
}
