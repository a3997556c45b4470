import Foundation
import KV
import Testing
import TestSupport
@testable import Portal

/// HTTP request steps (against a server on 127.0.0.1), incoming webhooks that start runs,
/// approvals that expire on the portal's clock, and what a crash in the middle of a request
/// leaves.
@Suite struct WorkflowHTTPAndWebhookTests {
    typealias World = WorkflowTests.World

    // MARK: HTTP request steps

    @Test func anHTTPStepSendsItsRenderedRequestAndReadsTheAnswer() async throws {
        let world = try await World(allowLoopback: true)
        let server = try LoopbackHTTPServer(status: 200, body: #"{"ok": true, "count": 3}"#, contentType: "application/json")
        defer { server.stop() }
        try await world.save("""
        {"name": "call-api", "title": "Call an API",
         "inputs": {"type": "object", "properties": {"host": {"type": "string"}}},
         "nodes": [
           {"id": "call", "type": "http", "config": {"method": "POST", "url": "http://127.0.0.1:\(server.port)/hosts/{{ inputs.host }}",
             "headers": {"X-Run": "{{ run.id }}"}, "body": {"host": "{{ inputs.host }}", "why": "check"}}},
           {"id": "check", "type": "condition", "config": {"expression": "steps.call.output.status == 200 && steps.call.output.body.count == 3"}}],
         "edges": [{"from": "call", "to": "check"}]}
        """)
        let run = try await world.start("call-api", #"{"host": "db-7"}"#)
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded, "\(done.error ?? "")")
        #expect(done.steps["check"]?.port == "true")
        let call = try #require(done.steps["call"])
        #expect(call.output?["headers"]?["content-type"] == .string("application/json"))
        #expect(call.input?["url"] == .string("http://127.0.0.1:\(server.port)/hosts/db-7"), "the rendered request is the step's input")
        #expect(call.idempotent == false, "a POST is not safe to send twice")
        let sent = try #require(server.requests.first)
        #expect(sent.hasPrefix("POST /hosts/db-7 HTTP/1.1"))
        #expect(sent.lowercased().contains("x-run: \(run.id)".lowercased()) && sent.lowercased().contains("content-type: application/json"))
        #expect(sent.hasSuffix(#"{"host":"db-7","why":"check"}"#), "\(sent)")
    }

    @Test func anUnexpectedStatusFailsTheStepAfterItsRetriesWithTheAnswerKept() async throws {
        let world = try await World(allowLoopback: true)
        let server = try LoopbackHTTPServer(status: 503, body: "down for maintenance")
        defer { server.stop() }
        try await world.save("""
        {"name": "flaky-api", "title": "Flaky API", "nodes": [
           {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:\(server.port)/health"}, "retry": {"attempts": 2, "backoffSeconds": 0},
            "onFailure": "handler"},
           {"id": "report", "type": "set", "config": {"variables": {"seen": "{{ steps.call.output.status }}: {{ steps.call.output.body }}"}}}],
         "edges": [{"from": "call", "to": "report", "port": "error"}]}
        """)
        let run = try await world.start("flaky-api")
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded && done.steps["call"]?.status == .failed && done.steps["call"]?.attempts == 2)
        #expect(done.steps["call"]?.error == "answered 503")
        #expect(done.variables["seen"] == .string("503: down for maintenance"))
        #expect(server.connections == 2)
        // A status listed as expected is a success.
        try await world.save("""
        {"name": "expects-503", "title": "Expects 503", "nodes": [
           {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:\(server.port)/health", "expectStatus": [503]}}], "edges": []}
        """)
        #expect(try await world.wait(for: try await world.start("expects-503").id).status == .succeeded)
    }

    /// Loopback, private and metadata addresses are refused as for webhooks (nothing is sent),
    /// and a header value cannot smuggle a second header in.
    @Test func refusedTargetsAndHeaderInjectionSendNothing() async throws {
        let world = try await World()
        let server = try LoopbackHTTPServer()
        defer { server.stop() }
        try await world.save("""
        {"name": "to-loopback", "title": "To loopback", "nodes": [
           {"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:\(server.port)/"}, "retry": {"attempts": 3, "backoffSeconds": 0}}], "edges": []}
        """)
        let refused = try await world.wait(for: try await world.start("to-loopback").id)
        #expect(refused.status == .failed && refused.steps["call"]?.attempts == 1, "a refusal is not retried")
        #expect(refused.steps["call"]?.error?.contains("127.0.0.1 is in 127.0.0.0/8") == true, "\(refused.steps["call"]?.error ?? "")")

        let open = try await World(directory: world.directory + "-open", allowLoopback: true)
        try await open.save("""
        {"name": "inject", "title": "Inject", "inputs": {"type": "object", "properties": {"v": {"type": "string"}}},
         "nodes": [{"id": "call", "type": "http", "config": {"url": "http://127.0.0.1:\(server.port)/", "headers": {"X-Note": "{{ inputs.v }}"}}}], "edges": []}
        """)
        let injected = try await open.wait(for: try await open.start("inject", #"{"v": "a\r\nX-Admin: yes"}"#).id)
        #expect(injected.status == .failed && injected.steps["call"]?.error?.contains("line breaks") == true)
        #expect(server.connections == 0)
    }

    @Test(arguments: [
        (#"{"url": "ftp://example.com/"}"#, "config.url"),
        (#"{"url": "http://example.com/", "method": "TRACE"}"#, "config.method"),
        (#"{"url": "http://example.com/", "headers": {"Host": "evil"}}"#, "config.headers.Host"),
        (#"{"url": "http://example.com/", "headers": {"Bad Name": "x"}}"#, "config.headers.Bad Name"),
        (#"{"url": "http://example.com/", "body": {"a": 1}}"#, "config.body"),
        (#"{"url": "http://example.com/", "expectStatus": [700]}"#, "config.expectStatus"),
        (#"{"url": "http://{{ inputs.host"}"#, "config.url"),
        (#"{"url": "http://user:pw@example.com/"}"#, "config.url"),
    ])
    func badHTTPSettingsAreProblemsAtSave(_ config: String, _ field: String) throws {
        let definition = try JSONDecoder().decode(WorkflowDefinition.self, from: Data("""
        {"name": "bad", "title": "Bad", "nodes": [{"id": "call", "type": "http", "config": \(config)}], "edges": []}
        """.utf8))
        let problems = definition.problems()
        #expect(problems.contains { $0.node == "call" && $0.field == field }, "\(problems)")
    }

    /// A crash after a request was sent: a GET is sent again, a POST stops the run for a person.
    @Test func afterACrashAGetIsSentAgainAndAPostNeedsAttention() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-wf-\(UUID().uuidString)").path
        let server = try LoopbackHTTPServer(status: 200, body: "{}", contentType: "application/json")
        defer { server.stop() }
        var world: World? = try await World(directory: directory, allowLoopback: true)
        for method in ["GET", "POST"] {
            try await world!.save("""
            {"name": "\(method.lowercased())-it", "title": "\(method)", "nodes": [{"id": "call", "type": "http", "config": {"method": "\(method)", "url": "http://127.0.0.1:\(server.port)/x"}}], "edges": []}
            """)
        }
        let organizationID = world!.organization.id
        func crashed(_ workflow: String, method: String) async throws -> TimeOrderedID {
            let workflows = world!.workflows, starter = world!.operator_
            return try await world!.core.environment.write { txn in
                let (run, _) = try workflows.createRun(workflow, version: nil, inputs: .object([:]), organizationID: organizationID, starterID: starter.user.id,
                                                       starterName: starter.user.username, trigger: .api, parent: nil, rerunOf: nil, txn: txn)
                var stored = run
                var step = StepRun(status: .running, attempts: 1, idempotent: method == "GET")
                step.handedOverAt = Date()
                step.input = .object(["method": .string(method), "url": .string("http://127.0.0.1:\(server.port)/x"), "headers": .object([:])])
                step.startedAt = Date()
                stored.steps["call"] = step
                try txn.put(workflows.runs, (organizationID, run.id), stored)
                return run.id
            }
        }
        let get = try await crashed("get-it", method: "GET")
        let post = try await crashed("post-it", method: "POST")
        try await world!.services.stop()
        world!.core.environment.close()
        world = nil
        let reopened = try await World(directory: directory, allowLoopback: true)
        let attention = try await reopened.wait(for: post) { $0.status == .needsAttention }
        #expect(attention.error?.contains("its request sent") == true, "\(attention.error ?? "")")
        let again = try await reopened.wait(for: get)
        #expect(again.status == .succeeded && again.steps["call"]?.attempts == 2)
        #expect(server.requests.count == 1 && server.requests[0].hasPrefix("GET /x "), "only the GET was sent again")
    }

    // MARK: Approvals on the portal's clock

    @Test func anApprovalNobodyDecidesExpiresAndItsHandlerRuns() async throws {
        let clock = ManualClock()
        let world = try await World(clock: clock)
        try await world.save("""
        {"name": "ask-late", "title": "Ask", "nodes": [
           {"id": "ask", "type": "approval", "config": {"expiresAfterMinutes": 30, "message": "go?"}, "onFailure": "handler"},
           {"id": "gave_up", "type": "set", "config": {"variables": {"why": "{{ steps.ask.error }}"}}}],
         "edges": [{"from": "ask", "to": "gave_up", "port": "error"}]}
        """)
        let run = try await world.start("ask-late")
        let waiting = try await world.wait(for: run.id) { $0.steps["ask"]?.status == .waiting }
        let expires = try #require(waiting.steps["ask"]?.approval?.expiresAt)
        #expect(abs(expires.timeIntervalSince(clock.now()) - 1800) < 1)
        // A minute before: still waiting. Past it: expired, the handler path taken.
        clock.advance(by: .seconds(1740))
        try await world.workflows.advance(run.id, in: world.organization.id)
        #expect(try world.workflows.run(run.id, in: world.organization.id)?.steps["ask"]?.status == .waiting)
        clock.advance(by: .seconds(120))
        try await world.workflows.advance(run.id, in: world.organization.id)
        let done = try await world.wait(for: run.id)
        #expect(done.status == .succeeded && done.steps["ask"]?.status == .failed)
        #expect(done.variables["why"]?.string?.contains("the approval expired") == true, "\(done.variables)")
        // A decision after the expiry is refused.
        await #expect(throws: PortalError.self) {
            try await world.workflows.decide(run.id, node: "ask", approve: true, comment: "", in: world.organization.id, by: world.admin)
        }
    }

    /// A tool step waiting for approval when its run is cancelled: the approval request is
    /// withdrawn, so a later "yes" cannot run the tool for a run that no longer exists.
    @Test(.timeLimit(.minutes(1))) func cancellingARunWithdrawsItsToolsPendingApproval() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "guarded", "title": "Guarded", "nodes": [{"id": "change", "type": "tool", "config": {"tool": "wf.guarded-change", "input": {"what": "never"}}}], "edges": []}
        """)
        let run = try await world.start("guarded")
        let waiting = try await world.wait(for: run.id) { $0.steps["change"]?.toolRunID != nil && $0.steps["change"]?.status == .waiting }
        let toolRunID = try #require(waiting.steps["change"]?.toolRunID)
        #expect(try world.core.runs.run(toolRunID, in: world.organization.id)?.status == .pendingApproval)
        let stream = world.core.notifications.subscribe()
        try await world.workflows.cancel(run.id, in: world.organization.id, reason: "changed my mind", by: world.operator_)
        // The withdrawal is its own transaction after the cancel: wait for its event.
        for await notification in stream where notification.runID == toolRunID.description && notification.status == "cancelled" { break }
        #expect(try world.core.runs.run(toolRunID, in: world.organization.id)?.status == .cancelled)
        await #expect(throws: (any Error).self) {
            try await world.core.runs.decide(runID: toolRunID, approve: true, comment: "", by: world.admin, requestID: "late-yes")
        }
        #expect(world.changes().isEmpty)
    }

    /// The power-schedule template's triggers come switched off (their instance id is a
    /// placeholder): importing it schedules nothing; switching them on schedules both.
    @Test func switchedOffScheduleTriggersScheduleNothing() async throws {
        let world = try await World()
        var template = try #require(WorkflowLibrary.templates.first { $0.definition.name == "oci-instance-power-schedule" }).definition
        #expect(template.triggers.count == 2 && template.triggers.allSatisfy { !$0.isEnabled })
        _ = try await world.workflows.save(template, by: world.admin)
        func timers() throws -> Int {
            try (0..<2).filter { index in
                let job = try world.core.jobs.job(idempotencyKey: "timer:" + Workflows.timerName(world.organization.id, template.name, index))
                return job.map { !$0.state.isFinal } ?? false
            }.count
        }
        #expect(try timers() == 0)
        for index in template.triggers.indices { template.triggers[index].enabled = true }
        _ = try await world.workflows.save(template, by: world.admin)
        #expect(try timers() == 2)
        for index in template.triggers.indices { template.triggers[index].enabled = false }
        _ = try await world.workflows.save(template, by: world.admin)
        #expect(try timers() == 0)
    }

    // MARK: Incoming webhooks

    static func signed(_ body: String, id: String, secret: String, at time: Date = Date()) -> (id: String, timestamp: String, signature: String, body: [UInt8]) {
        let timestamp = Int(time.timeIntervalSince1970)
        return (id, String(timestamp), WebhookSignature.sign(id: id, timestamp: timestamp, body: body, secret: secret)!, Array(body.utf8))
    }

    @Test func aSignedDeliveryStartsOneRunPerMessageAsTheOwner() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "on-alert", "title": "On alert", "inputs": {"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]},
         "triggers": [{"type": "webhook", "condition": "body.action == 'opened'", "inputs": {"host": "{{ body.alert.host }}"}}],
         "nodes": [{"id": "note", "type": "set", "config": {"variables": {"host": "{{ inputs.host }}"}}}], "edges": []}
        """)
        await #expect(throws: PortalError.self) { try await world.workflows.setUpWebhook(of: "on-alert", by: world.operator_) }
        let made = try await world.workflows.setUpWebhook(of: "on-alert", by: world.admin)
        #expect(made.created && made.secret.hasPrefix("whsec_"))
        let id = made.webhook.id
        let body = #"{"action": "opened", "alert": {"host": "db-7"}}"#

        // Not signed, signed with another secret, signed too long ago: refused, nothing started.
        await #expect(throws: WebhookVerificationFailed.self) {
            try await world.workflows.deliver(toWebhook: id, messageID: "m1", timestamp: nil, signature: nil, body: Array(body.utf8))
        }
        let forged = Self.signed(body, id: "m1", secret: WebhookSignature.newSecret())
        await #expect(throws: WebhookVerificationFailed.self) {
            try await world.workflows.deliver(toWebhook: id, messageID: forged.id, timestamp: forged.timestamp, signature: forged.signature, body: forged.body)
        }
        let stale = Self.signed(body, id: "m1", secret: made.secret, at: Date().addingTimeInterval(-400))
        await #expect(throws: WebhookVerificationFailed.self) {
            try await world.workflows.deliver(toWebhook: id, messageID: stale.id, timestamp: stale.timestamp, signature: stale.signature, body: stale.body)
        }
        let tampered = Self.signed(body, id: "m1", secret: made.secret)
        await #expect(throws: WebhookVerificationFailed.self) {
            try await world.workflows.deliver(toWebhook: id, messageID: "m1", timestamp: tampered.timestamp, signature: tampered.signature,
                                              body: Array(body.replacingOccurrences(of: "db-7", with: "db-8").utf8))
        }
        #expect(try world.workflows.runs(in: world.organization.id, filter: .init(workflow: "on-alert")).isEmpty)

        // The same message delivered 8 times at once: one run, and every answer names it.
        let good = Self.signed(body, id: "m1", secret: made.secret)
        let workflows = world.workflows
        let outcomes = try await withThrowingTaskGroup(of: Workflows.WebhookOutcome.self) { group in
            for _ in 0..<8 {
                group.addTask { try await workflows.deliver(toWebhook: id, messageID: good.id, timestamp: good.timestamp, signature: good.signature, body: good.body) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let started = outcomes.compactMap { if case let .started(run) = $0 { run } else { nil } }
        #expect(started.count == 1)
        let run = try #require(started.first)
        #expect(outcomes.allSatisfy { outcome in
            switch outcome {
            case let .started(other), let .repeated(other?): other.id == run.id
            default: false
            }
        })
        #expect(run.trigger == .webhook && run.starterName == "ada" && run.inputs == .object(["host": .string("db-7")]))
        #expect(try await world.wait(for: run.id).variables["host"] == .string("db-7"))

        // The condition does not hold: nothing starts.
        let closed = Self.signed(#"{"action": "closed", "alert": {"host": "db-7"}}"#, id: "m2", secret: made.secret)
        #expect(try await world.workflows.deliver(toWebhook: id, messageID: closed.id, timestamp: closed.timestamp, signature: closed.signature, body: closed.body) == .ignored)
        // Not JSON: refused.
        let garbage = Self.signed("not json", id: "m3", secret: made.secret)
        await #expect(throws: PortalError.self) {
            try await world.workflows.deliver(toWebhook: id, messageID: garbage.id, timestamp: garbage.timestamp, signature: garbage.signature, body: garbage.body)
        }

        // Rotation: the new secret verifies, and the previous one for a while.
        let rotated = try await world.workflows.setUpWebhook(of: "on-alert", by: world.admin)
        #expect(!rotated.created && rotated.webhook.id == id && rotated.secret != made.secret)
        for (message, secret) in [("m4", made.secret), ("m5", rotated.secret)] {
            let delivery = Self.signed(body, id: message, secret: secret)
            guard case .started = try await world.workflows.deliver(toWebhook: id, messageID: delivery.id, timestamp: delivery.timestamp, signature: delivery.signature,
                                                                   body: delivery.body) else { Issue.record("\(message) started nothing"); continue }
        }
        #expect(try world.workflows.runs(in: world.organization.id, filter: .init(workflow: "on-alert")).count == 3)

        // Removed (or the workflow deleted): the URL is gone.
        try await world.workflows.removeWebhook(of: "on-alert", by: world.admin)
        let late = Self.signed(body, id: "m6", secret: rotated.secret)
        await #expect(throws: PortalError.notFound("webhook")) {
            try await world.workflows.deliver(toWebhook: id, messageID: late.id, timestamp: late.timestamp, signature: late.signature, body: late.body)
        }
        #expect(try world.workflows.webhook(of: "on-alert", in: world.organization.id) == nil)
        #expect(try world.core.secrets.get(Workflows.webhookSecretName(id)) == nil, "the secret is gone with it")
    }

    @Test func aWorkflowWithoutAWebhookTriggerStartsNothing() async throws {
        let world = try await World()
        try await world.save("""
        {"name": "plain", "title": "Plain", "nodes": [{"id": "s", "type": "set", "config": {"variables": {"a": 1}}}], "edges": []}
        """)
        let made = try await world.workflows.setUpWebhook(of: "plain", by: world.admin)
        let delivery = Self.signed("{}", id: "x1", secret: made.secret)
        await #expect(throws: PortalError.self) {
            try await world.workflows.deliver(toWebhook: made.webhook.id, messageID: delivery.id, timestamp: delivery.timestamp, signature: delivery.signature, body: delivery.body)
        }
        // Deleting the workflow deletes its webhook.
        try await world.workflows.delete("plain", by: world.admin)
        #expect(try world.core.environment.read { txn in try txn.get(world.workflows.webhooks, made.webhook.id) } == nil)
    }
}
