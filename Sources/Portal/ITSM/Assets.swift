public import FoundationEssentials
public import KV
import Logging

/// The CMDB: configuration items per organization and typed relations between them, kept in
/// both directions so that "what does this depend on" and "what depends on this" are each a
/// prefix read. Impact follows `runs-on` and `depends-on` backwards, transitively, each item
/// once (cycles end there). Every change is one transaction with its `asset.*` event and
/// audit entry; an import saves all its items and relations at once or nothing.
public final class Assets: Sendable {
    let environment: Environment
    let table: Table<CompositeKey<UUID, String>, JSONValue<Asset>>
    /// (organization, from, to) → kind.
    let outgoing: Table<CompositeKey3<UUID, String, String>, JSONValue<RelationKind>>
    /// (organization, to, from) → kind.
    let incoming: Table<CompositeKey3<UUID, String, String>, JSONValue<RelationKind>>
    let outbox: Outbox
    let clock: any WallClock

    /// The most items one organization keeps, and one import brings.
    public static let maxItems = 100_000
    public static let maxImport = 10_000
    /// The most items an impact answer lists.
    public static let maxImpact = 10_000

    init(environment: Environment, outbox: Outbox, clock: any WallClock) throws {
        self.environment = environment
        self.outbox = outbox
        self.clock = clock
        table = try environment.table("assets", key: CompositeKey<UUID, String>.self, value: JSONValue<Asset>.self)
        outgoing = try environment.table("asset_relations", key: CompositeKey3<UUID, String, String>.self, value: JSONValue<RelationKind>.self)
        incoming = try environment.table("asset_dependents", key: CompositeKey3<UUID, String, String>.self, value: JSONValue<RelationKind>.self)
    }

    /// 1 to 128 letters, digits, `.`, `_`, `-` and `:`, starting with a letter or digit (host
    /// names, service names, cloud resource names).
    public static func isValidName(_ name: String) -> Bool {
        guard (1...128).contains(name.utf8.count), let first = name.unicodeScalars.first, first.isASCIILetterOrDigit else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCIILetterOrDigit || ".-_:".unicodeScalars.contains($0) }
    }

    static func checkName(_ name: String, _ field: String = "name") throws {
        guard isValidName(name) else {
            throw PortalError.invalid("\(field): '\(name.prefix(64))' is not an item name (1 to 128 letters, digits, '.', '_', '-' or ':', starting with a letter or digit)")
        }
    }

    static func check(_ draft: AssetDraft) throws {
        try Incidents.checkText(draft.description ?? "", "description", 0...4000)
        if let owner = draft.owner { try Incidents.checkText(owner, "owner", 0...128) }
        let attributes = draft.attributes ?? [:]
        guard attributes.count <= 64 else { throw PortalError.invalid("attributes: at most 64") }
        for (key, value) in attributes {
            try Incidents.checkText(key, "an attribute's name", 1...64)
            try Incidents.checkText(value, "attribute '\(key.prefix(64))'", 0...1024)
        }
    }

    // MARK: Reading

    public func asset(_ name: String, in organizationID: UUID) throws -> Asset? {
        try environment.read { txn in try txn.get(table, (organizationID, name)) }
    }

    /// The item with its relations both ways.
    public func detail(_ name: String, in organizationID: UUID) throws -> AssetDetail {
        try environment.read { txn in
            guard let asset = try txn.get(table, (organizationID, name)) else { throw PortalError.notFound("configuration item") }
            var relations: [AssetRelation] = []
            var dependents: [AssetRelation] = []
            try txn.forEach(outgoing, prefix: CompositeKey3<UUID, String, String>.prefix(organizationID, name)) { (key, kind) throws(KVError) in
                relations.append(AssetRelation(from: name, kind: kind, to: key.2))
                return relations.count < Self.maxImpact
            }
            try txn.forEach(incoming, prefix: CompositeKey3<UUID, String, String>.prefix(organizationID, name)) { (key, kind) throws(KVError) in
                dependents.append(AssetRelation(from: key.2, kind: kind, to: name))
                return dependents.count < Self.maxImpact
            }
            return AssetDetail(asset: asset, relations: relations, dependents: dependents)
        }
    }

    /// Items in name order after `cursor`, of `type` when given.
    public func list(in organizationID: UUID, type: AssetType? = nil, limit: Int = 100, after cursor: String? = nil) throws -> [Asset] {
        try environment.read { txn in
            var items: [Asset] = []
            let prefix = CompositeKey<UUID, String>.prefix(organizationID)
            let body = { (key: (UUID, String), asset: Asset) throws(KVError) -> Bool in
                guard key.1 != cursor else { return true }
                if type == nil || asset.type == type { items.append(asset) }
                return items.count < limit
            }
            if let cursor {
                try txn.forEach(table, from: (organizationID, cursor), to: nil) { (key, asset) throws(KVError) in
                    guard key.0 == organizationID else { return false }
                    return try body(key, asset)
                }
            } else {
                try txn.forEach(table, prefix: prefix, body)
            }
            return items
        }
    }

    /// What fails with `name`: the items that run on or depend on it, and on those, and so
    /// on; nearest first, each once, whatever cycles the relations hold.
    public func impact(of name: String, in organizationID: UUID) throws -> [ImpactedAsset] {
        try environment.read { txn in
            guard try txn.get(table, (organizationID, name)) != nil else { throw PortalError.notFound("configuration item") }
            var seen: Set<String> = [name]
            var frontier = [name]
            var impacted: [ImpactedAsset] = []
            var depth = 0
            while !frontier.isEmpty, impacted.count < Self.maxImpact {
                depth += 1
                var next: [String] = []
                for item in frontier {
                    var sources: [(String, RelationKind)] = []
                    try txn.forEach(incoming, prefix: CompositeKey3<UUID, String, String>.prefix(organizationID, item)) { (key, kind) throws(KVError) in
                        if kind.carriesImpact { sources.append((key.2, kind)) }
                        return true
                    }
                    for (source, kind) in sources where impacted.count < Self.maxImpact && seen.insert(source).inserted {
                        guard let asset = try txn.get(table, (organizationID, source)) else { continue }
                        impacted.append(ImpactedAsset(name: source, type: asset.type, depth: depth, via: item, relation: kind))
                        next.append(source)
                    }
                }
                frontier = next
            }
            return impacted
        }
    }

    // MARK: Changing

    private func record(_ kind: EventKind, _ name: String, _ type: AssetType?, detail: String, organizationID: UUID, actor: Principal?, now: Date,
                        in txn: borrowing WriteTransaction) throws {
        try outbox.record(.asset(AssetEvent(kind: kind, name: name, type: type, actorID: actor?.user.id, detail: String(detail.prefix(500)))),
                          organizationID: organizationID, time: now,
                          audit: AuditEntry(time: now, organizationID: organizationID, principal: actor?.id, principalName: actor?.user.username,
                                            kind: kind.rawValue, outcome: "ok", detail: "\(name)" + (detail.isEmpty ? "" : ": \(detail.prefix(500))")), in: txn)
    }

    /// Creates or replaces an item's type, description, owner and attributes (its relations
    /// stay). An item saved by hand is no longer kept by its import.
    public func save(_ name: String, _ draft: AssetDraft, by principal: Principal) async throws -> Asset {
        let organizationID = try Incidents.organization(of: principal, needing: .assetsManage)
        try Self.checkName(name)
        try Self.check(draft)
        let now = clock.now()
        return try await environment.write { [self] txn in
            let previous = try txn.get(table, (organizationID, name))
            if previous == nil, try txn.count(table) >= Self.maxItems {
                throw PortalError.conflict("this portal keeps at most \(Self.maxItems) configuration items")
            }
            let asset = Asset(name: name, type: draft.type, description: draft.description ?? "", owner: draft.owner.flatMap { $0.isEmpty ? nil : $0 },
                              attributes: draft.attributes ?? [:], source: nil, createdAt: previous?.createdAt ?? now, updatedAt: now)
            if var unchanged = previous {
                unchanged.updatedAt = now
                if unchanged == asset { return previous! }
            }
            try txn.put(table, (organizationID, name), asset)
            try record(.assetSaved, name, asset.type, detail: previous == nil ? "created" : "updated", organizationID: organizationID, actor: principal, now: now, in: txn)
            return asset
        }
    }

    /// Removes an item and every relation to or from it.
    public func remove(_ name: String, by principal: Principal) async throws {
        let organizationID = try Incidents.organization(of: principal, needing: .assetsManage)
        let now = clock.now()
        try await environment.write { [self] txn in
            guard let asset = try txn.get(table, (organizationID, name)) else { throw PortalError.notFound("configuration item") }
            try removeItem(asset, organizationID: organizationID, txn: txn)
            try record(.assetRemoved, name, asset.type, detail: "", organizationID: organizationID, actor: principal, now: now, in: txn)
        }
    }

    @available(*, noasync)
    private func removeItem(_ asset: Asset, organizationID: UUID, txn: borrowing WriteTransaction) throws {
        var targets: [String] = []
        var sources: [String] = []
        try txn.forEach(outgoing, prefix: CompositeKey3<UUID, String, String>.prefix(organizationID, asset.name)) { (key, _) throws(KVError) in
            targets.append(key.2)
            return true
        }
        try txn.forEach(incoming, prefix: CompositeKey3<UUID, String, String>.prefix(organizationID, asset.name)) { (key, _) throws(KVError) in
            sources.append(key.2)
            return true
        }
        for target in targets {
            _ = try txn.delete(outgoing, (organizationID, asset.name, target))
            _ = try txn.delete(incoming, (organizationID, target, asset.name))
        }
        for source in sources {
            _ = try txn.delete(outgoing, (organizationID, source, asset.name))
            _ = try txn.delete(incoming, (organizationID, asset.name, source))
        }
        _ = try txn.delete(table, (organizationID, asset.name))
    }

    @available(*, noasync)
    private func putRelation(_ relation: AssetRelation, organizationID: UUID, txn: borrowing WriteTransaction) throws -> Bool {
        guard relation.from != relation.to else { throw PortalError.invalid("an item does not relate to itself ('\(relation.from.prefix(64))')") }
        for name in [relation.from, relation.to] where try txn.get(table, (organizationID, name)) == nil {
            throw PortalError.invalid("no configuration item '\(name.prefix(64))'")
        }
        guard try txn.get(outgoing, (organizationID, relation.from, relation.to)) != relation.kind else { return false }
        try txn.put(outgoing, (organizationID, relation.from, relation.to), relation.kind)
        try txn.put(incoming, (organizationID, relation.to, relation.from), relation.kind)
        return true
    }

    /// Sets how `from` stands to `to` (one relation per ordered pair: a new kind replaces the old).
    public func relate(_ relation: AssetRelation, by principal: Principal) async throws -> AssetDetail {
        let organizationID = try Incidents.organization(of: principal, needing: .assetsManage)
        try Self.checkName(relation.from, "from")
        try Self.checkName(relation.to, "to")
        let now = clock.now()
        try await environment.write { [self] txn in
            if try putRelation(relation, organizationID: organizationID, txn: txn) {
                try record(.assetRelated, relation.from, nil, detail: "\(relation.kind.rawValue) \(relation.to)", organizationID: organizationID,
                           actor: principal, now: now, in: txn)
            }
        }
        return try detail(relation.from, in: organizationID)
    }

    /// Removes the relation from `from` to `to`, whatever its kind.
    public func unrelate(_ from: String, _ to: String, by principal: Principal) async throws {
        let organizationID = try Incidents.organization(of: principal, needing: .assetsManage)
        let now = clock.now()
        try await environment.write { [self] txn in
            guard let kind = try txn.get(outgoing, (organizationID, from, to)) else { throw PortalError.notFound("relation") }
            _ = try txn.delete(outgoing, (organizationID, from, to))
            _ = try txn.delete(incoming, (organizationID, to, from))
            try record(.assetRelated, from, nil, detail: "no longer \(kind.rawValue) \(to)", organizationID: organizationID, actor: principal, now: now, in: txn)
        }
    }

    /// Saves an import's items and relations in one transaction. Items kept by hand are left
    /// as they are (counted unchanged); with `removeMissing`, the source's items the import
    /// no longer holds are removed with their relations.
    public func importItems(_ batch: AssetImport, by principal: Principal) async throws -> AssetImportResult {
        let organizationID = try Incidents.organization(of: principal, needing: .assetsManage)
        guard Incidents.isValidName(batch.source) else { throw PortalError.invalid("source: 1 to 64 lower-case letters, digits and '-', starting with a letter") }
        guard batch.items.count <= Self.maxImport, (batch.relations ?? []).count <= Self.maxImport * 4 else {
            throw PortalError.invalid("an import holds at most \(Self.maxImport) items and \(Self.maxImport * 4) relations")
        }
        var names: Set<String> = []
        for item in batch.items {
            try Self.checkName(item.name, "items[].name")
            try Self.check(AssetDraft(type: item.type, description: item.description, owner: item.owner, attributes: item.attributes))
            guard names.insert(item.name).inserted else { throw PortalError.invalid("items: '\(item.name.prefix(64))' appears twice") }
        }
        let now = clock.now()
        return try await environment.write { [self, names] txn in
            var created = 0, updated = 0, unchanged = 0, removed = 0, relations = 0
            for item in batch.items {
                let previous = try txn.get(table, (organizationID, item.name))
                if let previous, previous.source != batch.source {
                    unchanged += 1
                    continue
                }
                let asset = Asset(name: item.name, type: item.type, description: item.description ?? "", owner: item.owner.flatMap { $0.isEmpty ? nil : $0 },
                                  attributes: item.attributes ?? [:], source: batch.source, createdAt: previous?.createdAt ?? now, updatedAt: previous?.updatedAt ?? now)
                if asset == previous {
                    unchanged += 1
                    continue
                }
                var saved = asset
                saved.updatedAt = now
                try txn.put(table, (organizationID, item.name), saved)
                if previous == nil { created += 1 } else { updated += 1 }
            }
            if batch.removeMissing == true {
                var missing: [Asset] = []
                try txn.forEach(table, prefix: CompositeKey<UUID, String>.prefix(organizationID)) { (key, asset) throws(KVError) in
                    if asset.source == batch.source, !names.contains(key.1) { missing.append(asset) }
                    return true
                }
                for asset in missing { try removeItem(asset, organizationID: organizationID, txn: txn) }
                removed = missing.count
            }
            guard try txn.count(table) <= Self.maxItems else { throw PortalError.conflict("this portal keeps at most \(Self.maxItems) configuration items") }
            for relation in batch.relations ?? [] {
                try Self.checkName(relation.from, "relations[].from")
                try Self.checkName(relation.to, "relations[].to")
                if try putRelation(relation, organizationID: organizationID, txn: txn) { relations += 1 }
            }
            let result = AssetImportResult(created: created, updated: updated, unchanged: unchanged, removed: removed, relations: relations)
            try record(.assetImported, batch.source, nil, detail: "\(created) created, \(updated) updated, \(removed) removed, \(relations) relations",
                       organizationID: organizationID, actor: principal, now: now, in: txn)
            return result
        }
    }
}

extension Unicode.Scalar {
    var isASCIILetterOrDigit: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self) }
}
