import FoundationEssentials
import Hummingbird
import KV
import Portal

/// An incident with its timeline (internal comments only for those who work incidents) and,
/// when its service is a configuration item the caller may read, what fails with it.
struct IncidentDetail: Codable {
    let incident: Incident
    let timeline: [IncidentChange]
    let hits: IncidentHits?
}

/// The configuration item an incident's service names, and the items that fail with it.
struct IncidentHits: Codable {
    let item: String
    let impacted: [ImpactedAsset]
}

struct IncidentPage: Codable {
    let incidents: [Incident]
    let next: String?
    let limit: Int
}

struct IncidentCommentBody: Codable {
    let text: String
    /// Only for the team (incidents:work); false when absent.
    let `internal`: Bool?
}

struct HolidayImportBody: Codable {
    /// An iCalendar file's text (RFC 5545): its events' days become holidays.
    let ical: String
    /// How many years yearly events repeat for (10 when absent).
    let years: Int?
}

/// Incidents found by meaning, best first.
struct IncidentMatches: Codable {
    let matches: [IncidentSearch.Match]
}

/// How many open incidents there are, by state and priority (from the state index).
struct IncidentCounts: Codable {
    /// state → priority ("1" … "5") → count.
    let byState: [String: [String: Int]]
}

/// A request the schema allows but the rules refuse (an empty title, overlapping hours) is
/// 422, as the API's problem types say; 400 stays for what the schema itself refuses.
func semantic<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let PortalError.invalid(message) { throw PortalError.unprocessable(message) }
}

extension PortalRoutes {
    /// Incidents (incidents:report to open and read, incidents:work to change), business
    /// calendars, SLAs and the priority matrix (itsm:manage to change).
    func addIncidentRoutes(core: PortalCore) {
        let incidents = core.incidents

        @Sendable func incidentID(_ context: PortalContext) throws -> (TimeOrderedID, UUID) {
            let organizationID = try Self.requireOrganization(context.principal!)
            let id = try Self.pathID(context, "incident")
            guard try incidents.incident(id, in: organizationID) != nil else { throw PortalError.notFound("incident") }
            return (id, organizationID)
        }
        @Sendable func detail(_ incident: Incident, _ principal: Principal) throws -> IncidentDetail {
            var hits: IncidentHits?
            if let service = incident.service, principal.has(.assetsRead), Assets.isValidName(service),
               try core.assets.asset(service, in: incident.organizationID) != nil {
                hits = IncidentHits(item: service, impacted: try core.assets.impact(of: service, in: incident.organizationID))
            }
            return IncidentDetail(incident: incident, timeline: try incidents.timeline(of: incident.id, for: principal), hits: hits)
        }

        get("/api/incidents", .permission(.incidentsReport), .doc("listIncidents", "The organization's incidents, newest first.", returns: APISchema.of(IncidentPage.self), query: QueryParameter.paging + [.choice("state", IncidentState.allCases.map(\.rawValue), "Only incidents in this state.")])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            var states: [IncidentState] = []
            if let state = request.uri.queryParameters.get("state") {
                guard let parsed = IncidentState(rawValue: state) else {
                    throw ProblemDetails(.badRequest, detail: "state must be one of \(IncidentState.allCases.map(\.rawValue).joined(separator: ", ")).")
                }
                states = [parsed]
            }
            let limit = try APIConventions.pageSize(request)
            let page = try incidents.list(in: organizationID, states: states, limit: limit, before: try Self.pageCursor(request))
            let next = APIConventions.nextLink(request, cursor: page.count == limit ? page.last?.id.description : nil)
            return try APIConventions.pageResponse(IncidentPage(incidents: page, next: next, limit: limit), next: next)
        }

        post("/api/incidents", .permission(.incidentsReport), .doc("openIncident", "Opens an incident: its priority comes from impact × urgency by the organization's matrix, and the SLAs whose conditions match start their clocks.", body: IncidentDraft.self, returns: APISchema.of(IncidentDetail.self), status: 201, created: .init(path: "/api/incidents/{id}", idPointer: "/incident/id"))) { request, context in
            let draft = try await Self.decode(IncidentDraft.self, request, context)
            let incident = try await semantic { try await incidents.open(draft, by: context.principal!) }
            var response = try Self.jsonResponse(.created, try detail(incident, context.principal!))
            response.headers[.location] = "/api/incidents/\(incident.id)"
            return response
        }

        get("/api/incidents/counts", .permission(.incidentsReport), .doc("countIncidents", "How many incidents are in each state, by priority.", returns: APISchema.of(IncidentCounts.self))) { _, context in
            let counts = try incidents.counts(in: try Self.requireOrganization(context.principal!))
            return try Self.jsonResponse(.ok, IncidentCounts(byState: Dictionary(uniqueKeysWithValues: counts.map { state, priorities in
                (state.rawValue, Dictionary(uniqueKeysWithValues: priorities.map { (String($0.key), $0.value) }))
            })))
        }

        get("/api/incidents/dashboard", .permission(.incidentsReport), .doc("getIncidentDashboard", "Open incidents by state and priority, SLAs at risk and breached, and for the period (changes: those whose window starts in it, and their success rate) (whole UTC days, 30 up to to when from is absent, at most 366): incidents opened and resolved, MTTA and MTTR by day, the top services. From indexes and day figures, never a scan of all incidents.", returns: APISchema.of(IncidentDashboard.self), query: [.time("from", "The period's start (ISO 8601)."), .time("to", "The period's end, excluded (ISO 8601; now when absent)."), .string("group", "Only this assignment group.")])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            let to = try request.uri.queryParameters.get("to").map { try Self.parseTime(String($0), "to") } ?? core.clock.now()
            let from = try request.uri.queryParameters.get("from").map { try Self.parseTime(String($0), "from") } ?? to.addingTimeInterval(-30 * 86_400)
            let group = request.uri.queryParameters.get("group").map { String($0) }
            var board = try await semantic { try incidents.dashboard(in: organizationID, from: from, to: to, group: group) }
            board.changes = try core.changes.figures(in: organizationID, from: from, to: to)
            return try Self.jsonResponse(.ok, board)
        }

        get("/api/incidents/search", .permission(.incidentsReport), .doc("searchIncidents", "The organization's incidents closest in meaning to q (their title, service, category and description), best first, with the cosine similarity. A change is searchable moments after it is written.", returns: APISchema.of(IncidentMatches.self), query: [QueryParameter(name: "q", schema: .object(["type": .string("string"), "minLength": .number(1), "maxLength": .number(2000)]), description: "What to look for, in plain words.", required: true), .integer("limit", "At most this many (10 when absent).", minimum: 1, maximum: 50)])) { request, context in
            let organizationID = try Self.requireOrganization(context.principal!)
            let query = request.uri.queryParameters.get("q").map { String($0) } ?? ""
            let limit = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 10
            return try Self.jsonResponse(.ok, IncidentMatches(matches: try await semantic { try await core.incidentSearch.search(query, in: organizationID, limit: limit) }))
        }

        get("/api/incidents/{id}/similar", .permission(.incidentsReport), .doc("similarIncidents", "The organization's other incidents closest in meaning to this one, best first: what happened before and how it was resolved.", returns: APISchema.of(IncidentMatches.self), query: [.integer("limit", "At most this many (5 when absent).", minimum: 1, maximum: 20)])) { request, context in
            let (id, organizationID) = try incidentID(context)
            let limit = request.uri.queryParameters.get("limit").flatMap { Int($0) } ?? 5
            return try Self.jsonResponse(.ok, IncidentMatches(matches: try await core.incidentSearch.similar(to: id, in: organizationID, limit: limit)))
        }

        get("/api/incidents/{id}", .permission(.incidentsReport), .doc("getIncident", "An incident and its timeline.", returns: APISchema.of(IncidentDetail.self))) { _, context in
            let (id, organizationID) = try incidentID(context)
            guard let incident = try incidents.incident(id, in: organizationID) else { throw PortalError.notFound("incident") }
            return try Self.jsonResponse(.ok, try detail(incident, context.principal!))
        }

        on(.patch, "/api/incidents/{id}", .permission(.incidentsWork), .doc("updateIncident", "Changes an incident's fields (absent ones stay; \"\" clears optional text). Impact or urgency recompute the priority.", body: IncidentUpdate.self, returns: APISchema.of(IncidentDetail.self))) { request, context in
            let body = try await Self.decode(IncidentUpdate.self, request, context)
            let (id, _) = try incidentID(context)
            return try Self.jsonResponse(.ok, try detail(try await semantic { try await incidents.update(id, body, by: context.principal!) }, context.principal!))
        }

        post("/api/incidents/{id}/state", .permission(.incidentsReport), .doc("moveIncident", "Moves an incident: new → in-progress, pending, resolved; in-progress → pending, resolved; pending → in-progress, resolved; resolved → in-progress (re-open), closed. Another move is 409 naming the allowed ones. Pending needs a reason (an until date in the past is 400); resolved needs a resolution code. incidents:work, or the reporter closing or re-opening their own resolved incident.", body: IncidentMove.self, returns: APISchema.of(IncidentDetail.self))) { request, context in
            let body = try await Self.decode(IncidentMove.self, request, context)
            let (id, _) = try incidentID(context)
            return try Self.jsonResponse(.ok, try detail(try await incidents.move(id, body, by: context.principal!), context.principal!))
        }

        post("/api/incidents/{id}/comments", .permission(.incidentsReport), .doc("commentOnIncident", "Adds a comment: internal ones (incidents:work) only the team reads; the team's first public answer is the first response.", body: IncidentCommentBody.self, returns: APISchema.of(IncidentDetail.self))) { request, context in
            let body = try await Self.decode(IncidentCommentBody.self, request, context)
            let (id, _) = try incidentID(context)
            return try Self.jsonResponse(.ok, try detail(try await semantic { try await incidents.comment(id, text: body.text, internal: body.internal ?? false, by: context.principal!) }, context.principal!))
        }

        post("/api/incidents/{id}/links", .permission(.incidentsWork), .doc("linkToIncident", "Links a tool run, a workflow run or a conversation to the incident.", body: IncidentLink.self, returns: APISchema.of(IncidentDetail.self))) { request, context in
            let body = try await Self.decode(IncidentLink.self, request, context)
            let (id, _) = try incidentID(context)
            return try Self.jsonResponse(.ok, try detail(try await semantic { try await incidents.link(id, body, by: context.principal!) }, context.principal!))
        }

        get("/api/incident-settings", .permission(.incidentsReport), .doc("getIncidentSettings", "The priority matrix and when resolved incidents close by themselves.", returns: APISchema.of(IncidentSettings.self))) { _, context in
            try Self.jsonResponse(.ok, try incidents.settings(in: try Self.requireOrganization(context.principal!)))
        }

        on(.put, "/api/incident-settings", .permission(.itsmManage), .doc("setIncidentSettings", "Sets the priority matrix (every impact/urgency pair of high, medium, low: 1 to 5, more impact or urgency never a lower priority) and closeAfterDays.", body: IncidentSettings.self, returns: APISchema.of(IncidentSettings.self))) { request, context in
            let body = try await Self.decode(IncidentSettings.self, request, context)
            try await semantic { try await incidents.saveSettings(body, by: context.principal!) }
            return try Self.jsonResponse(.ok, body)
        }

        get("/api/business-calendars", .permission(.incidentsReport), .doc("listBusinessCalendars", "The organization's business calendars.", returns: APISchema.list("calendars", of: BusinessCalendar.self))) { _, context in
            try Self.jsonResponse(.ok, ["calendars": try incidents.calendars(in: try Self.requireOrganization(context.principal!))])
        }

        on(.put, "/api/business-calendars/{name}", .permission(.itsmManage), .doc("saveBusinessCalendar", "Saves a calendar: a time zone, working hours per weekday (no empty or overlapping intervals), holidays. Clocks already running keep the calendar they started with.", body: BusinessCalendar.self, returns: APISchema.of(BusinessCalendar.self))) { request, context in
            let body = try await Self.decode(BusinessCalendar.self, request, context)
            guard body.name == context.parameters.get("name") else { throw PortalError.unprocessable("the calendar's name is '\(body.name.prefix(64))', not the one in the path") }
            try await semantic { try await incidents.saveCalendar(body, by: context.principal!) }
            return try Self.jsonResponse(.ok, body)
        }

        post("/api/business-calendars/{name}/holidays", .permission(.itsmManage), .doc("importHolidays", "Adds the days of an iCalendar file's events to the calendar's holidays. A file that does not parse is 422 naming the line.", body: HolidayImportBody.self, returns: APISchema.of(BusinessCalendar.self))) { request, context in
            let body = try await Self.decode(HolidayImportBody.self, request, context)
            let organizationID = try Self.requireOrganization(context.principal!)
            guard var calendar = try incidents.calendar(context.parameters.get("name") ?? "", in: organizationID) else { throw PortalError.notFound("calendar") }
            guard body.ical.utf8.count <= 1 << 20 else { throw PortalError.tooLarge("an iCalendar file is at most 1 MB") }
            let days: [String]
            do { days = try HolidayFile.holidays(body.ical, years: min(max(body.years ?? 10, 1), 50)) } catch {
                throw PortalError.unprocessable("the iCalendar file: \(error)")
            }
            calendar.holidays = Array(Set(calendar.holidays + days)).sorted()
            try await semantic { try await incidents.saveCalendar(calendar, by: context.principal!) }
            return try Self.jsonResponse(.ok, calendar)
        }

        get("/api/slas", .permission(.incidentsReport), .doc("listSLAs", "The organization's SLA definitions.", returns: APISchema.list("slas", of: SLADefinition.self))) { _, context in
            try Self.jsonResponse(.ok, ["slas": try incidents.slaDefinitions(in: try Self.requireOrganization(context.principal!))])
        }

        on(.put, "/api/slas/{name}", .permission(.itsmManage), .doc("saveSLA", "Saves an SLA as its next version: conditions (priorities, categories, services), a calendar, first-response and resolution targets in minutes, the warning share. Running clocks keep their version.", body: SLADefinition.self, returns: APISchema.of(SLADefinition.self))) { request, context in
            let body = try await Self.decode(SLADefinition.self, request, context)
            guard body.name == context.parameters.get("name") else { throw PortalError.unprocessable("the SLA's name is '\(body.name.prefix(64))', not the one in the path") }
            return try Self.jsonResponse(.ok, try await semantic { try await incidents.saveSLA(body, by: context.principal!) })
        }
    }
}
