public import FoundationEssentials
import Synchronization

/// Where the portal reads the time of day for what expires (sessions, API keys, sign-in
/// throttling). The server uses `SystemClock`; tests pass a `ManualClock` they move, so that
/// an expiry is proven by moving time, never by waiting for it.
public protocol WallClock: Sendable {
    func now() -> Date
}

/// The system's time of day.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that stands still until told to move. Guarantees: `now()` only changes through
/// `advance(by:)` and `set(_:)`, and is safe to read from any thread.
public final class ManualClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date()) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.addingTimeInterval(duration.timeInterval) }
    }

    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
