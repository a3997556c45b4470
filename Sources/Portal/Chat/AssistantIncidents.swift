import FoundationEssentials

/// The assistant's incident functions: `itsm.open-incident` and `itsm.find-incidents`
/// (`itsm_…` for the model), offered to everyone who may report incidents and run as the
/// person asking, through the same service as the pages and the API.
extension Assistant {
    static let itsmPrefix = "itsm."

    static func incidentDefinitions(for principal: Principal) -> [ModelToolDefinition] {
        guard principal.has(.incidentsReport) else { return [] }
        let level = JSONAny.object(["type": .string("string"), "enum": .array(Level.allCases.map { .string($0.rawValue) })])
        let open = JSONAny.object([
            "type": .string("object"), "required": .array([.string("title")]), "additionalProperties": .bool(false),
            "properties": .object([
                "title": .object(["type": .string("string"), "maxLength": .number(200)]),
                "description": .object(["type": .string("string")]),
                "impact": level, "urgency": level,
                "service": .object(["type": .string("string"), "description": .string("The affected service or configuration item, by name.")]),
            ]),
        ])
        let find = JSONAny.object([
            "type": .string("object"), "additionalProperties": .bool(false),
            "properties": .object([
                "state": .object(["type": .string("string"), "enum": .array(IncidentState.allCases.map { .string($0.rawValue) })]),
                "service": .object(["type": .string("string")]),
                "words": .object(["type": .string("string"), "description": .string("Words the title or description holds.")]),
            ]),
        ])
        return [
            ModelToolDefinition(name: ToolDefinitions.modelName(itsmPrefix + "open-incident"),
                                description: "Opens an incident as the person asking. Impact and urgency (high, medium, low; medium when not said) give its priority by the organization's matrix; its SLA clocks start.",
                                parameters: open),
            ModelToolDefinition(name: ToolDefinitions.modelName(itsmPrefix + "find-incidents"),
                                description: "Finds the organization's incidents, newest first (at most 20): by state, by service, by words in the title or description.",
                                parameters: find),
        ]
    }

    /// Runs an incident function and says what happened, for the model to tell.
    func callIncidentFunction(_ name: String, input: JSONAny, by principal: Principal) async -> String {
        do {
            switch name {
            case "open-incident":
                let level = { (key: String) in input[key]?.string.flatMap(Level.init(rawValue:)) ?? .medium }
                let draft = IncidentDraft(title: input["title"]?.string ?? "", description: input["description"]?.string, impact: level("impact"),
                                          urgency: level("urgency"), service: input["service"]?.string.flatMap { $0.isEmpty ? nil : $0 })
                let incident = try await incidents.open(draft, by: principal)
                let deadlines = incident.slas.compactMap { clock in clock.dueAt.map { "\(clock.target.rawValue) due \($0.ISO8601Format())" } }
                return "Opened \(incident.reference) (priority P\(incident.priority)): \(incident.title). Its page: #/incidents/\(incident.id)."
                    + (deadlines.isEmpty ? "" : " SLA: \(deadlines.joined(separator: "; ")).")
            case "find-incidents":
                guard let organizationID = principal.organizationID, principal.has(.incidentsReport) else { return "error: this needs the incidents:report permission" }
                let state = input["state"]?.string.flatMap(IncidentState.init(rawValue:))
                let words = (input["words"]?.string ?? "").lowercased().split(separator: " ").map(String.init)
                var found: [Incident]
                if let service = input["service"]?.string, !service.isEmpty {
                    found = try incidents.incidents(onService: service, in: organizationID, limit: 200)
                } else {
                    found = try incidents.list(in: organizationID, states: state.map { [$0] } ?? [], limit: 500)
                }
                found = found.filter { incident in
                    (state == nil || incident.state == state)
                        && words.allSatisfy { incident.title.lowercased().contains($0) || incident.description.lowercased().contains($0) }
                }
                guard !found.isEmpty else { return "No incident matches." }
                return found.prefix(20).map { incident in
                    "\(incident.reference) P\(incident.priority) \(incident.state.rawValue): \(incident.title)"
                        + (incident.service.map { " (service \($0))" } ?? "") + (incident.assigneeName.map { ", assigned to \($0)" } ?? "")
                        + " #/incidents/\(incident.id)"
                }.joined(separator: "\n")
            default:
                return "error: no function \(Self.itsmPrefix)\(name)"
            }
        } catch {
            return "error: " + ((error as? PortalError)?.message ?? "\(error)")
        }
    }
}
