public import FoundationEssentials
public import KV

/// What kind of thing a configuration item is.
public enum AssetType: String, Codable, Sendable, CaseIterable {
    case host, service, database, instance, network, application
}

/// How one configuration item stands to another: `a runs-on b`, `a depends-on b`,
/// `a connects-to b`.
public enum RelationKind: String, Codable, Sendable, CaseIterable {
    case runsOn = "runs-on"
    case dependsOn = "depends-on"
    case connectsTo = "connects-to"

    /// Whether trouble in the target reaches the source: what runs on a host or depends on a
    /// database is hit when it fails; a connection is only a path between the two.
    public var carriesImpact: Bool { self != .connectsTo }
}

/// A configuration item of the CMDB: a host, a service, a database… with its owner and
/// attributes. Named uniquely in its organization; `source` says which import keeps it
/// (nil: kept by hand).
public struct Asset: Codable, Sendable, Equatable {
    public let name: String
    public var type: AssetType
    public var description: String
    /// Who answers for it: a user name or a team.
    public var owner: String?
    public var attributes: [String: String]
    public var source: String?
    public let createdAt: Date
    public var updatedAt: Date
}

/// What to save of a configuration item (`PUT /api/assets/{name}`).
public struct AssetDraft: Codable, Sendable {
    public var type: AssetType
    public var description: String?
    public var owner: String?
    public var attributes: [String: String]?

    public init(type: AssetType, description: String? = nil, owner: String? = nil, attributes: [String: String]? = nil) {
        self.type = type
        self.description = description
        self.owner = owner
        self.attributes = attributes
    }
}

/// `from kind to`, between two items of one organization.
public struct AssetRelation: Codable, Sendable, Hashable {
    public let from: String
    public let kind: RelationKind
    public let to: String

    public init(from: String, kind: RelationKind, to: String) {
        self.from = from
        self.kind = kind
        self.to = to
    }
}

/// An item and how it stands to others, both ways.
public struct AssetDetail: Codable, Sendable, Equatable {
    public let asset: Asset
    /// Relations from this item (`this kind other`).
    public let relations: [AssetRelation]
    /// Relations to this item (`other kind this`).
    public let dependents: [AssetRelation]
}

/// An item hit when another fails, at `depth` steps, through `via` (the item one step
/// closer to the failing one, on a shortest path) and the relation from it.
public struct ImpactedAsset: Codable, Sendable, Equatable {
    public let name: String
    public let type: AssetType
    public let depth: Int
    public let via: String
    public let relation: RelationKind
}

/// Items and relations from one source, saved together; a refresh (`removeMissing`) removes
/// the source's items this import no longer holds.
public struct AssetImport: Codable, Sendable {
    public struct Item: Codable, Sendable {
        public let name: String
        public let type: AssetType
        public let description: String?
        public let owner: String?
        public let attributes: [String: String]?

        public init(name: String, type: AssetType, description: String? = nil, owner: String? = nil, attributes: [String: String]? = nil) {
            self.name = name
            self.type = type
            self.description = description
            self.owner = owner
            self.attributes = attributes
        }
    }

    /// Names the import (`oci`, `inventory-2026`…), 1 to 64 lower-case letters, digits and `-`.
    public let source: String
    public let items: [Item]
    public let relations: [AssetRelation]?
    public let removeMissing: Bool?

    public init(source: String, items: [Item], relations: [AssetRelation]? = nil, removeMissing: Bool? = nil) {
        self.source = source
        self.items = items
        self.relations = relations
        self.removeMissing = removeMissing
    }
}

/// What an import changed.
public struct AssetImportResult: Codable, Sendable, Equatable {
    public let created: Int
    public let updated: Int
    public let unchanged: Int
    public let removed: Int
    public let relations: Int
}

/// An item saved, removed or related, for webhooks and workflow triggers.
public struct AssetEvent: Codable, Sendable, Equatable {
    public let kind: EventKind
    public let name: String
    public let type: AssetType?
    public let actorID: UUID?
    public let detail: String
}
