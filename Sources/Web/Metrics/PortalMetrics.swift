public import Prometheus
import KV
import Portal

/// The portal's Prometheus metrics, in one registry: requests by route, method and status,
/// their durations, requests in flight, rate-limit refusals, sign-ins by outcome, and (read
/// when scraped) storage statistics. Route labels are registered patterns, so their number
/// is bounded.
public final class PortalMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let inFlight: Gauge
    let rateLimited: Counter
    static let durationBuckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                                              .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10)]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        inFlight = registry.makeGauge(name: "portal_http_requests_in_flight", help: "HTTP requests being handled now.")
        rateLimited = registry.makeCounter(name: "portal_rate_limited_total", help: "Requests refused by the rate limiter.")
    }

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        registry.makeCounter(name: "portal_http_requests_total", labels: [("route", route), ("method", method), ("status", String(status))],
                             help: "HTTP requests answered, by route pattern, method and status.").increment()
        registry.makeDurationHistogram(name: "portal_http_request_duration_seconds", labels: [("route", route), ("method", method)],
                                       buckets: Self.durationBuckets, help: "Time to answer HTTP requests.").record(duration)
    }

    /// `method`: `password` or `sso`; `outcome`: `success`, `failure` or `throttled`.
    func recordSignIn(method: String, outcome: String) {
        registry.makeCounter(name: "portal_sign_ins_total", labels: [("method", method), ("outcome", outcome)], help: "Sign-ins by method and outcome.").increment()
    }

    /// The text exposition, with storage statistics read now.
    func exposition(environment: Environment) -> [UInt8] {
        if let statistics = try? environment.statistics() {
            registry.makeGauge(name: "portal_storage_map_bytes", help: "Size of the storage map.").set(to: Double(statistics.mapSize))
            registry.makeGauge(name: "portal_storage_used_bytes", help: "Bytes of the map in use.").set(to: Double(statistics.usedBytes))
            registry.makeGauge(name: "portal_storage_readers", help: "Reader slots in use.").set(to: Double(statistics.readersInUse))
        }
        let writer = environment.writerStatistics
        registry.makeGauge(name: "portal_storage_commits", help: "Write transactions committed since start (group commits).").set(to: Double(writer.batches))
        registry.makeGauge(name: "portal_storage_writes", help: "Write requests committed since start.").set(to: Double(writer.writes))
        registry.makeGauge(name: "portal_storage_largest_batch", help: "Most writes committed together since start.").set(to: Double(writer.largestBatch))
        return registry.emitToBuffer()
    }
}
