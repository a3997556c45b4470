import Foundation
@testable import Portal
import Testing

/// The throttle's rules on their own, and its memory bound under a spray of names.
@Suite struct SignInThrottleUnitTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func failuresLeaveTheWindowAndSuccessClearsOnlyItsPair() {
        var throttle = SignInThrottle(policy: SignInPolicy())
        for second in 0..<5 { throttle.recordFailure(account: "Admin", address: "a", now: start.addingTimeInterval(Double(second))) }
        // Account names compare without case.
        #expect(throttle.wait(account: "admin", address: "a", now: start.addingTimeInterval(5)) == 900 - 5)
        #expect(throttle.wait(account: "admin", address: "b", now: start.addingTimeInterval(5)) == nil)
        // The oldest failure leaves the 15-minute window: the pair may try again.
        #expect(throttle.wait(account: "admin", address: "a", now: start.addingTimeInterval(900)) == nil)
        throttle.recordFailure(account: "admin", address: "b", now: start)
        throttle.recordSuccess(account: "admin", address: "b")
        for second in 0..<4 { throttle.recordFailure(account: "admin", address: "b", now: start.addingTimeInterval(Double(second))) }
        #expect(throttle.wait(account: "admin", address: "b", now: start.addingTimeInterval(5)) == nil, "the success cleared b's earlier failure")
    }

    @Test func accountPacingGrowsOneSecondPerFailureUpToTheCap() {
        var throttle = SignInThrottle(policy: SignInPolicy(accountFailuresBeforeDelay: 3, maximumAccountDelaySeconds: 5))
        for index in 0..<3 { throttle.recordFailure(account: "vera", address: "x\(index)", now: start) }
        #expect(throttle.wait(account: "vera", address: "x0", now: start) == 1)
        for index in 3..<20 { throttle.recordFailure(account: "vera", address: "x\(index)", now: start) }
        #expect(throttle.wait(account: "vera", address: "x0", now: start) == 5, "capped")
        #expect(throttle.wait(account: "vera", address: "fresh", now: start) == nil)
    }

    @Test func memoryStaysBoundedUnderASprayOfNames() {
        var throttle = SignInThrottle(policy: SignInPolicy())
        // 50,000 random names, one failure each, spread over an hour: only the last window's remain.
        for index in 0..<50_000 {
            throttle.recordFailure(account: "name-\(index)", address: "198.51.100.\(index % 200)", now: start.addingTimeInterval(Double(index) * 0.072))
        }
        // Each failure adds at most two keys (pair, account) plus the address; after sweeps,
        // roughly the last 15 minutes of them are kept (12,500 failures → ~25,000 keys).
        #expect(throttle.trackedKeys < 60_000, "\(throttle.trackedKeys) keys")
        #expect(throttle.trackedKeys > 0)
    }
}
