import FoundationEssentials

/// What the portal ships for workflows: the published JSON Schema of a definition and the
/// ready-made templates (each valid against it and against `problems()`, checked by tests).
public enum WorkflowLibrary {
    /// The JSON Schema (draft 2020-12) of a definition, with each step type's `config`.
    public static let schema: JSONAny = JSONAny(json: PackageResources.workflow_schema_json) ?? .null

    /// A ready-made workflow, and the ones it runs as sub-workflows (imported with it).
    public struct Template: Codable, Sendable, Equatable {
        public let summary: String
        public let requires: [String]?
        public let definition: WorkflowDefinition
    }

    public static let templates: [Template] = {
        struct File: Decodable { let templates: [Template] }
        return (try? JSONDecoder().decode(File.self, from: Data(PackageResources.WorkflowTemplates_json)).templates) ?? []
    }()
}

/// What changed between two versions of a workflow.
public struct WorkflowDiff: Codable, Sendable, Equatable {
    public struct StepChange: Codable, Sendable, Equatable {
        public let id: String
        /// The step's fields that differ (`type`, `config`, `retry`, …).
        public let fields: [String]
    }

    public let from: Int
    public let to: Int
    public let addedSteps: [String]
    public let removedSteps: [String]
    public let changedSteps: [StepChange]
    public let addedEdges: [WorkflowEdge]
    public let removedEdges: [WorkflowEdge]
    /// Workflow-level fields that differ (`title`, `inputs`, `outputs`, `triggers`, …).
    public let changedFields: [String]

    public init(from old: WorkflowVersion, to new: WorkflowVersion) {
        from = old.version
        to = new.version
        let a = old.definition, b = new.definition
        let oldIDs = Set(a.nodes.map(\.id)), newIDs = Set(b.nodes.map(\.id))
        addedSteps = b.nodes.map(\.id).filter { !oldIDs.contains($0) }
        removedSteps = a.nodes.map(\.id).filter { !newIDs.contains($0) }
        changedSteps = b.nodes.compactMap { node in
            guard let before = a.node(node.id) else { return nil }
            var fields: [String] = []
            if before.type != node.type { fields.append("type") }
            if before.title != node.title { fields.append("title") }
            if before.config != node.config { fields.append("config") }
            if before.timeoutSeconds != node.timeoutSeconds { fields.append("timeoutSeconds") }
            if before.retry != node.retry { fields.append("retry") }
            if before.onFailure != node.onFailure { fields.append("onFailure") }
            if before.position != node.position { fields.append("position") }
            return fields.isEmpty ? nil : StepChange(id: node.id, fields: fields)
        }
        let oldEdges = Set(a.edges), newEdges = Set(b.edges)
        addedEdges = b.edges.filter { !oldEdges.contains($0) }
        removedEdges = a.edges.filter { !newEdges.contains($0) }
        var fields: [String] = []
        if a.title != b.title { fields.append("title") }
        if a.description != b.description { fields.append("description") }
        if a.inputs != b.inputs { fields.append("inputs") }
        if a.variables != b.variables { fields.append("variables") }
        if a.outputs != b.outputs { fields.append("outputs") }
        if a.concurrency != b.concurrency { fields.append("concurrency") }
        if a.triggers != b.triggers { fields.append("triggers") }
        changedFields = fields
    }
}
