public import FoundationEssentials

/// Whether runs of one risk level wait for approval, and whose.
public struct ApprovalRule: Codable, Sendable, Equatable {
    public enum Mode: String, Codable, Sendable, CaseIterable { case anyOne = "any-one", allOf = "all-of" }

    public var required: Bool
    public var mode: Mode
    /// User names who may decide; empty: anyone with `approvals:decide` in the organization.
    /// `all-of` needs a list.
    public var approvers: [String]
    /// Whether the requester may approve their own run. Never honoured for high and destructive.
    public var allowSelfApproval: Bool
    public var expiresAfterMinutes: Int

    /// How long a run may wait for a decision, in minutes (up to 30 days).
    public static let expiryRange = 1...(30 * 24 * 60)

    public init(required: Bool, mode: Mode = .anyOne, approvers: [String] = [], allowSelfApproval: Bool = false, expiresAfterMinutes: Int = 24 * 60) {
        self.required = required
        self.mode = mode
        self.approvers = approvers
        self.allowSelfApproval = allowSelfApproval
        self.expiresAfterMinutes = expiresAfterMinutes
    }
}

/// An organization's approval rules, one per risk level.
public struct ApprovalPolicy: Codable, Sendable, Equatable {
    public var schemaVersion = 1
    /// By `RiskLevel.rawValue`.
    public var rules: [String: ApprovalRule]

    /// Read and low-risk runs go ahead; medium, high and destructive wait for one approver
    /// who is not the requester.
    public static let standard = ApprovalPolicy(rules: [
        RiskLevel.read.rawValue: ApprovalRule(required: false),
        RiskLevel.low.rawValue: ApprovalRule(required: false),
        RiskLevel.medium.rawValue: ApprovalRule(required: true),
        RiskLevel.high.rawValue: ApprovalRule(required: true),
        RiskLevel.destructive.rawValue: ApprovalRule(required: true, expiresAfterMinutes: 4 * 60),
    ])

    public init(rules: [String: ApprovalRule]) {
        self.rules = rules
    }

    public func rule(for risk: RiskLevel) -> ApprovalRule {
        rules[risk.rawValue] ?? Self.standard.rules[risk.rawValue]!
    }

    /// Throws `PortalError.invalid` naming the first problem.
    func validate() throws {
        guard schemaVersion == 1 else { throw PortalError.invalid("schemaVersion must be 1") }
        for (key, rule) in rules {
            guard let risk = RiskLevel(rawValue: key) else { throw PortalError.invalid("rules: unknown risk level '\(key)'") }
            guard ApprovalRule.expiryRange.contains(rule.expiresAfterMinutes) else {
                throw PortalError.invalid("rules.\(key).expiresAfterMinutes must be \(ApprovalRule.expiryRange.lowerBound)–\(ApprovalRule.expiryRange.upperBound)")
            }
            if rule.mode == .allOf && rule.approvers.isEmpty { throw PortalError.invalid("rules.\(key): all-of needs a list of approvers") }
            if risk >= .high && rule.allowSelfApproval { throw PortalError.invalid("rules.\(key): self-approval is never allowed for \(key) runs") }
            if risk >= .high && !rule.required { throw PortalError.invalid("rules.\(key): \(key) runs always need an approval") }
        }
    }
}

/// One approver's decision on a run.
public struct ApprovalDecision: Codable, Sendable, Equatable {
    public let userID: UUID
    public let username: String
    public let approve: Bool
    public let comment: String
    public let time: Date
}
