/// What a principal may do within an organization. Routes and domain operations name the
/// permission they need; roles grant sets of them.
public enum Permission: String, CaseIterable, Codable, Sendable, Comparable {
    case chatUse = "chat:use"
    case toolsRead = "tools:read"
    case toolsRun = "tools:run"
    case toolsRunRisky = "tools:run-risky"
    case approvalsDecide = "approvals:decide"
    case auditRead = "audit:read"
    case sessionsReadAll = "sessions:read-all"
    case workflowsManage = "workflows:manage"
    /// Report incidents, read them, comment on one's own.
    case incidentsReport = "incidents:report"
    /// Work incidents: assign, change, move, link, comment internally.
    case incidentsWork = "incidents:work"
    /// Business calendars, SLAs and the priority matrix.
    case itsmManage = "itsm:manage"
    /// Read the CMDB: configuration items, their relations and impact.
    case assetsRead = "assets:read"
    /// Save, relate, import and remove configuration items.
    case assetsManage = "assets:manage"
    /// Open changes, plan them and move them along their path (the CAB authorizes).
    case changesRequest = "changes:request"
    case keysManage = "keys:manage"
    case usersManage = "users:manage"
    case organizationsManage = "orgs:manage"
    case admin = "admin"

    public static func < (a: Permission, b: Permission) -> Bool { a.rawValue < b.rawValue }
}

/// A member's role in an organization. Roles are ordered: each grants everything the one
/// below it grants, and more.
///
/// | permission | viewer | operator | admin |
/// | --- | :-: | :-: | :-: |
/// | chat:use, tools:read, incidents:report, assets:read | ✓ | ✓ | ✓ |
/// | tools:run, tools:run-risky (risky runs still wait for approval), keys:manage, incidents:work, assets:manage, changes:request | | ✓ | ✓ |
/// | approvals:decide, audit:read, sessions:read-all, workflows:manage, itsm:manage, users:manage, orgs:manage, admin | | | ✓ |
public enum Role: String, CaseIterable, Codable, Sendable, Comparable {
    case viewer
    case `operator`
    case admin

    public var permissions: Set<Permission> {
        switch self {
        case .viewer: [.chatUse, .toolsRead, .incidentsReport, .assetsRead]
        case .operator: Role.viewer.permissions.union([.toolsRun, .toolsRunRisky, .keysManage, .incidentsWork, .assetsManage, .changesRequest])
        case .admin: Set(Permission.allCases)
        }
    }

    private var rank: Int { Role.allCases.firstIndex(of: self)! }
    public static func < (a: Role, b: Role) -> Bool { a.rank < b.rank }
}
