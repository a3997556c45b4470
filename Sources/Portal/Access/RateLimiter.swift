public import FoundationEssentials
public import KV
import Synchronization

/// Which budget a request draws from.
public enum RateClass: String, Sendable, CaseIterable, Codable {
    /// Password sign-ins, per client address. Kept well above what one account may try
    /// (`SignInPolicy`), so that everyone behind one office NAT can sign in at nine.
    case signIn = "sign-in"
    /// Single sign-ons, started and finished, per client address: the provider checks the
    /// credentials, and each attempt's state is single use.
    case singleSignOn = "sso"
    case read
    case write
    case toolRun = "tool-run"
}

/// A budget: `perMinute` tokens refill continuously, up to `burst`.
public struct RateLimit: Sendable, Equatable, Codable {
    public var perMinute: Double
    public var burst: Double

    public init(perMinute: Double, burst: Double) {
        self.perMinute = perMinute
        self.burst = burst
    }

    public static let defaults: [RateClass: RateLimit] = [
        .signIn: RateLimit(perMinute: 120, burst: 60),
        .singleSignOn: RateLimit(perMinute: 300, burst: 100),
        .read: RateLimit(perMinute: 1_200, burst: 200),
        .write: RateLimit(perMinute: 300, burst: 60),
        .toolRun: RateLimit(perMinute: 30, burst: 10),
    ]
}

/// The outcome of taking one token.
public struct RateDecision: Sendable, Equatable {
    public let allowed: Bool
    public let limit: Int
    public let remaining: Int
    /// Seconds until a token is available again (0 when allowed).
    public let retryAfter: Int
}

/// Token buckets per (class, subject), where a subject is a principal or a client address.
///
/// Guarantees: deciding takes one lock and no I/O. State survives a restart: `flush()` writes
/// the buckets changed since the last flush in one transaction (the server calls it every
/// second and at shutdown, so a crash loses at most about a second of state, and no request
/// waits for an fsync); `init` loads what was flushed. Buckets that would be full again are
/// dropped instead of stored.
public final class RateLimiter: Sendable {
    struct Bucket: Codable, Equatable {
        var tokens: Double
        var updated: Date
    }

    let environment: Environment
    let table: Table<StringKey, JSONValue<Bucket>>
    public let limits: [RateClass: RateLimit]
    let clock: any WallClock
    private let state: Mutex<(buckets: [String: Bucket], dirty: Set<String>)>

    public init(environment: Environment, limits: [RateClass: RateLimit] = RateLimit.defaults, clock: any WallClock = SystemClock()) throws {
        self.environment = environment
        self.limits = limits
        self.clock = clock
        table = try environment.table("rate_limits", key: StringKey.self, value: JSONValue<Bucket>.self)
        var loaded: [String: Bucket] = [:]
        let table = self.table
        try environment.read { txn in
            try txn.forEach(table) { (key, bucket) throws(KVError) in
                loaded[key] = bucket
                return true
            }
        }
        state = Mutex((loaded, []))
    }

    /// Takes a token from the bucket of `subject` in `rateClass`.
    public func take(_ rateClass: RateClass, subject: String, now: Date? = nil) -> RateDecision {
        let now = now ?? clock.now()
        let limit = limits[rateClass] ?? RateLimit.defaults[rateClass]!
        let key = rateClass.rawValue + "|" + subject
        return state.withLock { state -> RateDecision in
            var bucket = state.buckets[key] ?? Bucket(tokens: limit.burst, updated: now)
            let elapsed = max(0, now.timeIntervalSince(bucket.updated))
            bucket.tokens = min(limit.burst, bucket.tokens + elapsed * limit.perMinute / 60)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            state.buckets[key] = bucket
            state.dirty.insert(key)
            let wait = allowed ? 0 : Int(((1 - bucket.tokens) * 60 / limit.perMinute).rounded(.up))
            return RateDecision(allowed: allowed, limit: Int(limit.burst), remaining: Int(bucket.tokens), retryAfter: max(wait, allowed ? 0 : 1))
        }
    }

    /// Writes the buckets changed since the last flush (one transaction); deletes those that
    /// are full again. Returns how many it wrote or deleted.
    @discardableResult
    public func flush(now: Date? = nil) async throws -> Int {
        let now = now ?? clock.now()
        let (changed, full) = state.withLock { state -> ([(String, Bucket)], [String]) in
            var changed: [(String, Bucket)] = [], full: [String] = []
            for key in state.dirty {
                guard let bucket = state.buckets[key] else { continue }
                let rateClass = RateClass(rawValue: String(key.prefix { $0 != "|" })) ?? .read
                let limit = limits[rateClass] ?? RateLimit.defaults[rateClass]!
                let refilled = bucket.tokens + max(0, now.timeIntervalSince(bucket.updated)) * limit.perMinute / 60
                if refilled >= limit.burst {
                    full.append(key)
                    state.buckets[key] = nil
                } else {
                    changed.append((key, bucket))
                }
            }
            state.dirty.removeAll()
            return (changed, full)
        }
        guard !changed.isEmpty || !full.isEmpty else { return 0 }
        try await environment.write { [table] txn in
            for (key, bucket) in changed { try txn.put(table, key, bucket) }
            for key in full { try txn.delete(table, key) }
        }
        return changed.count + full.count
    }
}
