import FoundationEssentials

/// The assistant's ITSM functions (`itsm_…` for the model): `itsm.open-incident` and
/// `itsm.find-incidents` for everyone who may report incidents, `itsm.update-incident` for
/// those who work them, `itsm.propose-change` for those who may request changes. Each runs as
/// the person asking, through the same services as the pages and the API, so permissions,
/// checks, the timeline and the events are theirs.
extension Assistant {
    static let itsmPrefix = "itsm."

    static func itsmDefinitions(for principal: Principal) -> [ModelToolDefinition] {
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
        let text = JSONAny.object(["type": .string("string")])
        let update = JSONAny.object([
            "type": .string("object"), "required": .array([.string("incident")]), "additionalProperties": .bool(false),
            "properties": .object([
                "incident": .object(["type": .string("string"), "description": .string("Its reference (INC-12).")]),
                "impact": level, "urgency": level,
                "assignee": .object(["type": .string("string"), "description": .string("A member's user name; empty for nobody.")]),
                "major": .object(["type": .string("boolean")]),
                "comment": text,
                "internal": .object(["type": .string("boolean"), "description": .string("The comment is for the team only (not the reporter).")]),
                "state": .object(["type": .string("string"), "enum": .array(IncidentState.allCases.filter { $0 != .new }.map { .string($0.rawValue) })]),
                "reason": .object(["type": .string("string"), "description": .string("Pending: what it waits for.")]),
                "resolutionCode": .object(["type": .string("string"), "enum": .array(ResolutionCode.allCases.map { .string($0.rawValue) })]),
                "notes": .object(["type": .string("string"), "description": .string("Resolved: how.")]),
            ]),
        ])
        let time = JSONAny.object(["type": .string("string"), "format": .string("date-time")])
        let propose = JSONAny.object([
            "type": .string("object"), "required": .array([.string("title")]), "additionalProperties": .bool(false),
            "properties": .object([
                "type": .object(["type": .string("string"), "enum": .array([.string("normal"), .string("emergency"), .string("standard")])]),
                "template": .object(["type": .string("string"), "description": .string("A standard change's pre-approved template.")]),
                "title": .object(["type": .string("string"), "maxLength": .number(200)]),
                "description": text, "risk": level, "impact": level, "backoutPlan": text,
                "assets": .object(["type": .string("array"), "items": .object(["type": .string("string")]), "description": .string("The configuration items it changes, by name.")]),
                "windowStart": time, "windowEnd": time,
                "implementationWorkflow": .object(["type": .string("string"), "description": .string("The workflow that implements it, by name.")]),
            ]),
        ])
        var definitions = [
            ModelToolDefinition(name: ToolDefinitions.modelName(itsmPrefix + "open-incident"),
                                description: "Opens an incident as the person asking. Impact and urgency (high, medium, low; medium when not said) give its priority by the organization's matrix; its SLA clocks start.",
                                parameters: open),
            ModelToolDefinition(name: ToolDefinitions.modelName(itsmPrefix + "find-incidents"),
                                description: "Finds the organization's incidents, newest first (at most 20): by state, by service, by words in the title or description.",
                                parameters: find),
        ]
        if principal.has(.incidentsWork) {
            definitions.append(ModelToolDefinition(name: ToolDefinitions.modelName(itsmPrefix + "update-incident"),
                                                   description: "Works an incident as the person asking: changes its impact, urgency (the priority follows), assignee or major flag, adds a comment, and moves it to another state (pending needs a reason, resolved a resolution code), in that order.",
                                                   parameters: update))
        }
        if principal.has(.changesRequest) {
            definitions.append(ModelToolDefinition(name: ToolDefinitions.modelName(itsmPrefix + "propose-change"),
                                                   description: "Proposes a change as the person asking: it is opened as new, for them to review and send on to assessment and the CAB (a standard change follows a pre-approved template). Nothing is implemented.",
                                                   parameters: propose))
        }
        return definitions
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
            case "update-incident":
                return try await updateIncident(input, by: principal)
            case "propose-change":
                let level = { (key: String) in input[key]?.string.flatMap(Level.init(rawValue:)) }
                let time = { (key: String) throws -> Date? in
                    guard let text = input[key]?.string else { return nil }
                    guard let date = RFC3339.date(text) else { throw PortalError.invalid("\(key): '\(text.prefix(40))' is not an RFC 3339 time") }
                    return date
                }
                let draft = ChangeDraft(type: input["type"]?.string.flatMap(ChangeType.init(rawValue:)) ?? .normal, template: input["template"]?.string,
                                        title: input["title"]?.string, description: input["description"]?.string, risk: level("risk"), impact: level("impact"),
                                        assets: input["assets"]?.strings, windowStart: try time("windowStart"), windowEnd: try time("windowEnd"),
                                        implementationWorkflow: input["implementationWorkflow"]?.string, backoutPlan: input["backoutPlan"]?.string)
                let change = try await changes.open(draft, by: principal)
                return "Proposed \(change.reference) (\(change.type.rawValue), \(change.state.rawValue)): \(change.title). Its page: #/changes/\(change.id). "
                    + "It waits there for the requester to review it and send it on; nothing is implemented yet."
            default:
                return "error: no function \(Self.itsmPrefix)\(name)"
            }
        } catch {
            return "error: " + ((error as? PortalError)?.message ?? "\(error)")
        }
    }

    /// The fields, then the comment, then the move; says what was done before any refusal.
    private func updateIncident(_ input: JSONAny, by principal: Principal) async throws -> String {
        guard let organizationID = principal.organizationID else { return "error: choose an organization first" }
        let reference = input["incident"]?.string ?? ""
        guard var incident = try incidents.incident(reference: reference, in: organizationID) else { return "error: no incident \(reference.prefix(40))" }
        var done: [String] = []
        do {
            let level = { (key: String) in input[key]?.string.flatMap(Level.init(rawValue:)) }
            let fields = IncidentUpdate(impact: level("impact"), urgency: level("urgency"), assignee: input["assignee"]?.string, major: input["major"]?.bool)
            if fields.impact != nil || fields.urgency != nil || fields.assignee != nil || fields.major != nil {
                incident = try await incidents.update(incident.id, fields, by: principal)
                done.append("updated")
            }
            if let comment = input["comment"]?.string {
                let isInternal = input["internal"]?.bool ?? false
                incident = try await incidents.comment(incident.id, text: comment, internal: isInternal, by: principal)
                done.append(isInternal ? "internal comment added" : "comment added")
            }
            if let state = input["state"]?.string {
                guard let target = IncidentState(rawValue: state) else { throw PortalError.invalid("state: no state '\(state.prefix(40))'") }
                incident = try await incidents.move(incident.id, IncidentMove(state: target, reason: input["reason"]?.string,
                                                                             resolutionCode: input["resolutionCode"]?.string.flatMap(ResolutionCode.init(rawValue:)),
                                                                             notes: input["notes"]?.string), by: principal)
                done.append("moved to \(target.rawValue)")
            }
        } catch {
            let refusal = (error as? PortalError)?.message ?? "\(error)"
            return "error: " + (done.isEmpty ? refusal : "\(done.joined(separator: ", ")), then: \(refusal)")
        }
        guard !done.isEmpty else { return "error: say what to change (fields, a comment or a state)" }
        return "\(incident.reference) \(done.joined(separator: ", ")): now P\(incident.priority), \(incident.state.rawValue)"
            + (incident.assigneeName.map { ", assigned to \($0)" } ?? "") + ". Its page: #/incidents/\(incident.id)."
    }
}
