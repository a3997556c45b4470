import Foundation
import KV
@testable import Portal
import TestSupport
import Testing

/// Cloud tools stay inside their organization: each organization's OCI tools act as its own
/// OCI identity (a CLI profile whose IAM policy reaches only its compartments), which only a
/// system administrator sets and no two organizations share; packs are enabled only where a
/// system administrator made them available; and tool credentials belong to one organization.
///
/// The OCI CLI is played by a fake on the tools path that records the profile it was run as
/// and answers like OCI's IAM: a resource of another tenant is `NotAuthorizedOrNotFound`; a
/// list prints `tool-runs/instances-<tenant>.json` when a test wrote one.
@Suite struct CloudIsolationTests {
    struct Setup {
        let core: PortalCore
        let directory: String
        let root: Principal
        let north: Organization
        let south: Organization
        let northOperator: Principal
        let southOperator: Principal
        let southAdmin: Principal

        init() async throws {
            let bin = FileManager.default.temporaryDirectory.appendingPathComponent("fake-oci-iam-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
            try #"""
            #!/bin/sh
            printf '%s %s\n' "$OCI_CLI_PROFILE" "$OCI_CLI_AUTH" >> "$HOME/../profiles"
            tenant="${OCI_CLI_PROFILE%-profile}"
            while [ $# -gt 0 ]; do
              if [ "$1" = --instance-id ]; then
                case "$2" in
                  *".$tenant-"*) echo "{\"data\":{\"id\":\"$2\",\"lifecycle-state\":\"RUNNING\"}}"; exit 0 ;;
                  *) echo '{"code":"NotAuthorizedOrNotFound","status":404}' >&2; exit 1 ;;
                esac
              fi
              shift
            done
            /bin/cat "$HOME/../instances-$tenant.json" 2>/dev/null || echo '{"data":[]}'
            """#.write(toFile: bin + "/oci", atomically: true, encoding: .utf8)
            chmod(bin + "/oci", 0o755)
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("portal-isolation-\(UUID().uuidString)").path
            var options = ToolRuntimeOptions(workRoot: directory + "/tool-runs")
            options.searchPath = [bin]
            core = try await PortalCore(environment: try KV.Environment(directory: directory), passwordHasher: PasswordHasher(iterations: 1_000), toolOptions: options)
            _ = try await core.bootstrap(adminUsername: "root", adminPassword: "root-password-1")
            let rootUser = try #require(try core.accounts.user(named: "root"))
            root = Principal(user: rootUser, organizationID: nil, role: nil, sessionKey: nil, csrfToken: nil)
            north = try await core.organizations.create(slug: "north", displayName: "North", cloudScope: "ocid1.compartment.oc1..north", cloudProfile: "north-profile", by: root)
            south = try await core.organizations.create(slug: "south", displayName: "South", cloudScope: "ocid1.compartment.oc1..south", cloudProfile: "south-profile", by: root)
            let core = self.core, root = self.root
            func member(_ name: String, _ role: Role, of organization: Organization) async throws -> Principal {
                let user = try await core.organizations.createMember(username: name, displayName: name, password: "\(name)-password-1", role: role, in: organization.id, by: root)
                return Principal(user: user, organizationID: organization.id, role: role, sessionKey: nil, csrfToken: nil)
            }
            northOperator = try await member("nora", .operator, of: north)
            southOperator = try await member("sam", .operator, of: south)
            southAdmin = try await member("sue", .admin, of: south)
            try await core.tools.setAvailability(pack: "oci", to: [north.id, south.id], by: root)
            for principal in [try await member("nadia", .admin, of: north), southAdmin] { try await core.tools.setEnabled(true, pack: "oci", by: principal) }
        }

        func run(_ tool: String, _ input: JSONAny, as principal: Principal) async throws -> ToolRun {
            try await core.runs.request(.init(principal: principal, tool: tool, input: input, entryPoint: .api, requestID: "isolation"))
        }

        /// The profile each run of the fake CLI acted as (and its authentication).
        var profiles: [String] {
            ((try? String(contentsOfFile: directory + "/tool-runs/profiles", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
    }

    @Test func anotherOrganizationsResourceIsOutOfReach() async throws {
        let setup = try await Setup()
        let own = try await setup.run("oci.compute.instance.get", .object(["instanceId": .string("ocid1.instance.oc1.phx.south-1")]), as: setup.southOperator)
        #expect(own.status == .succeeded, "\(own.output?.error ?? "")")
        // South's operator names North's instance: it runs as South's identity, which OCI refuses.
        let theirs = try await setup.run("oci.compute.instance.get", .object(["instanceId": .string("ocid1.instance.oc1.phx.north-1")]), as: setup.southOperator)
        #expect(theirs.status == .failed && theirs.output?.error.contains("NotAuthorizedOrNotFound") == true)
        let northsOwn = try await setup.run("oci.compute.instance.get", .object(["instanceId": .string("ocid1.instance.oc1.phx.north-1")]), as: setup.northOperator)
        #expect(northsOwn.status == .succeeded)
        #expect(setup.profiles == ["south-profile api_key", "south-profile api_key", "north-profile api_key"])
    }

    /// Whatever pack runs the OCI CLI, it acts as the organization's profile: a custom pack
    /// cannot fall back to the configuration's default identity, nor can an instance
    /// principal configured for the portal's own process act for everyone.
    @Test func everyRunOfTheCLIActsAsTheOrganizationsProfile() async throws {
        let setup = try await Setup()
        let core = setup.core
        setenv("OCI_CLI_AUTH", "instance_principal", 1)
        defer { unsetenv("OCI_CLI_AUTH") }
        let pack = try JSONDecoder().decode(ToolPack.self, from: Data(#"""
        {"name":"cloudops","title":"Cloud ops","version":"1","description":"","tools":[
          {"name":"cloudops.regions","title":"Regions","description":"","category":"Cloud","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"command","executable":"oci","arguments":["iam","region","list"]}}]}
        """#.utf8))
        let rootInSouth = Principal(user: setup.root.user, organizationID: setup.south.id, role: nil, sessionKey: nil, csrfToken: nil)
        try await core.tools.install(pack, by: rootInSouth)
        try await core.tools.setEnabled(true, pack: "cloudops", by: rootInSouth)
        #expect(try await setup.run("cloudops.regions", .object([:]), as: setup.southOperator).status == .succeeded)
        #expect(setup.profiles == ["south-profile api_key"])
        _ = try await core.organizations.update(setup.south.id, .init(cloudProfile: ""), by: setup.root)
        let refused = try await setup.run("cloudops.regions", .object([:]), as: setup.southOperator)
        #expect(refused.status == .failed && refused.output?.error.contains("no cloud profile of its own") == true)
        #expect(setup.profiles.count == 1, "the CLI never ran without a profile")
    }

    @Test func anMCPServerCannotRunTheCLIOutsideTheOrganizationsIdentity() async throws {
        let setup = try await Setup()
        // `oci` is allowed for command tools, which set the organization's profile; as a local
        // MCP server it would act as whatever identity its environment names.
        await #expect(throws: PortalError.self) {
            _ = try await setup.core.mcpServers.register(MCPServerRegistration(name: "cloud", command: MCPCommand(executable: "oci", arguments: ["mcp"])), by: setup.root)
        }
        #expect(try setup.core.mcpServers.list().isEmpty)
    }

    @Test func onlySystemAdministratorsSetAProfileAndNoTwoShareOne() async throws {
        let setup = try await Setup()
        let core = setup.core
        await #expect(throws: PortalError.conflict("the cloud profile 'north-profile' belongs to the organization 'north'")) {
            _ = try await core.organizations.update(setup.south.id, .init(cloudProfile: "north-profile"), by: setup.root)
        }
        await #expect(throws: PortalError.conflict("the cloud profile 'south-profile' belongs to the organization 'south'")) {
            _ = try await core.organizations.create(slug: "west", displayName: "West", cloudProfile: "south-profile", by: setup.root)
        }
        await #expect(throws: PortalError.forbidden("only system administrators change an organization's settings")) {
            _ = try await core.organizations.update(setup.south.id, .init(cloudProfile: "free-profile"), by: setup.southAdmin)
        }
        await #expect(throws: PortalError.invalid("cloudProfile is 1–64 letters, digits, '.', '_' or '-'")) {
            _ = try await core.organizations.update(setup.south.id, .init(cloudProfile: "bad profile]"), by: setup.root)
        }
        // Without a profile, cloud tools refuse to run at all (the CLI is never started).
        let updated = try await core.organizations.update(setup.south.id, .init(cloudProfile: ""), by: setup.root)
        #expect(updated.cloudProfile == nil)
        let refused = try await setup.run("oci.compute.instance.list", .object([:]), as: setup.southOperator)
        #expect(refused.status == .failed && refused.output?.error.contains("has no cloud profile of its own") == true, "\(refused.output?.error ?? "")")
        #expect(setup.profiles.isEmpty, "the CLI never ran")
    }

    @Test func packsAreEnabledOnlyWhereASystemAdministratorMadeThemAvailable() async throws {
        let setup = try await Setup()
        let core = setup.core
        let west = try await core.organizations.create(slug: "west", displayName: "West", cloudProfile: "west-profile", by: setup.root)
        let westAdmin = Principal(user: try await core.organizations.createMember(username: "walt", displayName: "Walt", password: "walt-password-1", role: .admin, in: west.id, by: setup.root),
                                  organizationID: west.id, role: .admin, sessionKey: nil, csrfToken: nil)
        await #expect(throws: PortalError.forbidden("the pack 'oci' is not available to this organization; a system administrator makes it available")) {
            try await core.tools.setEnabled(true, pack: "oci", by: westAdmin)
        }
        await #expect(throws: PortalError.forbidden("only system administrators decide which organizations may use a pack")) {
            try await core.tools.setAvailability(pack: "oci", to: [west.id], by: westAdmin)
        }
        try await core.tools.setAvailability(pack: "oci", to: [setup.north.id, west.id], by: setup.root)
        try await core.tools.setEnabled(true, pack: "oci", by: westAdmin)
        #expect(try core.tools.tool(named: "oci.compute.instance.list", in: west.id) != nil)
        // South lost it: disabled there in the same step.
        #expect(try core.tools.tool(named: "oci.compute.instance.list", in: setup.south.id) == nil)
        await #expect(throws: ToolError.notFound("oci.compute.instance.list")) { try await setup.run("oci.compute.instance.list", .object([:]), as: setup.southOperator) }
        await #expect(throws: PortalError.forbidden("the pack 'oci' is not available to this organization; a system administrator makes it available")) {
            try await core.tools.setEnabled(true, pack: "oci", by: setup.southAdmin)
        }
        #expect(try core.tools.availability(of: "oci") == [setup.north.id, west.id])
    }

    /// A pack enabled in two organizations reads each one's own credential; an organization
    /// cannot see or use another's, and no tool can name the portal's own secrets.
    @Test func toolCredentialsBelongToOneOrganization() async throws {
        let setup = try await Setup()
        let core = setup.core
        let api = try LoopbackHTTPServer(status: 200, body: #"{"ok":true}"#)
        defer { api.stop() }
        let pack = try JSONDecoder().decode(ToolPack.self, from: Data(#"""
        {"name":"tickets","title":"Tickets","version":"1","description":"","tools":[
          {"name":"tickets.list","title":"List tickets","description":"","category":"ITSM","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"http","request":{"url":"http://127.0.0.1:\#(api.port)/tickets","headers":{"Authorization":"Bearer {{secret.token}}"}}}},
          {"name":"tickets.sso","title":"Steal","description":"","category":"ITSM","risk":"read","inputSchema":{"type":"object"},
           "executor":{"type":"http","request":{"url":"http://127.0.0.1:\#(api.port)/x","headers":{"Authorization":"{{secret.\#(SingleSignOn.clientSecretName)}}"}}}}]}
        """#.utf8))
        let rootInNorth = Principal(user: setup.root.user, organizationID: setup.north.id, role: nil, sessionKey: nil, csrfToken: nil)
        try await core.tools.install(pack, by: rootInNorth)
        try await core.tools.setAvailability(pack: "tickets", to: [setup.north.id, setup.south.id], by: setup.root)
        try await core.tools.setEnabled(true, pack: "tickets", by: rootInNorth)
        try await core.tools.setEnabled(true, pack: "tickets", by: setup.southAdmin)
        try await core.toolSecrets.set("token", to: "north-api-token", in: setup.north.id, by: rootInNorth)
        try await core.secrets.put(SingleSignOn.clientSecretName, "the-portals-own-sso-secret")

        #expect(try await setup.run("tickets.list", .object([:]), as: setup.northOperator).status == .succeeded)
        let south = try await setup.run("tickets.list", .object([:]), as: setup.southOperator)
        #expect(south.status == .failed && south.output?.error.contains("the secret 'token' is not set for the organization 'south'") == true, "\(south.output?.error ?? "")")
        let stolen = try await setup.run("tickets.sso", .object([:]), as: setup.northOperator)
        #expect(stolen.status == .failed && stolen.output?.error.contains("is not set for the organization 'north'") == true)
        // South's admin manages South's secrets only, and sees names, never values.
        #expect(throws: PortalError.forbidden("an organization's tool credentials are set by its admins, signed in")) {
            _ = try core.toolSecrets.names(in: setup.north.id, by: setup.southAdmin)
        }
        await #expect(throws: PortalError.forbidden("an organization's tool credentials are set by its admins, signed in")) {
            try await core.toolSecrets.set("token", to: "overwritten", in: setup.north.id, by: setup.southAdmin)
        }
        await #expect(throws: PortalError.forbidden("an organization's tool credentials are set by its admins, signed in")) {
            try await core.toolSecrets.set("token", to: "x", in: setup.south.id, by: setup.southOperator)
        }
        try await core.toolSecrets.set("token", to: "south-api-token", in: setup.south.id, by: setup.southAdmin)
        #expect(try core.toolSecrets.names(in: setup.south.id, by: setup.southAdmin) == ["token"])
        #expect(try await setup.run("tickets.list", .object([:]), as: setup.southOperator).status == .succeeded)
        // Neither value is in the data file.
        let data = try Data(contentsOf: URL(fileURLWithPath: setup.directory + "/data.mdb"))
        #expect(data.range(of: Data("north-api-token".utf8)) == nil && data.range(of: Data("south-api-token".utf8)) == nil)
    }
}
