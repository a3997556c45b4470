public import FoundationEssentials

/// How failed password sign-ins are throttled. Configurable (`signin.*`); the defaults are
/// what the README documents.
///
/// Three counts of failures in a sliding `window`, each on its own:
/// - one account from one address (`failuresPerAccountAndAddress`): that pair waits until its
///   oldest failure leaves the window — a guesser at one address gets a few tries an hour;
/// - one address over every account (`failuresPerAddress`): the address waits — one address
///   cannot spray passwords over many accounts;
/// - one account from every address (`accountFailuresBeforeDelay`): past it, each address
///   that failed on that account must wait, after its own latest failure there, a delay that
///   grows one second per further failure of the account, up to `maximumAccountDelaySeconds`.
///   An address with no failures on the account is never held up, so a flood of wrong
///   passwords for `admin` from anywhere cannot lock the real administrator out.
public struct SignInPolicy: Sendable, Equatable {
    public var failuresPerAccountAndAddress: Int
    public var failuresPerAddress: Int
    public var accountFailuresBeforeDelay: Int
    public var maximumAccountDelaySeconds: Int
    public var window: Duration

    public init(failuresPerAccountAndAddress: Int = 5, failuresPerAddress: Int = 30, accountFailuresBeforeDelay: Int = 10,
                maximumAccountDelaySeconds: Int = 60, window: Duration = .seconds(15 * 60)) {
        self.failuresPerAccountAndAddress = failuresPerAccountAndAddress
        self.failuresPerAddress = failuresPerAddress
        self.accountFailuresBeforeDelay = accountFailuresBeforeDelay
        self.maximumAccountDelaySeconds = maximumAccountDelaySeconds
        self.window = window
    }
}

/// Failed sign-ins per account, per address and per (account, address) in a sliding window
/// (see `SignInPolicy`). Kept in memory: a restart forgets them.
///
/// Guarantees: memory stays bounded — each key keeps at most the failures its rule can count,
/// and keys whose failures all left the window are dropped once there are many of them.
struct SignInThrottle {
    let policy: SignInPolicy
    private var failures: [String: [Date]] = [:]
    private var sweepAt = 10_000

    init(policy: SignInPolicy) {
        self.policy = policy
    }

    private var window: TimeInterval { policy.window.timeInterval }

    /// The counters of `account` and `address`; an IPv6 address counts as its /64
    /// (`NetworkRange.subject`).
    private static func keys(account: String, address: String) -> (pair: String, address: String, account: String) {
        let account = account.lowercased(), address = NetworkRange.subject(address)
        return ("pair:\(account)|\(address)", "ip:\(address)", "user:\(account)")
    }

    /// Whole seconds `address` must wait before trying `account` again, or `nil`.
    mutating func wait(account: String, address: String, now: Date) -> Int? {
        let keys = Self.keys(account: account, address: address)
        var until: Date?
        func waitUntil(_ date: Date) { if date > now { until = max(until ?? date, date) } }

        let pair = recent(keys.pair, now: now)
        if pair.count >= policy.failuresPerAccountAndAddress, let oldest = pair.first { waitUntil(oldest.addingTimeInterval(window)) }
        let fromAddress = recent(keys.address, now: now)
        if fromAddress.count >= policy.failuresPerAddress, let oldest = fromAddress.first { waitUntil(oldest.addingTimeInterval(window)) }
        let forAccount = recent(keys.account, now: now)
        if forAccount.count >= policy.accountFailuresBeforeDelay, let latest = pair.last {
            let delay = min(policy.maximumAccountDelaySeconds, forAccount.count - policy.accountFailuresBeforeDelay + 1)
            waitUntil(latest.addingTimeInterval(TimeInterval(delay)))
        }
        return until.map { max(1, Int($0.timeIntervalSince(now).rounded(.up))) }
    }

    mutating func recordFailure(account: String, address: String, now: Date) {
        let keys = Self.keys(account: account, address: address)
        append(now, to: keys.pair, keep: policy.failuresPerAccountAndAddress)
        append(now, to: keys.address, keep: policy.failuresPerAddress)
        append(now, to: keys.account, keep: policy.accountFailuresBeforeDelay + policy.maximumAccountDelaySeconds)
        if failures.count >= sweepAt { sweep(now: now) }
    }

    /// A correct password clears the failures of that account from that address only: the
    /// others were someone else's.
    mutating func recordSuccess(account: String, address: String) {
        failures[Self.keys(account: account, address: address).pair] = nil
    }

    /// How many keys are tracked (for tests of the memory bound).
    var trackedKeys: Int { failures.count }

    private mutating func recent(_ key: String, now: Date) -> [Date] {
        guard let dates = failures[key] else { return [] }
        let recent = dates.filter { now.timeIntervalSince($0) < window }
        failures[key] = recent.isEmpty ? nil : recent
        return recent
    }

    private mutating func append(_ date: Date, to key: String, keep: Int) {
        var dates = failures[key, default: []]
        dates.append(date)
        if dates.count > keep { dates.removeFirst(dates.count - keep) }
        failures[key] = dates
    }

    /// Drops keys whose failures all left the window; the next sweep comes when the map has
    /// doubled, so sweeping costs O(1) amortized per failure.
    private mutating func sweep(now: Date) {
        failures = failures.filter { _, dates in dates.last.map { now.timeIntervalSince($0) < window } ?? false }
        sweepAt = max(10_000, failures.count * 2)
    }
}
