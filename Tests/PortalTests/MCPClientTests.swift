import Foundation
import KV
import Testing
@testable import Portal

/// The MCP client's pure parts: reading event streams in pieces, what a server's listing
/// becomes in the catalog (names, risk floors, checkable schemas), the differences shown for
/// review, and a call's result as a run's output. The exchange with a real server (the
/// official Python SDK's) is tested end to end in Tests/Browser/test_mcp_client.py.
@Suite struct MCPClientTests {
    @Test func eventsSplitAcrossPiecesAreReadWhenComplete() {
        var buffer = Array("event: message\r\ndata: {\"a\":".utf8)
        #expect(ServerSentEvents.take(&buffer).isEmpty)
        buffer += Array("1}\r\n\r\n: keep-alive\n\nid: 7\ndata: line one\ndata: line two\n\ndata: partial".utf8)
        #expect(ServerSentEvents.take(&buffer) == ["{\"a\":1}", "line one\nline two"])
        #expect(String(decoding: buffer, as: UTF8.self) == "data: partial", "an unfinished event waits for the next piece")
        buffer += Array("\n\n".utf8)
        #expect(ServerSentEvents.take(&buffer) == ["partial"])
        #expect(buffer.isEmpty)
    }

    static func tool(_ name: String, readOnly: Bool? = nil, destructive: Bool? = nil, schema: JSONAny = .object(["type": .string("object")])) -> RemoteTool {
        var annotations: [String: JSONAny] = [:]
        if let readOnly { annotations["readOnlyHint"] = .bool(readOnly) }
        if let destructive { annotations["destructiveHint"] = .bool(destructive) }
        return RemoteTool(.object(["name": .string(name), "inputSchema": schema, "annotations": .object(annotations)]))!
    }

    @Test func riskFollowsTheAnnotationsAndNeverGoesBelowMediumForAToolThatMayChangeThings() {
        let readOnly = Self.tool("get_issue", readOnly: true)
        #expect((readOnly.suggestedRisk, readOnly.riskFloor) == (.read, .read))
        let harmless = Self.tool("add_comment", destructive: false)
        #expect((harmless.suggestedRisk, harmless.riskFloor) == (.medium, .medium))
        let unannotated = Self.tool("delete_repo")
        #expect((unannotated.suggestedRisk, unannotated.riskFloor) == (.high, .medium), "MCP assumes destructive unless told otherwise")
        let saysNotReadOnly = Self.tool("merge", readOnly: false, destructive: true)
        #expect(saysNotReadOnly.riskFloor == .medium)
    }

    @Test func namesBecomeCatalogNamesAndBadOnesAreRefused() {
        #expect(Self.tool("Create_Issue.v2").catalogName(in: "github") == "github.create-issue.v2")
        #expect(Self.tool("create_ticket").displayTitle == "Create ticket")
        #expect(RemoteTool(.object(["name": .string("no spaces allowed"), "inputSchema": .object([:])])) == nil)
        #expect(RemoteTool(.object(["name": .string("x")])) == nil, "a tool without an input schema")
        #expect(RemoteTool(.object(["name": .string(String(repeating: "a", count: 129)), "inputSchema": .object([:])])) == nil)
    }

    @Test func schemasKeepWhatThePortalChecksAndLeaveTheRestToTheServer() throws {
        let schema = try #require(JSONAny(json: Array("""
        {"type": "object", "$defs": {"Label": {"type": "string"}}, "required": ["title"], "properties": {
          "title": {"type": "string", "maxLength": 80},
          "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Note"},
          "due": {"type": "string", "format": "date-time"},
          "labels": {"type": "array", "items": {"$ref": "#/$defs/Label"}},
          "either": {"oneOf": [{"type": "string"}, {"type": "integer"}], "description": "one of two"}}}
        """.utf8)))
        let kept = Self.tool("create", schema: schema).catalogInputSchema
        _ = try JSONSchema(kept)
        let properties = try #require(kept["properties"]?.object)
        #expect(kept["required"] == .array([.string("title")]))
        #expect(properties["title"] == .object(["type": .string("string"), "maxLength": .number(80)]))
        #expect(properties["note"]?["type"] == .array([.string("string"), .string("null")]))
        #expect(properties["due"]?["format"] == nil && properties["due"]?["x-format"] == .string("date-time"))
        #expect(properties["labels"]?["items"] == .object(["x-mcp-unchecked": .bool(true)]))
        #expect(properties["either"] == .object(["description": .string("one of two"), "x-mcp-unchecked": .bool(true)]))
        #expect(kept["$defs"] == nil)
        let validated = try JSONSchema(kept)
        #expect(throws: InputError.self) { try validated.prepare(.object(["title": .number(1)])) }
        _ = try validated.prepare(.object(["title": .string("ok"), "note": .null, "either": .number(3), "labels": .array([.object([:])])]))
    }

    @Test func differencesSinceTheReviewAreNamedPerTool() {
        let before = [Self.tool("a", readOnly: true), Self.tool("b"), Self.tool("gone")]
        var changedB = Self.tool("b")
        changedB.description = "now with a description"
        var record = MCPServerRecord(name: "x", title: "X", url: "http://127.0.0.1:1/mcp", credentialHeader: nil, template: nil, timeoutSeconds: nil,
                                     registeredAt: Date(), registeredBy: UUID(), status: .init(), offered: [Self.tool("a", readOnly: false), changedB, Self.tool("new")],
                                     listedAt: nil, reviewed: nil, imported: [:])
        #expect(record.changes.isEmpty, "nothing to compare with before a first import")
        record.reviewed = before
        #expect(record.changes == [
            .init(tool: "a", change: .changed, fields: ["annotations"]),
            .init(tool: "b", change: .changed, fields: ["description"]),
            .init(tool: "gone", change: .removed, fields: []),
            .init(tool: "new", change: .added, fields: []),
        ])
    }

    @Test func aCallResultBecomesARunOutput() throws {
        let structured = MCPServers.output(of: try #require(JSONAny(json: Array("""
        {"content": [{"type": "text", "text": "{\\"id\\": 1}"}, {"type": "image", "data": "…"}], "structuredContent": {"id": 1}}
        """.utf8))), limit: 1000)
        #expect(structured.succeeded && structured.json == .object(["id": .number(1)]) && structured.text == "{\"id\": 1}\n[image content]")
        let failed = MCPServers.output(of: .object(["content": .array([.object(["type": .string("text"), "text": .string("no such issue")])]),
                                                    "isError": .bool(true)]), limit: 1000)
        #expect(!failed.succeeded && failed.error == "no such issue")
        let long = MCPServers.output(of: .object(["content": .array([.object(["type": .string("text"), "text": .string(String(repeating: "é", count: 100))])])]), limit: 51)
        #expect(long.truncated && long.text.utf8.count <= 51 && long.error.contains("cut"))
    }

    @Test func aServerEchoingItsCredentialDoesNotPassItOn() {
        let secret = "Bearer s3cret-value"
        let echoed = MCPServers.output(of: .object([
            "content": .array([.object(["type": .string("text"), "text": .string("you sent \(secret)")])]),
            "structuredContent": .object(["headers": .array([.string(secret)])]),
            "isError": .bool(true),
        ]), limit: 1000, without: secret)
        #expect(!echoed.text.contains("s3cret") && !echoed.error.contains("s3cret"))
        #expect(echoed.json == .object(["headers": .array([.string("[secret]")])]))
    }

    @Test func structuredOutputOverTheLimitIsDroppedAndSaidSo() {
        let big = MCPServers.output(of: .object(["content": .array([]), "structuredContent": .object(["blob": .string(String(repeating: "x", count: 2000))])]), limit: 1000)
        #expect(big.json == nil && big.truncated && big.error.contains("cut"))
    }

    @Test func anEventWithoutDataIsNoMessage() {
        // A resumable stream starts with an event that carries only an id ("priming").
        var buffer = Array("id: 1\ndata:\n\ndata:{\"ok\":true}\n\n".utf8)
        #expect(ServerSentEvents.take(&buffer) == ["", "{\"ok\":true}"])
    }

    @Test func theShippedTemplatesAreUsable() throws {
        let file = try JSONDecoder().decode(MCPServerTemplate.File.self, from: Data(PackageResources.MCPTemplates_json))
        #expect(Set(file.templates.map(\.name)) == ["github", "jira", "pagerduty", "slack"])
        for template in file.templates {
            #expect((1...32).contains(template.name.count) && template.name.allSatisfy { $0.isLowercase || $0 == "-" })
            #expect(MCPServers.isEndpoint(template.url), "\(template.name): \(template.url)")
            #expect(!template.tools.isEmpty && template.tools.keys.allSatisfy(RemoteTool.isValidName))
            // Each template leaves some tools off (deletions, broad changes: see the README).
            #expect(template.tools.values.contains { $0.leaveOff == true })
        }
    }
}
