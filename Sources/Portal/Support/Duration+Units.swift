public import FoundationEssentials

extension Duration {
    /// The duration in seconds, as a fraction.
    public var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }

    /// The duration in milliseconds, for logs, timeouts and measured run times.
    public var milliseconds: Double { Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15 }
}

extension ContinuousClock.Instant {
    /// Milliseconds from this instant until now, to two decimals.
    public var elapsedMilliseconds: Double { ((ContinuousClock.now - self).milliseconds * 100).rounded() / 100 }
}
